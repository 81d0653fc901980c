//! Pagination as Harvest does it: the envelope, page-numbered links on time entries, expenses,
//! invoices, estimates and reports, keyset cursors on the other lists, `per_page` 1–2000 with
//! 2000 as default. Walking `links.next` to the end yields every record exactly once.

use crate::common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use harvest_emulator::Scale;
use serde_json::Value;

/// The query parameters of a link, in the order served.
fn params(link: &str) -> Vec<(String, String)> {
    url::Url::parse(link)
        .unwrap_or_else(|e| panic!("{link}: {e}"))
        .query_pairs()
        .into_owned()
        .collect()
}

fn param(link: &str, key: &str) -> Option<String> {
    params(link)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// The decoded JSON of a `cursor=` parameter.
fn cursor(link: &str) -> Value {
    let raw = param(link, "cursor").unwrap_or_else(|| panic!("{link} has no cursor"));
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(raw.trim_end_matches('=')).unwrap()).unwrap()
}

#[test]
fn page_numbered_walk_serves_every_time_entry_once_with_harvest_envelope() {
    let emu = common::start(Scale::Small);
    let c = common::client();
    let expected = emu.expected_counts()["time_entries"];
    assert_eq!(expected, 4000);
    let mut next = Some(format!("{}/time_entries?per_page=700", emu.api_url()));
    let mut records = Vec::new();
    let mut page_no = 0;
    while let Some(url) = next {
        page_no += 1;
        let raw = common::get(&c, &url).text().unwrap();
        // Envelope members in Harvest's order.
        let order: Vec<usize> = [
            "\"time_entries\":",
            "\"per_page\":",
            "\"total_pages\":",
            "\"total_entries\":",
            "\"next_page\":",
            "\"previous_page\":",
            "\"page\":",
            "\"links\":",
        ]
        .iter()
        .map(|k| raw.rfind(k).unwrap_or_else(|| panic!("{k} missing")))
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "envelope order");
        let page: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(page["per_page"], 700);
        assert_eq!(page["total_pages"], 6);
        assert_eq!(page["total_entries"], 4000);
        assert_eq!(page["page"], page_no);
        let len = page["time_entries"].as_array().unwrap().len();
        assert_eq!(len, if page_no < 6 { 700 } else { 4000 - 5 * 700 });
        let links = &page["links"];
        let first = links["first"].as_str().unwrap();
        assert_eq!(param(first, "page").as_deref(), Some("1"));
        assert_eq!(param(first, "ref").as_deref(), Some("first"));
        assert_eq!(
            param(links["last"].as_str().unwrap(), "page").as_deref(),
            Some("6")
        );
        if page_no < 6 {
            assert_eq!(page["next_page"], page_no + 1);
            let n = links["next"].as_str().unwrap();
            assert_eq!(param(n, "page"), Some((page_no + 1).to_string()));
            assert_eq!(param(n, "per_page").as_deref(), Some("700"));
            assert_eq!(param(n, "ref").as_deref(), Some("next"));
            assert_eq!(param(n, "cursor"), None, "time entries are page-numbered");
        } else {
            assert!(page["next_page"].is_null() && links["next"].is_null());
        }
        if page_no > 1 {
            assert_eq!(page["previous_page"], page_no - 1);
            let p = links["previous"].as_str().unwrap();
            assert_eq!(param(p, "page"), Some((page_no - 1).to_string()));
        } else {
            assert!(page["previous_page"].is_null() && links["previous"].is_null());
        }
        records.extend(page["time_entries"].as_array().unwrap().iter().cloned());
        next = links["next"].as_str().map(str::to_string);
    }
    assert_eq!(page_no, 6);
    assert_eq!(common::unique_ids(&records).len() as u64, expected);
}

#[test]
fn cursor_walk_has_null_page_fields_mid_way_and_keyset_cursors() {
    let emu = common::start(Scale::Small);
    let c = common::client();
    let expected = emu.expected_counts()["clients"] as usize;
    assert!(expected >= 7, "small has enough clients for 3+ pages of 3");
    let pages = expected.div_ceil(3);
    let mut next = Some(format!("{}/clients?per_page=3", emu.api_url()));
    let mut records: Vec<Value> = Vec::new();
    let mut n = 0;
    while let Some(url) = next {
        n += 1;
        let page = common::get_json(&c, &url);
        let batch = page["clients"].as_array().unwrap().clone();
        assert_eq!(page["total_entries"], expected);
        assert_eq!(page["total_pages"], pages);
        let links = &page["links"];
        if n == 1 {
            assert_eq!(page["page"], 1);
            assert_eq!(page["next_page"], 2);
            assert!(page["previous_page"].is_null());
        } else if n < pages {
            for k in ["page", "next_page", "previous_page"] {
                assert!(
                    page[k].is_null(),
                    "{k} on a middle cursor page: {}",
                    page[k]
                );
            }
        } else {
            assert_eq!(page["page"], pages);
            assert!(page["next_page"].is_null());
        }
        // links.first/last stay page-based; next/previous carry keyset cursors.
        assert_eq!(
            param(links["first"].as_str().unwrap(), "page").as_deref(),
            Some("1")
        );
        assert_eq!(
            param(links["last"].as_str().unwrap(), "page"),
            Some(pages.to_string())
        );
        if let Some(nx) = links["next"].as_str() {
            assert_eq!(param(nx, "ref").as_deref(), Some("next_cursor"));
            assert_eq!(param(nx, "page"), None);
            let last_id = batch.last().unwrap()["id"].as_i64().unwrap();
            assert_eq!(
                cursor(nx),
                serde_json::json!({ "after": { "id": last_id } })
            );
        }
        if n > 1 {
            let prev = links["previous"].as_str().unwrap();
            let first_id = batch[0]["id"].as_i64().unwrap();
            assert_eq!(
                cursor(prev),
                serde_json::json!({ "before": { "id": first_id } })
            );
            // Following `previous` serves exactly the page before this one.
            let back = common::get_json(&c, prev);
            let before = &records[records.len() - 3..];
            assert_eq!(
                common::ids(back["clients"].as_array().unwrap()),
                common::ids(before)
            );
        } else {
            assert!(links["previous"].is_null());
        }
        records.extend(batch);
        next = links["next"].as_str().map(str::to_string);
    }
    assert_eq!(n, pages);
    assert_eq!(common::unique_ids(&records).len(), expected);
}

#[test]
fn every_list_walks_to_exactly_its_total_in_its_documented_style() {
    let emu = common::start(Scale::Small);
    let c = common::client();
    let api = emu.api_url();
    let counts = emu.expected_counts();
    let cursor_lists = [
        "clients",
        "contacts",
        "estimate_item_categories",
        "expense_categories",
        "invoice_item_categories",
        "projects",
        "roles",
        "task_assignments",
        "tasks",
        "user_assignments",
        "users",
    ];
    let page_lists = ["time_entries", "expenses", "invoices", "estimates"];
    for (stream, is_cursor) in cursor_lists
        .iter()
        .map(|s| (*s, true))
        .chain(page_lists.iter().map(|s| (*s, false)))
    {
        let per_page = if stream == "time_entries" { 1500 } else { 2 };
        let url = format!("{api}/{stream}?per_page={per_page}");
        let first = common::get_json(&c, &url);
        let total = first["total_entries"].as_u64().unwrap();
        assert_eq!(total, counts[stream], "{stream}: total_entries");
        assert!(total > per_page, "{stream}: needs more than one page");
        let next = first["links"]["next"].as_str().unwrap();
        assert_eq!(
            param(next, "cursor").is_some(),
            is_cursor,
            "{stream}: pagination style of {next}"
        );
        assert_eq!(
            param(next, "page").is_some(),
            !is_cursor,
            "{stream}: {next}"
        );
        let (records, pages) = common::walk(&c, &url, stream);
        assert_eq!(pages as u64, total.div_ceil(per_page), "{stream}: pages");
        assert_eq!(common::unique_ids(&records).len() as u64, total, "{stream}");
    }
}

#[test]
fn nested_lists_paginate_as_documented() {
    let emu = common::start(Scale::Small);
    let c = common::client();
    let api = emu.api_url();
    let project = common::get_json(&c, &format!("{api}/projects?per_page=1"))["projects"][0]["id"]
        .as_i64()
        .unwrap();
    let user = common::get_json(&c, &format!("{api}/users/me"))["id"]
        .as_i64()
        .unwrap();
    // (path, envelope, cursor?)
    let cases = [
        (
            format!("projects/{project}/user_assignments"),
            "user_assignments",
            false,
        ),
        (
            format!("projects/{project}/task_assignments"),
            "task_assignments",
            false,
        ),
        (
            format!("users/{user}/project_assignments"),
            "project_assignments",
            true,
        ),
        (
            "users/me/project_assignments".to_string(),
            "project_assignments",
            false,
        ),
    ];
    for (path, key, is_cursor) in cases {
        let whole = common::get_json(&c, &format!("{api}/{path}"));
        let total = whole["total_entries"].as_u64().unwrap();
        assert!(total >= 2, "{path}: {total} records, need 2 to page");
        let first = common::get_json(&c, &format!("{api}/{path}?per_page=1"));
        let next = first["links"]["next"].as_str().unwrap();
        assert_eq!(param(next, "cursor").is_some(), is_cursor, "{path}: {next}");
        let (records, pages) = common::walk(&c, &format!("{api}/{path}?per_page=1"), key);
        assert_eq!(pages as u64, total, "{path}");
        assert_eq!(
            common::ids(&records),
            common::ids(whole[key].as_array().unwrap()),
            "{path}: walking page by page serves the same records in the same order"
        );
    }
}

#[test]
fn per_page_is_1_to_2000_with_2000_by_default() {
    let emu = common::start(Scale::Small);
    let c = common::client();
    let api = emu.api_url();
    let default = common::get_json(&c, &format!("{api}/time_entries"));
    assert_eq!(default["per_page"], 2000);
    assert_eq!(default["time_entries"].as_array().unwrap().len(), 2000);
    assert_eq!(default["total_pages"], 2);
    assert_eq!(
        param(default["links"]["next"].as_str().unwrap(), "per_page").as_deref(),
        Some("2000")
    );
    let one = common::get_json(&c, &format!("{api}/time_entries?per_page=1"));
    assert_eq!(one["time_entries"].as_array().unwrap().len(), 1);
    assert_eq!(one["total_pages"], 4000);
    let max = common::get_json(&c, &format!("{api}/clients?per_page=2000"));
    assert_eq!(max["per_page"], 2000);
    for bad in ["2001", "0", "-1", "many"] {
        for path in ["time_entries", "clients", "reports/project_budget"] {
            let r = common::get(&c, &format!("{api}/{path}?per_page={bad}"));
            assert_eq!(r.status(), 422, "{path} per_page={bad}");
            let body: Value = r.json().unwrap();
            assert!(body["message"].is_string(), "{path}: {body}");
        }
    }
}

#[test]
fn an_empty_selection_has_harvests_empty_envelope() {
    let emu = common::tiny();
    let c = common::client();
    for (path, key) in [("clients", "clients"), ("time_entries", "time_entries")] {
        let page = common::get_json(
            &c,
            &format!(
                "{}/{path}?updated_since=2100-01-01T00:00:00Z",
                emu.api_url()
            ),
        );
        assert_eq!(page[key], serde_json::json!([]));
        assert_eq!(page["total_pages"], 1);
        assert_eq!(page["total_entries"], 0);
        assert_eq!(page["page"], 1);
        assert!(page["next_page"].is_null() && page["previous_page"].is_null());
        assert!(page["links"]["next"].is_null() && page["links"]["previous"].is_null());
    }
}

#[test]
fn links_keep_the_filters_sorted_by_name_and_never_the_credentials() {
    let emu = common::start(Scale::Small);
    let c = common::client();
    let me = common::get_json(&c, &format!("{}/users/me", emu.api_url()))["id"]
        .as_i64()
        .unwrap();
    let url = format!(
        "{}/time_entries?user_id={me}&per_page=5&from=2025-01-01&access_token={}&account_id={}",
        emu.api_url(),
        harvest_emulator::PERSONAL_ACCESS_TOKEN,
        harvest_emulator::ACCOUNT_ID
    );
    let page = common::get_json(&c, &url);
    let next = page["links"]["next"].as_str().unwrap();
    let keys: Vec<String> = params(next).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["from", "page", "per_page", "ref", "user_id"]);
    assert!(next.starts_with(&format!("{}/time_entries?", emu.api_url())));
    // The filtered walk serves only that user's entries and stays filtered to the end.
    let (records, _) = common::walk(&c, next, "time_entries");
    assert!(!records.is_empty());
    assert!(records.iter().all(|r| r["user"]["id"] == me));
}

#[test]
fn a_cursor_walk_is_not_shifted_by_records_created_or_deleted_elsewhere() {
    let emu = common::start(Scale::Small);
    let c = common::client();
    let url = format!("{}/contacts?per_page=2", emu.api_url());
    let before = common::ids(&common::all(
        &c,
        &format!("{}/contacts", emu.api_url()),
        "contacts",
    ));
    let first = common::get_json(&c, &url);
    let served: Vec<i64> = common::ids(first["contacts"].as_array().unwrap());
    // A new contact (newest, so first in order), a deleted one already served, and the
    // deleted record the cursor names: the walk goes on after its place.
    let created = emu.create("contacts", serde_json::json!({}));
    assert!(emu.delete("contacts", served[0]));
    assert!(emu.delete("contacts", served[1]));
    let (rest, _) = common::walk(&c, first["links"]["next"].as_str().unwrap(), "contacts");
    let mut walked = served.clone();
    walked.extend(common::ids(&rest));
    assert_eq!(
        walked, before,
        "the keyset walk continues exactly after the cursor"
    );
    assert!(!walked.contains(&created["id"].as_i64().unwrap()));
}
