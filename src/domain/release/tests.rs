//! The playbook's rules, one test each, read like the playbook.

use super::*;
use crate::domain::actor::Platform;
use crate::domain::freeze::{FixedFreeze, FreezeReason, NoFreeze};
use crate::domain::playbook::Playbook;
use chrono::TimeZone;
use proptest::prelude::*;

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const OTHER_DIGEST: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const OLD_DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

fn alice() -> Actor {
    Actor::new(Platform::Discord, "100", "Alice").with_roles(["release-manager"])
}
fn bob() -> Actor {
    Actor::new(Platform::Discord, "200", "Bob").with_roles(["release-manager"])
}
fn carol() -> Actor {
    Actor::new(Platform::Slack, "U300", "Carol").with_roles(["engineer"])
}
fn ci() -> Actor {
    Actor::new(Platform::Api, "ci", "CI").with_roles(["engineer"])
}
fn mallory() -> Actor {
    Actor::new(Platform::Discord, "666", "Mallory")
}

fn digest(s: &str) -> ArtifactDigest {
    ArtifactDigest::parse(s).unwrap()
}
fn step(s: &str) -> StepId {
    StepId::new(s)
}

/// A release under test with the facts around it, folding every decided event.
struct Harness {
    release: Release,
    events: Vec<Recorded>,
    now: DateTime<Utc>,
    freeze: FixedFreeze,
    holder: Option<ProductionHolder>,
    live: Option<LiveDeployment>,
    policy: Policy,
    locks: Vec<Lock>,
    /// What the store says about the digest of a revert being reported.
    recorded: Option<RecordedArtifact>,
}

/// Wednesday 2026-12-02 10:00 UTC: nothing frozen.
fn wednesday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap()
}

impl Harness {
    fn start_with(playbook: Playbook, hotfix: bool) -> Harness {
        let policy = Policy::default();
        let now = wednesday();
        let command = Command::Start {
            service: ServiceName::new("api"),
            version: Version::parse("1.4.0").unwrap(),
            git_sha: GitSha::parse("3f9c2e1").unwrap(),
            playbook: Box::new(playbook),
            hotfix,
            channel: None,
        };
        let ctx = Context {
            now,
            freeze: &NoFreeze,
            production_holder: None,
            live: None,
            policy: &policy,
            recorded_artifact: None,
            locks: &[],
        };
        let events = start(command, &alice(), &ctx).unwrap();
        let recorded = Recorded::sequence(events, 0, now, &alice(), &RequestId::new("start"));
        let release = Release::fold(ReleaseId::new("r1"), &recorded).unwrap();
        Harness {
            release,
            events: recorded,
            now,
            freeze: FixedFreeze::default(),
            holder: None,
            live: None,
            policy,
            locks: Vec::new(),
            recorded: None,
        }
    }

    fn start() -> Harness {
        Self::start_with(Playbook::ship_to_production(), false)
    }

    fn hotfix() -> Harness {
        Self::start_with(Playbook::ship_to_production(), true)
    }

    fn run(&mut self, actor: &Actor, command: Command) -> Result<Vec<Event>, Rejection> {
        let ctx = Context {
            now: self.now,
            freeze: &self.freeze,
            production_holder: self.holder.clone(),
            live: self.live.clone(),
            policy: &self.policy,
            recorded_artifact: self.recorded.clone(),
            locks: &self.locks,
        };
        let (events, decided) = decide(&self.release, command, actor, &ctx)?;
        for event in &events {
            let recorded = Recorded {
                seq: self.release.seq + 1,
                at: self.now,
                actor: actor.clone(),
                request_id: RequestId::new(format!("req-{}", self.release.seq + 1)),
                event: event.clone(),
            };
            self.release.evolve(&recorded).unwrap();
            self.events.push(recorded);
        }
        assert_eq!(decided, self.release, "the decided release is the folded one");
        // Folding the whole history again must give the same release.
        assert_eq!(Release::fold(self.release.id.clone(), &self.events).unwrap(), self.release);
        Ok(events)
    }

    fn ok(&mut self, actor: &Actor, command: Command) -> Vec<Event> {
        match self.run(actor, command) {
            Ok(events) => events,
            Err(rejection) => panic!("unexpected rejection: {rejection:?}"),
        }
    }

    fn refused(&mut self, actor: &Actor, command: Command) -> Rejection {
        let before = self.release.clone();
        let rejection = self.run(actor, command).expect_err("the command should be refused");
        assert_eq!(before, self.release, "a refused command changes nothing");
        rejection
    }

    fn at(&self) -> &str {
        self.release.current_step().id.as_str()
    }

    fn tick_all(&mut self, actor: &Actor) {
        let s = self.release.current_step().clone();
        for item in &s.items {
            self.ok(actor, tick(s.id.as_str(), item.id.as_str()));
        }
    }

    // The steps, the way a team runs them.
    fn pass_pre_flight(&mut self) {
        self.tick_all(&carol());
        self.ok(&bob(), approve("pre-flight"));
        assert_eq!(self.at(), "test-suite");
    }
    fn pass_tests(&mut self) {
        self.ok(&ci(), tests("unit", 120, 0));
        assert_eq!(self.at(), "build-artifact");
    }
    fn pass_build(&mut self) {
        self.ok(&ci(), artifact(DIGEST, "3f9c2e1", "1.4.0"));
        self.tick_all(&carol());
        assert_eq!(self.at(), "deploy-staging");
    }
    fn pass_staging(&mut self) {
        self.tick_all(&carol());
        self.ok(&ci(), deploy(Environment::Staging, DIGEST, Outcome::Succeeded, HealthCheck::Passed));
        assert_eq!(self.at(), "smoke-test");
    }
    fn pass_smoke(&mut self) {
        self.tick_all(&carol());
        self.ok(&bob(), approve("smoke-test"));
        assert_eq!(self.at(), "deploy-production");
    }
    fn pass_production(&mut self) {
        self.ok(&ci(), healthy_production(DIGEST));
        assert_eq!(self.at(), "monitor");
    }
    fn pass_monitor(&mut self) {
        self.tick_all(&carol());
        self.now += Duration::minutes(15);
        self.ok(&carol(), approve("monitor"));
        assert_eq!(self.at(), "rollback-criteria");
    }
    fn drive_to_production_step(&mut self) {
        self.pass_pre_flight();
        self.pass_tests();
        self.pass_build();
        self.pass_staging();
        self.pass_smoke();
    }
    fn drive_to_monitor(&mut self) {
        self.drive_to_production_step();
        self.pass_production();
    }
}

fn tick(s: &str, item: &str) -> Command {
    Command::Tick { step: step(s), item: ItemId::new(item) }
}
fn untick(s: &str, item: &str) -> Command {
    Command::Untick { step: step(s), item: ItemId::new(item) }
}
fn approve(s: &str) -> Command {
    Command::Approve { step: step(s) }
}
fn fail(s: &str, path: &str, note: &str) -> Command {
    Command::TakeFailurePath { step: step(s), path: FailurePathId::new(path), note: Some(note.into()) }
}
fn tests(suite: &str, passed: u32, failed: u32) -> Command {
    Command::RecordTestResult(TestResult { suite: suite.into(), passed, failed, skipped: 0, flaky: vec![], url: None })
}
fn artifact(d: &str, sha: &str, version: &str) -> Command {
    Command::RecordArtifact(Artifact {
        version: Version::parse(version).unwrap(),
        git_sha: GitSha::parse(sha).unwrap(),
        digest: digest(d),
        size_bytes: 52_428_800,
        name: Some("registry.example.com/api:1.4.0".into()),
    })
}
fn deployment_report(environment: Environment, d: &str, outcome: Outcome, health: HealthCheck) -> DeploymentReport {
    DeploymentReport {
        environment,
        digest: digest(d),
        outcome,
        health,
        strategy: Some(DeployStrategy::Rolling),
        canary_percent: None,
        downgrade_reason: None,
        unknown_artifact_reason: None,
        url: None,
    }
}
fn deploy(environment: Environment, d: &str, outcome: Outcome, health: HealthCheck) -> Command {
    Command::RecordDeployment(deployment_report(environment, d, outcome, health))
}
/// A production deploy of `d` that went through with passing health checks.
fn healthy_production(d: &str) -> Command {
    deploy(Environment::Production, d, Outcome::Succeeded, HealthCheck::Passed)
}
fn friday_afternoon_freeze(now: DateTime<Utc>) -> FixedFreeze {
    FixedFreeze {
        windows: vec![FreezeReason {
            kind: "weekly".into(),
            name: "Friday afternoon".into(),
            from: now - Duration::hours(1),
            to: now + Duration::hours(60),
        }],
    }
}

// ---------------------------------------------------------------------------------------
// No step is skipped; nothing happens in a step that is not current.

#[test]
fn a_release_starts_at_pre_flight() {
    let h = Harness::start();
    assert_eq!(h.at(), "pre-flight");
    assert_eq!(h.release.status, Status::Active);
    assert_eq!(h.release.steps[0].attempt, 1);
}

#[test]
fn items_of_a_later_step_cannot_be_ticked() {
    let mut h = Harness::start();
    let r = h.refused(&carol(), tick("smoke-test", "core-flows"));
    assert_eq!(r.code, "not_current_step");
    assert!(r.message.contains("Step 5"), "{}", r.message);
    assert!(r.message.contains("Step 1"), "{}", r.message);
}

#[test]
fn a_later_gate_cannot_be_approved() {
    let mut h = Harness::start();
    assert_eq!(h.refused(&bob(), approve("monitor")).code, "not_current_step");
}

#[test]
fn a_finished_step_cannot_be_changed() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    assert_eq!(h.refused(&carol(), untick("pre-flight", "prs-merged")).code, "not_current_step");
}

#[test]
fn evidence_for_a_later_step_is_refused() {
    let mut h = Harness::start();
    let r = h.refused(&ci(), artifact(DIGEST, "3f9c2e1", "1.4.0"));
    assert_eq!(r.code, "not_current_step");
    assert!(r.message.contains("Build the Artifact"), "{}", r.message);
    assert_eq!(h.refused(&ci(), healthy_production(DIGEST)).code, "not_current_step");
}

#[test]
fn unknown_steps_and_items_are_named() {
    let mut h = Harness::start();
    let r = h.refused(&carol(), tick("pre-flight", "nope"));
    assert_eq!(r.code, "unknown_item");
    assert!(r.message.contains("prs-merged"), "{}", r.message);
    assert_eq!(h.refused(&carol(), tick("launch", "x")).code, "unknown_step");
}

#[test]
fn steps_are_entered_only_in_order() {
    let mut h = Harness::start();
    h.drive_to_monitor();
    let entered: Vec<&str> = h
        .events
        .iter()
        .filter_map(|r| match &r.event {
            Event::StepEntered { step } => Some(step.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        entered,
        ["test-suite", "build-artifact", "deploy-staging", "smoke-test", "deploy-production", "monitor"]
    );
}

// ---------------------------------------------------------------------------------------
// Gates: every item ticked, and the approval rule.

#[test]
fn the_gate_does_not_pass_with_an_unchecked_box() {
    let mut h = Harness::start();
    for item in ["prs-merged", "no-blockers", "release-notes", "env-and-secrets"] {
        h.ok(&carol(), tick("pre-flight", item));
    }
    let r = h.refused(&bob(), approve("pre-flight"));
    assert_eq!(r.code, "gate_not_ready");
    assert!(r.message.contains("migrations-reviewed"), "{}", r.message);
    h.ok(&carol(), tick("pre-flight", "migrations-reviewed"));
    h.ok(&bob(), approve("pre-flight"));
    assert_eq!(h.at(), "test-suite");
}

#[test]
fn only_the_gate_roles_may_approve() {
    let mut h = Harness::start();
    h.tick_all(&carol());
    let r = h.refused(&mallory(), approve("pre-flight"));
    assert_eq!(r.code, "not_allowed");
    assert!(r.message.contains("release-manager"), "{}", r.message);
}

#[test]
fn only_the_tick_roles_may_tick() {
    let mut h = Harness::start();
    assert_eq!(h.refused(&mallory(), tick("pre-flight", "prs-merged")).code, "not_allowed");
}

/// Failure paths, abort, rollback and evidence name no role of their own in the built-in
/// playbook; someone holding none of the playbook's roles still cannot take them.
#[test]
fn someone_without_a_role_of_the_playbook_changes_nothing() {
    let mut h = Harness::start();
    let before = h.events.len();
    for command in [
        fail("pre-flight", "abort", "not needed"),
        Command::Abort { reason: "not needed".into() },
        Command::TriggerRollback { reason: "errors doubled".into() },
        Command::RequestFreezeOverride { reason: "payments are down".into() },
        tests("unit", 420, 0),
        artifact(DIGEST, "3f9c2e1", "1.4.0"),
        Command::RejectGate { step: step("pre-flight"), reason: "notes missing".into(), path: None },
    ] {
        let refused = h.refused(&mallory(), command);
        assert_eq!(refused.code, "not_allowed");
        assert!(refused.message.contains("engineer, release-manager"), "{}", refused.message);
    }
    assert_eq!(h.events.len(), before);
    assert_eq!(h.release.status, Status::Active);
}

#[test]
fn an_item_is_ticked_once_and_unticked_only_when_ticked() {
    let mut h = Harness::start();
    h.ok(&carol(), tick("pre-flight", "prs-merged"));
    let r = h.refused(&bob(), tick("pre-flight", "prs-merged"));
    assert_eq!(r.code, "already_ticked");
    assert!(r.message.contains("Carol"));
    h.ok(&bob(), untick("pre-flight", "prs-merged"));
    assert_eq!(h.refused(&bob(), untick("pre-flight", "prs-merged")).code, "not_ticked");
}

fn two_approver_playbook() -> Playbook {
    let mut p = Playbook::ship_to_production();
    p.steps[0].gate.approvals = 2;
    p
}

#[test]
fn a_gate_needing_two_approvers_needs_two_distinct_people() {
    let mut h = Harness::start_with(two_approver_playbook(), false);
    h.tick_all(&carol());
    h.ok(&bob(), approve("pre-flight"));
    assert_eq!(h.at(), "pre-flight", "one approval of two does not pass the gate");
    let r = h.refused(&bob(), approve("pre-flight"));
    assert_eq!(r.code, "already_approved");
    // The same person through another display name is still the same person.
    let bob_renamed = Actor { display_name: "Robert".into(), ..bob() };
    assert_eq!(h.refused(&bob_renamed, approve("pre-flight")).code, "already_approved");
    h.ok(&carol(), approve("pre-flight"));
    assert_eq!(h.at(), "test-suite");
}

#[test]
fn the_starter_may_not_approve_the_gate_to_production() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    h.pass_tests();
    h.pass_build();
    h.pass_staging();
    h.tick_all(&carol());
    let r = h.refused(&alice(), approve("smoke-test"));
    assert_eq!(r.code, "self_approval");
    h.ok(&bob(), approve("smoke-test"));
    assert_eq!(h.at(), "deploy-production");
}

#[test]
fn the_starter_may_approve_where_the_rule_allows() {
    let mut h = Harness::start();
    h.tick_all(&carol());
    h.ok(&alice(), approve("pre-flight"));
    assert_eq!(h.at(), "test-suite");
}

#[test]
fn unticking_an_item_withdraws_approvals() {
    let mut h = Harness::start_with(two_approver_playbook(), false);
    h.tick_all(&carol());
    h.ok(&bob(), approve("pre-flight"));
    let events = h.ok(&carol(), untick("pre-flight", "release-notes"));
    assert!(matches!(events[0], Event::ItemUnticked { approvals_withdrawn: 1, .. }));
    h.ok(&carol(), tick("pre-flight", "release-notes"));
    h.ok(&carol(), approve("pre-flight"));
    assert_eq!(h.at(), "pre-flight", "Bob's earlier approval no longer counts");
    h.ok(&bob(), approve("pre-flight"));
    assert_eq!(h.at(), "test-suite");
}

#[test]
fn an_automatic_gate_cannot_be_approved() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    assert_eq!(h.refused(&bob(), approve("test-suite")).code, "no_approval_needed");
}

// ---------------------------------------------------------------------------------------
// Step 2: tests pass with zero failures; the two failure paths.

#[test]
fn failing_tests_keep_the_release_in_step_2() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    h.ok(&ci(), tests("unit", 100, 0));
    assert_eq!(h.at(), "build-artifact", "a passing suite passes the automatic gate");

    let mut h = Harness::start();
    h.pass_pre_flight();
    h.ok(&ci(), tests("e2e", 40, 2));
    assert_eq!(h.at(), "test-suite");
    let gate = h.release.gate_status(h.now);
    assert!(gate.evidence_missing.unwrap().contains("e2e (2 failed)"));
}

#[test]
fn a_later_green_run_of_the_same_suite_replaces_the_red_one_only_after_a_retry() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    h.ok(&ci(), tests("e2e", 40, 1));
    h.ok(&carol(), fail("test-suite", "flaky-test", "checkout_spec times out on CI"));
    assert_eq!(h.at(), "test-suite");
    assert_eq!(h.release.steps[1].attempt, 2);
    assert!(h.release.steps[1].tests.is_empty(), "a retry clears the step's results");
    assert_eq!(h.release.follow_ups[0].text, "Document the flaky test for follow-up.");
    h.ok(&ci(), tests("e2e", 41, 0));
    assert_eq!(h.at(), "build-artifact");
}

#[test]
fn flaky_tests_reported_by_ci_are_recorded_for_follow_up() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    let mut result = TestResult {
        suite: "unit".into(),
        passed: 10,
        failed: 0,
        skipped: 1,
        flaky: vec!["login_test".into()],
        url: None,
    };
    h.ok(&ci(), Command::RecordTestResult(result.clone()));
    assert_eq!(h.release.follow_ups[0].text, "Flaky test to fix: login_test");
    result.flaky.clear();
    assert_eq!(h.refused(&ci(), Command::RecordTestResult(result)).code, "not_current_step");
}

#[test]
fn a_real_regression_restarts_from_step_1_and_keeps_history() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    h.ok(&ci(), tests("integration", 50, 3));
    let before = h.events.len();
    h.ok(&carol(), fail("test-suite", "real-regression", "orders API returns 500"));
    assert_eq!(h.at(), "pre-flight");
    assert!(h.release.steps[0].ticked.is_empty(), "step 1 is cleared for the new attempt");
    assert!(h.release.steps[1].tests.is_empty());
    assert_eq!(h.release.steps[0].attempt, 2);
    assert!(h.events.len() > before, "history is appended, never rewritten");
    assert!(h
        .events
        .iter()
        .any(|r| matches!(&r.event, Event::TestResultRecorded { result, .. } if result.failed == 3)));
    h.pass_pre_flight();
    h.pass_tests();
}

#[test]
fn a_failure_path_that_needs_a_note_refuses_without_one() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    let r = h.refused(
        &carol(),
        Command::TakeFailurePath {
            step: step("test-suite"),
            path: FailurePathId::new("real-regression"),
            note: Some("  ".into()),
        },
    );
    assert_eq!(r.code, "note_required");
}

#[test]
fn a_test_result_with_nothing_run_is_refused() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    assert_eq!(h.refused(&ci(), tests("unit", 0, 0)).code, "invalid_input");
}

// ---------------------------------------------------------------------------------------
// Step 3: the artifact is tagged with the release's SHA and version.

#[test]
fn an_artifact_of_another_commit_or_version_is_refused() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    h.pass_tests();
    assert_eq!(h.refused(&ci(), artifact(DIGEST, "deadbee", "1.4.0")).code, "wrong_artifact");
    assert_eq!(h.refused(&ci(), artifact(DIGEST, "3f9c2e1", "1.4.1")).code, "wrong_artifact");
    h.ok(&ci(), artifact(DIGEST, "3f9c2e1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "v1.4"));
    assert_eq!(h.at(), "build-artifact", "the size-and-contents check is still unticked");
    assert_eq!(h.refused(&ci(), artifact(OTHER_DIGEST, "3f9c2e1", "1.4.0")).code, "artifact_already_recorded");
    h.tick_all(&carol());
    assert_eq!(h.at(), "deploy-staging");
}

#[test]
fn a_build_failure_restarts_from_step_2_and_drops_the_artifact() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    h.pass_tests();
    h.ok(&ci(), artifact(DIGEST, "3f9c2e1", "1.4.0"));
    h.ok(&carol(), fail("build-artifact", "build-failed", "missing native dependency"));
    assert_eq!(h.at(), "test-suite");
    assert!(h.release.artifact().is_none());
    assert!(!h.release.steps[0].ticked.is_empty(), "steps before the restart point keep their state");
}

// ---------------------------------------------------------------------------------------
// Steps 4 and 5: staging gets the tagged artifact; the smoke test records what passed.

#[test]
fn staging_gets_only_the_tagged_artifact() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    h.pass_tests();
    h.pass_build();
    let r = h.refused(&ci(), deploy(Environment::Staging, OTHER_DIGEST, Outcome::Succeeded, HealthCheck::Passed));
    assert_eq!(r.code, "wrong_artifact");
}

#[test]
fn staging_passes_only_when_healthy() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    h.pass_tests();
    h.pass_build();
    h.tick_all(&carol());
    h.ok(&ci(), deploy(Environment::Staging, DIGEST, Outcome::Succeeded, HealthCheck::Failed));
    assert_eq!(h.at(), "deploy-staging");
    h.ok(&ci(), deploy(Environment::Staging, DIGEST, Outcome::Failed, HealthCheck::Unknown));
    assert_eq!(h.at(), "deploy-staging");
    h.ok(&carol(), fail("deploy-staging", "staging-deploy-failed", "OOM killed, raised the memory limit"));
    h.tick_all(&carol());
    h.ok(&ci(), deploy(Environment::Staging, DIGEST, Outcome::Succeeded, HealthCheck::Passed));
    assert_eq!(h.at(), "smoke-test");
}

#[test]
fn the_smoke_gate_records_the_artifact_that_passed_it() {
    let mut h = Harness::start();
    h.drive_to_production_step();
    assert_eq!(h.release.smoke_passed(), Some(&digest(DIGEST)));
    assert_eq!(h.release.staging_passed(), Some(&digest(DIGEST)));
}

#[test]
fn a_failed_smoke_test_goes_back_to_staging_not_to_production() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    h.pass_tests();
    h.pass_build();
    h.pass_staging();
    h.ok(&carol(), fail("smoke-test", "smoke-failed", "login broken on staging"));
    assert_eq!(h.at(), "deploy-staging");
    assert!(h.release.staging_passed().is_none());
}

// ---------------------------------------------------------------------------------------
// Step 6: the exact artifact, never during a freeze (unless overridden), one holder,
// no silent downgrade.

#[test]
fn production_refuses_any_artifact_but_the_one_that_passed_staging_and_smoke() {
    let mut h = Harness::start();
    h.drive_to_production_step();
    let r = h.refused(&ci(), healthy_production(OTHER_DIGEST));
    assert_eq!(r.code, "wrong_artifact");
    assert!(r.message.contains("never rebuild"), "{}", r.message);
    h.pass_production();
}

#[test]
fn production_requires_the_smoke_test_of_the_staged_artifact() {
    // A playbook whose smoke-test gate passed without recording a digest (tampered
    // history cannot, but a restart can clear it) refuses production.
    let mut h = Harness::start();
    h.drive_to_production_step();
    h.release.steps[4].smoke_passed = None;
    let events_len = h.events.len();
    let ctx_freeze = NoFreeze;
    let ctx = Context {
        now: h.now,
        freeze: &ctx_freeze,
        production_holder: None,
        live: None,
        policy: &h.policy,
        recorded_artifact: None,
        locks: &[],
    };
    let r = apply(&h.release, healthy_production(DIGEST), &ci(), &ctx).unwrap_err();
    assert_eq!(r.code, "wrong_artifact");
    assert_eq!(h.events.len(), events_len);
}

#[test]
fn production_deploy_refused_on_friday_afternoon() {
    let mut h = Harness::start();
    h.drive_to_production_step();
    h.freeze = friday_afternoon_freeze(h.now);
    let r = h.refused(&ci(), healthy_production(DIGEST));
    assert_eq!(r.code, "frozen");
    assert!(r.message.contains("Friday afternoon"), "{}", r.message);
    assert!(r.message.contains("hotfix"), "{}", r.message);
}

#[test]
fn the_gate_to_production_is_refused_during_a_freeze() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    h.pass_tests();
    h.pass_build();
    h.pass_staging();
    h.tick_all(&carol());
    h.freeze = friday_afternoon_freeze(h.now);
    assert_eq!(h.refused(&bob(), approve("smoke-test")).code, "frozen");
}

#[test]
fn a_hotfix_deploys_during_a_freeze_only_with_an_approved_override() {
    let mut h = Harness::hotfix();
    h.pass_pre_flight();
    h.pass_tests();
    h.pass_build();
    h.pass_staging();
    h.tick_all(&carol());
    h.freeze = friday_afternoon_freeze(h.now);
    assert_eq!(h.refused(&bob(), approve("smoke-test")).code, "frozen");
    assert_eq!(h.refused(&carol(), Command::RequestFreezeOverride { reason: " ".into() }).code, "note_required");
    h.ok(&carol(), Command::RequestFreezeOverride { reason: "payments outage, fix in 1.4.0".into() });
    let r = h.refused(&bob(), approve("smoke-test"));
    assert!(r.message.contains("waits for a second person"), "{}", r.message);
    assert_eq!(h.refused(&carol(), Command::ApproveFreezeOverride).code, "self_approval");
    let engineer = Actor::new(Platform::Discord, "400", "Dan").with_roles(["engineer"]);
    assert_eq!(h.refused(&engineer, Command::ApproveFreezeOverride).code, "not_allowed");
    h.ok(&alice(), Command::ApproveFreezeOverride);
    h.ok(&bob(), approve("smoke-test"));
    h.ok(&ci(), healthy_production(DIGEST));
    let overridden = h
        .events
        .iter()
        .any(|r| matches!(&r.event, Event::DeploymentRecorded { freeze_overridden: Some(v), .. } if v.is_frozen()));
    assert!(overridden, "the deploy records the freeze it went through");
}

#[test]
fn a_freeze_override_expires() {
    let mut h = Harness::hotfix();
    h.drive_to_production_step();
    h.ok(&carol(), Command::RequestFreezeOverride { reason: "data loss bug".into() });
    h.ok(&alice(), Command::ApproveFreezeOverride);
    h.now += Duration::hours(2);
    h.freeze = friday_afternoon_freeze(h.now);
    let r = h.refused(&ci(), healthy_production(DIGEST));
    assert_eq!(r.code, "frozen");
    assert!(r.message.contains("expired"), "{}", r.message);
}

#[test]
fn only_a_hotfix_may_ask_for_a_freeze_override() {
    let mut h = Harness::start();
    assert_eq!(h.refused(&carol(), Command::RequestFreezeOverride { reason: "please".into() }).code, "not_hotfix");
}

#[test]
fn a_release_started_during_a_freeze_shows_it() {
    let policy = Policy::default();
    let now = wednesday();
    let freeze = friday_afternoon_freeze(now);
    let ctx = Context {
        now,
        freeze: &freeze,
        production_holder: None,
        live: None,
        policy: &policy,
        recorded_artifact: None,
        locks: &[],
    };
    let events = start(
        Command::Start {
            service: ServiceName::new("api"),
            version: Version::parse("1.0.0").unwrap(),
            git_sha: GitSha::parse("abcdef1").unwrap(),
            playbook: Box::new(Playbook::ship_to_production()),
            hotfix: false,
            channel: None,
        },
        &alice(),
        &ctx,
    )
    .unwrap();
    assert!(matches!(&events[0], Event::Started { freeze_at_start: Some(v), .. } if v.is_frozen()));
}

/// A rollback drill runs against staging: the freeze, which guards production, is not its
/// concern, and its start is neither refused nor shown as frozen. The service's drills as
/// the app read them are recorded for the first card.
#[test]
fn a_rollback_drill_started_during_a_freeze_is_not_frozen_and_records_the_drill_standing() {
    let policy = Policy::default();
    let now = wednesday();
    let freeze = friday_afternoon_freeze(now);
    let ctx = Context {
        now,
        freeze: &freeze,
        production_holder: None,
        live: None,
        policy: &policy,
        recorded_artifact: None,
        locks: &[],
    };
    let standing = crate::domain::drill::DrillStanding::at(
        ServiceName::new("api"),
        None,
        Some(now - Duration::days(100)),
        &crate::domain::drill::DrillPolicy::default(),
        now,
    );
    let events = start_noting(
        Command::Start {
            service: ServiceName::new("api"),
            version: Version::parse("1.0.0").unwrap(),
            git_sha: GitSha::parse("abcdef1").unwrap(),
            playbook: Box::new(Playbook::rollback_drill()),
            hotfix: false,
            channel: None,
        },
        &alice(),
        &ctx,
        Some(standing.clone()),
    )
    .unwrap();
    let Event::Started { freeze_at_start, last_drill, .. } = &events[0] else { panic!("{events:?}") };
    assert_eq!(freeze_at_start, &None);
    assert_eq!(last_drill.as_ref(), Some(&standing));
    assert!(standing.overdue);
    let release =
        Release::fold(ReleaseId::new("r1"), &Recorded::sequence(events, 0, now, &alice(), &RequestId::new("q")))
            .unwrap();
    assert!(!release.holds_production() && !release.consults_production_facts());
}

#[test]
fn another_release_holding_production_makes_this_one_wait() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    h.pass_tests();
    h.pass_build();
    h.pass_staging();
    h.tick_all(&carol());
    h.holder = Some(ProductionHolder {
        release_id: ReleaseId::new("other"),
        version: Version::parse("1.3.9").unwrap(),
        started_by: "Erin".into(),
        step_title: "Post-Deploy Monitoring".into(),
    });
    let r = h.refused(&bob(), approve("smoke-test"));
    assert_eq!(r.code, "production_held");
    assert!(r.message.contains("Erin") && r.message.contains("1.3.9"), "{}", r.message);
    h.holder = Some(ProductionHolder { release_id: ReleaseId::new("r1"), ..h.holder.clone().unwrap() });
    h.ok(&bob(), approve("smoke-test"));
}

#[test]
fn production_is_held_from_the_production_step_until_the_watch_ends() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    h.pass_tests();
    h.pass_build();
    h.pass_staging();
    assert!(!h.release.holds_production());
    h.pass_smoke();
    assert!(h.release.holds_production());
    h.pass_production();
    assert!(h.release.holds_production());
    h.pass_monitor();
    assert!(!h.release.holds_production());
}

#[test]
fn an_older_version_than_live_needs_a_typed_reason() {
    let mut h = Harness::start();
    h.drive_to_production_step();
    h.live = Some(LiveDeployment {
        release_id: ReleaseId::new("newer"),
        version: Version::parse("1.5.0").unwrap(),
        digest: digest(OLD_DIGEST),
    });
    let r = h.refused(&ci(), healthy_production(DIGEST));
    assert_eq!(r.code, "downgrade");
    assert!(r.message.contains("1.5.0"), "{}", r.message);
    let mut report = deployment_report(Environment::Production, DIGEST, Outcome::Succeeded, HealthCheck::Passed);
    report.downgrade_reason = Some("1.5.0 corrupts carts; 1.4.0 carries the fix".into());
    h.ok(&ci(), Command::RecordDeployment(report));
    assert_eq!(h.at(), "monitor");
}

#[test]
fn a_recreate_deploy_is_refused_for_production() {
    let mut h = Harness::start();
    h.drive_to_production_step();
    let mut report = deployment_report(Environment::Production, DIGEST, Outcome::Succeeded, HealthCheck::Passed);
    report.strategy = Some(DeployStrategy::Recreate);
    assert_eq!(h.refused(&ci(), Command::RecordDeployment(report)).code, "downtime_strategy");
}

// ---------------------------------------------------------------------------------------
// Step 7: the watch; Step 8 and the rollback procedure.

#[test]
fn the_watch_lasts_at_least_15_minutes() {
    let mut h = Harness::start();
    h.drive_to_monitor();
    h.tick_all(&carol());
    h.now += Duration::minutes(14);
    let r = h.refused(&carol(), approve("monitor"));
    assert_eq!(r.code, "evidence_missing");
    assert!(r.message.contains("15-minute watch"), "{}", r.message);
    h.now += Duration::minutes(1);
    h.ok(&carol(), approve("monitor"));
    assert_eq!(h.at(), "rollback-criteria");
}

#[test]
fn a_release_runs_through_all_eight_steps_to_completion() {
    let mut h = Harness::start();
    h.drive_to_monitor();
    h.pass_monitor();
    h.tick_all(&carol());
    h.ok(&bob(), approve("rollback-criteria"));
    assert_eq!(h.release.status, Status::Completed);
    assert!(h.release.finished.is_some());
    assert_eq!(h.refused(&bob(), Command::Abort { reason: "late".into() }).code, "release_finished");
}

#[test]
fn a_tripped_criterion_rolls_back_through_the_procedure() {
    let mut h = Harness::start();
    h.live = Some(LiveDeployment {
        release_id: ReleaseId::new("prev"),
        version: Version::parse("1.3.0").unwrap(),
        digest: digest(OLD_DIGEST),
    });
    h.drive_to_monitor();
    h.ok(&carol(), fail("monitor", "rollback", "error rate 3.1x baseline"));
    assert_eq!(h.release.status, Status::RollingBack);
    let rollback = h.release.rollback.clone().unwrap();
    assert_eq!(rollback.reason, "error rate 3.1x baseline");
    assert_eq!(rollback.deployed.unwrap().digest, digest(DIGEST));
    assert_eq!(rollback.target.unwrap().digest, digest(OLD_DIGEST));
    // Nothing else moves while rolling back.
    assert_eq!(h.refused(&carol(), tick("monitor", "latency")).code, "not_current_step");
    // The revert goes to the previous artifact, nothing else.
    assert_eq!(h.refused(&ci(), healthy_production(OTHER_DIGEST)).code, "wrong_artifact");
    h.tick_all_rollback(&carol());
    let r = h.refused(&bob(), approve(ROLLBACK_STEP));
    assert_eq!(r.code, "evidence_missing");
    h.ok(&ci(), healthy_production(OLD_DIGEST));
    h.ok(&bob(), approve(ROLLBACK_STEP));
    assert_eq!(h.release.status, Status::RolledBack);
    assert!(h.release.follow_ups.iter().any(|f| f.text.contains("Bug Triage")));
    assert!(!h.release.holds_production());
}

impl Harness {
    /// 1.3.2 ran in production before this release: the rollback's known-good target.
    fn with_previous_live(mut self) -> Harness {
        self.live = Some(LiveDeployment {
            release_id: ReleaseId::new("r0"),
            version: Version::parse("1.3.2").unwrap(),
            digest: digest(OLD_DIGEST),
        });
        self
    }

    fn tick_all_rollback(&mut self, actor: &Actor) {
        for item in self.release.playbook.rollback.items.clone() {
            self.ok(actor, tick(ROLLBACK_STEP, item.id.as_str()));
        }
    }
}

#[test]
fn a_failed_production_deploy_rolls_back_at_once_and_resumes_at_staging() {
    let mut h = Harness::start().with_previous_live();
    h.drive_to_production_step();
    h.ok(&ci(), deploy(Environment::Production, DIGEST, Outcome::Failed, HealthCheck::Failed));
    assert_eq!(h.release.status, Status::RollingBack);
    assert_eq!(h.release.rollback.as_ref().unwrap().then, AfterRollback::Resume(step("deploy-staging")));
    h.tick_all_rollback(&carol());
    // No previous artifact is known: anything but the failed one is the revert.
    assert_eq!(h.refused(&ci(), healthy_production(DIGEST)).code, "wrong_artifact");
    h.ok(&ci(), healthy_production(OLD_DIGEST));
    h.ok(&bob(), approve(ROLLBACK_STEP));
    assert_eq!(h.release.status, Status::Active);
    assert_eq!(h.at(), "deploy-staging");
    assert!(h.release.artifact().is_some(), "the artifact stays; staging is redone with the fix");
    assert!(h.release.staging_passed().is_none());
}

#[test]
fn nothing_can_be_rolled_back_before_production() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    assert_eq!(h.refused(&bob(), Command::TriggerRollback { reason: "nervous".into() }).code, "nothing_to_roll_back");
}

#[test]
fn a_release_live_in_production_cannot_restart_without_rolling_back() {
    let mut p = Playbook::ship_to_production();
    p.steps[6].failure_paths.push(crate::domain::playbook::FailurePath {
        id: FailurePathId::new("redo"),
        label: "Redo staging".into(),
        action: FailureAction::Restart,
        to: Some(step("deploy-staging")),
        follow_up: None,
        note_required: false,
        roles: vec![],
    });
    p.steps[6].failure_paths.push(crate::domain::playbook::FailurePath {
        id: FailurePathId::new("again"),
        label: "Watch again".into(),
        action: FailureAction::Retry,
        to: None,
        follow_up: None,
        note_required: false,
        roles: vec![],
    });
    let mut h = Harness::start_with(p, false);
    h.drive_to_monitor();
    assert_eq!(h.refused(&bob(), fail("monitor", "redo", "x")).code, "production_deployed");
    assert_eq!(h.refused(&bob(), fail("monitor", "again", "x")).code, "production_deployed");
    assert!(h.release.production.is_some());
}

#[test]
fn an_abort_before_production_ends_the_release_and_records_who_and_why() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    assert_eq!(h.refused(&bob(), Command::Abort { reason: "".into() }).code, "note_required");
    h.ok(&bob(), Command::Abort { reason: "customer asked to wait".into() });
    assert_eq!(h.release.status, Status::Aborted);
    let last = h.events.last().unwrap();
    assert_eq!(last.actor, bob());
    assert!(matches!(&last.event, Event::Aborted { reason } if reason == "customer asked to wait"));
}

#[test]
fn an_abort_after_production_rolls_back_first() {
    let mut h = Harness::start().with_previous_live();
    h.drive_to_monitor();
    h.ok(&bob(), Command::Abort { reason: "wrong customer config shipped".into() });
    assert_eq!(h.release.status, Status::RollingBack);
    assert_eq!(h.release.rollback.as_ref().unwrap().then, AfterRollback::Abort);
    h.tick_all_rollback(&carol());
    h.ok(&ci(), healthy_production(OLD_DIGEST));
    h.ok(&bob(), approve(ROLLBACK_STEP));
    assert_eq!(h.release.status, Status::Aborted);
    assert_eq!(h.release.abort_reason.as_deref(), Some("wrong customer config shipped"));
}

#[test]
fn an_abort_during_a_rollback_ends_the_release_once_the_rollback_is_done() {
    let mut h = Harness::start().with_previous_live();
    h.drive_to_monitor();
    h.ok(&bob(), Command::TriggerRollback { reason: "p99 4x baseline".into() });
    h.ok(&bob(), Command::Abort { reason: "giving up on 1.4.0".into() });
    assert_eq!(h.refused(&bob(), Command::Abort { reason: "again".into() }).code, "already_aborting");
    h.tick_all_rollback(&carol());
    h.ok(&ci(), healthy_production(OLD_DIGEST));
    h.ok(&bob(), approve(ROLLBACK_STEP));
    assert_eq!(h.release.status, Status::Aborted);
}

#[test]
fn a_release_cannot_start_twice() {
    let mut h = Harness::start();
    let r = h.refused(
        &alice(),
        Command::Start {
            service: ServiceName::new("api"),
            version: Version::parse("1.0.0").unwrap(),
            git_sha: GitSha::parse("abcdef1").unwrap(),
            playbook: Box::new(Playbook::ship_to_production()),
            hotfix: false,
            channel: None,
        },
    );
    assert_eq!(r.code, "already_started");
}

#[test]
fn starting_needs_a_start_role() {
    let policy = Policy::default();
    let ctx = Context {
        now: wednesday(),
        freeze: &NoFreeze,
        production_holder: None,
        live: None,
        policy: &policy,
        recorded_artifact: None,
        locks: &[],
    };
    let command = Command::Start {
        service: ServiceName::new("api"),
        version: Version::parse("1.0.0").unwrap(),
        git_sha: GitSha::parse("abcdef1").unwrap(),
        playbook: Box::new(Playbook::ship_to_production()),
        hotfix: false,
        channel: None,
    };
    assert_eq!(start(command, &mallory(), &ctx).unwrap_err().code, "not_allowed");
}

// ---------------------------------------------------------------------------------------
// Properties over random command sequences.

fn command_strategy() -> impl Strategy<Value = (usize, Command)> {
    let playbook = Playbook::ship_to_production();
    let mut ticks: Vec<Command> = Vec::new();
    for s in &playbook.steps {
        for i in &s.items {
            ticks.push(tick(s.id.as_str(), i.id.as_str()));
            ticks.push(untick(s.id.as_str(), i.id.as_str()));
        }
        ticks.push(approve(s.id.as_str()));
        for p in &s.failure_paths {
            ticks.push(fail(s.id.as_str(), p.id.as_str(), "note"));
        }
    }
    for i in &playbook.rollback.items {
        ticks.push(tick(ROLLBACK_STEP, i.id.as_str()));
    }
    ticks.push(approve(ROLLBACK_STEP));
    ticks.push(tests("unit", 10, 0));
    ticks.push(tests("unit", 10, 1));
    ticks.push(artifact(DIGEST, "3f9c2e1", "1.4.0"));
    ticks.push(artifact(OTHER_DIGEST, "3f9c2e1", "1.4.0"));
    for d in [DIGEST, OTHER_DIGEST, OLD_DIGEST] {
        for env in [Environment::Staging, Environment::Production] {
            ticks.push(deploy(env, d, Outcome::Succeeded, HealthCheck::Passed));
            ticks.push(deploy(env, d, Outcome::Failed, HealthCheck::Failed));
        }
    }
    ticks.push(Command::TriggerRollback { reason: "r".into() });
    ticks.push(Command::Abort { reason: "a".into() });
    let n = ticks.len();
    (0..4usize, 0..n).prop_map(move |(actor, i)| (actor, ticks[i].clone()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever people click, in any order: steps are entered one after another (or
    /// restarted backwards), a passed gate had every box ticked, production only ever
    /// gets the artifact that passed staging, and refusals change nothing.
    #[test]
    fn no_click_sequence_breaks_the_playbook(prefix in 0usize..8, commands in proptest::collection::vec(command_strategy(), 1..120), minutes in proptest::collection::vec(0i64..10, 120)) {
        let actors = [alice(), bob(), carol(), ci()];
        let mut h = Harness::start();
        // Start the random clicks from some step along the happy path.
        let happy: [fn(&mut Harness); 7] = [
            Harness::pass_pre_flight,
            Harness::pass_tests,
            Harness::pass_build,
            Harness::pass_staging,
            Harness::pass_smoke,
            Harness::pass_production,
            Harness::pass_monitor,
        ];
        for step in happy.iter().take(prefix) {
            step(&mut h);
        }
        for (i, (actor, command)) in commands.into_iter().enumerate() {
            h.now += Duration::minutes(minutes[i % minutes.len()]);
            let before = h.release.clone();
            if !before.consults_production_facts() {
                // The app skips reading production facts here: they must not matter.
                let other_holder = ProductionHolder {
                    release_id: ReleaseId::new("other"),
                    version: Version::parse("9.0.0").unwrap(),
                    started_by: "Erin".into(),
                    step_title: "Post-Deploy Monitoring".into(),
                };
                let other_live = LiveDeployment { release_id: ReleaseId::new("other"), version: Version::parse("9.0.0").unwrap(), digest: digest(OLD_DIGEST) };
                let with_facts = Context { now: h.now, freeze: &h.freeze, production_holder: Some(other_holder), live: Some(other_live), policy: &h.policy, recorded_artifact: None, locks: &[] };
                let without = Context { now: h.now, freeze: &h.freeze, production_holder: None, live: None, policy: &h.policy, recorded_artifact: None, locks: &[] };
                prop_assert_eq!(
                    apply(&before, command.clone(), &actors[actor], &with_facts),
                    apply(&before, command.clone(), &actors[actor], &without)
                );
            }
            match h.run(&actors[actor], command) {
                Err(_) => prop_assert_eq!(&before, &h.release),
                Ok(events) => {
                    let mut current = before.current;
                    for event in &events {
                        match event {
                            Event::StepEntered { step } => {
                                let next = h.release.playbook.step_index(step).unwrap();
                                prop_assert!(next <= current + 1, "skipped from {} to {}", current, next);
                                current = next;
                            }
                            Event::GatePassed { step, .. } => {
                                let index = h.release.playbook.step_index(step).unwrap();
                                let s = &h.release.playbook.steps[index];
                                let state = &before.steps[index];
                                let ticked_now = s.items.iter().all(|i| state.ticked.contains_key(&i.id)
                                    || events.iter().any(|e| matches!(e, Event::ItemTicked { item, .. } if item == &i.id)));
                                prop_assert!(ticked_now, "gate {} passed with an unchecked box", step);
                            }
                            Event::DeploymentRecorded { report, rollback: false, .. } if report.environment == Environment::Production => {
                                prop_assert_eq!(Some(&report.digest), before.staging_passed());
                                prop_assert_eq!(Some(&report.digest), before.smoke_passed());
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Health reported later, strategies, and rollbacks while another release holds production.

#[test]
fn production_health_reported_later_updates_the_deploy() {
    let mut h = Harness::start();
    h.drive_to_production_step();
    h.ok(&ci(), deploy(Environment::Production, DIGEST, Outcome::Succeeded, HealthCheck::Unknown));
    assert_eq!(h.at(), "deploy-production", "the gate waits for passing health checks");
    assert_eq!(h.refused(&ci(), healthy_production(OTHER_DIGEST)).code, "already_deployed");
    h.ok(&ci(), healthy_production(DIGEST));
    assert_eq!(h.at(), "monitor");
    assert_eq!(h.refused(&ci(), healthy_production(DIGEST)).code, "not_current_step");
}

#[test]
fn production_health_failing_later_rolls_back() {
    let mut h = Harness::start();
    h.drive_to_production_step();
    h.ok(&ci(), deploy(Environment::Production, DIGEST, Outcome::Succeeded, HealthCheck::Unknown));
    h.ok(&ci(), deploy(Environment::Production, DIGEST, Outcome::Failed, HealthCheck::Failed));
    assert_eq!(h.release.status, Status::RollingBack);
    assert_eq!(h.release.rollback.as_ref().unwrap().deployed.as_ref().unwrap().digest, digest(DIGEST));
}

#[test]
fn a_production_deploy_says_how_it_was_rolled_out() {
    let mut h = Harness::start();
    h.drive_to_production_step();
    let mut report = deployment_report(Environment::Production, DIGEST, Outcome::Succeeded, HealthCheck::Passed);
    report.strategy = None;
    assert_eq!(h.refused(&ci(), Command::RecordDeployment(report.clone())).code, "strategy_required");
    report.strategy = Some(DeployStrategy::Canary);
    let refused = h.refused(&ci(), Command::RecordDeployment(report.clone()));
    assert_eq!(refused.code, "invalid_input");
    assert!(refused.message.contains("canary_percent"), "{}", refused.message);
    report.canary_percent = Some(5);
    h.ok(&ci(), Command::RecordDeployment(report));
}

#[test]
fn a_rollback_after_the_watch_is_refused_while_another_release_holds_production() {
    let mut h = Harness::start();
    h.drive_to_monitor();
    h.pass_monitor();
    assert!(!h.release.holds_production());
    h.holder = Some(ProductionHolder {
        release_id: ReleaseId::new("next"),
        version: Version::parse("1.5.0").unwrap(),
        started_by: "Erin".into(),
        step_title: "Deploy to Production".into(),
    });
    let r = h.refused(&bob(), fail("rollback-criteria", "rollback", "p99 5x baseline"));
    assert_eq!(r.code, "production_held");
    assert!(r.message.contains("Erin"), "{}", r.message);
    assert_eq!(h.refused(&bob(), Command::TriggerRollback { reason: "p99".into() }).code, "production_held");
    assert_eq!(h.refused(&bob(), Command::Abort { reason: "p99".into() }).code, "production_held");
    h.holder = None;
    h.ok(&bob(), fail("rollback-criteria", "rollback", "p99 5x baseline"));
    assert!(h.release.holds_production(), "a rollback holds production while it runs");
}

/// After the watch, production is free for the next release of the service; once that
/// one has deployed, rolling this one back would revert production under it.
#[test]
fn a_release_whose_deploy_a_later_release_replaced_cannot_roll_back_and_aborts_without_reverting() {
    let mut h = Harness::start();
    h.drive_to_monitor();
    h.pass_monitor();
    h.live = Some(LiveDeployment {
        release_id: ReleaseId::new("next"),
        version: Version::parse("1.5.0").unwrap(),
        digest: digest(OTHER_DIGEST),
    });
    let r = h.refused(&bob(), fail("rollback-criteria", "rollback", "p99 5x baseline"));
    assert_eq!(r.code, "production_held");
    assert!(r.message.contains("1.5.0") && r.message.contains("deployed after this one"), "{}", r.message);
    assert_eq!(h.refused(&bob(), Command::TriggerRollback { reason: "p99".into() }).code, "production_held");
    let events = h.ok(&bob(), Command::Abort { reason: "superseded by 1.5.0".into() });
    assert!(matches!(events.as_slice(), [Event::Aborted { .. }]), "{events:?}");
    assert_eq!(h.release.status, Status::Aborted);
}

#[test]
fn a_rollback_still_reverts_to_what_was_live_before_this_release() {
    let mut h = Harness::start();
    h.drive_to_monitor();
    h.pass_monitor();
    // Production still runs this release's artifact: the revert is this release's to do.
    h.live = Some(LiveDeployment {
        release_id: h.release.id.clone(),
        version: h.release.version.clone(),
        digest: digest(DIGEST),
    });
    h.ok(&bob(), fail("rollback-criteria", "rollback", "p99 5x baseline"));
    assert_eq!(h.release.status, Status::RollingBack);
}

#[test]
fn production_gets_only_the_digest_that_passed_the_smoke_test() {
    let mut h = Harness::start();
    h.drive_to_production_step();
    // Should staging and smoke ever disagree, the smoke test's digest is required too.
    h.release.steps[4].smoke_passed = Some(digest(OTHER_DIGEST));
    let policy = Policy::default();
    let ctx = Context {
        now: h.now,
        freeze: &NoFreeze,
        production_holder: None,
        live: None,
        policy: &policy,
        recorded_artifact: None,
        locks: &[],
    };
    let r = apply(&h.release, healthy_production(DIGEST), &ci(), &ctx).unwrap_err();
    assert_eq!(r.code, "wrong_artifact");
}

// -- locks --------------------------------------------------------------------------

fn dana() -> Actor {
    Actor::new(Platform::Discord, "400", "Dana").with_roles(["engineer"])
}

fn lock_on(h: &Harness, service: &str, environment: Option<&str>, warn: bool) -> Lock {
    let request = crate::domain::lock::LockRequest {
        service: service.into(),
        reason: "database migration running".into(),
        duration: Some("2h".into()),
        environment: environment.map(str::to_owned),
        warn,
    };
    crate::domain::lock::decide_lock(&request, crate::domain::lock::LockId::new("lock_1"), &dana(), h.now, &[]).unwrap()
}

fn to_smoke_test(h: &mut Harness) {
    h.pass_pre_flight();
    h.pass_tests();
    h.pass_build();
    h.pass_staging();
    h.tick_all(&carol());
    assert_eq!(h.at(), "smoke-test");
}

#[test]
fn a_production_lock_refuses_the_production_gate_and_says_who_why_and_until_when() {
    let mut h = Harness::start();
    to_smoke_test(&mut h);
    h.locks = vec![lock_on(&h, "api", Some("production"), false)];
    let r = h.refused(&bob(), approve("smoke-test"));
    assert_eq!(r.code, RejectionCode::Locked);
    assert!(r.message.contains("api production is locked by Dana until Wed 2 Dec 12:00 UTC"), "{}", r.message);
    assert!(r.message.contains("database migration running") && r.message.contains("lock_1"), "{}", r.message);
    // Once it ends, the same approval passes.
    h.now += Duration::hours(2);
    h.ok(&bob(), approve("smoke-test"));
    assert_eq!(h.at(), "deploy-production");
}

#[test]
fn a_lock_on_every_environment_blocks_production_too_and_an_unlocked_one_does_not() {
    let mut h = Harness::start();
    to_smoke_test(&mut h);
    let mut lock = lock_on(&h, "api", None, false);
    h.locks = vec![lock.clone()];
    assert_eq!(h.refused(&bob(), approve("smoke-test")).code, RejectionCode::Locked);
    lock.ended = Some(crate::domain::lock::LockEnd::Unlocked { by: dana(), at: h.now });
    h.locks = vec![lock];
    h.ok(&bob(), approve("smoke-test"));
}

#[test]
fn a_warning_lock_and_another_services_lock_let_the_gate_pass() {
    let mut h = Harness::start();
    to_smoke_test(&mut h);
    h.locks = vec![lock_on(&h, "api", Some("production"), true), lock_on(&h, "billing", None, false)];
    h.ok(&bob(), approve("smoke-test"));
    assert_eq!(h.at(), "deploy-production");
}

#[test]
fn a_staging_lock_leaves_the_production_gate_alone() {
    let mut h = Harness::start();
    to_smoke_test(&mut h);
    h.locks = vec![lock_on(&h, "api", Some("staging"), false)];
    h.ok(&bob(), approve("smoke-test"));
}

#[test]
fn a_production_deploy_is_refused_while_production_is_locked() {
    let mut h = Harness::start();
    h.drive_to_production_step();
    h.locks = vec![lock_on(&h, "api", Some("production"), false)];
    assert_eq!(h.refused(&ci(), healthy_production(DIGEST)).code, RejectionCode::Locked);
    h.locks.clear();
    h.pass_production();
}

#[test]
fn a_staging_lock_lets_the_automatic_build_gate_pass_but_refuses_the_staging_deploy() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    h.pass_tests();
    h.locks = vec![lock_on(&h, "api", Some("staging"), false)];
    // The build gate passes by itself: waiting on a lock would strand it once the lock ends.
    h.pass_build();
    h.tick_all(&carol());
    let r = h.refused(&ci(), deploy(Environment::Staging, DIGEST, Outcome::Succeeded, HealthCheck::Passed));
    assert_eq!(r.code, RejectionCode::Locked);
    assert!(r.message.contains("deploy to staging"), "{}", r.message);
    h.locks.clear();
    h.ok(&ci(), deploy(Environment::Staging, DIGEST, Outcome::Succeeded, HealthCheck::Passed));
    assert_eq!(h.at(), "smoke-test");
}

#[test]
fn a_rollback_is_never_locked() {
    let mut h = Harness::start();
    h.drive_to_monitor();
    h.locks = vec![lock_on(&h, "api", None, false)];
    h.ok(&carol(), Command::TriggerRollback { reason: "checkout broken".into() });
    assert_eq!(h.release.status, Status::RollingBack);
}

#[test]
fn releases_consult_locks_only_around_their_deploy_steps() {
    let mut h = Harness::start();
    let mut consulted = vec![h.release.consults_locks()];
    h.pass_pre_flight();
    consulted.push(h.release.consults_locks());
    h.pass_tests();
    consulted.push(h.release.consults_locks());
    h.pass_build();
    consulted.push(h.release.consults_locks());
    h.pass_staging();
    consulted.push(h.release.consults_locks());
    h.pass_smoke();
    consulted.push(h.release.consults_locks());
    h.pass_production();
    consulted.push(h.release.consults_locks());
    assert_eq!(consulted, [false, false, true, true, true, true, false]);
}

// ---------------------------------------------------------------------------------------
// Every gate can be rejected with a reason, which sends the release down the step's
// failure path.

fn reject_gate(s: &str, reason: &str) -> Command {
    Command::RejectGate { step: step(s), reason: reason.into(), path: None }
}
fn reject_into(s: &str, path: &str, reason: &str) -> Command {
    Command::RejectGate { step: step(s), reason: reason.into(), path: Some(FailurePathId::new(path)) }
}

#[test]
fn a_rejected_gate_records_who_and_why_and_takes_the_steps_failure_path() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    h.pass_tests();
    h.pass_build();
    h.pass_staging();
    h.tick_all(&carol());
    let events = h.ok(&bob(), reject_gate("smoke-test", "  checkout fails on staging  "));
    assert_eq!(
        events,
        vec![
            Event::GateRejected {
                step: step("smoke-test"),
                reason: "checkout fails on staging".into(),
                path: Some(FailurePathId::new("smoke-failed")),
            },
            Event::FailurePathTaken {
                step: step("smoke-test"),
                path: FailurePathId::new("smoke-failed"),
                action: FailureAction::Restart,
                note: Some("checkout fails on staging".into()),
            },
            Event::Restarted { from: step("deploy-staging") },
            Event::StepEntered { step: step("deploy-staging") },
        ]
    );
    assert_eq!(h.at(), "deploy-staging");
    assert_eq!(h.release.steps[3].attempt, 2);
    // The new attempt starts clean; the rejection stays in the history.
    assert_eq!(h.release.steps[4].rejected, None);
}

#[test]
fn a_rejection_needs_a_reason_of_reasonable_length() {
    let mut h = Harness::start();
    h.tick_all(&carol());
    assert_eq!(h.refused(&bob(), reject_gate("pre-flight", "  ")).code, RejectionCode::NoteRequired);
    let long = "x".repeat(MAX_REASON_CHARS + 1);
    assert_eq!(h.refused(&bob(), reject_gate("pre-flight", &long)).code, RejectionCode::InvalidInput);
    h.ok(&bob(), reject_gate("pre-flight", &"x".repeat(MAX_REASON_CHARS)));
}

#[test]
fn only_those_who_may_pass_the_gate_may_reject_it() {
    // The smoke test's gate, which only a release manager approves.
    let mut h2 = Harness::start();
    h2.pass_pre_flight();
    h2.pass_tests();
    h2.pass_build();
    h2.pass_staging();
    let rejection = h2.refused(&carol(), reject_gate("smoke-test", "not convinced"));
    assert_eq!(rejection.code, RejectionCode::NotAllowed);
    assert!(rejection.message.contains("reject this gate") && rejection.message.contains("release-manager"));
    assert_eq!(h2.refused(&mallory(), reject_gate("smoke-test", "no")).code, RejectionCode::NotAllowed);
    // A gate that names no role is rejected by those who tick the step's items.
    let mut h3 = Harness::start();
    h3.pass_pre_flight();
    h3.pass_tests();
    assert_eq!(h3.refused(&mallory(), reject_gate("build-artifact", "bloated")).code, RejectionCode::NotAllowed);
    h3.ok(&carol(), reject_gate("build-artifact", "image carries test fixtures"));
    assert_eq!(h3.at(), "test-suite");
}

#[test]
fn a_step_with_several_paths_is_rejected_into_its_first_unless_another_is_named() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    h.ok(&ci(), tests("e2e", 40, 2));
    // The first path of the test step is the cautious one: a real regression, from Step 1.
    let mut regression = Harness::start();
    regression.pass_pre_flight();
    regression.ok(&ci(), tests("e2e", 40, 2));
    regression.ok(&carol(), reject_gate("test-suite", "orders API returns 500"));
    assert_eq!(regression.at(), "pre-flight");
    assert_eq!(regression.release.steps[0].attempt, 2);
    // Named: the flaky path, which retries the step.
    h.ok(&carol(), reject_into("test-suite", "flaky-test", "timeout in e2e/login"));
    assert_eq!(h.at(), "test-suite");
    assert_eq!(h.release.steps[1].attempt, 2);
    assert!(h.release.follow_ups.iter().any(|f| f.text.contains("flaky")));
    let rejection = h.refused(&carol(), reject_into("test-suite", "rewind", "why not"));
    assert_eq!(rejection.code, RejectionCode::UnknownFailurePath);
    assert!(rejection.message.contains("real-regression, flaky-test"), "{}", rejection.message);
}

#[test]
fn rejecting_pre_flight_aborts_the_release_with_the_reason() {
    let mut h = Harness::start();
    h.ok(&bob(), reject_gate("pre-flight", "secrets for the new queue are missing"));
    assert_eq!(h.release.status, Status::Aborted);
    assert_eq!(h.release.abort_reason.as_deref(), Some("secrets for the new queue are missing"));
    assert_eq!(h.refused(&bob(), reject_gate("pre-flight", "again")).code, RejectionCode::ReleaseFinished);
}

#[test]
fn rejecting_the_production_step_before_any_deploy_goes_back_to_staging_without_a_rollback() {
    let mut h = Harness::start();
    h.drive_to_production_step();
    // Taking the rollback path itself is refused: nothing reached production.
    let refused = h.refused(&carol(), fail("deploy-production", "production-deploy-failed", "x"));
    assert_eq!(refused.code, RejectionCode::NothingToRollBack);
    let events = h.ok(&carol(), reject_gate("deploy-production", "the deploy window was missed"));
    assert!(!events.iter().any(|e| matches!(e, Event::RollbackStarted { .. })), "{events:?}");
    assert_eq!(h.release.status, Status::Active);
    assert_eq!(h.at(), "deploy-staging");
    assert!(!h.release.holds_production(), "production is let go");
}

#[test]
fn rejecting_after_production_was_reached_rolls_it_back_with_the_reason() {
    let mut h = Harness::start();
    h.live = Some(LiveDeployment {
        release_id: ReleaseId::new("r0"),
        version: Version::parse("1.3.2").unwrap(),
        digest: digest(OLD_DIGEST),
    });
    h.drive_to_monitor();
    h.ok(&carol(), reject_gate("monitor", "p99 latency tripled"));
    assert_eq!(h.release.status, Status::RollingBack);
    assert_eq!(h.release.rollback.as_ref().map(|r| r.reason.as_str()), Some("p99 latency tripled"));
}

#[test]
fn rejecting_the_rollback_procedure_ends_the_release_once_production_is_back() {
    let mut h = Harness::start();
    h.drive_to_monitor();
    h.ok(&carol(), fail("monitor", "rollback", "errors doubled"));
    assert_eq!(
        h.refused(&carol(), reject_into(ROLLBACK_STEP, "rollback", "no")).code,
        RejectionCode::UnknownFailurePath
    );
    assert_eq!(h.refused(&mallory(), reject_gate(ROLLBACK_STEP, "no")).code, RejectionCode::NotAllowed);
    let events = h.ok(&carol(), reject_gate(ROLLBACK_STEP, "the fix will take days"));
    assert_eq!(events.len(), 2);
    assert!(matches!(&events[1], Event::AbortRequested { reason } if reason == "the fix will take days"));
    assert_eq!(h.release.status, Status::RollingBack, "production still goes back first");
    assert_eq!(h.refused(&carol(), reject_gate(ROLLBACK_STEP, "again")).code, RejectionCode::AlreadyAborting);
}

#[test]
fn only_the_gate_in_play_can_be_rejected() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    assert_eq!(h.refused(&bob(), reject_gate("pre-flight", "late")).code, RejectionCode::NotCurrentStep);
    assert_eq!(h.refused(&bob(), reject_gate("smoke-test", "early")).code, RejectionCode::NotCurrentStep);
    assert_eq!(h.refused(&bob(), reject_gate("nope", "what")).code, RejectionCode::UnknownStep);
    assert_eq!(h.refused(&bob(), reject_gate(ROLLBACK_STEP, "what")).code, RejectionCode::NotCurrentStep);
}

// ---------------------------------------------------------------------------------------
// A step with no activity past its limit is noticed once; the watch never stalls.

fn shipgate() -> Actor {
    Actor::new(Platform::System, "shipgate", "shipgate")
}
fn notice(s: &str, attempt: u32) -> Command {
    Command::NoticeStall { step: step(s), attempt }
}

#[test]
fn a_quiet_step_is_noticed_once_past_its_limit_and_stays_stalled_until_someone_acts() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    let quiet_since = h.now;
    h.now += Duration::hours(2);
    assert_eq!(h.refused(&shipgate(), notice("test-suite", 1)).code, RejectionCode::NotStalled);
    h.now += Duration::hours(1);
    assert_eq!(h.refused(&bob(), notice("test-suite", 1)).code, RejectionCode::NotAllowed, "people do not send it");
    h.now -= Duration::hours(1);
    h.now += Duration::minutes(1);
    assert_eq!(
        h.ok(&shipgate(), notice("test-suite", 1)),
        vec![Event::StallNoticed { step: step("test-suite"), attempt: 1 }]
    );
    assert!(h.release.stalled());
    assert_eq!(h.release.last_activity, quiet_since, "shipgate's own notice is not activity");
    h.now += Duration::hours(5);
    assert_eq!(h.refused(&shipgate(), notice("test-suite", 1)).code, RejectionCode::AlreadyRecorded);
    h.ok(&ci(), tests("unit", 10, 1));
    assert!(!h.release.stalled(), "someone acted");
    h.now += Duration::hours(3);
    assert_eq!(
        h.refused(&shipgate(), notice("test-suite", 1)).code,
        RejectionCode::AlreadyRecorded,
        "once per step attempt"
    );
}

#[test]
fn the_production_step_stalls_after_its_own_shorter_limit() {
    let mut h = Harness::start();
    h.drive_to_production_step();
    h.now += Duration::minutes(30);
    assert_eq!(h.refused(&shipgate(), notice("deploy-production", 1)).code, RejectionCode::NotStalled);
    h.now += Duration::minutes(1);
    h.ok(&shipgate(), notice("deploy-production", 1));
}

#[test]
fn the_watch_step_never_stalls() {
    let mut h = Harness::start();
    h.drive_to_monitor();
    h.now += Duration::days(2);
    let rejection = h.refused(&shipgate(), notice("monitor", 1));
    assert_eq!(rejection.code, RejectionCode::NotStalled);
    assert!(rejection.message.contains("never stalls"));
}

#[test]
fn a_stall_of_an_attempt_the_release_moved_on_from_is_not_noticed() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    h.ok(&carol(), fail("test-suite", "flaky-test", "timeout"));
    h.now += Duration::hours(3);
    assert_eq!(h.refused(&shipgate(), notice("test-suite", 1)).code, RejectionCode::NotCurrentStep);
    assert_eq!(h.refused(&shipgate(), notice("pre-flight", 1)).code, RejectionCode::NotCurrentStep);
    h.ok(&shipgate(), notice("test-suite", 2));
}

#[test]
fn a_release_rolling_back_is_not_noticed_as_stalled() {
    let mut h = Harness::start();
    h.drive_to_monitor();
    h.ok(&carol(), fail("monitor", "rollback", "errors doubled"));
    h.now += Duration::hours(3);
    assert_eq!(h.refused(&shipgate(), notice("monitor", 1)).code, RejectionCode::NotCurrentStep);
}

// ---------------------------------------------------------------------------------------
// A production approval names the artifact it approved; another needs a new approval.

#[test]
fn the_production_approval_names_the_artifact_that_passed_staging() {
    let mut h = Harness::start();
    h.tick_all(&carol());
    let events = h.ok(&bob(), approve("pre-flight"));
    assert_eq!(events[0], Event::Approved { step: step("pre-flight"), digest: None }, "not a production approval");
    h.pass_tests();
    h.pass_build();
    h.pass_staging();
    h.tick_all(&carol());
    let events = h.ok(&bob(), approve("smoke-test"));
    assert_eq!(events[0], Event::Approved { step: step("smoke-test"), digest: Some(digest(DIGEST)) });
    let (approved, by) = h.release.production_approval().expect("an approval");
    assert_eq!((approved, by.by.display_name.as_str()), (&digest(DIGEST), "Bob"));
}

#[test]
fn a_production_deploy_of_another_artifact_is_refused_naming_the_approval() {
    let mut h = Harness::start();
    h.drive_to_production_step();
    let rejection = h.refused(&ci(), healthy_production(OTHER_DIGEST));
    assert_eq!(rejection.code, RejectionCode::WrongArtifact);
    assert!(
        rejection.message.contains("approved for production by Bob") && rejection.message.contains("new approval"),
        "names the approval: {}",
        rejection.message
    );
    h.pass_production();
}

#[test]
fn a_digest_the_approval_does_not_name_is_refused_whatever_staging_says() {
    let mut h = Harness::start();
    h.drive_to_production_step();
    // A history whose approval into production named another artifact than staging passed.
    for r in &mut h.events {
        if let Event::Approved { step, digest: approved } = &mut r.event {
            if step.as_str() == "smoke-test" {
                *approved = Some(digest(OTHER_DIGEST));
            }
        }
    }
    h.release = Release::fold(h.release.id.clone(), &h.events).unwrap();
    let rejection = h.refused(&ci(), healthy_production(DIGEST));
    assert_eq!(rejection.code, RejectionCode::UnapprovedArtifact);
    assert!(rejection.message.contains("Bob") && rejection.message.contains("222222222222"), "{}", rejection.message);
}

#[test]
fn going_back_before_the_gate_into_production_needs_a_new_approval() {
    let mut h = Harness::start();
    h.drive_to_production_step();
    h.ok(&carol(), reject_gate("deploy-production", "wrong window"));
    assert_eq!(h.release.production_approval(), None, "the approval went with the attempt");
    assert_eq!(h.refused(&ci(), healthy_production(DIGEST)).code, RejectionCode::NotCurrentStep);
    h.pass_staging();
    h.tick_all(&carol());
    h.ok(&carol(), untick("smoke-test", "core-flows"));
    h.ok(&carol(), tick("smoke-test", "core-flows"));
    h.ok(&bob(), approve("smoke-test"));
    assert_eq!(h.release.production_approval().map(|(d, _)| d.clone()), Some(digest(DIGEST)));
    h.pass_production();
}

#[test]
fn unticking_withdraws_the_approved_digest_with_the_approvals() {
    let mut playbook = Playbook::ship_to_production();
    playbook.steps[4].gate.approvals = 2;
    let mut h = Harness::start_with(playbook, false);
    h.pass_pre_flight();
    h.pass_tests();
    h.pass_build();
    h.pass_staging();
    h.tick_all(&carol());
    h.ok(&bob(), approve("smoke-test"));
    assert_eq!(h.release.steps[4].approved_digest, Some(digest(DIGEST)));
    h.ok(&carol(), untick("smoke-test", "core-flows"));
    assert_eq!(h.release.steps[4].approved_digest, None);
}

#[test]
fn histories_written_before_approvals_named_a_digest_still_fold_and_deploy() {
    let mut h = Harness::start();
    h.drive_to_production_step();
    // The history as stored before: `approved` events carried only the step.
    let old: Vec<Recorded> = h
        .events
        .iter()
        .map(|r| {
            let mut json = serde_json::to_value(r).unwrap();
            if json["event"]["type"] == "approved" {
                json["event"].as_object_mut().unwrap().remove("digest");
            }
            serde_json::from_value(json).unwrap()
        })
        .collect();
    assert!(old.iter().any(|r| matches!(&r.event, Event::Approved { digest: None, .. })));
    let release = Release::fold(h.release.id.clone(), &old).unwrap();
    assert_eq!(release.production_approval(), None);
    h.release = release;
    h.events = old;
    // No digest to pin: the staging rule alone decides, as it did.
    assert_eq!(h.refused(&ci(), healthy_production(OTHER_DIGEST)).code, RejectionCode::WrongArtifact);
    h.pass_production();
}

#[test]
fn an_approval_without_a_digest_is_stored_as_before() {
    let json = serde_json::to_value(Event::Approved { step: step("pre-flight"), digest: None }).unwrap();
    assert_eq!(json, serde_json::json!({"type": "approved", "step": "pre-flight"}));
}

// ---------------------------------------------------------------------------------------
// "Fix it, merge, and restart from Step 1": the fix is a new commit.

fn retarget(sha: &str, version: Option<&str>, reason: &str) -> Command {
    Command::Retarget {
        git_sha: GitSha::parse(sha).unwrap(),
        version: version.map(|v| Version::parse(v).unwrap()),
        reason: reason.into(),
    }
}

#[test]
fn after_a_real_regression_the_fix_ships_from_step_1_on_its_own_commit() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    h.ok(&ci(), tests("integration", 50, 3));
    h.ok(&carol(), fail("test-suite", "real-regression", "orders API returns 500"));
    assert_eq!(h.at(), "pre-flight");
    // Ticks on the new attempt are for the old commit too: they are cleared again.
    h.ok(&carol(), tick("pre-flight", "prs-merged"));

    let events = h.ok(&carol(), retarget("4444abc", Some("1.4.1"), "the fix for the orders regression"));
    assert!(matches!(
        &events[0],
        Event::Retargeted { from_git_sha, from_version, git_sha, version, reason }
            if from_git_sha.as_str() == "3f9c2e1" && from_version.to_string() == "1.4.0"
                && git_sha.as_str() == "4444abc" && version.to_string() == "1.4.1"
                && reason == "the fix for the orders regression"
    ));
    assert!(matches!(&events[1], Event::Restarted { from } if from.as_str() == "pre-flight"));
    assert_eq!(h.at(), "pre-flight");
    assert!(h.release.steps[0].ticked.is_empty(), "what was ticked for the old commit does not count");
    assert_eq!(h.release.git_sha.as_str(), "4444abc");
    assert_eq!(h.release.version.to_string(), "1.4.1");
    let retargeted = h.release.retargeted.as_ref().unwrap();
    assert_eq!(retargeted.by.by.display_name, "Carol");

    // The old commit's artifact is now the wrong one; the fix's is taken.
    h.pass_pre_flight();
    h.pass_tests();
    let r = h.refused(&ci(), artifact(DIGEST, "3f9c2e1", "1.4.1"));
    assert_eq!(r.code, "wrong_artifact");
    assert!(r.message.contains("4444abc"), "{}", r.message);
    h.ok(&ci(), artifact(DIGEST, "4444abc", "1.4.1"));
}

#[test]
fn a_retarget_without_a_version_keeps_the_release_version() {
    let mut h = Harness::start();
    h.ok(&carol(), retarget("4444abc", None, "a fix merged before the review"));
    assert_eq!(h.release.version.to_string(), "1.4.0");
    assert_eq!(h.release.git_sha.as_str(), "4444abc");
}

#[test]
fn a_release_past_step_1_cannot_be_retargeted() {
    let mut h = Harness::start();
    h.pass_pre_flight();
    let r = h.refused(&carol(), retarget("4444abc", None, "fix"));
    assert_eq!(r.code, "not_current_step");
    assert!(r.message.contains("only at Step 1"), "{}", r.message);
    assert!(r.message.contains("Step 2"), "{}", r.message);

    h.pass_tests();
    h.pass_build();
    h.pass_staging();
    h.pass_smoke();
    h.pass_production();
    assert_eq!(h.refused(&carol(), retarget("4444abc", None, "fix")).code, "not_current_step");
}

#[test]
fn a_release_rolling_back_cannot_be_retargeted() {
    let mut h = Harness::start();
    h.drive_to_monitor();
    h.ok(&alice(), Command::TriggerRollback { reason: "errors doubled".into() });
    let r = h.refused(&carol(), retarget("4444abc", None, "fix"));
    assert_eq!(r.code, "not_current_step");
    assert!(r.message.contains("rolling back"), "{}", r.message);
}

#[test]
fn a_retarget_needs_a_reason_and_a_new_commit_or_version() {
    let mut h = Harness::start();
    assert_eq!(h.refused(&carol(), retarget("4444abc", None, "   ")).code, "note_required");
    let r = h.refused(&carol(), retarget("3f9c2e1", None, "same commit"));
    assert_eq!(r.code, "invalid_input");
    assert!(r.message.contains("already ships"), "{}", r.message);
    // The full SHA of the same commit is the same commit.
    assert_eq!(h.refused(&carol(), retarget("3f9c2e1aa", None, "same commit")).code, "invalid_input");
    // A new version on the same commit is a real change (a re-tag).
    h.ok(&carol(), retarget("3f9c2e1", Some("1.4.1"), "tagged as a patch release"));
}

#[test]
fn only_someone_who_may_start_a_release_may_retarget_it() {
    let mut playbook = Playbook::ship_to_production();
    playbook.start_roles = vec![RoleName::new("release-manager")];
    let mut h = Harness::start_with(playbook, false);
    let r = h.refused(&carol(), retarget("4444abc", None, "fix"));
    assert_eq!(r.code, "not_allowed");
    assert!(r.message.contains("release-manager"), "{}", r.message);
    h.ok(&bob(), retarget("4444abc", None, "fix"));
    assert_eq!(h.refused(&mallory(), retarget("5555abc", None, "fix")).code, "not_allowed");
}

#[test]
fn a_finished_release_cannot_be_retargeted() {
    let mut h = Harness::start();
    h.ok(&alice(), Command::Abort { reason: "superseded".into() });
    assert_eq!(h.refused(&alice(), retarget("4444abc", None, "fix")).code, "release_finished");
}

// ---------------------------------------------------------------------------------------
// A first release rolled back: there is no known-good artifact to go back to.

fn revert_report(d: &str, reason: Option<&str>) -> Command {
    let mut report = deployment_report(Environment::Production, d, Outcome::Succeeded, HealthCheck::Passed);
    report.unknown_artifact_reason = reason.map(str::to_owned);
    Command::RecordDeployment(report)
}

#[test]
fn a_first_release_s_rollback_says_there_is_no_known_good_artifact() {
    let mut h = Harness::start();
    h.drive_to_monitor();
    h.ok(&alice(), Command::TriggerRollback { reason: "errors doubled".into() });
    let rollback = h.release.rollback.as_ref().unwrap();
    assert_eq!(rollback.target, None);
    let words = no_known_good_target(&h.release.service);
    assert!(words.starts_with("no known-good artifact") && words.contains("api"), "{words}");
}

#[test]
fn a_first_release_reverts_only_to_an_artifact_shipgate_recorded_or_with_a_reason() {
    let mut h = Harness::start();
    h.drive_to_monitor();
    h.ok(&alice(), Command::TriggerRollback { reason: "errors doubled".into() });

    // A digest shipgate never saw for the service, with no reason: refused, saying why.
    let r = h.refused(&ci(), revert_report(OLD_DIGEST, None));
    assert_eq!(r.code, "unknown_artifact");
    assert!(r.message.contains("no known-good artifact"), "{}", r.message);
    assert!(r.message.contains("unknown_artifact_reason"), "{}", r.message);
    // A blank reason is no reason.
    assert_eq!(h.refused(&ci(), revert_report(OLD_DIGEST, Some("  \t "))).code, "unknown_artifact");
    // The artifact being rolled back is never the revert, reason or not.
    assert_eq!(h.refused(&ci(), revert_report(DIGEST, Some("it is fine"))).code, "wrong_artifact");

    // With a reason it goes through, and the reason is kept with the deploy.
    let events = h.ok(&ci(), revert_report(OLD_DIGEST, Some("the image we ran by hand before shipgate")));
    assert!(events.iter().any(|e| matches!(e,
        Event::DeploymentRecorded { report, rollback: true, .. }
            if report.unknown_artifact_reason.as_deref() == Some("the image we ran by hand before shipgate"))));
}

#[test]
fn a_first_release_reverts_to_an_artifact_shipgate_recorded_for_the_service_without_a_reason() {
    let mut h = Harness::start();
    h.drive_to_monitor();
    h.ok(&alice(), Command::TriggerRollback { reason: "errors doubled".into() });
    h.recorded = Some(RecordedArtifact { release_id: ReleaseId::new("r0"), version: Version::parse("1.3.9").unwrap() });
    h.ok(&ci(), revert_report(OLD_DIGEST, None));
}

#[test]
fn a_rollback_with_a_known_good_target_needs_no_reason_and_takes_only_the_target() {
    let mut h = Harness::start();
    h.live = Some(LiveDeployment {
        release_id: ReleaseId::new("r0"),
        version: Version::parse("1.3.2").unwrap(),
        digest: digest(OLD_DIGEST),
    });
    h.drive_to_monitor();
    h.ok(&alice(), Command::TriggerRollback { reason: "errors doubled".into() });
    assert_eq!(h.refused(&ci(), revert_report(OTHER_DIGEST, Some("any"))).code, "wrong_artifact");
    h.ok(&ci(), revert_report(OLD_DIGEST, None));
}

// ---------------------------------------------------------------------------------------
// A downgrade needs a reason, and whitespace is not one.

#[test]
fn a_blank_downgrade_reason_is_no_reason() {
    let mut h = Harness::start();
    h.live = Some(LiveDeployment {
        release_id: ReleaseId::new("r0"),
        version: Version::parse("1.5.0").unwrap(),
        digest: digest(OLD_DIGEST),
    });
    h.drive_to_production_step();
    for blank in ["", " ", " \t\n "] {
        let mut report = deployment_report(Environment::Production, DIGEST, Outcome::Succeeded, HealthCheck::Passed);
        report.downgrade_reason = Some(blank.into());
        let r = h.refused(&ci(), Command::RecordDeployment(report));
        assert_eq!(r.code, "downgrade", "{blank:?}: {}", r.message);
    }
    let mut report = deployment_report(Environment::Production, DIGEST, Outcome::Succeeded, HealthCheck::Passed);
    report.downgrade_reason = Some("1.5.0 corrupts carts".into());
    h.ok(&ci(), Command::RecordDeployment(report));
}

mod hook;
mod triage;
mod watch;
