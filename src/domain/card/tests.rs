//! Cards as people see them, one test per thing a card must say.

use super::fixtures::*;
use super::*;
use crate::domain::freeze::FixedFreeze;
use crate::domain::release::Command;
use chrono::TimeZone;

fn card(walk: &Walk, step: StepRef) -> Card {
    step_card(&walk.release, step, &walk.ctx()).unwrap_or_else(|| panic!("no card for {step:?}"))
}

fn closed_why(card: &Card) -> &ClosedWhy {
    match &card.state {
        CardState::Closed { why } => why,
        CardState::Open => panic!("{} is open", card.title),
    }
}

#[test]
fn a_fresh_release_shows_step_1_open_with_nothing_ticked() {
    let walk = Walk::start();
    let card = card(&walk, StepRef::Step(0));
    assert_eq!(card.title, "Step 1 — Pre-Flight Checks");
    assert_eq!(card.step_id.as_str(), "pre-flight");
    assert_eq!((card.step_index(), card.attempt), (Some(0), 1));
    assert_eq!(card.progress, Progress { current: 1, total: 8 });
    assert_eq!(card.progress.bar(), "▰▱▱▱▱▱▱▱ 1/8");
    assert_eq!(card.release.text(), "api 1.4.0 · 3f9c2e1");
    assert_eq!(card.release.started.by, "Alice");
    assert_eq!(card.release.started.local, "Wed 2 Dec 10:00 EST");
    assert_eq!(card.items.len(), 5);
    assert!(card.items.iter().all(|i| i.ticked.is_none()));
    assert_eq!(card.gate.rule, "every box ticked · 1 release-manager or engineer");
    assert_eq!(card.gate.text, "If any box is unchecked, stop. Resolve the gap before proceeding.");
    assert_eq!((card.gate.unticked, card.gate.can_pass, card.gate.evidence.as_ref()), (5, false, None));
    assert_eq!(card.gate.reject_path.as_ref().map(FailurePathId::as_str), Some("abort"));
    assert_eq!(card.failure_paths.len(), 1);
    assert_eq!(card.failure_paths[0].leads_to, "abort the release");
    assert!(card.failure_paths[0].note_required);
    assert_eq!(card.state, CardState::Open);
    assert_eq!(card.inputs, Inputs::default());
    assert!(card.banners.is_empty() && card.evidence.is_empty());
}

#[test]
fn a_ticked_item_says_who_ticked_it_and_when_in_the_teams_time() {
    let mut walk = Walk::start();
    walk.minutes(4);
    walk.tick(&carol(), "prs-merged");
    let card = card(&walk, StepRef::Step(0));
    let ticked = card.items[0].ticked.as_ref().unwrap_or_else(|| panic!("ticked"));
    assert_eq!((ticked.by.as_str(), ticked.local.as_str()), ("Carol", "10:04 EST"));
    assert_eq!(ticked.at, wednesday() + Duration::minutes(4));
    assert!(!card.items[1].is_ticked());
    assert_eq!((card.gate.unticked, card.gate.can_pass), (4, false));
}

#[test]
fn the_gate_can_pass_once_every_box_is_ticked_and_still_waits_for_its_approver() {
    let mut walk = Walk::start();
    walk.tick_all(&carol());
    let card = card(&walk, StepRef::Step(0));
    assert!(card.gate.can_pass);
    assert_eq!(card.gate.approvals.given, Vec::new());
    assert_eq!(card.gate.approvals.required, 1);
    assert!(card.is_open());
}

#[test]
fn a_passed_gate_closes_its_card_and_names_the_approver() {
    let mut walk = Walk::start();
    walk.pass_pre_flight();
    let card = card(&walk, StepRef::Step(0));
    let ClosedWhy::GatePassed { by, approvers } = closed_why(&card) else { panic!("{:?}", card.state) };
    assert_eq!((by.by.as_str(), approvers.as_slice()), ("Bob", ["Bob".to_owned()].as_slice()));
    assert_eq!(closed_why(&card).text(), "Gate passed · approved by Bob · 10:06 EST");
    assert_eq!(card.gate.passed_by.as_ref().map(|s| s.by.as_str()), Some("Bob"));
    assert!(card.gate.can_pass);
    // A closed card offers nothing and warns of nothing.
    assert_eq!(card.inputs, Inputs::default());
    assert!(card.banners.is_empty());
}

#[test]
fn an_automatic_gate_says_it_passed_by_itself() {
    let mut walk = Walk::start();
    walk.pass_pre_flight();
    walk.pass_tests();
    let card = card(&walk, StepRef::Step(1));
    assert_eq!(card.gate.rule, "tests green · passes by itself");
    assert_eq!(closed_why(&card).text(), "Gate passed by itself · last update by CI · 10:16 EST");
    assert_eq!(card.evidence.len(), 1);
    assert_eq!(card.evidence[0].text(), "Tests unit: 120 passed, 0 failed");
}

#[test]
fn failing_tests_show_what_the_gate_waits_for_and_offer_the_test_result_form() {
    let mut walk = Walk::start();
    walk.pass_pre_flight();
    walk.tests("unit", 117, 3);
    let card = card(&walk, StepRef::Step(1));
    assert!(card.is_open());
    let evidence = card.gate.evidence.as_ref().unwrap_or_else(|| panic!("step 2 needs evidence"));
    assert_eq!(evidence.what, "a recorded test run with zero failures");
    assert!(!evidence.recorded);
    assert!(evidence.waiting_for.as_deref().is_some_and(|w| w.contains("unit (3 failed)")), "{evidence:?}");
    assert!(!card.gate.can_pass);
    assert_eq!(card.evidence[0].text(), "Tests unit: 117 passed, 3 failed");
    assert_eq!(card.inputs.evidence, [EvidenceForm::TestResult]);
    // Every gate can be rejected, an automatic one too: into the step's first path.
    assert_eq!(card.gate.reject_path, Some(FailurePathId::new("real-regression")));
    let reject = card.gate.reject.as_ref().unwrap_or_else(|| panic!("a reject offer"));
    assert_eq!(reject.leads_to, "restart from Step 1 — Pre-Flight Checks");
    let leads: Vec<&str> = card.failure_paths.iter().map(|p| p.leads_to.as_str()).collect();
    assert_eq!(leads, ["restart from Step 1 — Pre-Flight Checks", "retry this step"]);
}

#[test]
fn a_restart_supersedes_the_card_and_opens_a_new_attempt() {
    let mut walk = Walk::start();
    walk.pass_pre_flight();
    walk.tests("unit", 117, 3);
    let before = walk.release.clone();
    walk.take(&carol(), "real-regression", "checkout total is off by one");
    assert_eq!(walk.at(), "pre-flight");

    // From the release after the restart: closed, though its results were cleared.
    let old = card(&walk, StepRef::Step(1));
    assert_eq!(closed_why(&old), &ClosedWhy::Superseded);
    assert_eq!(old.attempt, 1);
    // From the release before it: the card as people last saw it, frozen.
    let frozen = step_card(&before, StepRef::Step(1), &walk.ctx())
        .unwrap_or_else(|| panic!("step 2"))
        .closed(ClosedWhy::Superseded);
    assert_eq!(closed_why(&frozen).text(), "Superseded by a restart · a newer card replaces this one");
    assert_eq!(frozen.evidence[0].text(), "Tests unit: 117 passed, 3 failed");
    assert_eq!(frozen.inputs, Inputs::default());
    assert_eq!(frozen.gate.evidence.as_ref().and_then(|e| e.waiting_for.as_ref()), None);

    let fresh = card(&walk, StepRef::Step(0));
    assert!(fresh.is_open());
    assert_eq!(fresh.attempt, 2);
    assert!(fresh.items.iter().all(|i| !i.is_ticked()));
}

#[test]
fn a_finished_release_closes_its_last_card_with_the_reason() {
    let mut walk = Walk::start();
    walk.take(&carol(), "abort", "the payment provider is down");
    let card = card(&walk, StepRef::Step(0));
    assert_eq!(
        closed_why(&card),
        &ClosedWhy::ReleaseFinished { status: Status::Aborted, reason: Some("the payment provider is down".into()) }
    );
    assert_eq!(closed_why(&card).text(), "Release aborted: the payment provider is down");
}

#[test]
fn a_completed_release_closes_its_last_card_as_passed() {
    let mut walk = Walk::start();
    walk.walk_to(7);
    walk.tick_all(&carol());
    walk.approve(&bob());
    assert_eq!(walk.release.status, Status::Completed);
    let card = current_card(&walk.release, &walk.ctx());
    assert_eq!(card.title, "Step 8 — Rollback Criteria");
    assert_eq!(card.progress.bar(), "▰▰▰▰▰▰▰▰ 8/8");
    assert!(matches!(closed_why(&card), ClosedWhy::GatePassed { .. }));
}

#[test]
fn steps_not_reached_are_closed_and_missing_ones_have_no_card() {
    let walk = Walk::start();
    assert_eq!(closed_why(&card(&walk, StepRef::Step(5))), &ClosedWhy::NotReached);
    assert_eq!(step_card(&walk.release, StepRef::Step(8), &walk.ctx()), None);
    assert_eq!(step_card(&walk.release, StepRef::Rollback, &walk.ctx()), None);
}

#[test]
fn the_release_line_shows_the_artifact_once_it_is_known() {
    let mut walk = Walk::start();
    walk.walk_to(2);
    assert_eq!(card(&walk, StepRef::Step(2)).release.text(), "api 1.4.0 · 3f9c2e1");
    assert_eq!(card(&walk, StepRef::Step(2)).inputs.evidence, [EvidenceForm::Artifact]);
    walk.artifact();
    let card = card(&walk, StepRef::Step(2));
    assert_eq!(card.release.text(), "api 1.4.0 · 3f9c2e1 · artifact 111111111111");
    assert_eq!(
        card.evidence[0].text(),
        "Artifact 1.4.0 · 3f9c2e1 · 111111111111 · 50.0 MiB · registry.example.com/api:1.4.0"
    );
    assert_eq!(card.gate.evidence.as_ref().map(|e| e.recorded), Some(true));
    assert!(!card.gate.can_pass, "the size-and-contents box is still unticked");
}

#[test]
fn the_smoke_gate_needs_someone_other_than_the_starter() {
    let mut walk = Walk::start();
    walk.walk_to(4);
    let card = card(&walk, StepRef::Step(4));
    assert_eq!(card.gate.rule, "every box ticked · healthy staging deploy · 1 release-manager, not the starter");
    assert_eq!(card.gate.evidence.as_ref().map(|e| e.recorded), Some(true));
    assert_eq!(card.gate.reject_path.as_ref().map(FailurePathId::as_str), Some("smoke-failed"));
    assert!(card.inputs.evidence.is_empty());
}

#[test]
fn a_freeze_shows_on_the_production_step_and_as_a_warning_before_it() {
    let mut walk = Walk::start();
    walk.freeze = friday_afternoon(walk.now);
    let ctx = walk.ctx_with_freeze();
    let before = step_card(&walk.release, StepRef::Step(0), &ctx).unwrap_or_else(|| panic!("step 1"));
    let [Banner::Frozen { reasons, until_local, here, .. }] = before.banners.as_slice() else {
        panic!("{:?}", before.banners)
    };
    assert_eq!(
        (reasons.as_slice(), until_local.as_deref(), *here),
        (["Friday afternoon".to_owned()].as_slice(), Some("Mon 7 Dec 00:00 EST"), false)
    );
    assert_eq!(before.banners[0].text(), "Heads-up: production is frozen until Mon 7 Dec 00:00 EST (Friday afternoon)");

    walk.freeze = FixedFreeze::default();
    walk.walk_to(5);
    walk.freeze = friday_afternoon(walk.now);
    let ctx = walk.ctx_with_freeze();
    let production = step_card(&walk.release, StepRef::Step(5), &ctx).unwrap_or_else(|| panic!("step 6"));
    assert!(matches!(
        production.banners.as_slice(),
        [Banner::Frozen { here: true, .. }, Banner::HoldsProduction { .. }]
    ));
    assert!(production.banners[0]
        .text()
        .starts_with("Production is frozen until Mon 7 Dec 00:00 EST (Friday afternoon)"));
    // Once production is behind the release, the freeze no longer concerns it.
    walk.freeze = FixedFreeze::default();
    walk.pass_production();
    let ctx = CardContext { freeze: Some(FreezeVerdict::Frozen { reasons: vec![], next_open: None }), ..walk.ctx() };
    let monitor = step_card(&walk.release, StepRef::Step(6), &ctx).unwrap_or_else(|| panic!("step 7"));
    assert!(!monitor.banners.iter().any(|b| matches!(b, Banner::Frozen { .. })), "{:?}", monitor.banners);
}

#[test]
fn times_are_in_the_teams_time_zone_in_and_out_of_daylight_saving() {
    let mut walk = Walk::start();
    walk.minutes(4);
    walk.tick(&carol(), "prs-merged");
    let winter = card(&walk, StepRef::Step(0));
    assert_eq!(winter.release.started.local, "Wed 2 Dec 10:00 EST");
    assert_eq!(winter.items[0].ticked.as_ref().map(|s| s.local.as_str()), Some("10:04 EST"));

    // The same release read in July: New York is on EDT, and another day shows its date.
    let mut summer = walk.release.clone();
    let july = Utc.with_ymd_and_hms(2026, 7, 1, 14, 0, 0).single().unwrap_or_else(|| panic!("instant"));
    summer.started.at = july;
    if let Some(mark) = summer.steps[0].ticked.values_mut().next() {
        mark.at = july + Duration::minutes(4);
    }
    let ctx = CardContext { now: july + Duration::minutes(5), ..walk.ctx() };
    let card = step_card(&summer, StepRef::Step(0), &ctx).unwrap_or_else(|| panic!("step 1"));
    assert_eq!(card.release.started.local, "Wed 1 Jul 10:00 EDT");
    assert_eq!(card.items[0].ticked.as_ref().map(|s| s.local.as_str()), Some("10:04 EDT"));

    let next_day = CardContext { now: walk.now + Duration::days(1), ..walk.ctx() };
    let card = step_card(&walk.release, StepRef::Step(0), &next_day).unwrap_or_else(|| panic!("step 1"));
    assert_eq!(card.items[0].ticked.as_ref().map(|s| s.local.as_str()), Some("Wed 2 Dec 10:04 EST"));

    let utc = CardContext { time_zone: chrono_tz::UTC, ..walk.ctx() };
    let card = step_card(&walk.release, StepRef::Step(0), &utc).unwrap_or_else(|| panic!("step 1"));
    assert_eq!(card.items[0].ticked.as_ref().map(|s| s.local.as_str()), Some("15:04 UTC"));
}

#[test]
fn the_watch_says_until_when_in_local_time() {
    let mut walk = Walk::start();
    walk.walk_to(6);
    walk.minutes(3);
    let card = card(&walk, StepRef::Step(6));
    let evidence = card.gate.evidence.as_ref().unwrap_or_else(|| panic!("the watch is evidence"));
    assert_eq!(
        evidence.waiting_for.as_deref(),
        Some("the 15-minute watch after the production deploy (until 10:56 EST, 12 min left)")
    );
    assert_eq!(
        card.evidence.last().map(EvidenceLine::text).as_deref(),
        Some("Watching production since the deploy at 10:41 EST, until at least 10:56 EST")
    );
    assert_eq!(card.gate.rule, "every box ticked · watched 15 min · 1 release-manager or engineer");
    assert!(card.banners.contains(&Banner::HoldsProduction { service: ServiceName::new("api") }));
}

#[test]
fn a_rollback_gets_its_own_card_and_closes_the_step_it_started_from() {
    let mut walk = Walk::start();
    walk.walk_to(6);
    walk.minutes(5);
    walk.take(&carol(), "rollback", "error rate tripled");
    let monitor = card(&walk, StepRef::Step(6));
    assert_eq!(closed_why(&monitor), &ClosedWhy::RollingBack);

    let rollback = current_card(&walk.release, &walk.ctx());
    assert_eq!(rollback, card(&walk, StepRef::Rollback));
    assert_eq!(rollback.title, "Rollback — Rollback procedure");
    assert_eq!(rollback.step_id.as_str(), "rollback");
    assert_eq!((rollback.step_index(), rollback.progress.current), (None, 7));
    assert!(rollback.is_open());
    let info = rollback.rollback.as_ref().unwrap_or_else(|| panic!("rollback info"));
    assert_eq!(info.from, "Step 7 — Post-Deploy Monitoring");
    assert_eq!(info.reason, "error rate tripled");
    assert_eq!(info.then_words, "the release ends rolled back");
    assert_eq!(info.target.as_ref().map(|t| t.version.as_str()), Some("1.3.2"));
    assert_eq!(info.deployed.as_ref().map(ArtifactDigest::short), Some("111111111111"));
    assert_eq!(rollback.inputs.evidence, [EvidenceForm::ProductionDeploy]);
    assert_eq!(
        rollback.gate.rule,
        "every box ticked · previous artifact healthy in production · 1 release-manager or engineer"
    );
    assert!(!rollback.gate.can_pass);
    assert!(rollback.failure_paths.is_empty() && rollback.gate.reject_path.is_none());

    walk.revert_production();
    walk.tick_all(&carol());
    let ready = current_card(&walk.release, &walk.ctx());
    assert!(ready.gate.can_pass);
    assert_eq!(
        ready.evidence[0].text(),
        "Production revert to 000000000000: succeeded, health checks passing · rolling · CI, 10:46 EST"
    );
    walk.approve(&bob());
    let done = card(&walk, StepRef::Rollback);
    assert_eq!(closed_why(&done).text(), "Gate passed · approved by Bob · 10:46 EST");
    assert_eq!(walk.release.status, Status::RolledBack);
}

#[test]
fn a_pending_freeze_override_offers_its_approval_and_shows_once_approved() {
    let mut walk = Walk::hotfix();
    walk.ok(&alice(), Command::RequestFreezeOverride { reason: "card payments fail for EU customers".into() });
    let card1 = card(&walk, StepRef::Step(0));
    assert!(card1.inputs.approve_override);
    assert_eq!(
        card1.banners,
        [Banner::OverrideRequested { by: "Alice".into(), reason: "card payments fail for EU customers".into() }]
    );
    assert_eq!(card1.release.text(), "api 1.4.0 · 3f9c2e1 · hotfix");

    walk.minutes(1);
    walk.ok(&bob(), Command::ApproveFreezeOverride);
    let card2 = card(&walk, StepRef::Step(0));
    assert!(!card2.inputs.approve_override);
    assert_eq!(
        card2.banners[0].text(),
        "Freeze override approved by Bob (requested by Alice: card payments fail for EU customers), in force until 12:01 EST"
    );
}

#[test]
fn locks_show_on_the_steps_up_to_the_gate_they_block() {
    let mut walk = Walk::start();
    let until = walk.now + Duration::hours(4);
    let mut other = lock_on_production(until);
    other.service = ServiceName::new("billing");
    let mut warning = lock_on_production(until);
    warning.environment = Some(Environment::Staging);
    warning.warn_only = true;
    let ctx = CardContext { locks: vec![lock_on_production(until), other, warning], ..walk.ctx() };
    let card = step_card(&walk.release, StepRef::Step(0), &ctx).unwrap_or_else(|| panic!("step 1"));
    let texts: Vec<String> = card.banners.iter().map(Banner::text).collect();
    assert_eq!(
        texts,
        [
            "api production locked by Dana until 14:00 EST: database migration running (the gate is blocked)",
            "api staging locked by Dana until 14:00 EST: database migration running (warning only)",
        ]
    );

    walk.walk_to(4);
    let ctx = CardContext { locks: ctx.locks.clone(), ..walk.ctx() };
    let smoke = step_card(&walk.release, StepRef::Step(4), &ctx).unwrap_or_else(|| panic!("step 5"));
    assert_eq!(smoke.banners.len(), 1, "past staging, only the production lock concerns the release");
}

#[test]
fn a_stalled_step_says_so_on_its_open_card_only() {
    let mut walk = Walk::start();
    let ctx = CardContext { stalled: true, ..walk.ctx() };
    let open = step_card(&walk.release, StepRef::Step(0), &ctx).unwrap_or_else(|| panic!("step 1"));
    assert_eq!(open.banners, [Banner::Stalled]);
    walk.pass_pre_flight();
    let closed = step_card(&walk.release, StepRef::Step(0), &ctx).unwrap_or_else(|| panic!("step 1"));
    assert!(closed.banners.is_empty());
}

#[test]
fn the_progress_bar_fits_long_playbooks() {
    assert_eq!(Progress { current: 3, total: 8 }.bar(), "▰▰▰▱▱▱▱▱ 3/8");
    assert_eq!(Progress { current: 1, total: 40 }.bar(), "▰▱▱▱▱▱▱▱▱▱▱▱ 1/40");
    assert_eq!(Progress { current: 40, total: 40 }.bar(), "▰▰▰▰▰▰▰▰▰▰▰▰ 40/40");
}

#[test]
fn every_gate_card_offers_reject_into_the_steps_first_path() {
    for index in 0..8 {
        let mut walk = Walk::start();
        walk.walk_to(index);
        let card = card(&walk, StepRef::Step(index));
        let reject = card.gate.reject.as_ref().unwrap_or_else(|| panic!("step {} offers no reject", index + 1));
        let first = &walk.release.playbook.steps[index].failure_paths[0];
        assert_eq!(reject.path.as_ref(), Some(&first.id), "step {}", index + 1);
        assert_eq!(reject.label, first.label);
    }
    // Before anything reached production, rejecting the production step goes back to staging.
    let mut at_production = Walk::start();
    at_production.walk_to(5);
    let card = card(&at_production, StepRef::Step(5));
    assert_eq!(
        card.gate.reject.map(|r| r.leads_to),
        Some("nothing reached production: restart from Step 4 — Deploy to Staging".to_owned())
    );
    // The rollback procedure has no path: its reject ends the release once production is back.
    let mut walk = Walk::start();
    walk.walk_to(7);
    walk.take(&carol(), "rollback", "checkout broken");
    let rollback = card_of(&walk, StepRef::Rollback);
    let reject = rollback.gate.reject.unwrap_or_else(|| panic!("the rollback card offers reject"));
    assert_eq!(reject.path, None);
    assert!(reject.leads_to.contains("ends aborted"), "{}", reject.leads_to);
}

fn card_of(walk: &Walk, step: StepRef) -> Card {
    step_card(&walk.release, step, &walk.ctx()).unwrap_or_else(|| panic!("no card for {step:?}"))
}

#[test]
fn a_rejected_gate_names_who_why_and_where_on_the_card_it_closes() {
    let mut walk = Walk::start();
    walk.walk_to(4);
    let before = walk.release.seq;
    walk.reject(&bob(), "checkout broken on staging");
    // The card is closed as the release stood just before the restart cleared the attempt.
    let restart = walk
        .events_after(before)
        .iter()
        .find(|r| matches!(r.event, crate::domain::release::Event::Restarted { .. }))
        .map(|r| r.seq)
        .unwrap_or_else(|| panic!("a restart"));
    let history: Vec<_> = walk.events_after(0)[..usize::try_from(restart - 1).unwrap_or(0)].to_vec();
    let as_it_was = Release::fold(walk.release.id.clone(), &history).unwrap_or_else(|e| panic!("{e}"));
    let closed = step_card(&as_it_was, StepRef::Step(4), &walk.ctx())
        .unwrap_or_else(|| panic!("a card"))
        .closed(ClosedWhy::Superseded);
    let rejected = closed.gate.rejected.unwrap_or_else(|| panic!("the rejection shows"));
    assert_eq!(rejected.by.by, "Bob");
    assert_eq!(rejected.reason, "checkout broken on staging");
    assert!(rejected
        .text()
        .ends_with(": checkout broken on staging → Smoke check failed: diagnose on staging and re-deploy"));
    // The fresh attempt starts without it.
    assert_eq!(card_of(&walk, StepRef::Step(4)).gate.rejected, None);
}

#[test]
fn the_gate_into_production_shows_the_artifact_it_approved() {
    let mut walk = Walk::start();
    walk.walk_to(5);
    let smoke = card_of(&walk, StepRef::Step(4));
    assert_eq!(smoke.gate.approved_digest, Some(digest(DIGEST)));
    // Other gates approve no artifact.
    assert_eq!(card_of(&walk, StepRef::Step(0)).gate.approved_digest, None);
}

#[test]
fn a_noticed_stall_shows_on_the_open_card_until_someone_acts() {
    let mut walk = Walk::start();
    walk.walk_to(1);
    walk.notice_stall(chrono::Duration::hours(3));
    assert!(walk.release.stalled());
    walk.tests("unit", 10, 1);
    assert!(!walk.release.stalled());
}

fn hook_runner() -> crate::domain::Actor {
    crate::domain::Actor::new(crate::domain::Platform::System, "rollback-hook", "shipgate rollback hook")
}

#[test]
fn the_rollback_card_offers_the_hook_once_and_shows_how_it_went() {
    use crate::domain::release::{HookMode, HookOutcome};
    // (hook configured as, offered before any run)
    for (mode, offered) in [(HookMode::None, false), (HookMode::OnClick, true), (HookMode::Auto, false)] {
        let mut walk = Walk::start().with_hook(mode);
        walk.walk_to(6);
        walk.take(&carol(), "rollback", "error rate tripled");
        let rollback = card(&walk, StepRef::Rollback);
        assert_eq!(rollback.inputs.run_rollback_hook, offered, "{mode:?}");
        let hook = rollback.rollback.as_ref().and_then(|r| r.hook.clone());
        assert_eq!(hook.is_some(), mode == HookMode::Auto, "{mode:?}: auto asks for it at once");
    }

    let mut walk = Walk::start().with_hook(HookMode::OnClick);
    walk.walk_to(6);
    walk.take(&carol(), "rollback", "error rate tripled");
    walk.minutes(1);
    let local = |walk: &Walk| walk.now.with_timezone(&new_york()).format("%H:%M %Z").to_string();
    let asked = local(&walk);
    walk.ok(&carol(), Command::RunRollbackHook);
    let hook_of = |walk: &Walk| {
        let card = card(walk, StepRef::Rollback);
        let hook = card.rollback.as_ref().and_then(|r| r.hook.clone()).unwrap_or_else(|| panic!("no hook"));
        (card.inputs.run_rollback_hook, hook)
    };
    let (offered, hook) = hook_of(&walk);
    assert!(!offered, "not while a run waits");
    assert_eq!(hook.text(), format!("Rollback hook run by Carol at {asked}: waiting to start"));
    walk.ok(&hook_runner(), Command::StartRollbackHook { attempt: 1 });
    let (offered, hook) = hook_of(&walk);
    assert!(!offered, "not while it runs");
    assert_eq!(hook.text(), format!("Rollback hook run by Carol at {asked}: running since {asked}"));
    walk.minutes(2);
    let ended = local(&walk);
    let failed = HookOutcome::Failed { detail: "exit status 1".into() };
    walk.ok(&hook_runner(), Command::RecordRollbackHookOutcome { attempt: 1, outcome: failed.clone() });
    let (offered, hook) = hook_of(&walk);
    assert!(offered, "a failed run may be run again");
    assert_eq!(hook.outcome, Some(failed));
    assert_eq!(hook.text(), format!("Rollback hook run by Carol at {asked}: failed at {ended}"));
    walk.ok(&carol(), Command::RunRollbackHook);
    walk.ok(&hook_runner(), Command::StartRollbackHook { attempt: 2 });
    let done = HookOutcome::Succeeded { detail: "exit status 0".into() };
    walk.ok(&hook_runner(), Command::RecordRollbackHookOutcome { attempt: 2, outcome: done });
    let (offered, hook) = hook_of(&walk);
    assert!(!offered, "a successful run is not run again");
    assert_eq!(hook.text(), format!("Rollback hook (run 2) run by Carol at {ended}: succeeded at {ended}"));
}
