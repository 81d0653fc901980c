//! Whether the API host can be reached at all in this run.
//!
//! A stream whose requests fail while others succeed deserves its full retry budget: Harvest is
//! up, that endpoint is having trouble. A host that refuses every connection, or a name that
//! does not resolve, is another matter: every request of the run would spend its whole budget
//! on it (with 32 streams, a quarter of an hour) to report the same thing 32 times. So the
//! client keeps one verdict for the run: until the host has answered once, connection failures
//! (refused, no route, DNS; not timeouts, resets or 5xx, which an answering host also causes)
//! count towards [`UNREACHABLE_AFTER`], and once that is spent, or one request ran out of
//! retries on them, every request fails at once with [`FetchError::Unreachable`].

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::error::FetchError;

/// How long connections may fail, before the host has answered once, until the run stops
/// trying: about the first five retries of one request at the default backoff, well under the
/// two minutes a sync that cannot work may take to say so.
pub const UNREACHABLE_AFTER: Duration = Duration::from_secs(30);

/// The run's verdict on the API host.
pub struct Reachability {
    host: String,
    budget: Duration,
    seen: Mutex<HostRecord>,
    verdict: watch::Sender<Option<FetchError>>,
}

/// What the host has done so far.
#[derive(Default)]
struct HostRecord {
    answered: bool,
    first_failure: Option<Instant>,
    failures: u64,
}

impl Reachability {
    /// The verdict on `host`, with `budget` of failing connections before it is unreachable.
    pub fn new(host: String, budget: Duration) -> Reachability {
        Reachability {
            host,
            budget,
            seen: Mutex::default(),
            verdict: watch::Sender::new(None),
        }
    }

    /// The host answered (any HTTP status): it is reachable, whatever fails later.
    pub fn answered(&self) {
        self.seen().answered = true;
    }

    /// A connection failed with `cause`. Returns the verdict if this failure spent the budget
    /// (or an earlier one did).
    pub fn connect_failed(&self, cause: &str) -> Option<FetchError> {
        let mut seen = self.seen();
        if seen.answered {
            return None;
        }
        seen.failures += 1;
        let first = *seen.first_failure.get_or_insert_with(Instant::now);
        if first.elapsed() >= self.budget {
            self.declare(&seen, cause);
        }
        drop(seen);
        self.verdict()
    }

    /// A request ran out of retries, the last of them on a failed connection with `cause`: if
    /// the host never answered, no other request can do better.
    pub fn exhausted(&self, cause: &str) -> Option<FetchError> {
        let seen = self.seen();
        if !seen.answered {
            self.declare(&seen, cause);
        }
        drop(seen);
        self.verdict()
    }

    /// The verdict, once the host is known unreachable.
    pub fn verdict(&self) -> Option<FetchError> {
        self.verdict.borrow().clone()
    }

    /// Resolves with the verdict once the host is known unreachable: requests waiting to retry
    /// end at once rather than after their backoff.
    pub async fn unreachable(&self) -> FetchError {
        let mut verdict = self.verdict.subscribe();
        loop {
            if let Some(error) = verdict.borrow_and_update().clone() {
                return error;
            }
            // The sender lives as long as `self`, which this future borrows: never an error.
            if verdict.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Records the verdict, the first time only: its figures are those that decided it.
    fn declare(&self, seen: &HostRecord, cause: &str) {
        let error = FetchError::Unreachable {
            host: self.host.clone(),
            failures: seen.failures,
            waited_secs: seen.first_failure.map_or(0, |t| t.elapsed().as_secs()),
            last_error: cause.to_owned(),
        };
        self.verdict.send_if_modified(|verdict| {
            let first = verdict.is_none();
            if first {
                *verdict = Some(error);
            }
            first
        });
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HostRecord> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}
