//! THE stream table: every stream the connector reads, described as data.
//!
//! One generic engine (`read.rs`) reads every row the same way; a stream's differences live
//! only in its row: where it is, where its records sit in the response, what identifies a
//! record, how it is read incrementally, and whose ids fill `{id}` in its path. Adding a stream
//! is adding a row here and a schema file in `src/schemas/`. Names, keys and cursors are the
//! incumbent's (Airbyte's Python source-harvest), so existing connections keep working.

use crate::protocol::SyncMode;

/// How a stream reads only what changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// Entity streams: records carry `updated_at`; the state holds a watermark.
    UpdatedAt {
        /// Whether Harvest filters by `updated_since` on this endpoint. Where it does not
        /// (roles), every record is listed and the filter is applied here.
        server_filter: bool,
    },
    /// Report streams: read in windows of at most 365 days; the state holds the last `to`.
    ReportWindow,
    /// Full refresh only.
    None,
}

/// One row of the stream table.
#[derive(Debug)]
pub struct StreamDef {
    /// The stream's name, as in the incumbent's catalog.
    pub name: &'static str,
    /// The path under the API base URL; `{id}` is replaced by each parent id.
    pub path: &'static str,
    /// The envelope key holding the records; `None`: the body is the one record.
    pub records_key: Option<&'static str>,
    /// The primary key (top-level fields); empty where the incumbent declares none.
    pub primary_key: &'static [&'static str],
    /// How the stream is read incrementally.
    pub cursor: Cursor,
    /// The stream whose records' `id`s fill `{id}`; each record then gains `parent_id`.
    pub parent: Option<&'static str>,
    /// The stream's JSON Schema (draft-07).
    pub schema: &'static str,
}

impl StreamDef {
    /// The sync modes the stream supports.
    pub fn sync_modes(&self) -> &'static [SyncMode] {
        match self.cursor {
            Cursor::None => &[SyncMode::FullRefresh],
            _ => &[SyncMode::FullRefresh, SyncMode::Incremental],
        }
    }

    /// The cursor field of an incremental stream.
    pub fn cursor_field(&self) -> Option<&'static str> {
        match self.cursor {
            Cursor::UpdatedAt { .. } => Some("updated_at"),
            Cursor::ReportWindow => Some("to"),
            Cursor::None => None,
        }
    }

    /// True for `/reports/…` streams: they count against Harvest's reports rate limit.
    pub fn is_report(&self) -> bool {
        self.path.starts_with("/reports/")
    }
}

/// Looks a stream up by name.
pub fn find(name: &str) -> Option<&'static StreamDef> {
    STREAMS.iter().find(|s| s.name == name)
}

macro_rules! stream {
    ($name:literal, $path:literal, $key:expr, [$($pk:literal),*], $cursor:expr, $parent:expr) => {
        StreamDef {
            name: $name,
            path: $path,
            records_key: $key,
            primary_key: &[$($pk),*],
            cursor: $cursor,
            parent: $parent,
            schema: include_str!(concat!("schemas/", $name, ".json")),
        }
    };
}

const UPDATED_AT: Cursor = Cursor::UpdatedAt {
    server_filter: true,
};
const REPORT: Cursor = Cursor::ReportWindow;
const NONE: Cursor = Cursor::None;

/// Every stream, in the incumbent's order.
pub static STREAMS: [StreamDef; 32] = [
    stream!(
        "clients",
        "/clients",
        Some("clients"),
        ["id"],
        UPDATED_AT,
        None
    ),
    stream!("company", "/company", None, [], NONE, None),
    stream!(
        "contacts",
        "/contacts",
        Some("contacts"),
        ["id"],
        UPDATED_AT,
        None
    ),
    stream!(
        "estimate_item_categories",
        "/estimate_item_categories",
        Some("estimate_item_categories"),
        ["id"],
        UPDATED_AT,
        None
    ),
    stream!(
        "estimates",
        "/estimates",
        Some("estimates"),
        ["id"],
        UPDATED_AT,
        None
    ),
    stream!(
        "expense_categories",
        "/expense_categories",
        Some("expense_categories"),
        ["id"],
        UPDATED_AT,
        None
    ),
    stream!(
        "expenses",
        "/expenses",
        Some("expenses"),
        ["id"],
        UPDATED_AT,
        None
    ),
    stream!(
        "invoice_item_categories",
        "/invoice_item_categories",
        Some("invoice_item_categories"),
        ["id"],
        UPDATED_AT,
        None
    ),
    stream!(
        "invoices",
        "/invoices",
        Some("invoices"),
        ["id"],
        UPDATED_AT,
        None
    ),
    stream!(
        "projects",
        "/projects",
        Some("projects"),
        ["id"],
        UPDATED_AT,
        None
    ),
    stream!(
        "roles",
        "/roles",
        Some("roles"),
        ["id"],
        Cursor::UpdatedAt {
            server_filter: false
        },
        None
    ),
    stream!(
        "task_assignments",
        "/task_assignments",
        Some("task_assignments"),
        ["id"],
        UPDATED_AT,
        None
    ),
    stream!("tasks", "/tasks", Some("tasks"), ["id"], UPDATED_AT, None),
    stream!(
        "time_entries",
        "/time_entries",
        Some("time_entries"),
        ["id"],
        UPDATED_AT,
        None
    ),
    stream!(
        "user_assignments",
        "/user_assignments",
        Some("user_assignments"),
        ["id"],
        UPDATED_AT,
        None
    ),
    stream!("users", "/users", Some("users"), ["id"], UPDATED_AT, None),
    stream!(
        "expenses_categories",
        "/reports/expenses/categories",
        Some("results"),
        [],
        REPORT,
        None
    ),
    stream!(
        "expenses_clients",
        "/reports/expenses/clients",
        Some("results"),
        [],
        REPORT,
        None
    ),
    stream!(
        "expenses_projects",
        "/reports/expenses/projects",
        Some("results"),
        [],
        REPORT,
        None
    ),
    stream!(
        "expenses_team",
        "/reports/expenses/team",
        Some("results"),
        [],
        REPORT,
        None
    ),
    stream!(
        "project_budget",
        "/reports/project_budget",
        Some("results"),
        [],
        NONE,
        None
    ),
    stream!(
        "time_clients",
        "/reports/time/clients",
        Some("results"),
        [],
        REPORT,
        None
    ),
    stream!(
        "time_projects",
        "/reports/time/projects",
        Some("results"),
        [],
        REPORT,
        None
    ),
    stream!(
        "time_tasks",
        "/reports/time/tasks",
        Some("results"),
        [],
        REPORT,
        None
    ),
    stream!(
        "time_team",
        "/reports/time/team",
        Some("results"),
        [],
        REPORT,
        None
    ),
    stream!(
        "uninvoiced",
        "/reports/uninvoiced",
        Some("results"),
        [],
        REPORT,
        None
    ),
    stream!(
        "estimate_messages",
        "/estimates/{id}/messages",
        Some("estimate_messages"),
        ["id"],
        UPDATED_AT,
        Some("estimates")
    ),
    stream!(
        "invoice_messages",
        "/invoices/{id}/messages",
        Some("invoice_messages"),
        ["id"],
        UPDATED_AT,
        Some("invoices")
    ),
    stream!(
        "invoice_payments",
        "/invoices/{id}/payments",
        Some("invoice_payments"),
        ["id"],
        UPDATED_AT,
        Some("invoices")
    ),
    stream!(
        "project_assignments",
        "/users/{id}/project_assignments",
        Some("project_assignments"),
        ["id"],
        UPDATED_AT,
        Some("users")
    ),
    stream!(
        "billable_rates",
        "/users/{id}/billable_rates",
        Some("billable_rates"),
        ["id"],
        NONE,
        Some("users")
    ),
    stream!(
        "cost_rates",
        "/users/{id}/cost_rates",
        Some("cost_rates"),
        ["id"],
        NONE,
        Some("users")
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parents_exist() {
        for (i, s) in STREAMS.iter().enumerate() {
            assert!(STREAMS[..i].iter().all(|o| o.name != s.name), "{}", s.name);
            if let Some(parent) = s.parent {
                let p = find(parent).expect("parent stream exists");
                assert!(p.parent.is_none() && p.primary_key == ["id"]);
                assert!(s.path.contains("{id}"));
            }
        }
    }

    #[test]
    fn every_schema_declares_its_keys_and_cursor() {
        for s in &STREAMS {
            let schema: serde_json::Value = serde_json::from_str(s.schema).expect(s.name);
            let props = &schema["properties"];
            for field in s.primary_key.iter().copied().chain(s.cursor_field()) {
                assert!(props.get(field).is_some(), "{} lacks {field}", s.name);
            }
            if s.parent.is_some() {
                assert!(
                    props.get("parent_id").is_some(),
                    "{} lacks parent_id",
                    s.name
                );
            }
        }
    }
}
