use serde_json::json;

use super::*;
use crate::state::WindowRows;
use crate::streams;
use crate::time::parse_instant;

fn config(end: Option<&str>) -> Config {
    let mut value = json!({
        "account_id": "1",
        "replication_start_date": "2024-01-01T00:00:00Z",
        "credentials": {"auth_type": "Token", "api_token": "t"},
    });
    if let Some(end) = end {
        value["replication_end_date"] = json!(end);
    }
    Config::from_json(&value).unwrap()
}

fn selected(stream: &str, mode: SyncMode) -> Selected {
    Selected {
        def: streams::find(stream).unwrap(),
        mode,
        fields: None,
    }
}

fn at(text: &str) -> DateTime<Utc> {
    parse_instant(text).unwrap()
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn the_lower_bound_is_the_watermark_in_incremental_and_never_before_the_start() {
    let config = config(None);
    let later = Position {
        updated_at: Some(at("2024-06-01T00:00:00Z")),
        ..Position::default()
    };
    let earlier = Position {
        updated_at: Some(at("2020-06-01T00:00:00Z")),
        ..Position::default()
    };
    let incremental = selected("clients", SyncMode::Incremental);
    let full = selected("clients", SyncMode::FullRefresh);
    assert_eq!(
        CursorPolicy::new(&config, &incremental, &later).lower_bound(),
        at("2024-06-01T00:00:00Z")
    );
    assert_eq!(
        CursorPolicy::new(&config, &incremental, &earlier).lower_bound(),
        config.start_date
    );
    assert_eq!(
        CursorPolicy::new(&config, &full, &later).lower_bound(),
        config.start_date
    );
}

#[test]
fn a_completed_pass_commits_its_watermark_capped_by_the_end_date() {
    let none = Position::default();
    let incremental = selected("clients", SyncMode::Incremental);
    let config_open = config(None);
    let cursors = CursorPolicy::new(&config_open, &incremental, &none);
    let mark = at("2024-03-01T00:00:00Z");
    assert_eq!(cursors.completed(Some(mark)).updated_at, Some(mark));
    let config_end = config(Some("2024-02-01T00:00:00Z"));
    let cursors = CursorPolicy::new(&config_end, &incremental, &none);
    assert_eq!(
        cursors.completed(Some(mark)).updated_at,
        Some(at("2024-02-01T00:00:00Z"))
    );
    // Never behind where the read started.
    let ahead = Position {
        updated_at: Some(at("2024-05-01T00:00:00Z")),
        ..Position::default()
    };
    let cursors = CursorPolicy::new(&config_open, &incremental, &ahead);
    assert_eq!(
        cursors.completed(Some(mark)).updated_at,
        Some(at("2024-05-01T00:00:00Z"))
    );
    // A full refresh and a stream without a cursor end as a finished full refresh.
    let full = selected("clients", SyncMode::FullRefresh);
    assert!(
        CursorPolicy::new(&config_open, &full, &none)
            .completed(Some(mark))
            .finished_full_refresh
    );
    let rates = selected("billable_rates", SyncMode::Incremental);
    assert!(
        CursorPolicy::new(&config_open, &rates, &none)
            .completed(Some(mark))
            .finished_full_refresh
    );
}

#[test]
fn a_resume_point_is_used_only_by_the_mode_that_wrote_it() {
    let config = config(None);
    let incremental_pass = Position {
        resume: Some(Resume {
            watermark: Some(at("2024-03-01T00:00:00Z")),
            next: Some("/v2/clients?page=3".into()),
            ..Resume::default()
        }),
        ..Position::default()
    };
    let full_pass = Position {
        resume: Some(Resume {
            next: Some("/v2/clients?page=3".into()),
            ..Resume::default()
        }),
        ..Position::default()
    };
    let incremental = selected("clients", SyncMode::Incremental);
    let full = selected("clients", SyncMode::FullRefresh);
    assert!(CursorPolicy::new(&config, &incremental, &incremental_pass)
        .resume()
        .is_some());
    assert!(CursorPolicy::new(&config, &full, &incremental_pass)
        .resume()
        .is_none());
    assert!(CursorPolicy::new(&config, &full, &full_pass)
        .resume()
        .is_some());
    assert!(CursorPolicy::new(&config, &incremental, &full_pass)
        .resume()
        .is_none());
    // A checkpoint keeps the cursor the pass started from, in incremental only.
    let started = Position {
        updated_at: Some(at("2024-02-01T00:00:00Z")),
        ..Position::default()
    };
    let resume = Resume::default();
    assert_eq!(
        CursorPolicy::new(&config, &incremental, &started)
            .in_progress(resume.clone())
            .updated_at,
        started.updated_at
    );
    assert_eq!(
        CursorPolicy::new(&config, &full, &started)
            .in_progress(resume)
            .updated_at,
        None
    );
}

#[test]
fn the_filter_keeps_records_within_the_bounds() {
    let config = config(Some("2024-02-01T00:00:00Z"));
    let none = Position::default();
    let filter =
        CursorPolicy::new(&config, &selected("clients", SyncMode::Incremental), &none).filter();
    let keys = |updated: &'static str| RecordKeys {
        id: Some("1"),
        updated_at: Some(updated),
        ..RecordKeys::default()
    };
    assert_eq!(filter.keep(&keys("\"2023-12-31T23:59:59Z\"")), Ok(false));
    assert_eq!(filter.keep(&keys("\"2024-01-15T00:00:00Z\"")), Ok(true));
    assert_eq!(
        filter.keep(&keys("\"2024-01-15T01:00:00+01:00\"")),
        Ok(true)
    );
    assert_eq!(filter.keep(&keys("\"2024-02-01T00:00:01Z\"")), Ok(false));
    assert!(filter.keep(&keys("\"soon\"")).is_err());
    assert!(filter
        .keep(&RecordKeys {
            id: None,
            updated_at: Some("\"2024-01-15T00:00:00Z\""),
            ..RecordKeys::default()
        })
        .is_err());
}

#[test]
fn report_windows_cover_the_range_and_checkpoint_at_the_next_window() {
    let config = config(Some("2025-06-30T00:00:00Z"));
    let none = Position::default();
    let sel = selected("time_team", SyncMode::Incremental);
    let today = day(2025, 7, 4);
    let pass = CursorPolicy::new(&config, &sel, &none).report_pass(today, 62);
    // The end date cuts the last window, not today.
    assert_eq!(
        pass.windows,
        vec![
            (day(2024, 1, 1), day(2024, 12, 30)),
            (day(2024, 12, 31), day(2025, 6, 30))
        ]
    );
    let between = pass.between(day(2024, 12, 31), None);
    assert_eq!(between.to, None, "an unfinished pass keeps the state's day");
    assert_eq!(between.resume.unwrap().from, Some(day(2024, 12, 31)));
    assert_eq!(pass.completed(None).to, Some(day(2025, 6, 30)));
    // A resumed pass starts at the window it was in.
    let resumed = Position {
        to: Some(day(2024, 6, 1)),
        resume: Some(Resume {
            from: Some(day(2024, 12, 31)),
            ..Resume::default()
        }),
        ..Position::default()
    };
    let pass = CursorPolicy::new(&config, &sel, &resumed).report_pass(today, 62);
    assert_eq!(pass.windows, vec![(day(2024, 12, 31), day(2025, 6, 30))]);
    assert_eq!(
        pass.between(day(2025, 1, 1), None).to,
        Some(day(2024, 6, 1))
    );
    // A full refresh starts at the start date whatever the state says.
    let full = selected("time_team", SyncMode::FullRefresh);
    let late = Position {
        to: Some(day(2025, 1, 1)),
        ..Position::default()
    };
    let pass = CursorPolicy::new(&config, &full, &late).report_pass(today, 62);
    assert_eq!(pass.windows[0].0, day(2024, 1, 1));
    assert!(pass.completed(None).finished_full_refresh);
}

#[test]
fn an_incremental_report_pass_reads_the_look_back_and_what_came_since() {
    let config = config(None);
    let sel = selected("time_team", SyncMode::Incremental);
    let at = |to| Position {
        to: Some(to),
        ..Position::default()
    };
    // The previous sync was today: the look-back alone, here inside one window.
    let pass =
        CursorPolicy::new(&config, &sel, &at(day(2025, 10, 2))).report_pass(day(2025, 10, 2), 62);
    assert_eq!(pass.windows, vec![(day(2024, 12, 31), day(2025, 12, 30))]);
    // Early in a window, the look-back reaches into the one before.
    let pass =
        CursorPolicy::new(&config, &sel, &at(day(2026, 1, 5))).report_pass(day(2026, 1, 5), 62);
    assert_eq!(
        pass.windows,
        vec![
            (day(2024, 12, 31), day(2025, 12, 30)),
            (day(2025, 12, 31), day(2026, 12, 30))
        ]
    );
    // A state a year and a half old: every window since its look-back.
    let pass =
        CursorPolicy::new(&config, &sel, &at(day(2024, 6, 1))).report_pass(day(2026, 1, 5), 0);
    assert_eq!(pass.windows.len(), 3);
    // The windows the next sync reads again keep their rows; older ones are dropped.
    let rows = |from, to| WindowRows {
        from,
        to,
        rows: RowKeys::default(),
    };
    let windows = ReportWindows {
        user: None,
        read: vec![
            rows(day(2024, 1, 1), day(2024, 12, 30)),
            rows(day(2024, 12, 31), day(2025, 12, 30)),
        ],
    };
    let pass =
        CursorPolicy::new(&config, &sel, &at(day(2026, 1, 20))).report_pass(day(2026, 1, 20), 62);
    let done = pass.completed(Some(windows));
    assert_eq!(done.to, Some(day(2026, 1, 20)));
    assert_eq!(
        done.windows.unwrap().read,
        vec![rows(day(2024, 12, 31), day(2025, 12, 30))]
    );
    // A state in the future reads nothing, and stays.
    let pass =
        CursorPolicy::new(&config, &sel, &at(day(2027, 1, 1))).report_pass(day(2026, 3, 5), 62);
    assert!(pass.windows.is_empty());
    assert_eq!(pass.completed(None).to, Some(day(2027, 1, 1)));
}
