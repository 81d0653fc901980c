//! The control API under `/__emulator`: records created, updated (bumping `updated_at`) and
//! deleted while the emulator serves, per-path request counts, expected counts, and faults,
//! limits and 403s changed at run time. The same operations exist on [`Emulator`].

use crate::common;

use harvest_emulator::{Emulator, EmulatorConfig, Scale};
use reqwest::blocking::Client;
use serde_json::{json, Value};

fn small() -> (Emulator, Client) {
    (common::start(Scale::Small), common::client())
}

#[test]
fn health_answers_ok() {
    let emu = common::tiny();
    let c = common::client();
    let (status, body) = common::control(&c, "GET", &format!("{}/health", emu.control_url()), None);
    assert_eq!((status, body), (200, json!({ "status": "ok" })));
}

#[test]
fn records_are_created_updated_and_deleted_while_serving() {
    let (emu, c) = small();
    let api = emu.api_url();
    let records = format!("{}/records/time_entries", emu.control_url());
    let before = common::get_json(&c, &format!("{api}/time_entries?per_page=1"));
    let total = before["total_entries"].as_u64().unwrap();
    let newest_stamp = common::all(&c, &format!("{api}/time_entries"), "time_entries")
        .iter()
        .map(|r| r["updated_at"].as_str().unwrap().to_string())
        .max()
        .unwrap();

    // Create: served at once, first (today is the newest spent_date), by list and by id.
    let (status, created) = common::control(
        &c,
        "POST",
        &records,
        Some(json!({ "hours": 2.5, "notes": "made by the control API" })),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["hours"], 2.5);
    assert_eq!(created["notes"], "made by the control API");
    assert_eq!(created["is_running"], false);
    let page = common::get_json(&c, &format!("{api}/time_entries?per_page=1"));
    assert_eq!(page["total_entries"], total + 1);
    assert_eq!(page["time_entries"][0]["id"], id);
    assert_eq!(
        common::get_json(&c, &format!("{api}/time_entries/{id}")),
        created
    );
    assert_eq!(emu.expected_counts()["time_entries"], total + 1);
    // Only the new record is newer than everything generated.
    let newer = common::all(
        &c,
        &format!("{api}/time_entries?updated_since={newest_stamp}"),
        "time_entries",
    );
    assert_eq!(common::ids(&newer), [id]);

    // Update: the fields change and updated_at moves forward.
    let old = common::get_json(&c, &format!("{api}/time_entries?per_page=1&page=2000"))
        ["time_entries"][0]
        .clone();
    let old_id = old["id"].as_i64().unwrap();
    let (status, updated) = common::control(
        &c,
        "PATCH",
        &format!("{records}/{old_id}"),
        Some(json!({ "hours": 3.25, "notes": "edited" })),
    );
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["hours"], 3.25);
    assert_eq!(updated["notes"], "edited");
    assert!(updated["updated_at"].as_str() > old["updated_at"].as_str());
    assert_eq!(updated["created_at"], old["created_at"]);
    assert_eq!(
        common::get_json(&c, &format!("{api}/time_entries/{old_id}")),
        updated
    );
    let newer = common::all(
        &c,
        &format!("{api}/time_entries?updated_since={newest_stamp}"),
        "time_entries",
    );
    let mut got = common::ids(&newer);
    got.sort();
    assert_eq!(got, [old_id.min(id), old_id.max(id)]);

    // Delete: gone from lists and lookups; a second delete finds nothing.
    let (status, body) = common::control(&c, "DELETE", &format!("{records}/{id}"), None);
    assert_eq!(
        (status, body),
        (
            200,
            json!({ "deleted": true, "cascade": {}, "updated": {} })
        )
    );
    assert_eq!(common::status(&c, &format!("{api}/time_entries/{id}")), 404);
    let page = common::get_json(&c, &format!("{api}/time_entries?per_page=1"));
    assert_eq!(page["total_entries"], total);
    assert_ne!(page["time_entries"][0]["id"], id);
    let (status, _) = common::control(&c, "DELETE", &format!("{records}/{id}"), None);
    assert_eq!(status, 404);
    let (status, _) = common::control(&c, "PATCH", &format!("{records}/{id}"), Some(json!({})));
    assert_eq!(status, 404);
}

/// A field can be made long enough for a page to pass a client's body cap: a control request
/// body is not held to axum's 2 MB default, and the text is served as given.
#[test]
fn a_record_can_be_given_a_field_of_megabytes() {
    let emu = common::tiny();
    let c = common::client();
    let api = emu.api_url();
    let first = &common::get_json(&c, &format!("{api}/time_entries?per_page=1"))["time_entries"][0];
    let id = first["id"].as_i64().unwrap();
    let notes = "n".repeat(5 << 20);
    let (status, updated) = common::control(
        &c,
        "PATCH",
        &format!("{}/records/time_entries/{id}", emu.control_url()),
        Some(json!({ "notes": notes })),
    );
    assert_eq!(status, 200);
    assert_eq!(updated["notes"].as_str().map(str::len), Some(5 << 20));
    let served = common::get_json(&c, &format!("{api}/time_entries/{id}"));
    assert!(
        served["notes"] == notes.as_str(),
        "the notes are served as given"
    );
}

#[test]
fn reports_follow_mutated_time_entries() {
    let (emu, c) = small();
    let api = emu.api_url();
    let created = emu.create("time_entries", json!({ "hours": 7.75 }));
    let id = created["id"].as_i64().unwrap();
    let day = created["spent_date"].as_str().unwrap().to_string();
    let url = format!("{api}/reports/time/projects?from={day}&to={day}");
    let hours_of = || -> i64 {
        common::all(&c, &url, "results")
            .iter()
            .filter(|r| r["project_id"] == created["project"]["id"])
            .map(|r| common::cents(&r["total_hours"]))
            .sum()
    };
    let with_new = hours_of();
    assert!(with_new >= 775);
    emu.update("time_entries", id, json!({ "hours": 1.0 }))
        .unwrap();
    assert_eq!(hours_of(), with_new - 675);
    assert!(emu.delete("time_entries", id));
    assert_eq!(hours_of(), with_new - 775);
}

#[test]
fn child_records_are_created_under_their_parent() {
    let (emu, c) = small();
    let api = emu.api_url();
    let invoice = common::get_json(&c, &format!("{api}/invoices?per_page=1&page=3"))["invoices"][0]
        ["id"]
        .as_i64()
        .unwrap();
    let messages = format!("{api}/invoices/{invoice}/messages");
    let before = common::get_json(&c, &messages)["total_entries"]
        .as_u64()
        .unwrap();
    let (status, created) = common::control(
        &c,
        "POST",
        &format!("{}/records/invoice_messages", emu.control_url()),
        Some(json!({ "parent_id": invoice, "subject": "Reminder" })),
    );
    assert_eq!(status, 201, "{created}");
    let page = common::get_json(&c, &messages);
    assert_eq!(page["total_entries"], before + 1);
    assert_eq!(page["invoice_messages"][0]["id"], created["id"]);
    assert_eq!(page["invoice_messages"][0]["subject"], "Reminder");
    let (status, body) = common::control(
        &c,
        "POST",
        &format!("{}/records/invoice_messages", emu.control_url()),
        Some(json!({ "parent_id": 1 })),
    );
    assert_eq!(status, 422, "{body}");
}

#[test]
fn bad_mutations_are_refused_with_422() {
    let emu = common::tiny();
    let c = common::client();
    let base = format!("{}/records", emu.control_url());
    let id = emu.create("clients", json!({}))["id"].as_i64().unwrap();
    let client = |c: &Client| common::get_json(c, &format!("{}/clients/{id}", emu.api_url()));
    let before = client(&c);
    for (method, url, body) in [
        ("POST", format!("{base}/widgets"), json!({})),
        (
            "POST",
            format!("{base}/clients"),
            json!({ "colour": "red" }),
        ),
        ("POST", format!("{base}/clients"), json!([1, 2])),
        ("POST", format!("{base}/clients"), json!({ "parent_id": 5 })),
        ("PATCH", format!("{base}/clients/{id}"), json!({ "id": 5 })),
        (
            "PATCH",
            format!("{base}/clients/{id}"),
            json!({ "is_active": "no" }),
        ),
        (
            "PATCH",
            format!("{base}/clients/{id}"),
            json!({ "updated_at": "soon" }),
        ),
    ] {
        let (status, answer) = common::control(&c, method, &url, Some(body.clone()));
        assert_eq!(status, 422, "{method} {url} {body}: {answer}");
        assert!(answer["message"].is_string(), "{answer}");
    }
    // Nothing half-applied: the client is as created, updated_at included.
    assert_eq!(client(&c), before);
    assert_eq!(emu.update("clients", 1, json!({})), None);
    assert!(!emu.delete("clients", 1));
}

#[test]
fn typed_fields_drive_filters_and_order() {
    let (emu, c) = small();
    let api = emu.api_url();
    let clients = common::all(&c, &format!("{api}/clients?is_active=true"), "clients");
    let id = clients[0]["id"].as_i64().unwrap();
    emu.update(
        "clients",
        id,
        json!({ "is_active": false, "name": "Archived Ltd" }),
    );
    let active = common::all(&c, &format!("{api}/clients?is_active=true"), "clients");
    assert_eq!(active.len(), clients.len() - 1);
    let archived = common::all(&c, &format!("{api}/clients?is_active=false"), "clients");
    let found = archived.iter().find(|r| r["id"] == id).expect("archived");
    assert_eq!(found["name"], "Archived Ltd");
    // Projects of that client name it anew.
    let projects = common::all(&c, &format!("{api}/projects?client_id={id}"), "projects");
    assert!(!projects.is_empty());
    assert!(projects
        .iter()
        .all(|p| p["client"]["name"] == "Archived Ltd"));
    // A time entry moved to another day moves in the served order.
    let last = common::get_json(&c, &format!("{api}/time_entries?per_page=1&page=4000"));
    let te = last["time_entries"][0]["id"].as_i64().unwrap();
    emu.update("time_entries", te, json!({ "spent_date": "2026-06-30" }));
    let first = common::get_json(&c, &format!("{api}/time_entries?per_page=50"));
    assert!(common::ids(first["time_entries"].as_array().unwrap()).contains(&te));
}

#[test]
fn request_counts_are_per_route_and_skip_the_control_api() {
    let (emu, c) = small();
    let api = emu.api_url();
    let ctl = emu.control_url();
    let invoice = common::get_json(&c, &format!("{api}/invoices?per_page=1"))["invoices"][0]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(common::status(&c, &format!("{api}/clients")), 200);
    assert_eq!(
        common::status(&c, &format!("{api}/clients?per_page=1")),
        200
    );
    assert_eq!(
        common::status(&c, &format!("{api}/invoices/{invoice}/messages")),
        200
    );
    assert_eq!(
        common::status(&c, &format!("{api}/invoices/1/payments")),
        404
    );
    assert_eq!(common::status(&c, &format!("{api}/nowhere")), 404);
    common::control(&c, "GET", &format!("{ctl}/health"), None);
    let (status, counts) = common::control(&c, "GET", &format!("{ctl}/requests"), None);
    assert_eq!(status, 200);
    assert_eq!(counts["total"], 6);
    assert_eq!(
        counts["by_path"],
        json!({
            "/v2/invoices": 1,
            "/v2/clients": 2,
            "/v2/invoices/{id}/messages": 1,
            "/v2/invoices/{id}/payments": 1,
            "(no route)": 1,
        })
    );
    assert_eq!(counts["by_status"], json!({ "200": 4, "404": 2 }));
    let lib = emu.request_counts();
    assert_eq!(lib.total, 6);
    assert_eq!(lib.path("/v2/clients"), 2);
    assert_eq!(lib.status(404), 2);
    let (status, _) = common::control(&c, "DELETE", &format!("{ctl}/requests"), None);
    assert_eq!(status, 200);
    assert_eq!(emu.request_counts().total, 0);
    common::status(&c, &format!("{api}/users/me"));
    emu.reset_request_counts();
    assert_eq!(emu.request_counts().total, 0);
}

#[test]
fn the_counts_route_matches_expected_counts() {
    let emu = common::tiny();
    let c = common::client();
    let (status, counts) =
        common::control(&c, "GET", &format!("{}/counts", emu.control_url()), None);
    assert_eq!(status, 200);
    assert_eq!(counts, json!(emu.expected_counts()));
    emu.create("tasks", json!({ "name": "New task" }));
    let (_, after) = common::control(&c, "GET", &format!("{}/counts", emu.control_url()), None);
    assert_eq!(after["tasks"], counts["tasks"].as_u64().unwrap() + 1);
}

#[test]
fn faults_change_at_run_time() {
    let emu = common::tiny();
    let c = common::client();
    let url = format!("{}/faults", emu.control_url());
    let clients = format!("{}/clients", emu.api_url());
    let (_, initial) = common::control(&c, "GET", &url, None);
    assert_eq!(initial["rate"], 0.0);
    let (status, set) = common::control(
        &c,
        "PUT",
        &url,
        Some(json!({
            "seed": 9,
            "rate": 1.0,
            "kinds": ["503", { "kind": "slow:10ms", "weight": 0 }],
            "paths": ["/v2/clients"],
        })),
    );
    assert_eq!(status, 200, "{set}");
    let (_, got) = common::control(&c, "GET", &url, None);
    assert_eq!(got, set);
    assert_eq!(
        got["kinds"],
        json!([{ "kind": "503", "weight": 1 }, { "kind": "slow:10ms", "weight": 0 }])
    );
    assert_eq!(common::status(&c, &clients), 503);
    assert_eq!(common::status(&c, &format!("{}/tasks", emu.api_url())), 200);
    for bad in [
        json!({ "rate": 1.0, "kinds": ["504"] }),
        json!({ "rate": 1.5, "kinds": ["500"] }),
    ] {
        let (status, body) = common::control(&c, "PUT", &url, Some(bad.clone()));
        assert_eq!(status, 422, "{bad}: {body}");
    }
    assert_eq!(
        common::status(&c, &clients),
        503,
        "a refused PUT changes nothing"
    );
    common::control(&c, "PUT", &url, Some(json!({ "token_expires_after": 1 })));
    assert_eq!(common::status(&c, &clients), 200);
    assert_eq!(common::status(&c, &clients), 401);
    emu.set_faults(harvest_emulator::Faults::none());
    assert_eq!(common::status(&c, &clients), 200);
}

#[test]
fn limits_and_forbidden_paths_change_at_run_time() {
    let emu = common::start_with(EmulatorConfig {
        scale: Scale::Tiny,
        ..EmulatorConfig::default()
    });
    let c = common::client();
    let limits = format!("{}/limits", emu.control_url());
    let me = format!("{}/users/me", emu.api_url());
    let (_, initial) = common::control(&c, "GET", &limits, None);
    assert_eq!(
        initial,
        json!({ "general": "100/15000ms", "reports": "100/900000ms" })
    );
    let (status, set) = common::control(&c, "PUT", &limits, Some(json!({ "general": "2/10m" })));
    assert_eq!(status, 200);
    assert_eq!(
        set,
        json!({ "general": "2/600000ms", "reports": "100/900000ms" })
    );
    assert_eq!(common::status(&c, &me), 200);
    assert_eq!(common::status(&c, &me), 200);
    assert_eq!(common::status(&c, &me), 429);
    let (_, set) = common::control(&c, "PUT", &limits, Some(json!({ "general": null })));
    assert_eq!(set["general"], Value::Null);
    for _ in 0..5 {
        assert_eq!(common::status(&c, &me), 200);
    }
    for bad in [json!({ "general": "fast" }), json!({ "reports": 5 })] {
        let (status, _) = common::control(&c, "PUT", &limits, Some(bad.clone()));
        assert_eq!(status, 422, "{bad}");
    }
    emu.set_limits(
        Some(harvest_emulator::RateLimit {
            requests: 1,
            window: std::time::Duration::from_secs(600),
        }),
        None,
    );
    assert_eq!(common::status(&c, &me), 200);
    assert_eq!(common::status(&c, &me), 429);
    emu.set_limits(None, None);

    let forbidden = format!("{}/forbidden", emu.control_url());
    let (status, set) = common::control(
        &c,
        "PUT",
        &forbidden,
        Some(json!(["/v2/users/me", "/v2/roles"])),
    );
    assert_eq!(
        (status, set.clone()),
        (200, json!(["/v2/users/me", "/v2/roles"]))
    );
    assert_eq!(common::control(&c, "GET", &forbidden, None).1, set);
    assert_eq!(common::status(&c, &me), 403);
    assert_eq!(common::status(&c, &format!("{}/users", emu.api_url())), 200);
    emu.set_forbidden(Vec::new());
    assert_eq!(common::status(&c, &me), 200);
}

#[test]
fn a_scheduled_deletion_lands_between_the_same_two_requests_every_time() {
    let emu = common::start(Scale::Small);
    let c = common::client();
    let entries = format!("{}/time_entries?per_page=100", emu.api_url());
    let first = common::get_json(&c, &entries);
    let total = first["total_entries"].as_u64().unwrap();
    let doomed = common::ids(first["time_entries"].as_array().unwrap())[..3].to_vec();

    let url = format!("{}/scheduled", emu.control_url());
    let deletion =
        json!({ "path": "/v2/time_entries", "after": 2, "stream": "time_entries", "ids": doomed });
    let (status, waiting) = common::control(&c, "POST", &url, Some(deletion.clone()));
    assert_eq!((status, waiting), (201, json!([deletion])));
    // Other paths do not count; the two requests to the path are answered before the deletion.
    assert_eq!(
        common::status(&c, &format!("{}/clients", emu.api_url())),
        200
    );
    for _ in 0..2 {
        assert_eq!(common::get_json(&c, &entries)["total_entries"], total);
    }
    // The listing counts down the requests still to be answered first.
    let mut pending = deletion.clone();
    pending["after"] = json!(0);
    assert_eq!(common::control(&c, "GET", &url, None).1, json!([pending]));
    let third = common::get_json(&c, &entries);
    assert_eq!(third["total_entries"].as_u64(), Some(total - 3));
    assert!(!third["time_entries"].as_array().unwrap().is_empty());
    assert!(common::ids(third["time_entries"].as_array().unwrap())
        .iter()
        .all(|id| !doomed.contains(id)));
    assert_eq!(common::control(&c, "GET", &url, None).1, json!([]));

    // The library handle schedules the same way; `after: 0` deletes before the next request.
    // (A client made here: Harvest refuses to delete one that still has projects.)
    let client = emu.create("clients", json!({ "name": "Scheduled Away" }));
    emu.schedule_deletion(harvest_emulator::ScheduledDeletion {
        path: "/v2/clients".into(),
        after: 0,
        stream: "clients".into(),
        ids: vec![client["id"].as_i64().unwrap()],
    });
    let clients = common::get_json(&c, &format!("{}/clients", emu.api_url()));
    assert!(!common::ids(clients["clients"].as_array().unwrap())
        .contains(&client["id"].as_i64().unwrap()));
    assert_eq!(
        clients["total_entries"].as_u64(),
        Some(emu.expected_counts()["clients"])
    );

    for bad in [
        json!({ "path": "/v2/time_entries", "after": 1, "stream": "nope", "ids": [1] }),
        json!({ "path": "time_entries", "after": 1, "stream": "time_entries", "ids": [1] }),
    ] {
        assert_eq!(
            common::control(&c, "POST", &url, Some(bad.clone())).0,
            422,
            "{bad}"
        );
    }
    assert_eq!(common::control(&c, "GET", &url, None).1, json!([]));
}

#[test]
fn created_records_are_ones_harvest_would_make() {
    let emu = common::tiny();
    let c = common::client();
    let api = emu.api_url();
    // A new invoice's line items get ids no other invoice's line items have.
    let line_ids = |invoices: &[Value]| -> Vec<i64> {
        invoices
            .iter()
            .flat_map(|i| i["line_items"].as_array().unwrap().clone())
            .map(|item| item["id"].as_i64().unwrap())
            .collect()
    };
    let before = line_ids(&common::all(&c, &format!("{api}/invoices"), "invoices"));
    let created = emu.create("invoices", json!({}));
    let new_ids = line_ids(std::slice::from_ref(&created));
    assert!(!new_ids.is_empty(), "{created}");
    assert!(new_ids.iter().all(|id| !before.contains(id)), "{new_ids:?}");
    // A new user assignment pairs a user and a project not yet assigned to each other, and
    // when none is left the emulator refuses it as Harvest would.
    let pair = |ua: &Value| (ua["user"]["id"].clone(), ua["project"]["id"].clone());
    let mut pairs: Vec<_> = common::all(&c, &format!("{api}/user_assignments"), "user_assignments")
        .iter()
        .map(pair)
        .collect();
    let records = format!("{}/records/user_assignments", emu.control_url());
    loop {
        let (status, body) = common::control(&c, "POST", &records, Some(json!({})));
        if status != 200 && status != 201 {
            assert_eq!(status, 422, "{body}");
            break;
        }
        let new = pair(&body);
        assert!(!pairs.contains(&new), "{new:?} assigned twice");
        pairs.push(new);
    }
    let users = common::all(&c, &format!("{api}/users"), "users").len();
    let projects = common::all(&c, &format!("{api}/projects"), "projects").len();
    assert_eq!(pairs.len(), users * projects);
}
