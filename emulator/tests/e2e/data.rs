//! The generated data: deterministic from the seed, sized by the scale, consistent across
//! endpoints (nested objects agree with the records they name), with ids above 2^31. That every
//! nullable field is null somewhere and set somewhere on the Tiny dataset is checked field by
//! field in `shapes.rs`.

use crate::common;

use std::collections::BTreeMap;

use harvest_emulator::{Emulator, EmulatorConfig, Scale};
use reqwest::blocking::Client;
use serde_json::Value;

fn seeded(seed: u64, scale: Scale) -> Emulator {
    common::start_with(EmulatorConfig {
        seed,
        scale,
        general_limit: None,
        reports_limit: None,
        ..EmulatorConfig::default()
    })
}

const PAGES: &[&str] = &[
    "company",
    "users/me",
    "users",
    "clients?per_page=3",
    "projects",
    "time_entries?per_page=100&page=7",
    "expenses?per_page=50&page=2",
    "invoices",
    "estimates",
    "task_assignments",
    "reports/time/projects?from=2025-07-01&to=2026-06-30",
    "reports/uninvoiced?from=2025-07-01&to=2026-06-30",
    "reports/project_budget",
];

/// The raw bodies of [`PAGES`], with the emulator's own origin replaced (links name the port).
fn bodies(emu: &Emulator, c: &Client) -> Vec<String> {
    let origin = format!("http://{}", emu.addr());
    PAGES
        .iter()
        .map(|p| {
            let r = common::get(c, &format!("{}/{p}", emu.api_url()));
            assert_eq!(r.status(), 200, "{p}");
            r.text().unwrap().replace(&origin, "http://ORIGIN")
        })
        .collect()
}

#[test]
fn the_same_seed_serves_byte_identical_pages_and_another_seed_differs() {
    let c = common::client();
    let a = bodies(&seeded(42, Scale::Small), &c);
    let b = bodies(&seeded(42, Scale::Small), &c);
    for (i, p) in PAGES.iter().enumerate() {
        assert!(
            a[i] == b[i],
            "{p} differs between two emulators with seed 42"
        );
    }
    let other = bodies(&seeded(43, Scale::Small), &c);
    let differing = (0..PAGES.len()).filter(|&i| a[i] != other[i]).count();
    assert!(
        differing >= PAGES.len() - 1,
        "seed 43 should change nearly every page, changed {differing}"
    );
}

#[test]
fn every_connector_stream_has_records_on_the_tiny_dataset() {
    let emu = common::tiny();
    let counts = emu.expected_counts();
    let streams = [
        "billable_rates",
        "clients",
        "company",
        "contacts",
        "cost_rates",
        "estimate_item_categories",
        "estimate_line_items",
        "estimate_messages",
        "estimates",
        "expense_categories",
        "expenses",
        "expenses_categories",
        "expenses_clients",
        "expenses_projects",
        "expenses_team",
        "invoice_item_categories",
        "invoice_line_items",
        "invoice_messages",
        "invoice_payments",
        "invoices",
        "project_assignments",
        "project_budget",
        "projects",
        "roles",
        "task_assignments",
        "tasks",
        "time_clients",
        "time_entries",
        "time_entry_external_reference",
        "time_projects",
        "time_tasks",
        "time_team",
        "uninvoiced",
        "user_assignments",
        "user_project_tasks",
        "user_roles",
        "user_teammates",
        "users",
    ];
    assert_eq!(
        counts.keys().map(String::as_str).collect::<Vec<_>>(),
        streams,
        "expected_counts names every connector stream"
    );
    for (stream, n) in &counts {
        assert!(*n > 0, "{stream} is empty on the Tiny dataset");
    }
    // The counts are what the API serves.
    let c = common::client();
    for stream in ["clients", "time_entries", "invoices", "users", "roles"] {
        let page = common::get_json(&c, &format!("{}/{stream}", emu.api_url()));
        assert_eq!(page["total_entries"], counts[stream], "{stream}");
    }
}

#[test]
fn scales_generate_their_documented_number_of_time_entries() {
    assert_eq!(Scale::Tiny.time_entries(), 40);
    assert_eq!(Scale::Small.time_entries(), 4_000);
    assert_eq!(Scale::Medium.time_entries(), 50_000);
    assert_eq!(Scale::Large.time_entries(), 1_000_000);
    assert_eq!("1_234".parse::<Scale>().unwrap().time_entries(), 1_234);
    assert!("huge".parse::<Scale>().is_err());
    let c = common::client();
    let mut sizes = Vec::new();
    for scale in [
        Scale::Tiny,
        Scale::Custom {
            time_entries: 1_234,
        },
        Scale::Small,
    ] {
        let emu = seeded(42, scale);
        let page = common::get_json(&c, &format!("{}/time_entries?per_page=1", emu.api_url()));
        assert_eq!(page["total_entries"], scale.time_entries(), "{scale:?}");
        sizes.push(emu.expected_counts());
    }
    // The other tables grow with the scale.
    for stream in ["users", "clients", "projects", "expenses", "invoices"] {
        assert!(sizes[0][stream] <= sizes[2][stream], "{stream}");
    }
    assert!(sizes[2]["expenses"] > sizes[0]["expenses"]);
}

#[test]
fn time_entry_ids_cross_2_to_the_31_and_stay_exact() {
    let emu = common::start(Scale::Small);
    let c = common::client();
    let entries = common::all(
        &c,
        &format!("{}/time_entries", emu.api_url()),
        "time_entries",
    );
    let ids = common::ids(&entries);
    let big: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|&id| id > i64::from(i32::MAX))
        .collect();
    assert!(!big.is_empty(), "some ids exceed 2^31");
    // A large id round-trips through its own endpoint.
    let id = big[big.len() / 2];
    let one = common::get_json(&c, &format!("{}/time_entries/{id}", emu.api_url()));
    assert_eq!(one["id"].as_i64(), Some(id));
    assert_eq!(one, entries[ids.iter().position(|&i| i == id).unwrap()]);
}

#[test]
fn nested_objects_agree_with_the_records_they_name() {
    let emu = common::start(Scale::Small);
    let c = common::client();
    let api = emu.api_url();
    let by_id = |stream: &str| -> BTreeMap<i64, Value> {
        common::all(&c, &format!("{api}/{stream}"), stream)
            .into_iter()
            .map(|r| (r["id"].as_i64().unwrap(), r))
            .collect()
    };
    let (projects, clients, users, tasks) = (
        by_id("projects"),
        by_id("clients"),
        by_id("users"),
        by_id("tasks"),
    );
    let page = common::get_json(&c, &format!("{api}/time_entries?per_page=500&page=3"));
    let entries = page["time_entries"].as_array().unwrap();
    assert_eq!(entries.len(), 500);
    for te in entries {
        let p = &projects[&te["project"]["id"].as_i64().unwrap()];
        assert_eq!(te["project"]["name"], p["name"]);
        assert_eq!(te["project"]["code"], p["code"]);
        assert_eq!(
            te["client"]["id"], p["client"]["id"],
            "an entry's client is its project's"
        );
        let cl = &clients[&te["client"]["id"].as_i64().unwrap()];
        assert_eq!(te["client"]["name"], cl["name"]);
        assert_eq!(te["client"]["currency"], cl["currency"]);
        let u = &users[&te["user"]["id"].as_i64().unwrap()];
        let full = format!(
            "{} {}",
            u["first_name"].as_str().unwrap(),
            u["last_name"].as_str().unwrap()
        );
        assert_eq!(te["user"]["name"], full.as_str());
        assert_eq!(
            te["task"]["name"],
            tasks[&te["task"]["id"].as_i64().unwrap()]["name"]
        );
        // Stamps: created before or when updated, within the two generated years.
        assert!(
            te["created_at"].as_str() <= te["updated_at"].as_str(),
            "{te}"
        );
        let day = te["spent_date"].as_str().unwrap();
        assert!(("2024-07-01"..="2026-06-30").contains(&day), "{day}");
    }
}

#[test]
fn derived_stream_counts_are_what_the_api_serves() {
    let emu = common::tiny();
    let counts = emu.expected_counts();
    let c = common::client();
    let api = emu.api_url();
    let sum = |records: &[Value], f: &dyn Fn(&Value) -> usize| -> u64 {
        records.iter().map(f).sum::<usize>() as u64
    };
    let items = |v: &Value| v["line_items"].as_array().map_or(0, Vec::len);
    let invoices = common::all(&c, &format!("{api}/invoices"), "invoices");
    assert_eq!(counts["invoice_line_items"], sum(&invoices, &items));
    let estimates = common::all(&c, &format!("{api}/estimates"), "estimates");
    assert_eq!(counts["estimate_line_items"], sum(&estimates, &items));
    let entries = common::all(&c, &format!("{api}/time_entries"), "time_entries");
    assert_eq!(
        counts["time_entry_external_reference"],
        sum(&entries, &|te| usize::from(
            !te["external_reference"].is_null()
        ))
    );
    let roles = common::all(&c, &format!("{api}/roles"), "roles");
    assert_eq!(
        counts["user_roles"],
        sum(&roles, &|r| r["user_ids"].as_array().map_or(0, Vec::len))
    );
    let users = common::all(&c, &format!("{api}/users"), "users");
    assert!(!users.is_empty());
    let (mut tasks, mut teammates) = (0, 0);
    for u in &users {
        let assignments = common::all(
            &c,
            &format!("{api}/users/{}/project_assignments", u["id"]),
            "project_assignments",
        );
        tasks += sum(&assignments, &|pa| {
            pa["task_assignments"].as_array().map_or(0, Vec::len)
        });
        let url = format!("{api}/users/{}/teammates", u["id"]);
        if common::status(&c, &url) == 200 {
            teammates += common::all(&c, &url, "teammates").len() as u64;
        }
    }
    assert_eq!(counts["user_project_tasks"], tasks);
    assert_eq!(counts["user_teammates"], teammates);
}

#[test]
fn report_counts_per_window_are_the_rows_of_each_window() {
    let emu = common::tiny();
    let c = common::client();
    let api = emu.api_url();
    let (from, to) = ("2024-03-01", "2026-06-30");
    let windows = [
        ("2024-03-01", "2025-02-28"),
        ("2025-03-01", "2026-02-28"),
        ("2026-03-01", "2026-06-30"),
    ];
    let windowed = emu.expected_counts_in_windows(from, to, 365);
    let whole = emu.expected_counts();
    for (stream, path) in [
        ("time_clients", "reports/time/clients"),
        ("time_team", "reports/time/team"),
        ("expenses_categories", "reports/expenses/categories"),
        ("uninvoiced", "reports/uninvoiced"),
    ] {
        let rows: u64 = windows
            .iter()
            .map(|(a, b)| {
                common::all(&c, &format!("{api}/{path}?from={a}&to={b}"), "results").len() as u64
            })
            .sum();
        assert!(rows > 0, "{stream} has rows");
        assert_eq!(windowed[stream], rows, "{stream}: rows summed over windows");
        assert!(
            windowed[stream] > whole[stream],
            "{stream}: a subject recurs across windows"
        );
    }
    assert_eq!(windowed["project_budget"], whole["project_budget"]);
    assert_eq!(windowed["time_entries"], whole["time_entries"]);
    // The control API answers the same, and refuses a range it cannot read.
    let url = format!(
        "{}/counts?from={from}&to={to}&window_days=365",
        emu.control_url()
    );
    let (status, body) = common::control(&c, "GET", &url, None);
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!(windowed));
    for bad in [
        "from=2024-13-01&to=2026-06-30",
        "from=2024-01-01",
        "from=2024-01-01&to=2026-06-30&window_days=0",
    ] {
        let url = format!("{}/counts?{bad}", emu.control_url());
        assert_eq!(common::control(&c, "GET", &url, None).0, 422, "{bad}");
    }
}
