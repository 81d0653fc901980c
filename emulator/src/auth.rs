//! Authentication as Harvest does it: a personal access token or an OAuth access token, with the
//! account named by header or query string; the OAuth token endpoint (refresh_token grant) and the
//! accounts endpoint of Harvest ID.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::api::error::{json_response, message_body};
use crate::api::query::Query;
use crate::state::{lock, read, App};
use crate::{
    ACCOUNT_ID, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAUTH_REFRESH_TOKEN, PERSONAL_ACCESS_TOKEN,
};

/// Issued OAuth access tokens and per-token use counts (for expiring tokens).
#[derive(Default)]
pub struct Tokens {
    issued: HashMap<String, Instant>,
    uses: HashMap<String, u64>,
    counter: u64,
}

impl Tokens {
    /// Issues a fresh access token valid for `ttl`.
    pub fn issue(&mut self, ttl: Duration) -> String {
        self.counter += 1;
        let token = format!("emulator-access-token-{}", self.counter);
        self.issued.insert(token.clone(), Instant::now() + ttl);
        token
    }

    /// Whether `token` is valid now; counts one use of it. After `expires_after` uses a token
    /// stops working, as a token expiring mid-sync would.
    pub fn accept(&mut self, token: &str, expires_after: Option<u64>) -> bool {
        let known = token == PERSONAL_ACCESS_TOKEN
            || self
                .issued
                .get(token)
                .is_some_and(|&expiry| Instant::now() < expiry);
        if !known {
            return false;
        }
        let uses = self.uses.entry(token.to_string()).or_default();
        *uses += 1;
        expires_after.is_none_or(|n| *uses <= n)
    }

    /// Whether `token` is known and unexpired, without counting a use.
    pub fn is_valid(&self, token: &str) -> bool {
        token == PERSONAL_ACCESS_TOKEN
            || self
                .issued
                .get(token)
                .is_some_and(|&expiry| Instant::now() < expiry)
    }

    /// Restarts every token's use budget.
    pub fn reset_uses(&mut self) {
        self.uses.clear();
    }
}

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

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = serde_json::to_vec(&json!({ "error": error, "error_description": description }))
        .unwrap_or_default();
    json_response(status, body)
}

/// `POST /id/api/v2/oauth2/token`: the refresh_token grant, form-encoded or JSON.
pub async fn token_endpoint(
    State(app): State<Arc<App>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let mut params: HashMap<String, String> = Query::parse(raw.as_deref())
        .link_params()
        .into_iter()
        .collect();
    if is_json {
        match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body) {
            Ok(map) => {
                for (k, v) in map {
                    let v = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    params.insert(k, v);
                }
            }
            Err(_) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The request body is not valid JSON.",
                )
            }
        }
    } else {
        params.extend(url::form_urlencoded::parse(&body).into_owned());
    }
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    match get("grant_type") {
        "" => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The grant_type parameter is missing.",
            )
        }
        "refresh_token" => {}
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
            )
        }
    }
    if get("client_id") != OAUTH_CLIENT_ID || get("client_secret") != OAUTH_CLIENT_SECRET {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.",
        );
    }
    if get("refresh_token") != OAUTH_REFRESH_TOKEN {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.",
        );
    }
    let ttl = read(&app.settings).access_token_ttl;
    let token = lock(&app.tokens).issue(ttl);
    let body = serde_json::to_vec(&json!({
        "access_token": token,
        "refresh_token": OAUTH_REFRESH_TOKEN,
        "token_type": "bearer",
        "expires_in": ttl.as_secs(),
    }))
    .unwrap_or_default();
    json_response(StatusCode::OK, body)
}

/// `GET /id/api/v2/accounts`: the token's user and the accounts it reaches.
pub async fn accounts_endpoint(
    State(app): State<Arc<App>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    if !has_user_agent(&headers) {
        return missing_user_agent();
    }
    let (token, _) = credentials(&headers, &Query::parse(raw.as_deref()));
    if !token.is_some_and(|t| lock(&app.tokens).is_valid(&t)) {
        return invalid_token();
    }
    let ds = read(&app.data);
    let me = ds.users.get(ds.me);
    let body = json!({
        "user": {
            "id": me.id,
            "first_name": me.first_name,
            "last_name": me.last_name,
            "email": me.email,
        },
        "accounts": [
            { "id": ACCOUNT_ID.parse::<i64>().unwrap_or_default(), "name": ds.company.name, "product": "harvest" },
            { "id": 2000002, "name": ds.company.name, "product": "forecast" },
        ],
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}
