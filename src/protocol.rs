//! Serde types for the Airbyte protocol messages we write and read.
//!
//! Reading is lenient: every field the platform, PyAirbyte or the test suites may send is
//! optional, `null` is accepted wherever a value is, and unknown fields are ignored (the
//! protocol's objects are all `additionalProperties: true`). Writing follows the protocol's
//! field names exactly (note `connectionStatus` and `sourceStats` in camelCase).

use std::borrow::Cow;
use std::fmt;
use std::io::Write as _;

use chrono::NaiveDate;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

/// One line of the connector's output. serde's internal tag writes `type` first and then the
/// one field that matches it, e.g. `{"type":"LOG","log":{…}}`.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AirbyteMessage {
    /// One record of a stream. Records are the bulk of every sync and are written by
    /// [`RecordWriter`] straight from the server's text; this variant is the shape it writes.
    Record {
        /// The record.
        record: RecordMessage,
    },
    /// A checkpoint.
    State {
        /// The state.
        state: StateMessage,
    },
    /// A log line.
    Log {
        /// The line.
        log: LogMessage,
    },
    /// The answer to `spec`.
    Spec {
        /// The content of spec.json.
        spec: Value,
    },
    /// The answer to `check`.
    ConnectionStatus {
        /// The verdict.
        #[serde(rename = "connectionStatus")]
        connection_status: ConnectionStatus,
    },
    /// The answer to `discover`.
    Catalog {
        /// Every stream.
        catalog: Catalog,
    },
    /// Errors, estimates and stream statuses.
    Trace {
        /// The trace.
        trace: TraceMessage,
    },
    /// A request to the platform, e.g. to persist an updated config.
    Control {
        /// The request.
        control: ControlMessage,
    },
}

/// The body of a RECORD message.
#[derive(Clone, Debug, Serialize)]
pub struct RecordMessage {
    /// The stream's name.
    pub stream: String,
    /// The record.
    pub data: Value,
    /// When it was emitted, in milliseconds since the epoch.
    pub emitted_at: i64,
}

/// A CONTROL message: asks the platform to replace the connection's config.
#[derive(Clone, Debug, Serialize)]
pub struct ControlMessage {
    /// Always `CONNECTOR_CONFIG`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When it was emitted, in milliseconds since the epoch.
    pub emitted_at: i64,
    /// The whole new config.
    #[serde(rename = "connectorConfig")]
    pub connector_config: ConnectorConfig,
}

/// The config a CONTROL message carries.
#[derive(Clone, Serialize)]
pub struct ConnectorConfig {
    /// The config, secrets included: the platform stores it in place of the old one.
    pub config: Value,
}

/// Redacted: the config holds the connection's secrets.
impl std::fmt::Debug for ConnectorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectorConfig { config: *** }")
    }
}

impl AirbyteMessage {
    /// A CONTROL message asking the platform to persist `config` as the connection's config.
    pub fn connector_config(config: Value) -> AirbyteMessage {
        AirbyteMessage::Control {
            control: ControlMessage {
                kind: "CONNECTOR_CONFIG",
                emitted_at: now_millis(),
                connector_config: ConnectorConfig { config },
            },
        }
    }

    /// A LOG message.
    pub fn log(level: LogLevel, message: impl Into<String>) -> AirbyteMessage {
        AirbyteMessage::Log {
            log: LogMessage {
                level,
                message: message.into(),
            },
        }
    }

    /// The SPEC message: `spec` is the content of `spec.json`.
    pub fn spec(spec: Value) -> AirbyteMessage {
        AirbyteMessage::Spec { spec }
    }

    /// A CONNECTION_STATUS message.
    pub fn connection_status(status: Status, message: Option<String>) -> AirbyteMessage {
        AirbyteMessage::ConnectionStatus {
            connection_status: ConnectionStatus { status, message },
        }
    }

    /// A CATALOG message.
    pub fn catalog(catalog: Catalog) -> AirbyteMessage {
        AirbyteMessage::Catalog { catalog }
    }

    /// A per-stream STATE message carrying the number of records since the previous one.
    pub fn stream_state(stream: &str, stream_state: Value, record_count: u64) -> AirbyteMessage {
        AirbyteMessage::State {
            state: StateMessage {
                kind: Some(StateType::Stream),
                stream: Some(StreamState {
                    stream_descriptor: StreamDescriptor::new(stream),
                    stream_state: Some(stream_state),
                }),
                global: None,
                data: None,
                source_stats: Some(StateStats {
                    record_count: Some(record_count as f64),
                }),
            },
        }
    }

    fn trace(kind: TraceType) -> TraceMessage {
        TraceMessage {
            kind,
            emitted_at: now_millis(),
            error: None,
            estimate: None,
            stream_status: None,
        }
    }

    fn with_trace(trace: TraceMessage) -> AirbyteMessage {
        AirbyteMessage::Trace { trace }
    }

    /// A TRACE ERROR message.
    pub fn error(
        failure_type: FailureType,
        message: impl Into<String>,
        stream: Option<&str>,
    ) -> AirbyteMessage {
        AirbyteMessage::with_trace(TraceMessage {
            error: Some(ErrorTrace {
                message: message.into(),
                internal_message: None,
                failure_type,
                stream_descriptor: stream.map(StreamDescriptor::new),
            }),
            ..AirbyteMessage::trace(TraceType::Error)
        })
    }

    /// A TRACE STREAM_STATUS message.
    pub fn stream_status(stream: &str, status: StreamStatus) -> AirbyteMessage {
        AirbyteMessage::with_trace(TraceMessage {
            stream_status: Some(StreamStatusTrace {
                stream_descriptor: StreamDescriptor::new(stream),
                status,
            }),
            ..AirbyteMessage::trace(TraceType::StreamStatus)
        })
    }

    /// A TRACE ESTIMATE message for one stream.
    pub fn estimate(stream: &str, row_estimate: u64) -> AirbyteMessage {
        AirbyteMessage::with_trace(TraceMessage {
            estimate: Some(EstimateTrace {
                name: stream.to_string(),
                kind: "STREAM",
                row_estimate,
            }),
            ..AirbyteMessage::trace(TraceType::Estimate)
        })
    }
}

/// Milliseconds since the Unix epoch, as records' and traces' `emitted_at`.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The level of a LOG message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogLevel {
    /// The run cannot go on.
    Fatal,
    /// Something failed.
    Error,
    /// Something a person should look at.
    Warn,
    /// Progress.
    Info,
    /// Detail for debugging.
    Debug,
    /// More detail.
    Trace,
}

/// The body of a LOG message.
#[derive(Clone, Debug, Serialize)]
pub struct LogMessage {
    /// Severity.
    pub level: LogLevel,
    /// The text.
    pub message: String,
}

/// SUCCEEDED or FAILED.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// The connection works.
    Succeeded,
    /// It does not; the message says why.
    Failed,
}

/// The body of a CONNECTION_STATUS message.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionStatus {
    /// The verdict.
    pub status: Status,
    /// What to fix, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A sync mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Everything, every time.
    FullRefresh,
    /// Only what changed since the state.
    Incremental,
}

/// A stream as `discover` describes it.
#[derive(Clone, Debug, Serialize)]
pub struct Stream {
    /// The stream's name.
    pub name: String,
    /// Its JSON Schema.
    pub json_schema: Value,
    /// Full refresh, and incremental where the stream has a cursor.
    pub supported_sync_modes: Vec<SyncMode>,
    /// True: the connector chooses the cursor.
    pub source_defined_cursor: bool,
    /// The cursor field, for incremental streams.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_cursor_field: Option<Vec<String>>,
    /// The primary key, as paths (`[["id"]]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_defined_primary_key: Option<Vec<Vec<String>>>,
    /// An interrupted read can resume from a STATE (every stream of this connector can).
    pub is_resumable: bool,
}

/// The body of a CATALOG message.
#[derive(Clone, Debug, Serialize)]
pub struct Catalog {
    /// Every stream.
    pub streams: Vec<Stream>,
}

/// Which stream a state, status or error is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamDescriptor {
    /// The stream's name.
    pub name: String,
    /// Always null for Harvest; accepted when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl StreamDescriptor {
    /// A descriptor without a namespace.
    pub fn new(name: &str) -> StreamDescriptor {
        StreamDescriptor {
            name: name.to_string(),
            namespace: None,
        }
    }
}

/// The kind of a STATE message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum StateType {
    /// One stream's state (the only kind we write).
    Stream,
    /// Shared state plus per-stream states (read, never written).
    Global,
    /// An opaque blob (deprecated; read leniently).
    Legacy,
}

/// One stream's state inside a STATE message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StreamState {
    /// Which stream.
    pub stream_descriptor: StreamDescriptor,
    /// The state itself; `None` when the platform sent null.
    #[serde(default)]
    pub stream_state: Option<Value>,
}

/// The `global` part of a GLOBAL state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GlobalState {
    /// Per-stream states.
    #[serde(default)]
    pub stream_states: Option<Vec<StreamState>>,
}

/// `sourceStats` of a STATE message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StateStats {
    /// Records of this stream since its previous STATE.
    #[serde(rename = "recordCount", default)]
    pub record_count: Option<f64>,
}

/// The body of a STATE message, as written and as read back from a state file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StateMessage {
    /// STREAM, GLOBAL or LEGACY (absent means LEGACY).
    #[serde(rename = "type", default)]
    pub kind: Option<StateType>,
    /// Set for STREAM states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamState>,
    /// Set for GLOBAL states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<GlobalState>,
    /// Set for LEGACY states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// Record count since the stream's previous STATE.
    #[serde(
        rename = "sourceStats",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_stats: Option<StateStats>,
}

/// The kind of a TRACE message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TraceType {
    /// A failure the platform shows to the user.
    Error,
    /// The expected size of a stream.
    Estimate,
    /// A stream's progress.
    StreamStatus,
}

/// The body of a TRACE message: the `type` plus the one field that matches it.
#[derive(Clone, Debug, Serialize)]
pub struct TraceMessage {
    /// Which of the fields below is set.
    #[serde(rename = "type")]
    pub kind: TraceType,
    /// Milliseconds since the epoch, as on records.
    pub emitted_at: i64,
    /// Set for [`TraceType::Error`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorTrace>,
    /// Set for [`TraceType::Estimate`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate: Option<EstimateTrace>,
    /// Set for [`TraceType::StreamStatus`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_status: Option<StreamStatusTrace>,
}

/// Why a run or a stream failed, as the platform classifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureType {
    /// The user must change the config, catalog or state.
    ConfigError,
    /// A bug or an unexpected answer.
    SystemError,
    /// Retrying later may succeed.
    TransientError,
}

/// A TRACE ERROR.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorTrace {
    /// What happened and what to do, for a person.
    pub message: String,
    /// Technical detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_message: Option<String>,
    /// The classification.
    pub failure_type: FailureType,
    /// The stream it is about, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_descriptor: Option<StreamDescriptor>,
}

/// A TRACE ESTIMATE for one stream.
#[derive(Clone, Debug, Serialize)]
pub struct EstimateTrace {
    /// The stream's name.
    pub name: String,
    /// Always `STREAM`: we never mix in SYNC estimates.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Expected records.
    pub row_estimate: u64,
}

/// Where a stream is in its read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamStatus {
    /// The stream's read began.
    Started,
    /// Records are coming.
    Running,
    /// Every record was read.
    Complete,
    /// The read stopped early; the last STATE tells where.
    Incomplete,
}

/// A TRACE STREAM_STATUS.
#[derive(Clone, Debug, Serialize)]
pub struct StreamStatusTrace {
    /// Which stream.
    pub stream_descriptor: StreamDescriptor,
    /// Its status.
    pub status: StreamStatus,
}

/// A field the connector adds in front of a record's own fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extra {
    /// A child record's parent: `"parent_id": 42`.
    ParentId(i64),
    /// A report row's window: `"from": "20240101", "to": "20241231"`, as the incumbent writes.
    Window {
        /// The window's first day.
        from: NaiveDate,
        /// The window's last day.
        to: NaiveDate,
    },
}

/// The extras of the records about to be written, rendered once (a parent's or a window's
/// records all share them).
#[derive(Clone, Debug, Default)]
pub struct Extras(String);

impl Extras {
    /// No extra fields.
    pub fn none() -> Extras {
        Extras::default()
    }

    /// Renders `extras` as the members they add to a record.
    pub fn new(extras: &[Extra]) -> Extras {
        let mut text = String::new();
        for extra in extras {
            if !text.is_empty() {
                text.push(',');
            }
            match extra {
                Extra::ParentId(id) => text.push_str(&format!("\"parent_id\":{id}")),
                Extra::Window { from, to } => text.push_str(&format!(
                    "\"from\":\"{}\",\"to\":\"{}\"",
                    from.format("%Y%m%d"),
                    to.format("%Y%m%d")
                )),
            }
        }
        Extras(text)
    }
}

/// Writes one stream's RECORD lines straight from the server's text: records are the bulk of
/// every sync, and copying their bytes is what makes a sync cheap. Every line it writes is
/// [`AirbyteMessage::Record`] as serde would write it, with the record's own members (their
/// text, numbers and order) exactly as Harvest sent them.
#[derive(Debug)]
pub struct RecordWriter {
    /// `{"type":"RECORD","record":{"stream":"…","data":`.
    prefix: Vec<u8>,
    /// The top-level fields to keep, when the configured catalog narrowed the schema.
    fields: Option<Vec<String>>,
    /// `,"emitted_at":…}}` and the newline.
    suffix: Vec<u8>,
}

impl RecordWriter {
    /// A writer of `stream`'s records, keeping only `fields` when given.
    pub fn new(stream: &str, fields: Option<Vec<String>>) -> RecordWriter {
        let mut prefix = b"{\"type\":\"RECORD\",\"record\":{\"stream\":".to_vec();
        serde_json::to_writer(&mut prefix, stream).expect("a string serialises");
        prefix.extend_from_slice(b",\"data\":");
        let mut writer = RecordWriter {
            prefix,
            fields,
            suffix: Vec::new(),
        };
        writer.set_emitted_at(now_millis());
        writer
    }

    /// The `emitted_at` of the records written from now on (set once per page).
    pub fn set_emitted_at(&mut self, millis: i64) {
        self.suffix.clear();
        let _ = writeln!(self.suffix, ",\"emitted_at\":{millis}}}}}");
    }

    /// Appends the RECORD line of `raw` (a JSON object's text) with `extras` in front.
    pub fn write(&self, buf: &mut Vec<u8>, raw: &str, extras: &Extras) {
        buf.extend_from_slice(&self.prefix);
        let projected = self
            .fields
            .as_ref()
            .and_then(|fields| Members::parse(raw).map(|members| (fields, members)));
        match projected {
            Some((fields, members)) => {
                buf.push(b'{');
                buf.extend_from_slice(extras.0.as_bytes());
                let mut first = extras.0.is_empty();
                for (key, value) in members.0 {
                    if fields.iter().any(|f| *f == *key) {
                        if !std::mem::take(&mut first) {
                            buf.push(b',');
                        }
                        serde_json::to_writer(&mut *buf, &key).expect("a string serialises");
                        buf.push(b':');
                        buf.extend_from_slice(value.get().as_bytes());
                    }
                }
                buf.push(b'}');
            }
            None if extras.0.is_empty() => buf.extend_from_slice(raw.as_bytes()),
            None => {
                let body = raw
                    .trim_start()
                    .strip_prefix('{')
                    .unwrap_or(raw)
                    .trim_start();
                buf.push(b'{');
                buf.extend_from_slice(extras.0.as_bytes());
                if !body.starts_with('}') {
                    buf.push(b',');
                }
                buf.extend_from_slice(body.as_bytes());
            }
        }
        buf.extend_from_slice(&self.suffix);
    }
}

/// A JSON object's members in order, each value as its raw text.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> Members<'a> {
    /// `None` when `raw` is not an object (it is then written as it is).
    fn parse(raw: &'a str) -> Option<Members<'a>> {
        serde_json::from_str(raw).ok()
    }
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(MembersVisitor)
    }
}

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Members<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
        let mut members = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            members.push((key, map.next_value::<&'de RawValue>()?));
        }
        Ok(Members(members))
    }
}

/// An object key, borrowed from the text unless it holds an escape.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(writer: &RecordWriter, raw: &str, extras: &Extras) -> String {
        let mut buf = Vec::new();
        writer.write(&mut buf, raw, extras);
        String::from_utf8(buf).unwrap()
    }

    /// What serde writes for the same record: the writer's lines are this message.
    fn expected(stream: &str, data: Value, emitted_at: i64) -> String {
        let message = AirbyteMessage::Record {
            record: RecordMessage {
                stream: stream.into(),
                data,
                emitted_at,
            },
        };
        serde_json::to_string(&message).unwrap() + "\n"
    }

    #[test]
    fn record_lines_are_the_record_message_with_the_raw_text() {
        let mut writer = RecordWriter::new("clients", None);
        writer.set_emitted_at(1_700_000_000_123);
        let raw = r#"{"id":1,"amount":1.50,"name":"A \"b\""}"#;
        let text = line(&writer, raw, &Extras::none());
        assert_eq!(
            text,
            format!("{{\"type\":\"RECORD\",\"record\":{{\"stream\":\"clients\",\"data\":{raw},\"emitted_at\":1700000000123}}}}\n")
        );
        let parsed: Value = serde_json::from_str(&text).unwrap();
        let reference: Value = serde_json::from_str(&expected(
            "clients",
            serde_json::from_str(raw).unwrap(),
            1_700_000_000_123,
        ))
        .unwrap();
        assert_eq!(parsed, reference);
    }

    #[test]
    fn extras_go_in_front_of_the_records_members() {
        let writer = RecordWriter::new("invoice_payments", None);
        let extras = Extras::new(&[Extra::ParentId(42)]);
        let text = line(&writer, r#" { "id": 7 }"#, &extras);
        assert!(
            text.contains(r#""data":{"parent_id":42,"id": 7 }"#),
            "{text}"
        );
        let text = line(&writer, "{}", &extras);
        assert!(text.contains(r#""data":{"parent_id":42}"#), "{text}");
        let window = Extras::new(&[Extra::Window {
            from: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2024, 12, 30).unwrap(),
        }]);
        let text = line(&writer, r#"{"x":1}"#, &window);
        assert!(
            text.contains(r#""data":{"from":"20240101","to":"20241230","x":1}"#),
            "{text}"
        );
    }

    #[test]
    fn projection_keeps_the_fields_text_and_order() {
        let writer = RecordWriter::new("s", Some(vec!["id".into(), "b".into(), "a\"q".into()]));
        let raw = r#"{"id":10,"z":{"n":1},"b":1.10,"a\"q":"x","a":1e3}"#;
        let text = line(&writer, raw, &Extras::new(&[Extra::ParentId(3)]));
        assert!(
            text.contains(r#""data":{"parent_id":3,"id":10,"b":1.10,"a\"q":"x"},"#),
            "{text}"
        );
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            parsed["record"]["data"],
            json!({"parent_id": 3, "id": 10, "b": 1.10, "a\"q": "x"})
        );
        // Not an object: written as it is, for the caller's checks to report.
        assert!(line(&writer, "[1]", &Extras::none()).contains(r#""data":[1],"#));
    }

    #[test]
    fn traces_and_control_messages_carry_integer_emitted_at() {
        let trace = serde_json::to_value(AirbyteMessage::stream_status("x", StreamStatus::Started))
            .unwrap();
        assert!(trace["trace"]["emitted_at"].is_i64(), "{trace}");
        assert_eq!(trace["type"], "TRACE");
        let control = serde_json::to_value(AirbyteMessage::connector_config(json!({}))).unwrap();
        assert!(control["control"]["emitted_at"].is_i64(), "{control}");
        let log = serde_json::to_string(&AirbyteMessage::log(LogLevel::Warn, "w")).unwrap();
        assert_eq!(
            log,
            r#"{"type":"LOG","log":{"level":"WARN","message":"w"}}"#
        );
    }
}
