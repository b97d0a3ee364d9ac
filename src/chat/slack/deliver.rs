//! Delivering notices to Slack: the release's parent message in the release channel (its
//! `ts` is the thread), one Block Kit message per step attempt in the thread (posted once,
//! updated after with `chat.update`), lines in the thread, the rollback notice broadcast
//! to every incident channel with its chart uploaded beside it.
//!
//! Slack has no create nonce. Every message shipgate posts carries a marker, the
//! `block_id` of its first block, made from the outbox row and the message's key; a row
//! tried before (whose answer may have been lost after Slack posted) first looks for its
//! marker among the channel's or thread's latest messages and adopts what it finds
//! instead of posting again. Every `ts` learned is handed back to be stored at once.

use super::render;
use super::web::{Web, WebError};
use crate::app::delivery::{
    Announced, Announcement, Broadcast, Delivery, Failure, Posted, Report, ReportFuture, Sender, ThreadLink,
};
use crate::app::drills::DRILL_REMINDER;
use crate::app::notices::{CardStep, NoticeKind};
use crate::app::THREAD_KEY;
use crate::config::slack::SlackConfig;
use crate::domain::card::rollback_notice::notice_key;
use crate::domain::ChatPlatform;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The rollback chart's file name.
const CHART_FILE: &str = "rollback-chart.png";
/// The key of a bug triage thread's first message: the rollback it starts from.
const TRIAGE_ORIGIN_KEY: &str = "triage-origin";
/// How far back a retried create looks for its marker: the latest messages of the thread
/// or channel (a lost answer is retried within minutes, so its message is among them).
const LOOK_BACK: u32 = 100;

pub struct SlackSender {
    web: Arc<Web>,
    config: Arc<SlackConfig>,
}

impl SlackSender {
    pub fn new(web: Arc<Web>, config: Arc<SlackConfig>) -> Self {
        Self { web, config }
    }
}

impl Sender for SlackSender {
    fn platform(&self) -> ChatPlatform {
        ChatPlatform::Slack
    }

    fn deliver<'a>(&'a self, delivery: Delivery<'a>) -> ReportFuture<'a> {
        Box::pin(async move {
            let mut mail = Mailbox::new(delivery.known, delivery.idempotency_key, delivery.earlier_tries);
            let result = self.deliver_into(&delivery, &mut mail).await.map_err(failure);
            Report { posted: mail.posted, result }
        })
    }

    fn announce<'a>(&'a self, announcement: Announcement<'a>) -> ReportFuture<'a> {
        Box::pin(async move {
            let mut mail = Mailbox::new(announcement.known, announcement.idempotency_key, announcement.earlier_tries);
            let (key, message) = match announcement.what {
                Announced::Lock(notice) => (notice.what.kind(), render::lock_message(notice, announcement.time_zone)),
                Announced::DrillReminder(notice) => {
                    (DRILL_REMINDER, render::drill_reminder_message(notice, announcement.time_zone))
                }
            };
            let channel = self.config.release_channel_id.clone();
            let result = self.post_once(&mut mail, &channel, None, key, message).await.map_err(failure);
            Report { posted: mail.posted, result }
        })
    }

    fn broadcast<'a>(&'a self, broadcast: Broadcast<'a>) -> ReportFuture<'a> {
        Box::pin(async move {
            let mut mail = Mailbox::new(broadcast.known, broadcast.idempotency_key, broadcast.earlier_tries);
            let result = self.broadcast_into(&broadcast, &mut mail).await.map_err(failure);
            Report { posted: mail.posted, result }
        })
    }

    fn thread_link(&self, known: &HashMap<String, Posted>) -> Option<ThreadLink> {
        let thread = known.get(THREAD_KEY)?;
        Some(thread_link(&thread.channel_id, &thread.message_id))
    }
}

/// A Slack thread as other platforms and the webhook point to it: `channel/ts`, and an
/// archive link Slack redirects to the workspace of whoever opens it.
pub(super) fn thread_link(channel: &str, ts: &str) -> ThreadLink {
    ThreadLink {
        platform: ChatPlatform::Slack,
        id: format!("{channel}/{ts}"),
        url: format!("https://slack.com/archives/{channel}/p{}", ts.replace('.', "")),
    }
}

fn failure(e: WebError) -> Failure {
    Failure {
        retry_after: match &e {
            WebError::Retry { after, .. } => *after,
            WebError::Refused { .. } => None,
        },
        reason: e.to_string(),
    }
}

/// What one delivery has posted so far, and what earlier tries of its row posted.
struct Mailbox<'a> {
    known: &'a HashMap<String, Posted>,
    idempotency_key: &'a str,
    earlier_tries: u32,
    posted: Vec<Posted>,
}

impl<'a> Mailbox<'a> {
    fn new(known: &'a HashMap<String, Posted>, idempotency_key: &'a str, earlier_tries: u32) -> Self {
        Self { known, idempotency_key, earlier_tries, posted: Vec::new() }
    }

    /// The `ts` already posted under `key`, by an earlier try or earlier in this one.
    fn known(&self, key: &str) -> Option<String> {
        self.posted
            .iter()
            .rev()
            .find(|p| p.key == key)
            .map(|p| p.message_id.clone())
            .or_else(|| self.known.get(key).map(|m| m.message_id.clone()))
    }

    fn thread(&self) -> Option<(String, String)> {
        let find = |p: &Posted| (p.channel_id.clone(), p.message_id.clone());
        self.posted
            .iter()
            .rev()
            .find(|p| p.key == THREAD_KEY)
            .map(find)
            .or_else(|| self.known.get(THREAD_KEY).map(find))
    }

    /// The marker of the message `key` of this row.
    fn marker(&self, key: &str) -> String {
        marker(&format!("{}/{key}", self.idempotency_key))
    }

    fn record(&mut self, key: &str, channel: &str, ts: &str) {
        self.posted.push(Posted::new(key, channel, ts));
    }

    /// `ts` now stands for the message `key`, in place of `gone`.
    fn record_replacement(&mut self, key: &str, channel: &str, ts: &str, gone: &str) {
        self.posted.push(Posted { replaces: Some(gone.to_owned()), ..Posted::new(key, channel, ts) });
    }
}

/// Whether Slack refused an edit because the message is no longer there.
fn is_deleted(e: &WebError) -> bool {
    e.code() == Some("message_not_found")
}

/// `sg-` and two FNV-1a hashes of `key` in hex: a `block_id` (at most 255 characters)
/// that only this row's message under this key carries.
fn marker(key: &str) -> String {
    let fnv =
        |seed: u64| key.bytes().fold(seed, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3));
    format!("sg-{:016x}{:016x}", fnv(0xcbf2_9ce4_8422_2325), fnv(0x8422_2325_cbf2_9ce4))
}

/// `message` with `marker` as its first block's `block_id` (a message with no blocks
/// gets one section of its text).
fn marked(mut message: Value, marker: &str) -> Value {
    if message["blocks"].as_array().is_none_or(Vec::is_empty) {
        let text = message["text"].as_str().unwrap_or_default().to_owned();
        message["blocks"] = json!([{ "type": "section", "text": { "type": "mrkdwn", "text": text } }]);
    }
    message["blocks"][0]["block_id"] = json!(marker);
    message
}

impl SlackSender {
    async fn deliver_into(&self, d: &Delivery<'_>, mail: &mut Mailbox<'_>) -> Result<(), WebError> {
        let release = d.release;
        match &d.notice.what {
            NoticeKind::ReleaseOpened => self.open_thread(d, mail).await,
            NoticeKind::Card { step, attempt, .. } => {
                let Some(card) = &d.card else {
                    return Ok(());
                };
                let (channel, thread) = self.thread(d, mail).await?;
                let step = match step {
                    CardStep::Step(index) => index.to_string(),
                    CardStep::Rollback => "rollback".to_owned(),
                };
                let key = format!("card:{step}:{attempt}");
                self.post_or_update(mail, &channel, Some(&thread), &key, render::message(card)).await
            }
            NoticeKind::Watch => {
                let (Some((card, buttons)), Some(watch)) = (&d.watch, &release.watch) else {
                    return Ok(());
                };
                let (channel, thread) = self.thread(d, mail).await?;
                // One message per watched deploy, updated at every sample.
                let key = format!("watch:{}", watch.deployed_at.timestamp());
                let message = render::watch_message(card, *buttons);
                self.post_or_update(mail, &channel, Some(&thread), &key, message).await
            }
            NoticeKind::RollbackStarted => self.rollback_notice(d, mail).await,
            NoticeKind::StallPing { step, attempt } => {
                let (channel, thread) = self.thread(d, mail).await?;
                let message = render::stall_ping(release, *step, &self.config.roles);
                self.post_once(mail, &channel, Some(&thread), &format!("stall:{step}:{attempt}"), message).await
            }
            NoticeKind::Retargeted => {
                let (channel, thread) = self.thread(d, mail).await?;
                if let Some(line) = render::thread_line(&NoticeKind::Retargeted, release, None) {
                    let key = format!("retargeted:{}", d.notice.as_of);
                    self.post_once(mail, &channel, Some(&thread), &key, line).await?;
                }
                // The parent message shows what ships now. A deleted parent stays as Slack
                // shows it: posting a new one would split the thread, and the line above
                // already says what ships.
                match self.web.update(&channel, &thread, &render::release_message(release)).await {
                    Err(e) if is_deleted(&e) => {
                        tracing::warn!(%channel, "Slack: the release's parent message was deleted; not updated");
                        Ok(())
                    }
                    other => other,
                }
            }
            other => {
                let (channel, thread) = self.thread(d, mail).await?;
                if let Some(line) = render::thread_line(other, release, d.linked_thread.as_ref()) {
                    let key = format!("{}:{}", other.name(), d.notice.as_of);
                    self.post_once(mail, &channel, Some(&thread), &key, line).await?;
                }
                if matches!(other, NoticeKind::RollbackCompleted) {
                    // The notice everyone got at the start now says how it ended.
                    self.rollback_notice(d, mail).await?;
                }
                Ok(())
            }
        }
    }

    /// The release's parent message in the release channel; its `ts` is the thread. A
    /// bug triage's thread starts with the rollback it comes from.
    async fn open_thread(&self, d: &Delivery<'_>, mail: &mut Mailbox<'_>) -> Result<(), WebError> {
        let release = d.release;
        let channel = self.config.release_channel_id.clone();
        if mail.thread().is_none() {
            let ts = self.post(mail, &channel, None, THREAD_KEY, render::release_message(release)).await?;
            mail.record(THREAD_KEY, &channel, &ts);
        }
        if let Some(origin) = &release.triage_of {
            let (channel, thread) = mail.thread().unwrap_or_default();
            let message = render::triage_origin(origin, d.linked_thread.as_ref());
            self.post_once(mail, &channel, Some(&thread), TRIAGE_ORIGIN_KEY, message).await?;
        }
        Ok(())
    }

    /// The release's thread `(channel, ts)`; opens it first if a card outran the opening.
    async fn thread(&self, d: &Delivery<'_>, mail: &mut Mailbox<'_>) -> Result<(String, String), WebError> {
        if let Some(thread) = mail.thread() {
            return Ok(thread);
        }
        self.open_thread(d, mail).await?;
        mail.thread().ok_or_else(|| WebError::Retry {
            method: "chat.postMessage".into(),
            detail: "opening the release thread gave no ts".into(),
            after: None,
        })
    }

    /// The rollback notice in the release thread, with the chart uploaded beside it:
    /// posted when the rollback starts, updated in place when it completes.
    async fn rollback_notice(&self, d: &Delivery<'_>, mail: &mut Mailbox<'_>) -> Result<(), WebError> {
        let (Some(notice), Some(key)) = (&d.rollback_notice, notice_key(d.release)) else {
            return Ok(());
        };
        let (channel, thread) = self.thread(d, mail).await?;
        let message = render::rollback_notice(notice, None, None);
        self.post_or_update(mail, &channel, Some(&thread), &key, message).await?;
        if let Some(chart) = d.chart {
            self.upload_chart(mail, &channel, Some(&thread), &format!("chart:{key}"), chart).await?;
        }
        Ok(())
    }

    /// The rollback notice in every incident channel, linking the release's thread, with
    /// the chart uploaded as a reply to it.
    async fn broadcast_into(&self, b: &Broadcast<'_>, mail: &mut Mailbox<'_>) -> Result<(), WebError> {
        let Some(key) = notice_key(b.release) else {
            return Ok(());
        };
        let message = render::rollback_notice(b.notice, b.thread, None);
        for channel in &self.config.incident_channel_ids {
            let notice = format!("{key}:{channel}");
            self.post_or_update(mail, channel, None, &notice, message.clone()).await?;
            if let (Some(chart), Some(ts)) = (b.chart, mail.known(&notice)) {
                self.upload_chart(mail, channel, Some(&ts), &format!("chart:{notice}"), chart).await?;
            }
        }
        Ok(())
    }

    /// Uploads the chart once into `channel` (a thread of it with `thread_ts`): Slack's
    /// external upload, an upload URL, the bytes, then the share.
    async fn upload_chart(
        &self,
        mail: &mut Mailbox<'_>,
        channel: &str,
        thread_ts: Option<&str>,
        key: &str,
        png: &[u8],
    ) -> Result<(), WebError> {
        if mail.known(key).is_some() {
            return Ok(());
        }
        let file_id = self
            .web
            .upload_file(CHART_FILE, png, channel, thread_ts, "The tripping metric against its baseline and threshold")
            .await?;
        mail.record(key, channel, &file_id);
        Ok(())
    }

    /// Posts `message` under `key`, or updates the message already posted under it.
    async fn post_or_update(
        &self,
        mail: &mut Mailbox<'_>,
        channel: &str,
        thread_ts: Option<&str>,
        key: &str,
        message: Value,
    ) -> Result<(), WebError> {
        let Some(ts) = mail.known(key) else {
            return self.post_once(mail, channel, thread_ts, key, message).await;
        };
        match self.web.update(channel, &ts, &marked(message.clone(), &mail.marker(key))).await {
            // Someone deleted the message in Slack: an edit can never land, and retrying it
            // would hold back every later notice of the release. What it showed is posted
            // again in its place (once: the new message carries this row's marker).
            Err(e) if is_deleted(&e) => {
                tracing::warn!(%channel, %key, "Slack: a message shipgate edits was deleted; posting it again");
                metrics::counter!("shipgate_slack_messages_reposted_total").increment(1);
                let new_ts = self.post(mail, channel, thread_ts, key, message).await?;
                mail.record_replacement(key, channel, &new_ts, &ts);
                Ok(())
            }
            other => other,
        }
    }

    /// Posts `message` under `key` unless it was posted already.
    async fn post_once(
        &self,
        mail: &mut Mailbox<'_>,
        channel: &str,
        thread_ts: Option<&str>,
        key: &str,
        message: Value,
    ) -> Result<(), WebError> {
        if mail.known(key).is_some() {
            return Ok(());
        }
        let ts = self.post(mail, channel, thread_ts, key, message).await?;
        mail.record(key, channel, &ts);
        Ok(())
    }

    /// Posts a marked message and returns its `ts`; on a retried row, first adopts the
    /// message an earlier try posted, if it is there.
    async fn post(
        &self,
        mail: &Mailbox<'_>,
        channel: &str,
        thread_ts: Option<&str>,
        key: &str,
        message: Value,
    ) -> Result<String, WebError> {
        let marker = mail.marker(key);
        if mail.earlier_tries > 0 {
            if let Some(ts) = self.web.find_marked(channel, thread_ts, &marker, LOOK_BACK).await? {
                tracing::info!(%channel, %key, "Slack: an earlier try had posted this message; keeping it");
                return Ok(ts);
            }
        }
        self.web.post_message(channel, thread_ts, &marked(message, &marker)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_stable_distinct_block_ids() {
        let a = marker("row-1/card:0:1");
        assert_eq!(a, marker("row-1/card:0:1"));
        assert_ne!(a, marker("row-1/card:0:2"));
        assert_ne!(a, marker("row-2/card:0:1"));
        assert!(a.len() <= 255 && a.starts_with("sg-"));
    }

    #[test]
    fn the_marker_goes_on_the_first_block_or_a_section_of_the_text() {
        let message = marked(json!({ "text": "hi", "blocks": [{ "type": "divider" }, { "type": "divider" }] }), "sg-1");
        assert_eq!(message["blocks"][0]["block_id"], "sg-1");
        assert!(message["blocks"][1].get("block_id").is_none());
        let bare = marked(json!({ "text": "just words" }), "sg-2");
        assert_eq!(
            bare["blocks"],
            json!([{ "type": "section", "block_id": "sg-2", "text": { "type": "mrkdwn", "text": "just words" } }])
        );
    }

    #[test]
    fn a_thread_link_opens_the_parent_message_in_the_archive() {
        let link = thread_link("C0RELEASES", "1733230000.000100");
        assert_eq!(link.id, "C0RELEASES/1733230000.000100");
        assert_eq!(link.url, "https://slack.com/archives/C0RELEASES/p1733230000000100");
    }
}
