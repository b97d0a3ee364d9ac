//! Fresh, migrated stores for tests, one per test: a SQLite file in a directory the test
//! owns, or a brand-new PostgreSQL database (`shipgate_test_<uuid>`) created through an
//! admin URL. Test databases are left behind for inspection; drop them with
//! `psql -c "DROP DATABASE shipgate_test_..."` or a fresh cluster.

use super::{BusyPolicy, PostgresStore, SqliteStore, Store, StoreError};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection;
use std::path::Path;
use std::str::FromStr;

/// The PostgreSQL admin URL tests run against, from `TEST_DATABASE_URL`; `None` when it
/// is unset or empty, and PostgreSQL tests are skipped.
///
/// A skipped test still reports `ok`, so the first skip in a test binary says so on
/// stderr itself: the test harness captures `eprintln!`, not writes to the stream.
pub fn postgres_url_from_env() -> Option<String> {
    let url = std::env::var("TEST_DATABASE_URL").ok().filter(|url| !url.trim().is_empty());
    if url.is_none() {
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "note: TEST_DATABASE_URL is not set: the PostgreSQL tests here pass without running; \
                 set it (e.g. postgres://postgres@127.0.0.1:5432/test) to run them"
            );
        });
    }
    url
}

/// A migrated SQLite store at `path`: a database file (created), or a directory to
/// create `shipgate.db` in. Panics if the store cannot be opened: it is for tests.
pub async fn fresh_sqlite(path: &Path) -> Store {
    fresh_sqlite_with(path, BusyPolicy::DEFAULT).await
}

/// Like [`fresh_sqlite`], waiting for another writer of the file as `busy` says.
pub async fn fresh_sqlite_with(path: &Path, busy: BusyPolicy) -> Store {
    let file = if path.is_dir() { path.join("shipgate.db") } else { path.to_path_buf() };
    let store = match SqliteStore::connect_file(&file, 4, busy).await {
        Ok(store) => Store::Sqlite(store),
        Err(error) => panic!("cannot open a SQLite test store at {}: {error}", file.display()),
    };
    if let Err(error) = store.migrate().await {
        panic!("cannot migrate the SQLite test store at {}: {error}", file.display());
    }
    store
}

/// A migrated store on a new, empty database created through `admin_url` (a user
/// allowed to `CREATE DATABASE`).
pub async fn fresh_postgres(admin_url: &str) -> Result<Store, StoreError> {
    let admin_options = PgConnectOptions::from_str(admin_url)
        .map_err(|error| StoreError::Config(format!("invalid PostgreSQL URL: {error}")))?;
    let name = format!("shipgate_test_{}", uuid::Uuid::new_v4().simple());

    let mut admin = PgConnection::connect_with(&admin_options).await?;
    // CREATE DATABASE takes no bind parameters; the name is generated above, never input.
    sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
    admin.close().await?;

    let store = Store::Postgres(PostgresStore::connect_options(admin_options.database(&name), 4).await?);
    store.migrate().await?;
    Ok(store)
}
