//! Every numeric config field has its range in spec.json, and each bound is tested (issue 22,
//! point 4): the value at the bound is accepted — `check` succeeds and a `read` returns what the
//! emulator serves — and the value just past it is refused by `check` (CONNECTION_STATUS FAILED,
//! as for every broken config) and by `read` (one config_error TRACE, no record), with a message
//! naming the field and the range it allows. The fields are taken from spec.json itself, so a
//! numeric field added later is covered without a new case, and one without both bounds fails.

use std::collections::BTreeSet;

use harvest_emulator::{Emulator, Scale};
use serde_json::{json, Value};

use crate::common::*;

/// One bound of one numeric field of spec.json.
#[derive(Debug)]
struct Bound {
    field: String,
    /// "minimum" or "maximum".
    side: &'static str,
    /// The value at the bound (or, for an exclusive bound, just inside it): accepted.
    inside: Value,
    /// The value just past the bound: refused.
    outside: Value,
    /// The field's lower and upper bounds as spec.json writes them: the message names both.
    limits: [String; 2],
}

/// Every bound of every numeric field of spec.json. "Just past" is one for an integer and a
/// thousandth for a number. Panics on a numeric field without both bounds.
fn bounds() -> Vec<Bound> {
    let spec = source_harvest::config::connection_specification();
    let mut out = Vec::new();
    for (field, property) in spec["properties"].as_object().expect("properties") {
        let integer = match property["type"].as_str() {
            Some("integer") => true,
            Some("number") => false,
            _ => continue,
        };
        let step = if integer { 1.0 } else { 0.001 };
        let value = |x: f64| if integer { json!(x as i64) } else { json!(x) };
        let bound = |inclusive: &str, exclusive: &str| {
            let (limit, inclusive) = match (property.get(inclusive), property.get(exclusive)) {
                (Some(limit), None) => (limit, true),
                (None, Some(limit)) => (limit, false),
                _ => panic!("{field} must have one {inclusive} or {exclusive} in spec.json"),
            };
            (
                limit.as_f64().expect("a number"),
                inclusive,
                limit.to_string(),
            )
        };
        let (low, low_inclusive, low_text) = bound("minimum", "exclusiveMinimum");
        let (high, high_inclusive, high_text) = bound("maximum", "exclusiveMaximum");
        assert!(low < high, "{field}: {low} is not below {high}");
        let limits = [low_text, high_text];
        out.push(Bound {
            field: field.clone(),
            side: "minimum",
            inside: value(if low_inclusive { low } else { low + step }),
            outside: value(if low_inclusive { low - step } else { low }),
            limits: limits.clone(),
        });
        out.push(Bound {
            field: field.clone(),
            side: "maximum",
            inside: value(if high_inclusive { high } else { high - step }),
            outside: value(if high_inclusive { high + step } else { high }),
            limits,
        });
    }
    out
}

/// The streams each run reads: an entity stream and a report stream, so that fields of either
/// (rate limits of both buckets, page size, report windows) are exercised.
const STREAMS: [&str; 2] = ["clients", "time_clients"];

/// Why a message refusing `bound.outside` does not name the field and its range (both bounds,
/// in order), if it does not.
fn unclear(message: &str, bound: &Bound) -> Option<String> {
    let named = message
        .split_once(&format!("{} must be ", bound.field))
        .and_then(|(_, range)| {
            let at = range.find(&bound.limits[0])?;
            range[at..].contains(&bound.limits[1]).then_some(())
        });
    match named {
        Some(()) => None,
        None => Some(format!(
            "the message does not name {} and its range {} to {}: {message}",
            bound.field, bound.limits[0], bound.limits[1]
        )),
    }
}

/// What is wrong with one bound, if anything: the four runs (check and read, inside and
/// outside).
fn bound_problem(emu: &Emulator, bound: &Bound, clients: &BTreeSet<i64>) -> Option<String> {
    let files = Files::new();
    let with = |value: &Value, name: &str| {
        files.json(name, &config(emu, json!({ bound.field.as_str(): value })))
    };
    let inside = with(&bound.inside, "inside.json");
    let outside = with(&bound.outside, "outside.json");
    let catalog = files.json("catalog.json", &catalog(&STREAMS, "full_refresh"));
    let check = |path: &std::path::PathBuf| run(&["check", "--config", path.to_str().unwrap()]);
    let read = |path: &std::path::PathBuf| {
        run(&[
            "read",
            "--config",
            path.to_str().unwrap(),
            "--catalog",
            catalog.to_str().unwrap(),
        ])
    };
    let status = |run: &Run| {
        run.of_type("CONNECTION_STATUS")
            .first()
            .map(|s| s["connectionStatus"].clone())
            .unwrap_or_default()
    };

    let checked = check(&inside);
    if status(&checked)["status"] != "SUCCEEDED" {
        return Some(format!(
            "check at {} failed: {:?}",
            bound.inside, checked.messages
        ));
    }
    let read_inside = read(&inside);
    let statuses = read_inside.statuses();
    let got: BTreeSet<i64> = read_inside
        .stream("clients")
        .iter()
        .map(|r| r["id"].as_i64().expect("an id"))
        .collect();
    if read_inside.code != 0
        || STREAMS.iter().any(|s| {
            statuses.get(*s).and_then(|v| v.last()).map(String::as_str) != Some("COMPLETE")
        })
    {
        return Some(format!(
            "read at {} did not complete: exit {}, {statuses:?}, {:?}",
            bound.inside,
            read_inside.code,
            read_inside.errors()
        ));
    }
    if got != *clients || read_inside.stream("time_clients").is_empty() {
        return Some(format!(
            "read at {} returned clients {got:?} (the emulator serves {clients:?}) and {} time_clients rows",
            bound.inside,
            read_inside.stream("time_clients").len()
        ));
    }

    let checked = check(&outside);
    let failed = status(&checked);
    if checked.code != 0 || failed["status"] != "FAILED" {
        return Some(format!(
            "check at {} did not fail: exit {}, {:?}",
            bound.outside, checked.code, checked.messages
        ));
    }
    if let Some(why) = unclear(failed["message"].as_str().unwrap_or_default(), bound) {
        return Some(format!("check at {}: {why}", bound.outside));
    }
    let read_outside = read(&outside);
    let errors = read_outside.errors();
    if read_outside.code == 0
        || errors.len() != 1
        || errors[0]["failure_type"] != "config_error"
        || !read_outside.of_type("RECORD").is_empty()
    {
        return Some(format!(
            "read at {} was not refused with one config_error: exit {}, {:?}",
            bound.outside, read_outside.code, read_outside.messages
        ));
    }
    unclear(errors[0]["message"].as_str().unwrap_or_default(), bound)
        .map(|why| format!("read at {}: {why}", bound.outside))
}

/// Each bound of each numeric field: `check` and `read` accept the value at the bound (the read
/// returning every client the emulator serves, and report rows), and refuse the value just past
/// it naming the field and its range. Failures are listed together, by field and side.
#[test]
fn every_numeric_config_field_is_accepted_at_each_bound_and_refused_just_past_it() {
    let bounds = bounds();
    let fields: BTreeSet<&str> = bounds.iter().map(|b| b.field.as_str()).collect();
    // The discovery from spec.json finds the fields the connector has (more may come).
    for known in [
        "child_sweep_hours",
        "requests_per_window",
        "window_seconds",
        "report_requests_per_window",
        "report_window_seconds",
        "page_size",
        "max_concurrency",
        "checkpoint_interval",
        "request_timeout_seconds",
        "max_retries",
        "retry_base_delay_seconds",
    ] {
        assert!(fields.contains(known), "{known} not found in {fields:?}");
    }
    assert_eq!(bounds.len(), 2 * fields.len());

    let emu = emulator(Scale::Tiny);
    let clients: BTreeSet<i64> = served_records(&emu, "/clients", "clients")
        .iter()
        .map(|r| r["id"].as_i64().expect("an id"))
        .collect();
    assert!(!clients.is_empty());
    let failures: Vec<String> = bounds
        .iter()
        .filter_map(|bound| {
            bound_problem(&emu, bound, &clients)
                .map(|why| format!("{} {}: {why}", bound.field, bound.side))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} bounds failed:\n{}",
        failures.len(),
        bounds.len(),
        failures.join("\n")
    );
}
