//! Deletion capture for entity list streams: records Harvest no longer serves become
//! tombstones (their key, `_ab_cdc_deleted_at` and the cursor set to when the deletion was
//! seen), which Airbyte destinations delete or mark deleted.
//!
//! Harvest has no deletion feed, so deletions are found by comparing complete listings. The
//! state cannot hold a million ids, so it holds a summary of the last listing's keys that is
//! as large as the differences to find, not as the stream ([`crate::iblt::Table`]): the
//! previous listing's table minus the keys the new listing reads leaves the keys no longer
//! listed. Only records created by the time the previous listing began are taken away, so what the
//! new one adds (records created since) does not crowd the table.
//!
//! When: a stream whose last listing fit in one page is listed whole by every incremental
//! sync, in the one request its read makes anyway; a longer one is listed a slice per sync, so
//! that a listing completes within the sweep interval (`child_sweep_hours`; 0: every sync).
//! Lists Harvest pages by cursor can stop anywhere; numbered pages shift when records are
//! created or deleted, so those go a whole month of their date (`from`/`to`) at a time.
//!
//! Never a false tombstone: a record missing from a listing is only a candidate (a page that
//! shifted, a record whose date moved to a month already read); every candidate is confirmed
//! by its lookup by id answering 404 before its tombstone is written, and one whose lookup
//! fails otherwise waits for the next sync. A listing that did not complete is never compared;
//! listings made with other credentials (which may see fewer records) are never compared.

use std::collections::VecDeque;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use super::error::StreamError;
use super::walk;
use super::Run;
use crate::catalog::Selected;
use crate::config::{Config, Credentials};
use crate::harvest::FetchError;
use crate::iblt::Table;
use crate::page::Record;
use crate::protocol::SyncMode;
use crate::state::{self, Ledger, Listing, Position, Round};
use crate::streams::{Kind, Pages, StreamDef};

/// Cells of a table: 160 decode 100 differences per listing (tested in `iblt`), 3.8 kB each.
const CELLS: usize = 160;

/// Ids of the last pages read, to tell a record read twice in one walk (pages read again after
/// a step back, or shifted by a record created meanwhile) from two records.
const RECENT_PAGES: usize = 4;

/// The column destinations read a deletion from.
pub(super) const DELETED_AT: &str = "_ab_cdc_deleted_at";

/// Deletion capture of one stream's incremental read.
pub(super) struct Capture {
    def: &'static StreamDef,
    by: String,
    start: DateTime<Utc>,
    known: Option<Known>,
    round: Option<Working>,
    pending: Vec<i64>,
    recent: VecDeque<Vec<i64>>,
}

/// The last complete listing.
struct Known {
    at: DateTime<Utc>,
    keys: Table,
    total: u64,
}

/// The listing under way.
struct Working {
    at: DateTime<Utc>,
    last: DateTime<Utc>,
    next: Option<String>,
    seen: Table,
    missing: Option<(Table, DateTime<Utc>)>,
    total: u64,
}

/// A fingerprint of the account and credentials: listings made with another token are not
/// compared (a user with fewer permissions lists fewer records). A hash, never the secret.
fn fingerprint(config: &Config) -> String {
    let identity = match &config.credentials {
        Credentials::PersonalToken { api_token } => format!("pat:{}", api_token.expose()),
        Credentials::OAuth { client_id, .. } => format!("oauth:{client_id}"),
    };
    // FNV-1a, twice over with different offsets: 128 bits that say nothing of the token.
    let fnv = |offset: u64| {
        format!("{}/{identity}", config.account_id)
            .bytes()
            .fold(offset, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
    };
    format!(
        "{:016x}{:016x}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x8422_2325_cbf2_9ce4)
    )
}

impl Capture {
    /// The capture of `sel`'s read from `position`: `None` unless deletions are captured (the
    /// config's switch, an incremental read of an entity list stream).
    pub(super) fn new(config: &Config, sel: &Selected, position: &Position) -> Option<Capture> {
        let capturable = config.capture_deletions
            && sel.mode == SyncMode::Incremental
            && matches!(sel.def.kind, Kind::List { .. })
            && sel.def.cursor_field().is_some();
        if !capturable {
            return None;
        }
        let by = fingerprint(config);
        let mut capture = Capture {
            def: sel.def,
            by,
            start: config.start_date,
            known: None,
            round: None,
            pending: Vec::new(),
            recent: VecDeque::new(),
        };
        match &position.deletions {
            Some(ledger) if ledger.by != capture.by => tracing::info!(
                "stream {}: the credentials changed since the last listing; deletion capture starts again with the next complete listing",
                sel.def.name
            ),
            Some(ledger) => capture.restore(ledger),
            None => {}
        }
        Some(capture)
    }

    fn restore(&mut self, ledger: &Ledger) {
        let table = |text: &str| Table::decode_text(text).ok();
        self.known = ledger.known.as_ref().and_then(|k| {
            Some(Known {
                at: k.at,
                keys: table(&k.keys)?,
                total: k.total,
            })
        });
        self.round = ledger.round.as_ref().and_then(|r| {
            let missing = match (&r.missing, &self.known) {
                (Some(text), Some(known)) => Some((table(text)?, known.at)),
                _ => None,
            };
            Some(Working {
                at: r.at,
                last: r.last,
                next: r.next.clone(),
                seen: table(&r.seen)?,
                missing,
                total: r.total,
            })
        });
        self.pending = ledger.pending.clone();
    }

    /// Whether this sync's read is itself a complete listing: it reads every record anyway
    /// (`reading_everything`: a first sync), or the last listing fit in one page, so that
    /// listing whole costs the same one request; or it resumes such a read at `resumed`.
    pub(super) fn lists_whole(
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

    /// Starts a listing at the server's time `at` that is this sync's read, dropping any
    /// listing under way (its pages would be counted twice).
    pub(super) fn begin_anew(&mut self, at: DateTime<Utc>) {
        self.round = None;
        self.begin(at);
    }

    /// Drops the listing under way unless it goes on at a place `fits` (a page link, or a
    /// window's first day, as the stream's pagination calls for).
    fn keep_round_if(&mut self, fits: impl Fn(&str) -> bool) {
        if self
            .round
            .as_ref()
            .is_some_and(|r| !r.next.as_deref().is_some_and(&fits))
        {
            self.round = None;
        }
    }

    /// Starts a listing at the server's time `at`, unless one is under way.
    pub(super) fn begin(&mut self, at: DateTime<Utc>) {
        if self.round.is_none() {
            self.round = Some(Working {
                at,
                last: at,
                next: None,
                seen: Table::new(CELLS),
                missing: self.known.as_ref().map(|k| (k.keys.clone(), k.at)),
                total: 0,
            });
            self.recent.clear();
        }
    }

    /// Counts a page of the listing under way, read at the server's time `date`.
    pub(super) fn observe(&mut self, records: &[Record<'_>], date: Option<DateTime<Utc>>) {
        let Some(round) = &mut self.round else {
            return;
        };
        if let Some(date) = date {
            round.last = round.last.max(date);
        }
        let mut ids = Vec::with_capacity(records.len());
        for record in records {
            let Ok(keys) = &record.keys else { continue };
            let Ok(id) = keys.id() else { continue };
            // Records updated before the start date were never replicated: not counted, so
            // that their deletion sends nothing.
            let updated = keys.updated_at().ok().and_then(state::parse_instant);
            if updated.is_some_and(|u| u < self.start)
                || self.recent.iter().any(|page| page.contains(&id))
                || ids.contains(&id)
            {
                continue;
            }
            ids.push(id);
            let created = keys.created_at();
            if created.is_none_or(|c| c <= round.at) {
                round.seen.insert((id, 0));
            }
            if let Some((missing, known_at)) = &mut round.missing {
                if created.is_none_or(|c| c <= *known_at) {
                    missing.remove((id, 0));
                }
            }
            round.total += 1;
        }
        if self.recent.len() == RECENT_PAGES {
            self.recent.pop_front();
        }
        self.recent.push_back(ids);
    }

    /// Where the listing under way goes on (a page link or the first day of a window).
    fn paused_at(&mut self, next: Option<String>) {
        if let Some(round) = &mut self.round {
            round.next = next;
        }
    }

    /// The state to write at a checkpoint of a read that is itself the listing, paused before
    /// `next`.
    pub(super) fn ledger_at(&mut self, next: Option<&str>) -> Ledger {
        self.paused_at(next.map(str::to_string));
        self.ledger()
    }

    /// What the state keeps.
    pub(super) fn ledger(&self) -> Ledger {
        Ledger {
            by: self.by.clone(),
            known: self.known.as_ref().map(|k| Listing {
                at: k.at,
                keys: k.keys.encode(),
                total: k.total,
            }),
            round: self.round.as_ref().map(|r| Round {
                at: r.at,
                last: r.last,
                next: r.next.clone(),
                seen: r.seen.encode(),
                missing: r.missing.as_ref().map(|(m, _)| m.encode()),
                total: r.total,
            }),
            pending: self.pending.clone(),
        }
    }

    /// Ends the listing under way: it becomes the known one, and the records the previous one
    /// listed and this one did not become candidates. Returns when the last page was read.
    pub(super) fn complete(&mut self) -> Option<DateTime<Utc>> {
        let round = self.round.take()?;
        if let Some((missing, _)) = round.missing {
            let found = match missing.decode() {
                Ok(found) => found,
                Err(partial) => {
                    tracing::warn!(
                        "stream {}: more records disappeared since the previous listing than its summary can name; {} of them are checked now, and records deleted before this listing that are not among them stay in the destination until a full refresh of the stream",
                        self.def.name,
                        partial.only_first.len()
                    );
                    partial
                }
            };
            for (id, _) in found.only_first {
                if !self.pending.contains(&id) {
                    self.pending.push(id);
                }
            }
        }
        self.known = Some(Known {
            at: round.at,
            keys: round.seen,
            total: round.total,
        });
        Some(round.last)
    }

    /// How many records the listing under way may read in this sync at the server's time
    /// `now`: the share of the stream the time since its last page is due, so that a listing
    /// completes within `interval` (all of it when there is no interval or no listing yet).
    fn records_due(&self, interval: Option<Duration>, now: DateTime<Utc>) -> u64 {
        let Some(interval) = interval.filter(|i| *i > Duration::zero()) else {
            return u64::MAX;
        };
        let (since, total) = match (&self.round, &self.known) {
            (Some(r), Some(k)) => (r.last, k.total.max(r.total)),
            (Some(r), None) => (r.last, r.total),
            (None, Some(k)) => (k.at, k.total),
            (None, None) => return u64::MAX,
        };
        let elapsed = (now - since).max(Duration::zero());
        let share = elapsed.num_milliseconds() as f64 / interval.num_milliseconds() as f64;
        (total.max(1) as f64 * share).ceil() as u64
    }
}

/// Goes on with the stream's listing by the pages this sync is due (see [`Capture`]), after
/// its incremental read; `now` is the server's time of that read.
pub(super) async fn advance(
    run: &Run,
    capture: &mut Capture,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StreamError> {
    let def = capture.def;
    let due = capture.records_due(run.config.child_sweep, now);
    if due == 0 {
        return Ok(None);
    }
    let since = vec![("updated_since", state::format_instant(capture.start))];
    let query = if def.server_filters() {
        since
    } else {
        Vec::new()
    };
    match def.kind {
        Kind::List {
            pages: Pages::Numbered { date },
            ..
        } => advance_by_month(run, capture, now, due, date, query).await,
        _ => {
            capture.keep_round_if(|next| next.starts_with('/'));
            let first = match capture.round.as_ref().and_then(|r| r.next.clone()) {
                Some(link) => run.links.resume(&link)?,
                None => run.first_url(def.path, query),
            };
            let pages = due.div_ceil(u64::from(run.config.page_size.max(1)));
            let pages = usize::try_from(pages).unwrap_or(usize::MAX);
            let stopped = walk::walk_pages(
                &run.client,
                &run.links,
                def,
                first,
                pages,
                |page, date, _| {
                    capture.begin(date.unwrap_or(now));
                    capture.observe(&page.records, date);
                    Ok(())
                },
            )
            .await?;
            match stopped {
                Some(link) => {
                    capture.paused_at(Some(link));
                    Ok(None)
                }
                None => Ok(capture.complete()),
            }
        }
    }
}

/// The listing of a stream paged by numbers: whole months of `date`, oldest first (everything
/// before the start date's month in one window, the current month open-ended), until the
/// records due are read.
async fn advance_by_month(
    run: &Run,
    capture: &mut Capture,
    now: DateTime<Utc>,
    due: u64,
    date: &str,
    query: Vec<(&str, String)>,
) -> Result<Option<DateTime<Utc>>, StreamError> {
    let def = capture.def;
    let first_month = month_of(capture.start.date_naive());
    let this_month = month_of(now.date_naive());
    capture.keep_round_if(|next| state::parse_date(next).is_some());
    let mut window: Option<NaiveDate> = capture
        .round
        .as_ref()
        .and_then(|r| r.next.as_deref())
        .and_then(state::parse_date);
    let mut read = 0u64;
    capture.begin(now);
    loop {
        let (from, to) = match window {
            None => (None, Some(first_month - Duration::days(1))),
            Some(m) if m >= this_month => (Some(m), None),
            Some(m) => (Some(m), Some(next_month(m) - Duration::days(1))),
        };
        let mut q = query.clone();
        q.extend(from.map(|d| ("from", d.format("%Y-%m-%d").to_string())));
        q.extend(to.map(|d| ("to", d.format("%Y-%m-%d").to_string())));
        tracing::debug!(
            "stream {}: listing {date} window {from:?}..{to:?}",
            def.name
        );
        walk::walk(
            &run.client,
            &run.links,
            def,
            run.first_url(def.path, q),
            |page, when, _| {
                read += page.records.len() as u64;
                capture.observe(&page.records, when);
                Ok(())
            },
        )
        .await?;
        let Some(to) = to else {
            return Ok(capture.complete());
        };
        let next = to + Duration::days(1);
        window = Some(next);
        capture.paused_at(Some(state::format_date(next)));
        if read >= due {
            return Ok(None);
        }
    }
}

fn month_of(day: NaiveDate) -> NaiveDate {
    day.with_day(1).expect("every month has a first day")
}

fn next_month(month: NaiveDate) -> NaiveDate {
    month_of(month + Duration::days(32))
}

/// Confirms the candidates by their lookup by id: those Harvest answers 404 for are returned
/// (deleted), those it serves are dropped, and on any other answer the rest wait for the next
/// sync.
pub(super) async fn confirm(run: &Run, capture: &mut Capture) -> Vec<i64> {
    let def = capture.def;
    let mut deleted = Vec::new();
    let mut waiting = Vec::new();
    let candidates = std::mem::take(&mut capture.pending);
    if !candidates.is_empty() {
        tracing::info!(
            "stream {}: {} records are missing from its listing; looking each up",
            def.name,
            candidates.len()
        );
    }
    let mut stopped = false;
    for id in candidates {
        if stopped {
            waiting.push(id);
            continue;
        }
        let url = run.client.url(&format!("{}/{id}", def.path), &[]);
        match run.client.get(&url, def.bucket()).await {
            Ok(_) => {}
            Err(FetchError::NotFound { .. }) => deleted.push(id),
            Err(e) => {
                tracing::warn!(
                    "stream {}: could not confirm that record {id} was deleted ({e}); it is checked again next sync",
                    def.name
                );
                waiting.push(id);
                stopped = true;
            }
        }
    }
    capture.pending = waiting;
    deleted
}

/// The record a tombstone is: the key, the cursor and `_ab_cdc_deleted_at`, set to `at`.
pub(super) fn tombstone(def: &StreamDef, id: i64, at: DateTime<Utc>) -> String {
    let at = state::format_instant(at);
    let cursor = def.cursor_field().unwrap_or("updated_at");
    format!(r#"{{"id":{id},"{cursor}":"{at}","{DELETED_AT}":"{at}"}}"#)
}
