//! Pure domain logic: no I/O, no clock. Given `now`, it decides.

pub mod actor;
pub mod approvers;
pub mod card;
pub mod channel;
pub mod drill;
pub mod freeze;
pub mod ids;
pub mod lock;
pub mod playbook;
pub mod release;
pub mod text;
pub mod view;
pub mod watch;

pub use actor::{Actor, Platform};
pub use channel::{ChatChannel, ChatPlatform};
pub use ids::*;
