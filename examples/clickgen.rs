//! Load generator for Discord clicks: signed button clicks per second into
//! `POST /discord/interactions`, beside a bare verify-and-answer endpoint in the same run.
//!
//! shipgate runs in-process exactly as `serve` builds it (runtime, router, outbox worker)
//! in Discord HTTP mode, on a fresh SQLite file (WAL, synchronous=FULL), delivering to the
//! fake Discord of the test suite. Each client opens its own release with a signed
//! `/release start`, then clicks the first checklist item of its Step 1 card again and
//! again (tick, untick, ...). Every click carries a real Ed25519 signature and a unique
//! interaction id, so every click is a keyed, durable command answered with the re-rendered
//! card (UPDATE_MESSAGE), which is that card's edit; the outbox worker runs beside it.
//!
//! The bare endpoint checks the same signature, decodes the same interaction and answers
//! a constant: the most any interactions endpoint can do on this machine. Phases alternate
//! (bare, clicks, bare, clicks, ...) because absolute figures drift on a shared machine.
//!
//! ```text
//! cargo run --release --example clickgen -- --clients 64 --seconds 10 --rounds 3
//! ```

#[allow(dead_code)]
#[path = "../tests/common/fake_discord/mod.rs"]
mod fake_discord;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clap::Parser;
use ed25519_dalek::{Signer, SigningKey};
use fake_discord::{FakeDiscord, Member};
use serde_json::{json, Value};
use shipgate::chat::discord::interaction::Interaction;
use shipgate::chat::discord::verify::Verifier;
use shipgate::config::Config;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
struct Args {
    /// Concurrent clients, each clicking on its own release's card.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Length of each phase, after a 2 s warm-up.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// How many times to run the pair of phases (bare endpoint, then clicks).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

const RELEASE_CHANNEL: &str = "1300000000000000001";
const MANAGER_ROLE: &str = "1500000000000000001";
const WARMUP: Duration = Duration::from_secs(2);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(RELEASE_CHANNEL);
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let dir = tempfile::tempdir()?;
    let (shipgate, _running) = start_shipgate(&fake, &key, dir.path()).await?;
    let bare = start_bare_endpoint(&key).await?;
    let client = Client { http: reqwest::Client::builder().pool_max_idle_per_host(args.clients).build()?, key };

    // One release per client, opened from Discord; its Step 1 card is what the client clicks.
    let member = Member::new("1700000000000000002", "load", &[MANAGER_ROLE]);
    let mut cards = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let service = format!("load-{i}");
        let options = json!([
            {"name": "start", "type": 1, "options": [
                {"name": "service", "type": 3, "value": service},
                {"name": "version", "type": 3, "value": "1.0.0"},
                {"name": "sha", "type": 3, "value": "3f9c2e1"},
            ]}
        ]);
        let start = fake.command_interaction(RELEASE_CHANNEL, "release", options, &member);
        fake.register_interaction(&start);
        let (status, answer) = client.send(&shipgate, &start.to_string()).await?;
        anyhow::ensure!(status == 200 && answer.contains("\"type\":5"), "/release start was not accepted: {answer}");
        cards.push(card_of(&fake, &format!("{service} 1.0.0")).await?);
    }
    let clicks: Vec<Value> = cards
        .iter()
        .map(|(thread, message, custom_id)| fake.button_interaction(thread, message, custom_id, &member))
        .collect();

    println!("clients: {}, phases of {} s after {} s warm-up", args.clients, args.seconds, WARMUP.as_secs());
    let mut bare_rates = Vec::new();
    let mut click_rates = Vec::new();
    for round in 1..=args.rounds {
        let figures = run_phase(&client, &bare, &clicks, args.seconds, |answer| answer == PONG).await;
        println!("round {round} bare verify-and-answer: {figures}");
        bare_rates.push(figures.per_second);
        let figures = run_phase(&client, &shipgate, &clicks, args.seconds, updates_the_card).await;
        println!("round {round} signed clicks:          {figures}");
        click_rates.push(figures.per_second);
    }
    let bare: f64 = bare_rates.iter().sum::<f64>() / bare_rates.len() as f64;
    let clicked: f64 = click_rates.iter().sum::<f64>() / click_rates.len() as f64;
    println!("mean: bare {bare:.0}/s, clicks {clicked:.0}/s, clicks at {:.0}% of bare", 100.0 * clicked / bare);
    Ok(())
}

const PONG: &str = r#"{"type":1}"#;

/// Whether an answer is UPDATE_MESSAGE (type 7), read without parsing it: the client's
/// CPU is shared with the server's. JSON objects are written with sorted keys, so the
/// top-level `type` comes last, after `data`.
fn updates_the_card(answer: &str) -> bool {
    answer.ends_with(r#""type":7}"#) || answer.starts_with(r#"{"type":7,"#)
}

struct Client {
    http: reqwest::Client,
    key: SigningKey,
}

impl Client {
    /// Signs and posts one interaction as Discord does; the status and the answer's text.
    async fn send(&self, url: &str, body: &str) -> anyhow::Result<(u16, String)> {
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let mut signed = timestamp.as_bytes().to_vec();
        signed.extend_from_slice(body.as_bytes());
        let signature: String = self.key.sign(&signed).to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("x-signature-timestamp", timestamp)
            .header("x-signature-ed25519", signature)
            .body(body.to_owned())
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }
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

/// Every client sends its click again and again, each time under a new interaction id.
async fn run_phase(
    client: &Client,
    url: &str,
    clicks: &[Value],
    seconds: u64,
    answered: impl Fn(&str) -> bool + Copy + Send + 'static,
) -> Figures {
    let run_for = Duration::from_secs(seconds);
    let started = Instant::now();
    let client = Arc::new(Client { http: client.http.clone(), key: client.key.clone() });
    let mut tasks = Vec::new();
    for (n, click) in clicks.iter().enumerate() {
        let (client, url, mut click) = (client.clone(), url.to_owned(), click.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let (mut errors, mut first_error) = (0u64, None);
            let prefix = format!("{}{:06}", uuid::Uuid::new_v4().as_u128() % 1_000_000_000_000, n);
            for sent_number in 0u64.. {
                let elapsed = started.elapsed();
                if elapsed > WARMUP + run_for {
                    break;
                }
                click["id"] = json!(format!("{prefix}{sent_number:08}"));
                let sent = Instant::now();
                let ok = match client.send(&url, &click.to_string()).await {
                    Ok((200, answer)) if answered(&answer) => true,
                    Ok((status, answer)) => {
                        first_error.get_or_insert_with(|| format!("{status} {answer}"));
                        false
                    }
                    Err(e) => {
                        first_error.get_or_insert_with(|| e.to_string());
                        false
                    }
                };
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

/// shipgate as `serve` builds it, in Discord HTTP mode against the fake.
async fn start_shipgate(
    fake: &FakeDiscord,
    key: &SigningKey,
    dir: &std::path::Path,
) -> anyhow::Result<(String, shipgate::runtime::Running)> {
    let public_key: String = key.verifying_key().to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let config_text = format!(
        r#"
[database]
url = "sqlite://{db}"

[discord]
mode = "http"
application_id = "{app}"
public_key = "{public_key}"
guild_id = "{guild}"
release_channel_id = "{RELEASE_CHANNEL}"
api_base = "{base}"

[discord.roles]
release-manager = ["{MANAGER_ROLE}"]
engineer = ["{MANAGER_ROLE}"]
"#,
        db = dir.join("shipgate.db").display(),
        app = fake.application_id(),
        guild = fake.guild_id(),
        base = fake.api_base(),
    );
    let path = dir.join("shipgate.toml");
    std::fs::write(&path, config_text)?;
    let config = Config::load_with_env(Some(&path), [("SHIPGATE_DISCORD_TOKEN", fake.token().to_owned())])?;
    let running = shipgate::runtime::build(&config).await?;
    let router = shipgate::http::router(running.state.clone(), config.server.max_body_bytes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/discord/interactions", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok((url, running))
}

/// Verifies the signature, decodes the interaction and answers a constant.
async fn start_bare_endpoint(key: &SigningKey) -> anyhow::Result<String> {
    let verifier = Arc::new(Verifier::new(&key.verifying_key().to_bytes()).expect("a valid key"));
    async fn answer(State(verifier): State<Arc<Verifier>>, headers: HeaderMap, body: Bytes) -> Response {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let signature = (header("x-signature-ed25519"), header("x-signature-timestamp"));
        if verifier.verify(signature.0, signature.1, &body, chrono::Utc::now()).is_err() {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        if serde_json::from_slice::<Interaction>(&body).is_err() {
            return StatusCode::BAD_REQUEST.into_response();
        }
        ([("content-type", "application/json")], PONG).into_response()
    }
    let app = axum::Router::new().route("/bare", post(answer)).with_state(verifier);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/bare", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// The thread named `name` and the Step 1 card in it: (thread id, message id, the custom
/// id of its first checklist button). Waits for the outbox worker to deliver them.
async fn card_of(fake: &FakeDiscord, name: &str) -> anyhow::Result<(String, String, String)> {
    for _ in 0..400 {
        let thread = fake.threads().into_iter().find(|t| t["name"] == name);
        if let Some(thread) = thread {
            let thread_id = thread["id"].as_str().unwrap_or_default().to_owned();
            let card = fake.messages(&thread_id).into_iter().find(|m| {
                m["components"].as_array().is_some_and(|rows| !rows.is_empty())
                    && m["content"].as_str().is_some_and(|c| c.starts_with("Step 1"))
            });
            if let Some(card) = card {
                let custom_id = card["components"][0]["components"][0]["custom_id"].as_str().unwrap_or_default();
                return Ok((thread_id, card["id"].as_str().unwrap_or_default().to_owned(), custom_id.to_owned()));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the thread and card of {name} never arrived")
}
