//! Orchestration: turns a command into events and outbox rows, written in one
//! transaction, one command at a time per release.
//!
//! Why the shape: a release's state is folded from its events and cached per release
//! behind an async mutex, so commands on one release are decided one at a time while
//! commands on different releases proceed in parallel; their writes meet in the
//! committer, which groups whatever is waiting into one transaction (group commit). A
//! command on a release is decided on top of the commands before it as soon as they are
//! decided, not once they are written, so a team clicking one card at once shares a
//! transaction instead of queueing for one each; a commit fails if one it was decided on
//! fails, and nothing is answered before it is durable. Across processes,
//! `(release_id, seq)` uniqueness and the production-hold key catch a lost race; the
//! command is then decided again on fresh state.

pub mod clock;
pub mod delivery;
pub mod drills;
mod fingerprint;
pub mod freeze;
pub mod locks;
pub mod notice_webhook;
pub mod notices;
pub mod playbooks;
pub mod retention;
pub mod rollback_hook;
mod triage;
pub mod watch;

use crate::domain::card::CardContext;
use crate::domain::drill::{self, DrillPolicy};
use crate::domain::freeze::FreezeCalendar;
use crate::domain::playbook::DEFAULT_STALL_MINUTES;
use crate::domain::release::{
    self, Command, Context, Event, LiveDeployment, Policy, ProductionHolder, Recorded, RecordedArtifact, Rejection,
    RejectionCode, Release, Status,
};
use crate::domain::{Actor, ChatChannel, ChatPlatform, GitSha, Platform, ReleaseId, RequestId, ServiceName, Version};
use crate::store::{
    Busy, Commit, CommitError, Conflict, HoldChange, LiveChange, ReleaseFilter, ReleaseRow, Store, StoreError,
    StoredResponse,
};
use clock::Clock;
use notices::CardStep;
use playbooks::Playbooks;
use serde::{Deserialize, Serialize};
use serde_json::value::to_raw_value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// The key under which a release's chat thread id is kept.
pub const THREAD_KEY: &str = "thread";
/// The request id of shipgate's notice of one step attempt's stall. Deterministic, so
/// the notice is recorded once however many timers (in however many instances, across
/// restarts) try: a repeat meets the stored answer and changes nothing.
pub fn stall_request_id(release: &ReleaseId, step: &str, attempt: u32) -> RequestId {
    RequestId::new(format!("stall:{release}:{step}:{attempt}"))
}

/// Most commits grouped into one transaction.
const MAX_BATCH: usize = 256;
/// Attempts at a command that keeps losing races to another writer before giving up.
const MAX_ATTEMPTS: usize = 16;

/// What the edge asks to start a release with.
#[derive(Debug, Clone, Serialize)]
pub struct StartRelease {
    pub service: ServiceName,
    pub version: Version,
    pub git_sha: GitSha,
    /// The playbook's name; the configured default when absent.
    pub playbook: Option<String>,
    pub hotfix: bool,
    pub channel: Option<ChatChannel>,
}

/// What a request did, the same for every repeat of it: the release as the request left
/// it and the events it caused. Each edge renders it its own way (JSON for the API, a
/// card for chat).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The release as of the request's last event (for a replay: as the first answer saw it,
    /// not as it is now).
    pub release: Release,
    /// The events the request caused, in order; a start's first event is `started`.
    pub events: Vec<Recorded>,
    /// True when this is the answer to an earlier identical request, given again.
    pub replayed: bool,
}

impl Outcome {
    /// Whether the request opened the release.
    pub fn started(&self) -> bool {
        self.events.first().is_some_and(|r| r.seq == 1)
    }

    /// The time the outcome is seen at: its last event's, so rendering it again gives the same.
    pub fn at(&self) -> chrono::DateTime<chrono::Utc> {
        self.events.last().map_or(self.release.started.at, |r| r.at)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A rule said no: shown to the person, nothing written.
    #[error(transparent)]
    Rejected(Rejection),
    #[error("no release {0}")]
    NotFound(ReleaseId),
    /// Another process kept the database locked: nothing was written; the same request
    /// may be sent again after the wait it names.
    #[error(transparent)]
    Busy(Busy),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<Rejection> for AppError {
    fn from(rejection: Rejection) -> Self {
        if rejection.code == RejectionCode::Internal {
            return AppError::Internal(anyhow::anyhow!(rejection.message));
        }
        AppError::Rejected(rejection)
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Busy(busy) => AppError::Busy(busy),
            e => AppError::Internal(e.into()),
        }
    }
}

/// What is stored as a request's first answer: the events it caused.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerRecipe {
    first_seq: u64,
    last_seq: u64,
}

/// The request a commit answers: its id and the fingerprint of what it asked.
#[derive(Clone, Copy)]
struct Asked<'a> {
    id: &'a RequestId,
    fingerprint: &'a str,
}

/// Settings the app runs with.
pub struct AppParts {
    pub store: Store,
    pub playbooks: Playbooks,
    /// The freeze calendar of every release, except those whose channel has its own.
    pub freeze: Arc<dyn FreezeCalendar>,
    /// Team calendars by chat channel id.
    pub channel_freeze: HashMap<String, Arc<dyn FreezeCalendar>>,
    pub policy: Policy,
    pub clock: Arc<dyn Clock>,
    /// Whether production deploys are watched (`[monitoring]` is configured): releases
    /// then carry when their watch is next due.
    pub watching: bool,
    /// When services are due a rollback drill, and how often overdue ones are reminded.
    pub drills: DrillPolicy,
}

#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    playbooks: Playbooks,
    freeze: Arc<dyn FreezeCalendar>,
    channel_freeze: HashMap<String, Arc<dyn FreezeCalendar>>,
    policy: Policy,
    clock: Arc<dyn Clock>,
    watching: bool,
    drills: DrillPolicy,
    /// One slot per release being worked on: the lock serialises the deciding of its
    /// commands, the cached state spares a fold per command.
    releases: Mutex<Slots>,
    committer: mpsc::Sender<PendingCommit>,
    /// Commands being decided right now: their commits are about to reach the committer.
    deciding: Arc<AtomicUsize>,
}

struct PendingCommit {
    commit: Commit,
    reply: Option<oneshot::Sender<Result<(), CommitError>>>,
    /// The commit of the same release this one was decided on top of, while it was still
    /// being written: if that one failed, this one claims events that were never written.
    builds_on: Option<Landing>,
    /// Told whether this commit was written, as soon as the committer knows.
    landing: tokio::sync::watch::Sender<Option<bool>>,
}

/// Whether a commit was written: `None` while it is being written.
type Landing = tokio::sync::watch::Receiver<Option<bool>>;

impl App {
    /// Starts the app and its committer task (it ends when the last `App` clone drops).
    pub fn new(parts: AppParts) -> App {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
        let deciding = Arc::new(AtomicUsize::new(0));
        tokio::spawn(run_committer(parts.store.clone(), rx, deciding.clone()));
        App {
            inner: Arc::new(Inner {
                store: parts.store,
                playbooks: parts.playbooks,
                freeze: parts.freeze,
                channel_freeze: parts.channel_freeze,
                policy: parts.policy,
                clock: parts.clock,
                watching: parts.watching,
                drills: parts.drills,
                releases: Mutex::new(Slots::default()),
                committer: tx,
                deciding,
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn playbooks(&self) -> &Playbooks {
        &self.inner.playbooks
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.clock.now()
    }

    /// What the people running `release` should know before they rely on its gates: each
    /// gate of its playbook that nobody but its starter could approve, as configured.
    pub fn start_warnings(&self, release: &Release) -> Vec<String> {
        self.inner.policy.role_holders.gates_only_the_starter_could_approve(&release.playbook, &release.started.by)
    }

    /// Opens a release.
    pub async fn start_release(
        &self,
        start: StartRelease,
        actor: Actor,
        request_id: RequestId,
    ) -> Result<Outcome, AppError> {
        // A drill's version and commit are its revert target, which shipgate finds itself
        // (`start_drill`); one started as a release would drill whatever it was told.
        if start.playbook.as_deref().is_some_and(drill::is_drill) {
            return Err(Rejection::new(
                RejectionCode::InvalidInput,
                format!(
                    "a rollback drill is not started as a release; start it with `/release drill service:{}`, which \
                     points it at the artifact staging ran before",
                    start.service
                ),
            )
            .into());
        }
        self.open(start, actor, request_id, Vec::new()).await
    }

    /// Opens a release of any playbook (drills included), recording the service's drill
    /// standing on it for its first card, and `and_then` right after the start in the same
    /// commit (shipgate's own facts about the release, such as the rollback a triage is of).
    async fn open(
        &self,
        start: StartRelease,
        actor: Actor,
        request_id: RequestId,
        and_then: Vec<Event>,
    ) -> Result<Outcome, AppError> {
        let started = Instant::now();
        // A repeated request is not looked up first: its commit meets the stored answer's
        // key and fails as a duplicate, and the first answer is returned then. That spares
        // every command a read.
        let asked = fingerprint::of_start(&start, &actor)?;
        let Some(playbook) = self.inner.playbooks.get(start.playbook.as_deref()) else {
            let known = self.inner.playbooks.names().join(", ");
            let name = start.playbook.unwrap_or_default();
            return Err(Rejection::new(
                RejectionCode::UnknownPlaybook,
                format!("no playbook named {name}; known: {known}"),
            )
            .into());
        };
        let id = ReleaseId::generate();
        let now = self.now();
        let channel = start.channel.clone();
        let command = Command::Start {
            service: start.service.clone(),
            version: start.version,
            git_sha: start.git_sha,
            playbook: Box::new((*playbook).clone()),
            hotfix: start.hotfix,
            channel: start.channel,
        };
        let ctx = Context {
            now,
            freeze: self.freeze_for(channel.as_ref()),
            production_holder: None,
            live: None,
            policy: &self.inner.policy,
            recorded_artifact: None,
            locks: &[],
        };
        let last_drill = self.drill_standing(&start.service, now).await?;
        let mut events = release::start_noting(command, &actor, &ctx, Some(last_drill))
            .inspect_err(|_| record_metrics("start", "rejected", started))?;
        events.extend(and_then);
        let recorded = Recorded::sequence(events, 0, now, &actor, &request_id);
        let release = Release::fold(id.clone(), &recorded).map_err(anyhow::Error::from)?;
        let request = Asked { id: &request_id, fingerprint: &asked };
        let commit = self.commit_for(&release, None, recorded.clone(), request, now, None);
        match self.send(commit).await {
            Ok(()) => {}
            Err(CommitError::Conflict(Conflict::Duplicate(_))) => {
                return self
                    .replay(&request_id, Some(&asked))
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("answered request vanished").into())
            }
            Err(CommitError::Busy(busy)) => {
                record_metrics("start", "busy", started);
                return Err(AppError::Busy(busy));
            }
            Err(e) => return Err(anyhow::Error::from(e).context("writing a new release").into()),
        }
        record_metrics("start", "accepted", started);
        Ok(Outcome { release, events: recorded, replayed: false })
    }

    /// Decides and records one command on a release.
    pub async fn execute(
        &self,
        id: &ReleaseId,
        command: Command,
        actor: Actor,
        request_id: RequestId,
    ) -> Result<Outcome, AppError> {
        self.execute_if(id, command, actor, request_id, None).await
    }

    /// Like [`App::execute`], refused with `stale_state` unless the release still has
    /// `expected_seq` events: the click was made on what the person saw.
    pub async fn execute_if(
        &self,
        id: &ReleaseId,
        command: Command,
        actor: Actor,
        request_id: RequestId,
        expected_seq: Option<u64>,
    ) -> Result<Outcome, AppError> {
        self.decide_and_commit(id, command, actor, request_id, expected_seq, None).await
    }

    /// Like [`App::execute`], for a command whose answer shows `card` (a step and attempt)
    /// as the command leaves it, in place: a chat click answered with its card updated. The
    /// outbox then carries no edit of that open card (the answer is that edit); it still
    /// carries everything else the command calls for.
    pub async fn execute_answering_card(
        &self,
        id: &ReleaseId,
        command: Command,
        actor: Actor,
        request_id: RequestId,
        card: (CardStep, u32),
    ) -> Result<Outcome, AppError> {
        self.decide_and_commit(id, command, actor, request_id, None, Some(card)).await
    }

    async fn decide_and_commit(
        &self,
        id: &ReleaseId,
        command: Command,
        actor: Actor,
        request_id: RequestId,
        expected_seq: Option<u64>,
        answered: Option<(CardStep, u32)>,
    ) -> Result<Outcome, AppError> {
        let started = Instant::now();
        let name = command.name();
        let asked = fingerprint::of_command(id, &command, &actor)?;
        let slot = self.slot(id);
        let mut state = slot.lock().await;
        // Who the store last said holds production, when it refused this command for it.
        let mut refused_for: Option<ReleaseId> = None;
        for _ in 0..MAX_ATTEMPTS {
            let deciding = Deciding::new(&self.inner.deciding);
            state.forget_if_failed();
            // What the store holds is consulted below (an If-Match, who holds production,
            // locks): it must already hold every command decided before this one.
            let consults_store = expected_seq.is_some()
                || state.release.as_ref().is_some_and(|r| r.consults_production_facts() || r.consults_locks());
            if consults_store {
                state.settle().await;
            }
            let release = match state.release.take() {
                Some(release) => release,
                None => match self.load(id).await? {
                    Some(release) => release,
                    None => {
                        drop(state);
                        self.forget(id);
                        return Err(AppError::NotFound(id.clone()));
                    }
                },
            };
            if let Some(expected) = expected_seq {
                if expected != release.seq && self.is_fresh(id, &release).await? {
                    state.release = Some(release);
                    // The repeat of a request that moved the release is not stale: it is answered.
                    if let Some(answer) = self.replay(&request_id, Some(&asked)).await? {
                        record_metrics(name, "replayed", started);
                        return Ok(answer);
                    }
                    record_metrics(name, "rejected", started);
                    return Err(stale(expected).into());
                }
                if expected != release.seq {
                    state.reset();
                    continue;
                }
            }
            let now = self.now();
            let (holder, live) =
                if release.consults_production_facts() { self.production_facts(&release).await? } else { (None, None) };
            let locks = if release.consults_locks() {
                self.active_locks(Some(&release.service), now).await?
            } else {
                Vec::new()
            };
            let ctx = Context {
                now,
                freeze: self.freeze_for(release.channel.as_ref()),
                production_holder: holder,
                live,
                policy: &self.inner.policy,
                recorded_artifact: self.recorded_artifact_for_revert(&release, &command).await?,
                locks: &locks,
            };
            let (events, after) = match release::decide(&release, command.clone(), &actor, &ctx) {
                Ok(decided) => decided,
                Err(rejection) => {
                    // A refusal is judged on what is stored: commands decided before this
                    // one must have landed, and another process may have moved the release.
                    state.release = Some(release);
                    state.settle().await;
                    let Some(settled) = state.release.as_ref() else { continue };
                    if !self.is_fresh(id, settled).await? {
                        state.reset();
                        continue;
                    }
                    // Another process may have answered this very request meanwhile.
                    if let Some(answer) = self.replay(&request_id, Some(&asked)).await? {
                        record_metrics(name, "replayed", started);
                        return Ok(answer);
                    }
                    record_metrics(name, "rejected", started);
                    return Err(rejection.into());
                }
            };
            let recorded = Recorded::sequence(events, release.seq, now, &actor, &request_id);
            let request = Asked { id: &request_id, fingerprint: &asked };
            let commit = self.commit_for(&after, Some(&release), recorded.clone(), request, now, answered);
            // The commit goes to the committer while the release's lock is held, so commits
            // of one release reach it in the order they were decided; the next command on
            // the release is then decided on this one's outcome without waiting for its
            // write, and both can land in one transaction. Should this one fail, the
            // committer fails every commit built on it, and the release is read again.
            let (landing, landed) = tokio::sync::watch::channel(None);
            let pending = PendingCommit { commit, reply: None, builds_on: state.tip.clone(), landing };
            let reply = self.submit(pending).await;
            drop(deciding);
            let generation = state.generation;
            state.release = Some(after.clone());
            state.tip = Some(landed);
            drop(state);
            let result = match reply {
                Ok(reply) => reply.await.unwrap_or(Err(CommitError::Database(sqlx::Error::PoolClosed))),
                Err(closed) => Err(closed),
            };
            let error = match result {
                Ok(()) => {
                    if after.status.is_finished() {
                        self.forget(id);
                    }
                    record_metrics(name, "accepted", started);
                    return Ok(Outcome { release: after, events: recorded, replayed: false });
                }
                Err(error) => error,
            };
            // Nothing of this command was written, so neither was anything decided on top of
            // it: the release is read again (unless it was already, after the failure).
            state = slot.lock().await;
            if state.generation == generation {
                state.reset();
            }
            match error {
                // Another writer moved first: decide again on what is stored now.
                CommitError::Conflict(Conflict::Sequence) => {
                    metrics::counter!("shipgate_commit_conflicts_total").increment(1);
                }
                // Another release took production first: decided again, the domain sees it
                // and refuses (or an automatic gate waits). If the store refuses once more for
                // the same holder, the domain did not see it, and the store is right: the
                // answer is the refusal the domain would give, not an error.
                CommitError::Conflict(Conflict::ProductionHeld(holder)) => {
                    metrics::counter!("shipgate_commit_conflicts_total").increment(1);
                    if refused_for.as_ref() == Some(&holder) {
                        drop(state);
                        record_metrics(name, "rejected", started);
                        let holder = self.describe_holder(&release, holder).await?;
                        return Err(release::production_held(&release.service, &holder).into());
                    }
                    refused_for = Some(holder);
                }
                CommitError::Conflict(Conflict::Duplicate(_)) => {
                    drop(state);
                    record_metrics(name, "replayed", started);
                    return self
                        .replay(&request_id, Some(&asked))
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("answered request vanished").into());
                }
                CommitError::Busy(busy) => {
                    record_metrics(name, "busy", started);
                    return Err(AppError::Busy(busy));
                }
                e => {
                    return Err(anyhow::Error::from(e).context(format!("writing {name} on release {id}")).into());
                }
            }
        }
        Err(anyhow::anyhow!("release {id} kept changing under {name}; gave up after {MAX_ATTEMPTS} attempts").into())
    }

    /// The release as this instance last saw it: from memory when a command has touched it,
    /// else read from the store. Another instance may have moved it since; it is for
    /// showing and for choosing a command, which [`App::execute`] then decides on what is
    /// stored. Finished releases are not kept in memory.
    pub async fn release(&self, id: &ReleaseId) -> Result<Option<Release>, AppError> {
        let slot = self.slot(id);
        let mut state = slot.lock().await;
        // Only what is stored is shown: commands still being written first land (or fail).
        state.settle().await;
        if let Some(release) = state.release.as_ref() {
            return Ok(Some(release.clone()));
        }
        let loaded = self.load(id).await?;
        match &loaded {
            Some(release) if !release.status.is_finished() => state.release = Some(release.clone()),
            _ => {
                drop(state);
                self.forget(id);
            }
        }
        Ok(loaded)
    }

    /// A release as the store holds it now: this instance's memory while no other instance
    /// has moved it since (one small read to tell), else read back in full. For an answer
    /// shown after the commands of others, which must not be behind them.
    pub async fn release_now(&self, id: &ReleaseId) -> Result<Option<Release>, AppError> {
        match self.release(id).await? {
            Some(release) if self.is_fresh(id, &release).await? => Ok(Some(release)),
            Some(_) => Ok(self.release_with_history(id).await?.map(|(release, _)| release)),
            None => Ok(None),
        }
    }

    /// A release with its full history, read straight from the store.
    pub async fn release_with_history(&self, id: &ReleaseId) -> Result<Option<(Release, Vec<Recorded>)>, AppError> {
        let events = self.inner.store.load_events(id).await?;
        if events.is_empty() {
            return Ok(None);
        }
        let release = Release::fold(id.clone(), &events).map_err(|e| anyhow::anyhow!("release {id}: {e}"))?;
        Ok(Some((release, events)))
    }

    pub async fn list(&self, filter: &ReleaseFilter) -> Result<Vec<ReleaseRow>, AppError> {
        Ok(self.inner.store.list_releases(filter).await?)
    }

    /// Whether `release` is what the store holds now (another process may have moved it).
    async fn is_fresh(&self, id: &ReleaseId, release: &Release) -> Result<bool, AppError> {
        Ok(self.inner.store.release_row(id).await?.map(|row| row.seq) == Some(release.seq))
    }

    /// The first answer to `request_id`, if it was answered: for an edge that must answer a
    /// repeat before it can even build the command (a click on a card the first click moved).
    /// Nothing is asked to compare with, so the answer is given as it is: fit for ids a
    /// platform gives each interaction once (and delivers again unchanged), not for keys a
    /// client chooses.
    pub async fn answered(&self, request_id: &RequestId) -> Result<Option<Outcome>, AppError> {
        self.replay(request_id, None).await
    }

    /// The first outcome of an answered request, rebuilt from the events it caused: the
    /// outcome is a pure function of the history up to them. With `asked` (the repeat's
    /// fingerprint), a request that asks something else than the answered one is refused
    /// with `idempotency_key_reused`.
    async fn replay(&self, request_id: &RequestId, asked: Option<&str>) -> Result<Option<Outcome>, AppError> {
        if request_id.as_str().starts_with("gen:") {
            return Ok(None);
        }
        let Some(stored) = self.inner.store.stored_response(request_id).await? else {
            return Ok(None);
        };
        if let Some(asked) = asked {
            fingerprint::check(request_id, stored.fingerprint.as_deref(), asked)?;
        }
        let id = &stored.release_id;
        let recipe = serde_json::from_str::<AnswerRecipe>(stored.body.get())
            .map_err(|e| anyhow::anyhow!("the stored answer to request {request_id} is unreadable: {e}"))?;
        let mut events = self.inner.store.load_events(id).await?;
        let upto = usize::try_from(recipe.last_seq).unwrap_or(usize::MAX).min(events.len());
        let from = usize::try_from(recipe.first_seq.saturating_sub(1)).unwrap_or(usize::MAX).min(upto);
        events.truncate(upto);
        let release = Release::fold(id.clone(), &events).map_err(|e| anyhow::anyhow!("release {id}: {e}"))?;
        let events = events.split_off(from);
        Ok(Some(Outcome { release, events, replayed: true }))
    }

    /// What a card of `release` shows besides the release itself, at `now`: the team's
    /// time zone and the freeze verdict of the release's calendar.
    pub fn card_context(&self, release: &Release, now: chrono::DateTime<chrono::Utc>) -> CardContext {
        let calendar = self.freeze_for(release.channel.as_ref());
        let verdict = calendar.verdict(now);
        CardContext {
            now,
            time_zone: calendar.timezone(),
            freeze: verdict.is_frozen().then_some(verdict),
            locks: Vec::new(),
            stalled: release.stalled(),
            rollback_hook: self.inner.policy.rollback_hook,
        }
    }

    /// The release as it stood after event `as_of` (its whole history when `as_of` is past
    /// the end); `None` for an unknown release.
    pub async fn release_as_of(&self, id: &ReleaseId, as_of: u64) -> Result<Option<Release>, AppError> {
        let mut events = self.inner.store.load_events(id).await?;
        if events.is_empty() {
            return Ok(None);
        }
        events.truncate(usize::try_from(as_of).unwrap_or(usize::MAX).max(1));
        Ok(Some(Release::fold(id.clone(), &events).map_err(|e| anyhow::anyhow!("release {id}: {e}"))?))
    }

    /// The release whose chat thread is `thread_id` on `platform`, if any.
    pub async fn release_in_thread(
        &self,
        platform: ChatPlatform,
        thread_id: &str,
    ) -> Result<Option<ReleaseId>, AppError> {
        Ok(self.inner.store.release_for_chat_message(platform.as_str(), THREAD_KEY, thread_id).await?)
    }

    /// Of `rows`, the active releases whose current step has had no activity for longer
    /// than its limit (the playbook's `stall_after_minutes`, default two hours); a step
    /// that waits out a watch is never stalled. A row's `updated_at` is its last activity:
    /// shipgate's own stall notice does not move it.
    pub fn stalled_releases(&self, rows: &[ReleaseRow]) -> Vec<ReleaseId> {
        let now = self.now();
        rows.iter()
            .filter(|row| row.status == Status::Active.as_str())
            .filter(|row| {
                let step = self
                    .inner
                    .playbooks
                    .get(Some(&row.playbook))
                    .and_then(|p| p.steps.iter().find(|s| s.id.as_str() == row.current_step_id).cloned());
                // A playbook since removed from config: the default limit still applies.
                let limit = match step {
                    Some(step) => step.stall_limit(),
                    None => Some(chrono::Duration::minutes(i64::from(DEFAULT_STALL_MINUTES))),
                };
                limit.is_some_and(|limit| now - row.updated_at > limit)
            })
            .map(|row| row.id.clone())
            .collect()
    }

    /// Notices every stalled step attempt once: records `StallNoticed` (which pings the
    /// step's owners through the outbox, in the same transaction) under a deterministic
    /// request id. Returns how many stalls were noticed now. The domain decides again on
    /// the release itself, so a release that moved meanwhile is left alone.
    pub async fn notice_stalls(&self) -> Result<usize, AppError> {
        // The store's most: more active releases than this at once is not a team's day.
        let filter = ReleaseFilter {
            status: Some(Status::Active.as_str().to_owned()),
            limit: Some(500),
            ..ReleaseFilter::default()
        };
        let rows = self.inner.store.list_releases(&filter).await?;
        let mut noticed = 0;
        for id in self.stalled_releases(&rows) {
            let Some(release) = self.load(&id).await? else { continue };
            if release.status != Status::Active || release.steps[release.current].stall_noticed.is_some() {
                continue;
            }
            let step = release.current_step().id.clone();
            let attempt = release.steps[release.current].attempt;
            let request = stall_request_id(&id, step.as_str(), attempt);
            let actor = Actor::new(Platform::System, "shipgate", "shipgate");
            match self.execute(&id, Command::NoticeStall { step, attempt }, actor, request).await {
                Ok(outcome) if !outcome.replayed => noticed += 1,
                Ok(_) => {}
                // Noticed already, or worked on since the list was read: nothing to say.
                Err(AppError::Rejected(rejection)) => {
                    tracing::debug!(release = %id, code = %rejection.code, "stall not noticed: {}", rejection.message)
                }
                Err(e) => return Err(e),
            }
        }
        Ok(noticed)
    }

    /// Shows again the card of every release whose watch has ended since its card was last
    /// drawn: nothing happens at that moment, yet the card's gate becomes ready, and a card
    /// left as it was would keep its gate button disabled. Each attempt's watch is refreshed
    /// once, whichever instance sees it first. Returns how many cards were queued.
    pub async fn refresh_ended_watches(&self) -> Result<u64, AppError> {
        let filter = ReleaseFilter {
            status: Some(Status::Active.as_str().to_owned()),
            limit: Some(500),
            ..ReleaseFilter::default()
        };
        let now = self.now();
        let mut rows = Vec::new();
        for row in self.inner.store.list_releases(&filter).await? {
            let watching = self.inner.playbooks.get(Some(&row.playbook)).is_some_and(|p| {
                p.steps.iter().any(|s| {
                    s.id.as_str() == row.current_step_id && s.requires == crate::domain::playbook::Evidence::Watch
                })
            });
            if !watching {
                continue;
            }
            let Some(release) = self.release(&row.id).await? else { continue };
            if release.watch_ends_at().is_some_and(|end| end <= now) {
                let attempt = release.steps[release.current].attempt;
                rows.extend(notices::card_refresh(&release, &format!("watch_ended:{attempt}")));
            }
        }
        Ok(self.inner.store.enqueue_once(&rows, now).await?)
    }

    /// The freeze calendar of a release in `channel`: its team's, or the default.
    pub fn freeze_for(&self, channel: Option<&ChatChannel>) -> &dyn FreezeCalendar {
        channel.and_then(|c| self.inner.channel_freeze.get(&c.id)).unwrap_or(&self.inner.freeze).as_ref()
    }

    /// How many releases this instance keeps in memory.
    pub fn releases_in_memory(&self) -> usize {
        self.inner.releases.lock().unwrap_or_else(|e| e.into_inner()).by_release.len()
    }

    fn slot(&self, id: &ReleaseId) -> Slot {
        self.inner.releases.lock().unwrap_or_else(|e| e.into_inner()).get(id)
    }

    /// Drops a finished (or unknown) release from memory; a later command reloads it.
    fn forget(&self, id: &ReleaseId) {
        self.inner.releases.lock().unwrap_or_else(|e| e.into_inner()).by_release.remove(id);
    }

    async fn load(&self, id: &ReleaseId) -> Result<Option<Release>, AppError> {
        let events = self.inner.store.load_events(id).await?;
        if events.is_empty() {
            return Ok(None);
        }
        Ok(Some(Release::fold(id.clone(), &events).map_err(|e| anyhow::anyhow!("release {id}: {e}"))?))
    }

    /// For the revert of a rollback with no known-good target: where shipgate recorded the
    /// reported digest for the service, if it did. Nothing is read otherwise.
    async fn recorded_artifact_for_revert(
        &self,
        release: &Release,
        command: &Command,
    ) -> Result<Option<RecordedArtifact>, AppError> {
        let Command::RecordDeployment(report) = command else {
            return Ok(None);
        };
        let without_target = release.rollback.as_ref().is_some_and(|r| r.target.is_none());
        if release.status != Status::RollingBack || !without_target {
            return Ok(None);
        }
        Ok(self.inner.store.recorded_artifact(&release.service, &report.digest).await?)
    }

    async fn production_facts(
        &self,
        release: &Release,
    ) -> Result<(Option<ProductionHolder>, Option<LiveDeployment>), AppError> {
        let store = &self.inner.store;
        let holder = match store.production_holder(&release.service).await? {
            None => None,
            Some(holder) => Some(self.describe_holder(release, holder).await?),
        };
        let live = store.live(&release.service).await?;
        Ok((holder, live))
    }

    /// The release holding production for `release`'s service, as a refusal names it.
    async fn describe_holder(&self, release: &Release, holder: ReleaseId) -> Result<ProductionHolder, AppError> {
        if holder == release.id {
            return Ok(ProductionHolder {
                release_id: holder,
                version: release.version.clone(),
                started_by: release.started.by.display_name.clone(),
                step_title: release.current_step().title.clone(),
            });
        }
        Ok(match self.inner.store.release_row(&holder).await? {
            Some(row) => ProductionHolder {
                release_id: holder,
                version: Version::parse(&row.version).unwrap_or_else(|_| release.version.clone()),
                started_by: row.started_by,
                step_title: row.current_step_title,
            },
            None => ProductionHolder {
                release_id: holder,
                version: release.version.clone(),
                started_by: "unknown".into(),
                step_title: "unknown".into(),
            },
        })
    }

    fn commit_for(
        &self,
        after: &Release,
        before: Option<&Release>,
        recorded: Vec<Recorded>,
        request: Asked<'_>,
        now: chrono::DateTime<chrono::Utc>,
        answered: Option<(CardStep, u32)>,
    ) -> Commit {
        let Asked { id: request_id, fingerprint: asked } = request;
        let held_before = before.is_some_and(Release::holds_production);
        let hold = match (held_before, after.holds_production()) {
            // The domain checked the hold was free (or its own) when it decided; losing a race
            // for it since is a conflict, and the command is decided again.
            (false, true) => HoldChange::Acquire,
            (true, false) => HoldChange::Release,
            _ => HoldChange::Keep,
        };
        let live = live_change(after, &recorded);
        let outbox = notices::for_events_answered(before, after, &recorded, answered);
        // The answer is kept as the span of events it reports, not as its text: a few bytes
        // instead of kilobytes per command, and a replay renders it again exactly.
        let recipe = AnswerRecipe {
            first_seq: recorded.first().map_or(after.seq, |r| r.seq),
            last_seq: recorded.last().map_or(after.seq, |r| r.seq),
        };
        let response =
            (!request_id.as_str().starts_with("gen:")).then(|| to_raw_value(&recipe).ok()).flatten().map(|body| {
                StoredResponse {
                    request_id: request_id.clone(),
                    release_id: after.id.clone(),
                    // Kept for the rows' shape; the outcome's kind is read off its events.
                    status: if before.is_none() { 201 } else { 200 },
                    body,
                    fingerprint: Some(asked.to_owned()),
                }
            });
        Commit {
            release_id: after.id.clone(),
            service: after.service.clone(),
            expected_seq: before.map_or(0, |b| b.seq),
            events: recorded,
            projection: projection(after, now, self.inner.watching),
            outbox,
            response,
            hold,
            live,
        }
    }

    async fn send(&self, commit: Commit) -> Result<(), CommitError> {
        let (landing, _) = tokio::sync::watch::channel(None);
        let reply = self.submit(PendingCommit { commit, reply: None, builds_on: None, landing }).await?;
        reply.await.unwrap_or(Err(CommitError::Database(sqlx::Error::PoolClosed)))
    }

    /// Hands `pending` to the committer; the receiver gets its result.
    async fn submit(
        &self,
        mut pending: PendingCommit,
    ) -> Result<oneshot::Receiver<Result<(), CommitError>>, CommitError> {
        let (reply, answer) = oneshot::channel();
        pending.reply = Some(reply);
        if self.inner.committer.send(pending).await.is_err() {
            return Err(CommitError::Database(sqlx::Error::PoolClosed));
        }
        Ok(answer)
    }
}

/// Releases kept in memory at most. A team works on a handful at a time; CI may touch
/// thousands (a tick each) and walk away. Past this many, the longest idle ones are let go
/// and folded again from the store if they come back: memory stays bounded whatever the
/// number of open releases.
const MAX_RELEASES_IN_MEMORY: usize = 2_048;

/// A release's place in memory: the lock its commands take to be decided, and its state.
type Slot = Arc<tokio::sync::Mutex<SlotState>>;

/// A release as the commands decided on it leave it, some perhaps still being written.
#[derive(Default)]
struct SlotState {
    /// `None`: read it from the store.
    release: Option<Release>,
    /// The last commit sent for the release, until it is known to be written.
    tip: Option<Landing>,
    /// Counts readings from the store: a failed commit decided on an older reading says
    /// nothing about the current one.
    generation: u64,
}

impl SlotState {
    /// Lets go of the state if the last commit it includes failed (so did everything
    /// decided on top of it), and of a tip known to be written.
    fn forget_if_failed(&mut self) {
        let landed = self.tip.as_ref().and_then(|tip| *tip.borrow());
        match landed {
            Some(true) => self.tip = None,
            Some(false) => self.reset(),
            None => {}
        }
    }

    /// Waits until every commit sent for the release has been written or has failed, so
    /// that the state is what is stored (or `None` after a failure).
    async fn settle(&mut self) {
        let Some(mut tip) = self.tip.take() else { return };
        let written = tip.wait_for(Option::is_some).await.is_ok_and(|landed| *landed == Some(true));
        if !written {
            self.reset();
        }
    }

    fn reset(&mut self) {
        self.release = None;
        self.tip = None;
        self.generation += 1;
    }
}

/// The per-release slots, with when each was last asked for.
#[derive(Default)]
struct Slots {
    by_release: HashMap<ReleaseId, (Slot, u64)>,
    uses: u64,
}

impl Slots {
    fn get(&mut self, id: &ReleaseId) -> Slot {
        self.uses += 1;
        let uses = self.uses;
        if let Some((slot, last)) = self.by_release.get_mut(id) {
            *last = uses;
            return slot.clone();
        }
        if self.by_release.len() >= MAX_RELEASES_IN_MEMORY {
            self.let_go_of_idle();
        }
        let slot = Arc::new(tokio::sync::Mutex::new(SlotState::default()));
        self.by_release.insert(id.clone(), (slot.clone(), uses));
        slot
    }

    /// Lets go of the least recently used quarter of the slots nobody holds right now (a
    /// slot in use keeps its command's lock; dropping it would let a second command on
    /// the same release run beside the first).
    fn let_go_of_idle(&mut self) {
        let mut idle: Vec<(u64, ReleaseId)> = self
            .by_release
            .iter()
            .filter(|(_, (slot, _))| Arc::strong_count(slot) == 1)
            .map(|(id, (_, last))| (*last, id.clone()))
            .collect();
        idle.sort_unstable_by_key(|(last, _)| *last);
        for (_, id) in idle.into_iter().take(MAX_RELEASES_IN_MEMORY / 4) {
            self.by_release.remove(&id);
        }
    }
}

fn stale(expected: u64) -> Rejection {
    Rejection::new(
        RejectionCode::StaleState,
        format!("the release changed since you looked (you saw it after event {expected}); reload it and try again"),
    )
}

/// What production runs after these events, if they changed it.
fn live_change(release: &Release, recorded: &[Recorded]) -> LiveChange {
    use crate::domain::release::{Environment, Outcome};
    let mut change = LiveChange::Keep;
    for r in recorded {
        match &r.event {
            Event::DeploymentRecorded { report, rollback, .. }
                if report.environment == Environment::Production && report.outcome == Outcome::Succeeded =>
            {
                change = if *rollback {
                    match release.rollback.as_ref().and_then(|rb| rb.target.clone()) {
                        Some(target) => LiveChange::Set(target),
                        None => LiveChange::Clear,
                    }
                } else {
                    LiveChange::Set(LiveDeployment {
                        release_id: release.id.clone(),
                        version: release.version.clone(),
                        digest: report.digest.clone(),
                    })
                };
            }
            _ => {}
        }
    }
    change
}

fn projection(release: &Release, now: chrono::DateTime<chrono::Utc>, watching: bool) -> ReleaseRow {
    let step = release.current_step();
    ReleaseRow {
        id: release.id.clone(),
        service: release.service.clone(),
        version: release.version.to_string(),
        git_sha: release.git_sha.to_string(),
        playbook: release.playbook.name.to_string(),
        status: release.status.as_str().to_owned(),
        current_step: release.current as u32 + 1,
        current_step_id: step.id.to_string(),
        current_step_title: step.title.clone(),
        hotfix: release.hotfix,
        started_by: release.started.by.display_name.clone(),
        started_at: release.started.at,
        // The last activity, not the commit time: a stall notice must not un-stall the step.
        updated_at: release.last_activity.min(now),
        seq: release.seq,
        watch_due_at: if watching { release.watch_due_at() } else { None },
        hook_due_at: release.hook_due_at(),
    }
}

fn record_metrics(command: &'static str, outcome: &'static str, started: Instant) {
    metrics::counter!("shipgate_commands_total", "command" => command, "outcome" => outcome).increment(1);
    metrics::histogram!("shipgate_command_duration_seconds", "command" => command)
        .record(started.elapsed().as_secs_f64());
}

/// Counts a command as being decided for as long as it lives.
struct Deciding<'a>(&'a AtomicUsize);

impl<'a> Deciding<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Deciding(counter)
    }
}

impl Drop for Deciding<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How long the committer waits for commands still being decided to join a batch.
/// Each transaction pays one fsync whatever its size, so a slightly later, fuller batch
/// gives more durable commands per second; with nothing being decided it does not wait.
const GATHER_WINDOW: std::time::Duration = std::time::Duration::from_micros(400);

/// Groups whatever commits are waiting into one transaction, and answers each.
async fn run_committer(store: Store, mut rx: mpsc::Receiver<PendingCommit>, deciding: Arc<AtomicUsize>) {
    let mut batch: Vec<PendingCommit> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let gathering = Instant::now();
        while batch.len() < MAX_BATCH && gathering.elapsed() < GATHER_WINDOW {
            match rx.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) if deciding.load(Ordering::SeqCst) > 0 => tokio::task::yield_now().await,
                Err(_) => break,
            }
        }
        // A commit built on one that failed in an earlier batch fails unwritten; one built
        // on a commit of this batch is failed by the store if that one fails.
        let mut commits = Vec::with_capacity(batch.len());
        let mut waiting = Vec::with_capacity(batch.len());
        for pending in batch.drain(..) {
            let failed_below = pending.builds_on.as_ref().is_some_and(|below| *below.borrow() == Some(false));
            if failed_below {
                answer(pending.reply, &pending.landing, Err(CommitError::Conflict(Conflict::Sequence)));
            } else {
                commits.push(pending.commit);
                waiting.push((pending.reply, pending.landing));
            }
        }
        if commits.is_empty() {
            continue;
        }
        metrics::histogram!("shipgate_commit_batch_size").record(commits.len() as f64);
        let started = Instant::now();
        let results = store.commit(commits).await;
        metrics::histogram!("shipgate_commit_seconds").record(started.elapsed().as_secs_f64());
        for (result, (reply, landing)) in results.into_iter().zip(waiting) {
            answer(reply, &landing, result);
        }
    }
}

/// Tells a commit's landing, then its asker (who may read the landing at once).
fn answer(
    reply: Option<oneshot::Sender<Result<(), CommitError>>>,
    landing: &tokio::sync::watch::Sender<Option<bool>>,
    result: Result<(), CommitError>,
) {
    landing.send_replace(Some(result.is_ok()));
    // The asker may have gone (client disconnected); the commit stands regardless.
    if let Some(reply) = reply {
        let _ = reply.send(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: usize) -> ReleaseId {
        ReleaseId::new(format!("r{n}"))
    }

    #[test]
    fn memory_holds_a_bounded_number_of_releases_and_lets_go_of_the_longest_idle() {
        let mut slots = Slots::default();
        let held = slots.get(&id(0)); // a command is running on r0
        for n in 1..MAX_RELEASES_IN_MEMORY * 3 {
            let _ = slots.get(&id(n));
            let _ = slots.get(&id(1)); // r1 is worked on all along
            assert!(slots.by_release.len() <= MAX_RELEASES_IN_MEMORY);
        }
        assert!(slots.by_release.contains_key(&id(0)), "a slot in use is never let go");
        assert!(slots.by_release.contains_key(&id(1)), "the busiest release stays");
        assert!(!slots.by_release.contains_key(&id(2)), "a release touched once long ago is let go");
        assert!(Arc::ptr_eq(&held, &slots.get(&id(0))), "the held slot is the same one");
    }
}

#[cfg(test)]
mod committer_tests {
    use super::*;
    use crate::app::clock::SystemClock;
    use crate::domain::freeze::NoFreeze;
    use crate::domain::{ItemId, StepId};

    fn actor() -> Actor {
        Actor::new(Platform::Api, "ci", "CI").with_roles([crate::domain::RoleName::new("engineer")])
    }

    fn tick(item: &str) -> Command {
        Command::Tick { step: StepId::new("pre-flight"), item: ItemId::new(item) }
    }

    /// `command` decided on `release` as the app does, and the commit that would write it.
    fn decided(app: &App, release: &Release, command: Command, request: &RequestId) -> (Commit, Release) {
        let now = app.now();
        let ctx = Context {
            now,
            freeze: &NoFreeze,
            production_holder: None,
            live: None,
            policy: &app.inner.policy,
            recorded_artifact: None,
            locks: &[],
        };
        let (events, after) = release::decide(release, command, &actor(), &ctx).expect("accepted");
        let recorded = Recorded::sequence(events, release.seq, now, &actor(), request);
        let asked = Asked { id: request, fingerprint: "fingerprint" };
        (app.commit_for(&after, Some(release), recorded, asked, now, None), after)
    }

    /// A command is decided on top of one still being written. When that one fails (here: a
    /// repeat of an answered request), the later one claims events that were never written;
    /// the committer must not write it, even where another writer has meanwhile made the
    /// history as long as it expects.
    #[tokio::test]
    async fn a_commit_built_on_one_that_failed_is_not_written() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = crate::store::testing::fresh_sqlite(dir.path()).await;
        let app = App::new(AppParts {
            watching: false,
            drills: DrillPolicy::default(),
            store: store.clone(),
            playbooks: Playbooks::builtin(),
            freeze: Arc::new(NoFreeze),
            channel_freeze: HashMap::new(),
            policy: Policy::default(),
            clock: Arc::new(SystemClock),
        });
        let start = StartRelease {
            service: crate::domain::ServiceName::new("api"),
            version: Version::parse("1.0.0").expect("version"),
            git_sha: GitSha::parse("3f9c2e1").expect("sha"),
            playbook: None,
            hotfix: false,
            channel: None,
        };
        let started = app.start_release(start, actor(), RequestId::generate()).await.expect("started").release;
        let answered = RequestId::new("answered");
        app.execute(&started.id, tick("prs-merged"), actor(), answered.clone()).await.expect("ticked");
        let stored = app.load(&started.id).await.expect("loads").expect("exists");

        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(run_committer(store.clone(), rx, Arc::new(AtomicUsize::new(0))));
        let send = |commit: Commit, builds_on: Option<Landing>| {
            let (landing, landed) = tokio::sync::watch::channel(None);
            let (reply, answer) = oneshot::channel();
            let tx = tx.clone();
            async move {
                tx.send(PendingCommit { commit, reply: Some(reply), builds_on, landing }).await.expect("sent");
                (answer.await.expect("answered"), landed)
            }
        };

        // The repeat fails as a duplicate: nothing of it is written.
        let (repeat, speculative) = decided(&app, &stored, tick("no-blockers"), &answered);
        let (result, repeat_landed) = send(repeat, None).await;
        assert!(matches!(result, Err(CommitError::Conflict(Conflict::Duplicate(_)))), "{result:?}");
        // Another writer appends one event to what is stored.
        let (other, _) = decided(&app, &stored, tick("release-notes"), &RequestId::generate());
        assert!(store.commit(vec![other]).await.into_iter().all(|r| r.is_ok()));
        // Decided on top of the repeat, it expects exactly the history the other writer made.
        let (built_on_repeat, _) = decided(&app, &speculative, tick("env-and-secrets"), &RequestId::generate());
        let (result, landed) = send(built_on_repeat, Some(repeat_landed)).await;

        assert!(matches!(result, Err(CommitError::Conflict(Conflict::Sequence))), "{result:?}");
        assert_eq!(*landed.borrow(), Some(false), "its landing says it failed");
        let history = store.load_events(&started.id).await.expect("history");
        assert_eq!(history.len() as u64, stored.seq + 1, "only the other writer's event was added");
    }
}
