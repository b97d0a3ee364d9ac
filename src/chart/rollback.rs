//! The chart a rollback notice carries: the metric whose criterion tripped, sample by
//! sample over the watch window, against its pre-deploy baseline and the threshold that
//! tripped. Built from the release alone, so every platform draws the same picture.

use super::{ChartSpec, Unit};
use crate::domain::release::Release;
use crate::domain::watch::{self, Criterion, Metric};

/// The chart of `release`'s rollback, if a measured criterion started it (an alert or a
/// person's report has no series to draw), or `None`.
pub fn rollback_chart(release: &Release, time_zone: chrono_tz::Tz) -> Option<ChartSpec> {
    let rollback = release.rollback.as_ref()?;
    let watch = release.watch.as_ref()?;
    let trip =
        rollback.trips.iter().find(|t| t.criterion != Criterion::CriticalFlow && t.criterion.metric().is_some())?;
    let metric = trip.criterion.metric()?;
    let points = watch.samples.iter().map(|s| (s.at, s.readings.get(&metric).and_then(|r| r.as_value()))).collect();
    Some(ChartSpec {
        title: format!("{} {} — {}", release.service, release.version, metric.label()),
        unit: unit(metric),
        points,
        baseline: watch.baseline.get(&metric).and_then(|r| r.as_value()),
        threshold: trip.threshold,
        threshold_label: threshold_label(trip.criterion, trip.floor_applies, &watch.criteria),
        deploy_at: watch.deployed_at,
        tripped_at: Some(trip.since),
        window_end: watch.ends_at(),
        time_zone,
    })
}

fn unit(metric: Metric) -> Unit {
    match metric.unit() {
        watch::Unit::Ratio => Unit::Percent,
        watch::Unit::Seconds => Unit::Seconds,
        watch::Unit::PerSecond => Unit::PerSecond,
    }
}

/// What the red line is, in the criterion's own terms.
fn threshold_label(criterion: Criterion, floor_applies: bool, criteria: &watch::Criteria) -> String {
    let ratio = match criterion {
        Criterion::ErrorRate => criteria.error_rate_ratio,
        Criterion::LatencyP99 => criteria.latency_p99_ratio,
        Criterion::UnhandledExceptions => return "threshold (share of requests)".into(),
        Criterion::CriticalFlow => return String::new(),
    };
    if floor_applies {
        "threshold (floor: baseline too small for a ratio)".into()
    } else {
        format!("threshold ({}x baseline)", trim(ratio))
    }
}

fn trim(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::card::fixtures::{carol, Walk};
    use crate::domain::release::Command;
    use crate::domain::watch::Criteria;
    use chrono::Duration;

    #[test]
    fn a_tripped_error_rate_is_drawn_against_its_baseline_and_threshold() {
        let mut walk = Walk::watching();
        let deployed_at = walk.release.watch.as_ref().expect("watching").deployed_at;
        for rate in [0.004, 0.005, 0.09] {
            walk.sample_error_rate(rate);
        }
        let spec = rollback_chart(&walk.release, chrono_tz::UTC).expect("a measured criterion tripped");
        assert_eq!(spec.unit, Unit::Percent);
        assert_eq!(spec.points.len(), 3);
        assert_eq!(spec.points[2].1, Some(0.09));
        assert_eq!(spec.baseline, Some(0.004));
        assert_eq!(spec.threshold, Some(0.01), "2x a 0.4% baseline is under the 1% floor");
        assert!(spec.threshold_label.contains("floor"), "{}", spec.threshold_label);
        assert_eq!(spec.tripped_at, Some(spec.points[2].0));
        assert_eq!(spec.window_end, deployed_at + Duration::minutes(30));
        assert!(spec.title.ends_with("error rate"), "{}", spec.title);
    }

    #[test]
    fn a_rollback_a_person_started_has_no_chart() {
        let mut walk = Walk::watching();
        walk.ok(&carol(), Command::TriggerRollback { reason: "checkout answers 500".into() });
        assert_eq!(rollback_chart(&walk.release, chrono_tz::UTC), None);
    }

    #[test]
    fn labels_say_what_the_red_line_is() {
        let criteria = Criteria::default();
        assert_eq!(threshold_label(Criterion::LatencyP99, false, &criteria), "threshold (3x baseline)");
        assert_eq!(threshold_label(Criterion::ErrorRate, false, &criteria), "threshold (2x baseline)");
        assert_eq!(threshold_label(Criterion::UnhandledExceptions, false, &criteria), "threshold (share of requests)");
    }
}
