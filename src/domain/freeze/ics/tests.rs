use super::*;
use chrono::Datelike;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

fn all_day(y: i32, m: u32, d: u32, name: &str) -> CalendarEntry {
    CalendarEntry::AllDay { date: date(y, m, d), name: name.to_owned() }
}

fn timed(from: DateTime<Utc>, to: DateTime<Utc>, name: &str) -> CalendarEntry {
    CalendarEntry::Timed { from, to, name: name.to_owned() }
}

fn parse(text: &str) -> Vec<CalendarEntry> {
    parse_ics(text, "test.ics").unwrap()
}

fn error(text: &str, source: &str) -> IcsError {
    parse_ics(text, source).unwrap_err()
}

#[test]
fn all_day_events_are_one_entry_each_with_exclusive_end() {
    let entries = parse(include_str!("../../../../tests/fixtures/ics/all_day.ics"));
    assert_eq!(entries, vec![all_day(2026, 12, 25, "Christmas Day"), all_day(2026, 12, 26, "Boxing Day")]);
}

#[test]
fn multi_day_all_day_events_give_one_entry_per_date() {
    let entries = parse(include_str!("../../../../tests/fixtures/ics/multi_day.ics"));
    assert_eq!(
        entries,
        vec![
            all_day(2026, 12, 30, "Winter break"),
            all_day(2026, 12, 31, "Winter break"),
            all_day(2027, 1, 1, "Winter break"),
        ]
    );
}

#[test]
fn timed_utc_and_floating_events() {
    let entries = parse(include_str!("../../../../tests/fixtures/ics/timed_utc.ics"));
    assert_eq!(
        entries,
        vec![
            timed(utc(2026, 12, 4, 17, 0), utc(2026, 12, 4, 19, 30), "Database maintenance"),
            timed(utc(2026, 12, 5, 9, 0), utc(2026, 12, 5, 10, 0), "Floating time, read as UTC"),
        ]
    );
}

#[test]
fn tzid_events_keep_their_wall_time_across_daylight_saving() {
    let entries = parse(include_str!("../../../../tests/fixtures/ics/timed_tzid.ics"));
    assert_eq!(
        entries,
        vec![
            // 10:00 in Berlin: CET (+1) before 29 March 2026, CEST (+2) after.
            timed(utc(2026, 3, 21, 9, 0), utc(2026, 3, 21, 10, 0), "Saturday review"),
            timed(utc(2026, 3, 28, 9, 0), utc(2026, 3, 28, 10, 0), "Saturday review"),
            timed(utc(2026, 4, 4, 8, 0), utc(2026, 4, 4, 9, 0), "Saturday review"),
            // 02:30 does not exist on 29 March: it starts at the change, 03:00 CEST = 01:00 UTC.
            timed(utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 2, 0), "In the spring-forward gap"),
            // 02:30 happens twice on 25 October: the first, in CEST, is 00:30 UTC.
            timed(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30), "In the fall-back overlap"),
        ]
    );
}

#[test]
fn yearly_rules_with_excluded_dates_and_the_2000_window() {
    let entries = parse(include_str!("../../../../tests/fixtures/ics/yearly_exdate.ics"));
    assert_eq!(
        entries,
        vec![
            all_day(2026, 7, 4, "Independence Day"),
            all_day(2028, 7, 4, "Independence Day"),
            all_day(2030, 7, 4, "Independence Day"),
            timed(utc(2026, 12, 31, 22, 0), utc(2027, 1, 1, 2, 0), "New Year's Eve change freeze"),
            timed(utc(2029, 12, 31, 22, 0), utc(2030, 1, 1, 2, 0), "New Year's Eve change freeze"),
            // 1998 and 1999 are before the expansion window.
            all_day(2000, 12, 25, "Started before 2000"),
            all_day(2001, 12, 25, "Started before 2000"),
        ]
    );
}

#[test]
fn durations_in_days_keep_the_wall_time() {
    let entries = parse(include_str!("../../../../tests/fixtures/ics/duration.ics"));
    assert_eq!(
        entries,
        vec![
            all_day(2026, 10, 8, "Team offsite"),
            all_day(2026, 10, 9, "Team offsite"),
            // 12:00 CEST is 10:00 UTC; one day later, 12:00 CET is 11:00 UTC, plus two hours.
            timed(utc(2026, 10, 24, 10, 0), utc(2026, 10, 25, 13, 0), "Data centre migration"),
            timed(utc(2026, 11, 2, 8, 0), utc(2026, 11, 9, 8, 0), "Audit week"),
        ]
    );
}

#[test]
fn folded_lines_and_escapes() {
    let entries = parse(include_str!("../../../../tests/fixtures/ics/folded.ics"));
    assert_eq!(
        entries,
        vec![all_day(
            2026,
            11,
            27,
            "Day after Thanksgiving, observed by the platform team and the release managers; no deploys"
        )]
    );
}

#[test]
fn endless_rules_stop_at_the_cap() {
    let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20260101T000000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY\n\
                SUMMARY:Daily\nEND:VEVENT\nEND:VCALENDAR\n";
    let entries = parse(text);
    assert_eq!(entries.len(), MAX_OCCURRENCES);
    assert_eq!(entries[0], timed(utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 1, 0), "Daily"));
}

#[test]
fn endless_yearly_rules_stop_at_2100() {
    let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20260101\nRRULE:FREQ=YEARLY\n\
                SUMMARY:New Year\nEND:VEVENT\nEND:VCALENDAR\n";
    let entries = parse(text);
    assert_eq!(entries.len(), 2100 - 2026 + 1);
    assert_eq!(entries.last(), Some(&all_day(2100, 1, 1, "New Year")));
}

#[test]
fn cancelled_events_and_replaced_instances() {
    let text = "BEGIN:VCALENDAR\n\
                BEGIN:VEVENT\nUID:standup\nDTSTART:20260105T090000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;COUNT=2\n\
                SUMMARY:Window\nEND:VEVENT\n\
                BEGIN:VEVENT\nUID:standup\nRECURRENCE-ID:20260106T090000Z\nDTSTART:20260106T150000Z\n\
                DURATION:PT1H\nSUMMARY:Window moved\nEND:VEVENT\n\
                BEGIN:VEVENT\nUID:off\nDTSTART;VALUE=DATE:20260107\nSTATUS:CANCELLED\nSUMMARY:Off\nEND:VEVENT\n\
                END:VCALENDAR\n";
    assert_eq!(
        parse(text),
        vec![
            timed(utc(2026, 1, 5, 9, 0), utc(2026, 1, 5, 10, 0), "Window"),
            timed(utc(2026, 1, 6, 15, 0), utc(2026, 1, 6, 16, 0), "Window moved"),
        ]
    );
}

#[test]
fn a_file_without_vcalendar_is_refused() {
    let e = error(include_str!("../../../../tests/fixtures/ics/broken_no_vcalendar.ics"), "cal.ics");
    assert_eq!(e.line, Some(1));
    assert_eq!(e.to_string(), "cal.ics line 1: the file does not begin with BEGIN:VCALENDAR");
    assert_eq!(error("", "empty.ics").to_string(), "empty.ics: the file is empty, not an iCalendar file");
}

#[test]
fn an_event_without_dtstart_names_its_begin_line() {
    let e = error(include_str!("../../../../tests/fixtures/ics/broken_no_dtstart.ics"), "cal.ics");
    assert_eq!(e.to_string(), "cal.ics line 4: the event has no DTSTART");
}

#[test]
fn a_date_that_does_not_exist_names_its_line() {
    let e = error(include_str!("../../../../tests/fixtures/ics/broken_bad_date.ics"), "config/holidays/us.ics");
    assert_eq!(
        e,
        IcsError {
            source: "config/holidays/us.ics".to_owned(),
            line: Some(7),
            message: "DTSTART \"20261301\" is not a date".to_owned(),
        }
    );
    assert_eq!(e.to_string(), "config/holidays/us.ics line 7: DTSTART \"20261301\" is not a date");
}

#[test]
fn an_unknown_time_zone_names_its_line() {
    let e = error(include_str!("../../../../tests/fixtures/ics/broken_unknown_tzid.ics"), "cal.ics");
    assert_eq!(
        e.to_string(),
        "cal.ics line 15: DTSTART: unknown time zone \"Mars/Olympus_Mons\" (TZID must be an IANA name)"
    );
}

#[test]
fn a_rule_the_rrule_crate_rejects_names_its_line() {
    let e = error(include_str!("../../../../tests/fixtures/ics/broken_rrule.ics"), "cal.ics");
    assert_eq!(e.line, Some(8));
    assert!(e.message.starts_with("RRULE \"FREQ=YEARLY;BYFORTNIGHT=2\" is not valid: "), "{e}");
}

#[test]
fn an_unclosed_event_names_the_line() {
    let e = error(include_str!("../../../../tests/fixtures/ics/broken_unclosed.ics"), "cal.ics");
    assert_eq!(e.to_string(), "cal.ics line 9: END:VCALENDAR does not close BEGIN:VEVENT of line 4");
}

#[test]
fn other_malformed_values() {
    let wrap = |event: &str| format!("BEGIN:VCALENDAR\nBEGIN:VEVENT\n{event}\nEND:VEVENT\nEND:VCALENDAR\n");
    let message = |event: &str| error(&wrap(event), "c.ics").to_string();
    assert_eq!(message("DTSTART:20260230T100000Z"), "c.ics line 3: DTSTART \"20260230T100000Z\" is not a date-time");
    assert_eq!(message("DTSTART:20260201T100000Z\nDTEND:20260201T090000Z"), "c.ics line 4: DTEND is before DTSTART");
    assert_eq!(
        message("DTSTART;VALUE=DATE:20260201\nDTEND:20260202T090000Z"),
        "c.ics line 4: DTEND must be a date exactly when DTSTART is"
    );
    assert_eq!(message("DTSTART:20260201T100000Z\nDURATION:P1X"), "c.ics line 4: DURATION \"P1X\" is not a duration");
    assert_eq!(
        message("DTSTART;VALUE=DATE:20260201\nRRULE:FREQ=YEARLY\nEXDATE;VALUE=DATE:20270231"),
        "c.ics line 5: EXDATE \"20270231\" is not a date"
    );
    assert_eq!(message("DTSTART"), "c.ics line 3: \"DTSTART\" is not a content line");
}

/// Every shipped holiday calendar, by file name.
const HOLIDAY_FILES: [(&str, &str); 9] = [
    ("us", include_str!("../../../../config/holidays/us.ics")),
    ("gb", include_str!("../../../../config/holidays/gb.ics")),
    ("de", include_str!("../../../../config/holidays/de.ics")),
    ("fr", include_str!("../../../../config/holidays/fr.ics")),
    ("in", include_str!("../../../../config/holidays/in.ics")),
    ("jp", include_str!("../../../../config/holidays/jp.ics")),
    ("ca", include_str!("../../../../config/holidays/ca.ics")),
    ("au", include_str!("../../../../config/holidays/au.ics")),
    ("br", include_str!("../../../../config/holidays/br.ics")),
];

#[test]
fn every_shipped_holiday_calendar_covers_2026_to_2035() {
    // The list above must name every file in the folder, so a new country gets tested.
    let mut on_disk: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/config/holidays"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".ics"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = HOLIDAY_FILES.iter().map(|(c, _)| format!("{c}.ics")).collect();
    listed.sort();
    assert_eq!(on_disk, listed);

    for (country, text) in HOLIDAY_FILES {
        let entries = parse_ics(text, &format!("config/holidays/{country}.ics")).unwrap();
        for year in 2026..=2035 {
            assert!(
                entries.iter().any(|e| matches!(e, CalendarEntry::AllDay { date, .. } if date.year() == year)),
                "{country} has no holiday in {year}"
            );
        }
        assert!(entries.iter().all(|e| matches!(e, CalendarEntry::AllDay { .. })), "{country}");
    }
}

#[test]
fn shipped_holiday_calendars_hold_known_holidays() {
    let entries = |country: &str| {
        let (_, text) = HOLIDAY_FILES.iter().find(|(c, _)| *c == country).unwrap();
        parse_ics(text, country).unwrap()
    };
    let us = entries("us");
    assert!(us.contains(&all_day(2026, 12, 25, "Christmas Day")));
    assert!(us.contains(&all_day(2026, 7, 3, "Independence Day (observed)")));
    let gb = entries("gb");
    // Boxing Day 2026 is a Saturday; the bank holiday moves to Monday 28 December.
    assert!(gb.contains(&all_day(2026, 12, 26, "Boxing Day")));
    assert!(gb.contains(&all_day(2026, 12, 28, "Boxing Day (observed)")));
    assert!(entries("jp").contains(&all_day(2026, 1, 1, "New Year's Day")));
    assert!(entries("de").contains(&all_day(2026, 10, 3, "German Unity Day")));
}

fn one_event(body: &str) -> Result<Vec<CalendarEntry>, IcsError> {
    parse_ics(&format!("BEGIN:VCALENDAR\nBEGIN:VEVENT\n{body}\nSUMMARY:x\nEND:VEVENT\nEND:VCALENDAR\n"), "p.ics")
}

#[test]
fn a_date_until_includes_its_date() {
    let entries = one_event("DTSTART;VALUE=DATE:20260704\nRRULE:FREQ=YEARLY;UNTIL=20300704").unwrap();
    let dates: Vec<_> = (2026..=2030).map(|y| all_day(y, 7, 4, "x")).collect();
    assert_eq!(entries, dates);
}

#[test]
fn zoned_rules_with_utc_until_and_zoned_or_date_exdates() {
    let berlin = one_event(
        "DTSTART;TZID=Europe/Berlin:20260704T100000\nDURATION:PT1H\nRRULE:FREQ=YEARLY;UNTIL=20280704T080000Z\n\
         EXDATE;TZID=Europe/Berlin:20270704T100000",
    )
    .unwrap();
    assert_eq!(
        berlin,
        vec![
            timed(utc(2026, 7, 4, 8, 0), utc(2026, 7, 4, 9, 0), "x"),
            timed(utc(2028, 7, 4, 8, 0), utc(2028, 7, 4, 9, 0), "x"),
        ]
    );
    // A date EXDATE on a timed event removes the instance starting on that local date.
    let new_york = one_event(
        "DTSTART;TZID=America/New_York:20260704T210000\nRRULE:FREQ=YEARLY;COUNT=3\nEXDATE;VALUE=DATE:20270704",
    )
    .unwrap();
    assert_eq!(
        new_york,
        vec![
            timed(utc(2026, 7, 5, 1, 0), utc(2026, 7, 5, 1, 0), "x"),
            timed(utc(2028, 7, 5, 1, 0), utc(2028, 7, 5, 1, 0), "x")
        ]
    );
}

#[test]
fn rules_that_start_far_too_early_are_refused() {
    let e = one_event("DTSTART:00010101T000000Z\nRRULE:FREQ=HOURLY").unwrap_err();
    assert_eq!(e.to_string(), "p.ics line 4: the rule gives more than 200000 instances before 2000; start it later");
    // A daily rule from 1900 is stepped over and kept from 2000 on, up to the cap.
    let daily = one_event("DTSTART;VALUE=DATE:19000101\nRRULE:FREQ=DAILY").unwrap();
    assert_eq!(daily.len(), MAX_OCCURRENCES);
    assert_eq!(daily[0], all_day(2000, 1, 1, "x"));
}

#[test]
fn very_long_all_day_events_are_capped() {
    let entries =
        one_event("DTSTART;VALUE=DATE:20000101\nDTEND;VALUE=DATE:21000101\nRRULE:FREQ=DAILY;COUNT=3").unwrap();
    assert_eq!(entries.len(), MAX_OCCURRENCES);
}
