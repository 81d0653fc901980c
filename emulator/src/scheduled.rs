//! Deletions scheduled at a request count: "delete these records just before the 3rd request
//! to `/v2/time_entries` is answered". A test that deletes records from its own thread races
//! the connector; one scheduled here lands between the same two pages on every run, so what
//! the connector does about it (and the requests that costs) can be asserted exactly.

use serde::{Deserialize, Serialize};

use crate::data::mutate;

/// Records to delete once `after` more requests to `path` have been answered.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct ScheduledDeletion {
    /// The request path, exactly (`/v2/time_entries`, no query).
    pub path: String,
    /// How many requests to `path` are still to be answered first; it counts down as they are.
    pub after: u64,
    /// The connector stream the records belong to (as in `DELETE /__emulator/records/…`).
    pub stream: String,
    /// The ids to delete.
    pub ids: Vec<i64>,
}

impl ScheduledDeletion {
    /// Why the emulator cannot carry it out, if it cannot.
    pub fn invalid(&self) -> Option<String> {
        if !mutate::STREAMS.contains(&self.stream.as_str()) {
            return Some(format!(
                "unknown stream {:?}; mutable streams: {}",
                self.stream,
                mutate::STREAMS.join(", ")
            ));
        }
        if !self.path.starts_with("/v2/") {
            return Some(format!(
                "path {:?} must be an API path such as /v2/time_entries",
                self.path
            ));
        }
        None
    }
}

/// The deletions waiting for their request, in the order they were scheduled.
#[derive(Default)]
pub struct Schedule(Vec<ScheduledDeletion>);

impl Schedule {
    /// Queues a deletion (validate it first with [`ScheduledDeletion::invalid`]).
    pub fn push(&mut self, deletion: ScheduledDeletion) {
        self.0.push(deletion);
    }

    /// The deletions still waiting.
    pub fn waiting(&self) -> &[ScheduledDeletion] {
        &self.0
    }

    /// Counts one request to `path` against every deletion waiting on it and hands back those
    /// now due, for the request gate to carry out before the request is answered.
    pub fn due(&mut self, path: &str) -> Vec<ScheduledDeletion> {
        let mut due = Vec::new();
        self.0.retain_mut(|deletion| {
            if deletion.path != path {
                return true;
            }
            if deletion.after == 0 {
                due.push(deletion.clone());
                return false;
            }
            deletion.after -= 1;
            true
        });
        due
    }
}
