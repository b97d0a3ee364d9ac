//! A stateful fake of Discord's HTTP API and gateway, for testing shipgate's Discord adapter
//! at the HTTP level.
//!
//! One axum server on 127.0.0.1 serves the REST API under `/api/v10/...` and the gateway
//! WebSocket at `/`. Every request body is validated against Discord's OpenAPI document
//! (tests/contracts/discord/openapi-subset.json) and the documented limits; a failing body
//! gets Discord's 50035 answer and is recorded as a violation, as is any request to a route
//! the fake does not know. `assert_no_violations` fails a test that broke the contract.
//!
//! Message create and edit also take uploads (`multipart/form-data`): the `payload_json`
//! part is validated as a JSON body is, every file the body's `attachments` names must come
//! as its `files[n]` part (a PNG with the PNG signature), and the files are kept with the
//! message (`attachments`).
//!
//! Connections are served by hand (hyper, not `axum::serve`) so that a fault can close a
//! TCP connection without answering, as an unreachable Discord would.

mod faults;
mod gateway;
mod ratelimit;
mod routes;
pub mod schema;
mod state;
mod upload;

// Every test binary includes tests/common, and most never touch the fake: its re-exports
// would be unused imports there.
#[allow(unused_imports)]
pub use faults::{Fault, RouteMatcher};
#[allow(unused_imports)]
pub use ratelimit::{DEFAULT_BUCKET_LIMIT, DEFAULT_BUCKET_WINDOW, DEFAULT_GLOBAL_LIMIT};
#[allow(unused_imports)]
pub use routes::Route;
#[allow(unused_imports)]
pub use schema::validate_interaction_response;
#[allow(unused_imports)]
pub use state::{
    ApiError, FakeConfig, RecordedFile, RecordedRequest, StoredAttachment, Violation, INTERACTION_TOKEN_LIFETIME,
};

use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use ratelimit::Decision;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tower::ServiceExt;

/// Shared by the server tasks and the test's handle.
pub struct Shared {
    config: FakeConfig,
    port: u16,
    state: Mutex<state::State>,
    hub: Mutex<gateway::Hub>,
}

impl Shared {
    // A test that panicked while holding a lock must not hide later failures behind poisoning.
    fn state(&self) -> MutexGuard<'_, state::State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn hub(&self) -> MutexGuard<'_, gateway::Hub> {
        self.hub.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Lets a request handler close the TCP connection it came on.
#[derive(Clone)]
struct ConnKill(Arc<Notify>);

/// A guild member who clicks buttons or runs commands in the interactions the fake builds.
#[derive(Clone, Debug)]
pub struct Member {
    pub user_id: String,
    pub username: String,
    pub roles: Vec<String>,
}

impl Member {
    pub fn new(user_id: &str, username: &str, roles: &[&str]) -> Self {
        Member {
            user_id: user_id.to_string(),
            username: username.to_string(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "user": {
                "id": self.user_id,
                "username": self.username,
                "discriminator": "0",
                "avatar": null,
                "global_name": null,
                "public_flags": 0,
            },
            "roles": self.roles,
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "deaf": false,
            "mute": false,
            "flags": 0,
            "pending": false,
            "permissions": "2248473465835073",
        })
    }
}

/// The running fake. Dropping it stops the server.
pub struct FakeDiscord {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        self.accept.abort();
        // Gateway sessions run in their own tasks once upgraded.
        self.shared.hub().close_all(|| gateway::Outbound::Drop);
    }
}

impl FakeDiscord {
    pub async fn start() -> Self {
        Self::start_with(FakeConfig::default()).await
    }

    pub async fn start_with(config: FakeConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the fake Discord on a free port");
        let addr = listener.local_addr().expect("the listener has an address");
        let shared = Arc::new(Shared {
            state: Mutex::new(state::State::new(config.clone(), addr.port())),
            hub: Mutex::new(gateway::Hub::default()),
            config,
            port: addr.port(),
        });
        let app = Router::new().route("/", get(gateway::upgrade)).fallback(rest).with_state(Arc::clone(&shared));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let accept = tokio::spawn(accept_loop(listener, app, Arc::clone(&shared), shutdown_rx));
        FakeDiscord { shared, addr, shutdown, accept }
    }

    /// What shipgate's `api_base` (or serenity's `HttpBuilder::proxy`) should be.
    pub fn api_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `api_base` plus `/api/v10`, where the REST routes are.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/v10", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn config(&self) -> &FakeConfig {
        &self.shared.config
    }

    pub fn token(&self) -> &str {
        &self.shared.config.token
    }

    pub fn application_id(&self) -> &str {
        &self.shared.config.application_id
    }

    pub fn guild_id(&self) -> &str {
        &self.shared.config.guild_id
    }

    // ----- seeding -----

    /// A guild the bot is in (the configured guild always is).
    pub fn add_guild(&self, guild_id: &str) {
        self.shared.state().add_guild(guild_id);
    }

    /// A guild text channel (type 0) in the configured guild.
    pub fn add_text_channel(&self, channel_id: &str) {
        let guild = self.shared.config.guild_id.clone();
        self.shared.state().add_text_channel(&guild, channel_id);
    }

    pub fn add_text_channel_in(&self, guild_id: &str, channel_id: &str) {
        self.shared.state().add_text_channel(guild_id, channel_id);
    }

    /// A fresh snowflake from the fake's generator, greater than every earlier one.
    pub fn snowflake(&self) -> String {
        self.shared.state().snowflake()
    }

    // ----- rate limits and faults -----

    /// The size of one route's buckets (one bucket per channel, webhook, ...); resets them.
    pub fn set_bucket_limit(&self, route: Route, limit: u32, window: Duration) {
        self.shared.state().rate.set_bucket_limit(route, limit, window);
    }

    /// Requests per second across all routes except interaction callbacks and webhooks.
    pub fn set_global_limit(&self, per_second: u32) {
        self.shared.state().rate.set_global_limit(per_second);
    }

    /// The next `times` requests that `matcher` matches fail with `fault`. Faults ordered
    /// earlier are used first.
    pub fn fail_next(&self, matcher: impl Into<RouteMatcher>, fault: Fault, times: u32) {
        let pending = faults::PendingFault { matcher: matcher.into(), fault, remaining: times };
        if times > 0 {
            self.shared.state().faults.push(pending);
        }
    }

    /// While down, every REST request and gateway connection is dropped without an answer,
    /// and live gateway sessions vanish.
    pub fn set_down(&self, down: bool) {
        self.shared.state().down = down;
        if down {
            self.shared.hub().close_all(|| gateway::Outbound::Drop);
        }
    }

    // ----- gateway and interactions -----

    /// Sends INTERACTION_CREATE to every identified gateway session (or queues it for the
    /// next one) and remembers the interaction so that its callback is accepted.
    pub fn dispatch_interaction(&self, interaction: Value) {
        self.register_interaction(&interaction);
        self.dispatch("INTERACTION_CREATE", interaction);
    }

    /// Sends any dispatch event to the identified sessions, or queues it.
    pub fn dispatch(&self, event: &str, data: Value) {
        self.shared.hub().dispatch(event, data);
    }

    /// Makes an interaction known without sending it on the gateway: for interactions that
    /// a test posts to shipgate's HTTP interactions endpoint.
    pub fn register_interaction(&self, interaction: &Value) {
        self.shared.state().register_interaction(interaction);
    }

    /// Records the answer shipgate gave in the HTTP response to an interaction as if it
    /// had come as a callback: checks it against the callback schema and applies it (a
    /// message created or updated, an original response to edit later).
    pub fn apply_http_interaction_response(&self, interaction_id: &str, body: &Value) -> Result<(), Vec<String>> {
        validate_interaction_response(body)?;
        self.shared
            .state()
            .interaction_response(interaction_id, None, body)
            .map(|_| ())
            .map_err(|e| vec![format!("{} {}", e.status, e.body)])
    }

    /// Waits (at most 10 s, then panics) until a gateway session has identified.
    pub async fn wait_identified(&self) {
        let mut identified = self.shared.hub().subscribe_identified();
        let waited = tokio::time::timeout(Duration::from_secs(10), identified.wait_for(|n| *n > 0)).await;
        assert!(matches!(waited, Ok(Ok(_))), "no gateway session identified within 10 s");
    }

    /// Every IDENTIFY payload received, in order.
    pub fn gateway_identifies(&self) -> Vec<Value> {
        self.shared.hub().identifies.clone()
    }

    /// Heartbeats received (each answered with an ACK).
    pub fn gateway_heartbeats(&self) -> u64 {
        self.shared.hub().heartbeats
    }

    /// Identified sessions still connected.
    pub fn gateway_sessions(&self) -> usize {
        self.shared.hub().live_sessions()
    }

    /// Closes every gateway session with a close frame (e.g. 4000 to make the client resume).
    pub fn close_gateway_sessions(&self, code: u16) {
        self.shared.hub().close_all(|| gateway::Outbound::Close(code));
    }

    /// A button click (MESSAGE_COMPONENT) on a message, shaped as serenity 0.12 needs it.
    /// Uses the stored message when the fake has it.
    pub fn button_interaction(&self, channel_id: &str, message_id: &str, custom_id: &str, member: &Member) -> Value {
        let mut state = self.shared.state();
        let message = state.message(channel_id, message_id).unwrap_or_else(|| {
            json!({
                "id": message_id,
                "channel_id": channel_id,
                "type": 0,
                "content": "",
                "author": state.bot_user(),
                "timestamp": "2024-01-01T00:00:00.000000+00:00",
                "edited_timestamp": null,
                "tts": false,
                "mention_everyone": false,
                "mentions": [],
                "mention_roles": [],
                "attachments": [],
                "embeds": [],
                "components": [],
                "pinned": false,
                "flags": 0,
            })
        });
        let mut interaction = self.interaction_base(&mut state, 3, channel_id, member);
        interaction["data"] = json!({"custom_id": custom_id, "component_type": 2});
        interaction["message"] = message;
        interaction
    }

    /// A slash command (APPLICATION_COMMAND, CHAT_INPUT) with its options as Discord sends
    /// them, e.g. `[{"name": "service", "type": 3, "value": "api"}]`. The command id is the
    /// registered one when the command was registered through the fake.
    pub fn command_interaction(&self, channel_id: &str, name: &str, options: Value, member: &Member) -> Value {
        let mut state = self.shared.state();
        let command_id = state.command_id(name).unwrap_or_else(|| state.snowflake());
        let mut interaction = self.interaction_base(&mut state, 2, channel_id, member);
        interaction["data"] = json!({
            "id": command_id,
            "name": name,
            "type": 1,
            "options": options,
            "guild_id": self.shared.config.guild_id,
        });
        interaction
    }

    fn interaction_base(&self, state: &mut state::State, kind: u64, channel_id: &str, member: &Member) -> Value {
        let id = state.snowflake();
        let config = &self.shared.config;
        json!({
            "id": id,
            "application_id": config.application_id,
            "type": kind,
            "token": format!("fake-interaction-token-{id}"),
            "version": 1,
            "guild_id": config.guild_id,
            "channel_id": channel_id,
            "channel": {"id": channel_id, "type": 0, "guild_id": config.guild_id, "name": format!("channel-{channel_id}")},
            "member": member.to_json(),
            "app_permissions": "2248473465835073",
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": config.guild_id},
            "context": 0,
            "attachment_size_limit": 26_214_400,
        })
    }

    // ----- inspection -----

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    pub fn requests_to(&self, route: Route) -> Vec<RecordedRequest> {
        self.shared.state().requests.iter().filter(|r| r.route == Some(route)).cloned().collect()
    }

    /// The channel's messages, oldest first, as Discord would return them.
    pub fn messages(&self, channel_id: &str) -> Vec<Value> {
        self.shared.state().messages(channel_id)
    }

    /// Someone deletes a message in Discord: it is gone, and editing it answers 404,
    /// `Unknown Message` (10008). Panics when there is no such message.
    pub fn delete_message(&self, channel_id: &str, message_id: &str) {
        self.shared.state().delete_message(channel_id, message_id);
    }

    pub fn message(&self, channel_id: &str, message_id: &str) -> Option<Value> {
        self.shared.state().message(channel_id, message_id)
    }

    /// The files a message carries now, with their bytes, in the message's order.
    pub fn attachments(&self, channel_id: &str, message_id: &str) -> Vec<StoredAttachment> {
        self.shared.state().attachments(channel_id, message_id)
    }

    /// Thread channel objects, in creation order.
    pub fn threads(&self) -> Vec<Value> {
        self.shared.state().threads()
    }

    /// The registered commands of an application, for a guild or (`None`) global.
    pub fn commands(&self, application_id: &str, guild_id: Option<&str>) -> Vec<Value> {
        self.shared.state().commands(application_id, guild_id)
    }

    /// Accepted initial responses (callback bodies) of an interaction.
    pub fn interaction_callbacks(&self, interaction_id: &str) -> Vec<Value> {
        self.shared.state().interaction_callbacks(interaction_id)
    }

    /// Accepted follow-ups (`ExecuteWebhook`) and original-response edits of an interaction.
    pub fn interaction_webhooks(&self, interaction_id: &str) -> Vec<(Route, Value)> {
        self.shared.state().interaction_webhooks(interaction_id)
    }

    /// Answers with 401, 403 or 429: Discord bans an IP after 10,000 in 10 minutes.
    pub fn invalid_request_count(&self) -> u64 {
        self.shared.state().invalid_requests
    }

    pub fn violations(&self) -> Vec<Violation> {
        self.shared.state().violations.clone()
    }

    /// Panics listing every request that broke the API contract.
    pub fn assert_no_violations(&self) {
        let violations = self.violations();
        if !violations.is_empty() {
            let list: Vec<String> = violations
                .iter()
                .map(|v| format!("{} {}:\n    {}", v.method, v.path, v.problems.join("\n    ")))
                .collect();
            panic!("{} request(s) broke Discord's API contract:\n{}", violations.len(), list.join("\n"));
        }
    }
}

async fn accept_loop(listener: TcpListener, app: Router, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        if shared.state().down {
            // Unreachable: the connection closes before any HTTP.
            drop(stream);
            continue;
        }
        let kill = Arc::new(Notify::new());
        let service = app.clone().map_request({
            let kill = ConnKill(Arc::clone(&kill));
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(kill.clone());
                request
            }
        });
        let service = hyper_util::service::TowerToHyperService::new(service);
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .with_upgrades();
            // Dropping the connection future closes the socket without an answer.
            tokio::select! {
                _ = connection => {}
                _ = kill.notified() => {}
                _ = shutdown.changed() => {}
            }
        });
    }
}

/// What to do with a request once the state has seen it.
struct Outcome {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Option<Value>,
    /// Answer only after this long (the request has taken effect).
    delay: Option<Duration>,
    /// Close the connection instead of answering.
    drop: bool,
}

impl Outcome {
    fn answer(status: u16, body: Option<Value>) -> Self {
        Outcome { status, headers: Vec::new(), body, delay: None, drop: false }
    }

    fn error(error: &ApiError) -> Self {
        Self::answer(error.status, Some(error.body.clone()))
    }

    fn dropped() -> Self {
        Outcome { status: 0, headers: Vec::new(), body: None, delay: None, drop: true }
    }
}

/// A request's headers and body as they came.
struct Incoming<'a> {
    headers: &'a HeaderMap,
    bytes: &'a [u8],
    /// The parts of a `multipart/form-data` body, or why it could not be read as one.
    form: Option<Result<Vec<upload::FormPart>, String>>,
}

const RECORDED_HEADERS: [&str; 4] = ["authorization", "content-type", "user-agent", "x-audit-log-reason"];

async fn rest(AxumState(shared): AxumState<Arc<Shared>>, request: Request) -> Response {
    let kill = request.extensions().get::<ConnKill>().cloned();
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20).await.unwrap_or_default();
    let content_type = parts.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    // Read before taking the state's lock: the multipart reader is async.
    let form =
        if upload::is_multipart(content_type) { Some(upload::parse(content_type, bytes.clone()).await) } else { None };
    let outcome = {
        let mut state = shared.state();
        let request = Incoming { headers: &parts.headers, bytes: &bytes, form };
        process(&mut state, parts.method.as_str(), parts.uri.path(), parts.uri.query(), request)
    };
    if let Some(delay) = outcome.delay {
        tokio::time::sleep(delay).await;
    }
    if outcome.drop {
        if let Some(ConnKill(kill)) = kill {
            kill.notify_one();
        }
        // Never answer; the connection task drops this future with the socket.
        std::future::pending::<()>().await;
    }
    let mut response = match &outcome.body {
        Some(body) => {
            let mut r = Response::new(Body::from(body.to_string()));
            r.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
            r
        }
        None => Response::new(Body::empty()),
    };
    *response.status_mut() = StatusCode::from_u16(outcome.status).expect("the fake answers valid statuses");
    for (name, value) in outcome.headers {
        response.headers_mut().insert(name, HeaderValue::from_str(&value).expect("header values are ASCII"));
    }
    response
}

/// Everything about a REST request that needs the state: recording, faults, auth, rate
/// limits, validation and the operation itself.
fn process(state: &mut state::State, method: &str, path: &str, query: Option<&str>, request: Incoming<'_>) -> Outcome {
    let Incoming { headers, bytes, form } = request;
    let raw = String::from_utf8_lossy(bytes).to_string();
    let parsed: Option<Value> = match &form {
        // An upload's JSON body is its payload_json part.
        Some(Ok(parts)) => upload::payload_json(parts).ok(),
        Some(Err(_)) => None,
        None if bytes.is_empty() => None,
        None => serde_json::from_slice(bytes).ok(),
    };
    let files = match &form {
        Some(Ok(parts)) => parts
            .iter()
            .filter(|p| p.name != "payload_json")
            .map(|p| RecordedFile {
                part: p.name.clone(),
                filename: p.filename.clone(),
                content_type: p.content_type.clone(),
                size: p.bytes.len(),
            })
            .collect(),
        _ => Vec::new(),
    };
    let matched = path.strip_prefix("/api/v10").and_then(|rest| routes::match_route(method, rest));
    let recorded_headers: BTreeMap<String, String> = RECORDED_HEADERS
        .iter()
        .filter_map(|name| Some((name.to_string(), headers.get(*name)?.to_str().ok()?.to_string())))
        .collect();
    state.requests.push(RecordedRequest {
        method: method.to_string(),
        path: path.to_string(),
        query: query.map(str::to_string),
        route: matched.as_ref().map(|(route, _)| *route),
        body: parsed.clone().or_else(|| (!raw.is_empty()).then(|| Value::String(raw.clone()))),
        files,
        headers: recorded_headers,
        at: SystemTime::now(),
        status: None,
    });
    let index = state.requests.len() - 1;
    let outcome = process_recorded(state, method, path, query, headers, bytes, form, parsed, matched);
    if !outcome.drop {
        state.requests[index].status = Some(outcome.status);
        if matches!(outcome.status, 401 | 403 | 429) {
            state.invalid_requests += 1;
        }
    }
    outcome
}

#[allow(clippy::too_many_arguments)]
fn process_recorded(
    state: &mut state::State,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    bytes: &[u8],
    form: Option<Result<Vec<upload::FormPart>, String>>,
    parsed: Option<Value>,
    matched: Option<(Route, routes::Params)>,
) -> Outcome {
    if state.down {
        return Outcome::dropped();
    }
    let Some((route, params)) = matched else {
        state.violation(
            method,
            path,
            vec!["no such operation in the fake (not in the OpenAPI subset, or not under /api/v10)".into()],
        );
        return Outcome::answer(404, Some(json!({"message": "404: Not Found", "code": 0})));
    };
    let bucket_key = route.bucket_key(&params);

    let mut delay = None;
    let mut drop_after = false;
    match faults::take(&mut state.faults, route, &params) {
        Some(Fault::DropConnection) => return Outcome::dropped(),
        Some(Fault::TooManyRequests { retry_after, global }) => {
            let mut bucket = state.rate.peek(route, &bucket_key);
            bucket.remaining = 0;
            bucket.reset_after = retry_after;
            return too_many_requests(retry_after, global, bucket.headers());
        }
        Some(Fault::ServerError(status)) => {
            let reason = StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
            return Outcome::answer(status, Some(json!({"message": format!("{status}: {reason}"), "code": 0})));
        }
        Some(Fault::Slow(d)) => delay = Some(d),
        Some(Fault::DropResponse) => drop_after = true,
        None => {}
    }

    let expected = format!("Bot {}", state.config.token);
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    let authorized = match authorization {
        Some(given) => given == expected,
        None => !route.needs_bot_token(),
    };
    if !authorized {
        let mut outcome = Outcome::error(&ApiError::unauthorized());
        outcome.headers = state.rate.peek(route, &bucket_key).headers();
        return outcome;
    }

    let bucket = match state.rate.check(route, &bucket_key) {
        Decision::Allowed(bucket) => bucket,
        Decision::Limited { retry_after, global, state: bucket } => {
            return too_many_requests(retry_after, global, bucket.headers());
        }
    };

    let mut outcome = match checked_body(state, method, path, route, &params, headers, bytes, form, parsed) {
        Err(error) => Outcome::error(&error),
        Ok((body, files)) => match operate(state, route, &params, query, &body, &files) {
            Ok((status, body)) => Outcome::answer(status, body),
            Err(error) => {
                if error.is_contract_violation() {
                    state.violation(method, path, vec![format!("{} {}", error.status, error.body)]);
                }
                Outcome::error(&error)
            }
        },
    };
    outcome.headers = bucket.headers();
    outcome.delay = delay;
    outcome.drop = drop_after;
    outcome
}

fn too_many_requests(retry_after: Duration, global: bool, mut headers: Vec<(&'static str, String)>) -> Outcome {
    let seconds = retry_after.as_secs_f64();
    // The header is whole seconds (HTTP), the body has the precise float.
    headers.push(("retry-after", (seconds.ceil() as u64).max(1).to_string()));
    headers.push(("x-ratelimit-scope", if global { "global" } else { "user" }.to_string()));
    if global {
        // Discord sends this header only when the global limit was hit.
        headers.push(("x-ratelimit-global", "true".to_string()));
    }
    let body = json!({"message": "You are being rate limited.", "retry_after": (seconds * 1000.0).ceil() / 1000.0, "global": global});
    Outcome { status: 429, headers, body: Some(body), delay: None, drop: false }
}

/// The request body, parsed and validated against the operation, and an upload's parts;
/// records violations.
#[allow(clippy::too_many_arguments)]
fn checked_body(
    state: &mut state::State,
    method: &str,
    path: &str,
    route: Route,
    params: &routes::Params,
    headers: &HeaderMap,
    bytes: &[u8],
    form: Option<Result<Vec<upload::FormPart>, String>>,
    parsed: Option<Value>,
) -> Result<(Value, Vec<upload::FormPart>), ApiError> {
    let bad = params.bad_snowflakes();
    if !bad.is_empty() {
        let problems: Vec<schema::Problem> = bad
            .iter()
            .map(|(name, value)| schema::Problem {
                path: format!("/{name}"),
                code: "NUMBER_TYPE_COERCE",
                message: format!("Value \"{value}\" is not snowflake."),
            })
            .collect();
        state.violation(method, path, problems.iter().map(ToString::to_string).collect());
        return Err(ApiError::invalid_form(&problems));
    }
    if !route.has_body() {
        return Ok((Value::Null, Vec::new()));
    }
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if let Some(form) = form {
        if !route.takes_uploads() {
            state.violation(method, path, vec![format!("{route:?} takes no multipart/form-data body in the fake")]);
            return Err(ApiError::new(400, 50109, "The request body contains invalid JSON."));
        }
        let body = form.and_then(|parts| Ok((upload::payload_json(&parts)?, parts)));
        let (body, parts) = match body {
            Ok(read) => read,
            Err(why) => {
                state.violation(method, path, vec![why.clone()]);
                let problem = schema::Problem { path: String::new(), code: "BASE_TYPE_BAD_FORMAT", message: why };
                return Err(ApiError::invalid_form(&[problem]));
            }
        };
        if let Err(problems) = schema::validate_request(route, &body) {
            state.violation(method, path, problems.iter().map(ToString::to_string).collect());
            return Err(ApiError::invalid_form(&problems));
        }
        return Ok((body, parts));
    }
    if !content_type.starts_with("application/json") {
        state.violation(
            method,
            path,
            vec![format!("Content-Type is {content_type:?}; the fake accepts application/json only")],
        );
        return Err(ApiError::new(400, 50109, "The request body contains invalid JSON."));
    }
    let Some(body) = parsed else {
        let what = if bytes.is_empty() { "the body is empty" } else { "the body is not JSON" };
        state.violation(method, path, vec![format!("{what}; the operation requires a JSON body")]);
        return Err(ApiError::new(400, 50109, "The request body contains invalid JSON."));
    };
    if let Err(problems) = schema::validate_request(route, &body) {
        state.violation(method, path, problems.iter().map(ToString::to_string).collect());
        return Err(ApiError::invalid_form(&problems));
    }
    Ok((body, Vec::new()))
}

fn query_flag(query: Option<&str>, name: &str) -> bool {
    query.unwrap_or("").split('&').any(|pair| pair.split_once('=').is_some_and(|(k, v)| k == name && v == "true"))
}

fn operate(
    state: &mut state::State,
    route: Route,
    params: &routes::Params,
    query: Option<&str>,
    body: &Value,
    files: &[upload::FormPart],
) -> state::Reply {
    let p = |name| params.req(name).to_string();
    match route {
        Route::CreateMessage => state.create_message(&p("channel_id"), body, files),
        Route::EditMessage => state.edit_message(&p("channel_id"), &p("message_id"), body, files),
        Route::GetMessage => state.get_message(&p("channel_id"), &p("message_id")),
        Route::CreateThreadFromMessage => state.create_thread_from_message(&p("channel_id"), &p("message_id"), body),
        Route::CreateThread => state.create_thread(&p("channel_id"), body),
        Route::BulkOverwriteGuildCommands => {
            state.bulk_overwrite_commands(&p("application_id"), Some(&p("guild_id")), body)
        }
        Route::BulkOverwriteGlobalCommands => state.bulk_overwrite_commands(&p("application_id"), None, body),
        Route::InteractionCallback => {
            let id = p("interaction_id");
            state.interaction_response(&id, Some(&p("interaction_token")), body)?;
            if query_flag(query, "with_response") {
                Ok((200, Some(state.callback_response(&id, body))))
            } else {
                Ok((204, None))
            }
        }
        Route::EditOriginalResponse => state.edit_original(&p("webhook_id"), &p("webhook_token"), body),
        Route::ExecuteWebhook => state.execute_webhook(&p("webhook_id"), &p("webhook_token"), body),
        Route::GetGateway => Ok((200, Some(state.gateway()))),
        Route::GetGatewayBot => Ok((200, Some(state.gateway_bot()))),
        Route::GetCurrentUser => Ok((200, Some(state.current_user()))),
    }
}
