//! A hotfix through a freeze, and a rollback broadcast to the incident channels, worked in
//! Discord (HTTP mode) against the fake Discord.

use crate::common;

use common::discord_bot::*;
use common::fake_discord::{Fault, Member, Route, RouteMatcher};
use serde_json::{json, Value};
use std::time::Duration;

fn dave() -> Member {
    // An engineer: may work the cards, may not approve a freeze override.
    Member::new("1700000000000000005", "dave", &[ENGINEER_ROLE])
}

fn custom_id(button: &Value) -> String {
    button["custom_id"].as_str().expect("custom id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hotfix_passes_the_production_gate_in_a_freeze_once_a_second_person_approves_the_override() {
    let bot = Bot::start().await;
    let hotfix = bot.start_release(FROZEN_CHANNEL, "payments", "5.1.1", true, &alice()).await;
    bot.api_to_smoke_gate(&hotfix.id, "5.1.1", DIGEST).await;
    let card5 = bot
        .card_where(&hotfix.thread, "Step 5's card, every box ticked", |c| {
            step_of(c) == Some(("smoke-test".into(), 1)) && gate(c)["disabled"] == false
        })
        .await;
    let gate5 = custom_id(&gate(&card5));

    // The way to production is frozen, even for a release manager.
    let history = bot.history_len(&hotfix.id).await;
    let refused = bot.click(&hotfix.thread, &card5, &gate5, &carol()).await;
    let text = ephemeral_text(&refused);
    assert!(text.contains("production is frozen") && text.contains("Code freeze"), "{text}");
    assert!(text.contains("request a freeze override"), "a hotfix is told how: {text}");
    assert_eq!(bot.history_len(&hotfix.id).await, history);

    // Alice asks for the override in the release's thread.
    let asked = bot
        .command(
            &hotfix.thread,
            "freeze",
            "override",
            json!([{"name": "reason", "type": 3, "value": "card payments fail for every customer"}]),
            &alice(),
        )
        .await;
    assert_eq!(asked["type"], 4, "{asked}");
    assert_ne!(asked["data"]["flags"], 64, "everyone sees the request: {asked}");
    assert!(asked["data"]["content"].as_str().unwrap().contains("Freeze override requested by alice"), "{asked}");
    let card5 = bot
        .card_becomes(&hotfix.thread, &card5, "the card offers the override's approval", |m| {
            buttons(m).iter().any(|b| b["label"] == "Approve freeze override" && b["disabled"] == false)
        })
        .await;
    assert!(body_text(&card5).contains("Freeze override requested by alice: card payments fail"), "{card5:#}");
    let approve = custom_id(&button(&card5, "Approve freeze override"));

    // Not by the person who asked, not by an engineer; the gate stays shut meanwhile.
    let history = bot.history_len(&hotfix.id).await;
    let text = ephemeral_text(&bot.click(&hotfix.thread, &card5, &approve, &alice()).await);
    assert!(text.contains("a second person must approve it"), "{text}");
    let text = ephemeral_text(&bot.click(&hotfix.thread, &card5, &approve, &dave()).await);
    assert!(text.contains("release-manager"), "{text}");
    let text = ephemeral_text(&bot.click(&hotfix.thread, &card5, &gate5, &carol()).await);
    assert!(text.contains("waits for a second person's approval"), "{text}");
    assert_eq!(bot.history_len(&hotfix.id).await, history, "refusals record nothing");

    // Carol, a release manager, approves; then the gate passes.
    let approved = bot.click(&hotfix.thread, &card5, &approve, &carol()).await;
    assert_eq!(approved["type"], 7, "{approved}");
    assert!(body_text(&approved["data"]).contains("Freeze override approved by carol"), "{approved:#}");
    let passed = bot.click(&hotfix.thread, &card5, &gate5, &carol()).await;
    assert_eq!(passed["type"], 7, "{passed}");
    assert!(all_disabled(&passed["data"]), "{passed:#}");
    assert!(body_text(&passed["data"]).contains("Gate passed · approved by carol"), "{passed:#}");
    assert_eq!(bot.current_step(&hotfix.id).await, "deploy-production");
    bot.card(&hotfix.thread, "deploy-production", 1).await;
    bot.eventually("the approval said in the thread", |fake| {
        fake.messages(&hotfix.thread)
            .iter()
            .any(|m| m["content"] == "🧊 Freeze override for hotfix **payments 5.1.1** approved by carol.")
            .then_some(())
    })
    .await;
    let override_view = &bot.release(&hotfix.id).await["freeze_override"];
    assert!(override_view.to_string().contains("card payments fail for every customer"), "{override_view}");
    bot.fake.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_notice_reaches_every_incident_channel_once_through_a_429_and_a_500() {
    let bot = Bot::start().await;
    // 2.6.0 ran in production before; 2.7.0 is deployed and watched, then rolled back.
    bot.api_complete("checkout", "2.6.0", OLD_DIGEST).await;
    let started = bot.start_release(RELEASE_CHANNEL, "checkout", "2.7.0", false, &alice()).await;
    bot.api_to_monitor(&started.id, "2.7.0", DIGEST).await;
    let monitor = bot.card(&started.thread, "monitor", 1).await;

    // The first post to each incident channel fails: one rate-limited, one a server error.
    let first = RouteMatcher::RouteWith(Route::CreateMessage, "channel_id", INCIDENT_CHANNEL.to_owned());
    let second = RouteMatcher::RouteWith(Route::CreateMessage, "channel_id", INCIDENT_CHANNEL_2.to_owned());
    bot.fake.fail_next(first, Fault::TooManyRequests { retry_after: Duration::from_millis(1500), global: false }, 1);
    bot.fake.fail_next(second, Fault::ServerError(500), 1);

    let reason = "checkout returns 500 for card payments";
    let answer = bot
        .command(
            &started.thread,
            "release",
            "rollback",
            json!([{"name": "reason", "type": 3, "value": reason}]),
            &bob(),
        )
        .await;
    assert_eq!(answer["type"], 4, "{answer}");
    assert_eq!(answer["data"]["content"], "Rollback of checkout 2.7.0 started by bob; follow the rollback card.");

    let notice = |fake: &common::fake_discord::FakeDiscord, channel: &str| -> Vec<String> {
        fake.messages(channel).iter().map(notice_text).filter(|t| t.contains("What was rolled back")).collect()
    };
    for channel in [INCIDENT_CHANNEL, INCIDENT_CHANNEL_2] {
        let text = bot
            .eventually(&format!("the rollback notice in {channel}"), |fake| notice(fake, channel).into_iter().next())
            .await;
        assert!(text.starts_with("**⏪ Rolling back checkout 2.7.0**"), "{text}");
        assert!(text.contains("What was deployed: • checkout · version 2.7.0"), "what was deployed: {text}");
        assert!(text.contains(&format!("artifact {DIGEST}, deployed")), "the artifact: {text}");
        assert!(text.contains("production approved by "), "who let it through: {text}");
        assert!(text.contains(&format!("What broke: • {reason} (said by bob, ")), "what broke: {text}");
        assert!(
            text.contains(&format!("What was rolled back: • to version 2.6.0 · artifact {OLD_DIGEST}")),
            "what it goes back to: {text}"
        );
        assert!(text.contains("deploy to detection: "), "how long it took to see: {text}");
        assert!(text.contains(&format!("thread <#{}>", started.thread)), "the thread: {text}");
    }
    // The rollback card follows the notice in the thread's lane: once it is there, the
    // notice's delivery is over, and each channel holds it once.
    let rollback = bot.card(&started.thread, "rollback", 1).await;
    assert!(rollback["content"].as_str().unwrap().starts_with("Rollback"), "{rollback}");
    bot.card_becomes(&started.thread, &monitor, "the monitoring card closed", all_disabled).await;
    for channel in [INCIDENT_CHANNEL, INCIDENT_CHANNEL_2, started.thread.as_str()] {
        assert_eq!(notice(&bot.fake, channel).len(), 1, "exactly once in {channel}");
    }
    // The faults were met: the notice got through them, not around them.
    let statuses = |channel: &str| -> Vec<Option<u16>> {
        bot.fake
            .requests_to(Route::CreateMessage)
            .iter()
            .filter(|r| r.path.contains(&format!("/channels/{channel}/messages")))
            .map(|r| r.status)
            .collect()
    };
    assert_eq!(statuses(INCIDENT_CHANNEL), [Some(429), Some(200)]);
    assert_eq!(statuses(INCIDENT_CHANNEL_2), [Some(500), Some(200)]);

    // Production goes back and the procedure passes: every copy of the notice is edited
    // to say so, with how long recovery took; nothing new is posted in the channels.
    bot.api_ok(
        &format!("/releases/{}/deployments", started.id),
        CI_TOKEN,
        Some(json!({"environment": "production", "digest": OLD_DIGEST, "outcome": "succeeded", "health": "passed", "strategy": "rolling"})),
    )
    .await;
    for item in ["deploy-reverted", "health-verified", "team-notified", "bug-triage"] {
        bot.api_ok(&format!("/releases/{}/steps/rollback/items/{item}/tick", started.id), CI_TOKEN, None).await;
    }
    bot.api_ok(&format!("/releases/{}/steps/rollback/approve", started.id), RM_TOKEN, None).await;
    for channel in [INCIDENT_CHANNEL, INCIDENT_CHANNEL_2] {
        let text = bot
            .eventually(&format!("the notice in {channel} says production recovered"), |fake| {
                notice(fake, channel).into_iter().find(|t| t.contains("✅ Rolled back"))
            })
            .await;
        assert!(text.contains("health checks passed"), "{text}");
        assert!(text.contains("detection to recovery: "), "{text}");
        assert_eq!(notice(&bot.fake, channel).len(), 1, "edited, not posted again, in {channel}");
    }
    bot.fake.assert_no_violations();
}

/// A message's words: its content and its embed's fields, `name: value` per field.
fn notice_text(message: &Value) -> String {
    let mut text = message["content"].as_str().unwrap_or_default().to_owned();
    for field in message["embeds"][0]["fields"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "\n{}: {}",
            field["name"].as_str().unwrap_or_default(),
            field["value"].as_str().unwrap_or_default().replace('\n', " ")
        ));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_in_production_rolls_back_first_and_commands_outside_a_thread_are_refused() {
    let bot = Bot::start().await;
    bot.api_complete("checkout", "2.6.0", OLD_DIGEST).await;
    let started = bot.start_release(RELEASE_CHANNEL, "checkout", "2.7.0", false, &alice()).await;
    bot.api_to_monitor(&started.id, "2.7.0", DIGEST).await;
    let reason = json!([{"name": "reason", "type": 3, "value": "wrong build shipped"}]);

    // Outside a release's thread there is no release to act on.
    let history = bot.history_len(&started.id).await;
    for sub in ["rollback", "abort"] {
        let answer = bot.command(RELEASE_CHANNEL, "release", sub, reason.clone(), &bob()).await;
        assert!(ephemeral_text(&answer).contains("Run this in a release's thread"), "{answer}");
    }
    let answer = bot.command(&started.thread, "freeze", "override", reason.clone(), &bob()).await;
    assert!(ephemeral_text(&answer).starts_with("Not done:"), "not a hotfix: {answer}");
    assert_eq!(bot.history_len(&started.id).await, history, "refused commands record nothing");

    // In the thread, an abort of a release in production rolls production back first.
    let answer = bot.command(&started.thread, "release", "abort", reason, &bob()).await;
    assert_eq!(answer["type"], 4, "{answer}");
    assert_eq!(
        answer["data"]["content"], "Abort of checkout 2.7.0 requested by bob: production is rolled back first.",
        "{answer}"
    );
    assert_eq!(bot.release(&started.id).await["status"], "rolling_back");
    bot.card(&started.thread, "rollback", 1).await;
    for channel in [INCIDENT_CHANNEL, INCIDENT_CHANNEL_2] {
        let text = bot
            .eventually(&format!("the rollback notice in {channel}"), |fake| {
                fake.messages(channel).first().map(notice_text)
            })
            .await;
        assert!(text.contains("What broke: • aborted: wrong build shipped"), "{text}");
    }
    bot.fake.assert_no_violations();
}
