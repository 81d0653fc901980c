//! What stands in front of every `/v2` handler, in Harvest's order: User-Agent (400), token and
//! account (401), rate limit (429), role (403); then injected faults. Also the layers every
//! response passes: the `Date` header and request counting.

use std::sync::Arc;
use std::time::Instant;

use axum::body::to_bytes;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::api::error::html;
use crate::api::query::Query;
use crate::auth;
use crate::config::{FaultKind, STALL_LIMIT};
use crate::data::mutate;
use crate::faults;
use crate::limits::{retry_after_secs, Bucket};
use crate::net::Conn;
use crate::scheduled::Refusal;
use crate::state::{lock, read, write, App};

/// Marks a response that was never sent because its connection was reset.
#[derive(Clone, Copy)]
struct WasReset;

/// Counts a hang-up if dropped while armed: the request's future went away before its stall
/// ended, because its client closed the connection.
struct HangupWatch {
    app: Arc<App>,
    armed: bool,
}

impl Drop for HangupWatch {
    fn drop(&mut self) {
        if self.armed {
            lock(&self.app.stats).hangups += 1;
        }
    }
}

/// The `/v2` gate: auth, limits, 403s and faults.
pub async fn api(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    if !auth::has_user_agent(headers) {
        return auth::missing_user_agent();
    }
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let query = Query::parse(Some(&raw_query));
    let (token, account) = auth::credentials(headers, &query);
    let expires_after = lock(&app.faults).config().token_expires_after;
    let Some(token) = token.filter(|t| {
        auth::account_ok(account.as_deref())
            && lock(&app.tokens).accept(t, expires_after, app.clock.now_instant())
    }) else {
        return auth::invalid_token();
    };
    let bucket = Bucket::of(&path);
    let (limit, forbidden) = {
        let s = read(&app.settings);
        let limit = match bucket {
            Bucket::General => s.general_limit,
            Bucket::Reports => s.reports_limit,
        };
        (
            limit,
            s.forbidden.iter().any(|p| path.starts_with(p.as_str())),
        )
    };
    if let Some(limit) = limit {
        let key = (token, account.unwrap_or_default(), bucket);
        if let Err(wait) = lock(&app.limiter).admit(key, limit, Instant::now()) {
            return faults::too_many_requests(retry_after_secs(wait));
        }
    }
    if forbidden {
        return auth::forbidden();
    }
    apply_scheduled(&app, &path);

    let fault = lock(&app.faults).draw(req.method().as_str(), &path, &raw_query);
    let Some(fault) = fault else {
        return next.run(req).await;
    };
    let count = |app: &App, kind: &FaultKind| lock(&app.stats).record_fault(&kind.to_string());
    if let Some(resp) = faults::status_response(&fault) {
        count(&app, &fault);
        return resp;
    }
    if fault == FaultKind::Stall {
        count(&app, &fault);
        // The server drops this future when the client closes the connection; the watch counts
        // that, so a test can tell a client that gave up from one that waited.
        let mut watch = HangupWatch {
            app: app.clone(),
            armed: true,
        };
        tokio::time::sleep(STALL_LIMIT).await;
        watch.armed = false;
        return next.run(req).await;
    }
    if let Some(d) = faults::delay(&fault) {
        count(&app, &fault);
        tokio::time::sleep(d).await;
        return next.run(req).await;
    }
    if fault == FaultKind::ConnectionReset {
        if let Some(ConnectInfo(conn)) = req.extensions().get::<ConnectInfo<Conn>>() {
            count(&app, &fault);
            conn.reset();
            let mut resp = html(StatusCode::INTERNAL_SERVER_ERROR, "");
            resp.extensions_mut().insert(WasReset);
            return resp;
        }
        return next.run(req).await;
    }

    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let port = host
        .rsplit_once(':')
        .map(|(_, p)| p.to_string())
        .unwrap_or_default();
    let suffix = if raw_query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{raw_query}")
    };
    let self_url = format!("http://{host}{suffix}");
    let foreign_url = format!("http://127.0.0.2:{port}{suffix}");
    let resp = next.run(req).await;
    if resp.status() != StatusCode::OK {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        return Response::from_parts(parts, axum::body::Body::empty());
    };
    match faults::corrupt(&fault, parts.status, &bytes, &self_url, &foreign_url) {
        Some(corrupted) => {
            count(&app, &fault);
            corrupted
        }
        None => Response::from_parts(parts, axum::body::Body::from(bytes)),
    }
}

/// Carries out the scheduled deletions due at this request to `path` (one that passed auth,
/// limits and 403s, before any injected fault), before it is answered. The schedule stays locked
/// until they are done, so a concurrent request to the same path waits for all of a deletion or
/// sees none of it. Each id goes through the control API's rules; one Harvest would refuse is
/// skipped (the others still go) and kept in the schedule's refusals.
fn apply_scheduled(app: &App, path: &str) {
    let mut schedule = lock(&app.scheduled);
    let due = schedule.due(path);
    if due.is_empty() {
        return;
    }
    let mut ds = write(&app.data);
    for deletion in due {
        for &id in &deletion.ids {
            // The stream was validated when scheduled, so an error is Harvest's refusal; an id
            // deleted meanwhile (`Ok(None)`) is simply gone already.
            if let Err(message) = mutate::delete(&mut ds, &deletion.stream, id, true) {
                schedule.refuse(Refusal {
                    stream: deletion.stream.clone(),
                    id,
                    message,
                });
            }
        }
    }
}

/// Counts every non-control request by route template and status.
pub async fn count(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let template = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "(no route)".to_string());
    let resp = next.run(req).await;
    let status = resp
        .extensions()
        .get::<WasReset>()
        .is_none()
        .then(|| resp.status().as_u16());
    lock(&app.stats).record(&template, status);
    resp
}

/// Adds the RFC 7231 `Date` header from the emulator's clock (the connector's incremental
/// watermark reads it), unless turned off ([`crate::Emulator::set_date_header`]).
pub async fn date(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    if !read(&app.settings).date_header {
        return resp;
    }
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(app.clock.now_system())) {
        resp.headers_mut().insert(header::DATE, v);
    }
    resp
}
