//! Every record the emulator serves, for every stream, validates against the stream's schema,
//! and carries no field the schema does not declare.

use crate::common::*;
use harvest_emulator::Scale;
use serde_json::{json, Value};

/// Fields of `value` (recursively) that `schema` does not declare, as paths.
fn undeclared(value: &Value, schema: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
                return;
            };
            for (key, v) in map {
                match properties.get(key) {
                    Some(s) => undeclared(v, s, &format!("{path}.{key}"), out),
                    None => out.push(format!("{path}.{key}")),
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    undeclared(item, item_schema, &format!("{path}[]"), out);
                }
            }
        }
        _ => {}
    }
}

#[test]
fn every_record_matches_its_schema() {
    let emu = emulator(Scale::Tiny);
    let input = ReadInput::new(&config(&emu, json!({})), &all_streams(), "full_refresh");
    let run = input.read(None);
    assert_eq!(run.code, 0, "{}", run.logs());
    let records = run.records();
    let mut problems = Vec::new();
    for def in &source_harvest::streams::STREAMS {
        let schema = source_harvest::catalog::schema(def);
        let validator = jsonschema::draft7::new(schema).expect("a valid schema");
        let rows = records
            .get(def.name)
            .unwrap_or_else(|| panic!("{} has records in the tiny dataset", def.name));
        for row in rows {
            for error in validator.iter_errors(row) {
                problems.push(format!(
                    "{}: {} at {}",
                    def.name,
                    error,
                    error.instance_path()
                ));
            }
            let mut extra = Vec::new();
            undeclared(row, schema, def.name, &mut extra);
            problems.extend(extra.into_iter().map(|p| format!("undeclared field {p}")));
        }
    }
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The top-level fields Harvest documents as nullable: the Tiny dataset must hold each both null
/// and set. (Every field but the key is declared nullable, so the schemas no longer tell them.)
const SENT_NULL: &[(&str, &[&str])] = &[
    ("billable_rates", &["end_date"]),
    ("clients", &["address"]),
    (
        "contacts",
        &["title", "email", "phone_office", "phone_mobile", "fax"],
    ),
    ("cost_rates", &["end_date"]),
    ("estimate_messages", &["subject", "event_type"]),
    (
        "estimates",
        &[
            "purchase_order",
            "tax",
            "tax_amount",
            "tax2",
            "tax2_amount",
            "discount",
            "subject",
            "notes",
            "issue_date",
            "sent_at",
            "accepted_at",
            "declined_at",
        ],
    ),
    ("expense_categories", &["unit_name", "unit_price"]),
    (
        "expenses",
        &[
            "user_assignment",
            "receipt",
            "invoice",
            "notes",
            "locked_reason",
        ],
    ),
    (
        "invoice_messages",
        &["subject", "event_type", "send_reminder_on"],
    ),
    (
        "invoice_payments",
        &[
            "paid_at",
            "paid_date",
            "recorded_by_email",
            "notes",
            "transaction_id",
            "payment_gateway",
        ],
    ),
    (
        "invoices",
        &[
            "estimate",
            "retainer",
            "purchase_order",
            "tax",
            "tax_amount",
            "tax2",
            "tax2_amount",
            "discount",
            "subject",
            "notes",
            "period_start",
            "period_end",
            "issue_date",
            "due_date",
            "sent_at",
            "paid_at",
            "paid_date",
            "closed_at",
            "recurring_invoice_id",
        ],
    ),
    ("project_assignments", &["hourly_rate", "budget"]),
    ("project_budget", &["budget"]),
    (
        "projects",
        &[
            "code",
            "hourly_rate",
            "budget",
            "over_budget_notification_date",
            "cost_budget",
            "fee",
            "notes",
            "starts_on",
            "ends_on",
        ],
    ),
    ("task_assignments", &["hourly_rate", "budget"]),
    ("tasks", &["default_hourly_rate"]),
    (
        "time_entries",
        &[
            "user_assignment",
            "task_assignment",
            "external_reference",
            "invoice",
            "notes",
            "locked_reason",
            "timer_started_at",
            "started_time",
            "ended_time",
            "billable_rate",
            "cost_rate",
        ],
    ),
    ("time_team", &["avatar_url"]),
    ("user_assignments", &["hourly_rate", "budget"]),
    (
        "users",
        &[
            "email",
            "telephone",
            "default_hourly_rate",
            "cost_rate",
            "avatar_url",
            "is_admin",
            "is_project_manager",
            "can_see_rates",
            "can_create_projects",
            "can_create_invoices",
            "calendar_integration_enabled",
            "calendar_integration_source",
        ],
    ),
];

#[test]
fn every_nullable_field_is_seen_null_and_set_in_the_tiny_dataset() {
    let emu = emulator(Scale::Tiny);
    let input = ReadInput::new(&config(&emu, json!({})), &all_streams(), "full_refresh");
    let run = input.read(None);
    let records = run.records();
    let mut never = Vec::new();
    for &(stream, fields) in SENT_NULL {
        let def = source_harvest::streams::find(stream).expect("a stream of the table");
        let schema = source_harvest::catalog::schema(def);
        for field in fields.iter().copied() {
            assert!(
                schema["properties"].get(field).is_some(),
                "{stream}.{field} is not in the schema"
            );
            // Legacy fields kept for the incumbent's users are declared but no longer served.
            let present: Vec<&Value> = records[def.name]
                .iter()
                .filter_map(|r| r.get(field))
                .collect();
            if present.is_empty() {
                continue;
            }
            let nulls = present.iter().filter(|v| v.is_null()).count();
            if nulls == 0 || nulls == present.len() {
                never.push(format!("{}.{field}", def.name));
            }
        }
    }
    assert!(
        never.is_empty(),
        "nullable fields always null or never null: {never:?}"
    );
}

/// Paths under `schema` whose declared type does not admit `null`.
fn not_nullable(schema: &Value, path: &str, out: &mut Vec<String>) {
    if let Some(t) = schema.get("type") {
        let nullable = t == "null" || t.as_array().is_some_and(|t| t.contains(&json!("null")));
        if !nullable {
            out.push(path.to_string());
        }
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (key, s) in properties {
            not_nullable(s, &format!("{path}.{key}"), out);
        }
    }
    if let Some(items) = schema.get("items") {
        not_nullable(items, &format!("{path}[]"), out);
    }
}

#[test]
fn every_field_but_the_primary_key_accepts_null() {
    // Airbyte's convention, and Harvest's documentation understates nullability.
    let mut strict = Vec::new();
    for def in &source_harvest::streams::STREAMS {
        let schema = source_harvest::catalog::schema(def);
        for (field, s) in schema["properties"].as_object().unwrap() {
            let is_key = def.primary_key().contains(&field.as_str());
            // A report row's currency is a key that Harvest leaves out for users who may not
            // see amounts; its window is ours.
            let expected = match field.as_str() {
                "currency" => json!(["null", "string"]),
                "from" | "to" => json!("string"),
                _ => json!("integer"),
            };
            if is_key {
                assert_eq!(s["type"], expected, "{}.{field} is a key", def.name);
            } else {
                not_nullable(s, &format!("{}.{field}", def.name), &mut strict);
            }
        }
    }
    assert!(strict.is_empty(), "fields that refuse null: {strict:?}");
}
