//! Counts of the requests the emulator answered, for tests that assert how a client behaved
//! (how many pages it fetched, whether it backed off after a 429, how often it refreshed).

use std::collections::BTreeMap;

use serde::Serialize;

/// Requests answered since start (or since the last reset), control API excluded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    /// All requests outside `/__emulator`.
    pub total: u64,
    /// Per route template, e.g. `/v2/invoices/{id}/messages` (unknown paths under `(no route)`).
    pub by_path: BTreeMap<String, u64>,
    /// Per HTTP status sent, 429s and injected faults included.
    pub by_status: BTreeMap<u16, u64>,
    /// Per injected fault kind (`500`, `reset`, `loop`…): what the fault injector did.
    pub faults: BTreeMap<String, u64>,
    /// Stalled requests (the `stall` fault) whose client hung up before the stall ended.
    pub hangups: u64,
}

impl RequestCounts {
    /// Requests to one route template.
    pub fn path(&self, template: &str) -> u64 {
        self.by_path.get(template).copied().unwrap_or(0)
    }

    /// Responses with one status.
    pub fn status(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }

    /// Counts one answered request.
    pub(crate) fn record(&mut self, template: &str, status: Option<u16>) {
        self.total += 1;
        *self.by_path.entry(template.to_string()).or_default() += 1;
        if let Some(s) = status {
            *self.by_status.entry(s).or_default() += 1;
        }
    }

    /// Counts one injected fault.
    pub(crate) fn record_fault(&mut self, kind: &str) {
        *self.faults.entry(kind.to_string()).or_default() += 1;
    }
}
