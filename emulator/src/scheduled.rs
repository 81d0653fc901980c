//! Deletions scheduled at a request count: "delete these records just before the 3rd request
//! to `/v2/time_entries` is answered". A test that deletes records from its own thread races
//! the connector; one scheduled here lands between the same two pages on every run, so what
//! the connector does about it (and the requests that costs) can be asserted exactly.

use serde::{Deserialize, Serialize};

use crate::data::mutate;
use crate::state::{lock, App};

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

/// Called for each request to `path` that passed auth, limits and 403s (before any injected
/// fault), before it is answered: counts it against every deletion waiting on `path` and
/// carries out those now due. The queue stays locked until they are done, so a concurrent
/// request to the same path waits for all of a deletion or sees none of it.
pub fn before_request(app: &App, path: &str) {
    let mut waiting = lock(&app.scheduled);
    let mut due = Vec::new();
    waiting.retain_mut(|deletion| {
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
    for deletion in due {
        for id in &deletion.ids {
            // Validated when scheduled; an id deleted meanwhile is simply gone already.
            let _ = mutate::delete(app, &deletion.stream, *id);
        }
    }
}
