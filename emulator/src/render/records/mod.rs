//! One writer per Harvest object, fields in the order and shape of `endpoints.json`.

use super::json::Json;
use crate::data::model::*;
use crate::data::Dataset;
use crate::time::{self, DAY};

mod activity;
mod billing;

pub use activity::*;
pub use billing::*;

fn user_ref(w: &mut Json, name: &str, u: &User) {
    w.f_open(name);
    w.f_int("id", u.id);
    w.f_str("name", &u.name());
    w.close();
}

/// The user who made an invoice or estimate; null once that user is deleted.
fn creator_ref(w: &mut Json, ds: &Dataset, ix: Ix) {
    if ix == NONE {
        w.key("creator");
        w.null();
    } else {
        user_ref(w, "creator", ds.users.get(ix));
    }
}

fn client_ref(w: &mut Json, c: &Client, with_currency: bool) {
    w.f_open("client");
    w.f_int("id", c.id);
    w.f_str("name", &c.name);
    if with_currency {
        w.f_str("currency", c.currency);
    }
    w.close();
}

fn project_ref(w: &mut Json, p: &Project, with_billable: bool) {
    w.f_open("project");
    w.f_int("id", p.id);
    w.f_str("name", &p.name);
    w.f_str_opt("code", p.code.as_deref());
    if with_billable {
        w.f_bool("is_billable", p.is_billable);
    }
    w.close();
}

/// `use_default_rates`, absent from assignments shaped like an older account's.
fn use_default_rates(w: &mut Json, v: Option<bool>) {
    if let Some(v) = v {
        w.f_bool("use_default_rates", v);
    }
}

/// A string array field.
fn f_strs(w: &mut Json, name: &str, items: &[&str]) {
    w.key(name);
    w.open_array();
    for s in items {
        w.str(s);
    }
    w.close_array();
}

fn task_ref(w: &mut Json, t: &Task) {
    w.f_open("task");
    w.f_int("id", t.id);
    w.f_str("name", &t.name);
    w.close();
}

/// The user assignment as embedded in time entries and expenses (no project or user).
fn user_assignment_embedded(w: &mut Json, ds: &Dataset, ix: Ix) {
    w.key("user_assignment");
    if ix == NONE {
        w.null();
        return;
    }
    let ua = ds.user_assignments.get(ix);
    w.open();
    w.f_int("id", ua.id);
    w.f_bool("is_active", ua.is_active);
    w.f_bool("is_project_manager", ua.is_project_manager);
    use_default_rates(w, ua.use_default_rates);
    w.f_cents_opt("hourly_rate", ua.hourly_rate);
    w.f_cents_opt("budget", ua.budget);
    w.f_stamps(ua.created_at, ua.updated_at);
    w.close();
}

/// The task assignment as embedded in time entries (no project).
fn task_assignment_embedded(w: &mut Json, ds: &Dataset, ix: Ix) {
    w.key("task_assignment");
    if ix == NONE {
        w.null();
        return;
    }
    let ta = ds.task_assignments.get(ix);
    w.open();
    w.f_int("id", ta.id);
    w.f_bool("is_active", ta.is_active);
    w.f_bool("billable", ta.billable);
    w.f_cents_opt("hourly_rate", ta.hourly_rate);
    w.f_cents_opt("budget", ta.budget);
    w.f_stamps(ta.created_at, ta.updated_at);
    w.close();
}

fn invoice_ref(w: &mut Json, ds: &Dataset, ix: Ix) {
    w.key("invoice");
    if ix == NONE {
        w.null();
        return;
    }
    let inv = ds.invoices.get(ix);
    w.open();
    w.f_int("id", inv.id);
    w.f_str("number", &inv.number);
    w.close();
}

/// The company singleton.
pub fn company(w: &mut Json, ds: &Dataset) {
    let c = &ds.company;
    w.open();
    w.f_str("base_uri", &format!("https://{}", c.full_domain));
    w.f_str("full_domain", &c.full_domain);
    w.f_str("name", &c.name);
    w.f_bool("is_active", true);
    w.f_str("week_start_day", c.week_start_day);
    w.f_bool("wants_timestamp_timers", false);
    w.f_str("time_format", c.time_format);
    w.f_str("date_format", c.date_format);
    w.f_str("plan_type", c.plan_type);
    w.f_str("clock", c.clock);
    w.f_str("currency_code_display", "iso_code_none");
    w.f_str("currency_symbol_display", "symbol_before");
    w.f_str("decimal_symbol", ".");
    w.f_str("thousands_separator", ",");
    w.f_str("color_scheme", "orange");
    w.f_int("weekly_capacity", c.weekly_capacity);
    w.f_bool("expense_feature", true);
    w.f_bool("invoice_feature", true);
    w.f_bool("estimate_feature", true);
    w.f_bool("approval_feature", true);
    w.f_bool("team_feature", true);
    w.close();
}

/// A user as `/users` lists it.
pub fn user(w: &mut Json, ds: &Dataset, ix: Ix) {
    user_shaped(w, ds.users.get(ix), true);
}

/// The token's user as `/users/me` serves it: without `default_hourly_rate` and `cost_rate`
/// (the keys, not only their values) unless the user is an administrator.
pub fn user_me(w: &mut Json, ds: &Dataset, ix: Ix) {
    let u = ds.users.get(ix);
    user_shaped(w, u, u.access_roles.contains(&"administrator"));
}

fn user_shaped(w: &mut Json, u: &User, with_rates: bool) {
    w.open();
    w.f_int("id", u.id);
    w.f_str("first_name", &u.first_name);
    w.f_str("last_name", &u.last_name);
    w.f_str_opt("email", u.email.as_deref());
    w.f_str_opt("telephone", u.telephone.as_deref());
    w.f_str("timezone", u.timezone);
    w.f_bool(
        "has_access_to_all_future_projects",
        u.has_access_to_all_future_projects,
    );
    w.f_bool("is_contractor", u.is_contractor);
    w.f_bool("is_active", u.is_active);
    w.f_int("weekly_capacity", u.weekly_capacity);
    if with_rates {
        w.f_cents_opt("default_hourly_rate", u.default_hourly_rate);
        w.f_cents_opt("cost_rate", u.cost_rate);
    }
    w.key("roles");
    w.open_array();
    for r in &u.roles {
        w.str(r);
    }
    w.close_array();
    if !u.legacy {
        f_strs(w, "access_roles", &u.access_roles);
        f_strs(w, "permissions_claims", &u.permissions_claims);
    }
    w.f_str_opt("avatar_url", u.avatar_url.as_deref());
    w.f_stamps(u.created_at, u.updated_at);
    w.close();
}

/// A teammate (the short user shape).
pub fn teammate(w: &mut Json, ds: &Dataset, ix: Ix) {
    let u = ds.users.get(ix);
    w.open();
    w.f_int("id", u.id);
    w.f_str("first_name", &u.first_name);
    w.f_str("last_name", &u.last_name);
    w.f_str_opt("email", u.email.as_deref());
    w.close();
}

/// A client.
pub fn client(w: &mut Json, ds: &Dataset, ix: Ix) {
    let c = ds.clients.get(ix);
    w.open();
    w.f_int("id", c.id);
    w.f_str("name", &c.name);
    w.f_bool("is_active", c.is_active);
    w.f_str_opt("address", c.address.as_deref());
    if let Some(key) = &c.statement_key {
        w.f_str("statement_key", key);
    }
    w.f_str("currency", c.currency);
    w.f_stamps(c.created_at, c.updated_at);
    w.close();
}

/// A contact.
pub fn contact(w: &mut Json, ds: &Dataset, ix: Ix) {
    let c = ds.contacts.get(ix);
    w.open();
    w.f_int("id", c.id);
    client_ref(w, ds.clients.get(c.client), false);
    w.f_str_opt("title", c.title.as_deref());
    w.f_str("first_name", &c.first_name);
    w.f_str("last_name", &c.last_name);
    w.f_str_opt("email", c.email.as_deref());
    w.f_str_opt("phone_office", c.phone_office.as_deref());
    w.f_str_opt("phone_mobile", c.phone_mobile.as_deref());
    w.f_str_opt("fax", c.fax.as_deref());
    w.f_stamps(c.created_at, c.updated_at);
    w.close();
}

/// A task.
pub fn task(w: &mut Json, ds: &Dataset, ix: Ix) {
    let t = ds.tasks.get(ix);
    w.open();
    w.f_int("id", t.id);
    w.f_str("name", &t.name);
    w.f_bool("billable_by_default", t.billable_by_default);
    w.f_cents_opt("default_hourly_rate", t.default_hourly_rate);
    w.f_bool("is_default", t.is_default);
    w.f_bool("is_active", t.is_active);
    w.f_stamps(t.created_at, t.updated_at);
    w.close();
}

/// A project.
pub fn project(w: &mut Json, ds: &Dataset, ix: Ix) {
    let p = ds.projects.get(ix);
    w.open();
    w.f_int("id", p.id);
    client_ref(w, ds.clients.get(p.client), true);
    w.f_str("name", &p.name);
    w.f_str_opt("code", p.code.as_deref());
    w.f_bool("is_active", p.is_active);
    w.f_bool("is_billable", p.is_billable);
    w.f_bool("is_fixed_fee", p.is_fixed_fee);
    w.f_str("bill_by", p.bill_by);
    w.f_cents_opt("hourly_rate", p.hourly_rate);
    w.f_cents_opt("budget", p.budget);
    w.f_str("budget_by", p.budget_by);
    w.f_bool("budget_is_monthly", p.budget_is_monthly);
    w.f_bool("notify_when_over_budget", p.notify_when_over_budget);
    w.f_float(
        "over_budget_notification_percentage",
        p.over_budget_notification_percentage,
    );
    w.f_date_opt(
        "over_budget_notification_date",
        p.over_budget_notification_date,
    );
    w.f_bool("show_budget_to_all", p.show_budget_to_all);
    w.f_cents_opt("cost_budget", p.cost_budget);
    w.f_bool(
        "cost_budget_include_expenses",
        p.cost_budget_include_expenses,
    );
    w.f_cents_opt("fee", p.fee);
    w.f_str_opt("notes", p.notes.as_deref());
    w.f_date_opt("starts_on", p.starts_on);
    w.f_date_opt("ends_on", p.ends_on);
    w.f_stamps(p.created_at, p.updated_at);
    w.close();
}

/// A user assignment (user_assignments, projects/{id}/user_assignments).
pub fn user_assignment(w: &mut Json, ds: &Dataset, ix: Ix) {
    let ua = ds.user_assignments.get(ix);
    w.open();
    w.f_int("id", ua.id);
    project_ref(w, ds.projects.get(ua.project), false);
    user_ref(w, "user", ds.users.get(ua.user));
    w.f_bool("is_active", ua.is_active);
    w.f_bool("is_project_manager", ua.is_project_manager);
    use_default_rates(w, ua.use_default_rates);
    w.f_cents_opt("hourly_rate", ua.hourly_rate);
    w.f_cents_opt("budget", ua.budget);
    w.f_stamps(ua.created_at, ua.updated_at);
    w.close();
}

/// A task assignment (task_assignments, projects/{id}/task_assignments).
pub fn task_assignment(w: &mut Json, ds: &Dataset, ix: Ix) {
    let ta = ds.task_assignments.get(ix);
    w.open();
    w.f_int("id", ta.id);
    project_ref(w, ds.projects.get(ta.project), false);
    task_ref(w, ds.tasks.get(ta.task));
    w.f_bool("is_active", ta.is_active);
    w.f_bool("billable", ta.billable);
    w.f_cents_opt("hourly_rate", ta.hourly_rate);
    w.f_cents_opt("budget", ta.budget);
    w.f_stamps(ta.created_at, ta.updated_at);
    w.close();
}

/// A project assignment of a user: the user assignment with its project, client and the
/// project's task assignments.
pub fn project_assignment(w: &mut Json, ds: &Dataset, ix: Ix) {
    let ua = ds.user_assignments.get(ix);
    let p = ds.projects.get(ua.project);
    w.open();
    w.f_int("id", ua.id);
    w.f_bool("is_active", ua.is_active);
    w.f_bool("is_project_manager", ua.is_project_manager);
    use_default_rates(w, ua.use_default_rates);
    w.f_cents_opt("hourly_rate", ua.hourly_rate);
    w.f_cents_opt("budget", ua.budget);
    w.f_stamps(ua.created_at, ua.updated_at);
    project_ref(w, p, true);
    client_ref(w, ds.clients.get(p.client), true);
    w.key("task_assignments");
    w.open_array();
    for (_, ta) in ds
        .task_assignments
        .iter_live()
        .filter(|(_, ta)| ta.project == ua.project)
    {
        w.open();
        w.f_int("id", ta.id);
        task_ref(w, ds.tasks.get(ta.task));
        w.f_bool("is_active", ta.is_active);
        w.f_bool("billable", ta.billable);
        w.f_cents_opt("hourly_rate", ta.hourly_rate);
        w.f_cents_opt("budget", ta.budget);
        w.f_stamps(ta.created_at, ta.updated_at);
        w.close();
    }
    w.close_array();
    w.close();
}

/// A role.
pub fn role(w: &mut Json, ds: &Dataset, ix: Ix) {
    let r = ds.roles.get(ix);
    w.open();
    w.f_int("id", r.id);
    w.f_str("name", &r.name);
    w.key("user_ids");
    w.open_array();
    for &u in &r.users {
        w.int(ds.users.get(u).id);
    }
    w.close_array();
    w.f_stamps(r.created_at, r.updated_at);
    w.close();
}

/// A billable or cost rate; `end_date` is the day before the user's next rate starts.
pub fn rate(w: &mut Json, rates: &crate::data::Table<Rate>, ix: Ix) {
    let r = rates.get(ix);
    let next_start = rates
        .iter_live()
        .filter(|(_, o)| o.user == r.user && o.start_date > r.start_date)
        .map(|(_, o)| o.start_date)
        .min();
    w.open();
    w.f_int("id", r.id);
    w.f_cents("amount", r.amount);
    w.f_date("start_date", r.start_date);
    w.f_date_opt("end_date", next_start.map(|d| d - 1));
    w.f_stamps(r.created_at, r.updated_at);
    w.close();
}

/// An expense category.
pub fn expense_category(w: &mut Json, ds: &Dataset, ix: Ix) {
    let c = ds.expense_categories.get(ix);
    w.open();
    w.f_int("id", c.id);
    w.f_str("name", &c.name);
    w.f_str_opt("unit_name", c.unit_name.as_deref());
    w.f_cents_opt("unit_price", c.unit_price);
    w.f_bool("is_active", c.is_active);
    w.f_stamps(c.created_at, c.updated_at);
    w.close();
}

/// An invoice item category.
pub fn invoice_item_category(w: &mut Json, ds: &Dataset, ix: Ix) {
    let c = ds.invoice_item_categories.get(ix);
    w.open();
    w.f_int("id", c.id);
    w.f_str("name", &c.name);
    w.f_bool("use_as_service", c.use_as_service);
    w.f_bool("use_as_expense", c.use_as_expense);
    w.f_stamps(c.created_at, c.updated_at);
    w.close();
}

/// An estimate item category.
pub fn estimate_item_category(w: &mut Json, ds: &Dataset, ix: Ix) {
    let c = ds.estimate_item_categories.get(ix);
    w.open();
    w.f_int("id", c.id);
    w.f_str("name", &c.name);
    w.f_stamps(c.created_at, c.updated_at);
    w.close();
}
