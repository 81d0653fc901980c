//! The per-record field setters: which fields of each row kind the control API writes into the
//! stored row (they decide filters, ordering, nested names or report figures, so every endpoint
//! must see them), and how a copy of the newest row becomes a new record.

use serde_json::Value;

use super::super::model::*;
use super::super::parents::{ESTIMATE_EVENTS, INVOICE_EVENTS};
use super::super::{Dataset, Row};
use crate::time::{self, DAY};

/// Typed field updates of a row kind. `'static` so a table of such rows can be handed out as a
/// `dyn` table (see `streams::Records`).
pub(super) trait Mutable: Row + Clone + 'static {
    /// Writes a field into the row; `Ok(false)` if the row does not store it (an override).
    fn apply(&mut self, _key: &str, _v: &Value) -> Result<bool, String> {
        Ok(false)
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

fn hundredths(v: &Value) -> Result<i64, String> {
    v.as_f64()
        .map(|x| (x * 100.0).round() as i64)
        .ok_or_else(|| format!("expected a number, got {v}"))
}

/// `parse(v)`, or `None` for a JSON null: the field is optional in Harvest's shape.
fn nullable<T>(v: &Value, parse: fn(&Value) -> Result<T, String>) -> Result<Option<T>, String> {
    if v.is_null() {
        Ok(None)
    } else {
        parse(v).map(Some)
    }
}

/// The day of epoch second `now`, as rows store dates.
fn today(now: i64) -> i32 {
    now.div_euclid(DAY) as i32
}

/// An `event_type` of either kind (null for a plain message); which kind the stream takes is
/// checked before any row changes (see `check_event_type`).
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

/// Keeps the line items whose ids `v` (an array of ids) lists.
fn keep_line_items(items: &mut Vec<LineItem>, v: &Value) -> Result<(), String> {
    let kept: Vec<i64> = v
        .as_array()
        .and_then(|ids| ids.iter().map(Value::as_i64).collect())
        .ok_or_else(|| format!("line_items: expected an array of line item ids, got {v}"))?;
    items.retain(|item| kept.contains(&item.id));
    Ok(())
}

impl Mutable for User {
    fn apply(&mut self, key: &str, v: &Value) -> Result<bool, String> {
        match key {
            "first_name" => self.first_name = string(v)?,
            "last_name" => self.last_name = string(v)?,
            "is_active" => self.is_active = boolean(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Mutable for Client {
    fn apply(&mut self, key: &str, v: &Value) -> Result<bool, String> {
        match key {
            "name" => self.name = string(v)?,
            "is_active" => self.is_active = boolean(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Mutable for Contact {}

impl Mutable for Task {
    fn apply(&mut self, key: &str, v: &Value) -> Result<bool, String> {
        match key {
            "name" => self.name = string(v)?,
            "is_active" => self.is_active = boolean(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Mutable for Project {
    fn apply(&mut self, key: &str, v: &Value) -> Result<bool, String> {
        match key {
            "name" => self.name = string(v)?,
            "code" => self.code = nullable(v, string)?,
            "is_active" => self.is_active = boolean(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Mutable for UserAssignment {
    fn apply(&mut self, key: &str, v: &Value) -> Result<bool, String> {
        match key {
            "is_active" => self.is_active = boolean(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Assigns a created user assignment to the first live user and project (in id order) not
    /// yet assigned to each other: Harvest refuses a second assignment of a user to a project,
    /// and the template's pair is taken.
    fn place(&mut self, ds: &Dataset) -> Result<(), String> {
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
        self.user = user;
        self.project = project;
        Ok(())
    }
}

/// Stored, not overrides: project assignments embed task assignments from these fields.
impl Mutable for TaskAssignment {
    fn apply(&mut self, key: &str, v: &Value) -> Result<bool, String> {
        match key {
            "is_active" => self.is_active = boolean(v)?,
            "billable" => self.billable = boolean(v)?,
            "hourly_rate" => self.hourly_rate = nullable(v, hundredths)?,
            "budget" => self.budget = nullable(v, hundredths)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Mutable for Role {
    fn apply(&mut self, key: &str, v: &Value) -> Result<bool, String> {
        match key {
            "name" => self.name = string(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Mutable for Rate {
    fn apply(&mut self, key: &str, v: &Value) -> Result<bool, String> {
        match key {
            "amount" => self.amount = hundredths(v)?,
            "start_date" => self.start_date = date(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn fresh(&mut self, now: i64) {
        self.start_date = today(now);
    }
}

impl Mutable for ExpenseCategory {
    fn apply(&mut self, key: &str, v: &Value) -> Result<bool, String> {
        match key {
            "name" => self.name = string(v)?,
            "is_active" => self.is_active = boolean(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Mutable for ItemCategory {
    fn apply(&mut self, key: &str, v: &Value) -> Result<bool, String> {
        match key {
            "name" => self.name = string(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The stored fields an invoice and an estimate share, which the control API sets alike.
struct Document<'a> {
    number: &'a mut String,
    line_items: &'a mut Vec<LineItem>,
    state: &'a mut String,
    issue_date: &'a mut Option<i32>,
}

impl Document<'_> {
    fn apply(self, key: &str, v: &Value) -> Result<bool, String> {
        match key {
            "number" => *self.number = string(v)?,
            // The ids of the line items kept (Harvest removes one with `_destroy`).
            "line_items" => keep_line_items(self.line_items, v)?,
            "state" => *self.state = string(v)?,
            "issue_date" => *self.issue_date = nullable(v, date)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// A new document is a draft issued today, with line item ids of its own.
    fn fresh(self, id: i64, now: i64) {
        *self.issue_date = Some(today(now));
        *self.state = "draft".into();
        renumber_line_items(self.line_items, id);
    }
}

/// Gives a created document's line items (copied from its template) ids of their own, as
/// Harvest's are unique across documents: the document's id × 100 + the line's position, above
/// every generated line item id of the same stream.
fn renumber_line_items(items: &mut [LineItem], document_id: i64) {
    for (position, item) in (0i64..).zip(items.iter_mut()) {
        item.id = document_id * 100 + position;
    }
}

/// Invoices and estimates are set alike, through their [`Document`] fields.
macro_rules! document {
    ($($kind:ty),+) => {$(
        impl Mutable for $kind {
            fn apply(&mut self, key: &str, v: &Value) -> Result<bool, String> {
                self.document().apply(key, v)
            }

            fn fresh(&mut self, now: i64) {
                let id = self.id;
                self.document().fresh(id, now);
            }
        }

        impl $kind {
            fn document(&mut self) -> Document<'_> {
                Document {
                    number: &mut self.number,
                    line_items: &mut self.line_items,
                    state: &mut self.state,
                    issue_date: &mut self.issue_date,
                }
            }
        }
    )+};
}

document!(Invoice, Estimate);

impl Mutable for Message {
    fn apply(&mut self, key: &str, v: &Value) -> Result<bool, String> {
        match key {
            "event_type" => self.event_type = event_type(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// A new message is a plain one: an event would change its parent (see `bump_parent`).
    fn fresh(&mut self, _now: i64) {
        self.event_type = None;
    }
}

impl Mutable for Payment {
    fn apply(&mut self, key: &str, v: &Value) -> Result<bool, String> {
        match key {
            "amount" => self.amount = hundredths(v)?,
            "paid_at" => self.paid_at = nullable(v, datetime)?,
            "paid_date" => self.paid_date = nullable(v, date)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn fresh(&mut self, now: i64) {
        self.paid_at = Some(now);
        self.paid_date = Some(today(now));
    }
}

impl Mutable for Expense {
    fn apply(&mut self, key: &str, v: &Value) -> Result<bool, String> {
        match key {
            "spent_date" => self.spent_date = date(v)?,
            "total_cost" => self.total_cost = hundredths(v)?,
            "billable" => self.billable = boolean(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn fresh(&mut self, now: i64) {
        self.spent_date = today(now);
    }
}

impl Mutable for TimeEntry {
    fn apply(&mut self, key: &str, v: &Value) -> Result<bool, String> {
        match key {
            "spent_date" => self.spent_date = date(v)?,
            "hours" => {
                self.hours =
                    u32::try_from(hundredths(v)?).map_err(|_| format!("hours out of range: {v}"))?
            }
            "billable" => self.set(flags::BILLABLE, boolean(v)?),
            "is_running" => self.set(flags::RUNNING, boolean(v)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// A new time entry is today's and stopped.
    fn fresh(&mut self, now: i64) {
        self.spent_date = today(now);
        self.set(flags::RUNNING, false);
    }
}
