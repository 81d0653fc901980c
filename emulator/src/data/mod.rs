//! The dataset: every table the API serves, generated from a seed and mutated by the control API.

pub mod deletion;
pub mod generate;
pub mod model;
pub mod mutate;
mod parents;
mod pools;
mod table;

pub use table::{Key, Row, Table};

use std::sync::Arc;

use model::*;

use crate::time::Clock;

/// Everything the emulated account holds.
pub struct Dataset {
    pub company: Company,
    /// The user the tokens belong to (`/users/me`).
    pub me: Ix,
    pub users: Table<User>,
    pub clients: Table<Client>,
    pub contacts: Table<Contact>,
    pub tasks: Table<Task>,
    pub projects: Table<Project>,
    pub user_assignments: Table<UserAssignment>,
    pub task_assignments: Table<TaskAssignment>,
    pub roles: Table<Role>,
    pub billable_rates: Table<Rate>,
    pub cost_rates: Table<Rate>,
    pub expense_categories: Table<ExpenseCategory>,
    pub invoice_item_categories: Table<ItemCategory>,
    pub estimate_item_categories: Table<ItemCategory>,
    pub invoices: Table<Invoice>,
    pub invoice_messages: Table<Message>,
    pub invoice_payments: Table<Payment>,
    pub estimates: Table<Estimate>,
    pub estimate_messages: Table<Message>,
    pub expenses: Table<Expense>,
    pub time_entries: Table<TimeEntry>,
    /// Texts of time entry notes; index 0 is unused (0 means "no notes").
    pub notes_pool: Vec<String>,
    /// Bumped by every mutation; cached selections of an older version are stale.
    pub version: u64,
    /// The emulator's now, which stamps every change (shared with the `Date` header).
    pub clock: Arc<Clock>,
}

impl Dataset {
    /// The billable rate of a time entry in cents per hour, as Harvest derives it from the
    /// project's `bill_by`: the project's rate, the task assignment's, or the person's.
    pub fn billable_rate(&self, te: &TimeEntry) -> Option<i64> {
        if !te.has(flags::BILLABLE) {
            return None;
        }
        let project = self.projects.get(te.project);
        let person = || {
            let ua = (te.user_assignment != NONE)
                .then(|| self.user_assignments.get(te.user_assignment))
                .and_then(|ua| ua.hourly_rate);
            ua.or(self.users.get(te.user).default_hourly_rate)
        };
        match project.bill_by {
            "Project" => project.hourly_rate.or_else(person),
            "Tasks" => (te.task_assignment != NONE)
                .then(|| self.task_assignments.get(te.task_assignment))
                .and_then(|ta| ta.hourly_rate)
                .or_else(person),
            "People" => person(),
            _ => None,
        }
    }

    /// The cost rate of a time entry: the user's cost rate.
    pub fn cost_rate(&self, te: &TimeEntry) -> Option<i64> {
        self.users.get(te.user).cost_rate
    }

    /// Billable amount of a time entry in ten-thousandths (hours/100 × cents/100): exact.
    pub fn billable_amount_e4(&self, te: &TimeEntry) -> i64 {
        self.billable_rate(te)
            .map(|rate| rate * i64::from(te.hours))
            .unwrap_or(0)
    }

    /// The currency of a project (its client's).
    pub fn project_currency(&self, project: Ix) -> &'static str {
        self.clients.get(self.projects.get(project).client).currency
    }

    /// Marks the dataset changed.
    pub fn touch(&mut self) {
        self.version += 1;
    }
}
