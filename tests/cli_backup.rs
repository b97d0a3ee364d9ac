//! `shipgate backup FILE`: a consistent copy of the SQLite database taken while
//! `shipgate serve` writes to it, and clear refusals that write nothing.

use crate::common;

use common::process::{free_port, write_config, Server, PROCESS_RM_TOKEN};
use sqlx::Connection;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Runs `shipgate backup ARGS` in `dir`; returns (exit code, stdout, stderr).
fn backup(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shipgate"));
    command.arg("backup").args(args).current_dir(dir);
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("SHIPGATE_")) {
        command.env_remove(key);
    }
    let output = command.envs(env.iter().copied()).output().expect("run shipgate backup");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The ids in the `releases` table of the SQLite file at `path`, opened read-only.
async fn release_ids(path: &Path) -> BTreeSet<String> {
    let mut connection =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", path.display())).await.unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut connection).await.unwrap();
    assert_eq!(integrity, "ok");
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM releases").fetch_all(&mut connection).await.unwrap();
    ids.into_iter().collect()
}

/// While clients keep starting releases, a backup holds every release acknowledged before
/// it began, and opens on its own as a whole database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_the_server_writes_has_every_acknowledged_release() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let database = dir.path().join("shipgate.db");
    let config = write_config(dir.path(), port, &format!("sqlite://{}", database.display()), "");
    let mut server = Server::start(dir.path(), Some(&config), port);
    server.ready().await;

    // Four writers start releases until told to stop, keeping the ids acknowledged (201).
    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..4 {
        let (acknowledged, stop, base) = (acknowledged.clone(), stop.clone(), server.base.clone());
        writers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let answer = http
                    .post(format!("{base}/api/v1/releases"))
                    .bearer_auth(PROCESS_RM_TOKEN)
                    .json(&serde_json::json!({"service": format!("svc-{writer}-{n}"), "version": "1.0.0", "git_sha": "3f9c2e1"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 201);
                let body: serde_json::Value = answer.json().await.unwrap();
                acknowledged.lock().unwrap().insert(body["id"].as_str().unwrap().to_owned());
            }
        }));
    }
    while acknowledged.lock().unwrap().len() < 40 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let before_backup = acknowledged.lock().unwrap().clone();
    let config_arg = config.display().to_string();
    let dir_path = dir.path().to_owned();
    let (code, stdout, stderr) =
        tokio::task::spawn_blocking(move || backup(&dir_path, &["copy.db", "--config", &config_arg], &[]))
            .await
            .unwrap();
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with(&format!("backed up sqlite://{} to copy.db: ", database.display())), "{stdout}");

    let copied = release_ids(&dir.path().join("copy.db")).await;
    let missing: Vec<&String> = before_backup.difference(&copied).collect();
    assert!(missing.is_empty(), "acknowledged before the backup began, missing from it: {missing:?}");
    // The copy holds only acknowledged releases, and says how many.
    let all = acknowledged.lock().unwrap().clone();
    assert!(copied.is_subset(&all), "the copy has releases no client was told of");
    assert!(stdout.contains(&format!(": {} releases, ", copied.len())), "{stdout}");
    assert_eq!(server.terminate(), Some(0));
}

/// A backup replaces nothing unless asked, never backs a database up onto itself, never
/// creates a database that is not there, and sends PostgreSQL to pg_dump; each refusal
/// exits 2 and writes nothing.
#[test]
fn backup_refusals_say_what_to_do_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    // A shipgate database, made the way a deploy makes it.
    let migrated = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["migrate"])
        .current_dir(path)
        .env("SHIPGATE_DATABASE__URL", "sqlite://shipgate.db")
        .output()
        .unwrap();
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    let shipgate_db = [("SHIPGATE_DATABASE__URL", "sqlite://shipgate.db")];

    std::fs::write(path.join("kept.db"), "an earlier backup").unwrap();
    let (code, stdout, stderr) = backup(path, &["kept.db"], &shipgate_db);
    assert_eq!((code, stdout.as_str()), (2, ""), "{stderr}");
    assert_eq!(stderr, "error: kept.db already exists; choose another name, or pass --force to replace it\n");
    assert_eq!(std::fs::read_to_string(path.join("kept.db")).unwrap(), "an earlier backup");
    let (code, stdout, stderr) = backup(path, &["kept.db", "--force"], &shipgate_db);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "backed up sqlite://shipgate.db to kept.db: 0 releases, 0 events, ".to_owned()
            + &format!("{} bytes\n", std::fs::metadata(path.join("kept.db")).unwrap().len())
    );

    let (code, _, stderr) = backup(path, &["shipgate.db", "--force"], &shipgate_db);
    assert_eq!(code, 2);
    assert_eq!(stderr, "error: shipgate.db is the database itself; back it up to another file\n");

    let (code, _, stderr) = backup(path, &["copy.db"], &[("SHIPGATE_DATABASE__URL", "sqlite://elsewhere.db")]);
    assert_eq!(code, 2);
    assert!(stderr.starts_with("error: there is no database file at elsewhere.db; check database.url"), "{stderr}");
    assert!(!path.join("elsewhere.db").exists(), "no database is created");

    std::fs::write(path.join("notes.db"), "").unwrap();
    let (code, _, stderr) = backup(path, &["copy.db"], &[("SHIPGATE_DATABASE__URL", "sqlite://notes.db")]);
    assert_eq!(code, 2);
    assert_eq!(stderr, "error: notes.db is not a shipgate database (it has no releases table); check database.url\n");

    let (code, _, stderr) = backup(
        path,
        &["copy.db"],
        &[("SHIPGATE_DATABASE__URL", "postgres://shipgate:Backup-Secret-81@db.internal/shipgate")],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("the database is PostgreSQL") && stderr.contains("pg_dump"), "{stderr}");
    assert!(stderr.contains("db.internal") && !stderr.contains("Backup-Secret-81"), "{stderr}");

    let (code, _, stderr) = backup(path, &["no/such/folder/copy.db"], &shipgate_db);
    assert_eq!(code, 2);
    assert_eq!(stderr, "error: the folder no/such/folder does not exist; create it first\n");

    // Nothing but the database, its backup and the files written above.
    let mut left: Vec<String> =
        std::fs::read_dir(path).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    left.retain(|name| !name.starts_with("shipgate.db"));
    assert_eq!(left, ["kept.db", "notes.db"]);
}
