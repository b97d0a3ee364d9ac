//! `[monitoring]`, `[rollback]` and `[alertmanager]`: where the post-deploy watch reads
//! its metrics, the criteria that trip a rollback, what runs the rollback, and who may
//! post alerts.

use super::{read_secret_file, Sources};
use crate::config::ConfigError;
use crate::domain::watch::{Criteria, Metric, WatchSettings};
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The watch after a production deploy. Absent: Step 7 is a timer and the people's ticks.
#[derive(Debug, Clone)]
pub struct MonitoringConfig {
    /// Prometheus' base URL; `/api/v1/query` is appended.
    pub prometheus_url: String,
    pub settings: WatchSettings,
    /// The range `{range}` stands for in a sample's query (rates over the last minutes).
    pub sample_range_seconds: u32,
    /// How long one query may take before the metric reads as blind for that sample.
    pub query_timeout_seconds: u32,
    /// PromQL per metric; `{service}` and `{range}` are filled in.
    pub queries: BTreeMap<Metric, String>,
}

impl MonitoringConfig {
    /// A PromQL duration for `seconds`: `30m`, `90s`.
    pub fn promql_range(seconds: u32) -> String {
        if seconds % 3600 == 0 {
            format!("{}h", seconds / 3600)
        } else if seconds % 60 == 0 {
            format!("{}m", seconds / 60)
        } else {
            format!("{seconds}s")
        }
    }
}

/// `[rollback]`: the criteria and what carries a rollback out.
#[derive(Debug, Clone, Default)]
pub struct RollbackConfig {
    pub criteria: Criteria,
    /// Start the hook as soon as a criterion trips, rather than on one click.
    pub auto: bool,
    pub hook: Option<RollbackHook>,
    /// A generic JSON webhook that receives every rollback notice (paging, other chat tools).
    pub notice_webhook: Option<String>,
}

impl RollbackConfig {
    /// Whether a hook is configured, and whether it starts by itself: what the domain
    /// decides the hook's commands with.
    pub fn hook_mode(&self) -> crate::domain::release::HookMode {
        use crate::domain::release::HookMode;
        match (&self.hook, self.auto) {
            (None, _) => HookMode::None,
            (Some(_), false) => HookMode::OnClick,
            (Some(_), true) => HookMode::Auto,
        }
    }
}

/// What reverts production for shipgate.
#[derive(Debug, Clone)]
pub enum RollbackHook {
    /// A program and its arguments; the rollback's facts come in environment variables.
    Command(Vec<String>),
    /// An HTTP endpoint that receives a JSON body naming service, environment and target.
    Webhook { url: String, token: Option<SecretString> },
}

/// `[alertmanager]`: the webhook Alertmanager posts to.
#[derive(Debug, Clone)]
pub struct AlertmanagerConfig {
    /// The bearer token Alertmanager's `http_config` sends.
    pub token: SecretString,
    /// The alert labels that must equal the release's: `service` by default.
    pub match_labels: Vec<String>,
    pub severity_label: String,
    /// Severities that count as "a critical user flow is broken".
    pub critical_severities: Vec<String>,
}

/// The variable holding the Alertmanager webhook's bearer token.
pub const ENV_ALERTMANAGER_TOKEN: &str = "SHIPGATE_ALERTMANAGER_TOKEN";

pub(super) mod raw {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Monitoring {
        pub prometheus_url: String,
        #[serde(default = "thirty_minutes")]
        pub window: String,
        #[serde(default = "fifteen_minutes")]
        pub min_window: String,
        #[serde(default = "thirty_seconds")]
        pub interval: String,
        #[serde(default = "thirty_minutes")]
        pub baseline_window: String,
        #[serde(default = "two_minutes")]
        pub sample_range: String,
        #[serde(default = "five_seconds")]
        pub query_timeout: String,
        #[serde(default)]
        pub queries: BTreeMap<String, String>,
    }

    fn thirty_minutes() -> String {
        "30m".into()
    }
    fn fifteen_minutes() -> String {
        "15m".into()
    }
    fn thirty_seconds() -> String {
        "30s".into()
    }
    fn two_minutes() -> String {
        "2m".into()
    }
    fn five_seconds() -> String {
        "5s".into()
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct Rollback {
        pub criteria: RollbackCriteria,
        pub auto: bool,
        pub hook: Option<Hook>,
        pub notice_webhook: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct RollbackCriteria {
        pub error_rate_ratio: f64,
        pub latency_p99_ratio: f64,
        pub unhandled_exception_rate: f64,
        pub error_rate_floor: f64,
        pub latency_p99_floor_seconds: f64,
    }

    impl Default for RollbackCriteria {
        fn default() -> Self {
            let d = Criteria::default();
            Self {
                error_rate_ratio: d.error_rate_ratio,
                latency_p99_ratio: d.latency_p99_ratio,
                unhandled_exception_rate: d.unhandled_exception_rate,
                error_rate_floor: d.error_rate_floor,
                latency_p99_floor_seconds: d.latency_p99_floor_seconds,
            }
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Hook {
        #[serde(default)]
        pub command: Option<Vec<String>>,
        #[serde(default)]
        pub url: Option<String>,
        #[serde(default)]
        pub token_env: Option<String>,
        #[serde(default)]
        pub token_file: Option<PathBuf>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct Alertmanager {
        pub token_env: Option<String>,
        pub token_file: Option<PathBuf>,
        pub match_labels: Vec<String>,
        pub severity_label: String,
        pub critical_severities: Vec<String>,
    }

    impl Default for Alertmanager {
        fn default() -> Self {
            Self {
                token_env: None,
                token_file: None,
                match_labels: vec!["service".into()],
                severity_label: "severity".into(),
                critical_severities: vec!["critical".into()],
            }
        }
    }
}

/// `"30m"`, `"90s"`, `"1h"`, `"1h30m"` in seconds.
pub fn parse_duration(text: &str) -> Result<u32, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not a duration like 30s, 15m or 1h");
    if text.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = total.saturating_add(n.saturating_mul(unit));
        number.clear();
    }
    if !number.is_empty() {
        return Err(bad());
    }
    u32::try_from(total).map_err(|_| bad())
}

pub(super) fn monitoring(
    raw: raw::Monitoring,
    sources: &Sources<'_>,
    problems: &mut Vec<ConfigError>,
) -> Option<MonitoringConfig> {
    let before = problems.len();
    let url = raw.prometheus_url.trim().to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() <= "https://".len() {
        problems.push(sources.invalid(
            "monitoring.prometheus_url",
            "must be Prometheus' base URL, like http://127.0.0.1:9090 (without /api/v1)",
        ));
    }
    let mut duration = |key: &str, text: &str, least: u32| match parse_duration(text) {
        Ok(seconds) if seconds >= least => seconds,
        Ok(seconds) => {
            problems.push(sources.invalid(key, format!("{seconds} s is too short; at least {least} s")));
            least
        }
        Err(message) => {
            problems.push(sources.invalid(key, message));
            least
        }
    };
    let window = duration("monitoring.window", &raw.window, 60);
    let min_window = duration("monitoring.min_window", &raw.min_window, 0);
    let interval = duration("monitoring.interval", &raw.interval, 5);
    let baseline_window = duration("monitoring.baseline_window", &raw.baseline_window, 60);
    let sample_range = duration("monitoring.sample_range", &raw.sample_range, 30);
    let query_timeout = duration("monitoring.query_timeout", &raw.query_timeout, 1);
    if min_window > window {
        problems.push(sources.invalid(
            "monitoring.min_window",
            format!("{} is longer than the window {}; the watch would end before it", raw.min_window, raw.window),
        ));
    }
    if interval > window {
        problems.push(sources.invalid(
            "monitoring.interval",
            format!("{} is longer than the window {}; the watch would take no sample", raw.interval, raw.window),
        ));
    }
    if query_timeout >= interval {
        problems.push(sources.invalid(
            "monitoring.query_timeout",
            format!("{} must be shorter than the interval {}", raw.query_timeout, raw.interval),
        ));
    }
    let mut queries: BTreeMap<Metric, String> = Metric::ALL
        .into_iter()
        .filter_map(|m| crate::monitoring::default_query(m.key()).map(|q| (m, q.to_owned())))
        .collect();
    for (key, query) in raw.queries {
        match Metric::from_key(&key) {
            Some(metric) if !query.trim().is_empty() => {
                queries.insert(metric, query.trim().to_owned());
            }
            Some(_) => problems.push(sources.invalid(
                &format!("monitoring.queries.{key}"),
                "is empty; write its PromQL, or leave the key out for the default",
            )),
            None => problems.push(sources.invalid(
                &format!("monitoring.queries.{key}"),
                format!(
                    "is not a watched metric; expected one of {}",
                    Metric::ALL.iter().map(|m| m.key()).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }
    (problems.len() == before).then(|| MonitoringConfig {
        prometheus_url: url.trim_end_matches('/').to_owned(),
        settings: WatchSettings {
            window_seconds: window,
            min_window_seconds: min_window,
            interval_seconds: interval,
            baseline_window_seconds: baseline_window,
        },
        sample_range_seconds: sample_range,
        query_timeout_seconds: query_timeout,
        queries,
    })
}

pub(super) fn rollback(
    raw: raw::Rollback,
    sources: &Sources<'_>,
    env: &BTreeMap<String, String>,
    problems: &mut Vec<ConfigError>,
) -> RollbackConfig {
    let c = &raw.criteria;
    let mut positive = |key: &str, value: f64, what: &str| {
        if !(value.is_finite() && value > 0.0) {
            problems.push(sources.invalid(&format!("rollback.criteria.{key}"), format!("{value} must be {what}")));
        }
    };
    positive("error_rate_ratio", c.error_rate_ratio, "a multiple of the baseline above 0, like 2.0");
    positive("latency_p99_ratio", c.latency_p99_ratio, "a multiple of the baseline above 0, like 3.0");
    positive("unhandled_exception_rate", c.unhandled_exception_rate, "a share of requests above 0, like 0.01");
    for (key, value) in
        [("error_rate_floor", c.error_rate_floor), ("latency_p99_floor_seconds", c.latency_p99_floor_seconds)]
    {
        if !(value.is_finite() && value >= 0.0) {
            problems.push(sources.invalid(&format!("rollback.criteria.{key}"), format!("{value} must be 0 or more")));
        }
    }
    for (key, value) in
        [("unhandled_exception_rate", c.unhandled_exception_rate), ("error_rate_floor", c.error_rate_floor)]
    {
        if value > 1.0 {
            problems.push(sources.invalid(
                &format!("rollback.criteria.{key}"),
                format!("{value} is a share of requests, 0 to 1 (0.01 is 1%)"),
            ));
        }
    }
    let criteria = Criteria {
        error_rate_ratio: c.error_rate_ratio,
        latency_p99_ratio: c.latency_p99_ratio,
        unhandled_exception_rate: c.unhandled_exception_rate,
        error_rate_floor: c.error_rate_floor,
        latency_p99_floor_seconds: c.latency_p99_floor_seconds,
    };
    let hook = raw.hook.and_then(|hook| match (hook.command, hook.url) {
        (Some(command), None) => {
            if command.first().is_none_or(|program| program.trim().is_empty()) {
                problems.push(
                    sources.invalid("rollback.hook.command", "must name a program, like [\"/usr/local/bin/rollback\"]"),
                );
                return None;
            }
            if hook.token_env.is_some() || hook.token_file.is_some() {
                problems.push(sources.invalid("rollback.hook.token_env", "is for a webhook hook (url), not a command"));
            }
            Some(RollbackHook::Command(command))
        }
        (None, Some(url)) => {
            let url = url.trim().to_owned();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problems.push(sources.invalid("rollback.hook.url", "must be an http:// or https:// URL"));
                return None;
            }
            let token = secret("rollback.hook", hook.token_env, hook.token_file, sources, env, problems);
            Some(RollbackHook::Webhook { url, token })
        }
        _ => {
            problems.push(sources.invalid(
                "rollback.hook",
                "needs exactly one of command = [\"program\", \"arg\"] or url = \"https://...\"",
            ));
            None
        }
    });
    let notice_webhook = raw.notice_webhook.map(|u| u.trim().to_owned()).filter(|u| {
        let ok = u.starts_with("http://") || u.starts_with("https://");
        if !ok {
            problems.push(sources.invalid("rollback.notice_webhook", "must be an http:// or https:// URL"));
        }
        ok
    });
    RollbackConfig { criteria, auto: raw.auto, hook, notice_webhook }
}

pub(super) fn alertmanager(
    raw: raw::Alertmanager,
    sources: &Sources<'_>,
    env: &BTreeMap<String, String>,
    problems: &mut Vec<ConfigError>,
) -> Option<AlertmanagerConfig> {
    if raw.token_env.is_none() && raw.token_file.is_none() && !env.contains_key(ENV_ALERTMANAGER_TOKEN) {
        problems.push(sources.invalid(
            "alertmanager.token_env",
            format!("the webhook needs a bearer token: set {ENV_ALERTMANAGER_TOKEN}, or name token_env or token_file"),
        ));
        return None;
    }
    let token_env = match (&raw.token_env, &raw.token_file) {
        (None, None) => Some(ENV_ALERTMANAGER_TOKEN.to_owned()),
        (var, _) => var.clone(),
    };
    let token = secret("alertmanager", token_env, raw.token_file, sources, env, problems)?;
    if raw.match_labels.is_empty() {
        problems.push(sources.invalid(
            "alertmanager.match_labels",
            "must name at least one label, like [\"service\"]: an alert must say which release it is about",
        ));
    }
    Some(AlertmanagerConfig {
        token,
        match_labels: raw.match_labels,
        severity_label: raw.severity_label,
        critical_severities: raw.critical_severities,
    })
}

/// A secret from the variable `token_env` names or the file `token_file` names.
fn secret(
    key: &str,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
    sources: &Sources<'_>,
    env: &BTreeMap<String, String>,
    problems: &mut Vec<ConfigError>,
) -> Option<SecretString> {
    match (token_env, token_file) {
        (Some(_), Some(_)) => {
            problems.push(sources.invalid(&format!("{key}.token_file"), "is set together with token_env; keep one"));
            None
        }
        (Some(var), None) => match env.get(&var).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            Some(value) => match super::check_token(&SecretString::from(value.to_owned())) {
                Ok(()) => Some(SecretString::from(value.to_owned())),
                Err(message) => {
                    problems.push(sources.invalid(&format!("{key}.token_env"), format!("{var} {message}")));
                    None
                }
            },
            None => {
                problems.push(sources.invalid(&format!("{key}.token_env"), format!("names {var}, which is not set")));
                None
            }
        },
        (None, Some(path)) => match read_secret_file(&path, sources.read_file) {
            Ok(token) => Some(token),
            Err(message) => {
                problems.push(sources.invalid(&format!("{key}.token_file"), message));
                None
            }
        },
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("30s"), Ok(30));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert!(parse_duration("30").unwrap_err().contains("like 30s"));
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn ranges_read_as_promql_durations() {
        assert_eq!(MonitoringConfig::promql_range(1800), "30m");
        assert_eq!(MonitoringConfig::promql_range(7200), "2h");
        assert_eq!(MonitoringConfig::promql_range(90), "90s");
    }
}
