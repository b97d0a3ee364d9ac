//! A release as `shipgate release` prints it for people: the step in play (or the
//! rollback procedure while one runs), what is live and what production goes back to,
//! and, with `--history`, every event with who and when, in the team's time zone.
//!
//! Everything is read from the API's JSON with defaults, so a server that adds or omits a
//! field still gets a summary; an event kind this client does not know is printed with
//! its fields rather than dropped.
//!
//! Summaries are built in a `String`, whose `fmt::Write` cannot fail: the `let _ =` on
//! each `write!` discards an always-`Ok` result.

use crate::domain::freeze::FreezeVerdict;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use std::fmt::Write as _;

/// Fields of a `ReleaseView` the summary uses.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ReleaseView {
    pub id: String,
    pub service: String,
    pub version: String,
    pub git_sha: String,
    pub hotfix: bool,
    pub status: String,
    pub started_by: Value,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub abort_reason: Option<String>,
    pub current_step: Option<StepView>,
    pub steps_total: u32,
    pub steps: Vec<StepRow>,
    pub rollback: Option<RollbackView>,
    pub production: Option<DeploymentView>,
    pub follow_ups: Vec<String>,
    pub freeze_at_start: Option<Value>,
    pub retargeted: Option<RetargetView>,
    /// Only in `GET /releases/{id}`: every event, and the team's time zone.
    pub history: Vec<Value>,
    pub time_zone: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct StepView {
    pub number: u32,
    pub id: String,
    pub title: String,
    pub items: Vec<ItemView>,
    pub gate: Option<GateView>,
    pub failure_paths: Vec<FailurePathView>,
}

/// One of the playbook's steps, for naming steps in the history.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct StepRow {
    pub number: u32,
    pub id: String,
    pub title: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ItemView {
    pub id: String,
    pub text: String,
    pub ticked: bool,
    pub ticked_by: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct GateView {
    pub text: String,
    pub ready: bool,
    pub passed: bool,
    pub unticked: Vec<String>,
    pub evidence_missing: Option<String>,
    /// A count, or the list of approvers.
    pub approvals: Value,
    pub approvals_required: u64,
    pub approved_by: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct FailurePathView {
    pub id: String,
    pub label: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RollbackView {
    pub title: String,
    pub from_step: String,
    pub reason: String,
    pub started_by: String,
    pub started_at: Option<String>,
    pub then: Value,
    pub deployed: Option<DeploymentView>,
    pub target: Option<TargetView>,
    /// With no target: there is no known-good artifact, and what the revert takes.
    pub target_note: Option<String>,
    pub items: Vec<ItemView>,
    pub gate: Option<GateView>,
    pub done: bool,
    /// The rollback hook's latest run.
    pub hook: Option<HookView>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct HookView {
    pub attempt: u32,
    pub trigger: String,
    pub requested_by: String,
    pub started_at: Option<String>,
    pub outcome: Option<String>,
    pub detail: Option<String>,
}

/// What the release shipped before it was pointed at the fix's commit.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RetargetView {
    pub from_git_sha: String,
    pub from_version: String,
    pub reason: String,
    pub by: String,
    pub at: Option<String>,
}

/// What production goes back to.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct TargetView {
    pub release_id: String,
    pub version: String,
    pub digest: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct DeploymentView {
    pub digest: String,
    pub strategy: Option<String>,
    pub by: Option<String>,
    pub at: Option<String>,
}

pub(super) fn release_of(value: &Value) -> Option<ReleaseView> {
    ReleaseView::deserialize(value).ok().filter(|r| !r.id.is_empty())
}

pub(super) fn short_sha(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// A person's name from `started_by`: a string, or an actor with a display name.
pub(super) fn who(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(actor) => {
            actor.get("display_name").or_else(|| actor.get("user_id")).and_then(Value::as_str).map(str::to_owned)
        }
        _ => None,
    }
}

/// How times are shown: in the team's time zone when the answer names it (the release's
/// freeze calendar's), else in UTC; always with the zone, so no one guesses.
pub(super) struct Times(chrono_tz::Tz);

impl Times {
    pub(super) fn of(release: &ReleaseView) -> Times {
        Times(release.time_zone.as_deref().and_then(|tz| tz.parse().ok()).unwrap_or(chrono_tz::UTC))
    }

    /// `2026-12-02 05:31:04 EST`; a text that is not an RFC 3339 time is shown as it came.
    pub(super) fn show(&self, at: &str) -> String {
        match DateTime::parse_from_rfc3339(at) {
            Ok(at) => at.with_timezone(&Utc).with_timezone(&self.0).format("%Y-%m-%d %H:%M:%S %Z").to_string(),
            Err(_) => at.to_owned(),
        }
    }

    fn name(&self) -> &'static str {
        self.0.name()
    }
}

/// The release's states a person can no longer act on.
fn finished(status: &str) -> bool {
    matches!(status, "completed" | "rolled_back" | "aborted")
}

/// `api 1.4.0 (3f9c2e1) — active — Step 3/8 Build the Artifact`, then what a person needs
/// to act: the checklist and gate of the step in play (the rollback procedure's while a
/// rollback runs), and with `with_details` who started it, what is in production and the
/// failure paths. A finished release shows how it ended and nothing to act on.
pub(super) fn release_summary(r: &ReleaseView, with_details: bool) -> String {
    let times = Times::of(r);
    let rolling_back = r.status == "rolling_back";
    let rollback = r.rollback.as_ref().filter(|_| rolling_back);
    let mut text = format!("{} {} ({})", r.service, r.version, short_sha(&r.git_sha));
    if r.hotfix {
        text.push_str(" [hotfix]");
    }
    let _ = write!(text, " — {}", r.status.replace('_', " "));
    match (&r.current_step, rollback) {
        (_, Some(rollback)) => {
            let from = step_named(r, &rollback.from_step);
            let _ = write!(text, " — {} (from {from})", title_or(&rollback.title, "Rollback procedure"));
        }
        (Some(step), None) if !finished(&r.status) => {
            let _ = write!(text, " — Step {}/{} {}", step.number, r.steps_total, step.title);
        }
        (Some(step), None) if r.status == "aborted" => {
            let _ = write!(text, " at Step {}/{} {}", step.number, r.steps_total, step.title);
        }
        _ => {}
    }
    text.push('\n');

    if with_details {
        if let Some(by) = who(&r.started_by) {
            let at = r.started_at.as_deref().map(|t| format!(" at {}", times.show(t))).unwrap_or_default();
            let _ = writeln!(text, "started by {by}{at}");
        }
        if let (true, Some(at)) = (finished(&r.status), &r.finished_at) {
            let _ = writeln!(text, "finished at {}", times.show(at));
        }
    }
    if let Some(verdict) = r.freeze_at_start.clone().and_then(|v| serde_json::from_value::<FreezeVerdict>(v).ok()) {
        if verdict.is_frozen() {
            let _ = writeln!(text, "started during a freeze: {}", verdict.describe());
        }
    }
    if let Some(retargeted) = &r.retargeted {
        let at = retargeted.at.as_deref().map(|t| format!(" at {}", times.show(t))).unwrap_or_default();
        let _ = writeln!(
            text,
            "retargeted from {} ({}) by {}{at}: {}",
            retargeted.from_version,
            short_sha(&retargeted.from_git_sha),
            retargeted.by,
            retargeted.reason
        );
    }
    if let (Some(reason), "aborted") = (&r.abort_reason, r.status.as_str()) {
        let _ = writeln!(text, "aborted: {reason}");
    }
    if with_details {
        if let Some(rollback) = &r.rollback {
            rollback_lines(&mut text, rollback, &times);
        }
        // While rolling back and after, the rollback's lines say what production runs.
        if let Some(production) = r.production.as_ref().filter(|_| matches!(r.status.as_str(), "active" | "completed"))
        {
            let _ = writeln!(text, "in production: {}", deployment_line(production, &times));
        }
    }

    if let Some(rollback) = rollback {
        checklist(&mut text, &rollback.items, rollback.gate.as_ref());
        let _ = writeln!(text, "then: {}", after_rollback(r, &rollback.then));
    } else if let Some(step) = r.current_step.as_ref().filter(|_| !finished(&r.status)) {
        checklist(&mut text, &step.items, step.gate.as_ref());
        if with_details && !step.failure_paths.is_empty() {
            let _ = writeln!(text, "failure paths (shipgate release fail {} {} PATH):", r.id, step.id);
            for path in &step.failure_paths {
                let _ = writeln!(text, "  {} — {}", path.id, path.label);
            }
        }
    }
    if !r.follow_ups.is_empty() {
        text.push_str("follow-ups:\n");
        for follow_up in &r.follow_ups {
            let _ = writeln!(text, "  - {follow_up}");
        }
    }
    text
}

/// Why the rollback started, what it reverts and what production goes back to, with
/// whole digests: the one to deploy is copied from here.
fn rollback_lines(text: &mut String, rollback: &RollbackView, times: &Times) {
    let at = rollback.started_at.as_deref().map(|t| format!(" at {}", times.show(t))).unwrap_or_default();
    let _ = writeln!(text, "rollback started by {}{at}: {}", rollback.started_by, rollback.reason);
    if let Some(deployed) = &rollback.deployed {
        let _ = writeln!(text, "{}: {}", if rollback.done { "reverted" } else { "reverting" }, deployed.digest);
    }
    let target = if rollback.done { "rolled back to" } else { "roll back to" };
    match &rollback.target {
        Some(to) => {
            let _ = writeln!(text, "{target}: {} {} (release {})", to.version, to.digest, to.release_id);
        }
        None => match &rollback.target_note {
            Some(note) => {
                let _ = writeln!(text, "{target}: {note}");
            }
            None => {
                let _ = writeln!(text, "{target}: no earlier production deploy of this service is recorded");
            }
        },
    }
    if let Some(hook) = &rollback.hook {
        let by =
            if hook.trigger == "automatic" { "automatically".to_owned() } else { format!("by {}", hook.requested_by) };
        let state = match (&hook.outcome, &hook.started_at) {
            (Some(outcome), _) => outcome.clone(),
            (None, Some(started)) => format!("running since {}", times.show(started)),
            (None, None) => "waiting to start".to_owned(),
        };
        let _ = writeln!(text, "rollback hook (run {}, asked {by}): {state}", hook.attempt);
        if let Some(detail) = hook.detail.as_deref().filter(|d| !d.is_empty()) {
            for line in detail.lines() {
                let _ = writeln!(text, "  | {line}");
            }
        }
    }
}

/// `sha256:… (rolling) by ci at 2026-12-02 05:31:04 EST`.
fn deployment_line(deployment: &DeploymentView, times: &Times) -> String {
    let mut line = deployment.digest.clone();
    if let Some(strategy) = &deployment.strategy {
        let _ = write!(line, " ({strategy})");
    }
    if let Some(by) = &deployment.by {
        let _ = write!(line, " by {by}");
    }
    if let Some(at) = &deployment.at {
        let _ = write!(line, " at {}", times.show(at));
    }
    line
}

fn checklist(text: &mut String, items: &[ItemView], gate: Option<&GateView>) {
    for item in items {
        let mark = if item.ticked { 'x' } else { ' ' };
        let _ = write!(text, "[{mark}] {} — {}", item.id, item.text);
        match &item.ticked_by {
            Some(by) if item.ticked => {
                let _ = writeln!(text, " (by {by})");
            }
            _ => text.push('\n'),
        }
    }
    if let Some(gate) = gate {
        let _ = writeln!(text, "gate: {}", gate_line(gate));
    }
}

/// `ready`, `passed`, or `waiting for 2 unticked items (a, b); <evidence>; approvals 0/1`.
pub(super) fn gate_line(gate: &GateView) -> String {
    if gate.passed {
        return match gate.approved_by.as_slice() {
            [] => "passed".to_owned(),
            by => format!("passed (approved by {})", by.join(", ")),
        };
    }
    if gate.ready {
        return "ready".to_owned();
    }
    let mut waiting = Vec::new();
    match gate.unticked.len() {
        0 => {}
        1 => waiting.push(format!("1 unticked item ({})", gate.unticked[0])),
        n => waiting.push(format!("{n} unticked items ({})", gate.unticked.join(", "))),
    }
    if let Some(evidence) = gate.evidence_missing.as_deref().filter(|e| !e.is_empty()) {
        waiting.push(evidence.to_owned());
    }
    let approvals = match &gate.approvals {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::Array(approvers) => approvers.len() as u64,
        _ => 0,
    };
    if approvals < gate.approvals_required {
        waiting.push(format!("approvals {approvals}/{}", gate.approvals_required));
    }
    if waiting.is_empty() {
        if gate.text.is_empty() {
            "waiting".to_owned()
        } else {
            format!("waiting: {}", gate.text)
        }
    } else {
        format!("waiting for {}", waiting.join("; "))
    }
}

/// Where the release goes once the rollback procedure's gate passes.
fn after_rollback(r: &ReleaseView, then: &Value) -> String {
    match (then["kind"].as_str(), then["step"].as_str()) {
        (Some("resume"), Some(step)) => format!("the release resumes at {}", step_named(r, step)),
        (Some("abort"), _) => "the release ends, aborted".to_owned(),
        _ => "the release ends, rolled back".to_owned(),
    }
}

/// `Step 4 Deploy to Staging` for a step id the playbook has; the id itself otherwise.
fn step_named(r: &ReleaseView, id: &str) -> String {
    match r.steps.iter().find(|s| s.id == id) {
        Some(step) => format!("Step {} {}", step.number, step.title),
        None if id == "rollback" => "the rollback procedure".to_owned(),
        None => id.to_owned(),
    }
}

fn title_or<'a>(title: &'a str, fallback: &'a str) -> &'a str {
    if title.is_empty() {
        fallback
    } else {
        title
    }
}

// ----------------------------------------------------------------------------------------
// History
// ----------------------------------------------------------------------------------------

/// Every event of the release, one line each: when (in the team's time zone), who (and
/// through what), and what, in words.
pub(super) fn history(r: &ReleaseView) -> String {
    let times = Times::of(r);
    let mut text = format!("history (times in {}):\n", times.name());
    if r.history.is_empty() {
        text.push_str("  (the server sent no history)\n");
    }
    for entry in &r.history {
        let at = entry["at"].as_str().map(|t| times.show(t)).unwrap_or_default();
        let _ = writeln!(text, "  {at}  {}  {}", actor(&entry["actor"]), describe(r, entry));
    }
    text
}

/// `ci (api)`, `Dana (discord)`; shipgate's own timers by name alone.
fn actor(actor: &Value) -> String {
    let name = who(actor).unwrap_or_else(|| "someone".to_owned());
    match actor["platform"].as_str() {
        Some("system") | None => name,
        Some(platform) => format!("{name} ({platform})"),
    }
}

/// One event in words.
fn describe(r: &ReleaseView, e: &Value) -> String {
    let s = |key: &str| e[key].as_str().unwrap_or_default().to_owned();
    let step = |key: &str| step_named(r, e[key].as_str().unwrap_or_default());
    let with_note = |text: String, key: &str| match e[key].as_str().filter(|n| !n.is_empty()) {
        Some(note) => format!("{text}: {note}"),
        None => text,
    };
    let kind = e["type"].as_str().unwrap_or_default();
    match kind {
        "started" => {
            let hotfix = if e["hotfix"].as_bool() == Some(true) { " as a hotfix" } else { "" };
            format!(
                "started {} {} ({}){hotfix} with the playbook {}",
                s("service"),
                s("version"),
                short_sha(&s("git_sha")),
                s("playbook")
            )
        }
        "item_ticked" => format!("ticked {} in {}", s("item"), step("step")),
        "item_unticked" => {
            let withdrawn = e["approvals_withdrawn"].as_u64().unwrap_or(0);
            let withdrawn = match withdrawn {
                0 => String::new(),
                1 => "; 1 approval withdrawn".to_owned(),
                n => format!("; {n} approvals withdrawn"),
            };
            format!("unticked {} in {}{withdrawn}", s("item"), step("step"))
        }
        "approved" => match e["digest"].as_str() {
            Some(digest) => format!("approved {}, letting {digest} through", step("step")),
            None => format!("approved {}", step("step")),
        },
        "gate_passed" => format!("gate passed: {}", step("step")),
        "step_entered" => format!("entered {}", step("step")),
        "failure_path_taken" => {
            with_note(format!("took the failure path {} ({}) at {}", s("path"), s("action"), step("step")), "note")
        }
        "gate_rejected" => with_note(format!("rejected the gate of {}", step("step")), "reason"),
        "stall_noticed" => {
            format!("noticed {} stalled (attempt {}); its owners were pinged", step("step"), e["attempt"])
        }
        "restarted" => format!("restarted from {}", step("from")),
        "follow_up_recorded" => format!("follow-up: {}", s("text")),
        "test_result_recorded" => {
            let result = &e["result"];
            let mut line = format!(
                "test result {}: {} passed, {} failed, {} skipped",
                result["suite"].as_str().unwrap_or_default(),
                result["passed"],
                result["failed"],
                result["skipped"].as_u64().unwrap_or(0)
            );
            if let Some(flaky) = result["flaky"].as_array().filter(|f| !f.is_empty()) {
                let names: Vec<&str> = flaky.iter().filter_map(Value::as_str).collect();
                let _ = write!(line, " (flaky: {})", names.join(", "));
            }
            line
        }
        "artifact_recorded" => {
            let artifact = &e["artifact"];
            format!(
                "artifact {} ({}) {}, {} bytes",
                artifact["version"].as_str().unwrap_or_default(),
                short_sha(artifact["git_sha"].as_str().unwrap_or_default()),
                artifact["digest"].as_str().unwrap_or_default(),
                artifact["size_bytes"]
            )
        }
        "deployment_recorded" => {
            let report = &e["report"];
            let mut line = format!(
                "{}deployed {} to {}: {}, health {}",
                if e["rollback"].as_bool() == Some(true) { "rollback: " } else { "" },
                report["digest"].as_str().unwrap_or_default(),
                report["environment"].as_str().unwrap_or_default(),
                report["outcome"].as_str().unwrap_or_default(),
                report["health"].as_str().unwrap_or_default(),
            );
            if let Some(strategy) = report["strategy"].as_str() {
                let _ = write!(line, ", {strategy}");
                if let Some(percent) = report["canary_percent"].as_u64() {
                    let _ = write!(line, " {percent}%");
                }
            }
            if let Some(reason) = report["downgrade_reason"].as_str() {
                let _ = write!(line, "; downgrade: {reason}");
            }
            if let Some(reason) = report["unknown_artifact_reason"].as_str() {
                let _ = write!(line, "; an artifact shipgate never recorded: {reason}");
            }
            if e["freeze_overridden"].is_object() {
                line.push_str("; through a freeze, by override");
            }
            line
        }
        "freeze_override_requested" => with_note("asked to deploy through the freeze".to_owned(), "reason"),
        "freeze_override_approved" => {
            let by = who(&e["requested_by"]).unwrap_or_else(|| "someone".to_owned());
            let until =
                e["expires_at"].as_str().map(|t| format!(" until {}", Times::of(r).show(t))).unwrap_or_default();
            with_note(format!("approved {by}'s freeze override{until}"), "reason")
        }
        "rollback_started" => {
            let target = match e["target"]["digest"].as_str() {
                Some(digest) => format!(" back to {} {digest}", e["target"]["version"].as_str().unwrap_or_default()),
                None => " with no earlier production deploy recorded".to_owned(),
            };
            with_note(format!("started the rollback from {}{target}", step("from")), "reason")
        }
        "abort_requested" => with_note("asked to abort; production is rolled back first".to_owned(), "reason"),
        "rollback_completed" => format!("rollback completed; {}", after_rollback(r, &e["then"])),
        "retargeted" => with_note(
            format!(
                "retargeted from {} ({}) to {} ({}); Step 1 starts over",
                s("from_version"),
                short_sha(&s("from_git_sha")),
                s("version"),
                short_sha(&s("git_sha"))
            ),
            "reason",
        ),
        "completed" => "completed the release".to_owned(),
        "aborted" => with_note("aborted the release".to_owned(), "reason"),
        other => unknown_event(other, e),
    }
}

/// An event this client has no words for: its type and fields, as the server sent them.
fn unknown_event(kind: &str, e: &Value) -> String {
    let fields: serde_json::Map<String, Value> = e
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "seq" | "at" | "actor" | "request_id" | "type"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    if fields.is_empty() {
        kind.replace('_', " ")
    } else {
        format!("{} {}", kind.replace('_', " "), Value::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::card::fixtures::{alice, bob, carol, Walk};
    use crate::domain::release::Command;
    use crate::domain::view::{HistoryEntry, ReleaseView as DomainView};
    use serde_json::json;

    /// `GET /api/v1/releases/{id}` as the server answers it for `walk`'s release, with the
    /// team's time zone `time_zone`.
    fn detail(walk: &Walk, time_zone: &str) -> ReleaseView {
        let mut view = serde_json::to_value(DomainView::of(&walk.release, walk.now)).unwrap();
        let history: Vec<HistoryEntry> = walk.events_after(0).iter().map(HistoryEntry::from_recorded).collect();
        view["history"] = serde_json::to_value(history).unwrap();
        view["time_zone"] = json!(time_zone);
        release_of(&view).expect("a release view")
    }

    /// A release in production at Step 7 whose rollback Alice started.
    fn rolling_back() -> Walk {
        let mut walk = Walk::start();
        walk.walk_to(6);
        walk.minutes(3);
        walk.ok(&alice(), Command::TriggerRollback { reason: "error rate 2.4x baseline".into() });
        walk
    }

    #[test]
    fn while_rolling_back_status_shows_the_rollback_procedure_and_the_whole_target_digest() {
        let text = release_summary(&detail(&rolling_back(), "America/New_York"), true);
        assert!(
            text.contains(
                "roll back to: 1.3.2 sha256:0000000000000000000000000000000000000000000000000000000000000000 (release "
            ),
            "{text}"
        );
        assert!(
            !text.contains("Post-Deploy Monitoring\n") && !text.contains("error-rates"),
            "not Step 7's card:\n{text}"
        );
        assert!(!text.contains("failure paths"), "{text}");
        insta::assert_snapshot!("status_rolling_back", text);
    }

    #[test]
    fn a_completed_release_shows_how_it_ended_and_nothing_to_act_on() {
        let mut walk = Walk::start();
        walk.walk_to(7);
        walk.tick_all(&carol());
        walk.approve(&bob());
        let text = release_summary(&detail(&walk, "America/New_York"), true);
        assert!(!text.contains("gate:") && !text.contains("failure paths") && !text.contains("[ ]"), "{text}");
        insta::assert_snapshot!("status_completed", text);
    }

    #[test]
    fn a_rolled_back_release_shows_what_production_went_back_to_and_nothing_to_act_on() {
        let mut walk = rolling_back();
        walk.revert_production();
        walk.tick_all(&carol());
        walk.approve(&bob());
        let text = release_summary(&detail(&walk, "America/New_York"), true);
        assert!(!text.contains("gate:") && !text.contains("failure paths") && !text.contains("[ ]"), "{text}");
        insta::assert_snapshot!("status_rolled_back", text);
    }

    #[test]
    fn an_aborted_release_says_where_and_why() {
        let mut walk = Walk::start();
        walk.walk_to(1);
        walk.ok(&alice(), Command::Abort { reason: "superseded by 1.4.1".into() });
        let text = release_summary(&detail(&walk, "UTC"), true);
        assert!(text.starts_with("api 1.4.0 (3f9c2e1) — aborted at Step 2/8 Run the Test Suite\n"), "{text}");
        assert!(text.contains("\naborted: superseded by 1.4.1\n"), "{text}");
        assert!(!text.contains("gate:") && !text.contains("failure paths"), "{text}");
    }

    #[test]
    fn history_lists_every_event_with_who_and_when_in_the_team_time_zone() {
        let mut walk = rolling_back();
        walk.revert_production();
        walk.tick_all(&carol());
        walk.approve(&bob());
        let view = detail(&walk, "America/New_York");
        let text = history(&view);
        // One line per event, after the heading.
        assert_eq!(text.lines().count(), view.history.len() + 1, "{text}");
        // 15:00 UTC on 2 December 2026 is 10:00 in New York.
        assert!(text.contains("\n  2026-12-02 10:00:00 EST  Alice (discord)  started api 1.4.0 (3f9c2e1)"), "{text}");
        insta::assert_snapshot!("history_rolled_back", text);
    }

    #[test]
    fn a_retarget_reads_in_words_with_both_commits_and_why() {
        let mut view = detail(&Walk::start(), "UTC");
        view.history.push(json!({"seq": 2, "at": "2026-12-02T15:05:00Z", "actor": {"platform": "api", "user_id": "ci",
            "display_name": "ci"}, "request_id": "r", "type": "retargeted", "from_git_sha": "3f9c2e1",
            "from_version": "1.4.0", "git_sha": "4444abcdef", "version": "1.4.1", "reason": "the orders fix"}));
        let text = history(&view);
        assert!(
            text.ends_with(
                "  2026-12-02 15:05:00 UTC  ci (api)  retargeted from 1.4.0 (3f9c2e1) to 1.4.1 (4444abc); Step 1 starts over: the orders fix\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn an_event_this_client_does_not_know_is_shown_with_its_fields() {
        let mut view = detail(&Walk::start(), "UTC");
        view.history.push(json!({"seq": 2, "at": "2026-12-02T15:05:00Z", "actor": {"platform": "api", "user_id": "rm",
            "display_name": "release-manager"}, "request_id": "r", "type": "canary_promoted", "percent": 50}));
        let text = history(&view);
        assert!(
            text.ends_with("  2026-12-02 15:05:00 UTC  release-manager (api)  canary promoted {\"percent\":50}\n"),
            "{text}"
        );
    }

    #[test]
    fn without_a_time_zone_times_are_shown_in_utc() {
        let times = Times::of(&ReleaseView::default());
        assert_eq!(times.show("2026-12-02T15:00:00Z"), "2026-12-02 15:00:00 UTC");
        let kolkata = Times(chrono_tz::Asia::Kolkata);
        assert_eq!(kolkata.show("2026-12-02T15:00:00Z"), "2026-12-02 20:30:00 IST");
        assert_eq!(kolkata.show("not a time"), "not a time");
    }
}
