//! A stream whose body is its one record (company).

use crate::protocol::Extras;
use crate::read::emit::Emitter;
use crate::read::error::StreamError;
use crate::read::{Job, Run};
use crate::state::Position;

/// Reads the one record; a full refresh every time. The company is the one such stream
/// (`streams::tests`), and its answer is the one the sync takes Harvest's clock from.
pub(super) async fn read_body(
    run: &Run,
    job: &Job,
    out: &mut Emitter<'_>,
) -> Result<Position, StreamError> {
    let def = job.sel.def;
    let response = run.company().await?;
    let body = std::str::from_utf8(&response.body)
        .ok()
        .filter(|b| b.trim_start().starts_with('{'))
        .ok_or_else(|| {
            StreamError::Malformed(format!("{} did not answer with a JSON object", def.path))
        })?;
    out.running()?;
    out.record(body.trim(), &Extras::none());
    out.flush_page()?;
    Ok(Position::finished_full_refresh())
}
