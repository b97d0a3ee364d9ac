//! "Fix it, merge, and restart from Step 1", worked in Discord: after a real regression,
//! `/release retarget` in the release's thread points the release at the fix's commit.

use crate::common;

use common::discord_bot::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_is_retargeted_to_the_fix_from_its_thread_and_the_release_message_follows() {
    let bot = Bot::start().await;
    let started = bot.start_release(RELEASE_CHANNEL, "orders", "3.2.0", false, &alice()).await;
    bot.tick_all(&started.id).await;
    bot.api_ok(&format!("/releases/{}/steps/pre-flight/approve", started.id), RM_TOKEN, None).await;
    let options = json!([
        {"name": "sha", "type": 3, "value": "4444abc"},
        {"name": "version", "type": 3, "value": "3.2.1"},
        {"name": "reason", "type": 3, "value": "the fix for the orders regression"},
    ]);

    // Past Step 1 it is refused, privately, and nothing is written.
    let history = bot.history_len(&started.id).await;
    let refused = bot.command(&started.thread, "release", "retarget", options.clone(), &bob()).await;
    assert!(ephemeral_text(&refused).contains("only at Step 1"), "{refused}");
    assert_eq!(bot.history_len(&started.id).await, history);

    // The integration suite finds a real regression: back to Step 1, then to the fix.
    bot.api_ok(
        &format!("/releases/{}/steps/test-suite/failure-paths/real-regression", started.id),
        CI_TOKEN,
        Some(json!({"note": "orders API returns 500"})),
    )
    .await;
    let answer = bot.command(&started.thread, "release", "retarget", options, &bob()).await;
    assert_eq!(answer["type"], 4, "{answer}");
    assert_eq!(
        answer["data"]["content"],
        "orders now ships 3.2.1 · `4444abc`, retargeted by bob; Step 1 starts over for the new commit."
    );
    let line = bot
        .eventually("the retarget said in the thread", |fake| {
            fake.messages(&started.thread)
                .iter()
                .filter_map(|m| m["content"].as_str())
                .find(|c| c.starts_with("🎯"))
                .map(str::to_owned)
        })
        .await;
    assert!(line.contains("now ships `4444abc` (was 3.2.0 · `3f9c2e1`), retargeted by bob"), "{line}");
    assert!(line.contains("the fix for the orders regression"), "{line}");
    let release_message = bot
        .eventually("the release message edited", |fake| {
            fake.messages(RELEASE_CHANNEL)
                .iter()
                .filter_map(|m| m["content"].as_str())
                .find(|c| c.contains("orders 3.2.1"))
                .map(str::to_owned)
        })
        .await;
    assert!(release_message.contains("`4444abc`"), "{release_message}");
    let release_messages: Vec<String> = bot
        .fake
        .messages(RELEASE_CHANNEL)
        .iter()
        .filter_map(|m| m["content"].as_str().filter(|c| c.starts_with("🚀")).map(str::to_owned))
        .collect();
    assert_eq!(release_messages, [release_message], "one release message, edited in place");
    // A fresh Step 1 card for the new commit; the release moves on with it.
    let release = bot.release(&started.id).await;
    let attempt = release["current_step"]["attempt"].as_u64().unwrap() as u32;
    bot.card(&started.thread, "pre-flight", attempt).await;
    assert_eq!(release["git_sha"], "4444abc");
    bot.fake.assert_no_violations();
}
