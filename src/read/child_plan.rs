//! The child plan: which parents' children a child stream's sync reads, and how much of each.
//!
//! This is the one place that decides it, as a pure function of what the sync knows (the parent
//! listing, the sweep's slice, the parents related changes touched, the cursor), so that every
//! rule of the README's guarantee paragraph is a unit test here:
//!
//! - a full refresh, and `child_sweep_hours: 0`, read every parent: whole where related
//!   changes touch children without moving the parent, listed whole (emitting those updated
//!   since the watermark) where deletions are captured, else those updated since the
//!   watermark: the same requests;
//! - an incremental sync with a sweep reads whole the parents of the sweep's slice and those
//!   related changes touched, and the changed children of every parent whose `updated_at`
//!   moved since the watermark (or that has none), listed whole where deletions are captured
//!   (a deleted child moves its parent: its list is checked against the last one); it skips
//!   the rest;
//! - a state in the future reads nothing whole;
//! - a resumed pass skips the parents already done.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::cursor::SweepSlice;

/// How much of one parent's children a sync reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Portion {
    /// Those updated since the watermark (`updated_since` where Harvest filters).
    Changed,
    /// All of them since the start date: the parent was swept or touched.
    Whole,
    /// All of them listed (deletion capture compares the whole list), those updated since
    /// the watermark emitted: the same request as [`Portion::Changed`].
    Listed,
}

/// What the plan of one child stream's sync is decided from.
#[derive(Clone, Copy, Debug)]
pub(super) struct PlanInput<'a> {
    /// Each parent's id (ascending) and `updated_at` (`None`: it had none).
    pub parents: &'a [(i64, Option<DateTime<Utc>>)],
    /// The sweep of this sync; `None` when it reads every parent (a full refresh, or
    /// `child_sweep_hours: 0`).
    pub slice: Option<&'a SweepSlice>,
    /// The parents related changes touched since the watermark (see [`needs_touched`]).
    pub touched: &'a BTreeSet<i64>,
    /// Whether related streams can touch this stream's children ([`crate::streams::Touch`]).
    pub touchable: bool,
    /// Whether the sync captures deletions, which compares each parent's whole list of
    /// children.
    pub captures: bool,
    /// The lower bound of `updated_at` of this read (the watermark in incremental mode).
    pub lower: DateTime<Utc>,
    /// Whether lists may be read whole at all (not from a state in the future).
    pub may_read_whole: bool,
    /// The last parent an interrupted pass finished.
    pub after: Option<i64>,
}

/// Whether the plan needs the parents related changes touched: only when the sweep reads some
/// parents but not all (a full sweep reads every parent whole; reading every parent decides
/// without them).
pub(super) fn needs_touched(slice: Option<&SweepSlice>, parents: usize) -> bool {
    slice.is_some_and(|s| s.ids.len() < parents)
}

/// The parents to read, ascending, each with how much of its children.
pub(super) fn plan(input: PlanInput<'_>) -> Vec<(i64, Portion)> {
    let todo = input
        .parents
        .iter()
        .filter(|(id, _)| input.after.is_none_or(|a| *id > a));
    match input.slice {
        None => {
            let reach = match (input.touchable, input.captures, input.may_read_whole) {
                (_, _, false) => Portion::Changed,
                (true, _, true) => Portion::Whole,
                (false, true, true) => Portion::Listed,
                (false, false, true) => Portion::Changed,
            };
            todo.map(|&(id, _)| (id, reach)).collect()
        }
        Some(slice) => todo
            .filter_map(|&(id, updated)| {
                if slice.ids.contains(&id) || input.touched.contains(&id) {
                    Some((id, Portion::Whole))
                } else {
                    let moved = match (input.captures, input.may_read_whole) {
                        (true, true) => Portion::Listed,
                        _ => Portion::Changed,
                    };
                    // A parent without updated_at cannot be said unchanged.
                    updated
                        .is_none_or(|t| t >= input.lower)
                        .then_some((id, moved))
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::state::Sweep;
    use crate::time::parse_instant;

    fn t(text: &str) -> DateTime<Utc> {
        parse_instant(text).unwrap()
    }

    fn lower() -> DateTime<Utc> {
        t("2026-01-01T00:00:00Z")
    }

    /// Parents 1..=5: 2 moved since the watermark, 4 has no `updated_at`, the rest did not move.
    fn parents() -> Vec<(i64, Option<DateTime<Utc>>)> {
        let old = Some(lower() - Duration::days(3));
        let moved = Some(lower() + Duration::hours(1));
        vec![(1, old), (2, moved), (3, old), (4, None), (5, old)]
    }

    fn slice(ids: &[i64]) -> SweepSlice {
        SweepSlice {
            ids: ids.iter().copied().collect(),
            next: Sweep {
                after_id: 0,
                at: lower(),
            },
        }
    }

    fn input<'a>(
        parents: &'a [(i64, Option<DateTime<Utc>>)],
        slice: Option<&'a SweepSlice>,
        touched: &'a BTreeSet<i64>,
    ) -> PlanInput<'a> {
        PlanInput {
            parents,
            slice,
            touched,
            touchable: false,
            captures: false,
            lower: lower(),
            may_read_whole: true,
            after: None,
        }
    }

    #[test]
    fn reading_every_parent_reads_the_changed_children_of_each() {
        let parents = parents();
        let none = BTreeSet::new();
        let plan = plan(input(&parents, None, &none));
        assert_eq!(
            plan,
            (1..=5).map(|id| (id, Portion::Changed)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn reading_every_parent_of_a_touchable_stream_reads_each_whole_unless_the_state_is_ahead() {
        let parents = parents();
        let none = BTreeSet::new();
        let touchable = PlanInput {
            touchable: true,
            ..input(&parents, None, &none)
        };
        assert!(plan(touchable).iter().all(|(_, r)| *r == Portion::Whole));
        let future = PlanInput {
            may_read_whole: false,
            ..touchable
        };
        assert!(plan(future).iter().all(|(_, r)| *r == Portion::Changed));
    }

    #[test]
    fn reading_every_parent_while_capturing_deletions_lists_each_whole() {
        let parents = parents();
        let none = BTreeSet::new();
        let capturing = PlanInput {
            captures: true,
            ..input(&parents, None, &none)
        };
        assert!(plan(capturing).iter().all(|(_, r)| *r == Portion::Listed));
        let touchable = PlanInput {
            touchable: true,
            ..capturing
        };
        assert!(plan(touchable).iter().all(|(_, r)| *r == Portion::Whole));
    }

    #[test]
    fn a_sweep_reads_its_slice_and_the_touched_whole_and_the_moved_as_changed() {
        let parents = parents();
        let swept = slice(&[5]);
        let touched = BTreeSet::from([1]);
        let plan = plan(input(&parents, Some(&swept), &touched));
        assert_eq!(
            plan,
            [
                (1, Portion::Whole),   // touched
                (2, Portion::Changed), // moved since the watermark
                (4, Portion::Changed), // no updated_at: cannot be said unchanged
                (5, Portion::Whole),   // swept
            ]
        );
    }

    #[test]
    fn a_sweep_capturing_deletions_lists_the_moved_parents_whole() {
        let parents = parents();
        let swept = slice(&[5]);
        let none = BTreeSet::new();
        let capturing = PlanInput {
            captures: true,
            ..input(&parents, Some(&swept), &none)
        };
        assert_eq!(
            plan(capturing),
            [
                (2, Portion::Listed),
                (4, Portion::Listed),
                (5, Portion::Whole)
            ]
        );
        let future = PlanInput {
            may_read_whole: false,
            ..capturing
        };
        assert_eq!(plan(future)[0], (2, Portion::Changed));
    }

    #[test]
    fn a_parent_moved_exactly_at_the_watermark_is_read() {
        let parents = [(1, Some(lower()))];
        let swept = slice(&[]);
        let none = BTreeSet::new();
        assert_eq!(
            plan(input(&parents, Some(&swept), &none)),
            [(1, Portion::Changed)]
        );
    }

    #[test]
    fn a_resumed_pass_skips_the_parents_it_finished() {
        let parents = parents();
        let swept = slice(&[1, 2, 3, 4, 5]);
        let none = BTreeSet::new();
        let resumed = PlanInput {
            after: Some(3),
            ..input(&parents, Some(&swept), &none)
        };
        assert_eq!(plan(resumed), [(4, Portion::Whole), (5, Portion::Whole)]);
        let every = PlanInput {
            after: Some(4),
            ..input(&parents, None, &none)
        };
        assert_eq!(plan(every), [(5, Portion::Changed)]);
    }

    #[test]
    fn touched_parents_are_listed_only_for_a_partial_sweep() {
        assert!(!needs_touched(None, 5));
        assert!(!needs_touched(Some(&slice(&[1, 2, 3, 4, 5])), 5));
        assert!(needs_touched(Some(&slice(&[1])), 5));
        assert!(needs_touched(Some(&slice(&[])), 5));
    }
}
