//! Failing fast, stopping cleanly and living with a slow reader (issue 16, points 3–5): a host
//! that cannot be reached or credentials that are refused end the read at once with one trace;
//! SIGTERM stops it within moments, on a whole line, resumable from its last STATEs; a reader
//! that stops reading holds the connector still, in bounded memory, until it reads again.
//!
//! Synchronisation is by what the connector prints or the emulator counts, never by time.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use harvest_emulator::{FaultKind, Faults, Scale};
use serde_json::{json, Value};

use crate::common::*;
use crate::resilience::*;

/// The most memory the connector may hold at any scale (issue 16).
const MAX_RSS_KIB: u64 = 64 << 10;

/// The one TRACE ERROR of a run that must have exactly one.
fn the_only_error(run: &Run) -> &Value {
    let errors = run.errors();
    assert_eq!(
        errors.len(),
        1,
        "one trace, not one per stream: {errors:#?}"
    );
    errors[0]
}

/// Asserts that every selected stream ended INCOMPLETE.
fn assert_all_incomplete(run: &Run, streams: &[&str]) {
    let last = last_statuses(run);
    for stream in streams {
        assert_eq!(
            last.get(*stream).map(String::as_str),
            Some("INCOMPLETE"),
            "{stream}: {:?}",
            run.statuses().get(*stream)
        );
    }
}

#[test]
fn a_host_that_refuses_every_connection_ends_the_read_within_2_minutes_with_one_trace() {
    // A port where nothing listens; the retry settings are the defaults a user has.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = json!({
        "account_id": "1",
        "replication_start_date": "2020-01-01T00:00:00Z",
        "credentials": {"auth_type": "Token", "api_token": "t"},
        "api_url": format!("http://127.0.0.1:{port}/v2"),
    });
    let streams = all_streams();
    let input = ReadInput::new(&config, &streams, "incremental");
    let started = Instant::now();
    let run = input.read(None);
    let took = started.elapsed();
    println!(
        "connection refused for every request: the read of {} streams ended after {took:.1?}",
        streams.len()
    );
    assert_eq!(run.code, 1, "{}", run.logs());
    let error = the_only_error(&run);
    assert_eq!(error["failure_type"], "transient_error", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("cannot reach Harvest at 127.0.0.1:{port}")),
        "{message}"
    );
    assert!(message.contains("Connection refused"), "{message}");
    assert_all_incomplete(&run, &streams);
    assert!(took < Duration::from_secs(120), "{took:?}");
}

#[test]
fn a_flaky_stream_keeps_its_full_retry_budget() {
    let emu = emulator(Scale::Tiny);
    emu.set_faults(Faults {
        paths: vec!["/v2/roles".into()],
        ..Faults::mix(1, 1.0, &[FaultKind::ConnectionReset])
    });
    // Alone, and beside streams that read well: resets are an answering host's trouble, so
    // the stream is retried as often as its config says, and fails on its own.
    for streams in [vec!["roles"], vec!["roles", "clients", "users"]] {
        emu.reset_request_counts();
        let input = ReadInput::new(&config(&emu, json!({})), &streams, "incremental");
        let run = input.read(None);
        assert_eq!(run.code, 1, "{}", run.logs());
        let error = the_only_error(&run);
        assert_eq!(error["failure_type"], "transient_error", "{error}");
        assert_eq!(error["stream_descriptor"]["name"], "roles", "{error}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("failed 4 times"),
            "{error}"
        );
        assert_eq!(
            emu.request_counts().path("/v2/roles"),
            4,
            "max_retries (3) + 1 attempts"
        );
        let last = last_statuses(&run);
        for stream in &streams[1..] {
            assert_eq!(last[*stream], "COMPLETE", "{stream}");
        }
    }
}

/// A read of every stream with `config`'s credentials, which Harvest refuses.
fn refused_read(credentials: Value) -> (Run, u64) {
    let emu = emulator(Scale::Small);
    let streams = all_streams();
    let input = ReadInput::new(&config(&emu, credentials), &streams, "incremental");
    let run = input.read(None);
    assert_eq!(run.code, 1, "{}", run.logs());
    assert_all_incomplete(&run, &streams);
    (run, emu.request_counts().total)
}

/// Asserts that a refused read stopped at the first 401s: no stream started after one, so at
/// most one request per stream running at once (the default `max_concurrency`, 8), the one
/// question to Harvest ID that tells the token from the account id, and deletion capture's one
/// question of which user the token acts as (`/users/me`, asked before the first page).
fn assert_refused_once(requests: u64) {
    assert!(
        requests <= 8 + 2,
        "{requests} requests: streams went on after the first 401"
    );
}

#[test]
fn a_wrong_account_id_ends_the_read_at_once_with_one_config_error_naming_it() {
    let (run, requests) = refused_read(json!({"account_id": "424242"}));
    let error = the_only_error(&run);
    println!("wrong account_id: {requests} requests, one config_error");
    assert_eq!(error["failure_type"], "config_error", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("accepts the token, but the account_id"),
        "{message}"
    );
    assert!(
        !message.contains("424242"),
        "account_id is secret: {message}"
    );
    assert_refused_once(requests);
}

#[test]
fn a_wrong_token_ends_the_read_at_once_with_one_config_error_naming_it() {
    let (run, requests) = refused_read(json!({
        "credentials": {"auth_type": "Token", "api_token": "not-the-token"}
    }));
    let error = the_only_error(&run);
    println!("wrong token: {requests} requests, one config_error");
    assert_eq!(error["failure_type"], "config_error", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("Harvest rejected the token"), "{message}");
    assert_refused_once(requests);
}

/// Streams of several kinds (pages, cursors, report windows, children), in small pages and
/// checkpoints, so that a sync of the small dataset has many STATEs and lasts.
const RESUMED: [&str; 6] = [
    "expenses",
    "time_entries",
    "projects",
    "time_team",
    "invoice_payments",
    "billable_rates",
];

fn send_sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -TERM failed");
}

/// The last STATE per stream in `messages`, as a state file.
fn states_in(messages: &[Value]) -> Value {
    let mut last = std::collections::BTreeMap::new();
    for m in messages.iter().filter(|m| m["type"] == "STATE") {
        let name = m["state"]["stream"]["stream_descriptor"]["name"]
            .as_str()
            .unwrap()
            .to_string();
        last.insert(name, m["state"].clone());
    }
    Value::Array(last.into_values().collect())
}

#[test]
fn sigterm_stops_the_read_at_once_on_a_whole_line_and_the_last_states_resume_it() {
    let emu = emulator(Scale::Small);
    let input = ReadInput::new(
        &config(&emu, json!({"page_size": 10, "checkpoint_interval": 10})),
        &RESUMED,
        "incremental",
    );
    let expected = crate::truth::harvest(&emu, &RESUMED);

    let mut child = input.spawn(None);
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout piped"));
    let mut messages = Vec::new();
    let mut line = Vec::new();
    let mut states = 0;
    let mut sent_at = None;
    loop {
        line.clear();
        if stdout.read_until(b'\n', &mut line).expect("stdout") == 0 {
            break;
        }
        assert!(
            line.ends_with(b"\n"),
            "a cut line: {:.200}",
            String::from_utf8_lossy(&line)
        );
        let message: Value = serde_json::from_slice(&line).expect("a JSON line");
        assert_valid_message(&message);
        states += usize::from(message["type"] == "STATE");
        messages.push(message);
        if states == 5 && sent_at.is_none() {
            send_sigterm(&child);
            sent_at = Some(Instant::now());
        }
    }
    let status = child.wait().expect("the run ends");
    let sent_at = sent_at.expect("5 STATEs before the sync ended");
    let took = sent_at.elapsed();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let after = messages.len();
    println!(
        "SIGTERM after 5 STATEs: exited {status} {took:.3?} later, {after} messages written in all"
    );
    assert_eq!(status.code(), Some(1), "{stderr}");
    let interrupted = Run {
        messages,
        code: 1,
        stderr,
        stdout: String::new(),
    };
    assert!(
        interrupted.logs().contains("SIGTERM: stopping the sync"),
        "{}",
        interrupted.logs()
    );
    let last = last_statuses(&interrupted);
    assert!(
        last.values().any(|s| s == "INCOMPLETE"),
        "the sync was stopped before it ended: {last:?}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");

    let resumed = input.read(Some(&states_in(&interrupted.messages)));
    assert_eq!(resumed.code, 0, "{}", resumed.logs());
    let union = union(keyed(&interrupted.messages), keyed(&resumed.messages));
    assert_same_records("SIGTERM and resume", &union, &expected);
}

/// The connector's resident and peak memory (KiB), while it runs.
fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Reads a few hundred lines, stops reading until the connector stops making requests (its
/// output is blocked on the full pipe), samples its memory, then reads on to the end.
fn paused_reader_sync(scale: Scale) {
    let emu = emulator(scale);
    let streams = all_streams();
    let input = ReadInput::new(&config(&emu, json!({})), &streams, "incremental");
    let mut child = input.spawn(None);
    let pid = child.id();
    let mut lines = lines(&mut child);
    let mut messages: Vec<Value> = lines
        .by_ref()
        .take(500)
        .map(|l| serde_json::from_str(&l).expect("a JSON line"))
        .collect();
    // Progress has stopped once the emulator saw no new request over several looks, each
    // after the connector was given time to send one.
    let mut still = 0;
    let mut seen = emu.request_counts().total;
    let mut looks = 0;
    while still < 5 {
        std::thread::sleep(Duration::from_millis(200));
        looks += 1;
        assert!(looks < 600, "the connector never stopped making requests");
        let now = emu.request_counts().total;
        still = if now == seen { still + 1 } else { 0 };
        seen = now;
    }
    let (paused_rss, paused_peak) = memory_kib(pid).expect("the connector is still running");
    let mut peak = paused_peak;
    for (i, line) in lines.enumerate() {
        if i % 2000 == 0 {
            if let Some((_, hwm)) = memory_kib(pid) {
                peak = peak.max(hwm);
            }
        }
        messages.push(serde_json::from_str(&line).expect("a JSON line"));
    }
    let run = collect(child, messages, std::iter::empty());
    println!(
        "{scale:?}: paused after 500 lines with {seen} requests made: RSS {} MiB (peak so far {} MiB); whole sync peak {} MiB, {} records",
        paused_rss >> 10,
        paused_peak >> 10,
        peak >> 10,
        run.of_type("RECORD").len()
    );
    assert_eq!(run.code, 0, "{}", run.logs());
    for stream in &streams {
        assert_eq!(last_statuses(&run)[*stream], "COMPLETE", "{stream}");
    }
    // Held still, the connector lost nothing: every stream is what the emulator serves.
    assert_same_records(
        &format!("{scale:?} paused"),
        &keyed(&run.messages),
        &crate::truth::harvest(&emu, &streams),
    );
    assert!(paused_rss < MAX_RSS_KIB, "{paused_rss} KiB while paused");
    assert!(peak < MAX_RSS_KIB, "{peak} KiB at its peak");
}

#[test]
fn a_reader_that_pauses_holds_the_connector_in_bounded_memory_small() {
    paused_reader_sync(Scale::Small);
}

#[test]
fn a_reader_that_pauses_holds_the_connector_in_bounded_memory_medium() {
    paused_reader_sync(Scale::Medium);
}
