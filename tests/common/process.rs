//! Runs the real `shipgate` binary as a child process.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PROCESS_CI_TOKEN: &str = "process-ci-token-0123456789";
pub const PROCESS_RM_TOKEN: &str = "process-rm-token-0123456789";
pub const PROCESS_RM2_TOKEN: &str = "process-rm2-token-0123456789";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A config file with three API clients whose tokens come from the environment.
pub fn write_config(dir: &Path, port: u16, database_url: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join(format!("shipgate-{port}.toml"));
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:{port}"

[database]
url = "{database_url}"

[[api.clients]]
name = "ci"
token_env = "TEST_CI_TOKEN"
roles = ["engineer"]

[[api.clients]]
name = "release-bot"
token_env = "TEST_RM_TOKEN"
roles = ["release-manager", "engineer"]

[[api.clients]]
name = "second-approver"
token_env = "TEST_RM2_TOKEN"
roles = ["release-manager"]
{extra}
"#
    );
    std::fs::write(&path, text).expect("write config");
    path
}

pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    pub fn start(dir: &Path, config: Option<&Path>, port: u16) -> Server {
        Self::start_with(dir, config, port, &[])
    }

    pub fn start_with(dir: &Path, config: Option<&Path>, port: u16, env: &[(&str, String)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_shipgate"));
        command.arg("serve");
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        let child = command
            .current_dir(dir)
            .env("TEST_CI_TOKEN", PROCESS_CI_TOKEN)
            .env("TEST_RM_TOKEN", PROCESS_RM_TOKEN)
            .env("TEST_RM2_TOKEN", PROCESS_RM2_TOKEN)
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start shipgate serve");
        Server { child, base: format!("http://127.0.0.1:{port}") }
    }

    /// Waits until `/readyz` answers 200.
    pub async fn ready(&mut self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("shipgate serve exited early with {status}");
            }
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "shipgate serve did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process with SIGKILL, as a power cut or the OOM killer would: no shutdown
    /// code runs. Returns once the process is gone.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL shipgate serve");
        self.child.wait().expect("reap the killed shipgate serve");
    }

    /// Sends SIGTERM and returns the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(Instant::now() < deadline, "shipgate serve did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The URL of a new, empty database on `backend` for `shipgate serve` processes: a SQLite
/// file in `dir`, or a fresh PostgreSQL database (`None`, said on stderr, when
/// TEST_DATABASE_URL is not set).
pub async fn database_url_for(backend: super::Backend, dir: &Path) -> Option<String> {
    match backend {
        super::Backend::Sqlite => Some(format!("sqlite://{}", dir.join("shipgate.db").display())),
        super::Backend::Postgres => {
            let Some(admin) = shipgate::store::testing::postgres_url_from_env() else {
                eprintln!("TEST_DATABASE_URL is not set: skipping the PostgreSQL run");
                return None;
            };
            Some(fresh_postgres_url(&admin).await)
        }
    }
}

/// A brand-new PostgreSQL database for processes to share; its URL.
pub async fn fresh_postgres_url(admin_url: &str) -> String {
    use sqlx::Connection;
    let name = format!("shipgate_proc_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(admin_url).await.expect("connect admin");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create database");
    let base = admin_url.rsplit_once('/').map_or(admin_url, |(base, _)| base);
    format!("{base}/{name}")
}
