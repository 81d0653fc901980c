//! A child stream: the records under each of its parent's records, parents in ascending id
//! order, each record gaining `parent_id`.
//!
//! Which parents it reads, and how much of each, is [`child_plan`]'s decision: the parents
//! that changed, those related changes touched ([`Touch`]) and a sweep of the rest
//! ([`CursorPolicy::sweep`]). This reader lists the parents, asks the plan, and reads.

use std::collections::BTreeSet;

use chrono::Utc;

use crate::harvest::FetchError;
use crate::protocol::{Extra, Extras};
use crate::read::child_plan::{self, PlanInput, Portion};
use crate::read::cursor::CursorPolicy;
use crate::read::deletions::child::Rounds;
use crate::read::deletions::{self, Capture, Counted};
use crate::read::emit::Emitter;
use crate::read::error::StreamError;
use crate::read::parents;
use crate::read::walk;
use crate::read::{Job, Run};
use crate::state::{Position, Resume};
use crate::streams::{ChildRecords, Kind, Touch};

/// Reads the parents' children, checkpointing between parents (`after_parent_id`, see
/// [`Emitter::checkpoint`]).
pub(super) async fn read_children(
    run: &Run,
    job: &Job,
    parent: &'static str,
    touched_by: &'static [Touch],
    out: &mut Emitter<'_>,
) -> Result<Position, StreamError> {
    let def = job.sel.def;
    let list = run.parents.get(run, parent).await?;
    let cursors = CursorPolicy::new(&run.config, &job.sel, &job.position);
    let lower = cursors.lower_bound();
    let resume = cursors.resume();
    let after = resume.and_then(|r| r.after_parent_id);
    let watermark = resume
        .and_then(|r| r.watermark)
        .unwrap_or_else(|| CursorPolicy::watermark_at(list.listed_at));
    let now = list.listed_at.unwrap_or_else(Utc::now);
    let ids = list.ids();
    let slice = cursors.sweep(run.config.child_sweep, &ids, now);
    let touched = if child_plan::needs_touched(slice.as_ref(), list.parents.len()) {
        parents::touched(run, touched_by, lower).await?
    } else {
        BTreeSet::new()
    };
    let mut capture = Capture::new(&run.config, &job.sel, &job.derived, &job.position)
        .filter(|_| cursors.may_read_whole(now));
    let under_way = capture.as_ref().and_then(Capture::round_through);
    let rounds = Rounds::of(slice.as_ref(), &ids, under_way);
    let plan = child_plan::plan(PlanInput {
        parents: &list.parents,
        slice: slice.as_ref(),
        touched: &touched,
        touchable: !touched_by.is_empty(),
        captures: capture.is_some(),
        lower,
        may_read_whole: cursors.may_read_whole(now),
        after,
    });
    if let Some(slice) = &slice {
        log_plan(
            def.name,
            parent,
            &plan,
            &slice.ids,
            &touched,
            list.parents.len(),
        );
    }
    let changed_filter = cursors.filter();
    let whole_filter = cursors.whole_filter();
    let shared = matches!(
        def.kind,
        Kind::Child {
            records: ChildRecords::Shared,
            ..
        }
    );
    out.running()?;
    // The STATE after `parent`, the last parent finished: built when written, since the
    // ledger of a child stream costs more than most parents' reads.
    let after = |parent: i64, capture: &Option<Capture>| {
        let resume = Resume {
            watermark: cursors.resume_watermark(Some(watermark)),
            after_parent_id: Some(parent),
            ..Resume::default()
        };
        let mut position = cursors.in_progress(resume);
        position.deletions = capture.as_ref().map(Capture::ledger);
        position
    };
    let mut finished = None;
    for (id, reach) in plan {
        // A parent whose children take more than a page, the STATE after the parent before
        // it: built before its first page is counted, so that a failure after that page can
        // still write what the parents before counted.
        let mut before = None;
        // And the children of such a parent sent before it failed, with their creation times.
        let mut sent = Vec::new();
        let (since, filter) = match reach {
            Portion::Changed => (lower, &changed_filter),
            Portion::Whole => (cursors.start(), &whole_filter),
            Portion::Listed => (cursors.start(), &changed_filter),
        };
        let mut query = Vec::new();
        if def.server_filters() {
            query.push(("updated_since", crate::time::format_instant(since)));
        }
        let path = def.path.replace("{id}", &id.to_string());
        let extras = Extras::new(&[Extra::ParentId(id)]);
        let first = run.first_url(&path, query);
        let mut pages = 0;
        let walked = walk::walk(&run.client, &run.links, def, first, |page, date, next| {
            pages += 1;
            if pages == 1 && next.is_some() {
                before = finished.map(|parent| after(parent, &capture));
            }
            if before.is_some() {
                let keys = page.records.iter().filter_map(|r| r.keys.as_ref().ok());
                sent.extend(keys.filter_map(|k| Some((k.id().ok()?, k.created_at()))));
            }
            // A swept parent's children count in the sweep's round; any parent's, if new. Any
            // parent's read whole is checked against its last whole read.
            if let Some(capture) = &mut capture {
                if reach != Portion::Changed {
                    capture.observe_whole(id, &page.records, date);
                }
                let window = Counted::new_in_pass(lower, watermark);
                capture.observe_children(&rounds, id, &page.records, date, window);
            }
            out.records(&page.records, filter, &extras);
            // New children on a page before the parent's next one: the STATE a failure there
            // would write, before that request (see [`Capture::take_fresh`]). The first parent
            // of a run has none to write: its children wait for the STATE after it.
            if let (Some(position), Some(_)) = (&before, next) {
                if capture.as_mut().is_some_and(Capture::take_fresh) {
                    let mut position = position.clone();
                    if let (Some(capture), Some(ledger)) = (&capture, &mut position.deletions) {
                        capture.sent_unlisted(ledger, id, &sent);
                    }
                    return out.state(&position);
                }
            }
            out.flush_page()
        })
        .await;
        if let Some(capture) = capture.as_mut().filter(|_| reach != Portion::Changed) {
            capture.end_whole(id, walked.is_ok());
        }
        match walked {
            Err(StreamError::Fetch(FetchError::NotFound { url_path })) => {
                tracing::warn!("stream {}: {parent} {id} disappeared during the sync ({url_path} answered 404); its records are skipped", def.name);
            }
            // A parent that cannot have any (a user who manages no one has no teammates).
            Err(StreamError::Fetch(FetchError::Rejected { status: 422, .. }))
                if pages == 0 && shared =>
            {
                tracing::debug!("stream {}: {parent} {id} has none (422)", def.name);
            }
            Err(error) => {
                // The place a failed read writes its STATE: where the last parent finished left
                // the capture, as it stands if no page of this parent came.
                let stopped = match finished.filter(|_| pages == 0) {
                    Some(parent) => Some(after(parent, &capture)),
                    None => before.map(|mut position| {
                        if let (Some(capture), Some(ledger)) = (&capture, &mut position.deletions) {
                            capture.sent_unlisted(ledger, id, &sent);
                        }
                        position
                    }),
                };
                if let Some(position) = stopped {
                    out.checkpoint(position)?;
                }
                return Err(error);
            }
            Ok(()) => {}
        }
        finished = Some(id);
        // A parent's new children, in a STATE before the next request (see
        // [`Capture::take_fresh`]).
        let fresh = capture.as_mut().is_some_and(Capture::take_fresh);
        if out.checkpoint_due() || fresh {
            out.state(&after(id, &capture))?;
        }
    }
    // Confirming candidates can fail too: after every parent's children.
    if let Some(parent) = finished {
        out.checkpoint(after(parent, &capture))?;
    }
    let mut position = cursors.completed_child(watermark, slice.as_ref());
    if let Some(capture) = &mut capture {
        capture.check_user(run).await;
        let at = capture.end_children(&rounds, &ids).unwrap_or(now);
        let gone = deletions::child::confirm(run, capture).await?;
        deletions::write_tombstones(run, capture, out, &gone, at).await?;
        position.deletions = Some(capture.ledger());
    }
    out.finish(position)
}

/// Says which parents an incremental sync reads, and why.
fn log_plan(
    stream: &str,
    parent: &str,
    plan: &[(i64, Portion)],
    swept: &BTreeSet<i64>,
    touched: &BTreeSet<i64>,
    all: usize,
) {
    let changed = plan.iter().filter(|(_, r)| *r == Portion::Changed).count();
    tracing::info!(
        "stream {stream}: reading the children of {} of {all} {parent}: {changed} changed, {} touched by related changes, {} swept",
        plan.len(),
        touched.len(),
        swept.len()
    );
}
