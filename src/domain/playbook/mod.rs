//! Playbooks: ordered steps, each with checklist items, a gate and failure paths.
//!
//! A playbook is data (TOML, see `config/playbooks/ship-to-production.toml`); the rules
//! that make it *run* — no skipped step, no gate with an unchecked box — live in
//! [`crate::domain::release`]. [`Playbook::from_toml`] parses and validates a file and
//! reports every problem with the key it is at and what was expected.
//!
//! `schema` reads a file and checks its keys and types against the model, `validate`
//! checks the rules that make a well-formed playbook runnable, and `render` turns a
//! playbook into text for people to read.

mod render;
mod schema;
mod validate;

use super::ids::{FailurePathId, ItemId, PlaybookName, RoleName, StepId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// The step id that names the rollback procedure in commands (`tick rollback deploy-reverted`);
/// no playbook step may take it.
pub const ROLLBACK_STEP: &str = "rollback";

/// The built-in Ship to Production playbook, shipped as the example file too.
pub const SHIP_TO_PRODUCTION_TOML: &str = include_str!("../../../config/playbooks/ship-to-production.toml");
/// The built-in Bug Triage playbook: what shipgate opens after a rollback.
pub const BUG_TRIAGE_TOML: &str = include_str!("../../../config/playbooks/bug-triage.toml");
/// Its name, as releases and `[playbooks]` refer to it.
pub const BUG_TRIAGE: &str = "bug-triage";

/// The built-in Rollback Drill playbook: the rollback procedure run against staging (see
/// [`crate::domain::drill`]).
pub const ROLLBACK_DRILL_TOML: &str = include_str!("../../../config/playbooks/rollback-drill.toml");

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
    /// How long the step may go without activity before its owners are pinged and
    /// `/release list` marks it stalled; [`DEFAULT_STALL_MINUTES`] when absent. A watch step
    /// never stalls: waiting is its work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_after_minutes: Option<u32>,
    pub gate: Gate,
    #[serde(default)]
    pub failure_paths: Vec<FailurePath>,
}

/// A step's stall limit when the playbook sets none: two hours.
pub const DEFAULT_STALL_MINUTES: u32 = 120;

impl Step {
    /// How long the step may go without activity before it counts as stalled; `None` for
    /// a watch step, which is never stalled.
    pub fn stall_limit(&self) -> Option<chrono::Duration> {
        (self.requires != Evidence::Watch)
            .then(|| chrono::Duration::minutes(i64::from(self.stall_after_minutes.unwrap_or(DEFAULT_STALL_MINUTES))))
    }

    /// Who a stall ping is for: the gate's roles, or those who tick the step's items when
    /// the gate names none; empty means everyone working the release.
    pub fn owners(&self) -> &[RoleName] {
        if self.gate.roles.is_empty() {
            &self.tick_roles
        } else {
            &self.gate.roles
        }
    }
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

impl Evidence {
    /// Every kind of evidence, in the order a release gathers them.
    pub const ALL: [Evidence; 7] = [
        Evidence::None,
        Evidence::TestsPassed,
        Evidence::Artifact,
        Evidence::StagingDeploy,
        Evidence::SmokeTest,
        Evidence::ProductionDeploy,
        Evidence::Watch,
    ];

    /// The name used in playbook files (`requires = "staging-deploy"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Evidence::None => "none",
            Evidence::TestsPassed => "tests-passed",
            Evidence::Artifact => "artifact",
            Evidence::StagingDeploy => "staging-deploy",
            Evidence::SmokeTest => "smoke-test",
            Evidence::ProductionDeploy => "production-deploy",
            Evidence::Watch => "watch",
        }
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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

impl FailureAction {
    pub const ALL: [FailureAction; 4] =
        [FailureAction::Restart, FailureAction::Retry, FailureAction::Rollback, FailureAction::Abort];

    /// The name used in playbook files (`action = "restart"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureAction::Restart => "restart",
            FailureAction::Retry => "retry",
            FailureAction::Rollback => "rollback",
            FailureAction::Abort => "abort",
        }
    }
}

impl fmt::Display for FailureAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
    /// Dotted path to the key, e.g. `steps[2].failure_paths[0].to` (array indexes count
    /// from 0, so `steps[2]` is Step 3). A TOML syntax error has no key yet and is placed
    /// by position instead: `line 12, column 3`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for PlaybookProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Every problem found in one playbook: syntax, else shape (keys and types), else rules.
/// Within a pass they come in playbook order: top-level keys, then step by step, then
/// the rollback procedure.
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

    /// The built-in Bug Triage playbook (owner, reproduced on staging, root cause, fix
    /// merged, new release started).
    pub fn bug_triage() -> Playbook {
        // Compiled in and covered by tests, like Ship to Production.
        Playbook::from_toml(BUG_TRIAGE_TOML).expect("built-in playbook is valid")
    }

    /// The built-in Rollback Drill playbook.
    pub fn rollback_drill() -> Playbook {
        // Compiled in and covered by tests, like Ship to Production.
        Playbook::from_toml(ROLLBACK_DRILL_TOML).expect("built-in drill playbook is valid")
    }

    /// Parses and validates a playbook file, reporting every problem found.
    ///
    /// A syntax error stops everything (the rest of the file cannot be read reliably).
    /// Otherwise every key and type is checked against the model; only a file of the
    /// right shape goes on to the rules of [`Playbook::validate`], because those rules
    /// need the typed model and would only repeat shape problems in other words.
    pub fn from_toml(text: &str) -> Result<Playbook, PlaybookErrors> {
        let value = schema::parse(text)?;
        let playbook: Playbook = value.try_into().map_err(|e: toml::de::Error| PlaybookErrors {
            // The shape check mirrors the model, so serde failing here means the two
            // drifted apart; say what serde said rather than hide it.
            problems: vec![PlaybookProblem { key: "(playbook)".into(), message: e.message().trim().to_owned() }],
        })?;
        playbook.validate()?;
        Ok(playbook)
    }

    /// Checks the rules that make a playbook runnable: ids, gates, failure paths, the
    /// order of evidence, the rollback procedure and text lengths. [`Playbook::from_toml`]
    /// runs it; call it directly on a playbook built in code.
    pub fn validate(&self) -> Result<(), PlaybookErrors> {
        let problems = validate::problems(self);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(PlaybookErrors { problems })
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(steps: &[Step]) -> Vec<&str> {
        steps.iter().map(|s| s.id.as_str()).collect()
    }

    fn texts(items: &[Item]) -> Vec<&str> {
        items.iter().map(|i| i.text.as_str()).collect()
    }

    fn path<'a>(step: &'a Step, id: &str) -> &'a FailurePath {
        step.failure_paths
            .iter()
            .find(|p| p.id.as_str() == id)
            .unwrap_or_else(|| panic!("step {} has no failure path {id}", step.id))
    }

    fn assert_all_mention(texts: &[&str], fragments: &[&str]) {
        assert_eq!(texts.len(), fragments.len(), "{texts:?}");
        for (text, fragment) in texts.iter().zip(fragments) {
            assert!(text.contains(fragment), "{text:?} should mention {fragment:?}");
        }
    }

    #[test]
    fn the_built_in_playbook_parses_and_validates() {
        let playbook = Playbook::from_toml(SHIP_TO_PRODUCTION_TOML).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(playbook.validate(), Ok(()));
        assert_eq!(playbook, Playbook::ship_to_production());
        assert_eq!(playbook.name.as_str(), "ship-to-production");
    }

    #[test]
    fn the_bug_triage_playbook_tracks_a_rollback_from_an_owner_to_a_new_release() {
        let playbook = Playbook::from_toml(BUG_TRIAGE_TOML).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(playbook.validate(), Ok(()));
        assert_eq!(playbook.name.as_str(), BUG_TRIAGE);
        let items: Vec<&str> = playbook.steps.iter().flat_map(|s| s.items.iter().map(|i| i.id.as_str())).collect();
        assert_eq!(
            items,
            ["owner-assigned", "reproduced-on-staging", "root-cause-found", "fix-merged", "new-release-started"]
        );
        assert!(playbook.start_roles.is_empty(), "shipgate opens it, and anyone on the team may");
        assert!(
            playbook
                .steps
                .iter()
                .all(|s| s.requires == Evidence::None
                    && s.failure_paths.iter().all(|p| p.action != FailureAction::Rollback)),
            "a triage deploys nothing, so it never rolls back"
        );
    }

    #[test]
    fn the_built_in_playbook_has_the_missions_eight_steps_in_order() {
        let playbook = Playbook::ship_to_production();
        assert_eq!(
            ids(&playbook.steps),
            [
                "pre-flight",
                "test-suite",
                "build-artifact",
                "deploy-staging",
                "smoke-test",
                "deploy-production",
                "monitor",
                "rollback-criteria"
            ]
        );
        let titles: Vec<&str> = playbook.steps.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Pre-Flight Checks",
                "Run the Test Suite",
                "Build the Artifact",
                "Deploy to Staging",
                "Smoke Test on Staging",
                "Deploy to Production",
                "Post-Deploy Monitoring",
                "Rollback Criteria"
            ]
        );
        let requires: Vec<Evidence> = playbook.steps.iter().map(|s| s.requires).collect();
        assert_eq!(requires, Evidence::ALL[..].iter().copied().chain([Evidence::None]).collect::<Vec<_>>());
        assert_eq!(playbook.steps[6].watch_minutes, Some(WatchWindow { min: 15, max: 30 }), "first 15-30 minutes");
        // "Every step has a failure path — never skip a gate."
        for step in &playbook.steps {
            assert!(!step.failure_paths.is_empty(), "step {} has no failure path", step.id);
        }
    }

    #[test]
    fn the_built_in_checklists_are_the_missions() {
        let playbook = Playbook::ship_to_production();
        assert_eq!(
            texts(&playbook.steps[0].items),
            [
                "All PRs for this release are merged to the deploy branch.",
                "No open \"blocker\" or \"critical\" issues tagged for this release.",
                "CHANGELOG or release notes are updated.",
                "Environment variables and secrets required by new code are set in the target environment.",
                "Database migrations (if any) are reviewed and tested against a copy of production data.",
            ]
        );
        assert_eq!(
            texts(&playbook.steps[4].items),
            [
                "Core user flows (login, primary feature, payment if applicable).",
                "Any feature or fix included in this specific release.",
                "API health endpoints return 200.",
                "No new errors in the staging error tracker.",
            ]
        );
        // Step 8's criteria are ticked as "this does not hold", so their wording turns
        // around; the thresholds must be the mission's.
        assert_all_mention(
            &texts(&playbook.steps[7].items),
            &[
                "2x the pre-deploy baseline",
                "p99 latency is within 3x the pre-deploy baseline",
                "(login, checkout, data access)",
                "unhandled exception is firing at a rate above 1% of requests",
            ],
        );
        assert_all_mention(
            &texts(&playbook.rollback.items),
            &[
                "previous artifact (not a code revert — a deploy revert)",
                "Health checks pass on the rolled-back version",
                "what was deployed, what broke, what was rolled back",
                "Bug Triage Workflow",
            ],
        );
        assert!(playbook.rollback.follow_up.as_deref().is_some_and(|f| f.contains("Bug Triage Workflow")));
        assert!(playbook.rollback.gate.approvals >= 1);
    }

    #[test]
    fn the_built_in_failure_paths_are_the_missions() {
        let playbook = Playbook::ship_to_production();
        let steps = &playbook.steps;

        let regression = path(&steps[1], "real-regression");
        assert_eq!(
            (regression.action, regression.to.as_ref().map(StepId::as_str)),
            (FailureAction::Restart, Some("pre-flight"))
        );
        let flaky = path(&steps[1], "flaky-test");
        assert_eq!((flaky.action, flaky.to.as_ref()), (FailureAction::Retry, None));
        assert_eq!(flaky.follow_up.as_deref(), Some("Document the flaky test for follow-up."));

        let build = path(&steps[2], "build-failed");
        assert_eq!((build.action, build.to.as_ref().map(StepId::as_str)), (FailureAction::Restart, Some("test-suite")));

        let staging = path(&steps[3], "staging-deploy-failed");
        assert_eq!((staging.action, staging.to.as_ref()), (FailureAction::Retry, None));

        let smoke = path(&steps[4], "smoke-failed");
        assert_eq!(
            (smoke.action, smoke.to.as_ref().map(StepId::as_str)),
            (FailureAction::Restart, Some("deploy-staging"))
        );

        let production = path(&steps[5], "production-deploy-failed");
        assert_eq!(
            (production.action, production.to.as_ref().map(StepId::as_str)),
            (FailureAction::Rollback, Some("deploy-staging"))
        );
        assert!(production.follow_up.as_deref().is_some_and(|f| f.contains("production logs")));

        for step in &steps[6..] {
            let rollback = path(step, "rollback");
            assert_eq!((rollback.action, rollback.to.as_ref()), (FailureAction::Rollback, None), "step {}", step.id);
        }
        // Taking a path is a decision someone must explain.
        assert!(steps.iter().flat_map(|s| &s.failure_paths).all(|p| p.note_required));
    }

    #[test]
    fn the_built_in_gates_follow_the_mission() {
        let playbook = Playbook::ship_to_production();
        let gates: Vec<&Gate> = playbook.steps.iter().map(|s| &s.gate).collect();
        assert_eq!(gates[0].text, "If any box is unchecked, stop. Resolve the gap before proceeding.");
        assert_eq!(gates[1].text, "Never deploy with known test failures.");
        assert_eq!(
            gates[4].text,
            "All smoke checks must pass. If any fail, diagnose on staging — do not push the problem to production."
        );
        // Passing the smoke test sends the release to production: a second person decides.
        assert!(gates[4].approvals >= 1 && !gates[4].starter_may_approve);
    }

    #[test]
    fn the_built_in_constraints_are_the_missions() {
        let playbook = Playbook::ship_to_production();
        assert_eq!(
            playbook.constraints,
            [
                "Never deploy on a Friday afternoon or before a holiday unless it is an emergency hotfix.",
                "Never skip staging. \"It worked locally\" is not a deployment gate.",
                "Never deploy an artifact that was not the exact one tested on staging.",
                "Keep the rollback path tested — run a rollback drill at least once per quarter.",
            ]
        );
        assert!(playbook.description.contains("never skip a gate"));
    }

    #[test]
    fn enum_names_are_the_file_format() {
        for evidence in Evidence::ALL {
            let parsed: Evidence =
                serde_json::from_value(serde_json::json!(evidence.as_str())).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(parsed, evidence);
            assert_eq!(evidence.to_string(), evidence.as_str());
        }
        for action in FailureAction::ALL {
            let parsed: FailureAction =
                serde_json::from_value(serde_json::json!(action.as_str())).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(parsed, action);
            assert_eq!(action.to_string(), action.as_str());
        }
    }

    #[test]
    fn problems_print_one_per_line_with_their_key() {
        let errors = Playbook::from_toml("name = \"Bad Name\"\n").expect_err("incomplete file");
        assert_eq!(
            errors.to_string(),
            "title: missing required key; expected a string\n\
             steps: missing required key; expected an array of tables ([[steps]])\n\
             rollback: missing required key; expected a table ([rollback])"
        );
    }
}
