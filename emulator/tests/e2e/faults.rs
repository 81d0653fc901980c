//! Faults on demand: a seeded mix is a pure function of the seed and the requests (the same
//! seed and requests give the same faults, another seed others), every fault kind can be
//! produced and looks as it should on the wire, faults can be limited to paths, and tokens can
//! expire after N requests until an OAuth refresh.

use crate::common;

use std::io::Read;

use harvest_emulator::{Emulator, EmulatorConfig, FaultKind, Faults, Scale};
use reqwest::blocking::Client;
use serde_json::Value;

fn with_faults(faults: Faults) -> Emulator {
    common::start_with(EmulatorConfig {
        scale: Scale::Tiny,
        general_limit: None,
        reports_limit: None,
        faults,
        ..EmulatorConfig::default()
    })
}

/// What one request got: a status, or `reset` for a connection that died without one.
fn outcome(c: &Client, url: &str) -> String {
    match c
        .get(url)
        .header("User-Agent", common::UA)
        .bearer_auth(harvest_emulator::PERSONAL_ACCESS_TOKEN)
        .header("Harvest-Account-Id", harvest_emulator::ACCOUNT_ID)
        .send()
    {
        Ok(r) => r.status().as_u16().to_string(),
        Err(_) => "reset".to_string(),
    }
}

/// The outcomes of a fixed request sequence against a fresh emulator with `faults`.
fn run(faults: Faults) -> (Vec<String>, std::collections::BTreeMap<String, u64>) {
    let emu = with_faults(faults);
    let c = common::client();
    let api = emu.api_url();
    let paths = [
        "clients",
        "users",
        "projects?per_page=2",
        "time_entries?per_page=5",
    ];
    let outcomes = (0..80)
        .map(|i| outcome(&c, &format!("{api}/{}", paths[i % paths.len()])))
        .collect();
    (outcomes, emu.request_counts().faults)
}

#[test]
fn a_seeded_mix_gives_the_same_faults_for_the_same_requests() {
    let kinds = [
        FaultKind::Status500,
        FaultKind::Status502,
        FaultKind::Status503,
        FaultKind::Status429,
        FaultKind::ConnectionReset,
    ];
    let (a, faults_a) = run(Faults::mix(7, 0.4, &kinds));
    let (b, faults_b) = run(Faults::mix(7, 0.4, &kinds));
    assert_eq!(a, b, "same seed, same requests, same outcomes");
    assert_eq!(faults_a, faults_b);
    let ok = a.iter().filter(|o| *o == "200").count();
    assert!(ok > 20 && ok < 75, "a 40% mix: {ok} of 80 succeeded");
    for o in ["500", "502", "503", "429", "reset"] {
        assert!(a.iter().any(|x| x == o), "{o} drawn in 80 requests: {a:?}");
    }
    assert_eq!(faults_a.values().sum::<u64>() as usize, 80 - ok);
    let (other, _) = run(Faults::mix(8, 0.4, &kinds));
    assert_ne!(a, other, "another seed draws other faults");
}

#[test]
fn weights_and_rate_shape_the_mix() {
    let none = run(Faults::mix(3, 0.0, &[FaultKind::Status500])).0;
    assert!(none.iter().all(|o| o == "200"));
    let all = run(Faults::mix(3, 1.0, &[FaultKind::Status503])).0;
    assert!(all.iter().all(|o| o == "503"));
    let weighted = run(Faults {
        seed: 3,
        rate: 1.0,
        kinds: vec![(FaultKind::Status500, 1), (FaultKind::Status502, 0)],
        ..Faults::default()
    })
    .0;
    assert!(
        weighted.iter().all(|o| o == "500"),
        "a zero weight is never drawn"
    );
}

/// An emulator where every `/v2` request gets `kind`.
fn always(kind: FaultKind) -> Emulator {
    with_faults(Faults::mix(1, 1.0, &[kind]))
}

#[test]
fn status_faults_are_html_pages_and_429_has_retry_after() {
    for (kind, status) in [
        (FaultKind::Status500, 500),
        (FaultKind::Status502, 502),
        (FaultKind::Status503, 503),
        (FaultKind::Status429, 429),
    ] {
        let emu = always(kind.clone());
        let c = common::client();
        let r = common::get(&c, &format!("{}/clients", emu.api_url()));
        assert_eq!(r.status(), status, "{kind}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        if status == 429 {
            assert_eq!(r.headers()["retry-after"], "1");
        }
        assert!(r.text().unwrap().contains("<html"), "{kind}");
        assert_eq!(emu.request_counts().faults[&kind.to_string()], 1);
    }
}

#[test]
fn a_slow_response_is_then_served_normally() {
    let emu = always("slow:50ms".parse().unwrap());
    let c = common::client();
    let page = common::get_json(&c, &format!("{}/clients", emu.api_url()));
    assert!(!page["clients"].as_array().unwrap().is_empty());
    assert_eq!(emu.request_counts().faults["slow:50ms"], 1);
}

#[test]
fn a_stalled_response_is_held_until_the_client_hangs_up() {
    let emu = always(FaultKind::Stall);
    let impatient = Client::builder()
        .timeout(std::time::Duration::from_millis(300))
        .build()
        .unwrap();
    let err = impatient
        .get(format!("{}/clients", emu.api_url()))
        .header("User-Agent", common::UA)
        .bearer_auth(harvest_emulator::PERSONAL_ACCESS_TOKEN)
        .header("Harvest-Account-Id", harvest_emulator::ACCOUNT_ID)
        .send()
        .expect_err("no response before the client gives up");
    assert!(err.is_timeout(), "{err}");
    drop(impatient);
    // The emulator learns of the hang-up from the closed connection, on its own threads.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while emu.request_counts().hangups == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let counts = emu.request_counts();
    assert_eq!(counts.hangups, 1, "the stall ended with the connection");
    assert_eq!(counts.faults["stall"], 1);
    assert!(counts.by_status.is_empty(), "no status was sent");
}

#[test]
fn a_reset_connection_sends_no_response() {
    let emu = always(FaultKind::ConnectionReset);
    let c = common::client();
    let err = c
        .get(format!("{}/clients", emu.api_url()))
        .header("User-Agent", common::UA)
        .bearer_auth(harvest_emulator::PERSONAL_ACCESS_TOKEN)
        .header("Harvest-Account-Id", harvest_emulator::ACCOUNT_ID)
        .send()
        .expect_err("the connection is reset");
    assert!(!err.is_status() && !err.is_timeout(), "{err}");
    let counts = emu.request_counts();
    assert_eq!(counts.faults["reset"], 1);
    assert_eq!(counts.total, 1);
    assert!(counts.by_status.is_empty(), "no status was sent");
}

#[test]
fn a_truncated_body_announces_its_full_length_then_stops() {
    let emu = always(FaultKind::TruncatedBody);
    let c = common::client();
    let r = common::get(&c, &format!("{}/clients", emu.api_url()));
    assert_eq!(r.status(), 200);
    let announced: usize = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(announced > 100);
    assert!(
        r.bytes().is_err(),
        "the body ends before its Content-Length"
    );
}

#[test]
fn malformed_json_is_a_complete_200_that_does_not_parse() {
    let emu = always(FaultKind::MalformedJson);
    let c = common::client();
    let r = common::get(&c, &format!("{}/clients", emu.api_url()));
    assert_eq!(r.status(), 200);
    let body = r.text().unwrap();
    assert!(body.starts_with("{\"clients\":["));
    assert!(serde_json::from_str::<Value>(&body).is_err());
}

#[test]
fn a_huge_body_streams_without_a_length() {
    let emu = always(FaultKind::HugeBody);
    let c = common::client();
    let r = common::get(&c, &format!("{}/clients", emu.api_url()));
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-length").is_none());
    // Read 4 MiB of it and hang up: far more than any page, and still going.
    let mut head = Vec::new();
    r.take(4 << 20).read_to_end(&mut head).unwrap();
    assert_eq!(head.len(), 4 << 20);
    assert!(head.starts_with(b"{\"padding\":\"xxxx"));
}

#[test]
fn link_faults_point_next_at_the_same_page_or_another_host() {
    let emu = always(FaultKind::NextLinkLoop);
    let c = common::client();
    let url = format!("{}/time_entries?per_page=5&page=2", emu.api_url());
    let page = common::get_json(&c, &url);
    assert_eq!(page["links"]["next"], url.as_str());
    assert_eq!(page["time_entries"].as_array().unwrap().len(), 5);

    let emu = always(FaultKind::ForeignNextLink);
    let url = format!("{}/clients?per_page=1", emu.api_url());
    let page = common::get_json(&c, &url);
    let next = url::Url::parse(page["links"]["next"].as_str().unwrap()).unwrap();
    assert_eq!(next.host_str(), Some("127.0.0.2"));
    assert_eq!(next.port(), Some(emu.addr().port()));
    assert_eq!(next.path(), "/v2/clients");
}

#[test]
fn record_faults_damage_only_the_first_record() {
    let emu = always(FaultKind::MissingPrimaryKey);
    let c = common::client();
    let page = common::get_json(&c, &format!("{}/clients", emu.api_url()));
    let records = page["clients"].as_array().unwrap();
    assert!(
        records.len() > 1,
        "a page with more than the damaged record"
    );
    assert!(records[0].get("id").is_none() && records[0]["name"].is_string());
    assert!(records[1..].iter().all(|r| r["id"].is_i64()));

    let emu = always(FaultKind::WrongTypes);
    let page = common::get_json(&c, &format!("{}/clients", emu.api_url()));
    let records = page["clients"].as_array().unwrap();
    assert!(records[0]["id"].is_string(), "{}", records[0]);
    assert!(records[0]["updated_at"].is_i64(), "{}", records[0]);
    assert!(records[1]["id"].is_i64() && records[1]["updated_at"].is_string());
    // A single-object endpoint gets the damage on the object itself.
    let me = common::get_json(&c, &format!("{}/users/me", emu.api_url()));
    assert!(me["id"].is_string());
}

#[test]
fn faults_can_be_limited_to_paths() {
    let emu = with_faults(Faults {
        paths: vec!["/v2/invoices".into()],
        ..Faults::mix(1, 1.0, &[FaultKind::Status500])
    });
    let c = common::client();
    let api = emu.api_url();
    assert_eq!(common::status(&c, &format!("{api}/invoices")), 500);
    assert_eq!(common::status(&c, &format!("{api}/clients")), 200);
    assert_eq!(common::status(&c, &format!("{api}/time_entries")), 200);
    // Harvest ID and the control API are never faulted.
    let r = common::get_accounts(&c, &emu, harvest_emulator::PERSONAL_ACCESS_TOKEN);
    assert_eq!(r.status(), 200);
}

#[test]
fn tokens_expire_after_n_requests_until_refreshed() {
    let emu = with_faults(Faults {
        token_expires_after: Some(3),
        ..Faults::none()
    });
    let c = common::client();
    let url = format!("{}/users/me", emu.api_url());
    for i in 0..3 {
        assert_eq!(common::status(&c, &url), 200, "request {i}");
    }
    let r = common::get(&c, &url);
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().unwrap()["error"], "invalid_token");
    // A refresh issues a token with a fresh budget of 3.
    let t: Value = common::refreshed(&c, &emu.oauth_token_url());
    let token = t["access_token"].as_str().unwrap();
    for i in 0..3 {
        assert_eq!(
            common::get_as(&c, &url, token).status(),
            200,
            "refreshed {i}"
        );
    }
    assert_eq!(common::get_as(&c, &url, token).status(), 401);
    // Setting faults again restarts every budget.
    emu.set_faults(Faults {
        token_expires_after: Some(1),
        ..Faults::none()
    });
    assert_eq!(common::status(&c, &url), 200);
    assert_eq!(common::status(&c, &url), 401);
}

#[test]
fn fault_kinds_parse_and_print_as_on_the_command_line() {
    for name in [
        "500",
        "502",
        "503",
        "429",
        "slow:250ms",
        "stall",
        "reset",
        "truncate",
        "malformed",
        "huge",
        "loop",
        "foreign",
        "missing-id",
        "wrong-types",
    ] {
        assert_eq!(name.parse::<FaultKind>().unwrap().to_string(), name);
    }
    assert_eq!(
        "slow".parse::<FaultKind>().unwrap(),
        FaultKind::Slow(std::time::Duration::from_secs(2))
    );
    assert!("504".parse::<FaultKind>().is_err());
}
