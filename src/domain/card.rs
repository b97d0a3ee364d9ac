//! What one step attempt looks like to people, whatever the platform: the title and
//! progress, the release it belongs to, the checklist with who ticked what and when, the
//! gate and what it waits for, the ways out, the evidence recorded, and banners for
//! what stands in the way (freeze, locks, overrides). Chat adapters and the console
//! render this model; none of them decide anything a card shows.
//!
//! A card is built from a [`Release`] for any step, so the same function gives the card
//! of the step the release is at and the final state of a card being closed. The
//! release keeps only the current attempt of each step, so a card superseded by a
//! restart is best closed from the release as it was before the restart:
//! `step_card(&before, step, ctx).map(|c| c.closed(ClosedWhy::Superseded))`.
//!
//! Times people read are in the team's time zone ([`CardContext::time_zone`]); every
//! time is also kept in UTC for adapters that format times themselves.

use super::drill::{human_duration, DrillStanding};
use super::freeze::FreezeVerdict;
use super::ids::{ArtifactDigest, FailurePathId, GitSha, ItemId, ReleaseId, RoleName, ServiceName, StepId, Version};
use super::playbook::{Evidence, FailureAction, FailurePath, Gate, Item, Step};
use super::release::{
    reject_path, AfterRollback, DeployStrategy, DeploymentReport, Environment, HealthCheck, HookMode, HookOutcome,
    HookRun, HookTrigger, LiveDeployment, Mark, Outcome, Release, RollbackState, Status, StepState, TestResult,
    ROLLBACK_STEP,
};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// Which card of a release: a step of the playbook or the rollback procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepRef {
    /// A step by its 0-based index in the playbook.
    Step(usize),
    /// The rollback procedure (`release.rollback`).
    Rollback,
}

/// The facts around a release that its events do not hold, read by the app when it
/// builds a card.
#[derive(Debug, Clone, PartialEq)]
pub struct CardContext {
    pub now: DateTime<Utc>,
    /// The team's time zone, for every time people read.
    pub time_zone: Tz,
    /// The freeze verdict now; shown on the production step and, as a warning, before it.
    pub freeze: Option<FreezeVerdict>,
    /// Locks on the release's service; each shows on the steps up to the gate it blocks.
    pub locks: Vec<LockBanner>,
    /// Whether the step has gone without activity past its limit.
    pub stalled: bool,
    /// Whether a rollback hook is configured and how it starts: the rollback card offers
    /// to run it.
    pub rollback_hook: HookMode,
}

/// A lock someone put on a service, as a card shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockBanner {
    pub service: ServiceName,
    /// The environment locked; `None` locks every environment of the service.
    pub environment: Option<Environment>,
    /// Who locked it, as people read their name.
    pub by: String,
    pub reason: String,
    pub until: DateTime<Utc>,
    /// A warning lock: shown, but the gate is not blocked.
    pub warn_only: bool,
}

/// One step attempt, ready to render.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Card {
    pub release_id: ReleaseId,
    pub step: StepRef,
    /// The playbook's step id, or `rollback` for the rollback procedure.
    pub step_id: StepId,
    /// Which attempt of the step this card is (restarts and retries count up).
    pub attempt: u32,
    /// `Step N — <title>`, or `Rollback — <procedure title>`.
    pub title: String,
    pub progress: Progress,
    pub release: ReleaseLine,
    pub summary: String,
    /// Instructions that are not boxes to tick.
    pub guidance: Vec<String>,
    pub items: Vec<ItemCard>,
    pub gate: GateCard,
    pub failure_paths: Vec<FailurePathCard>,
    /// What has been recorded for this step, in the order it matters.
    pub evidence: Vec<EvidenceLine>,
    pub banners: Vec<Banner>,
    /// With the rollback procedure's card: what is rolled back, why, and what follows.
    pub rollback: Option<RollbackInfo>,
    /// What the card lets people record; nothing on a closed card.
    pub inputs: Inputs,
    pub state: CardState,
}

/// Where the step stands in the playbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// 1-based number of the step (for the rollback procedure, the step it started from).
    pub current: usize,
    pub total: usize,
}

/// The release a card belongs to, in one line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseLine {
    pub service: ServiceName,
    pub version: Version,
    pub git_sha: GitSha,
    /// The first 7 hex digits of `git_sha`.
    pub short_sha: String,
    /// The artifact recorded for this attempt, once known.
    pub artifact: Option<ArtifactDigest>,
    pub hotfix: bool,
    /// Who started the release and when (with the date, in the team's time zone).
    pub started: Stamp,
}

/// Who did something and when, for people to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stamp {
    pub by: String,
    pub at: DateTime<Utc>,
    /// `at` in the team's time zone.
    pub local: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemCard {
    pub id: ItemId,
    pub text: String,
    /// Who ticked it and when; `None` while unticked.
    pub ticked: Option<Stamp>,
}

impl ItemCard {
    pub fn is_ticked(&self) -> bool {
        self.ticked.is_some()
    }
}

/// A step's gate: its rule, what it still waits for, who approved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateCard {
    /// The gate's wording from the playbook (may be empty).
    pub text: String,
    /// The rule in words: `every box ticked · 1 release-manager or engineer`.
    pub rule: String,
    /// The evidence the gate needs, if any.
    pub evidence: Option<EvidenceNeed>,
    pub approvals: Approvals,
    /// How many items are still unticked.
    pub unticked: usize,
    /// Every item ticked and the evidence recorded. Whether the person clicking may
    /// approve (roles, self-approval, freeze) is decided per click.
    pub can_pass: bool,
    /// Whose action passed the gate, once it passed.
    pub passed_by: Option<Stamp>,
    /// The failure path a rejection of this gate takes (see [`Self::reject`]).
    pub reject_path: Option<FailurePathId>,
    /// What rejecting the gate does, while it can be rejected: every gate can, with a reason.
    pub reject: Option<RejectOffer>,
    /// Who rejected the gate of this attempt, why, and where that sent the release.
    pub rejected: Option<RejectedGate>,
    /// On the gate into production: the artifact its approvals let through.
    pub approved_digest: Option<ArtifactDigest>,
}

/// Where a rejection of the gate sends the release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectOffer {
    /// The failure path taken; `None` for the rollback procedure, which has none.
    pub path: Option<FailurePathId>,
    /// The path's label; empty for the rollback procedure.
    pub label: String,
    /// Where the release goes, in words: `restart from Step 4 — Deploy to Staging`.
    pub leads_to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedGate {
    pub by: Stamp,
    pub reason: String,
    /// The failure path's label, or what the rejection did when it took none.
    pub then: String,
}

impl RejectedGate {
    /// `Rejected by Bob · Wed 2 Dec 10:04 EST: checkout broken → Smoke check failed: …`.
    pub fn text(&self) -> String {
        format!("Rejected by {} · {}: {} → {}", self.by.by, self.by.local, self.reason, self.then)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceNeed {
    /// What the gate needs, in words.
    pub what: String,
    pub recorded: bool,
    /// While not recorded and the step is open: what exactly is still missing.
    pub waiting_for: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approvals {
    pub given: Vec<Stamp>,
    /// Distinct approvers needed; 0 means the gate passes by itself.
    pub required: u32,
    /// Roles whose members may approve; empty means anyone known to shipgate.
    pub roles: Vec<RoleName>,
    pub starter_may_approve: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailurePathCard {
    pub id: FailurePathId,
    pub label: String,
    pub action: FailureAction,
    /// Whether the person taking the path must say what happened.
    pub note_required: bool,
    /// Where the path leads, in words: `restart from Step 1 — Pre-Flight Checks`.
    pub leads_to: String,
}

/// One piece of evidence recorded for the step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EvidenceLine {
    Tests(TestResult),
    Artifact {
        version: Version,
        git_sha: GitSha,
        digest: ArtifactDigest,
        size_bytes: u64,
        name: Option<String>,
    },
    Deployment {
        report: DeploymentReport,
        recorded: Stamp,
        /// A deploy that reverts production during a rollback.
        revert: bool,
    },
    /// The watch after the production deploy.
    Watch {
        since: Stamp,
        until: DateTime<Utc>,
        until_local: String,
        done: bool,
    },
}

/// Something that stands in the way of, or concerns, the step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Banner {
    Frozen {
        /// The names of the windows in force (`Friday afternoon`).
        reasons: Vec<String>,
        /// When production opens again, if known.
        until: Option<DateTime<Utc>>,
        until_local: Option<String>,
        /// True on the production step (the deploy is refused), false on the steps
        /// before it (a warning of what is ahead).
        here: bool,
    },
    Locked {
        lock: LockBanner,
        until_local: String,
    },
    OverrideRequested {
        by: String,
        reason: String,
    },
    OverrideApproved {
        by: String,
        requested_by: String,
        reason: String,
        until_local: Option<String>,
        in_force: bool,
    },
    /// This release holds production for its service: others wait for it.
    HoldsProduction {
        service: ServiceName,
    },
    /// No activity on the step past its limit.
    Stalled,
    /// The service's rollback drills as they stood when the release started: shown on the
    /// first step's card, so every release start says whether the rollback path is tested.
    RollbackDrill {
        service: ServiceName,
        /// The last completed drill; `None` when the service has had none.
        last: Option<DrillLine>,
        /// When the next drill was due, in the team's time zone (with the year).
        due_local: Option<String>,
        /// No drill for longer than the configured period (a quarter by default).
        overdue: bool,
    },
}

/// A completed rollback drill as a banner shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrillLine {
    pub by: String,
    /// When it completed, in the team's time zone (with the year: drills are months apart).
    pub completed_local: String,
    /// How long the rollback took (`14m 3s`).
    pub took: String,
}

/// The rollback procedure's particulars.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RollbackInfo {
    /// The step the rollback started from, in words (`Step 6 — Deploy to Production`).
    pub from: String,
    /// What broke, in the words of whoever triggered it.
    pub reason: String,
    pub started: Stamp,
    pub then: AfterRollback,
    /// What happens once the rollback is done, in words.
    pub then_words: String,
    /// What had been deployed to production, if anything reached it.
    pub deployed: Option<ArtifactDigest>,
    /// What production goes back to.
    pub target: Option<LiveDeployment>,
    /// The rollback hook's latest run, once one was asked for.
    pub hook: Option<HookCard>,
}

/// A run of the rollback hook, as the rollback card shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookCard {
    /// 1 for the first run, counting up with each retry.
    pub attempt: u32,
    /// Whether shipgate asked for it by itself (`auto`), rather than a person.
    pub automatic: bool,
    pub requested: Stamp,
    pub started: Option<Stamp>,
    /// How it ended; `None` while it runs (or waits to start).
    pub outcome: Option<HookOutcome>,
    pub finished: Option<Stamp>,
}

impl HookCard {
    fn new(run: &HookRun, ctx: &CardContext) -> HookCard {
        HookCard {
            attempt: run.attempt,
            automatic: run.trigger == HookTrigger::Automatic,
            requested: stamp(&run.requested, ctx),
            started: run.started.as_ref().map(|m| stamp(m, ctx)),
            outcome: run.finished.as_ref().map(|(o, _)| o.clone()),
            finished: run.finished.as_ref().map(|(_, m)| stamp(m, ctx)),
        }
    }

    /// One line for people: which run, who asked, where it stands. The outcome's detail
    /// (output, a response body) is left to the adapter, which sets it apart.
    pub fn text(&self) -> String {
        let asked = if self.automatic {
            format!("started automatically at {}", self.requested.local)
        } else {
            format!("run by {} at {}", self.requested.by, self.requested.local)
        };
        let run = if self.attempt > 1 { format!(" (run {})", self.attempt) } else { String::new() };
        let state = match (&self.outcome, &self.finished, &self.started) {
            (Some(HookOutcome::Succeeded { .. }), Some(at), _) => format!("succeeded at {}", at.local),
            (Some(HookOutcome::Failed { .. }), Some(at), _) => format!("failed at {}", at.local),
            (Some(HookOutcome::Unknown { .. }), Some(at), _) => format!(
                "outcome unknown (shipgate restarted while it ran; recorded at {}): check production, then run it \
                 again if needed",
                at.local
            ),
            (_, _, Some(started)) => format!("running since {}", started.local),
            _ => "waiting to start".to_owned(),
        };
        format!("Rollback hook{run} {asked}: {state}")
    }
}

/// What the card lets people record besides ticks and gate decisions.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Inputs {
    /// The evidence forms this step offers.
    pub evidence: Vec<EvidenceForm>,
    /// A freeze override waits for a second person's approval.
    pub approve_override: bool,
    /// The rollback card offers one click to run the configured rollback hook: none runs,
    /// and it is not started automatically (or its last run failed or is unknown).
    pub run_rollback_hook: bool,
}

/// A form through which a person records evidence (CI records the same through the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceForm {
    TestResult,
    Artifact,
    StagingDeploy,
    ProductionDeploy,
}

impl EvidenceForm {
    pub const ALL: [EvidenceForm; 4] =
        [EvidenceForm::TestResult, EvidenceForm::Artifact, EvidenceForm::StagingDeploy, EvidenceForm::ProductionDeploy];

    /// The form a step's evidence is recorded through, if people can record it.
    pub fn for_evidence(evidence: Evidence) -> Option<EvidenceForm> {
        match evidence {
            Evidence::TestsPassed => Some(EvidenceForm::TestResult),
            Evidence::Artifact => Some(EvidenceForm::Artifact),
            Evidence::StagingDeploy => Some(EvidenceForm::StagingDeploy),
            Evidence::ProductionDeploy => Some(EvidenceForm::ProductionDeploy),
            // Smoke checks are the items themselves; the watch is time.
            Evidence::None | Evidence::SmokeTest | Evidence::Watch => None,
        }
    }

    /// What a button opening the form says.
    pub fn label(self) -> &'static str {
        match self {
            EvidenceForm::TestResult => "Record test result",
            EvidenceForm::Artifact => "Record artifact",
            EvidenceForm::StagingDeploy => "Record staging deploy",
            EvidenceForm::ProductionDeploy => "Record production deploy",
        }
    }
}

/// Whether a card's controls are live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CardState {
    /// The step the release is at: its controls are live.
    Open,
    /// Nothing on the card can be changed any more; every control is disabled.
    Closed { why: ClosedWhy },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum ClosedWhy {
    /// The gate passed; `approvers` is empty when it passed by itself.
    GatePassed { by: Stamp, approvers: Vec<String> },
    /// A restart or retry opened a newer attempt; its card replaces this one.
    Superseded,
    /// The release is rolling back from this step.
    RollingBack,
    /// The release ended without this step's gate passing.
    ReleaseFinished { status: Status, reason: Option<String> },
    /// The release has not reached this step.
    NotReached,
}

impl ClosedWhy {
    /// Why the card is closed, in words.
    pub fn text(&self) -> String {
        match self {
            ClosedWhy::GatePassed { by, approvers } if approvers.is_empty() => {
                format!("Gate passed by itself · last update by {} · {}", by.by, by.local)
            }
            ClosedWhy::GatePassed { by, approvers } => {
                format!("Gate passed · approved by {} · {}", approvers.join(", "), by.local)
            }
            ClosedWhy::Superseded => "Superseded by a restart · a newer card replaces this one".to_owned(),
            ClosedWhy::RollingBack => "Closed · the release is rolling back from this step".to_owned(),
            ClosedWhy::ReleaseFinished { status, reason } => {
                let what = match status {
                    Status::Completed => "completed",
                    Status::RolledBack => "rolled back",
                    Status::Aborted => "aborted",
                    // Not a finished status; said plainly rather than hidden.
                    Status::Active | Status::RollingBack => "stopped",
                };
                match reason {
                    Some(reason) => format!("Release {what}: {reason}"),
                    None => format!("Release {what}"),
                }
            }
            ClosedWhy::NotReached => "Not reached yet".to_owned(),
        }
    }
}

impl Card {
    /// The step's 0-based index in the playbook; `None` for the rollback procedure.
    pub fn step_index(&self) -> Option<usize> {
        match self.step {
            StepRef::Step(index) => Some(index),
            StepRef::Rollback => None,
        }
    }

    pub fn is_open(&self) -> bool {
        self.state == CardState::Open
    }

    /// The card frozen as it is: nothing on it can be changed, and the forms and
    /// warnings that concerned what was still to do are gone, as on any closed card.
    pub fn closed(mut self, why: ClosedWhy) -> Card {
        self.state = CardState::Closed { why };
        self.inputs = Inputs::default();
        self.banners.clear();
        if let Some(evidence) = &mut self.gate.evidence {
            evidence.waiting_for = None;
        }
        self
    }
}

impl Progress {
    /// `▰▰▰▱▱▱▱▱ 3/8`. Long playbooks scale the bar to at most 12 segments.
    pub fn bar(&self) -> String {
        const MAX_SEGMENTS: usize = 12;
        let total = self.total.max(1);
        let current = self.current.min(total);
        let (filled, segments) = if total <= MAX_SEGMENTS {
            (current, total)
        } else {
            ((current * MAX_SEGMENTS).div_ceil(total), MAX_SEGMENTS)
        };
        format!("{}{} {}/{}", "▰".repeat(filled), "▱".repeat(segments - filled), self.current, self.total)
    }
}

impl ReleaseLine {
    /// `api 1.4.0 · 3f9c2e1 · artifact 111111111111 · hotfix`.
    pub fn text(&self) -> String {
        let mut parts = vec![format!("{} {}", self.service, self.version), self.short_sha.clone()];
        if let Some(artifact) = &self.artifact {
            parts.push(format!("artifact {}", artifact.short()));
        }
        if self.hotfix {
            parts.push("hotfix".to_owned());
        }
        parts.join(" · ")
    }
}

impl EvidenceLine {
    /// The evidence in one line of plain text.
    pub fn text(&self) -> String {
        match self {
            EvidenceLine::Tests(t) => {
                let mut text = format!("Tests {}: {} passed, {} failed", t.suite, t.passed, t.failed);
                if t.skipped > 0 {
                    text.push_str(&format!(", {} skipped", t.skipped));
                }
                if !t.flaky.is_empty() {
                    text.push_str(&format!(" · flaky: {}", t.flaky.join(", ")));
                }
                text
            }
            EvidenceLine::Artifact { version, git_sha, digest, size_bytes, name } => {
                let short_sha = git_sha.as_str().get(..7).unwrap_or(git_sha.as_str());
                let mut text =
                    format!("Artifact {version} · {short_sha} · {} · {}", digest.short(), readable_size(*size_bytes));
                if let Some(name) = name {
                    text.push_str(&format!(" · {name}"));
                }
                text
            }
            EvidenceLine::Deployment { report, recorded, revert } => {
                let what = if *revert {
                    format!("Production revert to {}", report.digest.short())
                } else {
                    let environment = match report.environment {
                        Environment::Staging => "Staging",
                        Environment::Production => "Production",
                    };
                    format!("{environment} deploy of {}", report.digest.short())
                };
                let outcome = match report.outcome {
                    Outcome::Succeeded => "succeeded",
                    Outcome::Failed => "failed",
                };
                let health = match report.health {
                    HealthCheck::Passed => "health checks passing",
                    HealthCheck::Failed => "health checks failing",
                    HealthCheck::Unknown => "health not known yet",
                };
                let mut text = format!("{what}: {outcome}, {health}");
                if let Some(strategy) = report.strategy {
                    text.push_str(&format!(" · {}", strategy_words(strategy, report.canary_percent)));
                }
                text.push_str(&format!(" · {}, {}", recorded.by, recorded.local));
                text
            }
            EvidenceLine::Watch { since, until_local, done, .. } => {
                if *done {
                    format!("Production watched since the deploy at {}, until {until_local}", since.local)
                } else {
                    format!("Watching production since the deploy at {}, until at least {until_local}", since.local)
                }
            }
        }
    }
}

impl Banner {
    /// The banner in one line of plain text.
    pub fn text(&self) -> String {
        match self {
            Banner::Frozen { reasons, until_local, here, .. } => {
                let until =
                    until_local.as_ref().map_or_else(|| " for more than a year".to_owned(), |u| format!(" until {u}"));
                let why = if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join(", ")) };
                if *here {
                    format!("Production is frozen{until}{why}: only an emergency hotfix with an approved override may deploy")
                } else {
                    format!("Heads-up: production is frozen{until}{why}")
                }
            }
            Banner::Locked { lock, until_local } => {
                let scope = match lock.environment {
                    Some(environment) => format!("{} {environment}", lock.service),
                    None => lock.service.to_string(),
                };
                let effect = if lock.warn_only { "warning only" } else { "the gate is blocked" };
                format!("{scope} locked by {} until {until_local}: {} ({effect})", lock.by, lock.reason)
            }
            Banner::OverrideRequested { by, reason } => {
                format!("Freeze override requested by {by}: {reason} · waiting for a second person to approve")
            }
            Banner::OverrideApproved { by, requested_by, reason, until_local, in_force } => {
                let until = until_local.as_deref().unwrap_or("unknown");
                if *in_force {
                    format!(
                        "Freeze override approved by {by} (requested by {requested_by}: {reason}), in force until {until}"
                    )
                } else {
                    format!("Freeze override (requested by {requested_by}: {reason}) expired at {until}")
                }
            }
            Banner::HoldsProduction { service } => {
                format!("This release holds production for {service}: other {service} releases wait until it is done")
            }
            Banner::Stalled => "No activity on this step past its time limit; its owners were pinged".to_owned(),
            Banner::RollbackDrill { service, last, due_local, overdue } => {
                let head = match last {
                    None => format!("{service} has had no rollback drill"),
                    Some(d) => format!(
                        "Last rollback drill of {service}: {} by {}, the rollback took {}",
                        d.completed_local, d.by, d.took
                    ),
                };
                match (overdue, due_local) {
                    (true, _) => {
                        format!(
                            "{head} — overdue: keep the rollback path tested with `/release drill service:{service}`"
                        )
                    }
                    (false, Some(due)) => format!("{head}; next one due by {due}"),
                    (false, None) => head,
                }
            }
        }
    }
}

/// The card of `step`, as the release stands. `None` when the playbook has no such step,
/// or for the rollback procedure when no rollback has run.
pub fn step_card(release: &Release, step: StepRef, ctx: &CardContext) -> Option<Card> {
    match step {
        StepRef::Step(index) => (index < release.playbook.steps.len()).then(|| build_step(release, index, ctx)),
        StepRef::Rollback => release.rollback.as_ref().map(|rollback| build_rollback(release, rollback, ctx)),
    }
}

/// The card people work on now: the rollback procedure's while the release rolls back,
/// otherwise the current step's (the last step's once the release is finished).
pub fn current_card(release: &Release, ctx: &CardContext) -> Card {
    match &release.rollback {
        Some(rollback) if release.status == Status::RollingBack => build_rollback(release, rollback, ctx),
        _ => build_step(release, release.current, ctx),
    }
}

// ----------------------------------------------------------------------------------------
// Building
// ----------------------------------------------------------------------------------------

/// `index` is a valid step index.
fn build_step(release: &Release, index: usize, ctx: &CardContext) -> Card {
    let playbook = &release.playbook;
    let step = &playbook.steps[index];
    let state = &release.steps[index];
    let card_state = step_state(release, index, ctx);
    let open = card_state == CardState::Open;
    // Open means the step is current and the release active: its gate is the one in play.
    let status = open.then(|| release.gate_status(ctx.now));
    let passed = state.passed.is_some();

    let items = items(&step.items, state, ctx);
    let unticked = items.iter().filter(|i| !i.is_ticked()).count();
    let evidence = evidence_need(step).map(|what| {
        let recorded = passed || status.as_ref().is_some_and(|s| s.evidence_missing.is_none());
        let waiting_for = match &status {
            Some(s) if !recorded => {
                if step.requires == Evidence::Watch {
                    watch_missing(release, step, ctx)
                } else {
                    s.evidence_missing.clone()
                }
            }
            _ => None,
        };
        EvidenceNeed { what, recorded, waiting_for }
    });
    let evidence_recorded = evidence.as_ref().is_none_or(|e| e.recorded);
    let reject = reject_path(step).map(|p| RejectOffer {
        path: Some(p.id.clone()),
        label: p.label.clone(),
        leads_to: rejection_leads_to(release, p),
    });
    let rejected = state.rejected.as_ref().map(|r| RejectedGate {
        by: stamp(&r.by, ctx),
        reason: r.reason.clone(),
        then: r
            .path
            .as_ref()
            .and_then(|id| step.failure_paths.iter().find(|p| &p.id == id))
            .map_or_else(|| "the release ends".to_owned(), |p| p.label.clone()),
    });
    let gate = GateCard {
        text: step.gate.text.clone(),
        rule: rule_in_words(&step.gate, !step.items.is_empty(), evidence_rule(step).as_deref()),
        evidence,
        approvals: approvals(&step.gate, state, ctx),
        unticked,
        can_pass: unticked == 0 && evidence_recorded,
        passed_by: state.passed.as_ref().map(|m| stamp(m, ctx)),
        reject_path: reject.as_ref().and_then(|r| r.path.clone()),
        reject,
        rejected,
        approved_digest: state.approved_digest.clone(),
    };

    let production = playbook.step_requiring(Evidence::ProductionDeploy);
    let mut banners = Vec::new();
    let mut inputs = Inputs::default();
    if open {
        banners = step_banners(release, index, production, ctx);
        inputs.evidence = EvidenceForm::for_evidence(step.requires).into_iter().collect();
        inputs.approve_override = production.is_none_or(|p| index <= p)
            && release.freeze_override.as_ref().is_some_and(|o| o.approved.is_none());
    }

    Card {
        release_id: release.id.clone(),
        step: StepRef::Step(index),
        step_id: step.id.clone(),
        attempt: state.attempt,
        title: format!("Step {} — {}", index + 1, step.title),
        progress: Progress { current: index + 1, total: playbook.steps.len() },
        release: release_line(release, ctx),
        summary: step.summary.clone(),
        guidance: step.guidance.clone(),
        items,
        gate,
        failure_paths: step.failure_paths.iter().map(|p| failure_path(release, p)).collect(),
        evidence: evidence_lines(release, step, state, ctx),
        banners,
        rollback: None,
        inputs,
        state: card_state,
    }
}

fn step_state(release: &Release, index: usize, ctx: &CardContext) -> CardState {
    let state = &release.steps[index];
    let why = if let Some(mark) = &state.passed {
        ClosedWhy::GatePassed {
            by: stamp(mark, ctx),
            approvers: state.approvals.iter().map(|m| m.by.display_name.clone()).collect(),
        }
    } else if release.status.is_finished() {
        ClosedWhy::ReleaseFinished { status: release.status, reason: release.abort_reason.clone() }
    } else if index == release.current {
        if release.status == Status::RollingBack {
            ClosedWhy::RollingBack
        } else {
            return CardState::Open;
        }
    } else if index > release.current && state.attempt == 0 {
        ClosedWhy::NotReached
    } else {
        // Entered before, but not in the attempt the release is on: a restart went back
        // past it (a step before the current one always has its gate passed).
        ClosedWhy::Superseded
    };
    CardState::Closed { why }
}

fn build_rollback(release: &Release, rollback: &RollbackState, ctx: &CardContext) -> Card {
    let playbook = &release.playbook;
    let procedure = &playbook.rollback;
    let state = &rollback.step;
    let card_state = if let Some(mark) = &state.passed {
        CardState::Closed {
            why: ClosedWhy::GatePassed {
                by: stamp(mark, ctx),
                approvers: state.approvals.iter().map(|m| m.by.display_name.clone()).collect(),
            },
        }
    } else if release.status == Status::RollingBack {
        CardState::Open
    } else {
        CardState::Closed {
            why: ClosedWhy::ReleaseFinished { status: release.status, reason: release.abort_reason.clone() },
        }
    };
    let open = card_state == CardState::Open;
    // While rolling back, the gate in play is the procedure's.
    let status = open.then(|| release.gate_status(ctx.now));
    let passed = state.passed.is_some();

    let items = items(&procedure.items, state, ctx);
    let unticked = items.iter().filter(|i| !i.is_ticked()).count();
    let recorded = passed || status.as_ref().is_some_and(|s| s.evidence_missing.is_none());
    let evidence = EvidenceNeed {
        what: "the previous known-good artifact deployed to production, health checks passing".to_owned(),
        recorded,
        waiting_for: status.as_ref().and_then(|s| s.evidence_missing.clone()).filter(|_| !recorded),
    };
    let gate = GateCard {
        text: procedure.gate.text.clone(),
        rule: rule_in_words(
            &procedure.gate,
            !procedure.items.is_empty(),
            Some("previous artifact healthy in production"),
        ),
        evidence: Some(evidence),
        approvals: approvals(&procedure.gate, state, ctx),
        unticked,
        can_pass: unticked == 0 && recorded,
        passed_by: state.passed.as_ref().map(|m| stamp(m, ctx)),
        // The procedure has no failure paths: a rollback is finished, or the release aborted.
        reject_path: None,
        reject: Some(RejectOffer {
            path: None,
            label: String::new(),
            leads_to: "production still goes back; the release then ends aborted".to_owned(),
        }),
        rejected: state.rejected.as_ref().map(|r| RejectedGate {
            by: stamp(&r.by, ctx),
            reason: r.reason.clone(),
            then: "the release ends aborted once production is back".to_owned(),
        }),
        approved_digest: None,
    };

    let from_index = playbook.step_index(&rollback.from);
    let from = match from_index {
        Some(i) => step_in_words(release, i),
        None => rollback.from.to_string(),
    };
    let then_words = match &rollback.then {
        AfterRollback::End => "the release ends rolled back".to_owned(),
        AfterRollback::Abort => "the release ends aborted".to_owned(),
        AfterRollback::Resume(step) => match playbook.step_index(step) {
            Some(i) => format!("the release resumes at {} with a fix", step_in_words(release, i)),
            None => format!("the release resumes at step {step} with a fix"),
        },
    };

    let mut banners = Vec::new();
    let mut inputs = Inputs::default();
    if open {
        banners.push(Banner::HoldsProduction { service: release.service.clone() });
        if ctx.stalled {
            banners.push(Banner::Stalled);
        }
        inputs.evidence = vec![EvidenceForm::ProductionDeploy];
        inputs.run_rollback_hook = offers_hook(rollback, ctx.rollback_hook);
    }

    let evidence_lines = state
        .deployments
        .iter()
        .map(|(report, mark)| EvidenceLine::Deployment {
            report: report.clone(),
            recorded: stamp(mark, ctx),
            revert: true,
        })
        .collect();

    Card {
        release_id: release.id.clone(),
        step: StepRef::Rollback,
        step_id: StepId::new(ROLLBACK_STEP),
        attempt: state.attempt,
        title: format!("Rollback — {}", procedure.title),
        progress: Progress { current: from_index.map_or(release.current, |i| i) + 1, total: playbook.steps.len() },
        release: release_line(release, ctx),
        summary: procedure.summary.clone(),
        guidance: Vec::new(),
        items,
        gate,
        failure_paths: Vec::new(),
        evidence: evidence_lines,
        banners,
        rollback: Some(RollbackInfo {
            from,
            reason: rollback.reason.clone(),
            started: stamp(&rollback.started, ctx),
            then: rollback.then.clone(),
            then_words,
            deployed: rollback.deployed.as_ref().map(|d| d.digest.clone()),
            target: rollback.target.clone(),
            hook: rollback.hook().map(|run| HookCard::new(run, ctx)),
        }),
        inputs,
        state: card_state,
    }
}

/// Whether the open rollback card offers to run the hook: one is configured, there is a
/// deploy to revert and a target to revert to, and no run is in flight. With `auto` the
/// first run starts by itself, so the button comes only to retry a failed or unknown run.
fn offers_hook(rollback: &RollbackState, mode: HookMode) -> bool {
    if rollback.deployed.is_none() || rollback.target.is_none() {
        return false;
    }
    match (mode, rollback.hook()) {
        (HookMode::None, _) => false,
        (_, Some(run)) => run.finished.as_ref().is_some_and(|(outcome, _)| outcome.may_retry()),
        // With `auto` the rollback's own commit asks for the first run; none means the
        // rollback started before `auto` was configured, and a person may start it.
        (_, None) => true,
    }
}

fn release_line(release: &Release, ctx: &CardContext) -> ReleaseLine {
    let sha = release.git_sha.as_str();
    ReleaseLine {
        service: release.service.clone(),
        version: release.version.clone(),
        git_sha: release.git_sha.clone(),
        short_sha: sha.get(..7).unwrap_or(sha).to_owned(),
        artifact: release.artifact().map(|a| a.digest.clone()),
        hotfix: release.hotfix,
        started: Stamp {
            by: release.started.by.display_name.clone(),
            at: release.started.at,
            local: local_with_date(release.started.at, ctx.time_zone),
        },
    }
}

fn items(items: &[Item], state: &StepState, ctx: &CardContext) -> Vec<ItemCard> {
    items
        .iter()
        .map(|item| ItemCard {
            id: item.id.clone(),
            text: item.text.clone(),
            ticked: state.ticked.get(&item.id).map(|m| stamp(m, ctx)),
        })
        .collect()
}

fn approvals(gate: &Gate, state: &StepState, ctx: &CardContext) -> Approvals {
    Approvals {
        given: state.approvals.iter().map(|m| stamp(m, ctx)).collect(),
        required: gate.approvals,
        roles: gate.roles.clone(),
        starter_may_approve: gate.starter_may_approve,
    }
}

/// Where rejecting into `path` leads: as the path says, except a rollback path before
/// anything reached production, which goes straight to where it would resume.
fn rejection_leads_to(release: &Release, path: &FailurePath) -> String {
    if path.action == FailureAction::Rollback && !release.production_attempted {
        return match release.playbook.step_index(path.to.as_ref().unwrap_or(&release.current_step().id)) {
            Some(i) if path.to.is_some() => {
                format!("nothing reached production: restart from {}", step_in_words(release, i))
            }
            _ => "nothing reached production: the release ends aborted".to_owned(),
        };
    }
    failure_path(release, path).leads_to
}

fn failure_path(release: &Release, path: &FailurePath) -> FailurePathCard {
    let step_words = |to: &StepId| match release.playbook.step_index(to) {
        Some(i) => step_in_words(release, i),
        None => format!("step {to}"),
    };
    let leads_to = match (path.action, &path.to) {
        (FailureAction::Restart, Some(to)) => format!("restart from {}", step_words(to)),
        // The engine restarts the step itself when `to` is left out.
        (FailureAction::Restart, None) => "restart this step".to_owned(),
        (FailureAction::Retry, _) => "retry this step".to_owned(),
        (FailureAction::Rollback, Some(to)) => format!("roll back, then resume at {}", step_words(to)),
        (FailureAction::Rollback, None) => "roll back; the release ends rolled back".to_owned(),
        (FailureAction::Abort, _) => "abort the release".to_owned(),
    };
    FailurePathCard {
        id: path.id.clone(),
        label: path.label.clone(),
        action: path.action,
        note_required: path.note_required,
        leads_to,
    }
}

fn evidence_lines(release: &Release, step: &Step, state: &StepState, ctx: &CardContext) -> Vec<EvidenceLine> {
    let mut lines: Vec<EvidenceLine> = state.tests.values().cloned().map(EvidenceLine::Tests).collect();
    if let Some(a) = &state.artifact {
        lines.push(EvidenceLine::Artifact {
            version: a.version.clone(),
            git_sha: a.git_sha.clone(),
            digest: a.digest.clone(),
            size_bytes: a.size_bytes,
            name: a.name.clone(),
        });
    }
    lines.extend(state.deployments.iter().map(|(report, mark)| EvidenceLine::Deployment {
        report: report.clone(),
        recorded: stamp(mark, ctx),
        revert: false,
    }));
    if step.requires == Evidence::Watch {
        if let Some((_, deployed)) = &release.production {
            let until = watch_until(step, deployed);
            lines.push(EvidenceLine::Watch {
                since: stamp(deployed, ctx),
                until,
                until_local: local(until, ctx),
                done: ctx.now >= until,
            });
        }
    }
    lines
}

fn watch_until(step: &Step, deployed: &Mark) -> DateTime<Utc> {
    deployed.at + Duration::minutes(i64::from(step.watch_minutes.map_or(0, |w| w.min)))
}

/// The engine says what the watch waits for in UTC; people read their own time.
fn watch_missing(release: &Release, step: &Step, ctx: &CardContext) -> Option<String> {
    let minutes = step.watch_minutes.map_or(0, |w| w.min);
    Some(match &release.production {
        None => "a production deploy to watch".to_owned(),
        Some((_, deployed)) => {
            let until = watch_until(step, deployed);
            let left = (until - ctx.now).num_minutes().max(0);
            format!(
                "the {minutes}-minute watch after the production deploy (until {}, {left} min left)",
                local(until, ctx)
            )
        }
    })
}

fn step_banners(release: &Release, index: usize, production: Option<usize>, ctx: &CardContext) -> Vec<Banner> {
    let mut banners = Vec::new();
    let up_to_production = production.is_some_and(|p| index <= p);
    if up_to_production {
        if let Some(FreezeVerdict::Frozen { reasons, next_open }) = &ctx.freeze {
            banners.push(Banner::Frozen {
                reasons: reasons.iter().map(|r| r.name.clone()).collect(),
                until: *next_open,
                until_local: next_open.map(|t| local_with_date(t, ctx.time_zone)),
                here: Some(index) == production,
            });
        }
    }
    for lock in &ctx.locks {
        // A lock blocks the gate into its environment: shown on the steps up to it.
        let blocks = match lock.environment {
            Some(Environment::Staging) => release.playbook.step_requiring(Evidence::StagingDeploy),
            Some(Environment::Production) | None => production,
        };
        if lock.service == release.service && blocks.is_some_and(|b| index <= b) {
            banners.push(Banner::Locked { lock: lock.clone(), until_local: local(lock.until, ctx) });
        }
    }
    if let Some(o) = release.freeze_override.as_ref().filter(|_| production.is_none_or(|p| index <= p)) {
        banners.push(match &o.approved {
            None => Banner::OverrideRequested { by: o.requested.by.display_name.clone(), reason: o.reason.clone() },
            Some(approved) => Banner::OverrideApproved {
                by: approved.by.display_name.clone(),
                requested_by: o.requested.by.display_name.clone(),
                reason: o.reason.clone(),
                until_local: o.expires_at.map(|e| local(e, ctx)),
                in_force: o.expires_at.is_some_and(|e| ctx.now < e),
            },
        });
    }
    if release.holds_production() {
        banners.push(Banner::HoldsProduction { service: release.service.clone() });
    }
    if ctx.stalled {
        banners.push(Banner::Stalled);
    }
    if index == 0 {
        banners.extend(release.last_drill.as_ref().map(|d| drill_banner(d, ctx)));
    }
    banners
}

/// The drill standing recorded at the release's start, in the team's time zone.
fn drill_banner(standing: &DrillStanding, ctx: &CardContext) -> Banner {
    let dated = |at: DateTime<Utc>| at.with_timezone(&ctx.time_zone).format("%a %-d %b %Y").to_string();
    Banner::RollbackDrill {
        service: standing.service.clone(),
        last: standing.last.as_ref().map(|d| DrillLine {
            by: d.by.clone(),
            completed_local: dated(d.completed_at),
            took: human_duration(d.duration()),
        }),
        due_local: standing.due_at.map(dated),
        overdue: standing.overdue,
    }
}

// ----------------------------------------------------------------------------------------
// Words
// ----------------------------------------------------------------------------------------

/// `Step 4 — Deploy to Staging`; `index` is a valid step index.
fn step_in_words(release: &Release, index: usize) -> String {
    format!("Step {} — {}", index + 1, release.playbook.steps[index].title)
}

/// `every box ticked · tests green · 1 release-manager or engineer`.
fn rule_in_words(gate: &Gate, has_items: bool, evidence: Option<&str>) -> String {
    let mut parts = Vec::new();
    if has_items {
        parts.push("every box ticked".to_owned());
    }
    if let Some(evidence) = evidence {
        parts.push(evidence.to_owned());
    }
    parts.push(if gate.approvals == 0 {
        "passes by itself".to_owned()
    } else {
        let who = match gate.roles.as_slice() {
            [] if gate.approvals == 1 => "approver".to_owned(),
            [] => "approvers".to_owned(),
            roles => roles_in_words(roles),
        };
        let starter = if gate.starter_may_approve { "" } else { ", not the starter" };
        format!("{} {who}{starter}", gate.approvals)
    });
    parts.join(" · ")
}

/// "release-manager", "release-manager or engineer", "a, b or c".
fn roles_in_words(roles: &[RoleName]) -> String {
    match roles {
        [] => "anyone".to_owned(),
        [only] => only.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.iter().map(RoleName::as_str).collect::<Vec<_>>().join(", ")),
    }
}

/// The evidence a step's gate needs, in a few words for the rule line.
fn evidence_rule(step: &Step) -> Option<String> {
    Some(match step.requires {
        Evidence::None => return None,
        Evidence::TestsPassed => "tests green".to_owned(),
        Evidence::Artifact => "artifact recorded".to_owned(),
        Evidence::StagingDeploy => "staging healthy".to_owned(),
        Evidence::SmokeTest => "healthy staging deploy".to_owned(),
        Evidence::ProductionDeploy => "production healthy".to_owned(),
        Evidence::Watch => format!("watched {} min", step.watch_minutes.map_or(0, |w| w.min)),
    })
}

/// The evidence a step's gate needs, in a sentence.
fn evidence_need(step: &Step) -> Option<String> {
    Some(match step.requires {
        Evidence::None => return None,
        Evidence::TestsPassed => "a recorded test run with zero failures".to_owned(),
        Evidence::Artifact => "an artifact tagged with the release's git SHA and version".to_owned(),
        Evidence::StagingDeploy => "the artifact deployed to staging, health checks passing".to_owned(),
        Evidence::SmokeTest => "a healthy staging deploy of the artifact to smoke-test".to_owned(),
        Evidence::ProductionDeploy => {
            "the artifact that passed staging deployed to production, health checks passing".to_owned()
        }
        Evidence::Watch => format!(
            "production watched for at least {} minutes after the deploy",
            step.watch_minutes.map_or(0, |w| w.min)
        ),
    })
}

fn strategy_words(strategy: DeployStrategy, canary_percent: Option<u8>) -> String {
    match (strategy, canary_percent) {
        (DeployStrategy::Rolling, _) => "rolling".to_owned(),
        (DeployStrategy::BlueGreen, _) => "blue-green".to_owned(),
        (DeployStrategy::Canary, Some(percent)) => format!("canary {percent}%"),
        (DeployStrategy::Canary, None) => "canary".to_owned(),
        (DeployStrategy::Recreate, _) => "recreate".to_owned(),
    }
}

fn readable_size(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes < 1024 * 1024 {
        format!("{bytes} bytes")
    } else {
        // Sizes are read, not computed with: the float's rounding is fine here.
        format!("{:.1} MiB", bytes as f64 / MIB)
    }
}

// ----------------------------------------------------------------------------------------
// Times people read
// ----------------------------------------------------------------------------------------

fn stamp(mark: &Mark, ctx: &CardContext) -> Stamp {
    Stamp { by: mark.by.display_name.clone(), at: mark.at, local: local(mark.at, ctx) }
}

/// `10:04 EST` on the team's today, `Tue 1 Dec 10:04 EST` on another day.
fn local(at: DateTime<Utc>, ctx: &CardContext) -> String {
    let here = at.with_timezone(&ctx.time_zone);
    if here.date_naive() == ctx.now.with_timezone(&ctx.time_zone).date_naive() {
        here.format("%H:%M %Z").to_string()
    } else {
        local_with_date(at, ctx.time_zone)
    }
}

/// `Wed 2 Dec 05:00 EST`.
fn local_with_date(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%a %-d %b %H:%M %Z").to_string()
}

pub mod rollback_notice;
pub mod watch;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
