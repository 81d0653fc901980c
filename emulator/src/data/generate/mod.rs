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

mod activity;
mod billing;
mod setup;

use activity::SentDocument;

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
}
