//! Cards as Discord messages: snapshots of every step of the built-in playbook, and the
//! conventions checks outside the project rely on, asserted on every card of a release
//! walked from start to finish.

use super::*;
use crate::chat::discord::custom_id::ModalTarget;
use crate::domain::card::fixtures::*;
use crate::domain::card::{current_card, step_card, CardContext, ClosedWhy, EvidenceForm, StepRef};
use crate::domain::ids::ItemId;
use crate::domain::playbook::{FailureAction, FailurePath, Item, Playbook};
use crate::domain::release::{Command, Environment, HealthCheck};

fn card(walk: &Walk, step: StepRef) -> Card {
    step_card(&walk.release, step, &walk.ctx()).unwrap_or_else(|| panic!("no card for {step:?}"))
}

fn buttons(message: &Value) -> Vec<&Value> {
    rows(message).iter().flat_map(|row| row["components"].as_array().map_or(&[][..], Vec::as_slice)).collect()
}

fn rows(message: &Value) -> &[Value] {
    message["components"].as_array().map_or(&[], Vec::as_slice)
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

fn click(button: &Value) -> ClickTarget {
    ClickTarget::decode(text(&button["custom_id"])).unwrap_or_else(|e| panic!("{e}: {button}"))
}

fn description(message: &Value) -> &str {
    text(&message["embeds"][0]["description"])
}

/// The conventions a rendered card keeps, whatever its step and state.
fn assert_conventions(card: &Card, message: &Value) {
    let title = &card.title;
    // The first line: `Step N — <title>`, progress and the release.
    let content = text(&message["content"]);
    let first = content.lines().next().unwrap_or_default();
    if let Some(index) = card.step_index() {
        assert!(title.starts_with(&format!("Step {} — ", index + 1)), "{title}");
    }
    assert!(first.starts_with(title.as_str()), "{first:?} should start with {title:?}");
    assert!(first.contains(&format!("{}/{}", card.progress.current, card.progress.total)), "{first}");
    for part in [card.release.service.as_str(), card.release.version.as_str(), card.release.short_sha.as_str()] {
        assert!(first.contains(part), "{first:?} should show {part:?}");
    }
    if let Some(artifact) = &card.release.artifact {
        assert!(first.contains(artifact.short()), "{first:?} should show the artifact");
    }
    assert_eq!(card.release.short_sha.len(), 7);
    assert!(content.chars().count() <= limit::CONTENT);
    assert_eq!(message["allowed_mentions"], json!({ "parse": [] }));

    // Embed limits.
    let embed = &message["embeds"][0];
    let fields = embed["fields"].as_array().map_or(&[][..], Vec::as_slice);
    assert!(fields.len() <= limit::EMBED_FIELDS);
    let mut total = text(&embed["description"]).chars().count() + text(&embed["footer"]["text"]).chars().count();
    assert!(text(&embed["description"]).chars().count() <= limit::EMBED_DESCRIPTION);
    for field in fields {
        assert!(text(&field["value"]).chars().count() <= limit::EMBED_FIELD_VALUE);
        total += text(&field["name"]).chars().count() + text(&field["value"]).chars().count();
    }
    assert!(total <= limit::EMBED_TOTAL, "embed of {total} characters");

    // At most 5 rows of at most 5 buttons, ids unique and at most 100 characters.
    let rows = rows(message);
    assert!(rows.len() <= limit::ROWS, "{} rows", rows.len());
    let mut ids = std::collections::BTreeSet::new();
    for row in rows {
        assert_eq!(row["type"], 1);
        let count = row["components"].as_array().map_or(0, Vec::len);
        assert!((1..=limit::BUTTONS_PER_ROW).contains(&count), "a row of {count}");
    }
    let buttons = buttons(message);
    for button in &buttons {
        assert_eq!(button["type"], 2);
        let id = text(&button["custom_id"]);
        assert!(!id.is_empty() && id.len() <= 100, "{id}");
        assert!(ids.insert(id.to_owned()), "custom_id {id} twice");
        let label = text(&button["label"]);
        assert!(!label.is_empty() && label.chars().count() <= limit::BUTTON_LABEL, "{label:?}");
        let target = click(button);
        assert_eq!((&target.release, target.step, target.attempt), (&card.release_id, card.step, card.attempt));
        if !card.is_open() {
            assert_eq!(button["disabled"], true, "a closed card's {label:?} is live");
        }
    }

    // Items: Secondary while unticked, Success once ticked, labelled with their text;
    // who ticked them and when is in the body.
    for button in &buttons {
        if let Element::Item(index) | Element::Untick(index) = click(button).element {
            let item = &card.items[index];
            let untick = click(button).element == Element::Untick(index);
            assert_eq!(untick, item.is_ticked(), "a ticked item's button unticks it, an unticked one's ticks it");
            let expected = if item.is_ticked() { style::SUCCESS } else { style::SECONDARY };
            assert_eq!(button["style"], expected, "{}", item.text);
            let label = text(&button["label"]).trim_start_matches("✓ ").trim_end_matches('…');
            assert!(item.text.starts_with(label), "{label:?} is not {:?}", item.text);
        }
    }
    let item_buttons =
        buttons.iter().filter(|b| matches!(click(b).element, Element::Item(_) | Element::Untick(_))).count();
    if !description(message).contains("have no button") {
        assert_eq!(item_buttons, card.items.len(), "every item has its button");
    }
    for item in card.items.iter().filter(|i| i.is_ticked()) {
        let stamp = item.ticked.as_ref().unwrap_or_else(|| panic!("ticked"));
        assert!(description(message).contains(&format!("— {}, {}", stamp.by, stamp.local)), "{}", stamp.by);
    }

    // The gate: exactly one Primary button, live only when it can pass on an open card.
    let primary: Vec<&&Value> = buttons.iter().filter(|b| b["style"] == style::PRIMARY).collect();
    assert_eq!(primary.len(), 1, "one Primary button: the gate");
    assert_eq!(click(primary[0]).element, Element::Gate);
    assert_eq!(primary[0]["disabled"], !(card.is_open() && card.gate.can_pass));

    // Failure paths and Reject are Danger.
    for button in &buttons {
        let danger = matches!(click(button).element, Element::FailurePath(_) | Element::Reject);
        assert_eq!(button["style"] == style::DANGER, danger, "{button}");
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
fn a_passed_gates_card_renders_closed() {
    let walk = at_step(1);
    let card = card(&walk, StepRef::Step(0));
    let message = rendered(&card);
    assert!(buttons(&message).iter().all(|b| b["disabled"] == true));
    assert!(description(&message).starts_with("✅ **Gate passed · approved by Bob · 10:06 EST**"));
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
    assert!(description(&message).starts_with("↩️ **Superseded by a restart"));
    insta::assert_json_snapshot!("superseded_step_2", message);
}

#[test]
fn a_freeze_shows_as_a_banner_on_the_production_step() {
    let mut walk = at_step(5);
    walk.freeze = friday_afternoon(walk.now);
    let ctx = walk.ctx_with_freeze();
    let card = step_card(&walk.release, StepRef::Step(5), &ctx).unwrap_or_else(|| panic!("step 6"));
    let message = rendered(&card);
    assert!(description(&message)
        .starts_with("🧊 Production is frozen until Mon 7 Dec 00:00 EST (Friday afternoon): only an emergency hotfix"));
    insta::assert_json_snapshot!("step_6_frozen", message);
}

#[test]
fn a_pending_override_gets_its_approve_button() {
    let mut walk = Walk::hotfix();
    walk.ok(&alice(), Command::RequestFreezeOverride { reason: "EU card payments fail".into() });
    let card = card(&walk, StepRef::Step(0));
    let message = rendered(&card);
    let approve: Vec<&Value> =
        buttons(&message).into_iter().filter(|b| click(b).element == Element::ApproveOverride).collect();
    assert_eq!(approve.len(), 1);
    assert_eq!((approve[0]["style"].clone(), approve[0]["disabled"].clone()), (json!(style::SECONDARY), json!(false)));
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
    assert!(text(&message["content"]).starts_with("Rollback — Rollback procedure · ▰▰▰▰▰▰▰▱ 7/8 · api 1.4.0"));
    insta::assert_json_snapshot!("rollback_procedure", message);

    // The step it started from is closed while the rollback runs.
    let monitor = rendered(&card(&walk, StepRef::Step(6)));
    assert!(description(&monitor).starts_with("⏪ **Closed · the release is rolling back from this step**"));
}

#[test]
fn the_rollback_card_offers_the_hook_and_shows_its_failed_run_with_the_end_of_its_output() {
    use crate::domain::release::{HookMode, HookOutcome};
    let hook_button = |message: &Value| {
        buttons(message).into_iter().filter(|b| click(b).element == Element::RunHook).cloned().collect::<Vec<_>>()
    };
    let mut walk = Walk::start().with_hook(HookMode::OnClick);
    walk.walk_to(6);
    walk.take(&carol(), "rollback", "error rate tripled after the deploy");
    let message = rendered(&current_card(&walk.release, &walk.ctx()));
    let offered = hook_button(&message);
    assert_eq!(offered.len(), 1, "one Run rollback hook button");
    assert_eq!((text(&offered[0]["label"]), &offered[0]["disabled"]), ("Run rollback hook", &json!(false)));

    walk.ok(&carol(), Command::RunRollbackHook);
    let waiting = rendered(&current_card(&walk.release, &walk.ctx()));
    assert!(hook_button(&waiting).is_empty(), "no second run while one waits");
    assert!(description(&waiting).contains("⏳ Rollback hook run by Carol"), "{}", description(&waiting));

    let runner = crate::domain::Actor::new(crate::domain::Platform::System, "rollback-hook", "shipgate rollback hook");
    walk.ok(&runner, Command::StartRollbackHook { attempt: 1 });
    walk.minutes(1);
    let output = "exit status 1\nkubectl rollout undo deployment/api\nerror: `api` not found";
    let failed = HookOutcome::Failed { detail: output.into() };
    walk.ok(&runner, Command::RecordRollbackHookOutcome { attempt: 1, outcome: failed });
    let message = rendered(&current_card(&walk.release, &walk.ctx()));
    assert_eq!(hook_button(&message).len(), 1, "a failed run may be run again");
    let body = description(&message);
    assert!(body.contains("❌ Rollback hook run by Carol"), "{body}");
    // Backticks in the output cannot end the code block early.
    assert!(
        body.contains(
            "```\nexit status 1\nkubectl rollout undo deployment/api\nerror: \u{2035}api\u{2035} not found\n```"
        ),
        "{body}"
    );
    assert_conventions(&current_card(&walk.release, &walk.ctx()), &message);
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

/// A playbook whose first step has `items` items and `paths` failure paths.
fn crowded(items: usize, paths: usize, text_len: usize) -> Walk {
    let mut playbook = Playbook::ship_to_production();
    let step = &mut playbook.steps[0];
    step.items = (0..items)
        .map(|i| Item { id: ItemId::new(format!("item-{i}")), text: format!("{i:02} {}", "x".repeat(text_len)) })
        .collect();
    step.failure_paths = (0..paths)
        .map(|i| FailurePath {
            id: format!("path-{i}").as_str().into(),
            label: format!("Failure path {i}"),
            action: FailureAction::Abort,
            to: None,
            follow_up: None,
            note_required: true,
            roles: vec![],
        })
        .collect();
    Walk::start_with(playbook)
}

#[test]
fn a_checklist_that_fits_once_rows_are_shared_shows_every_item() {
    // 22 items and 3 controls (gate, Reject, one path): 25 buttons in 5 shared rows.
    let walk = crowded(22, 1, 20);
    let card = card(&walk, StepRef::Step(0));
    let message = rendered(&card);
    let buttons = buttons(&message);
    assert_eq!(buttons.len(), 25);
    assert!(buttons.iter().any(|b| click(b).element == Element::Reject));
    assert!(!description(&message).contains("have no button"));
}

#[test]
fn a_checklist_too_long_for_the_buttons_keeps_the_gate_and_unticked_items_first() {
    let mut walk = crowded(30, 4, 280);
    for i in 0..3 {
        walk.tick(&carol(), &format!("item-{i}"));
    }
    let card = card(&walk, StepRef::Step(0));
    let message = rendered(&card);
    let targets: Vec<Element> = buttons(&message).iter().map(|b| click(b).element).collect();
    assert_eq!(targets.len(), 25);
    assert!(targets.contains(&Element::Gate));
    assert!(!targets.contains(&Element::Reject), "Reject goes first: the paths offer the same");
    for path in 0..4 {
        assert!(targets.contains(&Element::FailurePath(path)));
    }
    // 20 item buttons: the 27 unticked come first, so no ticked item has one.
    let items: Vec<usize> =
        targets.iter().filter_map(|t| if let Element::Item(i) = t { Some(*i) } else { None }).collect();
    assert_eq!(items, (3..23).collect::<Vec<_>>());
    assert!(description(&message).contains("🔽 10 of 30 items have no button here"), "{}", description(&message));
    // Every item is still listed, shortened to fit the description.
    assert!(description(&message).contains("⬜ 29 xxx"));
    assert!(description(&message).contains("✅ 00 xxx"));
}

#[test]
fn ephemeral_replies_and_updates_have_the_documented_shape() {
    assert_eq!(
        ephemeral("you need the release-manager role"),
        json!({ "type": 4, "data": { "content": "you need the release-manager role", "flags": 64, "allowed_mentions": { "parse": [] } } })
    );
    let long = ephemeral(&"a".repeat(3000));
    assert_eq!(text(&long["data"]["content"]).chars().count(), 2000);
    assert!(text(&long["data"]["content"]).ends_with('…'));

    let card = card(&Walk::start(), StepRef::Step(0));
    assert_eq!(update_message(&card), json!({ "type": 7, "data": message(&card) }));
}

#[test]
fn modals_carry_their_target_and_fit_discords_limits() {
    let build = card(&at_step(2), StepRef::Step(2));
    let tests = card(&at_step(1), StepRef::Step(1));
    let production = card(&at_step(5), StepRef::Step(5));
    let smoke = card(&at_step(4), StepRef::Step(4));
    let forms = [
        (&tests, ModalForm::Evidence(EvidenceForm::TestResult)),
        (&build, ModalForm::Evidence(EvidenceForm::Artifact)),
        (&production, ModalForm::Evidence(EvidenceForm::ProductionDeploy)),
        (&smoke, ModalForm::RejectReason),
        (&tests, ModalForm::FailureNote(1)),
        (&tests, ModalForm::FailureNote(9)),
    ];
    for (card, form) in forms {
        let modal = modal(card, form).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(modal["type"], 9);
        let data = &modal["data"];
        let target = ModalTarget::decode(text(&data["custom_id"])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(target, ModalTarget::on(card, form));
        assert!((1..=limit::MODAL_TITLE).contains(&text(&data["title"]).chars().count()), "{}", data["title"]);
        let rows = data["components"].as_array().map_or(&[][..], Vec::as_slice);
        // The form's context first, as a text display, then at most five inputs.
        let inputs: Vec<&Value> = rows.iter().filter(|row| row["type"] != 10).collect();
        assert!(rows.iter().take_while(|row| row["type"] == 10).count() == rows.len() - inputs.len());
        assert!((1..=5).contains(&inputs.len()));
        for row in inputs {
            assert_eq!(row["type"], 1);
            let input = &row["components"][0];
            assert_eq!(input["type"], 4);
            assert!(text(&input["label"]).chars().count() <= limit::INPUT_LABEL);
            assert!(text(&input["placeholder"]).chars().count() <= limit::INPUT_PLACEHOLDER);
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
        })
    );
}

#[test]
fn a_card_whose_release_id_cannot_be_encoded_is_shown_without_buttons() {
    let mut card = card(&Walk::start(), StepRef::Step(0));
    card.release_id = "not:a:release".into();
    let message = message(&card);
    assert_eq!(message["components"], json!([]));
    assert!(description(&message).contains("buttons are unavailable"));
    assert!(modal(&card, ModalForm::RejectReason).is_err());
}

#[test]
fn text_is_clipped_with_an_ellipsis_and_escaped() {
    assert_eq!(clip("abcdef", 4), "abc…");
    assert_eq!(clip("abc", 3), "abc");
    assert_eq!(clip("ab\\*cd", 4), "ab…", "a cut escape is dropped");
    assert_eq!(escape("*bold* <@123> [link](x)\nnext"), "\\*bold\\* \\<@123> \\[link\\](x) next");
}

#[test]
fn a_closed_card_in_a_custom_context_is_fully_disabled() {
    let walk = at_step(3);
    let ctx = CardContext { stalled: true, ..walk.ctx() };
    let card = step_card(&walk.release, StepRef::Step(2), &ctx).unwrap_or_else(|| panic!("step 3"));
    let message = rendered(&card);
    assert!(!buttons(&message).is_empty());
    assert!(buttons(&message).iter().all(|b| b["disabled"] == true));
}

/// The gate field's text of a rendered card.
fn gate_text(message: &Value) -> String {
    let fields = message["embeds"][0]["fields"].as_array().map_or(&[][..], Vec::as_slice);
    fields
        .iter()
        .find(|f| text(&f["name"]).starts_with("Gate"))
        .map(|f| text(&f["value"]).to_owned())
        .unwrap_or_else(|| panic!("a gate field: {message}"))
}

#[test]
fn the_gate_into_production_names_the_artifact_it_approved() {
    let walk = at_step(5);
    let message = rendered(&card(&walk, StepRef::Step(4)));
    assert!(gate_text(&message).contains("Approvals 1/1: Bob"), "{}", gate_text(&message));
    assert!(gate_text(&message).contains("for artifact `111111111111`"), "{}", gate_text(&message));
}

#[test]
fn a_rejected_gates_closed_card_says_who_rejected_it_and_why() {
    let mut walk = at_step(4);
    let before = walk.release.clone();
    walk.reject(&bob(), "checkout *broken* on staging");
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
    assert!(buttons(&message).iter().all(|b| b["disabled"] == true));
    let gate = gate_text(&message);
    assert!(gate.contains("✖ Rejected by Bob"), "{gate}");
    assert!(gate.contains(r"checkout \*broken\* on staging → Smoke check failed"), "escaped: {gate}");
}

#[test]
fn every_open_card_has_a_reject_button_beside_its_gate() {
    for index in 0..8 {
        let walk = at_step(index);
        let message = rendered(&card(&walk, StepRef::Step(index)));
        let all = buttons(&message);
        let gate = all.iter().position(|b| b["style"] == 1).unwrap_or_else(|| panic!("a gate button"));
        let reject = all.iter().position(|b| click(b).element == Element::Reject);
        assert_eq!(reject, Some(gate + 1), "step {}: {message}", index + 1);
        assert_eq!(all[gate + 1]["style"], 4);
    }
}

mod rollback_notice_message {
    use super::*;
    use crate::domain::card::rollback_notice::rollback_notice as notice_of;

    /// A release watched in production whose error rate jumps to 5% at the third sample.
    fn tripped() -> Walk {
        let mut walk = Walk::watching();
        for rate in [0.004, 0.005, 0.05] {
            walk.sample_error_rate(rate);
        }
        walk
    }

    #[test]
    fn the_notice_says_what_was_deployed_what_broke_and_what_was_rolled_back_with_its_chart() {
        let mut walk = tripped();
        let chart = FileAttachment::png("rollback-chart.png", vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'])
            .expect("a PNG name and signature");
        let underway = notice_of(&walk.release, &walk.ctx()).expect("rolling back");
        let in_channel = rollback_notice(&underway, &ThreadRef::Discord("1300000000000000001"), Some(&chart));
        let elsewhere = rollback_notice(&underway, &ThreadRef::Url("https://example.slack.com/archives/C1/p1"), None);
        let unthreaded = rollback_notice(&underway, &ThreadRef::None, None);

        walk.now += chrono::Duration::minutes(4);
        walk.revert_production();
        walk.tick_all(&carol());
        walk.approve(&alice());
        let recovered = notice_of(&walk.release, &walk.ctx()).expect("rolled back");
        let in_thread = rollback_notice(&recovered, &ThreadRef::Here, Some(&chart));
        for message in [&in_channel, &elsewhere, &unthreaded, &in_thread] {
            assert!(text(&message["content"]).chars().count() <= limit::CONTENT);
            assert_eq!(message["allowed_mentions"], json!({ "parse": [] }));
        }
        insta::assert_json_snapshot!(
            "rollback_notice",
            json!({
                "underway_in_an_incident_channel": in_channel,
                "underway_linked_to_another_platform": elsewhere,
                "underway_without_a_thread": unthreaded,
                "recovered_in_the_thread": in_thread,
            })
        );
    }
}
