//! What the end-to-end walks through the built-in playbook share, on every chat platform:
//! its step ids, and a clock the test moves forward.
#![allow(dead_code)]

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use shipgate::app::clock::Clock;
use std::sync::Mutex;

/// The built-in playbook's step ids, in order.
pub const STEPS: [&str; 8] = [
    "pre-flight",
    "test-suite",
    "build-artifact",
    "deploy-staging",
    "smoke-test",
    "deploy-production",
    "monitor",
    "rollback-criteria",
];

/// Real time plus an offset the test moves forward: deliveries and retries run on time,
/// and a 15-minute watch passes at once.
#[derive(Debug, Default)]
pub struct TestClock(Mutex<ChronoDuration>);

impl TestClock {
    pub fn advance(&self, by: ChronoDuration) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
