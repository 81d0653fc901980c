//! Deletion capture: records Harvest no longer serves become tombstones (their key,
//! `_ab_cdc_deleted_at` and the cursor set to when the deletion was seen), which Airbyte
//! destinations delete or mark deleted.
//!
//! Harvest has no deletion feed, so deletions are found by comparing complete listings. The
//! state cannot hold a million ids, so it holds a summary of the last listing's keys that is
//! as large as the differences to find, not as the stream ([`crate::iblt::Table`]): the
//! previous listing's table minus the keys the new listing reads leaves the keys no longer
//! listed. Only records created by the time the previous listing ended (and the clock overlap
//! after it) are taken away, so what the new one adds (records created since) does not crowd
//! the table; a record created while a listing ran and listed by it is known from then on.
//!
//! A listing is compared part by part ([`parts`]) as it goes, and whole when it completes
//! ([`whole`]), and keeps pace with the last one ([`pace`]), so that a deletion is found within one sweep interval; a child stream also keeps digests of the parents read whole most
//! recently ([`crate::digest`]), so that a child deleted is found as soon as its parent moves.
//!
//! What a listing is, and how a candidate is confirmed, depends on the stream:
//! - [`entity`]: a list stream's pages, whole in every sync when they fit in one page, else a
//!   slice per sync; a candidate is confirmed by its lookup by id answering 404.
//! - [`child`]: the children of every parent, as the child sweep reads each parent whole once
//!   per round; a candidate is confirmed by its parent's list of children, read again, not
//!   holding it (or the parent answering 404).
//! - [`derived`]: the rows of a derived stream, listed with their source's records; a candidate
//!   is confirmed by its source, read again, not holding it (or answering 404).
//!
//! Never a false tombstone: a record missing from a listing is only a candidate (a page that
//! shifted, a record whose date moved to a month already read), confirmed before its tombstone
//! is written; one whose confirmation fails otherwise waits for the next sync. A listing that
//! did not complete is never compared; listings made as another user (who may see fewer
//! records) are never compared ([`user`]).

mod ahead;
pub(super) mod child;
pub(super) mod derived;
pub(super) mod entity;
mod listing;
mod pace;
mod parts;
mod tombstones;
mod user;
mod whole;

use crate::digest::{Digest, Digests, WholeRead};
use ahead::Ahead;
pub(in crate::read) use listing::Counted;
use listing::{stream_name, Known, Recent, Working};
use parts::{position, WorkingParts};
use tombstones::listed_ids;
pub(in crate::read) use tombstones::write_tombstones;
use whole::{cells_for, CELLS};

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::derive;
use crate::catalog::Selected;
use crate::config::Config;
use crate::iblt::Key;
use crate::page::Record;
use crate::protocol::SyncMode;
use crate::read::cursor::OVERLAP;
use crate::state::{Ledger, Position, Unnamed};
use crate::streams::{Cursor, Kind, StreamDef};

/// Keys of the last pages read, to tell a record read twice in one walk (pages read again after
/// a step back, or shifted by a record created meanwhile) from two records.
const RECENT_PAGES: usize = 4;

/// The column destinations read a deletion from.
pub(in crate::read) const DELETED_AT: &str = "_ab_cdc_deleted_at";

/// A listing a page is counted into: the one under way, or the upcoming one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Round,
    Upcoming,
}

/// What a page counts into one listing.
#[derive(Clone, Copy, Debug)]
struct Count {
    into: Target,
    counted: Counted,
    /// Whether the page is the listing's own (a page of its walk, a parent its sweep read),
    /// which paces it; not one another read adds to it.
    own: bool,
}

/// Deletion capture of one stream's incremental read.
pub(super) struct Capture {
    def: &'static StreamDef,
    /// The user the last comparison was made as ([`Capture::check_user`]).
    user: Option<String>,
    /// Whether the listing under way may be compared with the known one when it completes.
    comparable: bool,
    /// Whether Harvest did not say which user the token acts as: the listing under way is
    /// then dropped, and the known one kept for the next ([`Capture::complete`]).
    user_unknown: bool,
    /// The derived streams read with it: their rows' keys are listed with their sources.
    derived: Vec<&'static StreamDef>,
    by: String,
    start: DateTime<Utc>,
    known: Option<Known>,
    round: Option<Working>,
    /// A listing that began in this sync while `round` still had parents to read (a child
    /// sweep that wrapped round): it becomes `round` when that one completes.
    upcoming: Option<Working>,
    pending: Vec<Key>,
    pending_derived: BTreeMap<&'static str, Vec<Key>>,
    /// The candidates a part's comparison named in this sync (see [`Capture::alive`]).
    named_by_parts: BTreeSet<Key>,
    /// The candidates the whole comparison that made the known listing named in this sync
    /// (see [`Capture::alive`]).
    named_by_whole: BTreeSet<Key>,
    recent: Recent,
    /// A child stream's digests of the parents read whole most recently.
    digests: Digests,
    /// The parent whose children are being read whole.
    reading: Option<WholeRead>,
    /// The parent whose children are being read, and what each page of that read counts into
    /// which listing (see [`Capture::observe_children`]).
    counting: Option<(i64, Vec<Count>)>,
    /// The parents whose read in this sync was the round's first, before its sweep: no read
    /// of the round counted a child such a read lacks (see [`Capture::missing_child`]).
    first_reads: BTreeSet<i64>,
    /// The parents read whole in this sync: the children their digest says are missing, and their
    /// new digest, kept once the user is checked ([`Capture::end_children`]).
    read_whole: Vec<(WholeRead, Vec<Key>, Digest)>,
    /// Records gone that comparisons could not name, by stream (see [`Ledger::unnamed`]).
    unnamed: BTreeMap<&'static str, Unnamed>,
    /// The records incremental passes counted although created after their window.
    ahead: Ahead,
    /// Whether a page counted a record created since the last complete listing began, which
    /// no STATE holds yet (see [`Capture::take_fresh`]).
    fresh: bool,
}

/// What listings depend on besides the user: the start date (records updated before it are not
/// counted, so listings made with another start date hold other records). The user the token
/// acts as, which also tells the account (Harvest's users are an account's), is checked with
/// Harvest before listings are compared ([`Capture::check_user`]). Nothing of the credentials
/// or the account id is kept: both are secrets.
fn fingerprint(config: &Config) -> String {
    format!("since {}", crate::time::format_instant(config.start_date))
}

impl Capture {
    /// The capture of `sel`'s read from `position`: `None` unless deletions are captured (the
    /// config's switch, an incremental read of a list or child stream with a cursor).
    pub(super) fn new(
        config: &Config,
        sel: &Selected,
        derived: &[Selected],
        position: &Position,
    ) -> Option<Capture> {
        let capturable = config.capture_deletions
            && sel.mode == SyncMode::Incremental
            && matches!(sel.def.kind, Kind::List { .. } | Kind::Child { .. })
            && sel.def.cursor() == Cursor::UpdatedAt;
        if !capturable {
            return None;
        }
        let mut capture = Capture {
            def: sel.def,
            user: None,
            comparable: true,
            user_unknown: false,
            derived: derived.iter().map(|d| d.def).collect(),
            by: fingerprint(config),
            start: config.start_date,
            known: None,
            round: None,
            upcoming: None,
            pending: Vec::new(),
            named_by_parts: BTreeSet::new(),
            named_by_whole: BTreeSet::new(),
            pending_derived: BTreeMap::new(),
            recent: Recent::default(),
            digests: Digests::default(),
            reading: None,
            counting: None,
            first_reads: BTreeSet::new(),
            read_whole: Vec::new(),
            unnamed: BTreeMap::new(),
            ahead: Ahead::default(),
            fresh: false,
        };
        // Kept whatever else starts again: those records are in the destination all the same.
        if let Some(ledger) = &position.deletions {
            capture.unnamed = restored_unnamed(ledger);
        }
        match &position.deletions {
            Some(ledger) if ledger.by != capture.by => tracing::info!(
                "stream {}: the start date changed since the last listing; deletion capture starts again with the next complete listing",
                sel.def.name
            ),
            Some(ledger) => capture.restore(ledger),
            None => {}
        }
        capture.warn_unnamed();
        Some(capture)
    }

    /// Puts the capture back where `ledger` says (an earlier [`Capture::ledger`]).
    pub(super) fn restore(&mut self, ledger: &Ledger) {
        self.known = ledger.known.as_ref().and_then(Known::restore);
        self.round = ledger.round.as_ref().and_then(Working::restore);
        self.upcoming = ledger.upcoming.as_ref().and_then(Working::restore);
        self.user = ledger.user.clone();
        self.unnamed = restored_unnamed(ledger);
        self.ahead = Ahead::restore(&ledger.ahead);
        self.pending = ledger.pending.clone();
        self.pending_derived = ledger
            .pending_derived
            .iter()
            .filter_map(|(name, keys)| Some((stream_name(name)?, keys.clone())))
            .collect();
        self.digests = Digests::decode(&ledger.parents)
            .unwrap_or_default()
            .forgetting(ledger.parents_forgotten);
    }

    /// Candidates Harvest still serves: one a part's comparison named is not taken from the
    /// last listing after all. Its position moved (a time entry's date changed to one the
    /// listing has not read yet), and the listing counts it when it gets there; were it
    /// deleted before then, the whole comparison must still find it. One the whole comparison
    /// named is a record the listing now known missed (its date moved to a month the listing
    /// had read already): it is counted into that listing, else its deletion before the next
    /// listing reads it would be in no comparison.
    pub(super) fn alive(&mut self, keys: impl IntoIterator<Item = Key>) {
        for key in keys {
            if self.named_by_parts.remove(&key) {
                if let Some(round) = &mut self.round {
                    round.taken.remove(key);
                }
            } else if self.named_by_whole.remove(&key) {
                if let Some(known) = &mut self.known {
                    known.keys.insert(key);
                }
            }
        }
    }

    /// The listing under way, if any, with the last parent it counted (a child stream's).
    pub(in crate::read) fn round_through(&self) -> child::UnderWay {
        self.round.as_ref().map(|r| r.through)
    }

    /// Starts a listing at the server's time `at` that is this sync's read, of about
    /// `records` as Harvest says, dropping any listing under way (its pages would be counted
    /// twice).
    pub(super) fn begin_anew(&mut self, at: DateTime<Utc>, records: Option<u64>) {
        self.round = None;
        self.begin_sized(at, records.unwrap_or(0));
    }

    /// Starts a listing at the server's time `at`, unless one is under way; it is compared
    /// with the last complete listing.
    pub(super) fn begin(&mut self, at: DateTime<Utc>) {
        self.begin_sized(at, 0);
    }

    /// [`Capture::begin`], sized for at least `records` (and the last listing's): an entity
    /// stream's table grows with the stream, a child stream's keeps [`CELLS`] (its deletions
    /// come a parent at a time, and its state holds digests besides).
    fn begin_sized(&mut self, at: DateTime<Utc>, records: u64) {
        if self.round.is_none() {
            let known = self.known.as_ref();
            let cells = match self.def.kind {
                Kind::List { .. } => cells_for(records.max(known.map_or(0, |k| k.total))),
                _ => CELLS,
            };
            let parts = WorkingParts::new(
                known.map_or_else(Vec::new, |k| k.next_bounds.clone()),
                known.and_then(|k| k.parts.as_ref().map(|p| p.bounds.clone())),
            );
            self.round = Some(Working::new(
                at,
                known.map(|k| k.at),
                known.map(|k| k.last + OVERLAP),
                parts,
                cells,
            ));
            self.recent.clear();
        }
    }

    /// The listing `into` stands for.
    fn listing(&mut self, into: Target) -> &mut Option<Working> {
        match into {
            Target::Round => &mut self.round,
            Target::Upcoming => &mut self.upcoming,
        }
    }

    /// Starts the listing that follows the one under way, at the server's time `at`, unless it
    /// began already; it is compared with the one under way once that completes.
    fn begin_upcoming(&mut self, at: DateTime<Utc>) {
        if self.upcoming.is_none() {
            // The listing under way ends later in this sync: records created meanwhile that it
            // lists, this one cannot take away, and they become candidates a confirmation drops.
            let round = self.round.as_ref();
            let against = round.map(|r| r.at);
            // It is compared with the round under way, whose parts have that round's bounds.
            let bounds = round.map_or_else(Vec::new, |r| r.parts.bounds.clone());
            let parts = WorkingParts::new(bounds.clone(), Some(bounds).filter(|b| !b.is_empty()));
            self.upcoming = Some(Working::new(
                at,
                against,
                against.map(|_| at + OVERLAP),
                parts,
                CELLS,
            ));
        }
    }

    /// Counts a page into each listing of `counts` (the listing under way, the upcoming one)
    /// what it says, read at the server's time `date`; the records of a child stream are
    /// keyed by their parent and their id.
    fn observe_into(
        &mut self,
        records: &[Record<'_>],
        date: Option<DateTime<Utc>>,
        parent: Option<i64>,
        counts: &[Count],
    ) {
        let mut keys = Vec::with_capacity(records.len());
        // A record created before the last complete listing began is in its table already.
        let known_at = self.known.as_ref().map(|k| k.at);
        let fresh = |created: Option<DateTime<Utc>>| {
            known_at.is_some_and(|k| created.is_some_and(|c| c >= k))
        };
        for &Count { into, counted, own } in counts {
            // An entity stream's incremental pass also counts what it reads of records created
            // after it began (see [`ahead`]).
            let pass = match (parent, counted) {
                (None, Counted::CreatedIn(from, to)) => Some((from, to)),
                _ => None,
            };
            let listing = match into {
                Target::Round => &mut self.round,
                Target::Upcoming => &mut self.upcoming,
            };
            let Some(listing) = listing else {
                continue;
            };
            // A derived stream this sync does not read counts nothing: its table of this
            // listing is not whole.
            let derived = &self.derived;
            listing.uncounted.extend(
                (self.known.iter().flat_map(|k| k.derived.keys()))
                    .chain(listing.derived.keys())
                    .copied()
                    .filter(|name| !derived.iter().any(|d| d.name == *name)),
            );
            for def in &self.derived {
                listing.reads(def.name);
            }
            // The listing's own pages pace it; what another read adds does not.
            if own {
                listing.read += records.len() as u64;
                if let Some(date) = date {
                    listing.last = listing.last.max(date);
                }
            }
            let mut on_page = std::collections::HashSet::with_capacity(records.len());
            for record in records {
                let Ok(fields) = &record.keys else { continue };
                let Ok(id) = fields.id() else { continue };
                let key = match parent {
                    Some(parent) => (parent, id),
                    None => (id, 0),
                };
                let position = position(self.def, record, parent);
                if own && position != i64::MAX {
                    let furthest = &mut listing.parts.furthest;
                    *furthest = Some(furthest.map_or(position, |f| f.max(position)));
                }
                // Records updated before the start date were never replicated: not counted, so
                // that their deletion sends nothing.
                let updated = fields
                    .updated_at()
                    .ok()
                    .and_then(crate::time::parse_instant);
                if updated.is_some_and(|u| u < self.start)
                    || self.recent.contains(&key)
                    || !on_page.insert(key)
                {
                    continue;
                }
                let created = fields.created_at();
                let name = self.def.name;
                let counts = match pass {
                    Some(window) => self.ahead.counts(name, key, created, window, listing.at),
                    None => counted.counts(created, listing.at),
                };
                // A record counted is not counted again by a later read of this sync (the
                // listing's own page after an incremental read of it, say).
                if counts {
                    listing.count(key, position, created);
                    keys.push(key);
                    self.fresh |= fresh(created);
                }
                // A row is as new as the later of its own creation and its source's: a task
                // assigned to a project long after a user was assigned to it is a new row of
                // that user's, counted by the pass that first reads it, as a new record is.
                for def in &self.derived {
                    let derivation = def.derived().expect("only derived streams tap a source");
                    // A record whose rows cannot be read fails its derived stream when emitted.
                    let Ok(mut rows) =
                        derive::dated_row_keys(derivation, record.raw, fields, parent)
                    else {
                        continue;
                    };
                    for (_, row_created) in &mut rows {
                        *row_created = match (*row_created, created) {
                            (Some(row), Some(source)) => Some(row.max(source)),
                            (row, source) => row.or(source),
                        };
                    }
                    let at = listing.at;
                    rows.retain(|(row, c)| match pass {
                        Some(window) => self.ahead.counts(def.name, *row, *c, window, at),
                        None => counted.counts(*c, at),
                    });
                    if !rows.is_empty() {
                        self.fresh |= rows.iter().any(|(_, c)| fresh(*c));
                        listing.count_rows(def.name, &rows, position);
                    }
                }
            }
        }
        keys.sort_unstable();
        keys.dedup();
        self.recent.push(keys);
    }

    /// Counts a page of the listing under way, read at the server's time `date`.
    pub(super) fn observe(
        &mut self,
        records: &[Record<'_>],
        date: Option<DateTime<Utc>>,
        counted: Counted,
    ) {
        if let Counted::CreatedIn(from, to) = counted {
            self.ahead.pass(from, to);
            // The last listing completed after the last pass: the next one begins where this
            // pass's window does, so that its pages count the records created before and this
            // pass those created since. Begun later, a record this pass reads and a deletion
            // removes before those pages get there would be in neither listing. (A first
            // listing is read whole in the sync it begins.)
            if self.known.is_some() {
                self.begin(from);
            }
        }
        let count = Count {
            into: Target::Round,
            counted,
            own: !matches!(counted, Counted::CreatedIn(..)),
        };
        self.observe_into(records, date, None, &[count]);
    }

    /// Whether pages counted a record created since the last complete listing began since
    /// this was last asked: the read then writes a STATE at once, before its next request.
    /// Such a record is in no other table of the state, and the read sent it: a sync killed
    /// before a STATE holds it (SIGKILL, or a cancel, which stops the read at its next
    /// request) would leave it in the destination with no listing holding it, were Harvest
    /// to delete it before the next sync, which reads it no more.
    pub(super) fn take_fresh(&mut self) -> bool {
        std::mem::take(&mut self.fresh)
    }

    /// Whether candidates wait for Harvest's confirmation: requests before the sync's last
    /// STATE.
    pub(super) fn has_candidates(&self) -> bool {
        !self.pending.is_empty() || self.pending_derived.values().any(|keys| !keys.is_empty())
    }

    /// Where the listing under way goes on (a page link or the first day of a window).
    fn paused_at(&mut self, next: Option<String>) {
        if let Some(round) = &mut self.round {
            round.next = next;
        }
    }

    /// The state to write at a checkpoint of a read that is itself the listing, paused before
    /// `next`. The listing under way is left as it is: the read may go on past `next`.
    pub(super) fn ledger_at(&self, next: Option<&str>) -> Ledger {
        let mut ledger = self.ledger();
        if let Some(round) = &mut ledger.round {
            round.next = next.map(str::to_string);
        }
        ledger
    }

    /// What the state keeps.
    pub(super) fn ledger(&self) -> Ledger {
        // The parents read whole so far in this sync counted their children up to that read:
        // a sync that fails after this checkpoint must not count them again from the last
        // digests. Their comparisons with the last digests wait for the end of the sync (see
        // [`child::Capture::end_children`]); one that fails forgoes them, and the rounds find
        // those children.
        let mut digests = self.digests.clone();
        for (read, _, digest) in &self.read_whole {
            digests.keep(read.parent(), *digest, read.at());
        }
        Ledger {
            by: self.by.clone(),
            user: self.user.clone(),
            known: self.known.as_ref().map(Known::stored),
            round: self.round.as_ref().map(Working::stored),
            upcoming: self.upcoming.as_ref().map(Working::stored),
            pending: self.pending.clone(),
            pending_derived: self
                .pending_derived
                .iter()
                .map(|(name, keys)| (name.to_string(), keys.clone()))
                .collect(),
            parents: digests.encode(),
            parents_forgotten: digests.forgotten(),
            unnamed: (self.unnamed.iter())
                .map(|(name, u)| (name.to_string(), *u))
                .collect(),
            ahead: self.ahead.stored(),
        }
    }
}

/// The records gone unnamed that `ledger` counts, by stream.
fn restored_unnamed(ledger: &Ledger) -> BTreeMap<&'static str, Unnamed> {
    (ledger.unnamed.iter())
        .filter_map(|(name, u)| Some((stream_name(name)?, *u)))
        .collect()
}

/// Adds keys to a list of pending ones, once each.
fn add_pending(pending: &mut Vec<Key>, keys: Vec<Key>) {
    for key in keys {
        if !pending.contains(&key) {
            pending.push(key);
        }
    }
}

#[cfg(test)]
mod tests;
