//! A listing compared whole with the last one, when it completes: the size of its table, the
//! candidates the difference names, and the records it cannot name (more than the table
//! holds), which are counted and said every sync until the stream is refreshed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::Capture;
use crate::iblt::{Key, Table};
use crate::state::Unnamed;

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
pub(super) fn candidates(stream: &str, known: &Table, taken: &Table) -> (Vec<Key>, usize) {
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
