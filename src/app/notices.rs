//! What a release tells its chat channel, decided with the events that cause it and
//! written to the outbox in the same transaction.

use crate::domain::release::{AfterRollback, Event, Recorded, Release};
use crate::domain::view::ReleaseView;
use crate::store::NewOutboxMessage;
use chrono::{DateTime, Utc};
use serde_json::json;

/// The chat messages these events call for. Only releases that live in a chat channel
/// get any: a release driven purely from CI has nobody to tell.
pub fn for_events(release: &Release, recorded: &[Recorded], now: DateTime<Utc>) -> Vec<NewOutboxMessage> {
    let Some(channel) = &release.channel else {
        return Vec::new();
    };
    let mut messages = Vec::new();
    let view = || serde_json::to_value(ReleaseView::of(release, now)).unwrap_or_default();
    let mut card_updated = false;
    for r in recorded {
        let key = |kind: &str| format!("{}:{}:{kind}", release.id, r.seq);
        let message = |kind: &str, payload: serde_json::Value| NewOutboxMessage {
            idempotency_key: key(kind),
            release_id: release.id.clone(),
            kind: kind.to_owned(),
            payload,
        };
        match &r.event {
            Event::Started { .. } => messages.push(message(
                "release_started",
                json!({ "channel": channel, "text": format!("Release {} {} ({}) started by {}", release.service, release.version, release.git_sha, r.actor.display_name), "release": view() }),
            )),
            Event::RollbackStarted { reason, deployed, target, .. } => messages.push(message(
                "rollback_notice",
                json!({
                    "channel": channel,
                    "text": format!(
                        "Rolling back {} {}: {}",
                        release.service, release.version, reason
                    ),
                    "deployed": deployed,
                    "broke": reason,
                    "rolling_back_to": target,
                    "triggered_by": r.actor.display_name,
                }),
            )),
            Event::RollbackCompleted { then } => messages.push(message(
                "rollback_completed",
                json!({
                    "channel": channel,
                    "text": format!("Rollback of {} {} done; production runs the previous artifact again", release.service, release.version),
                    "then": then,
                    "ended": !matches!(then, AfterRollback::Resume(_)),
                }),
            )),
            Event::FreezeOverrideApproved { requested_by, reason, expires_at } => messages.push(message(
                "freeze_override",
                json!({
                    "channel": channel,
                    "text": format!("Freeze override for hotfix {} {} approved by {} (requested by {}: {}), in force until {}", release.service, release.version, r.actor.display_name, requested_by.display_name, reason, expires_at.to_rfc3339()),
                }),
            )),
            Event::Completed | Event::Aborted { .. } => messages.push(message(
                "release_finished",
                json!({ "channel": channel, "text": format!("Release {} {} is {}", release.service, release.version, release.status.as_str().replace('_', " ")), "release": view() }),
            )),
            _ => {}
        }
        card_updated = true;
    }
    if card_updated {
        // One card refresh per command: the card shows the state after all its events.
        let last = recorded.last().map_or(0, |r| r.seq);
        messages.push(NewOutboxMessage {
            idempotency_key: format!("{}:{last}:card", release.id),
            release_id: release.id.clone(),
            kind: "step_card".into(),
            payload: json!({ "channel": channel, "release": view() }),
        });
    }
    messages
}
