//! Bug triage after a rollback: shipgate opens a release of the built-in Bug Triage
//! playbook in a thread of its own, starting from the rollback notice, and links it with
//! the failed release both ways (in chat and in the API), once per rollback.

use crate::common;

use common::discord_bot::*;
use serde_json::{json, Value};

fn texts(bot: &Bot, channel: &str) -> Vec<String> {
    bot.fake.messages(channel).iter().map(|m| m["content"].as_str().unwrap_or_default().to_owned()).collect()
}

fn thread_named(bot: &Bot, name: &str) -> Option<String> {
    bot.fake.threads().into_iter().find(|t| t["name"] == name).and_then(|t| t["id"].as_str().map(str::to_owned))
}

/// The id of the triage shipgate opens for `id`'s rollback, once it has.
async fn triage_of(bot: &Bot, id: &str) -> String {
    for _ in 0..200 {
        if let Some(triage) = bot.release(id).await["triage"].as_str() {
            return triage.to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no triage was opened for {id} within 10 s: {:#}", bot.release(id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_opens_one_triage_thread_linked_both_ways_with_the_notice_in_it() {
    let bot = Bot::start().await;
    bot.api_complete("checkout", "2.6.0", OLD_DIGEST).await;
    let failed = bot.start_release(RELEASE_CHANNEL, "checkout", "2.7.0", false, &alice()).await;
    bot.api_to_monitor(&failed.id, "2.7.0", DIGEST).await;
    let reason = "checkout returns 500 for card payments";
    bot.command(&failed.thread, "release", "rollback", json!([{"name": "reason", "type": 3, "value": reason}]), &bob())
        .await;

    // The triage is a release of the bug triage playbook for the same service and commit.
    let triage_id = triage_of(&bot, &failed.id).await;
    let triage = bot.release(&triage_id).await;
    assert_eq!(triage["playbook"], "bug-triage", "{triage:#}");
    assert_eq!(triage["service"], "checkout");
    assert_eq!(triage["version"], "2.7.0");
    assert_eq!(triage["triage_of"], failed.id.as_str());
    assert_eq!(triage["started_by"], "shipgate");
    assert_eq!(triage["steps"][0]["id"], "owner", "{triage:#}");

    // Its thread opens in the release channel, with the notice and a link back.
    let thread = bot.eventually("the triage thread", |_| thread_named(&bot, "Bug triage · checkout 2.7.0")).await;
    let origin: Value = bot
        .eventually("the notice at the top of the triage", |fake| {
            fake.messages(&thread)
                .into_iter()
                .find(|m| m["content"].as_str().unwrap_or_default().contains("Bug triage of"))
        })
        .await;
    let content = origin["content"].as_str().unwrap();
    assert!(content.contains(&format!("failed release: <#{}>", failed.thread)), "{content}");
    let fields = serde_json::to_string(&origin["embeds"][0]["fields"]).unwrap();
    assert!(fields.contains(reason), "what broke: {fields}");
    assert!(fields.contains("to version 2.6.0"), "what was rolled back: {fields}");
    bot.card_where(&thread, "the triage's first card", |c| {
        c["content"].as_str().unwrap_or_default().starts_with("Step 1 — Assign an Owner")
    })
    .await;
    assert!(
        texts(&bot, RELEASE_CHANNEL).iter().any(|t| t.starts_with("🐞 **Bug triage · checkout 2.7.0**")),
        "{:?}",
        texts(&bot, RELEASE_CHANNEL)
    );

    // The failed release's thread says so, linking forward.
    let said = bot
        .eventually("the link in the failed release's thread", |_| {
            texts(&bot, &failed.thread).into_iter().find(|t| t.contains("its triage is open"))
        })
        .await;
    assert!(said.contains(&format!("<#{thread}>")), "{said}");

    // Sweeps go on; nothing opens twice, nothing is said twice.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(bot.release(&failed.id).await["triage"], triage_id.as_str());
    let (status, listed) = bot.api("GET", "/releases?service=checkout", RM_TOKEN, None).await;
    assert_eq!(status, 200, "{listed}");
    let rows = listed.as_array().or_else(|| listed["releases"].as_array()).expect("a list of releases");
    let count = rows.iter().filter(|r| r["playbook"] == "bug-triage").count();
    assert_eq!(count, 1, "{listed:#}");
    assert_eq!(texts(&bot, &failed.thread).iter().filter(|t| t.contains("its triage is open")).count(), 1);
    bot.fake.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_of_a_release_run_from_the_api_gets_its_triage_in_the_release_channel() {
    let bot = Bot::start().await;
    bot.api_complete("checkout", "2.6.0", OLD_DIGEST).await;
    let (status, body) = bot
        .api(
            "POST",
            "/releases",
            CI_TOKEN,
            Some(json!({"service": "checkout", "version": "2.7.0", "git_sha": "3f9c2e1"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    bot.api_to_monitor(&id, "2.7.0", DIGEST).await;
    bot.api_ok(&format!("/releases/{id}/rollback"), RM_TOKEN, Some(json!({"reason": "checkout answers 500"}))).await;

    let triage_id = triage_of(&bot, &id).await;
    assert_eq!(bot.release(&triage_id).await["triage_of"], id.as_str());
    let thread = bot.eventually("the triage thread", |_| thread_named(&bot, "Bug triage · checkout 2.7.0")).await;
    let origin = bot
        .eventually("the notice at the top of the triage", |_| {
            texts(&bot, &thread).into_iter().find(|t| t.contains("Bug triage of"))
        })
        .await;
    assert!(origin.contains(&format!("failed release: release {id}")), "no thread to link: {origin}");
    bot.fake.assert_no_violations();
}
