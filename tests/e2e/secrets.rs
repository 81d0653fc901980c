//! Secrets (issue 5, point 6): every command and every failure path is run with the most
//! verbose logging there is, and no secret — `api_token`, `client_secret`, `refresh_token`, the
//! OAuth access tokens the connector obtains, and `account_id`, which spec.json marks
//! `airbyte_secret` — appears anywhere on stdout or stderr.
//!
//! The emulator only accepts its own credentials, so the paths that succeed use those; the
//! failure paths use recognisable values of our own, and a small server of this file plays an
//! API and a token endpoint that repeat every credential they are sent in their error bodies.

use std::net::SocketAddr;

use crate::common::{catalog, config, emulator, run_with_env, serve, Files, Run};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use harvest_emulator::{
    Emulator, EmulatorConfig, Faults, Scale, ACCOUNT_ID, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET,
    OAUTH_REFRESH_TOKEN, PERSONAL_ACCESS_TOKEN,
};
use serde_json::{json, Value};

/// The loudest logging: our own events and the HTTP stack's, at TRACE.
pub const LOUDEST: &str = "trace,hyper=trace,hyper_util=trace,reqwest=trace,rustls=trace,h2=trace";

/// Recognisable secrets of our own, for the paths where the emulator need not accept them.
const OUR_TOKEN: &str = "7777777.pt.OUR-personal-token-s3cr3t";
const OUR_CLIENT_SECRET: &str = "OUR-client-secret-s3cr3t";
const OUR_REFRESH_TOKEN: &str = "OUR-refresh-token-s3cr3t";
const OUR_ACCOUNT_ID: &str = "4815162342";

/// Prefix of every OAuth access token the emulator issues.
const EMULATOR_ACCESS_TOKEN: &str = "emulator-access-token-";

/// Runs the binary with the loudest logging.
fn run_loud(args: &[&str]) -> Run {
    run_with_env(args, &[("SOURCE_HARVEST_LOG", LOUDEST)])
}

/// Asserts that none of `secrets` is anywhere in what `run` printed, and that it did not panic.
fn assert_clean(what: &str, run: &Run, secrets: &[&str]) {
    assert_none_of(what, run, secrets, usize::MAX);
}

/// Asserts that not even the first 8 characters of one of our secrets were printed: a secret
/// cut short by a truncated message still leaks.
fn assert_clean_of_ours(what: &str, run: &Run) {
    assert_none_of(what, run, OUR_SECRETS, 8);
}

fn assert_none_of(what: &str, run: &Run, secrets: &[&str], shown: usize) {
    assert!(!run.stderr.contains("panicked"), "{what}: {}", run.stderr);
    for secret in secrets {
        let start = &secret[..secret.len().min(shown)];
        for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(
                !text.contains(start),
                "{what}: a secret ({}…) leaked on {stream}",
                &secret[..6]
            );
        }
    }
}

/// Asserts that `account_id` appears nowhere but in records: the emulator's id is a number
/// that record data may contain by chance, which is Harvest's data, not a leak.
fn assert_account_id_clean(what: &str, run: &Run, account_id: &str) {
    for line in run.stdout.lines() {
        let message: Value = serde_json::from_str(line).unwrap();
        if message["type"] != "RECORD" {
            assert!(
                !line.contains(account_id),
                "{what}: account_id in {line:.300}"
            );
        }
    }
    assert!(
        !run.stderr.contains(account_id),
        "{what}: account_id on stderr"
    );
}

/// Whether logging really was at its most verbose: at least one DEBUG or TRACE line.
fn assert_debug_logged(what: &str, run: &Run) {
    let verbose = run
        .of_type("LOG")
        .iter()
        .any(|m| m["log"]["level"] == "DEBUG" || m["log"]["level"] == "TRACE");
    assert!(verbose, "{what}: no DEBUG or TRACE line: {}", run.logs());
    // The connector's own debug lines, not only the HTTP stack's: one per response, one per
    // STATE; these are what the secrets must stay out of.
    let own = |needle: &str| {
        run.of_type("LOG").iter().any(|m| {
            m["log"]["level"] == "DEBUG" && m["log"]["message"].as_str().unwrap().contains(needle)
        })
    };
    assert!(own("GET /v2/"), "{what}: no response line: {}", run.logs());
    if what == "read" {
        assert!(
            own(": STATE after "),
            "{what}: no STATE line: {}",
            run.logs()
        );
    }
}

fn pat_config(emu: &Emulator) -> Value {
    config(emu, json!({}))
}

fn oauth_config(emu: &Emulator, client_secret: &str, refresh_token: &str) -> Value {
    config(
        emu,
        json!({"credentials": {
            "auth_type": "Client",
            "client_id": OAUTH_CLIENT_ID,
            "client_secret": client_secret,
            "refresh_token": refresh_token
        }}),
    )
}

/// Every secret the emulator knows, for the runs that succeed.
const EMULATOR_SECRETS: &[&str] = &[
    PERSONAL_ACCESS_TOKEN,
    OAUTH_CLIENT_SECRET,
    OAUTH_REFRESH_TOKEN,
    EMULATOR_ACCESS_TOKEN,
];

/// Our own secrets, for the runs that fail.
const OUR_SECRETS: &[&str] = &[
    OUR_TOKEN,
    OUR_CLIENT_SECRET,
    OUR_REFRESH_TOKEN,
    OUR_ACCOUNT_ID,
];

fn check(files: &Files, config: &Value) -> Run {
    let path = files.json("config.json", config);
    run_loud(&["check", "--config", path.to_str().unwrap()])
}

fn discover(files: &Files, config: &Value) -> Run {
    let path = files.json("config.json", config);
    run_loud(&["discover", "--config", path.to_str().unwrap()])
}

fn read(files: &Files, config: &Value, streams: &[&str]) -> Run {
    let config = files.json("config.json", config);
    let catalog = files.json("catalog.json", &catalog(streams, "incremental"));
    run_loud(&[
        "read",
        "--config",
        config.to_str().unwrap(),
        "--catalog",
        catalog.to_str().unwrap(),
    ])
}

#[test]
fn spec_prints_no_secret() {
    let run = run_loud(&["spec"]);
    assert_eq!(run.code, 0);
    assert_clean("spec", &run, EMULATOR_SECRETS);
    assert_clean_of_ours("spec", &run);
}

#[test]
fn check_discover_and_read_with_a_personal_access_token_print_no_secret() {
    let emu = emulator(Scale::Tiny);
    let files = Files::new();
    let config = pat_config(&emu);
    for (what, run) in [
        ("check", check(&files, &config)),
        ("discover", discover(&files, &config)),
        (
            "read",
            read(&files, &config, &["clients", "users", "time_entries"]),
        ),
    ] {
        assert_eq!(run.code, 0, "{what}: {:?}", run.messages);
        assert_clean(what, &run, EMULATOR_SECRETS);
        assert_account_id_clean(what, &run, ACCOUNT_ID);
        if what != "discover" {
            // discover sends no request, so the HTTP stack has nothing to log.
            assert_debug_logged(what, &run);
        }
    }
}

#[test]
fn check_and_read_with_oauth_and_tokens_expiring_mid_sync_print_no_secret() {
    let emu = Emulator::start(EmulatorConfig {
        scale: Scale::Tiny,
        general_limit: None,
        reports_limit: None,
        faults: Faults {
            token_expires_after: Some(2),
            ..Faults::none()
        },
        ..EmulatorConfig::default()
    })
    .unwrap();
    let files = Files::new();
    let config = oauth_config(&emu, OAUTH_CLIENT_SECRET, OAUTH_REFRESH_TOKEN);
    let checked = check(&files, &config);
    assert_eq!(
        checked.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"],
        "SUCCEEDED"
    );
    let read = read(&files, &config, &["clients", "projects", "time_entries"]);
    assert_eq!(read.code, 0, "{:?}", read.errors());
    assert!(!read.of_type("RECORD").is_empty());
    for (what, run) in [("check", &checked), ("read", &read)] {
        assert_clean(what, run, EMULATOR_SECRETS);
        assert_account_id_clean(what, run, ACCOUNT_ID);
        assert_debug_logged(what, run);
    }
}

#[test]
fn retries_through_every_fault_print_no_secret() {
    use harvest_emulator::FaultKind;
    let mut faults = Faults::mix(
        7,
        0.3,
        &[
            FaultKind::Status500,
            FaultKind::Status503,
            FaultKind::Status429,
            FaultKind::ConnectionReset,
            FaultKind::TruncatedBody,
            FaultKind::MalformedJson,
        ],
    );
    faults.token_expires_after = Some(3);
    let emu = Emulator::start(EmulatorConfig {
        scale: Scale::Tiny,
        general_limit: None,
        reports_limit: None,
        faults,
        ..EmulatorConfig::default()
    })
    .unwrap();
    let files = Files::new();
    let mut config = oauth_config(&emu, OAUTH_CLIENT_SECRET, OAUTH_REFRESH_TOKEN);
    config["max_retries"] = json!(10);
    let run = read(
        &files,
        &config,
        &["clients", "projects", "users", "time_entries"],
    );
    assert!(
        run.logs().contains("WARN"),
        "no retry was logged: {}",
        run.logs()
    );
    assert_clean("read through faults", &run, EMULATOR_SECRETS);
    assert_account_id_clean("read through faults", &run, ACCOUNT_ID);
    assert_debug_logged("read through faults", &run);
}

#[test]
fn a_wrong_token_401_prints_no_secret() {
    let emu = emulator(Scale::Tiny);
    let files = Files::new();
    let config = config(
        &emu,
        json!({"credentials": {"auth_type": "Token", "api_token": OUR_TOKEN}}),
    );
    let checked = check(&files, &config);
    assert_eq!(
        checked.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"],
        "FAILED"
    );
    let read = read(&files, &config, &["clients"]);
    assert_ne!(read.code, 0);
    assert!(!read.errors().is_empty());
    for (what, run) in [("check", &checked), ("read", &read)] {
        assert_clean_of_ours(what, run);
    }
}

#[test]
fn a_wrong_account_id_prints_no_account_id() {
    let emu = emulator(Scale::Tiny);
    let files = Files::new();
    let config = config(&emu, json!({"account_id": OUR_ACCOUNT_ID}));
    let checked = check(&files, &config);
    let message = checked.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("account_id"), "{message}");
    let read = read(&files, &config, &["clients"]);
    assert_ne!(read.code, 0);
    for (what, run) in [("check", &checked), ("read", &read)] {
        assert_clean(what, run, &[OUR_ACCOUNT_ID, PERSONAL_ACCESS_TOKEN]);
    }
}

#[test]
fn a_403_on_a_stream_prints_no_secret() {
    let emu = Emulator::start(EmulatorConfig {
        scale: Scale::Tiny,
        general_limit: None,
        reports_limit: None,
        forbidden: vec!["/v2/users".into(), "/v2/invoices".into()],
        ..EmulatorConfig::default()
    })
    .unwrap();
    let files = Files::new();
    let config = oauth_config(&emu, OAUTH_CLIENT_SECRET, OAUTH_REFRESH_TOKEN);
    let run = read(&files, &config, &["clients", "users", "invoices"]);
    assert!(run.logs().contains("403"), "{}", run.logs());
    assert_clean("read with 403", &run, EMULATOR_SECRETS);
    assert_account_id_clean("read with 403", &run, ACCOUNT_ID);
}

#[test]
fn an_unreachable_host_prints_no_secret() {
    let emu = emulator(Scale::Tiny);
    let files = Files::new();
    let config = config(
        &emu,
        json!({
            "api_url": "http://127.0.0.1:9/v2",
            "oauth_token_url": "http://127.0.0.1:9/token",
            "account_id": OUR_ACCOUNT_ID,
            "max_retries": 0,
            "credentials": {"auth_type": "Token", "api_token": OUR_TOKEN}
        }),
    );
    let checked = check(&files, &config);
    assert!(checked.stdout.contains("cannot reach Harvest"));
    let oauth_read = read(&files, &config_with_oauth(&config), &["clients"]);
    assert_ne!(oauth_read.code, 0);
    let read = read(&files, &config, &["clients"]);
    assert_ne!(read.code, 0);
    for (what, run) in [
        ("check", &checked),
        ("read", &read),
        ("read with OAuth", &oauth_read),
    ] {
        assert_clean_of_ours(what, run);
    }
}

/// `config` with our OAuth credentials instead of its own.
fn config_with_oauth(config: &Value) -> Value {
    let mut config = config.clone();
    config["credentials"] = json!({
        "auth_type": "Client",
        "client_id": "our-client",
        "client_secret": OUR_CLIENT_SECRET,
        "refresh_token": OUR_REFRESH_TOKEN
    });
    config
}

#[test]
fn an_invalid_config_prints_no_secret_even_when_a_secret_is_in_the_wrong_field() {
    let files = Files::new();
    let base = json!({
        "account_id": OUR_ACCOUNT_ID,
        "replication_start_date": "2020-01-01T00:00:00Z",
        "credentials": {"auth_type": "Token", "api_token": OUR_TOKEN}
    });
    let broken = [
        json!({"replication_start_date": OUR_TOKEN}),
        json!({"replication_end_date": OUR_REFRESH_TOKEN}),
        json!({"api_url": OUR_CLIENT_SECRET}),
        json!({"api_url": format!("https://{OUR_TOKEN}:{OUR_CLIENT_SECRET}@[::1/v2")}),
        json!({"api_url": format!("https://{OUR_TOKEN}:{OUR_CLIENT_SECRET}@api.harvestapp.com/v2")}),
        json!({"page_size": OUR_TOKEN}),
        json!({"account_id": 4_815_162_342_u64}),
        json!({"credentials": {"auth_type": OUR_CLIENT_SECRET, "api_token": OUR_TOKEN}}),
        json!({"credentials": {"auth_type": "Client", "client_id": OUR_TOKEN, "client_secret": OUR_CLIENT_SECRET}}),
        json!({"credentials": OUR_REFRESH_TOKEN}),
    ];
    for (i, fields) in broken.into_iter().enumerate() {
        let mut config = base.clone();
        crate::common::merge(&mut config, fields);
        for command in ["check", "discover"] {
            let path = files.json(&format!("config-{i}.json"), &config);
            let run = run_loud(&[command, "--config", path.to_str().unwrap()]);
            let what = format!("{command} of invalid config {i}");
            let refused = run.errors().len() == 1 || run.stdout.contains("\"FAILED\"");
            assert!(refused, "{what}: {:?}", run.messages);
            assert_clean_of_ours(&what, &run);
        }
    }
}

#[test]
fn an_oauth_refresh_refused_by_the_emulator_prints_no_secret() {
    let emu = emulator(Scale::Tiny);
    let files = Files::new();
    for (what, config) in [
        (
            "wrong refresh token",
            oauth_config(&emu, OAUTH_CLIENT_SECRET, OUR_REFRESH_TOKEN),
        ),
        (
            "wrong client secret",
            oauth_config(&emu, OUR_CLIENT_SECRET, OAUTH_REFRESH_TOKEN),
        ),
    ] {
        let checked = check(&files, &config);
        assert!(checked.stdout.contains("\"FAILED\""), "{what}");
        let read = read(&files, &config, &["clients"]);
        assert_ne!(read.code, 0, "{what}");
        for run in [&checked, &read] {
            assert_clean_of_ours(what, run);
            assert_clean(what, run, EMULATOR_SECRETS);
        }
    }
}

/// Starts a server that answers every request with the status (and OAuth error code) named by
/// the first two segments of its path, and a body that repeats every credential it was sent —
/// the `Authorization` and `Harvest-Account-Id` headers, the query and the form body — in each
/// field a client might show: `message`, `error` and `error_description`.
fn start_echo_server() -> SocketAddr {
    serve(axum::Router::new().fallback(echo))
}

async fn echo(uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let mut segments = uri.path().split('/').skip(1);
    let status = segments
        .next()
        .and_then(|s| s.parse().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let code = segments.next().unwrap_or_default();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let echoed = format!(
        "you sent {} for account {} with {} and {}",
        header("authorization"),
        header("harvest-account-id"),
        uri.query().unwrap_or_default(),
        String::from_utf8_lossy(&body)
    );
    if status == StatusCode::OK {
        return (status, format!("<html>not JSON: {echoed}</html>")).into_response();
    }
    let body = json!({
        "message": echoed,
        "error": format!("{code} {echoed}"),
        "error_description": echoed
    });
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

#[test]
fn a_server_echoing_the_credentials_in_its_errors_prints_no_secret() {
    let addr = start_echo_server();
    let files = Files::new();
    let emu = emulator(Scale::Tiny);
    let mut cases = Vec::new();
    for status in ["200", "400", "401", "403", "404", "422", "429", "500"] {
        cases.push((
            format!("API answering {status} to a PAT"),
            config(
                &emu,
                json!({
                    "api_url": format!("http://{addr}/{status}/x/v2"),
                    "account_id": OUR_ACCOUNT_ID,
                    "max_retries": 1,
                    "credentials": {"auth_type": "Token", "api_token": OUR_TOKEN}
                }),
            ),
        ));
    }
    for (status, code) in [
        ("400", "invalid_grant"),
        ("401", "invalid_client"),
        ("400", "unsupported_grant_type"),
        ("500", "server_error"),
        ("200", "none"),
    ] {
        let base = config(
            &emu,
            json!({
                "oauth_token_url": format!("http://{addr}/{status}/{code}/token"),
                "account_id": OUR_ACCOUNT_ID,
                "max_retries": 1
            }),
        );
        cases.push((
            format!("token endpoint answering {status} {code}"),
            config_with_oauth(&base),
        ));
    }
    // The echoed form puts the client secret 85 + len(client_id) characters into the error
    // code; with this client_id, a 300-character cut of that text falls inside the secret.
    let mut cut = config_with_oauth(&config(
        &emu,
        json!({
            "oauth_token_url": format!("http://{addr}/400/x/token"),
            "account_id": OUR_ACCOUNT_ID,
            "max_retries": 1
        }),
    ));
    cut["credentials"]["client_id"] = json!("c".repeat(205));
    cases.push(("a secret cut by a truncated message".into(), cut));
    let mut repeated = 0;
    for (what, config) in &cases {
        let checked = check(&files, config);
        assert!(checked.stdout.contains("\"FAILED\""), "{what}");
        let read = read(&files, config, &["clients"]);
        assert_ne!(read.code, 0, "{what}");
        assert!(!read.errors().is_empty(), "{what}");
        for run in [&checked, &read] {
            assert_clean_of_ours(what, run);
            if run.stdout.contains("you sent") {
                repeated += 1;
            }
        }
    }
    // The test means something only if what the server said does reach the output.
    assert!(
        repeated >= 10,
        "{repeated} runs showed the server's message"
    );
}
