//! A list stream (and a report without dates, read the same way): one pass over its pages.

use crate::protocol::Extras;
use crate::read::cursor::Cursors;
use crate::read::emit::Emitter;
use crate::read::error::StreamError;
use crate::read::walk;
use crate::read::{Job, Run};
use crate::state::{self, Position, Resume};

/// Reads the stream's pages from its first (with `updated_since` where Harvest filters) or
/// from the interrupted pass's next page, checkpointing at page boundaries.
pub(super) async fn read(
    run: &Run,
    job: &Job,
    out: &mut Emitter<'_>,
) -> Result<Position, StreamError> {
    let def = job.sel.def;
    let cursors = Cursors::new(&run.config, &job.sel, &job.position);
    let filter = cursors.filter();
    let resume = cursors.resume();
    let mut watermark = resume.and_then(|r| r.watermark);
    // Read in full for children too: every record is listed (the start date is applied here),
    // and the listing is handed to them.
    let mut publisher = run.parents.publisher(def.name);
    let first = match resume.and_then(|r| r.next.as_deref()) {
        Some(link) => {
            tracing::info!(
                "stream {}: resuming the interrupted pass at {link}",
                def.name
            );
            run.links.resume(link)?
        }
        None => {
            let mut query = Vec::new();
            if def.server_filters() && publisher.is_none() {
                query.push((
                    "updated_since",
                    state::format_instant(cursors.lower_bound()),
                ));
            }
            run.first_url(def.path, query)
        }
    };
    let mut first_page = resume.is_none();
    walk::walk(&run.client, &run.links, def, first, |page, date, next| {
        let watermark = *watermark.get_or_insert_with(|| Cursors::watermark_at(date));
        if std::mem::take(&mut first_page) {
            if let Some(total) = page.total_entries {
                out.estimate(total)?;
            }
        }
        out.running()?;
        if let Some(publisher) = &mut publisher {
            publisher.add(page, date);
        }
        out.records(&page.records, &filter, &Extras::none());
        out.flush_page()?;
        if let Some(next) = next.filter(|_| out.checkpoint_due()) {
            let resume = Resume {
                watermark: cursors.resume_watermark(Some(watermark)),
                next: Some(next.to_string()),
                ..Resume::default()
            };
            out.state(&cursors.in_progress(resume))?;
        }
        Ok(())
    })
    .await?;
    let position = out.finish(cursors.completed(watermark))?;
    if let Some(publisher) = publisher {
        publisher.publish(def.name);
    }
    Ok(position)
}
