//! Every kind of refused click in Discord (HTTP mode): the person gets an ephemeral reply
//! (flag 64) saying why and what to do, and nothing changes: the release's history keeps
//! its length and the card message stays as it was.

use crate::common;

use common::discord_bot::*;
use common::fake_discord::Member;
use serde_json::{json, Value};

/// Sends `interaction`, expects a refusal, and checks that nothing changed. Returns the text.
async fn refused(bot: &Bot, release: &str, thread: &str, card: &Value, interaction: &Value) -> String {
    let history = bot.history_len(release).await;
    let card_id = card["id"].as_str().expect("message id");
    // What people see of the card: an edit still on its way from an earlier command may
    // land meanwhile with the same content, which only moves `edited_timestamp`.
    let shown = |bot: &Bot| {
        let mut message = bot.fake.message(thread, card_id).expect("the card");
        message.as_object_mut().map(|m| m.remove("edited_timestamp"));
        message
    };
    let before = shown(bot);
    let answer = bot.interact(interaction).await;
    let text = ephemeral_text(&answer);
    assert_eq!(bot.history_len(release).await, history, "a refused click records nothing: {text}");
    assert_eq!(shown(bot), before, "the card is untouched: {text}");
    text
}

async fn refused_click(bot: &Bot, started: &Started, card: &Value, custom_id: &str, who: &Member) -> String {
    let click = bot.fake.button_interaction(&started.thread, card["id"].as_str().unwrap(), custom_id, who);
    refused(bot, &started.id, &started.thread, card, &click).await
}

fn custom_id(button: &Value) -> String {
    button["custom_id"].as_str().expect("custom id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refused_click_says_why_and_changes_nothing() {
    let bot = Bot::start().await;
    // Bob, a release manager, starts the release; CI takes it to the smoke-test gate.
    let started = bot.start_release(RELEASE_CHANNEL, "checkout", "2.7.0", false, &bob()).await;
    let card1 = bot.card(&started.thread, "pre-flight", 1).await;
    bot.api_to_smoke_gate(&started.id, "2.7.0", DIGEST).await;
    let card5 = bot
        .card_where(&started.thread, "Step 5's card with every box ticked", |c| {
            step_of(c) == Some(("smoke-test".into(), 1)) && gate(c)["disabled"] == false
        })
        .await;
    let gate5 = custom_id(&gate(&card5));
    let item5 = custom_id(&buttons(&card5)[0]);

    // Wrong role: Mallory holds no mapped role.
    let text = refused_click(&bot, &started, &card5, &item5, &mallory()).await;
    assert!(text.starts_with("Not done:"), "{text}");
    assert!(text.contains("[discord.roles]"), "what to do: {text}");

    // Not the current step: a button on Step 1's card, long passed.
    let old = custom_id(&buttons(&card1)[0]);
    let text = refused_click(&bot, &started, &card1, &old, &alice()).await;
    assert!(text.contains("the release is at Step 5"), "{text}");
    assert!(text.contains("latest card"), "{text}");

    // A gate whose rule does not hold for this person: the starter may not approve the
    // way to production, and an engineer does not hold the gate's role.
    let text = refused_click(&bot, &started, &card5, &gate5, &bob()).await;
    assert!(text.starts_with("Not done:"), "{text}");
    assert!(text.contains("Ask a teammate to approve it."), "{text}");
    let text = refused_click(&bot, &started, &card5, &gate5, &alice()).await;
    assert!(text.contains("release-manager"), "names the role needed: {text}");
    assert!(text.contains("Ask someone with the role"), "{text}");

    // Unknown and tampered custom ids.
    let text = refused_click(&bot, &started, &card5, "not-a-shipgate-button", &carol()).await;
    assert!(text.contains("not one shipgate can act on"), "{text}");
    let (head, _) = item5.rsplit_once(':').expect("a custom id");
    let tampered = format!("{head}:i9");
    assert_ne!(tampered, item5);
    let text = refused_click(&bot, &started, &card5, &tampered, &carol()).await;
    assert!(text.contains("out of date"), "{text}");
    let other_attempt = gate5.replace(":1:g", ":7:g");
    assert_ne!(other_attempt, gate5);
    let text = refused_click(&bot, &started, &card5, &other_attempt, &carol()).await;
    assert!(text.contains("out of date"), "{text}");
    let unknown_release = gate5.replace(&started.id, "00000000-0000-4000-8000-000000000000");
    let text = refused_click(&bot, &started, &card5, &unknown_release, &carol()).await;
    assert!(text.contains("does not exist here"), "{text}");
    let text = refused_click(&bot, &started, &card5, &format!("{gate5}:extra"), &carol()).await;
    assert!(text.contains("not one shipgate can act on"), "{text}");

    // A release of another guild: the same button clicked from another server.
    let mut foreign = bot.fake.button_interaction(&started.thread, card5["id"].as_str().unwrap(), &gate5, &carol());
    foreign["guild_id"] = json!(OTHER_GUILD);
    foreign["channel"]["guild_id"] = json!(OTHER_GUILD);
    let text = refused(&bot, &started.id, &started.thread, &card5, &foreign).await;
    assert!(text.contains("its own Discord server only"), "{text}");

    // A freeze: a release started from a frozen team's channel cannot go to production.
    let frozen = bot.start_release(FROZEN_CHANNEL, "payments", "5.1.0", false, &alice()).await;
    let frozen_card1 = bot.card(&frozen.thread, "pre-flight", 1).await;
    assert!(
        body_text(&frozen_card1).to_lowercase().contains("production is frozen"),
        "the freeze banner: {frozen_card1:#}"
    );
    bot.api_to_smoke_gate(&frozen.id, "5.1.0", DIGEST).await;
    let frozen_card5 = bot
        .card_where(&frozen.thread, "the frozen release's Step 5 card", |c| {
            step_of(c) == Some(("smoke-test".into(), 1)) && gate(c)["disabled"] == false
        })
        .await;
    let text = refused_click(&bot, &frozen, &frozen_card5, &custom_id(&gate(&frozen_card5)), &carol()).await;
    assert!(text.contains("production is frozen"), "{text}");
    assert!(text.contains("Code freeze"), "names the freeze: {text}");
    assert!(text.contains("/freeze override"), "what to do: {text}");

    // Carol, who may, passes the first release's gate: refusals left it workable.
    let passed = bot.click(&started.thread, &card5, &gate5, &carol()).await;
    assert_eq!(passed["type"], 7, "{passed}");
    assert_eq!(bot.current_step(&started.id).await, "deploy-production");
    bot.fake.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_and_a_click_delivered_twice_change_nothing_the_second_time() {
    let bot = Bot::start().await;
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
    assert_eq!(bot.interact(&start).await["type"], 5);
    assert_eq!(bot.interact_again(&start).await["type"], 5, "a replay is answered as the first time");
    let thread = bot
        .eventually("the thread", |fake| fake.threads().first().and_then(|t| t["id"].as_str().map(str::to_owned)))
        .await;
    let card = bot.card(&thread, "pre-flight", 1).await;
    let id = release_of(&card).expect("the release");
    let (status, list) = bot.api("GET", "/releases", CI_TOKEN, None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["releases"].as_array().map(Vec::len), Some(1), "one release: {list}");

    // A tick delivered twice ticks once; it is not undone by the second delivery.
    let item = buttons(&card)[0]["custom_id"].as_str().expect("custom id").to_owned();
    let click = bot.fake.button_interaction(&thread, card["id"].as_str().unwrap(), &item, &alice());
    let first = bot.interact(&click).await;
    let history = bot.history_len(&id).await;
    let again = bot.interact_again(&click).await;
    assert_eq!(again, first, "the replay answers as the first time");
    assert_eq!(bot.history_len(&id).await, history);
    assert_eq!(bot.release(&id).await["current_step"]["items"][0]["ticked"], true);

    // Everything the bot posts for it exists once: the release message, thread and card.
    bot.eventually("the card's edit", |fake| {
        fake.message(&thread, card["id"].as_str().unwrap()).filter(|m| buttons(m)[0]["style"] == 3)
    })
    .await;
    assert_eq!(bot.fake.threads().len(), 1);
    assert_eq!(bot.cards(&thread).len(), 1);
    let release_messages = bot
        .fake
        .messages(RELEASE_CHANNEL)
        .into_iter()
        .filter(|m| m["content"].as_str().is_some_and(|c| c.starts_with("🚀 **checkout 2.7.0**")))
        .count();
    assert_eq!(release_messages, 1);
    bot.fake.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_typed_in_discord_is_refused_and_a_hostile_name_is_shown_cleaned() {
    let bot = Bot::start().await;
    let started = bot.start_release(RELEASE_CHANNEL, "checkout", "2.7.0", false, &bob()).await;
    let history = bot.history_len(&started.id).await;

    // A reason with a bidi override or an ANSI escape: refused, saying which and where.
    for (reason, says) in [("fine\u{202E}gnorw", "U+202E"), ("\u{1b}[2Jall clear", "U+001B")] {
        let options = json!([{"name": "reason", "type": 3, "value": reason}]);
        let answer = bot.command(&started.thread, "release", "abort", options, &bob()).await;
        let text = ephemeral_text(&answer);
        assert!(text.starts_with("Not done:") && text.contains("reason contains") && text.contains(says), "{text}");
    }
    assert_eq!(bot.history_len(&started.id).await, history, "refused commands record nothing");

    // A manager whose Discord name carries escapes and an override still acts; the name
    // is recorded cleaned, and the cards show it so.
    let hostile = Member::new("1700000000000000077", "\u{1b}[31mdave\u{202E}\u{0}", &[MANAGER_ROLE]);
    let options = json!([{"name": "reason", "type": 3, "value": "wrong build"}]);
    let answer = bot.command(&started.thread, "release", "abort", options, &hostile).await;
    assert_eq!(answer["data"]["content"], "Release checkout 2.7.0 aborted by [31mdave.", "{answer}");
    let release = bot.release(&started.id).await;
    let last = release["history"].as_array().and_then(|h| h.last()).cloned().expect("an event");
    assert_eq!(last["actor"]["display_name"], "[31mdave", "{last}");
    assert_eq!(last["actor"]["user_id"], "1700000000000000077");
    bot.fake.assert_no_violations();
}
