//! `shipgate serve`: wires config, store, app and router, and stops gracefully.

use super::auth::ApiCredentials;
use super::{router, AppState};
use crate::app::clock::SystemClock;
use crate::app::playbooks::Playbooks;
use crate::app::{App, AppParts};
use crate::config::Config;
use crate::domain::freeze::NoFreeze;
use crate::domain::release::Policy;
use crate::domain::RoleName;
use crate::store::Store;
use anyhow::Context as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Everything `serve` builds before it listens; tests use it to run the real thing.
pub async fn build(config: &Config) -> anyhow::Result<AppState> {
    let store = Store::connect_with(&config.database.url, config.database.max_connections)
        .await
        .with_context(|| format!("opening the database at {}", redact_url(&config.database.url)))?;
    store.migrate().await.context("applying database migrations")?;
    let playbooks = Playbooks::load(&config.playbooks.dir, &config.playbooks.default)?;
    let policy = Policy {
        override_approver_roles: config.policy.override_approver_roles.iter().map(RoleName::new).collect(),
        override_ttl: chrono::Duration::minutes(i64::from(config.policy.override_ttl_minutes)),
    };
    let app = App::new(AppParts { store, playbooks, freeze: Arc::new(NoFreeze), policy, clock: Arc::new(SystemClock) });
    let clients = config
        .api
        .clients
        .iter()
        .map(|c| ApiCredentials {
            name: c.name.clone(),
            token: c.token.clone(),
            roles: c.roles.iter().map(RoleName::new).collect(),
        })
        .collect();
    Ok(AppState {
        app,
        clients: Arc::new(clients),
        metrics: crate::telemetry::metrics_handle(),
        ready: Arc::new(AtomicBool::new(false)),
    })
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
        api_clients = state.clients.len(),
        "shipgate is serving"
    );
    ready.store(true, Ordering::SeqCst);
    let shutdown = {
        let ready = ready.clone();
        async move {
            shutdown_signal().await;
            ready.store(false, Ordering::SeqCst);
            tracing::info!("shutting down: finishing in-flight requests");
        }
    };
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await.context("serving HTTP")?;
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

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}://{user}:***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}
