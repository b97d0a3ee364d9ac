//! `POST /webhooks/alertmanager`: Alertmanager's webhook (version 4). A firing alert whose
//! labels match a release under watch (its `service` by default) is recorded on that
//! release; a critical one is a broken critical user flow and starts the rollback. Resolved
//! alerts are recorded too. Alertmanager resends: a repeat changes nothing twice.
//!
//! Authenticated with the bearer token of `[alertmanager]` (Alertmanager's `http_config`
//! sends it), compared in constant time. 2xx tells Alertmanager the notification was
//! delivered; a 5xx makes it retry, so internal failures answer 500.

use super::error::ApiError;
use super::AppState;
use crate::app::watch::AlertDelivery;
use crate::config::AlertmanagerConfig;
use crate::domain::watch::{Alert, AlertStatus};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::Deserialize;
use std::collections::BTreeMap;
use subtle::ConstantTimeEq;

pub fn routes() -> Router<AppState> {
    Router::new().route("/webhooks/alertmanager", post(receive))
}

/// The version 4 payload; fields shipgate does not read are ignored, since Alertmanager
/// adds fields across versions.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub version: String,
    #[serde(default)]
    pub alerts: Vec<WebhookAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub starts_at: DateTime<Utc>,
    #[serde(default)]
    pub fingerprint: String,
}

async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Some(config) = state.alertmanager.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_configured",
            "the Alertmanager webhook is not configured: add an [alertmanager] section with its token",
        ));
    };
    let unauthorized = |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
    let presented = super::auth::bearer_token(&headers).ok_or_else(|| {
        unauthorized("send `Authorization: Bearer <token>` (Alertmanager: http_config.authorization)")
    })?;
    let expected = config.token.expose_secret().as_bytes();
    if !bool::from(presented.as_bytes().ct_eq(expected)) {
        return Err(unauthorized("the token is not the one [alertmanager] names"));
    }
    let deliveries = deliveries(&body, &config).map_err(ApiError::invalid)?;
    let outcome = state.app.record_alerts(deliveries).await.map_err(|e| match e {
        crate::app::AppError::Internal(e) => ApiError::internal(&e),
        other => ApiError::internal(&anyhow::anyhow!("{other}")),
    })?;
    Ok((
        StatusCode::OK,
        Json(serde_json::json!({
            "alerts": outcome.alerts,
            "matched_releases": outcome.matched,
            "recorded": outcome.recorded,
            "rollbacks_started": outcome.rollbacks_started,
        })),
    ))
}

/// The alerts of a webhook body, each with the labels it is matched to releases by; or
/// what is wrong with the body, in words for the sender. Reads nothing else and has no
/// effect: the body comes from the network.
pub fn deliveries(body: &[u8], config: &AlertmanagerConfig) -> Result<Vec<AlertDelivery>, String> {
    let webhook: Webhook =
        serde_json::from_slice(body).map_err(|e| format!("not an Alertmanager webhook body (version 4): {e}"))?;
    if webhook.version != "4" {
        return Err(format!(
            "webhook version {:?} is not read; shipgate reads Alertmanager's version 4",
            webhook.version
        ));
    }
    let mut deliveries = Vec::new();
    for raw in webhook.alerts {
        let status = match raw.status.as_str() {
            "firing" => AlertStatus::Firing,
            "resolved" => AlertStatus::Resolved,
            other => return Err(format!("alert status {other:?} is neither firing nor resolved")),
        };
        let severity = raw.labels.get(&config.severity_label).cloned();
        let critical = severity.as_ref().is_some_and(|s| config.critical_severities.iter().any(|c| c == s));
        let name = raw.labels.get("alertname").cloned().unwrap_or_else(|| "unnamed alert".to_owned());
        let summary = raw.annotations.get("summary").or_else(|| raw.annotations.get("description")).cloned();
        let fingerprint = if raw.fingerprint.is_empty() {
            // Older senders leave it out: the labels identify the alert just as well.
            raw.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
        } else {
            raw.fingerprint
        };
        let matching: Vec<(String, String)> = config
            .match_labels
            .iter()
            .filter_map(|label| raw.labels.get(label).map(|value| (label.clone(), value.clone())))
            .collect();
        let alert = Alert { fingerprint, name, summary, severity, status, starts_at: raw.starts_at, critical };
        deliveries.push(AlertDelivery { labels: matching, alert });
    }
    Ok(deliveries)
}
