//! `shipgate discord register`, the real binary against the fake Discord: the commands
//! land in the configured guild, and each way it can fail says what to fix, with its exit
//! code.

use crate::common;

use common::fake_discord::FakeDiscord;
use std::path::Path;
use std::process::Output;

const RELEASE_CHANNEL: &str = "1300000000000000001";

fn write_config(dir: &Path, api_base: &str, guild: &str, application: &str) -> std::path::PathBuf {
    let path = dir.join("shipgate.toml");
    let text = format!(
        r#"
[database]
url = "sqlite://{db}"

[discord]
mode = "gateway"
application_id = "{application}"
guild_id = "{guild}"
release_channel_id = "{RELEASE_CHANNEL}"
api_base = "{api_base}"
"#,
        db = dir.join("shipgate.db").display(),
    );
    std::fs::write(&path, text).expect("write config");
    path
}

async fn register(dir: &Path, config: &Path, token: &str) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["discord", "register", "--config"])
        .arg(config)
        .current_dir(dir)
        .env("SHIPGATE_DISCORD_TOKEN", token)
        .env_remove("SHIPGATE_CONFIG")
        .output()
        .await
        .expect("run shipgate discord register")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn register_puts_the_commands_in_the_guild_and_says_which() {
    let fake = FakeDiscord::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &fake.api_base(), fake.guild_id(), fake.application_id());
    for _ in 0..2 {
        let output = register(dir.path(), &config, fake.token()).await;
        let stdout = text(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{stdout}{}", text(&output.stderr));
        assert!(stdout.contains(&format!("guild {}", fake.guild_id())), "{stdout}");
        assert!(stdout.contains("/release start|status|list|abort|retarget|rollback"), "{stdout}");
        assert!(stdout.contains("/freeze status|override"), "{stdout}");
    }
    // Registering again replaced the commands rather than adding to them.
    let registered = fake.commands(fake.application_id(), Some(fake.guild_id()));
    let names: Vec<&str> = registered.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["release", "freeze"]);
    fake.assert_no_violations();
}

#[tokio::test]
async fn a_refused_token_exits_1_and_names_where_the_token_comes_from() {
    let fake = FakeDiscord::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &fake.api_base(), fake.guild_id(), fake.application_id());
    let output = register(dir.path(), &config, "not-the-bot-token").await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refused the bot token") && stderr.contains("SHIPGATE_DISCORD_TOKEN"), "{stderr}");
    assert!(!stderr.contains("not-the-bot-token"), "the token is never printed: {stderr}");
    assert!(fake.commands(fake.application_id(), Some(fake.guild_id())).is_empty());
}

#[tokio::test]
async fn a_guild_the_bot_is_not_in_exits_1_and_names_the_guild() {
    let fake = FakeDiscord::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let other_guild = "1299999999999999999";
    let config = write_config(dir.path(), &fake.api_base(), other_guild, fake.application_id());
    let output = register(dir.path(), &config, fake.token()).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(other_guild) && stderr.contains("discord.guild_id"), "{stderr}");
    assert!(stderr.contains("applications.commands"), "the fix is named: {stderr}");
}

#[tokio::test]
async fn an_unreachable_discord_exits_2_and_names_api_base() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A port that was free a moment ago: nothing answers there.
    let port = common::process::free_port();
    let config =
        write_config(dir.path(), &format!("http://127.0.0.1:{port}"), "1200000000000000001", "1100000000000000001");
    let output = register(dir.path(), &config, "some-token").await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("could not reach Discord") && stderr.contains("discord.api_base"), "{stderr}");
}

#[tokio::test]
async fn a_configuration_without_discord_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("shipgate.toml");
    std::fs::write(&config, "[database]\nurl = \"sqlite://x.db\"\n").expect("write config");
    let output = register(dir.path(), &config, "some-token").await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no [discord] section"), "{stderr}");
}
