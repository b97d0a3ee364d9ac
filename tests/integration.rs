//! shipgate's integration tests, linked as one test binary: each module below is one
//! area's tests (a file beside this one), all sharing `common`, the fakes and harnesses.
//! One binary instead of one per file keeps a clean build's linking and disk small (each
//! binary carries the whole of shipgate and its dependencies). `crash` and `gate_model`
//! stay binaries of their own: their long runs are started by name (RELIABILITY.md).
//!
//! Run one area with a filter: `cargo test --test integration slack_delivery::`.

#[macro_use]
mod common;

mod api;
mod approvers;
mod bug_triage;
mod busy;
mod chart;
mod cli_backup;
mod cli_discord;
mod cli_parse;
mod cli_release;
mod config;
mod discord_crash;
mod discord_deleted;
mod discord_drills;
mod discord_freeze_rollback;
mod discord_gate_rules;
mod discord_gateway;
mod discord_http;
mod discord_locks;
mod discord_refusals;
mod discord_rest;
mod discord_retarget;
mod discord_walkthrough;
mod discord_watch;
mod fake_discord;
mod fake_slack;
mod freeze_cli;
mod freeze_sources;
mod production_hold;
mod prometheus_client;
mod readme;
mod rollback_hook;
mod rollback_notice;
mod security;
mod serve;
mod slack_crash;
mod slack_delivery;
mod slack_http;
mod slack_refusals;
mod slack_rollback;
mod slack_socket;
mod slack_walkthrough;
mod store_conformance;
mod two_processes;
mod watch;
