//! What shipgate says in Slack besides cards: the release's parent message (its `ts` is
//! the thread), lines in the thread, the rollback notice for the thread and the incident
//! channels, a bug triage's first message, the stall ping, and the lock and drill
//! announcements in the release channel. Each returns a message body
//! `{"text", "blocks"}`.

use super::{clip_mrkdwn, context_block, escape, fit_lines, header_block, limit, link, plain, section_block};
use crate::app::delivery::ThreadLink;
use crate::app::drills::DrillReminderNotice;
use crate::app::locks::{LockNews, LockNotice};
use crate::app::notices::NoticeKind;
use crate::domain::card::rollback_notice::RollbackNotice;
use crate::domain::drill::human_duration;
use crate::domain::lock::{LockEnd, LockMode};
use crate::domain::release::{Release, TriageOrigin};
use crate::domain::ChatPlatform;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A message of one section of escaped mrkdwn, with the same words as its `text`.
fn said(text: &str) -> Value {
    let text = clip_mrkdwn(text, limit::SECTION_TEXT);
    json!({ "text": text, "blocks": [section_block(&text)] })
}

/// The release's parent message in the release channel: what ships, from which commit,
/// by whom. Posted when the release opens and updated when it is retargeted; its `ts` is
/// the release thread.
pub fn release_message(release: &Release) -> Value {
    let sha = short(release.git_sha.as_str());
    let text = match &release.triage_of {
        Some(origin) => format!(
            "🐞 *Bug triage · {}* · `{}` · opened by {} after the rollback",
            escape(&origin.name),
            escape(sha),
            escape(&release.started.by.display_name)
        ),
        None => format!(
            "🚀 *{} {}* · `{}` · started by {} · {}",
            escape(release.service.as_str()),
            escape(release.version.as_str()),
            escape(sha),
            escape(&release.started.by.display_name),
            if release.hotfix { "hotfix" } else { "release" }
        ),
    };
    said(&text)
}

/// A line in the release thread for `what`; `None` for the notices with their own
/// message (the release opening, cards, the rollback notice, the stall ping, the watch).
/// `linked` is the triage's thread, for [`NoticeKind::TriageOpened`].
pub fn thread_line(what: &NoticeKind, release: &Release, linked: Option<&ThreadLink>) -> Option<Value> {
    let name = escape(&format!("{} {}", release.service, release.version));
    let sha = escape(short(release.git_sha.as_str()));
    let text = match what {
        NoticeKind::RollbackCompleted => format!(
            "✅ Rollback of *{name}* done: production runs the previous artifact again; the failed deploy goes to bug \
             triage."
        ),
        NoticeKind::FreezeOverrideRequested => format!(
            "🧊 A freeze override was requested for hotfix *{name}*: {}. A second person with the right role approves \
             it on the card.",
            escape(release.freeze_override.as_ref().map_or("", |o| o.reason.as_str()))
        ),
        NoticeKind::FreezeOverrideApproved => format!(
            "🧊 Freeze override for hotfix *{name}* approved{}.",
            release
                .freeze_override
                .as_ref()
                .and_then(|o| o.approved.as_ref())
                .map_or_else(String::new, |m| format!(" by {}", escape(&m.by.display_name)))
        ),
        NoticeKind::ReleaseFinished => {
            let status = release.status.as_str().replace('_', " ");
            match &release.abort_reason {
                Some(reason) => format!("🛑 *{name}* is {status}: {}", escape(reason)),
                None => format!("🏁 *{name}* is {status}."),
            }
        }
        NoticeKind::Retargeted => match &release.retargeted {
            Some(r) => format!(
                "🎯 *{name}* now ships `{sha}` (was {} · `{}`), retargeted by {}: {}. Step 1 starts over for the new \
                 commit; nothing recorded for the old one counts.",
                escape(r.from_version.as_str()),
                escape(short(r.from_git_sha.as_str())),
                escape(&r.by.by.display_name),
                escape(&r.reason)
            ),
            None => format!("🎯 *{name}* now ships `{sha}`."),
        },
        NoticeKind::TriageOpened => {
            let mut text = format!(
                "🐞 The failed deploy of *{name}* is a bug: its triage is open{}.",
                release.triage.as_ref().map_or_else(String::new, |id| format!(" (release {})", escape(id.as_str())))
            );
            if let Some(link) = linked {
                text.push_str(&format!(" Work it in {}.", thread_link(link)));
            }
            text
        }
        NoticeKind::ReleaseOpened
        | NoticeKind::Card { .. }
        | NoticeKind::RollbackStarted
        | NoticeKind::StallPing { .. }
        | NoticeKind::Watch => return None,
    };
    Some(said(&text))
}

/// The rollback notice: what was deployed, what broke, what was rolled back, and where
/// to follow it. The same message goes to the release thread and every incident channel.
///
/// `thread` is the release's thread to link to (`None` in the thread itself, or for a
/// release without one: the release id is always in the last line). Slack takes files
/// as separate uploads, so the chart is an `image` block only given a public
/// `chart_url`; without one the notice says the chart is in the release thread.
pub fn rollback_notice(notice: &RollbackNotice, thread: Option<&ThreadLink>, chart_url: Option<&str>) -> Value {
    let headline = notice.state.headline(&notice.name);
    let section = |title: &str, lines: &[String]| {
        let mut all = vec![format!("*{title}*")];
        all.extend(lines.iter().map(|l| format!("• {}", escape(l))));
        section_block(&fit_lines(&all, limit::SECTION_TEXT))
    };
    let mut blocks = vec![
        header_block(&headline),
        section("What was deployed", &notice.deployed),
        section("What broke", &notice.broke),
        section("What was rolled back", &notice.rolled_back),
    ];
    if let Some(link) = thread {
        blocks.push(section_block(&format!("🧵 Follow it in {}.", thread_link(link))));
    }
    let chart = notice.chart_metric.map(|m| m.label());
    match (chart, chart_url.filter(|url| (1..=limit::IMAGE_URL).contains(&url.len()))) {
        (Some(metric), Some(url)) => blocks.push(json!({
            "type": "image",
            "image_url": url,
            "alt_text": super::clip(&format!("Chart of the {metric} around the deploy and the rollback"), limit::IMAGE_ALT_TEXT),
            "title": plain(&format!("{metric} · {}", notice.name), limit::TEXT_OBJECT),
        })),
        (Some(metric), None) => {
            let place = match thread {
                Some(link) => thread_link(link),
                None => "the release thread".to_owned(),
            };
            blocks.push(context_block(&[format!("📈 The chart of the {} is in {place}.", escape(metric))]));
        }
        (None, _) => {}
    }
    blocks.push(context_block(&[format!("release {}", escape(notice.release_id.as_str()))]));
    let mut text = escape(&headline);
    if let Some(first) = notice.broke.first() {
        text.push_str(&format!(": {}", escape(first)));
    }
    json!({ "text": clip_mrkdwn(&text, limit::MESSAGE_TEXT), "blocks": blocks })
}

/// The first message of a bug triage's thread: the rollback it starts from, and a link
/// back to the failed release's thread (`linked`).
pub fn triage_origin(origin: &TriageOrigin, linked: Option<&ThreadLink>) -> Value {
    let section = |title: &str, lines: &[String]| {
        let mut all = vec![format!("*{title}*")];
        all.extend(lines.iter().map(|l| format!("• {}", escape(l))));
        section_block(&fit_lines(&all, limit::SECTION_TEXT))
    };
    let back = linked.map_or_else(|| format!("release {}", escape(origin.release_id.as_str())), thread_link);
    let text = format!("🐞 *Bug triage of the rollback of {}* · failed release: {back}", escape(&origin.name));
    json!({
        "text": clip_mrkdwn(&text, limit::MESSAGE_TEXT),
        "blocks": [
            section_block(&text),
            section("What was deployed", &origin.deployed),
            section("What broke", &origin.broke),
            section("What was rolled back", &origin.rolled_back),
            context_block(&[format!("failed release {}", escape(origin.release_id.as_str()))]),
        ],
    })
}

/// The ping of a stalled step: mentions the Slack users and user groups mapped to the
/// step's owners (`mapping`: shipgate role -> Slack ids, `U…`/`W…` users, `S…` groups);
/// roles with no usable mapping are named.
pub fn stall_ping(release: &Release, step: usize, mapping: &BTreeMap<String, Vec<String>>) -> Value {
    let name = escape(&format!("{} {}", release.service, release.version));
    let Some(found) = release.playbook.steps.get(step) else {
        return said(&format!("⏳ *{name}* has had no activity for a while."));
    };
    let owners = if found.owners().is_empty() { &release.playbook.start_roles[..] } else { found.owners() };
    let mut who: Vec<String> = Vec::new();
    for role in owners {
        let mentions: Vec<String> =
            mapping.get(role.as_str()).into_iter().flatten().filter_map(|id| mention(id)).collect();
        if mentions.is_empty() {
            who.push(format!("*{}*", escape(role.as_str())));
        }
        for m in mentions {
            if !who.contains(&m) {
                who.push(m);
            }
        }
    }
    let who = if who.is_empty() { "Everyone working this release".to_owned() } else { who.join(" ") };
    let limit = found.stall_limit().map_or_else(String::new, |l| format!(" for more than {}", minutes_in_words(l)));
    said(&format!(
        "⏳ {who}: *{name}* has had no activity on Step {} — {}{limit}. Pick it up, or say on the card what blocks it.",
        step + 1,
        escape(&found.title),
    ))
}

/// A Slack mention of a user (`U…`, `W…`) or user group (`S…`); `None` for anything else,
/// so a mistyped id in the config cannot inject markup.
fn mention(id: &str) -> Option<String> {
    let well_formed = (2..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    match id.as_bytes().first() {
        Some(b'S') if well_formed => Some(format!("<!subteam^{id}>")),
        Some(b'U' | b'W') if well_formed => Some(format!("<@{id}>")),
        _ => None,
    }
}

fn minutes_in_words(limit: chrono::Duration) -> String {
    let minutes = limit.num_minutes();
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} minutes"),
        (1, 0) => "an hour".to_owned(),
        (h, 0) => format!("{h} hours"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// A lock's start or end, said once in the release channel:
/// `🔒 *api production* locked by Dana until Wed 2 Dec 14:00 EST: migration running — …`.
pub fn lock_message(notice: &LockNotice, time_zone: chrono_tz::Tz) -> Value {
    let lock = &notice.lock;
    let local = |at: DateTime<Utc>| at.with_timezone(&time_zone).format("%a %-d %b %H:%M %Z").to_string();
    let scope = escape(&lock.scope());
    let text = match (notice.what, &lock.ended) {
        (LockNews::Started, _) => {
            let gate = match lock.environment {
                Some(environment) => format!("the gate into {environment} and deploys there"),
                None => "the gates into staging and production and deploys there".to_owned(),
            };
            let effect = match lock.mode {
                LockMode::Block => format!("{gate} are blocked"),
                LockMode::Warn => "warning only: gates still pass".to_owned(),
            };
            format!(
                "🔒 *{scope}* locked by {} until {}: {} — {effect}. (lock `{}`)",
                escape(&lock.by.display_name),
                local(lock.until),
                escape(&lock.reason),
                escape(lock.id.as_str())
            )
        }
        (LockNews::Ended, Some(LockEnd::Unlocked { by, .. })) => format!(
            "🔓 *{scope}* unlocked by {} (locked by {}: {}).",
            escape(&by.display_name),
            escape(&lock.by.display_name),
            escape(&lock.reason)
        ),
        (LockNews::Ended, _) => format!(
            "🔓 The lock on *{scope}* expired at {} (locked by {}: {}).",
            local(lock.until),
            escape(&lock.by.display_name),
            escape(&lock.reason)
        ),
    };
    said(&text)
}

/// A service overdue for a rollback drill, said once in the release channel, with the
/// Slack command that runs one.
pub fn drill_reminder_message(notice: &DrillReminderNotice, time_zone: chrono_tz::Tz) -> Value {
    let standing = &notice.standing;
    let service = escape(standing.service.as_str());
    let dated = |at: DateTime<Utc>| at.with_timezone(&time_zone).format("%a %-d %b %Y").to_string();
    let last = match &standing.last {
        Some(d) => format!(
            "its last rollback drill was {} ago ({} by {}, the rollback took {})",
            human_duration(notice.at - d.completed_at),
            dated(d.completed_at),
            escape(&d.by),
            human_duration(d.duration())
        ),
        None => "it has had no rollback drill since shipgate first saw it".to_owned(),
    };
    said(&format!(
        "⚠️ *{service}* is overdue for a rollback drill (due {}): {last}. Keep the rollback path tested — run \
         `/release drill {service}` to roll staging back and time it.",
        dated(notice.reminder.due_at)
    ))
}

/// A link to a release's thread, on Slack or another platform.
fn thread_link(thread: &ThreadLink) -> String {
    let text = match thread.platform {
        ChatPlatform::Slack => "the release thread",
        ChatPlatform::Discord => "the release thread on Discord",
    };
    link(&thread.url, text)
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

#[cfg(test)]
mod tests;
