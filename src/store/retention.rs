//! Retention: removes delivered outbox rows and stored answers older than a cutoff, one
//! small batch per call, oldest first, so that no call holds the writer for long. The
//! caller (`app::retention`) loops, pausing between batches. Undelivered outbox rows and
//! the release histories are never touched here.

use super::sqlite::stored_time;
use super::{row_time, Store, StoreError};
use chrono::{DateTime, Utc};

/// A table retention removes rows from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetainedTable {
    /// Outbox rows already delivered (or superseded and marked delivered unsent).
    DeliveredOutbox,
    /// The stored first answers to requests, which make a repeat of a request a replay.
    Answers,
}

impl RetainedTable {
    /// The table's name, as metrics and logs label it.
    pub fn as_str(self) -> &'static str {
        match self {
            RetainedTable::DeliveredOutbox => "outbox",
            RetainedTable::Answers => "responses",
        }
    }
}

// SQLite deletes with LIMIT only when built to; a subquery on the key does the same.
const SQLITE_REMOVE_DELIVERED: &str = "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
     WHERE delivered_at IS NOT NULL AND delivered_at < ?1 ORDER BY delivered_at LIMIT ?2)";
const SQLITE_REMOVE_ANSWERS: &str = "DELETE FROM responses WHERE rowid IN (SELECT rowid FROM responses \
     WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)";
// SKIP LOCKED: instances sweeping at once take different rows instead of waiting on each
// other's.
const POSTGRES_REMOVE_DELIVERED: &str = "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
     WHERE delivered_at IS NOT NULL AND delivered_at < $1 ORDER BY delivered_at LIMIT $2 FOR UPDATE SKIP LOCKED)";
const POSTGRES_REMOVE_ANSWERS: &str = "DELETE FROM responses WHERE request_id IN (SELECT request_id FROM responses \
     WHERE created_at < $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)";

impl Store {
    /// Removes at most `limit` rows of `table` older than `before` (outbox rows by
    /// `delivered_at`, answers by `created_at`), oldest first; returns how many it removed.
    /// Fewer than `limit` means nothing older is left. An outbox row not yet delivered is
    /// never removed, however old.
    pub async fn remove_older_than(
        &self,
        table: RetainedTable,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let before = row_time(before);
        let limit = i64::from(limit);
        let removed = match self {
            Store::Sqlite(store) => {
                let sql = match table {
                    RetainedTable::DeliveredOutbox => SQLITE_REMOVE_DELIVERED,
                    RetainedTable::Answers => SQLITE_REMOVE_ANSWERS,
                };
                sqlx::query(sql).bind(stored_time(before)).bind(limit).execute(store.pools().0).await?.rows_affected()
            }
            Store::Postgres(store) => {
                let sql = match table {
                    RetainedTable::DeliveredOutbox => POSTGRES_REMOVE_DELIVERED,
                    RetainedTable::Answers => POSTGRES_REMOVE_ANSWERS,
                };
                sqlx::query(sql).bind(before).bind(limit).execute(store.pool()).await?.rows_affected()
            }
        };
        Ok(removed)
    }
}
