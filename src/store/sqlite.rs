//! SQLite: every write goes through one writer connection, so concurrent commits queue
//! in the process (and are batched by the caller) instead of fighting over the file lock;
//! reads use a pool of their own, which WAL lets run beside the writer.

use super::model::{Busy, BusyPolicy, CommitError, Conflict, DueLane, HoldChange, LiveChange, ReleaseFilter};
use super::records::{
    ChatMessageRecord, EventRecord, LiveRecord, OutboxRecord, ReleaseRecord, ResponseRecord, RELEASE_COLUMNS,
};
use super::write_set::WriteSet;
use super::{found, found_all, is_unique_violation_of, StoreError};
use crate::domain::{ReleaseId, RequestId, ServiceName};
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::migrate::Migrator;
use sqlx::query_builder::Separated;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite, Transaction};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// The pause before a write transaction that found the file busy is tried again: SQLite
/// answers some contention at once rather than after its busy timeout (`SQLITE_LOCKED`, a
/// stale WAL snapshot), and an immediate retry would meet the same writer.
const BUSY_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Multi-row inserts are cut into chunks of these sizes only, so each table has a handful
/// of statement shapes that stay in sqlx's prepared-statement cache, whatever the batch size.
const CHUNK_SIZES: [usize; 4] = [128, 32, 8, 1];

const OUTBOX_COLUMNS: &str = "id, idempotency_key, release_id, lane, kind, payload, attempts, created_at, \
                              next_attempt_at, delivered_at, last_error";

/// A write transaction on the one writer connection.
pub(super) type WriteTx = Transaction<'static, Sqlite>;

#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// One connection: all writes, in order.
    writer: SqlitePool,
    /// Reads; the same pool as `writer` for an in-memory database, which exists only
    /// inside its one connection.
    reader: SqlitePool,
    /// How writes wait for another process that holds the file's write lock.
    busy: BusyPolicy,
}

impl SqliteStore {
    /// Checkpoints the write-ahead log into the database file, truncating the log, then
    /// closes both pools.
    pub(crate) async fn close(&self) -> Result<(), StoreError> {
        let checkpoint = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.writer).await;
        self.reader.close().await;
        self.writer.close().await;
        checkpoint.map(|_| ()).map_err(StoreError::from)
    }

    pub(crate) async fn connect(url: &str, max_readers: u32, busy: BusyPolicy) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|error| StoreError::Config(format!("invalid SQLite URL: {error}")))?;
        if url.contains(":memory:") || url.contains("mode=memory") {
            Self::open_in_memory(options, busy).await
        } else {
            Self::open_file(options, max_readers, busy).await
        }
    }

    /// Opens (creating if missing) the database file at `path`.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) async fn connect_file(
        path: &std::path::Path,
        max_readers: u32,
        busy: BusyPolicy,
    ) -> Result<Self, StoreError> {
        Self::open_file(SqliteConnectOptions::new().filename(path), max_readers, busy).await
    }

    async fn open_file(options: SqliteConnectOptions, max_readers: u32, busy: BusyPolicy) -> Result<Self, StoreError> {
        let options = options.synchronous(SqliteSynchronous::Full).foreign_keys(true).busy_timeout(busy.timeout);
        // The writer connects first: it creates the file and puts it in WAL mode (which
        // persists in the file) before any reader opens it.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(options.clone().create_if_missing(true).journal_mode(SqliteJournalMode::Wal))
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(max_readers)
            .connect_with(options.create_if_missing(false).pragma("query_only", "ON"))
            .await?;
        Ok(Self { writer, reader, busy })
    }

    async fn open_in_memory(options: SqliteConnectOptions, busy: BusyPolicy) -> Result<Self, StoreError> {
        // The database lives as long as its connection: keep exactly one, forever.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.foreign_keys(true).busy_timeout(busy.timeout))
            .await?;
        Ok(Self { writer: pool.clone(), reader: pool, busy })
    }

    /// Runs `body` in one write transaction on the writer and commits it. If another
    /// process keeps the file locked past the busy timeout, the transaction is begun
    /// again from the start, up to the policy's retries, and then fails as busy.
    ///
    /// A retry never writes anything twice: an attempt that fails is rolled back before
    /// the next begins, and one whose rollback fails is not retried. (After a COMMIT that
    /// failed busy, SQLite keeps the transaction open and sqlx rolls it back on drop, ahead
    /// of anything else on the connection; sqlx refuses to `BEGIN` on a connection still in
    /// a transaction, so a retry cannot start on one that was not rolled back.)
    ///
    /// `body` is given the open transaction and hands it back with its outcome (owning it
    /// for the while keeps the future free of borrowed lifetimes, so it stays `Send`).
    pub(super) async fn write_transaction<T, E, Body>(&self, mut body: impl FnMut(WriteTx) -> Body) -> Result<T, E>
    where
        Body: std::future::Future<Output = (WriteTx, Result<T, E>)>,
        E: From<sqlx::Error> + RetriesWhenBusy,
    {
        let mut retries_left = self.busy.retries;
        loop {
            let attempt = async {
                // IMMEDIATE takes the write lock up front: if another process writes the
                // same file, the wait happens here under the busy timeout, not as
                // SQLITE_BUSY halfway through the transaction.
                let tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
                let (tx, outcome) = body(tx).await;
                match outcome {
                    Ok(value) => {
                        tx.commit().await?;
                        Ok(value)
                    }
                    Err(error) => match tx.rollback().await {
                        Ok(()) => Err(error),
                        // The connection is broken (the pool replaces it); the rollback's
                        // error is reported, so the attempt is never taken for a busy one.
                        Err(rollback) if error.is_busy() => Err(E::from(sqlx::Error::Protocol(format!(
                            "rolling back after the database was busy failed: {rollback}"
                        )))),
                        // The failure's own error is the one to report.
                        Err(_) => Err(error),
                    },
                }
            };
            match attempt.await {
                Err(mut error) if error.is_busy() => {
                    if retries_left == 0 {
                        error.answer_busy(self.busy.busy());
                        metrics::counter!("shipgate_database_busy_total", "outcome" => "gave_up").increment(1);
                        return Err(error);
                    }
                    retries_left -= 1;
                    metrics::counter!("shipgate_database_busy_total", "outcome" => "retried").increment(1);
                    tracing::warn!(retries_left, "the database file is locked by another writer; writing again");
                    tokio::time::sleep(BUSY_RETRY_PAUSE).await;
                }
                outcome => return outcome,
            }
        }
    }

    /// For the store's other modules (locks): the one writer and the readers.
    pub(super) fn pools(&self) -> (&SqlitePool, &SqlitePool) {
        (&self.writer, &self.reader)
    }

    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.writer).await?;
        Ok(())
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.writer).await?;
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    pub(crate) async fn write(&self, set: &WriteSet<'_>) -> Result<(), CommitError> {
        self.write_transaction(|mut tx| async move {
            let outcome = write_rows(&mut tx, set).await;
            (tx, outcome)
        })
        .await
    }

    pub(crate) async fn load_events(&self, id: &ReleaseId) -> Result<Vec<EventRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT release_id, seq, at, at_nanos, actor, request_id, payload \
             FROM events WHERE release_id = ?1 ORDER BY seq",
        )
        .bind(id.as_str())
        .fetch_all(&self.reader)
        .await?)
    }

    pub(crate) async fn stored_response(&self, request_id: &RequestId) -> Result<Option<ResponseRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT request_id, release_id, status, body, fingerprint FROM responses WHERE request_id = ?1",
        )
        .bind(request_id.as_str())
        .fetch_optional(&self.reader)
        .await?)
    }

    pub(crate) async fn release_row(&self, id: &ReleaseId) -> Result<Option<ReleaseRecord>, StoreError> {
        let sql = format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE id = ?1");
        Ok(sqlx::query_as(&sql).bind(id.as_str()).fetch_optional(&self.reader).await?)
    }

    pub(crate) async fn list_releases(
        &self,
        filter: &ReleaseFilter,
        limit: i64,
    ) -> Result<Vec<ReleaseRecord>, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new(format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE 1 = 1"));
        if let Some(service) = &filter.service {
            query.push(" AND service = ").push_bind(service.as_str());
        }
        if let Some(status) = &filter.status {
            query.push(" AND status = ").push_bind(status.as_str());
        }
        query.push(" ORDER BY started_at DESC, id DESC LIMIT ").push_bind(limit);
        Ok(query.build_query_as().fetch_all(&self.reader).await?)
    }

    pub(crate) async fn production_holder(&self, service: &ServiceName) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT release_id FROM production_holds WHERE service = ?1")
            .bind(service.as_str())
            .fetch_optional(&self.reader)
            .await?)
    }

    pub(crate) async fn live(&self, service: &ServiceName) -> Result<Option<LiveRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT service, release_id, version, digest FROM live_deployments WHERE service = ?1")
            .bind(service.as_str())
            .fetch_optional(&self.reader)
            .await?)
    }

    pub(crate) async fn pending_outbox(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<OutboxRecord>, StoreError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox \
             WHERE delivered_at IS NULL AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2"
        );
        Ok(sqlx::query_as(&sql).bind(stored_time(now)).bind(limit).fetch_all(&self.reader).await?)
    }

    pub(crate) async fn mark_delivered(
        &self,
        id: i64,
        at: DateTime<Utc>,
        platform_message_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE outbox SET delivered_at = ?2, platform_message_id = ?3 WHERE id = ?1")
            .bind(id)
            .bind(stored_time(at))
            .bind(platform_message_id)
            .execute(&self.writer)
            .await?;
        found(done.rows_affected())
    }

    /// `ids` are distinct. All or nothing: if one is unknown, none is marked.
    pub(crate) async fn mark_delivered_many(&self, ids: &[i64], at: DateTime<Utc>) -> Result<(), StoreError> {
        let json_ids = serde_json::to_string(ids).map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
        let json_ids = json_ids.as_str();
        self.write_transaction(|mut tx| async move {
            let outcome = async {
                let done =
                    sqlx::query("UPDATE outbox SET delivered_at = ?2 WHERE id IN (SELECT value FROM json_each(?1))")
                        .bind(json_ids)
                        .bind(stored_time(at))
                        .execute(&mut *tx)
                        .await?;
                // An error here rolls the whole update back.
                found_all(done.rows_affected(), ids.len())
            }
            .await;
            (tx, outcome)
        })
        .await
    }

    pub(crate) async fn due_lanes(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<DueLane>, StoreError> {
        // Each lane's first undelivered row (one pass over the partial index on
        // (lane, id)) decides whether the lane is due: later rows wait behind it. A lease
        // row still there has run out: its holder never let go.
        let rows: Vec<(String, bool)> = sqlx::query_as(
            "SELECT first.lane, EXISTS (SELECT 1 FROM outbox_leases WHERE outbox_leases.lane = first.lane) \
             FROM (SELECT lane, MIN(id) AS id FROM outbox WHERE delivered_at IS NULL GROUP BY lane) AS first \
             JOIN outbox ON outbox.id = first.id \
             WHERE outbox.next_attempt_at <= ?1 \
               AND NOT EXISTS (SELECT 1 FROM outbox_leases \
                               WHERE outbox_leases.lane = first.lane AND outbox_leases.until > ?1) \
             ORDER BY first.id LIMIT ?2",
        )
        .bind(stored_time(now))
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(|(lane, abandoned)| DueLane { lane, abandoned }).collect())
    }

    pub(crate) async fn claim_lane(
        &self,
        lane: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // One statement, so atomic: the insert takes a free lane, the conditional update
        // an expired lease or our own, and RETURNING yields a row only if either happened.
        // Writes of this process queue on the one writer connection; other processes
        // wait on the database's write lock.
        let claimed: Option<String> = sqlx::query_scalar(
            "INSERT INTO outbox_leases (lane, holder, until) VALUES (?1, ?2, ?4) \
             ON CONFLICT (lane) DO UPDATE SET holder = excluded.holder, until = excluded.until \
             WHERE outbox_leases.holder = excluded.holder OR outbox_leases.until <= ?3 \
             RETURNING holder",
        )
        .bind(lane)
        .bind(holder)
        .bind(stored_time(now))
        .bind(stored_time(until))
        .fetch_optional(&self.writer)
        .await?;
        Ok(claimed.is_some())
    }

    pub(crate) async fn release_lane(&self, lane: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM outbox_leases WHERE lane = ?1 AND holder = ?2")
            .bind(lane)
            .bind(holder)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub(crate) async fn expire_lanes_of(&self, holder: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE outbox_leases SET until = ?2 WHERE holder = ?1")
            .bind(holder)
            .bind(stored_time(DateTime::UNIX_EPOCH))
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn lane_backlog(&self, lane: &str, limit: i64) -> Result<Vec<OutboxRecord>, StoreError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE lane = ?1 AND delivered_at IS NULL ORDER BY id LIMIT ?2"
        );
        Ok(sqlx::query_as(&sql).bind(lane).bind(limit).fetch_all(&self.reader).await?)
    }

    pub(crate) async fn release_for_chat_message(
        &self,
        platform: &str,
        key: &str,
        message_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT release_id FROM chat_messages WHERE platform = ?1 AND key = ?2 AND message_id = ?3 LIMIT 1",
        )
        .bind(platform)
        .bind(key)
        .bind(message_id)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(|(id,)| id))
    }

    pub(crate) async fn chat_messages(
        &self,
        release_id: &ReleaseId,
        platform: &str,
    ) -> Result<Vec<ChatMessageRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT key, channel_id, message_id FROM chat_messages \
             WHERE release_id = ?1 AND platform = ?2 ORDER BY created_at, key",
        )
        .bind(release_id.as_str())
        .bind(platform)
        .fetch_all(&self.reader)
        .await?)
    }

    pub(crate) async fn replace_chat_message(
        &self,
        release_id: &ReleaseId,
        platform: &str,
        key: &str,
        gone_message_id: &str,
        channel_id: &str,
        message_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE chat_messages SET channel_id = ?1, message_id = ?2 \
             WHERE release_id = ?3 AND platform = ?4 AND key = ?5 AND message_id = ?6",
        )
        .bind(channel_id)
        .bind(message_id)
        .bind(release_id.as_str())
        .bind(platform)
        .bind(key)
        .bind(gone_message_id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub(crate) async fn record_chat_message(
        &self,
        release_id: &ReleaseId,
        platform: &str,
        key: &str,
        channel_id: &str,
        message_id: &str,
        at: DateTime<Utc>,
    ) -> Result<ChatMessageRecord, StoreError> {
        // The no-op update on a taken key makes RETURNING answer the row already there.
        Ok(sqlx::query_as(
            "INSERT INTO chat_messages (release_id, platform, key, channel_id, message_id, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (release_id, platform, key) DO UPDATE SET message_id = chat_messages.message_id \
             RETURNING key, channel_id, message_id",
        )
        .bind(release_id.as_str())
        .bind(platform)
        .bind(key)
        .bind(channel_id)
        .bind(message_id)
        .bind(stored_time(at))
        .fetch_one(&self.writer)
        .await?)
    }

    pub(crate) async fn cached_calendar(&self, source: &str) -> Result<Option<(String, DateTime<Utc>)>, StoreError> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT body, fetched_at FROM calendar_sources WHERE source = ?1")
                .bind(source)
                .fetch_optional(&self.reader)
                .await?;
        row.map(|(body, at)| {
            DateTime::parse_from_rfc3339(&at)
                .map(|at| (body, at.with_timezone(&Utc)))
                .map_err(|e| StoreError::Corrupt(format!("calendar_sources.fetched_at {at:?}: {e}")))
        })
        .transpose()
    }

    pub(crate) async fn cache_calendar(
        &self,
        source: &str,
        body: &str,
        fetched_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO calendar_sources (source, body, fetched_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (source) DO UPDATE SET body = excluded.body, fetched_at = excluded.fetched_at",
        )
        .bind(source)
        .bind(body)
        .bind(stored_time(fetched_at))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub(crate) async fn mark_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
        )
        .bind(id)
        .bind(error)
        .bind(stored_time(next_attempt_at))
        .execute(&self.writer)
        .await?;
        found(done.rows_affected())
    }
}

/// Errors that may say the database file was busy, so that a write can be tried again.
pub(super) trait RetriesWhenBusy {
    fn is_busy(&self) -> bool;
    /// Makes a busy error say `busy` (how long the client should wait); others stay as they are.
    fn answer_busy(&mut self, busy: Busy);
}

impl RetriesWhenBusy for CommitError {
    fn is_busy(&self) -> bool {
        matches!(self, CommitError::Busy(_))
    }

    fn answer_busy(&mut self, busy: Busy) {
        if let CommitError::Busy(answer) = self {
            *answer = busy;
        }
    }
}

impl RetriesWhenBusy for StoreError {
    fn is_busy(&self) -> bool {
        matches!(self, StoreError::Busy(_))
    }

    fn answer_busy(&mut self, busy: Busy) {
        if let StoreError::Busy(answer) = self {
            *answer = busy;
        }
    }
}

/// RFC 3339 of one fixed width (microseconds, `Z`): string order is time order, which the
/// indexes on times and `next_attempt_at <= now` rely on.
pub(crate) fn stored_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The statements of one write transaction. Each statement that can violate a unique
/// constraint touches exactly one, which is how its violation is named (SQLite does not
/// report constraint names).
async fn write_rows(conn: &mut SqliteConnection, set: &WriteSet<'_>) -> Result<(), CommitError> {
    // Responses first: a replayed request is reported as a duplicate (whose first answer
    // the caller can return) rather than as the sequence conflict it usually also is.
    let responses = insert_chunked(
        conn,
        "INSERT INTO responses (request_id, release_id, status, body, created_at, fingerprint) ",
        "",
        &set.responses,
        |mut row, response| {
            row.push_bind(response.request_id.as_str())
                .push_bind(response.release_id)
                .push_bind(response.status)
                .push_bind(response.body.as_str())
                .push_bind(stored_time(response.created_at))
                .push_bind(response.fingerprint);
        },
    )
    .await;
    if let Err(error) = responses {
        return Err(match set.responses.as_slice() {
            [response] if is_unique_violation_of(&error, "responses_pkey") => {
                CommitError::Conflict(Conflict::Duplicate(response.request_id.clone()))
            }
            _ => CommitError::from(error),
        });
    }

    // One row back rather than one per release: each row is a hop from the database thread.
    let release_ids =
        serde_json::to_string(&set.release_ids()).map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
    let stored: String = sqlx::query_scalar(
        "SELECT json_group_object(ids.value, \
                COALESCE((SELECT MAX(seq) FROM events WHERE events.release_id = ids.value), 0)) \
         FROM json_each(?1) AS ids",
    )
    .bind(release_ids)
    .fetch_one(&mut *conn)
    .await?;
    let stored: HashMap<String, i64> =
        serde_json::from_str(&stored).map_err(|error| sqlx::Error::Decode(Box::new(error)))?;
    if !set.sequences_follow(&stored) {
        return Err(CommitError::Conflict(Conflict::Sequence));
    }

    let events = insert_chunked(
        conn,
        "INSERT INTO events (release_id, seq, at, at_nanos, kind, actor, request_id, payload) ",
        "",
        &set.events,
        |mut row, event| {
            row.push_bind(event.release_id)
                .push_bind(event.seq)
                .push_bind(stored_time(event.at))
                .push_bind(event.at_nanos)
                .push_bind(event.kind)
                .push_bind(event.actor.as_str())
                .push_bind(event.request_id)
                .push_bind(event.payload.as_str());
        },
    )
    .await;
    if let Err(error) = events {
        // Another writer appended the same seq between our check and our insert.
        return Err(if is_unique_violation_of(&error, "events_pkey") {
            CommitError::Conflict(Conflict::Sequence)
        } else {
            CommitError::from(error)
        });
    }

    insert_chunked(
        conn,
        "INSERT INTO releases (id, service, version, git_sha, playbook, status, current_step, current_step_id, \
         current_step_title, hotfix, started_by, started_at, updated_at, seq, watch_due_at, hook_due_at) ",
        // Only what a command can change: a release's identity columns never change, and
        // leaving them out spares rewriting the index entries on service and started_at.
        " ON CONFLICT (id) DO UPDATE SET status = excluded.status, version = excluded.version, git_sha = excluded.git_sha, \
         current_step = excluded.current_step, current_step_id = excluded.current_step_id, \
         current_step_title = excluded.current_step_title, updated_at = excluded.updated_at, seq = excluded.seq, \
         watch_due_at = excluded.watch_due_at, hook_due_at = excluded.hook_due_at",
        &set.projections,
        |mut row, projection| {
            let release = projection.row;
            row.push_bind(release.id.as_str())
                .push_bind(release.service.as_str())
                .push_bind(release.version.as_str())
                .push_bind(release.git_sha.as_str())
                .push_bind(release.playbook.as_str())
                .push_bind(release.status.as_str())
                .push_bind(projection.current_step)
                .push_bind(release.current_step_id.as_str())
                .push_bind(release.current_step_title.as_str())
                .push_bind(release.hotfix)
                .push_bind(release.started_by.as_str())
                .push_bind(stored_time(projection.started_at))
                .push_bind(stored_time(projection.updated_at))
                .push_bind(projection.seq)
                .push_bind(projection.watch_due_at.map(stored_time))
                .push_bind(projection.hook_due_at.map(stored_time));
        },
    )
    .await?;

    // Input order, so ids (and delivery order) follow the order the messages were made in.
    insert_chunked(
        conn,
        "INSERT INTO outbox (idempotency_key, release_id, lane, kind, payload, created_at, next_attempt_at) ",
        "",
        &set.outbox,
        |mut row, message| {
            let due = stored_time(message.created_at);
            row.push_bind(message.idempotency_key)
                .push_bind(message.release_id)
                .push_bind(message.lane)
                .push_bind(message.kind)
                .push_bind(message.payload.as_str())
                .push_bind(due.clone())
                .push_bind(due);
        },
    )
    .await?;

    for change in &set.production {
        match change.hold {
            HoldChange::Keep => {}
            HoldChange::Acquire => {
                // Takes the hold if it is free and answers who holds it either way; the
                // no-op update is what makes RETURNING report an existing holder.
                let holder: String = sqlx::query_scalar(
                    "INSERT INTO production_holds (service, release_id, since) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (service) DO UPDATE SET release_id = production_holds.release_id \
                     RETURNING release_id",
                )
                .bind(change.service)
                .bind(change.release_id)
                .bind(stored_time(change.at))
                .fetch_one(&mut *conn)
                .await?;
                if holder != change.release_id {
                    return Err(CommitError::Conflict(Conflict::ProductionHeld(ReleaseId::new(holder))));
                }
            }
            HoldChange::Release => {
                sqlx::query("DELETE FROM production_holds WHERE service = ?1 AND release_id = ?2")
                    .bind(change.service)
                    .bind(change.release_id)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        match change.live {
            LiveChange::Keep => {}
            LiveChange::Set(live) => {
                sqlx::query(
                    "INSERT INTO live_deployments (service, release_id, version, digest, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (service) DO UPDATE SET release_id = excluded.release_id, \
                     version = excluded.version, digest = excluded.digest, updated_at = excluded.updated_at",
                )
                .bind(change.service)
                .bind(live.release_id.as_str())
                .bind(live.version.as_str())
                .bind(live.digest.as_str())
                .bind(stored_time(change.at))
                .execute(&mut *conn)
                .await?;
            }
            LiveChange::Clear => {
                sqlx::query("DELETE FROM live_deployments WHERE service = ?1")
                    .bind(change.service)
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    Ok(())
}

/// Inserts `rows` with multi-row `INSERT ... VALUES` statements of [`CHUNK_SIZES`] rows:
/// one round trip to the database thread per chunk rather than per row.
async fn insert_chunked<'r, T, F>(
    conn: &mut SqliteConnection,
    insert: &str,
    on_conflict: &str,
    rows: &'r [T],
    mut bind_row: F,
) -> Result<(), sqlx::Error>
where
    F: FnMut(Separated<'_, 'r, Sqlite, &'static str>, &'r T),
{
    let mut rest = rows;
    for size in CHUNK_SIZES {
        while rest.len() >= size {
            let (chunk, tail) = rest.split_at(size);
            let mut query = QueryBuilder::<Sqlite>::new(insert);
            query.push_values(chunk, &mut bind_row);
            query.push(on_conflict);
            query.build().execute(&mut *conn).await?;
            rest = tail;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_times_sort_as_times() {
        let times = [
            DateTime::from_timestamp(1_700_000_000, 0),
            DateTime::from_timestamp(1_700_000_000, 1_000),
            DateTime::from_timestamp(1_700_000_000, 100_000_000),
            DateTime::from_timestamp(1_700_000_001, 0),
        ]
        .map(|at| stored_time(at.expect("valid timestamp")));
        assert!(times.windows(2).all(|pair| pair[0] < pair[1]), "{times:?}");
        assert_eq!(times[1], "2023-11-14T22:13:20.000001Z");
    }

    #[tokio::test]
    async fn messages_from_before_lanes_get_their_release_as_lane() {
        let store = SqliteStore::connect("sqlite::memory:", 1, BusyPolicy::DEFAULT).await.expect("in-memory store");
        for migration in MIGRATOR.iter() {
            if migration.version == 3 {
                sqlx::query(
                    "INSERT INTO outbox (idempotency_key, release_id, kind, payload, created_at, next_attempt_at) \
                     VALUES ('old', 'rel-1', 'step_card', '{}', ?1, ?1)",
                )
                .bind(stored_time(Utc::now()))
                .execute(&store.writer)
                .await
                .expect("insert a message the old way");
            }
            sqlx::raw_sql(&migration.sql).execute(&store.writer).await.expect("migration");
        }
        let lane: String = sqlx::query_scalar("SELECT lane FROM outbox WHERE idempotency_key = 'old'")
            .fetch_one(&store.writer)
            .await
            .expect("lane");
        assert_eq!(lane, "rel-1");
    }
}
