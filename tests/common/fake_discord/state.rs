//! What the fake Discord remembers, and the behaviour of each operation on it.

use super::faults::PendingFault;
use super::ratelimit::RateLimits;
use super::routes::Route;
use super::schema::{self, Problem};
use super::upload::{self, FormPart, Upload};
use chrono::{SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

/// Discord's epoch (2015-01-01), the origin of snowflake timestamps.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
/// "checked for uniqueness in the past few minutes" (create message, `enforce_nonce`).
const NONCE_WINDOW: Duration = Duration::from_secs(5 * 60);
/// The interaction token then stays valid for follow-ups for 15 minutes.
pub const INTERACTION_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Message flags.
const FLAG_HAS_THREAD: u64 = 1 << 5;
const FLAG_EPHEMERAL: u64 = 1 << 6;
const FLAG_LOADING: u64 = 1 << 7;

/// Who the fake is: the bot's token and identity, its application, its guild.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    pub token: String,
    pub application_id: String,
    pub bot_user_id: String,
    pub bot_username: String,
    /// The guild `add_text_channel` puts channels in; the bot is a member.
    pub guild_id: String,
    /// Sent in the gateway's HELLO.
    pub heartbeat_interval_ms: u64,
    /// Discord wants the initial interaction response within 3 s; a later one gets
    /// 10062 Unknown interaction. Tests may shorten it to check that path quickly.
    pub initial_response_deadline: Duration,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            token: "fake-bot-token".to_string(),
            application_id: "1100000000000000001".to_string(),
            bot_user_id: "1100000000000000001".to_string(),
            bot_username: "shipgate".to_string(),
            guild_id: "1200000000000000001".to_string(),
            heartbeat_interval_ms: 41_250,
            initial_response_deadline: Duration::from_secs(3),
        }
    }
}

/// A Discord error answer: status and `{"message", "code", ...}` body.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub status: u16,
    pub body: Value,
}

impl ApiError {
    pub fn new(status: u16, code: u64, message: &str) -> Self {
        ApiError { status, body: json!({"message": message, "code": code}) }
    }
    pub fn unauthorized() -> Self {
        Self::new(401, 0, "401: Unauthorized")
    }
    pub fn unknown_channel() -> Self {
        Self::new(404, 10003, "Unknown Channel")
    }
    pub fn unknown_message() -> Self {
        Self::new(404, 10008, "Unknown Message")
    }
    pub fn unknown_webhook() -> Self {
        Self::new(404, 10015, "Unknown Webhook")
    }
    pub fn unknown_interaction() -> Self {
        Self::new(404, 10062, "Unknown interaction")
    }
    pub fn missing_access() -> Self {
        Self::new(403, 50001, "Missing Access")
    }
    pub fn empty_message() -> Self {
        Self::new(400, 50006, "Cannot send an empty message")
    }
    pub fn wrong_channel_type() -> Self {
        Self::new(400, 50024, "Cannot execute action on this channel type")
    }
    pub fn invalid_webhook_token() -> Self {
        Self::new(401, 50027, "Invalid Webhook Token")
    }
    pub fn already_acknowledged() -> Self {
        Self::new(400, 40060, "Interaction has already been acknowledged.")
    }
    pub fn thread_exists() -> Self {
        Self::new(400, 160004, "A thread has already been created for this message")
    }
    pub fn invalid_form(problems: &[Problem]) -> Self {
        ApiError {
            status: 400,
            body: json!({"message": "Invalid Form Body", "code": 50035, "errors": schema::discord_errors(problems)}),
        }
    }
    /// Whether the error means the request itself broke the API contract (a bug in the
    /// caller), as opposed to a state the caller could not know about.
    pub fn is_contract_violation(&self) -> bool {
        self.body["code"] == 50035
    }
}

/// `Ok((status, body))`; 204 answers have no body.
pub type Reply = Result<(u16, Option<Value>), ApiError>;

/// A request as the fake received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// The full path, e.g. `/api/v10/channels/1/messages`.
    pub path: String,
    pub query: Option<String>,
    /// `None` for a path that is no operation the fake knows.
    pub route: Option<Route>,
    /// The JSON body (an upload's `payload_json`); a body that is not JSON is kept as a string.
    pub body: Option<Value>,
    /// The file parts of an upload.
    pub files: Vec<RecordedFile>,
    /// `authorization`, `content-type`, `user-agent`, `x-audit-log-reason`.
    pub headers: BTreeMap<String, String>,
    pub at: SystemTime,
    /// The answer's status; `None` when the connection was dropped instead.
    pub status: Option<u16>,
}

/// A file part of an upload, as it came.
#[derive(Clone, Debug)]
pub struct RecordedFile {
    /// `files[0]`, ...
    pub part: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub size: usize,
}

/// A file a message carries.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredAttachment {
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub size: usize,
    pub bytes: Vec<u8>,
}

/// A request that broke the API contract.
#[derive(Clone, Debug)]
pub struct Violation {
    pub method: String,
    pub path: String,
    pub problems: Vec<String>,
}

struct Channel {
    kind: u64,
    guild_id: String,
    messages: Vec<Value>,
    /// nonce (as JSON text) -> message id and when it was used.
    nonces: HashMap<String, (String, Instant)>,
    /// The thread object, for threads.
    thread: Option<Value>,
}

struct Interaction {
    token: String,
    application_id: String,
    kind: u64,
    channel_id: Option<String>,
    guild_id: Option<String>,
    /// The message a component sat on.
    message: Option<Value>,
    created: Instant,
    callbacks: Vec<Value>,
    /// (channel id, message id) of the original response, once there is one.
    original: Option<(String, String)>,
    webhooks: Vec<(Route, Value)>,
}

pub struct State {
    pub config: FakeConfig,
    pub port: u16,
    last_snowflake: u64,
    guilds: HashSet<String>,
    channels: HashMap<String, Channel>,
    thread_order: Vec<String>,
    commands: HashMap<(String, Option<String>), Vec<Value>>,
    interactions: HashMap<String, Interaction>,
    /// The bytes of every uploaded file, by attachment id.
    files: HashMap<String, Vec<u8>>,
    pub requests: Vec<RecordedRequest>,
    pub violations: Vec<Violation>,
    pub invalid_requests: u64,
    pub rate: RateLimits,
    pub faults: Vec<PendingFault>,
    pub down: bool,
}

fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// Request bodies may carry `null` for "not set"; Discord's answers leave such fields out.
fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), strip_nulls(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

/// Discord numbers a message's components depth first from 1 when the request gives no `id`.
fn number_components(components: &Value) -> Value {
    fn walk(value: &mut Value, next: &mut u64) {
        if let Value::Object(map) = value {
            if map.get("type").is_some_and(Value::is_u64) {
                if !map.get("id").is_some_and(Value::is_u64) {
                    map.insert("id".to_string(), json!(*next));
                }
                *next += 1;
            }
            for child in map.values_mut() {
                walk(child, next);
            }
        } else if let Value::Array(items) = value {
            for item in items {
                walk(item, next);
            }
        }
    }
    let mut out = strip_nulls(components);
    let mut next = 1;
    if let Value::Array(items) = &mut out {
        for item in items {
            walk(item, &mut next);
        }
    }
    out
}

fn normalize_embeds(embeds: &Value) -> Value {
    let mut out = strip_nulls(embeds);
    if let Value::Array(items) = &mut out {
        for embed in items.iter_mut().filter_map(Value::as_object_mut) {
            embed.entry("type").or_insert_with(|| json!("rich"));
            if let Some(Value::Array(fields)) = embed.get_mut("fields") {
                for field in fields.iter_mut().filter_map(Value::as_object_mut) {
                    field.entry("inline").or_insert(json!(false));
                }
            }
        }
    }
    out
}

/// Whether a create carries something to show (Discord refuses an empty message).
fn has_content(body: &Value) -> bool {
    let non_empty = |key: &str| body.get(key).and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    body.get("content").and_then(Value::as_str).is_some_and(|s| !s.is_empty())
        || non_empty("embeds")
        || non_empty("components")
        || non_empty("sticker_ids")
        || non_empty("attachments")
        || body.get("poll").is_some_and(|p| !p.is_null())
}

/// Which callback types Discord accepts for which interaction types.
fn callback_allowed(interaction_kind: u64, callback_kind: u64, has_message: bool) -> bool {
    match interaction_kind {
        1 => callback_kind == 1,
        2 => matches!(callback_kind, 4 | 5 | 9 | 12),
        3 => matches!(callback_kind, 4..=7 | 9 | 12),
        4 => callback_kind == 8,
        5 => matches!(callback_kind, 4 | 5) || (has_message && matches!(callback_kind, 6 | 7)),
        _ => false,
    }
}

impl State {
    pub fn new(config: FakeConfig, port: u16) -> Self {
        let mut guilds = HashSet::new();
        guilds.insert(config.guild_id.clone());
        State {
            config,
            port,
            last_snowflake: 0,
            guilds,
            channels: HashMap::new(),
            thread_order: Vec::new(),
            commands: HashMap::new(),
            interactions: HashMap::new(),
            files: HashMap::new(),
            requests: Vec::new(),
            violations: Vec::new(),
            invalid_requests: 0,
            rate: RateLimits::default(),
            faults: Vec::new(),
            down: false,
        }
    }

    /// A fresh snowflake: milliseconds since Discord's epoch in the top bits, and always
    /// greater than the previous one.
    pub fn snowflake(&mut self) -> String {
        let ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).expect("the clock is after 1970").as_millis()
            as u64;
        let candidate = ms.saturating_sub(DISCORD_EPOCH_MS) << 22;
        self.last_snowflake = candidate.max(self.last_snowflake + 1);
        self.last_snowflake.to_string()
    }

    pub fn bot_user(&self) -> Value {
        json!({
            "id": self.config.bot_user_id,
            "username": self.config.bot_username,
            "discriminator": "0",
            "avatar": null,
            "global_name": null,
            "public_flags": 0,
            "flags": 0,
            "bot": true,
            "primary_guild": null,
        })
    }

    // ----- seeding and inspection -----

    pub fn add_guild(&mut self, guild_id: &str) {
        self.guilds.insert(guild_id.to_string());
    }

    pub fn add_text_channel(&mut self, guild_id: &str, channel_id: &str) {
        self.guilds.insert(guild_id.to_string());
        self.channels.entry(channel_id.to_string()).or_insert_with(|| Channel {
            kind: 0,
            guild_id: guild_id.to_string(),
            messages: Vec::new(),
            nonces: HashMap::new(),
            thread: None,
        });
    }

    pub fn messages(&self, channel_id: &str) -> Vec<Value> {
        self.channels.get(channel_id).map(|c| c.messages.clone()).unwrap_or_default()
    }

    pub fn message(&self, channel_id: &str, message_id: &str) -> Option<Value> {
        self.channels.get(channel_id)?.messages.iter().find(|m| m["id"] == message_id).cloned()
    }

    pub fn attachments(&self, channel_id: &str, message_id: &str) -> Vec<StoredAttachment> {
        let Some(message) = self.message(channel_id, message_id) else {
            return Vec::new();
        };
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        message["attachments"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|a| StoredAttachment {
                        id: text(&a["id"]),
                        filename: text(&a["filename"]),
                        content_type: text(&a["content_type"]),
                        size: a["size"].as_u64().unwrap_or(0) as usize,
                        bytes: self.files.get(a["id"].as_str().unwrap_or_default()).cloned().unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn threads(&self) -> Vec<Value> {
        self.thread_order.iter().filter_map(|id| self.channels.get(id)?.thread.clone()).collect()
    }

    pub fn commands(&self, application_id: &str, guild_id: Option<&str>) -> Vec<Value> {
        self.commands.get(&(application_id.to_string(), guild_id.map(str::to_string))).cloned().unwrap_or_default()
    }

    pub fn interaction_callbacks(&self, interaction_id: &str) -> Vec<Value> {
        self.interactions.get(interaction_id).map(|i| i.callbacks.clone()).unwrap_or_default()
    }

    pub fn interaction_webhooks(&self, interaction_id: &str) -> Vec<(Route, Value)> {
        self.interactions.get(interaction_id).map(|i| i.webhooks.clone()).unwrap_or_default()
    }

    pub fn command_id(&self, name: &str) -> Option<String> {
        self.commands.values().flatten().find(|c| c["name"] == name).and_then(|c| c["id"].as_str().map(str::to_string))
    }

    /// Remembers an interaction so that its callback and webhooks are accepted, as Discord
    /// knows every interaction it sent.
    pub fn register_interaction(&mut self, interaction: &Value) {
        let text = |v: &Value| v.as_str().map(str::to_string);
        let id = text(&interaction["id"]).expect("an interaction has a string id");
        let channel_id = text(&interaction["channel_id"]).or_else(|| text(&interaction["channel"]["id"]));
        let guild_id = text(&interaction["guild_id"]);
        if let (Some(channel), Some(guild)) = (&channel_id, &guild_id) {
            // The interaction happened there, so the channel exists.
            self.add_text_channel(guild, channel);
        }
        self.interactions.insert(
            id,
            Interaction {
                token: text(&interaction["token"]).expect("an interaction has a token"),
                application_id: text(&interaction["application_id"])
                    .unwrap_or_else(|| self.config.application_id.clone()),
                kind: interaction["type"].as_u64().expect("an interaction has a numeric type"),
                channel_id,
                guild_id,
                message: interaction.get("message").filter(|m| m.is_object()).cloned(),
                created: Instant::now(),
                callbacks: Vec::new(),
                original: None,
                webhooks: Vec::new(),
            },
        );
    }

    pub fn violation(&mut self, method: &str, path: &str, problems: Vec<String>) {
        self.violations.push(Violation { method: method.to_string(), path: path.to_string(), problems });
    }

    // ----- messages -----

    fn build_message(&mut self, channel_id: &str, body: &Value, extra: Map<String, Value>) -> Value {
        let mut message = json!({
            "id": self.snowflake(),
            "channel_id": channel_id,
            "type": 0,
            "content": body.get("content").and_then(Value::as_str).unwrap_or(""),
            "author": self.bot_user(),
            "timestamp": now_rfc3339(),
            "edited_timestamp": null,
            "tts": body.get("tts").and_then(Value::as_bool).unwrap_or(false),
            "mention_everyone": false,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": normalize_embeds(body.get("embeds").unwrap_or(&json!([]))),
            "components": number_components(body.get("components").unwrap_or(&json!([]))),
            "pinned": false,
            "flags": body.get("flags").and_then(Value::as_u64).unwrap_or(0),
        });
        if message["embeds"].is_null() {
            message["embeds"] = json!([]);
        }
        if message["components"].is_null() {
            message["components"] = json!([]);
        }
        if let Some(nonce) = body.get("nonce").filter(|n| !n.is_null()) {
            message["nonce"] = nonce.clone();
        }
        if let Value::Object(map) = &mut message {
            map.extend(extra);
        }
        message
    }

    /// Appends to a channel, keeping a thread's counters in step.
    fn push_message(&mut self, channel_id: &str, message: Value) {
        let channel = self.channels.get_mut(channel_id).expect("the caller checked the channel");
        if let Some(thread) = &mut channel.thread {
            thread["last_message_id"] = message["id"].clone();
            for key in ["message_count", "total_message_sent"] {
                thread[key] = json!(thread[key].as_u64().unwrap_or(0) + 1);
            }
        }
        channel.messages.push(message);
    }

    pub fn delete_message(&mut self, channel_id: &str, message_id: &str) {
        let channel = self.channels.get_mut(channel_id).unwrap_or_else(|| panic!("no channel {channel_id}"));
        let before = channel.messages.len();
        channel.messages.retain(|m| m["id"] != message_id);
        assert_eq!(channel.messages.len() + 1, before, "no message {message_id} in {channel_id}");
    }

    fn message_mut(&mut self, channel_id: &str, message_id: &str) -> Result<&mut Value, ApiError> {
        let channel = self.channels.get_mut(channel_id).ok_or_else(ApiError::unknown_channel)?;
        channel.messages.iter_mut().find(|m| m["id"] == message_id).ok_or_else(ApiError::unknown_message)
    }

    pub fn create_message(&mut self, channel_id: &str, body: &Value, parts: &[FormPart]) -> Reply {
        if !self.channels.contains_key(channel_id) {
            return Err(ApiError::unknown_channel());
        }
        let uploads = upload::uploads(parts, body, &[]).map_err(|problems| ApiError::invalid_form(&problems))?;
        let filenames: Vec<String> = uploads.iter().map(|u| u.filename.clone()).collect();
        let unresolved = upload::unresolved_attachment_links(body, &filenames);
        if !unresolved.is_empty() {
            return Err(ApiError::invalid_form(&unresolved));
        }
        if !has_content(body) {
            return Err(ApiError::empty_message());
        }
        let nonce = body.get("nonce").filter(|n| !n.is_null()).map(Value::to_string);
        if let (Some(nonce), Some(true)) = (&nonce, body.get("enforce_nonce").and_then(Value::as_bool)) {
            let channel = &self.channels[channel_id];
            if let Some((id, at)) = channel.nonces.get(nonce) {
                if at.elapsed() < NONCE_WINDOW {
                    // Discord answers a repeated create with the message the nonce made.
                    let existing = channel.messages.iter().find(|m| m["id"] == id.as_str()).cloned();
                    if let Some(existing) = existing {
                        return Ok((200, Some(existing)));
                    }
                }
            }
        }
        let mut message = self.build_message(channel_id, body, Map::new());
        let attachments: Vec<Value> = uploads.into_iter().map(|u| self.store_upload(channel_id, u)).collect();
        message["attachments"] = Value::Array(attachments);
        if let Some(nonce) = nonce {
            let id = message["id"].as_str().expect("ids are strings").to_string();
            let channel = self.channels.get_mut(channel_id).expect("checked above");
            channel.nonces.insert(nonce, (id, Instant::now()));
        }
        self.push_message(channel_id, message.clone());
        Ok((200, Some(message)))
    }

    /// Keeps an uploaded file and describes it as Discord's attachment object does.
    fn store_upload(&mut self, channel_id: &str, upload: Upload) -> Value {
        let id = self.snowflake();
        let url = format!("http://127.0.0.1:{}/attachments/{channel_id}/{id}/{}", self.port, upload.filename);
        let mut attachment = json!({
            "id": id,
            "filename": upload.filename,
            "size": upload.bytes.len(),
            "url": url,
            "proxy_url": url,
            "content_type": upload.content_type,
        });
        if let Some((width, height)) = upload::png_size(&upload.bytes) {
            attachment["width"] = json!(width);
            attachment["height"] = json!(height);
        }
        self.files.insert(id, upload.bytes);
        attachment
    }

    /// An edit's `attachments` list: the files the message keeps (listed by their id) and
    /// the new uploads (listed by placeholder), in the list's order. Files left out are
    /// removed; without the field the message keeps them all.
    fn listed_attachments(&mut self, channel_id: &str, existing: &Value, body: &Value, uploads: Vec<Upload>) -> Value {
        let Some(listed) = body.get("attachments") else {
            return existing.clone();
        };
        let empty = Vec::new();
        let mut uploads = uploads;
        let mut out = Vec::new();
        for entry in listed.as_array().unwrap_or(&empty) {
            let id = match &entry["id"] {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => continue,
            };
            if let Some(kept) = existing.as_array().and_then(|list| list.iter().find(|a| a["id"] == id.as_str())) {
                out.push(kept.clone());
            } else if let Some(at) = uploads.iter().position(|u| u.placeholder == id) {
                let upload = uploads.remove(at);
                out.push(self.store_upload(channel_id, upload));
            }
        }
        Value::Array(out)
    }

    /// Applies the fields present in an edit body; `null` clears a field. `attachments`
    /// is the message's new list of files, worked out by [`Self::listed_attachments`].
    fn apply_edit(message: &mut Value, body: &Value, attachments: Value) {
        message["attachments"] = attachments;
        if let Some(content) = body.get("content") {
            message["content"] = json!(content.as_str().unwrap_or(""));
        }
        if let Some(embeds) = body.get("embeds") {
            message["embeds"] = if embeds.is_null() { json!([]) } else { normalize_embeds(embeds) };
        }
        if let Some(components) = body.get("components") {
            message["components"] = if components.is_null() { json!([]) } else { number_components(components) };
        }
        if let Some(flags) = body.get("flags") {
            // Flags the message has by its nature stay; a deferred response stops loading.
            let sticky = message["flags"].as_u64().unwrap_or(0) & (FLAG_HAS_THREAD | FLAG_EPHEMERAL);
            message["flags"] = json!(flags.as_u64().unwrap_or(0) | sticky);
        } else if let Some(flags) = message["flags"].as_u64() {
            message["flags"] = json!(flags & !FLAG_LOADING);
        }
        message["edited_timestamp"] = json!(now_rfc3339());
    }

    pub fn edit_message(&mut self, channel_id: &str, message_id: &str, body: &Value, parts: &[FormPart]) -> Reply {
        let existing = self.message_mut(channel_id, message_id)?["attachments"].clone();
        let keeps: Vec<String> = existing
            .as_array()
            .map(|list| list.iter().filter_map(|a| a["id"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let uploads = upload::uploads(parts, body, &keeps).map_err(|problems| ApiError::invalid_form(&problems))?;
        let attachments = self.listed_attachments(channel_id, &existing, body, uploads);
        let filenames: Vec<String> = attachments
            .as_array()
            .map(|list| list.iter().filter_map(|a| a["filename"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let unresolved = upload::unresolved_attachment_links(body, &filenames);
        if !unresolved.is_empty() {
            return Err(ApiError::invalid_form(&unresolved));
        }
        let message = self.message_mut(channel_id, message_id)?;
        Self::apply_edit(message, body, attachments);
        Ok((200, Some(message.clone())))
    }

    pub fn get_message(&self, channel_id: &str, message_id: &str) -> Reply {
        let channel = self.channels.get(channel_id).ok_or_else(ApiError::unknown_channel)?;
        let message = channel.messages.iter().find(|m| m["id"] == message_id).ok_or_else(ApiError::unknown_message)?;
        if message["flags"].as_u64().unwrap_or(0) & FLAG_EPHEMERAL != 0 {
            // Ephemeral messages belong to one user's client; the API does not return them.
            return Err(ApiError::unknown_message());
        }
        Ok((200, Some(message.clone())))
    }

    // ----- threads -----

    fn new_thread(&mut self, id: &str, parent_id: &str, kind: u64, body: &Value) -> Value {
        let guild_id = self.channels[parent_id].guild_id.clone();
        let now = now_rfc3339();
        let mut thread = json!({
            "id": id,
            "type": kind,
            "guild_id": guild_id,
            "parent_id": parent_id,
            "owner_id": self.config.bot_user_id,
            "name": body["name"],
            "last_message_id": null,
            "flags": 0,
            "rate_limit_per_user": body.get("rate_limit_per_user").and_then(Value::as_u64).unwrap_or(0),
            "thread_metadata": {
                "archived": false,
                "archive_timestamp": now,
                "auto_archive_duration": body.get("auto_archive_duration").and_then(Value::as_u64).unwrap_or(1440),
                "locked": false,
                "create_timestamp": now,
            },
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "member": {"id": id, "user_id": self.config.bot_user_id, "join_timestamp": now, "flags": 0},
        });
        if kind == 12 {
            thread["thread_metadata"]["invitable"] =
                json!(body.get("invitable").and_then(Value::as_bool).unwrap_or(true));
        }
        self.channels.insert(
            id.to_string(),
            Channel { kind, guild_id, messages: Vec::new(), nonces: HashMap::new(), thread: Some(thread.clone()) },
        );
        self.thread_order.push(id.to_string());
        thread
    }

    pub fn create_thread_from_message(&mut self, channel_id: &str, message_id: &str, body: &Value) -> Reply {
        let channel = self.channels.get(channel_id).ok_or_else(ApiError::unknown_channel)?;
        if channel.kind != 0 && channel.kind != 5 {
            return Err(ApiError::wrong_channel_type());
        }
        // A thread started from an announcement channel is an ANNOUNCEMENT_THREAD (10).
        let kind = if channel.kind == 5 { 10 } else { 11 };
        self.message_mut(channel_id, message_id)?;
        if self.channels.contains_key(message_id) {
            return Err(ApiError::thread_exists());
        }
        // The thread's id is the id of the message it starts from.
        let thread = self.new_thread(message_id, channel_id, kind, body);
        let message = self.message_mut(channel_id, message_id)?;
        message["flags"] = json!(message["flags"].as_u64().unwrap_or(0) | FLAG_HAS_THREAD);
        message["thread"] = thread.clone();
        Ok((201, Some(thread)))
    }

    pub fn create_thread(&mut self, channel_id: &str, body: &Value) -> Reply {
        let channel = self.channels.get(channel_id).ok_or_else(ApiError::unknown_channel)?;
        if channel.kind != 0 && channel.kind != 5 {
            return Err(ApiError::wrong_channel_type());
        }
        if body.get("message").is_some() {
            // A forum post; shipgate posts in text channels only.
            return Err(ApiError::wrong_channel_type());
        }
        let kind = body.get("type").and_then(Value::as_u64).unwrap_or(12);
        if (kind == 10) != (channel.kind == 5) {
            return Err(ApiError::wrong_channel_type());
        }
        let id = self.snowflake();
        let thread = self.new_thread(&id, channel_id, kind, body);
        Ok((201, Some(thread)))
    }

    // ----- application commands -----

    pub fn bulk_overwrite_commands(&mut self, application_id: &str, guild_id: Option<&str>, body: &Value) -> Reply {
        if application_id != self.config.application_id || guild_id.is_some_and(|g| !self.guilds.contains(g)) {
            return Err(ApiError::missing_access());
        }
        let empty = Vec::new();
        let wanted = body.as_array().unwrap_or(&empty);
        let mut seen = HashSet::new();
        let mut problems = Vec::new();
        for (i, command) in wanted.iter().enumerate() {
            let key = (command["name"].as_str().unwrap_or("").to_string(), command["type"].as_u64().unwrap_or(1));
            if !seen.insert(key) {
                problems.push(Problem {
                    path: format!("/{i}/name"),
                    code: "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    message: "Application command names must be unique".to_string(),
                });
            }
        }
        if !problems.is_empty() {
            return Err(ApiError::invalid_form(&problems));
        }
        let key = (application_id.to_string(), guild_id.map(str::to_string));
        let previous = self.commands.remove(&key).unwrap_or_default();
        let mut stored = Vec::new();
        for command in wanted {
            let kind = command["type"].as_u64().unwrap_or(1);
            // Overwriting keeps the id of a command with the same name and type.
            let id = previous
                .iter()
                .find(|p| p["name"] == command["name"] && p["type"] == kind)
                .map(|p| p["id"].clone())
                .unwrap_or_else(|| json!(self.snowflake()));
            let mut out = strip_nulls(command).as_object().cloned().unwrap_or_default();
            out.insert("id".into(), id);
            out.insert("application_id".into(), json!(application_id));
            out.insert("version".into(), json!(self.snowflake()));
            out.insert("type".into(), json!(kind));
            out.entry("description").or_insert(json!(""));
            let permissions = command.get("default_member_permissions").and_then(|p| match p {
                Value::Number(n) => Some(n.to_string()),
                Value::String(s) => Some(s.clone()),
                _ => None,
            });
            out.insert("default_member_permissions".into(), json!(permissions));
            if let Some(guild_id) = guild_id {
                out.insert("guild_id".into(), json!(guild_id));
            }
            stored.push(Value::Object(out));
        }
        self.commands.insert(key, stored.clone());
        Ok((200, Some(Value::Array(stored))))
    }

    // ----- interactions -----

    fn interaction_channel(&mut self, interaction_id: &str) -> String {
        let interaction = &self.interactions[interaction_id];
        let channel_id = interaction.channel_id.clone().unwrap_or_else(|| "0".to_string());
        let guild_id = interaction.guild_id.clone().unwrap_or_else(|| self.config.guild_id.clone());
        self.add_text_channel(&guild_id, &channel_id);
        channel_id
    }

    /// The message a component sat on, taken into the channel if the test made it up.
    fn component_message(&mut self, interaction_id: &str) -> Option<(String, String)> {
        let message = self.interactions[interaction_id].message.clone()?;
        let channel_id = message["channel_id"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| self.interaction_channel(interaction_id));
        let message_id = message["id"].as_str()?.to_string();
        if self.message(&channel_id, &message_id).is_none() {
            let guild_id =
                self.interactions[interaction_id].guild_id.clone().unwrap_or_else(|| self.config.guild_id.clone());
            self.add_text_channel(&guild_id, &channel_id);
            self.push_message(&channel_id, message);
        }
        Some((channel_id, message_id))
    }

    fn interaction_message(&mut self, interaction_id: &str, data: &Value, extra_flags: u64) -> (String, String) {
        let channel_id = self.interaction_channel(interaction_id);
        let application_id = self.interactions[interaction_id].application_id.clone();
        let mut extra = Map::new();
        extra.insert("webhook_id".into(), json!(application_id));
        extra.insert("application_id".into(), json!(application_id));
        let mut message = self.build_message(&channel_id, data, extra);
        message["flags"] = json!(message["flags"].as_u64().unwrap_or(0) | extra_flags);
        if self.interactions[interaction_id].kind == 2 {
            message["type"] = json!(20);
        }
        let id = message["id"].as_str().expect("ids are strings").to_string();
        self.push_message(&channel_id, message);
        (channel_id, id)
    }

    /// The effects of an initial response, whether it came as a callback or in the
    /// answer to an HTTP interaction.
    pub fn interaction_response(&mut self, interaction_id: &str, token: Option<&str>, body: &Value) -> Reply {
        let interaction = self.interactions.get(interaction_id).ok_or_else(ApiError::unknown_interaction)?;
        if token.is_some_and(|t| t != interaction.token) {
            return Err(ApiError::unknown_interaction());
        }
        if !interaction.callbacks.is_empty() {
            return Err(ApiError::already_acknowledged());
        }
        if interaction.created.elapsed() > self.config.initial_response_deadline {
            // Too late: Discord has already told the user the interaction failed.
            return Err(ApiError::unknown_interaction());
        }
        let kind = body["type"].as_u64().unwrap_or(0);
        if !callback_allowed(interaction.kind, kind, interaction.message.is_some()) {
            return Err(ApiError::invalid_form(&[Problem {
                path: "/type".to_string(),
                code: "INTERACTION_CALLBACK_TYPE_INVALID",
                message: format!("Callback type {kind} is not valid for interaction type {}.", interaction.kind),
            }]));
        }
        let data = body.get("data").filter(|d| d.is_object()).cloned().unwrap_or_else(|| json!({}));
        let original = match kind {
            4 => Some(self.interaction_message(interaction_id, &data, 0)),
            5 => {
                let ephemeral = data["flags"].as_u64().unwrap_or(0) & FLAG_EPHEMERAL;
                Some(self.interaction_message(interaction_id, &json!({}), ephemeral | FLAG_LOADING))
            }
            6 => self.component_message(interaction_id),
            7 => {
                let target = self.component_message(interaction_id);
                if let Some((channel_id, message_id)) = &target {
                    let existing = self.message_mut(channel_id, message_id)?["attachments"].clone();
                    let attachments = self.listed_attachments(channel_id, &existing, &data, Vec::new());
                    let message = self.message_mut(channel_id, message_id)?;
                    Self::apply_edit(message, &data, attachments);
                }
                target
            }
            _ => None,
        };
        let interaction = self.interactions.get_mut(interaction_id).expect("looked up above");
        interaction.callbacks.push(body.clone());
        interaction.original = original;
        Ok((204, None))
    }

    /// The answer to `?with_response=true`: the interaction, and the message as the
    /// `resource` for the callback types that create or update one (4 and 7).
    pub fn callback_response(&self, interaction_id: &str, body: &Value) -> Value {
        let interaction = &self.interactions[interaction_id];
        let mut summary = json!({"id": interaction_id, "type": interaction.kind});
        if let Some(channel_id) = &interaction.channel_id {
            summary["channel_id"] = json!(channel_id);
        }
        if let Some(guild_id) = &interaction.guild_id {
            summary["guild_id"] = json!(guild_id);
        }
        let mut answer = json!({});
        if let Some((channel_id, message_id)) = &interaction.original {
            if let Some(message) = self.message(channel_id, message_id) {
                let flags = message["flags"].as_u64().unwrap_or(0);
                summary["response_message_id"] = json!(message_id);
                summary["response_message_loading"] = json!(flags & FLAG_LOADING != 0);
                summary["response_message_ephemeral"] = json!(flags & FLAG_EPHEMERAL != 0);
                if matches!(body["type"].as_u64(), Some(4 | 7)) {
                    answer["resource"] = json!({"type": body["type"], "message": message});
                }
            }
        }
        answer["interaction"] = summary;
        answer
    }

    fn interaction_by_token(&self, webhook_id: &str, token: &str) -> Result<String, ApiError> {
        let (id, interaction) = self
            .interactions
            .iter()
            .find(|(_, i)| i.token == token && i.application_id == webhook_id)
            .ok_or_else(ApiError::unknown_webhook)?;
        if interaction.created.elapsed() > INTERACTION_TOKEN_LIFETIME {
            return Err(ApiError::invalid_webhook_token());
        }
        if interaction.callbacks.is_empty() {
            // Follow-ups need an initial response first.
            return Err(ApiError::unknown_webhook());
        }
        Ok(id.clone())
    }

    pub fn execute_webhook(&mut self, webhook_id: &str, token: &str, body: &Value) -> Reply {
        let id = self.interaction_by_token(webhook_id, token)?;
        if !has_content(body) {
            return Err(ApiError::empty_message());
        }
        let (channel_id, message_id) = self.interaction_message(&id, body, 0);
        self.interactions.get_mut(&id).expect("found above").webhooks.push((Route::ExecuteWebhook, body.clone()));
        Ok((200, self.message(&channel_id, &message_id)))
    }

    pub fn edit_original(&mut self, webhook_id: &str, token: &str, body: &Value) -> Reply {
        let id = self.interaction_by_token(webhook_id, token)?;
        let (channel_id, message_id) = self.interactions[&id].original.clone().ok_or_else(ApiError::unknown_message)?;
        let existing = self.message_mut(&channel_id, &message_id)?["attachments"].clone();
        let attachments = self.listed_attachments(&channel_id, &existing, body, Vec::new());
        let message = self.message_mut(&channel_id, &message_id)?;
        Self::apply_edit(message, body, attachments);
        let message = message.clone();
        self.interactions.get_mut(&id).expect("found above").webhooks.push((Route::EditOriginalResponse, body.clone()));
        Ok((200, Some(message)))
    }

    // ----- gateway and user -----

    pub fn gateway(&self) -> Value {
        json!({"url": format!("ws://127.0.0.1:{}", self.port)})
    }

    pub fn gateway_bot(&self) -> Value {
        json!({
            "url": format!("ws://127.0.0.1:{}", self.port),
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 86_400_000, "max_concurrency": 1},
        })
    }

    pub fn current_user(&self) -> Value {
        let mut user = self.bot_user();
        user["mfa_enabled"] = json!(false);
        user["locale"] = json!("en-US");
        user["verified"] = json!(true);
        user
    }
}
