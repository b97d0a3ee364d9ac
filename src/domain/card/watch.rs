//! The live monitoring card: one message in the release thread, edited at every sample,
//! showing each metric now against its baseline, how close each rollback criterion is, what
//! the watch cannot see, and the time left in the window. Platform-neutral: adapters
//! render it.

use super::{local, CardContext};
use crate::domain::release::{Release, Status, WatchState};
use crate::domain::watch::{self, progress_bar, Criterion, Metric, Reading, Verdict};
use crate::domain::ReleaseId;
use chrono::DateTime;
use chrono::Utc;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WatchCard {
    pub release_id: ReleaseId,
    /// "Watching production · api 1.4.2".
    pub title: String,
    pub state: WatchCardState,
    /// "▰▰▰▰▱▱▱▱▱▱ 12 of 30 min · until 10:56 EST".
    pub progress: String,
    pub metrics: Vec<MetricRow>,
    pub criteria: Vec<CriterionRow>,
    /// What the watch cannot see, and why (a metric per line).
    pub blind: Vec<String>,
    /// Alerts from Alertmanager about this deploy, newest last.
    pub alerts: Vec<String>,
    /// Said once, for the criteria whose threshold is the floor rather than the ratio.
    pub notes: Vec<String>,
    /// "last sample 10:44 EST" or "no sample yet".
    pub last_sample: String,
    /// Whether the "Critical flow broken" button is offered: only while the watch runs.
    pub can_report_broken_flow: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WatchCardState {
    /// Sampling; the release may complete once the minimum window has passed.
    Watching,
    /// The window is over (or the release completed) with nothing tripped.
    Healthy,
    /// A criterion tripped: the rollback is under way or done.
    RolledBack { reason: String },
    /// The release ended otherwise (aborted) while the watch ran.
    Ended,
}

impl WatchCardState {
    pub fn headline(&self) -> String {
        match self {
            WatchCardState::Watching => "👀 Watching production against the pre-deploy baseline".into(),
            WatchCardState::Healthy => "✅ Watch over: no rollback criterion tripped".into(),
            WatchCardState::RolledBack { reason } => format!("🚨 Rolling back: {reason}"),
            WatchCardState::Ended => "⏹ Watch ended with the release".into(),
        }
    }
}

/// One metric now against its baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRow {
    pub metric: Metric,
    pub label: String,
    /// The latest sample's value, or "blind".
    pub now: String,
    pub baseline: String,
    /// "1.3x" when both are numbers and the baseline is not zero.
    pub ratio: Option<String>,
}

/// One rollback criterion and how close it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionRow {
    pub criterion: Criterion,
    /// "error rate above 2x the baseline".
    pub rule: String,
    /// "0.62% of a 1.00% threshold (62%)", "blind: ...", "tripped: 5.2% > 1.0%".
    pub status: String,
    pub state: CriterionState,
    /// A short bar of closeness to the threshold, for measured criteria.
    pub bar: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CriterionState {
    Ok,
    /// Past 80% of its threshold.
    Near,
    Tripped,
    Blind,
    /// Not judged yet (no sample).
    Waiting,
}

/// The monitoring card of `release`'s watch, as of `ctx.now`; `None` if no watch began.
pub fn watch_card(release: &Release, ctx: &CardContext) -> Option<WatchCard> {
    let watch = release.watch.as_ref()?;
    let state = match (&release.rollback, release.status) {
        (Some(rollback), _) if !rollback.trips.is_empty() || release.status == Status::RollingBack => {
            WatchCardState::RolledBack { reason: rollback.reason.clone() }
        }
        (_, Status::Active) if watch.next_sample_at().is_some() => WatchCardState::Watching,
        (_, Status::Active | Status::Completed) => WatchCardState::Healthy,
        _ => WatchCardState::Ended,
    };
    let running = state == WatchCardState::Watching;
    let latest = watch.latest();
    let metrics = Metric::ALL
        .into_iter()
        .filter_map(|metric| {
            let baseline = watch.baseline.get(&metric)?;
            let now = latest.and_then(|s| s.readings.get(&metric));
            Some(metric_row(metric, baseline, now))
        })
        .collect();
    let checks = latest.map(|s| watch::judge(&watch.baseline, &s.readings, &watch.criteria)).unwrap_or_default();
    let tripped: Vec<&watch::Trip> = release.rollback.iter().flat_map(|r| r.trips.iter()).collect();
    let mut criteria: Vec<CriterionRow> = Criterion::MEASURED
        .into_iter()
        .filter(|c| c.metric().is_some_and(|m| watch.baseline.contains_key(&m)))
        .map(|criterion| criterion_row(criterion, watch, &checks, &tripped))
        .collect();
    criteria.push(flow_row(watch, &tripped));
    let mut notes = floor_notes(&checks);
    if watch.samples.is_empty() && watch.criteria.error_rate_floor > 0.0 {
        notes.push(format!(
            "Thresholds never go below the floors: error rate {}.",
            Metric::ErrorRate.format(watch.criteria.error_rate_floor)
        ));
    }
    let blind = watch.blind().into_iter().map(|(metric, why)| format!("{}: {why}", metric.label())).collect();
    let alerts = watch
        .alerts
        .iter()
        .map(|(alert, mark)| format!("{} {} ({})", alert.status, alert.headline(), local(mark.at, ctx)))
        .collect();
    Some(WatchCard {
        release_id: release.id.clone(),
        title: format!("Watching production · {} {}", release.service, release.version),
        progress: progress(watch, ctx),
        last_sample: latest.map_or_else(|| "no sample yet".to_owned(), |s| format!("last sample {}", local(s.at, ctx))),
        can_report_broken_flow: running,
        state,
        metrics,
        criteria,
        blind,
        alerts,
        notes,
    })
}

fn metric_row(metric: Metric, baseline: &Reading, now: Option<&Reading>) -> MetricRow {
    let shown = |reading: Option<&Reading>| match reading {
        Some(Reading::Value { value }) => metric.format(*value),
        Some(Reading::Blind { .. }) => "blind".to_owned(),
        None => "—".to_owned(),
    };
    let ratio = match (now.and_then(Reading::as_value), baseline.as_value()) {
        (Some(now), Some(base)) if base > 0.0 => Some(format!("{:.1}x", now / base)),
        _ => None,
    };
    MetricRow { metric, label: metric.label().to_owned(), now: shown(now), baseline: shown(Some(baseline)), ratio }
}

fn criterion_row(
    criterion: Criterion,
    watch: &WatchState,
    checks: &[watch::Check],
    tripped: &[&watch::Trip],
) -> CriterionRow {
    let rule = criterion.describe(&watch.criteria);
    let metric = criterion.metric().expect("a measured criterion");
    if let Some(trip) = tripped.iter().find(|t| t.criterion == criterion) {
        return CriterionRow {
            criterion,
            rule,
            status: format!("tripped: {}", trip.describe(&watch.criteria)),
            state: CriterionState::Tripped,
            bar: Some(closeness_bar(1.0)),
        };
    }
    match checks.iter().find(|c| c.criterion == criterion).map(|c| &c.verdict) {
        Some(Verdict::Within { observed, threshold, closeness, .. }) => CriterionRow {
            criterion,
            rule,
            status: format!(
                "{} of a {} threshold ({:.0}%)",
                metric.format(*observed),
                metric.format(*threshold),
                closeness * 100.0
            ),
            state: if *closeness >= 0.8 { CriterionState::Near } else { CriterionState::Ok },
            bar: Some(closeness_bar(*closeness)),
        },
        Some(Verdict::Tripped { observed, threshold, .. }) => CriterionRow {
            criterion,
            rule,
            status: format!("above: {} > {}", metric.format(*observed), metric.format(*threshold)),
            state: CriterionState::Tripped,
            bar: Some(closeness_bar(1.0)),
        },
        Some(Verdict::Blind { why }) => {
            CriterionRow { criterion, rule, status: format!("blind: {why}"), state: CriterionState::Blind, bar: None }
        }
        None => CriterionRow {
            criterion,
            rule,
            status: "waiting for the first sample".into(),
            state: CriterionState::Waiting,
            bar: None,
        },
    }
}

fn flow_row(watch: &WatchState, tripped: &[&watch::Trip]) -> CriterionRow {
    let rule = Criterion::CriticalFlow.describe(&watch.criteria);
    if let Some(trip) = tripped.iter().find(|t| t.criterion == Criterion::CriticalFlow) {
        return CriterionRow {
            criterion: Criterion::CriticalFlow,
            rule,
            status: format!("tripped: {}", trip.evidence.clone().unwrap_or_default()),
            state: CriterionState::Tripped,
            bar: None,
        };
    }
    let firing = watch.alerts.iter().filter(|(a, _)| a.status == watch::AlertStatus::Firing && !a.critical).count();
    CriterionRow {
        criterion: Criterion::CriticalFlow,
        rule,
        status: match firing {
            0 => "no critical alert; press the button if you see one broken".into(),
            n => format!("no critical alert ({n} other alert(s) fired); press the button if a flow is broken"),
        },
        state: CriterionState::Ok,
        bar: None,
    }
}

/// The criteria whose threshold is the floor: the card says so, since "2x a baseline of
/// 0" would otherwise read as "any error trips".
fn floor_notes(checks: &[watch::Check]) -> Vec<String> {
    checks
        .iter()
        .filter_map(|check| {
            let (baseline, threshold) = match check.verdict {
                Verdict::Within { baseline, threshold, floor_applies: true, .. }
                | Verdict::Tripped { baseline, threshold, floor_applies: true, .. } => (baseline, threshold),
                _ => return None,
            };
            let metric = check.criterion.metric()?;
            Some(format!(
                "The {} baseline ({}) is too small for a ratio to mean anything: above {} counts as above the ratio.",
                metric.label(),
                baseline.map_or_else(|| "none".to_owned(), |b| metric.format(b)),
                metric.format(threshold)
            ))
        })
        .collect()
}

fn closeness_bar(closeness: f64) -> String {
    let cells = 8usize;
    let filled = ((closeness.clamp(0.0, 1.0)) * cells as f64).round() as usize;
    format!("{}{}", "█".repeat(filled), "░".repeat(cells - filled))
}

fn progress(watch: &WatchState, ctx: &CardContext) -> String {
    let total = watch.settings.window();
    let end = watch.ends_at();
    let elapsed = (ctx.now.min(end) - watch.deployed_at).max(chrono::Duration::zero());
    let min_end: DateTime<Utc> = watch.deployed_at + watch.settings.min_window();
    let completion =
        if ctx.now < min_end { format!(" · may complete from {}", local(min_end, ctx)) } else { String::new() };
    format!(
        "{} {} of {} min · until {}{completion}",
        progress_bar(elapsed, total, 12),
        elapsed.num_minutes(),
        total.num_minutes(),
        local(end, ctx)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::card::fixtures::Walk;
    use crate::domain::release::Command;
    use crate::domain::watch::{Criteria, Readings, WatchSettings};
    use crate::domain::{Actor, Platform};
    use chrono::Duration;

    fn shipgate() -> Actor {
        Actor::new(Platform::System, "watch", "shipgate watch")
    }

    fn readings(error_rate: Option<f64>, p99: f64) -> Readings {
        Readings::from([
            (
                Metric::ErrorRate,
                error_rate.map_or_else(|| Reading::blind("Prometheus refused the connection"), Reading::value),
            ),
            (Metric::LatencyP99, Reading::value(p99)),
            (Metric::Throughput, Reading::value(120.0)),
        ])
    }

    fn watched() -> Walk {
        let mut walk = Walk::start();
        walk.walk_to(6);
        let settings = WatchSettings {
            window_seconds: 1800,
            min_window_seconds: 900,
            interval_seconds: 30,
            baseline_window_seconds: 1800,
        };
        walk.ok(
            &shipgate(),
            Command::BeginWatch { settings, criteria: Criteria::default(), baseline: readings(Some(0.004), 0.2) },
        );
        walk
    }

    fn sample(walk: &mut Walk, readings: Readings) {
        let at = walk.release.current_watch().and_then(|w| w.next_sample_at()).expect("due");
        walk.now = walk.now.max(at);
        walk.ok(&shipgate(), Command::RecordSample { at, readings });
    }

    #[test]
    fn the_card_shows_each_metric_against_its_baseline_and_how_close_each_criterion_is() {
        let mut walk = watched();
        sample(&mut walk, readings(Some(0.006), 0.3));
        let card = watch_card(&walk.release, &walk.ctx()).expect("a watch");
        assert_eq!(card.state, WatchCardState::Watching);
        let error = &card.metrics[0];
        assert_eq!(
            (error.now.as_str(), error.baseline.as_str(), error.ratio.as_deref()),
            ("0.60%", "0.40%", Some("1.5x"))
        );
        let rows: Vec<(&str, CriterionState)> = card.criteria.iter().map(|c| (c.status.as_str(), c.state)).collect();
        assert_eq!(rows[0], ("0.60% of a 1.00% threshold (60%)", CriterionState::Ok));
        assert_eq!(rows[1], ("300 ms of a 600 ms threshold (50%)", CriterionState::Ok));
        assert_eq!(card.criteria.last().map(|c| c.criterion), Some(Criterion::CriticalFlow));
        assert!(card.notes[0].contains("too small for a ratio"), "{:?}", card.notes);
        assert!(card.progress.starts_with("▱▱▱▱▱▱▱▱▱▱▱▱ 0 of 30 min"), "{}", card.progress);
        assert!(card.can_report_broken_flow);
    }

    #[test]
    fn a_blind_metric_is_said_with_its_reason() {
        let mut walk = watched();
        sample(&mut walk, readings(None, 0.2));
        let card = watch_card(&walk.release, &walk.ctx()).expect("a watch");
        assert_eq!(card.blind, ["error rate: Prometheus refused the connection"]);
        assert_eq!(card.metrics[0].now, "blind");
        assert_eq!(card.criteria[0].state, CriterionState::Blind);
    }

    #[test]
    fn a_trip_turns_the_card_into_the_reason_for_the_rollback() {
        let mut walk = watched();
        sample(&mut walk, readings(Some(0.05), 0.2));
        let card = watch_card(&walk.release, &walk.ctx()).expect("a watch");
        assert!(matches!(&card.state, WatchCardState::RolledBack { reason } if reason.contains("error rate 5.00%")));
        assert_eq!(card.criteria[0].state, CriterionState::Tripped);
        assert!(!card.can_report_broken_flow);
    }

    #[test]
    fn the_progress_bar_fills_and_the_window_ends_healthy() {
        let mut walk = watched();
        for _ in 0..30 {
            sample(&mut walk, readings(Some(0.004), 0.2));
        }
        let card = watch_card(&walk.release, &walk.ctx()).expect("a watch");
        assert!(card.progress.starts_with("▰▰▰▰▰▰▱▱▱▱▱▱ 15 of 30 min"), "{}", card.progress);
        for _ in 0..30 {
            sample(&mut walk, readings(Some(0.004), 0.2));
        }
        walk.now = walk.release.watch.as_ref().unwrap().ends_at() + Duration::minutes(1);
        let card = watch_card(&walk.release, &walk.ctx()).expect("a watch");
        assert_eq!(card.state, WatchCardState::Healthy);
        assert!(!card.can_report_broken_flow);
    }
}
