//! Load generator: durable commands per second over HTTP with many concurrent clients,
//! beside a bare endpoint measured in the same run.
//!
//! Every request is a real, durable command: authenticated, decided by the domain, written
//! with its events, projection and answer in a committed transaction before the reply.
//!
//! Workloads (combine freely):
//! - `--command tick`: each client ticks and unticks one checklist item of Step 1 (tick,
//!   untick, tick, ...); clients sharing a release each take another item (at most five).
//! - `--command test-result`: each client records a failing test result on Step 2, as a CI
//!   pipeline re-running a red suite does; always accepted, the release stays on Step 2.
//! - `--releases N`: the clients share N releases, client `i` working on release `i % N`
//!   (a team clicking the same card at once); by default each client has its own.
//! - `--history N`: each release is first grown to about N events, written straight to the
//!   database (`--database` names it when the server runs elsewhere).
//! - `--idempotency-keys`: a fresh `Idempotency-Key` with every request, as `shipgate
//!   release` sends; each answer is then also stored for replays.
//!
//! The bare endpoint takes the same request, checks the bearer token against the same
//! API config, decodes the same body and answers a constant: the most any endpoint can do
//! on this machine with this client. Phases alternate (bare, commands, bare, commands, ...)
//! because absolute figures drift on a shared machine.
//!
//! ```text
//! cargo run --release --example loadgen -- --clients 64 --seconds 10
//! cargo run --release --example loadgen -- --command test-result --releases 8 --history 10000 --idempotency-keys
//! cargo run --release --example loadgen -- --server http://127.0.0.1:8080 --token $SHIPGATE_TOKEN
//! ```
//! Without `--server` it starts shipgate in-process on a fresh SQLite file (WAL,
//! synchronous=FULL) in a temporary folder, sharing the machine with the clients.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clap::{Parser, ValueEnum};
use secrecy::SecretString;
use serde_json::{json, Value};
use shipgate::app::clock::SystemClock;
use shipgate::app::playbooks::Playbooks;
use shipgate::app::{App, AppParts};
use shipgate::config::{ApiClient, ApiConfig};
use shipgate::domain::freeze::NoFreeze;
use shipgate::domain::release::{self, Command, Context, Policy, Recorded, Release, TestResult};
use shipgate::domain::{Actor, ItemId, Platform, ReleaseId, RequestId, RoleName, StepId};
use shipgate::http::{router, AppState};
use shipgate::store::{Commit, HoldChange, LiveChange, Store};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

// A command allocates many small, short-lived values (views, events); mimalloc serves
// them markedly faster than the system allocator under concurrency.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
struct Args {
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Releases the clients share (client i works on release i % N); default: one each.
    #[arg(long)]
    releases: Option<usize>,
    /// What each request does.
    #[arg(long, value_enum, default_value_t = Workload::Tick)]
    command: Workload,
    /// Grow each release to about this many events before measuring; several
    /// (`10,1000,10000`) measure each length in turn in one run, growing in between.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    history: Vec<u64>,
    /// Length of each phase, after a 2 s warm-up.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// How many times to run the pair of phases (bare endpoint, then commands).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Leave out the bare endpoint's phases.
    #[arg(long)]
    no_bare: bool,
    /// A running shipgate to load; without it one is started in-process on SQLite.
    #[arg(long)]
    server: Option<String>,
    /// API token for --server (a client with the release-manager and engineer roles).
    #[arg(long, env = "SHIPGATE_TOKEN")]
    token: Option<String>,
    /// API token of a second client with the release-manager role, for --server with
    /// `--command test-result`: Step 1's gate needs an approver other than the starter.
    #[arg(long, env = "SHIPGATE_APPROVER_TOKEN")]
    approver_token: Option<String>,
    /// The database: with the in-process server, used instead of a temporary SQLite file;
    /// with --server, where `--history` writes (the server's own database).
    #[arg(long)]
    database: Option<String>,
    /// Send a fresh Idempotency-Key with every request, as `shipgate release` does: each
    /// answer is then stored for replays, in the same transaction.
    #[arg(long)]
    idempotency_keys: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// Tick and untick a Step 1 checklist item.
    Tick,
    /// Record a failing test result on Step 2.
    TestResult,
}

const TOKEN: &str = "loadgen-token-0123456789";
const APPROVER_TOKEN: &str = "loadgen-approver-token-0123456789";
const WARMUP: Duration = Duration::from_secs(2);
const ITEMS: [&str; 5] = ["prs-merged", "no-blockers", "release-notes", "env-and-secrets", "migrations-reviewed"];
const FAILING_RESULT: &str = r#"{"suite":"unit","passed":417,"failed":3}"#;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let release_count = args.releases.unwrap_or(args.clients).clamp(1, args.clients.max(1));
    let clients_per_release = args.clients.div_ceil(release_count);
    anyhow::ensure!(
        args.command != Workload::TestResult || args.server.is_none() || args.approver_token.is_some(),
        "--command test-result with --server needs --approver-token: Step 1's gate wants an approver who did not start the release"
    );
    anyhow::ensure!(
        args.command != Workload::Tick || clients_per_release <= ITEMS.len(),
        "--command tick gives each client of a release its own Step 1 item, and there are {}: use --releases {} or more, or --command test-result",
        ITEMS.len(),
        args.clients.div_ceil(ITEMS.len())
    );
    let dir = tempfile::tempdir()?;
    let (base, token, approver, database) = match &args.server {
        Some(server) => (
            server.trim_end_matches('/').to_owned(),
            args.token.clone().unwrap_or_default(),
            args.approver_token.clone().unwrap_or_default(),
            args.database.clone(),
        ),
        None => {
            let url = match &args.database {
                Some(url) => url.clone(),
                None => format!("sqlite://{}", dir.path().join("load.db").display()),
            };
            (spawn_server(&url).await?, TOKEN.to_owned(), APPROVER_TOKEN.to_owned(), Some(url))
        }
    };
    let bare = spawn_bare_endpoint(&token).await?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.clients).build()?;
    let api = Api { http: http.clone(), base: base.clone(), token: token.clone() };

    let mut releases = Vec::with_capacity(release_count);
    for i in 0..release_count {
        let reply = api
            .post(
                "/releases",
                Some(json!({"service": format!("load-{i}"), "version": "1.0.0", "git_sha": "3f9c2e1"})),
                None,
            )
            .await?;
        let id = reply["id"].as_str().unwrap_or_default().to_owned();
        if args.command == Workload::TestResult {
            for item in ITEMS {
                api.post(&format!("/releases/{id}/steps/pre-flight/items/{item}/tick"), None, None).await?;
            }
            let approver = Api { token: approver.clone(), ..api.clone() };
            approver.post(&format!("/releases/{id}/steps/pre-flight/approve"), None, None).await?;
        }
        releases.push(id);
    }
    let targets: Vec<Target> = (0..args.clients)
        .map(|i| {
            let release = &releases[i % release_count];
            let path = match args.command {
                Workload::Tick => format!("/releases/{release}/steps/pre-flight/items/{}", ITEMS[i / release_count]),
                Workload::TestResult => format!("/releases/{release}/test-results"),
            };
            Target { path, command: args.command }
        })
        .collect();
    println!(
        "clients: {}, releases: {release_count} ({clients_per_release} client(s) each), command: {:?}, idempotency keys: {}; phases of {} s after {} s warm-up",
        args.clients,
        args.command,
        args.idempotency_keys,
        args.seconds,
        WARMUP.as_secs()
    );
    let mut bare_rates = Vec::new();
    let mut command_rates = Vec::new();
    for &history in &args.history {
        if history > 0 {
            let started = Instant::now();
            grow_histories(&args, history, database.as_deref(), &api, &releases).await?;
            println!(
                "history: grew {} releases to {history} events each in {:.1} s",
                releases.len(),
                started.elapsed().as_secs_f64()
            );
        }
        for round in 1..=args.rounds {
            if !args.no_bare {
                let bare_api = Api { base: bare.clone(), ..api.clone() };
                let figures = run_phase(&bare_api, &targets, args.seconds, args.idempotency_keys).await;
                println!("round {round} bare endpoint:    {figures}");
                bare_rates.push(figures.per_second);
            }
            let before = CommitMetrics::scrape(&api).await;
            let figures = run_phase(&api, &targets, args.seconds, args.idempotency_keys).await;
            println!("round {round} durable commands: {figures}");
            if let (Some(before), Some(after)) = (before, CommitMetrics::scrape(&api).await) {
                println!("  {}", after.since(&before));
            }
            command_rates.push(figures.per_second);
        }
    }
    let mean = |rates: &[f64]| rates.iter().sum::<f64>() / rates.len().max(1) as f64;
    if bare_rates.is_empty() {
        println!("mean: commands {:.0}/s", mean(&command_rates));
    } else {
        let (bare, commands) = (mean(&bare_rates), mean(&command_rates));
        println!(
            "mean: bare {bare:.0}/s, commands {commands:.0}/s, commands at {:.0}% of bare",
            100.0 * commands / bare
        );
    }
    Ok(())
}

/// The CI API as one client sees it.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    /// Posts to `/api/v1{path}` and fails on anything but success.
    async fn post(&self, path: &str, body: Option<Value>, key: Option<String>) -> anyhow::Result<Value> {
        let mut request = self.http.post(format!("{}/api/v1{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(status.is_success(), "POST {path}: {status} {text}");
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// The server's own account of its transactions (`/metrics`), summed since it started.
struct CommitMetrics {
    transactions: f64,
    seconds: f64,
    commits: f64,
}

impl CommitMetrics {
    /// `None` when the server exposes no metrics.
    async fn scrape(api: &Api) -> Option<CommitMetrics> {
        let text = api.http.get(format!("{}/metrics", api.base)).send().await.ok()?.text().await.ok()?;
        let value = |name: &str| text.lines().find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok());
        Some(CommitMetrics {
            transactions: value("shipgate_commit_seconds_count ")?,
            seconds: value("shipgate_commit_seconds_sum ")?,
            commits: value("shipgate_commit_batch_size_sum ")?,
        })
    }

    /// Transactions, time spent in them and commands per transaction between two scrapes.
    fn since(&self, before: &CommitMetrics) -> String {
        let transactions = self.transactions - before.transactions;
        let seconds = self.seconds - before.seconds;
        let commits = self.commits - before.commits;
        format!(
            "server: {transactions:.0} transactions in {seconds:.2} s (mean {:.2} ms), {:.1} commands each",
            1e3 * seconds / transactions.max(1.0),
            commits / transactions.max(1.0)
        )
    }
}

/// What one client sends again and again.
struct Target {
    /// Under `/api/v1`; for ticks, without the final `/tick` or `/untick`.
    path: String,
    command: Workload,
}

struct Figures {
    per_second: f64,
    count: usize,
    errors: u64,
    first_error: Option<String>,
    p50: Duration,
    p95: Duration,
    p99: Duration,
    max: Duration,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "{:>6.0}/s ({} answered, {} errors) p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.per_second,
            self.count,
            self.errors,
            ms(self.p50),
            ms(self.p95),
            ms(self.p99),
            ms(self.max)
        )?;
        if let Some(error) = &self.first_error {
            write!(f, "\n  first error: {error}")?;
        }
        Ok(())
    }
}

/// Every client sends its request again and again until the phase ends.
async fn run_phase(api: &Api, targets: &[Target], seconds: u64, keys: bool) -> Figures {
    let run_for = Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for target in targets {
        let api = api.clone();
        let (path, command) = (target.path.clone(), target.command);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let (mut errors, mut first_error) = (0u64, None);
            let mut ticked = false;
            loop {
                let elapsed = started.elapsed();
                if elapsed > WARMUP + run_for {
                    break;
                }
                let mut request = match command {
                    Workload::Tick => {
                        let action = if ticked { "untick" } else { "tick" };
                        api.http.post(format!("{}/api/v1{path}/{action}", api.base))
                    }
                    Workload::TestResult => api
                        .http
                        .post(format!("{}/api/v1{path}", api.base))
                        .header("content-type", "application/json")
                        .body(FAILING_RESULT),
                };
                request = request.bearer_auth(&api.token);
                if keys {
                    request = request.header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
                }
                let sent = Instant::now();
                let ok = match request.send().await {
                    Ok(response) if response.status().is_success() => response.bytes().await.is_ok(),
                    Ok(response) => {
                        let status = response.status();
                        let text = response.text().await.unwrap_or_default();
                        first_error.get_or_insert_with(|| format!("{status} {text}"));
                        false
                    }
                    Err(e) => {
                        first_error.get_or_insert_with(|| e.to_string());
                        false
                    }
                };
                if ok {
                    ticked = !ticked;
                }
                if elapsed >= WARMUP {
                    if ok {
                        latencies.push(sent.elapsed());
                    } else {
                        errors += 1;
                    }
                }
            }
            (latencies, errors, first_error)
        }));
    }
    let (mut latencies, mut errors, mut first_error) = (Vec::new(), 0, None);
    for task in tasks {
        let (l, e, f) = task.await.expect("a client panicked");
        latencies.extend(l);
        errors += e;
        first_error = first_error.or(f);
    }
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Figures {
        per_second: latencies.len() as f64 / run_for.as_secs_f64(),
        count: latencies.len(),
        errors,
        first_error,
        p50: pct(0.50),
        p95: pct(0.95),
        p99: pct(0.99),
        max: latencies.last().copied().unwrap_or_default(),
    }
}

/// Grows each release to `history` events: decided by the domain exactly as the
/// workload's own commands are, and written straight to the database in large commits
/// (a server's cached state of a release is then behind; its next command notices the
/// stored history moved on and reads it). Without a database URL, over HTTP.
async fn grow_histories(
    args: &Args,
    history: u64,
    database: Option<&str>,
    api: &Api,
    releases: &[String],
) -> anyhow::Result<()> {
    let Some(url) = database else {
        // Over HTTP, one failing test result at a time (ticks would need each item's state).
        anyhow::ensure!(
            args.command == Workload::TestResult,
            "--history with --server and --command tick needs --database (the server's database URL)"
        );
        let failing: Value = serde_json::from_str(FAILING_RESULT)?;
        for id in releases {
            let view =
                api.http.get(format!("{}/api/v1/releases/{id}", api.base)).bearer_auth(&api.token).send().await?;
            let seq = view.error_for_status()?.json::<Value>().await?["seq"].as_u64().unwrap_or_default();
            for _ in seq..history {
                api.post(&format!("/releases/{id}/test-results"), Some(failing.clone()), None).await?;
            }
        }
        return Ok(());
    };
    let store = Store::connect(url).await?;
    let actor = Actor::new(Platform::Api, "loadgen", "loadgen")
        .with_roles([RoleName::new("release-manager"), RoleName::new("engineer")]);
    let policy = Policy::default();
    let result: TestResult = serde_json::from_str(FAILING_RESULT)?;
    for id in releases {
        let id = ReleaseId::new(id.as_str());
        let mut release = Release::fold(id.clone(), &store.load_events(&id).await?)?;
        let mut projection =
            store.release_row(&id).await?.ok_or_else(|| anyhow::anyhow!("release {id} has no listing row"))?;
        while release.seq < history {
            let expected_seq = release.seq;
            let mut events = Vec::new();
            while release.seq < history && events.len() < 1_000 {
                let command = match args.command {
                    Workload::Tick if release.steps[0].ticked.contains_key(&ItemId::new("prs-merged")) => {
                        Command::Untick { step: StepId::new("pre-flight"), item: ItemId::new("prs-merged") }
                    }
                    Workload::Tick => {
                        Command::Tick { step: StepId::new("pre-flight"), item: ItemId::new("prs-merged") }
                    }
                    Workload::TestResult => Command::RecordTestResult(result.clone()),
                };
                let now = chrono::Utc::now();
                let ctx = Context {
                    now,
                    freeze: &NoFreeze,
                    production_holder: None,
                    live: None,
                    policy: &policy,
                    recorded_artifact: None,
                    locks: &[],
                };
                let (decided, after) = release::decide(&release, command, &actor, &ctx)?;
                let request = RequestId::generate();
                events.extend(Recorded::sequence(decided, release.seq, now, &actor, &request));
                release = after;
            }
            projection.seq = release.seq;
            projection.updated_at = release.last_activity;
            let commit = Commit {
                release_id: id.clone(),
                service: release.service.clone(),
                expected_seq,
                events,
                projection: projection.clone(),
                outbox: Vec::new(),
                response: None,
                hold: HoldChange::Keep,
                live: LiveChange::Keep,
            };
            for result in store.commit(vec![commit]).await {
                result?;
            }
        }
    }
    store.close().await?;
    Ok(())
}

async fn spawn_server(url: &str) -> anyhow::Result<String> {
    let store = Store::connect_with(url, 8).await?;
    store.migrate().await?;
    let app = App::new(AppParts {
        watching: false,
        drills: Default::default(),
        store,
        playbooks: Playbooks::builtin(),
        freeze: Arc::new(NoFreeze),
        channel_freeze: Default::default(),
        policy: Policy::default(),
        clock: Arc::new(SystemClock),
    });
    let state = AppState {
        app,
        api: api_config(TOKEN),
        metrics: shipgate::telemetry::metrics_handle(),
        ready: Arc::new(AtomicBool::new(true)),
        discord: None,
        slack: None,
        alertmanager: None,
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

/// The loadgen's API clients: the one that works and a second release manager who
/// approves Step 1 (a starter may not approve their own release's gate).
fn api_config(token: &str) -> Arc<ApiConfig> {
    let client = |name: &str, token: &str| ApiClient {
        name: name.into(),
        token: SecretString::from(token.to_owned()),
        roles: vec!["release-manager".into(), "engineer".into()],
    };
    Arc::new(ApiConfig { clients: vec![client("loadgen", token), client("loadgen-approver", APPROVER_TOKEN)] })
}

/// Checks the bearer token against the same API config, decodes the body a command would
/// carry and answers a constant.
async fn spawn_bare_endpoint(token: &str) -> anyhow::Result<String> {
    async fn answer(State(api): State<Arc<ApiConfig>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
        let presented = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "));
        if presented.and_then(|t| api.client_for_token(t.trim())).is_none() {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        if !body.is_empty() && serde_json::from_slice::<TestResult>(&body).is_err() {
            return StatusCode::BAD_REQUEST.into_response();
        }
        ([("content-type", "application/json")], r#"{"ok":true}"#).into_response()
    }
    let app = axum::Router::new()
        .route("/api/v1/releases/{id}/test-results", post(answer))
        .route("/api/v1/releases/{id}/steps/{step}/items/{item}/{action}", post(answer))
        .with_state(api_config(token));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}
