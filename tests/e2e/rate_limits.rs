//! Consecutive connector processes under Harvest's rate limits: each process starts with an
//! empty limiter while the server still counts the previous one's requests, so only the
//! limiter's shape (src/harvest/limiter.rs) keeps check → read → read again free of 429s.

use std::time::Duration;

use harvest_emulator::{Emulator, EmulatorConfig, RateLimit, Scale};
use serde_json::json;

use crate::common::{self, ReadInput};

/// Harvest's general limit with a window ten times shorter: the same count, and a 30 ms margin
/// that absorbs the scheduling jitter of a busy machine.
const GENERAL: RateLimit = RateLimit {
    requests: 100,
    window: Duration::from_millis(1_500),
};

/// Harvest's reports limit, ten times faster.
const REPORTS: RateLimit = RateLimit {
    requests: 100,
    window: Duration::from_secs(90),
};

#[test]
fn check_then_read_then_read_again_get_no_429() {
    let emu = Emulator::start(EmulatorConfig {
        scale: Scale::Small,
        general_limit: Some(GENERAL),
        reports_limit: Some(REPORTS),
        ..EmulatorConfig::default()
    })
    .expect("the emulator starts");
    // One report window (the last 365 days): each read's report requests fit in its burst.
    let start = chrono::Utc::now() - chrono::Duration::days(300);
    let config = common::config(
        &emu,
        json!({
            "replication_start_date": start.format("%Y-%m-%dT00:00:00Z").to_string(),
            "requests_per_window": GENERAL.requests,
            "window_seconds": GENERAL.window.as_secs_f64(),
            "report_requests_per_window": REPORTS.requests,
            "report_window_seconds": REPORTS.window.as_secs_f64(),
        }),
    );
    let input = ReadInput::new(&config, &common::all_streams(), "incremental");

    let check = common::run(&["check", "--config", input.config.to_str().unwrap()]);
    let status = check.of_type("CONNECTION_STATUS");
    assert_eq!(
        status[0]["connectionStatus"]["status"], "SUCCEEDED",
        "{}",
        check.stderr
    );
    let first = input.read(None);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let second = input.read(Some(&first.final_state()));
    assert_eq!(second.code, 0, "{}", second.stderr);

    let counts = emu.request_counts();
    let general = counts.total
        - counts
            .by_path
            .iter()
            .filter(|(p, _)| p.starts_with("/v2/reports/"))
            .map(|(_, n)| n)
            .sum::<u64>();
    assert!(
        general > 2 * u64::from(GENERAL.requests),
        "the processes sent more than two windows' budget ({general} general requests), so a \
         limiter that bursts a whole window at its start would have met a 429"
    );
    assert_eq!(
        counts.status(429),
        0,
        "responses by status: {:?}",
        counts.by_status
    );
}
