//! The CI API under `/api/v1`: releases and the commands that move them.

use super::auth::{ApiActor, IdempotencyKey};
use super::error::ApiError;
use super::AppState;
use crate::app::{Outcome, StartRelease};
use crate::domain::release::{Artifact, Command, DeploymentReport, TestResult};
use crate::domain::view::{HistoryEntry, ReleaseView};
use crate::domain::{ChatChannel, FailurePathId, GitSha, ItemId, ReleaseId, ServiceName, StepId, Version};
use crate::store::ReleaseFilter;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/releases", post(start_release).get(list_releases))
        .route("/releases/{id}", get(get_release))
        .route("/releases/{id}/steps/{step}/items/{item}/tick", post(tick))
        .route("/releases/{id}/steps/{step}/items/{item}/untick", post(untick))
        .route("/releases/{id}/steps/{step}/approve", post(approve))
        .route("/releases/{id}/steps/{step}/failure-paths/{path}", post(take_failure_path))
        .route("/releases/{id}/steps/{step}/reject", post(reject_gate))
        .route("/releases/{id}/test-results", post(record_test_result))
        .route("/releases/{id}/artifacts", post(record_artifact))
        .route("/releases/{id}/deployments", post(record_deployment))
        .route("/releases/{id}/freeze-override", post(request_freeze_override))
        .route("/releases/{id}/freeze-override/approve", post(approve_freeze_override))
        .route("/releases/{id}/rollback", post(trigger_rollback))
        .route("/releases/{id}/rollback/hook", post(run_rollback_hook))
        .route("/releases/{id}/abort", post(abort))
        .route("/releases/{id}/retarget", post(retarget))
        .route("/releases/{id}/watch/critical-flow", post(report_critical_flow))
        .route("/releases/{id}/watch/accept-blind", post(accept_blind_watch))
}

/// A JSON body whose every failure is answered as `{code, message}`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_error(rejection)),
        }
    }
}

/// A JSON body that may be left out entirely (no body at all means the default).
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let has_body = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|len| len.trim() != "0")
            && req.headers().contains_key(axum::http::header::CONTENT_TYPE);
        if !has_body {
            return Ok(OptionalJson(T::default()));
        }
        ApiJson::<T>::from_request(req, state).await.map(|ApiJson(value)| OptionalJson(value))
    }
}

fn json_error(rejection: JsonRejection) -> ApiError {
    let detail = rejection.body_text();
    match rejection {
        JsonRejection::JsonDataError(_) => ApiError::invalid(detail),
        JsonRejection::JsonSyntaxError(_) => ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", detail),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is larger than shipgate accepts (server.max_body_bytes)",
        ),
        other => ApiError::new(other.status(), "bad_request", detail),
    }
}

/// The answer to a command on a release: where it stands now and what just happened.
#[derive(serde::Serialize)]
struct CommandAnswer {
    release: ReleaseView,
    events: Vec<HistoryEntry>,
}

/// A start answers 201 with the release's view, a command 200 with the view and the events
/// it caused; both seen as of the events' own time, so a replay renders the same bytes.
fn answer(outcome: Outcome) -> Response {
    let view = ReleaseView::of(&outcome.release, outcome.at());
    let (status, body) = if outcome.started() {
        (StatusCode::CREATED, serde_json::to_vec(&view))
    } else {
        let events = outcome.events.iter().map(HistoryEntry::from_recorded).collect();
        (StatusCode::OK, serde_json::to_vec(&CommandAnswer { release: view, events }))
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => return ApiError::internal(&anyhow::Error::from(e).context("rendering an answer")).into_response(),
    };
    let mut response = (status, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response();
    if outcome.replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// The answer to a start: the release, and what its starter should know before relying
/// on its gates (`warnings`, empty when all is well).
fn answer_started(outcome: Outcome, warnings: Vec<String>) -> Response {
    #[derive(serde::Serialize)]
    struct Started {
        #[serde(flatten)]
        release: ReleaseView,
        warnings: Vec<String>,
    }
    let body = Started { release: ReleaseView::of(&outcome.release, outcome.at()), warnings };
    let body = match serde_json::to_vec(&body) {
        Ok(body) => body,
        Err(e) => return ApiError::internal(&anyhow::Error::from(e).context("rendering an answer")).into_response(),
    };
    let mut response =
        (StatusCode::CREATED, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response();
    if outcome.replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

fn release_id(raw: &str) -> Result<ReleaseId, ApiError> {
    if raw.is_empty() || raw.len() > 64 || !raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_release", format!("{raw:?} is not a release id")));
    }
    Ok(ReleaseId::new(raw))
}

/// `POST /releases`. The body types are public so the fuzz targets decode them exactly
/// as the handlers do, without a request around them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    pub service: String,
    pub version: String,
    pub git_sha: String,
    #[serde(default)]
    pub playbook: Option<String>,
    #[serde(default)]
    pub hotfix: bool,
    #[serde(default)]
    pub channel: Option<ChatChannel>,
}

impl StartBody {
    /// The start the body asks for, its service, version and commit checked.
    pub fn into_start(self) -> Result<StartRelease, ApiError> {
        Ok(StartRelease {
            service: ServiceName::parse(&self.service).map_err(ApiError::invalid)?,
            version: Version::parse(&self.version).map_err(ApiError::invalid)?,
            git_sha: GitSha::parse(&self.git_sha).map_err(ApiError::invalid)?,
            playbook: self.playbook,
            hotfix: self.hotfix,
            channel: self.channel,
        })
    }
}

async fn start_release(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<StartBody>,
) -> Result<Response, ApiError> {
    let start = body.into_start()?;
    let request_id = key.request_id(&actor, "POST /releases");
    let outcome = state.app.start_release(start, actor, request_id).await.map_err(|e| key.explain(e))?;
    let warnings = state.app.start_warnings(&outcome.release);
    Ok(answer_started(outcome, warnings))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    service: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
}

const STATUSES: [&str; 5] = ["active", "rolling_back", "completed", "rolled_back", "aborted"];

async fn list_releases(
    State(state): State<AppState>,
    ApiActor(_actor): ApiActor,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    if let Some(status) = &query.status {
        if !STATUSES.contains(&status.as_str()) {
            return Err(ApiError::invalid(format!("status {status:?} is not one of {}", STATUSES.join(", "))));
        }
    }
    if query.limit.is_some_and(|l| l == 0 || l > 500) {
        return Err(ApiError::invalid("limit must be between 1 and 500"));
    }
    let filter = ReleaseFilter {
        service: query.service.as_deref().map(ServiceName::parse).transpose().map_err(ApiError::invalid)?,
        status: query.status,
        limit: query.limit,
    };
    let releases = state.app.list(&filter).await?;
    Ok(axum::Json(json!({ "releases": releases })).into_response())
}

async fn get_release(
    State(state): State<AppState>,
    ApiActor(_actor): ApiActor,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = release_id(&id)?;
    let Some((release, events)) = state.app.release_with_history(&id).await? else {
        return Err(crate::app::AppError::NotFound(id).into());
    };
    let mut view =
        serde_json::to_value(ReleaseView::of(&release, state.app.now())).map_err(|e| ApiError::internal(&e.into()))?;
    let history: Vec<HistoryEntry> = events.iter().map(HistoryEntry::from_recorded).collect();
    view["history"] = serde_json::to_value(history).map_err(|e| ApiError::internal(&e.into()))?;
    // The team's time zone (its freeze calendar's), for showing the history's times.
    view["time_zone"] = json!(state.app.freeze_for(release.channel.as_ref()).timezone().name());
    let mut response = axum::Json(view).into_response();
    // The seq a later command can send back as If-Match.
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", release.seq)) {
        response.headers_mut().insert(axum::http::header::ETAG, etag);
    }
    Ok(response)
}

/// Who is asking and under which request id: what every command handler needs.
pub struct Caller {
    state: AppState,
    actor: crate::domain::Actor,
    key: IdempotencyKey,
    uri: Uri,
    /// From `If-Match: <seq>`: the release as the caller saw it.
    expected_seq: Option<u64>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ApiActor(actor) = ApiActor::from_request_parts(parts, state).await?;
        let key = IdempotencyKey::from_request_parts(parts, state).await?;
        let expected_seq = match parts.headers.get(axum::http::header::IF_MATCH) {
            None => None,
            Some(value) => Some(
                value
                    .to_str()
                    .ok()
                    .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "If-Match must be the release's `seq` as you last saw it, e.g. If-Match: \"12\"",
                        )
                    })?,
            ),
        };
        Ok(Caller { state: state.clone(), actor, key, uri: parts.uri.clone(), expected_seq })
    }
}

impl Caller {
    async fn run(self, id: &str, command: Command) -> Result<Response, ApiError> {
        let id = release_id(id)?;
        let request_id = self.key.request_id(&self.actor, &format!("POST {}", self.uri.path()));
        let outcome = self
            .state
            .app
            .execute_if(&id, command, self.actor, request_id, self.expected_seq)
            .await
            .map_err(|e| self.key.explain(e))?;
        Ok(answer(outcome))
    }
}

async fn tick(caller: Caller, Path((id, step, item)): Path<(String, String, String)>) -> Result<Response, ApiError> {
    caller.run(&id, Command::Tick { step: StepId::new(step), item: ItemId::new(item) }).await
}

async fn untick(caller: Caller, Path((id, step, item)): Path<(String, String, String)>) -> Result<Response, ApiError> {
    caller.run(&id, Command::Untick { step: StepId::new(step), item: ItemId::new(item) }).await
}

async fn approve(caller: Caller, Path((id, step)): Path<(String, String)>) -> Result<Response, ApiError> {
    caller.run(&id, Command::Approve { step: StepId::new(step) }).await
}

/// `POST .../failure-paths/{path}`; the body may be left out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    #[serde(default)]
    pub note: Option<String>,
}

impl NoteBody {
    pub fn into_command(self, step: StepId, path: FailurePathId) -> Command {
        Command::TakeFailurePath { step, path, note: self.note }
    }
}

async fn take_failure_path(
    caller: Caller,
    Path((id, step, path)): Path<(String, String, String)>,
    OptionalJson(body): OptionalJson<NoteBody>,
) -> Result<Response, ApiError> {
    caller.run(&id, body.into_command(StepId::new(step), FailurePathId::new(path))).await
}

/// `POST .../reject`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    pub reason: String,
    #[serde(default)]
    pub path: Option<String>,
}

impl RejectBody {
    pub fn into_command(self, step: StepId) -> Command {
        Command::RejectGate { step, reason: self.reason, path: self.path.map(FailurePathId::new) }
    }
}

async fn reject_gate(
    caller: Caller,
    Path((id, step)): Path<(String, String)>,
    ApiJson(body): ApiJson<RejectBody>,
) -> Result<Response, ApiError> {
    caller.run(&id, body.into_command(StepId::new(step))).await
}

async fn record_test_result(
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(result): ApiJson<TestResult>,
) -> Result<Response, ApiError> {
    caller.run(&id, Command::RecordTestResult(result)).await
}

async fn record_artifact(
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(artifact): ApiJson<Artifact>,
) -> Result<Response, ApiError> {
    caller.run(&id, Command::RecordArtifact(artifact)).await
}

async fn record_deployment(
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(report): ApiJson<DeploymentReport>,
) -> Result<Response, ApiError> {
    caller.run(&id, Command::RecordDeployment(report)).await
}

/// `POST .../freeze-override`, `.../rollback` and `.../abort`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    pub reason: String,
}

async fn request_freeze_override(
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<Response, ApiError> {
    caller.run(&id, Command::RequestFreezeOverride { reason: body.reason }).await
}

async fn approve_freeze_override(caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.run(&id, Command::ApproveFreezeOverride).await
}

async fn trigger_rollback(
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<Response, ApiError> {
    caller.run(&id, Command::TriggerRollback { reason: body.reason }).await
}

/// `POST .../rollback/hook`: run the configured rollback hook now (one click).
async fn run_rollback_hook(caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.run(&id, Command::RunRollbackHook).await
}

/// `POST .../watch/critical-flow`: a critical user flow is broken; the rollback starts now.
async fn report_critical_flow(
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CriticalFlowBody>,
) -> Result<Response, ApiError> {
    caller.run(&id, Command::ReportCriticalFlow { note: body.note }).await
}

/// `POST .../watch/accept-blind`: complete a watch that could not see some metrics, saying why.
async fn accept_blind_watch(
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<Response, ApiError> {
    caller.run(&id, Command::AcceptBlindWatch { reason: body.reason }).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriticalFlowBody {
    pub note: String,
}

async fn abort(
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<Response, ApiError> {
    caller.run(&id, Command::Abort { reason: body.reason }).await
}

/// `POST .../retarget`: the release ships the fix's commit (and version) from Step 1 on.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetargetBody {
    pub git_sha: String,
    #[serde(default)]
    pub version: Option<String>,
    pub reason: String,
}

impl RetargetBody {
    /// The command the body asks for, its commit and version checked.
    pub fn into_command(self) -> Result<Command, ApiError> {
        Ok(Command::Retarget {
            git_sha: GitSha::parse(&self.git_sha).map_err(ApiError::invalid)?,
            version: self.version.as_deref().map(Version::parse).transpose().map_err(ApiError::invalid)?,
            reason: self.reason,
        })
    }
}

async fn retarget(
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RetargetBody>,
) -> Result<Response, ApiError> {
    let command = body.into_command()?;
    caller.run(&id, command).await
}
