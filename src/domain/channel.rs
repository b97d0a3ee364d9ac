//! Where a release lives in chat: a channel on a platform.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The chat platforms shipgate posts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatPlatform {
    Discord,
    Slack,
}

impl ChatPlatform {
    /// The platform's name as people write it.
    pub fn display_name(self) -> &'static str {
        match self {
            ChatPlatform::Discord => "Discord",
            ChatPlatform::Slack => "Slack",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChatPlatform::Discord => "discord",
            ChatPlatform::Slack => "slack",
        }
    }
}

impl fmt::Display for ChatPlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A release's channel, written `discord:<channel id>` or `slack:<channel id>`. A bare id
/// (as a pipeline may give through the API) names a channel on no platform: it picks the
/// team's freeze calendar, and nothing is posted to it.
///
/// Stored as that one string, so histories written before channels had a platform read
/// back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChatChannel {
    pub platform: Option<ChatPlatform>,
    /// The platform's channel id.
    pub id: String,
}

impl ChatChannel {
    pub fn new(platform: ChatPlatform, id: impl Into<String>) -> Self {
        Self { platform: Some(platform), id: id.into() }
    }

    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        let (platform, id) = match value.split_once(':') {
            Some(("discord", id)) => (Some(ChatPlatform::Discord), id),
            Some(("slack", id)) => (Some(ChatPlatform::Slack), id),
            _ => (None, value),
        };
        if id.is_empty() || id.len() > 100 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)) {
            return Err(format!(
                "channel {value:?} must be a chat channel id (letters, digits, '-', '_', '.', ':'), \
                 optionally with its platform first: discord:123456789012345678 or slack:C0123456"
            ));
        }
        Ok(Self { platform, id: id.to_owned() })
    }
}

impl TryFrom<String> for ChatChannel {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<ChatChannel> for String {
    fn from(value: ChatChannel) -> String {
        value.to_string()
    }
}

impl fmt::Display for ChatChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.platform {
            Some(platform) => write!(f, "{platform}:{}", self.id),
            None => f.write_str(&self.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_names_its_platform_or_none() {
        let discord = ChatChannel::parse("discord:1234567890").expect("valid");
        assert_eq!(discord, ChatChannel::new(ChatPlatform::Discord, "1234567890"));
        assert_eq!(discord.to_string(), "discord:1234567890");
        let bare = ChatChannel::parse("C0PAYMENTS").expect("valid");
        assert_eq!(bare.platform, None);
        assert_eq!(bare.to_string(), "C0PAYMENTS");
        assert_eq!(ChatChannel::parse("slack:C01").expect("valid").platform, Some(ChatPlatform::Slack));
    }

    #[test]
    fn a_channel_round_trips_as_one_string() {
        let channel = ChatChannel::new(ChatPlatform::Discord, "42");
        let json = serde_json::to_string(&channel).expect("serialises");
        assert_eq!(json, "\"discord:42\"");
        assert_eq!(serde_json::from_str::<ChatChannel>(&json).expect("reads back"), channel);
    }

    #[test]
    fn bad_channels_are_refused_with_the_form_expected() {
        for bad in ["", "discord:", "has space", "discord:a/b"] {
            let error = ChatChannel::parse(bad).expect_err(bad);
            assert!(error.contains("discord:123456789012345678"), "{error}");
        }
    }
}
