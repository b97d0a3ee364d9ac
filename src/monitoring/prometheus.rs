//! The edge client for Prometheus' instant query API (`POST /api/v1/query`).
//!
//! A query never fails with an error: it answers a [`QueryOutcome`], either a number or a
//! "blind" case with a short reason a release manager reads on a card. The watch decides
//! what blindness means; this module only says why it is blind.

use chrono::{DateTime, Utc};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::time::Duration;

/// The largest answer read. One number is a few hundred bytes; an answer this large is a
/// query that does not aggregate, and reading it whole would only cost memory.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// How much of a body that is not Prometheus' JSON is quoted in a reason.
const QUOTED_BODY_CHARS: usize = 160;
/// How much of Prometheus' error message a reason quotes: it may echo a long query.
const QUOTED_ERROR_CHARS: usize = 300;
/// The longest reason: a card shows it whole, next to the metric it is about.
pub const MAX_BLIND_REASON_CHARS: usize = 480;
/// What a URL's password reads as in every message.
const REDACTED: &str = "[REDACTED]";

/// What one instant query came to. Cheap to clone; never a panic, never an error.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryOutcome {
    /// A finite number, from a one-sample vector or a scalar.
    Value(f64),
    /// Prometheus could not be reached: the connection was refused, timed out or broke.
    Unreachable(String),
    /// The query matched no series at that instant.
    Empty,
    /// The result was NaN, as a ratio is over a window with no requests (0/0).
    NotANumber,
    /// The result was +Inf or -Inf, as a ratio is when it divides by zero.
    Infinite,
    /// A vector of this many samples: the query must aggregate to one series.
    TooManySeries(usize),
    /// Prometheus refused or failed the query, or its answer could not be read.
    QueryFailed(String),
}

impl QueryOutcome {
    /// The number, when there is one.
    pub fn value(&self) -> Option<f64> {
        match self {
            QueryOutcome::Value(value) => Some(*value),
            _ => None,
        }
    }

    /// Why there is no number, in words for a card; `None` for a [`QueryOutcome::Value`].
    pub fn blind_reason(&self) -> Option<String> {
        Some(match self {
            QueryOutcome::Value(_) => return None,
            QueryOutcome::Unreachable(reason) | QueryOutcome::QueryFailed(reason) => reason.clone(),
            QueryOutcome::Empty => {
                "no data: the query matched no series at that instant (is the service name right, and is it scraped?)"
                    .to_owned()
            }
            QueryOutcome::NotANumber => {
                "not a number (NaN): the query divided zero by zero, as a ratio does over a window with no requests"
                    .to_owned()
            }
            QueryOutcome::Infinite => {
                "infinite: the query divided by zero, as a ratio does when its denominator is 0".to_owned()
            }
            QueryOutcome::TooManySeries(count) => format!(
                "the query returned {count} series; it must aggregate to one, e.g. with sum(...), \
                 or sum by (le) (...) inside histogram_quantile"
            ),
        })
    }

    /// Decodes Prometheus' answer to an instant query: its HTTP status and body.
    ///
    /// Every reason is one line of at most [`MAX_BLIND_REASON_CHARS`] characters without
    /// control characters: what it quotes came from the network.
    pub fn from_answer(http_status: u16, body: &[u8]) -> QueryOutcome {
        match Self::decode(http_status, body) {
            QueryOutcome::QueryFailed(reason) => QueryOutcome::QueryFailed(one_line(&reason, MAX_BLIND_REASON_CHARS)),
            outcome => outcome,
        }
    }

    fn decode(http_status: u16, body: &[u8]) -> QueryOutcome {
        let answer: ApiAnswer = match serde_json::from_slice(body) {
            Ok(answer) => answer,
            Err(error) if (200..300).contains(&http_status) => {
                return QueryOutcome::QueryFailed(format!(
                    "Prometheus answered HTTP {http_status} with something other than its query API's JSON \
                     ({}): {}",
                    one_line(&error.to_string(), 120),
                    quote_body(body)
                ));
            }
            Err(_) => return QueryOutcome::QueryFailed(http_failure(http_status, body)),
        };
        if answer.status != "success" {
            let error = answer.error.unwrap_or_else(|| "no message".to_owned());
            let error_type = answer.error_type.unwrap_or_else(|| "unknown error".to_owned());
            return QueryOutcome::QueryFailed(format!(
                "Prometheus could not run the query: {} ({}, HTTP {http_status})",
                one_line(&error, QUOTED_ERROR_CHARS),
                one_line(&error_type, 40)
            ));
        }
        match answer.data {
            None => QueryOutcome::QueryFailed("Prometheus answered success without any data".to_owned()),
            Some(ApiData::Scalar(ScalarSample(_, value))) => number(&value),
            Some(ApiData::Vector(samples)) => match samples.as_slice() {
                [] => QueryOutcome::Empty,
                [sample] => match &sample.value {
                    Some((_, value)) => number(value),
                    None => QueryOutcome::QueryFailed(
                        "the query returned a native histogram, not a number: apply histogram_quantile \
                         or histogram_count to it"
                            .to_owned(),
                    ),
                },
                many => QueryOutcome::TooManySeries(many.len()),
            },
            Some(ApiData::Matrix(_)) => QueryOutcome::QueryFailed(
                "the query returned a range vector (a matrix), not one number: an instant query must not end \
                 in [range]; wrap it, e.g. in sum(rate(...))"
                    .to_owned(),
            ),
            Some(ApiData::String(_)) => {
                QueryOutcome::QueryFailed("the query returned a string, not a number".to_owned())
            }
        }
    }
}

/// A sample's value as Prometheus writes it: a string, so that NaN and ±Inf survive JSON.
fn number(text: &str) -> QueryOutcome {
    // Go writes "NaN", "+Inf" and "-Inf"; Rust's parser reads those (and "1.5e-3").
    match text.parse::<f64>() {
        Ok(value) if value.is_nan() => QueryOutcome::NotANumber,
        Ok(value) if value.is_infinite() => QueryOutcome::Infinite,
        Ok(value) => QueryOutcome::Value(value),
        Err(_) => QueryOutcome::QueryFailed(format!(
            "Prometheus answered a value that is not a number: {:?}",
            one_line(text, 40)
        )),
    }
}

/// The reason for a non-2xx answer without Prometheus' JSON, e.g. from a proxy in front.
fn http_failure(http_status: u16, body: &[u8]) -> String {
    let name = reqwest::StatusCode::from_u16(http_status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    match http_status {
        401 | 403 => format!(
            "Prometheus refused the credentials (HTTP {http_status} {name}): check the user and password in \
             its URL"
        ),
        404 => {
            "no Prometheus query API at that URL (HTTP 404): check the URL's path, e.g. a --web.route-prefix".to_owned()
        }
        _ => format!("Prometheus answered HTTP {http_status} {name}: {}", quote_body(body)),
    }
}

/// The start of a body, on one line, for a reason.
fn quote_body(body: &[u8]) -> String {
    let quoted = one_line(&String::from_utf8_lossy(body), QUOTED_BODY_CHARS);
    if quoted.is_empty() {
        "(empty body)".to_owned()
    } else {
        format!("\"{quoted}\"")
    }
}

/// `text` safe on a card: control characters and bidirectional controls (which would
/// reorder what is shown) dropped, whitespace runs made one space, and cut to at most
/// `max_chars` characters, ending in "..." when cut.
fn one_line(text: &str, max_chars: usize) -> String {
    let words = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .map(|word| word.chars().filter(|c| !is_bidi_control(*c)).collect::<String>())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match words.char_indices().nth(max_chars) {
        Some(_) => {
            let kept: String = words.chars().take(max_chars.saturating_sub(3)).collect();
            format!("{}...", kept.trim_end())
        }
        None => words,
    }
}

/// The embeddings, overrides and isolates that make text display in another order.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[derive(Deserialize)]
struct ApiAnswer {
    status: String,
    data: Option<ApiData>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum ApiData {
    Vector(Vec<VectorSample>),
    Scalar(ScalarSample),
    Matrix(IgnoredAny),
    String(IgnoredAny),
}

#[derive(Deserialize)]
struct VectorSample {
    /// Absent for a native histogram sample, which carries `histogram` instead.
    value: Option<(IgnoredAny, String)>,
}

/// `[<unix seconds>, "<number>"]`.
#[derive(Deserialize)]
struct ScalarSample(IgnoredAny, String);

/// Why a [`PrometheusClient`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusClientError {
    #[error("the Prometheus URL {shown} is not a valid URL ({reason}); give it as http(s)://host:port, e.g. http://prometheus:9090")]
    InvalidUrl { shown: String, reason: String },
    #[error("the Prometheus URL {shown} uses the scheme {scheme:?}; use http:// or https://")]
    UnsupportedScheme { shown: String, scheme: String },
    #[error(
        "the Prometheus URL {shown} has a query string or a fragment; give the base URL only (a path prefix such as /prometheus is fine)"
    )]
    QueryOrFragment { shown: String },
    #[error("the Prometheus query timeout is zero; give it a duration such as 10s")]
    ZeroTimeout,
    #[error("the HTTP client for Prometheus could not be built: {0}")]
    HttpClient(String),
}

/// Evaluates instant queries against one Prometheus.
///
/// Basic-auth credentials in the base URL are taken out of it and sent as an
/// `Authorization` header, so no URL the client holds, logs or puts in a reason has them.
#[derive(Clone)]
pub struct PrometheusClient {
    http: reqwest::Client,
    /// `<base>/api/v1/query`, without credentials.
    query_url: Url,
    basic_auth: Option<(String, SecretString)>,
    /// The base URL with the password redacted, for logs and messages.
    shown_url: String,
    /// `host:port`, which the reasons of an unreachable Prometheus name.
    shown_host: String,
    timeout: Duration,
}

impl std::fmt::Debug for PrometheusClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusClient").field("url", &self.shown_url).field("timeout", &self.timeout).finish()
    }
}

impl PrometheusClient {
    /// A client for the Prometheus at `base_url` (`http(s)://[user:password@]host[:port][/prefix]`),
    /// giving each query `timeout` from connecting to the last byte of the answer.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, PrometheusClientError> {
        let mut url = Url::parse(base_url.trim()).map_err(|error| PrometheusClientError::InvalidUrl {
            shown: redact_unparsed(base_url),
            reason: error.to_string(),
        })?;
        let shown_url = redact(&url);
        if !matches!(url.scheme(), "http" | "https") {
            return Err(PrometheusClientError::UnsupportedScheme { shown: shown_url, scheme: url.scheme().to_owned() });
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(PrometheusClientError::QueryOrFragment { shown: shown_url });
        }
        if timeout.is_zero() {
            return Err(PrometheusClientError::ZeroTimeout);
        }
        let host = url.host_str().unwrap_or_default();
        let shown_host = match url.port_or_known_default() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };

        let basic_auth = (!url.username().is_empty() || url.password().is_some()).then(|| {
            let user = percent_decode(url.username());
            let password = SecretString::from(url.password().map(percent_decode).unwrap_or_default());
            (user, password)
        });
        // Infallible for an http(s) URL with a host, which it is by now.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        if !url.path().ends_with('/') {
            let with_slash = format!("{}/", url.path());
            url.set_path(&with_slash);
        }
        let query_url = url.join("api/v1/query").map_err(|error| PrometheusClientError::InvalidUrl {
            shown: shown_url.clone(),
            reason: error.to_string(),
        })?;

        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("shipgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| PrometheusClientError::HttpClient(error.without_url().to_string()))?;
        Ok(PrometheusClient { http, query_url, basic_auth, shown_url, shown_host, timeout })
    }

    /// The base URL with any password redacted, for logs.
    pub fn shown_url(&self) -> &str {
        &self.shown_url
    }

    /// Evaluates `query` at the instant `at`.
    ///
    /// POST with a form body, so a long query never meets a URL length limit.
    pub async fn instant(&self, query: &str, at: DateTime<Utc>) -> QueryOutcome {
        let time = unix_seconds(at);
        let mut request = self.http.post(self.query_url.clone()).form(&[("query", query), ("time", time.as_str())]);
        if let Some((user, password)) = &self.basic_auth {
            request = request.basic_auth(user, Some(password.expose_secret()));
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => return QueryOutcome::Unreachable(self.unreachable_reason(error)),
        };
        let status = response.status().as_u16();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() > MAX_ANSWER_BYTES => {
                    return QueryOutcome::QueryFailed(format!(
                        "Prometheus' answer is larger than {} MiB: the query returns far more than one number \
                         and must aggregate to one series, e.g. with sum(...)",
                        MAX_ANSWER_BYTES / (1024 * 1024)
                    ));
                }
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(error) => return QueryOutcome::Unreachable(self.unreachable_reason(error)),
            }
        }
        QueryOutcome::from_answer(status, &body)
    }

    /// Which of refused, timed out or broken, naming the host only: reqwest's own message
    /// carries the URL, so it is left out and the cause beneath it is quoted instead.
    fn unreachable_reason(&self, error: reqwest::Error) -> String {
        let host = &self.shown_host;
        if error.is_timeout() {
            return format!("Prometheus at {host} did not answer within {}", human_duration(self.timeout));
        }
        let error = error.without_url();
        let cause = one_line(&innermost_cause(&error), 200);
        if is_connection_refused(&error) {
            format!("Prometheus at {host} refused the connection (is it running, and is the port right?)")
        } else if error.is_connect() {
            format!("could not connect to Prometheus at {host}: {cause}")
        } else {
            format!("the connection to Prometheus at {host} failed: {cause}")
        }
    }
}

/// Unix seconds with milliseconds, Prometheus' resolution, e.g. `1796270280.500`.
fn unix_seconds(at: DateTime<Utc>) -> String {
    // Exact: an f64 holds a millisecond timestamp's 13 to 16 digits without rounding.
    format!("{:.3}", at.timestamp_millis() as f64 / 1000.0)
}

fn human_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis % 1000 == 0 {
        format!("{}s", millis / 1000)
    } else {
        format!("{millis}ms")
    }
}

fn sources<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |error| error.source())
}

fn innermost_cause(error: &(dyn std::error::Error + 'static)) -> String {
    sources(error).last().map(ToString::to_string).unwrap_or_default()
}

fn is_connection_refused(error: &(dyn std::error::Error + 'static)) -> bool {
    sources(error).any(|source| {
        source.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
    })
}

/// `url` with its password replaced by [`REDACTED`].
fn redact(url: &Url) -> String {
    if url.password().is_none() {
        return url.to_string();
    }
    let mut shown = url.clone();
    // Infallible on a URL that has a password, hence a host.
    let _ = shown.set_password(Some(REDACTED));
    shown.to_string().replace("%5BREDACTED%5D", REDACTED)
}

/// Text that did not parse as a URL, safe to show: all of it after the scheme is hidden
/// when it has an `@`, since the user info cannot be told apart reliably.
fn redact_unparsed(text: &str) -> String {
    if !text.contains('@') {
        return format!("{text:?}");
    }
    match text.split_once("://") {
        Some((scheme, _)) => format!("{:?}", format!("{scheme}://{REDACTED}")),
        None => format!("{REDACTED:?}"),
    }
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn decoded(body: &str) -> QueryOutcome {
        QueryOutcome::from_answer(200, body.as_bytes())
    }

    #[test]
    fn a_one_sample_vector_is_its_value() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{},"value":[1796270280.5,"0.005"]}]}}"#;
        assert_eq!(decoded(body), QueryOutcome::Value(0.005));
        assert_eq!(decoded(body).blind_reason(), None);
        assert_eq!(decoded(body).value(), Some(0.005));
    }

    #[test]
    fn a_scalar_is_its_value_in_any_notation() {
        for (text, value) in [("1.5e-3", 0.0015), ("42", 42.0), ("-0.25", -0.25), ("0", 0.0)] {
            let body =
                format!(r#"{{"status":"success","data":{{"resultType":"scalar","result":[1796270280,"{text}"]}}}}"#);
            assert_eq!(decoded(&body), QueryOutcome::Value(value), "{text}");
        }
    }

    #[test]
    fn nan_and_infinities_are_blind() {
        let scalar = |text: &str| {
            format!(r#"{{"status":"success","data":{{"resultType":"scalar","result":[1796270280,"{text}"]}}}}"#)
        };
        assert_eq!(decoded(&scalar("NaN")), QueryOutcome::NotANumber);
        assert_eq!(decoded(&scalar("+Inf")), QueryOutcome::Infinite);
        assert_eq!(decoded(&scalar("-Inf")), QueryOutcome::Infinite);
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"service":"checkout"},"value":[1796270280,"NaN"]}]}}"#;
        assert_eq!(decoded(vector), QueryOutcome::NotANumber);
        assert!(QueryOutcome::NotANumber.blind_reason().unwrap().contains("NaN"));
        assert!(QueryOutcome::Infinite.blind_reason().unwrap().starts_with("infinite"));
    }

    #[test]
    fn an_empty_vector_is_no_data() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(decoded(body), QueryOutcome::Empty);
        assert!(QueryOutcome::Empty.blind_reason().unwrap().starts_with("no data"));
    }

    #[test]
    fn several_series_must_be_aggregated() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"code":"200"},"value":[1796270280,"99.5"]},
            {"metric":{"code":"500"},"value":[1796270280,"0.4"]},
            {"metric":{"code":"503"},"value":[1796270280,"0.1"]}]}}"#;
        assert_eq!(decoded(body), QueryOutcome::TooManySeries(3));
        let reason = QueryOutcome::TooManySeries(3).blind_reason().unwrap();
        assert!(reason.contains("3 series") && reason.contains("aggregate to one"), "{reason}");
    }

    #[test]
    fn prometheus_errors_carry_their_type_and_message() {
        let body = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:16: parse error: unclosed left parenthesis"}"#;
        assert_eq!(
            QueryOutcome::from_answer(400, body.as_bytes()),
            QueryOutcome::QueryFailed(
                "Prometheus could not run the query: invalid parameter \"query\": 1:16: parse error: unclosed \
                 left parenthesis (bad_data, HTTP 400)"
                    .to_owned()
            )
        );
        let timeout = r#"{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}"#;
        let outcome = QueryOutcome::from_answer(503, timeout.as_bytes());
        assert_eq!(
            outcome.blind_reason(),
            Some(
                "Prometheus could not run the query: query timed out in expression evaluation (timeout, HTTP 503)"
                    .to_owned()
            )
        );
        let execution =
            r#"{"status":"error","errorType":"execution","error":"found duplicate series for the match group"}"#;
        let reason = QueryOutcome::from_answer(422, execution.as_bytes()).blind_reason().unwrap();
        assert!(reason.contains("duplicate series") && reason.contains("(execution, HTTP 422)"), "{reason}");
    }

    #[test]
    fn answers_that_are_not_the_query_apis_json_fail_with_what_came() {
        let html = QueryOutcome::from_answer(502, b"<html><body>\n  502 Bad Gateway\n</body></html>");
        assert_eq!(
            html,
            QueryOutcome::QueryFailed(
                r#"Prometheus answered HTTP 502 Bad Gateway: "<html><body> 502 Bad Gateway </body></html>""#.to_owned()
            )
        );
        let unauthorised = QueryOutcome::from_answer(401, b"Unauthorized").blind_reason().unwrap();
        assert!(unauthorised.contains("refused the credentials (HTTP 401 Unauthorized)"), "{unauthorised}");
        let not_found = QueryOutcome::from_answer(404, b"404 page not found").blind_reason().unwrap();
        assert!(not_found.contains("HTTP 404"), "{not_found}");

        let truncated = decoded(r#"{"status":"success","data":{"resultType":"vec"#).blind_reason().unwrap();
        assert!(truncated.starts_with("Prometheus answered HTTP 200 with something other than"), "{truncated}");
        let long = "x".repeat(1000);
        let quoted = QueryOutcome::from_answer(500, long.as_bytes()).blind_reason().unwrap();
        assert!(quoted.ends_with(r#"...""#) && quoted.len() < 250, "{quoted}");
        assert!(QueryOutcome::from_answer(500, b"").blind_reason().unwrap().contains("(empty body)"));
    }

    #[test]
    fn reasons_quoting_the_network_are_one_short_safe_line() {
        let message = format!("parse error:\n\x1b[2J{}\u{202E}evil", "x".repeat(2000));
        let body = serde_json::json!({"status": "error", "errorType": "bad_data", "error": message});
        let reason = QueryOutcome::from_answer(400, body.to_string().as_bytes()).blind_reason().unwrap();
        assert!(reason.starts_with("Prometheus could not run the query: parse error: [2Jxxx"), "{reason}");
        assert!(reason.ends_with("... (bad_data, HTTP 400)"), "{reason}");
        assert!(reason.chars().count() <= MAX_BLIND_REASON_CHARS, "{}", reason.chars().count());
        assert!(!reason.chars().any(|c| c.is_control() || is_bidi_control(c)), "{reason:?}");

        assert_eq!(one_line("  a\t\tb \r\n c  ", 100), "a b c");
        assert_eq!(one_line("abcdefghij", 10), "abcdefghij");
        assert_eq!(one_line("abcdefghijk", 10), "abcdefg...");
        assert_eq!(one_line("\u{2066}\u{2069}", 10), "");
    }

    /// Answers as the network may bring them: bytes, and well-formed JSON holding any text.
    fn answers() -> impl Strategy<Value = Vec<u8>> {
        let json = |value: serde_json::Value| value.to_string().into_bytes();
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..512),
            (".*", ".*").prop_map(move |(error_type, error)| {
                json(serde_json::json!({"status": "error", "errorType": error_type, "error": error}))
            }),
            ".*".prop_map(move |value| {
                json(serde_json::json!({"status": "success", "data": {"resultType": "scalar", "result": [1, value]}}))
            }),
            proptest::collection::vec(".*", 0..4).prop_map(move |values| {
                let result: Vec<_> =
                    values.iter().map(|v| serde_json::json!({"metric": {}, "value": [1, v]})).collect();
                json(serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": result}}))
            }),
        ]
    }

    proptest! {
        /// Whatever arrives, the outcome is a finite number or a reason fit for a card.
        #[test]
        fn any_answer_decodes_to_a_finite_value_or_a_short_safe_reason(
            status in proptest::sample::select(vec![200u16, 400, 422, 500, 502, 503]),
            body in answers(),
        ) {
            let outcome = QueryOutcome::from_answer(status, &body);
            match (&outcome, outcome.blind_reason()) {
                (QueryOutcome::Value(value), None) => prop_assert!(value.is_finite()),
                (QueryOutcome::Value(_), Some(_)) | (_, None) => prop_assert!(false, "{:?}", outcome),
                (QueryOutcome::TooManySeries(count), Some(_)) => prop_assert!(*count >= 2),
                (_, Some(reason)) => {
                    prop_assert!(!reason.is_empty() && reason.chars().count() <= MAX_BLIND_REASON_CHARS);
                    prop_assert!(!reason.chars().any(|c| c.is_control() || is_bidi_control(c)), "{:?}", reason);
                }
            }
        }
    }

    #[test]
    fn odd_results_fail_with_the_way_forward() {
        let matrix = decoded(
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]]}]}}"#,
        );
        assert!(matrix.blind_reason().unwrap().contains("range vector"), "{matrix:?}");
        let string = decoded(r#"{"status":"success","data":{"resultType":"string","result":[1,"hello"]}}"#);
        assert!(string.blind_reason().unwrap().contains("a string"), "{string:?}");
        let histogram = decoded(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{"count":"3","sum":"1","buckets":[]}]}]}}"#,
        );
        assert!(histogram.blind_reason().unwrap().contains("native histogram"), "{histogram:?}");
        let garbage = decoded(r#"{"status":"success","data":{"resultType":"scalar","result":[1,"fast"]}}"#);
        assert_eq!(
            garbage,
            QueryOutcome::QueryFailed(r#"Prometheus answered a value that is not a number: "fast""#.to_owned())
        );
        let no_data = decoded(r#"{"status":"success"}"#);
        assert!(matches!(no_data, QueryOutcome::QueryFailed(_)), "{no_data:?}");
        let unknown_type = decoded(r#"{"status":"success","data":{"resultType":"cube","result":[]}}"#);
        assert!(matches!(unknown_type, QueryOutcome::QueryFailed(_)), "{unknown_type:?}");
    }

    #[test]
    fn credentials_leave_the_url_and_never_show() {
        let client =
            PrometheusClient::new("https://watch:s3cr%40t@prom.internal:9443/prometheus", Duration::from_secs(5))
                .unwrap();
        assert_eq!(client.shown_url(), "https://watch:[REDACTED]@prom.internal:9443/prometheus");
        assert_eq!(client.query_url.as_str(), "https://prom.internal:9443/prometheus/api/v1/query");
        let (user, password) = client.basic_auth.as_ref().unwrap();
        assert_eq!((user.as_str(), password.expose_secret()), ("watch", "s3cr@t"));
        assert_eq!(client.shown_host, "prom.internal:9443");
        assert!(!format!("{client:?}").contains("s3cr"));

        let error = PrometheusClient::new("http://watch:s3cret@prom internal:9090", Duration::from_secs(5))
            .unwrap_err()
            .to_string();
        assert!(!error.contains("s3cret") && error.contains("[REDACTED]"), "{error}");
        let error =
            PrometheusClient::new("ftp://watch:s3cret@prom:21", Duration::from_secs(5)).unwrap_err().to_string();
        assert!(!error.contains("s3cret") && error.contains("use http:// or https://"), "{error}");
    }

    #[test]
    fn base_urls_with_and_without_a_prefix_reach_the_query_api() {
        for (base, query_url) in [
            ("http://127.0.0.1:9090", "http://127.0.0.1:9090/api/v1/query"),
            ("http://127.0.0.1:9090/", "http://127.0.0.1:9090/api/v1/query"),
            ("http://prom/prefix/", "http://prom/prefix/api/v1/query"),
            (" http://prom/prefix ", "http://prom/prefix/api/v1/query"),
        ] {
            let client = PrometheusClient::new(base, Duration::from_secs(1)).unwrap();
            assert_eq!(client.query_url.as_str(), query_url, "{base}");
            assert!(client.basic_auth.is_none());
        }
        assert_eq!(PrometheusClient::new("http://prom", Duration::from_secs(1)).unwrap().shown_host, "prom:80");
    }

    #[test]
    fn unusable_base_urls_are_refused_with_the_way_forward() {
        let refused = |url: &str| PrometheusClient::new(url, Duration::from_secs(5)).unwrap_err();
        assert!(matches!(refused("prometheus:9090"), PrometheusClientError::UnsupportedScheme { .. }));
        assert!(matches!(refused("localhost"), PrometheusClientError::InvalidUrl { .. }));
        assert!(matches!(refused(""), PrometheusClientError::InvalidUrl { .. }));
        assert!(matches!(refused("http://prom:9090/?x=1"), PrometheusClientError::QueryOrFragment { .. }));
        assert!(matches!(refused("http://prom:9090/#top"), PrometheusClientError::QueryOrFragment { .. }));
        assert!(refused("localhost").to_string().contains("e.g. http://prometheus:9090"));
        assert!(matches!(
            PrometheusClient::new("http://prom:9090", Duration::ZERO).unwrap_err(),
            PrometheusClientError::ZeroTimeout
        ));
    }

    #[test]
    fn time_is_unix_seconds_with_milliseconds() {
        let at = Utc.timestamp_millis_opt(1_796_270_280_500).unwrap();
        assert_eq!(unix_seconds(at), "1796270280.500");
        assert_eq!(unix_seconds(Utc.timestamp_opt(1_796_270_280, 0).unwrap()), "1796270280.000");
        assert_eq!(unix_seconds(Utc.timestamp_millis_opt(1_796_270_280_007).unwrap()), "1796270280.007");
    }

    #[test]
    fn durations_read_in_seconds_or_milliseconds() {
        assert_eq!(human_duration(Duration::from_secs(10)), "10s");
        assert_eq!(human_duration(Duration::from_millis(250)), "250ms");
    }
}
