//! Discord's rate limits: fixed-window per-route buckets keyed by major parameter, and a
//! global per-bot limit per second.

use super::routes::Route;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Generous by default so that tests only meet a limit they set up on purpose.
pub const DEFAULT_BUCKET_LIMIT: u32 = 1000;
pub const DEFAULT_BUCKET_WINDOW: Duration = Duration::from_secs(10);
/// Discord: 50 requests per second per bot.
pub const DEFAULT_GLOBAL_LIMIT: u32 = 50;

/// What the `X-RateLimit-*` headers of one answer say.
#[derive(Clone, Debug)]
pub struct BucketState {
    pub limit: u32,
    pub remaining: u32,
    pub reset_after: Duration,
    pub bucket: String,
}

impl BucketState {
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let reset_at = SystemTime::now() + self.reset_after;
        let reset_epoch = reset_at.duration_since(UNIX_EPOCH).expect("the clock is after 1970").as_secs_f64();
        vec![
            ("x-ratelimit-limit", self.limit.to_string()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
            ("x-ratelimit-reset", format!("{reset_epoch:.3}")),
            ("x-ratelimit-reset-after", format!("{:.3}", self.reset_after.as_secs_f64())),
            ("x-ratelimit-bucket", self.bucket.clone()),
        ]
    }
}

pub enum Decision {
    Allowed(BucketState),
    /// `global` tells which limit was hit; `state` is the route bucket's, for the headers.
    Limited {
        retry_after: Duration,
        global: bool,
        state: BucketState,
    },
}

#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
}

impl Window {
    /// Starts a new window when the old one has passed; fixed windows, like Discord's.
    fn roll(&mut self, now: Instant, length: Duration) {
        if now >= self.start + length {
            *self = Window { start: now, count: 0 };
        }
    }

    fn reset_after(&self, now: Instant, length: Duration) -> Duration {
        (self.start + length).saturating_duration_since(now)
    }
}

pub struct RateLimits {
    limits: HashMap<Route, (u32, Duration)>,
    buckets: HashMap<(Route, String), Window>,
    global_limit: u32,
    global: Option<Window>,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits { limits: HashMap::new(), buckets: HashMap::new(), global_limit: DEFAULT_GLOBAL_LIMIT, global: None }
    }
}

impl RateLimits {
    pub fn set_bucket_limit(&mut self, route: Route, limit: u32, window: Duration) {
        assert!(limit > 0 && !window.is_zero(), "a bucket needs a limit and a window");
        self.limits.insert(route, (limit, window));
        self.buckets.retain(|(r, _), _| *r != route);
    }

    pub fn set_global_limit(&mut self, per_second: u32) {
        assert!(per_second > 0, "a global limit of zero would refuse everything");
        self.global_limit = per_second;
        self.global = None;
    }

    fn limit_of(&self, route: Route) -> (u32, Duration) {
        self.limits.get(&route).copied().unwrap_or((DEFAULT_BUCKET_LIMIT, DEFAULT_BUCKET_WINDOW))
    }

    /// The bucket's state without spending from it (for answers refused before the bucket).
    pub fn peek(&mut self, route: Route, key: &str) -> BucketState {
        let now = Instant::now();
        let (limit, length) = self.limit_of(route);
        let window = self.buckets.entry((route, key.to_string())).or_insert(Window { start: now, count: 0 });
        window.roll(now, length);
        BucketState {
            limit,
            remaining: limit.saturating_sub(window.count),
            reset_after: window.reset_after(now, length),
            bucket: route.bucket_hash(),
        }
    }

    /// Spends one request from the global limit (when the route counts against it) and
    /// from the route's bucket, or says which one is empty.
    pub fn check(&mut self, route: Route, key: &str) -> Decision {
        let now = Instant::now();
        let state = self.peek(route, key);
        if route.counts_against_global_limit() {
            let second = Duration::from_secs(1);
            let global = self.global.get_or_insert(Window { start: now, count: 0 });
            global.roll(now, second);
            if global.count >= self.global_limit {
                return Decision::Limited { retry_after: global.reset_after(now, second), global: true, state };
            }
            global.count += 1;
        }
        let (limit, length) = self.limit_of(route);
        let window = self.buckets.get_mut(&(route, key.to_string())).expect("peek created the bucket");
        if window.count >= limit {
            return Decision::Limited { retry_after: window.reset_after(now, length), global: false, state };
        }
        window.count += 1;
        Decision::Allowed(BucketState { remaining: limit - window.count, ..state })
    }
}
