//! Report streams a warehouse can sum (issue 23): windows on a grid counted from the start
//! date, a primary key naming one row of one window, a look-back of windows read again, and a
//! tombstone for a row gone from a window read again. The truth is the emulator's own report
//! for each window and its time entries, read through its API.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, NaiveDate};
use harvest_emulator::{Emulator, Scale};
use serde_json::{json, Value};
use source_harvest::streams::{Kind, StreamDef, STREAMS};

use crate::common::*;
use crate::resilience::{is_tombstone, keyed, record_key, replica, union, Keyed};
use crate::truth::{default_start, grid, report_rows, served_records, today, Api};

/// The report streams with dates, as the stream table says.
pub fn dated() -> Vec<&'static StreamDef> {
    let dated: Vec<_> = STREAMS
        .iter()
        .filter(|s| {
            matches!(
                s.kind,
                Kind::Report {
                    window_days: Some(_),
                    ..
                }
            )
        })
        .collect();
    assert_eq!(dated.len(), 9, "nine report streams have dates");
    dated
}

fn names(defs: &[&'static StreamDef]) -> Vec<&'static str> {
    defs.iter().map(|d| d.name).collect()
}

fn day_text(day: NaiveDate) -> String {
    day.format("%Y%m%d").to_string()
}

/// The first day of the month after `day`'s.
fn first_of_next_month(day: NaiveDate) -> NaiveDate {
    let (year, month) = match day.month() {
        12 => (day.year() + 1, 1),
        m => (day.year(), m + 1),
    };
    NaiveDate::from_ymd_opt(year, month, 1).unwrap()
}

/// Harvest's report `def` for every window of the grid up to `last`, each row with the
/// window's `from` and `to`, keyed as the destination keys them.
pub fn served(
    emu: &Emulator,
    def: &StreamDef,
    start: NaiveDate,
    last: NaiveDate,
) -> BTreeMap<String, Value> {
    report_rows(&Api::new(emu), def, start, last)
        .into_iter()
        .map(|row| (record_key(def.name, &row), row))
        .collect()
}

/// Asserts the replica holds, for every report stream with dates, exactly Harvest's rows of
/// every window of the grid up to `last`, row for row.
fn assert_replica_is_harvests(
    emu: &Emulator,
    held: &Keyed,
    start: NaiveDate,
    last: NaiveDate,
    when: &str,
) {
    for def in dated() {
        let truth = served(emu, def, start, last);
        assert!(!truth.is_empty(), "{when}: Harvest has {} rows", def.name);
        let got = held.get(def.name).cloned().unwrap_or_default();
        let missing: Vec<_> = truth.keys().filter(|k| !got.contains_key(*k)).collect();
        let extra: Vec<_> = got.keys().filter(|k| !truth.contains_key(*k)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{when}: {}: rows missing {missing:?}, rows Harvest does not have {extra:?}",
            def.name
        );
        for (key, row) in &truth {
            assert_eq!(&got[key], row, "{when}: {} {key}", def.name);
        }
    }
}

/// Hours in hundredths, as Harvest rounds them.
fn hundredths(v: &Value) -> i64 {
    (v.as_f64().unwrap_or(0.0) * 100.0).round() as i64
}

/// Where a sync is killed: after its `n`-th STATE, or at its first STATE inside a window past
/// its second page (one that carries the window's rows read so far).
#[derive(Clone, Copy)]
enum Kill {
    AfterStates(usize),
    InsideWindow,
}

/// Runs a sync from `state`, killed when `kill` says, as the platform sees it: every message up
/// to the kill, and the state it then holds.
fn sync(input: &ReadInput, state: Option<&Value>, kill: Option<Kill>) -> (Run, Value) {
    let Some(kill) = kill else {
        let run = input.read(state);
        assert_eq!(run.code, 0, "{}", run.logs());
        let next = merged(state, &run);
        return (run, next);
    };
    let mut child = input.spawn(state);
    let mut messages = Vec::new();
    let mut states = 0;
    let mut killed = false;
    for line in lines(&mut child) {
        let message: Value = serde_json::from_str(&line).expect("a JSON line");
        let is_state = message["type"] == "STATE";
        states += usize::from(is_state);
        let now = match kill {
            Kill::AfterStates(n) => states == n,
            // Past its second page: a resumed pass reads again the page before its link (rows
            // may have moved back onto it), so rows read before that must come from the state.
            Kill::InsideWindow => {
                let resume = &message["state"]["stream"]["stream_state"]["resume"];
                is_state
                    && resume["rows"].is_object()
                    && resume["next"]
                        .as_str()
                        .is_some_and(|next| next.contains("&page=3&"))
            }
        };
        messages.push(message);
        if now {
            child.kill().expect("SIGKILL");
            killed = true;
            break;
        }
    }
    assert!(killed, "the sync reached its kill point");
    child.wait().expect("the killed run ends");
    let run = Run {
        messages,
        code: -9,
        stderr: String::new(),
        stdout: String::new(),
    };
    let next = merged(state, &run);
    (run, next)
}

#[test]
fn incremental_syncs_over_days_and_a_month_boundary_keep_every_report_window_harvests() {
    let emu = emulator(Scale::Small);
    // Three days before the end of next month: the syncs below cross into the month after,
    // where a window of the grid begins too, so that a correction of last month's time is in
    // the window before today's, read again only because the look-back covers it.
    let now = today(&emu);
    let boundary = first_of_next_month(first_of_next_month(now));
    emu.advance_clock((boundary - Duration::days(3) - now).num_seconds());
    let start = boundary - Duration::days(6 * 365);
    let defs = dated();
    let config = config(
        &emu,
        json!({"replication_start_date": format!("{start}T00:00:00Z")}),
    );
    let input = ReadInput::new(&config, &names(&defs), "incremental");

    let (first, mut state) = sync(&input, None, None);
    let mut held = replica(keyed(&first.messages));
    assert_replica_is_harvests(&emu, &held, start, today(&emu), "after the first sync");
    let before_boundary = today(&emu);

    let mut tracked: Vec<i64> = Vec::new();
    for day in 1..=6 {
        emu.advance_clock(24 * 3600);
        // Time tracked today, and an expense.
        for _ in 0..3 {
            let entry = emu.create("time_entries", json!({"hours": 2.5, "billable": true}));
            tracked.push(entry["id"].as_i64().unwrap());
        }
        emu.create("expenses", json!({"total_cost": 42.5, "billable": true}));
        match day {
            // A correction of time tracked last month (inside the look-back).
            4 => {
                let fixed = emu
                    .update("time_entries", tracked[0], json!({"hours": 6.5}))
                    .expect("the entry exists");
                let spent = fixed["spent_date"].as_str().unwrap();
                let spent = NaiveDate::parse_from_str(spent, "%Y-%m-%d").unwrap();
                assert!(spent.month() != today(&emu).month(), "{spent}");
            }
            // Time deleted: its hours leave the window.
            5 => {
                assert!(emu.delete("time_entries", tracked[1]));
            }
            _ => {}
        }
        // One sync is killed after its second checkpoint, and the next resumes it.
        let kill = (day == 3).then_some(Kill::AfterStates(2));
        let (run, next) = sync(&input, Some(&state), kill);
        held = replica(union(held, keyed(&run.messages)));
        state = next;
        if kill.is_some() {
            let (resumed, next) = sync(&input, Some(&state), None);
            held = replica(union(held, keyed(&resumed.messages)));
            state = next;
        }
        assert_replica_is_harvests(&emu, &held, start, today(&emu), &format!("after day {day}"));
        for def in &defs {
            let to = state
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["stream"]["stream_descriptor"]["name"] == def.name);
            assert_eq!(
                to.unwrap()["stream"]["stream_state"]["to"],
                json!(day_text(today(&emu))),
                "{}: the state holds Harvest's day",
                def.name
            );
        }
    }
    assert!(
        today(&emu).month() != before_boundary.month(),
        "the syncs crossed a month"
    );

    // Summable: the replica's hours are Harvest's time entries' over the grid's range.
    assert_eq!(grid(start, 365, today(&emu)).last().unwrap().0, boundary);
    let last = grid(start, 365, today(&emu)).last().unwrap().1;
    let entries = served_records(
        &emu,
        &format!(
            "/time_entries?from={}&to={}",
            day_text(start),
            day_text(last)
        ),
        "time_entries",
    );
    assert!(!entries.is_empty());
    let tracked_hours: i64 = entries.iter().map(|e| hundredths(&e["hours"])).sum();
    for stream in ["time_clients", "time_projects", "time_tasks", "time_team"] {
        let rows = &held[stream];
        assert!(!rows.is_empty());
        let summed: i64 = rows.values().map(|r| hundredths(&r["total_hours"])).sum();
        assert_eq!(
            summed, tracked_hours,
            "{stream}: the replica sums to Harvest's hours"
        );
    }
    // And a full refresh of the same grid holds the same rows.
    let full = ReadInput::new(&config, &names(&defs), "full_refresh").read(None);
    assert_eq!(full.code, 0, "{}", full.logs());
    let refreshed = keyed(&full.messages);
    for def in &defs {
        assert_eq!(
            held[def.name], refreshed[def.name],
            "{}: as a full refresh",
            def.name
        );
    }
}

#[test]
fn a_row_gone_from_a_window_read_again_gets_a_tombstone_and_no_other_row_does() {
    let emu = emulator(Scale::Small);
    let defs = dated();
    // Every window is read again: the rows of old windows can go too. Pages of ten rows, and
    // a checkpoint after each, so that the sync killed below stops inside a window.
    let config = config(
        &emu,
        json!({"report_lookback_days": 3650, "page_size": 10, "checkpoint_interval": 10}),
    );
    let input = ReadInput::new(&config, &names(&defs), "incremental");
    let (first, state) = sync(&input, None, None);
    let mut held = replica(keyed(&first.messages));
    let last = today(&emu);
    let before: BTreeMap<&str, BTreeMap<String, Value>> = defs
        .iter()
        .map(|d| (d.name, served(&emu, d, default_start(), last)))
        .collect();

    // The project with the fewest time entries and the one with the fewest expenses lose
    // them all: their rows leave every window and every report.
    let fewest = |stream: &str| -> Vec<i64> {
        let mut by_project: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for r in served_records(&emu, &format!("/{stream}"), stream) {
            by_project
                .entry(r["project"]["id"].as_i64().unwrap())
                .or_default()
                .push(r["id"].as_i64().unwrap());
        }
        by_project
            .into_values()
            .min_by_key(Vec::len)
            .expect("records")
    };
    for (stream, ids) in [
        ("time_entries", fewest("time_entries")),
        ("expenses", fewest("expenses")),
    ] {
        for id in ids {
            assert!(emu.delete(stream, id));
        }
    }
    emu.advance_clock(3600);
    // Killed inside windows, and resumed: the rows read before the kill are kept in the
    // state with the resume point, or they would look gone.
    let (killed, state) = sync(&input, Some(&state), Some(Kill::InsideWindow));
    let (resumed, _) = sync(&input, Some(&state), None);
    let mut second = killed;
    second.messages.extend(resumed.messages);
    held = replica(union(held, keyed(&second.messages)));

    let mut gone_anywhere = 0;
    for def in &defs {
        let after = served(&emu, def, default_start(), last);
        let gone: BTreeSet<&String> = before[def.name]
            .keys()
            .filter(|k| !after.contains_key(*k))
            .collect();
        let sent: BTreeSet<String> = second
            .stream(def.name)
            .iter()
            .filter(|r| is_tombstone(r))
            .map(|r| record_key(def.name, r))
            .collect();
        assert_eq!(
            sent.iter().collect::<BTreeSet<_>>(),
            gone,
            "{}: a tombstone for each row Harvest no longer has, and only those",
            def.name
        );
        gone_anywhere += gone.len();
    }
    assert!(
        gone_anywhere >= 4,
        "rows went from the time and expense reports"
    );
    assert_replica_is_harvests(&emu, &held, default_start(), last, "after the deletions");
}

#[test]
fn a_state_written_before_the_grid_reads_its_look_back_on_the_grid() {
    let emu = emulator(Scale::Small);
    let today = today(&emu);
    let defs = dated();
    let input = ReadInput::new(&config(&emu, json!({})), &names(&defs), "incremental");
    // The incumbent's state: the last `to` it read, a week ago.
    let week_ago = today - Duration::days(7);
    let state = Value::Array(
        defs.iter()
            .map(|d| {
                json!({"type": "STREAM", "stream": {
                    "stream_descriptor": {"name": d.name},
                    "stream_state": {"to": day_text(week_ago)}
                }})
            })
            .collect(),
    );
    let (run, next) = sync(&input, Some(&state), None);
    let look_back = week_ago - Duration::days(62);
    let expected: BTreeSet<(String, String)> = grid(default_start(), 365, today)
        .into_iter()
        .filter(|(_, to)| *to >= look_back)
        .map(|(from, to)| (day_text(from), day_text(to)))
        .collect();
    for def in &defs {
        let read: BTreeSet<(String, String)> = run
            .stream(def.name)
            .iter()
            .map(|r| {
                (
                    r["from"].as_str().unwrap().into(),
                    r["to"].as_str().unwrap().into(),
                )
            })
            .collect();
        let served_windows: BTreeSet<(String, String)> = expected
            .iter()
            .filter(|(from, to)| {
                !served_records(
                    &emu,
                    &format!("{}?from={from}&to={to}", def.path),
                    "results",
                )
                .is_empty()
            })
            .cloned()
            .collect();
        assert!(!served_windows.is_empty(), "{}", def.name);
        assert_eq!(
            read, served_windows,
            "{}: the grid's windows of the look-back",
            def.name
        );
        let stream_state = next
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stream"]["stream_descriptor"]["name"] == def.name)
            .unwrap()["stream"]["stream_state"]
            .clone();
        assert_eq!(stream_state["to"], json!(day_text(today)), "{}", def.name);
    }
}

#[test]
fn an_hourly_sync_of_every_report_makes_a_request_or_two_per_report() {
    let emu = emulator(Scale::Small);
    let reports: Vec<&str> = STREAMS
        .iter()
        .filter(|s| matches!(s.kind, Kind::Report { .. }))
        .map(|s| s.name)
        .collect();
    assert_eq!(reports.len(), 10);
    let input = ReadInput::new(&config(&emu, json!({})), &reports, "incremental");
    let (_, state) = sync(&input, None, None);
    let windows = grid(default_start(), 365, today(&emu)).len() as u64;
    let first = emu.request_counts();
    let report_requests = |counts: &harvest_emulator::RequestCounts| -> u64 {
        counts
            .by_path
            .iter()
            .filter(|(p, _)| p.starts_with("/v2/reports/"))
            .map(|(_, n)| *n)
            .sum()
    };
    assert_eq!(
        report_requests(&first),
        9 * windows + 1,
        "the first sync: one request per window of each dated report, one for the budget"
    );
    emu.reset_request_counts();
    emu.advance_clock(3600);
    sync(&input, Some(&state), None);
    let hourly = report_requests(&emu.request_counts());
    // The window holding today, and the one before when the look-back reaches into it.
    let look_back_windows = grid(default_start(), 365, today(&emu))
        .iter()
        .filter(|(_, to)| *to >= today(&emu) - Duration::days(62))
        .count() as u64;
    assert_eq!(hourly, 9 * look_back_windows + 1, "an hourly sync");
    assert!(hourly <= 19);
}
