//! A report stream: rows of windows of at most a year from the start (or the state) to the
//! end, each row gaining the window's `from` and `to`.

use crate::protocol::{Extra, Extras};
use crate::read::cursor::{Cursors, RecordFilter};
use crate::read::emit::Emitter;
use crate::read::error::StreamError;
use crate::read::walk;
use crate::read::{Job, Run};
use crate::state::Position;

/// Reads every window, checkpointing inside a window at page boundaries and between windows.
pub(super) async fn read(
    run: &Run,
    job: &Job,
    out: &mut Emitter<'_>,
) -> Result<Position, StreamError> {
    let def = job.sel.def;
    let cursors = Cursors::new(&run.config, &job.sel, &job.position);
    let mut windows = cursors.windows();
    let mut resume_link = cursors.resume().and_then(|r| r.next.clone());
    let filter = RecordFilter::none();
    out.running()?;
    while let Some((from, to)) = windows.next() {
        // A window resumed mid-way: its total counts rows an earlier run already sent.
        let mut window_start = resume_link.is_none();
        let first = match resume_link.take() {
            Some(link) => run.links.resume(&link)?,
            None => run.first_url(
                def.path,
                vec![
                    ("from", crate::time::format_date(from)),
                    ("to", crate::time::format_date(to)),
                ],
            ),
        };
        let extras = Extras::new(&[Extra::Window { from, to }]);
        walk::walk(&run.client, &run.links, def, first, |page, _, next| {
            // Harvest counts a window's rows, not the stream's: the estimate is what was read
            // so far plus this window, exact once the last window begins.
            if let Some(total) = page.total_entries.filter(|_| window_start) {
                out.estimate(out.total() + total)?;
            }
            window_start = false;
            out.records(&page.records, &filter, &extras);
            out.flush_page()?;
            if let Some(next) = next.filter(|_| out.checkpoint_due()) {
                out.state(&windows.in_window(from, next))?;
            }
            Ok(())
        })
        .await?;
        if let Some(between) = windows.done(to) {
            out.state(&between)?;
        }
    }
    out.finish(windows.completed())
}
