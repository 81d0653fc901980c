//! Authentication as Harvest does it: a personal access token or an OAuth access token, with the
//! account named by header or query string; and the 400, 401 and 403 answers the gate gives.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::json;

use crate::api::error::{json_response, message_body};
use crate::api::query::Query;
use crate::credentials::ACCOUNT_ID;

/// The token and account a request presents (header first, then query string).
pub fn credentials(headers: &HeaderMap, query: &Query) -> (Option<String>, Option<String>) {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string())
        .or_else(|| query.get("access_token").map(str::to_string));
    let account = headers
        .get("harvest-account-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .or_else(|| query.get("account_id").map(str::to_string));
    (token, account)
}

/// Whether the request names the emulated account.
pub fn account_ok(account: Option<&str>) -> bool {
    account == Some(ACCOUNT_ID)
}

/// Whether a `User-Agent` is present (Harvest answers 400 without one).
pub fn has_user_agent(headers: &HeaderMap) -> bool {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().is_empty())
}

/// 400 for a request without `User-Agent`.
pub fn missing_user_agent() -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        message_body("A User-Agent header is required. Please include the name of your application and a contact email or URL."),
    )
}

const INVALID_TOKEN: &str =
    "The access token provided is expired, revoked, malformed or invalid for other reasons.";

/// 401 with Harvest's body and `WWW-Authenticate` header.
pub fn invalid_token() -> Response {
    let body = serde_json::to_vec(&json!({
        "error": "invalid_token",
        "error_description": INVALID_TOKEN,
    }))
    .unwrap_or_default();
    let mut resp = json_response(StatusCode::UNAUTHORIZED, body);
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(
            "Bearer realm=\"Rack::OAuth2 Protected Resources\", error=\"invalid_token\", error_description=\"The access token provided is expired, revoked, malformed or invalid for other reasons.\"",
        ),
    );
    resp
}

/// 403 for a role that may not see an endpoint.
pub fn forbidden() -> Response {
    json_response(StatusCode::FORBIDDEN, message_body("Not authorized!"))
}
