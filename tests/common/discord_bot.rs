//! shipgate as a Discord bot in HTTP mode, end to end: the real `runtime` and router on a
//! free port and a SQLite file, the stateful fake Discord, signed interactions, the CI API
//! with client tokens, and a clock the test moves.
#![allow(dead_code)]

use super::fake_discord::{FakeDiscord, Member};
use chrono::Duration as ChronoDuration;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};
use shipgate::app::clock::Clock;
use shipgate::config::Config;
use std::sync::Arc;
use std::time::Duration;
// Not every test binary that includes the bot walks the steps.
#[allow(unused_imports)]
pub use super::walk_clock::{TestClock, STEPS};

/// How often the harness's shipgate looks for stalled steps and ended watches: often, so
/// that a test that moves the clock sees the timer's work soon.
pub const TIMER_SWEEP: std::time::Duration = std::time::Duration::from_millis(200);
pub const RELEASE_CHANNEL: &str = "1300000000000000001";
/// Releases started here use a team calendar that is always frozen.
pub const FROZEN_CHANNEL: &str = "1300000000000000009";
pub const INCIDENT_CHANNEL: &str = "1400000000000000001";
pub const INCIDENT_CHANNEL_2: &str = "1400000000000000002";
pub const MANAGER_ROLE: &str = "1500000000000000001";
pub const ENGINEER_ROLE: &str = "1600000000000000001";
pub const OTHER_GUILD: &str = "1900000000000000009";

/// API clients, as CI and a release bot use them.
pub const CI_TOKEN: &str = "bot-ci-token-0123456789abcdef";
pub const RM_TOKEN: &str = "bot-rm-token-0123456789abcdef";
pub const DIGEST: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
pub const OLD_DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

pub struct Bot {
    pub fake: FakeDiscord,
    pub key: SigningKey,
    pub url: String,
    pub http: reqwest::Client,
    pub clock: Arc<TestClock>,
    /// shipgate's background tasks (the outbox worker), kept for the test's length.
    _running: shipgate::runtime::Running,
    _dir: tempfile::TempDir,
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `[discord]` section and API clients of a bot against `fake`, on `database_url`.
pub fn config_text(fake: &FakeDiscord, key: &SigningKey, database_url: &str) -> String {
    format!(
        r#"
[database]
url = "{database_url}"

[[api.clients]]
name = "ci"
token_env = "TEST_BOT_CI_TOKEN"
roles = ["engineer"]

[[api.clients]]
name = "release-bot"
token_env = "TEST_BOT_RM_TOKEN"
roles = ["release-manager", "engineer"]

[discord]
mode = "http"
application_id = "{app}"
public_key = "{public_key}"
guild_id = "{guild}"
release_channel_id = "{RELEASE_CHANNEL}"
incident_channel_ids = ["{INCIDENT_CHANNEL}", "{INCIDENT_CHANNEL_2}"]
api_base = "{base}"

[discord.roles]
release-manager = ["{MANAGER_ROLE}"]
engineer = ["{ENGINEER_ROLE}", "{MANAGER_ROLE}"]

[freeze]
timezone = "UTC"

[[freeze.teams]]
name = "Always frozen"
channels = ["{FROZEN_CHANNEL}"]
timezone = "UTC"
windows = [{{ name = "Code freeze", from = "2020-01-01 00:00", to = "2099-01-01 00:00" }}]
"#,
        app = fake.application_id(),
        public_key = hex(&key.verifying_key().to_bytes()),
        guild = fake.guild_id(),
        base = fake.api_base(),
    )
}

pub fn env(fake: &FakeDiscord) -> Vec<(&'static str, String)> {
    vec![
        ("SHIPGATE_DISCORD_TOKEN", fake.token().to_owned()),
        ("TEST_BOT_CI_TOKEN", CI_TOKEN.to_owned()),
        ("TEST_BOT_RM_TOKEN", RM_TOKEN.to_owned()),
    ]
}

pub fn seed_channels(fake: &FakeDiscord) {
    for channel in [RELEASE_CHANNEL, FROZEN_CHANNEL, INCIDENT_CHANNEL, INCIDENT_CHANNEL_2] {
        fake.add_text_channel(channel);
    }
}

/// A started release: its id and its thread.
#[derive(Debug, Clone)]
pub struct Started {
    pub id: String,
    pub thread: String,
}

impl Bot {
    pub async fn start() -> Bot {
        Bot::start_with("").await
    }

    /// [`Bot::start`] with more configuration after the usual (a `[monitoring]` section).
    pub async fn start_with(extra_config: &str) -> Bot {
        let fake = FakeDiscord::start().await;
        seed_channels(&fake);
        let key = SigningKey::from_bytes(&[42u8; 32]);
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = format!("sqlite://{}", dir.path().join("shipgate.db").display());
        let path = dir.path().join("shipgate.toml");
        std::fs::write(&path, config_text(&fake, &key, &database_url) + extra_config).expect("write config");
        let config = Config::load_with_env(Some(&path), env(&fake)).expect("config loads");
        let clock = Arc::new(TestClock::default());
        let running =
            shipgate::runtime::build_with(&config, clock.clone(), TIMER_SWEEP).await.expect("shipgate builds");
        let router = shipgate::http::router(running.state.clone(), config.server.max_body_bytes);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Bot { fake, key, url, http: reqwest::Client::new(), clock, _running: running, _dir: dir }
    }

    /// The running app: for calling a timer's work at once, as the test's clock stands.
    pub fn app(&self) -> shipgate::app::App {
        self._running.state.app.clone()
    }

    pub fn sign(&self, timestamp: &str, body: &str) -> String {
        sign(&self.key, timestamp, body)
    }

    pub async fn post_raw(&self, body: &str, timestamp: &str, signature: &str) -> reqwest::Response {
        post_interaction(&self.http, &self.url, body, timestamp, signature).await.expect("shipgate answers")
    }

    /// Sends a signed interaction (stamped with the app's time) and hands the answer to the
    /// fake as Discord would apply it.
    pub async fn interact(&self, interaction: &Value) -> Value {
        self.fake.register_interaction(interaction);
        let answer = self.interact_again(interaction).await;
        let id = interaction["id"].as_str().expect("id");
        if let Err(problems) = self.fake.apply_http_interaction_response(id, &answer) {
            panic!("the answer breaks Discord's contract: {problems:?}\n{answer:#}");
        }
        answer
    }

    /// Delivers an interaction again, as Discord may: only the answer is returned.
    pub async fn interact_again(&self, interaction: &Value) -> Value {
        let body = interaction.to_string();
        let timestamp = self.clock.now().timestamp().to_string();
        let response = self.post_raw(&body, &timestamp, &self.sign(&timestamp, &body)).await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("JSON answer")
    }

    pub async fn eventually<T>(&self, what: &str, check: impl FnMut(&FakeDiscord) -> Option<T>) -> T {
        eventually(&self.fake, what, check).await
    }

    // ----- slash commands and clicks -----

    pub async fn command(&self, channel: &str, name: &str, sub: &str, options: Value, member: &Member) -> Value {
        let interaction =
            self.fake.command_interaction(channel, name, json!([{"name": sub, "type": 1, "options": options}]), member);
        self.interact(&interaction).await
    }

    /// `/release start` typed in `channel`; waits for the thread and the first card.
    pub async fn start_release(
        &self,
        channel: &str,
        service: &str,
        version: &str,
        hotfix: bool,
        member: &Member,
    ) -> Started {
        let mut options = vec![
            json!({"name": "service", "type": 3, "value": service}),
            json!({"name": "version", "type": 3, "value": version}),
            json!({"name": "sha", "type": 3, "value": "3f9c2e1"}),
        ];
        if hotfix {
            options.push(json!({"name": "hotfix", "type": 5, "value": true}));
        }
        let answer = self.command(channel, "release", "start", json!(options), member).await;
        assert_eq!(answer["type"], 5, "{answer}");
        let name = format!("{service} {version}");
        let thread = self
            .eventually(&format!("the thread of {name}"), |fake| {
                fake.threads()
                    .into_iter()
                    .find(|t| t["name"] == name.as_str())
                    .and_then(|t| t["id"].as_str().map(str::to_owned))
            })
            .await;
        let card = self.card_where(&thread, "the first card", |c| step_of(c) == Some(("pre-flight".into(), 1))).await;
        let id = release_of(&card).expect("the card names its release");
        Started { id, thread }
    }

    /// Clicks `custom_id` on the message `card` in `thread`.
    pub async fn click(&self, thread: &str, card: &Value, custom_id: &str, member: &Member) -> Value {
        let card_id = card["id"].as_str().expect("message id");
        let click = self.fake.button_interaction(thread, card_id, custom_id, member);
        self.interact(&click).await
    }

    /// Clicks the button of `card` whose label contains `label`.
    pub async fn click_label(&self, thread: &str, card: &Value, label: &str, member: &Member) -> Value {
        let button = button(card, label);
        self.click(thread, card, button["custom_id"].as_str().expect("custom id"), member).await
    }

    /// Submits the modal `modal` (an answer of type 9) opened from `card` with `values`.
    pub async fn submit(
        &self,
        thread: &str,
        card: &Value,
        modal: &Value,
        values: &[(&str, &str)],
        member: &Member,
    ) -> Value {
        assert_eq!(modal["type"], 9, "{modal}");
        let card_id = card["id"].as_str().expect("message id");
        let mut submit = self.fake.button_interaction(thread, card_id, "unused", member);
        submit["type"] = json!(5);
        let rows: Vec<Value> = values
            .iter()
            .map(|(name, value)| json!({"type": 1, "components": [{"type": 4, "custom_id": name, "value": value}]}))
            .collect();
        submit["data"] = json!({"custom_id": modal["data"]["custom_id"], "components": rows});
        self.interact(&submit).await
    }

    // ----- what the fake holds -----

    /// Card messages in `thread` (not ephemeral replies), oldest first.
    pub fn cards(&self, thread: &str) -> Vec<Value> {
        cards(&self.fake, thread)
    }

    /// Waits for the card of `step` (an id of [`STEPS`], or `rollback`), attempt `attempt`.
    pub async fn card(&self, thread: &str, step: &str, attempt: u32) -> Value {
        let what = format!("the card of {step}, attempt {attempt}");
        self.card_where(thread, &what, |c| step_of(c) == Some((step.to_owned(), attempt))).await
    }

    /// Waits for a card in `thread` that `check` accepts.
    pub async fn card_where(&self, thread: &str, what: &str, mut check: impl FnMut(&Value) -> bool) -> Value {
        let thread = thread.to_owned();
        self.eventually(what, move |fake| cards(fake, &thread).into_iter().find(|c| check(c))).await
    }

    /// Waits until the stored message `card` satisfies `check`; returns it.
    pub async fn card_becomes(
        &self,
        thread: &str,
        card: &Value,
        what: &str,
        mut check: impl FnMut(&Value) -> bool,
    ) -> Value {
        let id = card["id"].as_str().expect("message id").to_owned();
        let thread = thread.to_owned();
        self.eventually(what, move |fake| fake.message(&thread, &id).filter(|m| check(m))).await
    }

    // ----- the CI API -----

    pub async fn api(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/api/v1{path}", self.url);
        let mut request = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url),
        }
        .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn api_ok(&self, path: &str, token: &str, body: Option<Value>) -> Value {
        let (status, body) = self.api("POST", path, token, body).await;
        assert!((200..300).contains(&status), "POST {path} answered {status}: {body}");
        body
    }

    /// The release with its history.
    pub async fn release(&self, id: &str) -> Value {
        let (status, body) = self.api("GET", &format!("/releases/{id}"), CI_TOKEN, None).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Waits until the release's history holds at least `len` events; returns its length.
    pub async fn eventually_async_len(&self, id: &str, len: usize) -> usize {
        for _ in 0..200 {
            let now = self.history_len(id).await;
            if now >= len {
                return now;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("release {id} never reached {len} events");
    }

    pub async fn history_len(&self, id: &str) -> usize {
        self.release(id).await["history"].as_array().map_or(0, Vec::len)
    }

    pub async fn tick_all(&self, id: &str) {
        let release = self.release(id).await;
        let step = release["current_step"]["id"].as_str().expect("step").to_owned();
        for item in release["current_step"]["items"].as_array().expect("items") {
            if item["ticked"] == true {
                continue;
            }
            let item = item["id"].as_str().expect("item");
            self.api_ok(&format!("/releases/{id}/steps/{step}/items/{item}/tick"), CI_TOKEN, None).await;
        }
    }

    pub async fn current_step(&self, id: &str) -> String {
        self.release(id).await["current_step"]["id"].as_str().expect("step").to_owned()
    }

    /// Drives a release through the API from Step 1 to Step 5 with every smoke box
    /// ticked: only the smoke-test gate (the way to production) is left.
    pub async fn api_to_smoke_gate(&self, id: &str, version: &str, digest: &str) {
        self.tick_all(id).await;
        self.api_ok(&format!("/releases/{id}/steps/pre-flight/approve"), RM_TOKEN, None).await;
        self.api_ok(
            &format!("/releases/{id}/test-results"),
            CI_TOKEN,
            Some(json!({"suite": "unit", "passed": 420, "failed": 0})),
        )
        .await;
        self.api_ok(
            &format!("/releases/{id}/artifacts"),
            CI_TOKEN,
            Some(json!({"version": version, "git_sha": "3f9c2e1", "digest": digest, "size_bytes": 73400320})),
        )
        .await;
        self.tick_all(id).await;
        self.tick_all(id).await;
        self.api_ok(&format!("/releases/{id}/deployments"), CI_TOKEN, Some(deployment("staging", digest))).await;
        self.tick_all(id).await;
        assert_eq!(self.current_step(id).await, "smoke-test");
    }

    /// Drives a release through the API to Step 7, deployed to production and watched for
    /// 15 minutes (the clock moves), with the monitoring boxes still to tick.
    pub async fn api_to_monitor(&self, id: &str, version: &str, digest: &str) {
        self.api_to_smoke_gate(id, version, digest).await;
        self.api_ok(&format!("/releases/{id}/steps/smoke-test/approve"), RM_TOKEN, None).await;
        self.api_ok(&format!("/releases/{id}/deployments"), CI_TOKEN, Some(deployment("production", digest))).await;
        assert_eq!(self.current_step(id).await, "monitor");
    }

    /// A release started by CI and completed through the API alone (no chat channel),
    /// leaving `digest` live in production. Moves the clock past the watch.
    pub async fn api_complete(&self, service: &str, version: &str, digest: &str) -> String {
        let (status, body) = self
            .api(
                "POST",
                "/releases",
                CI_TOKEN,
                Some(json!({"service": service, "version": version, "git_sha": "3f9c2e1"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().expect("id").to_owned();
        self.api_to_monitor(&id, version, digest).await;
        self.tick_all(&id).await;
        self.clock.advance(ChronoDuration::minutes(16));
        self.api_ok(&format!("/releases/{id}/steps/monitor/approve"), RM_TOKEN, None).await;
        self.tick_all(&id).await;
        let done = self.api_ok(&format!("/releases/{id}/steps/rollback-criteria/approve"), RM_TOKEN, None).await;
        assert_eq!(done["release"]["status"], "completed", "{done}");
        id
    }
}

pub fn deployment(env: &str, digest: &str) -> Value {
    json!({"environment": env, "digest": digest, "outcome": "succeeded", "health": "passed", "strategy": "rolling"})
}

pub fn sign(key: &SigningKey, timestamp: &str, body: &str) -> String {
    let mut signed = timestamp.as_bytes().to_vec();
    signed.extend_from_slice(body.as_bytes());
    hex(&key.sign(&signed).to_bytes())
}

pub async fn post_interaction(
    http: &reqwest::Client,
    url: &str,
    body: &str,
    timestamp: &str,
    signature: &str,
) -> reqwest::Result<reqwest::Response> {
    http.post(format!("{url}/discord/interactions"))
        .header("content-type", "application/json")
        .header("x-signature-timestamp", timestamp)
        .header("x-signature-ed25519", signature)
        .body(body.to_owned())
        .send()
        .await
}

/// Polls the fake every 50 ms for at most 60 s (deliveries may wait out a backoff).
pub async fn eventually<T>(fake: &FakeDiscord, what: &str, check: impl FnMut(&FakeDiscord) -> Option<T>) -> T {
    eventually_for(fake, what, Duration::from_secs(60), check).await
}

/// Polls the fake every 50 ms for at most `limit`.
pub async fn eventually_for<T>(
    fake: &FakeDiscord,
    what: &str,
    limit: Duration,
    mut check: impl FnMut(&FakeDiscord) -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(value) = check(fake) {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn alice() -> Member {
    Member::new("1700000000000000001", "alice", &[ENGINEER_ROLE])
}

pub fn bob() -> Member {
    Member::new("1700000000000000002", "bob", &[MANAGER_ROLE])
}

pub fn carol() -> Member {
    Member::new("1700000000000000004", "carol", &[MANAGER_ROLE])
}

pub fn mallory() -> Member {
    Member::new("1700000000000000003", "mallory", &[])
}

pub fn buttons(message: &Value) -> Vec<Value> {
    message["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The button whose label contains `label`.
pub fn button(message: &Value, label: &str) -> Value {
    buttons(message)
        .into_iter()
        .find(|b| b["label"].as_str().is_some_and(|l| l.contains(label)))
        .unwrap_or_else(|| panic!("no button labelled {label:?} on {message:#}"))
}

pub fn gate(message: &Value) -> Value {
    let gates: Vec<Value> = buttons(message).into_iter().filter(|b| b["style"] == 1).collect();
    assert_eq!(gates.len(), 1, "one Primary button, the gate: {message:#}");
    gates[0].clone()
}

pub fn all_disabled(message: &Value) -> bool {
    let buttons = buttons(message);
    !buttons.is_empty() && buttons.iter().all(|b| b["disabled"] == true)
}

/// The embed's description and fields, as one text.
pub fn body_text(message: &Value) -> String {
    let embed = &message["embeds"][0];
    let mut text = embed["description"].as_str().unwrap_or_default().to_owned();
    for field in embed["fields"].as_array().into_iter().flatten() {
        text.push('\n');
        text.push_str(field["name"].as_str().unwrap_or_default());
        text.push('\n');
        text.push_str(field["value"].as_str().unwrap_or_default());
    }
    text
}

pub fn ephemeral_text(answer: &Value) -> String {
    assert_eq!(answer["type"], 4, "{answer}");
    assert_eq!(answer["data"]["flags"], 64, "{answer}");
    answer["data"]["content"].as_str().unwrap_or_default().to_owned()
}

fn footer(message: &Value) -> Option<String> {
    message["embeds"][0]["footer"]["text"].as_str().map(str::to_owned)
}

/// `release <id> · <step> · attempt <n>` from a card's footer.
fn footer_parts(message: &Value) -> Option<(String, String, u32)> {
    let footer = footer(message)?;
    let mut parts = footer.split(" · ");
    let release = parts.next()?.strip_prefix("release ")?.to_owned();
    let step = parts.next()?.to_owned();
    let attempt = parts.next()?.strip_prefix("attempt ")?.parse().ok()?;
    Some((release, step, attempt))
}

/// The step id and attempt a card shows.
pub fn step_of(message: &Value) -> Option<(String, u32)> {
    footer_parts(message).map(|(_, step, attempt)| (step, attempt))
}

pub fn release_of(message: &Value) -> Option<String> {
    footer_parts(message).map(|(release, _, _)| release)
}

/// Card messages in `thread` (not ephemeral replies), oldest first.
pub fn cards(fake: &FakeDiscord, thread: &str) -> Vec<Value> {
    fake.messages(thread)
        .into_iter()
        .filter(|m| m["flags"].as_u64().unwrap_or(0) & 64 == 0 && footer_parts(m).is_some())
        .collect()
}
