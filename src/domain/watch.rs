//! The watch after a production deploy: the baseline measured at the deploy, the samples
//! taken during the window, and the playbook's rollback criteria judged over them.
//!
//! Step 8 of the playbook: roll back at once when the error rate exceeds 2x the pre-deploy
//! baseline, p99 latency exceeds 3x the baseline, a critical user flow is broken, or a new
//! unhandled exception fires above 1% of requests. Everything here is pure: the app reads
//! Prometheus and the clock, and asks these functions what the numbers mean.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What the watch measures, as `[monitoring.queries]` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    ErrorRate,
    LatencyP50,
    LatencyP95,
    LatencyP99,
    Throughput,
    UnhandledExceptionRate,
}

/// How a metric's values read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A share of requests, 0 to 1, read as a percentage.
    Ratio,
    Seconds,
    PerSecond,
}

impl Metric {
    pub const ALL: [Metric; 6] = [
        Metric::ErrorRate,
        Metric::LatencyP50,
        Metric::LatencyP95,
        Metric::LatencyP99,
        Metric::Throughput,
        Metric::UnhandledExceptionRate,
    ];

    /// The key under `[monitoring.queries]`.
    pub fn key(self) -> &'static str {
        match self {
            Metric::ErrorRate => "error_rate",
            Metric::LatencyP50 => "latency_p50",
            Metric::LatencyP95 => "latency_p95",
            Metric::LatencyP99 => "latency_p99",
            Metric::Throughput => "throughput",
            Metric::UnhandledExceptionRate => "unhandled_exception_rate",
        }
    }

    pub fn from_key(key: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.key() == key)
    }

    /// What people call it.
    pub fn label(self) -> &'static str {
        match self {
            Metric::ErrorRate => "error rate",
            Metric::LatencyP50 => "p50 latency",
            Metric::LatencyP95 => "p95 latency",
            Metric::LatencyP99 => "p99 latency",
            Metric::Throughput => "throughput",
            Metric::UnhandledExceptionRate => "unhandled exceptions",
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Metric::ErrorRate | Metric::UnhandledExceptionRate => Unit::Ratio,
            Metric::LatencyP50 | Metric::LatencyP95 | Metric::LatencyP99 => Unit::Seconds,
            Metric::Throughput => Unit::PerSecond,
        }
    }

    /// A value of this metric as people read it: `1.25%`, `182 ms`, `2.4 s`, `340/s`.
    pub fn format(self, value: f64) -> String {
        format_value(self.unit(), value)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

pub fn format_value(unit: Unit, value: f64) -> String {
    match unit {
        Unit::Ratio => {
            let percent = value * 100.0;
            if percent != 0.0 && percent.abs() < 0.01 {
                format!("{percent:.4}%")
            } else {
                format!("{percent:.2}%")
            }
        }
        Unit::Seconds if value.abs() < 1.0 => format!("{:.0} ms", value * 1000.0),
        Unit::Seconds => format!("{value:.2} s"),
        Unit::PerSecond if value.abs() < 10.0 => format!("{value:.2}/s"),
        Unit::PerSecond => format!("{value:.0}/s"),
    }
}

/// One metric at one instant: a number, or why there is none (the watch is blind for it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reading {
    Value { value: f64 },
    Blind { why: String },
}

impl Reading {
    /// A finite number is a value; anything else (NaN, infinities) is blind, since no
    /// criterion can be judged on it.
    pub fn value(value: f64) -> Reading {
        if value.is_nan() {
            Reading::blind("the query returned NaN (no requests in the range?)")
        } else if value.is_infinite() {
            Reading::blind("the query returned an infinite value")
        } else {
            Reading::Value { value }
        }
    }

    pub fn blind(why: impl Into<String>) -> Reading {
        Reading::Blind { why: why.into() }
    }

    pub fn as_value(&self) -> Option<f64> {
        match self {
            Reading::Value { value } => Some(*value),
            Reading::Blind { .. } => None,
        }
    }

    pub fn blind_why(&self) -> Option<&str> {
        match self {
            Reading::Value { .. } => None,
            Reading::Blind { why } => Some(why),
        }
    }
}

/// Every metric at one instant. A metric missing from the map was not configured.
pub type Readings = BTreeMap<Metric, Reading>;

/// How long the watch runs and how often it looks, fixed when the watch starts so a config
/// change never alters a running watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchSettings {
    /// The watch samples this long after the deploy.
    pub window_seconds: u32,
    /// The release cannot be completed before this much of the window has passed.
    pub min_window_seconds: u32,
    pub interval_seconds: u32,
    /// The baseline is measured over this span ending at the deploy.
    pub baseline_window_seconds: u32,
}

impl WatchSettings {
    pub fn window(&self) -> Duration {
        Duration::seconds(i64::from(self.window_seconds))
    }
    pub fn min_window(&self) -> Duration {
        Duration::seconds(i64::from(self.min_window_seconds))
    }
    pub fn interval(&self) -> Duration {
        Duration::seconds(i64::from(self.interval_seconds.max(1)))
    }
    /// How many samples a full window holds: one every interval after the deploy, the
    /// last at the end of the window.
    pub fn samples_in_window(&self) -> u32 {
        self.window_seconds / self.interval_seconds.max(1)
    }
}

/// The rollback criteria, `[rollback.criteria]`; the defaults are the playbook's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Criteria {
    /// Roll back when the error rate exceeds this multiple of the baseline.
    pub error_rate_ratio: f64,
    /// Roll back when p99 latency exceeds this multiple of the baseline.
    pub latency_p99_ratio: f64,
    /// Roll back when new unhandled exceptions fire above this share of requests.
    pub unhandled_exception_rate: f64,
    /// Below this error rate a ratio means nothing (2x of no errors is still no errors):
    /// the threshold is never lower than this floor, so with a zero or tiny baseline an
    /// error rate above the floor counts as above the ratio.
    pub error_rate_floor: f64,
    /// The same floor for p99 latency, in seconds.
    pub latency_p99_floor_seconds: f64,
}

impl Default for Criteria {
    fn default() -> Self {
        Self {
            error_rate_ratio: 2.0,
            latency_p99_ratio: 3.0,
            unhandled_exception_rate: 0.01,
            error_rate_floor: 0.01,
            latency_p99_floor_seconds: 0.0,
        }
    }
}

/// The playbook's four reasons to roll back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    ErrorRate,
    LatencyP99,
    UnhandledExceptions,
    CriticalFlow,
}

impl Criterion {
    /// The criteria judged on metrics, in the order a sample's trips are told: the first
    /// that trips is the one the rollback is said to be for.
    pub const MEASURED: [Criterion; 3] = [Criterion::ErrorRate, Criterion::LatencyP99, Criterion::UnhandledExceptions];

    pub fn metric(self) -> Option<Metric> {
        match self {
            Criterion::ErrorRate => Some(Metric::ErrorRate),
            Criterion::LatencyP99 => Some(Metric::LatencyP99),
            Criterion::UnhandledExceptions => Some(Metric::UnhandledExceptionRate),
            Criterion::CriticalFlow => None,
        }
    }

    /// The criterion in the playbook's words, with the configured numbers.
    pub fn describe(self, criteria: &Criteria) -> String {
        match self {
            Criterion::ErrorRate => format!("error rate above {}x the baseline", trim_float(criteria.error_rate_ratio)),
            Criterion::LatencyP99 => {
                format!("p99 latency above {}x the baseline", trim_float(criteria.latency_p99_ratio))
            }
            Criterion::UnhandledExceptions => format!(
                "new unhandled exceptions above {} of requests",
                format_value(Unit::Ratio, criteria.unhandled_exception_rate)
            ),
            Criterion::CriticalFlow => "a critical user flow is broken".into(),
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Criterion::ErrorRate => "error_rate",
            Criterion::LatencyP99 => "latency_p99",
            Criterion::UnhandledExceptions => "unhandled_exceptions",
            Criterion::CriticalFlow => "critical_flow",
        }
    }
}

fn trim_float(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Where one measured criterion stands at one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub criterion: Criterion,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Within the threshold; `closeness` is observed / threshold (1.0 would trip).
    Within {
        observed: f64,
        baseline: Option<f64>,
        threshold: f64,
        floor_applies: bool,
        closeness: f64,
    },
    Tripped {
        observed: f64,
        baseline: Option<f64>,
        threshold: f64,
        floor_applies: bool,
    },
    /// No judgement possible: no data now, or no baseline to compare with.
    Blind {
        why: String,
    },
}

/// The threshold a criterion holds a sample to, from the baseline: the ratio times the
/// baseline, never below the floor. `floor_applies` says the floor decided it, which the
/// card tells, since "2x a baseline of 0" would otherwise read as "any error trips".
pub fn threshold(criterion: Criterion, baseline: Option<f64>, criteria: &Criteria) -> Option<(f64, bool)> {
    let (ratio, floor) = match criterion {
        Criterion::ErrorRate => (criteria.error_rate_ratio, criteria.error_rate_floor),
        Criterion::LatencyP99 => (criteria.latency_p99_ratio, criteria.latency_p99_floor_seconds),
        Criterion::UnhandledExceptions => return Some((criteria.unhandled_exception_rate, false)),
        Criterion::CriticalFlow => return None,
    };
    let relative = ratio * baseline?;
    Some(if relative < floor { (floor, true) } else { (relative, false) })
}

/// Judges one sample against the baseline, criterion by criterion, in
/// [`Criterion::MEASURED`] order. A criterion whose metric is not configured is left out.
pub fn judge(baseline: &Readings, sample: &Readings, criteria: &Criteria) -> Vec<Check> {
    Criterion::MEASURED
        .into_iter()
        .filter_map(|criterion| {
            let metric = criterion.metric()?;
            let now = sample.get(&metric)?;
            let verdict = judge_one(criterion, baseline.get(&metric), now, criteria);
            Some(Check { criterion, verdict })
        })
        .collect()
}

fn judge_one(criterion: Criterion, baseline: Option<&Reading>, now: &Reading, criteria: &Criteria) -> Verdict {
    let observed = match now {
        Reading::Value { value } => *value,
        Reading::Blind { why } => return Verdict::Blind { why: why.clone() },
    };
    let relative = criterion != Criterion::UnhandledExceptions;
    let base = match baseline {
        Some(Reading::Value { value }) => Some(*value),
        Some(Reading::Blind { why }) if relative => {
            return Verdict::Blind { why: format!("no baseline to compare with: {why}") }
        }
        None if relative => return Verdict::Blind { why: "no baseline was measured".into() },
        _ => None,
    };
    let Some((threshold, floor_applies)) = threshold(criterion, base, criteria) else {
        return Verdict::Blind { why: "no baseline was measured".into() };
    };
    if observed > threshold {
        Verdict::Tripped { observed, baseline: base, threshold, floor_applies }
    } else {
        let closeness = if threshold > 0.0 { observed / threshold } else { 0.0 };
        Verdict::Within { observed, baseline: base, threshold, floor_applies, closeness }
    }
}

/// A criterion that tripped: what was seen, against what, since when. What the rollback
/// card and the rollback notice say broke.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trip {
    pub criterion: Criterion,
    /// The metric's value, for a measured criterion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// The threshold is the floor, not a multiple of the baseline.
    #[serde(default)]
    pub floor_applies: bool,
    /// When it started: the sample's instant, or when the alert began firing.
    pub since: DateTime<Utc>,
    /// For a broken flow: the alert's name and summary, or the person's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

impl Trip {
    /// A broken critical user flow, seen `since`, with what says so (an alert, a person).
    pub fn critical_flow(since: DateTime<Utc>, evidence: String) -> Trip {
        Trip {
            criterion: Criterion::CriticalFlow,
            observed: None,
            baseline: None,
            threshold: None,
            floor_applies: false,
            since,
            evidence: Some(evidence),
        }
    }

    /// One line: "error rate 5.20% > threshold 1.00% (2x baseline 0.40%)".
    pub fn describe(&self, criteria: &Criteria) -> String {
        match (self.criterion.metric(), self.observed, self.threshold) {
            (Some(metric), Some(observed), Some(threshold)) => {
                let against = match (self.criterion, self.baseline) {
                    (Criterion::UnhandledExceptions, _) => "of requests".to_owned(),
                    (_, Some(baseline)) if self.floor_applies => format!(
                        "the floor: the baseline {} is too small for a ratio to mean anything",
                        metric.format(baseline)
                    ),
                    (criterion, Some(baseline)) => format!(
                        "{}x the baseline {}",
                        trim_float(match criterion {
                            Criterion::LatencyP99 => criteria.latency_p99_ratio,
                            _ => criteria.error_rate_ratio,
                        }),
                        metric.format(baseline)
                    ),
                    (_, None) => "no baseline".to_owned(),
                };
                format!(
                    "{} {} is above the threshold {} ({against})",
                    metric.label(),
                    metric.format(observed),
                    metric.format(threshold)
                )
            }
            _ => match &self.evidence {
                Some(evidence) => format!("{}: {evidence}", self.criterion.describe(criteria)),
                None => self.criterion.describe(criteria),
            },
        }
    }
}

/// The trips of one sample's checks, in [`Criterion::MEASURED`] order, dated `at`.
pub fn trips(checks: &[Check], at: DateTime<Utc>) -> Vec<Trip> {
    checks
        .iter()
        .filter_map(|check| match check.verdict {
            Verdict::Tripped { observed, baseline, threshold, floor_applies } => Some(Trip {
                criterion: check.criterion,
                observed: Some(observed),
                baseline,
                threshold: Some(threshold),
                floor_applies,
                since: at,
                evidence: None,
            }),
            _ => None,
        })
        .collect()
}

/// The metrics the watch cannot see now, and why: blind in the latest sample, or (for a
/// metric judged against the baseline) blind at the baseline. Before the first sample,
/// only the baseline counts.
pub fn blind_metrics(baseline: &Readings, latest: Option<&Readings>) -> BTreeMap<Metric, String> {
    let mut blind = BTreeMap::new();
    for (metric, reading) in baseline {
        if let Some(why) = reading.blind_why() {
            blind.insert(*metric, format!("no baseline: {why}"));
        }
    }
    if let Some(latest) = latest {
        for (metric, reading) in latest {
            if let Some(why) = reading.blind_why() {
                blind.insert(*metric, why.to_owned());
            }
        }
    }
    blind
}

/// An alert from Alertmanager, as the release records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Alertmanager's fingerprint of the alert's labels: the same alert across resends.
    pub fingerprint: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    pub status: AlertStatus,
    pub starts_at: DateTime<Utc>,
    /// Whether its severity makes it a broken critical flow.
    pub critical: bool,
}

impl Alert {
    /// "CheckoutFailing: checkout returns 500 for 30% of attempts".
    pub fn headline(&self) -> String {
        match &self.summary {
            Some(summary) => format!("{}: {summary}", self.name),
            None => self.name.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        })
    }
}

/// A progress bar of `width` cells for `done` of `total`: `▰▰▰▱▱▱`.
pub fn progress_bar(done: Duration, total: Duration, width: usize) -> String {
    let share = if total <= Duration::zero() {
        1.0
    } else {
        (done.num_milliseconds() as f64 / total.num_milliseconds() as f64).clamp(0.0, 1.0)
    };
    let filled = (share * width as f64).round() as usize;
    format!("{}{}", "▰".repeat(filled), "▱".repeat(width - filled))
}

#[cfg(test)]
mod tests;
