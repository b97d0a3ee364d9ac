//! Delivery benchmark: how long the outbox takes to deliver a backlog of cards into many
//! threads under Discord's rate limits, against the least time those limits allow.
//!
//! 100 releases are opened from Discord and their threads and first cards delivered. With
//! the delivery worker stopped, each release then moves through ten step attempts (Step 1
//! ticked and passed, then Step 2 retried nine times as a flaky test), which queues ten new
//! cards per thread plus the edits that close the cards before them. The worker is started
//! against the fake Discord of the test suite with Discord's limits emulated (50 requests
//! per second per bot; 5 message creates and 5 edits per 5 s per channel) and timed until
//! the outbox is empty. The least time is computed from the requests that succeeded: each
//! rate-limit window holds at most its limit. Every thread is then checked: each step
//! attempt's card exactly once.
//!
//! ```text
//! cargo run --release --example deliverygen -- --threads 100 --cards 10
//! ```

#[allow(dead_code)]
#[path = "../tests/common/fake_discord/mod.rs"]
mod fake_discord;

use clap::Parser;
use fake_discord::{FakeDiscord, Route};
use shipgate::app::clock::SystemClock;
use shipgate::app::delivery::{self, Outlets, Sender};
use shipgate::app::playbooks::Playbooks;
use shipgate::app::{App, AppParts, StartRelease};
use shipgate::chat::discord::deliver::DiscordSender;
use shipgate::chat::discord::rest::Rest;
use shipgate::config::Config;
use shipgate::domain::actor::{Actor, Platform};
use shipgate::domain::freeze::NoFreeze;
use shipgate::domain::release::{Command, Policy};
use shipgate::domain::{ChatChannel, ChatPlatform, FailurePathId, GitSha, ReleaseId, RequestId, ServiceName, StepId};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

#[derive(Parser, Debug)]
struct Args {
    /// Releases, each with its own thread.
    #[arg(long, default_value_t = 100)]
    threads: usize,
    /// New cards queued per thread (at least 2: Step 2, then its retries).
    #[arg(long, default_value_t = 10)]
    cards: usize,
}

const RELEASE_CHANNEL: &str = "1300000000000000001";
const GLOBAL_PER_SECOND: u32 = 50;
const CHANNEL_LIMIT: u32 = 5;
const CHANNEL_WINDOW: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.cards >= 2, "--cards must be at least 2");
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(RELEASE_CHANNEL);
    let dir = tempfile::tempdir()?;
    let (app, sender) = build(&fake, dir.path()).await?;

    // Threads and first cards, delivered without limits: not part of the figure.
    let engineer = Actor::new(Platform::Discord, "1700000000000000001", "alice").with_roles(["engineer"]);
    let manager = Actor::new(Platform::Discord, "1700000000000000002", "bob").with_roles(["release-manager"]);
    let mut releases = Vec::new();
    for i in 0..args.threads {
        let start = StartRelease {
            service: ServiceName::parse(&format!("svc-{i}")).map_err(anyhow::Error::msg)?,
            version: shipgate::domain::Version::parse("1.0.0").map_err(anyhow::Error::msg)?,
            git_sha: GitSha::parse("3f9c2e1").map_err(anyhow::Error::msg)?,
            playbook: None,
            hotfix: false,
            channel: Some(ChatChannel::new(ChatPlatform::Discord, RELEASE_CHANNEL)),
        };
        let outcome = app.start_release(start, engineer.clone(), RequestId::new(format!("bench:start:{i}"))).await?;
        releases.push(outcome.release.id.clone());
    }
    let worker = Worker::start(&app, &sender);
    drain(&app).await?;
    worker.stop().await;
    anyhow::ensure!(fake.threads().len() == args.threads, "expected {} threads", args.threads);

    // The backlog: ten new cards per thread, queued with the worker stopped.
    for (i, id) in releases.iter().enumerate() {
        queue_cards(&app, id, i, args.cards, &engineer, &manager).await?;
    }
    let queued = app.store().pending_outbox(app.now(), u32::MAX).await?.len();

    fake.set_global_limit(GLOBAL_PER_SECOND);
    fake.set_bucket_limit(Route::CreateMessage, CHANNEL_LIMIT, CHANNEL_WINDOW);
    fake.set_bucket_limit(Route::EditMessage, CHANNEL_LIMIT, CHANNEL_WINDOW);
    let since = SystemTime::now();
    let started = Instant::now();
    let worker = Worker::start(&app, &sender);
    drain(&app).await?;
    let took = started.elapsed();
    worker.stop().await;

    let requests: Vec<_> = fake.requests().into_iter().filter(|r| r.at >= since).collect();
    let succeeded: Vec<_> = requests.iter().filter(|r| r.status.is_some_and(|s| s < 300)).collect();
    let limited = requests.iter().filter(|r| r.status == Some(429)).count();
    let least = least_time(&succeeded);
    let mut by_route: BTreeMap<String, usize> = BTreeMap::new();
    for request in &succeeded {
        *by_route.entry(format!("{:?}", request.route)).or_default() += 1;
    }
    check_threads(&fake, args.cards)?;
    fake.assert_no_violations();

    println!("threads: {}, new cards per thread: {}, outbox rows queued: {queued}", args.threads, args.cards);
    println!("requests that succeeded: {} {by_route:?}; answered 429: {limited}", succeeded.len());
    println!(
        "delivered in {:.2} s; the limits allow {:.2} s at best; {:.1}% over",
        took.as_secs_f64(),
        least.as_secs_f64(),
        100.0 * (took.as_secs_f64() / least.as_secs_f64() - 1.0)
    );
    println!("every card exactly once in its thread: yes");
    Ok(())
}

async fn build(fake: &FakeDiscord, dir: &std::path::Path) -> anyhow::Result<(App, Arc<dyn Sender>)> {
    let config_text = format!(
        r#"
[database]
url = "sqlite://{db}"

[discord]
mode = "http"
application_id = "{app}"
public_key = "{key}"
guild_id = "{guild}"
release_channel_id = "{RELEASE_CHANNEL}"
api_base = "{base}"
"#,
        db = dir.join("shipgate.db").display(),
        app = fake.application_id(),
        key = "0".repeat(64),
        guild = fake.guild_id(),
        base = fake.api_base(),
    );
    let path = dir.join("shipgate.toml");
    std::fs::write(&path, config_text)?;
    let config = Config::load_with_env(Some(&path), [("SHIPGATE_DISCORD_TOKEN", fake.token().to_owned())])?;
    let discord = Arc::new(config.discord.clone().expect("the config has a [discord] section"));
    let store = shipgate::store::Store::connect_with(&config.database.url, 8).await?;
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
    let rest = Arc::new(Rest::new(&discord.api_base, discord.token.clone())?);
    Ok((app, Arc::new(DiscordSender::new(rest, discord))))
}

struct Worker {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Worker {
    fn start(app: &App, sender: &Arc<dyn Sender>) -> Worker {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task =
            tokio::spawn(delivery::run(app.clone(), Outlets::new(vec![sender.clone()], None), "bench".into(), async {
                let _ = stopped.await;
            }));
        Worker { stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Waits until the outbox holds nothing undelivered.
async fn drain(app: &App) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(900);
    while Instant::now() < deadline {
        if app.store().pending_outbox(app.now() + chrono::Duration::days(1), 1).await?.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::bail!("the outbox was not empty after 15 minutes")
}

/// Step 1 ticked and passed, then Step 2 retried until `cards` new cards are queued.
async fn queue_cards(
    app: &App,
    id: &ReleaseId,
    n: usize,
    cards: usize,
    engineer: &Actor,
    manager: &Actor,
) -> anyhow::Result<()> {
    let (release, _) = app.release_with_history(id).await?.expect("the release exists");
    let first = release.playbook.steps[0].clone();
    let mut request = 0;
    let mut run = |command: Command, actor: &Actor| {
        request += 1;
        let request = RequestId::new(format!("bench:{n}:{request}"));
        let (app, actor) = (app.clone(), actor.clone());
        async move { app.execute(id, command, actor, request).await }
    };
    for item in &first.items {
        run(Command::Tick { step: first.id.clone(), item: item.id.clone() }, engineer).await?;
    }
    run(Command::Approve { step: first.id.clone() }, manager).await?;
    for retry in 1..cards {
        let command = Command::TakeFailurePath {
            step: StepId::new("test-suite"),
            path: FailurePathId::new("flaky-test"),
            note: Some(format!("flaky run {retry}")),
        };
        run(command, engineer).await?;
    }
    Ok(())
}

/// The least time the emulated limits allow for these requests: every fixed window of a
/// bucket (and of the global limit) holds at most its limit, so `n` requests span at
/// least `ceil(n / limit) - 1` windows.
fn least_time(succeeded: &[&fake_discord::RecordedRequest]) -> Duration {
    let windows =
        |n: usize, limit: u32, window: Duration| window * (n.div_ceil(limit as usize).saturating_sub(1) as u32);
    let global = succeeded.iter().filter(|r| r.route.is_some_and(|route| route.counts_against_global_limit())).count();
    let mut per_channel: HashMap<(String, String), usize> = HashMap::new();
    for request in succeeded {
        if matches!(request.route, Some(Route::CreateMessage | Route::EditMessage)) {
            let channel = request.path.split('/').nth(4).unwrap_or_default().to_owned();
            *per_channel.entry((request.method.clone(), channel)).or_default() += 1;
        }
    }
    let busiest_channel = per_channel.values().copied().max().unwrap_or(0);
    windows(global, GLOBAL_PER_SECOND, Duration::from_secs(1)).max(windows(
        busiest_channel,
        CHANNEL_LIMIT,
        CHANNEL_WINDOW,
    ))
}

/// Each thread holds each step attempt's card once: Step 1, then Step 2 `cards` times.
fn check_threads(fake: &FakeDiscord, cards: usize) -> anyhow::Result<()> {
    for thread in fake.threads() {
        let thread_id = thread["id"].as_str().unwrap_or_default();
        let headers: Vec<String> = fake
            .messages(thread_id)
            .iter()
            .filter_map(|m| m["content"].as_str())
            .filter(|c| c.starts_with("Step "))
            .map(|c| c.split(" — ").next().unwrap_or_default().to_owned())
            .collect();
        let step_two = headers.iter().filter(|h| h.as_str() == "Step 2").count();
        let step_one = headers.iter().filter(|h| h.as_str() == "Step 1").count();
        anyhow::ensure!(
            step_one == 1 && step_two == cards && headers.len() == cards + 1,
            "thread {} holds cards {headers:?}; expected Step 1 once and Step 2 {cards} times",
            thread["name"]
        );
    }
    Ok(())
}
