//! A model-based test of the release gates: random command sequences from random people
//! (right roles and wrong ones, the starter and others, CI, shipgate itself) over several
//! releases of two services, at times that cross the team's freezes (Friday afternoons,
//! holidays and their eves in New York), with right and wrong artifact digests, repeated
//! deliveries, failure paths, aborts, rollbacks, hotfix overrides and locks. Every command
//! goes through the pure domain ([`release::start`] / [`release::decide`]) with the facts
//! the app would read from the store, and after every command a checker written from the
//! playbook's text (not from the domain's own functions) reads the new events and the
//! whole history and says whether a rule was broken:
//!
//! - no step is skipped: a step is entered only after the previous step's gate passed, or
//!   by a restart a failure path (or a finished rollback) asked for;
//! - no gate passes with an unticked item, missing evidence, or fewer distinct approvers
//!   holding the gate's roles than it needs (the starter not counted where the playbook
//!   forbids self-approval);
//! - production only gets the digest that passed staging and the smoke test, never in a
//!   freeze without an approved, unexpired hotfix override, never while a lock blocks it;
//! - at most one release holds production per service;
//! - the history only grows: new events are numbered on from the last, refolding the whole
//!   history gives the state the commands left, and a repeated delivery changes nothing.
//!
//! Who holds production is enforced twice in shipgate: the domain refuses the gate into
//! production while the store names another holder (`Context::production_holder`), and the
//! store's `production_holds` table (one row per service) refuses a commit that would take
//! a held hold, so that two processes racing for it cannot both win. The harness models the
//! table the same way the app uses it (acquire when a command makes the release hold
//! production, release when it stops) and counts any commit the table refuses; in this
//! serial world such a refusal means the domain decided on a hold it should have refused,
//! so it fails the test too.
//!
//! A short run by default; `SHIPGATE_MODEL_COMMANDS=1000000 cargo test --release --test
//! gate_model -- --nocapture` runs cases until that many commands were checked and prints
//! what was accepted and refused, by code.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use shipgate::domain::actor::{Actor, Platform};
use shipgate::domain::freeze::calendar::{HolidayDate, HolidaysConfig, WeeklyConfig};
use shipgate::domain::freeze::{Calendar, FreezeConfig};
use shipgate::domain::ids::{
    ArtifactDigest, FailurePathId, GitSha, ItemId, ReleaseId, RequestId, RoleName, ServiceName, StepId, Version,
};
use shipgate::domain::lock::{Lock, LockEnd, LockId, LockMode};
use shipgate::domain::playbook::{Evidence, FailureAction, Gate, Item, Playbook};
use shipgate::domain::release::{
    self, Artifact, Command, Context, DeployStrategy, DeploymentReport, Environment, Event, HealthCheck,
    LiveDeployment, Outcome, Policy, ProductionHolder, Recorded, Release, Status, TestResult, ROLLBACK_STEP,
};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

// ----------------------------------------------------------------------------------------
// The world: people, services, the freeze calendar
// ----------------------------------------------------------------------------------------

const TEAM_TIMEZONE: Tz = chrono_tz::America::New_York;
const RELEASE_MANAGER: &str = "release-manager";
const ENGINEER: &str = "engineer";
const GIT_SHA: &str = "3f9c2e1";
/// Commits a release may be retargeted to (the fix).
const FIX_SHAS: [&str; 3] = ["4444abc", "5555bcd", "6666cde"];
const VERSIONS: [&str; 3] = ["1.4.0", "1.5.0", "1.3.0"];
const DIGESTS: [&str; 3] = [
    "sha256:1111111111111111111111111111111111111111111111111111111111111111",
    "sha256:2222222222222222222222222222222222222222222222222222222222222222",
    "sha256:3333333333333333333333333333333333333333333333333333333333333333",
];
/// Holidays in the team's calendar: two pairs of consecutive days, each pair sharing an eve.
const HOLIDAYS: [(i32, u32, u32, &str); 4] = [
    (2026, 12, 24, "Christmas Eve"),
    (2026, 12, 25, "Christmas Day"),
    (2026, 12, 31, "New Year's Eve"),
    (2027, 1, 1, "New Year's Day"),
];
/// Release slots: three releases of `api` may run side by side, one of `web`.
const SLOT_SERVICES: [&str; 4] = ["api", "api", "api", "web"];
const SERVICES: [&str; 2] = ["api", "web"];

/// Everyone who may send a command. Alice appears three times: renamed (the same person)
/// and as a different Slack user with the same name (another person).
fn people() -> Vec<Actor> {
    vec![
        Actor::new(Platform::Discord, "100", "Alice").with_roles([RELEASE_MANAGER]),
        Actor::new(Platform::Discord, "200", "Bob").with_roles([RELEASE_MANAGER]),
        Actor::new(Platform::Slack, "U300", "Carol").with_roles([ENGINEER]),
        Actor::new(Platform::Discord, "400", "Dave").with_roles([ENGINEER, RELEASE_MANAGER]),
        Actor::new(Platform::Discord, "100", "Ally").with_roles([RELEASE_MANAGER]),
        Actor::new(Platform::Slack, "U100", "Alice").with_roles([ENGINEER]),
        Actor::new(Platform::Api, "ci", "CI").with_roles([ENGINEER]),
        Actor::new(Platform::Discord, "666", "Mallory"),
        Actor::new(Platform::System, "shipgate", "shipgate"),
    ]
}
const SHIPGATE: usize = 8;

fn freeze_config() -> FreezeConfig {
    FreezeConfig {
        timezone: TEAM_TIMEZONE.name().to_owned(),
        working_days: ["mon", "tue", "wed", "thu", "fri"].iter().map(|d| (*d).to_owned()).collect(),
        weekly: vec![WeeklyConfig {
            name: "Friday afternoon".into(),
            from: "fri 12:00".into(),
            to: "mon 00:00".into(),
        }],
        holidays: HolidaysConfig {
            dates: HOLIDAYS
                .iter()
                .map(|(y, m, d, name)| HolidayDate { date: format!("{y:04}-{m:02}-{d:02}"), name: (*name).into() })
                .collect(),
            ics: Vec::new(),
            eve_from: Some("12:00".into()),
        },
        windows: Vec::new(),
        cron: Vec::new(),
        teams: Vec::new(),
    }
}

/// The built-in playbook, and a stricter one: two distinct approvers at pre-flight and at
/// the gate into production, neither of them the starter.
fn playbooks() -> [Playbook; 2] {
    let builtin = Playbook::ship_to_production();
    let mut strict = builtin.clone();
    for index in [0, 4] {
        strict.steps[index].gate.approvals = 2;
        strict.steps[index].gate.starter_may_approve = false;
    }
    [builtin, strict]
}

/// The playbook's constraint read on its own: "never deploy on a Friday afternoon or before
/// a holiday", in the team's time zone. A holiday itself counts; "before a holiday" is the
/// afternoon of the last working day before it. Written without the freeze calendar so a
/// calendar that forgets a window is caught; weekends are the calendar's own addition.
fn frozen_by_the_playbook(at: DateTime<Utc>) -> bool {
    let local = at.with_timezone(&TEAM_TIMEZONE);
    let date = local.date_naive();
    let afternoon = local.hour() >= 12;
    if local.weekday() == Weekday::Fri && afternoon {
        return true;
    }
    if is_holiday(date) {
        return true;
    }
    let working = |d: NaiveDate| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !is_holiday(d);
    if !afternoon || !working(date) {
        return false;
    }
    let mut next = date.succ_opt().expect("a date after today");
    while matches!(next.weekday(), Weekday::Sat | Weekday::Sun) {
        next = next.succ_opt().expect("a date after today");
    }
    is_holiday(next)
}

fn is_holiday(date: NaiveDate) -> bool {
    HOLIDAYS.iter().any(|(y, m, d, _)| (date.year(), date.month(), date.day()) == (*y, *m, *d))
}

fn same_person(a: &Actor, b: &Actor) -> bool {
    a.platform == b.platform && a.user_id == b.user_id
}

fn holds_a_role(actor: &Actor, roles: &[RoleName]) -> bool {
    roles.is_empty() || roles.iter().any(|r| actor.roles.contains(r))
}

fn digest(index: usize) -> ArtifactDigest {
    ArtifactDigest::parse(DIGESTS[index % DIGESTS.len()]).expect("a valid digest")
}

// ----------------------------------------------------------------------------------------
// Generated operations
// ----------------------------------------------------------------------------------------

/// Which step a command names.
#[derive(Debug, Clone, Copy)]
enum StepPick {
    /// The step the release is at (the rollback procedure while it rolls back).
    Current,
    Rollback,
    /// Any step of the playbook, by position.
    Index(usize),
}

/// Which digest a deploy report carries.
#[derive(Debug, Clone, Copy)]
enum DigestPick {
    /// The artifact recorded for the release.
    Recorded,
    /// The digest that passed staging.
    Staged,
    /// What is live in production for the service.
    Live,
    /// One of the three digests in play, right or wrong.
    Pool(usize),
}

/// One thing that happens, before it is resolved against the state it meets.
#[derive(Debug, Clone)]
enum Op {
    Start {
        slot: usize,
        by: usize,
        hotfix: bool,
        strict: bool,
        version: usize,
    },
    /// The next `times` things the release waits for (a tick, evidence, an approval, an
    /// override), each sent by the first person from `by` on who may send it.
    Progress {
        slot: usize,
        by: usize,
        times: usize,
    },
    Tick {
        slot: usize,
        by: usize,
        step: StepPick,
        item: usize,
    },
    Untick {
        slot: usize,
        by: usize,
        step: StepPick,
        item: usize,
    },
    Approve {
        slot: usize,
        by: usize,
        step: StepPick,
    },
    TakePath {
        slot: usize,
        by: usize,
        step: StepPick,
        path: usize,
        note: bool,
    },
    RejectGate {
        slot: usize,
        by: usize,
        step: StepPick,
        path: Option<usize>,
    },
    NoticeStall {
        slot: usize,
        by: usize,
        attempt_offset: u32,
    },
    Tests {
        slot: usize,
        by: usize,
        failed: u32,
    },
    Build {
        slot: usize,
        by: usize,
        digest: usize,
        right_sha: bool,
        right_version: bool,
    },
    Deploy {
        slot: usize,
        by: usize,
        production: bool,
        digest: DigestPick,
        succeeded: bool,
        health: usize,
        strategy: usize,
        downgrade_reason: bool,
    },
    RequestOverride {
        slot: usize,
        by: usize,
    },
    ApproveOverride {
        slot: usize,
        by: usize,
    },
    TriggerRollback {
        slot: usize,
        by: usize,
    },
    Abort {
        slot: usize,
        by: usize,
    },
    /// Points the release at another commit: the fix's (or the same one again).
    Retarget {
        slot: usize,
        by: usize,
        new_commit: bool,
        new_version: bool,
    },
    Lock {
        service: usize,
        production_only: bool,
        block: bool,
        minutes: i64,
    },
    Unlock {
        service: usize,
        by: usize,
    },
    Wait {
        minutes: i64,
    },
    /// The last accepted command delivered again: with its request id (a retried request),
    /// or with a new one (a double click).
    Replay {
        same_request: bool,
    },
}

fn step_pick() -> impl Strategy<Value = StepPick> {
    prop_oneof![8 => Just(StepPick::Current), 1 => Just(StepPick::Rollback), 2 => (0..8usize).prop_map(StepPick::Index)]
}

fn digest_pick() -> impl Strategy<Value = DigestPick> {
    prop_oneof![
        4 => Just(DigestPick::Staged),
        3 => Just(DigestPick::Recorded),
        1 => Just(DigestPick::Live),
        2 => (0..3usize).prop_map(DigestPick::Pool),
    ]
}

/// Most operations go to the first two slots, so that their releases get far.
fn slot() -> impl Strategy<Value = usize> + Clone {
    prop_oneof![5 => Just(0usize), 3 => Just(1usize), 1 => Just(2usize), 2 => Just(3usize)]
}

fn op() -> impl Strategy<Value = Op> {
    let slot = slot();
    let by = 0..people().len();
    // Waiting first: shrinking turns an operation that does not matter into a short wait.
    prop_oneof![
        6 => prop_oneof![7 => 1..60i64, 3 => 60..2_000i64].prop_map(|minutes| Op::Wait { minutes }),
        3 => (slot.clone(), by.clone(), prop::bool::weighted(0.4), any::<bool>(), 0..VERSIONS.len())
            .prop_map(|(slot, by, hotfix, strict, version)| Op::Start { slot, by, hotfix, strict, version }),
        30 => (slot.clone(), by.clone(), 1..5usize).prop_map(|(slot, by, times)| Op::Progress { slot, by, times }),
        6 => (slot.clone(), by.clone(), step_pick(), 0..5usize)
            .prop_map(|(slot, by, step, item)| Op::Tick { slot, by, step, item }),
        2 => (slot.clone(), by.clone(), step_pick(), 0..5usize)
            .prop_map(|(slot, by, step, item)| Op::Untick { slot, by, step, item }),
        4 => (slot.clone(), by.clone(), step_pick()).prop_map(|(slot, by, step)| Op::Approve { slot, by, step }),
        2 => (slot.clone(), by.clone(), step_pick(), 0..2usize, prop::bool::weighted(0.8))
            .prop_map(|(slot, by, step, path, note)| Op::TakePath { slot, by, step, path, note }),
        1 => (slot.clone(), by.clone(), step_pick(), prop::option::of(0..2usize))
            .prop_map(|(slot, by, step, path)| Op::RejectGate { slot, by, step, path }),
        1 => (slot.clone(), prop::bool::weighted(0.8), 0..2u32).prop_map(|(slot, system, attempt_offset)| {
            Op::NoticeStall { slot, by: if system { SHIPGATE } else { 0 }, attempt_offset }
        }),
        2 => (slot.clone(), by.clone(), prop_oneof![3 => Just(0u32), 1 => 1..3u32])
            .prop_map(|(slot, by, failed)| Op::Tests { slot, by, failed }),
        2 => (slot.clone(), by.clone(), 0..3usize, prop::bool::weighted(0.9), prop::bool::weighted(0.9))
            .prop_map(|(slot, by, digest, right_sha, right_version)| Op::Build { slot, by, digest, right_sha, right_version }),
        4 => (
            slot.clone(),
            by.clone(),
            any::<bool>(),
            digest_pick(),
            prop::bool::weighted(0.8),
            0..3usize,
            0..5usize,
            prop::bool::weighted(0.3),
        )
            .prop_map(|(slot, by, production, digest, succeeded, health, strategy, downgrade_reason)| Op::Deploy {
                slot,
                by,
                production,
                digest,
                succeeded,
                health,
                strategy,
                downgrade_reason
            }),
        2 => (slot.clone(), by.clone()).prop_map(|(slot, by)| Op::RequestOverride { slot, by }),
        2 => (slot.clone(), by.clone()).prop_map(|(slot, by)| Op::ApproveOverride { slot, by }),
        1 => (slot.clone(), by.clone()).prop_map(|(slot, by)| Op::TriggerRollback { slot, by }),
        1 => (slot.clone(), by.clone()).prop_map(|(slot, by)| Op::Abort { slot, by }),
        1 => (slot.clone(), by.clone(), prop::bool::weighted(0.8), any::<bool>())
            .prop_map(|(slot, by, new_commit, new_version)| Op::Retarget { slot, by, new_commit, new_version }),
        1 => (0..SERVICES.len(), any::<bool>(), prop::bool::weighted(0.8), 5..180i64)
            .prop_map(|(service, production_only, block, minutes)| Op::Lock { service, production_only, block, minutes }),
        1 => (0..SERVICES.len(), by.clone()).prop_map(|(service, by)| Op::Unlock { service, by }),
        2 => any::<bool>().prop_map(|same_request| Op::Replay { same_request }),
    ]
}

/// A case: when it starts (some hour of December 2026, New York time) and what happens.
fn case(commands: std::ops::Range<usize>) -> impl Strategy<Value = (u32, Vec<Op>)> {
    (0..31 * 24u32, prop::collection::vec(op(), commands))
}

// ----------------------------------------------------------------------------------------
// The checker: the playbook's rules over the events, kept apart from the domain
// ----------------------------------------------------------------------------------------

/// One step attempt as the events describe it.
#[derive(Debug, Clone, Default)]
struct Attempt {
    ticked: BTreeSet<ItemId>,
    approvers: Vec<Actor>,
    /// Failures of the latest result per suite.
    tests: BTreeMap<String, u32>,
    artifact: Option<ArtifactDigest>,
    /// The last staging deploy: its digest and whether it succeeded with passing health checks.
    staging: Option<(ArtifactDigest, bool)>,
    /// The digest on staging when the smoke-test gate passed.
    smoke_passed: Option<ArtifactDigest>,
    gate_passed: bool,
    /// With the rollback procedure: the last revert deploy and whether it came up healthy.
    revert: Option<(ArtifactDigest, bool)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Active,
    RollingBack,
    Finished,
}

#[derive(Debug, Clone)]
struct ProductionDeploy {
    digest: ArtifactDigest,
    healthy: bool,
    at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct OverrideSeen {
    requested_by: Actor,
    approved: Option<(Actor, DateTime<Utc>)>,
}

/// Where the checker believes a release is, from its events alone.
#[derive(Debug, Clone)]
struct Shadow {
    id: ReleaseId,
    service: ServiceName,
    version: Version,
    /// The commit the release ships: the start's, or the last retarget's.
    git_sha: GitSha,
    hotfix: bool,
    starter: Actor,
    playbook: Playbook,
    phase: Phase,
    current: usize,
    attempts: Vec<Attempt>,
    rollback: Attempt,
    /// Where a finished rollback resumes; `None` ends the release.
    resume_after_rollback: Option<usize>,
    production: Option<ProductionDeploy>,
    production_attempted: bool,
    /// What was live for the service before this release's production deploy, and whose.
    previous_live: Option<(ReleaseId, ArtifactDigest)>,
    freeze_override: Option<OverrideSeen>,
    events_read: u64,
}

/// Facts outside a release that the checker needs: the locks, what is live per service as
/// the deploy events said, and the override lifetime from config.
struct Surroundings<'a> {
    locks: &'a [Lock],
    live: &'a mut BTreeMap<ServiceName, (ReleaseId, ArtifactDigest)>,
    override_ttl: Duration,
}

impl Shadow {
    fn new(id: ReleaseId, started: &Recorded) -> Result<Shadow, String> {
        let Event::Started { service, version, git_sha, hotfix, playbook, .. } = &started.event else {
            return Err(format!("the first event of {id} is {:?}, not started", started.event.kind()));
        };
        if started.seq != 1 {
            return Err(format!("the first event of {id} has seq {}, not 1", started.seq));
        }
        Ok(Shadow {
            id,
            service: service.clone(),
            version: version.clone(),
            git_sha: git_sha.clone(),
            hotfix: *hotfix,
            starter: started.actor.clone(),
            playbook: (**playbook).clone(),
            phase: Phase::Active,
            current: 0,
            attempts: vec![Attempt::default(); playbook.steps.len()],
            rollback: Attempt::default(),
            resume_after_rollback: None,
            production: None,
            production_attempted: false,
            previous_live: None,
            freeze_override: None,
            events_read: 1,
        })
    }

    fn step_requiring(&self, evidence: Evidence) -> Option<usize> {
        self.playbook.steps.iter().position(|s| s.requires == evidence)
    }

    fn index_of(&self, step: &StepId) -> Result<usize, String> {
        self.playbook.steps.iter().position(|s| &s.id == step).ok_or_else(|| format!("unknown step {step}"))
    }

    /// Holds production: from entering the production step until the watch after it ends,
    /// and while rolling back.
    fn holds_production(&self) -> bool {
        match self.phase {
            Phase::RollingBack => true,
            Phase::Finished => false,
            Phase::Active => match self.step_requiring(Evidence::ProductionDeploy) {
                Some(production) => {
                    let watch_end = self.step_requiring(Evidence::Watch).unwrap_or(production).max(production);
                    (production..=watch_end).contains(&self.current)
                }
                None => false,
            },
        }
    }

    /// The latest artifact recorded in the current attempts.
    fn artifact(&self) -> Option<&ArtifactDigest> {
        self.attempts.iter().rev().find_map(|a| a.artifact.as_ref())
    }

    fn staging_passed(&self) -> Option<&ArtifactDigest> {
        let staging = self.step_requiring(Evidence::StagingDeploy)?;
        match &self.attempts[staging].staging {
            Some((digest, true)) => Some(digest),
            _ => None,
        }
    }

    fn override_valid_at(&self, at: DateTime<Utc>, ttl: Duration) -> bool {
        self.hotfix
            && self.freeze_override.as_ref().is_some_and(|o| match &o.approved {
                Some((by, approved_at)) => {
                    !same_person(by, &o.requested_by)
                        && by.roles.contains(&RoleName::new(RELEASE_MANAGER))
                        && at < *approved_at + ttl
                }
                None => false,
            })
    }

    /// The attempt a tick, approval or rejection of `step` lands in: the step the release
    /// is at, or the rollback procedure while it rolls back.
    fn attempt_in_play(&mut self, step: &StepId) -> Result<&mut Attempt, String> {
        if step.as_str() == ROLLBACK_STEP {
            return match self.phase {
                Phase::RollingBack => Ok(&mut self.rollback),
                _ => Err(format!("{step} worked on while no rollback runs")),
            };
        }
        let index = self.index_of(step)?;
        if self.phase != Phase::Active || index != self.current {
            return Err(format!(
                "step {step} worked on while the release is {:?} at {}",
                self.phase, self.playbook.steps[self.current].id
            ));
        }
        Ok(&mut self.attempts[index])
    }

    /// Checks a gate's rule on an attempt: every item ticked, and enough distinct people
    /// holding one of the gate's roles approved (not the starter where that is forbidden).
    fn check_gate(&self, what: &str, gate: &Gate, items: &[Item], attempt: &Attempt) -> Result<(), String> {
        let open: Vec<&str> = items.iter().filter(|i| !attempt.ticked.contains(&i.id)).map(|i| i.id.as_str()).collect();
        if !open.is_empty() {
            return Err(format!("the gate of {what} passed with open items {open:?}"));
        }
        let mut counted: Vec<&Actor> = Vec::new();
        for approver in &attempt.approvers {
            let eligible = holds_a_role(approver, &gate.roles)
                && (gate.starter_may_approve || !same_person(approver, &self.starter));
            if eligible && !counted.iter().any(|c| same_person(c, approver)) {
                counted.push(approver);
            }
        }
        if (counted.len() as u32) < gate.approvals {
            return Err(format!(
                "the gate of {what} passed with {} of {} required approvals (approvers {:?}, roles {:?}, starter {} may approve: {})",
                counted.len(),
                gate.approvals,
                attempt.approvers.iter().map(ToString::to_string).collect::<Vec<_>>(),
                gate.roles,
                self.starter,
                gate.starter_may_approve
            ));
        }
        Ok(())
    }

    fn check_evidence(&self, index: usize, at: DateTime<Utc>) -> Result<(), String> {
        let step = &self.playbook.steps[index];
        let attempt = &self.attempts[index];
        let missing = match step.requires {
            Evidence::None => None,
            Evidence::TestsPassed => (attempt.tests.is_empty() || attempt.tests.values().any(|failed| *failed > 0))
                .then(|| format!("zero test failures (results {:?})", attempt.tests)),
            Evidence::Artifact => attempt.artifact.is_none().then(|| "an artifact".to_owned()),
            Evidence::StagingDeploy => match (self.artifact(), &attempt.staging) {
                (Some(artifact), Some((deployed, true))) if artifact == deployed => None,
                (artifact, staging) => {
                    Some(format!("a healthy staging deploy of the artifact {artifact:?} (last: {staging:?})"))
                }
            },
            Evidence::SmokeTest => self.staging_passed().is_none().then(|| "a healthy staging deploy".to_owned()),
            Evidence::ProductionDeploy => match &self.production {
                Some(p) if p.healthy => None,
                other => Some(format!("a healthy production deploy (have {other:?})")),
            },
            Evidence::Watch => {
                let minutes = i64::from(step.watch_minutes.map_or(0, |w| w.min));
                match &self.production {
                    Some(p) if at >= p.at + Duration::minutes(minutes) => None,
                    other => Some(format!("{minutes} minutes of watching the production deploy (have {other:?})")),
                }
            }
        };
        match missing {
            Some(missing) => Err(format!("the gate of {} passed without {missing}", step.id)),
            None => Ok(()),
        }
    }

    fn lock_blocks(&self, locks: &[Lock], environment: Environment, at: DateTime<Utc>) -> Option<String> {
        locks
            .iter()
            .find(|l| {
                l.mode == LockMode::Block
                    && l.service == self.service
                    && l.environment.is_none_or(|e| e == environment)
                    && l.from <= at
                    && at < l.until
                    && l.ended.as_ref().is_none_or(|end| match end {
                        LockEnd::Unlocked { at: ended, .. } | LockEnd::Expired { at: ended } => at < *ended,
                    })
            })
            .map(|l| format!("{} ({} until {})", l.id, l.reason, l.until))
    }

    /// Reads the events one command appended, checking each against the playbook.
    fn read(&mut self, recorded: &[Recorded], around: &mut Surroundings<'_>) -> Result<(), String> {
        // What may be entered next within this command: the step after a passed gate, or
        // the step a failure path or a finished rollback restarts from.
        let mut may_enter: Option<usize> = None;
        let mut may_restart: Option<usize> = None;
        for r in recorded {
            if r.seq != self.events_read + 1 {
                return Err(format!(
                    "event {} follows event {}: the history has a gap or was rewritten",
                    r.seq, self.events_read
                ));
            }
            self.events_read = r.seq;
            self.read_one(r, around, &mut may_enter, &mut may_restart)
                .map_err(|e| format!("{} (event {} `{}` by {} at {})", e, r.seq, r.event.kind(), r.actor, r.at))?;
        }
        Ok(())
    }

    fn read_one(
        &mut self,
        r: &Recorded,
        around: &mut Surroundings<'_>,
        may_enter: &mut Option<usize>,
        may_restart: &mut Option<usize>,
    ) -> Result<(), String> {
        // A follow-up (what to do next) may be the last word of a release that just ended,
        // and so may the link to its rollback's bug triage, opened a moment later.
        if self.phase == Phase::Finished
            && !matches!(r.event, Event::FollowUpRecorded { .. } | Event::TriageOpened { .. })
        {
            return Err("an event after the release finished".into());
        }
        let production_index = self.step_requiring(Evidence::ProductionDeploy);
        match &r.event {
            Event::Started { .. } => return Err("started twice".into()),
            // Only a bug triage's start records what it triages, with the start itself.
            Event::TriageOf { .. } => return Err("a release became a triage after it started".into()),
            // The link to the triage moves no gate; it follows a rollback only.
            Event::TriageOpened { .. } => {
                if self.phase != Phase::RollingBack && self.phase != Phase::Finished {
                    return Err("a triage linked to a release that is not rolling back or rolled back".into());
                }
            }
            // The watch's own record (baseline, samples, alerts, accepted blindness) moves no
            // gate by itself; a rollback it starts is its own event, checked below. The
            // generator here issues no watch commands: tests of the watch live with the domain.
            Event::WatchStarted { .. }
            | Event::WatchSampled { .. }
            | Event::AlertRecorded { .. }
            | Event::BlindWatchAccepted { .. } => {}
            // The rollback hook reverts production during a rollback and moves no gate; the
            // procedure's gate waits for its outcome, which the domain's own tests check.
            Event::RollbackHookRequested { .. }
            | Event::RollbackHookStarted { .. }
            | Event::RollbackHookFinished { .. } => {
                if self.phase != Phase::RollingBack {
                    return Err("a rollback hook event while the release is not rolling back".into());
                }
            }
            Event::ItemTicked { step, item } => {
                let items = self.items_of(step)?;
                if !items.iter().any(|i| &i.id == item) {
                    return Err(format!("ticked {item}, which step {step} does not have"));
                }
                self.attempt_in_play(step)?.ticked.insert(item.clone());
            }
            Event::ItemUnticked { step, item, .. } => {
                let attempt = self.attempt_in_play(step)?;
                attempt.ticked.remove(item);
                // The approvals were given to a full checklist; they no longer count.
                attempt.approvers.clear();
            }
            Event::Approved { step, .. } => {
                self.attempt_in_play(step)?.approvers.push(r.actor.clone());
            }
            Event::GatePassed { step, .. } => {
                let index = self.index_of(step)?;
                if self.phase != Phase::Active || index != self.current {
                    return Err(format!("the gate of {step} passed while the release is at {}", self.current));
                }
                let s = self.playbook.steps[index].clone();
                self.check_gate(step.as_str(), &s.gate, &s.items, &self.attempts[index])?;
                self.check_evidence(index, r.at)?;
                if production_index == Some(index + 1) {
                    if frozen_by_the_playbook(r.at) && !self.override_valid_at(r.at, around.override_ttl) {
                        return Err("the gate into production passed in a freeze without a valid override".into());
                    }
                    if let Some(lock) = self.lock_blocks(around.locks, Environment::Production, r.at) {
                        return Err(format!("the gate into production passed under the lock {lock}"));
                    }
                }
                let smoke = (s.requires == Evidence::SmokeTest).then(|| self.staging_passed().cloned()).flatten();
                let attempt = &mut self.attempts[index];
                attempt.gate_passed = true;
                attempt.smoke_passed = smoke;
                *may_enter = Some(index + 1);
            }
            Event::StepEntered { step } => {
                let index = self.index_of(step)?;
                let by_gate = may_enter.take() == Some(index);
                let by_restart = may_restart.take() == Some(index);
                if !by_gate && !by_restart {
                    return Err(format!(
                        "step {step} entered from step {} without passing its gate or a restart: a skipped step",
                        self.playbook.steps[self.current].id
                    ));
                }
                self.current = index;
            }
            Event::FailurePathTaken { step, path, action, .. } => {
                let index = self.index_of(step)?;
                if self.phase != Phase::Active || index != self.current {
                    return Err(format!("failure path {path} of {step} taken while the release is elsewhere"));
                }
                let Some(p) = self.playbook.steps[index].failure_paths.iter().find(|p| &p.id == path).cloned() else {
                    return Err(format!("failure path {path} is not a path of step {step}"));
                };
                let target = match &p.to {
                    Some(to) => Some(self.index_of(to)?),
                    None => None,
                };
                // A rollback path taken before anything reached production has nothing to
                // roll back: it restarts where the rollback would resume, or ends.
                let allowed = *action == p.action
                    || (p.action == FailureAction::Rollback
                        && !self.production_attempted
                        && matches!(action, FailureAction::Restart | FailureAction::Abort));
                if !allowed {
                    return Err(format!("failure path {path} ({}) taken as {action}", p.action));
                }
                match action {
                    FailureAction::Restart => *may_restart = Some(target.unwrap_or(index)),
                    FailureAction::Retry => *may_restart = Some(index),
                    FailureAction::Rollback => self.resume_after_rollback = target,
                    FailureAction::Abort => {}
                }
            }
            Event::GateRejected { step, .. } | Event::StallNoticed { step, .. } => {
                self.attempt_in_play(step)?;
            }
            Event::Restarted { from } => {
                let index = self.index_of(from)?;
                if *may_restart != Some(index) {
                    return Err(format!("restarted from {from} without a failure path or rollback leading there"));
                }
                if index > self.current {
                    return Err(format!("a restart moved forward to {from}"));
                }
                if let Some(p) = &self.production {
                    return Err(format!("a restart forgets {} standing in production without a rollback", p.digest));
                }
                for attempt in &mut self.attempts[index..] {
                    *attempt = Attempt::default();
                }
                if production_index.is_some_and(|p| index <= p) {
                    self.production_attempted = false;
                    self.previous_live = None;
                }
            }
            Event::FollowUpRecorded { .. } => {}
            Event::TestResultRecorded { step, result } => {
                self.require_evidence_step(step, Evidence::TestsPassed)?;
                self.attempts[self.current].tests.insert(result.suite.clone(), result.failed);
            }
            Event::ArtifactRecorded { step, artifact } => {
                self.require_evidence_step(step, Evidence::Artifact)?;
                let (a, b) = (artifact.git_sha.as_str(), self.git_sha.as_str());
                if !(a.starts_with(b) || b.starts_with(a)) {
                    return Err(format!("an artifact tagged with git SHA {a} recorded for a release of {b}"));
                }
                if artifact.version.semver() != self.version.semver() {
                    return Err(format!(
                        "an artifact tagged {} recorded for version {}",
                        artifact.version, self.version
                    ));
                }
                self.attempts[self.current].artifact = Some(artifact.digest.clone());
            }
            Event::DeploymentRecorded { report, rollback: true, .. } => self.read_revert(report, around)?,
            Event::DeploymentRecorded { step, report, .. } => match report.environment {
                Environment::Staging => {
                    self.require_evidence_step(step, Evidence::StagingDeploy)?;
                    if self.artifact() != Some(&report.digest) {
                        return Err(format!(
                            "staging got {} but the tagged artifact is {:?}",
                            report.digest,
                            self.artifact()
                        ));
                    }
                    if let Some(lock) = self.lock_blocks(around.locks, Environment::Staging, r.at) {
                        return Err(format!("a staging deploy under the lock {lock}"));
                    }
                    let healthy = report.outcome == Outcome::Succeeded && report.health == HealthCheck::Passed;
                    self.attempts[self.current].staging = Some((report.digest.clone(), healthy));
                }
                Environment::Production => {
                    self.require_evidence_step(step, Evidence::ProductionDeploy)?;
                    self.read_production_deploy(r, report, around)?;
                }
            },
            Event::FreezeOverrideRequested { .. } => {
                if !self.hotfix {
                    return Err("a freeze override requested for a release that is not a hotfix".into());
                }
                self.freeze_override = Some(OverrideSeen { requested_by: r.actor.clone(), approved: None });
            }
            Event::FreezeOverrideApproved { .. } => {
                let Some(o) = self.freeze_override.as_mut() else {
                    return Err("a freeze override approved that nobody requested".into());
                };
                if o.approved.is_some() {
                    return Err("a freeze override approved twice".into());
                }
                if same_person(&o.requested_by, &r.actor) {
                    return Err("a freeze override approved by the person who requested it".into());
                }
                if !r.actor.roles.contains(&RoleName::new(RELEASE_MANAGER)) {
                    return Err("a freeze override approved by someone who is not a release manager".into());
                }
                o.approved = Some((r.actor.clone(), r.at));
            }
            Event::RollbackStarted { then, .. } => {
                if self.phase != Phase::Active {
                    return Err("a rollback started while the release is not active".into());
                }
                if !self.production_attempted {
                    return Err("a rollback started though nothing reached production".into());
                }
                if self.production.is_some() {
                    if let Some((holder, _)) = around.live.get(&self.service).filter(|(id, _)| id != &self.id) {
                        return Err(format!(
                            "a rollback started while {holder}'s deploy is live: the revert would undo another release"
                        ));
                    }
                }
                self.phase = Phase::RollingBack;
                self.rollback = Attempt::default();
                match then {
                    release::AfterRollback::Resume(step) => {
                        let index = self.index_of(step)?;
                        if self.resume_after_rollback != Some(index) {
                            return Err(format!("the rollback resumes at {step}, which no failure path named"));
                        }
                    }
                    release::AfterRollback::End | release::AfterRollback::Abort => self.resume_after_rollback = None,
                }
            }
            Event::AbortRequested { .. } => {
                if self.phase != Phase::RollingBack {
                    return Err("an abort requested outside a rollback".into());
                }
                self.resume_after_rollback = None;
            }
            Event::RollbackCompleted { then } => {
                if self.phase != Phase::RollingBack {
                    return Err("a rollback completed that never started".into());
                }
                let procedure = self.playbook.rollback.clone();
                self.check_gate("the rollback procedure", &procedure.gate, &procedure.items, &self.rollback)?;
                if !matches!(self.rollback.revert, Some((_, true))) {
                    return Err(format!(
                        "the rollback completed without a healthy revert (have {:?})",
                        self.rollback.revert
                    ));
                }
                self.production = None;
                match then {
                    release::AfterRollback::Resume(step) => {
                        let index = self.index_of(step)?;
                        if self.resume_after_rollback != Some(index) {
                            return Err(format!("the rollback resumed at {step}, which no failure path named"));
                        }
                        self.phase = Phase::Active;
                        *may_restart = Some(index);
                    }
                    release::AfterRollback::End | release::AfterRollback::Abort => self.phase = Phase::Finished,
                }
            }
            Event::Retargeted { from_git_sha, git_sha, version, .. } => {
                // "Fix it, merge, and restart from Step 1": only before Step 1's gate passed,
                // so nothing downstream was made from the old commit in this attempt.
                if self.phase != Phase::Active || self.current != 0 || self.attempts[0].gate_passed {
                    return Err(format!("retargeted while at step {} ({:?})", self.current, self.phase));
                }
                if from_git_sha != &self.git_sha {
                    return Err(format!("retargeted from {from_git_sha}, but the release ships {}", self.git_sha));
                }
                if git_sha.same_commit(&self.git_sha) && version == &self.version {
                    return Err("retargeted to what the release already ships".into());
                }
                self.git_sha = git_sha.clone();
                self.version = version.clone();
                // Nothing recorded for the old commit counts for the new one: the checker
                // forgets it here, so a gate the release passes on old ticks or evidence
                // is caught. The restart that follows says the same in the history.
                for attempt in &mut self.attempts {
                    *attempt = Attempt::default();
                }
                *may_restart = Some(0);
            }
            Event::Completed => {
                if self.phase != Phase::Active || *may_enter != Some(self.playbook.steps.len()) {
                    return Err("completed without passing the last gate".into());
                }
                self.phase = Phase::Finished;
            }
            Event::Aborted { .. } => {
                if self.phase != Phase::Active {
                    return Err("aborted outside the active phase".into());
                }
                // Ending without a revert is right only when a later release's deploy runs
                // in production now: reverting would undo it.
                let replaced = around.live.get(&self.service).is_some_and(|(id, _)| {
                    id != &self.id && self.previous_live.as_ref().is_none_or(|(before, _)| before != id)
                });
                if (self.production_attempted || self.production.is_some()) && !replaced {
                    return Err("aborted without rolling back what reached production".into());
                }
                self.phase = Phase::Finished;
            }
        }
        Ok(())
    }

    fn items_of(&self, step: &StepId) -> Result<Vec<Item>, String> {
        if step.as_str() == ROLLBACK_STEP {
            return Ok(self.playbook.rollback.items.clone());
        }
        Ok(self.playbook.steps[self.index_of(step)?].items.clone())
    }

    fn require_evidence_step(&self, step: &StepId, evidence: Evidence) -> Result<(), String> {
        let index = self.index_of(step)?;
        if self.phase != Phase::Active || index != self.current || self.playbook.steps[index].requires != evidence {
            return Err(format!(
                "{evidence} evidence recorded at {step} while the release is at step {}",
                self.current
            ));
        }
        Ok(())
    }

    fn read_production_deploy(
        &mut self,
        r: &Recorded,
        report: &DeploymentReport,
        around: &mut Surroundings<'_>,
    ) -> Result<(), String> {
        let healthy = report.outcome == Outcome::Succeeded && report.health == HealthCheck::Passed;
        if let Some(standing) = self.production.as_mut().filter(|p| p.digest == report.digest && !p.healthy) {
            // The same deploy reported again once its health checks finished.
            standing.healthy = healthy;
            return Ok(());
        }
        if let Some(standing) = &self.production {
            return Err(format!("a second production deploy while {} stands", standing.digest));
        }
        let smoke = self.step_requiring(Evidence::SmokeTest).and_then(|i| self.attempts[i].smoke_passed.as_ref());
        if self.staging_passed() != Some(&report.digest) || smoke != Some(&report.digest) {
            return Err(format!(
                "production got {} but staging passed {:?} and the smoke test passed {smoke:?}",
                report.digest,
                self.staging_passed()
            ));
        }
        if !matches!(
            report.strategy,
            Some(DeployStrategy::Rolling | DeployStrategy::BlueGreen | DeployStrategy::Canary)
        ) {
            return Err(format!("a production deploy with strategy {:?}, which risks downtime", report.strategy));
        }
        if frozen_by_the_playbook(r.at) && !self.override_valid_at(r.at, around.override_ttl) {
            return Err(format!(
                "a production deploy in a freeze ({} New York time) without an approved, unexpired hotfix override (hotfix: {}, override: {:?})",
                r.at.with_timezone(&TEAM_TIMEZONE).format("%a %d %b %H:%M"),
                self.hotfix,
                self.freeze_override
            ));
        }
        if let Some(lock) = self.lock_blocks(around.locks, Environment::Production, r.at) {
            return Err(format!("a production deploy under the lock {lock}"));
        }
        if !self.production_attempted {
            self.previous_live = around.live.get(&self.service).filter(|(id, _)| id != &self.id).cloned();
        }
        self.production_attempted = true;
        if report.outcome == Outcome::Succeeded {
            self.production = Some(ProductionDeploy { digest: report.digest.clone(), healthy, at: r.at });
            around.live.insert(self.service.clone(), (self.id.clone(), report.digest.clone()));
        }
        Ok(())
    }

    fn read_revert(&mut self, report: &DeploymentReport, around: &mut Surroundings<'_>) -> Result<(), String> {
        if self.phase != Phase::RollingBack || report.environment != Environment::Production {
            return Err(format!("a revert deploy to {} outside a rollback", report.environment));
        }
        match self.previous_live.as_ref().map(|(_, digest)| digest) {
            Some(previous) if previous != &report.digest => {
                return Err(format!(
                    "the revert deployed {} instead of the previous artifact {previous}",
                    report.digest
                ))
            }
            None if self.production.as_ref().is_some_and(|p| p.digest == report.digest) => {
                return Err("the revert deployed the very artifact it rolls back".into())
            }
            _ => {}
        }
        let healthy = report.outcome == Outcome::Succeeded && report.health == HealthCheck::Passed;
        self.rollback.revert = Some((report.digest.clone(), healthy));
        if report.outcome == Outcome::Succeeded {
            match &self.previous_live {
                Some(previous) => around.live.insert(self.service.clone(), previous.clone()),
                None => around.live.remove(&self.service),
            };
        }
        Ok(())
    }
}

// ----------------------------------------------------------------------------------------
// The harness: the app and store around the domain, in memory and in order
// ----------------------------------------------------------------------------------------

/// A release in a slot, with its history and the checker's reading of it.
struct Tracked {
    release: Release,
    history: Vec<Recorded>,
    shadow: Shadow,
}

/// The last command the domain accepted, for delivering it again.
#[derive(Clone)]
struct Delivered {
    release_id: ReleaseId,
    by: Actor,
    command: Command,
    request_id: RequestId,
    answer: Vec<Recorded>,
}

/// Commands checked, accepted by name and refused by code, over every case of a run.
#[derive(Default)]
struct Tally {
    checked: u64,
    accepted: BTreeMap<&'static str, u64>,
    refused: BTreeMap<String, u64>,
    replays_answered: u64,
    productions: u64,
    frozen_overrides_used: u64,
    completed: u64,
    rolled_back: u64,
}

struct World {
    now: DateTime<Utc>,
    people: Vec<Actor>,
    playbooks: [Playbook; 2],
    calendar: Calendar,
    policy: Policy,
    slots: Vec<Option<Tracked>>,
    releases_started: u32,
    /// The store's `production_holds` table: one row per service.
    holds: BTreeMap<ServiceName, ReleaseId>,
    /// The store's `live_deployments` table, as the app writes it.
    live: BTreeMap<ServiceName, LiveDeployment>,
    locks: Vec<Lock>,
    /// What the checker read as live per service, from the deploy events alone.
    seen_live: BTreeMap<ServiceName, (ReleaseId, ArtifactDigest)>,
    last_accepted: Option<Delivered>,
    requests: u64,
    /// The commands as resolved, for the counter-example.
    trace: Vec<String>,
}

type Checked = Result<(), TestCaseError>;

fn violation(world: &World, rule: String) -> TestCaseError {
    let from = world.trace.len().saturating_sub(60);
    TestCaseError::fail(format!(
        "{rule}\n--- the commands as delivered (last {} of {}) ---\n{}",
        world.trace.len() - from,
        world.trace.len(),
        world.trace[from..].join("\n")
    ))
}

impl World {
    fn new(start_hour: u32) -> World {
        let local_start = TEAM_TIMEZONE
            .with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
            .single()
            .expect("midnight exists in New York on 1 December");
        World {
            now: local_start.with_timezone(&Utc) + Duration::hours(i64::from(start_hour)),
            people: people(),
            playbooks: playbooks(),
            calendar: Calendar::build(&freeze_config(), Vec::new()).expect("the team's freeze calendar is valid"),
            policy: Policy::default(),
            slots: (0..SLOT_SERVICES.len()).map(|_| None).collect(),
            releases_started: 0,
            holds: BTreeMap::new(),
            live: BTreeMap::new(),
            locks: Vec::new(),
            seen_live: BTreeMap::new(),
            last_accepted: None,
            requests: 0,
            trace: Vec::new(),
        }
    }

    fn next_request(&mut self) -> RequestId {
        self.requests += 1;
        RequestId::new(format!("req-{}", self.requests))
    }

    fn note(&mut self, line: String) {
        self.trace.push(format!("{} {line}", self.now.with_timezone(&TEAM_TIMEZONE).format("%a %d %b %H:%M")));
    }

    fn run(&mut self, op: &Op, tally: &mut Tally) -> Checked {
        self.now += Duration::minutes(1);
        match op {
            Op::Start { slot, by, hotfix, strict, version } => {
                self.start(*slot, *by, *hotfix, *strict, *version, tally)
            }
            Op::Wait { minutes } => {
                self.now += Duration::minutes(*minutes);
                self.note(format!("wait {minutes} minutes"));
                Ok(())
            }
            Op::Lock { service, production_only, block, minutes } => {
                let service = ServiceName::new(SERVICES[*service]);
                let id = LockId::new(format!("lock_{}", self.locks.len() + 1));
                self.note(format!(
                    "lock {id} on {service} (production only: {production_only}, block: {block}) for {minutes} minutes"
                ));
                self.locks.push(Lock {
                    id,
                    service,
                    environment: production_only.then_some(Environment::Production),
                    mode: if *block { LockMode::Block } else { LockMode::Warn },
                    reason: "database migration".into(),
                    by: self.people[0].clone(),
                    from: self.now,
                    until: self.now + Duration::minutes(*minutes),
                    ended: None,
                });
                Ok(())
            }
            Op::Unlock { service, by } => {
                let service = ServiceName::new(SERVICES[*service]);
                let (now, by) = (self.now, self.people[*by].clone());
                for lock in self.locks.iter_mut().filter(|l| l.service == service && l.is_active(now)) {
                    lock.ended = Some(LockEnd::Unlocked { by: by.clone(), at: now });
                }
                self.note(format!("unlock {service}"));
                Ok(())
            }
            Op::Replay { same_request } => self.replay(*same_request, tally),
            Op::Progress { slot, by, times } => {
                for _ in 0..*times {
                    let Some((by, command)) = self.progress(*slot, *by) else { return Ok(()) };
                    let request_id = self.next_request();
                    self.deliver(*slot, by, command, request_id, tally)?;
                }
                Ok(())
            }
            _ => {
                let Some((slot, by, command)) = self.resolve(op) else { return Ok(()) };
                let request_id = self.next_request();
                self.deliver(slot, by, command, request_id, tally)
            }
        }
    }

    fn start(
        &mut self,
        slot: usize,
        by: usize,
        hotfix: bool,
        strict: bool,
        version: usize,
        tally: &mut Tally,
    ) -> Checked {
        let actor = self.people[by].clone();
        let service = ServiceName::new(SLOT_SERVICES[slot]);
        let command = Command::Start {
            service: service.clone(),
            version: Version::parse(VERSIONS[version]).expect("a valid version"),
            git_sha: GitSha::parse(GIT_SHA).expect("a valid git SHA"),
            playbook: Box::new(self.playbooks[usize::from(strict)].clone()),
            hotfix,
            channel: None,
        };
        let request_id = self.next_request();
        if self.slots[slot].as_ref().is_some_and(|t| !t.release.status.is_finished()) {
            // Starting over a running release: the domain must refuse it.
            return self.deliver(slot, actor, command, request_id, tally);
        }
        let ctx = Context {
            now: self.now,
            freeze: &self.calendar,
            production_holder: None,
            live: None,
            policy: &self.policy,
            recorded_artifact: None,
            locks: &[],
        };
        tally.checked += 1;
        let label =
            format!("{actor}: start {service} {} (hotfix: {hotfix}, strict playbook: {strict})", VERSIONS[version]);
        match release::start(command.clone(), &actor, &ctx) {
            Err(rejection) => {
                self.note(format!("{label} -> refused {}", rejection.code));
                *tally.refused.entry(rejection.code.to_string()).or_default() += 1;
                Ok(())
            }
            Ok(events) => {
                self.note(format!("{label} -> accepted"));
                *tally.accepted.entry(command.name()).or_default() += 1;
                self.releases_started += 1;
                let id = ReleaseId::new(format!("r{}", self.releases_started));
                let history = Recorded::sequence(events, 0, self.now, &actor, &request_id);
                let release = Release::fold(id.clone(), &history)
                    .map_err(|e| violation(self, format!("the start of {id} does not fold: {e}")))?;
                let shadow = Shadow::new(id.clone(), &history[0]).map_err(|e| violation(self, e))?;
                let answer = history.clone();
                self.slots[slot] = Some(Tracked { release, history, shadow });
                self.last_accepted = Some(Delivered { release_id: id, by: actor, command, request_id, answer });
                Ok(())
            }
        }
    }

    /// Turns an operation into a command on a slot's release, from what the release is at.
    fn resolve(&mut self, op: &Op) -> Option<(usize, Actor, Command)> {
        let (slot, by) = match op {
            Op::Tick { slot, by, .. }
            | Op::Untick { slot, by, .. }
            | Op::Approve { slot, by, .. }
            | Op::TakePath { slot, by, .. }
            | Op::RejectGate { slot, by, .. }
            | Op::NoticeStall { slot, by, .. }
            | Op::Tests { slot, by, .. }
            | Op::Build { slot, by, .. }
            | Op::Deploy { slot, by, .. }
            | Op::RequestOverride { slot, by }
            | Op::ApproveOverride { slot, by }
            | Op::TriggerRollback { slot, by }
            | Op::Abort { slot, by }
            | Op::Retarget { slot, by, .. } => (*slot, *by),
            Op::Progress { .. }
            | Op::Start { .. }
            | Op::Wait { .. }
            | Op::Lock { .. }
            | Op::Unlock { .. }
            | Op::Replay { .. } => return None,
        };
        let release = &self.slots[slot].as_ref()?.release;
        let actor = self.people[by].clone();
        let pick = |pick: StepPick| -> StepId {
            match pick {
                StepPick::Current if release.status == Status::RollingBack => StepId::new(ROLLBACK_STEP),
                StepPick::Current => release.current_step().id.clone(),
                StepPick::Rollback => StepId::new(ROLLBACK_STEP),
                StepPick::Index(i) => release.playbook.steps[i % release.playbook.steps.len()].id.clone(),
            }
        };
        let items_of = |step: &StepId| -> Vec<Item> {
            if step.as_str() == ROLLBACK_STEP {
                release.playbook.rollback.items.clone()
            } else {
                release.playbook.step(step).map(|(_, s)| s.items.clone()).unwrap_or_default()
            }
        };
        let item_of = |step: &StepId, i: usize| -> ItemId {
            let items = items_of(step);
            if items.is_empty() {
                ItemId::new("no-such-item")
            } else {
                items[i % items.len()].id.clone()
            }
        };
        let command = match op {
            Op::Tick { step, item, .. } => {
                let step = pick(*step);
                Command::Tick { item: item_of(&step, *item), step }
            }
            Op::Untick { step, item, .. } => {
                let step = pick(*step);
                Command::Untick { item: item_of(&step, *item), step }
            }
            Op::Approve { step, .. } => Command::Approve { step: pick(*step) },
            Op::TakePath { step, path, note, .. } => {
                let step = pick(*step);
                let paths = release.playbook.step(&step).map(|(_, s)| s.failure_paths.clone()).unwrap_or_default();
                let path =
                    paths.get(path % paths.len().max(1)).map_or(FailurePathId::new("no-such-path"), |p| p.id.clone());
                Command::TakeFailurePath { step, path, note: note.then(|| "found the cause".to_owned()) }
            }
            Op::RejectGate { step, path, .. } => {
                let step = pick(*step);
                let paths = release.playbook.step(&step).map(|(_, s)| s.failure_paths.clone()).unwrap_or_default();
                let path = path.map(|p| {
                    paths.get(p % paths.len().max(1)).map_or(FailurePathId::new("no-such-path"), |p| p.id.clone())
                });
                Command::RejectGate { step, reason: "not good enough".into(), path }
            }
            Op::NoticeStall { attempt_offset, .. } => {
                let attempt = release.steps[release.current].attempt + attempt_offset;
                Command::NoticeStall { step: release.current_step().id.clone(), attempt }
            }
            Op::Tests { failed, .. } => Command::RecordTestResult(TestResult {
                suite: "unit".into(),
                passed: 120,
                failed: *failed,
                skipped: 0,
                flaky: Vec::new(),
                url: None,
            }),
            Op::Build { digest: d, right_sha, right_version, .. } => Command::RecordArtifact(Artifact {
                version: Version::parse(if *right_version { release.version.as_str() } else { "9.9.9" })
                    .expect("a valid version"),
                git_sha: if *right_sha {
                    release.git_sha.clone()
                } else {
                    GitSha::parse("deadbee").expect("a valid git SHA")
                },
                digest: digest(*d),
                size_bytes: 48_000_000,
                name: None,
            }),
            Op::Deploy { production, digest: pick, succeeded, health, strategy, downgrade_reason, .. } => {
                let chosen = match pick {
                    DigestPick::Recorded => release.artifact().map(|a| a.digest.clone()),
                    DigestPick::Staged => release.staging_passed().cloned(),
                    DigestPick::Live => self.live.get(&release.service).map(|l| l.digest.clone()),
                    DigestPick::Pool(i) => Some(digest(*i)),
                };
                Command::RecordDeployment(DeploymentReport {
                    environment: if *production { Environment::Production } else { Environment::Staging },
                    digest: chosen.unwrap_or_else(|| digest(by)),
                    outcome: if *succeeded { Outcome::Succeeded } else { Outcome::Failed },
                    health: [HealthCheck::Passed, HealthCheck::Unknown, HealthCheck::Failed][*health % 3],
                    strategy: [
                        Some(DeployStrategy::Rolling),
                        Some(DeployStrategy::BlueGreen),
                        Some(DeployStrategy::Canary),
                        Some(DeployStrategy::Recreate),
                        None,
                    ][*strategy % 5],
                    canary_percent: (*strategy % 5 == 2).then_some(10),
                    downgrade_reason: downgrade_reason.then(|| "the new version corrupts carts".to_owned()),
                    unknown_artifact_reason: None,
                    url: None,
                })
            }
            Op::RequestOverride { .. } => Command::RequestFreezeOverride { reason: "payments are down".into() },
            Op::ApproveOverride { .. } => Command::ApproveFreezeOverride,
            Op::TriggerRollback { .. } => Command::TriggerRollback { reason: "error rate tripled".into() },
            Op::Abort { .. } => Command::Abort { reason: "customer asked to wait".into() },
            Op::Retarget { new_commit, new_version, .. } => Command::Retarget {
                git_sha: GitSha::parse(if *new_commit {
                    FIX_SHAS[release.seq as usize % FIX_SHAS.len()]
                } else {
                    GIT_SHA
                })
                .expect("a valid git SHA"),
                version: new_version.then(|| Version::parse("9.9.10").expect("a valid version")),
                reason: "the fix for the regression".into(),
            },
            Op::Progress { .. }
            | Op::Start { .. }
            | Op::Wait { .. }
            | Op::Lock { .. }
            | Op::Unlock { .. }
            | Op::Replay { .. } => return None,
        };
        Some((slot, actor, command))
    }

    /// The first person from `from` on (shipgate itself aside) who holds one of `roles`
    /// (anyone when empty) and is none of `except`.
    fn someone(&self, from: usize, roles: &[RoleName], except: &[&Actor]) -> Actor {
        let n = self.people.len();
        (0..n)
            .map(|i| &self.people[(from + i) % n])
            .find(|p| {
                p.platform != Platform::System && holds_a_role(p, roles) && !except.iter().any(|e| same_person(e, p))
            })
            .unwrap_or(&self.people[from % n])
            .clone()
    }

    /// Lets time pass until the freeze calendar opens again.
    fn wait_for_the_freeze_to_end(&mut self) {
        use shipgate::domain::freeze::{FreezeCalendar, FreezeVerdict};
        if let FreezeVerdict::Frozen { next_open: Some(open), .. } = self.calendar.verdict(self.now) {
            self.now = open + Duration::minutes(5);
            self.note("wait for the freeze to end".into());
        }
    }

    /// What the release waits for next, and someone who may send it.
    fn progress(&mut self, slot: usize, from: usize) -> Option<(Actor, Command)> {
        let release = self.slots[slot].as_ref()?.release.clone();
        if release.status.is_finished() {
            return None;
        }
        let ci = self.people[6].clone();
        let managers = [RoleName::new(RELEASE_MANAGER)];
        let status = release.gate_status(self.now);
        let approve = |world: &World, gate: &Gate, approvals: &[release::Mark], step: StepId| {
            let mut except: Vec<&Actor> = approvals.iter().map(|m| &m.by).collect();
            if !gate.starter_may_approve {
                except.push(&release.started.by);
            }
            (world.someone(from, &gate.roles, &except), Command::Approve { step })
        };
        if release.status == Status::RollingBack {
            let rollback = release.rollback.as_ref()?;
            let procedure = &release.playbook.rollback;
            let step = StepId::new(ROLLBACK_STEP);
            if let Some(item) = status.unticked.first() {
                let by = self.someone(from, &procedure.tick_roles, &[]);
                return Some((by, Command::Tick { step, item: item.clone() }));
            }
            if status.evidence_missing.is_some() {
                let target = rollback.target.as_ref().map(|t| t.digest.clone()).unwrap_or_else(|| {
                    let failed = rollback.deployed.as_ref().map(|d| d.digest.clone());
                    (0..3).map(digest).find(|d| Some(d) != failed.as_ref()).expect("three distinct digests")
                });
                return Some((ci, deploy(Environment::Production, target)));
            }
            return Some(approve(self, &procedure.gate, &rollback.step.approvals, step));
        }
        let step = release.current_step().clone();
        let state = &release.steps[release.current];
        if let Some(item) = status.unticked.first() {
            let by = self.someone(from, &step.tick_roles, &[]);
            return Some((by, Command::Tick { step: step.id, item: item.clone() }));
        }
        let frozen = self.calendar_frozen();
        let override_command = |world: &World| match &release.freeze_override {
            Some(o) if o.approved.is_none() => {
                (world.someone(from, &managers, &[&o.requested.by]), Command::ApproveFreezeOverride)
            }
            _ => (world.someone(from, &[], &[]), Command::RequestFreezeOverride { reason: "payments are down".into() }),
        };
        let override_valid = release.freeze_override.as_ref().and_then(|o| o.expires_at).is_some_and(|e| self.now < e);
        if status.evidence_missing.is_some() {
            let command = match step.requires {
                Evidence::TestsPassed => Command::RecordTestResult(TestResult {
                    suite: "unit".into(),
                    passed: 120,
                    failed: 0,
                    skipped: 0,
                    flaky: Vec::new(),
                    url: None,
                }),
                Evidence::Artifact => Command::RecordArtifact(Artifact {
                    version: release.version.clone(),
                    git_sha: GitSha::parse(GIT_SHA).expect("a valid git SHA"),
                    digest: digest(self.requests as usize),
                    size_bytes: 48_000_000,
                    name: None,
                }),
                Evidence::StagingDeploy => {
                    deploy(Environment::Staging, release.artifact().map_or_else(|| digest(0), |a| a.digest.clone()))
                }
                Evidence::ProductionDeploy => match release.production.as_ref() {
                    Some((deployed, _)) => deploy(Environment::Production, deployed.digest.clone()),
                    None if frozen && release.hotfix && !override_valid => return Some(override_command(self)),
                    None if frozen && !(release.hotfix && override_valid) => {
                        self.wait_for_the_freeze_to_end();
                        return None;
                    }
                    None => {
                        deploy(Environment::Production, release.staging_passed().cloned().unwrap_or_else(|| digest(0)))
                    }
                },
                Evidence::Watch => {
                    self.now += Duration::minutes(16);
                    self.note("wait out the watch (16 minutes)".into());
                    return None;
                }
                Evidence::None | Evidence::SmokeTest => return None,
            };
            return Some((ci, command));
        }
        let into_production = release.gate_into_production_in_play();
        if into_production && frozen {
            if release.hotfix && !override_valid {
                return Some(override_command(self));
            }
            if !release.hotfix {
                self.wait_for_the_freeze_to_end();
                return None;
            }
        }
        if status.approvals < status.approvals_required {
            return Some(approve(self, &step.gate, &state.approvals, step.id.clone()));
        }
        // An automatic gate that waits, for production to be free.
        self.now += Duration::minutes(60);
        self.note("wait an hour for the gate".into());
        None
    }

    fn calendar_frozen(&self) -> bool {
        use shipgate::domain::freeze::FreezeCalendar;
        self.calendar.verdict(self.now).is_frozen()
    }

    /// Delivers a command as the app does: the facts from the store, the domain's decision,
    /// then the commit (events, production hold, live deployment) — and checks the rules.
    fn deliver(
        &mut self,
        slot: usize,
        by: Actor,
        command: Command,
        request_id: RequestId,
        tally: &mut Tally,
    ) -> Checked {
        let Some(tracked) = self.slots[slot].as_ref() else { return Ok(()) };
        let release = &tracked.release;
        let id = release.id.clone();
        let (holder, live) = if release.consults_production_facts() {
            let holder = self.holds.get(&release.service).map(|holder_id| {
                let holder = self
                    .slots
                    .iter()
                    .flatten()
                    .find(|t| &t.release.id == holder_id)
                    .map(|t| &t.release)
                    .expect("a release holding production is in a slot");
                ProductionHolder {
                    release_id: holder.id.clone(),
                    version: holder.version.clone(),
                    started_by: holder.started.by.display_name.clone(),
                    step_title: holder.current_step().title.clone(),
                }
            });
            (holder, self.live.get(&release.service).cloned())
        } else {
            (None, None)
        };
        let locks: Vec<Lock> = if release.consults_locks() {
            self.locks.iter().filter(|l| l.service == release.service && l.is_active(self.now)).cloned().collect()
        } else {
            Vec::new()
        };
        let ctx = Context {
            now: self.now,
            freeze: &self.calendar,
            production_holder: holder,
            live,
            policy: &self.policy,
            recorded_artifact: None,
            locks: &locks,
        };
        let decided = release::decide(release, command.clone(), &by, &ctx);
        tally.checked += 1;
        let label = format!("{by} on {id}: {}", describe(&command));
        let (events, after) = match decided {
            Err(rejection) => {
                self.note(format!("{label} -> refused {}", rejection.code));
                *tally.refused.entry(rejection.code.to_string()).or_default() += 1;
                return Ok(());
            }
            Ok(decided) => decided,
        };
        // The store's production_holds row: taken when the release comes to hold production.
        let (held_before, held_after) = (release.holds_production(), after.holds_production());
        if !held_before && held_after {
            if let Some(other) = self.holds.get(&release.service).filter(|h| **h != id) {
                let rule = format!(
                    "{label}: the domain let {id} take production for {} while {other} holds it; only the store's production_holds row refused it",
                    release.service
                );
                return Err(violation(self, rule));
            }
        }
        let recorded = Recorded::sequence(events, release.seq, self.now, &by, &request_id);
        self.note(format!("{label} -> {}", recorded.iter().map(|r| r.event.kind()).collect::<Vec<_>>().join(", ")));
        *tally.accepted.entry(command.name()).or_default() += 1;
        if recorded.iter().any(|r| matches!(r.event, Event::DeploymentRecorded { rollback: false, ref report, .. } if report.environment == Environment::Production && report.outcome == Outcome::Succeeded)) {
            tally.productions += 1;
            if frozen_by_the_playbook(self.now) {
                tally.frozen_overrides_used += 1;
            }
        }
        if after.status == Status::Completed {
            tally.completed += 1;
        }
        if after.status == Status::RolledBack {
            tally.rolled_back += 1;
        }

        let tracked = self.slots[slot].as_mut().expect("the slot was just read");
        let mut incremental = tracked.release.clone();
        for r in &recorded {
            if let Err(e) = incremental.evolve(r) {
                let rule = format!("{label}: event {} ({}) does not fold onto the release: {e}", r.seq, r.event.kind());
                return Err(violation(self, rule));
            }
        }
        let before_len = tracked.history.len();
        tracked.history.extend(recorded.iter().cloned());
        let refolded = Release::fold(id.clone(), &tracked.history);
        let mut broken = None;
        if incremental != after {
            broken = Some("the release the domain decided differs from its events folded onto the release".to_owned());
        } else if refolded.as_ref() != Ok(&after) {
            broken = Some(format!("refolding the whole history of {id} gives another release: {:?}", refolded.err()));
        } else if tracked.history.len() != before_len + recorded.len()
            || tracked.history.iter().enumerate().any(|(i, r)| r.seq != i as u64 + 1)
        {
            broken = Some(format!("the history of {id} is not numbered 1..{}", tracked.history.len()));
        }
        if let Some(rule) = broken {
            return Err(violation(self, format!("{label}: {rule}")));
        }
        tracked.release = after.clone();
        let mut around =
            Surroundings { locks: &self.locks, live: &mut self.seen_live, override_ttl: self.policy.override_ttl };
        if let Err(rule) = tracked.shadow.read(&recorded, &mut around) {
            return Err(violation(self, format!("{label}: {rule}")));
        }
        if tracked.shadow.events_read != after.seq {
            let rule = format!(
                "the checker read {} events of {id}, the release has {}",
                tracked.shadow.events_read, after.seq
            );
            return Err(violation(self, rule));
        }

        // The commit: the hold and the live deployment as the app writes them.
        if !held_before && held_after {
            self.holds.insert(after.service.clone(), id.clone());
        } else if held_before && !held_after {
            self.holds.retain(|service, holder| !(service == &after.service && holder == &id));
        }
        if let Some(change) = live_change(&after, &recorded) {
            match change {
                Some(live) => self.live.insert(after.service.clone(), live),
                None => self.live.remove(&after.service),
            };
        }
        self.last_accepted = Some(Delivered { release_id: id, by, command, request_id, answer: recorded });
        self.check_one_holder_per_service()
    }

    /// At most one release holds production per service, as the checker reads the histories.
    fn check_one_holder_per_service(&self) -> Checked {
        for service in SERVICES {
            let holders: Vec<&ReleaseId> = self
                .slots
                .iter()
                .flatten()
                .filter(|t| t.shadow.service.as_str() == service && t.shadow.holds_production())
                .map(|t| &t.shadow.id)
                .collect();
            if holders.len() > 1 {
                return Err(violation(
                    self,
                    format!("{} releases hold production for {service}: {holders:?}", holders.len()),
                ));
            }
        }
        Ok(())
    }

    /// Delivers the last accepted command again. With its request id the app answers from
    /// its stored answer and nothing is decided; with a new id (a double click) the domain
    /// decides again, and a command that can only happen once must be refused.
    fn replay(&mut self, same_request: bool, tally: &mut Tally) -> Checked {
        let Some(last) = self.last_accepted.clone() else { return Ok(()) };
        let Some(slot) = self.slots.iter().position(|t| t.as_ref().is_some_and(|t| t.release.id == last.release_id))
        else {
            return Ok(());
        };
        if same_request {
            tally.checked += 1;
            tally.replays_answered += 1;
            self.note(format!(
                "{} on {}: {} again as {} -> answered from the first time",
                last.by,
                last.release_id,
                describe(&last.command),
                last.request_id
            ));
            let tracked = self.slots[slot].as_ref().expect("found above");
            let first_seq = last.answer.first().map_or(0, |r| r.seq);
            let stored: Vec<&Recorded> = tracked.history.iter().filter(|r| r.request_id == last.request_id).collect();
            if stored.len() != last.answer.len() || stored.first().map_or(0, |r| r.seq) != first_seq {
                return Err(violation(self, format!("the history no longer holds the answer to {}", last.request_id)));
            }
            return Ok(());
        }
        let once_only = matches!(
            last.command,
            Command::Tick { .. }
                | Command::Untick { .. }
                | Command::Approve { .. }
                | Command::RecordArtifact(_)
                | Command::RequestFreezeOverride { .. }
                | Command::ApproveFreezeOverride
                | Command::TriggerRollback { .. }
                | Command::Abort { .. }
                | Command::NoticeStall { .. }
        );
        let seq_before = self.slots[slot].as_ref().map_or(0, |t| t.release.seq);
        let request_id = self.next_request();
        self.deliver(slot, last.by.clone(), last.command.clone(), request_id, tally)?;
        let seq_after = self.slots[slot].as_ref().map_or(0, |t| t.release.seq);
        if once_only && seq_after != seq_before {
            return Err(violation(
                self,
                format!(
                    "{} delivered twice was accepted twice: a double click changed the release",
                    last.command.name()
                ),
            ));
        }
        Ok(())
    }
}

fn deploy(environment: Environment, digest: ArtifactDigest) -> Command {
    Command::RecordDeployment(DeploymentReport {
        environment,
        digest,
        outcome: Outcome::Succeeded,
        health: HealthCheck::Passed,
        strategy: Some(DeployStrategy::Rolling),
        canary_percent: None,
        downgrade_reason: None,
        unknown_artifact_reason: None,
        url: None,
    })
}

/// The live deployment a commit writes, as the app computes it: `Some(None)` clears it.
fn live_change(release: &Release, recorded: &[Recorded]) -> Option<Option<LiveDeployment>> {
    let mut change = None;
    for r in recorded {
        if let Event::DeploymentRecorded { report, rollback, .. } = &r.event {
            if report.environment == Environment::Production && report.outcome == Outcome::Succeeded {
                change = Some(if *rollback {
                    release.rollback.as_ref().and_then(|rb| rb.target.clone())
                } else {
                    Some(LiveDeployment {
                        release_id: release.id.clone(),
                        version: release.version.clone(),
                        digest: report.digest.clone(),
                    })
                });
            }
        }
    }
    change
}

/// A command in a line: what the counter-example prints.
fn describe(command: &Command) -> String {
    match command {
        Command::Start { service, version, hotfix, .. } => format!("start {service} {version} (hotfix: {hotfix})"),
        Command::RecordDeployment(r) => format!(
            "deploy {} to {} {:?} health {:?} strategy {:?}{}",
            &r.digest.as_str()[7..11],
            r.environment,
            r.outcome,
            r.health,
            r.strategy,
            if r.downgrade_reason.is_some() { " (downgrade reason)" } else { "" }
        ),
        Command::RecordArtifact(a) => {
            format!("artifact {} sha {} version {}", &a.digest.as_str()[7..11], a.git_sha, a.version)
        }
        Command::RecordTestResult(t) => format!("tests {} failed", t.failed),
        other => format!("{other:?}"),
    }
}

// ----------------------------------------------------------------------------------------
// Runs
// ----------------------------------------------------------------------------------------

fn run_case(start_hour: u32, ops: &[Op], tally: &mut Tally) -> Checked {
    let mut world = World::new(start_hour);
    for op in ops {
        world.run(op, tally)?;
    }
    Ok(())
}

/// Runs cases until `commands` commands were checked (or `cases` cases ran), shrinking a
/// failure to a short counter-example.
fn explore(cases: u32, commands_per_case: std::ops::Range<usize>, commands: u64) -> Tally {
    let tally = RefCell::new(Tally::default());
    loop {
        let config = Config { cases, failure_persistence: None, ..Config::default() };
        let mut runner = TestRunner::new(config);
        let result = runner.run(&case(commands_per_case.clone()), |(start_hour, ops)| {
            // Shrinking replays cases; only count the first pass.
            let mut scratch = Tally::default();
            let outcome = run_case(start_hour, &ops, &mut scratch);
            if outcome.is_ok() {
                merge(&mut tally.borrow_mut(), scratch);
            }
            outcome
        });
        match result {
            Ok(()) => {}
            Err(TestError::Fail(reason, (start_hour, ops))) => panic!(
                "a gate rule was broken: {reason}\n--- minimal failing case: start {start_hour} hours into December (New York), then ---\n{ops:#?}"
            ),
            Err(TestError::Abort(reason)) => panic!("the model run was aborted: {reason}"),
        }
        if tally.borrow().checked >= commands {
            return tally.into_inner();
        }
    }
}

fn merge(into: &mut Tally, from: Tally) {
    into.checked += from.checked;
    for (name, n) in from.accepted {
        *into.accepted.entry(name).or_default() += n;
    }
    for (code, n) in from.refused {
        *into.refused.entry(code).or_default() += n;
    }
    into.replays_answered += from.replays_answered;
    into.productions += from.productions;
    into.frozen_overrides_used += from.frozen_overrides_used;
    into.completed += from.completed;
    into.rolled_back += from.rolled_back;
}

fn report(tally: &Tally) -> String {
    let accepted: u64 = tally.accepted.values().sum();
    let refused: u64 = tally.refused.values().sum();
    let mut out = format!(
        "commands checked: {} (accepted {accepted}, refused {refused}, repeats answered from the first answer {})\n\
         production deploys: {} ({} in a freeze, by hotfix override); releases completed: {}, rolled back: {}\n",
        tally.checked,
        tally.replays_answered,
        tally.productions,
        tally.frozen_overrides_used,
        tally.completed,
        tally.rolled_back
    );
    out.push_str("accepted by command:\n");
    for (name, n) in &tally.accepted {
        out.push_str(&format!("  {name:<26} {n:>10}\n"));
    }
    out.push_str("refused by code:\n");
    let mut refused: Vec<_> = tally.refused.iter().collect();
    refused.sort_by(|a, b| b.1.cmp(a.1));
    for (code, n) in refused {
        out.push_str(&format!("  {code:<26} {n:>10}\n"));
    }
    out
}

/// The default run: a few hundred cases of 50 to 200 commands. With
/// `SHIPGATE_MODEL_COMMANDS=N`, cases run until N commands were checked, and the figures
/// are printed.
#[test]
fn no_command_sequence_breaks_a_gate_rule() {
    let long_run = std::env::var("SHIPGATE_MODEL_COMMANDS").ok().map(|n| {
        n.trim().parse::<u64>().unwrap_or_else(|_| panic!("SHIPGATE_MODEL_COMMANDS={n:?} is not a number of commands"))
    });
    let tally = match long_run {
        Some(commands) => explore(256, 50..200, commands),
        None => explore(200, 50..200, 0),
    };
    println!("{}", report(&tally));
    // A run that never reaches production checks little: make sure the sequences get there.
    assert!(tally.productions > 0, "no case reached production:\n{}", report(&tally));
    assert!(tally.accepted.get("approve").copied().unwrap_or(0) > 0, "no approval was accepted");
}
