//! Every refusal a person meets in Slack (HTTP mode), end to end: each is answered to
//! that person alone (a click's through its response_url as an ephemeral that leaves the
//! card alone, a slash command's in its own ephemeral answer, a form's as
//! `response_action: errors` on the input at fault, the modal kept open) and changes
//! nothing: no event is stored, no message is posted or edited, no modal opened. The same
//! click delivered twice (its action_ts, by its user), or the same `/release start` (its
//! trigger_id), changes nothing the second time.
//! Every request to the fake Slack is checked against Slack's OpenAPI document and Block
//! Kit's limits.

use crate::common::fake_slack;

use crate::common::slack_app;

use crate::common::slack_walk;

use fake_slack::SlackMessage;
use serde_json::Value;
use shipgate::domain::release::{Event, Status};
use shipgate::domain::ReleaseId;
use slack_app::RELEASES;
use slack_walk::*;

/// Step 1's card with every box ticked by Alice: the gate's button is there.
async fn pre_flight_ticked(walk: &Walk, started: &Started) -> SlackMessage {
    let card = walk.card(started, "pre-flight", 1).await;
    let ticked = walk.tick_all(&card, &alice()).await;
    assert!(gate(&ticked).is_some(), "{ticked:#?}");
    ticked
}

/// Step 5's card once CI took the release there: every smoke box ticked, the gate ready.
async fn smoke_gate(walk: &Walk, started: &Started, version: &str) -> SlackMessage {
    walk.api_to_smoke_gate(&started.id, version).await;
    let card = walk.card(started, "smoke-test", 1).await;
    walk.card_becomes(&card, "Step 5's gate button", |m| gate(m).is_some()).await
}

async fn events(walk: &Walk, id: &str) -> Vec<Event> {
    let (_, history) =
        walk.engine().release_with_history(&ReleaseId::new(id)).await.expect("read").expect("the release");
    history.into_iter().map(|r| r.event).collect()
}

fn in_channel(answer: &Value) -> String {
    assert_eq!(answer["response_type"], "in_channel", "{answer:#}");
    answer["text"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_without_the_role_the_release_or_the_gate_needs_is_refused_to_the_clicker_alone() {
    let walk = Walk::start("").await;
    // Bob, a release manager through his user group, starts the release.
    let started = walk.start_release(RELEASES, &bob(), "api 1.4.0 3f9c2e1").await;
    let card5 = smoke_gate(&walk, &started, "1.4.0").await;
    let pass = id_of(&gate(&card5).expect("the gate"));
    let untick = id_of(&button(&card5, "u0").expect("an Untick button"));

    // Mallory is in no mapped user group: she may not touch the release at all.
    let text = walk.refused_click_on(&card5, &untick, &mallory()).await;
    assert!(
        text.starts_with(
            "Not done: to work on a Ship to Production release you need one of the roles engineer, release-manager; \
             you have none."
        ),
        "{text}"
    );
    assert!(text.ends_with("or ask an admin to add you (or your user group) in [slack.roles]."), "{text}");

    // Carol, an engineer through her group, may tick but not open the way to production;
    // she is told who may.
    let text = walk.refused_click_on(&card5, &pass, &carol()).await;
    assert!(
        text.starts_with("Not done: to approve this gate you need one of the roles release-manager; you have engineer"),
        "{text}"
    );
    assert!(text.contains("Slack user group S0RELMGRS01 hold the role release-manager"), "who may: {text}");
    assert!(text.ends_with("[slack.roles]."), "what to do: {text}");

    // Nor may she reject it: the form opens, and its answer keeps it open with the reason.
    let reject = id_of(&button(&card5, "x").expect("Reject…"));
    let view = walk.open_form(&card5, &reject, &carol()).await;
    let (field, reason) = walk.refused_submission(&view, &carol(), &[("reason", "login fails on staging")]).await;
    assert_eq!(field, "reason");
    assert!(
        reason
            .starts_with("Not done: to reject this gate you need one of the roles release-manager; you have engineer"),
        "{reason}"
    );

    // Bob started the release: this gate needs someone else, whatever his roles.
    let text = walk.refused_click_on(&card5, &pass, &bob()).await;
    assert!(
        text.starts_with("Not done: you started this release, and this gate needs someone else's approval"),
        "{text}"
    );
    assert!(text.contains("Ask a teammate to approve it."), "{text}");

    // Dave, another release manager, passes it: the refusals left it workable.
    let passed = walk.click_card(&card5, &pass, &dave()).await;
    assert!(text_of(&passed).contains("Gate passed · approved by dave"), "{}", text_of(&passed));
    assert_eq!(walk.current_step(&started.id).await, "deploy-production");
    walk.fake().assert_no_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_person_approving_twice_counts_once_where_two_approvers_are_needed() {
    // The team's own playbook: Step 1's gate takes two distinct approvers.
    let playbooks = tempfile::tempdir().expect("temp dir");
    let builtin = shipgate::domain::playbook::SHIP_TO_PRODUCTION_TOML;
    let one = "Resolve the gap before proceeding.\"\nroles = [\"release-manager\", \"engineer\"]\napprovals = 1";
    assert!(builtin.contains(one), "the built-in playbook's Step 1 gate changed");
    let text = builtin.replacen("name = \"ship-to-production\"", "name = \"two-approvers\"", 1).replacen(
        one,
        &one.replace("approvals = 1", "approvals = 2"),
        1,
    );
    std::fs::write(playbooks.path().join("two-approvers.toml"), text).expect("write the playbook");
    let walk = Walk::start(&format!("\n[playbooks]\ndir = \"{}\"\n", playbooks.path().display())).await;

    let started = walk.start_release(RELEASES, &alice(), "api 2.0.0 3f9c2e1 --playbook two-approvers").await;
    let card1 = pre_flight_ticked(&walk, &started).await;
    assert_eq!(gate(&card1).expect("the gate")["text"]["text"], "Approve (0/2) →");
    let approve = id_of(&gate(&card1).expect("the gate"));

    // Bob's approval is one of two: the gate still shows its button, with the count.
    let card1 = walk.click_card(&card1, &approve, &bob()).await;
    assert_eq!(gate(&card1).expect("the gate still open")["text"]["text"], "Approve (1/2) →");
    assert!(text_of(&card1).contains("Approvals 1/2: bob ("), "{}", text_of(&card1));

    // Bob again: refused, and still one approval.
    let text = walk.refused_click_on(&card1, &approve, &bob()).await;
    assert!(text.starts_with("Not done: you already approved this gate at "), "{text}");
    assert!(text.contains("it needs 2 distinct approvers (1 so far)"), "{text}");
    let approvals = events(&walk, &started.id).await.iter().filter(|e| matches!(e, Event::Approved { .. })).count();
    assert_eq!(approvals, 1);

    // Carol is the second person: the gate passes.
    let card1 = walk.click_card(&card1, &approve, &carol()).await;
    assert!(text_of(&card1).contains("Gate passed · approved by bob, carol"), "{}", text_of(&card1));
    assert!(buttons(&card1).is_empty());
    walk.fake().assert_no_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_clicked_while_a_box_is_unticked_is_refused_and_shown_as_text_again() {
    let walk = Walk::start("").await;
    let started = walk.start_release(RELEASES, &alice(), "api 1.4.0 3f9c2e1").await;
    let card1 = pre_flight_ticked(&walk, &started).await;
    let pass = id_of(&gate(&card1).expect("the gate"));
    // Bob clicks the gate on the card as he sees it, while Carol unticks the last box.
    let bobs_click = walk.fake().click(RELEASES, &card1.ts, &pass, &bob());
    let unticked = walk.click_card(&card1, &id_of(&button(&card1, "u4").expect("Untick")), &carol()).await;
    assert!(gate(&unticked).is_none(), "a gate that cannot pass is text again: {unticked:#?}");
    assert!(text_of(&unticked).contains("⏳ *Gate: waiting for* 1 box to tick; then 1 approval"));

    let text = walk.refused_click(&bobs_click).await;
    assert_eq!(
        text,
        "Not done: the gate cannot pass with unchecked boxes: migrations-reviewed — resolve the gap before proceeding. \
         Tick every box and record the evidence first."
    );
    assert_eq!(walk.current_step(&started.id).await, "pre-flight");
    walk.fake().assert_no_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_button_on_a_card_the_release_has_moved_past_is_refused_as_out_of_date() {
    let walk = Walk::start("").await;
    let started = walk.start_release(RELEASES, &alice(), "api 1.4.0 3f9c2e1").await;
    let card1 = pre_flight_ticked(&walk, &started).await;
    // Alice's click on Step 1's card, delivered after the gate passed.
    let late_untick = walk.fake().click(RELEASES, &card1.ts, &id_of(&button(&card1, "u0").expect("Untick")), &alice());
    let pass = id_of(&gate(&card1).expect("the gate"));
    let closed = walk.click_card(&card1, &pass, &bob()).await;
    assert!(buttons(&closed).is_empty(), "a passed card loses its buttons: {closed:#?}");
    let text = walk.refused_click(&late_untick).await;
    assert!(text.starts_with("Not done: Step 1 (Pre-Flight Checks) is done; the release is at Step 2"), "{text}");
    assert!(text.ends_with("Use the buttons on the release's latest card."), "{text}");

    // Step 2 is run again (a flaky test): its first attempt's buttons are out of date.
    let card2 = walk.card(&started, "test-suite", 1).await;
    let late_record = walk.fake().click(RELEASES, &card2.ts, &id_of(&button(&card2, "et").expect("Record")), &alice());
    let flaky = button(&card2, "p1").expect("the flaky-test path");
    assert_eq!(flaky["text"]["text"], "Flaky test: fix the flake and re-run");
    let view = walk.open_form(&card2, &id_of(&flaky), &alice()).await;
    let answer = walk.submit(&view, &alice(), &[("note", "checkout test timed out; fixed its wait")]).await;
    assert_eq!(answer, Value::Null, "{answer:#}");
    walk.card(&started, "test-suite", 2).await;
    let superseded =
        walk.card_becomes(&card2, "the first attempt closed", |m| text_of(m).contains("Superseded by a restart")).await;
    assert!(buttons(&superseded).is_empty(), "{superseded:#?}");
    let text = walk.refused_click(&late_record).await;
    assert_eq!(
        text,
        "This card is out of date: the release has moved on. Use the buttons on its latest card in the thread."
    );

    // Buttons shipgate never made: a foreign id, an item the step does not have.
    let card2 = walk.card(&started, "test-suite", 2).await;
    let mut foreign = walk.fake().click(RELEASES, &card2.ts, &id_of(&button(&card2, "et").expect("Record")), &carol());
    foreign.actions[0].action_id = "deploy-now".to_owned();
    let text = walk.refused_click(&foreign).await;
    assert!(text.starts_with("That button is not one shipgate can act on"), "{text}");
    let mut tampered = walk.fake().click(RELEASES, &card2.ts, &id_of(&button(&card2, "et").expect("Record")), &carol());
    tampered.actions[0].action_id = tampered.actions[0].action_id.replace(":et", ":i9");
    let text = walk.refused_click(&tampered).await;
    assert!(text.starts_with("This card is out of date"), "{text}");
    walk.fake().assert_no_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_value_in_a_form_is_shown_on_its_input_and_records_nothing() {
    let walk = Walk::start("").await;
    let started = walk.start_release(RELEASES, &alice(), "api 1.4.0 3f9c2e1").await;
    let card1 = pre_flight_ticked(&walk, &started).await;
    walk.click_card(&card1, &id_of(&gate(&card1).expect("the gate")), &bob()).await;

    // The test result: counts that are not whole numbers, each on its own input.
    let card2 = walk.card(&started, "test-suite", 1).await;
    let view = walk.open_form(&card2, &id_of(&button(&card2, "et").expect("Record")), &alice()).await;
    let (field, reason) =
        walk.refused_submission(&view, &alice(), &[("suite", "unit"), ("passed", "lots"), ("failed", "0")]).await;
    assert_eq!((field.as_str(), reason.as_str()), ("passed", "Tests passed: \"lots\" is not a whole number."));
    let (field, reason) =
        walk.refused_submission(&view, &alice(), &[("suite", "unit"), ("passed", "420"), ("failed", "-1")]).await;
    assert_eq!((field.as_str(), reason.as_str()), ("failed", "Tests failed: \"-1\" is not a whole number."));
    // The same form, put right, is recorded.
    let answer = walk.submit(&view, &alice(), &[("suite", "unit"), ("passed", "420"), ("failed", "0")]).await;
    assert_eq!(answer, Value::Null, "{answer:#}");

    // The artifact: a malformed digest, commit or size, each on its input; one tagged
    // with another commit is the engine's refusal.
    let card3 = walk.card(&started, "build-artifact", 1).await;
    let view = walk.open_form(&card3, &id_of(&button(&card3, "ea").expect("Record")), &alice()).await;
    let (field, reason) =
        walk.refused_submission(&view, &alice(), &[("digest", "sha256:not-hex"), ("size", "73400320")]).await;
    assert_eq!(field, "digest");
    assert!(reason.starts_with("artifact digest \"sha256:not-hex\" must be algorithm:hex"), "{reason}");
    let (field, reason) =
        walk.refused_submission(&view, &alice(), &[("digest", DIGEST), ("sha", "main"), ("size", "73400320")]).await;
    assert_eq!((field.as_str(), reason.as_str()), ("sha", "git SHA \"main\" must be 7 to 40 hex digits, e.g. 3f9c2e1"));
    let (field, reason) = walk.refused_submission(&view, &alice(), &[("digest", DIGEST), ("size", "70 MB")]).await;
    assert_eq!((field.as_str(), reason.as_str()), ("size", "Size in bytes: \"70 MB\" is not a whole number."));
    let (_, reason) =
        walk.refused_submission(&view, &alice(), &[("digest", DIGEST), ("sha", "abcdef1"), ("size", "73400320")]).await;
    assert!(reason.starts_with("Not done: the artifact is tagged with git SHA abcdef1, but this release ships 3f9c2e1"));

    // Nothing of the refused forms was recorded: one test result, no artifact.
    let recorded = events(&walk, &started.id).await;
    assert_eq!(recorded.iter().filter(|e| matches!(e, Event::TestResultRecorded { .. })).count(), 1);
    assert!(!recorded.iter().any(|e| matches!(e, Event::ArtifactRecorded { .. })));
    walk.fake().assert_no_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_start_is_refused_for_a_bad_sha_an_unknown_playbook_an_unknown_option_or_no_role() {
    let walk = Walk::start("").await;
    let text = walk.refused_command(RELEASES, &alice(), "/release", "start api 1.4.0 main").await;
    assert_eq!(text, "git SHA \"main\" must be 7 to 40 hex digits, e.g. 3f9c2e1");
    let text = walk.refused_command(RELEASES, &alice(), "/release", "start api latest 3f9c2e1").await;
    assert!(text.starts_with("version \"latest\" is not a release version"), "{text}");
    let text = walk.refused_command(RELEASES, &alice(), "/release", "start api 1.4.0 3f9c2e1 --playbook yolo").await;
    assert!(text.starts_with("Not done: no playbook named yolo; known: "), "{text}");
    // Typed without its commit, the start would open a form asking for it: a playbook
    // shipgate does not have is refused before the form is filled in.
    let text = walk.refused_command(RELEASES, &alice(), "/release", "start api 1.4.0 --playbook yolo").await;
    assert!(text.starts_with("There is no playbook named yolo; known: "), "{text}");
    assert!(walk.fake().views().is_empty(), "no form was opened");
    assert!(text.contains("ship-to-production"), "names the playbooks there are: {text}");
    let text =
        walk.refused_command(RELEASES, &alice(), "/release", "start api 1.4.0 3f9c2e1 --playbook rollback-drill").await;
    assert!(text.contains("a rollback drill is not started as a release"), "{text}");
    // A mistyped flag is not ignored: a release meant as a hotfix must not start as another.
    let text = walk.refused_command(RELEASES, &alice(), "/release", "start api 1.4.0 3f9c2e1 --hotfx").await;
    assert_eq!(
        text,
        "`--hotfx` is not an option of /release start. Use `/release start <service> <version> <sha> [--hotfix] \
         [--playbook <name>]`."
    );
    let text = walk.refused_command(RELEASES, &alice(), "/release", "start api 1.4.0 3f9c2e1 --playbook").await;
    assert!(text.starts_with("`--playbook` needs a playbook's name."), "{text}");
    let text = walk.refused_command(RELEASES, &mallory(), "/release", "start api 1.4.0 3f9c2e1").await;
    assert!(
        text.starts_with(
            "Not done: starting a Ship to Production release needs one of the roles release-manager, engineer"
        ),
        "{text}"
    );
    assert!(text.contains("[slack.roles]"), "{text}");
    assert!(walk.fake().messages_in(RELEASES).is_empty(), "nothing was posted");
    walk.fake().assert_no_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_and_rollback_need_a_role_a_named_release_in_progress_and_a_reason() {
    let walk = Walk::start("").await;
    let started = walk.start_release(RELEASES, &alice(), "api 1.4.0 3f9c2e1").await;

    let text = walk.refused_command(RELEASES, &mallory(), "/release", "abort api wrong build").await;
    assert!(text.starts_with("Not done: to work on a Ship to Production release you need one of the roles"), "{text}");
    assert!(text.contains("[slack.roles]"), "{text}");
    let text = walk.refused_command(RELEASES, &mallory(), "/release", "rollback api error rate doubled").await;
    assert!(text.starts_with("Not done: to work on a Ship to Production release"), "{text}");
    let text = walk.refused_command(RELEASES, &alice(), "/release", "abort").await;
    assert_eq!(text, "Name the release and say why: `/release abort <release id or service> <reason>`.");
    let text = walk.refused_command(RELEASES, &alice(), "/release", "abort api").await;
    assert_eq!(text, "Say why: `/release abort api <reason>`.");
    let text = walk.refused_command(RELEASES, &alice(), "/release", "abort checkout wrong build").await;
    assert!(
        text.starts_with("\"checkout\" is neither a release id nor a service with a release in progress"),
        "{text}"
    );
    let text = walk.refused_command(RELEASES, &alice(), "/release", "rollback api error rate doubled").await;
    assert!(text.starts_with("Not done: nothing of this release reached production"), "{text}");

    // Bob may: the release is aborted, said to everyone; once finished it is refused.
    let answer = walk.command(RELEASES, &bob(), "/release", "abort api superseded by 1.4.1").await;
    assert_eq!(in_channel(&answer), "Release api 1.4.0 aborted by bob.");
    assert_eq!(walk.release(&started.id).await.status, Status::Aborted);
    let text = walk.refused_command(RELEASES, &bob(), "/release", &format!("abort {} again", started.id)).await;
    assert!(text.starts_with("Not done: "), "{text}");
    assert!(text.ends_with("Start a new release with `/release start`."), "{text}");
    walk.fake().assert_no_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_into_production_is_refused_to_a_release_started_during_a_freeze() {
    let walk = Walk::start("").await;
    // The freeze is the calendar of the channel a command is typed in.
    let frozen = ephemeral_text(&walk.command(FROZEN, &alice(), "/freeze", "status").await);
    assert!(frozen.starts_with("🧊 Production is *frozen* at "), "{frozen}");
    assert!(frozen.contains("Code freeze"), "{frozen}");
    let open = ephemeral_text(&walk.command(RELEASES, &alice(), "/freeze", "status").await);
    assert!(open.starts_with("✅ Production is *open* at "), "{open}");

    let started = walk.start_release(FROZEN, &alice(), "payments 5.1.0 3f9c2e1").await;
    let card1 = walk.card(&started, "pre-flight", 1).await;
    assert!(
        text_of(&card1).contains("🧊 Heads-up: production is frozen for more than a year (Code freeze)"),
        "the freeze banner: {}",
        text_of(&card1)
    );
    let card5 = smoke_gate(&walk, &started, "5.1.0").await;
    let pass = id_of(&gate(&card5).expect("the gate"));
    let text = walk.refused_click_on(&card5, &pass, &bob()).await;
    assert!(text.starts_with("Not done: production is frozen: "), "{text}");
    assert!(text.contains("Code freeze"), "names the freeze: {text}");
    assert!(text.contains("only an emergency hotfix may deploy during a freeze"), "{text}");
    assert!(text.ends_with("for a hotfix ask for an override with `/freeze override`."), "what to do: {text}");
    assert_eq!(walk.current_step(&started.id).await, "smoke-test");
    walk.fake().assert_no_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_override_needs_a_hotfix_a_role_a_reason_and_a_second_person() {
    let walk = Walk::start("").await;
    let plain = walk.start_release(FROZEN, &alice(), "search 2.0.0 3f9c2e1").await;
    let hotfix = walk.start_release(FROZEN, &alice(), "payments 5.1.1 3f9c2e1 --hotfix").await;

    let text =
        walk.refused_command(FROZEN, &alice(), "/freeze", &format!("override {} search is down", plain.id)).await;
    assert!(text.starts_with("Not done: only an emergency hotfix may override a freeze"), "{text}");
    let text = walk.refused_command(FROZEN, &mallory(), "/freeze", "override payments card payments fail").await;
    assert!(text.starts_with("Not done: to work on a Ship to Production release you need one of the roles"), "{text}");
    let text = walk.refused_command(FROZEN, &alice(), "/freeze", "override payments").await;
    assert_eq!(text, "Say why: `/freeze override payments <reason>`.");
    let text = walk.refused_command(FROZEN, &alice(), "/freeze", "override").await;
    assert_eq!(text, "Name the release and say why: `/freeze override <release id or service> <reason>`.");

    // Alice asks; everyone sees it, and the card offers the approval.
    let answer = walk.command(FROZEN, &alice(), "/freeze", "override payments card payments fail").await;
    assert!(in_channel(&answer).starts_with("Freeze override requested by alice for hotfix payments 5.1.1"));
    let card1 = walk.card(&hotfix, "pre-flight", 1).await;
    let card1 = walk.card_becomes(&card1, "the override's approval on the card", |m| button(m, "o").is_some()).await;
    let approve = id_of(&button(&card1, "o").expect("Approve freeze override"));

    // Not by the person who asked, not by an engineer.
    let text = walk.refused_click_on(&card1, &approve, &alice()).await;
    assert!(text.starts_with("Not done: you requested this override; a second person must approve it."), "{text}");
    let text = walk.refused_click_on(&card1, &approve, &carol()).await;
    assert!(
        text.starts_with("Not done: to approve a freeze override you need one of the roles release-manager"),
        "{text}"
    );
    // Bob, a release manager, approves it.
    let card1 = walk.click_card(&card1, &approve, &bob()).await;
    assert!(button(&card1, "o").is_none(), "{card1:#?}");
    assert!(walk.release(&hotfix.id).await.freeze_override.and_then(|o| o.approved).is_some());
    walk.fake().assert_no_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_or_a_start_delivered_twice_changes_nothing_the_second_time() {
    let walk = Walk::start("").await;
    let started = walk.start_release(RELEASES, &alice(), "api 1.4.0 3f9c2e1").await;
    let card1 = walk.card(&started, "pre-flight", 1).await;

    // A tick delivered twice: one tick, and the same answer both times.
    let tick = walk.click(&card1, &id_of(&button(&card1, "i0").expect("Tick")), &alice()).await;
    let first = walk.answer(&tick, 0).await;
    let history = walk.history_len(&started.id).await;
    walk.deliver(&tick).await;
    let again = walk.answer(&tick, 1).await;
    assert_eq!(again, first, "the repeat is answered as the first delivery");
    assert_eq!(walk.history_len(&started.id).await, history);

    // The gate passed, then its click delivered again: no second approval, no second
    // Step 2 card, and the answer is the passed card again.
    let card1 = walk.fake().message(RELEASES, &card1.ts).expect("the card");
    let card1 = walk.tick_all(&card1, &alice()).await;
    let pass = walk.click(&card1, &id_of(&gate(&card1).expect("the gate")), &bob()).await;
    let first = walk.answer(&pass, 0).await;
    walk.card(&started, "test-suite", 1).await;
    walk.settled().await;
    let history = walk.history_len(&started.id).await;
    let messages = walk.fake().all_messages().len();
    walk.deliver(&pass).await;
    let again = walk.answer(&pass, 1).await;
    assert_eq!(again, first, "the repeat is answered as the first delivery");
    let shown = walk.fake().message(RELEASES, &card1.ts).expect("the card");
    assert_eq!(shown.blocks.as_ref(), first.get("blocks"), "the card shows what it showed");
    walk.settled().await;
    assert_eq!(walk.history_len(&started.id).await, history);
    assert_eq!(walk.fake().all_messages().len(), messages, "nothing new is posted");
    let recorded = events(&walk, &started.id).await;
    assert_eq!(recorded.iter().filter(|e| matches!(e, Event::Approved { .. })).count(), 1);
    assert_eq!(recorded.iter().filter(|e| matches!(e, Event::GatePassed { .. })).count(), 1);
    assert_eq!(walk.cards(&started), [("pre-flight".to_owned(), 1), ("test-suite".to_owned(), 1)]);

    // A start delivered twice (one trigger_id) starts one release, and its thread's link
    // follows the answer once.
    let start = walk.fake().slash_command(RELEASES, &carol(), "/release", "start web 3.0.0 3f9c2e1");
    let first = walk.post("/slack/commands", &start.to_form()).await.text().await.expect("answer");
    walk.until("the thread's link", |fake| fake.response_url_posts(&start.response_url).first().cloned()).await;
    let again = walk.post("/slack/commands", &start.to_form()).await.text().await.expect("answer");
    assert_eq!(again, first, "the repeat is answered as the first delivery");
    walk.settled().await;
    let releases = walk.engine().list(&Default::default()).await.expect("list");
    assert_eq!(releases.iter().filter(|r| r.service.as_str() == "web").count(), 1, "one release started");
    // Long enough for a second link to be posted, were one due (the thread exists).
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(walk.fake().response_url_posts(&start.response_url).len(), 1, "the link is posted once");
    let parents = walk.fake().messages_in(RELEASES).iter().filter(|m| text_of(m).contains("🚀 *web 3.0.0*")).count();
    assert_eq!(parents, 1, "one thread");
    walk.fake().assert_no_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_commands_subcommands_and_arguments_are_answered_with_usage() {
    let walk = Walk::start("").await;
    let usage = "Use `/release start <service> <version> <sha> [--hotfix]`, `/release status [release]`, `/release list`, \
                 `/release abort <release> <reason>`, `/release rollback <release> <reason>`, `/release drill <service>` \
                 or `/release drills`.";
    for text in ["", "deploy api 1.4.0", "approve api"] {
        let said = walk.refused_command(RELEASES, &alice(), "/release", text).await;
        assert_eq!(said, usage, "/release {text}");
    }
    let said = walk.refused_command(RELEASES, &alice(), "/freeze", "thaw").await;
    assert_eq!(said, "Use `/freeze status [time]` or `/freeze override <release> <reason>` (hotfixes only).");
    let said = walk.refused_command(RELEASES, &alice(), "/deploy", "api").await;
    assert_eq!(said, "shipgate does not handle /deploy.");
    let said = walk.refused_command(RELEASES, &alice(), "/freeze", "status next friday").await;
    assert_eq!(said, "\"next\" is not a time like 2026-12-04T17:00:00Z.");
    let said = walk.refused_command(RELEASES, &alice(), "/release", "status nope").await;
    assert!(said.starts_with("\"nope\" is neither a release id nor a service with a release in progress."), "{said}");
    walk.fake().assert_no_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_with_no_earlier_artifact_on_staging_is_refused_and_starts_nothing() {
    let walk = Walk::start("").await;
    let said = walk.refused_command(RELEASES, &alice(), "/release", "drill api").await;
    assert!(said.starts_with("Not done: "), "{said}");
    assert!(said.contains("staging"), "says what is missing: {said}");
    let said = walk.refused_command(RELEASES, &alice(), "/release", "drill").await;
    assert_eq!(said, "`service` is required.");
    walk.fake().assert_no_problems();
}

fn ephemeral_text(answer: &Value) -> String {
    assert_eq!(answer["response_type"], "ephemeral", "{answer:#}");
    answer["text"].as_str().unwrap_or_default().to_owned()
}
