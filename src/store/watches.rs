//! The watch's schedule: which releases need a baseline or a sample now, and a lease per
//! release so that with several instances on one database exactly one samples it at a
//! time. The schedule is the `watch_due_at` column of the release projection, written in
//! the same transaction as the events that move it, so it survives restarts as they do.

use super::sqlite::stored_time;
use super::{row_time, Store, StoreError};
use crate::domain::ReleaseId;
use chrono::{DateTime, Utc};

impl Store {
    /// Releases whose watch is due at `now`, the longest overdue first, at most `limit`,
    /// leaving out those another holder's lease covers.
    pub async fn watches_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(ReleaseId, DateTime<Utc>)>, StoreError> {
        let now = row_time(now);
        let limit = i64::from(limit);
        let rows: Vec<(String, DateTime<Utc>)> = match self {
            Store::Sqlite(store) => {
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT r.id, r.watch_due_at FROM releases r \
                     WHERE r.watch_due_at IS NOT NULL AND r.watch_due_at <= ?1 \
                       AND NOT EXISTS (SELECT 1 FROM watch_leases l WHERE l.release_id = r.id AND l.until > ?1) \
                     ORDER BY r.watch_due_at LIMIT ?2",
                )
                .bind(stored_time(now))
                .bind(limit)
                .fetch_all(store.pools().1)
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
                sqlx::query_as(
                    "SELECT r.id, r.watch_due_at FROM releases r \
                     WHERE r.watch_due_at IS NOT NULL AND r.watch_due_at <= $1 \
                       AND NOT EXISTS (SELECT 1 FROM watch_leases l WHERE l.release_id = r.id AND l.until > $1) \
                     ORDER BY r.watch_due_at LIMIT $2",
                )
                .bind(now)
                .bind(limit)
                .fetch_all(store.pool())
                .await?
            }
        };
        Ok(rows.into_iter().map(|(id, at)| (ReleaseId::new(id), at)).collect())
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
        let (now, until) = (row_time(now), row_time(until));
        let claimed: Option<String> = match self {
            Store::Sqlite(store) => {
                sqlx::query_scalar(
                    "INSERT INTO watch_leases (release_id, holder, until) VALUES (?1, ?2, ?4) \
                     ON CONFLICT (release_id) DO UPDATE SET holder = excluded.holder, until = excluded.until \
                     WHERE watch_leases.holder = excluded.holder OR watch_leases.until <= ?3 \
                     RETURNING holder",
                )
                .bind(release.as_str())
                .bind(holder)
                .bind(stored_time(now))
                .bind(stored_time(until))
                .fetch_optional(store.pools().0)
                .await?
            }
            Store::Postgres(store) => {
                sqlx::query_scalar(
                    "INSERT INTO watch_leases (release_id, holder, until) VALUES ($1, $2, $4) \
                     ON CONFLICT (release_id) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until \
                     WHERE watch_leases.holder = EXCLUDED.holder OR watch_leases.until <= $3 \
                     RETURNING holder",
                )
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

    /// Gives up `holder`'s lease on the watch of `release`; nothing if it is not `holder`'s.
    pub async fn release_watch(&self, release: &ReleaseId, holder: &str) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(store) => {
                sqlx::query("DELETE FROM watch_leases WHERE release_id = ?1 AND holder = ?2")
                    .bind(release.as_str())
                    .bind(holder)
                    .execute(store.pools().0)
                    .await?;
            }
            Store::Postgres(store) => {
                sqlx::query("DELETE FROM watch_leases WHERE release_id = $1 AND holder = $2")
                    .bind(release.as_str())
                    .bind(holder)
                    .execute(store.pool())
                    .await?;
            }
        }
        Ok(())
    }
}
