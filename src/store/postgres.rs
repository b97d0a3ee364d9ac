//! PostgreSQL: several shipgate processes may share the database. Correctness rests on
//! the unique constraints (`events_pkey` on `(release_id, seq)`, `responses_pkey`,
//! `production_holds_pkey`), not on anything one process knows.
//!
//! Each table's rows of a batch go in with one `INSERT ... SELECT FROM UNNEST(arrays)`:
//! one round trip and one prepared statement per table, whatever the batch size.

use super::model::{CommitError, Conflict, DueLane, HoldChange, LiveChange, ReleaseFilter};
use super::records::{
    ChatMessageRecord, EventRecord, LiveRecord, OutboxRecord, ReleaseRecord, ResponseRecord, RELEASE_COLUMNS,
};
use super::write_set::{EventRow, OutboxRow, ProjectionRow, ResponseRow, WriteSet};
use super::{found, found_all, is_unique_violation_of, StoreError};
use crate::domain::{ReleaseId, RequestId, ServiceName};
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Postgres, QueryBuilder};
use std::collections::HashMap;
use std::str::FromStr;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// JSON columns are read as text; see `records`.
const OUTBOX_COLUMNS: &str = "id, idempotency_key, release_id, lane, kind, payload::text AS payload, \
                              attempts, created_at, next_attempt_at, delivered_at, last_error";

#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// For the store's other modules (locks).
    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Opens the pool, first trying one connection of its own: sqlx's pool retries a
    /// refused connection until its timeout and then reports only `pool timed out`, while
    /// the error of a single attempt says what is wrong.
    pub(crate) async fn connect(
        url: &str,
        max_connections: u32,
        connect_timeout: std::time::Duration,
    ) -> Result<Self, StoreError> {
        let (url, left_out) = super::url::for_sqlx(url);
        for name in left_out {
            tracing::warn!(parameter = %name, "ignoring a database URL parameter the PostgreSQL driver does not read (names are case-sensitive); its value is neither used nor shown");
        }
        // sqlx's parse errors describe the problem without repeating the URL (and its password).
        let options = PgConnectOptions::from_str(&url)
            .map_err(|error| StoreError::Config(format!("invalid PostgreSQL URL: {error}")))?;
        let target = format!("{}:{}", options.get_host(), options.get_port());
        try_connect(&options, &target, connect_timeout).await?;
        // The trial connection proved the server answers; the pool gets the same time again.
        let pool = PgPoolOptions::new().max_connections(max_connections).connect_with(options);
        match tokio::time::timeout(connect_timeout, pool).await {
            Ok(pool) => Ok(Self { pool: pool.map_err(|error| unreachable(&target, &error))? }),
            Err(_) => Err(no_answer(&target, connect_timeout)),
        }
    }

    #[cfg(any(test, feature = "testing"))]
    pub(crate) async fn connect_options(options: PgConnectOptions, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new().max_connections(max_connections).connect_with(options).await?;
        Ok(Self { pool })
    }

    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        // sqlx takes an advisory lock, so instances starting together migrate one at a time.
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub(crate) async fn write(&self, set: &WriteSet<'_>) -> Result<(), CommitError> {
        let mut tx = self.pool.begin().await?;
        match write_rows(&mut tx, set).await {
            Ok(()) => {
                tx.commit().await?;
                Ok(())
            }
            Err(error) => {
                // The commit's error is the one to report; a failed rollback means the
                // connection is gone, and the pool replaces it.
                let _ = tx.rollback().await;
                Err(error)
            }
        }
    }

    pub(crate) async fn load_events(&self, id: &ReleaseId) -> Result<Vec<EventRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT release_id, seq, at, at_nanos, actor::text AS actor, request_id, payload::text AS payload \
             FROM events WHERE release_id = $1 ORDER BY seq",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    pub(crate) async fn stored_response(&self, request_id: &RequestId) -> Result<Option<ResponseRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT request_id, release_id, status, body::text AS body, fingerprint FROM responses WHERE request_id = $1",
        )
        .bind(request_id.as_str())
        .fetch_optional(&self.pool)
        .await?)
    }

    pub(crate) async fn release_row(&self, id: &ReleaseId) -> Result<Option<ReleaseRecord>, StoreError> {
        let sql = format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE id = $1");
        Ok(sqlx::query_as(&sql).bind(id.as_str()).fetch_optional(&self.pool).await?)
    }

    pub(crate) async fn list_releases(
        &self,
        filter: &ReleaseFilter,
        limit: i64,
    ) -> Result<Vec<ReleaseRecord>, StoreError> {
        let mut query = QueryBuilder::<Postgres>::new(format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE TRUE"));
        if let Some(service) = &filter.service {
            query.push(" AND service = ").push_bind(service.as_str());
        }
        if let Some(status) = &filter.status {
            query.push(" AND status = ").push_bind(status.as_str());
        }
        query.push(" ORDER BY started_at DESC, id DESC LIMIT ").push_bind(limit);
        Ok(query.build_query_as().fetch_all(&self.pool).await?)
    }

    pub(crate) async fn production_holder(&self, service: &ServiceName) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT release_id FROM production_holds WHERE service = $1")
            .bind(service.as_str())
            .fetch_optional(&self.pool)
            .await?)
    }

    pub(crate) async fn live(&self, service: &ServiceName) -> Result<Option<LiveRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT service, release_id, version, digest FROM live_deployments WHERE service = $1")
            .bind(service.as_str())
            .fetch_optional(&self.pool)
            .await?)
    }

    pub(crate) async fn pending_outbox(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<OutboxRecord>, StoreError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox \
             WHERE delivered_at IS NULL AND next_attempt_at <= $1 ORDER BY id LIMIT $2"
        );
        Ok(sqlx::query_as(&sql).bind(now).bind(limit).fetch_all(&self.pool).await?)
    }

    pub(crate) async fn mark_delivered(
        &self,
        id: i64,
        at: DateTime<Utc>,
        platform_message_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE outbox SET delivered_at = $2, platform_message_id = $3 WHERE id = $1")
            .bind(id)
            .bind(at)
            .bind(platform_message_id)
            .execute(&self.pool)
            .await?;
        found(done.rows_affected())
    }

    /// `ids` are distinct. All or nothing: if one is unknown, none is marked.
    pub(crate) async fn mark_delivered_many(&self, ids: &[i64], at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE outbox SET delivered_at = $2 WHERE id = ANY($1)")
            .bind(ids)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        // Dropping the transaction on the error path rolls it back.
        found_all(done.rows_affected(), ids.len())?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn due_lanes(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<DueLane>, StoreError> {
        // Each lane's first undelivered row (one pass over the partial index on
        // (lane, id)) decides whether the lane is due: later rows wait behind it. This
        // read takes no locks; `claim_lane` decides who delivers. A lease row still there
        // has run out: its holder never let go.
        let rows: Vec<(String, bool)> = sqlx::query_as(
            "SELECT first.lane, EXISTS (SELECT 1 FROM outbox_leases WHERE outbox_leases.lane = first.lane) \
             FROM (SELECT lane, MIN(id) AS id FROM outbox WHERE delivered_at IS NULL GROUP BY lane) AS first \
             JOIN outbox ON outbox.id = first.id \
             WHERE outbox.next_attempt_at <= $1 \
               AND NOT EXISTS (SELECT 1 FROM outbox_leases \
                               WHERE outbox_leases.lane = first.lane AND outbox_leases.until > $1) \
             ORDER BY first.id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(lane, abandoned)| DueLane { lane, abandoned }).collect())
    }

    /// A lease is a row rather than a row lock (`FOR UPDATE SKIP LOCKED`): a row lock
    /// lasts only as long as its transaction, so it would hold a transaction and a pooled
    /// connection open across every Discord/Slack call and 429 back-off of the lane, and a
    /// hung instance would keep its lanes for as long as its connection lives. A lease row
    /// lets delivery run outside any transaction, frees a dead holder's lanes at a known
    /// time, and is the same statement on SQLite.
    ///
    /// Race-free by `outbox_leases_pkey`: of two racing inserts of a free lane, one inserts
    /// and the other waits for it, then takes the conflict path. The conflict path locks
    /// the existing row and evaluates its `WHERE` on the latest committed version (also
    /// under READ COMMITTED), so of two holders taking over an expired lease, the second
    /// sees the first one's fresh lease and updates nothing. RETURNING yields a row only
    /// when this call inserted or updated.
    pub(crate) async fn claim_lane(
        &self,
        lane: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let claimed: Option<String> = sqlx::query_scalar(
            "INSERT INTO outbox_leases (lane, holder, until) VALUES ($1, $2, $4) \
             ON CONFLICT (lane) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until \
             WHERE outbox_leases.holder = EXCLUDED.holder OR outbox_leases.until <= $3 \
             RETURNING holder",
        )
        .bind(lane)
        .bind(holder)
        .bind(now)
        .bind(until)
        .fetch_optional(&self.pool)
        .await?;
        Ok(claimed.is_some())
    }

    pub(crate) async fn release_lane(&self, lane: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM outbox_leases WHERE lane = $1 AND holder = $2")
            .bind(lane)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn expire_lanes_of(&self, holder: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE outbox_leases SET until = $2 WHERE holder = $1")
            .bind(holder)
            .bind(DateTime::<Utc>::UNIX_EPOCH)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn lane_backlog(&self, lane: &str, limit: i64) -> Result<Vec<OutboxRecord>, StoreError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE lane = $1 AND delivered_at IS NULL ORDER BY id LIMIT $2"
        );
        Ok(sqlx::query_as(&sql).bind(lane).bind(limit).fetch_all(&self.pool).await?)
    }

    pub(crate) async fn release_for_chat_message(
        &self,
        platform: &str,
        key: &str,
        message_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT release_id FROM chat_messages WHERE platform = $1 AND key = $2 AND message_id = $3 LIMIT 1",
        )
        .bind(platform)
        .bind(key)
        .bind(message_id)
        .fetch_optional(&self.pool)
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
             WHERE release_id = $1 AND platform = $2 ORDER BY created_at, key",
        )
        .bind(release_id.as_str())
        .bind(platform)
        .fetch_all(&self.pool)
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
            "UPDATE chat_messages SET channel_id = $1, message_id = $2 \
             WHERE release_id = $3 AND platform = $4 AND key = $5 AND message_id = $6",
        )
        .bind(channel_id)
        .bind(message_id)
        .bind(release_id.as_str())
        .bind(platform)
        .bind(key)
        .bind(gone_message_id)
        .execute(&self.pool)
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
        // The no-op update on a taken key locks the row there (waiting for a racing
        // insert to commit) and makes RETURNING answer it; the first id is never replaced.
        Ok(sqlx::query_as(
            "INSERT INTO chat_messages (release_id, platform, key, channel_id, message_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (release_id, platform, key) DO UPDATE SET message_id = chat_messages.message_id \
             RETURNING key, channel_id, message_id",
        )
        .bind(release_id.as_str())
        .bind(platform)
        .bind(key)
        .bind(channel_id)
        .bind(message_id)
        .bind(at)
        .fetch_one(&self.pool)
        .await?)
    }

    pub(crate) async fn cached_calendar(&self, source: &str) -> Result<Option<(String, DateTime<Utc>)>, StoreError> {
        Ok(sqlx::query_as("SELECT body, fetched_at FROM calendar_sources WHERE source = $1")
            .bind(source)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub(crate) async fn cache_calendar(
        &self,
        source: &str,
        body: &str,
        fetched_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO calendar_sources (source, body, fetched_at) VALUES ($1, $2, $3) \
             ON CONFLICT (source) DO UPDATE SET body = EXCLUDED.body, fetched_at = EXCLUDED.fetched_at",
        )
        .bind(source)
        .bind(body)
        .bind(fetched_at)
        .execute(&self.pool)
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
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(error)
        .bind(next_attempt_at)
        .execute(&self.pool)
        .await?;
        found(done.rows_affected())
    }
}

/// The statements of one write transaction, in the same order as on SQLite. Rows are
/// sorted by key where order does not matter, so that concurrent transactions of two
/// instances take their row locks in the same order and wait rather than deadlock.
async fn write_rows(conn: &mut PgConnection, set: &WriteSet<'_>) -> Result<(), CommitError> {
    // Responses first: a replayed request is reported as a duplicate (whose first answer
    // the caller can return) rather than as the sequence conflict it usually also is.
    if let Err(error) = insert_responses(conn, &set.responses).await {
        return Err(match set.responses.as_slice() {
            [response] if is_unique_violation_of(&error, "responses_pkey") => {
                CommitError::Conflict(Conflict::Duplicate(response.request_id.clone()))
            }
            _ => CommitError::Database(error),
        });
    }

    // A cheap early check; the primary key on (release_id, seq) still decides races with
    // other instances between this read and the insert. One index probe per release: the
    // obvious `release_id = ANY($1) GROUP BY release_id` gets a generic plan after a few
    // executions that stalls for tens of milliseconds, and a custom plan that scans the table.
    let stored: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT ids.release_id, \
                COALESCE((SELECT MAX(seq) FROM events WHERE events.release_id = ids.release_id), 0) \
         FROM UNNEST($1::text[]) AS ids (release_id)",
    )
    .bind(set.release_ids())
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    if !set.sequences_follow(&stored) {
        return Err(CommitError::Conflict(Conflict::Sequence));
    }

    if let Err(error) = insert_events(conn, &set.events).await {
        return Err(if is_unique_violation_of(&error, "events_pkey") {
            CommitError::Conflict(Conflict::Sequence)
        } else {
            CommitError::Database(error)
        });
    }

    upsert_projections(conn, &set.projections).await?;
    insert_outbox(conn, &set.outbox).await?;

    for change in &set.production {
        match change.hold {
            HoldChange::Keep => {}
            HoldChange::Acquire => {
                // Takes the hold if it is free and answers who holds it either way; the
                // no-op update locks an existing row and makes RETURNING report its holder.
                let holder: String = sqlx::query_scalar(
                    "INSERT INTO production_holds (service, release_id, since) VALUES ($1, $2, $3) \
                     ON CONFLICT (service) DO UPDATE SET release_id = production_holds.release_id \
                     RETURNING release_id",
                )
                .bind(change.service)
                .bind(change.release_id)
                .bind(change.at)
                .fetch_one(&mut *conn)
                .await?;
                if holder != change.release_id {
                    return Err(CommitError::Conflict(Conflict::ProductionHeld(ReleaseId::new(holder))));
                }
            }
            HoldChange::Release => {
                sqlx::query("DELETE FROM production_holds WHERE service = $1 AND release_id = $2")
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
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (service) DO UPDATE SET release_id = EXCLUDED.release_id, \
                     version = EXCLUDED.version, digest = EXCLUDED.digest, updated_at = EXCLUDED.updated_at",
                )
                .bind(change.service)
                .bind(live.release_id.as_str())
                .bind(live.version.as_str())
                .bind(live.digest.as_str())
                .bind(change.at)
                .execute(&mut *conn)
                .await?;
            }
            LiveChange::Clear => {
                sqlx::query("DELETE FROM live_deployments WHERE service = $1")
                    .bind(change.service)
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    Ok(())
}

async fn insert_responses(conn: &mut PgConnection, responses: &[ResponseRow<'_>]) -> Result<(), sqlx::Error> {
    if responses.is_empty() {
        return Ok(());
    }
    let mut sorted: Vec<&ResponseRow> = responses.iter().collect();
    sorted.sort_unstable_by_key(|response| response.request_id);
    sqlx::query(
        "INSERT INTO responses (request_id, release_id, status, body, created_at, fingerprint) \
         SELECT request_id, release_id, status, body::jsonb, created_at, fingerprint \
         FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::timestamptz[], $6::text[]) \
         AS batch (request_id, release_id, status, body, created_at, fingerprint)",
    )
    .bind(sorted.iter().map(|r| r.request_id.as_str()).collect::<Vec<_>>())
    .bind(sorted.iter().map(|r| r.release_id).collect::<Vec<_>>())
    .bind(sorted.iter().map(|r| r.status).collect::<Vec<_>>())
    .bind(sorted.iter().map(|r| r.body.as_str()).collect::<Vec<_>>())
    .bind(sorted.iter().map(|r| r.created_at).collect::<Vec<_>>())
    .bind(sorted.iter().map(|r| r.fingerprint).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_events(conn: &mut PgConnection, events: &[EventRow<'_>]) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let mut sorted: Vec<&EventRow> = events.iter().collect();
    sorted.sort_unstable_by_key(|event| (event.release_id, event.seq));
    sqlx::query(
        "INSERT INTO events (release_id, seq, at, at_nanos, kind, actor, request_id, payload) \
         SELECT release_id, seq, at, at_nanos, kind, actor::jsonb, request_id, payload::jsonb \
         FROM UNNEST($1::text[], $2::bigint[], $3::timestamptz[], $4::bigint[], $5::text[], $6::text[], \
                     $7::text[], $8::text[]) \
         AS batch (release_id, seq, at, at_nanos, kind, actor, request_id, payload)",
    )
    .bind(sorted.iter().map(|e| e.release_id).collect::<Vec<_>>())
    .bind(sorted.iter().map(|e| e.seq).collect::<Vec<_>>())
    .bind(sorted.iter().map(|e| e.at).collect::<Vec<_>>())
    .bind(sorted.iter().map(|e| e.at_nanos).collect::<Vec<_>>())
    .bind(sorted.iter().map(|e| e.kind).collect::<Vec<_>>())
    .bind(sorted.iter().map(|e| e.actor.as_str()).collect::<Vec<_>>())
    .bind(sorted.iter().map(|e| e.request_id).collect::<Vec<_>>())
    .bind(sorted.iter().map(|e| e.payload.as_str()).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

async fn upsert_projections(conn: &mut PgConnection, projections: &[ProjectionRow<'_>]) -> Result<(), sqlx::Error> {
    if projections.is_empty() {
        return Ok(());
    }
    let mut sorted: Vec<&ProjectionRow> = projections.iter().collect();
    sorted.sort_unstable_by_key(|projection| projection.row.id.as_str());
    sqlx::query(
        "INSERT INTO releases (id, service, version, git_sha, playbook, status, current_step, current_step_id, \
                               current_step_title, hotfix, started_by, started_at, updated_at, seq, watch_due_at, \
                               hook_due_at) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                              $7::bigint[], $8::text[], $9::text[], $10::boolean[], $11::text[], \
                              $12::timestamptz[], $13::timestamptz[], $14::bigint[], $15::timestamptz[], $16::timestamptz[]) \
         ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, version = EXCLUDED.version, git_sha = EXCLUDED.git_sha, \
         current_step = EXCLUDED.current_step, current_step_id = EXCLUDED.current_step_id, \
         current_step_title = EXCLUDED.current_step_title, updated_at = EXCLUDED.updated_at, seq = EXCLUDED.seq, \
         watch_due_at = EXCLUDED.watch_due_at, hook_due_at = EXCLUDED.hook_due_at",
    )
    .bind(sorted.iter().map(|p| p.row.id.as_str()).collect::<Vec<_>>())
    .bind(sorted.iter().map(|p| p.row.service.as_str()).collect::<Vec<_>>())
    .bind(sorted.iter().map(|p| p.row.version.as_str()).collect::<Vec<_>>())
    .bind(sorted.iter().map(|p| p.row.git_sha.as_str()).collect::<Vec<_>>())
    .bind(sorted.iter().map(|p| p.row.playbook.as_str()).collect::<Vec<_>>())
    .bind(sorted.iter().map(|p| p.row.status.as_str()).collect::<Vec<_>>())
    .bind(sorted.iter().map(|p| p.current_step).collect::<Vec<_>>())
    .bind(sorted.iter().map(|p| p.row.current_step_id.as_str()).collect::<Vec<_>>())
    .bind(sorted.iter().map(|p| p.row.current_step_title.as_str()).collect::<Vec<_>>())
    .bind(sorted.iter().map(|p| p.row.hotfix).collect::<Vec<_>>())
    .bind(sorted.iter().map(|p| p.row.started_by.as_str()).collect::<Vec<_>>())
    .bind(sorted.iter().map(|p| p.started_at).collect::<Vec<_>>())
    .bind(sorted.iter().map(|p| p.updated_at).collect::<Vec<_>>())
    .bind(sorted.iter().map(|p| p.seq).collect::<Vec<_>>())
    .bind(sorted.iter().map(|p| p.watch_due_at).collect::<Vec<_>>())
    .bind(sorted.iter().map(|p| p.hook_due_at).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_outbox(conn: &mut PgConnection, messages: &[OutboxRow<'_>]) -> Result<(), sqlx::Error> {
    if messages.is_empty() {
        return Ok(());
    }
    // Not sorted, and ORDER BY position: ids (and so delivery order) follow the order the
    // messages were made in.
    sqlx::query(
        "INSERT INTO outbox (idempotency_key, release_id, lane, kind, payload, created_at, next_attempt_at) \
         SELECT idempotency_key, release_id, lane, kind, payload::jsonb, created_at, created_at \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[]) \
         WITH ORDINALITY AS batch (idempotency_key, release_id, lane, kind, payload, created_at, position) \
         ORDER BY position",
    )
    .bind(messages.iter().map(|m| m.idempotency_key).collect::<Vec<_>>())
    .bind(messages.iter().map(|m| m.release_id).collect::<Vec<_>>())
    .bind(messages.iter().map(|m| m.lane).collect::<Vec<_>>())
    .bind(messages.iter().map(|m| m.kind).collect::<Vec<_>>())
    .bind(messages.iter().map(|m| m.payload.as_str()).collect::<Vec<_>>())
    .bind(messages.iter().map(|m| m.created_at).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// One connection, opened and closed, retried while it is refused (a server still
/// starting) until `timeout` has passed; any other failure ends it at once.
async fn try_connect(options: &PgConnectOptions, target: &str, timeout: std::time::Duration) -> Result<(), StoreError> {
    use sqlx::Connection as _;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pause = std::time::Duration::from_millis(100);
    loop {
        match tokio::time::timeout_at(deadline, PgConnection::connect_with(options)).await {
            Ok(Ok(connection)) => {
                // Closing politely is a courtesy to the server; the pool opens its own.
                let _ = connection.close().await;
                return Ok(());
            }
            Ok(Err(error)) if is_refused(&error) && tokio::time::Instant::now() + pause < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(1));
            }
            Ok(Err(error)) => return Err(unreachable(target, &error)),
            Err(_) => return Err(no_answer(target, timeout)),
        }
    }
}

fn is_refused(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
}

fn no_answer(target: &str, timeout: std::time::Duration) -> StoreError {
    StoreError::Unreachable {
        target: target.to_owned(),
        cause: format!(
            "no answer within {} s (database.connect_timeout_seconds): a firewall dropping the packets, a wrong address, or a server too busy to answer",
            timeout.as_secs_f32()
        ),
    }
}

/// The failed attempt's error, with the likely cause in words. sqlx's messages here never
/// hold the password: they come from the socket, the resolver and the server.
fn unreachable(target: &str, error: &sqlx::Error) -> StoreError {
    let cause = match error {
        sqlx::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused: nothing is listening there (is PostgreSQL running, and are the host and port right?)"
                .to_owned()
        }
        sqlx::Error::Io(e) if is_name_lookup_failure(e) => {
            format!("the host name cannot be resolved (DNS): {e}")
        }
        sqlx::Error::Io(e) => format!("{e}"),
        sqlx::Error::Database(e) if matches!(e.code().as_deref(), Some("28P01" | "28000")) => {
            format!("the server refused the login (check the user and password, and pg_hba.conf): {}", e.message())
        }
        sqlx::Error::Database(e) if e.code().as_deref() == Some("3D000") => {
            format!("the server answers but the database does not exist: {}", e.message())
        }
        sqlx::Error::Tls(e) => format!("TLS failed (check sslmode and the certificates): {e}"),
        sqlx::Error::PoolTimedOut => "the connection pool could not open a connection in time".to_owned(),
        other => format!("{other}"),
    };
    StoreError::Unreachable { target: target.to_owned(), cause }
}

/// Resolver failures come as plain I/O errors; only their text says what they are.
fn is_name_lookup_failure(error: &std::io::Error) -> bool {
    let text = error.to_string().to_ascii_lowercase();
    [
        "lookup address",
        "name or service not known",
        "nodename nor servname",
        "no such host",
        "temporary failure in name resolution",
    ]
    .iter()
    .any(|marker| text.contains(marker))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

    #[tokio::test]
    async fn messages_from_before_lanes_get_their_release_as_lane() {
        let Some(admin_url) = crate::store::testing::postgres_url_from_env() else {
            eprintln!("skipped: set TEST_DATABASE_URL to run the PostgreSQL store tests");
            return;
        };
        let admin_options = PgConnectOptions::from_str(&admin_url).expect("admin URL");
        let name = format!("shipgate_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect_with(&admin_options).await.expect("admin connection");
        sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create database");
        let mut conn = PgConnection::connect_with(&admin_options.database(&name)).await.expect("test database");

        for migration in MIGRATOR.iter() {
            if migration.version == 3 {
                sqlx::query(
                    "INSERT INTO outbox (idempotency_key, release_id, kind, payload, created_at, next_attempt_at) \
                     VALUES ('old', 'rel-1', 'step_card', '{}', now(), now())",
                )
                .execute(&mut conn)
                .await
                .expect("insert a message the old way");
            }
            sqlx::raw_sql(&migration.sql).execute(&mut conn).await.expect("migration");
        }
        let lane: String = sqlx::query_scalar("SELECT lane FROM outbox WHERE idempotency_key = 'old'")
            .fetch_one(&mut conn)
            .await
            .expect("lane");
        assert_eq!(lane, "rel-1");
    }
}
