//! Slack: the card rendered as Block Kit messages in a release's thread, slash commands
//! and clicks decoded into engine commands, and the outbox's notices delivered over the
//! Web API. Every Slack detail lives in this folder.

pub mod answers;
pub mod deliver;
pub mod handler;
pub mod render;
pub mod socket;
pub mod verify;
pub mod web;
