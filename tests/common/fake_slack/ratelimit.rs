//! Slack's per-channel limit on chat.postMessage: "about one message per second per channel,
//! short bursts allowed". Off unless the test switches it on, so that tests meet it only on
//! purpose; when on, a channel takes `burst` messages in any window of `window`.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub struct ChannelLimit {
    pub burst: usize,
    pub window: Duration,
}

impl Default for ChannelLimit {
    fn default() -> Self {
        ChannelLimit { burst: 1, window: Duration::from_secs(1) }
    }
}

#[derive(Default)]
pub struct ChannelRate {
    pub limit: Option<ChannelLimit>,
    /// When each channel's recent posts were allowed, oldest first.
    posts: HashMap<String, VecDeque<Instant>>,
}

impl ChannelRate {
    pub fn set(&mut self, limit: Option<ChannelLimit>) {
        self.limit = limit;
        self.posts.clear();
    }

    /// Spends one post for `channel`, or says how long until one is free.
    pub fn check(&mut self, channel: &str) -> Result<(), Duration> {
        let Some(limit) = self.limit else { return Ok(()) };
        let now = Instant::now();
        let posts = self.posts.entry(channel.to_string()).or_default();
        while posts.front().is_some_and(|&t| now.duration_since(t) >= limit.window) {
            posts.pop_front();
        }
        if posts.len() >= limit.burst {
            let oldest = *posts.front().expect("a full window has posts");
            return Err((oldest + limit.window).saturating_duration_since(now));
        }
        posts.push_back(now);
        Ok(())
    }
}
