//! The fake gateway: HELLO, IDENTIFY -> READY, heartbeat -> ACK, and dispatches with
//! increasing sequence numbers, as serenity 0.12 expects (see SERENITY-TESTING.md).

use super::Shared;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

pub enum Outbound {
    Dispatch(String, Value),
    /// Close with a close frame and this code.
    Close(u16),
    /// Vanish without a close frame, as when Discord is unreachable.
    Drop,
}

struct Session {
    id: u64,
    tx: mpsc::UnboundedSender<Outbound>,
    identified: bool,
}

pub struct Hub {
    sessions: Vec<Session>,
    next_session: u64,
    /// Dispatches ordered while no session was identified; sent after the next READY.
    queue: Vec<(String, Value)>,
    pub identifies: Vec<Value>,
    /// Heartbeats (op 1) received and acknowledged, across sessions.
    pub heartbeats: u64,
    /// How many identified sessions are connected.
    identified: watch::Sender<usize>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            sessions: Vec::new(),
            next_session: 1,
            queue: Vec::new(),
            identifies: Vec::new(),
            heartbeats: 0,
            identified: watch::channel(0).0,
        }
    }
}

impl Hub {
    pub fn dispatch(&mut self, event: &str, data: Value) {
        let mut sent = false;
        for session in self.sessions.iter().filter(|s| s.identified) {
            sent |= session.tx.send(Outbound::Dispatch(event.to_string(), data.clone())).is_ok();
        }
        if !sent {
            self.queue.push((event.to_string(), data));
        }
    }

    pub fn close_all(&mut self, how: impl Fn() -> Outbound) {
        for session in &self.sessions {
            // A session that already ended has dropped its receiver; nothing to close.
            let _ = session.tx.send(how());
        }
    }

    pub fn subscribe_identified(&self) -> watch::Receiver<usize> {
        self.identified.subscribe()
    }

    pub fn live_sessions(&self) -> usize {
        self.sessions.iter().filter(|s| s.identified).count()
    }
}

pub async fn upgrade(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| run_session(socket, shared))
}

fn frame(value: Value) -> Message {
    Message::Text(value.to_string().into())
}

async fn run_session(socket: WebSocket, shared: Arc<Shared>) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let session_id = {
        let mut hub = shared.hub();
        let id = hub.next_session;
        hub.next_session += 1;
        hub.sessions.push(Session { id, tx, identified: false });
        id
    };
    let hello =
        json!({"op": 10, "d": {"heartbeat_interval": shared.config.heartbeat_interval_ms}, "s": null, "t": null});
    let mut seq: u64 = 0;
    let mut open = sink.send(frame(hello)).await.is_ok();
    while open {
        tokio::select! {
            incoming = stream.next() => {
                let text = match incoming {
                    Some(Ok(Message::Text(text))) => text.to_string(),
                    Some(Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                };
                let Ok(payload) = serde_json::from_str::<Value>(&text) else {
                    // Discord closes with 4002 "decode error".
                    let _ = sink.send(Message::Close(Some(CloseFrame { code: 4002, reason: "Error while decoding payload.".into() }))).await;
                    break;
                };
                let mut out = Vec::new();
                match payload["op"].as_u64() {
                    Some(1) => {
                        shared.hub().heartbeats += 1;
                        out.push(json!({"op": 11, "d": null, "s": null, "t": null}));
                    }
                    Some(2) => {
                        seq += 1;
                        out.push(ready(&shared, session_id, seq, &payload));
                        let mut hub = shared.hub();
                        hub.identifies.push(payload.clone());
                        if let Some(session) = hub.sessions.iter_mut().find(|s| s.id == session_id) {
                            session.identified = true;
                        }
                        for (event, data) in std::mem::take(&mut hub.queue) {
                            seq += 1;
                            out.push(json!({"op": 0, "t": event, "s": seq, "d": data}));
                        }
                        let live = hub.live_sessions();
                        hub.identified.send_replace(live);
                    }
                    // RESUME: the fake keeps no session history, so the client must identify anew.
                    Some(6) => out.push(json!({"op": 9, "d": false, "s": null, "t": null})),
                    _ => {}
                }
                for value in out {
                    if sink.send(frame(value)).await.is_err() {
                        open = false;
                        break;
                    }
                }
            }
            outbound = rx.recv() => match outbound {
                Some(Outbound::Dispatch(event, data)) => {
                    seq += 1;
                    open = sink.send(frame(json!({"op": 0, "t": event, "s": seq, "d": data}))).await.is_ok();
                }
                Some(Outbound::Close(code)) => {
                    let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: "".into() }))).await;
                    break;
                }
                Some(Outbound::Drop) | None => break,
            },
        }
    }
    let mut hub = shared.hub();
    hub.sessions.retain(|s| s.id != session_id);
    let live = hub.live_sessions();
    hub.identified.send_replace(live);
}

fn ready(shared: &Shared, session_id: u64, seq: u64, identify: &Value) -> Value {
    let config = &shared.config;
    let url = format!("ws://127.0.0.1:{}", shared.port);
    let mut data = json!({
        "v": 10,
        "user": {
            "id": config.bot_user_id,
            "username": config.bot_username,
            "discriminator": "0",
            "avatar": null,
            "global_name": null,
            "bot": true,
            "flags": 0,
        },
        "guilds": [],
        "session_id": format!("fake-session-{session_id}"),
        "resume_gateway_url": url,
        "application": {"id": config.application_id, "flags": 0},
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "geo_ordered_rtc_regions": [],
    });
    if let Some(shard) = identify["d"].get("shard").filter(|s| s.is_array()) {
        data["shard"] = shard.clone();
    }
    json!({"op": 0, "t": "READY", "s": seq, "d": data})
}
