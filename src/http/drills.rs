//! `GET /api/v1/drills`: each service shipgate has seen, with its last completed rollback
//! drill (when, by whom, how long) and whether it is overdue.

use super::auth::ApiActor;
use super::error::ApiError;
use super::AppState;
use crate::domain::drill::DrillStanding;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new().route("/drills", get(list_drills))
}

/// A service's drills as the API shows them.
#[derive(Debug, Serialize)]
struct DrillView {
    service: String,
    /// The last completed drill; null when the service has had none.
    last: Option<LastDrill>,
    /// When the next drill is due.
    due_at: Option<DateTime<Utc>>,
    overdue: bool,
}

#[derive(Debug, Serialize)]
struct LastDrill {
    release_id: String,
    by: String,
    started_at: DateTime<Utc>,
    completed_at: DateTime<Utc>,
    /// From the drill's start to its completion.
    duration_seconds: i64,
}

fn view(standing: DrillStanding) -> DrillView {
    DrillView {
        service: standing.service.to_string(),
        last: standing.last.map(|d| LastDrill {
            duration_seconds: d.duration().num_seconds(),
            release_id: d.release_id.to_string(),
            by: d.by,
            started_at: d.started_at,
            completed_at: d.completed_at,
        }),
        due_at: standing.due_at,
        overdue: standing.overdue,
    }
}

async fn list_drills(State(state): State<AppState>, ApiActor(_actor): ApiActor) -> Result<Response, ApiError> {
    let drills: Vec<DrillView> = state.app.drill_standings().await?.into_iter().map(view).collect();
    Ok(axum::Json(json!({ "drills": drills })).into_response())
}
