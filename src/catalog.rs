//! Catalogs: the one `discover` prints, and the configured one `read` is given.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::input::{json_type, refused_at};
use crate::input::{InputError, InputFile, Location, Problem};
use crate::protocol::{Catalog, Stream, SyncMode};
use crate::streams::{self, StreamDef, STREAMS};

/// Every stream's schema, parsed once.
fn schemas() -> &'static Vec<Value> {
    static SCHEMAS: OnceLock<Vec<Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        STREAMS
            .iter()
            .map(|s| serde_json::from_str(s.schema).expect("embedded schemas are valid JSON"))
            .collect()
    })
}

/// The parsed schema of a stream of the table.
pub fn schema(def: &StreamDef) -> &'static Value {
    let index = STREAMS
        .iter()
        .position(|s| s.name == def.name)
        .expect("a stream of the table");
    &schemas()[index]
}

/// The catalog `discover` prints: every stream of the table.
pub fn discovered() -> Catalog {
    let streams = STREAMS
        .iter()
        .map(|def| Stream {
            name: def.name.to_string(),
            json_schema: schema(def).clone(),
            supported_sync_modes: def.sync_modes().to_vec(),
            source_defined_cursor: def.cursor_field().is_some(),
            default_cursor_field: def.cursor_field().map(|c| vec![c.to_string()]),
            source_defined_primary_key: (!def.primary_key().is_empty()).then(|| {
                def.primary_key()
                    .iter()
                    .map(|k| vec![k.to_string()])
                    .collect()
            }),
            is_resumable: true,
        })
        .collect();
    Catalog { streams }
}

/// A stream `read` must read, as the configured catalog asks.
#[derive(Debug, Clone)]
pub struct Selected {
    /// The stream's row in the table.
    pub def: &'static StreamDef,
    /// The sync mode chosen for it.
    pub mode: SyncMode,
    /// Top-level fields to emit, when the configured schema lists fewer than ours.
    pub fields: Option<Vec<String>>,
}

/// What a configured catalog looks like, for messages about one that does not.
const CATALOG_EXAMPLE: &str = r#"{"streams": [{"stream": {"name": "clients", "json_schema": {}}, "sync_mode": "incremental", "destination_sync_mode": "append"}]}"#;

/// A problem of the catalog as a whole.
fn catalog_error(problem: Problem) -> InputError {
    InputError::new(InputFile::Catalog, Location::Document, problem)
}

/// One stream of the discovered catalog, configured as the platform and PyAirbyte configure it
/// by default: incremental with `append_dedup` and the source-defined cursor when `incremental`
/// is asked for and the stream supports it, full refresh with `overwrite` otherwise; the
/// source-defined primary key either way.
pub fn configure_stream(stream: Value, incremental: bool) -> Value {
    let supports_incremental = stream["supported_sync_modes"]
        .as_array()
        .is_some_and(|modes| modes.contains(&json!("incremental")));
    let incremental = incremental && supports_incremental;
    let mut configured = json!({
        "sync_mode": if incremental { "incremental" } else { "full_refresh" },
        "destination_sync_mode": if incremental { "append_dedup" } else { "overwrite" },
        "primary_key": stream.get("source_defined_primary_key").cloned().unwrap_or(json!([])),
    });
    if incremental {
        configured["cursor_field"] = stream["default_cursor_field"].clone();
    }
    configured["stream"] = stream;
    configured
}

/// Parses and checks a configured catalog: every stream known, every mode supported.
pub fn configured(value: &Value) -> Result<Vec<Selected>, InputError> {
    let entries = entries(value)
        .map_err(|e| e.with_hint(format!("a configured catalog looks like {CATALOG_EXAMPLE}")))?;
    if entries.is_empty() {
        return Err(catalog_error(Problem::Says(
            "selects no streams: select at least one".into(),
        )));
    }
    let mut seen = BTreeSet::new();
    let mut selected = Vec::with_capacity(entries.len());
    for entry in entries {
        let name = entry.stream.name;
        let Some(def) = streams::find(name) else {
            let known: Vec<&str> = STREAMS.iter().map(|s| s.name).collect();
            return Err(catalog_error(Problem::Says(format!(
                "selects a stream named {name:?}, which Harvest does not have; the streams are: {}",
                known.join(", ")
            ))));
        };
        let in_stream = |field: &str, problem| {
            InputError::new(
                InputFile::Catalog,
                Location::CatalogStream {
                    stream: def.name,
                    field: field.to_string(),
                },
                problem,
            )
        };
        if !seen.insert(def.name) {
            return Err(catalog_error(Problem::Says(format!(
                "selects the stream {name} twice"
            ))));
        }
        let mode = match entry.sync_mode {
            "full_refresh" => SyncMode::FullRefresh,
            "incremental" => SyncMode::Incremental,
            other => {
                return Err(in_stream(
                    "sync_mode",
                    Problem::Says(format!(
                        "{other:?} is not a sync mode; use \"full_refresh\" or \"incremental\""
                    )),
                ))
            }
        };
        // PyAirbyte configures every stream as incremental, whatever discover said, and the
        // Python CDK reads a stream without a cursor in full then; so do we, saying so.
        let mode = if def.sync_modes().contains(&mode) {
            mode
        } else {
            tracing::warn!(
                "stream {name} has no cursor and cannot be read incrementally: reading it in full refresh"
            );
            SyncMode::FullRefresh
        };
        let fields = projection(def, entry.stream.json_schema.as_ref())
            .map_err(|(field, problem)| in_stream(field, problem))?;
        selected.push(Selected { def, mode, fields });
    }
    Ok(selected)
}

/// A configured catalog as `read` reads it: the fields it does not use are not looked at, as
/// the protocol's forward compatibility asks.
#[derive(Deserialize)]
struct ConfiguredCatalog<'a> {
    #[serde(borrow)]
    streams: Vec<CatalogEntry<'a>>,
}

/// The parts of one configured stream that `read` uses.
#[derive(Deserialize)]
struct CatalogEntry<'a> {
    #[serde(borrow)]
    stream: CatalogEntryStream<'a>,
    sync_mode: &'a str,
}

/// The stream of a configured stream.
#[derive(Deserialize)]
struct CatalogEntryStream<'a> {
    name: &'a str,
    #[serde(default)]
    json_schema: Option<Value>,
}

/// A problem at the catalog's field `path`.
fn at(path: String, problem: Problem) -> InputError {
    InputError::new(InputFile::Catalog, Location::Field(path), problem)
}

/// The entries of a configured catalog, parsed by serde; a malformed one is reported by the
/// path the deserializer gives (`catalog.streams[2].stream.name`), with the value found there
/// named by its type only.
fn entries(value: &Value) -> Result<Vec<CatalogEntry<'_>>, InputError> {
    if !value.is_object() {
        return Err(catalog_error(Problem::WrongType {
            expected: "a JSON object with a `streams` array".into(),
            found: json_type(value),
        }));
    }
    let parsed: Result<ConfiguredCatalog<'_>, _> = serde_path_to_error::deserialize(value);
    parsed.map(|catalog| catalog.streams).map_err(|e| {
        let (path, found) = refused_at(value, &e);
        refused(path, found)
    })
}

/// Why serde refused the catalog, said from the document itself: a member missing (or `null`),
/// or of another type than the field's, named by its type only.
fn refused(path: String, found: Option<&Value>) -> InputError {
    let shown = format!("catalog.{path}");
    let Some(value) = found else {
        return at(shown, Problem::Missing { near_miss: None });
    };
    let expected = match path.rsplit('.').next().unwrap_or_default() {
        "streams" => "an array",
        "name" | "sync_mode" => "a string",
        _ => "an object",
    };
    at(shown, wrong(expected, value))
}

/// That `value` is not of the `expected` type.
fn wrong(expected: &'static str, value: &Value) -> Problem {
    Problem::WrongType {
        expected: expected.into(),
        found: json_type(value),
    }
}

/// The fields to keep when the configured schema narrows ours; `None` to emit records whole.
/// Primary key, cursor, the columns the connector adds (`parent_id`, a derived row's source
/// ids) and `_ab_cdc_deleted_at` are always kept: state, deduplication, joins and deletions
/// rely on them (a tombstone without it would read as a record emptied of its values).
fn projection(
    def: &StreamDef,
    configured: Option<&Value>,
) -> Result<Option<Vec<String>>, (&'static str, Problem)> {
    let Some(schema) = configured else {
        return Ok(None);
    };
    let Some(object) = schema.as_object() else {
        return Err(("json_schema", wrong("an object", schema)));
    };
    let Some(properties) = object.get("properties") else {
        return Ok(None);
    };
    let Some(properties) = properties.as_object() else {
        return Err(("json_schema.properties", wrong("an object", properties)));
    };
    let ours = schema_properties(def);
    let mut fields: BTreeSet<String> = properties
        .keys()
        .filter(|k| ours.contains(k.as_str()))
        .cloned()
        .collect();
    if fields.len() == ours.len() {
        return Ok(None);
    }
    let always = def
        .primary_key()
        .iter()
        .copied()
        .chain(def.cursor_field())
        .chain(def.added_columns())
        .chain(["_ab_cdc_deleted_at"]);
    fields.extend(always.filter(|f| ours.contains(f)).map(String::from));
    Ok(Some(fields.into_iter().collect()))
}

fn schema_properties(def: &StreamDef) -> BTreeSet<&'static str> {
    schema(def)["properties"]
        .as_object()
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalog(streams: Value) -> Value {
        json!({ "streams": streams })
    }

    #[test]
    fn discovered_catalog_has_every_stream_with_modes_and_keys() {
        let c = discovered();
        assert_eq!(c.streams.len(), 38);
        let clients = c.streams.iter().find(|s| s.name == "clients").unwrap();
        assert_eq!(
            clients.supported_sync_modes,
            [SyncMode::FullRefresh, SyncMode::Incremental]
        );
        assert_eq!(
            clients.default_cursor_field,
            Some(vec!["updated_at".to_string()])
        );
        let company = c.streams.iter().find(|s| s.name == "company").unwrap();
        assert_eq!(company.supported_sync_modes, [SyncMode::FullRefresh]);
        assert!(company.source_defined_primary_key.is_none());
    }

    #[test]
    fn unknown_stream_and_bad_mode_are_config_errors() {
        let e = configured(&catalog(
            json!([{"stream": {"name": "nope"}, "sync_mode": "full_refresh"}]),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("\"nope\""), "{e}");
        let e = configured(&catalog(
            json!([{"stream": {"name": "clients"}, "sync_mode": "INVALID"}]),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("INVALID"), "{e}");
    }

    #[test]
    fn incremental_on_a_stream_without_cursor_reads_in_full() {
        let s = configured(&catalog(
            json!([{"stream": {"name": "company"}, "sync_mode": "incremental"}]),
        ))
        .unwrap();
        assert_eq!(s[0].mode, SyncMode::FullRefresh);
    }

    #[test]
    fn a_narrowed_schema_selects_fields_and_keeps_keys() {
        let s = configured(&catalog(json!([{
            "stream": {"name": "clients", "json_schema": {"properties": {"name": {}}}},
            "sync_mode": "incremental", "destination_sync_mode": "append", "namespace": null
        }])))
        .unwrap();
        assert_eq!(
            s[0].fields.as_deref(),
            Some(
                &[
                    "_ab_cdc_deleted_at".to_string(),
                    "id".to_string(),
                    "name".to_string(),
                    "updated_at".to_string()
                ][..]
            )
        );
        let whole = configured(&catalog(json!([{
            "stream": {"name": "clients", "json_schema": {}}, "sync_mode": "full_refresh"
        }])))
        .unwrap();
        assert!(whole[0].fields.is_none());
    }
}
