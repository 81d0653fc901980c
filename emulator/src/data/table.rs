//! One table of rows: stable indices, a serving order, soft deletes and field overrides.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::model::*;

/// A sort key; rows are served in ascending key order.
pub type Key = (i64, i64, i64);

/// What every stored row offers the table.
pub trait Row {
    /// The Harvest id.
    fn id(&self) -> i64;
    /// Sets the id (new rows only).
    fn set_id(&mut self, id: i64);
    /// Creation time, epoch seconds.
    fn created_at(&self) -> i64;
    /// Last update time, epoch seconds.
    fn updated_at(&self) -> i64;
    /// Sets both timestamps.
    fn set_stamps(&mut self, created_at: i64, updated_at: i64);
    /// The serving order: newest created first unless the endpoint sorts otherwise.
    fn sort_key(&self) -> Key {
        (-self.created_at(), -self.id(), 0)
    }
}

/// The rows of one kind, in id order (ids only grow, so lookups by id are binary searches).
///
/// Rows are never removed: a delete hides the row from `order`, so every [`Ix`] held
/// elsewhere stays valid. `overrides` holds fields set through the control API that the
/// compact row cannot store; they are spliced into the rendered JSON.
pub struct Table<T> {
    pub rows: Vec<T>,
    pub deleted: Vec<bool>,
    /// Live rows in serving order; shared with cached selections.
    pub order: Arc<Vec<Ix>>,
    pub overrides: HashMap<Ix, Map<String, Value>>,
}

impl<T: Row> Table<T> {
    /// A table of rows whose ids ascend.
    pub fn new(rows: Vec<T>) -> Table<T> {
        debug_assert!(rows.windows(2).all(|w| w[0].id() < w[1].id()));
        let mut order: Vec<Ix> = (0..rows.len() as Ix).collect();
        order.sort_by_key(|&i| rows[i as usize].sort_key());
        Table {
            deleted: vec![false; rows.len()],
            rows,
            order: Arc::new(order),
            overrides: HashMap::new(),
        }
    }

    /// The row at an index.
    pub fn get(&self, ix: Ix) -> &T {
        &self.rows[ix as usize]
    }

    /// The row at an index, for mutation.
    pub fn get_mut(&mut self, ix: Ix) -> &mut T {
        &mut self.rows[ix as usize]
    }

    /// The index of an id, deleted or not.
    pub fn find_any(&self, id: i64) -> Option<Ix> {
        self.rows
            .binary_search_by_key(&id, |r| r.id())
            .ok()
            .map(|i| i as Ix)
    }

    /// The index of a live (not deleted) id.
    pub fn find(&self, id: i64) -> Option<Ix> {
        self.find_any(id).filter(|&ix| !self.deleted[ix as usize])
    }

    /// Whether a row is live.
    pub fn is_live(&self, ix: Ix) -> bool {
        !self.deleted[ix as usize]
    }

    /// The indices of live rows, in id order.
    pub fn live(&self) -> impl Iterator<Item = Ix> + '_ {
        (0..self.rows.len() as Ix).filter(|&ix| self.is_live(ix))
    }

    /// Number of live rows.
    pub fn live_len(&self) -> usize {
        self.order.len()
    }

    /// The next free id.
    pub fn next_id(&self) -> i64 {
        self.rows.last().map(|r| r.id() + 1).unwrap_or(1)
    }

    /// The serving key of a row.
    pub fn key(&self, ix: Ix) -> Key {
        self.get(ix).sort_key()
    }

    /// Appends a row (its id must be the largest) and places it in the serving order.
    pub fn push(&mut self, row: T) -> Ix {
        let ix = self.rows.len() as Ix;
        self.rows.push(row);
        self.deleted.push(false);
        self.insert_ordered(ix);
        ix
    }

    /// Re-places a row whose sort key may have changed.
    pub fn reposition(&mut self, ix: Ix) {
        if self.deleted[ix as usize] {
            return;
        }
        let order = Arc::make_mut(&mut self.order);
        if let Some(pos) = order.iter().position(|&i| i == ix) {
            order.remove(pos);
        }
        self.insert_ordered(ix);
    }

    /// Hides a row from every listing and lookup.
    pub fn hide(&mut self, ix: Ix) {
        self.deleted[ix as usize] = true;
        Arc::make_mut(&mut self.order).retain(|&i| i != ix);
    }

    /// Hides many rows at once: one pass over the serving order, however many rows go (a
    /// project's deletion takes thousands of time entries with it).
    pub fn hide_all(&mut self, ixs: &std::collections::BTreeSet<Ix>) {
        for &ix in ixs {
            self.deleted[ix as usize] = true;
            self.overrides.remove(&ix);
        }
        Arc::make_mut(&mut self.order).retain(|i| !ixs.contains(i));
    }

    fn insert_ordered(&mut self, ix: Ix) {
        let key = self.rows[ix as usize].sort_key();
        let rows = &self.rows;
        let order = Arc::make_mut(&mut self.order);
        let pos = order.partition_point(|&i| rows[i as usize].sort_key() < key);
        order.insert(pos, ix);
    }

    /// Iterates live rows in serving order.
    pub fn iter_live(&self) -> impl Iterator<Item = (Ix, &T)> + '_ {
        self.order.iter().map(move |&i| (i, &self.rows[i as usize]))
    }
}

/// Implements [`Row`] for structs with `id`, `created_at` and `updated_at` fields.
macro_rules! row {
    ($t:ty $(, $key:expr)?) => {
        impl Row for $t {
            fn id(&self) -> i64 {
                self.id
            }
            fn set_id(&mut self, id: i64) {
                self.id = id;
            }
            fn created_at(&self) -> i64 {
                self.created_at
            }
            fn updated_at(&self) -> i64 {
                self.updated_at
            }
            fn set_stamps(&mut self, created_at: i64, updated_at: i64) {
                self.created_at = created_at;
                self.updated_at = updated_at;
            }
            $(fn sort_key(&self) -> Key {
                #[allow(clippy::redundant_closure_call)]
                ($key)(self)
            })?
        }
    };
}

/// Newest spent date first; ties newest created first.
fn by_spent_date(spent_date: i32, created_at: i64, id: i64) -> Key {
    (-i64::from(spent_date), -created_at, -id)
}

/// Newest issue date first, undated last; ties newest created first.
fn by_issue_date(issue_date: Option<i32>, created_at: i64, id: i64) -> Key {
    (
        issue_date.map(|d| -i64::from(d)).unwrap_or(i64::MAX),
        -created_at,
        -id,
    )
}

row!(User);
row!(Client);
row!(Contact);
row!(Task);
row!(Project);
row!(UserAssignment);
row!(TaskAssignment);
row!(Role);
row!(Rate, |r: &Rate| (i64::from(r.start_date), r.id, 0));
row!(ExpenseCategory);
row!(ItemCategory);
row!(Message);
row!(Payment);
row!(Invoice, |r: &Invoice| by_issue_date(
    r.issue_date,
    r.created_at,
    r.id
));
row!(Estimate, |r: &Estimate| by_issue_date(
    r.issue_date,
    r.created_at,
    r.id
));
row!(Expense, |r: &Expense| by_spent_date(
    r.spent_date,
    r.created_at,
    r.id
));
row!(TimeEntry, |r: &TimeEntry| by_spent_date(
    r.spent_date,
    r.created_at,
    r.id
));
