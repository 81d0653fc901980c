//! The account's setup: people, clients and their contacts, tasks, projects and who is
//! assigned to them, roles, rates and categories.

use rand::Rng;

use super::*;

impl Gen {
    pub(super) fn users(&mut self) -> Vec<User> {
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

    pub(super) fn clients(&mut self) -> Table<Client> {
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

    pub(super) fn contacts(&mut self, clients: &Table<Client>) -> Table<Contact> {
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

    pub(super) fn tasks(&mut self) -> Table<Task> {
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

    pub(super) fn projects(&mut self, clients: &Table<Client>) -> Table<Project> {
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

    pub(super) fn user_assignments(
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

    pub(super) fn task_assignments(
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

    pub(super) fn roles(&mut self, users: &[User]) -> Table<Role> {
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

    pub(super) fn assign_roles(
        &mut self,
        mut users: Vec<User>,
        roles: &Table<Role>,
    ) -> Table<User> {
        for role in &roles.rows {
            for &u in &role.users {
                users[u as usize].roles.push(role.name.clone());
            }
        }
        // Ids were fixed in `users()`; rows are already in id order.
        Table::new(users)
    }

    pub(super) fn rates(
        &mut self,
        users: &Table<User>,
        base_cents: i64,
        id_base: i64,
    ) -> Table<Rate> {
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

    pub(super) fn expense_categories(&mut self) -> Table<ExpenseCategory> {
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

    pub(super) fn item_categories(&mut self, invoice: bool, id_base: i64) -> Table<ItemCategory> {
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
}
