//! The control API under `/__emulator` (a prefix Harvest does not use): mutate records while a
//! sync runs or at a given request, read request counts and expected record counts, change
//! faults, limits, 403s and refresh token rotation.
//! Control requests are never rate limited, never faulted and never counted.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::error::{json_response, message_body};
use crate::api::query::Query;
use crate::config::{FaultKind, Faults, RateLimit};
use crate::data::mutate;
use crate::dataset_counts::{expected_counts, expected_counts_in_windows};
use crate::request_stats::RequestCounts;
use crate::scheduled::{Refusal, ScheduledDeletion};
use crate::state::{lock, read, write, App};

type Shared = Arc<App>;

fn invalid(message: &str) -> Response {
    json_response(StatusCode::UNPROCESSABLE_ENTITY, message_body(message))
}

/// The largest control request body: far above axum's 2 MB default, so that a record can be
/// given fields long enough to make a page larger than a client's body cap (a time entry's
/// notes of 40 MiB: two make a page over the connector's 64 MiB).
const MAX_CONTROL_BODY: usize = 256 << 20;

/// The control routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/__emulator/health",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/__emulator/records/{stream}", post(create))
        .route(
            "/__emulator/records/{stream}/{id}",
            axum::routing::patch(update).delete(delete),
        )
        .route("/__emulator/requests", get(requests).delete(reset_requests))
        .route("/__emulator/counts", get(counts))
        .route("/__emulator/faults", put(set_faults).get(get_faults))
        .route("/__emulator/limits", put(set_limits).get(get_limits))
        .route(
            "/__emulator/scheduled",
            post(schedule_deletion).get(scheduled_deletions),
        )
        .route("/__emulator/scheduled/refused", get(scheduled_refusals))
        .route("/__emulator/clock", get(clock).post(advance_clock))
        .route("/__emulator/oauth", get(oauth).put(set_oauth))
        .route(
            "/__emulator/forbidden",
            put(set_forbidden).get(get_forbidden),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_CONTROL_BODY))
}

async fn create(
    State(app): State<Shared>,
    Path(stream): Path<String>,
    body: Option<Json<Value>>,
) -> Response {
    let fields = body.map(|Json(v)| v).unwrap_or(Value::Null);
    match mutate::create(&mut write(&app.data), &stream, &fields) {
        Ok(v) => (StatusCode::CREATED, Json(v)).into_response(),
        Err(e) => invalid(&e),
    }
}

async fn update(
    State(app): State<Shared>,
    Path((stream, id)): Path<(String, i64)>,
    body: Option<Json<Value>>,
) -> Response {
    let fields = body.map(|Json(v)| v).unwrap_or(Value::Null);
    match mutate::update(&mut write(&app.data), &stream, id, &fields) {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => crate::api::error::not_found(),
        Err(e) => invalid(&e),
    }
}

/// `DELETE /__emulator/records/{stream}/{id}[?bump_parent=false]`: deletes as Harvest does and
/// answers `{"deleted": true, "cascade": {stream: [ids]}, "updated": {stream: [ids]}}`, what went
/// with the record and what dropped its reference to it; 422 with Harvest's message when Harvest
/// refuses (nothing deleted).
async fn delete(
    State(app): State<Shared>,
    Path((stream, id)): Path<(String, i64)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let bump = match Query::parse(raw.as_deref()).get("bump_parent") {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return invalid(&format!("bump_parent must be true or false, got {other:?}"))
        }
    };
    match mutate::delete(&mut write(&app.data), &stream, id, bump) {
        Ok(Some(done)) => Json(json!({
            "deleted": true,
            "cascade": done.cascade,
            "updated": done.updated,
        }))
        .into_response(),
        Ok(None) => crate::api::error::not_found(),
        Err(e) => invalid(&e),
    }
}

async fn requests(State(app): State<Shared>) -> Json<RequestCounts> {
    Json(lock(&app.stats).clone())
}

async fn reset_requests(State(app): State<Shared>) -> Json<Value> {
    *lock(&app.stats) = RequestCounts::default();
    Json(json!({ "reset": true }))
}

/// `GET /__emulator/counts[?from=YYYY-MM-DD&to=YYYY-MM-DD&window_days=365]`: with a range,
/// report streams count rows per window (see [`expected_counts_in_windows`]).
async fn counts(State(app): State<Shared>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    if q.get("from").is_none() && q.get("to").is_none() && q.get("window_days").is_none() {
        return Json(json!(expected_counts(&read(&app.data)))).into_response();
    }
    let day = |key: &str| {
        q.get(key)
            .and_then(crate::time::parse_date)
            .ok_or_else(|| format!("{key}: expected a YYYY-MM-DD date"))
    };
    let days = q
        .get("window_days")
        .map_or(Ok(365), str::parse::<i32>)
        .ok()
        .filter(|d| *d > 0)
        .ok_or_else(|| "window_days: expected a positive number of days".to_string());
    match (day("from"), day("to"), days) {
        (Ok(from), Ok(to), Ok(days)) => Json(json!(expected_counts_in_windows(
            &read(&app.data),
            from,
            to,
            days
        )))
        .into_response(),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => invalid(&e),
    }
}

/// A fault kind in JSON: `"500"` (weight 1) or `{"kind": "slow:250ms", "weight": 3}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum KindJson {
    Name(String),
    Weighted { kind: String, weight: u32 },
}

/// The body of `PUT /__emulator/faults`.
#[derive(Deserialize)]
struct FaultsJson {
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    rate: f64,
    #[serde(default)]
    kinds: Vec<KindJson>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    token_expires_after: Option<u64>,
}

fn faults_json(f: &Faults) -> Value {
    json!({
        "seed": f.seed,
        "rate": f.rate,
        "kinds": f.kinds.iter().map(|(k, w)| json!({ "kind": k.to_string(), "weight": w })).collect::<Vec<_>>(),
        "paths": f.paths,
        "token_expires_after": f.token_expires_after,
    })
}

async fn set_faults(State(app): State<Shared>, Json(body): Json<FaultsJson>) -> Response {
    let mut kinds = Vec::new();
    for k in body.kinds {
        let (name, weight) = match k {
            KindJson::Name(n) => (n, 1),
            KindJson::Weighted { kind, weight } => (kind, weight),
        };
        match name.parse::<FaultKind>() {
            Ok(kind) => kinds.push((kind, weight)),
            Err(e) => return invalid(&e),
        }
    }
    if !(0.0..=1.0).contains(&body.rate) {
        return invalid("rate must be between 0 and 1");
    }
    let faults = Faults {
        seed: body.seed,
        rate: body.rate,
        kinds,
        paths: body.paths,
        token_expires_after: body.token_expires_after,
    };
    let answer = faults_json(&faults);
    app.set_faults(faults);
    Json(answer).into_response()
}

async fn get_faults(State(app): State<Shared>) -> Json<Value> {
    Json(faults_json(lock(&app.faults).config()))
}

fn limit_json(l: Option<RateLimit>) -> Value {
    l.map_or(Value::Null, |l| json!(l.to_string()))
}

fn limits_json(app: &App) -> Value {
    let s = read(&app.settings);
    json!({ "general": limit_json(s.general_limit), "reports": limit_json(s.reports_limit) })
}

async fn set_limits(State(app): State<Shared>, Json(body): Json<Value>) -> Response {
    let parse = |key: &str, current: Option<RateLimit>| -> Result<Option<RateLimit>, String> {
        match body.get(key) {
            None => Ok(current),
            Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => s.parse().map(Some),
            Some(other) => Err(format!(
                "{key}: expected a string like \"100/15s\" or null, got {other}"
            )),
        }
    };
    let (general, reports) = {
        let s = read(&app.settings);
        (s.general_limit, s.reports_limit)
    };
    match (parse("general", general), parse("reports", reports)) {
        (Ok(g), Ok(r)) => {
            app.set_limits(g, r);
            Json(limits_json(&app)).into_response()
        }
        (Err(e), _) | (_, Err(e)) => invalid(&e),
    }
}

async fn get_limits(State(app): State<Shared>) -> Json<Value> {
    Json(limits_json(&app))
}

async fn set_forbidden(
    State(app): State<Shared>,
    Json(prefixes): Json<Vec<String>>,
) -> Json<Vec<String>> {
    write(&app.settings).forbidden = prefixes.clone();
    Json(prefixes)
}

async fn get_forbidden(State(app): State<Shared>) -> Json<Vec<String>> {
    Json(read(&app.settings).forbidden.clone())
}

async fn schedule_deletion(
    State(app): State<Shared>,
    Json(deletion): Json<ScheduledDeletion>,
) -> Response {
    if let Some(why) = deletion.invalid() {
        return invalid(&why);
    }
    let mut schedule = lock(&app.scheduled);
    schedule.push(deletion);
    (StatusCode::CREATED, Json(schedule.waiting().to_vec())).into_response()
}

async fn scheduled_deletions(State(app): State<Shared>) -> Json<Vec<ScheduledDeletion>> {
    Json(lock(&app.scheduled).waiting().to_vec())
}

/// `GET /__emulator/scheduled/refused`: the scheduled deletions of single records Harvest would
/// have refused, which were skipped, oldest first.
async fn scheduled_refusals(State(app): State<Shared>) -> Json<Vec<Refusal>> {
    Json(lock(&app.scheduled).refused().to_vec())
}

fn clock_json(app: &App) -> Json<Value> {
    Json(json!({ "now": app.clock.now_string() }))
}

async fn clock(State(app): State<Shared>) -> Json<Value> {
    clock_json(&app)
}

/// The body of `POST /__emulator/clock`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceJson {
    advance_seconds: i64,
}

/// `POST /__emulator/clock` `{"advance_seconds": N}`: moves the emulator's now by N seconds.
async fn advance_clock(State(app): State<Shared>, body: Option<Json<Value>>) -> Response {
    let parsed = body
        .ok_or_else(|| "expected a JSON body like {\"advance_seconds\": 3600}".to_string())
        .and_then(|Json(v)| {
            serde_json::from_value::<AdvanceJson>(v).map_err(|e| {
                format!("expected {{\"advance_seconds\": N}} with N a whole number of seconds: {e}")
            })
        });
    match parsed {
        Ok(a) => {
            app.clock.advance(a.advance_seconds);
            clock_json(&app).into_response()
        }
        Err(e) => invalid(&e),
    }
}

fn oauth_json(app: &App) -> Json<Value> {
    let rotate = read(&app.settings).rotate_refresh_tokens;
    Json(json!(lock(&app.tokens).refresh_tokens(rotate)))
}

/// `GET /__emulator/oauth`: `{"rotate_refresh_tokens", "refresh_token", "rotations"}`, the
/// refresh token the token endpoint accepts now.
async fn oauth(State(app): State<Shared>) -> Json<Value> {
    oauth_json(&app)
}

/// The body of `PUT /__emulator/oauth`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuthJson {
    rotate_refresh_tokens: bool,
}

/// `PUT /__emulator/oauth` `{"rotate_refresh_tokens": true}`: whether each refresh from now on
/// issues a new refresh token and revokes the one it was given.
async fn set_oauth(State(app): State<Shared>, body: Option<Json<Value>>) -> Response {
    let parsed = body
        .ok_or_else(|| "expected a JSON body like {\"rotate_refresh_tokens\": true}".to_string())
        .and_then(|Json(v)| {
            serde_json::from_value::<OAuthJson>(v)
                .map_err(|e| format!("expected {{\"rotate_refresh_tokens\": true|false}}: {e}"))
        });
    match parsed {
        Ok(o) => {
            write(&app.settings).rotate_refresh_tokens = o.rotate_refresh_tokens;
            oauth_json(&app).into_response()
        }
        Err(e) => invalid(&e),
    }
}
