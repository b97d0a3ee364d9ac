//! Starts the real app and router on a free port, on SQLite or PostgreSQL.
#![allow(dead_code)]

use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{json, Value};
use shipgate::app::clock::ManualClock;
use shipgate::app::playbooks::Playbooks;
use shipgate::app::{App, AppParts};
use shipgate::config::{ApiClient, ApiConfig};
use shipgate::domain::freeze::{FixedFreeze, FreezeCalendar};
use shipgate::domain::release::Policy;
use shipgate::http::{router, AppState};
use shipgate::store::{testing, Store};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub const CI_TOKEN: &str = "ci-token-0123456789abcdef";
pub const RM_TOKEN: &str = "rm-token-0123456789abcdef";
pub const RM2_TOKEN: &str = "rm2-token-0123456789abcdef";
/// A client with no roles: it may read, not act.
pub const OBSERVER_TOKEN: &str = "observer-token-0123456789";
/// The bearer token of the Alertmanager webhook in apps made by [`spawn_watching`].
pub const ALERTMANAGER_TOKEN: &str = "am-token-0123456789abcdef";
pub const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
pub const OLD_DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub store: Store,
    pub app: App,
    _dir: Option<tempfile::TempDir>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub async fn store_for(backend: Backend) -> Option<(Store, Option<tempfile::TempDir>)> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = testing::fresh_sqlite(&dir.path().join("shipgate.db")).await;
            Some((store, Some(dir)))
        }
        Backend::Postgres => {
            let Some(url) = testing::postgres_url_from_env() else {
                eprintln!("TEST_DATABASE_URL is not set: skipping the PostgreSQL run");
                return None;
            };
            Some((testing::fresh_postgres(&url).await.expect("fresh postgres database"), None))
        }
    }
}

pub fn clients() -> ApiConfig {
    let client = |name: &str, token: &str, roles: &[&str]| ApiClient {
        name: name.into(),
        token: SecretString::from(token.to_owned()),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
    };
    let clients = vec![
        client("ci", CI_TOKEN, &["engineer"]),
        client("release-bot", RM_TOKEN, &["release-manager", "engineer"]),
        client("second-approver", RM2_TOKEN, &["release-manager"]),
        client("observer", OBSERVER_TOKEN, &[]),
    ];
    ApiConfig { clients }
}

/// Wednesday 2 December 2026, 10:00 UTC: no freeze anywhere.
pub fn wednesday() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap()
}

pub async fn spawn(backend: Backend) -> Option<TestApp> {
    spawn_with(backend, Arc::new(FixedFreeze::default())).await
}

pub async fn spawn_with(backend: Backend, freeze: Arc<dyn FreezeCalendar>) -> Option<TestApp> {
    spawn_full(backend, freeze, Vec::new()).await
}

/// No freeze by default; the given channels have calendars of their own.
pub async fn spawn_with_channels(
    backend: Backend,
    channels: Vec<(String, Arc<dyn FreezeCalendar>)>,
) -> Option<TestApp> {
    spawn_full(backend, Arc::new(FixedFreeze::default()), channels).await
}

async fn spawn_full(
    backend: Backend,
    freeze: Arc<dyn FreezeCalendar>,
    channels: Vec<(String, Arc<dyn FreezeCalendar>)>,
) -> Option<TestApp> {
    let (store, dir) = store_for(backend).await?;
    Some(serve(store, dir, freeze, channels).await)
}

/// The app and router on `store` (kept in `dir`, which lives as long as the app), no
/// freeze anywhere.
pub async fn spawn_on(store: Store, dir: Option<tempfile::TempDir>) -> TestApp {
    serve(store, dir, Arc::new(FixedFreeze::default()), Vec::new()).await
}

/// The app with production deploys watched (as with `[monitoring]`), its clock at `now`.
pub async fn spawn_watching(backend: Backend, now: chrono::DateTime<Utc>) -> Option<TestApp> {
    let (store, dir) = store_for(backend).await?;
    Some(serve_at(store, dir, Arc::new(FixedFreeze::default()), Vec::new(), now, true).await)
}

/// The app on `store` deciding with `policy` (a rollback hook configured, say), its clock
/// at `now`: a fresh store from [`store_for`], or the store of an app that "restarted".
pub async fn spawn_with_policy(
    store: Store,
    dir: Option<tempfile::TempDir>,
    policy: Policy,
    now: chrono::DateTime<Utc>,
) -> TestApp {
    serve_with(store, dir, Arc::new(FixedFreeze::default()), Vec::new(), now, false, policy).await
}

async fn serve(
    store: Store,
    dir: Option<tempfile::TempDir>,
    freeze: Arc<dyn FreezeCalendar>,
    channels: Vec<(String, Arc<dyn FreezeCalendar>)>,
) -> TestApp {
    serve_at(store, dir, freeze, channels, wednesday(), false).await
}

async fn serve_at(
    store: Store,
    dir: Option<tempfile::TempDir>,
    freeze: Arc<dyn FreezeCalendar>,
    channels: Vec<(String, Arc<dyn FreezeCalendar>)>,
    now: chrono::DateTime<Utc>,
    watching: bool,
) -> TestApp {
    serve_with(store, dir, freeze, channels, now, watching, Policy::default()).await
}

async fn serve_with(
    store: Store,
    dir: Option<tempfile::TempDir>,
    freeze: Arc<dyn FreezeCalendar>,
    channels: Vec<(String, Arc<dyn FreezeCalendar>)>,
    now: chrono::DateTime<Utc>,
    watching: bool,
    policy: Policy,
) -> TestApp {
    let clock = Arc::new(ManualClock::new(now));
    let app = App::new(AppParts {
        watching,
        store: store.clone(),
        playbooks: Playbooks::builtin(),
        freeze,
        channel_freeze: channels.into_iter().collect(),
        policy,
        clock: clock.clone(),
        drills: Default::default(),
    });
    let state = AppState {
        app: app.clone(),
        api: Arc::new(clients()),
        metrics: shipgate::telemetry::metrics_handle(),
        ready: Arc::new(AtomicBool::new(true)),
        discord: None,
        slack: None,
        alertmanager: watching.then(|| {
            Arc::new(shipgate::config::AlertmanagerConfig {
                token: SecretString::from(ALERTMANAGER_TOKEN.to_owned()),
                match_labels: vec!["service".into()],
                severity_label: "severity".into(),
                critical_severities: vec!["critical".into()],
            })
        }),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let router = router(state, 64 * 1024);
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    TestApp { base, http: reqwest::Client::new(), clock, store, app, _dir: dir, server }
}

/// The app as `shipgate serve` builds it, its timers running on `timers`, on SQLite with
/// the test clients and the test clock. The [`shipgate::runtime::Running`] keeps the timers
/// until it is stopped.
pub async fn spawn_built(timers: shipgate::runtime::Timers) -> (TestApp, shipgate::runtime::Running) {
    spawn_built_with(timers, clients()).await
}

/// [`spawn_built`] with these API clients instead of the usual four.
pub async fn spawn_built_with(
    timers: shipgate::runtime::Timers,
    api: ApiConfig,
) -> (TestApp, shipgate::runtime::Running) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = shipgate::config::Config::default();
    config.database.url = format!("sqlite://{}", dir.path().join("shipgate.db").display());
    config.api = api;
    let clock = Arc::new(ManualClock::new(wednesday()));
    let running = shipgate::runtime::build_timed(&config, clock.clone(), timers).await.expect("shipgate builds");
    let (app, store) = (running.state.app.clone(), running.state.app.store().clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let router = router(running.state.clone(), config.server.max_body_bytes);
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    let t = TestApp { base, http: reqwest::Client::new(), clock, store, app, _dir: Some(dir), server };
    (t, running)
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub replayed: bool,
}

impl TestApp {
    pub async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
        self.call_with_key(method, path, token, body, None).await
    }

    pub async fn call_with_key(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Reply {
        let url = format!("{}{}", self.base, path);
        let mut request = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url),
        }
        .bearer_auth(token);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let replayed = response.headers().get("idempotent-replayed").is_some();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, body, replayed }
    }

    pub async fn ok(&self, path: &str, token: &str, body: Option<Value>) -> Value {
        let reply = self.call("POST", path, token, body).await;
        assert!(reply.status.is_success(), "POST {path} answered {}: {}", reply.status, reply.body);
        reply.body
    }

    pub async fn start(&self, service: &str, version: &str) -> String {
        let reply = self
            .call(
                "POST",
                "/api/v1/releases",
                RM_TOKEN,
                Some(json!({"service": service, "version": version, "git_sha": "3f9c2e1"})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["id"].as_str().expect("id").to_owned()
    }

    pub async fn get(&self, id: &str) -> Value {
        let reply = self.call("GET", &format!("/api/v1/releases/{id}"), CI_TOKEN, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body
    }

    pub async fn tick_all(&self, id: &str, token: &str) {
        let release = self.get(id).await;
        let step = release["current_step"]["id"].as_str().unwrap().to_owned();
        for item in release["current_step"]["items"].as_array().unwrap() {
            let item = item["id"].as_str().unwrap();
            self.ok(&format!("/api/v1/releases/{id}/steps/{step}/items/{item}/tick"), token, None).await;
        }
    }

    pub async fn tick_rollback(&self, id: &str, token: &str) {
        let release = self.get(id).await;
        for item in release["rollback"]["items"].as_array().unwrap() {
            let item = item["id"].as_str().unwrap();
            self.ok(&format!("/api/v1/releases/{id}/steps/rollback/items/{item}/tick"), token, None).await;
        }
    }

    pub async fn current_step(&self, id: &str) -> String {
        self.get(id).await["current_step"]["id"].as_str().unwrap().to_owned()
    }

    /// Drives a release of 1.4.0 from Step 1 to Step 6 (deploy-production).
    pub async fn to_production_step(&self, id: &str) {
        self.to_production_step_with(id, "1.4.0", DIGEST).await;
    }

    /// Drives a release through all eight steps to completion, with `digest` live after it.
    pub async fn complete(&self, id: &str, version: &str, digest: &str) {
        self.to_production_step_with(id, version, digest).await;
        self.ok(
            &format!("/api/v1/releases/{id}/deployments"),
            CI_TOKEN,
            Some(deployment("production", digest, "succeeded", "passed")),
        )
        .await;
        self.tick_all(id, CI_TOKEN).await;
        self.clock.advance(chrono::Duration::minutes(15));
        self.ok(&format!("/api/v1/releases/{id}/steps/monitor/approve"), RM_TOKEN, None).await;
        self.tick_all(id, CI_TOKEN).await;
        let done = self.ok(&format!("/api/v1/releases/{id}/steps/rollback-criteria/approve"), RM_TOKEN, None).await;
        assert_eq!(done["release"]["status"], "completed");
    }

    pub async fn to_production_step_with(&self, id: &str, version: &str, digest: &str) {
        self.tick_all(id, CI_TOKEN).await;
        self.ok(&format!("/api/v1/releases/{id}/steps/pre-flight/approve"), RM_TOKEN, None).await;
        self.ok(
            &format!("/api/v1/releases/{id}/test-results"),
            CI_TOKEN,
            Some(json!({"suite": "unit", "passed": 420, "failed": 0})),
        )
        .await;
        self.ok(
            &format!("/api/v1/releases/{id}/artifacts"),
            CI_TOKEN,
            Some(json!({"version": version, "git_sha": "3f9c2e1", "digest": digest, "size_bytes": 73400320})),
        )
        .await;
        self.tick_all(id, CI_TOKEN).await;
        self.tick_all(id, CI_TOKEN).await;
        self.ok(
            &format!("/api/v1/releases/{id}/deployments"),
            CI_TOKEN,
            Some(deployment("staging", digest, "succeeded", "passed")),
        )
        .await;
        self.tick_all(id, CI_TOKEN).await;
        // The release bot started it, so someone else approves the gate to production.
        self.ok(&format!("/api/v1/releases/{id}/steps/smoke-test/approve"), RM2_TOKEN, None).await;
        assert_eq!(self.current_step(id).await, "deploy-production");
    }
}

pub fn deployment(env: &str, digest: &str, outcome: &str, health: &str) -> Value {
    json!({"environment": env, "digest": digest, "outcome": outcome, "health": health, "strategy": "rolling"})
}

/// Generates one test per backend from an async test body taking `Backend`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await;
                }
            )*
        }
    };
}
pub mod discord_bot;
pub mod fake_discord;
pub mod fake_slack;
pub mod process;
pub mod prometheus;
pub mod seeded;
pub mod slack_app;
pub mod slack_release;
pub mod slack_walk;
pub mod walk_clock;
