//! The slash commands shipgate registers: `/release` and `/freeze`, each with subcommands.
//! Registered by bulk overwrite, so registering again replaces rather than duplicates.

use super::rest::{Rest, RestError};
use crate::config::DiscordConfig;
use serde_json::{json, Value};

const SUB_COMMAND: u8 = 1;
const STRING: u8 = 3;
const BOOLEAN: u8 = 5;

fn text(name: &str, description: &str, required: bool) -> Value {
    json!({"type": STRING, "name": name, "description": description, "required": required, "max_length": 200})
}

fn flag(name: &str, description: &str) -> Value {
    json!({"type": BOOLEAN, "name": name, "description": description, "required": false})
}

fn sub(name: &str, description: &str, options: Vec<Value>) -> Value {
    json!({"type": SUB_COMMAND, "name": name, "description": description, "options": options})
}

/// The body of `PUT /applications/{app}/guilds/{guild}/commands`.
pub fn definitions() -> Value {
    json!([
        {
            "name": "release",
            "type": 1,
            "description": "Run a release through the Ship to Production playbook",
            "options": [
                sub("start", "Start a release: opens a thread with the first step's card", vec![
                    text("service", "The service to ship, e.g. api", true),
                    text("version", "The version, e.g. 1.4.0", true),
                    text("sha", "The git commit (7 to 40 hex characters)", true),
                    flag("hotfix", "An emergency hotfix (may ask for a freeze override)"),
                    text("playbook", "The playbook, if not the default", false),
                ]),
                sub("status", "Where a release stands (this thread's, or the one named)", vec![
                    text("release", "A release id", false),
                ]),
                sub("list", "Releases in progress", vec![]),
                sub("abort", "Abort this thread's release", vec![text("reason", "Why", true)]),
                sub("retarget", "Ship the fix's commit: this thread's release restarts Step 1 with it", vec![
                    text("sha", "The fix's git commit (7 to 40 hex characters)", true),
                    text("reason", "Why, e.g. the fix for the regression the tests found", true),
                    text("version", "A new version, if the fix has one, e.g. 1.4.1", false),
                ]),
                sub("rollback", "Start the rollback procedure for this thread's release", vec![
                    text("reason", "What broke", true),
                ]),
                sub("drill", "Rollback drill: roll staging back to the previous artifact and time it", vec![
                    text("service", "The service to drill, e.g. api", true),
                ]),
                sub("drills", "The last rollback drill of each service, and which are overdue", vec![]),
                sub("lock", "Lock a service's deploys (or one environment's) for a while", vec![
                    text("service", "The service to lock, e.g. api", true),
                    text("reason", "Why, in words the team reads on every card", true),
                    text("for", "How long: 30m, 2h, 1d or 1h30m (default 4h, at most 7d)", false),
                    text("environment", "production or staging (default: every environment)", false),
                    flag("warn", "Only warn on the cards; gates still pass"),
                ]),
                sub("unlock", "Lift a service's lock", vec![
                    text("service", "The locked service, e.g. api", true),
                    text("environment", "production or staging, when the service has several locks", false),
                ]),
            ]
        },
        {
            "name": "freeze",
            "type": 1,
            "description": "The production freeze calendar",
            "options": [
                sub("status", "Is production frozen now (or at a time), and until when", vec![
                    text("at", "An RFC 3339 time, e.g. 2026-12-04T17:00:00Z", false),
                ]),
                sub("override", "Ask for a freeze override for this thread's hotfix release", vec![
                    text("reason", "Why the hotfix cannot wait", true),
                ]),
            ]
        }
    ])
}

/// Replaces the guild's commands with [`definitions`]: what `serve` does at startup and
/// `shipgate discord register` does on demand. Returns the names Discord now lists.
pub async fn register(rest: &Rest, discord: &DiscordConfig) -> Result<Vec<String>, RestError> {
    let path = format!("/applications/{}/guilds/{}/commands", discord.application_id, discord.guild_id);
    let registered = rest.call(reqwest::Method::PUT, &path, Some(&definitions())).await?;
    Ok(registered
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|command| command.get("name")?.as_str().map(str::to_owned))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_fit_discords_limits() {
        let definitions = definitions();
        let commands = definitions.as_array().expect("a list");
        assert_eq!(commands.len(), 2);
        for command in commands {
            let name = command["name"].as_str().expect("name");
            assert!(name.len() <= 32 && name.chars().all(|c| c.is_ascii_lowercase()), "{name}");
            for sub in command["options"].as_array().expect("subcommands") {
                assert!(sub["description"].as_str().expect("description").len() <= 100);
                let options = sub["options"].as_array().expect("options");
                // Discord wants required options before optional ones.
                let first_optional = options.iter().position(|o| o["required"] == false).unwrap_or(options.len());
                assert!(options[first_optional..].iter().all(|o| o["required"] == false), "{sub}");
            }
        }
    }
}
