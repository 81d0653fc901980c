//! Activity: expenses and time entries, spread over the two years before the anchor,
//! pointing at assignments and, when billed, at sent invoices.

use rand::Rng;

use super::*;

/// Turns the first unpriced, billable, unbilled expense into a credit larger than the other
/// uninvoiced expenses of its project, so the uninvoiced report has a negative amount, as
/// Harvest's does for refunds.
fn credit_one(rows: &mut [Expense], ds: &Dataset) {
    let open = |e: &Expense| e.billable && !e.is_billed();
    let Some(i) = rows
        .iter()
        .position(|e| open(e) && ds.expense_categories.get(e.category).unit_price.is_none())
    else {
        return;
    };
    let project = rows[i].project;
    let others: i64 = rows
        .iter()
        .filter(|e| e.project == project && open(e))
        .map(|e| e.total_cost)
        .sum::<i64>()
        - rows[i].total_cost;
    rows[i].total_cost = -(others + 5_000);
}

/// What message generation needs from an invoice or estimate.
pub(super) trait SentDocument: Row {
    fn state(&self) -> &str;
}

impl SentDocument for Invoice {
    fn state(&self) -> &str {
        &self.state
    }
}

impl SentDocument for Estimate {
    fn state(&self) -> &str {
        &self.state
    }
}

/// Sent (non-draft) invoices per client: what billed time and expenses point at.
fn sent_invoices_by_client(ds: &Dataset) -> Vec<Vec<Ix>> {
    let mut by_client = vec![Vec::new(); ds.clients.rows.len()];
    for (i, inv) in ds.invoices.rows.iter().enumerate() {
        if inv.state != "draft" {
            by_client[inv.client as usize].push(i as Ix);
        }
    }
    by_client
}

impl Gen {
    /// Active assignments, for drawing activity (the first `len` draws walk all assignments).
    pub(super) fn assignment_for(&mut self, k: usize, ds: &Dataset) -> Ix {
        let n = ds.user_assignments.rows.len();
        if k < n {
            k as Ix
        } else {
            self.rng.random_range(0..n) as Ix
        }
    }

    pub(super) fn task_assignment_for(
        &mut self,
        k: usize,
        project: Ix,
        by_project: &[Vec<Ix>],
    ) -> Ix {
        let list = &by_project[project as usize];
        if list.is_empty() {
            NONE
        } else if k < 64 {
            list[k % list.len()]
        } else {
            *self.pick(list)
        }
    }

    pub(super) fn invoice_for(&mut self, client: Ix, sent_by_client: &[Vec<Ix>]) -> Ix {
        let list = &sent_by_client[client as usize];
        if list.is_empty() {
            NONE
        } else {
            *self.pick(list)
        }
    }

    pub(super) fn expenses(&mut self, ds: &Dataset) -> Table<Expense> {
        let n = self.sizes.expenses;
        let sent = sent_invoices_by_client(ds);
        let mut rows = Vec::with_capacity(n);
        let span = (ANCHOR_DAY - START_DAY + 1) as usize;
        for i in 0..n {
            let uai = self.assignment_for(i, ds);
            let ua = ds.user_assignments.get(uai);
            let project = ds.projects.get(ua.project);
            let category = (i % ds.expense_categories.rows.len()) as Ix;
            let unit_price = ds.expense_categories.get(category).unit_price;
            let day = START_DAY + (i * span / n) as i32;
            let (units, total_cost) = match unit_price {
                Some(p) => {
                    let units = self.rng.random_range(1..300) * 100;
                    (units, p * units / 100)
                }
                None => (100, self.rng.random_range(5..500) * 100),
            };
            let invoice = if self.some(i, 0.3) {
                self.invoice_for(project.client, &sent)
            } else {
                NONE
            };
            let created =
                (i64::from(day) * DAY + 36_000 + self.rng.random_range(0..3 * DAY)).min(END);
            rows.push(Expense {
                id: 0,
                project: ua.project,
                category,
                user: ua.user,
                user_assignment: if i == 0 { NONE } else { uai },
                has_receipt: self.some(i, 0.4),
                invoice,
                notes: self.some(i, 0.7).then(|| "Client visit".to_string()),
                units,
                total_cost,
                billable: project.is_billable && i % 4 != 2,
                is_closed: invoice != NONE || i % 5 == 3,
                is_locked: invoice != NONE || i % 7 == 3,
                spent_date: day,
                created_at: created,
                updated_at: self.updated(created),
            });
        }
        credit_one(&mut rows, ds);
        with_ids(&mut self.rng, rows, 15_296_441)
    }

    pub(super) fn time_entries(&mut self, ds: &Dataset) -> Table<TimeEntry> {
        let n = self.sizes.time_entries;
        let sent = sent_invoices_by_client(ds);
        let mut tas_by_project: Vec<Vec<Ix>> = vec![Vec::new(); ds.projects.rows.len()];
        for (i, ta) in ds.task_assignments.rows.iter().enumerate() {
            tas_by_project[ta.project as usize].push(i as Ix);
        }
        let span = (ANCHOR_DAY - START_DAY + 1) as usize;
        let mut rows = Vec::with_capacity(n);
        let mut id = 2_147_483_600_i64;
        let mut k = 0;
        for d in 0..span {
            let day_end = (d + 1) * n / span;
            let count = day_end - k;
            let day = START_DAY + d as i32;
            let step = 36_000 / count.max(1) as i64;
            for j in 0..count {
                let created = i64::from(day) * DAY
                    + 28_800
                    + step * j as i64
                    + self.rng.random_range(0..step.max(1));
                rows.push(self.time_entry(k, n, day, created, ds, &tas_by_project, &sent));
                k += 1;
            }
        }
        for row in &mut rows {
            id += self.rng.random_range(1..=3);
            row.id = id;
        }
        Table::new(rows)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn time_entry(
        &mut self,
        k: usize,
        n: usize,
        day: i32,
        created: i64,
        ds: &Dataset,
        tas_by_project: &[Vec<Ix>],
        sent: &[Vec<Ix>],
    ) -> TimeEntry {
        let uai = self.assignment_for(k, ds);
        let ua = ds.user_assignments.get(uai);
        let project = ds.projects.get(ua.project);
        let tai = self.task_assignment_for(k, ua.project, tas_by_project);
        let task = if tai == NONE {
            0
        } else {
            ds.task_assignments.get(tai).task
        };
        let billable = project.is_billable
            && (tai == NONE || ds.task_assignments.get(tai).billable)
            && (k < 2 || self.rng.random_bool(0.9));
        let running = k + 1 == n;
        let invoice = if billable && !running && self.some(k, 0.4) {
            self.invoice_for(project.client, sent)
        } else {
            NONE
        };
        let locked = invoice != NONE || (!running && k % 7 == 5);
        let legacy = k % 10 == 4;
        let timestamps = running || self.some(k, 0.3) || k == 4;
        let mut te = TimeEntry {
            id: 0,
            created_at: created,
            updated_at: if running {
                created
            } else {
                self.updated(created)
            },
            spent_date: day,
            user: ua.user,
            project: ua.project,
            task,
            user_assignment: if k == 2 { NONE } else { uai },
            task_assignment: if k == 2 { NONE } else { tai },
            invoice,
            hours: self.rng.random_range(25..=800),
            notes: if self.some(k, 0.9) {
                self.rng.random_range(1..=NOTES.len()) as u16
            } else {
                0
            },
            started_minute: if timestamps {
                ((created % DAY) / 60) as u16
            } else {
                u16::MAX
            },
            flags: 0,
        };
        te.set(flags::BILLABLE, billable);
        te.set(flags::BILLED, invoice != NONE);
        te.set(flags::LOCKED, locked);
        te.set(flags::CLOSED, locked || k % 3 == 1);
        te.set(flags::RUNNING, running);
        te.set(flags::BUDGETED, project.budget.is_some());
        te.set(flags::EXTERNAL_REF, k != 0 && (k == 1 || k % 10 == 4));
        te.set(flags::LEGACY, legacy);
        te
    }
}
