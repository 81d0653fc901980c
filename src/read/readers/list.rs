//! A list stream (and a report without dates, read the same way): one pass over its pages.

use chrono::{DateTime, Utc};

use crate::protocol::Extras;
use crate::read::cursor::CursorPolicy;
use crate::read::deletions::{self, Capture, Counted};
use crate::read::emit::Emitter;
use crate::read::error::StreamError;
use crate::read::walk;
use crate::read::{Job, Run};
use crate::state::{Position, Resume};
use crate::streams::{Kind, Pages};

/// Reads the stream's pages from its first (with `updated_since` where Harvest filters) or
/// from the interrupted pass's next page, checkpointing at page boundaries (see
/// [`Emitter::checkpoint`]).
pub(super) async fn read_list(
    run: &Run,
    job: &Job,
    out: &mut Emitter<'_>,
) -> Result<Position, StreamError> {
    let def = job.sel.def;
    let cursors = CursorPolicy::new(&run.config, &job.sel, &job.position);
    let filter = cursors.filter();
    let resume = cursors.resume();
    let mut watermark = resume.and_then(|r| r.watermark);
    // Read in full for children too: every record is listed (the start date is applied here),
    // and the listing is handed to them.
    let mut publisher = run.parents.publisher(def.name);
    let mut capture = Capture::new(&run.config, &job.sel, &job.derived, &job.position);
    let resumed_at = resume.and_then(|r| r.next.as_deref());
    // The read is the listing deletion capture compares when it costs no more requests.
    let whole = capture.as_ref().is_some_and(|c| {
        c.lists_whole(
            cursors.lower_bound() <= cursors.start(),
            run.config.page_size,
            resumed_at,
        )
    });
    let first = match resumed_at {
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
                let since = if whole {
                    cursors.start()
                } else {
                    cursors.lower_bound()
                };
                query.push(("updated_since", crate::time::format_instant(since)));
            }
            run.first_url(def.path, query)
        }
    };
    let mut first_page = resume.is_none();
    let mut resumed_numbered = resumed_at.is_some()
        && matches!(
            def.kind,
            Kind::List {
                pages: Pages::Numbered { .. },
                ..
            }
        );
    let mut server_now = None;
    // The link of the page after the last one read, once it was counted and written: where
    // the STATE of a read that fails goes on.
    let mut passed: Option<String> = None;
    let pause = |watermark, next: &str, capture: Option<&Capture>| {
        paused_at(&cursors, watermark, next, capture, whole)
    };
    // Asked before the pages (once a sync, for every stream): the pass's STATE then follows
    // its last page with no request in between (see [`Capture::take_fresh`]).
    let user = if capture.is_some() {
        Some(run.identity().await)
    } else {
        None
    };
    let walked = walk::walk(&run.client, &run.links, def, first, |page, date, next| {
        passed = None;
        let watermark = *watermark.get_or_insert_with(|| CursorPolicy::watermark_at(date));
        server_now = server_now.or(date);
        // Not from a state in the future, which reads nothing until then.
        if !cursors.may_read_whole(date.unwrap_or_else(Utc::now)) {
            capture = None;
        }
        if std::mem::take(&mut first_page) {
            if let Some(total) = page.total_entries {
                out.estimate(total)?;
            }
            if let Some(capture) = capture.as_mut().filter(|_| whole) {
                capture.begin_anew(date.unwrap_or_else(Utc::now), page.total_entries);
            }
        }
        // A pass resumed on numbered pages reads the page before its link again (records may
        // have moved back onto it): counted already, it is not counted twice.
        let read_again = std::mem::take(&mut resumed_numbered);
        if let Some(capture) = capture.as_mut().filter(|_| !read_again) {
            let counted = if whole {
                Counted::All
            } else {
                Counted::new_in_pass(cursors.lower_bound(), watermark)
            };
            capture.observe(&page.records, date, counted);
        }
        out.running()?;
        if let Some(publisher) = &mut publisher {
            publisher.add(page, date);
        }
        out.records(&page.records, &filter, &Extras::none());
        out.flush_page()?;
        if let Some(next) = next {
            let fresh = capture.as_mut().is_some_and(Capture::take_fresh);
            if out.checkpoint_due() || fresh {
                out.state(&pause(watermark, next, capture.as_ref()))?;
            }
            passed = Some(next.to_string());
        }
        Ok(())
    })
    .await;
    if let Err(error) = walked {
        if let (Some(next), Some(watermark)) = (&passed, watermark) {
            out.checkpoint(pause(watermark, next, capture.as_ref()))?;
        }
        return Err(error);
    }
    let mut position = cursors.completed(watermark);
    if let Some(capture) = &mut capture {
        let now = server_now.unwrap_or_else(Utc::now);
        if let Some(user) = user {
            capture.acting_as(user);
        }
        let completed = whole.then(|| capture.complete());
        // What the pass counted that no STATE holds, before the listing's requests; for a
        // listing read whole, also before the confirmations' (its table may hold rows no
        // STATE holds that their creation time does not tell: a role's new member).
        if capture.take_fresh() || (whole && capture.has_candidates()) {
            position.deletions = Some(capture.ledger());
            out.state(&position)?;
        }
        let seen_at = if let Some(seen_at) = completed {
            seen_at
        } else {
            let before = capture.ledger();
            match deletions::entity::advance(run, capture, now).await {
                Ok(seen_at) => seen_at,
                // The records were read: the listing goes on next sync from where it was.
                Err(e) => {
                    tracing::warn!(
                        "stream {}: its listing for deletions stopped ({e}); it goes on next sync",
                        def.name
                    );
                    capture.restore(&before);
                    None
                }
            }
        };
        let at = seen_at.unwrap_or(now);
        let gone = deletions::entity::confirm(run, capture).await;
        deletions::write_tombstones(run, capture, out, &gone, at).await?;
        position.deletions = Some(capture.ledger());
    }
    let position = out.finish(position)?;
    if let Some(publisher) = publisher {
        publisher.publish(def.name);
    }
    Ok(position)
}

/// The STATE of a pass paused before the page at `next`, the watermark its first page set; a
/// pass that is itself the listing pauses that too.
fn paused_at(
    cursors: &CursorPolicy,
    watermark: DateTime<Utc>,
    next: &str,
    capture: Option<&Capture>,
    whole: bool,
) -> Position {
    let resume = Resume {
        watermark: cursors.resume_watermark(Some(watermark)),
        next: Some(next.to_string()),
        ..Resume::default()
    };
    let mut position = cursors.in_progress(resume);
    position.deletions = capture.map(|c| {
        if whole {
            c.ledger_at(Some(next))
        } else {
            c.ledger()
        }
    });
    position
}
