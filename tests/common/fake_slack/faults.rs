//! Failures the test orders in advance: rate limits, `ok:false` errors, server errors and
//! requests that take too long.

use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// HTTP 429 with `Retry-After: <seconds>` and `{"ok":false,"error":"ratelimited"}`;
    /// the request has no effect.
    RateLimited { retry_after_secs: u64 },
    /// HTTP 200 `{"ok":false,"error":<error>}`; the request has no effect.
    Error(String),
    /// An HTTP status (500, 503, ...) with an empty body, as Slack's edge sends when a
    /// backend fails; the request has no effect.
    ServerError(u16),
    /// The request is held this long without effect, then answered 504: a client whose
    /// timeout is shorter gives up first.
    Timeout(Duration),
    /// The request takes effect, and its answer comes only after this long: a client that
    /// gives up and retries posts twice (Slack has no idempotency key for chat.postMessage).
    Slow(Duration),
}

impl Fault {
    pub fn error(error: &str) -> Self {
        Fault::Error(error.to_string())
    }
}

#[derive(Debug)]
pub struct PendingFault {
    /// A Web API method name (`chat.postMessage`), or `response_url` for every response URL.
    pub target: String,
    pub fault: Fault,
    pub remaining: u32,
}

/// Takes the first pending fault for `target`, in the order they were ordered.
pub fn take(pending: &mut Vec<PendingFault>, target: &str) -> Option<Fault> {
    let index = pending.iter().position(|p| p.remaining > 0 && p.target == target)?;
    let fault = pending[index].fault.clone();
    pending[index].remaining -= 1;
    if pending[index].remaining == 0 {
        pending.remove(index);
    }
    Some(fault)
}
