//! The forms a card opens, as Slack modal views (`views.open` with the click's
//! `trigger_id`). Which inputs a form has is [`crate::chat::form`]'s; this file only
//! writes them as Block Kit. The view's `callback_id` is the [`ModalTarget`] id; each
//! input's `block_id` and `action_id` are the same field name, so a `view_submission`'s
//! `state.values[name][name].value` is the field, as on Discord.
//!
//! A modal's title holds only 24 characters, so it names the form (`Production deploy`)
//! and the first block says which card it belongs to.

use super::{clip, escape, limit, plain, section_block};
use crate::chat::form::{self, Form, Input};
use crate::chat::target::{CustomIdError, ModalForm, ModalTarget, START_FORM_ID};
use crate::domain::card::Card;
use serde_json::{json, Value};

/// The view for `which`, opened from `card`. Fails only when the card's release id cannot
/// be named in a `callback_id`.
pub fn modal(card: &Card, which: ModalForm) -> Result<Value, CustomIdError> {
    let callback_id = ModalTarget::on(card, which).encode()?;
    let about = format!("*{}* · {}", escape(&card.title), escape(&card.release.text()));
    Ok(view(&callback_id, Some(about), &form::form(card, which)))
}

/// The view that starts a release, its `callback_id` [`START_FORM_ID`]. What the typed
/// command said beyond the form's fields (the channel, `--hotfix`, `--playbook`) rides in
/// `private_metadata`, which Slack hands back with the submission.
pub fn start_modal(form: &Form, private_metadata: &str) -> Value {
    let mut view = view(START_FORM_ID, None, form);
    view["private_metadata"] = json!(private_metadata);
    view
}

fn view(callback_id: &str, about: Option<String>, form: &Form) -> Value {
    let heading = form.heading.iter().map(|heading| format!("*{}*", escape(heading)));
    let context: Vec<String> = heading.chain(form.context.iter().map(|context| escape(context))).collect();
    let mut blocks: Vec<Value> = about.iter().map(|about| section_block(about)).collect();
    if !context.is_empty() {
        blocks.push(section_block(&context.join("\n")));
    }
    blocks.extend(form.inputs.iter().map(input_block));
    json!({
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(form.title, limit::MODAL_TITLE),
        "submit": plain(form.submit, limit::MODAL_BUTTON),
        "close": plain("Cancel", limit::MODAL_BUTTON),
        "blocks": blocks,
    })
}

/// An `input` block holding a `plain_text_input`.
fn input_block(input: &Input) -> Value {
    let max_length = input.max_length.min(limit::INPUT_MAX_LENGTH);
    let mut element = json!({
        "type": "plain_text_input",
        "action_id": input.name,
        "multiline": input.multiline,
        "max_length": max_length,
    });
    if let Some(value) = &input.value {
        // A pre-filled value longer than the field allows would fail the view.
        element["initial_value"] = json!(clip(value, max_length));
    }
    if let Some(placeholder) = input.placeholder {
        element["placeholder"] = plain(placeholder, limit::INPUT_PLACEHOLDER);
    }
    json!({
        "type": "input",
        "block_id": input.name,
        "label": plain(input.label, limit::INPUT_LABEL),
        "optional": !input.required,
        "element": element,
    })
}
