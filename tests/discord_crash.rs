//! Crash safety of the Discord edge: `shipgate serve` runs as its own process in HTTP mode
//! on a SQLite file while Discord is unreachable; it is killed (SIGKILL) while signed
//! clicks arrive, and restarted. Every click that was answered is in the history, and once
//! Discord is back every thread and card exists exactly once (nonces and stored message
//! ids), even when Discord's answer to a create is lost.

use crate::common;

use common::discord_bot::*;
use common::fake_discord::{FakeDiscord, Fault, Route};
use common::process::{free_port, Server};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Deliveries wait out the backoff of their failed tries and, after a kill, the dead
/// worker's lease (60 s).
const LONG: Duration = Duration::from_secs(180);

/// Signs and posts interactions to a shipgate process, stamped with the real time.
#[derive(Clone)]
struct Clicker {
    url: String,
    key: SigningKey,
    http: reqwest::Client,
}

impl Clicker {
    /// The answer, or `None` when shipgate did not answer 200 (not acknowledged).
    async fn send(&self, interaction: &Value) -> Option<Value> {
        let body = interaction.to_string();
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let signature = sign(&self.key, &timestamp, &body);
        let response = post_interaction(&self.http, &self.url, &body, &timestamp, &signature).await.ok()?;
        if response.status() != 200 {
            return None;
        }
        response.json().await.ok()
    }

    async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/api/v1{path}", self.url);
        let mut request = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url),
        }
        .bearer_auth(CI_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn release(&self, id: &str) -> Value {
        let (status, body) = self.api("GET", &format!("/releases/{id}"), None).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// A fake Discord, and a config for a shipgate process on a SQLite file against it.
struct Setup {
    fake: FakeDiscord,
    dir: tempfile::TempDir,
    port: u16,
    config: std::path::PathBuf,
    key: SigningKey,
}

impl Setup {
    async fn new() -> Setup {
        let fake = FakeDiscord::start().await;
        seed_channels(&fake);
        let key = SigningKey::from_bytes(&[42u8; 32]);
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let database_url = format!("sqlite://{}", dir.path().join("shipgate.db").display());
        let config = dir.path().join("shipgate.toml");
        let text = format!("[server]\nlisten = \"127.0.0.1:{port}\"\n{}", config_text(&fake, &key, &database_url));
        std::fs::write(&config, text).expect("write config");
        Setup { fake, dir, port, config, key }
    }
}

/// `/release start` of checkout 2.7.0 by Alice.
async fn start_release(fake: &FakeDiscord, clicker: &Clicker) {
    let start = fake.command_interaction(
        RELEASE_CHANNEL,
        "release",
        json!([{"name": "start", "type": 1, "options": [
            {"name": "service", "type": 3, "value": "checkout"},
            {"name": "version", "type": 3, "value": "2.7.0"},
            {"name": "sha", "type": 3, "value": "3f9c2e1"}
        ]}]),
        &alice(),
    );
    fake.register_interaction(&start);
    let answer = clicker.send(&start).await.expect("the start is answered");
    assert_eq!(answer["type"], 5, "{answer}");
}

fn release_messages(fake: &FakeDiscord) -> usize {
    fake.messages(RELEASE_CHANNEL)
        .into_iter()
        .filter(|m| m["content"].as_str().is_some_and(|c| c.starts_with("🚀 **checkout 2.7.0**")))
        .count()
}

fn start_process(dir: &std::path::Path, config: &std::path::Path, port: u16, fake: &FakeDiscord) -> Server {
    let env = env(fake);
    Server::start_with(dir, Some(config), port, &env)
}

fn item_ids(card: &Value) -> Vec<String> {
    buttons(card)
        .iter()
        .filter_map(|b| b["custom_id"].as_str())
        .filter(|id| id.rsplit(':').next().is_some_and(|e| e.starts_with('i')))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicks_answered_before_a_kill_survive_it_and_nothing_is_posted_twice() {
    let Setup { fake, dir, port, config, key } = Setup::new().await;
    let mut server = start_process(dir.path(), &config, port, &fake);
    server.ready().await;
    let clicker = Clicker { url: server.base.clone(), key: key.clone(), http: reqwest::Client::new() };

    // The release starts while Discord is up: its thread and first card are posted.
    start_release(&fake, &clicker).await;
    let thread = eventually(&fake, "the release thread", |fake| {
        fake.threads().first().and_then(|t| t["id"].as_str().map(str::to_owned))
    })
    .await;
    let card1 = eventually(&fake, "the first card", |fake| cards(fake, &thread).into_iter().next()).await;
    let release = release_of(&card1).expect("the card names its release");
    let card1_id = card1["id"].as_str().expect("id").to_owned();
    let items = item_ids(&card1);
    assert_eq!(items.len(), 5, "{card1:#}");

    // Discord goes away. Alice ticks the boxes one after another while shipgate is killed.
    fake.set_down(true);
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let clicks: Vec<Value> =
        items.iter().map(|item| fake.button_interaction(&thread, &card1_id, item, &alice())).collect();
    let third = Arc::new(tokio::sync::Notify::new());
    let sender = tokio::spawn({
        let (clicker, acknowledged, third) = (clicker.clone(), acknowledged.clone(), third.clone());
        async move {
            for click in clicks {
                if let Some(answer) = clicker.send(&click).await {
                    assert_eq!(answer["type"], 7, "an answered tick shows the card: {answer}");
                    let mut acked = acknowledged.lock().unwrap();
                    acked.push(click["id"].as_str().expect("id").to_owned());
                    if acked.len() == 3 {
                        // The kill comes now, while the next clicks are on their way.
                        third.notify_one();
                    }
                }
            }
        }
    });
    third.notified().await;
    server.kill();
    sender.await.expect("the sender ends");
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 3 && acknowledged.len() <= 5, "{acknowledged:?}");

    // Restarted on the same database, Discord still down.
    let mut server = start_process(dir.path(), &config, port, &fake);
    server.ready().await;
    let history = clicker.release(&release).await["history"].clone();
    let requests: Vec<&str> =
        history.as_array().expect("history").iter().filter_map(|e| e["request_id"].as_str()).collect();
    for id in &acknowledged {
        assert!(requests.contains(&format!("discord:{id}").as_str()), "answered click {id} is lost: {requests:?}");
    }
    // Discord may deliver an answered click again: it changes nothing after the restart.
    let length = history.as_array().map_or(0, Vec::len);
    let replay = fake.button_interaction(&thread, &card1_id, &items[0], &alice());
    let mut replay_of_first = replay.clone();
    replay_of_first["id"] = json!(acknowledged[0]);
    let again = clicker.send(&replay_of_first).await.expect("a replay is answered");
    assert_eq!(again["type"], 7, "{again}");
    assert_eq!(clicker.release(&release).await["history"].as_array().map_or(0, Vec::len), length);

    // Alice ticks what is left (new clicks), Bob passes the gate, CI's tests pass Step 2.
    let view = clicker.release(&release).await;
    let unticked: Vec<usize> = view["current_step"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .enumerate()
        .filter(|(_, item)| item["ticked"] == false)
        .map(|(index, _)| index)
        .collect();
    for index in unticked {
        let click = fake.button_interaction(&thread, &card1_id, &items[index], &alice());
        assert_eq!(clicker.send(&click).await.expect("answered")["type"], 7);
    }
    let gate_id = items[0].rsplit_once(':').expect("a custom id").0.to_owned() + ":g";
    let approve = fake.button_interaction(&thread, &card1_id, &gate_id, &bob());
    let passed = clicker.send(&approve).await.expect("answered");
    assert_eq!(passed["type"], 7, "{passed}");
    let (status, body) = clicker
        .api(
            "POST",
            &format!("/releases/{release}/test-results"),
            Some(json!({"suite": "unit", "passed": 420, "failed": 0})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(clicker.release(&release).await["current_step"]["id"], "build-artifact");

    // Discord comes back and loses its answer to the first card it creates.
    fake.fail_next(Route::CreateMessage, Fault::DropResponse, 1);
    fake.set_down(false);
    let expected: Vec<(String, u32)> =
        ["pre-flight", "test-suite", "build-artifact"].iter().map(|s| ((*s).to_owned(), 1)).collect();
    eventually_for(&fake, "the cards of steps 1 to 3", LONG, |fake| {
        let steps: Vec<(String, u32)> = cards(fake, &thread).iter().filter_map(step_of).collect();
        (steps.len() >= 3).then_some(())
    })
    .await;
    // Step 1's card got every edit: closed, every box ticked, Bob named.
    let closed = eventually_for(&fake, "Step 1's card closed", LONG, |fake| {
        fake.message(&thread, &card1_id).filter(|m| all_disabled(m) && body_text(m).contains("approved by bob"))
    })
    .await;
    assert!(buttons(&closed).iter().filter(|b| b["style"] == 3).count() == 5, "{closed:#}");
    // Step 3's card has the last edit too: Step 2 passed by itself is shown on its own card.
    let card2 = cards(&fake, &thread).into_iter().find(|c| step_of(c) == Some(("test-suite".into(), 1))).unwrap();
    eventually_for(&fake, "Step 2's card closed", LONG, |fake| {
        fake.message(&thread, card2["id"].as_str().unwrap()).filter(|m| body_text(m).contains("Gate passed by itself"))
    })
    .await;

    // Exactly once: one release message, one thread, one card per step attempt.
    let steps: Vec<(String, u32)> = cards(&fake, &thread).iter().filter_map(step_of).collect();
    assert_eq!(steps, expected);
    assert_eq!(fake.threads().len(), 1);
    assert_eq!(release_messages(&fake), 1);
    let dropped = fake.requests_to(Route::CreateMessage).iter().filter(|r| r.status.is_none()).count();
    assert!(dropped >= 1, "the lost answer was met");
    fake.assert_no_violations();
    server.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_died_with_the_process_is_not_posted_again_after_a_restart() {
    let Setup { fake, dir, port, config, key } = Setup::new().await;
    // Discord makes the release message at once but answers only after 30 s.
    fake.fail_next(Route::CreateMessage, Fault::Slow(Duration::from_secs(30)), 1);
    let mut server = start_process(dir.path(), &config, port, &fake);
    server.ready().await;
    let clicker = Clicker { url: server.base.clone(), key, http: reqwest::Client::new() };
    start_release(&fake, &clicker).await;
    eventually(&fake, "the release message", |fake| (release_messages(fake) == 1).then_some(())).await;
    server.kill();
    assert!(fake.threads().is_empty(), "killed before its thread was opened");

    // The restarted worker does not know the message id: its create, with the same nonce,
    // gets the message Discord already made, and the thread opens on it.
    let mut server = start_process(dir.path(), &config, port, &fake);
    server.ready().await;
    let thread = eventually_for(&fake, "the release thread", LONG, |fake| {
        fake.threads().first().and_then(|t| t["id"].as_str().map(str::to_owned))
    })
    .await;
    eventually_for(&fake, "the first card", LONG, |fake| cards(fake, &thread).into_iter().next()).await;
    assert_eq!(release_messages(&fake), 1, "the release message is not posted twice");
    assert_eq!(fake.threads().len(), 1);
    let steps: Vec<(String, u32)> = cards(&fake, &thread).iter().filter_map(step_of).collect();
    assert_eq!(steps, [("pre-flight".to_owned(), 1)]);
    let nonces: Vec<Value> = fake
        .requests_to(Route::CreateMessage)
        .iter()
        .filter(|r| r.path.contains(RELEASE_CHANNEL))
        .filter_map(|r| r.body.as_ref().map(|b| b["nonce"].clone()))
        .collect();
    assert_eq!(nonces.len(), 2, "one create before the kill, one after: {nonces:?}");
    assert_eq!(nonces[0], nonces[1], "the retry carries the same nonce");
    fake.assert_no_violations();
    server.terminate();
}

/// Calls shipgate's API as `token`, failing the test unless it answers 2xx.
async fn api_as(http: &reqwest::Client, base: &str, token: &str, path: &str, body: Option<Value>) -> Value {
    let mut request = http.post(format!("{base}/api/v1{path}")).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the API answers");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "POST {path} answered {status}: {body}");
    body
}

/// Ticks every unticked item of the release's current step.
async fn tick_current(clicker: &Clicker, id: &str) {
    let release = clicker.release(id).await;
    let step = release["current_step"]["id"].as_str().expect("step").to_owned();
    for item in release["current_step"]["items"].as_array().expect("items") {
        if item["ticked"] != true {
            let item = item["id"].as_str().expect("item");
            api_as(
                &clicker.http,
                &clicker.url,
                CI_TOKEN,
                &format!("/releases/{id}/steps/{step}/items/{item}/tick"),
                None,
            )
            .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_notice_cut_off_by_a_kill_reaches_every_incident_channel_and_the_webhook_once() {
    let Setup { fake, dir, port, config, key } = Setup::new().await;
    // The notice webhook: counts what it takes, by idempotency key.
    let taken: Arc<Mutex<Vec<String>>> = Arc::default();
    let hook = {
        let taken = taken.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap| {
                let taken = taken.clone();
                async move {
                    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default();
                    taken.lock().unwrap().push(key.to_owned());
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    };
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str(&format!("\n[rollback]\nnotice_webhook = \"{hook}\"\n"));
    std::fs::write(&config, text).expect("config");

    let mut server = start_process(dir.path(), &config, port, &fake);
    server.ready().await;
    let clicker = Clicker { url: server.base.clone(), key, http: reqwest::Client::new() };
    // A release run by CI from the API, deployed to production.
    let body = json!({"service": "checkout", "version": "2.7.0", "git_sha": "3f9c2e1"});
    let id = api_as(&clicker.http, &clicker.url, CI_TOKEN, "/releases", Some(body)).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let api = |token: &'static str, path: String, body: Option<Value>| {
        let (http, url) = (clicker.http.clone(), clicker.url.clone());
        async move { api_as(&http, &url, token, &path, body).await }
    };
    tick_current(&clicker, &id).await;
    api(RM_TOKEN, format!("/releases/{id}/steps/pre-flight/approve"), None).await;
    api(CI_TOKEN, format!("/releases/{id}/test-results"), Some(json!({"suite": "unit", "passed": 420, "failed": 0})))
        .await;
    let artifact = json!({"version": "2.7.0", "git_sha": "3f9c2e1", "digest": DIGEST, "size_bytes": 73400320});
    api(CI_TOKEN, format!("/releases/{id}/artifacts"), Some(artifact)).await;
    tick_current(&clicker, &id).await;
    tick_current(&clicker, &id).await;
    api(CI_TOKEN, format!("/releases/{id}/deployments"), Some(deployment("staging", DIGEST))).await;
    tick_current(&clicker, &id).await;
    api(RM_TOKEN, format!("/releases/{id}/steps/smoke-test/approve"), None).await;
    api(CI_TOKEN, format!("/releases/{id}/deployments"), Some(deployment("production", DIGEST))).await;

    // The second incident channel makes the notice at once but answers only after 30 s:
    // shipgate is killed while it waits, not knowing the message's id.
    let second = common::fake_discord::RouteMatcher::RouteWith(
        Route::CreateMessage,
        "channel_id",
        INCIDENT_CHANNEL_2.to_owned(),
    );
    fake.fail_next(second, Fault::Slow(Duration::from_secs(30)), 1);
    let reason = json!({"reason": "checkout answers 500"});
    api(RM_TOKEN, format!("/releases/{id}/rollback"), Some(reason)).await;
    let notices = |fake: &FakeDiscord, channel: &str| {
        fake.messages(channel)
            .into_iter()
            .filter(|m| m["content"].as_str().is_some_and(|c| c.contains("Rolling back checkout 2.7.0")))
            .count()
    };
    eventually(&fake, "the notice in the second incident channel", |fake| {
        (notices(fake, INCIDENT_CHANNEL_2) == 1).then_some(())
    })
    .await;
    server.kill();
    assert!(taken.lock().unwrap().is_empty(), "killed before the webhook's turn");

    let mut server = start_process(dir.path(), &config, port, &fake);
    server.ready().await;
    eventually_for(&fake, "the webhook's delivery", LONG, |_| (!taken.lock().unwrap().is_empty()).then_some(())).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for channel in [INCIDENT_CHANNEL, INCIDENT_CHANNEL_2] {
        assert_eq!(notices(&fake, channel), 1, "exactly once in {channel}");
    }
    assert_eq!(taken.lock().unwrap().len(), 1, "the webhook took the notice once");
    fake.assert_no_violations();
    server.terminate();
}
