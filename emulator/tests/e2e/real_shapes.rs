//! The Tiny dataset holds each shape that responses recorded from live Harvest (2017–2024) show
//! and its documentation does not: keys missing from records of older accounts, string ids,
//! integer zeros, negative amounts, both clocks, Rails time zones. The connector's schema test
//! validates every served record, so each shape here is covered by it.

use serde_json::Value;

/// Every record of a list endpoint of the Tiny dataset.
fn list(path: &str, key: &str) -> Vec<Value> {
    let emu = crate::common::tiny();
    crate::common::all(
        &crate::common::client(),
        &format!("{}{path}", emu.api_url()),
        key,
    )
}

fn lacks(r: &Value, key: &str) -> bool {
    r.as_object().is_some_and(|o| !o.contains_key(key))
}

#[test]
fn users_carry_permissions_claims_and_older_ones_lack_access_roles() {
    let users = list("/users", "users");
    assert!(users.iter().any(|u| u["permissions_claims"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c == "expenses:read:managed"))));
    assert!(users
        .iter()
        .any(|u| lacks(u, "access_roles") && lacks(u, "permissions_claims")));
    let zones: Vec<&str> = users
        .iter()
        .filter_map(|u| u["timezone"].as_str())
        .collect();
    assert!(
        zones.contains(&"Santiago") && zones.contains(&"Kyiv"),
        "{zones:?}"
    );
    assert!(
        zones.iter().all(|z| !z.contains('/')),
        "IANA ids: {zones:?}"
    );
}

#[test]
fn users_me_of_the_administrator_token_keeps_its_rates() {
    // The emulator's one token belongs to an administrator; the rule for other users
    // (rates left out) is a unit test of `records::user_me`.
    let emu = crate::common::tiny();
    let me = crate::common::get_json(
        &crate::common::client(),
        &format!("{}/users/me", emu.api_url()),
    );
    assert_eq!(me["access_roles"], serde_json::json!(["administrator"]));
    assert!(me.get("default_hourly_rate").is_some() && me.get("cost_rate").is_some());
}

#[test]
fn project_assignments_carry_is_billable_and_currency() {
    let emu = crate::common::tiny();
    let c = crate::common::client();
    let api = emu.api_url();
    let users = crate::common::all(&c, &format!("{api}/users"), "users");
    let mut assignments = Vec::new();
    for u in &users {
        let url = format!("{api}/users/{}/project_assignments", u["id"]);
        assignments.extend(crate::common::all(&c, &url, "project_assignments"));
    }
    assert!(!assignments.is_empty());
    for a in &assignments {
        assert!(a["project"]["is_billable"].is_boolean(), "{a}");
        assert!(a["client"]["currency"].is_string(), "{a}");
    }
    assert!(assignments.iter().any(|a| lacks(a, "use_default_rates")));
}

#[test]
fn older_records_lack_the_fields_harvest_added_later() {
    assert!(list("/clients", "clients")
        .iter()
        .any(|c| lacks(c, "statement_key")));
    let uas = list("/user_assignments", "user_assignments");
    assert!(uas.iter().any(|a| lacks(a, "use_default_rates")));
    assert!(uas.iter().any(|a| a["use_default_rates"].is_boolean()));
    let entries = list("/time_entries", "time_entries");
    assert!(entries
        .iter()
        .any(|t| lacks(t, "rounded_hours") && lacks(t, "hours_without_timer")));
    assert!(entries.iter().any(|t| t["rounded_hours"].is_number()));
    let emu = crate::common::tiny();
    let team = crate::common::all(
        &crate::common::client(),
        &format!(
            "{}/reports/time/team?from=2024-06-01&to=2025-05-31",
            emu.api_url()
        ),
        "results",
    );
    assert!(team
        .iter()
        .any(|r| lacks(r, "weekly_capacity") && lacks(r, "avatar_url")));
    assert!(team.iter().any(|r| r["weekly_capacity"].is_i64()));
}

#[test]
fn invoices_may_have_no_payment_options() {
    let invoices = list("/invoices", "invoices");
    assert!(invoices.iter().any(|i| lacks(i, "payment_options")));
    assert!(invoices.iter().any(|i| i["payment_options"].is_array()));
}

#[test]
fn external_references_have_string_ids_and_may_lack_account_id() {
    let refs: Vec<Value> = list("/time_entries", "time_entries")
        .into_iter()
        .map(|t| t["external_reference"].clone())
        .filter(Value::is_object)
        .collect();
    assert!(refs
        .iter()
        .all(|r| r["id"].as_str().is_some_and(|id| id.parse::<u64>().is_ok())));
    assert!(refs.iter().any(|r| lacks(r, "account_id")));
    assert!(refs.iter().any(|r| r["account_id"].is_string()));
}

#[test]
fn started_times_follow_both_clocks() {
    let times: Vec<String> = list("/time_entries", "time_entries")
        .iter()
        .filter_map(|t| t["started_time"].as_str().map(str::to_string))
        .collect();
    let twelve = |s: &str| s.ends_with("am") || s.ends_with("pm");
    let twenty_four = |s: &str| {
        let b = s.as_bytes();
        b.len() == 5 && b[2] == b':' && s.replace(':', "").parse::<u32>().is_ok()
    };
    assert!(times.iter().any(|s| twelve(s)), "{times:?}");
    assert!(times.iter().any(|s| twenty_four(s)), "{times:?}");
    assert!(
        times.iter().all(|s| twelve(s) || twenty_four(s)),
        "{times:?}"
    );
}

#[test]
fn the_uninvoiced_report_has_integer_zeros_and_negative_amounts() {
    let emu = crate::common::tiny();
    let c = crate::common::client();
    let mut rows = Vec::new();
    for (from, to) in [("2024-06-01", "2025-05-31"), ("2025-06-01", "2026-05-31")] {
        let url = format!("{}/reports/uninvoiced?from={from}&to={to}", emu.api_url());
        rows.extend(crate::common::all(&c, &url, "results"));
    }
    let values: Vec<&Value> = rows
        .iter()
        .flat_map(|r| {
            [
                "uninvoiced_hours",
                "uninvoiced_expenses",
                "uninvoiced_amount",
            ]
            .map(|k| &r[k])
        })
        .collect();
    assert!(values.iter().any(|v| v.is_u64() && v.as_u64() == Some(0)));
    assert!(values.iter().any(|v| v.is_f64()));
    assert!(values.iter().any(|v| v.as_f64().is_some_and(|x| x < 0.0)));
}

#[test]
fn lists_link_with_ref_and_send_no_rate_limit_headers() {
    let emu = crate::common::tiny();
    let c = crate::common::client();
    let r = crate::common::get(
        &c,
        &format!("{}/time_entries?page=2&per_page=5", emu.api_url()),
    );
    assert!(r
        .headers()
        .keys()
        .all(|h| !h.as_str().to_ascii_lowercase().starts_with("x-ratelimit")));
    let page: Value = r.json().unwrap();
    for (link, want) in [
        ("first", "ref=first"),
        ("next", "ref=next"),
        ("previous", "ref=previous"),
        ("last", "ref=last"),
    ] {
        let url = page["links"][link].as_str().unwrap_or_default();
        assert!(url.contains(want), "links.{link} = {url}");
    }
}
