//! A listing's parts: its keys split by position into ranges of about equal size, each with a
//! small table of its own, so that a part of the last listing is compared as soon as the
//! listing under way has read past it, not when the whole listing completes. A record deleted
//! is then found within one sweep interval of its last listing, not two.
//!
//! A record's position is where the listing meets it: a numbered list's date (windows are
//! read oldest first), a cursor list's creation time, newest first (Harvest's order, so the
//! position is the creation time negated), a child's parent (parents are swept in ascending
//! id). The ranges of a listing are fixed when it begins, from a sample of the previous
//! listing's positions: records created while it runs are counted where their position lies,
//! ahead of the listing too. The first listing has one part (its whole table), the second is
//! compared whole with it, and every later one part by part.
//!
//! A part's table is small ([`PART_CELLS`], [`DERIVED_PART_CELLS`] for derived rows): a part
//! whose differences do not decode is left to the whole listing's comparison when the listing
//! completes, which finds them later.

use std::collections::BTreeMap;

use chrono::Datelike;

use super::{add_pending, Capture};
use crate::iblt::{Key, Table};
use crate::page::Record;
use crate::streams::{Kind, Pages, StreamDef};

/// Cells of a part's table: 32 decode 8 differences in every one of the 200 trials in this
/// module's tests; 1 kB of the state's text each.
pub(super) const PART_CELLS: usize = 32;

/// Cells of a part's table of a derived stream's rows: a source record holds several rows
/// (a project assignment a row per task of its project), and a source deleted takes them all
/// at once, so these decode 24 differences; 2 kB of the state's text each.
pub(super) const DERIVED_PART_CELLS: usize = 64;

/// Parts of a listing: the more, the sooner a part is compared after its records were read
/// (a part is read over a sync or two), and the larger the state.
pub(super) const PARTS: usize = 6;

/// Positions a listing samples to place the next listing's bounds.
const SAMPLE: usize = 32;

/// The part of `bounds` (where each part but the first begins, ascending) holding `position`.
pub(super) fn part_of(bounds: &[i64], position: i64) -> usize {
    bounds.partition_point(|b| *b <= position)
}

/// Where part `index` of `bounds` ends (exclusive): the next one's first position.
pub(super) fn end_of(bounds: &[i64], index: usize) -> i64 {
    bounds.get(index).copied().unwrap_or(i64::MAX)
}

/// The text of a part's table for the state: empty when the table holds nothing.
pub(super) fn encode_part(table: &Table) -> String {
    if *table == Table::new(table.cells()) {
        String::new()
    } else {
        table.encode()
    }
}

/// A part's table of `cells` cells from [`encode_part`]'s text (one of another size, from a
/// state written with other sizes, is compared with none).
pub(super) fn decode_part(text: &str, cells: usize) -> Result<Table, String> {
    if text.is_empty() {
        Ok(Table::new(cells))
    } else {
        Table::decode_text(text)
    }
}

/// The last complete listing's parts.
pub(super) struct KnownParts {
    /// Where each part but the first begins.
    pub(super) bounds: Vec<i64>,
    /// Each part's table; `None` once compared with the listing under way.
    pub(super) tables: Vec<Option<Table>>,
    /// The same, of each derived stream's rows (counted at their source's position).
    pub(super) derived: BTreeMap<&'static str, Vec<Option<Table>>>,
    /// The furthest position counted into each part (none from states written before).
    pub(super) lasts: Vec<i64>,
}

impl KnownParts {
    /// Where part `index` ends for the listing under way: past its furthest record, or at the
    /// next part's bound. A part whose last records sit well before its bound (parents
    /// without children after them, days without entries) is compared as soon as the listing
    /// passes them, not when it reaches the next bound.
    pub(super) fn end(&self, index: usize) -> i64 {
        let bound = end_of(&self.bounds, index);
        self.lasts
            .get(index)
            .map_or(bound, |last| bound.min(last.saturating_add(1)))
    }
}

/// One stream's tables in the parts of a listing under way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Split {
    /// The cells of each of its tables.
    pub(super) cells: usize,
    /// Its own parts' tables (none when it has one part).
    pub(super) tables: Vec<Table>,
    /// The keys it took from each part of the compared listing not compared yet (see
    /// `Working::taken`).
    pub(super) taken: BTreeMap<usize, Table>,
}

impl Split {
    /// The empty tables of a listing's parts with `bounds`, of `cells` cells each.
    fn new(bounds: &[i64], cells: usize) -> Split {
        let tables = if bounds.is_empty() {
            Vec::new()
        } else {
            vec![Table::new(cells); bounds.len() + 1]
        };
        Split {
            cells,
            tables,
            taken: BTreeMap::new(),
        }
    }
}

/// The parts of a listing under way.
pub(super) struct WorkingParts {
    /// Where each of its own parts but the first begins (none: one part, its whole table).
    pub(super) bounds: Vec<i64>,
    /// The stream's keys.
    pub(super) own: Split,
    /// Each derived stream's rows.
    pub(super) derived: BTreeMap<&'static str, Split>,
    /// The bounds of the listing it is compared with, when that one has parts.
    pub(super) against: Option<Vec<i64>>,
    /// How many parts of that listing were compared (the first ones: parts are compared in
    /// the order the listing reads them).
    pub(super) compared: usize,
    /// The furthest position its own pages read (a cursor list's progress).
    pub(super) furthest: Option<i64>,
    /// The furthest position counted into each of its parts (`i64::MIN`: none); none when it
    /// has one part, or was restored from a state written before them (its parts then end at
    /// their bounds, see [`KnownParts::end`]).
    pub(super) lasts: Vec<i64>,
    /// Positions it read, to place the bounds of the listing after it.
    pub(super) sample: Sample,
}

impl WorkingParts {
    /// The parts of a listing with its own `bounds`, compared with one whose parts have the
    /// bounds `against`.
    pub(super) fn new(bounds: Vec<i64>, against: Option<Vec<i64>>) -> WorkingParts {
        WorkingParts {
            lasts: if bounds.is_empty() {
                Vec::new()
            } else {
                vec![i64::MIN; bounds.len() + 1]
            },
            own: Split::new(&bounds, PART_CELLS),
            derived: BTreeMap::new(),
            bounds,
            against,
            compared: 0,
            furthest: None,
            sample: Sample::default(),
        }
    }

    /// Where this listing's keys go (borrowing the fields a count reads, not the tables).
    fn place<'a>(bounds: &'a [i64], against: &'a Option<Vec<i64>>, compared: usize) -> Place<'a> {
        Place {
            bounds,
            against: against.as_deref(),
            compared,
        }
    }

    /// Takes `key` at `position` as read from the compared listing's part (a key found
    /// missing otherwise, which that part's comparison must not name again).
    pub(super) fn take(&mut self, key: Key, position: i64) {
        let place = WorkingParts::place(&self.bounds, &self.against, self.compared);
        place.take_into(&mut self.own, key, position);
    }

    /// Counts a record's key at `position` (see [`Place::count_into`]).
    pub(super) fn count(&mut self, key: Key, position: i64, taken: bool) {
        let place = WorkingParts::place(&self.bounds, &self.against, self.compared);
        place.count_into(&mut self.own, key, position, taken);
        self.reach(position);
        // A record's first id: a child's parent, not the child, so that parts hold about as
        // many parents each, and the sweep reads a part in about the same time as any other.
        self.sample.add((key.0, 0), position);
    }

    /// Counts the keys of a derived stream's rows, at their source's `position`, each into
    /// the keys taken when its flag says so.
    pub(super) fn count_rows(
        &mut self,
        stream: &'static str,
        rows: impl IntoIterator<Item = (Key, bool)>,
        position: i64,
    ) {
        let place = WorkingParts::place(&self.bounds, &self.against, self.compared);
        let split = self
            .derived
            .entry(stream)
            .or_insert_with(|| Split::new(place.bounds, DERIVED_PART_CELLS));
        for (key, taken) in rows {
            place.count_into(split, key, position, taken);
        }
        self.reach(position);
    }

    /// Notes that a part holds a key at `position`.
    fn reach(&mut self, position: i64) {
        if let Some(last) = self.lasts.get_mut(part_of(&self.bounds, position)) {
            *last = (*last).max(position);
        }
    }
}

/// The parts a key of a listing under way goes to: its own, and the compared listing's.
#[derive(Clone, Copy)]
struct Place<'a> {
    /// The listing's own bounds.
    bounds: &'a [i64],
    /// The compared listing's bounds, when it has parts.
    against: Option<&'a [i64]>,
    /// How many of the compared listing's parts were compared already.
    compared: usize,
}

impl Place<'_> {
    /// Counts a key at `position` into `split`'s part, and into the keys taken from the
    /// compared listing's part when `taken`.
    fn count_into(self, split: &mut Split, key: Key, position: i64, taken: bool) {
        if let Some(table) = split.tables.get_mut(part_of(self.bounds, position)) {
            table.insert(key);
        }
        if taken {
            self.take_into(split, key, position);
        }
    }

    /// Counts a key at `position` into the keys `split` took from the compared listing's part.
    fn take_into(self, split: &mut Split, key: Key, position: i64) {
        let Some(against) = self.against else {
            return;
        };
        let part = part_of(against, position);
        // A part compared already is not compared again.
        if part >= self.compared {
            let cells = split.cells;
            split
                .taken
                .entry(part)
                .or_insert_with(|| Table::new(cells))
                .insert(key);
        }
    }
}

/// A sample of the positions a listing read: those of the keys whose hash falls below a
/// threshold, halved whenever the sample grows past twice [`SAMPLE`], so that it is about as
/// large whatever the listing's size, and the same keys are picked however the listing is
/// split over syncs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Sample {
    pub(super) below: u32,
    pub(super) picks: Vec<(u32, i64)>,
}

impl Default for Sample {
    fn default() -> Sample {
        Sample {
            below: u32::MAX,
            picks: Vec::new(),
        }
    }
}

impl Sample {
    /// Samples `key`'s position; a key sampled already (a parent's, for each of its
    /// children) is not sampled again.
    fn add(&mut self, key: Key, position: i64) {
        let hash = crate::iblt::key_hash(key);
        if hash >= self.below || self.picks.contains(&(hash, position)) {
            return;
        }
        self.picks.push((hash, position));
        if self.picks.len() > 2 * SAMPLE {
            self.below /= 2;
            let below = self.below;
            self.picks.retain(|(h, _)| *h < below);
        }
    }

    /// Bounds that split the sampled positions into [`PARTS`] parts of about equal size
    /// (fewer when the positions are few or repeat).
    pub(super) fn bounds(&self) -> Vec<i64> {
        let mut positions: Vec<i64> = self.picks.iter().map(|(_, p)| *p).collect();
        positions.sort_unstable();
        let mut bounds: Vec<i64> = (1..PARTS)
            .filter_map(|i| positions.get(i * positions.len() / PARTS).copied())
            .filter(|b| *b != i64::MAX)
            .collect();
        bounds.dedup();
        // A bound at the first position would leave the first part empty.
        bounds.retain(|b| Some(b) != positions.first());
        bounds
    }
}

impl Capture {
    /// Compares the parts of the last listing that the listing under way has read past (see
    /// this module): called where it pauses, once the user was checked.
    pub(super) fn compare_parts(&mut self) {
        if let Some(reached) = self.reached() {
            self.compare_parts_before(reached);
        }
    }

    /// Compares each part of the last listing that ends at or before `reached` (every position
    /// before it was listed) with the keys the listing under way took from it. A part's
    /// candidates are counted as taken, so that the whole comparison does not name them again;
    /// a part whose differences do not decode is left to the whole comparison, and counted
    /// until then with the records gone unnamed (see [`Working::overflowed`]).
    pub(super) fn compare_parts_before(&mut self, reached: i64) {
        let (Some(round), Some(known)) = (&mut self.round, &mut self.known) else {
            return;
        };
        if !self.comparable || round.against != Some(known.at) {
            return;
        }
        let Some(parts) = known
            .parts
            .as_mut()
            .filter(|p| round.parts.against.as_ref() == Some(&p.bounds))
        else {
            return;
        };
        while round.parts.compared < parts.tables.len()
            && parts.end(round.parts.compared) <= reached
        {
            let part = round.parts.compared;
            round.parts.compared += 1;
            let name = self.def.name;
            let taken = round.parts.own.taken.remove(&part);
            match compare_part(&mut parts.tables, taken, part) {
                Some(PartDifference::Named(gone)) => {
                    for key in &gone {
                        round.taken.insert(*key);
                        self.named_by_parts.insert(*key);
                    }
                    add_pending(&mut self.pending, gone);
                }
                Some(PartDifference::TooMany(records)) => {
                    tracing::debug!("stream {name}: part {part} of its last listing differs too much to compare alone (about {records} records gone); it is compared when the listing completes");
                    if records > 0 {
                        *round.overflowed.entry(name).or_default() += records as u64;
                    }
                }
                None => {}
            }
            // A derived stream some sync of the listing did not read, or that no page of it
            // was read with yet, is not compared.
            let mut found = Vec::new();
            for (stream, tables) in parts.derived.iter_mut().filter(|(stream, _)| {
                !round.uncounted.contains(*stream)
                    && round.derived.contains_key(*stream)
                    && self.derived.iter().any(|d| d.name == **stream)
            }) {
                let taken =
                    (round.parts.derived.get_mut(stream)).and_then(|s| s.taken.remove(&part));
                match compare_part(tables, taken, part) {
                    Some(PartDifference::Named(gone)) => found.push((*stream, gone)),
                    Some(PartDifference::TooMany(records)) => {
                        tracing::debug!("stream {stream}: part {part} of its last listing differs too much to compare alone (about {records} rows gone)");
                        if records > 0 {
                            *round.overflowed.entry(*stream).or_default() += records as u64;
                        }
                    }
                    None => {}
                }
            }
            // What a part named is taken: the whole comparison does not name it again.
            for (stream, gone) in found.drain(..) {
                if let Some((_, taken)) = round.derived.get_mut(stream) {
                    gone.iter().for_each(|key| taken.insert(*key));
                }
                add_pending(self.pending_derived.entry(stream).or_default(), gone);
            }
        }
    }
}

/// What comparing a part of the last listing with the one under way found.
enum PartDifference {
    /// The keys it holds that the listing under way did not take from it.
    Named(Vec<Key>),
    /// More than its table names: about this many.
    TooMany(usize),
}

/// The keys part `part` of a known listing's `tables` holds that the listing under way did
/// not take from it (`taken`); `None` when it was compared already.
fn compare_part(
    tables: &mut [Option<Table>],
    taken: Option<Table>,
    part: usize,
) -> Option<PartDifference> {
    let old = tables.get_mut(part)?.take()?;
    let taken = taken.unwrap_or_else(|| Table::new(old.cells()));
    Some(match old.minus(&taken)?.decode() {
        Ok(difference) => PartDifference::Named(difference.only_first),
        Err(partial) => PartDifference::TooMany(partial.only_first.len() + partial.unnamed),
    })
}

/// Where a listing meets a record (see this module): a child's parent, a numbered list's date,
/// else its creation time negated (newest first); `i64::MAX` (the last part) without one.
pub(super) fn position(def: &StreamDef, record: &Record<'_>, parent: Option<i64>) -> i64 {
    if let Some(parent) = parent {
        return parent;
    }
    let Ok(fields) = &record.keys else {
        return i64::MAX;
    };
    match def.kind {
        Kind::List {
            pages: Pages::Numbered { date },
            ..
        } => fields
            .date(date)
            .map_or(i64::MAX, |d| i64::from(d.num_days_from_ce())),
        _ => fields.created_at().map_or(i64::MAX, |c| -c.timestamp()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_ends_past_its_furthest_record_or_at_the_next_bound() {
        let parts = KnownParts {
            bounds: vec![10, 20],
            tables: vec![None, None, None],
            derived: BTreeMap::new(),
            lasts: vec![4, i64::MIN, 25],
        };
        assert_eq!(parts.end(0), 5);
        assert_eq!(parts.end(1), i64::MIN + 1, "no record: compared at once");
        assert_eq!(parts.end(2), 26);
        // A state written before the furthest positions: the bounds.
        let before = KnownParts {
            lasts: Vec::new(),
            ..parts
        };
        assert_eq!((before.end(0), before.end(2)), (10, i64::MAX));
    }

    #[test]
    fn positions_fall_in_the_part_whose_range_holds_them() {
        let bounds = [10, 20];
        assert_eq!(part_of(&bounds, i64::MIN), 0);
        assert_eq!(part_of(&bounds, 9), 0);
        assert_eq!(part_of(&bounds, 10), 1);
        assert_eq!(part_of(&bounds, 19), 1);
        assert_eq!(part_of(&bounds, 20), 2);
        assert_eq!(end_of(&bounds, 0), 10);
        assert_eq!(end_of(&bounds, 2), i64::MAX);
        assert_eq!(part_of(&[], 5), 0);
    }

    #[test]
    fn a_sample_places_bounds_that_split_a_listing_into_equal_parts() {
        let mut sample = Sample::default();
        for id in 0..100_000i64 {
            sample.add((id, 0), id);
        }
        assert!(sample.picks.len() <= 2 * SAMPLE && sample.picks.len() > SAMPLE / 2);
        let bounds = sample.bounds();
        assert_eq!(bounds.len(), PARTS - 1);
        let mut counts = vec![0u32; PARTS];
        for id in 0..100_000i64 {
            counts[part_of(&bounds, id)] += 1;
        }
        // Each part holds a sixth of the records (16,667), give or take what a sample of
        // 32 to 64 misses.
        assert!(
            counts.iter().all(|c| (5_000..35_000).contains(c)),
            "{counts:?}"
        );
    }

    #[test]
    fn repeated_or_few_positions_make_fewer_parts_none_empty_by_construction() {
        let mut sample = Sample::default();
        for id in 0..1000i64 {
            sample.add((id, 0), 7);
        }
        assert!(sample.bounds().is_empty());
        assert!(Sample::default().bounds().is_empty());
    }

    #[test]
    fn eight_differences_decode_in_a_part_table_and_24_in_a_derived_ones() {
        for (cells, differences) in [(PART_CELLS, 8), (DERIVED_PART_CELLS, 24)] {
            for seed in 0..200i64 {
                let mut before = Table::new(cells);
                let mut after = Table::new(cells);
                for id in 0..5_000 {
                    before.insert((id, 0));
                    after.insert((id, 0));
                }
                for i in 0..differences {
                    before.insert((seed * 1_000_003 + i * 7919 + 10_000, 0));
                }
                let diff = before.minus(&after).unwrap().decode().unwrap();
                assert_eq!(diff.only_first.len(), differences as usize, "seed {seed}");
            }
        }
    }

    #[test]
    fn an_empty_part_is_stored_as_nothing_and_read_back() {
        let empty = Table::new(PART_CELLS);
        assert_eq!(encode_part(&empty), "");
        assert_eq!(decode_part("", PART_CELLS).unwrap(), empty);
        let mut one = Table::new(DERIVED_PART_CELLS);
        one.insert((3, 0));
        assert_eq!(encode_part(&Table::new(DERIVED_PART_CELLS)), "");
        assert_eq!(decode_part(&encode_part(&one), PART_CELLS).unwrap(), one);
    }
}
