//! Slack's Web API, for the calls shipgate makes: a small client that sends JSON with the
//! bot token, keeps `chat.postMessage` to about one message a second per channel (Slack's
//! documented limit), waits out `ratelimited` 429s by their `Retry-After`, and tells a
//! retryable failure (429, 5xx, network, Slack's own transient errors) from a permanent
//! one (`ok: false` with any other error) so the outbox can back off or give up.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// 429s waited out for one call before it is handed back to the outbox as a failure.
const MAX_RATE_LIMITED_TRIES: u32 = 5;
/// Longest wait shipgate accepts inside one call; a longer one is left to the outbox.
const MAX_INLINE_WAIT: Duration = Duration::from_secs(30);
/// Slack allows about one message a second per channel, short bursts aside: posts to one
/// channel (a thread counts as its channel) leave at least this far apart. A tenth of a
/// second over the limit: posts spaced exactly a second apart arrive a few milliseconds
/// closer about half the time, and are refused.
const CHANNEL_SPACING: Duration = Duration::from_millis(1100);
/// How long one call may take before it counts as lost (and is retried by the outbox).
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Slack's `ok: false` errors that say "later", not "never".
const TRANSIENT_ERRORS: &[&str] =
    &["ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout", "team_added_to_org"];

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Worth trying again later: a 429, a 5xx, a dropped connection, a transient error.
    #[error("{method}: {detail}")]
    Retry { method: String, detail: String, after: Option<Duration> },
    /// Slack refused the call as made (`ok: false`), with its error code.
    #[error("{method}: Slack error {error}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused { method: String, error: String, detail: Option<String> },
}

impl WebError {
    /// Slack's error code, for a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            WebError::Refused { error, .. } => Some(error),
            WebError::Retry { .. } => None,
        }
    }
}

/// The Web API with the bot token.
pub struct Web {
    http: reqwest::Client,
    base: String,
    token: SecretString,
    /// When the next `chat.postMessage` may leave, per channel.
    channel_next: Mutex<HashMap<String, Instant>>,
}

impl Web {
    /// `api_base` is `https://slack.com/api` or a proxy's (or a test fake's) equivalent.
    pub fn new(api_base: &str, token: SecretString) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(CALL_TIMEOUT).build()?;
        Ok(Self { http, base: api_base.trim_end_matches('/').to_owned(), token, channel_next: Mutex::default() })
    }

    /// Posts a message (into a thread when `thread_ts` is given); returns its `ts`.
    pub async fn post_message(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        message: &Value,
    ) -> Result<String, WebError> {
        let mut body = message.clone();
        body["channel"] = json!(channel);
        if let Some(thread_ts) = thread_ts {
            body["thread_ts"] = json!(thread_ts);
        }
        let answer = self.send("chat.postMessage", Some(channel), |request| request.json(&body)).await?;
        answer["ts"].as_str().map(str::to_owned).ok_or_else(|| WebError::Retry {
            method: "chat.postMessage".into(),
            detail: "the answer has no ts".into(),
            after: None,
        })
    }

    /// Replaces the message `ts` with `message`.
    pub async fn update(&self, channel: &str, ts: &str, message: &Value) -> Result<(), WebError> {
        let mut body = message.clone();
        body["channel"] = json!(channel);
        body["ts"] = json!(ts);
        self.call("chat.update", &body).await.map(drop)
    }

    /// A message only `user` sees, in `channel` (or a thread of it).
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        thread_ts: Option<&str>,
        text: &str,
    ) -> Result<(), WebError> {
        let mut body = json!({ "channel": channel, "user": user, "text": text });
        if let Some(thread_ts) = thread_ts {
            body["thread_ts"] = json!(thread_ts);
        }
        self.call("chat.postEphemeral", &body).await.map(drop)
    }

    /// Opens a modal for the person whose click gave `trigger_id` (valid for 3 seconds).
    pub async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<(), WebError> {
        self.call("views.open", &json!({ "trigger_id": trigger_id, "view": view })).await.map(drop)
    }

    /// The members of a user group. Slack documents this method form-encoded only.
    pub async fn usergroup_members(&self, usergroup: &str) -> Result<Vec<String>, WebError> {
        let answer = self.call_form("usergroups.users.list", &[("usergroup", usergroup)]).await?;
        Ok(answer["users"].as_array().into_iter().flatten().filter_map(|u| u.as_str().map(str::to_owned)).collect())
    }

    /// A link to the message `ts` that opens it in Slack.
    pub async fn permalink(&self, channel: &str, ts: &str) -> Result<String, WebError> {
        let answer = self.call_form("chat.getPermalink", &[("channel", channel), ("message_ts", ts)]).await?;
        answer["permalink"].as_str().map(str::to_owned).ok_or_else(|| WebError::Retry {
            method: "chat.getPermalink".into(),
            detail: "the answer has no permalink".into(),
            after: None,
        })
    }

    /// The `ts` of the message among the latest `look_back` of a thread (or, without
    /// `thread_ts`, of the channel) whose first block carries `marker` as its `block_id`.
    pub async fn find_marked(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        marker: &str,
        look_back: u32,
    ) -> Result<Option<String>, WebError> {
        let limit = look_back.to_string();
        let answer = match thread_ts {
            Some(ts) => {
                self.call_form("conversations.replies", &[("channel", channel), ("ts", ts), ("limit", &limit)]).await?
            }
            None => self.call_form("conversations.history", &[("channel", channel), ("limit", &limit)]).await?,
        };
        Ok(answer["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["blocks"][0]["block_id"].as_str() == Some(marker))
            .and_then(|m| m["ts"].as_str().map(str::to_owned)))
    }

    /// Uploads a file and shares it into `channel` (a thread of it with `thread_ts`), the
    /// way Slack takes files now: an upload URL for its name and length, the bytes to that
    /// URL, then the share. Returns the file's id.
    pub async fn upload_file(
        &self,
        filename: &str,
        bytes: &[u8],
        channel: &str,
        thread_ts: Option<&str>,
        title: &str,
    ) -> Result<String, WebError> {
        let length = bytes.len().to_string();
        let ticket =
            self.call_form("files.getUploadURLExternal", &[("filename", filename), ("length", &length)]).await?;
        let missing = |what: &str| WebError::Retry {
            method: "files.getUploadURLExternal".into(),
            detail: format!("the answer has no {what}"),
            after: None,
        };
        let upload_url = ticket["upload_url"].as_str().ok_or_else(|| missing("upload_url"))?;
        let file_id = ticket["file_id"].as_str().ok_or_else(|| missing("file_id"))?.to_owned();
        let uploaded = self.http.post(upload_url).body(bytes.to_vec()).send().await.map_err(|e| WebError::Retry {
            method: "file upload".into(),
            detail: format!("no answer: {e}"),
            after: None,
        })?;
        if !uploaded.status().is_success() {
            return Err(WebError::Retry {
                method: "file upload".into(),
                detail: format!("HTTP {}", uploaded.status()),
                after: None,
            });
        }
        let mut share = json!({ "files": [{ "id": file_id, "title": title }], "channel_id": channel });
        if let Some(thread_ts) = thread_ts {
            share["thread_ts"] = json!(thread_ts);
        }
        self.call("files.completeUploadExternal", &share).await?;
        Ok(file_id)
    }

    /// Calls `method` with a JSON body.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, WebError> {
        self.send(method, None, |request| request.json(body)).await
    }

    async fn call_form(&self, method: &str, form: &[(&str, &str)]) -> Result<Value, WebError> {
        self.send(method, None, |request| request.form(form)).await
    }

    /// Sends `method`, waiting out 429s. A post to a `paced` channel takes its turn in the
    /// channel's pace at every try, and a 429 holds the whole channel for its `Retry-After`:
    /// a retry that skipped the queue would collide with the channel's next post.
    async fn send(
        &self,
        method: &str,
        paced: Option<&str>,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<Value, WebError> {
        let url = format!("{}/{method}", self.base);
        for _ in 0..MAX_RATE_LIMITED_TRIES {
            if let Some(channel) = paced {
                self.pace(channel).await?;
            }
            let request = build(self.http.post(&url).bearer_auth(self.token.expose_secret()));
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) => {
                    return Err(WebError::Retry {
                        method: method.into(),
                        detail: format!("no answer: {e}"),
                        after: None,
                    })
                }
            };
            let status = response.status();
            if status.as_u16() == 429 {
                let wait = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map_or(Duration::from_secs(1), Duration::from_secs);
                tracing::info!(method, wait_s = wait.as_secs(), "Slack rate limit: waiting");
                if wait > MAX_INLINE_WAIT {
                    return Err(WebError::Retry {
                        method: method.into(),
                        detail: "rate limited".into(),
                        after: Some(wait),
                    });
                }
                match paced {
                    Some(channel) => self.hold(channel, wait),
                    None => tokio::time::sleep(wait).await,
                }
                continue;
            }
            if status.is_server_error() {
                return Err(WebError::Retry { method: method.into(), detail: format!("HTTP {status}"), after: None });
            }
            let text = response.text().await.map_err(|e| WebError::Retry {
                method: method.into(),
                detail: format!("answer cut off: {e}"),
                after: None,
            })?;
            let answer: Value = serde_json::from_str(&text).map_err(|_| WebError::Retry {
                method: method.into(),
                detail: format!("HTTP {status}, not JSON"),
                after: None,
            })?;
            if answer["ok"] == true {
                return Ok(answer);
            }
            let error = answer["error"].as_str().unwrap_or("unknown_error").to_owned();
            if TRANSIENT_ERRORS.contains(&error.as_str()) {
                return Err(WebError::Retry {
                    method: method.into(),
                    detail: format!("Slack error {error}"),
                    after: None,
                });
            }
            let detail = answer["response_metadata"]["messages"]
                .as_array()
                .map(|m| m.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
                .filter(|d| !d.is_empty());
            return Err(WebError::Refused { method: method.into(), error, detail });
        }
        Err(WebError::Retry { method: method.into(), detail: "still rate limited".into(), after: None })
    }

    /// Slack said `channel` takes no post for `wait`: its next turn is no sooner.
    fn hold(&self, channel: &str, wait: Duration) {
        let mut next = self.channel_next.lock().expect("channel pacing lock");
        let until = Instant::now() + wait;
        let at = next.entry(channel.to_owned()).or_insert(until);
        *at = (*at).max(until);
    }

    /// Waits for `channel`'s turn to post, keeping posts to it about a second apart; a
    /// wait longer than [`MAX_INLINE_WAIT`] is left to the outbox.
    async fn pace(&self, channel: &str) -> Result<(), WebError> {
        let wait = {
            let mut next = self.channel_next.lock().expect("channel pacing lock");
            let now = Instant::now();
            let at = next.get(channel).copied().filter(|at| *at > now).unwrap_or(now);
            if at - now > MAX_INLINE_WAIT {
                return Err(WebError::Retry {
                    method: "chat.postMessage".into(),
                    detail: format!("channel {channel} is busy"),
                    after: Some(at - now),
                });
            }
            next.insert(channel.to_owned(), at + CHANNEL_SPACING);
            at - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }
}

/// What a `response_url` accepts: the reply to a slash command or click, for 30 minutes
/// and 5 uses. It carries its own authority; no token is sent.
pub async fn respond(http: &reqwest::Client, response_url: &str, body: &Value) -> Result<(), WebError> {
    let what = "response_url";
    let response = http.post(response_url).json(body).send().await.map_err(|e| WebError::Retry {
        method: what.into(),
        detail: format!("no answer: {e}"),
        after: None,
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(WebError::Retry { method: what.into(), detail: format!("HTTP {status}"), after: None });
    }
    Err(WebError::Refused { method: what.into(), error: format!("HTTP {status}"), detail: Some(text) })
}
