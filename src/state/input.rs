//! A state file read: its STATE messages (STREAM, GLOBAL, LEGACY or a legacy object), one state
//! per stream, and each stream's state understood in any shape we or the incumbent wrote, or
//! refused with the stream and the field named.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{deletions, report, Position, Stored};
use crate::input::{json_type, refused_at, InputError, InputFile, Location, Problem};
use crate::protocol::{StateMessage, StateType};
use crate::streams::{Cursor, StreamDef};
use crate::time::{parse_date, parse_instant};

/// The input state, per stream name, as raw `stream_state` values.
#[derive(Debug, Default)]
pub struct InputState {
    streams: BTreeMap<String, Value>,
}

impl InputState {
    /// Reads a state document: an array of STATE messages, a single one, a legacy object keyed
    /// by stream name, `[]` or `null`.
    pub fn from_json(value: &Value) -> Result<InputState, InputError> {
        let error = |at, problem| InputError::new(InputFile::State, at, problem);
        let mut streams = BTreeMap::new();
        match value {
            Value::Null => {}
            Value::Array(messages) => {
                let mut given = BTreeMap::new();
                for (i, message) in messages.iter().enumerate() {
                    collect(message, Some(i), &mut given)
                        .map_err(|e| error(Location::StateEntry(Some(i)), e))?;
                }
                streams = given.into_iter().map(|(k, (v, _))| (k, v)).collect();
            }
            Value::Object(object)
                if object.contains_key("type") || object.contains_key("stream") =>
            {
                let mut given = BTreeMap::new();
                collect(value, None, &mut given)
                    .map_err(|e| error(Location::StateEntry(None), e))?;
                streams = given.into_iter().map(|(k, (v, _))| (k, v)).collect();
            }
            Value::Object(object) => {
                // A legacy state: `{"<stream>": {…}, …}`, as very old platforms stored it.
                for (name, state) in object {
                    streams.insert(name.clone(), state.clone());
                }
            }
            other => {
                return Err(error(
                    Location::Document,
                    Problem::WrongType {
                        expected: "a JSON array of STATE messages".into(),
                        found: json_type(other),
                    },
                ))
            }
        }
        Ok(InputState { streams })
    }

    /// The names of the streams the state mentions.
    pub fn stream_names(&self) -> impl Iterator<Item = &str> {
        self.streams.keys().map(String::as_str)
    }

    /// The position of one stream: where its next read starts.
    pub fn position(&self, def: &StreamDef) -> Result<Position, InputError> {
        match self.streams.get(def.name) {
            None | Some(Value::Null) => Ok(Position::default()),
            Some(value) => interpret(def, value).map_err(|(field, problem)| {
                InputError::new(
                    InputFile::State,
                    Location::StreamState {
                        stream: def.name,
                        field,
                    },
                    problem,
                )
            }),
        }
    }
}

/// Each stream's state as the state's messages give it, with the entry that gave it (`None`
/// for a state that is one message).
type Given = BTreeMap<String, (Value, Option<usize>)>;

/// Adds the streams' states of one STATE message, entry `entry` of the state, to `streams`.
fn collect(message: &Value, entry: Option<usize>, streams: &mut Given) -> Result<(), Problem> {
    if message.is_null() {
        return Ok(());
    }
    let message: StateMessage = serde_json::from_value(message.clone())
        .map_err(|e| says(format!("not a STATE message ({e})")))?;
    let mut insert = |name: String, state: Value| once_per_stream(streams, name, state, entry);
    match message.kind {
        Some(StateType::Stream) | None if message.stream.is_some() => {
            let s = message.stream.expect("checked");
            insert(
                s.stream_descriptor.name,
                s.stream_state.unwrap_or(Value::Null),
            )?;
        }
        Some(StateType::Global) => {
            let global = message
                .global
                .ok_or_else(|| says("a GLOBAL state without its `global` object"))?;
            for s in global.stream_states.into_iter().flatten() {
                insert(
                    s.stream_descriptor.name,
                    s.stream_state.unwrap_or(Value::Null),
                )?;
            }
        }
        Some(StateType::Legacy) | None => match message.data {
            Some(Value::Object(object)) => {
                for (name, state) in object {
                    insert(name, state)?;
                }
            }
            Some(Value::Null) | None => {}
            Some(other) => {
                return Err(says(format!(
                    "a LEGACY state's data must be an object; found {}",
                    json_type(&other)
                )))
            }
        },
        Some(StateType::Stream) => return Err(says("a STREAM state without its `stream` object")),
    }
    Ok(())
}

/// Records `state` as stream `name`'s, given by entry `entry`. A stream given a state twice is
/// an error naming it and both entries: which one the platform meant cannot be known, and
/// taking either silently could skip records or read them again.
fn once_per_stream(
    streams: &mut Given,
    name: String,
    state: Value,
    entry: Option<usize>,
) -> Result<(), Problem> {
    if let Some((_, first)) = streams.get(&name) {
        let earlier = match (first, entry) {
            (Some(first), Some(entry)) if *first != entry => format!("entry {first} gives it one"),
            _ => "this entry gives it one already".to_string(),
        };
        return Err(says(format!(
            "a second state for stream {:?} ({earlier}); a state holds one per stream: keep the newest and remove the other",
            name.chars().take(80).collect::<String>()
        )));
    }
    streams.insert(name, (state, entry));
    Ok(())
}

/// A problem said in full.
pub(super) fn says(text: impl Into<String>) -> Problem {
    Problem::Says(text.into())
}

/// A problem of a stream's state as a whole (`""`) or of its field `field`.
pub(super) type StateError = (String, Problem);

/// A problem of a stream's state as a whole, said in full.
fn whole(text: impl Into<String>) -> StateError {
    (String::new(), says(text))
}

/// The top-level fields of a stream state that we (`updated_at`, `to`, `resume`,
/// `__ab_no_cursor_state_message`) or the incumbent (also `states`, `state` for child streams,
/// `__ab_full_refresh_sync_complete` after a resumable full refresh) write. A cursor stream's
/// state with none of them was written by something else, and reading the stream in full
/// instead would be a silent resync.
const KNOWN_FIELDS: &[&str] = &[
    "updated_at",
    "to",
    "resume",
    "sweep",
    "deletions",
    "windows",
    "__ab_no_cursor_state_message",
    "__ab_full_refresh_sync_complete",
    "states",
    "state",
];

/// Understands one stream's state in any of the shapes we or the incumbent wrote.
fn interpret(def: &StreamDef, value: &Value) -> Result<Position, StateError> {
    let Some(object) = value.as_object() else {
        return Err((
            String::new(),
            Problem::WrongType {
                expected: "an object".into(),
                found: json_type(value),
            },
        ));
    };
    if object.is_empty() {
        return Ok(Position::default());
    }
    if !object.keys().any(|k| KNOWN_FIELDS.contains(&k.as_str())) {
        // A stream without a cursor is read in full whatever its state says (e.g. the page
        // number of the CDK's resumable full refresh): there is nothing to skip.
        if def.cursor() == Cursor::None {
            return Ok(Position::default());
        }
        let found: Vec<String> = object
            .keys()
            .take(5)
            .map(|k| format!("{:?}", k.chars().take(40).collect::<String>()))
            .collect();
        return Err(whole(format!(
            "it has none of the fields this connector or Airbyte's Python source-harvest writes ({}), only {}{}; remove the stream's state to read it from the start date",
            KNOWN_FIELDS.join(", "),
            found.join(", "),
            if object.len() > 5 { ", …" } else { "" }
        )));
    }
    deletions::check_ledger(object)?;
    report::check_windows(object)?;
    let parsed: Result<Stored, _> = serde_path_to_error::deserialize(value);
    let mut position = parsed.map_err(|e| refused(value, &e))?;
    if position.updated_at.is_none() {
        position.updated_at = incumbent_child_cursor(object)?;
    }
    if let Some(text) = &position.updated_at {
        if parse_instant(text).is_none() {
            return Err((
                "updated_at".into(),
                says(format!(
                    "{text:?} is not a date-time like 2024-01-25T00:00:00Z"
                )),
            ));
        }
    }
    if let Some(text) = &position.to {
        if parse_date(text).is_none() {
            return Err((
                "to".into(),
                says(format!("{text:?} is not a date like 20240125")),
            ));
        }
    }
    if let Some(sweep) = &position.sweep {
        if parse_instant(&sweep.at).is_none() {
            return Err((
                "sweep.at".into(),
                says(format!(
                    "{:?} is not a date-time like 2024-01-25T00:00:00Z; remove the `sweep` object to start a new round of the sweep",
                    sweep.at
                )),
            ));
        }
    }
    if let Some(resume) = &position.resume {
        let restart = "remove the `resume` object to restart the pass";
        if let Some(w) = resume
            .watermark
            .as_deref()
            .filter(|w| parse_instant(w).is_none())
        {
            return Err((
                "resume.watermark".into(),
                says(format!(
                    "{w:?} is not a date-time like 2024-01-25T00:00:00Z; {restart}"
                )),
            ));
        }
        if let Some(f) = resume.from.as_deref().filter(|f| parse_date(f).is_none()) {
            return Err((
                "resume.from".into(),
                says(format!("{f:?} is not a date like 20240125; {restart}")),
            ));
        }
        // We write a path and query under the API; anything else (another host, an empty link)
        // was not written by us, and is refused here rather than when the stream reaches it.
        if let Some(next) = resume.next.as_deref() {
            if !next.starts_with('/') || next.starts_with("//") {
                return Err((
                    "resume.next".into(),
                    says("must be a path under the API such as /v2/clients?page=2; remove the `resume` object to restart the pass"),
                ));
            }
        }
    }
    let expected = match def.cursor() {
        Cursor::UpdatedAt => position.to.is_none(),
        Cursor::ReportWindow => position.updated_at.is_none(),
        Cursor::None => position.updated_at.is_none() && position.to.is_none(),
    };
    if !expected {
        return Err(whole(format!(
            "it holds a cursor this stream does not use (expected {})",
            def.cursor_field().unwrap_or("no cursor")
        )));
    }
    position.into_position().map_err(whole)
}

/// What each member of a stream's state must be, by its path, for the messages that name it.
const TYPES: &[(&str, &str)] = &[
    ("updated_at", "a string"),
    ("to", "a string"),
    ("resume", "an object"),
    ("resume.watermark", "a string"),
    ("resume.next", "a string"),
    ("resume.from", "a string"),
    ("resume.after_parent_id", "an integer"),
    ("resume.rows", "an object"),
    ("sweep", "an object"),
    ("sweep.after_id", "an integer"),
    ("sweep.at", "a string"),
    ("deletions", "an object"),
    ("windows", "an object"),
    ("__ab_no_cursor_state_message", "a boolean"),
];

/// Why serde refused a stream's state, said from the state itself: the member found there
/// named by its type (never shown), or missing. A sweep needs both its members.
fn refused(state: &Value, e: &serde_path_to_error::Error<serde_json::Error>) -> StateError {
    let (path, found) = refused_at(state, e);
    // serde reads a struct from an array too: what is wrong is the array, not its item.
    let (path, found) = match path.split_once('[') {
        Some((container, _)) => (container.to_string(), state.get(container)),
        None => (path, found),
    };
    if path.starts_with("sweep.") && found.is_none() {
        return (
            path,
            says("is missing: a sweep is {\"after_id\": <parent id>, \"at\": <date-time>}; remove the `sweep` object to start a new round of the sweep"),
        );
    }
    let expected = TYPES.iter().find(|(p, _)| *p == path).map(|(_, t)| *t);
    match (found, expected) {
        (Some(value), Some(expected)) => (
            path,
            Problem::WrongType {
                expected: expected.into(),
                found: json_type(value),
            },
        ),
        (None, _) => (path, Problem::Missing { near_miss: None }),
        (Some(_), None) => (path, says(format!("cannot be read ({})", e.inner()))),
    }
}

/// The incumbent's child streams keep one cursor per parent, or a global one under `state`;
/// the earliest is the safe place to continue from.
fn incumbent_child_cursor(
    object: &serde_json::Map<String, Value>,
) -> Result<Option<String>, StateError> {
    if let Some(cursor) = object.get("state").and_then(|s| s.get("updated_at")) {
        return cursor.as_str().map(|c| Some(c.to_string())).ok_or_else(|| {
            (
                "state.updated_at".into(),
                Problem::WrongType {
                    expected: "a string".into(),
                    found: json_type(cursor),
                },
            )
        });
    }
    let Some(states) = object.get("states") else {
        return Ok(None);
    };
    let Some(states) = states.as_array() else {
        return Err(whole("`states` must be an array"));
    };
    let mut earliest: Option<(DateTime<Utc>, String)> = None;
    for entry in states {
        let Some(text) = entry.pointer("/cursor/updated_at").and_then(Value::as_str) else {
            return Err(whole("an entry of `states` lacks cursor.updated_at"));
        };
        let t = parse_instant(text)
            .ok_or_else(|| whole(format!("cursor.updated_at {text:?} is not a date-time")))?;
        if earliest.as_ref().is_none_or(|(e, _)| t < *e) {
            earliest = Some((t, text.to_string()));
        }
    }
    Ok(earliest.map(|(_, text)| text))
}
