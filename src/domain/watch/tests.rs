use super::*;
use chrono::TimeZone;

fn readings(values: &[(Metric, Option<f64>)]) -> Readings {
    values
        .iter()
        .map(|(m, v)| (*m, v.map_or_else(|| Reading::blind("Prometheus returned no data"), Reading::value)))
        .collect()
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 15, minute, 0).unwrap()
}

fn verdict(criterion: Criterion, baseline: Option<f64>, now: Option<f64>) -> Verdict {
    let metric = criterion.metric().unwrap();
    let checks = judge(&readings(&[(metric, baseline)]), &readings(&[(metric, now)]), &Criteria::default());
    checks.into_iter().find(|c| c.criterion == criterion).unwrap().verdict
}

fn tripped(v: &Verdict) -> bool {
    matches!(v, Verdict::Tripped { .. })
}

#[test]
fn each_criterion_trips_just_above_its_threshold_and_not_at_it() {
    // (criterion, baseline, observed, trips)
    let table = [
        (Criterion::ErrorRate, 0.02, 0.04, false),
        (Criterion::ErrorRate, 0.02, 0.0401, true),
        (Criterion::ErrorRate, 0.02, 0.01, false),
        (Criterion::LatencyP99, 0.2, 0.6, false),
        (Criterion::LatencyP99, 0.2, 0.61, true),
        (Criterion::LatencyP99, 0.2, 0.3, false),
        // Absolute: the baseline does not matter.
        (Criterion::UnhandledExceptions, 0.0, 0.01, false),
        (Criterion::UnhandledExceptions, 0.0, 0.0101, true),
        (Criterion::UnhandledExceptions, 0.5, 0.02, true),
    ];
    for (criterion, baseline, observed, trips) in table {
        let v = verdict(criterion, Some(baseline), Some(observed));
        assert_eq!(tripped(&v), trips, "{criterion:?} baseline {baseline} observed {observed}: {v:?}");
    }
}

#[test]
fn a_zero_or_tiny_error_baseline_uses_the_floor_and_says_so() {
    // 2x of no errors is no errors: any error at all would trip without the floor.
    let table = [
        (0.0, 0.005, false, true),
        (0.0, 0.0101, true, true),
        (0.004, 0.009, false, true), // 2x 0.4% = 0.8% < 1% floor
        (0.004, 0.011, true, true),
        (0.006, 0.011, false, false), // 2x 0.6% = 1.2% > floor: the ratio rules
        (0.006, 0.0121, true, false),
    ];
    for (baseline, observed, trips, floor) in table {
        let v = verdict(Criterion::ErrorRate, Some(baseline), Some(observed));
        let (t, f) = match v {
            Verdict::Tripped { floor_applies, .. } => (true, floor_applies),
            Verdict::Within { floor_applies, .. } => (false, floor_applies),
            Verdict::Blind { .. } => panic!("blind: {v:?}"),
        };
        assert_eq!((t, f), (trips, floor), "baseline {baseline} observed {observed}");
    }
}

#[test]
fn the_latency_floor_is_configurable() {
    let criteria = Criteria { latency_p99_floor_seconds: 0.1, ..Criteria::default() };
    assert_eq!(threshold(Criterion::LatencyP99, Some(0.01), &criteria), Some((0.1, true)));
    assert_eq!(threshold(Criterion::LatencyP99, Some(0.05), &criteria), Some((0.15000000000000002, false)));
    assert_eq!(threshold(Criterion::LatencyP99, Some(0.01), &Criteria::default()), Some((0.03, false)));
    assert_eq!(threshold(Criterion::LatencyP99, None, &criteria), None);
}

#[test]
fn closeness_says_how_near_the_threshold_a_metric_is() {
    let Verdict::Within { closeness, threshold, .. } = verdict(Criterion::ErrorRate, Some(0.02), Some(0.03)) else {
        panic!("within")
    };
    assert!((threshold - 0.04).abs() < 1e-12);
    assert!((closeness - 0.75).abs() < 1e-12, "{closeness}");
}

#[test]
fn blind_readings_and_blind_baselines_are_not_judged() {
    let v = verdict(Criterion::ErrorRate, Some(0.01), None);
    assert_eq!(v, Verdict::Blind { why: "Prometheus returned no data".into() });
    let v = verdict(Criterion::LatencyP99, None, Some(0.3));
    assert_eq!(v, Verdict::Blind { why: "no baseline to compare with: Prometheus returned no data".into() });
    // Unhandled exceptions need no baseline.
    assert!(tripped(&verdict(Criterion::UnhandledExceptions, None, Some(0.05))));
    // A metric with no baseline reading at all (not configured then) is blind too.
    let checks = judge(&Readings::new(), &readings(&[(Metric::ErrorRate, Some(0.5))]), &Criteria::default());
    assert_eq!(checks[0].verdict, Verdict::Blind { why: "no baseline was measured".into() });
}

#[test]
fn nan_and_infinity_are_blind_readings() {
    assert!(Reading::value(f64::NAN).blind_why().unwrap().contains("NaN"));
    assert!(Reading::value(f64::INFINITY).blind_why().unwrap().contains("infinite"));
    assert_eq!(Reading::value(0.0).as_value(), Some(0.0));
}

#[test]
fn trips_come_in_the_playbook_order_and_carry_their_evidence() {
    let baseline = readings(&[
        (Metric::ErrorRate, Some(0.01)),
        (Metric::LatencyP99, Some(0.2)),
        (Metric::UnhandledExceptionRate, Some(0.0)),
        (Metric::Throughput, Some(100.0)),
    ]);
    let sample = readings(&[
        (Metric::ErrorRate, Some(0.05)),
        (Metric::LatencyP99, Some(0.9)),
        (Metric::UnhandledExceptionRate, Some(0.02)),
        (Metric::Throughput, Some(10.0)),
    ]);
    let checks = judge(&baseline, &sample, &Criteria::default());
    let trips = trips(&checks, at(7));
    let order: Vec<Criterion> = trips.iter().map(|t| t.criterion).collect();
    assert_eq!(order, Criterion::MEASURED);
    assert_eq!(trips[0].observed, Some(0.05));
    assert_eq!(trips[0].baseline, Some(0.01));
    assert_eq!(trips[0].threshold, Some(0.02));
    assert_eq!(trips[0].since, at(7));
    assert_eq!(
        trips[0].describe(&Criteria::default()),
        "error rate 5.00% is above the threshold 2.00% (2x the baseline 1.00%)"
    );
    assert_eq!(
        trips[1].describe(&Criteria::default()),
        "p99 latency 900 ms is above the threshold 600 ms (3x the baseline 200 ms)"
    );
    assert_eq!(
        trips[2].describe(&Criteria::default()),
        "unhandled exceptions 2.00% is above the threshold 1.00% (of requests)"
    );
}

#[test]
fn a_floor_trip_says_the_baseline_was_too_small() {
    let checks = judge(
        &readings(&[(Metric::ErrorRate, Some(0.0))]),
        &readings(&[(Metric::ErrorRate, Some(0.03))]),
        &Criteria::default(),
    );
    let trip = &trips(&checks, at(3))[0];
    assert!(trip.floor_applies);
    assert_eq!(
        trip.describe(&Criteria::default()),
        "error rate 3.00% is above the threshold 1.00% (the floor: the baseline 0.00% is too small for a ratio to \
         mean anything)"
    );
}

#[test]
fn a_broken_flow_is_told_with_its_evidence() {
    let trip = Trip::critical_flow(at(9), "CheckoutFailing: checkout answers 500".into());
    assert_eq!(
        trip.describe(&Criteria::default()),
        "a critical user flow is broken: CheckoutFailing: checkout answers 500"
    );
}

#[test]
fn unconfigured_metrics_are_left_out_and_throughput_never_trips() {
    let baseline = readings(&[(Metric::Throughput, Some(100.0))]);
    let checks = judge(&baseline, &readings(&[(Metric::Throughput, Some(1.0))]), &Criteria::default());
    assert!(checks.is_empty());
}

#[test]
fn blind_metrics_name_the_baseline_and_the_latest_sample() {
    let baseline = readings(&[(Metric::ErrorRate, None), (Metric::LatencyP99, Some(0.2))]);
    let latest = readings(&[(Metric::ErrorRate, Some(0.0)), (Metric::LatencyP99, None)]);
    let blind = blind_metrics(&baseline, Some(&latest));
    assert_eq!(blind.len(), 2);
    assert_eq!(blind[&Metric::ErrorRate], "no baseline: Prometheus returned no data");
    assert_eq!(blind[&Metric::LatencyP99], "Prometheus returned no data");
    assert_eq!(blind_metrics(&readings(&[(Metric::ErrorRate, Some(0.0))]), None).len(), 0);
}

#[test]
fn values_read_in_their_units() {
    assert_eq!(Metric::ErrorRate.format(0.0125), "1.25%");
    assert_eq!(Metric::ErrorRate.format(0.00001), "0.0010%");
    assert_eq!(Metric::LatencyP99.format(0.182), "182 ms");
    assert_eq!(Metric::LatencyP99.format(2.4), "2.40 s");
    assert_eq!(Metric::Throughput.format(340.4), "340/s");
    assert_eq!(Metric::Throughput.format(0.5), "0.50/s");
}

#[test]
fn criteria_read_with_their_numbers() {
    let c = Criteria::default();
    assert_eq!(Criterion::ErrorRate.describe(&c), "error rate above 2x the baseline");
    assert_eq!(Criterion::LatencyP99.describe(&c), "p99 latency above 3x the baseline");
    assert_eq!(Criterion::UnhandledExceptions.describe(&c), "new unhandled exceptions above 1.00% of requests");
    let c = Criteria { error_rate_ratio: 1.5, ..c };
    assert_eq!(Criterion::ErrorRate.describe(&c), "error rate above 1.5x the baseline");
}

#[test]
fn the_progress_bar_fills_with_time() {
    let total = Duration::minutes(30);
    assert_eq!(progress_bar(Duration::zero(), total, 10), "▱▱▱▱▱▱▱▱▱▱");
    assert_eq!(progress_bar(Duration::minutes(15), total, 10), "▰▰▰▰▰▱▱▱▱▱");
    assert_eq!(progress_bar(Duration::minutes(45), total, 10), "▰▰▰▰▰▰▰▰▰▰");
    assert_eq!(progress_bar(Duration::minutes(1), Duration::zero(), 4), "▰▰▰▰");
}

#[test]
fn metric_keys_round_trip() {
    for metric in Metric::ALL {
        assert_eq!(Metric::from_key(metric.key()), Some(metric));
    }
    assert_eq!(Metric::from_key("latency_p42"), None);
}

#[test]
fn settings_count_the_samples_of_a_window() {
    let s = WatchSettings {
        window_seconds: 1800,
        min_window_seconds: 900,
        interval_seconds: 30,
        baseline_window_seconds: 1800,
    };
    assert_eq!(s.samples_in_window(), 60);
    assert_eq!(s.min_window(), Duration::minutes(15));
}
