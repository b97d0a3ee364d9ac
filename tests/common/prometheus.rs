//! A real Prometheus and a real Alertmanager (the Debian packages `prometheus` and
//! `prometheus-alertmanager`), each on a free port in a temporary directory, killed on drop.
//!
//! Prometheus is given history, not scraped: [`OpenMetrics`] writes series at known
//! instants, `promtool tsdb create-blocks-from openmetrics` turns them into blocks, and
//! Prometheus starts on those blocks. [`ServiceTraffic`] writes the usual HTTP metrics of
//! a service from a description such as "100 rps, 0.5% errors, p99 200 ms, then 5% errors".
#![allow(dead_code)]

use super::process::free_port;
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::{json, Map, Value};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// How long a daemon may take to answer `/-/ready`.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Starts tried when another process takes the free port between choosing and binding it.
const START_ATTEMPTS: usize = 3;

/// The user and password of a Prometheus started with [`RealPrometheus::start_with_basic_auth`].
pub const BASIC_AUTH_USER: &str = "watch";
pub const BASIC_AUTH_PASSWORD: &str = "watch-s3cret";
/// bcrypt of [`BASIC_AUTH_PASSWORD`] at cost 4, Go's minimum, so each request checks fast.
const BASIC_AUTH_BCRYPT: &str = "$2b$04$sszjZ8sNJjnzioo/.qdVV.ylomzzTsWPi07Oij.4Wl8kmHXD7.9xC";
/// The `Authorization` header of the readiness probe: base64 of `user:password`.
const BASIC_AUTH_HEADER: &str = "Basic d2F0Y2g6d2F0Y2gtczNjcmV0";

/// Where test history starts: three hours ago, on a whole minute. Prometheus keeps blocks
/// relative to now, so history must be recent; three hours leaves room for a long span
/// before now.
///
/// Taken once per test process: a test that asks twice must get the same instant, or a
/// minute turning between its calls would shift its history against its deploy.
pub fn three_hours_ago() -> DateTime<Utc> {
    static ORIGIN: std::sync::OnceLock<DateTime<Utc>> = std::sync::OnceLock::new();
    *ORIGIN.get_or_init(|| {
        (Utc::now() - Duration::hours(3)).duration_trunc(Duration::minutes(1)).expect("a minute divides time")
    })
}

// ---------------------------------------------------------------------------------------
// OpenMetrics
// ---------------------------------------------------------------------------------------

/// OpenMetrics text for promtool: series grouped by metric family, each series' samples
/// in time order, unix-second timestamps, `# EOF` at the end.
#[derive(Debug, Default, Clone)]
pub struct OpenMetrics {
    families: Vec<Family>,
}

#[derive(Debug, Clone)]
struct Family {
    name: String,
    kind: &'static str,
    series: Vec<Series>,
}

#[derive(Debug, Clone)]
struct Series {
    sample_name: String,
    labels: Vec<(String, String)>,
    points: Vec<(DateTime<Utc>, f64)>,
}

/// One sample of a histogram: cumulative counts per finite upper bound (ascending), the
/// total count (the `+Inf` bucket) and the sum of observations.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramPoint {
    pub buckets: Vec<(f64, f64)>,
    pub count: f64,
    pub sum: f64,
}

impl OpenMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// A counter series; `name` with or without `_total` (the samples have it).
    pub fn counter(&mut self, name: &str, labels: &[(&str, &str)], points: &[(DateTime<Utc>, f64)]) -> &mut Self {
        let family = name.strip_suffix("_total").unwrap_or(name);
        self.add(family, "counter", format!("{family}_total"), labels, points.to_vec());
        self
    }

    /// A histogram: its `_bucket{le}` series, `_count` and `_sum`. Every point has the same
    /// bounds.
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        points: &[(DateTime<Utc>, HistogramPoint)],
    ) -> &mut Self {
        let Some((_, first)) = points.first() else { return self };
        let bounds: Vec<f64> = first.buckets.iter().map(|(le, _)| *le).collect();
        assert!(bounds.windows(2).all(|pair| pair[0] < pair[1]), "{name}: bucket bounds must ascend: {bounds:?}");
        for (at, point) in points {
            let these: Vec<f64> = point.buckets.iter().map(|(le, _)| *le).collect();
            assert_eq!(these, bounds, "{name} at {at}: every point needs the same bucket bounds");
        }
        let with = |extra: Option<(&str, String)>| {
            let mut all: Vec<(String, String)> =
                labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            all.extend(extra.map(|(k, v)| (k.to_owned(), v)));
            all
        };
        for (index, le) in bounds.iter().enumerate() {
            let series = points.iter().map(|(at, point)| (*at, point.buckets[index].1)).collect();
            self.add_series(name, "histogram", format!("{name}_bucket"), with(Some(("le", format_le(*le)))), series);
        }
        let infinite = points.iter().map(|(at, point)| (*at, point.count)).collect();
        self.add_series(name, "histogram", format!("{name}_bucket"), with(Some(("le", "+Inf".to_owned()))), infinite);
        let count = points.iter().map(|(at, point)| (*at, point.count)).collect();
        self.add_series(name, "histogram", format!("{name}_count"), with(None), count);
        let sum = points.iter().map(|(at, point)| (*at, point.sum)).collect();
        self.add_series(name, "histogram", format!("{name}_sum"), with(None), sum);
        self
    }

    /// The usual HTTP series of one service over its span (see [`ServiceTraffic`]).
    pub fn service(&mut self, traffic: &ServiceTraffic) -> &mut Self {
        traffic.write_into(self);
        self
    }

    fn add(
        &mut self,
        family: &str,
        kind: &'static str,
        sample_name: String,
        labels: &[(&str, &str)],
        points: Vec<(DateTime<Utc>, f64)>,
    ) {
        let labels = labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        self.add_series(family, kind, sample_name, labels, points);
    }

    fn add_series(
        &mut self,
        family: &str,
        kind: &'static str,
        sample_name: String,
        labels: Vec<(String, String)>,
        points: Vec<(DateTime<Utc>, f64)>,
    ) {
        assert!(
            points.windows(2).all(|pair| pair[0].0 < pair[1].0),
            "{sample_name}{labels:?}: samples must be in strictly increasing time order"
        );
        let index = match self.families.iter().position(|f| f.name == family) {
            Some(index) => index,
            None => {
                self.families.push(Family { name: family.to_owned(), kind, series: Vec::new() });
                self.families.len() - 1
            }
        };
        let family = &mut self.families[index];
        assert_eq!(family.kind, kind, "{} is already a {}", family.name, family.kind);
        assert!(
            !family.series.iter().any(|s| s.sample_name == sample_name && s.labels == labels),
            "{sample_name}{labels:?} is written twice"
        );
        family.series.push(Series { sample_name, labels, points });
    }

    /// The OpenMetrics text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for family in &self.families {
            writeln!(text, "# TYPE {} {}", family.name, family.kind).unwrap();
            for series in &family.series {
                let labels = series
                    .labels
                    .iter()
                    .map(|(key, value)| format!("{key}=\"{}\"", escape_label_value(value)))
                    .collect::<Vec<_>>()
                    .join(",");
                for (at, value) in &series.points {
                    let seconds = at.timestamp_millis() as f64 / 1000.0;
                    writeln!(text, "{}{{{labels}}} {value} {seconds:.3}", series.sample_name).unwrap();
                }
            }
        }
        text.push_str("# EOF\n");
        text
    }
}

fn escape_label_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn format_le(le: f64) -> String {
    if le.is_infinite() {
        "+Inf".to_owned()
    } else {
        le.to_string()
    }
}

// ---------------------------------------------------------------------------------------
// A service's traffic
// ---------------------------------------------------------------------------------------

/// Request latency as three quantiles, in seconds (`p50 < p95 < p99`).
///
/// The distribution behind them has a piecewise-linear CDF through (0, 0), (p50, 0.5),
/// (p95, 0.95), (p99, 0.99) and (2 × p99, 1). `histogram_quantile` interpolates linearly
/// inside a bucket, so it gives back a quantile exactly when the quantile is a bucket
/// bound, and [`Latency::estimated_quantile`] otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

impl Latency {
    pub fn new(p50: f64, p95: f64, p99: f64) -> Self {
        assert!(0.0 < p50 && p50 < p95 && p95 < p99, "latency quantiles must ascend: {p50} {p95} {p99}");
        Latency { p50, p95, p99 }
    }

    fn knots(&self) -> [(f64, f64); 5] {
        [(0.0, 0.0), (self.p50, 0.5), (self.p95, 0.95), (self.p99, 0.99), (2.0 * self.p99, 1.0)]
    }

    /// The share of requests answered within `seconds`.
    pub fn cdf(&self, seconds: f64) -> f64 {
        let knots = self.knots();
        if seconds <= 0.0 {
            return 0.0;
        }
        for pair in knots.windows(2) {
            let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
            if seconds <= x1 {
                return y0 + (y1 - y0) * (seconds - x0) / (x1 - x0);
            }
        }
        1.0
    }

    /// The mean latency: each linear piece contributes its share times its midpoint.
    pub fn mean(&self) -> f64 {
        self.knots().windows(2).map(|pair| (pair[1].1 - pair[0].1) * (pair[0].0 + pair[1].0) / 2.0).sum()
    }

    /// What `histogram_quantile(q, ...)` answers over a histogram of this latency with
    /// these finite bucket bounds: linear interpolation inside the bucket holding rank q.
    pub fn estimated_quantile(&self, q: f64, bounds: &[f64]) -> f64 {
        let mut lower = (0.0, 0.0);
        for &le in bounds {
            let share = self.cdf(le);
            if share >= q {
                return lower.0 + (le - lower.0) * (q - lower.1) / (share - lower.1);
            }
            lower = (le, share);
        }
        // In the +Inf bucket Prometheus answers the highest finite bound.
        lower.0
    }
}

/// What a service does during one phase, per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traffic {
    pub requests_per_second: f64,
    /// Share of requests answered 5xx (three quarters 500, one quarter 503).
    pub error_share: f64,
    /// Share answered 404: client errors, which are not the service's errors.
    pub client_error_share: f64,
    /// Unhandled exceptions per request.
    pub unhandled_exception_share: f64,
    pub latency: Latency,
}

impl Traffic {
    /// `requests_per_second` all answered 200, p50 50 ms, p95 150 ms, p99 200 ms.
    pub fn steady(requests_per_second: f64) -> Self {
        Traffic {
            requests_per_second,
            error_share: 0.0,
            client_error_share: 0.0,
            unhandled_exception_share: 0.0,
            latency: Latency::new(0.05, 0.15, 0.2),
        }
    }

    pub fn errors(self, error_share: f64) -> Self {
        Traffic { error_share, ..self }
    }

    pub fn client_errors(self, client_error_share: f64) -> Self {
        Traffic { client_error_share, ..self }
    }

    pub fn unhandled_exceptions(self, unhandled_exception_share: f64) -> Self {
        Traffic { unhandled_exception_share, ..self }
    }

    pub fn latency(self, p50: f64, p95: f64, p99: f64) -> Self {
        Traffic { latency: Latency::new(p50, p95, p99), ..self }
    }
}

/// Bucket bounds in seconds: the client libraries' defaults with a few finer steps.
pub const DEFAULT_BUCKETS: [f64; 18] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0];

/// The usual HTTP metrics of one service, sampled every `step` from `start` through
/// consecutive phases:
/// - `http_requests_total{service, code}` with codes 200, 404, 500 and 503;
/// - `http_request_duration_seconds_bucket{service, le}` with `_count` and `_sum`;
/// - `unhandled_exceptions_total{service}`.
///
/// A series that never leaves zero is not written, as client libraries create a label
/// set at its first increment: a service that never failed has no 5xx series.
#[derive(Debug, Clone)]
pub struct ServiceTraffic {
    service: String,
    start: DateTime<Utc>,
    step: Duration,
    buckets: Vec<f64>,
    /// Each phase runs from the previous one's end (or `start`) until its instant.
    phases: Vec<(DateTime<Utc>, Traffic)>,
}

impl ServiceTraffic {
    /// A service whose counters start at zero at `start`, sampled every 15 s.
    pub fn new(service: &str, start: DateTime<Utc>) -> Self {
        ServiceTraffic {
            service: service.to_owned(),
            start,
            step: Duration::seconds(15),
            buckets: DEFAULT_BUCKETS.to_vec(),
            phases: Vec::new(),
        }
    }

    pub fn step(mut self, step: Duration) -> Self {
        assert!(self.phases.is_empty(), "set the step before the phases");
        self.step = step;
        self
    }

    pub fn buckets(mut self, bounds: &[f64]) -> Self {
        self.buckets = bounds.to_vec();
        self
    }

    /// `traffic` from the end of the previous phase until `until`, a whole number of steps
    /// after `start`.
    pub fn then(mut self, until: DateTime<Utc>, traffic: Traffic) -> Self {
        let from = self.end();
        assert!(until > from, "{}: a phase must end after {from}, not at {until}", self.service);
        let offset = (until - self.start).num_milliseconds();
        assert!(
            offset % self.step.num_milliseconds() == 0,
            "{}: a phase must end a whole number of steps after the start",
            self.service
        );
        self.phases.push((until, traffic));
        self
    }

    /// Where the last phase ends.
    pub fn end(&self) -> DateTime<Utc> {
        self.phases.last().map_or(self.start, |(until, _)| *until)
    }

    pub fn bucket_bounds(&self) -> &[f64] {
        &self.buckets
    }

    /// The traffic of the step ending at `at`.
    fn traffic_until(&self, at: DateTime<Utc>) -> Traffic {
        self.phases.iter().find(|(until, _)| at <= *until).map(|(_, traffic)| *traffic).expect("inside a phase")
    }

    fn write_into(&self, metrics: &mut OpenMetrics) {
        assert!(!self.phases.is_empty(), "{}: describe at least one phase", self.service);
        let seconds = self.step.num_milliseconds() as f64 / 1000.0;
        let service = self.service.as_str();

        let mut instants = vec![self.start];
        while *instants.last().unwrap() < self.end() {
            instants.push(*instants.last().unwrap() + self.step);
        }

        let codes = ["200", "404", "500", "503"];
        let mut by_code = vec![Vec::new(); codes.len()];
        let mut exceptions = Vec::new();
        let mut histogram = Vec::new();
        let mut totals = [0.0; 4];
        let mut exception_total = 0.0;
        let mut bucket_totals = vec![0.0; self.buckets.len()];
        let (mut count, mut sum) = (0.0, 0.0);
        for (index, at) in instants.iter().enumerate() {
            if index > 0 {
                let traffic = self.traffic_until(*at);
                let requests = traffic.requests_per_second * seconds;
                let errors = requests * traffic.error_share;
                let client_errors = requests * traffic.client_error_share;
                let increments = [requests - errors - client_errors, client_errors, errors * 0.75, errors * 0.25];
                for (total, increment) in totals.iter_mut().zip(increments) {
                    *total += increment;
                }
                exception_total += requests * traffic.unhandled_exception_share;
                for (total, le) in bucket_totals.iter_mut().zip(&self.buckets) {
                    *total += requests * traffic.latency.cdf(*le);
                }
                count += requests;
                sum += requests * traffic.latency.mean();
            }
            for (series, total) in by_code.iter_mut().zip(totals) {
                series.push((*at, total));
            }
            exceptions.push((*at, exception_total));
            let buckets = self.buckets.iter().copied().zip(bucket_totals.iter().copied()).collect();
            histogram.push((*at, HistogramPoint { buckets, count, sum }));
        }

        let ever_counted = |points: &[(DateTime<Utc>, f64)]| points.iter().any(|(_, value)| *value != 0.0);
        for (code, points) in codes.iter().zip(&by_code) {
            if ever_counted(points) {
                metrics.counter("http_requests_total", &[("service", service), ("code", code)], points);
            }
        }
        if count > 0.0 {
            metrics.histogram("http_request_duration_seconds", &[("service", service)], &histogram);
        }
        if ever_counted(&exceptions) {
            metrics.counter("unhandled_exceptions_total", &[("service", service)], &exceptions);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Daemons
// ---------------------------------------------------------------------------------------

/// A child process on a port, killed (and reaped) on drop.
struct Daemon {
    child: Child,
    port: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `program` with the arguments `args(port)` gives for a free port, and waits
/// until `/-/ready` answers 200. Tries another port when the chosen one was taken
/// meanwhile.
fn start_daemon(
    program: &str,
    package: &str,
    dir: &Path,
    authorization: Option<&str>,
    args: impl Fn(u16) -> Vec<String>,
) -> Daemon {
    for attempt in 1..=START_ATTEMPTS {
        let port = free_port();
        let log_path = dir.join(format!("{program}-{port}.log"));
        let log = std::fs::File::create(&log_path).expect("create the daemon's log file");
        let child = Command::new(program)
            .args(args(port))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| not_installed(program, package, &error));
        let mut daemon = Daemon { child, port };
        let started = Instant::now();
        loop {
            if is_ready(port, authorization) {
                return daemon;
            }
            if let Some(status) = daemon.child.try_wait().expect("poll the daemon") {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                if log.contains("address already in use") && attempt < START_ATTEMPTS {
                    break;
                }
                panic!("{program} exited ({status}) before it was ready; its log:\n{log}");
            }
            if started.elapsed() > READY_TIMEOUT {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("{program} was not ready on port {port} within {READY_TIMEOUT:?}; its log:\n{log}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    unreachable!("every attempt either returns or panics")
}

fn not_installed(program: &str, package: &str, error: &std::io::Error) -> ! {
    if error.kind() == std::io::ErrorKind::NotFound {
        panic!(
            "`{program}` is not installed: install the Debian package `{package}` \
             (apt-get install --no-install-recommends {package}); .ci/run does"
        );
    }
    panic!("could not run `{program}`: {error}");
}

/// Whether `GET /-/ready` answers 200. A plain HTTP/1.0 exchange, so that starting a
/// daemon needs no runtime and works from any test.
fn is_ready(port: u16, authorization: Option<&str>) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    let authorization = authorization.map(|value| format!("Authorization: {value}\r\n")).unwrap_or_default();
    let request = format!("GET /-/ready HTTP/1.0\r\nHost: 127.0.0.1\r\n{authorization}\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer.starts_with(b"HTTP/1.0 200") || answer.starts_with(b"HTTP/1.1 200")
}

/// `text` as a YAML double-quoted scalar (a JSON string is one).
fn yaml_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

// ---------------------------------------------------------------------------------------
// Prometheus
// ---------------------------------------------------------------------------------------

/// A Prometheus serving backfilled history, with no scrape targets.
pub struct RealPrometheus {
    daemon: Daemon,
    base_url: String,
    _dir: tempfile::TempDir,
}

impl RealPrometheus {
    /// Prometheus with `series` as its history.
    pub fn start_with(series: &OpenMetrics) -> RealPrometheus {
        Self::start(series, false)
    }

    /// Prometheus with `series`, answering only requests with basic auth
    /// [`BASIC_AUTH_USER`]:[`BASIC_AUTH_PASSWORD`].
    pub fn start_with_basic_auth(series: &OpenMetrics) -> RealPrometheus {
        Self::start(series, true)
    }

    fn start(series: &OpenMetrics, basic_auth: bool) -> RealPrometheus {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let input = dir.path().join("history.om");
        std::fs::write(&input, series.render()).expect("write the OpenMetrics file");
        backfill(&input, &data);

        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\nscrape_configs: []\n")
            .expect("write prometheus.yml");
        let web_config = basic_auth.then(|| {
            let path = dir.path().join("web.yml");
            let text =
                format!("basic_auth_users:\n  {}: {}\n", yaml_string(BASIC_AUTH_USER), yaml_string(BASIC_AUTH_BCRYPT));
            std::fs::write(&path, text).expect("write web.yml");
            path
        });

        let authorization = basic_auth.then_some(BASIC_AUTH_HEADER);
        let daemon = start_daemon("prometheus", "prometheus", dir.path(), authorization, |port| {
            let mut args = vec![
                format!("--config.file={}", config.display()),
                format!("--storage.tsdb.path={}", data.display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                "--log.level=warn".to_owned(),
            ];
            if let Some(web_config) = &web_config {
                args.push(format!("--web.config.file={}", web_config.display()));
            }
            args
        });
        let base_url = format!("http://127.0.0.1:{}", daemon.port);
        RealPrometheus { daemon, base_url, _dir: dir }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

/// `promtool tsdb create-blocks-from openmetrics INPUT DATA`.
fn backfill(input: &Path, data: &Path) {
    let output = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
        .arg(input)
        .arg(data)
        .output()
        .unwrap_or_else(|error| not_installed("promtool", "prometheus", &error));
    assert!(
        output.status.success(),
        "promtool could not backfill {}: {}{}",
        input.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

// ---------------------------------------------------------------------------------------
// Alertmanager
// ---------------------------------------------------------------------------------------

/// An Alertmanager, not clustered, sending every alert to one webhook with a bearer token.
pub struct RealAlertmanager {
    daemon: Daemon,
    base_url: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl RealAlertmanager {
    /// One route (grouped by alertname and service, 1 s group wait and interval, repeats
    /// after an hour) to a webhook receiver at `webhook_url` with `send_resolved`.
    pub fn start(webhook_url: &str, bearer_token: &str) -> RealAlertmanager {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("alertmanager.yml");
        let text = format!(
            "route:
  receiver: shipgate
  group_by: ['alertname', 'service']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: shipgate
    webhook_configs:
      - url: {url}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
",
            url = yaml_string(webhook_url),
            token = yaml_string(bearer_token),
        );
        std::fs::write(&config, text).expect("write alertmanager.yml");
        let storage = dir.path().join("storage");
        let daemon = start_daemon("prometheus-alertmanager", "prometheus-alertmanager", dir.path(), None, |port| {
            vec![
                format!("--config.file={}", config.display()),
                format!("--storage.path={}", storage.display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                // Empty: no cluster listener, no gossip, no settling wait.
                "--cluster.listen-address=".to_owned(),
                "--log.level=warn".to_owned(),
            ]
        });
        let base_url = format!("http://127.0.0.1:{}", daemon.port);
        RealAlertmanager { daemon, base_url, http: reqwest::Client::new(), _dir: dir }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `POST /api/v2/alerts` with one alert; `ends_at` in the past resolves it.
    pub async fn post_alert(
        &self,
        labels: &[(&str, &str)],
        annotations: &[(&str, &str)],
        starts_at: DateTime<Utc>,
        ends_at: Option<DateTime<Utc>>,
    ) {
        let object = |pairs: &[(&str, &str)]| -> Map<String, Value> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), Value::from(*v))).collect()
        };
        let mut alert = json!({
            "labels": object(labels),
            "annotations": object(annotations),
            "startsAt": starts_at.to_rfc3339(),
        });
        if let Some(ends_at) = ends_at {
            alert["endsAt"] = Value::from(ends_at.to_rfc3339());
        }
        let response = self
            .http
            .post(format!("{}/api/v2/alerts", self.base_url))
            .json(&json!([alert]))
            .send()
            .await
            .expect("Alertmanager answers");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "Alertmanager refused the alert: HTTP {status}: {body}");
    }
}
