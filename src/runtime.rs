//! The one wiring place: `shipgate serve` builds the store, calendars and app from config,
//! starts every long-running task (the committer, calendar refreshes, the HTTP server, and
//! each chat platform's tasks) and stops them in order on SIGTERM or ctrl-c.
//!
//! `http` only builds routes; nothing else starts tasks.

use crate::app::clock::SystemClock;
use crate::app::freeze::load_calendars;
use crate::app::playbooks::Playbooks;
use crate::app::{App, AppParts};
use crate::config::Config;
use crate::domain::freeze::{FreezeCalendar, NoFreeze};
use crate::http::{router, AppState};
use crate::store::Store;
use anyhow::Context as _;
use std::collections::HashMap;
use std::future::IntoFuture;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Everything `serve` builds before it listens; tests use it to run the real thing.
pub async fn build(config: &Config) -> anyhow::Result<AppState> {
    let store = Store::connect_with(&config.database.url, config.database.max_connections)
        .await
        .with_context(|| format!("opening the database at {}", config.database.redacted_url()))?;
    store.migrate().await.context("applying database migrations")?;
    let playbooks = Playbooks::load(&config.playbooks.dir, &config.playbooks.default)?;
    let policy = config.policy.to_policy();
    let (freeze, channel_freeze): (Arc<dyn FreezeCalendar>, _) = match &config.freeze {
        None => (Arc::new(NoFreeze), HashMap::new()),
        Some(freeze) => {
            let calendars = load_calendars(freeze, Some(&store)).await.context("building the freeze calendar")?;
            calendars.spawn_refresh(freeze, &store);
            (calendars.default.clone(), calendars.by_channel())
        }
    };
    let app = App::new(AppParts { store, playbooks, freeze, channel_freeze, policy, clock: Arc::new(SystemClock) });
    warn_about_unheld_roles(config, &app);
    Ok(AppState {
        app,
        api: Arc::new(config.api.clone()),
        metrics: crate::telemetry::metrics_handle(),
        ready: Arc::new(AtomicBool::new(false)),
    })
}

/// Roles a playbook's gates need that nobody can hold stop those gates for good; say so.
fn warn_about_unheld_roles(config: &Config, app: &App) {
    if let Some(discord) = config.discord.as_ref().filter(|d| d.roles.is_empty()) {
        tracing::warn!(
            guild = %discord.guild_id,
            "discord.roles is empty: every member of the Discord server holds every role; map the playbooks' roles to Discord role ids in [discord.roles]"
        );
        return;
    }
    let granted = config.roles();
    let missing: Vec<String> = app
        .playbooks()
        .roles()
        .into_iter()
        .filter(|role| !granted.contains(role.as_str()))
        .map(|role| role.to_string())
        .collect();
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
    let state = build(&config).await?;
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("listening on {} (server.listen)", config.server.listen))?;
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
