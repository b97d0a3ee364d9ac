//! Persistence (being built).
pub mod model;
