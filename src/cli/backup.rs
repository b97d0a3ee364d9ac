//! `shipgate backup FILE`: a consistent copy of the SQLite database, safe to take while
//! `shipgate serve` runs (see [`crate::store::backup`]). It reads the database the
//! configuration names directly, so it needs no running server and no API token.

use super::{EXIT_OK, EXIT_USAGE};
use crate::config::Config;
use crate::store::backup;
use std::path::Path;

/// Runs `shipgate backup`, printing to stdout and stderr; returns the exit code.
pub async fn run_backup(file: &Path, config: Option<&Path>, force: bool) -> anyhow::Result<i32> {
    // API clients' tokens do not matter here: the backup runs where only the database is known.
    let config = match Config::load_without_clients(config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let database = &config.database;
    match backup::backup(&database.url, file, force, database.busy_policy().timeout).await {
        Ok(summary) => {
            println!(
                "backed up {} to {}: {} release{}, {} event{}, {} bytes",
                database.redacted_url(),
                file.display(),
                summary.releases,
                plural(summary.releases),
                summary.events,
                plural(summary.events),
                summary.bytes
            );
            Ok(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(EXIT_USAGE)
        }
    }
}

fn plural(n: i64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
