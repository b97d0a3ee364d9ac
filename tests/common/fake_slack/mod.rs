//! A stateful fake of Slack at the HTTP level, for testing shipgate's Slack adapter.
//!
//! One axum server on 127.0.0.1 serves:
//! - the Web API under `/api/<method>` (`api_base()`): chat.postMessage, chat.update,
//!   chat.postEphemeral, chat.getPermalink, conversations.history, conversations.replies,
//!   views.open, usergroups.users.list, auth.test, apps.connections.open,
//!   files.getUploadURLExternal and files.completeUploadExternal, with arguments in the query
//!   string, a form-encoded body or a JSON body, and the token in `Authorization: Bearer`;
//! - response URLs under `/response/<id>`, minted by the fake for the interactions it builds;
//! - upload URLs under `/upload/v1/<ticket>`, handed out by files.getUploadURLExternal
//!   (uploads.rs);
//! - Socket Mode at `/socket?ticket=..` (see socket.rs).
//!
//! Every Web API request is checked against Slack's OpenAPI document
//! (tests/contracts/slack/web-api-subset.json, contract.rs), or for the methods the document
//! predates against Slack's reference pages, and Block Kit's documented limits
//! (blockkit.rs). A request that breaks them gets Slack's answer (HTTP 200,
//! `{ok:false, error:"invalid_arguments"|"invalid_blocks", response_metadata:{messages}}`)
//! and is recorded as a [`Problem`]; `assert_no_problems` fails a test that broke the
//! contract. What the client could not have known (an expired trigger, a missing message, a
//! rate limit, an ordered fault) is answered as Slack does and is no problem.
//!
//! Messages, threads, edits, ephemerals, modals, user groups, response URLs and uploaded
//! files are kept in state (state.rs); shipgate reads messages back through
//! conversations.history and conversations.replies (newest first / parent first, cursor
//! pages, blocks and their `block_id`s as posted), tests through `messages_in`, `thread`,
//! `files`, ...; every request is recorded (`requests_to`).
//!
//! A test of the adapter, in outline:
//!
//! ```text
//! let slack = FakeSlack::start().await;
//! slack.add_channel("C0RELEASES1");
//! // shipgate's [slack] api_base = slack.api_base(), bot token = slack.bot_token(),
//! // signing secret = slack.signing_secret(), app token = slack.app_token()
//! let command = slack.slash_command("C0RELEASES1", &user, "/release", "start api 1.4.2");
//! let body = command.to_form();            // POST to /slack/commands with slack.signed_headers(&body)
//! let parent = &slack.messages_in("C0RELEASES1")[0];
//! let card = &slack.thread("C0RELEASES1", &parent.ts)[0];
//! let click = slack.click("C0RELEASES1", &card.ts, "<action_id>", &user);
//! let body = click.to_form();              // POST to /slack/interactivity, signed
//! slack.assert_no_problems();
//! ```

// Every test binary that includes the fake uses only part of it.
#![allow(dead_code)]

mod blockkit;
pub mod contract;
mod faults;
mod methods;
mod payloads;
mod ratelimit;
mod signing;
mod socket;
mod state;
mod timeline;
mod uploads;

#[allow(unused_imports)]
pub use blockkit::{check_blocks, check_view, Surface};
#[allow(unused_imports)]
pub use faults::Fault;
#[allow(unused_imports)]
pub use methods::Method;
#[allow(unused_imports)]
pub use payloads::{form_encode, form_payload, Action, BlockActions, SlackUser, SlashCommand, ViewSubmission};
#[allow(unused_imports)]
pub use ratelimit::ChannelLimit;
#[allow(unused_imports)]
pub use signing::{sign, signed_headers, SIGNATURE_HEADER, TIMESTAMP_HEADER};
#[allow(unused_imports)]
pub use socket::{Ack, Delivery};
#[allow(unused_imports)]
pub use state::{
    Ephemeral, FakeConfig, MessageVersion, OpenedView, Problem, RecordedRequest, ResponseUrlPost, SlackMessage,
};
#[allow(unused_imports)]
pub use uploads::UploadedFile;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use contract::{ArgValue, Args};
use serde_json::{json, Value};
use state::Refusal;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Shared by the server tasks and the test's handle.
pub struct Shared {
    config: FakeConfig,
    state: Mutex<state::State>,
    hub: Mutex<socket::Hub>,
}

impl Shared {
    // A test that panicked while holding a lock must not hide later failures behind poisoning.
    fn state(&self) -> MutexGuard<'_, state::State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn hub(&self) -> MutexGuard<'_, socket::Hub> {
        self.hub.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The running fake. Dropping it stops the server and closes Socket Mode connections.
pub struct FakeSlack {
    shared: Arc<Shared>,
    port: u16,
    server: JoinHandle<()>,
    ticker: JoinHandle<()>,
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.server.abort();
        self.ticker.abort();
        self.shared.hub().drop_all();
    }
}

/// How often pending Socket Mode envelopes are looked at (sent, or sent again).
const SOCKET_TICK: Duration = Duration::from_millis(20);

impl FakeSlack {
    pub async fn start() -> Self {
        Self::start_with(FakeConfig::default()).await
    }

    pub async fn start_with(config: FakeConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the fake Slack on a free port");
        let port = listener.local_addr().expect("the listener has an address").port();
        let shared = Arc::new(Shared {
            state: Mutex::new(state::State::new(config.clone(), port)),
            hub: Mutex::new(socket::Hub::default()),
            config,
        });
        let app = Router::new()
            .route("/api/{method}", any(web_api))
            .route("/response/{id}", any(response_url))
            .route("/upload/v1/{ticket}", any(file_upload))
            .route("/socket", get(socket::upgrade))
            .fallback(unknown_path)
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the fake Slack serves until dropped");
        });
        let ticker = tokio::spawn({
            let shared = Arc::clone(&shared);
            async move {
                let mut interval = tokio::time::interval(SOCKET_TICK);
                loop {
                    interval.tick().await;
                    let (timeout, retries) = (shared.config.socket_ack_timeout, shared.config.socket_max_retries);
                    shared.hub().tick(timeout, retries);
                }
            }
        });
        FakeSlack { shared, port, server, ticker }
    }

    /// What shipgate's `[slack] api_base` should be: `http://127.0.0.1:PORT/api`.
    pub fn api_base(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.port)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn config(&self) -> &FakeConfig {
        &self.shared.config
    }

    pub fn bot_token(&self) -> &str {
        &self.shared.config.bot_token
    }

    pub fn app_token(&self) -> &str {
        &self.shared.config.app_token
    }

    pub fn signing_secret(&self) -> &str {
        &self.shared.config.signing_secret
    }

    pub fn team_id(&self) -> &str {
        &self.shared.config.team_id
    }

    pub fn bot_user_id(&self) -> &str {
        &self.shared.config.bot_user_id
    }

    // ----- seeding -----

    /// A channel the bot is in.
    pub fn add_channel(&self, channel: &str) {
        self.shared.state().add_channel(channel);
    }

    /// Makes chat.postEphemeral refuse (`user_not_in_channel`) users not listed.
    pub fn set_channel_members(&self, channel: &str, users: &[&str]) {
        self.shared.state().set_channel_members(channel, users);
    }

    /// A message a person posted (the bot cannot update it); returns its ts.
    pub fn add_user_message(&self, channel: &str, user: &str, text: &str) -> String {
        self.shared.state().add_user_message(channel, user, text)
    }

    /// A reply someone (not the bot) posted under the top-level message at `parent`;
    /// returns its ts. Panics when there is no such message.
    pub fn add_user_reply(&self, channel: &str, parent: &str, user: &str, text: &str) -> String {
        self.shared.state().add_user_reply(channel, parent, user, text)
    }

    /// Someone deletes the message at `ts` in Slack (an admin may delete the bot's
    /// messages): it is gone from history, and chat.update answers `message_not_found`.
    /// Panics when there is no such message.
    pub fn delete_message(&self, channel: &str, ts: &str) {
        self.shared.state().delete_message(channel, ts);
    }

    /// A user group (`S...`) and its members, for usergroups.users.list.
    pub fn set_usergroup(&self, usergroup: &str, members: &[&str]) {
        self.shared.state().set_usergroup(usergroup, members);
    }

    /// A trigger_id as an interaction by `user` carries: views.open takes it once, within
    /// `trigger_lifetime` (3 s).
    pub fn issue_trigger_id(&self, user: &str) -> String {
        self.shared.state().issue_trigger_id(user)
    }

    /// A response URL for an interaction by `user` in `channel`: from the message at
    /// `message_ts` (a click: `replace_original`/`delete_original` act on it) or from none
    /// (a slash command).
    pub fn response_url(&self, channel: &str, user: &str, message_ts: Option<&str>) -> String {
        self.shared.state().mint_response_url(channel, user, message_ts)
    }

    // ----- faults and rate limits -----

    /// The next `times` calls of `method` (`chat.postMessage`, ..., `response_url` for posts
    /// to any response URL, `file_upload` for posts to any upload URL) fail with `fault`.
    /// Faults ordered earlier are used first.
    pub fn fail_next(&self, method: &str, fault: Fault, times: u32) {
        if times > 0 {
            let pending = faults::PendingFault { target: method.to_string(), fault, remaining: times };
            self.shared.state().faults.push(pending);
        }
    }

    /// Slack's "about one message per second per channel" on chat.postMessage: a second
    /// post to a channel within a second gets 429 with `Retry-After`. Off by default.
    pub fn set_channel_rate_limit(&self, on: bool) {
        self.shared.state().rate.set(on.then(ChannelLimit::default));
    }

    pub fn set_channel_rate_limit_to(&self, limit: ChannelLimit) {
        self.shared.state().rate.set(Some(limit));
    }

    // ----- inspection -----

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// Requests to one method (`chat.update`), or to response URLs (`response_url`).
    pub fn requests_to(&self, method: &str) -> Vec<RecordedRequest> {
        self.shared.state().requests.iter().filter(|r| r.method == method).cloned().collect()
    }

    /// The channel's top-level messages (and replies broadcast to it), oldest first.
    pub fn messages_in(&self, channel: &str) -> Vec<SlackMessage> {
        self.shared.state().messages_in(channel)
    }

    /// The replies under the message at `ts`, oldest first.
    pub fn thread(&self, channel: &str, ts: &str) -> Vec<SlackMessage> {
        self.shared.state().thread(channel, ts)
    }

    /// One message, deleted or not.
    pub fn message(&self, channel: &str, ts: &str) -> Option<SlackMessage> {
        self.shared.state().message(channel, ts).cloned()
    }

    /// Every channel message, replies and deleted ones included, in the order posted.
    pub fn all_messages(&self) -> Vec<SlackMessage> {
        self.shared.state().all_messages()
    }

    /// The permalink chat.getPermalink gives the message at `ts` (deleted or not); `None`
    /// when there is no such message.
    pub fn permalink(&self, channel: &str, ts: &str) -> Option<String> {
        let state = self.shared.state();
        let message = state.message(channel, ts)?;
        Some(state.permalink_of(channel, message))
    }

    /// Every file reserved through files.getUploadURLExternal, in order, as far as each got
    /// (`uploaded`, `completed`, `shared_to`).
    pub fn files(&self) -> Vec<UploadedFile> {
        self.shared.state().files.clone()
    }

    pub fn file(&self, id: &str) -> Option<UploadedFile> {
        self.shared.state().file(id).cloned()
    }

    /// Every ephemeral message, through chat.postEphemeral or a response URL.
    pub fn ephemerals(&self) -> Vec<Ephemeral> {
        self.shared.state().ephemerals.clone()
    }

    pub fn ephemerals_for(&self, channel: &str, user: &str) -> Vec<Ephemeral> {
        self.shared.state().ephemerals.iter().filter(|e| e.channel == channel && e.user == user).cloned().collect()
    }

    /// Modals opened, in order.
    pub fn views(&self) -> Vec<OpenedView> {
        self.shared.state().views.clone()
    }

    /// Posts to one response URL (accepted and refused), in order.
    pub fn response_url_posts(&self, url: &str) -> Vec<ResponseUrlPost> {
        self.shared.state().response_posts.iter().filter(|p| p.url == url).cloned().collect()
    }

    /// Every request that broke Slack's contract, and every Socket Mode frame that broke
    /// the protocol.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = self.shared.state().problems.clone();
        out.extend(self.shared.hub().problems.iter().map(|p| Problem {
            method: "socket".to_string(),
            answered: None,
            messages: vec![p.clone()],
        }));
        out
    }

    /// The problems so far, forgotten: for a test that breaks the contract on purpose.
    pub fn take_problems(&self) -> Vec<Problem> {
        let out = self.problems();
        self.shared.state().problems.clear();
        self.shared.hub().problems.clear();
        out
    }

    /// Panics listing every problem. Call it at the end of every test.
    pub fn assert_no_problems(&self) {
        let problems = self.problems();
        if !problems.is_empty() {
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            panic!("{} request(s) broke Slack's contract:\n{}", problems.len(), list.join("\n"));
        }
    }

    // ----- what Slack sends to shipgate -----

    /// `X-Slack-Request-Timestamp` and `X-Slack-Signature` for a body sent now, signed with
    /// the configured signing secret.
    pub fn signed_headers(&self, body: &str) -> [(&'static str, String); 2] {
        signed_headers(&self.shared.config.signing_secret, chrono::Utc::now().timestamp(), body)
    }

    /// `user` runs `command` (`/release`) with `text` in `channel`: a fresh trigger_id and a
    /// response URL the fake honours.
    pub fn slash_command(&self, channel: &str, user: &SlackUser, command: &str, text: &str) -> SlashCommand {
        let mut state = self.shared.state();
        let c = &self.shared.config;
        SlashCommand {
            token: c.verification_token.clone(),
            team_id: c.team_id.clone(),
            team_domain: c.team_domain.clone(),
            channel_id: channel.to_string(),
            channel_name: channel.to_lowercase(),
            user_id: user.id.clone(),
            user_name: user.name.clone(),
            command: command.to_string(),
            text: text.to_string(),
            api_app_id: c.app_id.clone(),
            trigger_id: state.issue_trigger_id(&user.id),
            response_url: state.mint_response_url(channel, &user.id, None),
        }
    }

    /// `user` clicks the element `action_id` on the message at `message_ts`, as the message
    /// stands now. Panics when the message or the button is not there: a test that clicks a
    /// stale button builds the payload from an earlier click, or by hand.
    pub fn click(&self, channel: &str, message_ts: &str, action_id: &str, user: &SlackUser) -> BlockActions {
        let mut state = self.shared.state();
        let message = state
            .message(channel, message_ts)
            .filter(|m| !m.deleted)
            .unwrap_or_else(|| panic!("no message {message_ts} in {channel} to click on"))
            .clone();
        let blocks = message.blocks.clone().unwrap_or(Value::Null);
        let (block_id, element) = find_element(&blocks, action_id).unwrap_or_else(|| {
            panic!("message {message_ts} has no element {action_id:?}; it has {:?}", message.action_ids())
        });
        let c = &self.shared.config;
        let action = Action {
            action_id: action_id.to_string(),
            block_id,
            value: element.get("value").and_then(Value::as_str).map(str::to_string),
            text: element["text"]["text"].as_str().unwrap_or_default().to_string(),
            style: element.get("style").and_then(Value::as_str).map(str::to_string),
            action_ts: state.next_ts(),
        };
        BlockActions {
            user: user.clone(),
            team_id: c.team_id.clone(),
            team_domain: c.team_domain.clone(),
            api_app_id: c.app_id.clone(),
            token: c.verification_token.clone(),
            channel_id: channel.to_string(),
            channel_name: channel.to_lowercase(),
            message_ts: message_ts.to_string(),
            thread_ts: message.thread_ts.clone(),
            is_ephemeral: false,
            message: Some(message.to_json(c)),
            actions: vec![action],
            trigger_id: state.issue_trigger_id(&user.id),
            response_url: state.mint_response_url(channel, &user.id, Some(message_ts)),
        }
    }

    /// `user` submits the modal `view_id` (opened through views.open) with inputs given as
    /// `(action_id, value)`: a plain_text_input's text, a select's or radio's option value,
    /// a datepicker's date. Inputs not given are submitted empty. Panics on an input or
    /// option the view does not have.
    pub fn view_submission(&self, view_id: &str, user: &SlackUser, values: &[(&str, &str)]) -> ViewSubmission {
        let mut state = self.shared.state();
        let opened =
            state.view(view_id).unwrap_or_else(|| panic!("no view {view_id} was opened through views.open")).clone();
        let mut view = opened.view.clone();
        view["state"] = json!({"values": view_state(&view["blocks"], values)});
        let c = &self.shared.config;
        ViewSubmission {
            user: user.clone(),
            team_id: c.team_id.clone(),
            team_domain: c.team_domain.clone(),
            api_app_id: c.app_id.clone(),
            token: c.verification_token.clone(),
            trigger_id: state.issue_trigger_id(&user.id),
            view,
        }
    }

    // ----- Socket Mode -----

    /// Sends an envelope on the newest live connection (or when one connects) and until it
    /// is acknowledged; returns its `envelope_id`.
    pub fn push_envelope(&self, kind: &str, payload: Value, accepts_response_payload: bool) -> String {
        let id = self.shared.hub().push(kind, payload, accepts_response_payload);
        // Send now rather than at the next tick.
        self.shared.hub().tick(self.shared.config.socket_ack_timeout, self.shared.config.socket_max_retries);
        id
    }

    /// A slash command over Socket Mode (`slash_commands`; a response payload is accepted).
    pub fn push_slash_command(&self, command: &SlashCommand) -> String {
        self.push_envelope("slash_commands", command.to_json(), true)
    }

    /// An interaction over Socket Mode (`interactive`); a view submission accepts a
    /// response payload (`response_action`), a click does not.
    pub fn push_interactive(&self, payload: Value) -> String {
        let accepts = payload["type"] == "view_submission";
        self.push_envelope("interactive", payload, accepts)
    }

    /// The first acknowledgement of `envelope_id`, waiting up to `within` (then panics).
    pub async fn wait_ack(&self, envelope_id: &str, within: Duration) -> Ack {
        let mut acks = self.shared.hub().subscribe_acks();
        let found = tokio::time::timeout(within, async {
            loop {
                if let Some(ack) = self.shared.hub().acks.iter().find(|a| a.envelope_id == envelope_id) {
                    return ack.clone();
                }
                if acks.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("envelope {envelope_id} was not acknowledged within {within:?}"))
    }

    /// Every acknowledgement received, in order.
    pub fn acks(&self) -> Vec<Ack> {
        self.shared.hub().acks.clone()
    }

    /// Every envelope sent, each redelivery included, in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.hub().deliveries.clone()
    }

    /// Envelopes never acknowledged after every retry.
    pub fn given_up_envelopes(&self) -> Vec<String> {
        self.shared.hub().given_up()
    }

    /// Sends `{"type":"disconnect","reason":..}` on every live connection (Slack's
    /// `refresh_requested`, `warning`, ...) and closes each after `socket_disconnect_grace`.
    pub fn socket_disconnect(&self, reason: &str) {
        self.shared.hub().disconnect_all(reason, self.shared.config.socket_disconnect_grace);
    }

    /// Every connection vanishes without a close frame.
    pub fn drop_socket_connections(&self) {
        self.shared.hub().drop_all();
    }

    /// Connections greeted with `hello` so far.
    pub fn socket_hellos(&self) -> u64 {
        self.shared.hub().hellos()
    }

    /// Waits (up to `within`, then panics) until `count` connections have been greeted.
    pub async fn wait_socket_hellos(&self, count: u64, within: Duration) {
        let mut hellos = self.shared.hub().subscribe_hellos();
        let waited = tokio::time::timeout(within, hellos.wait_for(|n| *n >= count)).await;
        assert!(matches!(waited, Ok(Ok(_))), "fewer than {count} Socket Mode connections within {within:?}");
    }

    /// Connections open now.
    pub fn live_socket_connections(&self) -> usize {
        self.shared.hub().live()
    }
}

/// The block_id and the element of `action_id` in a message's blocks. A block without a
/// `block_id` gets one, as Slack gives one.
fn find_element(blocks: &Value, action_id: &str) -> Option<(String, Value)> {
    fn search(value: &Value, action_id: &str) -> Option<Value> {
        match value {
            Value::Object(map) if map.get("action_id").and_then(Value::as_str) == Some(action_id) => {
                Some(value.clone())
            }
            Value::Object(map) => map.values().find_map(|v| search(v, action_id)),
            Value::Array(items) => items.iter().find_map(|v| search(v, action_id)),
            _ => None,
        }
    }
    blocks.as_array()?.iter().enumerate().find_map(|(i, block)| {
        let element = search(block, action_id)?;
        Some((block_id_of(block, i), element))
    })
}

fn block_id_of(block: &Value, index: usize) -> String {
    block.get("block_id").and_then(Value::as_str).map_or_else(|| format!("fake-block-{index}"), str::to_string)
}

/// `view.state.values` as Slack fills it on submission: block_id -> action_id -> value.
fn view_state(blocks: &Value, values: &[(&str, &str)]) -> Value {
    let mut out = serde_json::Map::new();
    let mut used = vec![false; values.len()];
    for (i, block) in blocks.as_array().into_iter().flatten().enumerate() {
        if block["type"] != "input" {
            continue;
        }
        let element = &block["element"];
        let Some(action_id) = element["action_id"].as_str() else { continue };
        let kind = element["type"].as_str().unwrap_or_default();
        let given = values.iter().position(|(id, _)| *id == action_id);
        if let Some(index) = given {
            used[index] = true;
        }
        let given = given.map(|index| values[index].1);
        let option = |value: &str| {
            let found = element["options"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(
                    element["option_groups"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .flat_map(|g| g["options"].as_array().into_iter().flatten()),
                )
                .find(|o| o["value"] == value)
                .unwrap_or_else(|| panic!("input {action_id:?} has no option {value:?}"));
            found.clone()
        };
        let state = match kind {
            "plain_text_input" => json!({"type": kind, "value": given}),
            "static_select" | "radio_buttons" => json!({"type": kind, "selected_option": given.map(option)}),
            "checkboxes" => {
                json!({"type": kind, "selected_options": given.map(option).into_iter().collect::<Vec<_>>()})
            }
            "datepicker" => json!({"type": kind, "selected_date": given}),
            other => panic!("the fake cannot submit a {other} input"),
        };
        let block_id = block_id_of(block, i);
        out.entry(block_id)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("an object")
            .insert(action_id.to_string(), state);
    }
    if let Some(index) = used.iter().position(|u| !u) {
        panic!("the view has no input {:?}", values[index].0);
    }
    Value::Object(out)
}

/// What to answer, and when.
struct Outcome {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Option<Value>,
    /// Answer only after this long.
    delay: Option<Duration>,
}

impl Outcome {
    fn json(status: u16, body: Value) -> Self {
        Outcome { status, headers: Vec::new(), body: Some(body), delay: None }
    }

    fn empty(status: u16) -> Self {
        Outcome { status, headers: Vec::new(), body: None, delay: None }
    }

    fn rate_limited(retry_after: Duration) -> Self {
        // Retry-After is whole seconds; a wait shorter than one still says 1.
        let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        let mut outcome = Self::json(429, json!({"ok": false, "error": "ratelimited"}));
        outcome.headers.push(("retry-after", seconds.max(1).to_string()));
        outcome
    }

    fn into_response(self) -> Response {
        let mut response = match &self.body {
            Some(body) => {
                let mut r = Response::new(Body::from(body.to_string()));
                r.headers_mut().insert("content-type", HeaderValue::from_static("application/json; charset=utf-8"));
                r
            }
            None => Response::new(Body::empty()),
        };
        *response.status_mut() = StatusCode::from_u16(self.status).expect("the fake answers valid statuses");
        for (name, value) in self.headers {
            response.headers_mut().insert(name, HeaderValue::from_str(&value).expect("header values are ASCII"));
        }
        response
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// The arguments of a Web API request, or the error and message Slack gives a body it
/// cannot read.
fn parse_args(query: Option<&str>, content_type: &str, body: &[u8]) -> Result<Args, (String, String)> {
    let mut args = Args::default();
    for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        args.list.push((name.into_owned(), ArgValue::Text(value.into_owned())));
    }
    if body.is_empty() {
        return Ok(args);
    }
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => {
            let value: Value = serde_json::from_slice(body)
                .map_err(|e| ("invalid_json".to_string(), format!("[ERROR] the body is not JSON: {e}")))?;
            let Value::Object(map) = value else {
                return Err(("invalid_json".to_string(), "[ERROR] a JSON body must be an object of arguments".into()));
            };
            args.json_body = true;
            args.list.extend(map.into_iter().map(|(name, value)| (name, ArgValue::Json(value))));
        }
        "application/x-www-form-urlencoded" => {
            for (name, value) in form_urlencoded::parse(body) {
                args.list.push((name.into_owned(), ArgValue::Text(value.into_owned())));
            }
        }
        "" => return Err(("invalid_post_type".into(), "[ERROR] a body without a Content-Type".into())),
        other => {
            return Err((
                "invalid_post_type".into(),
                format!("[ERROR] Content-Type {other} is not served by the fake: send JSON or form-encoded arguments"),
            ))
        }
    }
    Ok(args)
}

async fn web_api(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(name): Path<String>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let outcome = {
        let mut state = shared.state();
        let content_type = header(&headers, "content-type");
        let authorization = header(&headers, "authorization");
        let parsed = parse_args(uri.query(), content_type.as_deref().unwrap_or(""), &body);
        let outcome = serve_method(&mut state, &name, method.as_str(), &parsed, authorization.as_deref());
        state.requests.push(RecordedRequest {
            method: name,
            http_method: method.to_string(),
            path: uri.path().to_string(),
            content_type,
            authorization,
            args: parsed.as_ref().map(Args::to_json).unwrap_or(Value::Null),
            raw_body: String::from_utf8_lossy(&body).into_owned(),
            status: outcome.status,
            answer: outcome.body.clone(),
            at: SystemTime::now(),
        });
        outcome
    };
    if let Some(delay) = outcome.delay {
        tokio::time::sleep(delay).await;
    }
    outcome.into_response()
}

/// Faults, authentication, the contract, the channel rate limit, then the method itself.
fn serve_method(
    state: &mut state::State,
    name: &str,
    http_method: &str,
    parsed: &Result<Args, (String, String)>,
    authorization: Option<&str>,
) -> Outcome {
    let Some(method) = Method::from_name(name) else {
        state.problem(name, Some("unknown_method"), vec![format!("{name} is no method the fake Slack serves")]);
        return Outcome::json(404, json!({"ok": false, "error": "unknown_method"}));
    };
    let mut delay = None;
    match faults::take(&mut state.faults, name) {
        Some(Fault::RateLimited { retry_after_secs }) => {
            return Outcome::rate_limited(Duration::from_secs(retry_after_secs));
        }
        Some(Fault::Error(error)) => return Outcome::json(200, json!({"ok": false, "error": error})),
        Some(Fault::ServerError(status)) => return Outcome::empty(status),
        Some(Fault::Timeout(hold)) => return Outcome { delay: Some(hold), ..Outcome::empty(504) },
        Some(Fault::Slow(hold)) => delay = Some(hold),
        None => {}
    }
    let refused = |state: &mut state::State, refusal: Refusal| {
        if refusal.problem {
            state.problem(name, Some(&refusal.error), refusal.messages.clone());
        }
        Outcome::json(200, refusal.body())
    };
    if let Err(refusal) = authorize(&state.config, method, authorization) {
        return refused(state, refusal);
    }
    let args = match parsed {
        Ok(args) => args,
        Err((error, message)) => return refused(state, Refusal::contract(error, vec![message.clone()])),
    };
    let problems = if method != Method::AppsConnectionsOpen {
        contract::check_arguments(method, args)
    } else {
        // apps.connections.open is in neither the document nor contract.rs: a POST without
        // arguments.
        let mut problems: Vec<String> = args
            .list
            .iter()
            .map(|(n, _)| format!("[ERROR] unknown argument `{n}` (apps.connections.open takes none)"))
            .collect();
        if http_method != "POST" {
            problems.push(format!("[ERROR] apps.connections.open takes POST, not {http_method}"));
        }
        problems
    };
    if !problems.is_empty() {
        return refused(state, Refusal::contract("invalid_arguments", problems));
    }
    if method == Method::ChatPostMessage {
        if let Err(wait) = state.rate.check(&args.str("channel").unwrap_or_default()) {
            return Outcome::rate_limited(wait);
        }
    }
    let reply = match method {
        Method::ChatPostMessage => state.post_message(args),
        Method::ChatUpdate => state.update(args),
        Method::ChatPostEphemeral => state.post_ephemeral(args),
        Method::ViewsOpen => state.views_open(args),
        Method::UsergroupsUsersList => state.usergroup_users(args),
        Method::AuthTest => state.auth_test(),
        Method::AppsConnectionsOpen => state.connections_open(),
        Method::ChatGetPermalink => state.get_permalink(args),
        Method::ConversationsHistory => state.history(args),
        Method::ConversationsReplies => state.replies(args),
        Method::FilesGetUploadUrlExternal => state.get_upload_url(args),
        Method::FilesCompleteUploadExternal => state.complete_upload(args),
    };
    let mut outcome = match reply {
        Ok(body) => Outcome::json(200, body),
        Err(refusal) => refused(state, refusal),
    };
    outcome.delay = delay;
    outcome
}

/// `Authorization: Bearer <token>` with the token the method takes. A missing header, or
/// the fake's other token, is a bug in the client; a token the fake does not know is a
/// misconfiguration Slack answers with `invalid_auth`.
fn authorize(config: &FakeConfig, method: Method, authorization: Option<&str>) -> Result<(), Refusal> {
    let Some(token) = authorization.and_then(|a| a.strip_prefix("Bearer ")) else {
        let why = match authorization {
            None => "no Authorization header",
            Some(_) => "the Authorization header is not `Bearer <token>`",
        };
        return Err(Refusal::contract("not_authed", vec![format!("[ERROR] {why}")]));
    };
    let (expected, other) = match method.token() {
        methods::TokenKind::Bot => (&config.bot_token, &config.app_token),
        methods::TokenKind::App => (&config.app_token, &config.bot_token),
    };
    if token == expected {
        Ok(())
    } else if token == other {
        Err(Refusal::contract(
            "not_allowed_token_type",
            vec![format!("[ERROR] {} takes the {:?} token", method.name(), method.token())],
        ))
    } else {
        Err(Refusal::state("invalid_auth"))
    }
}

async fn response_url(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(id): Path<String>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let outcome = {
        let mut state = shared.state();
        let content_type = header(&headers, "content-type");
        let parsed: Result<Value, String> = if method != axum::http::Method::POST {
            Err(format!("a response_url takes POST, not {method}"))
        } else if !content_type.as_deref().is_some_and(|c| c.starts_with("application/json")) {
            Err(format!("a response_url takes a JSON body; Content-Type was {content_type:?}"))
        } else {
            serde_json::from_slice(&body).map_err(|e| format!("the body is not JSON: {e}"))
        };
        let mut delay = None;
        let outcome = match faults::take(&mut state.faults, "response_url") {
            Some(Fault::RateLimited { retry_after_secs }) => {
                Outcome::rate_limited(Duration::from_secs(retry_after_secs))
            }
            Some(Fault::Error(error)) => Outcome::json(200, json!({"ok": false, "error": error})),
            Some(Fault::ServerError(status)) => Outcome::empty(status),
            Some(Fault::Timeout(hold)) => Outcome { delay: Some(hold), ..Outcome::empty(504) },
            fault => {
                if let Some(Fault::Slow(hold)) = fault {
                    delay = Some(hold);
                }
                let (status, answer) = state.response_url_post(&id, parsed.clone());
                Outcome { delay, ..Outcome::json(status, answer) }
            }
        };
        state.requests.push(RecordedRequest {
            method: "response_url".to_string(),
            http_method: method.to_string(),
            path: uri.path().to_string(),
            content_type,
            authorization: header(&headers, "authorization"),
            args: parsed.unwrap_or(Value::Null),
            raw_body: String::from_utf8_lossy(&body).into_owned(),
            status: outcome.status,
            answer: outcome.body.clone(),
            at: SystemTime::now(),
        });
        outcome
    };
    if let Some(delay) = outcome.delay {
        tokio::time::sleep(delay).await;
    }
    outcome.into_response()
}

/// The upload URL of a file reserved through files.getUploadURLExternal: the file's bytes,
/// raw or as a multipart form, once. Answers text, as Slack's upload service does.
async fn file_upload(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(ticket): Path<String>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = header(&headers, "content-type");
    let read = uploads::read_body(content_type.as_deref(), body.clone()).await;
    let (status, text, delay, retry_after) = {
        let mut state = shared.state();
        let (mut delay, mut retry_after) = (None, None);
        let (status, text) = match faults::take(&mut state.faults, "file_upload") {
            Some(Fault::RateLimited { retry_after_secs }) => {
                retry_after = Some(retry_after_secs.max(1));
                (429, "ratelimited".to_string())
            }
            Some(Fault::Error(error)) => (400, error),
            Some(Fault::ServerError(status)) => (status, String::new()),
            Some(Fault::Timeout(hold)) => {
                delay = Some(hold);
                (504, String::new())
            }
            fault => {
                if let Some(Fault::Slow(hold)) = fault {
                    delay = Some(hold);
                }
                state.upload_post(&ticket, method.as_str(), read.clone())
            }
        };
        let args = match &read {
            Ok(read) => json!({
                "length": read.bytes.len(),
                "multipart": read.multipart,
                "filename": read.part_filename,
            }),
            Err(why) => json!({"unreadable": why}),
        };
        state.requests.push(RecordedRequest {
            method: "file_upload".to_string(),
            http_method: method.to_string(),
            path: uri.path().to_string(),
            content_type,
            authorization: header(&headers, "authorization"),
            args,
            raw_body: String::from_utf8_lossy(&body).into_owned(),
            status,
            answer: (!text.is_empty()).then(|| Value::String(text.clone())),
            at: SystemTime::now(),
        });
        (status, text, delay, retry_after)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = StatusCode::from_u16(status).expect("the fake answers valid statuses");
    response.headers_mut().insert("content-type", HeaderValue::from_static("text/plain; charset=utf-8"));
    if let Some(seconds) = retry_after {
        response.headers_mut().insert("retry-after", HeaderValue::from(seconds));
    }
    response
}

async fn unknown_path(AxumState(shared): AxumState<Arc<Shared>>, method: axum::http::Method, uri: Uri) -> Response {
    let path = uri.path().to_string();
    let mut state = shared.state();
    state.problem(&path, Some("not_found"), vec![format!("{method} {path}: nothing the fake Slack serves")]);
    let outcome = Outcome::json(404, json!({"ok": false, "error": "unknown_method"}));
    state.requests.push(RecordedRequest {
        method: path.clone(),
        http_method: method.to_string(),
        path,
        content_type: None,
        authorization: None,
        args: Value::Null,
        raw_body: String::new(),
        status: outcome.status,
        answer: outcome.body.clone(),
        at: SystemTime::now(),
    });
    outcome.into_response()
}

impl FakeSlack {
    /// Forgets every fault ordered and not yet used: Slack answers normally again.
    pub fn clear_faults(&self) {
        self.shared.state().faults.clear();
    }
}
