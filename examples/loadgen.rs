//! Load generator: durable commands per second over HTTP with many concurrent clients.
//!
//! Each client owns one release and toggles one checklist item (tick, untick, tick, ...),
//! so every request is a real, durable command: decided by the domain, written with its
//! events, projection and answer in a committed transaction before the reply.
//!
//! ```text
//! cargo run --release --example loadgen -- --clients 64 --seconds 10
//! cargo run --release --example loadgen -- --server http://127.0.0.1:8080 --token $SHIPGATE_TOKEN
//! ```
//! Without `--server` it starts shipgate in-process on a fresh SQLite file (WAL,
//! synchronous=FULL) in a temporary folder, sharing the machine with the clients.

use clap::Parser;
use secrecy::SecretString;
use serde_json::json;
use shipgate::app::clock::SystemClock;
use shipgate::app::playbooks::Playbooks;
use shipgate::app::{App, AppParts};
use shipgate::config::{ApiClient, ApiConfig};
use shipgate::domain::freeze::NoFreeze;
use shipgate::domain::release::Policy;
use shipgate::http::{router, AppState};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

// A command allocates many small, short-lived values (views, events); mimalloc serves
// them markedly faster than the system allocator under concurrency.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
struct Args {
    /// Concurrent clients, each driving its own release.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// How long to run after warm-up.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// A running shipgate to load; without it one is started in-process on SQLite.
    #[arg(long)]
    server: Option<String>,
    /// API token for --server (a client with the engineer role).
    #[arg(long, env = "SHIPGATE_TOKEN")]
    token: Option<String>,
    /// With the in-process server: a database URL instead of a temporary SQLite file.
    #[arg(long)]
    database: Option<String>,
    /// Send a fresh Idempotency-Key with every request, as `shipgate release` does: each
    /// answer is then stored for replays, in the same transaction.
    #[arg(long)]
    idempotency_keys: bool,
}

const TOKEN: &str = "loadgen-token-0123456789";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _dir;
    let (base, token) = match &args.server {
        Some(server) => (server.trim_end_matches('/').to_owned(), args.token.clone().unwrap_or_default()),
        None => {
            let dir = tempfile::tempdir()?;
            let url = match &args.database {
                Some(url) => url.clone(),
                None => format!("sqlite://{}", dir.path().join("load.db").display()),
            };
            _dir = dir;
            (spawn_server(&url).await?, TOKEN.to_owned())
        }
    };
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.clients).build()?;

    // One release per client.
    let mut releases = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let reply: serde_json::Value = http
            .post(format!("{base}/api/v1/releases"))
            .bearer_auth(&token)
            .json(&json!({"service": format!("load-{i}"), "version": "1.0.0", "git_sha": "3f9c2e1"}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        releases.push(reply["id"].as_str().unwrap_or_default().to_owned());
    }

    let warmup = Duration::from_secs(2);
    let run_for = Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    let keys = args.idempotency_keys;
    for id in releases {
        let http = http.clone();
        let base = base.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut ticked = false;
            loop {
                let elapsed = started.elapsed();
                if elapsed > warmup + run_for {
                    break;
                }
                let action = if ticked { "untick" } else { "tick" };
                let url = format!("{base}/api/v1/releases/{id}/steps/pre-flight/items/prs-merged/{action}");
                let sent = Instant::now();
                let mut request = http.post(url).bearer_auth(&token);
                if keys {
                    request = request.header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
                }
                let ok = match request.send().await {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        let _ = response.bytes().await;
                        ok
                    }
                    Err(_) => false,
                };
                if ok {
                    ticked = !ticked;
                } else {
                    errors += 1;
                }
                if elapsed >= warmup {
                    latencies.push(sent.elapsed());
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await?;
        latencies.extend(l);
        errors += e;
    }
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let count = latencies.len();
    println!("clients: {}{}", args.clients, if keys { " (with idempotency keys)" } else { "" });
    println!("duration: {}s (after {}s warm-up)", args.seconds, warmup.as_secs());
    println!("commands: {count} ({errors} errors)");
    println!("throughput: {:.0} durable commands/s", count as f64 / run_for.as_secs_f64());
    println!(
        "latency: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.95).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    Ok(())
}

async fn spawn_server(url: &str) -> anyhow::Result<String> {
    let store = shipgate::store::Store::connect_with(url, 8).await?;
    store.migrate().await?;
    let app = App::new(AppParts {
        store,
        playbooks: Playbooks::builtin(),
        freeze: Arc::new(NoFreeze),
        channel_freeze: Default::default(),
        policy: Policy::default(),
        clock: Arc::new(SystemClock),
    });
    let state = AppState {
        app,
        api: Arc::new(ApiConfig {
            clients: vec![ApiClient {
                name: "loadgen".into(),
                token: SecretString::from(TOKEN.to_owned()),
                roles: vec!["release-manager".into(), "engineer".into()],
            }],
        }),
        metrics: None,
        ready: Arc::new(AtomicBool::new(true)),
        discord: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(state, 64 * 1024)).await {
            eprintln!("server stopped: {e}");
        }
    });
    Ok(base)
}
