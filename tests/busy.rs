//! Another process holding the SQLite file's write lock (a backup, a manual `sqlite3`
//! session): commands wait for it, are retried from the start, and if it is still held
//! are answered 503 `database_busy` with `Retry-After`, never 500, and write nothing.

use crate::common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use shipgate::store::{testing, BusyPolicy};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::Connection;
use std::path::Path;
use std::time::Duration;

/// Both tests read the process-wide count of busy retries: one at a time, so that one
/// test's retries are not taken for the other's.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A second connection to the database file, as another process would have, holding the
/// write lock until [`OtherWriter::release`].
struct OtherWriter(SqliteConnection);

impl OtherWriter {
    async fn lock(file: &Path) -> OtherWriter {
        let mut conn = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(file))
            .await
            .expect("second connection");
        sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut conn).await.expect("take the write lock");
        OtherWriter(conn)
    }

    async fn release(mut self) {
        sqlx::raw_sql("ROLLBACK").execute(&mut self.0).await.expect("release the write lock");
        self.0.close().await.expect("close the second connection");
    }
}

async fn app_waiting(busy: BusyPolicy) -> (TestApp, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("shipgate.db");
    let store = testing::fresh_sqlite_with(&file, busy).await;
    (spawn_on(store, Some(dir)).await, file)
}

/// POSTs a tick of the first item of the release's current step under `key`.
async fn tick_first_item(t: &TestApp, id: &str, key: &str) -> reqwest::Response {
    let release = t.get(id).await;
    let step = release["current_step"]["id"].as_str().expect("step id");
    let item = release["current_step"]["items"][0]["id"].as_str().expect("item id");
    t.http
        .post(format!("{}/api/v1/releases/{id}/steps/{step}/items/{item}/tick", t.base))
        .bearer_auth(CI_TOKEN)
        .header("Idempotency-Key", key)
        .send()
        .await
        .expect("request")
}

fn history(release: &Value) -> Vec<Value> {
    release["history"].as_array().expect("history").clone()
}

/// How many times a write has been begun again after finding the file busy, in this process.
async fn busy_retries_so_far(t: &TestApp) -> u64 {
    let text = t.http.get(format!("{}/metrics", t.base)).send().await.expect("metrics").text().await.expect("text");
    text.lines()
        .filter(|line| line.starts_with("shipgate_database_busy_total") && line.contains("outcome=\"retried\""))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|count| count as u64)
        .sum()
}

#[tokio::test]
async fn a_command_meeting_a_held_write_lock_is_answered_503_writes_nothing_and_succeeds_once_it_is_released() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let (t, file) = app_waiting(BusyPolicy { timeout: Duration::from_millis(100), retries: 1 }).await;
    let id = t.start("api", "1.4.0").await;
    let before = history(&t.get(&id).await);

    let other = OtherWriter::lock(&file).await;
    let refused = tick_first_item(&t, &id, "tick-while-busy").await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry_after = refused.headers().get("retry-after").expect("Retry-After header").to_str().unwrap().to_owned();
    assert_eq!(retry_after, "1", "100 ms rounds up to one whole second");
    let body: Value = refused.json().await.expect("JSON body");
    assert_eq!(body["code"], "database_busy", "{body}");
    let message = body["message"].as_str().expect("message");
    assert!(message.contains("busy with another writer") && message.contains("retry after 1 seconds"), "{message}");
    // Reads go on beside another writer (WAL), and show nothing written.
    assert_eq!(history(&t.get(&id).await), before);

    other.release().await;
    assert_eq!(history(&t.get(&id).await), before, "nothing was written while the file was locked");
    let retried = tick_first_item(&t, &id, "tick-while-busy").await;
    assert_eq!(retried.status(), StatusCode::OK);
    assert!(retried.headers().get("idempotent-replayed").is_none(), "the refusal stored no answer to replay");
    let after = history(&t.get(&id).await);
    assert_eq!(after.len(), before.len() + 1, "{after:#?}");
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(after[before.len()]["type"], "item_ticked", "{after:#?}");
}

#[tokio::test]
async fn a_command_waiting_on_a_write_lock_is_written_once_when_the_lock_is_released() {
    let _alone = ONE_AT_A_TIME.lock().await;
    // Short waits, many retries: the command keeps trying for as long as the test needs.
    let (t, file) = app_waiting(BusyPolicy { timeout: Duration::from_millis(50), retries: 10_000 }).await;
    let id = t.start("api", "1.4.0").await;
    let before = history(&t.get(&id).await);
    let retries_before = busy_retries_so_far(&t).await;

    let other = OtherWriter::lock(&file).await;
    let t = std::sync::Arc::new(t);
    let command = tokio::spawn({
        let (t, id) = (t.clone(), id.clone());
        async move { tick_first_item(&t, &id, "tick-after-wait").await }
    });
    // Released only once the command has found the file busy and begun again.
    while busy_retries_so_far(&t).await == retries_before {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    other.release().await;

    let answered = command.await.expect("command task");
    assert_eq!(answered.status(), StatusCode::OK);
    let after = history(&t.get(&id).await);
    assert_eq!(after.len(), before.len() + 1, "written once: {after:#?}");
    assert_eq!(after[before.len()]["type"], "item_ticked", "{after:#?}");
    let again = tick_first_item(&t, &id, "tick-after-wait").await;
    assert_eq!(again.status(), StatusCode::OK);
    assert!(again.headers().get("idempotent-replayed").is_some(), "a repeat is answered from the stored answer");
    assert_eq!(history(&t.get(&id).await).len(), after.len());
}
