//! Crash safety of `shipgate serve` as a whole: release managers and CI pipelines drive many
//! releases through the API at a steady rate while the process is killed with SIGKILL at
//! random moments and restarted on the same database, over and over. Afterwards:
//!
//! - every command that was acknowledged (a 2xx answer reached the client) is in its
//!   release's history, with exactly the events its answer reported;
//! - a command sent again under the same Idempotency-Key after a lost answer is applied at
//!   most once, and a refused command left no event;
//! - the outbox holds exactly the chat messages the histories call for, each once.
//!
//! `cargo test --test crash` runs 20 kills per database, 150-600 ms apart. A longer run
//! (more than 20 kills: 300-2000 ms apart unless set), and its figures:
//!
//! ```text
//! SHIPGATE_CRASH_KILLS=100 cargo test --test crash -- --nocapture
//! ```
//!
//! `SHIPGATE_CRASH_INTERVAL_MS=150-600` sets how long each process lives before its kill,
//! and `SHIPGATE_CRASH_SEED` replays the random choices of a run (the seed is printed).
//! PostgreSQL runs when TEST_DATABASE_URL is set.

mod common;

use common::process::{
    database_url_for, free_port, write_config, Server, PROCESS_CI_TOKEN, PROCESS_RM2_TOKEN, PROCESS_RM_TOKEN,
};
use common::seeded::SeededRng;
use common::Backend;
use serde_json::{json, Value};
use shipgate::app::notices;
use shipgate::domain::release::{Recorded, Release};
use shipgate::domain::ReleaseId;
use shipgate::store::Store;
use sqlx::Connection;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

on_both_backends!(acknowledged_commands_survive_repeated_kill_9);

/// Release managers and pipelines working at once, each on its own releases.
const DRIVERS: u64 = 8;
const DIGEST: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
/// How long one command may go unanswered, across kills and restarts, before the run is
/// declared stuck.
const ANSWER_WITHIN: Duration = Duration::from_secs(90);

/// How hard a run is: from the environment, or the short run `cargo test` makes.
struct Plan {
    kills: u32,
    /// How long each process lives before it is killed, in milliseconds (inclusive).
    lifetime_ms: (u64, u64),
    seed: u64,
}

impl Plan {
    fn from_env() -> Plan {
        let kills = match std::env::var("SHIPGATE_CRASH_KILLS") {
            Ok(text) => text
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("SHIPGATE_CRASH_KILLS must be a number of kills, e.g. 200; it is {text:?}")),
            Err(_) => 20,
        };
        let long_run = kills > 20;
        let lifetime_ms = match std::env::var("SHIPGATE_CRASH_INTERVAL_MS") {
            Ok(text) => text
                .split_once('-')
                .and_then(|(low, high)| Some((low.trim().parse().ok()?, high.trim().parse().ok()?)))
                .filter(|(low, high)| low <= high)
                .unwrap_or_else(|| {
                    panic!("SHIPGATE_CRASH_INTERVAL_MS must be a range of milliseconds, e.g. 150-600; it is {text:?}")
                }),
            // A long run gives each process time to build up work in flight.
            Err(_) if long_run => (300, 2_000),
            Err(_) => (150, 600),
        };
        Plan { kills, lifetime_ms, seed: SeededRng::seed_from_env("SHIPGATE_CRASH_SEED") }
    }
}

/// What became of a command, as its client saw it.
#[derive(Debug, Clone)]
enum Reply {
    /// A 2xx answer arrived: the client relies on the command being done.
    Acknowledged { body: Value, replayed: bool },
    /// A 4xx answer: the command was refused and must have changed nothing.
    Refused { status: u16, code: String },
}

/// How a command is meant to end, given the release as its driver left it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Done,
    Refused(&'static str),
}

/// One command, as its driver saw it end.
#[derive(Debug)]
struct Sent {
    key: String,
    route: String,
    expect: Expect,
    reply: Reply,
}

impl Sent {
    fn describe(&self) -> String {
        let outcome = match &self.reply {
            Reply::Acknowledged { replayed: false, .. } => "acknowledged".to_owned(),
            Reply::Acknowledged { replayed: true, .. } => "acknowledged (a replayed answer)".to_owned(),
            Reply::Refused { status, code } => format!("refused with {status} {code}"),
        };
        format!("{} (Idempotency-Key {}): {outcome}", self.route, self.key)
    }
}

/// Everything the drivers sent, and how often they had to send it.
#[derive(Default)]
struct Ledger {
    sent: Mutex<Vec<Sent>>,
    attempts: AtomicU64,
}

/// A client of the API that sends every command under a fresh Idempotency-Key and, until
/// it gets an answer, sends it again under the same key: what a careful pipeline does.
#[derive(Clone)]
struct Client {
    base: String,
    http: reqwest::Client,
    ledger: Arc<Ledger>,
}

impl Client {
    async fn command(&self, path: &str, token: &str, body: Option<Value>, expect: Expect) -> Reply {
        let key = uuid::Uuid::new_v4().to_string();
        let url = format!("{}/api/v1{path}", self.base);
        let began = Instant::now();
        let reply = loop {
            self.ledger.attempts.fetch_add(1, Ordering::Relaxed);
            let mut request = self.http.post(&url).bearer_auth(token).header("Idempotency-Key", &key);
            if let Some(body) = &body {
                request = request.json(body);
            }
            if let Ok(response) = request.send().await {
                let status = response.status();
                let replayed = response.headers().contains_key("idempotent-replayed");
                // An answer cut off by a kill is no answer: only a whole body counts.
                if let Ok(body) = response.json::<Value>().await {
                    if status.is_success() {
                        break Reply::Acknowledged { body, replayed };
                    }
                    if status.is_client_error() {
                        let code = body["code"].as_str().unwrap_or_default().to_owned();
                        break Reply::Refused { status: status.as_u16(), code };
                    }
                }
            }
            // Down, dying or starting: the same request again, under the same key.
            assert!(
                began.elapsed() < ANSWER_WITHIN,
                "POST {path} (Idempotency-Key {key}) got no answer within {ANSWER_WITHIN:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let sent = Sent { key, route: format!("POST {path}"), expect, reply: reply.clone() };
        self.ledger.sent.lock().expect("ledger").push(sent);
        reply
    }

    /// The release with its history; `None` if shipgate does not know it.
    async fn release(&self, id: &str) -> Option<Value> {
        let url = format!("{}/api/v1/releases/{id}", self.base);
        let began = Instant::now();
        loop {
            if let Ok(response) = self.http.get(&url).bearer_auth(PROCESS_CI_TOKEN).send().await {
                let status = response.status();
                if let Ok(body) = response.json::<Value>().await {
                    if status.is_success() {
                        return Some(body);
                    }
                    if body["code"] == "unknown_release" {
                        return None;
                    }
                    assert!(!status.is_client_error(), "GET release {id} answered {status}: {body}");
                }
            }
            assert!(began.elapsed() < ANSWER_WITHIN, "GET release {id} got no answer within {ANSWER_WITHIN:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// One driver: releases of its own services, one after another, each walked from its start
/// to the production deployment (the monitoring step then runs for real minutes), with the
/// mistakes people make on the way: approving too early, ticking twice, approving their own
/// release. Stops between commands once `stop` is set.
async fn drive(client: Client, driver: u64, mut rng: SeededRng, stop: Arc<AtomicBool>) {
    let channel = format!("discord:{}", 900_000_000_000_000_000 + driver);
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let service = format!("svc-{driver}-{n}");
        let mut walk = Walk { client: &client, rng: &mut rng, stop: &stop, id: String::new() };
        walk.release(&service, &channel).await;
    }
}

/// One release on its way, walked by one driver.
struct Walk<'a> {
    client: &'a Client,
    rng: &'a mut SeededRng,
    stop: &'a AtomicBool,
    /// The release's id once its start is answered.
    id: String,
}

impl Walk<'_> {
    /// `None` once the run is stopping: the walk ends there.
    async fn send(&mut self, path: &str, token: &str, body: Option<Value>, expect: Expect) -> Option<Reply> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        // A steady stream rather than a flood: people and pipelines pause between steps.
        tokio::time::sleep(Duration::from_millis(self.rng.between(0, 5))).await;
        Some(self.client.command(path, token, body, expect).await)
    }

    /// Starts a release of `service` posting to `channel` and walks it to production.
    async fn release(&mut self, service: &str, channel: &str) -> Option<()> {
        let start = json!({"service": service, "version": "1.0.0", "git_sha": "3f9c2e1", "channel": channel});
        let Reply::Acknowledged { body, .. } =
            self.send("/releases", PROCESS_RM_TOKEN, Some(start), Expect::Done).await?
        else {
            // Recorded as an unexpected refusal; the next release starts.
            return None;
        };
        self.id = body["id"].as_str().expect("a started release has an id").to_owned();
        let id = self.id.clone();
        if self.rng.chance(20) {
            let path = format!("/releases/{id}/steps/pre-flight/approve");
            self.send(&path, PROCESS_RM_TOKEN, None, Expect::Refused("gate_not_ready")).await?;
        }
        self.tick_current_step().await?;
        self.send(&format!("/releases/{id}/steps/pre-flight/approve"), PROCESS_RM_TOKEN, None, Expect::Done).await?;
        let tests = json!({"suite": "unit", "passed": 420, "failed": 0});
        self.send(&format!("/releases/{id}/test-results"), PROCESS_CI_TOKEN, Some(tests), Expect::Done).await?;
        let artifact = json!({"version": "1.0.0", "git_sha": "3f9c2e1", "digest": DIGEST, "size_bytes": 73400320});
        self.send(&format!("/releases/{id}/artifacts"), PROCESS_CI_TOKEN, Some(artifact), Expect::Done).await?;
        self.tick_current_step().await?;
        self.tick_current_step().await?;
        let staging = deployment("staging");
        self.send(&format!("/releases/{id}/deployments"), PROCESS_CI_TOKEN, Some(staging), Expect::Done).await?;
        self.tick_current_step().await?;
        let approve = format!("/releases/{id}/steps/smoke-test/approve");
        if self.rng.chance(20) {
            // The release bot started it: it may not approve its own way to production.
            self.send(&approve, PROCESS_RM_TOKEN, None, Expect::Refused("self_approval")).await?;
        }
        self.send(&approve, PROCESS_RM2_TOKEN, None, Expect::Done).await?;
        let production = deployment("production");
        self.send(&format!("/releases/{id}/deployments"), PROCESS_CI_TOKEN, Some(production), Expect::Done).await?;
        self.tick_current_step().await
    }

    /// Ticks every box of the current step, now and then one a second time.
    async fn tick_current_step(&mut self) -> Option<()> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        // Gone only if its acknowledged start was lost: the final check reports it.
        let release = self.client.release(&self.id).await?;
        let step = release["current_step"]["id"].as_str().expect("the current step has an id").to_owned();
        let items: Vec<String> = release["current_step"]["items"]
            .as_array()
            .expect("the current step lists its items")
            .iter()
            .map(|item| item["id"].as_str().expect("an item has an id").to_owned())
            .collect();
        let last = items.len().saturating_sub(1);
        for (index, item) in items.iter().enumerate() {
            let path = format!("/releases/{}/steps/{step}/items/{item}/tick", self.id);
            self.send(&path, PROCESS_CI_TOKEN, None, Expect::Done).await?;
            // The last box may pass a gate that needs no approval, and the step is gone.
            if index < last && self.rng.chance(5) {
                self.send(&path, PROCESS_CI_TOKEN, None, Expect::Refused("already_ticked")).await?;
            }
        }
        Some(())
    }
}

fn deployment(environment: &str) -> Value {
    json!({"environment": environment, "digest": DIGEST, "outcome": "succeeded", "health": "passed", "strategy": "rolling"})
}

/// The Idempotency-Key a history entry was recorded under (`api:<client>:<route>:<key>`).
fn key_of(entry: &Value) -> String {
    let request_id = entry["request_id"].as_str().expect("an event names its request");
    request_id.rsplit(':').next().unwrap_or_default().to_owned()
}

fn start_server(dir: &std::path::Path, config: &std::path::Path, port: u16) -> Server {
    // Every release has a Discord channel but no Discord is configured: each chat message
    // stays queued in the outbox, and the failed deliveries would fill the log with warnings.
    Server::start_with(dir, Some(config), port, &[("RUST_LOG", "error".to_owned())])
}

async fn acknowledged_commands_survive_repeated_kill_9(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(database_url) = database_url_for(backend, dir.path()).await else {
        return;
    };
    let plan = Plan::from_env();
    let port = free_port();
    let config = write_config(dir.path(), port, &database_url, "");
    let mut server = start_server(dir.path(), &config, port);
    server.ready().await;

    let ledger = Arc::new(Ledger::default());
    let client = Client {
        base: server.base.clone(),
        http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("HTTP client"),
        ledger: ledger.clone(),
    };
    let mut rng = SeededRng::new(plan.seed);
    let stop = Arc::new(AtomicBool::new(false));
    let drivers: Vec<_> =
        (0..DRIVERS).map(|driver| tokio::spawn(drive(client.clone(), driver, rng.fork(), stop.clone()))).collect();

    for _ in 0..plan.kills {
        tokio::time::sleep(Duration::from_millis(rng.between(plan.lifetime_ms.0, plan.lifetime_ms.1))).await;
        server.kill();
        server = start_server(dir.path(), &config, port);
        server.ready().await;
    }
    // The commands in flight at the last kill are answered by the last process.
    stop.store(true, Ordering::Relaxed);
    for driver in drivers {
        driver.await.expect("a driver panicked");
    }

    let sent = std::mem::take(&mut *ledger.sent.lock().expect("ledger"));
    let started: Vec<String> = sent
        .iter()
        .filter(|s| s.route == "POST /releases")
        .filter_map(|s| match &s.reply {
            Reply::Acknowledged { body, .. } => body["id"].as_str().map(str::to_owned),
            Reply::Refused { .. } => None,
        })
        .collect();

    // Every history, read back through the API of the last process.
    let mut by_key: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut history_lengths: BTreeMap<String, i64> = BTreeMap::new();
    for id in &started {
        let Some(release) = client.release(id).await else {
            continue;
        };
        let history = release["history"].as_array().expect("a release has a history");
        let seqs: Vec<u64> = history.iter().filter_map(|e| e["seq"].as_u64()).collect();
        assert_eq!(seqs, (1..=history.len() as u64).collect::<Vec<_>>(), "release {id}: a gap or a repeat");
        history_lengths.insert(id.clone(), history.len() as i64);
        for entry in history {
            by_key.entry(key_of(entry)).or_default().push(entry.clone());
        }
    }

    let mut found = 0;
    let mut lost = Vec::new();
    let mut applied_twice = Vec::new();
    let mut recorded_otherwise = Vec::new();
    let mut refused_yet_recorded = Vec::new();
    let mut unexpected = Vec::new();
    for s in &sent {
        let recorded = by_key.get(&s.key).map_or(&[][..], Vec::as_slice);
        let as_answered = match &s.reply {
            // A start answers with the release, not its events: the one `started` event.
            Reply::Acknowledged { .. } if s.route == "POST /releases" => {
                let types: Vec<&str> = recorded.iter().filter_map(|e| e["type"].as_str()).collect();
                Some((types == ["started"], 1))
            }
            Reply::Acknowledged { body, .. } => {
                let answered = body["events"].as_array().map_or(&[][..], Vec::as_slice);
                Some((!answered.is_empty() && recorded == answered, answered.len()))
            }
            Reply::Refused { .. } => None,
        };
        match as_answered {
            Some((true, _)) => found += 1,
            Some(_) if recorded.is_empty() => lost.push(s),
            Some((false, answered)) if recorded.len() > answered => applied_twice.push((s, recorded)),
            Some(_) => recorded_otherwise.push((s, recorded)),
            None if !recorded.is_empty() => refused_yet_recorded.push((s, recorded)),
            None => {}
        }
        match (&s.reply, s.expect) {
            (Reply::Acknowledged { .. }, Expect::Done) => {}
            (Reply::Refused { code, .. }, Expect::Refused(expected)) if code == expected => {}
            _ => unexpected.push(s),
        }
    }
    let acknowledged = sent.iter().filter(|s| matches!(s.reply, Reply::Acknowledged { .. })).count();
    let replayed = sent.iter().filter(|s| matches!(s.reply, Reply::Acknowledged { replayed: true, .. })).count();
    let refused = sent.len() - acknowledged;
    println!(
        "{backend:?}: {} kills ({}-{} ms apart); {} commands sent in {} attempts; {acknowledged} acknowledged \
         ({replayed} of them replays of an answer lost in a kill), {found} found in the history, {} lost; \
         {refused} refused; {} releases, {} events",
        plan.kills,
        plan.lifetime_ms.0,
        plan.lifetime_ms.1,
        sent.len(),
        ledger.attempts.load(Ordering::Relaxed),
        lost.len(),
        started.len(),
        history_lengths.values().sum::<i64>(),
    );
    let lost: Vec<String> = lost.into_iter().map(Sent::describe).collect();
    assert!(lost.is_empty(), "{} acknowledged commands are not in the history: {lost:#?}", lost.len());
    let described = |found: Vec<(&Sent, &[Value])>| -> Vec<String> {
        let events = |recorded: &[Value]| -> Vec<String> {
            recorded.iter().map(|e| format!("{} {}", e["seq"], e["type"].as_str().unwrap_or("?"))).collect()
        };
        found.into_iter().map(|(s, recorded)| format!("{}, recorded as {:?}", s.describe(), events(recorded))).collect()
    };
    let applied_twice = described(applied_twice);
    assert!(applied_twice.is_empty(), "commands applied more than once: {applied_twice:#?}");
    let recorded_otherwise = described(recorded_otherwise);
    assert!(recorded_otherwise.is_empty(), "commands recorded otherwise than answered: {recorded_otherwise:#?}");
    let refused_yet_recorded = described(refused_yet_recorded);
    assert!(refused_yet_recorded.is_empty(), "refused commands that left events: {refused_yet_recorded:#?}");
    let keys_sent: BTreeSet<&str> = sent.iter().map(|s| s.key.as_str()).collect();
    let unasked: Vec<&String> = by_key.keys().filter(|k| !keys_sent.contains(k.as_str())).collect();
    assert!(unasked.is_empty(), "events recorded under keys no driver sent: {unasked:?}");
    let unexpected: Vec<String> =
        unexpected.into_iter().map(|s| format!("{}, expected {:?}", s.describe(), s.expect)).collect();
    assert!(unexpected.is_empty(), "commands ended otherwise than the releases' state calls for: {unexpected:#?}");

    // The database itself, once the last process has stopped.
    assert_eq!(server.terminate(), Some(0), "shipgate serve stops cleanly on SIGTERM");
    let stored = event_counts(&database_url).await;
    assert_eq!(stored, history_lengths, "the events table holds other releases or events than the API showed");
    let outbox = outbox_key_counts(&database_url).await;
    let doubled: Vec<(&String, &i64)> = outbox.iter().filter(|(_, count)| **count != 1).collect();
    assert!(doubled.is_empty(), "outbox rows sharing a key: {doubled:?}");
    let expected_outbox = expected_outbox_keys(&database_url, &started).await;
    let actual_outbox: BTreeSet<String> = outbox.keys().cloned().collect();
    let missing: Vec<&String> = expected_outbox.difference(&actual_outbox).collect();
    let extra: Vec<&String> = actual_outbox.difference(&expected_outbox).collect();
    assert!(missing.is_empty(), "chat messages the histories call for are not in the outbox: {missing:?}");
    assert!(extra.is_empty(), "outbox rows no recorded event calls for: {extra:?}");
    println!("{backend:?}: {} outbox rows checked, each key once", outbox.len());
}

/// Events per release, straight from the database.
async fn event_counts(database_url: &str) -> BTreeMap<String, i64> {
    grouped_counts(database_url, "SELECT release_id, COUNT(*) FROM events GROUP BY release_id").await
}

/// Outbox rows per message key, straight from the database.
async fn outbox_key_counts(database_url: &str) -> BTreeMap<String, i64> {
    grouped_counts(database_url, "SELECT idempotency_key, COUNT(*) FROM outbox GROUP BY idempotency_key").await
}

async fn grouped_counts(database_url: &str, sql: &str) -> BTreeMap<String, i64> {
    let rows: Vec<(String, i64)> = if database_url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(database_url).await.expect("open the SQLite database");
        sqlx::query_as(sql).fetch_all(&mut connection).await.expect(sql)
    } else {
        let mut connection = sqlx::PgConnection::connect(database_url).await.expect("connect to PostgreSQL");
        sqlx::query_as(sql).fetch_all(&mut connection).await.expect(sql)
    };
    rows.into_iter().collect()
}

/// The outbox keys the stored histories call for: each request's events, in order, give
/// the chat messages the app queues with them.
async fn expected_outbox_keys(database_url: &str, releases: &[String]) -> BTreeSet<String> {
    let store = Store::connect(database_url).await.expect("open the store");
    let mut keys = BTreeSet::new();
    for id in releases {
        let id = ReleaseId::new(id.as_str());
        let events = store.load_events(&id).await.expect("load a history");
        let mut before: Option<Release> = None;
        for request in events.chunk_by(|a: &Recorded, b: &Recorded| a.request_id == b.request_id) {
            let upto = request.last().map_or(0, |r| r.seq as usize);
            let after = Release::fold(id.clone(), &events[..upto]).expect("a stored history folds");
            keys.extend(notices::for_events(before.as_ref(), &after, request).into_iter().map(|m| m.idempotency_key));
            before = Some(after);
        }
    }
    keys
}
