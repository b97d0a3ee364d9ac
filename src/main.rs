//! The `shipgate` binary: parse the command line and hand over.

use clap::Parser;
use shipgate::cli::{Cli, Command};
use shipgate::config::Config;
use std::process::ExitCode;

// A command allocates many small, short-lived values (views, events); mimalloc serves
// them markedly faster than the system allocator under concurrency.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config, log_json } => run_server(config.as_deref(), log_json).await,
        Command::Migrate { config } => migrate(config.as_deref()).await,
        Command::Backup { file, config, force } => shipgate::cli::run_backup(&file, config.as_deref(), force).await,
        Command::Playbook(cmd) => shipgate::cli::run_playbook(cmd).await,
        Command::Release(args) => shipgate::cli::run_release(args).await,
        Command::Freeze(cmd) => shipgate::cli::run_freeze(cmd).await,
        Command::Discord(cmd) => shipgate::cli::run_discord(cmd).await,
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run_server(config: Option<&std::path::Path>, log_json: bool) -> anyhow::Result<i32> {
    let config = Config::load(config)?;
    let json = log_json || config.log.format == shipgate::config::LogFormat::Json;
    shipgate::telemetry::init_logging(json, &config.log.level)?;
    shipgate::runtime::serve(config).await?;
    Ok(0)
}

async fn migrate(config: Option<&std::path::Path>) -> anyhow::Result<i32> {
    let config = Config::load(config)?;
    let store = shipgate::runtime::open_store(&config).await?;
    store.migrate().await?;
    println!("migrations applied to {} ({})", config.database.redacted_url(), store.backend());
    Ok(0)
}
