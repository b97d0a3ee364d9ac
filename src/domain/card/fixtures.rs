//! A release walked through the built-in playbook with domain commands, for card and
//! rendering tests: every card is built from a release that the engine really decided.

use crate::domain::actor::{Actor, Platform};
use crate::domain::card::{CardContext, LockBanner};
use crate::domain::freeze::{FixedFreeze, FreezeReason, NoFreeze};
use crate::domain::ids::{
    ArtifactDigest, FailurePathId, GitSha, ItemId, ReleaseId, RequestId, ServiceName, StepId, Version,
};
use crate::domain::playbook::Playbook;
use crate::domain::release::{
    decide, start, Artifact, Command, Context, DeployStrategy, DeploymentReport, Environment, HealthCheck,
    LiveDeployment, Outcome, Policy, Recorded, Release, Status, TestResult, ROLLBACK_STEP,
};
use crate::domain::watch::{Criteria, Metric, Reading, Readings, WatchSettings};
use chrono::{DateTime, Duration, TimeZone, Utc};

pub const RELEASE_ID: &str = "0193a5f2-7c4e-7b1a-9d3e-5f6a7b8c9d0e";
pub const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
pub const OLD_DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

pub fn alice() -> Actor {
    Actor::new(Platform::Discord, "100", "Alice").with_roles(["release-manager"])
}
pub fn bob() -> Actor {
    Actor::new(Platform::Discord, "200", "Bob").with_roles(["release-manager"])
}
pub fn carol() -> Actor {
    Actor::new(Platform::Discord, "300", "Carol").with_roles(["engineer"])
}
pub fn ci() -> Actor {
    Actor::new(Platform::Api, "ci", "CI").with_roles(["engineer"])
}

/// shipgate itself, as its timers act.
pub fn shipgate() -> Actor {
    Actor::new(Platform::System, "shipgate", "shipgate")
}

/// Wednesday 2 December 2026, 15:00 UTC: 10:00 in New York (EST), nothing frozen.
pub fn wednesday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 15, 0, 0).single().unwrap_or_else(|| panic!("a valid instant"))
}

pub fn new_york() -> chrono_tz::Tz {
    chrono_tz::America::New_York
}

/// Friday afternoon in New York until Monday midnight, covering `now`.
pub fn friday_afternoon(now: DateTime<Utc>) -> FixedFreeze {
    FixedFreeze {
        windows: vec![FreezeReason {
            kind: "weekly".into(),
            name: "Friday afternoon".into(),
            from: now - Duration::hours(1),
            to: Utc.with_ymd_and_hms(2026, 12, 7, 5, 0, 0).single().unwrap_or_else(|| panic!("a valid instant")),
        }],
    }
}

/// A release of `api 1.4.0` started by Alice, with the clock and the freeze around it.
pub struct Walk {
    pub release: Release,
    events: Vec<Recorded>,
    pub now: DateTime<Utc>,
    pub freeze: FixedFreeze,
    pub live: Option<LiveDeployment>,
    policy: Policy,
}

impl Walk {
    pub fn start() -> Walk {
        Self::start_as(false)
    }

    pub fn hotfix() -> Walk {
        Self::start_as(true)
    }

    /// A release of another playbook (built in code: it is not validated).
    pub fn start_with(playbook: Playbook) -> Walk {
        Self::start_of(playbook, false)
    }

    fn start_as(hotfix: bool) -> Walk {
        Self::start_of(Playbook::ship_to_production(), hotfix)
    }

    fn start_of(playbook: Playbook, hotfix: bool) -> Walk {
        let policy = Policy::default();
        let now = wednesday();
        let command = Command::Start {
            service: ServiceName::new("api"),
            version: Version::parse("1.4.0").unwrap_or_else(|e| panic!("{e}")),
            git_sha: GitSha::parse("3f9c2e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5").unwrap_or_else(|e| panic!("{e}")),
            playbook: Box::new(playbook),
            hotfix,
            channel: Some(crate::domain::ChatChannel::new(crate::domain::ChatPlatform::Discord, "1000")),
        };
        let ctx = Context {
            now,
            freeze: &NoFreeze,
            production_holder: None,
            live: None,
            policy: &policy,
            recorded_artifact: None,
            locks: &[],
        };
        let events = start(command, &alice(), &ctx).unwrap_or_else(|r| panic!("start refused: {r}"));
        let recorded = Recorded::sequence(events, 0, now, &alice(), &RequestId::new("start"));
        let release = Release::fold(ReleaseId::new(RELEASE_ID), &recorded).unwrap_or_else(|e| panic!("{e}"));
        let live = Some(LiveDeployment {
            release_id: ReleaseId::new("0193a5f0-0000-7000-8000-000000000000"),
            version: Version::parse("1.3.2").unwrap_or_else(|e| panic!("{e}")),
            digest: digest(OLD_DIGEST),
        });
        Walk { release, events: recorded, now, freeze: FixedFreeze::default(), live, policy }
    }

    /// The release under a config with a rollback hook that starts as `mode` says.
    pub fn with_hook(mut self, mode: crate::domain::release::HookMode) -> Walk {
        self.policy.rollback_hook = mode;
        self
    }

    /// Runs a command that must be accepted, folding its events.
    pub fn ok(&mut self, actor: &Actor, command: Command) {
        let ctx = Context {
            now: self.now,
            freeze: &self.freeze,
            production_holder: None,
            live: self.live.clone(),
            policy: &self.policy,
            recorded_artifact: None,
            locks: &[],
        };
        let (events, _) = decide(&self.release, command, actor, &ctx).unwrap_or_else(|r| panic!("refused: {r}"));
        for event in events {
            let recorded = Recorded {
                seq: self.release.seq + 1,
                at: self.now,
                actor: actor.clone(),
                request_id: RequestId::new(format!("req-{}", self.release.seq + 1)),
                event,
            };
            self.release.evolve(&recorded).unwrap_or_else(|e| panic!("{e}"));
            self.events.push(recorded);
        }
    }

    /// The events recorded after event `seq`, in order.
    pub fn events_after(&self, seq: u64) -> &[Recorded] {
        let from = usize::try_from(seq).unwrap_or(usize::MAX).min(self.events.len());
        &self.events[from..]
    }

    pub fn minutes(&mut self, minutes: i64) {
        self.now += Duration::minutes(minutes);
    }

    pub fn at(&self) -> &str {
        self.release.current_step().id.as_str()
    }

    /// The step in play and its items: the rollback procedure's while rolling back.
    fn in_play(&self) -> (StepId, Vec<ItemId>) {
        if self.release.status == Status::RollingBack {
            let items = self.release.playbook.rollback.items.iter().map(|i| i.id.clone()).collect();
            return (StepId::new(ROLLBACK_STEP), items);
        }
        let step = self.release.current_step();
        (step.id.clone(), step.items.iter().map(|i| i.id.clone()).collect())
    }

    pub fn tick(&mut self, actor: &Actor, item: &str) {
        let (step, _) = self.in_play();
        self.ok(actor, Command::Tick { step, item: ItemId::new(item) });
    }

    pub fn tick_all(&mut self, actor: &Actor) {
        let (step, items) = self.in_play();
        for item in items {
            self.ok(actor, Command::Tick { step: step.clone(), item });
        }
    }

    pub fn approve(&mut self, actor: &Actor) {
        let (step, _) = self.in_play();
        self.ok(actor, Command::Approve { step });
    }

    pub fn take(&mut self, actor: &Actor, path: &str, note: &str) {
        let step = self.release.current_step().id.clone();
        self.ok(actor, Command::TakeFailurePath { step, path: FailurePathId::new(path), note: Some(note.into()) });
    }

    /// Rejects the gate in play with `reason`, down the step's default path.
    pub fn reject(&mut self, actor: &Actor, reason: &str) {
        let (step, _) = self.in_play();
        self.ok(actor, Command::RejectGate { step, reason: reason.into(), path: None });
    }

    /// Lets `quiet` pass, then has shipgate notice the current step attempt's stall.
    pub fn notice_stall(&mut self, quiet: Duration) {
        self.now += quiet;
        let step = self.release.current_step().id.clone();
        let attempt = self.release.steps[self.release.current].attempt;
        self.ok(&shipgate(), Command::NoticeStall { step, attempt });
    }

    pub fn tests(&mut self, suite: &str, passed: u32, failed: u32) {
        self.ok(
            &ci(),
            Command::RecordTestResult(TestResult {
                suite: suite.into(),
                passed,
                failed,
                skipped: 0,
                flaky: vec![],
                url: None,
            }),
        );
    }

    pub fn artifact(&mut self) {
        self.ok(
            &ci(),
            Command::RecordArtifact(Artifact {
                version: Version::parse("1.4.0").unwrap_or_else(|e| panic!("{e}")),
                git_sha: GitSha::parse("3f9c2e1").unwrap_or_else(|e| panic!("{e}")),
                digest: digest(DIGEST),
                size_bytes: 52_428_800,
                name: Some("registry.example.com/api:1.4.0".into()),
            }),
        );
    }

    pub fn deploy(&mut self, environment: Environment, health: HealthCheck) {
        self.ok(
            &ci(),
            Command::RecordDeployment(DeploymentReport {
                environment,
                digest: digest(DIGEST),
                outcome: Outcome::Succeeded,
                health,
                strategy: Some(DeployStrategy::Rolling),
                canary_percent: None,
                downgrade_reason: None,
                unknown_artifact_reason: None,
                url: None,
            }),
        );
    }

    pub fn revert_production(&mut self) {
        self.ok(
            &ci(),
            Command::RecordDeployment(DeploymentReport {
                environment: Environment::Production,
                digest: digest(OLD_DIGEST),
                outcome: Outcome::Succeeded,
                health: HealthCheck::Passed,
                strategy: Some(DeployStrategy::Rolling),
                canary_percent: None,
                downgrade_reason: None,
                unknown_artifact_reason: None,
                url: None,
            }),
        );
    }

    // The steps, the way a team runs them; each leaves the release at the next step.
    pub fn pass_pre_flight(&mut self) {
        self.minutes(4);
        self.tick_all(&carol());
        self.minutes(2);
        self.approve(&bob());
        assert_eq!(self.at(), "test-suite");
    }
    pub fn pass_tests(&mut self) {
        self.minutes(10);
        self.tests("unit", 120, 0);
        assert_eq!(self.at(), "build-artifact");
    }
    pub fn pass_build(&mut self) {
        self.minutes(5);
        self.artifact();
        self.tick_all(&carol());
        assert_eq!(self.at(), "deploy-staging");
    }
    pub fn pass_staging(&mut self) {
        self.minutes(5);
        self.tick_all(&carol());
        self.deploy(Environment::Staging, HealthCheck::Passed);
        assert_eq!(self.at(), "smoke-test");
    }
    pub fn pass_smoke(&mut self) {
        self.minutes(10);
        self.tick_all(&carol());
        self.approve(&bob());
        assert_eq!(self.at(), "deploy-production");
    }
    pub fn pass_production(&mut self) {
        self.minutes(5);
        self.deploy(Environment::Production, HealthCheck::Passed);
        assert_eq!(self.at(), "monitor");
    }
    pub fn pass_monitor(&mut self) {
        self.tick_all(&carol());
        self.minutes(15);
        self.approve(&carol());
        assert_eq!(self.at(), "rollback-criteria");
    }

    /// Passes the step with this 0-based index (0 to 6: the last step completes the
    /// release, which its own tests do by hand).
    pub fn pass(&mut self, index: usize) {
        let passes: [fn(&mut Walk); 7] = [
            Walk::pass_pre_flight,
            Walk::pass_tests,
            Walk::pass_build,
            Walk::pass_staging,
            Walk::pass_smoke,
            Walk::pass_production,
            Walk::pass_monitor,
        ];
        passes[index](self);
    }

    /// Walks the release to the step with this 0-based index, passing each before it.
    /// A release at the watch step (Step 7), its baseline taken by shipgate's watch: 0.4%
    /// errors at 80 requests a second.
    pub fn watching() -> Walk {
        let mut walk = Walk::start();
        walk.walk_to(6);
        let settings = WatchSettings {
            window_seconds: 1800,
            min_window_seconds: 900,
            interval_seconds: 30,
            baseline_window_seconds: 1800,
        };
        let baseline = watch_readings(0.004);
        walk.ok(&watcher(), Command::BeginWatch { settings, criteria: Criteria::default(), baseline });
        walk
    }

    /// The watch's next due sample, with `error_rate` (and steady throughput).
    pub fn sample_error_rate(&mut self, error_rate: f64) {
        let at = self.release.current_watch().and_then(|w| w.next_sample_at()).expect("a sample is due");
        self.now = self.now.max(at);
        self.ok(&watcher(), Command::RecordSample { at, readings: watch_readings(error_rate) });
    }

    pub fn walk_to(&mut self, index: usize) {
        for step in 0..index {
            self.pass(step);
        }
    }

    /// The card context of the moment in New York, nothing frozen or locked.
    pub fn ctx(&self) -> CardContext {
        CardContext {
            now: self.now,
            time_zone: new_york(),
            freeze: None,
            locks: Vec::new(),
            stalled: false,
            rollback_hook: self.policy.rollback_hook,
        }
    }

    /// The card context with this walk's freeze calendar consulted now.
    pub fn ctx_with_freeze(&self) -> CardContext {
        use crate::domain::freeze::FreezeCalendar;
        let verdict = self.freeze.verdict(self.now);
        CardContext { freeze: Some(verdict), ..self.ctx() }
    }
}

pub fn digest(s: &str) -> ArtifactDigest {
    ArtifactDigest::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

pub fn lock_on_production(until: DateTime<Utc>) -> LockBanner {
    LockBanner {
        service: ServiceName::new("api"),
        environment: Some(Environment::Production),
        by: "Dana".into(),
        reason: "database migration running".into(),
        until,
        warn_only: false,
    }
}

/// shipgate's watch, as the actor of baselines and samples.
pub fn watcher() -> Actor {
    Actor::new(Platform::System, "watch", "shipgate watch")
}

fn watch_readings(error_rate: f64) -> Readings {
    Readings::from([(Metric::ErrorRate, Reading::value(error_rate)), (Metric::Throughput, Reading::value(80.0))])
}
