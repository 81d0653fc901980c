//! A listing of deletion capture as it is read: its tables, what it counts, and the records it
//! has just read (to count each once).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, Utc};

use super::pace::{self, Marks};
use super::parts::{
    decode_part, encode_part, part_of, KnownParts, Sample, Split, WorkingParts, DERIVED_PART_CELLS,
    PART_CELLS,
};
use super::{CELLS, RECENT_PAGES};
use crate::iblt::{Key, Table};
use crate::read::cursor::OVERLAP;
use crate::read_times;
use crate::state::{DerivedParts, DerivedRound, Listing, ListingParts, Round, RoundParts};
use crate::streams;

/// The keys of the last [`RECENT_PAGES`] pages of a walk, to tell a record read twice from
/// two records: a set for the look-up (every record of a listing asks), the pages to forget
/// the oldest.
#[derive(Default)]
pub(super) struct Recent {
    pages: VecDeque<Vec<Key>>,
    keys: std::collections::HashMap<Key, u32>,
}

impl Recent {
    pub(super) fn contains(&self, key: &Key) -> bool {
        self.keys.contains_key(key)
    }

    pub(super) fn clear(&mut self) {
        self.pages.clear();
        self.keys.clear();
    }

    /// Remembers a page's keys, forgetting the oldest page's beyond [`RECENT_PAGES`].
    pub(super) fn push(&mut self, page: Vec<Key>) {
        if self.pages.len() == RECENT_PAGES {
            for key in self.pages.pop_front().into_iter().flatten() {
                if let std::collections::hash_map::Entry::Occupied(mut seen) = self.keys.entry(key)
                {
                    *seen.get_mut() -= 1;
                    if *seen.get() == 0 {
                        seen.remove();
                    }
                }
            }
        }
        for key in &page {
            *self.keys.entry(*key).or_default() += 1;
        }
        self.pages.push_back(page);
    }
}

/// The last complete listing.
pub(super) struct Known {
    pub(super) at: DateTime<Utc>,
    pub(super) last: DateTime<Utc>,
    pub(super) keys: Table,
    pub(super) total: u64,
    pub(super) derived: BTreeMap<&'static str, Table>,
    /// Its parts, when it has more than one.
    pub(super) parts: Option<KnownParts>,
    /// Where the parts of the next listing begin.
    pub(super) next_bounds: Vec<i64>,
    /// Where it stood after each sync (see [`super::pace`]).
    pub(super) marks: Marks,
}

impl Known {
    pub(super) fn restore(listing: &Listing) -> Option<Known> {
        let mut derived = BTreeMap::new();
        for (name, keys) in &listing.derived {
            derived.insert(stream_name(name)?, Table::decode_text(keys).ok()?);
        }
        let parts = match &listing.parts {
            None => None,
            Some(p) => {
                let mut derived = BTreeMap::new();
                for (name, tables) in &p.derived {
                    derived.insert(
                        stream_name(name)?,
                        known_tables(tables, DERIVED_PART_CELLS)?,
                    );
                }
                let tables = known_tables(&p.tables, PART_CELLS)?;
                // Without a furthest position per part (a state written before them), parts
                // end at their bounds.
                let lasts = if p.lasts.len() == tables.len() {
                    p.lasts.clone()
                } else {
                    Vec::new()
                };
                Some(KnownParts {
                    bounds: p.bounds.clone(),
                    tables,
                    derived,
                    lasts,
                })
            }
        };
        Some(Known {
            at: listing.at,
            last: listing.last,
            keys: Table::decode_text(&listing.keys).ok()?,
            total: listing.total,
            derived,
            parts,
            next_bounds: listing.next_bounds.clone(),
            marks: pace::restored(&listing.marks),
        })
    }

    /// Takes `key`, at `position`, out of the listing and the part holding it, if not
    /// compared yet: a record found deleted otherwise, which the next listing's comparison
    /// with this one must not name again.
    pub(super) fn take_out(&mut self, key: Key, position: i64) {
        self.keys.remove(key);
        if let Some(parts) = &mut self.parts {
            let part = part_of(&parts.bounds, position);
            if let Some(Some(table)) = parts.tables.get_mut(part) {
                table.remove(key);
            }
        }
    }

    pub(super) fn stored(&self) -> Listing {
        Listing {
            at: self.at,
            last: self.last,
            keys: self.keys.encode(),
            total: self.total,
            derived: self
                .derived
                .iter()
                .map(|(name, keys)| (name.to_string(), keys.encode()))
                .collect(),
            parts: self.parts.as_ref().map(|p| ListingParts {
                bounds: p.bounds.clone(),
                lasts: p.lasts.clone(),
                tables: stored_known_tables(&p.tables),
                derived: p
                    .derived
                    .iter()
                    .map(|(name, tables)| (name.to_string(), stored_known_tables(tables)))
                    .collect(),
            }),
            next_bounds: self.next_bounds.clone(),
            marks: self.marks.clone(),
        }
    }
}

/// A known listing's part tables of `cells` cells from the state's text (`null`: compared).
fn known_tables(texts: &[Option<String>], cells: usize) -> Option<Vec<Option<Table>>> {
    texts
        .iter()
        .map(|t| match t {
            Some(text) => decode_part(text, cells).ok().map(Some),
            None => Some(None),
        })
        .collect()
}

fn stored_known_tables(tables: &[Option<Table>]) -> Vec<Option<String>> {
    tables.iter().map(|t| t.as_ref().map(encode_part)).collect()
}

/// One stream's part tables of `cells` cells from the state's text.
fn split(tables: &[String], taken: &BTreeMap<usize, String>, cells: usize) -> Option<Split> {
    let mut parts = Split {
        cells,
        tables: tables
            .iter()
            .map(|t| decode_part(t, cells))
            .collect::<Result<_, _>>()
            .ok()?,
        taken: BTreeMap::new(),
    };
    for (part, text) in taken {
        parts.taken.insert(*part, decode_part(text, cells).ok()?);
    }
    Some(parts)
}

fn stored_split(split: &Split) -> (Vec<String>, BTreeMap<usize, String>) {
    (
        split.tables.iter().map(encode_part).collect(),
        split
            .taken
            .iter()
            .map(|(part, t)| (*part, encode_part(t)))
            .collect(),
    )
}

/// The text of a listing's `seen` keys for the state: less those `taken` too, since most are
/// (see `Round::fresh`).
fn fresh(seen: &Table, taken: &Table) -> String {
    seen.minus(taken)
        .expect("a listing's tables have one size")
        .encode()
}

/// A listing's `seen` keys from the state: `fresh` plus `taken`, or `seen` as states written
/// before `fresh` hold it; `None` when the text is no table of `taken`'s size.
fn seen_from(seen: &str, fresh: &str, taken: &Table) -> Option<Table> {
    if fresh.is_empty() {
        Table::decode_text(seen)
            .ok()
            .filter(|s| s.cells() == taken.cells())
    } else {
        taken.plus(&Table::decode_text(fresh).ok()?)
    }
}

/// A listing under way.
pub(super) struct Working {
    pub(super) at: DateTime<Utc>,
    pub(super) last: DateTime<Utc>,
    pub(super) next: Option<String>,
    pub(super) seen: Table,
    /// The keys read of records created by `created_by`, when the listing this one is
    /// compared with (the one that began at `against`) had ended: that listing's table minus
    /// these is what it no longer lists.
    pub(super) taken: Table,
    pub(super) against: Option<DateTime<Utc>>,
    pub(super) created_by: Option<DateTime<Utc>>,
    pub(super) total: u64,
    /// Records its own pages read (what paces it; [`Counted::CreatedIn`] ones are not).
    pub(super) read: u64,
    /// The last parent whose children it counted (a child stream's round).
    pub(super) through: Option<i64>,
    /// Whether it is one read of everything, begun and ended in one sync.
    pub(super) whole: bool,
    /// A list paged by numbers: the days of its next window.
    pub(super) span: i64,
    /// `seen` and `taken` of each derived stream's rows.
    pub(super) derived: BTreeMap<&'static str, (Table, Table)>,
    /// Its parts, and what it took from those of the listing it is compared with.
    pub(super) parts: WorkingParts,
    /// The derived streams some sync of it did not read: their tables are not whole.
    pub(super) uncounted: BTreeSet<&'static str>,
    /// Where it stood after each sync so far (see [`super::pace`]).
    pub(super) marks: Marks,
    /// A child stream's round: the parents it read other than by its sweep, with the time of
    /// the last such read (`None`: a state written before it kept the time); those its sweep
    /// has not read yet are its early ones (see [`super::child`]).
    pub(super) reads: BTreeMap<i64, Option<DateTime<Utc>>>,
    /// A child stream's round: whether `reads` holds every read since it began other than its
    /// sweep's.
    pub(super) reads_complete: bool,
    /// A child stream's round: the parents read before its sweep got there whose first read
    /// counted only the children the last round's read of them had not listed, with the time
    /// of that read: their sweep counts those created before it.
    pub(super) early_since: BTreeMap<i64, DateTime<Utc>>,
    /// A child stream's round: after each sync of its sweep, the last parent read and when.
    pub(super) swept_by: Vec<(i64, DateTime<Utc>)>,
    /// Whether the last of `swept_by` is this run's (a run begins its own).
    pub(super) swept_in_run: bool,
    /// The records gone from parts of the last listing too changed to name alone, by stream:
    /// said with the records gone unnamed at once, not up to an interval later when the whole
    /// comparison names or counts them; dropped with the listing if that is never made.
    pub(super) overflowed: BTreeMap<&'static str, u64>,
}

/// The name of a stream of the table, as `&'static str`, from a state's text.
pub(super) fn stream_name(name: &str) -> Option<&'static str> {
    streams::find(name).map(|def| def.name)
}

impl Working {
    pub(super) fn new(
        at: DateTime<Utc>,
        against: Option<DateTime<Utc>>,
        created_by: Option<DateTime<Utc>>,
        parts: WorkingParts,
        cells: usize,
    ) -> Working {
        Working {
            at,
            last: at,
            next: None,
            seen: Table::new(cells),
            taken: Table::new(cells),
            against,
            created_by,
            total: 0,
            read: 0,
            through: None,
            whole: false,
            span: 31,
            derived: BTreeMap::new(),
            parts,
            uncounted: BTreeSet::new(),
            marks: Marks::new(),
            reads: BTreeMap::new(),
            reads_complete: false,
            early_since: BTreeMap::new(),
            swept_by: Vec::new(),
            swept_in_run: false,
            overflowed: BTreeMap::new(),
        }
    }

    pub(super) fn restore(round: &Round) -> Option<Working> {
        let reads = read_times::decode(&round.reads, round.at).ok()?;
        let mut derived = BTreeMap::new();
        for (name, d) in &round.derived {
            let taken = Table::decode_text(&d.taken).ok()?;
            let seen = seen_from(&d.seen, &d.fresh, &taken)?;
            derived.insert(stream_name(name)?, (seen, taken));
        }
        let stored = &round.parts;
        let mut derived_parts = BTreeMap::new();
        for (name, d) in &stored.derived {
            derived_parts.insert(
                stream_name(name)?,
                split(&d.tables, &d.taken, DERIVED_PART_CELLS)?,
            );
        }
        let parts = WorkingParts {
            bounds: stored.bounds.clone(),
            own: split(&stored.tables, &stored.taken, PART_CELLS)?,
            derived: derived_parts,
            against: stored.against.clone(),
            compared: stored.compared,
            furthest: stored.furthest,
            // Unknown in a state written before them: none, and its parts end at their bounds.
            lasts: if stored.lasts.len() == stored.bounds.len() + 1 {
                stored.lasts.clone()
            } else {
                Vec::new()
            },
            sample: Sample {
                below: stored.sample_below,
                picks: stored.sample.clone(),
            },
        };
        // Tables that do not match the bounds (a damaged state) are not compared.
        let fits = |s: &Split| parts.bounds.is_empty() || s.tables.len() == parts.bounds.len() + 1;
        if !(fits(&parts.own) && parts.derived.values().all(fits)) {
            return None;
        }
        let taken = Table::decode_text(&round.taken).ok()?;
        Some(Working {
            at: round.at,
            last: round.last,
            next: round.next.clone(),
            seen: seen_from(&round.seen, &round.fresh, &taken)?,
            taken,
            against: round.against,
            created_by: round.created_by,
            total: round.total,
            read: round.read,
            through: round.through,
            whole: round.whole,
            span: round.span.unwrap_or(31),
            derived,
            parts,
            uncounted: round
                .uncounted
                .iter()
                .filter_map(|n| stream_name(n))
                .collect(),
            marks: pace::restored(&round.marks),
            reads: (round.early.iter().map(|parent| (*parent, None)))
                .chain(reads.into_iter().map(|(parent, at)| (parent, Some(at))))
                .collect(),
            reads_complete: round.reads_complete,
            early_since: (read_times::decode(&round.early_since, round.at).ok()?)
                .into_iter()
                .collect(),
            swept_by: read_times::decode(&round.swept_by, round.at).ok()?,
            swept_in_run: false,
            overflowed: (round.overflowed.iter())
                .filter_map(|(name, records)| Some((stream_name(name)?, *records)))
                .collect(),
        })
    }

    pub(super) fn stored(&self) -> Round {
        Round {
            at: self.at,
            last: self.last,
            next: self.next.clone(),
            seen: String::new(),
            fresh: fresh(&self.seen, &self.taken),
            taken: self.taken.encode(),
            against: self.against,
            created_by: self.created_by,
            total: self.total,
            read: self.read,
            through: self.through,
            whole: self.whole,
            span: Some(self.span),
            derived: self
                .derived
                .iter()
                .map(|(name, (seen, taken))| {
                    let tables = DerivedRound {
                        seen: String::new(),
                        fresh: fresh(seen, taken),
                        taken: taken.encode(),
                    };
                    (name.to_string(), tables)
                })
                .collect(),
            uncounted: self.uncounted.iter().map(|n| n.to_string()).collect(),
            marks: self.marks.clone(),
            early: (self.reads.iter())
                .filter(|(_, at)| at.is_none())
                .map(|(parent, _)| *parent)
                .collect(),
            reads: read_times::encode(
                (self.reads.iter()).filter_map(|(parent, at)| Some((*parent, (*at)?))),
                self.at,
            ),
            reads_complete: self.reads_complete,
            early_since: read_times::encode(
                self.early_since.iter().map(|(p, at)| (*p, *at)),
                self.at,
            ),
            swept_by: read_times::encode(self.swept_by.iter().copied(), self.at),
            overflowed: (self.overflowed.iter())
                .map(|(name, records)| (name.to_string(), *records))
                .collect(),
            parts: {
                let (tables, taken) = stored_split(&self.parts.own);
                RoundParts {
                    bounds: self.parts.bounds.clone(),
                    tables,
                    against: self.parts.against.clone(),
                    taken,
                    compared: self.parts.compared,
                    furthest: self.parts.furthest,
                    lasts: self.parts.lasts.clone(),
                    sample_below: self.parts.sample.below,
                    sample: self.parts.sample.picks.clone(),
                    derived: self
                        .parts
                        .derived
                        .iter()
                        .map(|(name, split)| {
                            let (tables, taken) = stored_split(split);
                            (name.to_string(), DerivedParts { tables, taken })
                        })
                        .collect(),
                }
            },
        }
    }

    /// Whether a record created at `created` counts in `taken`.
    fn takes(created_by: Option<DateTime<Utc>>, created: Option<DateTime<Utc>>) -> bool {
        created_by.is_some_and(|by| created.is_none_or(|c| c <= by))
    }

    /// Counts one key into `seen`, and into `taken` as the record's `created` time says.
    fn count_into(
        created_by: Option<DateTime<Utc>>,
        tables: (&mut Table, &mut Table),
        key: Key,
        created: Option<DateTime<Utc>>,
    ) {
        tables.0.insert(key);
        if Working::takes(created_by, created) {
            tables.1.insert(key);
        }
    }

    /// Counts one record of the listing, at `position` (see `parts`).
    pub(super) fn count(&mut self, key: Key, position: i64, created: Option<DateTime<Utc>>) {
        let tables = (&mut self.seen, &mut self.taken);
        Working::count_into(self.created_by, tables, key, created);
        let taken = Working::takes(self.created_by, created);
        self.parts.count(key, position, taken);
        self.total += 1;
    }

    /// Notes that a derived stream is read with the listing's pages: its tables count, rows
    /// or none (a stream whose rows all went has empty ones). Returns them.
    pub(super) fn reads(&mut self, stream: &'static str) -> (&mut Table, &mut Table) {
        let (seen, taken) = self
            .derived
            .entry(stream)
            .or_insert_with(|| (Table::new(CELLS), Table::new(CELLS)));
        (seen, taken)
    }

    /// Counts rows of a derived stream, each with when it was created, held by a record at
    /// `position`.
    pub(super) fn count_rows(
        &mut self,
        stream: &'static str,
        rows: &[crate::read::derive::DatedKey],
        position: i64,
    ) {
        let created_by = self.created_by;
        let taken = rows
            .iter()
            .map(|(key, c)| (*key, Working::takes(created_by, *c)));
        self.parts.count_rows(stream, taken, position);
        let (seen, taken) = self.reads(stream);
        for (key, created) in rows {
            Working::count_into(created_by, (seen, taken), *key, *created);
        }
    }
}

/// Which records of a page a listing counts. A listing spread over syncs does not see every
/// record created while it runs (one created on a page already read, a child of a parent
/// already swept); the incremental reads see each, so they count those, and the listing's own
/// pages only the others: each record is counted once.
#[derive(Clone, Copy, Debug)]
pub(in crate::read) enum Counted {
    /// Every record: the listing is one read, begun and ended in this sync.
    All,
    /// Those created before the listing began (a listing spread over syncs).
    CreatedByStart,
    /// Those created since the listing began (in its very second or after), in `[from, to)`:
    /// the new records of an incremental read whose creation falls between the start of the
    /// previous sync and the start of this one, so that consecutive reads count each once. An
    /// entity stream's pass also counts those it reads created since it began, and the next
    /// pass not again (see `ahead`).
    CreatedIn(DateTime<Utc>, DateTime<Utc>),
    /// A swept parent's children: those created before the round began, and those
    /// `CreatedIn(from, to)` (a child of this pass, which no other read of it counts).
    SweptIn(DateTime<Utc>, DateTime<Utc>),
    /// Those created before a read that began at the given time: a parent's children, read
    /// for the first time since the round began.
    CreatedBefore(DateTime<Utc>),
    /// Those created in `[from, to)`, whenever the listing began: a parent's children, read for
    /// the first time since the round began, that the last round's read of it at `from` did not
    /// list.
    CreatedBetween(DateTime<Utc>, DateTime<Utc>),
    /// A swept parent's children when an earlier read of the round counted those created since
    /// the last round's read of it (the first time): those created before that read, and those
    /// `CreatedIn(from, to)`.
    SweptSince(DateTime<Utc>, DateTime<Utc>, DateTime<Utc>),
}

impl Counted {
    pub(super) fn counts(
        self,
        created: Option<DateTime<Utc>>,
        listing_began: DateTime<Utc>,
    ) -> bool {
        match self {
            Counted::All => true,
            // A record created in the very second the listing began may come after its page
            // was read: it is left to the incremental reads, which see it.
            Counted::CreatedByStart => created.is_none_or(|c| c < listing_began),
            Counted::CreatedIn(from, to) => {
                created.is_some_and(|c| c >= listing_began && c >= from && c < to)
            }
            Counted::CreatedBefore(read) => created.is_none_or(|c| c < read),
            Counted::CreatedBetween(from, to) => created.is_some_and(|c| c >= from && c < to),
            Counted::SweptSince(before, from, to) => {
                created.is_none_or(|c| c < before)
                    || Counted::CreatedIn(from, to).counts(created, listing_began)
            }
            Counted::SweptIn(from, to) => {
                Counted::CreatedByStart.counts(created, listing_began)
                    || Counted::CreatedIn(from, to).counts(created, listing_began)
            }
        }
    }

    /// What a swept parent's page counts when this counts a pass's new records.
    pub(super) fn swept(self) -> Counted {
        match self {
            Counted::CreatedIn(from, to) => Counted::SweptIn(from, to),
            other => other,
        }
    }

    /// The new records of an incremental pass from the lower bound `lower` (the previous
    /// pass's watermark) to its own `watermark`: both are a pass's start less the overlap.
    pub(in crate::read) fn new_in_pass(lower: DateTime<Utc>, watermark: DateTime<Utc>) -> Counted {
        Counted::CreatedIn(lower + OVERLAP, watermark + OVERLAP)
    }
}
