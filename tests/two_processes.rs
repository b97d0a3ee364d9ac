//! Two `shipgate serve` processes on one PostgreSQL: hundreds of concurrent, conflicting
//! requests, and every transition happens exactly once. Runs when TEST_DATABASE_URL is set.

use crate::common;

use common::process::{
    free_port, fresh_postgres_url, write_config, Server, PROCESS_CI_TOKEN, PROCESS_RM2_TOKEN, PROCESS_RM_TOKEN,
};
use serde_json::{json, Value};
use std::sync::Arc;

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

struct Pair {
    a: Server,
    b: Server,
    http: reqwest::Client,
}

impl Pair {
    fn base(&self, i: usize) -> &str {
        if i % 2 == 0 {
            &self.a.base
        } else {
            &self.b.base
        }
    }

    async fn post(&self, i: usize, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.post(format!("{}{path}", self.base(i))).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn ok(&self, i: usize, path: &str, token: &str, body: Option<Value>) -> Value {
        let (status, body) = self.post(i, path, token, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {body}");
        body
    }

    async fn get(&self, i: usize, id: &str) -> Value {
        self.http
            .get(format!("{}/api/v1/releases/{id}", self.base(i)))
            .bearer_auth(PROCESS_CI_TOKEN)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json")
    }

    async fn tick_all(&self, i: usize, id: &str) {
        let release = self.get(i, id).await;
        let step = release["current_step"]["id"].as_str().unwrap().to_owned();
        for item in release["current_step"]["items"].as_array().unwrap() {
            let item = item["id"].as_str().unwrap();
            self.ok(i, &format!("/api/v1/releases/{id}/steps/{step}/items/{item}/tick"), PROCESS_CI_TOKEN, None).await;
        }
    }

    /// A release of `service` with the smoke test done, waiting for the gate to production.
    async fn at_production_gate(&self, service: &str) -> String {
        let start = self
            .ok(
                0,
                "/api/v1/releases",
                PROCESS_RM_TOKEN,
                Some(json!({"service": service, "version": "1.0.0", "git_sha": "3f9c2e1"})),
            )
            .await;
        let id = start["id"].as_str().unwrap().to_owned();
        self.tick_all(1, &id).await;
        self.ok(0, &format!("/api/v1/releases/{id}/steps/pre-flight/approve"), PROCESS_RM_TOKEN, None).await;
        self.ok(
            1,
            &format!("/api/v1/releases/{id}/test-results"),
            PROCESS_CI_TOKEN,
            Some(json!({"suite": "all", "passed": 5, "failed": 0})),
        )
        .await;
        self.ok(
            0,
            &format!("/api/v1/releases/{id}/artifacts"),
            PROCESS_CI_TOKEN,
            Some(json!({"version": "1.0.0", "git_sha": "3f9c2e1", "digest": DIGEST, "size_bytes": 100})),
        )
        .await;
        self.tick_all(1, &id).await;
        self.tick_all(0, &id).await;
        self.ok(
            1,
            &format!("/api/v1/releases/{id}/deployments"),
            PROCESS_CI_TOKEN,
            Some(json!({"environment": "staging", "digest": DIGEST, "outcome": "succeeded", "health": "passed"})),
        )
        .await;
        self.tick_all(0, &id).await;
        id
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_apply_each_transition_once() {
    let Some(admin) = shipgate::store::testing::postgres_url_from_env() else {
        eprintln!("TEST_DATABASE_URL is not set: skipping the two-process test");
        return;
    };
    let url = fresh_postgres_url(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = Server::start(dir.path(), Some(&write_config(dir.path(), port_a, &url, "")), port_a);
    a.ready().await;
    // The second process starts on the already-migrated database.
    let mut b = Server::start(dir.path(), Some(&write_config(dir.path(), port_b, &url, "")), port_b);
    b.ready().await;
    let pair = Arc::new(Pair { a, b, http: reqwest::Client::new() });

    // 1. One release, 400 conflicting clicks split over both processes.
    let start = pair
        .ok(
            0,
            "/api/v1/releases",
            PROCESS_RM_TOKEN,
            Some(json!({"service": "api", "version": "1.0.0", "git_sha": "3f9c2e1"})),
        )
        .await;
    let id = start["id"].as_str().unwrap().to_owned();
    pair.tick_all(1, &id).await;
    let mut tasks = Vec::new();
    for i in 0..400 {
        let pair = pair.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let (path, token) = match i % 4 {
                0 | 1 => (
                    format!("/api/v1/releases/{id}/steps/pre-flight/approve"),
                    if i % 8 < 4 { PROCESS_RM_TOKEN } else { PROCESS_CI_TOKEN },
                ),
                2 => (format!("/api/v1/releases/{id}/steps/pre-flight/items/no-blockers/untick"), PROCESS_CI_TOKEN),
                _ => (format!("/api/v1/releases/{id}/steps/pre-flight/items/no-blockers/tick"), PROCESS_CI_TOKEN),
            };
            pair.post(i, &path, token, None).await.0
        }));
    }
    for task in tasks {
        let status = task.await.unwrap();
        assert!(status == 200 || status == 409, "unexpected status {status}");
    }
    let release = pair.get(1, &id).await;
    let history = release["history"].as_array().unwrap();
    assert_eq!(history.iter().filter(|e| e["type"] == "gate_passed").count(), 1, "the gate passed exactly once");
    assert_eq!(history.iter().filter(|e| e["type"] == "step_entered").count(), 1);
    let seqs: Vec<u64> = history.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "no event lost or duplicated");
    assert_eq!(pair.get(0, &id).await["seq"], release["seq"], "both processes see the same history");

    // 2. Production holds: for each of 10 services, two releases race for production
    //    through different processes; exactly one wins each race.
    let mut contenders = Vec::new();
    for s in 0..10 {
        let service = format!("svc-{s}");
        let first = pair.at_production_gate(&service).await;
        let second = pair.at_production_gate(&service).await;
        contenders.push((first, second));
    }
    let mut races = Vec::new();
    for (first, second) in contenders.clone() {
        for (i, id) in [(0, first), (1, second)] {
            let pair = pair.clone();
            races.push(tokio::spawn(async move {
                pair.post(i, &format!("/api/v1/releases/{id}/steps/smoke-test/approve"), PROCESS_RM2_TOKEN, None).await
            }));
        }
    }
    let mut outcomes = Vec::new();
    for race in races {
        outcomes.push(race.await.unwrap());
    }
    for pair_outcome in outcomes.chunks(2) {
        let won = pair_outcome.iter().filter(|(status, _)| *status == 200).count();
        let held = pair_outcome.iter().filter(|(_, body)| body["code"] == "production_held").count();
        assert_eq!((won, held), (1, 1), "{pair_outcome:?}");
    }

    // 3. Both stop cleanly on SIGTERM.
    let pair = Arc::into_inner(pair).expect("no requests left in flight");
    assert_eq!(pair.a.terminate(), Some(0));
    assert_eq!(pair.b.terminate(), Some(0));
}
