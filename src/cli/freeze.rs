//! `shipgate freeze check|calendar`: the freeze calendar from the command line, so a CI
//! job can gate a deploy on it (exit codes like `diff`: 0 open, 1 frozen, 2 error).

use super::FreezeCommand;
use crate::app::freeze::load_calendars;
use crate::config::Config;
use crate::domain::freeze::calendar::Calendar;
use crate::domain::freeze::{FreezeCalendar, FreezeReason, FreezeVerdict};
use crate::store::Store;
use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

pub const EXIT_OPEN: i32 = 0;
pub const EXIT_FROZEN: i32 = 1;
pub const EXIT_ERROR: i32 = 2;

/// Runs `shipgate freeze ...`, printing to stdout and stderr; returns the exit code.
pub async fn run_freeze(cmd: FreezeCommand) -> anyhow::Result<i32> {
    let mut out = super::output::Stdout::new();
    let mut err = std::io::stderr();
    match run(cmd, &mut out, &mut err).await {
        Ok(code) => Ok(code),
        Err(message) => {
            writeln!(err, "error: {message}")?;
            Ok(EXIT_ERROR)
        }
    }
}

async fn run(cmd: FreezeCommand, out: &mut dyn Write, err: &mut dyn Write) -> Result<i32, String> {
    match cmd {
        FreezeCommand::Check { at, config, json, channel } => {
            let at = match at {
                Some(text) => DateTime::parse_from_rfc3339(text.trim())
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| format!("--at {text:?} is not an RFC 3339 time like 2026-12-04T17:00:00Z: {e}"))?,
                None => Utc::now(),
            };
            let calendar = calendar(config.as_deref(), channel.as_deref()).await?;
            check(calendar.as_deref(), at, json, out).map_err(|e| e.to_string())
        }
        FreezeCommand::Calendar { from, to, config, ics, channel } => {
            let from = date("--from", &from)?;
            let to = date("--to", &to)?;
            if to < from {
                return Err(format!("--to {to} is before --from {from}"));
            }
            let Some(calendar) = calendar(config.as_deref(), channel.as_deref()).await? else {
                writeln!(err, "no freeze calendar is configured ([freeze] in the config file)")
                    .map_err(|e| e.to_string())?;
                return Ok(EXIT_OPEN);
            };
            let tz = calendar.timezone();
            let start = local_midnight(tz, from);
            let end = local_midnight(tz, to.succ_opt().unwrap_or(to));
            let windows = calendar.windows_between(start, end);
            let text = if ics { to_ics(&windows) } else { readable(&windows, tz) };
            out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
            Ok(EXIT_OPEN)
        }
    }
}

fn date(flag: &str, text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{flag} {text:?} is not a date like 2026-12-01"))
}

fn local_midnight(tz: chrono_tz::Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    // Midnight may not exist (a DST change at 00:00): the first instant of the day then.
    tz.from_local_datetime(&midnight)
        .earliest()
        .or_else(|| tz.from_local_datetime(&(midnight + chrono::Duration::hours(1))).earliest())
        .map_or_else(|| Utc.from_utc_datetime(&midnight), |t| t.with_timezone(&Utc))
}

/// The calendar of releases in `channel` (its team's, or `[freeze]`), or `None` when the
/// config has no `[freeze]`.
async fn calendar(path: Option<&Path>, channel: Option<&str>) -> Result<Option<Arc<Calendar>>, String> {
    let config = Config::load_without_clients(path).map_err(|e| e.to_string())?;
    let Some(freeze) = &config.freeze else {
        return Ok(None);
    };
    // The database is opened only to fall back on kept copies of remote calendars.
    let store = if crate::app::freeze::has_remote_sources(freeze) {
        Store::connect(&config.database.url).await.ok()
    } else {
        None
    };
    let calendars = load_calendars(freeze, store.as_ref()).await.map_err(|e| e.to_string())?;
    Ok(Some(calendars.for_channel(channel).current()))
}

fn utc(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn check(calendar: Option<&Calendar>, at: DateTime<Utc>, json: bool, out: &mut dyn Write) -> std::io::Result<i32> {
    let verdict = calendar.map_or(FreezeVerdict::Open, |c| c.verdict(at));
    let (reasons, next_open) = match &verdict {
        FreezeVerdict::Open => (Vec::new(), Some(at)),
        FreezeVerdict::Frozen { reasons, next_open } => (reasons.clone(), *next_open),
    };
    if json {
        let reasons: Vec<_> = reasons
            .iter()
            .map(|r| json!({"kind": r.kind, "name": r.name, "from": utc(r.from), "to": utc(r.to)}))
            .collect();
        let answer = json!({
            "at": utc(at),
            "frozen": verdict.is_frozen(),
            "reasons": reasons,
            "next_open": next_open.map(utc),
        });
        writeln!(out, "{answer}")?;
    } else {
        let tz = calendar.map_or(chrono_tz::UTC, Calendar::timezone);
        let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%a %-d %b %H:%M %Z").to_string();
        match &verdict {
            FreezeVerdict::Open if calendar.is_none() => writeln!(out, "open: no freeze calendar is configured")?,
            FreezeVerdict::Open => writeln!(out, "open: no freeze window covers {}", local(at))?,
            FreezeVerdict::Frozen { .. } => {
                let names: Vec<&str> = reasons.iter().map(|r| r.name.as_str()).collect();
                let until =
                    next_open.map_or_else(|| "for more than a year".to_owned(), |t| format!("until {}", local(t)));
                writeln!(out, "frozen: {}, {until}", names.join(", "))?;
            }
        }
    }
    Ok(if verdict.is_frozen() { EXIT_FROZEN } else { EXIT_OPEN })
}

fn readable(windows: &[FreezeReason], tz: chrono_tz::Tz) -> String {
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %a %H:%M %Z").to_string();
    if windows.is_empty() {
        return "no frozen windows in this range\n".to_owned();
    }
    windows.iter().map(|w| format!("{} – {}  {:<7} {}\n", local(w.from), local(w.to), w.kind, w.name)).collect()
}

/// The frozen windows as an iCalendar file a team can subscribe to.
fn to_ics(windows: &[FreezeReason]) -> String {
    let stamp = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let escape = |s: &str| s.replace('\\', "\\\\").replace(',', "\\,").replace(';', "\\;").replace('\n', "\\n");
    let mut ics = String::from(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//shipgate//freeze calendar//EN\r\nCALSCALE:GREGORIAN\r\n",
    );
    for w in windows {
        let uid: String = format!("{}-{}-{}", w.kind, stamp(w.from), w.name)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
            .collect();
        ics.push_str("BEGIN:VEVENT\r\n");
        ics.push_str(&format!("UID:{uid}@shipgate\r\n"));
        ics.push_str(&format!("DTSTAMP:{}\r\n", stamp(w.from)));
        ics.push_str(&format!("DTSTART:{}\r\n", stamp(w.from)));
        ics.push_str(&format!("DTEND:{}\r\n", stamp(w.to)));
        ics.push_str(&format!("SUMMARY:{}\r\n", escape(&format!("Production freeze: {}", w.name))));
        ics.push_str(&format!("CATEGORIES:{}\r\n", w.kind));
        ics.push_str("END:VEVENT\r\n");
    }
    ics.push_str("END:VCALENDAR\r\n");
    ics
}
