//! The retention timer: removes delivered outbox rows and stored answers once they are
//! older than their configured age, shortly after start and then every `every`. Rows go in
//! batches of [`BATCH_SIZE`] with a pause between batches, so a large first sweep never
//! holds the database's writer for long. Release histories (events) are never removed,
//! and neither is an undelivered outbox row: those are counted by the outbox gauges and
//! `/readyz` instead.
//!
//! An answer removed here makes a later repeat of its request a new request, decided
//! afresh; the age of answers is therefore the window in which a repeat is a replay.
//! Likewise a delivered row's key no longer keeps `Store::enqueue_once` from queueing it
//! again: a card refresh for a watch that ended (queued once per watch) is queued anew if
//! the release still waits at that gate, which edits the card to what it already shows.

use super::App;
use crate::store::{RetainedTable, Store, StoreError};
use chrono::{DateTime, Utc};
use std::future::Future;
use std::time::Duration;

/// Rows one statement removes at most: a few milliseconds of the writer's time.
pub const BATCH_SIZE: u32 = 500;
/// The writer is left to others this long between two batches.
pub const PAUSE_BETWEEN_BATCHES: Duration = Duration::from_millis(200);
/// The first sweep waits this long after start (or `every`, if shorter), leaving startup
/// and its first requests alone.
pub const FIRST_SWEEP_AFTER: Duration = Duration::from_secs(60);

/// How long rows are kept; `None` keeps them forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Stored answers to requests, by when they were answered.
    pub answers: Option<chrono::Duration>,
    /// Delivered outbox rows, by when they were delivered.
    pub delivered_outbox: Option<chrono::Duration>,
    /// How often to sweep.
    pub every: Duration,
}

impl Retention {
    fn ages(&self) -> [(RetainedTable, Option<chrono::Duration>); 2] {
        [(RetainedTable::Answers, self.answers), (RetainedTable::DeliveredOutbox, self.delivered_outbox)]
    }
}

/// Rows one sweep removed, by table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub answers: u64,
    pub delivered_outbox: u64,
}

/// Removes every row of each table older than its age at `now`, `batch_size` rows per
/// statement with `pause` between statements. Counts each batch in
/// `shipgate_retention_removed_total` as it goes, so an error midway still counts what
/// was removed.
pub async fn sweep(
    store: &Store,
    retention: &Retention,
    now: DateTime<Utc>,
    batch_size: u32,
    pause: Duration,
) -> Result<Removed, StoreError> {
    let mut removed = Removed::default();
    for (table, age) in retention.ages() {
        let Some(age) = age else { continue };
        let before = now - age;
        loop {
            let batch = store.remove_older_than(table, before, batch_size).await?;
            metrics::counter!("shipgate_retention_removed_total", "table" => table.as_str()).increment(batch);
            match table {
                RetainedTable::Answers => removed.answers += batch,
                RetainedTable::DeliveredOutbox => removed.delivered_outbox += batch,
            }
            if batch < u64::from(batch_size) {
                break;
            }
            tokio::time::sleep(pause).await;
        }
    }
    Ok(removed)
}

/// Sweeps shortly after start and then every `retention.every` until `stop` resolves;
/// cutoffs are taken from the app's clock. Does nothing when both tables are kept forever.
pub async fn run(app: App, retention: Retention, stop: impl Future<Output = ()>) {
    if retention.answers.is_none() && retention.delivered_outbox.is_none() {
        tracing::info!("retention: answers and delivered outbox rows are kept forever");
        return;
    }
    tokio::pin!(stop);
    let mut next = FIRST_SWEEP_AFTER.min(retention.every);
    loop {
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(next) => {}
        }
        next = retention.every;
        // A sweep stops between batches when asked to stop; what it removed is already gone.
        let swept = tokio::select! {
            () = &mut stop => return,
            swept = sweep(app.store(), &retention, app.now(), BATCH_SIZE, PAUSE_BETWEEN_BATCHES) => swept,
        };
        match swept {
            Ok(removed) if removed == Removed::default() => {
                tracing::debug!("retention: nothing old enough to remove")
            }
            Ok(removed) => tracing::info!(
                answers = removed.answers,
                delivered_outbox = removed.delivered_outbox,
                "retention: removed old answers and delivered outbox rows"
            ),
            Err(e) => tracing::warn!(error = %e, "retention: removing old rows failed; trying again next round"),
        }
    }
}
