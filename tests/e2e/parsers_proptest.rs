//! Property tests (issue 5, point 4): the parsers of everything the connector is handed — the
//! config, the configured catalog, the state and Harvest's pages — return `Ok` or `Err` on any
//! input and never panic, and every `Err` is the right kind: an input error of the file it
//! came from (and, for a stream's state, of that stream), with a message, or a page error
//! naming the records' key. Inputs are arbitrary bytes and text, arbitrary JSON values built by a
//! recursive strategy over the field names the parsers look for (so that they get past the first
//! check), and valid documents with one field replaced by an arbitrary value.
//!
//! A config error must also never repeat a value the user wrote: every string the strategies
//! generate for a config may carry a marker, and no error message may contain it.
//!
//! Case counts are kept modest so that the whole file runs in a few seconds.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use source_harvest::catalog;
use source_harvest::config::Config;
use source_harvest::input::{read_json_file, InputError, InputFile, Location};
use source_harvest::page;
use source_harvest::state::InputState;
use source_harvest::streams::STREAMS;

/// Text that no error message may repeat.
const MARKER: &str = "s3cr3t";

/// Names the parsers look for, so that generated objects reach past the first lookup.
const KEYS: &[&str] = &[
    "account_id",
    "replication_start_date",
    "replication_end_date",
    "credentials",
    "auth_type",
    "api_token",
    "client_id",
    "client_secret",
    "refresh_token",
    "api_url",
    "oauth_token_url",
    "page_size",
    "window_seconds",
    "max_retries",
    "streams",
    "stream",
    "name",
    "json_schema",
    "properties",
    "sync_mode",
    "type",
    "stream_descriptor",
    "stream_state",
    "global",
    "stream_states",
    "data",
    "updated_at",
    "to",
    "resume",
    "watermark",
    "next",
    "after_parent_id",
    "from",
    "states",
    "cursor",
    "partition",
    "state",
    "__ab_no_cursor_state_message",
    "clients",
    "time_clients",
    "links",
    "total_entries",
    "id",
];

/// String values the parsers give meaning to, and a few that break them.
const WORDS: &[&str] = &[
    "Token",
    "Client",
    "STREAM",
    "GLOBAL",
    "LEGACY",
    "full_refresh",
    "incremental",
    "clients",
    "company",
    "time_clients",
    "invoice_messages",
    "2024-01-01T00:00:00Z",
    "2999-12-31T23:59:59Z",
    "2024-02-30T00:00:00Z",
    "20240101",
    "2024-01-01",
    "http://127.0.0.1:9/v2",
    "https://",
    "",
    " ",
    "é\u{0}\u{7f}",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(KEYS).prop_map(str::to_string),
        1 => ".{0,8}",
    ]
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(WORDS).prop_map(str::to_string),
        1 => ".{0,12}",
        1 => ".{0,6}".prop_map(|s| format!("{s}{MARKER}{s}")),
    ]
}

/// Any JSON value, at most a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop_oneof![Just(0.0), Just(-1.5), Just(1e300), any::<f64>()]
            .prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
                .map(Value::Number)),
        string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// `doc` with the value at one of its paths (chosen by `pick`) replaced by `new`.
fn replace_somewhere(mut doc: Value, pick: usize, new: Value) -> Value {
    let mut paths = Vec::new();
    collect_paths(&doc, String::new(), &mut paths);
    let path = &paths[pick % paths.len()];
    match doc.pointer_mut(path) {
        Some(slot) => *slot = new,
        None => doc = new,
    }
    doc
}

fn collect_paths(value: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match value {
        Value::Object(fields) => {
            for (k, v) in fields {
                collect_paths(v, format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                collect_paths(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn valid_config() -> Value {
    json!({
        "account_id": "1000001",
        "replication_start_date": "2020-01-01T00:00:00Z",
        "replication_end_date": "2021-01-01T00:00:00Z",
        "credentials": {
            "auth_type": "Client",
            "client_id": "id",
            "client_secret": "client-secret",
            "refresh_token": "refresh-token"
        },
        "api_url": "http://127.0.0.1:9/v2",
        "page_size": 100,
        "window_seconds": 1.5,
        "max_retries": 2
    })
}

fn valid_catalog() -> Value {
    json!({"streams": [
        {"stream": {"name": "clients", "json_schema": {"properties": {"name": {}}}},
         "sync_mode": "incremental", "destination_sync_mode": "append"},
        {"stream": {"name": "company", "json_schema": {}}, "sync_mode": "full_refresh"}
    ]})
}

fn valid_state() -> Value {
    json!([
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": "clients"},
          "stream_state": {"updated_at": "2024-01-01T00:00:00Z",
                           "resume": {"watermark": "2024-02-01T00:00:00Z", "next": "/v2/clients?page=2"}}},
         "sourceStats": {"recordCount": 1.0}},
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": "time_clients"},
          "stream_state": {"to": "20240101", "resume": {"from": "20230101"}}}},
        {"type": "GLOBAL", "global": {"stream_states": [
          {"stream_descriptor": {"name": "invoice_messages"},
           "stream_state": {"states": [{"partition": {"id": 1}, "cursor": {"updated_at": "2024-01-01T00:00:00Z"}}]}}]}}
    ])
}

/// Checks that an input error is one of `file`'s, and says something.
fn input_error_of(e: &InputError, file: InputFile) -> Result<(), TestCaseError> {
    prop_assert_eq!(e.file, file, "{}", e);
    prop_assert!(!e.to_string().is_empty());
    Ok(())
}

/// Parses a config and checks that an error is the config's and names no value the user wrote.
fn config_never_panics_or_echoes(value: &Value) -> Result<(), TestCaseError> {
    if let Err(e) = Config::from_json(value) {
        input_error_of(&e, InputFile::Config)?;
        let message = e.to_string();
        prop_assert!(
            !message.contains(MARKER),
            "a config value was echoed: {message}"
        );
    }
    Ok(())
}

/// Parses a catalog: an error is the catalog's.
fn catalog_errors_are_the_catalogs(value: &Value) -> Result<(), TestCaseError> {
    if let Err(e) = catalog::configured(value) {
        input_error_of(&e, InputFile::Catalog)?;
    }
    Ok(())
}

/// Reads the state, then the position of every stream of the table from it: an error is the
/// state's, and a stream's names that stream.
fn state_errors_are_the_states(value: &Value) -> Result<(), TestCaseError> {
    match InputState::from_json(value) {
        Err(e) => input_error_of(&e, InputFile::State)?,
        Ok(state) => {
            for def in &STREAMS {
                if let Err(e) = state.position(def) {
                    input_error_of(&e, InputFile::State)?;
                    let named =
                        matches!(e.at, Location::StreamState { stream, .. } if stream == def.name);
                    prop_assert!(named, "{} does not name {}", e, def.name);
                }
            }
        }
    }
    Ok(())
}

/// Parses a page and the keys of each of its records: an error names the records' key.
fn page_errors_name_the_key(body: &str) -> Result<(), TestCaseError> {
    for key in ["clients", "time_entries", "results"] {
        match page::parse(body, key) {
            Err(e) => prop_assert!(e.contains(&format!("`{key}`")), "{}", e),
            Ok(page) => {
                for record in page.records {
                    if let Ok(keys) = record.keys {
                        let _ = keys.id();
                        let _ = keys.updated_at();
                    }
                }
            }
        }
    }
    Ok(())
}

#[test]
fn the_valid_documents_the_properties_start_from_parse() {
    Config::from_json(&valid_config()).expect("the valid config");
    catalog::configured(&valid_catalog()).expect("the valid catalog");
    let state = InputState::from_json(&valid_state()).expect("the valid state");
    for def in &STREAMS {
        state.position(def).expect("every stream's position");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn config_parser_on_any_json(value in json_value()) {
        config_never_panics_or_echoes(&value)?;
    }

    #[test]
    fn config_parser_on_a_valid_config_with_one_field_replaced(
        pick in any::<usize>(),
        new in json_value(),
    ) {
        config_never_panics_or_echoes(&replace_somewhere(valid_config(), pick, new))?;
    }

    #[test]
    fn config_file_reader_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, &bytes).unwrap();
        match read_json_file(InputFile::Config, &path) {
            Ok(value) => config_never_panics_or_echoes(&value)?,
            Err(e) => input_error_of(&e, InputFile::Config)?,
        }
    }

    #[test]
    fn catalog_parser_on_any_json(value in json_value()) {
        catalog_errors_are_the_catalogs(&value)?;
    }

    #[test]
    fn catalog_parser_on_a_valid_catalog_with_one_field_replaced(
        pick in any::<usize>(),
        new in json_value(),
    ) {
        catalog_errors_are_the_catalogs(&replace_somewhere(valid_catalog(), pick, new))?;
    }

    #[test]
    fn state_parser_on_any_json(value in json_value()) {
        state_errors_are_the_states(&value)?;
    }

    #[test]
    fn state_parser_on_a_valid_state_with_one_field_replaced(
        pick in any::<usize>(),
        new in json_value(),
    ) {
        state_errors_are_the_states(&replace_somewhere(valid_state(), pick, new))?;
    }

    #[test]
    fn page_parser_on_any_text(body in ".{0,200}") {
        page_errors_name_the_key(&body)?;
    }

    #[test]
    fn page_parser_on_any_json(value in json_value(), records in json_value()) {
        page_errors_name_the_key(&value.to_string())?;
        let page = json!({"clients": [records.clone(), {"id": records.clone(), "updated_at": records}],
                          "links": {"next": value}, "total_entries": 2});
        page_errors_name_the_key(&page.to_string())?;
    }
}
