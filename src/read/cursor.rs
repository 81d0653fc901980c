//! The cursor policy: the one place a read's lower bound, a pass's watermark, a resume point
//! and the position a STATE carries are computed.
//!
//! Harvest never sorts by `updated_at`, so the running maximum of `updated_at` is not a safe
//! checkpoint. A pass reads everything updated since the previous watermark; only a completed
//! pass moves the watermark, to the server's time at the start of the pass minus [`OVERLAP`].
//! An interrupted pass leaves a `resume` point so the next run finishes that same pass.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::catalog::Selected;
use crate::config::Config;
use crate::keys::RecordKeys;
use crate::protocol::SyncMode;
use crate::state::{Position, ReportWindows, Resume, RowKeys};
use crate::streams::{Cursor, Kind, StreamDef};

mod grid;
mod sweep;

use grid::Grid;
pub(super) use grid::Window;
pub(super) use sweep::SweepSlice;

/// Subtracted from the server time at the start of a pass to make the next watermark: covers
/// clock differences between Harvest's servers and writes committed while the pass started.
pub const OVERLAP: Duration = Duration::minutes(5);

/// The cursor policy of one stream's read: its row, its sync mode, the config's dates and the
/// position the state left it at.
pub(super) struct CursorPolicy<'a> {
    def: &'static StreamDef,
    incremental: bool,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    position: &'a Position,
}

impl<'a> CursorPolicy<'a> {
    /// The policy of `sel`'s read from `position`.
    pub(super) fn new(config: &Config, sel: &Selected, position: &'a Position) -> CursorPolicy<'a> {
        CursorPolicy {
            def: sel.def,
            incremental: sel.mode == SyncMode::Incremental,
            start: config.start_date,
            end: config.end_date,
            position,
        }
    }

    fn by_updated_at(&self) -> bool {
        self.def.cursor() == Cursor::UpdatedAt
    }

    /// The lower bound of `updated_at` for this read: the state's watermark in incremental
    /// mode (never before the start date), the start date otherwise.
    pub(super) fn lower_bound(&self) -> DateTime<Utc> {
        match self.position.updated_at.filter(|_| self.incremental) {
            Some(t) => t.max(self.start),
            None => self.start,
        }
    }

    /// The records to emit: those updated within the read's bounds (see [`RecordFilter`]).
    pub(super) fn filter(&self) -> RecordFilter {
        self.filter_from(self.lower_bound())
    }

    /// The records to emit from a list read whole whatever the watermark (a swept parent's
    /// children): those updated since the start date, within the end date.
    pub(super) fn whole_filter(&self) -> RecordFilter {
        self.filter_from(self.start)
    }

    fn filter_from(&self, lower: DateTime<Utc>) -> RecordFilter {
        let by_cursor = self.by_updated_at();
        RecordFilter {
            check_keys: self.def.primary_key() == ["id"],
            lower: by_cursor.then(|| crate::time::format_instant(lower)),
            upper: self
                .end
                .filter(|_| by_cursor)
                .map(crate::time::format_instant),
        }
    }

    /// The start date: the `updated_since` of a list read whole.
    pub(super) fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// Whether lists may be read whole, whatever the watermark, at the server's time `now`:
    /// not from a state in the future, which reads nothing until then (sweeps included).
    pub(super) fn may_read_whole(&self, now: DateTime<Utc>) -> bool {
        self.lower_bound() <= now
    }

    /// The pass to continue, if the state holds one that fits the sync mode: an incremental
    /// pass carries the watermark it will commit, a full refresh none.
    pub(super) fn resume(&self) -> Option<&'a Resume> {
        let resume = self.position.resume.as_ref()?;
        let fits = if self.incremental {
            resume.watermark.is_some() || !self.by_updated_at()
        } else {
            resume.watermark.is_none()
        };
        fits.then_some(resume)
    }

    /// The watermark a pass will commit, from the server's clock at its first response.
    pub(super) fn watermark_at(server_time: Option<DateTime<Utc>>) -> DateTime<Utc> {
        server_time.unwrap_or_else(Utc::now) - OVERLAP
    }

    /// The watermark a resume point carries: only an incremental pass by `updated_at` has one.
    pub(super) fn resume_watermark(
        &self,
        watermark: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        watermark.filter(|_| self.incremental && self.by_updated_at())
    }

    /// What the state says once the pass completed, `watermark` being the pass's own.
    pub(super) fn completed(&self, watermark: Option<DateTime<Utc>>) -> Position {
        if !(self.incremental && self.by_updated_at()) {
            return Position::finished_full_refresh();
        }
        let mut mark = watermark.unwrap_or_else(Utc::now);
        if let Some(end) = self.end {
            mark = mark.min(end);
        }
        Position {
            updated_at: Some(mark.max(self.lower_bound())),
            ..Position::default()
        }
    }

    /// What a child stream's state says once its pass completed, with the sweep it made.
    pub(super) fn completed_child(
        &self,
        watermark: DateTime<Utc>,
        slice: Option<&SweepSlice>,
    ) -> Position {
        Position {
            sweep: slice.map(|s| s.next),
            ..self.completed(Some(watermark))
        }
    }

    /// The position written at a checkpoint of an unfinished pass: the cursor it started from
    /// (incremental only) and where the pass is.
    pub(super) fn in_progress(&self, resume: Resume) -> Position {
        Position {
            updated_at: self.position.updated_at.filter(|_| self.incremental),
            to: self.position.to.filter(|_| self.incremental),
            resume: Some(resume),
            sweep: self.position.sweep.filter(|_| self.incremental),
            finished_full_refresh: false,
            deletions: self.position.deletions.clone().filter(|_| self.incremental),
            windows: None,
        }
    }

    /// A report stream's pass at Harvest's day `today`: the windows of the grid to read, which
    /// are (a resumed pass) those from the window in progress, (incremental) those holding a
    /// day of the `lookback_days` before the state's day or after it, or (full refresh, first
    /// sync) all of them, up to the one holding today.
    pub(super) fn report_pass(&self, today: NaiveDate, lookback_days: i64) -> ReportPass {
        let days = match self.def.kind {
            Kind::Report {
                window_days: Some(days),
                ..
            } => days,
            _ => unreachable!("windows are read only for reports with windows"),
        };
        let grid = Grid {
            start: self.start.date_naive(),
            days,
            end: self.end.map(|end| end.date_naive()),
        };
        let last = grid.end.map_or(today, |end| end.min(today));
        let to = self.position.to.filter(|_| self.incremental);
        let first = match (self.resume().and_then(|r| r.from), to) {
            (Some(from), _) => Some(from),
            // A state in the future reads nothing until then (see `warn_if_future`).
            (None, Some(to)) if to > today => None,
            (None, Some(to)) => Some(to - Duration::days(lookback_days)),
            (None, None) => Some(grid.start),
        };
        ReportPass {
            windows: first.map_or_else(Vec::new, |first| grid.windows(first, last)),
            last: last.max(to.unwrap_or(last)),
            kept_from: last - Duration::days(lookback_days),
            to,
            incremental: self.incremental,
        }
    }
}

/// A report stream's pass: the windows it reads, and the positions its STATEs carry.
pub(super) struct ReportPass {
    /// The windows to read, ascending.
    pub windows: Vec<Window>,
    /// The day the pass covers up to (Harvest's today, or the end date): the completed
    /// pass's `to`.
    last: NaiveDate,
    /// Windows ending before this day are not read again by the next sync, which keeps no rows
    /// of them.
    kept_from: NaiveDate,
    /// The state's day, which an unfinished pass keeps (incremental).
    to: Option<NaiveDate>,
    incremental: bool,
}

impl ReportPass {
    /// The position between two windows: the next begins at `from`.
    pub(super) fn between(&self, from: NaiveDate, windows: Option<&ReportWindows>) -> Position {
        self.unfinished(
            Resume {
                from: Some(from),
                ..Resume::default()
            },
            windows,
        )
    }

    /// The position of a checkpoint inside the window starting at `from`, whose rows so far
    /// have the keys `rows`.
    pub(super) fn in_window(
        &self,
        from: NaiveDate,
        next: &str,
        rows: Option<&RowKeys>,
        windows: Option<&ReportWindows>,
    ) -> Position {
        self.unfinished(
            Resume {
                from: Some(from),
                next: Some(next.to_string()),
                rows: rows.cloned(),
                ..Resume::default()
            },
            windows,
        )
    }

    fn unfinished(&self, resume: Resume, windows: Option<&ReportWindows>) -> Position {
        Position {
            to: self.to,
            resume: Some(resume),
            windows: windows.cloned().filter(|_| self.incremental),
            ..Position::default()
        }
    }

    /// What the state says once every window was read: the day covered, and the rows of the
    /// windows the next sync reads again.
    pub(super) fn completed(&self, windows: Option<ReportWindows>) -> Position {
        if !self.incremental {
            return Position::finished_full_refresh();
        }
        let windows = windows.map(|mut w| {
            w.read.retain(|window| window.to >= self.kept_from);
            w
        });
        Position {
            to: Some(self.last),
            windows,
            ..Position::default()
        }
    }
}

/// When a stream's state is after `now`, as the state says it: such a read is empty until then.
pub(super) fn future_by(position: &Position, now: DateTime<Utc>) -> Option<String> {
    match (position.updated_at, position.to) {
        (Some(t), _) if t > now => Some(crate::time::format_instant(t)),
        (_, Some(d)) if d > now.date_naive() => Some(crate::time::format_date(d)),
        _ => None,
    }
}

/// Warns when a stream's state is after Harvest's clock `now` (not this machine's, which may be
/// behind Harvest's): such a read is empty until then (Airbyte's abnormal-state test wants it
/// to succeed, not fail).
pub(super) fn warn_if_future(def: &StreamDef, position: &Position, now: DateTime<Utc>) {
    if let Some(when) = future_by(position, now) {
        tracing::warn!(
            "the state of stream {} is in the future ({when}): nothing will be read until then",
            def.name
        );
    }
}

/// Which records of a page are emitted: incremental streams keep what was updated within
/// `[lower, upper]`, whatever the server sent (a server that ignores `updated_since` still
/// yields a correct sync). Streams without a cursor keep everything.
#[derive(Debug)]
pub(super) struct RecordFilter {
    check_keys: bool,
    lower: Option<String>,
    upper: Option<String>,
}

impl RecordFilter {
    /// Keeps every record, unchecked (report rows, which have no id).
    pub(super) fn none() -> RecordFilter {
        RecordFilter {
            check_keys: false,
            lower: None,
            upper: None,
        }
    }

    /// Whether records' keys must be read at all.
    pub(super) fn needs_keys(&self) -> bool {
        self.check_keys || self.lower.is_some()
    }

    /// `Ok(true)` to emit, `Ok(false)` to skip, `Err` for a malformed record.
    pub(super) fn keep(&self, keys: &RecordKeys<'_>) -> Result<bool, String> {
        if self.check_keys {
            keys.id()?;
        }
        if self.lower.is_none() && self.upper.is_none() {
            return Ok(true);
        }
        let updated = keys.updated_at()?;
        if let Some(lower) = &self.lower {
            if compare_instants(updated, lower)?.is_lt() {
                return Ok(false);
            }
        }
        match &self.upper {
            Some(upper) => Ok(compare_instants(updated, upper)?.is_le()),
            None => Ok(true),
        }
    }
}

/// Compares a record's timestamp with one of ours. Harvest's fixed `YYYY-MM-DDTHH:MM:SSZ`
/// compares as text (no parsing on the hot path); anything else is parsed.
fn compare_instants(record: &str, ours: &str) -> Result<std::cmp::Ordering, String> {
    if record.len() == 20 && record.ends_with('Z') && record.as_bytes()[10] == b'T' {
        return Ok(record.cmp(ours));
    }
    let parsed = crate::time::parse_instant(record)
        .ok_or_else(|| format!("its updated_at is not a date-time: {record:.40}"))?;
    Ok(parsed.cmp(&crate::time::parse_instant(ours).expect("ours are well-formed")))
}

#[cfg(test)]
mod tests;
