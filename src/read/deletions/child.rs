//! Deletion capture of a child stream: its listing is the children of every parent, in
//! ascending parent id, as the child sweep reads each parent whole once per round
//! (`child_sweep_hours`; with 0, every parent in every sync, each sync a round). Children read
//! for any other reason (the parent moved, related changes touched it) are not counted: a round
//! counts each parent once. Keys are `(parent_id, id)`, so a deleted parent's children are
//! candidates too. A candidate is confirmed by its parent's children, listed again: it is
//! deleted when they no longer hold it, or when the parent answers 404.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::parts::part_of;
use super::{Capture, Count, Counted, Target};
use crate::digest::{Digests, WholeRead};
use crate::harvest::FetchError;
use crate::iblt::Key;
use crate::page::Record;
use crate::read::error::StreamError;
use crate::read::Run;
use crate::state::Ledger;

mod last_read;
mod rounds;

use last_read::{is_unswept, last_read, LastRead};
pub(in crate::read) use rounds::{Rounds, UnderWay};

/// Parents a round keeps the last read of, other than its sweep's (see [`last_read`]):
/// before the sweep gets there (touched, moved) or after. About 7 kB of the state at most
/// (see [`crate::read_times`]); the Large account's invoices had 77 a few syncs into a round.
pub(super) const MAX_READS: usize = 1024;

/// Children of one parent at most that a read failing part-way through them adds to the
/// candidates ([`Capture::sent_unlisted`]).
const MAX_SENT_UNLISTED: usize = 256;

/// Syncs of a round's sweep it keeps the end of (see [`last_read`]): a day of hourly syncs and
/// more.
const MAX_SWEPT_BY: usize = 48;

impl Capture {
    /// Counts a page of the children of `parent`, read whole at the server's time `date`.
    ///
    /// A round holds every child of each parent from the parent's first read since the round
    /// began on: what that read lists (created before it), and each child created since, at
    /// the first read after its creation (see [`last_read`]). The first read is the sweep's,
    /// or one before it (the parent moved, related changes touched it): a child created after
    /// the last round read its parent, and deleted with it before this round's sweep gets
    /// there, is in this round's table. Such an early read counts only what the last round's
    /// read did not list when the parent's digest says when that was, and the sweep the rest,
    /// so that a child deleted in between is missing from this round. A round keeps its reads
    /// of parents other than by its sweep, and when its sweep read them, so a parent whose
    /// digest was forgotten (more parents than digests) still has its first read told apart.
    /// Without the time of the parent's last read, the sweep counts the children created
    /// before the round began. The sweep's read counts into the round under way alone, or,
    /// for a parent that round counted already (the sweep went round), into the next one;
    /// another read, into both.
    pub(in crate::read) fn observe_children(
        &mut self,
        rounds: &Rounds,
        parent: i64,
        records: &[Record<'_>],
        date: Option<DateTime<Utc>>,
        window: Counted,
    ) {
        let at = date.unwrap_or_else(Utc::now);
        // What a read counts is decided at its first page: that page moves the marks the
        // decision reads (the sweep's last parent, the reads kept), and a later page read
        // against the moved marks would count other children than the first did.
        let counts = match &self.counting {
            Some((read, counts)) if *read == parent => counts.clone(),
            _ => {
                let counts = self.counts_of_read(rounds, parent, at, window);
                self.counting = Some((parent, counts.clone()));
                counts
            }
        };
        self.observe_into(records, date, Some(parent), &counts);
        if rounds.swept.contains(&parent) {
            let sweeps = rounds.sweeps_into(parent);
            let now = (self.reading.as_ref())
                .filter(|r| r.parent() == parent)
                .map_or(at, WholeRead::at);
            self.swept_through(sweeps, parent, now);
        }
    }

    /// What the read of `parent` that began at the server's time `at` counts into each
    /// listing, beginning the listing its sweep counts into if none did.
    fn counts_of_read(
        &mut self,
        rounds: &Rounds,
        parent: i64,
        at: DateTime<Utc>,
        window: Counted,
    ) -> Vec<Count> {
        let swept = rounds.swept.contains(&parent);
        if swept && rounds.every_parent {
            // One read of every parent: a round counted by slices would count them twice.
            if self.round.as_ref().is_some_and(|r| !r.whole) {
                self.round = None;
            }
            self.begin(at);
            if let Some(round) = &mut self.round {
                round.whole = true;
            }
            return vec![Count {
                into: Target::Round,
                counted: Counted::All,
                own: true,
            }];
        }
        let sweeps = rounds.sweeps_into(parent);
        let next_round = swept && sweeps == Target::Upcoming;
        let targets: &[Target] = match (swept, next_round) {
            (true, true) => {
                self.begin_round(Target::Upcoming, at);
                &[Target::Upcoming]
            }
            // The next round, begun in this sync, is not counted into: its own sweep counts
            // the parent's children whole when it gets there, so one deleted in between is
            // missing from that round and named when it completes, not a round later. A
            // round that does not keep its reads counts them as before.
            (true, false) => {
                self.begin_round(Target::Round, at);
                if self.upcoming.as_ref().is_some_and(|u| !u.reads_complete) {
                    &[Target::Round, Target::Upcoming]
                } else {
                    &[Target::Round]
                }
            }
            (false, _) => {
                if rounds.begins {
                    self.begin_round(Target::Round, at);
                }
                &[Target::Round, Target::Upcoming]
            }
        };
        (targets.iter())
            .filter_map(|into| self.count_of(*into, parent, swept && *into == sweeps, window))
            .collect()
    }

    /// Begins the round `into` at the server's time `at` unless it began: a new round keeps
    /// every read of a parent other than its sweep's in `reads` until one cannot be kept.
    fn begin_round(&mut self, into: Target, at: DateTime<Utc>) {
        let began = self.listing(into).is_some();
        match into {
            Target::Round => self.begin(at),
            Target::Upcoming => self.begin_upcoming(at),
        }
        if let Some(listing) = self.listing(into).as_mut().filter(|_| !began) {
            listing.reads_complete = true;
        }
    }

    /// What a read of `parent` counts into the listing `into`, `own` if it is that listing's
    /// sweep of it; `None` without that listing. The read counts the children created since
    /// the parent's last read that the listing counted ([`last_read`]): every child it lists
    /// if that came before the listing began; else those created since, up to this read's
    /// start, which no other read counts.
    fn count_of(&mut self, into: Target, parent: i64, own: bool, window: Counted) -> Option<Count> {
        let now = (self.reading.as_ref())
            .filter(|r| r.parent() == parent)
            .map(WholeRead::at);
        let digest = self.digests.read_at(parent);
        let forgotten = self.digests.forgotten();
        let listing = self.listing(into).as_mut()?;
        let last = last_read(listing, parent, digest, forgotten);
        let read_early = listing.reads.contains_key(&parent) && is_unswept(listing, parent);
        let counted = match (last, now) {
            (LastRead::BeforeListing, Some(now)) => Counted::CreatedBefore(now),
            (LastRead::By(from), Some(now)) => Counted::CreatedIn(from, now),
            _ => window,
        };
        if own {
            listing.reads.remove(&parent);
            let since = listing.early_since.remove(&parent);
            let counted = match (counted, since) {
                // A parent read before the sweep got there by a read that counted only what the
                // last round's read had not listed: the sweep counts those that read listed.
                (Counted::CreatedIn(from, to), Some(before)) if read_early => {
                    Counted::SweptSince(before, from, to)
                }
                // Else that read counted what it listed.
                (counted, _) if read_early => counted,
                (counted, _) => counted.swept(),
            };
            return Some(Count { into, counted, own });
        }
        // A first read since the round began counts only what the last round's read of the
        // parent did not list, as far as it knows: those created since that read (its digest
        // says when), or since that round began. The others are left to the sweep, so that
        // one deleted before the sweep gets there is missing from this round, and named when
        // it completes (not a round later).
        let (counted, since) = match (last, digest.or(listing.against), now) {
            (LastRead::BeforeListing, Some(before), Some(now)) => {
                (Counted::CreatedBetween(before, now), Some(before))
            }
            _ => (counted, None),
        };
        // A first read the listing cannot keep counts as reads did before they were kept, so
        // that the sweep does not count what it listed again.
        let kept = match now {
            Some(now) if listing.reads.len() < MAX_READS || listing.reads.contains_key(&parent) => {
                listing.reads.insert(parent, Some(now));
                true
            }
            _ => false,
        };
        if kept {
            if let Some(before) = since {
                listing.early_since.insert(parent, before);
                if into == Target::Round {
                    self.first_reads.insert(parent);
                }
            }
            return Some(Count { into, counted, own });
        }
        listing.reads_complete = false;
        let counted = match (digest.or(forgotten), now) {
            (Some(from), Some(now)) => Counted::CreatedIn(from, now),
            _ => window,
        };
        Some(Count { into, counted, own })
    }

    /// Notes that the sweep of listing `into` read `parent`, whose read began at `at`.
    fn swept_through(&mut self, into: Target, parent: i64, at: DateTime<Utc>) {
        let Some(listing) = self.listing(into) else {
            return;
        };
        listing.through = Some(listing.through.map_or(parent, |t| t.max(parent)));
        let through = listing.through.unwrap_or(parent);
        match listing.swept_by.last_mut() {
            Some(last) if listing.swept_in_run => *last = (through, last.1.max(at)),
            _ => listing.swept_by.push((through, at)),
        }
        listing.swept_in_run = true;
        // Beyond a day of hourly syncs and more, the two entries closest in time merge into
        // the later: a parent of the earlier was swept by then too.
        if listing.swept_by.len() > MAX_SWEPT_BY {
            let closest = (1..listing.swept_by.len())
                .min_by_key(|i| listing.swept_by[*i].1 - listing.swept_by[*i - 1].1)
                .unwrap_or(1);
            listing.swept_by.remove(closest - 1);
        }
    }

    /// Counts a page of the children of `parent`, read whole at the server's time `date`, for
    /// its digest (see [`crate::digest`]).
    pub(in crate::read) fn observe_whole(
        &mut self,
        parent: i64,
        records: &[Record<'_>],
        date: Option<DateTime<Utc>>,
    ) {
        if self.reading.as_ref().is_none_or(|r| r.parent() != parent) {
            let at = date.unwrap_or_else(Utc::now);
            self.reading = Some(Digests::begin(parent, at));
        }
        let Some(read) = &mut self.reading else {
            return;
        };
        for record in records {
            if let Some(id) = record.keys.as_ref().ok().and_then(|k| k.id().ok()) {
                let created = record.keys.as_ref().ok().and_then(|k| k.created_at());
                read.add((parent, id), created);
            }
        }
    }

    /// Adds to `ledger`, the STATE of a read that failed part-way through `parent`'s children
    /// (as of the parent before, since the pages counted cannot be told apart from the next
    /// read's), the children of `parent` it sent that no listing may hold: those `sent` (id,
    /// creation) since the parent's last whole read, or all if none is known, the newest
    /// [`MAX_SENT_UNLISTED`]. The next sync confirms them: one Harvest deletes before it still
    /// gets its tombstone, one it still serves none.
    pub(in crate::read) fn sent_unlisted(
        &self,
        ledger: &mut Ledger,
        parent: i64,
        sent: &[(i64, Option<DateTime<Utc>>)],
    ) {
        let since = self.digests.read_at(parent);
        let mut unlisted: Vec<_> = (sent.iter())
            .filter(|(_, created)| since.zip(*created).is_none_or(|(s, c)| c >= s))
            .collect();
        unlisted.sort_by_key(|(_, created)| std::cmp::Reverse(*created));
        for (id, _) in unlisted.into_iter().take(MAX_SENT_UNLISTED) {
            if !ledger.pending.contains(&(parent, *id)) {
                ledger.pending.push((parent, *id));
            }
        }
    }

    /// Ends the whole read of `parent`'s children: when it `completed`, the children its last
    /// digest says are missing (one or two), if any, are kept with its new digest for
    /// [`Capture::end_children`].
    pub(in crate::read) fn end_whole(&mut self, parent: i64, completed: bool) {
        let Some(read) = self.reading.take().filter(|r| r.parent() == parent) else {
            return;
        };
        if completed {
            let (missing, digest) = self.digests.compare(&read);
            self.read_whole.push((read, missing, digest));
        }
    }

    /// Ends the sync's part of the rounds, once the user was checked: the children missing
    /// from their parent's whole list become candidates and the digests are kept, as do the
    /// children of parents `listed` (ascending) lacks that their digests name, and those the
    /// round under way counted as new; the round completes if it read its last parent, else
    /// the parts of the last round it read past are compared. Returns when the last page of
    /// the completed round was read.
    pub(in crate::read) fn end_children(
        &mut self,
        rounds: &Rounds,
        listed: &[i64],
    ) -> Option<DateTime<Utc>> {
        self.keep_whole_reads(rounds);
        self.unlisted_parents(rounds, listed);
        self.new_children_of_unlisted_parents(rounds, listed);
        if rounds.completes {
            self.complete()
        } else {
            self.compare_parts();
            None
        }
    }
}

impl Capture {
    /// Takes the children the parents read whole in this sync miss as candidates, and keeps
    /// their digests. Digests are compared only as the user of the last comparison (see
    /// [`Capture::check_user`]); those made as another are forgotten.
    fn keep_whole_reads(&mut self, rounds: &Rounds) {
        let trusted = self.known.is_some() && self.comparable;
        if !self.comparable {
            self.digests.clear();
        }
        for (read, missing, digest) in std::mem::take(&mut self.read_whole) {
            if trusted {
                for key in missing {
                    self.missing_child(rounds, key);
                }
            }
            self.digests.keep(read.parent(), digest, read.at());
        }
    }

    /// Takes a parent that left the parent list, its digest kept, as read whole with no
    /// children: the children its digest holds, if one or two, are candidates, confirmed by
    /// the parent's 404 (see [`confirm`]). A deleted invoice's messages get their tombstones
    /// in the next sync, where the sweep's rounds name them only after the round that counted
    /// them: up to two intervals after the deletion when created in the round under way.
    fn unlisted_parents(&mut self, rounds: &Rounds, listed: &[i64]) {
        if self.known.is_none() || !self.comparable {
            return;
        }
        for parent in self.digests.unlisted(listed) {
            for key in self.digests.children(parent) {
                self.missing_child(rounds, key);
            }
        }
    }

    /// Takes the children the round under way counted as new (created since the last round,
    /// which lacks them) whose parent left the parent list as candidates, confirmed by the
    /// parent's 404: a parent deleted with children Harvest created in this round, which the
    /// last round cannot name and this one would hold until the next round compared with it,
    /// up to two intervals after the deletion. The round's keys less those it took from the
    /// last round are those new children, named when that table decodes whole (up to a few
    /// dozen new children a round at 160 cells); else they wait for the next round, as before.
    /// A table that decodes only in part is not trusted: a key taken that its round's table
    /// lacks (see [`Capture::missing_child`]) shifts counts by two, and a key peeled past it
    /// can come out with the wrong sign, a child named already named again.
    fn new_children_of_unlisted_parents(&mut self, rounds: &Rounds, listed: &[i64]) {
        if self.known.is_none() || !self.comparable {
            return;
        }
        let Some(new) = (self.round.as_ref()).and_then(|round| round.seen.minus(&round.taken))
        else {
            return;
        };
        let Ok(found) = new.decode() else {
            return;
        };
        for key in found.only_first {
            if listed.binary_search(&key.0).is_err() {
                self.missing_child(rounds, key);
            }
        }
    }

    /// A child missing from its parent's whole list is a candidate; the round under way is
    /// told, so that neither its comparison with the last round nor the next round's with it
    /// names the child again: a round that counted the parent's children before this sync
    /// no longer counts it, and one that did not takes it as read. A round that read the
    /// parent before its sweep got there, in an earlier sync, may have counted the child then
    /// (one created since the last round's read): it no longer counts it either. Where that
    /// read had not counted it, the removal leaves the round's table one key short of
    /// nothing, which the next round's comparison decodes as a key of its own side and
    /// ignores. A first read of the parent in this sync lacks the child: nothing counted it.
    fn missing_child(&mut self, rounds: &Rounds, key: Key) {
        if self.pending.contains(&key) {
            return;
        }
        self.pending.push(key);
        let Some(round) = &mut self.round else {
            // Between two rounds: the last one, which the next is compared with, no longer
            // counts it.
            if let Some(known) = &mut self.known {
                known.take_out(key, key.0);
            }
            return;
        };
        let parent = key.0;
        let counted = rounds.counted_before(parent);
        if !counted {
            round.taken.insert(key);
            round.parts.take(key, parent);
        }
        let read_early = round.reads.contains_key(&parent) && !self.first_reads.contains(&parent);
        if counted || read_early {
            round.seen.remove(key);
            let part = part_of(&round.parts.bounds, parent);
            if let Some(table) = round.parts.own.tables.get_mut(part) {
                table.remove(key);
            }
        }
    }
}

/// Confirms the candidates by their parents' children, listed again whole: those no longer
/// listed (or whose parent answers 404) are returned (deleted), the others dropped; when a
/// listing fails otherwise, the rest wait for the next sync.
pub(in crate::read) async fn confirm(
    run: &Run,
    capture: &mut Capture,
) -> Result<Vec<Key>, StreamError> {
    let def = capture.def;
    let mut by_parent: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (parent, id) in std::mem::take(&mut capture.pending) {
        by_parent.entry(parent).or_default().push(id);
    }
    if !by_parent.is_empty() {
        tracing::info!(
            "stream {}: children of {} parents are missing from the sweep's round; listing those parents' children again",
            def.name,
            by_parent.len()
        );
    }
    let mut deleted = Vec::new();
    let mut parents = by_parent.into_iter();
    for (parent, candidates) in parents.by_ref() {
        let path = def.path.replace("{id}", &parent.to_string());
        let listed = match super::listed_ids(run, def, run.first_url(&path, Vec::new())).await {
            // A parent gone (404) has no children left, nor a digest to keep.
            Err(StreamError::Fetch(FetchError::NotFound { .. })) => {
                capture.digests.drop_deleted(parent);
                Ok(BTreeSet::new())
            }
            other => other,
        };
        match listed {
            Ok(listed) => deleted.extend(
                candidates
                    .into_iter()
                    .filter(|id| !listed.contains(id))
                    .map(|id| (parent, id)),
            ),
            Err(StreamError::Fetch(e)) => {
                tracing::warn!(
                    "stream {}: could not list the children of {parent} again ({e}); its missing children are checked next sync",
                    def.name
                );
                capture
                    .pending
                    .extend(candidates.into_iter().map(|id| (parent, id)));
                break;
            }
            Err(other) => return Err(other),
        }
    }
    for (parent, candidates) in parents {
        capture
            .pending
            .extend(candidates.into_iter().map(|id| (parent, id)));
    }
    Ok(deleted)
}
