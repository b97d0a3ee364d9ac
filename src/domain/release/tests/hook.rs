//! The rollback hook: asked for by the rollback itself (`auto`) or by a person's click,
//! started and finished only by shipgate, never two runs at once, retried only by a person.

use super::*;

fn runner() -> Actor {
    Actor::new(Platform::System, "rollback-hook", "shipgate rollback hook")
}

fn start_hook(attempt: u32) -> Command {
    Command::StartRollbackHook { attempt }
}

fn finish(attempt: u32, outcome: HookOutcome) -> Command {
    Command::RecordRollbackHookOutcome { attempt, outcome }
}

fn succeeded() -> HookOutcome {
    HookOutcome::Succeeded { detail: "exit status 0\nreverted api to 1.3.2".into() }
}

fn failed() -> HookOutcome {
    HookOutcome::Failed { detail: "exit status 1\nkubectl: connection refused".into() }
}

fn unknown() -> HookOutcome {
    HookOutcome::Unknown { detail: "shipgate stopped while the hook ran".into() }
}

impl Harness {
    fn with_hook(mut self, mode: HookMode) -> Harness {
        self.policy.rollback_hook = mode;
        self
    }

    /// A release whose production deploy a person rolls back, with 1.3.2 live before it.
    fn rolling_back(mode: HookMode) -> Harness {
        let mut h = Harness::start().with_previous_live().with_hook(mode);
        h.drive_to_monitor();
        h.ok(&carol(), fail("monitor", "rollback", "error rate 3.1x baseline"));
        assert_eq!(h.release.status, Status::RollingBack);
        h
    }

    fn hook(&self) -> Option<&HookRun> {
        self.release.rollback.as_ref().and_then(RollbackState::hook)
    }
}

#[test]
fn with_auto_the_rollback_asks_for_the_hook_in_its_own_commit() {
    let mut h = Harness::start().with_previous_live().with_hook(HookMode::Auto);
    h.drive_to_monitor();
    let events = h.ok(&carol(), fail("monitor", "rollback", "error rate 3.1x baseline"));
    let at = events.iter().position(|e| matches!(e, Event::RollbackStarted { .. })).expect("rollback started");
    assert_eq!(events[at + 1], Event::RollbackHookRequested { attempt: 1, trigger: HookTrigger::Automatic });
    assert_eq!(h.release.hook_due_at(), Some(h.now), "the runner finds it from the same commit");
    assert_eq!(h.refused(&carol(), Command::RunRollbackHook).code, RejectionCode::HookRunning);
}

#[test]
fn whether_the_rollback_asks_for_the_hook_depends_on_config_and_a_target() {
    // (hook configured as, a known-good target exists, hook asked for by the rollback)
    let cases = [
        (HookMode::None, true, false),
        (HookMode::OnClick, true, false),
        (HookMode::Auto, true, true),
        // A first release has nothing known-good to go back to: nothing to run the hook with.
        (HookMode::Auto, false, false),
    ];
    for (mode, target, asked) in cases {
        let mut h = Harness::start().with_hook(mode);
        if target {
            h = h.with_previous_live();
        }
        h.drive_to_monitor();
        h.ok(&carol(), fail("monitor", "rollback", "errors doubled"));
        assert_eq!(h.hook().is_some(), asked, "{mode:?}, target {target}");
        assert_eq!(h.release.hook_due_at().is_some(), asked, "{mode:?}, target {target}");
    }
}

#[test]
fn a_tripped_criterion_with_auto_asks_for_the_hook_too() {
    let mut h = Harness::start().with_previous_live().with_hook(HookMode::Auto);
    h.drive_to_monitor();
    h.ok(&carol(), Command::ReportCriticalFlow { note: "checkout answers 500".into() });
    let run = h.hook().expect("asked for");
    assert_eq!((run.attempt, run.trigger), (1, HookTrigger::Automatic));
}

#[test]
fn one_click_asks_for_the_hook_and_the_runner_starts_and_finishes_it() {
    let mut h = Harness::rolling_back(HookMode::OnClick);
    assert!(h.hook().is_none(), "without auto nothing runs by itself");
    let events = h.ok(&carol(), Command::RunRollbackHook);
    assert_eq!(events, vec![Event::RollbackHookRequested { attempt: 1, trigger: HookTrigger::Person }]);
    assert_eq!(h.hook().unwrap().requested.by.display_name, "Carol");
    h.ok(&runner(), start_hook(1));
    assert!(h.hook().unwrap().started.is_some());
    assert!(h.release.hook_due_at().is_some(), "still without an outcome");
    h.ok(&runner(), finish(1, succeeded()));
    assert_eq!(h.hook().unwrap().finished.as_ref().map(|(o, _)| o.clone()), Some(succeeded()));
    assert_eq!(h.release.hook_due_at(), None);
}

#[test]
fn a_click_is_refused_where_the_hook_cannot_run() {
    fn active() -> Harness {
        let mut h = Harness::start().with_previous_live().with_hook(HookMode::OnClick);
        h.drive_to_monitor();
        h
    }
    fn clicked() -> Harness {
        let mut h = Harness::rolling_back(HookMode::OnClick);
        h.ok(&carol(), Command::RunRollbackHook);
        h
    }
    fn started() -> Harness {
        let mut h = clicked();
        h.ok(&runner(), start_hook(1));
        h
    }
    fn ended(outcome: HookOutcome) -> Harness {
        let mut h = started();
        h.ok(&runner(), finish(1, outcome));
        h
    }
    fn no_target() -> Harness {
        let mut h = Harness::start().with_hook(HookMode::OnClick);
        h.drive_to_monitor();
        h.ok(&carol(), fail("monitor", "rollback", "errors doubled"));
        h
    }
    fn manager_only() -> Harness {
        let mut playbook = Playbook::ship_to_production();
        playbook.rollback.tick_roles = vec![RoleName::new("release-manager")];
        let mut h = Harness::start_with(playbook, false).with_previous_live().with_hook(HookMode::OnClick);
        h.drive_to_monitor();
        h.ok(&bob(), fail("monitor", "rollback", "errors doubled"));
        h
    }
    let cases: Vec<(&str, Harness, Actor, RejectionCode)> = vec![
        ("not rolling back", active(), carol(), RejectionCode::NotRollingBack),
        ("no hook configured", Harness::rolling_back(HookMode::None), carol(), RejectionCode::NoRollbackHook),
        ("a run asked for", clicked(), bob(), RejectionCode::HookRunning),
        ("a run in flight", started(), bob(), RejectionCode::HookRunning),
        ("the last run succeeded", ended(succeeded()), bob(), RejectionCode::AlreadyRecorded),
        ("no known-good target", no_target(), carol(), RejectionCode::NothingToRollBack),
        ("no role of the playbook", Harness::rolling_back(HookMode::OnClick), mallory(), RejectionCode::NotAllowed),
        ("not a tick role of the procedure", manager_only(), carol(), RejectionCode::NotAllowed),
    ];
    for (why, mut h, actor, code) in cases {
        let refused = h.refused(&actor, Command::RunRollbackHook);
        assert_eq!(refused.code, code, "{why}: {}", refused.message);
    }
}

#[test]
fn a_failed_or_unknown_run_is_run_again_only_by_a_person() {
    for outcome in [failed(), unknown()] {
        let mut h = Harness::rolling_back(HookMode::Auto);
        h.ok(&runner(), start_hook(1));
        h.ok(&runner(), finish(1, outcome.clone()));
        assert_eq!(h.release.hook_due_at(), None, "{outcome:?}: never rerun by itself");
        let events = h.ok(&bob(), Command::RunRollbackHook);
        assert_eq!(events, vec![Event::RollbackHookRequested { attempt: 2, trigger: HookTrigger::Person }]);
        assert_eq!(h.release.rollback.as_ref().unwrap().hooks.len(), 2, "the first run stays in the history");
        // The runner cannot restart the old run.
        assert_eq!(h.refused(&runner(), start_hook(1)).code, RejectionCode::AlreadyRecorded);
        h.ok(&runner(), start_hook(2));
    }
}

#[test]
fn only_shipgate_starts_and_finishes_runs_each_once_in_order() {
    let mut h = Harness::rolling_back(HookMode::OnClick);
    h.ok(&carol(), Command::RunRollbackHook);
    // (actor, command, refused with) in order, on the same release.
    let refusals: Vec<(Actor, Command, RejectionCode)> = vec![
        (carol(), start_hook(1), RejectionCode::NotAllowed),
        (runner(), start_hook(2), RejectionCode::NotRollingBack),
        (runner(), finish(1, succeeded()), RejectionCode::NotRollingBack),
    ];
    for (actor, command, code) in refusals {
        assert_eq!(h.refused(&actor, command.clone()).code, code, "{command:?}");
    }
    h.ok(&runner(), start_hook(1));
    assert_eq!(h.refused(&runner(), start_hook(1)).code, RejectionCode::AlreadyRecorded);
    assert_eq!(h.refused(&carol(), finish(1, succeeded())).code, RejectionCode::NotAllowed);
    h.ok(&runner(), finish(1, failed()));
    assert_eq!(h.refused(&runner(), finish(1, succeeded())).code, RejectionCode::AlreadyRecorded);
}

#[test]
fn a_hook_outcome_s_detail_is_checked_like_any_text() {
    let mut h = Harness::rolling_back(HookMode::OnClick);
    h.ok(&carol(), Command::RunRollbackHook);
    h.ok(&runner(), start_hook(1));
    let long = HookOutcome::Failed { detail: "x".repeat(MAX_HOOK_DETAIL_CHARS + 1) };
    assert_eq!(h.refused(&runner(), finish(1, long)).code, RejectionCode::InvalidInput);
    let control = HookOutcome::Failed { detail: "exit status 1\u{1b}[31m".into() };
    assert_eq!(h.refused(&runner(), finish(1, control)).code, RejectionCode::InvalidInput);
}

#[test]
fn the_rollback_procedure_waits_for_the_hook_s_outcome() {
    let mut h = Harness::rolling_back(HookMode::Auto);
    h.tick_all_rollback(&carol());
    h.ok(&ci(), healthy_production(OLD_DIGEST));
    let refused = h.refused(&bob(), approve(ROLLBACK_STEP));
    assert_eq!(refused.code, RejectionCode::EvidenceMissing);
    assert!(refused.message.contains("rollback hook"), "{}", refused.message);
    h.ok(&runner(), start_hook(1));
    h.ok(&runner(), finish(1, succeeded()));
    h.ok(&bob(), approve(ROLLBACK_STEP));
    assert_eq!(h.release.status, Status::RolledBack);
    assert_eq!(h.release.hook_due_at(), None);
}

#[test]
fn the_hook_s_runs_are_not_activity_on_the_release() {
    let mut h = Harness::rolling_back(HookMode::Auto);
    let before = h.release.last_activity;
    h.now += Duration::minutes(5);
    h.ok(&runner(), start_hook(1));
    h.ok(&runner(), finish(1, failed()));
    assert_eq!(h.release.last_activity, before);
}

#[test]
fn a_hook_detail_keeps_the_end_of_the_output_and_drops_control_characters() {
    let cases = [
        ("exit status 0\nok", "exit status 0\nok"),
        ("  \u{1b}[32mgreen\u{1b}[0m\r\n", "[32mgreen[0m"),
        ("tab\tkept\u{202E}", "tab\tkept"),
    ];
    for (raw, expected) in cases {
        assert_eq!(hook_detail(raw), expected, "{raw:?}");
    }
    let long = format!("{}THE END", "a".repeat(5000));
    let detail = hook_detail(&long);
    assert_eq!(detail.chars().count(), MAX_HOOK_DETAIL_CHARS);
    assert!(detail.starts_with('…') && detail.ends_with("THE END"));
    assert!(Text::reason_of(MAX_HOOK_DETAIL_CHARS).check("detail", &detail).is_ok());
}
