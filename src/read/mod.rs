//! The read engine: every selected stream, read the same way from its row in the stream table.
//!
//! ```text
//! read(): plan ─► one task per stream (≤ max_concurrency at once, one HTTP client and so one
//!         │        rate limiter per bucket for all)
//!         └─► readers::read_by_kind (by the stream's kind) ─► walk (pages) ─► Emitter ─► Output
//! ```
//!
//! - [`cursor`]: lower bounds, watermarks, resume points: what every STATE says.
//! - [`walk`]: following `links.next`, one request ahead, with the guards and link rules.
//! - [`emit`]: records (raw text, projected), statuses and checkpoints of one stream.
//! - [`parents`]: the parent listings child streams share.
//! - [`plan`]: which reads the selected streams make, and in what order.
//! - [`ending`]: a stream's end as its status and trace.
//! - [`readers`]: one reader per stream kind.
//!
//! This module runs the plan: the streams' tasks, their cancellation and supervision.

mod child_plan;
mod cursor;
mod deletions;
mod derive;
mod emit;
mod ending;
mod error;
mod parents;
mod plan;
mod readers;
mod walk;

use std::sync::Arc;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::Semaphore;
use tokio::task::{AbortHandle, JoinHandle};
use url::Url;

use crate::catalog::Selected;
use crate::config::Config;
use crate::harvest::waiting::{self, StreamWaits};
use crate::harvest::{FetchError, HarvestClient, RotationSink};
use crate::input::InputError;
use crate::output::Output;
use crate::protocol::{AirbyteMessage, FailureType, StreamStatus};
use crate::state::InputState;

pub use cursor::OVERLAP;
pub use error::ReadError;

use emit::Emitter;
use ending::{complete, Ending, StreamEnd};
use parents::ParentCache;
use plan::{plan, plan_shared_listings, Job};
use walk::Links;

/// What every stream of one `read` shares.
struct Run {
    config: Config,
    client: HarvestClient,
    links: Links,
    output: Output,
    parents: ParentCache,
    /// The user the token acts as, asked once if deletion capture compares listings.
    identity: tokio::sync::OnceCell<Option<String>>,
    /// Harvest's clock, asked once a sync when a report stream or a state ahead of this
    /// machine's clock needs it.
    clock: tokio::sync::OnceCell<chrono::DateTime<chrono::Utc>>,
    /// Harvest's answer to `/company`, kept once it came: the company stream's record and
    /// Harvest's clock, one request for both.
    company: tokio::sync::OnceCell<crate::harvest::Response>,
}

impl Run {
    /// The user the token acts as (`/users/me`: id and roles), asked once a sync and only when
    /// deletion capture compares listings: another user, or the same with other roles, may
    /// list fewer records. `None` when Harvest does not say.
    async fn identity(&self) -> Option<String> {
        let ask = || async {
            let url = self.client.url("/users/me", &[]);
            let response = match self.client.get(&url, crate::harvest::Bucket::General).await {
                Ok(response) => response,
                Err(e) => {
                    tracing::warn!("could not ask Harvest which user the token acts as ({e}); no deletions are reported in this sync, and the next compares its listings with the last ones compared");
                    return None;
                }
            };
            let me: serde_json::Value = serde_json::from_slice(&response.body).ok()?;
            let mut roles: Vec<&str> = me["access_roles"]
                .as_array()
                .map(|r| r.iter().filter_map(serde_json::Value::as_str).collect())
                .unwrap_or_default();
            roles.sort_unstable();
            Some(format!(
                "user {} as {}",
                me["id"].as_i64()?,
                roles.join(", ")
            ))
        };
        self.identity.get_or_init(ask).await.clone()
    }

    /// Harvest's clock (its `Date` header) when first asked in this sync, which says which
    /// report windows hold today and whether a state is in the future: the same for every
    /// stream of the sync, and not this machine's clock, which may be wrong. Asked with the
    /// company (one request); this machine's clock if Harvest does not say.
    async fn server_now(&self) -> chrono::DateTime<chrono::Utc> {
        let ask = || async {
            let date = match self.company().await {
                Ok(response) => response.date,
                Err(e) => {
                    tracing::warn!("could not ask Harvest for its date ({e})");
                    None
                }
            };
            date.unwrap_or_else(|| {
                tracing::warn!(
                    "Harvest did not say its date: this machine's clock is used instead"
                );
                chrono::Utc::now()
            })
        };
        *self.clock.get_or_init(ask).await
    }

    /// Harvest's answer to `/company`, asked once a sync: the company stream's record, and the
    /// `Date` header [`Run::server_now`] takes. A failed ask is not kept: the next asks again.
    async fn company(&self) -> Result<&crate::harvest::Response, crate::harvest::FetchError> {
        let ask = || async {
            let url = self.client.url("/company", &[]);
            self.client.get(&url, crate::harvest::Bucket::General).await
        };
        self.company.get_or_try_init(ask).await
    }

    /// Harvest's day (UTC) by [`Run::server_now`].
    async fn server_today(&self) -> chrono::NaiveDate {
        self.server_now().await.date_naive()
    }

    /// The first page of `path` with `query`, at the configured page size.
    fn first_url(&self, path: &str, mut query: Vec<(&str, String)>) -> Url {
        query.push(("per_page", self.config.page_size.to_string()));
        self.client.url(path, &query)
    }
}

/// Reads the selected streams; `Ok` only when every one of them completed.
pub async fn read(
    config: Config,
    selected: Vec<Selected>,
    input: &InputState,
    output: Output,
    on_rotation: RotationSink,
) -> Result<(), ReadError> {
    let mut positions = Vec::with_capacity(selected.len());
    for sel in selected {
        let position = input.position(sel.def).map_err(ReadError::Config)?;
        positions.push((sel, position));
    }
    // A state may hold streams the catalog does not select (deselected ones, whose state the
    // platform keeps) and, from another connector or a later version, streams we do not have:
    // neither is read, and the second is worth a warning.
    for name in input.stream_names() {
        if positions.iter().any(|(sel, _)| sel.def.name == name) {
            continue;
        }
        let shown = name.chars().take(80).collect::<String>();
        match crate::streams::find(name) {
            Some(_) => tracing::info!("the state mentions stream {name}, which this catalog does not select; its state is left as it is"),
            None => tracing::warn!("the state holds stream {shown:?}, which this connector does not have; its state is ignored (a state of another source, or of a later version?)"),
        }
    }
    let client = HarvestClient::new(&config)
        .map_err(|e| ReadError::Config(InputError::config(e.to_string())))?;
    client.on_refresh_token_rotated(on_rotation);
    let permits = Arc::new(Semaphore::new(config.max_concurrency.max(1)));
    let run = Arc::new(Run {
        links: Links::new(&config.api_url, config.page_size),
        config,
        client,
        output,
        parents: ParentCache::default(),
        identity: tokio::sync::OnceCell::new(),
        clock: tokio::sync::OnceCell::new(),
        company: tokio::sync::OnceCell::new(),
    });
    // Only a state ahead of this machine's clock costs the request for Harvest's.
    if positions
        .iter()
        .any(|(_, p)| cursor::future_by(p, chrono::Utc::now()).is_some())
    {
        let now = run.server_now().await;
        for (sel, position) in &positions {
            cursor::warn_if_future(sel.def, position, now);
        }
    }
    let mut jobs = plan(positions);
    plan_shared_listings(&run.parents, &mut jobs);
    // Registered before any stream starts, so that a cancel is never missed.
    let mut cancel = std::pin::pin!(cancelled());
    let mut was_cancelled = false;
    let output = &run.output;
    let mut ends = FuturesUnordered::new();
    let mut stop = Vec::with_capacity(jobs.len());
    let mut failed = Vec::new();
    for job in jobs {
        let names = job.streams();
        // Permits are taken in plan order: a parent stream's read, which its children may wait
        // for, holds one before they do. Stopping the run closes them, so that the streams not
        // started yet never start.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.ok(),
            signal = &mut cancel, if !was_cancelled => {
                was_cancelled = true;
                stop_the_run(signal, &permits, &stop);
                None
            }
        };
        let Some(permit) = permit else {
            for &name in &names {
                stopped(output, name);
                failed.push(name);
            }
            continue;
        };
        let run = run.clone();
        let permits = permits.clone();
        let task = tokio::spawn(async move {
            let _permit = permit;
            let ends = run_stream(&run, job).await;
            if ends.iter().any(|end| matches!(end, StreamEnd::EndsRun(_))) {
                permits.close();
            }
            ends
        });
        stop.push(task.abort_handle());
        ends.push(async move {
            let ended = supervise(output, &names, task).await;
            names.into_iter().zip(ended).collect::<Vec<_>>()
        });
    }
    let mut forbidden = Vec::new();
    let mut ended_by: Option<FetchError> = None;
    loop {
        let end = tokio::select! {
            end = ends.next() => end,
            signal = &mut cancel, if !was_cancelled => {
                was_cancelled = true;
                stop_the_run(signal, &permits, &stop);
                continue;
            }
        };
        let Some(ended) = end else { break };
        for (name, end) in ended {
            match end {
                StreamEnd::Complete => {}
                StreamEnd::Forbidden => forbidden.push(name),
                StreamEnd::Failed | StreamEnd::Stopped => failed.push(name),
                StreamEnd::EndsRun(error) => {
                    failed.push(name);
                    if ended_by.is_none() {
                        permits.close();
                        stop.iter().for_each(AbortHandle::abort);
                        ended_by = Some(error);
                    }
                }
            }
        }
    }
    drop(ends);
    if let Some(error) = ended_by {
        let (failure_type, message) = match error {
            FetchError::Unauthorized { .. } => (
                FailureType::ConfigError,
                crate::harvest::diagnose::unauthorized(&run.config, &run.client).await,
            ),
            FetchError::Config { .. } => (FailureType::ConfigError, error.to_string()),
            _ => (FailureType::TransientError, error.to_string()),
        };
        let _ = run.output.emit(&AirbyteMessage::error(
            failure_type,
            format!("the sync stopped: {message}"),
            None,
        ));
    }
    run.client.settle().await;
    let stats = run.client.stats();
    tracing::info!(
        general_requests = stats.general_requests,
        reports_requests = stats.reports_requests,
        retries = stats.retries,
        rate_limited = stats.rate_limited,
        token_refreshes = stats.token_refreshes,
        general_waited_seconds = format!("{:.1}", stats.general_waited.as_secs_f64()),
        reports_waited_seconds = format!("{:.1}", stats.reports_waited.as_secs_f64()),
        "requests made:"
    );
    if !forbidden.is_empty() {
        let _ = run.output.emit(&AirbyteMessage::error(
            FailureType::ConfigError,
            format!(
                "Harvest refused access (403) to {}: the token's user lacks the permission these streams need (most need an administrator, or a manager allowed to see rates and invoices). Use an administrator's token, or deselect these streams.",
                forbidden.join(", ")
            ),
            None,
        ));
    }
    if was_cancelled {
        Err(ReadError::Cancelled)
    } else if forbidden.is_empty() && failed.is_empty() {
        Ok(())
    } else {
        let mut all = forbidden;
        all.extend(failed);
        Err(ReadError::Incomplete(all))
    }
}

/// Resolves when the sync is cancelled: SIGTERM (the platform's cancel) or SIGINT (Ctrl-C).
/// The handlers are installed when this is called, not when it is first polled; where they
/// cannot be, the sync just cannot be cancelled gracefully.
fn cancelled() -> impl std::future::Future<Output = &'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => std::future::pending().await,
        }
    }
}

/// Waits for a read's task, which ends `names` (its streams). A task that panicked (a bug)
/// ends each of them INCOMPLETE with a `system_error` trace; the other reads are not affected.
/// A task the run stopped ends its streams INCOMPLETE without a trace of their own.
async fn supervise(
    output: &Output,
    names: &[&'static str],
    task: JoinHandle<Vec<StreamEnd>>,
) -> Vec<StreamEnd> {
    match task.await {
        Ok(ends) => ends,
        Err(e) if e.is_cancelled() => names
            .iter()
            .map(|name| {
                stopped(output, name);
                StreamEnd::Stopped
            })
            .collect(),
        Err(e) => {
            let why = match e.try_into_panic() {
                Ok(payload) => payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into()),
                Err(e) => e.to_string(),
            };
            for &name in names {
                let _ = output.emit(&AirbyteMessage::stream_status(
                    name,
                    StreamStatus::Incomplete,
                ));
                let _ = output.emit(&AirbyteMessage::error(
                    FailureType::SystemError,
                    format!("stream {name} stopped on an internal error of source-harvest ({why:.200}); please report it. Its last STATE, if it emitted one, lets the next sync continue from there."),
                    Some(name),
                ));
            }
            names.iter().map(|_| StreamEnd::Failed).collect()
        }
    }
}

/// Stops the run on a cancel: no stream starts any more, the running ones stop at their next
/// await (never in the middle of a write: writes do not await), and the next sync resumes each
/// from its last STATE.
fn stop_the_run(signal: &str, permits: &Semaphore, running: &[AbortHandle]) {
    tracing::warn!(
        "{signal}: stopping the sync; the next one resumes from the last STATE of each stream"
    );
    permits.close();
    running.iter().for_each(AbortHandle::abort);
}

/// The status of a stream the run stopped, or never started: INCOMPLETE, without a trace of its
/// own (the run says why).
fn stopped(output: &Output, name: &str) {
    let _ = output.emit(&AirbyteMessage::stream_status(
        name,
        StreamStatus::Incomplete,
    ));
}

/// One read, from STARTED to the end of each of its streams (its own, unless hidden, then
/// the derived ones, as [`Job::streams`] lists them).
async fn run_stream(run: &Run, job: Job) -> Vec<StreamEnd> {
    let mut out = Emitter::new(
        job.sel.def,
        &run.output,
        job.sel.fields.clone(),
        run.config.checkpoint_interval,
    );
    for derived in &job.derived {
        out = out.tap(derived.def, derived.fields.clone());
    }
    if !job.visible {
        out = out.hidden();
    }
    if out.status(StreamStatus::Started).is_err() {
        return out.sinks().map(|_| StreamEnd::Failed).collect();
    }
    let waits = rate_limit_statuses(&run.output, job.streams());
    let read = waiting::watched(waits.clone(), readers::read_by_kind(run, &job, &mut out)).await;
    waits.close();
    match read {
        Ok(position) => out.sinks().map(|sink| complete(sink, &position)).collect(),
        Err(error) => {
            out.stopped();
            let ending = Ending::of(error);
            out.sinks().map(|sink| ending.end(sink)).collect()
        }
    }
}

/// What the platform sees while `streams` (one read's) wait on Harvest's rate limit: RUNNING
/// with the `RATE_LIMITED` reason and the quota's reset time, then RUNNING again when they go on.
fn rate_limit_statuses(output: &Output, streams: Vec<&'static str>) -> Arc<StreamWaits> {
    let output = output.clone();
    StreamWaits::new(Box::new(move |quota_reset| {
        for stream in &streams {
            let message = match quota_reset {
                Some(reset) => AirbyteMessage::rate_limited(stream, reset),
                None => AirbyteMessage::stream_status(stream, StreamStatus::Running),
            };
            // A closed output ends the stream at its next write, which says so.
            let _ = output.emit(&message);
        }
    }))
}

#[cfg(test)]
mod tests {
    use std::io::{self, Write};
    use std::sync::Mutex;

    use serde_json::Value;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn messages(&self) -> Vec<Value> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        }
    }

    #[tokio::test]
    async fn a_panic_in_a_stream_task_fails_that_stream_only_with_a_system_error() {
        let captured = Captured::default();
        let output = Output::new(Box::new(captured.clone()));
        let panicking = tokio::spawn(async {
            tokio::task::yield_now().await;
            panic!("the trigger of this test");
        });
        let healthy = tokio::spawn(async { vec![StreamEnd::Complete] });
        assert_eq!(
            supervise(&output, &["clients"], panicking).await,
            [StreamEnd::Failed]
        );
        assert_eq!(
            supervise(&output, &["users"], healthy).await,
            [StreamEnd::Complete]
        );
        output.flush().unwrap();
        let messages = captured.messages();
        assert_eq!(messages.len(), 2, "{messages:?}");
        let status = &messages[0]["trace"]["stream_status"];
        assert_eq!(status["status"], "INCOMPLETE");
        assert_eq!(status["stream_descriptor"]["name"], "clients");
        let error = &messages[1]["trace"]["error"];
        assert_eq!(error["failure_type"], "system_error");
        assert_eq!(error["stream_descriptor"]["name"], "clients");
        let text = error["message"].as_str().unwrap();
        assert!(text.contains("the trigger of this test"), "{text}");
    }
}
