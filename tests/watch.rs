//! The watch after a production deploy against a real Prometheus: history written with
//! `promtool` at known instants (a baseline, then a spike), and the watcher driven over it
//! with the clock under the test's control. Each criterion trips at the sample that
//! crosses it and not before; a healthy deploy completes; a blind metric holds completion;
//! a zero baseline falls back to the floor.

use crate::common;

use chrono::{DateTime, Duration, Utc};
use common::prometheus::{three_hours_ago, OpenMetrics, RealAlertmanager, RealPrometheus, ServiceTraffic, Traffic};
use common::{deployment, Backend, TestApp, CI_TOKEN, DIGEST, RM_TOKEN};
use shipgate::app::watch::{WatchPlan, Watcher};
use shipgate::config::MonitoringConfig;
use shipgate::domain::watch::{Criteria, Metric, WatchSettings};
use shipgate::domain::ReleaseId;
use shipgate::monitoring::PrometheusClient;

/// The deploy instant: well inside the written history, on a whole minute.
fn deploy_at() -> DateTime<Utc> {
    three_hours_ago() + Duration::minutes(60)
}

fn settings() -> WatchSettings {
    WatchSettings { window_seconds: 1800, min_window_seconds: 900, interval_seconds: 30, baseline_window_seconds: 1800 }
}

fn watcher(t: &TestApp, prometheus: &RealPrometheus) -> Watcher<PrometheusClient> {
    let plan = WatchPlan {
        settings: settings(),
        criteria: Criteria::default(),
        queries: Metric::ALL
            .into_iter()
            .map(|m| (m, shipgate::monitoring::default_query(m.key()).expect("a default").to_owned()))
            .collect(),
        baseline_range: MonitoringConfig::promql_range(1800),
        sample_range: MonitoringConfig::promql_range(60),
    };
    let client = PrometheusClient::new(prometheus.base_url(), std::time::Duration::from_secs(5)).expect("client");
    Watcher::new(t.app.clone(), plan, client, "test-instance")
}

fn healthy() -> Traffic {
    Traffic::steady(100.0).errors(0.005).latency(0.05, 0.15, 0.2)
}

/// `service` healthy from three hours ago until five minutes after the deploy, then
/// `after` until the end of the window.
fn history(service: &str, after: Traffic) -> OpenMetrics {
    let traffic = ServiceTraffic::new(service, three_hours_ago())
        .then(deploy_at() + Duration::minutes(5), healthy())
        .then(deploy_at() + Duration::minutes(40), after);
    let mut metrics = OpenMetrics::new();
    metrics.service(&traffic);
    metrics
}

/// A release of `service` deployed to production at [`deploy_at`].
async fn deployed(service: &str) -> Option<(TestApp, String)> {
    let t = common::spawn_watching(Backend::Sqlite, deploy_at() - Duration::minutes(30)).await?;
    let id = t.start(service, "1.4.0").await;
    t.to_production_step(&id).await;
    t.clock.set(deploy_at());
    t.ok(
        &format!("/api/v1/releases/{id}/deployments"),
        CI_TOKEN,
        Some(deployment("production", DIGEST, "succeeded", "passed")),
    )
    .await;
    Some((t, id))
}

/// Moves the clock to `minutes` after the deploy and lets the watcher catch up.
async fn watch_until(t: &TestApp, w: &Watcher<PrometheusClient>, seconds: i64) -> usize {
    t.clock.set(deploy_at() + Duration::seconds(seconds));
    w.sweep().await.expect("sweep")
}

async fn release(t: &TestApp, id: &str) -> shipgate::domain::release::Release {
    t.app.release(&ReleaseId::new(id)).await.expect("read").expect("exists")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_spike_trips_the_rollback_at_the_sample_that_crosses_it() {
    let prometheus = RealPrometheus::start_with(&history("checkout", healthy().errors(0.05)));
    let (t, id) = deployed("checkout").await.expect("sqlite");
    let w = watcher(&t, &prometheus);

    // The baseline, measured at the deploy over the 30 minutes before it.
    assert_eq!(watch_until(&t, &w, 0).await, 1);
    let r = release(&t, &id).await;
    let watch = r.current_watch().expect("the watch began");
    let baseline = watch.baseline[&Metric::ErrorRate].as_value().expect("a baseline error rate");
    assert!((baseline - 0.005).abs() < 1e-6, "{baseline}");
    assert!((watch.baseline[&Metric::Throughput].as_value().unwrap() - 100.0).abs() < 1e-6);

    // Ten samples up to the spike's start: the one-minute rate still reads the baseline.
    assert_eq!(watch_until(&t, &w, 300).await, 10);
    assert_eq!(release(&t, &id).await.status.as_str(), "active", "nothing trips before the spike");

    // Half a minute into the spike the rate over the last minute is about 2.75%: above
    // the threshold of 1% (2x 0.5%, which is also the floor). It trips there.
    assert_eq!(watch_until(&t, &w, 330).await, 1);
    let r = release(&t, &id).await;
    assert_eq!(r.status.as_str(), "rolling_back");
    let rollback = r.rollback.as_ref().expect("a rollback");
    let trip = &rollback.trips[0];
    assert_eq!(trip.criterion, shipgate::domain::watch::Criterion::ErrorRate);
    assert_eq!(trip.since, deploy_at() + Duration::seconds(330));
    let observed = trip.observed.expect("observed");
    assert!(observed > 0.02 && observed < 0.035, "{observed}");
    assert!(rollback.reason.starts_with("rollback criterion tripped: error rate"), "{}", rollback.reason);
    assert_eq!(r.watch.as_ref().expect("kept").samples.len(), 11);

    // The watch stops: nothing more is due, and another sweep records nothing.
    assert_eq!(watch_until(&t, &w, 600).await, 0);
    let view = t.get(&id).await;
    assert_eq!(view["status"], "rolling_back", "{view}");
}

/// The trip of a deploy of `service` whose traffic turns into `after` five minutes in:
/// nothing trips through the fifth minute, the rollback has started by the sixth.
async fn trip_after_five_minutes(service: &str, after: Traffic) -> shipgate::domain::watch::Trip {
    let prometheus = RealPrometheus::start_with(&history(service, after));
    let (t, id) = deployed(service).await.expect("sqlite");
    let w = watcher(&t, &prometheus);
    watch_until(&t, &w, 300).await;
    assert_eq!(release(&t, &id).await.status.as_str(), "active");
    watch_until(&t, &w, 360).await;
    let r = release(&t, &id).await;
    r.rollback.as_ref().expect("rolled back").trips[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_and_exceptions_trip_at_their_samples() {
    // p99 from 200 ms to 900 ms: above 3x.
    let trip = trip_after_five_minutes("search", healthy().latency(0.3, 0.7, 0.9)).await;
    assert_eq!(trip.criterion, shipgate::domain::watch::Criterion::LatencyP99);
    assert!(trip.since <= deploy_at() + Duration::seconds(360) && trip.since > deploy_at() + Duration::seconds(300));

    // New unhandled exceptions on 3% of requests: above 1%.
    let trip = trip_after_five_minutes("billing", healthy().unhandled_exceptions(0.03)).await;
    assert_eq!(trip.criterion, shipgate::domain::watch::Criterion::UnhandledExceptions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_deploy_is_watched_through_its_window_and_completes() {
    let prometheus = RealPrometheus::start_with(&history("profile", healthy()));
    let (t, id) = deployed("profile").await.expect("sqlite");
    let w = watcher(&t, &prometheus);
    t.tick_all(&id, CI_TOKEN).await;
    watch_until(&t, &w, 14 * 60).await;
    let early = t.call("POST", &format!("/api/v1/releases/{id}/steps/monitor/approve"), RM_TOKEN, None).await;
    assert_eq!(early.status.as_u16(), 409, "{}", early.body);
    // A restart of the watcher changes nothing: the schedule is in the database.
    let again = watcher(&t, &prometheus);
    watch_until(&t, &again, 15 * 60).await;
    t.ok(&format!("/api/v1/releases/{id}/steps/monitor/approve"), RM_TOKEN, None).await;
    watch_until(&t, &w, 20 * 60).await;
    t.tick_all(&id, CI_TOKEN).await;
    let done = t.ok(&format!("/api/v1/releases/{id}/steps/rollback-criteria/approve"), RM_TOKEN, None).await;
    assert_eq!(done["release"]["status"], "completed");
    let r = release(&t, &id).await;
    let watch = r.watch.as_ref().expect("watched");
    assert_eq!(watch.samples.len(), 40, "one sample every 30 s for 20 minutes");
    assert!(watch.samples.iter().all(|s| s.readings.values().all(|r| r.as_value().is_some())), "nothing blind");
    assert_eq!(watch_until(&t, &w, 30 * 60).await, 0, "a completed release is no longer watched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blind_metric_holds_completion_until_a_person_gives_a_reason() {
    // No latency histogram at all: every latency query is empty or NaN.
    let mut metrics = OpenMetrics::new();
    let start = three_hours_ago();
    let mut requests = Vec::new();
    let mut at = start;
    let mut total = 0.0;
    while at <= deploy_at() + Duration::minutes(40) {
        requests.push((at, total));
        total += 1500.0;
        at += Duration::seconds(15);
    }
    metrics.counter("http_requests_total", &[("service", "ledger"), ("code", "200")], &requests);
    let prometheus = RealPrometheus::start_with(&metrics);
    let (t, id) = deployed("ledger").await.expect("sqlite");
    let w = watcher(&t, &prometheus);
    t.tick_all(&id, CI_TOKEN).await;
    watch_until(&t, &w, 15 * 60).await;
    let r = release(&t, &id).await;
    let watch = r.current_watch().expect("watching");
    assert_eq!(watch.baseline[&Metric::ErrorRate].as_value(), Some(0.0), "a zero baseline, not a blind one");
    assert!(watch.blind().contains_key(&Metric::LatencyP99), "{:?}", watch.blind());
    let refused = t.call("POST", &format!("/api/v1/releases/{id}/steps/monitor/approve"), RM_TOKEN, None).await;
    assert_eq!(refused.status.as_u16(), 409);
    let message = refused.body["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("p99 latency"), "{}", refused.body);
    assert_eq!(r.status.as_str(), "active", "a blind metric trips nothing");

    // Someone who checked by other means says so; it is recorded, and the gate passes.
    let path = format!("/api/v1/releases/{id}/watch/accept-blind");
    let blank = t.call("POST", &path, RM_TOKEN, Some(serde_json::json!({"reason": " "}))).await;
    assert_eq!(blank.status.as_u16(), 422, "{}", blank.body);
    let reason = "ledger exports no latency histogram; checked the load balancer's p99 by hand";
    t.ok(&path, RM_TOKEN, Some(serde_json::json!({"reason": reason}))).await;
    t.ok(&format!("/api/v1/releases/{id}/steps/monitor/approve"), RM_TOKEN, None).await;
    let r = release(&t, &id).await;
    let accepted = &r.watch.as_ref().expect("watched").blind_accepted[0];
    assert_eq!(accepted.reason, reason);
    assert_eq!(accepted.metrics, [Metric::LatencyP50, Metric::LatencyP95, Metric::LatencyP99]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_reports_a_broken_flow_and_the_rollback_starts() {
    let prometheus = RealPrometheus::start_with(&history("cart", healthy()));
    let (t, id) = deployed("cart").await.expect("sqlite");
    let w = watcher(&t, &prometheus);
    watch_until(&t, &w, 120).await;
    let path = format!("/api/v1/releases/{id}/watch/critical-flow");
    let observer = t.call("POST", &path, common::OBSERVER_TOKEN, Some(serde_json::json!({"note": "x"}))).await;
    assert_eq!(observer.status.as_u16(), 403);
    let answer =
        t.ok(&path, CI_TOKEN, Some(serde_json::json!({"note": "checkout answers 500 for card payments"}))).await;
    assert_eq!(answer["release"]["status"], "rolling_back", "{answer}");
    let r = release(&t, &id).await;
    let trip = &r.rollback.as_ref().expect("rolling back").trips[0];
    assert_eq!(trip.criterion, shipgate::domain::watch::Criterion::CriticalFlow);
    assert_eq!(trip.evidence.as_deref(), Some("ci reports: checkout answers 500 for card payments"));
    assert_eq!(watch_until(&t, &w, 600).await, 0, "the watch stops while production goes back");
}

fn webhook(alerts: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "version": "4", "groupKey": "{}:{alertname=\"CheckoutFailing\"}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "shipgate", "groupLabels": {}, "commonLabels": {},
        "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "alerts": alerts
    })
}

async fn post_webhook(t: &TestApp, token: &str, body: &serde_json::Value) -> reqwest::Response {
    t.http
        .post(format!("{}/webhooks/alertmanager", t.base))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("an answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_critical_alert_delivered_by_a_real_alertmanager_starts_the_rollback() {
    let prometheus = RealPrometheus::start_with(&history("orders", healthy()));
    let (t, id) = deployed("orders").await.expect("sqlite");
    let w = watcher(&t, &prometheus);
    watch_until(&t, &w, 60).await;
    let alertmanager =
        RealAlertmanager::start(&format!("{}/webhooks/alertmanager", t.base), common::ALERTMANAGER_TOKEN);

    // A warning about another service changes nothing here.
    alertmanager
        .post_alert(
            &[("alertname", "DiskFilling"), ("service", "search"), ("severity", "critical")],
            &[("summary", "disk 91% full")],
            Utc::now(),
            None,
        )
        .await;
    let started = Utc::now();
    alertmanager
        .post_alert(
            &[("alertname", "CheckoutFailing"), ("service", "orders"), ("severity", "critical")],
            &[("summary", "checkout answers 500 for 30% of attempts")],
            started,
            None,
        )
        .await;
    let mut rolled_back = None;
    for _ in 0..100 {
        let r = release(&t, &id).await;
        if r.status.as_str() == "rolling_back" {
            rolled_back = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let r = rolled_back.expect("Alertmanager delivered the alert and the rollback started");
    let trip = &r.rollback.as_ref().expect("rolling back").trips[0];
    assert_eq!(trip.criterion, shipgate::domain::watch::Criterion::CriticalFlow);
    assert_eq!(trip.evidence.as_deref(), Some("alert CheckoutFailing: checkout answers 500 for 30% of attempts"));
    assert_eq!(trip.since.timestamp(), started.timestamp());
    let alerts = &r.watch.as_ref().expect("watched").alerts;
    assert_eq!(alerts.len(), 1, "only the alert about this service: {alerts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_checks_its_token_and_version_and_a_resend_changes_nothing() {
    let prometheus = RealPrometheus::start_with(&history("basket", healthy()));
    let (t, id) = deployed("basket").await.expect("sqlite");
    let w = watcher(&t, &prometheus);
    watch_until(&t, &w, 60).await;
    let warning = serde_json::json!([{
        "status": "firing", "labels": {"alertname": "SlowSearch", "service": "basket", "severity": "warning"},
        "annotations": {"summary": "p95 above 1 s"}, "startsAt": "2026-12-03T08:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus/graph", "fingerprint": "5f1c2a"
    }]);
    assert_eq!(post_webhook(&t, "wrong-token-0123456789", &webhook(warning.clone())).await.status(), 401);
    let mut old = webhook(warning.clone());
    old["version"] = "3".into();
    let refused = post_webhook(&t, common::ALERTMANAGER_TOKEN, &old).await;
    assert_eq!(refused.status(), 422);
    assert!(release(&t, &id).await.watch.as_ref().unwrap().alerts.is_empty(), "a refused delivery records nothing");

    let first = post_webhook(&t, common::ALERTMANAGER_TOKEN, &webhook(warning.clone())).await;
    assert_eq!(first.status(), 200);
    let first: serde_json::Value = first.json().await.expect("json");
    assert_eq!((first["recorded"].as_u64(), first["rollbacks_started"].as_u64()), (Some(1), Some(0)), "{first}");
    // Alertmanager resends the same notification: nothing is recorded twice.
    let again: serde_json::Value =
        post_webhook(&t, common::ALERTMANAGER_TOKEN, &webhook(warning.clone())).await.json().await.expect("json");
    assert_eq!(again["recorded"].as_u64(), Some(0), "{again}");
    // Its resolution is recorded.
    let mut resolved = warning;
    resolved[0]["status"] = "resolved".into();
    let done: serde_json::Value =
        post_webhook(&t, common::ALERTMANAGER_TOKEN, &webhook(resolved)).await.json().await.expect("json");
    assert_eq!(done["recorded"].as_u64(), Some(1));
    let r = release(&t, &id).await;
    assert_eq!(r.status.as_str(), "active", "a warning rolls nothing back");
    assert_eq!(r.watch.as_ref().unwrap().alerts.len(), 2);
}
