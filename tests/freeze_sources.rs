//! Holiday calendars from files and URLs: a remote calendar's last good copy is kept in
//! the database, so a restart without the network still knows the holidays.

use chrono::{TimeZone, Utc};
use shipgate::app::freeze::load_calendar;
use shipgate::domain::freeze::calendar::FreezeConfig;
use shipgate::domain::freeze::FreezeCalendar;
use shipgate::store::testing;

const HOLIDAYS: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:x@test\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20261126\r\nDTEND;VALUE=DATE:20261127\r\nSUMMARY:Thanksgiving Day\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

fn config(source: &str) -> FreezeConfig {
    toml::from_str(&format!(
        "timezone = \"America/New_York\"\n[holidays]\nics = [\"{source}\"]\neve_from = \"12:00\"\n"
    ))
    .expect("freeze config")
}

async fn serve_once(body: &'static str) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/us.ics", listener.local_addr().unwrap());
    let router = axum::Router::new().route("/us.ics", axum::routing::get(move || async move { body }));
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (url, server)
}

#[tokio::test]
async fn a_remote_calendar_is_kept_and_used_when_the_network_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let store = testing::fresh_sqlite(&dir.path().join("shipgate.db")).await;
    let (url, server) = serve_once(HOLIDAYS).await;
    let thanksgiving = Utc.with_ymd_and_hms(2026, 11, 26, 17, 0, 0).unwrap();

    let calendar = load_calendar(&config(&url), Some(&store)).await.expect("fetched");
    assert!(calendar.verdict(thanksgiving).is_frozen());

    server.abort();
    let _ = server.await;
    let calendar = load_calendar(&config(&url), Some(&store)).await.expect("kept copy");
    assert!(calendar.verdict(thanksgiving).is_frozen(), "the kept copy still knows Thanksgiving");

    let empty = testing::fresh_sqlite(&dir.path().join("other.db")).await;
    let error = load_calendar(&config(&url), Some(&empty)).await.expect_err("nothing to fall back on").to_string();
    assert!(error.contains(&url) && error.contains("no earlier copy"), "{error}");
}

#[tokio::test]
async fn a_missing_or_broken_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.ics");
    let error = load_calendar(&config(missing.to_str().unwrap()), None).await.expect_err("missing").to_string();
    assert!(error.contains("nope.ics"), "{error}");
    let broken = dir.path().join("broken.ics");
    std::fs::write(&broken, "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:No start\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
        .unwrap();
    let error = load_calendar(&config(broken.to_str().unwrap()), None).await.expect_err("broken").to_string();
    assert!(error.contains("broken.ics"), "{error}");
}

#[tokio::test]
async fn the_shipped_us_calendar_freezes_thanksgiving_and_its_eve() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/holidays/us.ics");
    let calendar = load_calendar(&config(path), None).await.expect("shipped calendar");
    // Thanksgiving 2027 is Thursday 25 November; Wednesday from 12:00 local is its eve.
    let eve = Utc.with_ymd_and_hms(2027, 11, 24, 18, 0, 0).unwrap();
    let morning = Utc.with_ymd_and_hms(2027, 11, 24, 15, 0, 0).unwrap();
    assert!(calendar.verdict(eve).is_frozen());
    assert!(!calendar.verdict(morning).is_frozen());
}
