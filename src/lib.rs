//! # shipgate
//!
//! A chat-ops release bot: a team runs its Ship to Production playbook as a release that
//! moves through steps, checklists and gates, from chat, a CI pipeline or the CLI.
//!
//! ## Layout
//!
//! Data flows one way: edge -> app -> domain -> store, and out through the outbox.
//!
//! - [`domain`] — pure rules, no I/O and no clock: playbooks ([`domain::playbook`]), the
//!   event-sourced release aggregate where every playbook rule is enforced
//!   ([`domain::release`]), the freeze port ([`domain::freeze`]), and release views
//!   ([`domain::view`]).
//! - [`store`] — sqlx persistence on SQLite (default) or PostgreSQL: append-only events,
//!   the listing projection, the outbox, answered requests, production holds.
//! - [`chat`] — chat platforms, one folder each ([`chat::discord`]): the platform-neutral
//!   card of a step ([`domain::card`]) rendered as the platform's message, interactions
//!   decoded into commands (received over Discord's gateway or its HTTP endpoint, one
//!   handler for both), and the outbox's notices delivered over the platform's API.
//! - [`chart`] — the PNG chart a rollback notice can carry: the metric that tripped a
//!   criterion over the watch window, with its baseline and threshold; no I/O.
//! - [`app`] — orchestration: one command at a time per release, decided by the domain
//!   and written in one transaction, with group commit across releases; typed notices
//!   ([`app::notices`]) and the outbox worker that delivers them ([`app::delivery`]);
//!   the retention timer that removes old answers and delivered notices ([`app::retention`]).
//! - [`http`] — the axum edge: the CI API with token auth, Discord's signed interactions
//!   endpoint, health, metrics, OpenAPI. It builds routes only.
//! - [`monitoring`] — the post-deploy watch's PromQL (the default queries of the usual
//!   HTTP metrics) and the edge client that evaluates them against Prometheus, answering
//!   a number or why there is none.
//! - [`runtime`] — the one wiring place: builds everything from config, starts every
//!   long-running task and stops them in order.
//! - [`config`] — the TOML file layered with environment variables; secrets wrapped.
//! - [`cli`] — the command line: `serve`, `migrate`, `playbook`, `freeze`, `discord
//!   register`, and the API client.
//! - [`telemetry`] — logging setup.

pub mod app;
pub mod chart;
pub mod chat;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod monitoring;
pub mod runtime;
pub mod store;
pub mod telemetry;
