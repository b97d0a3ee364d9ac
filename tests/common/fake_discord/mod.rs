//! A fake of Discord's HTTP API for testing shipgate's Discord adapter at the HTTP level.
//!
//! Request bodies are validated against Discord's OpenAPI document
//! (tests/contracts/discord/openapi-subset.json) and the documented limits.

mod routes;
pub mod schema;

// Every test binary includes tests/common, and most never touch the fake: its re-exports
// would be unused imports there.
#[allow(unused_imports)]
pub use routes::Route;
#[allow(unused_imports)]
pub use schema::validate_interaction_response;
