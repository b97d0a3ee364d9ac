//! Chat platforms, one folder each: render a card into the platform's payload and read
//! its interactions back. Imports the domain, never the store.

pub mod conversation;
pub mod discord;
pub mod form;
pub mod slack;
pub mod target;
