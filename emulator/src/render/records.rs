//! One writer per Harvest object, fields in the order and shape of `endpoints.json`.

use super::json::Json;
use crate::data::model::*;
use crate::data::Dataset;
use crate::time::{self, DAY};

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

fn line_items(w: &mut Json, ds: &Dataset, items: &[LineItem], with_project: bool) {
    w.key("line_items");
    w.open_array();
    for li in items {
        w.open();
        w.f_int("id", li.id);
        if with_project {
            if li.project == NONE {
                w.key("project");
                w.null();
            } else {
                project_ref(w, ds.projects.get(li.project), false);
            }
        }
        w.f_str("kind", li.kind);
        w.f_str("description", &li.description);
        w.f_cents("quantity", li.quantity);
        w.f_cents_opt("unit_price", li.unit_price);
        w.f_cents("amount", li.amount);
        w.f_bool("taxed", li.taxed);
        w.f_bool("taxed2", li.taxed2);
        w.close();
    }
    w.close_array();
}

fn opt_float(w: &mut Json, name: &str, v: Option<f64>) {
    w.key(name);
    match v {
        Some(v) => w.float(v),
        None => w.null(),
    }
}

/// An invoice with embedded line items.
pub fn invoice(w: &mut Json, ds: &Dataset, ix: Ix) {
    let inv = ds.invoices.get(ix);
    w.open();
    w.f_int("id", inv.id);
    client_ref(w, ds.clients.get(inv.client), false);
    line_items(w, ds, &inv.line_items, true);
    w.key("estimate");
    if inv.estimate == NONE {
        w.null();
    } else {
        w.open();
        w.f_int("id", ds.estimates.get(inv.estimate).id);
        w.close();
    }
    w.key("retainer");
    match inv.retainer_id {
        Some(id) => {
            w.open();
            w.f_int("id", id);
            w.close();
        }
        None => w.null(),
    }
    creator_ref(w, ds, inv.creator);
    w.f_str("client_key", &inv.client_key);
    w.f_str("number", &inv.number);
    w.f_str_opt("purchase_order", inv.purchase_order.as_deref());
    w.f_cents("amount", inv.amount);
    w.f_cents("due_amount", inv.due_amount);
    opt_float(w, "tax", inv.tax);
    w.f_cents_opt("tax_amount", inv.tax_amount);
    opt_float(w, "tax2", inv.tax2);
    w.f_cents_opt("tax2_amount", inv.tax2_amount);
    opt_float(w, "discount", inv.discount);
    w.f_cents("discount_amount", inv.discount_amount);
    w.f_str_opt("subject", inv.subject.as_deref());
    w.f_str_opt("notes", inv.notes.as_deref());
    w.f_str("currency", inv.currency);
    w.f_str("state", &inv.state);
    w.f_date_opt("period_start", inv.period_start);
    w.f_date_opt("period_end", inv.period_end);
    w.f_date_opt("issue_date", inv.issue_date);
    w.f_date_opt("due_date", inv.due_date);
    w.f_str("payment_term", inv.payment_term);
    if let Some(options) = &inv.payment_options {
        f_strs(w, "payment_options", options);
    }
    w.f_datetime_opt("sent_at", inv.sent_at);
    w.f_datetime_opt("paid_at", inv.paid_at);
    w.f_date_opt("paid_date", inv.paid_date);
    w.f_datetime_opt("closed_at", inv.closed_at);
    w.f_int_opt("recurring_invoice_id", inv.recurring_invoice_id);
    w.f_stamps(inv.created_at, inv.updated_at);
    w.close();
}

/// An estimate with embedded line items.
pub fn estimate(w: &mut Json, ds: &Dataset, ix: Ix) {
    let e = ds.estimates.get(ix);
    w.open();
    w.f_int("id", e.id);
    client_ref(w, ds.clients.get(e.client), false);
    line_items(w, ds, &e.line_items, false);
    creator_ref(w, ds, e.creator);
    w.f_str("client_key", &e.client_key);
    w.f_str("number", &e.number);
    w.f_str_opt("purchase_order", e.purchase_order.as_deref());
    w.f_cents("amount", e.amount);
    opt_float(w, "tax", e.tax);
    w.f_cents_opt("tax_amount", e.tax_amount);
    opt_float(w, "tax2", e.tax2);
    w.f_cents_opt("tax2_amount", e.tax2_amount);
    opt_float(w, "discount", e.discount);
    w.f_cents("discount_amount", e.discount_amount);
    w.f_str_opt("subject", e.subject.as_deref());
    w.f_str_opt("notes", e.notes.as_deref());
    w.f_str("currency", e.currency);
    w.f_str("state", &e.state);
    w.f_date_opt("issue_date", e.issue_date);
    w.f_datetime_opt("sent_at", e.sent_at);
    w.f_datetime_opt("accepted_at", e.accepted_at);
    w.f_datetime_opt("declined_at", e.declined_at);
    w.f_stamps(e.created_at, e.updated_at);
    w.close();
}

fn message_head(w: &mut Json, m: &Message) {
    w.f_int("id", m.id);
    w.f_str("sent_by", &m.sent_by);
    w.f_str("sent_by_email", &m.sent_by_email);
    w.f_str("sent_from", &m.sent_from);
    w.f_str("sent_from_email", &m.sent_from_email);
    w.key("recipients");
    w.open_array();
    for r in &m.recipients {
        w.open();
        w.f_str("name", &r.name);
        w.f_str_opt("email", r.email.as_deref());
        w.close();
    }
    w.close_array();
    w.f_str_opt("subject", m.subject.as_deref());
    w.f_str("body", &m.body);
}

/// An invoice message.
pub fn invoice_message(w: &mut Json, ds: &Dataset, ix: Ix) {
    let m = ds.invoice_messages.get(ix);
    w.open();
    message_head(w, m);
    w.f_bool(
        "include_link_to_client_invoice",
        m.include_link_to_client_invoice,
    );
    w.f_bool("attach_pdf", m.attach_pdf);
    w.f_bool("send_me_a_copy", m.send_me_a_copy);
    w.f_bool("thank_you", m.thank_you);
    w.f_str_opt("event_type", m.event_type);
    w.f_bool("reminder", m.reminder);
    w.f_date_opt("send_reminder_on", m.send_reminder_on);
    w.f_stamps(m.created_at, m.updated_at);
    w.close();
}

/// An estimate message.
pub fn estimate_message(w: &mut Json, ds: &Dataset, ix: Ix) {
    let m = ds.estimate_messages.get(ix);
    w.open();
    message_head(w, m);
    w.f_bool("send_me_a_copy", m.send_me_a_copy);
    w.f_str_opt("event_type", m.event_type);
    w.f_stamps(m.created_at, m.updated_at);
    w.close();
}

/// An invoice payment.
pub fn invoice_payment(w: &mut Json, ds: &Dataset, ix: Ix) {
    let p = ds.invoice_payments.get(ix);
    w.open();
    w.f_int("id", p.id);
    w.f_cents("amount", p.amount);
    w.f_datetime_opt("paid_at", p.paid_at);
    w.f_date_opt("paid_date", p.paid_date);
    w.f_str("recorded_by", &p.recorded_by);
    w.f_str_opt("recorded_by_email", p.recorded_by_email.as_deref());
    w.f_str_opt("notes", p.notes.as_deref());
    w.f_str_opt("transaction_id", p.transaction_id.as_deref());
    w.key("payment_gateway");
    match p.payment_gateway {
        Some((id, name)) => {
            w.open();
            w.f_int_opt("id", id);
            w.f_str_opt("name", name);
            w.close();
        }
        None => w.null(),
    }
    w.f_stamps(p.created_at, p.updated_at);
    w.close();
}

/// An expense.
pub fn expense(w: &mut Json, ds: &Dataset, ix: Ix) {
    let e = ds.expenses.get(ix);
    let p = ds.projects.get(e.project);
    let cat = ds.expense_categories.get(e.category);
    w.open();
    w.f_int("id", e.id);
    client_ref(w, ds.clients.get(p.client), true);
    project_ref(w, p, false);
    w.f_open("expense_category");
    w.f_int("id", cat.id);
    w.f_str("name", &cat.name);
    w.f_cents_opt("unit_price", cat.unit_price);
    w.f_str_opt("unit_name", cat.unit_name.as_deref());
    w.close();
    user_ref(w, "user", ds.users.get(e.user));
    user_assignment_embedded(w, ds, e.user_assignment);
    w.key("receipt");
    if e.has_receipt {
        w.open();
        w.f_str(
            "url",
            &format!(
                "https://emulated-agency.harvestapp.com/expenses/{}/receipt",
                e.id
            ),
        );
        w.f_str("file_name", &format!("receipt-{}.pdf", e.id));
        w.f_int("file_size", 20_000 + e.id % 50_000);
        w.f_str("content_type", "application/pdf");
        w.close();
    } else {
        w.null();
    }
    invoice_ref(w, ds, e.invoice);
    w.f_str_opt("notes", e.notes.as_deref());
    w.f_cents("units", e.units);
    w.f_cents("total_cost", e.total_cost);
    w.f_bool("billable", e.billable);
    w.f_bool("is_closed", e.is_closed);
    w.f_bool("is_locked", e.is_locked);
    w.f_bool("is_billed", e.is_billed());
    w.f_str_opt(
        "locked_reason",
        e.is_locked.then_some(if e.is_billed() {
            "Expense is invoiced."
        } else {
            "Expense is approved."
        }),
    );
    w.f_date("spent_date", e.spent_date);
    w.f_stamps(e.created_at, e.updated_at);
    w.close();
}

/// The string id of a time entry's external reference (derived from the entry id).
pub fn external_reference_id(te: &TimeEntry) -> Option<String> {
    te.has(flags::EXTERNAL_REF)
        .then(|| format!("{}", 9_000_000 + te.id % 1_000_000))
}

/// A time entry, the hot path: a page of 2000 must render in a few milliseconds.
pub fn time_entry(w: &mut Json, ds: &Dataset, ix: Ix) {
    let te = ds.time_entries.get(ix);
    let user = ds.users.get(te.user);
    let project = ds.projects.get(te.project);
    let client = ds.clients.get(project.client);
    let running = te.has(flags::RUNNING);
    let legacy = te.has(flags::LEGACY);
    w.open();
    w.f_int("id", te.id);
    w.f_date("spent_date", te.spent_date);
    user_ref(w, "user", user);
    user_assignment_embedded(w, ds, te.user_assignment);
    client_ref(w, client, true);
    project_ref(w, project, false);
    task_ref(w, ds.tasks.get(te.task));
    task_assignment_embedded(w, ds, te.task_assignment);
    w.key("external_reference");
    match external_reference_id(te) {
        Some(ext) => {
            w.open();
            w.f_str("id", &ext);
            w.f_str("group_id", "1000001");
            if !legacy {
                w.f_str("account_id", "1000001");
            }
            w.f_str(
                "permalink",
                &format!("https://github.com/emulated/app/issues/{ext}"),
            );
            w.f_str("service", "github.com");
            w.f_str(
                "service_icon_url",
                "https://proxy.harvestfiles.com/production_harvestapp_public/uploads/platform_icons/github.com.png",
            );
            w.close();
        }
        None => w.null(),
    }
    invoice_ref(w, ds, te.invoice);
    let hours = i64::from(te.hours);
    w.f_cents("hours", hours);
    if !legacy {
        w.f_cents("hours_without_timer", hours);
        w.f_cents("rounded_hours", (hours + 24) / 25 * 25);
    }
    w.f_str_opt(
        "notes",
        (te.notes != 0).then(|| ds.notes_pool[te.notes as usize].as_str()),
    );
    w.f_bool("is_locked", te.has(flags::LOCKED));
    w.f_str_opt(
        "locked_reason",
        te.has(flags::LOCKED).then_some(if te.has(flags::BILLED) {
            "Item Invoiced"
        } else {
            "Approved"
        }),
    );
    w.f_bool("is_closed", te.has(flags::CLOSED));
    w.f_bool("is_billed", te.has(flags::BILLED));
    let started = (te.started_minute != u16::MAX).then_some(u32::from(te.started_minute));
    w.f_datetime_opt(
        "timer_started_at",
        running.then(|| i64::from(te.spent_date) * DAY + i64::from(started.unwrap_or(540)) * 60),
    );
    let clock = if legacy { "24h" } else { ds.company.clock };
    w.f_str_opt(
        "started_time",
        started.map(|s| time::clock_string(s, clock)).as_deref(),
    );
    let ended = started
        .filter(|_| !running)
        .map(|s| time::clock_string(s + te.hours * 60 / 100, clock));
    w.f_str_opt("ended_time", ended.as_deref());
    w.f_bool("is_running", running);
    w.f_bool("billable", te.has(flags::BILLABLE));
    w.f_bool("budgeted", te.has(flags::BUDGETED));
    w.f_cents_opt("billable_rate", ds.billable_rate(te));
    w.f_cents_opt("cost_rate", ds.cost_rate(te));
    w.f_stamps(te.created_at, te.updated_at);
    w.close();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Scale;

    fn rendered(render: impl Fn(&mut Json)) -> serde_json::Value {
        let mut w = Json::with_capacity(1024);
        render(&mut w);
        serde_json::from_slice(&w.buf).expect("valid JSON")
    }

    #[test]
    fn users_me_leaves_the_rates_out_unless_administrator() {
        let ds = crate::data::generate::generate(42, Scale::Tiny);
        let (admin, member) = (1, 0);
        assert_eq!(ds.users.get(admin).access_roles, ["administrator"]);
        assert_eq!(ds.users.get(member).access_roles, ["member"]);
        let me = rendered(|w| user_me(w, &ds, admin));
        assert!(me.get("default_hourly_rate").is_some() && me.get("cost_rate").is_some());
        let me = rendered(|w| user_me(w, &ds, member));
        assert!(me.get("default_hourly_rate").is_none() && me.get("cost_rate").is_none());
        assert!(me.get("weekly_capacity").is_some());
        let listed = rendered(|w| user(w, &ds, member));
        assert!(listed.get("default_hourly_rate").is_some() && listed.get("cost_rate").is_some());
    }
}
