//! Harvest's rate limits: N requests per sliding window per token and account, general and
//! reports counted apart; the (N+1)th request gets 429 with `Retry-After` and an HTML body.
//!
//! The emulator has no injectable clock, so these tests never race it: a window that must not
//! pass is minutes long, and the one test that needs a window to pass waits exactly the
//! `Retry-After` the emulator sent, as a client would. Assertions are on statuses and headers.

use crate::common;

use std::time::Duration;

use harvest_emulator::{EmulatorConfig, RateLimit, Scale};
use reqwest::blocking::Response;
use serde_json::Value;

fn limit(requests: u32, window: Duration) -> Option<RateLimit> {
    Some(RateLimit { requests, window })
}

/// Asserts a Harvest 429 and returns its `Retry-After` in seconds.
fn assert_throttled(r: Response, what: &str) -> u64 {
    assert_eq!(r.status(), 429, "{what}");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After is whole seconds");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let body = r.text().unwrap();
    assert!(
        body.contains("<html") && body.contains("Too Many Requests"),
        "{body}"
    );
    retry
}

const REPORT: &str = "reports/time/clients?from=2026-01-01&to=2026-06-30";

#[test]
fn the_request_after_n_in_a_window_gets_429_with_retry_after_and_html() {
    let emu = common::start_with(EmulatorConfig {
        scale: Scale::Tiny,
        general_limit: limit(5, Duration::from_secs(120)),
        reports_limit: limit(2, Duration::from_secs(120)),
        ..EmulatorConfig::default()
    });
    let c = common::client();
    let api = emu.api_url();
    for i in 0..5 {
        assert_eq!(
            common::status(&c, &format!("{api}/clients")),
            200,
            "request {i}"
        );
    }
    let retry = assert_throttled(common::get(&c, &format!("{api}/users/me")), "6th general");
    assert!(
        (1..=120).contains(&retry),
        "Retry-After {retry} within the window"
    );
    // Refused requests do not count, and stay refused while the window lasts.
    let again = assert_throttled(common::get(&c, &format!("{api}/tasks")), "7th general");
    assert!(again <= retry);
    // Reports have their own bucket.
    for i in 0..2 {
        assert_eq!(
            common::status(&c, &format!("{api}/{REPORT}")),
            200,
            "report {i}"
        );
    }
    assert_throttled(common::get(&c, &format!("{api}/{REPORT}")), "3rd report");
    let counts = emu.request_counts();
    assert_eq!(counts.status(429), 3);
    assert_eq!(counts.status(200), 7);
}

#[test]
fn each_token_has_its_own_bucket() {
    let emu = common::start_with(EmulatorConfig {
        scale: Scale::Tiny,
        general_limit: limit(2, Duration::from_secs(120)),
        reports_limit: None,
        ..EmulatorConfig::default()
    });
    let c = common::client();
    let url = format!("{}/users/me", emu.api_url());
    assert_eq!(common::status(&c, &url), 200);
    assert_eq!(common::status(&c, &url), 200);
    assert_eq!(common::status(&c, &url), 429);
    let t: Value = common::refreshed(&c, &emu.oauth_token_url());
    let token = t["access_token"].as_str().unwrap();
    assert_eq!(common::get_as(&c, &url, token).status(), 200);
    // The personal token is still throttled: the OAuth token's requests were not its own.
    assert_eq!(common::status(&c, &url), 429);
}

#[test]
fn requests_succeed_again_once_the_window_has_passed() {
    let window = Duration::from_millis(300);
    let emu = common::start_with(EmulatorConfig {
        scale: Scale::Tiny,
        general_limit: limit(5, window),
        reports_limit: None,
        ..EmulatorConfig::default()
    });
    let c = common::client();
    let url = format!("{}/users/me", emu.api_url());
    // Send until throttled: however slow the machine, six requests eventually share a window.
    let mut throttled = None;
    let mut admitted = 0;
    for _ in 0..10_000 {
        let r = common::get(&c, &url);
        if r.status() == 429 {
            throttled = Some(r);
            break;
        }
        assert_eq!(r.status(), 200);
        admitted += 1;
    }
    let r = throttled.expect("a 429 within 10,000 requests of a 5/300ms limit");
    assert!(admitted >= 5, "the first 5 requests are always admitted");
    // A window under a second rounds up to the minimum whole second.
    let retry = assert_throttled(r, "throttled");
    assert_eq!(retry, 1);
    // Waiting what Retry-After says is what a client does; the window is shorter than that.
    std::thread::sleep(Duration::from_secs(retry));
    for i in 0..5 {
        assert_eq!(
            common::status(&c, &url),
            200,
            "request {i} after the window"
        );
    }
}

#[test]
fn defaults_are_harvests_limits_and_reports_allow_100_per_15_minutes() {
    let config = EmulatorConfig::default();
    assert_eq!(config.general_limit, limit(100, Duration::from_secs(15)));
    assert_eq!(config.reports_limit, limit(100, Duration::from_secs(900)));
    assert_eq!(RateLimit::HARVEST_GENERAL, config.general_limit.unwrap());
    assert_eq!(RateLimit::HARVEST_REPORTS, config.reports_limit.unwrap());
    // 101 report requests always fit in 15 minutes; the 101st is refused.
    let emu = common::start_with(EmulatorConfig {
        scale: Scale::Tiny,
        general_limit: None,
        ..EmulatorConfig::default()
    });
    let c = common::client();
    let url = format!("{}/{REPORT}", emu.api_url());
    for i in 0..100 {
        assert_eq!(common::status(&c, &url), 200, "report request {i}");
    }
    let retry = assert_throttled(common::get(&c, &url), "101st report");
    assert!((1..=900).contains(&retry), "{retry}");
}

#[test]
fn limits_parse_from_the_command_line_form() {
    assert_eq!(
        "5/300ms".parse::<RateLimit>().unwrap(),
        limit(5, Duration::from_millis(300)).unwrap()
    );
    assert_eq!(
        "100/15m".parse::<RateLimit>().unwrap(),
        RateLimit::HARVEST_REPORTS
    );
    assert!("100".parse::<RateLimit>().is_err());
    assert!("x/15s".parse::<RateLimit>().is_err());
    assert!("10/15y".parse::<RateLimit>().is_err());
}
