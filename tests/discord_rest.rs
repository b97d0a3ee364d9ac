//! shipgate's Discord REST client against the fake Discord: it keeps within the rate
//! limits it is told of (buckets and the global limit) even with many calls in flight,
//! waits out the 429s it meets, and tells retryable failures from refusals.

mod common;

use common::fake_discord::{FakeDiscord, Fault, Route};
use serde_json::json;
use shipgate::chat::discord::rest::{Rest, RestError};
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
