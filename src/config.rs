//! Configuration: built-in defaults, then a TOML file, then environment variables.
//!
//! Layers, later ones win:
//!
//! 1. defaults (every key has one; shipgate runs with no file at all);
//! 2. the TOML file given with `--config FILE` (an error if it does not exist), or else
//!    `shipgate.toml` in the working directory if there is one;
//! 3. environment variables `SHIPGATE_<SECTION>__<KEY>` (double underscore between section
//!    and key), e.g. `SHIPGATE_SERVER__LISTEN=0.0.0.0:9000`, `SHIPGATE_LOG__FORMAT=json`.
//!    `DATABASE_URL` is deliberately **not** read: a variable meant for another program
//!    should not silently point shipgate at a database; set `SHIPGATE_DATABASE__URL`.
//!
//! Every unknown key is an error naming it and the keys that were expected, so a typo
//! never falls back to a default silently. Bad values name the key and what was expected.
//!
//! API tokens never sit in the file (architecture property 8): a client names the
//! environment variable (`token_env`) or the file (`token_file`) its token is read from,
//! and the token is kept in a [`SecretString`] that `Debug` prints as `[REDACTED]`. For a
//! single-token setup, `SHIPGATE_API_TOKEN` (or `SHIPGATE_API_TOKEN_FILE`) adds a client
//! named `default` with the roles in `SHIPGATE_API_ROLES` (comma-separated, default
//! `release-manager,engineer`).
//!
//! `config/shipgate.example.toml` documents every key.

use crate::domain::approvers::{Holder, RoleHolders};
use crate::domain::release::Policy;
use crate::domain::text::MAX_DISPLAY_NAME_CHARS;
use crate::domain::RoleName;
pub mod drills;
pub mod monitoring;
pub mod slack;

pub use drills::DrillsConfig;
pub use monitoring::{AlertmanagerConfig, MonitoringConfig, RollbackConfig, RollbackHook};

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// The file read when no `--config` is given, if it exists in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "shipgate.toml";
/// Prefix of every environment variable shipgate reads.
pub const ENV_PREFIX: &str = "SHIPGATE_";
/// A single API token, for setups with one client (named `default`).
pub const ENV_API_TOKEN: &str = "SHIPGATE_API_TOKEN";
/// As [`ENV_API_TOKEN`], read from this file instead.
pub const ENV_API_TOKEN_FILE: &str = "SHIPGATE_API_TOKEN_FILE";
/// Roles of the `default` client, comma-separated.
pub const ENV_API_ROLES: &str = "SHIPGATE_API_ROLES";
/// The name of the client added by [`ENV_API_TOKEN`].
pub const ENV_CLIENT_NAME: &str = "default";
/// Shorter tokens are refused: they can be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

const DEFAULT_ENV_CLIENT_ROLES: [&str; 2] = ["release-manager", "engineer"];

// ----------------------------------------------------------------------------------------
// The validated configuration
// ----------------------------------------------------------------------------------------

/// shipgate's configuration, validated: every value here has been checked.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub log: LogConfig,
    pub api: ApiConfig,
    pub playbooks: PlaybooksConfig,
    pub policy: PolicyConfig,
    pub retention: RetentionConfig,
    /// The `[freeze]` calendar as written; checked when the calendar is built, since its
    /// holiday files and URLs are read then.
    pub freeze: Option<crate::domain::freeze::calendar::FreezeConfig>,
    /// The `[discord]` section: the Discord bot, when configured.
    pub discord: Option<DiscordConfig>,
    /// The `[slack]` section: the Slack app, when configured.
    pub slack: Option<slack::SlackConfig>,
    /// `[monitoring]`: the watch after a production deploy reads Prometheus, when configured.
    pub monitoring: Option<MonitoringConfig>,
    /// `[rollback]`: the criteria (the playbook's by default) and what carries a rollback out.
    pub rollback: RollbackConfig,
    /// `[alertmanager]`: alerts posted to `/webhooks/alertmanager`, when configured.
    pub alertmanager: Option<AlertmanagerConfig>,
    /// `[drills]`: when a service is due a rollback drill, and how often overdue ones are reminded.
    pub drills: DrillsConfig,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long in-flight requests get to finish on shutdown.
    pub shutdown_grace_seconds: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            max_body_bytes: 64 * 1024,
            shutdown_grace_seconds: 30,
        }
    }
}

impl ServerConfig {
    pub fn shutdown_grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.shutdown_grace_seconds)
    }
}

/// Where releases are stored. `Debug` hides every credential in the URL; log
/// [`DatabaseConfig::redacted_url`], never `url`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// `sqlite://FILE` (created if missing) or `postgres://USER:PASSWORD@HOST/DB`; from
    /// `database.url`, or read from the file `database.url_file` names.
    pub url: String,
    pub max_connections: u32,
    /// How long startup waits for PostgreSQL before giving up with the likely cause.
    pub connect_timeout_seconds: u64,
    /// SQLite: how long one write waits for another process's write lock on the file.
    pub busy_timeout_ms: u64,
    /// SQLite: how many times a write that found the file busy is tried again before it is
    /// answered with 503 `database_busy`.
    pub busy_retries: u32,
}

/// The range `database.busy_timeout_ms` accepts: some wait, so a moment's contention is
/// absorbed; at most a minute, so a stuck writer is reported while a client still waits.
pub const BUSY_TIMEOUT_MS_RANGE: std::ops::RangeInclusive<u64> = 1..=60_000;
/// The most `database.busy_retries`: each retry waits a whole busy timeout again.
pub const MAX_BUSY_RETRIES: u32 = 10;

/// The range `database.connect_timeout_seconds` accepts: at least a second, so a slow
/// handshake is not mistaken for a dead server; at most five minutes, so a mistake still
/// shows up while someone is watching.
pub const CONNECT_TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 1..=300;

impl Default for DatabaseConfig {
    fn default() -> Self {
        let busy = crate::store::BusyPolicy::DEFAULT;
        Self {
            url: "sqlite://shipgate.db".to_owned(),
            max_connections: 8,
            connect_timeout_seconds: 10,
            busy_timeout_ms: u64::try_from(busy.timeout.as_millis()).unwrap_or(u64::MAX),
            busy_retries: busy.retries,
        }
    }
}

impl DatabaseConfig {
    /// The URL with every credential replaced by `[REDACTED]`, for logs and messages:
    /// see [`crate::store::url::redact`].
    pub fn redacted_url(&self) -> String {
        crate::store::url::redact(&self.url)
    }

    pub fn connect_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.connect_timeout_seconds)
    }

    pub fn busy_policy(&self) -> crate::store::BusyPolicy {
        crate::store::BusyPolicy {
            timeout: std::time::Duration::from_millis(self.busy_timeout_ms),
            retries: self.busy_retries,
        }
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &self.redacted_url())
            .field("max_connections", &self.max_connections)
            .field("connect_timeout_seconds", &self.connect_timeout_seconds)
            .field("busy_timeout_ms", &self.busy_timeout_ms)
            .field("busy_retries", &self.busy_retries)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing_subscriber::EnvFilter` directive: `info`, `shipgate=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Text, level: "info".to_owned() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Who may call the HTTP API, each with its own token and roles.
#[derive(Debug, Clone, Default)]
pub struct ApiConfig {
    pub clients: Vec<ApiClient>,
}

impl ApiConfig {
    /// The client whose token is `presented`, compared in constant time so a caller
    /// cannot learn a token byte by byte from response timings. Every client is
    /// compared, so the answer's timing does not say which one matched either.
    pub fn client_for_token(&self, presented: &str) -> Option<&ApiClient> {
        use subtle::ConstantTimeEq;
        let mut found = None;
        for client in &self.clients {
            let matches: bool = client.token.expose_secret().as_bytes().ct_eq(presented.as_bytes()).into();
            if matches && found.is_none() {
                found = Some(client);
            }
        }
        found
    }
}

/// One API client: a CI pipeline, a script, a person's CLI.
#[derive(Debug, Clone)]
pub struct ApiClient {
    /// Shown as the actor of what the client does (`[a-z0-9-]`).
    pub name: String,
    /// `Debug` prints `[REDACTED]`; `expose_secret()` only to compare.
    pub token: SecretString,
    /// shipgate roles (as in playbooks: `release-manager`, `engineer`).
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaybooksConfig {
    /// Folder of `<name>.toml` playbook files, relative to the working directory.
    pub dir: PathBuf,
    /// The playbook a release uses when none is named.
    pub default: String,
}

impl Default for PlaybooksConfig {
    fn default() -> Self {
        Self { dir: PathBuf::from("config/playbooks"), default: "ship-to-production".to_owned() }
    }
}

impl PlaybooksConfig {
    /// Where the playbook called `name` lives.
    pub fn file_for(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.toml"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyConfig {
    /// Roles whose members may approve a freeze override (never empty).
    pub override_approver_roles: Vec<String>,
    /// How long an approved freeze override stays valid, 1..=1440 minutes.
    pub override_ttl_minutes: u32,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self { override_approver_roles: vec!["release-manager".to_owned()], override_ttl_minutes: 120 }
    }
}

impl Config {
    /// Who holds which role as configured: each API client, each Discord role mapped in
    /// `[discord.roles]` and each Slack user or user group in `[slack.roles]` (everyone on
    /// a platform holds every role when none is mapped there). The engine names them when it refuses an approval.
    pub fn role_holders(&self) -> RoleHolders {
        let mut holders = RoleHolders::default();
        for client in &self.api.clients {
            for role in &client.roles {
                holders.add(RoleName::new(role), Holder::Client(client.name.clone()));
            }
        }
        if let Some(discord) = &self.discord {
            if discord.roles.is_empty() {
                holders.add_to_every_role(Holder::Group("every member of the Discord server".into()));
            }
            for (role, ids) in &discord.roles {
                for id in ids {
                    holders.add(RoleName::new(role), Holder::Group(format!("Discord role {id}")));
                }
            }
        }
        if let Some(slack) = &self.slack {
            if slack.roles.is_empty() {
                holders.add_to_every_role(Holder::Group("everyone in the Slack workspace".into()));
            }
            for (role, ids) in &slack.roles {
                for id in ids {
                    let holder =
                        if id.starts_with('S') { format!("Slack user group {id}") } else { format!("Slack user {id}") };
                    holders.add(RoleName::new(role), Holder::Group(holder));
                }
            }
        }
        holders
    }
}

impl PolicyConfig {
    /// The engine settings the domain decides with.
    pub fn to_policy(&self) -> Policy {
        Policy {
            override_approver_roles: self.override_approver_roles.iter().map(RoleName::new).collect(),
            override_ttl: chrono::Duration::minutes(i64::from(self.override_ttl_minutes)),
            role_holders: Default::default(),
            rollback_hook: Default::default(),
        }
    }
}

/// How long old rows are kept (`[retention]`). A number of days of 0 keeps those rows
/// forever. Release histories are always kept, and so is every undelivered outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Stored answers to requests: within this many days a repeat of a request (the same
    /// Idempotency-Key, a redelivered interaction) is answered with its first answer;
    /// after it, the repeat is decided afresh.
    pub answers_days: u32,
    /// Outbox rows, counted from their delivery.
    pub delivered_outbox_days: u32,
    /// How often old rows are looked for.
    pub interval_minutes: u32,
}

/// The most days `retention.*_days` accepts (about a hundred years); 0 keeps rows forever.
pub const RETENTION_DAYS_MAX: u32 = 36_500;
/// The range `retention.interval_minutes` accepts: every minute to once a day.
pub const RETENTION_INTERVAL_RANGE: std::ops::RangeInclusive<u32> = 1..=1440;

impl Default for RetentionConfig {
    fn default() -> Self {
        Self { answers_days: 7, delivered_outbox_days: 30, interval_minutes: 60 }
    }
}

impl RetentionConfig {
    /// What the retention timer removes, and how often it looks.
    pub fn to_retention(&self) -> crate::app::retention::Retention {
        let kept_for = |days: u32| (days > 0).then(|| chrono::Duration::days(i64::from(days)));
        crate::app::retention::Retention {
            answers: kept_for(self.answers_days),
            delivered_outbox: kept_for(self.delivered_outbox_days),
            every: self.interval(),
        }
    }

    pub fn interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.interval_minutes) * 60)
    }
}

/// How Discord delivers interactions to shipgate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiscordMode {
    /// A gateway (WebSocket) connection: no public URL needed.
    #[default]
    Gateway,
    /// Discord POSTs to `/discord/interactions` on shipgate's HTTP server.
    Http,
}

/// The Discord bot. Ids are Discord snowflakes (digits).
#[derive(Debug, Clone)]
pub struct DiscordConfig {
    pub mode: DiscordMode,
    pub application_id: String,
    /// The application's Ed25519 public key (32 bytes), required in HTTP mode.
    pub public_key: Option<[u8; 32]>,
    /// Slash commands are registered in this guild (guild commands update at once).
    pub guild_id: String,
    /// Release threads are opened under this channel.
    pub release_channel_id: String,
    /// Rollback notices are broadcast to these channels.
    pub incident_channel_ids: Vec<String>,
    /// `https://discord.com`, or a proxy's (or a test fake's) base; `/api/v10` is appended.
    pub api_base: String,
    /// From `SHIPGATE_DISCORD_TOKEN` or `discord.token_file`; `Debug` prints `[REDACTED]`.
    pub token: SecretString,
    /// The playbook's role names -> Discord role ids. Empty: every member holds every role.
    pub roles: BTreeMap<String, Vec<String>>,
}

impl DiscordConfig {
    /// The shipgate roles a member with these Discord roles holds. With no role mapping,
    /// every member holds every role in `all`.
    pub fn roles_of<'a>(&'a self, member_roles: &[String], all: impl IntoIterator<Item = &'a str>) -> Vec<RoleName> {
        if self.roles.is_empty() {
            return all.into_iter().map(RoleName::new).collect();
        }
        self.roles
            .iter()
            .filter(|(_, ids)| ids.iter().any(|id| member_roles.contains(id)))
            .map(|(role, _)| RoleName::new(role.as_str()))
            .collect()
    }
}

/// The variable holding the Discord bot token.
pub const ENV_DISCORD_TOKEN: &str = "SHIPGATE_DISCORD_TOKEN";

// ----------------------------------------------------------------------------------------
// Errors
// ----------------------------------------------------------------------------------------

/// Where a value came from, for telling people what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    /// The environment variable's name.
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

/// Why the configuration could not be loaded; `Display` is the message for people.
/// Messages never contain a token.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {} does not exist", .path.display())]
    FileNotFound { path: PathBuf },
    #[error("cannot read config file {}: {source}", .path.display())]
    FileUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not valid TOML: {message}", .path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("unknown key {key} in {origin}; expected one of {}{}", .expected.join(", "), .hint.unwrap_or(""))]
    UnknownKey {
        /// Dotted path, `server.lisen`, `api.clients[0].tokn_env`.
        key: String,
        origin: Origin,
        expected: Vec<String>,
        hint: Option<&'static str>,
    },
    #[error("{key}: {message}{}", OriginSuffix(.origin))]
    Invalid {
        /// Dotted path, or the environment variable's name for the single-token variables.
        key: String,
        message: String,
        origin: Option<Origin>,
    },
    /// Several problems, each on its own line.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Several(Vec<ConfigError>),
}

impl ConfigError {
    /// Every individual problem (flattening [`ConfigError::Several`]).
    pub fn problems(&self) -> Vec<&ConfigError> {
        match self {
            ConfigError::Several(all) => all.iter().flat_map(ConfigError::problems).collect(),
            other => vec![other],
        }
    }

    fn from_list(mut problems: Vec<ConfigError>) -> Result<(), ConfigError> {
        match problems.len() {
            0 => Ok(()),
            1 => Err(problems.remove(0)),
            _ => Err(ConfigError::Several(problems)),
        }
    }
}

struct OriginSuffix<'a>(&'a Option<Origin>);

impl fmt::Display for OriginSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(origin) => write!(f, " (set in {origin})"),
            None => Ok(()),
        }
    }
}

// ----------------------------------------------------------------------------------------
// Loading
// ----------------------------------------------------------------------------------------

impl Config {
    /// Loads the configuration: defaults, then `path` (or `shipgate.toml` in the working
    /// directory if `path` is `None` and that file exists), then the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let file = resolve_file(path);
        Self::load_inner(file.as_deref(), process_env(), Clients::Read)
    }

    /// As [`Config::load`], but API clients are only checked for their shape: no token is
    /// read and `api.clients` is empty. For commands that never serve the API (`shipgate
    /// playbook show`), so they work where the server's token variables are not set.
    pub fn load_without_clients(path: Option<&Path>) -> Result<Config, ConfigError> {
        let file = resolve_file(path);
        Self::load_inner(file.as_deref(), process_env(), Clients::Skip)
    }

    /// As [`Config::load`], but reading `file` only if given and the environment from
    /// `env` instead of the process: for tests and for embedding.
    pub fn load_with_env<I, K, V>(file: Option<&Path>, env: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::load_inner(file, env, Clients::Read)
    }

    /// The configuration from the text of a file (`path` only names it in errors) and the
    /// environment `env`, as [`Config::load_with_env`] reads it. The secret files the text
    /// or `env` name (`database.url_file`, `token_file`, ...) are read with `read_file`,
    /// so a caller decides what reading them means: no I/O happens here otherwise.
    pub fn from_toml_str<I, K, V>(
        text: &str,
        path: &Path,
        env: I,
        read_file: &dyn Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let env = env_map(env);
        let layer = EnvLayer::collect(&env)?;
        Self::from_layers(Some((path, text)), &layer, &env, Clients::Read, read_file)
    }

    fn load_inner<I, K, V>(file: Option<&Path>, env: I, clients: Clients) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let env = env_map(env);
        let layer = EnvLayer::collect(&env)?;
        let text = match file {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => ConfigError::FileNotFound { path: path.to_owned() },
                _ => ConfigError::FileUnreadable { path: path.to_owned(), source },
            })?),
            None => None,
        };
        let file = file.zip(text.as_deref());
        Self::from_layers(file, &layer, &env, clients, &|path| std::fs::read_to_string(path))
    }

    /// Defaults, then the file's text, then the environment's keys; then every value checked.
    fn from_layers(
        file: Option<(&Path, &str)>,
        layer: &EnvLayer,
        env: &BTreeMap<String, String>,
        clients: Clients,
        read_file: &dyn Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        if let Some((path, text)) = file {
            // Parsed here first so a syntax error is reported with its line and column.
            if let Err(e) = toml::from_str::<toml::Table>(text) {
                return Err(ConfigError::Syntax { path: path.to_owned(), message: toml_message(text, &e) });
            }
            figment = figment.merge(Toml::string(text));
        }
        for (key, (_, value)) in &layer.keys {
            figment = figment.merge(Serialized::default(key, env_value(value)));
        }

        let sources = Sources { file: file.map(|(path, _)| path), layer, read_file };
        // Lossy: environment values are strings; numbers and booleans are read from them.
        let raw: raw::File = figment.extract_lossy().map_err(|e| sources.figment_error(e))?;
        raw.validate(&sources, env, clients)
    }
}

fn env_map<I, K, V>(env: I) -> BTreeMap<String, String>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    env.into_iter().map(|(k, v)| (k.into(), v.into())).collect()
}

/// Whether loading reads and checks API client tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clients {
    Read,
    Skip,
}

/// `path`, or `shipgate.toml` in the working directory if it exists, or no file.
fn resolve_file(path: Option<&Path>) -> Option<PathBuf> {
    match path {
        Some(path) => Some(path.to_owned()),
        None => {
            let default = Path::new(DEFAULT_CONFIG_FILE);
            default.is_file().then(|| default.to_owned())
        }
    }
}

/// The process environment. Variables that are not valid UTF-8 cannot be config values
/// or tokens; they are skipped.
fn process_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
}

/// `line L, column C: message` for a TOML syntax error.
fn toml_message(text: &str, error: &toml::de::Error) -> String {
    // toml's messages may span lines ("invalid string\nexpected `\"`"); keep one line.
    let message = error.message().trim_end().lines().collect::<Vec<_>>().join("; ");
    match error.span() {
        Some(span) => {
            // A span off a character boundary cannot happen; fall back to the whole text.
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_owned(),
    }
}

/// An environment value for figment: a `[a, b]` list is parsed as a list, anything else
/// stays a string (so a numeric-looking database name or playbook stays text).
fn env_value(value: &str) -> figment::value::Value {
    if value.trim_start().starts_with('[') {
        // Infallible: figment falls back to the string itself when it does not parse.
        value.parse().unwrap_or_else(|never: std::convert::Infallible| match never {})
    } else {
        figment::value::Value::from(value.to_owned())
    }
}

/// The `SHIPGATE_<SECTION>__<KEY>` variables, by dotted key.
struct EnvLayer {
    /// `server.listen` -> (`SHIPGATE_SERVER__LISTEN`, value)
    keys: BTreeMap<String, (String, String)>,
}

/// Keys per section, for catching `SHIPGATE_SERVER_LISTEN` (one underscore) which would
/// otherwise be ignored without a word.
const SECTION_KEYS: &[(&str, &[&str])] = &[
    ("server", &["listen", "max_body_bytes", "shutdown_grace_seconds"]),
    ("database", &["url", "url_file", "max_connections", "connect_timeout_seconds", "busy_timeout_ms", "busy_retries"]),
    ("log", &["format", "level"]),
    ("api", &["clients"]),
    ("playbooks", &["dir", "default"]),
    ("policy", &["override_approver_roles", "override_ttl_minutes"]),
    ("retention", &["answers_days", "delivered_outbox_days", "interval_minutes"]),
    ("freeze", &["timezone", "working_days", "weekly", "holidays", "windows", "cron"]),
    (
        "monitoring",
        &[
            "prometheus_url",
            "window",
            "min_window",
            "interval",
            "baseline_window",
            "sample_range",
            "query_timeout",
            "queries",
        ],
    ),
    ("rollback", &["criteria", "auto", "hook", "notice_webhook"]),
    ("drills", &["every", "remind_every"]),
    ("alertmanager", &["token_env", "token_file", "match_labels", "severity_label", "critical_severities"]),
    (
        "discord",
        &[
            "mode",
            "application_id",
            "public_key",
            "guild_id",
            "release_channel_id",
            "incident_channel_ids",
            "api_base",
            "token_file",
            "roles",
        ],
    ),
    ("slack", slack::KEYS),
];

impl EnvLayer {
    fn collect(env: &BTreeMap<String, String>) -> Result<EnvLayer, ConfigError> {
        let mut keys = BTreeMap::new();
        let mut problems = Vec::new();
        for (var, value) in env {
            let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if slack::is_secret_variable(var) {
                continue;
            }
            if !rest.contains("__") {
                // Not a config key (a token variable, SHIPGATE_SERVER for the CLI, ...),
                // unless it is a config key written with a single underscore.
                if let Some(meant) = single_underscore_key(rest) {
                    problems.push(ConfigError::Invalid {
                        key: var.clone(),
                        message: format!(
                            "is not read; config variables put a double underscore between section and key: {ENV_PREFIX}{meant}"
                        ),
                        origin: None,
                    });
                }
                continue;
            }
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            if path.iter().any(String::is_empty) {
                problems.push(ConfigError::Invalid {
                    key: var.clone(),
                    message: format!("is not a config variable; they are named {ENV_PREFIX}<SECTION>__<KEY>"),
                    origin: None,
                });
                continue;
            }
            keys.insert(path.join("."), (var.clone(), value.clone()));
        }
        ConfigError::from_list(problems)?;
        Ok(EnvLayer { keys })
    }
}

/// `SERVER_LISTEN` -> `Some("SERVER__LISTEN")` when that is a config key.
fn single_underscore_key(rest: &str) -> Option<String> {
    let lower = rest.to_ascii_lowercase();
    SECTION_KEYS.iter().find_map(|(section, keys)| {
        let key = lower.strip_prefix(section)?.strip_prefix('_')?;
        keys.contains(&key).then(|| format!("{}__{}", section.to_ascii_uppercase(), key.to_ascii_uppercase()))
    })
}

/// What was loaded from where, for naming the origin of a bad value.
struct Sources<'a> {
    file: Option<&'a Path>,
    layer: &'a EnvLayer,
    /// Reads the secret files the configuration names.
    read_file: &'a dyn Fn(&Path) -> std::io::Result<String>,
}

impl Sources<'_> {
    /// The environment variable that set `key` (or a parent of it), else the file.
    fn origin(&self, key: &str) -> Option<Origin> {
        let from_env = self.layer.keys.iter().find(|(k, _)| {
            key == k.as_str() || key.strip_prefix(k.as_str()).is_some_and(|rest| rest.starts_with(['.', '[']))
        });
        match from_env {
            Some((_, (var, _))) => Some(Origin::Env(var.clone())),
            None => self.file.map(|f| Origin::File(f.to_owned())),
        }
    }

    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { key: key.to_owned(), message: message.into(), origin: self.origin(key) }
    }

    fn figment_error(&self, error: figment::Error) -> ConfigError {
        use figment::error::Kind;
        let problems = error
            .into_iter()
            .map(|e| {
                let key = dotted(&e.path);
                match e.kind {
                    Kind::UnknownField(field, expected) => {
                        // figment prefixes a failed key with the key itself, so the path normally ends
                        // with it already; joined otherwise so the key is never lost.
                        let key = if e.path.last() == Some(&field) { key } else { join_key(&key, &field) };
                        let hint = (field == "token").then_some(
                            "; the token itself never sits in the file: name the variable that holds it with token_env, or its file with token_file",
                        );
                        ConfigError::UnknownKey {
                            origin: self
                                .origin(&key)
                                .unwrap_or_else(|| Origin::File(PathBuf::from(DEFAULT_CONFIG_FILE))),
                            key,
                            expected: expected.iter().map(|s| (*s).to_owned()).collect(),
                            hint,
                        }
                    }
                    Kind::MissingField(field) => {
                        let key = join_key(&key, &field);
                        self.invalid(&key, "is required")
                    }
                    Kind::UnknownVariant(found, expected) => {
                        self.invalid(&key, format!("{found:?} is not one of {}", expected.join(", ")))
                    }
                    Kind::InvalidType(found, expected) | Kind::InvalidValue(found, expected) => {
                        self.invalid(&key, format!("expected {expected}, found {found}"))
                    }
                    other => self.invalid(&key, other.to_string()),
                }
            })
            .collect();
        ConfigError::from_list(problems).err().unwrap_or_else(|| ConfigError::Several(Vec::new()))
    }
}

/// `["api", "clients", "0", "name"]` -> `api.clients[0].name`.
fn dotted(path: &[String]) -> String {
    path.iter().fold(String::new(), |key, part| join_key(&key, part))
}

fn join_key(key: &str, part: &str) -> String {
    if key.is_empty() {
        part.to_owned()
    } else if part.parse::<usize>().is_ok() {
        format!("{key}[{part}]")
    } else {
        format!("{key}.{part}")
    }
}

// ----------------------------------------------------------------------------------------
// The file as written, before validation
// ----------------------------------------------------------------------------------------

mod raw {
    //! The configuration as deserialized. Defaults come from the validated types'
    //! `Default`, so each default is written once.

    use super::*;

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct File {
        pub server: Server,
        pub database: Database,
        pub log: Log,
        pub api: Api,
        pub playbooks: Playbooks,
        pub policy: Policy,
        pub retention: Retention,
        pub freeze: Option<crate::domain::freeze::calendar::FreezeConfig>,
        pub discord: Option<Discord>,
        pub slack: Option<super::slack::raw::Slack>,
        pub monitoring: Option<super::monitoring::raw::Monitoring>,
        pub rollback: super::monitoring::raw::Rollback,
        pub alertmanager: Option<super::monitoring::raw::Alertmanager>,
        pub drills: super::drills::raw::Drills,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Discord {
        #[serde(default)]
        pub mode: DiscordMode,
        pub application_id: String,
        #[serde(default)]
        pub public_key: Option<String>,
        pub guild_id: String,
        pub release_channel_id: String,
        #[serde(default)]
        pub incident_channel_ids: Vec<String>,
        #[serde(default = "discord_api_base")]
        pub api_base: String,
        #[serde(default)]
        pub token_file: Option<PathBuf>,
        #[serde(default)]
        pub roles: BTreeMap<String, Vec<String>>,
    }

    fn discord_api_base() -> String {
        "https://discord.com".to_owned()
    }

    #[derive(Debug, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct Server {
        /// A string, checked by hand: serde's message for a bad address is unhelpful.
        pub listen: String,
        pub max_body_bytes: usize,
        pub shutdown_grace_seconds: u64,
    }

    impl Default for Server {
        fn default() -> Self {
            let d = ServerConfig::default();
            Self {
                listen: d.listen.to_string(),
                max_body_bytes: d.max_body_bytes,
                shutdown_grace_seconds: d.shutdown_grace_seconds,
            }
        }
    }

    /// `url` and `url_file` stay unset unless written, so setting both can be told apart
    /// from setting one; the default URL is applied when neither is.
    #[derive(Debug, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct Database {
        pub url: Option<String>,
        pub url_file: Option<PathBuf>,
        pub max_connections: u32,
        pub connect_timeout_seconds: u64,
        pub busy_timeout_ms: u64,
        pub busy_retries: u32,
    }

    impl Default for Database {
        fn default() -> Self {
            let d = DatabaseConfig::default();
            Self {
                url: None,
                url_file: None,
                max_connections: d.max_connections,
                connect_timeout_seconds: d.connect_timeout_seconds,
                busy_timeout_ms: d.busy_timeout_ms,
                busy_retries: d.busy_retries,
            }
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct Log {
        pub format: LogFormat,
        pub level: String,
    }

    impl Default for Log {
        fn default() -> Self {
            let d = LogConfig::default();
            Self { format: d.format, level: d.level }
        }
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct Api {
        pub clients: Vec<Client>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Client {
        pub name: String,
        #[serde(default)]
        pub token_env: Option<String>,
        #[serde(default)]
        pub token_file: Option<PathBuf>,
        pub roles: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct Playbooks {
        pub dir: PathBuf,
        pub default: String,
    }

    impl Default for Playbooks {
        fn default() -> Self {
            let d = PlaybooksConfig::default();
            Self { dir: d.dir, default: d.default }
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct Policy {
        #[serde(deserialize_with = "list_or_commas")]
        pub override_approver_roles: Vec<String>,
        pub override_ttl_minutes: u32,
    }

    impl Default for Policy {
        fn default() -> Self {
            let d = PolicyConfig::default();
            Self { override_approver_roles: d.override_approver_roles, override_ttl_minutes: d.override_ttl_minutes }
        }
    }

    /// Signed, so a negative number of days is refused by validation with a message that
    /// says what is meant, rather than by serde's "expected u32".
    #[derive(Debug, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct Retention {
        pub answers_days: i64,
        pub delivered_outbox_days: i64,
        pub interval_minutes: i64,
    }

    impl Default for Retention {
        fn default() -> Self {
            let d = RetentionConfig::default();
            Self {
                answers_days: i64::from(d.answers_days),
                delivered_outbox_days: i64::from(d.delivered_outbox_days),
                interval_minutes: i64::from(d.interval_minutes),
            }
        }
    }

    /// A list, or a comma-separated string (how lists are written in an environment variable).
    fn list_or_commas<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum ListOrCommas {
            List(Vec<String>),
            Commas(String),
        }
        let value = ListOrCommas::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom(
                "expected a list of role names like [\"release-manager\"] or a comma-separated string",
            )
        })?;
        Ok(match value {
            ListOrCommas::List(list) => list,
            ListOrCommas::Commas(text) => split_commas(&text),
        })
    }
}

fn split_commas(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

// ----------------------------------------------------------------------------------------
// Validation
// ----------------------------------------------------------------------------------------

/// A client's name is who did something on every card and in history: kept to one short
/// plain word, as a person's display name is (see `domain::text::MAX_DISPLAY_NAME_CHARS`).
fn is_client_name(name: &str) -> bool {
    (1..=MAX_DISPLAY_NAME_CHARS).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Role names as playbooks write them; no spaces or commas, which would make the name
/// impossible to write in `SHIPGATE_API_ROLES` or to match.
fn role_problem(role: &str) -> Option<String> {
    if role.trim().is_empty() {
        Some("role names must not be empty".to_owned())
    } else if role.chars().any(|c| c.is_whitespace() || c == ',') {
        Some(format!("role {role:?} must not contain spaces or commas"))
    } else {
        None
    }
}

/// Names an environment variable, conventionally upper case. Used to decide whether the
/// value of `token_env` may be echoed: if it is not a variable name, it may be a token
/// pasted into the wrong key, and is never printed.
fn looks_like_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Reads a token file: trimmed, non-empty, long enough. The error says what is wrong
/// without showing the content.
fn read_token_file(path: &Path, read_file: &dyn Fn(&Path) -> std::io::Result<String>) -> Result<SecretString, String> {
    let text = read_file(path).map_err(|e| format!("cannot read token file {}: {e}", path.display()))?;
    let token = SecretString::from(text.trim().to_owned());
    check_token(&token).map_err(|m| format!("the token in {} {m}", path.display()))?;
    Ok(token)
}

fn check_token(token: &SecretString) -> Result<(), String> {
    let len = token.expose_secret().chars().count();
    if len == 0 {
        Err("is empty".to_owned())
    } else if len < MIN_TOKEN_LEN {
        Err(format!(
            "is {len} characters; tokens must be at least {MIN_TOKEN_LEN} (generate one with `openssl rand -hex 32`)"
        ))
    } else {
        Ok(())
    }
}

impl raw::File {
    fn validate(
        self,
        sources: &Sources<'_>,
        env: &BTreeMap<String, String>,
        read_clients: Clients,
    ) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let defaults = Config::default();

        let listen =
            self.server.listen.trim().parse::<SocketAddr>().unwrap_or_else(|_| {
                problems.push(sources.invalid(
                    "server.listen",
                    format!("{:?} is not an address like 127.0.0.1:8080", self.server.listen),
                ));
                defaults.server.listen
            });
        if self.server.max_body_bytes < 1024 {
            problems.push(sources.invalid(
                "server.max_body_bytes",
                format!("{} is too small; requests need at least 1024 bytes", self.server.max_body_bytes),
            ));
        }

        let (url_key, url) = match (self.database.url, &self.database.url_file) {
            (Some(_), Some(_)) => {
                problems.push(sources.invalid(
                    "database.url_file",
                    format!(
                        "is set together with database.url{}; keep exactly one",
                        OriginSuffix(&sources.origin("database.url"))
                    ),
                ));
                ("database.url", defaults.database.url.clone())
            }
            (Some(url), None) => ("database.url", url.trim().to_owned()),
            (None, Some(path)) => match read_secret_file(path, sources.read_file) {
                Ok(url) => ("database.url_file", url.expose_secret().to_owned()),
                Err(message) => {
                    problems.push(sources.invalid("database.url_file", message));
                    ("database.url_file", defaults.database.url.clone())
                }
            },
            (None, None) => ("database.url", defaults.database.url.clone()),
        };
        let known_scheme = ["sqlite:", "postgres://", "postgresql://"].iter().any(|s| url.starts_with(s));
        if !known_scheme {
            // The URL itself is not repeated: it may hold a password.
            // Only a scheme followed by `://` is named: before a lone `:` may be a user name
            // or a password (`user:pass@host`, or a bare password in the URL file).
            let scheme = match url.split_once("://") {
                Some((scheme, _))
                    if !scheme.is_empty()
                        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
                {
                    format!("{scheme:?}")
                }
                _ => "no scheme".to_owned(),
            };
            problems.push(sources.invalid(
                url_key,
                format!("expected sqlite://FILE or postgres://USER:PASSWORD@HOST/DB, found a URL with {scheme}"),
            ));
        }
        if self.database.max_connections == 0 {
            problems.push(sources.invalid("database.max_connections", "must be at least 1"));
        }
        if !CONNECT_TIMEOUT_RANGE.contains(&self.database.connect_timeout_seconds) {
            problems.push(sources.invalid(
                "database.connect_timeout_seconds",
                format!(
                    "{} is out of range; expected {} to {} seconds",
                    self.database.connect_timeout_seconds,
                    CONNECT_TIMEOUT_RANGE.start(),
                    CONNECT_TIMEOUT_RANGE.end()
                ),
            ));
        }
        if !BUSY_TIMEOUT_MS_RANGE.contains(&self.database.busy_timeout_ms) {
            problems.push(sources.invalid(
                "database.busy_timeout_ms",
                format!(
                    "{} is out of range; expected {} to {} milliseconds",
                    self.database.busy_timeout_ms,
                    BUSY_TIMEOUT_MS_RANGE.start(),
                    BUSY_TIMEOUT_MS_RANGE.end()
                ),
            ));
        }
        if self.database.busy_retries > MAX_BUSY_RETRIES {
            problems.push(sources.invalid(
                "database.busy_retries",
                format!("{} is out of range; expected 0 to {MAX_BUSY_RETRIES}", self.database.busy_retries),
            ));
        }

        let level = self.log.level.trim().to_owned();
        if level.is_empty() || tracing_subscriber::EnvFilter::try_new(&level).is_err() {
            problems.push(sources.invalid(
                "log.level",
                format!("{level:?} is not a log filter like info, debug or shipgate=debug,info"),
            ));
        }

        if self.playbooks.default.trim().is_empty() {
            problems.push(sources.invalid("playbooks.default", "must name a playbook, e.g. ship-to-production"));
        }

        if self.policy.override_approver_roles.is_empty() {
            problems.push(sources.invalid(
                "policy.override_approver_roles",
                "must name at least one role; an empty list would let anyone approve a freeze override",
            ));
        }
        for (i, role) in self.policy.override_approver_roles.iter().enumerate() {
            if let Some(message) = role_problem(role) {
                problems.push(sources.invalid(&format!("policy.override_approver_roles[{i}]"), message));
            }
        }
        if !(1..=1440).contains(&self.policy.override_ttl_minutes) {
            problems.push(sources.invalid(
                "policy.override_ttl_minutes",
                format!("{} is out of range; expected 1 to 1440 minutes", self.policy.override_ttl_minutes),
            ));
        }

        let retention = retention(&self.retention, sources, &mut problems);

        let clients = match read_clients {
            Clients::Read => clients(self.api.clients, sources, env, &mut problems),
            Clients::Skip => Vec::new(),
        };

        let discord = self.discord.and_then(|d| discord(d, sources, env, &mut problems));
        let slack = self.slack.and_then(|s| slack::slack(s, sources, env, &mut problems));
        let monitoring = self.monitoring.and_then(|m| monitoring::monitoring(m, sources, &mut problems));
        let rollback = monitoring::rollback(self.rollback, sources, env, &mut problems);
        let alertmanager = self.alertmanager.and_then(|a| monitoring::alertmanager(a, sources, env, &mut problems));
        let drills = drills::drills(&self.drills, sources, &mut problems);

        ConfigError::from_list(problems)?;
        Ok(Config {
            server: ServerConfig {
                listen,
                max_body_bytes: self.server.max_body_bytes,
                shutdown_grace_seconds: self.server.shutdown_grace_seconds,
            },
            database: DatabaseConfig {
                url,
                max_connections: self.database.max_connections,
                connect_timeout_seconds: self.database.connect_timeout_seconds,
                busy_timeout_ms: self.database.busy_timeout_ms,
                busy_retries: self.database.busy_retries,
            },
            log: LogConfig { format: self.log.format, level },
            api: ApiConfig { clients },
            playbooks: PlaybooksConfig { dir: self.playbooks.dir, default: self.playbooks.default.trim().to_owned() },
            policy: PolicyConfig {
                override_approver_roles: self
                    .policy
                    .override_approver_roles
                    .iter()
                    .map(|r| r.trim().to_owned())
                    .collect(),
                override_ttl_minutes: self.policy.override_ttl_minutes,
            },
            retention,
            freeze: self.freeze,
            discord,
            slack,
            monitoring,
            rollback,
            alertmanager,
            drills,
        })
    }
}

/// The `[retention]` section, checked: days are 0 (keep forever) to [`RETENTION_DAYS_MAX`],
/// the interval within [`RETENTION_INTERVAL_RANGE`].
fn retention(raw: &raw::Retention, sources: &Sources<'_>, problems: &mut Vec<ConfigError>) -> RetentionConfig {
    let defaults = RetentionConfig::default();
    let mut days = |key: &str, value: i64, default: u32| match u32::try_from(value) {
        Ok(days) if days <= RETENTION_DAYS_MAX => days,
        _ => {
            problems.push(sources.invalid(
                key,
                format!(
                    "{value} is out of range; expected a number of days from 1 to {RETENTION_DAYS_MAX}, or 0 to keep the rows forever"
                ),
            ));
            default
        }
    };
    let answers_days = days("retention.answers_days", raw.answers_days, defaults.answers_days);
    let delivered_outbox_days =
        days("retention.delivered_outbox_days", raw.delivered_outbox_days, defaults.delivered_outbox_days);
    let interval_minutes = match u32::try_from(raw.interval_minutes) {
        Ok(minutes) if RETENTION_INTERVAL_RANGE.contains(&minutes) => minutes,
        _ => {
            problems.push(sources.invalid(
                "retention.interval_minutes",
                format!(
                    "{} is out of range; expected {} to {} minutes",
                    raw.interval_minutes,
                    RETENTION_INTERVAL_RANGE.start(),
                    RETENTION_INTERVAL_RANGE.end()
                ),
            ));
            defaults.interval_minutes
        }
    };
    RetentionConfig { answers_days, delivered_outbox_days, interval_minutes }
}

/// The `[discord]` section, checked: ids are snowflakes, the public key is 32 bytes of hex
/// (required in HTTP mode), the token is read from its variable or file.
fn discord(
    raw: raw::Discord,
    sources: &Sources<'_>,
    env: &BTreeMap<String, String>,
    problems: &mut Vec<ConfigError>,
) -> Option<DiscordConfig> {
    let before = problems.len();
    let snowflake = |key: &str, value: &str, problems: &mut Vec<ConfigError>| {
        let value = value.trim();
        if value.is_empty() || value.len() > 20 || !value.chars().all(|c| c.is_ascii_digit()) {
            problems.push(sources.invalid(
                key,
                format!(
                    "{value:?} is not a Discord id; copy it with Developer Mode on (digits, like 1234567890123456789)"
                ),
            ));
        }
        value.to_owned()
    };
    let application_id = snowflake("discord.application_id", &raw.application_id, problems);
    let guild_id = snowflake("discord.guild_id", &raw.guild_id, problems);
    let release_channel_id = snowflake("discord.release_channel_id", &raw.release_channel_id, problems);
    let incident_channel_ids: Vec<String> = raw
        .incident_channel_ids
        .iter()
        .enumerate()
        .map(|(i, id)| snowflake(&format!("discord.incident_channel_ids[{i}]"), id, problems))
        .collect();
    let public_key = match raw.public_key.as_deref().map(str::trim) {
        None | Some("") => {
            if raw.mode == DiscordMode::Http {
                problems.push(sources.invalid(
                    "discord.public_key",
                    "is required in HTTP mode: copy the application's public key from the Developer Portal (General Information)",
                ));
            }
            None
        }
        Some(hex) => {
            let bytes = <[u8; 32] as hex::FromHex>::from_hex(hex).ok();
            if bytes.is_none() {
                problems.push(sources.invalid(
                    "discord.public_key",
                    "must be the application's public key: 64 hex characters, from the Developer Portal (General Information)",
                ));
            }
            bytes
        }
    };
    let api_base = raw.api_base.trim().trim_end_matches('/').to_owned();
    if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
        problems.push(
            sources
                .invalid("discord.api_base", format!("{api_base:?} must be an http(s) URL, like https://discord.com")),
        );
    } else if names_the_api_path(&api_base) {
        // Both shipgate's REST client and serenity's proxy add `/api/v10` themselves.
        problems.push(sources.invalid(
            "discord.api_base",
            format!("{api_base:?} names the API path; give the origin only, like https://discord.com (shipgate appends /api/v10)"),
        ));
    }
    for (role, ids) in &raw.roles {
        if let Some(message) = role_problem(role) {
            problems.push(sources.invalid(&format!("discord.roles.{role}"), message));
        }
        if ids.is_empty() {
            problems.push(sources.invalid(
                &format!("discord.roles.{role}"),
                "names no Discord role id; list at least one, or leave the role out",
            ));
        }
        for (i, id) in ids.iter().enumerate() {
            snowflake(&format!("discord.roles.{role}[{i}]"), id, problems);
        }
    }
    let token =
        match (env.get(ENV_DISCORD_TOKEN), &raw.token_file) {
            (Some(_), Some(_)) => {
                problems.push(sources.invalid(
                    "discord.token_file",
                    format!("is set together with {ENV_DISCORD_TOKEN}; keep exactly one"),
                ));
                None
            }
            (Some(token), None) if !token.trim().is_empty() => Some(SecretString::from(token.trim().to_owned())),
            (None, Some(path)) => match read_secret_file(path, sources.read_file) {
                Ok(token) => Some(token),
                Err(message) => {
                    problems.push(sources.invalid("discord.token_file", message));
                    None
                }
            },
            _ => {
                problems.push(sources.invalid(
                    "discord",
                    format!(
                    "needs the bot token: export it in {ENV_DISCORD_TOKEN}, or name its file with discord.token_file"
                ),
                ));
                None
            }
        };
    if problems.len() != before {
        return None;
    }
    Some(DiscordConfig {
        mode: raw.mode,
        application_id,
        public_key,
        guild_id,
        release_channel_id,
        incident_channel_ids,
        api_base,
        token: token?,
        roles: raw
            .roles
            .into_iter()
            .map(|(role, ids)| (role.trim().to_owned(), ids.iter().map(|id| id.trim().to_owned()).collect()))
            .collect(),
    })
}

/// Whether a Discord base URL ends in `/api` or `/api/v<N>`, as Discord's docs spell the
/// REST base, rather than at the origin (or a proxy's prefix) it is meant to be.
fn names_the_api_path(api_base: &str) -> bool {
    let Some((_, after)) = api_base.rsplit_once("/api") else { return false };
    after.is_empty() || after.strip_prefix("/v").is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()))
}

/// Reads a secret from a file: trimmed and non-empty; errors never show the content.
fn read_secret_file(path: &Path, read_file: &dyn Fn(&Path) -> std::io::Result<String>) -> Result<SecretString, String> {
    let text = read_file(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let secret = text.trim();
    if secret.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(SecretString::from(secret.to_owned()))
}

/// The file's clients plus the `default` client from `SHIPGATE_API_TOKEN`, every token
/// read and checked. Problems are pushed; clients with problems are left out.
fn clients(
    raw: Vec<raw::Client>,
    sources: &Sources<'_>,
    env: &BTreeMap<String, String>,
    problems: &mut Vec<ConfigError>,
) -> Vec<ApiClient> {
    let mut clients: Vec<(String, ApiClient)> = Vec::new();

    for (i, client) in raw.into_iter().enumerate() {
        let at = format!("api.clients[{i}]");
        let before = problems.len();
        if !is_client_name(&client.name) {
            problems.push(sources.invalid(
                &format!("{at}.name"),
                format!(
                    "{:?} must be 1 to {MAX_DISPLAY_NAME_CHARS} lower-case letters, digits and -, e.g. ci or deploy-bot",
                    client.name
                ),
            ));
        }
        if client.roles.is_empty() {
            problems.push(sources.invalid(&format!("{at}.roles"), "must name at least one role, e.g. [\"engineer\"]"));
        }
        for (j, role) in client.roles.iter().enumerate() {
            if let Some(message) = role_problem(role) {
                problems.push(sources.invalid(&format!("{at}.roles[{j}]"), message));
            }
        }
        let token = match (&client.token_env, &client.token_file) {
            (Some(_), Some(_)) => Err(sources.invalid(
                &at,
                format!("client {:?} sets both token_env and token_file; keep exactly one", client.name),
            )),
            (None, None) => Err(sources.invalid(
                &at,
                format!(
                    "client {:?} needs token_env (the environment variable holding its token) or token_file",
                    client.name
                ),
            )),
            (Some(var), None) => {
                let key = format!("{at}.token_env");
                if !looks_like_var_name(var) {
                    Err(sources.invalid(
                        &key,
                        "must be the NAME of an environment variable, like SHIPGATE_CI_TOKEN (the value is not shown in case it is the token itself)",
                    ))
                } else {
                    match env.get(var).map(|v| SecretString::from(v.trim().to_owned())) {
                        None => Err(sources.invalid(
                            &key,
                            format!("{var} is not set; export the token of client {:?} in it", client.name),
                        )),
                        Some(token) => check_token(&token)
                            .map(|()| token)
                            .map_err(|m| sources.invalid(&key, format!("the token in {var} {m}"))),
                    }
                }
            }
            (None, Some(path)) => {
                read_token_file(path, sources.read_file).map_err(|m| sources.invalid(&format!("{at}.token_file"), m))
            }
        };
        match token {
            Ok(token) if problems.len() == before => clients.push((
                at,
                ApiClient {
                    name: client.name,
                    token,
                    roles: client.roles.iter().map(|r| r.trim().to_owned()).collect(),
                },
            )),
            Ok(_) => {}
            Err(problem) => problems.push(problem),
        }
    }

    if let Some(client) = env_client(env, sources, problems) {
        clients.push((ENV_API_TOKEN.to_owned(), client));
    }

    // Names and tokens must each be unique: a name is who did something, a token is who
    // is calling; two clients sharing either would make the answer ambiguous.
    let mut names = BTreeMap::new();
    for (at, client) in &clients {
        if let Some(first) = names.insert(client.name.clone(), at.clone()) {
            problems.push(ConfigError::Invalid {
                key: format!("{at}.name"),
                message: format!("client name {:?} is already used by {first}", client.name),
                origin: sources.origin(&format!("{at}.name")),
            });
        }
    }
    for (i, (at, client)) in clients.iter().enumerate() {
        if let Some((_, first)) =
            clients[..i].iter().find(|(_, c)| c.token.expose_secret() == client.token.expose_secret())
        {
            problems.push(ConfigError::Invalid {
                key: at.clone(),
                message: format!(
                    "client {:?} has the same token as client {:?}; every client needs its own",
                    client.name, first.name
                ),
                origin: sources.origin(at),
            });
        }
    }

    clients.into_iter().map(|(_, c)| c).collect()
}

/// The `default` client from `SHIPGATE_API_TOKEN` / `SHIPGATE_API_TOKEN_FILE` and
/// `SHIPGATE_API_ROLES`, if configured that way.
fn env_client(
    env: &BTreeMap<String, String>,
    sources: &Sources<'_>,
    problems: &mut Vec<ConfigError>,
) -> Option<ApiClient> {
    let invalid = |key: &str, message: String| ConfigError::Invalid { key: key.to_owned(), message, origin: None };
    let token = match (env.get(ENV_API_TOKEN), env.get(ENV_API_TOKEN_FILE)) {
        (Some(_), Some(_)) => {
            problems.push(invalid(ENV_API_TOKEN, format!("is set together with {ENV_API_TOKEN_FILE}; set only one")));
            return None;
        }
        (None, None) => {
            if env.contains_key(ENV_API_ROLES) {
                problems.push(invalid(
                    ENV_API_ROLES,
                    format!("is set but neither {ENV_API_TOKEN} nor {ENV_API_TOKEN_FILE} is; the roles would apply to no one"),
                ));
            }
            return None;
        }
        (Some(value), None) => {
            let token = SecretString::from(value.trim().to_owned());
            check_token(&token).map(|()| token).map_err(|m| invalid(ENV_API_TOKEN, m))
        }
        (None, Some(path)) => {
            read_token_file(Path::new(path), sources.read_file).map_err(|m| invalid(ENV_API_TOKEN_FILE, m))
        }
    };
    let roles = match env.get(ENV_API_ROLES) {
        Some(text) => split_commas(text),
        None => DEFAULT_ENV_CLIENT_ROLES.iter().map(|r| (*r).to_owned()).collect(),
    };
    let mut ok = true;
    if roles.is_empty() {
        problems.push(invalid(
            ENV_API_ROLES,
            "names no role; write them comma-separated, e.g. release-manager,engineer".to_owned(),
        ));
        ok = false;
    }
    for role in &roles {
        if let Some(message) = role_problem(role) {
            problems.push(invalid(ENV_API_ROLES, message));
            ok = false;
        }
    }
    match token {
        Ok(token) if ok => Some(ApiClient { name: ENV_CLIENT_NAME.to_owned(), token, roles }),
        Ok(_) => None,
        Err(problem) => {
            problems.push(problem);
            None
        }
    }
}

impl Config {
    /// Every role someone can hold: an API client's, or one `[discord.roles]` or `[slack.roles]` maps, for
    /// checking against the roles playbooks mention. (A role the policy only names, such as
    /// an override approver role, is held by no one on that account.)
    pub fn held_roles(&self) -> BTreeSet<String> {
        let mut roles: BTreeSet<String> = self.api.clients.iter().flat_map(|c| c.roles.iter().cloned()).collect();
        if let Some(discord) = &self.discord {
            roles.extend(discord.roles.keys().cloned());
        }
        if let Some(slack) = &self.slack {
            roles.extend(slack.roles.keys().cloned());
        }
        roles
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef-token";

    fn load_str(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shipgate.toml");
        std::fs::write(&path, toml).unwrap();
        Config::load_with_env(Some(&path), env.iter().copied())
    }

    #[test]
    fn text_is_read_with_secret_files_from_the_given_reader() {
        let toml = "[database]\nurl_file = \"/run/secrets/db\"\n\n[[api.clients]]\nname = \"ci\"\ntoken_file = \"/run/secrets/ci\"\nroles = [\"engineer\"]\n";
        let read = |path: &Path| match path.to_str() {
            Some("/run/secrets/db") => Ok("postgres://shipgate@db/shipgate\n".to_owned()),
            Some("/run/secrets/ci") => Ok(format!("{TOKEN}\n")),
            _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        };
        let config = Config::from_toml_str(toml, Path::new("inline.toml"), [("X", "y")], &read).unwrap();
        assert_eq!(config.database.url, "postgres://shipgate@db/shipgate");
        assert_eq!(config.api.clients.len(), 1);
        assert_eq!(config.api.clients[0].token.expose_secret(), TOKEN);
    }

    #[test]
    fn text_errors_name_the_given_path_and_an_unreadable_secret_file() {
        let nothing = |_: &Path| Err(std::io::Error::from(std::io::ErrorKind::NotFound));
        let err = Config::from_toml_str("[server\n", Path::new("inline.toml"), [("X", "y")], &nothing).unwrap_err();
        assert!(err.to_string().contains("inline.toml") && err.to_string().contains("line 1"), "{err}");

        let toml = "[database]\nurl_file = \"/run/secrets/db\"\n";
        let err = Config::from_toml_str(toml, Path::new("inline.toml"), [("X", "y")], &nothing).unwrap_err();
        assert!(
            err.to_string().contains("database.url_file") && err.to_string().contains("cannot read /run/secrets/db"),
            "{err}"
        );
    }

    #[test]
    fn defaults_without_file_or_env() {
        let config = Config::load_with_env(None, std::iter::empty::<(String, String)>()).unwrap();
        assert_eq!(config.server, ServerConfig::default());
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.server.max_body_bytes, 65536);
        assert_eq!(config.database.url, "sqlite://shipgate.db");
        assert_eq!(config.log.format, LogFormat::Text);
        assert_eq!(config.playbooks.default, "ship-to-production");
        assert_eq!(config.policy.override_ttl_minutes, 120);
        assert!(config.api.clients.is_empty());
    }

    #[test]
    fn retention_keeps_answers_a_week_and_delivered_messages_a_month_by_default() {
        let config = Config::load_with_env(None, std::iter::empty::<(String, String)>()).unwrap();
        let retention = config.retention.to_retention();
        assert_eq!(retention.answers, Some(chrono::Duration::days(7)));
        assert_eq!(retention.delivered_outbox, Some(chrono::Duration::days(30)));
        assert_eq!(retention.every, std::time::Duration::from_secs(3600));
    }

    #[test]
    fn retention_of_zero_days_keeps_forever_and_env_overrides_the_file() {
        let config = load_str(
            "[retention]\nanswers_days = 0\ndelivered_outbox_days = 90\n",
            &[("SHIPGATE_RETENTION__INTERVAL_MINUTES", "15")],
        )
        .unwrap();
        assert_eq!(
            config.retention,
            RetentionConfig { answers_days: 0, delivered_outbox_days: 90, interval_minutes: 15 }
        );
        let retention = config.retention.to_retention();
        assert_eq!(retention.answers, None);
        assert_eq!(retention.delivered_outbox, Some(chrono::Duration::days(90)));
    }

    #[test]
    fn retention_refuses_negative_days_and_a_zero_interval_naming_each_key() {
        let err =
            load_str("[retention]\nanswers_days = -1\ndelivered_outbox_days = 100000\ninterval_minutes = 0\n", &[])
                .unwrap_err();
        let text = err.to_string();
        assert_eq!(err.problems().len(), 3, "{text}");
        assert!(
            text.contains("retention.answers_days: -1 is out of range; expected a number of days from 1 to 36500, or 0 to keep the rows forever"),
            "{text}"
        );
        assert!(text.contains("retention.delivered_outbox_days: 100000 is out of range"), "{text}");
        assert!(text.contains("retention.interval_minutes: 0 is out of range; expected 1 to 1440 minutes"), "{text}");
    }

    #[test]
    fn unknown_key_names_key_file_and_expected_keys() {
        let err = load_str("[server]\nlisen = \"0.0.0.0:1\"\n", &[]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("unknown key server.lisen in ")
                && text.ends_with("shipgate.toml; expected one of listen, max_body_bytes, shutdown_grace_seconds"),
            "{text}"
        );
    }

    #[test]
    fn unknown_key_in_array_of_tables_uses_index() {
        let err =
            load_str("[[api.clients]]\nname = \"ci\"\ntokn_env = \"X\"\nroles = [\"engineer\"]\n", &[]).unwrap_err();
        assert!(err.to_string().starts_with("unknown key api.clients[0].tokn_env in "), "{err}");
    }

    #[test]
    fn a_client_name_is_one_short_plain_word() {
        let long = "c".repeat(MAX_DISPLAY_NAME_CHARS + 1);
        for name in [long.as_str(), "CI bot", "ci\\u001b[31m"] {
            let toml = format!("[[api.clients]]\nname = \"{name}\"\ntoken_env = \"X\"\nroles = [\"engineer\"]\n");
            let err = load_str(&toml, &[]).unwrap_err().to_string();
            assert!(err.contains("api.clients[0].name") && err.contains("1 to 64 lower-case"), "{err}");
        }
    }

    #[test]
    fn token_in_file_is_refused_with_a_hint_and_not_echoed() {
        let err = load_str("[[api.clients]]\nname = \"ci\"\ntoken = \"supersecretvalue123\"\nroles = [\"x\"]\n", &[])
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unknown key api.clients[0].token"), "{text}");
        assert!(text.contains("token_env"), "{text}");
        assert!(!text.contains("supersecretvalue123"), "{text}");
    }

    #[test]
    fn env_unknown_key_names_the_variable() {
        let err = Config::load_with_env(None, [("SHIPGATE_SERVER__LISEN", "x")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown key server.lisen in environment variable SHIPGATE_SERVER__LISEN; expected one of listen, max_body_bytes, shutdown_grace_seconds"
        );
    }

    #[test]
    fn env_numbers_and_lists_are_read_from_strings() {
        let config = Config::load_with_env(
            None,
            [
                ("SHIPGATE_SERVER__MAX_BODY_BYTES", "1048576"),
                ("SHIPGATE_POLICY__OVERRIDE_APPROVER_ROLES", "release-manager, sre"),
                ("SHIPGATE_PLAYBOOKS__DEFAULT", "2024"),
            ],
        )
        .unwrap();
        assert_eq!(config.server.max_body_bytes, 1_048_576);
        assert_eq!(config.policy.override_approver_roles, ["release-manager", "sre"]);
        assert_eq!(config.playbooks.default, "2024");
    }

    #[test]
    fn env_bad_number_names_key_and_variable() {
        let err = Config::load_with_env(None, [("SHIPGATE_DATABASE__MAX_CONNECTIONS", "many")]).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("database.max_connections: expected"), "{text}");
        assert!(text.ends_with("(set in environment variable SHIPGATE_DATABASE__MAX_CONNECTIONS)"), "{text}");
    }

    #[test]
    fn single_underscore_variable_is_caught() {
        let err = Config::load_with_env(None, [("SHIPGATE_LOG_FORMAT", "json")]).unwrap_err();
        assert!(err.to_string().contains("SHIPGATE_LOG__FORMAT"), "{err}");
    }

    #[test]
    fn bad_enum_value_lists_choices() {
        let err = Config::load_with_env(None, [("SHIPGATE_LOG__FORMAT", "jsn")]).unwrap_err();
        assert!(err.to_string().starts_with("log.format: \"jsn\" is not one of text, json"), "{err}");
    }

    #[test]
    fn several_problems_are_all_reported() {
        let err = load_str("[server]\nlisten = \"localhost\"\n[policy]\noverride_ttl_minutes = 0\n", &[]).unwrap_err();
        assert_eq!(err.problems().len(), 2, "{err}");
        let text = err.to_string();
        assert!(text.contains("server.listen: \"localhost\" is not an address like 127.0.0.1:8080"), "{text}");
        assert!(text.contains("policy.override_ttl_minutes: 0 is out of range"), "{text}");
    }

    #[test]
    fn database_password_is_redacted() {
        for url in [
            "postgres://ship:p@ss:w0rd@db.internal:5432/shipgate",
            "postgres://ship@db.internal:5432/shipgate?password=p%40ss:w0rd",
            "postgres://ship@db.internal:5432/shipgate?sslmode=require&SSLPassword=p%40ss:w0rd",
        ] {
            let db = DatabaseConfig { url: url.into(), ..DatabaseConfig::default() };
            assert!(db.redacted_url().contains("@db.internal:5432/shipgate"), "{}", db.redacted_url());
            assert!(!db.redacted_url().contains("w0rd"), "{}", db.redacted_url());
            assert!(!format!("{db:?}").contains("w0rd"));
        }
    }

    #[test]
    fn bad_database_url_is_not_echoed() {
        let err =
            Config::load_with_env(None, [("SHIPGATE_DATABASE__URL", "mysql://u:hunter2hunter2@h/db")]).unwrap_err();
        assert!(err.to_string().contains("\"mysql\""), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn client_for_token_matches_exactly() {
        let config = Config::load_with_env(None, [(ENV_API_TOKEN, TOKEN)]).unwrap();
        assert_eq!(config.api.client_for_token(TOKEN).map(|c| c.name.as_str()), Some("default"));
        assert!(config.api.client_for_token("0123456789abcdef-toke").is_none());
        assert!(config.api.client_for_token("").is_none());
    }

    #[test]
    fn policy_converts_for_the_domain() {
        let policy = PolicyConfig::default().to_policy();
        assert_eq!(policy, Policy::default());
    }
}
