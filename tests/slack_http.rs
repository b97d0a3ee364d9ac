//! shipgate as a Slack app, end to end: the real runtime and router, the stateful fake
//! Slack (every Web API call checked against Slack's OpenAPI document and Block Kit's
//! limits), signed slash commands and clicks over HTTP, and the same over Socket Mode.

use crate::common::fake_slack;

use crate::common::slack_app;

use fake_slack::{signed_headers, SlackUser};
use reqwest::StatusCode;
use serde_json::Value;
use shipgate::domain::release::Event;
use slack_app::{Options, SlackApp, RELEASES};
use std::time::Duration;

fn alice() -> SlackUser {
    SlackUser::new("U0ALICE0001", "alice")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_started_in_slack_opens_its_thread_and_a_click_ticks_the_card() {
    let app = SlackApp::start().await;
    let command = app.fake.slash_command(RELEASES, &alice(), "/release", "start api 1.4.0 3f9c2e1");
    let answer = app.post_signed("/slack/commands", &command.to_form()).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let body: Value = answer.json().await.expect("JSON answer");
    let said = body["text"].as_str().unwrap_or_default();
    assert!(said.contains("*api 1.4.0* started by alice"), "{body:#}");

    // The parent message, then Step 1's card in its thread.
    let parent = app
        .until("the release's parent message", |fake| {
            fake.messages_in(RELEASES).into_iter().find(|m| m.text.as_deref().unwrap_or_default().contains("api 1.4.0"))
        })
        .await;
    let card = app
        .until("Step 1's card in the thread", |fake| {
            fake.thread(RELEASES, &parent.ts)
                .into_iter()
                .find(|m| m.text.as_deref().unwrap_or_default().contains("Step 1"))
        })
        .await;
    let tick = card.action_ids().into_iter().find(|id| id.ends_with(":i0")).expect("a tick button for item 1");

    let click = app.fake.click(RELEASES, &card.ts, &tick, &alice());
    let answer = app.post_signed("/slack/interactivity", &click.to_form()).await;
    assert_eq!(answer.status(), StatusCode::OK);
    app.until("the card updated through response_url with the tick", |fake| {
        let now = fake.message(RELEASES, &card.ts)?;
        (now.versions.len() > 1 && now.action_ids().iter().any(|id| id.ends_with(":u0"))).then_some(())
    })
    .await;

    // The same click delivered again changes nothing twice: one tick in the history.
    let again = app.post_signed("/slack/interactivity", &click.to_form()).await;
    assert_eq!(again.status(), StatusCode::OK);
    let release_id = tick.split(':').nth(1).expect("the release in the button id").to_owned();
    let release_id = shipgate::domain::ReleaseId::new(&release_id);
    let (_, history) =
        app.running.state.app.release_with_history(&release_id).await.expect("read").expect("the release");
    let ticks = history.iter().filter(|r| matches!(r.event, Event::ItemTicked { .. })).count();
    assert_eq!(ticks, 1, "one tick for one click delivered twice");
    app.fake.assert_no_problems();
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_and_stale_signatures_are_refused_before_anything_is_read() {
    let app = SlackApp::start().await;
    let command = app.fake.slash_command(RELEASES, &alice(), "/release", "start api 1.4.0 3f9c2e1");
    let body = command.to_form();
    let send = |headers: [(&'static str, String); 2]| {
        let mut request = app.http.post(format!("{}/slack/commands", app.url)).body(body.clone());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let forged = signed_headers("not-the-signing-secret", chrono::Utc::now().timestamp(), &body);
    assert_eq!(send(forged).await.expect("answer").status(), StatusCode::UNAUTHORIZED);
    let stale = signed_headers(app.fake.signing_secret(), chrono::Utc::now().timestamp() - 301, &body);
    assert_eq!(send(stale).await.expect("answer").status(), StatusCode::UNAUTHORIZED);
    let unsigned =
        app.http.post(format!("{}/slack/commands", app.url)).body(body.clone()).send().await.expect("answer");
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(app.fake.messages_in(RELEASES).is_empty(), "nothing was started");
}

#[tokio::test(flavor = "multi_thread")]
async fn over_socket_mode_a_slash_command_is_answered_on_its_ack_and_a_click_ticks_the_card() {
    let app = SlackApp::start_with(Options { mode: "socket", ..Options::default() }).await;
    app.fake.wait_socket_hellos(1, Duration::from_secs(10)).await;
    let command = app.fake.slash_command(RELEASES, &alice(), "/release", "start api 1.4.0 3f9c2e1");
    let envelope = app.fake.push_slash_command(&command);
    let ack = app.fake.wait_ack(&envelope, Duration::from_secs(10)).await;
    let said = ack.payload.as_ref().and_then(|p| p["text"].as_str()).unwrap_or_default().to_owned();
    assert!(said.contains("*api 1.4.0* started by alice"), "the ack carries the answer: {ack:?}");

    let parent = app
        .until("the release's parent message", |fake| {
            fake.messages_in(RELEASES).into_iter().find(|m| m.text.as_deref().unwrap_or_default().contains("api 1.4.0"))
        })
        .await;
    let card = app
        .until("Step 1's card in the thread", |fake| {
            fake.thread(RELEASES, &parent.ts)
                .into_iter()
                .find(|m| m.text.as_deref().unwrap_or_default().contains("Step 1"))
        })
        .await;
    let tick = card.action_ids().into_iter().find(|id| id.ends_with(":i0")).expect("a tick button for item 1");
    let click = app.fake.click(RELEASES, &card.ts, &tick, &alice());
    let envelope = app.fake.push_interactive(click.to_json());
    app.fake.wait_ack(&envelope, Duration::from_secs(10)).await;
    app.until("the card updated with the tick", |fake| {
        let now = fake.message(RELEASES, &card.ts)?;
        now.action_ids().iter().any(|id| id.ends_with(":u0")).then_some(())
    })
    .await;
    app.fake.assert_no_problems();
}
