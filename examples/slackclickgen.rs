//! Load generator for Slack clicks: signed `block_actions` clicks per second into
//! `POST /slack/interactivity`, beside a bare verify-and-answer endpoint in the same run.
//!
//! shipgate runs in-process exactly as `serve` builds it (runtime, router, outbox worker)
//! in Slack HTTP mode, on a fresh SQLite file (WAL, synchronous=FULL), talking to the fake
//! Slack of the test suite. Each client opens its own release with a signed
//! `/release start`, finds its Step 1 card in the release's thread, then clicks the first
//! checklist item again and again: tick (`…:i0`), untick (`…:u0`), tick, ... Every click
//! carries a real HMAC-SHA256 signature, a unique `action_ts` and `trigger_id` (so every
//! click is a new keyed, durable command) and a response URL minted by the fake; shipgate
//! answers 200 once the click is durable, then sends the re-rendered card through a
//! response URL (`replace_original`), which the fake applies to the message. Card answers
//! that wait behind one being sent for the same message are sent as one, with the newest
//! state: a card gets at most one update per click.
//!
//! The bare endpoint checks the same signature with shipgate's own verifier, decodes the
//! same `payload=` form and its JSON, and answers a constant empty 200: the most any Slack
//! interactivity endpoint can do on this machine. Phases alternate (bare, clicks, bare,
//! clicks, ...) because absolute figures drift on a shared machine.
//!
//! At the end the work is checked: the ticks and unticks in the store against the clicks
//! answered 200, the card updates the fake Slack accepted through response URLs (at least
//! one per card, at most one per click), and every card showing, in the end, its first
//! item as the store has it.
//!
//! ```text
//! cargo run --release --example slackclickgen -- --clients 64 --seconds 10 --rounds 3
//! ```

#[path = "../tests/common/fake_slack/mod.rs"]
mod fake_slack;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clap::Parser;
use fake_slack::{form_payload, signed_headers, FakeSlack, SlackUser};
use secrecy::SecretString;
use serde_json::{json, Value};
use shipgate::chat::slack::verify::Verifier;
use shipgate::config::Config;
use shipgate::domain::release::Event;
use shipgate::domain::ReleaseId;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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

const RELEASES: &str = "C0RELEASES1";
const WARMUP: Duration = Duration::from_secs(2);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let fake = Arc::new(FakeSlack::start().await);
    fake.add_channel(RELEASES);
    let dir = tempfile::tempdir()?;
    let (base, running) = start_shipgate(&fake, dir.path()).await?;
    let bare = start_bare_endpoint(fake.signing_secret()).await?;
    SINK_URL.set(bare.replace("/bare", "/sink")).unwrap();
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.clients).build()?;
    let user = SlackUser::new("U0LOADUSER1", "load");

    // One release per client, opened from Slack; the first item of its Step 1 card is what
    // the client clicks.
    let mut cards = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let service = format!("load-{i}");
        let command = fake.slash_command(RELEASES, &user, "/release", &format!("start {service} 1.0.0 3f9c2e1"));
        let (status, answer) = send(&http, &fake, &format!("{base}/slack/commands"), command.to_form()).await?;
        anyhow::ensure!(
            status == 200 && answer.contains("started by"),
            "/release start was not accepted: {status} {answer}"
        );
        cards.push(card_of(&fake, &user, &format!("{service} 1.0.0")).await?);
    }

    let load = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim().to_owned();
    println!("clients: {}, phases of {} s after {} s warm-up", args.clients, args.seconds, WARMUP.as_secs());
    println!("load average before: {}", load());
    let answered_in_all = Arc::new(AtomicU64::new(0));
    let mut bare_rates = Vec::new();
    let mut click_rates = Vec::new();
    let mut worst_p99 = Duration::ZERO;
    for round in 1..=args.rounds {
        let phase = Phase { http: &http, fake: &fake, cards: &cards, seconds: args.seconds };
        let figures = phase.run(&bare, None).await;
        println!("round {round} bare verify-and-answer: {figures}");
        bare_rates.push(figures.per_second);
        let figures = phase.run(&format!("{base}/slack/interactivity"), Some(answered_in_all.clone())).await;
        println!("round {round} signed clicks:          {figures}");
        click_rates.push(figures.per_second);
        worst_p99 = worst_p99.max(figures.p99);
    }
    println!("load average after: {}", load());
    let bare: f64 = bare_rates.iter().sum::<f64>() / bare_rates.len() as f64;
    let clicked: f64 = click_rates.iter().sum::<f64>() / click_rates.len() as f64;
    println!(
        "mean: bare {bare:.0}/s, clicks {clicked:.0}/s, clicks at {:.0}% of bare; worst click p99 {:.2} ms",
        100.0 * clicked / bare,
        worst_p99.as_secs_f64() * 1e3
    );

    if std::env::var("METRICS").is_ok() {
        let text = http.get(format!("{base}/metrics")).send().await?.text().await?;
        for line in text.lines().filter(|l| l.contains("commit") || l.contains("slack") || l.contains("decid")) {
            if !line.starts_with('#') {
                println!("{line}");
            }
        }
    }
    if std::env::var("KEEP").is_ok() {
        let kept = dir.keep();
        println!("kept {}", kept.display());
        return check_the_work(&running, &fake, &cards, answered_in_all.load(Ordering::Relaxed)).await;
    }
    check_the_work(&running, &fake, &cards, answered_in_all.load(Ordering::Relaxed)).await
}

/// A client's card: its release, the message, the message as a click payload carries it,
/// and the action id of its first item's tick button (`…:i0`).
struct Card {
    release: ReleaseId,
    ts: String,
    template: Value,
    tick: String,
    /// Which of tick (0) and untick (1) the client sends next to shipgate, across phases: a
    /// phase ending on a tick is followed by an untick.
    next: Arc<AtomicUsize>,
}

impl Card {
    /// The untick button of the same item: the card shows it once the item is ticked.
    fn untick(&self) -> String {
        format!("{}u0", self.tick.strip_suffix("i0").expect("a tick action id ends in i0"))
    }
}

/// Signs `body` as Slack does now and posts it form-encoded; the status and the answer.
async fn send(http: &reqwest::Client, fake: &FakeSlack, url: &str, body: String) -> anyhow::Result<(u16, String)> {
    let mut request = http.post(url).header("content-type", "application/x-www-form-urlencoded");
    for (name, value) in signed_headers(fake.signing_secret(), chrono::Utc::now().timestamp(), &body) {
        request = request.header(name, value);
    }
    let response = request.body(body).send().await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

struct Figures {
    per_second: f64,
    count: usize,
    refused: u64,
    failed: u64,
    first_error: Option<String>,
    p50: Duration,
    p95: Duration,
    p99: Duration,
    max: Duration,
    /// CPU time the whole process (clients, shipgate, fake Slack) spent per answer.
    cpu_per_answer: Duration,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "{:>6.0}/s ({} answered 200, {} other statuses, {} failed) p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms, CPU {:.0} µs per answer",
            self.per_second,
            self.count,
            self.refused,
            self.failed,
            ms(self.p50),
            ms(self.p95),
            ms(self.p99),
            ms(self.max),
            self.cpu_per_answer.as_secs_f64() * 1e6
        )?;
        if let Some(error) = &self.first_error {
            write!(f, "\n  first error: {error}")?;
        }
        Ok(())
    }
}

/// One phase: every client clicks its card again and again for the warm-up and `seconds`.
struct Phase<'a> {
    http: &'a reqwest::Client,
    fake: &'a Arc<FakeSlack>,
    cards: &'a [Card],
    seconds: u64,
}

/// Unique per click over the whole run: `action_ts` and `trigger_id` are built from it.
static SINK_URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
static CLICKS_SENT: AtomicU64 = AtomicU64::new(0);

impl Phase<'_> {
    /// `answered_in_all`: for shipgate's endpoint, counts every click answered 200,
    /// warm-up included (each is a tick or untick in the store).
    async fn run(&self, url: &str, answered_in_all: Option<Arc<AtomicU64>>) -> Figures {
        let run_for = Duration::from_secs(self.seconds);
        let started = Instant::now();
        let cpu = Arc::new(std::sync::Mutex::new(None));
        {
            let cpu = cpu.clone();
            tokio::spawn(async move {
                tokio::time::sleep(WARMUP).await;
                let at_start = cpu_time();
                tokio::time::sleep(run_for).await;
                *cpu.lock().unwrap() = Some(cpu_time().saturating_sub(at_start));
            });
        }
        let epoch = chrono::Utc::now().timestamp();
        let mut tasks = Vec::new();
        for card in self.cards {
            let (http, fake, url) = (self.http.clone(), self.fake.clone(), url.to_owned());
            let (mut payload, ts, actions) =
                (card.template.clone(), card.ts.clone(), [card.tick.clone(), card.untick()]);
            let answered_in_all = answered_in_all.clone();
            // The bare endpoint keeps no state: only shipgate's clicks carry on where they were.
            let shared_next = answered_in_all.as_ref().map(|_| card.next.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let (mut refused, mut failed, mut first_error) = (0u64, 0u64, None);
                let user = payload["user"]["id"].as_str().unwrap_or_default().to_owned();
                // Tick, untick, tick, ...: the card's first item button after each click.
                let mut next = shared_next.as_ref().map_or(0, |n| n.load(Ordering::Relaxed));
                loop {
                    let elapsed = started.elapsed();
                    if elapsed > WARMUP + run_for {
                        break;
                    }
                    let n = CLICKS_SENT.fetch_add(1, Ordering::Relaxed);
                    payload["actions"][0]["action_id"] = json!(actions[next]);
                    payload["actions"][0]["action_ts"] = json!(format!("{epoch}.{n:06}"));
                    payload["trigger_id"] = json!(format!("{n}.4242424242.{:032x}", n));
                    if std::env::var("SINK").is_ok() {
                        payload["response_url"] = json!(SINK_URL.get().unwrap().clone());
                    } else {
                        payload["response_url"] = json!(fake.response_url(RELEASES, &user, Some(&ts)));
                    }
                    let sent = Instant::now();
                    let ok = match send(&http, &fake, &url, form_payload(&payload)).await {
                        Ok((200, _)) => true,
                        Ok((status, answer)) => {
                            refused += u64::from(elapsed >= WARMUP);
                            first_error.get_or_insert_with(|| format!("{status} {answer}"));
                            false
                        }
                        Err(e) => {
                            failed += u64::from(elapsed >= WARMUP);
                            first_error.get_or_insert_with(|| e.to_string());
                            false
                        }
                    };
                    if ok {
                        next = 1 - next;
                        if let Some(all) = &answered_in_all {
                            all.fetch_add(1, Ordering::Relaxed);
                        }
                        if elapsed >= WARMUP {
                            latencies.push(sent.elapsed());
                        }
                    }
                }
                if let Some(shared) = &shared_next {
                    shared.store(next, Ordering::Relaxed);
                }
                (latencies, refused, failed, first_error)
            }));
        }
        let (mut latencies, mut refused, mut failed, mut first_error) = (Vec::new(), 0, 0, None);
        for task in tasks {
            let (l, r, f, e) = task.await.expect("a client panicked");
            latencies.extend(l);
            refused += r;
            failed += f;
            first_error = first_error.or(e);
        }
        latencies.sort();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let cpu = cpu.lock().unwrap().unwrap_or_default();
        let pct = |p: f64| {
            latencies
                .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        Figures {
            per_second: latencies.len() as f64 / run_for.as_secs_f64(),
            count: latencies.len(),
            refused,
            failed,
            first_error,
            p50: pct(0.50),
            p95: pct(0.95),
            p99: pct(0.99),
            max: latencies.last().copied().unwrap_or_default(),
            cpu_per_answer: cpu / latencies.len().max(1) as u32,
        }
    }
}

/// The CPU time this process has used so far (user and system, all threads).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command's closing parenthesis; utime and stime are the 12th and
    // 13th of them, in clock ticks (100 a second).
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// shipgate as `serve` builds it, in Slack HTTP mode against the fake; its base URL.
async fn start_shipgate(
    fake: &FakeSlack,
    dir: &std::path::Path,
) -> anyhow::Result<(String, shipgate::runtime::Running)> {
    let config_text = format!(
        r#"
[database]
url = "sqlite://{db}"

[slack]
mode = "http"
release_channel_id = "{RELEASES}"
api_base = "{api_base}"
"#,
        db = dir.join("shipgate.db").display(),
        api_base = fake.api_base(),
    );
    let path = dir.join("shipgate.toml");
    std::fs::write(&path, config_text)?;
    let env = [
        ("SHIPGATE_SLACK_BOT_TOKEN", fake.bot_token().to_owned()),
        ("SHIPGATE_SLACK_SIGNING_SECRET", fake.signing_secret().to_owned()),
    ];
    let config = Config::load_with_env(Some(&path), env)?;
    let running = shipgate::runtime::build(&config).await?;
    let router = shipgate::http::router(running.state.clone(), config.server.max_body_bytes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok((base, running))
}

/// Verifies the signature with shipgate's verifier, decodes the interactivity payload and
/// answers a constant empty 200.
async fn start_bare_endpoint(signing_secret: &str) -> anyhow::Result<String> {
    let verifier = Arc::new(Verifier::new(SecretString::from(signing_secret.to_owned())));
    #[derive(serde::Deserialize)]
    struct Form {
        payload: String,
    }
    async fn answer(State(verifier): State<Arc<Verifier>>, headers: HeaderMap, body: Bytes) -> Response {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let signature = (header("x-slack-signature"), header("x-slack-request-timestamp"));
        if verifier.verify(signature.0, signature.1, &body, chrono::Utc::now()).is_err() {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        let payload = serde_urlencoded::from_bytes::<Form>(&body)
            .map_err(|e| e.to_string())
            .and_then(|form| serde_json::from_str::<Value>(&form.payload).map_err(|e| e.to_string()));
        if payload.is_err() {
            return StatusCode::BAD_REQUEST.into_response();
        }
        StatusCode::OK.into_response()
    }
    let app = axum::Router::new()
        .route("/bare", post(answer))
        .route("/sink", post(|| async { StatusCode::OK }))
        .with_state(verifier);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/bare", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// The Step 1 card in the thread of the release named `name`, once the outbox worker has
/// delivered it.
async fn card_of(fake: &FakeSlack, user: &SlackUser, name: &str) -> anyhow::Result<Card> {
    for _ in 0..400 {
        let parent =
            fake.messages_in(RELEASES).into_iter().find(|m| m.text.as_deref().unwrap_or_default().contains(name));
        if let Some(parent) = parent {
            let card = fake
                .thread(RELEASES, &parent.ts)
                .into_iter()
                .find(|m| m.text.as_deref().unwrap_or_default().contains("Step 1"));
            if let Some(card) = card {
                let tick = card.action_ids().into_iter().find(|id| id.ends_with(":i0"));
                let tick = tick.ok_or_else(|| anyhow::anyhow!("the Step 1 card of {name} has no tick button"))?;
                let release = ReleaseId::new(tick.split(':').nth(1).unwrap_or_default());
                let template = fake.click(RELEASES, &card.ts, &tick, user).to_json();
                return Ok(Card { release, ts: card.ts, template, tick, next: Arc::default() });
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the thread and card of {name} never arrived")
}

/// Every click answered 200 is one tick or untick in the store; every card was updated
/// through response URLs at least once and never more than once a click, and ends showing
/// its first item as the store has it (card answers may still be on their way when the
/// last click is answered: each card is given a deadline to get there).
async fn check_the_work(
    running: &shipgate::runtime::Running,
    fake: &FakeSlack,
    cards: &[Card],
    answered: u64,
) -> anyhow::Result<()> {
    let mut changes = 0u64;
    let mut ticked_in_store = Vec::with_capacity(cards.len());
    for card in cards {
        let (_, history) = running
            .state
            .app
            .release_with_history(&card.release)
            .await?
            .ok_or_else(|| anyhow::anyhow!("release {} is gone", card.release))?;
        let ticks = history.iter().filter(|r| matches!(r.event, Event::ItemTicked { .. })).count();
        let unticks = history.iter().filter(|r| matches!(r.event, Event::ItemUnticked { .. })).count();
        changes += (ticks + unticks) as u64;
        ticked_in_store.push(ticks > unticks);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut wrong = Vec::new();
    for (card, ticked) in cards.iter().zip(&ticked_in_store) {
        // Ticked, the card offers the item's untick button; unticked, its tick button.
        let wanted = if *ticked { card.untick() } else { card.tick.clone() };
        loop {
            let message =
                fake.message(RELEASES, &card.ts).ok_or_else(|| anyhow::anyhow!("card {} is gone", card.ts))?;
            if message.action_ids().contains(&wanted) {
                break;
            }
            if Instant::now() > deadline {
                wrong.push(card.ts.clone());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let posts = fake.requests_to("response_url");
    let accepted = posts.iter().filter(|p| p.status == 200).count();
    let refused = posts.len() - accepted;
    let mut replaced = 0;
    let mut never_updated = 0;
    for card in cards {
        let message = fake.message(RELEASES, &card.ts).ok_or_else(|| anyhow::anyhow!("card {} is gone", card.ts))?;
        let by_answer = message.versions.iter().filter(|v| v.via == "response_url").count();
        replaced += by_answer;
        never_updated += usize::from(by_answer == 0);
    }
    let problems = fake.problems().len();
    println!("check: {answered} clicks answered 200 (warm-ups included); {changes} ItemTicked/ItemUnticked events in the store");
    println!(
        "check: the fake Slack accepted {accepted} response_url posts ({refused} refused), \
         {replaced} of them replacing a clicked card ({} clicks' answers folded into a newer one); {problems} contract problems",
        answered.saturating_sub(replaced as u64)
    );
    println!(
        "check: {} of {} cards end showing their first item as the store has it",
        cards.len() - wrong.len(),
        cards.len()
    );
    anyhow::ensure!(changes == answered, "every click answered 200 is one tick or untick in the store");
    anyhow::ensure!(replaced as u64 <= answered, "a card is updated at most once a click");
    anyhow::ensure!(never_updated == 0, "{never_updated} cards were clicked but never updated through a response_url");
    anyhow::ensure!(wrong.is_empty(), "cards not showing the store's state: {wrong:?}");
    anyhow::ensure!(problems == 0, "shipgate broke Slack's contract: {:?}", fake.problems());
    println!("check: ok");
    Ok(())
}
