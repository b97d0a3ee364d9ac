//! `[drills]`: how often each service must have a rollback drill, and how often the release
//! channel is reminded of an overdue one. Durations are written as `[monitoring]`'s are, with
//! days and weeks added for spans this long: `every = "90d"`, `remind_every = "1w"`.

use super::{ConfigError, Sources};
use crate::domain::drill::{DrillPolicy, DEFAULT_EVERY_DAYS, DEFAULT_REMIND_EVERY_DAYS};
use serde::Deserialize;

/// The shortest period either key accepts: drills and reminders are a matter of days, and
/// anything shorter would post a reminder every sweep.
pub const DRILLS_LEAST_SECONDS: i64 = 86_400;
/// The longest: about ten years.
pub const DRILLS_MOST_SECONDS: i64 = 3650 * 86_400;

/// The `[drills]` section, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrillsConfig {
    /// A service with no drill for this many seconds is overdue.
    pub every_seconds: i64,
    /// An overdue service is reminded once per this many seconds.
    pub remind_every_seconds: i64,
}

impl Default for DrillsConfig {
    fn default() -> Self {
        Self { every_seconds: DEFAULT_EVERY_DAYS * 86_400, remind_every_seconds: DEFAULT_REMIND_EVERY_DAYS * 86_400 }
    }
}

impl DrillsConfig {
    pub fn policy(&self) -> DrillPolicy {
        DrillPolicy {
            every: chrono::Duration::seconds(self.every_seconds),
            remind_every: chrono::Duration::seconds(self.remind_every_seconds),
        }
    }
}

pub(super) mod raw {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(in crate::config) struct Drills {
        pub every: String,
        pub remind_every: String,
    }

    impl Default for Drills {
        fn default() -> Self {
            Self { every: format!("{DEFAULT_EVERY_DAYS}d"), remind_every: format!("{DEFAULT_REMIND_EVERY_DAYS}d") }
        }
    }
}

/// `"90d"`, `"1w"`, `"12h"`, `"1d12h"` in seconds: `[monitoring]`'s units plus days and weeks.
pub fn parse_long_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not a duration like 90d, 2w or 36h");
    if text.is_empty() {
        return Err(bad());
    }
    let mut total: i64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(bad()),
        };
        let n: i64 = number.parse().map_err(|_| bad())?;
        total = total.saturating_add(n.saturating_mul(unit));
        number.clear();
    }
    if !number.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

pub(super) fn drills(raw: &raw::Drills, sources: &Sources<'_>, problems: &mut Vec<ConfigError>) -> DrillsConfig {
    let defaults = DrillsConfig::default();
    let mut period = |key: &str, text: &str, default: i64| match parse_long_duration(text) {
        Ok(seconds) if (DRILLS_LEAST_SECONDS..=DRILLS_MOST_SECONDS).contains(&seconds) => seconds,
        Ok(_) => {
            problems.push(sources.invalid(key, format!("{text:?} is out of range; expected 1d to 3650d")));
            default
        }
        Err(message) => {
            problems.push(sources.invalid(key, message));
            default
        }
    };
    DrillsConfig {
        every_seconds: period("drills.every", &raw.every, defaults.every_seconds),
        remind_every_seconds: period("drills.remind_every", &raw.remind_every, defaults.remind_every_seconds),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_durations_read_as_people_write_them() {
        assert_eq!(parse_long_duration("90d"), Ok(90 * 86_400));
        assert_eq!(parse_long_duration("1w"), Ok(7 * 86_400));
        assert_eq!(parse_long_duration(" 1d12h "), Ok(36 * 3600));
        for bad in ["", "90", "d", "3 months", "-1d", "1.5d"] {
            assert!(parse_long_duration(bad).is_err(), "{bad:?}");
        }
    }
}
