//! Linking a rollback to the bug triage shipgate opened for it: shipgate's own command,
//! once per rollback, and still possible after the rollback completed.

use super::*;

fn shipgate() -> Actor {
    Actor::new(Platform::System, "shipgate", "shipgate")
}

fn link(triage: &str) -> Command {
    Command::LinkTriage { triage: ReleaseId::new(triage) }
}

fn rolling_back() -> Harness {
    let mut h = Harness::start().with_previous_live();
    h.drive_to_monitor();
    h.ok(&carol(), fail("monitor", "rollback", "error rate 3.1x baseline"));
    assert_eq!(h.release.status, Status::RollingBack);
    h
}

#[test]
fn shipgate_links_a_rollback_to_its_triage_once() {
    let mut h = rolling_back();
    let events = h.ok(&shipgate(), link("triage-1"));
    assert_eq!(events, [Event::TriageOpened { triage: ReleaseId::new("triage-1") }]);
    assert_eq!(h.release.triage, Some(ReleaseId::new("triage-1")));
    let again = h.refused(&shipgate(), link("triage-2"));
    assert_eq!(again.code, "already_recorded");
    assert!(again.message.contains("triage-1"), "{}", again.message);
}

#[test]
fn only_shipgate_links_and_only_a_rollback() {
    let mut h = rolling_back();
    for person in [carol(), bob()] {
        assert_eq!(h.refused(&person, link("triage-1")).code, "not_allowed");
    }
    let mut quiet = Harness::start();
    quiet.drive_to_monitor();
    assert_eq!(quiet.refused(&shipgate(), link("triage-1")).code, "not_rolling_back");
}

#[test]
fn a_rollback_that_completed_before_its_triage_opened_is_still_linked() {
    let mut h = rolling_back();
    h.tick_all_rollback(&carol());
    h.ok(&ci(), healthy_production(OLD_DIGEST));
    h.ok(&bob(), approve(ROLLBACK_STEP));
    assert_eq!(h.release.status, Status::RolledBack);
    h.ok(&shipgate(), link("triage-1"));
    assert_eq!(h.release.triage, Some(ReleaseId::new("triage-1")));
    // Nothing else is let in by the exception.
    assert_eq!(h.refused(&carol(), Command::TriggerRollback { reason: "again".into() }).code, "release_finished");
}
