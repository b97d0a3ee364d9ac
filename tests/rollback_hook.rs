//! The rollback hook end to end: a real command (a shell script that records what it was
//! given) and a real webhook (a local HTTP server), run by the hook runner against the real
//! store. Started by itself with `auto = true` when a criterion trips, or by one click from
//! the API; a failure is recorded and may be run again; a replayed click runs nothing; a
//! restart while the hook runs records "unknown" and never runs it again by itself.

use crate::common;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::Duration;
use common::{deployment, spawn_with_policy, store_for, Backend, TestApp, CI_TOKEN, DIGEST, OLD_DIGEST, RM_TOKEN};
use secrecy::SecretString;
use serde_json::{json, Value};
use shipgate::app::rollback_hook::{HookAction, HookRunner};
use shipgate::domain::release::{HookMode, HookOutcome, Policy};
use shipgate::domain::ReleaseId;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

const HOOK_TOKEN: &str = "hook-token-0123456789";

/// Records each run's environment as a line of `runs.log` and its stdin as `body.json`;
/// exits with the status in `exit` (0 without it); with `slow` present, says so in
/// `started` and takes a few seconds.
const SCRIPT: &str = r#"#!/bin/sh
dir="$(dirname "$0")"
echo "release=$SHIPGATE_RELEASE_ID service=$SHIPGATE_SERVICE environment=$SHIPGATE_ENVIRONMENT version=$SHIPGATE_TARGET_VERSION digest=$SHIPGATE_TARGET_DIGEST args=$*" >> "$dir/runs.log"
cat > "$dir/body.json"
if [ -f "$dir/slow" ]; then
  touch "$dir/started"
  sleep 3
fi
echo "kubectl rollout undo deployment/$SHIPGATE_SERVICE"
echo "reverted $SHIPGATE_SERVICE to $SHIPGATE_TARGET_VERSION"
status="$(cat "$dir/exit" 2>/dev/null || echo 0)"
if [ "$status" != 0 ]; then echo "error: the cluster refused the revert" >&2; fi
exit "$status"
"#;

/// A command hook in a temp dir of its own.
struct Script {
    dir: tempfile::TempDir,
}

impl Script {
    fn new() -> Script {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("revert.sh");
        std::fs::write(&path, SCRIPT).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Script { dir }
    }

    fn action(&self) -> HookAction {
        HookAction::Command { program: self.path("revert.sh").display().to_string(), args: vec!["--now".into()] }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn set(&self, name: &str, content: &str) {
        std::fs::write(self.path(name), content).expect("write");
    }

    fn runs(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("runs.log")).unwrap_or_default().lines().map(str::to_owned).collect()
    }

    fn body(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.path("body.json")).expect("body")).expect("JSON on stdin")
    }
}

/// What the webhook was sent: the `Authorization` header and the JSON body.
type Request = (Option<String>, Value);

/// A webhook that records each request and answers with the status set.
#[derive(Clone)]
struct Webhook {
    url: String,
    seen: Arc<Mutex<Vec<Request>>>,
    status: Arc<AtomicU16>,
}

impl Webhook {
    async fn start() -> Webhook {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let (s, st) = (seen.clone(), status.clone());
        let router = axum::Router::new().route(
            "/revert",
            post(move |headers: HeaderMap, axum::Json(body): axum::Json<Value>| {
                let (s, st) = (s.clone(), st.clone());
                async move {
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
                    s.lock().unwrap().push((auth, body));
                    let code = StatusCode::from_u16(st.load(Ordering::SeqCst)).unwrap();
                    (code, if code.is_success() { "rolled back api" } else { "deploy service unavailable" })
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/revert", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
        Webhook { url, seen, status }
    }

    fn action(&self) -> HookAction {
        HookAction::Webhook { url: self.url.clone(), token: Some(SecretString::from(HOOK_TOKEN.to_owned())) }
    }

    fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

fn policy(mode: HookMode) -> Policy {
    Policy { rollback_hook: mode, ..Policy::default() }
}

/// An app deciding with `mode`, where 1.3.0 ran in production before a release of 1.4.0
/// that is now deployed there; returns the new release's id.
async fn deployed(backend: Backend, mode: HookMode) -> Option<(TestApp, String)> {
    let (store, dir) = store_for(backend).await?;
    let t = spawn_with_policy(store, dir, policy(mode), common::wednesday()).await;
    let previous = t.start("api", "1.3.0").await;
    t.complete(&previous, "1.3.0", OLD_DIGEST).await;
    let id = t.start("api", "1.4.0").await;
    t.to_production_step(&id).await;
    t.ok(
        &format!("/api/v1/releases/{id}/deployments"),
        CI_TOKEN,
        Some(deployment("production", DIGEST, "succeeded", "passed")),
    )
    .await;
    Some((t, id))
}

async fn roll_back(t: &TestApp, id: &str) {
    let reply = t.ok(&format!("/api/v1/releases/{id}/rollback"), RM_TOKEN, Some(json!({"reason": "p99 5x"}))).await;
    assert_eq!(reply["release"]["status"], "rolling_back");
}

async fn hook_view(t: &TestApp, id: &str) -> Value {
    t.get(id).await["rollback"]["hook"].clone()
}

async fn click(t: &TestApp, id: &str, key: &str) -> common::Reply {
    t.call_with_key("POST", &format!("/api/v1/releases/{id}/rollback/hook"), RM_TOKEN, None, Some(key)).await
}

async fn both(test: impl AsyncFn(Backend)) {
    test(Backend::Sqlite).await;
    test(Backend::Postgres).await;
}

#[tokio::test]
async fn a_tripped_criterion_with_auto_runs_the_command_hook_by_itself() {
    both(async |backend| {
        let script = Script::new();
        let Some((t, id)) = deployed(backend, HookMode::Auto).await else { return };
        let runner = HookRunner::new(t.app.clone(), script.action(), "instance-a").expect("runner");
        assert_eq!(runner.sweep().await.expect("sweep"), 0, "nothing to run before the rollback");
        let reply = t
            .ok(
                &format!("/api/v1/releases/{id}/watch/critical-flow"),
                RM_TOKEN,
                Some(json!({"note": "checkout answers 500"})),
            )
            .await;
        assert_eq!(reply["release"]["status"], "rolling_back");
        assert_eq!(hook_view(&t, &id).await["trigger"], "automatic", "asked for in the rollback's own commit");

        // The sweep starts it in the background; the outcome lands in the release.
        assert_eq!(runner.sweep().await.expect("sweep"), 1);
        let hook = wait_for_outcome(&t, &id).await;
        assert_eq!(hook["outcome"], "succeeded", "{hook}");
        let detail = hook["detail"].as_str().unwrap_or_default();
        assert!(detail.starts_with("exit status 0\n") && detail.ends_with("reverted api to 1.3.0"), "{detail}");

        let runs = script.runs();
        assert_eq!(
            runs,
            vec![format!(
                "release={id} service=api environment=production version=1.3.0 digest={OLD_DIGEST} args=--now"
            )]
        );
        let body = script.body();
        assert_eq!((body["release_id"].as_str(), body["service"].as_str()), (Some(id.as_str()), Some("api")));
        assert_eq!(body["environment"], "production");
        assert_eq!(body["target"]["version"], "1.3.0");
        assert_eq!(body["target"]["digest"], OLD_DIGEST);
        assert_eq!(body["target"]["git_sha"], "3f9c2e1");
        assert_eq!(body["deployed"]["digest"], DIGEST);
        assert_eq!(body["trips"][0]["criterion"], "critical_flow", "{body}");
        assert_eq!(body["automatic"], true);

        // Done: later sweeps run nothing again.
        assert_eq!(runner.sweep().await.expect("sweep"), 0);
        assert_eq!(script.runs().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn one_click_runs_the_webhook_and_a_replayed_click_runs_nothing_more() {
    let webhook = Webhook::start().await;
    let Some((t, id)) = deployed(Backend::Sqlite, HookMode::OnClick).await else { return };
    let runner = HookRunner::new(t.app.clone(), webhook.action(), "instance-a").expect("runner");
    roll_back(&t, &id).await;
    assert!(hook_view(&t, &id).await.is_null(), "without auto nothing runs by itself");
    assert_eq!(runner.run_one(&ReleaseId::new(&id)).await.expect("run"), None);

    let first = click(&t, &id, "click-1").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["release"]["rollback"]["hook"]["trigger"], "person");
    let outcome = runner.run_one(&ReleaseId::new(&id)).await.expect("run");
    assert!(
        matches!(&outcome, Some(HookOutcome::Succeeded { detail }) if detail == "HTTP 200 OK\nrolled back api"),
        "{outcome:?}"
    );

    // The same click again (a retried request): the first answer, and nothing runs.
    let again = click(&t, &id, "click-1").await;
    assert_eq!((again.status, again.replayed), (StatusCode::OK, true));
    assert_eq!(runner.run_one(&ReleaseId::new(&id)).await.expect("run"), None);
    assert_eq!(runner.sweep().await.expect("sweep"), 0);

    let requests = webhook.requests();
    assert_eq!(requests.len(), 1, "the webhook was called once");
    let (auth, body) = &requests[0];
    assert_eq!(auth.as_deref(), Some(format!("Bearer {HOOK_TOKEN}").as_str()));
    assert_eq!((body["service"].as_str(), body["environment"].as_str()), (Some("api"), Some("production")));
    assert_eq!(body["target"]["digest"], OLD_DIGEST);
    assert_eq!(body["target"]["version"], "1.3.0");
    assert_eq!(body["reason"], "p99 5x");

    // A new click after a success is refused: production is back.
    let refused = click(&t, &id, "click-2").await;
    assert_eq!((refused.status, refused.body["code"].as_str()), (StatusCode::CONFLICT, Some("already_recorded")));
    let status = hook_view(&t, &id).await;
    assert_eq!((status["outcome"].as_str(), status["attempt"].as_u64()), (Some("succeeded"), Some(1)));
}

#[tokio::test]
async fn a_failed_run_is_recorded_and_a_person_may_run_it_again() {
    // The command: exit status 1 and its stderr, then a second run that succeeds.
    let script = Script::new();
    script.set("exit", "1");
    let Some((t, id)) = deployed(Backend::Sqlite, HookMode::OnClick).await else { return };
    let release = ReleaseId::new(&id);
    let runner = HookRunner::new(t.app.clone(), script.action(), "instance-a").expect("runner");
    roll_back(&t, &id).await;
    click(&t, &id, "click-1").await;
    let Some(HookOutcome::Failed { detail }) = runner.run_one(&release).await.expect("run") else {
        panic!("the run failed")
    };
    assert!(detail.starts_with("exit status 1\n"), "{detail}");
    assert!(detail.ends_with("--- stderr ---\nerror: the cluster refused the revert"), "{detail}");
    assert_eq!(hook_view(&t, &id).await["outcome"], "failed");
    // Not run again by itself.
    assert_eq!(runner.sweep().await.expect("sweep"), 0);
    assert_eq!(script.runs().len(), 1);

    // The rollback procedure cannot finish while a run is in flight.
    let retry = click(&t, &id, "click-2").await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.body);
    let waiting = t.get(&id).await["rollback"]["gate"]["evidence_missing"].clone();
    assert!(waiting.as_str().is_some_and(|w| w.contains("rollback hook")), "{waiting}");
    script.set("exit", "0");
    assert!(matches!(runner.run_one(&release).await.expect("run"), Some(HookOutcome::Succeeded { .. })));
    assert_eq!(script.runs().len(), 2);
    assert_eq!(hook_view(&t, &id).await["attempt"], 2);

    // The webhook: a 500 is a failure, with the status and the start of the body.
    let webhook = Webhook::start().await;
    webhook.status.store(500, Ordering::SeqCst);
    let Some((t, id)) = deployed(Backend::Sqlite, HookMode::Auto).await else { return };
    let runner = HookRunner::new(t.app.clone(), webhook.action(), "instance-a").expect("runner");
    roll_back(&t, &id).await;
    let outcome = runner.run_one(&ReleaseId::new(&id)).await.expect("run");
    assert!(
        matches!(&outcome, Some(HookOutcome::Failed { detail }) if detail == "HTTP 500 Internal Server Error\ndeploy service unavailable"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_restart_while_the_hook_runs_records_unknown_and_never_runs_it_again_by_itself() {
    let script = Script::new();
    script.set("slow", "");
    let Some((store, dir)) = store_for(Backend::Sqlite).await else { return };
    let t = spawn_with_policy(store.clone(), dir, policy(HookMode::Auto), common::wednesday()).await;
    let previous = t.start("api", "1.3.0").await;
    t.complete(&previous, "1.3.0", OLD_DIGEST).await;
    let id = t.start("api", "1.4.0").await;
    t.to_production_step(&id).await;
    t.ok(
        &format!("/api/v1/releases/{id}/deployments"),
        CI_TOKEN,
        Some(deployment("production", DIGEST, "succeeded", "passed")),
    )
    .await;
    roll_back(&t, &id).await;
    let release = ReleaseId::new(&id);

    // Instance A starts the hook, and dies while it runs.
    let a = HookRunner::new(t.app.clone(), script.action(), "instance-a").expect("runner");
    let running = tokio::spawn({
        let (a, release) = (a.clone(), release.clone());
        async move { a.run_one(&release).await }
    });
    wait_for_file(&script.path("started")).await;
    running.abort();
    let _ = running.await;
    assert!(hook_view(&t, &id).await["started_at"].is_string(), "the start was recorded before the run");

    // Instance B comes up on the same database: while A's lease lasts it leaves the run alone.
    let b_app = spawn_with_policy(
        store.clone(),
        None,
        policy(HookMode::Auto),
        shipgate::app::clock::Clock::now(t.clock.as_ref()),
    )
    .await;
    let b = HookRunner::new(b_app.app.clone(), script.action(), "instance-b").expect("runner");
    assert_eq!(b.run_one(&release).await.expect("run"), None, "A's lease still holds");
    // A's lease runs out: B records that nobody knows how the run went, and runs nothing.
    b_app.clock.advance(Duration::seconds(61));
    let outcome = b.run_one(&release).await.expect("run");
    assert!(
        matches!(&outcome, Some(HookOutcome::Unknown { detail }) if detail.contains("whether it reverted production is not known")),
        "{outcome:?}"
    );
    assert_eq!(b.sweep().await.expect("sweep"), 0);
    let hook = hook_view(&b_app, &id).await;
    assert_eq!((hook["outcome"].as_str(), hook["attempt"].as_u64()), (Some("unknown"), Some(1)));
    assert_eq!(script.runs().len(), 1, "the hook ran once");

    // A person checks production and runs it again.
    std::fs::remove_file(script.path("slow")).expect("not slow any more");
    let retry = b_app
        .call_with_key("POST", &format!("/api/v1/releases/{id}/rollback/hook"), RM_TOKEN, None, Some("retry"))
        .await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.body);
    assert!(matches!(b.run_one(&release).await.expect("run"), Some(HookOutcome::Succeeded { .. })));
    assert_eq!(script.runs().len(), 2);
    drop(t);
}

/// The hook's view once its run has an outcome (the runner works in the background).
async fn wait_for_outcome(t: &TestApp, id: &str) -> Value {
    for _ in 0..200 {
        let hook = hook_view(t, id).await;
        if !hook["outcome"].is_null() {
            return hook;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the rollback hook of {id} has no outcome after 10 s");
}

async fn wait_for_file(path: &Path) {
    for _ in 0..200 {
        if path.exists() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{} did not appear", path.display());
}

/// Worked from Discord through `shipgate serve`'s own wiring: `[rollback] hook` configured,
/// the rollback card offers the button, a click starts the runner, and the card shows how
/// the run went.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rollback_card_s_button_runs_the_hook_and_the_card_shows_its_outcome() {
    use common::discord_bot::*;
    let script = Script::new();
    let program = script.path("revert.sh").display().to_string();
    let bot = Bot::start_with(&format!("\n[rollback]\nhook = {{ command = [\"{program}\", \"--now\"] }}\n")).await;
    bot.api_complete("checkout", "2.6.0", OLD_DIGEST).await;
    let started = bot.start_release(RELEASE_CHANNEL, "checkout", "2.7.0", false, &alice()).await;
    bot.api_to_monitor(&started.id, "2.7.0", DIGEST).await;
    bot.command(
        &started.thread,
        "release",
        "rollback",
        json!([{"name": "reason", "type": 3, "value": "checkout returns 500"}]),
        &bob(),
    )
    .await;
    let card = bot.card(&started.thread, "rollback", 1).await;
    let card = bot
        .card_becomes(&started.thread, &card, "the hook button", |c| {
            buttons(c).iter().any(|b| b["label"] == "Run rollback hook")
        })
        .await;
    assert!(script.runs().is_empty(), "without auto nothing runs before the click");

    let answer = bot.click_label(&started.thread, &card, "Run rollback hook", &carol()).await;
    assert_eq!(answer["type"], 7, "the card, updated in place: {answer}");
    assert!(
        !buttons(&answer["data"]).iter().any(|b| b["label"] == "Run rollback hook"),
        "no second run while one is in flight"
    );
    let done = bot
        .card_becomes(&started.thread, &card, "the hook's outcome on the card", |c| {
            body_text(c).contains("✅ Rollback hook run by carol")
        })
        .await;
    assert!(body_text(&done).contains("reverted checkout to 2.6.0"), "{}", body_text(&done));
    assert_eq!(script.runs().len(), 1);
    let release = bot.release(&started.id).await;
    assert_eq!(release["rollback"]["hook"]["outcome"], "succeeded", "{release}");
}
