//! Telling the platform that a stream waits on Harvest's rate limit.
//!
//! A stream held back by a 429's `Retry-After`, or by the limiter (the reports bucket paces one
//! request every 15 s once its burst is spent), looks stuck to whoever watches the sync. The
//! protocol has a RUNNING status with a `RATE_LIMITED` reason and the quota's reset time for
//! that. The requests that wait are deep in the HTTP client, shared by every stream; which
//! stream a request serves is known only to the task that reads it. So each stream's read runs
//! inside [`watched`], which gives its task (and the prefetches it spawns through [`inherit`])
//! its [`StreamWaits`]; a request finds them there, reports how long it will wait, and that it
//! went on.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Waits shorter than this are the limiter's ordinary pacing, not worth a status: the platform
/// would see a flicker of messages for nothing a person could notice.
const REPORTED_WAIT: Duration = Duration::from_secs(1);

tokio::task_local! {
    /// The waits of the stream the current task reads.
    static WAITS: Arc<StreamWaits>;
}

/// Says what the platform should see: `Some(quota_reset)` (milliseconds since the epoch) when
/// the stream starts waiting, `None` when it goes on.
pub type WaitSink = Box<dyn Fn(Option<i64>) + Send + Sync>;

/// One stream's requests that wait on a rate limit: the first to wait makes the stream
/// RATE_LIMITED, the last to go on makes it plainly RUNNING again.
pub struct StreamWaits {
    state: Mutex<WaitState>,
    say: WaitSink,
}

#[derive(Default)]
struct WaitState {
    /// Requests of the stream waiting now.
    waiting: usize,
    /// The reset time last said, while the stream is said to wait.
    said: Option<i64>,
    /// The stream ended: its final status is written, nothing may follow it.
    closed: bool,
}

impl StreamWaits {
    /// Waits that `say` what a stream's requests do.
    pub fn new(say: WaitSink) -> Arc<StreamWaits> {
        Arc::new(StreamWaits {
            state: Mutex::new(WaitState::default()),
            say,
        })
    }

    /// Nothing more is said once this returns: the stream's last status comes next. `say` runs
    /// under the same lock, so no message can slip in after.
    pub fn close(&self) {
        self.lock().closed = true;
    }

    /// A request waits until `quota_reset`; `first` when it did not wait before. Said when the
    /// stream was not said to wait, or when the reset moved later by [`REPORTED_WAIT`] or more
    /// (a longer wait than the one said, e.g. a `Retry-After` after the limiter's pace).
    fn waiting(&self, quota_reset: i64, first: bool) {
        let mut state = self.lock();
        if state.closed {
            return;
        }
        if first {
            state.waiting += 1;
        }
        let later = |said: i64| quota_reset >= said + millis(REPORTED_WAIT);
        if state.said.is_none_or(later) {
            state.said = Some(quota_reset);
            (self.say)(Some(quota_reset));
        }
    }

    /// A request that waited went on (or was dropped).
    fn went_on(&self) {
        let mut state = self.lock();
        state.waiting = state.waiting.saturating_sub(1);
        if state.waiting == 0 && state.said.take().is_some() && !state.closed {
            (self.say)(None);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WaitState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Runs `read` (a stream's read) with `waits` as the stream's, for every request it makes.
pub async fn watched<F: Future>(waits: Arc<StreamWaits>, read: F) -> F::Output {
    WAITS.scope(waits, read).await
}

/// `future` with the current task's stream waits, for a task spawned on the stream's behalf (a
/// page requested ahead): task-locals do not cross `tokio::spawn`.
pub fn inherit<F: Future>(future: F) -> impl Future<Output = F::Output> {
    let waits = WAITS.try_with(Arc::clone).ok();
    async move {
        match waits {
            Some(waits) => WAITS.scope(waits, future).await,
            None => future.await,
        }
    }
}

/// One request's wait, across its retries: reported to its stream's [`StreamWaits`] when it
/// is long, and ended when the request is sent or dropped.
pub(super) struct Wait {
    waits: Option<Arc<StreamWaits>>,
    /// Until when this request said it waits, while it does.
    until: Option<Instant>,
}

impl Wait {
    /// The wait of a request made by the current task (one that reads no stream reports none).
    pub(super) fn current() -> Wait {
        Wait {
            waits: WAITS.try_with(Arc::clone).ok(),
            until: None,
        }
    }

    /// The request cannot be sent before `until` (the limiter's schedule or hold): said if that
    /// is [`REPORTED_WAIT`] or more away, and again if it moves later by as much.
    pub(super) fn until(&mut self, until: Instant) {
        self.report(until, until.saturating_duration_since(Instant::now()));
    }

    /// The request is sent again after `delay` (a 429's `Retry-After`): judged by the delay the
    /// server gave, so that `Retry-After: 1` is a second's wait however late this runs.
    pub(super) fn retry_after(&mut self, delay: Duration) {
        self.report(Instant::now() + delay, delay);
    }

    fn report(&mut self, until: Instant, delay: Duration) {
        let Some(waits) = &self.waits else { return };
        if delay < REPORTED_WAIT || self.until.is_some_and(|t| until < t + REPORTED_WAIT) {
            return;
        }
        let first = self.until.replace(until).is_none();
        waits.waiting(
            crate::protocol::now_millis().saturating_add(millis(delay)),
            first,
        );
    }

    /// The request is sent: its wait, if it said one, is over.
    pub(super) fn went_on(&mut self) {
        if self.until.take().is_some() {
            if let Some(waits) = &self.waits {
                waits.went_on();
            }
        }
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        self.went_on();
    }
}

/// `duration` in whole milliseconds, saturating.
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a stream's waits said, in order.
    type Said = Arc<Mutex<Vec<Option<i64>>>>;

    /// Waits whose messages the test reads back.
    fn recorded() -> (Arc<StreamWaits>, Said) {
        let said = Arc::new(Mutex::new(Vec::new()));
        let sink = said.clone();
        let waits = StreamWaits::new(Box::new(move |reset| sink.lock().unwrap().push(reset)));
        (waits, said)
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_wait_is_said_once_and_its_end_once() {
        let (waits, said) = recorded();
        watched(waits, async {
            let mut wait = Wait::current();
            wait.until(Instant::now() + Duration::from_millis(999));
            wait.retry_after(Duration::from_millis(999));
            assert!(said.lock().unwrap().is_empty(), "under a second: pacing");
            let before = crate::protocol::now_millis();
            wait.retry_after(Duration::from_secs(15));
            wait.until(Instant::now() + Duration::from_millis(15_500));
            wait.went_on();
            wait.went_on();
            let said = said.lock().unwrap().clone();
            assert_eq!(said.len(), 2, "{said:?}");
            let reset = said[0].expect("the first says the reset");
            assert!(
                (before + 15_000..before + 15_100).contains(&reset),
                "{reset}"
            );
            assert_eq!(said[1], None);
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn the_stream_goes_on_when_its_last_waiting_request_does() {
        let (waits, said) = recorded();
        watched(waits, async {
            let mut first = Wait::current();
            let mut second = inherit(async { Wait::current() }).await;
            first.until(Instant::now() + Duration::from_secs(5));
            second.until(Instant::now() + Duration::from_secs(9));
            first.went_on();
            assert_eq!(said.lock().unwrap().len(), 2, "a later reset is said again");
            drop(second);
            let said = said.lock().unwrap().clone();
            assert_eq!(said.len(), 3, "{said:?}");
            assert!(said[1].unwrap() >= said[0].unwrap() + 4_000, "{said:?}");
            assert_eq!(said[2], None);
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_said_after_the_stream_ended_nor_outside_a_stream() {
        let (waits, said) = recorded();
        let mut outside = Wait::current();
        outside.until(Instant::now() + Duration::from_secs(5));
        watched(waits.clone(), async {
            let mut wait = Wait::current();
            wait.until(Instant::now() + Duration::from_secs(5));
            waits.close();
            wait.went_on();
            wait.until(Instant::now() + Duration::from_secs(60));
        })
        .await;
        let said = said.lock().unwrap().clone();
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(said[0].is_some());
    }
}
