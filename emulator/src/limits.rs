//! Harvest's rate limits: a sliding window per (token, account) and bucket.
//!
//! A request is admitted when fewer than N admitted requests lie in the last W; otherwise it is
//! refused with the whole seconds until the oldest one leaves the window (at least 1) and does
//! not count. Tests set windows of a few hundred milliseconds to run a faithful limit quickly.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::config::RateLimit;

/// The two buckets Harvest counts separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Every `/v2` endpoint except reports.
    General,
    /// `/v2/reports/*`.
    Reports,
}

impl Bucket {
    /// The bucket of a request path.
    pub fn of(path: &str) -> Bucket {
        if path.starts_with("/v2/reports/") || path == "/v2/reports" {
            Bucket::Reports
        } else {
            Bucket::General
        }
    }
}

/// Admission times per (token, account, bucket).
#[derive(Default)]
pub struct Limiter {
    windows: HashMap<(String, String, Bucket), VecDeque<Instant>>,
}

impl Limiter {
    /// Admits a request now or returns how long the client should wait.
    pub fn admit(
        &mut self,
        key: (String, String, Bucket),
        limit: RateLimit,
        now: Instant,
    ) -> Result<(), Duration> {
        let window = self.windows.entry(key).or_default();
        while window
            .front()
            .is_some_and(|&t| now.duration_since(t) >= limit.window)
        {
            window.pop_front();
        }
        if window.len() < limit.requests as usize {
            window.push_back(now);
            return Ok(());
        }
        let oldest = *window.front().expect("a full window is not empty");
        Err(limit.window.saturating_sub(now.duration_since(oldest)))
    }

    /// Forgets all history (after the limits change).
    pub fn reset(&mut self) {
        self.windows.clear();
    }
}

/// `Retry-After` in whole seconds: rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_millis().div_ceil(1000).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window_admits_n_per_window() {
        let limit = RateLimit {
            requests: 3,
            window: Duration::from_secs(10),
        };
        let mut l = Limiter::default();
        let key = || ("t".to_string(), "a".to_string(), Bucket::General);
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(l.admit(key(), limit, t0 + Duration::from_secs(i)).is_ok());
        }
        let wait = l
            .admit(key(), limit, t0 + Duration::from_secs(3))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(7));
        assert_eq!(retry_after_secs(wait), 7);
        // Refused requests do not count: the slot frees when the first admission ages out.
        assert!(l.admit(key(), limit, t0 + Duration::from_secs(10)).is_ok());
        assert!(l
            .admit(key(), limit, t0 + Duration::from_millis(10_500))
            .is_err());
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
    }
}
