//! What the store keeps, as plain rows. The domain's types go in and out as JSON where
//! they are history (events, actors) and as columns where they are looked up.

use crate::domain::release::{LiveDeployment, Recorded};
use crate::domain::{ReleaseId, RequestId, ServiceName};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The listing projection of one release: kept in step with its events in the same
/// transaction, so listing never folds histories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRow {
    pub id: ReleaseId,
    pub service: ServiceName,
    pub version: String,
    pub git_sha: String,
    pub playbook: String,
    /// `active`, `rolling_back`, `completed`, `rolled_back`, `aborted`.
    pub status: String,
    /// 1-based number of the current step.
    pub current_step: u32,
    pub current_step_id: String,
    pub current_step_title: String,
    pub hotfix: bool,
    pub started_by: String,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Events stored for this release.
    pub seq: u64,
    /// When the watch of its production deploy next needs shipgate (the baseline, then
    /// each sample); `None` when nothing is watched.
    pub watch_due_at: Option<DateTime<Utc>>,
    /// When its rollback hook's latest run was asked for, while that run has no outcome:
    /// the rollback hook runner looks for these.
    pub hook_due_at: Option<DateTime<Utc>>,
}

/// A message for a chat platform, written with the events that caused it and delivered
/// later by the outbox worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOutboxMessage {
    /// Unique per message: a retried delivery reuses it (Discord `nonce`).
    pub idempotency_key: String,
    pub release_id: ReleaseId,
    /// The delivery lane: messages of one lane are delivered strictly in the order they
    /// were made, by one instance at a time (the release id for a release's thread,
    /// `channel:<id>` for channel-wide messages). Must not be empty.
    pub lane: String,
    /// What the message is (`release_started`, `step_card`, `rollback_notice`, ...).
    pub kind: String,
    pub payload: serde_json::Value,
}

/// A delivery lane ready to be claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueLane {
    pub lane: String,
    /// Its last holder never let go (it crashed, or was killed): the lane's first row may
    /// have reached the platform without its answer being recorded, so its delivery looks
    /// for it before posting it again.
    pub abandoned: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMessage {
    pub id: i64,
    pub idempotency_key: String,
    pub release_id: ReleaseId,
    pub lane: String,
    pub kind: String,
    pub payload: serde_json::Value,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// A message posted on a chat platform for a release: what it is (`key`: `thread`,
/// `release`, `card:3:1`, `rollback:17:<channel>`) and the platform's ids for it, so
/// later deliveries edit or reply to it instead of posting again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessageRef {
    pub key: String,
    pub channel_id: String,
    pub message_id: String,
}

/// The first answer to an inbound request, returned again to every repeat of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredResponse {
    pub request_id: RequestId,
    pub release_id: ReleaseId,
    pub status: u16,
    /// What the app needs to give the first answer again (the app keeps the span of events
    /// the request caused); raw JSON, stored as it is given.
    pub body: Box<serde_json::value::RawValue>,
    /// What the request asked, as the app fingerprints it: a later request under the same
    /// id is a repeat only if it asks the same. `None` for answers stored before
    /// fingerprints were kept (they are answered to any repeat, as they were then).
    #[serde(default)]
    pub fingerprint: Option<String>,
}

/// Equal when they answer the same request alike: bodies compare as JSON values, since
/// PostgreSQL's JSONB does not keep the text's key order or spacing.
impl PartialEq for StoredResponse {
    fn eq(&self, other: &Self) -> bool {
        let value = |raw: &serde_json::value::RawValue| serde_json::from_str::<serde_json::Value>(raw.get()).ok();
        self.request_id == other.request_id
            && self.release_id == other.release_id
            && self.status == other.status
            && self.fingerprint == other.fingerprint
            && value(&self.body) == value(&other.body)
    }
}

/// How a commit changes who holds production for the release's service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HoldChange {
    Keep,
    /// Take the hold; a conflict if another release has it (the domain checked it was free
    /// when it decided, so another writer won the race).
    Acquire,
    /// Let go of the hold if this release has it.
    Release,
}

/// How a commit changes what is live in production for the release's service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LiveChange {
    Keep,
    Set(LiveDeployment),
    /// Nothing shipgate knows of is live (a first deploy was rolled back).
    Clear,
}

/// Everything one command writes, in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    pub release_id: ReleaseId,
    pub service: ServiceName,
    /// How many events the release had when the command was decided; the new events
    /// carry `expected_seq + 1 ..`. Another writer having appended first is a conflict.
    pub expected_seq: u64,
    pub events: Vec<Recorded>,
    pub projection: ReleaseRow,
    pub outbox: Vec<NewOutboxMessage>,
    pub response: Option<StoredResponse>,
    pub hold: HoldChange,
    pub live: LiveChange,
}

/// Why a commit did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// Another writer got there first; reload and decide again.
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// Another process kept the database file locked through every attempt; nothing
    /// was written.
    #[error(transparent)]
    Busy(Busy),
    #[error(transparent)]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for CommitError {
    fn from(error: sqlx::Error) -> Self {
        match Busy::of(&error) {
            Some(busy) => CommitError::Busy(busy),
            None => CommitError::Database(error),
        }
    }
}

/// How long the busy hint asks a client to wait when the store did not say: a read that
/// met a locked file (another process checkpointing or recovering it; in WAL mode reads
/// never wait on writers) is worth trying again a moment later.
const READ_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The database was busy with another writer (SQLite's `SQLITE_BUSY` or `SQLITE_LOCKED`
/// after its busy timeout, and after every retry): nothing was written, and the same
/// request may be sent again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the database is busy with another writer and nothing was written; retry after {} seconds",
    self.retry_after_seconds()
)]
pub struct Busy {
    pub retry_after: Duration,
}

impl Busy {
    /// `error` as a busy database, if that is what it is. Only SQLite reports a busy file;
    /// PostgreSQL waits on row locks instead.
    pub fn of(error: &sqlx::Error) -> Option<Busy> {
        let sqlx::Error::Database(db) = error else { return None };
        let sqlite = db.try_downcast_ref::<sqlx::sqlite::SqliteError>()?;
        // Extended result codes keep the primary code in their low byte
        // (SQLITE_BUSY_SNAPSHOT is 517 = 5 | 2 << 8).
        let code: i32 = sqlx::error::DatabaseError::code(sqlite)?.parse().ok()?;
        matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED).then_some(Busy { retry_after: READ_RETRY_AFTER })
    }

    /// Whole seconds, at least one: what `Retry-After` and people are told.
    pub fn retry_after_seconds(&self) -> u64 {
        let whole = self.retry_after.as_secs();
        let rounded_up = if self.retry_after.subsec_nanos() > 0 { whole + 1 } else { whole };
        rounded_up.max(1)
    }
}

const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;

/// How SQLite writes wait for a file another process is writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyPolicy {
    /// How long one attempt waits for the file's write lock (SQLite's busy timeout).
    pub timeout: Duration,
    /// Attempts after the first at a write transaction that found the file busy, each
    /// from the beginning once the failed one was rolled back.
    pub retries: u32,
}

impl BusyPolicy {
    /// About six seconds in all before answering that the database is busy: long enough
    /// for a backup or a manual `sqlite3` write to finish, short enough for an HTTP client.
    pub const DEFAULT: BusyPolicy = BusyPolicy { timeout: Duration::from_secs(2), retries: 2 };

    /// What a client that met a busy database is told to wait: one busy timeout.
    pub fn busy(&self) -> Busy {
        Busy { retry_after: self.timeout }
    }
}

impl Default for BusyPolicy {
    fn default() -> Self {
        BusyPolicy::DEFAULT
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// The release's history moved on since it was read.
    Sequence,
    /// The request id was already answered.
    Duplicate(RequestId),
    /// Another release holds production for the service: this one.
    ProductionHeld(ReleaseId),
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Conflict::Sequence => f.write_str("the release's history moved on"),
            Conflict::Duplicate(id) => write!(f, "request {id} was already answered"),
            Conflict::ProductionHeld(holder) => write!(f, "release {holder} holds production"),
        }
    }
}

/// Filters for listing releases.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseFilter {
    pub service: Option<ServiceName>,
    pub status: Option<String>,
    /// At most this many, newest first; the store caps it at 500.
    pub limit: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_told_to_wait_whole_seconds_rounded_up_and_at_least_one() {
        let seconds = |ms| Busy { retry_after: Duration::from_millis(ms) }.retry_after_seconds();
        assert_eq!([seconds(0), seconds(100), seconds(1_000), seconds(1_001), seconds(2_000)], [1, 1, 1, 2, 2]);
    }
}
