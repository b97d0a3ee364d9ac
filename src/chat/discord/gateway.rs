//! Gateway mode: a serenity client keeps the WebSocket to Discord open and hands every
//! INTERACTION_CREATE to the same [`Handler`] the HTTP endpoint uses. The answer goes back
//! over REST (`POST /interactions/{id}/{token}/callback`), as Discord requires. No public
//! URL is needed; nothing here decides anything about a release.

use super::handler::{FollowUp, Handler};
use super::interaction::Interaction;
use super::rest::{Rest, RestError};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use serenity::all::{
    ClientBuilder, ConnectionStage, Context, Event, EventHandler, GatewayError, GatewayIntents, HttpBuilder,
    RawEventHandler, ShardStageUpdateEvent,
};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Discord's deadline for the initial response is 3 s; a callback that failed on the way
/// is tried again only while an answer can still arrive in time.
const CALLBACK_RETRY_WINDOW: Duration = Duration::from_secs(2);
/// A refused connection fails at once: pause so a retry is not a busy loop.
const CALLBACK_RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Waits between attempts to (re)start the client: first, and at most.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LONGEST_RETRY: Duration = Duration::from_secs(300);
/// How long a stop waits for the client to close its connection.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);
/// A client that ran this long before it stopped had worked: the next retry starts short.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// What the gateway needs: who answers, how answers and follow-ups reach Discord, and
/// where Discord is.
pub struct Gateway {
    pub handler: Handler,
    /// Sends interaction callbacks. Its own client, so that a rate limit the outbox ran
    /// into (a global one included, which callbacks are exempt from) never delays an answer
    /// due within 3 s.
    pub callbacks: Arc<Rest>,
    /// Completes deferred replies, exactly as in HTTP mode.
    pub follow_ups: Arc<dyn Fn(FollowUp) + Send + Sync>,
    /// The origin serenity's requests go to (`https://discord.com`, a proxy, a fake).
    pub api_base: String,
    pub token: SecretString,
}

/// Connects to the gateway and answers interactions until `stopping` completes. Never
/// gives up: while Discord cannot be reached it logs and retries with backoff, so the HTTP
/// API and the outbox keep working meanwhile.
pub async fn run(gateway: Gateway, stopping: impl Future<Output = ()>) {
    tokio::pin!(stopping);
    let receiver = Receiver {
        handler: gateway.handler.clone(),
        callbacks: gateway.callbacks.clone(),
        follow_ups: gateway.follow_ups.clone(),
    };
    let mut retry = FIRST_RETRY;
    loop {
        let started = Instant::now();
        match connect_and_serve(&gateway, receiver.clone(), &mut stopping).await {
            Served::Stopped => return,
            Served::Failed(why) => {
                if started.elapsed() > HEALTHY_RUN {
                    retry = FIRST_RETRY;
                }
                tracing::error!(retry_in_seconds = retry.as_secs(), "Discord gateway: {why}");
            }
        }
        tokio::select! {
            () = &mut stopping => return,
            () = tokio::time::sleep(retry) => {}
        }
        retry = (retry * 2).min(LONGEST_RETRY);
    }
}

enum Served {
    Stopped,
    Failed(String),
}

async fn connect_and_serve(
    gateway: &Gateway,
    receiver: Receiver,
    stopping: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Served {
    // serenity falls back to Discord's public gateway when its own `GET /gateway` fails,
    // which would bypass `api_base` (a proxy, or a test's fake). Asking first, and
    // overwriting whatever URL serenity settled on, keeps the connection where configured.
    let url = tokio::select! {
        () = stopping.as_mut() => return Served::Stopped,
        url = gateway_url(&gateway.callbacks) => url,
    };
    let url = match url {
        Ok(url) => url,
        Err(why) => return Served::Failed(why),
    };
    // serenity's own HTTP client only fetches the gateway URL here (every other call goes
    // through `Rest`, which follows Discord's limits); with its rate limiter on it would
    // ignore the proxy.
    let http = HttpBuilder::new(gateway.token.expose_secret())
        .proxy(gateway.api_base.as_str())
        .ratelimiter_disabled(true)
        .build();
    // Interactions need no intent, privileged or not.
    let built = ClientBuilder::new_with_http(http, GatewayIntents::empty())
        .raw_event_handler(receiver)
        .event_handler(ConnectionLog)
        .await;
    let mut client = match built {
        Ok(client) => client,
        Err(e) => return Served::Failed(format!("cannot build the client: {e}")),
    };
    *client.ws_url.lock().await = url.clone();
    tracing::info!(%url, "connecting to the Discord gateway");
    let shards = client.shard_manager.clone();
    let mut running = tokio::spawn(async move { client.start().await });
    tokio::select! {
        () = stopping.as_mut() => {
            shards.shutdown_all().await;
            // `start` returns once the shards are down; a stuck one must not hold up the exit.
            if tokio::time::timeout(SHUTDOWN_WAIT, running).await.is_err() {
                tracing::warn!("the Discord gateway client did not stop within 10 s; leaving it");
            }
            Served::Stopped
        }
        ended = &mut running => Served::Failed(match ended {
            Ok(Ok(())) => "the connection ended".to_owned(),
            Ok(Err(serenity::Error::Gateway(GatewayError::InvalidAuthentication))) => {
                "Discord refused the bot token (close code 4004); check SHIPGATE_DISCORD_TOKEN or discord.token_file".to_owned()
            }
            Ok(Err(e)) => format!("the client stopped: {e}"),
            Err(e) => format!("the client task failed: {e}"),
        }),
    }
}

/// `GET /gateway`: the WebSocket URL to connect to.
async fn gateway_url(rest: &Rest) -> Result<String, String> {
    let answer = rest.call(reqwest::Method::GET, "/gateway", None).await.map_err(|e| match e {
        RestError::Refused { status: 401, .. } => {
            "Discord refused the bot token (401); check SHIPGATE_DISCORD_TOKEN or discord.token_file".to_owned()
        }
        e => format!("cannot get the gateway URL from discord.api_base: {e}"),
    })?;
    match answer.get("url").and_then(Value::as_str) {
        Some(url) if url.starts_with("wss://") || url.starts_with("ws://") => Ok(url.to_owned()),
        _ => Err(format!("GET /gateway answered without a WebSocket URL: {answer}")),
    }
}

/// Receives interactions and answers them.
#[derive(Clone)]
struct Receiver {
    handler: Handler,
    callbacks: Arc<Rest>,
    follow_ups: Arc<dyn Fn(FollowUp) + Send + Sync>,
}

/// Interactions are taken from the raw event stream rather than `interaction_create`: when
/// serenity's model cannot read an interaction (Discord adds fields and component types
/// faster than a pinned serenity learns them) it turns the event into `Event::Unknown`,
/// which only a raw handler sees. Our own decoder reads both, so no click is lost silently.
#[serenity::async_trait]
impl RawEventHandler for Receiver {
    async fn raw_event(&self, _ctx: Context, event: Event) {
        let decoded = match event {
            Event::InteractionCreate(create) => from_serenity(&create.interaction),
            Event::Unknown(unknown) if unknown.kind == "INTERACTION_CREATE" => {
                tracing::warn!("serenity could not read an interaction; answering it from its raw JSON");
                serde_json::from_value(unknown.value).map_err(|e| e.to_string())
            }
            _ => return,
        };
        match decoded {
            Ok(interaction) => self.answer(interaction).await,
            Err(e) => tracing::error!(error = %e, "an INTERACTION_CREATE shipgate cannot read went unanswered"),
        }
    }
}

/// Says when the connection comes and goes: serenity reconnects by itself, quietly.
struct ConnectionLog;

#[serenity::async_trait]
impl EventHandler for ConnectionLog {
    async fn ready(&self, _ctx: Context, ready: serenity::all::Ready) {
        tracing::info!(user = %ready.user.name, "connected to the Discord gateway; answering interactions");
    }

    async fn shard_stage_update(&self, _ctx: Context, event: ShardStageUpdateEvent) {
        match event.new {
            ConnectionStage::Connected => tracing::info!(shard = event.shard_id.0, "Discord gateway connected"),
            ConnectionStage::Disconnected => tracing::warn!(
                shard = event.shard_id.0,
                "Discord gateway disconnected; reconnecting (interactions wait until then)"
            ),
            stage => tracing::debug!(shard = event.shard_id.0, ?stage, "Discord gateway connection stage"),
        }
    }
}

/// serenity's interaction as the JSON Discord sent, for our decoder. serenity serializes
/// every field the decoder reads except `type`, which its enum variant carries instead.
fn from_serenity(interaction: &serenity::all::Interaction) -> Result<Interaction, String> {
    let mut json = serde_json::to_value(interaction).map_err(|e| e.to_string())?;
    let object = json.as_object_mut().ok_or("serenity's interaction is not a JSON object")?;
    object.insert("type".to_owned(), Value::from(u8::from(interaction.kind())));
    serde_json::from_value(json).map_err(|e| e.to_string())
}

impl Receiver {
    async fn answer(&self, interaction: Interaction) {
        let received = Instant::now();
        let answer = self.handler.handle(&interaction).await;
        let path = format!("/interactions/{}/{}/callback", interaction.id, interaction.token);
        let mut retried = false;
        loop {
            match self.callbacks.call(reqwest::Method::POST, &path, Some(&answer.body)).await {
                Ok(_) => break,
                // After a retry: the earlier try arrived and only its answer was lost.
                Err(RestError::Refused { code: 40060, .. }) if retried => break,
                // A delivery Discord made twice, answered (and followed up) the first time.
                Err(RestError::Refused { code: 40060, .. }) => {
                    tracing::info!(interaction = %interaction.id, "interaction already answered (delivered twice)");
                    return;
                }
                Err(RestError::Retry { .. }) if received.elapsed() < CALLBACK_RETRY_WINDOW => {
                    retried = true;
                    tokio::time::sleep(CALLBACK_RETRY_PAUSE).await;
                }
                Err(e) => {
                    tracing::warn!(interaction = %interaction.id, error = %e, "could not answer a Discord interaction");
                    return;
                }
            }
        }
        // Only an answered interaction has an original reply to complete.
        if let Some(follow_up) = answer.follow_up {
            (self.follow_ups)(follow_up);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn member() -> Value {
        json!({
            "user": {"id": "500", "username": "alice", "discriminator": "0", "global_name": "Alice", "avatar": null},
            "nick": "Al", "roles": ["900", "901"], "joined_at": "2024-01-01T00:00:00+00:00",
            "deaf": false, "mute": false, "flags": 0, "permissions": "0"
        })
    }

    fn base(kind: u8) -> Value {
        json!({
            "id": "100", "application_id": "200", "type": kind, "token": "tok", "version": 1,
            "guild_id": "300", "channel_id": "400",
            "channel": {"id": "400", "type": 11, "parent_id": "401", "name": "checkout 2.7.0"},
            "member": member(), "app_permissions": "0", "locale": "en-US", "entitlements": [],
            "attachment_size_limit": 26214400
        })
    }

    /// Decoding serenity's model gives what decoding Discord's JSON gives.
    fn same_through_serenity(raw: Value) -> Interaction {
        let direct: Interaction = serde_json::from_value(raw.clone()).expect("our decoder reads it");
        let parsed: serenity::all::Interaction = serde_json::from_value(raw).expect("serenity reads it");
        let through = from_serenity(&parsed).expect("decodes after serenity");
        assert_eq!(through.id, direct.id);
        assert_eq!(through.application_id, direct.application_id);
        assert_eq!(through.kind, direct.kind);
        assert_eq!(through.token, direct.token);
        assert_eq!(through.guild_id, direct.guild_id);
        assert_eq!(through.channel_id(), direct.channel_id());
        assert_eq!(through.channel.as_ref().and_then(|c| c.parent_id.clone()), Some("401".to_owned()));
        assert_eq!(through.person(), direct.person());
        assert_eq!(through.command(), direct.command());
        assert_eq!(through.custom_id(), direct.custom_id());
        assert_eq!(through.modal_values(), direct.modal_values());
        assert_eq!(through.message.as_ref().map(|m| &m.id), direct.message.as_ref().map(|m| &m.id));
        through
    }

    #[test]
    fn a_slash_command_reads_the_same_through_serenity() {
        let mut raw = base(2);
        raw["data"] = json!({"id": "600", "name": "release", "type": 1, "guild_id": "300", "options": [
            {"name": "start", "type": 1, "options": [
                {"name": "service", "type": 3, "value": "checkout"},
                {"name": "hotfix", "type": 5, "value": true}
            ]}
        ]});
        let interaction = same_through_serenity(raw);
        let command = interaction.command().expect("a command");
        assert_eq!(command.subcommand.as_deref(), Some("start"));
        assert_eq!(command.text("service"), Some("checkout"));
        assert_eq!(command.flag("hotfix"), Some(true));
        let person = interaction.person().expect("a member");
        assert_eq!((person.display_name.as_str(), person.roles.len()), ("Al", 2));
    }

    #[test]
    fn a_button_click_reads_the_same_through_serenity() {
        let mut raw = base(3);
        raw["data"] = json!({"custom_id": "r:abc:1:i0", "component_type": 2});
        raw["message"] = json!({
            "id": "700", "channel_id": "400", "type": 0, "content": "Step 1",
            "author": {"id": "200", "username": "shipgate", "discriminator": "0", "avatar": null},
            "timestamp": "2024-01-01T00:00:00.000000+00:00", "edited_timestamp": null, "tts": false,
            "mention_everyone": false, "mentions": [], "mention_roles": [], "attachments": [],
            "embeds": [], "components": [], "pinned": false, "flags": 0
        });
        let interaction = same_through_serenity(raw);
        assert_eq!(interaction.custom_id(), Some("r:abc:1:i0"));
        assert_eq!(interaction.message.map(|m| m.id).as_deref(), Some("700"));
    }

    #[test]
    fn a_modal_submit_reads_the_same_through_serenity() {
        let mut raw = base(5);
        raw["data"] = json!({"custom_id": "m:abc", "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": "note", "value": "orders API returns 500"}]}
        ]});
        let interaction = same_through_serenity(raw);
        assert_eq!(interaction.modal_values().get("note").map(String::as_str), Some("orders API returns 500"));
    }
}
