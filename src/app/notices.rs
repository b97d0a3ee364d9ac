//! What the bot says, decided with the events that cause it and written to the outbox in
//! the same transaction. A notice is typed and platform-neutral; each chat adapter turns
//! it into its own words and calls.
//!
//! A notice names the point in the release's history it shows (`as_of`): the delivery
//! worker folds the history up to there and renders that, so a retried or late delivery
//! shows exactly what the notice meant, never a later state by accident.

use crate::domain::card::{self, Card, CardContext, ClosedWhy, StepRef};
use crate::domain::release::{Event, Recorded, Release, Status};
use crate::domain::{ChatChannel, ReleaseId};
use crate::store::NewOutboxMessage;
use serde::{Deserialize, Serialize};

/// One thing to tell a release's chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub release_id: ReleaseId,
    /// The release's channel: its platform says which adapter delivers the notice.
    pub channel: ChatChannel,
    /// The last event the notice shows.
    pub as_of: u64,
    pub what: NoticeKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NoticeKind {
    /// The release opened: a release message in the release channel and its thread.
    ReleaseOpened,
    /// A step attempt's card, as of `as_of`: posted the first time, edited after.
    /// `closed` freezes it (every control disabled) for a reason the state alone does not
    /// show, such as a restart that replaced the attempt.
    Card {
        step: CardStep,
        attempt: u32,
        closed: Option<CardClosed>,
    },
    /// A rollback began: said in the thread and broadcast to the incident channels with
    /// what was deployed, what broke and what production goes back to.
    RollbackStarted,
    /// The rollback procedure finished: production runs the previous artifact again.
    RollbackCompleted,
    /// A freeze override was asked for, or approved.
    FreezeOverrideRequested,
    FreezeOverrideApproved,
    /// The release completed, rolled back or was aborted.
    ReleaseFinished,
    /// The release now ships another commit (the fix): said in the thread, and the release
    /// message shows the new version and commit.
    Retargeted,
    /// A step attempt went quiet past its limit: its owners are pinged in the thread, once
    /// (the `StallNoticed` event it comes from is recorded once per attempt).
    StallPing {
        step: usize,
        attempt: u32,
    },
    /// The live monitoring card of the watch: posted at the baseline, edited in place at
    /// every sample (always shown as the watch stands at delivery).
    Watch,
    /// The rollback's bug triage opened: said in the thread, linked to the triage's own.
    TriageOpened,
}

/// Which card, in a form that stores well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardStep {
    Step(usize),
    Rollback,
}

impl From<StepRef> for CardStep {
    fn from(step: StepRef) -> Self {
        match step {
            StepRef::Step(index) => CardStep::Step(index),
            StepRef::Rollback => CardStep::Rollback,
        }
    }
}

impl From<CardStep> for StepRef {
    fn from(step: CardStep) -> Self {
        match step {
            CardStep::Step(index) => StepRef::Step(index),
            CardStep::Rollback => StepRef::Rollback,
        }
    }
}

/// Why a card was frozen when the release's state alone would not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardClosed {
    Superseded,
    RollingBack,
}

impl NoticeKind {
    pub fn name(&self) -> &'static str {
        match self {
            NoticeKind::ReleaseOpened => "release_opened",
            NoticeKind::Card { .. } => "card",
            NoticeKind::RollbackStarted => "rollback_started",
            NoticeKind::RollbackCompleted => "rollback_completed",
            NoticeKind::FreezeOverrideRequested => "freeze_override_requested",
            NoticeKind::FreezeOverrideApproved => "freeze_override_approved",
            NoticeKind::ReleaseFinished => "release_finished",
            NoticeKind::Retargeted => "retargeted",
            NoticeKind::StallPing { .. } => "stall_ping",
            NoticeKind::Watch => "watch",
            NoticeKind::TriageOpened => "triage_opened",
        }
    }
}

/// The card people work on, as a `(step, attempt)` key: a change of key closes a card.
fn live_card(release: &Release) -> (CardStep, u32) {
    match &release.rollback {
        Some(_) if release.status == Status::RollingBack => (CardStep::Rollback, 1),
        _ => (CardStep::Step(release.current), release.steps[release.current].attempt),
    }
}

/// The notices these events call for, in the order they must be delivered. Only releases
/// whose channel is on a chat platform get any: a release driven purely from CI has
/// nobody to tell. `before` is the release before the events (`None` for a start).
pub fn for_events(before: Option<&Release>, after: &Release, recorded: &[Recorded]) -> Vec<NewOutboxMessage> {
    for_events_answered(before, after, recorded, None)
}

/// [`for_events`], leaving out the edit of `answered` while it stays the live card: the
/// command's own answer re-renders it in place (a click answered with the card updated), so
/// that answer is the edit. Closing edits, new cards and every other notice stay.
pub fn for_events_answered(
    before: Option<&Release>,
    after: &Release,
    recorded: &[Recorded],
    answered: Option<(CardStep, u32)>,
) -> Vec<NewOutboxMessage> {
    let broadcasts = rollback_broadcasts(after, recorded);
    let Some(channel) = after.channel.clone().filter(|c| c.platform.is_some()) else {
        return broadcasts;
    };
    let mut messages = in_thread(before, after, recorded, answered, channel);
    messages.extend(broadcasts);
    messages
}

fn in_thread(
    before: Option<&Release>,
    after: &Release,
    recorded: &[Recorded],
    answered: Option<(CardStep, u32)>,
    channel: ChatChannel,
) -> Vec<NewOutboxMessage> {
    let mut notices = Vec::new();
    for r in recorded {
        let what = match &r.event {
            Event::Started { .. } => NoticeKind::ReleaseOpened,
            Event::RollbackStarted { .. } => NoticeKind::RollbackStarted,
            Event::RollbackCompleted { .. } => NoticeKind::RollbackCompleted,
            Event::FreezeOverrideRequested { .. } => NoticeKind::FreezeOverrideRequested,
            Event::FreezeOverrideApproved { .. } => NoticeKind::FreezeOverrideApproved,
            Event::Completed | Event::Aborted { .. } => NoticeKind::ReleaseFinished,
            Event::Retargeted { .. } => NoticeKind::Retargeted,
            Event::TriageOpened { .. } => NoticeKind::TriageOpened,
            Event::StallNoticed { step, attempt } => match after.playbook.step_index(step) {
                Some(index) => NoticeKind::StallPing { step: index, attempt: *attempt },
                None => continue,
            },
            _ => continue,
        };
        // A release opens as its whole start commit leaves it: a triage's start also records
        // the rollback it is of, which its thread opens with.
        let as_of = match what {
            NoticeKind::ReleaseOpened => recorded.last().map_or(r.seq, |last| last.seq),
            _ => r.seq,
        };
        notices.push(Notice { release_id: after.id.clone(), channel: channel.clone(), as_of, what });
    }
    // The monitoring card shows the watch as it stands: one edit per command that changed
    // it, whatever number of its events the command recorded.
    let watch_moved = recorded.iter().any(|r| {
        matches!(
            r.event,
            Event::WatchStarted { .. }
                | Event::WatchSampled { .. }
                | Event::AlertRecorded { .. }
                | Event::BlindWatchAccepted { .. }
                | Event::RollbackStarted { .. }
                | Event::RollbackCompleted { .. }
                | Event::Completed
                | Event::Aborted { .. }
        )
    });
    if watch_moved && after.watch.is_some() {
        let as_of = recorded.last().map_or(after.seq, |r| r.seq);
        notices.push(Notice { release_id: after.id.clone(), channel: channel.clone(), as_of, what: NoticeKind::Watch });
    }
    // A sample (or an alert) that changes nothing people can do on the step card leaves it
    // alone: the monitoring card is where samples show. What the gate waits for changes
    // only when a metric goes blind or sees again.
    let watch_only = recorded.iter().all(|r| {
        matches!(r.event, Event::WatchStarted { .. } | Event::WatchSampled { .. } | Event::AlertRecorded { .. })
    });
    let blind = |release: Option<&Release>| release.and_then(Release::current_watch).map(|w| w.blind());
    if !recorded.is_empty() && watch_only && blind(before) == blind(Some(after)) {
        return notices.iter().map(outbox_row).collect();
    }
    // Cards: replay the events over `before`, one by one, to see every card the command
    // closed on the way (a gate passed, a restart, a rollback), not only where it ended.
    let mut cards = Vec::new();
    let mut state = before.cloned();
    // A restart clears the steps it goes back over before the next step is entered, so the
    // card it replaces is shown as it stood just before the restart.
    let mut restarted_at = None;
    for r in recorded {
        let previous = state.as_ref().map(live_card);
        let evolved = match state.as_mut() {
            Some(release) => release.evolve(r).is_ok(),
            None => {
                state = Release::fold(after.id.clone(), std::slice::from_ref(r)).ok();
                state.is_some()
            }
        };
        if !evolved {
            // Cannot happen for events the domain just decided; the end state still shows.
            break;
        }
        if matches!(r.event, Event::Restarted { .. }) {
            restarted_at = Some(r.seq);
        }
        let current = state.as_ref().map(live_card);
        if let (Some(old), Some(new)) = (previous, current) {
            if old != new {
                // A passed gate (or a finished rollback procedure) shows on the card
                // itself; a restart or a rollback has to be said.
                let closed_at = restarted_at.take().filter(|_| old.0 != CardStep::Rollback);
                let (as_of, closed) = match (closed_at, new.0) {
                    (_, CardStep::Rollback) => (r.seq - 1, Some(CardClosed::RollingBack)),
                    (Some(restart), _) => (restart - 1, Some(CardClosed::Superseded)),
                    (None, _) => (r.seq - 1, None),
                };
                cards.push((as_of, old, closed));
            }
        }
    }
    let last = recorded.last().map_or(after.seq, |r| r.seq);
    let live = live_card(after);
    // The card the answer re-renders needs no edit of its own while it stays the live card.
    // Once the command moves the release off it, its closing edit above still goes out:
    // it is what freezes the card's buttons even if the answer never reached the platform.
    let answered_live = answered == Some(live) && cards.iter().all(|(_, card, _)| *card != live);
    if !answered_live {
        cards.push((last, live, None));
    }
    let mut messages: Vec<NewOutboxMessage> = notices.iter().map(outbox_row).collect();
    // The release must be opened before any card is posted in its thread; other notices
    // come after the cards they speak of.
    let opened = notices.iter().any(|n| n.what == NoticeKind::ReleaseOpened);
    let cards: Vec<NewOutboxMessage> = cards
        .into_iter()
        .map(|(as_of, (step, attempt), closed)| {
            outbox_row(&Notice {
                release_id: after.id.clone(),
                channel: channel.clone(),
                as_of,
                what: NoticeKind::Card { step, attempt, closed },
            })
        })
        .collect();
    if opened {
        messages.extend(cards);
    } else {
        messages.splice(0..0, cards);
    }
    messages
}

/// The outbox kind of a rollback broadcast.
pub const ROLLBACK_BROADCAST: &str = "rollback_broadcast";

/// A rollback told to the whole team, apart from the release's own thread: every
/// configured platform's incident channels and the notice webhook. It goes out for every
/// release, chat-started or not (a rollback of a release driven from CI concerns the team
/// just as much), posted when the rollback starts and edited when it completes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackBroadcast {
    pub release_id: ReleaseId,
    /// The event the broadcast shows: the rollback's start or its completion.
    pub as_of: u64,
}

/// One broadcast row per rollback started or completed by these events. Each release's
/// broadcasts have a lane of their own (`incident:<release>`): the start is always sent
/// before the completion, and a slow receiver of one release holds back no other.
fn rollback_broadcasts(after: &Release, recorded: &[Recorded]) -> Vec<NewOutboxMessage> {
    recorded
        .iter()
        .filter(|r| matches!(r.event, Event::RollbackStarted { .. } | Event::RollbackCompleted { .. }))
        .map(|r| {
            let broadcast = RollbackBroadcast { release_id: after.id.clone(), as_of: r.seq };
            NewOutboxMessage {
                idempotency_key: format!("{}:{}:{ROLLBACK_BROADCAST}", after.id, r.seq),
                release_id: after.id.clone(),
                lane: format!("incident:{}", after.id),
                kind: ROLLBACK_BROADCAST.to_owned(),
                payload: serde_json::to_value(&broadcast).unwrap_or_default(),
            }
        })
        .collect()
}

/// An edit of the card people work on in `release`'s thread, showing it again as it
/// stands (a lock's banner came or went). `because` makes the row's key unique: the card's
/// own notice of the same event has the plain key.
pub fn card_refresh(release: &Release, because: &str) -> Option<NewOutboxMessage> {
    let channel = release.channel.clone().filter(|c| c.platform.is_some())?;
    let (step, attempt) = live_card(release);
    let notice = Notice {
        release_id: release.id.clone(),
        channel,
        as_of: release.seq,
        what: NoticeKind::Card { step, attempt, closed: None },
    };
    let mut row = outbox_row(&notice);
    row.idempotency_key = format!("{}:{because}", row.idempotency_key);
    Some(row)
}

fn outbox_row(notice: &Notice) -> NewOutboxMessage {
    let key = match &notice.what {
        NoticeKind::Card { step, attempt, closed } => {
            let step = match step {
                CardStep::Step(index) => index.to_string(),
                CardStep::Rollback => "rollback".to_owned(),
            };
            // A card closed as of the previous command's last event (a rollback triggered
            // by command) must not take the key of that command's own edit of the card.
            let closed = match closed {
                None => "",
                Some(CardClosed::Superseded) => ":superseded",
                Some(CardClosed::RollingBack) => ":rolling_back",
            };
            format!("{}:{}:card:{step}:{attempt}{closed}", notice.release_id, notice.as_of)
        }
        other => format!("{}:{}:{}", notice.release_id, notice.as_of, other.name()),
    };
    NewOutboxMessage {
        idempotency_key: key,
        release_id: notice.release_id.clone(),
        lane: notice.release_id.to_string(),
        kind: notice.what.name().to_owned(),
        // A notice always serialises: plain strings and numbers.
        payload: serde_json::to_value(notice).unwrap_or_default(),
    }
}

/// The card a `Card` notice shows: built from the release as of the notice, closed for the
/// notice's reason when it has one.
pub fn card_for(
    release_as_of: &Release,
    step: CardStep,
    closed: Option<CardClosed>,
    ctx: &CardContext,
) -> Option<Card> {
    let card = card::step_card(release_as_of, step.into(), ctx)?;
    Some(match closed {
        None => card,
        Some(CardClosed::Superseded) => card.closed(ClosedWhy::Superseded),
        Some(CardClosed::RollingBack) => card.closed(ClosedWhy::RollingBack),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::card::fixtures::{alice, bob, carol, Walk};
    use chrono::Duration;

    /// The thread's notices among `rows` (broadcasts to the team have tests of their own).
    fn notices(rows: &[NewOutboxMessage]) -> Vec<Notice> {
        rows.iter()
            .filter(|row| row.kind != ROLLBACK_BROADCAST)
            .map(|row| serde_json::from_value(row.payload.clone()).expect("a notice"))
            .collect()
    }

    /// The notices of the command `act` runs on `walk`.
    fn after(walk: &mut Walk, act: impl FnOnce(&mut Walk)) -> Vec<Notice> {
        let before = walk.release.clone();
        act(walk);
        let rows = for_events(Some(&before), &walk.release, walk.events_after(before.seq));
        let thread = rows.iter().filter(|r| r.kind != ROLLBACK_BROADCAST);
        assert!(thread.into_iter().all(|r| r.lane == walk.release.id.as_str()), "one lane per release thread");
        notices(&rows)
    }

    fn card(step: CardStep, attempt: u32, closed: Option<CardClosed>) -> NoticeKind {
        NoticeKind::Card { step, attempt, closed }
    }

    #[test]
    fn a_start_opens_the_thread_before_the_first_card() {
        let walk = Walk::start();
        let rows = for_events(None, &walk.release, walk.events_after(0));
        let kinds: Vec<NoticeKind> = notices(&rows).into_iter().map(|n| n.what).collect();
        assert_eq!(kinds, [NoticeKind::ReleaseOpened, card(CardStep::Step(0), 1, None)]);
    }

    #[test]
    fn a_tick_refreshes_the_card_as_of_its_event() {
        let mut walk = Walk::start();
        let notices = after(&mut walk, |w| w.tick(&carol(), "prs-merged"));
        assert_eq!(notices.len(), 1);
        assert_eq!(notices[0].what, card(CardStep::Step(0), 1, None));
        assert_eq!(notices[0].as_of, walk.release.seq);
    }

    #[test]
    fn a_passed_gate_shows_on_the_old_card_and_the_next_card_follows() {
        let mut walk = Walk::start();
        let notices = after(&mut walk, Walk::pass_pre_flight);
        let last = notices.len() - 1;
        assert_eq!(notices[last].what, card(CardStep::Step(1), 1, None));
        assert_eq!(notices[last - 1].what, card(CardStep::Step(0), 1, None), "the passed card, as it closed");
        assert!(notices[last - 1].as_of < notices[last].as_of);
    }

    #[test]
    fn a_restart_closes_the_old_card_as_superseded_and_posts_a_fresh_one() {
        let mut walk = Walk::start();
        walk.walk_to(1);
        let notices = after(&mut walk, |w| w.take(&carol(), "real-regression", "orders API returns 500"));
        let kinds: Vec<NoticeKind> = notices.iter().map(|n| n.what.clone()).collect();
        assert_eq!(kinds, [card(CardStep::Step(1), 1, Some(CardClosed::Superseded)), card(CardStep::Step(0), 2, None)]);
        // The closed card shows the attempt as it was before the restart cleared it.
        let restart_seq = walk
            .events_after(0)
            .iter()
            .find(|r| matches!(r.event, Event::Restarted { .. }))
            .map(|r| r.seq)
            .expect("a restart");
        assert_eq!(notices[0].as_of, restart_seq - 1);
    }

    #[test]
    fn a_rollback_closes_the_step_card_then_tells_everyone() {
        let mut walk = Walk::start();
        walk.walk_to(7);
        let notices = after(&mut walk, |w| w.take(&carol(), "rollback", "checkout broken"));
        let kinds: Vec<NoticeKind> = notices.iter().map(|n| n.what.clone()).collect();
        assert_eq!(
            kinds,
            [
                card(CardStep::Step(7), 1, Some(CardClosed::RollingBack)),
                card(CardStep::Rollback, 1, None),
                NoticeKind::RollbackStarted,
            ]
        );
    }

    #[test]
    fn a_rollback_by_command_keys_its_closing_edit_apart_from_the_edit_before_it() {
        let mut walk = Walk::start();
        walk.walk_to(6);
        let before = walk.release.clone();
        walk.tick(&carol(), "error-rates");
        let tick = for_events(Some(&before), &walk.release, walk.events_after(before.seq));
        let before = walk.release.clone();
        walk.ok(&carol(), crate::domain::release::Command::TriggerRollback { reason: "checkout broken".into() });
        let rollback = for_events(Some(&before), &walk.release, walk.events_after(before.seq));
        assert_eq!(notices(&rollback)[0].what, card(CardStep::Step(6), 1, Some(CardClosed::RollingBack)));
        assert_eq!(notices(&rollback)[0].as_of, notices(&tick)[0].as_of, "both show the card as of the tick");
        for row in &rollback {
            assert!(tick.iter().all(|t| t.idempotency_key != row.idempotency_key), "{}", row.idempotency_key);
        }
    }

    #[test]
    fn a_lock_refreshes_the_live_card_under_a_key_of_its_own() {
        let mut walk = Walk::start();
        walk.tick(&carol(), "prs-merged");
        let own = for_events(None, &walk.release, walk.events_after(0));
        let refresh = card_refresh(&walk.release, "lock_1:lock_started").expect("a chat release");
        assert!(own.iter().all(|row| row.idempotency_key != refresh.idempotency_key));
        assert_eq!(refresh.lane, walk.release.id.as_str());
        let notice: Notice = serde_json::from_value(refresh.payload).expect("a notice");
        assert_eq!((notice.what, notice.as_of), (card(CardStep::Step(0), 1, None), walk.release.seq));
        let mut quiet = walk.release.clone();
        quiet.channel = None;
        assert!(card_refresh(&quiet, "lock_1:lock_started").is_none(), "a release off chat has no card");
    }

    #[test]
    fn a_noticed_stall_pings_the_thread_and_refreshes_the_card() {
        let mut walk = Walk::start();
        walk.walk_to(1);
        let notices = after(&mut walk, |w| w.notice_stall(Duration::hours(3)));
        let kinds: Vec<NoticeKind> = notices.iter().map(|n| n.what.clone()).collect();
        assert_eq!(kinds, [card(CardStep::Step(1), 1, None), NoticeKind::StallPing { step: 1, attempt: 1 }]);
    }

    #[test]
    fn a_rejected_gate_closes_its_card_as_it_stood_with_the_rejection() {
        let mut walk = Walk::start();
        walk.walk_to(4);
        let notices = after(&mut walk, |w| w.reject(&bob(), "checkout flow broken on staging"));
        assert_eq!(notices[0].what, card(CardStep::Step(4), 1, Some(CardClosed::Superseded)));
        let rejected_at = walk
            .events_after(0)
            .iter()
            .find(|r| matches!(r.event, Event::GateRejected { .. }))
            .map(|r| r.seq)
            .expect("a rejection");
        assert_eq!(notices[0].as_of, rejected_at + 1, "as of the path taken, before the restart cleared it");
        assert_eq!(notices[1].what, card(CardStep::Step(3), 2, None));
    }

    #[test]
    fn a_click_answered_in_place_leaves_its_card_to_the_answer_until_the_card_closes() {
        let mut walk = Walk::start();
        let before = walk.release.clone();
        walk.tick(&alice(), "prs-merged");
        let recorded = walk.events_after(before.seq);
        let clicked = Some((CardStep::Step(0), 1));
        assert!(for_events_answered(Some(&before), &walk.release, recorded, clicked).is_empty());
        assert_eq!(for_events(Some(&before), &walk.release, recorded).len(), 1, "from the API it is an edit");
        let other_card = Some((CardStep::Step(1), 1));
        assert_eq!(for_events_answered(Some(&before), &walk.release, recorded, other_card).len(), 1);

        // Passing the gate from the card still sends the closing edit and the next card.
        let mut walk = Walk::start();
        walk.tick_all(&carol());
        let before = walk.release.clone();
        walk.approve(&bob());
        let recorded = walk.events_after(before.seq);
        let rows = for_events_answered(Some(&before), &walk.release, recorded, clicked);
        let kinds: Vec<NoticeKind> = notices(&rows).into_iter().map(|n| n.what).collect();
        assert_eq!(kinds, [card(CardStep::Step(0), 1, None), card(CardStep::Step(1), 1, None)]);
    }

    #[test]
    fn releases_on_no_chat_platform_tell_nobody() {
        let mut walk = Walk::start();
        let before = walk.release.clone();
        walk.tick(&alice(), "prs-merged");
        let mut quiet = walk.release.clone();
        quiet.channel = Some(ChatChannel::parse("C0PAYMENTS").expect("a bare channel"));
        assert!(for_events(Some(&before), &quiet, walk.events_after(before.seq)).is_empty());
        quiet.channel = None;
        assert!(for_events(Some(&before), &quiet, walk.events_after(before.seq)).is_empty());
    }

    #[test]
    fn a_rollback_is_broadcast_to_the_team_whatever_the_release_was_started_from() {
        let mut walk = Walk::start();
        walk.walk_to(7);
        let before = walk.release.clone();
        walk.take(&carol(), "rollback", "checkout broken");
        for channel in [walk.release.channel.clone(), None] {
            let mut release = walk.release.clone();
            release.channel = channel;
            let rows = for_events(Some(&before), &release, walk.events_after(before.seq));
            let broadcasts: Vec<&NewOutboxMessage> = rows.iter().filter(|r| r.kind == ROLLBACK_BROADCAST).collect();
            assert_eq!(broadcasts.len(), 1, "{rows:?}");
            assert_eq!(broadcasts[0].lane, format!("incident:{}", release.id), "a lane apart from the thread's");
            let broadcast: RollbackBroadcast =
                serde_json::from_value(broadcasts[0].payload.clone()).expect("a broadcast");
            let started =
                walk.events_after(before.seq).iter().find(|r| matches!(r.event, Event::RollbackStarted { .. }));
            assert_eq!(Some(broadcast.as_of), started.map(|r| r.seq));
        }
    }
}
