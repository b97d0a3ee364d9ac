//! Property tests: the calendar against a slow reference that enumerates every window.

use super::super::*;
use proptest::prelude::*;
use std::collections::BTreeSet;

const ZONES: [&str; 6] =
    ["America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham", "UTC"];
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const CRONS: [&str; 5] = ["0 18 L * *", "30 2 * * 0", "0 */6 * * *", "45 1 * * *", "15 3 1 * 1"];
const DURATIONS: [&str; 5] = ["90m", "14h", "2d", "1h30m", "20m"];

fn base() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).expect("date")
}

fn hhmm(quarter: u32) -> String {
    format!("{:02}:{:02}", quarter / 4, (quarter % 4) * 15)
}

fn local(day: i64, quarter: u32) -> String {
    format!("{} {}", base() + Duration::days(day), hhmm(quarter))
}

#[derive(Debug, Clone)]
struct Case {
    config: FreezeConfig,
    entries: Vec<CalendarEntry>,
}

fn arb_case() -> impl Strategy<Value = Case> {
    let weekly = prop::collection::vec((0..7usize, 0..96u32, 0..7usize, 0..96u32), 0..3);
    let holidays = prop::collection::vec(0..730i64, 0..8);
    let all_day = prop::collection::vec(0..730i64, 0..3);
    let timed = prop::collection::vec((0..730i64 * 24, 1..72i64), 0..3);
    let windows = prop::collection::vec((0..730i64, 0..96u32, 1..(20 * 96i64)), 0..3);
    let cron = prop::collection::vec((0..CRONS.len(), 0..DURATIONS.len()), 0..2);
    let working = prop::collection::btree_set(0..7usize, 0..7);
    (0..ZONES.len(), weekly, holidays, all_day, timed, windows, cron, working, prop::option::of(0..96u32)).prop_map(
        |(zone, weekly, holidays, all_day, timed, windows, cron, working, eve_from)| {
            let config = FreezeConfig {
                teams: Vec::new(),
                timezone: ZONES[zone].to_owned(),
                working_days: working.into_iter().map(|d| DAYS[d].to_owned()).collect(),
                weekly: weekly
                    .into_iter()
                    .filter(|(fd, fq, td, tq)| (fd, fq) != (td, tq))
                    .enumerate()
                    .map(|(i, (fd, fq, td, tq))| WeeklyConfig {
                        name: format!("weekly {i}"),
                        from: format!("{} {}", DAYS[fd], hhmm(fq)),
                        to: format!("{} {}", DAYS[td], hhmm(tq)),
                    })
                    .collect(),
                holidays: HolidaysConfig {
                    dates: holidays
                        .into_iter()
                        .enumerate()
                        .map(|(i, d)| HolidayDate {
                            date: (base() + Duration::days(d)).to_string(),
                            name: format!("holiday {i}"),
                        })
                        .collect(),
                    ics: vec![],
                    eve_from: eve_from.map(hhmm),
                },
                windows: windows
                    .into_iter()
                    .enumerate()
                    .map(|(i, (d, q, len))| {
                        let end = i64::from(q) + len;
                        WindowConfig {
                            name: format!("window {i}"),
                            from: local(d, q),
                            to: local(d + end / 96, (end % 96) as u32),
                        }
                    })
                    .collect(),
                cron: cron
                    .into_iter()
                    .enumerate()
                    .map(|(i, (c, d))| CronConfig {
                        name: format!("cron {i}"),
                        cron: CRONS[c].to_owned(),
                        duration: DURATIONS[d].to_owned(),
                    })
                    .collect(),
            };
            let start = Utc.from_utc_datetime(&base().and_time(NaiveTime::MIN));
            let entries = all_day
                .into_iter()
                .map(|d| CalendarEntry::AllDay { date: base() + Duration::days(d), name: format!("ics {d}") })
                .chain(timed.into_iter().map(|(h, len)| CalendarEntry::Timed {
                    from: start + Duration::hours(h),
                    to: start + Duration::hours(h + len),
                    name: format!("timed {h}"),
                }))
                .collect();
            Case { config, entries }
        },
    )
}

type Window = (String, DateTime<Utc>, DateTime<Utc>);

/// Every window from 2025-11-01 to 2029-03-01, enumerated the slow way.
fn reference(case: &Case) -> Vec<Window> {
    let c = &case.config;
    let tz: Tz = c.timezone.parse().expect("zone");
    let span_from = NaiveDate::from_ymd_opt(2025, 11, 1).expect("date");
    let span_to = NaiveDate::from_ymd_opt(2029, 3, 1).expect("date");
    let mut out = Vec::new();
    let days = || span_from.iter_days().take_while(|d| *d < span_to);
    for w in &c.weekly {
        let (fd, ft) = w.from.split_once(' ').expect("day time");
        let (td, tt) = w.to.split_once(' ').expect("day time");
        let fd = parse_weekday(fd).expect("day");
        let td = parse_weekday(td).expect("day");
        let ft = NaiveTime::parse_from_str(ft, "%H:%M").expect("time");
        let tt = NaiveTime::parse_from_str(tt, "%H:%M").expect("time");
        for d in days().filter(|d| d.weekday() == fd) {
            let mut end = d;
            while end.weekday() != td {
                end = end.succ_opt().expect("date");
            }
            if end == d && tt <= ft {
                end += Duration::days(7);
            }
            out.push(("weekly".to_owned(), resolve_local(tz, d.and_time(ft)), resolve_local(tz, end.and_time(tt))));
        }
    }
    let mut holidays: Vec<NaiveDate> =
        c.holidays.dates.iter().map(|h| NaiveDate::parse_from_str(&h.date, "%Y-%m-%d").expect("date")).collect();
    for e in &case.entries {
        match e {
            CalendarEntry::AllDay { date, .. } => holidays.push(*date),
            CalendarEntry::Timed { from, to, .. } => out.push(("holiday".to_owned(), *from, *to)),
        }
    }
    let working: Vec<Weekday> = c.working_days.iter().map(|d| parse_weekday(d).expect("day")).collect();
    let midnight = |d: NaiveDate| resolve_local(tz, d.and_time(NaiveTime::MIN));
    for h in &holidays {
        out.push(("holiday".to_owned(), midnight(*h), midnight(h.succ_opt().expect("date"))));
        if let Some(eve_from) = &c.holidays.eve_from {
            let eve_from = NaiveTime::parse_from_str(eve_from, "%H:%M").expect("time");
            let mut d = *h;
            for _ in 0..30 {
                d = d.pred_opt().expect("date");
                if working.contains(&d.weekday()) && !holidays.contains(&d) {
                    out.push((
                        "eve".to_owned(),
                        resolve_local(tz, d.and_time(eve_from)),
                        midnight(d.succ_opt().expect("date")),
                    ));
                    break;
                }
            }
        }
    }
    for w in &c.windows {
        let p = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("local");
        out.push(("window".to_owned(), resolve_local(tz, p(&w.from)), resolve_local(tz, p(&w.to))));
    }
    for cr in &c.cron {
        let cron = Cron::new(&cr.cron).parse().expect("cron");
        let duration = parse_duration(&cr.duration).expect("duration");
        let start = Utc.from_utc_datetime(&span_from.and_time(NaiveTime::MIN));
        for fire in cron.iter_from(start) {
            if fire.naive_utc().date() >= span_to {
                break;
            }
            let from = resolve_local(tz, fire.naive_utc());
            out.push(("cron".to_owned(), from, from + duration));
        }
    }
    out.retain(|(_, f, t)| f < t);
    out
}

fn covered(reference: &[Window], t: DateTime<Utc>) -> BTreeSet<Window> {
    reference.iter().filter(|(_, f, to)| *f <= t && t < *to).cloned().collect()
}

/// Daylight-saving changes of the zones above in 2026.
const CHANGES: [&str; 8] = [
    "2026-03-08T07:00:00Z",
    "2026-11-01T06:00:00Z",
    "2026-03-29T01:00:00Z",
    "2026-10-25T01:00:00Z",
    "2026-04-04T15:00:00Z",
    "2026-10-03T15:30:00Z",
    "2026-04-04T14:00:00Z",
    "2026-09-26T14:00:00Z",
];

fn arb_instant() -> impl Strategy<Value = DateTime<Utc>> {
    // 2026-01-01 .. 2027-12-31, to the second, often on a quarter hour; or within a day and
    // a half of a daylight-saving change.
    let uniform = (0..730i64 * 96, prop::bool::ANY, 0..900i64).prop_map(|(q, exact, s)| {
        let t = Utc.from_utc_datetime(&base().and_time(NaiveTime::MIN)) + Duration::minutes(q * 15);
        if exact {
            t
        } else {
            t + Duration::seconds(s)
        }
    });
    let near_change = (0..CHANGES.len(), -144..144i64).prop_map(|(c, q)| {
        DateTime::parse_from_rfc3339(CHANGES[c]).expect("instant").with_timezone(&Utc) + Duration::minutes(q * 15)
    });
    prop_oneof![uniform, near_change]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn frozen_exactly_when_some_window_covers_the_instant(
        case in arb_case(),
        at in arb_instant(),
        boundary in prop::option::of((any::<prop::sample::Index>(), prop::bool::ANY)),
    ) {
        let cal = Calendar::build(&case.config, case.entries.clone()).expect("valid");
        let reference = reference(&case);
        // Often exactly at (or a second before) the start or end of some window.
        let in_range = |t: &DateTime<Utc>| t.year() >= 2026 && t.year() <= 2027;
        let bounds: Vec<DateTime<Utc>> = reference.iter().flat_map(|w| [w.1, w.2]).filter(in_range).collect();
        let at = match boundary {
            Some((i, before)) if !bounds.is_empty() => {
                let t = bounds[i.index(bounds.len())];
                if before { t - Duration::seconds(1) } else { t }
            }
            _ => at,
        };
        let expected = covered(&reference, at);
        match cal.verdict(at) {
            FreezeVerdict::Open => prop_assert!(expected.is_empty(), "open but covered by {:?}", expected),
            FreezeVerdict::Frozen { reasons, next_open } => {
                let got: BTreeSet<Window> = reasons.iter().map(|r| (r.kind.clone(), r.from, r.to)).collect();
                prop_assert_eq!(&got, &expected);
                let starts: Vec<_> = reasons.iter().map(|r| (r.from, r.kind.clone())).collect();
                let mut sorted = starts.clone();
                sorted.sort();
                prop_assert_eq!(starts, sorted, "reasons sorted by start then kind");
                match next_open {
                    Some(open) => {
                        prop_assert!(open > at);
                        prop_assert!(covered(&reference, open).is_empty(), "next_open {} is frozen", open);
                        for k in 0..64 {
                            let t = at + (open - at) * k / 64;
                            prop_assert!(!covered(&reference, t).is_empty(), "{} before next_open is open", t);
                        }
                        for r in &reference {
                            prop_assert!(!(r.2 > at && r.2 < open && covered(&reference, r.2).is_empty()), "{} ends an open gap", r.2);
                        }
                    }
                    None => {
                        for k in 0..64 {
                            let t = at + Duration::days(366) * k / 64;
                            prop_assert!(!covered(&reference, t).is_empty(), "{} within a year is open", t);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn windows_between_lists_every_overlapping_window(case in arb_case(), at in arb_instant(), days in 1..40i64) {
        let cal = Calendar::build(&case.config, case.entries.clone()).expect("valid");
        let to = at + Duration::days(days);
        let expected: BTreeSet<Window> =
            reference(&case).into_iter().filter(|(_, f, t)| *f < to && *t > at).collect();
        let listed = cal.windows_between(at, to);
        let got: BTreeSet<Window> = listed.iter().map(|r| (r.kind.clone(), r.from, r.to)).collect();
        prop_assert_eq!(got, expected);
        prop_assert!(listed.windows(2).all(|w| (w[0].from, &w[0].kind) <= (w[1].from, &w[1].kind)));
    }
}
