//! The release aggregate, event-sourced.
//!
//! [`apply`] decides: given a release, a command, who sent it and the facts of the moment,
//! it returns the events that happened or a [`Rejection`] a person can act on. [`Release::fold`]
//! rebuilds a release from its events. Every rule of the playbook is enforced here and
//! only here; nothing in this module does I/O or reads the clock.

use super::actor::{Actor, Platform};
use super::approvers::RoleHolders;
use super::channel::ChatChannel;
use super::drill::DrillStanding;
use super::freeze::{FreezeCalendar, FreezeVerdict};
use super::ids::{
    ArtifactDigest, FailurePathId, GitSha, ItemId, ReleaseId, RequestId, RoleName, ServiceName, StepId, Version,
};
use super::lock::Lock;
use super::playbook::{Evidence, FailureAction, FailurePath, Gate, Item, Playbook, Step};
use super::text::Text;
use super::watch::{self, Alert, AlertStatus, Criteria, Metric, Readings, Trip, WatchSettings};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

pub use crate::domain::playbook::ROLLBACK_STEP;

pub use super::text::MAX_REASON_CHARS;

mod hook;
pub use hook::{hook_detail, HookMode, HookOutcome, HookRun, HookTrigger, MAX_HOOK_DETAIL_CHARS};

/// The most flaky tests one result lists: each becomes a follow-up event.
pub const MAX_FLAKY_TESTS: usize = 100;

/// The failure path a rejection of `step`'s gate takes when none is named: the step's
/// first. The playbook lists a step's ways out most cautious first ("real regression:
/// restart from Step 1" before "flaky test: re-run"), and a rejected gate means "this is
/// not good enough", so the first is what a release manager expects; the other paths keep
/// their own buttons and can be named through the API.
pub fn reject_path(step: &Step) -> Option<&FailurePath> {
    step.failure_paths.first()
}

// ----------------------------------------------------------------------------------------
// Commands
// ----------------------------------------------------------------------------------------

/// Everything a person or pipeline can ask of a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    Start {
        service: ServiceName,
        version: Version,
        git_sha: GitSha,
        playbook: Box<Playbook>,
        #[serde(default)]
        hotfix: bool,
        /// Where the release lives in chat, if it was started from chat.
        #[serde(default)]
        channel: Option<ChatChannel>,
    },
    Tick {
        step: StepId,
        item: ItemId,
    },
    Untick {
        step: StepId,
        item: ItemId,
    },
    Approve {
        step: StepId,
    },
    TakeFailurePath {
        step: StepId,
        path: FailurePathId,
        #[serde(default)]
        note: Option<String>,
    },
    /// Refuses the gate in play with a reason, which sends the release down the step's
    /// failure path: `path` when given, otherwise the step's first (see [`reject_path`]).
    RejectGate {
        step: StepId,
        reason: String,
        #[serde(default)]
        path: Option<FailurePathId>,
    },
    /// shipgate's own: records that the step attempt went quiet past its limit, so its
    /// owners are pinged once. Sent by the stall timer, never by a person.
    NoticeStall {
        step: StepId,
        attempt: u32,
    },
    RecordTestResult(TestResult),
    RecordArtifact(Artifact),
    RecordDeployment(DeploymentReport),
    RequestFreezeOverride {
        reason: String,
    },
    ApproveFreezeOverride,
    TriggerRollback {
        reason: String,
    },
    Abort {
        reason: String,
    },
    /// Points a release at another commit (and optionally version): after a real
    /// regression the fix is a new commit, and the playbook restarts from Step 1 with it.
    /// Only at Step 1, before its gate passes; what was recorded for the old commit does
    /// not count for the new one.
    Retarget {
        git_sha: GitSha,
        #[serde(default)]
        version: Option<Version>,
        reason: String,
    },
    /// shipgate's own: the baseline measured at the production deploy starts the watch.
    BeginWatch {
        settings: WatchSettings,
        criteria: Criteria,
        baseline: Readings,
    },
    /// shipgate's own: one sample of the watch, at its instant. A criterion it trips
    /// starts the rollback at once.
    RecordSample {
        at: DateTime<Utc>,
        readings: Readings,
    },
    /// An alert about the release's service, from Alertmanager: a firing critical one is a
    /// broken critical user flow.
    RecordAlert(Alert),
    /// A person says a critical user flow is broken: the playbook's fourth criterion.
    ReportCriticalFlow {
        note: String,
    },
    /// A person completes a watch that could not see some metrics, saying why that is fine.
    AcceptBlindWatch {
        reason: String,
    },
    /// shipgate's own: the rollback is being triaged as a bug in release `triage`, which
    /// shipgate opened with the built-in bug triage playbook. Allowed on a finished release
    /// too: a rollback that completed while shipgate was down still gets its triage.
    LinkTriage {
        triage: ReleaseId,
    },
    /// A person's click: run the configured rollback hook now (again, after a failed or
    /// unknown run).
    RunRollbackHook,
    /// shipgate's own: the runner starts the requested run `attempt` of the rollback hook.
    StartRollbackHook {
        attempt: u32,
    },
    /// shipgate's own: how the started run `attempt` of the rollback hook ended.
    RecordRollbackHookOutcome {
        attempt: u32,
        outcome: HookOutcome,
    },
}

impl Command {
    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Start { .. } => "start",
            Command::Tick { .. } => "tick",
            Command::Untick { .. } => "untick",
            Command::Approve { .. } => "approve",
            Command::TakeFailurePath { .. } => "take_failure_path",
            Command::RejectGate { .. } => "reject_gate",
            Command::NoticeStall { .. } => "notice_stall",
            Command::RecordTestResult(_) => "record_test_result",
            Command::RecordArtifact(_) => "record_artifact",
            Command::RecordDeployment(_) => "record_deployment",
            Command::RequestFreezeOverride { .. } => "request_freeze_override",
            Command::ApproveFreezeOverride => "approve_freeze_override",
            Command::TriggerRollback { .. } => "trigger_rollback",
            Command::Abort { .. } => "abort",
            Command::Retarget { .. } => "retarget",
            Command::BeginWatch { .. } => "begin_watch",
            Command::RecordSample { .. } => "record_sample",
            Command::RecordAlert(_) => "record_alert",
            Command::ReportCriticalFlow { .. } => "report_critical_flow",
            Command::AcceptBlindWatch { .. } => "accept_blind_watch",
            Command::LinkTriage { .. } => "link_triage",
            Command::RunRollbackHook => "run_rollback_hook",
            Command::StartRollbackHook { .. } => "start_rollback_hook",
            Command::RecordRollbackHookOutcome { .. } => "record_rollback_hook_outcome",
        }
    }

    /// Checks every free-text field the command carries against its [`Text`] rule, so
    /// the rule holds whichever edge (API, CLI, chat) the command came from. Decided
    /// before anything else: a refused command changes nothing.
    pub fn check_text(&self) -> Result<(), Rejection> {
        match self {
            Command::TakeFailurePath { note, .. } => Text::REASON.check_opt("note", note.as_deref()),
            Command::RejectGate { reason, .. }
            | Command::RequestFreezeOverride { reason }
            | Command::TriggerRollback { reason }
            | Command::Abort { reason }
            | Command::AcceptBlindWatch { reason }
            | Command::Retarget { reason, .. } => Text::reason("reason", reason).map(drop),
            Command::ReportCriticalFlow { note } => Text::reason("note", note).map(drop),
            Command::RecordRollbackHookOutcome { outcome, .. } => hook::check_outcome(outcome),
            Command::RecordAlert(alert) => {
                Text::NAME.check("alert name", &alert.name)?;
                Text::REASON.check_opt("alert summary", alert.summary.as_deref())
            }
            Command::RecordTestResult(result) => {
                Text::NAME.check("suite", &result.suite)?;
                if result.flaky.len() > MAX_FLAKY_TESTS {
                    return reject(
                        RejectionCode::InvalidInput,
                        format!(
                            "flaky lists {} tests; the limit is {MAX_FLAKY_TESTS}: each becomes a follow-up, so \
                             report the rest through the link",
                            result.flaky.len()
                        ),
                    );
                }
                for (i, test) in result.flaky.iter().enumerate() {
                    Text::NAME.check(&format!("flaky[{i}]"), test)?;
                }
                Text::URL.check_opt("url", result.url.as_deref())
            }
            Command::RecordArtifact(artifact) => Text::NAME.check_opt("name", artifact.name.as_deref()),
            Command::RecordDeployment(report) => {
                Text::REASON.check_opt("downgrade_reason", report.downgrade_reason.as_deref())?;
                Text::REASON.check_opt("unknown_artifact_reason", report.unknown_artifact_reason.as_deref())?;
                Text::URL.check_opt("url", report.url.as_deref())
            }
            // Ids are matched against the playbook, and the start's fields are parsed
            // types; none of them is free text.
            Command::Start { .. }
            | Command::Tick { .. }
            | Command::Untick { .. }
            | Command::Approve { .. }
            | Command::NoticeStall { .. }
            | Command::BeginWatch { .. }
            | Command::RecordSample { .. }
            | Command::LinkTriage { .. }
            | Command::RunRollbackHook
            | Command::StartRollbackHook { .. }
            | Command::ApproveFreezeOverride => Ok(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestResult {
    /// `unit`, `integration`, `e2e`, or whatever the pipeline calls it.
    pub suite: String,
    pub passed: u32,
    pub failed: u32,
    #[serde(default)]
    pub skipped: u32,
    /// Tests that failed and then passed on re-run: recorded so they are followed up.
    #[serde(default)]
    pub flaky: Vec<String>,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    pub version: Version,
    pub git_sha: GitSha,
    pub digest: ArtifactDigest,
    pub size_bytes: u64,
    /// Where it lives (`registry.example.com/api:1.4.0`).
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Staging,
    Production,
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Environment::Staging => "staging",
            Environment::Production => "production",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthCheck {
    Passed,
    Failed,
    /// Not run or not finished yet.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployStrategy {
    Rolling,
    BlueGreen,
    Canary,
    /// Stop everything, start the new version: downtime, refused for production.
    Recreate,
}

/// What a pipeline reports about a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentReport {
    pub environment: Environment,
    pub digest: ArtifactDigest,
    pub outcome: Outcome,
    pub health: HealthCheck,
    #[serde(default)]
    pub strategy: Option<DeployStrategy>,
    /// With a canary: the share of traffic routed first, in percent.
    #[serde(default)]
    pub canary_percent: Option<u8>,
    /// Required to deploy a version older than the one live for the service.
    #[serde(default)]
    pub downgrade_reason: Option<String>,
    /// A rollback with no known-good artifact (the service's first release through
    /// shipgate) reverts to an artifact shipgate recorded for the service, or to another
    /// one only with this reason, which is kept with the deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_artifact_reason: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

// ----------------------------------------------------------------------------------------
// Facts from outside the aggregate
// ----------------------------------------------------------------------------------------

/// What is deployed to production for a service, as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveDeployment {
    pub release_id: ReleaseId,
    pub version: Version,
    pub digest: ArtifactDigest,
}

/// The release that holds production for a service, for telling others who to wait for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductionHolder {
    pub release_id: ReleaseId,
    pub version: Version,
    pub started_by: String,
    pub step_title: String,
}

/// The refusal of a release that would take production while `holder` has it.
pub fn production_held(service: &ServiceName, holder: &ProductionHolder) -> Rejection {
    Rejection::new(
        RejectionCode::ProductionHeld,
        format!(
            "production for {service} is held by release {} ({}, started by {}, at {}); wait until its watch ends, it \
             rolls back or it is aborted",
            holder.release_id, holder.version, holder.started_by, holder.step_title
        ),
    )
}

/// What a rollback with no target says instead of one, on its card and in its notice: the
/// service's first release through shipgate has nothing known-good to go back to.
pub fn no_known_good_target(service: &ServiceName) -> String {
    format!(
        "no known-good artifact: shipgate knows of no earlier production deploy of {service}. Revert to an \
         artifact shipgate recorded for {service}, or give the reason the one you deploy is right"
    )
}

/// An artifact shipgate recorded for a service: which release built it, as which version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedArtifact {
    pub release_id: ReleaseId,
    pub version: Version,
}

/// The facts of the moment a command is decided at; the app reads them, the domain judges.
pub struct Context<'a> {
    pub now: DateTime<Utc>,
    pub freeze: &'a dyn FreezeCalendar,
    /// Who holds production for this release's service, if anyone (possibly this release).
    pub production_holder: Option<ProductionHolder>,
    /// What is live in production for this release's service.
    pub live: Option<LiveDeployment>,
    pub policy: &'a Policy,
    /// Where shipgate recorded the digest of the production deploy being reported, for
    /// this release's service: read only for a rollback that has no known-good target,
    /// where it tells a real earlier build from a digest nobody can vouch for.
    pub recorded_artifact: Option<RecordedArtifact>,
    /// The locks on this release's service that may be in force now (see [`Release::consults_locks`]).
    pub locks: &'a [Lock],
}

/// Engine settings from config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Roles whose members may approve a freeze override.
    pub override_approver_roles: Vec<RoleName>,
    /// How long an approved freeze override stays valid.
    pub override_ttl: Duration,
    /// Who holds which role, as configured: named in refusals of approvals, so the person
    /// refused learns whom to ask.
    pub role_holders: RoleHolders,
    /// Whether a rollback hook is configured (`[rollback] hook`), and whether it starts by
    /// itself (`auto`).
    pub rollback_hook: HookMode,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            override_approver_roles: vec![RoleName::new("release-manager")],
            override_ttl: Duration::hours(2),
            role_holders: RoleHolders::default(),
            rollback_hook: HookMode::None,
        }
    }
}

// ----------------------------------------------------------------------------------------
// Events
// ----------------------------------------------------------------------------------------

/// Something that happened to a release, with who did it, when, and in answer to what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    /// 1-based position in the release's history.
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub request_id: RequestId,
    pub event: Event,
}

impl Recorded {
    /// The events one request caused, numbered on from `after_seq`, all at `at`.
    pub fn sequence(
        events: Vec<Event>,
        after_seq: u64,
        at: DateTime<Utc>,
        actor: &Actor,
        request_id: &RequestId,
    ) -> Vec<Recorded> {
        (after_seq + 1..)
            .zip(events)
            .map(|(seq, event)| Recorded { seq, at, actor: actor.clone(), request_id: request_id.clone(), event })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Started {
        service: ServiceName,
        version: Version,
        git_sha: GitSha,
        hotfix: bool,
        channel: Option<ChatChannel>,
        /// The playbook as it was when the release started: editing the file later does
        /// not change a running release.
        playbook: Box<Playbook>,
        /// The freeze in force when the release started, shown on the release.
        freeze_at_start: Option<FreezeVerdict>,
        /// The service's rollback drills when the release started, shown on its first
        /// card: recorded, so every redraw of that card says the same thing.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_drill: Option<DrillStanding>,
    },
    ItemTicked {
        step: StepId,
        item: ItemId,
    },
    ItemUnticked {
        step: StepId,
        item: ItemId,
        /// Approvals given before the untick no longer hold: they approved a full checklist.
        approvals_withdrawn: u32,
    },
    Approved {
        step: StepId,
        /// On the gate that takes the release to production: the artifact the approver
        /// let through. A production deploy of any other digest needs a new approval.
        /// Absent in histories written before approvals named it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digest: Option<ArtifactDigest>,
    },
    GatePassed {
        step: StepId,
        /// With a smoke-test gate: the artifact that passed it.
        smoke_passed: Option<ArtifactDigest>,
    },
    StepEntered {
        step: StepId,
    },
    FailurePathTaken {
        step: StepId,
        path: FailurePathId,
        action: FailureAction,
        note: Option<String>,
    },
    /// The gate in play was refused; the events of the path it sends the release down
    /// follow (none for the rollback procedure, whose rejection asks for an abort).
    GateRejected {
        step: StepId,
        reason: String,
        path: Option<FailurePathId>,
    },
    /// The step attempt had no activity past its limit; its owners are pinged once.
    StallNoticed {
        step: StepId,
        attempt: u32,
    },
    /// Steps from `from` on are cleared for a new attempt; their history stays in the log.
    Restarted {
        from: StepId,
    },
    FollowUpRecorded {
        text: String,
    },
    TestResultRecorded {
        step: StepId,
        result: TestResult,
    },
    ArtifactRecorded {
        step: StepId,
        artifact: Artifact,
    },
    DeploymentRecorded {
        step: StepId,
        report: DeploymentReport,
        /// What was live before, for production deploys: the rollback target.
        previous_live: Option<LiveDeployment>,
        /// The freeze in force, when a production deploy went through one by override.
        freeze_overridden: Option<FreezeVerdict>,
        /// Whether this deployment reverts production as part of a rollback.
        rollback: bool,
    },
    FreezeOverrideRequested {
        reason: String,
    },
    FreezeOverrideApproved {
        requested_by: Actor,
        reason: String,
        expires_at: DateTime<Utc>,
    },
    RollbackStarted {
        from: StepId,
        /// What broke, in the words of whoever triggered it.
        reason: String,
        then: AfterRollback,
        /// What had been deployed to production, if anything reached it.
        deployed: Option<DeploymentReport>,
        /// What production goes back to.
        target: Option<LiveDeployment>,
        /// The rollback criteria that tripped, when the watch (or an alert, or a person
        /// pressing "critical flow broken") started it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        trips: Vec<Trip>,
    },
    AbortRequested {
        reason: String,
    },
    RollbackCompleted {
        then: AfterRollback,
    },
    /// The release now ships another commit (and version). The events that follow
    /// restart it from its first step, so nothing recorded for the old commit counts.
    Retargeted {
        from_git_sha: GitSha,
        from_version: Version,
        git_sha: GitSha,
        version: Version,
        reason: String,
    },
    /// The watch of the production deploy began with the baseline measured at the deploy.
    WatchStarted {
        settings: WatchSettings,
        criteria: Criteria,
        /// The production deploy watched: the baseline's instant, and where the window starts.
        deployed_at: DateTime<Utc>,
        baseline: Readings,
    },
    WatchSampled {
        at: DateTime<Utc>,
        readings: Readings,
    },
    AlertRecorded {
        alert: Alert,
    },
    /// The watch could not see these metrics, and a person said why completing is fine.
    BlindWatchAccepted {
        reason: String,
        metrics: Vec<Metric>,
    },
    /// This release's rollback is triaged as a bug in release `triage`.
    TriageOpened {
        triage: ReleaseId,
    },
    /// This release triages the rollback of another: recorded with its start, it carries
    /// the rollback notice as it stood, so the triage begins from what the team was told.
    TriageOf {
        origin: TriageOrigin,
    },
    /// A run of the rollback hook was asked for: by the rollback itself (`auto`), in the
    /// same commit, or by a person.
    RollbackHookRequested {
        attempt: u32,
        trigger: HookTrigger,
    },
    /// The runner started run `attempt`: from here a crash leaves its outcome unknown.
    RollbackHookStarted {
        attempt: u32,
    },
    RollbackHookFinished {
        attempt: u32,
        outcome: HookOutcome,
    },
    Completed,
    Aborted {
        reason: String,
    },
}

/// The rollback a bug triage release is about: the failed release, and its notice's
/// three parts as they stood when the triage opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriageOrigin {
    pub release_id: ReleaseId,
    /// "api 1.4.2".
    pub name: String,
    pub deployed: Vec<String>,
    pub broke: Vec<String>,
    pub rolled_back: Vec<String>,
}

impl Event {
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Started { .. } => "started",
            Event::ItemTicked { .. } => "item_ticked",
            Event::ItemUnticked { .. } => "item_unticked",
            Event::Approved { .. } => "approved",
            Event::GatePassed { .. } => "gate_passed",
            Event::StepEntered { .. } => "step_entered",
            Event::FailurePathTaken { .. } => "failure_path_taken",
            Event::GateRejected { .. } => "gate_rejected",
            Event::StallNoticed { .. } => "stall_noticed",
            Event::Restarted { .. } => "restarted",
            Event::FollowUpRecorded { .. } => "follow_up_recorded",
            Event::TestResultRecorded { .. } => "test_result_recorded",
            Event::ArtifactRecorded { .. } => "artifact_recorded",
            Event::DeploymentRecorded { .. } => "deployment_recorded",
            Event::FreezeOverrideRequested { .. } => "freeze_override_requested",
            Event::FreezeOverrideApproved { .. } => "freeze_override_approved",
            Event::RollbackStarted { .. } => "rollback_started",
            Event::AbortRequested { .. } => "abort_requested",
            Event::RollbackCompleted { .. } => "rollback_completed",
            Event::Retargeted { .. } => "retargeted",
            Event::WatchStarted { .. } => "watch_started",
            Event::WatchSampled { .. } => "watch_sampled",
            Event::AlertRecorded { .. } => "alert_recorded",
            Event::BlindWatchAccepted { .. } => "blind_watch_accepted",
            Event::TriageOpened { .. } => "triage_opened",
            Event::TriageOf { .. } => "triage_of",
            Event::RollbackHookRequested { .. } => "rollback_hook_requested",
            Event::RollbackHookStarted { .. } => "rollback_hook_started",
            Event::RollbackHookFinished { .. } => "rollback_hook_finished",
            Event::Completed => "completed",
            Event::Aborted { .. } => "aborted",
        }
    }
}

/// Where a release goes once its rollback is done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "step", rename_all = "snake_case")]
pub enum AfterRollback {
    /// The release ends, rolled back.
    End,
    /// The release resumes at this step with a fix.
    Resume(StepId),
    /// The release ends, aborted.
    Abort,
}

// ----------------------------------------------------------------------------------------
// Rejections
// ----------------------------------------------------------------------------------------

/// Why a command was refused, in words for the person who sent it, with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    pub code: RejectionCode,
    pub message: String,
}

impl Rejection {
    pub fn new(code: RejectionCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// The stable code of a rejection. Every edge maps each code to its own answer (an HTTP
/// status, an ephemeral chat reply) with an exhaustive match, so a new code does not
/// compile until every edge says how it answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionCode {
    AlreadyAborting,
    AlreadyApproved,
    AlreadyLocked,
    AlreadyDeployed,
    AlreadyRecorded,
    AlreadyRollingBack,
    AlreadyStarted,
    AlreadyTicked,
    ArtifactAlreadyRecorded,
    HookRunning,
    Downgrade,
    DowntimeStrategy,
    EvidenceMissing,
    Frozen,
    GateNotReady,
    /// An idempotency key (request id) already answered a request that asked something
    /// else: the repeat is refused rather than answered with the other request's answer.
    IdempotencyKeyReused,
    InvalidInput,
    InvalidPlaybook,
    Locked,
    NoApprovalNeeded,
    NoOverrideRequested,
    NoRollbackHook,
    NotAllowed,
    NotCurrentStep,
    NotHotfix,
    NotLocked,
    NotStalled,
    NotRollingBack,
    /// A watch command for a release whose production deploy is not being watched.
    NotWatching,
    NotStarted,
    NotTicked,
    NoteRequired,
    NothingToRollBack,
    OverrideActive,
    OverridePending,
    ProductionDeployed,
    ProductionHeld,
    ReleaseFinished,
    SelfApproval,
    StaleState,
    StrategyRequired,
    UnknownFailurePath,
    UnknownItem,
    UnknownPlaybook,
    UnknownStep,
    UnapprovedArtifact,
    UnknownArtifact,
    WrongArtifact,
    Internal,
}

impl RejectionCode {
    /// The code as the API and logs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectionCode::AlreadyAborting => "already_aborting",
            RejectionCode::AlreadyApproved => "already_approved",
            RejectionCode::AlreadyLocked => "already_locked",
            RejectionCode::AlreadyDeployed => "already_deployed",
            RejectionCode::AlreadyRecorded => "already_recorded",
            RejectionCode::AlreadyRollingBack => "already_rolling_back",
            RejectionCode::AlreadyStarted => "already_started",
            RejectionCode::AlreadyTicked => "already_ticked",
            RejectionCode::ArtifactAlreadyRecorded => "artifact_already_recorded",
            RejectionCode::HookRunning => "hook_running",
            RejectionCode::Downgrade => "downgrade",
            RejectionCode::DowntimeStrategy => "downtime_strategy",
            RejectionCode::EvidenceMissing => "evidence_missing",
            RejectionCode::Frozen => "frozen",
            RejectionCode::GateNotReady => "gate_not_ready",
            RejectionCode::IdempotencyKeyReused => "idempotency_key_reused",
            RejectionCode::InvalidInput => "invalid_input",
            RejectionCode::InvalidPlaybook => "invalid_playbook",
            RejectionCode::Locked => "locked",
            RejectionCode::NoApprovalNeeded => "no_approval_needed",
            RejectionCode::NoOverrideRequested => "no_override_requested",
            RejectionCode::NoRollbackHook => "no_rollback_hook",
            RejectionCode::NotAllowed => "not_allowed",
            RejectionCode::NotCurrentStep => "not_current_step",
            RejectionCode::NotHotfix => "not_hotfix",
            RejectionCode::NotLocked => "not_locked",
            RejectionCode::NotStalled => "not_stalled",
            RejectionCode::NotRollingBack => "not_rolling_back",
            RejectionCode::NotWatching => "not_watching",
            RejectionCode::NotStarted => "not_started",
            RejectionCode::NotTicked => "not_ticked",
            RejectionCode::NoteRequired => "note_required",
            RejectionCode::NothingToRollBack => "nothing_to_roll_back",
            RejectionCode::OverrideActive => "override_active",
            RejectionCode::OverridePending => "override_pending",
            RejectionCode::ProductionDeployed => "production_deployed",
            RejectionCode::ProductionHeld => "production_held",
            RejectionCode::ReleaseFinished => "release_finished",
            RejectionCode::SelfApproval => "self_approval",
            RejectionCode::StaleState => "stale_state",
            RejectionCode::StrategyRequired => "strategy_required",
            RejectionCode::UnknownFailurePath => "unknown_failure_path",
            RejectionCode::UnknownItem => "unknown_item",
            RejectionCode::UnknownPlaybook => "unknown_playbook",
            RejectionCode::UnknownStep => "unknown_step",
            RejectionCode::UnapprovedArtifact => "unapproved_artifact",
            RejectionCode::UnknownArtifact => "unknown_artifact",
            RejectionCode::WrongArtifact => "wrong_artifact",
            RejectionCode::Internal => "internal",
        }
    }
}

impl fmt::Display for RejectionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for RejectionCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

fn reject<T>(code: RejectionCode, message: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection::new(code, message))
}

// ----------------------------------------------------------------------------------------
// State
// ----------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    RollingBack,
    Completed,
    RolledBack,
    Aborted,
}

impl Status {
    pub fn is_finished(self) -> bool {
        matches!(self, Status::Completed | Status::RolledBack | Status::Aborted)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::RollingBack => "rolling_back",
            Status::Completed => "completed",
            Status::RolledBack => "rolled_back",
            Status::Aborted => "aborted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mark {
    pub by: Actor,
    pub at: DateTime<Utc>,
}

/// One step's state in the current attempt.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StepState {
    pub entered_at: Option<DateTime<Utc>>,
    pub ticked: BTreeMap<ItemId, Mark>,
    pub approvals: Vec<Mark>,
    pub passed: Option<Mark>,
    /// Latest result per suite.
    pub tests: BTreeMap<String, TestResult>,
    pub artifact: Option<Artifact>,
    pub deployments: Vec<(DeploymentReport, Mark)>,
    pub smoke_passed: Option<ArtifactDigest>,
    /// How many times this step was entered; restarts and retries count up.
    pub attempt: u32,
    /// The digest the approvals of this attempt named (the gate into production's only).
    pub approved_digest: Option<ArtifactDigest>,
    /// Who refused the gate of this attempt, why, and down which path.
    pub rejected: Option<GateRejection>,
    /// When the attempt's stall was noticed and its owners pinged.
    pub stall_noticed: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateRejection {
    pub by: Mark,
    pub reason: String,
    pub path: Option<FailurePathId>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackState {
    pub from: StepId,
    pub reason: String,
    pub started: Mark,
    pub then: AfterRollback,
    pub deployed: Option<DeploymentReport>,
    pub target: Option<LiveDeployment>,
    /// What tripped, when a rollback criterion started it.
    pub trips: Vec<Trip>,
    pub step: StepState,
    /// The runs of the rollback hook, oldest first; the last may be in flight.
    pub hooks: Vec<HookRun>,
}

impl RollbackState {
    /// The rollback hook's latest run, if one was asked for.
    pub fn hook(&self) -> Option<&HookRun> {
        self.hooks.last()
    }
}

/// The watch of the release's production deploy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WatchState {
    pub settings: WatchSettings,
    pub criteria: Criteria,
    pub deployed_at: DateTime<Utc>,
    pub baseline: Readings,
    pub started: Mark,
    pub samples: Vec<Sample>,
    pub alerts: Vec<(Alert, Mark)>,
    pub blind_accepted: Vec<BlindAcceptance>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub readings: Readings,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlindAcceptance {
    pub reason: String,
    pub metrics: Vec<Metric>,
    pub by: Mark,
}

impl WatchState {
    /// The window ends this long after the deploy.
    pub fn ends_at(&self) -> DateTime<Utc> {
        self.deployed_at + self.settings.window()
    }

    pub fn latest(&self) -> Option<&Sample> {
        self.samples.last()
    }

    /// The instant of the next sample: one interval after the last (or after the deploy),
    /// while that is within the window.
    pub fn next_sample_at(&self) -> Option<DateTime<Utc>> {
        let after = self.latest().map_or(self.deployed_at, |s| s.at);
        let next = after + self.settings.interval();
        (next <= self.ends_at()).then_some(next)
    }

    /// The metrics the watch cannot see now, and why.
    pub fn blind(&self) -> BTreeMap<Metric, String> {
        watch::blind_metrics(&self.baseline, self.latest().map(|s| &s.readings))
    }

    /// When the watch fell behind: the instant of the oldest sample due more than one
    /// interval ago and not taken (Prometheus was not read then), unless a person accepted
    /// completing without it after it was due.
    pub fn lagging(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let due = self.next_sample_at()?;
        if now < due + self.settings.interval() {
            return None;
        }
        let accepted_after = self.blind_accepted.iter().any(|a| a.by.at >= due);
        (!accepted_after).then_some(due)
    }

    /// Blind metrics no one has yet accepted completing without.
    pub fn blind_unaccepted(&self) -> BTreeMap<Metric, String> {
        let mut blind = self.blind();
        for acceptance in &self.blind_accepted {
            for metric in &acceptance.metrics {
                blind.remove(metric);
            }
        }
        blind
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FreezeOverride {
    pub reason: String,
    pub requested: Mark,
    pub approved: Option<Mark>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FollowUp {
    pub text: String,
    pub recorded: Mark,
}

/// The release's last retarget: what it shipped before, who moved it to the fix and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Retargeting {
    pub from_git_sha: GitSha,
    pub from_version: Version,
    pub reason: String,
    pub by: Mark,
}

/// A release as its events left it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Release {
    pub id: ReleaseId,
    pub service: ServiceName,
    pub version: Version,
    pub git_sha: GitSha,
    pub hotfix: bool,
    pub channel: Option<ChatChannel>,
    pub playbook: Arc<Playbook>,
    pub started: Mark,
    pub freeze_at_start: Option<FreezeVerdict>,
    /// The service's rollback drills as they stood when the release started.
    pub last_drill: Option<DrillStanding>,
    pub status: Status,
    /// Index of the current step in `playbook.steps`.
    pub current: usize,
    pub steps: Vec<StepState>,
    pub rollback: Option<RollbackState>,
    /// The production deployment of this release that succeeded, while it stands.
    pub production: Option<(DeploymentReport, Mark)>,
    /// What was live before this release's production deploy.
    pub previous_live: Option<LiveDeployment>,
    /// Whether any production deploy of this release was attempted in this attempt.
    pub production_attempted: bool,
    pub freeze_override: Option<FreezeOverride>,
    pub follow_ups: Vec<FollowUp>,
    /// Set once the release was pointed at another commit (the last time, if several).
    pub retargeted: Option<Retargeting>,
    /// The watch of the production deploy, once its baseline was measured. It stays after
    /// a rollback, which tells what it saw.
    pub watch: Option<WatchState>,
    /// The bug triage release of this release's rollback, once opened.
    pub triage: Option<ReleaseId>,
    /// For a bug triage release: the rollback it triages.
    pub triage_of: Option<TriageOrigin>,
    pub finished: Option<Mark>,
    pub abort_reason: Option<String>,
    /// Number of events folded: the next event gets `seq + 1`.
    pub seq: u64,
    /// When someone (or CI) last did something to the release; shipgate's own stall
    /// notices do not count, so a noticed stall stays stalled until someone acts.
    pub last_activity: DateTime<Utc>,
}

/// Where a gate stands: what it still waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateStatus {
    pub unticked: Vec<ItemId>,
    /// What evidence is still missing, in words.
    pub evidence_missing: Option<String>,
    pub approvals: u32,
    pub approvals_required: u32,
}

impl GateStatus {
    pub fn checklist_and_evidence_ready(&self) -> bool {
        self.unticked.is_empty() && self.evidence_missing.is_none()
    }
    pub fn ready(&self) -> bool {
        self.checklist_and_evidence_ready() && self.approvals >= self.approvals_required
    }
}

impl Release {
    /// Rebuilds a release from its history. The first event must be `Started`.
    pub fn fold(id: ReleaseId, events: &[Recorded]) -> Result<Release, FoldError> {
        let (first, rest) = events.split_first().ok_or(FoldError::Empty)?;
        let mut release = Release::from_started(id, first)?;
        for recorded in rest {
            release.evolve(recorded)?;
        }
        Ok(release)
    }

    fn from_started(id: ReleaseId, recorded: &Recorded) -> Result<Release, FoldError> {
        let Event::Started { service, version, git_sha, hotfix, channel, playbook, freeze_at_start, last_drill } =
            &recorded.event
        else {
            return Err(FoldError::NotStarted);
        };
        let mark = Mark { by: recorded.actor.clone(), at: recorded.at };
        let mut steps = vec![StepState::default(); playbook.steps.len()];
        if let Some(first) = steps.first_mut() {
            first.entered_at = Some(recorded.at);
            first.attempt = 1;
        }
        Ok(Release {
            id,
            service: service.clone(),
            version: version.clone(),
            git_sha: git_sha.clone(),
            hotfix: *hotfix,
            channel: channel.clone(),
            playbook: Arc::new((**playbook).clone()),
            started: mark,
            freeze_at_start: freeze_at_start.clone(),
            last_drill: last_drill.clone(),
            status: Status::Active,
            current: 0,
            steps,
            rollback: None,
            production: None,
            previous_live: None,
            production_attempted: false,
            freeze_override: None,
            follow_ups: Vec::new(),
            retargeted: None,
            watch: None,
            triage: None,
            triage_of: None,
            finished: None,
            abort_reason: None,
            seq: recorded.seq,
            last_activity: recorded.at,
        })
    }

    /// Applies one recorded event. Events were decided by [`apply`], so this only
    /// records; an event that does not fit is a corrupt history and an error.
    pub fn evolve(&mut self, recorded: &Recorded) -> Result<(), FoldError> {
        if recorded.seq != self.seq + 1 {
            return Err(FoldError::Gap { expected: self.seq + 1, found: recorded.seq });
        }
        let mark = Mark { by: recorded.actor.clone(), at: recorded.at };
        match &recorded.event {
            Event::Started { .. } => return Err(FoldError::StartedTwice),
            Event::ItemTicked { step, item } => {
                self.state_mut(step)?.ticked.insert(item.clone(), mark);
            }
            Event::ItemUnticked { step, item, .. } => {
                let state = self.state_mut(step)?;
                state.ticked.remove(item);
                state.approvals.clear();
                state.approved_digest = None;
            }
            Event::Approved { step, digest } => {
                let state = self.state_mut(step)?;
                state.approvals.push(mark);
                if digest.is_some() {
                    state.approved_digest = digest.clone();
                }
            }
            Event::GatePassed { step, smoke_passed } => {
                let state = self.state_mut(step)?;
                state.passed = Some(mark);
                state.smoke_passed = smoke_passed.clone();
            }
            Event::StepEntered { step } => {
                let index = self.index_of(step)?;
                self.current = index;
                let state = &mut self.steps[index];
                state.entered_at = Some(recorded.at);
                state.attempt += 1;
            }
            Event::FailurePathTaken { .. } => {}
            Event::GateRejected { step, reason, path } => {
                self.state_mut(step)?.rejected =
                    Some(GateRejection { by: mark, reason: reason.clone(), path: path.clone() });
            }
            Event::StallNoticed { step, .. } => self.state_mut(step)?.stall_noticed = Some(recorded.at),
            Event::Restarted { from } => {
                let index = self.index_of(from)?;
                for state in &mut self.steps[index..] {
                    let attempt = state.attempt;
                    *state = StepState { attempt, ..StepState::default() };
                }
                if self.production_step().is_some_and(|p| index <= p) {
                    self.production = None;
                    self.production_attempted = false;
                    self.watch = None;
                }
            }
            Event::FollowUpRecorded { text } => self.follow_ups.push(FollowUp { text: text.clone(), recorded: mark }),
            Event::TestResultRecorded { step, result } => {
                self.state_mut(step)?.tests.insert(result.suite.clone(), result.clone());
            }
            Event::ArtifactRecorded { step, artifact } => self.state_mut(step)?.artifact = Some(artifact.clone()),
            Event::DeploymentRecorded { step, report, previous_live, rollback, .. } => {
                if *rollback {
                    let rollback = self.rollback.as_mut().ok_or(FoldError::NotRollingBack)?;
                    rollback.step.deployments.push((report.clone(), mark));
                } else {
                    if report.environment == Environment::Production {
                        self.production_attempted = true;
                        self.previous_live = previous_live.clone();
                        if report.outcome == Outcome::Succeeded {
                            self.production = Some((report.clone(), mark.clone()));
                        }
                    }
                    self.state_mut(step)?.deployments.push((report.clone(), mark));
                }
            }
            Event::FreezeOverrideRequested { reason } => {
                self.freeze_override =
                    Some(FreezeOverride { reason: reason.clone(), requested: mark, approved: None, expires_at: None });
            }
            Event::FreezeOverrideApproved { expires_at, .. } => {
                let o = self.freeze_override.as_mut().ok_or(FoldError::NoOverrideRequested)?;
                o.approved = Some(mark);
                o.expires_at = Some(*expires_at);
            }
            Event::RollbackStarted { from, reason, then, deployed, target, trips } => {
                self.status = Status::RollingBack;
                self.rollback = Some(RollbackState {
                    from: from.clone(),
                    reason: reason.clone(),
                    started: mark.clone(),
                    then: then.clone(),
                    deployed: deployed.clone(),
                    target: target.clone(),
                    trips: trips.clone(),
                    step: StepState { entered_at: Some(mark.at), attempt: 1, ..StepState::default() },
                    hooks: Vec::new(),
                });
            }
            Event::AbortRequested { reason } => {
                let rollback = self.rollback.as_mut().ok_or(FoldError::NotRollingBack)?;
                rollback.then = AfterRollback::Abort;
                self.abort_reason = Some(reason.clone());
            }
            Event::RollbackCompleted { then } => {
                let rollback = self.rollback.as_mut().ok_or(FoldError::NotRollingBack)?;
                rollback.step.passed = Some(mark.clone());
                self.production = None;
                match then {
                    AfterRollback::End => {
                        self.status = Status::RolledBack;
                        self.finished = Some(mark);
                    }
                    AfterRollback::Abort => {
                        self.status = Status::Aborted;
                        self.finished = Some(mark);
                    }
                    // The Restarted and StepEntered events that follow move the release.
                    AfterRollback::Resume(_) => self.status = Status::Active,
                }
            }
            Event::Retargeted { from_git_sha, from_version, git_sha, version, reason } => {
                self.git_sha = git_sha.clone();
                self.version = version.clone();
                self.retargeted = Some(Retargeting {
                    from_git_sha: from_git_sha.clone(),
                    from_version: from_version.clone(),
                    reason: reason.clone(),
                    by: mark,
                });
            }
            Event::WatchStarted { settings, criteria, deployed_at, baseline } => {
                self.watch = Some(WatchState {
                    settings: *settings,
                    criteria: *criteria,
                    deployed_at: *deployed_at,
                    baseline: baseline.clone(),
                    started: mark,
                    samples: Vec::new(),
                    alerts: Vec::new(),
                    blind_accepted: Vec::new(),
                });
            }
            Event::WatchSampled { at, readings } => {
                let watch = self.watch.as_mut().ok_or(FoldError::NotWatching)?;
                watch.samples.push(Sample { at: *at, readings: readings.clone() });
            }
            Event::AlertRecorded { alert } => {
                let watch = self.watch.as_mut().ok_or(FoldError::NotWatching)?;
                watch.alerts.push((alert.clone(), mark));
            }
            Event::BlindWatchAccepted { reason, metrics } => {
                let watch = self.watch.as_mut().ok_or(FoldError::NotWatching)?;
                watch.blind_accepted.push(BlindAcceptance {
                    reason: reason.clone(),
                    metrics: metrics.clone(),
                    by: mark,
                });
            }
            Event::TriageOpened { triage } => self.triage = Some(triage.clone()),
            Event::TriageOf { origin } => self.triage_of = Some(origin.clone()),
            Event::RollbackHookRequested { attempt, trigger } => {
                let rollback = self.rollback.as_mut().ok_or(FoldError::NotRollingBack)?;
                rollback.hooks.push(HookRun {
                    attempt: *attempt,
                    trigger: *trigger,
                    requested: mark,
                    started: None,
                    finished: None,
                });
            }
            Event::RollbackHookStarted { attempt } => {
                self.hook_run_mut(*attempt)?.started = Some(mark);
            }
            Event::RollbackHookFinished { attempt, outcome } => {
                self.hook_run_mut(*attempt)?.finished = Some((outcome.clone(), mark));
            }
            Event::Completed => {
                self.status = Status::Completed;
                self.finished = Some(mark);
            }
            Event::Aborted { reason } => {
                self.status = Status::Aborted;
                self.abort_reason = Some(reason.clone());
                self.finished = Some(mark);
            }
        }
        // shipgate's own notices, samples and hook runs are not activity: a stall stays
        // noticed, and a release under watch is not "worked on" every interval.
        let own = matches!(
            recorded.event,
            Event::StallNoticed { .. }
                | Event::WatchSampled { .. }
                | Event::RollbackHookStarted { .. }
                | Event::RollbackHookFinished { .. }
        );
        if !own {
            self.last_activity = recorded.at;
        }
        self.seq = recorded.seq;
        Ok(())
    }

    fn hook_run_mut(&mut self, attempt: u32) -> Result<&mut HookRun, FoldError> {
        let rollback = self.rollback.as_mut().ok_or(FoldError::NotRollingBack)?;
        rollback.hooks.iter_mut().find(|r| r.attempt == attempt).ok_or(FoldError::NoHookRun(attempt))
    }

    /// When the rollback hook waits for the runner: its latest run was asked for and has no
    /// outcome yet (the instant it was asked for). The runner starts a run not yet started,
    /// and records "unknown" for one that started in an instance that is gone.
    pub fn hook_due_at(&self) -> Option<DateTime<Utc>> {
        if self.status != Status::RollingBack {
            return None;
        }
        let run = self.rollback.as_ref()?.hook()?;
        run.in_flight().then_some(run.requested.at)
    }

    fn index_of(&self, step: &StepId) -> Result<usize, FoldError> {
        self.playbook.step_index(step).ok_or_else(|| FoldError::UnknownStep(step.clone()))
    }

    fn state_mut(&mut self, step: &StepId) -> Result<&mut StepState, FoldError> {
        if step.as_str() == ROLLBACK_STEP {
            return Ok(&mut self.rollback.as_mut().ok_or(FoldError::NotRollingBack)?.step);
        }
        let index = self.index_of(step)?;
        Ok(&mut self.steps[index])
    }

    pub fn current_step(&self) -> &Step {
        &self.playbook.steps[self.current]
    }

    /// When the watch the release waits out at its current step ends: `None` unless the
    /// release is active at a watch step with production deployed.
    pub fn watch_ends_at(&self) -> Option<DateTime<Utc>> {
        let step = self.current_step();
        if self.status != Status::Active || step.requires != Evidence::Watch {
            return None;
        }
        let (_, deployed) = self.production.as_ref()?;
        Some(deployed.at + Duration::minutes(i64::from(step.watch_minutes.map_or(0, |w| w.min))))
    }

    fn production_step(&self) -> Option<usize> {
        self.playbook.step_requiring(Evidence::ProductionDeploy)
    }

    /// The step whose end lets go of production: the watch, or the deploy itself.
    fn watch_end_step(&self) -> Option<usize> {
        self.playbook.step_requiring(Evidence::Watch).or(self.production_step())
    }

    /// Whether this release holds production for its service: from entering the
    /// production step until its watch ends, and while it rolls back.
    pub fn holds_production(&self) -> bool {
        match self.status {
            Status::RollingBack => true,
            Status::Active => match (self.production_step(), self.watch_end_step()) {
                (Some(from), Some(to)) => (from..=to.max(from)).contains(&self.current),
                _ => false,
            },
            _ => false,
        }
    }

    /// Whether a command on this release may consult who holds production and what is
    /// live: from the step before production on (entering production, deploying and
    /// rolling back check them). Before that the app need not read them.
    pub fn consults_production_facts(&self) -> bool {
        self.status == Status::Active && self.production_step().is_some_and(|p| self.current + 1 >= p)
    }

    /// The environment a step deploys to: the gate into it is the gate a lock on that
    /// environment blocks.
    pub fn environment_of(&self, index: usize) -> Option<Environment> {
        match self.playbook.steps.get(index)?.requires {
            Evidence::StagingDeploy => Some(Environment::Staging),
            Evidence::ProductionDeploy => Some(Environment::Production),
            _ => None,
        }
    }

    /// Whether a command on this release may meet a lock: from the step before the first
    /// deploy step on, up to the production step. Before and after, the app need not read
    /// locks.
    pub fn consults_locks(&self) -> bool {
        self.status == Status::Active
            && (self.current..=self.current + 1).any(|index| self.environment_of(index).is_some())
    }

    /// The artifact recorded for this attempt, if any.
    pub fn artifact(&self) -> Option<&Artifact> {
        self.steps.iter().rev().find_map(|s| s.artifact.as_ref())
    }

    /// The digest deployed to staging whose deploy succeeded and whose health checks passed.
    pub fn staging_passed(&self) -> Option<&ArtifactDigest> {
        self.steps.iter().rev().find_map(|s| {
            s.deployments.iter().rev().find_map(|(d, _)| {
                (d.environment == Environment::Staging
                    && d.outcome == Outcome::Succeeded
                    && d.health == HealthCheck::Passed)
                    .then_some(&d.digest)
            })
        })
    }

    /// The digest that passed the smoke test, if a smoke-test gate passed in this attempt.
    pub fn smoke_passed(&self) -> Option<&ArtifactDigest> {
        self.steps.iter().rev().find_map(|s| s.smoke_passed.as_ref())
    }

    /// Whether the gate in play is the one that takes the release to production.
    pub fn gate_into_production_in_play(&self) -> bool {
        self.status == Status::Active && self.production_step() == Some(self.current + 1)
    }

    /// The artifact a production approval lets through: the one that passed staging, or
    /// the one recorded when the playbook has no staging deploy.
    pub fn candidate_digest(&self) -> Option<ArtifactDigest> {
        self.staging_passed().cloned().or_else(|| self.artifact().map(|a| a.digest.clone()))
    }

    /// The digest the gate into production was approved for in this attempt, and the
    /// last approval of it.
    pub fn production_approval(&self) -> Option<(&ArtifactDigest, &Mark)> {
        let gate = self.production_step()?.checked_sub(1)?;
        let state = &self.steps[gate];
        Some((state.approved_digest.as_ref()?, state.approvals.last()?))
    }

    /// Whether the current step attempt went quiet past its limit and its owners were
    /// pinged, with nothing done since.
    pub fn stalled(&self) -> bool {
        self.status == Status::Active
            && self.steps[self.current].stall_noticed.is_some_and(|noticed| self.last_activity < noticed)
    }

    /// The gate in play: the current step's, or the rollback procedure's.
    fn gate_in_play(&self) -> (&Gate, &[Item], &StepState) {
        match &self.rollback {
            Some(rollback) if self.status == Status::RollingBack => {
                (&self.playbook.rollback.gate, &self.playbook.rollback.items, &rollback.step)
            }
            _ => {
                let step = self.current_step();
                (&step.gate, &step.items, &self.steps[self.current])
            }
        }
    }

    /// Where the gate in play stands at `now`.
    pub fn gate_status(&self, now: DateTime<Utc>) -> GateStatus {
        let (gate, items, state) = self.gate_in_play();
        let unticked = items.iter().filter(|i| !state.ticked.contains_key(&i.id)).map(|i| i.id.clone()).collect();
        let evidence_missing = if self.status == Status::RollingBack {
            self.rollback_evidence_missing()
        } else {
            let last = self.current + 1 == self.playbook.steps.len();
            self.evidence_missing(self.current_step(), state, now).or_else(|| {
                if last {
                    self.watch_blind_missing(now)
                } else {
                    None
                }
            })
        };
        GateStatus {
            unticked,
            evidence_missing,
            approvals: state.approvals.len() as u32,
            approvals_required: gate.approvals,
        }
    }

    fn evidence_missing(&self, step: &Step, state: &StepState, now: DateTime<Utc>) -> Option<String> {
        match step.requires {
            Evidence::None => None,
            Evidence::TestsPassed => {
                if state.tests.is_empty() {
                    Some("a test result with zero failures (none recorded yet)".into())
                } else {
                    let failing: Vec<String> = state
                        .tests
                        .values()
                        .filter(|t| t.failed > 0)
                        .map(|t| format!("{} ({} failed)", t.suite, t.failed))
                        .collect();
                    (!failing.is_empty()).then(|| {
                        format!(
                            "zero test failures; failing: {} — fix a real regression from Step 1, or fix the flake and re-run",
                            failing.join(", ")
                        )
                    })
                }
            }
            Evidence::Artifact => state
                .artifact
                .is_none()
                .then(|| format!("an artifact tagged with git SHA {} and version {}", self.git_sha, self.version)),
            Evidence::StagingDeploy => {
                let artifact = self.artifact();
                let healthy = state.deployments.iter().rev().find(|(d, _)| d.environment == Environment::Staging);
                match (artifact, healthy) {
                    (None, _) => Some("an artifact (none recorded in this attempt)".into()),
                    (Some(a), Some((d, _)))
                        if d.digest == a.digest
                            && d.outcome == Outcome::Succeeded
                            && d.health == HealthCheck::Passed =>
                    {
                        None
                    }
                    (Some(a), Some((d, _))) if d.digest == a.digest && d.outcome == Outcome::Succeeded => Some(
                        format!("staging health checks passing for {} (last reported: not passing)", a.digest.short()),
                    ),
                    (Some(a), _) => {
                        Some(format!("a successful staging deploy of {} with health checks passing", a.digest.short()))
                    }
                }
            }
            Evidence::SmokeTest => {
                self.staging_passed().is_none().then(|| "a healthy staging deploy to smoke-test".to_string())
            }
            Evidence::ProductionDeploy => match &self.production {
                Some((d, _)) if d.health == HealthCheck::Passed => None,
                Some(_) => Some("production health checks passing".into()),
                None => Some("a successful production deploy of the artifact that passed staging".into()),
            },
            Evidence::Watch => self.watch_missing(step, now),
        }
    }

    /// The watch of the standing production deploy, once it began.
    pub fn current_watch(&self) -> Option<&WatchState> {
        let (_, deployed) = self.production.as_ref()?;
        self.watch.as_ref().filter(|w| w.deployed_at == deployed.at)
    }

    /// When the watch of the standing production deploy next needs shipgate: at the
    /// deploy for its baseline, then at each sample's instant until the window ends.
    /// `None` unless the release is active with production deployed and its playbook
    /// watches.
    pub fn watch_due_at(&self) -> Option<DateTime<Utc>> {
        if self.status != Status::Active || self.playbook.step_requiring(Evidence::Watch).is_none() {
            return None;
        }
        let (_, deployed) = self.production.as_ref()?;
        match self.current_watch() {
            None => Some(deployed.at),
            Some(watch) => watch.next_sample_at(),
        }
    }

    /// How long production must be watched before the watch gate may pass: the playbook's
    /// least minutes, or the watch's `min_window` when that is longer.
    pub fn watch_minimum(&self, step: &Step) -> Duration {
        let playbook = Duration::minutes(i64::from(step.watch_minutes.map_or(0, |w| w.min)));
        self.current_watch().map_or(playbook, |w| playbook.max(w.settings.min_window()))
    }

    fn watch_missing(&self, step: &Step, now: DateTime<Utc>) -> Option<String> {
        let Some((_, deployed)) = &self.production else {
            return Some("a production deploy to watch".into());
        };
        let least = self.watch_minimum(step);
        let until = deployed.at + least;
        if now < until {
            let left = (until - now).num_seconds();
            return Some(format!(
                "the {}-minute watch after the production deploy ({}m{:02}s left, until {})",
                least.num_minutes(),
                left / 60,
                left % 60,
                until.format("%H:%M:%S UTC")
            ));
        }
        self.watch_blind_missing(now)
    }

    /// What the watch could not see and no one accepted: the release is not completed on
    /// missing data without a person's typed reason.
    pub fn watch_blind_missing(&self, now: DateTime<Utc>) -> Option<String> {
        let watch = self.current_watch()?;
        let blind = watch.blind_unaccepted();
        if !blind.is_empty() {
            let list: Vec<String> = blind.iter().map(|(m, why)| format!("{m} ({why})")).collect();
            return Some(format!(
                "data the watch could not see: {}; fix the source, or complete without it with a reason",
                list.join(", ")
            ));
        }
        watch.lagging(now).map(|due| {
            format!(
                "the watch's sample of {} (Prometheus has not been read since); wait for it, or complete without it \
                 with a reason",
                due.format("%H:%M:%S UTC")
            )
        })
    }

    fn rollback_evidence_missing(&self) -> Option<String> {
        let rollback = self.rollback.as_ref()?;
        // The hook may still be reverting production: the procedure waits for its outcome.
        if let Some(run) = rollback.hook().filter(|r| r.in_flight()) {
            return Some(format!("the outcome of the rollback hook (run {} has not finished)", run.attempt));
        }
        let reverted = rollback.step.deployments.iter().rev().find(|(d, _)| d.environment == Environment::Production);
        match reverted {
            Some((d, _)) if d.outcome == Outcome::Succeeded && d.health == HealthCheck::Passed => None,
            _ => Some(match &rollback.target {
                Some(target) => format!(
                    "a successful deploy of the previous artifact ({} {}) with health checks passing",
                    target.version,
                    target.digest.short()
                ),
                None => "a successful deploy of the previous known-good artifact with health checks passing".into(),
            }),
        }
    }
}

/// A history that cannot be folded: a defect or a corrupt store, never user input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FoldError {
    #[error("a release has no events")]
    Empty,
    #[error("a release's first event must be `started`")]
    NotStarted,
    #[error("`started` appears twice")]
    StartedTwice,
    #[error("event sequence gap: expected {expected}, found {found}")]
    Gap { expected: u64, found: u64 },
    #[error("event names unknown step {0}")]
    UnknownStep(StepId),
    #[error("watch event while no watch was started")]
    NotWatching,
    #[error("rollback event while no rollback is in progress")]
    NotRollingBack,
    #[error("override approved but never requested")]
    NoOverrideRequested,
    #[error("rollback hook event names run {0}, which was never asked for")]
    NoHookRun(u32),
}

// ----------------------------------------------------------------------------------------
// Deciding
// ----------------------------------------------------------------------------------------

/// Decides the `Start` command: a release that does not exist yet.
pub fn start(command: Command, actor: &Actor, ctx: &Context<'_>) -> Result<Vec<Event>, Rejection> {
    start_noting(command, actor, ctx, None)
}

/// [`start`], recording `last_drill` (the service's rollback drills, read by the app) on
/// the release for its first card. It is a fact shown, not a rule: no start is refused
/// for an overdue drill, since the playbook asks for drills, not for holding releases.
pub fn start_noting(
    command: Command,
    actor: &Actor,
    ctx: &Context<'_>,
    last_drill: Option<DrillStanding>,
) -> Result<Vec<Event>, Rejection> {
    let Command::Start { service, version, git_sha, playbook, hotfix, channel } = command else {
        return reject(RejectionCode::NotStarted, "this release does not exist yet; start it first");
    };
    if service.as_str().trim().is_empty() || service.as_str().len() > 100 {
        return reject(RejectionCode::InvalidInput, "service must be 1 to 100 characters, e.g. api");
    }
    if playbook.steps.is_empty() {
        return reject(RejectionCode::InvalidPlaybook, format!("playbook {} has no steps", playbook.name));
    }
    if !playbook.start_roles.is_empty() && !actor.has_any_role(&playbook.start_roles) {
        return reject(
            RejectionCode::NotAllowed,
            format!(
                "starting a {} release needs one of the roles {}; you have {}",
                playbook.title,
                roles_list(&playbook.start_roles),
                roles_list_set(&actor.roles)
            ),
        );
    }
    // The freeze guards production deploys: a playbook that never deploys to production
    // (a rollback drill against staging) starts outside it and is not shown as frozen.
    let deploys_to_production = playbook.step_requiring(Evidence::ProductionDeploy).is_some();
    let verdict = deploys_to_production.then(|| ctx.freeze.verdict(ctx.now)).filter(FreezeVerdict::is_frozen);
    Ok(vec![Event::Started {
        service,
        version,
        git_sha,
        hotfix,
        channel,
        playbook,
        freeze_at_start: verdict,
        last_drill,
    }])
}

/// Decides a command against an existing release.
pub fn apply(release: &Release, command: Command, actor: &Actor, ctx: &Context<'_>) -> Result<Vec<Event>, Rejection> {
    decide(release, command, actor, ctx).map(|(events, _)| events)
}

/// Like [`apply`], and also returns the release as the events leave it (what folding
/// them onto `release` gives), sparing the caller a second fold.
pub fn decide(
    release: &Release,
    command: Command,
    actor: &Actor,
    ctx: &Context<'_>,
) -> Result<(Vec<Event>, Release), Rejection> {
    command.check_text()?;
    if let Command::Start { .. } = command {
        return reject(RejectionCode::AlreadyStarted, format!("release {} already exists", release.id));
    }
    if release.status.is_finished() && !matches!(command, Command::LinkTriage { .. }) {
        return reject(
            RejectionCode::ReleaseFinished,
            format!(
                "release {} {} is {}; start a new release",
                release.service,
                release.version,
                release.status.as_str().replace('_', " ")
            ),
        );
    }
    require_a_playbook_role(release, &command, actor)?;
    let mut decision = Decision { release: release.clone(), events: Vec::new(), defect: None, ctx, actor };
    decision.decide(command)?;
    if let Some(defect) = decision.defect {
        return reject(
            RejectionCode::Internal,
            format!("a decided event does not fit release {}: {defect}", release.id),
        );
    }
    Ok((decision.events, decision.release))
}

/// Acting on a release takes one of the roles its playbook names: a client or chat user
/// holding none of them (an observer) may read the release, never change it, whatever
/// the command. A step or failure path may ask for narrower roles on top; a playbook
/// that names no role at all leaves its releases open to everyone. Shipgate's own timers
/// act as the system.
fn require_a_playbook_role(release: &Release, command: &Command, actor: &Actor) -> Result<(), Rejection> {
    let systems_own = matches!(
        command,
        Command::NoticeStall { .. }
            | Command::BeginWatch { .. }
            | Command::RecordSample { .. }
            | Command::RecordAlert(_)
            | Command::LinkTriage { .. }
            | Command::StartRollbackHook { .. }
            | Command::RecordRollbackHookOutcome { .. }
    );
    if actor.platform == Platform::System && systems_own {
        return Ok(());
    }
    let roles: Vec<RoleName> = release.playbook.roles().into_iter().collect();
    if roles.is_empty() || actor.has_any_role(&roles) {
        return Ok(());
    }
    reject(
        RejectionCode::NotAllowed,
        format!(
            "to work on a {} release you need one of the roles {}; you have {}",
            release.playbook.title,
            roles_list(&roles),
            roles_list_set(&actor.roles)
        ),
    )
}

/// A command being decided: events are applied to a scratch copy as they are emitted,
/// so later checks in the same command see their effect.
struct Decision<'a, 'c> {
    release: Release,
    events: Vec<Event>,
    defect: Option<FoldError>,
    ctx: &'a Context<'c>,
    actor: &'a Actor,
}

impl Decision<'_, '_> {
    fn emit(&mut self, event: Event) {
        let recorded = Recorded {
            seq: self.release.seq + 1,
            at: self.ctx.now,
            actor: self.actor.clone(),
            request_id: RequestId::new("deciding"),
            event: event.clone(),
        };
        // Every event emitted here fits the state it was decided on; one that does not is
        // a defect, and the command fails rather than store a history that cannot fold.
        if let Err(e) = self.release.evolve(&recorded) {
            self.defect.get_or_insert(e);
        }
        self.events.push(event);
    }

    fn decide(&mut self, command: Command) -> Result<(), Rejection> {
        match command {
            Command::Start { .. } => reject(RejectionCode::AlreadyStarted, "this release already exists"),
            Command::Tick { step, item } => self.tick(step, item),
            Command::Untick { step, item } => self.untick(step, item),
            Command::Approve { step } => self.approve(step),
            Command::TakeFailurePath { step, path, note } => self.take_failure_path(step, path, note),
            Command::RejectGate { step, reason, path } => self.reject_gate(step, reason, path),
            Command::NoticeStall { step, attempt } => self.notice_stall(step, attempt),
            Command::RecordTestResult(result) => self.record_test_result(result),
            Command::RecordArtifact(artifact) => self.record_artifact(artifact),
            Command::RecordDeployment(report) => self.record_deployment(report),
            Command::RequestFreezeOverride { reason } => self.request_freeze_override(reason),
            Command::ApproveFreezeOverride => self.approve_freeze_override(),
            Command::TriggerRollback { reason } => self.trigger_rollback(reason),
            Command::Abort { reason } => self.abort(reason),
            Command::Retarget { git_sha, version, reason } => self.retarget(git_sha, version, reason),
            Command::BeginWatch { settings, criteria, baseline } => self.begin_watch(settings, criteria, baseline),
            Command::RecordSample { at, readings } => self.record_sample(at, readings),
            Command::RecordAlert(alert) => self.record_alert(alert),
            Command::ReportCriticalFlow { note } => self.report_critical_flow(note),
            Command::AcceptBlindWatch { reason } => self.accept_blind_watch(reason),
            Command::LinkTriage { triage } => self.link_triage(triage),
            Command::RunRollbackHook => self.run_rollback_hook(),
            Command::StartRollbackHook { attempt } => self.start_rollback_hook(attempt),
            Command::RecordRollbackHookOutcome { attempt, outcome } => self.finish_rollback_hook(attempt, outcome),
        }
    }

    // -- where the release is -------------------------------------------------------

    fn rolling_back(&self) -> bool {
        self.release.status == Status::RollingBack
    }

    /// Checks that `step` is where the release is now, and returns the step's
    /// items and who may tick them.
    fn require_current(&self, step: &StepId) -> Result<(Vec<Item>, Vec<RoleName>), Rejection> {
        let r = &self.release;
        if step.as_str() == ROLLBACK_STEP {
            return if self.rolling_back() {
                Ok((r.playbook.rollback.items.clone(), r.playbook.rollback.tick_roles.clone()))
            } else {
                reject(RejectionCode::NotCurrentStep, "no rollback is in progress")
            };
        }
        let Some((index, found)) = r.playbook.step(step) else {
            return reject(
                RejectionCode::UnknownStep,
                format!("{} has no step {step}; its steps are {}", r.playbook.title, step_list(&r.playbook)),
            );
        };
        if self.rolling_back() {
            return reject(
                RejectionCode::NotCurrentStep,
                format!("the release is rolling back; finish the rollback procedure (step `{ROLLBACK_STEP}`) first"),
            );
        }
        if index != r.current {
            let current = r.current_step();
            let when = if index < r.current { "is done" } else { "is not reached yet" };
            return reject(
                RejectionCode::NotCurrentStep,
                format!(
                    "Step {} ({}) {when}; the release is at Step {} ({})",
                    index + 1,
                    found.title,
                    r.current + 1,
                    current.title
                ),
            );
        }
        Ok((found.items.clone(), found.tick_roles.clone()))
    }

    fn require_evidence_step(&self, evidence: Evidence, what: &str) -> Result<StepId, Rejection> {
        let r = &self.release;
        if self.rolling_back() {
            return reject(
                RejectionCode::NotCurrentStep,
                format!("the release is rolling back; {what} is not taken now"),
            );
        }
        let step = r.current_step();
        if step.requires == evidence {
            return Ok(step.id.clone());
        }
        match r.playbook.step_requiring(evidence) {
            Some(index) => reject(
                RejectionCode::NotCurrentStep,
                format!(
                    "{what} belongs to Step {} ({}); the release is at Step {} ({})",
                    index + 1,
                    r.playbook.steps[index].title,
                    r.current + 1,
                    step.title
                ),
            ),
            None => reject(RejectionCode::NotCurrentStep, format!("the {} playbook takes no {what}", r.playbook.title)),
        }
    }

    // -- checklist ------------------------------------------------------------------

    fn tick(&mut self, step: StepId, item: ItemId) -> Result<(), Rejection> {
        let (items, roles) = self.require_current(&step)?;
        self.require_item(&step, &items, &item)?;
        self.require_role(&roles, "tick items in this step")?;
        let state = self.release.state_in_play();
        if let Some(mark) = state.ticked.get(&item) {
            return reject(
                RejectionCode::AlreadyTicked,
                format!("{item} was already ticked by {}", mark.by.display_name),
            );
        }
        self.emit(Event::ItemTicked { step, item });
        self.pass_gate_if_ready()
    }

    fn untick(&mut self, step: StepId, item: ItemId) -> Result<(), Rejection> {
        let (items, roles) = self.require_current(&step)?;
        self.require_item(&step, &items, &item)?;
        self.require_role(&roles, "untick items in this step")?;
        let state = self.release.state_in_play();
        if !state.ticked.contains_key(&item) {
            return reject(RejectionCode::NotTicked, format!("{item} is not ticked"));
        }
        let approvals_withdrawn = state.approvals.len() as u32;
        self.emit(Event::ItemUnticked { step, item, approvals_withdrawn });
        Ok(())
    }

    fn require_item(&self, step: &StepId, items: &[Item], item: &ItemId) -> Result<(), Rejection> {
        if items.iter().any(|i| &i.id == item) {
            return Ok(());
        }
        let known: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
        reject(
            RejectionCode::UnknownItem,
            if known.is_empty() {
                format!("step {step} has no checklist items")
            } else {
                format!("step {step} has no item {item}; its items are {}", known.join(", "))
            },
        )
    }

    fn require_role(&self, roles: &[RoleName], to: &str) -> Result<(), Rejection> {
        if roles.is_empty() || self.actor.has_any_role(roles) {
            return Ok(());
        }
        reject(
            RejectionCode::NotAllowed,
            format!(
                "to {to} you need one of the roles {}; you have {}",
                roles_list(roles),
                roles_list_set(&self.actor.roles)
            ),
        )
    }

    // -- gates ----------------------------------------------------------------------

    fn approve(&mut self, step: StepId) -> Result<(), Rejection> {
        self.require_current(&step)?;
        let gate = self.release.gate_in_play().0.clone();
        if gate.approvals == 0 {
            return reject(RejectionCode::NoApprovalNeeded,
                "this gate needs no approval: it passes by itself once every item is ticked and the evidence is recorded",
            );
        }
        if let Err(refused) = self.require_role(&gate.roles, "approve this gate") {
            return Err(self.naming_who_else(refused, &gate.roles));
        }
        if !gate.starter_may_approve && self.actor.is_same_person(&self.release.started.by) {
            let refused = Rejection::new(
                RejectionCode::SelfApproval,
                "you started this release, and this gate needs someone else's approval; ask another approver",
            );
            return Err(self.naming_who_else(refused, &gate.roles));
        }
        let status = self.release.gate_status(self.ctx.now);
        if let Some(mark) = self.release.state_in_play().approvals.iter().find(|m| m.by.is_same_person(self.actor)) {
            return reject(
                RejectionCode::AlreadyApproved,
                format!(
                    "you already approved this gate at {}; it needs {} distinct approvers ({} so far)",
                    mark.at.format("%H:%M UTC"),
                    status.approvals_required,
                    status.approvals
                ),
            );
        }
        if !status.unticked.is_empty() {
            let list: Vec<&str> = status.unticked.iter().map(ItemId::as_str).collect();
            return reject(
                RejectionCode::GateNotReady,
                format!(
                    "the gate cannot pass with unchecked boxes: {} — resolve the gap before proceeding",
                    list.join(", ")
                ),
            );
        }
        if let Some(missing) = status.evidence_missing {
            return reject(RejectionCode::EvidenceMissing, format!("the gate is waiting for {missing}"));
        }
        if status.approvals + 1 >= status.approvals_required {
            // The last approval moves the release: check where it moves to first.
            self.check_can_leave_step()?;
        }
        let digest = self.release.gate_into_production_in_play().then(|| self.release.candidate_digest()).flatten();
        self.emit(Event::Approved { step, digest });
        self.pass_gate_if_ready()
    }

    /// Adds to a refused approval who else could give it, as configured (nothing when the
    /// holders are unknown).
    fn naming_who_else(&self, refused: Rejection, roles: &[RoleName]) -> Rejection {
        let holders = &self.ctx.policy.role_holders;
        if holders.is_empty() {
            return refused;
        }
        let who = holders.who_else(roles, self.actor);
        let mut chars = who.chars();
        let who: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
        Rejection::new(refused.code, format!("{}. {who}", refused.message))
    }

    /// Checks that run when the gate in play is about to pass.
    fn check_can_leave_step(&self) -> Result<(), Rejection> {
        if self.rolling_back() {
            return Ok(());
        }
        let next = self.release.current + 1;
        if Some(next) == self.release.production_step() {
            self.check_production_free()?;
            self.check_not_frozen("take the release to production")?;
        }
        // Last, so that an automatic gate can tell a lock apart from the checks it waits on.
        if let Some(environment) = self.release.environment_of(next) {
            self.check_not_locked(environment, "pass this gate")?;
        }
        Ok(())
    }

    /// Refuses while a blocking lock on the release's service and `environment` is in force.
    fn check_not_locked(&self, environment: Environment, to: &str) -> Result<(), Rejection> {
        let r = &self.release;
        let Some(lock) = self.ctx.locks.iter().find(|l| l.blocks(&r.service, environment, self.ctx.now)) else {
            return Ok(());
        };
        reject(
            RejectionCode::Locked,
            format!(
                "{} is locked by {} until {}: {}. You cannot {to} now; wait for the lock to end, or unlock it (lock {}) once it is safe",
                lock.scope(),
                lock.by.display_name,
                lock.until.with_timezone(&self.ctx.freeze.timezone()).format("%a %-d %b %H:%M %Z"),
                lock.reason,
                lock.id
            ),
        )
    }

    /// Passes the gate in play if its rule holds, and moves the release on.
    fn pass_gate_if_ready(&mut self) -> Result<(), Rejection> {
        let status = self.release.gate_status(self.ctx.now);
        if !status.ready() {
            return Ok(());
        }
        if self.rolling_back() {
            return self.complete_rollback();
        }
        if status.approvals_required == 0 {
            // An automatic gate waits quietly while production is held or frozen. A lock
            // does not hold it: nothing would move it on once the lock ends, and the
            // deploy it leads to is refused while the lock is in force.
            if self.check_can_leave_step().is_err_and(|r| r.code != RejectionCode::Locked) {
                return Ok(());
            }
        } else {
            self.check_can_leave_step()?;
        }
        let r = &self.release;
        let step = r.current_step().clone();
        let smoke_passed = (step.requires == Evidence::SmokeTest).then(|| r.staging_passed().cloned()).flatten();
        self.emit(Event::GatePassed { step: step.id.clone(), smoke_passed });
        match self.release.playbook.steps.get(self.release.current + 1).map(|s| s.id.clone()) {
            Some(next) => self.emit(Event::StepEntered { step: next }),
            None => self.emit(Event::Completed),
        }
        Ok(())
    }

    fn check_production_free(&self) -> Result<(), Rejection> {
        match &self.ctx.production_holder {
            Some(holder) if holder.release_id != self.release.id => Err(production_held(&self.release.service, holder)),
            _ => Ok(()),
        }
    }

    fn check_not_frozen(&self, to: &str) -> Result<(), Rejection> {
        let verdict = self.ctx.freeze.verdict(self.ctx.now);
        if !verdict.is_frozen() || self.override_valid() {
            return Ok(());
        }
        let how = if self.release.hotfix {
            match &self.release.freeze_override {
                Some(o) if o.approved.is_none() => "the hotfix override is requested and waits for a second person's approval".to_string(),
                Some(_) => "the hotfix override has expired; request a new one with a reason".to_string(),
                None => "as an emergency hotfix, request a freeze override with a reason; a second person with the role release-manager approves it".to_string(),
            }
        } else {
            "only an emergency hotfix may deploy during a freeze (start the release as a hotfix and request an override)".to_string()
        };
        reject(
            RejectionCode::Frozen,
            format!(
                "production is frozen: {}. You cannot {to} now; {how}",
                verdict.describe_in(self.ctx.freeze.timezone())
            ),
        )
    }

    fn override_valid(&self) -> bool {
        self.release.hotfix
            && self
                .release
                .freeze_override
                .as_ref()
                .and_then(|o| o.expires_at)
                .is_some_and(|expires| self.ctx.now < expires)
    }

    // -- evidence -------------------------------------------------------------------

    fn record_test_result(&mut self, result: TestResult) -> Result<(), Rejection> {
        let step = self.require_evidence_step(Evidence::TestsPassed, "a test result")?;
        if result.suite.trim().is_empty() {
            return reject(
                RejectionCode::InvalidInput,
                "a test result needs a suite name, e.g. unit, integration or e2e",
            );
        }
        if result.passed == 0 && result.failed == 0 {
            return reject(
                RejectionCode::InvalidInput,
                "a test result with no tests run is not a passing suite; report passed and failed counts",
            );
        }
        let flaky = result.flaky.clone();
        self.emit(Event::TestResultRecorded { step, result });
        for test in flaky {
            self.emit(Event::FollowUpRecorded { text: format!("Flaky test to fix: {test}") });
        }
        self.pass_gate_if_ready()
    }

    fn record_artifact(&mut self, artifact: Artifact) -> Result<(), Rejection> {
        let step = self.require_evidence_step(Evidence::Artifact, "an artifact")?;
        let r = &self.release;
        if !artifact.git_sha.same_commit(&r.git_sha) {
            return reject(
                RejectionCode::WrongArtifact,
                format!(
                    "the artifact is tagged with git SHA {}, but this release ships {}; build the release's commit",
                    artifact.git_sha, r.git_sha
                ),
            );
        }
        if artifact.version != r.version && artifact.version.semver() != r.version.semver() {
            return reject(
                RejectionCode::WrongArtifact,
                format!(
                    "the artifact is tagged {}, but this release is version {}; tag it with the release's version",
                    artifact.version, r.version
                ),
            );
        }
        if artifact.size_bytes == 0 {
            return reject(RejectionCode::InvalidInput, "the artifact's size is 0 bytes; report its real size");
        }
        if let Some(existing) = r.state_in_play().artifact.as_ref() {
            if existing.digest != artifact.digest {
                return reject(RejectionCode::ArtifactAlreadyRecorded,
                    format!("artifact {} is already recorded for this attempt; a rebuild restarts from Step 2 via the build failure path", existing.digest.short()),
                );
            }
            return reject(
                RejectionCode::AlreadyRecorded,
                format!("artifact {} is already recorded", existing.digest.short()),
            );
        }
        self.emit(Event::ArtifactRecorded { step, artifact });
        self.pass_gate_if_ready()
    }

    fn record_deployment(&mut self, report: DeploymentReport) -> Result<(), Rejection> {
        if let Some(percent) = report.canary_percent {
            if percent == 0 || percent > 100 {
                return reject(RejectionCode::InvalidInput, "canary_percent must be between 1 and 100");
            }
        }
        if report.strategy == Some(DeployStrategy::Canary) && report.canary_percent.is_none() {
            return reject(
                RejectionCode::InvalidInput,
                "a canary deploy says how much traffic the canary took: add canary_percent (1 to 100)",
            );
        }
        if self.rolling_back() {
            return self.record_rollback_deployment(report);
        }
        match report.environment {
            Environment::Staging => self.record_staging_deployment(report),
            Environment::Production => self.record_production_deployment(report),
        }
    }

    fn record_staging_deployment(&mut self, report: DeploymentReport) -> Result<(), Rejection> {
        let step = self.require_evidence_step(Evidence::StagingDeploy, "a staging deploy")?;
        match self.release.artifact() {
            None => {
                return reject(
                    RejectionCode::WrongArtifact,
                    "no artifact is recorded for this release; record the build first",
                )
            }
            Some(a) if a.digest != report.digest => {
                return reject(
                    RejectionCode::WrongArtifact,
                    format!("staging must get the tagged artifact {}, not {}", a.digest.short(), report.digest.short()),
                )
            }
            Some(_) => {}
        }
        self.check_not_locked(Environment::Staging, "deploy to staging")?;
        self.emit(Event::DeploymentRecorded {
            step,
            report,
            previous_live: None,
            freeze_overridden: None,
            rollback: false,
        });
        self.pass_gate_if_ready()
    }

    fn record_production_deployment(&mut self, report: DeploymentReport) -> Result<(), Rejection> {
        let step = self.require_evidence_step(Evidence::ProductionDeploy, "a production deploy")?;
        let r = &self.release;
        if let Some((existing, _)) = &r.production {
            // A later report of the same deploy (health checks finished) updates it.
            if existing.digest == report.digest && existing.health != HealthCheck::Passed {
                return self.record_production_health(step, report);
            }
            return reject(
                RejectionCode::AlreadyDeployed,
                format!("{} is already deployed to production for this release", existing.digest.short()),
            );
        }
        let (Some(staged), Some(smoked)) = (r.staging_passed(), r.smoke_passed()) else {
            return reject(
                RejectionCode::WrongArtifact,
                "no artifact has passed staging and the smoke test in this attempt",
            );
        };
        let approval = r.production_approval();
        if &report.digest != staged || &report.digest != smoked {
            let approved = approval.map_or_else(String::new, |(digest, by)| {
                format!(", approved for production by {} at {}", by.by.display_name, by.at.format("%H:%M UTC"))
                    + if digest == staged { "" } else { " (for another artifact)" }
            });
            return reject(RejectionCode::WrongArtifact,
                format!(
                    "production gets only the exact artifact that passed staging and the smoke test ({}{approved}); {} is a different artifact — never rebuild: a new artifact needs staging, the smoke test and a new approval",
                    staged.short(),
                    report.digest.short()
                ),
            );
        }
        // The approval into production names what it let through: a digest it did not name
        // is not approved, whatever staging says (a history from before a restart, a
        // hand-made playbook). Old approvals that named nothing leave the staging rule alone.
        if let Some((approved, by)) = approval {
            if approved != &report.digest {
                return reject(
                    RejectionCode::UnapprovedArtifact,
                    format!(
                        "the production approval ({}, {}) is for artifact {}; {} has no production approval — approve it at the gate into production first",
                        by.by.display_name,
                        by.at.format("%H:%M UTC"),
                        approved.short(),
                        report.digest.short()
                    ),
                );
            }
        }
        match report.strategy {
            None => {
                return reject(
                    RejectionCode::StrategyRequired,
                    "say how production was deployed: strategy rolling, blue-green or canary (with canary_percent)",
                )
            }
            Some(DeployStrategy::Recreate) => {
                return reject(
                    RejectionCode::DowntimeStrategy,
                    "a recreate deploy takes production down; use a rolling, blue-green or canary deploy",
                )
            }
            Some(_) => {}
        }
        self.check_not_frozen("deploy to production")?;
        self.check_not_locked(Environment::Production, "deploy to production")?;
        let frozen = self.ctx.freeze.verdict(self.ctx.now);
        if let Some(live) = &self.ctx.live {
            if live.release_id != r.id && r.version.is_older_than(&live.version) {
                let reason = report.downgrade_reason.as_deref().map(str::trim).unwrap_or_default();
                if reason.is_empty() {
                    return reject(RejectionCode::Downgrade,
                        format!(
                            "{} {} is older than {} live in production; give a downgrade reason to deploy it anyway, or use the rollback procedure to go back",
                            r.service, r.version, live.version
                        ),
                    );
                }
            }
        }
        let failed = report.outcome == Outcome::Failed;
        self.emit(Event::DeploymentRecorded {
            step: step.clone(),
            report,
            previous_live: self.ctx.live.clone(),
            freeze_overridden: frozen.is_frozen().then_some(frozen),
            rollback: false,
        });
        if failed {
            return self.roll_back_failed_production_deploy();
        }
        self.pass_gate_if_ready()
    }

    /// The health of the production deploy already recorded, reported again once known.
    fn record_production_health(&mut self, step: StepId, report: DeploymentReport) -> Result<(), Rejection> {
        let failed = report.outcome == Outcome::Failed;
        let previous_live = self.release.previous_live.clone();
        self.emit(Event::DeploymentRecorded { step, report, previous_live, freeze_overridden: None, rollback: false });
        if failed {
            return self.roll_back_failed_production_deploy();
        }
        self.pass_gate_if_ready()
    }

    /// A failed production deploy rolls back at once, through the step's rollback path.
    fn roll_back_failed_production_deploy(&mut self) -> Result<(), Rejection> {
        let step = self.release.current_step().clone();
        let Some(path) = step.failure_paths.iter().find(|p| p.action == FailureAction::Rollback).cloned() else {
            return Ok(());
        };
        self.emit(Event::FailurePathTaken {
            step: step.id.clone(),
            path: path.id.clone(),
            action: FailureAction::Rollback,
            note: Some("production deploy reported failed".into()),
        });
        let then = path.to.clone().map_or(AfterRollback::End, AfterRollback::Resume);
        self.start_rollback("the production deploy failed".into(), then);
        if let Some(text) = path.follow_up {
            self.emit(Event::FollowUpRecorded { text });
        }
        Ok(())
    }

    fn record_rollback_deployment(&mut self, report: DeploymentReport) -> Result<(), Rejection> {
        let Some(rollback) = &self.release.rollback else {
            return reject(RejectionCode::NotRollingBack, "no rollback is in progress");
        };
        if report.environment != Environment::Production {
            return reject(
                RejectionCode::NotCurrentStep,
                "the release is rolling back production; record the production revert",
            );
        }
        let failed_digest = rollback.deployed.as_ref().map(|d| &d.digest);
        match &rollback.target {
            Some(target) if target.digest != report.digest => {
                return reject(
                    RejectionCode::WrongArtifact,
                    format!(
                        "the rollback reverts production to the previous artifact {} ({}), not {}",
                        target.digest.short(),
                        target.version,
                        report.digest.short()
                    ),
                )
            }
            None if failed_digest == Some(&report.digest) => {
                return reject(
                    RejectionCode::WrongArtifact,
                    "that is the artifact being rolled back; deploy the previous known-good one",
                );
            }
            None => self.check_revert_without_known_good(&report)?,
            Some(_) => {}
        }
        self.emit(Event::DeploymentRecorded {
            step: StepId::new(ROLLBACK_STEP),
            report,
            previous_live: None,
            freeze_overridden: None,
            rollback: true,
        });
        self.pass_gate_if_ready()
    }

    /// With no known-good artifact (nothing of the service was in production before, as
    /// far as shipgate knows), the revert goes to a build shipgate recorded for the
    /// service, or to another artifact only when someone says why it is the right one.
    fn check_revert_without_known_good(&self, report: &DeploymentReport) -> Result<(), Rejection> {
        if self.ctx.recorded_artifact.is_some() {
            return Ok(());
        }
        let reason = report.unknown_artifact_reason.as_deref().map(str::trim).unwrap_or_default();
        if !reason.is_empty() {
            return Ok(());
        }
        let service = &self.release.service;
        reject(
            RejectionCode::UnknownArtifact,
            format!(
                "there is no known-good artifact to roll {service} back to: nothing of {service} was in production \
                 before this release, as far as shipgate knows, and shipgate never recorded {} for {service}. Revert to \
                 an artifact shipgate recorded for {service}, or give unknown_artifact_reason saying why this one is \
                 right (it is kept with the deploy)",
                report.digest.short()
            ),
        )
    }

    // -- failure paths, rollback, abort ---------------------------------------------

    fn take_failure_path(
        &mut self,
        step: StepId,
        path_id: FailurePathId,
        note: Option<String>,
    ) -> Result<(), Rejection> {
        self.require_current(&step)?;
        if step.as_str() == ROLLBACK_STEP {
            return reject(
                RejectionCode::UnknownFailurePath,
                "the rollback procedure has no failure paths; finish it, or abort",
            );
        }
        let current = self.release.current_step().clone();
        let Some(path) = current.failure_paths.iter().find(|p| p.id == path_id).cloned() else {
            let known: Vec<&str> = current.failure_paths.iter().map(|p| p.id.as_str()).collect();
            return reject(
                RejectionCode::UnknownFailurePath,
                format!("step {step} has no failure path {path_id}; its paths are {}", known.join(", ")),
            );
        };
        self.require_role(&path.roles, &format!("take \"{}\"", path.label))?;
        let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        if path.note_required && note.is_none() {
            return reject(
                RejectionCode::NoteRequired,
                format!("\"{}\" needs a note saying what happened", path.label),
            );
        }
        self.follow_path(step, path, note)
    }

    /// Takes a failure path of the current step whose roles and note were checked.
    fn follow_path(&mut self, step: StepId, path: FailurePath, note: Option<String>) -> Result<(), Rejection> {
        match path.action {
            FailureAction::Restart => {
                let to = path.to.clone().unwrap_or_else(|| step.clone());
                self.require_not_in_production()?;
                self.emit(Event::FailurePathTaken {
                    step: step.clone(),
                    path: path.id.clone(),
                    action: path.action,
                    note: note.clone(),
                });
                self.emit(Event::Restarted { from: to.clone() });
                self.emit(Event::StepEntered { step: to });
            }
            FailureAction::Retry => {
                self.require_not_in_production()?;
                self.emit(Event::FailurePathTaken {
                    step: step.clone(),
                    path: path.id.clone(),
                    action: path.action,
                    note: note.clone(),
                });
                self.emit(Event::Restarted { from: step.clone() });
                self.emit(Event::StepEntered { step: step.clone() });
            }
            FailureAction::Rollback => {
                if !self.release.production_attempted {
                    return reject(RejectionCode::NothingToRollBack,
                        "nothing of this release reached production, so there is nothing to roll back; restart or abort instead",
                    );
                }
                self.check_may_roll_back()?;
                self.emit(Event::FailurePathTaken {
                    step: step.clone(),
                    path: path.id.clone(),
                    action: path.action,
                    note: note.clone(),
                });
                let then = path.to.clone().map_or(AfterRollback::End, AfterRollback::Resume);
                let reason = note.clone().unwrap_or_else(|| path.label.clone());
                self.start_rollback(reason, then);
            }
            FailureAction::Abort => {
                let reason = note.clone().unwrap_or_else(|| path.label.clone());
                self.emit(Event::FailurePathTaken {
                    step: step.clone(),
                    path: path.id.clone(),
                    action: path.action,
                    note: note.clone(),
                });
                return self.abort_now(reason);
            }
        }
        if let Some(text) = path.follow_up {
            self.emit(Event::FollowUpRecorded { text });
        }
        Ok(())
    }

    /// Refuses the gate in play. Who may: whoever may pass it (the gate's roles; for a gate
    /// that names none, whoever ticks the step's items), and only if they may also take the
    /// path it leads down. The reason is required and recorded.
    fn reject_gate(&mut self, step: StepId, reason: String, path_id: Option<FailurePathId>) -> Result<(), Rejection> {
        self.require_current(&step)?;
        let reason = reason.trim().to_owned();
        if reason.is_empty() {
            return reject(RejectionCode::NoteRequired, "say why the gate is rejected: a rejection needs a reason");
        }
        if step.as_str() == ROLLBACK_STEP {
            // The procedure has no failure path: production must go back whatever happens.
            // Rejecting it asks for what an abort asks for now: finish the revert, then end.
            if path_id.is_some() {
                return reject(
                    RejectionCode::UnknownFailurePath,
                    "the rollback procedure has no failure paths; reject it without one to end the release once production is back",
                );
            }
            let gate = self.release.playbook.rollback.gate.clone();
            let roles =
                if gate.roles.is_empty() { self.release.playbook.rollback.tick_roles.clone() } else { gate.roles };
            self.require_role(&roles, "reject this gate")?;
            if self.release.rollback.as_ref().is_some_and(|r| r.then == AfterRollback::Abort) {
                return reject(
                    RejectionCode::AlreadyAborting,
                    "the release already ends once the rollback is done; finish the rollback procedure",
                );
            }
            self.emit(Event::GateRejected { step, reason: reason.clone(), path: None });
            self.emit(Event::AbortRequested { reason });
            return Ok(());
        }
        let current = self.release.current_step().clone();
        let path = match &path_id {
            Some(id) => current.failure_paths.iter().find(|p| &p.id == id),
            None => reject_path(&current),
        };
        let Some(path) = path.cloned() else {
            let known: Vec<&str> = current.failure_paths.iter().map(|p| p.id.as_str()).collect();
            return reject(
                RejectionCode::UnknownFailurePath,
                match path_id {
                    Some(id) => format!("step {step} has no failure path {id}; its paths are {}", known.join(", ")),
                    None => format!("step {step} has no failure path to reject its gate into"),
                },
            );
        };
        let roles = current.owners().to_vec();
        self.require_role(&roles, "reject this gate")?;
        self.require_role(&path.roles, &format!("take \"{}\"", path.label))?;
        if path.action == FailureAction::Rollback && !self.release.production_attempted {
            // Nothing of the release reached production, so there is nothing to roll back:
            // the rejection goes straight to where the rollback would resume (or ends the
            // release when the path resumes nowhere), as a release manager means by it.
            self.emit(Event::GateRejected { step: step.clone(), reason: reason.clone(), path: Some(path.id.clone()) });
            return match path.to.clone() {
                Some(to) => {
                    self.emit(Event::FailurePathTaken {
                        step,
                        path: path.id.clone(),
                        action: FailureAction::Restart,
                        note: Some(reason),
                    });
                    self.emit(Event::Restarted { from: to.clone() });
                    self.emit(Event::StepEntered { step: to });
                    Ok(())
                }
                None => {
                    self.emit(Event::FailurePathTaken {
                        step,
                        path: path.id.clone(),
                        action: FailureAction::Abort,
                        note: Some(reason.clone()),
                    });
                    self.abort_now(reason)
                }
            };
        }
        // The path's own checks (production state, who holds production) run first, so a
        // refused path records no rejection either.
        let mut rejected = Decision {
            release: self.release.clone(),
            events: Vec::new(),
            defect: None,
            ctx: self.ctx,
            actor: self.actor,
        };
        rejected.emit(Event::GateRejected { step: step.clone(), reason: reason.clone(), path: Some(path.id.clone()) });
        rejected.follow_path(step, path, Some(reason))?;
        self.release = rejected.release;
        self.events.extend(rejected.events);
        if let Some(defect) = rejected.defect {
            self.defect.get_or_insert(defect);
        }
        Ok(())
    }

    fn link_triage(&mut self, triage: ReleaseId) -> Result<(), Rejection> {
        if self.actor.platform != Platform::System {
            return reject(RejectionCode::NotAllowed, "only shipgate links a rollback to the bug triage it opened");
        }
        if self.release.rollback.is_none() {
            return reject(RejectionCode::NotRollingBack, "this release never rolled back; there is nothing to triage");
        }
        if let Some(linked) = &self.release.triage {
            return reject(
                RejectionCode::AlreadyRecorded,
                format!("this rollback is already triaged in release {linked}"),
            );
        }
        self.emit(Event::TriageOpened { triage });
        Ok(())
    }

    fn notice_stall(&mut self, step: StepId, attempt: u32) -> Result<(), Rejection> {
        if self.actor.platform != Platform::System {
            return reject(RejectionCode::NotAllowed, "only shipgate's stall timer notices a stalled step");
        }
        let r = &self.release;
        let current = r.current_step();
        if r.status != Status::Active || current.id != step || r.steps[r.current].attempt != attempt {
            return reject(
                RejectionCode::NotCurrentStep,
                format!("the release has moved on from attempt {attempt} of step {step}; nothing to notice"),
            );
        }
        let Some(limit) = current.stall_limit() else {
            return reject(RejectionCode::NotStalled, format!("step {step} waits out a watch; it never stalls"));
        };
        if r.steps[r.current].stall_noticed.is_some() {
            return reject(RejectionCode::AlreadyRecorded, format!("the stall of step {step} was already noticed"));
        }
        let quiet = self.ctx.now - r.last_activity;
        if quiet <= limit {
            return reject(
                RejectionCode::NotStalled,
                format!(
                    "step {step} was last worked on {} minutes ago; its limit is {} minutes",
                    quiet.num_minutes(),
                    limit.num_minutes()
                ),
            );
        }
        self.emit(Event::StallNoticed { step, attempt });
        Ok(())
    }

    /// Redoing a step would forget a production deploy that still stands.
    fn require_not_in_production(&self) -> Result<(), Rejection> {
        if self.release.production_attempted {
            return reject(
                RejectionCode::ProductionDeployed,
                "this release reached production; roll it back before redoing a step",
            );
        }
        Ok(())
    }

    /// A rollback reverts production: refused while another release holds it, since the
    /// revert would undo that release's deploy.
    fn check_may_roll_back(&self) -> Result<(), Rejection> {
        if self.release.holds_production() {
            return Ok(());
        }
        match &self.ctx.production_holder {
            Some(holder) if holder.release_id != self.release.id => reject(RejectionCode::ProductionHeld,
                format!(
                    "production for {} is now held by release {} ({}, started by {}, at {}); rolling back this release would undo its deploy — roll back that release instead, or wait until it ends",
                    self.release.service, holder.release_id, holder.version, holder.started_by, holder.step_title
                ),
            ),
            _ => match self.superseded_by() {
                Some(live) => reject(
                    RejectionCode::ProductionHeld,
                    format!(
                        "production for {} now runs release {} ({}, {}), deployed after this one; rolling back this release would undo that deploy — roll back that release instead",
                        self.release.service, live.release_id, live.version, live.digest
                    ),
                ),
                None => Ok(()),
            },
        }
    }

    /// The later release whose deploy now runs in production in place of this one's:
    /// production runs neither this release's artifact nor the one it would revert to.
    /// Rolling this release back would undo that later deploy.
    fn superseded_by(&self) -> Option<&LiveDeployment> {
        let live = self.ctx.live.as_ref()?;
        let reverts_to = self.release.previous_live.as_ref().map(|p| &p.release_id);
        (live.release_id != self.release.id && Some(&live.release_id) != reverts_to).then_some(live)
    }

    fn start_rollback(&mut self, reason: String, then: AfterRollback) {
        self.start_rollback_for(reason, then, Vec::new());
    }

    fn start_rollback_for(&mut self, reason: String, then: AfterRollback, trips: Vec<Trip>) {
        let r = &self.release;
        let deployed = r.production.as_ref().map(|(d, _)| d.clone()).or_else(|| {
            r.steps.iter().rev().find_map(|s| {
                s.deployments
                    .iter()
                    .rev()
                    .find(|(d, _)| d.environment == Environment::Production)
                    .map(|(d, _)| d.clone())
            })
        });
        self.emit(Event::RollbackStarted {
            from: r.current_step().id.clone(),
            reason,
            then,
            deployed,
            target: r.previous_live.clone(),
            trips,
        });
        self.request_hook_if_auto();
    }

    fn trigger_rollback(&mut self, reason: String) -> Result<(), Rejection> {
        let reason = reason.trim().to_owned();
        if reason.is_empty() {
            return reject(RejectionCode::NoteRequired, "say what broke: a rollback needs a reason");
        }
        if self.rolling_back() {
            return reject(RejectionCode::AlreadyRollingBack, "a rollback is already in progress");
        }
        if !self.release.production_attempted {
            return reject(RejectionCode::NothingToRollBack,
                "nothing of this release reached production, so there is nothing to roll back; restart or abort instead",
            );
        }
        self.check_may_roll_back()?;
        self.start_rollback(reason, AfterRollback::End);
        Ok(())
    }

    // -- the watch ---------------------------------------------------------------------

    fn require_system(&self, what: &str) -> Result<(), Rejection> {
        if self.actor.platform != Platform::System {
            return reject(RejectionCode::NotAllowed, format!("only shipgate's watch {what}"));
        }
        Ok(())
    }

    /// The watch of the standing production deploy, if it began.
    fn current_watch(&self) -> Result<&WatchState, Rejection> {
        let r = &self.release;
        match (&r.watch, &r.production) {
            (Some(watch), Some((_, deployed))) if watch.deployed_at == deployed.at => Ok(watch),
            (Some(watch), _) if r.status == Status::RollingBack => Ok(watch),
            _ => reject(RejectionCode::NotWatching, format!("release {} has no production deploy under watch", r.id)),
        }
    }

    fn begin_watch(
        &mut self,
        settings: WatchSettings,
        criteria: Criteria,
        baseline: Readings,
    ) -> Result<(), Rejection> {
        self.require_system("measures a baseline")?;
        let r = &self.release;
        if r.status != Status::Active {
            return reject(
                RejectionCode::ReleaseFinished,
                format!("release {} is {}; nothing to watch", r.id, r.status.as_str()),
            );
        }
        let Some((_, deployed)) = &r.production else {
            return reject(RejectionCode::NotWatching, "no production deploy of this release stands; nothing to watch");
        };
        if r.watch.as_ref().is_some_and(|w| w.deployed_at == deployed.at) {
            return reject(RejectionCode::AlreadyRecorded, "the watch of this production deploy has already begun");
        }
        let deployed_at = deployed.at;
        self.emit(Event::WatchStarted { settings, criteria, deployed_at, baseline });
        Ok(())
    }

    fn record_sample(&mut self, at: DateTime<Utc>, readings: Readings) -> Result<(), Rejection> {
        self.require_system("samples metrics")?;
        if self.release.status != Status::Active {
            return reject(
                RejectionCode::ReleaseFinished,
                format!("release {} is {}; the watch has ended", self.release.id, self.release.status.as_str()),
            );
        }
        let watch = self.current_watch()?;
        let after = watch.latest().map_or(watch.deployed_at, |s| s.at);
        if at <= after {
            return reject(
                RejectionCode::AlreadyRecorded,
                format!("the watch already has its sample of {}", after.format("%H:%M:%S UTC")),
            );
        }
        if at > watch.ends_at() {
            return reject(
                RejectionCode::NotWatching,
                format!("the watch ended at {}", watch.ends_at().format("%H:%M:%S UTC")),
            );
        }
        let trips = watch::trips(&watch::judge(&watch.baseline, &readings, &watch.criteria), at);
        self.emit(Event::WatchSampled { at, readings });
        self.roll_back_for(trips)
    }

    /// Starts the rollback the trips call for, at once; none, nothing to do.
    fn roll_back_for(&mut self, trips: Vec<Trip>) -> Result<(), Rejection> {
        let Some(first) = trips.first() else { return Ok(()) };
        if self.rolling_back() {
            return Ok(());
        }
        let criteria = self.release.watch.as_ref().map(|w| w.criteria).unwrap_or_default();
        let reason = format!("rollback criterion tripped: {}", first.describe(&criteria));
        self.check_may_roll_back()?;
        self.start_rollback_for(reason, AfterRollback::End, trips);
        Ok(())
    }

    fn record_alert(&mut self, alert: Alert) -> Result<(), Rejection> {
        self.require_system("records alerts")?;
        let watch = self.current_watch()?;
        let repeat = watch.alerts.iter().any(|(seen, _)| {
            seen.fingerprint == alert.fingerprint && seen.status == alert.status && seen.starts_at == alert.starts_at
        });
        if repeat {
            return reject(
                RejectionCode::AlreadyRecorded,
                format!("the alert {} ({}) was already recorded", alert.name, alert.status),
            );
        }
        let breaks_flow =
            alert.critical && alert.status == AlertStatus::Firing && self.release.status == Status::Active;
        let trip = Trip::critical_flow(alert.starts_at, format!("alert {}", alert.headline()));
        self.emit(Event::AlertRecorded { alert });
        if breaks_flow {
            self.roll_back_for(vec![trip])?;
        }
        Ok(())
    }

    /// Who may say the watch saw enough, or that a flow is broken: whoever owns the step
    /// the release is at.
    fn require_owner(&self, what: &str) -> Result<(), Rejection> {
        let roles = self.release.current_step().owners().to_vec();
        self.require_role(&roles, what)
    }

    fn report_critical_flow(&mut self, note: String) -> Result<(), Rejection> {
        let note = note.trim().to_owned();
        if note.is_empty() {
            return reject(RejectionCode::NoteRequired, "say which flow is broken and how");
        }
        if self.rolling_back() {
            return reject(RejectionCode::AlreadyRollingBack, "a rollback is already in progress");
        }
        if self.release.status != Status::Active {
            return reject(
                RejectionCode::ReleaseFinished,
                format!("release {} is {}", self.release.id, self.release.status.as_str()),
            );
        }
        if !self.release.production_attempted {
            return reject(RejectionCode::NothingToRollBack,
                "nothing of this release reached production, so there is nothing to roll back; restart or abort instead",
            );
        }
        self.require_owner("report a broken critical flow")?;
        let trip = Trip::critical_flow(self.ctx.now, format!("{} reports: {note}", self.actor.display_name));
        self.roll_back_for(vec![trip])
    }

    fn accept_blind_watch(&mut self, reason: String) -> Result<(), Rejection> {
        let reason = reason.trim().to_owned();
        if reason.is_empty() {
            return reject(RejectionCode::NoteRequired, "say why completing without this data is fine");
        }
        if self.release.status != Status::Active {
            return reject(
                RejectionCode::ReleaseFinished,
                format!("release {} is {}", self.release.id, self.release.status.as_str()),
            );
        }
        self.require_owner("complete a blind watch")?;
        let watch = self.current_watch()?;
        let blind = watch.blind_unaccepted();
        let lagging = watch.lagging(self.ctx.now);
        if blind.is_empty() && lagging.is_none() {
            return reject(
                RejectionCode::EvidenceMissing,
                "the watch sees every metric it measures; there is no missing data to accept",
            );
        }
        let metrics = blind.into_keys().collect();
        self.emit(Event::BlindWatchAccepted { reason, metrics });
        Ok(())
    }

    fn complete_rollback(&mut self) -> Result<(), Rejection> {
        let Some(rollback) = &self.release.rollback else {
            return Ok(());
        };
        let then = rollback.then.clone();
        self.emit(Event::RollbackCompleted { then: then.clone() });
        if let Some(text) = self.release.playbook.rollback.follow_up.clone() {
            self.emit(Event::FollowUpRecorded { text });
        }
        if let AfterRollback::Resume(step) = then {
            self.emit(Event::Restarted { from: step.clone() });
            self.emit(Event::StepEntered { step });
        }
        Ok(())
    }

    fn abort(&mut self, reason: String) -> Result<(), Rejection> {
        let reason = reason.trim().to_owned();
        if reason.is_empty() {
            return reject(RejectionCode::NoteRequired, "say why: an abort needs a reason");
        }
        if self.rolling_back() {
            if self.release.rollback.as_ref().is_some_and(|r| r.then == AfterRollback::Abort) {
                return reject(
                    RejectionCode::AlreadyAborting,
                    "the release is already aborting; finish the rollback procedure",
                );
            }
            self.emit(Event::AbortRequested { reason });
            return Ok(());
        }
        self.abort_now(reason)
    }

    /// Re-points the release at the fix's commit: the playbook's "fix it, merge, and
    /// restart from Step 1". Only while the release is at Step 1 with its gate not passed,
    /// so nothing downstream (an artifact, a deploy) was built from the old commit in this
    /// attempt; and by someone who could start such a release, since it is one in all but
    /// its history.
    fn retarget(&mut self, git_sha: GitSha, version: Option<Version>, reason: String) -> Result<(), Rejection> {
        let reason = reason.trim().to_owned();
        if reason.is_empty() {
            return reject(
                RejectionCode::NoteRequired,
                "say why the release ships another commit: a retarget needs a reason",
            );
        }
        let r = &self.release;
        let first = r.playbook.steps[0].clone();
        if self.rolling_back() || r.current != 0 || r.steps[0].passed.is_some() {
            let now = if self.rolling_back() {
                "it is rolling back".to_owned()
            } else {
                format!("it is at Step {} ({})", r.current + 1, r.current_step().title)
            };
            return reject(
                RejectionCode::NotCurrentStep,
                format!(
                    "a release can be retargeted only at Step 1 ({}), before its gate passes; {now}. Take the step's \
                     failure path back to Step 1 first, or start a new release for the new commit",
                    first.title
                ),
            );
        }
        let start_roles = r.playbook.start_roles.clone();
        self.require_role(&start_roles, "retarget a release (as to start one)")?;
        let version = version.unwrap_or_else(|| r.version.clone());
        if git_sha.same_commit(&r.git_sha) && version == r.version {
            return reject(
                RejectionCode::InvalidInput,
                format!(
                    "release {} already ships {} {}; give the fix's commit (--sha) or a new version",
                    r.id, r.version, r.git_sha
                ),
            );
        }
        self.emit(Event::Retargeted {
            from_git_sha: r.git_sha.clone(),
            from_version: r.version.clone(),
            git_sha,
            version,
            reason,
        });
        self.emit(Event::Restarted { from: first.id.clone() });
        self.emit(Event::StepEntered { step: first.id });
        Ok(())
    }

    /// Before production, an abort ends the release; once production was touched, it
    /// rolls back first, unless a later release's deploy has replaced this one's.
    fn abort_now(&mut self, reason: String) -> Result<(), Rejection> {
        // A later release's deploy runs in production now: there is nothing of this one's
        // to roll back, and reverting would undo theirs, so the release just ends.
        if self.release.production_attempted && !self.release.holds_production() && self.superseded_by().is_some() {
            self.emit(Event::Aborted { reason });
        } else if self.release.production_attempted {
            self.check_may_roll_back()?;
            self.start_rollback(format!("aborted: {reason}"), AfterRollback::Abort);
            self.emit(Event::AbortRequested { reason });
        } else {
            self.emit(Event::Aborted { reason });
        }
        Ok(())
    }

    // -- freeze overrides -----------------------------------------------------------

    fn request_freeze_override(&mut self, reason: String) -> Result<(), Rejection> {
        let reason = reason.trim().to_owned();
        if !self.release.hotfix {
            return reject(
                RejectionCode::NotHotfix,
                "only an emergency hotfix may override a freeze; this release was not started as a hotfix",
            );
        }
        if reason.is_empty() {
            return reject(RejectionCode::NoteRequired, "a freeze override needs a reason: say what the emergency is");
        }
        if self.release.production.is_some() {
            return reject(RejectionCode::AlreadyDeployed, "this release is already deployed to production");
        }
        if let Some(o) = &self.release.freeze_override {
            if o.approved.is_none() {
                return reject(
                    RejectionCode::OverridePending,
                    format!("an override requested by {} is waiting for approval", o.requested.by.display_name),
                );
            }
            if o.expires_at.is_some_and(|e| self.ctx.now < e) {
                return reject(RejectionCode::OverrideActive, "an approved override is already in force");
            }
        }
        self.emit(Event::FreezeOverrideRequested { reason });
        Ok(())
    }

    fn approve_freeze_override(&mut self) -> Result<(), Rejection> {
        let Some(o) = self.release.freeze_override.clone() else {
            return reject(
                RejectionCode::NoOverrideRequested,
                "no freeze override has been requested for this release",
            );
        };
        if o.approved.is_some() {
            return reject(RejectionCode::OverrideActive, "this override was already approved");
        }
        if o.requested.by.is_same_person(self.actor) {
            return reject(RejectionCode::SelfApproval, "you requested this override; a second person must approve it");
        }
        let roles = self.ctx.policy.override_approver_roles.clone();
        self.require_role(&roles, "approve a freeze override")?;
        self.emit(Event::FreezeOverrideApproved {
            requested_by: o.requested.by,
            reason: o.reason,
            expires_at: self.ctx.now + self.ctx.policy.override_ttl,
        });
        // Automatic gates that waited for the freeze to lift can move now.
        self.pass_gate_if_ready()
    }
}

impl Release {
    fn state_in_play(&self) -> &StepState {
        self.gate_in_play().2
    }
}

fn roles_list(roles: &[RoleName]) -> String {
    roles.iter().map(RoleName::as_str).collect::<Vec<_>>().join(", ")
}

fn roles_list_set(roles: &BTreeSet<RoleName>) -> String {
    if roles.is_empty() {
        "none".into()
    } else {
        roles.iter().map(RoleName::as_str).collect::<Vec<_>>().join(", ")
    }
}

fn step_list(playbook: &Playbook) -> String {
    playbook.steps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests;
