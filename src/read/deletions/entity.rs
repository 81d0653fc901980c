//! Deletion capture of an entity list stream: its listing is its pages, read whole by every
//! incremental sync when the last listing fit in one page (the one request its read makes
//! anyway), else a slice per sync after its incremental read, so that a listing completes
//! within the sweep interval (`child_sweep_hours`; 0: every sync) and keeps pace with the last
//! one ([`super::pace`]). Lists Harvest pages by
//! cursor can stop anywhere; numbered pages shift when records are created or deleted, so
//! those go a whole window of their date (`from`/`to`) at a time. A candidate is confirmed by
//! its lookup by id answering 404.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use super::listing::Working;
use super::{Capture, Counted};
use crate::harvest::FetchError;
use crate::iblt::Key;
use crate::read::error::StreamError;
use crate::read::walk;
use crate::read::Run;
use crate::streams::{Kind, Pages};

impl Capture {
    /// Whether this sync's read is itself a complete listing: it reads every record anyway
    /// (`reading_everything`: a first sync), or the last listing fit in one page, so that
    /// listing whole costs the same one request; or it resumes such a read at `resumed`.
    pub(in crate::read) fn lists_whole(
        &self,
        reading_everything: bool,
        page_size: u32,
        resumed: Option<&str>,
    ) -> bool {
        match resumed {
            Some(link) => self
                .round
                .as_ref()
                .is_some_and(|r| r.next.as_deref() == Some(link)),
            None => {
                reading_everything
                    || self
                        .known
                        .as_ref()
                        .is_some_and(|k| k.total <= page_size as u64)
            }
        }
    }

    /// Drops the listing under way unless it goes on at a place `fits` (a page link, or a
    /// window's first day, as the stream's pagination calls for), or has not read a page of
    /// its own yet (begun by an incremental pass).
    pub(super) fn keep_round_if(&mut self, fits: impl Fn(&str) -> bool) {
        let unfit = |r: &Working| match r.next.as_deref() {
            Some(next) => !fits(next),
            None => r.read > 0 || !r.marks.is_empty(),
        };
        if self.round.as_ref().is_some_and(unfit) {
            self.round = None;
        }
    }
}

/// Goes on with the stream's listing by the pages this sync is due (see [`Capture`]), after
/// its incremental read; `now` is the server's time of that read.
pub(in crate::read) async fn advance(
    run: &Run,
    capture: &mut Capture,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StreamError> {
    let def = capture.def;
    let interval = run.config.child_sweep;
    let due = capture.records_due(interval, now);
    if due == 0 && !capture.behind(interval, now) {
        return Ok(None);
    }
    let since = vec![("updated_since", crate::time::format_instant(capture.start))];
    let query = if def.server_filters() {
        since
    } else {
        Vec::new()
    };
    match def.kind {
        Kind::List {
            pages: Pages::Numbered { date },
            ..
        } => advance_by_window(run, capture, now, due, date, query).await,
        _ => {
            capture.keep_round_if(|next| next.starts_with('/'));
            let mut next = match capture.round.as_ref().and_then(|r| r.next.clone()) {
                Some(link) => run.links.resume(&link)?,
                None => run.first_url(def.path, query),
            };
            let page_size = u64::from(run.config.page_size.max(1));
            let mut pages = usize::try_from(due.div_ceil(page_size).max(1)).unwrap_or(usize::MAX);
            // The pages due, then one at a time while behind the last listing: at most as many
            // more as that one had, whatever the links say.
            let mut catch_up = capture
                .known
                .as_ref()
                .map_or(0, |k| k.total.div_ceil(page_size) + 2);
            loop {
                let stopped = walk::walk_pages(
                    &run.client,
                    &run.links,
                    def,
                    next,
                    pages,
                    |page, date, _| {
                        capture.begin(date.unwrap_or(now));
                        capture.observe(&page.records, date, Counted::CreatedByStart);
                        Ok(())
                    },
                )
                .await?;
                let Some(link) = stopped else {
                    return Ok(capture.complete());
                };
                // The link as the page gave it: a resume link would step back a page.
                next = run.links.next(&link)?.1;
                capture.paused_at(Some(link));
                if catch_up == 0 || !capture.behind(interval, now) {
                    capture.mark_progress();
                    capture.compare_parts();
                    return Ok(None);
                }
                catch_up -= 1;
                pages = 1;
            }
        }
    }
}

/// The listing of a stream paged by numbers, a window of `date` at a time, oldest first
/// (everything before the start date's month, then windows of a month, wider where dates are
/// sparse, the one reaching today open-ended), until the records due are read. A window is read whole in one sync, so that no record shifts
/// between its pages from one sync to the next; one that holds far more than the sync is due is
/// halved (down to a day), which costs the one request that told.
async fn advance_by_window(
    run: &Run,
    capture: &mut Capture,
    now: DateTime<Utc>,
    due: u64,
    date: &str,
    query: Vec<(&str, String)>,
) -> Result<Option<DateTime<Utc>>, StreamError> {
    let def = capture.def;
    let first_month = month_of(capture.start.date_naive());
    let today = now.date_naive();
    capture.keep_round_if(|next| crate::time::parse_date(next).is_some());
    let mut from: Option<NaiveDate> = capture
        .round
        .as_ref()
        .and_then(|r| r.next.as_deref())
        .and_then(crate::time::parse_date);
    let page_size = u64::from(run.config.page_size.max(1));
    let mut read = 0u64;
    capture.begin(now);
    let mut span = capture.round.as_ref().map_or(MONTH, |r| r.span).max(1);
    loop {
        let mut to = match from {
            None => Some(first_month - Duration::days(1)),
            Some(day) => Some(day + Duration::days(span - 1)).filter(|to| *to < today),
        };
        let before = read;
        loop {
            let mut q = query.clone();
            q.extend(from.map(|d| ("from", d.format("%Y-%m-%d").to_string())));
            q.extend(to.map(|d| ("to", d.format("%Y-%m-%d").to_string())));
            tracing::debug!("stream {}: listing {date} {from:?}..{to:?}", def.name);
            let room = due.saturating_sub(read).max(page_size);
            let halves = from
                .map(|f| (f, to.unwrap_or(today)))
                .filter(|(f, t)| t > f);
            let mut too_big = false;
            let first = run.first_url(def.path, q);
            let rest = walk::walk_pages(&run.client, &run.links, def, first, 1, |page, when, _| {
                too_big = halves.is_some()
                    && page
                        .total_entries
                        .is_some_and(|t| t > room.saturating_mul(2));
                if !too_big {
                    read += page.records.len() as u64;
                    capture.observe(&page.records, when, Counted::CreatedByStart);
                }
                Ok(())
            })
            .await?;
            if let (true, Some((f, t))) = (too_big, halves) {
                let half = (t - f).num_days() / 2;
                to = Some(f + Duration::days(half));
                span = half + 1;
                continue;
            }
            if let Some(link) = rest {
                // The link as the page gave it: a resume link would step back a page.
                let (_, next) = run.links.next(&link)?;
                walk::walk(&run.client, &run.links, def, next, |page, when, _| {
                    read += page.records.len() as u64;
                    capture.observe(&page.records, when, Counted::CreatedByStart);
                    Ok(())
                })
                .await?;
            }
            break;
        }
        let Some(to) = to else {
            return Ok(capture.complete());
        };
        // Sparse dates (years with few records) take wider windows: fewer requests.
        let room = due.saturating_sub(before).max(page_size);
        if from.is_some() && (read - before).saturating_mul(4) < room {
            span = (span * 2).min(MAX_SPAN);
        }
        from = Some(to + Duration::days(1));
        capture.paused_at(from.map(crate::time::format_date));
        if let Some(round) = &mut capture.round {
            round.span = span;
        }
        if read >= due && !capture.behind(run.config.child_sweep, now) {
            capture.mark_progress();
            capture.compare_parts();
            return Ok(None);
        }
    }
}

/// The days of a window at first: a month.
const MONTH: i64 = 31;

/// The widest window, in days: ten years.
const MAX_SPAN: i64 = 3650;

fn month_of(day: NaiveDate) -> NaiveDate {
    day.with_day(1).expect("every month has a first day")
}

/// Confirms the candidates: those Harvest no longer serves are returned (deleted), the others
/// dropped; when Harvest cannot say, they wait for the next sync, the one it failed on last.
///
/// A list Harvest pages by cursor is listed again whole (no `updated_since`, so that a record
/// the listing left out for its dates is found): keyset pages skip no record, and not every such
/// stream has a lookup by id (assignments are looked up under their project). A list paged by
/// numbers is confirmed record by record: its lookup by id answers 404.
pub(in crate::read) async fn confirm(run: &Run, capture: &mut Capture) -> Vec<Key> {
    let def = capture.def;
    let candidates = std::mem::take(&mut capture.pending);
    if candidates.is_empty() {
        return Vec::new();
    }
    tracing::info!(
        "stream {}: {} records are missing from its listing; asking Harvest whether each is gone",
        def.name,
        candidates.len()
    );
    let (deleted, waiting) = match def.kind {
        Kind::List {
            pages: Pages::Cursor,
            ..
        } => by_listing(run, capture, candidates.clone()).await,
        _ => by_lookup(run, capture, candidates.clone()).await,
    };
    let alive = (candidates.into_iter()).filter(|k| !deleted.contains(k) && !waiting.contains(k));
    capture.alive(alive.collect::<Vec<_>>());
    capture.pending = waiting;
    deleted
}

/// The candidates the stream, listed again whole, no longer holds; all wait if it cannot be.
async fn by_listing(run: &Run, capture: &Capture, candidates: Vec<Key>) -> (Vec<Key>, Vec<Key>) {
    let def = capture.def;
    match super::listed_ids(run, def, run.first_url(def.path, Vec::new())).await {
        Ok(listed) => (
            candidates
                .into_iter()
                .filter(|(id, _)| !listed.contains(id))
                .collect(),
            Vec::new(),
        ),
        Err(e) => {
            tracing::warn!(
                "stream {}: could not list it again to confirm {} deletions ({}); they are checked next sync",
                def.name,
                candidates.len(),
                e
            );
            (Vec::new(), candidates)
        }
    }
}

/// The candidates whose lookup by id answers 404. After another failure the rest wait, the
/// failed one last, so that one record Harvest keeps failing on does not hold the others back.
async fn by_lookup(run: &Run, capture: &Capture, candidates: Vec<Key>) -> (Vec<Key>, Vec<Key>) {
    let def = capture.def;
    let mut deleted = Vec::new();
    let mut waiting = Vec::new();
    let mut failed = None;
    for key in candidates {
        if failed.is_some() {
            waiting.push(key);
            continue;
        }
        let id = key.0;
        let url = run.client.url(&format!("{}/{id}", def.path), &[]);
        match run.client.get(&url, crate::read::walk::bucket(def)).await {
            Ok(_) => {}
            Err(FetchError::NotFound { .. }) => deleted.push(key),
            Err(e) => {
                tracing::warn!(
                    "stream {}: could not confirm that record {id} was deleted ({e}); it is checked again next sync",
                    def.name
                );
                failed = Some(key);
            }
        }
    }
    waiting.extend(failed);
    (deleted, waiting)
}
