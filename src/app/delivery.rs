//! The outbox worker: delivers notices to chat platforms, lane by lane (a lane is one
//! release's thread, kept in order), under a lease so that several instances on one
//! PostgreSQL never deliver the same row, retrying with backoff until it goes through.
//!
//! Nothing is posted twice: a platform message id is recorded as soon as it is known, and
//! a retry edits what was posted instead of posting again; creates also carry a nonce the
//! platform deduplicates on (Discord `enforce_nonce`).

use super::drills::{is_drill_reminder, DrillReminderNotice};
use super::locks::{is_lock_notice, LockNotice};
use super::notice_webhook::NoticeWebhook;
use super::notices::{self, Notice, NoticeKind, RollbackBroadcast, ROLLBACK_BROADCAST};
use super::App;
use crate::domain::card::rollback_notice::RollbackNotice;
use crate::domain::card::watch::WatchCard;
use crate::domain::card::{self, Card, StepRef};
use crate::domain::release::{Release, Status};
use crate::domain::{ChatPlatform, ReleaseId};
use crate::store::{ChatMessageRef, DueLane, OutboxMessage};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a lane's lease lasts; renewed for every row delivered.
const LEASE: Duration = Duration::from_secs(60);
/// Lanes delivered side by side (each is one thread: its own rate-limit bucket), and the
/// rows read from a lane at a time.
const MAX_LANES: usize = 128;
const ROWS_PER_LANE: u32 = 50;
/// How often the worker looks for due rows when it was not woken.
const POLL: Duration = Duration::from_millis(250);
/// The longest wait between retries of one row.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// What an adapter is handed to deliver one notice.
pub struct Delivery<'a> {
    pub notice: &'a Notice,
    /// The release as of the notice.
    pub release: &'a Release,
    /// For a card notice: the card to post or edit.
    pub card: Option<Card>,
    /// For a watch notice: the monitoring card, and the step card its buttons name (the
    /// release's current step and attempt) while the release is active.
    pub watch: Option<(WatchCard, Option<(StepRef, u32)>)>,
    /// For a rollback notice (started or completed): the notice as the rollback stands.
    pub rollback_notice: Option<RollbackNotice>,
    /// For a rollback notice: the chart of the metric that tripped (PNG), if one did.
    pub chart: Option<&'a [u8]>,
    /// The thread of the release this one is linked with: for a bug triage's opening, the
    /// failed release's; for a triage opened, the triage's.
    pub linked_thread: Option<ThreadLink>,
    /// Messages already posted for this release on this platform, by key.
    pub known: &'a HashMap<String, Posted>,
    /// Unique per outbox row, stable across retries: the source of create nonces.
    pub idempotency_key: &'a str,
    /// Earlier tries of this row: a platform without create nonces (Slack) looks for what
    /// a try whose answer was lost may have posted, before posting again.
    pub earlier_tries: u32,
}

/// What an adapter is handed to broadcast a rollback notice to its incident channels.
pub struct Broadcast<'a> {
    pub notice: &'a RollbackNotice,
    pub release: &'a Release,
    /// The chart of the metric that tripped (PNG), if one did.
    pub chart: Option<&'a [u8]>,
    /// Where the release is worked, if it has a thread on some platform.
    pub thread: Option<&'a ThreadLink>,
    /// Messages already posted for this release on this platform, by key.
    pub known: &'a HashMap<String, Posted>,
    pub idempotency_key: &'a str,
    /// Earlier tries of this row: a platform without create nonces (Slack) looks for what
    /// a try whose answer was lost may have posted, before posting again.
    pub earlier_tries: u32,
}

/// A release's thread, as other platforms and the webhook point to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadLink {
    pub platform: ChatPlatform,
    /// The thread's id on its platform (a Discord channel id, a Slack `channel/ts`).
    pub id: String,
    /// A link that opens it in a browser.
    pub url: String,
}

/// A message the platform now holds, to be remembered under `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub key: String,
    pub channel_id: String,
    pub message_id: String,
    /// The message this one stands in for under `key`: deleted on the platform, so it
    /// could no longer be edited, and posted again.
    pub replaces: Option<String>,
}

impl Posted {
    pub fn new(key: impl Into<String>, channel_id: impl Into<String>, message_id: impl Into<String>) -> Self {
        Self { key: key.into(), channel_id: channel_id.into(), message_id: message_id.into(), replaces: None }
    }
}

/// What came of one delivery: the messages posted (even when a later call failed, so a
/// retry does not post them again), and whether it is done.
pub struct Report {
    pub posted: Vec<Posted>,
    pub result: Result<(), Failure>,
}

#[derive(Debug)]
pub struct Failure {
    pub reason: String,
    /// When the platform said to come back; else the worker's backoff.
    pub retry_after: Option<Duration>,
}

pub type ReportFuture<'a> = Pin<Box<dyn Future<Output = Report> + Send + 'a>>;

/// What is said in a release channel, apart from any release's thread.
pub enum Announced<'a> {
    /// A lock's start or end.
    Lock(&'a LockNotice),
    /// A service overdue for a rollback drill.
    DrillReminder(&'a DrillReminderNotice),
}

/// What an adapter is handed to announce something in its release channel.
pub struct Announcement<'a> {
    pub what: Announced<'a>,
    /// The team's time zone, for the lock's end as people read it.
    pub time_zone: chrono_tz::Tz,
    /// Messages already posted for this lock on this platform, by key.
    pub known: &'a HashMap<String, Posted>,
    pub idempotency_key: &'a str,
    /// Earlier tries of this row: a platform without create nonces (Slack) looks for what
    /// a try whose answer was lost may have posted, before posting again.
    pub earlier_tries: u32,
}

/// A chat platform's side of delivery.
pub trait Sender: Send + Sync {
    fn platform(&self) -> ChatPlatform;
    fn deliver<'a>(&'a self, delivery: Delivery<'a>) -> ReportFuture<'a>;
    fn announce<'a>(&'a self, announcement: Announcement<'a>) -> ReportFuture<'a>;
    /// Posts (or, once posted, edits) a rollback notice in every incident channel.
    fn broadcast<'a>(&'a self, broadcast: Broadcast<'a>) -> ReportFuture<'a>;
    /// A link to the release thread this platform holds, from the messages posted for it.
    fn thread_link(&self, known: &HashMap<String, Posted>) -> Option<ThreadLink>;
}

/// Everywhere the outbox delivers to: the chat platforms, and the notice webhook.
#[derive(Clone, Default)]
pub struct Outlets {
    senders: HashMap<ChatPlatform, Arc<dyn Sender>>,
    webhook: Option<Arc<NoticeWebhook>>,
}

impl Outlets {
    pub fn new(senders: Vec<Arc<dyn Sender>>, webhook: Option<NoticeWebhook>) -> Self {
        Self { senders: senders.into_iter().map(|s| (s.platform(), s)).collect(), webhook: webhook.map(Arc::new) }
    }

    pub fn is_empty(&self) -> bool {
        self.senders.is_empty() && self.webhook.is_none()
    }
}

/// Delivers until `stop` resolves; each row in a lane waits for the one before it.
///
/// Lanes run side by side, up to [`MAX_LANES`]; a lane that finishes frees its place for
/// the next due one at once, so one slow thread (a full rate-limit bucket) never holds
/// back the others. On stop, each lane finishes the row it is sending and lets go.
pub async fn run(app: App, outlets: Outlets, holder: String, stop: impl Future<Output = ()>) {
    let outlets = Arc::new(outlets);
    // The leases this holder had when it last stopped (or crashed) are its own to retake.
    match app.store().expire_lanes_of(&holder).await {
        Ok(0) => {}
        Ok(released) => {
            tracing::info!(released, %holder, "outbox: took back the lanes this instance held when it stopped")
        }
        Err(e) => tracing::warn!(error = %e, "outbox: could not let go of old leases; they run out by themselves"),
    }
    let stopping = Arc::new(AtomicBool::new(false));
    let mut lanes = tokio::task::JoinSet::new();
    // The lanes being delivered, by task: a lane whose lease ran out while its task still
    // works on it (a long wait on the platform) shows as due again, and must not get a
    // second task of this worker beside the first.
    let mut working: HashMap<tokio::task::Id, String> = HashMap::new();
    tokio::pin!(stop);
    loop {
        let room = MAX_LANES.saturating_sub(lanes.len());
        if room > 0 {
            let busy: HashSet<&str> = working.values().map(String::as_str).collect();
            match claim_due_lanes(&app, &holder, room, &busy).await {
                Ok(claimed) => {
                    for lease in claimed {
                        let lane = lease.lane.clone();
                        let (app, outlets, holder, stopping) =
                            (app.clone(), outlets.clone(), holder.clone(), stopping.clone());
                        let task =
                            lanes.spawn(async move { work_lane(&app, &outlets, lease, &holder, &stopping).await });
                        working.insert(task.id(), lane);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "outbox: could not look for due lanes; trying again")
                }
            }
        }
        tokio::select! {
            () = &mut stop => break,
            Some(joined) = lanes.join_next_with_id(), if !lanes.is_empty() => {
                let id = match &joined {
                    Ok((id, _)) => *id,
                    Err(e) => e.id(),
                };
                working.remove(&id);
                log_lane_end(joined.map(|(_, delivered)| delivered));
            }
            () = tokio::time::sleep(POLL) => {}
        }
    }
    stopping.store(true, Ordering::SeqCst);
    while let Some(joined) = lanes.join_next().await {
        log_lane_end(joined);
    }
}

/// One pass over the due lanes, lanes in parallel, each until its backlog is sent or
/// waits. Returns the rows delivered.
pub async fn deliver_round(app: &App, outlets: &Arc<Outlets>, holder: &str) -> anyhow::Result<usize> {
    let stopping = Arc::new(AtomicBool::new(false));
    let mut lanes = tokio::task::JoinSet::new();
    for lease in claim_due_lanes(app, holder, MAX_LANES, &HashSet::new()).await? {
        let (app, outlets, holder, stopping) = (app.clone(), outlets.clone(), holder.to_owned(), stopping.clone());
        lanes.spawn(async move { work_lane(&app, &outlets, lease, &holder, &stopping).await });
    }
    let mut delivered = 0;
    while let Some(joined) = lanes.join_next().await {
        if let Ok(Ok(count)) = joined {
            delivered += count;
        } else {
            log_lane_end(joined);
        }
    }
    Ok(delivered)
}

/// A lane leased to this worker.
struct Lease {
    lane: String,
    leased_at: DateTime<Utc>,
    /// Taken over from a holder that never let go: see [`DueLane::abandoned`].
    abandoned: bool,
}

/// Up to `room` due lanes nobody holds, each now leased to `holder`; never one of `busy`.
async fn claim_due_lanes(app: &App, holder: &str, room: usize, busy: &HashSet<&str>) -> anyhow::Result<Vec<Lease>> {
    let store = app.store();
    let now = app.now();
    let until = now + chrono::Duration::from_std(LEASE)?;
    let mut claimed = Vec::new();
    let due = store.due_lanes(now, u32::try_from(room + busy.len()).unwrap_or(u32::MAX)).await?;
    for DueLane { lane, abandoned } in due.into_iter().filter(|due| !busy.contains(due.lane.as_str())).take(room) {
        // Another instance may claim the same lane between the look and the claim.
        if store.claim_lane(&lane, holder, now, until).await? {
            claimed.push(Lease { lane, leased_at: now, abandoned });
        }
    }
    Ok(claimed)
}

/// Delivers a claimed lane's backlog, then lets go of the lane.
async fn work_lane(
    app: &App,
    outlets: &Outlets,
    lease: Lease,
    holder: &str,
    stopping: &AtomicBool,
) -> anyhow::Result<usize> {
    let lane = lease.lane.clone();
    let delivered = deliver_lane(app, outlets, lease, holder, stopping).await;
    if let Err(e) = app.store().release_lane(&lane, holder).await {
        tracing::warn!(%lane, error = %e, "outbox: could not let go of a lane; its lease expires by itself");
    }
    delivered
}

fn log_lane_end(joined: Result<anyhow::Result<usize>, tokio::task::JoinError>) {
    match joined {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = format!("{e:#}"), "outbox: a lane failed"),
        Err(e) => tracing::error!(error = %e, "outbox: a lane's task panicked"),
    }
}

async fn deliver_lane(
    app: &App,
    outlets: &Outlets,
    lease: Lease,
    holder: &str,
    stopping: &AtomicBool,
) -> anyhow::Result<usize> {
    let Lease { lane, mut leased_at, abandoned } = lease;
    let lane = lane.as_str();
    let store = app.store();
    let backlog: Vec<(OutboxMessage, Result<Notice, String>)> = store
        .lane_backlog(lane, ROWS_PER_LANE)
        .await?
        .into_iter()
        .map(|row| {
            let notice = serde_json::from_value(row.payload.clone()).map_err(|e| format!("unreadable notice: {e}"));
            (row, notice)
        })
        .collect();
    // A card edited again later in the lane: only the last edit is worth sending.
    let moot: Vec<i64> = backlog
        .iter()
        .enumerate()
        .filter(|(index, (_, notice))| notice.as_ref().is_ok_and(|notice| edited_again(notice, &backlog[index + 1..])))
        .map(|(_, (row, _))| row.id)
        .collect();
    if !moot.is_empty() {
        store.mark_delivered_many(&moot, app.now()).await?;
    }
    let mut delivered = moot.len();
    // The row a holder that never let go was sending may have reached the platform with its
    // answer lost: it counts as tried, so the sender looks for it before posting again. Only
    // the first row: a lane sends one row at a time.
    let mut cut_short = abandoned;
    for (row, notice) in backlog.iter().filter(|(row, _)| !moot.contains(&row.id)) {
        let now = app.now();
        if row.next_attempt_at > now || stopping.load(Ordering::SeqCst) {
            break;
        }
        let tried;
        let row = if std::mem::take(&mut cut_short) && row.attempts == 0 {
            tried = OutboxMessage { attempts: 1, ..row.clone() };
            &tried
        } else {
            row
        };
        // Rate limits can stretch a lane past one lease: renew it before a row once half of
        // it has gone (a row takes far less than the other half, timeouts included), and
        // stop if another instance took the lane over meanwhile. Renewing before every row
        // cost a write per delivery for nothing.
        if now - leased_at >= chrono::Duration::from_std(LEASE / 2)? {
            if !store.claim_lane(lane, holder, now, now + chrono::Duration::from_std(LEASE)?).await? {
                tracing::warn!(%lane, "outbox: another instance took this lane over; leaving it to them");
                break;
            }
            leased_at = now;
        }
        if is_lock_notice(&row.kind) || is_drill_reminder(&row.kind) {
            if !announce(app, &outlets.senders, row, now).await? {
                break;
            }
            delivered += 1;
            continue;
        }
        if row.kind == ROLLBACK_BROADCAST {
            if !broadcast(app, outlets, row, now).await? {
                break;
            }
            delivered += 1;
            continue;
        }
        let notice = match notice {
            Ok(notice) => notice,
            Err(reason) => {
                fail(app, row, reason, None, now).await?;
                break;
            }
        };
        let Some(platform) = notice.channel.platform else {
            store.mark_delivered(row.id, now, None).await?;
            continue;
        };
        let Some(sender) = outlets.senders.get(&platform) else {
            let reason = format!("no {platform} bot is configured; add a [{platform}] section to deliver this");
            fail(app, row, &reason, Some(MAX_BACKOFF), now).await?;
            break;
        };
        // An open card is shown as it stands now, not as of its notice: a click's answer may
        // have updated the message past this notice already (see `App::execute_answering_card`),
        // and an older picture must never replace it. A closed card keeps its moment.
        let live = match &notice.what {
            // The monitoring card always shows the watch as it stands: an older sample must
            // never replace a newer one on the message.
            NoticeKind::Watch => app.release_as_of(&notice.release_id, u64::MAX).await?,
            NoticeKind::Card { step, attempt, closed: None } => {
                let latest = app.release_as_of(&notice.release_id, u64::MAX).await?;
                latest.and_then(|release| {
                    let ctx = app.card_context(&release, now);
                    notices::card_for(&release, *step, None, &ctx)
                        .filter(|card| card.attempt == *attempt)
                        .map(|_| release)
                })
            }
            _ => None,
        };
        let release = match live {
            Some(release) => release,
            None => match app.release_as_of(&notice.release_id, notice.as_of).await? {
                Some(release) => release,
                None => {
                    fail(app, row, "the release is not in the store", Some(MAX_BACKOFF), now).await?;
                    break;
                }
            },
        };
        let card = match &notice.what {
            NoticeKind::Card { step, closed, .. } => {
                let ctx = app.card_context_with_locks(&release, now).await?;
                notices::card_for(&release, *step, *closed, &ctx)
            }
            _ => None,
        };
        let watch = match &notice.what {
            NoticeKind::Watch => {
                let ctx = app.card_context(&release, now);
                card::watch::watch_card(&release, &ctx).map(|w| {
                    let buttons = (release.status == Status::Active)
                        .then(|| (StepRef::Step(release.current), release.steps[release.current].attempt));
                    (w, buttons)
                })
            }
            _ => None,
        };
        let rollback_notice = match &notice.what {
            NoticeKind::RollbackStarted | NoticeKind::RollbackCompleted => {
                card::rollback_notice::rollback_notice(&release, &app.card_context(&release, now))
            }
            _ => None,
        };
        let chart = rollback_notice.as_ref().and_then(|_| chart_png(app, &release));
        let linked = match &notice.what {
            NoticeKind::ReleaseOpened => release.triage_of.as_ref().map(|o| o.release_id.clone()),
            NoticeKind::TriageOpened => release.triage.clone(),
            _ => None,
        };
        let linked_thread = match linked {
            None => None,
            Some(other) => match thread_of(app, outlets, &other).await? {
                Linked::Thread(link) => Some(link),
                Linked::Nowhere => None,
                Linked::NotYet => {
                    // The other release's thread is still being opened: its link is worth
                    // the short wait, and the lane keeps its order meanwhile.
                    fail(app, row, "waiting for the linked release's thread to open", Some(LINK_WAIT), now).await?;
                    break;
                }
            },
        };
        let known = known_messages(app, &notice.release_id, platform.as_str()).await?;
        let report = sender
            .deliver(Delivery {
                notice,
                release: &release,
                card,
                watch,
                rollback_notice,
                chart: chart.as_deref(),
                linked_thread,
                known: &known,
                idempotency_key: &row.idempotency_key,
                earlier_tries: row.attempts,
            })
            .await;
        remember(app, &notice.release_id, platform.as_str(), &report.posted).await?;
        match report.result {
            Ok(()) => {
                let message_id = report.posted.last().map(|p| p.message_id.as_str());
                store.mark_delivered(row.id, app.now(), message_id).await?;
                metrics::counter!("shipgate_outbox_delivered_total", "platform" => platform.as_str()).increment(1);
                delivered += 1;
            }
            Err(failure) => {
                metrics::counter!("shipgate_outbox_failures_total", "platform" => platform.as_str()).increment(1);
                fail(app, row, &failure.reason, failure.retry_after, now).await?;
                // Order is kept: the rest of the lane waits for this row.
                break;
            }
        }
    }
    Ok(delivered)
}

/// How long a notice waits for the thread of the release it links to.
const LINK_WAIT: Duration = Duration::from_secs(2);

/// Where another release's thread is, as a notice linking to it needs it.
enum Linked {
    Thread(ThreadLink),
    /// The release lives on no chat platform this instance delivers to.
    Nowhere,
    /// Its thread has not been opened yet.
    NotYet,
}

async fn thread_of(app: &App, outlets: &Outlets, id: &ReleaseId) -> anyhow::Result<Linked> {
    let Some(other) = app.release(id).await? else {
        return Ok(Linked::Nowhere);
    };
    let Some(platform) = other.channel.as_ref().and_then(|c| c.platform) else {
        return Ok(Linked::Nowhere);
    };
    let Some(sender) = outlets.senders.get(&platform) else {
        return Ok(Linked::Nowhere);
    };
    let known = known_messages(app, id, platform.as_str()).await?;
    Ok(sender.thread_link(&known).map_or(Linked::NotYet, Linked::Thread))
}

/// Messages already posted for `release_id` on `platform` (or by the webhook), by key.
async fn known_messages(app: &App, release_id: &ReleaseId, platform: &str) -> anyhow::Result<HashMap<String, Posted>> {
    Ok(app
        .store()
        .chat_messages(release_id, platform)
        .await?
        .into_iter()
        .map(|m| (m.key.clone(), Posted::new(m.key, m.channel_id, m.message_id)))
        .collect())
}

async fn remember(app: &App, release_id: &ReleaseId, platform: &str, posted: &[Posted]) -> anyhow::Result<()> {
    let now = app.now();
    let store = app.store();
    for p in posted {
        match &p.replaces {
            None => store.record_chat_message(release_id, platform, &p.key, &p.channel_id, &p.message_id, now).await?,
            Some(gone) => {
                let replacement = ChatMessageRef {
                    key: p.key.clone(),
                    channel_id: p.channel_id.clone(),
                    message_id: p.message_id.clone(),
                };
                store.replace_chat_message(release_id, platform, gone, &replacement, now).await?
            }
        };
    }
    Ok(())
}

/// The chart a rollback notice carries, drawn from the release; `None` when no measured
/// criterion tripped. A chart that fails to draw is left out (and logged) rather than
/// holding the notice back: the words say what broke.
fn chart_png(app: &App, release: &Release) -> Option<Vec<u8>> {
    let spec = crate::chart::rollback_chart(release, app.freeze_for(release.channel.as_ref()).timezone())?;
    match crate::chart::render_png(&spec) {
        Ok(png) => Some(png),
        Err(e) => {
            tracing::error!(release = %release.id, error = %e, "the rollback chart could not be drawn; sending the notice without it");
            None
        }
    }
}

/// Broadcasts a rollback notice to every platform's incident channels, then to the notice
/// webhook; `false` if one failed (the row is retried later: what was posted is edited,
/// not posted again, and a webhook delivery that was answered is not sent again).
async fn broadcast(app: &App, outlets: &Outlets, row: &OutboxMessage, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let broadcast: RollbackBroadcast = match serde_json::from_value(row.payload.clone()) {
        Ok(broadcast) => broadcast,
        Err(e) => {
            fail(app, row, &format!("unreadable rollback broadcast: {e}"), None, now).await?;
            return Ok(false);
        }
    };
    let Some(release) = app.release_as_of(&broadcast.release_id, broadcast.as_of).await? else {
        fail(app, row, "the release is not in the store", Some(MAX_BACKOFF), now).await?;
        return Ok(false);
    };
    let ctx = app.card_context(&release, now);
    let Some(notice) = card::rollback_notice::rollback_notice(&release, &ctx) else {
        store_delivered(app, row).await?;
        return Ok(true);
    };
    let chart = chart_png(app, &release);
    // The thread lives on the platform the release was started from.
    let thread = match release.channel.as_ref().and_then(|c| c.platform) {
        Some(platform) => match outlets.senders.get(&platform) {
            Some(sender) => sender.thread_link(&known_messages(app, &release.id, platform.as_str()).await?),
            None => None,
        },
        None => None,
    };
    for (platform, sender) in &outlets.senders {
        let known = known_messages(app, &release.id, platform.as_str()).await?;
        let report = sender
            .broadcast(Broadcast {
                notice: &notice,
                release: &release,
                chart: chart.as_deref(),
                thread: thread.as_ref(),
                known: &known,
                idempotency_key: &row.idempotency_key,
                earlier_tries: row.attempts,
            })
            .await;
        remember(app, &release.id, platform.as_str(), &report.posted).await?;
        if let Err(failure) = report.result {
            metrics::counter!("shipgate_outbox_failures_total", "platform" => platform.as_str()).increment(1);
            fail(app, row, &failure.reason, failure.retry_after, now).await?;
            return Ok(false);
        }
        metrics::counter!("shipgate_outbox_delivered_total", "platform" => platform.as_str()).increment(1);
    }
    if let Some(webhook) = &outlets.webhook {
        let known = known_messages(app, &release.id, NoticeWebhook::NAME).await?;
        let key = format!("{}:{}", row.idempotency_key, "sent");
        if !known.contains_key(&key) {
            let body = super::notice_webhook::body(&notice, &release, thread.as_ref(), chart.is_some());
            if let Err(failure) = webhook.send(&body, &row.idempotency_key).await {
                metrics::counter!("shipgate_outbox_failures_total", "platform" => NoticeWebhook::NAME).increment(1);
                fail(app, row, &failure.reason, failure.retry_after, now).await?;
                return Ok(false);
            }
            let sent = Posted::new(key, webhook.url(), row.idempotency_key.clone());
            remember(app, &release.id, NoticeWebhook::NAME, &[sent]).await?;
            metrics::counter!("shipgate_outbox_delivered_total", "platform" => NoticeWebhook::NAME).increment(1);
        }
    }
    store_delivered(app, row).await?;
    Ok(true)
}

async fn store_delivered(app: &App, row: &OutboxMessage) -> anyhow::Result<()> {
    app.store().mark_delivered(row.id, app.now(), None).await?;
    Ok(())
}

/// Announces a lock's start or end, or a drill reminder, on every platform; `false` if a
/// platform failed (the row is retried later, and what was posted is not posted again).
async fn announce(
    app: &App,
    senders: &HashMap<ChatPlatform, Arc<dyn Sender>>,
    row: &OutboxMessage,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let store = app.store();
    let parsed = if is_drill_reminder(&row.kind) {
        serde_json::from_value::<DrillReminderNotice>(row.payload.clone()).map(Either::Drill)
    } else {
        serde_json::from_value::<LockNotice>(row.payload.clone()).map(Either::Lock)
    };
    let notice = match parsed {
        Ok(notice) => notice,
        Err(e) => {
            fail(app, row, &format!("unreadable {} notice: {e}", row.kind), None, now).await?;
            return Ok(false);
        }
    };
    let time_zone = app.freeze_for(None).timezone();
    for (platform, sender) in senders {
        // Kept under the lock's id (the row's release id), apart from every release's messages.
        let known: HashMap<String, Posted> = store
            .chat_messages(&row.release_id, platform.as_str())
            .await?
            .into_iter()
            .map(|m| (m.key.clone(), Posted::new(m.key, m.channel_id, m.message_id)))
            .collect();
        let report = sender
            .announce(Announcement {
                what: match &notice {
                    Either::Lock(lock) => Announced::Lock(lock),
                    Either::Drill(drill) => Announced::DrillReminder(drill),
                },
                time_zone,
                known: &known,
                idempotency_key: &row.idempotency_key,
                earlier_tries: row.attempts,
            })
            .await;
        for posted in &report.posted {
            store
                .record_chat_message(
                    &row.release_id,
                    platform.as_str(),
                    &posted.key,
                    &posted.channel_id,
                    &posted.message_id,
                    now,
                )
                .await?;
        }
        if let Err(failure) = report.result {
            metrics::counter!("shipgate_outbox_failures_total", "platform" => platform.as_str()).increment(1);
            fail(app, row, &failure.reason, failure.retry_after, now).await?;
            return Ok(false);
        }
    }
    store.mark_delivered(row.id, app.now(), None).await?;
    Ok(true)
}

/// An announcement's notice as read from its row.
enum Either {
    Lock(LockNotice),
    Drill(DrillReminderNotice),
}

/// Whether a later row of the lane shows the same card again: then this edit is moot.
fn edited_again(notice: &Notice, later: &[(OutboxMessage, Result<Notice, String>)]) -> bool {
    let NoticeKind::Card { step, attempt, closed: None } = &notice.what else {
        return false;
    };
    later.iter().any(|(_, n)| {
        n.as_ref()
            .is_ok_and(|n| matches!(&n.what, NoticeKind::Card { step: s, attempt: a, .. } if s == step && a == attempt))
    })
}

async fn fail(
    app: &App,
    row: &OutboxMessage,
    reason: &str,
    retry_after: Option<Duration>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let wait = retry_after.unwrap_or_else(|| backoff(row.attempts)).min(MAX_BACKOFF);
    tracing::warn!(outbox_id = row.id, kind = %row.kind, attempts = row.attempts + 1, retry_in_s = wait.as_secs_f64(), %reason, "outbox: delivery failed; will retry");
    app.store().mark_failed(row.id, reason, now + chrono::Duration::from_std(wait)?).await?;
    Ok(())
}

/// 1 s, 2 s, 4 s ... capped at [`MAX_BACKOFF`].
fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(10)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::app::notices::CardStep;
    use crate::domain::{ChatChannel, ReleaseId};

    fn card_row(id: i64, step: usize, attempt: u32, closed: bool) -> (OutboxMessage, Result<Notice, String>) {
        let notice = Notice {
            release_id: ReleaseId::new("r1"),
            channel: ChatChannel::new(ChatPlatform::Discord, "1"),
            as_of: id as u64,
            what: NoticeKind::Card {
                step: CardStep::Step(step),
                attempt,
                closed: closed.then_some(crate::app::notices::CardClosed::Superseded),
            },
        };
        let row = OutboxMessage {
            id,
            idempotency_key: format!("k{id}"),
            release_id: ReleaseId::new("r1"),
            lane: "r1".into(),
            kind: "card".into(),
            payload: serde_json::to_value(&notice).expect("serialises"),
            attempts: 0,
            created_at: Utc::now(),
            next_attempt_at: Utc::now(),
            delivered_at: None,
            last_error: None,
        };
        (row, Ok(notice))
    }

    #[test]
    fn only_the_last_edit_of_a_card_is_sent() {
        let lane = [card_row(1, 0, 1, false), card_row(2, 1, 1, false), card_row(3, 0, 1, false)];
        let notice = |i: usize| lane[i].1.as_ref().expect("notice");
        assert!(edited_again(notice(0), &lane[1..]), "step 1's card is shown again later");
        assert!(!edited_again(notice(1), &lane[2..]), "step 2's card is not");
        assert!(!edited_again(notice(2), &[]), "the last edit is sent");
        let other_attempt = [card_row(4, 0, 2, false)];
        assert!(!edited_again(notice(0), &other_attempt), "another attempt is another message");
        let closing = [card_row(5, 0, 1, true)];
        assert!(edited_again(notice(0), &closing));
        assert!(!edited_again(closing[0].1.as_ref().expect("notice"), &lane), "a closing edit is always sent");
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}
