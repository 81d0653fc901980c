//! `read` end to end: the real binary against the emulator.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;

use crate::common::*;
use harvest_emulator::{EmulatorConfig, Scale};
use serde_json::{json, Value};
use source_harvest::streams::Kind;

/// Streams of entity records (everything but reports and company), derived ones included.
fn entity_streams() -> Vec<&'static str> {
    source_harvest::streams::STREAMS
        .iter()
        .filter(|s| {
            matches!(
                s.kind,
                Kind::List { .. } | Kind::Child { .. } | Kind::Derived(_)
            )
        })
        .map(|s| s.name)
        .collect()
}

/// The records' primary keys, each as the text of its values: distinct rows have distinct keys.
fn primary_keys(stream: &str, records: &[Value]) -> BTreeSet<String> {
    let def = source_harvest::streams::find(stream).unwrap();
    assert!(!def.primary_key().is_empty(), "{stream} has a primary key");
    records
        .iter()
        .map(|r| {
            let key: Vec<&Value> = def.primary_key().iter().map(|k| &r[*k]).collect();
            assert!(key.iter().all(|v| v.is_i64()), "{stream}: {key:?}");
            serde_json::to_string(&key).unwrap()
        })
        .collect()
}

fn ids(records: &[Value]) -> BTreeSet<i64> {
    records
        .iter()
        .map(|r| r["id"].as_i64().expect("an integer id"))
        .collect()
}

fn sum(records: &[Value], field: &str) -> f64 {
    records
        .iter()
        .map(|r| r[field].as_f64().unwrap_or(0.0))
        .sum()
}

#[test]
fn a_full_refresh_of_every_stream_returns_what_the_emulator_serves() {
    let emu = emulator(Scale::Small);
    let input = ReadInput::new(&config(&emu, json!({})), &all_streams(), "full_refresh");
    let run = input.read(None);
    assert_eq!(run.code, 0, "{}", run.logs());
    let records = run.records();
    let expected = emu.expected_counts();
    for name in entity_streams().into_iter().chain(["company"]) {
        let got = records.get(name).map_or(0, Vec::len) as u64;
        assert_eq!(got, expected[name], "records of {name}");
        if name != "company" {
            assert_eq!(
                primary_keys(name, &records[name]).len() as u64,
                got,
                "{name} has no duplicate primary keys"
            );
        }
    }
    // Every report row is Harvest's report for its window of the grid, row for row.
    let keyed = crate::resilience::keyed(&run.messages);
    for def in crate::reports::dated() {
        let truth = crate::reports::served(
            &emu,
            def,
            crate::truth::default_start(),
            crate::truth::today(&emu),
        );
        assert!(!truth.is_empty(), "{}", def.name);
        assert_eq!(keyed[def.name], truth, "{}: Harvest's rows", def.name);
    }
    // Report windows cover the whole range exactly once, so report totals equal entity totals.
    let hours = sum(&records["time_entries"], "hours");
    for report in ["time_clients", "time_projects", "time_tasks", "time_team"] {
        let total = sum(&records[report], "total_hours");
        assert!(
            (total - hours).abs() < 0.01 * hours.max(1.0),
            "{report}: {total} vs {hours} hours"
        );
        assert!(!records[report].is_empty(), "{report} has rows");
        assert!(records[report]
            .iter()
            .all(|r| r["from"].is_string() && r["to"].is_string()));
    }
    let cost = sum(&records["expenses"], "total_cost");
    for report in [
        "expenses_clients",
        "expenses_projects",
        "expenses_categories",
        "expenses_team",
    ] {
        let total = sum(&records[report], "total_amount");
        assert!(
            (total - cost).abs() < 0.01 * cost.max(1.0),
            "{report}: {total} vs {cost}"
        );
    }
    // Every stream framed STARTED, RUNNING, COMPLETE, and ends with a STATE.
    let statuses = run.statuses();
    let states = run.final_stream_states();
    for name in all_streams() {
        assert_eq!(statuses[name], ["STARTED", "RUNNING", "COMPLETE"], "{name}");
        assert!(states.contains_key(name), "{name} has a STATE");
    }
}

#[test]
fn requests_are_the_minimum_the_page_size_allows() {
    let emu = emulator(Scale::Small);
    let streams = [
        "time_entries",
        "clients",
        "invoice_messages",
        "invoice_payments",
        "billable_rates",
        "company",
        "time_team",
    ];
    let input = ReadInput::new(
        &config(&emu, json!({"page_size": 100})),
        &streams,
        "full_refresh",
    );
    let run = input.read(None);
    assert_eq!(run.code, 0, "{}", run.logs());
    let expected = emu.expected_counts();
    let counts = emu.request_counts();
    let pages = |n: u64| n.div_ceil(100).max(1);
    assert_eq!(
        counts.by_path["/v2/time_entries"],
        pages(expected["time_entries"])
    );
    assert_eq!(counts.by_path["/v2/clients"], pages(expected["clients"]));
    // The parent list is fetched once for both children of invoices; one call per parent each.
    assert_eq!(counts.by_path["/v2/invoices"], pages(expected["invoices"]));
    assert_eq!(
        counts.by_path["/v2/invoices/{id}/messages"],
        expected["invoices"]
    );
    assert_eq!(
        counts.by_path["/v2/invoices/{id}/payments"],
        expected["invoices"]
    );
    assert_eq!(counts.by_path["/v2/users"], pages(expected["users"]));
    assert_eq!(
        counts.by_path["/v2/users/{id}/billable_rates"],
        expected["users"]
    );
    // The company's record and Harvest's clock (which report windows hold today) share one.
    assert_eq!(counts.by_path["/v2/company"], 1);
    assert_eq!(run.stream("company").len(), 1);
}

#[test]
fn the_default_page_is_2000_records() {
    let emu = emulator(Scale::Small);
    let input = ReadInput::new(&config(&emu, json!({})), &["time_entries"], "full_refresh");
    let run = input.read(None);
    assert_eq!(run.code, 0);
    let n = emu.expected_counts()["time_entries"];
    assert_eq!(
        emu.request_counts().by_path["/v2/time_entries"],
        n.div_ceil(2000).max(1)
    );
}

#[test]
fn estimates_come_from_harvests_totals_before_the_records_they_count() {
    let emu = emulator(Scale::Small);
    let input = ReadInput::new(
        &config(&emu, json!({})),
        &["time_entries", "time_team"],
        "full_refresh",
    );
    let run = input.read(None);
    assert_eq!(run.code, 0, "{}", run.logs());
    let mut estimates: BTreeMap<String, Vec<(u64, usize)>> = BTreeMap::new();
    let mut records: BTreeMap<String, usize> = BTreeMap::new();
    for m in &run.messages {
        if m["type"] == "RECORD" {
            *records
                .entry(m["record"]["stream"].as_str().unwrap().into())
                .or_default() += 1;
        } else if m["trace"]["type"] == "ESTIMATE" {
            let estimate = &m["trace"]["estimate"];
            assert_eq!(estimate["type"], "STREAM");
            let name = estimate["name"].as_str().unwrap().to_string();
            let seen = records.get(&name).copied().unwrap_or(0);
            estimates
                .entry(name)
                .or_default()
                .push((estimate["row_estimate"].as_u64().unwrap(), seen));
        }
    }
    // One list: one estimate, Harvest's total, before the first record.
    let expected = emu.expected_counts()["time_entries"];
    assert_eq!(estimates["time_entries"], [(expected, 0)]);
    // A report: one per 365-day window, growing, the last one exact.
    let windows = &estimates["time_team"];
    assert!(windows.len() >= 2, "{windows:?}");
    assert_eq!(windows[0].1, 0, "the first before any row");
    assert!(windows.windows(2).all(|w| w[0].0 <= w[1].0), "{windows:?}");
    assert_eq!(
        windows.last().unwrap().0,
        records["time_team"] as u64,
        "{windows:?}"
    );
}

#[test]
fn states_count_the_records_before_them_and_checkpoint_every_page() {
    let emu = emulator(Scale::Small);
    let input = ReadInput::new(
        &config(&emu, json!({"page_size": 200, "checkpoint_interval": 200})),
        &["time_entries", "invoice_payments", "time_team"],
        "incremental",
    );
    let run = input.read(None);
    assert_eq!(run.code, 0, "{}", run.logs());
    let mut since: BTreeMap<String, u64> = BTreeMap::new();
    let mut states: BTreeMap<String, u64> = BTreeMap::new();
    for m in &run.messages {
        match m["type"].as_str().unwrap() {
            "RECORD" => {
                *since
                    .entry(m["record"]["stream"].as_str().unwrap().into())
                    .or_default() += 1
            }
            "STATE" => {
                let name = m["state"]["stream"]["stream_descriptor"]["name"]
                    .as_str()
                    .unwrap();
                let count = since.remove(name).unwrap_or(0);
                assert_eq!(
                    m["state"]["sourceStats"]["recordCount"].as_f64().unwrap(),
                    count as f64,
                    "{name}"
                );
                *states.entry(name.into()).or_default() += 1;
            }
            _ => {}
        }
    }
    assert!(
        since.values().all(|&n| n == 0),
        "no records after the final STATE: {since:?}"
    );
    let entries = emu.expected_counts()["time_entries"];
    assert!(
        states["time_entries"] >= entries / 200,
        "{} states for {entries} records",
        states["time_entries"]
    );
}

#[test]
fn a_second_incremental_read_returns_only_what_changed() {
    let emu = emulator(Scale::Small);
    let input = ReadInput::new(&config(&emu, json!({})), &all_streams(), "incremental");
    let first = input.read(None);
    assert_eq!(first.code, 0, "{}", first.logs());
    let state = first.final_state();

    let unchanged = input.read(Some(&state));
    assert_eq!(unchanged.code, 0, "{}", unchanged.logs());
    for name in entity_streams() {
        if ["billable_rates", "cost_rates", "user_teammates"].contains(&name) {
            continue; // full refresh only
        }
        assert!(
            unchanged.stream(name).is_empty(),
            "{name} re-read {} records",
            unchanged.stream(name).len()
        );
    }

    let client_id = first.stream("clients")[0]["id"].as_i64().unwrap();
    emu.update("clients", client_id, json!({"name": "Renamed Client"}));
    let entry = first.stream("time_entries")[5]["id"].as_i64().unwrap();
    emu.update("time_entries", entry, json!({"notes": "edited"}));
    let third = input.read(Some(&unchanged.final_state()));
    assert_eq!(third.code, 0, "{}", third.logs());
    let clients = third.stream("clients");
    assert_eq!(ids(&clients), BTreeSet::from([client_id]));
    assert_eq!(clients[0]["name"], "Renamed Client");
    let entries = third.stream("time_entries");
    assert_eq!(ids(&entries), BTreeSet::from([entry]));
    assert_eq!(entries[0]["notes"], "edited");
    // A derived stream follows its source: only the edited entry's reference, if it has one.
    let references = third.stream("time_entry_external_reference");
    let has_reference = !entries[0]["external_reference"].is_null();
    assert_eq!(
        references.len(),
        usize::from(has_reference),
        "{references:?}"
    );
    for reference in &references {
        assert_eq!(reference["time_entry_id"], entry);
        assert_eq!(
            reference["time_entries_updated_at"],
            entries[0]["updated_at"]
        );
    }
}

#[test]
fn records_changed_during_a_sync_arrive_in_the_next_one() {
    let emu = emulator(Scale::Small);
    let input = ReadInput::new(
        &config(&emu, json!({"page_size": 50, "max_concurrency": 1})),
        &["time_entries"],
        "incremental",
    );
    let mut child = input.spawn(None);
    let mut lines = lines(&mut child);
    let mut seen = Vec::new();
    // Wait for the first record: the pass is under way, and stdout backpressure holds the
    // connector within a few pages of it.
    let first_id = loop {
        let line = lines.next().expect("records come");
        let m: Value = serde_json::from_str(&line).unwrap();
        let id = m["record"]["data"]["id"].as_i64();
        seen.push(m);
        if let Some(id) = id {
            break id;
        }
    };
    emu.update(
        "time_entries",
        first_id,
        json!({"notes": "changed mid-sync"}),
    );
    let created = emu.create(
        "time_entries",
        json!({"notes": "created mid-sync", "hours": 1.5}),
    );
    let created_id = created["id"].as_i64().unwrap();
    let first = collect(child, seen, lines);
    assert_eq!(first.code, 0);

    let next = input.read(Some(&first.final_state()));
    assert_eq!(next.code, 0);
    let entries = next.stream("time_entries");
    let by_id: BTreeMap<i64, &Value> = entries
        .iter()
        .map(|r| (r["id"].as_i64().unwrap(), r))
        .collect();
    assert_eq!(by_id[&first_id]["notes"], "changed mid-sync");
    assert_eq!(by_id[&created_id]["notes"], "created mid-sync");
}

#[test]
fn an_interrupted_pass_resumes_from_its_last_state() {
    let emu = emulator(Scale::Small);
    // A page-numbered stream, a child stream and a windowed report, each cut mid-stream.
    for (stream, page_size, interval) in [
        ("time_entries", 100, 100),
        ("invoice_messages", 100, 3),
        ("time_team", 5, 5),
    ] {
        let input = ReadInput::new(
            &config(
                &emu,
                json!({"page_size": page_size, "checkpoint_interval": interval}),
            ),
            &[stream],
            "incremental",
        );
        let full = input.read(None);
        assert_eq!(full.code, 0);
        // Everything Harvest serves of the stream, read through its API.
        let served: Vec<Value> = crate::truth::harvest(&emu, &[stream])
            .remove(stream)
            .unwrap_or_default()
            .into_values()
            .collect();
        let all = keys(&served);
        assert_eq!(keys(&full.stream(stream)), all, "{stream}: the whole read");
        // Cut the run after the STATE in the middle of the stream, as a kill would.
        let positions: Vec<usize> = full
            .messages
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                m["type"] == "STATE" && m["state"]["stream"]["stream_descriptor"]["name"] == stream
            })
            .map(|(i, _)| i)
            .collect();
        assert!(positions.len() >= 3, "{stream} checkpoints mid-stream");
        let cut = positions[positions.len() / 2];
        let before: BTreeSet<String> = keys(
            &full.messages[..cut]
                .iter()
                .filter(|m| m["record"]["stream"] == stream)
                .map(|m| m["record"]["data"].clone())
                .collect::<Vec<_>>(),
        );
        let state = json!([full.messages[cut]["state"].clone()]);
        let resumed = input.read(Some(&state));
        assert_eq!(resumed.code, 0);
        let after = keys(&resumed.stream(stream));
        assert_eq!(
            before.union(&after).cloned().collect::<BTreeSet<_>>(),
            all,
            "{stream}: nothing skipped"
        );
        assert!(
            after.len() < all.len(),
            "{stream}: the resumed run did not start over"
        );
    }
}

/// What identifies a record: its id, or for report rows the whole row.
fn keys(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .map(|r| {
            r.get("id")
                .map_or_else(|| r.to_string(), |id| id.to_string())
        })
        .collect()
}

#[test]
fn the_incumbents_state_is_read() {
    let emu = emulator(Scale::Small);
    let input = ReadInput::new(
        &config(&emu, json!({})),
        &["clients", "invoice_messages", "time_clients"],
        "incremental",
    );
    let future = json!([
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": "clients"}, "stream_state": {"updated_at": "2100-01-01T00:00:00Z"}}},
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": "invoice_messages"}, "stream_state": {"states": [
            {"partition": {"id": 1, "parent_slice": {}}, "cursor": {"updated_at": "2100-01-01T00:00:00Z"}},
            {"partition": {"id": 2, "parent_slice": {}}, "cursor": {"updated_at": "2100-02-01T00:00:00Z"}}
        ]}}},
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": "time_clients"}, "stream_state": {"to": "21000101"}}}
    ]);
    let run = input.read(Some(&future));
    assert_eq!(run.code, 0, "{}", run.logs());
    assert!(
        run.of_type("RECORD").is_empty(),
        "nothing after a future cursor"
    );
    assert_eq!(run.final_stream_states()["time_clients"]["to"], "21000101");

    let past = json!([
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": "clients"}, "stream_state": {"updated_at": "2000-01-01T00:00:00Z"}}}
    ]);
    let run = input.read(Some(&past));
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stream("clients").len() as u64,
        emu.expected_counts()["clients"]
    );
}

#[test]
fn a_forbidden_stream_is_skipped_loudly_and_the_others_finish() {
    let emu = harvest_emulator::Emulator::start(EmulatorConfig {
        scale: Scale::Tiny,
        general_limit: None,
        reports_limit: None,
        forbidden: vec!["/v2/invoices".into()],
        ..EmulatorConfig::default()
    })
    .unwrap();
    let input = ReadInput::new(
        &config(&emu, json!({})),
        &["invoices", "clients", "invoice_payments"],
        "incremental",
    );
    let run = input.read(None);
    assert_ne!(run.code, 0, "an incomplete sync exits non-zero");
    let statuses = run.statuses();
    assert_eq!(statuses["clients"].last().unwrap(), "COMPLETE");
    assert_eq!(statuses["invoices"].last().unwrap(), "INCOMPLETE");
    assert_eq!(statuses["invoice_payments"].last().unwrap(), "INCOMPLETE");
    assert!(
        run.logs().contains("WARN") && run.logs().contains("403"),
        "{}",
        run.logs()
    );
    let errors = run.errors();
    assert!(errors.iter().any(|e| e["failure_type"] == "config_error"
        && e["message"].as_str().unwrap().contains("invoices")));
    assert_eq!(
        run.stream("clients").len() as u64,
        emu.expected_counts()["clients"]
    );
}

#[test]
fn a_narrowed_schema_emits_only_its_fields() {
    let emu = emulator(Scale::Tiny);
    let mut catalog = catalog(&["clients"], "incremental");
    catalog["streams"][0]["stream"]["json_schema"] =
        json!({"type": "object", "properties": {"name": {"type": "string"}}});
    let files = Files::new();
    let config_path = files.json("config.json", &config(&emu, json!({})));
    let catalog_path = files.json("catalog.json", &catalog);
    let run = run(&[
        "read",
        "--config",
        config_path.to_str().unwrap(),
        "--catalog",
        catalog_path.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0);
    let clients = run.stream("clients");
    assert!(!clients.is_empty());
    for record in clients {
        let keys: BTreeSet<&str> = record
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, BTreeSet::from(["id", "name", "updated_at"]));
    }
}

#[test]
fn the_end_date_is_honoured() {
    let emu = emulator(Scale::Small);
    let end = "2025-06-30T00:00:00Z";
    let input = ReadInput::new(
        &config(&emu, json!({"replication_end_date": end})),
        &["time_entries", "time_team"],
        "incremental",
    );
    let run = input.read(None);
    assert_eq!(run.code, 0, "{}", run.logs());
    let entries = run.stream("time_entries");
    assert!(!entries.is_empty());
    assert!(entries
        .iter()
        .all(|r| r["updated_at"].as_str().unwrap() <= end));
    let rows = run.stream("time_team");
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["to"].as_str().unwrap() <= "20250630"));
    assert_eq!(run.final_stream_states()["time_entries"]["updated_at"], end);
}

#[test]
fn a_closed_stdout_ends_the_run_without_a_panic() {
    let emu = emulator(Scale::Small);
    let input = ReadInput::new(&config(&emu, json!({})), &["time_entries"], "full_refresh");
    let mut child = input.spawn(None);
    let mut first = [0u8; 64];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Exit 1, the connector's own failure: not 101 (a panic), not a signal's death (SIGPIPE),
    // and nothing said on stderr, where a panic or an unhandled write error would show.
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn bad_inputs_are_config_errors() {
    let emu = emulator(Scale::Tiny);
    let files = Files::new();
    let config_path = files.json("config.json", &config(&emu, json!({})));
    let catalog_path = files.json("catalog.json", &catalog(&["clients"], "incremental"));
    let cases: Vec<(&str, String, String)> = vec![
        ("catalog", files.text("c1.json", "{not json").display().to_string(), "not valid JSON".into()),
        ("catalog", files.json("c2.json", &json!({"streams": [{"stream": {"name": "nope"}, "sync_mode": "full_refresh"}]})).display().to_string(), "\"nope\"".into()),
        ("state", files.json("s1.json", &json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "clients"}, "stream_state": {"updated_at": "soon"}}}])).display().to_string(), "clients".into()),
        ("state", files.text("s2.json", "").display().to_string(), "empty".into()),
    ];
    for (kind, path, expect) in cases {
        let (catalog, state) = if kind == "catalog" {
            (path.clone(), None)
        } else {
            (catalog_path.display().to_string(), Some(path.clone()))
        };
        let mut args = vec![
            "read",
            "--config",
            config_path.to_str().unwrap(),
            "--catalog",
            &catalog,
        ];
        if let Some(state) = &state {
            args.extend(["--state", state]);
        }
        let run = run(&args);
        assert_ne!(run.code, 0, "{path}");
        let errors = run.errors();
        assert_eq!(errors.len(), 1, "{path}: {:?}", run.messages);
        assert_eq!(errors[0]["failure_type"], "config_error");
        assert!(
            errors[0]["message"].as_str().unwrap().contains(&expect),
            "{path}: {}",
            errors[0]["message"]
        );
        assert!(run.of_type("RECORD").is_empty());
    }
}

/// The derived streams and their sources.
const DERIVED: [(&str, &str); 5] = [
    ("invoice_line_items", "invoices"),
    ("estimate_line_items", "estimates"),
    ("time_entry_external_reference", "time_entries"),
    ("user_roles", "roles"),
    ("user_project_tasks", "project_assignments"),
];

#[test]
fn derived_streams_read_with_their_sources_cost_no_request() {
    let emu = emulator(Scale::Small);
    let expected = emu.expected_counts();
    let sources: Vec<&str> = DERIVED.iter().map(|(_, source)| *source).collect();
    let both: Vec<&str> = DERIVED.iter().flat_map(|(d, s)| [*d, *s]).collect();
    let mut requests = Vec::new();
    for streams in [&sources, &both] {
        emu.reset_request_counts();
        let input = ReadInput::new(&config(&emu, json!({})), streams, "incremental");
        let run = input.read(None);
        assert_eq!(run.code, 0, "{}", run.logs());
        let records = run.records();
        for name in streams.iter().copied() {
            let got = records.get(name).map_or(0, Vec::len) as u64;
            assert_eq!(got, expected[name], "records of {name}");
        }
        requests.push(emu.request_counts());
    }
    assert!(requests[0].total > 0);
    assert_eq!(requests[0].total, requests[1].total, "{requests:?}");
    assert_eq!(requests[0].by_path, requests[1].by_path);
}

#[test]
fn a_derived_stream_alone_reads_its_source_without_emitting_it() {
    let emu = emulator(Scale::Small);
    let expected = emu.expected_counts();
    let derived: Vec<&str> = DERIVED.iter().map(|(d, _)| *d).collect();
    let input = ReadInput::new(&config(&emu, json!({})), &derived, "incremental");
    let run = input.read(None);
    assert_eq!(run.code, 0, "{}", run.logs());
    let records = run.records();
    let statuses = run.statuses();
    let states = run.final_stream_states();
    for (name, source) in DERIVED {
        assert_eq!(
            records[name].len() as u64,
            expected[name],
            "records of {name}"
        );
        assert!(expected[name] > 0, "{name} has rows in the small dataset");
        assert_eq!(statuses[name], ["STARTED", "RUNNING", "COMPLETE"], "{name}");
        // A state of its own, in its source's shape.
        assert!(states[name]["updated_at"].is_string(), "{name}: {states:?}");
        assert!(!records.contains_key(source), "{source} was emitted");
        assert!(!statuses.contains_key(source), "{source} has statuses");
        assert!(!states.contains_key(source), "{source} has a state");
    }
    // project_assignments' parents are listed, not emitted either.
    assert!(!records.contains_key("users") && !states.contains_key("users"));
    let counts = emu.request_counts();
    assert_eq!(counts.path("/v2/invoices"), 1, "{counts:?}");
    assert_eq!(
        counts.path("/v2/users/{id}/project_assignments"),
        expected["users"]
    );
}

#[test]
fn incremental_derived_rows_carry_their_sources_cursor_and_state() {
    let emu = emulator(Scale::Tiny);
    let streams = ["invoices", "invoice_line_items", "roles", "user_roles"];
    let input = ReadInput::new(&config(&emu, json!({})), &streams, "incremental");
    let first = input.read(None);
    assert_eq!(first.code, 0, "{}", first.logs());
    let invoices: BTreeMap<i64, Value> = first
        .stream("invoices")
        .into_iter()
        .map(|i| (i["id"].as_i64().unwrap(), i))
        .collect();
    let items = first.stream("invoice_line_items");
    assert!(!items.is_empty());
    for item in &items {
        let invoice = &invoices[&item["invoice_id"].as_i64().unwrap()];
        assert_eq!(item["invoices_updated_at"], invoice["updated_at"], "{item}");
        assert!(invoice["line_items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["id"] == item["id"]));
    }
    let roles = first.stream("roles");
    let members = first.stream("user_roles");
    assert!(!members.is_empty(), "the roles have members");
    for row in members {
        let role = roles.iter().find(|r| r["id"] == row["role_id"]).unwrap();
        assert_eq!(row["roles_updated_at"], role["updated_at"]);
        assert!(role["user_ids"]
            .as_array()
            .unwrap()
            .contains(&row["user_id"]));
    }
    // The one pass commits one watermark for the source and its derived stream.
    let states = first.final_stream_states();
    assert_eq!(states["invoice_line_items"], states["invoices"]);
    assert_eq!(states["user_roles"], states["roles"]);

    let (&changed, invoice) = invoices
        .iter()
        .find(|(_, i)| !i["line_items"].as_array().unwrap().is_empty())
        .unwrap();
    emu.update("invoices", changed, json!({"subject": "Changed"}));
    let second = input.read(Some(&first.final_state()));
    assert_eq!(second.code, 0, "{}", second.logs());
    assert_eq!(ids(&second.stream("invoices")), BTreeSet::from([changed]));
    let items = second.stream("invoice_line_items");
    assert_eq!(items.len(), invoice["line_items"].as_array().unwrap().len());
    let updated_at = &second.stream("invoices")[0]["updated_at"];
    for item in &items {
        assert_eq!(item["invoice_id"], changed);
        assert_eq!(&item["invoices_updated_at"], updated_at);
    }
    assert!(second.stream("user_roles").is_empty());
}

#[test]
fn a_derived_stream_added_later_reads_its_source_from_its_own_state() {
    let emu = emulator(Scale::Tiny);
    let config = config(&emu, json!({}));
    let first = ReadInput::new(&config, &["invoices"], "incremental").read(None);
    assert_eq!(first.code, 0, "{}", first.logs());
    emu.reset_request_counts();
    let input = ReadInput::new(&config, &["invoices", "invoice_line_items"], "incremental");
    let second = input.read(Some(&first.final_state()));
    assert_eq!(second.code, 0, "{}", second.logs());
    // invoices continue from their state; the newcomer reads all of them, in a pass of its own.
    assert!(second.stream("invoices").is_empty());
    assert_eq!(
        second.stream("invoice_line_items").len() as u64,
        emu.expected_counts()["invoice_line_items"]
    );
    assert_eq!(emu.request_counts().path("/v2/invoices"), 2);
    assert!(second.logs().contains("their sync modes or states differ"));
}

#[test]
fn teammates_are_read_for_managers_and_skipped_for_the_others() {
    let emu = emulator(Scale::Small);
    let input = ReadInput::new(
        &config(&emu, json!({})),
        &["user_teammates"],
        "full_refresh",
    );
    let run = input.read(None);
    assert_eq!(run.code, 0, "{}", run.logs());
    let expected = emu.expected_counts();
    let teammates = run.stream("user_teammates");
    assert_eq!(teammates.len() as u64, expected["user_teammates"]);
    assert!(!teammates.is_empty());
    let counts = emu.request_counts();
    // Every user is asked; those who manage no one answer 422, which is no teammates.
    assert_eq!(counts.path("/v2/users/{id}/teammates"), expected["users"]);
    assert!(counts.status(422) > 0, "{counts:?}");
    assert!(teammates.iter().all(|t| t["parent_id"].is_i64()));
}

#[test]
fn the_acceptance_suites_expected_records_are_what_the_emulator_serves() {
    // The acceptance suite's emulator: the Tiny dataset, seed 42 (integration_tests/acceptance.sh).
    let emu = harvest_emulator::Emulator::start(harvest_emulator::EmulatorConfig {
        seed: 42,
        scale: Scale::Tiny,
        general_limit: None,
        reports_limit: None,
        ..harvest_emulator::EmulatorConfig::default()
    })
    .expect("the emulator starts");
    let text = std::fs::read_to_string(repo_file("integration_tests/expected_records.jsonl"))
        .expect("expected_records.jsonl");
    let mut expected: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let line: Value = serde_json::from_str(line).expect("a JSON line");
        expected
            .entry(line["stream"].as_str().expect("a stream").to_string())
            .or_default()
            .push(line["data"].clone());
    }
    assert!(!expected.is_empty());
    let streams: Vec<&str> = expected.keys().map(String::as_str).collect();
    let served = crate::truth::harvest(&emu, &streams);
    for (stream, records) in &expected {
        let by_key: BTreeMap<String, Value> = records
            .iter()
            .map(|r| (crate::resilience::record_key(stream, r), r.clone()))
            .collect();
        assert_eq!(by_key.len(), records.len(), "{stream}: no record twice");
        assert_eq!(
            &by_key,
            &served[stream.as_str()],
            "{stream}: as the emulator serves it"
        );
    }
}
