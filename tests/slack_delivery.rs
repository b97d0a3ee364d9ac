//! Delivery to Slack under Slack's failures, end to end: the real runtime against the
//! stateful fake Slack, releases started by signed slash commands. A `ratelimited` 429 is
//! tried again no sooner than its `Retry-After`; Slack's transient `ok:false` errors and
//! 5xx are retried; a permanent error backs off, stays visible and holds the rest of the
//! release's notices back; a call that times out is tried again without a second message,
//! whether or not Slack had made it; and several releases started at once keep to about
//! one message a second in the release channel. A click whose response URL fails is
//! still shown on its card; clicks in quick succession on one card leave it showing the
//! latest state, never an older one after a newer, and each refusal among them reaches
//! its clicker. Every message exists once.

use crate::common::fake_slack;
use crate::common::slack_app;
use crate::common::slack_release;

use fake_slack::{BlockActions, FakeSlack, Fault, RecordedRequest, SlackUser};
use reqwest::StatusCode;
use serde_json::Value;
use shipgate::domain::release::Event;
use shipgate::domain::ReleaseId;
use shipgate::store::{OutboxMessage, ReleaseFilter};
use slack_app::{Options, SlackApp, RELEASES};
use slack_release::{card_key, card_steps, cards, eventually, parents};
use std::time::Duration;

/// Long enough for a few backoffs and a timed-out call (shipgate gives a call 15 s).
const LONG: Duration = Duration::from_secs(60);
/// What the fake's 429s say to wait.
const RETRY_AFTER: Duration = Duration::from_secs(2);

fn alice() -> SlackUser {
    SlackUser::new("U0ALICE0001", "alice")
}

/// `/release start <service> <version> 3f9c2e1` by Alice, acknowledged.
async fn start(app: &SlackApp, service: &str, version: &str) {
    let text = format!("start {service} {version} 3f9c2e1");
    let command = app.fake.slash_command(RELEASES, &alice(), "/release", &text);
    let answer = app.post_signed("/slack/commands", &command.to_form()).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let body: Value = answer.json().await.expect("JSON answer");
    assert_eq!(body["response_type"], "in_channel", "the start is acknowledged: {body:#}");
}

/// The id of the release of `service` (the newest).
async fn release_id(app: &SlackApp, service: &str) -> ReleaseId {
    let filter = ReleaseFilter { service: Some(shipgate::domain::ServiceName::new(service)), ..Default::default() };
    let rows = app.running.state.app.list(&filter).await.expect("list releases");
    rows.first().unwrap_or_else(|| panic!("no release of {service}")).id.clone()
}

/// Polls the release's undelivered outbox rows until `done` holds; returns them.
async fn backlog_until(
    app: &SlackApp,
    id: &ReleaseId,
    what: &str,
    done: impl Fn(&Vec<OutboxMessage>) -> bool,
) -> Vec<OutboxMessage> {
    let store = app.running.state.app.store();
    for _ in 0..600 {
        let rows = store.lane_backlog(id.as_str(), 50).await.expect("the backlog");
        if done(&rows) {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within 30 s; the outbox holds {:#?}", store.lane_backlog(id.as_str(), 50).await);
}

/// Waits for the release's one parent message and its Step 1 card; returns the parent's ts.
async fn opened(fake: &FakeSlack, name: &str) -> String {
    let parent = eventually(fake, &format!("the parent message of {name}"), LONG, |fake| {
        parents(fake, RELEASES, name).into_iter().next()
    })
    .await;
    eventually(fake, &format!("Step 1's card of {name}"), LONG, |fake| {
        card_steps(fake, RELEASES, &parent.ts).contains(&("pre-flight".to_owned(), 1)).then_some(())
    })
    .await;
    parent.ts
}

/// The posts of top-level messages (no `thread_ts`) to the release channel, in order.
fn top_level_posts(fake: &FakeSlack) -> Vec<RecordedRequest> {
    fake.requests_to("chat.postMessage")
        .into_iter()
        .filter(|r| r.arg("channel").and_then(Value::as_str) == Some(RELEASES) && r.arg("thread_ts").is_none())
        .collect()
}

fn after(later: &RecordedRequest, earlier: &RecordedRequest) -> Duration {
    later.at.duration_since(earlier.at).unwrap_or_default()
}

/// The request was refused as Slack refuses a post over its rate limit.
fn assert_ratelimited(request: &RecordedRequest) {
    assert_eq!((request.status, request.error()), (429, Some("ratelimited")), "{request:?}");
}

/// Exactly one parent message, and one card per step attempt in its thread.
fn assert_once(fake: &FakeSlack, name: &str) {
    let found = parents(fake, RELEASES, name);
    assert_eq!(found.len(), 1, "one parent message of {name}: {found:#?}");
    let steps = card_steps(fake, RELEASES, &found[0].ts);
    let unique: std::collections::BTreeSet<_> = steps.iter().collect();
    assert_eq!(steps.len(), unique.len(), "each card of {name} once: {steps:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ratelimited_post_and_edit_are_tried_again_no_sooner_than_retry_after() {
    let app = SlackApp::start().await;
    app.fake.fail_next("chat.postMessage", Fault::RateLimited { retry_after_secs: RETRY_AFTER.as_secs() }, 1);
    start(&app, "api", "1.4.0").await;
    let parent = opened(&app.fake, "api 1.4.0").await;

    let posts = top_level_posts(&app.fake);
    assert_eq!(posts.len(), 2, "the 429, then the post: {posts:#?}");
    assert_ratelimited(&posts[0]);
    assert!(after(&posts[1], &posts[0]) >= RETRY_AFTER, "the post came back before Retry-After");
    assert_eq!(posts[1].ok(), Some(true));

    // The abort's card edit meets a 429 too: the edit waits it out, and lands.
    let card = cards(&app.fake, RELEASES, &parent)[0].clone();
    app.fake.fail_next("chat.update", Fault::RateLimited { retry_after_secs: RETRY_AFTER.as_secs() }, 1);
    let command = app.fake.slash_command(RELEASES, &alice(), "/release", "abort api superseded by 1.4.1");
    assert_eq!(app.post_signed("/slack/commands", &command.to_form()).await.status(), StatusCode::OK);
    let edits = eventually(&app.fake, "the card's edit after the 429", LONG, |fake| {
        let edits = fake.requests_to("chat.update");
        edits.iter().any(|r| r.ok() == Some(true)).then_some(edits)
    })
    .await;
    assert_ratelimited(&edits[0]);
    assert!(after(&edits[1], &edits[0]) >= RETRY_AFTER, "the edit came back before Retry-After");
    assert_eq!(edits[1].arg("ts").and_then(Value::as_str), Some(card.ts.as_str()), "the card itself is edited");
    let now = app.fake.message(RELEASES, &card.ts).expect("the card");
    assert!(now.action_ids().is_empty(), "the closed card has no buttons: {:?}", now.action_ids());
    assert_eq!(now.versions.len(), 2, "one edit: {:#?}", now.versions);
    assert_once(&app.fake, "api 1.4.0");
    app.fake.assert_no_problems();
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_errors_are_retried_until_the_post_goes_through_once() {
    let app = SlackApp::start().await;
    app.fake.fail_next("chat.postMessage", Fault::error("internal_error"), 1);
    app.fake.fail_next("chat.postMessage", Fault::ServerError(503), 1);
    app.fake.fail_next("chat.postMessage", Fault::error("fatal_error"), 1);
    start(&app, "api", "1.4.0").await;
    opened(&app.fake, "api 1.4.0").await;

    let posts = top_level_posts(&app.fake);
    let outcomes: Vec<(u16, Option<&str>)> = posts.iter().map(|r| (r.status, r.error())).collect();
    assert_eq!(
        outcomes,
        [(200, Some("internal_error")), (503, None), (200, Some("fatal_error")), (200, None)],
        "three failures, then the post"
    );
    // Before each retry shipgate looked for what a failed try might have posted, and found
    // nothing: none of the failures had made a message.
    let lookups = app.fake.requests_to("conversations.history");
    assert!(lookups.len() >= 3, "a lookup before each retry: {lookups:#?}");
    for pair in posts.windows(2) {
        let (failed, retry) = (&pair[0], &pair[1]);
        assert!(lookups.iter().any(|l| l.at >= failed.at && l.at <= retry.at), "no lookup before {retry:?}");
    }
    assert_once(&app.fake, "api 1.4.0");
    let id = release_id(&app, "api").await;
    backlog_until(&app, &id, "every notice delivered", Vec::is_empty).await;
    app.fake.assert_no_problems();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_error_backs_off_is_visible_and_holds_the_release_back_until_it_is_fixed() {
    let app = SlackApp::start().await;
    // The release channel is gone (say, archived and recreated) until someone fixes it.
    app.fake.fail_next("chat.postMessage", Fault::error("channel_not_found"), 100);
    start(&app, "api", "1.4.0").await;
    let id = release_id(&app, "api").await;

    let tries = eventually(&app.fake, "three tries of the parent message", LONG, |fake| {
        let tries = top_level_posts(fake);
        (tries.len() >= 3).then_some(tries)
    })
    .await;
    // Not hammered: each try waits out a backoff that doubles (1 s, then 2 s).
    for (n, pair) in tries.windows(2).enumerate() {
        let backoff = Duration::from_secs(1 << n);
        assert!(after(&pair[1], &pair[0]) >= backoff, "try {} came before its {backoff:?} backoff", n + 2);
    }
    assert!(tries.iter().all(|t| t.error() == Some("channel_not_found")), "{tries:#?}");

    // Visible: the row says why, and the readiness check counts it.
    let backlog = backlog_until(&app, &id, "three failed tries recorded", |rows| {
        rows.first().is_some_and(|first| first.attempts >= 3)
    })
    .await;
    let first = &backlog[0];
    assert_eq!(first.kind, "release_opened", "the parent message waits first: {first:?}");
    let error = first.last_error.as_deref().unwrap_or_default();
    assert!(error.contains("channel_not_found"), "the error names Slack's: {error}");
    let ready: Value =
        app.http.get(format!("{}/readyz", app.url)).send().await.expect("readyz").json().await.expect("JSON");
    assert!(ready["outbox"]["undelivered"].as_u64().unwrap_or(0) >= 2, "the parent and its card wait: {ready:#}");
    // The release's later notices wait behind it, in order: no card without its thread.
    assert!(app.fake.all_messages().is_empty(), "nothing was posted: {:#?}", app.fake.all_messages());

    // Fixed: the next try goes through, and the card follows.
    app.fake.clear_faults();
    opened(&app.fake, "api 1.4.0").await;
    assert_once(&app.fake, "api 1.4.0");
    app.fake.assert_no_problems();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_slack_made_but_answered_too_late_is_adopted_not_posted_again() {
    let app = SlackApp::start().await;
    // Slack makes the parent message at once but answers only after shipgate gave up.
    app.fake.fail_next("chat.postMessage", Fault::Slow(Duration::from_secs(20)), 1);
    start(&app, "api", "1.4.0").await;
    let parent = opened(&app.fake, "api 1.4.0").await;

    assert_once(&app.fake, "api 1.4.0");
    let posts = top_level_posts(&app.fake);
    assert_eq!(posts.len(), 1, "the retry found the message instead of posting it again: {posts:#?}");
    // The retry read the channel back and found the message by its marker.
    let marker = app.fake.message(RELEASES, &parent).expect("parent").blocks.expect("blocks")[0]["block_id"].clone();
    assert!(marker.as_str().is_some_and(|m| m.starts_with("sg-")), "{marker}");
    let lookups = app.fake.requests_to("conversations.history");
    assert!(
        lookups.iter().any(|l| l.answer.as_ref().is_some_and(|a| a.to_string().contains(marker.as_str().unwrap()))),
        "the lookup saw the marker: {lookups:#?}"
    );
    // The card went into the adopted thread.
    assert_eq!(card_steps(&app.fake, RELEASES, &parent), [("pre-flight".to_owned(), 1)]);
    app.fake.assert_no_problems();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_that_timed_out_without_effect_is_posted_on_the_retry() {
    let app = SlackApp::start().await;
    // Slack holds the post without making it, past shipgate's patience.
    app.fake.fail_next("chat.postMessage", Fault::Timeout(Duration::from_secs(20)), 1);
    start(&app, "api", "1.4.0").await;
    opened(&app.fake, "api 1.4.0").await;

    let posts = top_level_posts(&app.fake);
    assert_eq!(posts.iter().map(|p| p.status).collect::<Vec<_>>(), [504, 200], "{posts:#?}");
    assert!(
        app.fake.requests_to("conversations.history").iter().any(|l| l.at <= posts[1].at),
        "the retry looked first"
    );
    assert_once(&app.fake, "api 1.4.0");
    app.fake.assert_no_problems();
}

#[tokio::test(flavor = "multi_thread")]
async fn releases_started_at_once_keep_to_a_message_a_second_in_the_release_channel() {
    let app = SlackApp::start().await;
    // Slack's own limit, on: a second post to the channel within a second is refused.
    app.fake.set_channel_rate_limit(true);
    let services = ["api", "web", "billing", "search"];
    let starts = services.iter().map(|service| start(&app, service, "2.0.0"));
    futures_util::future::join_all(starts).await;
    for service in services {
        opened(&app.fake, &format!("{service} 2.0.0")).await;
    }

    // Every message once: four parents, and one Step 1 card in each thread.
    for service in services {
        assert_once(&app.fake, &format!("{service} 2.0.0"));
    }
    // (The start replies' links to the threads come through their response URLs.)
    let posted: Vec<_> =
        app.fake.all_messages().into_iter().filter(|m| m.versions[0].via == "chat.postMessage").collect();
    assert_eq!(posted.len(), 8, "{posted:#?}");
    assert_eq!(posted.iter().filter(|m| card_key(m).is_some()).count(), 4);

    // Threads count as their channel. Any 429 that reached shipgate was waited out: the
    // same post came back no sooner than its Retry-After.
    let posts = app.fake.requests_to("chat.postMessage");
    for (index, refused) in posts.iter().enumerate().filter(|(_, p)| p.status == 429) {
        let again = posts[index + 1..]
            .iter()
            .find(|p| p.raw_body == refused.raw_body)
            .unwrap_or_else(|| panic!("a post refused with 429 was never tried again: {refused:?}"));
        assert!(after(again, refused) >= Duration::from_secs(1), "tried again before Retry-After: {again:?}");
    }
    assert_eq!(posts.iter().filter(|p| p.status == 200).count(), 8, "each message posted once");
    // shipgate paces itself rather than leaning on 429s: its posts to the channel leave
    // about a second apart, never together (half a second leaves room for scheduling).
    for pair in posts.windows(2) {
        assert!(
            after(&pair[1], &pair[0]) >= Duration::from_millis(500),
            "two posts to the release channel at once: {:?} then {:?}",
            pair[0].at,
            pair[1].at
        );
    }
    app.fake.assert_no_problems();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_click_whose_response_url_fails_still_reaches_its_card() {
    let app = SlackApp::start().await;
    start(&app, "api", "1.4.0").await;
    let parent = opened(&app.fake, "api 1.4.0").await;
    let card = cards(&app.fake, RELEASES, &parent)[0].clone();
    // The click's answer cannot be delivered through its response URL.
    app.fake.fail_next("response_url", Fault::ServerError(503), 1);
    let tick = slack_release::action(&card, ":i0").expect("item 1's tick button");
    let click = app.fake.click(RELEASES, &card.ts, &tick, &alice());
    assert_eq!(app.post_signed("/slack/interactivity", &click.to_form()).await.status(), StatusCode::OK);
    let shown = eventually(&app.fake, "the card showing the tick", LONG, |fake| {
        fake.message(RELEASES, &card.ts).filter(|m| m.action_ids().iter().any(|id| id.ends_with(":u0")))
    })
    .await;
    assert_eq!(shown.versions.last().map(|v| v.via.as_str()), Some("chat.update"), "{:#?}", shown.versions);
    assert_eq!(app.fake.requests_to("response_url").iter().filter(|r| r.status == 503).count(), 1);
    assert_once(&app.fake, "api 1.4.0");
    app.fake.assert_no_problems();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_card_deleted_in_slack_is_posted_again_in_its_place_and_the_release_goes_on() {
    let app = SlackApp::start().await;
    start(&app, "api", "1.4.0").await;
    let parent = opened(&app.fake, "api 1.4.0").await;
    let id = release_id(&app, "api").await;
    let card = cards(&app.fake, RELEASES, &parent)[0].clone();
    // Someone deletes Step 1's card; the abort then closes it, an edit Slack refuses.
    app.fake.delete_message(RELEASES, &card.ts);
    let command = app.fake.slash_command(RELEASES, &alice(), "/release", "abort api superseded by 1.4.1");
    assert_eq!(app.post_signed("/slack/commands", &command.to_form()).await.status(), StatusCode::OK);
    backlog_until(&app, &id, "the release's notices delivered", Vec::is_empty).await;

    let refused: Vec<_> =
        app.fake.requests_to("chat.update").into_iter().filter(|r| r.error() == Some("message_not_found")).collect();
    assert_eq!(refused.len(), 1, "the edit of the deleted card was tried once: {refused:#?}");
    let now = cards(&app.fake, RELEASES, &parent);
    assert_eq!(now.len(), 1, "the card is in the thread again, once: {now:#?}");
    assert_ne!(now[0].ts, card.ts, "as a new message");
    assert!(now[0].action_ids().is_empty(), "showing the closed card, without buttons: {:?}", now[0].action_ids());
    let recorded = app.running.state.app.store().chat_messages(&id, "slack").await.expect("the release's messages");
    let step1 = recorded.iter().find(|m| m.key.starts_with("card:")).expect("Step 1's card is recorded");
    assert_eq!(step1.message_id, now[0].ts, "later edits go to the new message");
    // The abort's own line came after the card, in the thread.
    let thread = app.fake.thread(RELEASES, &parent);
    assert!(
        thread.iter().any(|m| !m.deleted && m.text.as_deref().is_some_and(|t| t.contains("aborted"))),
        "{thread:#?}"
    );
    assert_once(&app.fake, "api 1.4.0");
    app.fake.assert_no_problems();
}

/// Whether `action_id` is the button of a box, `kind` `i` (tick) or `u` (untick).
fn box_button(action_id: &str, kind: char) -> bool {
    let element = action_id.rsplit(':').next().unwrap_or_default();
    element.strip_prefix(kind).is_some_and(|index| index.parse::<u32>().is_ok())
}

/// The boxes a version of a card shows ticked: its Untick buttons.
fn ticked_in(blocks: Option<&Value>) -> usize {
    fn untick_buttons(value: &Value) -> usize {
        match value {
            Value::Object(map) => {
                let own = map.get("action_id").and_then(Value::as_str).is_some_and(|id| box_button(id, 'u'));
                usize::from(own) + map.values().map(untick_buttons).sum::<usize>()
            }
            Value::Array(items) => items.iter().map(untick_buttons).sum(),
            _ => 0,
        }
    }
    blocks.map_or(0, untick_buttons)
}

/// `click` with its button's id replaced by `action_id` (as a tampered or stale button
/// sends it).
fn with_action(mut click: BlockActions, action_id: String) -> BlockActions {
    click.actions[0].action_id = action_id;
    click
}

async fn quick_clicks_on_one_card_end_on_its_latest_state_and_every_refusal_reaches_its_clicker(
    database_url: Option<String>,
) {
    let app = SlackApp::start_with(Options { database_url, ..Options::default() }).await;
    start(&app, "api", "1.4.0").await;
    let parent = opened(&app.fake, "api 1.4.0").await;
    let card = cards(&app.fake, RELEASES, &parent)[0].clone();
    let ticks: Vec<String> = card.action_ids().into_iter().filter(|id| box_button(id, 'i')).collect();
    assert!(ticks.len() >= 3, "Step 1 has boxes to tick: {ticks:?}");
    let (bob, carol) = (SlackUser::new("U0BOB000001", "bob"), SlackUser::new("U0CAROL0001", "carol"));

    // Alice ticks every box, click after click, without waiting for the card; among her
    // clicks, three that are refused whenever they come: Bob's button that is no shipgate
    // button, Carol's button of an attempt the card never had, and Alice's own button of a
    // release that does not exist here.
    let mut clicks: Vec<BlockActions> =
        ticks.iter().map(|tick| app.fake.click(RELEASES, &card.ts, tick, &alice())).collect();
    let (head, _) = ticks[0].rsplit_once(':').expect("sg1:release:step:attempt:element");
    let (step, _) = head.rsplit_once(':').expect("an attempt");
    let release = ticks[0].split(':').nth(1).expect("the release in the button's id");
    let elsewhere = ticks[2].replacen(release, "0190a000-0000-7000-8000-000000000000", 1);
    let tampered = with_action(app.fake.click(RELEASES, &card.ts, &ticks[0], &bob), "sg1:not-a-release".into());
    let stale = with_action(app.fake.click(RELEASES, &card.ts, &ticks[1], &carol), format!("{step}:9:i1"));
    let foreign = with_action(app.fake.click(RELEASES, &card.ts, &ticks[2], &alice()), elsewhere);
    let refused = [
        (tampered, "That button is not one shipgate can act on"),
        (stale, "This card is out of date"),
        (foreign, "This card's release does not exist here"),
    ];
    clicks.insert(1, refused[0].0.clone());
    clicks.insert(3, refused[1].0.clone());
    clicks.push(refused[2].0.clone());
    let forms: Vec<String> = clicks.iter().map(BlockActions::to_form).collect();
    let sent = forms.iter().map(|form| app.post_signed("/slack/interactivity", form));
    for answer in futures_util::future::join_all(sent).await {
        assert_eq!(answer.status(), StatusCode::OK);
        assert!(answer.text().await.expect("the answer").is_empty(), "a click is acknowledged empty");
    }

    // The card ends showing every box ticked.
    let shown = eventually(&app.fake, "the card showing every box ticked", LONG, |fake| {
        fake.message(RELEASES, &card.ts).filter(|m| ticked_in(m.blocks.as_ref()) == ticks.len())
    })
    .await;
    assert!(slack_release::action(&shown, ":g").is_some(), "the gate is offered once every box is ticked");

    // Each refusal reached its clicker alone, through its own click's response URL.
    for (click, words) in &refused {
        let post = eventually(&app.fake, &format!("the refusal of {}'s click", click.user.name), LONG, |fake| {
            fake.response_url_posts(&click.response_url).into_iter().next()
        })
        .await;
        assert_eq!(post.body["response_type"], "ephemeral", "{:#}", post.body);
        assert_eq!(post.body["replace_original"], false, "a refusal leaves the card alone: {:#}", post.body);
        let text = post.body["text"].as_str().unwrap_or_default();
        assert!(text.starts_with(words), "{}: {text}", click.user.name);
        let theirs = app.fake.ephemerals_for(RELEASES, &click.user.id);
        assert!(theirs.iter().any(|e| e.text.as_deref() == Some(text)), "{} sees it: {theirs:#?}", click.user.name);
    }

    // Every tick is in the store once; the card never went back to an older state.
    let id = release_id(&app, "api").await;
    let (_, history) = app.running.state.app.release_with_history(&id).await.expect("read").expect("the release");
    let stored = history.iter().filter(|r| matches!(r.event, Event::ItemTicked { .. })).count();
    assert_eq!(stored, ticks.len(), "one tick per click");
    let now = app.fake.message(RELEASES, &card.ts).expect("the card");
    let states: Vec<usize> = now.versions.iter().map(|v| ticked_in(v.blocks.as_ref())).collect();
    assert!(states.windows(2).all(|pair| pair[0] <= pair[1]), "an older card shown after a newer: {states:?}");
    assert_eq!(states.last(), Some(&ticks.len()), "{states:?}");
    // Card answers waiting together are shown once: never more than one per tick.
    let by_answer = now.versions.iter().filter(|v| v.via == "response_url").count();
    assert!((1..=ticks.len()).contains(&by_answer), "{by_answer} card answers for {} ticks", ticks.len());
    for click in &clicks[..] {
        assert!(app.fake.response_url_posts(&click.response_url).len() <= 1, "a click is answered once");
    }
    assert_once(&app.fake, "api 1.4.0");
    app.fake.assert_no_problems();
}

#[tokio::test(flavor = "multi_thread")]
async fn quick_clicks_on_one_card_end_on_its_latest_state_and_every_refusal_reaches_its_clicker_on_sqlite() {
    quick_clicks_on_one_card_end_on_its_latest_state_and_every_refusal_reaches_its_clicker(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn quick_clicks_on_one_card_end_on_its_latest_state_and_every_refusal_reaches_its_clicker_on_postgres() {
    let Some(url) = slack_app::fresh_postgres_url().await else { return };
    quick_clicks_on_one_card_end_on_its_latest_state_and_every_refusal_reaches_its_clicker(Some(url)).await;
}
