//! The generic JSON webhook for rollback notices (`[rollback] notice_webhook`): paging
//! tools and chat platforms shipgate has no adapter for receive the same notice the
//! incident channels get, as JSON, when the rollback starts and again when it completes.
//!
//! Every delivery carries an `Idempotency-Key` header, the same on every retry of one
//! notice: shipgate records a delivery once the receiver answers 2xx and never sends it
//! again, but an answer lost on the way back means one retry, which the key lets the
//! receiver recognise.

use super::delivery::{Failure, ThreadLink};
use crate::domain::card::rollback_notice::{NoticeState, RollbackNotice};
use crate::domain::release::Release;
use serde_json::{json, Value};
use std::time::Duration;

/// How long one delivery may take before it is retried.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a refusing receiver's answer goes into the log and the outbox row.
const ANSWER_EXCERPT: usize = 300;

pub struct NoticeWebhook {
    url: String,
    http: reqwest::Client,
}

impl NoticeWebhook {
    /// The name deliveries are recorded under, beside the chat platforms.
    pub const NAME: &'static str = "webhook";

    pub fn new(url: &str) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("shipgate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { url: url.to_owned(), http })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Posts `body`; any 2xx answer is a delivery. 429 and 5xx are retried (after
    /// `Retry-After` when given), as is every other refusal, with the receiver's words in
    /// the reason so whoever reads the log can fix the receiver.
    pub async fn send(&self, body: &Value, idempotency_key: &str) -> Result<(), Failure> {
        let answer =
            self.http.post(&self.url).header("Idempotency-Key", idempotency_key).json(body).send().await.map_err(
                |e| Failure {
                    reason: format!("the notice webhook {} could not be reached: {e}", self.url),
                    retry_after: None,
                },
            )?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = answer
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = answer.text().await.unwrap_or_default();
        let excerpt: String = text.chars().take(ANSWER_EXCERPT).collect();
        Err(Failure { reason: format!("the notice webhook {} answered {status}: {excerpt}", self.url), retry_after })
    }
}

/// The JSON the webhook receives: the notice's three parts as lines people read, and the
/// facts behind them as fields a tool can act on.
pub fn body(notice: &RollbackNotice, release: &Release, thread: Option<&ThreadLink>, has_chart: bool) -> Value {
    let rollback = release.rollback.as_ref();
    let trips: Vec<Value> = rollback
        .map(|r| {
            r.trips
                .iter()
                .map(|t| {
                    json!({
                        "criterion": t.criterion.key(),
                        "observed": t.observed,
                        "baseline": t.baseline,
                        "threshold": t.threshold,
                        "floor_applies": t.floor_applies,
                        "since": t.since,
                        "evidence": t.evidence,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let deployed = rollback.and_then(|r| r.deployed.as_ref()).map(|d| json!({ "digest": d.digest.to_string() }));
    let target = rollback
        .and_then(|r| r.target.as_ref())
        .map(|t| json!({ "version": t.version.to_string(), "digest": t.digest.to_string() }));
    json!({
        "type": "shipgate.rollback",
        "state": match notice.state {
            NoticeState::Underway => "underway",
            NoticeState::Recovered => "recovered",
        },
        "headline": notice.state.headline(&notice.name),
        "release": {
            "id": release.id.to_string(),
            "service": release.service.to_string(),
            "version": release.version.to_string(),
            "git_sha": release.git_sha.to_string(),
            "environment": "production",
            "status": release.status.as_str(),
        },
        "deployed": notice.deployed,
        "broke": notice.broke,
        "rolled_back": notice.rolled_back,
        "deployed_artifact": deployed,
        "target": target,
        "trips": trips,
        "reason": rollback.map(|r| r.reason.clone()),
        "started_at": rollback.map(|r| r.started.at),
        "started_by": rollback.map(|r| r.started.by.display_name.clone()),
        "thread": thread.map(|t| json!({ "platform": t.platform.as_str(), "url": t.url })),
        "chart_metric": notice.chart_metric.filter(|_| has_chart).map(|m| m.key()),
    })
}
