//! Delivering notices to Discord: the release message and its thread, one card message per
//! step attempt (posted once, edited after), lines in the thread, and the rollback notice
//! broadcast to every incident channel.
//!
//! Creates carry `nonce` + `enforce_nonce`, so a create retried after a lost answer returns
//! the message already made; every message id learned is handed back to be stored at once.

use super::render;
use super::rest::{FileAttachment, Rest, RestError};
use crate::app::delivery::{
    Announced, Announcement, Broadcast, Delivery, Failure, Posted, Report, ReportFuture, Sender, ThreadLink,
};
use crate::app::drills::{DrillReminderNotice, DRILL_REMINDER};
use crate::app::locks::{LockNews, LockNotice};
use crate::app::notices::{CardStep, NoticeKind};
use crate::app::THREAD_KEY;
use crate::config::DiscordConfig;
use crate::domain::card::rollback_notice::notice_key;
use crate::domain::drill::human_duration;
use crate::domain::lock::{LockEnd, LockMode};
use crate::domain::release::{Release, TriageOrigin};
use crate::domain::ChatPlatform;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The rollback chart's file name on Discord; the notice's embed shows it as its image.
const CHART_FILE: &str = "rollback-chart.png";

/// The key of the release message the thread hangs off.
const RELEASE_KEY: &str = "release";
/// The key of a bug triage thread's first message: the rollback it starts from.
const TRIAGE_ORIGIN_KEY: &str = "triage-origin";
/// A week: Discord's longest auto-archive, so a release's thread stays open while it runs.
const AUTO_ARCHIVE_MINUTES: u32 = 10080;
/// Discord's answer when a message already has a thread.
const THREAD_ALREADY_CREATED: u64 = 160004;

pub struct DiscordSender {
    rest: Arc<Rest>,
    config: Arc<DiscordConfig>,
}

impl DiscordSender {
    pub fn new(rest: Arc<Rest>, config: Arc<DiscordConfig>) -> Self {
        Self { rest, config }
    }
}

impl Sender for DiscordSender {
    fn platform(&self) -> ChatPlatform {
        ChatPlatform::Discord
    }

    fn deliver<'a>(&'a self, delivery: Delivery<'a>) -> ReportFuture<'a> {
        Box::pin(async move {
            let mut posted = Vec::new();
            let result = self.deliver_into(&delivery, &mut posted).await.map_err(failure);
            Report { posted, result }
        })
    }

    fn announce<'a>(&'a self, announcement: Announcement<'a>) -> ReportFuture<'a> {
        Box::pin(async move {
            let mut posted = Vec::new();
            let result = self.announce_into(&announcement, &mut posted).await.map_err(failure);
            Report { posted, result }
        })
    }

    fn broadcast<'a>(&'a self, broadcast: Broadcast<'a>) -> ReportFuture<'a> {
        Box::pin(async move {
            let mut posted = Vec::new();
            let result = self.broadcast_into(&broadcast, &mut posted).await.map_err(failure);
            Report { posted, result }
        })
    }

    fn thread_link(&self, known: &HashMap<String, Posted>) -> Option<ThreadLink> {
        let thread = &known.get(THREAD_KEY)?.channel_id;
        Some(ThreadLink {
            platform: ChatPlatform::Discord,
            id: thread.clone(),
            url: format!("https://discord.com/channels/{}/{thread}", self.config.guild_id),
        })
    }
}

fn failure(e: RestError) -> Failure {
    Failure {
        retry_after: match &e {
            RestError::Retry { after, .. } => *after,
            RestError::Refused { .. } => None,
        },
        reason: e.to_string(),
    }
}

/// The chart as the one file of a Discord message; a chart that is not a PNG (a defect) is
/// left out with a log line, and the notice goes without it.
fn chart_file(chart: Option<&[u8]>) -> Option<FileAttachment> {
    let bytes = chart?;
    FileAttachment::png(CHART_FILE, bytes.to_vec())
        .map_err(|e| tracing::error!(error = %e, "the rollback chart cannot be attached"))
        .ok()
}

impl DiscordSender {
    /// A lock's start or end, or a drill reminder, said once in the release channel.
    async fn announce_into(&self, a: &Announcement<'_>, posted: &mut Vec<Posted>) -> Result<(), RestError> {
        let (key, text) = match a.what {
            Announced::Lock(notice) => (notice.what.kind(), lock_line(notice, a.time_zone)),
            Announced::DrillReminder(notice) => (DRILL_REMINDER, drill_reminder_line(notice, a.time_zone)),
        };
        if a.known.contains_key(key) {
            return Ok(());
        }
        let channel = &self.config.release_channel_id;
        let body = create_body(a.idempotency_key, key, json!({ "content": clip(&text, 2000) }));
        let created = self.rest.call(Method::POST, &format!("/channels/{channel}/messages"), Some(&body)).await?;
        posted.push(Posted::new(key, channel.clone(), id_of(&created)?));
        Ok(())
    }
}

/// `⚠️ **api** is overdue for a rollback drill (due Mon 1 Jun 2026): its last rollback drill was 97d ago ...`
fn drill_reminder_line(notice: &DrillReminderNotice, time_zone: chrono_tz::Tz) -> String {
    let standing = &notice.standing;
    let service = &standing.service;
    let dated = |at: chrono::DateTime<chrono::Utc>| at.with_timezone(&time_zone).format("%a %-d %b %Y").to_string();
    let last = match &standing.last {
        Some(d) => format!(
            "its last rollback drill was {} ago ({} by {}, the rollback took {})",
            human_duration(notice.at - d.completed_at),
            dated(d.completed_at),
            d.by,
            human_duration(d.duration())
        ),
        None => "it has had no rollback drill since shipgate first saw it".to_owned(),
    };
    format!(
        "⚠️ **{service}** is overdue for a rollback drill (due {}): {last}. Keep the rollback path tested — run \
         `/release drill service:{service}` to roll staging back and time it.",
        dated(notice.reminder.due_at)
    )
}

/// `🔒 **api production** locked by Dana until Wed 2 Dec 14:00 EST: migration running — ...`
fn lock_line(notice: &LockNotice, time_zone: chrono_tz::Tz) -> String {
    let lock = &notice.lock;
    let local =
        |at: chrono::DateTime<chrono::Utc>| at.with_timezone(&time_zone).format("%a %-d %b %H:%M %Z").to_string();
    let gate = match lock.environment {
        Some(environment) => format!("the gate into {environment} and deploys there"),
        None => "the gates into staging and production and deploys there".to_owned(),
    };
    match (notice.what, &lock.ended) {
        (LockNews::Started, _) => {
            let effect = match lock.mode {
                LockMode::Block => format!("{gate} are blocked"),
                LockMode::Warn => "warning only: gates still pass".to_owned(),
            };
            format!(
                "🔒 **{}** locked by {} until {}: {} — {effect}. (lock `{}`)",
                lock.scope(),
                lock.by.display_name,
                local(lock.until),
                lock.reason,
                lock.id
            )
        }
        (LockNews::Ended, Some(LockEnd::Unlocked { by, .. })) => format!(
            "🔓 **{}** unlocked by {} (locked by {}: {}).",
            lock.scope(),
            by.display_name,
            lock.by.display_name,
            lock.reason
        ),
        (LockNews::Ended, _) => format!(
            "🔓 The lock on **{}** expired at {} (locked by {}: {}).",
            lock.scope(),
            local(lock.until),
            lock.by.display_name,
            lock.reason
        ),
    }
}

impl DiscordSender {
    async fn deliver_into(&self, d: &Delivery<'_>, posted: &mut Vec<Posted>) -> Result<(), RestError> {
        let release = d.release;
        match &d.notice.what {
            NoticeKind::ReleaseOpened => self.open_thread(d, posted).await,
            NoticeKind::Card { step, attempt, .. } => {
                let Some(card) = &d.card else {
                    return Ok(());
                };
                let thread = self.thread(d, posted).await?;
                let step = match step {
                    CardStep::Step(index) => index.to_string(),
                    CardStep::Rollback => "rollback".to_owned(),
                };
                let key = format!("card:{step}:{attempt}");
                self.post_or_edit(d, posted, &thread, &key, render::message(card)).await
            }
            NoticeKind::RollbackStarted => self.rollback_notice(d, posted).await,
            NoticeKind::Retargeted => self.retargeted(d, posted).await,
            NoticeKind::TriageOpened => {
                let thread = self.thread(d, posted).await?;
                let mut text = line(&NoticeKind::TriageOpened, release);
                if let Some(link) = &d.linked_thread {
                    text.push_str(&format!(" Work it in {}.", thread_mention(link)));
                }
                self.post_once(d, posted, &thread, &format!("triage:{}", d.notice.as_of), &text).await
            }
            NoticeKind::Watch => {
                let (Some((card, buttons)), Some(watch)) = (&d.watch, &release.watch) else {
                    return Ok(());
                };
                let thread = self.thread(d, posted).await?;
                // One message per watched deploy, edited at every sample.
                let key = format!("watch:{}", watch.deployed_at.timestamp());
                self.post_or_edit(d, posted, &thread, &key, render::watch::message(card, *buttons)).await
            }
            NoticeKind::StallPing { step, attempt } => {
                let thread = self.thread(d, posted).await?;
                let message = stall_ping(release, *step, &self.config.roles);
                self.post_message_once(d, posted, &thread, &format!("stall:{step}:{attempt}"), message).await
            }
            other => {
                let text = line(other, release);
                let thread = self.thread(d, posted).await?;
                let key = format!("{}:{}", other.name(), d.notice.as_of);
                self.post_once(d, posted, &thread, &key, &text).await?;
                if matches!(other, NoticeKind::RollbackCompleted) {
                    // The notice everyone got at the start now says how it ended.
                    self.rollback_notice(d, posted).await?;
                }
                Ok(())
            }
        }
    }

    /// The rollback notice in the release thread, with its chart: posted when the
    /// rollback starts, edited in place when it completes. (The incident channels get it
    /// through [`Sender::broadcast`], whatever platform the release lives on.)
    async fn rollback_notice(&self, d: &Delivery<'_>, posted: &mut Vec<Posted>) -> Result<(), RestError> {
        let (Some(notice), Some(key)) = (&d.rollback_notice, notice_key(d.release)) else {
            return Ok(());
        };
        let thread = self.thread(d, posted).await?;
        let chart = chart_file(d.chart);
        let message = render::rollback_notice(notice, &render::ThreadRef::Here, chart.as_ref());
        let mut mail = Mailbox { known: d.known, idempotency_key: d.idempotency_key, posted };
        self.post_or_edit_with(&mut mail, &thread, &key, message, chart.as_ref()).await
    }

    /// The rollback notice in every incident channel, with its chart and a link to the
    /// release's thread.
    async fn broadcast_into(&self, b: &Broadcast<'_>, posted: &mut Vec<Posted>) -> Result<(), RestError> {
        let Some(key) = notice_key(b.release) else {
            return Ok(());
        };
        let chart = chart_file(b.chart);
        let thread = match b.thread {
            Some(link) if link.platform == ChatPlatform::Discord => render::ThreadRef::Discord(&link.id),
            Some(link) => render::ThreadRef::Url(&link.url),
            None => render::ThreadRef::None,
        };
        let message = render::rollback_notice(b.notice, &thread, chart.as_ref());
        let mut mail = Mailbox { known: b.known, idempotency_key: b.idempotency_key, posted };
        for channel in &self.config.incident_channel_ids {
            let key = format!("{key}:{channel}");
            self.post_or_edit_with(&mut mail, channel, &key, message.clone(), chart.as_ref()).await?;
        }
        Ok(())
    }

    /// Posts `message` under `key` (with `file` as its one attachment), or edits the
    /// message already posted under it.
    async fn post_or_edit_with(
        &self,
        mail: &mut Mailbox<'_, '_>,
        channel: &str,
        key: &str,
        message: Value,
        file: Option<&FileAttachment>,
    ) -> Result<(), RestError> {
        let gone = match mail.known(key) {
            Some(id) => {
                let edited = match file {
                    Some(file) => self.rest.edit_message_with_file(channel, &id, &message, file).await,
                    None => {
                        self.rest
                            .call(Method::PATCH, &format!("/channels/{channel}/messages/{id}"), Some(&message))
                            .await
                    }
                };
                match edited {
                    Ok(_) => return Ok(()),
                    Err(e) if is_deleted(&e) => Some(reposting(channel, key, id)),
                    Err(e) => return Err(e),
                }
            }
            None => None,
        };
        let body = create_body(mail.idempotency_key, key, message);
        let created = match file {
            Some(file) => self.rest.create_message_with_file(channel, &body, file).await?,
            None => self.rest.call(Method::POST, &format!("/channels/{channel}/messages"), Some(&body)).await?,
        };
        mail.posted.push(Posted { replaces: gone, ..Posted::new(key, channel, id_of(&created)?) });
        Ok(())
    }

    /// The release message in the release channel, and a public thread on it.
    async fn open_thread(&self, d: &Delivery<'_>, posted: &mut Vec<Posted>) -> Result<(), RestError> {
        let release = d.release;
        let channel = &self.config.release_channel_id;
        let text = release_message(release);
        let message_id = match known(d, posted, RELEASE_KEY) {
            Some(id) => id,
            None => {
                let body = create_body(d.idempotency_key, RELEASE_KEY, json!({ "content": text }));
                let message =
                    self.rest.call(Method::POST, &format!("/channels/{channel}/messages"), Some(&body)).await?;
                let id = id_of(&message)?;
                posted.push(Posted::new(RELEASE_KEY, channel.clone(), id.clone()));
                id
            }
        };
        if known(d, posted, THREAD_KEY).is_none() {
            let name = match &release.triage_of {
                Some(origin) => format!("Bug triage · {}", origin.name),
                None => format!("{} {}", release.service, release.version),
            };
            let name: String = name.chars().take(100).collect();
            let body = json!({ "name": name, "auto_archive_duration": AUTO_ARCHIVE_MINUTES });
            let path = format!("/channels/{channel}/messages/{message_id}/threads");
            let thread_id = match self.rest.call(Method::POST, &path, Some(&body)).await {
                Ok(thread) => id_of(&thread)?,
                // Made by an earlier try whose answer was lost: a thread's id is its message's.
                Err(RestError::Refused { code: THREAD_ALREADY_CREATED, .. }) => message_id.clone(),
                Err(e) => return Err(e),
            };
            posted.push(Posted::new(THREAD_KEY, thread_id.clone(), thread_id));
        }
        if let Some(origin) = &release.triage_of {
            let thread = known(d, posted, THREAD_KEY).unwrap_or_default();
            let message = triage_origin(origin, d.linked_thread.as_ref());
            self.post_message_once(d, posted, &thread, TRIAGE_ORIGIN_KEY, message).await?;
        }
        Ok(())
    }

    /// A retarget: said in the thread, and the release message edited to show the new
    /// version and commit, so the release channel does not advertise the old one.
    async fn retargeted(&self, d: &Delivery<'_>, posted: &mut Vec<Posted>) -> Result<(), RestError> {
        let thread = self.thread(d, posted).await?;
        let text = line(&NoticeKind::Retargeted, d.release);
        self.post_once(d, posted, &thread, &format!("retargeted:{}", d.notice.as_of), &text).await?;
        let channel = self.config.release_channel_id.clone();
        let message = json!({ "content": release_message(d.release) });
        self.post_or_edit(d, posted, &channel, RELEASE_KEY, message).await
    }

    /// The release's thread id; opens it first if a card outran the opening.
    async fn thread(&self, d: &Delivery<'_>, posted: &mut Vec<Posted>) -> Result<String, RestError> {
        if let Some(thread) = known(d, posted, THREAD_KEY) {
            return Ok(thread);
        }
        self.open_thread(d, posted).await?;
        known(d, posted, THREAD_KEY).ok_or_else(|| RestError::Retry {
            what: "opening the release thread".into(),
            detail: "no thread id came back".into(),
            after: None,
        })
    }

    async fn post_or_edit(
        &self,
        d: &Delivery<'_>,
        posted: &mut Vec<Posted>,
        channel: &str,
        key: &str,
        message: Value,
    ) -> Result<(), RestError> {
        let gone = match known(d, posted, key) {
            Some(id) => {
                let path = format!("/channels/{channel}/messages/{id}");
                match self.rest.call(Method::PATCH, &path, Some(&message)).await {
                    Ok(_) => return Ok(()),
                    // The release message starts the thread: a new one would not, and the
                    // thread already says what changed.
                    Err(e) if is_deleted(&e) && key == RELEASE_KEY => {
                        tracing::warn!(%channel, "Discord: the release message was deleted; not edited");
                        return Ok(());
                    }
                    Err(e) if is_deleted(&e) => Some(reposting(channel, key, id)),
                    Err(e) => return Err(e),
                }
            }
            None => None,
        };
        let body = create_body(d.idempotency_key, key, message);
        let created = self.rest.call(Method::POST, &format!("/channels/{channel}/messages"), Some(&body)).await?;
        posted.push(Posted { replaces: gone, ..Posted::new(key, channel, id_of(&created)?) });
        Ok(())
    }

    async fn post_once(
        &self,
        d: &Delivery<'_>,
        posted: &mut Vec<Posted>,
        channel: &str,
        key: &str,
        text: &str,
    ) -> Result<(), RestError> {
        self.post_message_once(d, posted, channel, key, json!({ "content": clip(text, 2000) })).await
    }

    async fn post_message_once(
        &self,
        d: &Delivery<'_>,
        posted: &mut Vec<Posted>,
        channel: &str,
        key: &str,
        message: Value,
    ) -> Result<(), RestError> {
        if known(d, posted, key).is_some() {
            return Ok(());
        }
        let body = create_body(d.idempotency_key, key, message);
        let created = self.rest.call(Method::POST, &format!("/channels/{channel}/messages"), Some(&body)).await?;
        posted.push(Posted::new(key, channel.to_owned(), id_of(&created)?));
        Ok(())
    }
}

/// What one delivery has posted so far, and what earlier tries of its row posted.
struct Mailbox<'a, 'p> {
    known: &'a HashMap<String, Posted>,
    idempotency_key: &'a str,
    posted: &'p mut Vec<Posted>,
}

impl Mailbox<'_, '_> {
    fn known(&self, key: &str) -> Option<String> {
        find(self.known, self.posted, key)
    }
}

fn find(known: &HashMap<String, Posted>, posted: &[Posted], key: &str) -> Option<String> {
    posted
        .iter()
        .rev()
        .find(|p| p.key == key)
        .map(|p| p.message_id.clone())
        .or_else(|| known.get(key).map(|m| m.message_id.clone()))
}

/// A message id already posted under `key`, by an earlier try or earlier in this one.
fn known(d: &Delivery<'_>, posted: &[Posted], key: &str) -> Option<String> {
    find(d.known, posted, key)
}

/// A create body with a nonce Discord deduplicates on: the same row and key always give
/// the same nonce, so a retried create returns the first message instead of a second.
/// Whether Discord refused an edit because the message is no longer there (someone
/// deleted it): an edit can never land, and retrying it would hold back every later
/// notice of the release, so what it showed is posted again in its place.
fn is_deleted(e: &RestError) -> bool {
    matches!(e, RestError::Refused { code: 10008, .. })
}

/// Says that the message `key` is posted again in place of the deleted `id`; answers `id`.
fn reposting(channel: &str, key: &str, id: String) -> String {
    tracing::warn!(%channel, %key, "Discord: a message shipgate edits was deleted; posting it again");
    metrics::counter!("shipgate_discord_messages_reposted_total").increment(1);
    id
}

fn create_body(idempotency_key: &str, key: &str, mut message: Value) -> Value {
    message["nonce"] = json!(nonce(&format!("{idempotency_key}/{key}")));
    message["enforce_nonce"] = json!(true);
    if message.get("allowed_mentions").is_none() {
        message["allowed_mentions"] = json!({ "parse": [] });
    }
    message
}

/// 25 characters at most (Discord's limit): two FNV-1a hashes of the key, in hex.
fn nonce(key: &str) -> String {
    let fnv =
        |seed: u64| key.bytes().fold(seed, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3));
    let text = format!("{:016x}{:016x}", fnv(0xcbf2_9ce4_8422_2325), fnv(0x8422_2325_cbf2_9ce4));
    text[..25].to_owned()
}

fn id_of(message: &Value) -> Result<String, RestError> {
    message.get("id").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| RestError::Retry {
        what: "reading Discord's answer".into(),
        detail: "it carries no id".into(),
        after: None,
    })
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(max - 1).collect();
    clipped.push('…');
    clipped
}

/// The rollback notice: what was deployed, what broke, what production goes back to, who
/// started it and when, and where to follow it.
/// The ping of a stalled step: mentions the Discord roles mapped to the step's owners
/// (and lets exactly those through `allowed_mentions`); roles with no mapping are named.
fn stall_ping(release: &Release, step: usize, mapping: &BTreeMap<String, Vec<String>>) -> Value {
    let Some(found) = release.playbook.steps.get(step) else {
        return json!({ "content": format!("⏳ **{} {}** has had no activity for a while.", release.service, release.version) });
    };
    let owners = if found.owners().is_empty() { &release.playbook.start_roles[..] } else { found.owners() };
    let mut role_ids: Vec<String> = Vec::new();
    let mut named: Vec<&str> = Vec::new();
    for role in owners {
        match mapping.get(role.as_str()).filter(|ids| !ids.is_empty()) {
            Some(ids) => role_ids.extend(ids.iter().filter(|id| !role_ids.contains(id)).cloned().collect::<Vec<_>>()),
            None => named.push(role.as_str()),
        }
    }
    let mut who: Vec<String> = role_ids.iter().map(|id| format!("<@&{id}>")).collect();
    who.extend(named.iter().map(|role| format!("**{role}**")));
    let who = if who.is_empty() { "Everyone working this release".to_owned() } else { who.join(" ") };
    let limit = found.stall_limit().map_or_else(String::new, |l| format!(" for more than {}", minutes_in_words(l)));
    let text = format!(
        "⏳ {who}: **{} {}** has had no activity on Step {} — {}{limit}. Pick it up, or say on the card what blocks it.",
        release.service,
        release.version,
        step + 1,
        found.title,
    );
    // Discord lets at most 100 role ids through.
    role_ids.truncate(100);
    json!({ "content": clip(&text, 2000), "allowed_mentions": { "parse": [], "roles": role_ids } })
}

fn minutes_in_words(limit: chrono::Duration) -> String {
    let minutes = limit.num_minutes();
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} minutes"),
        (1, 0) => "an hour".to_owned(),
        (h, 0) => format!("{h} hours"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// The release message in the release channel: what ships, from which commit, by whom.
/// A link to another release's thread: a mention when it is on Discord, else its URL.
fn thread_mention(link: &ThreadLink) -> String {
    match link.platform {
        ChatPlatform::Discord => format!("<#{}>", link.id),
        _ => link.url.clone(),
    }
}

/// The first message of a bug triage's thread: the rollback notice it starts from, and a
/// link back to the failed release's thread.
fn triage_origin(origin: &TriageOrigin, linked: Option<&ThreadLink>) -> Value {
    let section = |lines: &[String]| clip(&lines.iter().map(|l| format!("• {l}")).collect::<Vec<_>>().join("\n"), 1024);
    let back = linked.map_or_else(|| format!("release {}", origin.release_id), thread_mention);
    json!({
        "content": clip(&format!("🐞 **Bug triage of the rollback of {}** · failed release: {back}", origin.name), 2000),
        "embeds": [{
            "fields": [
                { "name": "What was deployed", "value": section(&origin.deployed), "inline": false },
                { "name": "What broke", "value": section(&origin.broke), "inline": false },
                { "name": "What was rolled back", "value": section(&origin.rolled_back), "inline": false },
            ],
            "footer": { "text": format!("failed release {}", origin.release_id) },
        }],
        "allowed_mentions": { "parse": [] },
    })
}

fn release_message(release: &Release) -> String {
    if let Some(origin) = &release.triage_of {
        return format!(
            "🐞 **Bug triage · {}** · `{}` · opened by {} after the rollback",
            origin.name,
            short(release.git_sha.as_str()),
            release.started.by.display_name
        );
    }
    format!(
        "🚀 **{} {}** · `{}` · started by {} · {}",
        release.service,
        release.version,
        short(release.git_sha.as_str()),
        release.started.by.display_name,
        if release.hotfix { "hotfix" } else { "release" }
    )
}

fn line(what: &NoticeKind, release: &Release) -> String {
    let name = format!("{} {}", release.service, release.version);
    match what {
        NoticeKind::RollbackCompleted => {
            format!("✅ Rollback of **{name}** done: production runs the previous artifact again; the failed deploy goes to bug triage.")
        }
        NoticeKind::FreezeOverrideRequested => format!(
            "🧊 A freeze override was requested for hotfix **{name}**: {}. A second person with the right role approves it on the card.",
            release.freeze_override.as_ref().map_or("", |o| o.reason.as_str())
        ),
        NoticeKind::FreezeOverrideApproved => format!(
            "🧊 Freeze override for hotfix **{name}** approved{}.",
            release
                .freeze_override
                .as_ref()
                .and_then(|o| o.approved.as_ref())
                .map_or_else(String::new, |m| format!(" by {}", m.by.display_name))
        ),
        NoticeKind::ReleaseFinished => match &release.abort_reason {
            Some(reason) => format!("🛑 **{name}** is {}: {reason}", release.status.as_str().replace('_', " ")),
            None => format!("🏁 **{name}** is {}.", release.status.as_str().replace('_', " ")),
        },
        NoticeKind::Retargeted => match &release.retargeted {
            Some(r) => format!(
                "🎯 **{name}** now ships `{}` (was {} · `{}`), retargeted by {}: {}. Step 1 starts over for the new commit; nothing recorded for the old one counts.",
                short(release.git_sha.as_str()),
                r.from_version,
                short(r.from_git_sha.as_str()),
                r.by.by.display_name,
                r.reason
            ),
            None => format!("🎯 **{name}** now ships `{}`.", short(release.git_sha.as_str())),
        },
        NoticeKind::TriageOpened => format!(
            "🐞 The failed deploy of **{name}** is a bug: its triage is open{}.",
            release.triage.as_ref().map_or_else(String::new, |id| format!(" (release {id})"))
        ),
        NoticeKind::ReleaseOpened
        | NoticeKind::Card { .. }
        | NoticeKind::RollbackStarted
        | NoticeKind::StallPing { .. }
        | NoticeKind::Watch => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::domain::card::fixtures::Walk;

    #[test]
    fn lock_announcements_say_who_why_until_when_and_how_it_ended() {
        use crate::domain::lock::{Lock, LockId};
        use crate::domain::release::Environment;
        use crate::domain::{Actor, Platform, ServiceName};
        use chrono::TimeZone;
        let from = chrono::Utc.with_ymd_and_hms(2026, 12, 2, 15, 0, 0).single().expect("a time");
        let dana = Actor::new(Platform::Discord, "4", "Dana");
        let lock = Lock {
            id: LockId::new("lock_1"),
            service: ServiceName::new("api"),
            environment: Some(Environment::Production),
            mode: LockMode::Block,
            reason: "database migration running".into(),
            by: dana.clone(),
            from,
            until: from + chrono::Duration::hours(4),
            ended: None,
        };
        let new_york = chrono_tz::America::New_York;
        let say = |lock: &Lock, what| lock_line(&LockNotice { lock: lock.clone(), what }, new_york);
        assert_eq!(
            say(&lock, LockNews::Started),
            "🔒 **api production** locked by Dana until Wed 2 Dec 14:00 EST: database migration running — \
             the gate into production and deploys there are blocked. (lock `lock_1`)"
        );
        let warning = Lock { mode: LockMode::Warn, environment: None, ..lock.clone() };
        assert!(say(&warning, LockNews::Started).contains("**api (every environment)**"));
        assert!(say(&warning, LockNews::Started).ends_with("warning only: gates still pass. (lock `lock_1`)"));
        let erin = Actor::new(Platform::Discord, "5", "Erin");
        let unlocked = Lock { ended: Some(LockEnd::Unlocked { by: erin, at: from }), ..lock.clone() };
        assert_eq!(
            say(&unlocked, LockNews::Ended),
            "🔓 **api production** unlocked by Erin (locked by Dana: database migration running)."
        );
        let expired = Lock { ended: Some(LockEnd::Expired { at: lock.until }), ..lock };
        assert_eq!(
            say(&expired, LockNews::Ended),
            "🔓 The lock on **api production** expired at Wed 2 Dec 14:00 EST (locked by Dana: database migration running)."
        );
    }

    #[test]
    fn a_stall_ping_mentions_the_mapped_roles_of_the_steps_owners_and_names_the_rest() {
        let mut walk = Walk::start();
        walk.walk_to(4);
        let mapping = BTreeMap::from([("release-manager".to_owned(), vec!["1500".to_owned(), "1501".to_owned()])]);
        let ping = stall_ping(&walk.release, 4, &mapping);
        let text = ping["content"].as_str().unwrap_or_default();
        assert!(text.starts_with("⏳ <@&1500> <@&1501>: **api 1.4.0** has had no activity on Step 5"), "{text}");
        assert!(text.contains("for more than 2 hours"), "{text}");
        assert_eq!(ping["allowed_mentions"]["roles"], json!(["1500", "1501"]));

        // Nothing mapped: the roles are named and nobody is mentioned. The production step's
        // gate and items name no role: those who may start a release own it.
        let ping = stall_ping(&walk.release, 5, &BTreeMap::new());
        let text = ping["content"].as_str().unwrap_or_default();
        assert!(text.starts_with("⏳ **release-manager** **engineer**:"), "{text}");
        assert!(text.contains("Step 6 — Deploy to Production for more than 30 minutes"), "{text}");
        assert_eq!(ping["allowed_mentions"]["roles"], json!([]));
    }

    #[test]
    fn nonces_are_stable_short_and_distinct() {
        let a = nonce("release-1:3:card/card:0:1");
        assert_eq!(a, nonce("release-1:3:card/card:0:1"));
        assert_eq!(a.len(), 25);
        assert_ne!(a, nonce("release-1:4:card/card:0:1"));
    }
}
