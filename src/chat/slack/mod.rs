//! Slack: the card rendered as Block Kit messages and modals. Every Slack detail lives in
//! this folder.

pub mod render;
