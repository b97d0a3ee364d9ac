//! The rules that make a well-formed playbook runnable.
//!
//! Each rule guards something the engine in [`crate::domain::release`] relies on or a
//! limit of the chat platforms the playbook is shown on. Every broken rule is reported,
//! not just the first, so a team can fix a file in one pass.

use super::schema::join;
use super::ROLLBACK_STEP;
use super::{
    Evidence, FailureAction, FailurePath, Gate, Item, Playbook, PlaybookProblem, RollbackProcedure, Step,
    DEFAULT_STALL_MINUTES,
};
use crate::domain::RoleName;

/// Longest name or id: ids end up in chat button ids and URLs, which have length limits.
const MAX_ID_CHARS: usize = 64;
/// Discord's limit on a button label.
const MAX_LABEL_CHARS: usize = 80;
/// Keeps a checklist item to one readable line on a chat card.
const MAX_ITEM_CHARS: usize = 300;
/// Titles head chat cards and embeds.
const MAX_TITLE_CHARS: usize = 100;
/// More approvers than this is a meeting, not a gate.
const MAX_APPROVALS: u32 = 10;
/// The longest watch after a production deploy: a day.
const MAX_WATCH_MINUTES: u32 = 1440;
/// The longest stall limit: a week, as long as a release thread stays open in chat.
const MAX_STALL_MINUTES: u32 = 10080;

/// Every rule `playbook` breaks, in playbook order.
pub(super) fn problems(playbook: &Playbook) -> Vec<PlaybookProblem> {
    let mut check = Checker { playbook, out: Vec::new() };
    check.playbook();
    check.out
}

struct Checker<'a> {
    playbook: &'a Playbook,
    out: Vec<PlaybookProblem>,
}

impl Checker<'_> {
    fn report(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.out.push(PlaybookProblem { key: key.into(), message: message.into() });
    }

    fn playbook(&mut self) {
        let p = self.playbook;
        if !is_slug(p.name.as_str()) {
            self.report("name", not_a_slug("playbook name", p.name.as_str(), "ship-to-production"));
        }
        self.title("title", &p.title);
        self.roles("start_roles", &p.start_roles);
        if p.steps.is_empty() {
            self.report("steps", "a playbook needs at least one step; add a [[steps]] section");
        }
        for index in 0..p.steps.len() {
            self.step(index);
        }
        self.rollback(&p.rollback);
    }

    fn step(&mut self, index: usize) {
        let step = &self.playbook.steps[index];
        let path = format!("steps[{index}]");
        self.step_id(index, step);
        self.title(&join(&path, "title"), &step.title);
        self.items(&path, &step.items);
        self.roles(&join(&path, "tick_roles"), &step.tick_roles);
        self.evidence(index, step);
        self.watch(index, step);
        self.stall_limit(index, step);
        self.gate(&join(&path, "gate"), &step.gate, false);
        if step.failure_paths.is_empty() {
            // The playbook's own rule: every step has a failure path, never skip a gate.
            self.report(
                join(&path, "failure_paths"),
                "every step needs at least one failure path (restart, retry, rollback or abort), \
                 so a step that goes wrong has a way out other than skipping its gate",
            );
        }
        for (j, failure_path) in step.failure_paths.iter().enumerate() {
            let key = format!("{path}.failure_paths[{j}]");
            if let Some(first) = step.failure_paths[..j].iter().position(|p| p.id == failure_path.id) {
                self.report(
                    join(&key, "id"),
                    format!(
                        "failure path id {:?} is already used by {path}.failure_paths[{first}]; ids must be unique within a step",
                        failure_path.id.as_str()
                    ),
                );
            } else if !is_slug(failure_path.id.as_str()) {
                self.report(join(&key, "id"), not_a_slug("failure path id", failure_path.id.as_str(), "flaky-test"));
            }
            self.failure_path(index, &key, failure_path);
        }
    }

    fn step_id(&mut self, index: usize, step: &Step) {
        let key = format!("steps[{index}].id");
        let id = step.id.as_str();
        if let Some(first) = self.playbook.steps[..index].iter().position(|s| s.id == step.id) {
            self.report(key, format!("step id {id:?} is already used by steps[{first}]; step ids must be unique"));
        } else if id == ROLLBACK_STEP {
            self.report(key, format!("step id {id:?} is reserved for the rollback procedure; choose another id"));
        } else if !is_slug(id) {
            self.report(key, not_a_slug("step id", id, "pre-flight"));
        }
    }

    fn title(&mut self, key: &str, title: &str) {
        let chars = title.chars().count();
        if title.trim().is_empty() {
            self.report(key, "a title must not be empty");
        } else if chars > MAX_TITLE_CHARS {
            self.report(
                key,
                format!("title is {chars} characters; at most {MAX_TITLE_CHARS} fit a chat card's heading"),
            );
        }
    }

    /// Checklist items of a step or of the rollback procedure at `path`.
    fn items(&mut self, path: &str, items: &[Item]) {
        for (j, item) in items.iter().enumerate() {
            let key = format!("{path}.items[{j}]");
            let id = item.id.as_str();
            if let Some(first) = items[..j].iter().position(|i| i.id == item.id) {
                self.report(
                    join(&key, "id"),
                    format!("item id {id:?} is already used by {path}.items[{first}]; item ids must be unique within a step"),
                );
            } else if !is_slug(id) {
                self.report(join(&key, "id"), not_a_slug("item id", id, "prs-merged"));
            }
            let chars = item.text.chars().count();
            if item.text.trim().is_empty() {
                self.report(join(&key, "text"), "an item's text must not be empty: it is what people tick");
            } else if chars > MAX_ITEM_CHARS {
                self.report(join(&key, "text"), format!("item text is {chars} characters; at most {MAX_ITEM_CHARS}"));
            }
        }
    }

    fn roles(&mut self, key: &str, roles: &[RoleName]) {
        for (i, role) in roles.iter().enumerate() {
            if !is_slug(role.as_str()) {
                self.report(format!("{key}[{i}]"), not_a_slug("role", role.as_str(), "release-manager"));
            }
        }
    }

    /// Evidence is gathered in one order (tests, artifact, staging, smoke test,
    /// production, watch) and each kind depends on the ones before it, so a step may
    /// only wait for evidence the steps before it made possible.
    fn evidence(&mut self, index: usize, step: &Step) {
        let into_production =
            self.playbook.steps.get(index + 1).is_some_and(|next| next.requires == Evidence::ProductionDeploy);
        if into_production && step.gate.approvals == 0 {
            // An automatic gate would wait without a word while production is held or frozen.
            self.report(
                format!("steps[{index}].gate.approvals"),
                "the gate into the production step needs at least one approval: someone takes the release to production on purpose",
            );
        }
        let evidence = step.requires;
        if evidence == Evidence::None {
            return;
        }
        let key = format!("steps[{index}].requires");
        let earlier = &self.playbook.steps[..index];
        if let Some(first) = earlier.iter().position(|s| s.requires == evidence) {
            self.report(
                key,
                format!(
                    "\"{evidence}\" is already required by steps[{first}] ({:?}); at most one step may require each kind of evidence",
                    earlier[first].id.as_str()
                ),
            );
            return;
        }
        if let Some(later) = earlier.iter().position(|s| rank(s.requires) > rank(evidence)) {
            self.report(
                key,
                format!(
                    "\"{evidence}\" must come before \"{}\" (steps[{later}]); evidence is gathered in the order {}",
                    earlier[later].requires,
                    evidence_order()
                ),
            );
            return;
        }
        let (needed, why) = prerequisites(evidence);
        let missing: Vec<String> = needed
            .iter()
            .filter(|needed| !self.playbook.steps.iter().any(|s| s.requires == **needed))
            .map(|needed| format!("\"{needed}\""))
            .collect();
        if !missing.is_empty() {
            let steps = if missing.len() == 1 { "a step" } else { "steps" };
            self.report(
                key,
                format!("\"{evidence}\" needs {steps} before it with requires = {}; {why}", missing.join(" and ")),
            );
        }
    }

    fn watch(&mut self, index: usize, step: &Step) {
        let key = format!("steps[{index}].watch_minutes");
        match (step.requires, step.watch_minutes) {
            (Evidence::Watch, None) => self.report(
                key,
                format!(
                    "requires = \"watch\" needs watch_minutes = {{ min = 15, max = 30 }}: the least and most minutes to watch, 1 to {MAX_WATCH_MINUTES}"
                ),
            ),
            (Evidence::Watch, Some(window)) => {
                if window.min < 1 {
                    self.report(join(&key, "min"), "must be at least 1 minute: a watch of no time watches nothing");
                }
                if window.max > MAX_WATCH_MINUTES {
                    self.report(join(&key, "max"), format!("{} is more than {MAX_WATCH_MINUTES} minutes (a day)", window.max));
                }
                if window.min > window.max {
                    self.report(join(&key, "min"), format!("min ({}) must not exceed max ({})", window.min, window.max));
                }
            }
            (other, Some(_)) => self.report(
                key,
                format!("only a step with requires = \"watch\" sets watch_minutes; this step requires \"{other}\""),
            ),
            (_, None) => {}
        }
    }

    fn stall_limit(&mut self, index: usize, step: &Step) {
        let key = format!("steps[{index}].stall_after_minutes");
        match (step.requires, step.stall_after_minutes) {
            (_, None) => {}
            // Said rather than ignored: someone who sets it expects pings that never come.
            (Evidence::Watch, Some(_)) => self.report(
                key,
                "a watch step never stalls (waiting out the watch is its work); remove stall_after_minutes",
            ),
            (_, Some(minutes)) if !(1..=MAX_STALL_MINUTES).contains(&minutes) => self.report(
                key,
                format!("must be 1 to {MAX_STALL_MINUTES} minutes (a week); the default is {DEFAULT_STALL_MINUTES}"),
            ),
            (_, Some(_)) => {}
        }
    }

    /// A step's gate, or with `rollback` the rollback procedure's, which must be approved:
    /// it is the only thing between a broken production and the release moving on.
    fn gate(&mut self, path: &str, gate: &Gate, rollback: bool) {
        if gate.approvals > MAX_APPROVALS {
            self.report(
                join(path, "approvals"),
                format!("{} approvals is more than the {MAX_APPROVALS} allowed", gate.approvals),
            );
        }
        if rollback && gate.approvals == 0 {
            self.report(
                join(path, "approvals"),
                "the rollback procedure's gate needs at least 1 approval: someone confirms production runs the \
                 previous artifact again",
            );
        } else if gate.approvals == 0 {
            // Roles and starter_may_approve only restrict approvers; with approvals = 0
            // there are none, so setting them means the author expected an approval.
            if !gate.roles.is_empty() {
                self.report(
                    join(path, "roles"),
                    "a gate with approvals = 0 passes by itself, so nobody approves it and roles has no effect; \
                     remove roles or set approvals to 1 or more",
                );
            }
            if !gate.starter_may_approve {
                self.report(
                    join(path, "starter_may_approve"),
                    "a gate with approvals = 0 passes by itself, so nobody approves it and starter_may_approve = false \
                     has no effect; remove it or set approvals to 1 or more",
                );
            }
        }
        self.roles(&join(path, "roles"), &gate.roles);
    }

    fn failure_path(&mut self, index: usize, key: &str, path: &FailurePath) {
        let label = path.label.chars().count();
        if path.label.trim().is_empty() {
            self.report(join(key, "label"), "a label must not be empty: it is the button people press");
        } else if label > MAX_LABEL_CHARS {
            self.report(
                join(key, "label"),
                format!("label is {label} characters; chat buttons show at most {MAX_LABEL_CHARS}"),
            );
        }
        let steps = &self.playbook.steps;
        let target = path.to.as_ref().map(|to| (to.as_str(), self.playbook.step_index(to)));
        let to_key = join(key, "to");
        match path.action {
            FailureAction::Restart => {
                let allowed = step_list(&steps[..=index]);
                match target {
                    None => self.report(
                        to_key,
                        format!("action \"restart\" needs `to`: the step to restart from, this one or an earlier one ({allowed})"),
                    ),
                    Some((to, None)) => {
                        self.report(to_key, format!("no step {to:?}; a restart goes back to this step or an earlier one ({allowed})"))
                    }
                    Some((to, Some(at))) if at > index => self.report(
                        to_key,
                        format!("step {to:?} comes after this one; a restart goes back to this step or an earlier one ({allowed})"),
                    ),
                    Some(_) => {}
                }
            }
            FailureAction::Retry | FailureAction::Abort if path.to.is_some() => {
                let what = if path.action == FailureAction::Retry {
                    "a retry stays in this step"
                } else {
                    "an abort ends the release"
                };
                self.report(to_key, format!("action \"{}\" takes no `to`: {what}", path.action));
            }
            FailureAction::Retry | FailureAction::Abort => {}
            FailureAction::Rollback => match self.playbook.step_requiring(Evidence::ProductionDeploy) {
                None => self.report(
                    join(key, "action"),
                    "no step requires \"production-deploy\", so nothing ever reaches production to roll back; \
                     use restart, retry or abort",
                ),
                Some(production) if index < production => self.report(
                    join(key, "action"),
                    format!(
                        "this step comes before the production deploy (steps[{production}], {:?}) and nothing can be \
                         rolled back before production; use restart, retry or abort",
                        steps[production].id.as_str()
                    ),
                ),
                Some(production) => {
                    let allowed = step_list(&steps[..production]);
                    match target {
                        Some((to, None)) => self.report(
                            to_key,
                            format!("no step {to:?}; after a rollback the release resumes at a step before the production deploy ({allowed})"),
                        ),
                        Some((to, Some(at))) if at >= production => self.report(
                            to_key,
                            format!(
                                "step {to:?} is not before the production deploy ({:?}); after a rollback the release \
                                 resumes at a step before it ({allowed}), or leave out `to` to end the release",
                                steps[production].id.as_str()
                            ),
                        ),
                        _ => {}
                    }
                }
            },
        }
        self.roles(&join(key, "roles"), &path.roles);
    }

    fn rollback(&mut self, rollback: &RollbackProcedure) {
        self.title("rollback.title", &rollback.title);
        if rollback.items.is_empty() {
            self.report(
                "rollback.items",
                "the rollback procedure needs at least one item, e.g. { id = \"deploy-reverted\", text = \"Reverted to the previous artifact.\" }",
            );
        }
        self.items("rollback", &rollback.items);
        self.roles("rollback.tick_roles", &rollback.tick_roles);
        self.gate("rollback.gate", &rollback.gate, true);
    }
}

/// The message for a name or id that is not a slug: `what` is "step id", `example` a good one.
fn not_a_slug(what: &str, value: &str, example: &str) -> String {
    format!("{what} {value:?} must be 1 to {MAX_ID_CHARS} characters of a-z, 0-9 and -, e.g. {example:?}")
}

/// Names and ids are lower-case slugs: typed in chat commands, used in button ids.
fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.chars().count() <= MAX_ID_CHARS
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Position of `evidence` in the order a release gathers it.
fn rank(evidence: Evidence) -> usize {
    // `ALL` lists every variant, so the fallback is never taken.
    Evidence::ALL.iter().position(|e| *e == evidence).unwrap_or(0)
}

fn evidence_order() -> String {
    Evidence::ALL[1..].iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", ")
}

/// The evidence the engine must have before it can accept `evidence` (see
/// `evidence_missing` in the release module), and why, for the message.
fn prerequisites(evidence: Evidence) -> (&'static [Evidence], &'static str) {
    match evidence {
        Evidence::StagingDeploy => (&[Evidence::Artifact], "staging deploys the recorded artifact"),
        Evidence::SmokeTest => (&[Evidence::StagingDeploy], "the smoke test runs against the staging deploy"),
        Evidence::ProductionDeploy => (
            &[Evidence::Artifact, Evidence::StagingDeploy, Evidence::SmokeTest],
            "never skip staging: production gets the artifact that was deployed to staging and smoke-tested there",
        ),
        Evidence::Watch => (&[Evidence::ProductionDeploy], "there is nothing to watch before a production deploy"),
        Evidence::None | Evidence::TestsPassed | Evidence::Artifact => (&[], ""),
    }
}

fn step_list(steps: &[Step]) -> String {
    if steps.is_empty() {
        return "none".into();
    }
    steps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::playbook::{PlaybookErrors, WatchWindow};

    /// The built-in playbook after `edit`, written out as a file and read back: the
    /// problems `from_toml` reports for it. Starting from the built-in (which is valid)
    /// means each test's edit is the only thing wrong.
    fn problems_after(edit: impl FnOnce(&mut Playbook)) -> Vec<PlaybookProblem> {
        let mut playbook = Playbook::ship_to_production();
        edit(&mut playbook);
        let text = toml::to_string(&playbook).expect("a playbook serializes to TOML");
        match Playbook::from_toml(&text) {
            Ok(_) => panic!("expected problems, the file was accepted:\n{text}"),
            Err(e) => e.problems,
        }
    }

    /// Asserts the edit is accepted: the boundary of a rule, on the allowed side.
    fn accepted(edit: impl FnOnce(&mut Playbook)) {
        let mut playbook = Playbook::ship_to_production();
        edit(&mut playbook);
        let text = toml::to_string(&playbook).expect("a playbook serializes to TOML");
        if let Err(e) = Playbook::from_toml(&text) {
            panic!("expected the file to be accepted, got:\n{e}");
        }
    }

    /// The one problem the edit causes, which must be at `key` and mention `fragment`.
    fn only_problem(key: &str, fragment: &str, edit: impl FnOnce(&mut Playbook)) {
        let problems = problems_after(edit);
        assert_eq!(problems.len(), 1, "expected one problem, got:\n{}", PlaybookErrors { problems: problems.clone() });
        assert_problem(&problems, key, fragment);
    }

    fn assert_problem(problems: &[PlaybookProblem], key: &str, fragment: &str) {
        assert!(
            problems.iter().any(|p| p.key == key && p.message.contains(fragment)),
            "no problem at {key} mentioning {fragment:?}; got:\n{}",
            PlaybookErrors { problems: problems.to_vec() }
        );
    }

    fn text_of(chars: usize) -> String {
        "x".repeat(chars)
    }

    #[test]
    fn the_built_in_playbook_breaks_no_rule() {
        assert_eq!(problems(&Playbook::ship_to_production()), []);
    }

    #[test]
    fn the_name_is_a_short_slug() {
        only_problem("name", "playbook name \"Ship It\" must be 1 to 64 characters of a-z, 0-9 and -", |p| {
            p.name = "Ship It".into()
        });
        only_problem("name", "must be 1 to 64", |p| p.name = text_of(65).as_str().into());
        only_problem("name", "must be 1 to 64", |p| p.name = "".into());
        accepted(|p| p.name = text_of(64).as_str().into());
    }

    #[test]
    fn titles_are_present_and_fit_a_heading() {
        only_problem("title", "title is 101 characters; at most 100", |p| p.title = text_of(101));
        only_problem("steps[3].title", "at most 100", |p| p.steps[3].title = text_of(101));
        only_problem("rollback.title", "at most 100", |p| p.rollback.title = text_of(101));
        only_problem("steps[0].title", "must not be empty", |p| p.steps[0].title = " ".into());
        accepted(|p| p.steps[3].title = text_of(100));
    }

    #[test]
    fn someone_approves_taking_a_release_to_production() {
        only_problem("steps[4].gate.approvals", "gate into the production step needs at least one approval", |p| {
            p.steps[4].gate.approvals = 0;
            p.steps[4].gate.roles.clear();
            p.steps[4].gate.starter_may_approve = true;
        });
    }

    #[test]
    fn every_step_has_a_failure_path() {
        only_problem("steps[6].failure_paths", "at least one failure path", |p| p.steps[6].failure_paths.clear());
    }

    #[test]
    fn a_playbook_has_at_least_one_step() {
        only_problem("steps", "at least one step", |p| p.steps.clear());
    }

    #[test]
    fn step_ids_are_unique() {
        only_problem("steps[7].id", "step id \"monitor\" is already used by steps[6]", |p| {
            p.steps[7].id = "monitor".into()
        });
    }

    #[test]
    fn step_ids_are_slugs() {
        only_problem("steps[7].id", "step id \"Rollback Criteria\" must be 1 to 64 characters", |p| {
            p.steps[7].id = "Rollback Criteria".into()
        });
    }

    #[test]
    fn the_rollback_step_id_is_reserved() {
        only_problem("steps[7].id", "reserved for the rollback procedure", |p| p.steps[7].id = ROLLBACK_STEP.into());
    }

    #[test]
    fn item_ids_are_unique_within_their_step_and_the_rollback_procedure() {
        only_problem("steps[0].items[2].id", "item id \"prs-merged\" is already used by steps[0].items[0]", |p| {
            p.steps[0].items[2].id = "prs-merged".into()
        });
        only_problem("rollback.items[1].id", "already used by rollback.items[0]", |p| {
            p.rollback.items[1].id = "deploy-reverted".into()
        });
        // Another step may reuse an id: ticks are addressed by step and item together.
        accepted(|p| p.steps[4].items[0].id = "prs-merged".into());
    }

    #[test]
    fn item_ids_are_slugs() {
        only_problem("steps[4].items[1].id", "item id \"release_changes\" must be 1 to 64", |p| {
            p.steps[4].items[1].id = "release_changes".into()
        });
    }

    #[test]
    fn failure_path_ids_are_unique_within_a_step() {
        only_problem("steps[1].failure_paths[1].id", "already used by steps[1].failure_paths[0]", |p| {
            p.steps[1].failure_paths[1].id = "real-regression".into()
        });
        // Steps 7 and 8 both call their path `rollback`.
        accepted(|_| {});
    }

    #[test]
    fn failure_path_ids_are_slugs() {
        only_problem("steps[1].failure_paths[1].id", "failure path id \"Flaky!\" must be 1 to 64", |p| {
            p.steps[1].failure_paths[1].id = "Flaky!".into()
        });
    }

    #[test]
    fn a_restart_names_this_step_or_an_earlier_one() {
        only_problem(
            "steps[1].failure_paths[0].to",
            "action \"restart\" needs `to`: the step to restart from, this one or an earlier one (pre-flight, test-suite)",
            |p| p.steps[1].failure_paths[0].to = None,
        );
        only_problem("steps[1].failure_paths[0].to", "no step \"preflight\"", |p| {
            p.steps[1].failure_paths[0].to = Some("preflight".into())
        });
        only_problem("steps[1].failure_paths[0].to", "step \"build-artifact\" comes after this one", |p| {
            p.steps[1].failure_paths[0].to = Some("build-artifact".into())
        });
        accepted(|p| p.steps[1].failure_paths[0].to = Some("test-suite".into()));
    }

    #[test]
    fn retry_and_abort_take_no_target() {
        only_problem("steps[1].failure_paths[1].to", "action \"retry\" takes no `to`", |p| {
            p.steps[1].failure_paths[1].to = Some("pre-flight".into())
        });
        only_problem("steps[0].failure_paths[0].to", "action \"abort\" takes no `to`", |p| {
            p.steps[0].failure_paths[0].to = Some("pre-flight".into())
        });
    }

    #[test]
    fn nothing_rolls_back_before_production() {
        only_problem("steps[4].failure_paths[0].action", "nothing can be rolled back before production", |p| {
            p.steps[4].failure_paths[0].action = FailureAction::Rollback
        });
        let problems = problems_after(|p| {
            p.steps.truncate(5);
            p.steps[4].failure_paths[0].action = FailureAction::Rollback;
        });
        assert_problem(&problems, "steps[4].failure_paths[0].action", "no step requires \"production-deploy\"");
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn a_rollback_resumes_before_the_production_step() {
        only_problem(
            "steps[5].failure_paths[0].to",
            "step \"deploy-production\" is not before the production deploy",
            |p| p.steps[5].failure_paths[0].to = Some("deploy-production".into()),
        );
        only_problem("steps[6].failure_paths[0].to", "step \"monitor\" is not before the production deploy", |p| {
            p.steps[6].failure_paths[0].to = Some("monitor".into())
        });
        only_problem("steps[5].failure_paths[0].to", "no step \"staging\"", |p| {
            p.steps[5].failure_paths[0].to = Some("staging".into())
        });
        accepted(|p| p.steps[7].failure_paths[0].to = Some("pre-flight".into()));
    }

    #[test]
    fn a_watch_step_sets_a_window_of_1_to_1440_minutes() {
        only_problem("steps[6].watch_minutes", "requires = \"watch\" needs watch_minutes", |p| {
            p.steps[6].watch_minutes = None
        });
        only_problem("steps[6].watch_minutes.min", "at least 1 minute", |p| {
            p.steps[6].watch_minutes = Some(WatchWindow { min: 0, max: 30 })
        });
        only_problem("steps[6].watch_minutes.max", "1441 is more than 1440 minutes", |p| {
            p.steps[6].watch_minutes = Some(WatchWindow { min: 15, max: 1441 })
        });
        only_problem("steps[6].watch_minutes.min", "min (40) must not exceed max (30)", |p| {
            p.steps[6].watch_minutes = Some(WatchWindow { min: 40, max: 30 })
        });
        accepted(|p| p.steps[6].watch_minutes = Some(WatchWindow { min: 1, max: 1440 }));
        accepted(|p| p.steps[6].watch_minutes = Some(WatchWindow { min: 20, max: 20 }));
    }

    #[test]
    fn a_stall_limit_is_1_minute_to_a_week_and_not_on_a_watch_step() {
        only_problem("steps[1].stall_after_minutes", "must be 1 to 10080 minutes", |p| {
            p.steps[1].stall_after_minutes = Some(0)
        });
        only_problem("steps[1].stall_after_minutes", "must be 1 to 10080 minutes", |p| {
            p.steps[1].stall_after_minutes = Some(10081)
        });
        only_problem("steps[6].stall_after_minutes", "a watch step never stalls", |p| {
            p.steps[6].stall_after_minutes = Some(60)
        });
        accepted(|p| p.steps[1].stall_after_minutes = Some(1));
        accepted(|p| p.steps[1].stall_after_minutes = Some(10080));
    }

    #[test]
    fn only_a_watch_step_sets_watch_minutes() {
        only_problem("steps[2].watch_minutes", "only a step with requires = \"watch\" sets watch_minutes", |p| {
            p.steps[2].watch_minutes = Some(WatchWindow { min: 15, max: 30 })
        });
    }

    #[test]
    fn each_kind_of_evidence_is_required_by_one_step_at_most() {
        only_problem("steps[1].requires", "\"tests-passed\" is already required by steps[0] (\"pre-flight\")", |p| {
            p.steps[0].requires = Evidence::TestsPassed
        });
        // `none` is not evidence: any number of steps wait for nothing.
        accepted(|p| p.steps[1].requires = Evidence::None);
    }

    #[test]
    fn evidence_comes_in_release_order() {
        only_problem("steps[2].requires", "\"tests-passed\" must come before \"artifact\" (steps[1])", |p| {
            p.steps[1].requires = Evidence::Artifact;
            p.steps[2].requires = Evidence::TestsPassed;
        });
    }

    #[test]
    fn production_never_skips_staging() {
        for (index, missing) in [(2, "artifact"), (3, "staging-deploy"), (4, "smoke-test")] {
            let problems = problems_after(|p| p.steps[index].requires = Evidence::None);
            assert_problem(
                &problems,
                "steps[5].requires",
                &format!(
                    "\"production-deploy\" needs a step before it with requires = \"{missing}\"; never skip staging"
                ),
            );
        }
        let problems = problems_after(|p| {
            p.steps[3].requires = Evidence::None;
            p.steps[4].requires = Evidence::None;
        });
        assert_problem(
            &problems,
            "steps[5].requires",
            "needs steps before it with requires = \"staging-deploy\" and \"smoke-test\"; never skip staging",
        );
    }

    #[test]
    fn each_kind_of_evidence_needs_the_ones_it_builds_on() {
        let problems = problems_after(|p| p.steps[2].requires = Evidence::None);
        assert_problem(
            &problems,
            "steps[3].requires",
            "\"staging-deploy\" needs a step before it with requires = \"artifact\"",
        );
        let problems = problems_after(|p| p.steps[3].requires = Evidence::None);
        assert_problem(
            &problems,
            "steps[4].requires",
            "\"smoke-test\" needs a step before it with requires = \"staging-deploy\"",
        );
        let problems = problems_after(|p| {
            p.steps[5].requires = Evidence::None;
            for step in &mut p.steps {
                for path in &mut step.failure_paths {
                    if path.action == FailureAction::Rollback {
                        path.action = FailureAction::Abort;
                        path.to = None;
                    }
                }
            }
        });
        assert_problem(&problems, "steps[6].requires", "nothing to watch before a production deploy");
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn a_gate_needs_at_most_10_approvals() {
        only_problem("steps[0].gate.approvals", "11 approvals is more than the 10 allowed", |p| {
            p.steps[0].gate.approvals = 11
        });
        only_problem("rollback.gate.approvals", "more than the 10 allowed", |p| p.rollback.gate.approvals = 11);
        accepted(|p| p.steps[0].gate.approvals = 10);
    }

    #[test]
    fn a_gate_nobody_approves_names_no_approvers() {
        only_problem("steps[1].gate.roles", "approvals = 0 passes by itself, so nobody approves it", |p| {
            p.steps[1].gate.roles = vec!["engineer".into()]
        });
        only_problem("steps[1].gate.starter_may_approve", "nobody approves it", |p| {
            p.steps[1].gate.starter_may_approve = false
        });
        // With approvals, keeping the starter out and letting anyone else approve is fine.
        accepted(|p| {
            p.steps[4].gate.roles.clear();
            p.steps[4].gate.starter_may_approve = false;
        });
    }

    #[test]
    fn role_names_are_slugs() {
        let problems = problems_after(|p| {
            p.start_roles[1] = "Engineer".into();
            p.steps[0].tick_roles[0] = "release manager".into();
            p.steps[0].gate.roles[1] = "eng!".into();
            p.steps[0].failure_paths[0].roles = vec!["SRE".into()];
            p.rollback.tick_roles[0] = "on_call".into();
            p.rollback.gate.roles[0] = "".into();
        });
        for key in [
            "start_roles[1]",
            "steps[0].tick_roles[0]",
            "steps[0].gate.roles[1]",
            "steps[0].failure_paths[0].roles[0]",
            "rollback.tick_roles[0]",
            "rollback.gate.roles[0]",
        ] {
            assert_problem(&problems, key, "must be 1 to 64 characters of a-z, 0-9 and -, e.g. \"release-manager\"");
        }
        assert_eq!(problems.len(), 6, "{problems:?}");
    }

    #[test]
    fn labels_fit_a_chat_button() {
        only_problem("steps[1].failure_paths[1].label", "label is 81 characters; chat buttons show at most 80", |p| {
            p.steps[1].failure_paths[1].label = text_of(81)
        });
        only_problem("steps[1].failure_paths[1].label", "must not be empty", |p| {
            p.steps[1].failure_paths[1].label = String::new()
        });
        // Characters, not bytes: 80 em dashes are 240 bytes and still fit.
        accepted(|p| p.steps[1].failure_paths[1].label = "—".repeat(80));
    }

    #[test]
    fn item_texts_are_at_most_300_characters() {
        only_problem("steps[0].items[4].text", "item text is 301 characters; at most 300", |p| {
            p.steps[0].items[4].text = text_of(301)
        });
        only_problem("rollback.items[0].text", "at most 300", |p| p.rollback.items[0].text = text_of(301));
        only_problem("steps[0].items[4].text", "must not be empty", |p| p.steps[0].items[4].text = String::new());
        accepted(|p| p.steps[0].items[4].text = text_of(300));
    }

    #[test]
    fn the_rollback_procedure_has_items_and_an_approval() {
        only_problem("rollback.items", "the rollback procedure needs at least one item", |p| p.rollback.items.clear());
        // Only the approval is asked for: "remove roles" would be the wrong advice here.
        only_problem("rollback.gate.approvals", "needs at least 1 approval", |p| p.rollback.gate.approvals = 0);
    }

    #[test]
    fn every_broken_rule_in_a_file_is_reported_in_playbook_order() {
        let problems = problems_after(|p| {
            p.name = "Ship".into();
            p.steps[0].items[1].id = "prs-merged".into();
            p.steps[1].failure_paths[0].to = Some("monitor".into());
            p.steps[2].watch_minutes = Some(WatchWindow { min: 1, max: 2 });
            p.steps[3].gate.approvals = 0;
            p.steps[4].failure_paths[0].action = FailureAction::Abort;
            p.steps[6].watch_minutes = Some(WatchWindow { min: 0, max: 2000 });
            p.steps[7].id = "rollback".into();
            p.rollback.items.clear();
        });
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "name",
                "steps[0].items[1].id",
                "steps[1].failure_paths[0].to",
                "steps[2].watch_minutes",
                "steps[4].failure_paths[0].to",
                "steps[6].watch_minutes.min",
                "steps[6].watch_minutes.max",
                "steps[7].id",
                "rollback.items",
            ],
            "{}",
            PlaybookErrors { problems: problems.clone() }
        );
    }
}
