//! The store's production hold is the last word: when the domain's own check is bypassed
//! (here a trigger takes the hold for another release inside the very transaction that
//! would take it), the store refuses, and the answer is the domain's refusal, 409
//! `production_held` naming the holder, never a 500; nothing is written.

use crate::common;

use common::*;
use reqwest::StatusCode;
use shipgate::store::testing;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::Connection;

/// Whenever a release enters the production step, another release ("intruder") takes the
/// hold first, in the same transaction: the domain, reading the holds before it decides,
/// never sees it.
const INTRUDER: &str = "CREATE TRIGGER intruder AFTER INSERT ON events \
     WHEN NEW.kind = 'step_entered' AND json_extract(NEW.payload, '$.step') = 'deploy-production' \
     BEGIN INSERT INTO production_holds (service, release_id, since) \
           VALUES ('api', 'intruder', '2026-12-02T10:00:00.000000Z') ON CONFLICT DO NOTHING; END";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_the_domain_did_not_see_is_refused_409_production_held_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("shipgate.db");
    let store = testing::fresh_sqlite(&file).await;
    let t = spawn_on(store, Some(dir)).await;
    let mut conn =
        SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&file)).await.expect("second connection");
    sqlx::raw_sql(INTRUDER).execute(&mut conn).await.expect("install the trigger");

    let id = t.start("api", "1.4.0").await;
    t.tick_all(&id, CI_TOKEN).await;
    t.ok(&format!("/api/v1/releases/{id}/steps/pre-flight/approve"), RM_TOKEN, None).await;
    t.ok(
        &format!("/api/v1/releases/{id}/test-results"),
        CI_TOKEN,
        Some(serde_json::json!({"suite": "unit", "passed": 420, "failed": 0})),
    )
    .await;
    t.ok(
        &format!("/api/v1/releases/{id}/artifacts"),
        CI_TOKEN,
        Some(serde_json::json!({"version": "1.4.0", "git_sha": "3f9c2e1", "digest": DIGEST, "size_bytes": 73400320})),
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
    let before = t.get(&id).await["seq"].clone();

    let refused = t.call("POST", &format!("/api/v1/releases/{id}/steps/smoke-test/approve"), RM2_TOKEN, None).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert_eq!(refused.body["code"], "production_held", "{}", refused.body);
    let message = refused.body["message"].as_str().unwrap();
    assert!(message.contains("production for api is held by release intruder"), "{message}");
    assert_eq!(t.get(&id).await["seq"], before, "nothing was written");
    assert_eq!(t.current_step(&id).await, "smoke-test");

    // Once the trigger is gone, the same approval goes through.
    sqlx::raw_sql("DROP TRIGGER intruder").execute(&mut conn).await.expect("drop the trigger");
    t.ok(&format!("/api/v1/releases/{id}/steps/smoke-test/approve"), RM2_TOKEN, None).await;
    assert_eq!(t.current_step(&id).await, "deploy-production");
    conn.close().await.expect("close");
}
