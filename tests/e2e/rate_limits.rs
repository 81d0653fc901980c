//! Consecutive connector processes under Harvest's rate limits: each process starts with an
//! empty limiter while the server still counts the previous one's requests, so only the
//! limiter's shape (src/harvest/limiter.rs) keeps check → read → read again free of 429s. And
//! when Harvest does throttle, the platform is told the stream waits (src/harvest/waiting.rs).

use std::time::Duration;

use harvest_emulator::{Emulator, EmulatorConfig, FaultKind, Faults, RateLimit, Scale};
use serde_json::{json, Value};

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
            // Every parent's children in both reads: more requests than two windows' budget.
            "child_sweep_hours": 0,
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

/// The stream statuses of `stream` in `run`, in order, each as its status or `RATE_LIMITED`
/// (a RUNNING with that reason), with the trace.
fn statuses_of<'a>(run: &'a common::Run, stream: &str) -> Vec<(&'static str, &'a Value)> {
    run.of_type("TRACE")
        .into_iter()
        .map(|m| &m["trace"])
        .filter(|t| t["type"] == "STREAM_STATUS")
        .filter(|t| t["stream_status"]["stream_descriptor"]["name"] == stream)
        .map(|t| {
            let status = &t["stream_status"];
            let shown = match (status["status"].as_str().unwrap(), status.get("reasons")) {
                ("RUNNING", Some(_)) => "RATE_LIMITED",
                ("STARTED", None) => "STARTED",
                ("RUNNING", None) => "RUNNING",
                ("COMPLETE", None) => "COMPLETE",
                other => panic!("unexpected status {other:?}: {t}"),
            };
            (shown, t)
        })
        .collect()
}

/// Records sorted by id, to compare a sync with the emulator's listing.
fn by_id(mut records: Vec<Value>) -> Vec<Value> {
    records.sort_by_key(|r| r["id"].as_i64());
    records
}

#[test]
fn a_stream_held_by_retry_after_is_running_rate_limited_until_it_goes_on() {
    let emu = common::emulator(Scale::Small);
    let expected = by_id(common::served_records(&emu, "/clients", "clients"));
    assert!(expected.len() > 4, "clients span several pages of 2");
    // Half the requests to /v2/clients get Harvest's 429 with `Retry-After: 1`; the draws are
    // seeded, so the same requests are throttled on every run.
    emu.set_faults(Faults {
        paths: vec!["/v2/clients".into()],
        ..Faults::mix(3, 0.5, &[FaultKind::Status429])
    });
    emu.reset_request_counts();
    let config = common::config(&emu, json!({"page_size": 2, "max_retries": 8}));
    let input = ReadInput::new(&config, &["clients"], "full_refresh");
    let run = input.read(None);
    assert_eq!(run.code, 0, "{}", run.logs());
    assert_eq!(
        by_id(run.stream("clients")),
        expected,
        "the emulator's clients"
    );

    let throttled = emu.request_counts().status(429);
    assert!(throttled > 0, "the emulator throttled some requests");
    let statuses = statuses_of(&run, "clients");
    let shown: Vec<&str> = statuses.iter().map(|(s, _)| *s).collect();
    let limited: Vec<&Value> = statuses
        .iter()
        .filter(|(s, _)| *s == "RATE_LIMITED")
        .map(|(_, t)| *t)
        .collect();
    // One request at a time (a full refresh of one list): each 429 is one wait of 1 s.
    assert_eq!(limited.len() as u64, throttled, "one per 429: {shown:?}");
    assert_eq!(shown.first(), Some(&"STARTED"), "{shown:?}");
    assert_eq!(shown.last(), Some(&"COMPLETE"), "{shown:?}");
    for (i, status) in shown.iter().enumerate() {
        if *status == "RATE_LIMITED" {
            assert_eq!(
                shown[i + 1],
                "RUNNING",
                "it goes on after waiting: {shown:?}"
            );
        }
    }
    let started = statuses[0].1["emitted_at"].as_i64().unwrap();
    for trace in limited {
        let reset = trace["stream_status"]["reasons"][0]["rate_limited"]["quota_reset"]
            .as_i64()
            .unwrap();
        let said = trace["emitted_at"].as_i64().unwrap();
        // `Retry-After: 1`: the reset is the second after the 429, never later.
        assert!(reset <= said + 1_000, "quota_reset {reset}, said at {said}");
        assert!(
            reset > started,
            "quota_reset {reset} before the stream started"
        );
    }
}
