//! Parsing the command line: every subcommand, defaults, and the environment fallbacks.

use clap::{CommandFactory, Parser};
use secrecy::ExposeSecret;
use shipgate::cli::{
    Cli, Command, DiscordCommand, EnvironmentArg, HealthArg, OutcomeArg, PlaybookCommand, ReleaseArgs, ReleaseCommand,
    StatusArg, StrategyArg, DEFAULT_SERVER,
};
use std::path::PathBuf;

const DIGEST: &str = "sha256:4f1c0a9e8d7c6b5a49382716f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2";

fn parse(args: &[&str]) -> Cli {
    Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?} did not parse: {e}"))
}

fn release(args: &[&str]) -> ReleaseArgs {
    let mut all = vec!["shipgate", "release"];
    all.extend_from_slice(args);
    match parse(&all).command {
        Command::Release(release) => release,
        other => panic!("expected a release command, got {other:?}"),
    }
}

fn fails(args: &[&str]) -> clap::error::ErrorKind {
    match Cli::try_parse_from(args) {
        Ok(cli) => panic!("{args:?} parsed as {cli:?}"),
        Err(e) => e.kind(),
    }
}

#[test]
fn command_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn every_subcommand_has_help() {
    fn check(command: &clap::Command, path: &str) {
        for sub in command.get_subcommands() {
            let path = format!("{path} {}", sub.get_name());
            assert!(sub.get_about().is_some(), "{path} has no description");
            for arg in sub.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" {
                    assert!(arg.get_help().is_some(), "{path} {id} has no help");
                }
            }
            check(sub, &path);
        }
    }
    check(&Cli::command(), "shipgate");
}

#[test]
fn serve_and_migrate() {
    match parse(&["shipgate", "serve", "--config", "prod.toml", "--log-json"]).command {
        Command::Serve { config, log_json } => {
            assert_eq!(config, Some(PathBuf::from("prod.toml")));
            assert!(log_json);
        }
        other => panic!("{other:?}"),
    }
    match parse(&["shipgate", "migrate", "-c", "prod.toml"]).command {
        Command::Migrate { config } => assert_eq!(config, Some(PathBuf::from("prod.toml"))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn backup_takes_a_file_a_config_and_force() {
    match parse(&["shipgate", "backup", "nightly.db", "-c", "prod.toml", "--force"]).command {
        Command::Backup { file, config, force } => {
            assert_eq!(file, PathBuf::from("nightly.db"));
            assert_eq!(config, Some(PathBuf::from("prod.toml")));
            assert!(force);
        }
        other => panic!("{other:?}"),
    }
    match parse(&["shipgate", "backup", "nightly.db"]).command {
        Command::Backup { force, .. } => assert!(!force, "replacing a file is never the default"),
        other => panic!("{other:?}"),
    }
    assert_eq!(fails(&["shipgate", "backup"]), clap::error::ErrorKind::MissingRequiredArgument);
}

#[test]
fn playbook_show_and_validate() {
    match parse(&["shipgate", "playbook", "show"]).command {
        Command::Playbook(PlaybookCommand::Show { name: None, .. }) => {}
        other => panic!("{other:?}"),
    }
    match parse(&["shipgate", "playbook", "show", "hotfix", "--config", "x.toml"]).command {
        Command::Playbook(PlaybookCommand::Show { name, config }) => {
            assert_eq!(name.as_deref(), Some("hotfix"));
            assert_eq!(config, Some(PathBuf::from("x.toml")));
        }
        other => panic!("{other:?}"),
    }
    match parse(&["shipgate", "playbook", "validate", "p.toml"]).command {
        Command::Playbook(PlaybookCommand::Validate { file }) => {
            assert_eq!(file, PathBuf::from("p.toml"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fails(&["shipgate", "playbook", "validate"]), clap::error::ErrorKind::MissingRequiredArgument);
}

#[test]
fn discord_register() {
    match parse(&["shipgate", "discord", "register", "--config", "prod.toml"]).command {
        Command::Discord(DiscordCommand::Register { config }) => assert_eq!(config, Some(PathBuf::from("prod.toml"))),
        other => panic!("{other:?}"),
    }
    assert_eq!(fails(&["shipgate", "discord"]), clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand);
    assert_eq!(fails(&["shipgate", "discord", "unregister"]), clap::error::ErrorKind::InvalidSubcommand);
}

#[test]
fn release_global_options_go_before_or_after_the_subcommand() {
    let before = release(&["--server", "https://ship.example.com", "--token", "t0k3n", "--json", "status", "r1"]);
    let after = release(&["status", "r1", "--server", "https://ship.example.com", "--token", "t0k3n", "--json"]);
    for args in [before, after] {
        assert_eq!(args.client.server.as_str(), "https://ship.example.com/");
        assert_eq!(args.client.token.as_ref().map(|t| t.expose_secret().to_owned()), Some("t0k3n".to_owned()));
        assert!(args.client.json);
        assert!(matches!(args.command, ReleaseCommand::Status { ref id, history: false } if id == "r1"));
    }
}

#[test]
fn token_is_not_in_debug_output() {
    let args = release(&["--token", "very-secret-token-value", "status", "r1"]);
    assert!(!format!("{args:?}").contains("very-secret-token-value"));
}

/// Set in the copy of this test binary that [`environment_fallbacks`] runs.
const IN_CHILD: &str = "SHIPGATE_TEST_ENVIRONMENT_CHILD";

#[test]
fn environment_fallbacks() {
    // The environment belongs to the whole process: set here, it would reach every test
    // running beside this one and every `shipgate` they start. So the test runs itself
    // again, alone, in a child process, and sets the variables there.
    if std::env::var_os(IN_CHILD).is_none() {
        let module = module_path!().split_once("::").map_or("", |(_, module)| module);
        let name = if module.is_empty() {
            "environment_fallbacks".to_owned()
        } else {
            format!("{module}::environment_fallbacks")
        };
        let output = std::process::Command::new(std::env::current_exe().expect("the test binary"))
            .args(["--exact", &name, "--test-threads=1", "--nocapture"])
            .env(IN_CHILD, "1")
            .output()
            .expect("the test binary runs");
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{printed}{}", String::from_utf8_lossy(&output.stderr));
        assert!(printed.contains("1 passed"), "the child ran no test:\n{printed}");
        return;
    }
    std::env::set_var("SHIPGATE_SERVER", "http://shipgate.internal:9000");
    std::env::set_var("SHIPGATE_TOKEN", "from-the-environment");
    std::env::set_var("SHIPGATE_CONFIG", "/etc/shipgate/shipgate.toml");
    let args = release(&["status", "r1"]);
    let serve = parse(&["shipgate", "serve"]);
    let flag_wins = release(&["status", "r1", "--server", "http://other:1", "--token", "from-flag"]);
    // The token's value is never shown in help, even when it comes from the environment.
    let mut command = Cli::command();
    command.build();
    let help = command
        .find_subcommand_mut("release")
        .and_then(|r| r.find_subcommand_mut("status"))
        .map(|s| s.render_long_help().to_string())
        .unwrap_or_default();
    std::env::remove_var("SHIPGATE_SERVER");
    std::env::remove_var("SHIPGATE_TOKEN");
    std::env::remove_var("SHIPGATE_CONFIG");
    let defaults = release(&["status", "r1"]);

    assert_eq!(args.client.server.as_str(), "http://shipgate.internal:9000/");
    assert_eq!(args.client.token.map(|t| t.expose_secret().to_owned()).as_deref(), Some("from-the-environment"));
    assert!(
        matches!(serve.command, Command::Serve { config: Some(ref c), .. } if c == &PathBuf::from("/etc/shipgate/shipgate.toml"))
    );
    assert_eq!(flag_wins.client.server.as_str(), "http://other:1/");
    assert_eq!(flag_wins.client.token.map(|t| t.expose_secret().to_owned()).as_deref(), Some("from-flag"));
    assert_eq!(defaults.client.server.as_str(), format!("{DEFAULT_SERVER}/"));
    assert!(defaults.client.token.is_none());
    assert!(help.contains("SHIPGATE_TOKEN"), "{help}");
    assert!(help.contains("shipgate.internal:9000"), "{help}");
    assert!(!help.contains("from-the-environment"), "{help}");
}

#[test]
fn bad_server_url_is_a_usage_error() {
    assert_eq!(
        fails(&["shipgate", "release", "--server", "ftp://x", "status", "r1"]),
        clap::error::ErrorKind::ValueValidation
    );
    assert_eq!(
        fails(&["shipgate", "release", "--server", "not a url", "status", "r1"]),
        clap::error::ErrorKind::ValueValidation
    );
}

#[test]
fn start() {
    let args = release(&[
        "start",
        "--service",
        "api",
        "--version",
        "v1.4",
        "--sha",
        "3f9c2e1",
        "--playbook",
        "hotfix",
        "--hotfix",
        "--channel",
        "C42",
        "--idempotency-key",
        "k",
    ]);
    assert_eq!(args.client.idempotency_key.as_deref(), Some("k"));
    match args.command {
        ReleaseCommand::Start(start) => {
            assert_eq!(start.service, "api");
            assert_eq!(start.version.as_str(), "v1.4");
            assert_eq!(start.sha.as_str(), "3f9c2e1");
            assert_eq!(start.playbook.as_deref(), Some("hotfix"));
            assert!(start.hotfix);
            assert_eq!(start.channel.as_deref(), Some("C42"));
        }
        other => panic!("{other:?}"),
    }
    // The domain's rules for versions and SHAs are checked before anything is sent.
    assert_eq!(
        fails(&["shipgate", "release", "start", "--service", "api", "--version", "banana", "--sha", "3f9c2e1"]),
        clap::error::ErrorKind::ValueValidation
    );
    assert_eq!(
        fails(&["shipgate", "release", "start", "--service", "api", "--version", "1.0.0", "--sha", "xyz"]),
        clap::error::ErrorKind::ValueValidation
    );
    assert_eq!(
        fails(&["shipgate", "release", "start", "--service", "api"]),
        clap::error::ErrorKind::MissingRequiredArgument
    );
}

#[test]
fn status_and_list() {
    assert!(matches!(release(&["status", "r1"]).command, ReleaseCommand::Status { id, history: false } if id == "r1"));
    assert!(
        matches!(release(&["status", "r1", "--history"]).command, ReleaseCommand::Status { id, history: true } if id == "r1")
    );
    match release(&["list", "--service", "api", "--status", "rolled_back", "--limit", "10"]).command {
        ReleaseCommand::List(list) => {
            assert_eq!(list.service.as_deref(), Some("api"));
            assert_eq!(list.status, Some(StatusArg::RolledBack));
            assert_eq!(list.limit, Some(10));
        }
        other => panic!("{other:?}"),
    }
    match release(&["list"]).command {
        ReleaseCommand::List(list) => {
            assert!(list.service.is_none() && list.status.is_none() && list.limit.is_none())
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(release(&["list", "--status", "rolling-back"]).command, ReleaseCommand::List(l) if l.status == Some(StatusArg::RollingBack))
    );
    assert_eq!(fails(&["shipgate", "release", "list", "--limit", "0"]), clap::error::ErrorKind::ValueValidation);
    assert_eq!(fails(&["shipgate", "release", "list", "--status", "done"]), clap::error::ErrorKind::InvalidValue);
}

#[test]
fn tick_untick_approve_fail() {
    match release(&["tick", "r1", "pre-flight", "prs-merged", "no-blockers"]).command {
        ReleaseCommand::Tick { id, step, items } => {
            assert_eq!((id.as_str(), step.as_str()), ("r1", "pre-flight"));
            assert_eq!(items, ["prs-merged", "no-blockers"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fails(&["shipgate", "release", "tick", "r1", "pre-flight"]),
        clap::error::ErrorKind::MissingRequiredArgument
    );
    assert!(matches!(
        release(&["untick", "r1", "pre-flight", "prs-merged"]).command,
        ReleaseCommand::Untick { item, .. } if item == "prs-merged"
    ));
    assert!(matches!(
        release(&["approve", "r1", "pre-flight"]).command,
        ReleaseCommand::Approve { step, .. } if step == "pre-flight"
    ));
    match release(&["fail", "r1", "test-suite", "flaky", "--note", "known flake"]).command {
        ReleaseCommand::Fail { path, note, .. } => {
            assert_eq!(path, "flaky");
            assert_eq!(note.as_deref(), Some("known flake"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn test_result_and_artifact() {
    match release(&[
        "test-result",
        "r1",
        "--suite",
        "e2e",
        "--passed",
        "10",
        "--failed",
        "1",
        "--flaky",
        "login",
        "--flaky",
        "search",
        "--url",
        "https://ci/1",
    ])
    .command
    {
        ReleaseCommand::TestResult(t) => {
            assert_eq!((t.suite.as_str(), t.passed, t.failed, t.skipped), ("e2e", 10, 1, 0));
            assert_eq!(t.flaky, ["login", "search"]);
            assert_eq!(t.url.as_deref(), Some("https://ci/1"));
        }
        other => panic!("{other:?}"),
    }
    match release(&[
        "artifact",
        "r1",
        "--version",
        "1.4.0",
        "--sha",
        "3f9c2e1",
        "--digest",
        DIGEST,
        "--size",
        "52428800",
    ])
    .command
    {
        ReleaseCommand::Artifact(a) => {
            assert_eq!(a.digest.as_str(), DIGEST);
            assert_eq!(a.size, 52_428_800);
            assert!(a.name.is_none());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fails(&[
            "shipgate",
            "release",
            "artifact",
            "r1",
            "--version",
            "1.4.0",
            "--sha",
            "3f9c2e1",
            "--digest",
            "latest",
            "--size",
            "1"
        ]),
        clap::error::ErrorKind::ValueValidation
    );
}

#[test]
fn deploy() {
    match release(&[
        "deploy",
        "r1",
        "--env",
        "staging",
        "--digest",
        DIGEST,
        "--outcome",
        "failed",
        "--health",
        "unknown",
        "--strategy",
        "canary",
        "--canary-percent",
        "5",
        "--downgrade-reason",
        "revert",
        "--url",
        "https://ci/2",
    ])
    .command
    {
        ReleaseCommand::Deploy(d) => {
            assert_eq!(d.environment, EnvironmentArg::Staging);
            assert_eq!(d.outcome, OutcomeArg::Failed);
            assert_eq!(d.health, HealthArg::Unknown);
            assert_eq!(d.strategy, Some(StrategyArg::Canary));
            assert_eq!(d.canary_percent, Some(5));
            assert_eq!(d.downgrade_reason.as_deref(), Some("revert"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        release(&["deploy", "r1", "--env", "production", "--digest", DIGEST, "--outcome", "succeeded", "--health", "passed", "--strategy", "blue-green"]).command,
        ReleaseCommand::Deploy(d) if d.strategy == Some(StrategyArg::BlueGreen) && d.environment == EnvironmentArg::Production
    ));
    assert_eq!(
        fails(&[
            "shipgate",
            "release",
            "deploy",
            "r1",
            "--env",
            "qa",
            "--digest",
            DIGEST,
            "--outcome",
            "succeeded",
            "--health",
            "passed"
        ]),
        clap::error::ErrorKind::InvalidValue
    );
    assert_eq!(
        fails(&[
            "shipgate",
            "release",
            "deploy",
            "r1",
            "--env",
            "staging",
            "--digest",
            DIGEST,
            "--outcome",
            "succeeded",
            "--health",
            "passed",
            "--canary-percent",
            "150",
        ]),
        clap::error::ErrorKind::ValueValidation
    );
}

#[test]
fn override_rollback_abort() {
    assert!(matches!(
        release(&["override-request", "r1", "--reason", "security fix"]).command,
        ReleaseCommand::OverrideRequest { reason, .. } if reason == "security fix"
    ));
    assert!(
        matches!(release(&["override-approve", "r1"]).command, ReleaseCommand::OverrideApprove { id } if id == "r1")
    );
    assert!(matches!(
        release(&["rollback", "r1", "--reason", "errors"]).command,
        ReleaseCommand::Rollback { reason, .. } if reason == "errors"
    ));
    assert!(matches!(
        release(&["abort", "r1", "--reason", "superseded"]).command,
        ReleaseCommand::Abort { reason, .. } if reason == "superseded"
    ));
    assert_eq!(fails(&["shipgate", "release", "rollback", "r1"]), clap::error::ErrorKind::MissingRequiredArgument);
}
