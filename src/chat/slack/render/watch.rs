//! The monitoring card as a Slack message: one message in the release thread, updated at
//! every sample. Its buttons name the release's current step card (so a click is checked
//! against where the release is), with the watch's own elements.

use super::{
    button, clip_mrkdwn, code_block, confirm, context_block, escape, fit_lines, header_block, limit, section_block,
    Style,
};
use crate::chat::target::{ClickTarget, Element};
use crate::domain::card::watch::{CriterionState, WatchCard};
use crate::domain::card::StepRef;
use serde_json::{json, Value};

/// The alerts shown: the newest, since the card is edited for as long as the watch runs.
const ALERTS_SHOWN: usize = 5;

/// The message for `card`; `buttons_on` is the step card the buttons name (the release's
/// current step and attempt), `None` for a card without buttons.
pub fn message(card: &WatchCard, buttons_on: Option<(StepRef, u32)>) -> Value {
    let headline = card.state.headline();
    let mut blocks = vec![
        header_block(&card.title),
        section_block(&format!("*{}*", escape(&headline))),
        context_block(&[escape(&card.progress)]),
        section_block(&format!("*Metrics · now vs baseline*\n{}", code_block(&metrics_table(card)))),
    ];
    let mut criteria = vec!["*Rollback criteria*".to_owned()];
    criteria.extend(card.criteria.iter().map(|c| {
        let mark = match c.state {
            CriterionState::Ok => "🟢",
            CriterionState::Near => "🟡",
            CriterionState::Tripped => "🔴",
            CriterionState::Blind => "⚫",
            CriterionState::Waiting => "⏳",
        };
        let bar = c.bar.as_deref().map(|b| format!(" `{}`", escape(b))).unwrap_or_default();
        format!("{mark} *{}*{bar}\n      {}", escape(&c.rule), escape(&c.status))
    }));
    blocks.push(section_block(&fit_lines(&criteria, limit::SECTION_TEXT)));
    if !card.blind.is_empty() {
        let mut lines = vec!["*⚫ Blind: the release cannot complete on missing data without a reason*".to_owned()];
        lines.extend(card.blind.iter().map(|b| format!("• {}", escape(b))));
        blocks.push(section_block(&fit_lines(&lines, limit::SECTION_TEXT)));
    }
    if !card.alerts.is_empty() {
        let mut lines = vec!["*Alerts*".to_owned()];
        lines.extend(card.alerts.iter().rev().take(ALERTS_SHOWN).map(|a| format!("• {}", escape(a))));
        blocks.push(section_block(&fit_lines(&lines, limit::SECTION_TEXT)));
    }
    if !card.notes.is_empty() {
        let notes: Vec<String> = card.notes.iter().map(|n| escape(n)).collect();
        blocks.push(context_block(&[fit_lines(&notes, limit::TEXT_OBJECT)]));
    }
    blocks.push(context_block(&[format!(
        "{} · release {}",
        escape(&card.last_sample),
        escape(card.release_id.as_str())
    )]));

    let buttons: Vec<Value> = buttons_on
        .into_iter()
        .filter(|_| card.can_report_broken_flow)
        .flat_map(|(step, attempt)| {
            let target =
                |element| ClickTarget { release: card.release_id.clone(), step, attempt, element }.encode().ok();
            let mut row = Vec::new();
            if let Some(id) = target(Element::BrokenFlow) {
                let confirm = confirm(
                    "Report a broken flow?",
                    "Production rolls back at once. You will be asked which flow is broken, and how.",
                    "Report it",
                );
                row.push(button(&id, "Critical flow broken", Some(Style::Danger), Some(confirm)));
            }
            if !card.blind.is_empty() {
                if let Some(id) = target(Element::AcceptBlind) {
                    row.push(button(&id, "Complete without this data…", None, None));
                }
            }
            row
        })
        .collect();
    if !buttons.is_empty() {
        blocks.push(json!({ "type": "actions", "elements": buttons }));
    }
    let text = format!("{} · {} · {}", card.title, headline, card.progress);
    json!({ "text": clip_mrkdwn(&escape(&text), limit::MESSAGE_TEXT), "blocks": blocks })
}

/// A fixed-width table, so the columns line up in Slack's code block.
fn metrics_table(card: &WatchCard) -> String {
    let mut lines = vec![format!("{:<21}{:>10}{:>10}{:>7}", "", "now", "baseline", "ratio")];
    for row in &card.metrics {
        lines.push(format!(
            "{:<21}{:>10}{:>10}{:>7}",
            row.label,
            row.now,
            row.baseline,
            row.ratio.as_deref().unwrap_or("")
        ));
    }
    lines.join("\n")
}
