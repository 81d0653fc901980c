//! The `harvest-emulator` binary: prints the address it listens on as its first stdout line,
//! serves what its flags say, and refuses bad flags.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use harvest_emulator::{EmulatorConfig, Scale};

const BIN: &str = env!("CARGO_BIN_EXE_harvest-emulator");

/// A running emulator process, killed when dropped (also when an assertion fails).
struct Running {
    child: Child,
    base: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str]) -> Running {
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line {line:?}"))
        .to_string();
    let url = url::Url::parse(&base).unwrap();
    assert_eq!(url.host_str(), Some("127.0.0.1"));
    assert_ne!(url.port(), Some(0), "the real port, not the requested 0");
    Running { child, base }
}

#[test]
fn prints_its_address_and_serves_the_small_dataset() {
    let emu = spawn(&["--port", "0", "--scale", "small"]);
    let c = common::client();
    let me = common::get_json(&c, &format!("{}/v2/users/me", emu.base));
    assert!(me["id"].is_i64());
    let page = common::get_json(&c, &format!("{}/v2/time_entries?per_page=1", emu.base));
    assert_eq!(page["total_entries"], 4000);
    let r = c
        .get(format!("{}/__emulator/health", emu.base))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn flags_set_data_limits_faults_and_forbidden_paths() {
    let emu = spawn(&[
        "--scale",
        "123",
        "--seed",
        "7",
        "--general-limit",
        "5/10m",
        "--forbidden",
        "/v2/roles,/v2/contacts",
        "--fault-rate",
        "1",
        "--faults",
        "503",
        "--fault-paths",
        "/v2/tasks",
    ]);
    let c = common::client();
    let v2 = format!("{}/v2", emu.base);
    let clients = common::get(&c, &format!("{v2}/clients")).text().unwrap();
    // The same seed and scale in-process serve the same bytes.
    let lib = common::start_with(EmulatorConfig {
        seed: 7,
        scale: Scale::Custom { time_entries: 123 },
        general_limit: None,
        reports_limit: None,
        ..EmulatorConfig::default()
    });
    let same = common::get(&c, &format!("{}/clients", lib.api_url()))
        .text()
        .unwrap();
    assert_eq!(
        clients.replace(&emu.base, "ORIGIN"),
        same.replace(&format!("http://{}", lib.addr()), "ORIGIN")
    );
    let page = common::get_json(&c, &format!("{v2}/time_entries?per_page=1"));
    assert_eq!(page["total_entries"], 123);
    assert_eq!(common::status(&c, &format!("{v2}/roles")), 403);
    assert_eq!(common::status(&c, &format!("{v2}/contacts")), 403);
    assert_eq!(common::status(&c, &format!("{v2}/tasks")), 503);
    // Five admitted requests so far (403s and faults count); the sixth exceeds 5 per 10 minutes.
    assert_eq!(common::status(&c, &format!("{v2}/users/me")), 429);
}

#[test]
fn no_limits_serves_without_rate_limits() {
    let emu = spawn(&["--scale", "tiny", "--no-limits", "--general-limit", "1/10m"]);
    let c = common::client();
    for _ in 0..5 {
        assert_eq!(
            common::status(&c, &format!("{}/v2/users/me", emu.base)),
            200
        );
    }
    let limits: serde_json::Value = c
        .get(format!("{}/__emulator/limits", emu.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        limits,
        serde_json::json!({ "general": null, "reports": null })
    );
}

#[test]
fn bad_flags_exit_with_an_error_and_print_no_address() {
    for args in [
        &["--scale", "enormous"][..],
        &["--general-limit", "fast"],
        &["--faults", "504"],
        &["--access-token-ttl", "1y"],
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn token_flags_set_the_request_budget_and_access_token_lifetime() {
    let emu = spawn(&[
        "--scale",
        "tiny",
        "--token-expires-after",
        "2",
        "--access-token-ttl",
        "90s",
    ]);
    let c = common::client();
    let me = format!("{}/v2/users/me", emu.base);
    assert_eq!(common::status(&c, &me), 200);
    assert_eq!(common::status(&c, &me), 200);
    assert_eq!(common::status(&c, &me), 401);
    let t: serde_json::Value =
        common::refreshed(&c, &format!("{}/id/api/v2/oauth2/token", emu.base));
    assert_eq!(t["expires_in"], 90);
    let token = t["access_token"].as_str().unwrap();
    assert_eq!(common::get_as(&c, &me, token).status(), 200);
}
