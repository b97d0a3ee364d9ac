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
