//! Socket Mode: shipgate opens a WebSocket to Slack and receives slash commands and clicks
//! over it, for teams whose shipgate has no public URL. Nothing here decides anything about
//! a release: each envelope goes to an [`EnvelopeHandler`] (the same logic as the HTTP
//! endpoints) and what it answers goes back as the envelope's acknowledgement.
//!
//! The protocol, as Slack documents it (api.slack.com/apis/connections/socket):
//! - `POST {api_base}/apps.connections.open` with the app-level token (`xapp-…`) returns a
//!   single-use `wss://` URL;
//! - Slack greets each connection with `{"type":"hello"}`, then sends envelopes
//!   `{envelope_id, type, payload, accepts_response_payload, retry_attempt, retry_reason}`;
//! - every envelope is acknowledged with `{"envelope_id"}` (and a `payload` where it accepts
//!   one) within 3 s, or Slack sends it again;
//! - `{"type":"disconnect","reason":..}` asks for a new connection: the new one is opened
//!   while the old one still serves, and Slack closes the old one a little later.
//!
//! A dropped connection, or one that cannot be opened, is retried with capped, jittered
//! backoff until [`SocketMode::run`] is told to stop. The tokens and the URL's ticket are
//! never logged.

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::Instrument;

/// Slack sends an envelope again when its ack has not arrived within 3 s; the handler gets
/// 2.5 s of them so that the ack still makes it on a slow network.
const HANDLER_DEADLINE: Duration = Duration::from_millis(2500);
/// apps.connections.open, and then the WebSocket handshake, each get this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Slack says hello first: a connection that has not within this long is not working.
const HELLO_WAIT: Duration = Duration::from_secs(15);
/// Waits between attempts after failures: the first, and the longest.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LONGEST_RETRY: Duration = Duration::from_secs(60);
/// `link_disabled`: Socket Mode was turned off in the app's settings, and nothing works
/// until someone turns it on again. Asking often would only fill the log.
const LINK_DISABLED_RETRY: Duration = Duration::from_secs(120);
/// A connection that served this long after hello was healthy: the next failure starts the
/// backoff over instead of continuing it.
const HEALTHY_RUN: Duration = Duration::from_secs(60);
/// A ping this often; a connection that sent nothing at all (not even a pong) for
/// `SILENCE_LIMIT` is half-open, e.g. forgotten by a NAT, and is replaced.
const PING_EVERY: Duration = Duration::from_secs(30);
const SILENCE_LIMIT: Duration = Duration::from_secs(90);
/// How long a connection Slack asked us to leave keeps serving, at most: envelopes in
/// flight on it are acknowledged on it. Slack normally closes it well before.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);
/// On stop, how long the connections may take to close.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What an envelope carries, from its `type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvelopeKind {
    /// A slash command: the payload has the command's fields (`command`, `text`,
    /// `response_url`, ...) as the HTTP endpoint gets them form-encoded.
    SlashCommands,
    /// A click or a view submission: the payload is the HTTP endpoint's `payload=` JSON.
    Interactive,
    /// An Events API event.
    EventsApi,
    /// A type Slack added that shipgate does not know; still acknowledged.
    Other(String),
}

impl EnvelopeKind {
    fn from_wire(kind: &str) -> Self {
        match kind {
            "slash_commands" => Self::SlashCommands,
            "interactive" => Self::Interactive,
            "events_api" => Self::EventsApi,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The `type` as Slack spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::SlashCommands => "slash_commands",
            Self::Interactive => "interactive",
            Self::EventsApi => "events_api",
            Self::Other(kind) => kind,
        }
    }

    /// A metric label: unknown types are one label, so that Slack cannot grow the series.
    fn label(&self) -> &'static str {
        match self {
            Self::SlashCommands => "slash_commands",
            Self::Interactive => "interactive",
            Self::EventsApi => "events_api",
            Self::Other(_) => "other",
        }
    }
}

/// One envelope Slack sent.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub id: String,
    pub kind: EnvelopeKind,
    pub payload: Value,
    /// Whether the ack may carry a payload: for a slash command, the immediate response
    /// message; for a view submission, the `response_action`.
    pub accepts_response_payload: bool,
    /// 0 the first time; more when Slack sends it again because no ack arrived in time.
    pub retry_attempt: u32,
}

/// What the app answers an envelope with: the ack's optional payload.
///
/// Called at most [`HANDLER_DEADLINE`] (2.5 s) before the ack is sent anyway, without a
/// payload; the call then goes on in the background. An envelope may come more than once
/// (Slack sends it again when an ack was lost), so handling must be idempotent, as the
/// engine's commands are through their platform ids.
pub trait EnvelopeHandler: Send + Sync + 'static {
    fn handle(&self, envelope: Envelope) -> impl Future<Output = Option<Value>> + Send;
}

/// A Socket Mode client for one Slack app.
pub struct SocketMode {
    /// `{api_base}/apps.connections.open`.
    open_url: String,
    /// `xapp-…`, with the `connections:write` scope.
    app_token: SecretString,
    http: reqwest::Client,
}

impl std::fmt::Debug for SocketMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketMode").field("open_url", &self.open_url).finish_non_exhaustive()
    }
}

impl SocketMode {
    /// `api_base` is the Web API's base (`https://slack.com/api`, or a proxy's, or a fake's).
    pub fn new(api_base: &str, app_token: SecretString) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("shipgate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { open_url: format!("{}/apps.connections.open", api_base.trim_end_matches('/')), app_token, http })
    }

    /// Runs until `stop` resolves: connects, acknowledges every envelope with what the
    /// handler returns, and reconnects whenever Slack asks or the connection is lost. Never
    /// gives up: while Slack cannot be reached it logs and retries with backoff.
    ///
    /// On stop the connections are closed (within about 2 s); handlers still running carry on
    /// in the background, and Slack sends their unacknowledged envelopes again to whichever
    /// connection comes next.
    pub async fn run<H: EnvelopeHandler>(self, handler: Arc<H>, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        // Tells every connection, the draining ones included, to close.
        let (closing, closing_rx) = watch::channel(false);
        // Each connection's task holds a sender: when all are gone, every connection is closed.
        let (alive, mut all_closed) = mpsc::channel::<()>(1);
        let mut failures: u32 = 0;
        let mut wait = Duration::ZERO;
        let mut number: u64 = 0;
        loop {
            if !wait.is_zero() {
                tokio::select! {
                    () = &mut stop => break,
                    () = tokio::time::sleep(wait) => {}
                }
            }
            number += 1;
            let connected = tokio::select! {
                () = &mut stop => break,
                connected = self.connect() => connected,
            };
            let leave = match connected {
                Ok(ws) => {
                    let (leave, left) = oneshot::channel();
                    let link = Link {
                        ws,
                        handler: Arc::clone(&handler),
                        leave,
                        closing: closing_rx.clone(),
                        _alive: alive.clone(),
                    };
                    tokio::spawn(link.serve().instrument(tracing::info_span!("slack_socket", connection = number)));
                    tokio::select! {
                        () = &mut stop => break,
                        left = left => left.unwrap_or(Leave::Ended {
                            why: "the connection's task ended unexpectedly".to_owned(),
                            healthy: false,
                        }),
                    }
                }
                Err(failure) => {
                    failures += 1;
                    wait = backoff(failures).max(failure.retry_after.unwrap_or_default());
                    let retry_in_seconds = wait.as_secs_f64();
                    if failure.token_refused {
                        tracing::error!(retry_in_seconds, "Slack Socket Mode: {}", failure.why);
                    } else {
                        tracing::warn!(retry_in_seconds, "Slack Socket Mode: {}", failure.why);
                    }
                    metrics::counter!("shipgate_slack_socket_reconnects_total", "reason" => "connect_failed")
                        .increment(1);
                    continue;
                }
            };
            let (next_wait, reason) = plan_reconnect(&leave, &mut failures, random_fraction());
            wait = next_wait;
            let retry_in_seconds = wait.as_secs_f64();
            match leave {
                Leave::Disconnect { reason, .. } if reason == "refresh_requested" || reason == "warning" => {
                    tracing::info!(%reason, "Slack asked for a new Socket Mode connection; opening it");
                }
                Leave::Disconnect { reason, .. } if reason == "link_disabled" => tracing::error!(
                    retry_in_seconds,
                    "Slack Socket Mode was turned off for this app (disconnect: link_disabled): no slash \
                     commands or clicks reach shipgate until it is turned on again in the app's settings \
                     (Socket Mode), or [slack] mode is set to \"http\""
                ),
                Leave::Disconnect { reason, .. } => {
                    tracing::warn!(%reason, retry_in_seconds, "Slack ended the Socket Mode connection");
                }
                Leave::Ended { why, .. } => {
                    tracing::warn!(retry_in_seconds, "Slack Socket Mode connection lost: {why}");
                }
            }
            metrics::counter!("shipgate_slack_socket_reconnects_total", "reason" => reason).increment(1);
        }
        closing.send_replace(true);
        drop(alive);
        if tokio::time::timeout(CLOSE_WAIT, all_closed.recv()).await.is_err() {
            tracing::warn!("a Slack Socket Mode connection did not close within 2 s; leaving it");
        }
        tracing::info!("Slack Socket Mode stopped");
    }

    /// A new connection: a fresh URL from apps.connections.open, then the handshake.
    async fn connect(&self) -> Result<Socket, Failure> {
        let url = self.open().await?;
        // The URL's query carries a ticket that opens a connection: only the host is logged.
        let host = reqwest::Url::parse(&url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
        tracing::info!(%host, "connecting to Slack Socket Mode");
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(url.as_str())).await {
            Ok(Ok((ws, _))) => Ok(ws),
            Ok(Err(e)) => Err(Failure::new(format!("cannot open the WebSocket to {host}: {}", without_url(&e)))),
            Err(_) => Err(Failure::new(format!("the WebSocket to {host} did not open within 15 s"))),
        }
    }

    /// `POST apps.connections.open`: the URL to connect to.
    async fn open(&self) -> Result<String, Failure> {
        let response = self
            .http
            .post(&self.open_url)
            .bearer_auth(self.app_token.expose_secret())
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .send()
            .await
            .map_err(|e| Failure::new(format!("cannot reach apps.connections.open (slack.api_base): {e}")))?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(Failure {
                retry_after,
                ..Failure::new("apps.connections.open is rate limited (429)".to_owned())
            });
        }
        if !status.is_success() {
            return Err(Failure::new(format!("apps.connections.open answered HTTP {status}")));
        }
        let answer: Value = response
            .json()
            .await
            .map_err(|e| Failure::new(format!("apps.connections.open answered something that is not JSON: {e}")))?;
        if answer.get("ok").and_then(Value::as_bool) == Some(true) {
            return match answer.get("url").and_then(Value::as_str) {
                Some(url) if url.starts_with("wss://") || url.starts_with("ws://") => Ok(url.to_owned()),
                _ => Err(Failure::new("apps.connections.open answered ok without a WebSocket URL".to_owned())),
            };
        }
        let error = answer.get("error").and_then(Value::as_str).unwrap_or("no error given");
        Err(match error {
            "invalid_auth"
            | "not_authed"
            | "token_revoked"
            | "token_expired"
            | "account_inactive"
            | "not_allowed_token_type"
            | "missing_scope" => Failure {
                token_refused: true,
                ..Failure::new(format!(
                    "Slack refused the app-level token ({error}); set SHIPGATE_SLACK_APP_TOKEN or \
                     slack.app_token_file to the app's xapp- token with the connections:write scope"
                ))
            },
            error => Failure::new(format!("apps.connections.open failed: {error}")),
        })
    }
}

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Why a connection could not be opened.
struct Failure {
    why: String,
    /// Slack's `Retry-After`, when it gave one.
    retry_after: Option<Duration>,
    /// The token is wrong: logged as an error, since only a person can fix it.
    token_refused: bool,
}

impl Failure {
    fn new(why: String) -> Self {
        Self { why, retry_after: None, token_refused: false }
    }
}

/// A handshake error names the request's URL in some cases; the URL carries the ticket.
fn without_url(error: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error;
    match error {
        Error::Http(response) => format!("HTTP {}", response.status()),
        Error::Url(_) => "the URL is not a WebSocket URL".to_owned(),
        other => other.to_string(),
    }
}

/// Why the connection in use stopped being the one to use.
enum Leave {
    /// Slack sent `disconnect` with this reason; the connection goes on serving while it drains.
    Disconnect {
        reason: String,
        /// As for `Ended`.
        healthy: bool,
    },
    /// The connection ended: closed, dropped, silent, or never greeted.
    Ended {
        why: String,
        /// It had served for [`HEALTHY_RUN`] after hello.
        healthy: bool,
    },
}

/// One connection and what it needs to serve.
struct Link<H> {
    ws: Socket,
    handler: Arc<H>,
    /// Told once: when Slack asks us to leave, or when the connection ends before that.
    leave: oneshot::Sender<Leave>,
    closing: watch::Receiver<bool>,
    /// Dropped when this connection's task ends; see `run`.
    _alive: mpsc::Sender<()>,
}

impl<H: EnvelopeHandler> Link<H> {
    async fn serve(self) {
        let Link { ws, handler, leave, mut closing, _alive } = self;
        let mut leave = Some(leave);
        let (mut sink, mut stream) = ws.split();
        // Acks from the envelopes' tasks, sent on this connection by this task alone.
        let (acks_tx, mut acks) = mpsc::unbounded_channel::<String>();
        let opened = Instant::now();
        let mut hello_at: Option<Instant> = None;
        let mut heard = Instant::now();
        let mut drain_until: Option<Instant> = None;
        let mut keepalive = tokio::time::interval_at(opened + PING_EVERY, PING_EVERY);
        // After a stall, one ping is enough; a burst of them would say nothing more.
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let why = loop {
            let hello_overdue = sleep_until(hello_at.is_none().then_some(opened + HELLO_WAIT));
            let drained = sleep_until(drain_until);
            tokio::select! {
                incoming = stream.next() => {
                    heard = Instant::now();
                    match incoming {
                        Some(Ok(Message::Text(text))) => match parse_frame(&text) {
                            Ok(Inbound::Hello { connections }) => {
                                hello_at = Some(Instant::now());
                                metrics::gauge!("shipgate_slack_socket_connections").increment(1.0);
                                tracing::info!(
                                    connections,
                                    "connected to Slack Socket Mode; answering slash commands and clicks"
                                );
                            }
                            Ok(Inbound::Envelope(envelope, retry_reason)) => {
                                let span = tracing::info_span!(
                                    "slack_envelope",
                                    envelope_id = %envelope.id,
                                    r#type = envelope.kind.as_str(),
                                );
                                let work = answer(Arc::clone(&handler), envelope, retry_reason, acks_tx.clone());
                                tokio::spawn(work.instrument(span));
                            }
                            Ok(Inbound::Disconnect { reason }) => {
                                tracing::info!(%reason, "Slack asked to leave this Socket Mode connection");
                                drain_until.get_or_insert(Instant::now() + DRAIN_LIMIT);
                                if let Some(leave) = leave.take() {
                                    let healthy = hello_at.is_some_and(|at| at.elapsed() >= HEALTHY_RUN);
                                    let _ = leave.send(Leave::Disconnect { reason, healthy });
                                }
                            }
                            Ok(Inbound::Other(kind)) => tracing::debug!(%kind, "a Socket Mode message shipgate does not use"),
                            Err(e) => tracing::warn!(error = %e, "a Socket Mode frame shipgate cannot read"),
                        },
                        Some(Ok(Message::Close(frame))) => break closed_by_slack(frame.as_ref()),
                        // tungstenite answers pings itself; a pong or a ping is a sign of life.
                        Some(Ok(_)) => {}
                        Some(Err(e)) => break format!("the connection failed: {e}"),
                        None => break "the connection ended".to_owned(),
                    }
                }
                Some(ack) = acks.recv() => {
                    if let Err(e) = sink.send(Message::text(ack)).await {
                        break format!("an acknowledgement could not be sent: {e}");
                    }
                }
                _ = keepalive.tick() => {
                    if heard.elapsed() >= SILENCE_LIMIT {
                        break "nothing came from Slack for 90 s".to_owned();
                    }
                    if let Err(e) = sink.send(Message::Ping(Bytes::new())).await {
                        break format!("a ping could not be sent: {e}");
                    }
                }
                () = hello_overdue => break "Slack sent no hello within 15 s".to_owned(),
                () = drained => {
                    close(&mut sink, &mut stream).await;
                    break "closed 30 s after Slack asked to leave it".to_owned();
                }
                _ = closing.changed() => {
                    close(&mut sink, &mut stream).await;
                    break "shipgate is stopping".to_owned();
                }
            }
        };
        if hello_at.is_some() {
            metrics::gauge!("shipgate_slack_socket_connections").decrement(1.0);
        }
        match leave {
            Some(leave) => {
                let healthy = hello_at.is_some_and(|at| at.elapsed() >= HEALTHY_RUN);
                let _ = leave.send(Leave::Ended { why, healthy });
            }
            None => tracing::debug!(%why, "a drained Socket Mode connection closed"),
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Sends a close frame and waits a moment for Slack's, as the protocol asks.
async fn close(sink: &mut SplitSink<Socket, Message>, stream: &mut SplitStream<Socket>) {
    if sink.send(Message::Close(None)).await.is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Some(Ok(message)) = stream.next().await {
                if message.is_close() {
                    break;
                }
            }
        })
        .await;
    }
}

fn closed_by_slack(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(frame) if !frame.reason.is_empty() => {
            format!("Slack closed the connection ({}: {})", u16::from(frame.code), frame.reason)
        }
        Some(frame) => format!("Slack closed the connection ({})", u16::from(frame.code)),
        None => "Slack closed the connection".to_owned(),
    }
}

/// Runs the handler on one envelope and queues its ack for the connection it came on.
async fn answer<H: EnvelopeHandler>(
    handler: Arc<H>,
    envelope: Envelope,
    retry_reason: Option<String>,
    acks: mpsc::UnboundedSender<String>,
) {
    let id = envelope.id.clone();
    let accepts = envelope.accepts_response_payload;
    metrics::counter!("shipgate_slack_socket_envelopes_total", "type" => envelope.kind.label()).increment(1);
    if envelope.retry_attempt > 0 {
        // An earlier ack was lost or late. The command's platform id makes a repeat change
        // nothing, so it is handled (and answered) again rather than guessed at.
        tracing::info!(
            retry_attempt = envelope.retry_attempt,
            retry_reason = retry_reason.as_deref().unwrap_or(""),
            "Slack sent an envelope again"
        );
    }
    // The handler runs in its own task so that the ack need not wait for it beyond the
    // deadline. A late handler is not cancelled: dropping it could stop a command between its
    // commit and its notices; finishing it keeps the release whole, and the card in the
    // thread shows the outcome even though the immediate answer went out empty.
    let work = tokio::spawn(async move { handler.handle(envelope).await }.in_current_span());
    let payload = match tokio::time::timeout(HANDLER_DEADLINE, work).await {
        Ok(Ok(payload)) => payload,
        Ok(Err(e)) => {
            // Acknowledged all the same: a delivery that failed once would fail again.
            tracing::error!(error = %e, "the envelope's handler failed; acknowledging it without an answer");
            None
        }
        Err(_) => {
            metrics::counter!("shipgate_slack_socket_late_handlers_total").increment(1);
            tracing::warn!(
                "the envelope's handler took longer than 2.5 s: acknowledged without an answer, its work goes on"
            );
            None
        }
    };
    if acks.send(ack_frame(&id, payload, accepts)).is_err() {
        tracing::warn!("the connection closed before the acknowledgement went out; Slack will send the envelope again");
    }
}

/// `{"envelope_id": .., "payload": ..}`; the payload only where the envelope accepts one.
pub fn ack_frame(id: &str, payload: Option<Value>, accepts: bool) -> String {
    let mut ack = Map::new();
    ack.insert("envelope_id".to_owned(), Value::from(id));
    match payload {
        Some(payload) if accepts => {
            ack.insert("payload".to_owned(), payload);
        }
        Some(_) => tracing::debug!("the handler answered an envelope that accepts no payload; acknowledged without it"),
        None => {}
    }
    Value::Object(ack).to_string()
}

/// A frame from Slack.
#[derive(Debug)]
pub enum Inbound {
    Hello { connections: Option<u64> },
    Disconnect { reason: String },
    Envelope(Envelope, Option<String>),
    Other(String),
}

/// A WebSocket text frame from Slack, read: an error only when it is not JSON.
pub fn parse_frame(text: &str) -> Result<Inbound, String> {
    let frame: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let kind = frame.get("type").and_then(Value::as_str).unwrap_or_default();
    // Anything with an envelope_id must be acknowledged, whatever its type.
    if let Some(id) = frame.get("envelope_id").and_then(Value::as_str) {
        let retry_attempt = frame.get("retry_attempt").and_then(Value::as_u64).unwrap_or(0);
        let envelope = Envelope {
            id: id.to_owned(),
            kind: EnvelopeKind::from_wire(kind),
            payload: frame.get("payload").cloned().unwrap_or(Value::Null),
            accepts_response_payload: frame.get("accepts_response_payload").and_then(Value::as_bool).unwrap_or(false),
            retry_attempt: u32::try_from(retry_attempt).unwrap_or(u32::MAX),
        };
        let retry_reason =
            frame.get("retry_reason").and_then(Value::as_str).filter(|r| !r.is_empty()).map(str::to_owned);
        return Ok(Inbound::Envelope(envelope, retry_reason));
    }
    Ok(match kind {
        "hello" => Inbound::Hello { connections: frame.get("num_connections").and_then(Value::as_u64) },
        "disconnect" => {
            Inbound::Disconnect { reason: frame.get("reason").and_then(Value::as_str).unwrap_or("unknown").to_owned() }
        }
        other => Inbound::Other(other.to_owned()),
    })
}

/// After a connection is left: how long to wait before the next one, and the reason as a
/// metric label. `failures` counts failures in a row; a healthy connection starts it over.
fn plan_reconnect(leave: &Leave, failures: &mut u32, fraction: f64) -> (Duration, &'static str) {
    let (Leave::Disconnect { healthy, .. } | Leave::Ended { healthy, .. }) = leave;
    if *healthy {
        *failures = 0;
    }
    match leave {
        // Routine: Slack moves connections around. The old one serves until the new one is
        // up, so connect at once.
        Leave::Disconnect { reason, .. } if reason == "refresh_requested" => (Duration::ZERO, "refresh_requested"),
        Leave::Disconnect { reason, .. } if reason == "warning" => (Duration::ZERO, "warning"),
        Leave::Disconnect { reason, .. } if reason == "link_disabled" => {
            (jittered(LINK_DISABLED_RETRY, fraction), "link_disabled")
        }
        Leave::Disconnect { .. } => {
            *failures += 1;
            (backoff_with(*failures, fraction), "disconnect")
        }
        Leave::Ended { .. } => {
            *failures += 1;
            (backoff_with(*failures, fraction), "connection_lost")
        }
    }
}

/// The wait after `failures` failures in a row: 1 s doubling to 60 s, jittered.
fn backoff(failures: u32) -> Duration {
    backoff_with(failures, random_fraction())
}

fn backoff_with(failures: u32, fraction: f64) -> Duration {
    let doubled = FIRST_RETRY.saturating_mul(1 << failures.saturating_sub(1).min(16));
    jittered(doubled.min(LONGEST_RETRY), fraction)
}

/// Between half and all of `wait`, so that instances that lost Slack together do not come
/// back in step.
fn jittered(wait: Duration, fraction: f64) -> Duration {
    wait.mul_f64(0.5 + 0.5 * fraction.clamp(0.0, 1.0))
}

/// In [0, 1), from the OS's randomness through a v4 UUID (whose low 53 bits are all random),
/// which spares a random-number crate for one number per reconnect.
fn random_fraction() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u64_pair().1 & ((1 << 53) - 1);
    bits as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn backoff_doubles_to_a_minute_and_jitters_within_half() {
        assert_eq!(backoff_with(1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff_with(1, 0.0), Duration::from_millis(500));
        assert_eq!(backoff_with(3, 1.0), Duration::from_secs(4));
        assert_eq!(backoff_with(7, 1.0), LONGEST_RETRY);
        assert_eq!(backoff_with(u32::MAX, 1.0), LONGEST_RETRY);
        assert_eq!(backoff_with(u32::MAX, 0.0), LONGEST_RETRY / 2);
        for _ in 0..100 {
            let fraction = random_fraction();
            assert!((0.0..1.0).contains(&fraction), "{fraction}");
        }
    }

    #[test]
    fn a_refresh_reconnects_at_once_and_a_lost_connection_backs_off() {
        let refresh = |healthy| Leave::Disconnect { reason: "refresh_requested".to_owned(), healthy };
        let lost = |healthy| Leave::Ended { why: "dropped".to_owned(), healthy };
        let mut failures = 3;
        assert_eq!(plan_reconnect(&refresh(false), &mut failures, 1.0), (Duration::ZERO, "refresh_requested"));
        assert_eq!(failures, 3, "a refresh is no failure, nor proof of health");
        assert_eq!(plan_reconnect(&lost(false), &mut failures, 1.0), (Duration::from_secs(8), "connection_lost"));
        assert_eq!(plan_reconnect(&lost(true), &mut failures, 1.0), (FIRST_RETRY, "connection_lost"));
        let (wait, reason) = plan_reconnect(
            &Leave::Disconnect { reason: "link_disabled".to_owned(), healthy: true },
            &mut failures,
            0.0,
        );
        assert_eq!((wait, reason), (LINK_DISABLED_RETRY / 2, "link_disabled"));
        assert!(wait >= LONGEST_RETRY, "retried more slowly than any failure");
        let other = Leave::Disconnect { reason: "too_many_websockets".to_owned(), healthy: false };
        assert_eq!(plan_reconnect(&other, &mut failures, 1.0), (FIRST_RETRY, "disconnect"));
    }

    #[test]
    fn frames_are_read_as_slack_sends_them() {
        let hello = parse_frame(r#"{"type":"hello","num_connections":2,"debug_info":{}}"#).unwrap();
        assert!(matches!(hello, Inbound::Hello { connections: Some(2) }), "{hello:?}");
        let disconnect = parse_frame(r#"{"type":"disconnect","reason":"link_disabled"}"#).unwrap();
        assert!(matches!(disconnect, Inbound::Disconnect { ref reason } if reason == "link_disabled"));
        let frame = json!({"envelope_id": "e1", "type": "slash_commands", "payload": {"command": "/release"},
            "accepts_response_payload": true, "retry_attempt": 2, "retry_reason": "timeout"});
        let Inbound::Envelope(envelope, reason) = parse_frame(&frame.to_string()).unwrap() else {
            panic!("an envelope")
        };
        assert_eq!((envelope.id.as_str(), &envelope.kind), ("e1", &EnvelopeKind::SlashCommands));
        assert_eq!(envelope.payload["command"], "/release");
        assert_eq!((envelope.accepts_response_payload, envelope.retry_attempt), (true, 2));
        assert_eq!(reason.as_deref(), Some("timeout"));
        // A type shipgate does not know is still an envelope to acknowledge.
        let Inbound::Envelope(unknown, reason) =
            parse_frame(r#"{"envelope_id":"e2","type":"shortcut_v2","retry_reason":""}"#).unwrap()
        else {
            panic!("an envelope")
        };
        assert_eq!(unknown.kind, EnvelopeKind::Other("shortcut_v2".to_owned()));
        assert_eq!((unknown.accepts_response_payload, unknown.retry_attempt, reason), (false, 0, None));
        assert!(parse_frame("not json").is_err());
    }

    #[test]
    fn an_ack_carries_a_payload_only_where_one_is_accepted() {
        let payload = json!({"response_type": "ephemeral", "text": "ok"});
        let ack: Value = serde_json::from_str(&ack_frame("e1", Some(payload.clone()), true)).unwrap();
        assert_eq!(ack, json!({"envelope_id": "e1", "payload": payload}));
        let ack: Value = serde_json::from_str(&ack_frame("e2", Some(payload), false)).unwrap();
        assert_eq!(ack, json!({"envelope_id": "e2"}));
        let ack: Value = serde_json::from_str(&ack_frame("e3", None, true)).unwrap();
        assert_eq!(ack, json!({"envelope_id": "e3"}));
    }
}
