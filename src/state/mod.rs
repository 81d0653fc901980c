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

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod deletions;
mod input;
mod report;

pub use deletions::{
    Ahead, DerivedParts, DerivedRound, Ledger, Listing, ListingParts, Round, RoundParts, Unnamed,
};
pub use input::InputState;
use input::{says, StateError};
pub use report::{ReportWindows, RowKeys, WindowRows};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{InputError, Location};
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
