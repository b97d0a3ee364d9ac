//! The rollback hook runner: runs the configured command or webhook for every release whose
//! rollback asked for it, and records how it went.
//!
//! A run is asked for by an event (the rollback's own commit with `auto = true`, or a
//! person's click), which sets the release's `hook_due_at` in the same transaction. The
//! runner takes a lease on the release (one instance runs a given release's hook), records
//! that the run started *before* it starts it, runs it while renewing the lease, and records
//! the outcome. Every record goes through [`App::execute`] under a request id made of the
//! release and the run, so a repeat (another instance, a retry after a lost answer) changes
//! nothing.
//!
//! After a crash a run that was recorded as started may or may not have reverted
//! production. A deploy revert is not idempotent, so it is never started again: the runner
//! records its outcome as unknown, and a person decides whether to click again.

use super::{App, AppError};
use crate::domain::release::{hook_detail, Command, HookOutcome, HookRun, RejectionCode, Release};
use crate::domain::{Actor, Platform, ReleaseId, RequestId};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::future::Future;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// How long one run may take before shipgate stops waiting for it (and stops the program).
pub const HOOK_TIME_LIMIT: Duration = Duration::from_secs(10 * 60);
/// How long one instance's claim on a release's hook lasts without renewal; renewed every
/// third of it while the hook runs, so another instance takes over only from a dead one.
const LEASE: chrono::Duration = chrono::Duration::seconds(60);
const RENEW_EVERY: Duration = Duration::from_secs(20);
/// Releases looked at per sweep.
const SWEEP_LIMIT: u32 = 64;
/// Lines of a program's output kept in the recorded detail: the end says how it went.
const OUTPUT_LINES: usize = 12;

/// What reverts production: `[rollback] hook` from config.
#[derive(Debug, Clone)]
pub enum HookAction {
    /// A program and its arguments; the JSON body comes on stdin, the facts in `SHIPGATE_*`
    /// environment variables.
    Command { program: String, args: Vec<String> },
    /// An HTTP endpoint that receives the JSON body by POST, with the bearer token if set.
    Webhook { url: String, token: Option<SecretString> },
}

/// Who runs the hook, in every release's history.
pub fn hook_actor() -> Actor {
    Actor::new(Platform::System, "rollback-hook", "shipgate rollback hook")
}

/// The request id of the start, or the outcome, of run `attempt` of `release`'s hook:
/// deterministic, so racing instances and retries record each once.
pub fn hook_request_id(release: &ReleaseId, attempt: u32, what: &str) -> RequestId {
    RequestId::new(format!("rollback-hook:{release}:{attempt}:{what}"))
}

#[derive(Clone)]
pub struct HookRunner {
    app: App,
    action: Arc<HookAction>,
    http: reqwest::Client,
    /// This instance's name on the hook leases.
    holder: String,
    /// Releases whose hook this process is running now. A started run in the store that
    /// is not here ran in a process that is gone (possibly this one, before a restart).
    running: Arc<Mutex<HashSet<ReleaseId>>>,
}

impl HookRunner {
    pub fn new(app: App, action: HookAction, holder: impl Into<String>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(HOOK_TIME_LIMIT)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| anyhow::anyhow!("building the rollback webhook's HTTP client: {e}"))?;
        Ok(Self {
            app,
            action: Arc::new(action),
            http,
            holder: holder.into(),
            running: Arc::new(Mutex::new(HashSet::new())),
        })
    }

    /// Sweeps every `every` until `stop`. Runs in flight when it stops are left to end by
    /// themselves; if the process ends first their outcome is recorded as unknown later.
    pub async fn run(self, every: Duration, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(every) => {}
            }
            if let Err(e) = self.sweep().await {
                tracing::warn!(error = %format!("{e:#}"), "could not look for rollback hooks to run; trying again");
            }
        }
    }

    /// Starts a task for each release whose hook waits for this runner; returns how many.
    pub async fn sweep(&self) -> Result<usize, AppError> {
        let due = self.app.store().hooks_due(self.app.now(), SWEEP_LIMIT).await?;
        let mut started = 0;
        for (id, _) in due {
            if !self.mark_running(&id) {
                continue;
            }
            started += 1;
            let runner = self.clone();
            tokio::spawn(async move {
                if let Err(e) = runner.run_marked(&id).await {
                    tracing::warn!(release = %id, error = %format!("{e:#}"), "the rollback hook runner failed this round");
                }
            });
        }
        Ok(started)
    }

    /// Brings `id`'s hook up to date and waits for it: starts a requested run and records
    /// its outcome, or records "unknown" for a run started by a process that is gone.
    /// `None` when there was nothing to do here (no run waiting, or another holder has it).
    pub async fn run_one(&self, id: &ReleaseId) -> Result<Option<HookOutcome>, AppError> {
        if !self.mark_running(id) {
            return Ok(None);
        }
        self.run_marked(id).await
    }

    fn mark_running(&self, id: &ReleaseId) -> bool {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone())
    }

    async fn run_marked(&self, id: &ReleaseId) -> Result<Option<HookOutcome>, AppError> {
        let result = self.claimed(id).await;
        self.running.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        result
    }

    async fn claimed(&self, id: &ReleaseId) -> Result<Option<HookOutcome>, AppError> {
        let store = self.app.store();
        let now = self.app.now();
        if !store.claim_hook(id, &self.holder, now, now + LEASE).await? {
            return Ok(None);
        }
        let result = self.bring_up_to_date(id).await;
        store.release_hook(id, &self.holder).await?;
        result
    }

    async fn bring_up_to_date(&self, id: &ReleaseId) -> Result<Option<HookOutcome>, AppError> {
        let Some(release) = self.app.release(id).await? else { return Ok(None) };
        let Some(run) = waiting_run(&release) else { return Ok(None) };
        let attempt = run.attempt;
        if let Some(started) = &run.started {
            // Started, and not by this process (which runs it from start to outcome in one
            // task): the process that ran it is gone. Never start it again blindly.
            let outcome = HookOutcome::Unknown {
                detail: hook_detail(&format!(
                    "shipgate stopped while the hook ran (started {}); whether it reverted production is not \
                     known. Check production, then run the hook again if it is needed",
                    started.at.format("%Y-%m-%d %H:%M:%S UTC")
                )),
            };
            return self.record(id, attempt, outcome).await;
        }
        let start = Command::StartRollbackHook { attempt };
        match self.app.execute(id, start, hook_actor(), hook_request_id(id, attempt, "start")).await {
            Ok(outcome) if outcome.replayed => {
                // Started before by a process that is gone, and this instance read the
                // release before that: the next sweep reads it again and records "unknown".
                return Ok(None);
            }
            Ok(_) => {}
            Err(AppError::Rejected(rejection)) => {
                tracing::debug!(release = %id, code = %rejection.code, "rollback hook not started: {}", rejection.message);
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        let body = self.body(&release, run).await;
        tracing::info!(release = %id, attempt, "running the rollback hook");
        let outcome = self.run_holding_lease(id, &release, body).await;
        metrics::counter!("shipgate_rollback_hook_runs_total", "outcome" => outcome.as_str()).increment(1);
        self.record(id, attempt, outcome).await
    }

    async fn record(
        &self,
        id: &ReleaseId,
        attempt: u32,
        outcome: HookOutcome,
    ) -> Result<Option<HookOutcome>, AppError> {
        let command = Command::RecordRollbackHookOutcome { attempt, outcome: outcome.clone() };
        match self.app.execute(id, command, hook_actor(), hook_request_id(id, attempt, "outcome")).await {
            Ok(_) => Ok(Some(outcome)),
            Err(AppError::Rejected(rejection)) if rejection.code == RejectionCode::AlreadyRecorded => Ok(None),
            Err(AppError::Rejected(rejection)) => {
                tracing::warn!(release = %id, code = %rejection.code, "the rollback hook's outcome was refused: {}", rejection.message);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Runs the action, renewing the lease meanwhile so no other instance takes the release.
    async fn run_holding_lease(&self, id: &ReleaseId, release: &Release, body: Value) -> HookOutcome {
        let run = self.execute_action(release, body);
        tokio::pin!(run);
        let mut renew = tokio::time::interval(RENEW_EVERY);
        renew.tick().await;
        loop {
            tokio::select! {
                outcome = &mut run => return outcome,
                _ = renew.tick() => {
                    let now = self.app.now();
                    match self.app.store().claim_hook(id, &self.holder, now, now + LEASE).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(release = %id, "lost the rollback hook's lease while it ran"),
                        Err(e) => tracing::warn!(release = %id, error = %e, "could not renew the rollback hook's lease"),
                    }
                }
            }
        }
    }

    async fn execute_action(&self, release: &Release, body: Value) -> HookOutcome {
        match &*self.action {
            HookAction::Command { program, args } => run_command(program, args, release, &body).await,
            HookAction::Webhook { url, token } => self.post(url, token.as_ref(), &body).await,
        }
    }

    /// What the hook receives: the service, the environment, what to revert to and from,
    /// and why.
    async fn body(&self, release: &Release, run: &HookRun) -> Value {
        let rollback = release.rollback.as_ref();
        let target = rollback.and_then(|r| r.target.as_ref());
        // The target's commit, from its own release (it may have been retained away).
        let target_sha = match target {
            Some(t) => self.app.release(&t.release_id).await.ok().flatten().map(|r| r.git_sha.to_string()),
            None => None,
        };
        let deployed = rollback.and_then(|r| r.deployed.as_ref());
        json!({
            "release_id": release.id,
            "service": release.service,
            "environment": "production",
            "attempt": run.attempt,
            "requested_by": run.requested.by.display_name,
            "automatic": run.trigger == crate::domain::release::HookTrigger::Automatic,
            "target": target.map(|t| json!({
                "release_id": t.release_id,
                "version": t.version,
                "git_sha": target_sha,
                "digest": t.digest,
            })),
            "deployed": deployed.map(|d| json!({
                "version": release.version,
                "git_sha": release.git_sha,
                "digest": d.digest,
            })),
            "reason": rollback.map(|r| r.reason.clone()),
            "trips": rollback.map(|r| r.trips.clone()).unwrap_or_default(),
        })
    }

    async fn post(&self, url: &str, token: Option<&SecretString>, body: &Value) -> HookOutcome {
        let mut request = self.http.post(url).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token.expose_secret());
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                let excerpt: String = text.chars().take(400).collect();
                let detail = hook_detail(&format!("HTTP {status}\n{excerpt}"));
                if status.is_success() {
                    HookOutcome::Succeeded { detail }
                } else {
                    HookOutcome::Failed { detail }
                }
            }
            // The request may have reached the webhook, which may be reverting production.
            Err(e) if e.is_timeout() => HookOutcome::Unknown {
                detail: hook_detail(&format!(
                    "no answer within {} minutes; whether the webhook reverted production is not known",
                    HOOK_TIME_LIMIT.as_secs() / 60
                )),
            },
            // Without the URL: it may carry credentials.
            Err(e) => HookOutcome::Failed {
                detail: hook_detail(&format!("could not reach the webhook: {}", e.without_url())),
            },
        }
    }
}

/// The latest run of the release's rollback, while it has no outcome.
fn waiting_run(release: &Release) -> Option<&HookRun> {
    release.hook_due_at()?;
    release.rollback.as_ref()?.hook().filter(|run| run.in_flight())
}

async fn run_command(program: &str, args: &[String], release: &Release, body: &Value) -> HookOutcome {
    let rollback = release.rollback.as_ref();
    let target = rollback.and_then(|r| r.target.as_ref());
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env("SHIPGATE_RELEASE_ID", release.id.as_str())
        .env("SHIPGATE_SERVICE", release.service.as_str())
        .env("SHIPGATE_ENVIRONMENT", "production")
        .env("SHIPGATE_TARGET_VERSION", target.map(|t| t.version.to_string()).unwrap_or_default())
        .env("SHIPGATE_TARGET_DIGEST", target.map(|t| t.digest.to_string()).unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Stopped at the time limit; a revert under way when shipgate itself exits is left
        // to finish (its outcome is then recorded as unknown).
        .kill_on_drop(false);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return HookOutcome::Failed { detail: hook_detail(&format!("could not start {program}: {e}")) },
    };
    if let Some(mut stdin) = child.stdin.take() {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        // A program that does not read its input closes the pipe; that is its business.
        let _ = stdin.write_all(&bytes).await;
        drop(stdin);
    }
    let stdout = child.stdout.take().map(read_all);
    let stderr = child.stderr.take().map(read_all);
    let status = match tokio::time::timeout(HOOK_TIME_LIMIT, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            return HookOutcome::Failed { detail: hook_detail(&format!("waiting for {program} failed: {e}")) }
        }
        Err(_) => {
            let _ = child.kill().await;
            return HookOutcome::Unknown {
                detail: hook_detail(&format!(
                    "{program} did not finish within {} minutes and was stopped; whether it reverted production is \
                     not known",
                    HOOK_TIME_LIMIT.as_secs() / 60
                )),
            };
        }
    };
    let mut text = last_lines(&joined(stdout).await);
    let stderr = last_lines(&joined(stderr).await);
    if !stderr.is_empty() {
        text = format!("{text}\n--- stderr ---\n{stderr}");
    }
    let exit = match status.code() {
        Some(code) => format!("exit status {code}"),
        None => "killed by a signal".to_owned(),
    };
    let detail = hook_detail(&format!("{exit}\n{}", text.trim()));
    if status.success() {
        HookOutcome::Succeeded { detail }
    } else {
        HookOutcome::Failed { detail }
    }
}

/// Reads a pipe to its end in a task of its own, so a chatty program never blocks on a
/// full pipe while shipgate waits for it to exit.
fn read_all(mut pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static) -> tokio::task::JoinHandle<Vec<u8>> {
    tokio::spawn(async move {
        let mut bytes = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut pipe, &mut bytes).await;
        bytes
    })
}

async fn joined(reader: Option<tokio::task::JoinHandle<Vec<u8>>>) -> String {
    match reader {
        Some(task) => String::from_utf8_lossy(&task.await.unwrap_or_default()).into_owned(),
        None => String::new(),
    }
}

fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(OUTPUT_LINES)..].join("\n")
}
