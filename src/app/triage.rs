//! Bug triage after a rollback: the playbook says to treat the failed deploy as a bug, so
//! shipgate opens a release of the built-in Bug Triage playbook for the same service,
//! version and commit, starting from the rollback notice, and links the two both ways.
//!
//! Opening is a sweep, not a reaction inside the rollback's commit: two releases are two
//! histories, written by two commits. Both carry request ids derived from the failed
//! release, so a sweep repeated after a crash between them (or run by two instances at
//! once) replays the first answers: one triage per rollback, linked once.

use super::{App, AppError, StartRelease};
use crate::domain::card::rollback_notice::rollback_notice;
use crate::domain::playbook::BUG_TRIAGE;
use crate::domain::release::{Command, Event, RejectionCode, Release, TriageOrigin};
use crate::domain::{Actor, ChatChannel, Platform, RequestId};
use crate::store::ReleaseFilter;

/// How many of the most recent rolled-back releases each sweep looks at, beside every
/// release still rolling back: enough to catch rollbacks that completed while shipgate was
/// down, without reading the whole history every time.
const RECENT_ROLLED_BACK: u32 = 50;

fn shipgate() -> Actor {
    Actor::new(Platform::System, "shipgate", "shipgate")
}

impl App {
    /// Opens the bug triage of every rollback that has none yet; returns how many it opened.
    /// `channel` is where a triage lives when the failed release has no chat channel (it
    /// was run from the API): the team's release channel, if a chat platform is configured.
    pub async fn open_triages(&self, channel: Option<&ChatChannel>) -> Result<usize, AppError> {
        let mut rows = Vec::new();
        for (status, limit) in [("rolling_back", 500), ("rolled_back", RECENT_ROLLED_BACK)] {
            let filter = ReleaseFilter { service: None, status: Some(status.to_owned()), limit: Some(limit) };
            rows.extend(self.store().list_releases(&filter).await?);
        }
        let mut opened = 0;
        for row in rows.iter().filter(|r| r.playbook != BUG_TRIAGE) {
            let Some(release) = self.release(&row.id).await? else { continue };
            if release.triage.is_some() || release.rollback.is_none() {
                continue;
            }
            if self.open_triage(&release, channel).await? {
                opened += 1;
            }
        }
        Ok(opened)
    }

    /// Opens (or finds, on a repeat) the triage of `failed`'s rollback and links it; `false`
    /// when the triage playbook refused the start (logged: it is a configuration to fix).
    async fn open_triage(&self, failed: &Release, fallback: Option<&ChatChannel>) -> Result<bool, AppError> {
        let ctx = self.card_context(failed, self.now());
        let Some(notice) = rollback_notice(failed, &ctx) else {
            return Ok(false);
        };
        let origin = TriageOrigin {
            release_id: failed.id.clone(),
            name: notice.name,
            deployed: notice.deployed,
            broke: notice.broke,
            rolled_back: notice.rolled_back,
        };
        let start = StartRelease {
            service: failed.service.clone(),
            version: failed.version.clone(),
            git_sha: failed.git_sha.clone(),
            playbook: Some(BUG_TRIAGE.to_owned()),
            hotfix: false,
            channel: failed.channel.clone().filter(|c| c.platform.is_some()).or_else(|| fallback.cloned()),
        };
        let request = RequestId::new(format!("triage:{}", failed.id));
        let triage = match self.open(start, shipgate(), request, vec![Event::TriageOf { origin }]).await {
            Ok(outcome) => outcome.release.id,
            Err(AppError::Rejected(rejection)) => {
                tracing::warn!(release = %failed.id, code = %rejection.code, "the bug triage of a rollback could not be opened: {}", rejection.message);
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let link = Command::LinkTriage { triage: triage.clone() };
        match self.execute(&failed.id, link, shipgate(), RequestId::new(format!("triage-link:{}", failed.id))).await {
            Ok(_) => {}
            // Linked meanwhile by another instance's sweep, with the same triage.
            Err(AppError::Rejected(r)) if r.code == RejectionCode::AlreadyRecorded => {}
            Err(e) => return Err(e),
        }
        tracing::info!(release = %failed.id, %triage, "opened the bug triage of a rollback");
        Ok(true)
    }
}
