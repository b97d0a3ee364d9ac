//! Rows as both backends read them back, and their conversion into the model. JSON
//! columns are read as text (PostgreSQL casts `jsonb` to `text` in the query) so that a
//! value that no longer parses is reported as corrupt data naming the row.

use super::model::{ChatMessageRef, OutboxMessage, ReleaseRow, StoredResponse};
use super::StoreError;
use crate::domain::release::{LiveDeployment, Recorded};
use crate::domain::{ArtifactDigest, ReleaseId, RequestId, ServiceName, Version};
use chrono::{DateTime, Utc};

#[derive(sqlx::FromRow)]
pub(crate) struct EventRecord {
    pub release_id: String,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub at_nanos: i64,
    pub actor: String,
    pub request_id: String,
    pub payload: String,
}

impl EventRecord {
    pub fn into_recorded(self) -> Result<Recorded, StoreError> {
        let corrupt =
            |what: String| StoreError::Corrupt(format!("event {} of release {}: {what}", self.seq, self.release_id));
        let at = u32::try_from(self.at_nanos)
            .ok()
            .and_then(|nanos| DateTime::from_timestamp(self.at.timestamp(), nanos))
            .ok_or_else(|| corrupt(format!("time {} with nanosecond {} is invalid", self.at, self.at_nanos)))?;
        Ok(Recorded {
            seq: u64::try_from(self.seq).map_err(|_| corrupt("negative seq".to_owned()))?,
            at,
            actor: serde_json::from_str(&self.actor).map_err(|error| corrupt(format!("actor: {error}")))?,
            request_id: RequestId::new(self.request_id),
            event: serde_json::from_str(&self.payload).map_err(|error| corrupt(format!("payload: {error}")))?,
        })
    }
}

/// The columns of `releases`, in [`ReleaseRecord`]'s order, for both backends' queries.
pub(crate) const RELEASE_COLUMNS: &str = "id, service, version, git_sha, playbook, status, current_step, \
                                          current_step_id, current_step_title, hotfix, started_by, started_at, \
                                          updated_at, seq, watch_due_at, hook_due_at";

#[derive(sqlx::FromRow)]
pub(crate) struct ReleaseRecord {
    pub id: String,
    pub service: String,
    pub version: String,
    pub git_sha: String,
    pub playbook: String,
    pub status: String,
    pub current_step: i64,
    pub current_step_id: String,
    pub current_step_title: String,
    pub hotfix: bool,
    pub started_by: String,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub seq: i64,
    pub watch_due_at: Option<DateTime<Utc>>,
    pub hook_due_at: Option<DateTime<Utc>>,
}

impl ReleaseRecord {
    pub fn into_row(self) -> Result<ReleaseRow, StoreError> {
        let corrupt = |what: &str, value: i64| StoreError::Corrupt(format!("release {}: {what} {value}", self.id));
        Ok(ReleaseRow {
            current_step: u32::try_from(self.current_step)
                .map_err(|_| corrupt("current_step out of range:", self.current_step))?,
            seq: u64::try_from(self.seq).map_err(|_| corrupt("negative seq", self.seq))?,
            id: ReleaseId::new(self.id),
            service: ServiceName::parse(&self.service).map_err(StoreError::Corrupt)?,
            version: self.version,
            git_sha: self.git_sha,
            playbook: self.playbook,
            status: self.status,
            current_step_id: self.current_step_id,
            current_step_title: self.current_step_title,
            hotfix: self.hotfix,
            started_by: self.started_by,
            started_at: self.started_at,
            updated_at: self.updated_at,
            watch_due_at: self.watch_due_at,
            hook_due_at: self.hook_due_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OutboxRecord {
    pub id: i64,
    pub idempotency_key: String,
    pub release_id: String,
    pub lane: String,
    pub kind: String,
    pub payload: String,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

impl OutboxRecord {
    pub fn into_message(self) -> Result<OutboxMessage, StoreError> {
        let corrupt = |what: String| StoreError::Corrupt(format!("outbox message {}: {what}", self.id));
        Ok(OutboxMessage {
            attempts: u32::try_from(self.attempts)
                .map_err(|_| corrupt(format!("attempts {} out of range", self.attempts)))?,
            payload: serde_json::from_str(&self.payload).map_err(|error| corrupt(format!("payload: {error}")))?,
            id: self.id,
            idempotency_key: self.idempotency_key,
            release_id: ReleaseId::new(self.release_id),
            lane: self.lane,
            kind: self.kind,
            created_at: self.created_at,
            next_attempt_at: self.next_attempt_at,
            delivered_at: self.delivered_at,
            last_error: self.last_error,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ChatMessageRecord {
    pub key: String,
    pub channel_id: String,
    pub message_id: String,
}

impl ChatMessageRecord {
    pub fn into_ref(self) -> ChatMessageRef {
        ChatMessageRef { key: self.key, channel_id: self.channel_id, message_id: self.message_id }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ResponseRecord {
    pub request_id: String,
    pub release_id: String,
    pub status: i64,
    pub body: String,
    pub fingerprint: Option<String>,
}

impl ResponseRecord {
    pub fn into_response(self) -> Result<StoredResponse, StoreError> {
        let corrupt = |what: String| StoreError::Corrupt(format!("response to request {}: {what}", self.request_id));
        Ok(StoredResponse {
            status: u16::try_from(self.status).map_err(|_| corrupt(format!("status {} out of range", self.status)))?,
            body: serde_json::from_str(&self.body).map_err(|error| corrupt(format!("body: {error}")))?,
            request_id: RequestId::new(self.request_id),
            release_id: ReleaseId::new(self.release_id),
            fingerprint: self.fingerprint,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct LiveRecord {
    pub service: String,
    pub release_id: String,
    pub version: String,
    pub digest: String,
}

impl LiveRecord {
    pub fn into_live(self) -> Result<LiveDeployment, StoreError> {
        let corrupt = |what: String| StoreError::Corrupt(format!("live deployment of {}: {what}", self.service));
        Ok(LiveDeployment {
            version: Version::parse(&self.version).map_err(corrupt)?,
            digest: ArtifactDigest::parse(&self.digest).map_err(corrupt)?,
            release_id: ReleaseId::new(self.release_id),
        })
    }
}
