//! `POST /slack/commands` and `POST /slack/interactivity`: Slack's HTTP delivery of slash
//! commands and clicks. The signature is checked over the raw body before anything in it
//! is read; a bad, missing or stale one is 401. The answer leaves within Slack's 3
//! seconds: work that takes longer finishes after the acknowledgement and answers through
//! the request's `response_url`.

use super::AppState;
use crate::chat::slack::handler::{Handler, SlashCommand};
use crate::chat::slack::verify::Verifier;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use std::time::Duration;

/// How long the answer may wait for the work: Slack gives up at 3 seconds.
const ACK_WITHIN: Duration = Duration::from_millis(2500);

/// The Slack edge: the handler and the secret requests are checked with.
#[derive(Clone)]
pub struct SlackEdge {
    pub handler: Handler,
    pub verifier: Verifier,
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/slack/commands", post(commands)).route("/slack/interactivity", post(interactivity))
}

/// The edge, once the request is known to come from Slack.
fn checked<'a>(state: &'a AppState, headers: &HeaderMap, body: &[u8]) -> Result<&'a SlackEdge, Box<Response>> {
    let Some(edge) = state.slack.as_ref() else {
        return Err(Box::new((
            StatusCode::NOT_FOUND,
            axum::Json(json!({"code": "not_found", "message": "Slack's HTTP delivery is not enabled: set [slack] mode = \"http\""})),
        )
            .into_response()));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = edge.verifier.verify(
        header("x-slack-signature"),
        header("x-slack-request-timestamp"),
        body,
        edge.handler.app().now(),
    ) {
        metrics::counter!("shipgate_slack_bad_signatures_total").increment(1);
        tracing::info!(reason = %e, "refused a Slack request with a bad signature");
        return Err(Box::new(
            (StatusCode::UNAUTHORIZED, axum::Json(json!({"code": "bad_signature", "message": e.to_string()})))
                .into_response(),
        ));
    }
    Ok(edge)
}

fn malformed(what: &str, e: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"code": "malformed_request", "message": format!("not {what}: {e}")})))
        .into_response()
}

async fn commands(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let edge = match checked(&state, &headers, &body) {
        Ok(edge) => edge.clone(),
        Err(refused) => return *refused,
    };
    let command = match slash_command(&body) {
        Ok(command) => command,
        Err(e) => return malformed("a Slack slash command", e),
    };
    let response_url = command.response_url.clone();
    let work = tokio::spawn(async move { edge.handler.command(&command).await });
    answer_within(work, Some(response_url)).await
}

async fn interactivity(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let edge = match checked(&state, &headers, &body) {
        Ok(edge) => edge.clone(),
        Err(refused) => return *refused,
    };
    let payload = match interactivity_payload(&body) {
        Ok(payload) => payload,
        Err(e) => return malformed("a Slack interactivity payload", e),
    };
    // A view submission's answer (errors shown in the modal) must be the HTTP answer;
    // clicks answer through their response_url.
    let work = tokio::spawn(async move { edge.handler.interactive(&payload).await });
    answer_within(work, None).await
}

/// A slash command's form-encoded body, once its signature is checked.
pub fn slash_command(body: &[u8]) -> Result<SlashCommand, serde_urlencoded::de::Error> {
    serde_urlencoded::from_bytes(body)
}

/// An interactivity request's body, once its signature is checked: the JSON of its
/// form-encoded `payload` field.
pub fn interactivity_payload(body: &[u8]) -> Result<Value, String> {
    #[derive(serde::Deserialize)]
    struct Form {
        payload: String,
    }
    serde_urlencoded::from_bytes::<Form>(body)
        .map_err(|e| e.to_string())
        .and_then(|form| serde_json::from_str(&form.payload).map_err(|e| e.to_string()))
}

/// The work's answer if it is ready within [`ACK_WITHIN`]; else an empty 200 at once, and
/// the answer, when it comes, through `response_url`.
async fn answer_within(work: tokio::task::JoinHandle<Option<Value>>, response_url: Option<String>) -> Response {
    let mut work = work;
    match tokio::time::timeout(ACK_WITHIN, &mut work).await {
        Ok(Ok(Some(body))) => axum::Json(body).into_response(),
        Ok(Ok(None)) => StatusCode::OK.into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "a Slack request's task failed");
            StatusCode::OK.into_response()
        }
        Err(_) => {
            tokio::spawn(async move {
                if let (Ok(Some(body)), Some(url)) = (work.await, response_url.filter(|u| !u.is_empty())) {
                    let http = reqwest::Client::new();
                    if let Err(e) = crate::chat::slack::web::respond(&http, &url, &body).await {
                        tracing::warn!(error = %e, "could not send a late answer through response_url");
                    }
                }
            });
            StatusCode::OK.into_response()
        }
    }
}
