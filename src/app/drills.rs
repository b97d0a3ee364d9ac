//! Rollback drills from chat and the API: starting one against staging (a release of the
//! built-in drill playbook, pointed at the artifact staging ran before), the standing of
//! every service, and the weekly reminder of overdue drills in the release channel.

use super::{App, AppError, Outcome, StartRelease};
use crate::domain::drill::{self, DrillStanding, Reminder, ROLLBACK_DRILL};
use crate::domain::release::{Rejection, RejectionCode};
use crate::domain::{Actor, ChatChannel, ReleaseId, RequestId, ServiceName};
use crate::store::NewOutboxMessage;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;

/// The outbox lane of drill reminders: channel-wide messages, apart from every release's.
pub const DRILL_LANE: &str = "drill-reminders";
/// The outbox row kind of a drill reminder.
pub const DRILL_REMINDER: &str = "drill_reminder";
/// How often the reminder timer looks for overdue services: reminders are weekly, so an
/// hour late is on time, and the look is two small queries.
pub const REMINDER_SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// What the edge asks to start a drill with.
#[derive(Debug, Clone)]
pub struct StartDrill {
    pub service: ServiceName,
    /// Where the drill lives in chat, if it was started from chat.
    pub channel: Option<ChatChannel>,
}

/// A reminder that a service is overdue for a drill, said in each platform's release channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillReminderNotice {
    pub standing: DrillStanding,
    pub reminder: Reminder,
    /// When the reminder was queued: what "overdue for N days" is counted to.
    pub at: DateTime<Utc>,
}

/// Whether an outbox row is a drill reminder.
pub fn is_drill_reminder(kind: &str) -> bool {
    kind == DRILL_REMINDER
}

impl App {
    /// Starts a rollback drill of `start.service` against staging: a release of the drill
    /// playbook whose version and commit are the revert target (the artifact staging ran
    /// before its latest), so its thread says what to revert to. Refused, changing nothing,
    /// when shipgate knows of nothing to revert to.
    pub async fn start_drill(
        &self,
        start: StartDrill,
        actor: Actor,
        request_id: RequestId,
    ) -> Result<Outcome, AppError> {
        // The target is read from the store and may move between two deliveries of one
        // request: a repeat gets the first answer rather than a second drill or a refusal.
        if let Some(answer) = self.answered(&request_id).await? {
            return Ok(answer);
        }
        let Some(playbook) = self.inner.playbooks.get(Some(ROLLBACK_DRILL)) else {
            return Err(Rejection::new(
                RejectionCode::UnknownPlaybook,
                format!("no playbook named {ROLLBACK_DRILL}; it is built in, so check the playbook folder"),
            )
            .into());
        };
        drill::check_playbook(&playbook)?;
        drill::check_starter(&playbook, &actor)?;
        let deploys = self.inner.store.staging_deploys(&start.service).await?;
        let target = drill::revert_target(&start.service, &deploys)?;
        let release = StartRelease {
            service: start.service,
            version: target.version.clone(),
            git_sha: target.git_sha.clone(),
            playbook: Some(ROLLBACK_DRILL.to_owned()),
            hotfix: false,
            channel: start.channel,
        };
        self.open(release, actor, request_id, Vec::new()).await
    }

    /// Where `service` stands with rollback drills at `now`.
    pub async fn drill_standing(&self, service: &ServiceName, now: DateTime<Utc>) -> Result<DrillStanding, AppError> {
        let found = self.inner.store.service_drills(Some(service)).await?.into_iter().next();
        let (last, first_seen) = match found {
            Some(drills) => (drills.last, Some(drills.first_seen)),
            None => (None, None),
        };
        Ok(DrillStanding::at(service.clone(), last, first_seen, &self.inner.drills, now))
    }

    /// Every service shipgate has seen, with where it stands with rollback drills now.
    pub async fn drill_standings(&self) -> Result<Vec<DrillStanding>, AppError> {
        let now = self.now();
        Ok(self
            .inner
            .store
            .service_drills(None)
            .await?
            .into_iter()
            .map(|d| DrillStanding::at(d.service, d.last, Some(d.first_seen), &self.inner.drills, now))
            .collect())
    }

    /// Queues this period's reminder for every service overdue for a drill, each exactly
    /// once: the reminder's record and its message are written in one transaction, and a
    /// reminder already recorded (by another instance, or before a restart) is skipped.
    /// Returns how many were queued now.
    pub async fn remind_overdue_drills(&self) -> Result<usize, AppError> {
        let now = self.now();
        let mut queued = 0;
        for standing in self.drill_standings().await? {
            let Some(reminder) = standing.reminder_due(&self.inner.drills, now) else { continue };
            let key = format!(
                "drill:{}:{}:{}",
                reminder.service,
                reminder.due_at.format("%Y%m%dT%H%M%S%.6fZ"),
                reminder.period
            );
            let notice = DrillReminderNotice { standing, reminder: reminder.clone(), at: now };
            let row = NewOutboxMessage {
                idempotency_key: key.clone(),
                // Not a release: the reminder's key keeps the messages posted for it apart.
                release_id: ReleaseId::new(key),
                lane: DRILL_LANE.to_owned(),
                kind: DRILL_REMINDER.to_owned(),
                payload: serde_json::to_value(&notice).map_err(anyhow::Error::from)?,
            };
            if self.inner.store.record_drill_reminder(&reminder, &[row], now).await? {
                queued += 1;
            }
        }
        Ok(queued)
    }
}

/// Reminds of overdue drills every `every` until `stop` resolves.
pub async fn run_reminders(app: App, every: Duration, stop: impl Future<Output = ()>) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = ticks.tick() => {
                match app.remind_overdue_drills().await {
                    Ok(0) => {}
                    Ok(queued) => tracing::info!(queued, "reminded the release channel of overdue rollback drills"),
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "looking for overdue rollback drills failed; trying again next round"),
                }
            }
        }
    }
}
