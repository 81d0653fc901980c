//! Changes during a sync (issue 5, point 3): records are created, updated and deleted in the
//! emulator while an incremental sync runs, after its first records have arrived. After the
//! next incremental sync, every record the API serves is in the destination with its latest
//! values, and nothing was lost to the shifts the changes cause in page-numbered lists.
//!
//! Deletions: Harvest has no feed of deleted records; the connector finds them by comparing
//! listings and sends tombstones. A stream listed whole in every sync (clients, one page here)
//! has its deletions in the destination after the next sync; a longer one (time entries and
//! expenses, 80 pages of 50) within the sweep interval, and its deleted records may still be
//! there now. What is asserted: no tombstone for a record Harvest serves, the clients'
//! deletions all applied, and no deletion makes a sync lose other records.

use std::collections::BTreeMap;

use crate::common::*;
use crate::resilience::*;
use harvest_emulator::Scale;
use serde_json::{json, Value};

/// A page-numbered list (time_entries, expenses) where deletes shift later records onto
/// earlier pages, a cursor-paginated list (clients), and a child stream (invoice_payments).
const STREAMS: [&str; 4] = ["time_entries", "expenses", "clients", "invoice_payments"];

fn id(record: &Value) -> i64 {
    record["id"].as_i64().expect("an integer id")
}

#[test]
fn records_created_updated_and_deleted_mid_sync_are_right_after_the_next_incremental_sync() {
    let emu = emulator(Scale::Small);
    let input = ReadInput::new(
        &config(&emu, json!({"page_size": 50, "max_concurrency": 1})),
        &STREAMS,
        "incremental",
    );
    // Harvest refuses to delete a client that still has projects or invoices, and every
    // generated one has: clients made here, newest (three) and oldest (two), take the places
    // deleted below.
    for i in 0..3 {
        emu.create("clients", json!({ "name": format!("Deletable {i}") }));
    }
    for day in ["02", "01"] {
        emu.create(
            "clients",
            json!({ "name": format!("Deletable old {day}"), "created_at": format!("2000-01-{day}T00:00:00Z") }),
        );
    }
    let before = input.read(None);
    assert_eq!(before.code, 0, "{}", before.logs());
    let before = before.records();

    let mut child = input.spawn(None);
    let mut lines = lines(&mut child);
    // Wait for the first time entry: the pass is under way, and stdout's backpressure keeps
    // the connector within a few pages of what the test has read.
    let mut seen = Vec::new();
    let first_entry = loop {
        let line = lines.next().expect("records come");
        let m: Value = serde_json::from_str(&line).unwrap();
        let is_entry = m["record"]["stream"] == "time_entries";
        let entry = m["record"]["data"].clone();
        seen.push(m);
        if is_entry {
            break entry;
        }
    };
    assert_eq!(
        id(&before["time_entries"][0]),
        id(&first_entry),
        "the same serving order"
    );
    // In each stream: its first record (already read or about to be) and its last (not read
    // yet) updated; its second and third (shifting every later one two places forward, one
    // more than the creation below shifts them back) and its last but one deleted.
    let mut updated: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let mut deleted: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let mut created: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for stream in STREAMS {
        let list = &before[stream];
        let n = list.len();
        assert!(n >= 5, "{stream} has records to change");
        for record in [&list[0], &list[n - 1]] {
            // Not a client's name: time entries embed it, and Harvest changes an embedded name
            // without touching the embedding record's updated_at, which no incremental sync
            // can see.
            let field = if stream == "clients" {
                "address"
            } else {
                "notes"
            };
            emu.update(
                stream,
                id(record),
                json!({ field: format!("changed mid-sync {}", id(record)) }),
            )
            .expect("a live record");
            updated.entry(stream).or_default().push(id(record));
        }
        for record in [&list[1], &list[2], &list[n - 2]] {
            assert!(emu.delete(stream, id(record)));
            deleted.entry(stream).or_default().push(id(record));
        }
    }
    let new_entry = emu.create(
        "time_entries",
        json!({"notes": "created mid-sync", "hours": 1.5}),
    );
    created
        .entry("time_entries")
        .or_default()
        .push(id(&new_entry));
    let new_client = emu.create("clients", json!({"name": "Created Mid-Sync"}));
    created.entry("clients").or_default().push(id(&new_client));
    let first = collect(child, seen, lines);
    assert_eq!(first.code, 0, "{}", first.logs());

    let next = input.read(Some(&first.final_state()));
    assert_eq!(next.code, 0, "{}", next.logs());

    // What the API serves now, read through it page by page.
    let truth = crate::truth::harvest(&emu, &STREAMS);
    for stream in STREAMS {
        assert!(!truth[stream].is_empty(), "{stream}: Harvest serves some");
    }
    let destination = replica(union(keyed(&first.messages), keyed(&next.messages)));
    for stream in STREAMS {
        let got = &destination[stream];
        for (key, record) in &truth[stream] {
            let have = got
                .get(key)
                .unwrap_or_else(|| panic!("{stream} {key} is served but was never synced"));
            assert_eq!(have, record, "{stream} {key}: the latest values");
        }
        let extra: Vec<i64> = got
            .keys()
            .filter(|k| !truth[stream].contains_key(*k))
            .map(|k| k.parse().unwrap())
            .collect();
        for id in &extra {
            assert!(
                deleted[stream].contains(id),
                "{stream} {id} is neither served nor deleted"
            );
        }
        for id in &deleted[stream] {
            assert!(
                !truth[stream].contains_key(&id.to_string()),
                "{stream} {id} is still served after its deletion"
            );
            assert!(
                next.stream(stream)
                    .iter()
                    .all(|r| r["id"] != *id || is_tombstone(r)),
                "the next sync sends deleted {stream} {id} only as a tombstone"
            );
        }
        for tombstone in next.stream(stream).iter().filter(|r| is_tombstone(r)) {
            assert!(
                deleted[stream].contains(&id(tombstone)),
                "a tombstone for {stream} {}, which Harvest serves",
                tombstone["id"]
            );
        }
        if stream == "clients" {
            assert!(
                extra.is_empty(),
                "clients are listed whole in every sync: {extra:?} are deleted yet still in the destination"
            );
        }
        for id in updated[stream]
            .iter()
            .chain(created.get(stream).into_iter().flatten())
        {
            assert!(
                next.stream(stream).iter().any(|r| r["id"] == *id),
                "the next incremental sync sends changed {stream} {id}"
            );
        }
        println!(
            "{stream}: {} served, {} in the destination ({} deleted ones not yet tombstoned); first sync {} records, next {}",
            truth[stream].len(),
            got.len(),
            extra.len(),
            first.stream(stream).len(),
            next.stream(stream).len()
        );
    }
}

/// Deletions on pages already read shift later records onto them. The walk sees
/// `total_entries` drop, steps back and reads on from there: every record still served arrives,
/// and the only extra requests are the pages read again (none wasted on a page requested ahead).
/// The deletion is scheduled in the emulator at a request count, so it lands between the same
/// two pages on every run.
#[test]
fn a_deletion_on_pages_already_read_costs_only_the_pages_read_again() {
    const PAGE: u64 = 100;
    const ANSWERED_FIRST: u64 = 5;
    const DELETED: usize = 150;
    let emu = emulator(Scale::Small);
    let input = ReadInput::new(
        &config(&emu, json!({ "page_size": PAGE })),
        &["time_entries"],
        "full_refresh",
    );
    let clean = input.read(None);
    assert_eq!(clean.code, 0, "{}", clean.logs());
    let clean = clean.stream("time_entries");
    let served = clean.len() as u64;
    // Records 10 to 159 in serving order: on pages 1 and 2, both read before page 6.
    let doomed: Vec<i64> = clean[10..10 + DELETED].iter().map(id).collect();
    emu.schedule_deletion(harvest_emulator::ScheduledDeletion {
        path: "/v2/time_entries".into(),
        after: ANSWERED_FIRST,
        stream: "time_entries".into(),
        ids: doomed.clone(),
    });
    emu.reset_request_counts();

    let run = input.read(None);
    assert_eq!(run.code, 0, "{}", run.logs());
    assert!(
        run.logs().contains("records were deleted during the pass"),
        "{}",
        run.logs()
    );
    let got: std::collections::BTreeSet<i64> = run.stream("time_entries").iter().map(id).collect();
    let remaining: Vec<i64> = clean
        .iter()
        .map(id)
        .filter(|i| !doomed.contains(i))
        .collect();
    for record in &remaining {
        assert!(got.contains(record), "time entry {record} was skipped");
    }

    // Pages 1..=6 at the old numbering; page 6 shows the drop, and the walk goes back as many
    // pages as the deletions span and reads to the new end.
    let page_of_drop = ANSWERED_FIRST + 1;
    let back_to = page_of_drop - (DELETED as u64).div_ceil(PAGE);
    let new_pages = (served - DELETED as u64).div_ceil(PAGE);
    let expected = page_of_drop + (new_pages - back_to + 1);
    let requests = emu.request_counts().by_path["/v2/time_entries"];
    println!(
        "{served} time entries, {DELETED} deleted after page {ANSWERED_FIRST}: {requests} requests (clean: {}), {} records sent for {} served",
        served.div_ceil(PAGE),
        run.stream("time_entries").len(),
        remaining.len()
    );
    assert_eq!(requests, expected, "requests to /v2/time_entries");
}
