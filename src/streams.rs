//! THE stream table: every stream the connector reads, described as data.
//!
//! One generic engine ([`crate::read`]) reads every row; a stream's differences live only in
//! its row: where it is, what [`Kind`] of endpoint it is (which fixes its reader, cursor, sync
//! modes, primary key and rate-limit bucket), and where its records sit in the response.
//! Adding a stream is adding a row here and a schema file in `src/schemas/` (and, for the
//! tests, the endpoint in the emulator). Names, keys and cursors are the incumbent's (Airbyte's
//! Python source-harvest), so existing connections keep working.

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

/// How Harvest paginates a list (see deletion capture in `read::deletions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pages {
    /// Keyset cursors on `id`: a listing can stop and go on in a later sync without missing or
    /// repeating a record.
    Cursor,
    /// Page numbers: records created or deleted meanwhile shift the others between pages, so a
    /// listing spread over syncs goes a whole window of `from`/`to` at a time, on this date.
    Numbered {
        /// The date field `from` and `to` filter on.
        date: &'static str,
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
        /// How Harvest pages it, which says how a listing may be spread over syncs.
        pages: Pages,
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
        /// Whose the records are.
        records: ChildRecords,
    },
    /// A `/reports/…` endpoint: aggregate rows without an id, counted against Harvest's
    /// reports rate limit.
    Report {
        /// `Some(days)`: read with `from`/`to` in windows of this many days on a grid counted
        /// from the start date (see `read::cursor::Grid`), the state holding the last day
        /// read; `None`: the report has no dates and is read whole each time.
        window_days: Option<i64>,
        /// One row's key: the subject's id first, then (with dates) `currency`, `from`, `to`,
        /// since Harvest answers one row per subject and currency in a window.
        primary_key: &'static [&'static str],
    },
    /// Rows taken from a field of another stream's records, at no request of their own: the
    /// source's reader hands every record it keeps to its derived streams too.
    Derived(&'static Derived),
}

/// Whose the records of a child stream are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildRecords {
    /// Each record is its parent's alone (a payment is one invoice's): keyed by `id`.
    Own,
    /// Records are other records as each parent sees them (a manager's teammates are users):
    /// one recurs under several parents, so the key is (`parent_id`, `id`), and a parent that
    /// cannot have any (a user who manages no one) answers 422, which means none.
    Shared,
}

/// Where a derived stream's rows come from and what each row gains.
#[derive(Debug, PartialEq, Eq)]
pub struct Derived {
    /// The stream whose records hold the rows (not itself derived).
    pub source: &'static str,
    /// The member of a source record holding the rows.
    pub field: &'static str,
    /// What that member holds.
    pub rows: Rows,
    /// The column each row gets holding its source record's `id` (`invoice_id`).
    pub source_id: &'static str,
    /// The column holding the source record's `parent_id`, for a child source (a project
    /// assignment's user: `user_id`).
    pub source_parent_id: Option<&'static str>,
    /// The column holding the source record's `updated_at`, the cursor of an incremental read.
    /// Named after the source, as Stitch names it, because the rows may have an `updated_at` of
    /// their own (task assignments do).
    pub cursor: &'static str,
    /// The primary key.
    pub primary_key: &'static [&'static str],
}

/// What the member of a source record a derived stream reads holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rows {
    /// An array of objects: one row each, the object's members after the added columns.
    Objects,
    /// An object or `null`: one row when it is an object.
    Object,
    /// An array of integer ids: one row each, the id in this column.
    Ids(&'static str),
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
    /// The path under the API base URL; `{id}` is replaced by each parent id. Empty for a
    /// derived stream, which requests nothing.
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
            Kind::Single
            | Kind::Report {
                window_days: None, ..
            } => Cursor::None,
            Kind::List { filter, .. } | Kind::Child { filter, .. } => match filter {
                Filter::UpdatedSince | Filter::UpdatedAtHere => Cursor::UpdatedAt,
                Filter::None => Cursor::None,
            },
            Kind::Report {
                window_days: Some(_),
                ..
            } => Cursor::ReportWindow,
            Kind::Derived(derived) => source(derived).cursor(),
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
            Cursor::UpdatedAt => match self.kind {
                Kind::Derived(derived) => Some(derived.cursor),
                _ => Some("updated_at"),
            },
            Cursor::ReportWindow => Some("to"),
            Cursor::None => None,
        }
    }

    /// The primary key (top-level fields); empty for the company, the one record.
    pub fn primary_key(&self) -> &'static [&'static str] {
        match self.kind {
            Kind::Child {
                records: ChildRecords::Shared,
                ..
            } => &["parent_id", "id"],
            Kind::List { .. } | Kind::Child { .. } => &["id"],
            Kind::Single => &[],
            Kind::Report { primary_key, .. } => primary_key,
            Kind::Derived(derived) => derived.primary_key,
        }
    }

    /// The columns the connector adds to every record, which a narrowed catalog keeps too.
    pub fn added_columns(&self) -> Vec<&'static str> {
        match self.kind {
            Kind::Child { .. } => vec!["parent_id"],
            Kind::Derived(derived) => [Some(derived.source_id), derived.source_parent_id]
                .into_iter()
                .flatten()
                .chain(self.cursor_field())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The derivation of a derived stream.
    pub fn derived(&self) -> Option<&'static Derived> {
        match self.kind {
            Kind::Derived(derived) => Some(derived),
            _ => None,
        }
    }

    /// The parent stream of a child stream.
    pub fn parent(&self) -> Option<&'static str> {
        match self.kind {
            Kind::Child { parent, .. } => Some(parent),
            _ => None,
        }
    }

    /// Whether Harvest filters this stream's lists by `updated_since`.
    pub fn server_filters(&self) -> bool {
        matches!(
            self.kind,
            Kind::List {
                filter: Filter::UpdatedSince,
                ..
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

/// The source of a derived stream; the table's test checks that every source is a row.
pub fn source(derived: &Derived) -> &'static StreamDef {
    find(derived.source).expect("a derived stream's source is a row of the table")
}

/// One row: `row! { name, path, kind [, records] }`, `records` defaulting to the name; or
/// `row! { name, derived }` for a derived stream.
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
    { name: $name:literal, derived: $derived:expr } => {
        StreamDef {
            name: $name,
            path: "",
            kind: Kind::Derived(&$derived),
            records_key: $derived.field,
            schema: include_str!(concat!("schemas/", $name, ".json")),
        }
    };
    (@key $name:literal) => { $name };
    (@key $name:literal, $key:literal) => { $key };
}

use Filter::{UpdatedAtHere, UpdatedSince};

/// A list filtered by Harvest's `updated_since`, paged by cursors.
const LIST: Kind = Kind::List {
    filter: UpdatedSince,
    pages: Pages::Cursor,
};
/// A list filtered by Harvest's `updated_since`, paged by numbers, `from`/`to` filtering `date`.
const fn numbered(date: &'static str) -> Kind {
    Kind::List {
        filter: UpdatedSince,
        pages: Pages::Numbered { date },
    }
}
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
/// A report in windows of a year, Harvest's longest, its rows keyed by `primary_key`.
const fn yearly(primary_key: &'static [&'static str]) -> Kind {
    Kind::Report {
        window_days: Some(365),
        primary_key,
    }
}

/// Line items of invoices.
const INVOICE_LINE_ITEMS: Derived = Derived {
    source: "invoices",
    field: "line_items",
    rows: Rows::Objects,
    source_id: "invoice_id",
    source_parent_id: None,
    cursor: "invoices_updated_at",
    primary_key: &["id"],
};
/// Line items of estimates.
const ESTIMATE_LINE_ITEMS: Derived = Derived {
    source: "estimates",
    field: "line_items",
    rows: Rows::Objects,
    source_id: "estimate_id",
    source_parent_id: None,
    cursor: "estimates_updated_at",
    primary_key: &["id"],
};
/// A time entry's external reference (at most one per entry, so the entry's id is the key:
/// a reference replaced by another replaces the row rather than adding one).
const TIME_ENTRY_EXTERNAL_REFERENCE: Derived = Derived {
    source: "time_entries",
    field: "external_reference",
    rows: Rows::Object,
    source_id: "time_entry_id",
    source_parent_id: None,
    cursor: "time_entries_updated_at",
    primary_key: &["time_entry_id"],
};
/// The users of each role.
const USER_ROLES: Derived = Derived {
    source: "roles",
    field: "user_ids",
    rows: Rows::Ids("user_id"),
    source_id: "role_id",
    source_parent_id: None,
    cursor: "roles_updated_at",
    primary_key: &["role_id", "user_id"],
};
/// The task assignments of each user's project assignments (a task assignment is a project's,
/// so it recurs under every user assigned to the project: the user is part of the key).
const USER_PROJECT_TASKS: Derived = Derived {
    source: "project_assignments",
    field: "task_assignments",
    rows: Rows::Objects,
    source_id: "project_assignment_id",
    source_parent_id: Some("user_id"),
    cursor: "project_assignments_updated_at",
    primary_key: &["user_id", "id"],
};

/// Every stream, in the incumbent's order, then the streams it lacks.
#[rustfmt::skip]
pub static STREAMS: [StreamDef; 38] = [
    row! { name: "clients",                  path: "/clients",                  kind: LIST },
    row! { name: "company",                  path: "/company",                  kind: Kind::Single },
    row! { name: "contacts",                 path: "/contacts",                 kind: LIST },
    row! { name: "estimate_item_categories", path: "/estimate_item_categories", kind: LIST },
    row! { name: "estimates",                path: "/estimates",                kind: numbered("issue_date") },
    row! { name: "expense_categories",       path: "/expense_categories",       kind: LIST },
    row! { name: "expenses",                 path: "/expenses",                 kind: numbered("spent_date") },
    row! { name: "invoice_item_categories",  path: "/invoice_item_categories",  kind: LIST },
    row! { name: "invoices",                 path: "/invoices",                 kind: numbered("issue_date") },
    row! { name: "projects",                 path: "/projects",                 kind: LIST },
    row! { name: "roles",                    path: "/roles",                    kind: Kind::List { filter: UpdatedAtHere, pages: Pages::Cursor } },
    row! { name: "task_assignments",         path: "/task_assignments",         kind: LIST },
    row! { name: "tasks",                    path: "/tasks",                    kind: LIST },
    row! { name: "time_entries",             path: "/time_entries",             kind: numbered("spent_date") },
    row! { name: "user_assignments",         path: "/user_assignments",         kind: LIST },
    row! { name: "users",                    path: "/users",                    kind: LIST },
    row! { name: "expenses_categories",      path: "/reports/expenses/categories", kind: yearly(&["expense_category_id", "currency", "from", "to"]), records: "results" },
    row! { name: "expenses_clients",         path: "/reports/expenses/clients",    kind: yearly(&["client_id", "currency", "from", "to"]), records: "results" },
    row! { name: "expenses_projects",        path: "/reports/expenses/projects",   kind: yearly(&["project_id", "currency", "from", "to"]), records: "results" },
    row! { name: "expenses_team",            path: "/reports/expenses/team",       kind: yearly(&["user_id", "currency", "from", "to"]), records: "results" },
    row! { name: "project_budget",           path: "/reports/project_budget",      kind: Kind::Report { window_days: None, primary_key: &["project_id"] }, records: "results" },
    row! { name: "time_clients",             path: "/reports/time/clients",        kind: yearly(&["client_id", "currency", "from", "to"]), records: "results" },
    row! { name: "time_projects",            path: "/reports/time/projects",       kind: yearly(&["project_id", "currency", "from", "to"]), records: "results" },
    row! { name: "time_tasks",               path: "/reports/time/tasks",          kind: yearly(&["task_id", "currency", "from", "to"]), records: "results" },
    row! { name: "time_team",                path: "/reports/time/team",           kind: yearly(&["user_id", "currency", "from", "to"]), records: "results" },
    row! { name: "uninvoiced",               path: "/reports/uninvoiced",          kind: yearly(&["project_id", "currency", "from", "to"]), records: "results" },
    row! { name: "estimate_messages",        path: "/estimates/{id}/messages",           kind: Kind::Child { parent: "estimates", filter: UpdatedSince, touched_by: &[], records: ChildRecords::Own } },
    row! { name: "invoice_messages",         path: "/invoices/{id}/messages",            kind: Kind::Child { parent: "invoices", filter: UpdatedSince, touched_by: &[], records: ChildRecords::Own } },
    row! { name: "invoice_payments",         path: "/invoices/{id}/payments",            kind: Kind::Child { parent: "invoices", filter: UpdatedSince, touched_by: &[], records: ChildRecords::Own } },
    row! { name: "project_assignments",      path: "/users/{id}/project_assignments",    kind: Kind::Child { parent: "users", filter: UpdatedSince, touched_by: ASSIGNMENTS, records: ChildRecords::Own } },
    row! { name: "billable_rates",           path: "/users/{id}/billable_rates",         kind: Kind::Child { parent: "users", filter: Filter::None, touched_by: &[], records: ChildRecords::Own } },
    row! { name: "cost_rates",               path: "/users/{id}/cost_rates",             kind: Kind::Child { parent: "users", filter: Filter::None, touched_by: &[], records: ChildRecords::Own } },
    row! { name: "user_teammates",           path: "/users/{id}/teammates",              kind: Kind::Child { parent: "users", filter: Filter::None, touched_by: &[], records: ChildRecords::Shared }, records: "teammates" },
    row! { name: "invoice_line_items",            derived: INVOICE_LINE_ITEMS },
    row! { name: "estimate_line_items",           derived: ESTIMATE_LINE_ITEMS },
    row! { name: "time_entry_external_reference", derived: TIME_ENTRY_EXTERNAL_REFERENCE },
    row! { name: "user_roles",                    derived: USER_ROLES },
    row! { name: "user_project_tasks",            derived: USER_PROJECT_TASKS },
];
#[cfg(test)]
mod tests {
    use super::*;

    /// The single-record reader reads the company, whose answer the sync's clock shares.
    #[test]
    fn the_company_is_the_one_single_record_stream() {
        let singles: Vec<&str> = (STREAMS.iter())
            .filter(|s| s.kind == Kind::Single)
            .map(|s| s.path)
            .collect();
        assert_eq!(singles, ["/company"]);
    }

    #[test]
    fn every_numbered_lists_date_is_one_a_records_keys_hold() {
        let keys = crate::keys::RecordKeys {
            spent_date: Some(r#""2024-01-02""#),
            issue_date: Some(r#""2024-01-02""#),
            ..crate::keys::RecordKeys::default()
        };
        for s in &STREAMS {
            if let Kind::List {
                pages: Pages::Numbered { date },
                ..
            } = s.kind
            {
                assert!(keys.date(date).is_some(), "{}: {date}", s.name);
            }
        }
    }

    #[test]
    fn names_are_unique_and_parents_exist() {
        for (i, s) in STREAMS.iter().enumerate() {
            assert!(STREAMS[..i].iter().all(|o| o.name != s.name), "{}", s.name);
            if let Some(parent) = s.parent() {
                let p = find(parent).expect("parent stream exists");
                assert!(matches!(p.kind, Kind::List { .. }) && p.primary_key() == ["id"]);
                assert!(s.path.contains("{id}"));
            }
            if let Some(derived) = s.derived() {
                let source = find(derived.source).expect("source stream exists");
                assert!(
                    source.derived().is_none() && s.path.is_empty(),
                    "{}",
                    s.name
                );
                assert_eq!(s.sync_modes(), source.sync_modes(), "{}", s.name);
                assert_eq!(
                    derived.source_parent_id.is_some(),
                    source.parent().is_some(),
                    "{}",
                    s.name
                );
            }
        }
    }

    /// Whether `stream`'s schema has an object `field` with an `id`.
    fn names_by_id(stream: &str, field: &str) -> bool {
        let def = find(stream).unwrap_or_else(|| panic!("{stream} is a row of the table"));
        let schema: serde_json::Value = serde_json::from_str(def.schema).expect(stream);
        schema["properties"][field]["properties"]["id"].is_object()
    }

    #[test]
    fn every_touch_names_list_streams_and_fields_that_exist() {
        let mut touches = 0;
        for s in &STREAMS {
            let Kind::Child {
                parent, touched_by, ..
            } = s.kind
            else {
                continue;
            };
            for touch in touched_by {
                touches += 1;
                let (stream, field, through) = match *touch {
                    Touch::Names { stream, field } => (stream, field, None),
                    Touch::Through {
                        stream,
                        field,
                        through,
                        parent_field,
                    } => (stream, field, Some((through, parent_field))),
                };
                assert!(
                    find(stream).unwrap().server_filters(),
                    "{}: {stream} is listed with updated_since",
                    s.name
                );
                assert!(
                    names_by_id(stream, field),
                    "{}: {stream}.{field}.id",
                    s.name
                );
                let (named_by, parent_field) = through.unwrap_or((stream, field));
                assert!(
                    names_by_id(named_by, parent_field),
                    "{}: {named_by}.{parent_field}.id",
                    s.name
                );
                if through.is_some() {
                    assert!(
                        names_by_id(named_by, field),
                        "{}: {named_by}.{field}.id",
                        s.name
                    );
                }
                let parent = find(parent).unwrap();
                assert!(
                    parent
                        .path
                        .trim_start_matches('/')
                        .starts_with(parent_field),
                    "{}: {parent_field} names a {}",
                    s.name,
                    parent.name
                );
            }
        }
        assert!(touches > 0, "the table has touches to check");
    }

    #[test]
    fn every_schema_declares_its_keys_and_cursor() {
        for s in &STREAMS {
            let schema: serde_json::Value = serde_json::from_str(s.schema).expect(s.name);
            let props = &schema["properties"];
            for field in s.primary_key().iter().copied().chain(s.cursor_field()) {
                assert!(props.get(field).is_some(), "{} lacks {field}", s.name);
            }
            for field in s.added_columns() {
                assert!(props.get(field).is_some(), "{} lacks {field}", s.name);
            }
            if s.parent().is_some() {
                assert!(
                    props.get("parent_id").is_some(),
                    "{} lacks parent_id",
                    s.name
                );
            }
            // Destinations delete on a tombstone only where the schema declares the column.
            let capturable = !s.primary_key().is_empty() && s.cursor() != Cursor::None;
            assert_eq!(
                props.get("_ab_cdc_deleted_at").is_some(),
                capturable,
                "{}: _ab_cdc_deleted_at",
                s.name
            );
        }
    }
}
