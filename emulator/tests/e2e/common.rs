//! Helpers shared by the emulator's integration tests: a client with Harvest's headers and
//! walkers that follow `links.next` to the end.

use std::collections::BTreeSet;
use std::time::Duration;

use harvest_emulator::{
    Emulator, EmulatorConfig, Scale, ACCOUNT_ID, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET,
    OAUTH_REFRESH_TOKEN, PERSONAL_ACCESS_TOKEN,
};
use reqwest::blocking::{Client, Response};
use serde_json::Value;

/// The User-Agent the tests send (Harvest wants an app name and a contact).
pub const UA: &str = "emulator-tests (tests@example.com)";

/// An emulator on the Tiny dataset without rate limits.
pub fn tiny() -> Emulator {
    start(Scale::Tiny)
}

/// An emulator without rate limits.
pub fn start(scale: Scale) -> Emulator {
    start_with(EmulatorConfig {
        scale,
        general_limit: None,
        reports_limit: None,
        ..EmulatorConfig::default()
    })
}

/// An emulator with exactly this configuration.
pub fn start_with(config: EmulatorConfig) -> Emulator {
    Emulator::start(config).expect("emulator starts")
}

/// A blocking HTTP client.
pub fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// GET with the PAT, account header and a User-Agent.
pub fn get(c: &Client, url: &str) -> Response {
    get_as(c, url, PERSONAL_ACCESS_TOKEN)
}

/// GET with the given bearer token, the account header and a User-Agent.
pub fn get_as(c: &Client, url: &str, token: &str) -> Response {
    c.get(url)
        .header("User-Agent", UA)
        .bearer_auth(token)
        .header("Harvest-Account-Id", ACCOUNT_ID)
        .send()
        .expect("request succeeds")
}

/// GET on Harvest ID's accounts endpoint with the given bearer token and a User-Agent (no
/// account header: Harvest ID is not per account).
pub fn get_accounts(c: &Client, emu: &Emulator, token: &str) -> Response {
    c.get(emu.accounts_url())
        .header("User-Agent", UA)
        .bearer_auth(token)
        .send()
        .expect("request succeeds")
}

/// POSTs the refresh_token grant to the OAuth token endpoint at `token_url`, form-encoded as
/// most clients send it, with the emulator's client id, the given client secret and refresh
/// token, and a User-Agent. Returns the response as it is, whatever its status.
pub fn refresh(c: &Client, token_url: &str, secret: &str, refresh_token: &str) -> Response {
    c.post(token_url)
        .header("User-Agent", UA)
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", OAUTH_CLIENT_ID),
            ("client_secret", secret),
        ])
        .send()
        .expect("request succeeds")
}

/// The parsed body of a [`refresh`] with the emulator's own client secret and refresh token:
/// the token response, from which `access_token` is taken. The status is not checked.
pub fn refreshed(c: &Client, token_url: &str) -> Value {
    refresh(c, token_url, OAUTH_CLIENT_SECRET, OAUTH_REFRESH_TOKEN)
        .json()
        .expect("JSON body")
}

/// The status of a GET with Harvest's headers (the body is read and dropped).
pub fn status(c: &Client, url: &str) -> u16 {
    let r = get(c, url);
    let s = r.status().as_u16();
    let _ = r.bytes();
    s
}

/// GET and parse a 200 JSON body.
pub fn get_json(c: &Client, url: &str) -> Value {
    let r = get(c, url);
    let status = r.status();
    let body = r.text().expect("body");
    assert_eq!(status, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: bad JSON {e}: {body}"))
}

/// Follows `links.next` from `url`; returns every record and the number of pages.
pub fn walk(c: &Client, url: &str, key: &str) -> (Vec<Value>, usize) {
    let mut records = Vec::new();
    let mut next = Some(url.to_string());
    let mut pages = 0;
    while let Some(u) = next {
        let page = get_json(c, &u);
        pages += 1;
        assert!(pages < 100_000, "pagination does not end at {u}");
        records.extend(
            page[key]
                .as_array()
                .expect("envelope array")
                .iter()
                .cloned(),
        );
        next = page["links"]["next"].as_str().map(str::to_string);
    }
    (records, pages)
}

/// Every record of a list endpoint (walked with `per_page=2000`).
pub fn all(c: &Client, url: &str, key: &str) -> Vec<Value> {
    walk(c, url, key).0
}

/// The ids of records.
pub fn ids(records: &[Value]) -> Vec<i64> {
    records
        .iter()
        .map(|r| r["id"].as_i64().expect("id"))
        .collect()
}

/// The ids of records as a set, asserting none repeats.
pub fn unique_ids(records: &[Value]) -> BTreeSet<i64> {
    let ids = ids(records);
    let set: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(set.len(), ids.len(), "a record was served twice");
    set
}

/// A JSON request to the control API; returns the status and the parsed body (`Null` if empty).
pub fn control(c: &Client, method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = c.request(method, url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().expect("control request succeeds");
    let status = r.status().as_u16();
    let text = r.text().expect("body");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("control {url}: {e}: {text}"))
    };
    (status, value)
}

/// A decimal as hundredths, exact for the 2-decimal amounts Harvest serves.
pub fn cents(v: &Value) -> i64 {
    (v.as_f64().unwrap_or_else(|| panic!("{v} is not a number")) * 100.0).round() as i64
}
