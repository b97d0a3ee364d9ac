//! A release driven through all eight steps with the `shipgate release` command line
//! against `shipgate serve`, on SQLite and (with TEST_DATABASE_URL) on PostgreSQL.
//!
//! The team playbook used here watches production for one minute instead of fifteen, so
//! the test waits about a minute of real time at Step 7.

use crate::common;

use common::process::{
    free_port, fresh_postgres_url, write_config, Server, PROCESS_CI_TOKEN, PROCESS_RM2_TOKEN, PROCESS_RM_TOKEN,
};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const DIGEST: &str = "sha256:4f1c0000000000000000000000000000000000000000000000000000000000aa";

struct Cli<'a> {
    server: &'a str,
}

impl Cli<'_> {
    /// Runs `shipgate release ARGS` with `token`; returns (exit code, stdout, stderr).
    fn run(&self, token: &str, args: &[&str]) -> (i32, String, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_shipgate"))
            .arg("release")
            .args(args)
            .env("SHIPGATE_SERVER", self.server)
            .env("SHIPGATE_TOKEN", token)
            .output()
            .expect("run shipgate release");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    fn ok(&self, token: &str, args: &[&str]) -> String {
        let (code, stdout, stderr) = self.run(token, args);
        assert_eq!(code, 0, "shipgate release {args:?} failed:\n{stdout}\n{stderr}");
        stdout
    }

    fn status(&self, id: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(PROCESS_CI_TOKEN, &["status", id, "--json"])).expect("status json")
    }
}

fn team_playbook(dir: &Path) -> String {
    let playbooks = dir.join("playbooks");
    std::fs::create_dir_all(&playbooks).unwrap();
    let text = shipgate::domain::playbook::SHIP_TO_PRODUCTION_TOML
        .replace("name = \"ship-to-production\"", "name = \"quick-watch\"")
        .replace("watch_minutes = { min = 15, max = 30 }", "watch_minutes = { min = 1, max = 30 }");
    assert!(text.contains("min = 1,"), "the built-in playbook's watch line changed");
    std::fs::write(playbooks.join("quick-watch.toml"), text).unwrap();
    format!("[playbooks]\ndir = \"{}\"\ndefault = \"quick-watch\"\n", playbooks.display())
}

/// Steps 1 to 7 up to the watch; returns the release id.
fn drive_to_watch(cli: &Cli<'_>) -> String {
    let start = cli.ok(PROCESS_RM_TOKEN, &["start", "--service", "api", "--version", "1.4.0", "--sha", "3f9c2e1"]);
    let id = start.lines().next().expect("id on the first line").trim().to_owned();
    assert!(start.contains("Pre-Flight Checks"), "{start}");

    // Step 1: the gate refuses an unchecked box.
    cli.ok(
        PROCESS_CI_TOKEN,
        &["tick", &id, "pre-flight", "prs-merged", "no-blockers", "release-notes", "env-and-secrets"],
    );
    let (code, _, stderr) = cli.run(PROCESS_RM_TOKEN, &["approve", &id, "pre-flight"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("gate_not_ready") && stderr.contains("migrations-reviewed"), "{stderr}");
    cli.ok(PROCESS_CI_TOKEN, &["tick", &id, "pre-flight", "migrations-reviewed"]);
    cli.ok(PROCESS_RM_TOKEN, &["approve", &id, "pre-flight"]);

    // Step 2: a red run, a real regression back to Step 1, then green.
    cli.ok(PROCESS_CI_TOKEN, &["test-result", &id, "--suite", "e2e", "--passed", "40", "--failed", "2"]);
    cli.ok(PROCESS_RM_TOKEN, &["fail", &id, "test-suite", "real-regression", "--note", "checkout returns 500"]);
    assert_eq!(cli.status(&id)["current_step"]["id"], "pre-flight");
    cli.ok(
        PROCESS_CI_TOKEN,
        &[
            "tick",
            &id,
            "pre-flight",
            "prs-merged",
            "no-blockers",
            "release-notes",
            "env-and-secrets",
            "migrations-reviewed",
        ],
    );
    cli.ok(PROCESS_RM_TOKEN, &["approve", &id, "pre-flight"]);
    cli.ok(PROCESS_CI_TOKEN, &["test-result", &id, "--suite", "e2e", "--passed", "42", "--failed", "0"]);

    // Step 3: the artifact, tagged with the SHA and version.
    cli.ok(
        PROCESS_CI_TOKEN,
        &["artifact", &id, "--version", "1.4.0", "--sha", "3f9c2e1", "--digest", DIGEST, "--size", "73400320"],
    );
    cli.ok(PROCESS_CI_TOKEN, &["tick", &id, "build-artifact", "size-and-contents"]);

    // Step 4: staging.
    cli.ok(PROCESS_CI_TOKEN, &["tick", &id, "deploy-staging", "staging-mirrors-production"]);
    cli.ok(
        PROCESS_CI_TOKEN,
        &["deploy", &id, "--env", "staging", "--digest", DIGEST, "--outcome", "succeeded", "--health", "passed"],
    );

    // Step 5: smoke test; the starter may not approve the gate to production.
    cli.ok(
        PROCESS_CI_TOKEN,
        &["tick", &id, "smoke-test", "core-flows", "release-changes", "health-endpoints", "no-new-errors"],
    );
    let (code, _, stderr) = cli.run(PROCESS_RM_TOKEN, &["approve", &id, "smoke-test"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("self_approval"), "{stderr}");
    cli.ok(PROCESS_RM2_TOKEN, &["approve", &id, "smoke-test"]);

    // Step 6: production refuses another digest, takes the one that passed staging.
    let other = "sha256:9999999999999999999999999999999999999999999999999999999999999999";
    let (code, _, stderr) = cli.run(
        PROCESS_CI_TOKEN,
        &["deploy", &id, "--env", "production", "--digest", other, "--outcome", "succeeded", "--health", "passed"],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("wrong_artifact"), "{stderr}");
    cli.ok(
        PROCESS_CI_TOKEN,
        &[
            "deploy",
            &id,
            "--env",
            "production",
            "--digest",
            DIGEST,
            "--outcome",
            "succeeded",
            "--health",
            "passed",
            "--strategy",
            "canary",
            "--canary-percent",
            "5",
        ],
    );
    assert_eq!(cli.status(&id)["current_step"]["id"], "monitor");

    // Step 7: checklist now, approval after the watch.
    cli.ok(PROCESS_CI_TOKEN, &["tick", &id, "monitor", "error-rates", "latency", "throughput", "new-exceptions"]);
    let (code, _, stderr) = cli.run(PROCESS_RM_TOKEN, &["approve", &id, "monitor"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("watch"), "{stderr}");
    id
}

fn finish(cli: &Cli<'_>, id: &str) {
    cli.ok(PROCESS_RM_TOKEN, &["approve", id, "monitor"]);
    // Step 8: no rollback criterion holds; the release completes.
    cli.ok(
        PROCESS_CI_TOKEN,
        &["tick", id, "rollback-criteria", "error-rate", "p99-latency", "critical-flows", "unhandled-exceptions"],
    );
    cli.ok(PROCESS_RM_TOKEN, &["approve", id, "rollback-criteria"]);
    let release = cli.status(id);
    assert_eq!(release["status"], "completed");
    let entered: Vec<&str> = release["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "step_entered")
        .map(|e| e["step"].as_str().unwrap())
        .collect();
    assert_eq!(entered.last(), Some(&"rollback-criteria"));
    let listed = cli.ok(PROCESS_CI_TOKEN, &["list", "--status", "completed"]);
    assert!(listed.contains(id), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_runs_through_all_eight_steps_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let playbooks = team_playbook(dir.path());
    let mut servers = Vec::new();
    let sqlite_port = free_port();
    let sqlite_url = format!("sqlite://{}", dir.path().join("cli.db").display());
    servers.push(Server::start(
        dir.path(),
        Some(&write_config(dir.path(), sqlite_port, &sqlite_url, &playbooks)),
        sqlite_port,
    ));
    if let Some(admin) = shipgate::store::testing::postgres_url_from_env() {
        let url = fresh_postgres_url(&admin).await;
        let port = free_port();
        servers.push(Server::start(dir.path(), Some(&write_config(dir.path(), port, &url, &playbooks)), port));
    } else {
        eprintln!("TEST_DATABASE_URL is not set: the CLI runs against SQLite only");
    }
    for server in &mut servers {
        server.ready().await;
    }
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let ids = tokio::task::spawn_blocking(move || {
        bases.iter().map(|base| (base.clone(), drive_to_watch(&Cli { server: base }))).collect::<Vec<_>>()
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(61)).await;
    tokio::task::spawn_blocking(move || {
        for (base, id) in ids {
            finish(&Cli { server: &base }, &id);
        }
    })
    .await
    .unwrap();
    for server in servers {
        assert_eq!(server.terminate(), Some(0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_is_locked_listed_and_unlocked_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let playbooks = team_playbook(dir.path());
    let port = free_port();
    let url = format!("sqlite://{}", dir.path().join("locks.db").display());
    let mut server = Server::start(dir.path(), Some(&write_config(dir.path(), port, &url, &playbooks)), port);
    server.ready().await;
    let base = server.base.clone();
    tokio::task::spawn_blocking(move || {
        let cli = Cli { server: &base };
        let (code, _, stderr) =
            cli.run(PROCESS_RM_TOKEN, &["lock", "--service", "api", "--reason", "migration", "--for", "2 weeks"]);
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains("invalid_input") && stderr.contains("30m, 2h, 1d"), "{stderr}");
        assert!(cli.ok(PROCESS_CI_TOKEN, &["locks"]).contains("no lock in force"));

        let locked = cli.ok(
            PROCESS_RM_TOKEN,
            &[
                "lock",
                "--service",
                "api",
                "--reason",
                "database migration running",
                "--for",
                "2h",
                "--env",
                "production",
            ],
        );
        let id = locked.lines().next().expect("the lock id first").trim().to_owned();
        assert!(id.starts_with("lock_"), "{locked}");
        assert!(locked.contains("api production locked by release-bot until"), "{locked}");
        let listed = cli.ok(PROCESS_CI_TOKEN, &["locks", "--service", "api"]);
        assert!(listed.contains(&id) && listed.contains("database migration running (block)"), "{listed}");

        let unlocked = cli.ok(PROCESS_CI_TOKEN, &["unlock", &id]);
        assert!(unlocked.contains("unlocked at") && unlocked.contains("by ci"), "{unlocked}");
        let (code, _, stderr) = cli.run(PROCESS_CI_TOKEN, &["unlock", &id]);
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains("not_locked"), "{stderr}");
    })
    .await
    .unwrap();
    assert_eq!(server.terminate(), Some(0));
}

/// `status --history` tells every event's time in the team's time zone: the release's
/// channel's team calendar, else `[freeze]`'s; `--json` keeps its shape and adds the zone.
/// While a release rolls back, `status` shows the rollback procedure, not Step 7's card.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_rollback_procedure_and_a_history_in_the_team_time_zone() {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "{}\n[freeze]\ntimezone = \"America/New_York\"\n\n[[freeze.teams]]\nname = \"payments-india\"\nchannels = [\"C0PAYMENTS\"]\ntimezone = \"Asia/Kolkata\"\n",
        team_playbook(dir.path())
    );
    let port = free_port();
    let url = format!("sqlite://{}", dir.path().join("history.db").display());
    let mut server = Server::start(dir.path(), Some(&write_config(dir.path(), port, &url, &extra)), port);
    server.ready().await;
    let base = server.base.clone();
    tokio::task::spawn_blocking(move || {
        let cli = Cli { server: &base };
        let id = drive_to_watch(&cli);
        cli.ok(PROCESS_RM_TOKEN, &["rollback", &id, "--reason", "error rate 2.4x baseline"]);
        let status = cli.ok(PROCESS_CI_TOKEN, &["status", &id]);
        assert!(
            status.starts_with(
                "api 1.4.0 (3f9c2e1) — rolling back — Rollback procedure (from Step 7 Post-Deploy Monitoring)\n"
            ),
            "{status}"
        );
        assert!(status.contains("\n[ ] deploy-reverted — "), "the rollback checklist:\n{status}");
        assert!(!status.contains("error-rates") && !status.contains("failure paths"), "{status}");
        assert!(status.contains(&format!("\nreverting: {DIGEST}\n")), "{status}");
        assert!(
            status.contains("\nroll back to: no known-good artifact: shipgate knows of no earlier production deploy of api."),
            "{status}"
        );

        let history = cli.ok(PROCESS_CI_TOKEN, &["status", &id, "--history"]);
        let (_, events) = history.split_once("history (times in America/New_York):\n").expect(&history);
        assert!(
            events.lines().all(|line| line.contains(" EST  ") || line.contains(" EDT  ")),
            "every time in New York's zone:\n{events}"
        );
        assert!(events.contains("  release-bot (api)  started api 1.4.0 (3f9c2e1) with the playbook quick-watch\n"), "{events}");
        assert!(
            events.contains("  release-bot (api)  took the failure path real-regression (restart) at Step 2 Run the Test Suite: checkout returns 500\n"),
            "{events}"
        );
        assert!(events.contains("  second-approver (api)  approved Step 5 Smoke Test on Staging, letting "), "{events}");
        let json: serde_json::Value =
            serde_json::from_str(&cli.ok(PROCESS_CI_TOKEN, &["status", &id, "--json", "--history"])).unwrap();
        assert_eq!(json["time_zone"], "America/New_York");
        assert_eq!(events.lines().count(), json["history"].as_array().unwrap().len(), "one line per event");

        let start = ["start", "--service", "payments", "--version", "2.0.0", "--sha", "aa11bb2", "--channel", "C0PAYMENTS"];
        let payments = cli.ok(PROCESS_RM_TOKEN, &start);
        let payments = payments.lines().next().unwrap().trim();
        let history = cli.ok(PROCESS_CI_TOKEN, &["status", payments, "--history"]);
        let (_, events) = history.split_once("history (times in Asia/Kolkata):\n").expect(&history);
        assert!(events.contains(" IST  release-bot (api)  started payments 2.0.0 (aa11bb2)"), "{events}");
    })
    .await
    .unwrap();
    assert_eq!(server.terminate(), Some(0));
}
