//! What the fake Slack remembers, and what each Web API method and response URL does to it.

use super::blockkit::{self, Surface};
use super::contract::Args;
use super::faults::PendingFault;
use super::ratelimit::ChannelRate;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Who the fake is (its tokens, workspace, app and bot) and its clocks. The ids match the
/// patterns of the OpenAPI document (`^T[A-Z0-9]{8,}$`, `^B[A-Z0-9]{8,}$`, ...).
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// `xoxb-`: what every Web API method but Socket Mode's takes.
    pub bot_token: String,
    /// `xapp-`: what apps.connections.open takes.
    pub app_token: String,
    /// For signing requests to shipgate (`signing::sign`); the fake itself never checks it.
    pub signing_secret: String,
    /// The deprecated verification token Slack still puts in payloads.
    pub verification_token: String,
    pub team_id: String,
    pub team_domain: String,
    pub team_name: String,
    pub app_id: String,
    pub bot_user_id: String,
    pub bot_id: String,
    pub bot_name: String,
    /// A trigger_id opens a modal within 3 s of the interaction, once.
    pub trigger_lifetime: Duration,
    /// A response_url takes 5 posts within 30 minutes.
    pub response_url_uses: u32,
    pub response_url_lifetime: Duration,
    /// An envelope not acknowledged within this long is sent again, `retry_attempt` + 1.
    pub socket_ack_timeout: Duration,
    /// After this many redeliveries Slack gives up on an envelope.
    pub socket_max_retries: u32,
    /// How long after a `disconnect` message the fake closes the old connection.
    pub socket_disconnect_grace: Duration,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            bot_token: "xoxb-1111111111-2222222222-fakebottoken".to_string(),
            app_token: "xapp-1-A0FAKEAPP01-3333333333-fakeapptoken".to_string(),
            signing_secret: "fake-signing-secret-0123456789abcdef".to_string(),
            verification_token: "fakeverificationtoken0001".to_string(),
            team_id: "T0FAKETEAM1".to_string(),
            team_domain: "shipgate-fake".to_string(),
            team_name: "Shipgate Fake Workspace".to_string(),
            app_id: "A0FAKEAPP01".to_string(),
            bot_user_id: "U0FAKEBOT01".to_string(),
            bot_id: "B0FAKEBOT01".to_string(),
            bot_name: "shipgate".to_string(),
            trigger_lifetime: Duration::from_secs(3),
            response_url_uses: 5,
            response_url_lifetime: Duration::from_secs(30 * 60),
            socket_ack_timeout: Duration::from_secs(3),
            socket_max_retries: 3,
            socket_disconnect_grace: Duration::from_secs(10),
        }
    }
}

/// A request as the fake received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The Web API method (`chat.postMessage`), `response_url`, or the path of a request
    /// to nothing the fake serves.
    pub method: String,
    /// `POST`, `GET`.
    pub http_method: String,
    pub path: String,
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    /// The arguments as one JSON object (`blocks` and `view` parsed); a response URL's
    /// JSON body.
    pub args: Value,
    pub raw_body: String,
    /// The answer's status (a held request is recorded with the status it ends with).
    pub status: u16,
    /// The JSON answer; `None` for an empty one (a server error, a timeout).
    pub answer: Option<Value>,
    pub at: SystemTime,
}

impl RecordedRequest {
    pub fn ok(&self) -> Option<bool> {
        self.answer.as_ref()?.get("ok")?.as_bool()
    }

    /// The `error` of an `ok:false` answer.
    pub fn error(&self) -> Option<&str> {
        self.answer.as_ref()?.get("error")?.as_str()
    }

    pub fn arg(&self, name: &str) -> Option<&Value> {
        self.args.get(name)
    }
}

/// A request that broke Slack's documented contract: shipgate has a bug. Failures that
/// depend on what the client could not know (an expired trigger, a missing message, a rate
/// limit, an ordered fault, a wrong token) are answered but are no problems.
#[derive(Clone, Debug)]
pub struct Problem {
    pub method: String,
    /// The error answered (`invalid_arguments`, `invalid_blocks`, ...); `None` when Slack
    /// would have served the request anyway (a warning).
    pub answered: Option<String>,
    pub messages: Vec<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let answered = self.answered.as_deref().unwrap_or("served, but");
        write!(f, "{} ({answered}):\n    {}", self.method, self.messages.join("\n    "))
    }
}

/// One version of a message: as posted, then after each edit.
#[derive(Clone, Debug)]
pub struct MessageVersion {
    pub text: Option<String>,
    pub blocks: Option<Value>,
    /// `chat.postMessage`, `chat.update` or `response_url`.
    pub via: String,
    pub at: SystemTime,
}

/// A message in a channel, as it stands now, with its history.
#[derive(Clone, Debug)]
pub struct SlackMessage {
    pub channel: String,
    pub ts: String,
    /// The parent's ts, for a reply in a thread.
    pub thread_ts: Option<String>,
    pub user: String,
    /// Posted by the bot (only those can be updated).
    pub bot: bool,
    pub text: Option<String>,
    pub blocks: Option<Value>,
    pub reply_broadcast: bool,
    /// Every version, the first as posted; the last is the current one.
    pub versions: Vec<MessageVersion>,
    /// Deleted through a response URL's `delete_original`.
    pub deleted: bool,
}

impl SlackMessage {
    /// Every `action_id` of the current blocks, in order.
    pub fn action_ids(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(blocks) = self.blocks.as_ref().and_then(Value::as_array) {
            for block in blocks {
                collect_action_ids(block, &mut out);
            }
        }
        out
    }

    /// The message as Slack puts it in payloads and answers.
    pub fn to_json(&self, config: &FakeConfig) -> Value {
        let mut message = json!({
            "type": "message",
            "text": self.text.clone().unwrap_or_default(),
            "user": self.user,
            "ts": self.ts,
            "team": config.team_id,
        });
        if self.bot {
            message["bot_id"] = json!(config.bot_id);
            message["bot_profile"] = json!({
                "id": config.bot_id,
                "deleted": false,
                "name": config.bot_name,
                "updated": 1_700_000_000,
                "app_id": config.app_id,
                "icons": {
                    "image_36": "https://a.slack-edge.com/80588/img/plugins/app/bot_36.png",
                    "image_48": "https://a.slack-edge.com/80588/img/plugins/app/bot_48.png",
                    "image_72": "https://a.slack-edge.com/80588/img/plugins/app/service_72.png",
                },
                "team_id": config.team_id,
            });
        }
        if let Some(blocks) = &self.blocks {
            message["blocks"] = blocks.clone();
        }
        if let Some(thread_ts) = &self.thread_ts {
            message["thread_ts"] = json!(thread_ts);
        }
        message
    }
}

fn collect_action_ids(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(id) = map.get("action_id").and_then(Value::as_str) {
                out.push(id.to_string());
            }
            for child in map.values() {
                collect_action_ids(child, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_action_ids(item, out)),
        _ => {}
    }
}

/// A message only one person sees.
#[derive(Clone, Debug)]
pub struct Ephemeral {
    pub channel: String,
    pub user: String,
    pub text: Option<String>,
    pub blocks: Option<Value>,
    pub thread_ts: Option<String>,
    pub message_ts: String,
    /// `chat.postEphemeral` or `response_url`.
    pub via: String,
}

/// A modal opened by views.open.
#[derive(Clone, Debug)]
pub struct OpenedView {
    pub id: String,
    pub trigger_id: String,
    pub user: String,
    /// The view as Slack answered it (with `id`, `state`, `hash`, ...).
    pub view: Value,
}

/// A post to a response URL, accepted or not.
#[derive(Clone, Debug)]
pub struct ResponseUrlPost {
    pub url: String,
    pub body: Value,
    pub status: u16,
    /// The error answered, when refused.
    pub error: Option<String>,
    pub at: SystemTime,
}

struct ResponseUrl {
    url: String,
    channel: String,
    user: String,
    /// The message the interaction came from (a click); none for a slash command.
    message_ts: Option<String>,
    created: Instant,
    uses: u32,
}

struct Trigger {
    user: String,
    created: Instant,
    used: bool,
}

#[derive(Default)]
struct Channel {
    /// When set, chat.postEphemeral refuses users outside it.
    members: Option<Vec<String>>,
}

/// An answer refused with `{ok:false, error}`; a problem when the request broke the contract.
#[derive(Debug)]
pub struct Refusal {
    pub error: String,
    pub messages: Vec<String>,
    pub problem: bool,
}

impl Refusal {
    /// A state the client could not know about (`channel_not_found`, ...).
    pub fn state(error: &str) -> Self {
        Refusal { error: error.to_string(), messages: Vec::new(), problem: false }
    }

    /// A request that broke the contract.
    pub fn contract(error: &str, messages: Vec<String>) -> Self {
        Refusal { error: error.to_string(), messages, problem: true }
    }

    pub fn body(&self) -> Value {
        let mut body = json!({"ok": false, "error": self.error});
        if !self.messages.is_empty() {
            body["response_metadata"] = json!({"messages": self.messages});
            if self.error == "invalid_blocks" {
                // Slack lists the block errors twice: `errors` without the `[ERROR]` prefix.
                let errors: Vec<&str> = self.messages.iter().map(|m| m.trim_start_matches("[ERROR] ")).collect();
                body["errors"] = json!(errors);
            }
        }
        body
    }
}

pub type Reply = Result<Value, Refusal>;

/// Slack's ceiling on a message's text.
const MAX_TEXT: usize = 40_000;

fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970").as_secs()
}

pub struct State {
    pub config: FakeConfig,
    pub port: u16,
    last_ts_micros: u64,
    counter: u64,
    channels: HashMap<String, Channel>,
    /// Every channel message, in the order posted (which is ts order).
    messages: Vec<SlackMessage>,
    pub ephemerals: Vec<Ephemeral>,
    pub views: Vec<OpenedView>,
    triggers: HashMap<String, Trigger>,
    response_urls: HashMap<String, ResponseUrl>,
    pub response_posts: Vec<ResponseUrlPost>,
    usergroups: HashMap<String, Vec<String>>,
    /// Socket Mode tickets handed out by apps.connections.open -> used yet.
    tickets: HashMap<String, bool>,
    pub requests: Vec<RecordedRequest>,
    pub problems: Vec<Problem>,
    pub faults: Vec<PendingFault>,
    pub rate: ChannelRate,
}

impl State {
    pub fn new(config: FakeConfig, port: u16) -> Self {
        State {
            config,
            port,
            last_ts_micros: 0,
            counter: 0,
            channels: HashMap::new(),
            messages: Vec::new(),
            ephemerals: Vec::new(),
            views: Vec::new(),
            triggers: HashMap::new(),
            response_urls: HashMap::new(),
            response_posts: Vec::new(),
            usergroups: HashMap::new(),
            tickets: HashMap::new(),
            requests: Vec::new(),
            problems: Vec::new(),
            faults: Vec::new(),
            rate: ChannelRate::default(),
        }
    }

    pub fn problem(&mut self, method: &str, answered: Option<&str>, messages: Vec<String>) {
        self.problems.push(Problem { method: method.to_string(), answered: answered.map(str::to_string), messages });
    }

    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// A message timestamp: Unix seconds and microseconds, unique and increasing, as
    /// Slack's `ts` (`1733230000.000100`). Also used for `action_ts`.
    pub fn next_ts(&mut self) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970").as_micros() as u64;
        let micros = now.max(self.last_ts_micros + 1);
        self.last_ts_micros = micros;
        format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
    }

    // ----- seeding -----

    pub fn add_channel(&mut self, id: &str) {
        self.channels.entry(id.to_string()).or_default();
    }

    pub fn set_channel_members(&mut self, id: &str, members: &[&str]) {
        let channel = self.channels.entry(id.to_string()).or_default();
        channel.members = Some(members.iter().map(|m| m.to_string()).collect());
    }

    pub fn set_usergroup(&mut self, id: &str, members: &[&str]) {
        self.usergroups.insert(id.to_string(), members.iter().map(|m| m.to_string()).collect());
    }

    /// A message someone (not the bot) posted: a thread parent shipgate did not write.
    pub fn add_user_message(&mut self, channel: &str, user: &str, text: &str) -> String {
        self.add_channel(channel);
        let ts = self.next_ts();
        let version = MessageVersion {
            text: Some(text.to_string()),
            blocks: None,
            via: "user".to_string(),
            at: SystemTime::now(),
        };
        self.messages.push(SlackMessage {
            channel: channel.to_string(),
            ts: ts.clone(),
            thread_ts: None,
            user: user.to_string(),
            bot: false,
            text: Some(text.to_string()),
            blocks: None,
            reply_broadcast: false,
            versions: vec![version],
            deleted: false,
        });
        ts
    }

    pub fn issue_trigger_id(&mut self, user: &str) -> String {
        let n = self.next();
        let id = format!("{n}.{}.{}", unix_seconds(), uuid::Uuid::new_v4().simple());
        self.triggers.insert(id.clone(), Trigger { user: user.to_string(), created: Instant::now(), used: false });
        id
    }

    /// A response URL for an interaction by `user` in `channel`, from the message at
    /// `message_ts` (a click) or from no message (a slash command).
    pub fn mint_response_url(&mut self, channel: &str, user: &str, message_ts: Option<&str>) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let url = format!("http://127.0.0.1:{}/response/{id}", self.port);
        self.response_urls.insert(
            id,
            ResponseUrl {
                url: url.clone(),
                channel: channel.to_string(),
                user: user.to_string(),
                message_ts: message_ts.map(str::to_string),
                created: Instant::now(),
                uses: 0,
            },
        );
        url
    }

    // ----- inspection -----

    pub fn message(&self, channel: &str, ts: &str) -> Option<&SlackMessage> {
        self.messages.iter().find(|m| m.channel == channel && m.ts == ts)
    }

    fn message_mut(&mut self, channel: &str, ts: &str) -> Option<&mut SlackMessage> {
        self.messages.iter_mut().find(|m| m.channel == channel && m.ts == ts && !m.deleted)
    }

    /// Top-level messages of a channel (replies broadcast to the channel included), oldest first.
    pub fn messages_in(&self, channel: &str) -> Vec<SlackMessage> {
        self.messages
            .iter()
            .filter(|m| m.channel == channel && !m.deleted && (m.thread_ts.is_none() || m.reply_broadcast))
            .cloned()
            .collect()
    }

    /// The replies in the thread under `ts`, oldest first.
    pub fn thread(&self, channel: &str, ts: &str) -> Vec<SlackMessage> {
        self.messages
            .iter()
            .filter(|m| m.channel == channel && !m.deleted && m.thread_ts.as_deref() == Some(ts))
            .cloned()
            .collect()
    }

    pub fn all_messages(&self) -> Vec<SlackMessage> {
        self.messages.clone()
    }

    pub fn view(&self, id: &str) -> Option<&OpenedView> {
        self.views.iter().find(|v| v.id == id)
    }

    pub fn response_url_of(&self, id: &str) -> Option<String> {
        self.response_urls.get(id).map(|r| r.url.clone())
    }

    // ----- Web API methods -----

    fn channel_exists(&self, channel: &str) -> Result<(), Refusal> {
        if self.channels.contains_key(channel) {
            Ok(())
        } else {
            Err(Refusal::state("channel_not_found"))
        }
    }

    /// `text` and `blocks` of a message-like request, checked; records a warning problem
    /// for blocks without the fallback text.
    fn message_content(
        &mut self,
        method: &str,
        text: Option<String>,
        blocks: Option<Value>,
        required: bool,
    ) -> Result<(Option<String>, Option<Value>), Refusal> {
        if let Some(blocks) = &blocks {
            let problems = blockkit::check_blocks(blocks, Surface::Message, "/blocks");
            if !problems.is_empty() {
                let messages = problems.into_iter().map(|p| format!("[ERROR] {p}")).collect();
                return Err(Refusal::contract("invalid_blocks", messages));
            }
        }
        let has_text = text.as_deref().is_some_and(|t| !t.is_empty());
        let has_blocks = blocks.as_ref().and_then(Value::as_array).is_some_and(|b| !b.is_empty());
        if required && !has_text && !has_blocks {
            return Err(Refusal::contract("no_text", vec!["[ERROR] a message needs text or blocks".to_string()]));
        }
        if text.as_deref().is_some_and(|t| t.chars().count() > MAX_TEXT) {
            return Err(Refusal::contract(
                "msg_too_long",
                vec![format!("[ERROR] text is longer than {MAX_TEXT} characters")],
            ));
        }
        if has_blocks && !has_text {
            self.problem(
                method,
                None,
                vec!["blocks without a top-level `text`: Slack uses it for notifications and screen readers, \
                      and its SDKs warn without it"
                    .to_string()],
            );
        }
        Ok((text, blocks))
    }

    /// The parent a reply goes under: `thread_ts` must name a message in the channel; a
    /// reply's ts works in Slack but is a mistake (the document says to use the parent's).
    fn thread_parent(
        &mut self,
        method: &str,
        channel: &str,
        thread_ts: Option<String>,
    ) -> Result<Option<String>, Refusal> {
        let Some(thread_ts) = thread_ts else { return Ok(None) };
        let parent = match self.message(channel, &thread_ts) {
            Some(m) if !m.deleted => m.thread_ts.clone(),
            _ => return Err(Refusal::state("thread_not_found")),
        };
        match parent {
            None => Ok(Some(thread_ts)),
            Some(parent) => {
                self.problem(
                    method,
                    None,
                    vec![format!(
                        "thread_ts {thread_ts} is a reply; use its parent's ts ({parent}) as the document says"
                    )],
                );
                Ok(Some(parent))
            }
        }
    }

    fn store_message(
        &mut self,
        channel: &str,
        text: Option<String>,
        blocks: Option<Value>,
        thread_ts: Option<String>,
        reply_broadcast: bool,
        via: &str,
    ) -> SlackMessage {
        let ts = self.next_ts();
        let version =
            MessageVersion { text: text.clone(), blocks: blocks.clone(), via: via.to_string(), at: SystemTime::now() };
        let message = SlackMessage {
            channel: channel.to_string(),
            ts,
            thread_ts,
            user: self.config.bot_user_id.clone(),
            bot: true,
            text,
            blocks,
            reply_broadcast,
            versions: vec![version],
            deleted: false,
        };
        self.messages.push(message.clone());
        message
    }

    pub fn post_message(&mut self, args: &Args) -> Reply {
        let method = "chat.postMessage";
        let channel = args.str("channel").unwrap_or_default();
        self.channel_exists(&channel)?;
        let blocks = args.json("blocks").and_then(Result::ok);
        let (text, blocks) = self.message_content(method, args.str("text"), blocks, true)?;
        let thread_ts = self.thread_parent(method, &channel, args.str("thread_ts"))?;
        let broadcast = args.bool("reply_broadcast").unwrap_or(false) && thread_ts.is_some();
        let message = self.store_message(&channel, text, blocks, thread_ts, broadcast, method);
        Ok(json!({"ok": true, "channel": channel, "ts": message.ts, "message": message.to_json(&self.config)}))
    }

    pub fn update(&mut self, args: &Args) -> Reply {
        let method = "chat.update";
        let channel = args.str("channel").unwrap_or_default();
        self.channel_exists(&channel)?;
        let ts = args.str("ts").unwrap_or_default();
        match self.message(&channel, &ts) {
            Some(m) if !m.deleted && m.bot => {}
            Some(m) if !m.deleted => return Err(Refusal::state("cant_update_message")),
            _ => return Err(Refusal::state("message_not_found")),
        }
        let blocks = args.json("blocks").and_then(Result::ok);
        if args.str("text").is_none() && blocks.is_none() && !args.has("attachments") {
            return Err(Refusal::contract(
                "no_text",
                vec!["[ERROR] chat.update needs text, blocks or attachments".to_string()],
            ));
        }
        let (text, blocks) = self.message_content(method, args.str("text"), blocks, false)?;
        let message = self.message_mut(&channel, &ts).expect("checked above");
        // Slack keeps what the update leaves out.
        if text.is_some() {
            message.text = text;
        }
        if blocks.is_some() {
            message.blocks = blocks;
        }
        message.versions.push(MessageVersion {
            text: message.text.clone(),
            blocks: message.blocks.clone(),
            via: method.to_string(),
            at: SystemTime::now(),
        });
        let text = message.text.clone().unwrap_or_default();
        let user = message.user.clone();
        // The document types the answer's `message.blocks` as an object; Slack sends the
        // array. The fake leaves it out rather than contradict either.
        Ok(json!({"ok": true, "channel": channel, "ts": ts, "text": text, "message": {"text": text, "user": user}}))
    }

    pub fn post_ephemeral(&mut self, args: &Args) -> Reply {
        let method = "chat.postEphemeral";
        let channel = args.str("channel").unwrap_or_default();
        self.channel_exists(&channel)?;
        let user = args.str("user").unwrap_or_default();
        if let Some(members) = &self.channels[&channel].members {
            if !members.contains(&user) {
                return Err(Refusal::state("user_not_in_channel"));
            }
        }
        let blocks = args.json("blocks").and_then(Result::ok);
        let (text, blocks) = self.message_content(method, args.str("text"), blocks, true)?;
        let thread_ts = self.thread_parent(method, &channel, args.str("thread_ts"))?;
        let message_ts = self.next_ts();
        self.ephemerals.push(Ephemeral {
            channel,
            user,
            text,
            blocks,
            thread_ts,
            message_ts: message_ts.clone(),
            via: method.to_string(),
        });
        Ok(json!({"ok": true, "message_ts": message_ts}))
    }

    pub fn views_open(&mut self, args: &Args) -> Reply {
        let trigger_id = args.str("trigger_id").unwrap_or_default();
        let lifetime = self.config.trigger_lifetime;
        let user = match self.triggers.get(&trigger_id) {
            None => return Err(Refusal::state("invalid_trigger_id")),
            Some(t) if t.used || t.created.elapsed() > lifetime => return Err(Refusal::state("expired_trigger_id")),
            Some(t) => t.user.clone(),
        };
        let Some(Ok(view)) = args.json("view") else {
            return Err(Refusal::contract("invalid_arguments", vec!["[ERROR] `view` must be a JSON object".into()]));
        };
        let problems = blockkit::check_view(&view, "/view");
        if !problems.is_empty() {
            let messages = problems.into_iter().map(|p| format!("[ERROR] {p}")).collect();
            return Err(Refusal::contract("invalid_arguments", messages));
        }
        self.triggers.get_mut(&trigger_id).expect("looked up above").used = true;
        let n = self.next();
        let id = format!("V0FAKE{n:05}");
        let mut answered = view.clone();
        let fields = json!({
            "id": id,
            "team_id": self.config.team_id,
            "state": {"values": {}},
            "hash": format!("{}.{n:08x}", unix_seconds()),
            "previous_view_id": null,
            "root_view_id": id,
            "app_id": self.config.app_id,
            "app_installed_team_id": self.config.team_id,
            "bot_id": self.config.bot_id,
        });
        for (key, value) in fields.as_object().expect("an object") {
            answered[key] = value.clone();
        }
        for (key, default) in [
            ("private_metadata", json!("")),
            ("callback_id", json!("")),
            ("external_id", json!("")),
            ("clear_on_close", json!(false)),
            ("notify_on_close", json!(false)),
        ] {
            if answered.get(key).is_none() {
                answered[key] = default;
            }
        }
        self.views.push(OpenedView { id, trigger_id, user, view: answered.clone() });
        Ok(json!({"ok": true, "view": answered}))
    }

    pub fn usergroup_users(&mut self, args: &Args) -> Reply {
        let group = args.str("usergroup").unwrap_or_default();
        match self.usergroups.get(&group) {
            Some(users) => Ok(json!({"ok": true, "users": users})),
            None => Err(Refusal::state("no_such_subteam")),
        }
    }

    pub fn auth_test(&self) -> Reply {
        let c = &self.config;
        Ok(json!({
            "ok": true,
            "url": format!("https://{}.slack.com/", c.team_domain),
            "team": c.team_name,
            "user": c.bot_name,
            "team_id": c.team_id,
            "user_id": c.bot_user_id,
            "bot_id": c.bot_id,
            "is_enterprise_install": false,
        }))
    }

    pub fn connections_open(&mut self) -> Reply {
        let ticket = uuid::Uuid::new_v4().to_string();
        self.tickets.insert(ticket.clone(), false);
        Ok(json!({"ok": true, "url": format!("ws://127.0.0.1:{}/socket?ticket={ticket}", self.port)}))
    }

    /// Spends a Socket Mode ticket; false when unknown or already used.
    pub fn use_ticket(&mut self, ticket: &str) -> bool {
        match self.tickets.get_mut(ticket) {
            Some(used) if !*used => {
                *used = true;
                true
            }
            _ => false,
        }
    }

    // ----- response URLs -----

    /// A post to a response URL: `(status, answer)`. Records the post; a contract breach
    /// is also a problem.
    pub fn response_url_post(&mut self, id: &str, body: Result<Value, String>) -> (u16, Value) {
        let url = self.response_url_of(id).unwrap_or_else(|| format!("http://127.0.0.1:{}/response/{id}", self.port));
        let recorded_body = body.clone().unwrap_or_else(Value::String);
        let (status, answer) = match self.apply_response_url(id, body) {
            Ok(()) => (200, json!({"ok": true})),
            Err((status, refusal)) => {
                if refusal.problem {
                    self.problem("response_url", Some(&refusal.error), refusal.messages.clone());
                }
                (status, refusal.body())
            }
        };
        let error = answer.get("error").and_then(Value::as_str).map(str::to_string);
        self.response_posts.push(ResponseUrlPost { url, body: recorded_body, status, error, at: SystemTime::now() });
        (status, answer)
    }

    // Statuses and error names for response URLs are not in Slack's reference; the fake
    // answers 404 for a URL that is unknown, used up or expired, and 400 for a bad body.
    fn apply_response_url(&mut self, id: &str, body: Result<Value, String>) -> Result<(), (u16, Refusal)> {
        let max_uses = self.config.response_url_uses;
        let lifetime = self.config.response_url_lifetime;
        let Some(url) = self.response_urls.get(id) else {
            return Err((404, Refusal::contract("invalid_url", vec!["no such response_url".into()])));
        };
        if url.created.elapsed() > lifetime {
            return Err((404, Refusal::state("expired_url")));
        }
        if url.uses >= max_uses {
            return Err((
                404,
                Refusal::contract(
                    "used_url",
                    vec![format!("a response_url takes at most {max_uses} posts; this was one more")],
                ),
            ));
        }
        let (channel, user, original) = (url.channel.clone(), url.user.clone(), url.message_ts.clone());
        let body = body.map_err(|why| (400, Refusal::contract("invalid_payload", vec![why])))?;
        let Some(map) = body.as_object() else {
            return Err((400, Refusal::contract("invalid_payload", vec!["the body must be a JSON object".into()])));
        };
        let mut messages = Vec::new();
        let allowed = [
            "text",
            "blocks",
            "response_type",
            "replace_original",
            "delete_original",
            "thread_ts",
            "mrkdwn",
            "unfurl_links",
            "unfurl_media",
        ];
        for (key, value) in map {
            let fine = match key.as_str() {
                "text" | "thread_ts" => value.is_string(),
                "blocks" => value.is_array(),
                "response_type" => matches!(value.as_str(), Some("ephemeral" | "in_channel")),
                k if allowed.contains(&k) => value.is_boolean(),
                _ => {
                    messages.push(format!("[ERROR] unknown field `{key}`"));
                    continue;
                }
            };
            if !fine {
                messages.push(format!("[ERROR] `{key}` has the wrong type or value: {value}"));
            }
        }
        if !messages.is_empty() {
            return Err((400, Refusal::contract("invalid_arguments", messages)));
        }
        let flag = |key: &str| map.get(key).and_then(Value::as_bool).unwrap_or(false);
        let text = map.get("text").and_then(Value::as_str).map(str::to_string);
        let blocks = map.get("blocks").cloned();
        let method = "response_url";
        let replace = flag("replace_original");
        let delete = flag("delete_original");
        if (replace || delete) && original.is_none() {
            return Err((
                400,
                Refusal::contract(
                    "invalid_arguments",
                    vec!["[ERROR] this response_url came with a slash command: there is no original message".into()],
                ),
            ));
        }
        if delete {
            let ts = original.expect("checked above");
            let Some(message) = self.message_mut(&channel, &ts) else {
                return Err((404, Refusal::state("message_not_found")));
            };
            message.deleted = true;
        } else if replace {
            let (text, blocks) = self.message_content(method, text, blocks, true).map_err(|r| (400, r))?;
            let ts = original.expect("checked above");
            let Some(message) = self.message_mut(&channel, &ts) else {
                return Err((404, Refusal::state("message_not_found")));
            };
            message.text = text;
            message.blocks = blocks;
            message.versions.push(MessageVersion {
                text: message.text.clone(),
                blocks: message.blocks.clone(),
                via: method.to_string(),
                at: SystemTime::now(),
            });
        } else {
            let (text, blocks) = self.message_content(method, text, blocks, true).map_err(|r| (400, r))?;
            let thread_ts = map.get("thread_ts").and_then(Value::as_str).map(str::to_string);
            let thread_ts = self.thread_parent(method, &channel, thread_ts).map_err(|r| (404, r))?;
            if map.get("response_type").and_then(Value::as_str) == Some("in_channel") {
                self.store_message(&channel, text, blocks, thread_ts, false, method);
            } else {
                let message_ts = self.next_ts();
                self.ephemerals.push(Ephemeral {
                    channel,
                    user,
                    text,
                    blocks,
                    thread_ts,
                    message_ts,
                    via: method.to_string(),
                });
            }
        }
        self.response_urls.get_mut(id).expect("looked up above").uses += 1;
        Ok(())
    }
}
