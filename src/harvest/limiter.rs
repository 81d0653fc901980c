//! The client-side rate limiter: one per Harvest bucket, shared by every stream.
//!
//! Harvest counts requests over windows — 100 in any 15 s (general) and 100 in any 15 min
//! (reports) — and answers 429 to the 101st. A GCRA or token bucket such as `governor` is the
//! wrong shape for that: with a burst of 100 it lets 100 requests go at once, refills one slot
//! every 150 ms, and so sends a 101st request 150 ms later, inside the same 15 s window, which a
//! sliding-window server throttles. Without a burst it spaces requests evenly and never uses the
//! window's full budget early. This limiter instead remembers when its last `requests` sends were
//! granted and lets a new one go only once the oldest of them is more than a window (plus a
//! safety margin) old, so no window of the server's ever holds more than `requests` of ours.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::{sleep_until, Instant};

use crate::config::RateLimit;

/// The smallest safety margin, so that tiny test windows still absorb scheduling jitter.
const MIN_MARGIN: Duration = Duration::from_millis(5);

/// At most `requests` grants in any window of `window + margin`; waiters are served in the order
/// they arrived, and a server's `Retry-After` can hold the whole bucket back.
#[derive(Debug)]
pub struct Limiter {
    requests: usize,
    /// The window plus the margin that covers latency differences between our clock and the
    /// server's view of when each request arrived.
    span: Duration,
    /// When the last `requests` grants happened, oldest first. The async mutex is the waiting
    /// queue: tokio's mutex is fair (FIFO), and only its holder sleeps on the clock.
    granted: tokio::sync::Mutex<VecDeque<Instant>>,
    /// No grant before this instant (set from a 429's `Retry-After`).
    held_until: Mutex<Option<Instant>>,
}

impl Limiter {
    /// A limiter for one bucket's budget. A budget of zero requests is treated as one, so that a
    /// misconfiguration slows the connector down instead of hanging it.
    pub fn new(limit: RateLimit) -> Limiter {
        let margin = (limit.window / 50).max(MIN_MARGIN);
        Limiter {
            requests: limit.requests.max(1) as usize,
            span: limit.window + margin,
            granted: tokio::sync::Mutex::new(VecDeque::with_capacity(limit.requests as usize)),
            held_until: Mutex::new(None),
        }
    }

    /// Waits until a request may be sent, then counts it as sent. Dropping the future while it
    /// waits gives its place up without using a slot.
    pub async fn acquire(&self) {
        let mut granted = self.granted.lock().await;
        loop {
            let window_free_at = if granted.len() < self.requests {
                None
            } else {
                granted.front().map(|oldest| *oldest + self.span)
            };
            let held_until = *self.held_until.lock().expect("limiter hold lock poisoned");
            match window_free_at.max(held_until) {
                Some(at) if at > Instant::now() => sleep_until(at).await,
                _ => break,
            }
        }
        if granted.len() == self.requests {
            granted.pop_front();
        }
        granted.push_back(Instant::now());
    }

    /// Holds every grant back for `delay` from now: the server said (429 + `Retry-After`) that
    /// this bucket is exhausted, and every other stream sending into it would be throttled too.
    pub fn hold_for(&self, delay: Duration) {
        let until = Instant::now() + delay;
        let mut held = self.held_until.lock().expect("limiter hold lock poisoned");
        *held = Some(held.map_or(until, |current| current.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn limiter(requests: u32, window_ms: u64) -> Arc<Limiter> {
        Arc::new(Limiter::new(RateLimit {
            requests,
            window: Duration::from_millis(window_ms),
        }))
    }

    /// Time since `start`, in whole milliseconds (the paused clock makes this exact).
    fn ms_since(start: Instant) -> u128 {
        start.elapsed().as_millis()
    }

    #[tokio::test(start_paused = true)]
    async fn grants_a_full_window_at_once_then_waits_for_the_oldest_to_age_out() {
        let limiter = limiter(3, 1000);
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert_eq!(ms_since(start), 0);
        limiter.acquire().await;
        assert_eq!(ms_since(start), 1020, "window 1000 ms + 2% margin");
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_slides_with_each_grant() {
        let limiter = limiter(2, 1000);
        let start = Instant::now();
        limiter.acquire().await;
        tokio::time::advance(Duration::from_millis(500)).await;
        limiter.acquire().await;
        limiter.acquire().await;
        assert_eq!(ms_since(start), 1020);
        limiter.acquire().await;
        assert_eq!(ms_since(start), 1520);
    }

    #[tokio::test(start_paused = true)]
    async fn no_window_ever_holds_more_than_the_budget() {
        let limiter = limiter(100, 15_000);
        let mut sent = Vec::new();
        for _ in 0..350 {
            limiter.acquire().await;
            sent.push(Instant::now());
        }
        for pair in sent.windows(101) {
            assert!(pair[100] - pair[0] > Duration::from_secs(15));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_margin_is_at_least_a_few_milliseconds() {
        let limiter = limiter(1, 10);
        let start = Instant::now();
        limiter.acquire().await;
        limiter.acquire().await;
        assert_eq!(ms_since(start), 15);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_holds_the_whole_bucket_back() {
        let limiter = limiter(100, 15_000);
        let start = Instant::now();
        limiter.acquire().await;
        limiter.hold_for(Duration::from_secs(7));
        limiter.hold_for(Duration::from_secs(2));
        limiter.acquire().await;
        assert_eq!(
            ms_since(start),
            7000,
            "a shorter hold does not shorten a longer one"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_set_while_a_waiter_sleeps_still_applies() {
        let limiter = limiter(1, 1000);
        let start = Instant::now();
        limiter.acquire().await;
        let waiter = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.acquire().await }
        });
        tokio::time::advance(Duration::from_millis(100)).await;
        limiter.hold_for(Duration::from_secs(5));
        waiter.await.unwrap();
        assert_eq!(ms_since(start), 5100);
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_are_served_in_arrival_order() {
        let limiter = limiter(1, 100);
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for id in 0..8 {
            let (limiter, order) = (limiter.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                limiter.acquire().await;
                order.lock().unwrap().push(id);
            }));
            // Let the task reach the queue before the next one is spawned.
            tokio::task::yield_now().await;
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..8).collect::<Vec<_>>());
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_waiter_does_not_use_a_slot() {
        let limiter = limiter(1, 1000);
        let start = Instant::now();
        limiter.acquire().await;
        let cancelled = tokio::time::timeout(Duration::from_millis(10), limiter.acquire()).await;
        assert!(cancelled.is_err());
        limiter.acquire().await;
        assert_eq!(ms_since(start), 1020);
    }
}
