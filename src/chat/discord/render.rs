//! A card as a Discord message, and the interaction responses around it. No I/O: every
//! function returns the JSON body to send.
//!
//! # Layout
//!
//! - `content`: the header. Its first line is `Step N — <title> · ▰▰▱▱▱▱▱▱ 2/8 · <service>
//!   <version> · <short SHA>[ · artifact <digest>]`; the second, in small print, who
//!   started the release and when. Content is what notifications and reply previews
//!   show, so the header is there rather than in an embed title.
//! - one embed: the body. Its description has why the card is closed, the banners, the
//!   rollback's particulars, the step's instructions and the checklist with who ticked
//!   each item and when; fields hold the gate, the evidence and the failure paths.
//! - components: action rows (type 1) of buttons (type 2). Items first, five to a row,
//!   Secondary (2) while unticked and Success (3) once ticked, labelled with the item's
//!   text; then the controls: the gate, the only Primary (1) button, disabled until every
//!   item is ticked and the evidence is recorded; Reject beside it on every gate
//!   (Danger, 4); the evidence forms and the freeze-override approval
//!   (Secondary); one button per failure path (Danger, 4). A closed card has every
//!   button disabled. No embed title is used.
//!
//! # Limits
//!
//! Every text is cut to Discord's limits with an ellipsis: content 2000, embed
//! description 4096, field values 1024, the embed as a whole 6000, button labels 80;
//! custom ids are at most 100 characters by construction ([`super::custom_id`]).
//!
//! At most 5 rows of 5 buttons fit a message. When a step has more controls than that:
//! 1. items and controls share rows, if all 25 slots are enough;
//! 2. otherwise Reject goes first (the failure paths offer the same way out), the
//!    controls keep at most two rows (the gate always first), and the items get the
//!    rows left: unticked items before ticked ones, so what still needs doing has a
//!    button. Each item without a button is still listed with its state, and the card
//!    says so; as items get ticked, the next ones get buttons.
//!
//! A long checklist is listed with item texts shortened to fit the description.

use super::custom_id::{ClickTarget, CustomIdError, Element, ModalForm, ModalTarget};
use super::rest::FileAttachment;
use crate::chat::form::{self, Input};
use crate::domain::card::rollback_notice::{NoticeState, RollbackNotice};
use crate::domain::card::{Banner, Card, CardState, ClosedWhy, StepRef};
use crate::domain::release::{no_known_good_target, HookOutcome, Status};
use serde_json::{json, Value};

/// Discord's limits, from its documentation.
pub mod watch;

pub mod limit {
    pub const CONTENT: usize = 2000;
    pub const EMBED_TITLE: usize = 256;
    pub const EMBED_DESCRIPTION: usize = 4096;
    pub const EMBED_FIELDS: usize = 25;
    pub const EMBED_FIELD_NAME: usize = 256;
    pub const EMBED_FIELD_VALUE: usize = 1024;
    pub const EMBED_FOOTER: usize = 2048;
    pub const EMBED_TOTAL: usize = 6000;
    pub const ROWS: usize = 5;
    pub const BUTTONS_PER_ROW: usize = 5;
    pub const BUTTON_LABEL: usize = 80;
    pub const MODAL_TITLE: usize = 45;
    pub const INPUT_LABEL: usize = 45;
    pub const INPUT_PLACEHOLDER: usize = 100;
}

/// Button styles.
pub mod style {
    pub const PRIMARY: u8 = 1;
    pub const SECONDARY: u8 = 2;
    pub const SUCCESS: u8 = 3;
    pub const DANGER: u8 = 4;
}

// Interaction response types and message flags.
const UPDATE_MESSAGE: u8 = 7;
const CHANNEL_MESSAGE: u8 = 4;
const MODAL: u8 = 9;
// A text display component (type 10): plain text in a modal.
const TEXT_DISPLAY: u8 = 10;
pub const EPHEMERAL: u32 = 64;

const COLOR_OPEN: u32 = 0x5865F2;
const COLOR_PASSED: u32 = 0x57F287;
const COLOR_TROUBLE: u32 = 0xED4245;
const COLOR_INACTIVE: u32 = 0x99AAB5;

/// The two controls rows kept when not everything fits (see the module docs).
const MAX_CONTROL_ROWS: usize = 2;
/// Item texts in a checklist too long for the description are shortened to this.
const COMPACT_ITEM_CHARS: usize = 100;
/// The most of a rollback hook's output (or response body) the card shows: its end.
const HOOK_DETAIL_CHARS: usize = 600;

/// The body of a create-message or edit-message request for `card`.
pub fn message(card: &Card) -> Value {
    // Only the release id can make an id unencodable, and shipgate generates UUIDs; a
    // card that cannot carry ids is still shown, without buttons.
    let laid_out = match ClickTarget::on(card, Element::Gate).encode() {
        Ok(_) => Some(layout(card)),
        Err(_) => None,
    };
    let components: Vec<Value> = laid_out
        .as_ref()
        .map(|l| {
            l.rows
                .iter()
                .map(|row| json!({ "type": 1, "components": row.iter().map(|b| b.json(card)).collect::<Vec<_>>() }))
                .collect()
        })
        .unwrap_or_default();
    let note = match &laid_out {
        None => Some("⚠️ This card's buttons are unavailable: its release id cannot be named in a button.".to_owned()),
        Some(l) if !l.without_button.is_empty() => Some(format!(
            "🔽 {} of {} items have no button here (a message holds 25 buttons); unticked items get theirs first.",
            l.without_button.len(),
            card.items.len()
        )),
        Some(_) => None,
    };
    json!({
        "content": header(card),
        "embeds": [embed(card, note.as_deref())],
        "components": components,
        "allowed_mentions": { "parse": [] },
    })
}

/// The rollback notice: what was deployed, what broke, what was rolled back, and a link
/// to the release thread. The same message goes to the thread and every incident channel.
/// Where a rollback notice points people to work the release.
#[derive(Debug, Clone, Copy)]
pub enum ThreadRef<'a> {
    /// The notice is in the thread itself.
    Here,
    /// A Discord thread, mentioned so it opens in the client.
    Discord(&'a str),
    /// A thread on another platform, as a link.
    Url(&'a str),
    /// The release has no thread (it was started from the API or CLI).
    None,
}

/// The rollback notice as a message: the headline, then what was deployed, what broke and
/// what was rolled back, with the chart (`chart`, attached to the same message) as the
/// embed's image.
pub fn rollback_notice(notice: &RollbackNotice, thread: &ThreadRef<'_>, chart: Option<&FileAttachment>) -> Value {
    let section = |lines: &[String]| {
        let text = lines.iter().map(|l| format!("• {}", escape(l))).collect::<Vec<_>>().join("\n");
        clip(&text, limit::EMBED_FIELD_VALUE)
    };
    let color = match notice.state {
        NoticeState::Underway => COLOR_TROUBLE,
        NoticeState::Recovered => COLOR_PASSED,
    };
    let headline = notice.state.headline(&notice.name);
    let content = match thread {
        ThreadRef::Here => format!("**{headline}**"),
        ThreadRef::Discord(id) => format!("**{headline}** · thread <#{id}>"),
        ThreadRef::Url(url) => format!("**{headline}** · thread {url}"),
        ThreadRef::None => format!("**{headline}** · release {}", notice.release_id),
    };
    let mut embed = json!({
        "color": color,
        "fields": [
            { "name": "What was deployed", "value": section(&notice.deployed), "inline": false },
            { "name": "What broke", "value": section(&notice.broke), "inline": false },
            { "name": "What was rolled back", "value": section(&notice.rolled_back), "inline": false },
        ],
        "footer": { "text": clip(&format!("release {}", notice.release_id), limit::EMBED_FOOTER) },
    });
    if let Some(chart) = chart {
        embed["image"] = json!({ "url": chart.url() });
    }
    json!({
        "content": clip(&content, limit::CONTENT),
        "embeds": [embed],
        "allowed_mentions": { "parse": [] },
    })
}

/// The response to a click that re-renders the clicked card (UPDATE_MESSAGE).
pub fn update_message(card: &Card) -> Value {
    json!({ "type": UPDATE_MESSAGE, "data": message(card) })
}

/// A reply only the clicking person sees: why a click was refused, and what to do.
pub fn ephemeral(text: &str) -> Value {
    json!({
        "type": CHANNEL_MESSAGE,
        "data": { "content": clip(text, limit::CONTENT), "flags": EPHEMERAL, "allowed_mentions": { "parse": [] } },
    })
}

/// The modal (response type 9) for `which`, opened from `card`: the form's context as a
/// text display, then one text input per row. Fails only when the card's release id
/// cannot be named in a custom id.
pub fn modal(card: &Card, which: ModalForm) -> Result<Value, CustomIdError> {
    let custom_id = ModalTarget::on(card, which).encode()?;
    let form = form::form(card, which);
    let heading = form.heading.iter().map(|heading| format!("**{}**", escape(heading)));
    let context: Vec<String> = heading.chain(form.context.iter().map(|context| escape(context))).collect();
    let mut components = Vec::new();
    if !context.is_empty() {
        components.push(json!({ "type": TEXT_DISPLAY, "content": clip(&context.join("\n"), limit::CONTENT) }));
    }
    components.extend(form.inputs.iter().map(|input| json!({ "type": 1, "components": [text_input(input)] })));
    Ok(json!({
        "type": MODAL,
        "data": {
            "custom_id": custom_id,
            "title": clip(&format!("{} · {}", form.title, step_words(card)), limit::MODAL_TITLE),
            "components": components,
        },
    }))
}

/// A text input (component type 4) for one of the form's inputs.
fn text_input(input: &Input) -> Value {
    let mut json = json!({
        "type": 4,
        "custom_id": input.name,
        "style": if input.multiline { 2 } else { 1 },
        "label": clip(input.label, limit::INPUT_LABEL),
        "required": input.required,
        "max_length": input.max_length,
    });
    if let Some(value) = &input.value {
        json["value"] = json!(clip(value, input.max_length));
    }
    if let Some(placeholder) = input.placeholder {
        json["placeholder"] = json!(clip(placeholder, limit::INPUT_PLACEHOLDER));
    }
    json
}

// ----------------------------------------------------------------------------------------
// Header and body
// ----------------------------------------------------------------------------------------

/// Two lines: title, progress and release; then who started it, when, which attempt.
fn header(card: &Card) -> String {
    // The playbook's title and the release line are plain: service names are letters,
    // digits, '-', '_' and '.', and Discord leaves an underscore inside a word alone.
    let first = format!("{} · {} · {}", card.title, card.progress.bar(), card.release.text());
    let mut second = format!("-# started by {} · {}", escape(&card.release.started.by), card.release.started.local);
    if card.attempt > 1 {
        second.push_str(&format!(" · attempt {}", card.attempt));
    }
    clip(&format!("{first}\n{second}"), limit::CONTENT)
}

fn embed(card: &Card, note: Option<&str>) -> Value {
    let mut fields = vec![("Gate".to_owned(), gate_field(card))];
    if !card.evidence.is_empty() {
        let lines: Vec<String> = card.evidence.iter().map(|e| format!("• {}", escape(&e.text()))).collect();
        fields.push(("Evidence".to_owned(), lines.join("\n")));
    }
    if !card.failure_paths.is_empty() {
        let lines: Vec<String> = card
            .failure_paths
            .iter()
            .map(|p| {
                let note = if p.note_required { " (note required)" } else { "" };
                format!("• **{}** → {}{note}", escape(&p.label), escape(&p.leads_to))
            })
            .collect();
        fields.push(("If it goes wrong".to_owned(), lines.join("\n")));
    }
    let fields: Vec<(String, String)> = fields
        .into_iter()
        .take(limit::EMBED_FIELDS)
        .map(|(name, value)| (clip(&name, limit::EMBED_FIELD_NAME), clip(&value, limit::EMBED_FIELD_VALUE)))
        .collect();
    let footer = clip(
        &format!("release {} · {} · attempt {}", card.release_id, card.step_id, card.attempt),
        limit::EMBED_FOOTER,
    );

    // The description gets whatever the rest of the embed leaves of the 6000.
    let rest: usize = fields.iter().map(|(n, v)| chars(n) + chars(v)).sum::<usize>() + chars(&footer);
    let budget = limit::EMBED_DESCRIPTION.min(limit::EMBED_TOTAL.saturating_sub(rest));
    let full = description(card, note, false);
    let description = if chars(&full) <= budget { full } else { clip(&description(card, note, true), budget) };

    json!({
        "description": description,
        "color": color(card),
        "fields": fields.iter().map(|(name, value)| json!({ "name": name, "value": value })).collect::<Vec<_>>(),
        "footer": { "text": footer },
    })
}

/// The body: why the card is closed, banners, rollback particulars, instructions, checklist.
/// `compact` shortens item texts and leaves out guidance, for long checklists.
fn description(card: &Card, note: Option<&str>, compact: bool) -> String {
    let mut lines = Vec::new();
    if let CardState::Closed { why } = &card.state {
        lines.push(format!("{} **{}**", closed_icon(why), escape(&why.text())));
    }
    for banner in &card.banners {
        lines.push(format!("{} {}", banner_icon(banner), escape(&banner.text())));
    }
    if let Some(r) = &card.rollback {
        lines.push(format!("**Rolling back from {}:** {}", escape(&r.from), escape(&r.reason)));
        lines.push(format!("-# rollback started by {} · {}", escape(&r.started.by), r.started.local));
        match &r.target {
            Some(t) => lines.push(format!("Production goes back to {} ({})", t.version, t.digest.short())),
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
            if let Some(detail) = hook.outcome.as_ref().map(HookOutcome::detail).filter(|d| !d.is_empty()) {
                lines.push(code_block(&tail(detail, HOOK_DETAIL_CHARS)));
            }
        }
    }
    if !card.summary.is_empty() {
        lines.push(escape(&card.summary));
    }
    if !compact {
        lines.extend(card.guidance.iter().map(|g| format!("• {}", escape(g))));
    }
    for item in &card.items {
        let text = if compact { clip(&item.text, COMPACT_ITEM_CHARS) } else { item.text.clone() };
        lines.push(match &item.ticked {
            Some(stamp) => format!("✅ {} — {}, {}", escape(&text), escape(&stamp.by), stamp.local),
            None => format!("⬜ {}", escape(&text)),
        });
    }
    if let Some(note) = note {
        lines.push(note.to_owned());
    }
    lines.join("\n")
}

fn gate_field(card: &Card) -> String {
    let gate = &card.gate;
    let mut lines = vec![escape(&gate.rule)];
    if !gate.text.is_empty() {
        lines.push(format!("> {}", escape(&gate.text)));
    }
    let approvals = &gate.approvals;
    if approvals.required > 0 {
        let who: Vec<String> = approvals.given.iter().map(|s| format!("{} ({})", escape(&s.by), s.local)).collect();
        let mut line = format!("Approvals {}/{}", approvals.given.len(), approvals.required);
        if !who.is_empty() {
            line.push_str(&format!(": {}", who.join(", ")));
        }
        if let Some(digest) = &gate.approved_digest {
            line.push_str(&format!(" · for artifact `{}`", digest.short()));
        }
        lines.push(line);
    }
    if let Some(rejected) = &gate.rejected {
        lines.push(format!("✖ {}", escape(&rejected.text())));
    }
    if let Some(evidence) = &gate.evidence {
        lines.push(match (&evidence.waiting_for, evidence.recorded) {
            (_, true) => format!("Evidence ✅ {}", escape(&evidence.what)),
            (Some(missing), false) => format!("Evidence ⏳ waiting for {}", escape(missing)),
            // A closed card whose evidence never came.
            (None, false) => format!("Evidence ⬜ {}", escape(&evidence.what)),
        });
    }
    // Where an open gate stands; missing evidence is on its own line above.
    if card.is_open() && gate.unticked > 0 {
        let boxes = if gate.unticked == 1 { "box" } else { "boxes" };
        lines.push(format!("⏳ {} {boxes} to tick", gate.unticked));
    } else if card.is_open() && gate.can_pass {
        lines.push(if approvals.required == 0 {
            "✅ ready: passes by itself".to_owned()
        } else {
            let left = (approvals.required as usize).saturating_sub(approvals.given.len());
            let noun = if left == 1 { "approval" } else { "approvals" };
            format!("✅ ready for {left} more {noun}")
        });
    }
    lines.join("\n")
}

fn color(card: &Card) -> u32 {
    match &card.state {
        CardState::Open if card.step == StepRef::Rollback => COLOR_TROUBLE,
        CardState::Open => COLOR_OPEN,
        CardState::Closed { why: ClosedWhy::GatePassed { .. } } => COLOR_PASSED,
        CardState::Closed { why: ClosedWhy::RollingBack } => COLOR_TROUBLE,
        CardState::Closed { why: ClosedWhy::ReleaseFinished { status, .. } } if *status != Status::Completed => {
            COLOR_TROUBLE
        }
        CardState::Closed { .. } => COLOR_INACTIVE,
    }
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

/// `Step 2`, or `Rollback`, for modal titles.
fn step_words(card: &Card) -> String {
    match card.step {
        StepRef::Step(index) => format!("Step {}", index + 1),
        StepRef::Rollback => "Rollback".to_owned(),
    }
}

// ----------------------------------------------------------------------------------------
// Buttons
// ----------------------------------------------------------------------------------------

struct Button {
    element: Element,
    style: u8,
    label: String,
    disabled: bool,
}

impl Button {
    fn json(&self, card: &Card) -> Value {
        // `message` checked that this card's ids encode; they differ only in the element.
        let custom_id = ClickTarget::on(card, self.element).encode().unwrap_or_default();
        json!({
            "type": 2,
            "style": self.style,
            "label": clip(&self.label, limit::BUTTON_LABEL),
            "custom_id": custom_id,
            "disabled": self.disabled,
        })
    }
}

struct Layout {
    rows: Vec<Vec<Button>>,
    /// Indexes of the items that got no button.
    without_button: Vec<usize>,
}

fn layout(card: &Card) -> Layout {
    let closed = !card.is_open();
    let items: Vec<Button> = card
        .items
        .iter()
        .enumerate()
        .map(|(index, item)| Button {
            element: if item.is_ticked() { Element::Untick(index) } else { Element::Item(index) },
            style: if item.is_ticked() { style::SUCCESS } else { style::SECONDARY },
            label: if item.is_ticked() { format!("✓ {}", item.text) } else { item.text.clone() },
            disabled: closed,
        })
        .collect();

    // In the order they are kept when space runs out: the gate first, Reject last.
    let mut controls = vec![Button {
        element: Element::Gate,
        style: style::PRIMARY,
        label: gate_label(card),
        disabled: closed || !card.gate.can_pass,
    }];
    controls.extend(card.inputs.evidence.iter().map(|&kind| Button {
        element: Element::Evidence(kind),
        style: style::SECONDARY,
        label: format!("{}…", kind.label()),
        disabled: closed,
    }));
    if card.inputs.run_rollback_hook {
        controls.push(Button {
            element: Element::RunHook,
            // Danger is kept for the ways out (failure paths, Reject); this runs the way out
            // already taken.
            style: style::SECONDARY,
            label: "Run rollback hook".to_owned(),
            disabled: closed,
        });
    }
    if card.inputs.approve_override {
        controls.push(Button {
            element: Element::ApproveOverride,
            style: style::SECONDARY,
            label: "Approve freeze override".to_owned(),
            disabled: closed,
        });
    }
    controls.extend(card.failure_paths.iter().enumerate().map(|(index, path)| Button {
        element: Element::FailurePath(index),
        style: style::DANGER,
        label: path.label.clone(),
        disabled: closed,
    }));
    let reject = card.gate.reject.as_ref().map(|_| Button {
        element: Element::Reject,
        style: style::DANGER,
        label: "Reject…".to_owned(),
        disabled: closed,
    });

    let slots = limit::ROWS * limit::BUTTONS_PER_ROW;
    let rows_for = |n: usize| n.div_ceil(limit::BUTTONS_PER_ROW);
    let all_controls = controls.len() + usize::from(reject.is_some());
    if rows_for(items.len()) + rows_for(all_controls) <= limit::ROWS {
        // Reject sits next to the gate it rejects.
        if let Some(reject) = reject {
            controls.insert(1, reject);
        }
        let mut rows = chunks(items);
        rows.extend(chunks(controls));
        return Layout { rows, without_button: Vec::new() };
    }
    if items.len() + all_controls <= slots {
        if let Some(reject) = reject {
            controls.insert(1, reject);
        }
        let mut all = items;
        all.extend(controls);
        return Layout { rows: chunks(all), without_button: Vec::new() };
    }

    controls.truncate(MAX_CONTROL_ROWS * limit::BUTTONS_PER_ROW);
    let item_slots = (limit::ROWS - rows_for(controls.len())) * limit::BUTTONS_PER_ROW;
    // Unticked items first (the sort is stable: playbook order within each group), so
    // what still needs doing keeps a button.
    let mut order: Vec<usize> = (0..card.items.len()).collect();
    order.sort_by_key(|&i| card.items[i].is_ticked());
    let mut without_button = order[item_slots.min(order.len())..].to_vec();
    without_button.sort_unstable();
    let kept: Vec<Button> = items
        .into_iter()
        .enumerate()
        .filter(|(index, _)| without_button.binary_search(index).is_err())
        .map(|(_, button)| button)
        .collect();
    let mut rows = chunks(kept);
    rows.extend(chunks(controls));
    Layout { rows, without_button }
}

fn gate_label(card: &Card) -> String {
    let gate = &card.gate;
    if gate.passed_by.is_some() {
        return if card.step == StepRef::Rollback { "✓ Rollback finished" } else { "✓ Gate passed" }.to_owned();
    }
    match gate.approvals.required {
        0 => "Passes by itself".to_owned(),
        _ if card.step == StepRef::Rollback => "Finish rollback →".to_owned(),
        1 => "Pass gate →".to_owned(),
        required => format!("Approve ({}/{required}) →", gate.approvals.given.len()),
    }
}

fn chunks(buttons: Vec<Button>) -> Vec<Vec<Button>> {
    let mut rows: Vec<Vec<Button>> = Vec::new();
    for button in buttons {
        match rows.last_mut() {
            Some(row) if row.len() < limit::BUTTONS_PER_ROW => row.push(button),
            _ => rows.push(vec![button]),
        }
    }
    rows
}

// ----------------------------------------------------------------------------------------
// Modal inputs
// ----------------------------------------------------------------------------------------

// ----------------------------------------------------------------------------------------
// Text
// ----------------------------------------------------------------------------------------

/// `text` shown verbatim in a code block; backticks in it cannot close the block early.
fn code_block(text: &str) -> String {
    let fence = "`".repeat(3);
    format!("{fence}\n{}\n{fence}", text.replace('`', "\u{2035}"))
}

/// The last `max` characters of `text`, starting with an ellipsis when cut: the end of
/// a program's output is what says how it went.
fn tail(text: &str, max: usize) -> String {
    let count = chars(text);
    if count <= max {
        return text.to_owned();
    }
    std::iter::once('…').chain(text.chars().skip(count - max.saturating_sub(1))).collect()
}

/// Length as Discord's limits count it: characters.
fn chars(text: &str) -> usize {
    text.chars().count()
}

/// `text` cut to `max` characters, ending with an ellipsis when cut.
fn clip(text: &str, max: usize) -> String {
    if chars(text) <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    // A cut escape would escape the ellipsis instead.
    let trailing = cut.chars().rev().take_while(|&c| c == '\\').count();
    if trailing % 2 == 1 {
        cut.pop();
    }
    cut.push('…');
    cut
}

/// Text from people and playbooks shown as itself, not as markdown: one line, with the
/// characters that format, link or mention escaped. Mentions never ping regardless,
/// since every message sets `allowed_mentions` to parse nothing.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '*' | '_' | '~' | '`' | '|' | '<' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
