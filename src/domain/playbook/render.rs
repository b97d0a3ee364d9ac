//! A playbook as plain text, for `shipgate playbook show` and anywhere people read it
//! whole. The layout is part of the interface (a snapshot test pins it): change it on
//! purpose, not by accident.

use super::ROLLBACK_STEP;
use super::{Evidence, FailureAction, FailurePath, Gate, Item, Playbook, RoleName, Step};

impl Playbook {
    /// The whole playbook, readable top to bottom: title, description, who may start,
    /// constraints, each step (summary, guidance, checklist, gate, failure paths) and the
    /// rollback procedure. Works on any playbook, valid or not: a failure path naming a
    /// step that does not exist is shown by the id it names.
    pub fn render_text(&self) -> String {
        let mut out = Text::default();
        out.line(0, &format!("{} ({})", self.title, self.name));
        if !self.description.is_empty() {
            out.line(0, &self.description);
        }
        out.blank();
        out.line(0, &format!("Who may start a release: {}", roles_in_words(&self.start_roles)));
        if !self.constraints.is_empty() {
            out.blank();
            out.line(0, "Constraints:");
            for constraint in &self.constraints {
                out.line(1, &format!("- {constraint}"));
            }
        }
        for (index, step) in self.steps.iter().enumerate() {
            out.blank();
            self.render_step(&mut out, index, step);
        }
        out.blank();
        self.render_rollback(&mut out);
        out.0
    }

    fn render_step(&self, out: &mut Text, index: usize, step: &Step) {
        out.line(0, &format!("Step {} — {} ({})", index + 1, step.title, step.id));
        if !step.summary.is_empty() {
            out.line(1, &step.summary);
        }
        for guidance in &step.guidance {
            out.line(1, &format!("- {guidance}"));
        }
        render_items(out, &step.items, &step.tick_roles);
        let evidence = evidence_in_words(step);
        render_gate(out, &step.gate, !step.items.is_empty(), evidence.as_deref());
        if !step.failure_paths.is_empty() {
            out.line(1, "If it goes wrong:");
            for path in &step.failure_paths {
                self.render_failure_path(out, path);
            }
        }
    }

    fn render_failure_path(&self, out: &mut Text, path: &FailurePath) {
        let action = match path.action {
            FailureAction::Restart => match &path.to {
                Some(to) => format!("restart from {}", self.step_in_words(to.as_str())),
                // The engine restarts this step when `to` is left out.
                None => "restart this step".to_owned(),
            },
            FailureAction::Retry => "retry this step".to_owned(),
            FailureAction::Rollback => match &path.to {
                Some(to) => format!("roll back, then resume at {}", self.step_in_words(to.as_str())),
                None => "roll back, and the release ends rolled back".to_owned(),
            },
            FailureAction::Abort => "abort the release".to_owned(),
        };
        let mut conditions = Vec::new();
        if path.note_required {
            conditions.push("note required".to_owned());
        }
        if !path.roles.is_empty() {
            conditions.push(format!("only {}", roles_in_words(&path.roles)));
        }
        let conditions = if conditions.is_empty() { String::new() } else { format!(" ({})", conditions.join(", ")) };
        out.line(2, &format!("- {} -> {action}{conditions}", path.label));
        if let Some(follow_up) = &path.follow_up {
            out.line(3, &format!("follow-up: {follow_up}"));
        }
    }

    fn render_rollback(&self, out: &mut Text) {
        let rollback = &self.rollback;
        out.line(0, &format!("{} ({ROLLBACK_STEP})", rollback.title));
        out.line(1, "Runs whenever a release rolls back, from whichever step.");
        if !rollback.summary.is_empty() {
            out.line(1, &rollback.summary);
        }
        render_items(out, &rollback.items, &rollback.tick_roles);
        render_gate(
            out,
            &rollback.gate,
            !rollback.items.is_empty(),
            Some("the previous known-good artifact deployed to production, health checks passing"),
        );
        if let Some(follow_up) = &rollback.follow_up {
            out.line(1, &format!("Afterwards, follow-up: {follow_up}"));
        }
    }

    /// "Step 4 (Deploy to Staging)" for a step id, or the id itself if no step has it.
    fn step_in_words(&self, id: &str) -> String {
        match self.steps.iter().position(|s| s.id.as_str() == id) {
            Some(index) => format!("Step {} ({})", index + 1, self.steps[index].title),
            None => format!("step {id:?}"),
        }
    }
}

/// Lines of text with two spaces of indent per level.
#[derive(Default)]
struct Text(String);

impl Text {
    fn line(&mut self, indent: usize, text: &str) {
        for _ in 0..indent {
            self.0.push_str("  ");
        }
        self.0.push_str(text);
        self.0.push('\n');
    }

    fn blank(&mut self) {
        self.0.push('\n');
    }
}

fn render_items(out: &mut Text, items: &[Item], tick_roles: &[RoleName]) {
    for item in items {
        out.line(1, &format!("[ ] {} ({})", item.text, item.id));
    }
    if !items.is_empty() {
        out.line(1, &format!("Ticked by: {}", roles_in_words(tick_roles)));
    }
}

/// The gate's own wording, then each thing it waits for.
fn render_gate(out: &mut Text, gate: &Gate, has_items: bool, evidence: Option<&str>) {
    if gate.text.is_empty() {
        out.line(1, "Gate:");
    } else {
        out.line(1, &format!("Gate: {}", gate.text));
    }
    if has_items {
        out.line(2, "needs every box ticked");
    }
    if let Some(evidence) = evidence {
        out.line(2, &format!("needs {evidence}"));
    }
    out.line(2, &format!("needs {}", approvals_in_words(gate)));
}

fn approvals_in_words(gate: &Gate) -> String {
    if gate.approvals == 0 {
        return "no approval: it passes by itself once the rest is in".to_owned();
    }
    let noun = if gate.approvals == 1 { "approval" } else { "approvals" };
    let starter = if gate.starter_may_approve { "" } else { "; the starter may not approve" };
    format!("{} {noun} from {}{starter}", gate.approvals, roles_in_words(&gate.roles))
}

/// What a step's gate waits for, in words; `None` when it waits for nothing.
fn evidence_in_words(step: &Step) -> Option<String> {
    Some(match step.requires {
        Evidence::None => return None,
        Evidence::TestsPassed => "a recorded test run with zero failures".to_owned(),
        Evidence::Artifact => "an artifact recorded, tagged with the git SHA and version".to_owned(),
        Evidence::StagingDeploy => "the artifact deployed to staging, health checks passing".to_owned(),
        Evidence::SmokeTest => "a healthy staging deploy of the artifact to run the smoke checks against".to_owned(),
        Evidence::ProductionDeploy => {
            "the artifact that passed staging deployed to production, health checks passing".to_owned()
        }
        Evidence::Watch => match step.watch_minutes {
            Some(window) => format!(
                "production watched for at least {} minutes after the deploy (watch {}-{} minutes)",
                window.min, window.min, window.max
            ),
            None => "production watched after the deploy".to_owned(),
        },
    })
}

/// "anyone", "release-manager", "release-manager or engineer", "a, b or c".
fn roles_in_words(roles: &[RoleName]) -> String {
    match roles {
        [] => "anyone known to shipgate".to_owned(),
        [only] => only.to_string(),
        [rest @ .., last] => {
            format!("{} or {last}", rest.iter().map(RoleName::as_str).collect::<Vec<_>>().join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ship_to_production_renders_stably() {
        let text = Playbook::ship_to_production().render_text();
        // Kept next to the other domain snapshots rather than inside the playbook module.
        insta::with_settings!({ snapshot_path => "../snapshots" }, {
            insta::assert_snapshot!("ship_to_production", text);
        });
    }

    #[test]
    fn roles_read_as_a_list() {
        let roles = |names: &[&str]| names.iter().map(|n| RoleName::from(*n)).collect::<Vec<_>>();
        assert_eq!(roles_in_words(&[]), "anyone known to shipgate");
        assert_eq!(roles_in_words(&roles(&["a"])), "a");
        assert_eq!(roles_in_words(&roles(&["a", "b"])), "a or b");
        assert_eq!(roles_in_words(&roles(&["a", "b", "c"])), "a, b or c");
    }

    #[test]
    fn a_path_to_a_missing_step_is_shown_by_its_id() {
        let mut playbook = Playbook::ship_to_production();
        playbook.steps[1].failure_paths[0].to = Some("nowhere".into());
        playbook.steps[1].failure_paths[1].action = FailureAction::Restart;
        let text = playbook.render_text();
        assert!(text.contains("-> restart from step \"nowhere\" (note required)"), "{text}");
        assert!(text.contains("-> restart this step (note required)"), "{text}");
    }

    #[test]
    fn gates_say_who_approves_and_path_roles_show() {
        let mut playbook = Playbook::ship_to_production();
        playbook.steps[0].gate.approvals = 2;
        playbook.steps[0].gate.roles.clear();
        playbook.steps[0].failure_paths[0].roles = vec!["release-manager".into()];
        playbook.steps[0].failure_paths[0].note_required = false;
        let text = playbook.render_text();
        assert!(text.contains("    needs 2 approvals from anyone known to shipgate\n"), "{text}");
        assert!(text.contains("-> abort the release (only release-manager)\n"), "{text}");
    }
}
