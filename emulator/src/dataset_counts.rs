//! How many records each connector stream should receive from the emulator as it is now, so a
//! test can compare a full sync against the truth without walking the API itself.

use std::collections::BTreeMap;

use crate::api::reports::{self, Params, Report};
use crate::data::Dataset;
use crate::render::records;

/// The report streams, by connector stream name.
const REPORTS: [(&str, Report); 10] = [
    ("time_clients", Report::TimeClients),
    ("time_projects", Report::TimeProjects),
    ("time_tasks", Report::TimeTasks),
    ("time_team", Report::TimeTeam),
    ("expenses_clients", Report::ExpenseClients),
    ("expenses_projects", Report::ExpenseProjects),
    ("expenses_categories", Report::ExpenseCategories),
    ("expenses_team", Report::ExpenseTeam),
    ("uninvoiced", Report::Uninvoiced),
    ("project_budget", Report::ProjectBudget),
];

/// Records per connector stream name. Child streams are summed over all live parents; report
/// streams count distinct (subject, currency) rows over the whole dataset, i.e. what a sync of
/// every window yields after deduplication by primary key.
pub fn expected_counts(ds: &Dataset) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: usize| {
        m.insert(k.to_string(), v as u64);
    };
    put("company", 1);
    put("clients", ds.clients.live_len());
    put("contacts", ds.contacts.live_len());
    put(
        "estimate_item_categories",
        ds.estimate_item_categories.live_len(),
    );
    put("estimates", ds.estimates.live_len());
    put("expense_categories", ds.expense_categories.live_len());
    put("expenses", ds.expenses.live_len());
    put(
        "invoice_item_categories",
        ds.invoice_item_categories.live_len(),
    );
    put("invoices", ds.invoices.live_len());
    put("projects", ds.projects.live_len());
    put("roles", ds.roles.live_len());
    put("task_assignments", ds.task_assignments.live_len());
    put("tasks", ds.tasks.live_len());
    put("time_entries", ds.time_entries.live_len());
    put("user_assignments", ds.user_assignments.live_len());
    put("users", ds.users.live_len());
    put(
        "estimate_messages",
        ds.estimate_messages
            .iter_live()
            .filter(|(_, m)| ds.estimates.is_live(m.parent))
            .count(),
    );
    put(
        "invoice_messages",
        ds.invoice_messages
            .iter_live()
            .filter(|(_, m)| ds.invoices.is_live(m.parent))
            .count(),
    );
    put(
        "invoice_payments",
        ds.invoice_payments
            .iter_live()
            .filter(|(_, p)| ds.invoices.is_live(p.invoice))
            .count(),
    );
    put(
        "project_assignments",
        ds.user_assignments
            .iter_live()
            .filter(|(_, ua)| ua.is_active && ds.users.is_live(ua.user))
            .count(),
    );
    put(
        "billable_rates",
        ds.billable_rates
            .iter_live()
            .filter(|(_, r)| ds.users.is_live(r.user))
            .count(),
    );
    put(
        "cost_rates",
        ds.cost_rates
            .iter_live()
            .filter(|(_, r)| ds.users.is_live(r.user))
            .count(),
    );
    put(
        "invoice_line_items",
        ds.invoices
            .iter_live()
            .map(|(_, i)| i.line_items.len())
            .sum(),
    );
    put(
        "estimate_line_items",
        ds.estimates
            .iter_live()
            .map(|(_, e)| e.line_items.len())
            .sum(),
    );
    put(
        "time_entry_external_reference",
        ds.time_entries
            .iter_live()
            .filter(|(_, te)| records::external_reference_id(te).is_some())
            .count(),
    );
    put(
        "user_roles",
        ds.roles.iter_live().map(|(_, r)| r.users.len()).sum(),
    );
    put(
        "user_project_tasks",
        ds.user_assignments
            .iter_live()
            .filter(|(_, ua)| ua.is_active && ds.users.is_live(ua.user))
            .map(|(_, ua)| {
                ds.task_assignments
                    .iter_live()
                    .filter(|(_, ta)| ta.project == ua.project)
                    .count()
            })
            .sum(),
    );
    // Only managers have teammates (others answer 422), and a manager's are the plain members.
    let with_role = |role: &str| {
        ds.users
            .iter_live()
            .filter(|(_, u)| u.access_roles.contains(&role))
            .count()
    };
    let members = ds
        .users
        .iter_live()
        .filter(|(_, u)| u.access_roles == ["member"])
        .count();
    put("user_teammates", with_role("manager") * members);
    let all = Params::everything();
    for (name, report) in REPORTS {
        put(name, reports::rows(ds, report, &all).len());
    }
    m
}

/// [`expected_counts`], except that each windowed report stream counts the rows a sync from day
/// `from` to day `to` (days since 1970-01-01, inclusive) receives when it asks for one window of
/// `days` days at a time, as the connector does: rows summed over the windows, not subjects.
/// `project_budget` has no window and counts as in [`expected_counts`].
pub fn expected_counts_in_windows(
    ds: &Dataset,
    from: i32,
    to: i32,
    days: i32,
) -> BTreeMap<String, u64> {
    let mut m = expected_counts(ds);
    for (name, report) in REPORTS {
        if report == Report::ProjectBudget {
            continue;
        }
        let mut rows = 0;
        let mut start = from;
        while start <= to {
            let end = start.saturating_add(days - 1).min(to);
            let window = Params {
                from: start,
                to: end,
                ..Params::everything()
            };
            rows += reports::rows(ds, report, &window).len() as u64;
            start = end + 1;
        }
        m.insert(name.to_string(), rows);
    }
    m
}
