//! `[slack]`: the Slack app. Slash commands and clicks arrive over HTTP (signed with the
//! app's signing secret) or over Socket Mode (a WebSocket opened with the app-level
//! token, for teams behind a firewall); messages go out through the Web API with the bot
//! token.

use super::{read_secret_file, role_problem, Sources};
use crate::config::ConfigError;
use crate::domain::RoleName;
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The variables holding the Slack app's secrets; each may instead name a file with
/// `<VARIABLE>_FILE`, or the file may be named in `[slack]`.
pub const ENV_SLACK_BOT_TOKEN: &str = "SHIPGATE_SLACK_BOT_TOKEN";
pub const ENV_SLACK_SIGNING_SECRET: &str = "SHIPGATE_SLACK_SIGNING_SECRET";
pub const ENV_SLACK_APP_TOKEN: &str = "SHIPGATE_SLACK_APP_TOKEN";

/// Whether `var` is one of the Slack secrets' variables (or `<var>_FILE`): they look like
/// `SHIPGATE_SLACK_<KEY>` written with one underscore, and are not.
pub(super) fn is_secret_variable(var: &str) -> bool {
    let var = var.strip_suffix("_FILE").unwrap_or(var);
    [ENV_SLACK_BOT_TOKEN, ENV_SLACK_SIGNING_SECRET, ENV_SLACK_APP_TOKEN].contains(&var)
}

/// How Slack delivers slash commands and clicks to shipgate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlackMode {
    /// Slack POSTs to `/slack/commands` and `/slack/interactivity` on shipgate's HTTP
    /// server, signed with the signing secret.
    #[default]
    Http,
    /// shipgate opens a WebSocket to Slack (`apps.connections.open`) with the app-level
    /// token: nothing has to reach shipgate from outside.
    Socket,
}

/// The Slack app. Ids are Slack's (`C…` channels, `U…`/`W…` users, `S…` user groups).
#[derive(Debug, Clone)]
pub struct SlackConfig {
    pub mode: SlackMode,
    /// Releases are parent messages in this channel; each one's thread holds its cards.
    pub release_channel_id: String,
    /// Rollback notices are broadcast to these channels.
    pub incident_channel_ids: Vec<String>,
    /// The Web API's base, `https://slack.com/api`, or a proxy's (or a test fake's).
    pub api_base: String,
    /// `xoxb-…`: posts and edits messages, opens modals.
    pub bot_token: SecretString,
    /// Verifies `X-Slack-Signature` in HTTP mode.
    pub signing_secret: Option<SecretString>,
    /// `xapp-…`: opens Socket Mode connections.
    pub app_token: Option<SecretString>,
    /// The playbook's role names -> Slack user ids and user group ids. Empty: everyone in
    /// the workspace holds every role.
    pub roles: BTreeMap<String, Vec<String>>,
}

impl SlackConfig {
    /// The shipgate roles held by `user`, who belongs to the user groups `groups`. With no
    /// role mapping, everyone holds every role in `all`.
    pub fn roles_of<'a>(
        &'a self,
        user: &str,
        groups: &[String],
        all: impl IntoIterator<Item = &'a str>,
    ) -> Vec<RoleName> {
        if self.roles.is_empty() {
            return all.into_iter().map(RoleName::new).collect();
        }
        self.roles
            .iter()
            .filter(|(_, ids)| ids.iter().any(|id| id == user || groups.contains(id)))
            .map(|(role, _)| RoleName::new(role.as_str()))
            .collect()
    }

    /// The user groups the role mapping names: their members are looked up with
    /// `usergroups.users.list`.
    pub fn mapped_groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = self.roles.values().flatten().filter(|id| id.starts_with('S')).cloned().collect();
        groups.sort();
        groups.dedup();
        groups
    }
}

pub(super) mod raw {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Slack {
        #[serde(default)]
        pub mode: SlackMode,
        pub release_channel_id: String,
        #[serde(default)]
        pub incident_channel_ids: Vec<String>,
        #[serde(default = "slack_api_base")]
        pub api_base: String,
        #[serde(default)]
        pub bot_token_file: Option<PathBuf>,
        #[serde(default)]
        pub signing_secret_file: Option<PathBuf>,
        #[serde(default)]
        pub app_token_file: Option<PathBuf>,
        #[serde(default)]
        pub roles: BTreeMap<String, Vec<String>>,
    }

    fn slack_api_base() -> String {
        "https://slack.com/api".to_owned()
    }
}

/// The keys of `[slack]`, for the `SHIPGATE_SLACK__<KEY>` variables.
pub(super) const KEYS: &[&str] = &[
    "mode",
    "release_channel_id",
    "incident_channel_ids",
    "api_base",
    "bot_token_file",
    "signing_secret_file",
    "app_token_file",
    "roles",
];

/// The `[slack]` section, checked: channel and role ids look like Slack's, the secrets
/// the mode needs are there and look like what they are.
pub(super) fn slack(
    raw: raw::Slack,
    sources: &Sources<'_>,
    env: &BTreeMap<String, String>,
    problems: &mut Vec<ConfigError>,
) -> Option<SlackConfig> {
    let before = problems.len();
    let channel = |key: &str, value: &str, problems: &mut Vec<ConfigError>| {
        let value = value.trim();
        if !is_slack_id(value, &['C', 'G']) {
            problems.push(sources.invalid(
                key,
                format!("{value:?} is not a Slack channel id; copy it from the channel's details (like C0123456789)"),
            ));
        }
        value.to_owned()
    };
    let release_channel_id = channel("slack.release_channel_id", &raw.release_channel_id, problems);
    let incident_channel_ids: Vec<String> = raw
        .incident_channel_ids
        .iter()
        .enumerate()
        .map(|(i, id)| channel(&format!("slack.incident_channel_ids[{i}]"), id, problems))
        .collect();
    let api_base = raw.api_base.trim().trim_end_matches('/').to_owned();
    if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
        problems.push(
            sources
                .invalid("slack.api_base", format!("{api_base:?} must be an http(s) URL, like https://slack.com/api")),
        );
    }
    for (role, ids) in &raw.roles {
        if let Some(message) = role_problem(role) {
            problems.push(sources.invalid(&format!("slack.roles.{role}"), message));
        }
        if ids.is_empty() {
            problems.push(sources.invalid(
                &format!("slack.roles.{role}"),
                "names no Slack user or user group; list at least one, or leave the role out",
            ));
        }
        for (i, id) in ids.iter().enumerate() {
            if !is_slack_id(id.trim(), &['U', 'W', 'S']) {
                problems.push(sources.invalid(
                    &format!("slack.roles.{role}[{i}]"),
                    format!(
                        "{id:?} is not a Slack user id (U…, W…) or user group id (S…); copy it from the profile or the group's page"
                    ),
                ));
            }
        }
    }
    let bot_token = secret(
        Secret { key: "slack.bot_token_file", var: ENV_SLACK_BOT_TOKEN, prefix: Some("xoxb-"), what: "the bot token" },
        raw.bot_token_file,
        true,
        sources,
        env,
        problems,
    );
    let signing_secret = secret(
        Secret {
            key: "slack.signing_secret_file",
            var: ENV_SLACK_SIGNING_SECRET,
            prefix: None,
            what: "the signing secret",
        },
        raw.signing_secret_file,
        raw.mode == SlackMode::Http,
        sources,
        env,
        problems,
    );
    let app_token = secret(
        Secret {
            key: "slack.app_token_file",
            var: ENV_SLACK_APP_TOKEN,
            prefix: Some("xapp-"),
            what: "the app-level token",
        },
        raw.app_token_file,
        raw.mode == SlackMode::Socket,
        sources,
        env,
        problems,
    );
    if problems.len() != before {
        return None;
    }
    Some(SlackConfig {
        mode: raw.mode,
        release_channel_id,
        incident_channel_ids,
        api_base,
        bot_token: bot_token?,
        signing_secret,
        app_token,
        roles: raw
            .roles
            .into_iter()
            .map(|(role, ids)| (role.trim().to_owned(), ids.iter().map(|id| id.trim().to_owned()).collect()))
            .collect(),
    })
}

/// A Slack id: one of `kinds`, then 2 or more of A-Z 0-9.
fn is_slack_id(id: &str, kinds: &[char]) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| kinds.contains(&c))
        && id.len() >= 3
        && id.len() <= 24
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Where one secret comes from and what it must look like.
struct Secret {
    /// The `[slack]` key naming its file.
    key: &'static str,
    /// Its variable; `<var>_FILE` names its file.
    var: &'static str,
    /// What every such secret starts with, as Slack issues them.
    prefix: Option<&'static str>,
    what: &'static str,
}

/// A secret from its variable, the file `<var>_FILE` names, or the file `[slack]` names
/// (exactly one of them); missing is a problem only when `needed`.
fn secret(
    secret: Secret,
    file_key: Option<PathBuf>,
    needed: bool,
    sources: &Sources<'_>,
    env: &BTreeMap<String, String>,
    problems: &mut Vec<ConfigError>,
) -> Option<SecretString> {
    let file_var = format!("{}_FILE", secret.var);
    let value = env.get(secret.var).map(|v| v.trim()).filter(|v| !v.is_empty());
    let env_file = env.get(&file_var).map(|v| v.trim()).filter(|v| !v.is_empty()).map(PathBuf::from);
    let given = [value.is_some(), env_file.is_some(), file_key.is_some()].iter().filter(|g| **g).count();
    if given > 1 {
        problems.push(sources.invalid(
            secret.key,
            format!(
                "{} is given more than once ({}, {file_var}, {}); keep exactly one",
                secret.what, secret.var, secret.key
            ),
        ));
        return None;
    }
    let (read, from) = match (value, env_file, file_key) {
        (Some(value), _, _) => (Ok(SecretString::from(value.to_owned())), secret.var.to_owned()),
        (_, Some(path), _) => (read_secret_file(&path, sources.read_file), file_var),
        (_, _, Some(path)) => (read_secret_file(&path, sources.read_file), secret.key.to_owned()),
        (None, None, None) => {
            if needed {
                problems.push(sources.invalid(
                    "slack",
                    format!(
                        "needs {}: export it in {}, or name its file with {file_var} or {}",
                        secret.what, secret.var, secret.key
                    ),
                ));
            }
            return None;
        }
    };
    let token = match read {
        Ok(token) => token,
        Err(message) => {
            problems.push(sources.invalid(&from, message));
            return None;
        }
    };
    if let Some(prefix) = secret.prefix {
        use secrecy::ExposeSecret;
        if !token.expose_secret().starts_with(prefix) {
            problems.push(sources.invalid(
                &from,
                format!(
                    "is not {}: Slack's start with {prefix} (the app's OAuth & Permissions or Basic Information page)",
                    secret.what
                ),
            ));
            return None;
        }
    }
    Some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_ids_are_a_kind_letter_and_capitals_or_digits() {
        assert!(is_slack_id("C0123456789", &['C', 'G']));
        assert!(is_slack_id("G01ABCDEF", &['C', 'G']));
        assert!(!is_slack_id("U0123456789", &['C', 'G']), "a user is not a channel");
        assert!(!is_slack_id("c0123456789", &['C']), "lower case");
        assert!(!is_slack_id("C", &['C']), "too short");
        assert!(!is_slack_id("C0123-456", &['C']));
        assert!(!is_slack_id("#releases", &['C']), "a name is not an id");
    }

    fn config(roles: &[(&str, &[&str])]) -> SlackConfig {
        SlackConfig {
            mode: SlackMode::Http,
            release_channel_id: "C0RELEASES".into(),
            incident_channel_ids: vec![],
            api_base: "https://slack.com/api".into(),
            bot_token: SecretString::from("xoxb-1".to_owned()),
            signing_secret: None,
            app_token: None,
            roles: roles
                .iter()
                .map(|(r, ids)| ((*r).to_owned(), ids.iter().map(|i| (*i).to_owned()).collect()))
                .collect(),
        }
    }

    #[test]
    fn a_role_is_held_by_its_users_and_the_members_of_its_groups() {
        let slack = config(&[("release-manager", &["U0ALICE", "S0LEADS"]), ("engineer", &["S0ENG"])]);
        let all = ["release-manager", "engineer"];
        let names = |roles: Vec<RoleName>| roles.iter().map(|r| r.as_str().to_owned()).collect::<Vec<_>>();
        assert_eq!(names(slack.roles_of("U0ALICE", &[], all)), ["release-manager"]);
        assert_eq!(
            names(slack.roles_of("U0BOB", &["S0LEADS".into(), "S0ENG".into()], all)),
            ["engineer", "release-manager"]
        );
        assert!(slack.roles_of("U0EVE", &["S0OTHER".into()], all).is_empty());
        assert_eq!(slack.mapped_groups(), ["S0ENG", "S0LEADS"]);
        assert_eq!(
            names(config(&[]).roles_of("U0ANY", &[], all)),
            ["release-manager", "engineer"],
            "no mapping: every role"
        );
    }
}
