//! The schedules of shipgate's own background work on releases, each with a lease per
//! release so that with several instances on one database exactly one does it at a time:
//!
//! - the watch: which releases need a baseline or a sample now (`watch_due_at`,
//!   `watch_leases`);
//! - the rollback hook: which releases have a hook run asked for and without an outcome
//!   (`hook_due_at`, `hook_leases`).
//!
//! Each schedule is a column of the release projection, written in the same transaction
//! as the events that move it, so it survives restarts as they do.

use super::sqlite::stored_time;
use super::{row_time, Store, StoreError};
use crate::domain::ReleaseId;
use chrono::{DateTime, Utc};

/// One schedule: its column of `releases` and its lease table. Fixed names, never input.
#[derive(Clone, Copy)]
struct Schedule {
    due: &'static str,
    leases: &'static str,
}

const WATCH: Schedule = Schedule { due: "watch_due_at", leases: "watch_leases" };
const HOOK: Schedule = Schedule { due: "hook_due_at", leases: "hook_leases" };

impl Store {
    /// Releases whose watch is due at `now`, the longest overdue first, at most `limit`,
    /// leaving out those another holder's lease covers.
    pub async fn watches_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(ReleaseId, DateTime<Utc>)>, StoreError> {
        self.due(WATCH, now, limit).await
    }

    /// Takes the watch of `release` for `holder` until `until`, if no other holder's lease
    /// runs past `now`; renews it if `holder` has it. `true` if `holder` now holds it.
    /// One statement, so of racing instances exactly one wins (as with outbox lanes).
    pub async fn claim_watch(
        &self,
        release: &ReleaseId,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.claim(WATCH, release, holder, now, until).await
    }

    /// Gives up `holder`'s lease on the watch of `release`; nothing if it is not `holder`'s.
    pub async fn release_watch(&self, release: &ReleaseId, holder: &str) -> Result<(), StoreError> {
        self.let_go(WATCH, release, holder).await
    }

    /// Takes for `holder` until `until` the watch of every release due at `now` that no
    /// other holder's lease covers, the longest overdue first, at most `limit`: what
    /// [`Store::watches_due`] and a [`Store::claim_watch`] of each do, in one statement, so
    /// that a sweep of many releases costs one write instead of one per release.
    pub async fn claim_due_watches(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(ReleaseId, DateTime<Utc>)>, StoreError> {
        let (now, until, limit) = (row_time(now), row_time(until), i64::from(limit));
        let rows: Vec<(String, DateTime<Utc>)> = match self {
            Store::Sqlite(store) => {
                // `WHERE` in the SELECT keeps SQLite from reading `ON CONFLICT` as a join.
                let sql = "INSERT INTO watch_leases (release_id, holder, until) \
                     SELECT r.id, ?2, ?3 FROM releases r \
                     WHERE r.watch_due_at IS NOT NULL AND r.watch_due_at <= ?1 \
                       AND NOT EXISTS (SELECT 1 FROM watch_leases l \
                                       WHERE l.release_id = r.id AND l.until > ?1 AND l.holder <> ?2) \
                     ORDER BY r.watch_due_at LIMIT ?4 \
                     ON CONFLICT (release_id) DO UPDATE SET holder = excluded.holder, until = excluded.until \
                     WHERE watch_leases.holder = excluded.holder OR watch_leases.until <= ?1 \
                     RETURNING release_id, (SELECT watch_due_at FROM releases WHERE id = release_id)";
                let rows: Vec<(String, String)> = sqlx::query_as(sql)
                    .bind(stored_time(now))
                    .bind(holder)
                    .bind(stored_time(until))
                    .bind(limit)
                    .fetch_all(store.pools().0)
                    .await?;
                rows.into_iter()
                    .map(|(id, at)| {
                        DateTime::parse_from_rfc3339(&at)
                            .map(|at| (id.clone(), at.with_timezone(&Utc)))
                            .map_err(|e| StoreError::Corrupt(format!("release {id}: watch_due_at {at:?}: {e}")))
                    })
                    .collect::<Result<_, _>>()?
            }
            Store::Postgres(store) => {
                let sql = "INSERT INTO watch_leases (release_id, holder, until) \
                     SELECT r.id, $2, $3 FROM releases r \
                     WHERE r.watch_due_at IS NOT NULL AND r.watch_due_at <= $1 \
                       AND NOT EXISTS (SELECT 1 FROM watch_leases l \
                                       WHERE l.release_id = r.id AND l.until > $1 AND l.holder <> $2) \
                     ORDER BY r.watch_due_at LIMIT $4 \
                     ON CONFLICT (release_id) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until \
                     WHERE watch_leases.holder = EXCLUDED.holder OR watch_leases.until <= $1 \
                     RETURNING release_id, (SELECT watch_due_at FROM releases WHERE id = release_id)";
                sqlx::query_as(sql).bind(now).bind(holder).bind(until).bind(limit).fetch_all(store.pool()).await?
            }
        };
        let mut rows: Vec<(ReleaseId, DateTime<Utc>)> =
            rows.into_iter().map(|(id, at)| (ReleaseId::new(id), at)).collect();
        // RETURNING gives no order: the longest overdue goes first.
        rows.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.as_str().cmp(b.0.as_str())));
        Ok(rows)
    }

    /// Gives up `holder`'s leases on the watches of `releases`, in one statement.
    pub async fn release_watches(&self, releases: &[ReleaseId], holder: &str) -> Result<(), StoreError> {
        if releases.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = releases.iter().map(ReleaseId::as_str).collect();
        match self {
            Store::Sqlite(store) => {
                let mut query = sqlx::QueryBuilder::new("DELETE FROM watch_leases WHERE holder = ");
                query.push_bind(holder).push(" AND release_id IN (");
                let mut list = query.separated(", ");
                for id in &ids {
                    list.push_bind(*id);
                }
                query.push(")");
                query.build().execute(store.pools().0).await?;
            }
            Store::Postgres(store) => {
                sqlx::query("DELETE FROM watch_leases WHERE holder = $1 AND release_id = ANY($2)")
                    .bind(holder)
                    .bind(&ids)
                    .execute(store.pool())
                    .await?;
            }
        }
        Ok(())
    }

    /// Releases whose rollback hook run was asked for and has no outcome, the oldest first,
    /// at most `limit`, leaving out those another holder's lease covers (it is running them).
    pub async fn hooks_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(ReleaseId, DateTime<Utc>)>, StoreError> {
        self.due(HOOK, now, limit).await
    }

    /// Takes the rollback hook of `release` for `holder` until `until`, as [`Store::claim_watch`]
    /// does the watch. The runner renews it while the hook runs.
    pub async fn claim_hook(
        &self,
        release: &ReleaseId,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.claim(HOOK, release, holder, now, until).await
    }

    /// Gives up `holder`'s lease on the rollback hook of `release`.
    pub async fn release_hook(&self, release: &ReleaseId, holder: &str) -> Result<(), StoreError> {
        self.let_go(HOOK, release, holder).await
    }

    async fn due(
        &self,
        schedule: Schedule,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(ReleaseId, DateTime<Utc>)>, StoreError> {
        let Schedule { due, leases } = schedule;
        let now = row_time(now);
        let limit = i64::from(limit);
        let rows: Vec<(String, DateTime<Utc>)> = match self {
            Store::Sqlite(store) => {
                let sql = format!(
                    "SELECT r.id, r.{due} FROM releases r \
                     WHERE r.{due} IS NOT NULL AND r.{due} <= ?1 \
                       AND NOT EXISTS (SELECT 1 FROM {leases} l WHERE l.release_id = r.id AND l.until > ?1) \
                     ORDER BY r.{due} LIMIT ?2"
                );
                let rows: Vec<(String, String)> =
                    sqlx::query_as(&sql).bind(stored_time(now)).bind(limit).fetch_all(store.pools().1).await?;
                rows.into_iter()
                    .map(|(id, at)| {
                        DateTime::parse_from_rfc3339(&at)
                            .map(|at| (id.clone(), at.with_timezone(&Utc)))
                            .map_err(|e| StoreError::Corrupt(format!("release {id}: {due} {at:?}: {e}")))
                    })
                    .collect::<Result<_, _>>()?
            }
            Store::Postgres(store) => {
                let sql = format!(
                    "SELECT r.id, r.{due} FROM releases r \
                     WHERE r.{due} IS NOT NULL AND r.{due} <= $1 \
                       AND NOT EXISTS (SELECT 1 FROM {leases} l WHERE l.release_id = r.id AND l.until > $1) \
                     ORDER BY r.{due} LIMIT $2"
                );
                sqlx::query_as(&sql).bind(now).bind(limit).fetch_all(store.pool()).await?
            }
        };
        Ok(rows.into_iter().map(|(id, at)| (ReleaseId::new(id), at)).collect())
    }

    async fn claim(
        &self,
        schedule: Schedule,
        release: &ReleaseId,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let leases = schedule.leases;
        let (now, until) = (row_time(now), row_time(until));
        let claimed: Option<String> = match self {
            Store::Sqlite(store) => {
                let sql = format!(
                    "INSERT INTO {leases} (release_id, holder, until) VALUES (?1, ?2, ?4) \
                     ON CONFLICT (release_id) DO UPDATE SET holder = excluded.holder, until = excluded.until \
                     WHERE {leases}.holder = excluded.holder OR {leases}.until <= ?3 \
                     RETURNING holder"
                );
                sqlx::query_scalar(&sql)
                    .bind(release.as_str())
                    .bind(holder)
                    .bind(stored_time(now))
                    .bind(stored_time(until))
                    .fetch_optional(store.pools().0)
                    .await?
            }
            Store::Postgres(store) => {
                let sql = format!(
                    "INSERT INTO {leases} (release_id, holder, until) VALUES ($1, $2, $4) \
                     ON CONFLICT (release_id) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until \
                     WHERE {leases}.holder = EXCLUDED.holder OR {leases}.until <= $3 \
                     RETURNING holder"
                );
                sqlx::query_scalar(&sql)
                    .bind(release.as_str())
                    .bind(holder)
                    .bind(now)
                    .bind(until)
                    .fetch_optional(store.pool())
                    .await?
            }
        };
        Ok(claimed.is_some())
    }

    async fn let_go(&self, schedule: Schedule, release: &ReleaseId, holder: &str) -> Result<(), StoreError> {
        let leases = schedule.leases;
        match self {
            Store::Sqlite(store) => {
                let sql = format!("DELETE FROM {leases} WHERE release_id = ?1 AND holder = ?2");
                sqlx::query(&sql).bind(release.as_str()).bind(holder).execute(store.pools().0).await?;
            }
            Store::Postgres(store) => {
                let sql = format!("DELETE FROM {leases} WHERE release_id = $1 AND holder = $2");
                sqlx::query(&sql).bind(release.as_str()).bind(holder).execute(store.pool()).await?;
            }
        }
        Ok(())
    }
}
