//! `shipgate release ...`: a client of the HTTP API.
//!
//! One request per call (one per item for `tick`), 30 s timeout, no automatic retry: a
//! command that changes a release carries an `Idempotency-Key`, so the person (or CI job)
//! can retry with the same key and the server applies it at most once.

use super::summary::{self, release_of, release_summary, short_sha, who};
use super::{ClientArgs, ListArgs, ReleaseArgs, ReleaseCommand, EXIT_OK, EXIT_REJECTED, EXIT_USAGE};
use crate::domain::release::{Artifact, DeploymentReport, Environment, Status, TestResult};
use anyhow::Context as _;
use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

/// How long one call may take, connecting included.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `shipgate release ...`, printing to stdout and stderr; returns the exit code.
pub async fn run_release(cmd: ReleaseArgs) -> anyhow::Result<i32> {
    run(cmd, &mut super::output::Stdout::new(), &mut std::io::stderr()).await
}

pub(super) async fn run(
    cmd: ReleaseArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> anyhow::Result<i32> {
    let ReleaseArgs { client: args, command } = cmd;
    let Some(token) = args.token.clone().filter(|t| !t.expose_secret().is_empty()) else {
        writeln!(err, "shipgate: no API token: pass --token or set SHIPGATE_TOKEN")?;
        return Ok(EXIT_USAGE);
    };
    let key = args.idempotency_key.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let plan = plan(command, &key)?;
    let client = match Client::new(&args, token) {
        Ok(client) => client,
        Err(e) => {
            writeln!(err, "shipgate: cannot set up the HTTP client: {e:#}")?;
            return Ok(EXIT_USAGE);
        }
    };

    let mut done: Vec<&str> = Vec::new();
    let mut last = None;
    for call in &plan.calls {
        match client.send(call).await {
            Ok(answer) => {
                // A start warns about gates nobody but the starter could approve: on stderr,
                // so scripts reading the release id from stdout are not disturbed.
                for warning in answer["warnings"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                    writeln!(err, "warning: {warning}")?;
                }
                if args.json {
                    writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
                }
                done.push(&call.label);
                last = Some(answer);
            }
            Err(failure) => {
                match &failure {
                    Failure::Rejected { code, message } => writeln!(err, "error [{code}]: {message}")?,
                    Failure::Unreachable(message) => writeln!(err, "shipgate: {message}")?,
                    Failure::Unanswered(message) => writeln!(
                        err,
                        "shipgate: {message}; it may or may not have been applied: to retry safely, run the same command with --idempotency-key {key}"
                    )?,
                }
                if plan.calls.len() > 1 && !done.is_empty() {
                    writeln!(err, "shipgate: done before the error: {}", done.join(", "))?;
                }
                return Ok(failure.exit_code());
            }
        }
    }
    if let (false, Some(answer)) = (args.json, last) {
        write!(out, "{}", human(plan.answer, &answer))?;
    }
    Ok(EXIT_OK)
}

// ----------------------------------------------------------------------------------------
// What to send
// ----------------------------------------------------------------------------------------

/// One HTTP request.
#[derive(Debug)]
struct Call {
    method: Method,
    /// Path segments after `/api/v1/`, percent-encoded when the URL is built.
    path: Vec<String>,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
    /// Only on requests that change something.
    idempotency_key: Option<String>,
    /// What this call does, for "done before the error: ...".
    label: String,
}

/// The calls a command makes and how to summarise the answer.
struct Plan {
    calls: Vec<Call>,
    answer: AnswerKind,
}

/// The shape of a successful answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AnswerKind {
    /// A `ReleaseView` of a new release: its id goes on the first line.
    Started,
    /// A `ReleaseView` (with its history, from `GET /releases/{id}`); `history`: print it.
    Release { history: bool },
    /// `{"releases": [...]}`.
    List,
    /// `{"release": ReleaseView, "events": [...]}`.
    Outcome,
    /// A lock: its id goes on the first line.
    Lock,
    /// `{"locks": [...]}`.
    Locks,
}

fn plan(command: ReleaseCommand, key: &str) -> anyhow::Result<Plan> {
    let post = |path: Vec<String>, body: Option<Value>, label: String| Call {
        method: Method::POST,
        path,
        query: Vec::new(),
        body: body.map(without_nulls),
        idempotency_key: Some(key.to_owned()),
        label,
    };
    let release = |id: &str, rest: &[&str]| -> Vec<String> {
        ["releases", id].iter().chain(rest).map(|s| (*s).to_owned()).collect()
    };
    let outcome = |call: Call| Plan { calls: vec![call], answer: AnswerKind::Outcome };

    Ok(match command {
        ReleaseCommand::Start(a) => Plan {
            calls: vec![post(
                vec!["releases".to_owned()],
                Some(json!({
                    "service": a.service,
                    "version": a.version.as_str(),
                    "git_sha": a.sha.as_str(),
                    "playbook": a.playbook,
                    "hotfix": a.hotfix,
                    "channel": a.channel,
                })),
                "start".to_owned(),
            )],
            answer: AnswerKind::Started,
        },
        ReleaseCommand::Status { id, history } => Plan {
            calls: vec![Call {
                method: Method::GET,
                path: release(&id, &[]),
                query: Vec::new(),
                body: None,
                idempotency_key: None,
                label: "status".to_owned(),
            }],
            answer: AnswerKind::Release { history },
        },
        ReleaseCommand::List(ListArgs { service, status, limit }) => {
            let mut query = Vec::new();
            if let Some(service) = service {
                query.push(("service", service));
            }
            if let Some(status) = status {
                query.push(("status", Status::from(status).as_str().to_owned()));
            }
            if let Some(limit) = limit {
                query.push(("limit", limit.to_string()));
            }
            Plan {
                calls: vec![Call {
                    method: Method::GET,
                    path: vec!["releases".to_owned()],
                    query,
                    body: None,
                    idempotency_key: None,
                    label: "list".to_owned(),
                }],
                answer: AnswerKind::List,
            }
        }
        ReleaseCommand::Tick { id, step, items } => {
            // Each item is its own request and so needs its own key: one key for all
            // would make the server answer the second item with the first one's answer.
            let many = items.len() > 1;
            let calls = items
                .iter()
                .map(|item| {
                    let mut call =
                        post(release(&id, &["steps", &step, "items", item, "tick"]), None, format!("ticked {item}"));
                    if many {
                        call.idempotency_key = Some(format!("{key}:{item}"));
                    }
                    call
                })
                .collect();
            Plan { calls, answer: AnswerKind::Outcome }
        }
        ReleaseCommand::Untick { id, step, item } => {
            outcome(post(release(&id, &["steps", &step, "items", &item, "untick"]), None, format!("unticked {item}")))
        }
        ReleaseCommand::Approve { id, step } => {
            outcome(post(release(&id, &["steps", &step, "approve"]), None, format!("approved {step}")))
        }
        ReleaseCommand::Fail { id, step, path, note } => outcome(post(
            release(&id, &["steps", &step, "failure-paths", &path]),
            Some(json!({ "note": note })),
            format!("took {path}"),
        )),
        ReleaseCommand::TestResult(a) => {
            let body = TestResult {
                suite: a.suite,
                passed: a.passed,
                failed: a.failed,
                skipped: a.skipped,
                flaky: a.flaky,
                url: a.url,
            };
            outcome(post(release(&a.id, &["test-results"]), Some(to_json(&body)?), "test result".to_owned()))
        }
        ReleaseCommand::Artifact(a) => {
            let body =
                Artifact { version: a.version, git_sha: a.sha, digest: a.digest, size_bytes: a.size, name: a.name };
            outcome(post(release(&a.id, &["artifacts"]), Some(to_json(&body)?), "artifact".to_owned()))
        }
        ReleaseCommand::Deploy(a) => {
            let body = DeploymentReport {
                environment: a.environment.into(),
                digest: a.digest,
                outcome: a.outcome.into(),
                health: a.health.into(),
                strategy: a.strategy.map(Into::into),
                canary_percent: a.canary_percent,
                downgrade_reason: a.downgrade_reason,
                unknown_artifact_reason: a.unknown_artifact_reason,
                url: a.url,
            };
            outcome(post(release(&a.id, &["deployments"]), Some(to_json(&body)?), "deployment".to_owned()))
        }
        ReleaseCommand::OverrideRequest { id, reason } => outcome(post(
            release(&id, &["freeze-override"]),
            Some(json!({ "reason": reason })),
            "override request".to_owned(),
        )),
        ReleaseCommand::OverrideApprove { id } => {
            outcome(post(release(&id, &["freeze-override", "approve"]), None, "override approval".to_owned()))
        }
        ReleaseCommand::Rollback { id, reason } => {
            outcome(post(release(&id, &["rollback"]), Some(json!({ "reason": reason })), "rollback".to_owned()))
        }
        ReleaseCommand::RollbackHook { id } => {
            outcome(post(release(&id, &["rollback", "hook"]), None, "rollback hook".to_owned()))
        }
        ReleaseCommand::Abort { id, reason } => {
            outcome(post(release(&id, &["abort"]), Some(json!({ "reason": reason })), "abort".to_owned()))
        }
        ReleaseCommand::Retarget { id, sha, version, reason } => {
            let mut body = json!({ "git_sha": sha, "reason": reason });
            if let Some(version) = version {
                body["version"] = json!(version);
            }
            outcome(post(release(&id, &["retarget"]), Some(body), "retarget".to_owned()))
        }
        ReleaseCommand::Lock(a) => {
            let environment = a.environment.map(|e| Environment::from(e).to_string());
            let body = json!({
                "service": a.service,
                "reason": a.reason,
                "for": a.duration,
                "environment": environment,
                "warn": a.warn,
            });
            Plan {
                calls: vec![post(vec!["locks".to_owned()], Some(body), "lock".to_owned())],
                answer: AnswerKind::Lock,
            }
        }
        ReleaseCommand::Unlock { id } => Plan {
            calls: vec![post(vec!["locks".to_owned(), id, "unlock".to_owned()], None, "unlock".to_owned())],
            answer: AnswerKind::Lock,
        },
        ReleaseCommand::Locks { service } => Plan {
            calls: vec![Call {
                method: Method::GET,
                path: vec!["locks".to_owned()],
                query: service.map(|s| ("service", s)).into_iter().collect(),
                body: None,
                idempotency_key: None,
                label: "locks".to_owned(),
            }],
            answer: AnswerKind::Locks,
        },
    })
}

/// The domain's payload types are the wire format: serialising them keeps the CLI and
/// the server agreeing on every field name and enum spelling.
fn to_json<T: serde::Serialize>(value: &T) -> anyhow::Result<Value> {
    serde_json::to_value(value).context("encoding the request body")
}

/// Optional fields left out are absent, not `null`.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}

// ----------------------------------------------------------------------------------------
// Sending
// ----------------------------------------------------------------------------------------

struct Client {
    http: reqwest::Client,
    server: Url,
    token: SecretString,
}

/// Why a call did not succeed.
#[derive(Debug)]
enum Failure {
    /// The server answered with an error: a rule said no, or the request was bad.
    Rejected { code: String, message: String },
    /// Nothing reached the server, or what answered is not shipgate.
    Unreachable(String),
    /// The request may have reached the server, but no answer came back.
    Unanswered(String),
}

impl Failure {
    fn exit_code(&self) -> i32 {
        match self {
            Failure::Rejected { .. } => EXIT_REJECTED,
            Failure::Unreachable(_) | Failure::Unanswered(_) => EXIT_USAGE,
        }
    }
}

#[derive(Deserialize)]
struct ApiError {
    code: String,
    message: String,
}

impl Client {
    fn new(args: &ClientArgs, token: SecretString) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("shipgate-cli/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client { http, server: args.server.clone(), token })
    }

    fn url(&self, call: &Call) -> Result<Url, Failure> {
        let mut url = self.server.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.path_segments_mut()
            .map_err(|()| {
                Failure::Unreachable(format!("{} cannot be a base URL; check --server or SHIPGATE_SERVER", self.server))
            })?
            // A base URL with a path (https://host/shipgate/) keeps it.
            .pop_if_empty()
            .extend(["api", "v1"])
            .extend(&call.path);
        if !call.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&call.query);
        }
        Ok(url)
    }

    async fn send(&self, call: &Call) -> Result<Value, Failure> {
        let url = self.url(call)?;
        let mut request = self
            .http
            .request(call.method.clone(), url)
            .bearer_auth(self.token.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(key) = &call.idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.transport_failure(call, &e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.transport_failure(call, &e))?;

        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|_| {
                Failure::Unreachable(format!(
                    "the answer from {} (HTTP {status}) is not shipgate's JSON; check --server or SHIPGATE_SERVER",
                    self.server
                ))
            });
        }
        Err(match serde_json::from_slice::<ApiError>(&bytes) {
            Ok(e) => Failure::Rejected { code: e.code, message: e.message },
            Err(_) => {
                // Not shipgate's error shape (a proxy's error page, say): say what came back.
                let text = String::from_utf8_lossy(&bytes);
                let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(200).collect();
                let reason = status.canonical_reason().unwrap_or("error");
                Failure::Rejected {
                    code: format!("http_{}", status.as_u16()),
                    message: if text.is_empty() { reason.to_owned() } else { format!("{reason}: {text}") },
                }
            }
        })
    }

    fn transport_failure(&self, call: &Call, error: &reqwest::Error) -> Failure {
        let cause = root_cause(error);
        if error.is_connect() || error.is_builder() {
            // Nothing was sent: safe to just run the command again.
            Failure::Unreachable(format!(
                "could not reach shipgate at {}: {cause}; check --server or SHIPGATE_SERVER",
                self.server
            ))
        } else if call.idempotency_key.is_none() {
            // A read: repeating it is always safe, so no retry advice is needed.
            Failure::Unreachable(format!(
                "no answer from shipgate at {}: {cause}; check --server or SHIPGATE_SERVER",
                self.server
            ))
        } else if error.is_timeout() {
            Failure::Unanswered(format!("no answer from shipgate at {} within {} s", self.server, TIMEOUT.as_secs()))
        } else {
            Failure::Unanswered(format!("the connection to shipgate at {} failed: {cause}", self.server))
        }
    }
}

/// The innermost cause ("Connection refused (os error 111)"), which says more than
/// reqwest's "error sending request for url (...)".
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

// ----------------------------------------------------------------------------------------
// Printing for people
// ----------------------------------------------------------------------------------------
//
// Summaries are built in a `String`, whose `fmt::Write` cannot fail: the `let _ =` on
// each `write!` discards an always-`Ok` result.

/// One row of `GET /api/v1/releases`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListRow {
    id: String,
    service: String,
    version: String,
    git_sha: String,
    status: String,
    current_step: Option<Value>,
    current_step_title: Option<String>,
    hotfix: bool,
    started_by: Value,
}

/// The summary of a successful answer; the answer as JSON if it is not the expected shape.
fn human(kind: AnswerKind, answer: &Value) -> String {
    let text = match kind {
        AnswerKind::Started => release_of(answer).map(|r| format!("{}\n{}", r.id, release_summary(&r, false))),
        AnswerKind::Release { history } => release_of(answer).map(|r| {
            let mut text = release_summary(&r, true);
            if history {
                text.push_str(&summary::history(&r));
            }
            text
        }),
        AnswerKind::Outcome => answer.get("release").and_then(release_of).map(|r| {
            let mut text = release_summary(&r, false);
            let events = event_names(answer.get("events"));
            if !events.is_empty() {
                let _ = writeln!(text, "recorded: {}", events.join(", "));
            }
            text
        }),
        AnswerKind::List => list_summary(answer),
        AnswerKind::Lock => {
            lock_line(answer).map(|line| format!("{}\n{line}", answer["id"].as_str().unwrap_or_default()))
        }
        AnswerKind::Locks => answer["locks"].as_array().map(|locks| match locks.as_slice() {
            [] => "no lock in force\n".to_owned(),
            locks => locks.iter().filter_map(lock_line).collect(),
        }),
    };
    text.unwrap_or_else(|| format!("{}\n", serde_json::to_string_pretty(answer).unwrap_or_default()))
}

/// `api production locked by Dana until 2026-12-02T14:00:00Z: migration (block) · lock_…`
fn lock_line(lock: &Value) -> Option<String> {
    let scope = match lock["environment"].as_str() {
        Some(environment) => format!("{} {environment}", lock["service"].as_str()?),
        None => format!("{} (every environment)", lock["service"].as_str()?),
    };
    let state = match lock["ended"]["how"].as_str() {
        Some(how) => format!(
            "{how} at {}{}",
            lock["ended"]["at"].as_str().unwrap_or_default(),
            who(&lock["ended"]["by"]).map(|by| format!(" by {by}")).unwrap_or_default()
        ),
        None => format!("until {}", lock["until"].as_str()?),
    };
    Some(format!(
        "{scope} locked by {} {state}: {} ({}) · {}\n",
        who(&lock["locked_by"])?,
        lock["reason"].as_str()?,
        lock["mode"].as_str()?,
        lock["id"].as_str()?
    ))
}

/// Event kinds from the `events` of an answer, whichever way each is wrapped.
fn event_names(events: Option<&Value>) -> Vec<String> {
    let Some(Value::Array(events)) = events else {
        return Vec::new();
    };
    events
        .iter()
        .filter_map(|e| {
            let inner = e.get("event").unwrap_or(e);
            inner.get("type").or_else(|| inner.get("kind")).and_then(Value::as_str).map(str::to_owned)
        })
        .collect()
}

fn list_summary(answer: &Value) -> Option<String> {
    let rows: Vec<ListRow> = Vec::<ListRow>::deserialize(answer.get("releases")?).ok()?;
    if rows.is_empty() {
        return Some("no releases\n".to_owned());
    }
    let mut text = String::new();
    for row in rows {
        let _ = write!(text, "{}  {} {} ({})", row.id, row.service, row.version, short_sha(&row.git_sha));
        if row.hotfix {
            text.push_str(" [hotfix]");
        }
        let _ = write!(text, " — {}", row.status.replace('_', " "));
        let number = row.current_step.as_ref().and_then(|v| match v {
            Value::Number(n) => Some(n.to_string()),
            Value::Object(step) => step.get("number").map(ToString::to_string),
            _ => None,
        });
        if let (Some(number), Some(title)) = (number, row.current_step_title.as_deref()) {
            let _ = write!(text, " — Step {number} {title}");
        }
        if let Some(by) = who(&row.started_by) {
            let _ = write!(text, " — by {by}");
        }
        text.push('\n');
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, Method as HttpMethod, StatusCode, Uri};
    use axum::response::IntoResponse;
    use clap::Parser;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    /// What the fake server saw.
    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        path_and_query: String,
        headers: HeaderMap,
        body: Option<Value>,
    }

    #[derive(Default)]
    struct Fake {
        seen: Mutex<Vec<Seen>>,
        /// Answers in order; when empty, 200 with [`outcome_json`].
        answers: Mutex<VecDeque<(StatusCode, String)>>,
    }

    async fn handler(
        State(fake): State<Arc<Fake>>,
        method: HttpMethod,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> impl IntoResponse {
        fake.seen.lock().unwrap().push(Seen {
            method: method.to_string(),
            path_and_query: uri.path_and_query().map(ToString::to_string).unwrap_or_default(),
            headers,
            body: (!body.is_empty()).then(|| serde_json::from_slice(&body).unwrap()),
        });
        let (status, body) =
            fake.answers.lock().unwrap().pop_front().unwrap_or((StatusCode::OK, outcome_json().to_string()));
        (status, [("content-type", "application/json")], body)
    }

    /// Serves the fake on a free port; returns its base URL.
    async fn serve(fake: Arc<Fake>) -> String {
        let app = axum::Router::new().fallback(handler).with_state(fake);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    fn release_json() -> Value {
        json!({
            "id": "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "service": "api",
            "version": "1.4.0",
            "git_sha": "3f9c2e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5",
            "playbook": "ship-to-production",
            "hotfix": false,
            "status": "active",
            "started_by": "alice",
            "started_at": "2026-03-02T10:00:00Z",
            "current_step": {
                "number": 3,
                "id": "build",
                "title": "Build the Artifact",
                "items": [
                    {"id": "artifact-built", "text": "The artifact is built once", "ticked": true, "ticked_by": "bob"},
                    {"id": "tagged", "text": "Tagged with version and SHA", "ticked": false, "ticked_by": null}
                ],
                "gate": {"text": "", "ready": false, "unticked": ["tagged"], "evidence_missing": "an artifact recorded for 1.4.0", "approvals": 0, "approvals_required": 1},
                "failure_paths": [{"id": "retry", "label": "Build failed: retry", "action": "retry"}]
            },
            "steps_total": 8,
            "follow_ups": [],
            "freeze_at_start": null
        })
    }

    fn outcome_json() -> Value {
        json!({"release": release_json(), "events": [{"seq": 7, "event": {"type": "item_ticked", "step": "build", "item": "tagged"}}]})
    }

    async fn run_cli(args: &[&str]) -> (i32, String, String) {
        let cli = Cli::try_parse_from(args).unwrap();
        let crate::cli::Command::Release(release) = cli.command else { panic!("not a release command") };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(release, &mut out, &mut err).await.unwrap();
        (code, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
    }

    const TOKEN: &str = "test-token-0123456789";
    const DIGEST: &str = "sha256:4f1c0a9e8d7c6b5a49382716f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2";

    #[tokio::test]
    async fn deploy_sends_method_path_headers_and_body() {
        let fake = Arc::new(Fake::default());
        let server = serve(fake.clone()).await;
        let (code, out, err) = run_cli(&[
            "shipgate",
            "release",
            "--server",
            &server,
            "--token",
            TOKEN,
            "--idempotency-key",
            "deploy-42",
            "deploy",
            "rel-1",
            "--env",
            "production",
            "--digest",
            DIGEST,
            "--outcome",
            "succeeded",
            "--health",
            "passed",
            "--strategy",
            "blue-green",
            "--url",
            "https://ci.example.com/job/9",
        ])
        .await;
        assert_eq!(code, 0, "{err}");
        let seen = fake.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        let request = &seen[0];
        assert_eq!(request.method, "POST");
        assert_eq!(request.path_and_query, "/api/v1/releases/rel-1/deployments");
        assert_eq!(request.headers["authorization"], format!("Bearer {TOKEN}"));
        assert_eq!(request.headers["idempotency-key"], "deploy-42");
        assert_eq!(request.headers["content-type"], "application/json");
        assert_eq!(
            request.body,
            Some(json!({
                "environment": "production",
                "digest": DIGEST,
                "outcome": "succeeded",
                "health": "passed",
                "strategy": "blue-green",
                "url": "https://ci.example.com/job/9",
            }))
        );
        // The server's payload type accepts exactly what was sent.
        let decoded: DeploymentReport = serde_json::from_value(request.body.clone().unwrap()).unwrap();
        assert_eq!(decoded.canary_percent, None);
        assert!(out.starts_with("api 1.4.0 (3f9c2e1) — active — Step 3/8 Build the Artifact\n"), "{out}");
        assert!(out.contains("recorded: item_ticked"), "{out}");
    }

    #[tokio::test]
    async fn conflict_prints_code_and_message_and_exits_1() {
        let fake = Arc::new(Fake::default());
        fake.answers.lock().unwrap().push_back((
            StatusCode::CONFLICT,
            json!({"code": "gate_not_ready", "message": "tick every item of Build the Artifact first"}).to_string(),
        ));
        let server = serve(fake.clone()).await;
        let (code, out, err) =
            run_cli(&["shipgate", "release", "approve", "rel-1", "build", "--server", &server, "--token", TOKEN]).await;
        assert_eq!(code, 1);
        assert!(out.is_empty(), "{out}");
        assert_eq!(err, "error [gate_not_ready]: tick every item of Build the Artifact first\n");
        let seen = fake.seen.lock().unwrap().clone();
        assert_eq!(seen[0].path_and_query, "/api/v1/releases/rel-1/steps/build/approve");
        assert_eq!(seen[0].body, None);
    }

    #[tokio::test]
    async fn error_that_is_not_shipgate_json_still_exits_1() {
        let fake = Arc::new(Fake::default());
        fake.answers.lock().unwrap().push_back((StatusCode::BAD_GATEWAY, "<html>upstream down</html>".to_owned()));
        let server = serve(fake).await;
        let (code, _, err) =
            run_cli(&["shipgate", "release", "status", "rel-1", "--server", &server, "--token", TOKEN]).await;
        assert_eq!(code, 1);
        assert_eq!(err, "error [http_502]: Bad Gateway: <html>upstream down</html>\n");
    }

    #[tokio::test]
    async fn start_prints_id_first_and_sends_body() {
        let fake = Arc::new(Fake::default());
        fake.answers.lock().unwrap().push_back((StatusCode::CREATED, release_json().to_string()));
        let server = serve(fake.clone()).await;
        let (code, out, err) = run_cli(&[
            "shipgate",
            "release",
            "start",
            "--service",
            "api",
            "--version",
            "1.4.0",
            "--sha",
            "3F9C2E1",
            "--channel",
            "C123",
            "--server",
            &server,
            "--token",
            TOKEN,
        ])
        .await;
        assert_eq!(code, 0, "{err}");
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"));
        assert_eq!(lines.next(), Some("api 1.4.0 (3f9c2e1) — active — Step 3/8 Build the Artifact"));
        assert_eq!(lines.next(), Some("[x] artifact-built — The artifact is built once (by bob)"));
        assert_eq!(lines.next(), Some("[ ] tagged — Tagged with version and SHA"));
        assert_eq!(
            lines.next(),
            Some("gate: waiting for 1 unticked item (tagged); an artifact recorded for 1.4.0; approvals 0/1")
        );
        let seen = fake.seen.lock().unwrap().clone();
        assert_eq!(seen[0].method, "POST");
        assert_eq!(seen[0].path_and_query, "/api/v1/releases");
        assert_eq!(
            seen[0].body,
            Some(
                json!({"service": "api", "version": "1.4.0", "git_sha": "3f9c2e1", "hotfix": false, "channel": "C123"})
            )
        );
        // A generated key: a UUID v4.
        let key = seen[0].headers["idempotency-key"].to_str().unwrap();
        assert_eq!(uuid::Uuid::parse_str(key).unwrap().get_version_num(), 4);
    }

    #[tokio::test]
    async fn json_output_is_the_answer() {
        let fake = Arc::new(Fake::default());
        fake.answers.lock().unwrap().push_back((StatusCode::CREATED, release_json().to_string()));
        let server = serve(fake).await;
        let (code, out, _) = run_cli(&[
            "shipgate",
            "release",
            "--json",
            "start",
            "--service",
            "api",
            "--version",
            "1.4.0",
            "--sha",
            "3f9c2e1",
            "--server",
            &server,
            "--token",
            TOKEN,
        ])
        .await;
        assert_eq!(code, 0);
        let printed: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(printed, release_json());
    }

    #[tokio::test]
    async fn tick_sends_one_request_per_item_with_distinct_keys() {
        let fake = Arc::new(Fake::default());
        let server = serve(fake.clone()).await;
        let (code, _, err) = run_cli(&[
            "shipgate",
            "release",
            "tick",
            "rel-1",
            "pre-flight",
            "prs-merged",
            "release notes",
            "--server",
            &server,
            "--token",
            TOKEN,
            "--idempotency-key",
            "k1",
        ])
        .await;
        assert_eq!(code, 0, "{err}");
        let seen = fake.seen.lock().unwrap().clone();
        let paths: Vec<&str> = seen.iter().map(|s| s.path_and_query.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/api/v1/releases/rel-1/steps/pre-flight/items/prs-merged/tick",
                "/api/v1/releases/rel-1/steps/pre-flight/items/release%20notes/tick",
            ]
        );
        assert_eq!(seen[0].headers["idempotency-key"], "k1:prs-merged");
        assert_eq!(seen[1].headers["idempotency-key"], "k1:release notes");
    }

    #[tokio::test]
    async fn failed_second_tick_says_what_was_done() {
        let fake = Arc::new(Fake::default());
        {
            let mut answers = fake.answers.lock().unwrap();
            answers.push_back((StatusCode::OK, outcome_json().to_string()));
            answers.push_back((
                StatusCode::NOT_FOUND,
                json!({"code": "unknown_item", "message": "step pre-flight has no item nope"}).to_string(),
            ));
        }
        let server = serve(fake).await;
        let (code, _, err) = run_cli(&[
            "shipgate",
            "release",
            "tick",
            "rel-1",
            "pre-flight",
            "prs-merged",
            "nope",
            "--server",
            &server,
            "--token",
            TOKEN,
        ])
        .await;
        assert_eq!(code, 1);
        assert_eq!(
            err,
            "error [unknown_item]: step pre-flight has no item nope\nshipgate: done before the error: ticked prs-merged\n"
        );
    }

    #[tokio::test]
    async fn list_sends_filters_as_query() {
        let fake = Arc::new(Fake::default());
        fake.answers.lock().unwrap().push_back((
            StatusCode::OK,
            json!({"releases": [{"id": "r1", "service": "api", "version": "1.4.0", "git_sha": "3f9c2e1aa", "playbook": "ship-to-production",
                "status": "rolling_back", "current_step": 5, "current_step_id": "deploy-production", "current_step_title": "Deploy to Production",
                "hotfix": true, "started_by": "alice", "started_at": "2026-03-02T10:00:00Z", "updated_at": "2026-03-02T11:00:00Z", "seq": 40}]})
            .to_string(),
        ));
        let server = serve(fake.clone()).await;
        let (code, out, err) = run_cli(&[
            "shipgate",
            "release",
            "list",
            "--service",
            "api",
            "--status",
            "rolling_back",
            "--limit",
            "5",
            "--server",
            &server,
            "--token",
            TOKEN,
        ])
        .await;
        assert_eq!(code, 0, "{err}");
        let seen = fake.seen.lock().unwrap().clone();
        assert_eq!(seen[0].method, "GET");
        assert_eq!(seen[0].path_and_query, "/api/v1/releases?service=api&status=rolling_back&limit=5");
        assert!(seen[0].headers.get("idempotency-key").is_none());
        assert_eq!(out, "r1  api 1.4.0 (3f9c2e1) [hotfix] — rolling back — Step 5 Deploy to Production — by alice\n");
    }

    #[tokio::test]
    async fn bodies_of_the_other_commands() {
        let fake = Arc::new(Fake::default());
        let server = serve(fake.clone()).await;
        let base = ["shipgate", "release", "--server", &server, "--token", TOKEN];
        let commands: Vec<Vec<&str>> = vec![
            vec!["fail", "r1", "test-suite", "flaky", "--note", "known flake"],
            vec!["fail", "r1", "test-suite", "regression"],
            vec![
                "test-result",
                "r1",
                "--suite",
                "unit",
                "--passed",
                "120",
                "--failed",
                "0",
                "--flaky",
                "a",
                "--flaky",
                "b",
            ],
            vec![
                "artifact",
                "r1",
                "--version",
                "1.4.0",
                "--sha",
                "3f9c2e1",
                "--digest",
                DIGEST,
                "--size",
                "1024",
                "--name",
                "reg/api:1.4.0",
            ],
            vec!["override-request", "r1", "--reason", "security fix"],
            vec!["override-approve", "r1"],
            vec!["rollback", "r1", "--reason", "error rate up"],
            vec!["rollback-hook", "r1"],
            vec!["abort", "r1", "--reason", "superseded"],
            vec!["retarget", "r1", "--sha", "4444abc", "--reason", "the fix"],
            vec!["retarget", "r1", "--sha", "4444abc", "--version", "1.4.1", "--reason", "the fix"],
            vec!["untick", "r1", "pre-flight", "prs-merged"],
        ];
        for command in &commands {
            let args: Vec<&str> = base.iter().copied().chain(command.iter().copied()).collect();
            let (code, _, err) = run_cli(&args).await;
            assert_eq!(code, 0, "{command:?}: {err}");
        }
        let seen: Vec<(String, Option<Value>)> =
            fake.seen.lock().unwrap().iter().map(|s| (s.path_and_query.clone(), s.body.clone())).collect();
        let expected = vec![
            ("/api/v1/releases/r1/steps/test-suite/failure-paths/flaky", Some(json!({"note": "known flake"}))),
            ("/api/v1/releases/r1/steps/test-suite/failure-paths/regression", Some(json!({}))),
            (
                "/api/v1/releases/r1/test-results",
                Some(json!({"suite": "unit", "passed": 120, "failed": 0, "skipped": 0, "flaky": ["a", "b"]})),
            ),
            (
                "/api/v1/releases/r1/artifacts",
                Some(
                    json!({"version": "1.4.0", "git_sha": "3f9c2e1", "digest": DIGEST, "size_bytes": 1024, "name": "reg/api:1.4.0"}),
                ),
            ),
            ("/api/v1/releases/r1/freeze-override", Some(json!({"reason": "security fix"}))),
            ("/api/v1/releases/r1/freeze-override/approve", None),
            ("/api/v1/releases/r1/rollback", Some(json!({"reason": "error rate up"}))),
            ("/api/v1/releases/r1/rollback/hook", None),
            ("/api/v1/releases/r1/abort", Some(json!({"reason": "superseded"}))),
            ("/api/v1/releases/r1/retarget", Some(json!({"git_sha": "4444abc", "reason": "the fix"}))),
            (
                "/api/v1/releases/r1/retarget",
                Some(json!({"git_sha": "4444abc", "version": "1.4.1", "reason": "the fix"})),
            ),
            ("/api/v1/releases/r1/steps/pre-flight/items/prs-merged/untick", None),
        ];
        let expected: Vec<(String, Option<Value>)> = expected.into_iter().map(|(p, b)| (p.to_owned(), b)).collect();
        assert_eq!(seen, expected);
    }

    #[tokio::test]
    async fn server_with_a_path_prefix_keeps_it() {
        let fake = Arc::new(Fake::default());
        let server = serve(fake.clone()).await;
        let prefixed = format!("{server}/shipgate/");
        let (code, _, err) =
            run_cli(&["shipgate", "release", "status", "r1", "--server", &prefixed, "--token", TOKEN]).await;
        // The fake answers the outcome shape for any path; status still prints a summary.
        assert_eq!(code, 0, "{err}");
        assert_eq!(fake.seen.lock().unwrap()[0].path_and_query, "/shipgate/api/v1/releases/r1");
    }

    #[tokio::test]
    async fn unreachable_server_exits_2_naming_it() {
        // Bind and drop to get a port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let server = format!("http://127.0.0.1:{port}");
        let (code, out, err) =
            run_cli(&["shipgate", "release", "approve", "r1", "build", "--server", &server, "--token", TOKEN]).await;
        assert_eq!(code, 2);
        assert!(out.is_empty());
        assert!(err.starts_with(&format!("shipgate: could not reach shipgate at {server}/: ")), "{err}");
        assert!(err.contains("check --server or SHIPGATE_SERVER"), "{err}");
    }

    #[tokio::test]
    async fn missing_token_exits_2() {
        let cli = Cli::try_parse_from(["shipgate", "release", "status", "r1"]).unwrap();
        let crate::cli::Command::Release(mut release) = cli.command else { panic!("not a release command") };
        // Independent of SHIPGATE_TOKEN in the environment running the tests.
        release.client.token = None;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(release, &mut out, &mut err).await.unwrap();
        assert_eq!(code, 2);
        assert_eq!(String::from_utf8(err).unwrap(), "shipgate: no API token: pass --token or set SHIPGATE_TOKEN\n");
    }

    #[test]
    fn status_summary_shows_failure_paths_follow_ups_and_freeze() {
        let mut view = release_json();
        view["follow_ups"] = json!(["document the flaky test"]);
        view["freeze_at_start"] = json!({"state": "frozen", "reasons": [{"kind": "weekly", "name": "Friday afternoon",
            "from": "2026-03-06T12:00:00Z", "to": "2026-03-09T05:00:00Z"}], "next_open": "2026-03-09T05:00:00Z"});
        let text = human(AnswerKind::Release { history: false }, &view);
        assert!(text.contains("started by alice at 2026-03-02 10:00:00 UTC\n"), "{text}");
        assert!(text.contains("started during a freeze: Friday afternoon until 2026-03-09 05:00 UTC\n"), "{text}");
        assert!(text.contains("failure paths (shipgate release fail 0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b build PATH):\n  retry — Build failed: retry\n"), "{text}");
        assert!(text.contains("follow-ups:\n  - document the flaky test\n"), "{text}");
    }

    #[test]
    fn gate_ready_and_finished_release() {
        let mut view = release_json();
        view["current_step"]["gate"] =
            json!({"ready": true, "unticked": [], "approvals": [{"by": "x"}], "approvals_required": 1});
        assert!(human(AnswerKind::Release { history: false }, &view).contains("\ngate: ready\n"));
        view["current_step"] = Value::Null;
        view["status"] = json!("completed");
        assert_eq!(
            human(AnswerKind::Release { history: false }, &view),
            "api 1.4.0 (3f9c2e1) — completed\nstarted by alice at 2026-03-02 10:00:00 UTC\n"
        );
    }

    #[test]
    fn unexpected_answer_shape_is_printed_as_json() {
        let answer = json!({"something": "else"});
        assert_eq!(
            human(AnswerKind::Release { history: false }, &answer),
            format!("{}\n", serde_json::to_string_pretty(&answer).unwrap())
        );
    }
}
