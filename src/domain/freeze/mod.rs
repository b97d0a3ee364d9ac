//! The freeze port: the release engine asks it whether production is frozen at an
//! instant. The calendar itself (time zone, weekly windows, holidays) implements it.

pub mod calendar;

pub use calendar::{Calendar, FreezeConfig, FreezeConfigErrors, FreezeProblem};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub mod ics;

/// A holiday or other frozen time read from an iCalendar file, before the calendar's
/// rules (whole local day, eves) apply to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CalendarEntry {
    /// An all-day event on a local date (`DTSTART;VALUE=DATE`): frozen as a holiday in the
    /// team's time zone, with its eve.
    AllDay { date: NaiveDate, name: String },
    /// A timed event: frozen exactly from `from` to `to`.
    Timed { from: DateTime<Utc>, to: DateTime<Utc>, name: String },
}

/// Why production is frozen: one window covering the instant asked about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreezeReason {
    /// `weekly`, `holiday`, `eve`, `window` or `cron`.
    pub kind: String,
    pub name: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum FreezeVerdict {
    Open,
    Frozen {
        reasons: Vec<FreezeReason>,
        /// The earliest instant that no window covers, if one is known.
        next_open: Option<DateTime<Utc>>,
    },
}

impl FreezeVerdict {
    pub fn is_frozen(&self) -> bool {
        matches!(self, FreezeVerdict::Frozen { .. })
    }

    /// "Friday afternoon until 2026-12-07 05:00 UTC", for messages.
    pub fn describe(&self) -> String {
        self.describe_in(chrono_tz::UTC)
    }

    /// "Friday afternoon until Mon 7 Dec 00:00 EST": the time people read is their own.
    pub fn describe_in(&self, tz: chrono_tz::Tz) -> String {
        match self {
            FreezeVerdict::Open => "open".to_owned(),
            FreezeVerdict::Frozen { reasons, next_open } => {
                let names: Vec<&str> = reasons.iter().map(|r| r.name.as_str()).collect();
                let until = match next_open {
                    Some(t) if tz == chrono_tz::UTC => format!(" until {}", t.format("%Y-%m-%d %H:%M UTC")),
                    Some(t) => format!(" until {}", t.with_timezone(&tz).format("%a %-d %b %Y %H:%M %Z")),
                    None => " for more than a year".to_owned(),
                };
                format!("{}{until}", names.join(", "))
            }
        }
    }
}

/// Answers "is production frozen at `at`?". Implementations are pure given their data.
pub trait FreezeCalendar: Send + Sync {
    fn verdict(&self, at: DateTime<Utc>) -> FreezeVerdict;

    /// The team's time zone, for telling people times; UTC when the calendar has none.
    fn timezone(&self) -> chrono_tz::Tz {
        chrono_tz::UTC
    }
}

/// A calendar with no freeze windows: what a team gets until it configures one.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFreeze;

impl FreezeCalendar for NoFreeze {
    fn verdict(&self, _at: DateTime<Utc>) -> FreezeVerdict {
        FreezeVerdict::Open
    }
}

/// A calendar frozen over fixed UTC intervals; used in tests and as a building block.
#[derive(Debug, Clone, Default)]
pub struct FixedFreeze {
    pub windows: Vec<FreezeReason>,
}

impl FreezeCalendar for FixedFreeze {
    fn verdict(&self, at: DateTime<Utc>) -> FreezeVerdict {
        let reasons: Vec<FreezeReason> = self.windows.iter().filter(|w| w.from <= at && at < w.to).cloned().collect();
        if reasons.is_empty() {
            return FreezeVerdict::Open;
        }
        // Walk forward through overlapping windows to the first uncovered instant.
        let mut next = at;
        loop {
            let covering = self.windows.iter().filter(|w| w.from <= next && next < w.to).map(|w| w.to).max();
            match covering {
                Some(end) => next = end,
                None => break,
            }
        }
        FreezeVerdict::Frozen { reasons, next_open: Some(next) }
    }
}
