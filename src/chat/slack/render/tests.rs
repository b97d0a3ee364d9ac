//! Cards as Slack Block Kit messages: snapshots of every step of the built-in playbook,
//! the card's conventions asserted on every card of a release walked from start to
//! finish, and Slack's limits held for generated long playbooks.

use super::*;
use crate::chat::target::{field, ModalForm, ModalTarget};
use crate::domain::card::fixtures::*;
use crate::domain::card::EvidenceForm;
use crate::domain::card::{current_card, step_card, CardContext, ClosedWhy, StepRef};
use crate::domain::ids::{ItemId, ServiceName};
use crate::domain::playbook::{FailureAction, FailurePath, Item, Playbook};
use crate::domain::release::{Command, Environment, HealthCheck};
use std::collections::BTreeSet;

mod limits;

fn card(walk: &Walk, step: StepRef) -> Card {
    step_card(&walk.release, step, &walk.ctx()).unwrap_or_else(|| panic!("no card for {step:?}"))
}

pub(super) fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

pub(super) fn blocks(message: &Value) -> &[Value] {
    message["blocks"].as_array().map_or(&[], Vec::as_slice)
}

fn elements(block: &Value) -> &[Value] {
    block["elements"].as_array().map_or(&[], Vec::as_slice)
}

/// Every button of a message: section accessories and actions elements, in order.
pub(super) fn buttons(message: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for block in blocks(message) {
        if block["accessory"]["type"] == "button" {
            all.push(&block["accessory"]);
        }
        if block["type"] == "actions" {
            all.extend(elements(block).iter().filter(|e| e["type"] == "button"));
        }
    }
    all
}

pub(super) fn click(button: &Value) -> ClickTarget {
    ClickTarget::decode(text(&button["action_id"])).unwrap_or_else(|e| panic!("{e}: {button}"))
}

/// The mrkdwn of every section, joined: what people read.
pub(super) fn body(message: &Value) -> String {
    let mut out = Vec::new();
    for block in blocks(message) {
        match text(&block["type"]) {
            "section" | "header" => out.push(text(&block["text"]["text"]).to_owned()),
            "context" => out.extend(elements(block).iter().map(|e| text(&e["text"]).to_owned())),
            _ => {}
        }
    }
    out.join("\n")
}

/// A plain_text object within `max`, not empty.
fn assert_plain(object: &Value, max: usize) {
    assert_eq!(object["type"], "plain_text", "{object}");
    let t = text(&object["text"]);
    assert!(!t.is_empty() && len(t) <= max, "{} > {max}: {t:?}", len(t));
}

/// Escaped mrkdwn: every `&` starts an escape and every `<` a link or mention we made.
pub(super) fn assert_escaped(mrkdwn: &str) {
    for (i, _) in mrkdwn.match_indices('&') {
        let rest = &mrkdwn[i..];
        assert!(
            rest.starts_with("&amp;") || rest.starts_with("&lt;") || rest.starts_with("&gt;"),
            "a bare & in {mrkdwn:?}"
        );
    }
    for (i, _) in mrkdwn.match_indices('<') {
        let rest = &mrkdwn[i..];
        assert!(
            ["<http", "<@", "<!subteam^"].iter().any(|p| rest.starts_with(p)) && rest.contains('>'),
            "a bare < in {mrkdwn:?}"
        );
    }
    assert_eq!(mrkdwn.matches("```").count() % 2, 0, "an open code block in {mrkdwn:?}");
}

fn assert_mrkdwn(object: &Value, max: usize) {
    assert_eq!(object["type"], "mrkdwn", "{object}");
    let t = text(&object["text"]);
    assert!(!t.is_empty() && len(t) <= max, "{} > {max}", len(t));
    assert_escaped(t);
}

fn assert_button(button: &Value) {
    assert_eq!(button["type"], "button");
    assert_plain(&button["text"], limit::BUTTON_TEXT);
    let id = text(&button["action_id"]);
    assert!(!id.is_empty() && len(id) <= limit::ACTION_ID, "{id}");
    assert!(len(text(&button["value"])) <= limit::BUTTON_VALUE);
    if let Some(style) = button.get("style") {
        assert!(style == "primary" || style == "danger", "{style}");
    }
    if let Some(confirm) = button.get("confirm") {
        assert_plain(&confirm["title"], limit::CONFIRM_TITLE);
        assert_plain(&confirm["text"], limit::CONFIRM_TEXT);
        assert_plain(&confirm["confirm"], limit::CONFIRM_BUTTON);
        assert_plain(&confirm["deny"], limit::CONFIRM_BUTTON);
    }
}

/// Slack's rules for a message body, whatever it shows.
pub(super) fn assert_valid_message(message: &Value) {
    let fallback = text(&message["text"]);
    assert!(!fallback.is_empty() && len(fallback) <= limit::MESSAGE_TEXT, "text: {fallback:?}");
    assert_escaped(fallback);
    let blocks = blocks(message);
    assert!((1..=limit::BLOCKS).contains(&blocks.len()), "{} blocks", blocks.len());
    let mut action_ids = BTreeSet::new();
    for block in blocks {
        if let Some(id) = block.get("block_id") {
            assert!((1..=limit::BLOCK_ID).contains(&len(text(id))));
        }
        match text(&block["type"]) {
            "header" => assert_plain(&block["text"], limit::HEADER_TEXT),
            "section" => {
                assert_mrkdwn(&block["text"], limit::SECTION_TEXT);
                if let Some(accessory) = block.get("accessory") {
                    assert_button(accessory);
                    assert!(action_ids.insert(text(&accessory["action_id"]).to_owned()), "{accessory}");
                }
            }
            "context" => {
                let elements = elements(block);
                assert!((1..=limit::CONTEXT_ELEMENTS).contains(&elements.len()));
                elements.iter().for_each(|e| assert_mrkdwn(e, limit::TEXT_OBJECT));
            }
            "actions" => {
                let elements = elements(block);
                assert!((1..=limit::ACTIONS_ELEMENTS).contains(&elements.len()), "{} elements", elements.len());
                for button in elements {
                    assert_button(button);
                    assert!(action_ids.insert(text(&button["action_id"]).to_owned()), "twice: {button}");
                }
            }
            "image" => {
                assert!((1..=limit::IMAGE_URL).contains(&len(text(&block["image_url"]))));
                assert!((1..=limit::IMAGE_ALT_TEXT).contains(&len(text(&block["alt_text"]))));
            }
            other => panic!("a block of type {other:?}: {block}"),
        }
    }
}

/// The conventions a rendered card keeps, whatever its step and state.
fn assert_conventions(card: &Card, message: &Value) {
    assert_valid_message(message);
    let blocks = blocks(message);
    // `Step N — <title>` in the header, then the progress and the release.
    assert_eq!(blocks[0]["type"], "header");
    let header = text(&blocks[0]["text"]["text"]);
    assert_eq!(header, clip(&card.title, limit::HEADER_TEXT));
    if let Some(index) = card.step_index() {
        assert!(header.starts_with(&format!("Step {} — ", index + 1)), "{header}");
    }
    let progress = text(&blocks[1]["elements"][0]["text"]);
    assert!(progress.contains(&format!("{}/{}", card.progress.current, card.progress.total)), "{progress}");
    for part in [card.release.service.as_str(), card.release.version.as_str(), card.release.short_sha.as_str()] {
        assert!(progress.contains(part), "{progress:?} should show {part:?}");
    }
    if let Some(artifact) = &card.release.artifact {
        assert!(progress.contains(artifact.short()), "{progress:?} should show the artifact");
    }

    // Every button names this card; a closed card has none.
    let buttons = buttons(message);
    for button in &buttons {
        let target = click(button);
        assert_eq!((&target.release, target.step, target.attempt), (&card.release_id, card.step, card.attempt));
        assert_eq!(text(&button["value"]), text(&button["action_id"]));
    }
    if !card.is_open() {
        assert!(buttons.is_empty(), "a closed card has buttons: {buttons:?}");
    }

    // The gate: the only primary button, there exactly when it can be approved.
    let primary: Vec<&&Value> = buttons.iter().filter(|b| b["style"] == "primary").collect();
    let approvable = card.is_open() && card.gate.can_pass && card.gate.approvals.required > 0;
    assert_eq!(primary.len(), usize::from(approvable), "{primary:?}");
    if let Some(gate) = primary.first() {
        assert_eq!(click(gate).element, Element::Gate);
    }
    let body = body(message);
    if card.is_open() && !card.gate.can_pass {
        assert!(body.contains("*Gate: waiting for* "), "a gate that cannot pass says what it waits for: {body}");
    }

    // Failure paths and Reject are danger, and ask first.
    for button in &buttons {
        let danger = matches!(click(button).element, Element::FailurePath(_) | Element::Reject);
        assert_eq!(button["style"] == "danger", danger, "{button}");
        assert_eq!(button.get("confirm").is_some(), danger, "{button}");
    }

    // Items: who ticked them and when; an open card's unticked items tick, ticked ones untick.
    for item in card.items.iter().filter(|i| i.is_ticked()) {
        let stamp = item.ticked.as_ref().unwrap_or_else(|| panic!("ticked"));
        assert!(body.contains(&format!("— {}, {}", escape(&stamp.by), stamp.local)), "{}", stamp.by);
    }
    if card.is_open() && !body.contains("have no button here") {
        let mut items: Vec<Element> = buttons
            .iter()
            .map(|b| click(b).element)
            .filter(|e| matches!(e, Element::Item(_) | Element::Untick(_)))
            .collect();
        items.sort_by_key(|e| match e {
            Element::Item(i) | Element::Untick(i) => *i,
            _ => usize::MAX,
        });
        let expected: Vec<Element> = card
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| if item.is_ticked() { Element::Untick(i) } else { Element::Item(i) })
            .collect();
        assert_eq!(items, expected, "every item has its button, the right way round");
    }
}

fn rendered(card: &Card) -> Value {
    let message = message(card);
    assert_conventions(card, &message);
    message
}

/// The release at step `index` (0-based) in a state worth seeing.
fn at_step(index: usize) -> Walk {
    let mut walk = Walk::start();
    walk.walk_to(index);
    walk.minutes(2);
    match index {
        0 => {
            walk.tick(&carol(), "prs-merged");
            walk.tick(&carol(), "no-blockers");
        }
        1 => walk.tests("unit", 117, 3),
        2 => walk.artifact(),
        3 => {
            walk.tick_all(&carol());
            walk.deploy(Environment::Staging, HealthCheck::Unknown);
        }
        4 => walk.tick_all(&carol()),
        5 => {}
        6 => {
            walk.tick(&carol(), "error-rates");
            walk.tick(&bob(), "latency");
        }
        _ => walk.tick_all(&carol()),
    }
    walk
}

#[test]
fn every_step_of_the_built_in_playbook_renders_stably() {
    let names = [
        "step_1_pre_flight",
        "step_2_test_suite",
        "step_3_build_artifact",
        "step_4_deploy_staging",
        "step_5_smoke_test",
        "step_6_deploy_production",
        "step_7_monitor",
        "step_8_rollback_criteria",
    ];
    for (index, name) in names.into_iter().enumerate() {
        let walk = at_step(index);
        let card = card(&walk, StepRef::Step(index));
        assert!(card.is_open(), "{name}");
        insta::assert_json_snapshot!(name, rendered(&card));
    }
}

#[test]
fn a_gate_ready_for_approval_is_the_primary_button_first_in_the_controls() {
    let walk = at_step(4);
    let message = rendered(&card(&walk, StepRef::Step(4)));
    let controls: Vec<&Value> = blocks(&message).iter().filter(|b| b["type"] == "actions").collect();
    assert_eq!(controls.len(), 1);
    let first = &controls[0]["elements"][0];
    assert_eq!((text(&first["style"]), text(&first["text"]["text"])), ("primary", "Pass gate →"));
    assert_eq!(click(&controls[0]["elements"][1]).element, Element::Reject);
    assert!(body(&message).contains("✅ *Gate: ready* for 1 more approval"), "{}", body(&message));
}

#[test]
fn a_gate_that_cannot_pass_yet_is_text_not_a_button() {
    let walk = at_step(0);
    let message = rendered(&card(&walk, StepRef::Step(0)));
    assert!(buttons(&message).iter().all(|b| click(b).element != Element::Gate));
    assert!(body(&message).contains("⏳ *Gate: waiting for* 3 boxes to tick; then 1 approval"), "{}", body(&message));

    // A gate that passes by itself never gets a button: the engine refuses approvals.
    let walk = at_step(1);
    let message = rendered(&card(&walk, StepRef::Step(1)));
    assert!(buttons(&message).iter().all(|b| click(b).element != Element::Gate));
    assert!(
        body(&message).contains("*Gate: waiting for* zero test failures; failing: unit (3 failed)"),
        "{}",
        body(&message)
    );
}

#[test]
fn a_passed_gates_card_renders_closed_without_buttons() {
    let walk = at_step(1);
    let card = card(&walk, StepRef::Step(0));
    let message = rendered(&card);
    assert!(buttons(&message).is_empty());
    assert!(!blocks(&message).iter().any(|b| b["type"] == "actions"));
    assert_eq!(text(&blocks(&message)[2]["text"]["text"]), "✅ *Gate passed · approved by Bob · 10:06 EST*");
    insta::assert_json_snapshot!("closed_step_1_gate_passed", message);
}

#[test]
fn a_card_superseded_by_a_restart_renders_closed_with_what_it_showed() {
    let mut walk = at_step(1);
    let before = walk.release.clone();
    walk.take(&carol(), "real-regression", "checkout total is off by one");
    let card = step_card(&before, StepRef::Step(1), &walk.ctx())
        .unwrap_or_else(|| panic!("step 2"))
        .closed(ClosedWhy::Superseded);
    let message = rendered(&card);
    assert!(body(&message).contains("↩️ *Superseded by a restart"));
    assert!(buttons(&message).is_empty());
    insta::assert_json_snapshot!("superseded_step_2", message);
}

#[test]
fn a_freeze_shows_as_a_banner_on_the_production_step() {
    let mut walk = at_step(5);
    walk.freeze = friday_afternoon(walk.now);
    let ctx = walk.ctx_with_freeze();
    let card = step_card(&walk.release, StepRef::Step(5), &ctx).unwrap_or_else(|| panic!("step 6"));
    let message = rendered(&card);
    assert!(body(&message)
        .contains("🧊 Production is frozen until Mon 7 Dec 00:00 EST (Friday afternoon): only an emergency hotfix"));
    insta::assert_json_snapshot!("step_6_frozen", message);
}

#[test]
fn a_pending_override_gets_its_approve_button() {
    let mut walk = Walk::hotfix();
    walk.ok(&alice(), Command::RequestFreezeOverride { reason: "EU card payments fail".into() });
    let message = rendered(&card(&walk, StepRef::Step(0)));
    let approve: Vec<&Value> =
        buttons(&message).into_iter().filter(|b| click(b).element == Element::ApproveOverride).collect();
    assert_eq!(approve.len(), 1);
    assert!(approve[0].get("style").is_none(), "the gate is the only primary button");
    assert!(body(&message).contains("🆘 Freeze override requested by Alice: EU card payments fail"));
}

#[test]
fn the_rollback_procedure_renders_as_its_own_card() {
    let mut walk = Walk::start();
    walk.walk_to(6);
    walk.minutes(5);
    walk.take(&carol(), "rollback", "error rate tripled after the deploy");
    walk.minutes(3);
    walk.tick(&carol(), "deploy-reverted");
    let rollback = current_card(&walk.release, &walk.ctx());
    assert_eq!(rollback.step, StepRef::Rollback);
    let message = rendered(&rollback);
    assert_eq!(text(&blocks(&message)[0]["text"]["text"]), "Rollback — Rollback procedure");
    assert!(body(&message).contains("*Rolling back from Step 7 — Post-Deploy Monitoring:* error rate tripled"));
    insta::assert_json_snapshot!("rollback_procedure", message);

    // The step it started from is closed while the rollback runs.
    let monitor = rendered(&card(&walk, StepRef::Step(6)));
    assert!(body(&monitor).contains("⏪ *Closed · the release is rolling back from this step*"));
    assert!(buttons(&monitor).is_empty());
}

#[test]
fn the_rollback_card_offers_the_hook_and_shows_its_failed_run_with_the_end_of_its_output() {
    use crate::domain::release::{HookMode, HookOutcome};
    let hook_buttons = |message: &Value| {
        buttons(message).into_iter().filter(|b| click(b).element == Element::RunHook).cloned().collect::<Vec<_>>()
    };
    let mut walk = Walk::start().with_hook(HookMode::OnClick);
    walk.walk_to(6);
    walk.take(&carol(), "rollback", "error rate tripled after the deploy");
    let offered = hook_buttons(&rendered(&current_card(&walk.release, &walk.ctx())));
    assert_eq!(offered.len(), 1, "one Run rollback hook button");
    assert_eq!(text(&offered[0]["text"]["text"]), "Run rollback hook");

    walk.ok(&carol(), Command::RunRollbackHook);
    let waiting = rendered(&current_card(&walk.release, &walk.ctx()));
    assert!(hook_buttons(&waiting).is_empty(), "no second run while one waits");
    assert!(body(&waiting).contains("⏳ Rollback hook run by Carol"), "{}", body(&waiting));

    let runner = crate::domain::Actor::new(crate::domain::Platform::System, "rollback-hook", "shipgate rollback hook");
    walk.ok(&runner, Command::StartRollbackHook { attempt: 1 });
    walk.minutes(1);
    let output = "exit status 1\nkubectl rollout undo deployment/api\nerror: `api` <not> found & gone";
    let failed = HookOutcome::Failed { detail: output.into() };
    walk.ok(&runner, Command::RecordRollbackHookOutcome { attempt: 1, outcome: failed });
    let message = rendered(&current_card(&walk.release, &walk.ctx()));
    assert_eq!(hook_buttons(&message).len(), 1, "a failed run may be run again");
    let body = body(&message);
    assert!(body.contains("❌ Rollback hook run by Carol"), "{body}");
    // Backticks in the output cannot end the code block early; Slack's escapes still apply.
    assert!(
        body.contains(
            "```\nexit status 1\nkubectl rollout undo deployment/api\nerror: ˋapiˋ &lt;not&gt; found &amp; gone\n```"
        ),
        "{body}"
    );
}

#[test]
fn every_card_of_a_whole_release_keeps_the_conventions() {
    // After every command of a release that fails once, restarts, reaches production,
    // rolls back and resumes, every card of the release is rendered and checked.
    let mut walk = Walk::start();
    let check = |walk: &Walk| {
        for index in 0..walk.release.playbook.steps.len() {
            rendered(&card(walk, StepRef::Step(index)));
        }
        if walk.release.rollback.is_some() {
            rendered(&card(walk, StepRef::Rollback));
        }
        rendered(&current_card(&walk.release, &walk.ctx()));
    };
    check(&walk);
    walk.pass_pre_flight();
    check(&walk);
    walk.tests("unit", 117, 3);
    check(&walk);
    walk.take(&carol(), "real-regression", "off by one");
    check(&walk);
    for index in 0..7 {
        walk.pass(index);
        check(&walk);
    }
    walk.take(&carol(), "rollback", "checkout broken");
    check(&walk);
    walk.revert_production();
    walk.tick_all(&carol());
    check(&walk);
    walk.approve(&bob());
    check(&walk);
}

#[test]
fn a_closed_card_in_a_custom_context_has_no_buttons() {
    let walk = at_step(3);
    let ctx = CardContext { stalled: true, ..walk.ctx() };
    let card = step_card(&walk.release, StepRef::Step(2), &ctx).unwrap_or_else(|| panic!("step 3"));
    assert!(!card.is_open());
    assert!(buttons(&rendered(&card)).is_empty());
}

#[test]
fn the_gate_into_production_names_the_artifact_it_approved() {
    let walk = at_step(5);
    let body = body(&rendered(&card(&walk, StepRef::Step(4))));
    assert!(body.contains("Approvals 1/1: Bob (10:36 EST) · for artifact `111111111111`"), "{body}");
}

#[test]
fn a_rejected_gates_closed_card_says_who_rejected_it_and_why() {
    let mut walk = at_step(4);
    let before = walk.release.clone();
    walk.reject(&bob(), "checkout *broken* on <staging> & more");
    // What the card showed just before the restart: the rejection and the path it took.
    let as_it_was = {
        let history = walk.events_after(0);
        let upto = history.iter().position(|r| matches!(r.event, crate::domain::release::Event::Restarted { .. }));
        let upto = upto.unwrap_or_else(|| panic!("a restart"));
        crate::domain::release::Release::fold(before.id.clone(), &history[..upto]).unwrap_or_else(|e| panic!("{e}"))
    };
    let card = step_card(&as_it_was, StepRef::Step(4), &walk.ctx())
        .unwrap_or_else(|| panic!("step 5"))
        .closed(ClosedWhy::Superseded);
    let message = rendered(&card);
    assert!(buttons(&message).is_empty());
    let body = body(&message);
    assert!(body.contains("✖ Rejected by Bob"), "{body}");
    assert!(body.contains("checkout ∗broken∗ on &lt;staging&gt; &amp; more → Smoke check failed"), "escaped: {body}");
}

#[test]
fn every_open_card_has_a_confirmed_reject_button() {
    for index in 0..8 {
        let walk = at_step(index);
        let message = rendered(&card(&walk, StepRef::Step(index)));
        let reject: Vec<&Value> =
            buttons(&message).into_iter().filter(|b| click(b).element == Element::Reject).collect();
        assert_eq!(reject.len(), 1, "step {}", index + 1);
        assert_eq!(text(&reject[0]["confirm"]["confirm"]["text"]), "Reject");
        assert!(text(&reject[0]["confirm"]["text"]["text"]).starts_with("Then: "), "{}", reject[0]);
    }
}

#[test]
fn a_card_whose_release_id_cannot_be_encoded_is_shown_without_buttons() {
    let mut card = card(&Walk::start(), StepRef::Step(0));
    card.release_id = "not:a:release".into();
    let message = message(&card);
    assert_valid_message(&message);
    assert!(buttons(&message).is_empty());
    assert!(body(&message).contains("buttons are unavailable"));
    assert!(modal(&card, ModalForm::RejectReason).is_err());
}

#[test]
fn ephemeral_replies_and_updates_have_the_documented_shape() {
    assert_eq!(
        ephemeral("you need the <release-manager> role: ask `Bob` & co"),
        json!({
            "response_type": "ephemeral",
            "replace_original": false,
            "text": "you need the &lt;release-manager&gt; role: ask `Bob` &amp; co",
        })
    );
    let long = ephemeral(&"a".repeat(5000));
    assert_eq!(len(text(&long["text"])), limit::MESSAGE_TEXT);
    assert!(text(&long["text"]).ends_with('…'));

    let card = card(&Walk::start(), StepRef::Step(0));
    let mut expected = message(&card);
    expected["replace_original"] = json!(true);
    assert_eq!(update_message(&card), expected);
}

#[test]
fn the_fallback_text_says_where_the_card_stands() {
    let open = message(&card(&at_step(0), StepRef::Step(0)));
    assert_eq!(
        text(&open["text"]),
        "Step 1 — Pre-Flight Checks · ▰▱▱▱▱▱▱▱ 1/8 · api 1.4.0 · 3f9c2e1: Gate: waiting for 3 boxes to tick; then 1 \
         approval"
    );
    let closed = message(&card(&at_step(1), StepRef::Step(0)));
    assert!(text(&closed["text"]).ends_with(": Gate passed · approved by Bob · 10:06 EST"), "{}", closed["text"]);
}

mod modals {
    use super::*;

    #[test]
    fn modals_carry_their_target_and_fit_slacks_limits() {
        let build = card(&at_step(2), StepRef::Step(2));
        let tests = card(&at_step(1), StepRef::Step(1));
        let production = card(&at_step(5), StepRef::Step(5));
        let smoke = card(&at_step(4), StepRef::Step(4));
        let forms = [
            (&tests, ModalForm::Evidence(EvidenceForm::TestResult)),
            (&build, ModalForm::Evidence(EvidenceForm::Artifact)),
            (&production, ModalForm::Evidence(EvidenceForm::StagingDeploy)),
            (&production, ModalForm::Evidence(EvidenceForm::ProductionDeploy)),
            (&smoke, ModalForm::RejectReason),
            (&tests, ModalForm::FailureNote(1)),
            (&tests, ModalForm::FailureNote(9)),
            (&production, ModalForm::BrokenFlow),
            (&production, ModalForm::BlindReason),
        ];
        let names = [
            field::SUITE,
            field::PASSED,
            field::FAILED,
            field::VERSION,
            field::GIT_SHA,
            field::DIGEST,
            field::SIZE_BYTES,
            field::OUTCOME,
            field::HEALTH,
            field::STRATEGY,
            field::REASON,
            field::NOTE,
        ];
        for (card, form) in forms {
            let view = modal(card, form).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(view["type"], "modal");
            let target = ModalTarget::decode(text(&view["callback_id"])).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(target, ModalTarget::on(card, form));
            assert!(len(text(&view["callback_id"])) <= limit::CALLBACK_ID);
            assert_plain(&view["title"], limit::MODAL_TITLE);
            assert_plain(&view["submit"], limit::MODAL_BUTTON);
            assert_plain(&view["close"], limit::MODAL_BUTTON);
            let blocks = blocks(&view);
            assert!(blocks.len() <= limit::MODAL_BLOCKS);
            let inputs: Vec<&Value> = blocks.iter().filter(|b| b["type"] == "input").collect();
            assert!(!inputs.is_empty());
            let mut seen = BTreeSet::new();
            for input in inputs {
                let element = &input["element"];
                assert_eq!(element["type"], "plain_text_input");
                let name = text(&input["block_id"]);
                assert_eq!(text(&element["action_id"]), name, "block_id and action_id are the field's name");
                assert!(names.contains(&name), "{name}");
                assert!(seen.insert(name.to_owned()), "{name} twice");
                assert_plain(&input["label"], limit::INPUT_LABEL);
                let max = element["max_length"].as_u64().unwrap_or(0) as usize;
                assert!((1..=limit::INPUT_MAX_LENGTH).contains(&max));
                if let Some(initial) = element.get("initial_value") {
                    assert!(len(text(initial)) <= max);
                }
                if let Some(placeholder) = element.get("placeholder") {
                    assert_plain(placeholder, limit::INPUT_PLACEHOLDER);
                }
            }
            for section in blocks.iter().filter(|b| b["type"] == "section") {
                assert_mrkdwn(&section["text"], limit::SECTION_TEXT);
            }
        }
        insta::assert_json_snapshot!(
            "modals",
            json!({
                "test_result": modal(&tests, ModalForm::Evidence(EvidenceForm::TestResult)).ok(),
                "artifact": modal(&build, ModalForm::Evidence(EvidenceForm::Artifact)).ok(),
                "production_deploy": modal(&production, ModalForm::Evidence(EvidenceForm::ProductionDeploy)).ok(),
                "reject": modal(&smoke, ModalForm::RejectReason).ok(),
                "failure_note": modal(&tests, ModalForm::FailureNote(0)).ok(),
                "broken_flow": modal(&production, ModalForm::BrokenFlow).ok(),
                "blind_reason": modal(&production, ModalForm::BlindReason).ok(),
            })
        );
    }

    #[test]
    fn paragraphs_are_multiline_and_prefilled_values_are_initial_values() {
        let build = card(&at_step(2), StepRef::Step(2));
        let view = modal(&build, ModalForm::Evidence(EvidenceForm::Artifact)).unwrap_or_else(|e| panic!("{e}"));
        let input = |name: &str| {
            blocks(&view).iter().find(|b| b["block_id"] == name).cloned().unwrap_or_else(|| panic!("{name}"))
        };
        assert_eq!(input(field::VERSION)["element"]["initial_value"], "1.4.0");
        assert_eq!(input(field::GIT_SHA)["element"]["initial_value"], "3f9c2e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5");
        assert!(input(field::DIGEST)["element"].get("initial_value").is_none());
        assert_eq!(input(field::DIGEST)["element"]["multiline"], false);

        let tests = card(&at_step(1), StepRef::Step(1));
        let view = modal(&tests, ModalForm::FailureNote(1)).unwrap_or_else(|e| panic!("{e}"));
        let note = blocks(&view).iter().find(|b| b["block_id"] == field::NOTE).cloned().unwrap_or_default();
        assert_eq!((note["element"]["multiline"].clone(), note["optional"].clone()), (json!(true), json!(false)));
        assert!(body(&view).contains("*Flaky test: fix the flake and re-run*\nThen: retry this step"));
    }
}

mod watch_card {
    use super::*;
    use crate::domain::card::watch::watch_card;

    #[test]
    fn the_monitoring_card_renders_while_watching_and_once_rolled_back() {
        let mut walk = Walk::watching();
        walk.sample_error_rate(0.004);
        let watching = watch_card(&walk.release, &walk.ctx()).expect("a watch");
        let buttons_on = Some((StepRef::Step(6), 1));
        let message = watch_message(&watching, buttons_on);
        assert_valid_message(&message);
        let all = buttons(&message);
        assert_eq!(all.len(), 1, "no blind metric: only the broken-flow button");
        assert_eq!(click(all[0]).element, Element::BrokenFlow);
        assert_eq!((text(&all[0]["style"]), all[0].get("confirm").is_some()), ("danger", true));
        assert_eq!(click(all[0]).step, StepRef::Step(6));
        assert!(watch_message(&watching, None).pointer("/blocks").is_some_and(|b| !b.to_string().contains("actions")));

        walk.sample_error_rate(0.005);
        walk.sample_error_rate(0.05);
        let tripped = watch_card(&walk.release, &walk.ctx()).expect("a watch");
        let rolled_back = watch_message(&tripped, buttons_on);
        assert_valid_message(&rolled_back);
        assert!(buttons(&rolled_back).is_empty(), "a tripped watch offers nothing to click");
        insta::assert_json_snapshot!("watch", json!({ "watching": message, "rolled_back": rolled_back }));
    }

    #[test]
    fn a_blind_watch_offers_to_complete_without_the_data() {
        let mut walk = Walk::watching();
        walk.sample_error_rate(0.004);
        let mut card = watch_card(&walk.release, &walk.ctx()).expect("a watch");
        card.blind = vec!["error rate: Prometheus refused the connection <10.0.0.1>".into()];
        let message = watch_message(&card, Some((StepRef::Step(6), 1)));
        assert_valid_message(&message);
        let elements: Vec<Element> = buttons(&message).iter().map(|b| click(b).element).collect();
        assert_eq!(elements, [Element::BrokenFlow, Element::AcceptBlind]);
        assert!(body(&message).contains("• error rate: Prometheus refused the connection &lt;10.0.0.1&gt;"));
    }
}

mod rollback_notice_message {
    use super::*;
    use crate::app::delivery::ThreadLink;
    use crate::domain::card::rollback_notice::rollback_notice as notice_of;
    use crate::domain::ChatPlatform;

    #[test]
    fn the_notice_says_what_was_deployed_what_broke_and_what_was_rolled_back_with_its_chart() {
        let mut walk = Walk::watching();
        for rate in [0.004, 0.005, 0.05] {
            walk.sample_error_rate(rate);
        }
        let underway = notice_of(&walk.release, &walk.ctx()).expect("rolling back");
        let slack = ThreadLink {
            platform: ChatPlatform::Slack,
            id: "C100/1733151600.000100".into(),
            url: "https://example.slack.com/archives/C100/p1733151600000100?thread_ts=1&cid=C100".into(),
        };
        let discord = ThreadLink {
            platform: ChatPlatform::Discord,
            id: "1300000000000000001".into(),
            url: "https://discord.com/channels/1/1300000000000000001".into(),
        };
        let chart = "https://charts.example.com/rollback/api-1.4.0.png";
        let in_channel = rollback_notice(&underway, Some(&slack), Some(chart));
        let from_discord = rollback_notice(&underway, Some(&discord), None);
        let unthreaded = rollback_notice(&underway, None, None);

        walk.now += chrono::Duration::minutes(4);
        walk.revert_production();
        walk.tick_all(&carol());
        walk.approve(&alice());
        let recovered = notice_of(&walk.release, &walk.ctx()).expect("rolled back");
        let in_thread = rollback_notice(&recovered, None, None);
        for message in [&in_channel, &from_discord, &unthreaded, &in_thread] {
            assert_valid_message(message);
        }
        assert!(body(&in_channel).contains(
            "🧵 Follow it in <https://example.slack.com/archives/C100/p1733151600000100?thread_ts=1&amp;cid=C100|the \
             release thread>."
        ));
        let images: Vec<&Value> = blocks(&in_channel).iter().filter(|b| b["type"] == "image").collect();
        assert_eq!(images.len(), 1);
        assert_eq!(images[0]["image_url"], chart);
        assert!(body(&unthreaded).contains("📈 The chart of the error rate is in the release thread."));
        assert!(body(&from_discord).contains("|the release thread on Discord>"));
        insta::assert_json_snapshot!(
            "rollback_notice",
            json!({
                "underway_in_an_incident_channel": in_channel,
                "underway_linked_to_discord": from_discord,
                "underway_without_a_thread": unthreaded,
                "recovered_in_the_thread": in_thread,
            })
        );
    }

    #[test]
    fn a_chart_url_too_long_for_slack_is_left_out_for_the_words() {
        let mut walk = Walk::watching();
        for rate in [0.004, 0.005, 0.05] {
            walk.sample_error_rate(rate);
        }
        let notice = notice_of(&walk.release, &walk.ctx()).expect("rolling back");
        let url = format!("https://charts.example.com/{}", "a".repeat(3000));
        let message = rollback_notice(&notice, None, Some(&url));
        assert_valid_message(&message);
        assert!(!blocks(&message).iter().any(|b| b["type"] == "image"));
        assert!(body(&message).contains("chart of the error rate is in the release thread"));
    }
}

mod text_helpers {
    use super::*;

    #[test]
    fn user_text_is_escaped_for_mrkdwn() {
        assert_eq!(escape("a & b <@U123> <!here> x>y"), "a &amp; b &lt;@U123&gt; &lt;!here&gt; x&gt;y");
        assert_eq!(escape("*bold* ~gone~ `code`"), "∗bold∗ ∼gone∼ ˋcodeˋ");
        assert_eq!(escape("checkout_api _private_ snake_"), "checkout_api ˍprivateˍ snakeˍ");
        assert_eq!(escape("two\nlines\r"), "two lines ");
    }

    #[test]
    fn text_is_clipped_on_character_boundaries_and_never_inside_an_escape() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("ééééé", 3), "éé…");
        // An emoji outside the BMP counts twice, as UTF-16 does.
        assert_eq!(clip("🚀🚀🚀", 4), "🚀…");
        assert_eq!(len(&clip(&"🚀".repeat(100), 75)), 75);
        assert_eq!(clip_mrkdwn("ab &amp; cd", 6), "ab …");
        assert_eq!(clip_mrkdwn("ab &amp; cd", 9), "ab &amp;…");
        assert_eq!(clip_mrkdwn("x ```\ncode\n```", 10), "x …");
    }

    #[test]
    fn links_keep_their_url_whole() {
        assert_eq!(link("https://x.test/a?b=1&c=2|3", "the thread"), "<https://x.test/a?b=1&amp;c=2%7C3|the thread>");
    }

    #[test]
    fn an_overdue_drill_banner_names_slacks_command() {
        let banner = Banner::RollbackDrill {
            service: ServiceName::new("api"),
            last: None,
            due_local: Some("Mon 1 Jun 2026".into()),
            overdue: true,
        };
        assert_eq!(
            banner_text(&banner),
            "api has had no rollback drill — overdue: keep the rollback path tested with /release drill api"
        );
    }
}

/// A playbook whose first step has `items` items of `text_len` characters, `paths`
/// failure paths, and a title of `title_len` characters.
pub(super) fn crowded(items: usize, paths: usize, text_len: usize, title_len: usize) -> Walk {
    let mut playbook = Playbook::ship_to_production();
    let step = &mut playbook.steps[0];
    if title_len > 0 {
        step.title = "T".repeat(title_len);
    }
    step.items = (0..items)
        .map(|i| Item { id: ItemId::new(format!("item-{i}")), text: format!("{i:02} {}", "x".repeat(text_len)) })
        .collect();
    step.failure_paths = (0..paths)
        .map(|i| FailurePath {
            id: format!("path-{i}").as_str().into(),
            label: format!("Failure path {i} {}", "y".repeat(text_len)),
            action: FailureAction::Abort,
            to: None,
            follow_up: None,
            note_required: true,
            roles: vec![],
        })
        .collect();
    Walk::start_with(playbook)
}

pub(super) fn first_card(walk: &Walk) -> Card {
    card(walk, StepRef::Step(0))
}

pub(super) fn check(card: &Card) -> Value {
    rendered(card)
}
