//! The rollback hook: the command or webhook that reverts production for shipgate.
//!
//! A run is requested (by the rollback itself when `[rollback] auto = true`, or by a
//! person's click), then started by the runner at the edge, then finished with its outcome.
//! Each is an event, so a restart knows exactly where a run stood: requested and not
//! started is safe to start; started and not finished ran (or was running) when shipgate
//! stopped, and since a deploy revert is not idempotent it is never started again blindly —
//! its outcome is recorded as unknown and a person may click again.

use super::{reject, Decision, Event, Mark, RejectionCode, Status};
use crate::domain::text::Text;
use serde::{Deserialize, Serialize};

/// Whether a rollback hook is configured, and how it starts (from `[rollback]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HookMode {
    /// No hook: people revert production by hand and record the deploy.
    #[default]
    None,
    /// A person starts the hook with one click.
    OnClick,
    /// The hook starts as soon as the rollback does (`auto = true`).
    Auto,
}

/// Who asked for a run of the hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookTrigger {
    /// shipgate, in the same commit as the rollback (`auto = true`).
    Automatic,
    /// A person, with the rollback card's button, the API or the CLI.
    Person,
}

/// How a run of the hook ended. `detail` is short: an exit status and the last lines of
/// output, or an HTTP status and the start of the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum HookOutcome {
    Succeeded {
        detail: String,
    },
    Failed {
        detail: String,
    },
    /// shipgate stopped while the hook ran: whether it reverted production is not known.
    Unknown {
        detail: String,
    },
}

/// The most characters of a run's detail kept: the end of the output is what explains it.
pub const MAX_HOOK_DETAIL_CHARS: usize = 800;

impl HookOutcome {
    pub fn detail(&self) -> &str {
        match self {
            HookOutcome::Succeeded { detail } | HookOutcome::Failed { detail } | HookOutcome::Unknown { detail } => {
                detail
            }
        }
    }

    /// `succeeded`, `failed` or `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            HookOutcome::Succeeded { .. } => "succeeded",
            HookOutcome::Failed { .. } => "failed",
            HookOutcome::Unknown { .. } => "unknown",
        }
    }

    /// Whether a person may ask for another run after this one.
    pub fn may_retry(&self) -> bool {
        !matches!(self, HookOutcome::Succeeded { .. })
    }
}

/// `raw` (a program's output, a response body) made fit for a run's detail: control
/// characters other than line breaks and tabs dropped, and only the last
/// [`MAX_HOOK_DETAIL_CHARS`] characters kept, marked as cut.
pub fn hook_detail(raw: &str) -> String {
    let clean: Vec<char> = raw
        .chars()
        .filter(|c| *c == '\n' || *c == '\t' || !(c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')))
        .filter(|c| !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
        .collect();
    let text: String = if clean.len() > MAX_HOOK_DETAIL_CHARS {
        let keep = MAX_HOOK_DETAIL_CHARS - 1;
        std::iter::once('…').chain(clean[clean.len() - keep..].iter().copied()).collect()
    } else {
        clean.into_iter().collect()
    };
    text.trim().to_owned()
}

/// One run of the hook during a rollback.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HookRun {
    /// 1 for the rollback's first run, counting up with each retry.
    pub attempt: u32,
    pub trigger: HookTrigger,
    pub requested: Mark,
    /// When the runner started it (the program spawned, the request about to be sent).
    pub started: Option<Mark>,
    pub finished: Option<(HookOutcome, Mark)>,
}

impl HookRun {
    /// Requested or running: no other run may be asked for.
    pub fn in_flight(&self) -> bool {
        self.finished.is_none()
    }
}

impl Decision<'_, '_> {
    /// The runs of the rollback in progress; refused when there is none.
    fn hook_runs(&self, what: &str) -> Result<&[HookRun], super::Rejection> {
        match &self.release.rollback {
            Some(rollback) if self.release.status == Status::RollingBack => Ok(&rollback.hooks),
            _ => reject(RejectionCode::NotRollingBack, format!("no rollback is in progress; {what}")),
        }
    }

    /// With `auto`, the rollback just started asks for the hook in its own commit, when it
    /// has a deploy to revert and a known-good artifact to revert to.
    pub(super) fn request_hook_if_auto(&mut self) {
        let Some(rollback) = &self.release.rollback else { return };
        if self.ctx.policy.rollback_hook == HookMode::Auto && rollback.deployed.is_some() && rollback.target.is_some() {
            self.emit(Event::RollbackHookRequested { attempt: 1, trigger: HookTrigger::Automatic });
        }
    }

    /// A person's click: run the configured hook now.
    pub(super) fn run_rollback_hook(&mut self) -> Result<(), super::Rejection> {
        let runs = self.hook_runs("the rollback hook runs only during one")?;
        if self.ctx.policy.rollback_hook == HookMode::None {
            return reject(
                RejectionCode::NoRollbackHook,
                "no rollback hook is configured ([rollback] hook); revert production by hand and record the deploy",
            );
        }
        if let Some(run) = runs.last().filter(|r| r.in_flight()) {
            let state = if run.started.is_some() { "is running" } else { "is about to start" };
            return reject(
                RejectionCode::HookRunning,
                format!(
                    "the rollback hook {state} (run {}, asked by {}); wait for its outcome on the rollback card",
                    run.attempt, run.requested.by.display_name
                ),
            );
        }
        if let Some((HookOutcome::Succeeded { .. }, mark)) = runs.last().and_then(|r| r.finished.as_ref()) {
            return reject(
                RejectionCode::AlreadyRecorded,
                format!(
                    "the rollback hook already succeeded (finished at {}); record the revert deploy and tick the \
                     procedure's items",
                    mark.at.format("%H:%M:%S UTC")
                ),
            );
        }
        let attempt = runs.last().map_or(1, |r| r.attempt + 1);
        let rollback = self.release.rollback.as_ref().expect("hook_runs found the rollback");
        if rollback.deployed.is_none() {
            return reject(
                RejectionCode::NothingToRollBack,
                "nothing of this release reached production, so the hook has nothing to revert",
            );
        }
        if rollback.target.is_none() {
            return reject(
                RejectionCode::NothingToRollBack,
                format!(
                    "the hook needs a target, and {}; deploy a known-good artifact by hand and record it",
                    super::no_known_good_target(&self.release.service)
                ),
            );
        }
        let roles = self.release.playbook.rollback.tick_roles.clone();
        self.require_role(&roles, "run the rollback hook")?;
        self.emit(Event::RollbackHookRequested { attempt, trigger: HookTrigger::Person });
        Ok(())
    }

    /// shipgate's runner: the requested run `attempt` starts now.
    pub(super) fn start_rollback_hook(&mut self, attempt: u32) -> Result<(), super::Rejection> {
        self.require_hook_runner("starts the rollback hook")?;
        let runs = self.hook_runs("the rollback hook is not started")?;
        match runs.iter().find(|r| r.attempt == attempt) {
            Some(run) if run.started.is_none() && run.finished.is_none() => {
                self.emit(Event::RollbackHookStarted { attempt });
                Ok(())
            }
            Some(_) => {
                reject(RejectionCode::AlreadyRecorded, format!("run {attempt} of the rollback hook already started"))
            }
            None => {
                reject(RejectionCode::NotRollingBack, format!("no run {attempt} of the rollback hook was asked for"))
            }
        }
    }

    /// shipgate's runner: the started run `attempt` ended with `outcome`.
    pub(super) fn finish_rollback_hook(&mut self, attempt: u32, outcome: HookOutcome) -> Result<(), super::Rejection> {
        self.require_hook_runner("records the rollback hook's outcome")?;
        let runs = self.hook_runs("there is no rollback hook run to finish")?;
        match runs.iter().find(|r| r.attempt == attempt) {
            Some(run) if run.finished.is_some() => reject(
                RejectionCode::AlreadyRecorded,
                format!("the outcome of run {attempt} of the rollback hook is already recorded"),
            ),
            Some(run) if run.started.is_none() => reject(
                RejectionCode::NotRollingBack,
                format!("run {attempt} of the rollback hook has not started, so it has no outcome yet"),
            ),
            Some(_) => {
                self.emit(Event::RollbackHookFinished { attempt, outcome });
                Ok(())
            }
            None => {
                reject(RejectionCode::NotRollingBack, format!("no run {attempt} of the rollback hook was asked for"))
            }
        }
    }

    fn require_hook_runner(&self, what: &str) -> Result<(), super::Rejection> {
        if self.actor.platform != crate::domain::actor::Platform::System {
            return reject(RejectionCode::NotAllowed, format!("only shipgate {what}"));
        }
        Ok(())
    }
}

/// Checks a finished run's detail like any free text a command carries.
pub(super) fn check_outcome(outcome: &HookOutcome) -> Result<(), super::Rejection> {
    Text::reason_of(MAX_HOOK_DETAIL_CHARS).check("hook detail", outcome.detail()).map(drop)
}
