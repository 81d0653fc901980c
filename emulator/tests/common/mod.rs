//! Helpers shared by the emulator's integration tests: a client with Harvest's headers and
//! walkers that follow `links.next` to the end.

#![allow(dead_code)]

use std::time::Duration;

use harvest_emulator::{Emulator, EmulatorConfig, Scale, ACCOUNT_ID, PERSONAL_ACCESS_TOKEN};
use reqwest::blocking::{Client, Response};
use serde_json::Value;

/// An emulator on the Tiny dataset without rate limits.
pub fn tiny() -> Emulator {
    start(Scale::Tiny)
}

/// An emulator without rate limits.
pub fn start(scale: Scale) -> Emulator {
    Emulator::start(EmulatorConfig {
        scale,
        general_limit: None,
        reports_limit: None,
        ..EmulatorConfig::default()
    })
    .expect("emulator starts")
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
    c.get(url)
        .header("User-Agent", "emulator-tests (tests@example.com)")
        .bearer_auth(PERSONAL_ACCESS_TOKEN)
        .header("Harvest-Account-Id", ACCOUNT_ID)
        .send()
        .expect("request succeeds")
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

/// The ids of records.
pub fn ids(records: &[Value]) -> Vec<i64> {
    records
        .iter()
        .map(|r| r["id"].as_i64().expect("id"))
        .collect()
}
