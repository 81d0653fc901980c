//! State in and state out.
//!
//! Out: one STREAM state per stream, in the incumbent's shapes so that a downgrade still works —
//! `{"updated_at": …}` for entity streams, `{"to": "YYYYMMDD"}` for report streams,
//! `{"__ab_no_cursor_state_message": true}` for a finished full refresh — plus, while a pass is
//! under way, a `resume` object that lets the next run finish that same pass.
//!
//! In: a JSON array of STATE messages (STREAM or GLOBAL), a legacy object keyed by stream name,
//! `[]` or `null`, with the incumbent's child-stream shape (`{"states": [{"partition", "cursor"}]}`)
//! reduced to its minimum cursor. A state that cannot be understood is an error, never a silent
//! full resync.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod deletions;
mod report;

pub use deletions::{DerivedRound, Ledger, Listing, Round};
pub use report::{ReportWindows, RowKeys, WindowRows};

use crate::input::json_type;
use crate::input::{InputError, InputFile, Location, Problem};
use crate::protocol::{StateMessage, StateType};
use crate::streams::{Cursor, StreamDef};
use crate::time::{format_date, format_instant, parse_date, parse_instant};

/// Where a stream stands: its cursor, and the pass in progress if one was interrupted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Position {
    /// Entity streams: the watermark; records updated after it are read next.
    pub updated_at: Option<DateTime<Utc>>,
    /// Report streams: the last day covered; the next window starts there.
    pub to: Option<NaiveDate>,
    /// A pass that is under way.
    pub resume: Option<Resume>,
    /// Child streams: how far the sweep of parents that did not change has come.
    pub sweep: Option<Sweep>,
    /// A full refresh finished (written as the Python CDK's `__ab_no_cursor_state_message`).
    pub finished_full_refresh: bool,
    /// Entity streams, incremental: what deletion capture knows (see `read::deletions`).
    pub deletions: Option<Ledger>,
    /// Report streams, incremental: the windows the next sync reads again, with their rows.
    pub windows: Option<ReportWindows>,
}

/// A child stream's sweep: parents are swept in ascending id order, a slice per sync sized by
/// the time since the previous one, so that every parent's children are read again within
/// `child_sweep_hours` (see `read::readers::child`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sweep {
    /// Parents up to this id were swept in the current round.
    pub after_id: i64,
    /// The server's time at the sync that swept them.
    pub at: DateTime<Utc>,
}

/// How to continue an interrupted pass.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resume {
    /// The watermark the pass will commit when it completes (entity streams, incremental).
    pub watermark: Option<DateTime<Utc>>,
    /// The next page to fetch: path and query under the API's origin.
    pub next: Option<String>,
    /// Child streams: parents are read in ascending id order; these are done.
    pub after_parent_id: Option<i64>,
    /// Report streams: the first day of the window in progress.
    pub from: Option<NaiveDate>,
    /// Report streams: the keys of the rows read so far in the window in progress.
    pub rows: Option<RowKeys>,
}

impl Position {
    /// The state a finished full refresh leaves.
    pub fn finished_full_refresh() -> Position {
        Position {
            finished_full_refresh: true,
            ..Position::default()
        }
    }

    /// As `def`'s `stream_state` value, in the shapes the incumbent writes. A child stream's
    /// also carries the incumbent's (empty) list of per-parent cursors, so that Airbyte's
    /// connector, given it back, reads the children from its start date instead of failing.
    pub fn to_value(&self, def: &StreamDef) -> Value {
        let mut stored = Stored::from(self);
        if def.parent().is_some() && def.cursor() == Cursor::UpdatedAt {
            stored.states = Some(Value::Array(Vec::new()));
        }
        serde_json::to_value(stored).expect("a position serialises")
    }
}

/// A [`Position`] as a state file holds it: instants as `YYYY-MM-DDTHH:MM:SSZ`, days as
/// `YYYYMMDD`, the incumbent's field names.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resume: Option<StoredResume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sweep: Option<StoredSweep>,
    /// The incumbent's per-parent cursors: read by [`incumbent_child_cursor`], written empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    states: Option<Value>,
    #[serde(
        rename = "__ab_no_cursor_state_message",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    no_cursor: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deletions: Option<Ledger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    windows: Option<ReportWindows>,
}

/// A [`Resume`] as a state file holds it.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StoredResume {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    watermark: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after_parent_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rows: Option<RowKeys>,
}

/// A [`Sweep`] as a state file holds it.
#[derive(Debug, Serialize, Deserialize)]
struct StoredSweep {
    after_id: i64,
    at: String,
}

impl From<&Position> for Stored {
    fn from(p: &Position) -> Stored {
        Stored {
            updated_at: p.updated_at.map(format_instant),
            to: p.to.map(format_date),
            resume: p.resume.as_ref().map(|r| StoredResume {
                watermark: r.watermark.map(format_instant),
                next: r.next.clone(),
                after_parent_id: r.after_parent_id,
                from: r.from.map(format_date),
                rows: r.rows.clone(),
            }),
            sweep: p.sweep.map(|s| StoredSweep {
                after_id: s.after_id,
                at: format_instant(s.at),
            }),
            states: None,
            no_cursor: p.finished_full_refresh.then_some(true),
            deletions: p.deletions.clone(),
            windows: p.windows.clone(),
        }
    }
}

impl Stored {
    /// The typed position; every text was checked by [`interpret`] first, so a text that does
    /// not parse is an error of this module, reported rather than dropped.
    fn into_position(self) -> Result<Position, String> {
        let instant = |t: &str| parse_instant(t).ok_or_else(|| format!("{t:?} is not a date-time"));
        let day = |t: &str| parse_date(t).ok_or_else(|| format!("{t:?} is not a date"));
        Ok(Position {
            updated_at: self.updated_at.as_deref().map(instant).transpose()?,
            to: self.to.as_deref().map(day).transpose()?,
            resume: self
                .resume
                .map(|r| -> Result<Resume, String> {
                    Ok(Resume {
                        watermark: r.watermark.as_deref().map(instant).transpose()?,
                        next: r.next,
                        after_parent_id: r.after_parent_id,
                        from: r.from.as_deref().map(day).transpose()?,
                        rows: r.rows,
                    })
                })
                .transpose()?,
            sweep: self
                .sweep
                .map(|s| -> Result<Sweep, String> {
                    Ok(Sweep {
                        after_id: s.after_id,
                        at: instant(&s.at)?,
                    })
                })
                .transpose()?,
            finished_full_refresh: self.no_cursor == Some(true),
            deletions: self.deletions,
            windows: self.windows,
        })
    }
}

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
fn says(text: impl Into<String>) -> Problem {
    Problem::Says(text.into())
}

/// A problem of a stream's state as a whole (`""`) or of its field `field`.
type StateError = (String, Problem);

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
    check_field_types(object)?;
    deletions::check_ledger(object)?;
    report::check_windows(object)?;
    let mut position: Stored = serde_json::from_value(value.clone())
        .map_err(|e| whole(format!("unexpected shape ({e})")))?;
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

/// A field of a state object, the test its value must pass, and how to say what it must be.
type FieldType = (&'static str, fn(&Value) -> bool, &'static str);

/// Names the field of a known name that has the wrong JSON type, which serde's message would
/// not (it says "expected a string" but not where).
fn check_field_types(object: &serde_json::Map<String, Value>) -> Result<(), StateError> {
    const POSITION: &[FieldType] = &[
        ("updated_at", Value::is_string, "a string"),
        ("to", Value::is_string, "a string"),
        ("resume", Value::is_object, "an object"),
        ("sweep", Value::is_object, "an object"),
        ("deletions", Value::is_object, "an object"),
        ("windows", Value::is_object, "an object"),
        (
            "__ab_no_cursor_state_message",
            Value::is_boolean,
            "a boolean",
        ),
    ];
    const RESUME: &[FieldType] = &[
        ("watermark", Value::is_string, "a string"),
        ("next", Value::is_string, "a string"),
        ("from", Value::is_string, "a string"),
        ("after_parent_id", Value::is_i64, "an integer"),
        ("rows", Value::is_object, "an object"),
    ];
    const SWEEP: &[FieldType] = &[
        ("after_id", Value::is_i64, "an integer"),
        ("at", Value::is_string, "a string"),
    ];
    wrong_type(object, "", POSITION)?;
    if let Some(Value::Object(sweep)) = object.get("sweep") {
        wrong_type(sweep, "sweep.", SWEEP)?;
        // Both members or none: a sweep without its position or its time cannot be continued.
        if let Some((member, _, _)) = SWEEP
            .iter()
            .find(|(member, _, _)| sweep.get(*member).is_none_or(Value::is_null))
        {
            return Err((
                format!("sweep.{member}"),
                says("is missing: a sweep is {\"after_id\": <parent id>, \"at\": <date-time>}; remove the `sweep` object to start a new round of the sweep"),
            ));
        }
    }
    match object.get("resume") {
        Some(Value::Object(resume)) => wrong_type(resume, "resume.", RESUME),
        _ => Ok(()),
    }
}

/// The first of `fields` whose value in `object` has the wrong type, as an error.
fn wrong_type(
    object: &serde_json::Map<String, Value>,
    prefix: &str,
    fields: &[FieldType],
) -> Result<(), StateError> {
    for (field, ok, expected) in fields {
        match object.get(*field) {
            Some(v) if !v.is_null() && !ok(v) => {
                return Err((
                    format!("{prefix}{field}"),
                    Problem::WrongType {
                        expected: (*expected).into(),
                        found: json_type(v),
                    },
                ))
            }
            _ => {}
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streams::find;
    use serde_json::json;

    fn position(stream: &str, state: Value) -> Result<Position, InputError> {
        let input = InputState::from_json(&json!([
            {"type": "STREAM", "stream": {"stream_descriptor": {"name": stream, "namespace": null}, "stream_state": state},
             "global_": null, "data": null, "sourceStats": {"recordCount": 2.0}}
        ]))?;
        input.position(find(stream).unwrap())
    }

    #[test]
    fn reads_the_incumbents_shapes() {
        let p = position("clients", json!({"updated_at": "2021-06-01T12:00:02Z"})).unwrap();
        assert_eq!(p.updated_at, parse_instant("2021-06-01T12:00:02Z"));
        let p = position("time_clients", json!({"to": "20261122"})).unwrap();
        assert_eq!(p.to, NaiveDate::from_ymd_opt(2026, 11, 22));
        let p = position(
            "invoice_messages",
            json!({"states": [
                {"partition": {"id": 1, "parent_slice": {}}, "cursor": {"updated_at": "2024-03-01T00:00:00Z"}},
                {"partition": {"id": 2, "parent_slice": {}}, "cursor": {"updated_at": "2024-01-01T00:00:00Z"}}
            ]}),
        )
        .unwrap();
        assert_eq!(p.updated_at, parse_instant("2024-01-01T00:00:00Z"));
    }

    #[test]
    fn empty_and_null_states_mean_no_state() {
        for doc in [json!([]), Value::Null, json!([null])] {
            let input = InputState::from_json(&doc).unwrap();
            assert_eq!(
                input.position(find("clients").unwrap()).unwrap(),
                Position::default()
            );
        }
    }

    #[test]
    fn full_refresh_states_of_the_cdk_mean_no_cursor() {
        for (stream, state) in [
            ("clients", json!({"__ab_full_refresh_sync_complete": true})),
            (
                "project_budget",
                json!({"__ab_full_refresh_sync_complete": true}),
            ),
            // A resumable full refresh under way: a stream without a cursor reads in full.
            ("project_budget", json!({"page": 3})),
            (
                "billable_rates",
                json!({"next_page_token": {"next_page_url": "x"}}),
            ),
        ] {
            assert_eq!(
                position(stream, state.clone()).unwrap(),
                Position::default(),
                "{stream} {state}"
            );
        }
    }

    #[test]
    fn a_cursor_stream_state_without_a_known_field_is_an_error() {
        let long = "k".repeat(100);
        let e = position("clients", json!({ long.clone(): "2024-01-01T00:00:00Z" })).unwrap_err();
        assert!(e.to_string().contains("none of the fields"), "{e}");
        assert!(
            e.to_string().contains(&"k".repeat(40)) && !e.to_string().contains(&"k".repeat(41)),
            "{e}"
        );
    }

    #[test]
    fn unusable_states_are_errors_naming_the_stream() {
        let e = position("clients", json!({"updated_at": "yesterday"})).unwrap_err();
        assert!(
            e.to_string().contains("clients") && e.to_string().contains("yesterday"),
            "{e}"
        );
        let e = position("clients", json!("2024-01-01")).unwrap_err();
        assert!(e.to_string().contains("object"), "{e}");
        let e = position("time_team", json!({"updated_at": "2024-01-01T00:00:00Z"})).unwrap_err();
        assert!(e.to_string().contains("cursor"), "{e}");
        let e = InputState::from_json(&json!(42)).unwrap_err();
        assert!(
            e.to_string().contains("a JSON array of STATE messages"),
            "{e}"
        );
        let e = InputState::from_json(&json!([{"type": "STREAM"}])).unwrap_err();
        assert!(
            e.to_string()
                .contains("a STREAM state without its `stream` object"),
            "{e}"
        );
    }

    #[test]
    fn a_stream_given_two_states_is_an_error_naming_it_and_both_entries() {
        let entry = |name: &str| {
            json!({"type": "STREAM", "stream": {"stream_descriptor": {"name": name},
                "stream_state": {"updated_at": "2024-01-01T00:00:00Z"}}})
        };
        let e = InputState::from_json(&json!([entry("clients"), entry("users"), entry("clients")]))
            .unwrap_err();
        assert_eq!(e.at, Location::StateEntry(Some(2)));
        assert_eq!(
            e.to_string(),
            "state entry 2: a second state for stream \"clients\" (entry 0 gives it one); a state holds one per stream: keep the newest and remove the other"
        );
        // Within one GLOBAL message, and between a GLOBAL and a STREAM message.
        let global = json!({"type": "GLOBAL", "global": {"stream_states": [
            {"stream_descriptor": {"name": "users"}, "stream_state": {}},
            {"stream_descriptor": {"name": "users"}, "stream_state": {}}
        ]}});
        let e = InputState::from_json(&global).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "state: a second state for stream \"users\" (this entry gives it one already)"
            ),
            "{e}"
        );
        let e = InputState::from_json(&json!([entry("users"), global])).unwrap_err();
        assert!(e.to_string().contains("(entry 0 gives it one)"), "{e}");
        // Distinct streams are fine.
        InputState::from_json(&json!([entry("clients"), entry("users")])).unwrap();
    }

    #[test]
    fn malformed_sweep_and_resume_members_are_named() {
        let cases = [
            (
                "invoice_messages",
                json!({"updated_at": "2024-01-01T00:00:00Z", "sweep": {"at": "2024-01-01T00:00:00Z"}}),
                "sweep.after_id is missing",
            ),
            (
                "invoice_messages",
                json!({"updated_at": "2024-01-01T00:00:00Z", "sweep": {"after_id": 5, "at": null}}),
                "sweep.at is missing",
            ),
            (
                "invoice_messages",
                json!({"updated_at": "2024-01-01T00:00:00Z", "sweep": {"after_id": 5, "at": "monday"}}),
                "sweep.at \"monday\" is not a date-time",
            ),
            (
                "invoice_messages",
                json!({"updated_at": "2024-01-01T00:00:00Z", "sweep": {"after_id": 1.5, "at": "2024-01-01T00:00:00Z"}}),
                "sweep.after_id must be an integer; found a number",
            ),
            (
                "clients",
                json!({"updated_at": "2024-01-01T00:00:00Z", "resume": {"watermark": "x"}}),
                "resume.watermark \"x\" is not a date-time",
            ),
            (
                "time_clients",
                json!({"to": "20240101", "resume": {"from": "february"}}),
                "resume.from \"february\" is not a date like 20240125",
            ),
        ];
        for (stream, state, expected) in cases {
            let e = position(stream, state.clone()).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("the state of stream {stream}: {expected}")),
                "{state}: {e}"
            );
        }
    }

    #[test]
    fn our_own_state_round_trips() {
        let p = Position {
            updated_at: parse_instant("2024-01-01T00:00:00Z"),
            resume: Some(Resume {
                watermark: parse_instant("2024-02-01T00:00:00Z"),
                next: Some("/v2/clients?cursor=abc".into()),
                ..Resume::default()
            }),
            ..Position::default()
        };
        assert_eq!(
            position("clients", p.to_value(find("clients").unwrap())).unwrap(),
            p
        );
    }
}
