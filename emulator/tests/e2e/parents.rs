//! What a child change does to its parent, as Harvest does it: payments settle their invoice
//! (`due_amount`, `state`, `paid_at`/`paid_date`, `updated_at`); messages with a state event
//! bump their invoice or estimate, plain ones do not; rates never bump their user; a task
//! assignment change shows in every affected project assignment without moving its
//! `updated_at`. With `bump_parent: false` the control API leaves the parent exactly as it was,
//! and child lists still honour `updated_since`.

use crate::common;

use harvest_emulator::Emulator;
use reqwest::blocking::Client;
use serde_json::{json, Value};

fn setup() -> (Emulator, Client) {
    (common::tiny(), common::client())
}

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is not a string"))
        .to_string()
}

/// The control API's URL for a stream's records (`/records/{stream}[/{id}]`).
fn records(emu: &Emulator, stream: &str, id: Option<i64>) -> String {
    match id {
        Some(id) => format!("{}/records/{stream}/{id}", emu.control_url()),
        None => format!("{}/records/{stream}", emu.control_url()),
    }
}

/// Creates a record through the control API; panics unless it answers 201.
fn create(c: &Client, emu: &Emulator, stream: &str, fields: Value) -> Value {
    let (status, body) = common::control(c, "POST", &records(emu, stream, None), Some(fields));
    assert_eq!(status, 201, "{body}");
    body
}

/// The ids a list serves (every page).
fn listed(c: &Client, url: &str, key: &str) -> Vec<i64> {
    common::ids(&common::all(c, url, key))
}

/// An invoice in `state` without payments, and the invoice as served.
fn invoice_in(c: &Client, api: &str, state: &str) -> Value {
    common::all(c, &format!("{api}/invoices?state={state}"), "invoices")
        .into_iter()
        .find(|inv| {
            common::all(
                c,
                &format!("{api}/invoices/{}/payments", inv["id"]),
                "invoice_payments",
            )
            .is_empty()
        })
        .unwrap_or_else(|| panic!("an invoice in state {state} without payments"))
}

#[test]
fn payments_settle_their_invoice_and_bump_it() {
    let (emu, c) = setup();
    let api = emu.api_url();
    let before = invoice_in(&c, &api, "open");
    let id = before["id"].as_i64().unwrap();
    let one = format!("{api}/invoices/{id}");
    let amount = common::cents(&before["amount"]);
    assert!(amount > 1, "an invoice worth splitting");
    let since = text(&before["updated_at"]);

    let half = create(
        &c,
        &emu,
        "invoice_payments",
        json!({ "parent_id": id, "amount": (amount / 2) as f64 / 100.0 }),
    );
    let partly = common::get_json(&c, &one);
    assert_eq!(partly["state"], "open");
    assert_eq!(common::cents(&partly["due_amount"]), amount - amount / 2);
    assert!(partly["paid_at"].is_null() && partly["paid_date"].is_null());
    assert!(
        text(&partly["updated_at"]) > since,
        "the invoice was bumped"
    );
    assert!(listed(
        &c,
        &format!("{api}/invoices?updated_since={since}"),
        "invoices"
    )
    .contains(&id));

    let rest = create(
        &c,
        &emu,
        "invoice_payments",
        json!({ "parent_id": id, "amount": (amount - amount / 2) as f64 / 100.0 }),
    );
    let paid = common::get_json(&c, &one);
    assert_eq!(paid["state"], "paid");
    assert_eq!(common::cents(&paid["due_amount"]), 0);
    assert_eq!(paid["paid_at"], rest["paid_at"]);
    assert_eq!(paid["paid_date"], rest["paid_date"]);
    let payments = format!("{api}/invoices/{id}/payments");
    assert_eq!(
        listed(
            &c,
            &format!("{payments}?updated_since={since}"),
            "invoice_payments"
        ),
        [rest["id"].as_i64().unwrap(), half["id"].as_i64().unwrap()],
        "the child list honours updated_since"
    );

    // A changed payment settles again: one cent less leaves the invoice open.
    let rest_id = rest["id"].as_i64().unwrap();
    let (status, _) = common::control(
        &c,
        "PATCH",
        &records(&emu, "invoice_payments", Some(rest_id)),
        Some(json!({ "amount": (amount - amount / 2 - 1) as f64 / 100.0 })),
    );
    assert_eq!(status, 200);
    let short = common::get_json(&c, &one);
    assert_eq!(short["state"], "open");
    assert_eq!(common::cents(&short["due_amount"]), 1);
    assert!(short["paid_at"].is_null() && short["paid_date"].is_null());

    // A deleted payment is no longer counted.
    let (status, _) = common::control(
        &c,
        "DELETE",
        &records(&emu, "invoice_payments", Some(half["id"].as_i64().unwrap())),
        None,
    );
    assert_eq!(status, 200);
    let after = common::get_json(&c, &one);
    assert_eq!(common::cents(&after["due_amount"]), amount / 2 + 1);
    assert_eq!(
        listed(&c, &payments, "invoice_payments"),
        [rest_id],
        "the deleted payment is gone"
    );
}

#[test]
fn bump_parent_false_changes_a_child_and_leaves_its_parent_as_it_was() {
    let (emu, c) = setup();
    let api = emu.api_url();
    let before = invoice_in(&c, &api, "open");
    let id = before["id"].as_i64().unwrap();
    let one = format!("{api}/invoices/{id}");
    let since = text(&before["updated_at"]);

    let payment = create(
        &c,
        &emu,
        "invoice_payments",
        json!({ "parent_id": id, "amount": 1.0, "bump_parent": false }),
    );
    assert!(
        payment.get("bump_parent").is_none(),
        "an option, not a field"
    );
    let pid = payment["id"].as_i64().unwrap();
    assert_eq!(
        common::get_json(&c, &one),
        before,
        "create left the invoice"
    );
    let (status, _) = common::control(
        &c,
        "PATCH",
        &records(&emu, "invoice_payments", Some(pid)),
        Some(json!({ "amount": 2.0, "bump_parent": false })),
    );
    assert_eq!(status, 200);
    assert_eq!(
        common::get_json(&c, &one),
        before,
        "update left the invoice"
    );
    let message = create(
        &c,
        &emu,
        "invoice_messages",
        json!({ "parent_id": id, "event_type": "close", "bump_parent": false }),
    );
    assert_eq!(message["event_type"], "close");
    assert_eq!(
        common::get_json(&c, &one),
        before,
        "an event left the invoice"
    );
    // The children changed: a sweep that reads them with the parent's watermark finds them.
    assert_eq!(
        listed(
            &c,
            &format!("{api}/invoices/{id}/payments?updated_since={since}"),
            "invoice_payments"
        ),
        [pid]
    );
    assert!(!listed(
        &c,
        &format!("{api}/invoices?updated_since={since}"),
        "invoices"
    )
    .contains(&id));
    let (status, _) = common::control(
        &c,
        "DELETE",
        &format!(
            "{}?bump_parent=false",
            records(&emu, "invoice_payments", Some(pid))
        ),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(
        common::get_json(&c, &one),
        before,
        "delete left the invoice"
    );
    assert!(listed(
        &c,
        &format!("{api}/invoices/{id}/payments"),
        "invoice_payments"
    )
    .is_empty());

    // The Rust handle does the same.
    let quiet = emu.create(
        "invoice_payments",
        json!({ "parent_id": id, "amount": 3.0, "bump_parent": false }),
    );
    assert!(emu.delete_without_bumping_parent("invoice_payments", quiet["id"].as_i64().unwrap()));
    assert_eq!(common::get_json(&c, &one), before);

    // Only streams with parents take the option; a bad value is refused too.
    for (method, url, body) in [
        (
            "POST",
            records(&emu, "clients", None),
            Some(json!({ "bump_parent": false })),
        ),
        (
            "POST",
            records(&emu, "invoice_payments", None),
            Some(json!({ "bump_parent": "no" })),
        ),
        (
            "DELETE",
            format!(
                "{}?bump_parent=maybe",
                records(&emu, "invoice_payments", Some(pid))
            ),
            None,
        ),
    ] {
        assert_eq!(
            common::control(&c, method, &url, body).0,
            422,
            "{method} {url}"
        );
    }
}

#[test]
fn invoice_messages_with_a_state_event_bump_the_invoice_and_plain_ones_do_not() {
    let (emu, c) = setup();
    let api = emu.api_url();
    let draft = invoice_in(&c, &api, "draft");
    let id = draft["id"].as_i64().unwrap();
    let one = format!("{api}/invoices/{id}");
    let since = text(&draft["updated_at"]);
    let messages = format!("{api}/invoices/{id}/messages");

    let plain = create(&c, &emu, "invoice_messages", json!({ "parent_id": id }));
    assert!(plain["event_type"].is_null(), "a new message is plain");
    assert_eq!(
        common::get_json(&c, &one),
        draft,
        "a plain message leaves the invoice"
    );
    assert_eq!(
        listed(
            &c,
            &format!("{messages}?updated_since={since}"),
            "invoice_messages"
        ),
        [plain["id"].as_i64().unwrap()],
        "the child list honours updated_since"
    );

    create(
        &c,
        &emu,
        "invoice_messages",
        json!({ "parent_id": id, "event_type": "send" }),
    );
    let sent = common::get_json(&c, &one);
    assert_eq!(sent["state"], "open");
    assert!(sent["sent_at"].is_string());
    assert!(text(&sent["updated_at"]) > since);
    create(
        &c,
        &emu,
        "invoice_messages",
        json!({ "parent_id": id, "event_type": "close" }),
    );
    let closed = common::get_json(&c, &one);
    assert_eq!(closed["state"], "closed");
    assert!(closed["closed_at"].is_string());
    create(
        &c,
        &emu,
        "invoice_messages",
        json!({ "parent_id": id, "event_type": "re-open" }),
    );
    let reopened = common::get_json(&c, &one);
    assert_eq!(reopened["state"], "open");
    assert!(reopened["closed_at"].is_null());
    create(
        &c,
        &emu,
        "invoice_messages",
        json!({ "parent_id": id, "event_type": "draft" }),
    );
    let back = common::get_json(&c, &one);
    assert_eq!(back["state"], "draft");
    assert!(back["sent_at"].is_null());

    // An estimate's event is not an invoice's: refused, and nothing is created.
    let count = listed(&c, &messages, "invoice_messages").len();
    let (status, body) = common::control(
        &c,
        "POST",
        &records(&emu, "invoice_messages", None),
        Some(json!({ "parent_id": id, "event_type": "accept" })),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(listed(&c, &messages, "invoice_messages").len(), count);
}

#[test]
fn estimate_messages_with_a_state_event_bump_the_estimate() {
    let (emu, c) = setup();
    let api = emu.api_url();
    let draft = common::all(&c, &format!("{api}/estimates?state=draft"), "estimates")
        .into_iter()
        .next()
        .expect("a draft estimate");
    let id = draft["id"].as_i64().unwrap();
    let one = format!("{api}/estimates/{id}");
    let since = text(&draft["updated_at"]);

    for event in ["view", "invoice"] {
        create(
            &c,
            &emu,
            "estimate_messages",
            json!({ "parent_id": id, "event_type": event }),
        );
        assert_eq!(
            common::get_json(&c, &one),
            draft,
            "{event} changes no state"
        );
    }
    create(&c, &emu, "estimate_messages", json!({ "parent_id": id }));
    assert_eq!(common::get_json(&c, &one), draft, "a plain message");

    create(
        &c,
        &emu,
        "estimate_messages",
        json!({ "parent_id": id, "event_type": "send" }),
    );
    let sent = common::get_json(&c, &one);
    assert_eq!(sent["state"], "sent");
    assert!(sent["sent_at"].is_string());
    assert!(text(&sent["updated_at"]) > since);
    assert!(listed(
        &c,
        &format!("{api}/estimates?updated_since={since}"),
        "estimates"
    )
    .contains(&id));
    create(
        &c,
        &emu,
        "estimate_messages",
        json!({ "parent_id": id, "event_type": "accept" }),
    );
    let accepted = common::get_json(&c, &one);
    assert_eq!(accepted["state"], "accepted");
    assert!(accepted["accepted_at"].is_string());
    create(
        &c,
        &emu,
        "estimate_messages",
        json!({ "parent_id": id, "event_type": "decline" }),
    );
    let declined = common::get_json(&c, &one);
    assert_eq!(declined["state"], "declined");
    assert!(declined["declined_at"].is_string() && declined["accepted_at"].is_null());
    create(
        &c,
        &emu,
        "estimate_messages",
        json!({ "parent_id": id, "event_type": "re-open" }),
    );
    let reopened = common::get_json(&c, &one);
    assert_eq!(reopened["state"], "sent");
    assert!(reopened["declined_at"].is_null());
    assert_eq!(
        listed(
            &c,
            &format!("{api}/estimates/{id}/messages?updated_since={since}"),
            "estimate_messages"
        )
        .len(),
        7,
        "every message since, and none before"
    );
}

#[test]
fn rates_never_bump_their_user_and_ignore_updated_since() {
    let (emu, c) = setup();
    let api = emu.api_url();
    let user = common::get_json(&c, &format!("{api}/users/me"));
    let id = user["id"].as_i64().unwrap();
    let one = format!("{api}/users/{id}");
    let before = common::get_json(&c, &one);
    for stream in ["billable_rates", "cost_rates"] {
        let rate = create(
            &c,
            &emu,
            stream,
            json!({ "parent_id": id, "amount": 123.0 }),
        );
        let rid = rate["id"].as_i64().unwrap();
        let (status, _) = common::control(
            &c,
            "PATCH",
            &records(&emu, stream, Some(rid)),
            Some(json!({ "amount": 124.0 })),
        );
        assert_eq!(status, 200);
        // Harvest has no updated_since on rates: the list is served whole.
        let all = listed(&c, &format!("{api}/users/{id}/{stream}"), stream);
        assert!(all.len() > 1, "{stream}: the new rate and older ones");
        assert_eq!(
            listed(
                &c,
                &format!("{api}/users/{id}/{stream}?updated_since=2100-01-01T00:00:00Z"),
                stream
            ),
            all,
            "{stream}"
        );
        let (status, _) = common::control(&c, "DELETE", &records(&emu, stream, Some(rid)), None);
        assert_eq!(status, 200);
    }
    assert_eq!(common::get_json(&c, &one), before, "the user is untouched");
}

/// The project assignment of `project` among a user's, if the user has one.
fn assignment_of(c: &Client, api: &str, user: i64, project: i64) -> Option<Value> {
    common::all(
        c,
        &format!("{api}/users/{user}/project_assignments"),
        "project_assignments",
    )
    .into_iter()
    .find(|pa| pa["project"]["id"] == project)
}

#[test]
fn a_task_assignment_change_shows_in_every_project_assignment_without_moving_it() {
    let (emu, c) = setup();
    let api = emu.api_url();
    let created = create(&c, &emu, "task_assignments", json!({ "budget": 42.0 }));
    let tid = created["id"].as_i64().unwrap();
    let project = created["project"]["id"].as_i64().unwrap();
    let users: Vec<i64> = common::all(
        &c,
        &format!("{api}/projects/{project}/user_assignments?is_active=true"),
        "user_assignments",
    )
    .iter()
    .map(|ua| ua["user"]["id"].as_i64().unwrap())
    .collect();
    assert!(!users.is_empty(), "the project has assigned users");
    let before: Vec<Value> = users
        .iter()
        .map(|&u| assignment_of(&c, &api, u, project).expect("an active assignment"))
        .collect();
    let embedded = |pa: &Value| -> Value {
        pa["task_assignments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|ta| ta["id"] == tid)
            .cloned()
            .unwrap_or(Value::Null)
    };
    for pa in &before {
        assert_eq!(
            embedded(pa)["budget"],
            42.0,
            "the new task assignment is embedded"
        );
    }

    let (status, changed) = common::control(
        &c,
        "PATCH",
        &records(&emu, "task_assignments", Some(tid)),
        Some(
            json!({ "is_active": false, "hourly_rate": 99.5, "updated_at": "2100-01-01T00:00:00Z" }),
        ),
    );
    assert_eq!(status, 200, "{changed}");
    for (&u, old) in users.iter().zip(&before) {
        let now = assignment_of(&c, &api, u, project).unwrap();
        let ta = embedded(&now);
        assert_eq!(
            (&ta["is_active"], &ta["hourly_rate"], &ta["updated_at"]),
            (&json!(false), &json!(99.5), &json!("2100-01-01T00:00:00Z")),
            "user {u} sees the change"
        );
        assert_eq!(now["updated_at"], old["updated_at"], "user {u}: not moved");
        // So updated_since on the project assignments does not return it: Harvest's behaviour.
        let since = text(&old["updated_at"]);
        assert!(!listed(
            &c,
            &format!("{api}/users/{u}/project_assignments?updated_since={since}"),
            "project_assignments"
        )
        .contains(&old["id"].as_i64().unwrap()));
    }
}
