//! The post-deploy watch's view of a service's health: PromQL queries, and the edge client
//! that evaluates them against Prometheus ([`prometheus`]).
//!
//! The default queries follow the common conventions of Prometheus client libraries:
//! `http_requests_total{service, code}`, the histogram
//! `http_request_duration_seconds_bucket{service, le}` and `unhandled_exceptions_total{service}`.
//! A query is a template: [`expand`] fills in `{service}` and `{range}`.

pub mod prometheus;

pub use prometheus::{PrometheusClient, PrometheusClientError, QueryOutcome};

/// The default PromQL of each watched metric, keyed by the metric's name in shipgate.
///
/// Each aggregates to one series, as an instant query the watch samples must.
/// - Ratios divide by the request rate, so a service with no traffic at all reads as no
///   data and one whose counters stand still reads as NaN: both are blind, never "fine".
/// - `or vector(0)` on a numerator makes "no 5xx series yet" (and "no exception yet") read 0:
///   clients create a code's series only when the first such request is answered.
pub const DEFAULT_QUERIES: [(&str, &str); 6] = [
    (
        "error_rate",
        r#"(sum(rate(http_requests_total{service="{service}",code=~"5.."}[{range}])) or vector(0)) / sum(rate(http_requests_total{service="{service}"}[{range}]))"#,
    ),
    (
        "latency_p50",
        r#"histogram_quantile(0.5, sum by (le) (rate(http_request_duration_seconds_bucket{service="{service}"}[{range}])))"#,
    ),
    (
        "latency_p95",
        r#"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{service="{service}"}[{range}])))"#,
    ),
    (
        "latency_p99",
        r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service="{service}"}[{range}])))"#,
    ),
    ("throughput", r#"sum(rate(http_requests_total{service="{service}"}[{range}]))"#),
    (
        "unhandled_exception_rate",
        r#"(sum(rate(unhandled_exceptions_total{service="{service}"}[{range}])) or vector(0)) / sum(rate(http_requests_total{service="{service}"}[{range}]))"#,
    ),
];

/// The default query template for a watched metric, by its key in [`DEFAULT_QUERIES`].
pub fn default_query(metric: &str) -> Option<&'static str> {
    DEFAULT_QUERIES.iter().find(|(key, _)| *key == metric).map(|(_, query)| *query)
}

/// `template` with every `{service}` replaced by `service`, escaped for a PromQL
/// double-quoted string, and every `{range}` by `range` (a PromQL duration such as `5m`,
/// inserted as it is: the caller validates it).
///
/// One pass from left to right: text substituted in is never itself searched for
/// placeholders, so a service name can never inject `{range}` or close its string.
pub fn expand(template: &str, service: &str, range: &str) -> String {
    let escaped_service = escape_promql_string(service);
    let mut expanded = String::with_capacity(template.len() + 4 * service.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        expanded.push_str(&rest[..open]);
        let tail = &rest[open..];
        if let Some(after) = tail.strip_prefix("{service}") {
            expanded.push_str(&escaped_service);
            rest = after;
        } else if let Some(after) = tail.strip_prefix("{range}") {
            expanded.push_str(range);
            rest = after;
        } else {
            // A brace of PromQL itself, such as a label matcher's.
            expanded.push('{');
            rest = &tail[1..];
        }
    }
    expanded.push_str(rest);
    expanded
}

/// `value` safe inside a PromQL double-quoted string literal (Go's escapes).
fn escape_promql_string(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            _ => escaped.push(c),
        }
    }
    escaped
}

impl crate::app::watch::MetricSource for PrometheusClient {
    async fn read(&self, query: &str, at: chrono::DateTime<chrono::Utc>) -> crate::app::watch::SourceReading {
        let outcome = self.instant(query, at).await;
        match outcome.value() {
            Some(value) => crate::app::watch::SourceReading::Value(value),
            None => crate::app::watch::SourceReading::Blind(
                outcome.blind_reason().unwrap_or_else(|| "Prometheus gave no value".to_owned()),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_fills_every_placeholder_of_a_default_query() {
        let query = expand(default_query("error_rate").unwrap(), "checkout", "5m");
        assert_eq!(
            query,
            r#"(sum(rate(http_requests_total{service="checkout",code=~"5.."}[5m])) or vector(0)) / sum(rate(http_requests_total{service="checkout"}[5m]))"#
        );
        for (key, template) in DEFAULT_QUERIES {
            let query = expand(template, "checkout-api", "2m");
            assert!(!query.contains("{service}") && !query.contains("{range}"), "{key}: {query}");
            assert!(query.contains(r#"service="checkout-api""#), "{key}: {query}");
            assert!(query.contains("[2m]"), "{key}: {query}");
        }
    }

    #[test]
    fn every_metric_has_one_default_query() {
        let keys: Vec<&str> = DEFAULT_QUERIES.iter().map(|(key, _)| *key).collect();
        assert_eq!(
            keys,
            ["error_rate", "latency_p50", "latency_p95", "latency_p99", "throughput", "unhandled_exception_rate"]
        );
        assert_eq!(default_query("latency_p99"), Some(DEFAULT_QUERIES[3].1));
        assert_eq!(default_query("saturation"), None);
    }

    #[test]
    fn a_service_name_cannot_break_out_of_its_string_literal() {
        let query = expand(r#"up{service="{service}"}"#, r#"a"} or vector(1) or up{x="\"#, "5m");
        assert_eq!(query, r#"up{service="a\"} or vector(1) or up{x=\"\\"}"#);
    }

    #[test]
    fn substituted_text_is_not_searched_for_placeholders() {
        assert_eq!(expand("{service}/{range}", "{range}", "1m"), "{range}/1m");
        assert_eq!(expand("{service}", "", "1m"), "");
        assert_eq!(expand("{ {serv} {range", "x", "1m"), "{ {serv} {range");
    }
}
