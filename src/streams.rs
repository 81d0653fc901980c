//! THE stream table: every stream the connector reads, described as data.
//!
//! One generic engine ([`crate::read`]) reads every row; a stream's differences live only in
//! its row: where it is, what [`Kind`] of endpoint it is (which fixes its reader, cursor, sync
//! modes, primary key and rate-limit bucket), and where its records sit in the response.
//! Adding a stream is adding a row here and a schema file in `src/schemas/` (and, for the
//! tests, the endpoint in the emulator). Names, keys and cursors are the incumbent's (Airbyte's
//! Python source-harvest), so existing connections keep working.

use crate::harvest::Bucket;
use crate::protocol::SyncMode;

/// How a list endpoint narrows a read to what changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    /// Harvest filters by `updated_since`; records carry `updated_at`.
    UpdatedSince,
    /// Harvest has no `updated_since` here (roles): every record is listed and those updated
    /// before the watermark are dropped by the connector.
    UpdatedAtHere,
    /// No cursor: the stream is read in full every time.
    None,
}

/// Another stream whose changes say which parents' children changed while the parents did not
/// (a project assignment embeds its project's task assignments, and a changed task assignment
/// moves neither the user nor the project assignment). A touched parent's children are read
/// whole, not only those updated since the watermark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Touch {
    /// Records of `stream` updated since the child's watermark name a parent at `{field}.id`.
    Names {
        /// The stream listed with `updated_since`.
        stream: &'static str,
        /// The object naming the parent.
        field: &'static str,
    },
    /// Records of `stream` updated since the watermark name a `{field}.id`, and the records
    /// of `through` naming that same `{field}.id` name the parents at `{parent_field}.id`.
    Through {
        /// The stream listed with `updated_since`.
        stream: &'static str,
        /// The object both streams name.
        field: &'static str,
        /// The stream listed whole to map `field` to parents.
        through: &'static str,
        /// The object of `through` naming the parent.
        parent_field: &'static str,
    },
}

/// What kind of endpoint a stream reads; the reader, cursor and sync modes follow from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The body is the one record (company); full refresh only.
    Single,
    /// A paginated list of records with an `id`.
    List {
        /// How an incremental read is narrowed.
        filter: Filter,
    },
    /// A list under each record of another stream: `{id}` in the path is the parent's id, and
    /// every record gains `parent_id`.
    Child {
        /// The stream whose records are the parents (a [`Kind::List`] stream).
        parent: &'static str,
        /// How an incremental read of one parent's list is narrowed.
        filter: Filter,
        /// Besides the parents' own updates, what says whose children changed.
        touched_by: &'static [Touch],
    },
    /// A `/reports/…` endpoint: aggregate rows without an id, counted against Harvest's
    /// reports rate limit.
    Report {
        /// `Some(days)`: read with `from`/`to` in windows of at most this many days, the state
        /// holding the last `to`; `None`: the report has no dates and is read whole each time.
        window_days: Option<i64>,
    },
}

/// How a stream is read incrementally, as [`Kind`] implies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// Records carry `updated_at`; the state holds a watermark.
    UpdatedAt,
    /// Report windows; the state holds the last day read (`to`).
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
    /// What kind of endpoint it is.
    pub kind: Kind,
    /// The envelope key holding the records (the stream's name unless the row says otherwise;
    /// unused by [`Kind::Single`]).
    pub records_key: &'static str,
    /// The stream's JSON Schema (draft-07).
    pub schema: &'static str,
}

impl StreamDef {
    /// How the stream is read incrementally.
    pub fn cursor(&self) -> Cursor {
        match self.kind {
            Kind::Single | Kind::Report { window_days: None } => Cursor::None,
            Kind::List { filter } | Kind::Child { filter, .. } => match filter {
                Filter::UpdatedSince | Filter::UpdatedAtHere => Cursor::UpdatedAt,
                Filter::None => Cursor::None,
            },
            Kind::Report {
                window_days: Some(_),
            } => Cursor::ReportWindow,
        }
    }

    /// The sync modes the stream supports.
    pub fn sync_modes(&self) -> &'static [SyncMode] {
        match self.cursor() {
            Cursor::None => &[SyncMode::FullRefresh],
            _ => &[SyncMode::FullRefresh, SyncMode::Incremental],
        }
    }

    /// The cursor field of an incremental stream.
    pub fn cursor_field(&self) -> Option<&'static str> {
        match self.cursor() {
            Cursor::UpdatedAt => Some("updated_at"),
            Cursor::ReportWindow => Some("to"),
            Cursor::None => None,
        }
    }

    /// The primary key (top-level fields); empty where the incumbent declares none.
    pub fn primary_key(&self) -> &'static [&'static str] {
        match self.kind {
            Kind::List { .. } | Kind::Child { .. } => &["id"],
            Kind::Single | Kind::Report { .. } => &[],
        }
    }

    /// The parent stream of a child stream.
    pub fn parent(&self) -> Option<&'static str> {
        match self.kind {
            Kind::Child { parent, .. } => Some(parent),
            _ => None,
        }
    }

    /// The rate limit its requests count against.
    pub fn bucket(&self) -> Bucket {
        match self.kind {
            Kind::Report { .. } => Bucket::Reports,
            _ => Bucket::General,
        }
    }

    /// Whether Harvest filters this stream's lists by `updated_since`.
    pub fn server_filters(&self) -> bool {
        matches!(
            self.kind,
            Kind::List {
                filter: Filter::UpdatedSince
            } | Kind::Child {
                filter: Filter::UpdatedSince,
                ..
            }
        )
    }
}

/// Looks a stream up by name.
pub fn find(name: &str) -> Option<&'static StreamDef> {
    STREAMS.iter().find(|s| s.name == name)
}

/// One row: `row! { name, path, kind [, records] }`; `records` defaults to the name.
macro_rules! row {
    { name: $name:literal, path: $path:literal, kind: $kind:expr $(, records: $key:literal)? } => {
        StreamDef {
            name: $name,
            path: $path,
            kind: $kind,
            records_key: row!(@key $name $(, $key)?),
            schema: include_str!(concat!("schemas/", $name, ".json")),
        }
    };
    (@key $name:literal) => { $name };
    (@key $name:literal, $key:literal) => { $key };
}

use Filter::{UpdatedAtHere, UpdatedSince};

/// A list filtered by Harvest's `updated_since`.
const LIST: Kind = Kind::List {
    filter: UpdatedSince,
};
/// What changes a user's project assignments without moving the user: their user
/// assignments, and the task assignments of their projects.
const ASSIGNMENTS: &[Touch] = &[
    Touch::Names {
        stream: "user_assignments",
        field: "user",
    },
    Touch::Through {
        stream: "task_assignments",
        field: "project",
        through: "user_assignments",
        parent_field: "user",
    },
];
/// A report in windows of a year, Harvest's longest.
const YEARLY: Kind = Kind::Report {
    window_days: Some(365),
};

/// Every stream, in the incumbent's order.
#[rustfmt::skip]
pub static STREAMS: [StreamDef; 32] = [
    row! { name: "clients",                  path: "/clients",                  kind: LIST },
    row! { name: "company",                  path: "/company",                  kind: Kind::Single },
    row! { name: "contacts",                 path: "/contacts",                 kind: LIST },
    row! { name: "estimate_item_categories", path: "/estimate_item_categories", kind: LIST },
    row! { name: "estimates",                path: "/estimates",                kind: LIST },
    row! { name: "expense_categories",       path: "/expense_categories",       kind: LIST },
    row! { name: "expenses",                 path: "/expenses",                 kind: LIST },
    row! { name: "invoice_item_categories",  path: "/invoice_item_categories",  kind: LIST },
    row! { name: "invoices",                 path: "/invoices",                 kind: LIST },
    row! { name: "projects",                 path: "/projects",                 kind: LIST },
    row! { name: "roles",                    path: "/roles",                    kind: Kind::List { filter: UpdatedAtHere } },
    row! { name: "task_assignments",         path: "/task_assignments",         kind: LIST },
    row! { name: "tasks",                    path: "/tasks",                    kind: LIST },
    row! { name: "time_entries",             path: "/time_entries",             kind: LIST },
    row! { name: "user_assignments",         path: "/user_assignments",         kind: LIST },
    row! { name: "users",                    path: "/users",                    kind: LIST },
    row! { name: "expenses_categories",      path: "/reports/expenses/categories", kind: YEARLY, records: "results" },
    row! { name: "expenses_clients",         path: "/reports/expenses/clients",    kind: YEARLY, records: "results" },
    row! { name: "expenses_projects",        path: "/reports/expenses/projects",   kind: YEARLY, records: "results" },
    row! { name: "expenses_team",            path: "/reports/expenses/team",       kind: YEARLY, records: "results" },
    row! { name: "project_budget",           path: "/reports/project_budget",      kind: Kind::Report { window_days: None }, records: "results" },
    row! { name: "time_clients",             path: "/reports/time/clients",        kind: YEARLY, records: "results" },
    row! { name: "time_projects",            path: "/reports/time/projects",       kind: YEARLY, records: "results" },
    row! { name: "time_tasks",               path: "/reports/time/tasks",          kind: YEARLY, records: "results" },
    row! { name: "time_team",                path: "/reports/time/team",           kind: YEARLY, records: "results" },
    row! { name: "uninvoiced",               path: "/reports/uninvoiced",          kind: YEARLY, records: "results" },
    row! { name: "estimate_messages",        path: "/estimates/{id}/messages",           kind: Kind::Child { parent: "estimates", filter: UpdatedSince, touched_by: &[] } },
    row! { name: "invoice_messages",         path: "/invoices/{id}/messages",            kind: Kind::Child { parent: "invoices", filter: UpdatedSince, touched_by: &[] } },
    row! { name: "invoice_payments",         path: "/invoices/{id}/payments",            kind: Kind::Child { parent: "invoices", filter: UpdatedSince, touched_by: &[] } },
    row! { name: "project_assignments",      path: "/users/{id}/project_assignments",    kind: Kind::Child { parent: "users", filter: UpdatedSince, touched_by: ASSIGNMENTS } },
    row! { name: "billable_rates",           path: "/users/{id}/billable_rates",         kind: Kind::Child { parent: "users", filter: Filter::None, touched_by: &[] } },
    row! { name: "cost_rates",               path: "/users/{id}/cost_rates",             kind: Kind::Child { parent: "users", filter: Filter::None, touched_by: &[] } },
];
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parents_exist() {
        for (i, s) in STREAMS.iter().enumerate() {
            assert!(STREAMS[..i].iter().all(|o| o.name != s.name), "{}", s.name);
            if let Some(parent) = s.parent() {
                let p = find(parent).expect("parent stream exists");
                assert!(matches!(p.kind, Kind::List { .. }) && p.primary_key() == ["id"]);
                assert!(s.path.contains("{id}"));
            }
        }
    }

    #[test]
    fn every_schema_declares_its_keys_and_cursor() {
        for s in &STREAMS {
            let schema: serde_json::Value = serde_json::from_str(s.schema).expect(s.name);
            let props = &schema["properties"];
            for field in s.primary_key().iter().copied().chain(s.cursor_field()) {
                assert!(props.get(field).is_some(), "{} lacks {field}", s.name);
            }
            if s.parent().is_some() {
                assert!(
                    props.get("parent_id").is_some(),
                    "{} lacks parent_id",
                    s.name
                );
            }
        }
    }
}
