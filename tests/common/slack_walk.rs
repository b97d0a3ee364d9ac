//! A release worked from Slack, for the end-to-end tests: shipgate in-process as
//! `slack_app` builds it, but on a clock the test moves (a 15-minute watch passes at once,
//! and requests are signed with shipgate's own time); Slack users and user groups mapped
//! to the playbook's roles; CI on the API; and what a person does in Slack: a slash
//! command, a click on a card's button, a form opened from a card and sent.
#![allow(dead_code)]

use crate::common::fake_slack::{signed_headers, BlockActions, FakeSlack, OpenedView, SlackMessage, SlackUser};
use crate::common::slack_app::{config_text, Options, SlackApp, INCIDENTS, RELEASES};
#[allow(unused_imports)]
pub use crate::common::walk_clock::{TestClock, STEPS};
use serde_json::{json, Value};
use shipgate::app::clock::Clock;
use shipgate::config::Config;
use shipgate::domain::release::Release;
use shipgate::domain::ReleaseId;
use shipgate::store::ReleaseFilter;
use std::sync::Arc;
use std::time::Duration;

/// Releases started from this channel use a team calendar that is always frozen.
pub const FROZEN: &str = "C0FROZEN001";
/// The user group of release managers, and the one of engineers.
pub const MANAGERS: &str = "S0RELMGRS01";
pub const ENGINEERS: &str = "S0ENGINEER1";

pub const CI_TOKEN: &str = "slack-ci-token-0123456789abcdef";
pub const RM_TOKEN: &str = "slack-rm-token-0123456789abcdef";
pub const DIGEST: &str = "sha256:4f1c9a7e2b3d5f60718293a4b5c6d7e8f9012a3b4c5d6e7f8091a2b3c4d5e6f7";
/// What production ran before: the artifact a rollback goes back to.
pub const OLD_DIGEST: &str = "sha256:9e2d41b07c5a3f6e8d9c0b1a2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9a0f1e";

/// An engineer, mapped by her own user id; she starts the releases.
pub fn alice() -> SlackUser {
    SlackUser::new("U0ALICE0001", "alice")
}

/// A release manager, through the managers' user group.
pub fn bob() -> SlackUser {
    SlackUser::new("U0BOB000001", "bob")
}

/// An engineer, through the engineers' user group.
pub fn carol() -> SlackUser {
    SlackUser::new("U0CAROL0001", "carol")
}

/// Another release manager, through the managers' user group.
pub fn dave() -> SlackUser {
    SlackUser::new("U0DAVE00001", "dave")
}

/// In the workspace, in no mapped user or group: holds no role.
pub fn mallory() -> SlackUser {
    SlackUser::new("U0MALLORY01", "mallory")
}

/// The configuration every walk shares: the role mapping, CI's API clients, and a team
/// whose channel is always frozen (the rest of the workspace never is).
fn shared_config() -> String {
    format!(
        r#"
[slack.roles]
release-manager = ["{MANAGERS}"]
engineer = ["{alice}", "{ENGINEERS}"]

[[api.clients]]
name = "ci"
token_env = "TEST_SLACK_CI_TOKEN"
roles = ["engineer"]

[[api.clients]]
name = "release-bot"
token_env = "TEST_SLACK_RM_TOKEN"
roles = ["release-manager", "engineer"]

[freeze]
timezone = "UTC"

[[freeze.teams]]
name = "Always frozen"
channels = ["{FROZEN}"]
timezone = "UTC"
windows = [{{ name = "Code freeze", from = "2020-01-01 00:00", to = "2099-01-01 00:00" }}]
"#,
        alice = alice().id,
    )
}

/// A release as the tests follow it: its id and its parent message (the thread).
#[derive(Debug, Clone)]
pub struct Started {
    pub id: String,
    pub parent_ts: String,
}

/// A message as a refusal must leave it: channel, ts, how many versions, text, blocks,
/// deleted.
type MessageSeen = (String, String, usize, Option<String>, Option<Value>, bool);

/// A snapshot of everything a refusal must leave as it was: every release's stored
/// events, every message in every channel with each of its versions, the modals opened.
#[derive(Debug, PartialEq)]
pub struct Seen {
    releases: Vec<(String, u64)>,
    messages: Vec<MessageSeen>,
    views: usize,
}

pub struct Walk {
    pub app: SlackApp,
    pub clock: Arc<TestClock>,
}

impl Walk {
    /// shipgate in HTTP mode with the shared configuration and `extra` after it.
    pub async fn start(extra: &str) -> Walk {
        let fake = FakeSlack::start().await;
        for channel in [RELEASES, INCIDENTS, FROZEN] {
            fake.add_channel(channel);
        }
        fake.set_usergroup(MANAGERS, &[&bob().id, &dave().id]);
        fake.set_usergroup(ENGINEERS, &[&carol().id]);
        let options = Options { extra_config: format!("{}{extra}", shared_config()), ..Options::default() };
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("shipgate.toml");
        std::fs::write(&path, config_text(&fake, dir.path(), &options)).expect("write config");
        let env = vec![
            ("SHIPGATE_SLACK_BOT_TOKEN", fake.bot_token().to_owned()),
            ("SHIPGATE_SLACK_SIGNING_SECRET", fake.signing_secret().to_owned()),
            ("TEST_SLACK_CI_TOKEN", CI_TOKEN.to_owned()),
            ("TEST_SLACK_RM_TOKEN", RM_TOKEN.to_owned()),
        ];
        let config = Config::load_with_env(Some(&path), env).expect("config loads");
        let clock = Arc::new(TestClock::default());
        let running =
            shipgate::runtime::build_with(&config, clock.clone(), Duration::from_millis(200)).await.expect("builds");
        let router = shipgate::http::router(running.state.clone(), config.server.max_body_bytes);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        let app = SlackApp { fake, url, http: reqwest::Client::new(), running, dir };
        Walk { app, clock }
    }

    pub fn fake(&self) -> &FakeSlack {
        &self.app.fake
    }

    pub fn engine(&self) -> &shipgate::app::App {
        &self.app.running.state.app
    }

    // ------------------------------------------------------------------------------------
    // What Slack sends
    // ------------------------------------------------------------------------------------

    /// Posts a form body to `path`, signed as Slack signs it, stamped with shipgate's time.
    pub async fn post(&self, path: &str, body: &str) -> reqwest::Response {
        let mut request = self.app.http.post(format!("{}{path}", self.app.url)).body(body.to_owned());
        request = request.header("content-type", "application/x-www-form-urlencoded");
        let headers = signed_headers(self.fake().signing_secret(), self.clock.now().timestamp(), body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send().await.expect("shipgate answers")
    }

    /// Runs a slash command; returns the command as sent and shipgate's answer.
    pub async fn command_sent(
        &self,
        channel: &str,
        user: &SlackUser,
        command: &str,
        text: &str,
    ) -> (crate::common::fake_slack::SlashCommand, Value) {
        let sent = self.fake().slash_command(channel, user, command, text);
        let answer = self.post("/slack/commands", &sent.to_form()).await;
        assert_eq!(answer.status(), 200, "{command} {text}");
        let body = answer.text().await.expect("the answer's body");
        let body = if body.is_empty() { Value::Null } else { serde_json::from_str(&body).expect("a JSON answer") };
        (sent, body)
    }

    /// Runs a slash command; returns shipgate's answer.
    pub async fn command(&self, channel: &str, user: &SlackUser, command: &str, text: &str) -> Value {
        self.command_sent(channel, user, command, text).await.1
    }

    /// `user` runs `/release start <args>` in `channel`: waits for the parent message, the
    /// first card and the answer's link to the thread.
    pub async fn start_release(&self, channel: &str, user: &SlackUser, args: &str) -> Started {
        let mut words = args.split_whitespace();
        let (service, version) = (words.next().expect("a service"), words.next().expect("a version"));
        let (sent, answer) = self.command_sent(channel, user, "/release", &format!("start {args}")).await;
        assert_eq!(answer["response_type"], "in_channel", "everyone sees a release start: {answer:#}");
        let said = answer["text"].as_str().unwrap_or_default();
        assert!(said.contains(&format!("*{service} {version}* started by {}", user.name)), "{answer:#}");
        let parent = self
            .until(&format!("the parent message of {service} {version}"), |fake| {
                fake.messages_in(RELEASES)
                    .into_iter()
                    .find(|m| m.thread_ts.is_none() && text_of(m).contains(&format!("🚀 *{service} {version}*")))
            })
            .await;
        let first = self
            .until("the first card in the thread", |fake| {
                fake.thread(RELEASES, &parent.ts).into_iter().find(|m| !action_ids_of(m).is_empty())
            })
            .await;
        let id = action_ids_of(&first)[0].split(':').nth(1).expect("the release in a button's id").to_owned();
        // The answer is completed with the thread's link once the thread exists.
        let link = self
            .until("the start answer's link to the thread", |fake| {
                fake.response_url_posts(&sent.response_url).into_iter().next()
            })
            .await;
        let link_text = link.body["text"].as_str().unwrap_or_default();
        let archive = format!("https://slack.com/archives/{RELEASES}/p{}", parent.ts.replace('.', ""));
        assert!(link_text.contains(&format!("<{archive}|its thread>")), "{:#}", link.body);
        Started { id, parent_ts: parent.ts }
    }

    /// `user` clicks `action_id` on the message as it stands; returns the click as sent.
    pub async fn click(&self, message: &SlackMessage, action_id: &str, user: &SlackUser) -> BlockActions {
        let click = self.fake().click(&message.channel, &message.ts, action_id, user);
        self.deliver(&click).await;
        click
    }

    /// Delivers a click (again, or one built from an earlier look at the card).
    pub async fn deliver(&self, click: &BlockActions) {
        let answer = self.post("/slack/interactivity", &click.to_form()).await;
        assert_eq!(answer.status(), 200);
        let body = answer.text().await.expect("the answer's body");
        assert!(body.is_empty(), "a click is acknowledged empty and answered through response_url: {body}");
    }

    /// The `n`th (0-based) answer shipgate posted to a click's response_url.
    pub async fn answer(&self, click: &BlockActions, n: usize) -> Value {
        let url = click.response_url.clone();
        self.until(&format!("answer {n} to the click on {}", click.actions[0].action_id), |fake| {
            fake.response_url_posts(&url).get(n).map(|post| post.body.clone())
        })
        .await
    }

    /// Clicks and returns shipgate's answer; a card answer replaces the clicked message.
    pub async fn click_answer(&self, message: &SlackMessage, action_id: &str, user: &SlackUser) -> Value {
        let click = self.click(message, action_id, user).await;
        self.answer(&click, 0).await
    }

    /// A click that moves the card: the answer replaces the clicked message with it.
    pub async fn click_card(&self, message: &SlackMessage, action_id: &str, user: &SlackUser) -> SlackMessage {
        let answer = self.click_answer(message, action_id, user).await;
        assert_eq!(answer["replace_original"], true, "the clicked card is replaced: {answer:#}");
        // A click that closes its card also leaves the outbox the card's closing edit: the
        // same card, marked, which may land before or after the answer.
        let now = self.fake().message(&message.channel, &message.ts).expect("the card");
        assert_eq!(unmarked(now.blocks.as_ref()), unmarked(answer.get("blocks")), "the card shows the answer");
        now
    }

    /// Ticks every unticked item of `card`, one click each, as `user`; returns the card.
    pub async fn tick_all(&self, card: &SlackMessage, user: &SlackUser) -> SlackMessage {
        let items: Vec<String> = action_ids_of(card).into_iter().filter(|id| element_of(id).starts_with('i')).collect();
        assert!(!items.is_empty(), "a card with boxes to tick: {}", text_of(card));
        let mut latest = card.clone();
        for item in &items {
            latest = self.click_card(&latest, item, user).await;
        }
        for item in &items {
            let untick = item.replace(":i", ":u");
            assert!(action_ids_of(&latest).contains(&untick) || action_ids_of(&latest).is_empty(), "{latest:#?}");
        }
        latest
    }

    /// Clicks a button that opens a form: shipgate opens it with the click's trigger_id.
    pub async fn open_form(&self, message: &SlackMessage, action_id: &str, user: &SlackUser) -> OpenedView {
        let click = self.click(message, action_id, user).await;
        let trigger = click.trigger_id.clone();
        let view = self
            .until("the form opened with the click's trigger_id", |fake| {
                fake.views().into_iter().find(|v| v.trigger_id == trigger)
            })
            .await;
        assert_eq!(view.user, user.id, "the form opens for the person who clicked");
        assert!(self.fake().response_url_posts(&click.response_url).is_empty(), "a form is the whole answer");
        view
    }

    /// Sends the form with `values` (by input id); inputs not given keep their initial
    /// value, as Slack sends them. Returns shipgate's answer (`Null`: the modal closes).
    pub async fn submit(&self, view: &OpenedView, user: &SlackUser, values: &[(&str, &str)]) -> Value {
        let mut all: Vec<(String, String)> = values.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        for block in view.view["blocks"].as_array().into_iter().flatten() {
            let element = &block["element"];
            if let (Some(id), Some(initial)) = (element["action_id"].as_str(), element["initial_value"].as_str()) {
                if !values.iter().any(|(k, _)| *k == id) {
                    all.push((id.to_owned(), initial.to_owned()));
                }
            }
        }
        let borrowed: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let submission = self.fake().view_submission(&view.id, user, &borrowed);
        let answer = self.post("/slack/interactivity", &submission.to_form()).await;
        assert_eq!(answer.status(), 200);
        let body = answer.text().await.expect("the answer's body");
        if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&body).expect("a JSON answer")
        }
    }

    // ------------------------------------------------------------------------------------
    // What shipgate posted
    // ------------------------------------------------------------------------------------

    /// Polls the fake Slack until `check` finds what it looks for (15 s at most).
    pub async fn until<T>(&self, what: &str, mut check: impl FnMut(&FakeSlack) -> Option<T>) -> T {
        for _ in 0..300 {
            if let Some(found) = check(self.fake()) {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{what} did not happen; Slack saw {:#?}",
            self.fake().requests().iter().map(|r| &r.method).collect::<Vec<_>>()
        );
    }

    /// The card of `step` at `attempt` in the release's thread, once it is there.
    pub async fn card(&self, started: &Started, step: &str, attempt: u32) -> SlackMessage {
        let marker = format!("release {} · {step} · attempt {attempt}", started.id);
        self.until(&format!("the card of {step}, attempt {attempt}"), |fake| {
            fake.thread(RELEASES, &started.parent_ts).into_iter().find(|m| text_of(m).contains(&marker))
        })
        .await
    }

    /// The card at `card`'s ts once `check` holds for it.
    pub async fn card_becomes(
        &self,
        card: &SlackMessage,
        what: &str,
        check: impl Fn(&SlackMessage) -> bool,
    ) -> SlackMessage {
        self.until(what, |fake| fake.message(&card.channel, &card.ts).filter(|m| check(m))).await
    }

    /// The step cards in the thread, in order: (step id, attempt).
    pub fn cards(&self, started: &Started) -> Vec<(String, u32)> {
        self.fake().thread(RELEASES, &started.parent_ts).iter().filter_map(|m| step_of(m, &started.id)).collect()
    }

    /// Waits until the outbox has delivered everything queued.
    pub async fn settled(&self) {
        for _ in 0..300 {
            let (waiting, _) = self.engine().store().outbox_backlog().await.expect("the outbox backlog");
            if waiting == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the outbox still holds undelivered messages after 15 s");
    }

    /// Everything a refusal must leave unchanged, once the outbox is idle.
    pub async fn seen(&self) -> Seen {
        self.settled().await;
        let all = ReleaseFilter { limit: Some(500), ..ReleaseFilter::default() };
        let mut releases: Vec<(String, u64)> = self
            .engine()
            .list(&all)
            .await
            .expect("the releases")
            .into_iter()
            .map(|r| (r.id.as_str().to_owned(), r.seq))
            .collect();
        releases.sort();
        let messages = self
            .fake()
            .all_messages()
            .into_iter()
            .map(|m| (m.channel, m.ts, m.versions.len(), m.text, m.blocks, m.deleted))
            .collect();
        Seen { releases, messages, views: self.fake().views().len() }
    }

    /// Delivers `click`, which must be refused: the answer is an ephemeral reply to the
    /// clicker through the click's response_url, and nothing else changes. Returns its text.
    pub async fn refused_click(&self, click: &BlockActions) -> String {
        let before = self.seen().await;
        let posts = self.fake().response_url_posts(&click.response_url).len();
        let ephemerals = self.fake().ephemerals_for(&click.channel_id, &click.user.id).len();
        self.deliver(click).await;
        let answer = self.answer(click, posts).await;
        assert_eq!(answer["response_type"], "ephemeral", "a refusal is for the clicker only: {answer:#}");
        assert_eq!(answer["replace_original"], false, "a refusal leaves the card as it was: {answer:#}");
        assert!(answer.get("blocks").is_none(), "{answer:#}");
        let sent = answer["text"].as_str().expect("the refusal's words").to_owned();
        let shown = self.fake().ephemerals_for(&click.channel_id, &click.user.id);
        assert_eq!(shown.len(), ephemerals + 1, "shown to the clicker once: {sent}");
        assert_eq!(shown.last().and_then(|e| e.text.clone()).as_deref(), Some(sent.as_str()));
        assert_eq!(self.seen().await, before, "a refused click changes nothing: {sent}");
        as_read(&sent)
    }

    /// `user` clicks `action_id` on the card as it stands, and is refused.
    pub async fn refused_click_on(&self, card: &SlackMessage, action_id: &str, user: &SlackUser) -> String {
        let click = self.fake().click(&card.channel, &card.ts, action_id, user);
        self.refused_click(&click).await
    }

    /// A slash command that must be refused: answered ephemerally on the request itself,
    /// and nothing changes. Returns the answer's text.
    pub async fn refused_command(&self, channel: &str, user: &SlackUser, command: &str, text: &str) -> String {
        let before = self.seen().await;
        let (sent, answer) = self.command_sent(channel, user, command, text).await;
        assert_eq!(answer["response_type"], "ephemeral", "{command} {text} is answered to its sender only: {answer:#}");
        let said = as_read(answer["text"].as_str().expect("the refusal's words"));
        assert!(answer.get("blocks").is_none(), "{answer:#}");
        // Long enough for a thread link or a late answer to have been posted, were one due.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(self.fake().response_url_posts(&sent.response_url).is_empty(), "nothing follows a refusal: {said}");
        assert_eq!(self.seen().await, before, "{command} {text} changes nothing: {said}");
        said
    }

    /// A form submission that must be refused: the modal stays open with the reason on
    /// one field, and nothing changes. Returns (the field, the reason).
    pub async fn refused_submission(
        &self,
        view: &OpenedView,
        user: &SlackUser,
        values: &[(&str, &str)],
    ) -> (String, String) {
        let before = self.seen().await;
        let answer = self.submit(view, user, values).await;
        assert_eq!(answer["response_action"], "errors", "the modal stays open with the reason: {answer:#}");
        let errors = answer["errors"].as_object().expect("errors by input");
        assert_eq!(errors.len(), 1, "{answer:#}");
        let (field, reason) = errors.iter().next().expect("one error");
        let inputs: Vec<&str> = view.view["blocks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|b| b["type"] == "input")
            .filter_map(|b| b["block_id"].as_str())
            .collect();
        assert!(inputs.contains(&field.as_str()), "the error names one of the form's inputs {inputs:?}: {field}");
        assert_eq!(self.seen().await, before, "a refused form changes nothing: {reason}");
        (field.clone(), reason.as_str().unwrap_or_default().to_owned())
    }

    // ------------------------------------------------------------------------------------
    // The engine and the API
    // ------------------------------------------------------------------------------------

    pub async fn release(&self, id: &str) -> Release {
        self.engine().release_with_history(&ReleaseId::new(id)).await.expect("read").expect("the release").0
    }

    pub async fn history_len(&self, id: &str) -> usize {
        self.engine().release_with_history(&ReleaseId::new(id)).await.expect("read").expect("the release").1.len()
    }

    pub async fn current_step(&self, id: &str) -> String {
        self.release(id).await.current_step().id.as_str().to_owned()
    }

    pub async fn api(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/api/v1{path}", self.app.url);
        let mut request = match method {
            "GET" => self.app.http.get(url),
            _ => self.app.http.post(url),
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
        let (status, answer) = self.api("POST", path, token, body).await;
        assert!((200..300).contains(&status), "POST {path}: {status} {answer:#}");
        answer
    }

    /// CI ticks every box of the release's current step.
    pub async fn api_tick_all(&self, id: &str) {
        let release = self.release(id).await;
        let step = release.current_step().clone();
        let state = &release.steps[release.current];
        for item in &step.items {
            if state.ticked.contains_key(&item.id) {
                continue;
            }
            self.api_ok(&format!("/releases/{id}/steps/{}/items/{}/tick", step.id, item.id), CI_TOKEN, None).await;
        }
    }

    /// CI and the release bot take the release from Step 1 to Step 5 with every smoke
    /// box ticked: only the gate into production is left, for a person in Slack.
    pub async fn api_to_smoke_gate(&self, id: &str, version: &str) {
        self.api_to_smoke_gate_with(id, version, DIGEST).await;
    }

    /// [`Walk::api_to_smoke_gate`] with the artifact `digest`.
    pub async fn api_to_smoke_gate_with(&self, id: &str, version: &str, digest: &str) {
        self.api_tick_all(id).await;
        self.api_ok(&format!("/releases/{id}/steps/pre-flight/approve"), RM_TOKEN, None).await;
        let tests = json!({"suite": "unit", "passed": 420, "failed": 0});
        self.api_ok(&format!("/releases/{id}/test-results"), CI_TOKEN, Some(tests)).await;
        let artifact = json!({"version": version, "git_sha": "3f9c2e1", "digest": digest, "size_bytes": 73400320});
        self.api_ok(&format!("/releases/{id}/artifacts"), CI_TOKEN, Some(artifact)).await;
        self.api_tick_all(id).await;
        self.api_tick_all(id).await;
        let staging = json!({"environment": "staging", "digest": digest, "outcome": "succeeded", "health": "passed"});
        self.api_ok(&format!("/releases/{id}/deployments"), CI_TOKEN, Some(staging)).await;
        self.api_tick_all(id).await;
        assert_eq!(self.current_step(id).await, "smoke-test");
    }
}

// ----------------------------------------------------------------------------------------
// Reading a card
// ----------------------------------------------------------------------------------------

/// A message's blocks without the marker the outbox gives the first one (`sg-…`), for
/// comparing what two posts of one card show.
pub fn unmarked(blocks: Option<&Value>) -> Option<Value> {
    let mut blocks = blocks?.clone();
    if let Some(first) = blocks.get_mut(0).and_then(Value::as_object_mut) {
        if first.get("block_id").and_then(Value::as_str).is_some_and(|id| id.starts_with("sg-")) {
            first.remove("block_id");
        }
    }
    Some(blocks)
}

/// mrkdwn text as people read it: Slack shows its three escapes as the characters.
pub fn as_read(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// The words of a message's blocks: headers, sections and context lines (not button
/// labels), one block a line; its `text` when it has no blocks.
pub fn text_of(message: &SlackMessage) -> String {
    let Some(blocks) = message.blocks.as_ref().and_then(Value::as_array) else {
        return message.text.clone().unwrap_or_default();
    };
    blocks_text(blocks)
}

pub fn blocks_text(blocks: &[Value]) -> String {
    let mut lines = Vec::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("header" | "section") => lines.push(block["text"]["text"].as_str().unwrap_or_default().to_owned()),
            Some("context") => {
                for element in block["elements"].as_array().into_iter().flatten() {
                    lines.push(element["text"].as_str().unwrap_or_default().to_owned());
                }
            }
            _ => {}
        }
    }
    lines.join("\n")
}

/// Every button of a message (section accessories and `actions` elements), in order.
pub fn buttons(message: &SlackMessage) -> Vec<Value> {
    let mut out = Vec::new();
    for block in message.blocks.as_ref().and_then(Value::as_array).into_iter().flatten() {
        if block["accessory"]["type"] == "button" {
            out.push(block["accessory"].clone());
        }
        for element in block["elements"].as_array().into_iter().flatten() {
            if element["type"] == "button" {
                out.push(element.clone());
            }
        }
    }
    out
}

pub fn action_ids_of(message: &SlackMessage) -> Vec<String> {
    message.action_ids()
}

/// The element part of a shipgate button id (`i0`, `g`, `et`, `p1`, ...).
pub fn element_of(action_id: &str) -> &str {
    action_id.rsplit(':').next().unwrap_or_default()
}

/// The button whose id ends with `element`.
pub fn button(message: &SlackMessage, element: &str) -> Option<Value> {
    buttons(message).into_iter().find(|b| b["action_id"].as_str().is_some_and(|id| element_of(id) == element))
}

pub fn id_of(button: &Value) -> String {
    button["action_id"].as_str().expect("an action_id").to_owned()
}

/// The gate's button, while the gate can pass.
pub fn gate(message: &SlackMessage) -> Option<Value> {
    button(message, "g")
}

/// A card's (step id, attempt), from its last context line.
pub fn step_of(message: &SlackMessage, release: &str) -> Option<(String, u32)> {
    let text = text_of(message);
    let line = text.lines().find(|l| l.starts_with(&format!("release {release} · ")))?;
    let mut parts = line.split(" · ");
    parts.next()?;
    let step = parts.next()?.to_owned();
    let attempt = parts.next()?.strip_prefix("attempt ")?.parse().ok()?;
    Some((step, attempt))
}
