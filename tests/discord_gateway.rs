//! Discord in gateway mode, end to end: shipgate's runtime connects to the fake Discord's
//! gateway with a real serenity client (HELLO, IDENTIFY -> READY, heartbeats), receives
//! INTERACTION_CREATE, answers through `POST /interactions/{id}/{token}/callback`, and
//! delivers threads and cards over REST, every body checked against Discord's OpenAPI
//! document.

use crate::common;

use common::fake_discord::{FakeConfig, FakeDiscord, Fault, Member, Route};
use serde_json::{json, Value};
use shipgate::config::Config;
use shipgate::store::ReleaseFilter;
use std::time::Duration;

const RELEASE_CHANNEL: &str = "1300000000000000001";
const INCIDENT_CHANNEL: &str = "1400000000000000001";
const ENGINEER_ROLE: &str = "1600000000000000001";

struct Bot {
    fake: FakeDiscord,
    running: Option<shipgate::runtime::Running>,
    _dir: tempfile::TempDir,
}

impl Bot {
    /// shipgate in gateway mode against a fake that asks for a heartbeat every 100 ms, so
    /// that a test sees several without waiting.
    async fn start() -> Bot {
        let fake = FakeDiscord::start_with(FakeConfig { heartbeat_interval_ms: 100, ..FakeConfig::default() }).await;
        Self::start_against(fake).await
    }

    async fn start_against(fake: FakeDiscord) -> Bot {
        // shipgate's logs go to the test's output: a failure shows what shipgate said.
        let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter("shipgate=debug").try_init();
        fake.add_text_channel(RELEASE_CHANNEL);
        fake.add_text_channel(INCIDENT_CHANNEL);
        let dir = tempfile::tempdir().expect("temp dir");
        // No public_key: gateway mode needs no public URL, so nothing signs requests to it.
        let config_text = format!(
            r#"
[database]
url = "sqlite://{db}"

[discord]
mode = "gateway"
application_id = "{app}"
guild_id = "{guild}"
release_channel_id = "{RELEASE_CHANNEL}"
incident_channel_ids = ["{INCIDENT_CHANNEL}"]
api_base = "{base}"

[discord.roles]
release-manager = ["{ENGINEER_ROLE}"]
engineer = ["{ENGINEER_ROLE}"]
"#,
            db = dir.path().join("shipgate.db").display(),
            app = fake.application_id(),
            guild = fake.guild_id(),
            base = fake.api_base(),
        );
        let path = dir.path().join("shipgate.toml");
        std::fs::write(&path, config_text).expect("write config");
        let env = [("SHIPGATE_DISCORD_TOKEN", fake.token().to_owned())];
        let config = Config::load_with_env(Some(&path), env).expect("config loads");
        let running = shipgate::runtime::build(&config).await.expect("shipgate builds in gateway mode");
        Bot { fake, running: Some(running), _dir: dir }
    }

    /// Sends INTERACTION_CREATE. A payload serenity's model cannot read would reach
    /// shipgate only through its raw-JSON fallback, so the fixture is checked first: these
    /// tests exercise the path real Discord payloads take.
    fn dispatch(&self, interaction: &Value) {
        if let Err(e) = serde_json::from_value::<serenity::all::Interaction>(interaction.clone()) {
            panic!("the fixture does not fit serenity's model: {e}\n{interaction:#}");
        }
        self.fake.dispatch_interaction(interaction.clone());
    }

    /// The callback shipgate posted for an interaction (waits for it).
    async fn answer_to(&self, interaction: &Value) -> Value {
        let id = interaction["id"].as_str().expect("id").to_owned();
        self.eventually("the interaction's callback", |fake| fake.interaction_callbacks(&id).into_iter().next()).await
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

    /// The release's recorded history, read from shipgate's store.
    async fn history_len(&self) -> usize {
        let app = &self.running.as_ref().expect("running").state.app;
        let releases = app.list(&ReleaseFilter::default()).await.expect("list releases");
        assert_eq!(releases.len(), 1, "one release");
        let (_, history) = app.release_with_history(&releases[0].id).await.expect("read").expect("the release");
        history.len()
    }

    /// Stops shipgate as `serve` does on SIGTERM; the gateway session must close.
    async fn stop(&mut self) {
        let running = self.running.take().expect("running");
        tokio::time::timeout(Duration::from_secs(10), running.stop()).await.expect("shipgate stops within 10 s");
        self.eventually("the gateway session to close", |fake| (fake.gateway_sessions() == 0).then_some(())).await;
    }
}

fn alice() -> Member {
    Member::new("1700000000000000001", "alice", &[ENGINEER_ROLE])
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

fn ticked(message: &Value) -> usize {
    buttons(message).iter().filter(|b| b["style"] == 3).count()
}

#[tokio::test]
async fn the_bot_identifies_without_privileged_intents_and_keeps_its_session_alive() {
    let mut bot = Bot::start().await;
    bot.fake.wait_identified().await;
    let identify = &bot.fake.gateway_identifies()[0];
    assert!(identify["d"]["token"].as_str().expect("token").ends_with(bot.fake.token()), "{identify}");
    assert_eq!(identify["d"]["intents"], 0, "interactions need no intent: {identify}");
    // Heartbeats every 100 ms, each acknowledged: the session holds, with no new IDENTIFY.
    bot.eventually("several heartbeats", |fake| (fake.gateway_heartbeats() >= 3).then_some(())).await;
    assert_eq!(bot.fake.gateway_identifies().len(), 1, "the session was never restarted");
    assert_eq!(bot.fake.gateway_sessions(), 1);
    // The gateway URL came from the fake, never Discord's public one.
    assert!(!bot.fake.requests_to(Route::GetGateway).is_empty());
    bot.stop().await;
    bot.fake.assert_no_violations();
}

#[tokio::test]
async fn a_release_is_started_and_worked_through_the_gateway() {
    let mut bot = Bot::start().await;
    bot.fake.wait_identified().await;

    let start = bot.fake.command_interaction(
        RELEASE_CHANNEL,
        "release",
        json!([{"name": "start", "type": 1, "options": [
            {"name": "service", "type": 3, "value": "checkout"},
            {"name": "version", "type": 3, "value": "2.7.0"},
            {"name": "sha", "type": 3, "value": "3f9c2e1"}
        ]}]),
        &alice(),
    );
    bot.dispatch(&start);
    let answer = bot.answer_to(&start).await;
    assert_eq!(answer["type"], 5, "the start is deferred and completed with the thread's link: {answer}");

    let thread = bot
        .eventually("the release thread", |fake| {
            fake.threads().first().and_then(|t| t["id"].as_str().map(str::to_owned))
        })
        .await;
    let card = bot
        .eventually("the first card", |fake| fake.messages(&thread).into_iter().find(|m| !buttons(m).is_empty()))
        .await;
    assert!(card["content"].as_str().expect("content").starts_with("Step 1 — Pre-Flight Checks"), "{card}");
    let start_id = start["id"].as_str().expect("id").to_owned();
    bot.eventually("the reply's link to the thread", |fake| {
        fake.interaction_webhooks(&start_id)
            .into_iter()
            .find(|(_, body)| body["content"].as_str().is_some_and(|c| c.contains(&format!("<#{thread}>"))))
    })
    .await;

    // A tick is answered with the card updated in place, the item turned green.
    let card_id = card["id"].as_str().expect("id").to_owned();
    let items: Vec<String> = buttons(&card)
        .iter()
        .filter(|b| b["style"] == 2)
        .filter_map(|b| b["custom_id"].as_str().map(str::to_owned))
        .collect();
    assert!(items.len() >= 2, "{card}");
    let tick = bot.fake.button_interaction(&thread, &card_id, &items[0], &alice());
    bot.dispatch(&tick);
    let ticked_card = bot.answer_to(&tick).await;
    assert_eq!(ticked_card["type"], 7, "{ticked_card}");
    // Its button now unticks it: `…:i0` became `…:u0`.
    let (head, element) = items[0].rsplit_once(':').expect("a custom id");
    let untick = format!("{head}:u{}", element.trim_start_matches('i'));
    let first = buttons(&ticked_card["data"]).into_iter().find(|b| b["custom_id"] == untick.as_str());
    assert_eq!(first.expect("the ticked item's button")["style"], 3, "{ticked_card}");
    assert_eq!(ticked(&ticked_card["data"]), 1);

    // Someone without a role is told why, privately, and nothing changes.
    let history = bot.history_len().await;
    let refused_click = bot.fake.button_interaction(&thread, &card_id, &items[1], &mallory());
    bot.dispatch(&refused_click);
    let refused = bot.answer_to(&refused_click).await;
    assert_eq!((refused["type"].clone(), refused["data"]["flags"].clone()), (json!(4), json!(64)), "{refused}");
    assert_eq!(bot.history_len().await, history, "a refused click records nothing");

    // The same interaction delivered twice is applied once: the second answer shows the
    // card as the first left it, and the history does not grow.
    let second = bot.fake.button_interaction(&thread, &card_id, &items[1], &alice());
    bot.dispatch(&second);
    let once = bot.answer_to(&second).await;
    assert_eq!(ticked(&once["data"]), 2, "{once}");
    let history = bot.history_len().await;
    bot.dispatch(&second);
    let id = second["id"].as_str().expect("id").to_owned();
    let again = bot
        .eventually("the answer to the repeated delivery", |fake| fake.interaction_callbacks(&id).into_iter().next())
        .await;
    assert_eq!(again, once, "the repeat is answered with the card as the first delivery left it");
    let card_now = bot.fake.message(&thread, &card_id).expect("the card");
    assert_eq!(ticked(&card_now), 2, "the repeat unticked nothing: {card_now}");
    assert_eq!(bot.history_len().await, history, "the repeat recorded nothing");

    bot.stop().await;
    bot.fake.assert_no_violations();
}

#[tokio::test]
async fn a_gateway_that_cannot_be_reached_is_retried_while_shipgate_runs() {
    let fake = FakeDiscord::start_with(FakeConfig { heartbeat_interval_ms: 100, ..FakeConfig::default() }).await;
    fake.set_down(true);
    // Discord being down does not stop shipgate from starting.
    let mut bot = Bot::start_against(fake).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(bot.fake.gateway_sessions(), 0);
    bot.fake.set_down(false);
    bot.fake.wait_identified().await;
    bot.stop().await;
    bot.fake.assert_no_violations();
}

#[tokio::test]
async fn an_interaction_serenity_cannot_read_is_still_answered() {
    let mut bot = Bot::start().await;
    bot.fake.wait_identified().await;
    // Discord's payloads outgrow a pinned serenity: here, one without a field its model
    // requires. serenity passes it on only as an unknown event.
    let mut status = bot.fake.command_interaction(
        RELEASE_CHANNEL,
        "release",
        json!([{"name": "list", "type": 1, "options": []}]),
        &alice(),
    );
    status.as_object_mut().expect("an object").remove("attachment_size_limit");
    assert!(serde_json::from_value::<serenity::all::Interaction>(status.clone()).is_err(), "serenity cannot read it");
    bot.fake.dispatch_interaction(status.clone());
    let answer = bot.answer_to(&status).await;
    assert_eq!(answer["type"], 4, "answered from the raw JSON: {answer}");
    bot.stop().await;
    bot.fake.assert_no_violations();
}

#[tokio::test]
async fn an_answer_that_fails_on_the_way_is_sent_again_within_discords_deadline() {
    let mut bot = Bot::start().await;
    bot.fake.wait_identified().await;
    bot.fake.fail_next(Route::InteractionCallback, Fault::ServerError(502), 1);
    bot.fake.fail_next(Route::InteractionCallback, Fault::DropConnection, 1);
    let list = bot.fake.command_interaction(
        RELEASE_CHANNEL,
        "release",
        json!([{"name": "list", "type": 1, "options": []}]),
        &alice(),
    );
    bot.dispatch(&list);
    let answer = bot.answer_to(&list).await;
    assert_eq!(answer["type"], 4, "{answer}");
    let tries = bot.fake.requests_to(Route::InteractionCallback).len();
    assert_eq!(tries, 3, "a 502 and a dropped connection, then the answer");
    bot.stop().await;
    bot.fake.assert_no_violations();
}

#[tokio::test]
async fn a_start_whose_answer_was_lost_on_the_way_back_still_links_its_thread() {
    let mut bot = Bot::start().await;
    bot.fake.wait_identified().await;
    // Discord takes the answer, but the connection drops before it says so.
    bot.fake.fail_next(Route::InteractionCallback, Fault::DropResponse, 1);
    let start = bot.fake.command_interaction(
        RELEASE_CHANNEL,
        "release",
        json!([{"name": "start", "type": 1, "options": [
            {"name": "service", "type": 3, "value": "checkout"},
            {"name": "version", "type": 3, "value": "2.7.0"},
            {"name": "sha", "type": 3, "value": "3f9c2e1"}
        ]}]),
        &alice(),
    );
    bot.dispatch(&start);
    assert_eq!(bot.answer_to(&start).await["type"], 5);
    let thread = bot
        .eventually("the release thread", |fake| {
            fake.threads().first().and_then(|t| t["id"].as_str().map(str::to_owned))
        })
        .await;
    let start_id = start["id"].as_str().expect("id").to_owned();
    bot.eventually("the reply's link to the thread", |fake| {
        fake.interaction_webhooks(&start_id)
            .into_iter()
            .find(|(_, body)| body["content"].as_str().is_some_and(|c| c.contains(&format!("<#{thread}>"))))
    })
    .await;
    bot.stop().await;
    bot.fake.assert_no_violations();
}
