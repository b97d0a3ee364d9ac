//! What people ask shipgate in chat, answered the same on every platform: slash commands
//! and clicks on cards become engine commands, and the answers come back as [`Reply`]s an
//! adapter renders in its own way (a Discord interaction response, a Slack message update
//! or ephemeral). Parsing the platform's payloads and rendering replies stay in the
//! adapters; who may do what and whether a click still applies is decided here, from the
//! release, for every platform alike.

use super::target::{self, ClickTarget, Element, ModalForm, ModalTarget};
use crate::app::drills::StartDrill;
use crate::app::{App, AppError, Outcome, StartRelease};
use crate::domain::card::{self, Card, ClosedWhy, EvidenceForm, StepRef};
use crate::domain::drill;
use crate::domain::release::{
    Artifact, Command, DeployStrategy, DeploymentReport, Environment, Event, HealthCheck, Outcome as DeployOutcome,
    Rejection, RejectionCode, Release, Status, TestResult,
};
use crate::domain::{
    Actor, ArtifactDigest, ChatChannel, ChatPlatform, FailurePathId, GitSha, ReleaseId, RequestId, ServiceName, Version,
};
use crate::store::ReleaseFilter;
use std::collections::BTreeMap;

/// The answer to one request from chat, for the adapter to render.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Words for the asker only.
    Private(String),
    /// Words for everyone where the command was typed.
    Public(String),
    /// The card the click was on, as it now stands: the clicked message becomes this.
    UpdateCard(Card),
    /// A card shown to the asker only (`/release status`).
    PrivateCard(Card),
    /// The form a click opens, for the card clicked.
    Form(Card, ModalForm),
    /// A release (or drill) started: the reply is `text`, with a link to the release's
    /// thread once the delivery worker has opened it.
    Started { release: ReleaseId, text: String },
}

/// A reply, or why nothing changed.
pub type Answered = Result<Reply, Refusal>;

/// What `/release start` was given, as typed.
#[derive(Debug, Clone, Default)]
pub struct StartAsked {
    pub service: Option<String>,
    pub version: Option<String>,
    pub sha: Option<String>,
    pub playbook: Option<String>,
    pub hotfix: bool,
}

/// The engine, as people on one chat platform reach it.
#[derive(Clone)]
pub struct Conversation {
    app: App,
    platform: ChatPlatform,
    /// Where releases started outside any channel (a DM) keep their freeze calendar.
    release_channel_id: String,
}

impl Conversation {
    pub fn new(app: App, platform: ChatPlatform, release_channel_id: impl Into<String>) -> Self {
        Self { app, platform, release_channel_id: release_channel_id.into() }
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    pub fn platform(&self) -> ChatPlatform {
        self.platform
    }

    /// `error` in words for this platform's people.
    pub fn refused(&self, error: AppError) -> Refusal {
        Refusal::of(error, Some(self.platform))
    }

    /// The channel a command was typed in picks the team's freeze calendar; the thread
    /// itself opens under the configured release channel.
    fn channel(&self, here: Option<&str>) -> ChatChannel {
        ChatChannel::new(self.platform, here.unwrap_or(&self.release_channel_id))
    }

    /// `/release start`: a release in its own thread. The reply is completed with the
    /// thread's link once the delivery worker has opened it.
    pub async fn start(&self, here: Option<&str>, asked: StartAsked, actor: Actor, request: RequestId) -> Answered {
        let service = ServiceName::parse(&required(asked.service.as_deref(), "service")?).map_err(Refusal::rule)?;
        let version = Version::parse(&required(asked.version.as_deref(), "version")?).map_err(Refusal::rule)?;
        // The artifact is later checked against this commit, so it cannot be guessed.
        let git_sha = GitSha::parse(&required(asked.sha.as_deref(), "sha")?).map_err(Refusal::rule)?;
        let start = StartRelease {
            service,
            version,
            git_sha,
            playbook: asked.playbook.filter(|p| !p.trim().is_empty()),
            hotfix: asked.hotfix,
            channel: Some(self.channel(here)),
        };
        let outcome = self.app.start_release(start, actor, request).await.map_err(|e| self.refused(e))?;
        let release = &outcome.release;
        let mut text = format!(
            "Release **{} {}** started by {}: {} steps, one card each, in its thread",
            release.service,
            release.version,
            release.started.by.display_name,
            release.playbook.steps.len()
        );
        for warning in self.app.start_warnings(release) {
            text.push_str(&format!("\n⚠️ {warning}"));
        }
        if let Some(standing) = &release.last_drill {
            let icon = if standing.overdue { "⚠️" } else { "🔁" };
            text.push_str(&format!("\n{icon} {}: {}", release.service, standing.describe(release.started.at)));
        }
        // The thread is opened by the delivery worker; the reply is completed with its link.
        Ok(Reply::Started { release: release.id.clone(), text })
    }

    /// `/release drill service:<name>`: a rollback drill against staging, in its own thread.
    pub async fn drill(&self, here: Option<&str>, service: Option<&str>, actor: Actor, request: RequestId) -> Answered {
        let service = ServiceName::parse(&required(service, "service")?).map_err(Refusal::rule)?;
        let start = StartDrill { service, channel: Some(self.channel(here)) };
        let outcome = self.app.start_drill(start, actor, request).await.map_err(|e| self.refused(e))?;
        let release = &outcome.release;
        let mut text = format!(
            "Rollback drill of **{}** started by {}: roll staging back to {} (`{}`), then tick the card; the drill is \
             timed from now to its last box",
            release.service,
            release.started.by.display_name,
            release.version,
            release.git_sha.as_str().chars().take(7).collect::<String>()
        );
        if let Some(standing) = &release.last_drill {
            text.push_str(&format!("\n🔁 {}: {}", release.service, standing.describe(release.started.at)));
        }
        Ok(Reply::Started { release: release.id.clone(), text })
    }

    /// `/release drills`: each service's last rollback drill, and which are overdue.
    pub async fn drills(&self) -> Answered {
        let standings = self.app.drill_standings().await.map_err(|e| self.refused(e))?;
        if standings.is_empty() {
            return Ok(Reply::Private(
                "shipgate has seen no service yet: drills are listed per service once it has a release.".to_owned(),
            ));
        }
        let now = self.app.now();
        let lines: Vec<String> = standings
            .iter()
            .map(|s| {
                let icon = if s.overdue { "⚠️" } else { "🔁" };
                format!("{icon} **{}** — {}", s.service, s.describe(now))
            })
            .collect();
        Ok(Reply::Private(lines.join("\n")))
    }

    /// `/release status`: the named release's current card, or the one of the thread
    /// the command was typed in, for the asker.
    pub async fn status(&self, here: Option<&str>, release: Option<&str>) -> Answered {
        let id = match release.map(str::trim).filter(|r| !r.is_empty()) {
            Some(id) => ReleaseId::new(id),
            None => self.release_here(here).await?,
        };
        let (release, _) = self.app.release_with_history(&id).await.map_err(|e| self.refused(e))?.ok_or_else(|| {
            Refusal::rule(format!("There is no release {id}. `/release list` shows the releases in progress."))
        })?;
        let ctx = self.app.card_context_with_locks(&release, self.app.now()).await?;
        Ok(Reply::PrivateCard(card::current_card(&release, &ctx)))
    }

    /// `/release list`: the releases in progress and the locks in force.
    pub async fn list(&self, locks: Vec<String>) -> Answered {
        let filter = ReleaseFilter { status: Some("active".into()), limit: Some(25), ..ReleaseFilter::default() };
        let mut rows = self.app.list(&filter).await.map_err(|e| self.refused(e))?;
        let rolling =
            ReleaseFilter { status: Some("rolling_back".into()), limit: Some(25), ..ReleaseFilter::default() };
        rows.extend(self.app.list(&rolling).await.map_err(|e| self.refused(e))?);
        if rows.is_empty() {
            let mut text = vec!["No release is in progress. Start one with `/release start`.".to_owned()];
            text.extend(locks);
            return Ok(Reply::Private(text.join("\n")));
        }
        let stalled = self.app.stalled_releases(&rows);
        let lines: Vec<String> = rows
            .iter()
            .map(|row| {
                let mut mark = if stalled.contains(&row.id) { " · ⏳ stalled" } else { "" }.to_owned();
                if drill::is_drill(&row.playbook) {
                    mark.push_str(" · 🔁 rollback drill (staging)");
                }
                format!(
                    "**{} {}** · Step {} — {} · {} · started by {}{mark} · `{}`",
                    row.service,
                    row.version,
                    row.current_step,
                    row.current_step_title,
                    row.status.replace('_', " "),
                    row.started_by,
                    row.id
                )
            })
            .chain(locks)
            .collect();
        Ok(Reply::Private(lines.join("\n")))
    }

    /// `/freeze status`: whether production is frozen now (or `at`), in the calendar of
    /// the channel asked in.
    pub fn freeze_status(&self, here: Option<&str>, at: Option<&str>) -> Answered {
        let at = match at.filter(|a| !a.trim().is_empty()) {
            None => self.app.now(),
            Some(text) => chrono::DateTime::parse_from_rfc3339(text.trim())
                .map_err(|_| Refusal::rule(format!("{text:?} is not a time like 2026-12-04T17:00:00Z.")))?
                .with_timezone(&chrono::Utc),
        };
        let channel = here.map(|id| ChatChannel::new(self.platform, id));
        let calendar = self.app.freeze_for(channel.as_ref());
        let tz = calendar.timezone();
        let verdict = calendar.verdict(at);
        let when = at.with_timezone(&tz).format("%a %-d %b %Y %H:%M %Z");
        let text = if verdict.is_frozen() {
            format!("🧊 Production is **frozen** at {when}: {}", verdict.describe_in(tz))
        } else {
            format!("✅ Production is **open** at {when} ({tz}).")
        };
        Ok(Reply::Private(text))
    }

    /// The release whose thread `here` is.
    async fn release_here(&self, here: Option<&str>) -> Result<ReleaseId, Refusal> {
        let thread = here.unwrap_or_default();
        self.app.release_in_thread(self.platform, thread).await.map_err(|e| self.refused(e))?.ok_or_else(|| {
            Refusal::rule("Run this in a release's thread (or name the release with `/release status release:<id>`).")
        })
    }

    /// Runs a slash command's engine command on the release of the thread it was typed in,
    /// and says what happened, to everyone.
    pub async fn run_here(&self, here: Option<&str>, command: Command, actor: Actor, request: RequestId) -> Answered {
        let id = self.release_here(here).await?;
        self.run_on(&id, command, actor, request).await
    }

    /// Runs a slash command's engine command on release `id`, and says what happened, to
    /// everyone.
    pub async fn run_on(&self, id: &ReleaseId, command: Command, actor: Actor, request: RequestId) -> Answered {
        let id = id.clone();
        let name = command.name();
        let outcome = self.app.execute(&id, command, actor, request).await.map_err(|e| self.refused(e))?;
        let release = &outcome.release;
        let by = outcome.events.first().map_or("someone", |r| r.actor.display_name.as_str());
        let text = match name {
            "abort" if release.status == Status::Aborted => {
                format!("Release {} {} aborted by {by}.", release.service, release.version)
            }
            "abort" => format!(
                "Abort of {} {} requested by {by}: production is rolled back first.",
                release.service, release.version
            ),
            "retarget" => format!(
                "{} now ships {} · `{}`, retargeted by {by}; Step 1 starts over for the new commit.",
                release.service,
                release.version,
                &release.git_sha.as_str()[..release.git_sha.as_str().len().min(7)]
            ),
            "trigger_rollback" => format!(
                "Rollback of {} {} started by {by}; follow the rollback card.",
                release.service, release.version
            ),
            "request_freeze_override" => format!(
                "Freeze override requested by {by} for hotfix {} {}; a second person approves it on the card.",
                release.service, release.version
            ),
            _ => format!("Done: {name}."),
        };
        Ok(Reply::Public(text))
    }

    // ------------------------------------------------------------------------------------
    // Buttons and forms
    // ------------------------------------------------------------------------------------

    /// A button clicked on a card: the command it stands for, run, answered with the card
    /// as it now stands; or the form it opens.
    pub async fn click(&self, target: ClickTarget, actor: Actor, request: RequestId) -> Answered {
        let card = match self.card_clicked(&target.release, target.step, target.attempt).await {
            Ok(card) => card,
            Err(refusal) => {
                return self.repeat_or(refusal, &target.release, target.step, target.attempt, &request).await
            }
        };
        let step_id = || card.step_id.clone();
        let command = match target.element {
            Element::Item(index) | Element::Untick(index) => {
                let item = card.items.get(index).ok_or_else(|| Refusal::rule(stale_card()))?;
                let tick = target.element == Element::Item(index);
                if card.is_open() && item.is_ticked() == tick {
                    // Already as the person wanted (another surface got there first): the
                    // card they clicked on is behind; bring it up to date. On a closed card
                    // the engine says why nothing can change any more.
                    return self.up_to_date(&card).await;
                }
                if tick {
                    Command::Tick { step: step_id(), item: item.id.clone() }
                } else {
                    Command::Untick { step: step_id(), item: item.id.clone() }
                }
            }
            Element::Gate => Command::Approve { step: step_id() },
            Element::ApproveOverride => Command::ApproveFreezeOverride,
            Element::RunHook => Command::RunRollbackHook,
            Element::FailurePath(index) => {
                let path = card.failure_paths.get(index).ok_or_else(|| Refusal::rule(stale_card()))?;
                if path.note_required {
                    return self.open_modal(&card, ModalForm::FailureNote(index));
                }
                Command::TakeFailurePath { step: step_id(), path: path.id.clone(), note: None }
            }
            Element::Reject | Element::Evidence(_) | Element::BrokenFlow | Element::AcceptBlind => {
                let form = target.element.modal().ok_or_else(|| Refusal::rule(stale_card()))?;
                return self.open_modal(&card, form);
            }
        };
        self.run_on_card(&card, command, actor, request).await
    }

    /// A form filled in and sent: its fields read into the command the form stands for.
    pub async fn submit(
        &self,
        target: ModalTarget,
        values: &BTreeMap<String, String>,
        actor: Actor,
        request: RequestId,
    ) -> Answered {
        let card = match self.card_clicked(&target.release, target.step, target.attempt).await {
            Ok(card) => card,
            Err(refusal) => {
                return self.repeat_or(refusal, &target.release, target.step, target.attempt, &request).await
            }
        };
        let field = |name: &str| values.get(name).map(|v| v.trim().to_owned()).unwrap_or_default();
        let note = |name: &str| Some(field(name)).filter(|n| !n.is_empty());
        let command = match target.form {
            // The monitoring card's forms: answered with a line in the thread, since the
            // message they came from is the monitoring card, not the step card.
            ModalForm::BrokenFlow => {
                let command = Command::ReportCriticalFlow { note: field(target::field::NOTE) };
                return self.run_from_watch(&card, command, actor, request).await;
            }
            ModalForm::BlindReason => {
                let command = Command::AcceptBlindWatch { reason: field(target::field::REASON) };
                return self.run_from_watch(&card, command, actor, request).await;
            }
            // The engine picks the path (the step's first) and checks who may reject.
            ModalForm::RejectReason => {
                Command::RejectGate { step: card.step_id.clone(), reason: field(target::field::REASON), path: None }
            }
            ModalForm::FailureNote(index) => {
                let path: FailurePathId =
                    card.failure_paths.get(index).map(|p| p.id.clone()).ok_or_else(|| Refusal::rule(stale_card()))?;
                Command::TakeFailurePath { step: card.step_id.clone(), path, note: note(target::field::NOTE) }
            }
            ModalForm::Evidence(EvidenceForm::TestResult) => Command::RecordTestResult(TestResult {
                suite: field(target::field::SUITE),
                passed: number(&field(target::field::PASSED), "Tests passed")?,
                failed: number(&field(target::field::FAILED), "Tests failed")?,
                skipped: 0,
                flaky: Vec::new(),
                url: None,
            }),
            ModalForm::Evidence(EvidenceForm::Artifact) => Command::RecordArtifact(Artifact {
                version: Version::parse(&field(target::field::VERSION)).map_err(Refusal::rule)?,
                git_sha: GitSha::parse(&field(target::field::GIT_SHA)).map_err(Refusal::rule)?,
                digest: ArtifactDigest::parse(&field(target::field::DIGEST)).map_err(Refusal::rule)?,
                size_bytes: number(&field(target::field::SIZE_BYTES), "Size in bytes")?,
                name: None,
            }),
            ModalForm::Evidence(kind @ (EvidenceForm::StagingDeploy | EvidenceForm::ProductionDeploy)) => {
                let strategy = field(target::field::STRATEGY);
                Command::RecordDeployment(DeploymentReport {
                    environment: if kind == EvidenceForm::ProductionDeploy {
                        Environment::Production
                    } else {
                        Environment::Staging
                    },
                    digest: ArtifactDigest::parse(&field(target::field::DIGEST)).map_err(Refusal::rule)?,
                    outcome: word(
                        &field(target::field::OUTCOME),
                        "Outcome",
                        &[("succeeded", DeployOutcome::Succeeded), ("failed", DeployOutcome::Failed)],
                    )?,
                    health: word(
                        &field(target::field::HEALTH),
                        "Health checks",
                        &[
                            ("passed", HealthCheck::Passed),
                            ("failed", HealthCheck::Failed),
                            ("unknown", HealthCheck::Unknown),
                        ],
                    )?,
                    strategy: if strategy.is_empty() {
                        None
                    } else {
                        Some(word(
                            &strategy,
                            "Strategy",
                            &[
                                ("rolling", DeployStrategy::Rolling),
                                ("blue-green", DeployStrategy::BlueGreen),
                                ("canary", DeployStrategy::Canary),
                                ("recreate", DeployStrategy::Recreate),
                            ],
                        )?)
                    },
                    canary_percent: None,
                    downgrade_reason: None,
                    unknown_artifact_reason: note(target::field::REASON),
                    url: None,
                })
            }
        };
        self.run_on_card(&card, command, actor, request).await
    }

    /// Runs a command clicked on `clicked` and answers with that card as it now stands.
    async fn run_on_card(&self, clicked: &Card, command: Command, actor: Actor, request: RequestId) -> Answered {
        let answered = (clicked.step.into(), clicked.attempt);
        let outcome: Outcome = self
            .app
            .execute_answering_card(&clicked.release_id, command, actor, request, answered)
            .await
            .map_err(|e| self.refused(e))?;
        self.answer_on_card(clicked, &outcome).await
    }

    /// A click on a card that no longer applies: the repeat of a click that moved it on
    /// (platforms deliver again what they think was lost) gets the first answer; anything
    /// else, `refusal`.
    async fn repeat_or(
        &self,
        refusal: Refusal,
        release: &ReleaseId,
        step: StepRef,
        attempt: u32,
        request: &RequestId,
    ) -> Answered {
        let Some(outcome) = self.app.answered(request).await.map_err(|e| self.refused(e))? else {
            return Err(refusal);
        };
        let first = outcome.events.first().map_or(outcome.release.seq, |r| r.seq);
        let before = self.app.release_as_of(release, first.saturating_sub(1)).await.map_err(|e| self.refused(e))?;
        let clicked = before
            .as_ref()
            .and_then(|b| card::step_card(b, step, &self.app.card_context(b, outcome.at())))
            .filter(|card| card.attempt == attempt)
            .ok_or(refusal)?;
        self.answer_on_card(&clicked, &outcome).await
    }

    /// The card clicked, as `outcome` left it: the answer that updates the clicked message.
    ///
    /// The command left the outbox no edit of this card (this answer is it), so the answer
    /// is always the card: without the locks' banners if they cannot be read just now.
    async fn answer_on_card(&self, clicked: &Card, outcome: &Outcome) -> Answered {
        let ctx = match self.app.card_context_with_locks(&outcome.release, outcome.at()).await {
            Ok(ctx) => ctx,
            Err(e) => {
                tracing::warn!(error = %e, release = %outcome.release.id, "reading locks for a card; shown without them");
                self.app.card_context(&outcome.release, outcome.at())
            }
        };
        let restarted = outcome.events.iter().any(|r| matches!(r.event, Event::Restarted { .. }));
        let card = match card::step_card(&outcome.release, clicked.step, &ctx) {
            Some(card) if card.attempt == clicked.attempt && !restarted => card,
            // A restart replaced (or cleared) the attempt clicked on: its message stays as it
            // stood just before the restart (with a rejection's reason, if it was rejected), closed; the
            // new attempt gets a card of its own in the thread.
            _ => self.card_before_restart(clicked, outcome).await,
        };
        Ok(Reply::UpdateCard(card))
    }

    async fn card_before_restart(&self, clicked: &Card, outcome: &Outcome) -> Card {
        let restart = outcome.events.iter().find(|r| matches!(r.event, Event::Restarted { .. })).map(|r| r.seq);
        let before = match restart {
            Some(seq) => self.app.release_as_of(&clicked.release_id, seq - 1).await.ok().flatten(),
            None => None,
        };
        let ctx = before.as_ref().map(|b| self.app.card_context(b, outcome.at()));
        match (before, ctx) {
            (Some(before), Some(ctx)) => card::step_card(&before, clicked.step, &ctx)
                .filter(|card| card.attempt == clicked.attempt)
                .unwrap_or_else(|| clicked.clone()),
            _ => clicked.clone(),
        }
        .closed(ClosedWhy::Superseded)
    }

    /// The clicked card as it stands now, in place of the stale one clicked.
    async fn up_to_date(&self, clicked: &Card) -> Answered {
        let release = self.current_release(&clicked.release_id, Read::Remembered).await?;
        let ctx = self.app.card_context_with_locks(&release, self.app.now()).await?;
        let card = card::step_card(&release, clicked.step, &ctx).unwrap_or_else(|| clicked.clone());
        Ok(Reply::UpdateCard(card))
    }

    /// Card `step`'s attempt `attempt` as it stands now, while it is the one people work on
    /// (open); `None` once the release has moved off it. For an answer shown some time after
    /// its click: a live card is shown as it is now, never as an older click left it.
    pub async fn live_card(&self, id: &ReleaseId, step: StepRef, attempt: u32) -> Result<Option<Card>, Refusal> {
        let Some(release) = self.app.release_now(id).await.map_err(|e| self.refused(e))? else {
            return Ok(None);
        };
        let now = self.app.now();
        let ctx = match self.app.card_context_with_locks(&release, now).await {
            Ok(ctx) => ctx,
            Err(e) => {
                tracing::warn!(error = %e, release = %release.id, "reading locks for a card; shown without them");
                self.app.card_context(&release, now)
            }
        };
        Ok(card::step_card(&release, step, &ctx).filter(|card| card.attempt == attempt && card.is_open()))
    }

    /// Runs a command given on the monitoring card and says what happened, to everyone in
    /// the thread; the card itself is edited through the outbox.
    async fn run_from_watch(&self, card: &Card, command: Command, actor: Actor, request: RequestId) -> Answered {
        let name = command.name();
        let outcome = self.app.execute(&card.release_id, command, actor, request).await.map_err(|e| self.refused(e))?;
        let release = &outcome.release;
        let by = outcome.events.first().map_or("someone", |r| r.actor.display_name.as_str());
        let text = match (name, &release.rollback) {
            ("report_critical_flow", Some(rollback)) => format!(
                "🚨 {by} reports a broken critical flow: rollback of {} {} started. {}",
                release.service,
                release.version,
                rollback.trips.first().and_then(|t| t.evidence.clone()).unwrap_or_default()
            ),
            _ => format!(
                "{by} completes the watch of {} {} without the data it could not see: {}",
                release.service,
                release.version,
                release
                    .watch
                    .as_ref()
                    .and_then(|w| w.blind_accepted.last())
                    .map_or_else(String::new, |a| a.reason.clone())
            ),
        };
        Ok(Reply::Public(text))
    }

    fn open_modal(&self, card: &Card, form: ModalForm) -> Answered {
        if !card.is_open() {
            return Err(Refusal::rule(stale_card()));
        }
        Ok(Reply::Form(card.clone(), form))
    }

    async fn current_release(&self, id: &ReleaseId, read: Read) -> Result<Release, Refusal> {
        let release = match read {
            Read::Remembered => self.app.release(id).await,
            Read::Stored => self.app.release_with_history(id).await.map(|found| found.map(|(release, _)| release)),
        };
        let release = release.map_err(|e| self.refused(e))?.ok_or_else(|| {
            Refusal::rule("This card's release does not exist here (it may belong to another shipgate).")
        })?;
        if release.channel.as_ref().and_then(|c| c.platform) != Some(self.platform) {
            return Err(Refusal::rule(format!(
                "This release is not run from {}; use the API or its own chat.",
                self.platform.display_name()
            )));
        }
        Ok(release)
    }

    /// The card a click was made on, refused unless it is the attempt the release is at.
    async fn card_clicked(&self, id: &ReleaseId, step: StepRef, attempt: u32) -> Result<Card, Refusal> {
        let release = self.current_release(id, Read::Remembered).await?;
        if let Ok(card) = self.card_of(&release, step, attempt) {
            return Ok(card);
        }
        // What this instance remembers may be behind another instance's commands: a click
        // is only called stale on what the store holds.
        let release = self.current_release(id, Read::Stored).await?;
        self.card_of(&release, step, attempt)
    }

    fn card_of(&self, release: &Release, step: StepRef, attempt: u32) -> Result<Card, Refusal> {
        let ctx = self.app.card_context(release, self.app.now());
        let card = card::step_card(release, step, &ctx).ok_or_else(|| Refusal::rule(stale_card()))?;
        if card.attempt != attempt {
            return Err(Refusal::rule(stale_card()));
        }
        Ok(card)
    }
}

/// Where a click's release is read from.
#[derive(Clone, Copy)]
enum Read {
    /// The app's memory: no read of the whole history for every click.
    Remembered,
    /// The store, when memory may be behind another instance.
    Stored,
}

/// Why nothing changed.
pub enum Refusal {
    /// A rule said no: the person is told why and what to do.
    Rule(String),
    Internal(anyhow::Error),
}

impl Refusal {
    pub fn rule(message: impl Into<String>) -> Self {
        Refusal::Rule(message.into())
    }
}

impl From<AppError> for Refusal {
    fn from(error: AppError) -> Self {
        Refusal::of(error, None)
    }
}

impl Refusal {
    /// `error` in words for people on `platform` (whose role mapping a hint names).
    pub fn of(error: AppError, platform: Option<ChatPlatform>) -> Self {
        match error {
            AppError::Rejected(rejection) => Refusal::Rule(explain(&rejection, platform)),
            AppError::NotFound(id) => Refusal::Rule(format!("There is no release {id}.")),
            // Not a failure of shipgate's: the person is told to try again, not given an apology.
            AppError::Busy(busy) => Refusal::Rule(format!(
                "shipgate's database is busy with another writer, so nothing was recorded. Try again in {} seconds.",
                busy.retry_after_seconds()
            )),
            AppError::Internal(error) => Refusal::Internal(error),
        }
    }
}

/// A rejection in words for chat: the engine's reason, and where it helps, what to do.
pub fn explain(rejection: &Rejection, platform: Option<ChatPlatform>) -> String {
    use RejectionCode as C;
    let mapping = match platform {
        Some(ChatPlatform::Discord) => {
            "Ask someone with the role, or ask an admin to map your Discord role in [discord.roles]."
        }
        Some(ChatPlatform::Slack) => {
            "Ask someone with the role, or ask an admin to add you (or your user group) in [slack.roles]."
        }
        None => "Ask someone with the role, or ask an admin to grant it to you in shipgate's configuration.",
    };
    let hint = match rejection.code {
        C::NotAllowed => mapping,
        C::SelfApproval => "Ask a teammate to approve it.",
        C::GateNotReady | C::EvidenceMissing => "Tick every box and record the evidence first.",
        C::NotCurrentStep | C::StaleState => "Use the buttons on the release's latest card.",
        C::Frozen => "Wait for the freeze to end, or for a hotfix ask for an override with `/freeze override`.",
        C::ProductionHeld => "Wait until that release finishes, rolls back or is aborted.",
        C::Locked => "The lock ends by itself at its time; lift it sooner with `/release unlock`.",
        C::AlreadyLocked | C::NotLocked => "See the locks in force with `/release list`.",
        C::NoteRequired => "Say what happened in the form.",
        C::WrongArtifact => "Deploy the exact artifact that passed staging and the smoke test.",
        C::UnapprovedArtifact => "Deploy the artifact that was approved; any other must pass staging, the smoke test and a new approval first.",
        C::UnknownArtifact => "Revert to an artifact shipgate recorded for this service, or give the reason this one is right in the form.",
        C::ReleaseFinished => "Start a new release with `/release start`.",
        C::NoRollbackHook => "Revert production by hand and record the deploy on the rollback card.",
        C::HookRunning => "Its outcome shows on the rollback card when it ends.",
        C::NotWatching => "The watch begins with the production deploy; until then there is nothing to report on it.",
        C::AlreadyAborting
        | C::AlreadyApproved
        | C::AlreadyDeployed
        | C::AlreadyRecorded
        | C::AlreadyRollingBack
        | C::AlreadyStarted
        | C::AlreadyTicked
        | C::ArtifactAlreadyRecorded
        | C::Downgrade
        | C::DowntimeStrategy
        | C::IdempotencyKeyReused
        | C::InvalidInput
        | C::InvalidPlaybook
        | C::NoApprovalNeeded
        | C::NoOverrideRequested
        | C::NotHotfix
        | C::NotStalled
        | C::NotRollingBack
        | C::NotStarted
        | C::NotTicked
        | C::NothingToRollBack
        | C::OverrideActive
        | C::OverridePending
        | C::ProductionDeployed
        | C::StrategyRequired
        | C::UnknownFailurePath
        | C::UnknownItem
        | C::UnknownPlaybook
        | C::UnknownStep
        | C::Internal => "",
    };
    // The engine's messages are clauses, some ending in a full stop and some not; the reply
    // reads as sentences either way.
    let message = rejection.message.trim_end();
    let stop = if message.ends_with(['.', '!', '?']) { "" } else { "." };
    if hint.is_empty() {
        format!("Not done: {message}{stop}")
    } else {
        format!("Not done: {message}{stop} {hint}")
    }
}

fn stale_card() -> String {
    "This card is out of date: the release has moved on. Use the buttons on its latest card in the thread.".to_owned()
}

fn required(value: Option<&str>, name: &str) -> Result<String, Refusal> {
    value
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Refusal::rule(format!("`{name}` is required.")))
}

fn number<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, Refusal> {
    text.replace([',', '_', ' '], "")
        .parse()
        .map_err(|_| Refusal::rule(format!("{what}: {text:?} is not a whole number.")))
}

fn word<T: Copy>(text: &str, what: &str, choices: &[(&str, T)]) -> Result<T, Refusal> {
    let lower = text.trim().to_ascii_lowercase();
    choices.iter().find(|(name, _)| *name == lower).map(|(_, value)| *value).ok_or_else(|| {
        let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
        Refusal::rule(format!("{what}: {text:?} is not one of {}.", names.join(", ")))
    })
}

#[cfg(test)]
mod explain_tests {
    use super::*;

    #[test]
    fn a_refusal_reads_as_sentences_whether_or_not_the_engine_ended_its_own() {
        let bare = Rejection::new(RejectionCode::NotCurrentStep, "the release is at Step 5 (Smoke Test on Staging)");
        assert_eq!(
            explain(&bare, Some(ChatPlatform::Discord)),
            "Not done: the release is at Step 5 (Smoke Test on Staging). Use the buttons on the release's latest card."
        );
        let ended = Rejection::new(RejectionCode::Internal, "something failed.");
        assert_eq!(explain(&ended, None), "Not done: something failed.");
    }
}
