//! Rollback drills: the rollback procedure run against staging, so the rollback path is
//! known to work before production needs it ("run a rollback drill at least once per
//! quarter").
//!
//! A drill is a release run with the built-in `rollback-drill` playbook (see
//! `config/playbooks/rollback-drill.toml`): it gets a thread, cards and buttons like any
//! release, and its history (started, completed) is the durable record of how long it
//! took. This module holds the rules around it: when a service is overdue for one, which
//! week's reminder is due, and what a drill playbook may not do.

use super::actor::Actor;
use super::ids::{ArtifactDigest, GitSha, ReleaseId, RoleName, ServiceName, Version};
use super::playbook::{Evidence, Playbook};
use super::release::{Rejection, RejectionCode};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The name of the built-in drill playbook; releases run with it are drills.
pub const ROLLBACK_DRILL: &str = "rollback-drill";

/// How often a service must be drilled by default: a quarter.
pub const DEFAULT_EVERY_DAYS: i64 = 90;
/// How often an overdue service is reminded by default: once a week.
pub const DEFAULT_REMIND_EVERY_DAYS: i64 = 7;

/// Whether releases of `playbook` are drills.
pub fn is_drill(playbook: &str) -> bool {
    playbook == ROLLBACK_DRILL
}

/// Whether `actor` may start a drill of `playbook`, checked before shipgate looks for what
/// to revert to: someone without the roles learns that first, whatever staging holds. The
/// same rule the release aggregate applies to every start.
pub fn check_starter(playbook: &Playbook, actor: &Actor) -> Result<(), Rejection> {
    if playbook.start_roles.is_empty() || actor.has_any_role(&playbook.start_roles) {
        return Ok(());
    }
    let roles: Vec<&str> = playbook.start_roles.iter().map(RoleName::as_str).collect();
    Err(Rejection::new(
        RejectionCode::NotAllowed,
        format!("starting a {} needs one of the roles {}", playbook.title, roles.join(", ")),
    ))
}

/// A drill must never take production: a playbook file that replaces the built-in drill
/// with a production deploy or a watch in it is refused when a drill starts, so a drill can
/// neither hold production, nor meet the freeze, nor move what is live.
pub fn check_playbook(playbook: &Playbook) -> Result<(), Rejection> {
    let production = playbook.steps.iter().find(|s| matches!(s.requires, Evidence::ProductionDeploy | Evidence::Watch));
    match production {
        None => Ok(()),
        Some(step) => Err(Rejection::new(
            RejectionCode::InvalidPlaybook,
            format!(
                "the {} playbook's step {} requires {}: a rollback drill runs against staging only; remove that step \
                 from the playbook file",
                playbook.name, step.id, step.requires
            ),
        )),
    }
}

/// A healthy staging deploy shipgate recorded for a service, with the artifact it shipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagingDeploy {
    pub release_id: ReleaseId,
    pub version: Version,
    pub git_sha: GitSha,
    pub digest: ArtifactDigest,
}

/// What a drill of `service` reverts staging to, given its healthy staging deploys newest
/// first: staging runs the newest one's artifact, and a deploy revert goes back to the
/// artifact before it (the newest deploy of a different digest), as a production rollback
/// goes back to the previous known-good artifact. Without one there is nothing to drill on.
pub fn revert_target<'a>(service: &ServiceName, deploys: &'a [StagingDeploy]) -> Result<&'a StagingDeploy, Rejection> {
    let Some(current) = deploys.first() else {
        return Err(Rejection::new(
            RejectionCode::NothingToRollBack,
            format!(
                "shipgate has recorded no healthy staging deploy of {service}, so there is nothing on staging to roll \
                 back; run a release of {service} through staging first, then drill"
            ),
        ));
    };
    deploys.iter().find(|d| d.digest != current.digest).ok_or_else(|| {
        Rejection::new(
            RejectionCode::NothingToRollBack,
            format!(
                "staging has only ever run one artifact of {service} ({} {}) as far as shipgate knows, so there is no \
                 previous artifact to revert to; drill after the next release reaches staging",
                current.version,
                current.digest.short()
            ),
        )
    })
}

/// How often drills are due and overdue services reminded (`[drills]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrillPolicy {
    /// A service is overdue once this long has passed since its last completed drill (or,
    /// never drilled, since shipgate first saw it).
    pub every: Duration,
    /// An overdue service's release channel is reminded at most once per this period.
    pub remind_every: Duration,
}

impl Default for DrillPolicy {
    fn default() -> Self {
        Self { every: Duration::days(DEFAULT_EVERY_DAYS), remind_every: Duration::days(DEFAULT_REMIND_EVERY_DAYS) }
    }
}

/// A completed drill, as the store's listing has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillRecord {
    pub release_id: ReleaseId,
    /// Who ran it (the person who started it), as people read their name.
    pub by: String,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
}

impl DrillRecord {
    /// How long the rollback took, from the drill's start to its completion.
    pub fn duration(&self) -> Duration {
        self.completed_at - self.started_at
    }
}

/// Where a service stands with drills at one moment: shown by `/release drills`, the API,
/// and on every release's first card (recorded when the release starts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillStanding {
    pub service: ServiceName,
    /// The last completed drill; `None` when the service has never had one.
    pub last: Option<DrillRecord>,
    /// When the next drill is due: the last drill (or first sighting) plus the period.
    /// `None` for a service shipgate has never seen, which owes nothing yet.
    pub due_at: Option<DateTime<Utc>>,
    pub overdue: bool,
}

impl DrillStanding {
    /// The standing of `service` at `now`, given its last completed drill and when
    /// shipgate first saw it (its first release of any kind).
    ///
    /// A service never drilled is not overdue on the day it appears: the quarter is
    /// counted from when shipgate first saw it, so installing shipgate does not flood the
    /// channel with reminders, and a service shipgate has known for a quarter without a
    /// drill is overdue like one whose last drill is a quarter old.
    pub fn at(
        service: ServiceName,
        last: Option<DrillRecord>,
        first_seen: Option<DateTime<Utc>>,
        policy: &DrillPolicy,
        now: DateTime<Utc>,
    ) -> DrillStanding {
        let since = last.as_ref().map(|d| d.completed_at).or(first_seen);
        let due_at = since.map(|since| since + policy.every);
        let overdue = due_at.is_some_and(|due| now >= due);
        DrillStanding { service, last, due_at, overdue }
    }

    /// The reminder due now for an overdue service: its period's number counted from when
    /// the drill fell due (0 for the first week, 1 for the second...). Every instance
    /// computes the same number for the same moment, so the pair (due date, number) names
    /// one reminder, recorded once however many timers ask; a drill moves the due date, and
    /// reminders stop until the next one falls due.
    pub fn reminder_due(&self, policy: &DrillPolicy, now: DateTime<Utc>) -> Option<Reminder> {
        let due_at = self.due_at.filter(|_| self.overdue)?;
        let period = policy.remind_every.num_seconds().max(1);
        let week = (now - due_at).num_seconds().max(0) / period;
        Some(Reminder { service: self.service.clone(), due_at, period: u32::try_from(week).unwrap_or(u32::MAX) })
    }

    /// One line for people: `last drill 12 Nov by Dana, took 14m` / `no drill yet` /
    /// with `— overdue` when it is.
    pub fn describe(&self, now: DateTime<Utc>) -> String {
        let head = match &self.last {
            None => "no rollback drill yet".to_owned(),
            Some(last) => format!(
                "last rollback drill {} ago ({}) by {}, took {}",
                human_duration(now - last.completed_at),
                last.completed_at.format("%Y-%m-%d"),
                last.by,
                human_duration(last.duration())
            ),
        };
        match (self.overdue, self.due_at) {
            (true, _) => format!("{head} — overdue: run `/release drill service:{}`", self.service),
            (false, Some(due)) => format!("{head}; next due by {}", due.format("%Y-%m-%d")),
            (false, None) => head,
        }
    }
}

/// One reminder of an overdue drill: for `service`, whose drill fell due at `due_at`, the
/// `period`-th reminder period since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    pub service: ServiceName,
    pub due_at: DateTime<Utc>,
    pub period: u32,
}

/// `3d 4h`, `2h 5m`, `14m 3s`, `40s`: the two largest units, for people.
pub fn human_duration(d: Duration) -> String {
    let total = d.num_seconds().max(0);
    let (days, hours, minutes, seconds) = (total / 86_400, total % 86_400 / 3600, total % 3600 / 60, total % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, _) if seconds == 0 => format!("{minutes}m"),
        (0, 0, _) => format!("{minutes}m {seconds}s"),
        (0, _, 0) => format!("{hours}h"),
        (0, _, _) => format!("{hours}h {minutes}m"),
        (_, 0, _) => format!("{days}d"),
        _ => format!("{days}d {hours}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("a time")
            + Duration::days(i64::from(day))
            + Duration::hours(i64::from(hour))
    }

    fn drill(completed_day: u32) -> DrillRecord {
        DrillRecord {
            release_id: ReleaseId::new("r1"),
            by: "Dana".into(),
            started_at: at(completed_day, 0) - Duration::minutes(14),
            completed_at: at(completed_day, 0),
        }
    }

    #[test]
    fn a_service_is_overdue_a_quarter_after_its_last_drill_or_first_sighting() {
        let policy = DrillPolicy::default();
        // (last drill day, first seen day, now day, overdue?)
        let cases: &[(Option<u32>, Option<u32>, u32, bool)] = &[
            (Some(0), Some(0), 89, false),
            (Some(0), Some(0), 90, true),
            (Some(10), Some(0), 95, false),
            (Some(10), Some(0), 100, true),
            (None, Some(0), 89, false),
            (None, Some(0), 90, true),
            (None, Some(0), 400, true),
            // Never seen: nothing is owed.
            (None, None, 400, false),
        ];
        for &(last, first_seen, now, overdue) in cases {
            let standing = DrillStanding::at(
                ServiceName::new("api"),
                last.map(drill),
                first_seen.map(|d| at(d, 0)),
                &policy,
                at(now, 0),
            );
            assert_eq!(standing.overdue, overdue, "last {last:?}, seen {first_seen:?}, now day {now}");
        }
    }

    #[test]
    fn the_period_is_configurable() {
        let policy = DrillPolicy { every: Duration::days(30), ..DrillPolicy::default() };
        let standing = DrillStanding::at(ServiceName::new("api"), Some(drill(0)), None, &policy, at(30, 0));
        assert!(standing.overdue);
        assert_eq!(standing.due_at, Some(at(30, 0)));
    }

    #[test]
    fn one_reminder_per_week_counted_from_when_the_drill_fell_due() {
        let policy = DrillPolicy::default();
        let standing = |now| DrillStanding::at(ServiceName::new("api"), Some(drill(0)), None, &policy, now);
        let period = |now| standing(now).reminder_due(&policy, now).map(|r| r.period);
        assert_eq!(period(at(89, 23)), None, "not overdue yet");
        assert_eq!(period(at(90, 0)), Some(0));
        assert_eq!(period(at(96, 23)), Some(0), "the same week: the same reminder");
        assert_eq!(period(at(97, 0)), Some(1));
        assert_eq!(period(at(120, 0)), Some(4));
        let reminder = standing(at(97, 0)).reminder_due(&policy, at(97, 0)).expect("due");
        assert_eq!(reminder.due_at, at(90, 0));
    }

    #[test]
    fn a_recent_drill_stops_the_reminders() {
        let policy = DrillPolicy::default();
        let standing =
            DrillStanding::at(ServiceName::new("api"), Some(drill(100)), Some(at(0, 0)), &policy, at(101, 0));
        assert!(!standing.overdue);
        assert_eq!(standing.reminder_due(&policy, at(101, 0)), None);
    }

    #[test]
    fn standings_read_as_sentences() {
        let policy = DrillPolicy::default();
        let api = ServiceName::new("api");
        let recent = DrillStanding::at(api.clone(), Some(drill(10)), Some(at(0, 0)), &policy, at(12, 3));
        assert_eq!(
            recent.describe(at(12, 3)),
            "last rollback drill 2d 3h ago (2026-01-11) by Dana, took 14m; next due by 2026-04-11"
        );
        let never = DrillStanding::at(api.clone(), None, Some(at(0, 0)), &policy, at(91, 0));
        assert_eq!(never.describe(at(91, 0)), "no rollback drill yet — overdue: run `/release drill service:api`");
        let unseen = DrillStanding::at(api, None, None, &policy, at(91, 0));
        assert_eq!(unseen.describe(at(91, 0)), "no rollback drill yet");
    }

    #[test]
    fn durations_read_in_their_two_largest_units() {
        for (seconds, shown) in [
            (0, "0s"),
            (40, "40s"),
            (840, "14m"),
            (843, "14m 3s"),
            (7200, "2h"),
            (7500, "2h 5m"),
            (86_400 * 3, "3d"),
            (86_400 * 3 + 3600 * 4 + 5, "3d 4h"),
        ] {
            assert_eq!(human_duration(Duration::seconds(seconds)), shown);
        }
    }

    fn deploy(version: &str, digest: char) -> StagingDeploy {
        StagingDeploy {
            release_id: ReleaseId::new(format!("r-{version}")),
            version: Version::parse(version).expect("a version"),
            git_sha: GitSha::parse("abcdef1").expect("a sha"),
            digest: ArtifactDigest::parse(&format!("sha256:{}", digest.to_string().repeat(64))).expect("a digest"),
        }
    }

    #[test]
    fn a_drill_reverts_staging_to_the_artifact_before_the_one_it_runs() {
        let api = ServiceName::new("api");
        // Newest first: 1.4.0 deployed twice (a retry), 1.3.0 before it.
        let deploys = [deploy("1.4.0", 'b'), deploy("1.4.0", 'b'), deploy("1.3.0", 'a'), deploy("1.2.0", 'c')];
        assert_eq!(revert_target(&api, &deploys).expect("a target").version.to_string(), "1.3.0");

        let none = revert_target(&api, &[]).expect_err("nothing on staging");
        assert_eq!(none.code, RejectionCode::NothingToRollBack);
        assert!(none.message.contains("no healthy staging deploy of api"), "{}", none.message);
        let one = revert_target(&api, &deploys[..2]).expect_err("one artifact only");
        assert!(one.message.contains("no previous artifact"), "{}", one.message);
    }

    #[test]
    fn a_drill_playbook_may_not_touch_production() {
        assert!(check_playbook(&Playbook::rollback_drill()).is_ok());
        let refused = check_playbook(&Playbook::ship_to_production()).expect_err("production steps");
        assert_eq!(refused.code, RejectionCode::InvalidPlaybook);
        assert!(refused.message.contains("staging only"), "{}", refused.message);
    }
}
