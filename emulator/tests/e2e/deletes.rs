//! Deletions through the control API follow Harvest's rules: a record others still need is
//! refused with Harvest's 422 message and nothing is deleted; a record that owns others takes
//! them with it; the answer lists exactly what went, and afterwards no list, lookup, nested list,
//! report or expected count still shows it.

use std::collections::BTreeMap;

use crate::common;

use harvest_emulator::{Emulator, Refusal, Scale, ScheduledDeletion};
use reqwest::blocking::Client;
use serde_json::{json, Value};

/// `DELETE /__emulator/records/{stream}/{id}`.
fn delete(c: &Client, emu: &Emulator, stream: &str, id: i64) -> (u16, Value) {
    let url = format!("{}/records/{stream}/{id}", emu.control_url());
    common::control(c, "DELETE", &url, None)
}

/// Deletes and returns the answer's `cascade` and `updated`, asserting the deletion happened.
fn deleted(c: &Client, emu: &Emulator, stream: &str, id: i64) -> (Value, Value) {
    let (status, body) = delete(c, emu, stream, id);
    assert_eq!(status, 200, "DELETE {stream}/{id}: {body}");
    assert_eq!(body["deleted"], true, "{body}");
    (body["cascade"].clone(), body["updated"].clone())
}

/// Asserts Harvest's refusal, and that the record is still served exactly as before.
fn refused(c: &Client, emu: &Emulator, stream: &str, id: i64, message: &str) {
    let one = format!("{}/{stream}/{id}", emu.api_url());
    let before = common::get_json(c, &one);
    assert_eq!(
        delete(c, emu, stream, id),
        (422, json!({ "message": message })),
        "{stream} {id}"
    );
    assert_eq!(common::get_json(c, &one), before, "{stream} {id} untouched");
}

/// The ids a list serves, ascending.
fn listed(c: &Client, url: &str, key: &str) -> Vec<i64> {
    let mut ids = common::ids(&common::all(c, url, key));
    ids.sort_unstable();
    ids
}

/// Asserts that `/v2/{path}` answers 404.
fn gone(c: &Client, emu: &Emulator, path: &str) {
    let url = format!("{}/{path}", emu.api_url());
    assert_eq!(common::status(c, &url), 404, "{path} is still served");
}

/// `ids` as the JSON array a cascade lists.
fn id_list(ids: &[i64]) -> Value {
    json!(ids)
}

/// The expected counts of plain lists equal what the lists serve.
fn counts_agree(c: &Client, emu: &Emulator) {
    let counts = emu.expected_counts();
    for stream in [
        "clients",
        "contacts",
        "projects",
        "tasks",
        "users",
        "user_assignments",
        "task_assignments",
        "time_entries",
        "expenses",
        "invoices",
        "estimates",
        "roles",
    ] {
        let url = format!("{}/{stream}", emu.api_url());
        assert_eq!(
            common::all(c, &url, stream).len() as u64,
            counts[stream],
            "{stream}"
        );
    }
}

/// Deletes every record a list serves (leaves: nothing goes with them).
fn delete_all(c: &Client, emu: &Emulator, url: &str, stream: &str) {
    for id in listed(c, url, stream) {
        let (cascade, updated) = deleted(c, emu, stream, id);
        assert_eq!((cascade, updated), (json!({}), json!({})), "{stream} {id}");
    }
}

#[test]
fn a_client_goes_only_without_projects_invoices_or_estimates_and_takes_its_contacts() {
    let emu = common::tiny();
    let c = common::client();
    let api = emu.api_url();
    let message = "This client is not removable. It still has projects and/or invoices.";
    let client = listed(&c, &format!("{api}/clients"), "clients")[0];
    let projects = listed(
        &c,
        &format!("{api}/projects?client_id={client}"),
        "projects",
    );
    let invoices = listed(
        &c,
        &format!("{api}/invoices?client_id={client}"),
        "invoices",
    );
    assert!(!projects.is_empty() && !invoices.is_empty());
    refused(&c, &emu, "clients", client, message);
    assert_eq!(
        listed(
            &c,
            &format!("{api}/projects?client_id={client}"),
            "projects"
        ),
        projects,
        "a refusal deletes nothing"
    );
    // Without projects it still has invoices (and estimates): still refused.
    for project in &projects {
        deleted(&c, &emu, "projects", *project);
    }
    refused(&c, &emu, "clients", client, message);
    for (stream, key) in [("invoices", "invoices"), ("estimates", "estimates")] {
        for id in listed(&c, &format!("{api}/{stream}?client_id={client}"), key) {
            deleted(&c, &emu, stream, id);
        }
    }
    // Now it goes, and its contacts with it.
    let contacts = listed(
        &c,
        &format!("{api}/contacts?client_id={client}"),
        "contacts",
    );
    assert!(!contacts.is_empty(), "the client has contacts");
    let (cascade, updated) = deleted(&c, &emu, "clients", client);
    assert_eq!(cascade, json!({ "contacts": contacts }));
    assert_eq!(updated, json!({}));
    gone(&c, &emu, &format!("clients/{client}"));
    for contact in &contacts {
        gone(&c, &emu, &format!("contacts/{contact}"));
    }
    assert!(!listed(&c, &format!("{api}/contacts"), "contacts")
        .iter()
        .any(|id| contacts.contains(id)));
    counts_agree(&c, &emu);

    // A client made without projects or invoices goes at once.
    let fresh = emu.create("clients", json!({ "name": "Short-Lived" }))["id"]
        .as_i64()
        .unwrap();
    assert_eq!(deleted(&c, &emu, "clients", fresh), (json!({}), json!({})));
    gone(&c, &emu, &format!("clients/{fresh}"));
}

#[test]
fn a_task_with_time_tracked_stays_and_without_takes_its_task_assignments() {
    let emu = common::tiny();
    let c = common::client();
    let api = emu.api_url();
    let task = listed(&c, &format!("{api}/tasks"), "tasks")[0];
    let entries = format!("{api}/time_entries?task_id={task}");
    assert!(!listed(&c, &entries, "time_entries").is_empty());
    let mut assignments: Vec<i64> =
        common::all(&c, &format!("{api}/task_assignments"), "task_assignments")
            .iter()
            .filter(|ta| ta["task"]["id"] == task)
            .map(|ta| ta["id"].as_i64().unwrap())
            .collect();
    assignments.sort_unstable();
    assert!(!assignments.is_empty(), "the task is assigned");
    let counts = emu.expected_counts();
    refused(
        &c,
        &emu,
        "tasks",
        task,
        "This task is not removable. It still has time tracked.",
    );
    assert_eq!(emu.expected_counts(), counts, "a refusal deletes nothing");

    delete_all(&c, &emu, &entries, "time_entries");
    let (cascade, updated) = deleted(&c, &emu, "tasks", task);
    assert_eq!(cascade, json!({ "task_assignments": assignments }));
    assert_eq!(updated, json!({}));
    gone(&c, &emu, &format!("tasks/{task}"));
    for ta in &assignments {
        gone(&c, &emu, &format!("task_assignments/{ta}"));
    }
    // Project assignments embed task assignments: the task is in none of them.
    for user in listed(&c, &format!("{api}/users"), "users") {
        for pa in common::all(
            &c,
            &format!("{api}/users/{user}/project_assignments"),
            "project_assignments",
        ) {
            assert!(
                pa["task_assignments"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|ta| ta["task"]["id"] != task),
                "{pa}"
            );
        }
    }
    counts_agree(&c, &emu);
}

#[test]
fn an_expense_category_with_expenses_stays() {
    let emu = common::tiny();
    let c = common::client();
    let api = emu.api_url();
    let expenses = common::all(&c, &format!("{api}/expenses"), "expenses");
    let category = expenses[0]["expense_category"]["id"].as_i64().unwrap();
    let counts = emu.expected_counts();
    refused(
        &c,
        &emu,
        "expense_categories",
        category,
        "This expense category is not removable. It still has expenses tracked.",
    );
    assert_eq!(emu.expected_counts(), counts, "a refusal deletes nothing");
    for e in expenses
        .iter()
        .filter(|e| e["expense_category"]["id"] == category)
    {
        deleted(&c, &emu, "expenses", e["id"].as_i64().unwrap());
    }
    assert_eq!(
        deleted(&c, &emu, "expense_categories", category),
        (json!({}), json!({}))
    );
    gone(&c, &emu, &format!("expense_categories/{category}"));
}

#[test]
fn a_user_with_time_or_expenses_stays_and_without_takes_its_rates() {
    let emu = common::tiny();
    let c = common::client();
    let api = emu.api_url();
    let message = "This user is not removable. It still has time or expenses tracked.";
    let me = common::get_json(&c, &format!("{api}/users/me"))["id"]
        .as_i64()
        .unwrap();
    let worker = common::get_json(&c, &format!("{api}/time_entries?per_page=1"))["time_entries"][0]
        ["user"]["id"]
        .as_i64()
        .unwrap();
    let counts = emu.expected_counts();
    refused(&c, &emu, "users", worker, message);
    let (status, body) = delete(&c, &emu, "users", me);
    assert_eq!(status, 422, "the token's own user stays: {body}");
    assert!(body["message"].as_str().unwrap().contains("access token"));
    assert_eq!(emu.expected_counts(), counts, "a refusal deletes nothing");

    // A user without time goes with its rates.
    let user = emu.create("users", json!({ "first_name": "Brief" }))["id"]
        .as_i64()
        .unwrap();
    let billable = emu.create("billable_rates", json!({ "parent_id": user }))["id"].clone();
    let cost = emu.create("cost_rates", json!({ "parent_id": user }))["id"].clone();
    let (cascade, updated) = deleted(&c, &emu, "users", user);
    assert_eq!(
        cascade,
        json!({ "billable_rates": [billable], "cost_rates": [cost] })
    );
    assert_eq!(updated, json!({}));
    for path in ["", "/billable_rates", "/cost_rates", "/project_assignments"] {
        gone(&c, &emu, &format!("users/{user}{path}"));
    }
    counts_agree(&c, &emu);
}

#[test]
fn a_project_takes_its_time_expenses_and_assignments_and_leaves_its_invoices() {
    let emu = common::tiny();
    let c = common::client();
    let api = emu.api_url();
    // The project of the first billed time entry: it has time, and an invoice names it.
    let entries = common::all(&c, &format!("{api}/time_entries"), "time_entries");
    let project = entries
        .iter()
        .find(|t| t["is_billed"] == true)
        .expect("a billed entry")["project"]["id"]
        .as_i64()
        .unwrap();
    let of = |stream: &str| listed(&c, &format!("{api}/{stream}?project_id={project}"), stream);
    let time = of("time_entries");
    let expenses = of("expenses");
    let user_assignments = listed(
        &c,
        &format!("{api}/projects/{project}/user_assignments"),
        "user_assignments",
    );
    let task_assignments = listed(
        &c,
        &format!("{api}/projects/{project}/task_assignments"),
        "task_assignments",
    );
    let project_assignments: Vec<i64> = common::all(
        &c,
        &format!("{api}/user_assignments?is_active=true"),
        "user_assignments",
    )
    .iter()
    .filter(|ua| ua["project"]["id"] == project)
    .map(|ua| ua["id"].as_i64().unwrap())
    .collect::<std::collections::BTreeSet<_>>()
    .into_iter()
    .collect();
    let invoices = of("invoices");
    assert!(!time.is_empty() && !user_assignments.is_empty() && !invoices.is_empty());
    // The project's time in one report window, before.
    let day = entries
        .iter()
        .find(|t| t["project"]["id"] == project)
        .unwrap()["spent_date"]
        .as_str()
        .unwrap()
        .to_string();
    let year = &day[..4];
    let report = format!("{api}/reports/time/projects?from={year}-01-01&to={year}-12-31");
    let project_rows = || -> Vec<Value> {
        common::all(&c, &report, "results")
            .into_iter()
            .filter(|r| r["project_id"] == project)
            .collect()
    };
    assert_eq!(project_rows().len(), 1, "the project has time in {year}");

    let (cascade, updated) = deleted(&c, &emu, "projects", project);
    let mut want = BTreeMap::new();
    for (stream, ids) in [
        ("time_entries", &time),
        ("expenses", &expenses),
        ("user_assignments", &user_assignments),
        ("task_assignments", &task_assignments),
        ("project_assignments", &project_assignments),
    ] {
        if !ids.is_empty() {
            want.insert(stream, id_list(ids));
        }
    }
    assert_eq!(cascade, json!(want));
    // Its invoices stay; their line items no longer name it.
    assert_eq!(updated, json!({ "invoices": invoices }));
    for invoice in &invoices {
        let served = common::get_json(&c, &format!("{api}/invoices/{invoice}"));
        assert!(
            served["line_items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["project"].is_null() || l["project"]["id"] != project),
            "{served}"
        );
    }
    gone(&c, &emu, &format!("projects/{project}"));
    gone(&c, &emu, &format!("projects/{project}/user_assignments"));
    gone(&c, &emu, &format!("projects/{project}/task_assignments"));
    for (stream, ids) in [
        ("time_entries", &time),
        ("expenses", &expenses),
        ("user_assignments", &user_assignments),
        ("task_assignments", &task_assignments),
    ] {
        for id in ids.iter() {
            gone(&c, &emu, &format!("{stream}/{id}"));
        }
        let now = listed(&c, &format!("{api}/{stream}"), stream);
        assert!(now.iter().all(|id| !ids.contains(id)), "{stream}");
    }
    for user in listed(&c, &format!("{api}/users"), "users") {
        let pas = common::all(
            &c,
            &format!("{api}/users/{user}/project_assignments"),
            "project_assignments",
        );
        assert!(pas.iter().all(|pa| pa["project"]["id"] != project));
    }
    assert!(project_rows().is_empty(), "the report no longer counts it");
    counts_agree(&c, &emu);
}

#[test]
fn an_invoice_takes_its_payments_and_messages_and_unbills_its_time() {
    let emu = common::tiny();
    let c = common::client();
    let api = emu.api_url();
    let entries = common::all(&c, &format!("{api}/time_entries"), "time_entries");
    let invoice = entries
        .iter()
        .find(|t| t["is_billed"] == true)
        .expect("a billed entry")["invoice"]["id"]
        .as_i64()
        .unwrap();
    let billed = |stream: &str| -> Vec<i64> {
        let mut ids: Vec<i64> = common::all(&c, &format!("{api}/{stream}"), stream)
            .iter()
            .filter(|r| r["invoice"]["id"] == invoice)
            .map(|r| r["id"].as_i64().unwrap())
            .collect();
        ids.sort_unstable();
        ids
    };
    let time = billed("time_entries");
    let expenses = billed("expenses");
    // Give it a payment and a message of each kind, whatever it had.
    emu.create("invoice_payments", json!({ "parent_id": invoice }));
    emu.create("invoice_messages", json!({ "parent_id": invoice }));
    let payments = listed(
        &c,
        &format!("{api}/invoices/{invoice}/payments"),
        "invoice_payments",
    );
    let messages = listed(
        &c,
        &format!("{api}/invoices/{invoice}/messages"),
        "invoice_messages",
    );

    let (cascade, updated) = deleted(&c, &emu, "invoices", invoice);
    assert_eq!(
        cascade,
        json!({ "invoice_messages": messages, "invoice_payments": payments })
    );
    let mut want = BTreeMap::new();
    want.insert("time_entries", id_list(&time));
    if !expenses.is_empty() {
        want.insert("expenses", id_list(&expenses));
    }
    assert_eq!(updated, json!(want));
    for path in ["", "/payments", "/messages"] {
        gone(&c, &emu, &format!("invoices/{invoice}{path}"));
    }
    for id in &time {
        let entry = common::get_json(&c, &format!("{api}/time_entries/{id}"));
        assert_eq!(
            (&entry["invoice"], &entry["is_billed"]),
            (&Value::Null, &json!(false))
        );
    }
    let counts = emu.expected_counts();
    let payments_served: usize = listed(&c, &format!("{api}/invoices"), "invoices")
        .iter()
        .map(|i| {
            common::all(
                &c,
                &format!("{api}/invoices/{i}/payments"),
                "invoice_payments",
            )
            .len()
        })
        .sum();
    assert_eq!(counts["invoice_payments"], payments_served as u64);
    counts_agree(&c, &emu);
}

#[test]
fn an_estimate_takes_its_messages_and_its_invoices_forget_it() {
    let emu = common::tiny();
    let c = common::client();
    let api = emu.api_url();
    let invoices = common::all(&c, &format!("{api}/invoices"), "invoices");
    let estimate = invoices
        .iter()
        .find(|i| !i["estimate"].is_null())
        .expect("an invoice made from an estimate")["estimate"]["id"]
        .as_i64()
        .unwrap();
    let mut made: Vec<i64> = invoices
        .iter()
        .filter(|i| i["estimate"]["id"] == estimate)
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    made.sort_unstable();
    emu.create("estimate_messages", json!({ "parent_id": estimate }));
    let messages = listed(
        &c,
        &format!("{api}/estimates/{estimate}/messages"),
        "estimate_messages",
    );

    let (cascade, updated) = deleted(&c, &emu, "estimates", estimate);
    assert_eq!(cascade, json!({ "estimate_messages": messages }));
    assert_eq!(updated, json!({ "invoices": made }));
    gone(&c, &emu, &format!("estimates/{estimate}"));
    gone(&c, &emu, &format!("estimates/{estimate}/messages"));
    for id in &made {
        let invoice = common::get_json(&c, &format!("{api}/invoices/{id}"));
        assert!(invoice["estimate"].is_null(), "{invoice}");
    }
}

#[test]
fn a_role_goes_alone() {
    let emu = common::tiny();
    let c = common::client();
    let api = emu.api_url();
    let role = common::all(&c, &format!("{api}/roles"), "roles")[0].clone();
    let members = role["user_ids"].as_array().unwrap().clone();
    assert!(!members.is_empty());
    let users = common::all(&c, &format!("{api}/users"), "users");
    let id = role["id"].as_i64().unwrap();
    assert_eq!(deleted(&c, &emu, "roles", id), (json!({}), json!({})));
    gone(&c, &emu, &format!("roles/{id}"));
    assert_eq!(common::all(&c, &format!("{api}/users"), "users"), users);
}

#[test]
fn a_user_assignment_with_time_stays_and_without_takes_its_project_assignment() {
    let emu = common::tiny();
    let c = common::client();
    let api = emu.api_url();
    let entry =
        common::get_json(&c, &format!("{api}/time_entries?per_page=1"))["time_entries"][0].clone();
    let ua = entry["user_assignment"]["id"].as_i64().unwrap();
    let ta = entry["task_assignment"]["id"].as_i64().unwrap();
    refused(
        &c,
        &emu,
        "user_assignments",
        ua,
        "This user assignment is not removable. It still has time or expenses tracked.",
    );
    refused(
        &c,
        &emu,
        "task_assignments",
        ta,
        "This task assignment is not removable. It still has time tracked.",
    );

    // A new assignment has no time: it goes, and the user's project assignment with it.
    let created = emu.create("user_assignments", json!({ "is_active": true }));
    let id = created["id"].as_i64().unwrap();
    let user = created["user"]["id"].as_i64().unwrap();
    let pas = format!("{api}/users/{user}/project_assignments");
    assert!(listed(&c, &pas, "project_assignments").contains(&id));
    let (cascade, updated) = deleted(&c, &emu, "user_assignments", id);
    assert_eq!(cascade, json!({ "project_assignments": [id] }));
    assert_eq!(updated, json!({}));
    gone(&c, &emu, &format!("user_assignments/{id}"));
    assert!(!listed(&c, &pas, "project_assignments").contains(&id));
    counts_agree(&c, &emu);
}

#[test]
fn a_scheduled_deletion_skips_what_harvest_refuses_and_says_why() {
    let emu = common::start(Scale::Tiny);
    let c = common::client();
    let api = emu.api_url();
    let kept = listed(&c, &format!("{api}/clients"), "clients")[0];
    let fresh = emu.create("clients", json!({ "name": "Doomed" }))["id"]
        .as_i64()
        .unwrap();
    emu.schedule_deletion(ScheduledDeletion {
        path: "/v2/clients".into(),
        after: 0,
        stream: "clients".into(),
        ids: vec![kept, fresh],
    });
    let now = listed(&c, &format!("{api}/clients"), "clients");
    assert!(now.contains(&kept) && !now.contains(&fresh), "{now:?}");
    let refusal = Refusal {
        stream: "clients".into(),
        id: kept,
        message: "This client is not removable. It still has projects and/or invoices.".into(),
    };
    assert_eq!(emu.scheduled_refusals(), std::slice::from_ref(&refusal));
    let url = format!("{}/scheduled/refused", emu.control_url());
    assert_eq!(
        common::control(&c, "GET", &url, None),
        (200, json!([refusal]))
    );
}
