//! A listing compared whole with the last one, when it completes ([`Capture::complete`]): the
//! size of its table, the candidates the difference names, and the records it cannot name
//! (more than the table holds), which are counted and said every sync until the stream is
//! refreshed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::listing::Known;
use super::parts::{self, WorkingParts};
use super::{add_pending, Capture};
use crate::iblt::{Key, Table};
use crate::state::Unnamed;
use crate::streams::Kind;

/// Cells of a table: 160 decode 80 differences per listing in every one of the trials in
/// `iblt`'s tests (about 100 in most); 3.8 kB each, 5 kB as the state's text.
pub(super) const CELLS: usize = 160;

/// Cells of the largest table of an entity stream's listing: 640 decode 300 differences in
/// every one of the trials in `iblt`'s tests; 15 kB each, 20 kB as the state's text at most.
const MAX_CELLS: usize = 640;

/// Cells of the table of a listing of `records`: enough to name about one record in sixteen
/// (a project deleted takes its share of time entries with it), from [`CELLS`] doubling up to
/// [`MAX_CELLS`]. Each size divides the next, so tables of listings of other sizes compare
/// folded ([`Table::fold`]).
pub(super) fn cells_for(records: u64) -> usize {
    let mut cells = CELLS;
    while cells < MAX_CELLS && (cells as u64) * 8 < records {
        cells *= 2;
    }
    cells
}

/// The keys of the listing `known` that the listing `taken` from no longer holds, and how many
/// more it no longer holds that the tables cannot name.
fn candidates(stream: &str, known: &Table, taken: &Table) -> (Vec<Key>, usize) {
    // Tables of different sizes compare at the smaller one; tables that do not fold (a state
    // of another version) cannot be compared, and nothing is found.
    let cells = known.cells().min(taken.cells());
    let folded = known.fold(cells).zip(taken.fold(cells));
    let Some(difference) = folded.and_then(|(k, t)| k.minus(&t)).map(Table::decode) else {
        tracing::info!("stream {stream}: its last listing was summarised otherwise; deletion capture starts again with this one");
        return (Vec::new(), 0);
    };
    let found = difference.unwrap_or_else(|partial| {
        tracing::warn!(
            "stream {stream}: about {} records disappeared since the previous listing, more than its summary can name (about {}); {} of them are checked now, and the others stay in the destination until the stream is refreshed (every sync says so until then)",
            partial.only_first.len() + partial.unnamed,
            cells / 2,
            partial.only_first.len()
        );
        partial
    });
    (found.only_first, found.unnamed)
}

impl Capture {
    /// Ends the listing under way: it becomes the known one, and the records the previous one
    /// listed and this one did not become candidates; the upcoming listing, if one began, is
    /// now the one under way. Returns when the last page was read.
    pub(in crate::read) fn complete(&mut self) -> Option<DateTime<Utc>> {
        self.compare_parts_before(i64::MAX);
        if matches!(self.def.kind, Kind::List { .. }) {
            self.mark_complete();
        }
        self.named_by_parts.clear();
        self.named_by_whole.clear();
        let mut round = self.round.take()?;
        self.ahead.ended(round.at);
        let comparable = std::mem::replace(&mut self.comparable, true);
        // Harvest did not say who the token acts as (an error after the retries): this listing
        // cannot be compared, and replacing the last one with it would lose the deletions
        // between them. The last one stays, to be compared with the next listing.
        if std::mem::take(&mut self.user_unknown) {
            self.upcoming = None;
            return Some(round.last);
        }
        let previous = self.known.take();
        // A derived stream some sync of this listing did not read, or that no page of it was
        // read with, has no whole table of this listing.
        let mut uncounted = std::mem::take(&mut round.uncounted);
        if let Some(known) = &previous {
            let none = known
                .derived
                .keys()
                .filter(|s| !round.derived.contains_key(*s));
            uncounted.extend(none.copied().collect::<Vec<_>>());
        }
        let compared = previous
            .as_ref()
            .filter(|k| comparable && Some(k.at) == round.against);
        if let Some(known) = compared {
            let name = self.def.name;
            let (gone, unnamed) = candidates(name, &known.keys, &round.taken);
            self.named_by_whole.extend(gone.iter().copied());
            add_pending(&mut self.pending, gone);
            let mut unnamed = vec![(name, unnamed)];
            let compared = (round.derived.iter()).filter(|(stream, _)| {
                !uncounted.contains(*stream) && self.derived.iter().any(|d| d.name == **stream)
            });
            for (stream, (_, taken)) in compared {
                if let Some(keys) = known.derived.get(stream) {
                    let (gone, left) = candidates(stream, keys, taken);
                    tracing::debug!(
                        "stream {stream}: {} rows named by the whole comparison: {gone:?}",
                        gone.len()
                    );
                    add_pending(self.pending_derived.entry(stream).or_default(), gone);
                    unnamed.push((*stream, left));
                }
            }
            for (stream, records) in unnamed {
                tracing::debug!(
                    "stream {stream}: the listing begun at {} compared whole with the one begun at {}: {records} records gone unnamed",
                    crate::time::format_instant(round.at),
                    crate::time::format_instant(known.at),
                );
                self.count_unnamed(stream, records, known.at);
            }
            if !uncounted.is_empty() {
                tracing::debug!(
                    "stream {name}: derived streams not compared with its listing: {uncounted:?}"
                );
            }
        } else if let Some(known) = &previous {
            // Replaced without a comparison: what its parts found gone is never named.
            for (stream, records) in &round.overflowed {
                self.count_unnamed(stream, *records as usize, known.at);
            }
        }
        let mut derived: BTreeMap<&'static str, Table> = std::mem::take(&mut round.derived)
            .into_iter()
            .filter(|(name, _)| !uncounted.contains(name))
            .map(|(name, (seen, _))| (name, seen))
            .collect();
        // Such a stream keeps the table of the last listing that counted it whole: its rows
        // deleted since are found against that one.
        for stream in &uncounted {
            if let Some(table) = previous.as_ref().and_then(|k| k.derived.get(stream)) {
                derived.insert(stream, table.clone());
            }
        }
        let parts = std::mem::replace(&mut round.parts, WorkingParts::new(Vec::new(), None));
        let next_bounds = parts.sample.bounds();
        let known_tables = |split: parts::Split| split.tables.into_iter().map(Some).collect();
        let parts = (!parts.bounds.is_empty()).then(|| parts::KnownParts {
            derived: parts
                .derived
                .into_iter()
                .filter(|(name, _)| !uncounted.contains(name))
                .map(|(name, split)| (name, known_tables(split)))
                .collect(),
            tables: known_tables(parts.own),
            bounds: parts.bounds,
            lasts: parts.lasts,
        });
        self.known = Some(Known {
            at: round.at,
            last: round.last,
            keys: round.seen,
            total: round.total,
            derived,
            parts,
            next_bounds,
            marks: round.marks,
        });
        self.round = self.upcoming.take();
        Some(round.last)
    }

    /// Says which records gone from Harvest are still in the destination: every sync, until
    /// a refresh of the stream clears them with its state (a derived stream's rows are counted
    /// in its source's). Those of parts of the last listing too changed to name alone are said
    /// from the sync that compared them: the listing under way may still name them.
    pub(super) fn warn_unnamed(&self) {
        for (stream, u) in self.said_unnamed() {
            let refresh = if stream == self.def.name {
                format!("refresh stream {stream}")
            } else {
                format!("refresh streams {stream} and {}", self.def.name)
            };
            let later = match u.in_parts {
                0 => String::new(),
                n => format!(
                    " ({n} of them may still be named when the listing under way completes)"
                ),
            };
            tracing::warn!(
                "stream {stream}: about {} records deleted in Harvest since {} could not be named by deletion capture and are still in the destination{later}; {refresh} to remove them",
                u.records,
                crate::time::format_instant(u.since),
            );
        }
    }

    /// The records gone unnamed, by stream, with those the listing under way's parts found.
    pub(super) fn said_unnamed(&self) -> BTreeMap<&'static str, Said> {
        let mut said: BTreeMap<&'static str, Said> = (self.unnamed.iter())
            .map(|(stream, u)| {
                let said = Said {
                    records: u.records,
                    since: u.since,
                    in_parts: 0,
                };
                (*stream, said)
            })
            .collect();
        // Parts are compared against the last listing: their records went after it began.
        if let Some((round, since)) = (self.round.as_ref()).and_then(|r| Some((r, r.against?))) {
            for (stream, records) in &round.overflowed {
                let s = said.entry(stream).or_insert(Said {
                    records: 0,
                    since,
                    in_parts: 0,
                });
                s.records += records;
                s.in_parts += records;
                s.since = s.since.min(since);
            }
        }
        // A part whose gone records as many moved in (a date changed) estimates none.
        said.retain(|_, s| s.records > 0);
        said
    }

    /// Counts `records` of `stream` gone since `since` that a comparison could not name.
    pub(super) fn count_unnamed(
        &mut self,
        stream: &'static str,
        records: usize,
        since: DateTime<Utc>,
    ) {
        if records == 0 {
            return;
        }
        let u = self
            .unnamed
            .entry(stream)
            .or_insert(Unnamed { records: 0, since });
        u.records += records as u64;
        u.since = u.since.min(since);
    }
}

/// Records of one stream said gone unnamed.
pub(super) struct Said {
    pub(super) records: u64,
    pub(super) since: DateTime<Utc>,
    /// Of those, the ones parts of the listing under way's comparison found.
    pub(super) in_parts: u64,
}
