//! The list and retrieve endpoints: which table each serves, its filters, order and paging.

use std::sync::Arc;

use super::error::ApiError;
use super::paginate::{self, Keyed, Origin, Paging};
use super::query::{matches, Filters, Query};
use crate::data::model::*;
use crate::data::{Dataset, Row, Table};
use crate::render::json::Json;
use crate::render::{patch, records};
use crate::state::{lock, read, App};

/// Every list endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum List {
    Clients,
    Contacts,
    Invoices,
    InvoiceMessages,
    InvoicePayments,
    InvoiceItemCategories,
    Estimates,
    EstimateMessages,
    EstimateItemCategories,
    Expenses,
    ExpenseCategories,
    Tasks,
    TimeEntries,
    Projects,
    UserAssignments,
    ProjectUserAssignments,
    TaskAssignments,
    ProjectTaskAssignments,
    Roles,
    Users,
    BillableRates,
    CostRates,
    ProjectAssignments,
    MyProjectAssignments,
    Teammates,
}

impl List {
    /// The filter parameters the endpoint supports (per `endpoints.json`).
    fn params(self) -> &'static [&'static str] {
        use List::*;
        match self {
            Clients
            | ExpenseCategories
            | Tasks
            | Users
            | TaskAssignments
            | ProjectTaskAssignments => &["is_active", "updated_since"],
            Contacts => &["client_id", "updated_since"],
            Invoices => &[
                "client_id",
                "project_id",
                "updated_since",
                "from",
                "to",
                "state",
            ],
            Estimates => &["client_id", "updated_since", "from", "to", "state"],
            InvoiceMessages
            | InvoicePayments
            | InvoiceItemCategories
            | EstimateMessages
            | EstimateItemCategories
            | ProjectAssignments => &["updated_since"],
            Expenses => &[
                "user_id",
                "client_id",
                "project_id",
                "is_billed",
                "updated_since",
                "from",
                "to",
            ],
            TimeEntries => &[
                "user_id",
                "client_id",
                "project_id",
                "task_id",
                "external_reference_id",
                "is_billed",
                "is_running",
                "updated_since",
                "from",
                "to",
            ],
            Projects => &["is_active", "client_id", "updated_since"],
            UserAssignments | ProjectUserAssignments => &["user_id", "is_active", "updated_since"],
            Roles | BillableRates | CostRates | MyProjectAssignments | Teammates => &[],
        }
    }
}

/// Resolves an id filter to a row index; an unknown id matches nothing.
fn ix_of<T: Row>(table: &Table<T>, id: Option<i64>) -> Option<Ix> {
    id.map(|id| table.find(id).unwrap_or(NONE))
}

/// A parent path segment (`/invoices/{id}/messages`) resolved to its row, or 404.
fn parent_of<T: Row>(table: &Table<T>, id: Option<i64>) -> Result<Ix, ApiError> {
    id.and_then(|id| table.find(id)).ok_or(ApiError::NotFound)
}

struct Ctx<'a> {
    app: &'a App,
    ds: &'a Dataset,
    list: List,
    parent: Option<i64>,
    query: &'a Query,
    origin: &'a Origin,
}

impl Ctx<'_> {
    /// Serves one page of `table` rows matching `keep`, rendered by `render`.
    fn serve<T: Row>(
        &self,
        table: &Table<T>,
        envelope: &'static str,
        paging: Paging,
        keep: impl Fn(&T) -> bool,
        render: impl Fn(&mut Json, Ix),
    ) -> Result<Vec<u8>, ApiError> {
        let filter_key = self.query.filter_key();
        let unfiltered = filter_key.is_empty() && self.parent.is_none() && self.list.is_plain();
        let items = if unfiltered {
            table.order.clone()
        } else {
            let key = format!("{:?}/{:?}?{}", self.list, self.parent, filter_key);
            lock(&self.app.selections).get_or(self.ds.version, key, || {
                Arc::new(
                    table
                        .order
                        .iter()
                        .copied()
                        .filter(|&ix| keep(table.get(ix)))
                        .collect(),
                )
            })
        };
        let keyed: Option<&dyn Keyed> = (paging == Paging::Cursor).then_some(table as &dyn Keyed);
        paginate::page(
            paginate::Request {
                envelope,
                items: &items,
                cursor: keyed,
                query: self.query,
                origin: self.origin,
            },
            &mut |w, ix| with_overrides(w, &table.overrides, ix, &render),
        )
    }
}

impl List {
    /// Whether an unfiltered request serves the table's whole order as is.
    fn is_plain(self) -> bool {
        !matches!(
            self,
            List::ProjectAssignments | List::MyProjectAssignments | List::Teammates
        )
    }
}

/// Renders a row, splicing in any fields set through the control API.
pub fn with_overrides(
    w: &mut Json,
    overrides: &std::collections::HashMap<Ix, serde_json::Map<String, serde_json::Value>>,
    ix: Ix,
    render: &dyn Fn(&mut Json, Ix),
) {
    match overrides.get(&ix) {
        None => render(w, ix),
        Some(ov) => {
            let mut tmp = Json::with_capacity(2048);
            render(&mut tmp, ix);
            w.raw(&patch::apply_overrides(&tmp.buf, ov));
        }
    }
}

/// Serves a list endpoint; `parent` is the id in the path of nested lists.
pub fn serve(
    app: &App,
    list: List,
    parent: Option<i64>,
    query: &Query,
    origin: &Origin,
) -> Result<Vec<u8>, ApiError> {
    let ds = read(&app.data);
    let ds = &*ds;
    let f = Filters::parse(query, list.params())?;
    let cx = Ctx {
        app,
        ds,
        list,
        parent,
        query,
        origin,
    };
    let since = |u: i64| f.since(u);
    let client = ix_of(&ds.clients, f.client_id);
    let project = ix_of(&ds.projects, f.project_id);
    let user = ix_of(&ds.users, f.user_id);
    let task = ix_of(&ds.tasks, f.task_id);
    use List::*;
    use Paging::*;
    match list {
        Clients => cx.serve(
            &ds.clients,
            "clients",
            Cursor,
            |c| f.active(c.is_active) && since(c.updated_at),
            |w, ix| records::client(w, ds, ix),
        ),
        Contacts => cx.serve(
            &ds.contacts,
            "contacts",
            Cursor,
            |c| matches(client, c.client) && since(c.updated_at),
            |w, ix| records::contact(w, ds, ix),
        ),
        Invoices => cx.serve(
            &ds.invoices,
            "invoices",
            Page,
            |i| {
                matches(client, i.client)
                    // NONE (an unknown id) must not match line items without a project.
                    && project.is_none_or(|p| {
                        p != NONE && i.line_items.iter().any(|l| l.project == p)
                    })
                    && f.in_range_opt(i.issue_date)
                    && f.state.as_deref().is_none_or(|s| s == i.state)
                    && since(i.updated_at)
            },
            |w, ix| records::invoice(w, ds, ix),
        ),
        InvoiceMessages => {
            let p = parent_of(&ds.invoices, parent)?;
            cx.serve(
                &ds.invoice_messages,
                "invoice_messages",
                Cursor,
                |m| m.parent == p && since(m.updated_at),
                |w, ix| records::invoice_message(w, ds, ix),
            )
        }
        InvoicePayments => {
            let p = parent_of(&ds.invoices, parent)?;
            cx.serve(
                &ds.invoice_payments,
                "invoice_payments",
                Cursor,
                |m| m.invoice == p && since(m.updated_at),
                |w, ix| records::invoice_payment(w, ds, ix),
            )
        }
        InvoiceItemCategories => cx.serve(
            &ds.invoice_item_categories,
            "invoice_item_categories",
            Cursor,
            |c| since(c.updated_at),
            |w, ix| records::invoice_item_category(w, ds, ix),
        ),
        Estimates => cx.serve(
            &ds.estimates,
            "estimates",
            Page,
            |e| {
                matches(client, e.client)
                    && f.in_range_opt(e.issue_date)
                    && f.state.as_deref().is_none_or(|s| s == e.state)
                    && since(e.updated_at)
            },
            |w, ix| records::estimate(w, ds, ix),
        ),
        EstimateMessages => {
            let p = parent_of(&ds.estimates, parent)?;
            cx.serve(
                &ds.estimate_messages,
                "estimate_messages",
                Cursor,
                |m| m.parent == p && since(m.updated_at),
                |w, ix| records::estimate_message(w, ds, ix),
            )
        }
        EstimateItemCategories => cx.serve(
            &ds.estimate_item_categories,
            "estimate_item_categories",
            Cursor,
            |c| since(c.updated_at),
            |w, ix| records::estimate_item_category(w, ds, ix),
        ),
        Expenses => cx.serve(
            &ds.expenses,
            "expenses",
            Page,
            |e| {
                matches(user, e.user)
                    && matches(project, e.project)
                    && client.is_none_or(|c| ds.projects.get(e.project).client == c)
                    && matches(f.is_billed, e.is_billed())
                    && f.in_range(e.spent_date)
                    && since(e.updated_at)
            },
            |w, ix| records::expense(w, ds, ix),
        ),
        ExpenseCategories => cx.serve(
            &ds.expense_categories,
            "expense_categories",
            Cursor,
            |c| f.active(c.is_active) && since(c.updated_at),
            |w, ix| records::expense_category(w, ds, ix),
        ),
        Tasks => cx.serve(
            &ds.tasks,
            "tasks",
            Cursor,
            |t| f.active(t.is_active) && since(t.updated_at),
            |w, ix| records::task(w, ds, ix),
        ),
        TimeEntries => cx.serve(
            &ds.time_entries,
            "time_entries",
            Page,
            |t| {
                matches(user, t.user)
                    && matches(project, t.project)
                    && matches(task, t.task)
                    && client.is_none_or(|c| ds.projects.get(t.project).client == c)
                    && matches(f.is_billed, t.has(flags::BILLED))
                    && matches(f.is_running, t.has(flags::RUNNING))
                    && f.external_reference_id
                        .as_deref()
                        .is_none_or(|e| records::external_reference_id(t).as_deref() == Some(e))
                    && f.in_range(t.spent_date)
                    && since(t.updated_at)
            },
            |w, ix| records::time_entry(w, ds, ix),
        ),
        Projects => cx.serve(
            &ds.projects,
            "projects",
            Cursor,
            |p| f.active(p.is_active) && matches(client, p.client) && since(p.updated_at),
            |w, ix| records::project(w, ds, ix),
        ),
        UserAssignments | ProjectUserAssignments => {
            let p = match list {
                ProjectUserAssignments => Some(parent_of(&ds.projects, parent)?),
                _ => None,
            };
            cx.serve(
                &ds.user_assignments,
                "user_assignments",
                if p.is_some() { Page } else { Cursor },
                |ua| {
                    matches(p, ua.project)
                        && matches(user, ua.user)
                        && f.active(ua.is_active)
                        && since(ua.updated_at)
                },
                |w, ix| records::user_assignment(w, ds, ix),
            )
        }
        TaskAssignments | ProjectTaskAssignments => {
            let p = match list {
                ProjectTaskAssignments => Some(parent_of(&ds.projects, parent)?),
                _ => None,
            };
            cx.serve(
                &ds.task_assignments,
                "task_assignments",
                if p.is_some() { Page } else { Cursor },
                |ta| matches(p, ta.project) && f.active(ta.is_active) && since(ta.updated_at),
                |w, ix| records::task_assignment(w, ds, ix),
            )
        }
        Roles => cx.serve(
            &ds.roles,
            "roles",
            Cursor,
            |_| true,
            |w, ix| records::role(w, ds, ix),
        ),
        Users => cx.serve(
            &ds.users,
            "users",
            Cursor,
            |u| f.active(u.is_active) && since(u.updated_at),
            |w, ix| records::user(w, ds, ix),
        ),
        BillableRates | CostRates => {
            let u = parent_of(&ds.users, parent)?;
            let (table, envelope) = match list {
                BillableRates => (&ds.billable_rates, "billable_rates"),
                _ => (&ds.cost_rates, "cost_rates"),
            };
            cx.serve(
                table,
                envelope,
                Cursor,
                |r| r.user == u,
                |w, ix| records::rate(w, table, ix),
            )
        }
        ProjectAssignments | MyProjectAssignments => {
            let u = match list {
                ProjectAssignments => parent_of(&ds.users, parent)?,
                _ => ds.me,
            };
            cx.serve(
                &ds.user_assignments,
                "project_assignments",
                if list == ProjectAssignments {
                    Cursor
                } else {
                    Page
                },
                |ua| ua.user == u && ua.is_active && since(ua.updated_at),
                |w, ix| records::project_assignment(w, ds, ix),
            )
        }
        Teammates => {
            let u = parent_of(&ds.users, parent)?;
            if !ds.users.get(u).access_roles.contains(&"manager") {
                return Err(ApiError::invalid(
                    "The user is not a manager and has no teammates.",
                ));
            }
            let uid = ds.users.get(u).id;
            cx.serve(
                &ds.users,
                "teammates",
                Cursor,
                |m| m.id != uid && m.access_roles == ["member"],
                |w, ix| records::teammate(w, ds, ix),
            )
        }
    }
}

/// The single-record endpoints (`/v2/{stream}/{id}`).
#[derive(Clone, Copy, Debug)]
pub enum One {
    Client,
    Contact,
    Invoice,
    InvoiceItemCategory,
    Estimate,
    EstimateItemCategory,
    Expense,
    ExpenseCategory,
    Task,
    TimeEntry,
    Project,
    UserAssignment,
    TaskAssignment,
    Role,
    User,
}

fn one_of<T: Row>(
    table: &Table<T>,
    id: i64,
    render: impl Fn(&mut Json, Ix),
) -> Result<Vec<u8>, ApiError> {
    let ix = table.find(id).ok_or(ApiError::NotFound)?;
    let mut w = Json::with_capacity(2048);
    with_overrides(&mut w, &table.overrides, ix, &render);
    Ok(w.buf)
}

/// Serves one record by id, or 404.
pub fn serve_one(app: &App, one: One, id: i64) -> Result<Vec<u8>, ApiError> {
    let ds = read(&app.data);
    let ds = &*ds;
    match one {
        One::Client => one_of(&ds.clients, id, |w, ix| records::client(w, ds, ix)),
        One::Contact => one_of(&ds.contacts, id, |w, ix| records::contact(w, ds, ix)),
        One::Invoice => one_of(&ds.invoices, id, |w, ix| records::invoice(w, ds, ix)),
        One::InvoiceItemCategory => one_of(&ds.invoice_item_categories, id, |w, ix| {
            records::invoice_item_category(w, ds, ix)
        }),
        One::Estimate => one_of(&ds.estimates, id, |w, ix| records::estimate(w, ds, ix)),
        One::EstimateItemCategory => one_of(&ds.estimate_item_categories, id, |w, ix| {
            records::estimate_item_category(w, ds, ix)
        }),
        One::Expense => one_of(&ds.expenses, id, |w, ix| records::expense(w, ds, ix)),
        One::ExpenseCategory => one_of(&ds.expense_categories, id, |w, ix| {
            records::expense_category(w, ds, ix)
        }),
        One::Task => one_of(&ds.tasks, id, |w, ix| records::task(w, ds, ix)),
        One::TimeEntry => one_of(&ds.time_entries, id, |w, ix| records::time_entry(w, ds, ix)),
        One::Project => one_of(&ds.projects, id, |w, ix| records::project(w, ds, ix)),
        One::UserAssignment => one_of(&ds.user_assignments, id, |w, ix| {
            records::user_assignment(w, ds, ix)
        }),
        One::TaskAssignment => one_of(&ds.task_assignments, id, |w, ix| {
            records::task_assignment(w, ds, ix)
        }),
        One::Role => one_of(&ds.roles, id, |w, ix| records::role(w, ds, ix)),
        One::User => one_of(&ds.users, id, |w, ix| records::user(w, ds, ix)),
    }
}

/// `/v2/company`.
pub fn company(app: &App) -> Vec<u8> {
    let ds = read(&app.data);
    let mut w = Json::with_capacity(1024);
    records::company(&mut w, &ds);
    w.buf
}

/// `/v2/users/me`.
pub fn me(app: &App) -> Vec<u8> {
    let ds = read(&app.data);
    let mut w = Json::with_capacity(1024);
    with_overrides(&mut w, &ds.users.overrides, ds.me, &|w, ix| {
        records::user_me(w, &ds, ix)
    });
    w.buf
}
