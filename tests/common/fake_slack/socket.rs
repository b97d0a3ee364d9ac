//! The fake Socket Mode server.
//!
//! apps.connections.open hands out a single-use URL `ws://127.0.0.1:PORT/socket?ticket=..`.
//! On connect the fake sends `hello`. Envelopes the test pushes go to the newest connection
//! that has not been told to disconnect (or wait for one):
//! `{envelope_id, type, payload, accepts_response_payload, retry_attempt, retry_reason}`.
//! The client acknowledges each with `{envelope_id, payload?}`; one not acknowledged within
//! the ack timeout is sent again with `retry_attempt` + 1 and `retry_reason: "timeout"`, up
//! to the configured number of retries, as Slack redelivers. A `disconnect` message
//! (`refresh_requested`, ...) asks the client to open a new connection; the fake closes the
//! old one after a grace period.

use super::blockkit::{self, Surface};
use super::Shared;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// An acknowledgement the client sent.
#[derive(Clone, Debug)]
pub struct Ack {
    pub envelope_id: String,
    /// The response payload, for envelopes that accept one.
    pub payload: Option<Value>,
    /// Which connection it came on (1 for the first).
    pub connection: u64,
    pub at: Instant,
}

/// An envelope as sent on a connection (each redelivery is one more).
#[derive(Clone, Debug)]
pub struct Delivery {
    pub envelope_id: String,
    pub retry_attempt: u32,
    pub connection: u64,
    pub frame: Value,
    pub at: Instant,
}

pub enum Outbound {
    Frame(Value),
    /// Send `disconnect`, then close after the grace period.
    Disconnect(Value, Duration),
    /// Vanish without a close frame, as a lost network does.
    Drop,
}

struct Connection {
    id: u64,
    tx: mpsc::UnboundedSender<Outbound>,
    /// Told to disconnect: gets no more envelopes.
    draining: bool,
}

struct Envelope {
    id: String,
    kind: String,
    payload: Value,
    accepts_response_payload: bool,
    retry_attempt: u32,
    sent: Option<Instant>,
    acked: bool,
    given_up: bool,
}

impl Envelope {
    fn frame(&self) -> Value {
        json!({
            "envelope_id": self.id,
            "type": self.kind,
            "payload": self.payload,
            "accepts_response_payload": self.accepts_response_payload,
            "retry_attempt": self.retry_attempt,
            "retry_reason": if self.retry_attempt == 0 { "" } else { "timeout" },
        })
    }
}

pub struct Hub {
    connections: Vec<Connection>,
    next_connection: u64,
    envelopes: Vec<Envelope>,
    pub deliveries: Vec<Delivery>,
    pub acks: Vec<Ack>,
    /// Frames from the client that break the protocol.
    pub problems: Vec<String>,
    /// Connections greeted with `hello` so far.
    hellos: watch::Sender<u64>,
    ack_count: watch::Sender<usize>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            connections: Vec::new(),
            next_connection: 1,
            envelopes: Vec::new(),
            deliveries: Vec::new(),
            acks: Vec::new(),
            problems: Vec::new(),
            hellos: watch::channel(0).0,
            ack_count: watch::channel(0).0,
        }
    }
}

impl Hub {
    pub fn push(&mut self, kind: &str, payload: Value, accepts_response_payload: bool) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.envelopes.push(Envelope {
            id: id.clone(),
            kind: kind.to_string(),
            payload,
            accepts_response_payload,
            retry_attempt: 0,
            sent: None,
            acked: false,
            given_up: false,
        });
        id
    }

    /// Sends what is due: new envelopes, and those whose ack is overdue again.
    pub fn tick(&mut self, ack_timeout: Duration, max_retries: u32) {
        let now = Instant::now();
        let target = self.connections.iter().rev().find(|c| !c.draining).map(|c| (c.id, c.tx.clone()));
        for envelope in self.envelopes.iter_mut().filter(|e| !e.acked && !e.given_up) {
            if let Some(sent) = envelope.sent {
                if now.duration_since(sent) < ack_timeout {
                    continue;
                }
                if envelope.retry_attempt >= max_retries {
                    envelope.given_up = true;
                    continue;
                }
                envelope.retry_attempt += 1;
                envelope.sent = None;
            }
            let Some((connection, tx)) = &target else { continue };
            let frame = envelope.frame();
            if tx.send(Outbound::Frame(frame.clone())).is_ok() {
                envelope.sent = Some(now);
                self.deliveries.push(Delivery {
                    envelope_id: envelope.id.clone(),
                    retry_attempt: envelope.retry_attempt,
                    connection: *connection,
                    frame,
                    at: now,
                });
            }
        }
    }

    pub fn disconnect_all(&mut self, reason: &str, grace: Duration) {
        for c in self.connections.iter_mut().filter(|c| !c.draining) {
            let message = json!({"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-slack"}});
            c.draining = true;
            // A connection that already ended has dropped its receiver: nothing to tell.
            let _ = c.tx.send(Outbound::Disconnect(message, grace));
        }
    }

    pub fn drop_all(&mut self) {
        for c in &self.connections {
            let _ = c.tx.send(Outbound::Drop);
        }
    }

    pub fn live(&self) -> usize {
        self.connections.len()
    }

    pub fn subscribe_hellos(&self) -> watch::Receiver<u64> {
        self.hellos.subscribe()
    }

    pub fn subscribe_acks(&self) -> watch::Receiver<usize> {
        self.ack_count.subscribe()
    }

    pub fn hellos(&self) -> u64 {
        *self.hellos.borrow()
    }

    /// Envelope ids Slack gave up on after its retries.
    pub fn given_up(&self) -> Vec<String> {
        self.envelopes.iter().filter(|e| e.given_up).map(|e| e.id.clone()).collect()
    }

    fn acked(&mut self, connection: u64, frame: &Value) {
        let Some(id) = frame.get("envelope_id").and_then(Value::as_str) else {
            self.problems.push(format!("connection {connection}: a frame without envelope_id: {frame}"));
            return;
        };
        let unexpected: Vec<&String> = frame
            .as_object()
            .map(|m| m.keys().filter(|k| !matches!(k.as_str(), "envelope_id" | "payload")).collect())
            .unwrap_or_default();
        if !unexpected.is_empty() {
            self.problems.push(format!("connection {connection}: ack {id} has unexpected fields {unexpected:?}"));
        }
        let payload = frame.get("payload").cloned();
        match self.envelopes.iter_mut().find(|e| e.id == id) {
            None => self.problems.push(format!("connection {connection}: ack for unknown envelope {id}")),
            Some(envelope) => {
                envelope.acked = true;
                if let Some(payload) = &payload {
                    if !envelope.accepts_response_payload {
                        self.problems.push(format!(
                            "connection {connection}: ack {id} carries a payload, but the envelope accepts none"
                        ));
                    } else if let Some(problems) = response_payload_problems(&envelope.kind, payload) {
                        self.problems.push(format!("connection {connection}: ack {id}: {}", problems.join("; ")));
                    }
                }
            }
        }
        self.acks.push(Ack { envelope_id: id.to_string(), payload, connection, at: Instant::now() });
        self.ack_count.send_replace(self.acks.len());
    }
}

/// What is wrong with an ack's response payload: a message for a slash command, a
/// `response_action` for a view submission.
fn response_payload_problems(kind: &str, payload: &Value) -> Option<Vec<String>> {
    let mut out = Vec::new();
    match kind {
        "slash_commands" => {
            if let Some(blocks) = payload.get("blocks") {
                out.extend(blockkit::check_blocks(blocks, Surface::Message, "/payload/blocks"));
            }
            if payload.get("response_type").is_some_and(|t| !matches!(t.as_str(), Some("ephemeral" | "in_channel"))) {
                out.push("response_type must be ephemeral or in_channel".to_string());
            }
        }
        "interactive" => {
            if let Some(action) = payload.get("response_action") {
                if !matches!(action.as_str(), Some("errors" | "update" | "push" | "clear")) {
                    out.push(format!("response_action {action} is none of errors, update, push, clear"));
                }
            }
            if let Some(view) = payload.get("view") {
                out.extend(blockkit::check_view(view, "/payload/view"));
            }
        }
        _ => {}
    }
    (!out.is_empty()).then_some(out)
}

pub async fn upgrade(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let ticket = query.get("ticket").cloned().unwrap_or_default();
    let valid = shared.state().use_ticket(&ticket);
    if !valid {
        shared.state().problem(
            "socket",
            Some("unauthorized"),
            vec![format!(
                "connected with ticket {ticket:?}, which apps.connections.open did not issue or which was used: \
                 each connection needs a fresh URL"
            )],
        );
        return StatusCode::UNAUTHORIZED.into_response();
    }
    ws.on_upgrade(move |socket| run_connection(socket, shared))
}

fn frame(value: &Value) -> Message {
    Message::Text(value.to_string().into())
}

async fn run_connection(socket: WebSocket, shared: Arc<Shared>) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (id, live) = {
        let mut hub = shared.hub();
        let id = hub.next_connection;
        hub.next_connection += 1;
        hub.connections.push(Connection { id, tx, draining: false });
        (id, hub.live())
    };
    let hello = json!({
        "type": "hello",
        "num_connections": live,
        "debug_info": {"host": "fake-slack", "build_number": 1, "approximate_connection_time": 18060},
        "connection_info": {"app_id": shared.config.app_id},
    });
    let mut open = sink.send(frame(&hello)).await.is_ok();
    if open {
        let hub = shared.hub();
        hub.hellos.send_modify(|n| *n += 1);
    }
    let mut close_at: Option<tokio::time::Instant> = None;
    while open {
        let closing = async {
            match close_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            incoming = stream.next() => {
                let text = match incoming {
                    Some(Ok(Message::Text(text))) => text.to_string(),
                    Some(Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                };
                match serde_json::from_str::<Value>(&text) {
                    Ok(value) => shared.hub().acked(id, &value),
                    Err(_) => shared.hub().problems.push(format!("connection {id}: a frame that is not JSON: {text}")),
                }
            }
            outbound = rx.recv() => match outbound {
                Some(Outbound::Frame(value)) => open = sink.send(frame(&value)).await.is_ok(),
                Some(Outbound::Disconnect(value, grace)) => {
                    open = sink.send(frame(&value)).await.is_ok();
                    close_at = Some(tokio::time::Instant::now() + grace);
                }
                Some(Outbound::Drop) | None => break,
            },
            _ = closing => {
                let close = CloseFrame { code: 1000, reason: "".into() };
                let _ = sink.send(Message::Close(Some(close))).await;
                break;
            }
        }
    }
    shared.hub().connections.retain(|c| c.id != id);
}
