//! Kill and resume (issue 5, point 2): the connector is killed with SIGKILL at seeded points of
//! a sync — after the k-th STATE or the k-th record of the stream it is reading — and each time
//! the next run starts from the last STATE of each stream emitted so far, as the platform
//! would. The union of everything emitted, deduplicated by primary key, is exactly what the
//! emulator serves; the duplicates stay within the documented overlap.
//!
//! Synchronisation is by what the connector prints, never by time: a run is killed when the
//! test has read the chosen message. Whatever the connector had written to stdout before dying
//! still counts (the platform reads it too), except a line cut off by the kill.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};

use crate::common::*;
use crate::resilience::*;
use harvest_emulator::Scale;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// Records per page and per checkpoint: small, so that a modest dataset has many checkpoints.
const PAGE_SIZE: u64 = 10;

/// Entity streams with page and cursor pagination, report windows, a child stream and a full
/// refresh child, so that the kills land in every kind of pass.
const STREAMS: [&str; 7] = [
    "expenses",
    "projects",
    "time_entries",
    "expenses_clients",
    "time_team",
    "invoice_payments",
    "billable_rates",
];

/// The sync is killed at most this many times in each stream.
const KILLS_PER_STREAM: usize = 6;

/// Where a run is killed: once the test has read the `k`-th STATE (or record) of the streams
/// in `eligible`, whichever the connector is reading.
#[derive(Debug)]
struct KillPoint {
    eligible: Vec<&'static str>,
    on_state: bool,
    k: u64,
}

/// What one run printed up to its death.
struct Partial {
    messages: Vec<Value>,
    /// The stream whose message triggered the kill, if the run was killed.
    killed_in: Option<String>,
    /// Bytes of a last line the kill cut off (discarded, as the platform would).
    cut_line: usize,
}

fn state_stream(m: &Value) -> Option<&str> {
    (m["type"] == "STATE")
        .then(|| m["state"]["stream"]["stream_descriptor"]["name"].as_str())
        .flatten()
}

fn record_stream(m: &Value) -> Option<&str> {
    (m["type"] == "RECORD")
        .then(|| m["record"]["stream"].as_str())
        .flatten()
}

/// Runs `read` and SIGKILLs it at `point`, then reads what it had already written.
fn run_and_kill(input: &ReadInput, state: Option<&Value>, point: &KillPoint) -> Partial {
    let mut child = input.spawn(state);
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout piped"));
    let mut messages = Vec::new();
    let mut seen = 0;
    let mut killed_in = None;
    let mut cut_line = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        if stdout.read_until(b'\n', &mut line).expect("stdout") == 0 {
            break;
        }
        if !line.ends_with(b"\n") {
            assert!(killed_in.is_some(), "only a kill cuts a line");
            cut_line = line.len();
            break;
        }
        let message: Value = serde_json::from_slice(&line).expect("a JSON line");
        assert_valid_message(&message);
        let hit = if point.on_state {
            state_stream(&message)
        } else {
            record_stream(&message)
        }
        .filter(|s| point.eligible.contains(s))
        .map(str::to_string);
        messages.push(message);
        if let Some(stream) = hit.filter(|_| killed_in.is_none()) {
            seen += 1;
            if seen == point.k {
                child.kill().expect("SIGKILL");
                killed_in = Some(stream);
            }
        }
    }
    let status = child.wait().expect("the run ends");
    if killed_in.is_none() {
        assert!(status.success(), "a run that was not killed completes");
    }
    Partial {
        messages,
        killed_in,
        cut_line,
    }
}

/// Per stream, records emitted after its last STATE in `messages`: what a resumed run reads
/// again.
fn tails(messages: &[Value]) -> BTreeMap<String, u64> {
    let mut tails: BTreeMap<String, u64> = BTreeMap::new();
    for m in messages {
        if let Some(s) = record_stream(m) {
            *tails.entry(s.to_string()).or_default() += 1;
        } else if let Some(s) = state_stream(m) {
            tails.insert(s.to_string(), 0);
        }
    }
    tails
}

/// Streams read incrementally: a full-refresh stream reads everything again on every run, by
/// design, so only these count towards the overlap.
fn incremental(stream: &str) -> bool {
    source_harvest::streams::find(stream)
        .expect("a known stream")
        .cursor_field()
        .is_some()
}

#[test]
fn a_sync_killed_at_20_or_more_seeded_points_resumes_to_exactly_what_harvest_serves() {
    let emu = emulator(Scale::Small);
    // One stream at a time, so that each kill lands in the stream being read: with streams
    // read side by side, small ones would end while another one is being killed.
    let input = ReadInput::new(
        &config(
            &emu,
            json!({"page_size": PAGE_SIZE, "checkpoint_interval": PAGE_SIZE, "max_concurrency": 1}),
        ),
        &STREAMS,
        "incremental",
    );
    let expected = crate::truth::harvest(&emu, &STREAMS);

    let mut rng = StdRng::seed_from_u64(20);
    let mut state: BTreeMap<String, Value> = BTreeMap::new();
    let mut emitted: Vec<Value> = Vec::new();
    let mut kills: BTreeMap<String, usize> = BTreeMap::new();
    let mut reread_bound = 0;
    loop {
        // Streams with records not yet seen and kills to spare. Each sends at least those
        // records and a final STATE before it completes, so with `k` at most the fewest
        // records any of them has left, the run is killed in the first one it reads.
        let so_far = keyed(&emitted);
        let eligible: Vec<(&'static str, u64)> = STREAMS
            .iter()
            .map(|s| {
                let seen = so_far.get(*s).map_or(0, |r| r.len());
                (*s, (expected[*s].len() - seen) as u64)
            })
            .filter(|(s, remaining)| {
                *remaining > 0 && kills.get(*s).copied().unwrap_or(0) < KILLS_PER_STREAM
            })
            .collect();
        let Some(fewest) = eligible.iter().map(|(_, r)| *r).min() else {
            break;
        };
        let on_state = rng.random_bool(0.5);
        let point = KillPoint {
            eligible: eligible.iter().map(|(s, _)| *s).collect(),
            on_state,
            k: if on_state {
                1
            } else {
                rng.random_range(1..=fewest.min(2 * PAGE_SIZE))
            },
        };
        let input_state = Value::Array(state.values().cloned().collect());
        let partial = run_and_kill(&input, (!state.is_empty()).then_some(&input_state), &point);
        let stream = partial
            .killed_in
            .clone()
            .unwrap_or_else(|| panic!("{point:?} was not reached"));
        for m in &partial.messages {
            if let Some(s) = state_stream(m) {
                state.insert(s.to_string(), m["state"].clone());
            }
        }
        // A resumed pass reads again what followed its last STATE, and page-numbered passes
        // step back one page (the documented overlap).
        reread_bound += tails(&partial.messages)
            .iter()
            .filter(|(s, _)| incremental(s))
            .map(|(_, n)| n + PAGE_SIZE)
            .sum::<u64>();
        *kills.entry(stream.clone()).or_default() += 1;
        println!(
            "kill {}: in {stream} at its {} {}, {} messages before it, {}B of a line cut",
            kills.values().sum::<usize>(),
            point.k,
            if on_state { "STATE" } else { "record" },
            partial.messages.len(),
            partial.cut_line
        );
        emitted.extend(partial.messages);
    }
    let last = input.read(Some(&Value::Array(state.values().cloned().collect())));
    assert_eq!(last.code, 0, "{}", last.logs());
    for stream in STREAMS {
        assert_eq!(last_statuses(&last)[stream], "COMPLETE", "{stream}");
    }
    emitted.extend(last.messages);

    let union = keyed(&emitted);
    assert_same_records("kill and resume", &union, &expected);
    let duplicates: u64 = STREAMS
        .iter()
        .filter(|s| incremental(s))
        .map(|s| {
            let total = emitted
                .iter()
                .filter(|m| record_stream(m) == Some(*s))
                .count();
            (total - union[*s].len()) as u64
        })
        .sum();
    let total_kills: usize = kills.values().sum();
    println!(
        "{total_kills} kills {kills:?}; {duplicates} records sent twice in incremental streams (bound {reread_bound}), {} records served",
        expected.values().map(|r| r.len()).sum::<usize>()
    );
    assert!(total_kills >= 20, "{total_kills} kills");
    assert_eq!(
        kills.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from(STREAMS),
        "a kill in every stream"
    );
    assert!(
        duplicates <= reread_bound,
        "{duplicates} duplicates exceed what the resume points re-read ({reread_bound})"
    );
}

#[test]
fn four_states_spread_over_each_stream_s_sync_are_points_it_resumes_from_without_a_gap() {
    let emu = emulator(Scale::Small);
    for stream in STREAMS {
        let input = ReadInput::new(
            &config(
                &emu,
                json!({"page_size": PAGE_SIZE, "checkpoint_interval": PAGE_SIZE}),
            ),
            &[stream],
            "incremental",
        );
        let full = input.read(None);
        assert_eq!(full.code, 0, "{}", full.logs());
        let expected = crate::truth::harvest(&emu, &[stream]);
        let cuts: Vec<usize> = full
            .messages
            .iter()
            .enumerate()
            .filter(|(_, m)| state_stream(m).is_some())
            .map(|(i, _)| i)
            .collect();
        println!("{stream}: {} states", cuts.len());
        for &cut in cuts.iter().step_by(cuts.len().div_ceil(4)) {
            let resumed = input.read(Some(&json!([full.messages[cut]["state"]])));
            assert_eq!(resumed.code, 0, "{}", resumed.logs());
            let union = union(keyed(&full.messages[..cut]), keyed(&resumed.messages));
            assert_same_records(
                &format!(
                    "{stream} resumed from {}",
                    full.messages[cut]["state"]["stream"]["stream_state"]
                ),
                &union,
                &expected,
            );
        }
    }
}
