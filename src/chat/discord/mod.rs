//! Discord: the card rendered as messages with buttons, interactions decoded into engine
//! commands, and the outbox's notices delivered over Discord's REST API. Every Discord
//! detail lives in this folder.

pub mod commands;
/// Discord's `custom_id`s are the platform-neutral element ids.
pub use super::target as custom_id;
pub mod deliver;
pub mod gateway;
pub mod handler;
pub mod interaction;
mod locks;
pub mod render;
pub mod rest;
pub mod verify;
