//! One handler for every Discord interaction, however it arrived (HTTP endpoint or
//! gateway): decide who is asking, turn the interaction into an engine command, run it,
//! and answer within Discord's 3 seconds with the card re-rendered, a modal, or an
//! ephemeral reply saying why nothing changed.

use super::custom_id::{self, ClickTarget, Element, ModalForm, ModalTarget};
use super::interaction::{self, Interaction, Person, SlashCommand};
use super::render;
use crate::app::drills::StartDrill;
use crate::app::{App, AppError, Outcome, StartRelease};
use crate::config::DiscordConfig;
use crate::domain::card::{self, Card, ClosedWhy, EvidenceForm, StepRef};
use crate::domain::drill;
use crate::domain::release::{
    Artifact, Command, DeployStrategy, DeploymentReport, Environment, Event, HealthCheck, Outcome as DeployOutcome,
    Rejection, RejectionCode, Release, Status, TestResult,
};
use crate::domain::{
    Actor, ArtifactDigest, ChatChannel, ChatPlatform, FailurePathId, GitSha, Platform, ReleaseId, RequestId, RoleName,
    ServiceName, Version,
};
use crate::store::ReleaseFilter;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The interaction callback types shipgate answers with.
const PONG: u8 = 1;
const DEFERRED_CHANNEL_MESSAGE: u8 = 5;

/// Everything a Discord interaction needs to be answered.
#[derive(Clone)]
pub struct Handler {
    app: App,
    config: Arc<DiscordConfig>,
}

/// What to do once the answer is sent: a deferred reply to complete.
pub enum FollowUp {
    /// Link the started release's thread in the original reply once it exists.
    ThreadLink { release: ReleaseId, token: String, text: String },
}

/// The answer to an interaction, and what (if anything) follows it.
pub struct Answer {
    pub body: Value,
    pub follow_up: Option<FollowUp>,
}

impl From<Value> for Answer {
    fn from(body: Value) -> Self {
        Answer { body, follow_up: None }
    }
}

impl Handler {
    pub fn new(app: App, config: Arc<DiscordConfig>) -> Self {
        Self { app, config }
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// Answers one interaction. Never fails: a refusal or an internal error becomes an
    /// ephemeral reply (an internal one logged with a correlation id).
    pub async fn handle(&self, interaction: &Interaction) -> Answer {
        if interaction.kind == interaction::PING {
            return json!({ "type": PONG }).into();
        }
        match self.dispatch(interaction).await {
            Ok(answer) => answer,
            Err(Refusal::Rule(message)) => render::ephemeral(&message).into(),
            Err(Refusal::Internal(error)) => {
                let correlation_id = uuid::Uuid::new_v4();
                tracing::error!(%correlation_id, interaction = %interaction.id, error = format!("{error:#}"), "internal error answering a Discord interaction");
                render::ephemeral(&format!(
                    "Sorry, shipgate failed to handle this; nothing you did was lost. It is logged with correlation id {correlation_id}."
                ))
                .into()
            }
        }
    }

    async fn dispatch(&self, interaction: &Interaction) -> Result<Answer, Refusal> {
        if interaction.application_id != self.config.application_id {
            return Err(Refusal::rule("This interaction is for another application."));
        }
        if interaction.guild_id.as_deref() != Some(self.config.guild_id.as_str()) {
            return Err(Refusal::rule(
                "shipgate runs releases in its own Discord server only; use it there, not in DMs or other servers.",
            ));
        }
        let person = interaction.person().ok_or_else(|| Refusal::rule("Discord did not say who you are."))?;
        let actor = self.actor(&person);
        // The interaction id is the command's idempotency key: Discord may deliver it twice.
        let request = RequestId::new(format!("discord:{}", interaction.id));
        match interaction.kind {
            interaction::APPLICATION_COMMAND => {
                let command = interaction.command().ok_or_else(|| Refusal::rule("That command has no name."))?;
                self.slash_command(interaction, &command, actor, request).await
            }
            interaction::MESSAGE_COMPONENT => {
                let custom_id = interaction.custom_id().unwrap_or_default();
                let target = ClickTarget::decode(custom_id).map_err(|e| {
                    Refusal::rule(format!("That button is not one shipgate can act on ({e}). Use the buttons on the release's latest card."))
                })?;
                self.click(target, actor, request).await
            }
            interaction::MODAL_SUBMIT => {
                let custom_id = interaction.custom_id().unwrap_or_default();
                let target = ModalTarget::decode(custom_id).map_err(|e| {
                    Refusal::rule(format!(
                        "That form is not one shipgate can act on ({e}). Open it again from the release's latest card."
                    ))
                })?;
                self.modal_submit(target, &interaction.modal_values(), actor, request).await
            }
            interaction::AUTOCOMPLETE => Ok(json!({ "type": 8, "data": { "choices": [] } }).into()),
            other => Err(Refusal::rule(format!("shipgate does not handle interactions of type {other}."))),
        }
    }

    /// The person as an engine actor, with the shipgate roles their Discord roles map to.
    fn actor(&self, person: &Person) -> Actor {
        let all = self.app.playbooks().roles();
        let roles = self.config.roles_of(&person.roles, all.iter().map(RoleName::as_str));
        Actor::new(Platform::Discord, person.user_id.clone(), person.display_name.clone()).with_roles(roles)
    }

    // ------------------------------------------------------------------------------------
    // Slash commands
    // ------------------------------------------------------------------------------------

    async fn slash_command(
        &self,
        interaction: &Interaction,
        command: &SlashCommand,
        actor: Actor,
        request: RequestId,
    ) -> Result<Answer, Refusal> {
        match (command.name.as_str(), command.subcommand.as_deref()) {
            ("release", Some("start")) => self.start(interaction, command, actor, request).await,
            ("release", Some("status")) => self.status(interaction, command).await,
            ("release", Some("list")) => self.list(interaction).await,
            ("release", Some("drill")) => self.drill(interaction, command, actor, request).await,
            ("release", Some("drills")) => self.drills().await,
            ("release", Some("lock")) => {
                let text = super::locks::lock(&self.app, command, interaction.channel_id(), actor, request).await?;
                Ok(render::ephemeral(&text).into())
            }
            ("release", Some("unlock")) => {
                Ok(render::ephemeral(&super::locks::unlock(&self.app, command, actor, request).await?).into())
            }
            ("release", Some("abort")) => {
                let command = Command::Abort { reason: required(command, "reason")? };
                self.run_here(interaction, command, actor, request).await
            }
            ("release", Some("retarget")) => {
                let command = Command::Retarget {
                    git_sha: GitSha::parse(&required(command, "sha")?).map_err(Refusal::rule)?,
                    version: command.text("version").map(Version::parse).transpose().map_err(Refusal::rule)?,
                    reason: required(command, "reason")?,
                };
                self.run_here(interaction, command, actor, request).await
            }
            ("release", Some("rollback")) => {
                let command = Command::TriggerRollback { reason: required(command, "reason")? };
                self.run_here(interaction, command, actor, request).await
            }
            ("freeze", Some("status")) => self.freeze_status(interaction, command),
            ("freeze", Some("override")) => {
                let command = Command::RequestFreezeOverride { reason: required(command, "reason")? };
                self.run_here(interaction, command, actor, request).await
            }
            (name, sub) => Err(Refusal::rule(format!(
                "shipgate does not know /{name} {}; restart shipgate to register its current commands.",
                sub.unwrap_or_default()
            ))),
        }
    }

    async fn start(
        &self,
        interaction: &Interaction,
        command: &SlashCommand,
        actor: Actor,
        request: RequestId,
    ) -> Result<Answer, Refusal> {
        let service = ServiceName::parse(&required(command, "service")?).map_err(Refusal::rule)?;
        let version = Version::parse(&required(command, "version")?).map_err(Refusal::rule)?;
        // The artifact is later checked against this commit, so it cannot be guessed.
        let git_sha = GitSha::parse(&required(command, "sha")?).map_err(Refusal::rule)?;
        // The channel the command was typed in picks the team's freeze calendar; the
        // thread itself opens under the configured release channel.
        let channel = interaction.channel_id().map(|id| ChatChannel::new(ChatPlatform::Discord, id));
        let start = StartRelease {
            service,
            version,
            git_sha,
            playbook: command.text("playbook").map(str::to_owned),
            hotfix: command.flag("hotfix").unwrap_or(false),
            channel: Some(
                channel
                    .unwrap_or_else(|| ChatChannel::new(ChatPlatform::Discord, self.config.release_channel_id.clone())),
            ),
        };
        let outcome = self.app.start_release(start, actor, request).await.map_err(Refusal::from)?;
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
        Ok(Answer {
            body: json!({ "type": DEFERRED_CHANNEL_MESSAGE }),
            follow_up: Some(FollowUp::ThreadLink {
                release: release.id.clone(),
                token: interaction.token.clone(),
                text,
            }),
        })
    }

    /// `/release drill service:<name>`: a rollback drill against staging, in its own thread.
    async fn drill(
        &self,
        interaction: &Interaction,
        command: &SlashCommand,
        actor: Actor,
        request: RequestId,
    ) -> Result<Answer, Refusal> {
        let service = ServiceName::parse(&required(command, "service")?).map_err(Refusal::rule)?;
        let channel = interaction.channel_id().map(|id| ChatChannel::new(ChatPlatform::Discord, id));
        let start = StartDrill {
            service,
            channel: Some(
                channel
                    .unwrap_or_else(|| ChatChannel::new(ChatPlatform::Discord, self.config.release_channel_id.clone())),
            ),
        };
        let outcome = self.app.start_drill(start, actor, request).await.map_err(Refusal::from)?;
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
        Ok(Answer {
            body: json!({ "type": DEFERRED_CHANNEL_MESSAGE }),
            follow_up: Some(FollowUp::ThreadLink {
                release: release.id.clone(),
                token: interaction.token.clone(),
                text,
            }),
        })
    }

    /// `/release drills`: each service's last rollback drill, and which are overdue.
    async fn drills(&self) -> Result<Answer, Refusal> {
        let standings = self.app.drill_standings().await.map_err(Refusal::from)?;
        if standings.is_empty() {
            return Ok(render::ephemeral(
                "shipgate has seen no service yet: drills are listed per service once it has a release.",
            )
            .into());
        }
        let now = self.app.now();
        let lines: Vec<String> = standings
            .iter()
            .map(|s| {
                let icon = if s.overdue { "⚠️" } else { "🔁" };
                format!("{icon} **{}** — {}", s.service, s.describe(now))
            })
            .collect();
        Ok(render::ephemeral(&lines.join("\n")).into())
    }

    async fn status(&self, interaction: &Interaction, command: &SlashCommand) -> Result<Answer, Refusal> {
        let id = match command.text("release") {
            Some(id) => ReleaseId::new(id.trim()),
            None => self.release_here(interaction).await?,
        };
        let (release, _) = self.app.release_with_history(&id).await.map_err(Refusal::from)?.ok_or_else(|| {
            Refusal::rule(format!("There is no release {id}. `/release list` shows the releases in progress."))
        })?;
        let ctx = self.app.card_context_with_locks(&release, self.app.now()).await?;
        let card = card::current_card(&release, &ctx);
        let mut message = render::message(&card);
        message["flags"] = json!(render::EPHEMERAL);
        Ok(json!({ "type": 4, "data": message }).into())
    }

    async fn list(&self, interaction: &Interaction) -> Result<Answer, Refusal> {
        let filter = ReleaseFilter { status: Some("active".into()), limit: Some(25), ..ReleaseFilter::default() };
        let mut rows = self.app.list(&filter).await.map_err(Refusal::from)?;
        let rolling =
            ReleaseFilter { status: Some("rolling_back".into()), limit: Some(25), ..ReleaseFilter::default() };
        rows.extend(self.app.list(&rolling).await.map_err(Refusal::from)?);
        let locks = super::locks::lines(&self.app, interaction.channel_id()).await?;
        if rows.is_empty() {
            let mut text = vec!["No release is in progress. Start one with `/release start`.".to_owned()];
            text.extend(locks);
            return Ok(render::ephemeral(&text.join("\n")).into());
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
        Ok(render::ephemeral(&lines.join("\n")).into())
    }

    fn freeze_status(&self, interaction: &Interaction, command: &SlashCommand) -> Result<Answer, Refusal> {
        let at = match command.text("at") {
            None => self.app.now(),
            Some(text) => chrono::DateTime::parse_from_rfc3339(text.trim())
                .map_err(|_| Refusal::rule(format!("{text:?} is not a time like 2026-12-04T17:00:00Z.")))?
                .with_timezone(&chrono::Utc),
        };
        let channel = interaction.channel_id().map(|id| ChatChannel::new(ChatPlatform::Discord, id));
        let calendar = self.app.freeze_for(channel.as_ref());
        let tz = calendar.timezone();
        let verdict = calendar.verdict(at);
        let when = at.with_timezone(&tz).format("%a %-d %b %Y %H:%M %Z");
        let text = if verdict.is_frozen() {
            format!("🧊 Production is **frozen** at {when}: {}", verdict.describe_in(tz))
        } else {
            format!("✅ Production is **open** at {when} ({tz}).")
        };
        Ok(render::ephemeral(&text).into())
    }

    /// The release whose thread the interaction happened in.
    async fn release_here(&self, interaction: &Interaction) -> Result<ReleaseId, Refusal> {
        let thread = interaction.channel_id().unwrap_or_default();
        self.app.release_in_thread(ChatPlatform::Discord, thread).await.map_err(Refusal::from)?.ok_or_else(|| {
            Refusal::rule("Run this in a release's thread (or name the release with `/release status release:<id>`).")
        })
    }

    /// Runs a slash command's engine command on the release of the thread it was typed in,
    /// and says what happened, to everyone.
    async fn run_here(
        &self,
        interaction: &Interaction,
        command: Command,
        actor: Actor,
        request: RequestId,
    ) -> Result<Answer, Refusal> {
        let id = self.release_here(interaction).await?;
        let name = command.name();
        let outcome = self.app.execute(&id, command, actor, request).await.map_err(Refusal::from)?;
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
        Ok(json!({ "type": 4, "data": { "content": text, "allowed_mentions": { "parse": [] } } }).into())
    }

    // ------------------------------------------------------------------------------------
    // Buttons and forms
    // ------------------------------------------------------------------------------------

    async fn click(&self, target: ClickTarget, actor: Actor, request: RequestId) -> Result<Answer, Refusal> {
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

    async fn modal_submit(
        &self,
        target: ModalTarget,
        values: &BTreeMap<String, String>,
        actor: Actor,
        request: RequestId,
    ) -> Result<Answer, Refusal> {
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
                let command = Command::ReportCriticalFlow { note: field(custom_id::field::NOTE) };
                return self.run_from_watch(&card, command, actor, request).await;
            }
            ModalForm::BlindReason => {
                let command = Command::AcceptBlindWatch { reason: field(custom_id::field::REASON) };
                return self.run_from_watch(&card, command, actor, request).await;
            }
            // The engine picks the path (the step's first) and checks who may reject.
            ModalForm::RejectReason => {
                Command::RejectGate { step: card.step_id.clone(), reason: field(custom_id::field::REASON), path: None }
            }
            ModalForm::FailureNote(index) => {
                let path: FailurePathId =
                    card.failure_paths.get(index).map(|p| p.id.clone()).ok_or_else(|| Refusal::rule(stale_card()))?;
                Command::TakeFailurePath { step: card.step_id.clone(), path, note: note(custom_id::field::NOTE) }
            }
            ModalForm::Evidence(EvidenceForm::TestResult) => Command::RecordTestResult(TestResult {
                suite: field(custom_id::field::SUITE),
                passed: number(&field(custom_id::field::PASSED), "Tests passed")?,
                failed: number(&field(custom_id::field::FAILED), "Tests failed")?,
                skipped: 0,
                flaky: Vec::new(),
                url: None,
            }),
            ModalForm::Evidence(EvidenceForm::Artifact) => Command::RecordArtifact(Artifact {
                version: Version::parse(&field(custom_id::field::VERSION)).map_err(Refusal::rule)?,
                git_sha: GitSha::parse(&field(custom_id::field::GIT_SHA)).map_err(Refusal::rule)?,
                digest: ArtifactDigest::parse(&field(custom_id::field::DIGEST)).map_err(Refusal::rule)?,
                size_bytes: number(&field(custom_id::field::SIZE_BYTES), "Size in bytes")?,
                name: None,
            }),
            ModalForm::Evidence(kind @ (EvidenceForm::StagingDeploy | EvidenceForm::ProductionDeploy)) => {
                let strategy = field(custom_id::field::STRATEGY);
                Command::RecordDeployment(DeploymentReport {
                    environment: if kind == EvidenceForm::ProductionDeploy {
                        Environment::Production
                    } else {
                        Environment::Staging
                    },
                    digest: ArtifactDigest::parse(&field(custom_id::field::DIGEST)).map_err(Refusal::rule)?,
                    outcome: word(
                        &field(custom_id::field::OUTCOME),
                        "Outcome",
                        &[("succeeded", DeployOutcome::Succeeded), ("failed", DeployOutcome::Failed)],
                    )?,
                    health: word(
                        &field(custom_id::field::HEALTH),
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
                    unknown_artifact_reason: note(custom_id::field::REASON),
                    url: None,
                })
            }
        };
        self.run_on_card(&card, command, actor, request).await
    }

    /// Runs a command clicked on `clicked` and answers with that card as it now stands.
    async fn run_on_card(
        &self,
        clicked: &Card,
        command: Command,
        actor: Actor,
        request: RequestId,
    ) -> Result<Answer, Refusal> {
        let answered = (clicked.step.into(), clicked.attempt);
        let outcome: Outcome = self
            .app
            .execute_answering_card(&clicked.release_id, command, actor, request, answered)
            .await
            .map_err(Refusal::from)?;
        self.answer_on_card(clicked, &outcome).await
    }

    /// A click on a card that no longer applies: the repeat of a click that moved it on
    /// (Discord delivers an interaction again) gets the first answer; anything else, `refusal`.
    async fn repeat_or(
        &self,
        refusal: Refusal,
        release: &ReleaseId,
        step: StepRef,
        attempt: u32,
        request: &RequestId,
    ) -> Result<Answer, Refusal> {
        let Some(outcome) = self.app.answered(request).await.map_err(Refusal::from)? else {
            return Err(refusal);
        };
        let first = outcome.events.first().map_or(outcome.release.seq, |r| r.seq);
        let before = self.app.release_as_of(release, first.saturating_sub(1)).await.map_err(Refusal::from)?;
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
    async fn answer_on_card(&self, clicked: &Card, outcome: &Outcome) -> Result<Answer, Refusal> {
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
        Ok(render::update_message(&card).into())
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
    async fn up_to_date(&self, clicked: &Card) -> Result<Answer, Refusal> {
        let release = self.current_release(&clicked.release_id, Read::Remembered).await?;
        let ctx = self.app.card_context_with_locks(&release, self.app.now()).await?;
        let card = card::step_card(&release, clicked.step, &ctx).unwrap_or_else(|| clicked.clone());
        Ok(render::update_message(&card).into())
    }

    /// Runs a command given on the monitoring card and says what happened, to everyone in
    /// the thread; the card itself is edited through the outbox.
    async fn run_from_watch(
        &self,
        card: &Card,
        command: Command,
        actor: Actor,
        request: RequestId,
    ) -> Result<Answer, Refusal> {
        let name = command.name();
        let outcome = self.app.execute(&card.release_id, command, actor, request).await.map_err(Refusal::from)?;
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
        Ok(json!({ "type": 4, "data": { "content": text, "allowed_mentions": { "parse": [] } } }).into())
    }

    fn open_modal(&self, card: &Card, form: ModalForm) -> Result<Answer, Refusal> {
        if !card.is_open() {
            return Err(Refusal::rule(stale_card()));
        }
        render::modal(card, form).map(Answer::from).map_err(|e| Refusal::Internal(e.into()))
    }

    async fn current_release(&self, id: &ReleaseId, read: Read) -> Result<Release, Refusal> {
        let release = match read {
            Read::Remembered => self.app.release(id).await,
            Read::Stored => self.app.release_with_history(id).await.map(|found| found.map(|(release, _)| release)),
        };
        let release = release.map_err(Refusal::from)?.ok_or_else(|| {
            Refusal::rule("This card's release does not exist here (it may belong to another shipgate).")
        })?;
        if release.channel.as_ref().and_then(|c| c.platform) != Some(ChatPlatform::Discord) {
            return Err(Refusal::rule("This release is not run from Discord; use the API or its own chat."));
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
enum Refusal {
    /// A rule said no: the person is told why and what to do.
    Rule(String),
    Internal(anyhow::Error),
}

impl Refusal {
    fn rule(message: impl Into<String>) -> Self {
        Refusal::Rule(message.into())
    }
}

impl From<AppError> for Refusal {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Rejected(rejection) => Refusal::Rule(explain(&rejection)),
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
fn explain(rejection: &Rejection) -> String {
    use RejectionCode as C;
    let hint = match rejection.code {
        C::NotAllowed => "Ask someone with the role, or ask an admin to map your Discord role in [discord.roles].",
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

fn required(command: &SlashCommand, name: &str) -> Result<String, Refusal> {
    command
        .text(name)
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
            explain(&bare),
            "Not done: the release is at Step 5 (Smoke Test on Staging). Use the buttons on the release's latest card."
        );
        let ended = Rejection::new(RejectionCode::Internal, "something failed.");
        assert_eq!(explain(&ended), "Not done: something failed.");
    }
}
