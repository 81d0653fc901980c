//! Malformed inputs (issue 5, point 4): every broken config, catalog or state file the binary
//! can be handed ends in one TRACE ERROR of type `config_error` whose message names what is
//! wrong, a non-zero exit, no panic and nothing but valid Airbyte messages on stdout. `check`
//! answers a broken config the way the Python CDK does (CONNECTION_STATUS FAILED, exit 0), with
//! the same message. Four deliberate exceptions are tested here too: a state from the future is
//! not an error (Airbyte's abnormal-state test wants an empty, successful read), nor is
//! incremental on a stream without a cursor (PyAirbyte asks for it; the stream is read in full),
//! nor a state of a stream the catalog does not select or this connector does not have (ignored
//! with a log line naming it), and command-line misuse is answered by the argument parser before
//! any Airbyte message. Inputs nested deeper than 128 levels, a stream given two states and
//! malformed `sweep` or `resume` members are errors naming the file, the stream and the member.
//!
//! Every command reports any input error the same way (`commands::config_error`), so the cases
//! are parsed in-process (64 configs, 25 catalogs and 36 states, through the library's own
//! readers), and one run of the binary per command and input
//! kind proves the message reaches the output as the parser words it. The cases are tables of
//! named cases; a failing test lists every case that went wrong, by name.

use std::path::{Path, PathBuf};

use crate::common::{catalog, config, emulator, merge, run, served_records, Files, ReadInput, Run};
use harvest_emulator::{Emulator, Scale};
use serde_json::{json, Value};
use source_harvest::config::Config;
use source_harvest::input::{read_json_file, InputFile};
use source_harvest::state::InputState;
use source_harvest::streams::find;

/// What a case's file holds.
enum Input {
    /// This JSON document, whole.
    Json(Value),
    /// These bytes, as they are.
    Raw(Vec<u8>),
    /// Nothing: the path does not exist.
    Missing,
    /// A directory where the file should be.
    Directory,
    /// A (sparse) file one byte over the 16 MiB limit.
    Huge,
}

/// One malformed input and the pieces of the message it must produce: `expect` split at " … ",
/// each piece present, in order.
struct Case {
    name: &'static str,
    input: Input,
    expect: &'static str,
}

fn case(name: &'static str, input: Input, expect: &'static str) -> Case {
    Case {
        name,
        input,
        expect,
    }
}

fn raw(text: &str) -> Input {
    Input::Raw(text.as_bytes().to_vec())
}

/// Writes a case's input under `name`.
fn write(files: &Files, name: &str, input: &Input) -> PathBuf {
    match input {
        Input::Json(doc) => files.json(name, doc),
        Input::Raw(bytes) => files.bytes(name, bytes),
        Input::Missing => files.path(name),
        Input::Directory => {
            let path = files.path(name);
            std::fs::create_dir(&path).expect("create a directory");
            path
        }
        Input::Huge => {
            let path = files.path(name);
            let file = std::fs::File::create(&path).expect("create a file");
            file.set_len(source_harvest::input::MAX_INPUT_BYTES + 1)
                .expect("size the file");
            path
        }
    }
}

/// Why the run did not end the way every bad input must (one config_error naming the problem,
/// a non-zero exit, no record, no panic), if it did not.
fn config_error_problem(run: &Run, expect: &str) -> Option<String> {
    let errors = run.errors();
    let message = errors
        .first()
        .and_then(|e| e["message"].as_str())
        .unwrap_or_default();
    if run.stderr.contains("panicked") {
        Some(format!("panicked: {}", run.stderr))
    } else if run.code == 0 || run.code == 101 {
        Some(format!("exit {} (0: silent success, 101: panic)", run.code))
    } else if errors.len() != 1 || errors[0]["failure_type"] != "config_error" {
        Some(format!("not one config_error: {:?}", run.messages))
    } else if !contains_in_order(message, expect) {
        Some(format!("the message lacks {expect:?}: {message}"))
    } else if !run.of_type("RECORD").is_empty() {
        Some("records were emitted".into())
    } else {
        None
    }
}

/// Why `check` did not answer FAILED, with exit 0, the same message and no panic, if it did not.
fn check_problem(run: &Run, expect: &str) -> Option<String> {
    let status = run.of_type("CONNECTION_STATUS");
    let message = status
        .first()
        .and_then(|s| s["connectionStatus"]["message"].as_str())
        .unwrap_or_default();
    if run.stderr.contains("panicked") {
        Some(format!("panicked: {}", run.stderr))
    } else if run.code != 0 || status.len() != 1 {
        Some(format!("exit {}: {:?}", run.code, run.messages))
    } else if status[0]["connectionStatus"]["status"] != "FAILED" {
        Some(format!("not FAILED: {:?}", run.messages))
    } else if !contains_in_order(message, expect) {
        Some(format!("the message lacks {expect:?}: {message}"))
    } else {
        None
    }
}

/// Whether every piece of `expect` (split at " … ") is in `message`, in that order.
fn contains_in_order(message: &str, expect: &str) -> bool {
    let mut rest = message;
    expect.split(" … ").all(|piece| match rest.find(piece) {
        Some(at) => {
            rest = &rest[at + piece.len()..];
            true
        }
        None => false,
    })
}

/// Runs every case, then fails with the list of those that went wrong, by name.
fn run_cases(cases: &[Case], mut one: impl FnMut(usize, &Case) -> Option<String>) {
    let failures: Vec<String> = cases
        .iter()
        .enumerate()
        .filter_map(|(i, case)| one(i, case).map(|why| format!("{}: {why}", case.name)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The valid config every config case breaks one thing of (nothing listens at its URLs: the
/// cases are parsed, not run).
fn offline_config() -> Value {
    json!({
        "account_id": "1000001",
        "replication_start_date": "2020-01-01T00:00:00Z",
        "credentials": {"auth_type": "Token", "api_token": "token"},
        "api_url": "http://127.0.0.1:9/v2",
        "oauth_token_url": "http://127.0.0.1:9/api/v2/oauth2/token",
        "requests_per_window": 1000,
        "window_seconds": 1,
        "retry_base_delay_seconds": 0.01
    })
}

/// `offline_config()` with these top-level fields replaced (null removes one).
fn patch(fields: Value) -> Input {
    let mut doc = offline_config();
    merge(&mut doc, fields);
    Input::Json(doc)
}

/// `offline_config()` with OAuth credentials, these of their fields replaced.
fn oauth(fields: Value) -> Input {
    let mut credentials = json!({
        "auth_type": "Client",
        "client_id": "id",
        "client_secret": "secret",
        "refresh_token": "refresh"
    });
    merge(&mut credentials, fields);
    patch(json!({ "credentials": credentials }))
}

fn config_cases() -> Vec<Case> {
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    vec![
        case(
            "config_not_json",
            raw("{account_id: 1"),
            "the config file … is not valid JSON (line 1, column 2)",
        ),
        case(
            "config_not_json_says_where",
            raw("{\n  \"a\": 1,\n  oops\n}"),
            "line 3",
        ),
        case("config_empty_file", raw(""), "is empty"),
        case("config_only_whitespace", raw("  \n\t\n"), "is empty"),
        case(
            "config_not_utf8",
            Input::Raw(vec![0xff, 0xfe, 0x7b, 0x7d]),
            "not valid JSON",
        ),
        case("config_trailing_garbage", raw("{} {}"), "not valid JSON"),
        case(
            "config_nested_10000_deep",
            Input::Raw(nested.into_bytes()),
            "not valid JSON (line 1, column 128): it nests arrays or objects deeper than 128 levels",
        ),
        case(
            "config_number_beyond_f64",
            raw("{\"request_timeout_seconds\": 1e400}"),
            "the config file … is not valid JSON (line 1, column 33): a number is too large",
        ),
        case(
            "request_timeout_a_million_years",
            patch(json!({"request_timeout_seconds": 3.2e13})),
            "request_timeout_seconds must be from 0.5 to 3600",
        ),
        case(
            "config_huge_file_over_16_mib",
            Input::Huge,
            "more than the 16777216 bytes",
        ),
        case(
            "config_is_a_directory",
            Input::Directory,
            "cannot read the config file",
        ),
        case(
            "config_missing_file",
            Input::Missing,
            "cannot read the config file",
        ),
        case(
            "config_array_instead_of_object",
            Input::Json(json!([])),
            "found an array",
        ),
        case(
            "config_string_instead_of_object",
            Input::Json(json!("x")),
            "found a string",
        ),
        case("config_null", Input::Json(Value::Null), "found null"),
        case(
            "account_id_missing",
            patch(json!({"account_id": null})),
            "account_id is required",
        ),
        case(
            "account_id_number",
            patch(json!({"account_id": 1000001})),
            "account_id must be of type string",
        ),
        case(
            "account_id_blank",
            patch(json!({"account_id": "  "})),
            "account_id is empty",
        ),
        case(
            "account_id_control_characters",
            patch(json!({"account_id": "10\u{1}01"})),
            "account_id",
        ),
        case(
            "start_date_missing",
            patch(json!({"replication_start_date": null})),
            "replication_start_date is required",
        ),
        case(
            "start_date_number",
            patch(json!({"replication_start_date": 2020})),
            "replication_start_date must be of type string",
        ),
        case(
            "start_date_words",
            patch(json!({"replication_start_date": "yesterday"})),
            "replication_start_date does not match",
        ),
        case(
            "start_date_without_time",
            patch(json!({"replication_start_date": "2024-01-01"})),
            "replication_start_date does not match",
        ),
        case(
            "start_date_impossible_day",
            patch(json!({"replication_start_date": "2024-02-30T00:00:00Z"})),
            "replication_start_date is not a valid",
        ),
        case(
            "start_date_month_13",
            patch(json!({"replication_start_date": "2024-13-01T00:00:00Z"})),
            "replication_start_date is not a valid",
        ),
        case(
            "start_date_in_the_future",
            patch(json!({"replication_start_date": "2999-01-01T00:00:00Z"})),
            "replication_start_date 2999-01-01T00:00:00Z is in the future",
        ),
        case(
            "end_date_before_start",
            patch(json!({"replication_end_date": "2019-01-01T00:00:00Z"})),
            "replication_end_date 2019-01-01T00:00:00Z is not after replication_start_date",
        ),
        case(
            "end_date_equals_start",
            patch(json!({"replication_end_date": "2020-01-01T00:00:00Z"})),
            "is not after replication_start_date",
        ),
        case(
            "end_date_wrong_format",
            patch(json!({"replication_end_date": "01/02/2024"})),
            "replication_end_date does not match",
        ),
        case(
            "end_date_boolean",
            patch(json!({"replication_end_date": true})),
            "replication_end_date must be of type string",
        ),
        case(
            "credentials_missing",
            patch(json!({"credentials": null})),
            "credentials is missing",
        ),
        case(
            "credentials_string",
            patch(json!({"credentials": "token"})),
            "credentials must be an object",
        ),
        case(
            "credentials_array",
            patch(json!({"credentials": []})),
            "credentials must be an object",
        ),
        case(
            "credentials_empty_object",
            patch(json!({"credentials": {}})),
            "credentials has neither",
        ),
        case(
            "auth_type_unknown",
            patch(json!({"credentials": {"auth_type": "Basic", "api_token": "t"}})),
            "credentials.auth_type is unknown",
        ),
        case(
            "auth_type_number",
            patch(json!({"credentials": {"auth_type": 1, "api_token": "t"}})),
            "credentials.auth_type",
        ),
        case(
            "token_api_token_missing",
            patch(json!({"credentials": {"auth_type": "Token"}})),
            "credentials.api_token is missing",
        ),
        case(
            "token_api_token_empty",
            patch(json!({"credentials": {"auth_type": "Token", "api_token": " "}})),
            "credentials.api_token is empty",
        ),
        case(
            "token_api_token_number",
            patch(json!({"credentials": {"auth_type": "Token", "api_token": 42}})),
            "credentials.api_token must be a string; found a number",
        ),
        case(
            "oauth_client_id_missing",
            oauth(json!({"client_id": null})),
            "credentials.client_id is missing",
        ),
        case(
            "oauth_client_secret_missing",
            oauth(json!({"client_secret": null})),
            "credentials.client_secret is missing",
        ),
        case(
            "oauth_refresh_token_missing",
            oauth(json!({"refresh_token": null})),
            "credentials.refresh_token is missing",
        ),
        case(
            "oauth_refresh_token_object",
            oauth(json!({"refresh_token": {"v": 1}})),
            "credentials.refresh_token must be a string; found an object",
        ),
        case(
            "page_size_zero",
            patch(json!({"page_size": 0})),
            "page_size must be from 1 to 2000",
        ),
        case(
            "page_size_5000",
            patch(json!({"page_size": 5000})),
            "page_size must be from 1 to 2000",
        ),
        case(
            "page_size_string",
            patch(json!({"page_size": "100"})),
            "page_size must be of type integer",
        ),
        case(
            "page_size_fraction",
            patch(json!({"page_size": 10.5})),
            "page_size must be of type integer",
        ),
        case(
            "requests_per_window_negative",
            patch(json!({"requests_per_window": -1})),
            "requests_per_window must be from 1 to 100000",
        ),
        case(
            "window_seconds_zero",
            patch(json!({"window_seconds": 0})),
            "window_seconds must be from 0.1 to 86400",
        ),
        case(
            "report_window_seconds_too_long",
            patch(json!({"report_window_seconds": 1e9})),
            "report_window_seconds must be from 0.1 to 86400",
        ),
        case(
            "request_timeout_negative",
            patch(json!({"request_timeout_seconds": -5})),
            "request_timeout_seconds must be from 0.5 to 3600",
        ),
        case(
            "max_retries_negative",
            patch(json!({"max_retries": -1})),
            "max_retries must be from 0 to 50",
        ),
        case(
            "child_sweep_hours_negative",
            patch(json!({"child_sweep_hours": -1})),
            "child_sweep_hours must be from 0 to 8760",
        ),
        case(
            "checkpoint_interval_zero",
            patch(json!({"checkpoint_interval": 0})),
            "checkpoint_interval must be from 1 to 10000000",
        ),
        case(
            "report_requests_per_window_zero",
            patch(json!({"report_requests_per_window": 0})),
            "report_requests_per_window must be from 1 to 100000",
        ),
        case(
            "max_retries_51",
            patch(json!({"max_retries": 51})),
            "max_retries must be from 0 to 50",
        ),
        case(
            "max_concurrency_zero",
            patch(json!({"max_concurrency": 0})),
            "max_concurrency must be from 1 to 64",
        ),
        case(
            "checkpoint_interval_boolean",
            patch(json!({"checkpoint_interval": false})),
            "checkpoint_interval must be of type integer",
        ),
        case(
            "api_url_ftp",
            patch(json!({"api_url": "ftp://api.harvestapp.com/v2"})),
            "api_url does not match",
        ),
        case(
            "api_url_without_host",
            patch(json!({"api_url": "http://"})),
            "api_url is not a valid URL",
        ),
        case(
            "api_url_with_space_in_host",
            patch(json!({"api_url": "https://api harvest.com/v2"})),
            "api_url is not a valid URL",
        ),
        case(
            "api_url_with_user_and_password",
            patch(json!({"api_url": "https://user:pass@api.harvestapp.com/v2"})),
            "api_url must not contain a user name or password",
        ),
        case(
            "api_url_number",
            patch(json!({"api_url": 8080})),
            "api_url must be of type string",
        ),
        case(
            "oauth_token_url_not_a_url",
            patch(json!({"oauth_token_url": "https://[::1/token"})),
            "oauth_token_url is not a valid URL",
        ),
    ]
}

/// Every malformed config file, read and parsed as every command does (`read_json_file`, then
/// `Config::from_json`), must fail with a message naming what is wrong. The test below proves
/// each command prints that message as it is.
#[test]
fn malformed_configs_64_cases_are_config_errors_naming_the_problem() {
    let files = Files::new();
    let cases = config_cases();
    assert_eq!(cases.len(), 64);
    run_cases(&cases, |i, case| {
        let path = write(&files, &format!("config-{i}.json"), &case.input);
        let loaded =
            read_json_file(InputFile::Config, &path).and_then(|doc| Config::from_json(&doc));
        match loaded {
            Ok(_) => Some("accepted".to_string()),
            Err(e) if contains_in_order(&e.to_string(), case.expect) => None,
            Err(e) => Some(format!("the message lacks {:?}: {e}", case.expect)),
        }
    });
}

/// The valid config the cases' runs use.
fn base_config(emu: &Emulator) -> Value {
    config(emu, json!({}))
}

/// The 64 config cases above are parsed in-process. This proves each command reports the error exactly as the
/// parser words it: `check` as CONNECTION_STATUS FAILED with exit 0, `discover` and `read` as one
/// config_error TRACE with a non-zero exit and no record.
#[test]
fn a_malformed_config_is_reported_by_check_discover_and_read_as_the_parser_words_it() {
    let emu = emulator(Scale::Tiny);
    let files = Files::new();
    let mut doc = base_config(&emu);
    merge(
        &mut doc,
        json!({"credentials": {"auth_type": "Token", "api_tokn": "s3cr3t-in-a-misspelt-field"}}),
    );
    let path = files.json("config.json", &doc);
    let path = path.to_str().unwrap();
    let catalog_path = files.json("catalog.json", &catalog(&["clients"], "incremental"));
    let expected = Config::from_json(&doc).unwrap_err().to_string();
    assert_eq!(
        expected,
        "credentials.api_token is missing; the config has credentials.api_tokn — a typo?"
    );

    let checked = run(&["check", "--config", path]);
    assert_eq!(check_problem(&checked, &expected), None);
    let status = &checked.of_type("CONNECTION_STATUS")[0]["connectionStatus"];
    assert_eq!(status["message"], expected.as_str());
    let runs = [
        ("discover", run(&["discover", "--config", path])),
        (
            "read",
            run(&[
                "read",
                "--config",
                path,
                "--catalog",
                catalog_path.to_str().unwrap(),
            ]),
        ),
    ];
    for (command, run) in &runs {
        assert_eq!(config_error_problem(run, &expected), None, "{command}");
        assert_eq!(run.errors()[0]["message"], expected.as_str(), "{command}");
    }
    for run in [&checked, &runs[0].1, &runs[1].1] {
        assert!(!run.stdout.contains("s3cr3t"), "{}", run.stdout);
    }
}

/// A misspelled optional field would be silently ignored (`api_ulr` would send the token to
/// the real Harvest): every command WARNs of each unknown top-level key, as an Airbyte LOG
/// message naming the closest field, and never shows the key's value.
#[test]
fn unknown_config_keys_are_warned_with_the_closest_field_in_check_discover_and_read() {
    let emu = emulator(Scale::Tiny);
    let files = Files::new();
    let mut doc = base_config(&emu);
    merge(
        &mut doc,
        json!({"replication_end_dat": "2021-01-01T00:00:00Z", "api_tokn": "s3cr3t-top-level"}),
    );
    let path = files.json("config.json", &doc);
    let path = path.to_str().unwrap();
    let catalog_path = files.json("catalog.json", &catalog(&["clients"], "incremental"));
    let checked = run(&["check", "--config", path]);
    let status = &checked.of_type("CONNECTION_STATUS")[0]["connectionStatus"];
    assert_eq!(status["status"], "SUCCEEDED", "{:?}", checked.messages);
    let discovered = run(&["discover", "--config", path]);
    assert_eq!(discovered.code, 0, "{:?}", discovered.messages);
    let read = run(&[
        "read",
        "--config",
        path,
        "--catalog",
        catalog_path.to_str().unwrap(),
    ]);
    assert_eq!(read.code, 0, "{:?}", read.messages);
    assert!(!read.stream("clients").is_empty());
    for (command, run) in [
        ("check", &checked),
        ("discover", &discovered),
        ("read", &read),
    ] {
        let logs = run.logs();
        for warning in [
            "\"WARN\" the config has an unknown field \"replication_end_dat\": did you mean replication_end_date?",
            "\"WARN\" the config has an unknown field \"api_tokn\": did you mean api_token?",
        ] {
            assert!(logs.contains(warning), "{command}: {logs}");
        }
        assert!(!run.stdout.contains("s3cr3t"), "{command}: {}", run.stdout);
    }
}

/// A configured stream entry as the platform writes it.
fn entry(name: &str, mode: &str) -> Value {
    json!({
        "stream": {"name": name, "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
        "sync_mode": mode,
        "destination_sync_mode": "append"
    })
}

fn streams(entries: Value) -> Input {
    Input::Json(json!({ "streams": entries }))
}

fn catalog_cases() -> Vec<Case> {
    vec![
        case(
            "catalog_not_json",
            raw("{\"streams\": [}"),
            "the catalog file … is not valid JSON (line 1, column 14)",
        ),
        case("catalog_empty_file", raw(""), "the catalog file … is empty"),
        case(
            "catalog_missing_file",
            Input::Missing,
            "cannot read the catalog file",
        ),
        case(
            "catalog_is_a_directory",
            Input::Directory,
            "cannot read the catalog file",
        ),
        case(
            "catalog_huge_file",
            Input::Huge,
            "more than the 16777216 bytes",
        ),
        case(
            "catalog_nested_10000_deep",
            Input::Raw(format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes()),
            "the catalog file … is not valid JSON (line 1, column 128): it nests arrays or objects deeper than 128 levels",
        ),
        case(
            "catalog_array_instead_of_object",
            Input::Json(json!([entry("clients", "full_refresh")])),
            "the catalog must be a JSON object",
        ),
        case(
            "catalog_without_streams",
            Input::Json(json!({"stream": []})),
            "catalog.streams is missing",
        ),
        case(
            "catalog_streams_is_an_object",
            Input::Json(json!({"streams": {"clients": {}}})),
            "catalog.streams must be an array",
        ),
        case(
            "catalog_streams_empty",
            streams(json!([])),
            "selects no streams",
        ),
        case(
            "catalog_entry_is_a_number",
            streams(json!([42])),
            "streams[0] must be an object",
        ),
        case(
            "catalog_entry_without_stream",
            streams(json!([{"sync_mode": "full_refresh"}])),
            "streams[0].stream is missing",
        ),
        case(
            "catalog_stream_is_a_string",
            streams(json!([{"stream": "clients", "sync_mode": "full_refresh"}])),
            "streams[0].stream must be an object",
        ),
        case(
            "catalog_stream_without_name",
            streams(json!([{"stream": {"json_schema": {}}, "sync_mode": "full_refresh"}])),
            "streams[0].stream.name is missing",
        ),
        case(
            "catalog_stream_name_is_a_number",
            streams(json!([{"stream": {"name": 7}, "sync_mode": "full_refresh"}])),
            "streams[0].stream.name must be a string",
        ),
        case(
            "catalog_unknown_stream",
            streams(json!([entry("nope", "full_refresh")])),
            "stream named \"nope\", which Harvest does not have",
        ),
        case(
            "catalog_second_stream_unknown",
            streams(json!([
                entry("clients", "full_refresh"),
                entry("client", "full_refresh")
            ])),
            "\"client\"",
        ),
        case(
            "catalog_stream_twice",
            streams(json!([
                entry("clients", "full_refresh"),
                entry("clients", "incremental")
            ])),
            "selects the stream clients twice",
        ),
        case(
            "catalog_sync_mode_missing",
            streams(json!([{"stream": {"name": "clients"}}])),
            "streams[0].sync_mode is missing",
        ),
        case(
            "catalog_sync_mode_invalid",
            streams(json!([entry("clients", "INVALID")])),
            "sync_mode \"INVALID\" is not a sync mode",
        ),
        case(
            "catalog_sync_mode_number",
            streams(json!([{"stream": {"name": "clients"}, "sync_mode": 1}])),
            "streams[0].sync_mode must be a string",
        ),
        case(
            "catalog_sync_mode_empty",
            streams(json!([entry("clients", "")])),
            "stream clients: sync_mode \"\" is not a sync mode",
        ),
        case(
            "catalog_sync_mode_in_capitals",
            streams(json!([entry("clients", "FULL_REFRESH")])),
            "sync_mode \"FULL_REFRESH\" is not a sync mode",
        ),
        case(
            "catalog_json_schema_is_a_string",
            streams(
                json!([{"stream": {"name": "clients", "json_schema": "{}"}, "sync_mode": "full_refresh"}]),
            ),
            "stream clients: json_schema must be an object",
        ),
        case(
            "catalog_properties_is_an_array",
            streams(
                json!([{"stream": {"name": "clients", "json_schema": {"properties": ["id"]}}, "sync_mode": "full_refresh"}]),
            ),
            "json_schema.properties must be an object",
        ),
    ]
}

/// What the library says of the catalog at `path`, read and parsed as `read` does.
fn catalog_error(path: &Path) -> Option<String> {
    read_json_file(InputFile::Catalog, path)
        .and_then(|value| source_harvest::catalog::configured(&value).map(drop))
        .err()
        .map(|e| e.to_string())
}

/// Every catalog case read and parsed in-process: each must be an input error naming what
/// is wrong. (Each once ran `read` as a process; one still does, below.)
#[test]
fn malformed_catalogs_25_cases_are_input_errors_naming_the_problem() {
    let files = Files::new();
    let cases = catalog_cases();
    assert_eq!(cases.len(), 25);
    run_cases(&cases, |i, case| {
        let path = write(&files, &format!("catalog-{i}.json"), &case.input);
        parse_problem(catalog_error(&path), case.expect)
    });
}

/// Why a parse did not fail with a message holding `expect`, if it did not.
fn parse_problem(error: Option<String>, expect: &str) -> Option<String> {
    match error {
        None => Some("accepted".into()),
        Some(message) if contains_in_order(&message, expect) => None,
        Some(message) => Some(format!("the message lacks {expect:?}: {message}")),
    }
}

/// `read` reports a malformed catalog exactly as the parser words it: one config_error TRACE,
/// a non-zero exit, no record.
#[test]
fn a_malformed_catalog_fails_read_with_the_parsers_config_error() {
    let emu = emulator(Scale::Tiny);
    let files = Files::new();
    let config_path = files.json("config.json", &base_config(&emu));
    let path = files.json(
        "catalog.json",
        &json!({"streams": [{"stream": {"name": 7}, "sync_mode": "full_refresh"}]}),
    );
    let expected = catalog_error(&path).expect("an error");
    assert!(
        expected.starts_with("catalog.streams[0].stream.name must be a string; found a number"),
        "{expected}"
    );
    let run = run(&[
        "read",
        "--config",
        config_path.to_str().unwrap(),
        "--catalog",
        path.to_str().unwrap(),
    ]);
    assert_eq!(config_error_problem(&run, &expected), None);
    assert_eq!(run.errors()[0]["message"], expected.as_str());
}

/// A STREAM state message for `stream`.
fn stream_state(stream: &str, state: Value) -> Value {
    json!({
        "type": "STREAM",
        "stream": {"stream_descriptor": {"name": stream, "namespace": null}, "stream_state": state},
        "sourceStats": {"recordCount": 1.0}
    })
}

fn state_of(stream: &str, state: Value) -> Input {
    Input::Json(json!([stream_state(stream, state)]))
}

fn state_cases() -> Vec<Case> {
    vec![
        case(
            "state_not_json",
            raw("[{\"type\": \"STREAM\""),
            "the state file … is not valid JSON (line 1, column 18): it ends too early",
        ),
        case("state_empty_file", raw(""), "the state file … is empty"),
        case(
            "state_missing_file",
            Input::Missing,
            "cannot read the state file",
        ),
        case(
            "state_is_a_directory",
            Input::Directory,
            "cannot read the state file",
        ),
        case(
            "state_huge_file",
            Input::Huge,
            "more than the 16777216 bytes",
        ),
        case(
            "state_number",
            Input::Json(json!(42)),
            "the state must be a JSON array of STATE messages; found a number",
        ),
        case(
            "state_string",
            Input::Json(json!("updated_at")),
            "found a string",
        ),
        case(
            "state_entry_is_a_number",
            Input::Json(json!([42])),
            "state entry 0: not a STATE message",
        ),
        case(
            "state_second_entry_is_a_string",
            Input::Json(json!([stream_state("clients", json!({})), "x"])),
            "state entry 1",
        ),
        case(
            "state_stream_without_stream_object",
            Input::Json(json!([{"type": "STREAM"}])),
            "a STREAM state without its `stream` object",
        ),
        case(
            "state_global_without_global_object",
            Input::Json(json!([{"type": "GLOBAL"}])),
            "a GLOBAL state without its `global` object",
        ),
        case(
            "state_legacy_data_is_a_string",
            Input::Json(json!([{"type": "LEGACY", "data": "x"}])),
            "a LEGACY state's data must be an object; found a string",
        ),
        case(
            "state_unknown_type",
            Input::Json(json!([{"type": "PER_STREAM"}])),
            "unknown variant `PER_STREAM`",
        ),
        case(
            "state_descriptor_without_name",
            Input::Json(
                json!([{"type": "STREAM", "stream": {"stream_descriptor": {}, "stream_state": {}}}]),
            ),
            "missing field `name`",
        ),
        case(
            "state_stream_state_is_a_string",
            state_of("clients", json!("2024-01-01T00:00:00Z")),
            "the state of stream clients: expected an object; found a string",
        ),
        case(
            "state_cursor_under_an_unknown_field",
            state_of(
                "clients",
                json!({"cursor": {"updated_at": "2024-01-01T00:00:00Z"}}),
            ),
            "the state of stream clients: it has none of the fields this connector or Airbyte's Python source-harvest writes (updated_at, to, resume, sweep, deletions, windows, __ab_no_cursor_state_message, __ab_full_refresh_sync_complete, states, state), only \"cursor\"; remove the stream's state",
        ),
        case(
            "state_updated_at_words",
            state_of("clients", json!({"updated_at": "last week"})),
            "updated_at \"last week\" is not a date-time",
        ),
        case(
            "state_updated_at_number",
            state_of("clients", json!({"updated_at": 1_700_000_000})),
            "the state of stream clients: updated_at must be a string",
        ),
        case(
            "state_report_to_words",
            state_of("time_clients", json!({"to": "tomorrow"})),
            "the state of stream time_clients: to \"tomorrow\" is not a date",
        ),
        case(
            "state_report_holds_updated_at",
            state_of(
                "time_clients",
                json!({"updated_at": "2024-01-01T00:00:00Z"}),
            ),
            "time_clients: it holds a cursor this stream does not use",
        ),
        case(
            "state_entity_holds_to",
            state_of("clients", json!({"to": "20240101"})),
            "clients: it holds a cursor this stream does not use",
        ),
        case(
            "state_resume_watermark_garbage",
            state_of(
                "clients",
                json!({"updated_at": "2024-01-01T00:00:00Z", "resume": {"watermark": "x"}}),
            ),
            "the state of stream clients: resume.watermark \"x\" is not a date-time like 2024-01-25T00:00:00Z; remove the `resume` object to restart the pass",
        ),
        case(
            "state_resume_from_garbage",
            state_of(
                "time_clients",
                json!({"to": "20240101", "resume": {"from": "soon"}}),
            ),
            "the state of stream time_clients: resume.from \"soon\" is not a date like 20240125",
        ),
        case(
            "state_resume_after_parent_id_text",
            state_of(
                "clients",
                json!({"updated_at": "2024-01-01T00:00:00Z", "resume": {"after_parent_id": "7"}}),
            ),
            "the state of stream clients: resume.after_parent_id must be an integer; found a string",
        ),
        case(
            "state_sweep_without_at",
            state_of(
                "clients",
                json!({"updated_at": "2024-01-01T00:00:00Z", "sweep": {"after_id": 7}}),
            ),
            "the state of stream clients: sweep.at is missing",
        ),
        case(
            "state_sweep_at_garbage",
            state_of(
                "clients",
                json!({"updated_at": "2024-01-01T00:00:00Z", "sweep": {"after_id": 7, "at": "noon"}}),
            ),
            "the state of stream clients: sweep.at \"noon\" is not a date-time",
        ),
        case(
            "state_sweep_is_a_number",
            state_of("clients", json!({"updated_at": "2024-01-01T00:00:00Z", "sweep": 7})),
            "the state of stream clients: sweep must be an object; found a number",
        ),
        case(
            "state_stream_twice",
            Input::Json(json!([
                stream_state("clients", json!({"updated_at": "2024-01-01T00:00:00Z"})),
                stream_state("time_clients", json!({"to": "20240101"})),
                stream_state("clients", json!({"updated_at": "2025-01-01T00:00:00Z"})),
            ])),
            "state entry 2: a second state for stream \"clients\" (entry 0 gives it one); a state holds one per stream",
        ),
        case(
            "state_nested_10000_deep",
            Input::Raw(format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes()),
            "the state file … is not valid JSON (line 1, column 128): it nests arrays or objects deeper than 128 levels",
        ),
        case(
            "state_resume_next_on_another_host",
            state_of(
                "clients",
                json!({"updated_at": "2024-01-01T00:00:00Z", "resume": {"watermark": "2024-02-01T00:00:00Z", "next": "http://127.0.0.2:1/v2/clients?page=2"}}),
            ),
            "the state of stream clients: resume.next must be a path under the API",
        ),
        case(
            "state_resume_next_protocol_relative",
            state_of(
                "clients",
                json!({"updated_at": "2024-01-01T00:00:00Z", "resume": {"watermark": "2024-02-01T00:00:00Z", "next": "//evil.example/v2/clients"}}),
            ),
            "resume.next must be a path under the API",
        ),
        case(
            "state_resume_next_empty",
            state_of(
                "clients",
                json!({"updated_at": "2024-01-01T00:00:00Z", "resume": {"watermark": "2024-02-01T00:00:00Z", "next": ""}}),
            ),
            "resume.next must be a path under the API",
        ),
        case(
            "state_resume_is_a_list",
            state_of("clients", json!({"resume": [1]})),
            "the state of stream clients: resume must be an object",
        ),
        case(
            "state_incumbent_states_not_a_list",
            state_of("clients", json!({"states": 5})),
            "`states` must be an array",
        ),
        case(
            "state_incumbent_entry_without_cursor",
            state_of("clients", json!({"states": [{"partition": {"id": 1}}]})),
            "lacks cursor.updated_at",
        ),
        case(
            "state_legacy_object_with_a_number",
            Input::Json(json!({"clients": 5})),
            "the state of stream clients: expected an object; found a number",
        ),
    ]
}

/// What the library says of the state at `path`, read and parsed as `read` does with a catalog
/// of clients and time_clients.
fn state_error(path: &Path) -> Option<String> {
    read_json_file(InputFile::State, path)
        .and_then(|value| InputState::from_json(&value))
        .and_then(|state| {
            ["clients", "time_clients"]
                .iter()
                .try_for_each(|name| state.position(find(name).expect("a stream")).map(drop))
        })
        .err()
        .map(|e| e.to_string())
}

/// Every state case read and parsed in-process: each must be an input error naming what is
/// wrong. (Each once ran `read` as a process; one still does, below.)
#[test]
fn malformed_states_36_cases_are_input_errors_naming_the_problem() {
    let files = Files::new();
    let cases = state_cases();
    assert_eq!(cases.len(), 36);
    run_cases(&cases, |i, case| {
        let path = write(&files, &format!("state-{i}.json"), &case.input);
        parse_problem(state_error(&path), case.expect)
    });
}

/// `read` reports a malformed state exactly as the parser words it: one config_error TRACE, a
/// non-zero exit, no record.
#[test]
fn a_malformed_state_fails_read_with_the_parsers_config_error() {
    let emu = emulator(Scale::Tiny);
    let files = Files::new();
    let config_path = files.json("config.json", &base_config(&emu));
    let catalog_path = files.json(
        "catalog.json",
        &catalog(&["clients", "time_clients"], "incremental"),
    );
    let path = files.json(
        "state.json",
        &json!([stream_state(
            "clients",
            json!({"updated_at": 1_700_000_000})
        )]),
    );
    let expected = state_error(&path).expect("an error");
    assert_eq!(
        expected,
        "the state of stream clients: updated_at must be a string; found a number"
    );
    let run = run(&[
        "read",
        "--config",
        config_path.to_str().unwrap(),
        "--catalog",
        catalog_path.to_str().unwrap(),
        "--state",
        path.to_str().unwrap(),
    ]);
    assert_eq!(config_error_problem(&run, &expected), None);
    assert_eq!(run.errors()[0]["message"], expected.as_str());
}

/// A catalog or a state nested 100,000 levels deep ends `read` with one config_error naming the
/// file and the depth: the parser refuses it at 128 levels, before anything recurses over it,
/// so there is no stack overflow (which would kill the process without a message).
#[test]
fn deeply_nested_catalogs_and_states_fail_read_with_a_config_error_not_a_stack_overflow() {
    let emu = emulator(Scale::Tiny);
    let files = Files::new();
    let config_path = files.json("config.json", &base_config(&emu));
    let good_catalog = files.json("catalog.json", &catalog(&["clients"], "incremental"));
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let nested_object = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    for (file, text) in [
        ("catalog", &nested),
        ("catalog", &nested_object),
        ("state", &nested),
        ("state", &nested_object),
    ] {
        let path = files.text(&format!("nested-{file}.json"), text);
        let catalog_path = match file {
            "catalog" => path.clone(),
            _ => good_catalog.clone(),
        };
        let mut args = vec![
            "read",
            "--config",
            config_path.to_str().unwrap(),
            "--catalog",
            catalog_path.to_str().unwrap(),
        ];
        if file == "state" {
            args.extend(["--state", path.to_str().unwrap()]);
        }
        let run = run(&args);
        let expect = format!(
            "the {file} file … is not valid JSON (line 1, column … it nests arrays or objects deeper than 128 levels"
        );
        assert_eq!(config_error_problem(&run, &expect), None, "{file}");
        assert!(!run.stderr.contains("overflow"), "{file}: {}", run.stderr);
    }
}

/// A stream given two states (two STREAM messages naming it) ends `read` with one config_error
/// naming the stream and both entries, before any request: which of the two the platform meant
/// cannot be known, and either could skip records or read them again.
#[test]
fn a_stream_given_two_states_fails_read_naming_it_and_both_entries() {
    let emu = emulator(Scale::Tiny);
    let input = ReadInput::new(
        &base_config(&emu),
        &["clients", "time_clients"],
        "incremental",
    );
    let run = input.read(Some(&json!([
        stream_state("clients", json!({"updated_at": "2024-01-01T00:00:00Z"})),
        stream_state("time_clients", json!({"to": "20240101"})),
        stream_state("clients", json!({"updated_at": "2025-06-01T00:00:00Z"})),
    ])));
    assert_eq!(
        config_error_problem(
            &run,
            "state entry 2: a second state for stream \"clients\" (entry 0 gives it one); a state holds one per stream: keep the newest and remove the other"
        ),
        None
    );
    assert_eq!(emu.request_counts().total, 0, "refused before any request");
}

/// A state may hold streams this read does not use: one the catalog does not select (the
/// platform keeps a deselected stream's state) is left alone with an INFO line naming it, and
/// one this connector does not have (another source's state, a later version's stream) is
/// ignored with a WARN naming it. Neither is read or gets a STATE, and the selected stream's
/// state is used: the read returns exactly the clients the emulator serves updated after it.
#[test]
fn states_of_streams_not_selected_or_not_ours_are_ignored_with_a_log_naming_them() {
    use source_harvest::time::{format_instant, parse_instant};
    let emu = emulator(Scale::Tiny);
    let served = served_records(&emu, "/clients", "clients");
    let updated = |c: &Value| parse_instant(c["updated_at"].as_str().unwrap()).unwrap();
    let mut times: Vec<_> = served.iter().map(updated).collect();
    times.sort();
    assert!(times.len() >= 2 && times[0] < times[1], "{times:?}");
    // Between the two oldest: the oldest client is not read again, the others are.
    let watermark = times[1] - chrono::Duration::seconds(1);
    assert!(times[0] < watermark);
    let expected: Vec<&Value> = served.iter().filter(|c| updated(c) > watermark).collect();
    assert!(!expected.is_empty() && expected.len() < served.len());

    let input = ReadInput::new(&base_config(&emu), &["clients"], "incremental");
    let run = input.read(Some(&json!([
        stream_state("clients", json!({"updated_at": format_instant(watermark)})),
        stream_state("projects", json!({"updated_at": "2024-01-01T00:00:00Z"})),
        stream_state("no_such_stream", json!({"cursor": 7})),
    ])));
    assert_eq!(run.code, 0, "{:?}", run.messages);
    assert!(run.errors().is_empty(), "{:?}", run.errors());
    let mut got = run.stream("clients");
    let mut expected: Vec<Value> = expected.into_iter().cloned().collect();
    let by_id = |r: &Value| r["id"].as_i64().unwrap();
    got.sort_by_key(by_id);
    expected.sort_by_key(by_id);
    assert_eq!(
        got, expected,
        "the clients updated after the state's watermark"
    );
    let logs = run.logs();
    assert!(
        logs.contains("\"INFO\" the state mentions stream projects, which this catalog does not select; its state is left as it is"),
        "{logs}"
    );
    assert!(
        logs.contains("\"WARN\" the state holds stream \"no_such_stream\", which this connector does not have; its state is ignored"),
        "{logs}"
    );
    let states = run.final_stream_states();
    assert_eq!(states.keys().collect::<Vec<_>>(), ["clients"]);
    assert_eq!(run.statuses().keys().collect::<Vec<_>>(), ["clients"]);
    assert_eq!(
        run.statuses()["clients"].last().map(String::as_str),
        Some("COMPLETE")
    );
}

/// A cursor in the future is deliberately NOT an error: Airbyte's acceptance test
/// `test_read_with_abnormal_state` feeds a far-future state and requires a successful read that
/// returns nothing. So the read succeeds, emits no record, and says so in a WARN log.
#[test]
fn a_future_cursor_is_not_an_error_it_reads_nothing_and_warns() {
    let emu = emulator(Scale::Tiny);
    let files = Files::new();
    let config_path = files.json("config.json", &base_config(&emu));
    let catalog_path = files.json(
        "catalog.json",
        &catalog(&["clients", "time_clients"], "incremental"),
    );
    let state = files.json(
        "state.json",
        &json!([
            stream_state("clients", json!({"updated_at": "2999-01-01T00:00:00Z"})),
            stream_state("time_clients", json!({"to": "29990101"})),
        ]),
    );
    let run = run(&[
        "read",
        "--config",
        config_path.to_str().unwrap(),
        "--catalog",
        catalog_path.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{:?}", run.messages);
    assert!(run.errors().is_empty(), "{:?}", run.errors());
    assert!(run.of_type("RECORD").is_empty(), "{:?}", run.records());
    // The cursor is kept as it was, neither moved back to now nor dropped.
    let states = run.final_stream_states();
    assert_eq!(
        states["clients"],
        json!({"updated_at": "2999-01-01T00:00:00Z"})
    );
    assert_eq!(states["time_clients"], json!({"to": "29990101"}));
    let logs = run.logs();
    for stream in ["clients", "time_clients"] {
        assert!(
            logs.contains(&format!(
                "\"WARN\" the state of stream {stream} is in the future"
            )),
            "{stream}: {logs}"
        );
        assert_eq!(
            run.statuses()[stream].last().map(String::as_str),
            Some("COMPLETE")
        );
    }
}

/// Incremental on a stream without a cursor is not an error either: PyAirbyte configures every
/// stream incremental, and the Python CDK reads such a stream in full. So do we, with a WARN.
#[test]
fn incremental_on_a_stream_without_a_cursor_reads_it_in_full_and_warns() {
    let emu = emulator(Scale::Tiny);
    let files = Files::new();
    let config_path = files.json("config.json", &base_config(&emu));
    let catalog_path = files.json(
        "catalog.json",
        &json!({"streams": [entry("company", "incremental")]}),
    );
    let run = run(&[
        "read",
        "--config",
        config_path.to_str().unwrap(),
        "--catalog",
        catalog_path.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{:?}", run.messages);
    assert_eq!(run.stream("company").len(), 1);
    assert!(
        run.logs()
            .contains("\"WARN\" stream company has no cursor and cannot be read incrementally"),
        "{}",
        run.logs()
    );
}

/// Command-line misuse is answered by the argument parser (exit 2, the error or the usage on
/// stderr) before any file is read: nothing on stdout, and no panic.
#[test]
fn command_line_misuse_6_cases_exits_non_zero_without_a_panic() {
    let cases: [&[&str]; 6] = [
        &[],
        &["bogus"],
        &["check"],
        &["read", "--config", "config.json"],
        &["discover", "--config"],
        &["discover", "--config", "a.json", "--config", "b.json"],
    ];
    for args in cases {
        let run = run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("error:") || run.stderr.contains("Usage:"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{args:?}: {}", run.stderr);
        assert!(run.messages.is_empty(), "{args:?}: {:?}", run.messages);
    }
}
