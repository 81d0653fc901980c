//! Deletions scheduled at a request count: "delete these records just before the 3rd request
//! to `/v2/time_entries` is answered". A test that deletes records from its own thread races
//! the connector; one scheduled here lands between the same two pages on every run, so what
//! the connector does about it (and the requests that costs) can be asserted exactly.
//!
//! Each id is deleted as `DELETE /__emulator/records/…` deletes it, cascade included. One that
//! Harvest would refuse (a client that still has projects, say) is skipped, as Harvest's DELETE
//! would fail, and kept as a [`Refusal`] so a test can see why its record stayed.

use serde::{Deserialize, Serialize};

use crate::data::mutate::Stream;

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
        if let Err(unknown) = Stream::parse(&self.stream) {
            return Some(unknown);
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

/// A scheduled deletion of one record that Harvest would have refused, so it was skipped.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Refusal {
    /// The connector stream of the record.
    pub stream: String,
    /// The record's id.
    pub id: i64,
    /// Harvest's 422 message: why the record is not removable.
    pub message: String,
}

/// The deletions waiting for their request, in the order they were scheduled, and the records
/// of due ones Harvest refused to delete.
#[derive(Default)]
pub struct Schedule {
    waiting: Vec<ScheduledDeletion>,
    refused: Vec<Refusal>,
}

impl Schedule {
    /// Queues a deletion (validate it first with [`ScheduledDeletion::invalid`]).
    pub fn push(&mut self, deletion: ScheduledDeletion) {
        self.waiting.push(deletion);
    }

    /// The deletions still waiting.
    pub fn waiting(&self) -> &[ScheduledDeletion] {
        &self.waiting
    }

    /// Keeps a record a due deletion skipped because Harvest refuses to delete it.
    pub fn refuse(&mut self, refusal: Refusal) {
        self.refused.push(refusal);
    }

    /// The records due deletions skipped, oldest first.
    pub fn refused(&self) -> &[Refusal] {
        &self.refused
    }

    /// Counts one request to `path` against every deletion waiting on it and hands back those
    /// now due, for the request gate to carry out before the request is answered.
    pub fn due(&mut self, path: &str) -> Vec<ScheduledDeletion> {
        let mut due = Vec::new();
        self.waiting.retain_mut(|deletion| {
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
