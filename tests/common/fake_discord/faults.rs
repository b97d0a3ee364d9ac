//! Failures the test orders in advance: rate limits, server errors, slowness, lost connections.

use super::routes::Route;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// A 429 as Discord sends it; the request has no effect.
    TooManyRequests { retry_after: Duration, global: bool },
    /// A 5xx (or any status) with Discord's generic error body; the request has no effect.
    ServerError(u16),
    /// The request takes effect, then the answer comes after this long: a client that gives
    /// up and retries must be idempotent (nonce) to avoid a duplicate.
    Slow(Duration),
    /// The TCP connection is closed without an answer and the request has no effect.
    DropConnection,
    /// The request takes effect, then the connection is closed without an answer.
    DropResponse,
}

/// Which requests a fault applies to.
#[derive(Clone, Debug, PartialEq)]
pub enum RouteMatcher {
    /// Every request to a route the fake implements.
    Any,
    Route(Route),
    /// One route for one value of a path parameter, e.g. one channel.
    RouteWith(Route, &'static str, String),
}

impl From<Route> for RouteMatcher {
    fn from(route: Route) -> Self {
        RouteMatcher::Route(route)
    }
}

impl RouteMatcher {
    pub fn matches(&self, route: Route, params: &super::routes::Params) -> bool {
        match self {
            RouteMatcher::Any => true,
            RouteMatcher::Route(r) => *r == route,
            RouteMatcher::RouteWith(r, name, value) => *r == route && params.get(name) == Some(value.as_str()),
        }
    }
}

#[derive(Debug)]
pub struct PendingFault {
    pub matcher: RouteMatcher,
    pub fault: Fault,
    pub remaining: u32,
}

/// Takes the first pending fault that matches, in the order they were ordered.
pub fn take(pending: &mut Vec<PendingFault>, route: Route, params: &super::routes::Params) -> Option<Fault> {
    let index = pending.iter().position(|p| p.remaining > 0 && p.matcher.matches(route, params))?;
    let fault = pending[index].fault.clone();
    pending[index].remaining -= 1;
    if pending[index].remaining == 0 {
        pending.remove(index);
    }
    Some(fault)
}
