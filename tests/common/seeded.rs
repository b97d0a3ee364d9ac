//! A small seeded random number generator (SplitMix64): a randomised test prints its seed
//! and takes it back from the environment, so a failing run can be replayed.

use std::time::{SystemTime, UNIX_EPOCH};

pub struct SeededRng(u64);

impl SeededRng {
    pub fn new(seed: u64) -> SeededRng {
        SeededRng(seed)
    }

    /// The seed in `var` if it is set, else a fresh one; printed either way, with how to
    /// run again with it.
    pub fn seed_from_env(var: &str) -> u64 {
        let seed = match std::env::var(var) {
            Ok(text) => text
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("{var} must be a whole number (the seed a previous run printed): {text:?}")),
            Err(_) => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64),
        };
        println!("random seed {seed} (run again with {var}={seed})");
        seed
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        assert!(low <= high, "empty range {low}..={high}");
        low + self.next_u64() % (high - low + 1)
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// An independent generator drawn from this one: each task gets its own, and the
    /// sequence each sees does not depend on how the tasks interleave.
    pub fn fork(&mut self) -> SeededRng {
        SeededRng(self.next_u64())
    }
}
