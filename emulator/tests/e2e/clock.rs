//! The injectable clock: `POST /__emulator/clock` (or `Emulator::advance_clock`) moves the
//! emulator's now, and everything that reads the time follows it: the `Date` header, the
//! stamps of records the control API creates, updates and deletes (their parents' too),
//! `updated_since` over those stamps, and OAuth token expiry. Rate limits stay on real time.

use crate::common;

use std::time::{Duration, SystemTime};

use harvest_emulator::{EmulatorConfig, RateLimit, Scale};
use serde_json::{json, Value};

const HOUR: i64 = 3600;

fn epoch(stamp: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(stamp)
        .unwrap_or_else(|e| panic!("{stamp:?}: {e}"))
        .timestamp()
}

fn real_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Asserts `stamp` is `ahead` seconds past real time, give or take the test's own run time.
fn assert_ahead(stamp: &str, ahead: i64, what: &str) {
    let lead = epoch(stamp) - real_now();
    assert!(
        (ahead - 60..=ahead).contains(&lead),
        "{what}: {stamp} is {lead} s ahead of real time, expected {ahead}"
    );
}

#[test]
fn the_control_api_reads_and_advances_the_clock() {
    let emu = common::tiny();
    let c = common::client();
    let url = format!("{}/clock", emu.control_url());
    let (status, body) = common::control(&c, "GET", &url, None);
    assert_eq!(status, 200, "{body}");
    assert_ahead(body["now"].as_str().unwrap(), 0, "GET before advancing");

    let (status, body) =
        common::control(&c, "POST", &url, Some(json!({ "advance_seconds": 7200 })));
    assert_eq!(status, 200, "{body}");
    let now = body["now"].as_str().unwrap().to_string();
    assert_eq!(now.len(), "2026-06-30T00:00:00Z".len(), "{now}");
    assert_ahead(&now, 2 * HOUR, "POST");
    let (_, again) = common::control(&c, "GET", &url, None);
    assert_ahead(again["now"].as_str().unwrap(), 2 * HOUR, "GET after POST");

    // The library handle moves the same clock.
    assert_ahead(&emu.advance_clock(HOUR), 3 * HOUR, "advance_clock");
    assert_ahead(&emu.now(), 3 * HOUR, "now");
    assert_ahead(&emu.advance_clock(-3 * HOUR), 0, "moved back");

    for bad in [
        json!({}),
        json!({ "advance_seconds": 1.5 }),
        json!({ "advance_seconds": "1" }),
        json!({ "advance": 1 }),
    ] {
        let (status, body) = common::control(&c, "POST", &url, Some(bad.clone()));
        assert_eq!(status, 422, "{bad}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("advance_seconds"),
            "{body}"
        );
    }
    assert_ahead(&emu.now(), 0, "a refused POST does not move it");
}

#[test]
fn date_headers_and_change_stamps_follow_the_clock() {
    let emu = common::tiny();
    let c = common::client();
    let api = emu.api_url();
    let generated = common::all(&c, &format!("{api}/clients"), "clients");
    let before = emu.now();

    emu.advance_clock(5 * HOUR);
    let r = common::get(&c, &format!("{api}/users/me"));
    let date = httpdate::parse_http_date(r.headers()["date"].to_str().unwrap()).unwrap();
    let lead = date.duration_since(SystemTime::now()).unwrap_or_default();
    assert!(
        lead > Duration::from_secs(5 * 3600 - 60) && lead <= Duration::from_secs(5 * 3600),
        "Date is {lead:?} ahead"
    );

    let id = generated[0]["id"].as_i64().unwrap();
    let updated = emu
        .update("clients", id, json!({ "name": "Renamed Later" }))
        .unwrap();
    assert_ahead(updated["updated_at"].as_str().unwrap(), 5 * HOUR, "update");
    let created = emu.create("clients", json!({ "name": "Made Later" }));
    assert_ahead(
        created["created_at"].as_str().unwrap(),
        5 * HOUR,
        "create created_at",
    );
    assert_ahead(
        created["updated_at"].as_str().unwrap(),
        5 * HOUR,
        "create updated_at",
    );

    // `updated_since` a stamp from before the advance returns exactly the two changed later.
    let changed = common::all(
        &c,
        &format!("{api}/clients?updated_since={before}"),
        "clients",
    );
    let mut ids = common::ids(&changed);
    ids.sort_unstable();
    let mut want = vec![id, created["id"].as_i64().unwrap()];
    want.sort_unstable();
    assert_eq!(ids, want);

    // A parent bumped by its child's change is stamped by the same clock; a child changed with
    // `bump_parent: false` leaves its parent's stamp where it was.
    emu.advance_clock(HOUR);
    let invoice = &common::all(&c, &format!("{api}/invoices"), "invoices")[0];
    let invoice_id = invoice["id"].as_i64().unwrap();
    let message = emu.create(
        "invoice_messages",
        json!({ "parent_id": invoice_id, "event_type": "close" }),
    );
    assert_ahead(message["created_at"].as_str().unwrap(), 6 * HOUR, "message");
    let bumped = common::get_json(&c, &format!("{api}/invoices/{invoice_id}"));
    assert_ahead(
        bumped["updated_at"].as_str().unwrap(),
        6 * HOUR,
        "bumped invoice",
    );
    assert_ahead(bumped["closed_at"].as_str().unwrap(), 6 * HOUR, "closed_at");
    emu.advance_clock(HOUR);
    emu.create(
        "invoice_messages",
        json!({ "parent_id": invoice_id, "bump_parent": false }),
    );
    let unmoved = common::get_json(&c, &format!("{api}/invoices/{invoice_id}"));
    assert_eq!(unmoved["updated_at"], bumped["updated_at"]);

    // A scheduled deletion of a payment settles its invoice as of the clock too.
    let payment = emu.create(
        "invoice_payments",
        json!({ "parent_id": invoice_id, "amount": 1.0 }),
    );
    assert_ahead(payment["created_at"].as_str().unwrap(), 7 * HOUR, "payment");
    assert_ahead(payment["paid_at"].as_str().unwrap(), 7 * HOUR, "paid_at");
}

#[test]
fn oauth_tokens_expire_by_the_clock_and_rate_limits_do_not_move() {
    let emu = common::start_with(EmulatorConfig {
        scale: Scale::Tiny,
        general_limit: Some(RateLimit {
            requests: 2,
            window: Duration::from_secs(600),
        }),
        reports_limit: None,
        access_token_ttl: Duration::from_secs(2 * 3600),
        ..EmulatorConfig::default()
    });
    let c = common::client();
    let me = format!("{}/users/me", emu.api_url());
    let t: Value = common::refreshed(&c, &emu.oauth_token_url());
    let token = t["access_token"].as_str().unwrap();
    assert_eq!(common::get_as(&c, &me, token).status(), 200);
    emu.advance_clock(HOUR);
    assert_eq!(common::get_as(&c, &me, token).status(), 200, "an hour in");
    // Two requests used the window; an hour of emulated time does not empty it.
    assert_eq!(
        common::get_as(&c, &me, token).status(),
        429,
        "limit on real time"
    );
    emu.set_limits(None, None);
    emu.advance_clock(HOUR);
    assert_eq!(
        common::get_as(&c, &me, token).status(),
        401,
        "expired after two hours"
    );
    assert_eq!(common::get_accounts(&c, &emu, token).status(), 401);
    let fresh: Value = common::refreshed(&c, &emu.oauth_token_url());
    let fresh = fresh["access_token"].as_str().unwrap();
    assert_eq!(
        common::get_as(&c, &me, fresh).status(),
        200,
        "a refreshed token works"
    );
}
