//! shipgate as a Slack app, end to end: the real runtime and router, the stateful fake
//! Slack (every Web API call checked against Slack's OpenAPI document and Block Kit's
//! limits), signed slash commands and clicks over HTTP, and the same over Socket Mode.

#[path = "common/fake_slack/mod.rs"]
mod fake_slack;

use fake_slack::{signed_headers, FakeSlack, SlackUser};
use reqwest::StatusCode;
use serde_json::Value;
use shipgate::config::Config;
use shipgate::domain::release::Event;
use std::time::Duration;

const RELEASES: &str = "C0RELEASES1";
const INCIDENTS: &str = "C0INCIDENT1";

struct App {
    fake: FakeSlack,
    url: String,
    http: reqwest::Client,
    _running: shipgate::runtime::Running,
    _dir: tempfile::TempDir,
}

fn alice() -> SlackUser {
    SlackUser::new("U0ALICE0001", "alice")
}

async fn start() -> App {
    start_in("http").await
}

async fn start_in(mode: &str) -> App {
    let fake = FakeSlack::start().await;
    fake.add_channel(RELEASES);
    fake.add_channel(INCIDENTS);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("shipgate.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[database]
url = "sqlite://{db}"

[slack]
mode = "{mode}"
release_channel_id = "{RELEASES}"
incident_channel_ids = ["{INCIDENTS}"]
api_base = "{api_base}"
"#,
            db = dir.path().join("shipgate.db").display(),
            api_base = fake.api_base(),
        ),
    )
    .expect("write config");
    let env = [
        ("SHIPGATE_SLACK_BOT_TOKEN", fake.bot_token().to_owned()),
        if mode == "socket" {
            ("SHIPGATE_SLACK_APP_TOKEN", fake.app_token().to_owned())
        } else {
            ("SHIPGATE_SLACK_SIGNING_SECRET", fake.signing_secret().to_owned())
        },
    ];
    let config = Config::load_with_env(Some(&path), env).expect("config loads");
    let clock = std::sync::Arc::new(shipgate::app::clock::SystemClock);
    let running = shipgate::runtime::build_with(&config, clock, Duration::from_millis(200)).await.expect("builds");
    let router = shipgate::http::router(running.state.clone(), config.server.max_body_bytes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    App { fake, url, http: reqwest::Client::new(), _running: running, _dir: dir }
}

impl App {
    /// Posts a form body to `path`, signed as Slack signs it now.
    async fn post_signed(&self, path: &str, body: &str) -> reqwest::Response {
        let mut request = self.http.post(format!("{}{path}", self.url)).body(body.to_owned());
        request = request.header("content-type", "application/x-www-form-urlencoded");
        for (name, value) in self.fake.signed_headers(body) {
            request = request.header(name, value);
        }
        request.send().await.expect("shipgate answers")
    }

    async fn until<T>(&self, what: &str, mut check: impl FnMut(&FakeSlack) -> Option<T>) -> T {
        for _ in 0..200 {
            if let Some(found) = check(&self.fake) {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{what} did not happen; Slack saw {:#?}",
            self.fake.requests().iter().map(|r| &r.method).collect::<Vec<_>>()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_started_in_slack_opens_its_thread_and_a_click_ticks_the_card() {
    let app = start().await;
    let command = app.fake.slash_command(RELEASES, &alice(), "/release", "start api 1.4.0 3f9c2e1");
    let answer = app.post_signed("/slack/commands", &command.to_form()).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let body: Value = answer.json().await.expect("JSON answer");
    let said = body["text"].as_str().unwrap_or_default();
    assert!(said.contains("*api 1.4.0* started by alice"), "{body:#}");

    // The parent message, then Step 1's card in its thread.
    let parent = app
        .until("the release's parent message", |fake| {
            fake.messages_in(RELEASES).into_iter().find(|m| m.text.as_deref().unwrap_or_default().contains("api 1.4.0"))
        })
        .await;
    let card = app
        .until("Step 1's card in the thread", |fake| {
            fake.thread(RELEASES, &parent.ts)
                .into_iter()
                .find(|m| m.text.as_deref().unwrap_or_default().contains("Step 1"))
        })
        .await;
    let tick = card.action_ids().into_iter().find(|id| id.ends_with(":i0")).expect("a tick button for item 1");

    let click = app.fake.click(RELEASES, &card.ts, &tick, &alice());
    let answer = app.post_signed("/slack/interactivity", &click.to_form()).await;
    assert_eq!(answer.status(), StatusCode::OK);
    app.until("the card updated through response_url with the tick", |fake| {
        let now = fake.message(RELEASES, &card.ts)?;
        (now.versions.len() > 1 && now.action_ids().iter().any(|id| id.ends_with(":u0"))).then_some(())
    })
    .await;

    // The same click delivered again changes nothing twice: one tick in the history.
    let again = app.post_signed("/slack/interactivity", &click.to_form()).await;
    assert_eq!(again.status(), StatusCode::OK);
    let release_id = tick.split(':').nth(1).expect("the release in the button id").to_owned();
    let release_id = shipgate::domain::ReleaseId::new(&release_id);
    let (_, history) =
        app._running.state.app.release_with_history(&release_id).await.expect("read").expect("the release");
    let ticks = history.iter().filter(|r| matches!(r.event, Event::ItemTicked { .. })).count();
    assert_eq!(ticks, 1, "one tick for one click delivered twice");
    app.fake.assert_no_problems();
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_and_stale_signatures_are_refused_before_anything_is_read() {
    let app = start().await;
    let command = app.fake.slash_command(RELEASES, &alice(), "/release", "start api 1.4.0 3f9c2e1");
    let body = command.to_form();
    let send = |headers: [(&'static str, String); 2]| {
        let mut request = app.http.post(format!("{}/slack/commands", app.url)).body(body.clone());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let forged = signed_headers("not-the-signing-secret", chrono::Utc::now().timestamp(), &body);
    assert_eq!(send(forged).await.expect("answer").status(), StatusCode::UNAUTHORIZED);
    let stale = signed_headers(app.fake.signing_secret(), chrono::Utc::now().timestamp() - 301, &body);
    assert_eq!(send(stale).await.expect("answer").status(), StatusCode::UNAUTHORIZED);
    let unsigned =
        app.http.post(format!("{}/slack/commands", app.url)).body(body.clone()).send().await.expect("answer");
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(app.fake.messages_in(RELEASES).is_empty(), "nothing was started");
}

#[tokio::test(flavor = "multi_thread")]
async fn over_socket_mode_a_slash_command_is_answered_on_its_ack_and_a_click_ticks_the_card() {
    let app = start_in("socket").await;
    app.fake.wait_socket_hellos(1, Duration::from_secs(10)).await;
    let command = app.fake.slash_command(RELEASES, &alice(), "/release", "start api 1.4.0 3f9c2e1");
    let envelope = app.fake.push_slash_command(&command);
    let ack = app.fake.wait_ack(&envelope, Duration::from_secs(10)).await;
    let said = ack.payload.as_ref().and_then(|p| p["text"].as_str()).unwrap_or_default().to_owned();
    assert!(said.contains("*api 1.4.0* started by alice"), "the ack carries the answer: {ack:?}");

    let parent = app
        .until("the release's parent message", |fake| {
            fake.messages_in(RELEASES).into_iter().find(|m| m.text.as_deref().unwrap_or_default().contains("api 1.4.0"))
        })
        .await;
    let card = app
        .until("Step 1's card in the thread", |fake| {
            fake.thread(RELEASES, &parent.ts)
                .into_iter()
                .find(|m| m.text.as_deref().unwrap_or_default().contains("Step 1"))
        })
        .await;
    let tick = card.action_ids().into_iter().find(|id| id.ends_with(":i0")).expect("a tick button for item 1");
    let click = app.fake.click(RELEASES, &card.ts, &tick, &alice());
    let envelope = app.fake.push_interactive(click.to_json());
    app.fake.wait_ack(&envelope, Duration::from_secs(10)).await;
    app.until("the card updated with the tick", |fake| {
        let now = fake.message(RELEASES, &card.ts)?;
        now.action_ids().iter().any(|id| id.ends_with(":u0")).then_some(())
    })
    .await;
    app.fake.assert_no_problems();
}
