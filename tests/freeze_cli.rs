//! `shipgate freeze check|calendar` as a CI job runs it: exit codes like `diff`, JSON
//! whose shape is relied on, and errors that name the key.

use std::path::Path;
use std::process::Command;

const CONFIG: &str = r#"
[freeze]
timezone = "America/New_York"
working_days = ["mon", "tue", "wed", "thu", "fri"]

[[freeze.weekly]]
name = "Friday afternoon"
from = "fri 12:00"
to = "mon 00:00"

[freeze.holidays]
dates = [{ date = "2026-12-25", name = "Christmas Day" }]
eve_from = "12:00"

[[freeze.windows]]
name = "Year-end freeze"
from = "2026-12-28 17:00"
to = "2027-01-04 09:00"
"#;

fn write(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("shipgate.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn freeze(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .arg("freeze")
        .args(args)
        .current_dir(dir)
        .env_remove("SHIPGATE_CONFIG")
        .output()
        .expect("run shipgate freeze");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn friday_afternoon_in_new_york_is_frozen_until_monday() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), CONFIG);
    let config = config.to_str().unwrap();
    // Friday 4 December 2026, 12:00 EST is 17:00 UTC.
    let (code, stdout, stderr) =
        freeze(dir.path(), &["check", "--at", "2026-12-04T17:00:00Z", "--config", config, "--json"]);
    assert_eq!(code, 1, "{stderr}");
    let answer: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        answer,
        serde_json::json!({
            "at": "2026-12-04T17:00:00Z",
            "frozen": true,
            "reasons": [{"kind": "weekly", "name": "Friday afternoon", "from": "2026-12-04T17:00:00Z", "to": "2026-12-07T05:00:00Z"}],
            "next_open": "2026-12-07T05:00:00Z"
        })
    );
    let (code, stdout, _) = freeze(dir.path(), &["check", "--at", "2026-12-04T17:00:00Z", "--config", config]);
    assert_eq!(code, 1);
    assert_eq!(stdout.trim(), "frozen: Friday afternoon, until Mon 7 Dec 00:00 EST");
}

#[test]
fn a_thursday_morning_is_open_and_the_eve_of_christmas_is_frozen() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), CONFIG);
    let config = config.to_str().unwrap();
    let (code, stdout, _) =
        freeze(dir.path(), &["check", "--at", "2026-12-03T15:00:00Z", "--config", config, "--json"]);
    assert_eq!(code, 0);
    let answer: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(answer["frozen"], false);
    assert_eq!(answer["reasons"], serde_json::json!([]));
    assert_eq!(answer["next_open"], "2026-12-03T15:00:00Z");
    // Thursday 24 December 2026, 13:00 EST: the eve of Christmas (a Friday).
    let (code, stdout, _) =
        freeze(dir.path(), &["check", "--at", "2026-12-24T18:00:00Z", "--config", config, "--json"]);
    assert_eq!(code, 1, "{stdout}");
    let answer: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(answer["reasons"][0]["kind"], "eve");
    // Christmas, then the Friday-afternoon window, then the weekend: open Monday 00:00 EST.
    assert_eq!(answer["next_open"], "2026-12-28T05:00:00Z");
}

#[test]
fn bad_input_exits_2_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), &CONFIG.replace("America/New_York", "America/New_Yrok"));
    let (code, _, stderr) = freeze(dir.path(), &["check", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("freeze.timezone"), "{stderr}");
    let good = write(dir.path(), CONFIG);
    let (code, _, stderr) = freeze(dir.path(), &["check", "--at", "friday", "--config", good.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--at"), "{stderr}");
    let unknown = write(dir.path(), &CONFIG.replace("eve_from", "eve_form"));
    let (code, _, stderr) = freeze(dir.path(), &["check", "--config", unknown.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("eve_form"), "{stderr}");
}

#[test]
fn the_calendar_lists_frozen_windows_readable_and_as_icalendar() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), CONFIG);
    let config = config.to_str().unwrap();
    let (code, stdout, stderr) =
        freeze(dir.path(), &["calendar", "--from", "2026-12-21", "--to", "2026-12-31", "--config", config]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("Christmas Day") && stdout.contains("Year-end freeze") && stdout.contains("Friday afternoon"),
        "{stdout}"
    );
    let (_, ics, _) =
        freeze(dir.path(), &["calendar", "--from", "2026-12-21", "--to", "2026-12-31", "--config", config, "--ics"]);
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\n") && ics.trim_end().ends_with("END:VCALENDAR"), "{ics}");
    // What shipgate writes, shipgate reads back.
    let entries = shipgate::domain::freeze::ics::parse_ics(&ics, "freeze.ics").expect("valid iCalendar");
    assert!(entries.len() >= 3, "{entries:?}");
}

#[test]
fn without_a_freeze_calendar_production_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = freeze(dir.path(), &["check"]);
    assert_eq!(code, 0);
    assert_eq!(stdout.trim(), "open: no freeze calendar is configured");
}

const TEAMS: &str = r#"
[[freeze.teams]]
name = "payments-india"
channels = ["C0PAYMENTS"]
timezone = "Asia/Kolkata"

[[freeze.teams.weekly]]
name = "Friday afternoon"
from = "fri 12:00"
to = "mon 00:00"
"#;

#[test]
fn a_channel_with_a_team_calendar_is_frozen_in_the_team_s_time_zone() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), &format!("{CONFIG}{TEAMS}"));
    let config = config.to_str().unwrap();
    // Friday 4 December 2026, 07:00 UTC: 12:30 in Kolkata, 02:00 in New York.
    let at = "2026-12-04T07:00:00Z";
    let (code, _, _) = freeze(dir.path(), &["check", "--at", at, "--config", config]);
    assert_eq!(code, 0, "New York's Friday afternoon has not begun");
    let (code, stdout, stderr) =
        freeze(dir.path(), &["check", "--at", at, "--config", config, "--channel", "C0PAYMENTS"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stdout.trim(), "frozen: Friday afternoon, until Mon 7 Dec 00:00 IST");
}

#[test]
fn a_channel_has_one_team_calendar() {
    let dir = tempfile::tempdir().unwrap();
    let twice = format!("{CONFIG}{TEAMS}{}", TEAMS.replace("payments-india", "payments-again"));
    let config = write(dir.path(), &twice);
    let (code, _, stderr) = freeze(dir.path(), &["check", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("freeze.teams[1].channels") && stderr.contains("C0PAYMENTS"), "{stderr}");
}

/// `shipgate freeze calendar ... | head -1`: the reader leaves early, and shipgate stops
/// without an error about the closed pipe.
#[test]
fn a_reader_that_leaves_early_gets_no_broken_pipe_error() {
    use std::io::Read;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), CONFIG);
    let mut child = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["freeze", "calendar", "--from", "2026-01-01", "--to", "2060-12-31"])
        .current_dir(dir.path())
        .env_remove("SHIPGATE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The read end is closed here; 35 years of Fridays do not fit in a pipe's buffer.
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(!stderr.to_lowercase().contains("broken pipe"), "{stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");
}
