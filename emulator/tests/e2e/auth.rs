//! Authentication and headers as Harvest does them: a bearer token plus `Harvest-Account-Id`
//! (or `access_token`/`account_id` in the query), 400 without a User-Agent, 401 with Harvest's
//! body, 403 for endpoints the token's role may not see, Harvest ID's OAuth token endpoint
//! (refresh_token grant, expiring access tokens, rotating refresh tokens) and accounts
//! endpoint, and a `Date` header on every response.

use crate::common;

use std::time::{Duration, SystemTime};

use harvest_emulator::{
    EmulatorConfig, FaultKind, Faults, RateLimit, Scale, ACCOUNT_ID, OAUTH_CLIENT_ID,
    OAUTH_CLIENT_SECRET, OAUTH_REFRESH_TOKEN, PERSONAL_ACCESS_TOKEN,
};
use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};

const INVALID_TOKEN_BODY: &str = r#"{"error":"invalid_token","error_description":"The access token provided is expired, revoked, malformed or invalid for other reasons."}"#;

fn assert_invalid_token(r: Response, what: &str) {
    assert_eq!(r.status(), 401, "{what}");
    let www = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        www.starts_with(
            "Bearer realm=\"Rack::OAuth2 Protected Resources\", error=\"invalid_token\""
        ),
        "{what}: {www}"
    );
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: Value = r.json().unwrap();
    assert_eq!(
        body,
        serde_json::from_str::<Value>(INVALID_TOKEN_BODY).unwrap(),
        "{what}"
    );
}

#[test]
fn header_and_query_string_credentials_both_work() {
    let emu = common::tiny();
    let c = common::client();
    let me = common::get_json(&c, &format!("{}/users/me", emu.api_url()));
    assert!(me["id"].is_i64());
    let r = c
        .get(format!(
            "{}/users/me?access_token={PERSONAL_ACCESS_TOKEN}&account_id={ACCOUNT_ID}",
            emu.api_url()
        ))
        .header("User-Agent", common::UA)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap(), me);
    // Either part may come from either place.
    let r = c
        .get(format!(
            "{}/users/me?account_id={ACCOUNT_ID}",
            emu.api_url()
        ))
        .header("User-Agent", common::UA)
        .bearer_auth(PERSONAL_ACCESS_TOKEN)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn a_request_without_user_agent_is_refused_with_400() {
    let emu = common::tiny();
    let c = Client::new();
    let r = c
        .get(format!("{}/users/me", emu.api_url()))
        .bearer_auth(PERSONAL_ACCESS_TOKEN)
        .header("Harvest-Account-Id", ACCOUNT_ID)
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().unwrap();
    assert!(body["message"].as_str().unwrap().contains("User-Agent"));
    // Checked before the token: a request with neither is a 400, not a 401.
    let r = c.get(format!("{}/clients", emu.api_url())).send().unwrap();
    assert_eq!(r.status(), 400);
}

#[test]
fn wrong_missing_or_mismatched_credentials_get_harvests_401() {
    let emu = common::tiny();
    let c = common::client();
    let url = format!("{}/time_entries", emu.api_url());
    assert_invalid_token(common::get_as(&c, &url, "1000001.pt.wrong"), "wrong token");
    let ua = |b: reqwest::blocking::RequestBuilder| b.header("User-Agent", common::UA);
    assert_invalid_token(
        ua(c.get(&url))
            .header("Harvest-Account-Id", ACCOUNT_ID)
            .send()
            .unwrap(),
        "no token",
    );
    assert_invalid_token(
        ua(c.get(&url))
            .bearer_auth(PERSONAL_ACCESS_TOKEN)
            .send()
            .unwrap(),
        "no account",
    );
    assert_invalid_token(
        ua(c.get(&url))
            .bearer_auth(PERSONAL_ACCESS_TOKEN)
            .header("Harvest-Account-Id", "999")
            .send()
            .unwrap(),
        "another account",
    );
    assert_eq!(emu.request_counts().status(401), 4);
}

#[test]
fn configured_endpoints_answer_403_as_for_a_non_admin_token() {
    let emu = common::start_with(EmulatorConfig {
        scale: Scale::Tiny,
        general_limit: None,
        reports_limit: None,
        forbidden: vec!["/v2/invoices".into(), "/v2/reports/time".into()],
        ..EmulatorConfig::default()
    });
    let c = common::client();
    let api = emu.api_url();
    for path in [
        "invoices",
        "invoices/1/messages",
        "reports/time/team?from=2026-01-01&to=2026-06-30",
    ] {
        let r = common::get(&c, &format!("{api}/{path}"));
        assert_eq!(r.status(), 403, "{path}");
        assert_eq!(
            r.json::<Value>().unwrap(),
            json!({ "message": "Not authorized!" })
        );
    }
    for path in [
        "clients",
        "invoice_item_categories",
        "reports/expenses/team?from=2026-01-01&to=2026-06-30",
    ] {
        assert_eq!(common::status(&c, &format!("{api}/{path}")), 200, "{path}");
    }
    // A bad token is still a 401 on a forbidden path: authentication comes first.
    assert_eq!(
        common::get_as(&c, &format!("{api}/invoices"), "nope").status(),
        401
    );
}

#[test]
fn the_token_endpoint_refreshes_into_working_access_tokens() {
    let emu = common::start_with(EmulatorConfig {
        scale: Scale::Tiny,
        general_limit: None,
        reports_limit: None,
        access_token_ttl: Duration::from_secs(3600),
        ..EmulatorConfig::default()
    });
    let c = common::client();
    let r = common::refresh(
        &c,
        &emu.oauth_token_url(),
        OAUTH_CLIENT_SECRET,
        OAUTH_REFRESH_TOKEN,
    );
    assert_eq!(r.status(), 200);
    let t: Value = r.json().unwrap();
    assert_eq!(t["token_type"], "bearer");
    assert_eq!(t["expires_in"], 3600);
    assert_eq!(t["refresh_token"], OAUTH_REFRESH_TOKEN);
    let token = t["access_token"].as_str().unwrap().to_string();
    let url = format!("{}/users/me", emu.api_url());
    assert_eq!(common::get_as(&c, &url, &token).status(), 200);
    // Every refresh issues a new token; the older one keeps working until it expires.
    let again: Value = common::refreshed(&c, &emu.oauth_token_url());
    assert_ne!(again["access_token"], t["access_token"]);
    assert_eq!(common::get_as(&c, &url, &token).status(), 200);
    // JSON bodies are accepted too.
    let r = c
        .post(emu.oauth_token_url())
        .header("User-Agent", common::UA)
        .json(&json!({
            "grant_type": "refresh_token",
            "refresh_token": OAUTH_REFRESH_TOKEN,
            "client_id": OAUTH_CLIENT_ID,
            "client_secret": OAUTH_CLIENT_SECRET,
        }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // OAuth errors use the standard body.
    let r = common::refresh(
        &c,
        &emu.oauth_token_url(),
        "wrong-secret",
        OAUTH_REFRESH_TOKEN,
    );
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().unwrap()["error"], "invalid_client");
    let r = common::refresh(
        &c,
        &emu.oauth_token_url(),
        OAUTH_CLIENT_SECRET,
        "stale-refresh-token",
    );
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().unwrap()["error"], "invalid_grant");
    let r = c
        .post(emu.oauth_token_url())
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().unwrap()["error"],
        "unsupported_grant_type"
    );
}

#[test]
fn rotating_refresh_tokens_revokes_each_one_once_used() {
    let emu = common::start_with(EmulatorConfig {
        scale: Scale::Tiny,
        general_limit: None,
        reports_limit: None,
        rotate_refresh_tokens: true,
        ..EmulatorConfig::default()
    });
    let c = common::client();
    let url = format!("{}/users/me", emu.api_url());
    let first: Value = common::refreshed(&c, &emu.oauth_token_url());
    let rotated = first["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(
        rotated, OAUTH_REFRESH_TOKEN,
        "a new refresh token comes with the access token"
    );
    assert_eq!(
        emu.refresh_tokens(),
        harvest_emulator::RefreshTokens {
            rotate_refresh_tokens: true,
            refresh_token: rotated.clone(),
            rotations: 1,
        }
    );
    // The one it replaced is revoked, with the body an OAuth server gives a dead grant.
    let r = common::refresh(
        &c,
        &emu.oauth_token_url(),
        OAUTH_CLIENT_SECRET,
        OAUTH_REFRESH_TOKEN,
    );
    assert_eq!(r.status(), 400);
    let body: Value = r.json().unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("revoked"));
    // The new one works once, and is replaced in turn; access tokens live until they expire.
    let second: Value = common::refresh(&c, &emu.oauth_token_url(), OAUTH_CLIENT_SECRET, &rotated)
        .json()
        .unwrap();
    let newest = second["refresh_token"].as_str().unwrap();
    assert_ne!(newest, rotated);
    assert_eq!(emu.refresh_tokens().refresh_token, newest);
    for t in [&first, &second] {
        let token = t["access_token"].as_str().unwrap();
        assert_eq!(common::get_as(&c, &url, token).status(), 200);
    }
    let r = common::refresh(&c, &emu.oauth_token_url(), OAUTH_CLIENT_SECRET, &rotated);
    assert_eq!(r.status(), 400, "a rotated token is refused once replaced");
    // The control API shows and switches rotation; switched off, the token stays as it is.
    let control = format!("{}/oauth", emu.control_url());
    let (status, shown) = common::control(&c, "GET", &control, None);
    assert_eq!(status, 200);
    assert_eq!(shown["refresh_token"], newest);
    assert_eq!(shown["rotations"], 2);
    let (status, _) = common::control(
        &c,
        "PUT",
        &control,
        Some(json!({"rotate_refresh_tokens": false})),
    );
    assert_eq!(status, 200);
    let kept: Value = common::refresh(&c, &emu.oauth_token_url(), OAUTH_CLIENT_SECRET, newest)
        .json()
        .unwrap();
    assert_eq!(kept["refresh_token"], newest);
    assert_eq!(emu.refresh_tokens().rotations, 2);
    let (status, _) = common::control(&c, "PUT", &control, Some(json!({"rotate": true})));
    assert_eq!(status, 422, "an unknown field changes nothing");
    assert!(!emu.refresh_tokens().rotate_refresh_tokens);
}

#[test]
fn an_expired_access_token_gets_harvests_401() {
    // A zero lifetime makes every issued token expired at once: no waiting on the clock.
    let emu = common::start_with(EmulatorConfig {
        scale: Scale::Tiny,
        general_limit: None,
        reports_limit: None,
        access_token_ttl: Duration::ZERO,
        ..EmulatorConfig::default()
    });
    let c = common::client();
    let t: Value = common::refreshed(&c, &emu.oauth_token_url());
    assert_eq!(t["expires_in"], 0);
    let token = t["access_token"].as_str().unwrap();
    assert_invalid_token(
        common::get_as(&c, &format!("{}/users/me", emu.api_url()), token),
        "expired token",
    );
    let r = common::get_accounts(&c, &emu, token);
    assert_invalid_token(r, "expired token on accounts");
}

#[test]
fn the_accounts_endpoint_lists_the_tokens_user_and_accounts() {
    let emu = common::tiny();
    let c = common::client();
    let me = common::get_json(&c, &format!("{}/users/me", emu.api_url()));
    // No account header: Harvest ID is not per account.
    let r = common::get_accounts(&c, &emu, PERSONAL_ACCESS_TOKEN);
    assert_eq!(r.status(), 200);
    let body: Value = r.json().unwrap();
    for k in ["id", "first_name", "last_name", "email"] {
        assert_eq!(body["user"][k], me[k], "user.{k}");
    }
    let accounts = body["accounts"].as_array().unwrap();
    let harvest: Vec<&Value> = accounts
        .iter()
        .filter(|a| a["product"] == "harvest")
        .collect();
    assert_eq!(harvest.len(), 1);
    assert_eq!(harvest[0]["id"].to_string(), ACCOUNT_ID);
    // Harvest ID lives beside the API under its own base path, so a client can target both.
    assert!(emu.accounts_url().ends_with("/id/api/v2/accounts"));
    assert!(emu.oauth_token_url().ends_with("/id/api/v2/oauth2/token"));
    let r = c
        .get(emu.accounts_url())
        .bearer_auth(PERSONAL_ACCESS_TOKEN)
        .send()
        .unwrap();
    assert_eq!(r.status(), 400, "User-Agent is required here too");
    let r = common::get_accounts(&c, &emu, "wrong");
    assert_invalid_token(r, "accounts with a wrong token");
}

/// Asserts `r` has a `Date` header within the second the request was made in.
fn assert_dated(r: &Response, before: SystemTime, what: &str) {
    let after = SystemTime::now();
    let date = r
        .headers()
        .get("date")
        .unwrap_or_else(|| panic!("{what}: no Date header"));
    let t = httpdate::parse_http_date(date.to_str().unwrap()).unwrap();
    // HTTP dates have whole seconds: compare against `before` rounded down.
    let floor = httpdate::parse_http_date(&httpdate::fmt_http_date(before)).unwrap();
    assert!(floor <= t && t <= after, "{what}: Date {date:?}");
}

#[test]
fn every_response_has_a_date_header() {
    let emu = common::start_with(EmulatorConfig {
        scale: Scale::Tiny,
        general_limit: Some(RateLimit {
            requests: 1,
            window: Duration::from_secs(600),
        }),
        reports_limit: None,
        forbidden: vec!["/v2/roles".into()],
        faults: Faults {
            paths: vec!["/v2/tasks".into()],
            ..Faults::mix(1, 1.0, &[FaultKind::Status503])
        },
        ..EmulatorConfig::default()
    });
    let c = common::client();
    let api = emu.api_url();
    let send = |b: reqwest::blocking::RequestBuilder, what: &str, status: u16| {
        let before = SystemTime::now();
        let r = b.send().unwrap();
        assert_eq!(r.status(), status, "{what}");
        assert_dated(&r, before, what);
    };
    let harvest = |url: String| {
        c.get(url)
            .header("User-Agent", common::UA)
            .bearer_auth(PERSONAL_ACCESS_TOKEN)
            .header("Harvest-Account-Id", ACCOUNT_ID)
    };
    send(harvest(format!("{api}/users/me")), "200", 200);
    send(harvest(format!("{api}/users/me")), "429", 429);
    emu.set_limits(None, None);
    send(harvest(format!("{api}/clients/1")), "404", 404);
    send(harvest(format!("{api}/no/such/route")), "404 route", 404);
    send(harvest(format!("{api}/clients?per_page=5000")), "422", 422);
    send(harvest(format!("{api}/roles")), "403", 403);
    send(harvest(format!("{api}/tasks")), "503", 503);
    send(c.get(format!("{api}/users/me")), "400", 400);
    send(
        c.get(format!("{api}/users/me"))
            .header("User-Agent", common::UA),
        "401",
        401,
    );
    send(
        c.post(emu.oauth_token_url())
            .form(&[("grant_type", "refresh_token")]),
        "oauth",
        401,
    );
    send(
        c.get(emu.accounts_url())
            .header("User-Agent", common::UA)
            .bearer_auth(PERSONAL_ACCESS_TOKEN),
        "accounts",
        200,
    );
    send(
        c.get(format!("{}/health", emu.control_url())),
        "control",
        200,
    );
    send(
        harvest(format!(
            "{api}/reports/time/team?from=2026-01-01&to=2026-06-30"
        )),
        "report",
        200,
    );
}
