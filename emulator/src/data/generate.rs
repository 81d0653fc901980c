//! Seeded generation of a whole account.
//!
//! Everything is drawn from one ChaCha8 stream seeded by the config's seed, so a seed and a scale
//! always give the same dataset. Activity spans the two years before [`ANCHOR_DAY`]. The first
//! rows of every table follow fixed patterns (row 0 has its nullable fields null, row 1 has them
//! set) so even the Tiny dataset holds both a null and a value for every nullable field. Fixed
//! index patterns, drawing nothing from the generator, also shape some rows like older accounts'
//! records (keys Harvest added later left out), so both shapes are in every dataset.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::model::*;
use super::pools::*;
use super::{Dataset, Row, Table};
use crate::config::Scale;
use crate::time::{ANCHOR_DAY, DAY};

/// First day of generated activity: two years before the anchor.
pub const START_DAY: i32 = ANCHOR_DAY - 729;
/// When the account was created (setup records predate the activity).
const FOUNDED_DAY: i32 = START_DAY - 180;
/// The last second of generated activity.
const END: i64 = (ANCHOR_DAY as i64 + 1) * DAY - 1;

/// Row counts derived from the scale.
struct Sizes {
    users: usize,
    clients: usize,
    tasks: usize,
    projects: usize,
    roles: usize,
    invoices: usize,
    estimates: usize,
    expenses: usize,
    time_entries: usize,
}

impl Sizes {
    fn of(scale: Scale) -> Sizes {
        if scale == Scale::Tiny {
            return Sizes {
                users: 5,
                clients: 3,
                tasks: 4,
                projects: 5,
                roles: 3,
                invoices: 6,
                estimates: 4,
                expenses: 10,
                time_entries: scale.time_entries() as usize,
            };
        }
        let n = scale.time_entries() as usize;
        let users = ((n as f64).sqrt() / 5.0).clamp(6.0, 400.0) as usize;
        let clients = (users * 7 / 10).max(4);
        Sizes {
            users,
            clients,
            tasks: (6 + users / 10).min(TASK_NAMES.len()),
            projects: clients * 5 / 2,
            roles: (3 + users / 20).min(ROLE_NAMES.len()),
            invoices: clients * (3 + n / 100_000),
            estimates: clients * (3 + n / 100_000) / 2,
            expenses: (n / 12).max(10),
            time_entries: n,
        }
    }
}

/// Generates the dataset for a seed and scale.
pub fn generate(seed: u64, scale: Scale) -> Dataset {
    Gen {
        rng: ChaCha8Rng::seed_from_u64(seed),
        sizes: Sizes::of(scale),
    }
    .run()
}

struct Gen {
    rng: ChaCha8Rng,
    sizes: Sizes,
}

/// Sorts rows by creation time and gives them ascending ids from `base` with small gaps, so id
/// order, creation order and row order agree.
fn with_ids<T: Row>(rng: &mut ChaCha8Rng, mut rows: Vec<T>, base: i64) -> Table<T> {
    rows.sort_by_key(|r| r.created_at());
    let mut id = base;
    for r in &mut rows {
        id += rng.random_range(1..=3);
        r.set_id(id);
    }
    Table::new(rows)
}

impl Gen {
    fn run(mut self) -> Dataset {
        let users = self.users();
        let clients = self.clients();
        let contacts = self.contacts(&clients);
        let tasks = self.tasks();
        let projects = self.projects(&clients);
        let user_assignments = self.user_assignments(&projects, &users);
        let task_assignments = self.task_assignments(&projects, &tasks);
        let roles = self.roles(&users);
        let users = self.assign_roles(users, &roles);
        let billable_rates = self.rates(&users, 10_000, 1_836_493);
        let cost_rates = self.rates(&users, 4_000, 2_911_207);
        let expense_categories = self.expense_categories();
        let invoice_item_categories = self.item_categories(true, 1_466_293);
        let estimate_item_categories = self.item_categories(false, 1_098_112);
        let estimates = self.estimates(&clients, &users);
        let estimate_messages = self.messages(&estimates, false, &users);
        let invoices = self.invoices(&clients, &projects, &users, &estimates);
        let invoice_messages = self.messages(&invoices, true, &users);
        let invoice_payments = self.payments(&invoices, &users);
        let mut ds = Dataset {
            company: Company {
                name: "Emulated Agency".into(),
                full_domain: "emulated-agency.harvestapp.com".into(),
                week_start_day: "Monday",
                time_format: "hours_minutes",
                date_format: "%Y-%m-%d",
                plan_type: "business-v4",
                clock: "12h",
                weekly_capacity: 126_000,
            },
            me: 1,
            users,
            clients,
            contacts,
            tasks,
            projects,
            user_assignments,
            task_assignments,
            roles,
            billable_rates,
            cost_rates,
            expense_categories,
            invoice_item_categories,
            estimate_item_categories,
            invoices,
            invoice_messages,
            invoice_payments,
            estimates,
            estimate_messages,
            expenses: Table::new(Vec::new()),
            time_entries: Table::new(Vec::new()),
            notes_pool: std::iter::once(String::new())
                .chain(NOTES.iter().map(|s| s.to_string()))
                .collect(),
            version: 0,
            clock: Default::default(),
        };
        ds.expenses = self.expenses(&ds);
        ds.time_entries = self.time_entries(&ds);
        ds
    }

    /// Pattern for nullable fields: row 0 gets null, row 1 a value, later rows a value with
    /// probability `p`.
    fn some(&mut self, i: usize, p: f64) -> bool {
        match i {
            0 => false,
            1 => true,
            _ => self.rng.random_bool(p),
        }
    }

    /// The `i`-th of `n` timestamps spread over `[from, to]` (ascending, jittered).
    fn spread(&mut self, i: usize, n: usize, from: i64, to: i64) -> i64 {
        let step = ((to - from) / n.max(1) as i64).max(1);
        from + step * i as i64 + self.rng.random_range(0..step)
    }

    /// An `updated_at` at or after `created_at`, never after the anchor.
    fn updated(&mut self, created_at: i64) -> i64 {
        if created_at >= END || self.rng.random_bool(0.5) {
            created_at
        } else {
            let room = (END - created_at).min(200 * DAY);
            created_at + self.rng.random_range(0..=room)
        }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.random_range(0..items.len())]
    }

    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from_digit(self.rng.random_range(0..16), 16).expect("hex digit"))
            .collect()
    }

    fn person(&mut self, i: usize) -> (String, String) {
        let first = FIRST_NAMES[i % FIRST_NAMES.len()].to_string();
        let last = self.pick(LAST_NAMES).to_string();
        (first, last)
    }

    fn users(&mut self) -> Vec<User> {
        let n = self.sizes.users;
        let mut rows = Vec::with_capacity(n);
        for i in 0..n {
            let (first, last) = self.person(i);
            let created = self.spread(
                i,
                n,
                FOUNDED_DAY as i64 * DAY,
                (ANCHOR_DAY - 120) as i64 * DAY,
            );
            let email = format!(
                "{}.{}{}@example.com",
                first.to_lowercase(),
                last.to_lowercase().replace(['\'', 'í'], ""),
                i
            );
            let (access_roles, permissions_claims) = match i {
                1 => (vec!["administrator"], ADMINISTRATOR_CLAIMS),
                _ if i % 4 == 3 => (
                    vec!["manager", "project_creator", "billable_rates_manager"],
                    MANAGER_CLAIMS,
                ),
                _ => (vec!["member"], MEMBER_CLAIMS),
            };
            let has_email = i == 1 || self.some(i, 0.95);
            rows.push(User {
                id: 0,
                first_name: first,
                last_name: last,
                email: has_email.then_some(email),
                telephone: self
                    .some(i, 0.6)
                    .then(|| format!("+1 555 01{:02}", i % 100)),
                timezone: TIMEZONES[i % TIMEZONES.len()],
                has_access_to_all_future_projects: i % 3 == 1,
                is_contractor: i % 5 == 4,
                is_active: i % 6 != 2,
                weekly_capacity: if i % 4 == 0 { 72_000 } else { 126_000 },
                default_hourly_rate: self
                    .some(i, 0.9)
                    .then(|| self.rng.random_range(60..200) * 100),
                cost_rate: self
                    .some(i, 0.8)
                    .then(|| self.rng.random_range(30..90) * 100),
                roles: Vec::new(),
                access_roles,
                permissions_claims: permissions_claims.to_vec(),
                avatar_url: self.some(i, 0.7).then(|| {
                    format!("https://cache.harvestapp.com/assets/profile_images/emulated/{i}.png")
                }),
                created_at: created,
                updated_at: self.updated(created),
                // Members only, listed after the first manager and member some lookups want.
                legacy: i % 7 == 4 && i % 4 != 3,
            });
        }
        let mut id = 1_782_958;
        for row in &mut rows {
            id += self.rng.random_range(1..=9);
            row.id = id;
        }
        rows
    }

    fn clients(&mut self) -> Table<Client> {
        let n = self.sizes.clients;
        let mut rows = Vec::with_capacity(n);
        for i in 0..n {
            let word = COMPANY_WORDS[i % COMPANY_WORDS.len()];
            let suffix = COMPANY_SUFFIXES[i % COMPANY_SUFFIXES.len()];
            let round = i / COMPANY_WORDS.len();
            let name = if round == 0 {
                format!("{word} {suffix}")
            } else {
                format!("{word} {suffix} {}", round + 1)
            };
            let created = self.spread(
                i,
                n,
                FOUNDED_DAY as i64 * DAY,
                (ANCHOR_DAY - 150) as i64 * DAY,
            );
            rows.push(Client {
                id: 0,
                name,
                is_active: i % 6 != 2,
                address: self
                    .some(i, 0.7)
                    .then(|| format!("{} Main Street\nSpringfield", 10 + i)),
                statement_key: Some(self.hex(32)).filter(|_| i % 3 != 2),
                currency: CURRENCIES[i % CURRENCIES.len()],
                created_at: created,
                updated_at: self.updated(created),
            });
        }
        with_ids(&mut self.rng, rows, 5_735_773)
    }

    fn contacts(&mut self, clients: &Table<Client>) -> Table<Contact> {
        let mut rows = Vec::new();
        for (ci, client) in clients.rows.iter().enumerate() {
            let count = if ci == 0 {
                2
            } else {
                self.rng.random_range(1..=3)
            };
            for _ in 0..count {
                let i = rows.len();
                let (first, last) = self.person(i + 3);
                let created = client.created_at + self.rng.random_range(0..90 * DAY);
                rows.push(Contact {
                    id: 0,
                    client: ci as Ix,
                    title: self.some(i, 0.6).then(|| "Project Lead".to_string()),
                    email: self
                        .some(i, 0.9)
                        .then(|| format!("{}.{}@client.example", first.to_lowercase(), i)),
                    first_name: first,
                    last_name: last,
                    phone_office: self
                        .some(i, 0.5)
                        .then(|| format!("+1 555 02{:02}", i % 100)),
                    phone_mobile: self
                        .some(i, 0.5)
                        .then(|| format!("+1 555 03{:02}", i % 100)),
                    fax: self
                        .some(i, 0.1)
                        .then(|| format!("+1 555 04{:02}", i % 100)),
                    created_at: created,
                    updated_at: self.updated(created),
                });
            }
        }
        with_ids(&mut self.rng, rows, 4_706_478)
    }

    fn tasks(&mut self) -> Table<Task> {
        let n = self.sizes.tasks;
        let mut rows = Vec::with_capacity(n);
        for i in 0..n {
            let created = self.spread(i, n, FOUNDED_DAY as i64 * DAY, START_DAY as i64 * DAY);
            rows.push(Task {
                id: 0,
                name: TASK_NAMES[i % TASK_NAMES.len()].to_string(),
                billable_by_default: i % 4 != 3,
                default_hourly_rate: self
                    .some(i, 0.7)
                    .then(|| self.rng.random_range(50..180) * 100),
                is_default: i < 3,
                is_active: i % 6 != 2,
                created_at: created,
                updated_at: self.updated(created),
            });
        }
        with_ids(&mut self.rng, rows, 8_083_364)
    }

    fn projects(&mut self, clients: &Table<Client>) -> Table<Project> {
        let n = self.sizes.projects;
        let mut rows = Vec::with_capacity(n);
        for i in 0..n {
            let created = self.spread(
                i,
                n,
                FOUNDED_DAY as i64 * DAY,
                (ANCHOR_DAY - 90) as i64 * DAY,
            );
            let bill_by = match i {
                0 => "Project",
                1 => "Tasks",
                2 => "People",
                _ => *self.pick(&["Project", "Tasks", "People", "People", "Project", "none"]),
            };
            let budget_by = *self.pick(&[
                "project",
                "project_cost",
                "task",
                "task_fees",
                "person",
                "none",
            ]);
            let is_fixed_fee = i % 5 == 3;
            let start_day = (created / DAY) as i32;
            let has_budget = budget_by != "none" && self.some(i, 0.8);
            let budget = has_budget.then(|| {
                if matches!(budget_by, "project" | "task" | "person") {
                    self.rng.random_range(100..2000) * 100
                } else {
                    self.rng.random_range(50..500) * 10_000
                }
            });
            rows.push(Project {
                id: 0,
                client: (i % clients.rows.len()) as Ix,
                name: format!(
                    "{}{}",
                    PROJECT_WORDS[i % PROJECT_WORDS.len()],
                    match i / PROJECT_WORDS.len() {
                        0 => String::new(),
                        r => format!(" {}", r + 1),
                    }
                ),
                code: self.some(i, 0.7).then(|| format!("PRJ-{:03}", i + 1)),
                is_active: i % 6 != 2,
                is_billable: bill_by != "none",
                is_fixed_fee,
                bill_by,
                hourly_rate: (bill_by == "Project" && i != 0 || i == 1)
                    .then(|| self.rng.random_range(80..220) * 100),
                budget,
                budget_by,
                budget_is_monthly: i % 7 == 5,
                notify_when_over_budget: i % 2 == 1,
                over_budget_notification_percentage: 80.0,
                over_budget_notification_date: self
                    .some(i, 0.2)
                    .then(|| start_day + self.rng.random_range(30..400)),
                show_budget_to_all: i % 3 == 0,
                cost_budget: self
                    .some(i, 0.3)
                    .then(|| self.rng.random_range(100..900) * 10_000),
                cost_budget_include_expenses: i % 4 == 1,
                fee: (is_fixed_fee || i == 1).then(|| self.rng.random_range(50..900) * 10_000),
                notes: self
                    .some(i, 0.5)
                    .then(|| "Scope agreed in kickoff".to_string()),
                starts_on: self.some(i, 0.8).then_some(start_day),
                ends_on: self
                    .some(i, 0.4)
                    .then(|| start_day + self.rng.random_range(90..700)),
                created_at: created,
                updated_at: self.updated(created),
            });
        }
        with_ids(&mut self.rng, rows, 14_307_912)
    }

    fn user_assignments(
        &mut self,
        projects: &Table<Project>,
        users: &[User],
    ) -> Table<UserAssignment> {
        let mut rows = Vec::new();
        for (pi, project) in projects.rows.iter().enumerate() {
            let want = self.rng.random_range(2..=4).min(users.len());
            let first = self.rng.random_range(0..users.len());
            let mut members: Vec<usize> =
                (0..want).map(|k| (first + k * 3) % users.len()).collect();
            if pi < 2 && !members.contains(&1) {
                members[0] = 1;
            }
            members.sort_unstable();
            members.dedup();
            for u in members {
                let i = rows.len();
                let created = project.created_at + self.rng.random_range(0..30 * DAY);
                // The token owner's own assignments (users/me/project_assignments) are active
                // and cover a null and a set budget on the first two projects.
                let me = u == 1;
                let budget = match (me, pi) {
                    (true, 0) => None,
                    (true, 1) => Some(4_000),
                    _ => self
                        .some(i, 0.3)
                        .then(|| self.rng.random_range(10..200) * 100),
                };
                rows.push(UserAssignment {
                    id: 0,
                    project: pi as Ix,
                    user: u as Ix,
                    is_active: me || i % 9 != 4,
                    is_project_manager: me || u % 4 == 3,
                    use_default_rates: Some(i % 2 == 0).filter(|_| me || i % 5 != 2),
                    hourly_rate: self
                        .some(i, 0.5)
                        .then(|| self.rng.random_range(60..200) * 100),
                    budget,
                    created_at: created,
                    updated_at: self.updated(created),
                });
            }
        }
        with_ids(&mut self.rng, rows, 130_403_295)
    }

    fn task_assignments(
        &mut self,
        projects: &Table<Project>,
        tasks: &Table<Task>,
    ) -> Table<TaskAssignment> {
        let mut rows = Vec::new();
        let nt = tasks.rows.len();
        for (pi, project) in projects.rows.iter().enumerate() {
            let want = self.rng.random_range(2..=4).min(nt);
            let first = self.rng.random_range(0..nt);
            let mut picked: Vec<usize> = (0..want).map(|k| (first + k) % nt).collect();
            picked.sort_unstable();
            for t in picked {
                let i = rows.len();
                let created = project.created_at + self.rng.random_range(0..10 * DAY);
                rows.push(TaskAssignment {
                    id: 0,
                    project: pi as Ix,
                    task: t as Ix,
                    is_active: i % 9 != 4,
                    billable: i != 0 && (i == 1 || self.rng.random_bool(0.85)),
                    hourly_rate: self
                        .some(i, 0.6)
                        .then(|| self.rng.random_range(60..200) * 100),
                    budget: self
                        .some(i, 0.3)
                        .then(|| self.rng.random_range(10..200) * 100),
                    created_at: created,
                    updated_at: self.updated(created),
                });
            }
        }
        with_ids(&mut self.rng, rows, 155_502_708)
    }

    fn roles(&mut self, users: &[User]) -> Table<Role> {
        let n = self.sizes.roles;
        let mut rows = Vec::with_capacity(n);
        for i in 0..n {
            let created = self.spread(i, n, FOUNDED_DAY as i64 * DAY, START_DAY as i64 * DAY);
            let members = (0..users.len())
                .filter(|u| u % n == i || (i == 0 && u % 2 == 1))
                .map(|u| u as Ix)
                .collect();
            rows.push(Role {
                id: 0,
                name: ROLE_NAMES[i % ROLE_NAMES.len()].to_string(),
                users: members,
                created_at: created,
                updated_at: self.updated(created),
            });
        }
        with_ids(&mut self.rng, rows, 617_669)
    }

    fn assign_roles(&mut self, mut users: Vec<User>, roles: &Table<Role>) -> Table<User> {
        for role in &roles.rows {
            for &u in &role.users {
                users[u as usize].roles.push(role.name.clone());
            }
        }
        // Ids were fixed in `users()`; rows are already in id order.
        Table::new(users)
    }

    fn rates(&mut self, users: &Table<User>, base_cents: i64, id_base: i64) -> Table<Rate> {
        let mut rows = Vec::new();
        for (ui, user) in users.rows.iter().enumerate() {
            let count = if ui < 2 {
                2
            } else {
                self.rng.random_range(1..=3)
            };
            let mut start = (user.created_at / DAY) as i32;
            for _ in 0..count {
                let created = i64::from(start) * DAY + self.rng.random_range(0..DAY / 2);
                rows.push(Rate {
                    id: 0,
                    user: ui as Ix,
                    amount: base_cents + self.rng.random_range(0..40) * 500,
                    start_date: start,
                    created_at: created,
                    updated_at: created,
                });
                start += self.rng.random_range(60..300);
                if start > ANCHOR_DAY {
                    break;
                }
            }
        }
        with_ids(&mut self.rng, rows, id_base)
    }

    fn expense_categories(&mut self) -> Table<ExpenseCategory> {
        let n = EXPENSE_CATEGORIES.len();
        let mut rows = Vec::with_capacity(n);
        for (i, (name, unit)) in EXPENSE_CATEGORIES.iter().enumerate() {
            let created = self.spread(i, n, FOUNDED_DAY as i64 * DAY, START_DAY as i64 * DAY);
            rows.push(ExpenseCategory {
                id: 0,
                name: name.to_string(),
                unit_name: unit.map(|(u, _)| u.to_string()),
                unit_price: unit.map(|(_, p)| p),
                is_active: i % 6 != 2,
                created_at: created,
                updated_at: self.updated(created),
            });
        }
        with_ids(&mut self.rng, rows, 4_195_925)
    }

    fn item_categories(&mut self, invoice: bool, id_base: i64) -> Table<ItemCategory> {
        let names = if invoice {
            ITEM_CATEGORIES
        } else {
            &ITEM_CATEGORIES[..5]
        };
        let n = names.len();
        let mut rows = Vec::with_capacity(n);
        for (i, name) in names.iter().enumerate() {
            let created = self.spread(i, n, FOUNDED_DAY as i64 * DAY, START_DAY as i64 * DAY);
            rows.push(ItemCategory {
                id: 0,
                name: name.to_string(),
                use_as_service: *name == "Hours" || *name == "Service",
                use_as_expense: *name == "Expense",
                created_at: created,
                updated_at: self.updated(created),
            });
        }
        with_ids(&mut self.rng, rows, id_base)
    }

    /// Line items with amounts; returns them and their subtotal.
    /// Document 1 always has a priced line with a project and an unpriced one without.
    fn line_items(
        &mut self,
        doc: usize,
        next_id: &mut i64,
        projects: &[Ix],
        with_project: bool,
    ) -> (Vec<LineItem>, i64) {
        let count = if doc == 1 {
            2
        } else {
            self.rng.random_range(1..=3)
        };
        let mut items = Vec::with_capacity(count);
        let mut subtotal = 0;
        for k in 0..count {
            *next_id += self.rng.random_range(1..=4);
            let quantity = self.rng.random_range(1..40) * 50;
            let priced = k == 0 || (doc != 1 && self.rng.random_bool(0.8));
            let unit_price = priced.then(|| self.rng.random_range(20..250) * 500);
            let amount = match unit_price {
                Some(p) => p * quantity / 100,
                None => self.rng.random_range(100..5000) * 100,
            };
            subtotal += amount;
            let project = if with_project
                && !projects.is_empty()
                && (k == 0 || (doc != 1 && self.rng.random_bool(0.5)))
            {
                *self.pick(projects)
            } else {
                NONE
            };
            items.push(LineItem {
                id: *next_id,
                project,
                kind: if k % 2 == 0 { "Service" } else { "Product" },
                description: format!("{} work", TASK_NAMES[k % TASK_NAMES.len()]),
                quantity,
                unit_price,
                amount,
                taxed: k == 0,
                taxed2: k == 1,
            });
        }
        (items, subtotal)
    }

    /// Tax, second tax and discount for a document: (tax, tax_amount, tax2, tax2_amount,
    /// discount, discount_amount, total).
    #[allow(clippy::type_complexity)]
    fn totals(
        &mut self,
        i: usize,
        items: &[LineItem],
        subtotal: i64,
    ) -> (
        Option<f64>,
        Option<i64>,
        Option<f64>,
        Option<i64>,
        Option<f64>,
        i64,
        i64,
    ) {
        let taxed: i64 = items.iter().filter(|l| l.taxed).map(|l| l.amount).sum();
        let taxed2: i64 = items.iter().filter(|l| l.taxed2).map(|l| l.amount).sum();
        let tax = self.some(i, 0.6).then_some(8.5);
        let tax2 = self.some(i, 0.2).then_some(2.0);
        let discount = self.some(i, 0.2).then_some(5.0);
        let tax_amount = tax.map(|t| (taxed as f64 * t / 100.0).round() as i64);
        let tax2_amount = tax2.map(|t| (taxed2 as f64 * t / 100.0).round() as i64);
        let discount_amount = discount
            .map(|d| (subtotal as f64 * d / 100.0).round() as i64)
            .unwrap_or(0);
        let total = subtotal + tax_amount.unwrap_or(0) + tax2_amount.unwrap_or(0) - discount_amount;
        (
            tax,
            tax_amount,
            tax2,
            tax2_amount,
            discount,
            discount_amount,
            total,
        )
    }

    fn estimates(&mut self, clients: &Table<Client>, users: &Table<User>) -> Table<Estimate> {
        let n = self.sizes.estimates;
        let mut rows = Vec::with_capacity(n);
        let mut line_id = 31_404_100;
        for i in 0..n {
            let created = self.spread(i, n, START_DAY as i64 * DAY, END - 5 * DAY);
            let state = match i {
                0 => "draft",
                1 => "accepted",
                2 => "declined",
                3 => "sent",
                _ => *self.pick(&["draft", "sent", "accepted", "accepted", "declined"]),
            };
            let (items, subtotal) = self.line_items(i, &mut line_id, &[], false);
            let (tax, tax_amount, tax2, tax2_amount, discount, discount_amount, amount) =
                self.totals(i, &items, subtotal);
            let client = (i % clients.rows.len()) as Ix;
            let sent_at = (state != "draft").then(|| created + 3600);
            let decided = created + self.rng.random_range(1..5) * DAY;
            rows.push(Estimate {
                id: 0,
                client,
                line_items: items,
                creator: self.creator(users),
                client_key: self.hex(40),
                number: format!("{}", 500 + i),
                purchase_order: self.some(i, 0.3).then(|| format!("PO-{}", 7000 + i)),
                amount,
                tax,
                tax_amount,
                tax2,
                tax2_amount,
                discount,
                discount_amount,
                subject: self.some(i, 0.8).then(|| format!("Estimate {}", 500 + i)),
                notes: self.some(i, 0.4).then(|| "Valid for 30 days".to_string()),
                currency: clients.get(client).currency,
                state: state.to_string(),
                issue_date: (i != 0).then_some((created / DAY) as i32),
                sent_at,
                accepted_at: (state == "accepted").then_some(decided),
                declined_at: (state == "declined").then_some(decided),
                created_at: created,
                updated_at: if state == "accepted" || state == "declined" {
                    decided
                } else {
                    self.updated(created)
                },
            });
        }
        with_ids(&mut self.rng, rows, 1_439_817)
    }

    fn creator(&mut self, users: &Table<User>) -> Ix {
        if self.rng.random_bool(0.7) {
            1
        } else {
            self.rng.random_range(0..users.rows.len()) as Ix
        }
    }

    fn invoices(
        &mut self,
        clients: &Table<Client>,
        projects: &Table<Project>,
        users: &Table<User>,
        estimates: &Table<Estimate>,
    ) -> Table<Invoice> {
        let n = self.sizes.invoices;
        let mut rows = Vec::with_capacity(n);
        let mut line_id = 140_337_200;
        let by_client: Vec<Vec<Ix>> = (0..clients.rows.len())
            .map(|c| {
                projects
                    .rows
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.client as usize == c)
                    .map(|(i, _)| i as Ix)
                    .collect()
            })
            .collect();
        for i in 0..n {
            let created = self.spread(i, n, (START_DAY + 30) as i64 * DAY, END - 2 * DAY);
            let state = match i {
                0 => "draft",
                1 => "open",
                2 | 4 => "paid",
                3 => "closed",
                5 => "open",
                _ => *self.pick(&["paid", "paid", "paid", "open", "open", "closed", "draft"]),
            };
            let client = (i % clients.rows.len()) as Ix;
            let (items, subtotal) =
                self.line_items(i, &mut line_id, &by_client[client as usize], true);
            let (tax, tax_amount, tax2, tax2_amount, discount, discount_amount, amount) =
                self.totals(i, &items, subtotal);
            let issue_date = (i != 0).then_some((created / DAY) as i32);
            let payment_term = match i {
                0 => "upon receipt",
                1 => "net 30",
                _ => *self.pick(PAYMENT_TERMS),
            };
            let term_days = match payment_term {
                "net 15" => 15,
                "net 30" | "custom" => 30,
                "net 45" => 45,
                "net 60" => 60,
                _ => 0,
            };
            let paid_time = created + self.rng.random_range(1..20) * DAY;
            let estimate = estimates
                .rows
                .iter()
                .position(|e| e.client == client && e.state == "accepted")
                .filter(|_| self.some(i, 0.3))
                .map(|e| e as Ix)
                .unwrap_or(NONE);
            let period = self.some(i, 0.5);
            let period_start = (created / DAY) as i32 - 30;
            let options = match i % 3 {
                _ if i % 4 == 3 => None,
                0 => Some(vec![]),
                1 => Some(vec!["ach", "credit_card"]),
                _ => Some(vec!["credit_card", "paypal"]),
            };
            rows.push(Invoice {
                id: 0,
                client,
                line_items: items,
                estimate,
                retainer_id: self.some(i, 0.1).then(|| 880_000 + i as i64),
                creator: self.creator(users),
                client_key: self.hex(40),
                number: format!("{}", 1000 + i),
                purchase_order: self.some(i, 0.3).then(|| format!("PO-{}", 9000 + i)),
                amount,
                due_amount: if state == "open" || state == "draft" {
                    amount
                } else {
                    0
                },
                tax,
                tax_amount,
                tax2,
                tax2_amount,
                discount,
                discount_amount,
                subject: self.some(i, 0.8).then(|| format!("Invoice {}", 1000 + i)),
                notes: self
                    .some(i, 0.4)
                    .then(|| "Thank you for your business".to_string()),
                currency: clients.get(client).currency,
                state: state.to_string(),
                period_start: period.then_some(period_start),
                period_end: period.then_some(period_start + 29),
                issue_date,
                due_date: issue_date.map(|d| d + term_days),
                payment_term,
                payment_options: options,
                sent_at: (state != "draft").then_some(created + 3600),
                paid_at: (state == "paid").then_some(paid_time),
                paid_date: (state == "paid").then_some((paid_time / DAY) as i32),
                closed_at: (state == "closed").then_some(paid_time),
                recurring_invoice_id: self.some(i, 0.15).then(|| 330_000 + i as i64),
                created_at: created,
                updated_at: if state == "paid" || state == "closed" {
                    paid_time.min(END)
                } else {
                    self.updated(created)
                },
            });
        }
        with_ids(&mut self.rng, rows, 13_150_402)
    }

    fn messages<D: SentDocument>(
        &mut self,
        docs: &Table<D>,
        invoice: bool,
        users: &Table<User>,
    ) -> Table<Message> {
        let mut rows = Vec::new();
        for (di, doc) in docs.rows.iter().enumerate() {
            if doc.state() == "draft" {
                continue;
            }
            let count = if rows.len() < 3 {
                2
            } else {
                self.rng.random_range(0..=2)
            };
            for k in 0..count {
                let i = rows.len();
                let sender = users.get(self.creator(users));
                let created =
                    (doc.created_at() + 3600 + k as i64 * self.rng.random_range(1..10) * DAY)
                        .min(END);
                let reminder = invoice && i % 4 == 1;
                let recipients = (0..=(i % 2))
                    .map(|r| Recipient {
                        name: format!("Recipient {}", r + 1),
                        email: (i + r != 0 && (i + r == 1 || self.rng.random_bool(0.9)))
                            .then(|| format!("billing{}@client.example", r + 1)),
                    })
                    .collect();
                rows.push(Message {
                    id: 0,
                    parent: di as Ix,
                    sent_by: sender.name(),
                    sent_by_email: sender
                        .email
                        .clone()
                        .unwrap_or_else(|| "billing@emulated-agency.example".into()),
                    sent_from: sender.name(),
                    sent_from_email: sender
                        .email
                        .clone()
                        .unwrap_or_else(|| "billing@emulated-agency.example".into()),
                    recipients,
                    subject: self
                        .some(i, 0.9)
                        .then(|| format!("Document from Emulated Agency ({})", di + 1)),
                    body: "Please find the document attached.".into(),
                    include_link_to_client_invoice: false,
                    attach_pdf: i % 2 == 0,
                    send_me_a_copy: i % 3 == 0,
                    thank_you: invoice && i % 5 == 2,
                    event_type: match i {
                        0 => None,
                        1 => Some("send"),
                        _ => *self.pick(&[None, None, Some("send"), Some("view"), Some("re-open")]),
                    },
                    reminder,
                    send_reminder_on: reminder.then(|| (created / DAY) as i32 + 7),
                    created_at: created,
                    updated_at: created,
                });
            }
        }
        let base = if invoice { 27_835_206 } else { 2_666_235 };
        with_ids(&mut self.rng, rows, base)
    }

    fn payments(&mut self, invoices: &Table<Invoice>, users: &Table<User>) -> Table<Payment> {
        let mut rows = Vec::new();
        for (ii, inv) in invoices.rows.iter().enumerate() {
            let parts: i64 = match inv.state.as_str() {
                "paid" if rows.len() < 4 => 2,
                "paid" => self.rng.random_range(1..=2),
                "open" if self.rng.random_bool(0.3) => 1,
                _ => continue,
            };
            let total = if inv.state == "paid" {
                inv.amount
            } else {
                inv.amount / 3
            };
            let base_time = inv.paid_at.unwrap_or(inv.created_at + 5 * DAY).min(END);
            for k in 0..parts {
                let i = rows.len();
                let amount = if k == parts - 1 {
                    total - total / parts * (parts - 1)
                } else {
                    total / parts
                };
                let at = (base_time - (parts - 1 - k) * DAY).max(inv.created_at);
                let recorder = users.get(self.creator(users));
                rows.push(Payment {
                    id: 0,
                    invoice: ii as Ix,
                    amount,
                    paid_at: self.some(i, 0.9).then_some(at),
                    paid_date: self.some(i, 0.95).then_some((at / DAY) as i32),
                    recorded_by: recorder.name(),
                    recorded_by_email: self
                        .some(i, 0.9)
                        .then(|| recorder.email.clone().unwrap_or_default()),
                    notes: self
                        .some(i, 0.3)
                        .then(|| "Paid by bank transfer".to_string()),
                    transaction_id: self.some(i, 0.5).then(|| format!("txn_{}", self.hex(12))),
                    payment_gateway: match i {
                        0 => None,
                        1 => Some((Some(1_100_001), Some("Stripe"))),
                        2 => Some((None, None)),
                        _ => self.rng.random_bool(0.5).then(|| {
                            (
                                Some(1_100_001 + i as i64 % 3),
                                Some(GATEWAYS[i % GATEWAYS.len()]),
                            )
                        }),
                    },
                    created_at: at,
                    updated_at: at,
                });
            }
        }
        with_ids(&mut self.rng, rows, 10_112_853)
    }

    /// Active assignments, for drawing activity (the first `len` draws walk all assignments).
    fn assignment_for(&mut self, k: usize, ds: &Dataset) -> Ix {
        let n = ds.user_assignments.rows.len();
        if k < n {
            k as Ix
        } else {
            self.rng.random_range(0..n) as Ix
        }
    }

    fn task_assignment_for(&mut self, k: usize, project: Ix, by_project: &[Vec<Ix>]) -> Ix {
        let list = &by_project[project as usize];
        if list.is_empty() {
            NONE
        } else if k < 64 {
            list[k % list.len()]
        } else {
            *self.pick(list)
        }
    }

    fn invoice_for(&mut self, client: Ix, sent_by_client: &[Vec<Ix>]) -> Ix {
        let list = &sent_by_client[client as usize];
        if list.is_empty() {
            NONE
        } else {
            *self.pick(list)
        }
    }

    fn expenses(&mut self, ds: &Dataset) -> Table<Expense> {
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

    fn time_entries(&mut self, ds: &Dataset) -> Table<TimeEntry> {
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
    fn time_entry(
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
trait SentDocument: Row {
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
