//! Logging and metrics setup.

use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;
use tracing_subscriber::EnvFilter;

/// Starts logging: readable lines by default, one JSON object per line with `json`.
/// `RUST_LOG`, when set, wins over `level`.
pub fn init_logging(json: bool, level: &str) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(directives)?,
        _ => EnvFilter::try_new(level).map_err(|e| {
            anyhow::anyhow!("log.level {level:?} is not a log filter (try info or shipgate=debug): {e}")
        })?,
    };
    // Colours only for a person at a terminal: a log file or a collector gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let result = if json { builder.json().try_init() } else { builder.try_init() };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
    Ok(())
}

/// The process-wide Prometheus recorder; installed on first use.
pub fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5],
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("shipgate_commit_batch_size".into()),
                        &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0],
                    )
                });
            match builder.and_then(|b| b.install_recorder()) {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed; /metrics will be empty");
                    None
                }
            }
        })
        .clone()
}

/// When the process started, for `shipgate_uptime_seconds`.
fn started() -> Instant {
    static STARTED: OnceLock<Instant> = OnceLock::new();
    *STARTED.get_or_init(Instant::now)
}

/// Every metric shipgate exports, described once when the recorder is installed, so that a
/// scrape of a fresh instance already says what each one means; and the build's identity.
fn describe() {
    started();
    metrics::describe_gauge!("shipgate_build_info", "shipgate's version, as a label; always 1");
    metrics::gauge!("shipgate_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    metrics::describe_gauge!("shipgate_uptime_seconds", Unit::Seconds, "Time since this instance started");
    metrics::describe_counter!("shipgate_commands_total", "Engine commands by command and outcome");
    metrics::describe_histogram!(
        "shipgate_command_duration_seconds",
        Unit::Seconds,
        "Time to decide and durably record a command"
    );
    metrics::describe_histogram!("shipgate_commit_seconds", Unit::Seconds, "Time of one store transaction");
    metrics::describe_histogram!("shipgate_commit_batch_size", "Commands written in one store transaction");
    metrics::describe_counter!(
        "shipgate_commit_conflicts_total",
        "Commands decided again because another writer moved the release first"
    );
    metrics::describe_counter!(
        "shipgate_database_busy_total",
        "SQLite writes that found the file locked by another process: retried, or gave_up (answered 503)"
    );
    metrics::describe_counter!("shipgate_http_requests_total", "HTTP requests by route, method and status");
    metrics::describe_histogram!(
        "shipgate_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request, by route"
    );
    metrics::describe_gauge!("shipgate_releases_in_memory", "Releases this instance keeps in memory");
    metrics::describe_gauge!("shipgate_outbox_backlog", "Chat notices waiting for delivery");
    metrics::describe_gauge!(
        "shipgate_outbox_oldest_undelivered_seconds",
        Unit::Seconds,
        "Age of the oldest chat notice waiting for delivery; 0 when none waits"
    );
    metrics::describe_counter!("shipgate_outbox_delivered_total", "Chat notices delivered, by platform");
    metrics::describe_counter!("shipgate_outbox_failures_total", "Failed chat deliveries (retried), by platform");
    metrics::describe_counter!(
        "shipgate_retention_removed_total",
        "Rows removed for being older than their [retention] age, by table (responses, outbox)"
    );
    metrics::describe_counter!(
        "shipgate_discord_bad_signatures_total",
        "Discord interactions refused for a missing, bad or stale signature"
    );
    metrics::describe_counter!(
        "shipgate_slack_bad_signatures_total",
        "Slack requests refused for a missing, bad or stale signature"
    );
    metrics::describe_counter!("shipgate_slack_socket_envelopes_total", "Socket Mode envelopes received, by type");
    metrics::describe_counter!("shipgate_slack_socket_reconnects_total", "Socket Mode reconnections, by reason");
    metrics::describe_counter!(
        "shipgate_slack_socket_late_handlers_total",
        "Socket Mode envelopes acknowledged before their handler finished (it went on after the ack)"
    );
    metrics::describe_gauge!("shipgate_slack_socket_connections", "Socket Mode connections that said hello");
}

/// Sets the gauges read at scrape time: uptime, memory held, the outbox backlog.
pub async fn refresh_gauges(app: &crate::app::App) {
    metrics::gauge!("shipgate_uptime_seconds").set(started().elapsed().as_secs_f64());
    metrics::gauge!("shipgate_releases_in_memory").set(app.releases_in_memory() as f64);
    match app.store().outbox_backlog().await {
        Ok((count, oldest)) => {
            metrics::gauge!("shipgate_outbox_backlog").set(count as f64);
            let age = oldest.map_or(0.0, |at| (app.now() - at).num_milliseconds().max(0) as f64 / 1000.0);
            metrics::gauge!("shipgate_outbox_oldest_undelivered_seconds").set(age);
        }
        Err(e) => tracing::warn!(error = %e, "reading the outbox backlog for /metrics"),
    }
}
