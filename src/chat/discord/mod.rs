//! Discord: cards as messages with buttons, and the custom ids those buttons carry.

pub mod custom_id;
pub mod render;
