//! Discord in HTTP mode, end to end: shipgate's real router and runtime receive signed
//! interactions, and deliver threads and cards to the stateful fake Discord, which checks
//! every request body against Discord's OpenAPI document.

use crate::common;

use common::discord_bot::*;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};

#[tokio::test]
async fn ping_is_answered_and_bad_signatures_are_refused() {
    let bot = Bot::start().await;
    let body = r#"{"type":1,"id":"1","application_id":"1","token":"t","version":1}"#;
    let now = chrono::Utc::now().timestamp().to_string();
    let response = bot.post_raw(body, &now, &bot.sign(&now, body)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.expect("json"), json!({"type": 1}));

    let forged = SigningKey::from_bytes(&[1u8; 32]);
    let mut signed = now.as_bytes().to_vec();
    signed.extend_from_slice(body.as_bytes());
    let forged: String = forged.sign(&signed).to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(bot.post_raw(body, &now, &forged).await.status(), 401);
    assert_eq!(bot.post_raw(body, &now, "").await.status(), 401);
    let stale = (chrono::Utc::now().timestamp() - 600).to_string();
    assert_eq!(bot.post_raw(body, &stale, &bot.sign(&stale, body)).await.status(), 401);
    let tampered = body.replace("\"1\"", "\"2\"");
    assert_eq!(bot.post_raw(&tampered, &now, &bot.sign(&now, body)).await.status(), 401);
}

#[tokio::test]
async fn a_release_starts_in_a_thread_and_its_first_gate_is_worked_with_buttons() {
    let bot = Bot::start().await;
    // Without the commit the artifact would later be checked against, nothing starts.
    let no_sha = bot.fake.command_interaction(
        RELEASE_CHANNEL,
        "release",
        json!([{"name": "start", "type": 1, "options": [
            {"name": "service", "type": 3, "value": "checkout"},
            {"name": "version", "type": 3, "value": "2.7.0"}
        ]}]),
        &alice(),
    );
    let refused = bot.interact(&no_sha).await;
    assert!(ephemeral_text(&refused).contains("`sha` is required"), "{refused}");

    let start = bot.fake.command_interaction(
        RELEASE_CHANNEL,
        "release",
        json!([{"name": "start", "type": 1, "options": [
            {"name": "service", "type": 3, "value": "checkout"},
            {"name": "version", "type": 3, "value": "2.7.0"},
            {"name": "sha", "type": 3, "value": "3f9c2e1"}
        ]}]),
        &alice(),
    );
    let answer = bot.interact(&start).await;
    assert_eq!(answer["type"], 5, "the start is answered at once and completed with the thread's link");

    // The release message, its thread, and the first card in the thread.
    let thread = bot
        .eventually("the release thread", |fake| {
            fake.threads().first().and_then(|t| t["id"].as_str().map(str::to_owned))
        })
        .await;
    let card = bot
        .eventually("the first card", |fake| fake.messages(&thread).into_iter().find(|m| !buttons(m).is_empty()))
        .await;
    assert!(card["content"].as_str().expect("content").starts_with("Step 1 — Pre-Flight Checks"), "{card}");
    let start_id = start["id"].as_str().expect("id").to_owned();
    bot.eventually("the reply's link to the thread", |fake| {
        fake.interaction_webhooks(&start_id)
            .into_iter()
            .find(|(_, body)| body["content"].as_str().is_some_and(|c| c.contains(&format!("<#{thread}>"))))
    })
    .await;

    // Someone without a role is refused, and nothing changes.
    let card_id = card["id"].as_str().expect("id").to_owned();
    let first_item = buttons(&card)[0]["custom_id"].as_str().expect("custom id").to_owned();
    let refused = bot.interact(&bot.fake.button_interaction(&thread, &card_id, &first_item, &mallory())).await;
    assert!(ephemeral_text(&refused).starts_with("Not done"), "{refused}");

    // A tampered button is refused too.
    let tampered = first_item.replace(":i0", ":i9");
    let refused = bot.interact(&bot.fake.button_interaction(&thread, &card_id, &tampered, &alice())).await;
    ephemeral_text(&refused);

    // Alice ticks every box; each click answers with the card updated in place.
    let items: Vec<String> = buttons(&card)
        .iter()
        .filter(|b| b["style"] == 2)
        .filter_map(|b| b["custom_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(items.len(), 5, "{card}");
    let mut latest = Value::Null;
    for item in &items {
        let click = bot.fake.button_interaction(&thread, &card_id, item, &alice());
        latest = bot.interact(&click).await;
        assert_eq!(latest["type"], 7, "{latest}");
        // The same interaction delivered twice changes nothing the second time.
        let again = bot.interact_again(&click).await;
        assert_eq!(again["type"], 7, "{again}");
    }
    let gate = buttons(&latest["data"]).into_iter().find(|b| b["style"] == 1).expect("a gate button");
    assert_eq!(gate["disabled"], false, "every box ticked: the gate can pass");
    assert!(buttons(&latest["data"]).iter().filter(|b| b["style"] == 3).count() == 5);

    // Bob, a release manager, passes the gate; step 2's card follows in the thread.
    let approve = bot.fake.button_interaction(&thread, &card_id, gate["custom_id"].as_str().expect("id"), &bob());
    let passed = bot.interact(&approve).await;
    assert_eq!(passed["type"], 7);
    assert!(buttons(&passed["data"]).iter().all(|b| b["disabled"] == true), "a passed card is frozen: {passed}");
    let step2 = bot
        .eventually("step 2's card", |fake| {
            fake.messages(&thread)
                .into_iter()
                .find(|m| m["content"].as_str().is_some_and(|c| c.starts_with("Step 2 — Run the Test Suite")))
        })
        .await;

    // A real regression: the failure path asks what happened, then restarts from Step 1.
    // The clicked card closes as it was, and a fresh Step 1 card follows.
    let step2_id = step2["id"].as_str().expect("id").to_owned();
    let regression = buttons(&step2)
        .into_iter()
        .find(|b| b["style"] == 4 && b["label"].as_str().is_some_and(|l| l.contains("regression")))
        .expect("a real-regression button");
    let regression_id = regression["custom_id"].as_str().expect("id");
    let modal = bot.interact(&bot.fake.button_interaction(&thread, &step2_id, regression_id, &alice())).await;
    assert_eq!(modal["type"], 9, "a note is asked for: {modal}");
    let mut submit = bot.fake.button_interaction(&thread, &step2_id, regression_id, &alice());
    submit["type"] = json!(5);
    submit["data"] = json!({"custom_id": modal["data"]["custom_id"], "components": [
        {"type": 1, "components": [{"type": 4, "custom_id": "note", "value": "orders API returns 500"}]}
    ]});
    let restarted = bot.interact(&submit).await;
    assert_eq!(restarted["type"], 7, "{restarted}");
    assert!(restarted["data"]["content"].as_str().is_some_and(|c| c.starts_with("Step 2")), "{restarted}");
    assert!(buttons(&restarted["data"]).iter().all(|b| b["disabled"] == true), "the old attempt is closed");
    bot.eventually("a fresh Step 1 card", |fake| {
        let step1 = fake
            .messages(&thread)
            .into_iter()
            .filter(|m| m["content"].as_str().is_some_and(|c| c.starts_with("Step 1 — Pre-Flight Checks")))
            .count();
        (step1 == 2).then_some(())
    })
    .await;
    bot.fake.assert_no_violations();
}

/// A click on a card that is behind (the item was ticked through the API meanwhile) never
/// undoes what another surface did: it only brings the card up to date.
#[tokio::test]
async fn a_click_on_a_card_that_is_behind_brings_it_up_to_date_and_undoes_nothing() {
    let bot = Bot::start().await;
    let started = bot.start_release(RELEASE_CHANNEL, "checkout", "2.7.0", false, &alice()).await;
    let card = bot.card(&started.thread, "pre-flight", 1).await;
    let tick_first = button(&card, "All PRs")["custom_id"].as_str().expect("custom id").to_owned();

    // Alice ticks the first item: the answer shows it ticked, with a button that unticks it.
    let answer = bot.click(&started.thread, &card, &tick_first, &alice()).await;
    assert_eq!(answer["type"], 7, "{answer}");
    let ticked = button(&answer["data"], "All PRs");
    assert_eq!(ticked["style"], 3);
    assert!(ticked["custom_id"].as_str().expect("custom id").ends_with(":u0"), "{ticked}");
    assert_eq!(bot.history_len(&started.id).await, 2);

    // CI ticks the second item through the API; Alice's card still shows it unticked.
    let path = format!("/releases/{}/steps/pre-flight/items/no-blockers/tick", started.id);
    bot.api_ok(&path, CI_TOKEN, None).await;
    let stale = bot.fake.message(&started.thread, card["id"].as_str().expect("id")).expect("the card");
    let tick_second = button(&stale, "No open")["custom_id"].as_str().expect("custom id").to_owned();
    assert!(tick_second.ends_with(":i1"), "{tick_second}");
    let healed = bot.click(&started.thread, &stale, &tick_second, &alice()).await;
    assert_eq!(healed["type"], 7, "{healed}");
    assert_eq!(button(&healed["data"], "No open")["style"], 3, "the card now shows CI's tick");
    assert_eq!(bot.history_len(&started.id).await, 3, "the stale click changed nothing");

    bot.fake.assert_no_violations();
}
