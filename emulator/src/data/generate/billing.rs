//! Estimates and invoices with their line items, the messages sent about them and the
//! payments recorded on invoices.

use rand::Rng;

use super::*;

impl Gen {
    /// Line items with amounts; returns them and their subtotal.
    /// Document 1 always has a priced line with a project and an unpriced one without.
    pub(super) fn line_items(
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
    pub(super) fn totals(
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

    pub(super) fn estimates(
        &mut self,
        clients: &Table<Client>,
        users: &Table<User>,
    ) -> Table<Estimate> {
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

    pub(super) fn creator(&mut self, users: &Table<User>) -> Ix {
        if self.rng.random_bool(0.7) {
            1
        } else {
            self.rng.random_range(0..users.rows.len()) as Ix
        }
    }

    pub(super) fn invoices(
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

    pub(super) fn messages<D: SentDocument>(
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

    pub(super) fn payments(
        &mut self,
        invoices: &Table<Invoice>,
        users: &Table<User>,
    ) -> Table<Payment> {
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
}
