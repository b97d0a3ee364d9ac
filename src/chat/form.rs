//! The forms a card opens, platform-neutral: which inputs each form asks for, their
//! limits and pre-filled values. Discord renders a form as a modal interaction response,
//! Slack as a `views.open` view; both read the submission back by the [`field`] names,
//! and the conversation checks the values, so one description serves every platform.

use super::target::{field, ModalForm};
use crate::domain::card::{Card, EvidenceForm};

/// A form opened from a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// Names the form; short enough for every platform's modal title (Slack: 24).
    pub title: &'static str,
    /// The submit button's words (Slack: 24).
    pub submit: &'static str,
    /// Plain text shown emphasised above the inputs: the choice the form confirms (the
    /// failure path taken).
    pub heading: Option<String>,
    /// Plain text shown above the inputs: what submitting leads to.
    pub context: Option<String>,
    pub inputs: Vec<Input>,
}

/// One text input. `name` is both the input's id and the submitted value's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub name: &'static str,
    pub label: &'static str,
    pub multiline: bool,
    pub required: bool,
    /// Pre-filled: what shipgate already knows (the release's version and SHA, the
    /// artifact to deploy). A platform clips it to `max_length`.
    pub value: Option<String>,
    pub placeholder: Option<&'static str>,
    pub max_length: usize,
}

impl Input {
    fn short(name: &'static str, label: &'static str) -> Input {
        Input { name, label, multiline: false, required: true, value: None, placeholder: None, max_length: 100 }
    }
    fn paragraph(name: &'static str, label: &'static str) -> Input {
        Input { multiline: true, ..Input::short(name, label) }
    }
    fn value(mut self, value: Option<&str>) -> Input {
        self.value = value.map(str::to_owned);
        self
    }
    fn placeholder(mut self, placeholder: &'static str) -> Input {
        self.placeholder = Some(placeholder);
        self
    }
    fn max(mut self, max_length: usize) -> Input {
        self.max_length = max_length;
        self
    }
    fn optional(mut self) -> Input {
        self.required = false;
        self
    }
}

const DIGEST_EXAMPLE: &str = "sha256:4f1c…";

/// The form `which`, opened from `card`.
pub fn form(card: &Card, which: ModalForm) -> Form {
    match which {
        ModalForm::Evidence(EvidenceForm::TestResult) => Form {
            title: "Record test result",
            submit: "Record",
            heading: None,
            context: None,
            inputs: vec![
                Input::short(field::SUITE, "Suite").placeholder("unit, integration or e2e").max(100),
                Input::short(field::PASSED, "Tests passed").placeholder("120").max(10),
                Input::short(field::FAILED, "Tests failed").placeholder("0").max(10),
            ],
        },
        ModalForm::Evidence(EvidenceForm::Artifact) => Form {
            title: "Record artifact",
            submit: "Record",
            heading: None,
            context: None,
            inputs: vec![
                Input::short(field::VERSION, "Version").value(Some(card.release.version.as_str())).max(64),
                Input::short(field::GIT_SHA, "Git SHA").value(Some(card.release.git_sha.as_str())).max(40),
                Input::short(field::DIGEST, "Digest").placeholder(DIGEST_EXAMPLE).max(200),
                Input::short(field::SIZE_BYTES, "Size in bytes").placeholder("52428800").max(20),
            ],
        },
        ModalForm::Evidence(kind @ (EvidenceForm::StagingDeploy | EvidenceForm::ProductionDeploy)) => {
            let production = kind == EvidenceForm::ProductionDeploy;
            // The digest to deploy: what production goes back to in a rollback, the
            // release's artifact otherwise.
            let digest = match (&card.rollback, &card.release.artifact) {
                (Some(rollback), _) => rollback.target.as_ref().map(|t| t.digest.as_str()),
                (None, artifact) => artifact.as_ref().map(|a| a.as_str()),
            };
            let strategy =
                Input::short(field::STRATEGY, "Strategy").placeholder("rolling, blue-green or canary").max(20);
            let mut inputs = vec![
                Input::short(field::DIGEST, "Digest deployed").placeholder(DIGEST_EXAMPLE).value(digest).max(200),
                Input::short(field::OUTCOME, "Outcome").placeholder("succeeded or failed").max(20),
                Input::short(field::HEALTH, "Health checks").placeholder("passed, failed or unknown").max(20),
                if production { strategy } else { strategy.optional() },
            ];
            // A revert with no known-good target takes an artifact shipgate never recorded
            // only with a reason: the form asks for it there.
            if card.rollback.as_ref().is_some_and(|r| r.target.is_none()) {
                inputs.push(
                    Input::paragraph(field::REASON, "Reason, if shipgate never recorded it")
                        .placeholder("Why this artifact is the right one to go back to")
                        .max(1000)
                        .optional(),
                );
            }
            Form {
                title: if production { "Production deploy" } else { "Staging deploy" },
                submit: "Record",
                heading: None,
                context: None,
                inputs,
            }
        }
        ModalForm::RejectReason => {
            let path =
                card.gate.reject.as_ref().map_or_else(|| "the step's failure path".to_owned(), |r| r.leads_to.clone());
            Form {
                title: "Reject the gate",
                submit: "Reject",
                heading: None,
                context: Some(format!("Then: {path}")),
                inputs: vec![Input::paragraph(field::REASON, "Why is the gate rejected?")
                    .placeholder("What is wrong, so the next attempt can fix it")
                    .max(1000)],
            }
        }
        ModalForm::FailureNote(index) => {
            let path = card.failure_paths.get(index);
            let mut note = Input::paragraph(field::NOTE, "What happened?").max(1000);
            if path.is_some_and(|p| !p.note_required) {
                note = note.optional();
            }
            Form {
                title: "Failure path",
                submit: "Take this path",
                heading: path.map(|p| p.label.clone()),
                context: path.map(|p| format!("Then: {}", p.leads_to)),
                inputs: vec![note],
            }
        }
        ModalForm::BrokenFlow => Form {
            title: "Critical flow broken",
            submit: "Roll back",
            heading: None,
            context: Some("Production rolls back at once.".to_owned()),
            inputs: vec![Input::paragraph(field::NOTE, "Which flow, and how is it broken?")
                .placeholder("checkout answers 500 for card payments")
                .max(1000)],
        },
        ModalForm::BlindReason => Form {
            title: "Complete without data",
            submit: "Complete",
            heading: None,
            context: Some("The watch could not see some metrics.".to_owned()),
            inputs: vec![Input::paragraph(field::REASON, "Why is completing without it fine?")
                .placeholder("how you checked what the watch could not see")
                .max(1000)],
        },
    }
}

/// The form that starts a release when `/release start` was typed without its commit: the
/// service and version as typed, the commit asked for. The artifact is later checked
/// against this commit, so shipgate asks rather than guesses.
pub fn start_form(service: Option<&str>, version: Option<&str>, hotfix: bool) -> Form {
    Form {
        title: if hotfix { "Start a hotfix" } else { "Start a release" },
        submit: "Start",
        heading: None,
        context: Some("Each step of the playbook opens as a card in the release's thread.".to_owned()),
        inputs: vec![
            Input::short(field::SERVICE, "Service").placeholder("api").value(service).max(64),
            Input::short(field::VERSION, "Version").placeholder("1.4.0").value(version).max(64),
            Input::short(field::GIT_SHA, "Git commit").placeholder("3f9c2e1 (7 to 40 hex characters)").max(40),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::card::current_card;
    use crate::domain::card::fixtures::Walk;

    /// Slack's modal title and submit button hold 24 characters; every form fits.
    #[test]
    fn every_title_and_submit_fits_the_smallest_platform_limit() {
        let walk = Walk::start();
        let card = current_card(&walk.release, &walk.ctx());
        let forms = [
            ModalForm::Evidence(EvidenceForm::TestResult),
            ModalForm::Evidence(EvidenceForm::Artifact),
            ModalForm::Evidence(EvidenceForm::StagingDeploy),
            ModalForm::Evidence(EvidenceForm::ProductionDeploy),
            ModalForm::RejectReason,
            ModalForm::FailureNote(0),
            ModalForm::BrokenFlow,
            ModalForm::BlindReason,
        ];
        let start = [start_form(Some("api"), None, false), start_form(None, None, true)];
        let all = forms.into_iter().map(|which| (format!("{which:?}"), form(&card, which)));
        for (which, form) in all.chain(start.into_iter().map(|f| ("start".to_owned(), f))) {
            assert!(form.title.chars().count() <= 24, "{which:?}: {}", form.title);
            assert!(form.submit.chars().count() <= 24, "{which:?}: {}", form.submit);
            assert!(!form.inputs.is_empty(), "{which:?} asks for something");
            for input in &form.inputs {
                assert!(input.max_length <= 3000, "{which:?}: {} allows more than Slack's 3000", input.name);
                assert!(input.label.chars().count() <= 45, "{which:?}: {} label over Discord's 45", input.name);
            }
        }
    }
}
