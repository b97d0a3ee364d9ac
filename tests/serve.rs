//! `shipgate serve` as a user runs it: no config at all, then SIGTERM.

use crate::common;

use common::process::{free_port, write_config, Server};

#[tokio::test]
async fn serve_starts_without_config_on_embedded_sqlite_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    // No config file: defaults listen on 127.0.0.1:8080, which another test run may hold,
    // so only the port is moved, through the environment.
    let port = free_port();
    let mut command_dir =
        Server::start_with(dir.path(), None, port, &[("SHIPGATE_SERVER__LISTEN", format!("127.0.0.1:{port}"))]);
    command_dir.ready().await;
    let health = reqwest::get(format!("{}/healthz", command_dir.base)).await.unwrap();
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["database"], "sqlite");
    assert!(dir.path().join("shipgate.db").exists(), "the database file is created in the working directory");
    assert_eq!(command_dir.terminate(), Some(0));
}

/// A scrape of a fresh instance says what shipgate is and how it is doing before any
/// command: build, uptime, memory held, outbox backlog; then counts requests by route.
#[tokio::test]
async fn metrics_describe_a_fresh_instance_and_count_requests_by_route() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server =
        Server::start_with(dir.path(), None, port, &[("SHIPGATE_SERVER__LISTEN", format!("127.0.0.1:{port}"))]);
    server.ready().await;
    let scrape = || async { reqwest::get(format!("{}/metrics", server.base)).await.unwrap().text().await.unwrap() };
    let first = scrape().await;
    let version = env!("CARGO_PKG_VERSION");
    assert!(first.contains(&format!("shipgate_build_info{{version=\"{version}\"}} 1")), "{first}");
    for gauge in ["shipgate_uptime_seconds", "shipgate_releases_in_memory 0", "shipgate_outbox_backlog 0"] {
        assert!(first.contains(gauge), "{gauge} missing:\n{first}");
    }
    assert!(first.contains("# HELP shipgate_outbox_oldest_undelivered_seconds"), "{first}");

    let missing = reqwest::get(format!("{}/api/v1/releases/no-such-release", server.base)).await.unwrap();
    assert_eq!(missing.status(), 401, "no token");
    let second = scrape().await;
    assert!(
        second.contains(r#"shipgate_http_requests_total{route="/metrics",method="GET",status="200"} 1"#),
        "{second}"
    );
    assert!(
        second.contains(r#"route="/api/v1/releases/{id}",method="GET",status="401""#),
        "routes are counted by pattern, not by path:\n{second}"
    );
    assert_eq!(server.terminate(), Some(0));
}

#[tokio::test]
async fn a_bad_config_stops_startup_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port, "sqlite://x.db", "[server.tls]\nenabled = true\n");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["serve", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("tls"), "{stderr}");
}

#[test]
fn migrate_prepares_the_database_and_is_safe_to_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("migrated.db");
    let config = write_config(dir.path(), free_port(), &format!("sqlite://{}", database.display()), "");
    for _ in 0..2 {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
            .args(["migrate", "--config"])
            .arg(&config)
            .env("TEST_CI_TOKEN", common::process::PROCESS_CI_TOKEN)
            .env("TEST_RM_TOKEN", common::process::PROCESS_RM_TOKEN)
            .env("TEST_RM2_TOKEN", common::process::PROCESS_RM2_TOKEN)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
        assert!(stdout.contains("migrations applied") && stdout.contains("sqlite"), "{stdout}");
    }
    assert!(database.exists());
}

/// `serve` with PostgreSQL down: says where it connects, gives up after
/// `connect_timeout_seconds` naming the host and the cause, exits 2, and never prints the
/// password, however the URL carries it.
#[test]
fn an_unreachable_database_fails_fast_naming_the_host_not_the_password() {
    use std::io::Read;
    use std::time::{Duration, Instant};

    // Bound and released: nothing listens there.
    let closed = free_port();
    for (url, secret) in [
        (format!("postgres://shipgate:Userinfo-Secret-71@127.0.0.1:{closed}/shipgate"), "Userinfo-Secret-71"),
        (
            format!("postgres://shipgate@127.0.0.1:{closed}/shipgate?sslmode=disable&password=Param-Secret-72"),
            "Param-Secret-72",
        ),
        (
            format!("postgres://shipgate@127.0.0.1:{closed}/shipgate?sslpassword=Key-Secret-73&sslmode=disable"),
            "Key-Secret-73",
        ),
        (format!("postgresql://shipgate:Pct%2FSecret%4074@127.0.0.1:{closed}/shipgate"), "Pct"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), free_port(), &url, "");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
            .args(["serve", "--config"])
            .arg(&config)
            .current_dir(dir.path())
            .env("TEST_CI_TOKEN", common::process::PROCESS_CI_TOKEN)
            .env("TEST_RM_TOKEN", common::process::PROCESS_RM_TOKEN)
            .env("TEST_RM2_TOKEN", common::process::PROCESS_RM2_TOKEN)
            .env("SHIPGATE_DATABASE__CONNECT_TIMEOUT_SECONDS", "2")
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Only a bound against hanging: the timeout itself is not what is measured.
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("serve was still waiting for the database after 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut output = String::new();
        child.stdout.take().unwrap().read_to_string(&mut output).unwrap();
        child.stderr.take().unwrap().read_to_string(&mut output).unwrap();
        assert_eq!(status.code(), Some(2), "{output}");
        assert!(output.contains("connecting to postgres"), "{output}");
        assert!(output.contains(&format!("cannot connect to PostgreSQL at 127.0.0.1:{closed}")), "{output}");
        assert!(output.contains("connection refused"), "{output}");
        assert!(!output.contains(secret), "{output}");
    }
}

/// After a clean stop, the database file alone is the whole database: the write-ahead log
/// was checkpointed into it, so copying the one file is a backup.
#[tokio::test]
async fn a_cleanly_stopped_instance_leaves_everything_in_its_database_file() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let database = dir.path().join("shipgate.db");
    let config = write_config(dir.path(), port, &format!("sqlite://{}", database.display()), "");
    let mut server = Server::start(dir.path(), Some(&config), port);
    server.ready().await;
    let http = reqwest::Client::new();
    for service in ["api", "web", "billing"] {
        let started = http
            .post(format!("{}/api/v1/releases", server.base))
            .bearer_auth(common::process::PROCESS_RM_TOKEN)
            .json(&serde_json::json!({"service": service, "version": "1.0.0", "git_sha": "3f9c2e1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(started.status(), 201);
    }
    assert_eq!(server.terminate(), Some(0));

    let wal = dir.path().join("shipgate.db-wal");
    assert!(std::fs::metadata(&wal).map_or(true, |m| m.len() == 0), "the write-ahead log was left with data in it");
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(&database, copy.path().join("copy.db")).unwrap();
    let mut connection =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", copy.path().join("copy.db").display()))
            .await
            .unwrap();
    let (releases,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM releases").fetch_one(&mut connection).await.unwrap();
    assert_eq!(releases, 3);
}

/// Starts `shipgate serve` in `dir` with no API client (no config file, no
/// SHIPGATE_API_TOKEN) and the given extra environment, stops it, and returns its log.
async fn log_of_a_serve_without_clients(dir: &std::path::Path, env: &[(&str, String)]) -> String {
    use std::io::Read;
    let port = free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .arg("serve")
        .current_dir(dir)
        .env("SHIPGATE_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("SHIPGATE_API_TOKEN")
        .env_remove("SHIPGATE_API_TOKEN_FILE")
        .env_remove("SHIPGATE_CONFIG")
        .env("RUST_LOG", "info")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let readyz = format!("http://127.0.0.1:{port}/readyz");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        assert!(child.try_wait().unwrap().is_none(), "shipgate serve exited early");
        if reqwest::get(&readyz).await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "shipgate serve did not become ready");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let stop = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(stop.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let mut log = String::new();
    child.stdout.take().unwrap().read_to_string(&mut log).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    log
}

/// The line of `log` that carries `message`.
fn log_line<'a>(log: &'a str, message: &str) -> &'a str {
    log.lines().find(|line| line.contains(message)).unwrap_or_else(|| panic!("no {message:?} in the log:\n{log}"))
}

/// With no API client, startup says so and names every role the playbooks use: the
/// built-in playbook's two, although the freeze policy also names release-manager.
#[tokio::test]
async fn without_api_clients_startup_names_the_roles_the_built_in_playbook_uses() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_of_a_serve_without_clients(dir.path(), &[]).await;
    let warning = log_line(&log, "no API client is configured");
    assert!(warning.contains(r#"roles=["engineer", "release-manager"]"#), "{warning}");
}

/// The roles named are those of the playbooks loaded: a team's own playbooks, replacing the
/// built-in ones, name their own.
#[tokio::test]
async fn without_api_clients_startup_names_the_roles_of_the_loaded_playbooks() {
    let dir = tempfile::tempdir().unwrap();
    let playbooks = dir.path().join("playbooks");
    std::fs::create_dir_all(&playbooks).unwrap();
    // Every built-in playbook (the release, bug triage and the rollback drill) replaced by
    // the team's.
    for (file, builtin) in [
        ("ship-to-production.toml", shipgate::domain::playbook::SHIP_TO_PRODUCTION_TOML),
        ("bug-triage.toml", shipgate::domain::playbook::BUG_TRIAGE_TOML),
        ("rollback-drill.toml", shipgate::domain::playbook::ROLLBACK_DRILL_TOML),
    ] {
        let text = builtin.replace("\"release-manager\"", "\"sre\"").replace("\"engineer\"", "\"qa\"");
        std::fs::write(playbooks.join(file), text).unwrap();
    }
    let log =
        log_of_a_serve_without_clients(dir.path(), &[("SHIPGATE_PLAYBOOKS__DIR", playbooks.display().to_string())])
            .await;
    let warning = log_line(&log, "no API client is configured");
    assert!(warning.contains(r#"roles=["qa", "sre"]"#), "{warning}");
}
