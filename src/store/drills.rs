//! Rollback drills, on both backends. A drill is a release run with the drill playbook, so
//! its record is its history and its row in the listing projection: when it started, who
//! started it, when it completed. What the store adds is the reminders of overdue drills:
//! one row per (service, due date, period), written in the same transaction as the
//! reminder's outbox row, so of any number of timers (instances, restarts) exactly one
//! queues each reminder.

use super::model::NewOutboxMessage;
use super::outbox::{insert_postgres, insert_sqlite, OnDuplicate};
use super::sqlite::stored_time;
use super::{row_time, Store, StoreError};
use crate::domain::drill::{DrillRecord, Reminder, StagingDeploy, ROLLBACK_DRILL};
use crate::domain::release::Status;
use crate::domain::{ArtifactDigest, GitSha, ReleaseId, ServiceName, Version};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// A service shipgate has seen, with its drills: when it first appeared (its first release
/// of any kind) and its last completed drill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDrills {
    pub service: ServiceName,
    pub first_seen: DateTime<Utc>,
    pub last: Option<DrillRecord>,
}

/// How many staging deploys of a service are read to find the one before the latest: a
/// service redeploying one artifact this often in a row has nothing older worth reverting to.
const STAGING_DEPLOYS_READ: i64 = 200;

const SQLITE_SEEN: &str = "SELECT service, MIN(started_at) FROM releases \
     WHERE ?1 IS NULL OR service = ?1 GROUP BY service ORDER BY service";
const POSTGRES_SEEN: &str = "SELECT service, MIN(started_at) FROM releases \
     WHERE $1::text IS NULL OR service = $1 GROUP BY service ORDER BY service";
// A drill's last activity is the tick that completed it: its projection's `updated_at`.
const SQLITE_DRILLS: &str = "SELECT id, service, started_by, started_at, updated_at FROM releases \
     WHERE playbook = ?1 AND status = ?2 AND (?3 IS NULL OR service = ?3) ORDER BY updated_at DESC, id";
const POSTGRES_DRILLS: &str = "SELECT id, service, started_by, started_at, updated_at FROM releases \
     WHERE playbook = $1 AND status = $2 AND ($3::text IS NULL OR service = $3) ORDER BY updated_at DESC, id";
// The version and commit come from the artifact the deploy shipped (recorded by the same
// release), not from the release's row: a retargeted release names its newest commit.
const SQLITE_STAGING: &str = "SELECT e.release_id, json_extract(a.payload, '$.artifact.version'), \
     json_extract(a.payload, '$.artifact.git_sha'), json_extract(e.payload, '$.report.digest') \
     FROM events e JOIN releases r ON r.id = e.release_id \
     JOIN events a ON a.release_id = e.release_id AND a.kind = 'artifact_recorded' \
       AND json_extract(a.payload, '$.artifact.digest') = json_extract(e.payload, '$.report.digest') \
     WHERE r.service = ?1 AND e.kind = 'deployment_recorded' \
       AND json_extract(e.payload, '$.report.environment') = 'staging' \
       AND json_extract(e.payload, '$.report.outcome') = 'succeeded' \
       AND json_extract(e.payload, '$.report.health') = 'passed' \
     ORDER BY e.at DESC, e.seq DESC LIMIT ?2";
const POSTGRES_STAGING: &str = "SELECT e.release_id, a.payload->'artifact'->>'version', \
     a.payload->'artifact'->>'git_sha', e.payload->'report'->>'digest' \
     FROM events e JOIN releases r ON r.id = e.release_id \
     JOIN events a ON a.release_id = e.release_id AND a.kind = 'artifact_recorded' \
       AND a.payload->'artifact'->>'digest' = e.payload->'report'->>'digest' \
     WHERE r.service = $1 AND e.kind = 'deployment_recorded' \
       AND e.payload->'report'->>'environment' = 'staging' \
       AND e.payload->'report'->>'outcome' = 'succeeded' \
       AND e.payload->'report'->>'health' = 'passed' \
     ORDER BY e.at DESC, e.seq DESC LIMIT $2";

type DrillRow = (String, String, String, DateTime<Utc>, DateTime<Utc>);
/// A staging deploy's release id, then its artifact's version, commit and digest.
type StagingRow = (String, Option<String>, Option<String>, Option<String>);

impl Store {
    /// Every service shipgate has seen (or only `service`), with its last completed drill.
    pub async fn service_drills(&self, service: Option<&ServiceName>) -> Result<Vec<ServiceDrills>, StoreError> {
        let service = service.map(ServiceName::as_str);
        let completed = Status::Completed.as_str();
        let (seen, drills): (Vec<(String, DateTime<Utc>)>, Vec<DrillRow>) = match self {
            Store::Sqlite(store) => {
                let pool = store.pools().1;
                let seen = sqlx::query_as(SQLITE_SEEN).bind(service).fetch_all(pool).await?;
                let drills = sqlx::query_as(SQLITE_DRILLS)
                    .bind(ROLLBACK_DRILL)
                    .bind(completed)
                    .bind(service)
                    .fetch_all(pool)
                    .await?;
                (seen, drills)
            }
            Store::Postgres(store) => {
                let pool = store.pool();
                let seen = sqlx::query_as(POSTGRES_SEEN).bind(service).fetch_all(pool).await?;
                let drills = sqlx::query_as(POSTGRES_DRILLS)
                    .bind(ROLLBACK_DRILL)
                    .bind(completed)
                    .bind(service)
                    .fetch_all(pool)
                    .await?;
                (seen, drills)
            }
        };
        // Newest first: the first drill met per service is its last.
        let mut last: BTreeMap<String, DrillRecord> = BTreeMap::new();
        for (id, service, by, started_at, completed_at) in drills {
            last.entry(service).or_insert(DrillRecord { release_id: ReleaseId::new(id), by, started_at, completed_at });
        }
        seen.into_iter()
            .map(|(service, first_seen)| {
                let name = ServiceName::parse(&service).map_err(StoreError::Corrupt)?;
                Ok(ServiceDrills { service: name, first_seen, last: last.remove(&service) })
            })
            .collect()
    }

    /// The healthy staging deploys of `service`, newest first, with the artifact each shipped.
    pub async fn staging_deploys(&self, service: &ServiceName) -> Result<Vec<StagingDeploy>, StoreError> {
        let rows: Vec<StagingRow> = match self {
            Store::Sqlite(store) => {
                sqlx::query_as(SQLITE_STAGING)
                    .bind(service.as_str())
                    .bind(STAGING_DEPLOYS_READ)
                    .fetch_all(store.pools().1)
                    .await?
            }
            Store::Postgres(store) => {
                sqlx::query_as(POSTGRES_STAGING)
                    .bind(service.as_str())
                    .bind(STAGING_DEPLOYS_READ)
                    .fetch_all(store.pool())
                    .await?
            }
        };
        rows.into_iter()
            .map(|(release_id, version, git_sha, digest)| {
                let corrupt = |what: &str, e: String| {
                    StoreError::Corrupt(format!("staging deploy of release {release_id}: {what}: {e}"))
                };
                let text = |value: Option<String>, what: &str| value.ok_or_else(|| corrupt(what, "missing".into()));
                Ok(StagingDeploy {
                    release_id: ReleaseId::new(&release_id),
                    version: Version::parse(&text(version, "version")?).map_err(|e| corrupt("version", e))?,
                    git_sha: GitSha::parse(&text(git_sha, "git sha")?).map_err(|e| corrupt("git sha", e))?,
                    digest: ArtifactDigest::parse(&text(digest, "digest")?).map_err(|e| corrupt("digest", e))?,
                })
            })
            .collect()
    }

    /// Records `reminder` with `outbox` (its message) in one transaction, unless it was
    /// recorded already (by this instance before a restart, or by another): `true` when
    /// written now.
    pub async fn record_drill_reminder(
        &self,
        reminder: &Reminder,
        outbox: &[NewOutboxMessage],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = row_time(now);
        let due_at = row_time(reminder.due_at);
        let period = i64::from(reminder.period);
        match self {
            Store::Sqlite(store) => {
                store
                    .write_transaction(|mut tx| async move {
                        let outcome = async {
                            let done = sqlx::query(
                                "INSERT INTO drill_reminders (service, due_at, period, sent_at) \
                                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                            )
                            .bind(reminder.service.as_str())
                            .bind(stored_time(due_at))
                            .bind(period)
                            .bind(stored_time(now))
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
                    .await
            }
            Store::Postgres(store) => {
                let mut tx = store.pool().begin().await?;
                let done = sqlx::query(
                    "INSERT INTO drill_reminders (service, due_at, period, sent_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(reminder.service.as_str())
                .bind(due_at)
                .bind(period)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 1 {
                    insert_postgres(&mut tx, outbox, now, OnDuplicate::Fail).await?;
                    tx.commit().await?;
                }
                Ok(done.rows_affected() == 1)
            }
        }
    }
}
