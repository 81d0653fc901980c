//! What a full read of the emulator must return, stream by stream, so that the demo and the
//! bench check a sync the same way and compare like with like.
//!
//! Entity streams: the emulator's own count of its records. Windowed report streams return one
//! row per subject and 365-day window, which no count of the dataset gives; their rows are asked
//! of the emulator's report endpoints for the very windows the connector reads (the `total_entries`
//! of each window's first page), the same server answering both.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate, Utc};
use harvest_emulator::{Emulator, RateLimit};
use serde_json::Value;
use source_harvest::streams::{Cursor, STREAMS};

use crate::connector::Result;

/// The replication start date the demo and the bench configure.
pub const START_DATE: &str = "2024-01-01T00:00:00Z";

/// [`START_DATE`]'s day.
fn start_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1).expect("2024-01-01 is a date")
}

/// The windows a report read from [`START_DATE`] to today asks for, on the connector's grid:
/// 365 days each from the start date, the last one holding today.
pub fn report_windows() -> Vec<(NaiveDate, NaiveDate)> {
    windows(start_day(), Utc::now().date_naive())
}

fn windows(mut from: NaiveDate, last: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
    let mut cut = Vec::new();
    while from <= last {
        let to = from + Days::new(364);
        cut.push((from, to));
        from = to + Days::new(1);
    }
    cut
}

/// Records per stream that a read of every stream from [`START_DATE`] must return.
///
/// The report endpoints are asked with the emulator's rate limits lifted, then `limits` are set
/// again, which also makes the emulator forget every request it has counted against them: call
/// this before the connector's first request, so that the connector meets the limits exactly as
/// if these questions had not been asked. The request counts are reset too.
pub fn records(
    emulator: &Emulator,
    limits: (Option<RateLimit>, Option<RateLimit>),
) -> Result<BTreeMap<String, u64>> {
    let mut expected = emulator.expected_counts();
    emulator.set_limits(None, None);
    let rows = report_rows(emulator);
    emulator.set_limits(limits.0, limits.1);
    emulator.reset_request_counts();
    expected.extend(rows?);
    Ok(expected)
}

/// The rows each windowed report stream serves over [`report_windows`].
fn report_rows(emulator: &Emulator) -> Result<BTreeMap<String, u64>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let http = reqwest::Client::new();
    let windows = report_windows();
    runtime.block_on(async {
        let mut rows = BTreeMap::new();
        for def in STREAMS
            .iter()
            .filter(|s| s.cursor() == Cursor::ReportWindow)
        {
            let mut total = 0;
            for (from, to) in &windows {
                let url = format!(
                    "{}{}?from={}&to={}&per_page=1",
                    emulator.api_url(),
                    def.path,
                    from.format("%Y%m%d"),
                    to.format("%Y%m%d")
                );
                let page: Value = http
                    .get(&url)
                    .bearer_auth(harvest_emulator::PERSONAL_ACCESS_TOKEN)
                    .header("Harvest-Account-Id", harvest_emulator::ACCOUNT_ID)
                    .header("User-Agent", "source-harvest xtask (dev@localhost)")
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                total += page["total_entries"]
                    .as_u64()
                    .ok_or_else(|| format!("{url}: no total_entries in the emulator's answer"))?;
            }
            rows.insert(def.name.to_string(), total);
        }
        Ok(rows)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn windows_are_365_days_back_to_back_up_to_the_one_holding_the_last_day() {
        let cut = windows(day(2024, 1, 1), day(2026, 12, 1));
        assert_eq!(
            cut,
            [
                (day(2024, 1, 1), day(2024, 12, 30)),
                (day(2024, 12, 31), day(2025, 12, 30)),
                (day(2025, 12, 31), day(2026, 12, 30)),
            ]
        );
        assert_eq!(windows(day(2024, 1, 1), day(2024, 1, 1)).len(), 1);
        assert!(windows(day(2024, 1, 2), day(2024, 1, 1)).is_empty());
    }
}
