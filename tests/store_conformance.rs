//! The store's conformance suite. Every case is written once against `&Store` and runs on
//! SQLite (a file, and `sqlite::memory:`) always, and on PostgreSQL when
//! `TEST_DATABASE_URL` names an admin URL; each PostgreSQL test gets its own database.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use shipgate::app::retention::{sweep, Removed, Retention};
use shipgate::domain::drill::{Reminder, ROLLBACK_DRILL};
use shipgate::domain::freeze::FreezeVerdict;
use shipgate::domain::lock::{Lock, LockEnd, LockId, LockMode};
use shipgate::domain::playbook::Playbook;
use shipgate::domain::release::{
    Artifact, DeploymentReport, Environment, Event, HealthCheck, LiveDeployment, Outcome, Recorded,
};
use shipgate::domain::StepId;
use shipgate::domain::{Actor, ArtifactDigest, GitSha, Platform, ReleaseId, RequestId, ServiceName, Version};
use shipgate::store::testing::{fresh_postgres, fresh_sqlite, postgres_url_from_env};
use shipgate::store::{
    ChatMessageRef, Commit, CommitError, Conflict, EndWrite, HoldChange, LiveChange, LockWrite, NewOutboxMessage,
    OutboxMessage, ReleaseFilter, ReleaseRow, RetainedTable, Store, StoreError, StoredResponse,
};
use std::sync::Arc;

/// Generates, for each case, one test per backend: `sqlite_file::case`,
/// `sqlite_memory::case` and `postgres::case`.
macro_rules! conformance {
    ($($case:ident),+ $(,)?) => {
        mod sqlite_file {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let dir = tempfile::tempdir().expect("temporary directory");
                    let store = super::fresh_sqlite(dir.path()).await;
                    super::$case(&store).await;
                }
            )+
        }

        mod sqlite_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let store = super::Store::connect("sqlite::memory:").await.expect("in-memory store");
                    store.migrate().await.expect("migrate in-memory store");
                    super::$case(&store).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(admin_url) = super::postgres_url_from_env() else {
                        eprintln!("skipped: set TEST_DATABASE_URL to run the PostgreSQL conformance tests");
                        return;
                    };
                    let store = super::fresh_postgres(&admin_url).await.expect("fresh PostgreSQL test database");
                    super::$case(&store).await;
                }
            )+
        }
    };
}

conformance!(
    append_and_load_round_trip,
    projection_follows_the_latest_commit,
    sequence_conflict_writes_nothing,
    stale_or_early_commits_without_events_conflict,
    duplicate_request_id_writes_nothing,
    group_commit_lands_every_commit,
    batch_with_conflicts_fails_only_those,
    commits_for_one_release_in_one_batch_apply_in_order,
    a_commit_built_on_a_failed_one_of_its_batch_fails_too,
    concurrent_commits_on_one_release_one_wins,
    misnumbered_events_fail_only_their_commit,
    reused_outbox_key_fails_only_its_commit,
    production_hold_rules,
    live_set_keep_and_clear,
    list_releases_filters_and_orders,
    outbox_delivery_bookkeeping,
    outbox_message_without_lane_fails_only_its_commit,
    lanes_keep_order_and_a_waiting_first_message_blocks_its_lane,
    lane_leases_exclude_renew_expire_and_release,
    racing_claims_of_one_lane_one_wins,
    messages_queued_once_are_never_queued_twice,
    mark_delivered_many_is_all_or_nothing,
    chat_message_ids_round_trip_and_the_first_is_kept,
    racing_records_of_one_chat_message_keep_one,
    a_deleted_chat_message_is_replaced_once,
    stored_response_round_trip,
    migrate_twice_and_ping,
    locks_round_trip_with_their_announcements_and_replay_by_request,
    a_lock_ends_once_and_a_repeat_of_the_unlock_is_told_apart,
    expired_locks_are_those_open_past_their_end,
    racing_ends_of_one_lock_one_wins,
    retention_removes_only_delivered_messages_and_answers_older_than_the_cutoff,
    retention_removes_in_batches_of_the_size_asked,
    watches_are_due_by_their_time_and_leased_to_one_holder,
    rollback_hooks_are_due_by_their_time_and_leased_apart_from_watches,
    services_are_listed_with_their_first_sighting_and_last_completed_drill,
    staging_deploys_come_newest_first_with_the_artifact_each_shipped,
    a_drill_reminder_is_recorded_once_with_its_message_however_many_race,
);

// ----------------------------------------------------------------------------------------
// Building commits as the app would
// ----------------------------------------------------------------------------------------

/// A fixed moment plus `seconds`: whole seconds, so row times compare exactly.
fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).single().expect("valid time") + Duration::seconds(seconds)
}

fn actor() -> Actor {
    Actor::new(Platform::Api, "ci", "CI")
}

fn new_release() -> ReleaseId {
    ReleaseId::generate()
}

fn started_event(service: &str) -> Event {
    Event::Started {
        service: ServiceName::new(service),
        version: Version::parse("1.4.0").expect("version"),
        git_sha: GitSha::parse("3f9c2e1").expect("git sha"),
        hotfix: false,
        channel: Some(shipgate::domain::ChatChannel::new(shipgate::domain::ChatPlatform::Discord, "100")),
        playbook: Box::new(Playbook::ship_to_production()),
        freeze_at_start: Some(FreezeVerdict::Open),
        last_drill: None,
    }
}

fn ticked_event(item: usize) -> Event {
    let playbook = Playbook::ship_to_production();
    let step = &playbook.steps[0];
    Event::ItemTicked { step: step.id.clone(), item: step.items[item % step.items.len()].id.clone() }
}

fn projection(release: &ReleaseId, service: &str, seq: u64, started_at: DateTime<Utc>) -> ReleaseRow {
    ReleaseRow {
        id: release.clone(),
        service: ServiceName::new(service),
        version: "1.4.0".to_owned(),
        git_sha: "3f9c2e1".to_owned(),
        playbook: "ship-to-production".to_owned(),
        status: "active".to_owned(),
        current_step: 1,
        current_step_id: "pre-flight".to_owned(),
        current_step_title: "Pre-flight".to_owned(),
        hotfix: false,
        started_by: "CI".to_owned(),
        started_at,
        updated_at: started_at,
        seq,
        watch_due_at: None,
        hook_due_at: None,
    }
}

/// A commit appending `events` (taking `at` as their time) after `expected_seq`, with the
/// projection, one outbox message and the answer to request `request`.
fn commit_with(
    release: &ReleaseId,
    service: &str,
    expected_seq: u64,
    events: Vec<Event>,
    when: DateTime<Utc>,
    request: &str,
) -> Commit {
    let request_id = RequestId::new(request);
    let events: Vec<Recorded> = events
        .into_iter()
        .enumerate()
        .map(|(offset, event)| Recorded {
            seq: expected_seq + offset as u64 + 1,
            at: when,
            actor: actor(),
            request_id: request_id.clone(),
            event,
        })
        .collect();
    let seq = expected_seq + events.len() as u64;
    let mut row = projection(release, service, seq, when);
    row.updated_at = when;
    Commit {
        release_id: release.clone(),
        service: ServiceName::new(service),
        expected_seq,
        events,
        projection: row,
        outbox: vec![NewOutboxMessage {
            idempotency_key: format!("{release}:{seq}:{request}"),
            release_id: release.clone(),
            lane: release.to_string(),
            kind: "step_card".to_owned(),
            payload: json!({ "release": release.as_str(), "seq": seq }),
        }],
        response: Some(StoredResponse {
            request_id,
            release_id: release.clone(),
            status: 200,
            body: serde_json::value::to_raw_value(&json!({ "seq": seq })).expect("raw json"),
            fingerprint: Some(format!("{request}:{seq}")),
        }),
        hold: HoldChange::Keep,
        live: LiveChange::Keep,
    }
}

fn start(release: &ReleaseId, service: &str, when: DateTime<Utc>) -> Commit {
    let mut commit = commit_with(release, service, 0, vec![started_event(service)], when, &format!("start-{release}"));
    commit.projection.started_at = when;
    commit
}

fn tick(release: &ReleaseId, service: &str, expected_seq: u64, when: DateTime<Utc>, request: &str) -> Commit {
    commit_with(release, service, expected_seq, vec![ticked_event(expected_seq as usize)], when, request)
}

async fn commit_one(store: &Store, commit: Commit) -> Result<(), CommitError> {
    let mut results = store.commit(vec![commit]).await;
    assert_eq!(results.len(), 1);
    results.remove(0)
}

async fn commit_ok(store: &Store, commits: Vec<Commit>) {
    for (index, result) in store.commit(commits).await.into_iter().enumerate() {
        if let Err(error) = result {
            panic!("commit {index} failed: {error:?}");
        }
    }
}

fn conflict_of(result: Result<(), CommitError>) -> Conflict {
    match result {
        Err(CommitError::Conflict(conflict)) => conflict,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// Every undelivered message, whenever due.
async fn all_pending(store: &Store) -> Vec<OutboxMessage> {
    store.pending_outbox(at(1_000_000), 500).await.expect("pending outbox")
}

/// What a release has stored, to show that a failed commit wrote nothing.
#[derive(Debug, PartialEq)]
struct Stored {
    events: Vec<Recorded>,
    row: Option<ReleaseRow>,
    outbox: Vec<OutboxMessage>,
    holder: Option<ReleaseId>,
    live: Option<LiveDeployment>,
}

async fn stored(store: &Store, release: &ReleaseId, service: &str) -> Stored {
    let service = ServiceName::new(service);
    Stored {
        events: store.load_events(release).await.expect("load events"),
        row: store.release_row(release).await.expect("release row"),
        outbox: all_pending(store).await,
        holder: store.production_holder(&service).await.expect("holder"),
        live: store.live(&service).await.expect("live"),
    }
}

// ----------------------------------------------------------------------------------------
// The cases
// ----------------------------------------------------------------------------------------

async fn append_and_load_round_trip(store: &Store) {
    let release = new_release();
    // Nanoseconds on purpose: event times must come back exactly, beyond PostgreSQL's
    // microseconds.
    let started = at(0) + Duration::nanoseconds(123_456_789);
    let ticked = at(5) + Duration::nanoseconds(999_999_999);
    let first = start(&release, "api", started);
    let second = commit_with(&release, "api", 1, vec![ticked_event(0), ticked_event(1)], ticked, "tick-both");
    let mut expected = first.events.clone();
    expected.extend(second.events.clone());

    commit_ok(store, vec![first]).await;
    commit_ok(store, vec![second]).await;

    let loaded = store.load_events(&release).await.expect("load events");
    assert_eq!(loaded, expected);
    assert_eq!(loaded.iter().map(|recorded| recorded.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert!(store.load_events(&new_release()).await.expect("load unknown").is_empty());
}

async fn projection_follows_the_latest_commit(store: &Store) {
    let release = new_release();
    let first = start(&release, "api", at(0));
    assert_eq!(store.release_row(&release).await.expect("row"), None);
    commit_ok(store, vec![first.clone()]).await;
    assert_eq!(store.release_row(&release).await.expect("row"), Some(first.projection));

    let mut second = tick(&release, "api", 1, at(30), "tick-1");
    second.projection.status = "rolling_back".to_owned();
    second.projection.current_step = 2;
    second.projection.current_step_id = "test-suite".to_owned();
    second.projection.current_step_title = "Test suite".to_owned();
    second.projection.started_at = at(0);
    commit_ok(store, vec![second.clone()]).await;
    assert_eq!(store.release_row(&release).await.expect("row"), Some(second.projection.clone()));

    // What a release is (service, version, who started it, when) is written once, at start.
    let mut third = tick(&release, "api", 2, at(60), "tick-2");
    third.projection.service = ServiceName::new("renamed");
    third.projection.started_by = "someone else".to_owned();
    commit_ok(store, vec![third.clone()]).await;
    let row = store.release_row(&release).await.expect("row").expect("a row");
    assert_eq!((row.service.as_str(), row.started_by.as_str()), ("api", second.projection.started_by.as_str()));
    assert_eq!(row.seq, third.projection.seq);
}

async fn sequence_conflict_writes_nothing(store: &Store) {
    let release = new_release();
    commit_ok(store, vec![start(&release, "api", at(0))]).await;

    // Two commands decided on the same history (one event): the first appends seq 2,
    // the second finds its seq taken.
    let winner = tick(&release, "api", 1, at(10), "click-a");
    let loser = {
        let mut commit = tick(&release, "api", 1, at(11), "click-b");
        commit.projection.status = "aborted".to_owned();
        commit.hold = HoldChange::Acquire;
        commit.live = LiveChange::Clear;
        commit
    };
    commit_ok(store, vec![winner]).await;
    let before = stored(store, &release, "api").await;

    assert_eq!(conflict_of(commit_one(store, loser).await), Conflict::Sequence);

    assert_eq!(stored(store, &release, "api").await, before);
    assert_eq!(before.events.len(), 2);
    assert_eq!(store.stored_response(&RequestId::new("click-b")).await.expect("response"), None);
}

async fn stale_or_early_commits_without_events_conflict(store: &Store) {
    let release = new_release();
    commit_ok(store, vec![start(&release, "api", at(0)), tick(&release, "api", 1, at(1), "tick-1")]).await;
    let before = stored(store, &release, "api").await;

    // A command that appends nothing still decided on a history: if that history moved
    // on (or never existed), what it writes is stale.
    for expected_seq in [1, 3] {
        let mut commit = commit_with(&release, "api", expected_seq, vec![], at(2), &format!("noop-{expected_seq}"));
        commit.projection.status = "aborted".to_owned();
        assert_eq!(conflict_of(commit_one(store, commit).await), Conflict::Sequence, "expected_seq {expected_seq}");
    }
    assert_eq!(stored(store, &release, "api").await, before);

    // Decided on the current history, a commit without events lands.
    let mut current = commit_with(&release, "api", 2, vec![], at(3), "noop-2");
    current.projection.seq = 2;
    commit_ok(store, vec![current]).await;
    assert!(store.stored_response(&RequestId::new("noop-2")).await.expect("response").is_some());
}

async fn duplicate_request_id_writes_nothing(store: &Store) {
    let release = new_release();
    commit_ok(store, vec![start(&release, "api", at(0)), tick(&release, "api", 1, at(1), "interaction-1")]).await;
    let first_answer = store.stored_response(&RequestId::new("interaction-1")).await.expect("response");
    let before = stored(store, &release, "api").await;

    // A replay decided afresh on the current history: only the request id gives it away.
    let mut replay = tick(&release, "api", 2, at(2), "interaction-1");
    replay.hold = HoldChange::Acquire;
    replay.outbox[0].idempotency_key = "fresh-key".to_owned();
    assert_eq!(conflict_of(commit_one(store, replay).await), Conflict::Duplicate(RequestId::new("interaction-1")));

    assert_eq!(stored(store, &release, "api").await, before);
    assert_eq!(store.stored_response(&RequestId::new("interaction-1")).await.expect("response"), first_answer);
}

async fn group_commit_lands_every_commit(store: &Store) {
    let releases: Vec<ReleaseId> = (0..100).map(|_| new_release()).collect();
    let commits: Vec<Commit> = releases
        .iter()
        .enumerate()
        .map(|(i, release)| start(release, &format!("svc-{}", i % 7), at(i as i64)))
        .collect();
    let expected_keys: Vec<String> = commits.iter().map(|commit| commit.outbox[0].idempotency_key.clone()).collect();

    commit_ok(store, commits).await;

    for release in &releases {
        assert_eq!(store.load_events(release).await.expect("events").len(), 1);
        assert!(store.release_row(release).await.expect("row").is_some());
        assert!(store.stored_response(&RequestId::new(format!("start-{release}"))).await.expect("response").is_some());
    }
    let listed = store.list_releases(&ReleaseFilter { limit: Some(500), ..ReleaseFilter::default() }).await;
    assert_eq!(listed.expect("list").len(), 100);
    // Messages are queued in the order the commits were given.
    let pending = all_pending(store).await;
    assert_eq!(pending.iter().map(|message| message.idempotency_key.clone()).collect::<Vec<_>>(), expected_keys);
}

async fn batch_with_conflicts_fails_only_those(store: &Store) {
    let (moved_on, fresh_a, fresh_b, replayed, held) =
        (new_release(), new_release(), new_release(), new_release(), new_release());
    let holder = new_release();
    commit_ok(
        store,
        vec![
            start(&moved_on, "api", at(0)),
            tick(&moved_on, "api", 1, at(1), "moved-on-tick"),
            start(&replayed, "web", at(0)),
            start(&holder, "db", at(0)),
            start(&held, "db", at(0)),
        ],
    )
    .await;
    let mut take_db = tick(&holder, "db", 1, at(2), "holder-enters-production");
    take_db.hold = HoldChange::Acquire;
    commit_ok(store, vec![take_db]).await;
    let before_moved_on = stored(store, &moved_on, "api").await;
    let before_held = stored(store, &held, "db").await;

    let mut replay = tick(&replayed, "web", 1, at(3), "moved-on-tick");
    replay.outbox[0].idempotency_key = "replay-key".to_owned();
    let mut enter_production = tick(&held, "db", 1, at(3), "held-enters-production");
    enter_production.hold = HoldChange::Acquire;
    let results = store
        .commit(vec![
            start(&fresh_a, "api", at(3)),
            tick(&moved_on, "api", 1, at(3), "stale-tick"),
            start(&fresh_b, "web", at(3)),
            replay,
            enter_production,
        ])
        .await;

    let mut results = results.into_iter();
    assert!(matches!(results.next(), Some(Ok(()))));
    assert_eq!(conflict_of(results.next().expect("result 2")), Conflict::Sequence);
    assert!(matches!(results.next(), Some(Ok(()))));
    assert_eq!(conflict_of(results.next().expect("result 4")), Conflict::Duplicate(RequestId::new("moved-on-tick")));
    assert_eq!(conflict_of(results.next().expect("result 5")), Conflict::ProductionHeld(holder.clone()));
    assert!(results.next().is_none());

    for landed in [&fresh_a, &fresh_b] {
        assert_eq!(store.load_events(landed).await.expect("events").len(), 1);
    }
    assert_eq!(store.load_events(&replayed).await.expect("events").len(), 1);
    assert_eq!(stored(store, &held, "db").await.events, before_held.events);
    assert_eq!(store.release_row(&held).await.expect("row"), before_held.row);
    assert_eq!(store.release_row(&moved_on).await.expect("row"), before_moved_on.row);
    assert_eq!(store.load_events(&moved_on).await.expect("events"), before_moved_on.events);
    assert_eq!(store.production_holder(&ServiceName::new("db")).await.expect("holder"), Some(holder));
    let keys: Vec<String> = all_pending(store).await.into_iter().map(|message| message.idempotency_key).collect();
    assert!(!keys.contains(&"replay-key".to_owned()));
    assert!(!keys.iter().any(|key| key.ends_with("stale-tick") || key.ends_with("held-enters-production")));
}

async fn commits_for_one_release_in_one_batch_apply_in_order(store: &Store) {
    let release = new_release();
    let last = tick(&release, "api", 2, at(2), "tick-2");
    commit_ok(store, vec![start(&release, "api", at(0)), tick(&release, "api", 1, at(1), "tick-1"), last.clone()])
        .await;

    let events = store.load_events(&release).await.expect("events");
    assert_eq!(events.iter().map(|recorded| recorded.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(store.release_row(&release).await.expect("row"), Some(last.projection));
}

/// The app decides a command on top of one still being written; both may meet in one
/// batch. When the first fails, the second claims events that were never written, and must
/// fail even where the history has meanwhile grown to the length it expects.
async fn a_commit_built_on_a_failed_one_of_its_batch_fails_too(store: &Store) {
    let (release, answered) = (new_release(), new_release());
    commit_ok(store, vec![start(&release, "api", at(0)), start(&answered, "web", at(0))]).await;
    commit_ok(store, vec![tick(&answered, "web", 1, at(1), "answered-before")]).await;
    let before = stored(store, &release, "api").await;

    // Fails: its request was answered before. The next commit was decided on top of it.
    let replayed = tick(&release, "api", 1, at(2), "answered-before");
    let built_on_replayed = tick(&release, "api", 2, at(2), "built-on-replayed");
    // Another writer's command on the stored history: alone, it succeeds, and the history
    // then has the length the commit built on the failed one expects.
    let other_writer = tick(&release, "api", 1, at(2), "other-writer");
    let results = store.commit(vec![replayed, other_writer.clone(), built_on_replayed]).await;

    let mut results = results.into_iter();
    assert_eq!(conflict_of(results.next().expect("result 1")), Conflict::Duplicate(RequestId::new("answered-before")));
    assert!(matches!(results.next(), Some(Ok(()))), "the other writer's commit stands on its own");
    assert_eq!(conflict_of(results.next().expect("result 3")), Conflict::Sequence);
    let events = store.load_events(&release).await.expect("events");
    assert_eq!(events.len(), before.events.len() + 1);
    assert_eq!(events.last().map(|e| e.request_id.clone()), Some(RequestId::new("other-writer")));
    let row = store.release_row(&release).await.expect("row").expect("a listing row");
    assert_eq!(row.seq, other_writer.projection.seq);
}

async fn concurrent_commits_on_one_release_one_wins(store: &Store) {
    let release = new_release();
    commit_ok(store, vec![start(&release, "api", at(0))]).await;

    let racers: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let commit = tick(&release, "api", 1, at(1), &format!("racer-{i}"));
            tokio::spawn(async move { commit_one(&store, commit).await })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        match racer.await.expect("racer task") {
            Ok(()) => won += 1,
            Err(CommitError::Conflict(Conflict::Sequence)) => {}
            Err(other) => panic!("unexpected commit error: {other:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(store.load_events(&release).await.expect("events").len(), 2);
    assert_eq!(all_pending(store).await.len(), 2);
}

async fn misnumbered_events_fail_only_their_commit(store: &Store) {
    let (good, bad) = (new_release(), new_release());
    let mut misnumbered = start(&bad, "api", at(0));
    misnumbered.events[0].seq = 7;

    let results = store.commit(vec![start(&good, "api", at(0)), misnumbered]).await;

    assert!(results[0].is_ok());
    assert!(matches!(&results[1], Err(CommitError::Database(_))), "{:?}", results[1]);
    assert_eq!(store.load_events(&good).await.expect("events").len(), 1);
    assert!(store.load_events(&bad).await.expect("events").is_empty());
    assert_eq!(store.release_row(&bad).await.expect("row"), None);
}

async fn reused_outbox_key_fails_only_its_commit(store: &Store) {
    let (first, second, third) = (new_release(), new_release(), new_release());
    let mut reuses_key = start(&second, "api", at(0));
    reuses_key.outbox[0].idempotency_key = "shared-key".to_owned();
    let mut owns_key = start(&first, "api", at(0));
    owns_key.outbox[0].idempotency_key = "shared-key".to_owned();

    let results = store.commit(vec![owns_key, reuses_key, start(&third, "api", at(0))]).await;

    assert!(results[0].is_ok());
    assert!(matches!(&results[1], Err(CommitError::Database(_))), "{:?}", results[1]);
    assert!(results[2].is_ok());
    assert!(store.load_events(&second).await.expect("events").is_empty());
    assert_eq!(all_pending(store).await.len(), 2);
}

async fn production_hold_rules(store: &Store) {
    let service = ServiceName::new("api");
    let (a, b) = (new_release(), new_release());
    commit_ok(store, vec![start(&a, "api", at(0)), start(&b, "api", at(0))]).await;
    let with_hold = |release: &ReleaseId, expected_seq: u64, hold: HoldChange, request: &str| {
        let mut commit = tick(release, "api", expected_seq, at(expected_seq as i64), request);
        commit.hold = hold;
        commit
    };
    assert_eq!(store.production_holder(&service).await.expect("holder"), None);

    commit_ok(store, vec![with_hold(&a, 1, HoldChange::Acquire, "a-enters")]).await;
    assert_eq!(store.production_holder(&service).await.expect("holder"), Some(a.clone()));

    // Another release entering production is refused, and writes nothing.
    let b_enters = with_hold(&b, 1, HoldChange::Acquire, "b-enters");
    assert_eq!(conflict_of(commit_one(store, b_enters).await), Conflict::ProductionHeld(a.clone()));
    assert_eq!(store.load_events(&b).await.expect("events").len(), 1);

    // The holder taking it again is fine; another release letting go changes nothing.
    commit_ok(store, vec![with_hold(&a, 2, HoldChange::Acquire, "a-again")]).await;
    commit_ok(store, vec![with_hold(&b, 1, HoldChange::Release, "b-lets-go")]).await;
    assert_eq!(store.production_holder(&service).await.expect("holder"), Some(a.clone()));
    commit_ok(store, vec![with_hold(&b, 2, HoldChange::Keep, "b-keeps")]).await;
    assert_eq!(store.production_holder(&service).await.expect("holder"), Some(a.clone()));

    commit_ok(store, vec![with_hold(&a, 3, HoldChange::Release, "a-lets-go")]).await;
    assert_eq!(store.production_holder(&service).await.expect("holder"), None);

    // Free again: within one batch, a release and an acquire by the next apply in order.
    let (c, d) = (new_release(), new_release());
    commit_ok(store, vec![start(&c, "api", at(10)), start(&d, "api", at(10))]).await;
    commit_ok(store, vec![with_hold(&c, 1, HoldChange::Acquire, "c-enters")]).await;
    commit_ok(
        store,
        vec![with_hold(&c, 2, HoldChange::Release, "c-completes"), with_hold(&d, 1, HoldChange::Acquire, "d-enters")],
    )
    .await;
    assert_eq!(store.production_holder(&service).await.expect("holder"), Some(d));
    assert_eq!(store.production_holder(&ServiceName::new("web")).await.expect("holder"), None);
}

async fn live_set_keep_and_clear(store: &Store) {
    let service = ServiceName::new("api");
    let (first, second) = (new_release(), new_release());
    let deployment = |release: &ReleaseId, version: &str, hex: char| LiveDeployment {
        release_id: release.clone(),
        version: Version::parse(version).expect("version"),
        digest: ArtifactDigest::parse(&format!("sha256:{}", hex.to_string().repeat(64))).expect("digest"),
    };
    commit_ok(store, vec![start(&first, "api", at(0)), start(&second, "api", at(0))]).await;
    assert_eq!(store.live(&service).await.expect("live"), None);

    let mut deploy_first = tick(&first, "api", 1, at(1), "deploy-first");
    deploy_first.live = LiveChange::Set(deployment(&first, "1.4.0", 'a'));
    commit_ok(store, vec![deploy_first]).await;
    assert_eq!(store.live(&service).await.expect("live"), Some(deployment(&first, "1.4.0", 'a')));

    let mut deploy_second = tick(&second, "api", 1, at(2), "deploy-second");
    deploy_second.live = LiveChange::Set(deployment(&second, "v1.5", 'b'));
    commit_ok(store, vec![deploy_second]).await;
    assert_eq!(store.live(&service).await.expect("live"), Some(deployment(&second, "v1.5", 'b')));

    commit_ok(store, vec![tick(&second, "api", 2, at(3), "keep")]).await;
    assert_eq!(store.live(&service).await.expect("live"), Some(deployment(&second, "v1.5", 'b')));

    let mut rolled_back = tick(&second, "api", 3, at(4), "rolled-back");
    rolled_back.live = LiveChange::Clear;
    commit_ok(store, vec![rolled_back]).await;
    assert_eq!(store.live(&service).await.expect("live"), None);
}

async fn list_releases_filters_and_orders(store: &Store) {
    // (service, status, started at): two share a start time, so ids break the tie.
    let specs = [
        ("api", "active", 10),
        ("api", "completed", 20),
        ("web", "active", 30),
        ("api", "active", 40),
        ("api", "active", 40),
        ("web", "aborted", 50),
    ];
    let mut commits = Vec::new();
    for (service, status, started) in specs {
        let mut commit = start(&new_release(), service, at(started));
        commit.projection.status = status.to_owned();
        commits.push(commit);
    }
    let rows: Vec<ReleaseRow> = commits.iter().map(|commit| commit.projection.clone()).collect();
    commit_ok(store, commits).await;

    let newest_first = |mut expected: Vec<ReleaseRow>| {
        expected.sort_by(|x, y| (y.started_at, y.id.as_str()).cmp(&(x.started_at, x.id.as_str())));
        expected
    };
    let list = |service: Option<&str>, status: Option<&str>, limit: Option<u32>| {
        let filter = ReleaseFilter { service: service.map(ServiceName::new), status: status.map(str::to_owned), limit };
        async move { store.list_releases(&filter).await.expect("list releases") }
    };

    assert_eq!(list(None, None, None).await, newest_first(rows.clone()));
    assert_eq!(
        list(Some("api"), None, None).await,
        newest_first(rows.iter().filter(|row| row.service.as_str() == "api").cloned().collect())
    );
    assert_eq!(
        list(None, Some("active"), None).await,
        newest_first(rows.iter().filter(|row| row.status == "active").cloned().collect())
    );
    assert_eq!(
        list(Some("api"), Some("active"), Some(2)).await,
        newest_first(
            rows.iter().filter(|row| row.service.as_str() == "api" && row.status == "active").cloned().collect()
        )[..2]
            .to_vec()
    );
    assert_eq!(list(None, None, Some(1)).await, newest_first(rows.clone())[..1].to_vec());
    assert_eq!(list(None, None, Some(10_000)).await.len(), rows.len());
    assert!(list(Some("nope"), None, None).await.is_empty());
}

async fn outbox_delivery_bookkeeping(store: &Store) {
    let release = new_release();
    let mut commit = start(&release, "api", at(100));
    commit.outbox.push(NewOutboxMessage {
        idempotency_key: format!("{release}:announce"),
        release_id: release.clone(),
        lane: "channel:100".to_owned(),
        kind: "release_started".to_owned(),
        payload: json!({ "content": "Release 1.4.0 started", "embeds": [] }),
    });
    let made = commit.outbox.clone();
    commit_ok(store, vec![commit]).await;

    // Due from the commit's time (its first event's), not before.
    assert!(store.pending_outbox(at(99), 10).await.expect("pending").is_empty());
    let pending = store.pending_outbox(at(100), 10).await.expect("pending");
    assert_eq!(pending.len(), 2);
    for (message, made) in pending.iter().zip(&made) {
        assert_eq!(message.idempotency_key, made.idempotency_key);
        assert_eq!(message.release_id, made.release_id);
        assert_eq!(message.lane, made.lane);
        assert_eq!(message.kind, made.kind);
        assert_eq!(message.payload, made.payload);
        assert_eq!((message.attempts, message.created_at, message.next_attempt_at), (0, at(100), at(100)));
        assert_eq!((message.delivered_at, message.last_error.as_deref()), (None, None));
    }
    assert!(pending[0].id < pending[1].id);
    assert_eq!(store.pending_outbox(at(100), 1).await.expect("pending"), pending[..1].to_vec());

    let (first, second) = (pending[0].id, pending[1].id);
    store.mark_failed(first, "429 Too Many Requests", at(160)).await.expect("mark failed");
    assert_eq!(
        store.pending_outbox(at(159), 10).await.expect("pending").iter().map(|m| m.id).collect::<Vec<_>>(),
        [second]
    );
    store.mark_failed(first, "502 Bad Gateway", at(220)).await.expect("mark failed again");
    let due = store.pending_outbox(at(220), 10).await.expect("pending");
    assert_eq!(due.len(), 2);
    assert_eq!(due[0].id, first);
    assert_eq!((due[0].attempts, due[0].next_attempt_at), (2, at(220)));
    assert_eq!(due[0].last_error.as_deref(), Some("502 Bad Gateway"));

    store.mark_delivered(second, at(221), Some("1234567890")).await.expect("mark delivered");
    store.mark_delivered(first, at(222), None).await.expect("mark delivered");
    assert!(all_pending(store).await.is_empty());

    assert!(matches!(
        store.mark_delivered(first + second + 1000, at(223), None).await,
        Err(StoreError::Database(sqlx::Error::RowNotFound))
    ));
    assert!(matches!(
        store.mark_failed(first + second + 1000, "gone", at(223)).await,
        Err(StoreError::Database(sqlx::Error::RowNotFound))
    ));
}

async fn outbox_message_without_lane_fails_only_its_commit(store: &Store) {
    let (good, bad) = (new_release(), new_release());
    let mut laneless = start(&bad, "api", at(0));
    laneless.outbox[0].lane = String::new();

    let results = store.commit(vec![start(&good, "api", at(0)), laneless]).await;

    assert!(results[0].is_ok());
    assert!(matches!(&results[1], Err(CommitError::Database(_))), "{:?}", results[1]);
    assert!(store.load_events(&bad).await.expect("events").is_empty());
    assert_eq!(all_pending(store).await.len(), 1);
}

/// A message for `lane`, named `name` (its idempotency key).
fn lane_message(release: &ReleaseId, lane: &str, name: &str) -> NewOutboxMessage {
    NewOutboxMessage {
        idempotency_key: format!("{release}:{name}"),
        release_id: release.clone(),
        lane: lane.to_owned(),
        kind: "step_card".to_owned(),
        payload: json!({ "name": name }),
    }
}

/// Starts a release at `when` whose commit queues `messages` ((lane, name) pairs), in
/// that order; answers the messages as stored, in the same order.
async fn queue(store: &Store, when: DateTime<Utc>, messages: &[(&str, &str)]) -> Vec<OutboxMessage> {
    let release = new_release();
    let mut commit = start(&release, "api", when);
    commit.outbox = messages.iter().map(|(lane, name)| lane_message(&release, lane, name)).collect();
    let keys: Vec<String> = commit.outbox.iter().map(|message| message.idempotency_key.clone()).collect();
    commit_ok(store, vec![commit]).await;
    let pending = all_pending(store).await;
    keys.iter()
        .map(|key| pending.iter().find(|message| &message.idempotency_key == key).expect("queued message").clone())
        .collect()
}

async fn due(store: &Store, now: DateTime<Utc>) -> Vec<String> {
    store.due_lanes(now, 100).await.expect("due lanes").into_iter().map(|due| due.lane).collect()
}

/// The due lanes whose last holder never let go.
async fn abandoned(store: &Store, now: DateTime<Utc>) -> Vec<String> {
    let due = store.due_lanes(now, 100).await.expect("due lanes");
    due.into_iter().filter(|due| due.abandoned).map(|due| due.lane).collect()
}

async fn backlog_names(store: &Store, lane: &str) -> Vec<String> {
    let backlog = store.lane_backlog(lane, 100).await.expect("lane backlog");
    assert!(backlog.iter().all(|message| message.lane == lane && message.delivered_at.is_none()));
    backlog.into_iter().map(|message| message.payload["name"].as_str().expect("name").to_owned()).collect()
}

async fn lanes_keep_order_and_a_waiting_first_message_blocks_its_lane(store: &Store) {
    let (a, b, c) = ("release-a", "channel:200", "channel:300");
    let queued = queue(store, at(100), &[(a, "a1"), (b, "b1"), (a, "a2"), (c, "c1")]).await;
    let [a1, b1, a2, c1] = [0, 1, 2, 3].map(|index| queued[index].id);
    assert!(a1 < b1 && b1 < a2 && a2 < c1);

    // Due from the commit's time; the lane with the oldest message first.
    assert!(due(store, at(99)).await.is_empty());
    assert_eq!(due(store, at(100)).await, [a, b, c]);
    let first_two = store.due_lanes(at(100), 2).await.expect("due lanes");
    assert_eq!(first_two.iter().map(|due| due.lane.as_str()).collect::<Vec<_>>(), [a, b]);
    assert_eq!(backlog_names(store, a).await, ["a1", "a2"]);
    assert_eq!(store.lane_backlog(a, 1).await.expect("lane backlog"), queued[..1].to_vec());
    assert!(store.lane_backlog("no-such-lane", 10).await.expect("lane backlog").is_empty());

    // a1 waits for a retry: lane a waits with it, though a2 is due.
    store.mark_failed(a1, "503 Service Unavailable", at(300)).await.expect("mark failed");
    assert_eq!(due(store, at(200)).await, [b, c]);
    assert_eq!(backlog_names(store, a).await, ["a1", "a2"]);
    assert_eq!(due(store, at(300)).await, [a, b, c]);

    // Once a1 is out, lane a's oldest message is a2, made after b1.
    store.mark_delivered(a1, at(301), Some("m-a1")).await.expect("mark delivered");
    assert_eq!(backlog_names(store, a).await, ["a2"]);
    assert_eq!(due(store, at(301)).await, [b, a, c]);

    // A lane with nothing left to deliver is never due.
    store.mark_delivered(b1, at(302), Some("m-b1")).await.expect("mark delivered");
    assert_eq!(due(store, at(302)).await, [a, c]);
    assert!(backlog_names(store, b).await.is_empty());
    let pending: Vec<i64> = all_pending(store).await.iter().map(|message| message.id).collect();
    assert_eq!(pending, [a2, c1]);
}

async fn lane_leases_exclude_renew_expire_and_release(store: &Store) {
    let lane = "release-leased";
    let other = "channel:400";
    queue(store, at(0), &[(lane, "first"), (other, "elsewhere")]).await;

    // A held lane is not due, not even to its holder; other lanes are.
    assert!(store.claim_lane(lane, "one", at(10), at(40)).await.expect("claim"));
    assert_eq!(due(store, at(10)).await, [other]);
    assert!(!store.claim_lane(lane, "two", at(20), at(50)).await.expect("claim"));

    // The holder renews; the lease runs to the new time.
    assert!(store.claim_lane(lane, "one", at(30), at(60)).await.expect("renew"));
    assert!(!store.claim_lane(lane, "two", at(45), at(75)).await.expect("claim"));
    assert_eq!(due(store, at(59)).await, [other]);

    // Only the holder lets go.
    store.release_lane(lane, "two").await.expect("release someone else's lease");
    assert!(!store.claim_lane(lane, "two", at(50), at(80)).await.expect("claim"));

    // At its end the lease is free: the lane is due and another holder takes it over,
    // after which the old holder can no longer renew.
    assert_eq!(due(store, at(60)).await, [lane, other]);
    assert_eq!(abandoned(store, at(60)).await, [lane], "its holder never let go");
    assert!(store.claim_lane(lane, "two", at(60), at(90)).await.expect("take over"));
    assert!(!store.claim_lane(lane, "one", at(61), at(91)).await.expect("stale renew"));
    assert_eq!(due(store, at(61)).await, [other]);

    // Released, the lane is free at once.
    store.release_lane(lane, "two").await.expect("release");
    assert_eq!(due(store, at(62)).await, [lane, other]);
    assert!(store.claim_lane(lane, "one", at(62), at(92)).await.expect("claim"));
    store.release_lane("never-leased", "one").await.expect("release an unknown lane");

    // A holder starting again ends all it held, and nobody else's; what it held shows as
    // abandoned (its delivery may have been cut short), a lane let go of properly does not.
    assert!(store.claim_lane(other, "two", at(62), at(92)).await.expect("claim"));
    assert!(abandoned(store, at(62)).await.is_empty());
    assert_eq!(store.expire_lanes_of("one").await.expect("expire all"), 1);
    assert_eq!(due(store, at(63)).await, [lane]);
    assert_eq!(abandoned(store, at(63)).await, [lane]);
    assert!(!store.claim_lane(other, "one", at(63), at(93)).await.expect("still two's"));
    // Claimed again and let go of, it is an ordinary lane.
    assert!(store.claim_lane(lane, "one", at(63), at(93)).await.expect("claim"));
    store.release_lane(lane, "one").await.expect("release");
    assert!(abandoned(store, at(64)).await.is_empty());
}

async fn messages_queued_once_are_never_queued_twice(store: &Store) {
    let lane = "release-once";
    let queued = queue(store, at(0), &[(lane, "first")]).await;
    let release = queued[0].release_id.clone();
    let refresh = lane_message(&release, lane, "refresh");
    assert_eq!(store.enqueue_once(std::slice::from_ref(&refresh), at(5)).await.expect("enqueue"), 1);
    // Again, and beside a message a command queued: neither is queued a second time.
    let again = [refresh, lane_message(&release, lane, "first")];
    assert_eq!(store.enqueue_once(&again, at(6)).await.expect("enqueue again"), 0);
    assert_eq!(backlog_names(store, lane).await, ["first", "refresh"]);
    assert_eq!(due(store, at(5)).await, [lane]);
}

async fn racing_claims_of_one_lane_one_wins(store: &Store) {
    for round in 0..40 {
        let lane = format!("race-{round}");
        // Every other round races for an expired lease rather than a free lane.
        if round % 2 == 1 {
            assert!(store.claim_lane(&lane, "crashed", at(0), at(5)).await.expect("first claim"));
        }
        let gate = Arc::new(tokio::sync::Barrier::new(2));
        let racers: Vec<_> = ["left", "right"]
            .into_iter()
            .map(|holder| {
                let (store, lane, gate) = (store.clone(), lane.clone(), gate.clone());
                tokio::spawn(async move {
                    gate.wait().await;
                    let won = store.claim_lane(&lane, holder, at(10), at(40)).await.expect("claim");
                    (holder, won)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for racer in racers {
            let (holder, won) = racer.await.expect("racer task");
            if won {
                winners.push(holder);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let loser = if winners[0] == "left" { "right" } else { "left" };
        assert!(!store.claim_lane(&lane, loser, at(11), at(41)).await.expect("claim"), "round {round}");
        assert!(store.claim_lane(&lane, winners[0], at(11), at(41)).await.expect("renew"), "round {round}");
    }
}

async fn mark_delivered_many_is_all_or_nothing(store: &Store) {
    let lane = "release-coalesced";
    let queued = queue(store, at(0), &[(lane, "card-1"), (lane, "card-2"), (lane, "card-3"), (lane, "card-4")]).await;
    let ids: Vec<i64> = queued.iter().map(|message| message.id).collect();

    // Superseded card edits are marked delivered without being sent; repeats are harmless.
    store.mark_delivered_many(&[ids[1], ids[0], ids[1]], at(5)).await.expect("mark delivered");
    assert_eq!(backlog_names(store, lane).await, ["card-3", "card-4"]);
    store.mark_delivered_many(&[], at(5)).await.expect("mark nothing");

    // An unknown id fails the call and marks none.
    let unknown = ids.iter().sum::<i64>() + 1000;
    assert!(matches!(
        store.mark_delivered_many(&[ids[2], unknown], at(6)).await,
        Err(StoreError::Database(sqlx::Error::RowNotFound))
    ));
    assert_eq!(backlog_names(store, lane).await, ["card-3", "card-4"]);

    store.mark_delivered_many(&ids[2..], at(7)).await.expect("mark delivered");
    assert!(backlog_names(store, lane).await.is_empty());
    assert!(all_pending(store).await.is_empty());
    assert!(due(store, at(7)).await.is_empty());
}

fn chat_ref(key: &str, channel_id: &str, message_id: &str) -> ChatMessageRef {
    ChatMessageRef { key: key.to_owned(), channel_id: channel_id.to_owned(), message_id: message_id.to_owned() }
}

async fn chat_message_ids_round_trip_and_the_first_is_kept(store: &Store) {
    let (release, other) = (new_release(), new_release());
    assert!(store.chat_messages(&release, "discord").await.expect("chat messages").is_empty());

    let thread = store.record_chat_message(&release, "discord", "thread", "100", "5001", at(0)).await;
    assert_eq!(thread.expect("record"), chat_ref("thread", "100", "5001"));
    let card = store.record_chat_message(&release, "discord", "card:3:1", "5001", "5002", at(1)).await;
    assert_eq!(card.expect("record"), chat_ref("card:3:1", "5001", "5002"));
    let rollback = store.record_chat_message(&release, "discord", "rollback:17:100", "100", "5003", at(2)).await;
    assert_eq!(rollback.expect("record"), chat_ref("rollback:17:100", "100", "5003"));
    let recorded = vec![
        chat_ref("thread", "100", "5001"),
        chat_ref("card:3:1", "5001", "5002"),
        chat_ref("rollback:17:100", "100", "5003"),
    ];
    assert_eq!(store.chat_messages(&release, "discord").await.expect("chat messages"), recorded);

    // A second message for the same key (a delivery that lost a race) gets the first back.
    let again = store.record_chat_message(&release, "discord", "thread", "101", "9999", at(3)).await;
    assert_eq!(again.expect("record"), chat_ref("thread", "100", "5001"));
    assert_eq!(store.chat_messages(&release, "discord").await.expect("chat messages"), recorded);

    // Keys are per release and per platform.
    let slack = store.record_chat_message(&release, "slack", "thread", "C042", "1700000000.000100", at(4)).await;
    assert_eq!(slack.expect("record"), chat_ref("thread", "C042", "1700000000.000100"));
    let elsewhere = store.record_chat_message(&other, "discord", "thread", "100", "6001", at(5)).await;
    assert_eq!(elsewhere.expect("record"), chat_ref("thread", "100", "6001"));
    assert_eq!(store.chat_messages(&release, "discord").await.expect("chat messages"), recorded);
    assert_eq!(
        store.chat_messages(&release, "slack").await.expect("chat messages"),
        [chat_ref("thread", "C042", "1700000000.000100")]
    );
    assert_eq!(
        store.chat_messages(&other, "discord").await.expect("chat messages"),
        [chat_ref("thread", "100", "6001")]
    );
    assert!(store.chat_messages(&other, "slack").await.expect("chat messages").is_empty());
}

async fn a_deleted_chat_message_is_replaced_once(store: &Store) {
    let release = new_release();
    store.record_chat_message(&release, "slack", "thread", "C042", "1.000100", at(0)).await.expect("record");
    store.record_chat_message(&release, "slack", "card:0:1", "C042", "1.000200", at(1)).await.expect("record");

    // The card was deleted in Slack and posted again: the new message stands for its key.
    let replaced = store
        .replace_chat_message(&release, "slack", "1.000200", &chat_ref("card:0:1", "C042", "1.000300"), at(2))
        .await;
    assert_eq!(replaced.expect("replace"), chat_ref("card:0:1", "C042", "1.000300"));
    // A second delivery that saw the same deletion replaces nothing: the first stays.
    let late = store
        .replace_chat_message(&release, "slack", "1.000200", &chat_ref("card:0:1", "C042", "1.000400"), at(3))
        .await;
    assert_eq!(late.expect("replace"), chat_ref("card:0:1", "C042", "1.000300"));
    assert_eq!(
        store.chat_messages(&release, "slack").await.expect("chat messages"),
        [chat_ref("thread", "C042", "1.000100"), chat_ref("card:0:1", "C042", "1.000300")]
    );
    // A key never recorded is recorded.
    let fresh = store
        .replace_chat_message(&release, "slack", "1.000500", &chat_ref("watch:1", "C042", "1.000600"), at(4))
        .await;
    assert_eq!(fresh.expect("replace"), chat_ref("watch:1", "C042", "1.000600"));
    // Nothing of another release or platform is touched.
    assert!(store.chat_messages(&release, "discord").await.expect("chat messages").is_empty());
}

async fn racing_records_of_one_chat_message_keep_one(store: &Store) {
    for round in 0..10 {
        let release = new_release();
        let gate = Arc::new(tokio::sync::Barrier::new(4));
        let racers: Vec<_> = (0..4)
            .map(|racer| {
                let (store, release, gate) = (store.clone(), release.clone(), gate.clone());
                tokio::spawn(async move {
                    gate.wait().await;
                    let message_id = format!("msg-{racer}");
                    store.record_chat_message(&release, "discord", "thread", "100", &message_id, at(racer)).await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for racer in racers {
            answers.push(racer.await.expect("racer task").expect("record"));
        }
        let kept = store.chat_messages(&release, "discord").await.expect("chat messages");
        assert_eq!(kept.len(), 1, "round {round}");
        assert!(answers.iter().all(|answer| *answer == kept[0]), "round {round}: {answers:?} kept {kept:?}");
    }
}

async fn stored_response_round_trip(store: &Store) {
    let release = new_release();
    let mut commit = start(&release, "api", at(0));
    let answer = StoredResponse {
        request_id: RequestId::new("discord:1188000000000000001"),
        release_id: release.clone(),
        status: 201,
        body: serde_json::value::to_raw_value(
            &json!({ "release": release.as_str(), "card": { "title": "Pre-flight", "items": [1, 2.5, null, "x"] } }),
        )
        .expect("raw json"),
        fingerprint: Some("9f2c4e0b7a1d3f5e8c6b2a4d0e1f3c5b7a9d8e6f4c2b0a1e3d5f7c9b8a6e4d2c".to_owned()),
    };
    commit.response = Some(answer.clone());
    commit_ok(store, vec![commit]).await;

    let stored = store.stored_response(&answer.request_id).await.expect("response");
    assert_eq!(stored.as_ref().and_then(|s| s.fingerprint.as_deref()), answer.fingerprint.as_deref());
    assert_eq!(stored, Some(answer));
    assert_eq!(store.stored_response(&RequestId::new("never-asked")).await.expect("response"), None);

    // An answer kept without a fingerprint (as before they were kept) reads back without one.
    let mut unprinted = tick(&release, "api", 1, at(1), "before-fingerprints");
    if let Some(response) = unprinted.response.as_mut() {
        response.fingerprint = None;
    }
    let expected = unprinted.response.clone();
    commit_ok(store, vec![unprinted]).await;
    assert_eq!(store.stored_response(&RequestId::new("before-fingerprints")).await.expect("response"), expected);

    // A commit need not answer anything.
    let mut silent = tick(&release, "api", 2, at(1), "scheduler-tick");
    silent.response = None;
    commit_ok(store, vec![silent]).await;
    assert_eq!(store.stored_response(&RequestId::new("scheduler-tick")).await.expect("response"), None);
}

async fn migrate_twice_and_ping(store: &Store) {
    store.migrate().await.expect("second migrate");
    store.migrate().await.expect("third migrate");
    store.ping().await.expect("ping");
    assert!(["sqlite", "postgres"].contains(&store.backend()));
}

// ----------------------------------------------------------------------------------------
// Connecting
// ----------------------------------------------------------------------------------------

#[tokio::test]
async fn unsupported_url_scheme_is_a_config_error_naming_what_is_accepted() {
    for url in ["mysql://root:secret@localhost/shipgate", "shipgate.db"] {
        match Store::connect(url).await {
            Err(StoreError::Config(message)) => {
                assert!(message.contains("sqlite:") && message.contains("postgres://"), "{message}");
                assert!(!message.contains("secret"), "the message must not repeat credentials: {message}");
            }
            other => panic!("{url}: expected a config error, got {other:?}"),
        }
    }
    match Store::connect("mysql://localhost/shipgate").await {
        Err(StoreError::Config(message)) => assert!(message.contains("`mysql`"), "{message}"),
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[tokio::test]
async fn sqlite_url_creates_the_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("nested-name.db");
    let store = Store::connect(&format!("sqlite://{}", file.display())).await.expect("connect");
    store.migrate().await.expect("migrate");
    assert_eq!(store.backend(), "sqlite");
    assert!(file.exists());

    // A second store on the same file (another process) sees what the first wrote.
    let release = new_release();
    commit_ok(&store, vec![start(&release, "api", at(0))]).await;
    let other = Store::connect_with(&format!("sqlite:{}", file.display()), 2).await.expect("connect again");
    assert_eq!(other.load_events(&release).await.expect("events").len(), 1);
}

#[tokio::test]
async fn postgres_backend_is_named() {
    let Some(admin_url) = postgres_url_from_env() else {
        eprintln!("skipped: set TEST_DATABASE_URL to run the PostgreSQL conformance tests");
        return;
    };
    let store = Store::connect(&admin_url).await.expect("connect");
    assert_eq!(store.backend(), "postgres");
    store.ping().await.expect("ping");
}

// ----------------------------------------------------------------------------------------
// Locks
// ----------------------------------------------------------------------------------------

fn a_lock(id: &str, service: &str, environment: Option<Environment>, from: i64, until: i64) -> Lock {
    Lock {
        id: LockId::new(id),
        service: ServiceName::new(service),
        environment,
        mode: LockMode::Block,
        reason: "database migration running".into(),
        by: Actor::new(Platform::Discord, "400", "Dana"),
        from: at(from),
        until: at(until),
        ended: None,
    }
}

fn announcement(lock: &str, what: &str) -> NewOutboxMessage {
    NewOutboxMessage {
        idempotency_key: format!("{lock}:{what}"),
        release_id: ReleaseId::new(lock),
        lane: "locks".into(),
        kind: what.into(),
        payload: json!({ "lock": lock, "what": what }),
    }
}

async fn locks_round_trip_with_their_announcements_and_replay_by_request(store: &Store) {
    let production = a_lock("lock_1", "api", Some(Environment::Production), 0, 3600);
    let request = RequestId::new("api:ci:POST /locks:k1");
    let asked = Some("5e1d0c7b9a3f");
    let written =
        store.insert_lock(&production, &request, asked, &[announcement("lock_1", "lock_started")], at(0)).await;
    assert_eq!(written.expect("insert"), LockWrite::Written);
    let fingerprint = store.lock_request_fingerprint(&request).await.expect("read");
    assert_eq!(fingerprint, Some(asked.map(str::to_owned)));
    let unasked = RequestId::new("never-asked");
    assert_eq!(store.lock_request_fingerprint(&unasked).await.expect("read"), None);
    assert_eq!(store.lock(&production.id).await.expect("read"), Some(production.clone()));
    assert_eq!(store.lock_made_by(&request).await.expect("read"), Some(production.clone()));
    let pending = all_pending(store).await;
    assert_eq!(pending.len(), 1, "the announcement is written with the lock");
    assert_eq!((pending[0].lane.as_str(), pending[0].kind.as_str()), ("locks", "lock_started"));

    // The same request again: the first lock, and nothing more written.
    let again = a_lock("lock_2", "api", Some(Environment::Production), 5, 3605);
    let replay = store.insert_lock(&again, &request, None, &[announcement("lock_2", "lock_started")], at(5)).await;
    assert_eq!(replay.expect("replay"), LockWrite::Replayed(Box::new(production.clone())));
    assert_eq!(store.lock(&again.id).await.expect("read"), None);
    assert_eq!(all_pending(store).await.len(), 1);

    let everywhere = a_lock("lock_3", "billing", None, 10, 20);
    store.insert_lock(&everywhere, &RequestId::new("k3"), None, &[], at(10)).await.expect("insert");
    let open: Vec<LockId> = store.open_locks(None).await.expect("open").into_iter().map(|l| l.id).collect();
    assert_eq!(open, [LockId::new("lock_1"), LockId::new("lock_3")]);
    let api = store.open_locks(Some(&ServiceName::new("api"))).await.expect("open");
    assert_eq!(api, [production]);
}

async fn a_lock_ends_once_and_a_repeat_of_the_unlock_is_told_apart(store: &Store) {
    let lock = a_lock("lock_1", "api", None, 0, 3600);
    store.insert_lock(&lock, &RequestId::new("k1"), None, &[], at(0)).await.expect("insert");
    let unlock = RequestId::new("discord:unlock-1");
    let end = LockEnd::Unlocked { by: Actor::new(Platform::Discord, "500", "Erin"), at: at(60) };
    let ended = store.end_lock(&lock.id, &end, Some(&unlock), &[announcement("lock_1", "lock_ended")], at(60)).await;
    assert_eq!(ended.expect("end"), EndWrite::Ended);
    let stored = store.lock(&lock.id).await.expect("read").expect("the lock");
    assert_eq!(stored.ended, Some(end.clone()));
    assert_eq!(store.lock_ended_by(&unlock).await.expect("read"), Some(stored.clone()));
    assert!(store.open_locks(None).await.expect("open").is_empty());

    // A second end (a repeat, another unlock, the expiry timer) records and says nothing.
    let expired = LockEnd::Expired { at: at(3600) };
    let notice = [announcement("lock_1", "lock_ended_again")];
    let again = store.end_lock(&lock.id, &expired, None, &notice, at(3600)).await;
    assert_eq!(again.expect("end"), EndWrite::AlreadyEnded(Box::new(stored)));
    let kinds: Vec<String> = all_pending(store).await.into_iter().map(|m| m.kind).collect();
    assert_eq!(kinds, ["lock_ended"]);
    let unknown = store.end_lock(&LockId::new("lock_9"), &expired, None, &[], at(3600)).await;
    assert_eq!(unknown.expect("end"), EndWrite::NotFound);
}

async fn expired_locks_are_those_open_past_their_end(store: &Store) {
    for (id, until) in [("lock_1", 100), ("lock_2", 200), ("lock_3", 300)] {
        store
            .insert_lock(&a_lock(id, "api", None, 0, until), &RequestId::new(id), None, &[], at(0))
            .await
            .expect("insert");
    }
    let ids = |locks: Vec<Lock>| locks.into_iter().map(|l| l.id.to_string()).collect::<Vec<_>>();
    assert!(store.expired_locks(at(99)).await.expect("expired").is_empty());
    assert_eq!(ids(store.expired_locks(at(200)).await.expect("expired")), ["lock_1", "lock_2"]);
    let end = LockEnd::Expired { at: at(100) };
    store.end_lock(&LockId::new("lock_1"), &end, None, &[], at(150)).await.expect("end");
    assert_eq!(ids(store.expired_locks(at(1000)).await.expect("expired")), ["lock_2", "lock_3"]);
}

async fn racing_ends_of_one_lock_one_wins(store: &Store) {
    for round in 0..20 {
        let id = format!("lock_race_{round}");
        store
            .insert_lock(&a_lock(&id, "api", None, 0, 10), &RequestId::new(&id), None, &[], at(0))
            .await
            .expect("insert");
        let gate = Arc::new(tokio::sync::Barrier::new(2));
        let racers: Vec<_> = ["left", "right"]
            .into_iter()
            .map(|instance| {
                let (store, id, gate) = (store.clone(), id.clone(), gate.clone());
                tokio::spawn(async move {
                    gate.wait().await;
                    let notice = announcement(&format!("{id}:{instance}"), "lock_ended");
                    let end = LockEnd::Expired { at: at(10) };
                    store.end_lock(&LockId::new(&id), &end, None, &[notice], at(11)).await.expect("end")
                })
            })
            .collect();
        let mut ended = 0;
        for racer in racers {
            if racer.await.expect("racer task") == EndWrite::Ended {
                ended += 1;
            }
        }
        assert_eq!(ended, 1, "round {round}");
    }
    assert_eq!(all_pending(store).await.len(), 20, "one announcement per lock");
}

// ----------------------------------------------------------------------------------------
// Retention
// ----------------------------------------------------------------------------------------

/// The undelivered message queued under `key`.
async fn pending_id(store: &Store, key: &str) -> i64 {
    let pending = all_pending(store).await;
    pending.iter().find(|m| m.idempotency_key == key).map(|m| m.id).unwrap_or_else(|| panic!("{key} not pending"))
}

async fn answered(store: &Store, request: &str) -> bool {
    store.stored_response(&RequestId::new(request)).await.expect("stored response").is_some()
}

async fn retention_removes_only_delivered_messages_and_answers_older_than_the_cutoff(store: &Store) {
    let (kept, stuck) = (new_release(), new_release());
    let start_request = format!("start-{kept}");
    commit_ok(store, vec![start(&kept, "api", at(0)), start(&stuck, "web", at(0))]).await;
    commit_ok(store, vec![tick(&kept, "api", 1, at(10), "early-tick")]).await;
    commit_ok(store, vec![tick(&kept, "api", 2, at(1000), "late-tick")]).await;
    let start_key = format!("{kept}:1:{start_request}");
    let (started, early, late) = (
        pending_id(store, &start_key).await,
        pending_id(store, &format!("{kept}:2:early-tick")).await,
        pending_id(store, &format!("{kept}:3:late-tick")).await,
    );
    store.mark_delivered(started, at(5), None).await.expect("deliver");
    store.mark_delivered(early, at(20), Some("5001")).await.expect("deliver");
    store.mark_delivered(late, at(2000), Some("5002")).await.expect("deliver");
    let events_before =
        (store.load_events(&kept).await.expect("events"), store.load_events(&stuck).await.expect("events"));

    // Delivered before the cutoff: gone. The stuck release's message, never delivered and
    // older than anything, stays whatever the cutoff.
    let outbox = RetainedTable::DeliveredOutbox;
    assert_eq!(store.remove_older_than(outbox, at(100), 500).await.expect("remove"), 2);
    assert_eq!(store.remove_older_than(outbox, at(100), 500).await.expect("remove"), 0);
    // The cutoff is strict: a message delivered at it is kept.
    assert_eq!(store.remove_older_than(outbox, at(2000), 500).await.expect("remove"), 0);
    assert_eq!(store.remove_older_than(outbox, at(2001), 500).await.expect("remove"), 1);
    assert_eq!(store.remove_older_than(outbox, at(1_000_000), 500).await.expect("remove"), 0);
    let pending = all_pending(store).await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!((pending[0].release_id.clone(), pending[0].created_at), (stuck.clone(), at(0)));
    // The removed row is really gone: its key can be queued again.
    let requeued = NewOutboxMessage {
        idempotency_key: start_key,
        release_id: kept.clone(),
        lane: kept.to_string(),
        kind: "step_card".to_owned(),
        payload: json!({}),
    };
    assert_eq!(store.enqueue_once(&[requeued], at(3000)).await.expect("enqueue"), 1);

    // Answers by when they were given: the two early ones of each release go, the late one stays.
    let answers = RetainedTable::Answers;
    assert_eq!(store.remove_older_than(answers, at(1000), 500).await.expect("remove"), 3);
    assert!(!answered(store, &start_request).await);
    assert!(!answered(store, &format!("start-{stuck}")).await);
    assert!(!answered(store, "early-tick").await);
    assert!(answered(store, "late-tick").await);
    assert_eq!(store.remove_older_than(answers, at(1000), 500).await.expect("remove"), 0);

    // Histories are never touched.
    let events_after =
        (store.load_events(&kept).await.expect("events"), store.load_events(&stuck).await.expect("events"));
    assert_eq!(events_after, events_before);
    assert_eq!(events_after.0.len(), 3);

    // A table kept forever is left alone by a sweep.
    let forever = Retention { answers: None, delivered_outbox: None, every: std::time::Duration::from_secs(3600) };
    let swept = sweep(store, &forever, at(1_000_000), 500, std::time::Duration::ZERO).await.expect("sweep");
    assert_eq!(swept, Removed::default());
    assert!(answered(store, "late-tick").await);
}

async fn retention_removes_in_batches_of_the_size_asked(store: &Store) {
    let releases: Vec<ReleaseId> = (0..5).map(|_| new_release()).collect();
    commit_ok(store, releases.iter().map(|release| start(release, "api", at(0))).collect()).await;
    let ids: Vec<i64> = all_pending(store).await.iter().map(|m| m.id).collect();
    assert_eq!(ids.len(), 5);
    store.mark_delivered_many(&ids, at(1)).await.expect("deliver");

    let outbox = RetainedTable::DeliveredOutbox;
    assert_eq!(store.remove_older_than(outbox, at(100), 2).await.expect("remove"), 2);
    assert_eq!(store.remove_older_than(outbox, at(100), 2).await.expect("remove"), 2);

    // A sweep goes on batch after batch until nothing older is left, in each table.
    let retention = Retention {
        answers: Some(Duration::seconds(50)),
        delivered_outbox: Some(Duration::seconds(50)),
        every: std::time::Duration::from_secs(3600),
    };
    let swept = sweep(store, &retention, at(100), 2, std::time::Duration::ZERO).await.expect("sweep");
    assert_eq!(swept, Removed { answers: 5, delivered_outbox: 1 });
    for release in &releases {
        assert!(!answered(store, &format!("start-{release}")).await);
        assert_eq!(store.load_events(release).await.expect("events").len(), 1);
    }
    let again = sweep(store, &retention, at(100), 2, std::time::Duration::ZERO).await.expect("sweep");
    assert_eq!(again, Removed::default());
}

async fn watches_are_due_by_their_time_and_leased_to_one_holder(store: &Store) {
    let (early, late, idle) = (new_release(), new_release(), new_release());
    for (release, due) in [(&early, Some(at(10))), (&late, Some(at(30))), (&idle, None)] {
        let mut commit = start(release, "api", at(0));
        commit.projection.watch_due_at = due;
        commit_one(store, commit).await.expect("start");
    }
    let due = |now| async move { store.watches_due(now, 10).await.expect("due") };
    assert_eq!(due(at(5)).await, []);
    assert_eq!(due(at(10)).await, [(early.clone(), at(10))]);
    assert_eq!(due(at(40)).await, [(early.clone(), at(10)), (late.clone(), at(30))], "the longest overdue first");
    assert_eq!(store.watches_due(at(40), 1).await.expect("due").len(), 1, "at most the limit");

    // A lease hides the release from everyone until it runs out or is let go.
    assert!(store.claim_watch(&early, "one", at(40), at(100)).await.expect("claim"));
    assert!(!store.claim_watch(&early, "two", at(41), at(101)).await.expect("held"));
    assert_eq!(due(at(41)).await, [(late.clone(), at(30))]);
    assert!(store.claim_watch(&early, "one", at(50), at(110)).await.expect("renew"));
    store.release_watch(&early, "two").await.expect("not two's to let go");
    assert!(!store.claim_watch(&early, "two", at(60), at(120)).await.expect("still one's"));
    assert!(store.claim_watch(&early, "two", at(110), at(170)).await.expect("expired: taken over"));
    store.release_watch(&early, "two").await.expect("let go");
    assert_eq!(due(at(111)).await.len(), 2);

    // A sweep leases every due release in one statement, leaving out another's, and lets
    // them all go in one.
    assert!(store.claim_watch(&late, "two", at(111), at(171)).await.expect("two's"));
    let swept = store.claim_due_watches("one", at(112), at(172), 10).await.expect("sweep");
    assert_eq!(swept, [(early.clone(), at(10))], "late is two's");
    assert!(!store.claim_watch(&early, "two", at(113), at(173)).await.expect("one's now"));
    assert_eq!(store.claim_due_watches("one", at(113), at(173), 10).await.expect("renew"), [(early.clone(), at(10))]);
    assert_eq!(store.claim_due_watches("three", at(113), at(173), 10).await.expect("none free"), []);
    assert_eq!(store.claim_due_watches("two", at(180), at(240), 1).await.expect("limit").len(), 1, "at most the limit");
    assert_eq!(store.claim_due_watches("two", at(180), at(240), 10).await.expect("both").len(), 2);
    store.release_watches(&[early.clone(), late.clone()], "one").await.expect("not one's any more");
    assert_eq!(due(at(181)).await, [], "both are two's: held past 181");
    store.release_watches(&[early.clone(), late.clone()], "two").await.expect("let go");
    assert_eq!(due(at(181)).await.len(), 2);

    // The next commit moves the schedule; one without a watch clears it.
    let mut next = tick(&early, "api", 1, at(112), "sample");
    next.projection.watch_due_at = Some(at(140));
    commit_one(store, next).await.expect("sample");
    assert_eq!(due(at(120)).await, [(late.clone(), at(30))]);
    let mut done = tick(&late, "api", 1, at(121), "done");
    done.projection.watch_due_at = None;
    commit_one(store, done).await.expect("done");
    assert_eq!(due(at(200)).await, [(early, at(140))]);
}

async fn rollback_hooks_are_due_by_their_time_and_leased_apart_from_watches(store: &Store) {
    let (asked, later, idle) = (new_release(), new_release(), new_release());
    for (release, due) in [(&asked, Some(at(10))), (&later, Some(at(30))), (&idle, None)] {
        let mut commit = start(release, "api", at(0));
        commit.projection.hook_due_at = due;
        // A watch schedule on the same release is another schedule.
        commit.projection.watch_due_at = Some(at(5));
        commit_one(store, commit).await.expect("start");
    }
    let due = |now| async move { store.hooks_due(now, 10).await.expect("due") };
    assert_eq!(due(at(9)).await, []);
    assert_eq!(due(at(40)).await, [(asked.clone(), at(10)), (later.clone(), at(30))], "the oldest first");
    assert_eq!(store.hooks_due(at(40), 1).await.expect("due").len(), 1, "at most the limit");

    // The hook's lease and the watch's are apart: holding one leaves the other free.
    assert!(store.claim_watch(&asked, "one", at(40), at(100)).await.expect("watch lease"));
    assert_eq!(due(at(41)).await.len(), 2, "a watch lease does not hide the hook");
    assert!(store.claim_hook(&asked, "one", at(41), at(101)).await.expect("claim"));
    assert!(!store.claim_hook(&asked, "two", at(42), at(102)).await.expect("held"));
    assert_eq!(due(at(42)).await, [(later.clone(), at(30))]);
    assert!(store.claim_hook(&asked, "one", at(60), at(120)).await.expect("renewed while it runs"));
    assert!(!store.claim_hook(&asked, "two", at(110), at(170)).await.expect("renewed: still one's"));
    assert!(store.claim_hook(&asked, "two", at(120), at(180)).await.expect("expired: taken over"));
    store.release_hook(&asked, "one").await.expect("not one's to let go any more");
    assert!(!store.claim_hook(&asked, "one", at(121), at(181)).await.expect("still two's"));
    store.release_hook(&asked, "two").await.expect("let go");
    assert_eq!(due(at(122)).await.len(), 2);

    // The outcome's commit clears the schedule.
    let mut done = tick(&asked, "api", 1, at(123), "outcome");
    done.projection.hook_due_at = None;
    commit_one(store, done).await.expect("outcome");
    assert_eq!(due(at(200)).await, [(later, at(30))]);
    let row = store.release_row(&asked).await.expect("read").expect("exists");
    assert_eq!(row.hook_due_at, None);
}

// ----------------------------------------------------------------------------------------
// Rollback drills
// ----------------------------------------------------------------------------------------

/// A drill of `service` started at `from` and, when `done` is given, completed then.
fn drill_commit(service: &str, from: DateTime<Utc>, done: Option<DateTime<Utc>>, by: &str) -> Commit {
    let release = new_release();
    let mut commit = start(&release, service, from);
    commit.projection.playbook = ROLLBACK_DRILL.to_owned();
    commit.projection.started_by = by.to_owned();
    if let Some(done) = done {
        commit.projection.status = "completed".to_owned();
        commit.projection.updated_at = done;
    }
    commit
}

async fn services_are_listed_with_their_first_sighting_and_last_completed_drill(store: &Store) {
    let api_first = new_release();
    commit_ok(
        store,
        vec![
            start(&api_first, "api", at(0)),
            start(&new_release(), "api", at(500)),
            start(&new_release(), "billing", at(100)),
            drill_commit("api", at(1000), Some(at(1840)), "Dana"),
            drill_commit("api", at(2000), Some(at(2600)), "Eve"),
            // Started later, never completed: not the last drill.
            drill_commit("api", at(3000), None, "Finn"),
        ],
    )
    .await;
    let all = store.service_drills(None).await.expect("drills");
    let names: Vec<&str> = all.iter().map(|d| d.service.as_str()).collect();
    assert_eq!(names, ["api", "billing"]);
    assert_eq!(all[0].first_seen, at(0));
    let last = all[0].last.as_ref().expect("api was drilled");
    assert_eq!((last.by.as_str(), last.started_at, last.completed_at), ("Eve", at(2000), at(2600)));
    assert_eq!(last.duration(), Duration::seconds(600));
    assert_eq!((all[1].first_seen, all[1].last.clone()), (at(100), None));

    let billing = store.service_drills(Some(&ServiceName::new("billing"))).await.expect("billing");
    assert_eq!(billing.len(), 1);
    assert_eq!(billing[0].service.as_str(), "billing");
    assert!(store.service_drills(Some(&ServiceName::new("unseen"))).await.expect("unseen").is_empty());
}

fn digest(fill: char) -> ArtifactDigest {
    ArtifactDigest::parse(&format!("sha256:{}", fill.to_string().repeat(64))).expect("digest")
}

/// A release of `service` that built `version` as `fill`'s digest and deployed it to staging
/// at `when`, healthy or not.
fn staged(service: &str, version: &str, fill: char, when: DateTime<Utc>, health: HealthCheck) -> Commit {
    let release = new_release();
    let artifact = Artifact {
        version: Version::parse(version).expect("version"),
        git_sha: GitSha::parse("3f9c2e1").expect("sha"),
        digest: digest(fill),
        size_bytes: 1,
        name: None,
    };
    let report = DeploymentReport {
        environment: Environment::Staging,
        digest: digest(fill),
        outcome: Outcome::Succeeded,
        health,
        strategy: None,
        canary_percent: None,
        downgrade_reason: None,
        unknown_artifact_reason: None,
        url: None,
    };
    let events = vec![
        started_event(service),
        Event::ArtifactRecorded { step: StepId::new("build-artifact"), artifact },
        Event::DeploymentRecorded {
            step: StepId::new("deploy-staging"),
            report,
            previous_live: None,
            freeze_overridden: None,
            rollback: false,
        },
    ];
    commit_with(&release, service, 0, events, when, &format!("staged-{release}"))
}

async fn staging_deploys_come_newest_first_with_the_artifact_each_shipped(store: &Store) {
    commit_ok(
        store,
        vec![
            staged("api", "1.3.0", 'a', at(0), HealthCheck::Passed),
            staged("api", "1.4.0", 'b', at(100), HealthCheck::Passed),
            // Unhealthy: staging never ran it for real.
            staged("api", "1.5.0", 'c', at(200), HealthCheck::Failed),
            staged("billing", "9.0.0", 'd', at(300), HealthCheck::Passed),
        ],
    )
    .await;
    let deploys = store.staging_deploys(&ServiceName::new("api")).await.expect("staging deploys");
    let shown: Vec<(String, ArtifactDigest)> =
        deploys.iter().map(|d| (d.version.to_string(), d.digest.clone())).collect();
    assert_eq!(shown, [("1.4.0".to_owned(), digest('b')), ("1.3.0".to_owned(), digest('a'))]);
    assert!(store.staging_deploys(&ServiceName::new("search")).await.expect("none").is_empty());
}

fn reminder_row(key: &str) -> NewOutboxMessage {
    NewOutboxMessage {
        idempotency_key: key.to_owned(),
        release_id: ReleaseId::new(key),
        lane: "drill-reminders".to_owned(),
        kind: "drill_reminder".to_owned(),
        payload: json!({ "key": key }),
    }
}

async fn a_drill_reminder_is_recorded_once_with_its_message_however_many_race(store: &Store) {
    let reminder = Reminder { service: ServiceName::new("api"), due_at: at(0), period: 0 };
    let gate = Arc::new(tokio::sync::Barrier::new(4));
    let racers: Vec<_> = (0..4)
        .map(|racer| {
            let (store, reminder, gate) = (store.clone(), reminder.clone(), gate.clone());
            tokio::spawn(async move {
                gate.wait().await;
                store.record_drill_reminder(&reminder, &[reminder_row("drill:api:0:0")], at(racer)).await
            })
        })
        .collect();
    let mut written = 0;
    for racer in racers {
        written += usize::from(racer.await.expect("racer task").expect("record"));
    }
    assert_eq!(written, 1);
    // Asked again later (a restart, another instance): nothing more.
    assert!(!store.record_drill_reminder(&reminder, &[reminder_row("drill:api:0:0")], at(60)).await.expect("again"));
    // The next week's is another reminder; so is one after a new due date.
    let next = Reminder { period: 1, ..reminder.clone() };
    assert!(store.record_drill_reminder(&next, &[reminder_row("drill:api:0:1")], at(70)).await.expect("next"));
    let moved = Reminder { due_at: at(5000), ..reminder };
    assert!(store.record_drill_reminder(&moved, &[reminder_row("drill:api:5000:0")], at(80)).await.expect("moved"));
    let keys: Vec<String> = all_pending(store).await.into_iter().map(|m| m.idempotency_key).collect();
    assert_eq!(keys, ["drill:api:0:0", "drill:api:0:1", "drill:api:5000:0"]);
}
