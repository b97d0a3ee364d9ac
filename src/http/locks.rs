//! Locks under `/api/v1/locks`: lock a service (or one environment of it), list the locks
//! in force, look one up, and unlock it. Each lock and unlock is idempotent by its
//! `Idempotency-Key`, like every command.

use super::api::ApiJson;
use super::auth::{ApiActor, IdempotencyKey};
use super::error::ApiError;
use super::AppState;
use crate::app::locks::LockOutcome;
use crate::domain::lock::{Lock, LockEnd, LockId, LockRequest};
use crate::domain::ServiceName;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/locks", post(create_lock).get(list_locks))
        .route("/locks/{id}", get(get_lock))
        .route("/locks/{id}/unlock", post(unlock))
}

/// A lock as the API shows it.
#[derive(Debug, Serialize)]
struct LockView {
    id: String,
    service: String,
    /// `production`, `staging`, or null for every environment.
    environment: Option<String>,
    /// `block` or `warn`.
    mode: &'static str,
    reason: String,
    locked_by: Person,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    /// In force now.
    active: bool,
    ended: Option<Ended>,
}

#[derive(Debug, Serialize)]
struct Person {
    platform: String,
    user_id: String,
    display_name: String,
}

#[derive(Debug, Serialize)]
struct Ended {
    /// `unlocked` or `expired`.
    how: &'static str,
    at: DateTime<Utc>,
    by: Option<Person>,
}

fn person(actor: &crate::domain::Actor) -> Person {
    Person {
        platform: actor.platform.to_string(),
        user_id: actor.user_id.clone(),
        display_name: actor.display_name.clone(),
    }
}

fn view(lock: &Lock, now: DateTime<Utc>) -> LockView {
    LockView {
        id: lock.id.to_string(),
        service: lock.service.to_string(),
        environment: lock.environment.map(|e| e.to_string()),
        mode: lock.mode.as_str(),
        reason: lock.reason.clone(),
        locked_by: person(&lock.by),
        from: lock.from,
        until: lock.until,
        active: lock.is_active(now),
        ended: lock.ended.as_ref().map(|end| match end {
            LockEnd::Unlocked { by, at } => Ended { how: "unlocked", at: *at, by: Some(person(by)) },
            LockEnd::Expired { at } => Ended { how: "expired", at: *at, by: None },
        }),
    }
}

fn answer(status: StatusCode, outcome: &LockOutcome, now: DateTime<Utc>) -> Response {
    let mut response = (status, axum::Json(view(&outcome.lock, now))).into_response();
    if outcome.replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockBody {
    service: String,
    reason: String,
    /// `30m`, `2h`, `1d`, `1h30m`; 4 hours when absent.
    #[serde(default, rename = "for")]
    duration: Option<String>,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    warn: bool,
}

async fn create_lock(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<LockBody>,
) -> Result<Response, ApiError> {
    let request = LockRequest {
        service: body.service,
        reason: body.reason,
        duration: body.duration,
        environment: body.environment,
        warn: body.warn,
    };
    let request_id = key.request_id(&actor, "POST /locks");
    let outcome = state.app.lock(request, actor, request_id).await.map_err(|e| key.explain(e))?;
    Ok(answer(StatusCode::CREATED, &outcome, state.app.now()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    service: Option<String>,
}

async fn list_locks(
    State(state): State<AppState>,
    ApiActor(_actor): ApiActor,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let service = query.service.as_deref().map(ServiceName::parse).transpose().map_err(ApiError::invalid)?;
    let now = state.app.now();
    let locks = state.app.active_locks(service.as_ref(), now).await?;
    let views: Vec<LockView> = locks.iter().map(|l| view(l, now)).collect();
    Ok(axum::Json(json!({ "locks": views })).into_response())
}

fn lock_id(raw: &str) -> Result<LockId, ApiError> {
    if raw.is_empty() || raw.len() > 64 || !raw.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)) {
        return Err(unknown(raw));
    }
    Ok(LockId::new(raw))
}

fn unknown(raw: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_lock",
        format!("there is no lock {raw:?}; list the locks in force with GET /api/v1/locks"),
    )
}

async fn get_lock(
    State(state): State<AppState>,
    ApiActor(_actor): ApiActor,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let lock = state.app.store().lock(&lock_id(&id)?).await.map_err(crate::app::AppError::from)?;
    let lock = lock.ok_or_else(|| unknown(&id))?;
    Ok(axum::Json(view(&lock, state.app.now())).into_response())
}

async fn unlock(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    key: IdempotencyKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = lock_id(&id)?;
    let request_id = key.request_id(&actor, &format!("POST /locks/{id}/unlock"));
    if state.app.store().lock(&id).await.map_err(crate::app::AppError::from)?.is_none() {
        return Err(unknown(id.as_str()));
    }
    let outcome = state.app.unlock(&id, actor, request_id).await?;
    Ok(answer(StatusCode::OK, &outcome, state.app.now()))
}
