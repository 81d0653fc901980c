//! Incremental child streams cost what changed (issue 14): the children of parents that
//! changed arrive in the next sync, those touched through related streams too, the rest within
//! `child_sweep_hours`, and `child_sweep_hours: 0` costs what every sync used to. The
//! emulator's clock is advanced between syncs (no sleeps): the sweep is sized by the server's
//! time.

use std::collections::BTreeSet;

use crate::common::*;
use harvest_emulator::Scale;
use serde_json::{json, Value};

const PAYMENTS: &str = "/v2/invoices/{id}/payments";
const MESSAGES: &str = "/v2/invoices/{id}/messages";

fn parent_ids(records: &[Value]) -> BTreeSet<i64> {
    records
        .iter()
        .map(|r| r["parent_id"].as_i64().expect("a parent_id"))
        .collect()
}

#[test]
fn a_payment_arrives_in_the_next_sync_which_reads_only_its_invoice() {
    let emu = emulator(Scale::Small);
    let input = ReadInput::new(
        &config(&emu, json!({"child_sweep_hours": 24})),
        &["invoice_payments", "invoice_messages"],
        "incremental",
    );
    let first = input.read(None);
    assert_eq!(first.code, 0, "{}", first.logs());
    let invoices = emu.expected_counts()["invoices"];
    assert_eq!(
        emu.request_counts().path(PAYMENTS),
        invoices,
        "a first sync reads every invoice"
    );
    let invoice = first.stream("invoice_payments")[0]["parent_id"]
        .as_i64()
        .unwrap();
    let payment = emu.create(
        "invoice_payments",
        json!({"parent_id": invoice, "amount": 1.5}),
    );

    emu.advance_clock(60);
    emu.reset_request_counts();
    let second = input.read(Some(&first.final_state()));
    assert_eq!(second.code, 0, "{}", second.logs());
    let payments = second.stream("invoice_payments");
    assert!(
        payments.iter().any(|p| p["id"] == payment["id"]),
        "the new payment arrived: {payments:?}"
    );
    let counts = emu.request_counts();
    // One invoice changed; a minute is no invoice's share of a 24-hour sweep.
    assert_eq!(counts.path(PAYMENTS), 1, "{:?}", counts.by_path);
    assert_eq!(counts.path(MESSAGES), 1, "{:?}", counts.by_path);
    assert_eq!(
        counts.path("/v2/invoices"),
        1,
        "one listing of invoices for both children"
    );
    let state = &second.final_stream_states()["invoice_payments"];
    assert_eq!(state["states"], json!([]), "the incumbent's shape: {state}");
    assert!(state["sweep"]["after_id"].is_i64(), "{state}");
}

#[test]
fn a_task_assignment_change_reaches_every_affected_users_project_assignments() {
    let emu = emulator(Scale::Small);
    let input = ReadInput::new(
        &config(&emu, json!({})),
        &["project_assignments"],
        "incremental",
    );
    let first = input.read(None);
    assert_eq!(first.code, 0, "{}", first.logs());
    let before = first.stream("project_assignments");
    // A task assignment embedded in several users' project assignments.
    let (task_assignment, users) = before
        .iter()
        .flat_map(|pa| {
            pa["task_assignments"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |ta| {
                    (
                        ta["id"].as_i64().unwrap(),
                        pa["parent_id"].as_i64().unwrap(),
                    )
                })
        })
        .fold(
            std::collections::BTreeMap::<i64, BTreeSet<i64>>::new(),
            |mut m, (ta, user)| {
                m.entry(ta).or_default().insert(user);
                m
            },
        )
        .into_iter()
        .max_by_key(|(_, users)| users.len())
        .expect("project assignments embed task assignments");
    assert!(
        users.len() >= 2,
        "a task assignment shared by {} users",
        users.len()
    );
    emu.update(
        "task_assignments",
        task_assignment,
        json!({"hourly_rate": 321.5}),
    );

    emu.advance_clock(60);
    let second = input.read(Some(&first.final_state()));
    assert_eq!(second.code, 0, "{}", second.logs());
    let after = second.stream("project_assignments");
    let updated: BTreeSet<i64> = after
        .iter()
        .filter(|pa| {
            pa["task_assignments"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|ta| ta["id"] == task_assignment && ta["hourly_rate"].as_f64() == Some(321.5))
        })
        .map(|pa| pa["parent_id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        updated, users,
        "every affected user's project assignment, in the next sync"
    );
}

#[test]
fn a_change_that_does_not_bump_its_parent_arrives_within_the_sweep_interval() {
    let emu = emulator(Scale::Small);
    let hours = 6;
    let input = ReadInput::new(
        &config(&emu, json!({"child_sweep_hours": hours})),
        &["invoice_messages"],
        "incremental",
    );
    let mut state = input.read(None).final_state();
    let invoices: BTreeSet<i64> = served_records(&emu, "/invoices", "invoices")
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    let invoice = *invoices.iter().nth(invoices.len() / 2).unwrap();
    let message = emu.create(
        "invoice_messages",
        json!({"parent_id": invoice, "bump_parent": false, "subject": "unannounced"}),
    );
    let mut swept = BTreeSet::new();
    let mut arrived_at = None;
    for sync in 1..=hours + 1 {
        emu.advance_clock(3600);
        emu.reset_request_counts();
        let run = input.read(Some(&state));
        assert_eq!(run.code, 0, "{}", run.logs());
        let records = run.stream("invoice_messages");
        swept.extend(parent_ids(&records));
        if arrived_at.is_none() && records.iter().any(|m| m["id"] == message["id"]) {
            arrived_at = Some(sync);
        }
        // An hour's share of a 6-hour sweep, give or take the carried-over remainder.
        let requests = emu.request_counts().path(MESSAGES);
        assert!(
            requests <= (invoices.len() as u64).div_ceil(hours as u64) + 1,
            "sync {sync}: {requests} requests for {} invoices",
            invoices.len()
        );
        state = run.final_state();
    }
    let arrived_at = arrived_at.expect("the message arrived");
    assert!(
        arrived_at <= hours,
        "it arrived in sync {arrived_at}, not within {hours} hours"
    );
    // The sweep went round every invoice with messages.
    let served: Vec<Value> = crate::truth::harvest(&emu, &["invoice_messages"])
        .remove("invoice_messages")
        .unwrap_or_default()
        .into_values()
        .collect();
    let with_messages = parent_ids(&served);
    assert!(!with_messages.is_empty());
    assert!(
        with_messages.is_subset(&swept),
        "unswept: {:?}",
        with_messages.difference(&swept)
    );
}

#[test]
fn child_sweep_hours_0_reads_every_parent_in_every_sync() {
    let emu = emulator(Scale::Small);
    let input = ReadInput::new(
        &config(&emu, json!({"child_sweep_hours": 0})),
        &["invoice_payments"],
        "incremental",
    );
    let first = input.read(None);
    assert_eq!(first.code, 0, "{}", first.logs());
    emu.reset_request_counts();
    let second = input.read(Some(&first.final_state()));
    assert_eq!(second.code, 0, "{}", second.logs());
    let counts = emu.request_counts();
    assert_eq!(counts.path(PAYMENTS), emu.expected_counts()["invoices"]);
    assert_eq!(counts.path("/v2/invoices"), 1);
    assert!(
        second.stream("invoice_payments").is_empty(),
        "nothing changed"
    );
}

#[test]
fn a_state_without_a_sweep_starts_with_a_full_one() {
    let emu = emulator(Scale::Small);
    let input = ReadInput::new(
        &config(&emu, json!({})),
        &["invoice_payments"],
        "incremental",
    );
    let first = input.read(None);
    // Our earlier shape, and the incumbent's per-parent cursors.
    let older = json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "invoice_payments"},
        "stream_state": {"updated_at": first.final_stream_states()["invoice_payments"]["updated_at"]}}}]);
    let incumbent = json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "invoice_payments"},
        "stream_state": {"states": [{"partition": {"id": 1, "parent_slice": {}}, "cursor": {"updated_at": "2024-01-01T00:00:00Z"}}]}}}]);
    for state in [older, incumbent] {
        emu.reset_request_counts();
        let run = input.read(Some(&state));
        assert_eq!(run.code, 0, "{}", run.logs());
        assert_eq!(
            emu.request_counts().path(PAYMENTS),
            emu.expected_counts()["invoices"]
        );
        let payments = parent_ids(&run.stream("invoice_payments"));
        assert_eq!(
            payments,
            parent_ids(&first.stream("invoice_payments")),
            "a full sweep reads every invoice's payments whole"
        );
    }
}

#[test]
fn a_parent_stream_read_in_full_lists_the_parents_for_its_children() {
    let emu = emulator(Scale::Small);
    let input = ReadInput::new(
        &config(&emu, json!({"page_size": 100})),
        &[
            "invoice_messages",
            "invoices",
            "invoice_payments",
            "users",
            "billable_rates",
        ],
        "full_refresh",
    );
    let run = input.read(None);
    assert_eq!(run.code, 0, "{}", run.logs());
    let expected = emu.expected_counts();
    let counts = emu.request_counts();
    assert_eq!(
        counts.path("/v2/invoices"),
        expected["invoices"].div_ceil(100)
    );
    assert_eq!(counts.path("/v2/users"), expected["users"].div_ceil(100));
    assert_eq!(counts.path(MESSAGES), expected["invoices"]);
    assert_eq!(run.stream("invoices").len() as u64, expected["invoices"]);
    assert_eq!(
        run.stream("invoice_payments").len() as u64,
        expected["invoice_payments"]
    );
}

#[test]
fn a_sync_cut_in_the_middle_of_a_sweep_resumes_without_losing_a_parent() {
    let emu = emulator(Scale::Small);
    let input = ReadInput::new(
        &config(
            &emu,
            json!({"child_sweep_hours": 24, "checkpoint_interval": 3}),
        ),
        &["invoice_messages"],
        "incremental",
    );
    let first = input.read(None);
    assert_eq!(first.code, 0, "{}", first.logs());
    // Half a day: half of the invoices are due for the sweep.
    emu.advance_clock(12 * 3600);
    let sweep = input.read(Some(&first.final_state()));
    assert_eq!(sweep.code, 0, "{}", sweep.logs());
    let all = parent_ids(&sweep.stream("invoice_messages"));
    assert!(!all.is_empty());
    let states: Vec<usize> = sweep
        .messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m["type"] == "STATE")
        .map(|(i, _)| i)
        .collect();
    assert!(states.len() >= 3, "the sweep checkpoints between parents");
    let cut = states[states.len() / 2];
    let before: Vec<Value> = sweep.messages[..cut]
        .iter()
        .filter(|m| m["type"] == "RECORD")
        .map(|m| m["record"]["data"].clone())
        .collect();
    let resumed = input.read(Some(&json!([sweep.messages[cut]["state"].clone()])));
    assert_eq!(resumed.code, 0, "{}", resumed.logs());
    let mut union = parent_ids(&before);
    union.extend(parent_ids(&resumed.stream("invoice_messages")));
    assert_eq!(
        union, all,
        "the resumed sweep reads the parents the cut one had left"
    );
    assert_eq!(
        resumed.final_stream_states()["invoice_messages"]["sweep"],
        sweep.final_stream_states()["invoice_messages"]["sweep"],
        "and ends where it would have"
    );
}

#[test]
fn a_future_cursor_reads_no_children_whatever_the_sweep() {
    let emu = emulator(Scale::Small);
    let future = json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "project_assignments"},
        "stream_state": {"updated_at": "2217-01-01T00:00:00Z"}}}]);
    for sweep in [0, 24] {
        let input = ReadInput::new(
            &config(&emu, json!({"child_sweep_hours": sweep})),
            &["project_assignments"],
            "incremental",
        );
        let run = input.read(Some(&future));
        assert_eq!(run.code, 0, "{}", run.logs());
        assert!(
            run.stream("project_assignments").is_empty(),
            "child_sweep_hours {sweep}: records despite a cursor in 2217"
        );
    }
}
