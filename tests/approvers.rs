//! A release no one else can approve is not a dead end found at the gate: the start warns,
//! and a refused approval says who could give it, as configured.

use crate::common;

use common::*;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::json;
use shipgate::config::{ApiClient, ApiConfig};

const LONE_RM_TOKEN: &str = "lone-rm-token-0123456789";

/// CI, and one release-manager client: whatever that client starts, nobody else can
/// pass the gates that need someone other than the starter.
fn one_release_manager() -> ApiConfig {
    let client = |name: &str, token: &str, roles: &[&str]| ApiClient {
        name: name.into(),
        token: SecretString::from(token.to_owned()),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
    };
    ApiConfig {
        clients: vec![
            client("ci", CI_TOKEN, &["engineer"]),
            client("release-bot", LONE_RM_TOKEN, &["release-manager", "engineer"]),
        ],
    }
}

fn timers() -> shipgate::runtime::Timers {
    shipgate::runtime::Timers {
        stall_sweep_every: std::time::Duration::from_secs(3600),
        retention_every: std::time::Duration::from_secs(3600),
        drill_sweep_every: std::time::Duration::from_secs(3600),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_only_its_starter_could_approve_is_warned_about_and_refusals_say_who_could() {
    let (t, running) = spawn_built_with(timers(), one_release_manager()).await;
    let start = json!({"service": "api", "version": "1.4.0", "git_sha": "3f9c2e1"});
    let started = t.call("POST", "/api/v1/releases", LONE_RM_TOKEN, Some(start.clone())).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    let warnings: Vec<&str> = started.body["warnings"].as_array().unwrap().iter().filter_map(|w| w.as_str()).collect();
    assert!(!warnings.is_empty(), "{}", started.body);
    assert!(
        warnings.iter().any(|w| w.contains("Step 5") && w.contains("no one else holds the role release-manager")),
        "{warnings:?}"
    );
    let id = started.body["id"].as_str().unwrap().to_owned();

    // Started by CI, the release-manager client can approve every gate: no warning.
    let by_ci = t
        .call(
            "POST",
            "/api/v1/releases",
            CI_TOKEN,
            Some(json!({"service": "web", "version": "2.0.0", "git_sha": "3f9c2e1"})),
        )
        .await;
    assert_eq!(by_ci.body["warnings"], json!([]), "{}", by_ci.body);

    // At the gate into production the starter is refused, and told that nobody else holds
    // the role; CI lacks the role, and is told who holds it.
    t.tick_all(&id, CI_TOKEN).await;
    t.ok(&format!("/api/v1/releases/{id}/steps/pre-flight/approve"), LONE_RM_TOKEN, None).await;
    t.ok(
        &format!("/api/v1/releases/{id}/test-results"),
        CI_TOKEN,
        Some(json!({"suite": "unit", "passed": 420, "failed": 0})),
    )
    .await;
    t.ok(
        &format!("/api/v1/releases/{id}/artifacts"),
        CI_TOKEN,
        Some(json!({"version": "1.4.0", "git_sha": "3f9c2e1", "digest": DIGEST, "size_bytes": 73400320})),
    )
    .await;
    t.tick_all(&id, CI_TOKEN).await;
    t.tick_all(&id, CI_TOKEN).await;
    t.ok(
        &format!("/api/v1/releases/{id}/deployments"),
        CI_TOKEN,
        Some(deployment("staging", DIGEST, "succeeded", "passed")),
    )
    .await;
    t.tick_all(&id, CI_TOKEN).await;
    let gate = format!("/api/v1/releases/{id}/steps/smoke-test/approve");
    let own = t.call("POST", &gate, LONE_RM_TOKEN, None).await;
    assert_eq!(own.body["code"], "self_approval", "{}", own.body);
    let message = own.body["message"].as_str().unwrap();
    assert!(message.contains("No one else holds the role release-manager"), "{message}");
    assert!(message.contains("abort the release"), "the way out is named: {message}");
    let ci = t.call("POST", &gate, CI_TOKEN, None).await;
    assert_eq!(ci.body["code"], "not_allowed", "{}", ci.body);
    assert!(
        ci.body["message"].as_str().unwrap().contains("API client release-bot holds the role release-manager"),
        "{}",
        ci.body
    );
    running.stop().await;
}
