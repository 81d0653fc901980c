//! How far an entity stream's listing reads in a sync. Two rules, the larger wins:
//!
//! - **Its share of the interval**: the records the time since the last listing ended is due
//!   (`child_sweep_hours` for the whole stream), less those read already. This spreads the
//!   requests evenly over the syncs.
//! - **Never further behind than one interval**: by the server's time `now`, the listing has
//!   read every position the last listing had read by `now - interval` (a cursor list: to the
//!   end of the last listing's part holding it, see [`Capture::behind`]). The share alone can
//!   fall behind that: a cursor list is newest first, so records created since push the old
//!   ones onto later pages, and a whole page read ahead of its share in one listing is read on
//!   its share in the next. A record the last listing read at `t` and deleted after is then
//!   missing from this one by `t + interval`, and its part compared when the listing passes it.
//!
//! The state keeps where a listing stood after each sync ([`Marks`]), a few dozen marks.

use chrono::{DateTime, Datelike, Duration, Utc};

use super::parts::part_of;
use super::Capture;
use crate::streams::{Kind, Pages};

/// Marks a listing keeps: a day of hourly syncs and more. Beyond, the two closest marks merge
/// into the earlier time and the further position, which asks the next listing to be there
/// sooner (more requests early), never later.
const MARKS: usize = 32;

/// Where a listing stood after each sync that read some of it: the server's time of the last
/// page read, and the position every record before which was listed (ascending in both).
pub(super) type Marks = Vec<(DateTime<Utc>, i64)>;

/// Marks from the state, when both columns ascend (a damaged list is dropped: it could ask
/// for the whole stream at once, never for less than the share).
pub(super) fn restored(marks: &Marks) -> Marks {
    let ascending = marks.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1);
    if ascending {
        marks.clone()
    } else {
        Marks::new()
    }
}

/// Adds a mark at `at`, `reached`, merging the two closest ones beyond [`MARKS`].
fn mark(marks: &mut Marks, at: DateTime<Utc>, reached: i64) {
    if marks.last().is_some_and(|(_, r)| *r >= reached) {
        return;
    }
    marks.push((at, reached));
    if marks.len() > MARKS {
        let closest = (1..marks.len())
            .min_by_key(|i| marks[*i].0 - marks[*i - 1].0)
            .expect("more than one mark");
        marks[closest - 1].1 = marks[closest].1;
        marks.remove(closest);
    }
}

/// The position a listing must have reached at `now`: where the last one stood at its latest
/// mark no later than `now - interval`.
fn due_position(marks: &Marks, interval: Duration, now: DateTime<Utc>) -> Option<i64> {
    let by = now - interval;
    marks
        .iter()
        .take_while(|(at, _)| *at <= by)
        .last()
        .map(|(_, reached)| *reached)
}

impl Capture {
    /// Where the listing under way stands: every position before this was listed (a numbered
    /// list's next window's first day, a cursor list's furthest record, a child round's last
    /// parent and one).
    pub(super) fn reached(&self) -> Option<i64> {
        let round = self.round.as_ref()?;
        match self.def.kind {
            Kind::Child { .. } => round.through.map(|t| t.saturating_add(1)),
            Kind::List {
                pages: Pages::Numbered { .. },
                ..
            } => round
                .next
                .as_deref()
                .and_then(crate::time::parse_date)
                .map(|d| i64::from(d.num_days_from_ce())),
            _ => round.parts.furthest,
        }
    }

    /// Notes where the listing under way stands after this sync's pages (see [`Marks`]).
    pub(super) fn mark_progress(&mut self) {
        let reached = self.reached();
        if let (Some(round), Some(reached)) = (&mut self.round, reached) {
            mark(&mut round.marks, round.last, reached);
        }
    }

    /// Notes that the listing under way read its last page: the next one must have read
    /// everything one interval later.
    pub(super) fn mark_complete(&mut self) {
        if let Some(round) = &mut self.round {
            mark(&mut round.marks, round.last, i64::MAX);
        }
    }

    /// Whether the listing under way is behind where the last one stood one `interval` before
    /// `now` (see this module); never without an interval.
    pub(super) fn behind(&self, interval: Option<Duration>, now: DateTime<Utc>) -> bool {
        let (Some(interval), Some(known)) =
            (interval.filter(|i| *i > Duration::zero()), &self.known)
        else {
            return false;
        };
        due_position(&known.marks, interval, now)
            .map(|due| self.part_end_at(due))
            .is_some_and(|due| self.reached().is_none_or(|reached| reached < due))
    }

    /// How far a cursor list's listing must read when the last one had read to `due`: to the
    /// end of that listing's part holding `due`. The last one may have counted a record
    /// anywhere in it by then, and a part is compared only once the listing under way has
    /// read past its end. Without this, a part astride two pages read syncs apart (a short
    /// stream: its first page in a listing's first sync, its second in its last) was compared
    /// up to a listing later, and a record counted from the first page and deleted after
    /// arrived that late (soak seed 13: a task 8 hours after its deletion, with a 6-hour
    /// interval). A numbered list reads whole windows, several to a part: it keeps to `due`.
    fn part_end_at(&self, due: i64) -> i64 {
        let numbered = matches!(
            self.def.kind,
            Kind::List {
                pages: Pages::Numbered { .. },
                ..
            }
        );
        let compared = self.round.as_ref().and_then(|r| r.parts.against.as_ref());
        let parts = (self.known.as_ref())
            .and_then(|k| k.parts.as_ref())
            .filter(|p| !numbered && compared == Some(&p.bounds));
        match parts {
            Some(parts) => due.max(parts.end(part_of(&parts.bounds, due))),
            None => due,
        }
    }

    /// How many records the listing may read in this sync at the server's time `now`, so that
    /// it completes within `interval` (all of it when there is no interval or no listing yet):
    /// the share of the stream the time since the listing began is due, less what it read
    /// already (a sync that read a large window ahead of time lets the next ones read less).
    pub(super) fn records_due(&self, interval: Option<Duration>, now: DateTime<Utc>) -> u64 {
        let Some(interval) = interval.filter(|i| *i > Duration::zero()) else {
            return u64::MAX;
        };
        // Due from the end of the last listing: the next one begins where it left off.
        let (since, total, read) = match (&self.round, &self.known) {
            (Some(r), Some(k)) => (k.last, k.total.max(r.total), r.read),
            (Some(r), None) => (r.at, r.total, r.read),
            (None, Some(k)) => (k.last, k.total, 0),
            (None, None) => return u64::MAX,
        };
        let elapsed = (now - since).max(Duration::zero());
        let share = elapsed.num_milliseconds() as f64 / interval.num_milliseconds() as f64;
        ((total.max(1) as f64 * share).ceil() as u64).saturating_sub(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i64) -> DateTime<Utc> {
        crate::time::parse_instant("2026-01-01T00:00:00Z").unwrap() + Duration::hours(hours)
    }

    #[test]
    fn a_listing_is_due_where_the_last_one_stood_one_interval_before() {
        let marks = vec![(at(0), 10), (at(1), 20), (at(5), i64::MAX)];
        let six = Duration::hours(6);
        assert_eq!(due_position(&marks, six, at(5)), None);
        assert_eq!(due_position(&marks, six, at(6)), Some(10));
        assert_eq!(
            due_position(&marks, six, at(6) + Duration::minutes(59)),
            Some(10)
        );
        assert_eq!(due_position(&marks, six, at(7)), Some(20));
        assert_eq!(due_position(&marks, six, at(11)), Some(i64::MAX));
    }

    #[test]
    fn marks_that_do_not_ascend_are_dropped() {
        let good = vec![(at(0), 10), (at(1), 20)];
        assert_eq!(restored(&good), good);
        assert_eq!(
            restored(&vec![(at(0), i64::MAX), (at(1), 20)]),
            Marks::new()
        );
        assert_eq!(restored(&vec![(at(1), 10), (at(0), 20)]), Marks::new());
    }

    #[test]
    fn marks_beyond_the_limit_merge_into_the_earlier_time_and_the_further_position() {
        let mut marks = Marks::new();
        for hour in 0..MARKS as i64 {
            mark(&mut marks, at(hour * 2), hour * 100);
        }
        // A sync that read nothing more adds no mark.
        mark(&mut marks, at(99), (MARKS as i64 - 1) * 100);
        assert_eq!(marks.len(), MARKS);
        // A sync a minute after the last: the two merge, the earlier time, the further position.
        let last = marks[MARKS - 1].0;
        mark(&mut marks, last + Duration::minutes(1), 10_000);
        assert_eq!(marks.len(), MARKS);
        assert_eq!(marks[MARKS - 1], (last, 10_000));
        // Never later than the marks it replaced: the position is due as soon as before.
        assert!(marks.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
    }
}
