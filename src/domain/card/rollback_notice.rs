//! The rollback notice, platform-neutral: broadcast to the whole team (the release thread
//! and every incident channel) when a rollback starts, and edited when it completes. It
//! says what was deployed, what broke and what was rolled back, with the times that
//! matter: deploy to detection, detection to recovery.

use super::{local, CardContext};
use crate::domain::release::{no_known_good_target, Environment, HealthCheck, Release, Status};
use crate::domain::watch::{Criterion, Metric, Trip};
use crate::domain::ReleaseId;
use chrono::Duration;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackNotice {
    pub release_id: ReleaseId,
    /// "api 1.4.2".
    pub name: String,
    pub state: NoticeState,
    pub deployed: Vec<String>,
    pub broke: Vec<String>,
    pub rolled_back: Vec<String>,
    /// The metric whose chart tells the story: the first measured criterion that tripped.
    pub chart_metric: Option<Metric>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeState {
    /// Production is going back.
    Underway,
    /// Production runs the previous artifact again.
    Recovered,
}

impl NoticeState {
    pub fn headline(self, name: &str) -> String {
        match self {
            NoticeState::Underway => format!("⏪ Rolling back {name}"),
            NoticeState::Recovered => format!("✅ Rolled back {name}: production runs the previous artifact again"),
        }
    }
}

/// The notice of `release`'s rollback as it stands; `None` if it never rolled back.
pub fn rollback_notice(release: &Release, ctx: &CardContext) -> Option<RollbackNotice> {
    let rollback = release.rollback.as_ref()?;
    let name = format!("{} {}", release.service, release.version);
    let recovered = rollback.step.passed.as_ref();
    let state = match recovered {
        Some(_) if release.status != Status::RollingBack => NoticeState::Recovered,
        _ => NoticeState::Underway,
    };
    // The production deploy that is being undone, and when it happened.
    let deploy_mark = release
        .steps
        .iter()
        .flat_map(|s| s.deployments.iter())
        .rfind(|(d, _)| d.environment == Environment::Production);
    let mut deployed = vec![format!("{} · version {} · commit {}", release.service, release.version, release.git_sha)];
    match (&rollback.deployed, deploy_mark) {
        (Some(report), Some((_, mark))) => deployed.push(format!(
            "artifact {}, deployed {} by {} ({})",
            report.digest,
            local(mark.at, ctx),
            mark.by.display_name,
            match report.outcome {
                crate::domain::release::Outcome::Succeeded => "succeeded",
                crate::domain::release::Outcome::Failed => "failed",
            }
        )),
        (Some(report), None) => deployed.push(format!("artifact {}", report.digest)),
        (None, _) => deployed.push("nothing of this release reached production".into()),
    }
    if let Some((_, approval)) = release.production_approval() {
        deployed.push(format!("production approved by {} at {}", approval.by.display_name, local(approval.at, ctx)));
    }

    let criteria = release.watch.as_ref().map(|w| w.criteria).unwrap_or_default();
    let broke: Vec<String> = if rollback.trips.is_empty() {
        vec![format!(
            "{} (said by {}, {})",
            rollback.reason,
            rollback.started.by.display_name,
            local(rollback.started.at, ctx)
        )]
    } else {
        rollback
            .trips
            .iter()
            .map(|trip| format!("{} — since {}", trip.describe(&criteria), local(trip.since, ctx)))
            .collect()
    };
    let detected_at =
        rollback.trips.iter().map(|t| t.since).min().unwrap_or(rollback.started.at).min(rollback.started.at);

    let mut rolled_back = vec![match &rollback.target {
        Some(target) => format!("to version {} · artifact {}", target.version, target.digest),
        None => no_known_good_target(&release.service),
    }];
    let revert = rollback.step.deployments.iter().rev().find(|(d, _)| d.environment == Environment::Production);
    match revert {
        Some((report, mark)) => rolled_back.push(format!(
            "reverted by {} at {}; health checks {}",
            mark.by.display_name,
            local(mark.at, ctx),
            match report.health {
                HealthCheck::Passed => "passed",
                HealthCheck::Failed => "FAILED",
                HealthCheck::Unknown => "not known yet",
            }
        )),
        None => rolled_back.push("the revert has not been reported yet".into()),
    }
    if let Some((_, mark)) = deploy_mark {
        rolled_back.push(format!("deploy to detection: {}", span(detected_at - mark.at)));
    }
    match recovered {
        Some(done) => rolled_back.push(format!("detection to recovery: {}", span(done.at - detected_at))),
        None => rolled_back.push(format!("detected {}; recovery under way", local(detected_at, ctx))),
    }
    Some(RollbackNotice {
        release_id: release.id.clone(),
        name,
        state,
        deployed,
        broke,
        rolled_back,
        chart_metric: first_measured(&rollback.trips),
    })
}

fn first_measured(trips: &[Trip]) -> Option<Metric> {
    trips.iter().find(|t| t.criterion != Criterion::CriticalFlow).and_then(|t| t.criterion.metric())
}

/// "4 min 30 s", "52 s", "1 h 05 min".
pub fn span(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, m, _) => format!("{h} h {m:02} min"),
    }
}

/// When the notice's first message went out: its identity on every channel, so the edit
/// at completion finds the same messages.
pub fn notice_key(release: &Release) -> Option<String> {
    let rollback = release.rollback.as_ref()?;
    Some(format!("rollback-notice:{}", rollback.started.at.timestamp_millis()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::card::fixtures::{carol, Walk};
    use crate::domain::release::Command;

    #[test]
    fn spans_read_as_people_say_them() {
        assert_eq!(span(Duration::seconds(52)), "52 s");
        assert_eq!(span(Duration::seconds(240)), "4 min");
        assert_eq!(span(Duration::seconds(270)), "4 min 30 s");
        assert_eq!(span(Duration::seconds(3900)), "1 h 05 min");
        assert_eq!(span(Duration::seconds(-3)), "0 s");
    }

    #[test]
    fn the_notice_says_what_was_deployed_what_broke_and_what_was_rolled_back() {
        let mut walk = Walk::start();
        walk.walk_to(6);
        walk.now += Duration::minutes(4);
        walk.ok(&carol(), Command::TriggerRollback { reason: "checkout answers 500".into() });
        let notice = rollback_notice(&walk.release, &walk.ctx()).expect("rolling back");
        assert_eq!(notice.state, NoticeState::Underway);
        assert!(
            notice.deployed[0].starts_with(&format!("{} · version", walk.release.service)),
            "{:?}",
            notice.deployed
        );
        assert!(notice.deployed[1].contains("deployed"), "{:?}", notice.deployed);
        assert!(notice.deployed.iter().any(|l| l.starts_with("production approved by")), "{:?}", notice.deployed);
        assert!(notice.broke[0].starts_with("checkout answers 500 (said by Carol"), "{:?}", notice.broke);
        assert!(notice.rolled_back.iter().any(|l| l == "deploy to detection: 4 min"), "{:?}", notice.rolled_back);
        assert!(notice.rolled_back.iter().any(|l| l.contains("recovery under way")), "{:?}", notice.rolled_back);
        assert_eq!(notice.chart_metric, None, "a person's reason has no chart");
        assert!(notice_key(&walk.release).is_some());
    }
}
