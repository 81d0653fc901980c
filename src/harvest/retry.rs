//! Which failures are worth another try, and how long to wait before it (backon, exponential
//! with jitter, bounded in count and per delay; a server's `Retry-After` wins over the backoff).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use backon::{ExponentialBuilder, Retryable};

use super::error::FetchError;
use super::Counters;

/// No single backoff delay is longer than this: a longer outage is better reported (the stream
/// ends INCOMPLETE and a later run resumes) than slept through.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The longest `Retry-After` honoured: a little over Harvest's longest window (reports, 15 min),
/// so a legitimate throttle is always waited out but a hostile value cannot stall a sync.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(16 * 60);

/// The outcome of one failed attempt.
#[derive(Debug)]
pub enum Failure {
    /// Another attempt may succeed (429, 5xx, timeout, connection error, unparsable body).
    Retryable {
        /// What went wrong, for the log and the final error.
        cause: String,
        /// How long the server asked us to wait, if it did.
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help.
    Final(FetchError),
}

impl Failure {
    /// A retryable failure the server gave no wait for.
    pub fn retryable(cause: impl Into<String>) -> Failure {
        Failure::Retryable {
            cause: cause.into(),
            retry_after: None,
        }
    }
}

/// How many times and how patiently a request is retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// The first backoff delay; each next one doubles, plus jitter.
    pub base_delay: Duration,
    /// Retries after the first attempt.
    pub max_retries: usize,
}

impl RetryPolicy {
    /// Runs `attempt` until it succeeds, fails finally, or retries run out; in the last case the
    /// error is [`FetchError::Transient`] with the number of attempts made. Every retry is logged
    /// and counted.
    pub async fn run<T, F, Fut>(
        &self,
        url_path: &str,
        counters: &Counters,
        mut attempt: F,
    ) -> Result<T, FetchError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let attempts = AtomicUsize::new(0);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.base_delay)
            .with_max_delay(MAX_BACKOFF)
            .with_jitter()
            .with_max_times(self.max_retries);
        let outcome = (|| {
            attempts.fetch_add(1, Ordering::Relaxed);
            attempt()
        })
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(|failure| matches!(failure, Failure::Retryable { .. }))
        .adjust(|failure, backoff| {
            let backoff = backoff?;
            Some(match failure {
                Failure::Retryable {
                    retry_after: Some(wait),
                    ..
                } => *wait,
                _ => backoff.min(MAX_BACKOFF),
            })
        })
        .notify(|failure, delay| {
            counters.retries.fetch_add(1, Ordering::Relaxed);
            if let Failure::Retryable { cause, .. } = failure {
                tracing::warn!(
                    path = url_path,
                    attempt = attempts.load(Ordering::Relaxed),
                    delay_ms = delay.as_millis() as u64,
                    "Harvest request failed ({cause}); retrying in {delay:?}"
                );
            }
        })
        .await;
        outcome.map_err(|failure| match failure {
            Failure::Final(error) => error,
            Failure::Retryable { cause, .. } => FetchError::Transient {
                url_path: url_path.to_owned(),
                attempts: attempts.load(Ordering::Relaxed),
                last_error: cause,
            },
        })
    }
}

/// Parses a `Retry-After` value: delay seconds or an HTTP-date. A date is measured from the
/// server's own `Date` when it sent one, so clock skew between us and Harvest does not matter.
/// The result is capped at [`MAX_RETRY_AFTER`].
pub fn parse_retry_after(value: &str, server_now: Option<SystemTime>) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            let now = server_now.unwrap_or_else(SystemTime::now);
            at.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds() {
        assert_eq!(parse_retry_after("15", None), Some(Duration::from_secs(15)));
        assert_eq!(parse_retry_after(" 0 ", None), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_as_a_date_counts_from_the_servers_clock() {
        let server_now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", Some(server_now)),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", Some(server_now)),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_is_capped_and_garbage_is_ignored() {
        assert_eq!(parse_retry_after("999999999", None), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", None), None);
        assert_eq!(parse_retry_after("-5", None), None);
    }

    fn policy(max_retries: usize) -> RetryPolicy {
        RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_retries,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_retries_with_the_attempt_count() {
        let counters = Counters::default();
        let calls = AtomicUsize::new(0);
        let result: Result<(), _> = policy(3)
            .run("/clients", &counters, || async {
                calls.fetch_add(1, Ordering::Relaxed);
                Err(Failure::retryable("HTTP 503"))
            })
            .await;
        assert_eq!(
            result.unwrap_err(),
            FetchError::Transient {
                url_path: "/clients".into(),
                attempts: 4,
                last_error: "HTTP 503".into(),
            }
        );
        assert_eq!(calls.load(Ordering::Relaxed), 4);
        assert_eq!(counters.retries.load(Ordering::Relaxed), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_grows_with_jitter_and_is_capped() {
        let counters = Counters::default();
        let sent = std::sync::Mutex::new(Vec::new());
        let start = tokio::time::Instant::now();
        let _: Result<(), _> = RetryPolicy {
            base_delay: Duration::from_secs(10),
            max_retries: 5,
        }
        .run("/x", &counters, || async {
            sent.lock().unwrap().push(start.elapsed());
            Err(Failure::retryable("reset"))
        })
        .await;
        let sent = sent.into_inner().unwrap();
        let delays: Vec<Duration> = sent.windows(2).map(|w| w[1] - w[0]).collect();
        let floors = [10, 20, 40, 60, 60];
        for (delay, floor) in delays.iter().zip(floors) {
            let floor = Duration::from_secs(floor);
            assert!(
                *delay >= floor && *delay <= (floor * 2).min(MAX_BACKOFF),
                "{delay:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_replaces_the_backoff() {
        let counters = Counters::default();
        let start = tokio::time::Instant::now();
        let calls = AtomicUsize::new(0);
        let result = policy(2)
            .run("/x", &counters, || async {
                if calls.fetch_add(1, Ordering::Relaxed) == 0 {
                    Err(Failure::Retryable {
                        cause: "HTTP 429".into(),
                        retry_after: Some(Duration::from_secs(15)),
                    })
                } else {
                    Ok(start.elapsed())
                }
            })
            .await;
        assert_eq!(result.unwrap(), Duration::from_secs(15));
    }

    #[tokio::test(start_paused = true)]
    async fn final_failures_are_not_retried() {
        let counters = Counters::default();
        let calls = AtomicUsize::new(0);
        let result: Result<(), _> = policy(5)
            .run("/x", &counters, || async {
                calls.fetch_add(1, Ordering::Relaxed);
                Err(Failure::Final(FetchError::Forbidden {
                    url_path: "/x".into(),
                }))
            })
            .await;
        assert!(matches!(result, Err(FetchError::Forbidden { .. })));
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert_eq!(counters.retries.load(Ordering::Relaxed), 0);
    }
}
