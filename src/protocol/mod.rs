//! Serde types for the Airbyte protocol messages we write and read.
//!
//! Reading is lenient: every field the platform, PyAirbyte or the test suites may send is
//! optional, `null` is accepted wherever a value is, and unknown fields are ignored (the
//! protocol's objects are all `additionalProperties: true`). Writing follows the protocol's
//! field names exactly (note `connectionStatus` and `sourceStats` in camelCase). RECORD lines,
//! the bulk of every sync, are written from the server's text by [`RecordWriter`] (`record.rs`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

mod record;

pub use record::{Extra, Extras, RecordWriter};

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
                reasons: Vec::new(),
            }),
            ..AirbyteMessage::trace(TraceType::StreamStatus)
        })
    }

    /// A TRACE STREAM_STATUS RUNNING saying that the stream waits on Harvest's rate limit until
    /// `quota_reset` (milliseconds since the epoch), so that the platform shows why it is slow.
    pub fn rate_limited(stream: &str, quota_reset: i64) -> AirbyteMessage {
        AirbyteMessage::with_trace(TraceMessage {
            stream_status: Some(StreamStatusTrace {
                stream_descriptor: StreamDescriptor::new(stream),
                status: StreamStatus::Running,
                reasons: vec![StreamStatusReason {
                    kind: StreamStatusReasonType::RateLimited,
                    rate_limited: RateLimitedReason { quota_reset },
                }],
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
    /// Why a RUNNING stream makes no progress; left out when it does.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<StreamStatusReason>,
}

/// The kind of a [`StreamStatusReason`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamStatusReasonType {
    /// The stream waits for the API's quota to reset.
    RateLimited,
}

/// One reason of a STREAM_STATUS: the `type`, and the field that matches it.
#[derive(Clone, Debug, Serialize)]
pub struct StreamStatusReason {
    /// Which reason.
    #[serde(rename = "type")]
    pub kind: StreamStatusReasonType,
    /// The detail of [`StreamStatusReasonType::RateLimited`], the one reason there is.
    pub rate_limited: RateLimitedReason,
}

/// The detail of a RATE_LIMITED reason.
#[derive(Clone, Debug, Serialize)]
pub struct RateLimitedReason {
    /// When the quota resets and the stream goes on, in milliseconds since the epoch.
    pub quota_reset: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn traces_and_control_messages_carry_integer_emitted_at() {
        let trace = serde_json::to_value(AirbyteMessage::stream_status("x", StreamStatus::Started))
            .unwrap();
        assert!(trace["trace"]["emitted_at"].is_i64(), "{trace}");
        assert_eq!(trace["type"], "TRACE");
        let control = serde_json::to_value(AirbyteMessage::connector_config(json!({}))).unwrap();
        assert!(control["control"]["emitted_at"].is_i64(), "{control}");
        assert!(trace["trace"]["stream_status"].get("reasons").is_none());
        let log = serde_json::to_string(&AirbyteMessage::log(LogLevel::Warn, "w")).unwrap();
        assert_eq!(
            log,
            r#"{"type":"LOG","log":{"level":"WARN","message":"w"}}"#
        );
    }

    #[test]
    fn a_rate_limited_status_is_running_with_the_reason_and_its_reset() {
        let message =
            serde_json::to_value(AirbyteMessage::rate_limited("clients", 1_700_000_000_123))
                .unwrap();
        assert_eq!(
            message["trace"]["stream_status"],
            json!({
                "stream_descriptor": {"name": "clients"},
                "status": "RUNNING",
                "reasons": [{"type": "RATE_LIMITED", "rate_limited": {"quota_reset": 1_700_000_000_123_i64}}],
            })
        );
    }
}
