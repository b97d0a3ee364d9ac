//! Discord interactions as shipgate reads them: only what identifies the person, the place
//! and what was asked. Both the HTTP endpoint and the gateway hand the same JSON here.

use crate::domain::text;
use serde::Deserialize;
use std::collections::BTreeMap;

/// An interaction, decoded. Unknown fields are ignored: Discord adds fields freely.
#[derive(Debug, Clone, Deserialize)]
pub struct Interaction {
    pub id: String,
    pub application_id: String,
    #[serde(rename = "type")]
    pub kind: u8,
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub guild_id: Option<String>,
    #[serde(default)]
    pub channel_id: Option<String>,
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub member: Option<Member>,
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    #[serde(default)]
    pub message: Option<MessageRef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Channel {
    pub id: String,
    #[serde(rename = "type", default)]
    pub kind: u8,
    #[serde(default)]
    pub parent_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Member {
    pub user: User,
    #[serde(default)]
    pub nick: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
    #[serde(default)]
    pub global_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MessageRef {
    pub id: String,
    #[serde(default)]
    pub channel_id: Option<String>,
}

pub const PING: u8 = 1;
pub const APPLICATION_COMMAND: u8 = 2;
pub const MESSAGE_COMPONENT: u8 = 3;
pub const AUTOCOMPLETE: u8 = 4;
pub const MODAL_SUBMIT: u8 = 5;

/// Who clicked: a guild member (with roles) or, in a DM, a user without any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub user_id: String,
    /// What people see: the server nickname, else the display name, else the username.
    pub display_name: String,
    pub roles: Vec<String>,
}

impl Interaction {
    /// The display name is cleaned for showing (see [`text::display_name`]): Discord lets
    /// a person pick any name, and refusing their clicks for it would lock them out.
    pub fn person(&self) -> Option<Person> {
        if let Some(member) = &self.member {
            let user = &member.user;
            let raw = member.nick.as_deref().or(user.global_name.as_deref()).unwrap_or(&user.username);
            let display_name = text::display_name(raw, &user.id);
            return Some(Person { user_id: user.id.clone(), display_name, roles: member.roles.clone() });
        }
        self.user.as_ref().map(|user| Person {
            user_id: user.id.clone(),
            display_name: text::display_name(user.global_name.as_deref().unwrap_or(&user.username), &user.id),
            roles: Vec::new(),
        })
    }

    /// The channel the interaction happened in (a thread's own id inside a thread).
    pub fn channel_id(&self) -> Option<&str> {
        self.channel_id.as_deref().or(self.channel.as_ref().map(|c| c.id.as_str()))
    }

    /// A slash command: its name, subcommand and options.
    pub fn command(&self) -> Option<SlashCommand> {
        let data = self.data.as_ref()?;
        let name = data.get("name")?.as_str()?.to_owned();
        let options = data.get("options").and_then(|o| o.as_array()).cloned().unwrap_or_default();
        // One level of subcommand (type 1): `/release start service:...`.
        let (subcommand, options) = match options.first() {
            Some(first) if first.get("type").and_then(|t| t.as_u64()) == Some(1) => (
                first.get("name").and_then(|n| n.as_str()).map(str::to_owned),
                first.get("options").and_then(|o| o.as_array()).cloned().unwrap_or_default(),
            ),
            _ => (None, options),
        };
        let options = options
            .iter()
            .filter_map(|o| {
                let name = o.get("name")?.as_str()?.to_owned();
                let value = match o.get("value")? {
                    serde_json::Value::String(s) => OptionValue::Text(s.clone()),
                    serde_json::Value::Bool(b) => OptionValue::Bool(*b),
                    serde_json::Value::Number(n) => OptionValue::Text(n.to_string()),
                    _ => return None,
                };
                Some((name, value))
            })
            .collect();
        Some(SlashCommand { name, subcommand, options })
    }

    /// A clicked button's `custom_id`.
    pub fn custom_id(&self) -> Option<&str> {
        self.data.as_ref()?.get("custom_id")?.as_str()
    }

    /// A submitted modal's text inputs by `custom_id`.
    pub fn modal_values(&self) -> BTreeMap<String, String> {
        let mut values = BTreeMap::new();
        let rows = self.data.as_ref().and_then(|d| d.get("components")).and_then(|c| c.as_array());
        for row in rows.into_iter().flatten() {
            for input in row.get("components").and_then(|c| c.as_array()).into_iter().flatten() {
                if let (Some(id), Some(value)) =
                    (input.get("custom_id").and_then(|v| v.as_str()), input.get("value").and_then(|v| v.as_str()))
                {
                    values.insert(id.to_owned(), value.to_owned());
                }
            }
        }
        values
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionValue {
    Text(String),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlashCommand {
    pub name: String,
    pub subcommand: Option<String>,
    pub options: Vec<(String, OptionValue)>,
}

impl SlashCommand {
    pub fn text(&self, name: &str) -> Option<&str> {
        self.options.iter().find_map(|(n, v)| match v {
            OptionValue::Text(t) if n == name => Some(t.as_str()),
            _ => None,
        })
    }

    pub fn flag(&self, name: &str) -> Option<bool> {
        self.options.iter().find_map(|(n, v)| match v {
            OptionValue::Bool(b) if n == name => Some(*b),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_slash_command_reads_its_subcommand_and_options() {
        let interaction: Interaction = serde_json::from_value(json!({
            "id": "1", "application_id": "2", "type": 2, "token": "t", "guild_id": "3", "channel_id": "4",
            "member": {"user": {"id": "5", "username": "alice", "global_name": "Alice"}, "roles": ["9"]},
            "data": {"id": "6", "name": "release", "type": 1, "options": [
                {"name": "start", "type": 1, "options": [
                    {"name": "service", "type": 3, "value": "api"},
                    {"name": "hotfix", "type": 5, "value": true}
                ]}
            ]}
        }))
        .expect("decodes");
        let command = interaction.command().expect("a command");
        assert_eq!(command.name, "release");
        assert_eq!(command.subcommand.as_deref(), Some("start"));
        assert_eq!(command.text("service"), Some("api"));
        assert_eq!(command.flag("hotfix"), Some(true));
        let person = interaction.person().expect("a member");
        assert_eq!(person.display_name, "Alice");
        assert_eq!(person.roles, ["9"]);
    }

    #[test]
    fn a_modal_submit_reads_its_inputs() {
        let interaction: Interaction = serde_json::from_value(json!({
            "id": "1", "application_id": "2", "type": 5, "token": "t",
            "user": {"id": "5", "username": "bob"},
            "data": {"custom_id": "m", "components": [
                {"type": 1, "components": [{"type": 4, "custom_id": "reason", "value": "smoke failed"}]}
            ]}
        }))
        .expect("decodes");
        assert_eq!(interaction.modal_values().get("reason").map(String::as_str), Some("smoke failed"));
        assert_eq!(interaction.person().expect("user").display_name, "bob");
    }

    #[test]
    fn a_hostile_nickname_is_shown_cleaned_and_the_person_still_acts() {
        let interaction: Interaction = serde_json::from_value(json!({
            "id": "1", "application_id": "2", "type": 3, "token": "t",
            "member": {"nick": "\u{1b}[31mMal\u{202E}ory\u{0}", "roles": ["9"], "user": {"id": "7", "username": "m"}},
            "data": {"custom_id": "x"}
        }))
        .expect("decodes");
        let person = interaction.person().expect("a member");
        assert_eq!((person.display_name.as_str(), person.user_id.as_str()), ("[31mMalory", "7"));
    }
}
