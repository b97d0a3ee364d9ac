//! Criterion benchmarks: deciding a command (pure), folding a history, one durable command
//! at a time through the app on SQLite with synchronous=FULL, and 32 at once (one
//! transaction's worth), each on its own release or all on one, with and without keys.
//!
//! `cargo bench --bench commands`

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion};
use shipgate::app::clock::SystemClock;
use shipgate::app::playbooks::Playbooks;
use shipgate::app::{App, AppParts, StartRelease};
use shipgate::domain::freeze::NoFreeze;
use shipgate::domain::playbook::Playbook;
use shipgate::domain::release::{self, Command, Context, Policy, Recorded, Release};
use shipgate::domain::{Actor, GitSha, ItemId, Platform, ReleaseId, RequestId, ServiceName, StepId, Version};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

fn actor() -> Actor {
    Actor::new(Platform::Api, "bench", "Bench").with_roles(["release-manager", "engineer"])
}

/// A fresh release's history: its `started` event.
fn start_history() -> Vec<Recorded> {
    let policy = Policy::default();
    let ctx = Context {
        now: Utc::now(),
        freeze: &NoFreeze,
        production_holder: None,
        live: None,
        policy: &policy,
        recorded_artifact: None,
        locks: &[],
    };
    let events = release::start(
        Command::Start {
            service: ServiceName::new("api"),
            version: Version::parse("1.0.0").unwrap(),
            git_sha: GitSha::parse("3f9c2e1").unwrap(),
            playbook: Box::new(Playbook::ship_to_production()),
            hotfix: false,
            channel: None,
        },
        &actor(),
        &ctx,
    )
    .unwrap();
    Recorded::sequence(events, 0, Utc::now(), &actor(), &RequestId::new("r"))
}

fn toggle(n: u64) -> Command {
    if n % 2 == 0 {
        tick()
    } else {
        Command::Untick { step: StepId::new("pre-flight"), item: ItemId::new("prs-merged") }
    }
}

fn tick() -> Command {
    Command::Tick { step: StepId::new("pre-flight"), item: ItemId::new("prs-merged") }
}

fn domain(c: &mut Criterion) {
    let policy = Policy::default();
    let mut history = start_history();
    let mut release = Release::fold(ReleaseId::new("bench"), &history).unwrap();
    c.bench_function("domain: decide a tick", |b| {
        b.iter(|| {
            let ctx = Context {
                now: Utc::now(),
                freeze: &NoFreeze,
                production_holder: None,
                live: None,
                policy: &policy,
                recorded_artifact: None,
                locks: &[],
            };
            release::apply(&release, tick(), &actor(), &ctx).unwrap()
        })
    });

    // 200 more events: the same item ticked and unticked 100 times.
    for n in 0..200 {
        let ctx = Context {
            now: Utc::now(),
            freeze: &NoFreeze,
            production_holder: None,
            live: None,
            policy: &policy,
            recorded_artifact: None,
            locks: &[],
        };
        for event in release::apply(&release, toggle(n), &actor(), &ctx).unwrap() {
            let recorded = Recorded {
                seq: release.seq + 1,
                at: Utc::now(),
                actor: actor(),
                request_id: RequestId::new("r"),
                event,
            };
            release.evolve(&recorded).unwrap();
            history.push(recorded);
        }
    }
    c.bench_function("domain: fold a 201-event history", |b| {
        b.iter(|| Release::fold(ReleaseId::new("bench"), &history).unwrap())
    });
}

fn durable(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let (app, id) = runtime.block_on(async {
        let store = shipgate::store::Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
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
        let answer = app
            .start_release(
                StartRelease {
                    service: ServiceName::new("api"),
                    version: Version::parse("1.0.0").unwrap(),
                    git_sha: GitSha::parse("3f9c2e1").unwrap(),
                    playbook: None,
                    hotfix: false,
                    channel: None,
                },
                actor(),
                RequestId::generate(),
            )
            .await
            .unwrap();
        (app, answer.release.id)
    });
    let counter = AtomicU64::new(0);
    c.bench_function("app: one durable command at a time (SQLite, synchronous=FULL)", |b| {
        b.to_async(&runtime).iter(|| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let command = toggle(n);
            let app = app.clone();
            let id = id.clone();
            async move { app.execute(&id, command, actor(), RequestId::new(format!("bench-{n}"))).await.unwrap() }
        })
    });
}

/// Opens `count` releases on a fresh SQLite file.
async fn app_with_releases(url: &str, count: usize) -> (App, Vec<ReleaseId>) {
    let store = shipgate::store::Store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
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
    let mut ids = Vec::new();
    for n in 0..count {
        let start = StartRelease {
            service: ServiceName::new(&format!("api-{n}")),
            version: Version::parse("1.0.0").unwrap(),
            git_sha: GitSha::parse("3f9c2e1").unwrap(),
            playbook: None,
            hotfix: false,
            channel: None,
        };
        let id = app.start_release(start, actor(), RequestId::generate()).await.unwrap().release.id;
        // Through Step 1, so that failing test results (accepted again and again) can be recorded.
        for item in ["prs-merged", "no-blockers", "release-notes", "env-and-secrets", "migrations-reviewed"] {
            let tick = Command::Tick { step: StepId::new("pre-flight"), item: ItemId::new(item) };
            app.execute(&id, tick, actor(), RequestId::generate()).await.unwrap();
        }
        let approver = Actor::new(Platform::Api, "approver", "Approver").with_roles(["release-manager"]);
        let approve = Command::Approve { step: StepId::new("pre-flight") };
        app.execute(&id, approve, approver, RequestId::generate()).await.unwrap();
        ids.push(id);
    }
    (app, ids)
}

/// 32 failing test results sent at once, as 32 CI clients would: the committer writes them
/// in one or a few transactions, also when they all meet on one release.
fn concurrent(c: &mut Criterion) {
    const AT_ONCE: usize = 32;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (releases, keyed) in [(AT_ONCE, false), (AT_ONCE, true), (1, false), (1, true)] {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let (app, ids) = runtime.block_on(app_with_releases(&url, releases));
        let counter = AtomicU64::new(0);
        let shape = if releases == 1 { "all on one release" } else { "each on its own release" };
        let keys = if keyed { "keyed" } else { "unkeyed" };
        let name = format!("app: {AT_ONCE} commands at once, {shape}, {keys} (SQLite, synchronous=FULL)");
        c.bench_function(&name, |b| {
            b.to_async(&runtime).iter(|| {
                let round = counter.fetch_add(1, Ordering::Relaxed);
                let tasks: Vec<_> = (0..AT_ONCE)
                    .map(|client| {
                        let (app, id) = (app.clone(), ids[client % ids.len()].clone());
                        let request = if keyed {
                            RequestId::new(format!("bench-{round}-{client}"))
                        } else {
                            RequestId::generate()
                        };
                        tokio::spawn(async move {
                            let test_result = Command::RecordTestResult(shipgate::domain::release::TestResult {
                                suite: "unit".into(),
                                passed: 417,
                                failed: 3,
                                skipped: 0,
                                flaky: Vec::new(),
                                url: None,
                            });
                            app.execute(&id, test_result, actor(), request).await.unwrap()
                        })
                    })
                    .collect();
                async move {
                    for task in tasks {
                        task.await.unwrap();
                    }
                }
            })
        });
    }
}

criterion_group!(benches, domain, durable, concurrent);
criterion_main!(benches);
