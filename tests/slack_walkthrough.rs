//! A whole release worked in Slack (HTTP mode), every step by people: a signed
//! `/release start`, each box ticked by its button, each piece of evidence recorded through
//! the card's form (the click opens it with `views.open` and the click's trigger_id; the
//! `view_submission` records it and the card is updated), each gate passed by someone
//! holding its role through `[slack.roles]` (by user id, or through a user group's
//! members), the 15-minute watch passed by moving shipgate's clock. The cards' shape is
//! checked on the way: a gate that cannot pass yet is text, then a primary button; failure
//! paths are danger buttons that ask to confirm; a closed card has no buttons.
//! `/release status`, `/release list` and `/freeze status` are asked meanwhile. Then a
//! release in production is rolled back from Slack (`/release rollback`, the revert through
//! the rollback card's form) and a drill (`/release drill`) rehearses it on staging. Every
//! request to the fake Slack is checked against Slack's OpenAPI document and Block Kit's
//! limits.

use crate::common::fake_slack;

use crate::common::slack_app;

use crate::common::slack_walk;

use fake_slack::{check_blocks, OpenedView, SlackMessage, SlackUser, Surface};
use serde_json::json;
use serde_json::Value;
use shipgate::domain::release::Status;
use slack_app::{INCIDENTS, RELEASES};
use slack_walk::*;

/// The card's gate cannot pass yet: it is a line of text saying what it waits for, and
/// no button.
fn assert_gate_waits(card: &SlackMessage, waiting_for: &str) {
    let text = text_of(card);
    assert!(gate(card).is_none(), "no gate button before the gate can pass: {card:#?}");
    assert!(text.contains(&format!("⏳ *Gate: waiting for* {waiting_for}")), "{text}");
}

/// The card's gate can pass: the only primary button, with `label`.
fn assert_gate_ready(card: &SlackMessage, label: &str) -> String {
    let gate = gate(card).unwrap_or_else(|| panic!("the gate's button once it can pass: {card:#?}"));
    assert_eq!(gate["style"], "primary", "{gate:#}");
    assert_eq!(gate["text"]["text"], label, "{gate:#}");
    assert!(gate.get("confirm").is_none(), "passing a gate asks no confirmation: {gate:#}");
    let primaries = buttons(card).iter().filter(|b| b["style"] == "primary").count();
    assert_eq!(primaries, 1, "the gate is the card's only primary button: {card:#?}");
    assert!(text_of(card).contains("✅ *Gate: ready*"), "{}", text_of(card));
    id_of(&gate)
}

/// Every failure path (and the gate's Reject…) is a danger button that asks to confirm;
/// returns the failure paths' labels.
fn failure_paths(card: &SlackMessage) -> Vec<String> {
    let mut labels = Vec::new();
    for b in buttons(card) {
        let element = element_of(b["action_id"].as_str().unwrap_or_default()).to_owned();
        if !(element.starts_with('p') || element == "x") {
            continue;
        }
        assert_eq!(b["style"], "danger", "{b:#}");
        let confirm = &b["confirm"];
        assert_eq!(confirm["style"], "danger", "a danger button asks to confirm: {b:#}");
        for part in ["title", "text", "confirm", "deny"] {
            assert!(confirm[part]["text"].as_str().is_some_and(|t| !t.is_empty()), "{part}: {b:#}");
        }
        if element.starts_with('p') {
            labels.push(b["text"]["text"].as_str().unwrap_or_default().to_owned());
        }
    }
    labels
}

/// The card is closed as passed, by `approver` or by itself, and has lost its buttons.
fn assert_passed(card: &SlackMessage, approver: Option<&str>) {
    let text = text_of(card);
    assert!(buttons(card).is_empty(), "a closed card has no buttons: {card:#?}");
    match approver {
        Some(name) => assert!(text.contains(&format!("✅ *Gate passed · approved by {name} ·")), "{text}"),
        None => assert!(text.contains("✅ *Gate passed by itself"), "{text}"),
    }
}

async fn passed(walk: &Walk, card: &SlackMessage, approver: Option<&str>) -> SlackMessage {
    let closed = walk
        .card_becomes(card, "the card closed as passed", |m| {
            buttons(m).is_empty() && text_of(m).contains("Gate passed")
        })
        .await;
    assert_passed(&closed, approver);
    closed
}

/// The card's `element` button opens a form: returns the view opened for `user`.
async fn form(walk: &Walk, card: &SlackMessage, element: &str, label: &str, user: &SlackUser) -> OpenedView {
    let opener = button(card, element).unwrap_or_else(|| panic!("a {label} button: {card:#?}"));
    assert_eq!(opener["text"]["text"], label, "{opener:#}");
    assert!(opener.get("style").is_none(), "a form's button is neutral: {opener:#}");
    let view = walk.open_form(card, &id_of(&opener), user).await;
    let (release, step, attempt) = target_of(card);
    assert_eq!(
        view.view["callback_id"],
        format!("sg1m:{release}:{step}:{attempt}:{element}"),
        "the form names the card it was opened from"
    );
    view
}

/// The release, step and attempt a card's buttons name.
fn target_of(card: &SlackMessage) -> (String, String, String) {
    let id = action_ids_of(card).into_iter().next().expect("a live card");
    let parts: Vec<&str> = id.split(':').collect();
    (parts[1].to_owned(), parts[2].to_owned(), parts[3].to_owned())
}

fn initial_value(view: &OpenedView, input: &str) -> Option<String> {
    view.view["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|b| b["block_id"] == input)
        .and_then(|b| b["element"]["initial_value"].as_str().map(str::to_owned))
}

/// An ephemeral answer to a slash command: its text, its blocks checked against Block Kit.
fn ephemeral(answer: &Value) -> String {
    assert_eq!(answer["response_type"], "ephemeral", "{answer:#}");
    if let Some(blocks) = answer.get("blocks") {
        let problems = check_blocks(blocks, Surface::Message, "/blocks");
        assert!(problems.is_empty(), "{problems:#?}");
    }
    answer["text"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_is_worked_through_all_eight_steps_in_slack_by_the_people_holding_each_role() {
    let walk = Walk::start("").await;
    let started = walk.start_release(RELEASES, &alice(), "api 1.4.0 3f9c2e1").await;
    let id = started.id.clone();

    // Asked while it runs: its card (by service), the releases in progress, the freeze.
    let status = walk.command(RELEASES, &carol(), "/release", "status api").await;
    assert!(ephemeral(&status).starts_with("Step 1 — Pre-Flight Checks"), "{status:#}");
    let shown = status["blocks"].as_array().expect("the card's blocks");
    assert!(blocks_text(shown).contains(&format!("release {id} · pre-flight · attempt 1")), "{status:#}");
    let list = ephemeral(&walk.command(RELEASES, &carol(), "/release", "list").await);
    assert!(
        list.contains(&format!("*api 1.4.0* · Step 1 — Pre-Flight Checks · active · started by alice · `{id}`")),
        "{list}"
    );
    let freeze = ephemeral(&walk.command(RELEASES, &carol(), "/freeze", "status").await);
    assert!(freeze.starts_with("✅ Production is *open* at "), "{freeze}");

    // Step 1: five boxes to tick, then one approval. Alice ticks them one by one; the gate
    // stays text until the last box, then is the primary button; Bob, a release manager
    // through his user group, passes it.
    let card1 = walk.card(&started, "pre-flight", 1).await;
    let text = text_of(&card1);
    assert!(text.starts_with("Step 1 — Pre-Flight Checks\n▰▱▱▱▱▱▱▱ 1/8 · *api 1.4.0 · 3f9c2e1"), "{text}");
    assert_gate_waits(&card1, "5 boxes to tick; then 1 approval");
    assert_eq!(
        failure_paths(&card1),
        ["A gap can't be resolved for this release: abort"],
        "the failure path, and Reject…, are danger buttons that confirm"
    );
    assert!(button(&card1, "x").is_some(), "the gate can be rejected: {card1:#?}");
    let items: Vec<String> = action_ids_of(&card1).into_iter().filter(|id| element_of(id).starts_with('i')).collect();
    assert_eq!(items.len(), 5, "{card1:#?}");
    let mut latest = card1.clone();
    for (done, item) in items.iter().enumerate() {
        if done > 0 {
            let left = items.len() - done;
            let boxes = if left == 1 { "box" } else { "boxes" };
            assert_gate_waits(&latest, &format!("{left} {boxes} to tick; then 1 approval"));
        }
        latest = walk.click_card(&latest, item, &alice()).await;
        let untick = item.replace(":i", ":u");
        let ticked = button(&latest, element_of(&untick)).expect("a ticked item's Untick button");
        assert_eq!(ticked["text"]["text"], "Untick", "{ticked:#}");
    }
    assert!(text_of(&latest).contains("✅ All PRs for this release are merged to the deploy branch. — alice, "));
    let pass = assert_gate_ready(&latest, "Pass gate →");
    let answer = walk.click_card(&latest, &pass, &bob()).await;
    assert_passed(&answer, Some("bob"));

    // Step 2: the tests, recorded by a person through the card's form; the gate passes by
    // itself, so it never has a button.
    let card2 = walk.card(&started, "test-suite", 1).await;
    assert!(text_of(&card2).starts_with("Step 2 — Run the Test Suite\n▰▰▱▱▱▱▱▱ 2/8"), "{}", text_of(&card2));
    assert_gate_waits(&card2, "a test result with zero failures (none recorded yet); then it passes by itself");
    assert_eq!(
        failure_paths(&card2),
        ["Real regression: fix and restart from Step 1", "Flaky test: fix the flake and re-run"]
    );
    let view = form(&walk, &card2, "et", "Record test result…", &alice()).await;
    assert_eq!(view.view["title"]["text"], "Record test result");
    let answer = walk.submit(&view, &alice(), &[("suite", "unit"), ("passed", "420"), ("failed", "0")]).await;
    assert_eq!(answer, Value::Null, "the form closes");
    let card2 = passed(&walk, &card2, None).await;
    assert!(text_of(&card2).contains("Tests unit: 420 passed, 0 failed"), "{}", text_of(&card2));
    assert_eq!(card2.versions.last().map(|v| v.via.as_str()), Some("chat.update"), "the form's card is updated");

    // Step 3: the artifact through its form, which offers the release's version and
    // commit; then its one box.
    let card3 = walk.card(&started, "build-artifact", 1).await;
    assert_gate_waits(
        &card3,
        "1 box to tick and an artifact tagged with git SHA 3f9c2e1 and version 1.4.0; then it passes by itself",
    );
    let view = form(&walk, &card3, "ea", "Record artifact…", &alice()).await;
    assert_eq!(initial_value(&view, "version").as_deref(), Some("1.4.0"));
    assert_eq!(initial_value(&view, "sha").as_deref(), Some("3f9c2e1"));
    let answer = walk.submit(&view, &alice(), &[("digest", DIGEST), ("size", "73400320")]).await;
    assert_eq!(answer, Value::Null);
    let card3 = walk
        .card_becomes(&card3, "the artifact on Step 3's card", |m| text_of(m).contains("Artifact 1.4.0 · 3f9c2e1"))
        .await;
    assert_gate_waits(&card3, "1 box to tick; then it passes by itself");
    let card3 = walk.tick_all(&card3, &carol()).await;
    assert_passed(&card3, None);

    // Step 4: the staging deploy through its form, which offers the artifact's digest.
    let card4 = walk.card(&started, "deploy-staging", 1).await;
    let view = form(&walk, &card4, "es", "Record staging deploy…", &carol()).await;
    assert_eq!(initial_value(&view, "digest").as_deref(), Some(DIGEST), "the digest to deploy is the artifact's");
    let answer =
        walk.submit(&view, &carol(), &[("outcome", "succeeded"), ("health", "passed"), ("strategy", "rolling")]).await;
    assert_eq!(answer, Value::Null);
    let card4 = walk
        .card_becomes(&card4, "the staging deploy on Step 4's card", |m| text_of(m).contains("deploy of 4f1c9a7e2b3d"))
        .await;
    let card4 = walk.tick_all(&card4, &carol()).await;
    assert_passed(&card4, None);

    // Step 5: the smoke checks; the way to production is approved by a release manager
    // other than the starter, for the artifact that passed staging.
    let card5 = walk.card(&started, "smoke-test", 1).await;
    assert_gate_waits(&card5, "4 boxes to tick; then 1 approval");
    let ticked = walk.tick_all(&card5, &alice()).await;
    let pass = assert_gate_ready(&ticked, "Pass gate →");
    let card5 = walk.click_card(&ticked, &pass, &bob()).await;
    assert_passed(&card5, Some("bob"));
    assert!(text_of(&card5).contains("for artifact `4f1c9a7e2b3d`"), "{}", text_of(&card5));

    // Step 6: the production deploy through its form, with the approved digest.
    let card6 = walk.card(&started, "deploy-production", 1).await;
    assert_eq!(failure_paths(&card6), ["Production deploy failed: roll back now, then restart from Step 4"]);
    let view = form(&walk, &card6, "ep", "Record production deploy…", &carol()).await;
    assert_eq!(view.view["title"]["text"], "Production deploy");
    assert_eq!(initial_value(&view, "digest").as_deref(), Some(DIGEST));
    let answer =
        walk.submit(&view, &carol(), &[("outcome", "succeeded"), ("health", "passed"), ("strategy", "rolling")]).await;
    assert_eq!(answer, Value::Null);
    let card6 = passed(&walk, &card6, None).await;
    assert!(text_of(&card6).contains("deploy of 4f1c9a7e2b3d"), "{}", text_of(&card6));

    // Step 7: the watch. Every box ticked while it runs, the gate stays text; when the
    // watch ends nothing is clicked, yet shipgate redraws the card with its gate button.
    let card7 = walk.card(&started, "monitor", 1).await;
    let ticked = walk.tick_all(&card7, &carol()).await;
    assert_gate_waits(&ticked, "the 15-minute watch after the production deploy (until ");
    walk.clock.advance(chrono::Duration::minutes(16));
    let ready = walk.card_becomes(&card7, "the gate's button once the watch ended", |m| gate(m).is_some()).await;
    assert_eq!(ready.versions.last().map(|v| v.via.as_str()), Some("chat.update"), "redrawn by shipgate itself");
    let pass = assert_gate_ready(&ready, "Pass gate →");
    let card7 = walk.click_card(&ready, &pass, &carol()).await;
    assert_passed(&card7, Some("carol"));

    // Step 8: no rollback criterion holds; an engineer (by user id) ticks, the last
    // approval completes the release.
    let card8 = walk.card(&started, "rollback-criteria", 1).await;
    assert!(text_of(&card8).contains("▰▰▰▰▰▰▰▰ 8/8"), "{}", text_of(&card8));
    let ticked = walk.tick_all(&card8, &alice()).await;
    let pass = assert_gate_ready(&ticked, "Pass gate →");
    let done = walk.click_card(&ticked, &pass, &bob()).await;
    assert!(buttons(&done).is_empty(), "the last card is closed: {done:#?}");
    assert_eq!(walk.release(&id).await.status, Status::Completed);

    // The thread holds the parent message once, each step's card once and in order, the
    // completion line; no card has a button left.
    walk.until("the completion line in the thread", |fake| {
        fake.thread(RELEASES, &started.parent_ts)
            .into_iter()
            .find(|m| m.text.as_deref() == Some("🏁 *api 1.4.0* is completed."))
    })
    .await;
    walk.settled().await;
    let expected: Vec<(String, u32)> = STEPS.iter().map(|s| ((*s).to_owned(), 1)).collect();
    assert_eq!(walk.cards(&started), expected, "one card per step, in order");
    for card in walk.fake().thread(RELEASES, &started.parent_ts) {
        assert!(buttons(&card).is_empty(), "every card is frozen at the end: {card:#?}");
    }
    let parents = walk
        .fake()
        .messages_in(RELEASES)
        .into_iter()
        .filter(|m| m.thread_ts.is_none() && text_of(m).contains("🚀 *api 1.4.0*"))
        .count();
    assert_eq!(parents, 1, "one parent message");
    assert_eq!(walk.fake().views().len(), 4, "four forms, each opened once");

    // Asked afterwards: nothing in progress; the release's last card, without buttons.
    let list = ephemeral(&walk.command(RELEASES, &carol(), "/release", "list").await);
    assert!(list.starts_with("No release is in progress."), "{list}");
    let status = walk.command(RELEASES, &carol(), "/release", &format!("status {id}")).await;
    ephemeral(&status);
    let shown = status["blocks"].as_array().expect("the card's blocks");
    assert!(blocks_text(shown).contains("rollback-criteria"), "{status:#}");
    assert!(!status.to_string().contains("action_id"), "a finished release's card has no buttons: {status:#}");
    walk.fake().assert_no_problems();
}

/// A release CI runs through the API alone (no chat thread), leaving `digest` live in
/// production and on staging before it. Moves the clock past its watch.
async fn api_complete(walk: &Walk, version: &str, digest: &str) {
    let start = json!({"service": "api", "version": version, "git_sha": "3f9c2e1"});
    let started = walk.api_ok("/releases", CI_TOKEN, Some(start)).await;
    let id = started["id"].as_str().expect("the release id").to_owned();
    walk.api_to_smoke_gate_with(&id, version, digest).await;
    walk.api_ok(&format!("/releases/{id}/steps/smoke-test/approve"), RM_TOKEN, None).await;
    let production = json!({"environment": "production", "digest": digest, "outcome": "succeeded", "health": "passed", "strategy": "rolling"});
    walk.api_ok(&format!("/releases/{id}/deployments"), CI_TOKEN, Some(production)).await;
    walk.api_tick_all(&id).await;
    walk.clock.advance(chrono::Duration::minutes(16));
    walk.api_ok(&format!("/releases/{id}/steps/monitor/approve"), RM_TOKEN, None).await;
    walk.api_tick_all(&id).await;
    walk.api_ok(&format!("/releases/{id}/steps/rollback-criteria/approve"), RM_TOKEN, None).await;
    assert_eq!(walk.release(&id).await.status, Status::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_in_production_is_rolled_back_from_slack_and_a_drill_then_rehearses_the_rollback() {
    let walk = Walk::start("").await;
    // 1.3.0 ran before (through CI alone); 1.4.0, started in Slack, reaches production.
    api_complete(&walk, "1.3.0", OLD_DIGEST).await;
    let started = walk.start_release(RELEASES, &alice(), "api 1.4.0 3f9c2e1").await;
    let id = started.id.clone();
    walk.api_to_smoke_gate(&id, "1.4.0").await;
    walk.api_ok(&format!("/releases/{id}/steps/smoke-test/approve"), RM_TOKEN, None).await;
    let production = json!({"environment": "production", "digest": DIGEST, "outcome": "succeeded", "health": "passed", "strategy": "blue-green"});
    walk.api_ok(&format!("/releases/{id}/deployments"), CI_TOKEN, Some(production)).await;
    let card7 = walk.card(&started, "monitor", 1).await;

    // Bob rolls it back by naming its service: said to everyone, and the procedure's card
    // follows in the thread; the monitoring card loses its buttons.
    let answer = walk.command(RELEASES, &bob(), "/release", "rollback api error rate doubled").await;
    assert_eq!(answer["response_type"], "in_channel", "{answer:#}");
    assert_eq!(answer["text"], "Rollback of api 1.4.0 started by bob; follow the rollback card.");
    let notice = walk
        .until("the rollback notice in the incident channel", |fake| {
            fake.messages_in(INCIDENTS).into_iter().find(|m| text_of(m).contains("Rolling back api 1.4.0"))
        })
        .await;
    assert!(text_of(&notice).contains("error rate doubled"), "what broke: {}", text_of(&notice));
    let rollback = walk.card(&started, "rollback", 1).await;
    assert!(text_of(&rollback).starts_with("Rollback"), "{}", text_of(&rollback));
    assert!(
        text_of(&rollback).contains("Production goes back to 1.3.0 (`9e2d41b07c5a`)"),
        "the revert target: {}",
        text_of(&rollback)
    );
    walk.card_becomes(&card7, "the monitoring card closed", |m| buttons(m).is_empty()).await;

    // The revert through the rollback card's form, which offers the artifact to go back to;
    // then its boxes; then the procedure's gate.
    let view = form(&walk, &rollback, "ep", "Record production deploy…", &carol()).await;
    assert_eq!(initial_value(&view, "digest").as_deref(), Some(OLD_DIGEST), "the digest to go back to");
    let answer =
        walk.submit(&view, &carol(), &[("outcome", "succeeded"), ("health", "passed"), ("strategy", "rolling")]).await;
    assert_eq!(answer, Value::Null, "{answer:#}");
    let rollback = walk
        .card_becomes(&rollback, "the revert on the rollback card", |m| {
            text_of(m).contains("Production revert to 9e2d41b07c5a")
        })
        .await;
    assert!(gate(&rollback).is_none(), "the gate waits for the boxes: {rollback:#?}");
    let ticked = walk.tick_all(&rollback, &carol()).await;
    let finish = assert_gate_ready(&ticked, "Finish rollback →");
    let done = walk.click_card(&ticked, &finish, &bob()).await;
    assert!(buttons(&done).is_empty(), "{done:#?}");
    assert_eq!(walk.release(&id).await.status, Status::RolledBack);
    walk.until("the rollback done in the thread", |fake| {
        fake.thread(RELEASES, &started.parent_ts)
            .into_iter()
            .find(|m| m.text.as_deref().is_some_and(|t| t.starts_with("✅ Rollback of *api 1.4.0* done")))
    })
    .await;

    // A drill rehearses the rollback on staging: back to the artifact staging ran before.
    let answer = walk.command(RELEASES, &alice(), "/release", "drill api").await;
    assert_eq!(answer["response_type"], "in_channel", "{answer:#}");
    let said = answer["text"].as_str().unwrap_or_default();
    assert!(
        said.starts_with("Rollback drill of *api* started by alice: roll staging back to 1.3.0 (`3f9c2e1`)"),
        "{said}"
    );
    let parent = walk
        .until("the drill's parent message", |fake| {
            fake.messages_in(RELEASES)
                .into_iter()
                .find(|m| m.thread_ts.is_none() && text_of(m).contains("🚀 *api 1.3.0*"))
        })
        .await;
    let card = walk
        .until("the drill's card", |fake| {
            fake.thread(RELEASES, &parent.ts).into_iter().find(|m| text_of(m).contains("Roll Back Staging"))
        })
        .await;
    let drill = action_ids_of(&card)[0].split(':').nth(1).expect("the drill's id").to_owned();
    assert!(gate(&card).is_none(), "the drill's gate passes by itself: {card:#?}");
    let done = walk.tick_all(&card, &alice()).await;
    assert!(buttons(&done).is_empty(), "the last tick completes the drill: {done:#?}");
    assert_eq!(walk.release(&drill).await.status, Status::Completed);
    let drills = walk.command(RELEASES, &alice(), "/release", "drills").await;
    let text = ephemeral(&drills);
    assert!(text.contains("*api* — last rollback drill "), "{text}");
    assert!(text.contains("by alice"), "{text}");
    walk.fake().assert_no_problems();
}

/// `/release start <service> <version>` without its commit opens a form asking for it,
/// with what was typed filled in; a malformed commit keeps the form open with the reason
/// beside that field and starts nothing; the commit given, the release starts as if typed
/// in full, announced where the command was typed with a link to its thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_started_without_its_commit_asks_for_it_in_a_form() {
    let walk = Walk::start("").await;
    let (sent, answer) = walk.command_sent(RELEASES, &alice(), "/release", "start api 1.4.0 --hotfix").await;
    assert_eq!(answer, Value::Null, "Slack shows nothing but the form: {answer:#}");
    let view = walk
        .until("the start form opened with the command's trigger_id", |fake| {
            fake.views().into_iter().find(|v| v.trigger_id == sent.trigger_id)
        })
        .await;
    assert_eq!(view.user, alice().id);
    assert_eq!(view.view["title"]["text"], "Start a hotfix");
    let initial = |name: &str| {
        let blocks = view.view["blocks"].as_array().cloned().unwrap_or_default();
        let input = blocks.into_iter().find(|b| b["block_id"] == name).unwrap_or_else(|| panic!("no {name} input"));
        input["element"]["initial_value"].as_str().map(str::to_owned)
    };
    assert_eq!(initial("service").as_deref(), Some("api"));
    assert_eq!(initial("version").as_deref(), Some("1.4.0"));
    assert_eq!(initial("sha"), None, "the commit is asked for, never guessed");

    let (field, reason) = walk.refused_submission(&view, &alice(), &[("sha", "not-a-commit")]).await;
    assert_eq!(field, "sha", "{reason}");
    assert!(walk.fake().messages_in(RELEASES).is_empty(), "nothing started");

    let answer = walk.submit(&view, &alice(), &[("sha", "3f9c2e1")]).await;
    assert_eq!(answer, Value::Null, "the form closes: {answer:#}");
    let parent = walk
        .until("the hotfix's parent message", |fake| {
            fake.messages_in(RELEASES).into_iter().find(|m| m.thread_ts.is_none() && text_of(m).contains("api 1.4.0"))
        })
        .await;
    let link = walk
        .until("the announcement where /release start was typed", |fake| {
            fake.response_url_posts(&sent.response_url).into_iter().next()
        })
        .await;
    assert_eq!(link.body["response_type"], "in_channel", "{:#}", link.body);
    let said = link.body["text"].as_str().unwrap_or_default();
    assert!(said.contains("*api 1.4.0* started by alice"), "{said}");
    assert!(said.contains(&format!("p{}|its thread>", parent.ts.replace('.', ""))), "{said}");
    let releases = walk.engine().list(&Default::default()).await.expect("the releases");
    assert_eq!(releases.len(), 1, "one release for one form");
    assert!(releases[0].hotfix, "--hotfix typed before the form is kept");
    assert_eq!(releases[0].git_sha.as_str(), "3f9c2e1");
    walk.fake().assert_no_problems();
}
