//! Deleting a record as Harvest does. Some records are not removable while others still refer to
//! them (Harvest's 422 message, nothing deleted); some take their dependents with them; records
//! that only mention a deleted one drop the mention. Afterwards nothing the emulator serves refers
//! to a deleted row, so lists, lookups, nested lists, reports and the expected counts agree.
//!
//! | deleted           | refused while                            | removed with it                              | changed to drop the reference                  |
//! |-------------------|------------------------------------------|----------------------------------------------|------------------------------------------------|
//! | client            | it has projects, invoices or estimates   | its contacts                                 |                                                |
//! | task              | it has time entries                      | its task assignments                         |                                                |
//! | project           |                                          | its time entries, expenses, user and task assignments | invoices' line items (`project` null)  |
//! | user              | it has time or expenses; it is `me`      | its user assignments, billable and cost rates | roles (`user_ids`), invoices' and estimates' `creator` (null) |
//! | user assignment   | it has time entries or expenses          |                                              |                                                |
//! | task assignment   | it has time entries                      |                                              |                                                |
//! | expense category  | it has expenses                          |                                              |                                                |
//! | invoice           |                                          | its messages and payments                    | its time entries and expenses (unbilled)       |
//! | estimate          |                                          | its messages                                 | invoices made from it (`estimate` null)        |
//!
//! Harvest documents the client, task, user, user assignment and task assignment rules; the
//! emulator answers each with Harvest's message where it is known and one in the same words
//! where it is not. A project keeps its invoices, as Harvest's do.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::model::*;
use super::mutate::Stream;
use super::{Dataset, Row, Table};

/// Row indices per stream.
type Rows = BTreeMap<Stream, BTreeSet<Ix>>;

/// Record ids per connector stream, ascending.
pub type Ids = BTreeMap<&'static str, Vec<i64>>;

/// What a deletion did besides removing the record itself, so a test knows what no longer is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Deletion {
    /// Records removed with it. `project_assignments` lists the removed user assignments that
    /// `/users/{id}/project_assignments` served; records embedded in a removed one (line items)
    /// and rows derived from one (`user_roles`, `user_project_tasks`) go with it unlisted.
    pub cascade: Ids,
    /// Records changed to drop their reference to a removed one, stamped `updated_at` now so an
    /// incremental sync picks the change up.
    pub updated: Ids,
}

const CLIENT_IN_USE: &str = "This client is not removable. It still has projects and/or invoices.";
const TASK_IN_USE: &str = "This task is not removable. It still has time tracked.";
const CATEGORY_IN_USE: &str =
    "This expense category is not removable. It still has expenses tracked.";
const USER_IN_USE: &str = "This user is not removable. It still has time or expenses tracked.";
const USER_IS_ME: &str =
    "This user is not removable. It is the user the access token belongs to; delete another one.";
const USER_ASSIGNMENT_IN_USE: &str =
    "This user assignment is not removable. It still has time or expenses tracked.";
const TASK_ASSIGNMENT_IN_USE: &str =
    "This task assignment is not removable. It still has time tracked.";

/// Deletes record `id` of `stream` as Harvest does (see the module docs): `Ok(None)` if there is
/// no such live record; `Err` with Harvest's message if the record is not removable, nothing
/// changed; else the record's row and what else the deletion removed or changed.
pub fn delete(ds: &mut Dataset, stream: Stream, id: i64) -> Result<Option<(Ix, Deletion)>, String> {
    let Some(ix) = stream.records(ds).find(id) else {
        return Ok(None);
    };
    if let Some(why) = refusal(ds, stream, ix) {
        return Err(why.to_string());
    }
    let removed = dependents(ds, stream, ix);
    let mut cascade = ids(ds, &removed);
    let assignments = served_assignments(ds, &removed, stream, ix);
    if !assignments.is_empty() {
        cascade.insert("project_assignments", assignments);
    }
    stream.records(ds).hide_all(&BTreeSet::from([ix]));
    for (removed_stream, rows) in &removed {
        removed_stream.records(ds).hide_all(rows);
    }
    let changed = unlink(ds, stream, ix);
    let updated = ids(ds, &changed);
    ds.touch();
    Ok(Some((ix, Deletion { cascade, updated })))
}

/// Harvest's message if the record is not removable: records still refer to it.
fn refusal(ds: &Dataset, stream: Stream, ix: Ix) -> Option<&'static str> {
    let (in_use, message) = match stream {
        Stream::Clients => (
            any(&ds.projects, |p| p.client == ix)
                || any(&ds.invoices, |i| i.client == ix)
                || any(&ds.estimates, |e| e.client == ix),
            CLIENT_IN_USE,
        ),
        Stream::Tasks => (any(&ds.time_entries, |t| t.task == ix), TASK_IN_USE),
        Stream::ExpenseCategories => (any(&ds.expenses, |e| e.category == ix), CATEGORY_IN_USE),
        Stream::Users if ix == ds.me => (true, USER_IS_ME),
        Stream::Users => (
            any(&ds.time_entries, |t| t.user == ix) || any(&ds.expenses, |e| e.user == ix),
            USER_IN_USE,
        ),
        Stream::UserAssignments => (
            any(&ds.time_entries, |t| t.user_assignment == ix)
                || any(&ds.expenses, |e| e.user_assignment == ix),
            USER_ASSIGNMENT_IN_USE,
        ),
        Stream::TaskAssignments => (
            any(&ds.time_entries, |t| t.task_assignment == ix),
            TASK_ASSIGNMENT_IN_USE,
        ),
        _ => (false, ""),
    };
    in_use.then_some(message)
}

/// The live records that go with row `ix` of `stream`.
fn dependents(ds: &Dataset, stream: Stream, ix: Ix) -> Rows {
    let mut rows = Rows::new();
    let mut add = |name: Stream, set: BTreeSet<Ix>| {
        if !set.is_empty() {
            rows.insert(name, set);
        }
    };
    match stream {
        Stream::Clients => add(Stream::Contacts, which(&ds.contacts, |c| c.client == ix)),
        Stream::Tasks => add(
            Stream::TaskAssignments,
            which(&ds.task_assignments, |ta| ta.task == ix),
        ),
        Stream::Projects => {
            add(
                Stream::TimeEntries,
                which(&ds.time_entries, |t| t.project == ix),
            );
            add(Stream::Expenses, which(&ds.expenses, |e| e.project == ix));
            add(
                Stream::UserAssignments,
                which(&ds.user_assignments, |ua| ua.project == ix),
            );
            add(
                Stream::TaskAssignments,
                which(&ds.task_assignments, |ta| ta.project == ix),
            );
        }
        Stream::Users => {
            add(
                Stream::UserAssignments,
                which(&ds.user_assignments, |ua| ua.user == ix),
            );
            add(
                Stream::BillableRates,
                which(&ds.billable_rates, |r| r.user == ix),
            );
            add(Stream::CostRates, which(&ds.cost_rates, |r| r.user == ix));
        }
        Stream::Invoices => {
            add(
                Stream::InvoiceMessages,
                which(&ds.invoice_messages, |m| m.parent == ix),
            );
            add(
                Stream::InvoicePayments,
                which(&ds.invoice_payments, |p| p.invoice == ix),
            );
        }
        Stream::Estimates => add(
            Stream::EstimateMessages,
            which(&ds.estimate_messages, |m| m.parent == ix),
        ),
        _ => {}
    }
    rows
}

/// The ids of the user assignments about to go (row `ix` itself if it is one) that
/// `/users/{id}/project_assignments` serves: the active ones of live users.
fn served_assignments(ds: &Dataset, removed: &Rows, stream: Stream, ix: Ix) -> Vec<i64> {
    let own = (stream == Stream::UserAssignments).then_some(ix);
    let mut going: BTreeSet<Ix> = removed
        .get(&Stream::UserAssignments)
        .cloned()
        .unwrap_or_default();
    going.extend(own);
    going
        .into_iter()
        .map(|ua| ds.user_assignments.get(ua))
        .filter(|ua| ua.is_active && ds.users.is_live(ua.user))
        .map(|ua| ua.id)
        .collect()
}

/// Makes the live records that mention row `ix` of `stream` (now deleted) drop the mention, and
/// returns them.
fn unlink(ds: &mut Dataset, stream: Stream, ix: Ix) -> Rows {
    let now = ds.clock.now_secs();
    let mut rows = Rows::new();
    let mut add = |name: Stream, set: BTreeSet<Ix>| {
        if !set.is_empty() {
            rows.entry(name).or_default().extend(set);
        }
    };
    match stream {
        Stream::Projects => add(
            Stream::Invoices,
            relink(
                &mut ds.invoices,
                |i| i.line_items.iter().any(|l| l.project == ix),
                |i| {
                    for l in i.line_items.iter_mut().filter(|l| l.project == ix) {
                        l.project = NONE;
                    }
                },
                &["line_items"],
                now,
            ),
        ),
        Stream::Users => {
            add(
                Stream::Roles,
                relink(
                    &mut ds.roles,
                    |r| r.users.contains(&ix),
                    |r| r.users.retain(|&u| u != ix),
                    &["user_ids"],
                    now,
                ),
            );
            add(
                Stream::Invoices,
                relink(
                    &mut ds.invoices,
                    |i| i.creator == ix,
                    |i| i.creator = NONE,
                    &["creator"],
                    now,
                ),
            );
            add(
                Stream::Estimates,
                relink(
                    &mut ds.estimates,
                    |e| e.creator == ix,
                    |e| e.creator = NONE,
                    &["creator"],
                    now,
                ),
            );
        }
        Stream::Invoices => {
            add(
                Stream::TimeEntries,
                relink(
                    &mut ds.time_entries,
                    |t| t.invoice == ix,
                    |t| {
                        t.invoice = NONE;
                        t.set(flags::BILLED, false);
                    },
                    &["invoice", "is_billed"],
                    now,
                ),
            );
            add(
                Stream::Expenses,
                relink(
                    &mut ds.expenses,
                    |e| e.invoice == ix,
                    |e| e.invoice = NONE,
                    &["invoice", "is_billed"],
                    now,
                ),
            );
        }
        Stream::Estimates => add(
            Stream::Invoices,
            relink(
                &mut ds.invoices,
                |i| i.estimate == ix,
                |i| i.estimate = NONE,
                &["estimate"],
                now,
            ),
        ),
        _ => {}
    }
    rows
}

/// Applies `change` to the live rows of `table` that `refer`, stamping each changed `now` and
/// forgetting overrides of the `decided` fields so the stored values are served. `updated_at`
/// is no sort key, so the rows keep their place in the serving order.
fn relink<T: Row>(
    table: &mut Table<T>,
    refer: impl Fn(&T) -> bool,
    change: impl Fn(&mut T),
    decided: &[&str],
    now: i64,
) -> BTreeSet<Ix> {
    let rows = which(table, refer);
    for &ix in &rows {
        if let Some(ov) = table.overrides.get_mut(&ix) {
            for key in decided.iter().chain(&["updated_at"]) {
                ov.remove(*key);
            }
        }
        let row = table.get_mut(ix);
        change(row);
        row.set_stamps(row.created_at(), now.max(row.updated_at()));
    }
    rows
}

/// Whether any live row of `table` satisfies `keep`.
fn any<T: Row>(table: &Table<T>, keep: impl Fn(&T) -> bool) -> bool {
    table.iter_live().any(|(_, row)| keep(row))
}

/// The live rows of `table` that satisfy `keep`.
fn which<T: Row>(table: &Table<T>, keep: impl Fn(&T) -> bool) -> BTreeSet<Ix> {
    table.live().filter(|&ix| keep(table.get(ix))).collect()
}

/// The ids of `rows`, ascending per stream.
fn ids(ds: &mut Dataset, rows: &Rows) -> Ids {
    rows.iter()
        .map(|(stream, set)| {
            let table = stream.records(ds);
            (
                stream.name(),
                set.iter().map(|&ix| table.id_of(ix)).collect(),
            )
        })
        .collect()
}
