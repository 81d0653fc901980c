//! spec, check and discover, run as the real binary against the emulator.

use crate::common::*;
use harvest_emulator::{EmulatorConfig, Scale};
use serde_json::{json, Value};

#[test]
fn spec_prints_spec_json() {
    let run = run(&["spec"]);
    assert_eq!(run.code, 0);
    let specs = run.of_type("SPEC");
    assert_eq!(specs.len(), 1);
    let on_disk: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_file("spec.json")).unwrap()).unwrap();
    assert_eq!(specs[0]["spec"], on_disk);
    assert!(on_disk["documentationUrl"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
    let metadata = std::fs::read_to_string(repo_file("metadata.yaml")).unwrap();
    assert!(
        metadata.contains(&format!(
            "documentationUrl: {}\n",
            on_disk["documentationUrl"].as_str().unwrap()
        )),
        "metadata.yaml and spec.json name the same documentation"
    );
}

#[test]
fn help_and_version_answer() {
    let help = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    for verb in ["spec", "check", "discover", "read"] {
        assert!(text.contains(verb), "{text}");
    }
    let version = std::process::Command::new(BIN)
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8(version.stdout)
        .unwrap()
        .contains(env!("CARGO_PKG_VERSION")));
}

fn check(config: &Value) -> (String, String, Run) {
    let files = Files::new();
    let path = files.json("config.json", config);
    let run = run(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(
        run.code, 0,
        "check exits 0 when it could answer: {:?}",
        run.messages
    );
    let statuses = run.of_type("CONNECTION_STATUS");
    assert_eq!(statuses.len(), 1, "{:?}", run.messages);
    let status = statuses[0]["connectionStatus"]["status"]
        .as_str()
        .unwrap()
        .to_string();
    let message = statuses[0]["connectionStatus"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (status, message, run)
}

#[test]
fn check_succeeds_with_a_personal_access_token() {
    let emu = emulator(Scale::Tiny);
    let (status, message, _) = check(&config(&emu, json!({})));
    assert_eq!(status, "SUCCEEDED", "{message}");
}

#[test]
fn check_succeeds_with_oauth() {
    let emu = emulator(Scale::Tiny);
    let (status, message, run) = check(&config(
        &emu,
        json!({"credentials": {
            "auth_type": "Client",
            "client_id": harvest_emulator::OAUTH_CLIENT_ID,
            "client_secret": harvest_emulator::OAUTH_CLIENT_SECRET,
            "refresh_token": harvest_emulator::OAUTH_REFRESH_TOKEN
        }}),
    ));
    assert_eq!(status, "SUCCEEDED", "{message}");
    assert_no_secret(
        &run.stdout,
        &[
            harvest_emulator::OAUTH_CLIENT_SECRET,
            harvest_emulator::OAUTH_REFRESH_TOKEN,
        ],
    );
}

#[test]
fn check_accepts_a_legacy_config_without_auth_type() {
    let emu = emulator(Scale::Tiny);
    let (status, message, _) = check(&config(
        &emu,
        json!({"credentials": {"api_token": harvest_emulator::PERSONAL_ACCESS_TOKEN}}),
    ));
    assert_eq!(status, "SUCCEEDED", "{message}");
}

#[test]
fn check_fails_on_a_wrong_token_without_echoing_it() {
    let emu = emulator(Scale::Tiny);
    let token = "9999999.pt.wrong-token-value-XYZ";
    let (status, message, run) = check(&config(
        &emu,
        json!({"credentials": {"auth_type": "Token", "api_token": token}}),
    ));
    assert_eq!(status, "FAILED");
    // Harvest ID's accounts endpoint says it is the token, not the account id.
    assert!(
        message.contains("401")
            && message.contains("rejected the token")
            && !message.contains("account_id"),
        "{message}"
    );
    assert_no_secret(&run.stdout, &[token]);
    assert_no_secret(&run.stderr, &[token]);
}

#[test]
fn check_never_sends_the_token_to_another_host_to_diagnose_a_401() {
    let emu = emulator(Scale::Tiny);
    // An oauth_token_url on another origin, plain http: a personal token has no business there.
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let token = "9999999.pt.wrong-token-value-XYZ";
    let (status, message, _) = check(&config(
        &emu,
        json!({
            "credentials": {"auth_type": "Token", "api_token": token},
            "oauth_token_url": format!("http://{}/api/v2/oauth2/token", elsewhere.local_addr().unwrap()),
        }),
    ));
    assert_eq!(status, "FAILED");
    assert!(
        message.contains("the token is wrong, expired or revoked, or the account_id"),
        "without Harvest ID's answer, both causes are named: {message}"
    );
    let connected = elsewhere.accept();
    assert!(
        matches!(&connected, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "nothing connected to the other host: {connected:?}"
    );
}

#[test]
fn check_fails_on_a_wrong_account_id() {
    let emu = emulator(Scale::Tiny);
    let (status, message, _) = check(&config(&emu, json!({"account_id": "424242"})));
    assert_eq!(status, "FAILED");
    // The message names the field but not its value: spec.json marks account_id secret.
    assert!(
        message.contains("account_id") && !message.contains("424242"),
        "{message}"
    );
    // Harvest ID's accounts endpoint says the token is good: the account id is what is wrong.
    assert!(
        message.contains("accepts the token") && message.contains("1 account(s)"),
        "{message}"
    );
}

#[test]
fn check_fails_on_an_unreachable_host() {
    let emu = emulator(Scale::Tiny);
    let (status, message, _) = check(&config(
        &emu,
        json!({"api_url": "http://127.0.0.1:9/v2", "max_retries": 0}),
    ));
    assert_eq!(status, "FAILED");
    assert!(message.contains("cannot reach Harvest"), "{message}");
}

#[test]
fn check_fails_on_a_missing_permission() {
    let emu = harvest_emulator::Emulator::start(EmulatorConfig {
        scale: Scale::Tiny,
        forbidden: vec!["/v2/users/me".into()],
        ..EmulatorConfig::default()
    })
    .unwrap();
    let (status, message, _) = check(&config(&emu, json!({})));
    assert_eq!(status, "FAILED");
    assert!(message.contains("403"), "{message}");
}

#[test]
fn check_reports_an_invalid_config_as_failed() {
    let emu = emulator(Scale::Tiny);
    let (status, message, _) = check(&config(
        &emu,
        json!({"replication_start_date": "2024-13-45"}),
    ));
    assert_eq!(status, "FAILED");
    assert!(message.contains("replication_start_date"), "{message}");
}

#[test]
fn discover_prints_every_stream() {
    let emu = emulator(Scale::Tiny);
    let files = Files::new();
    let path = files.json("config.json", &config(&emu, json!({})));
    let run = run(&["discover", "--config", path.to_str().unwrap()]);
    assert_eq!(run.code, 0);
    let catalogs = run.of_type("CATALOG");
    assert_eq!(catalogs.len(), 1);
    let streams = catalogs[0]["catalog"]["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 38);
    for s in streams {
        let name = s["name"].as_str().unwrap();
        assert!(s["json_schema"]["properties"].is_object(), "{name}");
        assert_eq!(s["is_resumable"], true, "{name}");
        let modes = s["supported_sync_modes"].as_array().unwrap();
        if modes.contains(&json!("incremental")) {
            assert_eq!(s["source_defined_cursor"], true, "{name}");
            let cursor = s["default_cursor_field"][0].as_str().unwrap();
            assert!(
                s["json_schema"]["properties"].get(cursor).is_some(),
                "{name}"
            );
        }
        for key in s["source_defined_primary_key"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let field = key[0].as_str().unwrap();
            assert!(
                s["json_schema"]["properties"].get(field).is_some(),
                "{name}.{field}"
            );
        }
    }
    let modes = |name: &str| {
        streams.iter().find(|s| s["name"] == name).unwrap()["supported_sync_modes"].clone()
    };
    for full_only in [
        "company",
        "billable_rates",
        "cost_rates",
        "project_budget",
        "user_teammates",
    ] {
        assert_eq!(modes(full_only), json!(["full_refresh"]), "{full_only}");
    }
    assert_eq!(
        modes("time_entries"),
        json!(["full_refresh", "incremental"])
    );
    let stream = |name: &str| streams.iter().find(|s| s["name"] == name).unwrap();
    for (derived, cursor, key) in [
        ("invoice_line_items", "invoices_updated_at", json!([["id"]])),
        (
            "estimate_line_items",
            "estimates_updated_at",
            json!([["id"]]),
        ),
        (
            "time_entry_external_reference",
            "time_entries_updated_at",
            json!([["time_entry_id"]]),
        ),
        (
            "user_roles",
            "roles_updated_at",
            json!([["role_id"], ["user_id"]]),
        ),
        (
            "user_project_tasks",
            "project_assignments_updated_at",
            json!([["user_id"], ["id"]]),
        ),
    ] {
        let s = stream(derived);
        assert_eq!(
            s["supported_sync_modes"],
            json!(["full_refresh", "incremental"])
        );
        assert_eq!(s["default_cursor_field"], json!([cursor]), "{derived}");
        assert_eq!(s["source_defined_primary_key"], key, "{derived}");
    }
    assert_eq!(
        stream("user_teammates")["source_defined_primary_key"],
        json!([["parent_id"], ["id"]])
    );
}

#[test]
fn discover_refuses_an_invalid_config_with_a_config_error() {
    let files = Files::new();
    let path = files.json("config.json", &json!({"account_id": "1"}));
    let run = run(&["discover", "--config", path.to_str().unwrap()]);
    assert_ne!(run.code, 0);
    let errors = run.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["failure_type"], "config_error");
}
