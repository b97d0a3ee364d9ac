//! shipgate's Discord REST client against the fake Discord: it keeps within the rate
//! limits it is told of (buckets and the global limit) even with many calls in flight,
//! waits out the 429s it meets, and tells retryable failures from refusals; it uploads a
//! chart with a message, and the fake refuses uploads that break Discord's contract.

use crate::common;

use common::fake_discord::schema::validate_response;
use common::fake_discord::{FakeDiscord, Fault, Route};
use serde_json::json;
use shipgate::chart::{render_png, ChartSpec, Unit};
use shipgate::chat::discord::rest::{FileAttachment, Rest, RestError};
use std::sync::Arc;
use std::time::Duration;

const CHANNEL: &str = "1300000000000000001";

async fn rest_for(fake: &FakeDiscord) -> Arc<Rest> {
    Arc::new(Rest::new(&fake.api_base(), fake.token().to_owned().into()).expect("client builds"))
}

fn answered_429(fake: &FakeDiscord) -> usize {
    fake.requests().iter().filter(|r| r.status == Some(429)).count()
}

#[tokio::test]
async fn calls_in_flight_together_never_overrun_a_bucket() {
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(CHANNEL);
    fake.set_bucket_limit(Route::CreateMessage, 3, Duration::from_millis(400));
    let rest = rest_for(&fake).await;
    // The first call teaches the client the bucket; the rest go out together.
    let path = format!("/channels/{CHANNEL}/messages");
    rest.call(reqwest::Method::POST, &path, Some(&json!({"content": "0"}))).await.expect("first create");
    let calls: Vec<_> = (1..10)
        .map(|i| {
            let (rest, path) = (rest.clone(), path.clone());
            tokio::spawn(async move {
                rest.call(reqwest::Method::POST, &path, Some(&json!({ "content": i.to_string() }))).await
            })
        })
        .collect();
    for call in calls {
        call.await.expect("no panic").expect("every create goes through");
    }
    assert_eq!(fake.messages(CHANNEL).len(), 10);
    assert_eq!(answered_429(&fake), 0, "the client waited for the bucket instead of meeting its 429s");
    fake.assert_no_violations();
}

#[tokio::test]
async fn many_channels_at_once_stay_under_the_global_limit() {
    let fake = FakeDiscord::start().await;
    let channels: Vec<String> = (0..120).map(|i| format!("13000000000000{i:05}")).collect();
    for channel in &channels {
        fake.add_text_channel(channel);
    }
    let rest = rest_for(&fake).await;
    let calls: Vec<_> = channels
        .iter()
        .map(|channel| {
            let (rest, path) = (rest.clone(), format!("/channels/{channel}/messages"));
            tokio::spawn(async move { rest.call(reqwest::Method::POST, &path, Some(&json!({"content": "hi"}))).await })
        })
        .collect();
    for call in calls {
        call.await.expect("no panic").expect("every create goes through");
    }
    assert_eq!(fake.requests().len(), 120);
    assert_eq!(answered_429(&fake), 0, "calls were spaced to Discord's 50 per second");
}

#[tokio::test]
async fn a_429_is_waited_out_and_the_call_made_once() {
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(CHANNEL);
    let rest = rest_for(&fake).await;
    for global in [false, true] {
        fake.fail_next(
            Route::CreateMessage,
            Fault::TooManyRequests { retry_after: Duration::from_millis(200), global },
            1,
        );
        let path = format!("/channels/{CHANNEL}/messages");
        rest.call(reqwest::Method::POST, &path, Some(&json!({"content": "after the wait"})))
            .await
            .expect("goes through after the wait");
    }
    assert_eq!(fake.messages(CHANNEL).len(), 2);
    assert_eq!(answered_429(&fake), 2);
}

#[tokio::test]
async fn server_errors_are_retryable_and_refusals_are_not() {
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(CHANNEL);
    let rest = rest_for(&fake).await;
    let path = format!("/channels/{CHANNEL}/messages");
    fake.fail_next(Route::CreateMessage, Fault::ServerError(502), 1);
    match rest.call(reqwest::Method::POST, &path, Some(&json!({"content": "x"}))).await {
        Err(RestError::Retry { .. }) => {}
        other => panic!("a 502 is worth retrying: {other:?}"),
    }
    let unknown = "/channels/1399999999999999999/messages";
    match rest.call(reqwest::Method::POST, unknown, Some(&json!({"content": "x"}))).await {
        Err(RestError::Refused { status: 404, code, .. }) => assert_eq!(code, 10003, "Unknown Channel"),
        other => panic!("an unknown channel is refused for good: {other:?}"),
    }
    assert!(fake.messages(CHANNEL).is_empty());
}

// ----- messages with a file (the rollback chart) -----

/// A real chart, so the upload carries what a rollback notice would.
fn chart(tripped_minute: i64) -> FileAttachment {
    use chrono::TimeZone;
    let deploy = chrono::Utc.with_ymd_and_hms(2026, 3, 2, 13, 0, 0).single().expect("a valid time");
    let minute = |m| deploy + chrono::Duration::minutes(m);
    let spec = ChartSpec {
        title: "api 1.4.2 — error rate".into(),
        unit: Unit::Percent,
        points: (-10..=20).map(|m| (minute(m), Some(if m >= tripped_minute { 0.03 } else { 0.004 }))).collect(),
        baseline: Some(0.004),
        threshold: Some(0.008),
        threshold_label: "threshold (2x baseline)".into(),
        deploy_at: deploy,
        tripped_at: Some(minute(tripped_minute)),
        window_end: minute(30),
        time_zone: chrono_tz::Europe::Berlin,
    };
    FileAttachment::png("chart.png", render_png(&spec).expect("the chart renders")).expect("a PNG named chart.png")
}

fn embed_with(file: &FileAttachment, title: &str) -> serde_json::Value {
    json!({
        "content": "⏪ Rollback: api 1.4.2",
        "embeds": [{ "title": title, "image": { "url": file.url() } }],
        "allowed_mentions": { "parse": [] },
    })
}

fn id(message: &serde_json::Value) -> String {
    message["id"].as_str().expect("a message id").to_owned()
}

#[tokio::test]
async fn a_message_is_created_with_a_png_that_its_embed_shows() {
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(CHANNEL);
    let rest = rest_for(&fake).await;
    let file = chart(12);
    let created = rest
        .create_message_with_file(CHANNEL, &embed_with(&file, "error rate"), &file)
        .await
        .expect("the upload is accepted");

    let stored = fake.attachments(CHANNEL, &id(&created));
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].filename, "chart.png");
    assert_eq!(stored[0].content_type, "image/png");
    assert_eq!(stored[0].size, file.bytes().len());
    assert_eq!(stored[0].bytes, file.bytes(), "the bytes arrive as rendered");
    // Discord's answer describes the file: the image's size is read from the PNG.
    let attachment = &created["attachments"][0];
    assert_eq!((attachment["width"].as_u64(), attachment["height"].as_u64()), (Some(800), Some(400)));
    assert_eq!(created["embeds"][0]["image"]["url"], "attachment://chart.png");
    validate_response(Route::CreateMessage, 200, &created).expect("the answer fits MessageResponse");

    // One request: the JSON body in payload_json, the file in files[0], named in attachments.
    let request = &fake.requests_to(Route::CreateMessage)[0];
    assert!(request.headers["content-type"].starts_with("multipart/form-data"), "{:?}", request.headers);
    assert_eq!(
        request.body.as_ref().expect("payload_json")["attachments"],
        json!([{"id": "0", "filename": "chart.png"}])
    );
    assert_eq!(request.files.len(), 1);
    assert_eq!(request.files[0].part, "files[0]");
    assert_eq!(request.files[0].filename.as_deref(), Some("chart.png"));
    fake.assert_no_violations();
}

#[tokio::test]
async fn an_edit_with_a_new_chart_replaces_the_old_one_and_a_plain_edit_keeps_it() {
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(CHANNEL);
    let rest = rest_for(&fake).await;
    let first = chart(12);
    let created =
        rest.create_message_with_file(CHANNEL, &embed_with(&first, "tripped"), &first).await.expect("created");
    let message_id = id(&created);
    let first_id = fake.attachments(CHANNEL, &message_id)[0].id.clone();

    let second = chart(15);
    assert_ne!(first.bytes(), second.bytes(), "the charts differ");
    let edited = rest
        .edit_message_with_file(CHANNEL, &message_id, &embed_with(&second, "rolled back"), &second)
        .await
        .expect("the edit is accepted");
    assert_eq!(edited["id"], created["id"], "the same message");
    validate_response(Route::EditMessage, 200, &edited).expect("the answer fits MessageResponse");
    let stored = fake.attachments(CHANNEL, &message_id);
    assert_eq!(stored.len(), 1, "the new chart replaces the old: {stored:?}");
    assert_eq!(stored[0].bytes, second.bytes());
    assert_ne!(stored[0].id, first_id, "a new file, not the old one renamed");

    // An edit that says nothing of attachments leaves the chart where it is.
    let path = format!("/channels/{CHANNEL}/messages/{message_id}");
    rest.call(reqwest::Method::PATCH, &path, Some(&json!({"content": "✅ rolled back"}))).await.expect("edited");
    let stored = fake.attachments(CHANNEL, &message_id);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].bytes, second.bytes());
    fake.assert_no_violations();
}

/// Sends a hand-made upload to the fake, as a buggy client might.
async fn raw_upload(fake: &FakeDiscord, form: reqwest::multipart::Form) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/channels/{CHANNEL}/messages", fake.api_url()))
        .header("Authorization", format!("Bot {}", fake.token()))
        .multipart(form)
        .send()
        .await
        .expect("the fake answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

fn payload_part(body: serde_json::Value) -> reqwest::multipart::Part {
    reqwest::multipart::Part::text(body.to_string()).mime_str("application/json").expect("a valid MIME type")
}

#[tokio::test]
async fn an_upload_missing_its_file_part_is_refused() {
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(CHANNEL);
    let body = json!({"content": "chart", "attachments": [{"id": "0", "filename": "chart.png"}]});
    let form = reqwest::multipart::Form::new().part("payload_json", payload_part(body));
    let (status, answer) = raw_upload(&fake, form).await;
    assert_eq!(status, 400);
    assert_eq!(answer["code"], 50035);
    assert_eq!(answer["errors"]["attachments"]["0"]["_errors"][0]["code"], "ATTACHMENT_NOT_FOUND", "{answer}");
    assert!(fake.messages(CHANNEL).is_empty());
    assert_eq!(fake.violations().len(), 1, "the request broke the contract");
}

#[tokio::test]
async fn an_upload_whose_png_is_not_a_png_is_refused() {
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(CHANNEL);
    let body = json!({"content": "chart", "attachments": [{"id": "0", "filename": "chart.png"}]});
    let not_png = reqwest::multipart::Part::bytes(b"GIF89a not a png".to_vec())
        .file_name("chart.png")
        .mime_str("image/png")
        .expect("a valid MIME type");
    let form = reqwest::multipart::Form::new().part("payload_json", payload_part(body)).part("files[0]", not_png);
    let (status, answer) = raw_upload(&fake, form).await;
    assert_eq!(status, 400);
    assert_eq!(answer["errors"]["attachments"]["0"]["_errors"][0]["code"], "INVALID_FILE_FORMAT", "{answer}");
    assert!(fake.messages(CHANNEL).is_empty());
}

#[tokio::test]
async fn a_payload_json_that_breaks_the_schema_is_refused() {
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(CHANNEL);
    let rest = rest_for(&fake).await;
    let file = chart(12);
    let too_long = json!({ "content": "x".repeat(2001), "embeds": [{ "image": { "url": file.url() } }] });
    match rest.create_message_with_file(CHANNEL, &too_long, &file).await {
        Err(RestError::Refused { status: 400, code: 50035, .. }) => {}
        other => panic!("content over 2000 characters is refused: {other:?}"),
    }
    let mistyped = json!({ "content": "chart", "embeds": [{ "title": 42, "image": { "url": file.url() } }] });
    match rest.create_message_with_file(CHANNEL, &mistyped, &file).await {
        Err(RestError::Refused { status: 400, code: 50035, message, .. }) => assert_eq!(message, "Invalid Form Body"),
        other => panic!("a number for an embed title is refused: {other:?}"),
    }
    let violations = fake.violations();
    assert_eq!(violations.len(), 2, "{violations:?}");
    assert!(violations[1].problems.iter().any(|p| p.contains("/embeds/0/title")), "{violations:?}");
    assert!(fake.messages(CHANNEL).is_empty());
}

#[tokio::test]
async fn an_embed_linking_a_file_the_message_lacks_is_refused() {
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(CHANNEL);
    let rest = rest_for(&fake).await;
    let file = chart(12);
    let wrong_link = json!({ "embeds": [{ "image": { "url": "attachment://graph.png" } }] });
    match rest.create_message_with_file(CHANNEL, &wrong_link, &file).await {
        Err(RestError::Refused { status: 400, code: 50035, .. }) => {}
        other => panic!("the embed's image names no file of the message: {other:?}"),
    }
    assert!(fake.messages(CHANNEL).is_empty());
}
