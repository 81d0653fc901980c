//! How many records each connector stream should receive from the emulator as it is now, so a
//! test can compare a full sync against the truth without walking the API itself.

use std::collections::BTreeMap;

use crate::api::reports::{self, Params, Report};
use crate::data::Dataset;

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
    let all = Params::everything();
    for (name, report) in [
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
    ] {
        put(name, reports::rows(ds, report, &all).len());
    }
    m
}
