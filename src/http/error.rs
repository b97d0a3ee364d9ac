//! Errors the API answers with: JSON `{code, message}` with a stable code.

use crate::app::AppError;
use crate::domain::release::RejectionCode;
use crate::store::Busy;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds a client should wait before sending the request again (`Retry-After`).
    pub retry_after_seconds: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after_seconds: None }
    }

    /// The database is locked by another writer: 503, nothing was written, and the same
    /// request (with the same `Idempotency-Key`) may be sent again after the wait.
    pub fn busy(busy: Busy) -> Self {
        let seconds = busy.retry_after_seconds();
        tracing::warn!(retry_after_seconds = seconds, "answered 503: the database is busy with another writer");
        Self {
            retry_after_seconds: Some(seconds),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_busy",
                format!(
                    "the database is busy with another writer and nothing was written; \
                     retry after {seconds} seconds (a repeat with the same Idempotency-Key is safe)"
                ),
            )
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message)
    }

    /// An internal failure: logged in full with a correlation id, answered briefly.
    pub fn internal(error: &anyhow::Error) -> Self {
        let correlation_id = uuid::Uuid::new_v4();
        tracing::error!(%correlation_id, error = format!("{error:#}"), "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("sorry, shipgate failed to handle this request; it is logged with correlation id {correlation_id}"),
        )
    }
}

/// How each rule violation maps onto HTTP: bad input 422, not yours to do 403,
/// everything else is "not now, given the release's state" 409.
fn status_for(code: RejectionCode) -> StatusCode {
    use RejectionCode as C;
    match code {
        C::InvalidInput
        | C::NoteRequired
        | C::UnknownStep
        | C::UnknownItem
        | C::UnknownFailurePath
        | C::UnknownPlaybook
        | C::InvalidPlaybook
        | C::DowntimeStrategy
        | C::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
        C::NotAllowed | C::SelfApproval => StatusCode::FORBIDDEN,
        C::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        C::AlreadyAborting
        | C::AlreadyApproved
        | C::AlreadyDeployed
        | C::AlreadyLocked
        | C::AlreadyRecorded
        | C::AlreadyRollingBack
        | C::AlreadyStarted
        | C::AlreadyTicked
        | C::ArtifactAlreadyRecorded
        | C::Downgrade
        | C::EvidenceMissing
        | C::Frozen
        | C::GateNotReady
        | C::Locked
        | C::NoApprovalNeeded
        | C::NoOverrideRequested
        | C::NotCurrentStep
        | C::NotHotfix
        | C::NotLocked
        | C::NotStalled
        | C::NotRollingBack
        | C::NotWatching
        | C::NoRollbackHook
        | C::HookRunning
        | C::NotStarted
        | C::NotTicked
        | C::NothingToRollBack
        | C::OverrideActive
        | C::OverridePending
        | C::ProductionDeployed
        | C::ProductionHeld
        | C::ReleaseFinished
        | C::StaleState
        | C::StrategyRequired
        | C::UnapprovedArtifact
        | C::UnknownArtifact
        | C::WrongArtifact => StatusCode::CONFLICT,
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Rejected(rejection) => {
                ApiError::new(status_for(rejection.code), rejection.code.as_str(), rejection.message)
            }
            AppError::NotFound(id) => ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_release",
                format!("there is no release {id}; list releases with GET /api/v1/releases"),
            ),
            AppError::Busy(busy) => ApiError::busy(busy),
            AppError::Internal(error) => ApiError::internal(&error),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, axum::Json(json!({ "code": self.code, "message": self.message }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after_seconds {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_busy_database_is_answered_503_with_retry_after_and_a_documented_code() {
        let response =
            ApiError::from(AppError::Busy(Busy { retry_after: Duration::from_millis(2_500) })).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get(axum::http::header::RETRY_AFTER).map(|v| v.as_bytes()), Some(&b"3"[..]));

        let document: serde_json::Value = serde_json::from_str(super::super::OPENAPI).expect("the API document");
        let codes = &document["components"]["schemas"]["Error"]["properties"]["code"]["enum"];
        assert!(codes.as_array().is_some_and(|codes| codes.contains(&json!("database_busy"))), "{codes}");
        let described = document["components"]["schemas"]["Error"]["description"].as_str().unwrap_or_default();
        assert!(described.contains("`database_busy` (503)"), "{described}");
    }
}
