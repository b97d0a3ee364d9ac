//! What the fake Slack remembers, and what each Web API method and response URL does to it.

use super::blockkit::{self, Surface};
use super::contract::Args;
use super::faults::PendingFault;
use super::ratelimit::ChannelRate;
use super::timeline::{self, Order, Window};
use super::uploads::{self, UploadBody, UploadedFile};
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
    /// The workspace's subdomain: `<team_domain>.slack.com` in auth.test's `url`, in
    /// permalinks (chat.getPermalink) and in file links.
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
    /// The Web API method (`chat.postMessage`), `response_url`, `file_upload` (a post to an
    /// upload URL), or the path of a request to nothing the fake serves.
    pub method: String,
    /// `POST`, `GET`.
    pub http_method: String,
    pub path: String,
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    /// The arguments as one JSON object (`blocks`, `view` and `files` parsed); a response
    /// URL's JSON body; for an upload, `{length, multipart, filename}` of what arrived.
    pub args: Value,
    pub raw_body: String,
    /// The answer's status (a held request is recorded with the status it ends with).
    pub status: u16,
    /// The JSON answer; `None` for an empty one (a server error, a timeout). An upload URL's
    /// text answer (`OK - 1234`) as a JSON string.
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
    /// The files a files.completeUploadExternal share carries, as Slack lists them in the
    /// message (`id`, `name`, `mimetype`, ...); empty for other messages.
    pub files: Vec<Value>,
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
        if !self.files.is_empty() {
            message["files"] = json!(self.files);
            message["upload"] = json!(true);
            message["display_as_bot"] = json!(false);
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
    /// Files reserved through files.getUploadURLExternal, in order.
    pub files: Vec<UploadedFile>,
    /// The ticket of each upload URL -> its file's id.
    upload_tickets: HashMap<String, String>,
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
            files: Vec::new(),
            upload_tickets: HashMap::new(),
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
            files: Vec::new(),
            versions: vec![version],
            deleted: false,
        });
        ts
    }

    /// A reply someone (not the bot) posted in the thread under `parent`; returns its ts.
    /// Panics when `parent` is no top-level message of the channel.
    pub fn add_user_reply(&mut self, channel: &str, parent: &str, user: &str, text: &str) -> String {
        let is_parent = self.message(channel, parent).is_some_and(|m| !m.deleted && m.thread_ts.is_none());
        assert!(is_parent, "no top-level message {parent} in {channel} to reply to");
        let ts = self.add_user_message(channel, user, text);
        self.messages.last_mut().expect("just added").thread_ts = Some(parent.to_string());
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

    pub fn delete_message(&mut self, channel: &str, ts: &str) {
        let message = self.message_mut(channel, ts).unwrap_or_else(|| panic!("no message {ts} in {channel}"));
        message.deleted = true;
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
            files: Vec::new(),
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

    // ----- reading messages back -----

    /// `limit` (0 or none: `default`; above `max`: `max`, as Slack caps it) and the decoded
    /// `cursor` (empty: the first page). A cursor the fake did not make is the client's bug.
    fn paging(args: &Args, default: usize, max: usize) -> Result<(usize, Option<u64>), Refusal> {
        let limit = args.str("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(0);
        let limit = if limit == 0 { default } else { limit.min(max) };
        let cursor = match args.str("cursor").filter(|c| !c.is_empty()) {
            None => None,
            Some(cursor) => Some(timeline::decode_cursor(&cursor).ok_or_else(|| {
                Refusal::contract(
                    "invalid_cursor",
                    vec![format!(
                        "[ERROR] cursor {cursor:?} is no next_cursor the fake gave (a `+` or `/` not URL-encoded?)"
                    )],
                )
            })?),
        };
        Ok((limit, cursor))
    }

    /// A message as conversations.history and conversations.replies list it: a parent with
    /// its thread's `reply_count`, `reply_users` and `latest_reply`, a reply with its
    /// `parent_user_id`, a broadcast reply with `subtype: thread_broadcast`. Blocks posted
    /// without a `block_id` get the one Slack would give (the fake's `fake-block-<index>`,
    /// as in interaction payloads); the others keep theirs exactly.
    fn listed(&self, message: &SlackMessage) -> Value {
        let mut out = message.to_json(&self.config);
        if let Some(blocks) = out.get_mut("blocks").and_then(Value::as_array_mut) {
            for (index, block) in blocks.iter_mut().enumerate() {
                if block.get("block_id").is_none() {
                    block["block_id"] = json!(format!("fake-block-{index}"));
                }
            }
        }
        match &message.thread_ts {
            None => {
                let replies = self.thread(&message.channel, &message.ts);
                if let Some(latest) = replies.last() {
                    let mut users: Vec<&str> = Vec::new();
                    for reply in &replies {
                        if !users.contains(&reply.user.as_str()) {
                            users.push(&reply.user);
                        }
                    }
                    out["thread_ts"] = json!(message.ts);
                    out["reply_count"] = json!(replies.len());
                    out["reply_users_count"] = json!(users.len());
                    out["reply_users"] = json!(users);
                    out["latest_reply"] = json!(latest.ts);
                    out["subscribed"] = json!(false);
                }
            }
            Some(parent) => {
                if let Some(parent) = self.message(&message.channel, parent) {
                    out["parent_user_id"] = json!(parent.user);
                }
                if message.reply_broadcast {
                    out["subtype"] = json!("thread_broadcast");
                }
            }
        }
        out
    }

    /// conversations.history: the channel's messages (replies broadcast to it included),
    /// newest first, `limit` a page (default 100, at most 999).
    pub fn history(&mut self, args: &Args) -> Reply {
        let channel = args.str("channel").unwrap_or_default();
        self.channel_exists(&channel)?;
        let (limit, cursor) = Self::paging(args, 100, 999)?;
        let window = Window::from_args(args);
        let listed: Vec<(u64, Value)> = self
            .messages_in(&channel)
            .iter()
            .rev()
            .filter_map(|m| timeline::micros(&m.ts).map(|at| (at, m)))
            .filter(|(at, _)| window.contains(*at))
            .map(|(at, m)| (at, self.listed(m)))
            .collect();
        let page = timeline::page(listed, Order::NewestFirst, cursor, limit);
        let mut body = json!({
            "ok": true,
            "messages": page.items,
            "has_more": page.next_cursor.is_some(),
            "pin_count": 0,
            "channel_actions_ts": null,
            "channel_actions_count": 0,
        });
        if let Some(next) = page.next_cursor {
            body["response_metadata"] = json!({"next_cursor": next});
        }
        Ok(body)
    }

    /// conversations.replies: the parent, then its replies oldest first, `limit` a page
    /// (default and most 1000). The parent opens the first page only; later pages go on
    /// from the cursor. (Reports differ on whether Slack repeats the parent on every page; a
    /// client that reads threads by `ts` copes with both.)
    pub fn replies(&mut self, args: &Args) -> Reply {
        let method = "conversations.replies";
        let channel = args.str("channel").unwrap_or_default();
        self.channel_exists(&channel)?;
        let ts = args.str("ts").unwrap_or_default();
        let (limit, cursor) = Self::paging(args, 1000, 1000)?;
        let target = match self.message(&channel, &ts) {
            Some(m) if !m.deleted => m.clone(),
            _ => return Err(Refusal::state("thread_not_found")),
        };
        let thread: Vec<SlackMessage> = match &target.thread_ts {
            None => std::iter::once(target.clone()).chain(self.thread(&channel, &ts)).collect(),
            Some(parent) => {
                // Slack's page says a reply's ts names its thread; Slack answers with that
                // reply alone (slackapi/bolt-python#783), and so does the fake.
                self.problem(
                    method,
                    None,
                    vec![format!(
                        "ts {ts} is a reply: Slack answers with that reply alone; use its parent's ts ({parent})"
                    )],
                );
                vec![target.clone()]
            }
        };
        let window = Window::from_args(args);
        let listed: Vec<(u64, Value)> = thread
            .iter()
            .filter_map(|m| timeline::micros(&m.ts).map(|at| (at, m)))
            .filter(|(at, _)| window.contains(*at))
            .map(|(at, m)| (at, self.listed(m)))
            .collect();
        let page = timeline::page(listed, Order::OldestFirst, cursor, limit);
        let mut body = json!({"ok": true, "messages": page.items, "has_more": page.next_cursor.is_some()});
        if let Some(next) = page.next_cursor {
            body["response_metadata"] = json!({"next_cursor": next});
        }
        Ok(body)
    }

    /// The permalink of a message: `https://<team_domain>.slack.com/archives/<channel>/p<ts
    /// without its dot>`, and for a reply `?thread_ts=<parent>&cid=<channel>` as Slack adds.
    pub fn permalink_of(&self, channel: &str, message: &SlackMessage) -> String {
        let mut link = format!(
            "https://{}.slack.com/archives/{channel}/p{}",
            self.config.team_domain,
            message.ts.replace('.', "")
        );
        if let Some(parent) = &message.thread_ts {
            link.push_str(&format!("?thread_ts={parent}&cid={channel}"));
        }
        link
    }

    pub fn get_permalink(&mut self, args: &Args) -> Reply {
        let channel = args.str("channel").unwrap_or_default();
        self.channel_exists(&channel)?;
        let ts = args.str("message_ts").unwrap_or_default();
        match self.message(&channel, &ts) {
            Some(m) if !m.deleted => {
                let permalink = self.permalink_of(&channel, m);
                Ok(json!({"ok": true, "channel": channel, "permalink": permalink}))
            }
            _ => Err(Refusal::state("message_not_found")),
        }
    }

    // ----- file uploads (uploads.rs) -----

    pub fn file(&self, id: &str) -> Option<&UploadedFile> {
        self.files.iter().find(|f| f.id == id)
    }

    /// files.getUploadURLExternal: a file id and an upload URL for `length` bytes.
    pub fn get_upload_url(&mut self, args: &Args) -> Reply {
        let filename = args.str("filename").unwrap_or_default();
        let length: u64 = args.str("length").and_then(|l| l.parse().ok()).unwrap_or(0);
        if length == 0 {
            // Slack's page: `missing_argument` "typically only occurs when the length
            // provided is 0".
            return Err(Refusal::contract(
                "missing_argument",
                vec!["[ERROR] `length` is 0: Slack takes no empty file".to_string()],
            ));
        }
        if filename.trim().is_empty() {
            // Not on Slack's page; the fake's choice of error for a nameless file.
            return Err(Refusal::contract("invalid_arguments", vec!["[ERROR] `filename` is empty".to_string()]));
        }
        let alt_txt = args.str("alt_txt");
        if alt_txt.as_deref().is_some_and(|a| a.chars().count() > 1000) {
            return Err(Refusal::contract(
                "alt_txt_too_large",
                vec!["[ERROR] `alt_txt` is longer than 1000 characters".to_string()],
            ));
        }
        let n = self.next();
        let id = format!("F0FAKE{n:05}");
        let ticket = uuid::Uuid::new_v4().simple().to_string();
        let upload_url = format!("http://127.0.0.1:{}/upload/v1/{ticket}", self.port);
        self.upload_tickets.insert(ticket, id.clone());
        self.files.push(UploadedFile {
            id: id.clone(),
            filename,
            title: None,
            length,
            alt_txt,
            upload_url: upload_url.clone(),
            created: unix_seconds(),
            bytes: Vec::new(),
            uploaded: false,
            completed: false,
            shared_to: Vec::new(),
        });
        Ok(json!({"ok": true, "upload_url": upload_url, "file_id": id}))
    }

    /// A request to the upload URL with `ticket`: `(status, text answer)`. Slack answers
    /// 200 `OK - <length>` and, its page says, something else on failure; which status for
    /// which failure is the fake's choice: 404 an unknown URL, 405 not a POST, 400 a body
    /// that is no file or not the declared length (the URL stays usable), 410 a URL already
    /// used. All but the last are the client's bugs; a used URL may be a retry after a lost
    /// answer, which the client cannot tell.
    pub fn upload_post(&mut self, ticket: &str, http_method: &str, body: Result<UploadBody, String>) -> (u16, String) {
        let target = "file_upload";
        let Some(id) = self.upload_tickets.get(ticket).cloned() else {
            let why =
                format!("no upload URL /upload/v1/{ticket}: take the upload_url files.getUploadURLExternal answered");
            self.problem(target, Some("404"), vec![why.clone()]);
            return (404, why);
        };
        if http_method != "POST" {
            let why = format!("the upload URL takes POST, not {http_method}");
            self.problem(target, Some("405"), vec![why.clone()]);
            return (405, why);
        }
        let file = self.files.iter().find(|f| f.id == id).expect("every ticket names a reserved file");
        if file.uploaded {
            return (410, format!("the upload URL of {id} was used already"));
        }
        let body = match body {
            Ok(body) => body,
            Err(why) => {
                self.problem(target, Some("400"), vec![why.clone()]);
                return (400, why);
            }
        };
        let length = body.bytes.len() as u64;
        if length != file.length {
            let why = format!(
                "{} bytes arrived for {id} ({:?}), declared {} to files.getUploadURLExternal",
                length, file.filename, file.length
            );
            self.problem(target, Some("400"), vec![why.clone()]);
            return (400, why);
        }
        let file = self.files.iter_mut().find(|f| f.id == id).expect("found above");
        file.bytes = body.bytes;
        file.uploaded = true;
        (200, format!("OK - {length}"))
    }

    /// A file as Slack describes it in a message and in files.completeUploadExternal's
    /// answer.
    fn file_json(&self, file: &UploadedFile) -> Value {
        let (mimetype, filetype, pretty_type) = uploads::kind_of(&file.filename);
        let name: String = form_urlencoded::byte_serialize(file.filename.as_bytes()).collect();
        let c = &self.config;
        json!({
            "id": file.id,
            "created": file.created,
            "timestamp": file.created,
            "name": file.filename,
            "title": file.title.clone().unwrap_or_else(|| file.filename.clone()),
            "mimetype": mimetype,
            "filetype": filetype,
            "pretty_type": pretty_type,
            "user": c.bot_user_id,
            "editable": false,
            "size": file.length,
            "mode": "hosted",
            "is_external": false,
            "external_type": "",
            "is_public": true,
            "public_url_shared": false,
            "display_as_bot": false,
            "username": "",
            "url_private": format!("https://files.slack.com/files-pri/{}-{}/{name}", c.team_id, file.id),
            "url_private_download": format!("https://files.slack.com/files-pri/{}-{}/download/{name}", c.team_id, file.id),
            "permalink": format!("https://{}.slack.com/files/{}/{}/{name}", c.team_domain, c.bot_user_id, file.id),
        })
    }

    /// files.completeUploadExternal: finishes the uploaded files and shares them as one
    /// message in `channel_id` (or each of `channels`), in `thread_ts`'s thread when given,
    /// or keeps them private without a channel. Everything is checked before anything
    /// changes.
    pub fn complete_upload(&mut self, args: &Args) -> Reply {
        let method = "files.completeUploadExternal";
        let bad = |why: String| Refusal::contract("invalid_arguments", vec![format!("[ERROR] {why}")]);
        let Some(Ok(Value::Array(entries))) = args.json("files") else {
            return Err(bad("`files` must be a JSON array".into()));
        };
        if entries.is_empty() {
            return Err(bad("`files` lists no file".into()));
        }
        let mut wanted: Vec<(String, Option<String>)> = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let Some(map) = entry.as_object() else {
                return Err(bad(format!("`files[{i}]` must be an object {{\"id\", \"title\"}}")));
            };
            // `highlight_type` is in the example of Slack's page.
            if let Some(key) = map.keys().find(|k| !matches!(k.as_str(), "id" | "title" | "highlight_type")) {
                return Err(bad(format!("unknown field `files[{i}].{key}`")));
            }
            let Some(id) = map.get("id").and_then(Value::as_str) else {
                return Err(bad(format!("`files[{i}].id` must be a string")));
            };
            let title = match map.get("title") {
                None => None,
                Some(Value::String(t)) => Some(t.clone()),
                Some(_) => return Err(bad(format!("`files[{i}].title` must be a string"))),
            };
            if wanted.iter().any(|(w, _)| w == id) {
                return Err(bad(format!("file {id} is listed twice")));
            }
            wanted.push((id.to_string(), title));
        }
        let destinations: Vec<String> = match (args.str("channel_id"), args.str("channels")) {
            (Some(_), Some(_)) => return Err(bad("give `channel_id` or `channels`, not both".into())),
            (Some(channel), None) => vec![channel],
            (None, Some(list)) => {
                list.split(',').map(str::trim).filter(|c| !c.is_empty()).map(str::to_string).collect()
            }
            (None, None) => Vec::new(),
        };
        let thread_ts = args.str("thread_ts");
        if thread_ts.is_some() && destinations.len() != 1 {
            // Slack's page: "make sure to provide only one channel when using thread_ts".
            return Err(bad(format!("`thread_ts` needs exactly one channel; {} given", destinations.len())));
        }
        for channel in &destinations {
            self.channel_exists(channel)?;
        }
        let thread_ts = match destinations.first() {
            Some(channel) => self.thread_parent(method, channel, thread_ts)?,
            None => None,
        };
        let comment = args.str("initial_comment");
        if comment.as_deref().is_some_and(|t| t.chars().count() > MAX_TEXT) {
            return Err(Refusal::contract(
                "msg_too_long",
                vec![format!("[ERROR] initial_comment is longer than {MAX_TEXT} characters")],
            ));
        }
        let mut blocks = args.json("blocks").and_then(Result::ok);
        if let Some(given) = &blocks {
            let problems = blockkit::check_blocks(given, Surface::Message, "/blocks");
            if !problems.is_empty() {
                let messages = problems.into_iter().map(|p| format!("[ERROR] {p}")).collect();
                return Err(Refusal::contract("invalid_blocks", messages));
            }
        }
        if comment.is_some() && blocks.is_some() {
            // Slack's page: "If the initial_comment field is provided, the blocks field is
            // ignored"; blocks carrying a marker would silently vanish.
            self.problem(
                method,
                None,
                vec!["initial_comment and blocks together: Slack ignores the blocks".to_string()],
            );
            blocks = None;
        }
        for (id, _) in &wanted {
            match self.file(id) {
                // Slack's page: `file_not_found`, "Could not find the file from the upload
                // ticket". For a file already completed the fake answers the same (its
                // choice: the ticket is spent); a crashed client may ask twice.
                None => return Err(Refusal::state("file_not_found")),
                Some(f) if f.completed => return Err(Refusal::state("file_not_found")),
                // Completing before the bytes arrived: the fake's reading of the same error.
                Some(f) if !f.uploaded => {
                    return Err(Refusal::contract(
                        "file_not_found",
                        vec![format!("[ERROR] file {id}: its bytes never reached the upload URL")],
                    ))
                }
                Some(_) => {}
            }
        }
        for (id, title) in &wanted {
            let file = self.files.iter_mut().find(|f| &f.id == id).expect("checked above");
            file.completed = true;
            if title.is_some() {
                file.title = title.clone();
            }
        }
        let described: Vec<Value> =
            wanted.iter().map(|(id, _)| self.file_json(self.file(id).expect("checked above"))).collect();
        for channel in &destinations {
            self.store_message(channel, comment.clone(), blocks.clone(), thread_ts.clone(), false, method);
            self.messages.last_mut().expect("just stored").files = described.clone();
            for (id, _) in &wanted {
                let file = self.files.iter_mut().find(|f| &f.id == id).expect("checked above");
                file.shared_to.push((channel.clone(), thread_ts.clone()));
            }
        }
        Ok(json!({"ok": true, "files": described}))
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
