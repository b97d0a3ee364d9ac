//! The Prometheus client and the default queries against a real Prometheus holding
//! history written at known instants, and Alertmanager's webhook from a real Alertmanager.

use crate::common;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use common::process::free_port;
use common::prometheus::{
    three_hours_ago, OpenMetrics, RealAlertmanager, RealPrometheus, ServiceTraffic, Traffic, BASIC_AUTH_PASSWORD,
    BASIC_AUTH_USER,
};
use serde_json::Value;
use shipgate::monitoring::{default_query, expand, PrometheusClient, QueryOutcome, DEFAULT_QUERIES};
use std::time::Instant;
use tokio::sync::mpsc;

/// Every computed value is exact up to floating-point rounding: the counters grow linearly
/// inside a phase, so `rate` extrapolates to the slope that was written.
const TOLERANCE: f64 = 1e-9;

/// checkout before and after its release: 100 rps, then 5% errors and slower.
fn checkout_steady() -> Traffic {
    Traffic::steady(100.0).errors(0.005).client_errors(0.02).unhandled_exceptions(0.001).latency(0.05, 0.15, 0.2)
}

fn checkout_spike() -> Traffic {
    Traffic::steady(100.0).errors(0.05).client_errors(0.02).unhandled_exceptions(0.01).latency(0.1, 0.4, 1.0)
}

/// 45 minutes of history from three hours ago, and the instants the tests read.
struct History {
    metrics: OpenMetrics,
    search: ServiceTraffic,
    /// Five minutes into checkout's steady phase, with the whole 5m window inside it.
    steady: DateTime<Utc>,
    /// Fourteen minutes into the spike, on a fraction of a second.
    spike: DateTime<Utc>,
}

fn history() -> History {
    let t0 = three_hours_ago();
    let minutes = |m: i64| t0 + Duration::minutes(m);
    let checkout =
        ServiceTraffic::new("checkout", t0).then(minutes(30), checkout_steady()).then(minutes(45), checkout_spike());
    // Never failed: no 5xx series and no exception series exist for it.
    let billing = ServiceTraffic::new("billing", t0).then(minutes(45), Traffic::steady(40.0).latency(0.025, 0.1, 0.25));
    // Quantiles between bucket bounds.
    let search = ServiceTraffic::new("search", t0).then(minutes(45), Traffic::steady(20.0).latency(0.06, 0.18, 0.22));
    // Drained after twenty minutes: its counters stand still.
    let paused = ServiceTraffic::new("paused", t0)
        .then(minutes(20), Traffic::steady(10.0).errors(0.01))
        .then(minutes(45), Traffic::steady(0.0));
    let mut metrics = OpenMetrics::new();
    metrics.service(&checkout).service(&billing).service(&search).service(&paused);
    History { metrics, search, steady: minutes(25), spike: minutes(44) + Duration::milliseconds(7_500) }
}

fn client(prometheus: &RealPrometheus) -> PrometheusClient {
    PrometheusClient::new(prometheus.base_url(), std::time::Duration::from_secs(10)).expect("a valid URL")
}

#[track_caller]
fn assert_value(outcome: &QueryOutcome, expected: f64, what: &str) {
    match outcome {
        QueryOutcome::Value(value) => assert!(
            (value - expected).abs() <= TOLERANCE * expected.abs().max(1.0),
            "{what}: Prometheus answered {value}, the history says {expected}"
        ),
        blind => panic!("{what}: expected {expected}, got {blind:?}"),
    }
}

async fn default_metric(client: &PrometheusClient, metric: &str, service: &str, at: DateTime<Utc>) -> QueryOutcome {
    let template = default_query(metric).expect("a default query");
    client.instant(&expand(template, service, "5m"), at).await
}

#[tokio::test]
async fn default_queries_read_back_the_traffic_that_was_written() {
    let history = history();
    let prometheus = RealPrometheus::start_with(&history.metrics);
    let client = client(&prometheus);

    for (at, traffic, phase) in
        [(history.steady, checkout_steady(), "steady"), (history.spike, checkout_spike(), "spike")]
    {
        for (metric, expected) in [
            ("error_rate", traffic.error_share),
            ("latency_p50", traffic.latency.p50),
            ("latency_p95", traffic.latency.p95),
            ("latency_p99", traffic.latency.p99),
            ("throughput", traffic.requests_per_second),
            ("unhandled_exception_rate", traffic.unhandled_exception_share),
        ] {
            let outcome = default_metric(&client, metric, "checkout", at).await;
            assert_value(&outcome, expected, &format!("checkout {metric} ({phase})"));
        }
    }
    assert_eq!(DEFAULT_QUERIES.len(), 6, "every default query is checked above");

    // No 5xx series and no exception series at all: `or vector(0)` reads them as zero.
    for (metric, expected) in [
        ("error_rate", 0.0),
        ("unhandled_exception_rate", 0.0),
        ("throughput", 40.0),
        ("latency_p50", 0.025),
        ("latency_p95", 0.1),
        ("latency_p99", 0.25),
    ] {
        let outcome = default_metric(&client, metric, "billing", history.steady).await;
        assert_value(&outcome, expected, &format!("billing {metric}"));
    }
}

#[tokio::test]
async fn a_rate_query_is_evaluated_at_the_instant_asked() {
    let history = history();
    let prometheus = RealPrometheus::start_with(&history.metrics);
    let client = client(&prometheus);
    let query = r#"sum(rate(http_requests_total{service="checkout",code=~"5.."}[5m]))"#;

    // 100 rps with 0.5% errors, then 5%.
    assert_value(&client.instant(query, history.steady).await, 0.5, "5xx per second before the spike");
    assert_value(&client.instant(query, history.spike).await, 5.0, "5xx per second in the spike");
    let not_found = r#"sum(rate(http_requests_total{service="checkout",code="404"}[5m]))"#;
    assert_value(&client.instant(not_found, history.steady).await, 2.0, "404s per second");
}

#[tokio::test]
async fn histogram_quantile_reads_p99_close_to_what_was_written() {
    let history = history();
    let prometheus = RealPrometheus::start_with(&history.metrics);
    let client = client(&prometheus);
    let latency = Traffic::steady(20.0).latency(0.06, 0.18, 0.22).latency;
    let bounds = history.search.bucket_bounds();

    for (q, written, metric) in
        [(0.5, latency.p50, "latency_p50"), (0.95, latency.p95, "latency_p95"), (0.99, latency.p99, "latency_p99")]
    {
        let outcome = default_metric(&client, metric, "search", history.steady).await;
        // Buckets blur a quantile to within the bucket that holds it.
        let estimate = latency.estimated_quantile(q, bounds);
        let bucket = bounds.windows(2).find(|pair| pair[0] < written && written <= pair[1]).expect("a finite bucket");
        assert!(
            (estimate - written).abs() <= bucket[1] - bucket[0],
            "p{q}: the estimate {estimate} is outside the bucket of {written}"
        );
        assert_value(&outcome, estimate, &format!("search {metric}"));
        eprintln!("search p{}: written {written} s, Prometheus reads {:?}", q * 100.0, outcome.value());
    }
}

#[tokio::test]
async fn blind_queries_say_why_in_words() {
    let history = history();
    let prometheus = RealPrometheus::start_with(&history.metrics);
    let client = client(&prometheus);

    let unknown = default_metric(&client, "error_rate", "no-such-service", history.steady).await;
    assert_eq!(unknown, QueryOutcome::Empty);
    assert!(unknown.blind_reason().unwrap().starts_with("no data"));

    // paused served nothing in the window: 0 errors / 0 requests.
    let idle = default_metric(&client, "error_rate", "paused", history.steady).await;
    assert_eq!(idle, QueryOutcome::NotANumber);
    assert_eq!(default_metric(&client, "latency_p99", "paused", history.steady).await, QueryOutcome::NotANumber);
    assert_eq!(client.instant("0/0", history.steady).await, QueryOutcome::NotANumber);

    let per_idle_request = r#"sum(rate(http_requests_total{service="checkout"}[5m])) / sum(rate(http_requests_total{service="paused"}[5m]))"#;
    assert_eq!(client.instant(per_idle_request, history.steady).await, QueryOutcome::Infinite);

    // 200, 404, 500 and 503.
    let by_code = r#"sum by (code) (rate(http_requests_total{service="checkout"}[5m]))"#;
    let several = client.instant(by_code, history.steady).await;
    assert_eq!(several, QueryOutcome::TooManySeries(4));
    assert!(several.blind_reason().unwrap().contains("must aggregate to one"));

    let broken = client.instant(r#"sum(rate(http_requests_total{service="checkout"}[5m])"#, history.steady).await;
    let QueryOutcome::QueryFailed(reason) = &broken else { panic!("a syntax error fails the query: {broken:?}") };
    assert!(reason.contains("parse error") && reason.contains("bad_data, HTTP 400"), "{reason}");

    let unknown_function = client.instant("no_such_function(up)", history.steady).await;
    assert!(
        unknown_function.blind_reason().unwrap().contains("unknown function with name \"no_such_function\""),
        "{unknown_function:?}"
    );
}

#[tokio::test]
async fn a_closed_port_is_unreachable_and_named() {
    let port = free_port();
    let client = PrometheusClient::new(&format!("http://127.0.0.1:{port}"), std::time::Duration::from_secs(5)).unwrap();
    let outcome = client.instant("up", Utc::now()).await;
    assert_eq!(
        outcome,
        QueryOutcome::Unreachable(format!(
            "Prometheus at 127.0.0.1:{port} refused the connection (is it running, and is the port right?)"
        ))
    );
}

#[tokio::test]
async fn a_prometheus_that_never_answers_is_unreachable_by_timeout() {
    // Accepts connections and holds them without a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let client = PrometheusClient::new(&format!("http://{address}"), std::time::Duration::from_millis(300)).unwrap();
    let outcome = client.instant("up", Utc::now()).await;
    assert_eq!(outcome, QueryOutcome::Unreachable(format!("Prometheus at {address} did not answer within 300ms")));
    silent.abort();
}

#[tokio::test]
async fn basic_auth_in_the_url_is_sent_and_never_shown() {
    let history = history();
    let prometheus = RealPrometheus::start_with_basic_auth(&history.metrics);
    let authority = prometheus.base_url().trim_start_matches("http://");

    let with_credentials = format!("http://{BASIC_AUTH_USER}:{BASIC_AUTH_PASSWORD}@{authority}");
    let client = PrometheusClient::new(&with_credentials, std::time::Duration::from_secs(10)).unwrap();
    assert_value(&default_metric(&client, "throughput", "checkout", history.steady).await, 100.0, "throughput");
    assert!(!client.shown_url().contains(BASIC_AUTH_PASSWORD), "{}", client.shown_url());

    let wrong_password = "not-the-password";
    let client = PrometheusClient::new(
        &format!("http://{BASIC_AUTH_USER}:{wrong_password}@{authority}"),
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    let refused = client.instant("up", history.steady).await;
    let reason = refused.blind_reason().unwrap();
    assert!(reason.contains("refused the credentials (HTTP 401 Unauthorized)"), "{reason}");
    assert!(!reason.contains(wrong_password) && !format!("{client:?}").contains(wrong_password));

    let anonymous = PrometheusClient::new(prometheus.base_url(), std::time::Duration::from_secs(10)).unwrap();
    assert!(matches!(anonymous.instant("up", history.steady).await, QueryOutcome::QueryFailed(_)));
}

/// One webhook call as the test's receiver saw it.
#[derive(Debug)]
struct Delivery {
    authorization: Option<String>,
    body: Value,
}

async fn receive(
    State(deliveries): State<mpsc::UnboundedSender<Delivery>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> StatusCode {
    let authorization = headers.get("authorization").and_then(|value| value.to_str().ok()).map(str::to_owned);
    let _ = deliveries.send(Delivery { authorization, body });
    StatusCode::OK
}

async fn next_delivery(deliveries: &mut mpsc::UnboundedReceiver<Delivery>, waiting_for: &str) -> Delivery {
    tokio::time::timeout(std::time::Duration::from_secs(60), deliveries.recv())
        .await
        .unwrap_or_else(|_| panic!("Alertmanager sent no {waiting_for} notification within a minute"))
        .expect("the receiver is running")
}

#[tokio::test]
async fn alertmanager_delivers_a_firing_then_a_resolved_alert_with_the_bearer_token() {
    let token = "alertmanager-webhook-token-0123456789";
    let (sender, mut deliveries) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let webhook = format!("http://{}/webhooks/alertmanager", listener.local_addr().unwrap());
    let router = Router::new().route("/webhooks/alertmanager", post(receive)).with_state(sender);
    let server = tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });

    let alertmanager = RealAlertmanager::start(&webhook, token);
    let labels = [("alertname", "HighErrorRate"), ("service", "checkout"), ("severity", "page")];
    let annotations = [("summary", "checkout answers 5% errors")];
    let starts_at = Utc::now() - Duration::minutes(1);

    let posted = Instant::now();
    alertmanager.post_alert(&labels, &annotations, starts_at, None).await;
    let firing = next_delivery(&mut deliveries, "firing").await;
    eprintln!("firing notification delivered {:?} after the alert was posted", posted.elapsed());
    assert_eq!(firing.authorization.as_deref(), Some(format!("Bearer {token}").as_str()));
    assert_eq!(firing.body["version"], "4");
    assert_eq!(firing.body["status"], "firing");
    let alerts = firing.body["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 1, "{}", firing.body);
    assert_eq!(alerts[0]["status"], "firing");
    for (name, value) in labels {
        assert_eq!(alerts[0]["labels"][name], value, "label {name}: {}", firing.body);
    }
    assert_eq!(alerts[0]["annotations"]["summary"], annotations[0].1);
    assert_eq!(firing.body["groupLabels"]["service"], "checkout");

    let posted = Instant::now();
    alertmanager.post_alert(&labels, &annotations, starts_at, Some(Utc::now() - Duration::seconds(1))).await;
    let resolved = loop {
        let delivery = next_delivery(&mut deliveries, "resolved").await;
        if delivery.body["status"] == "resolved" {
            break delivery;
        }
        assert_eq!(delivery.body["status"], "firing", "{}", delivery.body);
    };
    eprintln!("resolved notification delivered {:?} after the alert was resolved", posted.elapsed());
    assert_eq!(resolved.authorization.as_deref(), Some(format!("Bearer {token}").as_str()));
    assert_eq!(resolved.body["version"], "4");
    assert_eq!(resolved.body["alerts"][0]["status"], "resolved");
    assert_eq!(resolved.body["alerts"][0]["labels"]["alertname"], "HighErrorRate");
    server.abort();
}
