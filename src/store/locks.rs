//! Locks, on both backends. A lock and the announcements of its start are written in one
//! transaction, and so are its end and the announcements of that; the end is a
//! conditional update (`WHERE ended_at IS NULL`), so of an unlock and any number of
//! instances' expiry timers racing, exactly one records it and writes its announcements.

use super::model::NewOutboxMessage;
use super::outbox::{insert_postgres, insert_sqlite, OnDuplicate};
use super::sqlite::stored_time;
use super::{row_time, Store, StoreError};
use crate::domain::lock::{Lock, LockEnd, LockId, LockMode};
use crate::domain::release::Environment;
use crate::domain::{RequestId, ServiceName};
use chrono::{DateTime, Utc};

/// What came of writing a new lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockWrite {
    /// Written, with its announcements.
    Written,
    /// The request was made before: here is the lock it made, nothing written now.
    Replayed(Box<Lock>),
}

/// What came of recording a lock's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndWrite {
    /// Recorded now, with its announcements.
    Ended,
    /// The lock had ended already (this request's end, or another's); nothing written.
    AlreadyEnded(Box<Lock>),
    NotFound,
}

const SQLITE_COLUMNS: &str =
    "id, service, environment, mode, reason, actor, from_at, until, ended_at, ended_by, end_request_id";
const POSTGRES_COLUMNS: &str = "id, service, environment, mode, reason, actor::text AS actor, from_at, until, \
                                ended_at, ended_by::text AS ended_by, end_request_id";

#[derive(sqlx::FromRow)]
struct LockRecord {
    id: String,
    service: String,
    environment: Option<String>,
    mode: String,
    reason: String,
    actor: String,
    from_at: DateTime<Utc>,
    until: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    ended_by: Option<String>,
    end_request_id: Option<String>,
}

impl LockRecord {
    fn into_lock(self) -> Result<(Lock, Option<RequestId>), StoreError> {
        let corrupt = |what: String| StoreError::Corrupt(format!("lock {}: {what}", self.id));
        let environment = match self.environment.as_deref() {
            None => None,
            Some("production") => Some(Environment::Production),
            Some("staging") => Some(Environment::Staging),
            Some(other) => return Err(corrupt(format!("unknown environment {other:?}"))),
        };
        let mode = LockMode::parse(&self.mode).ok_or_else(|| corrupt(format!("unknown mode {:?}", self.mode)))?;
        let by = serde_json::from_str(&self.actor).map_err(|e| corrupt(format!("actor: {e}")))?;
        let ended = match (self.ended_at, self.ended_by) {
            (None, _) => None,
            (Some(at), None) => Some(LockEnd::Expired { at }),
            (Some(at), Some(by)) => Some(LockEnd::Unlocked {
                by: serde_json::from_str(&by).map_err(|e| corrupt(format!("ended_by: {e}")))?,
                at,
            }),
        };
        let lock = Lock {
            service: ServiceName::parse(&self.service).map_err(corrupt)?,
            id: LockId::new(self.id),
            environment,
            mode,
            reason: self.reason,
            by,
            from: self.from_at,
            until: self.until,
            ended,
        };
        Ok((lock, self.end_request_id.map(RequestId::new)))
    }
}

fn environment_text(lock: &Lock) -> Option<String> {
    lock.environment.map(|e| e.to_string())
}

fn json(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("cannot serialise: {e}")))
}

impl Store {
    /// Writes `lock`, made by `request_id` (which asked what `fingerprint` says), with
    /// `outbox` (its announcements) in one transaction; a repeat of `request_id` writes
    /// nothing and gets the first lock back.
    pub async fn insert_lock(
        &self,
        lock: &Lock,
        request_id: &RequestId,
        fingerprint: Option<&str>,
        outbox: &[NewOutboxMessage],
        now: DateTime<Utc>,
    ) -> Result<LockWrite, StoreError> {
        let now = row_time(now);
        let inserted = match self {
            Store::Sqlite(store) => {
                let by = json(&lock.by)?;
                let by = by.as_str();
                store
                    .write_transaction(|mut tx| async move {
                        let outcome = async {
                            let done = sqlx::query(
                            "INSERT INTO locks (id, request_id, service, environment, mode, reason, actor, from_at, \
                             until, request_fingerprint) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                             ON CONFLICT (request_id) DO NOTHING",
                        )
                        .bind(lock.id.as_str())
                        .bind(request_id.as_str())
                        .bind(lock.service.as_str())
                        .bind(environment_text(lock))
                        .bind(lock.mode.as_str())
                        .bind(&lock.reason)
                        .bind(by)
                        .bind(stored_time(lock.from))
                        .bind(stored_time(lock.until))
                        .bind(fingerprint)
                        .execute(&mut *tx)
                        .await?;
                            if done.rows_affected() == 1 {
                                insert_sqlite(&mut tx, outbox, now, OnDuplicate::Fail).await?;
                            }
                            Ok::<_, StoreError>(done.rows_affected() == 1)
                        }
                        .await;
                        (tx, outcome)
                    })
                    .await?
            }
            Store::Postgres(store) => {
                let mut tx = store.pool().begin().await?;
                let done = sqlx::query(
                    "INSERT INTO locks (id, request_id, service, environment, mode, reason, actor, from_at, until, \
                     request_fingerprint) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10) \
                     ON CONFLICT (request_id) DO NOTHING",
                )
                .bind(lock.id.as_str())
                .bind(request_id.as_str())
                .bind(lock.service.as_str())
                .bind(environment_text(lock))
                .bind(lock.mode.as_str())
                .bind(&lock.reason)
                .bind(json(&lock.by)?)
                .bind(lock.from)
                .bind(lock.until)
                .bind(fingerprint)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 1 {
                    insert_postgres(&mut tx, outbox, now, OnDuplicate::Fail).await?;
                    tx.commit().await?;
                }
                done.rows_affected() == 1
            }
        };
        if inserted {
            return Ok(LockWrite::Written);
        }
        match self.lock_where("request_id", request_id.as_str()).await? {
            Some((first, _)) => Ok(LockWrite::Replayed(Box::new(first))),
            None => Err(StoreError::Corrupt(format!("lock request {request_id} was answered, but its lock is gone"))),
        }
    }

    /// Records that lock `id` ended (`end`), by `request_id` for an unlock, with `outbox`
    /// in one transaction — unless it had ended already.
    pub async fn end_lock(
        &self,
        id: &LockId,
        end: &LockEnd,
        request_id: Option<&RequestId>,
        outbox: &[NewOutboxMessage],
        now: DateTime<Utc>,
    ) -> Result<EndWrite, StoreError> {
        let now = row_time(now);
        let (at, by) = match end {
            LockEnd::Unlocked { by, at } => (row_time(*at), Some(json(by)?)),
            LockEnd::Expired { at } => (row_time(*at), None),
        };
        let request = request_id.map(RequestId::as_str);
        let ended = match self {
            Store::Sqlite(store) => {
                let by = by.as_deref();
                store
                    .write_transaction(|mut tx| async move {
                        let outcome = async {
                            let done = sqlx::query(
                                "UPDATE locks SET ended_at = ?2, ended_by = ?3, end_request_id = ?4 \
                             WHERE id = ?1 AND ended_at IS NULL",
                            )
                            .bind(id.as_str())
                            .bind(stored_time(at))
                            .bind(by)
                            .bind(request)
                            .execute(&mut *tx)
                            .await?;
                            if done.rows_affected() == 1 {
                                insert_sqlite(&mut tx, outbox, now, OnDuplicate::Fail).await?;
                            }
                            Ok::<_, StoreError>(done.rows_affected() == 1)
                        }
                        .await;
                        (tx, outcome)
                    })
                    .await?
            }
            Store::Postgres(store) => {
                let mut tx = store.pool().begin().await?;
                let done = sqlx::query(
                    "UPDATE locks SET ended_at = $2, ended_by = $3::jsonb, end_request_id = $4 \
                     WHERE id = $1 AND ended_at IS NULL",
                )
                .bind(id.as_str())
                .bind(at)
                .bind(by)
                .bind(request)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 1 {
                    insert_postgres(&mut tx, outbox, now, OnDuplicate::Fail).await?;
                    tx.commit().await?;
                }
                done.rows_affected() == 1
            }
        };
        if ended {
            return Ok(EndWrite::Ended);
        }
        Ok(match self.lock(id).await? {
            Some(lock) => EndWrite::AlreadyEnded(Box::new(lock)),
            None => EndWrite::NotFound,
        })
    }

    pub async fn lock(&self, id: &LockId) -> Result<Option<Lock>, StoreError> {
        Ok(self.lock_where("id", id.as_str()).await?.map(|(lock, _)| lock))
    }

    /// The lock `request_id` made, if it made one.
    pub async fn lock_made_by(&self, request_id: &RequestId) -> Result<Option<Lock>, StoreError> {
        Ok(self.lock_where("request_id", request_id.as_str()).await?.map(|(lock, _)| lock))
    }

    /// The fingerprint of what `request_id` asked when it made its lock: `None` when it made
    /// none, `Some(None)` for a lock made before fingerprints were kept.
    pub async fn lock_request_fingerprint(&self, request_id: &RequestId) -> Result<Option<Option<String>>, StoreError> {
        let row: Option<(Option<String>,)> = match self {
            Store::Sqlite(store) => {
                sqlx::query_as("SELECT request_fingerprint FROM locks WHERE request_id = ?1")
                    .bind(request_id.as_str())
                    .fetch_optional(store.pools().1)
                    .await?
            }
            Store::Postgres(store) => {
                sqlx::query_as("SELECT request_fingerprint FROM locks WHERE request_id = $1")
                    .bind(request_id.as_str())
                    .fetch_optional(store.pool())
                    .await?
            }
        };
        Ok(row.map(|(fingerprint,)| fingerprint))
    }

    /// The lock whose end `request_id` recorded, if it did.
    pub async fn lock_ended_by(&self, request_id: &RequestId) -> Result<Option<Lock>, StoreError> {
        Ok(self.lock_where("end_request_id", request_id.as_str()).await?.map(|(lock, _)| lock))
    }

    /// Locks whose end is not recorded, of `service` or of all, oldest first. Some may have
    /// run out already ([`Lock::is_active`] tells); the expiry timer records their end.
    pub async fn open_locks(&self, service: Option<&ServiceName>) -> Result<Vec<Lock>, StoreError> {
        let service = service.map(ServiceName::as_str);
        let records: Vec<LockRecord> = match self {
            Store::Sqlite(store) => {
                let sql = format!(
                    "SELECT {SQLITE_COLUMNS} FROM locks WHERE ended_at IS NULL AND (?1 IS NULL OR service = ?1) \
                     ORDER BY from_at, id"
                );
                sqlx::query_as(&sql).bind(service).fetch_all(store.pools().1).await?
            }
            Store::Postgres(store) => {
                let sql = format!(
                    "SELECT {POSTGRES_COLUMNS} FROM locks \
                     WHERE ended_at IS NULL AND ($1::text IS NULL OR service = $1) ORDER BY from_at, id"
                );
                sqlx::query_as(&sql).bind(service).fetch_all(store.pool()).await?
            }
        };
        records.into_iter().map(|r| r.into_lock().map(|(lock, _)| lock)).collect()
    }

    /// Open locks whose time ran out by `now`: their end is due to be recorded.
    pub async fn expired_locks(&self, now: DateTime<Utc>) -> Result<Vec<Lock>, StoreError> {
        let now = row_time(now);
        let records: Vec<LockRecord> = match self {
            Store::Sqlite(store) => {
                let sql = format!(
                    "SELECT {SQLITE_COLUMNS} FROM locks WHERE ended_at IS NULL AND until <= ?1 ORDER BY until, id"
                );
                sqlx::query_as(&sql).bind(stored_time(now)).fetch_all(store.pools().1).await?
            }
            Store::Postgres(store) => {
                let sql = format!(
                    "SELECT {POSTGRES_COLUMNS} FROM locks WHERE ended_at IS NULL AND until <= $1 ORDER BY until, id"
                );
                sqlx::query_as(&sql).bind(now).fetch_all(store.pool()).await?
            }
        };
        records.into_iter().map(|r| r.into_lock().map(|(lock, _)| lock)).collect()
    }

    /// `column` is one of this module's literals, never input.
    async fn lock_where(&self, column: &str, value: &str) -> Result<Option<(Lock, Option<RequestId>)>, StoreError> {
        let record: Option<LockRecord> = match self {
            Store::Sqlite(store) => {
                let sql = format!("SELECT {SQLITE_COLUMNS} FROM locks WHERE {column} = ?1");
                // The writer: a lock just written must be found, whatever a reader's snapshot.
                sqlx::query_as(&sql).bind(value).fetch_optional(store.pools().0).await?
            }
            Store::Postgres(store) => {
                let sql = format!("SELECT {POSTGRES_COLUMNS} FROM locks WHERE {column} = $1");
                sqlx::query_as(&sql).bind(value).fetch_optional(store.pool()).await?
            }
        };
        record.map(LockRecord::into_lock).transpose()
    }
}
