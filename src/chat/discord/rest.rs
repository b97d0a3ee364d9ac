//! Discord's REST API, for the calls the outbox makes: a small client that follows the
//! rate-limit headers, waits out 429s (per route and global) and tells a retryable failure
//! (5xx, network) from a permanent one (4xx) so the outbox can back off.

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// 429s waited out for one call before it is handed back to the outbox as a failure.
const MAX_RATE_LIMITED_TRIES: u32 = 5;
/// Longest wait shipgate accepts inside one call; a longer one is left to the outbox.
const MAX_INLINE_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// Worth trying again later: 5xx, a dropped connection, a long rate limit.
    #[error("{what}: {detail}")]
    Retry { what: String, detail: String, after: Option<Duration> },
    /// Discord refused the call as made (4xx other than 429), with its error code.
    #[error("{what}: HTTP {status}, Discord error {code}: {message}")]
    Refused { what: String, status: u16, code: u64, message: String },
}

pub struct Rest {
    http: reqwest::Client,
    base: String,
    token: SecretString,
    /// Per route key: when the bucket has requests again.
    blocked_until: Mutex<HashMap<String, Instant>>,
    global_until: Mutex<Option<Instant>>,
}

impl Rest {
    pub fn new(api_base: &str, token: SecretString) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("DiscordBot (shipgate, ", env!("CARGO_PKG_VERSION"), ")"))
            .build()?;
        Ok(Self {
            http,
            base: format!("{}/api/v10", api_base.trim_end_matches('/')),
            token,
            blocked_until: Mutex::new(HashMap::new()),
            global_until: Mutex::new(None),
        })
    }

    /// Calls `method path` with `body`; `route` names the rate-limit bucket it counts
    /// against (the route with its major parameter, e.g. `POST /channels/123/messages`).
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Value, RestError> {
        let route = route_key(&method, path);
        let what = format!("{method} {path}");
        for _ in 0..MAX_RATE_LIMITED_TRIES {
            self.wait_for(&route).await;
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .header("Authorization", format!("Bot {}", self.token.expose_secret()));
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) => return Err(RestError::Retry { what, detail: format!("no answer: {e}"), after: None }),
            };
            let status = response.status();
            let headers = response.headers().clone();
            self.note_bucket(&route, &headers);
            let text = response.text().await.unwrap_or_default();
            let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if status.is_success() {
                return Ok(json);
            }
            if status.as_u16() == 429 {
                let retry_after = json
                    .get("retry_after")
                    .and_then(Value::as_f64)
                    .or_else(|| header_f64(&headers, "retry-after"))
                    .unwrap_or(1.0);
                let wait = Duration::from_secs_f64(retry_after.clamp(0.0, 3600.0));
                let global = json.get("global").and_then(Value::as_bool).unwrap_or(false)
                    || headers.get("x-ratelimit-global").is_some();
                tracing::info!(%what, retry_after, global, "Discord rate limit: waiting");
                if wait > MAX_INLINE_WAIT {
                    return Err(RestError::Retry { what, detail: "rate limited".into(), after: Some(wait) });
                }
                let until = Instant::now() + wait;
                if global {
                    *self.global_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(until);
                } else {
                    self.blocked_until.lock().unwrap_or_else(|e| e.into_inner()).insert(route.clone(), until);
                }
                continue;
            }
            if status.is_server_error() {
                return Err(RestError::Retry { what, detail: format!("HTTP {status}"), after: None });
            }
            return Err(RestError::Refused {
                what,
                status: status.as_u16(),
                code: json.get("code").and_then(Value::as_u64).unwrap_or(0),
                message: json.get("message").and_then(Value::as_str).unwrap_or(text.as_str()).to_owned(),
            });
        }
        Err(RestError::Retry { what, detail: "still rate limited".into(), after: None })
    }

    async fn wait_for(&self, route: &str) {
        let until = {
            let global = *self.global_until.lock().unwrap_or_else(|e| e.into_inner());
            let bucket = self.blocked_until.lock().unwrap_or_else(|e| e.into_inner()).get(route).copied();
            global.into_iter().chain(bucket).max()
        };
        if let Some(until) = until {
            tokio::time::sleep_until(until.into()).await;
        }
    }

    /// An emptied bucket (`X-RateLimit-Remaining: 0`) blocks its route until it resets.
    fn note_bucket(&self, route: &str, headers: &reqwest::header::HeaderMap) {
        let remaining = header_f64(headers, "x-ratelimit-remaining");
        let reset_after = header_f64(headers, "x-ratelimit-reset-after");
        if let (Some(remaining), Some(reset_after)) = (remaining, reset_after) {
            let mut blocked = self.blocked_until.lock().unwrap_or_else(|e| e.into_inner());
            if remaining < 1.0 {
                blocked
                    .insert(route.to_owned(), Instant::now() + Duration::from_secs_f64(reset_after.clamp(0.0, 3600.0)));
            } else {
                blocked.remove(route);
            }
        }
    }
}

fn header_f64(headers: &reqwest::header::HeaderMap, name: &str) -> Option<f64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The bucket a call counts against: its method and path with every id but the major
/// parameter (the first: channel, guild or webhook) replaced, as Discord groups routes.
fn route_key(method: &reqwest::Method, path: &str) -> String {
    let mut parts = Vec::new();
    let mut major_seen = false;
    for part in path.split('/') {
        if !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()) {
            if major_seen {
                parts.push(":id");
                continue;
            }
            major_seen = true;
        }
        parts.push(part);
    }
    format!("{method} {}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_keep_their_major_parameter_only() {
        let post = route_key(&reqwest::Method::POST, "/channels/123/messages");
        assert_eq!(post, "POST /channels/123/messages");
        let patch = route_key(&reqwest::Method::PATCH, "/channels/123/messages/456");
        assert_eq!(patch, "PATCH /channels/123/messages/:id");
        assert_ne!(route_key(&reqwest::Method::POST, "/channels/124/messages"), post);
    }
}
