//! A legitimate page larger than the body cap (issue 22, point 6): records whose text makes a
//! page of 4 larger than the 64 MiB the connector reads of a response (time entries with long
//! notes, clients with long addresses, set through the emulator's control API). The stream asks
//! for the same records again in smaller pages — numbered pages from the same record on, a
//! cursor page with the same cursor — logs it, and completes with exactly the emulator's
//! records, every one once.

use std::collections::BTreeSet;

use harvest_emulator::Scale;
use serde_json::{json, Value};

use crate::common::*;

/// The connector's body cap: 64 MiB.
const CAP: usize = 64 << 20;

/// A text of just over half the cap: two such records make a page over it, one fits.
fn long_text(id: i64) -> String {
    let mut text = format!("record {id}: ");
    text.push_str(&"long text ".repeat(CAP / 2 / 10 + 100));
    text
}

/// Reads `stream` whole in pages of 4 after the records at `positions` (in the order the
/// emulator serves them) got a long `field`; checks the records against the emulator's, and
/// that a WARN line was logged for each of `warnings`: the page refused (its path and query's
/// start) and the sizes.
fn read_over_the_cap(
    stream: &str,
    field: &str,
    positions: [usize; 2],
    warnings: &[(&str, u64, u64)],
) {
    let emu = emulator(Scale::Tiny);
    let mut served = served_records(&emu, &format!("/{stream}"), stream);
    assert!(
        served.len() > positions[1],
        "{stream}: {} records",
        served.len()
    );
    for at in positions {
        let id = served[at]["id"].as_i64().expect("an id");
        served[at] = emu
            .update(stream, id, json!({ field: long_text(id) }))
            .expect("the record exists");
    }
    let input = ReadInput::new(
        &config(&emu, json!({"page_size": 4})),
        &[stream],
        "full_refresh",
    );
    let run = input.read(None);
    assert_eq!(run.code, 0, "{stream}: {:?}", run.errors());
    assert_eq!(
        run.statuses()[stream].last().map(String::as_str),
        Some("COMPLETE")
    );
    let got = run.stream(stream);
    let id = |r: &Value| r["id"].as_i64().expect("an id");
    let ids: Vec<i64> = got.iter().map(id).collect();
    let distinct: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        ids.len(),
        "{stream}: a record twice: {ids:?}"
    );
    let expected: Vec<i64> = served.iter().map(id).collect();
    assert_eq!(
        ids, expected,
        "{stream}: the emulator's records, in its order"
    );
    // By content (the long ones too), without printing 32 MiB on a mismatch.
    for (record, truth) in got.iter().zip(&served) {
        assert!(record == truth, "{stream} {}: not as served", id(truth));
    }
    let long = got
        .iter()
        .filter(|r| r[field].as_str().is_some_and(|t| t.len() > CAP / 2))
        .count();
    assert_eq!(long, 2, "{stream}: both long records arrived whole");
    let logs = run.logs();
    for (at, now, was) in warnings {
        let page = format!("\"WARN\" stream {stream}: the page at {at}");
        let what = format!(
            " is larger than {CAP} bytes, the most the connector reads; reading the same records again in pages of {now} instead of {was}"
        );
        assert!(
            logs.lines()
                .any(|l| l.starts_with(&page) && l.contains(&what)),
            "{stream}: no warning of {at}: {logs}"
        );
    }
}

/// Time entries are numbered pages: with pages of 4, page 3 (records 8 to 11) holds the two
/// long ones and is refused; records 8 on are read as pages 5, 6, … of 2, nothing skipped or
/// read twice. Clients are cursor pages: the first page (all 3) holds both long ones, so do
/// pages of 2, and the clients arrive one a page, the cursor kept.
#[test]
fn pages_over_the_body_cap_are_read_again_smaller_and_every_record_arrives_once() {
    read_over_the_cap(
        "time_entries",
        "notes",
        [9, 10],
        &[("/v2/time_entries?page=3&per_page=4&", 2, 4)],
    );
    read_over_the_cap(
        "clients",
        "address",
        [0, 1],
        &[
            (
                "/v2/clients?updated_since=2020-01-01T00%3A00%3A00Z&per_page=4",
                2,
                4,
            ),
            (
                "/v2/clients?updated_since=2020-01-01T00%3A00%3A00Z&per_page=2",
                1,
                2,
            ),
        ],
    );
}
