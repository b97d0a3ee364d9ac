//! Playbooks: ordered steps, each with checklist items, a gate and failure paths.
//!
//! A playbook is data (TOML, see `config/playbooks/ship-to-production.toml`); the rules
//! that make it *run* — no skipped step, no gate with an unchecked box — live in
//! [`crate::domain::release`]. [`Playbook::from_toml`] parses and validates a file and
//! reports every problem with the key it is at and what was expected.

use super::ids::{FailurePathId, ItemId, PlaybookName, RoleName, StepId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// The built-in Ship to Production playbook, shipped as the example file too.
pub const SHIP_TO_PRODUCTION_TOML: &str = include_str!("../../config/playbooks/ship-to-production.toml");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    pub name: PlaybookName,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Standing rules shown with every release. The engine enforces the ones it can
    /// (freeze, staging, same artifact); the rest are for people to read.
    #[serde(default)]
    pub constraints: Vec<String>,
    /// Who may start a release with this playbook; empty means anyone known to shipgate.
    #[serde(default)]
    pub start_roles: Vec<RoleName>,
    pub steps: Vec<Step>,
    /// What happens when a release rolls back, whichever step it rolls back from.
    pub rollback: RollbackProcedure,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub id: StepId,
    pub title: String,
    #[serde(default)]
    pub summary: String,
    /// Instructions that are not boxes to tick ("Run the full test suite ...").
    #[serde(default)]
    pub guidance: Vec<String>,
    #[serde(default)]
    pub items: Vec<Item>,
    /// Who may tick this step's items; empty means anyone known to shipgate.
    #[serde(default)]
    pub tick_roles: Vec<RoleName>,
    /// What the engine must have recorded before this step's gate can pass.
    #[serde(default)]
    pub requires: Evidence,
    /// With `requires = "watch"`: the least and most minutes of watching after the
    /// production deploy.
    #[serde(default)]
    pub watch_minutes: Option<WatchWindow>,
    pub gate: Gate,
    #[serde(default)]
    pub failure_paths: Vec<FailurePath>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub id: ItemId,
    pub text: String,
}

/// Evidence a gate waits for, recorded by CI or by people through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Evidence {
    /// Nothing beyond the checklist and the approvals.
    #[default]
    None,
    /// The latest test result recorded in this step has zero failures.
    TestsPassed,
    /// An artifact tagged with the release's git SHA and version has been recorded.
    Artifact,
    /// The release's artifact was deployed to staging and its health checks passed.
    StagingDeploy,
    /// The artifact on staging passed this step's smoke checks (recorded when the gate passes).
    SmokeTest,
    /// The artifact that passed staging and the smoke test is deployed to production and healthy.
    ProductionDeploy,
    /// The production deploy has been watched for at least `watch_minutes.min` minutes.
    Watch,
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Evidence::None => "none",
            Evidence::TestsPassed => "tests-passed",
            Evidence::Artifact => "artifact",
            Evidence::StagingDeploy => "staging-deploy",
            Evidence::SmokeTest => "smoke-test",
            Evidence::ProductionDeploy => "production-deploy",
            Evidence::Watch => "watch",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchWindow {
    pub min: u32,
    pub max: u32,
}

/// The rule that lets a release move past a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// The gate's wording from the playbook, shown on the card.
    #[serde(default)]
    pub text: String,
    /// Roles whose members may approve; empty means anyone known to shipgate.
    #[serde(default)]
    pub roles: Vec<RoleName>,
    /// Distinct approvers needed. Zero: the gate passes by itself once every item is
    /// ticked and the evidence is in.
    #[serde(default = "one")]
    pub approvals: u32,
    /// Whether the person who started the release may be one of the approvers.
    #[serde(default = "yes")]
    pub starter_may_approve: bool,
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}

/// A named way out of a step when something goes wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailurePath {
    pub id: FailurePathId,
    /// The button's label ("Real regression: fix and restart from Step 1").
    pub label: String,
    pub action: FailureAction,
    /// With `restart`: the step to restart from. With `rollback`: where the release
    /// resumes once the rollback is done; without it the release ends rolled back.
    #[serde(default)]
    pub to: Option<StepId>,
    /// A follow-up recorded when this path is taken ("document the flaky test").
    #[serde(default)]
    pub follow_up: Option<String>,
    /// Whether the person taking the path must say why.
    #[serde(default)]
    pub note_required: bool,
    /// Who may take this path; empty means anyone known to shipgate.
    #[serde(default)]
    pub roles: Vec<RoleName>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureAction {
    /// Go back to an earlier step (or this one) and redo everything from there.
    Restart,
    /// Stay in this step: clear its results and try again.
    Retry,
    /// Roll production back through the rollback procedure.
    Rollback,
    /// Stop the release.
    Abort,
}

impl fmt::Display for FailureAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureAction::Restart => "restart",
            FailureAction::Retry => "retry",
            FailureAction::Rollback => "rollback",
            FailureAction::Abort => "abort",
        })
    }
}

/// The rollback procedure: a checklist and a gate of its own, plus the evidence that
/// production runs the previous known-good artifact again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackProcedure {
    pub title: String,
    #[serde(default)]
    pub summary: String,
    pub items: Vec<Item>,
    #[serde(default)]
    pub tick_roles: Vec<RoleName>,
    pub gate: Gate,
    /// Recorded as a follow-up when the rollback completes ("enter Bug Triage").
    #[serde(default)]
    pub follow_up: Option<String>,
}

/// One problem in a playbook file: where it is and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlaybookProblem {
    /// Dotted path to the key, e.g. `steps[2].failure_paths[0].to`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for PlaybookProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Every problem found in one playbook, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct PlaybookErrors {
    pub problems: Vec<PlaybookProblem>,
}

impl Playbook {
    /// The built-in Ship to Production playbook.
    pub fn ship_to_production() -> Playbook {
        // The file is compiled in and covered by tests; failing here is a build defect.
        Playbook::from_toml(SHIP_TO_PRODUCTION_TOML).expect("built-in playbook is valid")
    }

    /// Parses a playbook file. Until full validation lands, reports TOML shape errors only.
    pub fn from_toml(text: &str) -> Result<Playbook, PlaybookErrors> {
        toml::from_str(text).map_err(|e| PlaybookErrors {
            problems: vec![PlaybookProblem { key: String::new(), message: e.to_string() }],
        })
    }

    pub fn step(&self, id: &StepId) -> Option<(usize, &Step)> {
        self.steps.iter().enumerate().find(|(_, s)| &s.id == id)
    }

    pub fn step_index(&self, id: &StepId) -> Option<usize> {
        self.step(id).map(|(i, _)| i)
    }

    /// The first step whose gate waits for `evidence`, if any.
    pub fn step_requiring(&self, evidence: Evidence) -> Option<usize> {
        self.steps.iter().position(|s| s.requires == evidence)
    }

    /// All role names the playbook mentions, for checking config against it.
    pub fn roles(&self) -> BTreeSet<RoleName> {
        let mut roles: BTreeSet<RoleName> = self.start_roles.iter().cloned().collect();
        for step in &self.steps {
            roles.extend(step.tick_roles.iter().cloned());
            roles.extend(step.gate.roles.iter().cloned());
            for path in &step.failure_paths {
                roles.extend(path.roles.iter().cloned());
            }
        }
        roles.extend(self.rollback.tick_roles.iter().cloned());
        roles.extend(self.rollback.gate.roles.iter().cloned());
        roles
    }
}
