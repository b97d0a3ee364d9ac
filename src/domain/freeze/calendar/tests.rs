use super::*;
use chrono::SecondsFormat;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("RFC 3339").with_timezone(&Utc)
}

fn z(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn config(toml_text: &str) -> FreezeConfig {
    toml::from_str(toml_text).expect("valid freeze table")
}

fn calendar(toml_text: &str) -> Calendar {
    Calendar::build(&config(toml_text), vec![]).expect("valid calendar")
}

/// `(kind, name, from, to)` of every window covering `at`.
fn covering(cal: &Calendar, at: &str) -> Vec<(String, String, String, String)> {
    match cal.verdict(utc(at)) {
        FreezeVerdict::Open => vec![],
        FreezeVerdict::Frozen { reasons, .. } => {
            reasons.into_iter().map(|r| (r.kind, r.name, z(r.from), z(r.to))).collect()
        }
    }
}

fn reason(kind: &str, name: &str, from: &str, to: &str) -> (String, String, String, String) {
    (kind.to_owned(), name.to_owned(), from.to_owned(), to.to_owned())
}

fn next_open(cal: &Calendar, at: &str) -> Option<String> {
    match cal.verdict(utc(at)) {
        FreezeVerdict::Open => Some(z(utc(at))),
        FreezeVerdict::Frozen { next_open, .. } => next_open.map(z),
    }
}

fn problems(toml_text: &str, entries: Vec<CalendarEntry>) -> Vec<String> {
    match Calendar::build(&config(toml_text), entries) {
        Ok(_) => panic!("expected problems"),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

const FRIDAY_AFTERNOON: &str = r#"
[[weekly]]
name = "Friday afternoon"
from = "fri 12:00"
to = "mon 00:00"
"#;

fn friday_afternoon(tz: &str) -> Calendar {
    calendar(&format!("timezone = {tz:?}\n{FRIDAY_AFTERNOON}"))
}

/// Checks the Friday-afternoon window of a week: its exact instants, and that the minute
/// before it and its end are open.
fn check_weekly(cal: &Calendar, from: &str, to: &str) {
    let (f, t) = (utc(from), utc(to));
    let expected = vec![reason("weekly", "Friday afternoon", from, to)];
    assert_eq!(covering(cal, from), expected, "start {from}");
    assert_eq!(covering(cal, &z(t - Duration::seconds(1))), expected, "just before end {to}");
    assert_eq!(covering(cal, &z(f - Duration::seconds(1))), vec![], "just before start {from}");
    assert_eq!(covering(cal, to), vec![], "end {to}");
    assert_eq!(next_open(cal, from), Some(to.to_owned()));
    let listed = cal.windows_between(f - Duration::days(1), t + Duration::days(1));
    assert_eq!(listed.iter().map(|r| (z(r.from), z(r.to))).collect::<Vec<_>>(), vec![(from.to_owned(), to.to_owned())]);
}

// ----------------------------------------------------------------------------------------
// Configuration
// ----------------------------------------------------------------------------------------

#[test]
fn the_configuration_of_the_issue_parses_and_builds() {
    #[derive(Deserialize)]
    struct Root {
        freeze: FreezeConfig,
    }
    let root: Root = toml::from_str(
        r#"
[freeze]
timezone = "America/New_York"
working_days = ["mon", "tue", "wed", "thu", "fri"]
[[freeze.weekly]]
name = "Friday afternoon"
from = "fri 12:00"
to = "mon 00:00"
[freeze.holidays]
dates = [{ date = "2026-12-25", name = "Christmas Day" }]
ics = ["config/holidays/us.ics"]
eve_from = "12:00"
[[freeze.windows]]
name = "Year-end freeze"
from = "2026-12-18 17:00"
to = "2027-01-04 09:00"
[[freeze.cron]]
name = "Month-end close"
cron = "0 18 L * *"
duration = "14h"
"#,
    )
    .expect("the issue's configuration");
    assert_eq!(root.freeze.holidays.ics, vec!["config/holidays/us.ics".to_owned()]);
    let cal = Calendar::build(
        &root.freeze,
        vec![CalendarEntry::AllDay {
            date: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
            name: "Thanksgiving".into(),
        }],
    )
    .expect("builds");
    assert_eq!(cal.timezone(), chrono_tz::America::New_York);
    // Thanksgiving 2026 is Thursday 26 November; its eve is Wednesday from noon EST.
    assert_eq!(
        covering(&cal, "2026-11-25T17:00:00Z"),
        vec![reason("eve", "eve of Thanksgiving", "2026-11-25T17:00:00Z", "2026-11-26T05:00:00Z")]
    );
    // Christmas Day 2026 (a Friday) inside the year-end freeze, on a Friday afternoon.
    assert_eq!(
        covering(&cal, "2026-12-25T18:00:00Z"),
        vec![
            reason("weekly", "Friday afternoon", "2026-12-25T17:00:00Z", "2026-12-28T05:00:00Z"),
            reason("window", "Year-end freeze", "2026-12-18T22:00:00Z", "2027-01-04T14:00:00Z"),
            reason("holiday", "Christmas Day", "2026-12-25T05:00:00Z", "2026-12-26T05:00:00Z"),
        ]
        .into_iter()
        .collect::<Vec<_>>()
        .tap_sort()
    );
    assert_eq!(next_open(&cal, "2026-12-25T18:00:00Z"), Some("2027-01-04T14:00:00Z".to_owned()));
    assert_eq!(covering(&cal, "2027-01-04T14:00:00Z"), vec![]);
}

trait TapSort {
    fn tap_sort(self) -> Self;
}

impl TapSort for Vec<(String, String, String, String)> {
    /// Sorted by start then kind, as reasons are.
    fn tap_sort(mut self) -> Self {
        self.sort_by(|a, b| (&a.2, &a.0).cmp(&(&b.2, &b.0)));
        self
    }
}

#[test]
fn working_days_default_to_monday_to_friday_and_unknown_fields_are_refused() {
    let c = config("timezone = \"UTC\"");
    assert_eq!(c.working_days, vec!["mon", "tue", "wed", "thu", "fri"]);
    assert_eq!(c.holidays.eve_from, None);
    assert!(toml::from_str::<FreezeConfig>("timezone = \"UTC\"\ntimezon = \"UTC\"").is_err());
    assert!(toml::from_str::<FreezeConfig>("timezone = \"UTC\"\n[holidays]\neve = \"12:00\"").is_err());
    assert!(toml::from_str::<FreezeConfig>(
        "timezone = \"UTC\"\n[[weekly]]\nname = \"a\"\nfrom = \"fri 12:00\"\nto = \"sat 00:00\"\nuntil = \"x\""
    )
    .is_err());
    assert!(toml::from_str::<FreezeConfig>("working_days = [\"mon\"]").is_err(), "timezone is required");
}

#[test]
fn durations_accept_minutes_hours_days_and_combinations() {
    assert_eq!(parse_duration("90m"), Ok(Duration::minutes(90)));
    assert_eq!(parse_duration("14h"), Ok(Duration::hours(14)));
    assert_eq!(parse_duration("2d"), Ok(Duration::days(2)));
    assert_eq!(parse_duration("1h30m"), Ok(Duration::minutes(90)));
    for bad in ["14x", "", "h", "14", "0m", "1h30", "-1h", "400d"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
}

// ----------------------------------------------------------------------------------------
// Weekly windows across daylight-saving changes
// ----------------------------------------------------------------------------------------

#[test]
fn friday_afternoon_is_frozen_in_new_york_across_the_dst_change() {
    let cal = friday_afternoon("America/New_York");
    // Spring forward on Sunday 8 March 2026: noon EST Friday, midnight EDT Monday.
    check_weekly(&cal, "2026-03-06T17:00:00Z", "2026-03-09T04:00:00Z");
    // Fall back on Sunday 1 November 2026: noon EDT Friday, midnight EST Monday.
    check_weekly(&cal, "2026-10-30T16:00:00Z", "2026-11-02T05:00:00Z");
    assert_eq!(covering(&cal, "2026-12-02T17:00:00Z"), vec![], "a Wednesday is open");
}

#[test]
fn friday_afternoon_is_frozen_in_london_across_both_dst_changes() {
    let cal = friday_afternoon("Europe/London");
    check_weekly(&cal, "2026-03-27T12:00:00Z", "2026-03-29T23:00:00Z");
    check_weekly(&cal, "2026-10-23T11:00:00Z", "2026-10-26T00:00:00Z");
}

#[test]
fn friday_afternoon_is_frozen_in_kolkata_which_has_no_dst() {
    let cal = friday_afternoon("Asia/Kolkata");
    check_weekly(&cal, "2026-03-06T06:30:00Z", "2026-03-08T18:30:00Z");
    check_weekly(&cal, "2026-10-30T06:30:00Z", "2026-11-01T18:30:00Z");
}

#[test]
fn friday_afternoon_is_frozen_on_lord_howe_across_the_half_hour_dst_changes() {
    let cal = friday_afternoon("Australia/Lord_Howe");
    // Summer time (+11:00) ends on Sunday 5 April 2026; Monday is +10:30.
    check_weekly(&cal, "2026-04-03T01:00:00Z", "2026-04-05T13:30:00Z");
    // Summer time starts on Sunday 4 October 2026; Friday is +10:30, Monday +11:00.
    check_weekly(&cal, "2026-10-02T01:30:00Z", "2026-10-04T13:00:00Z");
}

#[test]
fn friday_afternoon_is_frozen_on_chatham_across_both_dst_changes() {
    let cal = friday_afternoon("Pacific/Chatham");
    // Summer time (+13:45) ends on Sunday 5 April 2026; Monday is +12:45.
    check_weekly(&cal, "2026-04-02T22:15:00Z", "2026-04-05T11:15:00Z");
    // Summer time starts on Sunday 27 September 2026.
    check_weekly(&cal, "2026-09-24T23:15:00Z", "2026-09-27T10:15:00Z");
}

/// `(zone, weekly from, weekly to, expected UTC from, expected UTC to)` for windows whose
/// bounds fall in a spring-forward gap or a fall-back overlap.
#[test]
fn nonexistent_local_times_start_at_the_change_and_ambiguous_ones_mean_the_first_occurrence() {
    let table = [
        // New York springs forward at 02:00 EST (07:00Z) on 8 March: 02:30 does not exist.
        ("America/New_York", "sun 02:30", "sun 04:00", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"),
        // New York falls back at 02:00 EDT (06:00Z) on 1 November: 01:30 happens twice.
        ("America/New_York", "sun 01:30", "sun 03:00", "2026-11-01T05:30:00Z", "2026-11-01T08:00:00Z"),
        // A window ending at a nonexistent time ends at the change.
        ("America/New_York", "sun 01:00", "sun 02:30", "2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z"),
        // London: 01:30 does not exist on 29 March, happens twice on 25 October.
        ("Europe/London", "sun 01:30", "sun 03:00", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"),
        ("Europe/London", "sun 01:30", "sun 03:00", "2026-10-25T00:30:00Z", "2026-10-25T03:00:00Z"),
        // Lord Howe: 02:15 does not exist on 4 October (02:00 +10:30 -> 02:30 +11:00);
        // 01:45 happens twice on 5 April (02:00 +11:00 -> 01:30 +10:30).
        ("Australia/Lord_Howe", "sun 02:15", "sun 03:00", "2026-10-03T15:30:00Z", "2026-10-03T16:00:00Z"),
        ("Australia/Lord_Howe", "sun 01:45", "sun 03:00", "2026-04-04T14:45:00Z", "2026-04-04T16:30:00Z"),
        // Chatham: 03:00 does not exist on 27 September (02:45 +12:45 -> 03:45 +13:45) and
        // happens twice on 5 April (03:45 +13:45 -> 02:45 +12:45).
        ("Pacific/Chatham", "sun 03:00", "sun 04:00", "2026-09-26T14:00:00Z", "2026-09-26T14:15:00Z"),
        ("Pacific/Chatham", "sun 03:00", "sun 04:00", "2026-04-04T13:15:00Z", "2026-04-04T15:15:00Z"),
    ];
    for (tz, from, to, ufrom, uto) in table {
        let cal = calendar(&format!("timezone = {tz:?}\n[[weekly]]\nname = \"w\"\nfrom = {from:?}\nto = {to:?}"));
        let around = cal.windows_between(utc(ufrom) - Duration::hours(2), utc(uto) + Duration::hours(2));
        let got: Vec<(String, String)> = around.iter().map(|r| (z(r.from), z(r.to))).collect();
        assert_eq!(got, vec![(ufrom.to_owned(), uto.to_owned())], "{tz} {from} .. {to}");
        assert_eq!(covering(&cal, ufrom).len(), 1, "{tz} {from} start frozen");
        assert_eq!(covering(&cal, uto), vec![], "{tz} {to} end open");
    }
}

#[test]
fn an_instant_in_the_second_pass_of_an_ambiguous_hour_is_inside_a_window_that_started_in_the_first() {
    // New York, 1 November 2026: "sun 01:45" is 05:45Z (EDT); 06:30Z is 01:30 EST, a local
    // time earlier than 01:45 but an instant after the window's start.
    let cal =
        calendar("timezone = \"America/New_York\"\n[[weekly]]\nname = \"w\"\nfrom = \"sun 01:45\"\nto = \"sun 03:00\"");
    assert_eq!(
        covering(&cal, "2026-11-01T06:30:00Z"),
        vec![reason("weekly", "w", "2026-11-01T05:45:00Z", "2026-11-01T08:00:00Z")]
    );
    assert_eq!(covering(&cal, "2026-11-01T05:44:59Z"), vec![]);
}

#[test]
fn resolve_local_is_the_documented_rule_in_each_zone() {
    let at =
        |tz: Tz, s: &str| z(resolve_local(tz, NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("local time")));
    use chrono_tz::{America, Asia, Australia, Europe, Pacific};
    assert_eq!(at(America::New_York, "2026-03-08 02:00"), "2026-03-08T07:00:00Z");
    assert_eq!(at(America::New_York, "2026-03-08 02:59"), "2026-03-08T07:00:00Z");
    assert_eq!(at(America::New_York, "2026-03-08 03:00"), "2026-03-08T07:00:00Z");
    assert_eq!(at(America::New_York, "2026-11-01 01:00"), "2026-11-01T05:00:00Z");
    assert_eq!(at(America::New_York, "2026-11-01 02:00"), "2026-11-01T07:00:00Z");
    assert_eq!(at(Europe::London, "2026-03-29 01:00"), "2026-03-29T01:00:00Z");
    assert_eq!(at(Europe::London, "2026-10-25 01:00"), "2026-10-25T00:00:00Z");
    assert_eq!(at(Asia::Kolkata, "2026-03-08 02:30"), "2026-03-07T21:00:00Z");
    assert_eq!(at(Australia::Lord_Howe, "2026-10-04 02:00"), "2026-10-03T15:30:00Z");
    assert_eq!(at(Australia::Lord_Howe, "2026-04-05 01:30"), "2026-04-04T14:30:00Z");
    assert_eq!(at(Pacific::Chatham, "2026-09-27 02:45"), "2026-09-26T14:00:00Z");
    assert_eq!(at(Pacific::Chatham, "2026-04-05 02:45"), "2026-04-04T13:00:00Z");
}

#[test]
fn weekly_windows_wrap_past_the_end_of_the_week() {
    let cal = calendar(
        r#"timezone = "Europe/London"
[[weekly]]
name = "Sunday night"
from = "sun 22:00"
to = "mon 02:00"
[[weekly]]
name = "All but Monday morning"
from = "mon 12:00"
to = "mon 09:00"
"#,
    );
    // Sunday 6 December 2026 22:00 GMT to Monday 02:00.
    assert_eq!(
        covering(&cal, "2026-12-06T23:00:00Z"),
        vec![
            reason("weekly", "All but Monday morning", "2026-11-30T12:00:00Z", "2026-12-07T09:00:00Z"),
            reason("weekly", "Sunday night", "2026-12-06T22:00:00Z", "2026-12-07T02:00:00Z"),
        ]
    );
    assert_eq!(next_open(&cal, "2026-12-06T23:00:00Z"), Some("2026-12-07T09:00:00Z".to_owned()));
    assert_eq!(covering(&cal, "2026-12-07T10:00:00Z"), vec![]);
    assert_eq!(next_open(&cal, "2026-12-07T12:00:00Z"), Some("2026-12-14T09:00:00Z".to_owned()));
}

#[test]
fn a_calendar_frozen_all_the_time_has_no_next_open() {
    let cal = calendar(
        "timezone = \"Asia/Kolkata\"\n[[weekly]]\nname = \"a\"\nfrom = \"mon 00:00\"\nto = \"sun 12:00\"\n\
         [[weekly]]\nname = \"b\"\nfrom = \"sun 11:00\"\nto = \"mon 00:30\"",
    );
    assert!(cal.verdict(utc("2026-06-03T00:00:00Z")).is_frozen());
    assert_eq!(next_open(&cal, "2026-06-03T00:00:00Z"), None);
}

// ----------------------------------------------------------------------------------------
// Holidays and eves
// ----------------------------------------------------------------------------------------

fn holidays(tz: &str, dates: &[(&str, &str)], eve_from: Option<&str>) -> Calendar {
    let dates: Vec<String> = dates.iter().map(|(d, n)| format!("{{ date = {d:?}, name = {n:?} }}")).collect();
    let eve = eve_from.map(|e| format!("eve_from = {e:?}")).unwrap_or_default();
    calendar(&format!("timezone = {tz:?}\n[holidays]\ndates = [{}]\n{eve}", dates.join(", ")))
}

#[test]
fn a_holiday_freezes_its_whole_local_day_and_its_eve_from_eve_from() {
    let cal = holidays("America/New_York", &[("2026-12-25", "Christmas Day")], Some("12:00"));
    let day = reason("holiday", "Christmas Day", "2026-12-25T05:00:00Z", "2026-12-26T05:00:00Z");
    let eve = reason("eve", "eve of Christmas Day", "2026-12-24T17:00:00Z", "2026-12-25T05:00:00Z");
    assert_eq!(covering(&cal, "2026-12-25T05:00:00Z"), vec![day.clone()]);
    assert_eq!(covering(&cal, "2026-12-26T04:59:59Z"), vec![day]);
    assert_eq!(covering(&cal, "2026-12-26T05:00:00Z"), vec![]);
    assert_eq!(covering(&cal, "2026-12-24T16:59:59Z"), vec![]);
    assert_eq!(covering(&cal, "2026-12-24T17:00:00Z"), vec![eve]);
    assert_eq!(next_open(&cal, "2026-12-24T17:00:00Z"), Some("2026-12-26T05:00:00Z".to_owned()));
}

#[test]
fn a_holiday_in_kolkata_is_its_local_day() {
    let cal = holidays("Asia/Kolkata", &[("2026-10-02", "Gandhi Jayanti")], Some("00:00"));
    assert_eq!(
        cal.windows_between(utc("2026-09-30T00:00:00Z"), utc("2026-10-04T00:00:00Z"))
            .into_iter()
            .map(|r| (r.kind, z(r.from), z(r.to)))
            .collect::<Vec<_>>(),
        vec![
            ("eve".to_owned(), "2026-09-30T18:30:00Z".to_owned(), "2026-10-01T18:30:00Z".to_owned()),
            ("holiday".to_owned(), "2026-10-01T18:30:00Z".to_owned(), "2026-10-02T18:30:00Z".to_owned()),
        ]
    );
}

#[test]
fn a_holiday_on_the_day_of_a_dst_change_lasts_its_local_day() {
    // Sunday 1 November 2026 in New York is 25 hours long; 8 March is 23 hours long.
    let cal = holidays("America/New_York", &[("2026-11-01", "Long day"), ("2026-03-08", "Short day")], None);
    let got: Vec<(String, String)> = cal
        .windows_between(utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"))
        .into_iter()
        .map(|r| (z(r.from), z(r.to)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("2026-03-08T05:00:00Z".to_owned(), "2026-03-09T04:00:00Z".to_owned()),
            ("2026-11-01T04:00:00Z".to_owned(), "2026-11-02T05:00:00Z".to_owned()),
        ]
    );
}

#[test]
fn a_monday_holiday_makes_friday_the_eve() {
    // Labor Day, Monday 7 September 2026.
    let cal = holidays("America/New_York", &[("2026-09-07", "Labor Day")], Some("12:00"));
    assert_eq!(
        covering(&cal, "2026-09-04T16:00:00Z"),
        vec![reason("eve", "eve of Labor Day", "2026-09-04T16:00:00Z", "2026-09-05T04:00:00Z")]
    );
    assert_eq!(covering(&cal, "2026-09-06T16:00:00Z"), vec![], "Sunday is not the eve");
}

#[test]
fn two_holidays_in_a_row_share_one_eve() {
    let cal = holidays(
        "Europe/London",
        &[("2026-12-25", "Christmas Day"), ("2026-12-28", "Boxing Day (substitute)")],
        Some("12:00"),
    );
    // Friday 25 and Monday 28 December: both eves are Thursday 24.
    let eves: Vec<(String, String, String)> = cal
        .windows_between(utc("2026-12-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"))
        .into_iter()
        .filter(|r| r.kind == "eve")
        .map(|r| (r.name, z(r.from), z(r.to)))
        .collect();
    assert_eq!(
        eves,
        vec![("eve of Christmas Day".to_owned(), "2026-12-24T12:00:00Z".to_owned(), "2026-12-25T00:00:00Z".to_owned())]
    );
    // 24 and 25 December as holidays: 23 December is the one eve, and the 24th is a holiday.
    let cal =
        holidays("Europe/London", &[("2026-12-24", "Christmas Eve"), ("2026-12-25", "Christmas Day")], Some("12:00"));
    let got: Vec<(String, String)> = cal
        .windows_between(utc("2026-12-20T00:00:00Z"), utc("2026-12-27T00:00:00Z"))
        .into_iter()
        .map(|r| (r.kind, r.name))
        .collect();
    assert_eq!(
        got,
        vec![
            ("eve".to_owned(), "eve of Christmas Eve".to_owned()),
            ("holiday".to_owned(), "Christmas Eve".to_owned()),
            ("holiday".to_owned(), "Christmas Day".to_owned()),
        ]
    );
    assert_eq!(next_open(&cal, "2026-12-23T12:00:00Z"), Some("2026-12-26T00:00:00Z".to_owned()));
}

#[test]
fn a_holiday_on_a_non_working_day_has_the_last_working_day_as_eve() {
    // Saturday 4 July 2026: the eve is Friday 3 July; with a Sunday-to-Thursday week it is
    // Thursday 2 July.
    let cal = holidays("America/New_York", &[("2026-07-04", "Independence Day")], Some("15:00"));
    assert_eq!(
        covering(&cal, "2026-07-03T19:00:00Z"),
        vec![reason("eve", "eve of Independence Day", "2026-07-03T19:00:00Z", "2026-07-04T04:00:00Z")]
    );
    assert_eq!(covering(&cal, "2026-07-04T12:00:00Z").len(), 1);
    let cal = calendar(
        r#"timezone = "Asia/Kolkata"
working_days = ["sun", "mon", "tue", "wed", "thu"]
[holidays]
dates = [{ date = "2026-07-04", name = "Saturday" }]
eve_from = "12:00"
"#,
    );
    assert_eq!(
        covering(&cal, "2026-07-02T06:30:00Z"),
        vec![reason("eve", "eve of Saturday", "2026-07-02T06:30:00Z", "2026-07-02T18:30:00Z")]
    );
}

#[test]
fn without_eve_from_eves_are_not_frozen() {
    let cal = holidays("America/New_York", &[("2026-12-25", "Christmas Day")], None);
    assert_eq!(covering(&cal, "2026-12-24T20:00:00Z"), vec![]);
    assert_eq!(covering(&cal, "2026-12-25T20:00:00Z").len(), 1);
}

#[test]
fn calendar_entries_are_holidays_all_day_and_exact_when_timed() {
    let cfg = config("timezone = \"Europe/London\"\n[holidays]\neve_from = \"16:00\"");
    let entries = vec![
        CalendarEntry::AllDay {
            date: NaiveDate::from_ymd_opt(2026, 8, 31).unwrap(),
            name: "Summer bank holiday".into(),
        },
        CalendarEntry::Timed {
            from: utc("2026-06-10T09:00:00Z"),
            to: utc("2026-06-10T11:30:00Z"),
            name: "Datacentre move".into(),
        },
    ];
    let cal = Calendar::build(&cfg, entries).expect("builds");
    assert_eq!(
        covering(&cal, "2026-08-28T15:00:00Z"),
        vec![reason("eve", "eve of Summer bank holiday", "2026-08-28T15:00:00Z", "2026-08-28T23:00:00Z")]
    );
    assert_eq!(
        covering(&cal, "2026-08-31T00:00:00Z"),
        vec![reason("holiday", "Summer bank holiday", "2026-08-30T23:00:00Z", "2026-08-31T23:00:00Z")]
    );
    assert_eq!(
        covering(&cal, "2026-06-10T09:00:00Z"),
        vec![reason("holiday", "Datacentre move", "2026-06-10T09:00:00Z", "2026-06-10T11:30:00Z")]
    );
    assert_eq!(covering(&cal, "2026-06-10T11:30:00Z"), vec![]);
}

// ----------------------------------------------------------------------------------------
// One-off and cron windows
// ----------------------------------------------------------------------------------------

#[test]
fn one_off_windows_are_local_wall_times() {
    let cal = calendar(
        r#"timezone = "Australia/Lord_Howe"
[[windows]]
name = "Migration"
from = "2026-04-04 22:00"
to = "2026-04-05 06:00"
"#,
    );
    // 22:00 +11:00 to 06:00 +10:30, across the end of summer time: 8.5 hours.
    assert_eq!(
        covering(&cal, "2026-04-04T11:00:00Z"),
        vec![reason("window", "Migration", "2026-04-04T11:00:00Z", "2026-04-04T19:30:00Z")]
    );
    assert_eq!(covering(&cal, "2026-04-04T10:59:59Z"), vec![]);
    assert_eq!(covering(&cal, "2026-04-04T19:30:00Z"), vec![]);
}

#[test]
fn month_end_close_starts_at_18_on_the_last_day_of_each_month() {
    let cal = calendar(
        r#"timezone = "America/New_York"
[[cron]]
name = "Month-end close"
cron = "0 18 L * *"
duration = "14h"
"#,
    );
    let got: Vec<(String, String)> = cal
        .windows_between(utc("2026-01-15T00:00:00Z"), utc("2026-04-15T00:00:00Z"))
        .into_iter()
        .map(|r| (z(r.from), z(r.to)))
        .collect();
    let expected = [
        ("2026-01-31T23:00:00Z", "2026-02-01T13:00:00Z"),
        ("2026-02-28T23:00:00Z", "2026-03-01T13:00:00Z"),
        ("2026-03-31T22:00:00Z", "2026-04-01T12:00:00Z"),
    ];
    assert_eq!(got, expected.map(|(a, b)| (a.to_owned(), b.to_owned())).to_vec());
    assert_eq!(covering(&cal, "2026-02-01T12:59:59Z").len(), 1);
    assert_eq!(covering(&cal, "2026-02-01T13:00:00Z"), vec![]);
    assert_eq!(next_open(&cal, "2026-03-31T22:00:00Z"), Some("2026-04-01T12:00:00Z".to_owned()));
    // Leap year: 29 February 2028.
    assert_eq!(covering(&cal, "2028-02-29T23:00:00Z").len(), 1);
}

#[test]
fn cron_fire_times_in_a_gap_start_at_the_change_and_ambiguous_ones_fire_once() {
    let cal = calendar(
        r#"timezone = "America/New_York"
[[cron]]
name = "Nightly"
cron = "30 1,2 * * *"
duration = "20m"
"#,
    );
    let got = |from: &str, to: &str| -> Vec<(String, String)> {
        cal.windows_between(utc(from), utc(to)).into_iter().map(|r| (z(r.from), z(r.to))).collect()
    };
    // 8 March: 01:30 EST, then 02:30 does not exist and starts at 03:00 EDT.
    assert_eq!(
        got("2026-03-08T00:00:00Z", "2026-03-08T12:00:00Z"),
        vec![
            ("2026-03-08T06:30:00Z".to_owned(), "2026-03-08T06:50:00Z".to_owned()),
            ("2026-03-08T07:00:00Z".to_owned(), "2026-03-08T07:20:00Z".to_owned()),
        ]
    );
    // 1 November: 01:30 fires once, at its first occurrence (EDT); 02:30 is EST.
    assert_eq!(
        got("2026-11-01T00:00:00Z", "2026-11-01T12:00:00Z"),
        vec![
            ("2026-11-01T05:30:00Z".to_owned(), "2026-11-01T05:50:00Z".to_owned()),
            ("2026-11-01T07:30:00Z".to_owned(), "2026-11-01T07:50:00Z".to_owned()),
        ]
    );
}

#[test]
fn cron_windows_last_their_elapsed_duration_across_a_change() {
    let cal = calendar(
        "timezone = \"Europe/London\"\n[[cron]]\nname = \"Batch\"\ncron = \"0 22 * * 6\"\nduration = \"1h30m\"",
    );
    // Saturday 24 October 2026 22:00 BST (21:00Z), 1h30m later is 22:30Z.
    assert_eq!(
        covering(&cal, "2026-10-24T21:00:00Z"),
        vec![reason("cron", "Batch", "2026-10-24T21:00:00Z", "2026-10-24T22:30:00Z")]
    );
}

// ----------------------------------------------------------------------------------------
// Bad input
// ----------------------------------------------------------------------------------------

#[test]
fn each_bad_input_names_its_key() {
    let table: [(&str, &str); 12] = [
        (
            "timezone = \"America/New_Yrok\"",
            "freeze.timezone: unknown time zone \"America/New_Yrok\"; use an IANA name like America/New_York",
        ),
        (
            "timezone = \"UTC\"\nworking_days = [\"mon\", \"fry\"]",
            "freeze.working_days[1]: unknown day \"fry\"; use mon, tue, wed, thu, fri, sat or sun",
        ),
        (
            "timezone = \"UTC\"\n[[weekly]]\nname = \"a\"\nfrom = \"fri 1200\"\nto = \"mon 00:00\"",
            "freeze.weekly[0].from: \"fri 1200\" is not a weekly time; use a day and a time like \"fri 12:00\"",
        ),
        (
            "timezone = \"UTC\"\n[[weekly]]\nname = \"a\"\nfrom = \"fri 12:00\"\nto = \"fri 12:00\"",
            "freeze.weekly[0].to: same as from; a weekly window needs a length (to may wrap past the end of the week)",
        ),
        (
            "timezone = \"UTC\"\n[[weekly]]\nname = \"a\"\nfrom = \"fr 12:00\"\nto = \"mon 00:00\"",
            "freeze.weekly[0].from: unknown day in \"fr 12:00\"; use mon, tue, wed, thu, fri, sat or sun",
        ),
        (
            "timezone = \"UTC\"\n[holidays]\ndates = [{ date = \"2026-02-30\", name = \"x\" }]",
            "freeze.holidays.dates[0].date: 2026-02-30 does not exist",
        ),
        (
            "timezone = \"UTC\"\n[holidays]\ndates = [{ date = \"25/12/2026\", name = \"x\" }]",
            "freeze.holidays.dates[0].date: \"25/12/2026\" is not a date; use YYYY-MM-DD",
        ),
        (
            "timezone = \"UTC\"\n[holidays]\neve_from = \"25:00\"",
            "freeze.holidays.eve_from: \"25:00\" is not a time; use HH:MM",
        ),
        (
            "timezone = \"UTC\"\n[[windows]]\nname = \"a\"\nfrom = \"2026-12-18 17:00\"\nto = \"2026-12-18 09:00\"",
            "freeze.windows[0].to: 2026-12-18 09:00 is before from (2026-12-18 17:00)",
        ),
        (
            "timezone = \"UTC\"\n[[cron]]\nname = \"a\"\ncron = \"0 18 L * *\"\nduration = \"14x\"",
            "freeze.cron[0].duration: \"14x\" is not a duration; use e.g. 90m, 14h, 2d or 1h30m",
        ),
        (
            "timezone = \"UTC\"\n[[cron]]\nname = \"a\"\ncron = \"0 0 30 2 *\"\nduration = \"1h\"",
            "freeze.cron[0].cron: \"0 0 30 2 *\" never fires",
        ),
        (
            "timezone = \"UTC\"\n[[windows]]\nname = \" \"\nfrom = \"2026-12-18 17:00\"\nto = \"2026-12-19 09:00\"",
            "freeze.windows[0].name: empty; name the window, it is shown when a deploy is refused",
        ),
    ];
    for (toml_text, expected) in table {
        assert_eq!(problems(toml_text, vec![]), vec![expected.to_owned()], "{toml_text}");
    }
    let bad_cron =
        problems("timezone = \"UTC\"\n[[cron]]\nname = \"a\"\ncron = \"0 99 * * *\"\nduration = \"1h\"", vec![]);
    assert_eq!(bad_cron.len(), 1);
    assert!(bad_cron[0].starts_with("freeze.cron[0].cron: \"0 99 * * *\" is not a cron expression"), "{bad_cron:?}");
    let timed = problems(
        "timezone = \"UTC\"",
        vec![CalendarEntry::Timed {
            from: utc("2026-01-02T00:00:00Z"),
            to: utc("2026-01-01T00:00:00Z"),
            name: "x".into(),
        }],
    );
    assert_eq!(timed.len(), 1);
    assert!(timed[0].starts_with("freeze.holidays.ics: event \"x\" ends"), "{timed:?}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let err = Calendar::build(
        &config(
            r#"timezone = "America/New_Yrok"
working_days = ["mon", "funday"]
[[weekly]]
name = "Friday afternoon"
from = "fri 12:00"
to = "fri 12:00"
[holidays]
dates = [{ date = "2026-12-25", name = "ok" }, { date = "2026-13-01", name = "bad" }, { date = "2026-02-30", name = "bad" }]
[[windows]]
name = "ok"
from = "2026-12-18 17:00"
to = "2027-01-04 09:00"
[[windows]]
name = "backwards"
from = "2027-01-04 09:00"
to = "2026-12-18 17:00"
[[cron]]
name = "Month-end close"
cron = "0 18 L *"
duration = "14x"
"#,
        ),
        vec![],
    )
    .expect_err("invalid");
    let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "freeze.timezone",
            "freeze.working_days[1]",
            "freeze.weekly[0].to",
            "freeze.holidays.dates[1].date",
            "freeze.holidays.dates[2].date",
            "freeze.windows[1].to",
            "freeze.cron[0].cron",
            "freeze.cron[0].duration",
        ]
    );
    let text = err.to_string();
    assert!(text.starts_with("the freeze calendar has 8 problems:\n  freeze.timezone: unknown time zone"), "{text}");
    assert!(text.contains("\n  freeze.holidays.dates[2].date: 2026-02-30 does not exist"), "{text}");
}

// ----------------------------------------------------------------------------------------
// The machine's time zone
// ----------------------------------------------------------------------------------------

#[test]
fn results_do_not_depend_on_the_machine_time_zone() {
    let toml_text = format!(
        "timezone = \"Pacific/Chatham\"\n{FRIDAY_AFTERNOON}\n[holidays]\ndates = [{{ date = \"2026-12-25\", name = \"Christmas Day\" }}]\neve_from = \"12:00\"\n\
         [[cron]]\nname = \"c\"\ncron = \"0 18 L * *\"\nduration = \"14h\""
    );
    let answers = || {
        let cal = calendar(&toml_text);
        let instants = (0..200).map(|i| utc("2026-01-01T00:00:00Z") + Duration::hours(i * 47));
        (
            instants.map(|t| cal.verdict(t)).collect::<Vec<_>>(),
            cal.windows_between(utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z")),
        )
    };
    let before = answers();
    for tz in ["America/New_York", "Asia/Kolkata", "Pacific/Chatham", "UTC"] {
        // Setting TZ only matters to code that reads the machine's zone; the calendar never does.
        std::env::set_var("TZ", tz);
        assert_eq!(answers(), before, "TZ={tz}");
    }
}

mod properties;
