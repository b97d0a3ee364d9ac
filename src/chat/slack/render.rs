//! A card as a Slack Block Kit message, and the modals, replies and notices around it. No
//! I/O: every function returns the JSON to send. A message body is `{"text", "blocks"}`;
//! the caller adds `channel`, `ts` or `thread_ts`.
//!
//! # Layout of a step card
//!
//! - `header`: the card's title, `Step N — <title>` (or `Rollback — <procedure>`).
//! - `context`: the progress bar, the release (`api 1.4.0 · 3f9c2e1 · artifact …`), who
//!   started it and when, the attempt.
//! - `section`s, each present only when it has something to say: why the card is closed;
//!   the banners (freeze, locks, override, …), one per line; the rollback's particulars
//!   (and the end of the rollback hook's output in a code block); the step's summary and
//!   guidance.
//! - the checklist (see *Long checklists*): a `section` per item, `⬜ text` or
//!   `✅ text — Carol, 10:02 EST`, with its button as the accessory (`Tick`, or `Untick`
//!   once ticked).
//! - `section`s for the evidence recorded, the gate (its rule, approvals, rejection, and
//!   where it stands), and the failure paths.
//! - `actions` with the controls: the gate, the only `primary` button; `Reject…` and one
//!   button per failure path, `danger` with a confirmation dialog; the evidence forms, the
//!   rollback hook and the freeze-override approval (default style).
//! - `context`: the release id, the step id and the attempt.
//!
//! Slack buttons cannot be disabled, so a control exists only while clicking it can do
//! something: a gate that cannot pass yet is a line of text (`Gate: waiting for 3 boxes
//! to tick …`) until it can, a gate that passes by itself never has a button (the engine
//! refuses approvals of it), and a closed card (gate passed, superseded, rolling back,
//! release finished) has no buttons at all. Each button's `action_id` and `value` are its
//! [`ClickTarget`] id, a modal's `callback_id` its [`ModalTarget`] id.
//!
//! # Limits
//!
//! A message holds at most 50 blocks, an `actions` block 25 elements; button text is cut
//! to 75 characters, section text to 3000, header text to 150, with an ellipsis and on
//! character boundaries (never inside an `&amp;` escape). Slack does not say how it
//! counts characters, so lengths are counted in UTF-16 units, never fewer than characters.
//! Ids are at most 100 characters by construction ([`crate::chat::target`]), far below
//! the 255 of an `action_id` and the 2000 of a `value`.
//!
//! # Long checklists
//!
//! Every block but the checklist's is laid out first; the checklist gets the blocks left
//! of the 50 (at least 30: the rest is bounded, with at most 4 `actions` blocks of
//! controls). When every item fits as its own section, each gets one. Otherwise the
//! checklist folds:
//! 1. the items are listed, numbered, several to a section (each up to 3000 characters);
//! 2. their buttons, labelled with the item's number and text, follow in `actions`
//!    blocks of 25, in playbook order;
//! 3. blocks go first to buttons for every unticked item, then to at least one listing
//!    section, then to `Untick` buttons for ticked items, then to listing items in full:
//!    when the listing does not fit, item texts are shortened to 100 characters, and if
//!    that is still too long the listing ends with `… and N more`;
//! 4. a `context` line says what folded: how many items have no button (only past about
//!    1,000 items does an unticked one lose its button) and that numbers match buttons.

use crate::chat::target::{ClickTarget, Element};
use crate::domain::card::{Banner, Card, CardState, ClosedWhy, StepRef};
use crate::domain::release::{no_known_good_target, HookOutcome};
use serde_json::{json, Value};

mod modal;
mod notices;
pub mod watch;

pub use modal::{modal, start_modal};
pub use notices::{
    drill_reminder_message, lock_message, release_message, rollback_notice, stall_ping, thread_line, triage_origin,
};
pub use watch::message as watch_message;

/// Slack's limits, from its Block Kit reference.
pub mod limit {
    pub const BLOCKS: usize = 50;
    pub const ACTIONS_ELEMENTS: usize = 25;
    pub const CONTEXT_ELEMENTS: usize = 10;
    pub const BUTTON_TEXT: usize = 75;
    pub const ACTION_ID: usize = 255;
    pub const BUTTON_VALUE: usize = 2000;
    pub const SECTION_TEXT: usize = 3000;
    pub const TEXT_OBJECT: usize = 3000;
    pub const HEADER_TEXT: usize = 150;
    pub const CONFIRM_TITLE: usize = 100;
    pub const CONFIRM_TEXT: usize = 300;
    pub const CONFIRM_BUTTON: usize = 30;
    pub const MODAL_TITLE: usize = 24;
    pub const MODAL_BUTTON: usize = 24;
    pub const MODAL_BLOCKS: usize = 100;
    pub const CALLBACK_ID: usize = 255;
    pub const BLOCK_ID: usize = 255;
    pub const INPUT_LABEL: usize = 2000;
    pub const INPUT_PLACEHOLDER: usize = 150;
    pub const INPUT_MAX_LENGTH: usize = 3000;
    pub const IMAGE_URL: usize = 3000;
    pub const IMAGE_ALT_TEXT: usize = 2000;
    /// A message's `text` is truncated by Slack past 40,000; it advises at most 4,000.
    pub const MESSAGE_TEXT: usize = 4000;
}

/// Button styles; a button without one is Slack's default (neutral).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Primary,
    Danger,
}

impl Style {
    fn as_str(self) -> &'static str {
        match self {
            Style::Primary => "primary",
            Style::Danger => "danger",
        }
    }
}

/// The most `actions` blocks of controls a card uses (100 controls); a playbook with more
/// failure paths than that lists the rest without a button.
const MAX_CONTROL_BLOCKS: usize = 4;
/// Item texts in a folded checklist too long for its sections are shortened to this.
const COMPACT_ITEM_CHARS: usize = 100;
/// The most of a rollback hook's output (or response body) the card shows: its end.
const HOOK_DETAIL_CHARS: usize = 600;

/// The body of a `chat.postMessage` or `chat.update` for `card`.
pub fn message(card: &Card) -> Value {
    // Only the release id can make an id unencodable, and shipgate generates UUIDs; a
    // card that cannot carry ids is still shown, without buttons.
    let ids_ok = ClickTarget::on(card, Element::Gate).encode().is_ok();
    let live = ids_ok && card.is_open();

    let mut top = vec![header_block(&card.title), context_block(&[progress_line(card)])];
    top.extend(body_blocks(card));
    let mut bottom = gate_blocks(card);
    if live {
        bottom.extend(control_blocks(card));
    }
    bottom.push(context_block(&[format!(
        "release {} · {} · attempt {}",
        escape(card.release_id.as_str()),
        escape(card.step_id.as_str()),
        card.attempt
    )]));

    // One block is kept for the note under the checklist.
    let budget = limit::BLOCKS.saturating_sub(top.len() + bottom.len() + 1);
    let checklist = checklist(card, live, budget);
    let note = match (ids_ok, checklist.note) {
        (false, _) => {
            Some("⚠️ This card's buttons are unavailable: its release id cannot be named in a button.".to_owned())
        }
        (true, note) => note,
    };

    let mut blocks = top;
    blocks.extend(checklist.blocks);
    if let Some(note) = note {
        blocks.push(context_block(&[note]));
    }
    blocks.extend(bottom);
    json!({ "text": fallback(card), "blocks": blocks })
}

/// The body of a `response_url` post that replaces the clicked card with `card`.
pub fn update_message(card: &Card) -> Value {
    let mut body = message(card);
    body["replace_original"] = json!(true);
    body
}

/// A reply only the clicking person sees: why a click or command was refused, and what
/// to do. The body of a `response_url` post or a slash command's answer (for
/// `chat.postEphemeral`, its `text` with `channel` and `user`). The words are shipgate's
/// own, shown as written but for Slack's three escapes.
pub fn ephemeral(text: &str) -> Value {
    let text = text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    json!({
        "response_type": "ephemeral",
        "replace_original": false,
        "text": clip_mrkdwn(&text, limit::MESSAGE_TEXT),
    })
}

// ----------------------------------------------------------------------------------------
// Header and body
// ----------------------------------------------------------------------------------------

/// `▰▱▱▱▱▱▱▱ 1/8 · api 1.4.0 · 3f9c2e1 · started by Alice · Wed 2 Dec 10:00 EST`.
fn progress_line(card: &Card) -> String {
    let mut line = format!(
        "{} · *{}* · started by {} · {}",
        card.progress.bar(),
        escape(&card.release.text()),
        escape(&card.release.started.by),
        escape(&card.release.started.local)
    );
    if card.attempt > 1 {
        line.push_str(&format!(" · attempt {}", card.attempt));
    }
    line
}

/// The notification text: the title, where the release stands and what the card waits for.
fn fallback(card: &Card) -> String {
    let state = match &card.state {
        CardState::Closed { why } => why.text(),
        CardState::Open => {
            let (state, detail, _) = gate_state(card);
            format!("{state} {detail}")
        }
    };
    let text = format!("{} · {} · {}: {state}", card.title, card.progress.bar(), card.release.text());
    clip_mrkdwn(&escape(&text), limit::MESSAGE_TEXT)
}

/// Why the card is closed, its banners, the rollback's particulars, the instructions.
fn body_blocks(card: &Card) -> Vec<Value> {
    let mut blocks = Vec::new();
    if let CardState::Closed { why } = &card.state {
        blocks.push(section_block(&format!("{} *{}*", closed_icon(why), escape(&why.text()))));
    }
    if !card.banners.is_empty() {
        let lines: Vec<String> =
            card.banners.iter().map(|b| format!("{} {}", banner_icon(b), escape(&banner_text(b)))).collect();
        blocks.push(section_block(&fit_lines(&lines, limit::SECTION_TEXT)));
    }
    if let Some(r) = &card.rollback {
        let mut lines = vec![
            format!("*Rolling back from {}:* {}", escape(&r.from), escape(&r.reason)),
            format!("rollback started by {} · {}", escape(&r.started.by), escape(&r.started.local)),
        ];
        match &r.target {
            Some(t) => lines.push(format!(
                "Production goes back to {} (`{}`)",
                escape(t.version.as_str()),
                escape(t.digest.short())
            )),
            None => lines.push(format!("⚠️ {}", escape(&no_known_good_target(&card.release.service)))),
        }
        lines.push(format!("Afterwards {}", escape(&r.then_words)));
        if let Some(hook) = &r.hook {
            let icon = match &hook.outcome {
                None => "⏳",
                Some(HookOutcome::Succeeded { .. }) => "✅",
                Some(HookOutcome::Failed { .. }) => "❌",
                Some(HookOutcome::Unknown { .. }) => "⚠️",
            };
            lines.push(format!("{icon} {}", escape(&hook.text())));
        }
        blocks.push(section_block(&fit_lines(&lines, limit::SECTION_TEXT)));
        let detail = r.hook.as_ref().and_then(|h| h.outcome.as_ref()).map(HookOutcome::detail);
        if let Some(detail) = detail.filter(|d| !d.is_empty()) {
            blocks.push(section_block(&code_block(&tail(detail, HOOK_DETAIL_CHARS))));
        }
    }
    let mut lines = Vec::new();
    if !card.summary.is_empty() {
        lines.push(escape(&card.summary));
    }
    lines.extend(card.guidance.iter().map(|g| format!("• {}", escape(g))));
    if !lines.is_empty() {
        blocks.push(section_block(&fit_lines(&lines, limit::SECTION_TEXT)));
    }
    blocks
}

/// The evidence recorded, the gate and the failure paths.
fn gate_blocks(card: &Card) -> Vec<Value> {
    let mut blocks = Vec::new();
    if !card.evidence.is_empty() {
        let mut lines = vec!["*Evidence*".to_owned()];
        lines.extend(card.evidence.iter().map(|e| format!("• {}", escape(&e.text()))));
        blocks.push(section_block(&fit_lines(&lines, limit::SECTION_TEXT)));
    }
    blocks.push(section_block(&fit_lines(&gate_lines(card), limit::SECTION_TEXT)));
    if !card.failure_paths.is_empty() {
        let mut lines = vec!["*If it goes wrong*".to_owned()];
        lines.extend(card.failure_paths.iter().map(|p| {
            let note = if p.note_required { " (note required)" } else { "" };
            format!("• *{}* → {}{note}", escape(&p.label), escape(&p.leads_to))
        }));
        blocks.push(section_block(&fit_lines(&lines, limit::SECTION_TEXT)));
    }
    blocks
}

fn gate_lines(card: &Card) -> Vec<String> {
    let gate = &card.gate;
    let mut lines = vec![format!("*Gate* · {}", escape(&gate.rule))];
    if !gate.text.is_empty() {
        lines.push(format!("> {}", escape(&gate.text)));
    }
    let approvals = &gate.approvals;
    if approvals.required > 0 {
        let who: Vec<String> =
            approvals.given.iter().map(|s| format!("{} ({})", escape(&s.by), escape(&s.local))).collect();
        let mut line = format!("Approvals {}/{}", approvals.given.len(), approvals.required);
        if !who.is_empty() {
            line.push_str(&format!(": {}", who.join(", ")));
        }
        if let Some(digest) = &gate.approved_digest {
            line.push_str(&format!(" · for artifact `{}`", escape(digest.short())));
        }
        lines.push(line);
    }
    if let Some(rejected) = &gate.rejected {
        lines.push(format!("✖ {}", escape(&rejected.text())));
    }
    if let Some(evidence) = &gate.evidence {
        match (&evidence.waiting_for, evidence.recorded) {
            (_, true) => lines.push(format!("Evidence ✅ {}", escape(&evidence.what))),
            // What is missing is said in the gate's state below.
            (Some(_), false) if card.is_open() => {}
            _ => lines.push(format!("Evidence ⬜ {}", escape(&evidence.what))),
        }
    }
    if card.is_open() {
        let (state, detail, ready) = gate_state(card);
        let icon = if ready { "✅" } else { "⏳" };
        lines.push(format!("{icon} *{state}* {}", escape(&detail)));
    }
    lines
}

/// Where an open gate stands: `Gate: waiting for` or `Gate: ready`, what follows it in
/// words, and whether it is ready (for its approvals, or to pass by itself).
fn gate_state(card: &Card) -> (&'static str, String, bool) {
    let gate = &card.gate;
    let required = gate.approvals.required as usize;
    if gate.can_pass {
        let detail = if required == 0 {
            "— passes by itself".to_owned()
        } else {
            let left = required.saturating_sub(gate.approvals.given.len());
            let noun = if left == 1 { "approval" } else { "approvals" };
            format!("for {left} more {noun}")
        };
        return ("Gate: ready", detail, true);
    }
    let mut waiting = Vec::new();
    if gate.unticked > 0 {
        let boxes = if gate.unticked == 1 { "box" } else { "boxes" };
        waiting.push(format!("{} {boxes} to tick", gate.unticked));
    }
    if let Some(missing) = gate.evidence.as_ref().and_then(|e| e.waiting_for.as_ref()) {
        waiting.push(missing.clone());
    }
    if waiting.is_empty() {
        waiting.push("its conditions".to_owned());
    }
    let then = match required {
        0 => "then it passes by itself".to_owned(),
        1 => "then 1 approval".to_owned(),
        n => format!("then {n} approvals"),
    };
    ("Gate: waiting for", format!("{}; {then}", waiting.join(" and ")), false)
}

fn closed_icon(why: &ClosedWhy) -> &'static str {
    match why {
        ClosedWhy::GatePassed { .. } => "✅",
        ClosedWhy::Superseded => "↩️",
        ClosedWhy::RollingBack => "⏪",
        ClosedWhy::ReleaseFinished { .. } => "🏁",
        ClosedWhy::NotReached => "⏳",
    }
}

fn banner_icon(banner: &Banner) -> &'static str {
    match banner {
        Banner::Frozen { .. } => "🧊",
        Banner::Locked { .. } => "🔒",
        Banner::OverrideRequested { .. } => "🆘",
        Banner::OverrideApproved { .. } => "🆗",
        Banner::HoldsProduction { .. } => "🚦",
        Banner::Stalled => "⏰",
        Banner::RollbackDrill { overdue: true, .. } => "⚠️",
        Banner::RollbackDrill { .. } => "🔁",
    }
}

/// A banner in words; an overdue drill names Slack's form of the drill command.
fn banner_text(banner: &Banner) -> String {
    match banner {
        Banner::RollbackDrill { service, last, overdue: true, .. } => {
            let plain =
                Banner::RollbackDrill { service: service.clone(), last: last.clone(), due_local: None, overdue: false }
                    .text();
            format!("{plain} — overdue: keep the rollback path tested with /release drill {service}")
        }
        other => other.text(),
    }
}

// ----------------------------------------------------------------------------------------
// The checklist
// ----------------------------------------------------------------------------------------

struct Checklist {
    blocks: Vec<Value>,
    /// What the reader should know about how the checklist is shown, if anything.
    note: Option<String>,
}

/// The checklist in at most `budget` blocks (see the module docs).
fn checklist(card: &Card, live: bool, budget: usize) -> Checklist {
    let items = &card.items;
    if items.len() <= budget {
        let blocks = items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let mut text = format!("⬜ {}", escape(&item.text));
                let mut element = Element::Item(index);
                if let Some(stamp) = &item.ticked {
                    text = format!("✅ {} — {}, {}", escape(&item.text), escape(&stamp.by), escape(&stamp.local));
                    element = Element::Untick(index);
                }
                let mut block = section_block(&text);
                if live {
                    let label = if item.is_ticked() { "Untick" } else { "Tick" };
                    if let Some(button) = click_button(card, element, label, None, None) {
                        block["accessory"] = button;
                    }
                }
                block
            })
            .collect();
        return Checklist { blocks, note: None };
    }
    folded(card, live, budget)
}

fn folded(card: &Card, live: bool, budget: usize) -> Checklist {
    let items = &card.items;
    let per = limit::ACTIONS_ELEMENTS;
    let unticked = items.iter().filter(|i| !i.is_ticked()).count();
    let line = |index: usize, compact: bool| {
        let item = &items[index];
        let text = if compact { clip(&item.text, COMPACT_ITEM_CHARS) } else { item.text.clone() };
        match &item.ticked {
            Some(stamp) => {
                format!("✅ {}. {} — {}, {}", index + 1, escape(&text), escape(&stamp.by), escape(&stamp.local))
            }
            None => format!("⬜ {}. {}", index + 1, escape(&text)),
        }
    };
    let full: Vec<String> = (0..items.len()).map(|i| line(i, false)).collect();
    let compact: Vec<String> = (0..items.len()).map(|i| line(i, true)).collect();

    // Blocks for buttons: every unticked item first, then ticked ones while the compact
    // listing still fits beside them; at least one block always lists.
    let list_blocks = |lines: &[String]| pack(lines, limit::SECTION_TEXT).len();
    let (button_blocks, button_slots) = if live {
        let most = budget.saturating_sub(1);
        let for_unticked = unticked.div_ceil(per).min(most);
        let for_all = items.len().div_ceil(per).min(most);
        let blocks = if for_all + list_blocks(&compact) <= budget {
            for_all
        } else {
            for_unticked.max(budget.saturating_sub(list_blocks(&compact)))
        };
        (blocks, blocks * per)
    } else {
        (0, 0)
    };
    let list_budget = budget.saturating_sub(button_blocks).max(1);
    let listing = if list_blocks(&full) <= list_budget {
        pack(&full, limit::SECTION_TEXT)
    } else {
        pack_within(&compact, list_budget)
    };

    // Which items get a button: unticked before ticked (the sort is stable: playbook
    // order within each group); shown in playbook order.
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| items[i].is_ticked());
    let mut with_button: Vec<usize> = order.into_iter().take(button_slots).collect();
    with_button.sort_unstable();
    let buttons: Vec<Value> = with_button
        .iter()
        .filter_map(|&index| {
            let item = &items[index];
            let (element, label) = match item.ticked {
                Some(_) => (Element::Untick(index), format!("✓ {}. {}", index + 1, item.text)),
                None => (Element::Item(index), format!("{}. {}", index + 1, item.text)),
            };
            click_button(card, element, &label, None, None)
        })
        .collect();

    let mut blocks: Vec<Value> = listing.iter().map(|text| section_block(text)).collect();
    blocks.extend(actions_blocks(buttons));

    let without = items.len() - with_button.len();
    let note = if !live {
        None
    } else if without == 0 {
        Some(format!("🔽 {} items: each has its button below the list, by its number.", items.len()))
    } else {
        Some(format!(
            "🔽 {without} of {} items have no button here (a Slack message holds 50 blocks); unticked items get \
             theirs first.",
            items.len()
        ))
    };
    Checklist { blocks, note }
}

/// `lines` in sections of at most `max` characters each, a line never split unless it
/// alone is too long.
fn pack(lines: &[String], max: usize) -> Vec<String> {
    let mut sections: Vec<String> = Vec::new();
    for line in lines {
        let line = clip_mrkdwn(line, max);
        match sections.last_mut() {
            Some(section) if len(section) + 1 + len(&line) <= max => {
                section.push('\n');
                section.push_str(&line);
            }
            _ => sections.push(line),
        }
    }
    sections
}

/// `lines` in at most `blocks` sections; when they do not fit, the last section ends
/// with `… and N more`.
fn pack_within(lines: &[String], blocks: usize) -> Vec<String> {
    let mut sections = pack(lines, limit::SECTION_TEXT);
    if sections.len() <= blocks {
        return sections;
    }
    sections.truncate(blocks.max(1));
    let shown: usize = sections.iter().map(|s| s.lines().count()).sum();
    let mut shown = shown.min(lines.len());
    if let Some(last) = sections.last_mut() {
        let closing = |more: usize| format!("… and {more} more");
        while len(last) + 1 + len(&closing(lines.len() - shown)) > limit::SECTION_TEXT {
            match last.rfind('\n') {
                Some(cut) => {
                    last.truncate(cut);
                    shown -= 1;
                }
                None => break,
            }
        }
        last.push('\n');
        last.push_str(&closing(lines.len() - shown));
    }
    sections
}

// ----------------------------------------------------------------------------------------
// Controls
// ----------------------------------------------------------------------------------------

/// The controls of an open card, in `actions` blocks: the gate first when it can pass,
/// then Reject, the forms, the hook, the override approval, the failure paths.
fn control_blocks(card: &Card) -> Vec<Value> {
    let gate = &card.gate;
    let mut buttons = Vec::new();
    if gate.can_pass && gate.approvals.required > 0 {
        buttons.extend(click_button(card, Element::Gate, &gate_label(card), Some(Style::Primary), None));
    }
    if let Some(reject) = &gate.reject {
        let confirm =
            confirm("Reject the gate?", &format!("Then: {}. You will be asked why.", reject.leads_to), "Reject");
        buttons.extend(click_button(card, Element::Reject, "Reject…", Some(Style::Danger), Some(confirm)));
    }
    for &kind in &card.inputs.evidence {
        buttons.extend(click_button(card, Element::Evidence(kind), &format!("{}…", kind.label()), None, None));
    }
    if card.inputs.run_rollback_hook {
        buttons.extend(click_button(card, Element::RunHook, "Run rollback hook", None, None));
    }
    if card.inputs.approve_override {
        buttons.extend(click_button(card, Element::ApproveOverride, "Approve freeze override", None, None));
    }
    for (index, path) in card.failure_paths.iter().enumerate() {
        let asked = if path.note_required { " You will be asked what happened." } else { "" };
        let confirm =
            confirm("Take this failure path?", &format!("{} → {}.{asked}", path.label, path.leads_to), "Yes, take it");
        buttons.extend(click_button(
            card,
            Element::FailurePath(index),
            &path.label,
            Some(Style::Danger),
            Some(confirm),
        ));
    }
    buttons.truncate(MAX_CONTROL_BLOCKS * limit::ACTIONS_ELEMENTS);
    actions_blocks(buttons)
}

fn gate_label(card: &Card) -> String {
    match card.gate.approvals.required {
        _ if card.step == StepRef::Rollback => "Finish rollback →".to_owned(),
        1 => "Pass gate →".to_owned(),
        required => format!("Approve ({}/{required}) →", card.gate.approvals.given.len()),
    }
}

/// A button naming `element` on `card`; `None` if the card's ids cannot be encoded.
fn click_button(
    card: &Card,
    element: Element,
    text: &str,
    style: Option<Style>,
    confirm: Option<Value>,
) -> Option<Value> {
    let id = ClickTarget::on(card, element).encode().ok()?;
    Some(button(&id, text, style, confirm))
}

/// A button whose `action_id` and `value` are `id`.
pub(crate) fn button(id: &str, text: &str, style: Option<Style>, confirm: Option<Value>) -> Value {
    let mut button = json!({
        "type": "button",
        "action_id": id,
        "value": id,
        "text": plain(text, limit::BUTTON_TEXT),
    });
    if let Some(style) = style {
        button["style"] = json!(style.as_str());
    }
    if let Some(confirm) = confirm {
        button["confirm"] = confirm;
    }
    button
}

/// A confirmation dialog for a `danger` button.
pub(crate) fn confirm(title: &str, text: &str, yes: &str) -> Value {
    json!({
        "title": plain(title, limit::CONFIRM_TITLE),
        "text": plain(text, limit::CONFIRM_TEXT),
        "confirm": plain(yes, limit::CONFIRM_BUTTON),
        "deny": plain("Cancel", limit::CONFIRM_BUTTON),
        "style": "danger",
    })
}

/// `buttons` in `actions` blocks of at most 25.
fn actions_blocks(buttons: Vec<Value>) -> Vec<Value> {
    buttons.chunks(limit::ACTIONS_ELEMENTS).map(|chunk| json!({ "type": "actions", "elements": chunk })).collect()
}

// ----------------------------------------------------------------------------------------
// Blocks
// ----------------------------------------------------------------------------------------

/// A `plain_text` object cut to `max`; shown as written (Slack parses nothing in it but
/// emoji names).
pub(crate) fn plain(text: &str, max: usize) -> Value {
    let text = if text.is_empty() { " " } else { text };
    json!({ "type": "plain_text", "text": clip(text, max), "emoji": true })
}

/// A `mrkdwn` object; `text` is already escaped.
fn mrkdwn(text: &str, max: usize) -> Value {
    let text = if text.is_empty() { " " } else { text };
    json!({ "type": "mrkdwn", "text": clip_mrkdwn(text, max) })
}

pub(crate) fn header_block(text: &str) -> Value {
    json!({ "type": "header", "text": plain(text, limit::HEADER_TEXT) })
}

/// A section of escaped mrkdwn, cut to 3000 characters.
pub(crate) fn section_block(text: &str) -> Value {
    json!({ "type": "section", "text": mrkdwn(text, limit::SECTION_TEXT) })
}

/// A context block of escaped mrkdwn texts (at most 10).
pub(crate) fn context_block(texts: &[String]) -> Value {
    let elements: Vec<Value> =
        texts.iter().take(limit::CONTEXT_ELEMENTS).map(|t| mrkdwn(t, limit::TEXT_OBJECT)).collect();
    json!({ "type": "context", "elements": elements })
}

// ----------------------------------------------------------------------------------------
// Text
// ----------------------------------------------------------------------------------------

/// Length as Slack's limits are counted here: UTF-16 units, never fewer than characters
/// (Slack does not say which it counts).
pub(crate) fn len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// `text` cut to `max`, ending with an ellipsis when cut; for plain text.
pub(crate) fn clip(text: &str, max: usize) -> String {
    if len(text) <= max {
        return text.to_owned();
    }
    let mut cut = String::new();
    let mut used = 0;
    for c in text.chars() {
        if used + c.len_utf16() > max.saturating_sub(1) {
            break;
        }
        used += c.len_utf16();
        cut.push(c);
    }
    cut.push('…');
    cut
}

/// Escaped mrkdwn cut to `max`: never inside an `&amp;` escape, nor leaving a code block
/// open.
pub(crate) fn clip_mrkdwn(text: &str, max: usize) -> String {
    if len(text) <= max {
        return text.to_owned();
    }
    let mut cut = clip(text, max);
    cut.pop();
    if let Some(amp) = cut.rfind('&') {
        if !cut[amp..].contains(';') {
            cut.truncate(amp);
        }
    }
    if cut.matches("```").count() % 2 == 1 {
        if let Some(open) = cut.rfind("```") {
            cut.truncate(open);
        }
    }
    cut.push('…');
    cut
}

/// `lines` joined, as many as fit in `max` with a closing `…` when some are left out.
pub(crate) fn fit_lines(lines: &[String], max: usize) -> String {
    let joined = lines.join("\n");
    if len(&joined) <= max {
        return joined;
    }
    let mut out = String::new();
    for line in lines {
        let sep = usize::from(!out.is_empty());
        if len(&out) + sep + len(line) + 2 > max {
            break;
        }
        if sep == 1 {
            out.push('\n');
        }
        out.push_str(line);
    }
    if out.is_empty() {
        return clip_mrkdwn(&joined, max);
    }
    out.push_str("\n…");
    out
}

/// Text from people and playbooks shown as itself in mrkdwn, on one line. Slack wants
/// `&`, `<` and `>` escaped, which also keeps mentions and links out; it has no escape
/// for its formatting marks, so those that could pair are swapped for look-alikes: `*`,
/// `~` and `` ` `` always, `_` only at a word's edge (inside `checkout_api` Slack leaves
/// it alone, and the name stays copyable).
pub(crate) fn escape(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '*' => out.push('∗'),
            '~' => out.push('∼'),
            '`' => out.push('ˋ'),
            '_' => {
                let word = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric());
                let inside = i > 0 && word(chars.get(i - 1)) && word(chars.get(i + 1));
                out.push(if inside { '_' } else { 'ˍ' });
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `text` shown verbatim in a code block: Slack formats nothing inside one, but `&`, `<`
/// and `>` are still escapes, and a backtick could close it early.
pub(crate) fn code_block(text: &str) -> String {
    let body = text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('`', "ˋ");
    format!("```\n{body}\n```")
}

/// A mrkdwn link to `url`; `text` is already escaped. `|` and angle brackets in the URL
/// would end it early, so they are percent-encoded; `&` is escaped as Slack asks.
pub(crate) fn link(url: &str, text: &str) -> String {
    let url = url.replace('&', "&amp;").replace('|', "%7C").replace('<', "%3C").replace('>', "%3E");
    format!("<{url}|{text}>")
}

/// The last `max` characters of `text`, starting with an ellipsis when cut: the end of
/// a program's output is what says how it went.
fn tail(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    std::iter::once('…').chain(text.chars().skip(count - max.saturating_sub(1))).collect()
}

#[cfg(test)]
mod tests;
