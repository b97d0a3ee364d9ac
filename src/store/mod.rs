//! Persistence: append-only release histories, the listing projection, the outbox (with
//! its delivery lanes and their leases), the platform ids of posted chat messages,
//! answered requests, production holds and what is live, on SQLite (one instance, the
//! default) or PostgreSQL (several instances sharing one database). Delivered outbox rows
//! and answers are removed once older than a configured age (`retention`); histories never.
//!
//! Everything one command writes is a [`Commit`]; [`Store::commit`] writes a batch of them
//! in one transaction (group commit) and falls back to one transaction per commit when the
//! batch hits a conflict, so only the conflicting commits fail.
//!
//! Times: event times round-trip exactly (to the nanosecond). Every other stored time is
//! kept to the microsecond on both backends, PostgreSQL's precision, so both answer alike.

mod artifacts;
pub mod backup;
mod drills;
mod locks;
pub mod model;
mod outbox;
mod postgres;
mod records;
mod retention;
mod sqlite;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod url;
mod watches;
mod write_set;

pub use drills::ServiceDrills;
pub use locks::{EndWrite, LockWrite};
pub use model::*;
pub use postgres::PostgresStore;
pub use retention::RetainedTable;
pub use sqlite::SqliteStore;

use crate::domain::release::{LiveDeployment, Recorded};
use crate::domain::{ReleaseId, RequestId, ServiceName};
use chrono::{DateTime, SubsecRound, Utc};
use records::{ChatMessageRecord, EventRecord, LiveRecord, OutboxRecord, ReleaseRecord, ResponseRecord};
use std::collections::HashMap;
use write_set::WriteSet;

/// Releases listed when a filter names no limit.
pub const DEFAULT_LIST_LIMIT: u32 = 100;
/// The most releases one listing returns.
pub const MAX_LIST_LIMIT: u32 = 500;
/// Connections a store opens when the caller does not say (readers, for SQLite).
pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;
/// How long opening a PostgreSQL store may take when the caller does not say: sqlx's own
/// pool timeout, so callers that do not choose keep the bound they always had.
pub const DEFAULT_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The store, on one of its backends. Cloning is cheap: clones share the connection pools.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process kept the database file locked: nothing was written, try again later.
    #[error(transparent)]
    Busy(Busy),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value does not read back as what the store writes.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("store configuration: {0}")]
    Config(String),
    /// No connection could be opened: `target` is the host and port, `cause` the likely
    /// reason in words (nothing listening, DNS, credentials, no answer).
    #[error("cannot connect to PostgreSQL at {target}: {cause}")]
    Unreachable { target: String, cause: String },
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match Busy::of(&error) {
            Some(busy) => StoreError::Busy(busy),
            None => StoreError::Database(error),
        }
    }
}

impl Store {
    /// Opens the store named by `url` with [`DEFAULT_MAX_CONNECTIONS`].
    ///
    /// `sqlite://shipgate.db`, `sqlite:path` and `sqlite::memory:` open SQLite (the file is
    /// created if missing; WAL, `synchronous=FULL`, foreign keys on, [`BusyPolicy::DEFAULT`]);
    /// `postgres://...` and `postgresql://...` open PostgreSQL.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// Like [`Store::connect`], with at most `max_connections` connections (for SQLite:
    /// readers; all writes go through one extra writer connection).
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        Store::connect_within(url, max_connections, DEFAULT_CONNECT_TIMEOUT, BusyPolicy::DEFAULT).await
    }

    /// Like [`Store::connect_with`], giving up on PostgreSQL after `connect_timeout` with
    /// [`StoreError::Unreachable`], which names the host and the likely cause. (SQLite
    /// opens a local file; it has no server to wait for.) SQLite writes wait for a file
    /// another process is writing as `busy` says, then fail with [`StoreError::Busy`].
    pub async fn connect_within(
        url: &str,
        max_connections: u32,
        connect_timeout: std::time::Duration,
        busy: BusyPolicy,
    ) -> Result<Store, StoreError> {
        let max_connections = max_connections.max(1);
        if url.starts_with("sqlite:") {
            Ok(Store::Sqlite(SqliteStore::connect(url, max_connections, busy).await?))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(PostgresStore::connect(url, max_connections, connect_timeout).await?))
        } else {
            Err(StoreError::Config(unsupported_url_message(url)))
        }
    }

    /// Brings the schema up to date; running it again is harmless.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(store) => store.migrate().await,
            Store::Postgres(store) => store.migrate().await,
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(store) => store.ping().await,
            Store::Postgres(store) => store.ping().await,
        }
    }

    /// Closes the store at shutdown, after the last write. SQLite first moves everything in
    /// its write-ahead log into the database file and empties the log, so the file of a
    /// stopped instance holds all of its data on its own.
    pub async fn close(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(store) => store.close().await,
            Store::Postgres(store) => {
                store.pool().close().await;
                Ok(())
            }
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// The release's history, ordered by seq; empty for an unknown release.
    pub async fn load_events(&self, id: &ReleaseId) -> Result<Vec<Recorded>, StoreError> {
        let records = match self {
            Store::Sqlite(store) => store.load_events(id).await?,
            Store::Postgres(store) => store.load_events(id).await?,
        };
        records.into_iter().map(EventRecord::into_recorded).collect()
    }

    /// Group commit: writes all commits in one transaction when none conflicts. If the
    /// batch fails with a conflict, each commit is retried alone in its own transaction so
    /// that only the conflicting ones fail. Results are in input order.
    pub async fn commit(&self, commits: Vec<Commit>) -> Vec<Result<(), CommitError>> {
        if let [commit] = commits.as_slice() {
            return vec![self.commit_alone(commit).await];
        }

        // Rows are serialised before any transaction opens, so the writer's lock is held
        // for the database work only. A commit that cannot be serialised fails alone.
        let mut batch = WriteSet::default();
        let rejections: Vec<Option<sqlx::Error>> = commits.iter().map(|commit| batch.add(commit).err()).collect();
        let batch_outcome = if batch.commit_count() > 1 { Some(self.write(&batch).await) } else { None };

        let mut results = Vec::with_capacity(commits.len());
        // Per release, the lowest `expected_seq` of a commit of this batch that failed. A
        // later commit of the release counting past it was decided on top of the failed
        // one's events: written alone, it could land on events another writer appended in
        // between, which it never saw.
        let mut failed_from: HashMap<&ReleaseId, u64> = HashMap::new();
        for (commit, rejection) in commits.iter().zip(rejections) {
            let builds_on_failed =
                failed_from.get(&commit.release_id).is_some_and(|&failed| commit.expected_seq > failed);
            let result = match (rejection, &batch_outcome) {
                (Some(error), _) => Err(CommitError::Database(error)),
                (None, Some(Ok(()))) => Ok(()),
                // The file stayed locked through every retry: each commit alone would only
                // wait as long again, and nothing of the batch was written.
                (None, Some(Err(CommitError::Busy(busy)))) => Err(CommitError::Busy(*busy)),
                // Retrying commit by commit would only wait on the same broken connection
                // again; every commit of the batch reports the failure.
                (None, Some(Err(CommitError::Database(error)))) if is_connection_failure(error) => {
                    Err(CommitError::Database(same_connection_failure(error)))
                }
                // The batch hit a conflict (or a commit's data broke it): each commit alone,
                // so that only the guilty ones fail. Also the lone survivor of rejections.
                (None, _) if builds_on_failed => Err(CommitError::Conflict(Conflict::Sequence)),
                (None, _) => self.commit_alone(commit).await,
            };
            if result.is_err() {
                let failed = failed_from.entry(&commit.release_id).or_insert(commit.expected_seq);
                *failed = (*failed).min(commit.expected_seq);
            }
            results.push(result);
        }
        results
    }

    async fn commit_alone(&self, commit: &Commit) -> Result<(), CommitError> {
        let mut single = WriteSet::default();
        single.add(commit)?;
        self.write(&single).await
    }

    async fn write(&self, set: &WriteSet<'_>) -> Result<(), CommitError> {
        match self {
            Store::Sqlite(store) => store.write(set).await,
            Store::Postgres(store) => store.write(set).await,
        }
    }

    /// The first answer given to `request_id`, if it was answered.
    pub async fn stored_response(&self, request_id: &RequestId) -> Result<Option<StoredResponse>, StoreError> {
        let record = match self {
            Store::Sqlite(store) => store.stored_response(request_id).await?,
            Store::Postgres(store) => store.stored_response(request_id).await?,
        };
        record.map(ResponseRecord::into_response).transpose()
    }

    pub async fn release_row(&self, id: &ReleaseId) -> Result<Option<ReleaseRow>, StoreError> {
        let record = match self {
            Store::Sqlite(store) => store.release_row(id).await?,
            Store::Postgres(store) => store.release_row(id).await?,
        };
        record.map(ReleaseRecord::into_row).transpose()
    }

    /// Releases matching `filter`, newest first by `started_at`, then by id; at most
    /// `filter.limit` ([`DEFAULT_LIST_LIMIT`] if unset, capped at [`MAX_LIST_LIMIT`]).
    pub async fn list_releases(&self, filter: &ReleaseFilter) -> Result<Vec<ReleaseRow>, StoreError> {
        let limit = i64::from(filter.limit.unwrap_or(DEFAULT_LIST_LIMIT).min(MAX_LIST_LIMIT));
        let records = match self {
            Store::Sqlite(store) => store.list_releases(filter, limit).await?,
            Store::Postgres(store) => store.list_releases(filter, limit).await?,
        };
        records.into_iter().map(ReleaseRecord::into_row).collect()
    }

    /// The release holding production for `service`, if any.
    pub async fn production_holder(&self, service: &ServiceName) -> Result<Option<ReleaseId>, StoreError> {
        let holder = match self {
            Store::Sqlite(store) => store.production_holder(service).await?,
            Store::Postgres(store) => store.production_holder(service).await?,
        };
        Ok(holder.map(ReleaseId::new))
    }

    /// What is live in production for `service`, as far as shipgate knows.
    pub async fn live(&self, service: &ServiceName) -> Result<Option<LiveDeployment>, StoreError> {
        let record = match self {
            Store::Sqlite(store) => store.live(service).await?,
            Store::Postgres(store) => store.live(service).await?,
        };
        record.map(LiveRecord::into_live).transpose()
    }

    /// Undelivered messages due at `now` (`next_attempt_at <= now`), oldest first.
    pub async fn pending_outbox(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<OutboxMessage>, StoreError> {
        let now = row_time(now);
        let limit = i64::from(limit);
        let records = match self {
            Store::Sqlite(store) => store.pending_outbox(now, limit).await?,
            Store::Postgres(store) => store.pending_outbox(now, limit).await?,
        };
        records.into_iter().map(OutboxRecord::into_message).collect()
    }

    /// Records that message `id` was delivered, with the platform's id for it if any.
    pub async fn mark_delivered(
        &self,
        id: i64,
        at: DateTime<Utc>,
        platform_message_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let at = row_time(at);
        match self {
            Store::Sqlite(store) => store.mark_delivered(id, at, platform_message_id).await,
            Store::Postgres(store) => store.mark_delivered(id, at, platform_message_id).await,
        }
    }

    /// Records a failed delivery of message `id`: one more attempt, its error, and when
    /// to try again.
    pub async fn mark_failed(&self, id: i64, error: &str, next_attempt_at: DateTime<Utc>) -> Result<(), StoreError> {
        let next_attempt_at = row_time(next_attempt_at);
        match self {
            Store::Sqlite(store) => store.mark_failed(id, error, next_attempt_at).await,
            Store::Postgres(store) => store.mark_failed(id, error, next_attempt_at).await,
        }
    }
}

/// Chat delivery: outbox rows are delivered lane by lane. A worker asks for
/// [`Store::due_lanes`], takes each with [`Store::claim_lane`] (only one holder wins),
/// delivers its [`Store::lane_backlog`] in order while renewing the lease with
/// `claim_lane`, and lets go with [`Store::release_lane`]. A holder that dies loses its
/// lanes when its leases run out.
impl Store {
    /// Lanes ready for delivery at `now`, at most `limit`, the lane with the oldest
    /// undelivered message first. A lane is ready when its first undelivered message is
    /// due (`next_attempt_at <= now`; later messages wait behind it, so order is kept) and
    /// no lease on it runs past `now`, ours included.
    pub async fn due_lanes(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DueLane>, StoreError> {
        let now = row_time(now);
        let limit = i64::from(limit);
        match self {
            Store::Sqlite(store) => store.due_lanes(now, limit).await,
            Store::Postgres(store) => store.due_lanes(now, limit).await,
        }
    }

    /// Takes the lease on `lane` for `holder` until `until`, if no other holder's lease
    /// runs past `now`; renews it if `holder` has it. `true` if `holder` now holds the
    /// lane. Atomic: of racing holders, exactly one wins.
    pub async fn claim_lane(
        &self,
        lane: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (now, until) = (row_time(now), row_time(until));
        match self {
            Store::Sqlite(store) => store.claim_lane(lane, holder, now, until).await,
            Store::Postgres(store) => store.claim_lane(lane, holder, now, until).await,
        }
    }

    /// Gives up `holder`'s lease on `lane`; nothing happens if `holder` does not have it.
    pub async fn release_lane(&self, lane: &str, holder: &str) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(store) => store.release_lane(lane, holder).await,
            Store::Postgres(store) => store.release_lane(lane, holder).await,
        }
    }

    /// Queues `messages` outside any command, each at most once ever: a message whose
    /// idempotency key is already in the outbox (queued by another instance, or before a
    /// restart) is skipped. Returns how many were queued now.
    pub async fn enqueue_once(&self, messages: &[NewOutboxMessage], now: DateTime<Utc>) -> Result<u64, StoreError> {
        let now = row_time(now);
        match self {
            Store::Sqlite(store) => {
                store
                    .write_transaction(|mut tx| async move {
                        let outcome = outbox::insert_sqlite(&mut tx, messages, now, outbox::OnDuplicate::Skip).await;
                        (tx, outcome)
                    })
                    .await
            }
            Store::Postgres(store) => {
                let mut tx = store.pool().begin().await?;
                let queued = outbox::insert_postgres(&mut tx, messages, now, outbox::OnDuplicate::Skip).await?;
                tx.commit().await?;
                Ok(queued)
            }
        }
    }

    /// How many outbox messages wait for delivery, and when the oldest of them was made.
    pub async fn outbox_backlog(&self) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        match self {
            Store::Sqlite(store) => {
                let (count, oldest): (i64, Option<String>) =
                    sqlx::query_as("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE delivered_at IS NULL")
                        .fetch_one(store.pools().1)
                        .await?;
                let oldest = oldest
                    .map(|at| {
                        DateTime::parse_from_rfc3339(&at)
                            .map(|at| at.with_timezone(&Utc))
                            .map_err(|e| StoreError::Corrupt(format!("outbox.created_at {at:?}: {e}")))
                    })
                    .transpose()?;
                Ok((u64::try_from(count).unwrap_or(0), oldest))
            }
            Store::Postgres(store) => {
                let (count, oldest): (i64, Option<DateTime<Utc>>) =
                    sqlx::query_as("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE delivered_at IS NULL")
                        .fetch_one(store.pool())
                        .await?;
                Ok((u64::try_from(count).unwrap_or(0), oldest))
            }
        }
    }

    /// Ends every lease `holder` has, now: an instance starting again under its old name
    /// takes back what it held when it stopped instead of waiting for those leases to run
    /// out. The lease rows stay, expired, so the lanes show as [`DueLane::abandoned`]: the
    /// delivery that was under way when the instance stopped may have reached the platform.
    pub async fn expire_lanes_of(&self, holder: &str) -> Result<u64, StoreError> {
        match self {
            Store::Sqlite(store) => store.expire_lanes_of(holder).await,
            Store::Postgres(store) => store.expire_lanes_of(holder).await,
        }
    }

    /// The lane's undelivered messages in delivery order (by id), due or not; at most `limit`.
    pub async fn lane_backlog(&self, lane: &str, limit: u32) -> Result<Vec<OutboxMessage>, StoreError> {
        let limit = i64::from(limit);
        let records = match self {
            Store::Sqlite(store) => store.lane_backlog(lane, limit).await?,
            Store::Postgres(store) => store.lane_backlog(lane, limit).await?,
        };
        records.into_iter().map(OutboxRecord::into_message).collect()
    }

    /// Records messages `ids` as delivered at `at` without a platform message id (a card
    /// edit superseded by a later one of the same lane is never sent). All or nothing: an
    /// unknown id fails the call and marks none.
    pub async fn mark_delivered_many(&self, ids: &[i64], at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        let at = row_time(at);
        match self {
            Store::Sqlite(store) => store.mark_delivered_many(&ids, at).await,
            Store::Postgres(store) => store.mark_delivered_many(&ids, at).await,
        }
    }

    /// The messages posted for `release_id` on `platform`, oldest first.
    pub async fn chat_messages(
        &self,
        release_id: &ReleaseId,
        platform: &str,
    ) -> Result<Vec<ChatMessageRef>, StoreError> {
        let records = match self {
            Store::Sqlite(store) => store.chat_messages(release_id, platform).await?,
            Store::Postgres(store) => store.chat_messages(release_id, platform).await?,
        };
        Ok(records.into_iter().map(ChatMessageRecord::into_ref).collect())
    }

    /// The release that posted `message_id` under `key` on `platform` (a thread: the release
    /// whose thread it is), if any.
    pub async fn release_for_chat_message(
        &self,
        platform: &str,
        key: &str,
        message_id: &str,
    ) -> Result<Option<ReleaseId>, StoreError> {
        let found = match self {
            Store::Sqlite(store) => store.release_for_chat_message(platform, key, message_id).await?,
            Store::Postgres(store) => store.release_for_chat_message(platform, key, message_id).await?,
        };
        Ok(found.map(ReleaseId::new))
    }

    /// Keeps the platform's ids for the message `key` of `release_id`, and answers the
    /// ids stored for it: these, or the ones recorded first if `key` already has some
    /// (a delivery that lost a race must edit or reply to the winner's message).
    pub async fn record_chat_message(
        &self,
        release_id: &ReleaseId,
        platform: &str,
        key: &str,
        channel_id: &str,
        message_id: &str,
        at: DateTime<Utc>,
    ) -> Result<ChatMessageRef, StoreError> {
        let at = row_time(at);
        let record = match self {
            Store::Sqlite(store) => {
                store.record_chat_message(release_id, platform, key, channel_id, message_id, at).await?
            }
            Store::Postgres(store) => {
                store.record_chat_message(release_id, platform, key, channel_id, message_id, at).await?
            }
        };
        Ok(record.into_ref())
    }

    /// Points the message `key` of `release_id` at a new message that stands in for
    /// `gone_message_id` (deleted on the platform, so it could no longer be edited), and
    /// answers the ids stored for it. Only a record still holding the gone id is changed:
    /// of two deliveries replacing one message, the first one's stays.
    pub async fn replace_chat_message(
        &self,
        release_id: &ReleaseId,
        platform: &str,
        gone_message_id: &str,
        replacement: &ChatMessageRef,
        at: DateTime<Utc>,
    ) -> Result<ChatMessageRef, StoreError> {
        let ChatMessageRef { key, channel_id, message_id } = replacement;
        match self {
            Store::Sqlite(store) => {
                store.replace_chat_message(release_id, platform, key, gone_message_id, channel_id, message_id).await?
            }
            Store::Postgres(store) => {
                store.replace_chat_message(release_id, platform, key, gone_message_id, channel_id, message_id).await?
            }
        }
        self.record_chat_message(release_id, platform, key, channel_id, message_id, at).await
    }
}

impl Store {
    /// The last good copy of a remote calendar, and when it was fetched.
    pub async fn cached_calendar(&self, source: &str) -> Result<Option<(String, DateTime<Utc>)>, StoreError> {
        match self {
            Store::Sqlite(store) => store.cached_calendar(source).await,
            Store::Postgres(store) => store.cached_calendar(source).await,
        }
    }

    /// Keeps `body` as the last good copy of a remote calendar.
    pub async fn cache_calendar(&self, source: &str, body: &str, fetched_at: DateTime<Utc>) -> Result<(), StoreError> {
        let fetched_at = row_time(fetched_at);
        match self {
            Store::Sqlite(store) => store.cache_calendar(source, body, fetched_at).await,
            Store::Postgres(store) => store.cache_calendar(source, body, fetched_at).await,
        }
    }
}

/// A stored row time: microsecond precision, PostgreSQL's, on both backends.
fn row_time(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// For updates of one outbox row by id: naming an id that does not exist is the
/// caller's mistake, not a silent no-op.
pub(crate) fn found(rows_affected: u64) -> Result<(), StoreError> {
    if rows_affected == 0 {
        Err(StoreError::Database(sqlx::Error::RowNotFound))
    } else {
        Ok(())
    }
}

/// Like [`found`], for an update of several distinct outbox rows by id.
pub(crate) fn found_all(rows_affected: u64, ids: usize) -> Result<(), StoreError> {
    if rows_affected < ids as u64 {
        Err(StoreError::Database(sqlx::Error::RowNotFound))
    } else {
        Ok(())
    }
}

/// Names the scheme only: the rest of a URL may carry a password.
fn unsupported_url_message(url: &str) -> String {
    let accepted = "shipgate stores its data in SQLite (sqlite://shipgate.db, sqlite:path/to/file.db, \
                    sqlite::memory:) or PostgreSQL (postgres://user@host/db or postgresql://...)";
    match url.split_once(':') {
        Some((scheme, _)) if !scheme.is_empty() => {
            format!("unsupported database URL scheme `{scheme}`: {accepted}")
        }
        _ => format!("the database URL has no scheme: {accepted}"),
    }
}

/// Failures of the connection rather than of any one commit's data.
fn is_connection_failure(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    )
}

/// The same connection failure again, for every commit of a batch it failed
/// (`sqlx::Error` is not `Clone`).
fn same_connection_failure(error: &sqlx::Error) -> sqlx::Error {
    match error {
        sqlx::Error::Io(io) => sqlx::Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        sqlx::Error::Tls(tls) => sqlx::Error::Tls(tls.to_string().into()),
        sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
        sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
        sqlx::Error::WorkerCrashed => sqlx::Error::WorkerCrashed,
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

/// Whether `error` is a unique violation of `constraint`. SQLite does not report
/// constraint names, so its callers map per statement: each insert that can violate
/// uniqueness there touches exactly one unique constraint.
fn is_unique_violation_of(error: &sqlx::Error, constraint: &str) -> bool {
    match error {
        sqlx::Error::Database(db) if db.is_unique_violation() => db.constraint().is_none_or(|name| name == constraint),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_url_names_scheme_but_not_credentials() {
        let message = unsupported_url_message("mysql://root:hunter2@db/shipgate");
        assert!(message.contains("`mysql`"), "{message}");
        assert!(message.contains("sqlite://") && message.contains("postgres://"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(unsupported_url_message("shipgate.db").contains("no scheme"));
    }

    #[test]
    fn row_times_keep_microseconds() {
        let at = DateTime::from_timestamp(1_700_000_000, 123_456_789).expect("valid timestamp");
        assert_eq!(row_time(at).timestamp_subsec_nanos(), 123_456_000);
    }
}
