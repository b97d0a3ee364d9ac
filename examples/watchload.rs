//! The cost of watching many production deploys at once, and how soon a bad one is caught.
//!
//! Starts the given `shipgate serve` binary on a fresh SQLite file, with `[monitoring]`
//! pointed at a fake Prometheus in this process and `[discord]` at the test suite's fake
//! Discord (an incident channel receives the rollback notices). `--releases` releases are
//! started over the API, each on its own service, and driven to their production deploy,
//! so each is watched: a baseline at the deploy instant, then one sample of the six
//! default metrics every `--interval` through `--window`. The fake Prometheus answers
//! healthy values for every service (error rate 0.4%).
//!
//! After a warm-up of one interval, a steady window of `--seconds` measures the Prometheus
//! queries shipgate issues per second, its CPU time (utime + stime from `/proc/PID/stat`,
//! as a share of one core) and its resident memory (`/proc/PID/status`). A second
//! `shipgate serve` with the same configuration and nothing to watch runs beside it the
//! whole time and is measured over the same window: the bare baseline of this machine at
//! that moment. Then the error rate of `--spiked` services jumps to 5% (at every Prometheus
//! instant from then on) and each one's detection delay is measured: from that instant to
//! the release read as `rolling_back` over the API (polled every 100 ms), and to the
//! rollback notice posted into the incident channel of the fake Discord.
//!
//! What is measured is shipgate: the fake Prometheus answers each query with a constant
//! in a few microseconds, where a real one would evaluate PromQL over its TSDB.
//!
//! ```text
//! cargo build --release && cargo run --release --example watchload -- --releases 1000 --seconds 300
//! ```

#[allow(dead_code)]
#[path = "../tests/common/fake_discord/mod.rs"]
mod fake_discord;

use axum::extract::{Form, State};
use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use fake_discord::{FakeDiscord, Route};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Parser, Debug)]
struct Args {
    /// Production deploys to watch, each its own release and service.
    #[arg(long, default_value_t = 1_000)]
    releases: usize,
    /// Length of the steady window measured, in seconds (after one interval of warm-up).
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Services whose error rate jumps to 5% after the steady window.
    #[arg(long, default_value_t = 10)]
    spiked: usize,
    /// `[monitoring] interval`, in seconds.
    #[arg(long, default_value_t = 30)]
    interval: u64,
    /// `[monitoring] window`.
    #[arg(long, default_value = "30m")]
    window: String,
    /// Concurrent clients driving the releases to production.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Deploy all releases to production at once (one burst of samples every interval)
    /// instead of paced evenly over one interval.
    #[arg(long)]
    burst: bool,
    /// The shipgate binary to run.
    #[arg(long, default_value = "target/release/shipgate")]
    binary: PathBuf,
}

const CI_TOKEN: &str = "watchload-ci-token-0123456789";
const RM_TOKEN: &str = "watchload-rm-token-0123456789";
const RELEASE_CHANNEL: &str = "1300000000000000001";
const INCIDENT_CHANNEL: &str = "1300000000000000002";
const DIGEST: &str = "sha256:4f1c9a7e2b3d4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6";
/// The healthy error rate, and the spiked one: the threshold is max(2 x baseline, 1%).
const HEALTHY_ERROR_RATE: f64 = 0.004;
const SPIKED_ERROR_RATE: f64 = 0.05;

// ---------------------------------------------------------------------------------------
// The fake Prometheus.

#[derive(Default)]
struct Prometheus {
    queries: AtomicU64,
    /// Queries over the baseline range (`[30m]`), the rest being samples.
    baseline_queries: AtomicU64,
    /// When the spike starts (Unix seconds) and the services it hits.
    spike: Mutex<Option<(f64, HashSet<String>)>>,
    /// Per spiked service: the first query answered with the spiked value, as
    /// (its `time=` instant, when it arrived), both Unix seconds.
    first_spiked: Mutex<HashMap<String, (f64, f64)>>,
}

#[derive(Deserialize)]
struct InstantQuery {
    query: String,
    time: Option<String>,
}

/// `service="..."` of a default query.
fn service_of(query: &str) -> &str {
    query.split_once("service=\"").and_then(|(_, rest)| rest.split_once('"')).map_or("", |(service, _)| service)
}

async fn query(State(prometheus): State<Arc<Prometheus>>, Form(asked): Form<InstantQuery>) -> Json<Value> {
    let arrived = unix_now();
    prometheus.queries.fetch_add(1, Ordering::Relaxed);
    if asked.query.contains("[30m]") {
        prometheus.baseline_queries.fetch_add(1, Ordering::Relaxed);
    }
    let at = asked.time.as_deref().and_then(|t| t.parse::<f64>().ok()).unwrap_or(arrived);
    let q = asked.query.as_str();
    let value = if q.contains("unhandled_exceptions_total") {
        0.0
    } else if q.contains("code=~\"5..\"") {
        let service = service_of(q);
        let spiked = match &*prometheus.spike.lock().unwrap() {
            Some((from, services)) => at >= *from && services.contains(service),
            None => false,
        };
        if spiked {
            prometheus.first_spiked.lock().unwrap().entry(service.to_owned()).or_insert((at, arrived));
            SPIKED_ERROR_RATE
        } else {
            HEALTHY_ERROR_RATE
        }
    } else if q.contains("histogram_quantile(0.5,") {
        0.045
    } else if q.contains("histogram_quantile(0.95,") {
        0.180
    } else if q.contains("histogram_quantile(0.99,") {
        0.320
    } else {
        118.5
    };
    Json(json!({
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {}, "value": [at, value.to_string()]}]}
    }))
}

async fn start_prometheus() -> anyhow::Result<(Arc<Prometheus>, String)> {
    let prometheus = Arc::new(Prometheus::default());
    let app = Router::new().route("/api/v1/query", get(query).post(query)).with_state(prometheus.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((prometheus, base))
}

// ---------------------------------------------------------------------------------------
// The shipgate processes.

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

/// What `/proc` says of a process at one moment.
#[derive(Clone, Copy)]
struct Usage {
    at: Instant,
    cpu_seconds: f64,
}

impl Server {
    fn start(binary: &Path, fake: &FakeDiscord, prometheus: &str, args: &Args) -> anyhow::Result<Server> {
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let config = dir.path().join("shipgate.toml");
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let public_key: String = key.verifying_key().to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(
            &config,
            format!(
                r#"[server]
listen = "127.0.0.1:{port}"

[database]
url = "sqlite://{db}"

[[api.clients]]
name = "ci"
token_env = "WATCHLOAD_CI_TOKEN"
roles = ["engineer"]

[[api.clients]]
name = "release-bot"
token_env = "WATCHLOAD_RM_TOKEN"
roles = ["release-manager", "engineer"]

[discord]
mode = "http"
application_id = "{app}"
public_key = "{public_key}"
guild_id = "{guild}"
release_channel_id = "{RELEASE_CHANNEL}"
incident_channel_ids = ["{INCIDENT_CHANNEL}"]
api_base = "{api_base}"

[discord.roles]
release-manager = ["1400000000000000001"]
engineer = ["1400000000000000002"]

[monitoring]
prometheus_url = "{prometheus}"
interval = "{interval}s"
window = "{window}"
"#,
                db = dir.path().join("watch.db").display(),
                app = fake.application_id(),
                guild = fake.guild_id(),
                api_base = fake.api_base(),
                interval = args.interval,
                window = args.window,
            ),
        )?;
        let child = Command::new(binary)
            .args(["serve", "--config"])
            .arg(&config)
            .current_dir(dir.path())
            .env("WATCHLOAD_CI_TOKEN", CI_TOKEN)
            .env("WATCHLOAD_RM_TOKEN", RM_TOKEN)
            .env("SHIPGATE_DISCORD_TOKEN", fake.token())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        Ok(Server { child, base: format!("http://127.0.0.1:{port}"), _dir: dir })
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

    /// CPU time used so far (user + system).
    fn usage(&self, ticks_per_second: f64) -> anyhow::Result<Usage> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // The command name, in parentheses, may hold spaces: fields count from after it.
        let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
        let field = |n: usize| fields.get(n).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        // Fields 14 and 15 of stat(5); field 3 (the state) is the first after the name.
        Ok(Usage { at: Instant::now(), cpu_seconds: (field(11) + field(12)) / ticks_per_second })
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

    /// The sum of a counter's series in `/metrics`.
    async fn counter(&self, http: &reqwest::Client, name: &str) -> anyhow::Result<f64> {
        let text = http.get(format!("{}/metrics", self.base)).send().await?.text().await?;
        Ok(text
            .lines()
            .filter(|line| line.strip_prefix(name).is_some_and(|rest| rest.starts_with([' ', '{'])))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    fn terminate(mut self) -> anyhow::Result<()> {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status()?;
        self.child.wait()?;
        Ok(())
    }
}

/// CPU share of one core between two readings, in percent.
fn cpu_percent(from: Usage, to: Usage) -> f64 {
    100.0 * (to.cpu_seconds - from.cpu_seconds) / (to.at - from.at).as_secs_f64()
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

// ---------------------------------------------------------------------------------------
// Driving releases over the API.

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut request = if method == "GET" { self.http.get(url) } else { self.http.post(url) }.bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(status.is_success(), "{method} {path} answered {status}: {text}");
        Ok(serde_json::from_str(&text)?)
    }

    async fn post(&self, path: &str, token: &str, body: Option<Value>) -> anyhow::Result<Value> {
        self.call("POST", path, token, body).await
    }

    async fn release(&self, id: &str) -> anyhow::Result<Value> {
        self.call("GET", &format!("/releases/{id}"), CI_TOKEN, None).await
    }

    async fn tick_all(&self, id: &str) -> anyhow::Result<()> {
        let release = self.release(id).await?;
        let step = release["current_step"]["id"].as_str().unwrap_or_default().to_owned();
        for item in release["current_step"]["items"].as_array().into_iter().flatten() {
            if item["ticked"] != true {
                let item = item["id"].as_str().unwrap_or_default();
                self.post(&format!("/releases/{id}/steps/{step}/items/{item}/tick"), CI_TOKEN, None).await?;
            }
        }
        Ok(())
    }

    /// Starts a release of `service` and drives it to the smoke-test gate, the last step
    /// before production.
    async fn to_smoke_gate(&self, service: &str) -> anyhow::Result<String> {
        let body = json!({"service": service, "version": "1.0.0", "git_sha": "3f9c2e1"});
        let id = self.post("/releases", CI_TOKEN, Some(body)).await?["id"].as_str().unwrap_or_default().to_owned();
        self.tick_all(&id).await?;
        self.post(&format!("/releases/{id}/steps/pre-flight/approve"), RM_TOKEN, None).await?;
        let results = json!({"suite": "unit", "passed": 420, "failed": 0});
        self.post(&format!("/releases/{id}/test-results"), CI_TOKEN, Some(results)).await?;
        let artifact = json!({"version": "1.0.0", "git_sha": "3f9c2e1", "digest": DIGEST, "size_bytes": 73400320});
        self.post(&format!("/releases/{id}/artifacts"), CI_TOKEN, Some(artifact)).await?;
        self.tick_all(&id).await?;
        self.tick_all(&id).await?;
        self.post(&format!("/releases/{id}/deployments"), CI_TOKEN, Some(deployment("staging"))).await?;
        self.tick_all(&id).await?;
        Ok(id)
    }

    /// Passes the smoke-test gate and deploys to production: from then on the release is
    /// watched.
    async fn to_production(&self, id: &str) -> anyhow::Result<()> {
        self.post(&format!("/releases/{id}/steps/smoke-test/approve"), RM_TOKEN, None).await?;
        let answer =
            self.post(&format!("/releases/{id}/deployments"), CI_TOKEN, Some(deployment("production"))).await?;
        let step = answer["release"]["current_step"]["id"].as_str().unwrap_or_default();
        anyhow::ensure!(step == "monitor", "release {id} is at {step:?} after its production deploy: {answer}");
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    anyhow::ensure!(args.spiked <= args.releases, "--spiked must not exceed --releases");
    args.binary = std::fs::canonicalize(&args.binary)
        .map_err(|e| anyhow::anyhow!("{}: {e}; build it with `cargo build --release`", args.binary.display()))?;
    let ticks = clock_ticks();
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(RELEASE_CHANNEL);
    fake.add_text_channel(INCIDENT_CHANNEL);
    let (prometheus, prometheus_url) = start_prometheus().await?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.clients + args.spiked).build()?;

    let mut watching = Server::start(&args.binary, &fake, &prometheus_url, &args)?;
    let mut idle = Server::start(&args.binary, &fake, &prometheus_url, &args)?;
    watching.ready(&http).await?;
    idle.ready(&http).await?;
    let api = Api { http: http.clone(), base: watching.base.clone() };

    // Setup: every release to the smoke-test gate, then to production: paced evenly over
    // one interval, as deploys made independently fall anywhere in the sample cycle, or
    // all at once with --burst.
    let setup = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let ids = Arc::new(Mutex::new(vec![String::new(); args.releases]));
    let mut clients = Vec::new();
    for _ in 0..args.clients {
        let (api, next, ids, total) = (api.clone(), next.clone(), ids.clone(), args.releases);
        clients.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return anyhow::Ok(());
                }
                let id = api.to_smoke_gate(&service_name(n)).await?;
                ids.lock().unwrap()[n] = id;
            }
        }));
    }
    for client in clients {
        client.await??;
    }
    let ids: Vec<String> = ids.lock().unwrap().clone();
    println!("setup: {} releases at the smoke-test gate in {:.1} s", args.releases, setup.elapsed().as_secs_f64());
    let deploying = Instant::now();
    let deploy_usage = watching.usage(ticks)?;
    let pace = if args.burst { Duration::ZERO } else { Duration::from_secs(args.interval) / args.releases as u32 };
    let limit = Arc::new(tokio::sync::Semaphore::new(args.clients));
    let mut deploys = tokio::task::JoinSet::new();
    for (n, id) in ids.iter().enumerate() {
        let (api, id, limit) = (api.clone(), id.clone(), limit.clone());
        let at = tokio::time::Instant::now() + pace * n as u32;
        deploys.spawn(async move {
            tokio::time::sleep_until(at).await;
            let _permit = limit.acquire_owned().await?;
            api.to_production(&id).await
        });
    }
    while let Some(deployed) = deploys.join_next().await {
        deployed??;
    }
    println!(
        "setup: {} releases deployed to production and watched in {:.1} s ({}; shipgate at {:.0}% of a core meanwhile)",
        args.releases,
        deploying.elapsed().as_secs_f64(),
        if args.burst { "all at once" } else { "paced over one interval" },
        cpu_percent(deploy_usage, watching.usage(ticks)?)
    );

    // Warm-up: one interval, so every release has its baseline and is on its sample cycle.
    tokio::time::sleep(Duration::from_secs(args.interval + 5)).await;

    // The steady window.
    let queries_before = prometheus.queries.load(Ordering::Relaxed);
    let baselines_before = prometheus.baseline_queries.load(Ordering::Relaxed);
    let counted_before = watching.counter(&http, "shipgate_watch_queries_total").await?;
    let samples_before = watching.counter(&http, "shipgate_watch_samples_total").await?;
    let (watching_from, idle_from) = (watching.usage(ticks)?, idle.usage(ticks)?);
    let mut rss_watching = Vec::new();
    let mut rss_idle = Vec::new();
    let mut per_second = Vec::new();
    let mut last = queries_before;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    for _ in 0..args.seconds {
        ticker.tick().await;
        let now = prometheus.queries.load(Ordering::Relaxed);
        per_second.push((now - last) as f64);
        last = now;
        rss_watching.push(watching.memory()?.0);
        rss_idle.push(idle.memory()?.0);
    }
    let (watching_to, idle_to) = (watching.usage(ticks)?, idle.usage(ticks)?);
    let wall = (watching_to.at - watching_from.at).as_secs_f64();
    let queries = (prometheus.queries.load(Ordering::Relaxed) - queries_before) as f64;
    let baselines = (prometheus.baseline_queries.load(Ordering::Relaxed) - baselines_before) as f64;
    let counted = watching.counter(&http, "shipgate_watch_queries_total").await? - counted_before;
    let samples = watching.counter(&http, "shipgate_watch_samples_total").await? - samples_before;
    let (_, watching_peak) = watching.memory()?;
    let (_, idle_peak) = idle.memory()?;

    println!("steady window: {:.0} s, {} releases watched at a {} s interval", wall, args.releases, args.interval);
    println!(
        "prometheus queries: {:.1}/s (per second: min {:.0}, median {:.0}, max {:.0}; {baselines:.0} baseline queries); \
         shipgate counted {:.1}/s; samples recorded {:.1}/s (expected {:.1}/s)",
        queries / wall,
        min(&per_second),
        median(&per_second),
        max(&per_second),
        counted / wall,
        samples / wall,
        args.releases as f64 / args.interval as f64,
    );
    println!(
        "shipgate watching: CPU {:.2}% of one core; RSS mean {:.1} MiB, max {:.1} MiB in the window, peak since start {:.1} MiB",
        cpu_percent(watching_from, watching_to),
        mean(&rss_watching),
        max(&rss_watching),
        watching_peak
    );
    println!(
        "shipgate idle (bare, same window): CPU {:.2}% of one core; RSS mean {:.1} MiB, max {:.1} MiB, peak since start {:.1} MiB",
        cpu_percent(idle_from, idle_to),
        mean(&rss_idle),
        max(&rss_idle),
        idle_peak
    );

    // The spike: chosen services spread over the releases (so over the sample cycle).
    let spiked: Vec<usize> = (0..args.spiked).map(|k| k * args.releases / args.spiked.max(1)).collect();
    let spike_at = unix_now();
    *prometheus.spike.lock().unwrap() = Some((spike_at, spiked.iter().map(|&n| service_name(n)).collect()));
    let mut started: HashMap<usize, f64> = HashMap::new();
    let mut posted: HashMap<usize, f64> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(args.interval + 60);
    while (started.len() < spiked.len() || posted.len() < spiked.len()) && Instant::now() < deadline {
        for &n in &spiked {
            if !started.contains_key(&n) && api.release(&ids[n]).await?["status"] == "rolling_back" {
                started.insert(n, unix_now());
            }
        }
        for request in fake.requests_to(Route::CreateMessage) {
            if !request.path.contains(INCIDENT_CHANNEL) || request.status.is_none_or(|s| s >= 300) {
                continue;
            }
            let content = request.body.as_ref().and_then(|b| b["content"].as_str()).unwrap_or_default().to_owned();
            for &n in &spiked {
                if content.contains(&ids[n]) {
                    let at = request.at.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
                    posted.entry(n).or_insert(at);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first_spiked = prometheus.first_spiked.lock().unwrap().clone();
    let mut to_started = Vec::new();
    let mut to_posted = Vec::new();
    let mut schedule_wait = Vec::new();
    let mut sample_lag = Vec::new();
    for &n in &spiked {
        let service = service_name(n);
        let (instant, arrived) = first_spiked.get(&service).copied().unwrap_or((f64::NAN, f64::NAN));
        let start = started.get(&n).map_or(f64::NAN, |t| t - spike_at);
        let post = posted.get(&n).map_or(f64::NAN, |t| t - spike_at);
        println!(
            "  {service}: next sample instant +{:.2} s, its query arrived +{:.2} s, rolling back seen +{start:.2} s, \
             notice posted +{post:.2} s",
            instant - spike_at,
            arrived - spike_at
        );
        to_started.push(start);
        to_posted.push(post);
        schedule_wait.push(instant - spike_at);
        sample_lag.push(arrived - instant);
    }
    let missed = spiked.len() - posted.len();
    println!(
        "detection (spike -> rolling back, via the API): min {:.2} s, median {:.2} s, max {:.2} s",
        min(&to_started),
        median(&to_started),
        max(&to_started)
    );
    println!(
        "detection (spike -> rollback notice posted to the incident channel): min {:.2} s, median {:.2} s, max {:.2} s{}",
        min(&to_posted),
        median(&to_posted),
        max(&to_posted),
        if missed > 0 { format!(" ({missed} never posted)") } else { String::new() }
    );
    println!(
        "  of which waiting for the next sample instant: median {:.2} s, max {:.2} s; \
         the sample's query after its instant: median {:.2} s, max {:.2} s",
        median(&schedule_wait),
        max(&schedule_wait),
        median(&sample_lag),
        max(&sample_lag)
    );
    println!("goal: detection within one interval + 2 s = {} s", args.interval + 2);

    watching.terminate()?;
    idle.terminate()?;
    Ok(())
}

fn deployment(environment: &str) -> Value {
    json!({"environment": environment, "digest": DIGEST, "outcome": "succeeded", "health": "passed", "strategy": "rolling"})
}

fn service_name(n: usize) -> String {
    format!("svc-{n:05}")
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    sorted.sort_by(f64::total_cmp);
    sorted
}

fn min(values: &[f64]) -> f64 {
    sorted(values).first().copied().unwrap_or(f64::NAN)
}

fn max(values: &[f64]) -> f64 {
    sorted(values).last().copied().unwrap_or(f64::NAN)
}

fn median(values: &[f64]) -> f64 {
    let sorted = sorted(values);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn mean(values: &[f64]) -> f64 {
    let sorted = sorted(values);
    sorted.iter().sum::<f64>() / sorted.len() as f64
}
