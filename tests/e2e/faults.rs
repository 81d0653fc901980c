//! Fault matrix (issue 5, point 1): under each fault the emulator injects — 5xx bursts, 429
//! storms, responses slower than the client's timeout, connection resets, truncated bodies,
//! malformed JSON, OAuth tokens expiring mid-sync — and under a seeded mix of them all, a full
//! incremental sync of every stream yields exactly the records the emulator serves, each once,
//! and the final state of a fault-free sync of the same emulator. When a fault outlasts the retry budget, only the
//! stream it hits ends INCOMPLETE, and its last STATE lets the next run finish the job.
//!
//! Each case prints its figures: requests the emulator answered, faults it injected, and the
//! connector's own count of requests, retries, 429s and token refreshes.

use std::collections::BTreeMap;

use crate::common::*;
use crate::resilience::*;
use chrono::{DateTime, Utc};
use harvest_emulator::{Emulator, FaultKind, Faults, Scale};
use serde_json::{json, Value};

/// Small pages, so that the tiny dataset still takes a few hundred requests.
const PAGE_SIZE: u32 = 5;

/// The connector's overlap under its watermarks (`read::OVERLAP`).
const OVERLAP: chrono::Duration = source_harvest::read::OVERLAP;

/// The sync under test: every stream, incremental where supported, small pages, a retry budget
/// that the seeded fault rates below never exhaust, and fast backoff.
fn sync_config(emu: &Emulator, extra: Value) -> Value {
    let mut c = config(
        emu,
        json!({
            "page_size": PAGE_SIZE,
            "checkpoint_interval": 10,
            "max_retries": 12,
            "retry_base_delay_seconds": 0.001
        }),
    );
    merge(&mut c, extra);
    c
}

fn oauth() -> Value {
    json!({"credentials": {
        "auth_type": "Client",
        "client_id": harvest_emulator::OAUTH_CLIENT_ID,
        "client_secret": harvest_emulator::OAUTH_CLIENT_SECRET,
        "refresh_token": harvest_emulator::OAUTH_REFRESH_TOKEN
    }})
}

/// A run and the wall-clock interval it ran in, which bounds the server times its watermarks
/// are taken from.
struct Timed {
    run: Run,
    started: DateTime<Utc>,
    ended: DateTime<Utc>,
}

fn timed_read(input: &ReadInput, state: Option<&Value>) -> Timed {
    // The emulator's Date header has whole seconds: widen the interval to whole seconds.
    let started = Utc::now() - chrono::Duration::seconds(1);
    let run = input.read(state);
    let ended = Utc::now() + chrono::Duration::seconds(1);
    Timed {
        run,
        started,
        ended,
    }
}

/// A final state with its watermarks replaced by a placeholder, after checking each one.
///
/// Two syncs of unchanged data cannot have byte-equal states: an incremental stream's watermark
/// is the server's `Date` at the start of its pass minus the overlap, and the faulted sync runs
/// after the clean one. So states are compared for what makes them right: the same streams, the
/// same shape and the same values (report windows' `to`, full-refresh markers), no unfinished
/// pass (`resume`) left behind, and every watermark the server time of its own run minus the
/// overlap — never later (which could skip records) and never from another run.
/// Replaces `at`, a time the run wrote into `stream`'s state (`field`), by a placeholder, once
/// it is checked to fall within the run (a second of the server's clock before its start).
fn of_this_run(what: &str, stream: &str, field: &str, at: &mut Value, timed: &Timed) {
    let time: DateTime<Utc> = at
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{what}: {stream} {field} {at}"));
    assert!(
        time >= timed.started - chrono::Duration::seconds(1) && time <= timed.ended,
        "{what}: {stream} {field} {time}, not in this run ({} – {})",
        timed.started,
        timed.ended
    );
    *at = json!("<this run's server time>");
}

fn normalised_state(what: &str, timed: &Timed) -> Value {
    let states = timed.run.final_stream_states();
    let mut out = serde_json::Map::new();
    for (stream, state) in states {
        assert!(
            state.get("resume").is_none(),
            "{what}: {stream} ends with an unfinished pass: {state}"
        );
        let mut state = state.clone();
        if let Some(mark) = state.get_mut("updated_at") {
            let at: DateTime<Utc> = mark
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("{what}: {stream} watermark {mark}"));
            assert!(
                at >= timed.started - OVERLAP && at <= timed.ended - OVERLAP,
                "{what}: {stream} watermark {at} is not this run's server time ({} – {}) minus the overlap",
                timed.started,
                timed.ended
            );
            *mark = json!("<this run's server time minus the overlap>");
        }
        if let Some(at) = state.pointer_mut("/sweep/at") {
            of_this_run(what, &stream, "sweep time", at, timed);
        }
        // A first sync's listing for deletion capture began and ended in this run.
        for field in ["/deletions/known/at", "/deletions/known/last"] {
            if let Some(at) = state.pointer_mut(field) {
                of_this_run(what, &stream, field, at, timed);
            }
        }
        // Where the listing stood after each sync of it: this run's times.
        if let Some(marks) = state.pointer_mut("/deletions/known/marks") {
            for mark in marks.as_array_mut().expect("marks as a list") {
                of_this_run(what, &stream, "mark", &mut mark[0], timed);
            }
        }
        // The digests of the parents read whole: a form byte, then 40 bytes each, the last 8
        // the time of the read, which must fall in this run.
        if let Some(parents) = state.pointer_mut("/deletions/parents") {
            let mut bytes = base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD_NO_PAD,
                parents.as_str().expect("digests as text"),
            )
            .expect("digests in base64");
            assert_eq!(bytes[0], 2, "{what}: {stream} digests' form");
            assert_eq!(
                (bytes.len() - 1) % 40,
                0,
                "{what}: {stream} digests' length"
            );
            for digest in bytes[1..].chunks_exact_mut(40) {
                let read = i64::from_le_bytes(digest[32..40].try_into().unwrap());
                assert!(
                    read >= timed.started.timestamp() - 1 && read <= timed.ended.timestamp(),
                    "{what}: {stream} parent read at {read}, not in this run"
                );
                digest[32..40].fill(0);
            }
            *parents = json!(base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD_NO_PAD,
                bytes
            ));
        }
        out.insert(stream, state);
    }
    Value::Object(out)
}

/// A clean sync of the emulator, then the same sync under `faults`: the faulted sync's records
/// are what the emulator serves, each once, and its final state is the clean sync's. Returns
/// the faulted run for case-specific checks.
fn same_as_clean(case: &str, emu: &Emulator, extra: Value, faults: Faults) -> Run {
    let input = ReadInput::new(&sync_config(emu, extra), &all_streams(), "incremental");
    emu.set_faults(Faults::none());
    let clean = timed_read(&input, None);
    assert_eq!(
        clean.run.code,
        0,
        "{case}: clean sync\n{}",
        clean.run.logs()
    );
    let clean_requests = emu.request_counts().total;

    emu.reset_request_counts();
    emu.set_faults(faults);
    let faulted = timed_read(&input, None);
    let counts = emu.request_counts();
    emu.set_faults(Faults::none());
    let run = &faulted.run;
    let injected: u64 = counts.faults.values().sum();
    println!(
        "{case}: {} requests answered (clean sync: {clean_requests}), faults injected {:?} ({injected}), 401s {}; connector: {}",
        counts.total,
        counts.faults,
        counts.status(401),
        client_figures(run)
    );
    assert_eq!(
        run.code,
        0,
        "{case}: faulted sync\n{}\n{:?}",
        run.logs(),
        run.errors()
    );
    for (stream, status) in last_statuses(run) {
        assert_eq!(status, "COMPLETE", "{case}: {stream}");
    }
    assert!(run.errors().is_empty(), "{case}: {:?}", run.errors());
    // The data is judged by what the emulator holds, not by the clean run.
    let truth = crate::truth::harvest(emu, &all_streams());
    assert_same_records(case, &keyed(&run.messages), &truth);
    let served: BTreeMap<String, usize> = truth
        .iter()
        .filter(|(_, records)| !records.is_empty())
        .map(|(stream, records)| (stream.clone(), records.len()))
        .collect();
    assert_eq!(
        raw_counts(run),
        served,
        "{case}: each record once (a retried request emitted its page twice?)"
    );
    assert_eq!(
        normalised_state(case, &faulted),
        normalised_state(&format!("{case} (clean)"), &clean),
        "{case}: final state"
    );
    faulted.run
}

/// Requires that the fault really happened, so a case cannot pass by not faulting. Draws depend
/// on each request's URL, and report URLs carry today's date, so the counts vary from day to
/// day: the minimums sit far below the expected counts.
fn assert_injected(
    case: &str,
    emu_counts: &harvest_emulator::RequestCounts,
    kind: &str,
    at_least: u64,
) {
    let n = emu_counts.faults.get(kind).copied().unwrap_or(0);
    assert!(
        n >= at_least,
        "{case}: only {n} `{kind}` faults were injected"
    );
}

fn tiny() -> Emulator {
    emulator(Scale::Tiny)
}

#[test]
fn five_xx_bursts_lose_and_duplicate_nothing() {
    let emu = tiny();
    let kinds = [
        FaultKind::Status500,
        FaultKind::Status502,
        FaultKind::Status503,
    ];
    let run = same_as_clean("5xx", &emu, json!({}), Faults::mix(11, 0.4, &kinds));
    let counts = emu.request_counts();
    for kind in ["500", "502", "503"] {
        assert_injected("5xx", &counts, kind, 20);
    }
    assert!(
        client_figure(&run, "retries") >= 60,
        "{}",
        client_figures(&run)
    );
}

#[test]
fn a_429_storm_is_waited_out() {
    let emu = tiny();
    let run = same_as_clean(
        "429",
        &emu,
        json!({}),
        Faults::mix(12, 0.1, &[FaultKind::Status429]),
    );
    let counts = emu.request_counts();
    assert_injected("429", &counts, "429", 3);
    assert_eq!(
        client_figure(&run, "rate_limited"),
        counts.status(429),
        "every 429 was seen as one"
    );
}

#[test]
fn responses_slower_than_the_timeout_are_retried() {
    let emu = tiny();
    // The emulator holds these responses until the client gives up (after 0.5 s) and retries.
    let run = same_as_clean(
        "stall",
        &emu,
        json!({"request_timeout_seconds": 0.5}),
        Faults::mix(13, 0.1, &[FaultKind::Stall]),
    );
    assert_injected("stall", &emu.request_counts(), "stall", 3);
    assert!(run.logs().contains("timed out"), "{}", run.logs());
}

#[test]
fn connection_resets_are_retried() {
    let emu = tiny();
    let run = same_as_clean(
        "reset",
        &emu,
        json!({}),
        Faults::mix(14, 0.4, &[FaultKind::ConnectionReset]),
    );
    assert_injected("reset", &emu.request_counts(), "reset", 40);
    assert!(client_figure(&run, "retries") >= 40);
}

#[test]
fn truncated_bodies_are_retried() {
    let emu = tiny();
    let run = same_as_clean(
        "truncate",
        &emu,
        json!({}),
        Faults::mix(15, 0.4, &[FaultKind::TruncatedBody]),
    );
    assert_injected("truncate", &emu.request_counts(), "truncate", 40);
    assert!(client_figure(&run, "retries") >= 40);
}

#[test]
fn malformed_json_is_retried() {
    let emu = tiny();
    let run = same_as_clean(
        "malformed",
        &emu,
        json!({}),
        Faults::mix(16, 0.4, &[FaultKind::MalformedJson]),
    );
    assert_injected("malformed", &emu.request_counts(), "malformed", 40);
    assert!(run.logs().contains("not valid JSON"), "{}", run.logs());
}

#[test]
fn oauth_tokens_expiring_mid_sync_are_refreshed() {
    let emu = tiny();
    let faults = Faults {
        token_expires_after: Some(15),
        ..Faults::none()
    };
    let run = same_as_clean("token expiry", &emu, oauth(), faults);
    let counts = emu.request_counts();
    // 15 uses per token over 138+ requests: the token expired, and was renewed, many times.
    assert!(counts.status(401) >= 5, "{counts:?}");
    assert!(
        client_figure(&run, "token_refreshes") >= 8,
        "{}",
        client_figures(&run)
    );
    assert_eq!(
        counts.path("/id/api/v2/oauth2/token"),
        client_figure(&run, "token_refreshes")
    );
}

#[test]
fn a_seeded_mix_of_every_fault_loses_and_duplicates_nothing() {
    let emu = tiny();
    let kinds = [
        FaultKind::Status500,
        FaultKind::Status502,
        FaultKind::Status503,
        FaultKind::Status429,
        FaultKind::Stall,
        FaultKind::ConnectionReset,
        FaultKind::TruncatedBody,
        FaultKind::MalformedJson,
    ];
    let faults = Faults {
        token_expires_after: Some(25),
        ..Faults::mix(17, 0.4, &kinds)
    };
    let run = same_as_clean(
        "mix",
        &emu,
        json!({"request_timeout_seconds": 0.5, "credentials": oauth()["credentials"]}),
        faults,
    );
    let counts = emu.request_counts();
    for kind in [
        "500",
        "502",
        "503",
        "429",
        "stall",
        "reset",
        "truncate",
        "malformed",
    ] {
        assert_injected("mix", &counts, kind, 1);
    }
    assert!(
        client_figure(&run, "token_refreshes") >= 3,
        "{}",
        client_figures(&run)
    );
}

#[test]
fn a_fault_that_outlasts_the_retry_budget_ends_only_its_stream_and_the_next_run_finishes() {
    let emu = tiny();
    let input = ReadInput::new(
        &sync_config(
            &emu,
            json!({"max_retries": 2, "checkpoint_interval": 10000}),
        ),
        &all_streams(),
        "incremental",
    );
    let expected = crate::truth::harvest(&emu, &all_streams());
    // The last invoice with messages is unreachable: every request for its messages is a 503.
    // invoice_messages reads parents in ascending id order; no checkpoint falls due before the
    // fault, and failing, it writes the STATE of the last invoice it finished.
    let parents: Vec<i64> = expected["invoice_messages"]
        .values()
        .map(|m| m["parent_id"].as_i64().unwrap())
        .collect();
    let broken = *parents.iter().max().unwrap();
    assert!(
        parents.iter().any(|&p| p < broken),
        "messages under an earlier invoice, so there is a checkpoint before the fault"
    );
    let path = format!("/v2/invoices/{broken}/messages");
    emu.reset_request_counts();
    emu.set_faults(Faults {
        paths: vec![path.clone()],
        ..Faults::mix(21, 1.0, &[FaultKind::Status503])
    });
    let failed = input.read(None);
    let counts = emu.request_counts();
    emu.set_faults(Faults::none());
    println!(
        "budget: {} requests answered, faults injected {:?}; connector: {}",
        counts.total,
        counts.faults,
        client_figures(&failed)
    );
    assert_ne!(failed.code, 0, "an incomplete sync exits non-zero");
    // 1 attempt + 2 retries, and not a request more.
    assert_eq!(counts.faults["503"], 3);
    assert_eq!(client_figure(&failed, "retries"), 2);

    let statuses = last_statuses(&failed);
    let errors = failed.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["failure_type"], "transient_error");
    assert_eq!(errors[0]["stream_descriptor"]["name"], "invoice_messages");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(
        message.contains(&path) && message.contains("3 times"),
        "{message}"
    );
    let got = keyed(&failed.messages);
    for stream in all_streams() {
        if stream == "invoice_messages" {
            assert_eq!(statuses[stream], "INCOMPLETE");
            continue;
        }
        assert_eq!(statuses[stream], "COMPLETE", "{stream} was harmed");
        let (got, expected) = (&got.get(stream), &expected.get(stream));
        assert_eq!(got, expected, "{stream}: all its records");
    }
    let reached = &failed.final_stream_states()["invoice_messages"];
    let after = reached["resume"]["after_parent_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("the last STATE records how far the pass got: {reached}"));
    assert!(after < broken);

    // Faults off: the next run, from the last STATEs, finishes invoice_messages where it
    // stopped, re-reading none of the invoices it had done.
    emu.reset_request_counts();
    let next = input.read(Some(&failed.final_state()));
    assert_eq!(next.code, 0, "{}", next.logs());
    assert_eq!(last_statuses(&next)["invoice_messages"], "COMPLETE");
    let reread = emu.request_counts().path("/v2/invoices/{id}/messages");
    let remaining = emu.expected_counts()["invoices"]
        - expected["invoices"]
            .keys()
            .filter(|id| id.parse::<i64>().unwrap() <= after)
            .count() as u64;
    assert_eq!(
        reread, remaining,
        "only the invoices after {after} are read again"
    );
    let union = union(got, keyed(&next.messages));
    assert_same_records("budget then resume", &union, &expected);
}

/// A list stream that fails part-way, no checkpoint due yet, writes the STATE of the last page
/// it finished: the next run goes on from there instead of from the start.
#[test]
fn a_list_stream_that_fails_part_way_goes_on_next_time_from_the_last_page_it_finished() {
    let emu = tiny();
    let streams = ["time_entries"];
    let input = ReadInput::new(
        &sync_config(
            &emu,
            json!({"max_retries": 1, "checkpoint_interval": 10000}),
        ),
        &streams,
        "incremental",
    );
    let expected = crate::truth::harvest(&emu, &streams);
    let pages = expected["time_entries"].len().div_ceil(PAGE_SIZE as usize) as u64;
    assert!(pages > 4, "{pages} pages");
    emu.set_faults(Faults {
        paths: vec!["/v2/time_entries?page=4".into()],
        ..Faults::mix(22, 1.0, &[FaultKind::Status503])
    });
    let failed = input.read(None);
    emu.set_faults(Faults::none());
    assert_eq!(failed.code, 1, "{}", failed.logs());
    assert_eq!(failed.stream("time_entries").len(), 3 * PAGE_SIZE as usize);
    let states = failed.of_type("STATE");
    assert_eq!(
        states.len(),
        1,
        "one STATE, when the stream failed: {states:?}"
    );
    let reached = &failed.final_stream_states()["time_entries"];
    let next = reached["resume"]["next"].as_str().unwrap_or_default();
    assert!(next.contains("page=4"), "{reached}");
    let message = failed.errors()[0]["message"].as_str().unwrap().to_string();
    assert!(message.contains("The last STATE it emitted"), "{message}");

    // The next run reads page 3 again (a numbered page a deletion could have moved records
    // onto), then pages 4 to the last.
    emu.reset_request_counts();
    let next = input.read(Some(&failed.final_state()));
    assert_eq!(next.code, 0, "{}", next.logs());
    assert_eq!(emu.request_counts().path("/v2/time_entries"), pages - 2);
    let union = union(keyed(&failed.messages), keyed(&next.messages));
    assert_same_records("failed then resumed", &union, &expected);
}
