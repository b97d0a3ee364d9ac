//! What Slack sends to an app: slash commands (form fields over HTTP, a JSON object over
//! Socket Mode) and interaction payloads (`payload=<json>` over HTTP). The fields follow
//! Slack's reference pages for slash commands, `block_actions` and `view_submission`.
//!
//! `FakeSlack::slash_command`, `click` and `view_submission` fill these from the fake's
//! state (a fresh `trigger_id` and `response_url` the fake will honour, the clicked message
//! as stored); the structs are public so a test can also build or alter one by hand.

use serde_json::{json, Value};

/// Someone in the workspace who runs commands and clicks buttons.
#[derive(Clone, Debug, PartialEq)]
pub struct SlackUser {
    pub id: String,
    pub name: String,
}

impl SlackUser {
    pub fn new(id: &str, name: &str) -> Self {
        SlackUser { id: id.to_string(), name: name.to_string() }
    }

    fn to_json(&self, team_id: &str) -> Value {
        json!({"id": self.id, "username": self.name, "name": self.name, "team_id": team_id})
    }
}

/// `application/x-www-form-urlencoded` text of the fields, in order.
pub fn form_encode<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        out.append_pair(name, value);
    }
    out.finish()
}

/// The body of an interaction request: `payload=<urlencoded JSON>`.
pub fn form_payload(payload: &Value) -> String {
    form_encode([("payload", payload.to_string().as_str())])
}

/// A slash command invocation.
#[derive(Clone, Debug, PartialEq)]
pub struct SlashCommand {
    /// The deprecated verification token, which Slack still sends; apps verify signatures.
    pub token: String,
    pub team_id: String,
    pub team_domain: String,
    pub channel_id: String,
    pub channel_name: String,
    pub user_id: String,
    pub user_name: String,
    /// With its slash: `/release`.
    pub command: String,
    pub text: String,
    pub api_app_id: String,
    pub response_url: String,
    pub trigger_id: String,
}

impl SlashCommand {
    /// The fields in the order Slack sends them.
    pub fn fields(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("token", &self.token),
            ("team_id", &self.team_id),
            ("team_domain", &self.team_domain),
            ("channel_id", &self.channel_id),
            ("channel_name", &self.channel_name),
            ("user_id", &self.user_id),
            ("user_name", &self.user_name),
            ("command", &self.command),
            ("text", &self.text),
            ("api_app_id", &self.api_app_id),
            ("is_enterprise_install", "false"),
            ("response_url", &self.response_url),
            ("trigger_id", &self.trigger_id),
        ]
    }

    /// The HTTP body Slack posts to the command's request URL.
    pub fn to_form(&self) -> String {
        form_encode(self.fields())
    }

    /// The `payload` of a Socket Mode `slash_commands` envelope: the same fields as JSON.
    pub fn to_json(&self) -> Value {
        Value::Object(self.fields().into_iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect())
    }
}

/// One action of a `block_actions` payload (a button click).
#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    pub action_id: String,
    pub block_id: String,
    /// The button's `value`, when it has one.
    pub value: Option<String>,
    /// The button's text, as Slack echoes it.
    pub text: String,
    pub style: Option<String>,
    /// Unique per click; shipgate dedupes on it with the user.
    pub action_ts: String,
}

impl Action {
    fn to_json(&self) -> Value {
        let mut action = json!({
            "type": "button",
            "action_id": self.action_id,
            "block_id": self.block_id,
            "text": {"type": "plain_text", "text": self.text, "emoji": true},
            "action_ts": self.action_ts,
        });
        if let Some(value) = &self.value {
            action["value"] = json!(value);
        }
        if let Some(style) = &self.style {
            action["style"] = json!(style);
        }
        action
    }
}

/// A `block_actions` interaction: buttons clicked on a message.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockActions {
    pub user: SlackUser,
    pub team_id: String,
    pub team_domain: String,
    pub api_app_id: String,
    pub token: String,
    pub channel_id: String,
    pub channel_name: String,
    /// The message the button is on.
    pub message_ts: String,
    /// The thread the message is in, for a reply.
    pub thread_ts: Option<String>,
    pub is_ephemeral: bool,
    /// The message as Slack holds it (absent for ephemeral messages).
    pub message: Option<Value>,
    pub actions: Vec<Action>,
    pub trigger_id: String,
    pub response_url: String,
}

impl BlockActions {
    pub fn to_json(&self) -> Value {
        let mut container = json!({
            "type": "message",
            "message_ts": self.message_ts,
            "channel_id": self.channel_id,
            "is_ephemeral": self.is_ephemeral,
        });
        if let Some(thread_ts) = &self.thread_ts {
            container["thread_ts"] = json!(thread_ts);
        }
        let mut payload = json!({
            "type": "block_actions",
            "user": self.user.to_json(&self.team_id),
            "api_app_id": self.api_app_id,
            "token": self.token,
            "container": container,
            "trigger_id": self.trigger_id,
            "team": {"id": self.team_id, "domain": self.team_domain},
            "enterprise": null,
            "is_enterprise_install": false,
            "channel": {"id": self.channel_id, "name": self.channel_name},
            "state": {"values": {}},
            "response_url": self.response_url,
            "actions": self.actions.iter().map(Action::to_json).collect::<Vec<_>>(),
        });
        if let Some(message) = &self.message {
            payload["message"] = message.clone();
        }
        payload
    }

    /// The HTTP body: `payload=<urlencoded JSON>`.
    pub fn to_form(&self) -> String {
        form_payload(&self.to_json())
    }
}

/// A `view_submission` interaction: a modal's submit button.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewSubmission {
    pub user: SlackUser,
    pub team_id: String,
    pub team_domain: String,
    pub api_app_id: String,
    pub token: String,
    pub trigger_id: String,
    /// The view as Slack holds it, with `state.values` filled from the inputs.
    pub view: Value,
}

impl ViewSubmission {
    pub fn to_json(&self) -> Value {
        json!({
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": self.team_domain},
            "user": self.user.to_json(&self.team_id),
            "api_app_id": self.api_app_id,
            "token": self.token,
            "trigger_id": self.trigger_id,
            "view": self.view,
            "response_urls": [],
            "is_enterprise_install": false,
            "enterprise": null,
        })
    }

    pub fn to_form(&self) -> String {
        form_payload(&self.to_json())
    }
}
