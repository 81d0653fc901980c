//! Which round of a child stream's deletion capture each parent the sweep reads in a sync
//! counts into, decided once before any read: the round under way, or the next one once the
//! sweep has gone round.

use std::collections::BTreeSet;

use super::super::Target;
use crate::read::cursor::SweepSlice;

/// Which parents of this sync the sweep reads, and whether its round ends in it.
#[derive(Debug, PartialEq, Eq)]
pub(in crate::read) struct Rounds {
    /// The parents the sweep reads whole in this sync that a round counts: the round under
    /// way's next ones, and the next round's first ones.
    pub(super) swept: BTreeSet<i64>,
    /// Whether the round under way (or one begun in this sync) reads its last parent in it.
    pub(super) completes: bool,
    /// Whether this sync reads every parent whole: its round is one read.
    pub(super) every_parent: bool,
    /// Whether the next round begins in this sync although its sweep reads no parent in it:
    /// the last round ended with the last parent, so the next begins with the first, and a
    /// parent read before its sweep gets there (moved, or touched by a related change)
    /// counts into it. Counted by no round, a child created after the last round's read of
    /// that parent and deleted before the next round's sweep read it was in no comparison.
    pub(super) begins: bool,
    /// The last parent the round under way had counted when the sync began: the sweep's read
    /// of a parent up to it counts into the next round. Decided once, before any read, since
    /// a parent's own first page moves the round's `through` to it.
    counted_through: Option<i64>,
}

/// The round under way, as [`Rounds::of`] needs it: `None` without one, else the last parent
/// it counted (`Some(None)`: none yet).
pub(in crate::read) type UnderWay = Option<Option<i64>>;

impl Rounds {
    /// The rounds of a sync whose sweep is `slice` (`None`: every parent, read whole) over the
    /// parents `ids` (ascending), with the round `under_way`.
    ///
    /// A round begins with the first parent (the lowest id): one begun half-way round would
    /// end with the last, having listed only the parents after where it began, and the next
    /// round would be compared with that. So without a round under way, the parents swept
    /// before the sweep wrapped round to the first belong to no round and are not counted;
    /// and a round that counted some of this slice already (a sync tried again after it
    /// failed: the sweep moves only when a sync completes) goes on after the last it counted.
    pub(in crate::read) fn of(
        slice: Option<&SweepSlice>,
        ids: &[i64],
        under_way: UnderWay,
    ) -> Rounds {
        let Some(slice) = slice else {
            return Rounds {
                swept: ids.iter().copied().collect(),
                completes: true,
                every_parent: true,
                begins: false,
                counted_through: None,
            };
        };
        // The order the sweep reads in: ascending from where it was, wrapping round to the
        // first parent, up to `after_id`.
        let after = slice.next.after_id;
        let order: Vec<i64> = (slice.ids.iter().filter(|id| **id > after))
            .chain(slice.ids.iter().filter(|id| **id <= after))
            .copied()
            .collect();
        let from = |i: usize| order[i..].iter().copied().collect::<BTreeSet<i64>>();
        let last = ids.last();
        let (swept, completes) = match under_way {
            // No round, or one no sweep read counted yet (begun by a read before its sweep got
            // to the first parent): the sweep's round begins with the first parent.
            None | Some(None) => {
                let swept = (ids.first())
                    .and_then(|first| order.iter().position(|id| id == first))
                    .map_or_else(BTreeSet::new, from);
                let completes = last.is_some_and(|l| swept.contains(l));
                (swept, completes)
            }
            Some(through @ Some(_)) => {
                // A round that counted the last parent, or one after it (a parent deleted
                // since), has listed every parent: it ends, and what this sync sweeps begins
                // the next one.
                let past_last = |l: &i64| through.is_some_and(|t| t >= *l);
                match through.and_then(|t| order.iter().position(|id| *id == t)) {
                    Some(i) => {
                        let swept = from(i + 1);
                        let completes = last.is_some_and(|l| past_last(l) || swept.contains(l));
                        (swept, completes)
                    }
                    None => (
                        slice.ids.clone(),
                        last.is_some_and(|l| past_last(l) || slice.ids.contains(l)),
                    ),
                }
            }
        };
        let stands_past_last = last.is_some_and(|l| after >= *l);
        Rounds {
            swept,
            completes,
            every_parent: false,
            begins: under_way.is_none() && slice.ids.is_empty() && stands_past_last,
            counted_through: under_way.flatten(),
        }
    }

    /// Whether the round under way counted `parent`'s children before this sync.
    pub(super) fn counted_before(&self, parent: i64) -> bool {
        self.counted_through.is_some_and(|t| parent <= t)
    }

    /// The round the sweep's read of `parent` counts into: the next one if the round under way
    /// counted that parent before this sync.
    pub(super) fn sweeps_into(&self, parent: i64) -> Target {
        if self.counted_before(parent) {
            Target::Upcoming
        } else {
            Target::Round
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Sweep;
    use crate::time::parse_instant;

    fn slice(ids: &[i64]) -> SweepSlice {
        SweepSlice {
            ids: ids.iter().copied().collect(),
            next: Sweep {
                after_id: 0,
                at: parse_instant("2026-01-01T00:00:00Z").unwrap(),
            },
        }
    }

    #[test]
    fn reading_every_parent_is_a_whole_round() {
        let rounds = Rounds::of(None, &[1, 2, 3, 4], Some(Some(1)));
        assert_eq!(rounds.swept.len(), 4);
        assert!(rounds.completes && rounds.every_parent);
    }

    #[test]
    fn a_slice_before_the_last_parent_goes_on_with_the_round() {
        let rounds = Rounds::of(Some(&slice(&[2, 3])), &[1, 2, 3, 4], Some(Some(1)));
        assert!(!rounds.completes && !rounds.every_parent);
    }

    #[test]
    fn without_a_round_one_begins_with_the_first_parent_and_those_swept_after_it() {
        // The sweep read 4 (the end of a round there is none of), then 1 and 2.
        let mut wrapped = slice(&[1, 2, 4]);
        wrapped.next.after_id = 2;
        let rounds = Rounds::of(Some(&wrapped), &[1, 2, 3, 4], None);
        assert_eq!(rounds.swept, BTreeSet::from([1, 2]));
        assert!(!rounds.completes);
        // The same slice with a round under way through 3: 4 ends it, 1 and 2 begin the next.
        let rounds = Rounds::of(Some(&wrapped), &[1, 2, 3, 4], Some(Some(3)));
        assert_eq!(rounds.swept.len(), 3);
        assert!(rounds.completes);
        // Half-way round, no round begins.
        let mut middle = slice(&[2, 3]);
        middle.next.after_id = 3;
        assert!(Rounds::of(Some(&middle), &[1, 2, 3, 4], None)
            .swept
            .is_empty());
        // Every parent from the first: a round begins and ends.
        let mut all = slice(&[1, 2, 3, 4]);
        all.next.after_id = 4;
        assert!(Rounds::of(Some(&all), &[1, 2, 3, 4], None).completes);
    }

    #[test]
    fn a_sync_tried_again_goes_on_after_the_last_parent_its_round_counted() {
        let mut wrapped = slice(&[1, 2, 4]);
        wrapped.next.after_id = 2;
        // The round begun by 1 and 2 counted them: 4 is not its, and it does not end.
        let rounds = Rounds::of(Some(&wrapped), &[1, 2, 3, 4], Some(Some(2)));
        assert!(rounds.swept.is_empty() && !rounds.completes);
        // The round under way counted 4, its last: it ends, and 1 and 2 begin the next.
        let rounds = Rounds::of(Some(&wrapped), &[1, 2, 3, 4], Some(Some(4)));
        assert_eq!(rounds.swept, BTreeSet::from([1, 2]));
        assert!(rounds.completes);
    }

    #[test]
    fn a_round_that_counted_the_last_parent_ends_when_the_sweep_wraps_round() {
        // The round counted up to 5 while 6 was the last parent; 6 was deleted before the
        // sweep got to it, and the sweep wraps round to 1. The round has listed every parent:
        // it ends (it used to wait for a parent created after 5, syncs later).
        let rounds = Rounds::of(Some(&slice(&[1])), &[1, 2, 3, 5], Some(Some(5)));
        assert_eq!(rounds.swept, BTreeSet::from([1]));
        assert!(rounds.completes);
        // It counted 6, deleted since: 5 is the last now.
        let rounds = Rounds::of(Some(&slice(&[1])), &[1, 2, 3, 5], Some(Some(6)));
        assert!(rounds.completes);
        // A round short of the last parent goes on.
        let rounds = Rounds::of(Some(&slice(&[1])), &[1, 2, 3, 5], Some(Some(3)));
        assert!(!rounds.completes);
    }

    #[test]
    fn a_sync_whose_sweep_reads_nothing_after_the_last_parent_begins_the_next_round() {
        // Soak seed 12: the round ended with the last parent; a task added to a project in the
        // sync after, whose sweep read no parent, touched its users, whose reads counted into
        // no round; removed before the next round's sweep got to them, its rows were in none.
        let mut between = slice(&[]);
        between.next.after_id = 4;
        assert!(Rounds::of(Some(&between), &[1, 2, 3, 4], None).begins);
        // Standing half-way round, a round begun now would begin there.
        between.next.after_id = 2;
        assert!(!Rounds::of(Some(&between), &[1, 2, 3, 4], None).begins);
        // A round is under way, or the sweep reads parents: nothing to begin early.
        between.next.after_id = 4;
        assert!(!Rounds::of(Some(&between), &[1, 2, 3, 4], Some(Some(4))).begins);
        let mut all = slice(&[1, 2]);
        all.next.after_id = 2;
        assert!(!Rounds::of(Some(&all), &[1, 2, 3, 4], None).begins);
    }

    #[test]
    fn a_round_begun_before_its_sweep_read_a_parent_begins_its_sweep_with_the_first() {
        // Begun by a read of 3 before the sweep got to 1; a parent 5 created since sorts
        // after where the sweep stood, and is read first.
        let mut wrapped = slice(&[5, 1, 2]);
        wrapped.next.after_id = 2;
        let rounds = Rounds::of(Some(&wrapped), &[1, 2, 3, 4, 5], Some(None));
        assert_eq!(rounds.swept, BTreeSet::from([1, 2]));
        assert!(!rounds.completes);
    }

    #[test]
    fn a_slice_that_reads_the_last_parent_ends_the_round() {
        assert!(Rounds::of(Some(&slice(&[1, 4])), &[1, 2, 3, 4], Some(Some(3))).completes);
        assert!(Rounds::of(Some(&slice(&[1, 2, 3, 4])), &[1, 2, 3, 4], Some(Some(3))).completes);
    }
}
