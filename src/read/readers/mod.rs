//! One reader per stream kind. Each reads one stream from where the state left it, writes
//! through the stream's [`Emitter`], and returns the position its final STATE carries.

mod child;
mod list;
mod report;
mod single;

use super::emit::Emitter;
use super::error::StreamError;
use super::{Job, Run};
use crate::state::Position;
use crate::streams::Kind;

/// Reads `job`'s stream with the reader its kind calls for.
pub(super) async fn read_by_kind(
    run: &Run,
    job: &Job,
    out: &mut Emitter<'_>,
) -> Result<Position, StreamError> {
    match job.sel.def.kind {
        Kind::Single => single::read_body(run, job, out).await,
        Kind::List { .. }
        | Kind::Report {
            window_days: None, ..
        } => list::read_list(run, job, out).await,
        Kind::Child {
            parent, touched_by, ..
        } => child::read_children(run, job, parent, touched_by, out).await,
        Kind::Report {
            window_days: Some(_),
            ..
        } => report::read_windows(run, job, out).await,
        Kind::Derived(_) => unreachable!("the plan reads a derived stream through its source"),
    }
}
