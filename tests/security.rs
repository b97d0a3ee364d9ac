//! Every route of the API, tried without a token, with a wrong one, and with the token of
//! a client that holds no role: the first two are refused 401 and the third 403 wherever
//! the route acts, and none of them writes anything. The table is checked against the
//! API's own document, so a route added there without a row here fails this test.

use crate::common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;

on_both_backends!(every_route_refuses_a_missing_or_wrong_token_and_a_client_without_the_role);

/// What a client holding no role gets from a route.
#[derive(Clone, Copy, Debug, PartialEq)]
enum WithoutRole {
    /// A read: answered like any client's.
    Reads,
    /// An action: refused 403 `not_allowed`, nothing written.
    Refused,
}

struct Route {
    method: &'static str,
    /// As the API document names it.
    path: &'static str,
    body: Option<fn(&Fixture) -> Value>,
    without_role: WithoutRole,
}

/// A release at its first step and a lock, for the routes that name one.
struct Fixture {
    release: String,
    lock: String,
}

const PUBLIC: [&str; 4] = ["/healthz", "/readyz", "/metrics", "/api/openapi.json"];

fn routes() -> Vec<Route> {
    use WithoutRole::{Reads, Refused};
    let route = |method, path, body, without_role| Route { method, path, body, without_role };
    vec![
        route(
            "POST",
            "/api/v1/releases",
            Some(
                (|_| json!({"service": "billing", "version": "2.0.0", "git_sha": "4aa1f00"})) as fn(&Fixture) -> Value,
            ),
            Refused,
        ),
        route("GET", "/api/v1/releases", None, Reads),
        route("GET", "/api/v1/releases/{id}", None, Reads),
        route("POST", "/api/v1/releases/{id}/steps/{step}/items/{item}/tick", None, Refused),
        route("POST", "/api/v1/releases/{id}/steps/{step}/items/{item}/untick", None, Refused),
        route("POST", "/api/v1/releases/{id}/steps/{step}/approve", None, Refused),
        route(
            "POST",
            "/api/v1/releases/{id}/steps/{step}/failure-paths/{path}",
            Some(|_| json!({"note": "a blocker cannot be resolved this week"})),
            Refused,
        ),
        route(
            "POST",
            "/api/v1/releases/{id}/steps/{step}/reject",
            Some(|_| json!({"reason": "release notes are missing"})),
            Refused,
        ),
        route(
            "POST",
            "/api/v1/releases/{id}/test-results",
            Some(|_| json!({"passed": 420, "failed": 0, "suite": "full"})),
            Refused,
        ),
        route(
            "POST",
            "/api/v1/releases/{id}/artifacts",
            Some(|_| json!({"digest": DIGEST, "git_sha": "3f9c2e1", "version": "1.0.0", "size_bytes": 73400320})),
            Refused,
        ),
        route(
            "POST",
            "/api/v1/releases/{id}/deployments",
            Some(|_| deployment("staging", DIGEST, "succeeded", "passed")),
            Refused,
        ),
        route(
            "POST",
            "/api/v1/releases/{id}/freeze-override",
            Some(|_| json!({"reason": "payments are failing in production"})),
            Refused,
        ),
        route("POST", "/api/v1/releases/{id}/freeze-override/approve", None, Refused),
        route(
            "POST",
            "/api/v1/releases/{id}/rollback",
            Some(|_| json!({"reason": "error rate doubled after the deploy"})),
            Refused,
        ),
        route("POST", "/api/v1/releases/{id}/rollback/hook", None, Refused),
        route(
            "POST",
            "/api/v1/releases/{id}/abort",
            Some(|_| json!({"reason": "the release is not needed any more"})),
            Refused,
        ),
        route(
            "POST",
            "/api/v1/releases/{id}/retarget",
            Some(|_| json!({"git_sha": "4444abc", "reason": "the fix for the regression"})),
            Refused,
        ),
        route(
            "POST",
            "/api/v1/releases/{id}/watch/critical-flow",
            Some(|_| json!({"note": "checkout answers 500"})),
            Refused,
        ),
        route(
            "POST",
            "/api/v1/releases/{id}/watch/accept-blind",
            Some(|_| json!({"reason": "the exporter is down; dashboards are clean"})),
            Refused,
        ),
        route(
            "POST",
            "/api/v1/locks",
            Some(|_| json!({"service": "billing", "reason": "database migration in progress"})),
            Refused,
        ),
        route("GET", "/api/v1/locks", None, Reads),
        route("GET", "/api/v1/locks/{id}", None, Reads),
        route("POST", "/api/v1/locks/{id}/unlock", None, Refused),
        route("GET", "/api/v1/drills", None, Reads),
    ]
}

/// The operations the API document describes: `(METHOD, path, needs a token)`.
fn documented_operations() -> Vec<(String, String, bool)> {
    let document: Value = serde_json::from_str(shipgate::http::OPENAPI).expect("the API document is JSON");
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let needs_token = operation["security"].as_array().is_some_and(|schemes| !schemes.is_empty())
                || (operation.get("security").is_none() && document["security"].as_array().is_some());
            operations.push((method.to_uppercase(), path.clone(), needs_token));
        }
    }
    operations
}

fn concrete(path: &str, fixture: &Fixture) -> String {
    let id = if path.starts_with("/api/v1/locks") { &fixture.lock } else { &fixture.release };
    path.replace("{id}", id).replace("{step}", "pre-flight").replace("{item}", "prs-merged").replace("{path}", "abort")
}

/// Everything a refused request must leave as it was: every release's history, the
/// locks and the outbox.
async fn written(t: &TestApp) -> Value {
    let mut histories = Vec::new();
    for row in t.store.list_releases(&Default::default()).await.unwrap() {
        let events = t.store.load_events(&row.id).await.unwrap();
        histories.push(json!({"id": row.id.to_string(), "events": events.len()}));
    }
    let locks = t.call("GET", "/api/v1/locks", RM_TOKEN, None).await.body;
    let (backlog, _) = t.store.outbox_backlog().await.unwrap();
    json!({"releases": histories, "locks": locks, "outbox": backlog})
}

async fn send(
    t: &TestApp,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, Value, Option<String>) {
    let url = format!("{}{}", t.base, path);
    let mut request = match method {
        "GET" => t.http.get(url),
        _ => t.http.post(url),
    };
    if let Some(authorization) = authorization {
        request = request.header("Authorization", authorization);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)), challenge)
}

async fn every_route_refuses_a_missing_or_wrong_token_and_a_client_without_the_role(backend: Backend) {
    let Some(t) = spawn(backend).await else { return };

    // The table and the API document name the same routes, and only the four public
    // ones need no token.
    let table: BTreeSet<(String, String)> = routes().iter().map(|r| (r.method.to_owned(), r.path.to_owned())).collect();
    let mut documented = BTreeSet::new();
    for (method, path, needs_token) in documented_operations() {
        assert_eq!(
            needs_token,
            !PUBLIC.contains(&path.as_str()),
            "{method} {path}: the API document's security does not match what the route needs"
        );
        // Webhooks take their sender's own token, not an API client's: tested with their
        // senders (tests/watch.rs for Alertmanager).
        if needs_token && !path.starts_with("/webhooks/") {
            documented.insert((method, path));
        }
    }
    assert_eq!(table, documented, "every documented route has a row in this table, and only those");

    let release = t.start("checkout", "1.0.0").await;
    let lock =
        t.call("POST", "/api/v1/locks", RM_TOKEN, Some(json!({"service": "search", "reason": "index rebuild"}))).await;
    assert_eq!(lock.status, StatusCode::CREATED, "{}", lock.body);
    let fixture = Fixture { release, lock: lock.body["id"].as_str().expect("lock id").to_owned() };

    let wrong_credentials = [
        None,
        Some("Bearer".to_owned()),
        Some("Bearer not-a-token-of-any-client".to_owned()),
        Some(format!("Basic {RM_TOKEN}")),
        Some(format!("Bearer {}", &RM_TOKEN[..RM_TOKEN.len() - 1])),
        Some(format!("Bearer {RM_TOKEN}x")),
    ];
    for route in routes() {
        let path = concrete(route.path, &fixture);
        let body = route.body.map(|make| make(&fixture));
        let before = written(&t).await;
        for authorization in &wrong_credentials {
            let (status, answer, challenge) =
                send(&t, route.method, &path, authorization.as_deref(), body.as_ref()).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{} {} with Authorization {authorization:?}: {answer}",
                route.method,
                route.path
            );
            assert_eq!(answer["code"], "unauthorized", "{} {}", route.method, route.path);
            assert_eq!(challenge.as_deref(), Some("Bearer"), "{} {}: 401 names the scheme", route.method, route.path);
        }
        assert_eq!(written(&t).await, before, "{} {}: a refused token wrote something", route.method, route.path);

        let observer = format!("Bearer {OBSERVER_TOKEN}");
        let (status, answer, _) = send(&t, route.method, &path, Some(&observer), body.as_ref()).await;
        match route.without_role {
            WithoutRole::Reads => {
                assert_eq!(
                    status,
                    StatusCode::OK,
                    "{} {}: a client without roles may read: {answer}",
                    route.method,
                    route.path
                );
            }
            WithoutRole::Refused => {
                assert_eq!(
                    (status, answer["code"].as_str()),
                    (StatusCode::FORBIDDEN, Some("not_allowed")),
                    "{} {}: a client without roles acted: {answer}",
                    route.method,
                    route.path
                );
                let message = answer["message"].as_str().unwrap_or_default();
                assert!(
                    message.contains("role"),
                    "{} {}: the refusal says which role is missing: {message}",
                    route.method,
                    route.path
                );
                assert_eq!(
                    written(&t).await,
                    before,
                    "{} {}: a refused client wrote something",
                    route.method,
                    route.path
                );
            }
        }
    }

    for path in PUBLIC {
        let (status, _, _) = send(&t, "GET", path, None, None).await;
        assert_eq!(status, StatusCode::OK, "{path} needs no token");
    }
}

/// The secrets a running instance holds (API tokens, the Discord bot token) and the
/// tokens people send by mistake never reach its logs, even at the most verbose level,
/// through startup, requests refused and accepted, failed deliveries and shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs_at_the_most_verbose_level() {
    use common::process::{free_port, write_config, PROCESS_CI_TOKEN, PROCESS_RM2_TOKEN, PROCESS_RM_TOKEN};
    use ed25519_dalek::SigningKey;
    use std::process::{Command, Stdio};

    const DISCORD_TOKEN: &str = "Discord-Bot-Secret-Token-55.abcdefghijklmnopqrstuvwxyz";
    const MISTAKEN_TOKEN: &str = "Mistaken-Secret-Token-66-0123456789";
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let nothing_listens = free_port();
    let public_key = common::discord_bot::hex(SigningKey::from_bytes(&[9u8; 32]).verifying_key().as_bytes());
    let discord = format!(
        r#"
[discord]
mode = "http"
application_id = "1100000000000000001"
public_key = "{public_key}"
guild_id = "1100000000000000002"
release_channel_id = "1100000000000000003"
incident_channel_ids = ["1100000000000000004"]
api_base = "http://127.0.0.1:{nothing_listens}"
"#
    );
    let database = format!("sqlite://{}", dir.path().join("shipgate.db").display());
    let config = write_config(dir.path(), port, &database, &discord);
    let log = dir.path().join("shipgate.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["serve", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .env("TEST_CI_TOKEN", PROCESS_CI_TOKEN)
        .env("TEST_RM_TOKEN", PROCESS_RM_TOKEN)
        .env("TEST_RM2_TOKEN", PROCESS_RM2_TOKEN)
        .env("SHIPGATE_DISCORD_TOKEN", DISCORD_TOKEN)
        .env("RUST_LOG", "trace")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.path().join("stdout.log")).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(child.try_wait().unwrap().is_none(), "serve exited: {}", std::fs::read_to_string(&log).unwrap());
        assert!(std::time::Instant::now() < deadline, "serve did not become ready");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let start = http
        .post(format!("{base}/api/v1/releases"))
        .bearer_auth(PROCESS_RM_TOKEN)
        .header("Idempotency-Key", "start-1")
        .json(&json!({"service": "api", "version": "1.0.0", "git_sha": "3f9c2e1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::CREATED);
    let id = start.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    for token in [PROCESS_CI_TOKEN, PROCESS_RM2_TOKEN, MISTAKEN_TOKEN, DISCORD_TOKEN] {
        http.post(format!("{base}/api/v1/releases/{id}/steps/pre-flight/items/prs-merged/tick"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
    }
    // A lock announcement is queued for Discord, whose API is not there: delivery fails
    // and is logged.
    let lock = http
        .post(format!("{base}/api/v1/locks"))
        .bearer_auth(PROCESS_RM_TOKEN)
        .json(&json!({"service": "api", "reason": "database migration"}))
        .send()
        .await
        .unwrap();
    assert_eq!(lock.status(), StatusCode::CREATED);
    let unsigned = http
        .post(format!("{base}/discord/interactions"))
        .header("Authorization", format!("Bot {DISCORD_TOKEN}"))
        .body(r#"{"type":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap();

    let logs =
        std::fs::read_to_string(&log).unwrap() + &std::fs::read_to_string(dir.path().join("stdout.log")).unwrap();
    assert!(logs.contains("TRACE") || logs.contains("DEBUG"), "the logs are at their most verbose: {logs}");
    assert!(logs.contains("127.0.0.1"), "the failed delivery to Discord is in the logs");
    assert!(!logs.contains('\u{1b}'), "logs written to a file carry no terminal colour codes");
    for secret in [PROCESS_CI_TOKEN, PROCESS_RM_TOKEN, PROCESS_RM2_TOKEN, MISTAKEN_TOKEN, DISCORD_TOKEN, "Secret-Token"]
    {
        assert!(!logs.contains(secret), "the logs hold the secret {secret:?}");
    }
}
