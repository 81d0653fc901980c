//! The report grid: a report stream's windows are fixed, `days` long, counted from the start
//! date, so that every sync asks Harvest for the same windows and a window's rows replace the
//! ones an earlier sync read for it (the stream's primary key holds `from` and `to`).
//!
//! A window is never cut at today: the one holding today ends when the grid says, and is read
//! again by later syncs until it leaves the look-back. Only the end date, which does not move
//! between syncs, cuts the last window short.

use chrono::{Duration, NaiveDate};

/// A report window: its first and last day, both included.
pub(in crate::read) type Window = (NaiveDate, NaiveDate);

/// The windows of one stream's grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::read) struct Grid {
    /// The first day of the first window: the start date's.
    pub start: NaiveDate,
    /// Each window's length.
    pub days: i64,
    /// The end date's day: no window goes past it.
    pub end: Option<NaiveDate>,
}

impl Grid {
    /// The window holding `day` (the first window for a day before the start).
    pub fn window_of(&self, day: NaiveDate) -> Window {
        let index = (day - self.start).num_days().max(0) / self.days;
        let from = self.start + Duration::days(index * self.days);
        let to = from + Duration::days(self.days - 1);
        (from, self.end.map_or(to, |end| to.min(end)))
    }

    /// The windows holding a day of `first..=last` (clamped to the start and end dates),
    /// ascending.
    pub fn windows(&self, first: NaiveDate, last: NaiveDate) -> Vec<Window> {
        let last = self.end.map_or(last, |end| last.min(end));
        let mut windows = Vec::new();
        let mut day = first.max(self.start);
        while day <= last {
            let window = self.window_of(day);
            windows.push(window);
            day = window.1 + Duration::days(1);
        }
        windows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    const GRID: Grid = Grid {
        start: match NaiveDate::from_ymd_opt(2024, 1, 1) {
            Some(day) => day,
            None => panic!(),
        },
        days: 365,
        end: None,
    };

    #[test]
    fn windows_are_the_same_whichever_day_asks() {
        // 2024 is a leap year: its 365-day window ends on 30 December.
        assert_eq!(
            GRID.window_of(d("2024-01-01")),
            (d("2024-01-01"), d("2024-12-30"))
        );
        assert_eq!(
            GRID.window_of(d("2024-12-30")),
            (d("2024-01-01"), d("2024-12-30"))
        );
        assert_eq!(
            GRID.window_of(d("2024-12-31")),
            (d("2024-12-31"), d("2025-12-30"))
        );
        assert_eq!(
            GRID.window_of(d("2023-06-01")),
            (d("2024-01-01"), d("2024-12-30"))
        );
        for today in [
            d("2026-02-28"),
            d("2026-03-01"),
            d("2026-11-30"),
            d("2026-12-02"),
        ] {
            let windows = GRID.windows(GRID.start, today);
            assert_eq!(windows.len(), 3, "{today}");
            assert_eq!(windows[2], (d("2025-12-31"), d("2026-12-30")), "{today}");
        }
    }

    #[test]
    fn windows_cover_each_day_once_and_hold_the_range() {
        let windows = GRID.windows(d("2024-06-01"), d("2026-01-05"));
        assert_eq!(
            windows,
            vec![
                (d("2024-01-01"), d("2024-12-30")),
                (d("2024-12-31"), d("2025-12-30")),
                (d("2025-12-31"), d("2026-12-30")),
            ]
        );
        for pair in windows.windows(2) {
            assert_eq!(pair[0].1 + Duration::days(1), pair[1].0);
        }
        assert!(GRID.windows(d("2026-01-06"), d("2026-01-05")).is_empty());
    }

    #[test]
    fn the_end_date_cuts_the_last_window_and_nothing_is_read_past_it() {
        let grid = Grid {
            end: Some(d("2025-03-01")),
            ..GRID
        };
        assert_eq!(
            grid.windows(d("2024-01-01"), d("2026-12-02")),
            vec![
                (d("2024-01-01"), d("2024-12-30")),
                (d("2024-12-31"), d("2025-03-01")),
            ]
        );
        assert_eq!(
            grid.window_of(d("2025-02-01")),
            (d("2024-12-31"), d("2025-03-01"))
        );
        let before_start = Grid {
            end: Some(d("2023-12-31")),
            ..GRID
        };
        assert!(before_start.windows(GRID.start, d("2026-01-01")).is_empty());
    }
}
