//! The README's commands, run as written. The walk-through under "Running a release from
//! the command line" runs block by block, in order, in one bash, against `shipgate serve`
//! started as its first block says; then the backup command under "Configuration" runs
//! while that server serves. A README that drifts from what shipgate does fails here.
//!
//! `shipgate` in those commands is the binary under test, and so is `cargo run --release --`
//! (a shell function runs the binary rather than building it again). The walk-through runs
//! on the README's trial playbook, whose watch is one minute, and sleeps through it as the
//! README does: this test takes a little over a minute.

use crate::common;

use common::process::free_port;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const README: &str = include_str!("../README.md");

/// The text under `## {heading}`, up to the next `## ` heading.
fn section(heading: &str) -> &'static str {
    let start = README.find(&format!("\n## {heading}\n")).unwrap_or_else(|| panic!("README has no ## {heading}"));
    let body = &README[start + 1..];
    let end = body[3..].find("\n## ").map_or(body.len(), |i| i + 3);
    &body[..end]
}

/// The ```sh blocks of `text`, in order.
fn sh_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("```sh\n") {
        let body = &rest[start + "```sh\n".len()..];
        let end = body.find("```").expect("a ```sh block is closed");
        blocks.push(body[..end].to_owned());
        rest = &body[end + 3..];
    }
    blocks
}

/// What every script starts with: stop at the first failing command, and `shipgate` is the
/// binary under test.
const PRELUDE: &str = r#"set -euo pipefail
shipgate() { "$SHIPGATE_BIN" "$@"; }
"#;

/// For the script that starts the server: `cargo run --release -- ARGS` becomes the binary
/// with ARGS, in place of the shell, so stopping the script's process stops the server.
const SERVER_PRELUDE: &str = r#"cargo() {
  if [ "${1-} ${2-} ${3-}" != "run --release --" ]; then
    echo "the README runs \"cargo $*\"; this test knows only \"cargo run --release --\"" >&2
    exit 99
  fi
  shift 3
  exec "$SHIPGATE_BIN" "$@"
}
"#;

/// A bash running `script` in `dir`, with none of the caller's SHIPGATE_ variables.
fn bash(dir: &Path, script: &str, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new("bash");
    command.arg("-c").arg(script).current_dir(dir).env("SHIPGATE_BIN", env!("CARGO_BIN_EXE_shipgate"));
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("SHIPGATE_")) {
        command.env_remove(key);
    }
    command.env_remove("RUST_LOG").envs(env.iter().copied()).stdin(Stdio::null());
    command
}

/// Runs `script` to its end (at most ten minutes) and fails the test, showing what it
/// printed, unless it succeeded.
fn run_ok(what: &str, dir: &Path, script: &str, env: &[(&str, &str)]) -> Output {
    let mut command = bash(dir, &format!("{PRELUDE}set -x\n{script}"), env);
    let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run bash");
    let id = child.id();
    // A bound against a hang only; nothing here is timed.
    let watchdog = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(600);
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            if !Path::new(&format!("/proc/{id}")).exists() {
                return;
            }
        }
        let _ = Command::new("kill").args(["-KILL", &id.to_string()]).status();
    });
    let output = child.wait_with_output().expect("wait for bash");
    let _ = watchdog.join();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr (each command after +)\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The README's server, killed if the test ends early: its stderr is the test's, and a
/// server left running would hold the test run's output open.
struct Serving(std::process::Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_until_ready(server: &mut std::process::Child, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = server.try_wait().unwrap() {
            panic!("the README's serve command exited with {status}");
        }
        if reqwest::get(format!("{base}/readyz")).await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        assert!(Instant::now() < deadline, "the README's server did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walk_through_and_backup_run_as_written() {
    let dir = tempfile::tempdir().unwrap();
    // The README's paths are relative to a checkout: config/ is the repository's.
    std::os::unix::fs::symlink(Path::new(env!("CARGO_MANIFEST_DIR")).join("config"), dir.path().join("config"))
        .unwrap();

    // The two tokens, made as the README makes them.
    let export = section("Quick start")
        .lines()
        .find(|line| line.starts_with("export SHIPGATE_CI_TOKEN="))
        .expect("the README exports the two clients' tokens");
    let printed = run_ok(
        "the README's export of the tokens",
        dir.path(),
        &format!("{export}\nprintf '%s %s' \"$SHIPGATE_CI_TOKEN\" \"$SHIPGATE_RM_TOKEN\""),
        &[],
    );
    let printed = String::from_utf8(printed.stdout).unwrap();
    let (ci, rm) = printed.split_once(' ').expect("two tokens");
    assert!(ci.len() >= 16 && rm.len() >= 16 && ci != rm, "{printed}");

    let blocks = sh_blocks(section("Running a release from the command line"));
    let (serve, walk_through) = blocks.split_first().expect("the walk-through has blocks");
    assert!(serve.contains("cargo run --release -- serve --config config/shipgate.example.toml"), "{serve}");
    assert!(walk_through.len() >= 3, "{walk_through:?}");

    // The server, as the first block starts it; only where it listens is moved, since
    // another test may hold 8080.
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let base = format!("http://{listen}");
    let tokens = [("SHIPGATE_CI_TOKEN", ci), ("SHIPGATE_RM_TOKEN", rm)];
    let mut server = Serving(
        bash(dir.path(), &format!("{PRELUDE}{SERVER_PRELUDE}{serve}"), &tokens)
            .env("SHIPGATE_SERVER__LISTEN", &listen)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the README's server"),
    );
    wait_until_ready(&mut server.0, &base).await;

    let client = [tokens[0], tokens[1], ("SHIPGATE_SERVER", base.as_str())];
    let script = walk_through.join("\n");
    // The walk-through waits for its commands (and sleeps through the watch) on this thread.
    let walked = tokio::task::block_in_place(|| run_ok("the README's walk-through", dir.path(), &script, &client));
    let printed = String::from_utf8(walked.stdout).unwrap();
    // What the walk-through's comments promise a reader sees.
    for promised in [
        "gate: waiting for the 1-minute watch after the production deploy",
        "api 1.4.0 (3f9c2e1) — completed\nstarted by ci at ",
        "history (times in UTC):\n",
        "release-manager (api)  approved Step 5 Smoke Test on Staging",
        "api 1.4.1 (6e1f8b3) — active — Step 1/8 Pre-Flight Checks\nretargeted from 1.4.1 (5d0e7a2) by ci at ",
        "recorded: retargeted, restarted, step_entered\n",
        "api 1.4.1 (6e1f8b3) — rolling back — Rollback procedure (from Step 7 Post-Deploy Monitoring)",
        "roll back to: 1.4.0 sha256:4f1c9a7e2b3d5f60718293a4b5c6d7e8f9012a3b4c5d6e7f8091a2b3c4d5e6f7 (release ",
        "api 1.4.1 (6e1f8b3) — rolled back\n",
        "api 1.4.2 (8c3b9f4) [hotfix] — aborted at Step 1/8 Pre-Flight Checks\naborted: superseded by 1.4.3\n",
    ] {
        assert!(printed.contains(promised), "the walk-through did not print {promised:?}:\n{printed}");
    }

    // The server agrees with what was printed. The rollback of 1.4.1 opened its bug triage,
    // which is still to be worked: a sweep opens it within seconds of the rollback, so the
    // list is read until it shows up (or a generous deadline passes).
    let http = reqwest::Client::new();
    let expected = [
        ("1.4.0", "completed", "ship-to-production"),
        ("1.4.1", "active", "bug-triage"),
        ("1.4.1", "rolled_back", "ship-to-production"),
        ("1.4.2", "aborted", "ship-to-production"),
    ]
    .map(|(v, s, p)| (v.to_owned(), s.to_owned(), p.to_owned()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let outcomes = loop {
        let listed: serde_json::Value =
            http.get(format!("{base}/api/v1/releases")).bearer_auth(ci).send().await.unwrap().json().await.unwrap();
        let mut outcomes: Vec<(String, String, String)> = listed["releases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let text = |key: &str| r[key].as_str().unwrap().to_owned();
                (text("version"), text("status"), text("playbook"))
            })
            .collect();
        outcomes.sort();
        if outcomes == expected || std::time::Instant::now() > deadline {
            break outcomes;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(outcomes, expected);
    let locks: serde_json::Value =
        http.get(format!("{base}/api/v1/locks")).bearer_auth(ci).send().await.unwrap().json().await.unwrap();
    assert_eq!(locks["locks"], serde_json::json!([]), "the walk-through lifts its lock");

    // The backup, while the server serves.
    let backup = sh_blocks(section("Configuration"))
        .into_iter()
        .find(|block| block.contains("shipgate backup"))
        .expect("the README shows shipgate backup");
    let before: Vec<_> = std::fs::read_dir(dir.path()).unwrap().filter_map(Result::ok).map(|e| e.path()).collect();
    let backed_up = tokio::task::block_in_place(|| run_ok("the README's backup", dir.path(), &backup, &[]));
    let said = String::from_utf8(backed_up.stdout).unwrap();
    assert!(
        said.starts_with("backed up sqlite://shipgate.db to shipgate-") && said.contains(": 4 releases, "),
        "{said}"
    );
    let copies: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|path| !before.contains(path))
        .collect();
    assert_eq!(copies.len(), 1, "one new file, the backup: {copies:?}");
    use sqlx::Connection;
    let mut copy = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", copies[0].display())).await.unwrap();
    let (releases,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM releases").fetch_one(&mut copy).await.unwrap();
    assert_eq!(releases, 4, "the three releases and the bug triage");

    let stop = Command::new("kill").args(["-TERM", &server.0.id().to_string()]).status().unwrap();
    assert!(stop.success());
    assert_eq!(server.0.wait().unwrap().code(), Some(0), "the README's server stops cleanly");
}

/// The quick start stays two commands: one serves on embedded SQLite with no setup, one
/// runs the tests.
#[test]
fn the_quick_start_is_two_commands() {
    let blocks = sh_blocks(section("Quick start"));
    let commands: Vec<&str> = blocks[0].lines().filter(|line| !line.trim().is_empty()).collect();
    assert_eq!(commands.len(), 2, "{commands:?}");
    assert!(commands[0].starts_with("cargo run --release -- serve "), "{}", commands[0]);
    assert!(commands[1].starts_with("cargo test "), "{}", commands[1]);
}
