//! A message shipgate keeps editing (a step's card) that someone deleted in Discord: the
//! edit cannot land, so the card is posted again in its place, once, and the release's
//! later notices are not held back behind an edit that will never go through.

use crate::common;

use common::discord_bot::*;
use common::fake_discord::Route;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_deleted_in_discord_is_posted_again_in_its_place_and_the_release_goes_on() {
    let bot = Bot::start().await;
    let started = bot.start_release(RELEASE_CHANNEL, "orders", "3.2.0", false, &alice()).await;
    let card = bot.card(&started.thread, "pre-flight", 1).await;
    let deleted = card["id"].as_str().expect("the card's id").to_owned();
    bot.fake.delete_message(&started.thread, &deleted);

    // Ticking the boxes edits the card; the gate then opens Step 2.
    bot.tick_all(&started.id).await;
    let again = bot
        .card_where(&started.thread, "Step 1's card posted again with its boxes ticked", |c| {
            step_of(c) == Some(("pre-flight".to_owned(), 1)) && !gate(c)["disabled"].as_bool().unwrap_or(true)
        })
        .await;
    assert_ne!(again["id"], deleted.as_str(), "as a new message");
    bot.api_ok(&format!("/releases/{}/steps/pre-flight/approve", started.id), RM_TOKEN, None).await;
    bot.card(&started.thread, "test-suite", 1).await;
    let closed = bot
        .card_where(&started.thread, "Step 1's new card closed by the approval", |c| {
            step_of(c) == Some(("pre-flight".to_owned(), 1)) && all_disabled(c)
        })
        .await;
    assert_eq!(closed["id"], again["id"], "later edits go to the new message");

    let refused: Vec<_> = bot
        .fake
        .requests_to(Route::EditMessage)
        .into_iter()
        .filter(|r| r.path.ends_with(&deleted) && r.status == Some(404))
        .collect();
    assert!(!refused.is_empty(), "the deleted card's edit was refused");
    let steps: Vec<_> = bot.cards(&started.thread).iter().filter_map(step_of).collect();
    assert_eq!(steps, [("pre-flight".to_owned(), 1), ("test-suite".to_owned(), 1)], "each card once");
    let recorded = bot
        .app()
        .store()
        .chat_messages(&shipgate::domain::ReleaseId::new(started.id.clone()), "discord")
        .await
        .expect("messages");
    assert!(recorded.iter().all(|m| m.message_id != deleted), "the deleted card is no longer recorded: {recorded:#?}");
    bot.fake.assert_no_violations();
}
