//! A report stream with dates: the windows of its grid (see `read::cursor::grid`) that the pass
//! reads, each row gaining the window's `from` and `to`.
//!
//! An incremental pass reads again the windows of its look-back, whose rows replace those of
//! the previous read in a deduplicating destination. A row that read had and this one lacks
//! (its time moved to another project, or was deleted) would stay there with its old totals, so
//! the keys of each window's rows are kept in the state, and a row gone from a window read
//! again gets a tombstone.

use chrono::{DateTime, Utc};

use crate::protocol::{Extra, Extras};
use crate::read::cursor::{CursorPolicy, RecordFilter, Window};
use crate::read::deletions::DELETED_AT;
use crate::read::derive::member;
use crate::read::emit::Emitter;
use crate::read::error::StreamError;
use crate::read::walk;
use crate::read::{Job, Run};
use crate::state::{Position, ReportWindows, RowKeys, WindowRows};
use crate::streams::StreamDef;

/// Reads every window of the pass, checkpointing inside a window at page boundaries and
/// between windows.
pub(super) async fn read_windows(
    run: &Run,
    job: &Job,
    out: &mut Emitter<'_>,
) -> Result<Position, StreamError> {
    let def = job.sel.def;
    let cursors = CursorPolicy::new(&run.config, &job.sel, &job.position);
    let today = run.server_today().await;
    let pass = cursors.report_pass(today, run.config.report_lookback_days);
    if pass.windows.is_empty() {
        // A state in the future, or an end date before the start: nothing to read or compare.
        out.running()?;
        return out.finish(pass.completed(job.position.windows.clone()));
    }
    let mut rows = RowCapture::new(run, job).await;
    // A link into the first window, unless an older version's window (not on the grid) holds it.
    let mut resumed = cursors
        .resume()
        .filter(|r| r.next.is_some() && r.from == pass.windows.first().map(|w| w.0))
        .cloned();
    let filter = RecordFilter::none();
    out.running()?;
    for (i, &(from, to)) in pass.windows.iter().enumerate() {
        // A window resumed mid-way: its total counts rows an earlier run already sent.
        let mut window_start = resumed.is_none();
        let (first, mut seen) = match resumed.take() {
            Some(resume) => (
                run.links
                    .resume(resume.next.as_deref().expect("filtered"))?,
                resume.rows.unwrap_or_default(),
            ),
            None => (
                run.first_url(
                    def.path,
                    vec![
                        ("from", crate::time::format_date(from)),
                        ("to", crate::time::format_date(to)),
                    ],
                ),
                RowKeys::default(),
            ),
        };
        let extras = Extras::new(&[Extra::Window { from, to }]);
        let mut seen_at = None;
        walk::walk(&run.client, &run.links, def, first, |page, date, next| {
            // Harvest counts a window's rows, not the stream's: the estimate is what was read
            // so far plus this window, exact once the last window begins.
            if let Some(total) = page.total_entries.filter(|_| window_start) {
                out.estimate(out.total() + total)?;
            }
            window_start = false;
            seen_at = date.or(seen_at);
            out.records(&page.records, &filter, &extras);
            if rows.capture {
                for record in &page.records {
                    rows.key(def, record.raw, &mut seen);
                }
            }
            out.flush_page()?;
            if let Some(next) = next {
                let kept = rows.capture.then_some(&seen);
                out.checkpoint(pass.in_window(from, next, kept, rows.windows()))?;
            }
            Ok(())
        })
        .await?;
        rows.window_read(def, (from, to), seen, seen_at, out);
        if let Some(&(next, _)) = pass.windows.get(i + 1) {
            out.state(&pass.between(next, rows.windows()))?;
        }
    }
    out.finish(pass.completed(rows.into_windows()))
}

/// The keys of the rows of the windows read, and the previous read's to compare them with.
struct RowCapture {
    /// Whether keys are kept: an incremental read that captures deletions, by a user Harvest
    /// named.
    capture: bool,
    /// Whether the state's windows were read by the same user, so that a row missing now is
    /// gone rather than hidden.
    compare: bool,
    windows: ReportWindows,
}

impl RowCapture {
    async fn new(run: &Run, job: &Job) -> RowCapture {
        let incremental = job.sel.mode == crate::protocol::SyncMode::Incremental;
        let user = if incremental && run.config.capture_deletions {
            run.identity().await
        } else {
            None
        };
        let previous = job.position.windows.clone().unwrap_or_default();
        let compare = user.is_some() && previous.user == user;
        RowCapture {
            capture: user.is_some(),
            compare,
            windows: ReportWindows {
                read: if compare { previous.read } else { Vec::new() },
                user,
            },
        }
    }

    /// Adds the key of a row (its raw text) to `seen`; a row without its subject's id has no
    /// key to keep, and is only logged.
    fn key(&self, def: &StreamDef, raw: &str, seen: &mut RowKeys) {
        let subject = def.primary_key()[0];
        let value = |field| member(raw, field).ok().flatten().map(|v| v.get());
        let id = value(subject).and_then(|v| v.parse::<i64>().ok());
        let currency = value("currency").and_then(|v| serde_json::from_str::<String>(v).ok());
        match id {
            Some(id) => seen.insert(currency.as_deref().unwrap_or(""), id),
            None => tracing::warn!(
                "stream {}: a row without {subject} cannot be told from others; a later read cannot say whether it went",
                def.name
            ),
        }
    }

    /// A window was read whole with rows `seen`: a tombstone for each row its previous read had
    /// that this one lacks, and `seen` kept for the next.
    fn window_read(
        &mut self,
        def: &StreamDef,
        window: Window,
        seen: RowKeys,
        at: Option<DateTime<Utc>>,
        out: &mut Emitter<'_>,
    ) {
        if !self.capture {
            return;
        }
        let (from, to) = window;
        let previous = self
            .windows
            .read
            .iter()
            .position(|w| w.from == from && w.to == to);
        if let Some(i) = previous.filter(|_| self.compare) {
            let at = crate::time::format_instant(at.unwrap_or_else(Utc::now));
            let mut gone = 0;
            for (currency, id) in self.windows.read[i].rows.missing_from(&seen) {
                out.tombstone(&tombstone(def, window, currency, id, &at));
                gone += 1;
            }
            if gone > 0 {
                tracing::info!(
                    "stream {}: {gone} rows of the window {from}..{to} are gone since the previous read; sent as deleted",
                    def.name
                );
            }
        }
        // A window without rows has none that can go: it is not kept.
        let rows = (!seen.is_empty()).then_some(WindowRows {
            from,
            to,
            rows: seen,
        });
        match (previous, rows) {
            (Some(i), Some(rows)) => self.windows.read[i] = rows,
            (Some(i), None) => {
                self.windows.read.remove(i);
            }
            (None, Some(rows)) => {
                self.windows.read.push(rows);
                self.windows.read.sort_by_key(|w| w.from);
            }
            (None, None) => {}
        }
    }

    /// The windows to carry in a STATE (none when keys are not kept).
    fn windows(&self) -> Option<&ReportWindows> {
        self.capture.then_some(&self.windows)
    }

    fn into_windows(self) -> Option<ReportWindows> {
        self.capture.then_some(self.windows)
    }
}

/// The tombstone of a report row: its key, the window and when it was seen gone.
fn tombstone(def: &StreamDef, (from, to): Window, currency: &str, id: i64, at: &str) -> String {
    let currency = (!currency.is_empty()).then_some(currency);
    serde_json::json!({
        (def.primary_key()[0]): id,
        "currency": currency,
        "from": crate::time::format_date(from),
        "to": crate::time::format_date(to),
        DELETED_AT: at,
    })
    .to_string()
}
