//! The axum edge: authenticate, decode, map to a command, answer.

pub mod alertmanager;
pub mod api;
pub mod auth;
pub mod discord;
mod drills;
pub mod error;
mod locks;
pub mod slack;

use crate::app::App;
use crate::config::ApiConfig;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tower_http::trace::TraceLayer;

/// The API's OpenAPI document, served at `/api/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

#[derive(Clone)]
pub struct AppState {
    pub app: App,
    /// The API clients and their tokens.
    pub api: Arc<ApiConfig>,
    pub metrics: Option<PrometheusHandle>,
    /// False until startup is done and again once shutdown begins.
    pub ready: Arc<AtomicBool>,
    /// Discord's HTTP interactions endpoint, when `[discord] mode = "http"`.
    pub discord: Option<discord::DiscordEdge>,
    /// Slack's slash command and interactivity endpoints, when `[slack] mode = "http"`.
    pub slack: Option<slack::SlackEdge>,
    /// The Alertmanager webhook's settings, when `[alertmanager]` is configured.
    pub alertmanager: Option<Arc<crate::config::AlertmanagerConfig>>,
}

pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi))
        .nest("/api/v1", api::routes().merge(locks::routes()).merge(drills::routes()))
        .merge(discord::routes())
        .merge(slack::routes())
        .merge(alertmanager::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn(count_requests))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.app.store().ping().await {
        Ok(()) => {
            (StatusCode::OK, axum::Json(serde_json::json!({"status": "ok", "database": state.app.store().backend()})))
        }
        Err(e) => {
            tracing::warn!(error = %e, "health check: database did not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "unavailable", "database": "not answering"})),
            )
        }
    }
}

/// Ready or not, with the outbox's backlog: undelivered notices are never removed, so a
/// backlog that only grows is worth seeing where readiness is watched. The backlog does not
/// decide readiness: an instance whose chat platform is down still serves the API.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (status, mut body) = if state.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, serde_json::json!({"status": "ready"}))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, serde_json::json!({"status": "not ready"}))
    };
    match state.app.store().outbox_backlog().await {
        Ok((undelivered, oldest)) => {
            let age = oldest.map_or(0, |at| (state.app.now() - at).num_seconds().max(0));
            body["outbox"] = serde_json::json!({"undelivered": undelivered, "oldest_undelivered_age_seconds": age});
        }
        Err(e) => tracing::warn!(error = %e, "readiness check: reading the outbox backlog failed"),
    }
    (status, axum::Json(body))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    crate::telemetry::refresh_gauges(&state.app).await;
    let body = state.metrics.as_ref().map(PrometheusHandle::render).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// Counts every request by its route (the pattern, not the path, so ids do not make new
/// series; requests no route matched share one), method and status, and times it.
async fn count_requests(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("shipgate_http_request_duration_seconds", "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("shipgate_http_requests_total", "route" => route, "method" => method, "status" => status)
        .increment(1);
    response
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn method_not_allowed() -> error::ApiError {
    error::ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method; the API is described at /api/openapi.json",
    )
}

async fn not_found() -> error::ApiError {
    error::ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; the API is described at /api/openapi.json",
    )
}
