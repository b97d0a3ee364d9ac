//! Locks from chat and the API: deciding them with [`crate::domain::lock`], writing them
//! with their announcements in one transaction, ending them by unlock or expiry exactly
//! once, and refreshing the cards of the releases they concern so the banner comes and goes.

use super::notices;
use super::{App, AppError};
use crate::domain::card::CardContext;
use crate::domain::lock::{self, Lock, LockEnd, LockId, LockRequest};
use crate::domain::playbook::Evidence;
use crate::domain::release::{Rejection, RejectionCode, Release, Status};
use crate::domain::{Actor, ReleaseId, RequestId, ServiceName};
use crate::store::{EndWrite, LockWrite, NewOutboxMessage, ReleaseFilter};
use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;

/// The outbox lane of lock announcements: in the order locks start and end.
pub const LOCK_LANE: &str = "locks";
/// How often the expiry timer looks for locks whose time ran out.
pub const EXPIRY_POLL: Duration = Duration::from_secs(15);

/// What a lock request or unlock did, the same for every repeat of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockOutcome {
    pub lock: Lock,
    /// True when this is the answer to an earlier identical request, given again.
    pub replayed: bool,
}

/// A lock's start or end, to be said in each platform's release channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockNotice {
    /// The lock as of the news: with `ended` set for an end.
    pub lock: Lock,
    pub what: LockNews,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockNews {
    Started,
    Ended,
}

impl LockNews {
    /// The outbox row's kind, and the key of the message posted for it.
    pub fn kind(self) -> &'static str {
        match self {
            LockNews::Started => "lock_started",
            LockNews::Ended => "lock_ended",
        }
    }
}

/// Whether an outbox row is a lock announcement (else a release's notice).
pub fn is_lock_notice(kind: &str) -> bool {
    kind == LockNews::Started.kind() || kind == LockNews::Ended.kind()
}

impl App {
    /// The locks in force at `now`, of `service` or of every service.
    pub async fn active_locks(&self, service: Option<&ServiceName>, now: DateTime<Utc>) -> Result<Vec<Lock>, AppError> {
        let open = self.store().open_locks(service).await?;
        Ok(open.into_iter().filter(|l| l.is_active(now)).collect())
    }

    /// Locks a service (or one environment of it), announces it and refreshes the cards
    /// of the service's active releases. A repeat of `request_id` answers the first lock.
    pub async fn lock(
        &self,
        request: LockRequest,
        actor: Actor,
        request_id: RequestId,
    ) -> Result<LockOutcome, AppError> {
        let asked = super::fingerprint::of_lock(&request, &actor)?;
        if let Some(first) = self.lock_replay(&request_id, &asked).await? {
            return Ok(first);
        }
        // Row times are kept to the microsecond: the lock answered is the lock stored.
        let now = self.now().trunc_subsecs(6);
        let id = LockId::new(format!("lock_{}", uuid::Uuid::now_v7()));
        let active = self.active_locks(None, now).await?;
        let lock = lock::decide_lock(&request, id, &actor, now, &active)?;
        let outbox = self.lock_outbox(&lock, LockNews::Started).await?;
        match self.store().insert_lock(&lock, &request_id, Some(&asked), &outbox, now).await? {
            LockWrite::Written => {
                tracing::info!(lock = %lock.id, scope = %lock.scope(), by = %actor, until = %lock.until, "locked");
                Ok(LockOutcome { lock, replayed: false })
            }
            // Another instance answered this id meanwhile: the same checks as a repeat.
            LockWrite::Replayed(first) => {
                self.check_lock_request(&request_id, &asked).await?;
                Ok(LockOutcome { lock: *first, replayed: true })
            }
        }
    }

    /// The lock `request_id` made, if it made one and was asked what `asked` fingerprints;
    /// refused with `idempotency_key_reused` if it was asked something else.
    async fn lock_replay(&self, request_id: &RequestId, asked: &str) -> Result<Option<LockOutcome>, AppError> {
        let Some(first) = self.store().lock_made_by(request_id).await? else {
            return Ok(None);
        };
        self.check_lock_request(request_id, asked).await?;
        Ok(Some(LockOutcome { lock: first, replayed: true }))
    }

    async fn check_lock_request(&self, request_id: &RequestId, asked: &str) -> Result<(), AppError> {
        let stored = self.store().lock_request_fingerprint(request_id).await?.flatten();
        Ok(super::fingerprint::check(request_id, stored.as_deref(), asked)?)
    }

    /// Lifts lock `id`. A repeat of `request_id` answers the first unlock.
    pub async fn unlock(&self, id: &LockId, actor: Actor, request_id: RequestId) -> Result<LockOutcome, AppError> {
        if let Some(replayed) = self.unlock_replay(&request_id).await? {
            return Ok(replayed);
        }
        let Some(lock) = self.store().lock(id).await? else {
            return Err(Rejection::new(
                RejectionCode::NotLocked,
                format!("there is no lock {id}; list the locks in force with GET /v1/locks"),
            )
            .into());
        };
        self.end(lock, actor, request_id).await
    }

    /// Lifts the lock on `service` (and `environment`, if given). A repeat of `request_id`
    /// answers the first unlock.
    pub async fn unlock_scope(
        &self,
        service: &str,
        environment: Option<&str>,
        actor: Actor,
        request_id: RequestId,
    ) -> Result<LockOutcome, AppError> {
        if let Some(replayed) = self.unlock_replay(&request_id).await? {
            return Ok(replayed);
        }
        let now = self.now();
        let active = self.active_locks(None, now).await?;
        let lock = lock::to_unlock(service, environment, now, &active)?.clone();
        self.end(lock, actor, request_id).await
    }

    async fn unlock_replay(&self, request_id: &RequestId) -> Result<Option<LockOutcome>, AppError> {
        if request_id.as_str().starts_with("gen:") {
            return Ok(None);
        }
        Ok(self.store().lock_ended_by(request_id).await?.map(|lock| LockOutcome { lock, replayed: true }))
    }

    async fn end(&self, mut lock: Lock, actor: Actor, request_id: RequestId) -> Result<LockOutcome, AppError> {
        let now = self.now().trunc_subsecs(6);
        lock::check_unlock(&lock, &actor, now)?;
        let end = LockEnd::Unlocked { by: actor.clone(), at: now };
        lock.ended = Some(end.clone());
        let outbox = self.lock_outbox(&lock, LockNews::Ended).await?;
        match self.store().end_lock(&lock.id, &end, Some(&request_id), &outbox, now).await? {
            EndWrite::Ended => {
                tracing::info!(lock = %lock.id, scope = %lock.scope(), by = %actor, "unlocked");
                Ok(LockOutcome { lock, replayed: false })
            }
            EndWrite::AlreadyEnded(stored) => {
                // Another instance answered this very request meanwhile, or the lock ended another way.
                if let Some(replayed) = self.unlock_replay(&request_id).await? {
                    return Ok(replayed);
                }
                lock::check_unlock(&stored, &actor, now)?;
                Err(anyhow::anyhow!("lock {} is open, yet its end could not be recorded", stored.id).into())
            }
            EndWrite::NotFound => Err(anyhow::anyhow!("lock {} vanished while being unlocked", lock.id).into()),
        }
    }

    /// Records the end of every lock whose time ran out, each with its announcements.
    /// Safe to run in every instance at once: each end is recorded, and said, once.
    pub async fn expire_locks(&self) -> Result<usize, AppError> {
        let now = self.now();
        let mut ended = 0;
        for mut lock in self.store().expired_locks(now).await? {
            let end = LockEnd::Expired { at: lock.until };
            lock.ended = Some(end.clone());
            let outbox = self.lock_outbox(&lock, LockNews::Ended).await?;
            if self.store().end_lock(&lock.id, &end, None, &outbox, now).await? == EndWrite::Ended {
                tracing::info!(lock = %lock.id, scope = %lock.scope(), "a lock expired");
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// Like [`App::card_context`], with the locks on the release's service in force at `now`.
    pub async fn card_context_with_locks(
        &self,
        release: &Release,
        now: DateTime<Utc>,
    ) -> Result<CardContext, AppError> {
        let mut ctx = self.card_context(release, now);
        // A lock shows on the steps up to the gate it blocks, production's the last of them:
        // past it (or once the release is finished or rolling back) no card shows one, and
        // the read is spared.
        let production = release.playbook.step_requiring(Evidence::ProductionDeploy).unwrap_or(usize::MAX);
        if release.status == Status::Active && release.current <= production {
            ctx.locks = self.active_locks(Some(&release.service), now).await?.iter().map(Lock::banner).collect();
        }
        Ok(ctx)
    }

    /// The announcement of `news` about `lock`, then a refresh of the live card of every
    /// active release of its service, so the banner appears or disappears.
    async fn lock_outbox(&self, lock: &Lock, news: LockNews) -> Result<Vec<NewOutboxMessage>, AppError> {
        let notice = LockNotice { lock: lock.clone(), what: news };
        let mut rows = vec![NewOutboxMessage {
            idempotency_key: format!("{}:{}", lock.id, news.kind()),
            // Not a release: the lock's id keeps the row and the messages posted for it apart.
            release_id: ReleaseId::new(lock.id.as_str()),
            lane: LOCK_LANE.to_owned(),
            kind: news.kind().to_owned(),
            payload: serde_json::to_value(&notice).map_err(anyhow::Error::from)?,
        }];
        let filter = ReleaseFilter { service: Some(lock.service.clone()), status: Some("active".into()), limit: None };
        for row in self.list(&filter).await? {
            let Some((release, _)) = self.release_with_history(&row.id).await? else {
                continue;
            };
            let reason = format!("{}:{}", lock.id, news.kind());
            rows.extend(notices::card_refresh(&release, &reason));
        }
        Ok(rows)
    }
}

/// Ends expired locks every [`EXPIRY_POLL`] until `stop` resolves.
pub async fn run_expiry(app: App, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        if let Err(e) = app.expire_locks().await {
            tracing::warn!(error = format!("{e:#}"), "locks: recording expired locks failed; trying again");
        }
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(EXPIRY_POLL) => {}
        }
    }
}
