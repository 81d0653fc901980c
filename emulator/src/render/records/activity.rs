//! Expenses and time entries, with the assignments and invoice they point at.

use super::*;

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
