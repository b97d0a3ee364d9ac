//! Steps 7 and 8 on real data: the watch's baseline and samples, the criteria that trip a
//! rollback by themselves, alerts, and completing a watch that could not see.

use super::*;
use crate::domain::watch::{Alert, AlertStatus, Criteria, Criterion, Metric, Reading, Readings, WatchSettings};

fn shipgate() -> Actor {
    Actor::new(Platform::System, "watch", "shipgate")
}

fn settings() -> WatchSettings {
    WatchSettings { window_seconds: 1800, min_window_seconds: 900, interval_seconds: 30, baseline_window_seconds: 1800 }
}

fn readings(error_rate: Option<f64>, p99: Option<f64>, exceptions: Option<f64>) -> Readings {
    let reading = |v: Option<f64>| v.map_or_else(|| Reading::blind("Prometheus returned no data"), Reading::value);
    Readings::from([
        (Metric::ErrorRate, reading(error_rate)),
        (Metric::LatencyP99, reading(p99)),
        (Metric::UnhandledExceptionRate, reading(exceptions)),
        (Metric::Throughput, Reading::value(120.0)),
    ])
}

fn healthy() -> Readings {
    readings(Some(0.004), Some(0.2), Some(0.0))
}

fn begin(baseline: Readings) -> Command {
    Command::BeginWatch { settings: settings(), criteria: Criteria::default(), baseline }
}

impl Harness {
    fn watched() -> Harness {
        let mut h = Harness::start().with_previous_live();
        h.drive_to_monitor();
        h.ok(&shipgate(), begin(readings(Some(0.01), Some(0.2), Some(0.0))));
        h
    }

    /// Takes the samples due up to `minutes` after the deploy, each with `readings`.
    fn sample_until(&mut self, minutes: i64, readings: &Readings) {
        let deployed = self.release.current_watch().unwrap().deployed_at;
        while let Some(at) = self.release.current_watch().and_then(|w| w.next_sample_at()) {
            if at > deployed + Duration::minutes(minutes) {
                break;
            }
            self.now = self.now.max(at);
            self.ok(&shipgate(), Command::RecordSample { at, readings: readings.clone() });
        }
    }

    fn sample(&mut self, readings: Readings) -> Result<Vec<Event>, Rejection> {
        let at = self.release.current_watch().unwrap().next_sample_at().unwrap();
        self.now = self.now.max(at);
        self.run(&shipgate(), Command::RecordSample { at, readings })
    }
}

#[test]
fn a_healthy_watch_lets_the_release_complete_after_the_minimum_window() {
    let mut h = Harness::watched();
    h.tick_all(&carol());
    h.sample_until(14, &healthy());
    assert!(h.refused(&carol(), approve("monitor")).message.contains("15-minute watch"));
    h.sample_until(15, &healthy());
    h.ok(&carol(), approve("monitor"));
    h.sample_until(20, &healthy());
    h.tick_all(&carol());
    h.ok(&bob(), approve("rollback-criteria"));
    assert_eq!(h.release.status, Status::Completed);
    // The watch ends with the release.
    let at = h.release.watch.as_ref().unwrap().next_sample_at().unwrap();
    assert_eq!(h.refused(&shipgate(), Command::RecordSample { at, readings: healthy() }).code, "release_finished");
}

#[test]
fn each_criterion_trips_a_rollback_at_the_sample_that_crosses_it_and_not_before() {
    // baseline: 1% errors, p99 200 ms, no exceptions.
    let cases = [
        (Criterion::ErrorRate, readings(Some(0.02), Some(0.2), Some(0.0)), readings(Some(0.021), Some(0.2), Some(0.0))),
        (
            Criterion::LatencyP99,
            readings(Some(0.01), Some(0.6), Some(0.0)),
            readings(Some(0.01), Some(0.61), Some(0.0)),
        ),
        (
            Criterion::UnhandledExceptions,
            readings(Some(0.01), Some(0.2), Some(0.01)),
            readings(Some(0.01), Some(0.2), Some(0.011)),
        ),
    ];
    for (criterion, at_threshold, above) in cases {
        let mut h = Harness::watched();
        h.sample_until(5, &healthy());
        h.sample(at_threshold.clone()).unwrap();
        assert_eq!(h.release.status, Status::Active, "{criterion:?} at its threshold does not trip");
        let events = h.sample(above).unwrap();
        assert_eq!(h.release.status, Status::RollingBack, "{criterion:?}");
        let Some(Event::RollbackStarted { trips, reason, target, .. }) =
            events.iter().find(|e| matches!(e, Event::RollbackStarted { .. }))
        else {
            panic!("{events:?}")
        };
        assert_eq!(trips[0].criterion, criterion);
        assert_eq!(trips[0].since, h.release.watch.as_ref().unwrap().latest().unwrap().at);
        assert!(reason.starts_with("rollback criterion tripped: "), "{reason}");
        assert_eq!(target.as_ref().unwrap().digest, digest(OLD_DIGEST), "the previous known-good artifact");
        // The watch stops sampling while production goes back.
        assert_eq!(h.sample(healthy()).unwrap_err().code, "release_finished");
    }
}

#[test]
fn a_zero_error_baseline_trips_only_above_the_floor() {
    let mut h = Harness::start().with_previous_live();
    h.drive_to_monitor();
    h.ok(&shipgate(), begin(readings(Some(0.0), Some(0.2), Some(0.0))));
    h.sample(readings(Some(0.009), Some(0.2), Some(0.0))).unwrap();
    assert_eq!(h.release.status, Status::Active, "0.9% is under the 1% floor");
    h.sample(readings(Some(0.012), Some(0.2), Some(0.0))).unwrap();
    let trip = &h.release.rollback.as_ref().unwrap().trips[0];
    assert!(trip.floor_applies);
    assert_eq!(trip.threshold, Some(0.01));
}

#[test]
fn several_criteria_tripping_at_once_are_all_told_the_first_in_the_playbooks_order() {
    let mut h = Harness::watched();
    h.sample(readings(Some(0.5), Some(2.0), Some(0.2))).unwrap();
    let trips: Vec<Criterion> = h.release.rollback.as_ref().unwrap().trips.iter().map(|t| t.criterion).collect();
    assert_eq!(trips, [Criterion::ErrorRate, Criterion::LatencyP99, Criterion::UnhandledExceptions]);
    assert!(h.release.rollback.as_ref().unwrap().reason.contains("error rate 50.00%"));
}

#[test]
fn a_blind_metric_blocks_completion_until_someone_gives_a_reason() {
    let mut h = Harness::watched();
    h.tick_all(&carol());
    h.sample_until(15, &readings(Some(0.01), None, Some(0.0)));
    let r = h.refused(&carol(), approve("monitor"));
    assert_eq!(r.code, "evidence_missing");
    assert!(r.message.contains("p99 latency (Prometheus returned no data)"), "{}", r.message);
    // A blind metric is never judged: nothing trips on it.
    assert_eq!(h.release.status, Status::Active);
    assert_eq!(h.refused(&mallory(), Command::AcceptBlindWatch { reason: "fine".into() }).code, "not_allowed");
    assert_eq!(h.refused(&carol(), Command::AcceptBlindWatch { reason: "  ".into() }).code, "note_required");
    h.ok(&carol(), Command::AcceptBlindWatch { reason: "latency exporter is down; checked Grafana by hand".into() });
    let accepted = &h.release.watch.as_ref().unwrap().blind_accepted[0];
    assert_eq!(accepted.metrics, [Metric::LatencyP99]);
    assert_eq!(accepted.by.by, carol());
    h.ok(&carol(), approve("monitor"));
}

#[test]
fn a_metric_blind_at_the_baseline_cannot_be_compared_and_says_why() {
    let mut h = Harness::start().with_previous_live();
    h.drive_to_monitor();
    h.ok(&shipgate(), begin(readings(None, Some(0.2), Some(0.0))));
    h.sample_until(15, &healthy());
    h.tick_all(&carol());
    let r = h.refused(&carol(), approve("monitor"));
    assert!(r.message.contains("error rate (no baseline: Prometheus returned no data)"), "{}", r.message);
}

#[test]
fn blindness_that_starts_after_the_watch_gate_still_blocks_completion() {
    let mut h = Harness::watched();
    h.tick_all(&carol());
    h.sample_until(15, &healthy());
    h.ok(&carol(), approve("monitor"));
    h.sample_until(16, &readings(None, Some(0.2), Some(0.0)));
    h.tick_all(&carol());
    let r = h.refused(&bob(), approve("rollback-criteria"));
    assert!(r.message.contains("could not see: error rate"), "{}", r.message);
    h.ok(&bob(), Command::AcceptBlindWatch { reason: "Prometheus restarted; error dashboards clean".into() });
    h.ok(&bob(), approve("rollback-criteria"));
    assert_eq!(h.release.status, Status::Completed);
}

#[test]
fn a_watch_that_fell_behind_is_missing_data() {
    let mut h = Harness::watched();
    h.tick_all(&carol());
    h.sample_until(10, &healthy());
    h.now = h.release.production.as_ref().unwrap().1.at + Duration::minutes(16);
    let r = h.refused(&carol(), approve("monitor"));
    assert!(r.message.contains("Prometheus has not been read since"), "{}", r.message);
    h.ok(&carol(), Command::AcceptBlindWatch { reason: "Prometheus is down; Grafana Cloud looks clean".into() });
    h.ok(&carol(), approve("monitor"));
}

#[test]
fn a_longer_min_window_than_the_playbooks_holds_the_gate() {
    let mut h = Harness::start().with_previous_live();
    h.drive_to_monitor();
    let settings = WatchSettings { min_window_seconds: 1200, ..settings() };
    h.ok(&shipgate(), Command::BeginWatch { settings, criteria: Criteria::default(), baseline: healthy() });
    h.tick_all(&carol());
    h.sample_until(15, &healthy());
    assert!(h.refused(&carol(), approve("monitor")).message.contains("20-minute watch"));
    h.sample_until(20, &healthy());
    h.ok(&carol(), approve("monitor"));
}

#[test]
fn only_shipgate_measures_and_samples_and_each_once() {
    let mut h = Harness::start().with_previous_live();
    h.drive_to_monitor();
    assert_eq!(h.refused(&alice(), begin(healthy())).code, "not_allowed");
    h.ok(&shipgate(), begin(healthy()));
    assert_eq!(h.refused(&shipgate(), begin(healthy())).code, "already_recorded");
    let at = h.release.current_watch().unwrap().next_sample_at().unwrap();
    assert_eq!(h.refused(&ci(), Command::RecordSample { at, readings: healthy() }).code, "not_allowed");
    h.ok(&shipgate(), Command::RecordSample { at, readings: healthy() });
    // A replayed sample changes nothing.
    assert_eq!(h.refused(&shipgate(), Command::RecordSample { at, readings: healthy() }).code, "already_recorded");
    // Nor does one past the window.
    let late = h.release.current_watch().unwrap().ends_at() + Duration::seconds(1);
    assert_eq!(h.refused(&shipgate(), Command::RecordSample { at: late, readings: healthy() }).code, "not_watching");
}

#[test]
fn no_watch_before_the_production_deploy() {
    let mut h = Harness::start();
    h.drive_to_production_step();
    assert_eq!(h.refused(&shipgate(), begin(healthy())).code, "not_watching");
}

fn alert(status: AlertStatus, critical: bool) -> Command {
    Command::RecordAlert(Alert {
        fingerprint: "a1b2c3".into(),
        name: "CheckoutFailing".into(),
        summary: Some("checkout answers 500 for 30% of attempts".into()),
        severity: Some(if critical { "critical" } else { "warning" }.into()),
        status,
        starts_at: wednesday() + Duration::hours(1),
        critical,
    })
}

#[test]
fn a_firing_critical_alert_is_a_broken_flow_and_rolls_back() {
    let mut h = Harness::watched();
    h.ok(&shipgate(), alert(AlertStatus::Firing, true));
    assert_eq!(h.release.status, Status::RollingBack);
    let trip = &h.release.rollback.as_ref().unwrap().trips[0];
    assert_eq!(trip.criterion, Criterion::CriticalFlow);
    assert_eq!(trip.since, wednesday() + Duration::hours(1));
    assert_eq!(trip.evidence.as_deref(), Some("alert CheckoutFailing: checkout answers 500 for 30% of attempts"));
    // Alertmanager resends: the same alert changes nothing twice.
    assert_eq!(h.refused(&shipgate(), alert(AlertStatus::Firing, true)).code, "already_recorded");
    // Its resolution is recorded, during the rollback too.
    h.ok(&shipgate(), alert(AlertStatus::Resolved, true));
    assert_eq!(h.release.watch.as_ref().unwrap().alerts.len(), 2);
}

#[test]
fn a_warning_is_recorded_and_rolls_nothing_back() {
    let mut h = Harness::watched();
    h.ok(&shipgate(), alert(AlertStatus::Firing, false));
    assert_eq!(h.release.status, Status::Active);
    assert_eq!(h.release.watch.as_ref().unwrap().alerts.len(), 1);
}

#[test]
fn a_person_can_say_a_critical_flow_is_broken() {
    let mut h = Harness::watched();
    assert_eq!(h.refused(&mallory(), Command::ReportCriticalFlow { note: "login".into() }).code, "not_allowed");
    assert_eq!(h.refused(&carol(), Command::ReportCriticalFlow { note: " ".into() }).code, "note_required");
    h.ok(&carol(), Command::ReportCriticalFlow { note: "login loops back to the sign-in page".into() });
    let rollback = h.release.rollback.as_ref().unwrap();
    assert_eq!(rollback.trips[0].criterion, Criterion::CriticalFlow);
    assert_eq!(rollback.trips[0].evidence.as_deref(), Some("Carol reports: login loops back to the sign-in page"));
    assert!(rollback.reason.contains("a critical user flow is broken"), "{}", rollback.reason);
    assert_eq!(h.refused(&carol(), Command::ReportCriticalFlow { note: "again".into() }).code, "already_rolling_back");
}

#[test]
fn a_restart_after_the_rollback_forgets_the_watch() {
    let mut h = Harness::watched();
    h.sample(healthy()).unwrap();
    assert!(h.release.watch.is_some());
    h.ok(&carol(), Command::ReportCriticalFlow { note: "checkout is down".into() });
    // The watch stays for the rollback notice to tell what it saw.
    assert_eq!(h.release.watch.as_ref().unwrap().samples.len(), 1);
}
