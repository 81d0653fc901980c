//! A child stream: the records under each of its parent's records, parents in ascending id
//! order, each record gaining `parent_id`.

use crate::harvest::FetchError;
use crate::protocol::{Extra, Extras};
use crate::read::cursor::Cursors;
use crate::read::emit::Emitter;
use crate::read::error::StreamError;
use crate::read::walk;
use crate::read::{Job, Run};
use crate::state::{self, Position, Resume};

/// Reads every parent's children, checkpointing between parents (`after_parent_id`).
pub(super) async fn read(
    run: &Run,
    job: &Job,
    parent: &'static str,
    out: &mut Emitter<'_>,
) -> Result<Position, StreamError> {
    let def = job.sel.def;
    let parents = run.parents.get(run, parent).await?;
    let cursors = Cursors::new(&run.config, &job.sel, &job.position);
    let filter = cursors.filter();
    let resume = cursors.resume();
    let after = resume.and_then(|r| r.after_parent_id);
    let watermark = resume
        .and_then(|r| r.watermark)
        .unwrap_or_else(|| Cursors::watermark_at(parents.listed_at));
    out.running()?;
    for &id in parents
        .ids
        .iter()
        .filter(|&&id| after.is_none_or(|a| id > a))
    {
        let mut query = Vec::new();
        if def.server_filters() {
            query.push((
                "updated_since",
                state::format_instant(cursors.lower_bound()),
            ));
        }
        let path = def.path.replace("{id}", &id.to_string());
        let extras = Extras::new(&[Extra::ParentId(id)]);
        let walked = walk::walk(
            &run.client,
            &run.links,
            def,
            run.first_url(&path, query),
            |page, _, _| {
                out.records(&page.records, &filter, &extras);
                out.flush_page()
            },
        )
        .await;
        match walked {
            Err(StreamError::Fetch(FetchError::NotFound { url_path })) => {
                tracing::warn!("stream {}: {parent} {id} disappeared during the sync ({url_path} answered 404); its records are skipped", def.name);
            }
            other => other?,
        }
        if out.checkpoint_due() {
            let resume = Resume {
                watermark: cursors.resume_watermark(Some(watermark)),
                after_parent_id: Some(id),
                ..Resume::default()
            };
            out.state(&cursors.in_progress(resume))?;
        }
    }
    out.finish(cursors.completed(Some(watermark)))
}
