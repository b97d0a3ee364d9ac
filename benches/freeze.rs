//! Criterion benchmarks of the freeze calendar: one check with 500 holidays and 10 windows,
//! and `next_open` searching across a whole year.
//!
//! `cargo bench --bench freeze`

use chrono::{DateTime, Duration, NaiveDate, Utc};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use shipgate::domain::freeze::calendar::{
    Calendar, CronConfig, FreezeConfig, HolidayDate, HolidaysConfig, WeeklyConfig, WindowConfig,
};
use shipgate::domain::freeze::FreezeCalendar;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// New York: Friday afternoons, 500 holidays with eves over 2026-2035, 10 one-off windows
/// and a month-end cron window, plus `extra_weekly`.
fn config(extra_weekly: &[(&str, &str)]) -> FreezeConfig {
    let base = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
    let dates = (0..500)
        .map(|i| HolidayDate { date: (base + Duration::days(i * 7 + i % 5)).to_string(), name: format!("Holiday {i}") })
        .collect();
    let windows = (0..10)
        .map(|i| {
            let from = base + Duration::days(20 + i * 35);
            WindowConfig {
                name: format!("Window {i}"),
                from: format!("{from} 17:00"),
                to: format!("{} 09:00", from + Duration::days(3)),
            }
        })
        .collect();
    let mut weekly =
        vec![WeeklyConfig { name: "Friday afternoon".into(), from: "fri 12:00".into(), to: "mon 00:00".into() }];
    weekly.extend(extra_weekly.iter().map(|(f, t)| WeeklyConfig {
        name: "extra".into(),
        from: (*f).into(),
        to: (*t).into(),
    }));
    FreezeConfig {
        teams: Vec::new(),
        timezone: "America/New_York".into(),
        working_days: ["mon", "tue", "wed", "thu", "fri"].map(String::from).to_vec(),
        weekly,
        holidays: HolidaysConfig { dates, ics: vec![], eve_from: Some("12:00".into()) },
        windows,
        cron: vec![CronConfig { name: "Month-end close".into(), cron: "0 18 L * *".into(), duration: "14h".into() }],
    }
}

fn bench(c: &mut Criterion) {
    let cal = Calendar::build(&config(&[]), vec![]).unwrap();
    // Tuesday 10:00 EDT, open.
    let open = utc("2026-06-16T14:00:00Z");
    assert!(!cal.verdict(open).is_frozen());
    c.bench_function("freeze check, open (500 holidays, 10 windows)", |b| b.iter(|| cal.verdict(black_box(open))));
    // Friday 13:00 EDT, frozen; the verdict includes next_open.
    let frozen = utc("2026-06-19T17:00:00Z");
    assert!(cal.verdict(frozen).is_frozen());
    c.bench_function("freeze check, frozen with next_open (500 holidays, 10 windows)", |b| {
        b.iter(|| cal.verdict(black_box(frozen)))
    });

    // Frozen around the clock: next_open walks a whole year of windows and finds none.
    let always = Calendar::build(&config(&[("mon 00:00", "sun 12:00"), ("sun 11:00", "mon 00:30")]), vec![]).unwrap();
    let at = utc("2026-03-01T12:00:00Z");
    assert_eq!(always.next_open(at), None);
    c.bench_function("freeze next_open across a year (none found)", |b| b.iter(|| always.next_open(black_box(at))));
}

criterion_group!(benches, bench);
criterion_main!(benches);
