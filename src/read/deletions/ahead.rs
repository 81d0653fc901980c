//! Records an incremental pass reads although they were created after it began.
//!
//! A pass counts the new records of its window, from where the last pass began to where it
//! began itself, so that consecutive passes count each once ([`Counted::new_in_pass`]). A
//! record created after the pass began can still be on a page it reads: created in the very
//! second of its first page (Harvest's times are whole seconds), or sorted onto a page read
//! later (time entries by date, invoices by issue date). The pass emits it, so it counts it
//! too: left to the next pass, a deletion before that one would leave it in the destination
//! with no listing holding it, a silent miss. Its key is kept so that the next pass, whose
//! window holds it, does not count it again.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::listing::stream_name;
use super::Key;
use crate::state;

/// The most records one pass counts past its window: the state keeps their keys. A pass that
/// reads more leaves the rest to the next pass, and says so (a WARN).
const MAX_AHEAD: usize = 256;

/// The records counted past their window by the last pass and by the one under way.
#[derive(Clone, Debug, Default)]
pub(super) struct Ahead {
    passes: Vec<Pass>,
    /// The streams this run read more such records of than the state keeps: said once each.
    full: BTreeSet<&'static str>,
}

/// What one pass counted past its window.
#[derive(Clone, Debug)]
struct Pass {
    /// The end of its window: the next pass's window begins there.
    to: DateTime<Utc>,
    /// When the listing it counted them into began.
    listing: DateTime<Utc>,
    keys: BTreeSet<(&'static str, Key)>,
}

impl Ahead {
    /// What a state kept (records of streams no longer known are dropped).
    pub(super) fn restore(stored: &[state::Ahead]) -> Ahead {
        let passes = (stored.iter())
            .map(|p| Pass {
                to: p.to,
                listing: p.listing,
                keys: (p.keys.iter())
                    .filter_map(|(name, keys)| Some((stream_name(name)?, keys)))
                    .flat_map(|(name, keys)| keys.iter().map(move |k| (name, *k)))
                    .collect(),
            })
            .collect();
        Ahead {
            passes,
            full: BTreeSet::new(),
        }
    }

    /// What the state keeps.
    pub(super) fn stored(&self) -> Vec<state::Ahead> {
        (self.passes.iter())
            .map(|p| {
                let mut keys: BTreeMap<String, Vec<Key>> = BTreeMap::new();
                for (name, key) in &p.keys {
                    keys.entry(name.to_string()).or_default().push(*key);
                }
                state::Ahead {
                    to: p.to,
                    listing: p.listing,
                    keys,
                }
            })
            .collect()
    }

    /// Begins (or resumes) the pass whose window is `[from, to)`: only the last pass's records
    /// and its own are still needed.
    pub(super) fn pass(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) {
        self.passes.retain(|p| p.to == from || p.to == to);
    }

    /// Forgets what passes counted into the listing that began at `listing` and just ended:
    /// its table holds those records, and the next listing, which may begin in that same
    /// second (a sync run again at the same time has an empty window, and its listing begins
    /// where the next one will), counts them again.
    pub(super) fn ended(&mut self, listing: DateTime<Utc>) {
        self.passes.retain(|p| p.listing != listing);
    }

    /// Whether the pass of window `[from, to)` counts the record `key` of `stream`, created at
    /// `created`, into the listing that began at `listing`. That listing's own pages count the
    /// records created before it began.
    pub(super) fn counts(
        &mut self,
        stream: &'static str,
        key: Key,
        created: Option<DateTime<Utc>>,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        listing: DateTime<Utc>,
    ) -> bool {
        let Some(created) = created.filter(|c| *c >= from && *c >= listing) else {
            return false;
        };
        let key = (stream, key);
        let counted_by_last = |p: &Pass| p.to == from && p.listing == listing;
        if (self.passes.iter()).any(|p| counted_by_last(p) && p.keys.contains(&key)) {
            return false;
        }
        if created < to {
            return true;
        }
        let own = match self.passes.iter().position(|p| p.to == to) {
            Some(i) if self.passes[i].listing == listing => &mut self.passes[i],
            // The listing it counted into ended: those records are in its table, not this one's.
            Some(i) => {
                self.passes[i] = Pass::new(to, listing);
                &mut self.passes[i]
            }
            None => {
                self.passes.push(Pass::new(to, listing));
                self.passes.last_mut().expect("just pushed")
            }
        };
        if own.keys.contains(&key) {
            return false;
        }
        if own.keys.len() >= MAX_AHEAD {
            if self.full.insert(stream) {
                tracing::warn!(
                    "stream {stream}: this sync read more than {MAX_AHEAD} records created while it ran, more than the state keeps; the next sync counts the others for deletion capture, so one of them deleted before it would stay in the destination (refresh stream {stream} to be sure)"
                );
            }
            return false;
        }
        own.keys.insert(key)
    }
}

impl Pass {
    fn new(to: DateTime<Utc>, listing: DateTime<Utc>) -> Pass {
        Pass {
            to,
            listing,
            keys: BTreeSet::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(hour: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + chrono::Duration::hours(hour)
    }

    #[test]
    fn a_pass_keeps_the_keys_of_what_it_counts_past_its_window_up_to_its_limit() {
        let mut ahead = Ahead::default();
        let window = (t(1), t(2));
        ahead.pass(window.0, window.1);
        let past = |key: i64| ((key, 0), Some(t(3)));
        let mut counted = 0;
        for id in 0..MAX_AHEAD as i64 + 10 {
            let (key, created) = past(id);
            counted += usize::from(ahead.counts("clients", key, created, window, t(0)));
        }
        assert_eq!(counted, MAX_AHEAD);
        assert!(ahead.full.contains("clients"));
        // Read again by the same pass (a page read twice), a kept record is not counted again.
        let (key, created) = past(0);
        assert!(!ahead.counts("clients", key, created, window, t(0)));
        // The next pass, whose window holds them, counts those not kept, not those kept.
        let next = (t(2), t(4));
        ahead.pass(next.0, next.1);
        assert!(!ahead.counts("clients", (0, 0), Some(t(3)), next, t(0)));
        assert!(ahead.counts("clients", (MAX_AHEAD as i64, 0), Some(t(3)), next, t(0)));
    }
}
