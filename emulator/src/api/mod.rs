//! The Harvest API v2 routes (`/v2/...`).

pub mod error;
pub mod lists;
pub mod paginate;
pub mod query;
pub mod reports;

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, MethodRouter};
use axum::Router;

use error::{json_response, ApiError};
use lists::{List, One};
use paginate::Origin;
use query::Query;
use reports::Report;

use crate::state::App;

type Shared = Arc<App>;

fn origin(headers: &HeaderMap, path: &str, app: &App) -> Origin {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| app.local_addr.to_string());
    Origin {
        base: format!("http://{host}"),
        path: path.to_string(),
    }
}

fn answer(result: Result<Vec<u8>, ApiError>) -> Response {
    match result {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => axum::response::IntoResponse::into_response(e),
    }
}

fn list(list: List) -> MethodRouter<Shared> {
    get(
        move |State(app): State<Shared>,
              uri: axum::http::Uri,
              RawQuery(raw): RawQuery,
              headers: HeaderMap| async move {
            let q = Query::parse(raw.as_deref());
            answer(lists::serve(
                &app,
                list,
                None,
                &q,
                &origin(&headers, uri.path(), &app),
            ))
        },
    )
}

fn nested(list: List) -> MethodRouter<Shared> {
    get(
        move |State(app): State<Shared>,
              Path(id): Path<String>,
              uri: axum::http::Uri,
              RawQuery(raw): RawQuery,
              headers: HeaderMap| async move {
            let Ok(id) = id.parse::<i64>() else {
                return error::not_found();
            };
            let q = Query::parse(raw.as_deref());
            answer(lists::serve(
                &app,
                list,
                Some(id),
                &q,
                &origin(&headers, uri.path(), &app),
            ))
        },
    )
}

fn one(one: One) -> MethodRouter<Shared> {
    get(
        move |State(app): State<Shared>, Path(id): Path<String>| async move {
            match id.parse::<i64>() {
                Ok(id) => answer(lists::serve_one(&app, one, id)),
                Err(_) => error::not_found(),
            }
        },
    )
}

fn report(report: Report) -> MethodRouter<Shared> {
    get(
        move |State(app): State<Shared>,
              uri: axum::http::Uri,
              RawQuery(raw): RawQuery,
              headers: HeaderMap| async move {
            let q = Query::parse(raw.as_deref());
            answer(reports::serve(
                &app,
                report,
                &q,
                &origin(&headers, uri.path(), &app),
            ))
        },
    )
}

/// All `/v2` routes. Path parameters are all named `{id}` so request counts read as
/// `/v2/invoices/{id}/messages`.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/v2/company",
            get(|State(app): State<Shared>| async move {
                json_response(StatusCode::OK, lists::company(&app))
            }),
        )
        .route(
            "/v2/users/me",
            get(|State(app): State<Shared>| async move {
                json_response(StatusCode::OK, lists::me(&app))
            }),
        )
        .route(
            "/v2/users/me/project_assignments",
            list(List::MyProjectAssignments),
        )
        .route("/v2/users", list(List::Users))
        .route("/v2/users/{id}", one(One::User))
        .route("/v2/users/{id}/billable_rates", nested(List::BillableRates))
        .route("/v2/users/{id}/cost_rates", nested(List::CostRates))
        .route(
            "/v2/users/{id}/project_assignments",
            nested(List::ProjectAssignments),
        )
        .route("/v2/users/{id}/teammates", nested(List::Teammates))
        .route("/v2/clients", list(List::Clients))
        .route("/v2/clients/{id}", one(One::Client))
        .route("/v2/contacts", list(List::Contacts))
        .route("/v2/contacts/{id}", one(One::Contact))
        .route("/v2/invoices", list(List::Invoices))
        .route("/v2/invoices/{id}", one(One::Invoice))
        .route("/v2/invoices/{id}/messages", nested(List::InvoiceMessages))
        .route("/v2/invoices/{id}/payments", nested(List::InvoicePayments))
        .route(
            "/v2/invoice_item_categories",
            list(List::InvoiceItemCategories),
        )
        .route(
            "/v2/invoice_item_categories/{id}",
            one(One::InvoiceItemCategory),
        )
        .route("/v2/estimates", list(List::Estimates))
        .route("/v2/estimates/{id}", one(One::Estimate))
        .route(
            "/v2/estimates/{id}/messages",
            nested(List::EstimateMessages),
        )
        .route(
            "/v2/estimate_item_categories",
            list(List::EstimateItemCategories),
        )
        .route(
            "/v2/estimate_item_categories/{id}",
            one(One::EstimateItemCategory),
        )
        .route("/v2/expenses", list(List::Expenses))
        .route("/v2/expenses/{id}", one(One::Expense))
        .route("/v2/expense_categories", list(List::ExpenseCategories))
        .route("/v2/expense_categories/{id}", one(One::ExpenseCategory))
        .route("/v2/tasks", list(List::Tasks))
        .route("/v2/tasks/{id}", one(One::Task))
        .route("/v2/time_entries", list(List::TimeEntries))
        .route("/v2/time_entries/{id}", one(One::TimeEntry))
        .route("/v2/projects", list(List::Projects))
        .route("/v2/projects/{id}", one(One::Project))
        .route(
            "/v2/projects/{id}/user_assignments",
            nested(List::ProjectUserAssignments),
        )
        .route(
            "/v2/projects/{id}/task_assignments",
            nested(List::ProjectTaskAssignments),
        )
        .route("/v2/user_assignments", list(List::UserAssignments))
        .route("/v2/user_assignments/{id}", one(One::UserAssignment))
        .route("/v2/task_assignments", list(List::TaskAssignments))
        .route("/v2/task_assignments/{id}", one(One::TaskAssignment))
        .route("/v2/roles", list(List::Roles))
        .route("/v2/roles/{id}", one(One::Role))
        .route("/v2/reports/time/clients", report(Report::TimeClients))
        .route("/v2/reports/time/projects", report(Report::TimeProjects))
        .route("/v2/reports/time/tasks", report(Report::TimeTasks))
        .route("/v2/reports/time/team", report(Report::TimeTeam))
        .route(
            "/v2/reports/expenses/clients",
            report(Report::ExpenseClients),
        )
        .route(
            "/v2/reports/expenses/projects",
            report(Report::ExpenseProjects),
        )
        .route(
            "/v2/reports/expenses/categories",
            report(Report::ExpenseCategories),
        )
        .route("/v2/reports/expenses/team", report(Report::ExpenseTeam))
        .route("/v2/reports/uninvoiced", report(Report::Uninvoiced))
        .route("/v2/reports/project_budget", report(Report::ProjectBudget))
}
