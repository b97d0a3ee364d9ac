//! The forms a card opens, as Slack modal views (`views.open` with the click's
//! `trigger_id`). The view's `callback_id` is the [`ModalTarget`] id; each input's
//! `block_id` and `action_id` are the same [`field`] name, so a `view_submission`'s
//! `state.values[name][name].value` is the field, as on Discord.
//!
//! A modal's title holds only 24 characters, so it names the form (`Production deploy`)
//! and the first block says which card it belongs to.

use super::{clip, escape, limit, plain, section_block};
use crate::chat::target::{field, CustomIdError, ModalForm, ModalTarget};
use crate::domain::card::{Card, EvidenceForm};
use serde_json::{json, Value};

/// The view for `form`, opened from `card`. Fails only when the card's release id cannot
/// be named in a `callback_id`.
pub fn modal(card: &Card, form: ModalForm) -> Result<Value, CustomIdError> {
    let callback_id = ModalTarget::on(card, form).encode()?;
    let about = format!("*{}* · {}", escape(&card.title), escape(&card.release.text()));
    let (title, submit, intro, inputs) = match form {
        ModalForm::Evidence(EvidenceForm::TestResult) => (
            "Record test result",
            "Record",
            None,
            vec![
                Input::short(field::SUITE, "Suite").placeholder("unit, integration or e2e").max(100),
                Input::short(field::PASSED, "Tests passed").placeholder("120").max(10),
                Input::short(field::FAILED, "Tests failed").placeholder("0").max(10),
            ],
        ),
        ModalForm::Evidence(EvidenceForm::Artifact) => (
            "Record artifact",
            "Record",
            None,
            vec![
                Input::short(field::VERSION, "Version").value(card.release.version.as_str()).max(64),
                Input::short(field::GIT_SHA, "Git SHA").value(card.release.git_sha.as_str()).max(40),
                Input::short(field::DIGEST, "Digest").placeholder("sha256:4f1c…").max(200),
                Input::short(field::SIZE_BYTES, "Size in bytes").placeholder("52428800").max(20),
            ],
        ),
        ModalForm::Evidence(kind @ (EvidenceForm::StagingDeploy | EvidenceForm::ProductionDeploy)) => {
            let production = kind == EvidenceForm::ProductionDeploy;
            // The digest to deploy: what production goes back to in a rollback, the
            // release's artifact otherwise.
            let digest = match (&card.rollback, &card.release.artifact) {
                (Some(rollback), _) => rollback.target.as_ref().map(|t| t.digest.as_str()),
                (None, artifact) => artifact.as_ref().map(|a| a.as_str()),
            };
            let mut digest_input = Input::short(field::DIGEST, "Digest deployed").placeholder("sha256:4f1c…").max(200);
            if let Some(digest) = digest {
                digest_input = digest_input.value(digest);
            }
            let strategy =
                Input::short(field::STRATEGY, "Strategy").placeholder("rolling, blue-green or canary").max(20);
            let mut inputs = vec![
                digest_input,
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
            (if production { "Production deploy" } else { "Staging deploy" }, "Record", None, inputs)
        }
        ModalForm::RejectReason => {
            let path =
                card.gate.reject.as_ref().map_or_else(|| "the step's failure path".to_owned(), |r| r.leads_to.clone());
            (
                "Reject the gate",
                "Reject",
                Some(format!("Then: {}", escape(&path))),
                vec![Input::paragraph(field::REASON, "Why is the gate rejected?")
                    .placeholder("What is wrong, so the next attempt can fix it")
                    .max(1000)],
            )
        }
        ModalForm::FailureNote(index) => {
            let path = card.failure_paths.get(index);
            let mut note = Input::paragraph(field::NOTE, "What happened?").max(1000);
            let intro = path.map(|p| format!("*{}*\nThen: {}", escape(&p.label), escape(&p.leads_to)));
            if path.is_some_and(|p| !p.note_required) {
                note = note.optional();
            }
            ("Failure path", "Take this path", intro, vec![note])
        }
        ModalForm::BrokenFlow => (
            "Critical flow broken",
            "Roll back",
            Some("Production rolls back at once.".to_owned()),
            vec![Input::paragraph(field::NOTE, "Which flow, and how is it broken?")
                .placeholder("checkout answers 500 for card payments")
                .max(1000)],
        ),
        ModalForm::BlindReason => (
            "Complete without data",
            "Complete",
            Some("The watch could not see some metrics.".to_owned()),
            vec![Input::paragraph(field::REASON, "Why is completing without it fine?")
                .placeholder("how you checked what the watch could not see")
                .max(1000)],
        ),
    };
    let mut blocks = vec![section_block(&about)];
    if let Some(intro) = intro {
        blocks.push(section_block(&intro));
    }
    blocks.extend(inputs.iter().map(Input::json));
    Ok(json!({
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, limit::MODAL_TITLE),
        "submit": plain(submit, limit::MODAL_BUTTON),
        "close": plain("Cancel", limit::MODAL_BUTTON),
        "blocks": blocks,
    }))
}

/// An `input` block holding a `plain_text_input`.
struct Input {
    name: &'static str,
    label: &'static str,
    multiline: bool,
    optional: bool,
    value: Option<String>,
    placeholder: Option<&'static str>,
    max_length: usize,
}

impl Input {
    fn short(name: &'static str, label: &'static str) -> Input {
        Input { name, label, multiline: false, optional: false, value: None, placeholder: None, max_length: 100 }
    }
    fn paragraph(name: &'static str, label: &'static str) -> Input {
        Input { multiline: true, ..Input::short(name, label) }
    }
    fn value(mut self, value: &str) -> Input {
        self.value = Some(value.to_owned());
        self
    }
    fn placeholder(mut self, placeholder: &'static str) -> Input {
        self.placeholder = Some(placeholder);
        self
    }
    fn max(mut self, max_length: usize) -> Input {
        self.max_length = max_length.min(limit::INPUT_MAX_LENGTH);
        self
    }
    fn optional(mut self) -> Input {
        self.optional = true;
        self
    }

    fn json(&self) -> Value {
        let mut element = json!({
            "type": "plain_text_input",
            "action_id": self.name,
            "multiline": self.multiline,
            "max_length": self.max_length,
        });
        if let Some(value) = &self.value {
            // A pre-filled value longer than the field allows would fail the view.
            element["initial_value"] = json!(clip(value, self.max_length));
        }
        if let Some(placeholder) = self.placeholder {
            element["placeholder"] = plain(placeholder, limit::INPUT_PLACEHOLDER);
        }
        json!({
            "type": "input",
            "block_id": self.name,
            "label": plain(self.label, limit::INPUT_LABEL),
            "optional": self.optional,
            "element": element,
        })
    }
}
