//! The release-safety rules worked from Discord, end to end: a gate rejected with a
//! reason, a stalled step pinging its owners once (also with a second instance on the same
//! database), and a production approval pinned to the artifact it approved. shipgate's real
//! router and runtime receive signed interactions and deliver to the stateful fake Discord;
//! CI evidence arrives through the API. The app's clock is a `ManualClock`, so time is
//! moved, never waited for.

use crate::common;

use common::fake_discord::{FakeDiscord, Member};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};
use shipgate::app::clock::ManualClock;
use shipgate::config::Config;
use shipgate::domain::release::Event;
use shipgate::domain::ReleaseId;
use std::sync::Arc;
use std::time::Duration;

const RELEASE_CHANNEL: &str = "1300000000000000001";
const INCIDENT_CHANNEL: &str = "1400000000000000001";
const MANAGER_ROLE: &str = "1500000000000000001";
const ENGINEER_ROLE: &str = "1600000000000000001";
const CI_TOKEN: &str = "ci-token-0123456789abcdef";
const RM_TOKEN: &str = "rm-token-0123456789abcdef";
const DIGEST: &str = "sha256:4f1c9a7e2b3d4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6";
const REBUILT: &str = "sha256:9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d";
/// How often the stall timer looks in these tests: often, so a test never waits long.
const SWEEP: Duration = Duration::from_millis(25);

struct Bot {
    fake: FakeDiscord,
    key: SigningKey,
    url: String,
    http: reqwest::Client,
    clock: Arc<ManualClock>,
    config: Config,
    /// shipgate's background tasks (the outbox worker, the stall timer), kept for the test.
    _running: shipgate::runtime::Running,
    _dir: tempfile::TempDir,
}

impl Bot {
    async fn start() -> Bot {
        let fake = FakeDiscord::start().await;
        fake.add_text_channel(RELEASE_CHANNEL);
        fake.add_text_channel(INCIDENT_CHANNEL);
        let key = SigningKey::from_bytes(&[42u8; 32]);
        let public_key: String = key.verifying_key().to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let dir = tempfile::tempdir().expect("temp dir");
        let config_text = format!(
            r#"
[database]
url = "sqlite://{db}"

[[api.clients]]
name = "ci"
token_env = "SHIPGATE_CI_TOKEN"
roles = ["engineer"]

[[api.clients]]
name = "release-bot"
token_env = "SHIPGATE_RM_TOKEN"
roles = ["release-manager", "engineer"]

[discord]
mode = "http"
application_id = "{app}"
public_key = "{public_key}"
guild_id = "{guild}"
release_channel_id = "{RELEASE_CHANNEL}"
incident_channel_ids = ["{INCIDENT_CHANNEL}"]
api_base = "{base}"

[discord.roles]
release-manager = ["{MANAGER_ROLE}"]
engineer = ["{ENGINEER_ROLE}", "{MANAGER_ROLE}"]
"#,
            db = dir.path().join("shipgate.db").display(),
            app = fake.application_id(),
            guild = fake.guild_id(),
            base = fake.api_base(),
        );
        let path = dir.path().join("shipgate.toml");
        std::fs::write(&path, config_text).expect("write config");
        let env = [
            ("SHIPGATE_DISCORD_TOKEN", fake.token().to_owned()),
            ("SHIPGATE_CI_TOKEN", CI_TOKEN.to_owned()),
            ("SHIPGATE_RM_TOKEN", RM_TOKEN.to_owned()),
        ];
        let config = Config::load_with_env(Some(&path), env).expect("config loads");
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let running = shipgate::runtime::build_with(&config, clock.clone(), SWEEP).await.expect("shipgate builds");
        let router = shipgate::http::router(running.state.clone(), config.server.max_body_bytes);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Bot { fake, key, url, http: reqwest::Client::new(), clock, config, _running: running, _dir: dir }
    }

    fn sign(&self, timestamp: &str, body: &str) -> String {
        let mut signed = timestamp.as_bytes().to_vec();
        signed.extend_from_slice(body.as_bytes());
        self.key.sign(&signed).to_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Sends a signed interaction; with `apply`, hands the answer to the fake as Discord
    /// would (a repeat delivery is only answered, the fake having applied it already).
    async fn send(&self, interaction: &Value, apply: bool) -> Value {
        if apply {
            self.fake.register_interaction(interaction);
        }
        let body = interaction.to_string();
        // shipgate checks the signature's timestamp against its own (test) clock.
        let timestamp = shipgate::app::clock::Clock::now(self.clock.as_ref()).timestamp().to_string();
        let response = self
            .http
            .post(format!("{}/discord/interactions", self.url))
            .header("content-type", "application/json")
            .header("x-signature-timestamp", &timestamp)
            .header("x-signature-ed25519", self.sign(&timestamp, &body))
            .body(body)
            .send()
            .await
            .expect("shipgate answers");
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.expect("JSON answer");
        if apply {
            let id = interaction["id"].as_str().expect("id");
            if let Err(problems) = self.fake.apply_http_interaction_response(id, &answer) {
                panic!("the answer breaks Discord's contract: {problems:?}\n{answer:#}");
            }
        }
        answer
    }

    async fn interact(&self, interaction: &Value) -> Value {
        self.send(interaction, true).await
    }

    async fn eventually<T>(&self, what: &str, mut check: impl FnMut(&FakeDiscord) -> Option<T>) -> T {
        for _ in 0..200 {
            if let Some(value) = check(&self.fake) {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }

    async fn api(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Value {
        let (status, answer) = self.api(reqwest::Method::POST, path, token, Some(body)).await;
        assert_eq!(status, 200, "{path}: {answer}");
        answer
    }

    async fn current_step(&self, id: &str) -> String {
        let (_, view) = self.api(reqwest::Method::GET, &format!("/api/v1/releases/{id}"), CI_TOKEN, None).await;
        view["current_step"]["id"].as_str().unwrap_or_default().to_owned()
    }

    /// Ticks every item of the current step through the API, as CI.
    async fn tick_all(&self, id: &str) {
        let (_, view) = self.api(reqwest::Method::GET, &format!("/api/v1/releases/{id}"), CI_TOKEN, None).await;
        let step = view["current_step"]["id"].as_str().expect("a current step").to_owned();
        for item in view["current_step"]["items"].as_array().cloned().unwrap_or_default() {
            let item = item["id"].as_str().expect("item id");
            self.post(&format!("/api/v1/releases/{id}/steps/{step}/items/{item}/tick"), CI_TOKEN, json!({})).await;
        }
    }

    /// Starts a release from Discord as Alice; answers with its thread and release id.
    async fn start_release(&self) -> (String, String) {
        let start = self.fake.command_interaction(
            RELEASE_CHANNEL,
            "release",
            json!([{"name": "start", "type": 1, "options": [
                {"name": "service", "type": 3, "value": "checkout"},
                {"name": "version", "type": 3, "value": "2.7.0"},
                {"name": "sha", "type": 3, "value": "3f9c2e1"}
            ]}]),
            &alice(),
        );
        self.interact(&start).await;
        let thread = self
            .eventually("the release thread", |fake| {
                fake.threads().first().and_then(|t| t["id"].as_str().map(str::to_owned))
            })
            .await;
        let card = self.card(&thread, "Step 1 —", 1).await;
        let custom_id = buttons(&card)[0]["custom_id"].as_str().expect("custom id").to_owned();
        let release = custom_id.split(':').nth(1).expect("the release in the custom id").to_owned();
        (thread, release)
    }

    /// The `nth` (1-based) card in the thread whose content starts with `prefix`.
    async fn card(&self, thread: &str, prefix: &str, nth: usize) -> Value {
        self.eventually(&format!("card {nth} starting {prefix:?}"), |fake| {
            let cards: Vec<Value> = fake
                .messages(thread)
                .into_iter()
                .filter(|m| m["content"].as_str().is_some_and(|c| c.starts_with(prefix)))
                .collect();
            cards.get(nth - 1).cloned()
        })
        .await
    }

    /// Clicks Reject on `card` as `member` and submits `reason` in the form it opens.
    async fn reject(&self, thread: &str, card: &Value, member: &Member, reason: &str) -> (Value, Value) {
        let card_id = card["id"].as_str().expect("card id");
        let reject = reject_button(card);
        let modal = self.interact(&self.fake.button_interaction(thread, card_id, &reject, member)).await;
        assert_eq!(modal["type"], 9, "Reject asks why: {modal}");
        let mut submit = self.fake.button_interaction(thread, card_id, &reject, member);
        submit["type"] = json!(5);
        submit["data"] = json!({"custom_id": modal["data"]["custom_id"], "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": "reason", "value": reason}]}
        ]});
        let answer = self.interact(&submit).await;
        (submit, answer)
    }

    /// Clicks the gate of `card` as `member`.
    async fn approve(&self, thread: &str, card: &Value, member: &Member) -> Value {
        let gate = buttons(card).into_iter().find(|b| b["style"] == 1).expect("a gate button");
        let click = self.fake.button_interaction(
            thread,
            card["id"].as_str().expect("card id"),
            gate["custom_id"].as_str().expect("gate id"),
            member,
        );
        self.interact(&click).await
    }
}

fn alice() -> Member {
    Member::new("1700000000000000001", "alice", &[ENGINEER_ROLE])
}

fn bob() -> Member {
    Member::new("1700000000000000002", "bob", &[MANAGER_ROLE])
}

fn mallory() -> Member {
    Member::new("1700000000000000003", "mallory", &[])
}

fn buttons(message: &Value) -> Vec<Value> {
    message["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn reject_button(card: &Value) -> String {
    buttons(card)
        .into_iter()
        .filter_map(|b| b["custom_id"].as_str().map(str::to_owned))
        .find(|id| id.ends_with(":x"))
        .unwrap_or_else(|| panic!("a Reject button on {card}"))
}

/// Everything a rendered card says: its header, body and fields.
fn card_text(message: &Value) -> String {
    let embed = &message["embeds"][0];
    let mut text = format!("{}\n{}", message["content"].as_str().unwrap_or_default(), embed["description"]);
    for field in embed["fields"].as_array().into_iter().flatten() {
        text.push_str(&format!("\n{}: {}", field["name"], field["value"]));
    }
    text
}

fn ephemeral_text(answer: &Value) -> String {
    assert_eq!(answer["type"], 4, "{answer}");
    assert_eq!(answer["data"]["flags"], 64, "{answer}");
    answer["data"]["content"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn reject_asks_why_and_sends_the_release_down_the_failure_path_naming_the_reason() {
    let bot = Bot::start().await;
    let (thread, id) = bot.start_release().await;
    let step1 = bot.card(&thread, "Step 1 —", 1).await;

    // Someone without the playbook's roles is refused, with the way forward, and nothing
    // changes.
    let (_, refused) = bot.reject(&thread, &step1, &mallory(), "looks risky").await;
    let text = ephemeral_text(&refused);
    assert!(text.contains("you need one of the roles") && text.contains("[discord.roles]"), "{text}");
    // A blank reason is refused too.
    let (_, refused) = bot.reject(&thread, &step1, &bob(), "   ").await;
    assert!(ephemeral_text(&refused).contains("needs a reason"), "{refused}");
    assert_eq!(bot.current_step(&id).await, "pre-flight");

    // Step 1 passes; Alice rejects Step 2's gate: its first path restarts from Step 1.
    bot.tick_all(&id).await;
    bot.post(&format!("/api/v1/releases/{id}/steps/pre-flight/approve"), RM_TOKEN, json!({})).await;
    let step2 = bot.card(&thread, "Step 2 —", 1).await;
    let (submit, answer) = bot.reject(&thread, &step2, &alice(), "orders API returns 500 on the new tax rules").await;
    assert_eq!(answer["type"], 7, "{answer}");
    assert!(buttons(&answer["data"]).iter().all(|b| b["disabled"] == true), "the rejected card is closed");
    let closed = card_text(&answer["data"]);
    assert!(closed.contains("Rejected by alice"), "{closed}");
    assert!(closed.contains("orders API returns 500 on the new tax rules → Real regression"), "{closed}");
    assert_eq!(bot.current_step(&id).await, "pre-flight");
    bot.card(&thread, "Step 1 —", 2).await;

    // The card in the thread says the same once its edit is delivered.
    let step2_id = step2["id"].as_str().expect("id").to_owned();
    bot.eventually("the closed Step 2 card naming the reason", |fake| {
        fake.message(&thread, &step2_id).filter(|m| card_text(m).contains("Rejected by alice"))
    })
    .await;

    // The same submission delivered again changes nothing, and is answered as the first time.
    let again = bot.send(&submit, false).await;
    assert_eq!(again["type"], 7, "{again}");
    assert_eq!(card_text(&again["data"]), closed);
    let (_, view) = bot.api(reqwest::Method::GET, &format!("/api/v1/releases/{id}"), CI_TOKEN, None).await;
    assert_eq!(view["current_step"]["attempt"], 2, "{view}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let step1_cards = bot
        .fake
        .messages(&thread)
        .into_iter()
        .filter(|m| m["content"].as_str().is_some_and(|c| c.starts_with("Step 1 —")))
        .count();
    assert_eq!(step1_cards, 2, "no third Step 1 card");
    bot.fake.assert_no_violations();
}

/// The stall pings in a thread.
fn pings(fake: &FakeDiscord, thread: &str) -> Vec<Value> {
    fake.messages(thread)
        .into_iter()
        .filter(|m| m["content"].as_str().is_some_and(|c| c.contains("has had no activity")))
        .collect()
}

#[tokio::test]
async fn a_stalled_step_pings_its_owners_once_even_with_a_second_instance() {
    let bot = Bot::start().await;
    let (thread, id) = bot.start_release().await;

    // A second instance on the same database (no Discord of its own: it only records),
    // sweeping with the same clock: the notice is still recorded, and posted, once.
    let mut second = bot.config.clone();
    second.discord = None;
    let other = shipgate::runtime::build_with(&second, bot.clock.clone(), SWEEP).await.expect("a second instance");

    bot.clock.advance(chrono::Duration::minutes(119));
    tokio::time::sleep(SWEEP * 8).await;
    assert!(pings(&bot.fake, &thread).is_empty(), "not past the two-hour limit yet");

    bot.clock.advance(chrono::Duration::minutes(2));
    let ping = bot.eventually("the stall ping", |fake| pings(fake, &thread).into_iter().next()).await;
    let text = ping["content"].as_str().unwrap_or_default();
    assert!(text.contains(&format!("<@&{MANAGER_ROLE}>")) && text.contains(&format!("<@&{ENGINEER_ROLE}>")), "{text}");
    assert!(text.contains("Step 1 — Pre-Flight Checks"), "{text}");
    // The card says so too.
    let card_id = bot.card(&thread, "Step 1 —", 1).await["id"].as_str().expect("id").to_owned();
    bot.eventually("the stalled banner on the card", |fake| {
        fake.message(&thread, &card_id).filter(|m| card_text(m).contains("its owners were pinged"))
    })
    .await;

    // More rounds of both timers, and more quiet time: still one ping, one event.
    bot.clock.advance(chrono::Duration::hours(3));
    tokio::time::sleep(SWEEP * 12).await;
    assert_eq!(pings(&bot.fake, &thread).len(), 1);
    let release = ReleaseId::new(id.clone());
    let (_, history) = other.state.app.release_with_history(&release).await.expect("history").expect("the release");
    let noticed = history.iter().filter(|r| matches!(r.event, Event::StallNoticed { .. })).count();
    assert_eq!(noticed, 1);

    // `/release list` marks it stalled.
    let list = bot.fake.command_interaction(
        RELEASE_CHANNEL,
        "release",
        json!([{"name": "list", "type": 1, "options": []}]),
        &alice(),
    );
    let answer = bot.interact(&list).await;
    let listed = answer["data"]["content"].as_str().unwrap_or_default().to_owned();
    assert!(listed.contains("⏳ stalled") && listed.contains(&id), "{listed}");

    // Someone acts: no longer stalled.
    bot.tick_all(&id).await;
    let answer = bot
        .interact(&bot.fake.command_interaction(
            RELEASE_CHANNEL,
            "release",
            json!([{"name": "list", "type": 1, "options": []}]),
            &alice(),
        ))
        .await;
    let listed = answer["data"]["content"].as_str().unwrap_or_default();
    assert!(!listed.contains("⏳ stalled"), "{listed}");
    other.stop().await;
    bot.fake.assert_no_violations();
}

#[tokio::test]
async fn a_production_approval_names_its_artifact_and_another_needs_a_new_approval() {
    let bot = Bot::start().await;
    let (thread, id) = bot.start_release().await;
    let artifact =
        |digest: &str| json!({"version": "2.7.0", "git_sha": "3f9c2e1", "digest": digest, "size_bytes": 73400320});
    let deploy = |environment: &str, digest: &str| json!({"environment": environment, "digest": digest, "outcome": "succeeded", "health": "passed", "strategy": "rolling"});

    bot.tick_all(&id).await;
    bot.post(&format!("/api/v1/releases/{id}/steps/pre-flight/approve"), RM_TOKEN, json!({})).await;
    bot.post(
        &format!("/api/v1/releases/{id}/test-results"),
        CI_TOKEN,
        json!({"suite": "unit", "passed": 420, "failed": 0}),
    )
    .await;
    bot.post(&format!("/api/v1/releases/{id}/artifacts"), CI_TOKEN, artifact(DIGEST)).await;
    bot.tick_all(&id).await;
    bot.tick_all(&id).await;
    bot.post(&format!("/api/v1/releases/{id}/deployments"), CI_TOKEN, deploy("staging", DIGEST)).await;
    bot.tick_all(&id).await;

    // Bob approves the gate into production on the card: it names the artifact approved.
    let smoke = bot.card(&thread, "Step 5 —", 1).await;
    let smoke = bot
        .eventually("the smoke card with every box ticked", |fake| {
            fake.message(&thread, smoke["id"].as_str().unwrap_or_default())
                .filter(|m| buttons(m).iter().any(|b| b["style"] == 1 && b["disabled"] == false))
        })
        .await;
    let approved = bot.approve(&thread, &smoke, &bob()).await;
    assert_eq!(approved["type"], 7, "{approved}");
    let short = &DIGEST["sha256:".len().."sha256:".len() + 12];
    assert!(
        card_text(&approved["data"]).contains(&format!("for artifact `{short}`")),
        "{}",
        card_text(&approved["data"])
    );
    assert_eq!(bot.current_step(&id).await, "deploy-production");

    // A rebuilt artifact has no approval: recording it and deploying it are refused, and
    // nothing changes.
    let (status, refused) = bot
        .api(reqwest::Method::POST, &format!("/api/v1/releases/{id}/artifacts"), CI_TOKEN, Some(artifact(REBUILT)))
        .await;
    assert_eq!((status, refused["code"].as_str()), (409, Some("not_current_step")), "{refused}");
    let (status, refused) = bot
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/releases/{id}/deployments"),
            CI_TOKEN,
            Some(deploy("production", REBUILT)),
        )
        .await;
    assert_eq!((status, refused["code"].as_str()), (409, Some("wrong_artifact")), "{refused}");
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(message.contains("approved for production by bob") && message.contains("new approval"), "{message}");

    // Bob rejects the production step: nothing reached production, so the release goes
    // back to staging, and the approval goes with the attempt.
    let production = bot.card(&thread, "Step 6 —", 1).await;
    let (_, answer) = bot.reject(&thread, &production, &bob(), "hold this build: the fix is in the next one").await;
    assert_eq!(answer["type"], 7, "{answer}");
    assert_eq!(bot.current_step(&id).await, "deploy-staging");
    let (status, refused) = bot
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/releases/{id}/deployments"),
            CI_TOKEN,
            Some(deploy("production", DIGEST)),
        )
        .await;
    assert_eq!((status, refused["code"].as_str()), (409, Some("not_current_step")), "until approved again: {refused}");

    // Through staging and the smoke test again, and a new approval: then it deploys.
    bot.tick_all(&id).await;
    bot.post(&format!("/api/v1/releases/{id}/deployments"), CI_TOKEN, deploy("staging", DIGEST)).await;
    bot.tick_all(&id).await;
    let smoke = bot.card(&thread, "Step 5 —", 2).await;
    let smoke = bot
        .eventually("the second smoke card with every box ticked", |fake| {
            fake.message(&thread, smoke["id"].as_str().unwrap_or_default())
                .filter(|m| buttons(m).iter().any(|b| b["style"] == 1 && b["disabled"] == false))
        })
        .await;
    assert_eq!(bot.approve(&thread, &smoke, &bob()).await["type"], 7);
    let answer = bot.post(&format!("/api/v1/releases/{id}/deployments"), CI_TOKEN, deploy("production", DIGEST)).await;
    assert_eq!(answer["release"]["current_step"]["id"], "monitor", "{answer}");
    bot.fake.assert_no_violations();
}
