//! Memory and restart time of one `shipgate serve` holding many open releases.
//!
//! Starts the given binary on a fresh SQLite file (or `--database`), opens `--releases`
//! releases over the API, each on its own service and each given one tick (so every one
//! has been folded and touched), then reads the process's resident memory; stops it with
//! SIGTERM, starts it again on the same database, and times how long until it answers
//! `/readyz` and until a command on the oldest release is answered (its state folded
//! again from the store). Memory is read from `/proc/PID/status` (Linux).
//!
//! ```text
//! cargo build --release && cargo run --release --example openreleases -- --releases 100000
//! ```

use clap::Parser;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Args {
    /// Open releases to create and touch.
    #[arg(long, default_value_t = 100_000)]
    releases: usize,
    /// Concurrent clients creating them.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// The shipgate binary to run.
    #[arg(long, default_value = "target/release/shipgate")]
    binary: PathBuf,
    /// A database URL instead of a fresh SQLite file in a temporary folder.
    #[arg(long)]
    database: Option<String>,
}

const TOKEN: &str = "openreleases-token-0123456789";

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(binary: &Path, config: &Path, dir: &Path, port: u16) -> anyhow::Result<Server> {
        let child = Command::new(binary)
            .args(["serve", "--config"])
            .arg(config)
            .current_dir(dir)
            .env("OPENRELEASES_TOKEN", TOKEN)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        Ok(Server { child, base: format!("http://127.0.0.1:{port}") })
    }

    async fn ready(&mut self, http: &reqwest::Client) -> anyhow::Result<()> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("shipgate serve exited with {status}");
            }
            if let Ok(response) = http.get(format!("{}/readyz", self.base)).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Resident memory now and at its peak, in MiB.
    fn memory(&self) -> anyhow::Result<(f64, f64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let field = |name: &str| -> f64 {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        Ok((field("VmRSS:"), field("VmHWM:")))
    }

    fn terminate(mut self) -> anyhow::Result<Duration> {
        let asked = Instant::now();
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status()?;
        self.child.wait()?;
        Ok(asked.elapsed())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    // The server runs in its own folder: a relative path would be looked up from there.
    args.binary = std::fs::canonicalize(&args.binary)
        .map_err(|e| anyhow::anyhow!("{}: {e}; build it with `cargo build --release`", args.binary.display()))?;
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let database =
        args.database.clone().unwrap_or_else(|| format!("sqlite://{}", dir.path().join("open.db").display()));
    let config = dir.path().join("shipgate.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[database]\nurl = \"{database}\"\n\n\
             [[api.clients]]\nname = \"openreleases\"\ntoken_env = \"OPENRELEASES_TOKEN\"\n\
             roles = [\"release-manager\", \"engineer\"]\n"
        ),
    )?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.clients).build()?;

    let mut server = Server::start(&args.binary, &config, dir.path(), port)?;
    server.ready(&http).await?;
    let (fresh, _) = server.memory()?;

    let created = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..args.clients {
        let (http, base, next, total) = (http.clone(), server.base.clone(), next.clone(), args.releases);
        clients.push(tokio::spawn(async move {
            let mut first = None;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return anyhow::Ok(first);
                }
                let started: serde_json::Value = http
                    .post(format!("{base}/api/v1/releases"))
                    .bearer_auth(TOKEN)
                    .json(&json!({"service": format!("svc-{n:06}"), "version": "1.0.0", "git_sha": "3f9c2e1"}))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                let id = started["id"].as_str().unwrap_or_default().to_owned();
                http.post(format!("{base}/api/v1/releases/{id}/steps/pre-flight/items/prs-merged/tick"))
                    .bearer_auth(TOKEN)
                    .send()
                    .await?
                    .error_for_status()?;
                if n == 0 {
                    first = Some(id);
                }
            }
        }));
    }
    let mut oldest = None;
    for client in clients {
        oldest = oldest.or(client.await??);
    }
    let oldest = oldest.expect("the first release");
    let took = created.elapsed();
    let (loaded, peak) = server.memory()?;
    let metrics = http.get(format!("{}/metrics", server.base)).send().await?.text().await?;
    let in_memory = metrics
        .lines()
        .find(|line| line.starts_with("shipgate_releases_in_memory "))
        .unwrap_or("shipgate_releases_in_memory (not exported)")
        .to_owned();
    let stopped_in = server.terminate()?;

    let restarted = Instant::now();
    let mut server = Server::start(&args.binary, &config, dir.path(), port)?;
    server.ready(&http).await?;
    let ready_after = restarted.elapsed();
    let command = Instant::now();
    http.post(format!("{}/api/v1/releases/{oldest}/steps/pre-flight/items/no-blockers/tick", server.base))
        .bearer_auth(TOKEN)
        .send()
        .await?
        .error_for_status()?;
    let first_command = command.elapsed();
    let (after_restart, _) = server.memory()?;
    server.terminate()?;

    let database_bytes: u64 = std::fs::read_dir(dir.path())?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("open.db"))
        .filter_map(|entry| entry.metadata().ok())
        .map(|metadata| metadata.len())
        .sum();
    println!("open releases: {} (each started and given one tick), by {} clients", args.releases, args.clients);
    println!(
        "created in {:.1} s ({:.0} commands/s)",
        took.as_secs_f64(),
        (2 * args.releases) as f64 / took.as_secs_f64()
    );
    println!("resident memory: {fresh:.1} MiB fresh, {loaded:.1} MiB with them all touched (peak {peak:.1} MiB)");
    println!("{in_memory}");
    if args.database.is_none() {
        println!("database: {:.1} MiB", database_bytes as f64 / (1024.0 * 1024.0));
    }
    println!("stop (SIGTERM to exit): {:.0} ms", stopped_in.as_secs_f64() * 1e3);
    println!(
        "restart: ready in {:.0} ms; first command on the oldest release {:.1} ms; resident memory {after_restart:.1} MiB",
        ready_after.as_secs_f64() * 1e3,
        first_command.as_secs_f64() * 1e3
    );
    Ok(())
}
