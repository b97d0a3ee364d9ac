//! One handler for every Discord interaction, however it arrived (HTTP endpoint or
//! gateway): decide who is asking, turn the interaction into an engine command, run it,
//! and answer within Discord's 3 seconds with the card re-rendered, a modal, or an
//! ephemeral reply saying why nothing changed.

use super::custom_id::{ClickTarget, ModalTarget};
use super::interaction::{self, Interaction, Person, SlashCommand};
use super::render;
use crate::app::App;
use crate::chat::conversation::{Answered, Conversation, Refusal, Reply, StartAsked};
use crate::config::DiscordConfig;
use crate::domain::release::Command;
use crate::domain::{Actor, ChatPlatform, GitSha, Platform, ReleaseId, RequestId, RoleName, Version};
use serde_json::{json, Value};
use std::sync::Arc;

/// The interaction callback types shipgate answers with.
const PONG: u8 = 1;
const DEFERRED_CHANNEL_MESSAGE: u8 = 5;

/// Everything a Discord interaction needs to be answered.
#[derive(Clone)]
pub struct Handler {
    conversation: Conversation,
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
        let conversation = Conversation::new(app, ChatPlatform::Discord, config.release_channel_id.clone());
        Self { conversation, config }
    }

    pub fn app(&self) -> &App {
        self.conversation.app()
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
                let reply = self.conversation.click(target, actor, request).await;
                self.answer(interaction, reply)
            }
            interaction::MODAL_SUBMIT => {
                let custom_id = interaction.custom_id().unwrap_or_default();
                let target = ModalTarget::decode(custom_id).map_err(|e| {
                    Refusal::rule(format!(
                        "That form is not one shipgate can act on ({e}). Open it again from the release's latest card."
                    ))
                })?;
                let reply = self.conversation.submit(target, &interaction.modal_values(), actor, request).await;
                self.answer(interaction, reply)
            }
            interaction::AUTOCOMPLETE => Ok(json!({ "type": 8, "data": { "choices": [] } }).into()),
            other => Err(Refusal::rule(format!("shipgate does not handle interactions of type {other}."))),
        }
    }

    /// The person as an engine actor, with the shipgate roles their Discord roles map to.
    fn actor(&self, person: &Person) -> Actor {
        let all = self.app().playbooks().roles();
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
        let here = interaction.channel_id();
        let conversation = &self.conversation;
        let reply = match (command.name.as_str(), command.subcommand.as_deref()) {
            ("release", Some("start")) => {
                let asked = StartAsked {
                    service: command.text("service").map(str::to_owned),
                    version: command.text("version").map(str::to_owned),
                    sha: command.text("sha").map(str::to_owned),
                    playbook: command.text("playbook").map(str::to_owned),
                    hotfix: command.flag("hotfix").unwrap_or(false),
                };
                conversation.start(here, asked, actor, request).await
            }
            ("release", Some("status")) => conversation.status(here, command.text("release")).await,
            ("release", Some("list")) => {
                let locks = super::locks::lines(self.app(), here).await.map_err(|e| conversation.refused(e))?;
                conversation.list(locks).await
            }
            ("release", Some("drill")) => conversation.drill(here, command.text("service"), actor, request).await,
            ("release", Some("drills")) => conversation.drills().await,
            ("release", Some("lock")) => super::locks::lock(self.app(), command, here, actor, request)
                .await
                .map(Reply::Private)
                .map_err(|e| conversation.refused(e)),
            ("release", Some("unlock")) => super::locks::unlock(self.app(), command, actor, request)
                .await
                .map(Reply::Private)
                .map_err(|e| conversation.refused(e)),
            ("release", Some("abort")) => {
                let command = Command::Abort { reason: required(command, "reason")? };
                conversation.run_here(here, command, actor, request).await
            }
            ("release", Some("retarget")) => {
                let command = Command::Retarget {
                    git_sha: GitSha::parse(&required(command, "sha")?).map_err(Refusal::rule)?,
                    version: command.text("version").map(Version::parse).transpose().map_err(Refusal::rule)?,
                    reason: required(command, "reason")?,
                };
                conversation.run_here(here, command, actor, request).await
            }
            ("release", Some("rollback")) => {
                let command = Command::TriggerRollback { reason: required(command, "reason")? };
                conversation.run_here(here, command, actor, request).await
            }
            ("freeze", Some("status")) => conversation.freeze_status(here, command.text("at")),
            ("freeze", Some("override")) => {
                let command = Command::RequestFreezeOverride { reason: required(command, "reason")? };
                conversation.run_here(here, command, actor, request).await
            }
            (name, sub) => Err(Refusal::rule(format!(
                "shipgate does not know /{name} {}; restart shipgate to register its current commands.",
                sub.unwrap_or_default()
            ))),
        };
        self.answer(interaction, reply)
    }

    /// A reply as Discord's interaction response.
    fn answer(&self, interaction: &Interaction, reply: Answered) -> Result<Answer, Refusal> {
        Ok(match reply? {
            Reply::Private(text) => render::ephemeral(&text).into(),
            Reply::Public(text) => {
                json!({ "type": 4, "data": { "content": text, "allowed_mentions": { "parse": [] } } }).into()
            }
            Reply::UpdateCard(card) => render::update_message(&card).into(),
            Reply::PrivateCard(card) => {
                let mut message = render::message(&card);
                message["flags"] = json!(render::EPHEMERAL);
                json!({ "type": 4, "data": message }).into()
            }
            Reply::Form(card, form) => {
                render::modal(&card, form).map(Answer::from).map_err(|e| Refusal::Internal(e.into()))?
            }
            Reply::Started { release, text } => Answer {
                body: json!({ "type": DEFERRED_CHANNEL_MESSAGE }),
                follow_up: Some(FollowUp::ThreadLink { release, token: interaction.token.clone(), text }),
            },
        })
    }
}

fn required(command: &SlashCommand, name: &str) -> Result<String, Refusal> {
    command
        .text(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Refusal::rule(format!("`{name}` is required.")))
}
