//! The one wiring place: `shipgate serve` builds the store, calendars and app from config,
//! starts every long-running task (the committer, calendar refreshes, the HTTP server, the
//! timers, and each chat platform's tasks) and stops them in order on SIGTERM or ctrl-c.
//!
//! `http` only builds routes; nothing else starts tasks.

use crate::app::clock::{Clock, SystemClock};
use crate::app::delivery::{self, Outlets, Sender};
use crate::app::freeze::load_calendars;
use crate::app::notice_webhook::NoticeWebhook;
use crate::app::playbooks::Playbooks;
use crate::app::retention::{self, Retention};
use crate::app::rollback_hook::{HookAction, HookRunner};
use crate::app::watch::{WatchPlan, Watcher};
use crate::app::{App, AppParts};
use crate::chat::discord::commands;
use crate::chat::discord::deliver::DiscordSender;
use crate::chat::discord::gateway::{self, Gateway};
use crate::chat::discord::handler::{FollowUp, Handler};
use crate::chat::discord::rest::Rest;
use crate::chat::discord::verify::Verifier;
use crate::config::Config;
use crate::config::{DiscordConfig, DiscordMode, MonitoringConfig, RollbackHook};
use crate::domain::freeze::{FreezeCalendar, NoFreeze};
use crate::domain::release::Policy;
use crate::domain::{ChatChannel, ChatPlatform};
use crate::http::discord::DiscordEdge;
use crate::http::{router, AppState};
use crate::monitoring::PrometheusClient;
use crate::store::Store;
use anyhow::Context as _;
use std::collections::HashMap;
use std::future::IntoFuture;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

/// What `serve` runs: the HTTP state, and the background tasks to stop after it.
pub struct Running {
    pub state: AppState,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Tells every background task to stop and waits for them (a delivery in flight ends).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// How often stalled steps are looked for: a ping a minute late is still on time.
pub const STALL_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Everything `serve` builds before it listens, with its background tasks started; tests
/// use it to run the real thing.
pub async fn build(config: &Config) -> anyhow::Result<Running> {
    build_with(config, Arc::new(SystemClock), STALL_SWEEP_EVERY).await
}

/// [`build`] with the clock the app reads and how often the stall timer looks: tests move
/// the clock (architecture property 6: tests set the time the app, its freeze calendar and
/// its delivery worker see) and look often.
pub async fn build_with(
    config: &Config,
    clock: Arc<dyn Clock>,
    stall_sweep_every: std::time::Duration,
) -> anyhow::Result<Running> {
    let timers = Timers {
        stall_sweep_every,
        retention_every: config.retention.interval(),
        drill_sweep_every: crate::app::drills::REMINDER_SWEEP_EVERY,
    };
    build_timed(config, clock, timers).await
}

/// How often the background timers look.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    /// For stalled steps and ended watches.
    pub stall_sweep_every: std::time::Duration,
    /// For rows older than their `[retention]` age (the first look comes at most a minute
    /// after start).
    pub retention_every: std::time::Duration,
    /// For services overdue for a rollback drill (reminders are weekly; see
    /// [`crate::app::drills::REMINDER_SWEEP_EVERY`]).
    pub drill_sweep_every: std::time::Duration,
}

/// [`build_with`], choosing every timer's period: tests of a timer look often.
pub async fn build_timed(config: &Config, clock: Arc<dyn Clock>, timers: Timers) -> anyhow::Result<Running> {
    let Timers { stall_sweep_every, retention_every, drill_sweep_every } = timers;
    let store = open_store(config).await?;
    store.migrate().await.context("applying database migrations")?;
    let playbooks = Playbooks::load(&config.playbooks.dir, &config.playbooks.default)?;
    let policy = Policy {
        role_holders: config.role_holders(),
        rollback_hook: config.rollback.hook_mode(),
        ..config.policy.to_policy()
    };
    let (freeze, channel_freeze): (Arc<dyn FreezeCalendar>, _) = match &config.freeze {
        None => (Arc::new(NoFreeze), HashMap::new()),
        Some(freeze) => {
            let calendars = load_calendars(freeze, Some(&store)).await.context("building the freeze calendar")?;
            calendars.spawn_refresh(freeze, &store);
            (calendars.default.clone(), calendars.by_channel())
        }
    };
    let watching = config.monitoring.is_some();
    let drills = config.drills.policy();
    let app = App::new(AppParts { store, playbooks, freeze, channel_freeze, policy, clock, watching, drills });
    warn_about_unheld_roles(config, &app);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let mut senders: Vec<Arc<dyn Sender>> = Vec::new();
    let mut discord_edge = None;
    if let Some(discord) = &config.discord {
        let discord = Arc::new(discord.clone());
        let rest =
            Arc::new(Rest::new(&discord.api_base, discord.token.clone()).context("building the Discord HTTP client")?);
        senders.push(Arc::new(DiscordSender::new(rest.clone(), discord.clone())));
        tasks.push(tokio::spawn(register_commands(rest.clone(), discord.clone())));
        let handler = Handler::new(app.clone(), discord.clone());
        match discord.mode {
            DiscordMode::Http => {
                let key = discord.public_key.context("discord.public_key is required in HTTP mode")?;
                let verifier = Verifier::new(&key).context("discord.public_key is not a valid Ed25519 public key")?;
                let follow_ups = follow_ups(app.clone(), rest, discord.application_id.clone());
                discord_edge = Some(DiscordEdge { handler, verifier, follow_ups });
            }
            DiscordMode::Gateway => {
                let callbacks = Arc::new(
                    Rest::new(&discord.api_base, discord.token.clone())
                        .context("building the Discord HTTP client for interaction answers")?,
                );
                let gateway = Gateway {
                    handler,
                    callbacks,
                    follow_ups: follow_ups(app.clone(), rest, discord.application_id.clone()),
                    api_base: discord.api_base.clone(),
                    token: discord.token.clone(),
                };
                tasks.push(tokio::spawn(gateway::run(gateway, wait_for(stopping.clone()))));
            }
        }
    }
    let mut slack_edge = None;
    if let Some(slack) = &config.slack {
        let slack = Arc::new(slack.clone());
        let web = Arc::new(
            crate::chat::slack::web::Web::new(&slack.api_base, slack.bot_token.clone())
                .context("building the Slack HTTP client")?,
        );
        senders.push(Arc::new(crate::chat::slack::deliver::SlackSender::new(web.clone(), slack.clone())));
        let handler = crate::chat::slack::handler::Handler::new(app.clone(), slack.clone(), web);
        match slack.mode {
            crate::config::slack::SlackMode::Http => {
                let secret = slack.signing_secret.clone().context("slack's signing secret is required in HTTP mode")?;
                let verifier = crate::chat::slack::verify::Verifier::new(secret);
                slack_edge = Some(crate::http::slack::SlackEdge { handler, verifier });
            }
            crate::config::slack::SlackMode::Socket => {
                let token = slack.app_token.clone().context("slack's app-level token is required in Socket Mode")?;
                let socket = crate::chat::slack::socket::SocketMode::new(&slack.api_base, token)
                    .context("building the Slack Socket Mode client")?;
                tasks.push(tokio::spawn(socket.run(Arc::new(handler), wait_for(stopping.clone()))));
            }
        }
    }
    if let Some(monitoring) = &config.monitoring {
        let watcher = watcher(app.clone(), monitoring, config, delivery_holder(config))?;
        tasks.push(tokio::spawn(watcher.run(WATCH_SWEEP_EVERY, wait_for(stopping.clone()))));
    }
    if let Some(runner) = hook_runner(app.clone(), config, delivery_holder(config))? {
        tasks.push(tokio::spawn(runner.run(HOOK_SWEEP_EVERY, wait_for(stopping.clone()))));
    }
    tasks.push(spawn_lock_expiry(&app, &stopping));
    tasks.push(tokio::spawn(crate::app::drills::run_reminders(
        app.clone(),
        drill_sweep_every,
        wait_for(stopping.clone()),
    )));
    tasks.push(tokio::spawn(notice_stalls(app.clone(), stall_sweep_every, wait_for(stopping.clone()))));
    // A release run from the API has no channel: its rollback's triage opens in the
    // team's release channel, when a chat platform is configured.
    let triage_channel =
        config.discord.as_ref().map(|d| ChatChannel::new(ChatPlatform::Discord, d.release_channel_id.clone())).or_else(
            || config.slack.as_ref().map(|s| ChatChannel::new(ChatPlatform::Slack, s.release_channel_id.clone())),
        );
    let triage_every = stall_sweep_every.min(TRIAGE_SWEEP_EVERY);
    tasks.push(tokio::spawn(open_triages(app.clone(), triage_channel, triage_every, wait_for(stopping.clone()))));
    let retention = Retention { every: retention_every, ..config.retention.to_retention() };
    tasks.push(tokio::spawn(retention::run(app.clone(), retention, wait_for(stopping.clone()))));
    let webhook = match &config.rollback.notice_webhook {
        Some(url) => Some(NoticeWebhook::new(url).context("building the HTTP client of the rollback notice webhook")?),
        None => None,
    };
    let outlets = Outlets::new(senders, webhook);
    if !outlets.is_empty() {
        let holder = delivery_holder(config);
        let stop_signal = wait_for(stopping.clone());
        tasks.push(tokio::spawn(delivery::run(app.clone(), outlets, holder, stop_signal)));
    }
    Ok(Running {
        state: AppState {
            app,
            api: Arc::new(config.api.clone()),
            metrics: crate::telemetry::metrics_handle(),
            ready: Arc::new(AtomicBool::new(false)),
            discord: discord_edge,
            slack: slack_edge,
            alertmanager: config.alertmanager.clone().map(Arc::new),
        },
        stop,
        tasks,
    })
}

/// Opens the configured database, saying first where: a database that does not answer
/// otherwise leaves startup silent until the timeout. Errors name the URL redacted.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let database = &config.database;
    tracing::info!(timeout_seconds = database.connect_timeout_seconds, "connecting to {}", database.redacted_url());
    Store::connect_within(&database.url, database.max_connections, database.connect_timeout(), database.busy_policy())
        .await
        .with_context(|| format!("opening the database at {}", database.redacted_url()))
}

/// Ends locks whose time ran out, in every instance (each end is recorded and announced once).
fn spawn_lock_expiry(app: &App, stopping: &tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(crate::app::locks::run_expiry(app.clone(), wait_for(stopping.clone())))
}

/// The stall timer: pings the owners of every step gone quiet past its limit, once per
/// step attempt (the app records each notice under a deterministic request id, so several
/// instances and restarts still ping once); and shows again the cards whose watch ended.
async fn notice_stalls(app: App, every: std::time::Duration, stop: impl std::future::Future<Output = ()>) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = ticks.tick() => {
                if let Err(e) = app.notice_stalls().await {
                    tracing::warn!(error = %format!("{e:#}"), "looking for stalled steps failed; trying again next round");
                }
                if let Err(e) = app.refresh_ended_watches().await {
                    tracing::warn!(error = %format!("{e:#}"), "looking for ended watches failed; trying again next round");
                }
            }
        }
    }
}

/// How often rollbacks without a bug triage are looked for: a triage opens within this
/// long of the rollback.
const TRIAGE_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

async fn open_triages(
    app: App,
    channel: Option<ChatChannel>,
    every: std::time::Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = ticks.tick() => {
                if let Err(e) = app.open_triages(channel.as_ref()).await {
                    tracing::warn!(error = %format!("{e:#}"), "opening bug triages failed; trying again next round");
                }
            }
        }
    }
}

async fn wait_for(mut stopping: tokio::sync::watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// The name this instance's outbox worker leases lanes under. It stays the same across
/// restarts of one instance (same host, same listen address), so a restarted instance takes
/// its lanes back at once instead of waiting out the leases it held when it stopped; and it
/// differs between instances running at once, which cannot share a listen address on one
/// host. Without a known host name or a fixed port, a fresh name per start is the safe
/// choice: leases then run out by themselves (a minute).
/// How often the watcher looks for due baselines and samples: detection comes within one
/// sample interval plus this.
const WATCH_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The watcher of production deploys, reading the configured Prometheus.
pub fn watcher(
    app: App,
    monitoring: &MonitoringConfig,
    config: &Config,
    holder: String,
) -> anyhow::Result<Watcher<PrometheusClient>> {
    let timeout = std::time::Duration::from_secs(u64::from(monitoring.query_timeout_seconds));
    let prometheus = PrometheusClient::new(&monitoring.prometheus_url, timeout)
        .context("monitoring.prometheus_url: building the Prometheus client")?;
    tracing::info!(prometheus = %prometheus.shown_url(), "watching production deploys");
    let plan = WatchPlan {
        settings: monitoring.settings,
        criteria: config.rollback.criteria,
        queries: monitoring.queries.clone(),
        baseline_range: MonitoringConfig::promql_range(monitoring.settings.baseline_window_seconds),
        sample_range: MonitoringConfig::promql_range(monitoring.sample_range_seconds),
    };
    Ok(Watcher::new(app, plan, prometheus, holder))
}

/// How often the rollback hook runner looks for runs asked for: a click starts the hook
/// within this.
const HOOK_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The runner of the configured `[rollback] hook`, if there is one.
pub fn hook_runner(app: App, config: &Config, holder: String) -> anyhow::Result<Option<HookRunner>> {
    let action = match &config.rollback.hook {
        None => return Ok(None),
        Some(RollbackHook::Command(command)) => {
            let (program, args) = command.split_first().context("rollback.hook.command names no program")?;
            HookAction::Command { program: program.clone(), args: args.to_vec() }
        }
        Some(RollbackHook::Webhook { url, token }) => HookAction::Webhook { url: url.clone(), token: token.clone() },
    };
    tracing::info!(auto = config.rollback.auto, "rollback hook configured");
    Ok(Some(HookRunner::new(app, action, holder)?))
}

fn delivery_holder(config: &Config) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty());
    match host {
        Some(host) if config.server.listen.port() != 0 => format!("{host}@{}", config.server.listen),
        _ => format!("{}-{}", host.unwrap_or_else(|| "shipgate".to_owned()), uuid::Uuid::new_v4()),
    }
}

/// Registers the slash commands in the guild (bulk overwrite: idempotent). A failure only
/// warns: the commands registered last time still work.
async fn register_commands(rest: Arc<Rest>, discord: Arc<DiscordConfig>) {
    match commands::register(&rest, &discord).await {
        Ok(names) => tracing::info!(guild = %discord.guild_id, commands = ?names, "registered the slash commands"),
        Err(e) => tracing::warn!(error = %e, "could not register the slash commands; run `shipgate discord register`"),
    }
}

/// Completes a deferred `/release start` reply with the link to the release's thread, once
/// the delivery worker has opened it (polling: the worker may run in another instance).
fn follow_ups(app: App, rest: Arc<Rest>, application_id: String) -> Arc<dyn Fn(FollowUp) + Send + Sync> {
    Arc::new(move |follow_up| {
        let (app, rest, application_id) = (app.clone(), rest.clone(), application_id.clone());
        tokio::spawn(async move {
            let FollowUp::ThreadLink { release, token, text } = follow_up;
            let mut thread = None;
            // The reply's token is good for 15 minutes; a thread normally opens in well under a second.
            for _ in 0..600 {
                match app.store().chat_messages(&release, ChatPlatform::Discord.as_str()).await {
                    Ok(messages) => {
                        thread = messages.into_iter().find(|m| m.key == crate::app::THREAD_KEY).map(|m| m.message_id);
                        if thread.is_some() {
                            break;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "reading the thread of a new release"),
                }
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            let content = match thread {
                Some(thread) => format!("{text}: <#{thread}>"),
                None => format!("{text}; its thread is still being opened (the release is `{release}`)"),
            };
            let path = format!("/webhooks/{application_id}/{token}/messages/@original");
            let body = serde_json::json!({ "content": content, "allowed_mentions": { "parse": [] } });
            if let Err(e) = rest.call(reqwest::Method::PATCH, &path, Some(&body)).await {
                tracing::warn!(error = %e, %release, "could not complete the /release start reply");
            }
        });
    })
}

/// Roles a playbook's gates need that nobody can hold stop those gates for good; say so,
/// naming the roles the loaded playbooks use.
fn warn_about_unheld_roles(config: &Config, app: &App) {
    if let Some(discord) = config.discord.as_ref().filter(|d| d.roles.is_empty()) {
        tracing::warn!(
            guild = %discord.guild_id,
            "discord.roles is empty: every member of the Discord server holds every role; map the playbooks' roles to Discord role ids in [discord.roles]"
        );
        return;
    }
    let used: Vec<String> = app.playbooks().roles().into_iter().map(|role| role.to_string()).collect();
    if config.api.clients.is_empty() && config.discord.is_none() {
        tracing::warn!(
            roles = ?used,
            "no API client is configured, so no one holds the roles the playbooks use and no release can be started; add [[api.clients]] holding them (config/shipgate.example.toml has two), or set SHIPGATE_API_TOKEN"
        );
        return;
    }
    let held = config.held_roles();
    let missing: Vec<String> = used.into_iter().filter(|role| !held.contains(role.as_str())).collect();
    if !missing.is_empty() {
        tracing::warn!(
            roles = ?missing,
            "playbooks name roles that no API client and no [discord.roles] entry grants; gates that need only those roles cannot pass"
        );
    }
}

/// Serves until SIGTERM or ctrl-c, then stops accepting, finishes in-flight requests
/// (their commits included) and returns.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    // Bound first: an instance that cannot have its address (another one runs there) stops
    // before its outbox worker, which leases lanes under a name made of that address, starts.
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("listening on {} (server.listen)", config.server.listen))?;
    let running = build(&config).await?;
    let state = running.state.clone();
    let ready = state.ready.clone();
    let app = router(state.clone(), config.server.max_body_bytes);
    tracing::info!(
        listen = %listener.local_addr()?,
        database = state.app.store().backend(),
        playbooks = ?state.app.playbooks().names(),
        api_clients = state.api.clients.len(),
        "shipgate is serving"
    );
    ready.store(true, Ordering::SeqCst);
    // The signal flips `stopping`; in-flight requests then get `shutdown_grace_seconds`.
    let (stopping_tx, mut stopping) = tokio::sync::watch::channel(false);
    let shutdown = {
        let ready = ready.clone();
        async move {
            shutdown_signal().await;
            ready.store(false, Ordering::SeqCst);
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = stopping_tx.send(true);
        }
    };
    let grace = config.server.shutdown_grace();
    let server = axum::serve(listener, app).with_graceful_shutdown(shutdown).into_future();
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result.context("serving HTTP")?,
        () = async {
            let _ = stopping.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_seconds = grace.as_secs(), "requests still in flight after the grace period; stopping anyway");
        }
    }
    running.stop().await;
    if let Err(error) = state.app.store().close().await {
        tracing::warn!(%error, "could not checkpoint the database at shutdown; it is recovered at the next start");
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
