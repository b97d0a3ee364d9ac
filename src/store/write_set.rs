//! Commits turned into rows ready to write, the same for both backends. JSON is
//! serialised and sequence numbers are checked here, before a write transaction opens,
//! so the writer holds its lock for the database work only.

use super::model::{Commit, HoldChange, LiveChange, ReleaseRow};
use super::row_time;
use crate::domain::RequestId;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// One event of `events`.
pub(crate) struct EventRow<'a> {
    pub release_id: &'a str,
    pub seq: i64,
    /// To the microsecond, for queries.
    pub at: DateTime<Utc>,
    /// The exact nanosecond of the second, so the event time round-trips unchanged.
    pub at_nanos: i64,
    pub kind: &'static str,
    pub actor: String,
    pub request_id: &'a str,
    pub payload: String,
}

/// One row of `releases`, with the values converted to their stored types.
pub(crate) struct ProjectionRow<'a> {
    pub row: &'a ReleaseRow,
    pub current_step: i64,
    pub seq: i64,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub watch_due_at: Option<DateTime<Utc>>,
    pub hook_due_at: Option<DateTime<Utc>>,
}

/// One new row of `outbox`; it is due at once.
pub(crate) struct OutboxRow<'a> {
    pub idempotency_key: &'a str,
    pub release_id: &'a str,
    pub lane: &'a str,
    pub kind: &'a str,
    pub payload: String,
    pub created_at: DateTime<Utc>,
}

/// One row of `responses`.
pub(crate) struct ResponseRow<'a> {
    pub request_id: &'a RequestId,
    pub release_id: &'a str,
    pub status: i64,
    pub body: String,
    pub fingerprint: Option<&'a str>,
    pub created_at: DateTime<Utc>,
}

/// A commit's claim about its release's history: it had `expected_seq` events, and the
/// commit appends `appended` more.
pub(crate) struct SeqExpectation<'a> {
    pub release_id: &'a str,
    pub expected_seq: i64,
    pub appended: i64,
}

/// A commit's change to who holds production and what is live for its service. Only
/// commits that change either have one; they are applied in input order.
pub(crate) struct ProductionChange<'a> {
    pub service: &'a str,
    pub release_id: &'a str,
    pub at: DateTime<Utc>,
    pub hold: &'a HoldChange,
    pub live: &'a LiveChange,
}

/// Everything a batch of commits writes, table by table. Applying the tables one after
/// another is equivalent to applying the commits one after another: the tables are
/// independent, rows of different commits do not collide unless they conflict (which
/// fails the batch), and the only order-dependent changes (projections of one release,
/// holds and live deployments) keep input order.
#[derive(Default)]
pub(crate) struct WriteSet<'a> {
    pub expectations: Vec<SeqExpectation<'a>>,
    pub events: Vec<EventRow<'a>>,
    /// One per release: a later commit of the same release in the batch replaces an
    /// earlier one's row (PostgreSQL refuses to upsert one row twice in a statement).
    pub projections: Vec<ProjectionRow<'a>>,
    pub outbox: Vec<OutboxRow<'a>>,
    pub responses: Vec<ResponseRow<'a>>,
    pub production: Vec<ProductionChange<'a>>,
    projection_index: HashMap<&'a str, usize>,
}

impl<'a> WriteSet<'a> {
    /// Adds `commit`, or leaves the set unchanged when the commit cannot be written
    /// (events not numbered on from `expected_seq`, a value out of range, unserialisable JSON).
    pub fn add(&mut self, commit: &'a Commit) -> Result<(), sqlx::Error> {
        let release_id = commit.release_id.as_str();
        // The moment of the commit: its first event's time, so outbox rows are due when
        // the events that caused them happened.
        let now = row_time(commit.events.first().map_or_else(Utc::now, |recorded| recorded.at));

        let expected_seq = stored_integer(commit.expected_seq, "expected_seq")?;
        let mut events = Vec::with_capacity(commit.events.len());
        for (offset, recorded) in commit.events.iter().enumerate() {
            let seq = expected_seq + stored_integer(offset as u64 + 1, "event seq")?;
            if stored_integer(recorded.seq, "event seq")? != seq {
                return Err(invalid(format!(
                    "release {release_id}: event {} carries seq {} but must carry {seq} \
                     (expected_seq {} + {})",
                    offset + 1,
                    recorded.seq,
                    commit.expected_seq,
                    offset + 1
                )));
            }
            events.push(EventRow {
                release_id,
                seq,
                at: row_time(recorded.at),
                at_nanos: i64::from(recorded.at.timestamp_subsec_nanos()),
                kind: recorded.event.kind(),
                actor: json(&recorded.actor)?,
                request_id: recorded.request_id.as_str(),
                payload: json(&recorded.event)?,
            });
        }

        let row = &commit.projection;
        let projection = ProjectionRow {
            row,
            current_step: i64::from(row.current_step),
            seq: stored_integer(row.seq, "projection seq")?,
            started_at: row_time(row.started_at),
            updated_at: row_time(row.updated_at),
            watch_due_at: row.watch_due_at.map(row_time),
            hook_due_at: row.hook_due_at.map(row_time),
        };

        let mut outbox = Vec::with_capacity(commit.outbox.len());
        for message in &commit.outbox {
            // An empty lane would quietly chain unrelated messages behind each other.
            if message.lane.is_empty() {
                return Err(invalid(format!(
                    "release {release_id}: outbox message {} names no lane",
                    message.idempotency_key
                )));
            }
            outbox.push(OutboxRow {
                idempotency_key: &message.idempotency_key,
                release_id: message.release_id.as_str(),
                lane: &message.lane,
                kind: &message.kind,
                payload: json(&message.payload)?,
                created_at: now,
            });
        }

        let response = match &commit.response {
            Some(response) => Some(ResponseRow {
                request_id: &response.request_id,
                release_id: response.release_id.as_str(),
                status: i64::from(response.status),
                body: json(&response.body)?,
                fingerprint: response.fingerprint.as_deref(),
                created_at: now,
            }),
            None => None,
        };

        // Everything fallible is done: from here on the set only grows.
        self.expectations.push(SeqExpectation { release_id, expected_seq, appended: events.len() as i64 });
        self.events.extend(events);
        match self.projection_index.get(row.id.as_str()) {
            Some(&index) => self.projections[index] = projection,
            None => {
                self.projection_index.insert(row.id.as_str(), self.projections.len());
                self.projections.push(projection);
            }
        }
        self.outbox.extend(outbox);
        self.responses.extend(response);
        if commit.hold != HoldChange::Keep || commit.live != LiveChange::Keep {
            self.production.push(ProductionChange {
                service: commit.service.as_str(),
                release_id,
                at: now,
                hold: &commit.hold,
                live: &commit.live,
            });
        }
        Ok(())
    }

    pub fn commit_count(&self) -> usize {
        self.expectations.len()
    }

    /// The releases the commits append to, each once.
    pub fn release_ids(&self) -> Vec<&'a str> {
        let mut ids: Vec<&str> = self.expectations.iter().map(|e| e.release_id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Whether every commit's `expected_seq` matches the history it would append to:
    /// `stored` holds each release's stored event count (absent: none), and earlier
    /// commits of the batch for the same release count too.
    pub fn sequences_follow(&self, stored: &HashMap<String, i64>) -> bool {
        let mut counts: HashMap<&str, i64> = HashMap::new();
        for expectation in &self.expectations {
            let count = counts
                .entry(expectation.release_id)
                .or_insert_with(|| stored.get(expectation.release_id).copied().unwrap_or(0));
            if *count != expectation.expected_seq {
                return false;
            }
            *count += expectation.appended;
        }
        true
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, sqlx::Error> {
    serde_json::to_string(value).map_err(|error| sqlx::Error::Encode(Box::new(error)))
}

/// Counts are `u64` in the model and signed 64-bit integers in both databases.
fn stored_integer(value: u64, what: &str) -> Result<i64, sqlx::Error> {
    i64::try_from(value).map_err(|_| invalid(format!("{what} {value} is too large to store")))
}

fn invalid(message: String) -> sqlx::Error {
    sqlx::Error::Encode(message.into())
}
