//! Reads iCalendar (RFC 5545) text into [`CalendarEntry`] values: the holidays and other
//! frozen times of a team's calendar files. Pure: the caller reads the file or URL and
//! passes its text and a name for it (used in errors).
//!
//! What is read, and how:
//! - Only `VEVENT`s count. Other components (`VTIMEZONE`, `VTODO`, a `VALARM` inside an
//!   event, ...) are skipped, so an alarm's own `DURATION` never changes its event.
//! - An all-day event (`DTSTART;VALUE=DATE`) becomes one [`CalendarEntry::AllDay`] per date
//!   from `DTSTART` up to its exclusive `DTEND` (or `DURATION` in days; one day if neither).
//! - A timed event becomes one [`CalendarEntry::Timed`] from `DTSTART` to `DTEND` (or
//!   `DTSTART` + `DURATION`; a zero-length window if neither, as RFC 5545 says).
//! - Times: `...Z` is UTC; `TZID=<IANA name>` is that zone's wall time (the zone's own
//!   `VTIMEZONE` block in the file is not needed and is ignored, since the IANA rules are
//!   more complete than what calendar programs write); a `TZID` that is not an IANA name is
//!   an error naming the line. **Floating times** (no `Z`, no `TZID`) are read as UTC,
//!   because a freeze must mean the same instant for everyone, whatever machine reads it.
//! - A wall time that does not exist (spring forward) starts at the first valid instant
//!   after it; an ambiguous one (fall back) means its first occurrence.
//! - `RRULE` (one or more) is expanded with the `rrule` crate, from 2000-01-01 through
//!   2100-01-01 at most and at most [`MAX_OCCURRENCES`] occurrences (for a multi-day
//!   all-day event, about that many dates) per event, so an endless rule cannot grow
//!   memory without bound; a rule starting so early that it steps over more than 200,000
//!   instances before 2000 is refused. A date `UNTIL` (as calendar programs write for
//!   all-day events) includes its whole date. `RDATE` adds instances and `EXDATE` removes
//!   them (a date form removes every instance starting on that date in the event's zone).
//!   An event with a `RECURRENCE-ID` replaces that instance of the event with its `UID`.
//! - `STATUS:CANCELLED` events are dropped: a cancelled holiday freezes nothing.
//! - `SUMMARY` (unfolded and unescaped) is the entry's name.
//!
//! The crates.io `icalendar` parser was considered for the content lines; it is not used
//! because its errors only point into the unfolded text and its values carry no line
//! numbers, while every error here must name the line of the original file.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use rrule::{RRule, RRuleSet, Unvalidated};

use super::CalendarEntry;

/// At most this many occurrences of one recurring event are kept.
pub const MAX_OCCURRENCES: usize = 5_000;

/// At most this many instances of a rule are stepped over before 2000-01-01; past that
/// the file is refused (stepping hourly from the year 1 would take minutes).
const MAX_SKIPPED: usize = 200_000;

/// Recurrences are expanded over this span, ends included.
fn expansion_window() -> (DateTime<Utc>, DateTime<Utc>) {
    // 1 January exists in both years, so the default is never used.
    let at =
        |year| Utc.from_utc_datetime(&NaiveDate::from_yo_opt(year, 1).unwrap_or_default().and_time(NaiveTime::MIN));
    (at(2000), at(2100))
}

/// A calendar that cannot be read. Displays as
/// `config/holidays/us.ics line 12: DTSTART "20261301" is not a date`.
///
/// `Display` and `Error` are written by hand rather than derived with `thiserror`, because
/// thiserror treats a field named `source` as the underlying error, and here `source` is
/// the file's name (a `String`), which the error shape asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcsError {
    /// The file or URL the text came from.
    pub source: String,
    /// The 1-based line of the original (folded) text, where one is known.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for IcsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} line {line}: {}", self.source, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

impl std::error::Error for IcsError {}

/// Parses `text`, an iCalendar file read from `source`, into calendar entries: every
/// event's entries in file order, each recurring event's in time order.
pub fn parse_ics(text: &str, source: &str) -> Result<Vec<CalendarEntry>, IcsError> {
    let err = |line: Option<usize>, message: String| IcsError { source: source.to_owned(), line, message };
    let lines = content_lines(text).map_err(|(line, message)| err(Some(line), message))?;
    let events = events(&lines).map_err(|(line, message)| err(line, message))?;

    // Instances replaced by a RECURRENCE-ID event are removed from their master event.
    let mut replaced: HashSet<(String, DateTime<Utc>)> = HashSet::new();
    let mut parsed = Vec::with_capacity(events.len());
    for event in &events {
        let event = Event::read(event).map_err(|(line, message)| err(Some(line), message))?;
        if let (Some(uid), Some(id)) = (&event.uid, event.recurrence_id) {
            replaced.insert((uid.clone(), id));
        }
        parsed.push(event);
    }

    let mut out = Vec::new();
    for event in parsed {
        if event.cancelled {
            continue;
        }
        event.expand(&replaced, &mut out).map_err(|(line, message)| err(Some(line), message))?;
    }
    Ok(out)
}

/// One unfolded content line: `NAME;PARAM=VALUE:value`.
#[derive(Debug)]
struct ContentLine {
    /// 1-based line in the original text where this content line starts.
    number: usize,
    /// Upper-cased, as names are case-insensitive.
    name: String,
    /// Parameter names upper-cased, values with their quotes removed.
    params: Vec<(String, String)>,
    value: String,
}

impl ContentLine {
    fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

type LineError = (usize, String);

/// Unfolds the text (a line starting with a space or tab continues the previous one) and
/// splits each content line into name, parameters and value, keeping its line number.
fn content_lines(text: &str) -> Result<Vec<ContentLine>, LineError> {
    let mut logical: Vec<(usize, String)> = Vec::new();
    for (index, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        match (raw.strip_prefix([' ', '\t']), logical.last_mut()) {
            (Some(rest), Some((_, current))) => current.push_str(rest),
            (Some(_), None) => return Err((index + 1, "the file starts with a continuation line".to_owned())),
            (None, _) if raw.trim().is_empty() => {}
            (None, _) => logical.push((index + 1, raw.to_owned())),
        }
    }
    logical.into_iter().map(|(number, line)| split_line(number, &line)).collect()
}

fn split_line(number: usize, line: &str) -> Result<ContentLine, LineError> {
    let name_end =
        line.find([';', ':']).ok_or_else(|| (number, format!("\"{}\" is not a content line", short(line))))?;
    let name = line[..name_end].to_ascii_uppercase();
    if name.is_empty() {
        return Err((number, format!("\"{}\" has no property name", short(line))));
    }
    let mut params = Vec::new();
    let mut rest = &line[name_end..];
    // Parameters: `;NAME=value` or `;NAME="quoted; value"`, until the first unquoted colon.
    while let Some(after) = rest.strip_prefix(';') {
        let eq = after.find('=').ok_or_else(|| (number, format!("{name}: a parameter has no value")))?;
        let pname = after[..eq].to_ascii_uppercase();
        let mut value_part = &after[eq + 1..];
        let pvalue;
        if let Some(quoted) = value_part.strip_prefix('"') {
            let close = quoted.find('"').ok_or_else(|| (number, format!("{name}: unclosed quote in {pname}")))?;
            pvalue = quoted[..close].to_owned();
            value_part = &quoted[close + 1..];
        } else {
            let end = value_part.find([';', ':']).unwrap_or(value_part.len());
            pvalue = value_part[..end].to_owned();
            value_part = &value_part[end..];
        }
        params.push((pname, pvalue));
        rest = value_part;
    }
    let value = rest.strip_prefix(':').ok_or_else(|| (number, format!("{name} has no value")))?;
    Ok(ContentLine { number, name, params, value: value.to_owned() })
}

/// Shortens a line for an error message.
fn short(line: &str) -> String {
    line.chars().take(60).collect()
}

/// The lines of one VEVENT, without those of components nested in it.
struct RawEvent<'a> {
    begin_line: usize,
    props: Vec<&'a ContentLine>,
}

/// Checks the BEGIN/END structure and collects the events' properties.
fn events(lines: &[ContentLine]) -> Result<Vec<RawEvent<'_>>, (Option<usize>, String)> {
    let first = lines.first().ok_or((None, "the file is empty, not an iCalendar file".to_owned()))?;
    if first.name != "BEGIN" || !first.value.eq_ignore_ascii_case("VCALENDAR") {
        return Err((Some(first.number), "the file does not begin with BEGIN:VCALENDAR".to_owned()));
    }
    let mut stack: Vec<(String, usize)> = Vec::new();
    let mut events = Vec::new();
    let mut current: Option<RawEvent<'_>> = None;
    let mut ended = false;
    for line in lines {
        if ended {
            // Several calendars may be concatenated in one stream (RFC 5545 section 3.4).
            if line.name == "BEGIN" && line.value.eq_ignore_ascii_case("VCALENDAR") {
                ended = false;
            } else {
                return Err((Some(line.number), format!("{} after END:VCALENDAR", line.name)));
            }
        }
        match line.name.as_str() {
            "BEGIN" => {
                let component = line.value.to_ascii_uppercase();
                if component == "VEVENT" {
                    if current.is_some() {
                        return Err((Some(line.number), "an event inside an event".to_owned()));
                    }
                    current = Some(RawEvent { begin_line: line.number, props: Vec::new() });
                }
                stack.push((component, line.number));
            }
            "END" => {
                let component = line.value.to_ascii_uppercase();
                match stack.pop() {
                    Some((open, _)) if open == component => {}
                    Some((open, open_line)) => {
                        return Err((
                            Some(line.number),
                            format!("END:{component} does not close BEGIN:{open} of line {open_line}"),
                        ))
                    }
                    None => return Err((Some(line.number), format!("END:{component} without BEGIN"))),
                }
                if component == "VEVENT" {
                    if let Some(event) = current.take() {
                        events.push(event);
                    }
                }
                if stack.is_empty() {
                    ended = true;
                }
            }
            _ => {
                // Only the event's own properties: a nested VALARM's lines are skipped.
                if let (Some(event), Some((top, _))) = (current.as_mut(), stack.last()) {
                    if top == "VEVENT" {
                        event.props.push(line);
                    }
                }
            }
        }
    }
    if let Some((open, open_line)) = stack.last() {
        return Err((Some(*open_line), format!("BEGIN:{open} is never closed")));
    }
    Ok(events)
}

/// A DTSTART, DTEND, EXDATE, RDATE or RECURRENCE-ID value.
#[derive(Debug, Clone, Copy)]
enum When {
    Date(NaiveDate),
    /// UTC (`Z`), or floating, which is read as UTC.
    Utc(NaiveDateTime),
    Zoned(NaiveDateTime, chrono_tz::Tz),
}

impl When {
    fn is_date(self) -> bool {
        matches!(self, When::Date(_))
    }

    /// The instant, in the zone the rrule crate expands recurrences in. A date is its
    /// midnight in UTC; the caller keeps dates as dates.
    fn to_rrule(self) -> DateTime<rrule::Tz> {
        match self {
            When::Date(date) => rrule::Tz::UTC.from_utc_datetime(&date.and_time(NaiveTime::MIN)),
            When::Utc(naive) => rrule::Tz::UTC.from_utc_datetime(&naive),
            When::Zoned(naive, tz) => resolve_local(&rrule::Tz::Tz(tz), naive),
        }
    }
}

/// A wall time in `tz`: the first of two when the clocks go back, and the first valid
/// instant after it when it falls in a spring-forward gap.
fn resolve_local<Z: TimeZone>(tz: &Z, naive: NaiveDateTime) -> DateTime<Z> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t,
        LocalResult::Ambiguous(first, _) => first,
        LocalResult::None => {
            // Gaps are whole minutes long and at most a day in every tz database zone, so
            // the first valid minute after the wall time is the transition itself.
            let mut probe = naive;
            for _ in 0..(24 * 60) {
                probe += Duration::minutes(1);
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    return t;
                }
            }
            // Not reachable with the tz database; read the wall time as UTC rather than fail.
            tz.from_utc_datetime(&naive)
        }
    }
}

/// Reads a date or date-time value of `line` (one of possibly several, comma-separated).
fn parse_when(line: &ContentLine, value: &str) -> Result<When, LineError> {
    let name = &line.name;
    let is_date = line.param("VALUE").is_some_and(|v| v.eq_ignore_ascii_case("DATE")) || value.len() == 8;
    if is_date {
        return NaiveDate::parse_from_str(value, "%Y%m%d")
            .map(When::Date)
            .map_err(|_| (line.number, format!("{name} \"{value}\" is not a date")));
    }
    let (text, utc) = match value.strip_suffix(['Z', 'z']) {
        Some(text) => (text, true),
        None => (value, false),
    };
    let naive = NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%S")
        .map_err(|_| (line.number, format!("{name} \"{value}\" is not a date-time")))?;
    match line.param("TZID") {
        Some(_) if utc => Err((line.number, format!("{name} \"{value}\" is in UTC and also has a TZID"))),
        Some(tzid) => {
            // Some programs write `TZID=/Europe/Berlin` to mark a globally unique name.
            let tz = chrono_tz::Tz::from_str(tzid.trim_start_matches('/')).map_err(|_| {
                (line.number, format!("{name}: unknown time zone \"{tzid}\" (TZID must be an IANA name)"))
            })?;
            Ok(When::Zoned(naive, tz))
        }
        None => Ok(When::Utc(naive)),
    }
}

/// A `DURATION` value: calendar days (weeks included), which keep the wall time across
/// daylight-saving changes, and exact seconds, as RFC 5545 section 3.3.6 says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IcsDuration {
    days: i64,
    seconds: i64,
}

fn parse_duration(line: &ContentLine) -> Result<IcsDuration, LineError> {
    let bad = || (line.number, format!("DURATION \"{}\" is not a duration", line.value));
    let value = line.value.trim();
    let (sign, rest) = match value.as_bytes().first() {
        Some(b'-') => (-1, &value[1..]),
        Some(b'+') => (1, &value[1..]),
        _ => (1, value),
    };
    let rest = rest.strip_prefix(['P', 'p']).ok_or_else(bad)?;
    let (mut days, mut seconds) = (0i64, 0i64);
    let mut in_time = false;
    let mut number = String::new();
    let mut any = false;
    for ch in rest.chars() {
        match ch.to_ascii_uppercase() {
            '0'..='9' => number.push(ch),
            'T' if !in_time && number.is_empty() => in_time = true,
            unit => {
                let n: i64 = number.parse().map_err(|_| bad())?;
                number.clear();
                any = true;
                match (unit, in_time) {
                    ('W', false) => days += n * 7,
                    ('D', false) => days += n,
                    ('H', true) => seconds += n * 3600,
                    ('M', true) => seconds += n * 60,
                    ('S', true) => seconds += n,
                    _ => return Err(bad()),
                }
            }
        }
    }
    if !number.is_empty() || !any {
        return Err(bad());
    }
    Ok(IcsDuration { days: sign * days, seconds: sign * seconds })
}

/// How long each instance lasts.
#[derive(Debug, Clone, Copy)]
enum Length {
    /// All-day events: this many dates.
    Days(i64),
    /// Timed events with DTEND: the exact difference (RFC 5545 section 3.8.5.3).
    Exact(Duration),
    /// Timed events with DURATION: nominal days plus exact seconds.
    Nominal(IcsDuration),
}

/// One VEVENT, checked.
struct Event {
    uid: Option<String>,
    name: String,
    start: When,
    start_line: usize,
    length: Length,
    rrule_lines: Vec<(usize, String)>,
    rdates: Vec<When>,
    exdates: Vec<When>,
    recurrence_id: Option<DateTime<Utc>>,
    cancelled: bool,
}

impl Event {
    fn read(raw: &RawEvent<'_>) -> Result<Event, LineError> {
        let prop = |name: &str| raw.props.iter().copied().find(|p| p.name == name);
        let dtstart = prop("DTSTART").ok_or_else(|| (raw.begin_line, "the event has no DTSTART".to_owned()))?;
        let start = parse_when(dtstart, dtstart.value.trim())?;

        let length = match (prop("DTEND"), prop("DURATION")) {
            (Some(end), Some(_)) => {
                return Err((end.number, "the event has both DTEND and DURATION".to_owned()));
            }
            (Some(end_line), None) => {
                let end = parse_when(end_line, end_line.value.trim())?;
                match (start, end) {
                    (When::Date(from), When::Date(to)) => {
                        let days = (to - from).num_days();
                        if days < 1 {
                            return Err((end_line.number, format!("DTEND {to} is not after DTSTART {from}")));
                        }
                        Length::Days(days)
                    }
                    (When::Date(_), _) | (_, When::Date(_)) => {
                        return Err((end_line.number, "DTEND must be a date exactly when DTSTART is".to_owned()));
                    }
                    (from, to) => {
                        let exact = to.to_rrule().signed_duration_since(from.to_rrule());
                        if exact < Duration::zero() {
                            return Err((end_line.number, "DTEND is before DTSTART".to_owned()));
                        }
                        Length::Exact(exact)
                    }
                }
            }
            (None, Some(duration_line)) => {
                let duration = parse_duration(duration_line)?;
                if duration.days < 0 || duration.seconds < 0 {
                    return Err((duration_line.number, "DURATION is negative".to_owned()));
                }
                if start.is_date() {
                    if duration.seconds != 0 || duration.days == 0 {
                        return Err((
                            duration_line.number,
                            "an all-day event's DURATION must be whole days".to_owned(),
                        ));
                    }
                    Length::Days(duration.days)
                } else {
                    Length::Nominal(duration)
                }
            }
            // RFC 5545 section 3.6.1: one day for a date, the start instant itself otherwise.
            (None, None) if start.is_date() => Length::Days(1),
            (None, None) => Length::Exact(Duration::zero()),
        };

        let mut rrule_lines = Vec::new();
        let mut rdates = Vec::new();
        let mut exdates = Vec::new();
        for p in &raw.props {
            match p.name.as_str() {
                "RRULE" => rrule_lines.push((p.number, p.value.clone())),
                "RDATE" | "EXDATE" => {
                    if p.param("VALUE").is_some_and(|v| v.eq_ignore_ascii_case("PERIOD")) {
                        return Err((p.number, format!("{}: PERIOD values are not supported", p.name)));
                    }
                    let list = if p.name == "RDATE" { &mut rdates } else { &mut exdates };
                    for value in p.value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                        list.push(parse_when(p, value)?);
                    }
                }
                _ => {}
            }
        }
        let recurrence_id = match prop("RECURRENCE-ID") {
            Some(p) => Some(parse_when(p, p.value.trim())?.to_rrule().with_timezone(&Utc)),
            None => None,
        };
        let name = prop("SUMMARY").map(|p| unescape_text(&p.value)).unwrap_or_else(|| "Untitled event".to_owned());
        Ok(Event {
            uid: prop("UID").map(|p| p.value.trim().to_owned()),
            name,
            start,
            start_line: dtstart.number,
            length,
            rrule_lines,
            rdates,
            exdates,
            recurrence_id,
            cancelled: prop("STATUS").is_some_and(|p| p.value.trim().eq_ignore_ascii_case("CANCELLED")),
        })
    }

    /// The rule with a date or floating `UNTIL` written in UTC when the event's start is a
    /// date, UTC or floating: calendar programs write `UNTIL=20301225` for all-day events,
    /// which the rrule crate would read in the machine's own zone and then refuse. A date
    /// `UNTIL` includes that whole date.
    fn normalized_until(&self, text: &str) -> String {
        if matches!(self.start, When::Zoned(..)) {
            return text.to_owned();
        }
        text.split(';')
            .map(|part| match part.split_once('=') {
                Some((key, value)) if key.eq_ignore_ascii_case("UNTIL") => {
                    if value.len() == 8 {
                        format!("{key}={value}T235959Z")
                    } else if !value.ends_with(['Z', 'z']) {
                        format!("{key}={value}Z")
                    } else {
                        part.to_owned()
                    }
                }
                _ => part.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(";")
    }

    /// The event's instances, recurrences expanded and exclusions applied, as entries.
    fn expand(
        &self,
        replaced: &HashSet<(String, DateTime<Utc>)>,
        out: &mut Vec<CalendarEntry>,
    ) -> Result<(), LineError> {
        let dt_start = self.start.to_rrule();
        let starts = if self.rrule_lines.is_empty() {
            let mut starts = vec![dt_start];
            starts.extend(self.rdates.iter().map(|w| w.to_rrule()));
            starts
        } else {
            let mut set = RRuleSet::new(dt_start);
            for (line, text) in &self.rrule_lines {
                // Errors quote the rule as written in the file, not as normalized.
                let invalid = |e: rrule::RRuleError| (*line, format!("RRULE \"{text}\" is not valid: {e}"));
                let rule: RRule<Unvalidated> = self.normalized_until(text).parse().map_err(invalid)?;
                let rule = rule.validate(dt_start).map_err(invalid)?;
                set = set.rrule(rule);
            }
            for rdate in &self.rdates {
                set = set.rdate(rdate.to_rrule());
            }
            // The crate's own loop limits are on only when asked for; they stop a rule that
            // never matches (30 February) from spinning.
            let set = set.limit();
            // Enough instances that the cap still holds after the exclusions below.
            let wanted = MAX_OCCURRENCES.saturating_add(self.exdates.len());
            let (window_from, window_to) = expansion_window();
            let mut starts = Vec::new();
            let mut before_window = 0usize;
            for start in &set {
                let instant = start.with_timezone(&Utc);
                if instant < window_from {
                    // A fine rule that starts centuries early would otherwise take minutes.
                    before_window += 1;
                    if before_window > MAX_SKIPPED {
                        let line = self.rrule_lines.first().map_or(self.start_line, |(line, _)| *line);
                        return Err((
                            line,
                            format!("the rule gives more than {MAX_SKIPPED} instances before 2000; start it later"),
                        ));
                    }
                    continue;
                }
                if instant > window_to || starts.len() == wanted {
                    break;
                }
                starts.push(start);
            }
            starts
        };

        let excluded_instants: HashSet<DateTime<Utc>> =
            self.exdates.iter().filter(|w| !w.is_date()).map(|w| w.to_rrule().with_timezone(&Utc)).collect();
        let excluded_dates: HashSet<NaiveDate> =
            self.exdates.iter().filter_map(|w| if let When::Date(d) = w { Some(*d) } else { None }).collect();

        let mut seen = HashSet::new();
        let first_entry = out.len();
        for start in starts {
            let instant = start.with_timezone(&Utc);
            let local_date = start.date_naive();
            if excluded_instants.contains(&instant) || excluded_dates.contains(&local_date) {
                continue;
            }
            if let Some(uid) = &self.uid {
                // The master's instance is replaced by its RECURRENCE-ID event; that event
                // itself (which carries the same UID) is kept.
                if self.recurrence_id.is_none() && replaced.contains(&(uid.clone(), instant)) {
                    continue;
                }
            }
            // An RDATE may repeat an instance the rule already gives.
            if !seen.insert(instant) {
                continue;
            }
            // Counted in entries, so a long multi-day event repeated often stays bounded too.
            if out.len() - first_entry >= MAX_OCCURRENCES {
                break;
            }
            self.push_instance(start, out)?;
        }
        Ok(())
    }

    fn push_instance(&self, start: DateTime<rrule::Tz>, out: &mut Vec<CalendarEntry>) -> Result<(), LineError> {
        match self.length {
            Length::Days(days) => {
                let first = start.date_naive();
                // A single instance never gives more than the per-event cap of dates.
                for offset in 0..days.min(MAX_OCCURRENCES as i64) {
                    let date = first
                        .checked_add_signed(Duration::days(offset))
                        .ok_or_else(|| (self.start_line, "the event runs past the last date there is".to_owned()))?;
                    out.push(CalendarEntry::AllDay { date, name: self.name.clone() });
                }
            }
            Length::Exact(exact) => {
                let from = start.with_timezone(&Utc);
                out.push(CalendarEntry::Timed { from, to: from + exact, name: self.name.clone() });
            }
            Length::Nominal(duration) => {
                let wall = start.naive_local() + Duration::days(duration.days);
                let to =
                    resolve_local(&start.timezone(), wall).with_timezone(&Utc) + Duration::seconds(duration.seconds);
                out.push(CalendarEntry::Timed { from: start.with_timezone(&Utc), to, name: self.name.clone() });
            }
        }
        Ok(())
    }
}

/// Undoes TEXT escaping (RFC 5545 section 3.3.11): `\\`, `\;`, `\,`, `\n` and `\N`.
fn unescape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests;
