//! `shipgate backup`: a consistent copy of the SQLite database, taken while shipgate
//! serves from it.
//!
//! A copy of the file alone is not a backup while a server runs: recent commits live in
//! the write-ahead log beside it. `VACUUM INTO` reads the database as one snapshot (WAL
//! included) and writes it to a new file; in WAL mode that read neither waits for the
//! server's writes nor holds them up, so the backup talks to the file directly and the
//! server needs no endpoint for it. PostgreSQL has its own tool for this: `pg_dump`.
//!
//! The copy is written beside its destination under a temporary name, checked, flushed
//! to disk and only then given its name, so an interrupted backup never leaves a partial
//! file where a backup is expected.

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions as _, Connection as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// What a backup holds, to say so when it is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    pub releases: i64,
    pub events: i64,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "the database is PostgreSQL ({0}); `shipgate backup` copies SQLite databases. Back PostgreSQL up with \
         pg_dump, e.g. `pg_dump --format=custom --file=shipgate.dump \"$SHIPGATE_DATABASE__URL\"`"
    )]
    Postgres(String),
    #[error("the database is in memory ({0}): it has no file to back up and ends with the server")]
    InMemory(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("invalid SQLite URL {url}: {error}")]
    InvalidUrl { url: String, error: String },
    #[error(
        "there is no database file at {0}; check database.url (a relative path is relative to the directory \
         shipgate serves from) or pass the server's --config"
    )]
    NoDatabase(PathBuf),
    #[error("{0} is not a shipgate database (it has no releases table); check database.url")]
    NotShipgate(PathBuf),
    #[error("{0} already exists; choose another name, or pass --force to replace it")]
    Exists(PathBuf),
    #[error("{0} is the database itself; back it up to another file")]
    SameFile(PathBuf),
    #[error("{0} is a directory; name the backup file, e.g. {1}")]
    IsDirectory(PathBuf, PathBuf),
    #[error("the folder {0} does not exist; create it first")]
    NoFolder(PathBuf),
    #[error("the backup's path {0} is not valid UTF-8, which SQLite needs; choose another name")]
    NotUtf8(PathBuf),
    #[error("{what}: {error}")]
    Sqlite { what: String, error: sqlx::Error },
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
    #[error("the copy in {0} failed SQLite's integrity check ({1}); the database was not changed, try again")]
    Corrupt(PathBuf, String),
}

fn sqlite(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> BackupError {
    let what = what.into();
    move |error| BackupError::Sqlite { what, error }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let what = what.into();
    move |error| BackupError::Io { what, error }
}

/// Copies the SQLite database `url` names into the file `to`, consistently even while a
/// server writes to it. An existing `to` is refused unless `replace`. Waits up to
/// `busy_timeout` for a lock another process holds on the database.
pub async fn backup(url: &str, to: &Path, replace: bool, busy_timeout: Duration) -> Result<BackupSummary, BackupError> {
    let redacted = super::url::redact(url);
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Err(BackupError::Postgres(redacted));
    }
    if !url.starts_with("sqlite:") {
        return Err(BackupError::Unsupported(super::unsupported_url_message(url)));
    }
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Err(BackupError::InMemory(redacted));
    }
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|error| BackupError::InvalidUrl { url: redacted.clone(), error: error.to_string() })?;
    let database = options.get_filename().to_path_buf();
    if !database.is_file() {
        return Err(BackupError::NoDatabase(database));
    }
    let target = Target::check(to, &database, replace)?;

    let result = copy(options, &database, &target.partial, busy_timeout).await;
    let summary = match result {
        Ok(summary) => summary,
        Err(error) => {
            let _ = std::fs::remove_file(&target.partial);
            return Err(error);
        }
    };
    target.put_in_place(replace).inspect_err(|_| {
        let _ = std::fs::remove_file(&target.partial);
    })?;
    let bytes = std::fs::metadata(to).map_err(io(format!("reading the size of {}", to.display())))?.len();
    Ok(BackupSummary { bytes, ..summary })
}

/// Where the backup goes, and the temporary name it is written under first.
struct Target {
    path: PathBuf,
    partial: PathBuf,
}

impl Target {
    fn check(to: &Path, database: &Path, replace: bool) -> Result<Target, BackupError> {
        if to.is_dir() {
            return Err(BackupError::IsDirectory(to.to_path_buf(), to.join("shipgate-backup.db")));
        }
        let folder = match to.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !folder.is_dir() {
            return Err(BackupError::NoFolder(folder));
        }
        if to.exists() {
            let same = std::fs::canonicalize(to).ok() == std::fs::canonicalize(database).ok();
            if same {
                return Err(BackupError::SameFile(to.to_path_buf()));
            }
            if !replace {
                return Err(BackupError::Exists(to.to_path_buf()));
            }
        }
        let name = to.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let partial = folder.join(format!(".{name}.partial-{}", std::process::id()));
        if partial.to_str().is_none() {
            return Err(BackupError::NotUtf8(to.to_path_buf()));
        }
        // A leftover of an earlier run with this process id: never a finished backup.
        let _ = std::fs::remove_file(&partial);
        Ok(Target { path: to.to_path_buf(), partial })
    }

    /// Gives the checked copy its name: replacing a file only when asked, and never
    /// leaving the name pointing at a partial copy.
    fn put_in_place(&self, replace: bool) -> Result<(), BackupError> {
        let shown = self.path.display();
        if replace {
            std::fs::rename(&self.partial, &self.path).map_err(io(format!("moving the backup into {shown}")))?;
        } else {
            // A hard link fails if the name was taken meanwhile, where a rename would
            // silently replace what took it.
            match std::fs::hard_link(&self.partial, &self.path) {
                Ok(()) => {
                    let _ = std::fs::remove_file(&self.partial);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(BackupError::Exists(self.path.clone()));
                }
                // A file system without hard links: check, then rename.
                Err(_) if !self.path.exists() => {
                    std::fs::rename(&self.partial, &self.path)
                        .map_err(io(format!("moving the backup into {shown}")))?;
                }
                Err(_) => return Err(BackupError::Exists(self.path.clone())),
            }
        }
        if let Some(folder) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            // The new name is durable once its folder is flushed; not every system allows it.
            if let Ok(folder) = std::fs::File::open(folder) {
                let _ = folder.sync_all();
            }
        }
        Ok(())
    }
}

/// `VACUUM INTO` the partial file, then check the copy on its own and flush it.
async fn copy(
    options: SqliteConnectOptions,
    database: &Path,
    partial: &Path,
    busy_timeout: Duration,
) -> Result<BackupSummary, BackupError> {
    let shown = database.display().to_string();
    // Read-write but never created, and no journal mode set: the server's file is only
    // read. (A read-only connection cannot always open a WAL database's shared memory.)
    let mut source = options
        .create_if_missing(false)
        .busy_timeout(busy_timeout)
        .disable_statement_logging()
        .connect()
        .await
        .map_err(sqlite(format!("opening the database {shown}")))?;
    let result = vacuum_into(&mut source, database, partial).await;
    let _ = source.close().await;
    result?;

    let partial_shown = partial.display().to_string();
    let mut copy = SqliteConnectOptions::new()
        .filename(partial)
        .read_only(true)
        // Nothing else opens the copy yet: read it as a plain file, with no WAL to look for.
        .immutable(true)
        .disable_statement_logging()
        .connect()
        .await
        .map_err(sqlite(format!("opening the copy {partial_shown}")))?;
    let checked = check_copy(&mut copy, partial).await;
    let _ = copy.close().await;
    let summary = checked?;
    std::fs::File::open(partial)
        .and_then(|file| file.sync_all())
        .map_err(io(format!("flushing the copy {partial_shown} to disk")))?;
    Ok(summary)
}

async fn vacuum_into(source: &mut SqliteConnection, database: &Path, partial: &Path) -> Result<(), BackupError> {
    let shown = database.display().to_string();
    let tables: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'releases'")
            .fetch_one(&mut *source)
            .await
            .map_err(sqlite(format!("reading {shown}")))?;
    if tables == 0 {
        return Err(BackupError::NotShipgate(database.to_path_buf()));
    }
    let into = partial.to_str().ok_or_else(|| BackupError::NotUtf8(partial.to_path_buf()))?;
    sqlx::query("VACUUM INTO ?")
        .bind(into)
        .execute(&mut *source)
        .await
        .map_err(sqlite(format!("copying {shown} into {into}")))?;
    Ok(())
}

async fn check_copy(copy: &mut SqliteConnection, partial: &Path) -> Result<BackupSummary, BackupError> {
    let shown = partial.display().to_string();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut *copy)
        .await
        .map_err(sqlite(format!("checking the copy {shown}")))?;
    if integrity != "ok" {
        return Err(BackupError::Corrupt(partial.to_path_buf(), integrity));
    }
    let releases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM releases")
        .fetch_one(&mut *copy)
        .await
        .map_err(sqlite(format!("counting the releases in {shown}")))?;
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(&mut *copy)
        .await
        .map_err(sqlite(format!("counting the events in {shown}")))?;
    Ok(BackupSummary { releases, events, bytes: 0 })
}
