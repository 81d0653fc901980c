//! How a stream's read ends: COMPLETE with its final STATE, or INCOMPLETE with a trace saying
//! why and where the next sync starts it (or a WARN, for a stream the token may not read), and
//! what the run does about it.

use super::emit::Sink;
use super::error::StreamError;
use crate::harvest::FetchError;
use crate::protocol::{AirbyteMessage, FailureType, StreamStatus};
use crate::state::Position;

/// How a stream's read ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum StreamEnd {
    /// Every record was read and the final STATE written.
    Complete,
    /// Harvest answered 403: the token's role cannot read this stream.
    Forbidden,
    /// The read stopped; the trace was written.
    Failed,
    /// The read stopped on what no stream can get past (credentials refused, host unreachable):
    /// the stream wrote its INCOMPLETE status, the run stops the others and writes the trace once.
    EndsRun(FetchError),
    /// The run stopped the stream (see [`StreamEnd::EndsRun`], or a cancelled sync).
    Stopped,
}

/// Ends a stream whose read completed: its final STATE and COMPLETE, unless its own records
/// were malformed (a derived stream's rows can be, its source's records being fine).
pub(super) fn complete(sink: &mut Sink<'_>, position: &Position) -> StreamEnd {
    let result = sink
        .check()
        .and_then(|()| sink.running())
        .and_then(|()| sink.state(position))
        .and_then(|()| sink.status(StreamStatus::Complete));
    match result {
        Ok(()) => {
            tracing::info!("stream {}: {} records", sink.stream, sink.total);
            StreamEnd::Complete
        }
        Err(error) => Ending::of(error).end(sink),
    }
}

/// How a stream that stopped ends, worked out once for every stream of its read.
pub(super) enum Ending {
    /// stdout is closed: nothing can be said.
    Closed,
    /// 403: a WARN says it, the run's trace names every such stream.
    Forbidden(String),
    /// A trace says why.
    Failed(FailureType, String),
    /// What no stream can get past (credentials refused, host unreachable): the run stops the
    /// others and writes the trace once.
    EndsRun(FetchError),
}

impl Ending {
    pub(super) fn of(error: StreamError) -> Ending {
        let (failure_type, message) = match error {
            StreamError::OutputClosed => return Ending::Closed,
            StreamError::Fetch(FetchError::Forbidden { url_path }) => {
                return Ending::Forbidden(url_path)
            }
            StreamError::Fetch(
                e @ (FetchError::Unauthorized { .. }
                | FetchError::Config { .. }
                | FetchError::Unreachable { .. }),
            ) => return Ending::EndsRun(e),
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
        Ending::Failed(failure_type, message)
    }

    /// Ends `sink`'s stream: INCOMPLETE, and a trace saying why and where the next sync
    /// starts it, except where nothing can be said (stdout closed) or a WARN said it (403).
    pub(super) fn end(&self, sink: &mut Sink<'_>) -> StreamEnd {
        let name = sink.stream;
        match self {
            Ending::Closed => StreamEnd::Failed,
            Ending::EndsRun(error) => {
                end_incomplete(sink);
                StreamEnd::EndsRun(error.clone())
            }
            Ending::Forbidden(url_path) => {
                end_incomplete(sink);
                tracing::warn!(
                    "stream {name} skipped: Harvest answered 403 Forbidden for {url_path}; the token's user lacks the permission to read it (an administrator's token can)"
                );
                StreamEnd::Forbidden
            }
            Ending::Failed(failure_type, message) => {
                end_incomplete(sink);
                let resume = if sink.wrote_state {
                    "The last STATE it emitted lets the next sync continue from there"
                } else {
                    "It emitted no STATE, so the next sync starts it where this one did"
                };
                let message = format!(
                    "stream {name} stopped after {} records: {message}. {resume}.",
                    sink.total
                );
                let _ = sink.message(&AirbyteMessage::error(*failure_type, message, Some(name)));
                StreamEnd::Failed
            }
        }
    }
}

/// Writes what the stream buffered and its INCOMPLETE status; a failure to do so is the
/// output's, and the run's exit code reports it.
fn end_incomplete(sink: &mut Sink<'_>) {
    let _ = sink.flush_page();
    let _ = sink.status(StreamStatus::Incomplete);
}
