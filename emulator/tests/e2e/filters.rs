//! Orderings and filters as Harvest applies them, checked against the unfiltered data: newest
//! created first (spent_date / issue_date first where Harvest sorts by those), never by
//! `updated_at`; `updated_since` strictly later; `from`/`to` inclusive; `is_active` and the id
//! filters. Reports need `from`/`to` within 365 days, and their rows add up to the entity data.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use harvest_emulator::{Emulator, Scale};
use reqwest::blocking::Client;
use serde_json::Value;

fn small() -> (Emulator, Client) {
    (common::start(Scale::Small), common::client())
}

/// `(a, b)` as a comparable pair for ordering checks: text fields compare as text.
fn text(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_default()
}

#[test]
fn lists_are_newest_created_first_or_by_their_documented_date() {
    let (emu, c) = small();
    let api = emu.api_url();
    let by_created = [
        "clients",
        "contacts",
        "projects",
        "tasks",
        "users",
        "roles",
        "user_assignments",
        "task_assignments",
        "expense_categories",
        "invoice_item_categories",
        "estimate_item_categories",
    ];
    for stream in by_created {
        let records = common::all(&c, &format!("{api}/{stream}"), stream);
        assert!(records.len() > 1, "{stream}: too few records to compare");
        for w in records.windows(2) {
            let (a, b) = (text(&w[0]["created_at"]), text(&w[1]["created_at"]));
            assert!(a >= b, "{stream}: {a} before {b}");
            if a == b {
                assert!(w[0]["id"].as_i64() > w[1]["id"].as_i64(), "{stream}: ties");
            }
        }
    }
    for (stream, date) in [
        ("time_entries", "spent_date"),
        ("expenses", "spent_date"),
        ("invoices", "issue_date"),
        ("estimates", "issue_date"),
    ] {
        let records = common::all(&c, &format!("{api}/{stream}"), stream);
        assert!(records.len() > 1, "{stream}: too few records to compare");
        for w in records.windows(2) {
            let (a, b) = (text(&w[0][date]), text(&w[1][date]));
            assert!(a >= b, "{stream}: {date} {a} before {b}");
            if a == b {
                let (ca, cb) = (text(&w[0]["created_at"]), text(&w[1]["created_at"]));
                assert!(ca >= cb, "{stream}: same {date}, created {ca} before {cb}");
            }
        }
        // Sorted by the date, so not by updated_at: some later record was updated more recently.
        assert!(
            records
                .windows(2)
                .any(|w| text(&w[0]["updated_at"]) < text(&w[1]["updated_at"])),
            "{stream} looks ordered by updated_at"
        );
    }
    // Rates are the exception: oldest start_date first.
    let me = common::get_json(&c, &format!("{api}/users/me"))["id"]
        .as_i64()
        .unwrap();
    for stream in ["billable_rates", "cost_rates"] {
        let records = common::all(&c, &format!("{api}/users/{me}/{stream}"), stream);
        assert!(!records.is_empty(), "{stream}");
        for w in records.windows(2) {
            assert!(
                text(&w[0]["start_date"]) <= text(&w[1]["start_date"]),
                "{stream}"
            );
        }
    }
}

#[test]
fn updated_since_is_strictly_later_on_page_and_cursor_endpoints() {
    let (emu, c) = small();
    let api = emu.api_url();
    for stream in ["time_entries", "clients", "projects", "invoices", "users"] {
        let records = common::all(&c, &format!("{api}/{stream}"), stream);
        let mut stamps: Vec<String> = records.iter().map(|r| text(&r["updated_at"])).collect();
        stamps.sort();
        let pivot = &stamps[stamps.len() / 2];
        let expected: BTreeSet<i64> = records
            .iter()
            .filter(|r| text(&r["updated_at"]) > *pivot)
            .map(|r| r["id"].as_i64().unwrap())
            .collect();
        assert!(
            !expected.is_empty() && expected.len() < records.len(),
            "{stream}"
        );
        let got = common::all(&c, &format!("{api}/{stream}?updated_since={pivot}"), stream);
        assert_eq!(
            common::unique_ids(&got),
            expected,
            "{stream} updated_since={pivot}"
        );
    }
    // Harvest also takes an offset; the same instant selects the same records.
    let utc = common::all(
        &c,
        &format!("{api}/clients?updated_since=2026-01-01T00:00:00Z"),
        "clients",
    );
    let offset = common::all(
        &c,
        &format!("{api}/clients?updated_since=2026-01-01T02:00:00%2B02:00"),
        "clients",
    );
    assert_eq!(common::ids(&utc), common::ids(&offset));
    assert_eq!(
        common::status(&c, &format!("{api}/clients?updated_since=yesterday")),
        422
    );
}

#[test]
fn from_and_to_select_dates_inclusively() {
    let (emu, c) = small();
    let api = emu.api_url();
    for (stream, date) in [
        ("time_entries", "spent_date"),
        ("expenses", "spent_date"),
        ("invoices", "issue_date"),
        ("estimates", "issue_date"),
    ] {
        let records = common::all(&c, &format!("{api}/{stream}"), stream);
        let mut dates: Vec<String> = records.iter().map(|r| text(&r[date])).collect();
        dates.sort();
        dates.dedup();
        let (from, to) = (&dates[dates.len() / 4], &dates[dates.len() * 3 / 4]);
        let expected: BTreeSet<i64> = records
            .iter()
            .filter(|r| (from.as_str()..=to.as_str()).contains(&text(&r[date]).as_str()))
            .map(|r| r["id"].as_i64().unwrap())
            .collect();
        let got = common::all(&c, &format!("{api}/{stream}?from={from}&to={to}"), stream);
        assert_eq!(common::unique_ids(&got), expected, "{stream} {from}..{to}");
        let served: BTreeSet<String> = got.iter().map(|r| text(&r[date])).collect();
        assert!(
            served.contains(from) && served.contains(to),
            "{stream}: bounds are inclusive"
        );
        let only_from = common::all(&c, &format!("{api}/{stream}?from={to}"), stream);
        assert!(!only_from.is_empty(), "{stream}: from alone");
        assert!(
            only_from.iter().all(|r| text(&r[date]) >= *to),
            "{stream}: from alone"
        );
    }
    assert_eq!(
        common::status(&c, &format!("{api}/time_entries?from=2025-13-01")),
        422
    );
}

#[test]
fn is_active_selects_active_or_archived_records() {
    let (emu, c) = small();
    let api = emu.api_url();
    let mut both_seen = 0;
    for stream in [
        "clients",
        "projects",
        "tasks",
        "users",
        "user_assignments",
        "task_assignments",
        "expense_categories",
    ] {
        let records = common::all(&c, &format!("{api}/{stream}"), stream);
        let mut sizes = Vec::new();
        for flag in [true, false] {
            let expected: BTreeSet<i64> = records
                .iter()
                .filter(|r| r["is_active"] == flag)
                .map(|r| r["id"].as_i64().unwrap())
                .collect();
            let got = common::all(&c, &format!("{api}/{stream}?is_active={flag}"), stream);
            assert_eq!(
                common::unique_ids(&got),
                expected,
                "{stream} is_active={flag}"
            );
            sizes.push(expected.len());
        }
        assert_eq!(sizes[0] + sizes[1], records.len());
        if sizes.iter().all(|&n| n > 0) {
            both_seen += 1;
        }
    }
    assert!(
        both_seen >= 3,
        "active and archived records exist in several streams"
    );
    assert_eq!(
        common::status(&c, &format!("{api}/clients?is_active=yes")),
        422
    );
}

/// The values at `path` in `record`: keys separated by `/`, `*` for every element of an array.
/// A missing key gives `null`, as indexing does.
fn values_at(record: &Value, path: &str) -> Vec<Value> {
    let mut values = vec![record.clone()];
    for key in path.split('/') {
        values = if key == "*" {
            values
                .iter()
                .flat_map(|v| v.as_array().expect("an array at *").iter().cloned())
                .collect()
        } else {
            values.iter().map(|v| v[key].clone()).collect()
        };
    }
    values
}

#[test]
fn id_and_flag_filters_match_the_records_fields() {
    let (emu, c) = small();
    let api = emu.api_url();
    // Each filter: the stream, the parameter, and where the record shows the value.
    let filters = [
        ("time_entries", "user_id", "user/id"),
        ("time_entries", "client_id", "client/id"),
        ("time_entries", "project_id", "project/id"),
        ("time_entries", "task_id", "task/id"),
        ("time_entries", "is_billed", "is_billed"),
        ("time_entries", "is_running", "is_running"),
        (
            "time_entries",
            "external_reference_id",
            "external_reference/id",
        ),
        ("expenses", "user_id", "user/id"),
        ("expenses", "client_id", "client/id"),
        ("expenses", "project_id", "project/id"),
        ("expenses", "is_billed", "is_billed"),
        ("invoices", "client_id", "client/id"),
        ("invoices", "project_id", "line_items/*/project/id"),
        ("invoices", "state", "state"),
        ("estimates", "client_id", "client/id"),
        ("estimates", "state", "state"),
        ("contacts", "client_id", "client/id"),
        ("projects", "client_id", "client/id"),
        ("user_assignments", "user_id", "user/id"),
    ];
    let mut cache: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for (stream, param, path) in filters {
        let records = cache
            .entry(stream)
            .or_insert_with(|| common::all(&c, &format!("{api}/{stream}"), stream));
        // The value of the median record that has one, so the filter is selective.
        let values: Vec<Value> = records
            .iter()
            .flat_map(|r| values_at(r, path))
            .filter(|v| !v.is_null())
            .collect();
        assert!(!values.is_empty(), "{stream} {param}: no values");
        let value = &values[values.len() / 2];
        let shown = value
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| value.to_string());
        let expected: BTreeSet<i64> = records
            .iter()
            .filter(|r| values_at(r, path).contains(value))
            .map(|r| r["id"].as_i64().unwrap())
            .collect();
        let got = common::all(&c, &format!("{api}/{stream}?{param}={shown}"), stream);
        assert_eq!(
            common::unique_ids(&got),
            expected,
            "{stream}?{param}={shown}"
        );
        if param.ends_with("_id") && param != "external_reference_id" {
            let none = common::get_json(&c, &format!("{api}/{stream}?{param}=1"));
            assert_eq!(none["total_entries"], 0, "{stream} unknown {param}");
            assert_eq!(
                common::status(&c, &format!("{api}/{stream}?{param}=abc")),
                422,
                "{stream} {param}=abc"
            );
        }
    }
    // Filters combine: each narrows the other.
    let te = &cache["time_entries"];
    let (user, project) = (&te[0]["user"]["id"], &te[0]["project"]["id"]);
    let expected: BTreeSet<i64> = te
        .iter()
        .filter(|r| r["user"]["id"] == *user && r["project"]["id"] == *project)
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    let got = common::all(
        &c,
        &format!("{api}/time_entries?user_id={user}&project_id={project}"),
        "time_entries",
    );
    assert_eq!(common::unique_ids(&got), expected);
}

#[test]
fn reports_require_from_and_to_within_365_days() {
    let emu = common::tiny();
    let c = common::client();
    let api = emu.api_url();
    for path in [
        "reports/time/clients",
        "reports/time/projects",
        "reports/time/tasks",
        "reports/time/team",
        "reports/expenses/clients",
        "reports/expenses/projects",
        "reports/expenses/categories",
        "reports/expenses/team",
        "reports/uninvoiced",
    ] {
        for (query, status) in [
            ("", 422),
            ("?from=2025-07-01", 422),
            ("?to=2026-06-30", 422),
            ("?from=2026-06-30&to=2025-07-01", 422),
            ("?from=2025-01-01&to=2026-01-02", 422),
            ("?from=2025-01-01&to=2026-01-01", 200),
            ("?from=20250101&to=20251231", 200),
            ("?from=2025-01-01&to=not-a-date", 422),
        ] {
            let r = common::get(&c, &format!("{api}/{path}{query}"));
            assert_eq!(r.status(), status, "{path}{query}");
            let body: Value = r.json().unwrap();
            if status == 422 {
                assert!(body["message"].is_string(), "{path}{query}: {body}");
            } else {
                assert!(body["results"].is_array(), "{path}{query}");
            }
        }
    }
    let budget = common::get_json(&c, &format!("{api}/reports/project_budget"));
    assert!(!budget["results"].as_array().unwrap().is_empty());
}

/// Sums of `amount(record)` per (subject id, currency) over records.
fn sums(
    records: &[Value],
    subject: &dyn Fn(&Value) -> Value,
    amount: &dyn Fn(&Value) -> i64,
) -> BTreeMap<(String, String), i64> {
    let mut m = BTreeMap::new();
    for r in records {
        let key = (subject(r).to_string(), text(&r["client"]["currency"]));
        *m.entry(key).or_insert(0) += amount(r);
    }
    m
}

/// Report rows as (subject id, currency) → cents of `field`.
fn report(c: &Client, url: &str, id_field: &str, field: &str) -> BTreeMap<(String, String), i64> {
    let rows = common::all(c, url, "results");
    rows.iter()
        .map(|r| {
            (
                (r[id_field].to_string(), text(&r["currency"])),
                common::cents(&r[field]),
            )
        })
        .collect()
}

#[test]
fn report_rows_add_up_to_the_entity_records_of_the_window() {
    let (emu, c) = small();
    let api = emu.api_url();
    let window = "from=2025-07-01&to=2026-06-30";
    let entries = common::all(&c, &format!("{api}/time_entries?{window}"), "time_entries");
    let expenses = common::all(&c, &format!("{api}/expenses?{window}"), "expenses");
    assert!(entries.len() > 1000 && expenses.len() > 100);
    let fixed_fee: BTreeSet<i64> = common::all(&c, &format!("{api}/projects"), "projects")
        .iter()
        .filter(|p| p["is_fixed_fee"] == true)
        .map(|p| p["id"].as_i64().unwrap())
        .collect();

    let hours = |r: &Value| common::cents(&r["hours"]);
    let billable_hours = |r: &Value| if r["billable"] == true { hours(r) } else { 0 };
    // Billable amount in ten-thousandths: rate × hours, fixed-fee projects excluded by default.
    let amount_e4 = |r: &Value| {
        if r["billable"] != true || fixed_fee.contains(&r["project"]["id"].as_i64().unwrap()) {
            0
        } else {
            // A project billed by nothing has no rate: the entry adds no amount.
            r["billable_rate"]
                .as_f64()
                .map_or(0, |_| common::cents(&r["billable_rate"]))
                * hours(r)
        }
    };
    for (path, id_field, subject) in [
        ("time/clients", "client_id", "client"),
        ("time/projects", "project_id", "project"),
        ("time/tasks", "task_id", "task"),
        ("time/team", "user_id", "user"),
    ] {
        let url = format!("{api}/reports/{path}?{window}&per_page=3");
        let of = |r: &Value| r[subject]["id"].clone();
        assert_eq!(
            report(&c, &url, id_field, "total_hours"),
            sums(&entries, &of, &hours),
            "{path} total_hours"
        );
        assert_eq!(
            report(&c, &url, id_field, "billable_hours"),
            sums(&entries, &of, &billable_hours),
            "{path} billable_hours"
        );
        let amounts: BTreeMap<_, i64> = common::all(&c, &url, "results")
            .iter()
            .map(|r| {
                let e4 = (r["billable_amount"].as_f64().unwrap() * 10_000.0).round() as i64;
                ((r[id_field].to_string(), text(&r["currency"])), e4)
            })
            .collect();
        assert_eq!(
            amounts,
            sums(&entries, &of, &amount_e4),
            "{path} billable_amount"
        );
    }
    let cost = |r: &Value| common::cents(&r["total_cost"]);
    let billable_cost = |r: &Value| if r["billable"] == true { cost(r) } else { 0 };
    for (path, id_field, subject) in [
        ("expenses/clients", "client_id", "client"),
        ("expenses/projects", "project_id", "project"),
        (
            "expenses/categories",
            "expense_category_id",
            "expense_category",
        ),
        ("expenses/team", "user_id", "user"),
    ] {
        let url = format!("{api}/reports/{path}?{window}");
        let of = |r: &Value| r[subject]["id"].clone();
        assert_eq!(
            report(&c, &url, id_field, "total_amount"),
            sums(&expenses, &of, &cost),
            "{path} total_amount"
        );
        assert_eq!(
            report(&c, &url, id_field, "billable_amount"),
            sums(&expenses, &of, &billable_cost),
            "{path} billable_amount"
        );
    }
    // Uninvoiced: hours and expenses that are billable and not yet billed, per project.
    let uninvoiced = common::all(&c, &format!("{api}/reports/uninvoiced?{window}"), "results");
    let project = |r: &Value| r["project"]["id"].clone();
    let unbilled = |r: &Value| r["billable"] == true && r["is_billed"] == false;
    let want_hours = sums(&entries, &project, &|r| {
        if unbilled(r) {
            hours(r)
        } else {
            0
        }
    });
    let want_total = sums(&entries, &project, &hours);
    let want_expenses = sums(&expenses, &project, &|r| {
        if unbilled(r) {
            cost(r)
        } else {
            0
        }
    });
    assert!(!uninvoiced.is_empty());
    for row in &uninvoiced {
        let key = (row["project_id"].to_string(), text(&row["currency"]));
        let get = |m: &BTreeMap<(String, String), i64>| m.get(&key).copied().unwrap_or(0);
        assert_eq!(
            common::cents(&row["total_hours"]),
            get(&want_total),
            "{row}"
        );
        assert_eq!(
            common::cents(&row["uninvoiced_hours"]),
            get(&want_hours),
            "{row}"
        );
        assert_eq!(
            common::cents(&row["uninvoiced_expenses"]),
            get(&want_expenses),
            "{row}"
        );
    }
}

#[test]
fn report_options_follow_harvest_defaults() {
    let (emu, c) = small();
    let api = emu.api_url();
    let window = "from=2025-07-01&to=2026-06-30";
    let projects = common::all(&c, &format!("{api}/projects"), "projects");
    let fixed: BTreeSet<String> = projects
        .iter()
        .filter(|p| p["is_fixed_fee"] == true)
        .map(|p| p["id"].to_string())
        .collect();
    assert!(!fixed.is_empty());
    let amounts = |query: &str| -> BTreeMap<String, i64> {
        common::all(
            &c,
            &format!("{api}/reports/time/projects?{window}{query}"),
            "results",
        )
        .iter()
        .map(|r| {
            (
                r["project_id"].to_string(),
                common::cents(&r["billable_amount"]),
            )
        })
        .collect()
    };
    // Time reports leave fixed-fee projects' amounts out unless include_fixed_fee=true.
    let default = amounts("");
    let included = amounts("&include_fixed_fee=true");
    assert_eq!(default, amounts("&include_fixed_fee=false"));
    assert!(!default.is_empty());
    for (project, amount) in &default {
        if fixed.contains(project) {
            assert_eq!(*amount, 0, "fixed-fee project {project} by default");
        } else {
            assert_eq!(included[project], *amount, "project {project}");
        }
    }
    assert!(fixed
        .iter()
        .any(|p| included.get(p).is_some_and(|a| *a > 0)));
    // Uninvoiced includes fixed-fee projects unless include_fixed_fee=false.
    let uninvoiced = |query: &str| -> BTreeSet<String> {
        common::all(
            &c,
            &format!("{api}/reports/uninvoiced?{window}{query}"),
            "results",
        )
        .iter()
        .map(|r| r["project_id"].to_string())
        .collect()
    };
    let all = uninvoiced("");
    let without = uninvoiced("&include_fixed_fee=false");
    assert!(all.iter().any(|p| fixed.contains(p)));
    assert_eq!(without, all.difference(&fixed).cloned().collect());
    // The project budget report takes is_active like the projects list.
    for flag in [true, false] {
        let rows = common::all(
            &c,
            &format!("{api}/reports/project_budget?is_active={flag}"),
            "results",
        );
        let want = projects.iter().filter(|p| p["is_active"] == flag).count();
        assert!(want > 0, "projects with is_active={flag}");
        assert_eq!(rows.len(), want, "project_budget is_active={flag}");
        assert!(rows.iter().all(|r| r["is_active"] == flag));
    }
}

#[test]
fn teammates_are_only_for_managers() {
    let (emu, c) = small();
    let api = emu.api_url();
    let users = common::all(&c, &format!("{api}/users"), "users");
    let has = |u: &Value, role: &str| {
        u["access_roles"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r == role)
    };
    let manager = users.iter().find(|u| has(u, "manager")).expect("a manager");
    let member = users
        .iter()
        .find(|u| !has(u, "manager") && !has(u, "administrator"))
        .expect("a member");
    let team = common::get_json(&c, &format!("{api}/users/{}/teammates", manager["id"]));
    let mates = team["teammates"].as_array().unwrap();
    assert!(!mates.is_empty());
    assert!(mates.iter().all(|m| m["id"] != manager["id"]));
    let r = common::get(&c, &format!("{api}/users/{}/teammates", member["id"]));
    assert_eq!(r.status(), 422);
    assert!(r.json::<Value>().unwrap()["message"].is_string());
}

#[test]
fn unknown_ids_get_harvests_404_body() {
    let emu = common::tiny();
    let c = common::client();
    let api = emu.api_url();
    for path in [
        "clients/1",
        "time_entries/99999999999",
        "invoices/1/messages",
        "projects/1/user_assignments",
        "users/abc",
    ] {
        let r = common::get(&c, &format!("{api}/{path}"));
        assert_eq!(r.status(), 404, "{path}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        assert_eq!(
            r.json::<Value>().unwrap(),
            serde_json::json!({ "status": 404, "error": "Not Found" }),
            "{path}"
        );
    }
    // An unknown route is Harvest's HTML 404 page.
    let r = common::get(&c, &format!("{api}/timesheets"));
    assert_eq!(r.status(), 404);
    assert!(r.text().unwrap().contains("<html"));
}
