//! The rows the emulator stores, one struct per Harvest object.
//!
//! References between objects are row indices ([`Ix`]) into the referenced table, so renderers
//! reach a time entry's user or project in O(1); rows are never physically removed (a delete only
//! hides them), which keeps every index valid. Money is in cents and hours in hundredths, so the
//! reports' sums are exact. Time entries are the one table that reaches a million rows; their
//! struct is kept to 64 bytes, with text fields drawn from small pools by index.

use crate::render::json::Cents;

/// An index into another table's rows.
pub type Ix = u32;

/// "No row": the null value of an optional [`Ix`].
pub const NONE: Ix = Ix::MAX;

/// The account's settings; a singleton without id.
#[derive(Clone, Debug)]
pub struct Company {
    pub name: String,
    pub full_domain: String,
    pub week_start_day: &'static str,
    pub time_format: &'static str,
    pub date_format: &'static str,
    pub plan_type: &'static str,
    pub clock: &'static str,
    pub weekly_capacity: i64,
}

/// A person in the account (users, users/me, nested `user` objects).
#[derive(Clone, Debug)]
pub struct User {
    pub id: i64,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub telephone: Option<String>,
    pub timezone: &'static str,
    pub has_access_to_all_future_projects: bool,
    pub is_contractor: bool,
    pub is_active: bool,
    pub weekly_capacity: i64,
    pub default_hourly_rate: Option<Cents>,
    pub cost_rate: Option<Cents>,
    pub roles: Vec<String>,
    pub access_roles: Vec<&'static str>,
    /// Fine-grained permissions such as `"expenses:read:managed"` (Harvest sends them since 2022).
    pub permissions_claims: Vec<&'static str>,
    pub avatar_url: Option<String>,
    /// Rendered as a user of an account from before 2020: no `access_roles` and no
    /// `permissions_claims` keys, and time-team rows without `weekly_capacity` or `avatar_url`.
    pub legacy: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl User {
    /// `first_name last_name`, the `name` of nested user objects.
    pub fn name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// A customer of the account.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: i64,
    pub name: String,
    pub is_active: bool,
    pub address: Option<String>,
    /// `None`: the key is absent, as for clients of older accounts.
    pub statement_key: Option<String>,
    pub currency: &'static str,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A person at a client.
#[derive(Clone, Debug)]
pub struct Contact {
    pub id: i64,
    pub client: Ix,
    pub title: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone_office: Option<String>,
    pub phone_mobile: Option<String>,
    pub fax: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A kind of work time is tracked against.
#[derive(Clone, Debug)]
pub struct Task {
    pub id: i64,
    pub name: String,
    pub billable_by_default: bool,
    pub default_hourly_rate: Option<Cents>,
    pub is_default: bool,
    pub is_active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A project of a client; carries the billing and budget settings.
#[derive(Clone, Debug)]
pub struct Project {
    pub id: i64,
    pub client: Ix,
    pub name: String,
    pub code: Option<String>,
    pub is_active: bool,
    pub is_billable: bool,
    pub is_fixed_fee: bool,
    pub bill_by: &'static str,
    pub hourly_rate: Option<Cents>,
    pub budget: Option<Cents>,
    pub budget_by: &'static str,
    pub budget_is_monthly: bool,
    pub notify_when_over_budget: bool,
    pub over_budget_notification_percentage: f64,
    pub over_budget_notification_date: Option<i32>,
    pub show_budget_to_all: bool,
    pub cost_budget: Option<Cents>,
    pub cost_budget_include_expenses: bool,
    pub fee: Option<Cents>,
    pub notes: Option<String>,
    pub starts_on: Option<i32>,
    pub ends_on: Option<i32>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Project {
    /// Whether the budget is counted in hours (otherwise in money).
    pub fn budget_in_hours(&self) -> bool {
        matches!(self.budget_by, "project" | "task" | "person")
    }
}

/// A user on a project (user_assignments, project_assignments).
#[derive(Clone, Debug)]
pub struct UserAssignment {
    pub id: i64,
    pub project: Ix,
    pub user: Ix,
    pub is_active: bool,
    pub is_project_manager: bool,
    /// `None`: the key is absent, as in assignments of older accounts.
    pub use_default_rates: Option<bool>,
    pub hourly_rate: Option<Cents>,
    pub budget: Option<Cents>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A task on a project.
#[derive(Clone, Debug)]
pub struct TaskAssignment {
    pub id: i64,
    pub project: Ix,
    pub task: Ix,
    pub is_active: bool,
    pub billable: bool,
    pub hourly_rate: Option<Cents>,
    pub budget: Option<Cents>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A named group of users.
#[derive(Clone, Debug)]
pub struct Role {
    pub id: i64,
    pub name: String,
    pub users: Vec<Ix>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A billable or a cost rate of a user (same shape, two tables).
#[derive(Clone, Debug)]
pub struct Rate {
    pub id: i64,
    pub user: Ix,
    pub amount: Cents,
    pub start_date: i32,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A kind of expense, optionally priced per unit.
#[derive(Clone, Debug)]
pub struct ExpenseCategory {
    pub id: i64,
    pub name: String,
    pub unit_name: Option<String>,
    pub unit_price: Option<Cents>,
    pub is_active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An invoice or an estimate item category (estimate ones ignore the two flags).
#[derive(Clone, Debug)]
pub struct ItemCategory {
    pub id: i64,
    pub name: String,
    pub use_as_service: bool,
    pub use_as_expense: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One line of an invoice or estimate; `project` is [`NONE`] for estimates.
#[derive(Clone, Debug)]
pub struct LineItem {
    pub id: i64,
    pub project: Ix,
    pub kind: &'static str,
    pub description: String,
    pub quantity: i64,
    pub unit_price: Option<Cents>,
    pub amount: Cents,
    pub taxed: bool,
    pub taxed2: bool,
}

/// An invoice with its embedded line items.
#[derive(Clone, Debug)]
pub struct Invoice {
    pub id: i64,
    pub client: Ix,
    pub line_items: Vec<LineItem>,
    pub estimate: Ix,
    pub retainer_id: Option<i64>,
    pub creator: Ix,
    pub client_key: String,
    pub number: String,
    pub purchase_order: Option<String>,
    pub amount: Cents,
    pub due_amount: Cents,
    pub tax: Option<f64>,
    pub tax_amount: Option<Cents>,
    pub tax2: Option<f64>,
    pub tax2_amount: Option<Cents>,
    pub discount: Option<f64>,
    pub discount_amount: Cents,
    pub subject: Option<String>,
    pub notes: Option<String>,
    pub currency: &'static str,
    pub state: String,
    pub period_start: Option<i32>,
    pub period_end: Option<i32>,
    pub issue_date: Option<i32>,
    pub due_date: Option<i32>,
    pub payment_term: &'static str,
    /// `None`: the key is absent, as Harvest sends some invoices.
    pub payment_options: Option<Vec<&'static str>>,
    pub sent_at: Option<i64>,
    pub paid_at: Option<i64>,
    pub paid_date: Option<i32>,
    pub closed_at: Option<i64>,
    pub recurring_invoice_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An estimate (a quote) sent to a client.
#[derive(Clone, Debug)]
pub struct Estimate {
    pub id: i64,
    pub client: Ix,
    pub line_items: Vec<LineItem>,
    pub creator: Ix,
    pub client_key: String,
    pub number: String,
    pub purchase_order: Option<String>,
    pub amount: Cents,
    pub tax: Option<f64>,
    pub tax_amount: Option<Cents>,
    pub tax2: Option<f64>,
    pub tax2_amount: Option<Cents>,
    pub discount: Option<f64>,
    pub discount_amount: Cents,
    pub subject: Option<String>,
    pub notes: Option<String>,
    pub currency: &'static str,
    pub state: String,
    pub issue_date: Option<i32>,
    pub sent_at: Option<i64>,
    pub accepted_at: Option<i64>,
    pub declined_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A recipient of an invoice or estimate message.
#[derive(Clone, Debug)]
pub struct Recipient {
    pub name: String,
    pub email: Option<String>,
}

/// An invoice or estimate message; estimate messages ignore the invoice-only flags.
#[derive(Clone, Debug)]
pub struct Message {
    pub id: i64,
    pub parent: Ix,
    pub sent_by: String,
    pub sent_by_email: String,
    pub sent_from: String,
    pub sent_from_email: String,
    pub recipients: Vec<Recipient>,
    pub subject: Option<String>,
    pub body: String,
    pub include_link_to_client_invoice: bool,
    pub attach_pdf: bool,
    pub send_me_a_copy: bool,
    pub thank_you: bool,
    pub event_type: Option<&'static str>,
    pub reminder: bool,
    pub send_reminder_on: Option<i32>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A payment recorded against an invoice.
#[derive(Clone, Debug)]
pub struct Payment {
    pub id: i64,
    pub invoice: Ix,
    pub amount: Cents,
    pub paid_at: Option<i64>,
    pub paid_date: Option<i32>,
    pub recorded_by: String,
    pub recorded_by_email: Option<String>,
    pub notes: Option<String>,
    pub transaction_id: Option<String>,
    /// `None` = no gateway object; `Some((id, name))` with either part possibly null.
    pub payment_gateway: Option<(Option<i64>, Option<&'static str>)>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An expense logged by a user on a project.
#[derive(Clone, Debug)]
pub struct Expense {
    pub id: i64,
    pub project: Ix,
    pub category: Ix,
    pub user: Ix,
    pub user_assignment: Ix,
    pub has_receipt: bool,
    pub invoice: Ix,
    pub notes: Option<String>,
    pub units: i64,
    pub total_cost: Cents,
    pub billable: bool,
    pub is_closed: bool,
    pub is_locked: bool,
    pub spent_date: i32,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Expense {
    /// Billed expenses are the ones attached to an invoice.
    pub fn is_billed(&self) -> bool {
        self.invoice != NONE
    }
}

/// Flag bits of a [`TimeEntry`].
pub mod flags {
    pub const BILLABLE: u16 = 1;
    pub const BILLED: u16 = 2;
    pub const LOCKED: u16 = 4;
    pub const CLOSED: u16 = 8;
    pub const RUNNING: u16 = 16;
    pub const BUDGETED: u16 = 32;
    pub const EXTERNAL_REF: u16 = 64;
    /// Rendered as an entry of an older account on the 24-hour clock: no `hours_without_timer`
    /// or `rounded_hours` (Harvest added them late 2019), and an external reference without
    /// `account_id`.
    pub const LEGACY: u16 = 128;
}

/// A time entry in 64 bytes: ids and indices only; text comes from pools and the related rows.
#[derive(Clone, Copy, Debug)]
pub struct TimeEntry {
    pub id: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub spent_date: i32,
    pub user: Ix,
    pub project: Ix,
    pub task: Ix,
    pub user_assignment: Ix,
    pub task_assignment: Ix,
    pub invoice: Ix,
    /// Hours in hundredths.
    pub hours: u32,
    /// Index into the notes pool; 0 means no notes.
    pub notes: u16,
    /// Minutes after midnight the timer started; `u16::MAX` for duration tracking.
    pub started_minute: u16,
    pub flags: u16,
}

impl TimeEntry {
    /// Whether a flag bit is set.
    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    /// Sets or clears a flag bit.
    pub fn set(&mut self, flag: u16, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }
}
