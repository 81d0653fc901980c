//! Every endpoint of `endpoints.json` (the copy in tests/fixtures, the source the connector's
//! schemas are generated from) serves exactly its fields with their types, and on the Tiny
//! dataset every stream is non-empty and every nullable field is null somewhere and set somewhere.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

const ENDPOINTS: &str = include_str!("../fixtures/endpoints.json");

/// Report windows covering the whole generated range (each at most 365 days).
const WINDOWS: &[(&str, &str)] = &[
    ("2024-06-01", "2025-05-31"),
    ("2025-06-01", "2026-05-31"),
    ("2026-06-01", "2026-11-30"),
];

#[derive(Default)]
struct Seen {
    null: BTreeSet<String>,
    set: BTreeSet<String>,
    absent: BTreeSet<String>,
    present: BTreeSet<String>,
}

fn type_ok(spec: &str, v: &Value) -> bool {
    let (base, nullable) = match spec.strip_suffix("|null") {
        Some(b) => (b, true),
        None => (spec, false),
    };
    if v.is_null() {
        return nullable;
    }
    let is_date = |s: &str| s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-';
    match base {
        "int64" => v.is_i64(),
        "decimal" => v.is_number(),
        "string" | "time" => v.is_string(),
        "bool" => v.is_boolean(),
        "date" => v.as_str().is_some_and(is_date),
        "datetime" => v.as_str().is_some_and(|s| {
            s.len() == 20 && is_date(&s[..10]) && &s[10..11] == "T" && s.ends_with('Z')
        }),
        "object" => v.is_object(),
        "array<object>" => v.as_array().is_some_and(|a| a.iter().all(Value::is_object)),
        "array<string>" => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        "array<int64>" => v.as_array().is_some_and(|a| a.iter().all(Value::is_i64)),
        other => panic!("unknown type {other}"),
    }
}

/// Checks one object at `prefix` against the field map; records nullability coverage.
fn check(
    name: &str,
    fields: &BTreeMap<String, String>,
    may_be_absent: &BTreeSet<String>,
    obj: &Value,
    prefix: &str,
    seen: &mut Seen,
) {
    let map = obj
        .as_object()
        .unwrap_or_else(|| panic!("{name}: {prefix} is not an object"));
    for (k, v) in map {
        let path = format!("{prefix}{k}");
        let spec = fields
            .get(&path)
            .unwrap_or_else(|| panic!("{name}: field {path} is not in endpoints.json"));
        assert!(type_ok(spec, v), "{name}: {path} = {v} is not {spec}");
        if spec.ends_with("|null") {
            if v.is_null() {
                seen.null.insert(path.clone());
            } else {
                seen.set.insert(path.clone());
            }
        }
        if v.is_object() {
            check(name, fields, may_be_absent, v, &format!("{path}."), seen);
        }
        if spec.starts_with("array<object>") {
            for item in v.as_array().into_iter().flatten() {
                check(
                    name,
                    fields,
                    may_be_absent,
                    item,
                    &format!("{path}[]."),
                    seen,
                );
            }
        }
    }
    for path in fields.keys() {
        if let Some(rest) = path.strip_prefix(prefix) {
            if !rest.contains('.') && !rest.contains("[]") {
                if !may_be_absent.contains(path) {
                    assert!(map.contains_key(rest), "{name}: record lacks {path}: {obj}");
                } else if map.contains_key(rest) {
                    seen.present.insert(path.clone());
                } else {
                    seen.absent.insert(path.clone());
                }
            }
        }
    }
}

#[test]
fn every_endpoint_serves_its_documented_shape_and_nullable_coverage() {
    let emu = common::tiny();
    let c = common::client();
    let api = emu.api_url();
    let endpoints: Vec<Value> = serde_json::from_str(ENDPOINTS).unwrap();
    assert!(!endpoints.is_empty());
    let mut ids_of: BTreeMap<String, Vec<(i64, Value)>> = BTreeMap::new();
    let mut problems = Vec::new();
    for e in &endpoints {
        let name = e["name"].as_str().unwrap();
        let path = e["path"].as_str().unwrap().trim_start_matches("/v2");
        let fields: BTreeMap<String, String> = serde_json::from_value(e["fields"].clone()).unwrap();
        // Keys Harvest leaves out of some real records (older accounts, non-administrators).
        let may_be_absent: BTreeSet<String> = e
            .get("may_be_absent")
            .map(|a| serde_json::from_value(a.clone()).unwrap())
            .unwrap_or_default();
        let key = e["envelope_key"].as_str();
        let mut urls = Vec::new();
        if let Some(parent) = e["parent"]["stream"].as_str() {
            let param = format!("{{{}}}", e["parent"]["path_param"].as_str().unwrap());
            for (id, rec) in &ids_of[parent] {
                if name == "user_teammates"
                    && !rec["access_roles"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|r| r == "manager")
                {
                    continue;
                }
                urls.push(format!("{api}{}", path.replace(&param, &id.to_string())));
            }
        } else if e["kind"] == "report" && path != "/reports/project_budget" {
            for (from, to) in WINDOWS {
                urls.push(format!("{api}{path}?from={from}&to={to}"));
            }
        } else {
            urls.push(format!("{api}{path}"));
        }
        let mut records = Vec::new();
        for url in &urls {
            match key {
                Some(k) => records.extend(
                    common::walk(
                        &c,
                        &format!(
                            "{url}{}per_page=3",
                            if url.contains('?') { "&" } else { "?" }
                        ),
                        k,
                    )
                    .0,
                ),
                None => records.push(common::get_json(&c, url)),
            }
        }
        assert!(
            !records.is_empty(),
            "{name}: no records in the Tiny dataset"
        );
        let mut seen = Seen::default();
        for r in &records {
            check(name, &fields, &may_be_absent, r, "", &mut seen);
        }
        // A singleton is one object; its nullable fields are covered by its list (users).
        let singleton = e["kind"] == "singleton";
        for (path, spec) in &fields {
            if may_be_absent.contains(path) && !singleton {
                if !seen.absent.contains(path) {
                    problems.push(format!("{name}: {path} is never absent"));
                }
                if !seen.present.contains(path) {
                    problems.push(format!("{name}: {path} is never present"));
                }
            }
            if spec.ends_with("|null") && !singleton {
                if !seen.null.contains(path) {
                    problems.push(format!("{name}: {path} is never null"));
                }
                if !seen.set.contains(path) {
                    problems.push(format!("{name}: {path} is never set"));
                }
            }
        }
        if fields.contains_key("id") {
            ids_of.insert(
                name.to_string(),
                records
                    .iter()
                    .map(|r| (r["id"].as_i64().unwrap(), r.clone()))
                    .collect(),
            );
        }
    }
    assert!(
        problems.is_empty(),
        "nullable coverage:\n{}",
        problems.join("\n")
    );
    let te = &ids_of["time_entries"];
    assert!(
        te.iter().any(|(id, _)| *id > i64::from(i32::MAX)),
        "some time entry ids exceed 2^31"
    );
}
