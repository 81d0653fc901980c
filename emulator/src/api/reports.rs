//! The reports, computed from the same time entries, expenses and projects the entity endpoints
//! serve, so report totals equal sums over entity records. One row per subject per currency.

use std::collections::BTreeMap;

use super::error::ApiError;
use super::paginate::{self, Origin};
use super::query::Query;
use crate::data::model::*;
use crate::data::Dataset;
use crate::render::json::Json;
use crate::state::{read, App};

/// Every report endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    TimeClients,
    TimeProjects,
    TimeTasks,
    TimeTeam,
    ExpenseClients,
    ExpenseProjects,
    ExpenseCategories,
    ExpenseTeam,
    Uninvoiced,
    ProjectBudget,
}

/// The longest `to - from` span, in days, a report accepts.
pub const MAX_SPAN_DAYS: i32 = 365;

/// Date range and options of a report request.
pub struct Params {
    /// First day, inclusive.
    pub from: i32,
    /// Last day, inclusive.
    pub to: i32,
    /// Time reports: count fixed-fee projects' billable amounts (default false).
    /// Uninvoiced: include fixed-fee projects at all (default true).
    pub include_fixed_fee: Option<bool>,
    /// Project budget: `is_active`.
    pub is_active: Option<bool>,
}

impl Params {
    /// The whole dataset, for [`crate::Emulator::expected_counts`].
    pub fn everything() -> Params {
        Params {
            from: i32::MIN,
            to: i32::MAX,
            include_fixed_fee: None,
            is_active: None,
        }
    }

    fn parse(report: Report, q: &Query) -> Result<Params, ApiError> {
        let mut p = Params::everything();
        p.is_active = q.bool("is_active")?;
        p.include_fixed_fee = q.bool("include_fixed_fee")?;
        if report == Report::ProjectBudget {
            return Ok(p);
        }
        let (Some(from), Some(to)) = (q.date("from")?, q.date("to")?) else {
            return Err(ApiError::invalid("from and to are required"));
        };
        if to < from {
            return Err(ApiError::invalid("to must be on or after from"));
        }
        if to - from > MAX_SPAN_DAYS {
            return Err(ApiError::invalid(
                "The time range between from and to may not exceed 1 year (365 days)",
            ));
        }
        p.from = from;
        p.to = to;
        Ok(p)
    }

    fn covers(&self, day: i32) -> bool {
        day >= self.from && day <= self.to
    }
}

#[derive(Default)]
struct TimeAcc {
    hours: i64,
    billable_hours: i64,
    billable_e4: i64,
}

#[derive(Default)]
struct ExpenseAcc {
    total: i64,
    billable: i64,
}

#[derive(Default)]
struct UninvoicedAcc {
    hours: i64,
    uninvoiced_hours: i64,
    uninvoiced_hours_e4: i64,
    uninvoiced_expenses: i64,
}

fn e4(w: &mut Json, name: &str, v: i64) {
    w.f_float(name, v as f64 / 10_000.0);
}

/// An uninvoiced-report amount in hundredths: Harvest writes a zero as the integer `0`.
fn uninvoiced_cents(w: &mut Json, name: &str, v: i64) {
    if v == 0 {
        w.f_int(name, 0);
    } else {
        w.f_cents(name, v);
    }
}

/// Computes a report's rows, rendered, in a stable order (subject name, then currency).
pub fn rows(ds: &Dataset, report: Report, p: &Params) -> Vec<Vec<u8>> {
    use Report::*;
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    match report {
        TimeClients | TimeProjects | TimeTasks | TimeTeam => {
            let mut acc: BTreeMap<(Ix, &str), TimeAcc> = BTreeMap::new();
            let count_fixed = p.include_fixed_fee.unwrap_or(false);
            for (_, te) in ds.time_entries.iter_live() {
                if !p.covers(te.spent_date) {
                    continue;
                }
                let project = ds.projects.get(te.project);
                let subject = match report {
                    TimeClients => project.client,
                    TimeProjects => te.project,
                    TimeTasks => te.task,
                    _ => te.user,
                };
                let a = acc
                    .entry((subject, ds.project_currency(te.project)))
                    .or_default();
                a.hours += i64::from(te.hours);
                if te.has(flags::BILLABLE) {
                    a.billable_hours += i64::from(te.hours);
                    if count_fixed || !project.is_fixed_fee {
                        a.billable_e4 += ds.billable_amount_e4(te);
                    }
                }
            }
            for ((subject, currency), a) in acc {
                let mut w = Json::with_capacity(256);
                w.open();
                let name = match report {
                    TimeClients => {
                        let c = ds.clients.get(subject);
                        w.f_int("client_id", c.id);
                        w.f_str("client_name", &c.name);
                        c.name.clone()
                    }
                    TimeProjects => {
                        let pr = ds.projects.get(subject);
                        let c = ds.clients.get(pr.client);
                        w.f_int("client_id", c.id);
                        w.f_str("client_name", &c.name);
                        w.f_int("project_id", pr.id);
                        w.f_str("project_name", &pr.name);
                        format!("{}\u{0}{}", c.name, pr.name)
                    }
                    TimeTasks => {
                        let t = ds.tasks.get(subject);
                        w.f_int("task_id", t.id);
                        w.f_str("task_name", &t.name);
                        t.name.clone()
                    }
                    _ => {
                        let u = ds.users.get(subject);
                        w.f_int("user_id", u.id);
                        w.f_str("user_name", &u.name());
                        // Rows for users of older accounts lacked these keys (as late as 2022).
                        if !u.legacy {
                            w.f_int("weekly_capacity", u.weekly_capacity);
                            w.f_str_opt("avatar_url", u.avatar_url.as_deref());
                        }
                        w.f_bool("is_contractor", u.is_contractor);
                        u.name()
                    }
                };
                w.f_cents("total_hours", a.hours);
                w.f_cents("billable_hours", a.billable_hours);
                w.f_str("currency", currency);
                e4(&mut w, "billable_amount", a.billable_e4);
                w.close();
                out.push((format!("{name}\u{0}{currency}\u{0}{subject:010}"), w.buf));
            }
        }
        ExpenseClients | ExpenseProjects | ExpenseCategories | ExpenseTeam => {
            let mut acc: BTreeMap<(Ix, &str), ExpenseAcc> = BTreeMap::new();
            for (_, e) in ds.expenses.iter_live() {
                if !p.covers(e.spent_date) {
                    continue;
                }
                let subject = match report {
                    ExpenseClients => ds.projects.get(e.project).client,
                    ExpenseProjects => e.project,
                    ExpenseCategories => e.category,
                    _ => e.user,
                };
                let a = acc
                    .entry((subject, ds.project_currency(e.project)))
                    .or_default();
                a.total += e.total_cost;
                if e.billable {
                    a.billable += e.total_cost;
                }
            }
            for ((subject, currency), a) in acc {
                let mut w = Json::with_capacity(256);
                w.open();
                let name = match report {
                    ExpenseClients => {
                        let c = ds.clients.get(subject);
                        w.f_int("client_id", c.id);
                        w.f_str("client_name", &c.name);
                        c.name.clone()
                    }
                    ExpenseProjects => {
                        let pr = ds.projects.get(subject);
                        let c = ds.clients.get(pr.client);
                        w.f_int("client_id", c.id);
                        w.f_str("client_name", &c.name);
                        w.f_int("project_id", pr.id);
                        w.f_str("project_name", &pr.name);
                        format!("{}\u{0}{}", c.name, pr.name)
                    }
                    ExpenseCategories => {
                        let c = ds.expense_categories.get(subject);
                        w.f_int("expense_category_id", c.id);
                        w.f_str("expense_category_name", &c.name);
                        c.name.clone()
                    }
                    _ => {
                        let u = ds.users.get(subject);
                        w.f_int("user_id", u.id);
                        w.f_str("user_name", &u.name());
                        w.f_bool("is_contractor", u.is_contractor);
                        u.name()
                    }
                };
                w.f_cents("total_amount", a.total);
                w.f_cents("billable_amount", a.billable);
                w.f_str("currency", currency);
                w.close();
                out.push((format!("{name}\u{0}{currency}\u{0}{subject:010}"), w.buf));
            }
        }
        Uninvoiced => {
            let include_fixed = p.include_fixed_fee.unwrap_or(true);
            let mut acc: BTreeMap<Ix, UninvoicedAcc> = BTreeMap::new();
            let wanted = |project: Ix| include_fixed || !ds.projects.get(project).is_fixed_fee;
            for (_, te) in ds.time_entries.iter_live() {
                if !p.covers(te.spent_date) || !wanted(te.project) {
                    continue;
                }
                let a = acc.entry(te.project).or_default();
                a.hours += i64::from(te.hours);
                if te.has(flags::BILLABLE) && !te.has(flags::BILLED) {
                    a.uninvoiced_hours += i64::from(te.hours);
                    a.uninvoiced_hours_e4 += ds.billable_amount_e4(te);
                }
            }
            for (_, e) in ds.expenses.iter_live() {
                if !p.covers(e.spent_date) || !wanted(e.project) {
                    continue;
                }
                let a = acc.entry(e.project).or_default();
                if e.billable && !e.is_billed() {
                    a.uninvoiced_expenses += e.total_cost;
                }
            }
            for (project, a) in acc {
                let pr = ds.projects.get(project);
                let c = ds.clients.get(pr.client);
                let mut w = Json::with_capacity(256);
                w.open();
                w.f_int("client_id", c.id);
                w.f_str("client_name", &c.name);
                w.f_int("project_id", pr.id);
                w.f_str("project_name", &pr.name);
                w.f_str("currency", c.currency);
                uninvoiced_cents(&mut w, "total_hours", a.hours);
                uninvoiced_cents(&mut w, "uninvoiced_hours", a.uninvoiced_hours);
                uninvoiced_cents(&mut w, "uninvoiced_expenses", a.uninvoiced_expenses);
                let amount = a.uninvoiced_hours_e4 + a.uninvoiced_expenses * 100;
                if amount == 0 {
                    w.f_int("uninvoiced_amount", 0);
                } else {
                    e4(&mut w, "uninvoiced_amount", amount);
                }
                w.close();
                out.push((
                    format!("{}\u{0}{}\u{0}{project:010}", c.name, pr.name),
                    w.buf,
                ));
            }
        }
        ProjectBudget => {
            let mut spent: Vec<i64> = vec![0; ds.projects.rows.len()];
            for (_, te) in ds.time_entries.iter_live() {
                let pr = ds.projects.get(te.project);
                spent[te.project as usize] += if pr.budget_in_hours() {
                    i64::from(te.hours) * 100
                } else {
                    ds.billable_amount_e4(te)
                };
            }
            for (ix, pr) in ds.projects.iter_live() {
                if p.is_active.is_some_and(|a| a != pr.is_active) {
                    continue;
                }
                let c = ds.clients.get(pr.client);
                let s = spent[ix as usize];
                let mut w = Json::with_capacity(256);
                w.open();
                w.f_int("client_id", c.id);
                w.f_str("client_name", &c.name);
                w.f_int("project_id", pr.id);
                w.f_str("project_name", &pr.name);
                w.f_bool("budget_is_monthly", pr.budget_is_monthly);
                w.f_str("budget_by", pr.budget_by);
                w.f_bool("is_active", pr.is_active);
                w.f_cents_opt("budget", pr.budget);
                e4(&mut w, "budget_spent", s);
                e4(&mut w, "budget_remaining", pr.budget.unwrap_or(0) * 100 - s);
                w.close();
                out.push((format!("{}\u{0}{}\u{0}{ix:010}", c.name, pr.name), w.buf));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.into_iter().map(|(_, row)| row).collect()
}

/// Serves a report page.
pub fn serve(
    app: &App,
    report: Report,
    query: &Query,
    origin: &Origin,
) -> Result<Vec<u8>, ApiError> {
    let params = Params::parse(report, query)?;
    let rows = {
        let ds = read(&app.data);
        rows(&ds, report, &params)
    };
    let items: Vec<Ix> = (0..rows.len() as Ix).collect();
    paginate::page(
        paginate::Request {
            envelope: "results",
            items: &items,
            cursor: None,
            query,
            origin,
        },
        &mut |w, i| w.raw(&rows[i as usize]),
    )
}
