//! Harvest ID's endpoints: the OAuth token endpoint (refresh_token grant, rotating the refresh
//! token when set to) and the accounts a token reaches.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::api::error::json_response;
use crate::api::query::Query;
use crate::auth::{credentials, has_user_agent, invalid_token, missing_user_agent};
use crate::credentials::{ACCOUNT_ID, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET};
use crate::state::{lock, read, App};

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
    // One lock for the check and the rotation: of two refreshes racing with the same refresh
    // token, only the first gets a new one, as at a server that revokes on use.
    let rotate = read(&app.settings).rotate_refresh_tokens;
    let ttl = read(&app.settings).access_token_ttl;
    let mut tokens = lock(&app.tokens);
    if !tokens.is_refresh_token(get("refresh_token")) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.",
        );
    }
    let token = tokens.issue(ttl, app.clock.now_instant());
    let refresh_token = tokens.refresh_token_after_refresh(rotate);
    drop(tokens);
    let body = serde_json::to_vec(&json!({
        "access_token": token,
        "refresh_token": refresh_token,
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
    if !token.is_some_and(|t| lock(&app.tokens).is_valid(&t, app.clock.now_instant())) {
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
