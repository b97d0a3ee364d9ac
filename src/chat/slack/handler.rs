//! One handler for every Slack request, however it arrived (HTTP or Socket Mode): decide
//! who is asking, turn the slash command or click into a conversation with the engine,
//! and answer within Slack's 3 seconds. A click is acknowledged as soon as its command is
//! durable: its card update and its refusal go after, through the click's `response_url`
//! ([`super::answers`]); a form it opens goes before, through `views.open`, while its
//! trigger id is good.
//!
//! Slack slash commands carry no thread, so commands on one release name it:
//! `/release abort <release id or service> <reason>`. A service names its release in
//! progress.

use super::answers::{self, Answers, OnSlack};
use super::render;
use super::web::{respond, Web};
use crate::app::App;
use crate::chat::conversation::{Answered, Conversation, Refusal, Reply, StartAsked};
use crate::chat::target::{field, ClickTarget, ModalTarget, START_FORM_ID};
use crate::config::slack::SlackConfig;
use crate::domain::release::Command;
use crate::domain::{Actor, ChatPlatform, Platform, ReleaseId, RequestId, RoleName};
use crate::store::ReleaseFilter;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the members of a mapped user group are remembered before asking Slack again.
const GROUPS_TTL: Duration = Duration::from_secs(300);

/// A slash command, as Slack posts it (form-encoded) or sends it over Socket Mode.
#[derive(Debug, Clone, Deserialize)]
pub struct SlashCommand {
    #[serde(default)]
    pub team_id: String,
    pub channel_id: String,
    pub user_id: String,
    #[serde(default)]
    pub user_name: String,
    pub command: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub response_url: String,
    #[serde(default)]
    pub trigger_id: String,
}

/// A form field's own check: why its value is refused, if it is.
type FieldCheck = fn(&str) -> Result<(), String>;

/// User group -> (its members, when they were read).
type GroupMembers = HashMap<String, (Vec<String>, Instant)>;

/// What goes back to Slack at once: the HTTP answer's JSON body (or the Socket Mode ack's
/// payload); `None` is an empty 200.
pub type Ack = Option<Value>;

#[derive(Clone)]
pub struct Handler {
    conversation: Conversation,
    config: Arc<SlackConfig>,
    web: Arc<Web>,
    http: reqwest::Client,
    groups: Arc<Mutex<GroupMembers>>,
    /// What clicks show, sent after they are acknowledged.
    answers: Answers<OnSlack>,
}

impl Handler {
    pub fn new(app: App, config: Arc<SlackConfig>, web: Arc<Web>) -> Self {
        let conversation = Conversation::new(app, ChatPlatform::Slack, config.release_channel_id.clone());
        let http = reqwest::Client::new();
        let answers =
            Answers::new(OnSlack { conversation: conversation.clone(), web: web.clone(), http: http.clone() });
        Self { conversation, config, web, http, groups: Arc::default(), answers }
    }

    pub fn app(&self) -> &App {
        self.conversation.app()
    }

    /// The person as an engine actor, with the shipgate roles their user id and user
    /// groups map to.
    async fn actor(&self, user_id: &str, name: &str) -> Actor {
        let all = self.app().playbooks().roles();
        let groups = self.groups_of(user_id).await;
        let roles = self.config.roles_of(user_id, &groups, all.iter().map(RoleName::as_str));
        Actor::new(Platform::Slack, user_id, shown_name(user_id, name)).with_roles(roles)
    }

    /// The mapped user groups `user` is in. A group Slack cannot list just now counts as
    /// not holding the user (the refusal says which role was missing), and is logged.
    async fn groups_of(&self, user: &str) -> Vec<String> {
        let mut held = Vec::new();
        for group in self.config.mapped_groups() {
            let cached = self
                .groups
                .lock()
                .expect("groups lock")
                .get(&group)
                .and_then(|(members, at)| (at.elapsed() < GROUPS_TTL).then(|| members.clone()));
            let members = match cached {
                Some(members) => members,
                None => match self.web.usergroup_members(&group).await {
                    Ok(members) => {
                        self.groups
                            .lock()
                            .expect("groups lock")
                            .insert(group.clone(), (members.clone(), Instant::now()));
                        members
                    }
                    Err(e) => {
                        tracing::warn!(%group, error = %e, "could not read a mapped Slack user group's members");
                        continue;
                    }
                },
            };
            if members.iter().any(|m| m == user) {
                held.push(group);
            }
        }
        held
    }

    // ------------------------------------------------------------------------------------
    // Slash commands
    // ------------------------------------------------------------------------------------

    /// Answers a slash command. Never fails: refusals and internal errors are ephemeral.
    pub async fn command(&self, command: &SlashCommand) -> Ack {
        if let Some(typed) = start_without_commit(command) {
            return self.open_start_form(command, typed).await;
        }
        let actor = self.actor(&command.user_id, &command.user_name).await;
        // Slack does not resend slash commands; the trigger id is unique per invocation.
        let request = RequestId::new(format!("slack:{}:{}", command.user_id, command.trigger_id));
        // A command delivered again is answered as the first time, but what followed the
        // first answer (the new thread's link) is not posted twice.
        let repeat = matches!(self.app().answered(&request).await, Ok(Some(_)));
        let reply = self.dispatch(command, actor, request).await;
        Some(self.command_answer(command, reply, repeat))
    }

    async fn dispatch(&self, command: &SlashCommand, actor: Actor, request: RequestId) -> Answered {
        let here = Some(command.channel_id.as_str());
        let conversation = &self.conversation;
        let name = command.command.trim_start_matches('/');
        let mut words = command.text.split_whitespace();
        let sub = words.next().unwrap_or("").to_ascii_lowercase();
        let rest: Vec<&str> = words.collect();
        match (name, sub.as_str()) {
            ("release", "start") => {
                // A mistyped flag must not start a release other than the one meant (a
                // hotfix started as a plain release cannot override a freeze).
                if let Some(refused) = start_options_refused(&rest) {
                    return Err(Refusal::rule(refused));
                }
                conversation.start(here, start_asked(&rest), actor, request).await
            }
            ("release", "status") => {
                let id = match rest.first() {
                    Some(named) => Some(self.release_named(named).await?),
                    None => None,
                };
                conversation.status(here, id.as_ref().map(ReleaseId::as_str)).await
            }
            ("release", "list") => conversation.list(Vec::new()).await,
            ("release", "drill") => conversation.drill(here, rest.first().copied(), actor, request).await,
            ("release", "drills") => conversation.drills().await,
            ("release", "abort") => {
                let (id, reason) = self.release_and_reason(&rest, "release abort").await?;
                conversation.run_on(&id, Command::Abort { reason }, actor, request).await
            }
            ("release", "rollback") => {
                let (id, reason) = self.release_and_reason(&rest, "release rollback").await?;
                conversation.run_on(&id, Command::TriggerRollback { reason }, actor, request).await
            }
            ("freeze", "status") => conversation.freeze_status(here, rest.first().copied()),
            ("freeze", "override") => {
                let (id, reason) = self.release_and_reason(&rest, "freeze override").await?;
                conversation.run_on(&id, Command::RequestFreezeOverride { reason }, actor, request).await
            }
            ("release", _) => Err(Refusal::rule(
                "Use `/release start <service> <version> <sha> [--hotfix]`, `/release status [release]`, `/release list`, \
                 `/release abort <release> <reason>`, `/release rollback <release> <reason>`, `/release drill <service>` \
                 or `/release drills`.",
            )),
            ("freeze", _) => Err(Refusal::rule(
                "Use `/freeze status [time]` or `/freeze override <release> <reason>` (hotfixes only).",
            )),
            (other, _) => Err(Refusal::rule(format!("shipgate does not handle /{other}."))),
        }
    }

    /// `/release start` typed without its commit: the form asks for it, with what was typed
    /// filled in. Slack answers the command with nothing once the form is open.
    async fn open_start_form(&self, command: &SlashCommand, typed: StartAsked) -> Ack {
        // A playbook shipgate does not have is refused now, not after the form is filled
        // in; it also bounds what the form's `private_metadata` carries (Slack allows 3,000
        // characters) to the names of the configured playbooks.
        if let Some(name) = typed.playbook.as_deref().filter(|p| !p.trim().is_empty()) {
            let playbooks = self.app().playbooks();
            if playbooks.get(Some(name)).is_none() {
                let known = playbooks.names().join(", ");
                return Some(render::ephemeral(&mrkdwn(&format!(
                    "There is no playbook named {name}; known: {known}."
                ))));
            }
        }
        match self.web.open_view(&command.trigger_id, &start_view(command, typed)).await {
            Ok(()) => None,
            Err(e) => Some(render::ephemeral(&format!(
                "Give the commit to ship: `/release start <service> <version> <sha> [--hotfix]` (the form asking \
                 for it could not be opened: {e})."
            ))),
        }
    }

    /// The start form sent: the release starts as if typed in full, or the form stays open
    /// with the reason beside the field it concerns.
    async fn start_submitted(
        &self,
        view: &Value,
        values: &BTreeMap<String, String>,
        actor: Actor,
        request: RequestId,
    ) -> Ack {
        let pending = match pending_start(view) {
            Some(pending) => pending,
            None => {
                return Some(form_error(
                    field::SERVICE,
                    "This form is not one shipgate opened; type `/release start` again.",
                ))
            }
        };
        let value = |name: &str| values.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        // Each field's own problem goes beside it; the engine's refusals (a freeze, an
        // unknown playbook) beside the service.
        let checks: [(&str, FieldCheck); 3] = [
            (field::SERVICE, |v| crate::domain::ServiceName::parse(v).map(drop)),
            (field::VERSION, |v| crate::domain::Version::parse(v).map(drop)),
            (field::GIT_SHA, |v| crate::domain::GitSha::parse(v).map(drop)),
        ];
        for (name, check) in checks {
            let problem = match value(name) {
                None => Some("Required.".to_owned()),
                Some(v) => check(&v).err(),
            };
            if let Some(problem) = problem {
                return Some(form_error(name, &mrkdwn(&problem)));
            }
        }
        let asked = StartAsked {
            service: value(field::SERVICE),
            version: value(field::VERSION),
            sha: value(field::GIT_SHA),
            playbook: pending.playbook,
            hotfix: pending.hotfix,
        };
        match self.conversation.start(Some(&pending.channel), asked, actor, request).await {
            Ok(Reply::Started { release, text }) => {
                self.link_thread_later(release, pending.response_url, mrkdwn(&text));
                None
            }
            Ok(_) => None,
            Err(refusal) => Some(form_error(field::SERVICE, &self.refusal_text(refusal))),
        }
    }

    /// `<release> <reason…>`: the release named by its id, or by its service's release in
    /// progress; the reason is required. `command` is the one typed (`freeze override`).
    async fn release_and_reason(&self, words: &[&str], command: &str) -> Result<(ReleaseId, String), Refusal> {
        let Some(named) = words.first() else {
            return Err(Refusal::rule(format!(
                "Name the release and say why: `/{command} <release id or service> <reason>`."
            )));
        };
        let reason = words[1..].join(" ");
        if reason.trim().is_empty() {
            return Err(Refusal::rule(format!("Say why: `/{command} {named} <reason>`.")));
        }
        Ok((self.release_named(named).await?, reason))
    }

    /// A release by its id, or the release in progress of a service.
    async fn release_named(&self, named: &str) -> Result<ReleaseId, Refusal> {
        let app = self.app();
        let id = ReleaseId::new(named);
        if app.release(&id).await.map_err(|e| self.conversation.refused(e))?.is_some() {
            return Ok(id);
        }
        let mut found = Vec::new();
        for status in ["active", "rolling_back"] {
            let filter = ReleaseFilter {
                service: Some(crate::domain::ServiceName::new(named)),
                status: Some(status.into()),
                limit: Some(5),
            };
            found.extend(app.list(&filter).await.map_err(|e| self.conversation.refused(e))?);
        }
        match found.as_slice() {
            [one] => Ok(one.id.clone()),
            [] => Err(Refusal::rule(format!(
                "{named:?} is neither a release id nor a service with a release in progress. `/release list` shows them."
            ))),
            _ => Err(Refusal::rule(format!(
                "{named} has more than one release in progress; name one by its id (`/release list` shows them)."
            ))),
        }
    }

    /// A slash command's reply as the answer to Slack's request.
    fn command_answer(&self, command: &SlashCommand, reply: Answered, repeat: bool) -> Value {
        match reply {
            Ok(Reply::Private(text)) => render::ephemeral(&mrkdwn(&text)),
            Ok(Reply::Public(text)) => json!({ "response_type": "in_channel", "text": mrkdwn(&text) }),
            Ok(Reply::PrivateCard(card) | Reply::UpdateCard(card)) => {
                let mut message = render::message(&card);
                message["response_type"] = json!("ephemeral");
                message
            }
            Ok(Reply::Form(..)) => render::ephemeral("Open that form from the card's button."),
            Ok(Reply::Started { release, text }) => {
                if !repeat {
                    self.link_thread_later(release, command.response_url.clone(), mrkdwn(&text));
                }
                json!({ "response_type": "in_channel", "text": format!("{}; its thread opens in a moment.", mrkdwn(&text)) })
            }
            Err(refusal) => render::ephemeral(&self.refusal_text(refusal)),
        }
    }

    /// Once the new release's thread exists, says where it is through `response_url`.
    fn link_thread_later(&self, release: ReleaseId, response_url: String, text: String) {
        if response_url.is_empty() {
            return;
        }
        let (app, http) = (self.app().clone(), self.http.clone());
        tokio::spawn(async move {
            let mut thread = None;
            // A response_url is good for 30 minutes; a thread normally opens within a second.
            for _ in 0..600 {
                match app.store().chat_messages(&release, ChatPlatform::Slack.as_str()).await {
                    Ok(messages) => {
                        thread = messages.into_iter().find(|m| m.key == crate::app::THREAD_KEY);
                        if thread.is_some() {
                            break;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "reading the thread of a new release"),
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            let Some(thread) = thread else { return };
            let link = super::deliver::thread_link(&thread.channel_id, &thread.message_id).url;
            // A slash command's answer has no original message to replace: the link follows it.
            let body = json!({ "response_type": "in_channel", "text": format!("{text}: <{link}|its thread>") });
            if let Err(e) = respond(&http, &response_url, &body).await {
                tracing::warn!(error = %e, %release, "could not complete the /release start reply");
            }
        });
    }

    // ------------------------------------------------------------------------------------
    // Clicks and forms
    // ------------------------------------------------------------------------------------

    /// Answers an interactivity payload (`block_actions`, `view_submission`).
    pub async fn interactive(&self, payload: &Value) -> Ack {
        let (user_id, name) = payload_user(payload)?;
        let actor = self.actor(user_id, name).await;
        match payload["type"].as_str() {
            Some("block_actions") => {
                self.block_actions(payload, actor).await;
                None
            }
            Some("view_submission") => self.view_submission(payload, actor).await,
            _ => None,
        }
    }

    async fn block_actions(&self, payload: &Value, actor: Actor) {
        let response_url = payload["response_url"].as_str().unwrap_or_default().to_owned();
        let trigger_id = payload["trigger_id"].as_str().unwrap_or_default();
        // A click on a message Slack did not name has no turn to share: its own url orders it.
        let message = answers::clicked_message(payload).unwrap_or_else(|| response_url.clone());
        for (action_id, action_ts) in clicked_actions(payload) {
            // The same click (its action_ts, by its user) delivered again changes nothing twice.
            let request = RequestId::new(format!("slack:{}:{action_ts}", actor.user_id));
            let reply = match ClickTarget::decode(action_id) {
                Ok(target) => self.conversation.click(target, actor.clone(), request).await,
                Err(e) => Err(Refusal::rule(format!(
                    "That button is not one shipgate can act on ({e}). Use the buttons on the release's latest card."
                ))),
            };
            // The click is durable (or refused): Slack is acknowledged when this returns, and
            // what it shows of the click goes through the response_url after that.
            let body = match reply {
                Ok(Reply::UpdateCard(card)) => {
                    self.answers.card(message.clone(), card, response_url.clone());
                    continue;
                }
                // Opened before the acknowledgement: the trigger id is good for 3 seconds.
                Ok(Reply::Form(card, form)) => match render::modal(&card, form) {
                    Ok(view) => match self.web.open_view(trigger_id, &view).await {
                        Ok(()) => continue,
                        Err(e) => render::ephemeral(&format!("The form could not be opened ({e}); click again.")),
                    },
                    Err(e) => render::ephemeral(&format!("The form could not be opened ({e}).")),
                },
                Ok(Reply::Public(text)) => {
                    json!({ "response_type": "in_channel", "replace_original": false, "text": mrkdwn(&text) })
                }
                Ok(Reply::Private(text)) => render::ephemeral(&mrkdwn(&text)),
                Ok(Reply::PrivateCard(card)) => render::update_message(&card),
                Ok(Reply::Started { text, .. }) => render::ephemeral(&mrkdwn(&text)),
                Err(refusal) => render::ephemeral(&self.refusal_text(refusal)),
            };
            self.answers.say(response_url.clone(), body);
        }
    }

    /// A form sent: its fields become the command; a refusal keeps the modal open with the
    /// reason shown, as Slack's `response_action: errors` does.
    async fn view_submission(&self, payload: &Value, actor: Actor) -> Ack {
        let view = &payload["view"];
        let callback_id = view["callback_id"].as_str().unwrap_or_default();
        let view_id = view["id"].as_str().unwrap_or_default();
        let request =
            RequestId::new(format!("slack:{}:view:{view_id}:{}", actor.user_id, view["hash"].as_str().unwrap_or("")));
        let values = submitted_values(view);
        if callback_id == START_FORM_ID {
            return self.start_submitted(view, &values, actor, request).await;
        }
        let reply = match ModalTarget::decode(callback_id) {
            Ok(target) => self.conversation.submit(target, &values, actor, request).await,
            Err(e) => Err(Refusal::rule(format!(
                "That form is not one shipgate can act on ({e}). Open it again from the card."
            ))),
        };
        match reply {
            Ok(Reply::UpdateCard(card)) => {
                self.update_posted_card(&card).await;
                None
            }
            Ok(Reply::Public(text)) => {
                self.say_in_thread(&card_release(view), &mrkdwn(&text)).await;
                None
            }
            Ok(_) => None,
            Err(refusal) => {
                let reason = self.refusal_text(refusal);
                let field = field_at_fault(view, &values, &reason);
                Some(json!({ "response_action": "errors", "errors": { field: reason } }))
            }
        }
    }

    /// Updates the card's message in its thread after a form moved it on.
    async fn update_posted_card(&self, card: &crate::domain::card::Card) {
        answers::update_posted_card(self.app(), &self.web, card).await;
    }

    async fn say_in_thread(&self, release: &Option<ReleaseId>, text: &str) {
        let Some(release) = release else { return };
        let Ok(messages) = self.app().store().chat_messages(release, ChatPlatform::Slack.as_str()).await else {
            return;
        };
        if let Some(thread) = messages.into_iter().find(|m| m.key == crate::app::THREAD_KEY) {
            let message = json!({ "text": text });
            if let Err(e) = self.web.post_message(&thread.channel_id, Some(&thread.message_id), &message).await {
                tracing::warn!(error = %e, "could not say a form's outcome in its thread");
            }
        }
    }

    fn refusal_text(&self, refusal: Refusal) -> String {
        match refusal {
            Refusal::Rule(message) => mrkdwn(&message),
            Refusal::Internal(error) => {
                let correlation_id = uuid::Uuid::new_v4();
                tracing::error!(%correlation_id, error = format!("{error:#}"), "internal error answering Slack");
                format!(
                    "Sorry, shipgate failed to handle this; nothing you did was lost. It is logged with correlation id {correlation_id}."
                )
            }
        }
    }
}

/// Socket Mode's envelopes are the HTTP requests' payloads: the same handler answers them,
/// and the answer rides on the acknowledgement.
impl super::socket::EnvelopeHandler for Handler {
    async fn handle(&self, envelope: super::socket::Envelope) -> Option<Value> {
        use super::socket::EnvelopeKind;
        match envelope.kind {
            EnvelopeKind::SlashCommands => match serde_json::from_value::<SlashCommand>(envelope.payload) {
                Ok(mut command) => {
                    // The trigger id keys the command; Slack keeps it across redeliveries of
                    // one envelope, but fall back to the envelope's id should it be missing.
                    if command.trigger_id.is_empty() {
                        command.trigger_id = envelope.id;
                    }
                    self.command(&command).await
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a Slack slash command over Socket Mode could not be read");
                    None
                }
            },
            EnvelopeKind::Interactive => self.interactive(&envelope.payload).await,
            EnvelopeKind::EventsApi | EnvelopeKind::Other(_) => None,
        }
    }
}

/// Who sent an interactivity payload: their user id and the name Slack gives them. `None`
/// without a user id: nobody to act as.
pub fn payload_user(payload: &Value) -> Option<(&str, &str)> {
    let user = &payload["user"];
    let user_id = user["id"].as_str().unwrap_or_default();
    let name = user["name"].as_str().or(user["username"].as_str()).unwrap_or_default();
    (!user_id.is_empty()).then_some((user_id, name))
}

/// The name a Slack user is shown by on cards and in the history: theirs, or their user id
/// when Slack sent none, made safe to show as Discord's names are (no control characters
/// or bidi overrides, 64 characters at most).
pub fn shown_name(user_id: &str, name: &str) -> String {
    crate::domain::text::display_name(name, user_id)
}

/// The buttons a `block_actions` payload clicked: each one's `action_id` (the element it
/// names) and `action_ts` (which, with the user, tells a click delivered again).
pub fn clicked_actions(payload: &Value) -> impl Iterator<Item = (&str, &str)> {
    payload["actions"].as_array().into_iter().flatten().map(|action| {
        (action["action_id"].as_str().unwrap_or_default(), action["action_ts"].as_str().unwrap_or_default())
    })
}

/// A submitted view's inputs: block id -> the text typed or the option picked (the first
/// element of each block; shipgate's forms have one per block).
pub fn submitted_values(view: &Value) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    if let Some(blocks) = view["state"]["values"].as_object() {
        for (block_id, actions) in blocks {
            if let Some(value) = actions.as_object().and_then(|a| a.values().next()) {
                let text = value["value"].as_str().or(value["selected_option"]["value"].as_str()).unwrap_or("");
                values.insert(block_id.clone(), text.to_owned());
            }
        }
    }
    values
}

/// `/release start <service> <version> <sha> [--hotfix] [--playbook <name>]` as typed
/// (the words after `start`), flags anywhere.
pub fn start_asked(words: &[&str]) -> StartAsked {
    let mut plain = positional(words).into_iter().map(str::to_owned);
    StartAsked {
        service: plain.next(),
        version: plain.next(),
        sha: plain.next(),
        playbook: option(words, "--playbook"),
        hotfix: words.contains(&"--hotfix"),
    }
}

/// `/release start` typed without its commit, when Slack sent a trigger id to open the
/// form that asks for it with.
pub fn start_without_commit(command: &SlashCommand) -> Option<StartAsked> {
    let words: Vec<&str> = command.text.split_whitespace().collect();
    let is_start = command.command.trim_start_matches('/') == "release"
        && words.first().is_some_and(|w| w.eq_ignore_ascii_case("start"));
    if !is_start || command.trigger_id.is_empty() || start_options_refused(&words[1..]).is_some() {
        return None;
    }
    Some(start_asked(&words[1..])).filter(|asked| asked.sha.is_none())
}

/// What a start form carries from the typed command to its submission, in the view's
/// `private_metadata`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct PendingStart {
    pub channel: String,
    pub hotfix: bool,
    pub playbook: Option<String>,
    /// The command's `response_url`: the release's announcement goes where it was typed.
    pub response_url: String,
}

/// The form asking for the commit of `/release start` typed without one: the service and
/// version as typed, and the rest of the command in its `private_metadata`.
pub fn start_view(command: &SlashCommand, typed: StartAsked) -> Value {
    let form = crate::chat::form::start_form(typed.service.as_deref(), typed.version.as_deref(), typed.hotfix);
    let pending = PendingStart {
        channel: command.channel_id.clone(),
        hotfix: typed.hotfix,
        playbook: typed.playbook,
        response_url: command.response_url.clone(),
    };
    let metadata = serde_json::to_string(&pending).expect("a pending start serializes");
    render::start_modal(&form, &metadata)
}

/// What a submitted start form carried over from its command; `None` when its
/// `private_metadata` is not what [`start_view`] wrote.
pub fn pending_start(view: &Value) -> Option<PendingStart> {
    serde_json::from_str(view["private_metadata"].as_str().unwrap_or_default()).ok()
}

/// A view submission's answer keeping the form open with `message` beside `field`.
fn form_error(field: &str, message: &str) -> Value {
    json!({ "response_action": "errors", "errors": { field: message } })
}

/// The release a form's view belongs to, from its `callback_id`.
fn card_release(view: &Value) -> Option<ReleaseId> {
    ModalTarget::decode(view["callback_id"].as_str()?).ok().map(|t| t.release)
}

/// The input of a refused form to show `reason` under: the one whose value it quotes (the
/// form's own checks quote the value they refuse), else the form's first input.
pub fn field_at_fault(view: &Value, values: &BTreeMap<String, String>, reason: &str) -> String {
    let inputs: Vec<&str> = view["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|block| block["type"] == "input")
        .filter_map(|block| block["block_id"].as_str())
        .collect();
    let quoted = |input: &&&str| {
        values.get(**input).map(|v| v.trim()).is_some_and(|v| !v.is_empty() && reason.contains(&format!("{v:?}")))
    };
    inputs
        .iter()
        .find(quoted)
        .or(inputs.first())
        .map(|input| (*input).to_owned())
        .or_else(|| values.keys().next().cloned())
        .unwrap_or_else(|| "reason".to_owned())
}

/// Why `/release start`'s flags are refused, if they are: one shipgate does not know, or
/// `--playbook` without a name.
pub fn start_options_refused(words: &[&str]) -> Option<String> {
    let usage = "Use `/release start <service> <version> <sha> [--hotfix] [--playbook <name>]`.";
    for (i, word) in words.iter().enumerate() {
        match *word {
            "--hotfix" => {}
            "--playbook" if words.get(i + 1).is_some_and(|name| !name.starts_with("--")) => {}
            "--playbook" => return Some(format!("`--playbook` needs a playbook's name. {usage}")),
            flag if flag.starts_with("--") => {
                return Some(format!("`{flag}` is not an option of /release start. {usage}"))
            }
            _ => {}
        }
    }
    None
}

/// The words that are neither flags nor the name `--playbook` takes, in order.
pub fn positional<'a>(words: &[&'a str]) -> Vec<&'a str> {
    let named_playbook = |index: usize| index > 0 && words[index - 1] == "--playbook";
    words.iter().enumerate().filter(|(i, w)| !w.starts_with("--") && !named_playbook(*i)).map(|(_, w)| *w).collect()
}

/// The value after `flag` among `words` (`--playbook hotfix`).
fn option(words: &[&str], flag: &str) -> Option<String> {
    words.iter().position(|w| *w == flag).and_then(|i| words.get(i + 1)).map(|w| (*w).to_owned())
}

/// The conversation's words (Discord-flavoured markdown: `**bold**`) as Slack mrkdwn.
fn mrkdwn(text: &str) -> String {
    text.replace("**", "*")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::text::MAX_DISPLAY_NAME_CHARS;

    #[test]
    fn bold_is_one_star_in_slack() {
        assert_eq!(mrkdwn("Release **api 1.4.0** started"), "Release *api 1.4.0* started");
    }

    #[test]
    fn a_slack_name_is_shown_cleaned_and_the_user_id_stands_in_for_none() {
        assert_eq!(shown_name("U0ALICE0001", "alice"), "alice");
        assert_eq!(shown_name("U0ALICE0001", " \t "), "U0ALICE0001");
        assert_eq!(shown_name("U0ALICE0001", "ali\u{202E}ce\u{7}\nsmith"), "alice smith");
        assert_eq!(shown_name("U0\u{0}ALICE\u{2066}", ""), "U0ALICE");
        assert_eq!(shown_name("U0ALICE0001", &"a".repeat(500)).chars().count(), MAX_DISPLAY_NAME_CHARS);
    }

    #[test]
    fn start_reads_its_words_with_flags_anywhere() {
        let asked = start_asked(&["--playbook", "hotfix", "api", "--hotfix", "1.4.0", "3f9c2e1"]);
        assert_eq!(
            (asked.service.as_deref(), asked.version.as_deref(), asked.sha.as_deref()),
            (Some("api"), Some("1.4.0"), Some("3f9c2e1"))
        );
        assert_eq!((asked.playbook.as_deref(), asked.hotfix), (Some("hotfix"), true));
        let asked = start_asked(&["api", "1.4.0"]);
        assert_eq!((asked.sha, asked.playbook, asked.hotfix), (None, None, false));
    }

    #[test]
    fn a_start_without_its_commit_opens_the_form_only_with_a_trigger_id() {
        let command = |text: &str, trigger_id: &str| SlashCommand {
            team_id: String::new(),
            channel_id: "C1".into(),
            user_id: "U1".into(),
            user_name: "alice".into(),
            command: "/release".into(),
            text: text.into(),
            response_url: String::new(),
            trigger_id: trigger_id.into(),
        };
        assert!(start_without_commit(&command("start api 1.4.0", "t1")).is_some());
        assert!(start_without_commit(&command("start", "t1")).is_some());
        assert!(start_without_commit(&command("start api 1.4.0 3f9c2e1", "t1")).is_none());
        assert!(start_without_commit(&command("start api 1.4.0", "")).is_none());
        assert!(start_without_commit(&command("status", "t1")).is_none());
    }

    #[test]
    fn release_start_refuses_flags_it_does_not_know_and_a_playbook_without_a_name() {
        assert_eq!(start_options_refused(&["api", "1.4.0", "3f9c2e1", "--hotfix", "--playbook", "quick"]), None);
        let mistyped = start_options_refused(&["api", "1.4.0", "3f9c2e1", "--hotfx"]).expect("refused");
        assert!(mistyped.starts_with("`--hotfx` is not an option of /release start."), "{mistyped}");
        for words in [&["api", "1.4.0", "3f9c2e1", "--playbook"][..], &["api", "--playbook", "--hotfix"]] {
            let refused = start_options_refused(words).expect("refused");
            assert!(refused.starts_with("`--playbook` needs a playbook's name."), "{refused}");
        }
        // The playbook's name is not one of the positional words.
        assert_eq!(
            positional(&["api", "--playbook", "quick", "1.4.0", "3f9c2e1", "--hotfix"]),
            ["api", "1.4.0", "3f9c2e1"]
        );
    }

    #[test]
    fn a_refused_form_shows_its_reason_under_the_input_whose_value_it_quotes() {
        let view = json!({ "blocks": [
            { "type": "section", "block_id": "about" },
            { "type": "input", "block_id": "suite" },
            { "type": "input", "block_id": "passed" },
            { "type": "input", "block_id": "failed" },
        ]});
        let values: BTreeMap<String, String> = [("suite", "unit"), ("passed", " lots "), ("failed", "0")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        assert_eq!(field_at_fault(&view, &values, "Tests passed: \"lots\" is not a whole number."), "passed");
        // A reason quoting no value goes under the form's first input, not the first by name.
        assert_eq!(field_at_fault(&view, &values, "Not done: a test result needs a suite name."), "suite");
    }

    #[test]
    fn options_follow_their_flag() {
        let words = ["api", "1.4.0", "--playbook", "hotfix", "--hotfix"];
        assert_eq!(option(&words, "--playbook").as_deref(), Some("hotfix"));
        assert_eq!(option(&words, "--missing"), None);
    }
}
