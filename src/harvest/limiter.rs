//! The client-side rate limiter: one per Harvest bucket, shared by every stream.
//!
//! Harvest counts requests over sliding windows — 100 in any 15 s (general) and 100 in any
//! 15 min (reports) — and answers 429 to the 101st. Each connector process starts with an empty
//! limiter, but the server still counts the requests of the process before it: `check` and then
//! `read`, two reads in a row, or the platform retrying a failed read. Harvest sends no
//! `X-RateLimit-*` headers to learn that from, and in Docker every run is a fresh container, so
//! nothing can be remembered between processes either. The limiter's shape has to make it safe.
//!
//! The shape is a burst and a steady pace (a GCRA, i.e. a token bucket): `burst` grants at once,
//! then one every `interval`, and unused time refills the burst at that pace. In any stretch of
//! length `L` a process is then granted at most `burst + floor(L / interval)` requests. Say `k`
//! processes may follow one another within one server window: their parts of that window add
//! up to less than `S = W + m` (the window plus a margin for latency), so together they send at
//! most `k·burst + floor(S / interval)`. With `N` requests per window and
//! `interval = S / (N - k·burst)` that is at most `N - 1`: no 429 of our own making.
//!
//! The burst is what a short run gets without waiting; the pace, `(N - k·burst) / S`, is what a
//! long one gets. The buckets are used differently, so they are shaped differently:
//! - general (Harvest: 100 per 15 s): `k = 3`, for check, read, and a second read or the
//!   platform's retry; burst `N/50` (2: check answers at once). A long sync runs at 94 requests
//!   per 15.3 s, 92% of Harvest's rate.
//! - reports (100 per 15 min): `k = 2`, as check and discover send no report request: a read and
//!   the next read or retry; burst `N/5` (20: a sync with the default start date, two 365-day
//!   windows of 9 report streams plus project_budget, 19 requests, never waits). Beyond the
//!   burst, 60 requests per 15.3 min, 65% of Harvest's rate.
//!
//! A sliding-window log that lets all `N` go at once would be faster for one run alone, but the
//! next run's first requests would then be refused. Not covered: processes running at the same
//! time with the same token (two connections syncing one account at once), or more than `k` in
//! one window; a 429 is then retried after the server's `Retry-After`, which holds the whole
//! bucket back. A budget smaller than `k·burst + 1` keeps only the per-process guarantee (at most
//! `N` in any window).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::{sleep_until, Instant};

use crate::config::RateLimit;

/// The smallest safety margin, so that tiny test windows still absorb scheduling jitter.
const MIN_MARGIN: Duration = Duration::from_millis(5);

/// The schedule a [`Limiter`] keeps to for one bucket's budget: `burst` requests at once, then
/// one every `interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pace {
    /// Requests granted at once by a limiter that has been idle.
    pub burst: u32,
    /// The time between grants once the burst is used.
    pub interval: Duration,
}

impl Pace {
    /// The general bucket's pace: three consecutive processes, a burst of `N/50`.
    pub fn general(limit: RateLimit) -> Pace {
        Pace::shared(limit, 50, 3)
    }

    /// The reports bucket's pace: two consecutive processes, a burst of `N/5`.
    pub fn reports(limit: RateLimit) -> Pace {
        Pace::shared(limit, 5, 2)
    }

    /// A pace under which `processes` consecutive processes, each with a burst of
    /// `N / burst_divisor` (at least 1), stay within `limit` together. A budget of zero requests
    /// is treated as one, so that a misconfiguration slows the connector down instead of
    /// hanging it.
    fn shared(limit: RateLimit, burst_divisor: u32, processes: u32) -> Pace {
        let requests = limit.requests.max(1);
        let margin = (limit.window / 50).max(MIN_MARGIN);
        let burst = (requests / burst_divisor).max(1);
        let paced = requests.saturating_sub(processes * burst).max(1);
        Pace {
            burst,
            interval: (limit.window + margin) / paced,
        }
    }

    /// The least time `requests` grants take from the first to the last: what a sync of that
    /// many requests into one bucket cannot beat (the bench's lower bound).
    pub fn least_time(&self, requests: u64) -> Duration {
        let paced = requests.saturating_sub(u64::from(self.burst));
        u32::try_from(paced)
            .ok()
            .and_then(|paced| self.interval.checked_mul(paced))
            .unwrap_or(Duration::MAX)
    }
}

/// Grants requests on a [`Pace`]; waiters are served in the order they arrived, and a server's
/// `Retry-After` can hold the whole bucket back.
#[derive(Debug)]
pub struct Limiter {
    pace: Pace,
    /// How far ahead of the schedule a grant may go: the burst, less the grant itself.
    tolerance: Duration,
    /// The waiting queue: tokio's mutex is fair (FIFO), and only its holder sleeps on the clock.
    queue: tokio::sync::Mutex<()>,
    /// Waiters in the queue, its holder included: how many grants a newcomer waits behind.
    queued: AtomicUsize,
    /// The schedule (GCRA's theoretical arrival time): a grant is due at this instant less the
    /// tolerance; `None` until the first grant. Changed only by the queue's holder, read by
    /// newcomers to tell how long they will wait.
    scheduled: Mutex<Option<Instant>>,
    /// No grant before this instant (set from a 429's `Retry-After`).
    held_until: Mutex<Option<Instant>>,
    /// Time grants were held back, in microseconds: only the head of the queue sleeps, so this
    /// is the time the bucket delayed requests, not the sum of every waiter's wait.
    waited_micros: AtomicU64,
}

/// Counts a waiter out of the queue when it leaves, granted or cancelled.
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Limiter {
    /// A limiter that grants on `pace`.
    pub fn new(pace: Pace) -> Limiter {
        Limiter {
            pace,
            tolerance: pace.interval * (pace.burst - 1),
            queue: tokio::sync::Mutex::new(()),
            queued: AtomicUsize::new(0),
            scheduled: Mutex::new(None),
            held_until: Mutex::new(None),
            waited_micros: AtomicU64::new(0),
        }
    }

    /// Waits until a request may be sent, then counts it as sent. Dropping the future while it
    /// waits gives its place up without using a slot.
    #[cfg(test)]
    pub async fn acquire(&self) {
        self.acquire_watched(|_| {}).await;
    }

    /// [`Limiter::acquire`], telling `until` when the grant is expected while it waits: on
    /// arrival behind other waiters (the schedule's estimate for its place in the queue), then
    /// at the head of the queue each time it sleeps (exact, a `Retry-After` included).
    pub async fn acquire_watched(&self, mut until: impl FnMut(Instant)) {
        let ahead = self.queued.fetch_add(1, Ordering::Relaxed);
        let _queued = Queued(&self.queued);
        if ahead > 0 {
            if let Some(at) = self.due(ahead) {
                until(at);
            }
        }
        let _turn = self.queue.lock().await;
        loop {
            match self.due(0) {
                Some(at) if at > Instant::now() => {
                    until(at);
                    let asleep = Instant::now();
                    sleep_until(at).await;
                    let micros = asleep.elapsed().as_micros().try_into().unwrap_or(u64::MAX);
                    self.waited_micros.fetch_add(micros, Ordering::Relaxed);
                }
                _ => break,
            }
        }
        let now = Instant::now();
        let mut scheduled = lock(&self.scheduled);
        *scheduled = Some(scheduled.map_or(now, |at| at.max(now)) + self.pace.interval);
    }

    /// When the grant `ahead` places behind the head of the queue is due, by the schedule and
    /// any hold; `None` if nothing holds it back.
    fn due(&self, ahead: usize) -> Option<Instant> {
        let paced = lock(&self.scheduled).and_then(|at| {
            let behind = u32::try_from(ahead).ok()?;
            let at = match behind {
                0 => at,
                _ => at.max(Instant::now()) + self.pace.interval.checked_mul(behind)?,
            };
            at.checked_sub(self.tolerance)
        });
        paced.max(*lock(&self.held_until))
    }

    /// How long this bucket held requests back so far (its pace and any `Retry-After`).
    pub fn waited(&self) -> Duration {
        Duration::from_micros(self.waited_micros.load(Ordering::Relaxed))
    }

    /// Holds every grant back for `delay` from now: the server said (429 + `Retry-After`) that
    /// this bucket is exhausted, and every other stream sending into it would be throttled too.
    pub fn hold_for(&self, delay: Duration) {
        let until = Instant::now() + delay;
        let mut held = lock(&self.held_until);
        *held = Some(held.map_or(until, |current| current.max(until)));
    }
}

/// Locks a mutex whose data (one instant) stays consistent even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn limit(requests: u32, window_ms: u64) -> RateLimit {
        RateLimit {
            requests,
            window: Duration::from_millis(window_ms),
        }
    }

    /// A general-bucket limiter.
    fn limiter(requests: u32, window_ms: u64) -> Arc<Limiter> {
        Arc::new(Limiter::new(Pace::general(limit(requests, window_ms))))
    }

    /// Time since `start`, in whole milliseconds (the paused clock makes this exact).
    fn ms_since(start: Instant) -> u128 {
        start.elapsed().as_millis()
    }

    #[test]
    fn harvests_budgets_get_their_bursts_and_paces() {
        let general = Pace::general(limit(100, 15_000));
        assert_eq!(general.burst, 2);
        assert_eq!(general.interval, Duration::from_millis(15_300) / 94);
        assert_eq!(general.least_time(2), Duration::ZERO);
        assert_eq!(general.least_time(96), general.interval * 94);
        assert_eq!(
            general.least_time(96).as_millis(),
            15_299,
            "15.3 s less rounding"
        );
        let reports = Pace::reports(limit(100, 900_000));
        assert_eq!(reports.burst, 20);
        assert_eq!(reports.interval, Duration::from_millis(15_300));
        assert_eq!(reports.least_time(19), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn grants_the_burst_at_once_then_one_per_interval() {
        // 200 per 4.7 s: burst 4, margin 94 ms, interval 4794 ms / 188 = 25.5 ms.
        let limiter = limiter(200, 4_700);
        let start = Instant::now();
        for _ in 0..4 {
            limiter.acquire().await;
        }
        assert_eq!(ms_since(start), 0);
        assert_eq!(
            limiter.waited(),
            Duration::ZERO,
            "the burst waits for nothing"
        );
        limiter.acquire().await;
        assert_eq!(
            ms_since(start),
            26,
            "25.5 ms; the clock wakes on whole milliseconds"
        );
        limiter.acquire().await;
        assert_eq!(ms_since(start), 51);
        assert_eq!(
            limiter.waited().as_millis(),
            51,
            "the time the bucket held requests back"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_refills_the_burst_at_the_pace_and_no_further() {
        // 100 per 4.4 s: burst 2, margin 88 ms, interval 4488 ms / 94 ≈ 47.7 ms; 100 ms of
        // idling earns two grants.
        let limiter = limiter(100, 4_400);
        let start = Instant::now();
        for _ in 0..2 {
            limiter.acquire().await;
        }
        tokio::time::advance(Duration::from_millis(100)).await;
        limiter.acquire().await;
        limiter.acquire().await;
        assert_eq!(
            ms_since(start),
            100,
            "two intervals of idling gave two grants"
        );
        limiter.acquire().await;
        assert_eq!(
            ms_since(start),
            148,
            "the next waits for the schedule: 100 + 47.7"
        );
        tokio::time::advance(Duration::from_secs(60)).await;
        let idle = Instant::now();
        for _ in 0..2 {
            limiter.acquire().await;
        }
        assert_eq!(ms_since(idle), 0);
        limiter.acquire().await;
        assert_eq!(
            ms_since(idle),
            48,
            "a long idle still refills only the burst"
        );
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

    /// The most requests of `sent` (in order) within any `window`.
    fn most_in_a_window(sent: &[Instant], window: Duration) -> usize {
        (0..sent.len())
            .map(|i| {
                sent[i..]
                    .iter()
                    .take_while(|&&t| t - sent[i] < window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    /// Processes one after the other, each with a fresh limiter of `pace` making the given
    /// number of requests: when each grant happened.
    async fn back_to_back(pace: Pace, lengths: &[usize]) -> Vec<Instant> {
        let mut sent = Vec::new();
        for &requests in lengths {
            let process = Limiter::new(pace);
            for _ in 0..requests {
                process.acquire().await;
                sent.push(Instant::now());
            }
        }
        sent
    }

    /// Check, read, read again (each a fresh limiter), of many combinations of lengths: the
    /// server's general window never holds more than the budget.
    #[tokio::test(start_paused = true)]
    async fn three_consecutive_processes_never_exceed_the_general_budget() {
        let pace = Pace::general(limit(100, 15_000));
        for lengths in [
            [1, 1, 1],
            [2, 50, 350],
            [300, 2, 300],
            [150, 150, 150],
            [2, 2, 200],
        ] {
            let sent = back_to_back(pace, &lengths).await;
            let most = most_in_a_window(&sent, Duration::from_secs(15));
            assert!(most <= 99, "{lengths:?}: {most} requests in one window");
        }
    }

    /// A read and the next read (or the platform's retry): the reports window never holds more
    /// than the budget, and a read of 20 report requests sends them all at once.
    #[tokio::test(start_paused = true)]
    async fn two_consecutive_processes_never_exceed_the_reports_budget() {
        let pace = Pace::reports(limit(100, 900_000));
        for lengths in [[20, 20], [19, 300], [300, 19], [150, 150], [1, 1]] {
            let sent = back_to_back(pace, &lengths).await;
            let most = most_in_a_window(&sent, Duration::from_secs(900));
            assert!(most <= 99, "{lengths:?}: {most} requests in one window");
        }
        let start = Instant::now();
        let sent = back_to_back(pace, &[20]).await;
        assert_eq!(sent.last().map(|t| *t - start), Some(Duration::ZERO));
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

    /// Each waiter is told, on arrival, the instant its grant comes: a stream can say how long
    /// it waits before it starts waiting. A hold set meanwhile is told to the head.
    #[tokio::test(start_paused = true)]
    async fn waiters_are_told_when_their_grant_is_due() {
        let limiter = limiter(100, 15_000);
        limiter.acquire().await;
        limiter.acquire().await;
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let limiter = limiter.clone();
            tasks.push(tokio::spawn(async move {
                let mut told = Vec::new();
                limiter.acquire_watched(|at| told.push(at)).await;
                (told, Instant::now())
            }));
            tokio::task::yield_now().await;
        }
        let interval = Pace::general(limit(100, 15_000)).interval;
        let mut due = Vec::new();
        for task in tasks {
            let (told, granted) = task.await.unwrap();
            assert!(!told.is_empty(), "a waiter behind the burst is told");
            assert!(told.iter().all(|t| *t == told[0]), "{told:?}");
            // Timers fire on whole milliseconds.
            let late = granted - told[0];
            assert!(
                late < Duration::from_millis(1),
                "told {told:?}, granted {granted:?}"
            );
            due.push(told[0]);
        }
        assert_eq!(due[1] - due[0], interval);
        assert_eq!(due[2] - due[1], interval);
        let waiter = tokio::spawn({
            let limiter = limiter.clone();
            async move {
                let mut told = Vec::new();
                limiter.acquire_watched(|at| told.push(at)).await;
                told
            }
        });
        tokio::task::yield_now().await;
        let held = Instant::now() + Duration::from_secs(7);
        limiter.hold_for(Duration::from_secs(7));
        tokio::time::advance(interval).await;
        let told = waiter.await.unwrap();
        assert_eq!(told.last(), Some(&held), "{told:?}");
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
