//! shipgate's Slack Socket Mode client against the fake Slack: hello, envelopes answered in
//! their acknowledgements, slow handlers, refreshes, lost connections, redeliveries, a
//! refused token, and stopping.

use crate::common::fake_slack;

use fake_slack::{FakeConfig, FakeSlack, SlackUser};
use secrecy::SecretString;
use serde_json::{json, Value};
use shipgate::chat::slack::socket::{Envelope, EnvelopeHandler, EnvelopeKind, SocketMode};
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch, Semaphore};
use tokio::task::JoinHandle;

const RELEASES: &str = "C0RELEASES1";
/// Generous: these deadlines only keep a broken client from hanging the suite.
const WITHIN: Duration = Duration::from_secs(20);

fn alice() -> SlackUser {
    SlackUser::new("U0ALICE0001", "alice")
}

/// shipgate's side of the envelopes: records each one and answers as the app would — a
/// slash command with its immediate reply, a view submission with errors, a click with a
/// message the client must not send (a click's envelope accepts no payload).
struct Recorder {
    seen: Mutex<Vec<Envelope>>,
    started: watch::Sender<usize>,
    finished: watch::Sender<usize>,
    /// How many calls, from the first, wait for `release` before answering.
    held_calls: AtomicU32,
    gate: Semaphore,
}

impl Recorder {
    fn new() -> Arc<Self> {
        Self::holding(0)
    }

    /// The first `calls` calls wait for `release`.
    fn holding(calls: u32) -> Arc<Self> {
        Arc::new(Recorder {
            seen: Mutex::new(Vec::new()),
            started: watch::channel(0).0,
            finished: watch::channel(0).0,
            held_calls: AtomicU32::new(calls),
            gate: Semaphore::new(0),
        })
    }

    fn release(&self, calls: usize) {
        self.gate.add_permits(calls);
    }

    fn seen(&self) -> Vec<Envelope> {
        self.seen.lock().unwrap().clone()
    }

    async fn wait_started(&self, count: usize) {
        let mut started = self.started.subscribe();
        let waited = tokio::time::timeout(WITHIN, started.wait_for(|n| *n >= count)).await.map(|r| r.is_ok());
        assert!(matches!(waited, Ok(true)), "the handler was called fewer than {count} times");
    }

    async fn wait_finished(&self, count: usize) {
        let mut finished = self.finished.subscribe();
        let waited = tokio::time::timeout(WITHIN, finished.wait_for(|n| *n >= count)).await.map(|r| r.is_ok());
        assert!(matches!(waited, Ok(true)), "the handler finished fewer than {count} times");
    }

    fn finished(&self) -> usize {
        *self.finished.borrow()
    }

    fn answer(envelope: &Envelope) -> Option<Value> {
        match envelope.kind {
            EnvelopeKind::SlashCommands => Some(json!({"response_type": "ephemeral", "text": "No release running"})),
            EnvelopeKind::Interactive if envelope.payload["type"] == "view_submission" => {
                Some(json!({"response_action": "errors", "errors": {"version": "Not a version"}}))
            }
            EnvelopeKind::Interactive => Some(json!({"text": "clicked"})),
            EnvelopeKind::EventsApi | EnvelopeKind::Other(_) => None,
        }
    }
}

impl EnvelopeHandler for Recorder {
    async fn handle(&self, envelope: Envelope) -> Option<Value> {
        self.seen.lock().unwrap().push(envelope.clone());
        self.started.send_modify(|n| *n += 1);
        let held = self.held_calls.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if held {
            self.gate.acquire().await.expect("the gate stays open").forget();
        }
        let answer = Self::answer(&envelope);
        self.finished.send_modify(|n| *n += 1);
        answer
    }
}

/// A running client and the way to stop it.
struct Client {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Client {
    fn start(fake: &FakeSlack, handler: Arc<Recorder>) -> Self {
        Self::start_with_token(fake, fake.app_token(), handler)
    }

    fn start_with_token(fake: &FakeSlack, token: &str, handler: Arc<Recorder>) -> Self {
        let socket = SocketMode::new(&fake.api_base(), SecretString::from(token)).expect("a client");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(socket.run(handler, async {
            let _ = stopped.await;
        }));
        Client { stop: Some(stop), task }
    }

    /// Stops the client; `run` must end promptly.
    async fn stop(mut self) {
        let _ = self.stop.take().expect("stopped once").send(());
        let ended = tokio::time::timeout(WITHIN, &mut self.task).await;
        assert!(matches!(ended, Ok(Ok(()))), "run did not end after stop: {ended:?}");
    }
}

/// Waits until `done` holds.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < WITHIN, "not within {WITHIN:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Everything logged on this test's thread (the tests run on a current-thread runtime, so
/// the client's tasks log here too).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        (logs, guard)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// No token and no connection ticket in any line.
    fn assert_no_secrets(&self, fake: &FakeSlack) {
        let text = self.text();
        for secret in [fake.app_token(), fake.bot_token(), "fakeapptoken", "ticket="] {
            assert!(!text.contains(secret), "the log shows {secret:?}:\n{text}");
        }
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn click() -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": "U0ALICE0001", "username": "alice", "team_id": "T0FAKETEAM1"},
        "channel": {"id": RELEASES},
        "actions": [{"type": "button", "action_id": "sg1:r1:s0:1:g", "block_id": "gate", "value": "gate",
                     "action_ts": "1733230000.000100"}],
    })
}

fn view_submission() -> Value {
    json!({"type": "view_submission", "user": {"id": "U0ALICE0001"}, "view": {"callback_id": "sg1m:r1:s2:1:ea"}})
}

#[tokio::test]
async fn a_slash_command_is_answered_in_its_acknowledgement() {
    let (logs, _guard) = Logs::capture();
    let fake = FakeSlack::start().await;
    let recorder = Recorder::new();
    let client = Client::start(&fake, Arc::clone(&recorder));
    fake.wait_socket_hellos(1, WITHIN).await;

    let command = fake.slash_command(RELEASES, &alice(), "/release", "status");
    let id = fake.push_slash_command(&command);
    let ack = fake.wait_ack(&id, WITHIN).await;
    assert_eq!(ack.payload, Some(json!({"response_type": "ephemeral", "text": "No release running"})));
    assert_eq!(ack.connection, 1);

    let seen = recorder.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].id.as_str(), &seen[0].kind), (id.as_str(), &EnvelopeKind::SlashCommands));
    assert_eq!((seen[0].accepts_response_payload, seen[0].retry_attempt), (true, 0));
    assert_eq!(seen[0].payload["command"], "/release");
    assert_eq!(seen[0].payload["text"], "status");
    assert_eq!(seen[0].payload["response_url"], command.response_url.as_str());

    let opens = fake.requests_to("apps.connections.open");
    assert_eq!(opens.len(), 1);
    assert_eq!(opens[0].http_method, "POST");
    assert_eq!(opens[0].authorization.as_deref(), Some(format!("Bearer {}", fake.app_token()).as_str()));

    client.stop().await;
    let text = logs.text();
    assert!(text.contains("connected to Slack Socket Mode"), "{text}");
    logs.assert_no_secrets(&fake);
    fake.assert_no_problems();
}

#[tokio::test]
async fn a_click_is_acknowledged_without_a_payload_and_a_form_with_its_response_action() {
    let fake = FakeSlack::start().await;
    let recorder = Recorder::new();
    let client = Client::start(&fake, Arc::clone(&recorder));

    // Pushed before the client connects: they wait for its connection.
    let click = fake.push_interactive(click());
    let form = fake.push_interactive(view_submission());
    let event = fake.push_envelope("events_api", json!({"event": {"type": "app_mention"}}), false);
    let unknown = fake.push_envelope("something_new", json!({}), false);

    let ack = fake.wait_ack(&click, WITHIN).await;
    assert_eq!(ack.payload, None, "a click's envelope accepts no payload, whatever the handler answered");
    let ack = fake.wait_ack(&form, WITHIN).await;
    assert_eq!(ack.payload, Some(json!({"response_action": "errors", "errors": {"version": "Not a version"}})));
    assert_eq!(fake.wait_ack(&event, WITHIN).await.payload, None);
    assert_eq!(fake.wait_ack(&unknown, WITHIN).await.payload, None, "an unknown type is still acknowledged");

    let mut kinds: Vec<(String, EnvelopeKind)> = recorder.seen().into_iter().map(|e| (e.id, e.kind)).collect();
    kinds.sort_by_key(|(id, _)| [&click, &form, &event, &unknown].iter().position(|i| *i == id));
    assert_eq!(
        kinds,
        vec![
            (click, EnvelopeKind::Interactive),
            (form, EnvelopeKind::Interactive),
            (event, EnvelopeKind::EventsApi),
            (unknown, EnvelopeKind::Other("something_new".to_owned())),
        ]
    );
    client.stop().await;
    fake.assert_no_problems();
}

#[tokio::test]
async fn a_slow_handler_is_acknowledged_in_time_and_finishes_in_the_background() {
    let (logs, _guard) = Logs::capture();
    let fake = FakeSlack::start().await;
    let recorder = Recorder::holding(1);
    let client = Client::start(&fake, Arc::clone(&recorder));
    fake.wait_socket_hellos(1, WITHIN).await;

    let command = fake.slash_command(RELEASES, &alice(), "/release", "start api 1.4.2");
    let id = fake.push_slash_command(&command);
    let ack = fake.wait_ack(&id, WITHIN).await;
    // The ack did not wait for the handler, so it could not carry its answer.
    assert_eq!(ack.payload, None);
    assert_eq!(recorder.finished(), 0, "the handler is still working when the ack goes out");
    let text = logs.text();
    assert!(text.contains("longer than 2.5 s"), "{text}");

    // Its work is not cancelled: it completes once it can.
    recorder.release(1);
    recorder.wait_finished(1).await;
    assert_eq!(recorder.seen().len(), 1);
    client.stop().await;
    fake.assert_no_problems();
}

#[tokio::test]
async fn a_refresh_moves_to_a_new_connection_while_the_old_one_drains() {
    let (logs, _guard) = Logs::capture();
    // The old connection outlives the test unless the client closes it: a client that waited
    // for it to close before connecting again would never get its second hello.
    let config = FakeConfig { socket_disconnect_grace: Duration::from_secs(120), ..FakeConfig::default() };
    let fake = FakeSlack::start_with(config).await;
    let recorder = Recorder::holding(1);
    let client = Client::start(&fake, Arc::clone(&recorder));
    fake.wait_socket_hellos(1, WITHIN).await;

    // An envelope in flight on the old connection when Slack asks to leave it.
    let in_flight = fake.push_interactive(click());
    recorder.wait_started(1).await;
    fake.socket_disconnect("refresh_requested");

    fake.wait_socket_hellos(2, WITHIN).await;
    assert_eq!(fake.requests_to("apps.connections.open").len(), 2, "a fresh URL for the new connection");
    assert_eq!(fake.live_socket_connections(), 2, "the new connection opened before the old one closed");
    // The old connection still serves what was in flight on it.
    assert_eq!(fake.wait_ack(&in_flight, WITHIN).await.connection, 1);

    let next = fake.push_slash_command(&fake.slash_command(RELEASES, &alice(), "/release", "list"));
    let ack = fake.wait_ack(&next, WITHIN).await;
    assert_eq!(ack.connection, 2, "the next envelope arrives on the new connection");
    assert!(ack.payload.is_some());

    recorder.release(1);
    client.stop().await;
    let text = logs.text();
    assert!(text.contains("refresh_requested"), "{text}");
    logs.assert_no_secrets(&fake);
    fake.assert_no_problems();
}

#[tokio::test]
async fn the_old_connection_is_closed_once_slack_ends_it() {
    let config = FakeConfig { socket_disconnect_grace: Duration::from_millis(300), ..FakeConfig::default() };
    let fake = FakeSlack::start_with(config).await;
    let client = Client::start(&fake, Recorder::new());
    fake.wait_socket_hellos(1, WITHIN).await;
    fake.socket_disconnect("warning");
    fake.wait_socket_hellos(2, WITHIN).await;
    eventually("only the new connection is left", || fake.live_socket_connections() == 1).await;
    let id = fake.push_interactive(click());
    assert_eq!(fake.wait_ack(&id, WITHIN).await.connection, 2);
    client.stop().await;
    fake.assert_no_problems();
}

#[tokio::test]
async fn a_dropped_connection_is_replaced() {
    let (logs, _guard) = Logs::capture();
    let fake = FakeSlack::start().await;
    let client = Client::start(&fake, Recorder::new());
    fake.wait_socket_hellos(1, WITHIN).await;

    fake.drop_socket_connections();
    fake.wait_socket_hellos(2, WITHIN).await;
    assert_eq!(fake.requests_to("apps.connections.open").len(), 2);
    let id = fake.push_slash_command(&fake.slash_command(RELEASES, &alice(), "/release", "status"));
    let ack = fake.wait_ack(&id, WITHIN).await;
    assert_eq!(ack.connection, 2);
    assert!(ack.payload.is_some());

    client.stop().await;
    let text = logs.text();
    assert!(text.contains("connection lost"), "{text}");
    logs.assert_no_secrets(&fake);
    fake.assert_no_problems();
}

#[tokio::test]
async fn every_envelope_is_acknowledged_so_none_comes_again() {
    let fake = FakeSlack::start().await;
    let recorder = Recorder::new();
    let client = Client::start(&fake, Arc::clone(&recorder));
    fake.wait_socket_hellos(1, WITHIN).await;

    let ids = vec![
        fake.push_slash_command(&fake.slash_command(RELEASES, &alice(), "/release", "status")),
        fake.push_interactive(click()),
        fake.push_interactive(view_submission()),
        fake.push_envelope("events_api", json!({"event": {"type": "app_mention"}}), false),
    ];
    for id in &ids {
        fake.wait_ack(id, WITHIN).await;
    }
    // Past the fake's ack timeout (3 s): an envelope left unacknowledged would have been
    // sent again by now.
    tokio::time::sleep(fake.config().socket_ack_timeout + Duration::from_secs(1)).await;
    let deliveries: Vec<(String, u32)> =
        fake.deliveries().into_iter().map(|d| (d.envelope_id, d.retry_attempt)).collect();
    assert_eq!(deliveries, ids.iter().map(|id| (id.clone(), 0)).collect::<Vec<_>>());
    assert_eq!(fake.acks().len(), ids.len(), "each acknowledged once");
    assert_eq!(recorder.seen().len(), ids.len(), "each handled once");
    assert!(fake.given_up_envelopes().is_empty());
    client.stop().await;
    fake.assert_no_problems();
}

#[tokio::test]
async fn an_envelope_sent_again_is_handled_and_acknowledged_again() {
    let fake = FakeSlack::start().await;
    let recorder = Recorder::holding(1);
    let client = Client::start(&fake, Arc::clone(&recorder));
    fake.wait_socket_hellos(1, WITHIN).await;

    // The connection is lost while the first delivery is being handled: its ack cannot go
    // out, so Slack sends the envelope again on the next connection.
    let id = fake.push_slash_command(&fake.slash_command(RELEASES, &alice(), "/release", "status"));
    recorder.wait_started(1).await;
    fake.drop_socket_connections();

    let ack = fake.wait_ack(&id, WITHIN).await;
    assert_eq!(ack.connection, 2);
    assert_eq!(ack.payload, Some(json!({"response_type": "ephemeral", "text": "No release running"})));
    let attempts: Vec<(String, u32)> = recorder.seen().into_iter().map(|e| (e.id, e.retry_attempt)).collect();
    assert_eq!(attempts, vec![(id.clone(), 0), (id.clone(), 1)]);
    let delivered: Vec<(u32, u64)> = fake.deliveries().iter().map(|d| (d.retry_attempt, d.connection)).collect();
    assert_eq!(delivered, vec![(0, 1), (1, 2)]);

    recorder.release(1);
    recorder.wait_finished(2).await;
    client.stop().await;
    fake.assert_no_problems();
}

#[tokio::test]
async fn a_refused_app_token_is_retried_with_backoff_until_stopped() {
    let (logs, _guard) = Logs::capture();
    let fake = FakeSlack::start().await;
    let wrong = "xapp-1-A0FAKEAPP01-9999999999-revokedtoken";
    let client = Client::start_with_token(&fake, wrong, Recorder::new());

    eventually("three attempts", || fake.requests_to("apps.connections.open").len() >= 3).await;
    client.stop().await;

    let attempts = fake.requests_to("apps.connections.open");
    for attempt in &attempts {
        assert_eq!(attempt.answer, Some(json!({"ok": false, "error": "invalid_auth"})));
        assert_eq!(attempt.authorization.as_deref(), Some(format!("Bearer {wrong}").as_str()));
    }
    // Not a busy loop: at least half of the first one-second wait between attempts.
    for pair in attempts.windows(2).take(2) {
        let gap = pair[1].at.duration_since(pair[0].at).expect("in order");
        assert!(gap >= Duration::from_millis(450), "retried after only {gap:?}");
    }
    assert_eq!(fake.socket_hellos(), 0);
    // Nothing more once stopped.
    let after_stop = attempts.len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fake.requests_to("apps.connections.open").len(), after_stop);

    let text = logs.text();
    assert!(text.lines().any(|l| l.contains("ERROR") && l.contains("invalid_auth")), "{text}");
    assert!(!text.contains(wrong) && !text.contains("revokedtoken"), "the log shows the token:\n{text}");
    logs.assert_no_secrets(&fake);
    fake.assert_no_problems();
}

#[tokio::test]
async fn link_disabled_is_an_error_and_is_not_retried_at_once() {
    let (logs, _guard) = Logs::capture();
    let fake = FakeSlack::start().await;
    let client = Client::start(&fake, Recorder::new());
    fake.wait_socket_hellos(1, WITHIN).await;

    fake.socket_disconnect("link_disabled");
    eventually("the error is logged", || {
        logs.text().lines().any(|l| l.contains("ERROR") && l.contains("turned off for this app"))
    })
    .await;
    // Retried slowly: not within the next seconds (the wait is minutes).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fake.requests_to("apps.connections.open").len(), 1);
    // A stop during that long wait still ends `run` promptly.
    client.stop().await;
    fake.assert_no_problems();
}

#[tokio::test]
async fn stop_closes_the_connection_and_ends_run() {
    let fake = FakeSlack::start().await;
    let client = Client::start(&fake, Recorder::new());
    fake.wait_socket_hellos(1, WITHIN).await;
    assert_eq!(fake.live_socket_connections(), 1);

    client.stop().await;
    eventually("the connection is closed", || fake.live_socket_connections() == 0).await;
    assert_eq!(fake.requests_to("apps.connections.open").len(), 1, "no reconnect after stop");
    fake.assert_no_problems();
}

#[tokio::test]
async fn stop_ends_run_while_slack_cannot_be_reached() {
    let fake = FakeSlack::start().await;
    // Nothing listens on the fake's port once it is gone.
    let api_base = fake.api_base();
    drop(fake);
    let socket = SocketMode::new(&api_base, SecretString::from("xapp-1-A0FAKEAPP01-1-unreachable")).expect("a client");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(socket.run(Recorder::new(), async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _ = stop.send(());
    let ended = tokio::time::timeout(WITHIN, task).await;
    assert!(matches!(ended, Ok(Ok(()))), "run did not end after stop: {ended:?}");
}
