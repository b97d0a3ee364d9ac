//! Loading configuration: layering, unknown keys, token rules, secrecy.
//!
//! Every test passes its environment explicitly (`Config::load_with_env`) so tests never
//! race on the process environment.

use secrecy::ExposeSecret;
use shipgate::config::{Config, ConfigError, LogFormat, Origin};
use std::path::{Path, PathBuf};

const CI_TOKEN: &str = "ci-token-0123456789abcdef";
const RM_TOKEN: &str = "rm-token-0123456789abcdef";

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Dir(tempfile::tempdir().expect("temp dir"))
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.path().join(name);
        std::fs::write(&path, text).expect("write file");
        path
    }
}

fn load(path: &Path, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::load_with_env(Some(path), env.iter().copied())
}

const CLIENT: &str = r#"
[[api.clients]]
name = "ci"
token_env = "SHIPGATE_CI_TOKEN"
roles = ["engineer"]
"#;

#[test]
fn example_file_loads_with_its_token_variable_set() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/shipgate.example.toml");
    let config = load(&example, &[("SHIPGATE_CI_TOKEN", CI_TOKEN), ("SHIPGATE_RM_TOKEN", RM_TOKEN)])
        .expect("example config loads");
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.server.max_body_bytes, 65536);
    assert_eq!(config.server.shutdown_grace_seconds, 30);
    assert_eq!(config.database.url, "sqlite://shipgate.db");
    assert_eq!(config.database.max_connections, 8);
    assert_eq!(config.log.format, LogFormat::Text);
    assert_eq!(config.log.level, "info");
    assert_eq!(config.playbooks.dir, PathBuf::from("config/playbooks"));
    assert_eq!(config.playbooks.default, "ship-to-production");
    assert_eq!(config.policy.override_approver_roles, ["release-manager"]);
    assert_eq!(config.policy.override_ttl_minutes, 120);
    assert_eq!(config.retention, shipgate::config::RetentionConfig::default());
    assert_eq!(config.drills, shipgate::config::DrillsConfig::default());
    assert_eq!(config.api.clients.len(), 2);
    assert_eq!(config.api.clients[0].name, "ci");
    assert_eq!(config.api.clients[0].token.expose_secret(), CI_TOKEN);
    assert_eq!(config.api.clients[0].roles, ["engineer"]);
    assert_eq!(config.api.clients[1].name, "release-manager");
    assert_eq!(config.api.clients[1].token.expose_secret(), RM_TOKEN);
}

#[test]
fn example_file_without_its_token_variable_names_the_variable() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/shipgate.example.toml");
    let err = load(&example, &[]).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("api.clients[0].token_env: SHIPGATE_CI_TOKEN is not set"), "{text}");
}

#[test]
fn example_file_matches_the_built_in_defaults() {
    // The example documents the defaults; drift between the two would mislead people.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/shipgate.example.toml");
    let from_file = load(&example, &[("SHIPGATE_CI_TOKEN", CI_TOKEN), ("SHIPGATE_RM_TOKEN", RM_TOKEN)]).unwrap();
    let defaults = Config::default();
    assert_eq!(from_file.server, defaults.server);
    assert_eq!(from_file.database, defaults.database);
    assert_eq!(from_file.log, defaults.log);
    assert_eq!(from_file.playbooks, defaults.playbooks);
    assert_eq!(from_file.policy, defaults.policy);
    assert_eq!(from_file.drills, defaults.drills);
}

#[test]
fn environment_overrides_file() {
    let dir = Dir::new();
    let path = dir.write(
        "shipgate.toml",
        "[server]\nlisten = \"127.0.0.1:7000\"\nmax_body_bytes = 2048\n[database]\nurl = \"sqlite://from-file.db\"\n[log]\nformat = \"text\"\n",
    );
    let config = load(
        &path,
        &[
            ("SHIPGATE_SERVER__LISTEN", "0.0.0.0:9000"),
            ("SHIPGATE_DATABASE__URL", "postgres://shipgate@db/shipgate"),
            ("SHIPGATE_LOG__FORMAT", "json"),
            ("SHIPGATE_POLICY__OVERRIDE_TTL_MINUTES", "45"),
        ],
    )
    .unwrap();
    assert_eq!(config.server.listen.to_string(), "0.0.0.0:9000");
    // Not overridden: the file's value stays.
    assert_eq!(config.server.max_body_bytes, 2048);
    assert_eq!(config.database.url, "postgres://shipgate@db/shipgate");
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.policy.override_ttl_minutes, 45);
}

#[test]
fn database_url_variable_is_not_read() {
    let config = Config::load_with_env(None, [("DATABASE_URL", "postgres://other@elsewhere/app")]).unwrap();
    assert_eq!(config.database.url, "sqlite://shipgate.db");
}

#[test]
fn missing_explicit_file_is_an_error_naming_it() {
    let err = Config::load_with_env(Some(Path::new("/nonexistent/shipgate-prod.toml")), Vec::<(String, String)>::new())
        .unwrap_err();
    assert!(matches!(err, ConfigError::FileNotFound { .. }));
    assert_eq!(err.to_string(), "config file /nonexistent/shipgate-prod.toml does not exist");
}

#[test]
fn no_file_and_no_env_gives_defaults() {
    let config = Config::load_with_env(None, Vec::<(String, String)>::new()).unwrap();
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    assert!(config.api.clients.is_empty());
}

#[test]
fn unknown_top_level_section() {
    let dir = Dir::new();
    let path = dir.write("shipgate.toml", "[sever]\nlisten = \"0.0.0.0:1\"\n");
    let err = load(&path, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "unknown key sever in {}; expected one of server, database, log, api, playbooks, policy, retention, freeze, discord, slack, monitoring, rollback, alertmanager, drills",
            path.display()
        )
    );
}

#[test]
fn unknown_key_in_nested_section() {
    let dir = Dir::new();
    let path = dir.write("shipgate.toml", "[server]\nlisen = \"0.0.0.0:9000\"\n");
    let err = load(&path, &[]).unwrap_err();
    match &err {
        ConfigError::UnknownKey { key, origin, .. } => {
            assert_eq!(key, "server.lisen");
            assert_eq!(origin, &Origin::File(path.clone()));
        }
        other => panic!("expected an unknown key, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "unknown key server.lisen in {}; expected one of listen, max_body_bytes, shutdown_grace_seconds",
            path.display()
        )
    );
}

#[test]
fn unknown_key_in_a_client() {
    let dir = Dir::new();
    let path = dir.write("shipgate.toml", "[[api.clients]]\nname = \"ci\"\ntoken_env = \"X\"\nrole = [\"engineer\"]\n");
    let err = load(&path, &[]).unwrap_err();
    assert!(
        err.to_string().starts_with("unknown key api.clients[0].role in ")
            && err.to_string().ends_with("expected one of name, token_env, token_file, roles"),
        "{err}"
    );
}

#[test]
fn bad_listen_address_names_key_and_example() {
    let dir = Dir::new();
    let path = dir.write("shipgate.toml", "[server]\nlisten = \"localhost\"\n");
    let err = load(&path, &[]).unwrap_err();
    assert!(err.to_string().starts_with("server.listen: \"localhost\" is not an address like 127.0.0.1:8080"), "{err}");
}

#[test]
fn syntax_error_names_file_and_line() {
    let dir = Dir::new();
    let path = dir.write("shipgate.toml", "[server]\nlisten = \n");
    let err = load(&path, &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { .. }));
    assert!(err.to_string().contains("line 2"), "{err}");
}

#[test]
fn ttl_out_of_range() {
    let err = Config::load_with_env(None, [("SHIPGATE_POLICY__OVERRIDE_TTL_MINUTES", "1441")]).unwrap_err();
    assert!(err.to_string().starts_with("policy.override_ttl_minutes: 1441 is out of range"), "{err}");
}

#[test]
fn client_token_from_env() {
    let dir = Dir::new();
    let path = dir.write("shipgate.toml", CLIENT);
    let config = load(&path, &[("SHIPGATE_CI_TOKEN", &format!("  {CI_TOKEN}\n"))]).unwrap();
    assert_eq!(config.api.clients[0].token.expose_secret(), CI_TOKEN, "token is trimmed");
}

#[test]
fn missing_token_variable_is_named() {
    let dir = Dir::new();
    let path = dir.write("shipgate.toml", CLIENT);
    let err = load(&path, &[]).unwrap_err();
    assert!(err.to_string().starts_with("api.clients[0].token_env: SHIPGATE_CI_TOKEN is not set"), "{err}");
}

#[test]
fn empty_token_variable_is_refused() {
    let dir = Dir::new();
    let path = dir.write("shipgate.toml", CLIENT);
    let err = load(&path, &[("SHIPGATE_CI_TOKEN", "   ")]).unwrap_err();
    assert!(err.to_string().contains("the token in SHIPGATE_CI_TOKEN is empty"), "{err}");
}

#[test]
fn short_token_is_refused_without_showing_it() {
    let dir = Dir::new();
    let path = dir.write("shipgate.toml", CLIENT);
    let err = load(&path, &[("SHIPGATE_CI_TOKEN", "tooshort")]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("is 8 characters; tokens must be at least 16"), "{text}");
    assert!(!text.contains("tooshort"), "{text}");
}

#[test]
fn client_token_from_file() {
    let dir = Dir::new();
    let token_file = dir.write("ci-token", &format!("{CI_TOKEN}\n"));
    let path = dir.write(
        "shipgate.toml",
        &format!(
            "[[api.clients]]\nname = \"ci\"\ntoken_file = {:?}\nroles = [\"engineer\", \"release-manager\"]\n",
            token_file.display().to_string()
        ),
    );
    let config = load(&path, &[]).unwrap();
    assert_eq!(config.api.clients[0].token.expose_secret(), CI_TOKEN);
    assert_eq!(config.api.clients[0].roles, ["engineer", "release-manager"]);
}

#[test]
fn unreadable_or_empty_token_file_is_refused() {
    let dir = Dir::new();
    let empty = dir.write("empty-token", "\n");
    let path = dir.write(
        "shipgate.toml",
        &format!(
            "[[api.clients]]\nname = \"ci\"\ntoken_file = {:?}\nroles = [\"engineer\"]\n\n[[api.clients]]\nname = \"cd\"\ntoken_file = \"/nonexistent/token\"\nroles = [\"engineer\"]\n",
            empty.display().to_string()
        ),
    );
    let err = load(&path, &[]).unwrap_err();
    let problems = err.problems();
    assert_eq!(problems.len(), 2, "{err}");
    assert!(problems[0].to_string().starts_with("api.clients[0].token_file: the token in "), "{err}");
    assert!(problems[0].to_string().contains("is empty"), "{err}");
    assert!(
        problems[1].to_string().starts_with("api.clients[1].token_file: cannot read token file /nonexistent/token"),
        "{err}"
    );
}

#[test]
fn exactly_one_token_source() {
    let dir = Dir::new();
    let both = dir.write(
        "both.toml",
        "[[api.clients]]\nname = \"ci\"\ntoken_env = \"A\"\ntoken_file = \"/x\"\nroles = [\"engineer\"]\n",
    );
    let err = load(&both, &[]).unwrap_err();
    assert!(err.to_string().contains("sets both token_env and token_file"), "{err}");

    let neither = dir.write("neither.toml", "[[api.clients]]\nname = \"ci\"\nroles = [\"engineer\"]\n");
    let err = load(&neither, &[]).unwrap_err();
    assert!(err.to_string().contains("needs token_env"), "{err}");
}

#[test]
fn client_names_unique_and_well_formed() {
    let dir = Dir::new();
    let path = dir.write(
        "shipgate.toml",
        "[[api.clients]]\nname = \"ci\"\ntoken_env = \"A_TOKEN\"\nroles = [\"engineer\"]\n\
         [[api.clients]]\nname = \"ci\"\ntoken_env = \"B_TOKEN\"\nroles = [\"engineer\"]\n\
         [[api.clients]]\nname = \"Deploy Bot\"\ntoken_env = \"C_TOKEN\"\nroles = [\"\"]\n",
    );
    let env =
        [("A_TOKEN", "aaaaaaaaaaaaaaaaaaaa"), ("B_TOKEN", "bbbbbbbbbbbbbbbbbbbb"), ("C_TOKEN", "cccccccccccccccccccc")];
    let err = load(&path, &env).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("api.clients[2].name: \"Deploy Bot\" must be 1 to 64 lower-case letters"), "{text}");
    assert!(text.contains("api.clients[2].roles[0]: role names must not be empty"), "{text}");
    assert!(text.contains("api.clients[1].name: client name \"ci\" is already used by api.clients[0]"), "{text}");
}

#[test]
fn clients_need_their_own_tokens() {
    let dir = Dir::new();
    let path = dir.write(
        "shipgate.toml",
        "[[api.clients]]\nname = \"ci\"\ntoken_env = \"A_TOKEN\"\nroles = [\"engineer\"]\n\
         [[api.clients]]\nname = \"cd\"\ntoken_env = \"B_TOKEN\"\nroles = [\"engineer\"]\n",
    );
    let err = load(&path, &[("A_TOKEN", CI_TOKEN), ("B_TOKEN", CI_TOKEN)]).unwrap_err();
    assert!(err.to_string().contains("client \"cd\" has the same token as client \"ci\""), "{err}");
    assert!(!err.to_string().contains(CI_TOKEN));
}

#[test]
fn single_token_shortcut_adds_default_client() {
    let config = Config::load_with_env(None, [("SHIPGATE_API_TOKEN", CI_TOKEN)]).unwrap();
    assert_eq!(config.api.clients.len(), 1);
    let client = &config.api.clients[0];
    assert_eq!(client.name, "default");
    assert_eq!(client.roles, ["release-manager", "engineer"]);
    assert_eq!(client.token.expose_secret(), CI_TOKEN);

    let config =
        Config::load_with_env(None, [("SHIPGATE_API_TOKEN", CI_TOKEN), ("SHIPGATE_API_ROLES", "engineer, sre")])
            .unwrap();
    assert_eq!(config.api.clients[0].roles, ["engineer", "sre"]);
}

#[test]
fn single_token_shortcut_from_file() {
    let dir = Dir::new();
    let token_file = dir.write("token", CI_TOKEN);
    let file = token_file.display().to_string();
    let config = Config::load_with_env(None, [("SHIPGATE_API_TOKEN_FILE", file.as_str())]).unwrap();
    assert_eq!(config.api.clients[0].token.expose_secret(), CI_TOKEN);
}

#[test]
fn single_token_shortcut_rules() {
    let err =
        Config::load_with_env(None, [("SHIPGATE_API_TOKEN", CI_TOKEN), ("SHIPGATE_API_TOKEN_FILE", "/x")]).unwrap_err();
    assert!(err.to_string().starts_with("SHIPGATE_API_TOKEN: is set together with SHIPGATE_API_TOKEN_FILE"), "{err}");

    let err = Config::load_with_env(None, [("SHIPGATE_API_TOKEN", "short")]).unwrap_err();
    assert!(err.to_string().starts_with("SHIPGATE_API_TOKEN: is 5 characters"), "{err}");

    // A file client already called `default` clashes with the shortcut.
    let dir = Dir::new();
    let path = dir.write(
        "shipgate.toml",
        "[[api.clients]]\nname = \"default\"\ntoken_env = \"A_TOKEN\"\nroles = [\"engineer\"]\n",
    );
    let err = load(&path, &[("A_TOKEN", "aaaaaaaaaaaaaaaaaaaa"), ("SHIPGATE_API_TOKEN", CI_TOKEN)]).unwrap_err();
    assert!(err.to_string().contains("client name \"default\" is already used by api.clients[0]"), "{err}");
}

#[test]
fn token_never_in_debug_output() {
    let dir = Dir::new();
    let path = dir.write("shipgate.toml", CLIENT);
    let config =
        load(&path, &[("SHIPGATE_CI_TOKEN", CI_TOKEN), ("SHIPGATE_API_TOKEN", "shortcut-token-abcdef0123")]).unwrap();
    assert_eq!(config.api.clients.len(), 2);
    let debug = format!("{config:?}");
    let pretty = format!("{config:#?}");
    for text in [&debug, &pretty] {
        assert!(!text.contains(CI_TOKEN), "token leaked: {text}");
        assert!(!text.contains("shortcut-token-abcdef0123"), "token leaked: {text}");
        assert!(text.contains("REDACTED"), "{text}");
    }
}

#[test]
fn client_lookup_by_token() {
    let dir = Dir::new();
    let path = dir.write("shipgate.toml", CLIENT);
    let config = load(&path, &[("SHIPGATE_CI_TOKEN", CI_TOKEN)]).unwrap();
    assert_eq!(config.api.client_for_token(CI_TOKEN).map(|c| c.name.as_str()), Some("ci"));
    assert!(config.api.client_for_token("not-the-token-at-all").is_none());
}

const DISCORD_HTTP: &str = r#"
[discord]
mode = "http"
application_id = "100000000000000001"
public_key = "6a3c1e4a1f2d8a3a2d5b0c1e4f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6"
guild_id = "200000000000000002"
release_channel_id = "300000000000000003"
incident_channel_ids = ["400000000000000004", "400000000000000005"]
api_base = "http://127.0.0.1:9999/"

[discord.roles]
release-manager = ["500000000000000005"]
engineer = ["500000000000000005", "600000000000000006"]
"#;

const SLACK_HTTP: &str = r#"
[slack]
mode = "http"
release_channel_id = "C0RELEASES1"
incident_channel_ids = ["C0INCIDENT1", "G0INCIDENT2"]
api_base = "http://127.0.0.1:9999/api/"

[slack.roles]
release-manager = ["U0ALICE", "S0LEADS"]
engineer = ["S0ENGINEERS"]
"#;

const SLACK_SECRETS: [(&str, &str); 2] = [
    ("SHIPGATE_SLACK_BOT_TOKEN", "xoxb-1-2-abc"),
    ("SHIPGATE_SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5"),
];

#[test]
fn slack_section_loads_with_its_secrets_and_maps_users_and_groups() {
    let dir = Dir::new();
    let path = dir.write("shipgate.toml", SLACK_HTTP);
    let config = load(&path, &SLACK_SECRETS).expect("slack config loads");
    let slack = config.slack.clone().expect("slack section");
    assert_eq!(slack.mode, shipgate::config::slack::SlackMode::Http);
    assert_eq!(slack.api_base, "http://127.0.0.1:9999/api");
    assert_eq!(slack.incident_channel_ids, ["C0INCIDENT1", "G0INCIDENT2"]);
    assert_eq!(slack.bot_token.expose_secret(), "xoxb-1-2-abc");
    assert!(slack.signing_secret.is_some() && slack.app_token.is_none());
    let shown = format!("{slack:?}");
    assert!(!shown.contains("xoxb-1-2-abc") && !shown.contains("8f742231"), "secrets are redacted in Debug");
    assert_eq!(slack.mapped_groups(), ["S0ENGINEERS", "S0LEADS"]);
    assert!(config.held_roles().contains("release-manager"));
}

#[test]
fn slack_secrets_come_from_a_variable_or_a_file_and_the_mode_says_which_are_needed() {
    let dir = Dir::new();
    let secret_file = dir.write("signing-secret", "8f742231b10e8888abcd99yyyzzz85a5\n");
    let path = dir.write("shipgate.toml", SLACK_HTTP);
    let file = secret_file.to_str().unwrap();
    let config = load(&path, &[("SHIPGATE_SLACK_BOT_TOKEN", "xoxb-1"), ("SHIPGATE_SLACK_SIGNING_SECRET_FILE", file)])
        .expect("the signing secret from the file a variable names");
    assert_eq!(config.slack.unwrap().signing_secret.unwrap().expose_secret(), "8f742231b10e8888abcd99yyyzzz85a5");

    let error = load(&path, &[("SHIPGATE_SLACK_BOT_TOKEN", "xoxb-1")]).unwrap_err().to_string();
    assert!(error.contains("needs the signing secret") && error.contains("SHIPGATE_SLACK_SIGNING_SECRET"), "{error}");

    let socket = dir.write("socket.toml", &SLACK_HTTP.replace("mode = \"http\"", "mode = \"socket\""));
    let error = load(&socket, &[("SHIPGATE_SLACK_BOT_TOKEN", "xoxb-1")]).unwrap_err().to_string();
    assert!(error.contains("needs the app-level token") && error.contains("SHIPGATE_SLACK_APP_TOKEN"), "{error}");
    let config = load(&socket, &[("SHIPGATE_SLACK_BOT_TOKEN", "xoxb-1"), ("SHIPGATE_SLACK_APP_TOKEN", "xapp-1-A0")])
        .expect("socket mode needs no signing secret");
    assert!(config.slack.unwrap().signing_secret.is_none());

    let error = load(&socket, &[("SHIPGATE_SLACK_BOT_TOKEN", "xoxp-user"), ("SHIPGATE_SLACK_APP_TOKEN", "xapp-1")])
        .unwrap_err()
        .to_string();
    assert!(error.contains("is not the bot token") && error.contains("xoxb-"), "{error}");
    assert!(!error.contains("xoxp-user"), "the wrong token is not shown: {error}");
}

#[test]
fn slack_ids_that_are_names_or_of_the_wrong_kind_are_refused_by_key() {
    let dir = Dir::new();
    let text = SLACK_HTTP.replace("\"C0RELEASES1\"", "\"#releases\"").replace("\"U0ALICE\"", "\"alice\"");
    let path = dir.write("shipgate.toml", &text);
    let error = load(&path, &SLACK_SECRETS).unwrap_err().to_string();
    assert!(error.contains("slack.release_channel_id") && error.contains("not a Slack channel id"), "{error}");
    assert!(error.contains("slack.roles.release-manager[0]") && error.contains("not a Slack user id"), "{error}");
}

#[test]
fn discord_section_loads_with_its_token_and_maps_roles() {
    let dir = Dir::new();
    let path = dir.write("shipgate.toml", DISCORD_HTTP);
    let config = load(&path, &[("SHIPGATE_DISCORD_TOKEN", "bot-token-123")]).expect("discord config loads");
    assert!(config.api.clients.is_empty(), "a Discord-only setup needs no API client");
    let discord = config.discord.expect("discord section");
    assert_eq!(discord.mode, shipgate::config::DiscordMode::Http);
    assert_eq!(discord.api_base, "http://127.0.0.1:9999");
    assert_eq!(discord.incident_channel_ids.len(), 2);
    assert_eq!(discord.public_key.map(|k| k[0]), Some(0x6a));
    assert_eq!(discord.token.expose_secret(), "bot-token-123");
    assert!(!format!("{discord:?}").contains("bot-token-123"), "the token is redacted in Debug");
    let all = ["release-manager", "engineer"];
    let engineer_only = discord.roles_of(&["600000000000000006".to_owned()], all);
    assert_eq!(engineer_only.iter().map(|r| r.as_str()).collect::<Vec<_>>(), ["engineer"]);
    assert!(discord.roles_of(&["999".to_owned()], all).is_empty(), "an unmapped member holds no role");
}

#[test]
fn discord_api_base_is_the_origin_not_the_api_path() {
    let dir = Dir::new();
    for base in ["https://discord.com/api/v10", "https://discord.com/api/", "http://127.0.0.1:9999/api/v9"] {
        let text = DISCORD_HTTP.replace("http://127.0.0.1:9999/", base);
        let path = dir.write("shipgate.toml", &text);
        let error = load(&path, &[("SHIPGATE_DISCORD_TOKEN", "bot-token-123")]).expect_err(base).to_string();
        assert!(error.contains("discord.api_base") && error.contains("origin only"), "{base}: {error}");
    }
    let text = DISCORD_HTTP.replace("http://127.0.0.1:9999/", "https://proxy.example/discord");
    let path = dir.write("shipgate.toml", &text);
    let discord = load(&path, &[("SHIPGATE_DISCORD_TOKEN", "bot-token-123")]).expect("a proxy's prefix is fine");
    assert_eq!(discord.discord.expect("discord").api_base, "https://proxy.example/discord");
}

#[test]
fn discord_without_role_mapping_gives_every_member_every_role() {
    let dir = Dir::new();
    let text = DISCORD_HTTP.split("[discord.roles]").next().expect("section");
    let path = dir.write("shipgate.toml", text);
    let discord = load(&path, &[("SHIPGATE_DISCORD_TOKEN", "bot-token-123")]).expect("loads").discord.expect("discord");
    let roles = discord.roles_of(&[], ["release-manager", "engineer"]);
    assert_eq!(roles.len(), 2);
}

#[test]
fn discord_section_names_every_bad_key_and_the_missing_token() {
    let dir = Dir::new();
    let text = DISCORD_HTTP
        .replace("100000000000000001", "my-app")
        .replace("6a3c1e4a", "zz")
        .replace("\"400000000000000005\"", "\"#incidents\"");
    let path = dir.write("shipgate.toml", &text);
    let error = load(&path, &[]).expect_err("bad discord section").to_string();
    for needle in
        ["discord.application_id", "discord.public_key", "discord.incident_channel_ids[1]", "SHIPGATE_DISCORD_TOKEN"]
    {
        assert!(error.contains(needle), "{needle} missing from: {error}");
    }
}

#[test]
fn discord_http_mode_needs_the_public_key() {
    let dir = Dir::new();
    let text: String = DISCORD_HTTP.lines().filter(|l| !l.starts_with("public_key")).collect::<Vec<_>>().join("\n");
    let path = dir.write("shipgate.toml", &text);
    let error = load(&path, &[("SHIPGATE_DISCORD_TOKEN", "bot-token-123")]).expect_err("no key").to_string();
    assert!(error.contains("discord.public_key") && error.contains("HTTP mode"), "{error}");
}

const SECRET_URL: &str = "postgres://shipgate:Url-Secret-42@db.internal:5432/shipgate?sslmode=require";

#[test]
fn database_url_is_read_from_the_file_url_file_names() {
    let dir = Dir::new();
    let url_file = dir.write("database-url", &format!("{SECRET_URL}\n"));
    let path = dir.write("shipgate.toml", &format!("[database]\nurl_file = {:?}\n", url_file.display().to_string()));
    let config = load(&path, &[]).unwrap();
    assert_eq!(config.database.url, SECRET_URL);
    assert!(!format!("{:?}", config.database).contains("Url-Secret-42"));
}

#[test]
fn database_url_file_from_the_environment() {
    let dir = Dir::new();
    let url_file = dir.write("database-url", SECRET_URL);
    let config =
        Config::load_with_env(None, [("SHIPGATE_DATABASE__URL_FILE", url_file.display().to_string())]).unwrap();
    assert_eq!(config.database.url, SECRET_URL);
}

#[test]
fn database_url_and_url_file_together_are_refused_naming_both() {
    let dir = Dir::new();
    let url_file = dir.write("database-url", SECRET_URL);
    let path = dir.write("shipgate.toml", "[database]\nurl = \"sqlite://shipgate.db\"\n");
    let err = load(&path, &[("SHIPGATE_DATABASE__URL_FILE", &url_file.display().to_string())]).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("database.url_file: is set together with database.url (set in "), "{text}");
    assert!(text.contains("shipgate.toml") && text.contains("SHIPGATE_DATABASE__URL_FILE"), "{text}");
    assert!(!text.contains("Url-Secret-42"), "{text}");
}

#[test]
fn unreadable_or_empty_database_url_file_is_refused() {
    let err = Config::load_with_env(None, [("SHIPGATE_DATABASE__URL_FILE", "/nonexistent/database-url")]).unwrap_err();
    assert!(err.to_string().starts_with("database.url_file: cannot read /nonexistent/database-url"), "{err}");

    let dir = Dir::new();
    let empty = dir.write("database-url", "\n");
    let err = Config::load_with_env(None, [("SHIPGATE_DATABASE__URL_FILE", empty.display().to_string())]).unwrap_err();
    assert!(err.to_string().contains("is empty"), "{err}");
}

#[test]
fn a_bad_url_in_url_file_names_the_key_not_the_content() {
    let dir = Dir::new();
    // A password pasted where the URL belongs: the message must not echo any part of it.
    let url_file = dir.write("database-url", "hunter2:hunter3@db");
    let err =
        Config::load_with_env(None, [("SHIPGATE_DATABASE__URL_FILE", url_file.display().to_string())]).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("database.url_file: expected sqlite://FILE or postgres://"), "{text}");
    assert!(text.contains("no scheme") && !text.contains("hunter"), "{text}");
}

#[test]
fn the_sqlite_busy_wait_defaults_to_two_seconds_twice_retried_and_is_range_checked() {
    let config = Config::load_with_env(None, std::iter::empty::<(String, String)>()).unwrap();
    let busy = config.database.busy_policy();
    assert_eq!((busy.timeout, busy.retries), (std::time::Duration::from_secs(2), 2));

    let config = Config::load_with_env(
        None,
        [("SHIPGATE_DATABASE__BUSY_TIMEOUT_MS", "250"), ("SHIPGATE_DATABASE__BUSY_RETRIES", "0")],
    )
    .unwrap();
    let busy = config.database.busy_policy();
    assert_eq!((busy.timeout, busy.retries), (std::time::Duration::from_millis(250), 0));

    for (key, bad, expected) in [
        ("BUSY_TIMEOUT_MS", "0", "database.busy_timeout_ms: 0 is out of range; expected 1 to 60000 milliseconds"),
        ("BUSY_TIMEOUT_MS", "60001", "database.busy_timeout_ms: 60001 is out of range"),
        ("BUSY_RETRIES", "11", "database.busy_retries: 11 is out of range; expected 0 to 10"),
    ] {
        let err = Config::load_with_env(None, [(format!("SHIPGATE_DATABASE__{key}"), bad)]).unwrap_err();
        assert!(err.to_string().starts_with(expected), "{err}");
    }
}

#[test]
fn connect_timeout_defaults_to_ten_seconds_and_is_range_checked() {
    let config = Config::load_with_env(None, std::iter::empty::<(String, String)>()).unwrap();
    assert_eq!(config.database.connect_timeout_seconds, 10);
    assert_eq!(config.database.connect_timeout(), std::time::Duration::from_secs(10));

    let config = Config::load_with_env(None, [("SHIPGATE_DATABASE__CONNECT_TIMEOUT_SECONDS", "2")]).unwrap();
    assert_eq!(config.database.connect_timeout_seconds, 2);

    for bad in ["0", "301"] {
        let err = Config::load_with_env(None, [("SHIPGATE_DATABASE__CONNECT_TIMEOUT_SECONDS", bad)]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("database.connect_timeout_seconds: {bad} is out of range; expected 1 to 300")),
            "{text}"
        );
    }
}

// ----- [monitoring], [rollback], [alertmanager] -----

/// The shape the issue and the README give: relied on by checks outside the project.
const MONITORING: &str = r#"
[monitoring]
prometheus_url = "http://127.0.0.1:9090"
window = "30m"
min_window = "15m"
interval = "30s"
baseline_window = "30m"

[monitoring.queries]
error_rate = 'sum(rate(http_requests_total{service="{service}",code=~"5.."}[{range}])) / sum(rate(http_requests_total{service="{service}"}[{range}]))'

[rollback.criteria]
error_rate_ratio = 2.0
latency_p99_ratio = 3.0
unhandled_exception_rate = 0.01
"#;

#[test]
fn the_monitoring_sections_load_with_the_playbooks_criteria() {
    use shipgate::domain::watch::Metric;
    let dir = Dir::new();
    let config = load(&dir.write("shipgate.toml", MONITORING), &[]).expect("loads");
    let monitoring = config.monitoring.expect("[monitoring]");
    assert_eq!(monitoring.prometheus_url, "http://127.0.0.1:9090");
    assert_eq!(monitoring.settings.window_seconds, 1800);
    assert_eq!(monitoring.settings.min_window_seconds, 900);
    assert_eq!(monitoring.settings.interval_seconds, 30);
    assert_eq!(monitoring.settings.baseline_window_seconds, 1800);
    assert!(monitoring.queries[&Metric::ErrorRate].starts_with("sum(rate("), "the file's query");
    assert!(monitoring.queries[&Metric::LatencyP99].contains("histogram_quantile(0.99"), "a default query");
    assert_eq!(monitoring.queries.len(), 6);
    assert_eq!(config.rollback.criteria, shipgate::domain::watch::Criteria::default());
    assert!(!config.rollback.auto);
    assert!(config.alertmanager.is_none());
}

#[test]
fn no_monitoring_section_means_no_watch() {
    let config = Config::load_with_env(None, std::iter::empty::<(&str, &str)>()).expect("defaults");
    assert!(config.monitoring.is_none());
    assert_eq!(config.rollback.criteria.error_rate_ratio, 2.0);
}

#[test]
fn bad_monitoring_values_name_their_keys() {
    let dir = Dir::new();
    let file = dir.write(
        "shipgate.toml",
        r#"
[monitoring]
prometheus_url = "127.0.0.1:9090"
window = "10m"
min_window = "20m"
interval = "half a minute"
[monitoring.queries]
latency_p42 = "x"
[rollback.criteria]
error_rate_ratio = 0
unhandled_exception_rate = 5
[rollback]
hook = { command = ["rollback"], url = "https://deploy.example.com/rollback" }
"#,
    );
    let message = load(&file, &[]).expect_err("refused").to_string();
    for expected in [
        "monitoring.prometheus_url",
        "monitoring.min_window",
        "monitoring.interval",
        "monitoring.queries.latency_p42",
        "rollback.criteria.error_rate_ratio",
        "rollback.criteria.unhandled_exception_rate",
        "rollback.hook",
    ] {
        assert!(message.contains(expected), "{expected} in {message}");
    }
}

#[test]
fn the_alertmanager_webhook_needs_its_token() {
    let dir = Dir::new();
    let file = dir.write("shipgate.toml", "[alertmanager]\n");
    let message = load(&file, &[]).expect_err("no token").to_string();
    assert!(message.contains("SHIPGATE_ALERTMANAGER_TOKEN"), "{message}");
    let config = load(&file, &[("SHIPGATE_ALERTMANAGER_TOKEN", "am-token-0123456789abcdef")]).expect("loads");
    let alertmanager = config.alertmanager.expect("[alertmanager]");
    assert_eq!(alertmanager.token.expose_secret(), "am-token-0123456789abcdef");
    assert_eq!(alertmanager.match_labels, ["service"]);
    assert_eq!(alertmanager.critical_severities, ["critical"]);
    assert!(!format!("{alertmanager:?}").contains("am-token"), "the token is redacted");
}

#[test]
fn a_rollback_hook_is_a_command_or_a_webhook() {
    let dir = Dir::new();
    let file = dir.write(
        "shipgate.toml",
        "[rollback]\nauto = true\nhook = { command = [\"/usr/local/bin/rollback\", \"--now\"] }\n",
    );
    let config = load(&file, &[]).expect("loads");
    assert!(config.rollback.auto);
    assert!(matches!(&config.rollback.hook, Some(shipgate::config::RollbackHook::Command(c)) if c.len() == 2));
    let file = dir.write(
        "hook.toml",
        "[rollback.hook]\nurl = \"https://deploy.example.com/rollback\"\ntoken_env = \"DEPLOY_TOKEN\"\n",
    );
    let message = load(&file, &[]).expect_err("unset variable").to_string();
    assert!(message.contains("DEPLOY_TOKEN"), "{message}");
    let config = load(&file, &[("DEPLOY_TOKEN", "deploy-token-0123456789")]).expect("loads");
    assert!(matches!(config.rollback.hook, Some(shipgate::config::RollbackHook::Webhook { token: Some(_), .. })));
}

// ----- [drills] -----

#[test]
fn drills_are_due_every_quarter_and_reminded_weekly_by_default() {
    let config = Config::load_with_env(None, std::iter::empty::<(&str, &str)>()).expect("defaults");
    let policy = config.drills.policy();
    assert_eq!(policy.every, chrono::Duration::days(90));
    assert_eq!(policy.remind_every, chrono::Duration::days(7));
}

#[test]
fn drill_periods_are_read_as_durations_and_the_environment_overrides_them() {
    let dir = Dir::new();
    let path = dir.write("shipgate.toml", "[drills]\nevery = \"30d\"\nremind_every = \"2w\"\n");
    let config = load(&path, &[]).expect("loads");
    assert_eq!(config.drills.policy().every, chrono::Duration::days(30));
    assert_eq!(config.drills.policy().remind_every, chrono::Duration::days(14));
    let config = load(&path, &[("SHIPGATE_DRILLS__EVERY", "60d")]).expect("loads");
    assert_eq!(config.drills.policy().every, chrono::Duration::days(60));
}

#[test]
fn bad_drill_periods_name_their_keys_and_say_what_is_expected() {
    let dir = Dir::new();
    let path = dir.write("shipgate.toml", "[drills]\nevery = \"a quarter\"\nremind_every = \"1h\"\n");
    let text = load(&path, &[]).unwrap_err().to_string();
    assert!(text.contains("drills.every: \"a quarter\" is not a duration like 90d, 2w or 36h"), "{text}");
    assert!(text.contains("drills.remind_every: \"1h\" is out of range; expected 1d to 3650d"), "{text}");
}
