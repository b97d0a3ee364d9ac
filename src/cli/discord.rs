//! `shipgate discord register`: the slash commands registered on demand, as `serve` does
//! at startup. Run it to check a new bot's token and invite before serving, or to bring the
//! commands up to date without a restart.

use super::{DiscordCommand, EXIT_OK, EXIT_REJECTED, EXIT_USAGE};
use crate::chat::discord::commands;
use crate::chat::discord::rest::{Rest, RestError};
use crate::config::{Config, DiscordConfig};
use std::path::Path;

/// Runs `shipgate discord ...`, printing to stdout and stderr; returns the exit code.
pub async fn run_discord(cmd: DiscordCommand) -> anyhow::Result<i32> {
    match cmd {
        DiscordCommand::Register { config } => match register(config.as_deref()).await {
            Ok(report) => {
                print!("{report}");
                Ok(EXIT_OK)
            }
            Err((code, message)) => {
                eprintln!("error: {message}");
                Ok(code)
            }
        },
    }
}

/// Registers the commands; what to print, or the exit code and why it failed.
async fn register(config: Option<&Path>) -> Result<String, (i32, String)> {
    // API clients' tokens do not matter here: the command works where only the bot token is set.
    let config = Config::load_without_clients(config).map_err(|e| (EXIT_USAGE, e.to_string()))?;
    let discord = config.discord.ok_or_else(|| {
        (EXIT_USAGE, "the configuration has no [discord] section; see config/shipgate.example.toml".to_owned())
    })?;
    let rest = Rest::new(&discord.api_base, discord.token.clone())
        .map_err(|e| (EXIT_USAGE, format!("cannot build the Discord HTTP client: {e}")))?;
    let names = commands::register(&rest, &discord).await.map_err(|e| explain(&discord, e))?;
    let mut report = format!("registered in guild {} (application {}):\n", discord.guild_id, discord.application_id);
    let definitions = commands::definitions();
    for name in names {
        let subcommands: Vec<&str> = definitions
            .as_array()
            .into_iter()
            .flatten()
            .filter(|command| command["name"] == name.as_str())
            .flat_map(|command| command["options"].as_array().into_iter().flatten())
            .filter_map(|option| option["name"].as_str())
            .collect();
        report.push_str(&format!("  /{name} {}\n", subcommands.join("|")));
    }
    Ok(report)
}

/// A failed registration, said in terms of the configuration to fix.
fn explain(discord: &DiscordConfig, error: RestError) -> (i32, String) {
    let (guild, app) = (&discord.guild_id, &discord.application_id);
    match &error {
        RestError::Refused { status: 401, .. } => (
            EXIT_REJECTED,
            format!("Discord refused the bot token ({error}); check SHIPGATE_DISCORD_TOKEN or discord.token_file"),
        ),
        RestError::Refused { status: 403 | 404, .. } => (
            EXIT_REJECTED,
            format!(
                "Discord would not register commands in guild {guild} for application {app} ({error}); check discord.guild_id and discord.application_id, and that the bot was invited to that server with the applications.commands scope"
            ),
        ),
        RestError::Refused { .. } => (EXIT_REJECTED, format!("Discord refused the commands: {error}")),
        RestError::Retry { .. } => {
            (EXIT_USAGE, format!("could not reach Discord at {} (discord.api_base): {error}", discord.api_base))
        }
    }
}
