//! The freeze calendar: a team's weekly windows, holidays and their eves, one-off windows
//! and cron windows, computed in the team's own time zone.
//!
//! [`FreezeConfig`] is the `[freeze]` table of the configuration; [`Calendar::build`]
//! validates it (reporting every problem with its key) and, with the [`CalendarEntry`]
//! values read from iCalendar files elsewhere, builds a [`Calendar`] that implements the
//! [`FreezeCalendar`] port.
//!
//! # Semantics
//!
//! - Every window is half-open: its start instant is frozen, its end instant is open.
//! - **Weekly** windows (kind `weekly`) are in local wall time, `"fri 12:00"` to
//!   `"mon 00:00"`; `to` may wrap past the end of the week. A weekly window whose `from`
//!   equals its `to` is an error (it would be empty or a whole week; write it explicitly).
//! - A **holiday** (kind `holiday`), from `holidays.dates` or an all-day iCalendar entry,
//!   freezes its whole local day, from local midnight to the next local midnight.
//! - The **eve** of a holiday (kind `eve`) is the last working day before it that is itself
//!   not a holiday, frozen from `holidays.eve_from` to the end of that local day. A Monday
//!   holiday makes Friday the eve; consecutive holidays share one eve (named after the first
//!   of them). **Without `eve_from` eves are not frozen**: the configuration must say from
//!   when an eve is frozen (`eve_from = "00:00"` freezes the whole eve). With no working
//!   days at all there are no eves.
//! - Timed iCalendar entries are frozen exactly over their UTC interval (kind `holiday`).
//! - One-off **windows** (kind `window`) are local wall times `"YYYY-MM-DD HH:MM"`.
//! - **Cron** windows (kind `cron`) start at each fire time of the cron expression read in
//!   local wall time, and last `duration` of elapsed time (`90m`, `14h`, `2d`, `1h30m`), so a
//!   14-hour window across a daylight-saving change still lasts 14 hours.
//!
//! # Daylight-saving changes
//!
//! Every local time (a weekly bound, a midnight, an eve's start, a window bound, a cron fire
//! time) is turned into an instant the same way:
//! - a local time that does not exist (the clock springs forward over it) means the first
//!   valid instant after it, i.e. the instant of the change: `02:30` on the day New York
//!   springs forward is 03:00 EDT (07:00 UTC);
//! - an ambiguous local time (the clock falls back over it) means its first occurrence:
//!   `01:30` on the day New York falls back is 01:30 EDT (05:30 UTC), and a cron fire at that
//!   wall time fires once.
//!
//! Nothing here reads the machine's time zone or clock: the time zone is the configured one.
//!
//! # Cost
//!
//! Holidays, eves, one-off windows and timed entries are resolved to UTC once, at build, and
//! kept sorted with a running maximum of their ends, so finding those covering an instant is
//! two binary searches. Weekly and cron windows are computed on demand, only near the instant
//! asked about (weekly by weekday arithmetic, cron by iterating fire times from
//! `duration` before it).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use croner::Cron;
use serde::{Deserialize, Serialize};

use super::{CalendarEntry, FreezeCalendar, FreezeReason, FreezeVerdict};

// ----------------------------------------------------------------------------------------
// Configuration
// ----------------------------------------------------------------------------------------

/// The `[freeze]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeConfig {
    /// IANA time zone name, e.g. `America/New_York`. Required.
    pub timezone: String,
    /// Working days, `mon` … `sun`; default Monday to Friday. Used to find eves.
    #[serde(default = "default_working_days")]
    pub working_days: Vec<String>,
    #[serde(default)]
    pub weekly: Vec<WeeklyConfig>,
    #[serde(default)]
    pub holidays: HolidaysConfig,
    #[serde(default)]
    pub windows: Vec<WindowConfig>,
    #[serde(default)]
    pub cron: Vec<CronConfig>,
    /// `[[freeze.teams]]`: calendars of their own for the releases of some chat channels
    /// (another team, another time zone). Releases elsewhere use this table's calendar.
    #[serde(default)]
    pub teams: Vec<TeamCalendarConfig>,
}

/// `[[freeze.teams]]`: a team's own calendar, with the same keys as `[freeze]`, for the
/// releases started in its `channels`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamCalendarConfig {
    pub name: String,
    /// Chat channel ids whose releases use this calendar.
    pub channels: Vec<String>,
    pub timezone: String,
    #[serde(default = "default_working_days")]
    pub working_days: Vec<String>,
    #[serde(default)]
    pub weekly: Vec<WeeklyConfig>,
    #[serde(default)]
    pub holidays: HolidaysConfig,
    #[serde(default)]
    pub windows: Vec<WindowConfig>,
    #[serde(default)]
    pub cron: Vec<CronConfig>,
}

impl TeamCalendarConfig {
    /// The team's calendar as a `[freeze]` table of its own.
    pub fn calendar(&self) -> FreezeConfig {
        FreezeConfig {
            timezone: self.timezone.clone(),
            working_days: self.working_days.clone(),
            weekly: self.weekly.clone(),
            holidays: self.holidays.clone(),
            windows: self.windows.clone(),
            cron: self.cron.clone(),
            teams: Vec::new(),
        }
    }
}

fn default_working_days() -> Vec<String> {
    ["mon", "tue", "wed", "thu", "fri"].iter().map(|d| (*d).to_owned()).collect()
}

/// `[[freeze.weekly]]`: a recurring window in local wall time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyConfig {
    pub name: String,
    /// `"fri 12:00"`.
    pub from: String,
    /// `"mon 00:00"`; may wrap past the end of the week.
    pub to: String,
}

/// `[freeze.holidays]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidaysConfig {
    #[serde(default)]
    pub dates: Vec<HolidayDate>,
    /// iCalendar files or http(s) URLs; read elsewhere and handed to [`Calendar::build`] as
    /// [`CalendarEntry`] values.
    #[serde(default)]
    pub ics: Vec<String>,
    /// `"12:00"`: the eve of a holiday is frozen from this local time. Absent: eves are not
    /// frozen.
    #[serde(default)]
    pub eve_from: Option<String>,
}

/// One entry of `freeze.holidays.dates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidayDate {
    /// `"2026-12-25"`.
    pub date: String,
    pub name: String,
}

/// `[[freeze.windows]]`: a one-off window in local wall time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    pub name: String,
    /// `"2026-12-18 17:00"`.
    pub from: String,
    pub to: String,
}

/// `[[freeze.cron]]`: a window starting at each fire time (local wall time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronConfig {
    pub name: String,
    /// Five fields (minute hour day-of-month month day-of-week); `L` is the last day of month.
    pub cron: String,
    /// `90m`, `14h`, `2d`, `1h30m`.
    pub duration: String,
}

// ----------------------------------------------------------------------------------------
// Errors
// ----------------------------------------------------------------------------------------

/// One problem in the `[freeze]` configuration, with the key it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreezeProblem {
    /// `freeze.windows[1].to`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for FreezeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Every problem found in the `[freeze]` configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FreezeConfigErrors {
    pub problems: Vec<FreezeProblem>,
}

impl fmt::Display for FreezeConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(f, "the freeze calendar has {n} problem{}:", if n == 1 { "" } else { "s" })?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct Problems(Vec<FreezeProblem>);

impl Problems {
    fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(FreezeProblem { key: key.into(), message: message.into() });
    }
}

// ----------------------------------------------------------------------------------------
// The calendar
// ----------------------------------------------------------------------------------------

/// The kind of a window; declared in the order of its name so sorting by it sorts by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Cron,
    Eve,
    Holiday,
    Weekly,
    Window,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Cron => "cron",
            Kind::Eve => "eve",
            Kind::Holiday => "holiday",
            Kind::Weekly => "weekly",
            Kind::Window => "window",
        }
    }
}

/// A window with fixed instants: holiday, eve, one-off window, timed entry.
#[derive(Debug, Clone)]
struct Fixed {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    kind: Kind,
    name: String,
}

#[derive(Debug, Clone)]
struct Weekly {
    /// Minutes after Monday 00:00 local.
    from_min: i64,
    /// Length in wall-clock minutes, 1 ..= a week - 1.
    len_min: i64,
    name: String,
}

#[derive(Debug, Clone)]
struct CronRule {
    cron: Cron,
    duration: Duration,
    name: String,
}

/// A window found while answering: borrowed from the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Hit<'a> {
    from: DateTime<Utc>,
    kind: Kind,
    name: &'a str,
    to: DateTime<Utc>,
}

impl Hit<'_> {
    fn reason(&self) -> FreezeReason {
        FreezeReason { kind: self.kind.as_str().to_owned(), name: self.name.to_owned(), from: self.from, to: self.to }
    }
}

/// How far ahead `next_open` looks before giving up.
const NEXT_OPEN_HORIZON_DAYS: i64 = 366;

/// Slack between the order of local wall times and of instants: no two UTC offsets differ
/// by more than 26 hours (-12:00 to +14:00).
fn slack() -> Duration {
    Duration::hours(26)
}

/// A team's freeze calendar, built from its configuration; see the module documentation.
#[derive(Debug, Clone)]
pub struct Calendar {
    tz: Tz,
    /// Sorted by start.
    fixed: Vec<Fixed>,
    /// `fixed_max_to[i]` = the latest end among `fixed[..=i]`.
    fixed_max_to: Vec<DateTime<Utc>>,
    weekly: Vec<Weekly>,
    cron: Vec<CronRule>,
}

impl Calendar {
    /// Validates `config` and builds the calendar with the iCalendar `entries`. Every problem
    /// is reported, each with its key.
    pub fn build(config: &FreezeConfig, entries: Vec<CalendarEntry>) -> Result<Calendar, FreezeConfigErrors> {
        let mut problems = Problems::default();

        let tz = match Tz::from_str(config.timezone.trim()) {
            Ok(tz) => tz,
            Err(_) => {
                problems.add(
                    "freeze.timezone",
                    format!("unknown time zone {:?}; use an IANA name like America/New_York", config.timezone),
                );
                Tz::UTC
            }
        };

        let mut working = [false; 7];
        for (i, day) in config.working_days.iter().enumerate() {
            match parse_weekday(day) {
                Some(wd) => working[wd.num_days_from_monday() as usize] = true,
                None => problems.add(
                    format!("freeze.working_days[{i}]"),
                    format!("unknown day {day:?}; use mon, tue, wed, thu, fri, sat or sun"),
                ),
            }
        }

        let mut weekly = Vec::new();
        for (i, w) in config.weekly.iter().enumerate() {
            let key = format!("freeze.weekly[{i}]");
            check_name(&mut problems, &key, &w.name);
            let from = parse_weekly_time(&w.from).map_err(|m| problems.add(format!("{key}.from"), m)).ok();
            let to = parse_weekly_time(&w.to).map_err(|m| problems.add(format!("{key}.to"), m)).ok();
            if let (Some(from), Some(to)) = (from, to) {
                let len = (to - from).rem_euclid(WEEK_MINUTES);
                if len == 0 {
                    problems.add(
                        format!("{key}.to"),
                        "same as from; a weekly window needs a length (to may wrap past the end of the week)",
                    );
                } else {
                    weekly.push(Weekly { from_min: from, len_min: len, name: w.name.clone() });
                }
            }
        }

        let mut fixed = Vec::new();

        // Holidays: configured dates and all-day entries.
        let mut holidays: Vec<(NaiveDate, String)> = Vec::new();
        for (i, h) in config.holidays.dates.iter().enumerate() {
            let key = format!("freeze.holidays.dates[{i}]");
            check_name(&mut problems, &key, &h.name);
            match parse_date(&h.date) {
                Ok(d) => holidays.push((d, h.name.clone())),
                Err(m) => problems.add(format!("{key}.date"), m),
            }
        }
        for entry in entries {
            match entry {
                CalendarEntry::AllDay { date, name } => holidays.push((date, name)),
                CalendarEntry::Timed { from, to, name } => {
                    if to < from {
                        problems.add(
                            "freeze.holidays.ics",
                            format!(
                                "event {name:?} ends ({}) before it starts ({})",
                                to.to_rfc3339(),
                                from.to_rfc3339()
                            ),
                        );
                    } else if to > from {
                        fixed.push(Fixed { from, to, kind: Kind::Holiday, name });
                    }
                }
            }
        }
        holidays.sort();
        holidays.dedup();
        let holiday_days: Vec<NaiveDate> = {
            let mut d: Vec<NaiveDate> = holidays.iter().map(|(d, _)| *d).collect();
            d.dedup();
            d
        };
        let is_holiday = |d: NaiveDate| holiday_days.binary_search(&d).is_ok();
        for (date, name) in &holidays {
            let (from, to) = local_day(tz, *date);
            fixed.push(Fixed { from, to, kind: Kind::Holiday, name: name.clone() });
        }

        // Eves.
        let eve_from = config.holidays.eve_from.as_ref().and_then(|s| {
            parse_hhmm(s)
                .ok_or_else(|| problems.add("freeze.holidays.eve_from", format!("{s:?} is not a time; use HH:MM")))
                .ok()
        });
        if let Some(eve_from) = eve_from {
            let mut last_eve: Option<NaiveDate> = None;
            for (date, name) in &holidays {
                let Some(eve) = eve_of(*date, &working, is_holiday) else { continue };
                if last_eve == Some(eve) {
                    continue; // Shared with an earlier holiday (same date or consecutive).
                }
                last_eve = Some(eve);
                let from = resolve_local(tz, eve.and_time(eve_from));
                let (_, to) = local_day(tz, eve);
                if from < to {
                    fixed.push(Fixed { from, to, kind: Kind::Eve, name: format!("eve of {name}") });
                }
            }
        }

        // One-off windows.
        for (i, w) in config.windows.iter().enumerate() {
            let key = format!("freeze.windows[{i}]");
            check_name(&mut problems, &key, &w.name);
            let from = parse_local_datetime(&w.from).map_err(|m| problems.add(format!("{key}.from"), m)).ok();
            let to = parse_local_datetime(&w.to).map_err(|m| problems.add(format!("{key}.to"), m)).ok();
            if let (Some(from), Some(to)) = (from, to) {
                if to < from {
                    problems.add(format!("{key}.to"), format!("{} is before from ({})", w.to.trim(), w.from.trim()));
                } else if to == from {
                    problems.add(format!("{key}.to"), "same as from; a window needs a length");
                } else {
                    let (from, to) = (resolve_local(tz, from), resolve_local(tz, to));
                    if from < to {
                        fixed.push(Fixed { from, to, kind: Kind::Window, name: w.name.clone() });
                    }
                }
            }
        }

        // Cron windows.
        let mut cron = Vec::new();
        for (i, c) in config.cron.iter().enumerate() {
            let key = format!("freeze.cron[{i}]");
            check_name(&mut problems, &key, &c.name);
            let parsed = match Cron::new(c.cron.trim()).parse() {
                Ok(parsed) => {
                    // A pattern that matches no date (`0 0 30 2 *`) would make every query
                    // search to the year 5000.
                    let start = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single().expect("valid date");
                    match parsed.find_next_occurrence(&start, true) {
                        Ok(t) if t.year() < 2100 => Some(parsed),
                        _ => {
                            problems.add(format!("{key}.cron"), format!("{:?} never fires", c.cron));
                            None
                        }
                    }
                }
                Err(e) => {
                    problems.add(
                        format!("{key}.cron"),
                        format!("{:?} is not a cron expression ({e}); use five fields like \"0 18 L * *\"", c.cron),
                    );
                    None
                }
            };
            let duration = parse_duration(&c.duration).map_err(|m| problems.add(format!("{key}.duration"), m)).ok();
            if let (Some(cron_expr), Some(duration)) = (parsed, duration) {
                cron.push(CronRule { cron: cron_expr, duration, name: c.name.clone() });
            }
        }

        if !problems.0.is_empty() {
            return Err(FreezeConfigErrors { problems: problems.0 });
        }

        fixed.sort_by(|a, b| (a.from, a.kind, &a.name, a.to).cmp(&(b.from, b.kind, &b.name, b.to)));
        let mut fixed_max_to = Vec::with_capacity(fixed.len());
        let mut max = DateTime::<Utc>::MIN_UTC;
        for f in &fixed {
            max = max.max(f.to);
            fixed_max_to.push(max);
        }
        Ok(Calendar { tz, fixed, fixed_max_to, weekly, cron })
    }

    /// The team's time zone.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// Every frozen window overlapping `[from, to)`, sorted by start then kind.
    pub fn windows_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<FreezeReason> {
        let mut hits = Vec::new();
        self.collect(from, to, &mut hits);
        hits.sort();
        hits.iter().map(Hit::reason).collect()
    }

    /// The earliest instant at or after `at` that no window covers, within the horizon.
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut hits = Vec::new();
        self.next_open_from(at, at, &mut hits)
    }

    /// The earliest instant at or after `t` that no window covers, if within the horizon
    /// from `at`. Windows are gathered over growing ranges (a day, two, four, …) and swept in
    /// order of their starts, so a year-long search computes each window once.
    fn next_open_from<'a>(
        &'a self,
        at: DateTime<Utc>,
        mut t: DateTime<Utc>,
        hits: &mut Vec<Hit<'a>>,
    ) -> Option<DateTime<Utc>> {
        let limit = at + Duration::days(NEXT_OPEN_HORIZON_DAYS);
        let mut span = Duration::days(1);
        while t <= limit {
            let end = (t + span).min(limit + Duration::nanoseconds(1));
            hits.clear();
            self.collect(t, end, hits);
            hits.sort_unstable_by_key(|h| h.from);
            // Every window overlapping [t, end) is in `hits`: a gap before `end` is open.
            for h in hits.iter() {
                if h.from > t {
                    break;
                }
                t = t.max(h.to);
            }
            if t < end {
                return (t <= limit).then_some(t);
            }
            span = (span * 2).min(Duration::days(64));
        }
        None
    }

    /// Pushes every window overlapping `[a, b)` (half-open windows) onto `out`.
    fn collect<'a>(&'a self, a: DateTime<Utc>, b: DateTime<Utc>, out: &mut Vec<Hit<'a>>) {
        if b <= a {
            return;
        }
        // Fixed windows: those starting before `b` whose running maximum end is after `a`.
        let end = self.fixed.partition_point(|f| f.from < b);
        let start = self.fixed_max_to[..end].partition_point(|m| *m <= a);
        for f in &self.fixed[start..end] {
            if f.to > a {
                out.push(Hit { from: f.from, to: f.to, kind: f.kind, name: &f.name });
            }
        }
        if self.weekly.is_empty() && self.cron.is_empty() {
            return;
        }
        // Computed windows: candidates by local wall time, with slack, then exact instants.
        let lo = self.local(a) - slack();
        let hi = self.local(b) + slack();
        if !self.weekly.is_empty() {
            let first_week = monday_of(lo.date()) - Duration::days(7);
            let last_week = monday_of(hi.date());
            let mut week = first_week;
            while week <= last_week {
                let base = week.and_time(NaiveTime::MIN);
                for w in &self.weekly {
                    let lf = base + Duration::minutes(w.from_min);
                    let lt = lf + Duration::minutes(w.len_min);
                    if lf < hi && lt > lo {
                        let (from, to) = (resolve_local(self.tz, lf), resolve_local(self.tz, lt));
                        if from < b && to > a && from < to {
                            out.push(Hit { from, to, kind: Kind::Weekly, name: &w.name });
                        }
                    }
                }
                week += Duration::days(7);
            }
        }
        for c in &self.cron {
            let mut last_from = None;
            for_each_fire(&c.cron, lo - c.duration, hi, |local| {
                let from = resolve_local(self.tz, local);
                let to = from + c.duration;
                // Fire times in a spring-forward gap all start at the change: one window.
                if last_from != Some(from) && from < b && to > a {
                    out.push(Hit { from, to, kind: Kind::Cron, name: &c.name });
                }
                last_from = Some(from);
            });
        }
    }

    fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        self.tz.from_utc_datetime(&t.naive_utc()).naive_local()
    }
}

impl FreezeCalendar for Calendar {
    fn timezone(&self) -> Tz {
        self.tz
    }

    fn verdict(&self, at: DateTime<Utc>) -> FreezeVerdict {
        let mut hits = Vec::new();
        self.collect(at, at + Duration::nanoseconds(1), &mut hits);
        if hits.is_empty() {
            return FreezeVerdict::Open;
        }
        hits.sort();
        let reasons: Vec<FreezeReason> = hits.iter().map(Hit::reason).collect();
        let end = hits.iter().map(|h| h.to).max().unwrap_or(at);
        let next_open = self.next_open_from(at, end, &mut hits);
        FreezeVerdict::Frozen { reasons, next_open }
    }
}

// ----------------------------------------------------------------------------------------
// Local time
// ----------------------------------------------------------------------------------------

/// The instant of a local wall time: a nonexistent time means the first valid instant after
/// it (the instant of the change), an ambiguous one its first occurrence.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.with_timezone(&Utc).min(b.with_timezone(&Utc)),
        LocalResult::None => {
            let valid = |n: NaiveDateTime| !matches!(tz.from_local_datetime(&n), LocalResult::None);
            // Find a valid local time after the gap, then the first one by bisection.
            let mut step = Duration::minutes(30);
            let mut hi = local + step;
            while !valid(hi) && step < Duration::days(8) {
                step = step * 2;
                hi = local + step;
            }
            let mut lo = local;
            while hi - lo > Duration::seconds(1) {
                let mid = lo + (hi - lo) / 2;
                if valid(mid) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            match tz.from_local_datetime(&hi) {
                LocalResult::Single(t) => t.with_timezone(&Utc),
                LocalResult::Ambiguous(a, b) => a.with_timezone(&Utc).min(b.with_timezone(&Utc)),
                // No valid time within a week: not a real zone; read the time as UTC.
                LocalResult::None => Utc.from_utc_datetime(&local),
            }
        }
    }
}

/// The instants of a whole local day: `[midnight, next midnight)`.
fn local_day(tz: Tz, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let next = date.succ_opt().unwrap_or(date);
    (resolve_local(tz, date.and_time(NaiveTime::MIN)), resolve_local(tz, next.and_time(NaiveTime::MIN)))
}

/// The last working day before `holiday` that is not itself a holiday.
fn eve_of(holiday: NaiveDate, working: &[bool; 7], is_holiday: impl Fn(NaiveDate) -> bool) -> Option<NaiveDate> {
    if !working.iter().any(|w| *w) {
        return None;
    }
    let mut d = holiday;
    // Bounded: a run of holidays longer than this has no eve worth freezing.
    for _ in 0..400 {
        d = d.pred_opt()?;
        if working[d.weekday().num_days_from_monday() as usize] && !is_holiday(d) {
            return Some(d);
        }
    }
    None
}

/// Calls `f` with every fire time of `cron` in `[start, end)`, read as local wall times, in
/// order. Walks the days of the range with croner's own day and month matching (so `L`, `W`
/// and `#` mean what croner says), which is bounded by the range, unlike a search for the
/// next occurrence.
fn for_each_fire(cron: &Cron, start: NaiveDateTime, end: NaiveDateTime, mut f: impl FnMut(NaiveDateTime)) {
    let p = &cron.pattern;
    let next = |m: Result<Option<u32>, croner::errors::CronError>| m.ok().flatten();
    let mut date = start.date();
    while date <= end.date() {
        let (y, m, d) = (date.year(), date.month(), date.day());
        if p.month_match(m).unwrap_or(false) && p.day_match(y, m, d).unwrap_or(false) {
            let mut hour = next(p.next_hour_match(0));
            while let Some(h) = hour {
                let mut minute = next(p.next_minute_match(0));
                while let Some(mi) = minute {
                    let mut second = next(p.next_second_match(0));
                    while let Some(s) = second {
                        let Some(t) = date.and_hms_opt(h, mi, s) else { return };
                        if t >= end {
                            return;
                        }
                        if t >= start {
                            f(t);
                        }
                        second = if s < 59 { next(p.next_second_match(s + 1)) } else { None };
                    }
                    minute = if mi < 59 { next(p.next_minute_match(mi + 1)) } else { None };
                }
                hour = if h < 23 { next(p.next_hour_match(h + 1)) } else { None };
            }
        }
        let Some(following) = date.succ_opt() else { return };
        date = following;
    }
}

fn monday_of(d: NaiveDate) -> NaiveDate {
    d - Duration::days(i64::from(d.weekday().num_days_from_monday()))
}

// ----------------------------------------------------------------------------------------
// Parsing
// ----------------------------------------------------------------------------------------

const WEEK_MINUTES: i64 = 7 * 24 * 60;

fn check_name(problems: &mut Problems, key: &str, name: &str) {
    if name.trim().is_empty() {
        problems.add(format!("{key}.name"), "empty; name the window, it is shown when a deploy is refused");
    }
}

fn parse_weekday(s: &str) -> Option<Weekday> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Mon,
        "tue" | "tuesday" => Weekday::Tue,
        "wed" | "wednesday" => Weekday::Wed,
        "thu" | "thursday" => Weekday::Thu,
        "fri" | "friday" => Weekday::Fri,
        "sat" | "saturday" => Weekday::Sat,
        "sun" | "sunday" => Weekday::Sun,
        _ => return None,
    })
}

/// `"HH:MM"`, 00:00 to 23:59.
fn parse_hhmm(s: &str) -> Option<NaiveTime> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

/// `"fri 12:00"` as minutes after Monday 00:00.
fn parse_weekly_time(s: &str) -> Result<i64, String> {
    let bad = || format!("{s:?} is not a weekly time; use a day and a time like \"fri 12:00\"");
    let mut parts = s.split_whitespace();
    let (Some(day), Some(time), None) = (parts.next(), parts.next(), parts.next()) else { return Err(bad()) };
    let day =
        parse_weekday(day).ok_or_else(|| format!("unknown day in {s:?}; use mon, tue, wed, thu, fri, sat or sun"))?;
    let time = parse_hhmm(time).ok_or_else(bad)?;
    let minutes = chrono::Timelike::num_seconds_from_midnight(&time) as i64 / 60;
    Ok(i64::from(day.num_days_from_monday()) * 24 * 60 + minutes)
}

/// `"2026-12-25"`; a date that matches the shape but not the calendar "does not exist".
fn parse_date(s: &str) -> Result<NaiveDate, String> {
    let t = s.trim();
    let bad = || format!("{s:?} is not a date; use YYYY-MM-DD");
    let mut parts = t.split('-');
    let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let digits =
        |p: &str, min: usize, max: usize| p.len() >= min && p.len() <= max && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(y, 4, 4) || !digits(m, 1, 2) || !digits(d, 1, 2) {
        return Err(bad());
    }
    let (y, m, d): (i32, u32, u32) =
        (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| format!("{t} does not exist"))
}

/// `"2026-12-18 17:00"` (or with a `T`); a bare date means its midnight.
fn parse_local_datetime(s: &str) -> Result<NaiveDateTime, String> {
    let t = s.trim();
    let (date, time) = match t.split_once([' ', 'T']) {
        Some((d, tm)) => (d, Some(tm.trim())),
        None => (t, None),
    };
    let date = parse_date(date).map_err(|e| {
        if e.ends_with("does not exist") {
            e
        } else {
            format!("{s:?} is not a local date and time; use YYYY-MM-DD HH:MM")
        }
    })?;
    let time = match time {
        None => NaiveTime::MIN,
        Some(tm) => {
            parse_hhmm(tm).ok_or_else(|| format!("{s:?} is not a local date and time; use YYYY-MM-DD HH:MM"))?
        }
    };
    Ok(date.and_time(time))
}

/// `90m`, `14h`, `2d`, `1h30m`, `45s`: positive.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration; use e.g. 90m, 14h, 2d or 1h30m");
    let t = s.trim();
    if t.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::zero();
    let mut number = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number.parse().map_err(|_| bad())?;
        number.clear();
        let part = match c {
            'd' => Duration::try_days(n),
            'h' => Duration::try_hours(n),
            'm' => Duration::try_minutes(n),
            's' => Duration::try_seconds(n),
            _ => None,
        }
        .ok_or_else(bad)?;
        total = total.checked_add(&part).ok_or_else(bad)?;
    }
    if !number.is_empty() {
        return Err(bad());
    }
    if total <= Duration::zero() {
        return Err(format!("{s:?} is not a positive duration"));
    }
    if total > Duration::days(NEXT_OPEN_HORIZON_DAYS) {
        return Err(format!("{s:?} is longer than a year"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests;
