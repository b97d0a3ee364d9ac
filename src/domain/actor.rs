//! Who did something, from where. Every event records one.

use super::ids::RoleName;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// Where an action came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Discord,
    Slack,
    Console,
    /// A CI pipeline or script calling the HTTP API with a token.
    Api,
    /// shipgate itself (scheduler, monitoring).
    System,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Platform::Discord => "discord",
            Platform::Slack => "slack",
            Platform::Console => "console",
            Platform::Api => "api",
            Platform::System => "system",
        })
    }
}

/// A person or pipeline, with the shipgate roles the edge resolved for it from config.
/// Roles are decided at the edge on every request and never taken from a payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub platform: Platform,
    pub user_id: String,
    pub display_name: String,
    #[serde(default)]
    pub roles: BTreeSet<RoleName>,
}

impl Actor {
    pub fn new(platform: Platform, user_id: impl Into<String>, display_name: impl Into<String>) -> Self {
        Self { platform, user_id: user_id.into(), display_name: display_name.into(), roles: BTreeSet::new() }
    }

    pub fn with_roles<I, R>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<RoleName>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Same person: same platform and platform user id. Display names change; ids don't.
    pub fn is_same_person(&self, other: &Actor) -> bool {
        self.platform == other.platform && self.user_id == other.user_id
    }

    pub fn has_any_role(&self, roles: &[RoleName]) -> bool {
        roles.iter().any(|r| self.roles.contains(r))
    }
}

impl From<String> for RoleName {
    fn from(value: String) -> Self {
        RoleName::new(value)
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}:{})", self.display_name, self.platform, self.user_id)
    }
}
