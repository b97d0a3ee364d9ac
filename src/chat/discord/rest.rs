//! Discord's REST API, for the calls the outbox makes: a small client that follows the
//! rate-limit headers, waits out 429s (per route and global) and tells a retryable failure
//! (5xx, network) from a permanent one (4xx) so the outbox can back off.
//!
//! A message can carry one file (a chart): it is sent as Discord's `multipart/form-data`
//! upload, the JSON body in a `payload_json` part and the file in `files[0]`.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// 429s waited out for one call before it is handed back to the outbox as a failure.
const MAX_RATE_LIMITED_TRIES: u32 = 5;
/// Longest wait shipgate accepts inside one call; a longer one is left to the outbox.
const MAX_INLINE_WAIT: Duration = Duration::from_secs(30);
/// Discord's global limit is 50 requests per second per bot. Calls are spaced a little
/// wider than 1/50 s so that jitter on the way never packs 51 into one of Discord's
/// one-second windows: a 429 costs far more than the spacing.
const GLOBAL_SPACING: Duration = Duration::from_micros(20_500);

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// Worth trying again later: 5xx, a dropped connection, a long rate limit.
    #[error("{what}: {detail}")]
    Retry { what: String, detail: String, after: Option<Duration> },
    /// Discord refused the call as made (4xx other than 429), with its error code.
    #[error("{what}: HTTP {status}, Discord error {code}: {message}")]
    Refused { what: String, status: u16, code: u64, message: String },
}

/// A file sent with a message, as the message's one attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileAttachment {
    filename: String,
    content_type: &'static str,
    bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    #[error(
        "attachment file name {0:?}: Discord links an attachment from an embed as attachment://NAME only when \
         NAME is ASCII letters, digits, '_', '-' and '.', and a PNG's name ends in .png"
    )]
    BadFilename(String),
    #[error("the attachment {0:?} is not a PNG: its bytes do not start with the PNG signature")]
    NotPng(String),
}

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

impl FileAttachment {
    /// A PNG image, e.g. `FileAttachment::png("chart.png", chart::render_png(&spec)?)`.
    pub fn png(filename: &str, bytes: Vec<u8>) -> Result<Self, AttachmentError> {
        let linkable = !filename.is_empty()
            && filename.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !linkable || !filename.to_ascii_lowercase().ends_with(".png") {
            return Err(AttachmentError::BadFilename(filename.to_owned()));
        }
        if !bytes.starts_with(&PNG_SIGNATURE) {
            return Err(AttachmentError::NotPng(filename.to_owned()));
        }
        Ok(Self { filename: filename.to_owned(), content_type: "image/png", bytes })
    }

    pub fn filename(&self) -> &str {
        &self.filename
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Where an embed of the same message finds the file: its `image.url`.
    pub fn url(&self) -> String {
        format!("attachment://{}", self.filename)
    }

    /// The multipart body: `payload_json` with `attachments` naming the file as
    /// placeholder 0, and the file as `files[0]`. Built anew for every try, as a sent
    /// form is consumed.
    fn form(&self, message: &Value) -> Result<reqwest::multipart::Form, reqwest::Error> {
        let mut payload = message.clone();
        // The one attachment the message keeps: on an edit, Discord removes every file
        // the list leaves out, so the new file replaces the old.
        payload["attachments"] = json!([{ "id": "0", "filename": self.filename }]);
        let payload_json = reqwest::multipart::Part::text(payload.to_string()).mime_str("application/json")?;
        let file = reqwest::multipart::Part::bytes(self.bytes.clone())
            .file_name(self.filename.clone())
            .mime_str(self.content_type)?;
        Ok(reqwest::multipart::Form::new().part("payload_json", payload_json).part("files[0]", file))
    }
}

/// What a call sends.
#[derive(Clone, Copy)]
enum Body<'a> {
    Empty,
    Json(&'a Value),
    WithFile(&'a Value, &'a FileAttachment),
}

pub struct Rest {
    http: reqwest::Client,
    base: String,
    token: SecretString,
    /// Per route key: what Discord last said of the route's bucket.
    buckets: Mutex<HashMap<String, Bucket>>,
    /// When the next call counting against the global limit may leave, and until when a
    /// global 429 holds every call.
    global: Mutex<Global>,
}

/// A route's bucket as its last answer described it, counted down by the calls sent since,
/// so that calls in flight together never overrun it.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// The bucket's size (`X-RateLimit-Limit`) and window (the first `reset-after` seen
    /// in one), to open the next window locally before Discord describes it.
    limit: u32,
    window: Duration,
    remaining: u32,
    resets_at: Instant,
}

#[derive(Debug, Default)]
struct Global {
    next_slot: Option<Instant>,
    blocked_until: Option<Instant>,
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
            buckets: Mutex::new(HashMap::new()),
            global: Mutex::new(Global::default()),
        })
    }

    /// Calls `method path` with `body`; `route` names the rate-limit bucket it counts
    /// against (the route with its major parameter, e.g. `POST /channels/123/messages`).
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Value, RestError> {
        self.send(method, path, body.map_or(Body::Empty, Body::Json)).await
    }

    /// Creates a message in `channel_id` with `file` as its one attachment. `message` is
    /// the JSON body as for a create without a file (content, embeds, nonce...); an embed
    /// shows the file with `image.url` set to [`FileAttachment::url`].
    pub async fn create_message_with_file(
        &self,
        channel_id: &str,
        message: &Value,
        file: &FileAttachment,
    ) -> Result<Value, RestError> {
        let path = format!("/channels/{channel_id}/messages");
        self.send(reqwest::Method::POST, &path, Body::WithFile(message, file)).await
    }

    /// Edits a message so that `file` is its one attachment: a file it had before (an
    /// earlier chart) is removed, as Discord keeps only the files an edit lists.
    pub async fn edit_message_with_file(
        &self,
        channel_id: &str,
        message_id: &str,
        message: &Value,
        file: &FileAttachment,
    ) -> Result<Value, RestError> {
        let path = format!("/channels/{channel_id}/messages/{message_id}");
        self.send(reqwest::Method::PATCH, &path, Body::WithFile(message, file)).await
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Body<'_>) -> Result<Value, RestError> {
        let route = route_key(&method, path);
        let what = format!("{method} {path}");
        for _ in 0..MAX_RATE_LIMITED_TRIES {
            self.wait_for(&route, counts_against_global_limit(path)).await;
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .header("Authorization", format!("Bot {}", self.token.expose_secret()));
            match body {
                Body::Empty => {}
                Body::Json(json) => request = request.json(json),
                Body::WithFile(json, file) => match file.form(json) {
                    Ok(form) => request = request.multipart(form),
                    Err(e) => {
                        return Err(RestError::Refused {
                            what,
                            status: 0,
                            code: 0,
                            message: format!("the upload of {} could not be built: {e}", file.filename),
                        })
                    }
                },
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
                    self.global.lock().unwrap_or_else(|e| e.into_inner()).blocked_until = Some(until);
                } else {
                    let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
                    let bucket = buckets.entry(route.clone()).or_insert(Bucket {
                        limit: 1,
                        window: wait,
                        remaining: 0,
                        resets_at: until,
                    });
                    bucket.remaining = 0;
                    bucket.resets_at = until;
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

    /// Waits until `route`'s bucket has a request left (taking it) and, for a call that
    /// counts against the global limit, until its slot in the global spacing.
    async fn wait_for(&self, route: &str, global: bool) {
        loop {
            let now = Instant::now();
            let wait_until = {
                let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
                match buckets.get_mut(route) {
                    Some(bucket) if bucket.resets_at <= now => {
                        // The window has passed: a new one opens with this call, as Discord
                        // opens it on the first request; answers will correct the guess.
                        bucket.remaining = bucket.limit.saturating_sub(1);
                        bucket.resets_at = now + bucket.window;
                        None
                    }
                    Some(bucket) if bucket.remaining == 0 => Some(bucket.resets_at),
                    Some(bucket) => {
                        bucket.remaining -= 1;
                        None
                    }
                    None => None,
                }
            };
            match wait_until {
                Some(until) => tokio::time::sleep_until(until.into()).await,
                None => break,
            }
        }
        let slot = {
            let mut limits = self.global.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let earliest = limits.blocked_until.filter(|until| *until > now).unwrap_or(now);
            if global {
                let slot = limits.next_slot.map_or(earliest, |next| next.max(earliest));
                limits.next_slot = Some(slot + GLOBAL_SPACING);
                slot
            } else {
                earliest
            }
        };
        tokio::time::sleep_until(slot.into()).await;
    }

    /// Takes the bucket's state from an answer's `X-RateLimit-*` headers.
    fn note_bucket(&self, route: &str, headers: &reqwest::header::HeaderMap) {
        let remaining = header_f64(headers, "x-ratelimit-remaining");
        let reset_after = header_f64(headers, "x-ratelimit-reset-after");
        let limit = header_f64(headers, "x-ratelimit-limit");
        let (Some(remaining), Some(reset_after), Some(limit)) = (remaining, reset_after, limit) else {
            return;
        };
        let reset_after = Duration::from_secs_f64(reset_after.clamp(0.0, 3600.0));
        let resets_at = Instant::now() + reset_after;
        let (remaining, limit) = (remaining.max(0.0) as u32, limit.max(1.0) as u32);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = match buckets.get(route) {
            // The same window (answers to overlapping calls arrive in any order): the lower
            // count is the safe one, and calls sent since were already counted here.
            Some(known) if known.resets_at + Duration::from_millis(50) >= resets_at => Bucket {
                limit,
                window: known.window.max(reset_after),
                remaining: remaining.min(known.remaining),
                resets_at,
            },
            _ => Bucket { limit, window: reset_after, remaining, resets_at },
        };
        buckets.insert(route.to_owned(), bucket);
    }
}

/// Interaction responses and follow-ups are not bound to the bot's global limit.
fn counts_against_global_limit(path: &str) -> bool {
    !(path.starts_with("/interactions/") || path.starts_with("/webhooks/"))
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

    #[test]
    fn attachments_are_pngs_with_names_an_embed_can_link() {
        let png = || {
            let mut bytes = PNG_SIGNATURE.to_vec();
            bytes.extend_from_slice(b"rest of the image");
            bytes
        };
        let chart = FileAttachment::png("chart.png", png()).expect("a linkable PNG");
        assert_eq!(chart.url(), "attachment://chart.png");
        assert!(matches!(FileAttachment::png("error rate.png", png()), Err(AttachmentError::BadFilename(_))));
        assert!(matches!(FileAttachment::png("chart.gif", png()), Err(AttachmentError::BadFilename(_))));
        assert!(matches!(FileAttachment::png("chart.png", b"GIF89a".to_vec()), Err(AttachmentError::NotPng(_))));
    }
}
