//! Deletion capture (issue 21): records deleted in Harvest arrive as tombstones of their own
//! stream, cascades included, and never for a record Harvest still serves. The truth is the
//! emulator's own listing, read here through its API, and the ids its control API says a
//! deletion removed.

use std::collections::{BTreeMap, BTreeSet};

use harvest_emulator::{FaultKind, Faults, Scale};
use serde_json::{json, Value};

use source_harvest::streams::Kind;

use crate::common::*;
use crate::resilience::replica as replica_of;
use crate::resilience::*;

/// The entity list streams with a cursor, as the stream table says: deletion capture covers
/// each.
fn entities() -> Vec<&'static str> {
    source_harvest::streams::STREAMS
        .iter()
        .filter(|s| matches!(s.kind, Kind::List { .. }) && s.cursor_field().is_some())
        .map(|s| s.name)
        .collect()
}

/// The child streams with a cursor: deletion capture covers them too. (stream, parent, path)
const CHILDREN: [(&str, &str, &str); 4] = [
    ("invoice_payments", "invoices", "/invoices/{id}/payments"),
    ("invoice_messages", "invoices", "/invoices/{id}/messages"),
    ("estimate_messages", "estimates", "/estimates/{id}/messages"),
    (
        "project_assignments",
        "users",
        "/users/{id}/project_assignments",
    ),
];

/// The ids the emulator serves for each entity stream and, with `children`, each child
/// stream (every parent's list), read through its API.
fn served(
    emu: &harvest_emulator::Emulator,
    children: bool,
) -> BTreeMap<&'static str, BTreeSet<i64>> {
    let id = |r: &Value| r["id"].as_i64().expect("an id");
    let mut out = BTreeMap::new();
    for stream in entities() {
        let ids: BTreeSet<i64> = served_records(emu, &format!("/{stream}"), stream)
            .iter()
            .map(id)
            .collect();
        assert!(!ids.is_empty(), "the emulator serves {stream}");
        out.insert(stream, ids);
    }
    for (stream, parent, path) in CHILDREN.iter().filter(|_| children) {
        let mut ids = BTreeSet::new();
        for parent in out[parent].clone() {
            let path = path.replace("{id}", &parent.to_string());
            ids.extend(served_records(emu, &path, stream).iter().map(id));
        }
        assert!(!ids.is_empty(), "the emulator serves {stream}");
        out.insert(stream, ids);
    }
    out
}

/// The tombstones of a run, by stream, checking that each is a key, the cursor and
/// `_ab_cdc_deleted_at` (the same instant), and nothing else.
fn tombstones(run: &Run) -> BTreeMap<String, BTreeSet<i64>> {
    let mut out: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for (stream, records) in run.records() {
        for data in records.iter().filter(|d| is_tombstone(d)) {
            let fields: BTreeSet<&str> = data
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let mut expected = BTreeSet::from(["id", "updated_at", "_ab_cdc_deleted_at"]);
            if CHILDREN.iter().any(|(child, _, _)| child == &stream) {
                expected.insert("parent_id");
            }
            assert_eq!(fields, expected, "{stream}: {data}");
            assert_eq!(data["updated_at"], data["_ab_cdc_deleted_at"], "{data}");
            out.entry(stream.clone())
                .or_default()
                .insert(data["id"].as_i64().unwrap());
        }
    }
    out
}

/// Deletes `id` of `stream`, returning every record it removed (itself and the cascade).
fn delete(
    emu: &harvest_emulator::Emulator,
    stream: &str,
    id: i64,
    gone: &mut BTreeMap<String, BTreeSet<i64>>,
) {
    let deletion = emu
        .try_delete(stream, id)
        .unwrap_or_else(|refused| panic!("{stream} {id}: {refused}"))
        .unwrap_or_else(|| panic!("{stream} {id} exists"));
    gone.entry(stream.to_string()).or_default().insert(id);
    for (cascaded, ids) in deletion.cascade {
        gone.entry(cascaded.to_string()).or_default().extend(ids);
    }
}

/// One sync an hour after the last, from `state`; it must complete.
fn an_hour_later(emu: &harvest_emulator::Emulator, input: &ReadInput, state: &Value) -> Run {
    emu.advance_clock(3600);
    let run = input.read(Some(state));
    assert_eq!(run.code, 0, "{}", run.logs());
    run
}

/// The state after a first sync, a minute from now, and `hours` hourly syncs after it.
fn first_sync_and_hours(
    emu: &harvest_emulator::Emulator,
    input: &ReadInput,
    hours: usize,
) -> Value {
    emu.advance_clock(60);
    let first = input.read(None);
    assert_eq!(first.code, 0, "{}", first.logs());
    let mut state = first.final_state();
    for _ in 0..hours {
        state = an_hour_later(emu, input, &state).final_state();
    }
    state
}

fn first_id(run: &Run, stream: &str, nth: usize) -> i64 {
    let records = run.stream(stream);
    assert!(records.len() > nth, "{stream} has records");
    records[nth]["id"].as_i64().unwrap()
}

#[test]
fn deleted_records_and_their_cascades_arrive_as_tombstones_and_no_live_record_gets_one() {
    let emu = emulator(Scale::Small);
    // Harvest refuses to delete a client, task or category with anything tracked: these are
    // made to be deleted.
    let client = emu.create("clients", json!({"name": "Short-lived client"}));
    let task = emu.create("tasks", json!({"name": "Short-lived task"}));
    let category = emu.create(
        "expense_categories",
        json!({"name": "Short-lived category"}),
    );
    let input = ReadInput::new(&config(&emu, json!({})), &entities(), "incremental");
    let first = input.read(None);
    assert_eq!(first.code, 0, "{}", first.logs());
    assert!(
        tombstones(&first).is_empty(),
        "a first sync deletes nothing"
    );

    let mut gone = BTreeMap::new();
    for (stream, id) in [
        ("clients", client["id"].as_i64().unwrap()),
        ("tasks", task["id"].as_i64().unwrap()),
        ("expense_categories", category["id"].as_i64().unwrap()),
        ("time_entries", first_id(&first, "time_entries", 3)),
        ("expenses", first_id(&first, "expenses", 2)),
        ("contacts", first_id(&first, "contacts", 1)),
        ("invoices", first_id(&first, "invoices", 0)),
        ("estimates", first_id(&first, "estimates", 0)),
        ("roles", first_id(&first, "roles", 0)),
        // A project takes its time entries, expenses and assignments with it.
        ("projects", first_id(&first, "projects", 0)),
    ] {
        delete(&emu, stream, id, &mut gone);
    }
    assert!(
        gone["time_entries"].len() > 1,
        "the project took time entries"
    );

    // An hour later: streams of one page are listed whole, so their deletions arrive now.
    let second = an_hour_later(&emu, &input, &first.final_state());
    let now = tombstones(&second);
    for stream in [
        "clients",
        "tasks",
        "expense_categories",
        "contacts",
        "roles",
        "projects",
    ] {
        assert_eq!(
            now.get(stream),
            gone.get(stream),
            "{stream}: listed whole, its deletions arrive in the next sync"
        );
    }
    // A day later, every listing has completed: the rest arrive, none twice.
    emu.advance_clock(24 * 3600);
    let third = input.read(Some(&second.final_state()));
    assert_eq!(third.code, 0, "{}", third.logs());
    let later = tombstones(&third);
    let truth = served(&emu, false);
    let mut all: BTreeMap<String, BTreeSet<i64>> = now.clone();
    for (stream, ids) in &later {
        let before = all.entry(stream.clone()).or_default();
        assert!(before.is_disjoint(ids), "{stream}: a deletion sent twice");
        before.extend(ids);
    }
    for stream in entities() {
        let sent = all.get(stream).cloned().unwrap_or_default();
        let live = &truth[stream];
        assert!(
            sent.is_disjoint(live),
            "{stream}: tombstones for records Harvest serves: {:?}",
            sent.intersection(live).collect::<Vec<_>>()
        );
        assert_eq!(
            sent,
            gone.get(stream).cloned().unwrap_or_default(),
            "{stream}: a tombstone for each deleted record"
        );
        // The replica, tombstones applied, holds what Harvest serves.
        let replica = replica_of(union(
            union(keyed(&first.messages), keyed(&second.messages)),
            keyed(&third.messages),
        ));
        let held: BTreeSet<i64> = replica
            .get(stream)
            .map(|r| r.keys().map(|k| k.parse().unwrap()).collect())
            .unwrap_or_default();
        assert_eq!(&held, live, "{stream}: the replica is Harvest's");
    }
}

#[test]
fn a_state_from_before_capture_and_capture_turned_off_send_no_tombstone() {
    let emu = emulator(Scale::Tiny);
    let off = ReadInput::new(
        &config(&emu, json!({"capture_deletions": false})),
        &entities(),
        "incremental",
    );
    let first = off.read(None);
    assert_eq!(first.code, 0, "{}", first.logs());
    let state = first.final_state();
    assert!(
        !state.to_string().contains("deletions"),
        "capture off keeps nothing for it: {state}"
    );
    let mut gone = BTreeMap::new();
    delete(&emu, "contacts", first_id(&first, "contacts", 0), &mut gone);
    let second = an_hour_later(&emu, &off, &state);
    assert!(tombstones(&second).is_empty());

    // Turned on with that state (as a state from before capture existed): the deletion made
    // before any listing is not known, so nothing is sent; the next one is.
    let on = ReadInput::new(&config(&emu, json!({})), &entities(), "incremental");
    let third = on.read(Some(&second.final_state()));
    assert_eq!(third.code, 0, "{}", third.logs());
    assert!(tombstones(&third).is_empty(), "{:?}", tombstones(&third));
    let mut gone = BTreeMap::new();
    delete(&emu, "contacts", first_id(&first, "contacts", 1), &mut gone);
    let fourth = an_hour_later(&emu, &on, &third.final_state());
    assert_eq!(
        tombstones(&fourth).get("contacts"),
        gone.get("contacts"),
        "{}\n{}",
        fourth.logs(),
        third.final_state()
    );
}

/// The children's deletions, a deleted parent's children included, arrive once the sweep has
/// read every parent whole: in the next sync with `child_sweep_hours` 0, a day later with 24.
fn children_deletions(sweep_hours: u32) {
    let emu = emulator(Scale::Small);
    // Harvest refuses to delete an assignment with time tracked: this one is made to go.
    let assignment = emu.create("user_assignments", json!({}));
    let mut streams: Vec<&str> = entities();
    streams.extend(CHILDREN.iter().map(|(child, _, _)| *child));
    let input = ReadInput::new(
        &config(&emu, json!({ "child_sweep_hours": sweep_hours })),
        &streams,
        "incremental",
    );
    emu.advance_clock(60);
    let first = input.read(None);
    assert_eq!(first.code, 0, "{}", first.logs());
    let mut gone = BTreeMap::new();
    for (stream, id) in [
        ("invoice_payments", first_id(&first, "invoice_payments", 0)),
        ("invoice_messages", first_id(&first, "invoice_messages", 0)),
        (
            "estimate_messages",
            first_id(&first, "estimate_messages", 0),
        ),
        ("user_assignments", assignment["id"].as_i64().unwrap()),
    ] {
        delete(&emu, stream, id, &mut gone);
    }
    // An invoice with payments: they go with it.
    let paid = first.stream("invoice_payments")[1]["parent_id"]
        .as_i64()
        .unwrap();
    delete(&emu, "invoices", paid, &mut gone);
    for child in ["invoice_payments", "project_assignments"] {
        assert!(gone.contains_key(child), "{child}: {gone:?}");
    }

    let mut runs = vec![first];
    for hours in [1, 25] {
        emu.advance_clock(hours * 3600);
        let next = input.read(Some(&runs.last().unwrap().final_state()));
        assert_eq!(next.code, 0, "{}", next.logs());
        runs.push(next);
    }
    let truth = served(&emu, true);
    let mut replica = Keyed::new();
    let mut sent: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for (i, run) in runs.iter().enumerate() {
        replica = union(replica, keyed(&run.messages));
        for (stream, ids) in tombstones(run) {
            if sweep_hours == 0 && i == 1 {
                assert_eq!(
                    Some(&ids),
                    gone.get(&stream),
                    "{stream}: every parent read whole, its deletions arrive in the next sync"
                );
            }
            let all = sent.entry(stream.clone()).or_default();
            assert!(
                all.is_disjoint(&ids),
                "a deletion sent twice: {stream} {ids:?} run {i}, sent {all:?}"
            );
            all.extend(ids);
        }
    }
    let replica = replica_of(replica);
    for (stream, _, _) in CHILDREN {
        let ids = sent.get(stream).cloned().unwrap_or_default();
        assert!(
            ids.is_disjoint(&truth[stream]),
            "{stream}: a tombstone for a record Harvest serves"
        );
        assert_eq!(
            Some(&ids),
            gone.get(stream),
            "{stream}: a tombstone for each deleted record"
        );
        let held: BTreeSet<i64> = replica[stream]
            .values()
            .map(|r| r["id"].as_i64().unwrap())
            .collect();
        assert_eq!(held, truth[stream], "{stream}: the replica is Harvest's");
    }
}

#[test]
fn deleted_children_arrive_in_the_next_sync_when_every_parent_is_read() {
    children_deletions(0);
}

#[test]
fn deleted_children_arrive_within_the_sweep_interval() {
    children_deletions(24);
}

/// The primary keys of `stream`'s tombstones in `run`, each checked to hold only its key
/// columns, its source's id, its cursor and `_ab_cdc_deleted_at`.
fn derived_tombstones(run: &Run, stream: &str) -> BTreeSet<String> {
    let def = source_harvest::streams::find(stream).unwrap();
    let derived = def.derived().unwrap();
    let mut allowed: BTreeSet<&str> = def.primary_key().iter().copied().collect();
    allowed.extend([derived.source_id, derived.cursor, "_ab_cdc_deleted_at"]);
    run.stream(stream)
        .iter()
        .filter(|d| is_tombstone(d))
        .map(|d| {
            for field in d.as_object().unwrap().keys() {
                assert!(allowed.contains(field.as_str()), "{stream}: {d}");
            }
            assert_eq!(d[derived.cursor], d["_ab_cdc_deleted_at"], "{d}");
            record_key(stream, d)
        })
        .collect()
}

/// The keys of the rows of `stream` in `run` whose `column` is `value`.
fn rows_of(run: &Run, stream: &str, column: &str, value: i64) -> BTreeSet<String> {
    run.stream(stream)
        .iter()
        .filter(|r| r[column] == value)
        .map(|r| record_key(stream, r))
        .collect()
}

#[test]
fn derived_rows_removed_or_gone_with_their_source_arrive_as_tombstones() {
    let emu = emulator(Scale::Small);
    let assignment = emu.create("user_assignments", json!({}));
    let streams = [
        "invoices",
        "estimates",
        "roles",
        "users",
        "project_assignments",
        "invoice_line_items",
        "estimate_line_items",
        "user_roles",
        "user_project_tasks",
    ];
    let input = ReadInput::new(
        &config(&emu, json!({"child_sweep_hours": 0})),
        &streams,
        "incremental",
    );
    emu.advance_clock(60);
    let first = input.read(None);
    assert_eq!(first.code, 0, "{}", first.logs());
    let mut expected: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let with_items = |stream: &str, column: &str, nth: usize| -> i64 {
        let mut sources: Vec<i64> = first
            .stream(stream)
            .iter()
            .map(|r| r[column].as_i64().unwrap())
            .collect();
        sources.dedup();
        sources[nth]
    };

    // An invoice and an estimate deleted: their line items go with them.
    let invoice = with_items("invoice_line_items", "invoice_id", 0);
    let estimate = with_items("estimate_line_items", "estimate_id", 0);
    let mut gone = BTreeMap::new();
    delete(&emu, "invoices", invoice, &mut gone);
    delete(&emu, "estimates", estimate, &mut gone);
    expected.insert(
        "invoice_line_items",
        rows_of(&first, "invoice_line_items", "invoice_id", invoice),
    );
    expected.insert(
        "estimate_line_items",
        rows_of(&first, "estimate_line_items", "estimate_id", estimate),
    );
    // A line item removed from an invoice that stays.
    let kept_invoice = with_items("invoice_line_items", "invoice_id", 1);
    let items: Vec<Value> = first
        .stream("invoice_line_items")
        .into_iter()
        .filter(|r| r["invoice_id"] == kept_invoice)
        .collect();
    assert!(items.len() >= 2, "an invoice with two line items");
    let keep: Vec<&Value> = items[1..].iter().map(|r| &r["id"]).collect();
    emu.update("invoices", kept_invoice, json!({ "line_items": keep }))
        .expect("a live invoice");
    expected
        .get_mut("invoice_line_items")
        .unwrap()
        .insert(record_key("invoice_line_items", &items[0]));
    // A role deleted, and a member removed from another.
    let roles = first.stream("roles");
    let members = |role: &Value| role["user_ids"].as_array().unwrap().len();
    let deleted_role = roles.iter().find(|r| members(r) > 0).unwrap()["id"]
        .as_i64()
        .unwrap();
    let trimmed = roles
        .iter()
        .find(|r| r["id"] != deleted_role && members(r) > 1)
        .expect("a role with two members");
    delete(&emu, "roles", deleted_role, &mut gone);
    let trimmed_id = trimmed["id"].as_i64().unwrap();
    let users = trimmed["user_ids"].as_array().unwrap();
    let last_user = users.last().unwrap().clone();
    emu.update(
        "roles",
        trimmed_id,
        json!({ "user_ids": users[..users.len() - 1] }),
    )
    .expect("a live role");
    let mut user_roles = rows_of(&first, "user_roles", "role_id", deleted_role);
    user_roles.insert(record_key(
        "user_roles",
        &json!({"role_id": trimmed_id, "user_id": last_user}),
    ));
    expected.insert("user_roles", user_roles);
    // A user assignment deleted: its project assignment and that one's task rows go.
    delete(
        &emu,
        "user_assignments",
        assignment["id"].as_i64().unwrap(),
        &mut gone,
    );
    let project_assignment = *gone["project_assignments"].first().unwrap();
    let tasks = rows_of(
        &first,
        "user_project_tasks",
        "project_assignment_id",
        project_assignment,
    );
    assert!(!tasks.is_empty(), "the assignment's project has tasks");
    expected.insert("user_project_tasks", tasks);

    let second = an_hour_later(&emu, &input, &first.final_state());
    let replica = replica_of(union(keyed(&first.messages), keyed(&second.messages)));
    for (stream, rows) in &expected {
        assert_eq!(
            &derived_tombstones(&second, stream),
            rows,
            "{stream}: a tombstone for each row gone, none other"
        );
        for row in rows {
            assert!(!replica[*stream].contains_key(row), "{stream} {row} stays");
        }
    }
    // Nothing else left the replica: it holds every row of what Harvest serves now.
    let truth = derived_rows(&emu);
    for stream in expected.keys() {
        let held: BTreeSet<String> = replica[*stream].keys().cloned().collect();
        assert!(!truth[*stream].is_empty(), "{stream}");
        assert_eq!(held, truth[*stream], "{stream}: the replica is Harvest's");
    }
}

/// The keys of the rows of four derived streams, from the emulator's sources as it serves
/// them (its API, not the connector).
fn derived_rows(emu: &harvest_emulator::Emulator) -> BTreeMap<&'static str, BTreeSet<String>> {
    let mut out: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    for (source, stream) in [
        ("invoices", "invoice_line_items"),
        ("estimates", "estimate_line_items"),
    ] {
        let rows = out.entry(stream).or_default();
        for record in served_records(emu, &format!("/{source}"), source) {
            for item in record["line_items"].as_array().into_iter().flatten() {
                rows.insert(record_key(stream, item));
            }
        }
    }
    let roles = out.entry("user_roles").or_default();
    for role in served_records(emu, "/roles", "roles") {
        for user in role["user_ids"].as_array().into_iter().flatten() {
            roles.insert(record_key(
                "user_roles",
                &json!({"role_id": role["id"], "user_id": user}),
            ));
        }
    }
    let tasks = out.entry("user_project_tasks").or_default();
    for user in served_records(emu, "/users", "users") {
        let path = format!("/users/{}/project_assignments", user["id"]);
        for assignment in served_records(emu, &path, "project_assignments") {
            for task in assignment["task_assignments"]
                .as_array()
                .into_iter()
                .flatten()
            {
                tasks.insert(record_key(
                    "user_project_tasks",
                    &json!({"user_id": user["id"], "id": task["id"]}),
                ));
            }
        }
    }
    out
}

#[test]
fn a_time_entry_moved_to_a_window_already_listed_is_looked_up_not_tombstoned() {
    let emu = emulator(Scale::Small);
    let input = ReadInput::new(
        &config(&emu, json!({"page_size": 200})),
        &["time_entries"],
        "incremental",
    );
    emu.advance_clock(60);
    let first = input.read(None);
    assert_eq!(first.code, 0, "{}", first.logs());
    // An hour later the listing begins: a slice of the windows, oldest first.
    let second = an_hour_later(&emu, &input, &first.final_state());
    let state = second.final_state();
    let entries_state = state
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["stream"]["stream_descriptor"]["name"] == "time_entries")
        .unwrap();
    // The first day of the next window, `YYYYMMDD`, as `YYYY-MM-DD` to compare with dates.
    let next = entries_state["stream"]["stream_state"]["deletions"]["round"]["next"]
        .as_str()
        .expect("a listing under way, paused at a window");
    let next = format!("{}-{}-{}", &next[..4], &next[4..6], &next[6..]);
    let entries = first.stream("time_entries");
    let not_listed_yet: Vec<&Value> = entries
        .iter()
        .filter(|e| e["spent_date"].as_str().unwrap() > next.as_str())
        .collect();
    let listed: Vec<&Value> = entries
        .iter()
        .filter(|e| e["spent_date"].as_str().unwrap() < next.as_str())
        .collect();
    assert!(
        not_listed_yet.len() >= 2 && !listed.is_empty(),
        "windows on both sides of {next}"
    );
    // One entry moves back into a window the listing read already (it will not list it this
    // time round), another is deleted.
    let moved = not_listed_yet[0]["id"].as_i64().unwrap();
    let earlier = listed[0]["spent_date"].as_str().unwrap();
    emu.update("time_entries", moved, json!({ "spent_date": earlier }))
        .expect("a live entry");
    let mut gone = BTreeMap::new();
    let deleted = not_listed_yet[1]["id"].as_i64().unwrap();
    delete(&emu, "time_entries", deleted, &mut gone);
    // A day later the listing completes: the moved entry is missing from it, looked up, kept.
    emu.advance_clock(25 * 3600);
    emu.reset_request_counts();
    let third = input.read(Some(&state));
    assert_eq!(third.code, 0, "{}", third.logs());
    assert_eq!(
        emu.request_counts().by_path.get("/v2/time_entries/{id}"),
        Some(&2),
        "both missing entries looked up: {}",
        third.logs()
    );
    let sent = tombstones(&third);
    assert_eq!(
        sent.get("time_entries"),
        Some(&BTreeSet::from([deleted])),
        "{}",
        third.logs()
    );
    let replica = replica_of(union(
        union(keyed(&first.messages), keyed(&second.messages)),
        keyed(&third.messages),
    ));
    let kept = &replica["time_entries"][&moved.to_string()];
    assert_eq!(kept["spent_date"], earlier, "the moved entry, as it is now");
    assert!(
        !replica["time_entries"].contains_key(&deleted.to_string()),
        "the deleted entry left"
    );
}

/// With a 24-hour sweep, a child deleted arrives in the very next sync when Harvest moves its
/// parent for it (a deleted payment moves its invoice): the parent's children, listed whole,
/// are checked against its last whole read, which names one or two missing. A payment created
/// since that read does not hide the deleted ones, and nothing else gets a tombstone.
#[test]
fn a_deleted_child_arrives_in_the_next_sync_when_its_parent_moves() {
    deleted_payments_arrive_in_the_next_sync_when_their_invoice_moves(1);
}

/// The same with a payment recorded three times and two of the copies deleted at once.
#[test]
fn two_children_deleted_at_once_arrive_in_the_next_sync_when_their_parent_moves() {
    deleted_payments_arrive_in_the_next_sync_when_their_invoice_moves(2);
}

fn deleted_payments_arrive_in_the_next_sync_when_their_invoice_moves(deleted: usize) {
    let emu = emulator(Scale::Small);
    let streams = ["invoices", "invoice_payments", "invoice_messages"];
    let input = ReadInput::new(
        &config(&emu, json!({"child_sweep_hours": 24})),
        &streams,
        "incremental",
    );
    emu.advance_clock(60);
    let first = input.read(None);
    assert_eq!(first.code, 0, "{}", first.logs());
    let invoice = first.stream("invoice_payments")[0]["parent_id"]
        .as_i64()
        .unwrap();
    // A payment recorded again, once or twice: the invoice moves, the next sync lists its
    // payments whole.
    let copies: Vec<i64> = (0..deleted)
        .map(|_| {
            emu.create("invoice_payments", json!({"parent_id": invoice}))["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    let second = an_hour_later(&emu, &input, &first.final_state());
    assert!(tombstones(&second).is_empty(), "{:?}", tombstones(&second));

    // The copies deleted, and another payment recorded: an hour later, one sync.
    let mut gone = BTreeMap::new();
    for copy in &copies {
        delete(&emu, "invoice_payments", *copy, &mut gone);
    }
    emu.advance_clock(1800);
    emu.create("invoice_payments", json!({"parent_id": invoice}));
    emu.advance_clock(1800);
    let third = input.read(Some(&second.final_state()));
    assert_eq!(third.code, 0, "{}", third.logs());
    assert_eq!(
        tombstones(&third),
        gone,
        "the deleted payments, in this sync"
    );

    // The sweep's own comparison, a day later, does not name them again.
    let mut state = third.final_state();
    for _ in 0..26 {
        let next = an_hour_later(&emu, &input, &state);
        assert!(tombstones(&next).is_empty(), "{:?}", tombstones(&next));
        state = next.final_state();
    }
}

/// With a 24-hour sweep, an invoice created with one message and deleted with it a sync later
/// (soak seed 15): the message's tombstone arrives with the invoice's, in the next sync, not
/// once the sweep's rounds have gone round twice. The invoice's digest, kept from its read
/// when it was new, holds the message; no longer listed, the invoice is taken as read with no
/// messages, and its 404 confirms the message gone. Nothing Harvest serves gets a tombstone,
/// and the sweep's round that had counted the message does not name it again a day later.
#[test]
fn a_deleted_parent_s_one_child_arrives_in_the_next_sync_with_it() {
    a_deleted_invoice_s_messages_arrive_in_the_next_sync_with_it(1);
}

/// The same with two messages: the digest names both.
#[test]
fn a_deleted_parent_s_two_children_arrive_in_the_next_sync_with_it() {
    a_deleted_invoice_s_messages_arrive_in_the_next_sync_with_it(2);
}

/// The same with three messages, more than a digest names: the sweep's round under way
/// counted them as new, and names those of a parent no longer listed.
#[test]
fn a_deleted_parent_s_three_children_created_in_the_round_arrive_in_the_next_sync_with_it() {
    a_deleted_invoice_s_messages_arrive_in_the_next_sync_with_it(3);
}

fn a_deleted_invoice_s_messages_arrive_in_the_next_sync_with_it(messages: usize) {
    let emu = emulator(Scale::Small);
    let input = ReadInput::new(
        &config(&emu, json!({"child_sweep_hours": 24})),
        &["invoices", "invoice_messages"],
        "incremental",
    );
    let state = first_sync_and_hours(&emu, &input, 1);
    let invoice = emu.create("invoices", json!({}))["id"].as_i64().unwrap();
    let sent: BTreeSet<i64> = (0..messages)
        .map(|_| {
            emu.create("invoice_messages", json!({"parent_id": invoice}))["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    let read = an_hour_later(&emu, &input, &state);
    let read_ids: BTreeSet<i64> = (read.stream("invoice_messages").iter())
        .filter_map(|r| r["id"].as_i64())
        .collect();
    assert!(read_ids.is_superset(&sent), "the messages were synced");

    let mut gone = BTreeMap::new();
    delete(&emu, "invoices", invoice, &mut gone);
    assert_eq!(gone["invoice_messages"], sent);
    let next = an_hour_later(&emu, &input, &read.final_state());
    let expected = BTreeMap::from([
        ("invoice_messages".to_string(), sent),
        ("invoices".to_string(), BTreeSet::from([invoice])),
    ]);
    assert_eq!(tombstones(&next), expected);

    let mut state = next.final_state();
    for _ in 0..26 {
        let later = an_hour_later(&emu, &input, &state);
        assert!(tombstones(&later).is_empty(), "{:?}", tombstones(&later));
        state = later.final_state();
    }
}

/// A sync that fails part-way writes the STATE of the last parent it finished, which holds
/// what it counted: a payment recorded (its invoice moves), sent by a sync that then fails on
/// a later invoice, and deleted before the next sync gets its tombstone once that invoice is
/// read again. Without that STATE it was in no listing: the invoice is read again (the
/// deletion moves it) against a digest that never held the payment, and no round counted it.
#[test]
fn a_child_a_failed_sync_sent_and_harvest_deleted_before_the_next_gets_its_tombstone() {
    a_payment_sent_by_a_sync_failing_on_a_later_invoice_gets_its_tombstone(
        json!({}),
        "",
        Paid::First,
    );
}

/// The same when the later invoice fails after its first page of payments (more payments than
/// a page): the STATE is the one after the parent before it, built before that page counted.
#[test]
fn a_child_sent_by_a_sync_failing_on_a_parent_s_second_page_gets_its_tombstone() {
    a_payment_sent_by_a_sync_failing_on_a_later_invoice_gets_its_tombstone(
        json!({"page_size": 1}),
        "?ref=next_cursor",
        Paid::First,
    );
}

/// A child sent by a sync that then fails on a later page of the same parent, and deleted
/// before the next sync, gets its tombstone in that sync: the failed sync's STATE, as of the
/// parent before (the pages it counted of this one are read again), holds it as a candidate.
#[test]
fn a_child_sent_before_a_later_page_of_its_parent_failed_gets_its_tombstone_next_sync() {
    a_payment_sent_by_a_sync_failing_on_a_later_invoice_gets_its_tombstone(
        json!({"page_size": 1}),
        "?ref=next_cursor",
        Paid::Last,
    );
}

/// The sync an hour after `state` with every request to `path` failing with `kind`: it fails.
fn an_hour_later_failing(
    emu: &harvest_emulator::Emulator,
    input: &ReadInput,
    state: &Value,
    path: String,
    kind: FaultKind,
) -> Run {
    emu.set_faults(Faults {
        paths: vec![path],
        ..Faults::mix(1, 1.0, &[kind])
    });
    emu.advance_clock(3600);
    let failed = input.read(Some(state));
    emu.set_faults(Faults::none());
    assert_eq!(failed.code, 1, "{}", failed.logs());
    failed
}

/// The Small account's emulator, an incremental read of invoices and their payments (a
/// 24-hour sweep, one retry, and `fields`), and its first sync.
fn invoices_and_payments(fields: Value) -> (harvest_emulator::Emulator, ReadInput, Run) {
    let emu = emulator(Scale::Small);
    let mut config = config(&emu, json!({"child_sweep_hours": 24, "max_retries": 1}));
    merge(&mut config, fields);
    let input = ReadInput::new(&config, &["invoices", "invoice_payments"], "incremental");
    emu.advance_clock(60);
    let first = input.read(None);
    assert_eq!(first.code, 0, "{}", first.logs());
    (emu, input, first)
}

/// The lowest and the highest id of an invoice `run` sent payments of.
fn first_and_last_paid(run: &Run) -> (i64, i64) {
    let paid: BTreeSet<i64> = (run.stream("invoice_payments").iter())
        .map(|r| r["parent_id"].as_i64().unwrap())
        .collect();
    let (first, last) = (*paid.first().unwrap(), *paid.last().unwrap());
    assert!(first < last, "{paid:?}");
    (first, last)
}

/// Which paid invoice's new payment is deleted.
enum Paid {
    /// The first: the failed sync finished it. The next sync finishes the failed one's pass
    /// (the parents after its STATE); the one after reads the invoice the deletion moved.
    First,
    /// The last, whose read failed: the next sync confirms the payment, a candidate.
    Last,
}

/// A payment each on the first and the last paid invoice, sent by a sync that then fails on
/// the last one (its payments' path with `fault_query`); the one on `deleted` is deleted
/// before the next sync, and gets its tombstone when `Paid` says.
fn a_payment_sent_by_a_sync_failing_on_a_later_invoice_gets_its_tombstone(
    extra: Value,
    fault_query: &str,
    deleted: Paid,
) {
    let (emu, input, first) = invoices_and_payments(extra);
    let (first_paid, last_paid) = first_and_last_paid(&first);
    // Both invoices move; the first is read before the last. With a page of one payment, the
    // last's newest is on its first page.
    let on_first = emu.create("invoice_payments", json!({"parent_id": first_paid}));
    let on_last = emu.create("invoice_payments", json!({"parent_id": last_paid}));
    let failed = an_hour_later_failing(
        &emu,
        &input,
        &first.final_state(),
        format!("/v2/invoices/{last_paid}/payments{fault_query}"),
        FaultKind::Status503,
    );
    let payment = match deleted {
        Paid::First => on_first["id"].as_i64().unwrap(),
        Paid::Last => on_last["id"].as_i64().unwrap(),
    };
    let sent = failed.stream("invoice_payments");
    assert!(sent.iter().any(|r| r["id"] == payment), "{sent:?}");
    let state = merged(Some(&first.final_state()), &failed);

    let mut gone = BTreeMap::new();
    delete(&emu, "invoice_payments", payment, &mut gone);
    let resumed = an_hour_later(&emu, &input, &state);
    let next = an_hour_later(&emu, &input, &resumed.final_state());
    let named = [tombstones(&resumed), tombstones(&next)];
    let expected = match deleted {
        Paid::First => [BTreeMap::new(), gone],
        Paid::Last => [gone, BTreeMap::new()],
    };
    assert_eq!(named, expected, "the payment's tombstone, by sync");
}

/// A child stream that fails after its last parent (confirming a candidate: Harvest answers the
/// parent's whole list of children with a next link back to itself) writes the STATE after it:
/// the next sync reads none of the failed pass's parents again. The candidate, whose parent's
/// new digest that STATE keeps, is named by the sweep's round within the interval.
#[test]
fn a_child_stream_that_fails_confirming_a_candidate_goes_on_after_its_last_parent() {
    let (emu, input, first) = invoices_and_payments(json!({"checkpoint_interval": 10000}));
    let payment = &first.stream("invoice_payments")[0];
    let invoice = payment["parent_id"].as_i64().unwrap();
    let mut gone = BTreeMap::new();
    delete(
        &emu,
        "invoice_payments",
        payment["id"].as_i64().unwrap(),
        &mut gone,
    );
    let failed = an_hour_later_failing(
        &emu,
        &input,
        &first.final_state(),
        format!("/v2/invoices/{invoice}/payments?!updated_since"),
        FaultKind::NextLinkLoop,
    );
    assert!(tombstones(&failed).is_empty(), "{:?}", tombstones(&failed));
    let states: Vec<&Value> = (failed.of_type("STATE").into_iter())
        .filter(|m| m["state"]["stream"]["stream_descriptor"]["name"] == "invoice_payments")
        .collect();
    assert_eq!(
        states.len(),
        1,
        "one STATE, when the stream failed: {states:?}"
    );
    let reached = &failed.final_stream_states()["invoice_payments"];
    assert!(reached["resume"]["after_parent_id"].is_i64(), "{reached}");

    emu.reset_request_counts();
    let mut state = merged(Some(&first.final_state()), &failed);
    let resumed = input.read(Some(&state));
    assert_eq!(resumed.code, 0, "{}", resumed.logs());
    let children = emu.request_counts().path("/v2/invoices/{id}/payments");
    assert_eq!(children, 0, "the failed pass's parents, read again");
    state = merged(Some(&state), &resumed);
    let mut named = BTreeMap::new();
    for _ in 0..26 {
        let next = an_hour_later(&emu, &input, &state);
        for (stream, ids) in tombstones(&next) {
            named
                .entry(stream)
                .or_insert_with(BTreeSet::new)
                .extend(ids);
        }
        state = next.final_state();
    }
    assert_eq!(named, gone, "the payment, by the round");
}

/// A listing spread over the syncs of the sweep interval is compared part by part: records
/// deleted all along it, behind the listing under way as well as ahead of it, arrive within
/// one interval and a sync (the parts of a listing compared whole would leave those behind it
/// to the listing after: two intervals). Children are deleted without moving their parent,
/// so that only the sweep can find them.
#[test]
fn deletions_all_along_a_listing_spread_over_syncs_arrive_within_one_interval() {
    let emu = emulator(Scale::Small);
    let streams = ["time_entries", "invoices", "invoice_payments"];
    let input = ReadInput::new(
        &config(&emu, json!({"child_sweep_hours": 6, "page_size": 200})),
        &streams,
        "incremental",
    );
    // Capture's first two listings (two intervals), then half an interval: the third listing
    // has read about half of each stream.
    let mut state = first_sync_and_hours(&emu, &input, 15);
    let spread = |stream: &str, by: &str, n: usize| -> Vec<i64> {
        let mut records = served_records(&emu, &format!("/{stream}"), stream);
        if stream == "invoice_payments" {
            return records.iter().map(|r| r["id"].as_i64().unwrap()).collect();
        }
        records.sort_by(|a, b| a[by].as_str().cmp(&b[by].as_str()));
        let step = (records.len() / n).max(1);
        records
            .iter()
            .step_by(step)
            .take(n)
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    let mut gone = BTreeMap::new();
    for id in spread("time_entries", "spent_date", 12) {
        delete(&emu, "time_entries", id, &mut gone);
    }
    // One payment of each of six invoices spread over the parents' ids.
    let mut paid: BTreeMap<i64, i64> = BTreeMap::new();
    for invoice in served_records(&emu, "/invoices", "invoices") {
        let id = invoice["id"].as_i64().unwrap();
        let path = format!("/invoices/{id}/payments");
        if let Some(payment) = served_records(&emu, &path, "invoice_payments").first() {
            paid.insert(id, payment["id"].as_i64().unwrap());
        }
    }
    let step = (paid.len() / 6).max(1);
    for (_, payment) in paid.iter().step_by(step).take(6) {
        assert!(emu.delete_without_bumping_parent("invoice_payments", *payment));
        gone.entry("invoice_payments".to_string())
            .or_default()
            .insert(*payment);
    }

    // One interval (6 syncs) and a sync.
    let mut sent: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for _ in 0..7 {
        let next = an_hour_later(&emu, &input, &state);
        for (stream, ids) in tombstones(&next) {
            let all = sent.entry(stream).or_default();
            assert!(all.is_disjoint(&ids), "a deletion sent twice: {ids:?}");
            all.extend(ids);
        }
        state = next.final_state();
    }
    assert_eq!(gone["time_entries"].len(), 12);
    assert_eq!(gone["invoice_payments"].len(), 6);
    assert_eq!(
        sent, gone,
        "every deletion within one interval and a sync, and no other"
    );
}

/// A list Harvest pages by cursor is newest first: records created between two listings push
/// the old ones onto later pages, so a listing paced only by its share of the stream reads a
/// record later than the listing before it did (its first page read ahead of its share in
/// one, the record on the second page read on its share in the next: 9 syncs after its
/// deletion here, for a six-hour interval). Every sync here creates a contact and then deletes
/// the one at the end of the first page: each deletion arrives within one interval and a sync,
/// as the child sweep's changes do (6 syncs at most here), and no other.
#[test]
fn a_listing_keeps_pace_with_the_last_one_when_new_records_push_old_ones_onto_later_pages() {
    let emu = emulator(Scale::Small);
    let contacts = || {
        let mut all = served_records(&emu, "/contacts", "contacts");
        all.sort_by(|a, b| {
            (b["created_at"].as_str(), b["id"].as_i64())
                .cmp(&(a["created_at"].as_str(), a["id"].as_i64()))
        });
        all
    };
    // Two pages, the second of one contact: read when the listing is all but due.
    let page_size = contacts().len() - 1;
    assert!(page_size >= 4, "a first page of a few contacts");
    let input = ReadInput::new(
        &config(
            &emu,
            json!({"child_sweep_hours": 6, "page_size": page_size}),
        ),
        &["contacts"],
        "incremental",
    );
    // Capture's first two listings (two intervals).
    let mut state = first_sync_and_hours(&emu, &input, 12);
    let mut deleted_after: BTreeMap<i64, usize> = BTreeMap::new();
    let mut sent: BTreeMap<i64, usize> = BTreeMap::new();
    for sync in 0..26 {
        // Three intervals with deletions, then one and a sync for the last ones to arrive.
        if sync < 18 {
            emu.create("contacts", json!({"title": format!("Pace {sync}")}));
        }
        let next = an_hour_later(&emu, &input, &state);
        state = next.final_state();
        for id in tombstones(&next).remove("contacts").unwrap_or_default() {
            assert!(sent.insert(id, sync).is_none(), "contact {id} sent twice");
        }
        if sync < 18 {
            let last_of_first_page = contacts()[page_size - 1]["id"].as_i64().unwrap();
            assert!(emu.delete("contacts", last_of_first_page));
            deleted_after.insert(last_of_first_page, sync);
        }
    }
    assert_eq!(
        sent.keys().collect::<Vec<_>>(),
        deleted_after.keys().collect::<Vec<_>>(),
        "every deleted contact, and no other"
    );
    let late: Vec<String> = deleted_after
        .iter()
        .filter(|(id, after)| sent[id] - **after > 7)
        .map(|(id, after)| format!("{id}: deleted after sync {after}, sent in {}", sent[id]))
        .collect();
    assert!(
        late.is_empty(),
        "later than one interval and a sync: {late:?}"
    );
}

/// Projects deleted with their time entries: a listing of the 4,000 entries names the 292 of
/// the largest project one by one (its summary grows with the stream); more than that at once,
/// it names what it can, and the rest, still in the destination, are counted exactly and
/// announced in every sync until the stream is refreshed. Never silent.
#[test]
fn deletions_beyond_what_a_summary_names_are_counted_and_announced_until_a_refresh() {
    let emu = emulator(Scale::Small);
    let entries = served_records(&emu, "/time_entries", "time_entries");
    let mut by_project: BTreeMap<i64, usize> = BTreeMap::new();
    for entry in &entries {
        *by_project
            .entry(entry["project"]["id"].as_i64().unwrap())
            .or_default() += 1;
    }
    let mut projects: Vec<(i64, usize)> = by_project.into_iter().collect();
    projects.sort_by_key(|(id, n)| (std::cmp::Reverse(*n), *id));
    let (largest, tracked) = projects[0];
    assert!(
        tracked > 200,
        "the largest project has {tracked} time entries"
    );
    let streams = ["projects", "time_entries"];
    let input = ReadInput::new(
        &config(&emu, json!({"child_sweep_hours": 0})),
        &streams,
        "incremental",
    );
    let first = first_sync_and_hours(&emu, &input, 0);
    let mut gone = BTreeMap::new();
    delete(&emu, "projects", largest, &mut gone);
    assert_eq!(gone["time_entries"].len(), tracked);
    let named = an_hour_later(&emu, &input, &first);
    assert_eq!(
        tombstones(&named).remove("time_entries"),
        gone.remove("time_entries"),
        "a project's {tracked} time entries, each named"
    );

    // The next projects, together more than twice as many.
    let mut deleted = 0;
    for (project, n) in &projects[1..] {
        if deleted > 2 * tracked {
            break;
        }
        delete(&emu, "projects", *project, &mut gone);
        deleted += n;
    }
    assert_eq!(gone["time_entries"].len(), deleted);
    let second = an_hour_later(&emu, &input, &named.final_state());
    let named = tombstones(&second)
        .remove("time_entries")
        .unwrap_or_default();
    assert!(named.is_subset(&gone["time_entries"]), "{named:?}");
    let stale = deleted - named.len();
    assert!(
        stale > 0,
        "{deleted} time entries were all named: no overflow"
    );
    let unnamed = |run: &Run| {
        run.final_stream_states()["time_entries"]["deletions"]["unnamed"]["time_entries"]["records"]
            .as_u64()
    };
    // Counted exactly: what the tombstones did not name.
    assert_eq!(unnamed(&second), Some(stale as u64));
    assert!(
        second.logs().contains(&format!(
            "stream time_entries: about {deleted} records disappeared since the previous listing"
        )),
        "{}",
        second.logs()
    );
    // The next sync names nothing more, and says so again.
    let third = an_hour_later(&emu, &input, &second.final_state());
    assert!(!tombstones(&third).contains_key("time_entries"));
    assert_eq!(unnamed(&third), Some(stale as u64));
    assert!(
        third.logs().contains(&format!(
            "\"WARN\" stream time_entries: about {stale} records deleted in Harvest since"
        )) && third
            .logs()
            .contains("refresh stream time_entries to remove them"),
        "{}",
        third.logs()
    );
    // A refresh (a read without state) has nothing to say.
    let refreshed = input.read(None);
    assert_eq!(refreshed.code, 0, "{}", refreshed.logs());
    assert!(!refreshed.logs().contains("could not be named"));
    assert_eq!(unnamed(&refreshed), None);
}

/// Runs the sync an hour after `state` with every request to `stalled` held (the emulator
/// answers none), and kills it (SIGKILL) once the first of them reached the emulator: a kill
/// while the sync waits on that request. Returns what it printed, as the platform would keep
/// it (a line the kill cut off dropped).
fn an_hour_later_killed_at(
    emu: &harvest_emulator::Emulator,
    input: &ReadInput,
    state: &Value,
    stalled: &str,
) -> Run {
    use std::io::BufRead;
    use std::sync::mpsc;
    emu.advance_clock(3600);
    emu.reset_request_counts();
    emu.set_faults(Faults {
        paths: vec![stalled.to_string()],
        ..Faults::mix(1, 1.0, &[FaultKind::Stall])
    });
    // Debug lines flush the output after each response, as the messages of other streams do
    // in a sync of several: a record is out before the stalled request, with or without a
    // STATE after it.
    let mut child = input.spawn_with_env(Some(state), &[("SOURCE_HARVEST_LOG", "debug")]);
    let stdout = child.stdout.take().expect("stdout piped");
    let (lines, printed) = mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut stdout = std::io::BufReader::new(stdout);
        loop {
            let mut line = Vec::new();
            match stdout.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => lines.send(line).expect("the test reads"),
            }
        }
    });
    let mut messages: Vec<Value> = Vec::new();
    let mut killed = false;
    // Until the output ends: the kill ends it, and so does the run's end (the stalled request
    // never came) or the watchdog's kill.
    loop {
        match printed.recv_timeout(std::time::Duration::from_millis(10)) {
            Ok(line) if line.ends_with(b"\n") => {
                messages.push(serde_json::from_slice(&line).expect("a JSON line"));
            }
            Ok(_) => assert!(killed, "only a kill cuts a line"),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let stalls = emu.request_counts().faults.get("stall").copied();
        if !killed && stalls.unwrap_or(0) > 0 {
            child.kill().expect("SIGKILL");
            killed = true;
        }
    }
    reader.join().expect("the reader ends");
    let status = child.wait().expect("the run ends");
    emu.set_faults(Faults::none());
    assert!(killed, "the sync requested {stalled}: {status}");
    Run {
        messages,
        code: status.code().unwrap_or(-1),
        stderr: String::new(),
        stdout: String::new(),
    }
}

/// A record created since the last listing, sent by a sync that is then killed, and deleted
/// before the next sync: no later read lists it, so unless a STATE of the killed sync counted
/// it, it stays in the destination for good. The STATE after its page (or its parent) comes
/// before the sync's next request, so a kill at that request (`stalled`) leaves a STATE that
/// counts it, and its tombstone arrives within `syncs` syncs. `create` makes the record and
/// says its stream and id; no other record gets a tombstone.
fn a_record_a_killed_sync_sent_gets_its_tombstone(
    emu: &harvest_emulator::Emulator,
    input: &ReadInput,
    create: impl FnOnce() -> (&'static str, i64),
    stalled: &str,
    syncs: usize,
) {
    let state = first_sync_and_hours(emu, input, 2);
    let (stream, id) = create();
    let killed = an_hour_later_killed_at(emu, input, &state, stalled);
    let sent = killed.stream(stream);
    assert!(sent.iter().any(|r| r["id"] == id), "{stream} {id} was sent");
    let mut state = merged(Some(&state), &killed);

    let mut gone = BTreeMap::new();
    delete(emu, stream, id, &mut gone);
    let mut named: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for _ in 0..syncs {
        let next = an_hour_later(emu, input, &state);
        for (stream, ids) in tombstones(&next) {
            named.entry(stream).or_default().extend(ids);
        }
        state = next.final_state();
    }
    assert_eq!(
        named, gone,
        "the record's tombstone within {syncs} syncs, and no other"
    );
}

/// A contact, sent by an incremental read of a stream longer than a page, whose sync is killed
/// as it goes on to list the stream for deletions: named by the listing after next.
#[test]
fn a_record_sent_by_a_sync_killed_while_listing_gets_its_tombstone() {
    let emu = emulator(Scale::Small);
    let page_size = served_records(&emu, "/contacts", "contacts").len() - 1;
    let input = ReadInput::new(
        &config(
            &emu,
            json!({"child_sweep_hours": 1, "page_size": page_size}),
        ),
        &["contacts"],
        "incremental",
    );
    let create = || {
        let contact = emu.create("contacts", json!({"title": "Killed"}));
        ("contacts", contact["id"].as_i64().unwrap())
    };
    a_record_a_killed_sync_sent_gets_its_tombstone(
        &emu,
        &input,
        create,
        "/v2/contacts?ref=next_cursor",
        2,
    );
}

/// A payment, sent by the child sweep of a sync killed as it asks Harvest which user the token
/// acts as (after its last parent): named in the next sync, by its invoice's digest.
#[test]
fn a_child_sent_by_a_sync_killed_after_its_parent_gets_its_tombstone() {
    let emu = emulator(Scale::Small);
    let input = ReadInput::new(
        &config(&emu, json!({"child_sweep_hours": 6})),
        &["invoice_payments"],
        "incremental",
    );
    let create = || {
        // The first parent: the others are read after it.
        let invoices = served_records(&emu, "/invoices", "invoices");
        let invoice = invoices.iter().filter_map(|i| i["id"].as_i64()).min();
        let payment = emu.create("invoice_payments", json!({"parent_id": invoice}));
        ("invoice_payments", payment["id"].as_i64().unwrap())
    };
    a_record_a_killed_sync_sent_gets_its_tombstone(&emu, &input, create, "/v2/users/me", 2);
}
