//! The command line: `serve`, `migrate`, `backup`, `playbook`, `release` (the API client),
//! `freeze` and `discord`.
//!
//! `main.rs` parses [`Cli`] and matches on [`Command`]: it runs `Serve` and `Migrate`
//! itself, and hands `Backup` to [`run_backup`], `Playbook` to [`run_playbook`], `Release`
//! to [`run_release`], `Freeze` to [`run_freeze`] and `Discord` to [`run_discord`], exiting
//! with the code they return.

mod backup;
mod discord;
mod freeze;
mod output;
mod playbook;
mod release;
mod summary;

pub use backup::run_backup;
pub use discord::run_discord;
pub use freeze::run_freeze;
pub use playbook::run_playbook;
pub use release::run_release;

use crate::domain::release::{DeployStrategy, Environment, HealthCheck, Outcome, Status};
use crate::domain::{ArtifactDigest, GitSha, Version};
use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;
use std::path::PathBuf;

/// Where `shipgate release` looks for the server when neither `--server` nor
/// `SHIPGATE_SERVER` says.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// Exit code: the command did what was asked.
pub const EXIT_OK: i32 = 0;
/// Exit code: the server (or the playbook check) refused: a rule said no.
pub const EXIT_REJECTED: i32 = 1;
/// Exit code: shipgate could not try: bad usage, missing token, server unreachable.
pub const EXIT_USAGE: i32 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "shipgate",
    version,
    about = "A chat-ops release bot: run your Ship to Production playbook as releases that move through checklists and gates.",
    long_about = None,
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// `Release` is much larger than the other variants; boxing it would make `main.rs` write
// `run_release(*args)` for a value built once per process, so the size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: the CI API, health checks and metrics.
    ///
    /// Reads the configuration: built-in defaults, then the TOML file, then
    /// `SHIPGATE_<SECTION>__<KEY>` environment variables (e.g. SHIPGATE_SERVER__LISTEN).
    /// See config/shipgate.example.toml for every key.
    Serve {
        /// Configuration file; without it, ./shipgate.toml is read if it exists.
        #[arg(long, short = 'c', value_name = "FILE", env = "SHIPGATE_CONFIG")]
        config: Option<PathBuf>,
        /// Log one JSON object per line, whatever log.format says.
        #[arg(long)]
        log_json: bool,
    },
    /// Create or upgrade the database schema, then exit.
    ///
    /// Safe to run on every deploy: migrations already applied are skipped.
    Migrate {
        /// Configuration file; without it, ./shipgate.toml is read if it exists.
        #[arg(long, short = 'c', value_name = "FILE", env = "SHIPGATE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Copy the SQLite database into FILE, consistently, while shipgate serves from it.
    ///
    /// The database is the one the configuration names (database.url). A copy of the file
    /// alone may miss recent commits, which sit in its write-ahead log until a checkpoint;
    /// this copy has every one committed when the backup began. Prints what the copy holds.
    /// PostgreSQL is backed up with pg_dump. Exit codes: 0 backed up, 2 not (the reason is
    /// printed; nothing was written).
    Backup {
        /// The file to write; it must not exist yet, unless --force.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Configuration file (for database.url); without it, ./shipgate.toml is read if it
        /// exists.
        #[arg(long, short = 'c', value_name = "FILE", env = "SHIPGATE_CONFIG")]
        config: Option<PathBuf>,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Show a playbook or check a playbook file.
    #[command(subcommand)]
    Playbook(PlaybookCommand),
    /// Drive a release on a running shipgate server through its HTTP API.
    Release(ReleaseArgs),
    /// Ask the freeze calendar: is production frozen, and when does it open?
    #[command(subcommand)]
    Freeze(FreezeCommand),
    /// Set up the Discord bot configured in [discord].
    #[command(subcommand)]
    Discord(DiscordCommand),
}

#[derive(Debug, Subcommand)]
pub enum DiscordCommand {
    /// Register the /release and /freeze commands in discord.guild_id, replacing the
    /// commands registered there before; `serve` does the same at startup.
    ///
    /// Prints the registered commands. Exit codes: 0 registered, 1 Discord refused (bad
    /// token, unknown guild or application, bot not in the guild), 2 the configuration is
    /// unusable or Discord could not be reached.
    Register {
        /// Configuration file with the [discord] section; without it, ./shipgate.toml.
        #[arg(long, short = 'c', value_name = "FILE", env = "SHIPGATE_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum FreezeCommand {
    /// Is production frozen at an instant? Exit code 0 open, 1 frozen, 2 error.
    ///
    /// A CI job can gate a deploy on it: `shipgate freeze check || exit 1`.
    Check {
        /// The instant to check, RFC 3339 (2026-12-04T17:00:00Z); default now.
        #[arg(long, value_name = "RFC3339")]
        at: Option<String>,
        /// Configuration file with the [freeze] calendar; without it, ./shipgate.toml.
        #[arg(long, short = 'c', value_name = "FILE", env = "SHIPGATE_CONFIG")]
        config: Option<PathBuf>,
        /// Print one JSON object: at, frozen, reasons, next_open (times in UTC).
        #[arg(long)]
        json: bool,
        /// The chat channel whose team calendar to ask ([[freeze.teams]]); default [freeze].
        #[arg(long, value_name = "ID")]
        channel: Option<String>,
    },
    /// List the frozen windows between two dates (inclusive), readable or as iCalendar.
    Calendar {
        /// First local date, YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        from: String,
        /// Last local date, YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        to: String,
        /// Configuration file with the [freeze] calendar; without it, ./shipgate.toml.
        #[arg(long, short = 'c', value_name = "FILE", env = "SHIPGATE_CONFIG")]
        config: Option<PathBuf>,
        /// Print an iCalendar file a team can subscribe to in its calendar app.
        #[arg(long)]
        ics: bool,
        /// The chat channel whose team calendar to list ([[freeze.teams]]); default [freeze].
        #[arg(long, value_name = "ID")]
        channel: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PlaybookCommand {
    /// Print a playbook: its steps, checklists, gates and failure paths.
    ///
    /// NAME is looked up as `<playbooks.dir>/<NAME>.toml`; "ship-to-production" is built in
    /// and used when no such file exists. A NAME ending in .toml is read as a file.
    Show {
        /// Playbook name or FILE.toml; defaults to playbooks.default from the configuration.
        #[arg(value_name = "NAME")]
        name: Option<String>,
        /// Configuration file (for playbooks.dir and playbooks.default).
        #[arg(long, short = 'c', value_name = "FILE", env = "SHIPGATE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Check a playbook file and report every problem with the key it is at.
    ///
    /// Prints `FILE: ok (N steps)` and exits 0, or prints each problem as
    /// `FILE: key: message` on stderr and exits 1.
    Validate {
        /// The playbook file to check.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// `shipgate release ...`: the options shared by every release subcommand, and the
/// subcommand.
#[derive(Debug, Args)]
#[command(after_long_help = "\
Exit codes:
  0  done
  1  the server refused the command (printed as `error [code]: message` on stderr)
  2  usage error, missing token, or the server could not be reached

Every command that changes a release carries an Idempotency-Key header: the one given with
--idempotency-key, else a fresh random one. When a call times out, the key is printed:
running the same command again with that key is applied at most once.")]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: ReleaseCommand,
}

/// Help heading grouping the options every release subcommand shares.
const CONNECTION: &str = "Server options";

/// How to reach the server, and how to print its answers.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The shipgate server's base URL.
    #[arg(
        long,
        global = true,
        help_heading = CONNECTION,
        value_name = "URL",
        env = "SHIPGATE_SERVER",
        default_value = DEFAULT_SERVER,
        value_parser = parse_server,
    )]
    pub server: reqwest::Url,
    /// API token, sent as `Authorization: Bearer TOKEN`. Prefer SHIPGATE_TOKEN: a token
    /// on the command line is visible to other users of the machine in `ps`.
    #[arg(
        long,
        global = true,
        help_heading = CONNECTION,
        value_name = "TOKEN",
        env = "SHIPGATE_TOKEN",
        hide_env_values = true,
        value_parser = parse_secret
    )]
    pub token: Option<SecretString>,
    /// Print the server's JSON answer instead of a summary (`tick` with several items:
    /// one JSON document per item).
    #[arg(long, global = true, help_heading = CONNECTION)]
    pub json: bool,
    /// Idempotency key for this command; repeat it to retry safely. Default: a new
    /// random key per invocation.
    #[arg(long, global = true, help_heading = CONNECTION, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ReleaseCommand {
    /// Start a release; prints its id on the first line.
    ///
    /// Scripts capture the id with `--json | jq -r .id`, or `| head -1`.
    Start(StartArgs),
    /// Show a release: its step, checklist and gate, or while it rolls back the rollback
    /// procedure and what production goes back to; a finished release, how it ended.
    Status {
        /// Release id.
        id: String,
        /// Also list every event: when (in the team's time zone), who, and what.
        #[arg(long)]
        history: bool,
    },
    /// List releases, newest first.
    List(ListArgs),
    /// Tick one or more checklist items of a step (one request per item).
    Tick {
        /// Release id.
        id: String,
        /// Step id, e.g. pre-flight.
        step: String,
        /// Item ids, e.g. prs-merged release-notes.
        #[arg(required = true, value_name = "ITEM")]
        items: Vec<String>,
    },
    /// Untick a checklist item (approvals already given for the step are withdrawn).
    Untick {
        /// Release id.
        id: String,
        /// Step id.
        step: String,
        /// Item id.
        item: String,
    },
    /// Approve a step's gate.
    Approve {
        /// Release id.
        id: String,
        /// Step id.
        step: String,
    },
    /// Take one of a step's failure paths (restart, retry, roll back or abort).
    Fail {
        /// Release id.
        id: String,
        /// Step id.
        step: String,
        /// Failure path id, as `status` lists them.
        path: String,
        /// Why; some failure paths require it.
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
    },
    /// Record a test run's result (usually from CI).
    TestResult(TestResultArgs),
    /// Record the build artifact (usually from CI).
    Artifact(ArtifactArgs),
    /// Record a deployment to staging or production (usually from CI).
    Deploy(DeployArgs),
    /// Ask to deploy through a production freeze; another person must approve.
    OverrideRequest {
        /// Release id.
        id: String,
        /// Why this cannot wait until the freeze ends.
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Approve a freeze override someone else requested.
    OverrideApprove {
        /// Release id.
        id: String,
    },
    /// Roll production back: starts the playbook's rollback procedure.
    Rollback {
        /// Release id.
        id: String,
        /// What broke.
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Run the configured rollback hook of a release that is rolling back (again, after a
    /// failed run or one whose outcome is unknown).
    RollbackHook {
        /// Release id.
        id: String,
    },
    /// Stop a release.
    Abort {
        /// Release id.
        id: String,
        /// Why.
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Ship the fix's commit: the release restarts from Step 1 with it. Only at Step 1,
    /// before its gate passes (e.g. after `fail ID test-suite real-regression`).
    Retarget {
        /// Release id.
        id: String,
        /// The fix's git commit (7 to 40 hex digits).
        #[arg(long, value_name = "SHA")]
        sha: String,
        /// A new version for the fix, e.g. 1.4.1; without it the release keeps its version.
        #[arg(long, value_name = "VERSION")]
        version: Option<String>,
        /// Why, e.g. the fix for the regression the tests found.
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Lock a service's deploys (or one environment's) for a while; prints the lock's id
    /// on the first line.
    Lock(LockArgs),
    /// Lift a lock before it ends by itself.
    Unlock {
        /// Lock id, as `lock` and `locks` print it.
        id: String,
    },
    /// List the locks in force.
    Locks {
        /// Only this service's locks.
        #[arg(long, value_name = "S")]
        service: Option<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct LockArgs {
    /// The service to lock, e.g. api.
    #[arg(long, value_name = "S")]
    pub service: String,
    /// Why, in words the team reads on every card.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// How long: 30m, 2h, 1d or 1h30m (default 4h, at most 7d).
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: Option<String>,
    /// Lock only this environment; default: every environment of the service.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: Option<EnvironmentArg>,
    /// Only warn on the cards; gates still pass.
    #[arg(long)]
    pub warn: bool,
}

#[derive(Debug, Clone, Args)]
pub struct StartArgs {
    /// The service to ship, e.g. api.
    #[arg(long, value_name = "S")]
    pub service: String,
    /// The version being shipped, e.g. 1.4.0 or v1.4.
    #[arg(long, value_name = "V", value_parser = Version::parse)]
    pub version: Version,
    /// The git commit being shipped (7 to 40 hex digits).
    #[arg(long, value_name = "SHA", value_parser = GitSha::parse)]
    pub sha: GitSha,
    /// Playbook name; default: the server's playbooks.default.
    #[arg(long, value_name = "NAME")]
    pub playbook: Option<String>,
    /// An emergency hotfix (the playbook and freeze rules say what that allows).
    #[arg(long)]
    pub hotfix: bool,
    /// Chat channel id where the release lives.
    #[arg(long, value_name = "ID")]
    pub channel: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Only this service's releases.
    #[arg(long, value_name = "S")]
    pub service: Option<String>,
    /// Only releases in this state.
    #[arg(long, value_name = "STATUS")]
    pub status: Option<StatusArg>,
    /// At most this many releases.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Args)]
pub struct TestResultArgs {
    /// Release id.
    pub id: String,
    /// The suite: unit, integration, e2e, ...
    #[arg(long, value_name = "NAME")]
    pub suite: String,
    /// Tests that passed.
    #[arg(long, value_name = "N")]
    pub passed: u32,
    /// Tests that failed.
    #[arg(long, value_name = "N")]
    pub failed: u32,
    /// Tests skipped.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub skipped: u32,
    /// A test that failed and passed on re-run (repeat for each); recorded for follow-up.
    #[arg(long, value_name = "NAME")]
    pub flaky: Vec<String>,
    /// Link to the CI run.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ArtifactArgs {
    /// Release id.
    pub id: String,
    /// The version the artifact is tagged with.
    #[arg(long, value_name = "V", value_parser = Version::parse)]
    pub version: Version,
    /// The git commit it was built from.
    #[arg(long, value_name = "SHA", value_parser = GitSha::parse)]
    pub sha: GitSha,
    /// Content digest: algorithm:hex with at least 32 hex digits, as the registry prints it
    /// (sha256: and 64 hex digits).
    #[arg(long, value_name = "DIGEST", value_parser = ArtifactDigest::parse)]
    pub digest: ArtifactDigest,
    /// Size in bytes.
    #[arg(long, value_name = "BYTES")]
    pub size: u64,
    /// Where it lives, e.g. registry.example.com/api:1.4.0.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    /// Release id.
    pub id: String,
    /// Where it was deployed.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: EnvironmentArg,
    /// The digest of the artifact deployed; production must get the one staging tested.
    #[arg(long, value_name = "DIGEST", value_parser = ArtifactDigest::parse)]
    pub digest: ArtifactDigest,
    /// Whether the deployment itself succeeded.
    #[arg(long, value_name = "OUTCOME")]
    pub outcome: OutcomeArg,
    /// Health checks after the deployment.
    #[arg(long, value_name = "HEALTH")]
    pub health: HealthArg,
    /// How it was rolled out (recreate is refused for production: it means downtime).
    #[arg(long, value_name = "STRATEGY")]
    pub strategy: Option<StrategyArg>,
    /// With a canary: the share of traffic routed to it first, in percent.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=100))]
    pub canary_percent: Option<u8>,
    /// Required to deploy a version older than the one live.
    #[arg(long, value_name = "TEXT")]
    pub downgrade_reason: Option<String>,
    /// A rollback of a service's first release has no known-good artifact: reverting to
    /// one shipgate never recorded for the service needs this reason.
    #[arg(long, value_name = "TEXT")]
    pub unknown_artifact_reason: Option<String>,
    /// Link to the deploy job.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

/// Release states, as `list --status` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    Active,
    #[value(name = "rolling_back", alias = "rolling-back")]
    RollingBack,
    Completed,
    #[value(name = "rolled_back", alias = "rolled-back")]
    RolledBack,
    Aborted,
}

impl From<StatusArg> for Status {
    fn from(value: StatusArg) -> Self {
        match value {
            StatusArg::Active => Status::Active,
            StatusArg::RollingBack => Status::RollingBack,
            StatusArg::Completed => Status::Completed,
            StatusArg::RolledBack => Status::RolledBack,
            StatusArg::Aborted => Status::Aborted,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EnvironmentArg {
    Staging,
    Production,
}

impl From<EnvironmentArg> for Environment {
    fn from(value: EnvironmentArg) -> Self {
        match value {
            EnvironmentArg::Staging => Environment::Staging,
            EnvironmentArg::Production => Environment::Production,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutcomeArg {
    Succeeded,
    Failed,
}

impl From<OutcomeArg> for Outcome {
    fn from(value: OutcomeArg) -> Self {
        match value {
            OutcomeArg::Succeeded => Outcome::Succeeded,
            OutcomeArg::Failed => Outcome::Failed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HealthArg {
    Passed,
    Failed,
    /// Not run or not finished yet.
    Unknown,
}

impl From<HealthArg> for HealthCheck {
    fn from(value: HealthArg) -> Self {
        match value {
            HealthArg::Passed => HealthCheck::Passed,
            HealthArg::Failed => HealthCheck::Failed,
            HealthArg::Unknown => HealthCheck::Unknown,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    Rolling,
    BlueGreen,
    Canary,
    /// Stop everything, start the new version: downtime.
    Recreate,
}

impl From<StrategyArg> for DeployStrategy {
    fn from(value: StrategyArg) -> Self {
        match value {
            StrategyArg::Rolling => DeployStrategy::Rolling,
            StrategyArg::BlueGreen => DeployStrategy::BlueGreen,
            StrategyArg::Canary => DeployStrategy::Canary,
            StrategyArg::Recreate => DeployStrategy::Recreate,
        }
    }
}

/// `--server`: an http(s) URL with a host.
fn parse_server(value: &str) -> Result<reqwest::Url, String> {
    let url =
        reqwest::Url::parse(value.trim()).map_err(|e| format!("{value:?} is not a URL like {DEFAULT_SERVER}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("{value:?} is not an http(s) URL like {DEFAULT_SERVER}"));
    }
    Ok(url)
}

/// `--token`: kept wrapped so `Debug` of the parsed command line never shows it.
fn parse_secret(value: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(value.trim().to_owned()))
}
