//! Which artifacts shipgate recorded for a service: read when a rollback has no known-good
//! target, to tell a real earlier build of the service from a digest nobody vouched for.
//!
//! The answer comes from the histories themselves (`artifact_recorded` events), so it
//! needs no table of its own and cannot disagree with them. It is a scan of the service's
//! artifact events, which is fine for what asks it: a rollback of a service's first
//! release, once.

use super::{Store, StoreError};
use crate::domain::release::RecordedArtifact;
use crate::domain::{ArtifactDigest, ReleaseId, ServiceName, Version};

const SQLITE_RECORDED: &str = "SELECT e.release_id, json_extract(e.payload, '$.artifact.version') \
     FROM events e JOIN releases r ON r.id = e.release_id \
     WHERE r.service = ?1 AND e.kind = 'artifact_recorded' AND json_extract(e.payload, '$.artifact.digest') = ?2 \
     ORDER BY e.at LIMIT 1";
const POSTGRES_RECORDED: &str = "SELECT e.release_id, e.payload->'artifact'->>'version' \
     FROM events e JOIN releases r ON r.id = e.release_id \
     WHERE r.service = $1 AND e.kind = 'artifact_recorded' AND e.payload->'artifact'->>'digest' = $2 \
     ORDER BY e.at LIMIT 1";

impl Store {
    /// The first release of `service` that recorded an artifact with `digest`, if any.
    pub async fn recorded_artifact(
        &self,
        service: &ServiceName,
        digest: &ArtifactDigest,
    ) -> Result<Option<RecordedArtifact>, StoreError> {
        let row: Option<(String, String)> = match self {
            Store::Sqlite(store) => {
                sqlx::query_as(SQLITE_RECORDED)
                    .bind(service.as_str())
                    .bind(digest.as_str())
                    .fetch_optional(store.pools().1)
                    .await?
            }
            Store::Postgres(store) => {
                sqlx::query_as(POSTGRES_RECORDED)
                    .bind(service.as_str())
                    .bind(digest.as_str())
                    .fetch_optional(store.pool())
                    .await?
            }
        };
        row.map(|(release_id, version)| {
            let version = Version::parse(&version).map_err(|e| {
                StoreError::Corrupt(format!("artifact version {version:?} of release {release_id}: {e}"))
            })?;
            Ok(RecordedArtifact { release_id: ReleaseId::new(release_id), version })
        })
        .transpose()
    }
}
