//! `/release lock` and `/release unlock`: the slash commands' options turned into a lock
//! request, and the answers in words. The rules are the domain's; the announcement in the
//! release channel goes through the outbox.

use super::interaction::SlashCommand;
use crate::app::locks::LockOutcome;
use crate::app::{App, AppError};
use crate::domain::lock::{Lock, LockMode, LockRequest};
use crate::domain::{Actor, ChatChannel, ChatPlatform, RequestId};
use chrono_tz::Tz;

/// Locks what the command names; answers the person who typed it.
pub(super) async fn lock(
    app: &App,
    command: &SlashCommand,
    channel: Option<&str>,
    actor: Actor,
    request: RequestId,
) -> Result<String, AppError> {
    let text = |name: &str| command.text(name).map(str::to_owned);
    let request_lock = LockRequest {
        service: text("service").unwrap_or_default(),
        reason: text("reason").unwrap_or_default(),
        duration: text("for"),
        environment: text("environment").filter(|e| !e.trim().is_empty()),
        warn: command.flag("warn").unwrap_or(false),
    };
    let LockOutcome { lock, .. } = app.lock(request_lock, actor, request).await?;
    let effect = match lock.mode {
        LockMode::Block => "its gate and deploys are refused",
        LockMode::Warn => "a warning on the cards; gates still pass",
    };
    Ok(format!(
        "🔒 Locked **{}** until {}: {} — {effect}. It is announced in the release channel; `/release unlock service:{}` lifts it.",
        lock.scope(),
        local(&lock, time_zone(app, channel)),
        lock.reason,
        lock.service
    ))
}

/// Lifts the lock the command names.
pub(super) async fn unlock(
    app: &App,
    command: &SlashCommand,
    actor: Actor,
    request: RequestId,
) -> Result<String, AppError> {
    let service = command.text("service").unwrap_or_default();
    let LockOutcome { lock, .. } = app.unlock_scope(service, command.text("environment"), actor, request).await?;
    Ok(format!(
        "🔓 Unlocked **{}** (locked by {}: {}). It is announced in the release channel.",
        lock.scope(),
        lock.by.display_name,
        lock.reason
    ))
}

/// The locks in force, one line each, for `/release list`.
pub(super) async fn lines(app: &App, channel: Option<&str>) -> Result<Vec<String>, AppError> {
    let tz = time_zone(app, channel);
    Ok(app
        .active_locks(None, app.now())
        .await?
        .iter()
        .map(|lock| {
            let warn = if lock.mode == LockMode::Warn { " (warning only)" } else { "" };
            format!(
                "🔒 **{}** locked by {} until {}: {}{warn} · `{}`",
                lock.scope(),
                lock.by.display_name,
                local(lock, tz),
                lock.reason,
                lock.id
            )
        })
        .collect())
}

fn time_zone(app: &App, channel: Option<&str>) -> Tz {
    let channel = channel.map(|id| ChatChannel::new(ChatPlatform::Discord, id));
    app.freeze_for(channel.as_ref()).timezone()
}

fn local(lock: &Lock, tz: Tz) -> String {
    lock.until.with_timezone(&tz).format("%a %-d %b %H:%M %Z").to_string()
}
