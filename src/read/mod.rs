//! The read engine: every selected stream, read the same way from its row in the stream table.
//!
//! ```text
//! read(): plan ─► one task per stream (≤ max_concurrency at once, one HTTP client and so one
//!         │        rate limiter per bucket for all)
//!         └─► readers::read (by the stream's kind) ─► walk (pages) ─► Emitter ─► Output
//! ```
//!
//! - [`cursor`]: lower bounds, watermarks, resume points: what every STATE says.
//! - [`walk`]: following `links.next`, one request ahead, with the guards and link rules.
//! - [`emit`]: records (raw text, projected), statuses and checkpoints of one stream.
//! - [`parents`]: the parent listings child streams share.
//! - [`readers`]: one reader per stream kind.
//!
//! This module runs the plan and turns each stream's end into its status and trace.

mod cursor;
mod emit;
mod error;
mod parents;
mod readers;
mod walk;

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use url::Url;

use crate::catalog::Selected;
use crate::config::{Config, InputError};
use crate::harvest::{FetchError, HarvestClient, RotationSink};
use crate::output::Output;
use crate::protocol::{AirbyteMessage, FailureType, StreamStatus, SyncMode};
use crate::state::{InputState, Position};

pub use cursor::OVERLAP;
pub use error::ReadError;

use emit::Emitter;
use error::StreamError;
use parents::ParentCache;
use walk::Links;

/// What every stream of one `read` shares.
struct Run {
    config: Config,
    client: HarvestClient,
    links: Links,
    output: Output,
    parents: ParentCache,
}

impl Run {
    /// The first page of `path` with `query`, at the configured page size.
    fn first_url(&self, path: &str, mut query: Vec<(&str, String)>) -> Url {
        query.push(("per_page", self.config.page_size.to_string()));
        self.client.url(path, &query)
    }
}

/// One stream to read: its row and mode as the catalog selected it, where the state left it.
struct Job {
    sel: Selected,
    position: Position,
}

/// How a stream's read ended.
#[derive(Debug, PartialEq, Eq)]
enum StreamEnd {
    /// Every record was read and the final STATE written.
    Complete,
    /// Harvest answered 403: the token's role cannot read this stream.
    Forbidden,
    /// The read stopped; the trace was written.
    Failed,
}

/// Reads the selected streams; `Ok` only when every one of them completed.
pub async fn read(
    config: Config,
    selected: Vec<Selected>,
    input: &InputState,
    output: Output,
    on_rotation: RotationSink,
) -> Result<(), ReadError> {
    let mut jobs = Vec::with_capacity(selected.len());
    for sel in selected {
        let position = input.position(sel.def).map_err(ReadError::Config)?;
        cursor::warn_if_future(sel.def, &position);
        jobs.push(Job { sel, position });
    }
    for name in input.stream_names() {
        if !jobs.iter().any(|job| job.sel.def.name == name) {
            tracing::info!("the state mentions stream {name}, which this catalog does not select; its state is left as it is");
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
    });
    plan_shared_listings(&run.parents, &mut jobs);
    let mut tasks = Vec::with_capacity(jobs.len());
    for job in jobs {
        // Permits are taken in plan order: a parent stream's read, which its children may wait
        // for, holds one before they do.
        let permit = permits.clone().acquire_owned().await.expect("never closed");
        let run = run.clone();
        let name = job.sel.def.name;
        let task = tokio::spawn(async move {
            let _permit = permit;
            run_stream(&run, job).await
        });
        tasks.push((name, task));
    }
    let mut forbidden = Vec::new();
    let mut failed = Vec::new();
    for (name, task) in tasks {
        match supervise(&run.output, name, task).await {
            StreamEnd::Complete => {}
            StreamEnd::Forbidden => forbidden.push(name),
            StreamEnd::Failed => failed.push(name),
        }
    }
    run.client.settle().await;
    let stats = run.client.stats();
    tracing::info!(
        general_requests = stats.general_requests,
        reports_requests = stats.reports_requests,
        retries = stats.retries,
        rate_limited = stats.rate_limited,
        token_refreshes = stats.token_refreshes,
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
    if forbidden.is_empty() && failed.is_empty() {
        Ok(())
    } else {
        let mut all = forbidden;
        all.extend(failed);
        Err(ReadError::Incomplete(all))
    }
}

/// Lets the children of a parent stream this sync reads in full use that read's listing
/// instead of listing the parents again, and moves such parents to the front of the plan.
fn plan_shared_listings(parents: &ParentCache, jobs: &mut [Job]) {
    let children_of =
        |name: &str, jobs: &[Job]| jobs.iter().any(|j| j.sel.def.parent() == Some(name));
    let in_full = |job: &Job| {
        job.position.resume.is_none()
            && (job.sel.mode == SyncMode::FullRefresh || job.position.updated_at.is_none())
    };
    let publishing: Vec<&'static str> = jobs
        .iter()
        .filter(|job| in_full(job) && children_of(job.sel.def.name, jobs))
        .map(|job| job.sel.def.name)
        .collect();
    for name in &publishing {
        parents.expect_from_stream(name);
    }
    jobs.sort_by_key(|job| !publishing.contains(&job.sel.def.name));
}

/// Waits for a stream's task. A task that panicked (a bug) ends its stream INCOMPLETE with a
/// `system_error` trace; the other streams are not affected.
async fn supervise(output: &Output, name: &'static str, task: JoinHandle<StreamEnd>) -> StreamEnd {
    match task.await {
        Ok(end) => end,
        Err(e) => {
            let why = match e.try_into_panic() {
                Ok(payload) => payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into()),
                Err(e) => e.to_string(),
            };
            let _ = output.emit(&AirbyteMessage::stream_status(
                name,
                StreamStatus::Incomplete,
            ));
            let _ = output.emit(&AirbyteMessage::error(
                FailureType::SystemError,
                format!("stream {name} stopped on an internal error of source-harvest ({why:.200}); please report it. Its last STATE, if it emitted one, lets the next sync continue from there."),
                Some(name),
            ));
            StreamEnd::Failed
        }
    }
}

/// One stream, from STARTED to its end.
async fn run_stream(run: &Run, job: Job) -> StreamEnd {
    let name = job.sel.def.name;
    let mut out = Emitter::new(
        job.sel.def,
        &run.output,
        job.sel.fields.clone(),
        run.config.checkpoint_interval,
    );
    if out.status(StreamStatus::Started).is_err() {
        return StreamEnd::Failed;
    }
    let result = match readers::read(run, &job, &mut out).await {
        Ok(position) => out
            .running()
            .and_then(|()| out.state(&position))
            .and_then(|()| out.status(StreamStatus::Complete)),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            tracing::info!("stream {name}: {} records", out.total);
            StreamEnd::Complete
        }
        Err(error) => fail(name, error, &mut out),
    }
}

/// Ends a stream that stopped: INCOMPLETE, and a trace saying why and where the next sync
/// starts it, except where nothing can be said (stdout closed) or a WARN said it (403).
fn fail(name: &str, error: StreamError, out: &mut Emitter<'_>) -> StreamEnd {
    let (failure_type, message) = match error {
        StreamError::OutputClosed => return StreamEnd::Failed,
        StreamError::Fetch(FetchError::Forbidden { url_path }) => {
            end_incomplete(out);
            tracing::warn!(
                "stream {name} skipped: Harvest answered 403 Forbidden for {url_path}; the token's user lacks the permission to read it (an administrator's token can)"
            );
            return StreamEnd::Forbidden;
        }
        StreamError::Fetch(e @ (FetchError::Unauthorized { .. } | FetchError::Config { .. })) => {
            (FailureType::ConfigError, e.to_string())
        }
        StreamError::Fetch(e @ FetchError::Transient { .. }) => {
            (FailureType::TransientError, e.to_string())
        }
        StreamError::Fetch(e) => (FailureType::SystemError, e.to_string()),
        StreamError::Malformed(m) => (FailureType::SystemError, m),
        StreamError::BadRecords(n) => (
            FailureType::SystemError,
            format!("{n} records were malformed and not emitted (see the ERROR logs); the stream's cursor was not advanced so they are read again next time"),
        ),
        StreamError::Output(e) => (
            FailureType::SystemError,
            format!("writing its output failed ({e})"),
        ),
    };
    end_incomplete(out);
    let resume = if out.wrote_state {
        "The last STATE it emitted lets the next sync continue from there"
    } else {
        "It emitted no STATE, so the next sync starts it where this one did"
    };
    let message = format!(
        "stream {name} stopped after {} records: {message}. {resume}.",
        out.total
    );
    let _ = out.message(&AirbyteMessage::error(failure_type, message, Some(name)));
    StreamEnd::Failed
}

/// Writes what the stream buffered and its INCOMPLETE status; a failure to do so is the
/// output's, and the run's exit code reports it.
fn end_incomplete(out: &mut Emitter<'_>) {
    let _ = out.flush_page();
    let _ = out.status(StreamStatus::Incomplete);
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
        let healthy = tokio::spawn(async { StreamEnd::Complete });
        assert_eq!(
            supervise(&output, "clients", panicking).await,
            StreamEnd::Failed
        );
        assert_eq!(
            supervise(&output, "users", healthy).await,
            StreamEnd::Complete
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
