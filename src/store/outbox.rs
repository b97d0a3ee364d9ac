//! Outbox rows written outside a command's commit (lock announcements, card refreshes), in
//! a transaction the caller owns. Commands queue theirs with their events (`write_set`).

use super::model::NewOutboxMessage;
use super::sqlite::stored_time;
use super::StoreError;
use chrono::{DateTime, Utc};

/// What a row whose idempotency key is already queued does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum OnDuplicate {
    /// Fails the transaction: the key names something that must happen once, now.
    Fail,
    /// Is skipped: queued once ever, by whoever got there first.
    Skip,
}

impl OnDuplicate {
    fn clause(self) -> &'static str {
        match self {
            OnDuplicate::Fail => "",
            OnDuplicate::Skip => " ON CONFLICT (idempotency_key) DO NOTHING",
        }
    }
}

/// Queues `outbox` in `tx`, due at `now`; the number of rows queued.
pub(super) async fn insert_sqlite(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    outbox: &[NewOutboxMessage],
    now: DateTime<Utc>,
    on_duplicate: OnDuplicate,
) -> Result<u64, StoreError> {
    let sql = format!(
        "INSERT INTO outbox (idempotency_key, release_id, lane, kind, payload, created_at, next_attempt_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6){}",
        on_duplicate.clause()
    );
    let mut queued = 0;
    for message in outbox {
        queued += sqlx::query(&sql)
            .bind(&message.idempotency_key)
            .bind(message.release_id.as_str())
            .bind(&message.lane)
            .bind(&message.kind)
            .bind(message.payload.to_string())
            .bind(stored_time(now))
            .execute(&mut **tx)
            .await?
            .rows_affected();
    }
    Ok(queued)
}

/// Queues `outbox` in `tx`, due at `now`; the number of rows queued.
pub(super) async fn insert_postgres(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    outbox: &[NewOutboxMessage],
    now: DateTime<Utc>,
    on_duplicate: OnDuplicate,
) -> Result<u64, StoreError> {
    let sql = format!(
        "INSERT INTO outbox (idempotency_key, release_id, lane, kind, payload, created_at, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, $6){}",
        on_duplicate.clause()
    );
    let mut queued = 0;
    for message in outbox {
        queued += sqlx::query(&sql)
            .bind(&message.idempotency_key)
            .bind(message.release_id.as_str())
            .bind(&message.lane)
            .bind(&message.kind)
            .bind(message.payload.to_string())
            .bind(now)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    }
    Ok(queued)
}
