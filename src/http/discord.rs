//! `POST /discord/interactions`: Discord's HTTP delivery of interactions. The signature is
//! checked over the raw body before anything in it is read; a bad or missing one is 401,
//! as Discord requires (it sends forged requests to check).

use super::AppState;
use crate::chat::discord::handler::{FollowUp, Handler};
use crate::chat::discord::interaction::Interaction;
use crate::chat::discord::verify::Verifier;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::json;
use std::sync::Arc;

/// The Discord edge: the handler and the key requests are checked with.
#[derive(Clone)]
pub struct DiscordEdge {
    pub handler: Handler,
    pub verifier: Verifier,
    /// Completes deferred replies (the link to a new release's thread).
    pub follow_ups: Arc<dyn Fn(FollowUp) + Send + Sync>,
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/discord/interactions", post(interactions))
}

async fn interactions(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(edge) = state.discord.as_ref() else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"code": "not_found", "message": "Discord's HTTP interactions are not enabled: set [discord] mode = \"http\""})))
            .into_response();
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = edge.verifier.verify(
        header("x-signature-ed25519"),
        header("x-signature-timestamp"),
        &body,
        edge.handler.app().now(),
    ) {
        metrics::counter!("shipgate_discord_bad_signatures_total").increment(1);
        tracing::info!(reason = %e, "refused a Discord interaction with a bad signature");
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"code": "bad_signature", "message": e.to_string()})))
            .into_response();
    }
    let interaction: Interaction = match serde_json::from_slice(&body) {
        Ok(interaction) => interaction,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(
                    json!({"code": "malformed_interaction", "message": format!("not a Discord interaction: {e}")}),
                ),
            )
                .into_response()
        }
    };
    let answer = edge.handler.handle(&interaction).await;
    if let Some(follow_up) = answer.follow_up {
        (edge.follow_ups)(follow_up);
    }
    axum::Json(answer.body).into_response()
}
