//! A child stream: the records under each of its parent's records, parents in ascending id
//! order, each record gaining `parent_id`.
//!
//! An incremental sync reads the children of the parents that changed since the stream's
//! watermark (Harvest moves a parent's `updated_at` when most of its children change: a
//! payment recorded or deleted, an invoice sent, closed or re-opened), those another stream
//! says were touched ([`Touch`]), and a sweep of the rest ([`Cursors::sweep`]): a slice per
//! sync, so every parent's children are read again within `child_sweep_hours` and a change
//! Harvest makes without moving the parent arrives at the latest then. A full refresh, a first
//! sync and `child_sweep_hours: 0` read every parent (whole where others' changes touch the
//! children: the same requests).

use std::collections::BTreeSet;

use chrono::Utc;

use crate::harvest::FetchError;
use crate::protocol::{Extra, Extras};
use crate::read::cursor::Cursors;
use crate::read::emit::Emitter;
use crate::read::error::StreamError;
use crate::read::parents;
use crate::read::walk;
use crate::read::{Job, Run};
use crate::state::{self, Position, Resume};
use crate::streams::Touch;

/// How much of one parent's children a sync reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reach {
    /// Those updated since the watermark (`updated_since` where Harvest filters).
    Changed,
    /// All of them since the start date: the parent was swept or touched.
    Whole,
}

/// Reads the parents' children, checkpointing between parents (`after_parent_id`).
pub(super) async fn read(
    run: &Run,
    job: &Job,
    parent: &'static str,
    touched_by: &'static [Touch],
    out: &mut Emitter<'_>,
) -> Result<Position, StreamError> {
    let def = job.sel.def;
    let list = run.parents.get(run, parent).await?;
    let cursors = Cursors::new(&run.config, &job.sel, &job.position);
    let lower = cursors.lower_bound();
    let resume = cursors.resume();
    let after = resume.and_then(|r| r.after_parent_id);
    let watermark = resume
        .and_then(|r| r.watermark)
        .unwrap_or_else(|| Cursors::watermark_at(list.listed_at));
    let now = list.listed_at.unwrap_or_else(Utc::now);
    let slice = cursors.sweep(run.config.child_sweep, &list.ids(), now);
    let plan: Vec<(i64, Reach)> = match &slice {
        // Every parent: whole where others' changes touch children without moving them, as no
        // listing of the related streams tells which (the same requests).
        None => {
            let reach = if touched_by.is_empty() || !cursors.may_read_whole(now) {
                Reach::Changed
            } else {
                Reach::Whole
            };
            list.parents.iter().map(|(id, _)| (*id, reach)).collect()
        }
        Some(slice) => {
            // A full sweep reads every parent whole: nothing to learn from related changes.
            let touched = if slice.ids.len() < list.parents.len() {
                parents::touched(run, touched_by, lower).await?
            } else {
                BTreeSet::new()
            };
            let plan: Vec<(i64, Reach)> = list
                .parents
                .iter()
                .filter_map(|&(id, updated)| {
                    if slice.ids.contains(&id) || touched.contains(&id) {
                        Some((id, Reach::Whole))
                    } else {
                        // A parent without updated_at cannot be said unchanged.
                        updated
                            .is_none_or(|t| t >= lower)
                            .then_some((id, Reach::Changed))
                    }
                })
                .collect();
            log_plan(
                def.name,
                parent,
                &plan,
                &slice.ids,
                &touched,
                list.parents.len(),
            );
            plan
        }
    };
    let changed_filter = cursors.filter();
    let whole_filter = cursors.whole_filter();
    out.running()?;
    for (id, reach) in plan
        .into_iter()
        .filter(|(id, _)| after.is_none_or(|a| *id > a))
    {
        let (since, filter) = match reach {
            Reach::Changed => (lower, &changed_filter),
            Reach::Whole => (cursors.start(), &whole_filter),
        };
        let mut query = Vec::new();
        if def.server_filters() {
            query.push(("updated_since", state::format_instant(since)));
        }
        let path = def.path.replace("{id}", &id.to_string());
        let extras = Extras::new(&[Extra::ParentId(id)]);
        let first = run.first_url(&path, query);
        let walked = walk::walk(&run.client, &run.links, def, first, |page, _, _| {
            out.records(&page.records, filter, &extras);
            out.flush_page()
        })
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
    out.finish(cursors.completed_child(watermark, slice.as_ref()))
}

/// Says which parents an incremental sync reads, and why.
fn log_plan(
    stream: &str,
    parent: &str,
    plan: &[(i64, Reach)],
    swept: &BTreeSet<i64>,
    touched: &BTreeSet<i64>,
    all: usize,
) {
    let changed = plan.iter().filter(|(_, r)| *r == Reach::Changed).count();
    tracing::info!(
        "stream {stream}: reading the children of {} of {all} {parent}: {changed} changed, {} touched by related changes, {} swept",
        plan.len(),
        touched.len(),
        swept.len()
    );
}
