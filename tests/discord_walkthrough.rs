//! A whole release worked in Discord (HTTP mode): `/release start`, every step's card
//! clicked through to completion, CI evidence posted through the API meanwhile, one piece
//! of evidence entered by a person through a modal. Every request to the fake Discord is
//! checked against Discord's OpenAPI document.

use crate::common;

use common::discord_bot::*;
use serde_json::Value;

/// The card of `step` (1-based in the assertion messages) is closed as passed, with
/// every button disabled and who approved it (or that it passed by itself).
async fn assert_passed(bot: &Bot, thread: &str, card: &Value, approver: Option<&str>) {
    let what = format!("{} closed as passed", step_of(card).expect("a card").0);
    let closed =
        bot.card_becomes(thread, card, &what, |m| all_disabled(m) && body_text(m).contains("Gate passed")).await;
    let text = body_text(&closed);
    match approver {
        Some(name) => assert!(text.contains(&format!("Gate passed · approved by {name}")), "{text}"),
        None => assert!(text.contains("Gate passed by itself"), "{text}"),
    }
}

/// Ticks every unticked item of `card` as `who`; returns the last answer's card.
async fn tick_all(bot: &Bot, thread: &str, card: &Value, who: &common::fake_discord::Member) -> Value {
    let items: Vec<String> = buttons(card)
        .iter()
        .filter(|b| b["style"] == 2)
        .filter_map(|b| b["custom_id"].as_str().map(str::to_owned))
        .filter(|id| id.rsplit(':').next().is_some_and(|e| e.starts_with('i')))
        .collect();
    assert!(!items.is_empty(), "{card:#}");
    let mut latest = Value::Null;
    for item in &items {
        let answer = bot.click(thread, card, item, who).await;
        assert_eq!(answer["type"], 7, "a tick answers with the card updated in place: {answer}");
        latest = answer["data"].clone();
    }
    let ticked = buttons(&latest)
        .iter()
        .filter(|b| b["custom_id"].as_str().is_some_and(|id| id.rsplit(':').next().is_some_and(|e| e.starts_with('i'))))
        .all(|b| b["style"] == 3);
    assert!(ticked, "every item is Success (3) once ticked: {latest:#}");
    assert!(body_text(&latest).contains(&format!("— {}", who.username)), "who ticked shows on the card: {latest:#}");
    latest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_is_worked_through_all_eight_steps_in_discord() {
    let bot = Bot::start().await;
    let started = bot.start_release(RELEASE_CHANNEL, "checkout", "2.7.0", false, &alice()).await;
    let (id, thread) = (started.id.clone(), started.thread.clone());

    // Step 1: Alice ticks the five boxes; Bob, a release manager, passes the gate.
    let card1 = bot.card(&thread, "pre-flight", 1).await;
    assert!(card1["content"].as_str().unwrap().starts_with("Step 1 — Pre-Flight Checks"), "{card1}");
    assert!(card1["content"].as_str().unwrap().contains("1/8"), "{card1}");
    assert_eq!(gate(&card1)["disabled"], true, "the gate waits for the boxes");
    let ticked = tick_all(&bot, &thread, &card1, &alice()).await;
    assert_eq!(gate(&ticked)["disabled"], false, "every box ticked: the gate can pass");
    let passed = bot.click(&thread, &card1, gate(&ticked)["custom_id"].as_str().unwrap(), &bob()).await;
    assert_eq!(passed["type"], 7, "{passed}");
    assert_passed(&bot, &thread, &card1, Some("bob")).await;

    // Step 2: the tests come from CI through the API; the gate passes by itself.
    let card2 = bot.card(&thread, "test-suite", 1).await;
    assert!(card2["content"].as_str().unwrap().starts_with("Step 2 — Run the Test Suite"), "{card2}");
    assert!(body_text(&card2).contains("waiting for"), "{card2:#}");
    bot.api_ok(
        &format!("/releases/{id}/test-results"),
        CI_TOKEN,
        Some(serde_json::json!({"suite": "unit", "passed": 420, "failed": 0})),
    )
    .await;
    assert_passed(&bot, &thread, &card2, None).await;
    let card2 = bot.fake.message(&thread, card2["id"].as_str().unwrap()).unwrap();
    assert!(body_text(&card2).contains("Tests unit: 420 passed, 0 failed"), "CI's evidence is on the card: {card2:#}");

    // Step 3: the artifact comes from CI and shows on the card before anyone clicks.
    let card3 = bot.card(&thread, "build-artifact", 1).await;
    assert!(card3["content"].as_str().unwrap().starts_with("Step 3 — Build the Artifact"), "{card3}");
    bot.api_ok(
        &format!("/releases/{id}/artifacts"),
        CI_TOKEN,
        Some(serde_json::json!({"version": "2.7.0", "git_sha": "3f9c2e1", "digest": DIGEST, "size_bytes": 73400320})),
    )
    .await;
    let card3 = bot
        .card_becomes(&thread, &card3, "the artifact on Step 3's card", |m| {
            body_text(m).contains("Artifact 2.7.0 · 3f9c2e1")
        })
        .await;
    assert!(card3["content"].as_str().unwrap().contains("artifact"), "the header names the artifact: {card3}");
    tick_all(&bot, &thread, &card3, &alice()).await;
    assert_passed(&bot, &thread, &card3, None).await;

    // Step 4: a person records the staging deploy through the card's form.
    let card4 = bot.card(&thread, "deploy-staging", 1).await;
    let modal = bot.click_label(&thread, &card4, "Record staging deploy", &alice()).await;
    assert_eq!(modal["type"], 9, "{modal}");
    let recorded = bot
        .submit(
            &thread,
            &card4,
            &modal,
            &[("digest", DIGEST), ("outcome", "succeeded"), ("health", "passed"), ("strategy", "rolling")],
            &alice(),
        )
        .await;
    assert_eq!(recorded["type"], 7, "{recorded}");
    assert!(
        body_text(&recorded["data"]).contains("Staging deploy of"),
        "the form's evidence is on the card: {recorded:#}"
    );
    tick_all(&bot, &thread, &card4, &alice()).await;
    assert_passed(&bot, &thread, &card4, None).await;

    // Step 5: smoke checks; the way to production is approved by someone other than the starter.
    let card5 = bot.card(&thread, "smoke-test", 1).await;
    let ticked = tick_all(&bot, &thread, &card5, &alice()).await;
    let passed = bot.click(&thread, &card5, gate(&ticked)["custom_id"].as_str().unwrap(), &bob()).await;
    assert_eq!(passed["type"], 7, "{passed}");
    assert_passed(&bot, &thread, &card5, Some("bob")).await;

    // Step 6: CI reports the production deploy; the gate passes by itself.
    let card6 = bot.card(&thread, "deploy-production", 1).await;
    bot.api_ok(&format!("/releases/{id}/deployments"), CI_TOKEN, Some(deployment("production", DIGEST))).await;
    assert_passed(&bot, &thread, &card6, None).await;
    let card6 = bot.fake.message(&thread, card6["id"].as_str().unwrap()).unwrap();
    assert!(body_text(&card6).contains("Production deploy of"), "{card6:#}");

    // Step 7: the watch. Every box ticked while it runs; when it ends, nothing happens in
    // chat, yet the card shows its gate ready: shipgate draws it again by itself.
    let card7 = bot.card(&thread, "monitor", 1).await;
    let items: Vec<String> = buttons(&card7)
        .iter()
        .filter(|b| b["style"] == 2)
        .filter_map(|b| b["custom_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(items.len(), 4, "{card7:#}");
    let mut latest = Value::Null;
    for item in &items {
        latest = bot.click(&thread, &card7, item, &alice()).await;
    }
    assert!(body_text(&latest["data"]).contains("15-minute watch"), "the watch has not ended: {latest:#}");
    assert_eq!(gate(&latest["data"])["disabled"], true, "the gate waits for the watch: {latest:#}");
    bot.clock.advance(chrono::Duration::minutes(16));
    let latest = bot
        .card_becomes(&thread, &card7, "the card's gate ready once the watch ended", |m| gate(m)["disabled"] == false)
        .await;
    let passed = bot.click(&thread, &card7, gate(&latest)["custom_id"].as_str().unwrap(), &bob()).await;
    assert_eq!(passed["type"], 7, "{passed}");
    assert_passed(&bot, &thread, &card7, Some("bob")).await;

    // Step 8: no rollback criterion holds; the release completes.
    let card8 = bot.card(&thread, "rollback-criteria", 1).await;
    assert!(card8["content"].as_str().unwrap().contains("8/8"), "{card8}");
    let ticked = tick_all(&bot, &thread, &card8, &alice()).await;
    let done = bot.click(&thread, &card8, gate(&ticked)["custom_id"].as_str().unwrap(), &bob()).await;
    assert_eq!(done["type"], 7, "{done}");
    assert!(all_disabled(&done["data"]), "the last card is closed: {done:#}");

    let release = bot.release(&id).await;
    assert_eq!(release["status"], "completed", "{release:#}");
    // Every card exists exactly once, in order; the release message and thread once.
    bot.eventually("the release finished line", |fake| {
        fake.messages(&thread)
            .iter()
            .any(|m| m["content"].as_str().is_some_and(|c| c.contains("**checkout 2.7.0** is completed")))
            .then_some(())
    })
    .await;
    let steps: Vec<(String, u32)> = bot.cards(&thread).iter().filter_map(step_of).collect();
    let expected: Vec<(String, u32)> = STEPS.iter().map(|s| ((*s).to_owned(), 1)).collect();
    assert_eq!(steps, expected, "one card per step, in order");
    for card in bot.cards(&thread) {
        assert!(all_disabled(&card), "every card is frozen at the end: {card:#}");
    }
    let release_messages = bot
        .fake
        .messages(RELEASE_CHANNEL)
        .into_iter()
        .filter(|m| m["content"].as_str().is_some_and(|c| c.starts_with("🚀 **checkout 2.7.0**")))
        .count();
    assert_eq!(release_messages, 1);
    assert_eq!(bot.fake.threads().iter().filter(|t| t["name"] == "checkout 2.7.0").count(), 1);
    bot.fake.assert_no_violations();
}
