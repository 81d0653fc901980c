//! Create, update and delete records while the emulator serves, as the control API needs.
//!
//! Fields that decide filters, ordering, nested names or report figures (names, `is_active`,
//! dates, hours, amounts, states, timestamps) are written into the stored row, so every endpoint
//! sees them. Any other field of the record's shape is kept as an override and spliced into the
//! rendered JSON verbatim. A field the record does not have is refused.

use serde_json::{Map, Value};

use super::deletion::{self, Deletion};
use super::model::*;
use super::parents::{bump_parent, ESTIMATE_EVENTS, INVOICE_EVENTS};
use super::{Dataset, Row, Table};
use crate::render::json::Json;
use crate::render::{patch, records};
use crate::time::{self, DAY};

/// Typed field updates and parent links of a row kind.
trait Mutable: Row + Clone {
    /// Writes a field into the row; `Ok(false)` if the row does not store it (an override).
    fn apply(&mut self, _key: &str, _v: &Value) -> Result<bool, String> {
        Ok(false)
    }
    /// Sets the parent row of a child record.
    fn set_parent(&mut self, _ix: Ix) {}
    /// Whether the row belongs to the given parent.
    fn has_parent(&self, _ix: Ix) -> bool {
        false
    }
    /// Prepares a copy of the newest row to be a new record created `now` (epoch seconds).
    fn fresh(&mut self, _now: i64) {}
    /// Points a new record at related records the account allows it to have, where copying the
    /// template's would make a record Harvest refuses.
    fn place(&mut self, _ds: &Dataset) -> Result<(), String> {
        Ok(())
    }
}

fn string(v: &Value) -> Result<String, String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("expected a string, got {v}"))
}

fn boolean(v: &Value) -> Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| format!("expected true or false, got {v}"))
}

fn date(v: &Value) -> Result<i32, String> {
    v.as_str()
        .and_then(time::parse_date)
        .ok_or_else(|| format!("expected a YYYY-MM-DD date, got {v}"))
}

fn datetime(v: &Value) -> Result<i64, String> {
    v.as_str()
        .and_then(time::parse_datetime)
        .ok_or_else(|| format!("expected a YYYY-MM-DDTHH:MM:SSZ datetime, got {v}"))
}

/// An `event_type` of either kind (null for a plain message); which kind the stream takes is
/// checked before any row changes (see [`check_event_type`]).
fn event_type(v: &Value) -> Result<Option<&'static str>, String> {
    if v.is_null() {
        return Ok(None);
    }
    let s = v.as_str().unwrap_or_default();
    INVOICE_EVENTS
        .iter()
        .chain(ESTIMATE_EVENTS)
        .find(|e| **e == s)
        .map(|e| Some(*e))
        .ok_or_else(|| format!("unknown event_type {v}"))
}

/// Replaces a role's members with the users `user_ids` names (as Harvest's update does), taking
/// the field out of `fields`: a role holds its users by index, which only the dataset knows.
fn set_role_members(ds: &mut Dataset, id: i64, fields: &mut Value) -> Result<(), String> {
    let Some(ids) = fields.as_object_mut().and_then(|f| f.remove("user_ids")) else {
        return Ok(());
    };
    let Some(role) = ds.roles.find(id) else {
        return Ok(());
    };
    let users = ids
        .as_array()
        .ok_or_else(|| format!("user_ids: expected an array of user ids, got {ids}"))?
        .iter()
        .map(|v| {
            v.as_i64()
                .and_then(|user| ds.users.find(user))
                .ok_or_else(|| format!("user_ids: {v} is not a live user"))
        })
        .collect::<Result<Vec<Ix>, String>>()?;
    ds.roles.get_mut(role).users = users;
    Ok(())
}

/// Keeps the line items whose ids `v` (an array of ids) lists.
fn keep_line_items(items: &mut Vec<LineItem>, v: &Value) -> Result<(), String> {
    let kept: Vec<i64> = v
        .as_array()
        .and_then(|ids| ids.iter().map(Value::as_i64).collect())
        .ok_or_else(|| format!("line_items: expected an array of line item ids, got {v}"))?;
    items.retain(|item| kept.contains(&item.id));
    Ok(())
}

fn hundredths(v: &Value) -> Result<i64, String> {
    v.as_f64()
        .map(|x| (x * 100.0).round() as i64)
        .ok_or_else(|| format!("expected a number, got {v}"))
}

macro_rules! typed {
    ($t:ty { $($key:literal => |$row:ident, $v:ident| $body:expr),* $(,)? } $(, parent: $p:ident)? $(, fresh: |$fr:ident, $today:ident, $now:ident| $fresh:expr)? $(, place: |$pr:ident, $ds:ident| $place:expr)?) => {
        impl Mutable for $t {
            #[allow(unused_variables)]
            fn apply(&mut self, key: &str, v: &Value) -> Result<bool, String> {
                match key {
                    $($key => {
                        let $row = &mut *self;
                        let $v = v;
                        $body;
                        Ok(true)
                    })*
                    _ => Ok(false),
                }
            }
            $(
            fn set_parent(&mut self, ix: Ix) {
                self.$p = ix;
            }
            fn has_parent(&self, ix: Ix) -> bool {
                self.$p == ix
            }
            )?
            $(
            fn fresh(&mut self, now: i64) {
                let $fr = &mut *self;
                let $today = (now.div_euclid(DAY)) as i32;
                let $now = now;
                $fresh;
            }
            )?
            $(
            fn place(&mut self, ds: &Dataset) -> Result<(), String> {
                let $pr = &mut *self;
                let $ds = ds;
                $place
            }
            )?
        }
    };
}

typed!(User {
    "first_name" => |r, v| r.first_name = string(v)?,
    "last_name" => |r, v| r.last_name = string(v)?,
    "is_active" => |r, v| r.is_active = boolean(v)?,
});
typed!(Client {
    "name" => |r, v| r.name = string(v)?,
    "is_active" => |r, v| r.is_active = boolean(v)?,
});
typed!(Contact {});
typed!(Task {
    "name" => |r, v| r.name = string(v)?,
    "is_active" => |r, v| r.is_active = boolean(v)?,
});
typed!(Project {
    "name" => |r, v| r.name = string(v)?,
    "code" => |r, v| r.code = if v.is_null() { None } else { Some(string(v)?) },
    "is_active" => |r, v| r.is_active = boolean(v)?,
});
typed!(UserAssignment { "is_active" => |r, v| r.is_active = boolean(v)? },
    place: |r, ds| place_user_assignment(r, ds));
// Stored, not overrides: project assignments embed task assignments from these fields.
typed!(TaskAssignment {
    "is_active" => |r, v| r.is_active = boolean(v)?,
    "billable" => |r, v| r.billable = boolean(v)?,
    "hourly_rate" => |r, v| r.hourly_rate = if v.is_null() { None } else { Some(hundredths(v)?) },
    "budget" => |r, v| r.budget = if v.is_null() { None } else { Some(hundredths(v)?) },
});
typed!(Role { "name" => |r, v| r.name = string(v)? });
typed!(Rate {
    "amount" => |r, v| r.amount = hundredths(v)?,
    "start_date" => |r, v| r.start_date = date(v)?,
}, parent: user, fresh: |r, today, _now| r.start_date = today);
typed!(ExpenseCategory {
    "name" => |r, v| r.name = string(v)?,
    "is_active" => |r, v| r.is_active = boolean(v)?,
});
typed!(ItemCategory { "name" => |r, v| r.name = string(v)? });
typed!(Invoice {
    "number" => |r, v| r.number = string(v)?,
    // The ids of the line items kept (Harvest removes one with `_destroy`).
    "line_items" => |r, v| keep_line_items(&mut r.line_items, v)?,
    "state" => |r, v| r.state = string(v)?,
    "issue_date" => |r, v| r.issue_date = if v.is_null() { None } else { Some(date(v)?) },
}, fresh: |r, today, _now| {
    r.issue_date = Some(today);
    r.state = "draft".into();
    renumber_line_items(&mut r.line_items, r.id);
});
typed!(Estimate {
    "number" => |r, v| r.number = string(v)?,
    // The ids of the line items kept (Harvest removes one with `_destroy`).
    "line_items" => |r, v| keep_line_items(&mut r.line_items, v)?,
    "state" => |r, v| r.state = string(v)?,
    "issue_date" => |r, v| r.issue_date = if v.is_null() { None } else { Some(date(v)?) },
}, fresh: |r, today, _now| {
    r.issue_date = Some(today);
    r.state = "draft".into();
    renumber_line_items(&mut r.line_items, r.id);
});
typed!(Message {
    "event_type" => |r, v| r.event_type = event_type(v)?,
}, parent: parent, fresh: |r, _today, _now| r.event_type = None);
typed!(Payment {
    "amount" => |r, v| r.amount = hundredths(v)?,
    "paid_at" => |r, v| r.paid_at = if v.is_null() { None } else { Some(datetime(v)?) },
    "paid_date" => |r, v| r.paid_date = if v.is_null() { None } else { Some(date(v)?) },
}, parent: invoice, fresh: |r, today, now| {
    r.paid_at = Some(now);
    r.paid_date = Some(today);
});
typed!(Expense {
    "spent_date" => |r, v| r.spent_date = date(v)?,
    "total_cost" => |r, v| r.total_cost = hundredths(v)?,
    "billable" => |r, v| r.billable = boolean(v)?,
}, fresh: |r, today, _now| r.spent_date = today);
typed!(TimeEntry {
    "spent_date" => |r, v| r.spent_date = date(v)?,
    "hours" => |r, v| r.hours = u32::try_from(hundredths(v)?).map_err(|_| format!("hours out of range: {v}"))?,
    "billable" => |r, v| r.set(flags::BILLABLE, boolean(v)?),
    "is_running" => |r, v| r.set(flags::RUNNING, boolean(v)?),
}, fresh: |r, today, _now| { r.spent_date = today; r.set(flags::RUNNING, false); });

/// Assigns a created user assignment to the first live user and project (in id order) not yet
/// assigned to each other: Harvest refuses a second assignment of a user to a project, and the
/// template's pair is taken.
fn place_user_assignment(row: &mut UserAssignment, ds: &Dataset) -> Result<(), String> {
    let assignments = &ds.user_assignments;
    let taken: std::collections::HashSet<(Ix, Ix)> = assignments
        .live()
        .map(|ix| (assignments.get(ix).user, assignments.get(ix).project))
        .collect();
    let (user, project) = ds
        .users
        .live()
        .find_map(|user| {
            ds.projects
                .live()
                .find(|&project| !taken.contains(&(user, project)))
                .map(|project| (user, project))
        })
        .ok_or("every user is already assigned to every project")?;
    row.user = user;
    row.project = project;
    Ok(())
}

/// Gives a created document's line items (copied from its template) ids of their own, as
/// Harvest's are unique across documents: the document's id × 100 + the line's position, above
/// every generated line item id of the same stream.
fn renumber_line_items(items: &mut [LineItem], document_id: i64) {
    for (position, item) in (0i64..).zip(items.iter_mut()) {
        item.id = document_id * 100 + position;
    }
}

/// How to reach one stream's table, its parent table and its renderer.
struct Access<T> {
    table: fn(&mut Dataset) -> &mut Table<T>,
    parent: Option<fn(&Dataset, i64) -> Option<Ix>>,
    render: fn(&mut Json, &Dataset, Ix),
}

fn rendered<T: Row>(ds: &mut Dataset, a: &Access<T>, ix: Ix) -> Value {
    let mut w = Json::with_capacity(2048);
    (a.render)(&mut w, ds, ix);
    let overrides = (a.table)(ds).overrides.get(&ix).cloned();
    let bytes = match overrides {
        Some(ov) => patch::apply_overrides(&w.buf, &ov),
        None => w.buf,
    };
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// Applies `fields` to row `ix`: typed fields into the row, others into overrides. Bumps
/// `updated_at` to now unless the fields set it.
fn apply_fields<T: Mutable>(
    ds: &mut Dataset,
    a: &Access<T>,
    ix: Ix,
    fields: &Map<String, Value>,
) -> Result<(), String> {
    let mut probe = Json::with_capacity(2048);
    (a.render)(&mut probe, ds, ix);
    let allowed = patch::keys(&probe.buf);
    for key in fields.keys() {
        if key == "id" {
            return Err("id cannot be changed".into());
        }
        if key != "parent_id" && !allowed.iter().any(|k| k == key) {
            return Err(format!(
                "unknown field {key:?}; fields: {}",
                allowed.join(", ")
            ));
        }
    }
    let now = ds.clock.now_secs();
    let table = (a.table)(ds);
    let mut row = table.get(ix).clone();
    let mut extra = Map::new();
    for (key, v) in fields {
        match key.as_str() {
            "parent_id" => {}
            "created_at" | "updated_at" => {
                let secs = v
                    .as_str()
                    .and_then(time::parse_datetime)
                    .ok_or_else(|| format!("{key}: expected a datetime, got {v}"))?;
                if key == "created_at" {
                    row.set_stamps(secs, row.updated_at());
                } else {
                    row.set_stamps(row.created_at(), secs);
                }
            }
            _ => {
                if !row.apply(key, v)? {
                    extra.insert(key.clone(), v.clone());
                }
            }
        }
    }
    if !fields.contains_key("updated_at") {
        row.set_stamps(row.created_at(), now.max(row.updated_at()));
    }
    *table.get_mut(ix) = row;
    if !extra.is_empty() {
        table.overrides.entry(ix).or_default().extend(extra);
    }
    table.reposition(ix);
    ds.touch();
    Ok(())
}

fn fields_of(fields: &Value) -> Result<Map<String, Value>, String> {
    match fields {
        Value::Object(m) => Ok(m.clone()),
        Value::Null => Ok(Map::new()),
        _ => Err("fields must be a JSON object".into()),
    }
}

fn create_in<T: Mutable>(
    ds: &mut Dataset,
    a: &Access<T>,
    fields: &Value,
) -> Result<(Value, Ix), String> {
    let fields = fields_of(fields)?;
    let parent = match (a.parent, fields.get("parent_id")) {
        (Some(find), Some(v)) => {
            let id = v.as_i64().ok_or("parent_id must be an integer")?;
            Some(find(ds, id).ok_or_else(|| format!("no parent with id {id}"))?)
        }
        (None, Some(_)) => return Err("this stream has no parent".into()),
        _ => None,
    };
    let now = ds.clock.now_secs();
    let table = (a.table)(ds);
    let template = parent
        .and_then(|p| table.rows.iter().rev().find(|r| r.has_parent(p)))
        .or_else(|| table.rows.last())
        .ok_or("the stream has no row to model a new one on")?;
    let mut row = template.clone();
    if let Some(p) = parent {
        row.set_parent(p);
    }
    row.set_id(table.next_id());
    row.set_stamps(now, now);
    row.fresh(now);
    row.place(ds)?;
    let ix = (a.table)(ds).push(row);
    let table = (a.table)(ds);
    table.overrides.remove(&ix);
    ds.touch();
    if let Err(e) = apply_fields(ds, a, ix, &fields) {
        (a.table)(ds).hide(ix);
        return Err(e);
    }
    Ok((rendered(ds, a, ix), ix))
}

fn update_in<T: Mutable>(
    ds: &mut Dataset,
    a: &Access<T>,
    id: i64,
    fields: &Value,
) -> Result<Option<Ix>, String> {
    let fields = fields_of(fields)?;
    let Some(ix) = (a.table)(ds).find(id) else {
        return Ok(None);
    };
    apply_fields(ds, a, ix, &fields)?;
    Ok(Some(ix))
}

enum Op<'a> {
    Create(&'a Value),
    Update(i64, &'a Value),
}

/// What an operation did: the row it touched (none for an unknown id) and the record as served
/// afterwards.
struct Done {
    ix: Option<Ix>,
    record: Option<Value>,
}

fn run<T: Mutable>(ds: &mut Dataset, a: Access<T>, op: Op<'_>) -> Result<Done, String> {
    match op {
        Op::Create(f) => {
            let (record, ix) = create_in(ds, &a, f)?;
            Ok(Done {
                ix: Some(ix),
                record: Some(record),
            })
        }
        Op::Update(id, f) => {
            let ix = update_in(ds, &a, id, f)?;
            let record = ix.map(|ix| rendered(ds, &a, ix));
            Ok(Done { ix, record })
        }
    }
}

/// The connector stream names the control API can mutate.
pub const STREAMS: &[&str] = &[
    "billable_rates",
    "clients",
    "contacts",
    "cost_rates",
    "estimate_item_categories",
    "estimate_messages",
    "estimates",
    "expense_categories",
    "expenses",
    "invoice_item_categories",
    "invoice_messages",
    "invoice_payments",
    "invoices",
    "projects",
    "roles",
    "task_assignments",
    "tasks",
    "time_entries",
    "user_assignments",
    "users",
];

fn dispatch(ds: &mut Dataset, stream: &str, op: Op<'_>) -> Result<Done, String> {
    macro_rules! acc {
        ($field:ident, $render:expr) => {
            Access {
                table: |d: &mut Dataset| &mut d.$field,
                parent: None,
                render: $render,
            }
        };
        ($field:ident, $render:expr, $parent:ident) => {
            Access {
                table: |d: &mut Dataset| &mut d.$field,
                parent: Some(|d: &Dataset, id| d.$parent.find(id)),
                render: $render,
            }
        };
    }
    match stream {
        "clients" => run(ds, acc!(clients, |w, d, i| records::client(w, d, i)), op),
        "contacts" => run(ds, acc!(contacts, |w, d, i| records::contact(w, d, i)), op),
        "estimate_item_categories" => run(
            ds,
            acc!(estimate_item_categories, |w, d, i| {
                records::estimate_item_category(w, d, i)
            }),
            op,
        ),
        "estimates" => run(
            ds,
            acc!(estimates, |w, d, i| records::estimate(w, d, i)),
            op,
        ),
        "expense_categories" => run(
            ds,
            acc!(expense_categories, |w, d, i| records::expense_category(
                w, d, i
            )),
            op,
        ),
        "expenses" => run(ds, acc!(expenses, |w, d, i| records::expense(w, d, i)), op),
        "invoice_item_categories" => run(
            ds,
            acc!(invoice_item_categories, |w, d, i| {
                records::invoice_item_category(w, d, i)
            }),
            op,
        ),
        "invoices" => run(ds, acc!(invoices, |w, d, i| records::invoice(w, d, i)), op),
        "projects" => run(ds, acc!(projects, |w, d, i| records::project(w, d, i)), op),
        "roles" => run(ds, acc!(roles, |w, d, i| records::role(w, d, i)), op),
        "task_assignments" => run(
            ds,
            acc!(task_assignments, |w, d, i| records::task_assignment(
                w, d, i
            )),
            op,
        ),
        "tasks" => run(ds, acc!(tasks, |w, d, i| records::task(w, d, i)), op),
        "time_entries" => run(
            ds,
            acc!(time_entries, |w, d, i| records::time_entry(w, d, i)),
            op,
        ),
        "user_assignments" => run(
            ds,
            acc!(user_assignments, |w, d, i| records::user_assignment(
                w, d, i
            )),
            op,
        ),
        "users" => run(ds, acc!(users, |w, d, i| records::user(w, d, i)), op),
        "estimate_messages" => run(
            ds,
            acc!(
                estimate_messages,
                |w, d, i| records::estimate_message(w, d, i),
                estimates
            ),
            op,
        ),
        "invoice_messages" => run(
            ds,
            acc!(
                invoice_messages,
                |w, d, i| records::invoice_message(w, d, i),
                invoices
            ),
            op,
        ),
        "invoice_payments" => run(
            ds,
            acc!(
                invoice_payments,
                |w, d, i| records::invoice_payment(w, d, i),
                invoices
            ),
            op,
        ),
        "billable_rates" => run(
            ds,
            acc!(
                billable_rates,
                |w, d, i| records::rate(w, &d.billable_rates, i),
                users
            ),
            op,
        ),
        "cost_rates" => run(
            ds,
            acc!(
                cost_rates,
                |w, d, i| records::rate(w, &d.cost_rates, i),
                users
            ),
            op,
        ),
        _ => Err(unknown_stream(stream)),
    }
}

/// The error for a stream the control API cannot mutate, naming those it can.
pub(super) fn unknown_stream(stream: &str) -> String {
    format!(
        "unknown stream {stream:?}; mutable streams: {}",
        STREAMS.join(", ")
    )
}

/// The streams whose records have a parent record (`parent_id`), so `bump_parent` applies.
const CHILD_STREAMS: &[&str] = &[
    "billable_rates",
    "cost_rates",
    "estimate_messages",
    "invoice_messages",
    "invoice_payments",
];

/// Takes the control option `"bump_parent"` out of `fields` (default `true`): whether a child
/// change also changes its parent as Harvest would, or leaves it untouched.
fn take_bump_parent(stream: &str, fields: &Value) -> Result<(Value, bool), String> {
    let mut fields = fields.clone();
    let Some(v) = fields.as_object_mut().and_then(|m| m.remove("bump_parent")) else {
        return Ok((fields, true));
    };
    let bump = v.as_bool().ok_or("bump_parent must be true or false")?;
    check_child(stream, bump)?;
    Ok((fields, bump))
}

/// Refuses `bump_parent: false` on a stream without parents: a test that means to leave a parent
/// untouched names a stream that has one.
fn check_child(stream: &str, bump: bool) -> Result<(), String> {
    if bump || CHILD_STREAMS.contains(&stream) || !STREAMS.contains(&stream) {
        return Ok(());
    }
    Err(format!(
        "{stream} has no parent; bump_parent applies to {}",
        CHILD_STREAMS.join(", ")
    ))
}

/// Refuses an `event_type` the stream's messages cannot have, before any row changes.
fn check_event_type(stream: &str, fields: &Value) -> Result<(), String> {
    let events = match stream {
        "invoice_messages" => INVOICE_EVENTS,
        "estimate_messages" => ESTIMATE_EVENTS,
        _ => return Ok(()),
    };
    match fields.get("event_type") {
        None | Some(Value::Null) => Ok(()),
        Some(v) if v.as_str().is_some_and(|s| events.contains(&s)) => Ok(()),
        Some(v) => Err(format!(
            "event_type {v} is not one of {stream}'s: {} (or null)",
            events.join(", ")
        )),
    }
}

/// Creates a record modelled on the stream's newest one, with `fields` applied. Child streams
/// take `"parent_id"` (the invoice, estimate or user id) and default to the newest row's parent;
/// their parent changes as Harvest's would unless `"bump_parent": false`.
pub fn create(ds: &mut Dataset, stream: &str, fields: &Value) -> Result<Value, String> {
    let (fields, bump) = take_bump_parent(stream, fields)?;
    check_event_type(stream, &fields)?;
    let done = dispatch(ds, stream, Op::Create(&fields))?;
    let ix = done.ix.ok_or("create made no record")?;
    if bump {
        bump_parent(ds, stream, ix, true);
    }
    done.record.ok_or_else(|| "create made no record".into())
}

/// Updates a record (bumping `updated_at`, and its parent's as [`create`] does unless
/// `"bump_parent": false`); `Ok(None)` if the id is unknown.
pub fn update(
    ds: &mut Dataset,
    stream: &str,
    id: i64,
    fields: &Value,
) -> Result<Option<Value>, String> {
    let (mut fields, bump) = take_bump_parent(stream, fields)?;
    check_event_type(stream, &fields)?;
    if stream == "roles" {
        set_role_members(ds, id, &mut fields)?;
    }
    let done = dispatch(ds, stream, Op::Update(id, &fields))?;
    if let (Some(ix), true) = (done.ix, bump) {
        bump_parent(ds, stream, ix, fields.get("event_type").is_some());
    }
    Ok(done.record)
}

/// Deletes a record as Harvest does (see [`super::deletion`]): refused with Harvest's message
/// while records still need it, else taking its dependents with it, and changing its parent as
/// Harvest would unless `bump_parent` is false. `Ok(None)` if the id is unknown.
pub fn delete(
    ds: &mut Dataset,
    stream: &str,
    id: i64,
    bump_parent_too: bool,
) -> Result<Option<Deletion>, String> {
    check_child(stream, bump_parent_too)?;
    let Some((ix, done)) = deletion::delete(ds, stream, id)? else {
        return Ok(None);
    };
    if bump_parent_too {
        bump_parent(ds, stream, ix, false);
    }
    Ok(Some(done))
}
