//! The monitoring card as a Discord message: one message in the release thread, edited at
//! every sample. Its buttons name the release's current step card (so a click is checked
//! against where the release is), with the watch's own elements.

use super::{clip, escape, limit, style, COLOR_INACTIVE, COLOR_OPEN, COLOR_PASSED, COLOR_TROUBLE};
use crate::chat::discord::custom_id::{ClickTarget, Element};
use crate::domain::card::watch::{CriterionState, WatchCard, WatchCardState};
use crate::domain::card::StepRef;
use serde_json::{json, Value};

/// The message for `card`; `buttons_on` is the step card the buttons name (the release's
/// current step and attempt), `None` for a card without buttons.
pub fn message(card: &WatchCard, buttons_on: Option<(StepRef, u32)>) -> Value {
    let color = match card.state {
        WatchCardState::Watching if card.criteria.iter().any(|c| c.state == CriterionState::Near) => 0xFEE75C,
        WatchCardState::Watching => COLOR_OPEN,
        WatchCardState::Healthy => COLOR_PASSED,
        WatchCardState::RolledBack { .. } => COLOR_TROUBLE,
        WatchCardState::Ended => COLOR_INACTIVE,
    };
    let mut fields = vec![field("Metrics · now vs baseline", metrics_table(card), false)];
    let criteria: Vec<String> = card
        .criteria
        .iter()
        .map(|c| {
            let mark = match c.state {
                CriterionState::Ok => "🟢",
                CriterionState::Near => "🟡",
                CriterionState::Tripped => "🔴",
                CriterionState::Blind => "⚫",
                CriterionState::Waiting => "⏳",
            };
            let bar = c.bar.as_deref().map(|b| format!(" `{b}`")).unwrap_or_default();
            format!("{mark} **{}**{bar}\n   {}", escape(&c.rule), escape(&c.status))
        })
        .collect();
    fields.push(field("Rollback criteria", criteria.join("\n"), false));
    if !card.blind.is_empty() {
        let lines: Vec<String> = card.blind.iter().map(|b| format!("• {}", escape(b))).collect();
        fields.push(field(
            "⚫ Blind: the release cannot complete on missing data without a reason",
            lines.join("\n"),
            false,
        ));
    }
    if !card.alerts.is_empty() {
        let lines: Vec<String> = card.alerts.iter().rev().take(5).map(|a| format!("• {}", escape(a))).collect();
        fields.push(field("Alerts", lines.join("\n"), false));
    }
    if !card.notes.is_empty() {
        fields.push(field("Notes", card.notes.iter().map(|n| escape(n)).collect::<Vec<_>>().join("\n"), false));
    }
    let embed = json!({
        "title": clip(&card.state.headline(), limit::EMBED_TITLE),
        "description": clip(&card.progress, limit::EMBED_DESCRIPTION),
        "color": color,
        "fields": fields,
        "footer": { "text": clip(&card.last_sample, limit::EMBED_FOOTER) },
    });
    let buttons: Vec<Value> = buttons_on
        .into_iter()
        .flat_map(|(step, attempt)| {
            let release = card.release_id.clone();
            let target = move |element| ClickTarget { release: release.clone(), step, attempt, element }.encode().ok();
            let mut row = Vec::new();
            if card.can_report_broken_flow {
                if let Some(id) = target(Element::BrokenFlow) {
                    row.push(json!({ "type": 2, "style": style::DANGER, "label": "Critical flow broken", "custom_id": id }));
                }
                if !card.blind.is_empty() {
                    if let Some(id) = target(Element::AcceptBlind) {
                        row.push(json!({
                            "type": 2, "style": style::SECONDARY, "label": "Complete without this data…", "custom_id": id
                        }));
                    }
                }
            }
            row
        })
        .collect();
    let components: Vec<Value> =
        if buttons.is_empty() { Vec::new() } else { vec![json!({ "type": 1, "components": buttons })] };
    json!({
        "content": clip(&format!("**{}**", card.title), limit::CONTENT),
        "embeds": [embed],
        "components": components,
        "allowed_mentions": { "parse": [] },
    })
}

fn field(name: &str, value: String, inline: bool) -> Value {
    let value = if value.is_empty() { "—".to_owned() } else { value };
    json!({ "name": clip(name, limit::EMBED_FIELD_NAME), "value": clip(&value, limit::EMBED_FIELD_VALUE), "inline": inline })
}

/// A fixed-width table, so the columns line up in Discord's code block.
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
    format!("```\n{}\n```", lines.join("\n"))
}
