//! What a release looks like to people and pipelines: the current step as a card
//! (items, gate, failure paths) and the release around it. Platform-neutral; the API
//! serves it as JSON and chat adapters render it.

use super::actor::Actor;
use super::freeze::FreezeVerdict;
use super::ids::{ArtifactDigest, ItemId, RequestId};
use super::playbook::{Evidence, FailureAction, Gate, Item, Step};
use super::release::{
    AfterRollback, Artifact, DeploymentReport, Event, LiveDeployment, Recorded, Release, Status, StepState,
};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseView {
    pub id: String,
    pub service: String,
    pub version: String,
    pub git_sha: String,
    pub playbook: String,
    pub playbook_title: String,
    pub hotfix: bool,
    pub status: Status,
    pub started_by: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub abort_reason: Option<String>,
    pub steps_total: usize,
    /// The card of the step the release is at (the last step once it is finished).
    pub current_step: StepCard,
    pub steps: Vec<StepSummary>,
    /// The rollback procedure's card while a rollback runs or after one ran.
    pub rollback: Option<RollbackCard>,
    pub artifact: Option<Artifact>,
    pub staging_passed: Option<ArtifactDigest>,
    pub smoke_passed: Option<ArtifactDigest>,
    pub production: Option<DeploymentView>,
    pub holds_production: bool,
    pub freeze_at_start: Option<FreezeVerdict>,
    pub freeze_override: Option<OverrideView>,
    pub follow_ups: Vec<String>,
    pub constraints: Vec<String>,
    pub seq: u64,
    /// Set once the release was pointed at another commit: what it shipped before, who
    /// moved it, when and why (the last retarget).
    pub retargeted: Option<RetargetView>,
    /// The bug triage release of this release's rollback, once shipgate opened it.
    pub triage: Option<String>,
    /// For a bug triage release: the failed release whose rollback it triages.
    pub triage_of: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetargetView {
    pub from_git_sha: String,
    pub from_version: String,
    pub reason: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepCard {
    /// 1-based.
    pub number: usize,
    pub id: String,
    pub title: String,
    pub summary: String,
    pub guidance: Vec<String>,
    pub requires: Evidence,
    pub attempt: u32,
    pub items: Vec<ItemView>,
    pub gate: GateView,
    pub failure_paths: Vec<FailurePathView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemView {
    pub id: String,
    pub text: String,
    pub ticked: bool,
    pub ticked_by: Option<String>,
    pub ticked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateView {
    pub text: String,
    pub ready: bool,
    pub passed: bool,
    pub unticked: Vec<ItemId>,
    pub evidence_missing: Option<String>,
    pub approvals: u32,
    pub approvals_required: u32,
    pub approved_by: Vec<String>,
    pub roles: Vec<String>,
    pub starter_may_approve: bool,
    /// On the gate into production: the artifact its approvals let through.
    pub approved_digest: Option<ArtifactDigest>,
    /// Why the gate of this attempt was rejected, if it was.
    pub rejected_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailurePathView {
    pub id: String,
    pub label: String,
    pub action: FailureAction,
    pub note_required: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepSummary {
    pub number: usize,
    pub id: String,
    pub title: String,
    /// `done`, `current` or `pending`.
    pub state: &'static str,
    pub attempt: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackCard {
    pub title: String,
    pub from_step: String,
    pub reason: String,
    pub started_by: String,
    pub started_at: DateTime<Utc>,
    pub then: AfterRollback,
    pub deployed: Option<DeploymentReport>,
    pub target: Option<LiveDeployment>,
    /// With no target: that there is no known-good artifact, and what the revert takes.
    pub target_note: Option<String>,
    pub items: Vec<ItemView>,
    pub gate: GateView,
    pub done: bool,
    /// The rollback hook's latest run, once one was asked for.
    pub hook: Option<HookView>,
}

/// A run of the rollback hook: who asked, when it started, how it ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HookView {
    pub attempt: u32,
    /// `automatic` (the rollback asked for it, `auto = true`) or `person`.
    pub trigger: super::release::HookTrigger,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    /// `succeeded`, `failed`, `unknown`; null while it runs.
    pub outcome: Option<&'static str>,
    pub detail: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl HookView {
    fn new(run: &super::release::HookRun) -> HookView {
        HookView {
            attempt: run.attempt,
            trigger: run.trigger,
            requested_by: run.requested.by.display_name.clone(),
            requested_at: run.requested.at,
            started_at: run.started.as_ref().map(|m| m.at),
            outcome: run.finished.as_ref().map(|(o, _)| o.as_str()),
            detail: run.finished.as_ref().map(|(o, _)| o.detail().to_owned()),
            finished_at: run.finished.as_ref().map(|(_, m)| m.at),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentView {
    #[serde(flatten)]
    pub report: DeploymentReport,
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverrideView {
    pub reason: String,
    pub requested_by: String,
    pub approved_by: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub in_force: bool,
}

/// One line of a release's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub request_id: RequestId,
    #[serde(flatten)]
    pub event: HistoryEvent,
}

/// An event as history shows it: the started event without its playbook snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum HistoryEvent {
    Started {
        #[serde(rename = "type")]
        kind: &'static str,
        service: String,
        version: String,
        git_sha: String,
        hotfix: bool,
        playbook: String,
    },
    Other(Event),
}

impl HistoryEntry {
    pub fn from_recorded(recorded: &Recorded) -> Self {
        let event = match &recorded.event {
            Event::Started { service, version, git_sha, hotfix, playbook, .. } => HistoryEvent::Started {
                kind: "started",
                service: service.to_string(),
                version: version.to_string(),
                git_sha: git_sha.to_string(),
                hotfix: *hotfix,
                playbook: playbook.name.to_string(),
            },
            other => HistoryEvent::Other(other.clone()),
        };
        Self {
            seq: recorded.seq,
            at: recorded.at,
            actor: recorded.actor.clone(),
            request_id: recorded.request_id.clone(),
            event,
        }
    }
}

impl ReleaseView {
    pub fn of(release: &Release, now: DateTime<Utc>) -> Self {
        let playbook = &release.playbook;
        let step = release.current_step();
        let state = &release.steps[release.current];
        let rolling_back = release.status == Status::RollingBack;
        let gate_status = (!rolling_back).then(|| release.gate_status(now));
        let current_step = StepCard {
            number: release.current + 1,
            id: step.id.to_string(),
            title: step.title.clone(),
            summary: step.summary.clone(),
            guidance: step.guidance.clone(),
            requires: step.requires,
            attempt: state.attempt,
            items: items_view(&step.items, state),
            gate: gate_view(&step.gate, state, gate_status.as_ref(), &step.items, release, step),
            failure_paths: step
                .failure_paths
                .iter()
                .map(|p| FailurePathView {
                    id: p.id.to_string(),
                    label: p.label.clone(),
                    action: p.action,
                    note_required: p.note_required,
                })
                .collect(),
        };
        let steps = playbook
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| StepSummary {
                number: i + 1,
                id: s.id.to_string(),
                title: s.title.clone(),
                state: if release.status == Status::Completed || i < release.current {
                    "done"
                } else if i == release.current {
                    "current"
                } else {
                    "pending"
                },
                attempt: release.steps[i].attempt,
            })
            .collect();
        let rollback = release.rollback.as_ref().map(|r| {
            let procedure = &playbook.rollback;
            let status = rolling_back.then(|| release.gate_status(now));
            RollbackCard {
                title: procedure.title.clone(),
                from_step: r.from.to_string(),
                reason: r.reason.clone(),
                started_by: r.started.by.display_name.clone(),
                started_at: r.started.at,
                then: r.then.clone(),
                deployed: r.deployed.clone(),
                target: r.target.clone(),
                target_note: r.target.is_none().then(|| super::release::no_known_good_target(&release.service)),
                items: items_view(&procedure.items, &r.step),
                gate: GateView {
                    text: String::new(),
                    ready: status.as_ref().is_some_and(|s| s.ready()),
                    passed: r.step.passed.is_some(),
                    unticked: status.as_ref().map(|s| s.unticked.clone()).unwrap_or_default(),
                    evidence_missing: status.as_ref().and_then(|s| s.evidence_missing.clone()),
                    approvals: r.step.approvals.len() as u32,
                    approvals_required: procedure.gate.approvals,
                    approved_by: r.step.approvals.iter().map(|m| m.by.display_name.clone()).collect(),
                    roles: procedure.gate.roles.iter().map(ToString::to_string).collect(),
                    starter_may_approve: procedure.gate.starter_may_approve,
                    approved_digest: None,
                    rejected_reason: r.step.rejected.as_ref().map(|r| r.reason.clone()),
                },
                done: r.step.passed.is_some(),
                hook: r.hook().map(HookView::new),
            }
        });
        Self {
            id: release.id.to_string(),
            service: release.service.to_string(),
            version: release.version.to_string(),
            git_sha: release.git_sha.to_string(),
            playbook: playbook.name.to_string(),
            playbook_title: playbook.title.clone(),
            hotfix: release.hotfix,
            status: release.status,
            started_by: release.started.by.display_name.clone(),
            started_at: release.started.at,
            finished_at: release.finished.as_ref().map(|m| m.at),
            abort_reason: release.abort_reason.clone(),
            steps_total: playbook.steps.len(),
            current_step,
            steps,
            rollback,
            artifact: release.artifact().cloned(),
            staging_passed: release.staging_passed().cloned(),
            smoke_passed: release.smoke_passed().cloned(),
            production: release.production.as_ref().map(|(report, mark)| DeploymentView {
                report: report.clone(),
                by: mark.by.display_name.clone(),
                at: mark.at,
            }),
            holds_production: release.holds_production(),
            freeze_at_start: release.freeze_at_start.clone(),
            freeze_override: release.freeze_override.as_ref().map(|o| OverrideView {
                reason: o.reason.clone(),
                requested_by: o.requested.by.display_name.clone(),
                approved_by: o.approved.as_ref().map(|m| m.by.display_name.clone()),
                expires_at: o.expires_at,
                in_force: o.expires_at.is_some_and(|e| now < e),
            }),
            follow_ups: release.follow_ups.iter().map(|f| f.text.clone()).collect(),
            constraints: playbook.constraints.clone(),
            seq: release.seq,
            retargeted: release.retargeted.as_ref().map(|r| RetargetView {
                from_git_sha: r.from_git_sha.to_string(),
                from_version: r.from_version.to_string(),
                reason: r.reason.clone(),
                by: r.by.by.display_name.clone(),
                at: r.by.at,
            }),
            triage: release.triage.as_ref().map(ToString::to_string),
            triage_of: release.triage_of.as_ref().map(|o| o.release_id.to_string()),
        }
    }
}

fn items_view(items: &[Item], state: &StepState) -> Vec<ItemView> {
    items
        .iter()
        .map(|item| {
            let mark = state.ticked.get(&item.id);
            ItemView {
                id: item.id.to_string(),
                text: item.text.clone(),
                ticked: mark.is_some(),
                ticked_by: mark.map(|m| m.by.display_name.clone()),
                ticked_at: mark.map(|m| m.at),
            }
        })
        .collect()
}

fn gate_view(
    gate: &Gate,
    state: &StepState,
    status: Option<&super::release::GateStatus>,
    items: &[Item],
    release: &Release,
    step: &Step,
) -> GateView {
    let passed = state.passed.is_some();
    // A finished release shows its last step as it was left, with nothing missing.
    let finished = release.status.is_finished();
    GateView {
        text: gate.text.clone(),
        ready: !finished && status.is_some_and(|s| s.ready()),
        passed,
        unticked: if finished {
            Vec::new()
        } else {
            status.map_or_else(
                || items.iter().filter(|i| !state.ticked.contains_key(&i.id)).map(|i| i.id.clone()).collect(),
                |s| s.unticked.clone(),
            )
        },
        evidence_missing: if finished || step.requires == Evidence::None {
            None
        } else {
            status.and_then(|s| s.evidence_missing.clone())
        },
        approvals: state.approvals.len() as u32,
        approvals_required: gate.approvals,
        approved_by: state.approvals.iter().map(|m| m.by.display_name.clone()).collect(),
        roles: gate.roles.iter().map(ToString::to_string).collect(),
        starter_may_approve: gate.starter_may_approve,
        approved_digest: state.approved_digest.clone(),
        rejected_reason: state.rejected.as_ref().map(|r| r.reason.clone()),
    }
}
