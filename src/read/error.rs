//! Why a stream's read stopped, and why a whole `read` did not complete.

use std::io;

use crate::harvest::FetchError;
use crate::input::InputError;
use crate::output::Output;

/// Why one stream's read stopped. Each variant is one way the stream ends (see the run in
/// [`super`]): its status, its trace and whether the others go on.
#[derive(Debug)]
pub(super) enum StreamError {
    /// A request failed for good (after its retries, or at once where retrying cannot help).
    Fetch(FetchError),
    /// The server broke the API's contract: a page without its array, a looping next link…
    Malformed(String),
    /// This many records were unusable (no id, wrong types); each was reported, none emitted.
    BadRecords(u64),
    /// stdout is closed: the reader went away and nothing more can be said.
    OutputClosed,
    /// Writing the output failed otherwise; reported as a `system_error` naming the stream.
    Output(io::Error),
}

impl StreamError {
    /// Classifies a failed write to `output`.
    pub(super) fn writing(error: io::Error, output: &Output) -> StreamError {
        if output.is_closed() {
            StreamError::OutputClosed
        } else {
            StreamError::Output(error)
        }
    }
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamError::Fetch(e) => e.fmt(f),
            StreamError::Malformed(why) => f.write_str(why),
            StreamError::BadRecords(n) => write!(f, "{n} records were unusable"),
            StreamError::OutputClosed => f.write_str("stdout is closed"),
            StreamError::Output(e) => write!(f, "writing the output failed: {e}"),
        }
    }
}

impl From<FetchError> for StreamError {
    fn from(e: FetchError) -> Self {
        StreamError::Fetch(e)
    }
}

/// Why a `read` did not complete.
#[derive(Debug)]
pub enum ReadError {
    /// Nothing was read: the state (or the client's setup) is unusable.
    Config(InputError),
    /// Some streams did not finish; each said why on the output already.
    Incomplete(Vec<&'static str>),
    /// The sync was cancelled (SIGTERM or SIGINT); the streams it stopped said INCOMPLETE.
    Cancelled,
}
