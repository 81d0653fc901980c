//! The table `cargo xtask cost` prints: a line per sync of a series, two and a summary for the
//! `--steady` syncs after it, every line in the same columns.

use std::fmt::Display;
use std::path::Path;

use harvest_emulator::Scale;

use super::{SteadyCost, SyncCost};

/// The title and the columns' names.
pub(super) fn header(scale: Scale) {
    println!(
        "\nincremental syncs an hour apart, {scale:?} account (requests; time at Harvest's limits)"
    );
    line([
        &"child_sweep_hours",
        &"capture",
        &"sync",
        &"requests",
        &"reports",
        &"children",
        &"at limit (s)",
        &"records",
        &"max STATE (B)",
        &"STATEs (kB)",
    ]);
}

/// A sync of a series.
pub(super) fn sync(row: &SyncCost) {
    line([
        &row.child_sweep_hours,
        &on_off(row.capture_deletions),
        &row.sync,
        &row.requests,
        &row.reports,
        &row.child_requests,
        &format!("{:.0}", row.seconds_at_harvest_limit),
        &row.records,
        &row.largest_state_bytes,
        &format!("{} ({:.0})", row.states, kb(row.states_bytes)),
    ]);
}

/// The `--steady` syncs after a series: their most and their mean, and where the last state
/// was written (`end`).
pub(super) fn steady(row: &SteadyCost, end: &Path) {
    let capture = on_off(row.capture_deletions);
    line([
        &row.child_sweep_hours,
        &capture,
        &format!("{} more: max", row.syncs),
        &row.max_requests,
        &"",
        &"",
        &format!("{:.0}", row.max_seconds_at_harvest_limit),
        &"",
        &row.largest_state_bytes,
        &format!("{:.0}", kb(row.max_states_bytes)),
    ]);
    line([
        &row.child_sweep_hours,
        &capture,
        &format!("{} more: mean", row.syncs),
        &format!("{:.1}", row.mean_requests),
        &"",
        &"",
        &"",
        &"",
        &"",
        &format!("{:.0}", row.mean_states_bytes / 1000.0),
    ]);
    println!(
        "  {:<28} largest STATE {} B ({}); all streams' state at most {} B, the last in {}",
        "",
        row.largest_state_bytes,
        row.largest_state_stream,
        row.largest_whole_state_bytes,
        end.display()
    );
}

/// One line: the setting and the sync left-aligned, the figures right-aligned.
fn line(cells: [&dyn Display; 10]) {
    let [sweep, capture, sync, requests, reports, children, limit, records, state, states] = cells;
    println!(
        "  {sweep:<18} {capture:<8} {sync:<18} {requests:>9} {reports:>8} {children:>9} {limit:>12} {records:>11} {state:>12} {states:>14}"
    );
}

fn on_off(capture: bool) -> &'static str {
    if capture {
        "on"
    } else {
        "off"
    }
}

/// `bytes` in kB, as the table prints them.
fn kb(bytes: usize) -> f64 {
    bytes as f64 / 1000.0
}
