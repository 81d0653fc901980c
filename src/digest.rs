//! Parents' digests: what a child stream's deletion capture (`crate::read::deletions`)
//! remembers of the children of the parents it read whole most recently, so that a child
//! deleted since is found the next time its parent's children are read whole (a deleted
//! payment moves its invoice, whose payments the next sync lists), without waiting for the
//! sweep's comparison of the parent's part.
//!
//! A digest is the count of a parent's children, the XOR of their ids and the XOR of a check
//! hash of each: one child missing from the next list is named by the XOR of the two digests,
//! and the check tells a single child from a mixture (a child deleted and another one created
//! before the last read, say), which names nothing. Only children created by the time of the
//! last read are compared with it. More than one missing names nothing either: the sweep's
//! comparison finds those. A digest is 32 bytes of the state: the most recently read
//! `MAX_PARENTS` parents are kept.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};

use crate::iblt::{key_hash, Key};

/// Parents whose digest the state keeps: 4.3 kB of its text.
const MAX_PARENTS: usize = 100;

/// The children of one parent, summarised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Digest {
    count: u32,
    ids: u64,
    checks: u32,
}

impl Digest {
    fn add(&mut self, key: Key) {
        self.count = self.count.wrapping_add(1);
        self.ids ^= key.1 as u64;
        self.checks ^= key_hash(key);
    }

    /// The one child of `parent` this digest holds and `now` lacks, if exactly one is missing
    /// and nothing else differs.
    fn missing_one(&self, now: &Digest, parent: i64) -> Option<Key> {
        if self.count != now.count.wrapping_add(1) {
            return None;
        }
        let key = (parent, (self.ids ^ now.ids) as i64);
        (key_hash(key) == self.checks ^ now.checks).then_some(key)
    }
}

/// The children of a parent read whole in this sync, page by page.
#[derive(Debug)]
pub struct WholeRead {
    parent: i64,
    at: DateTime<Utc>,
    children: Vec<(Key, Option<DateTime<Utc>>)>,
}

/// The digests of the parents read whole most recently, with when each was read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Digests {
    by_parent: BTreeMap<i64, (Digest, DateTime<Utc>)>,
    /// The latest time a parent whose digest was forgotten was read whole.
    forgotten: Option<DateTime<Utc>>,
}

impl Digests {
    /// Starts the whole read of `parent`'s children at the server's time `at`.
    pub fn begin(parent: i64, at: DateTime<Utc>) -> WholeRead {
        WholeRead {
            parent,
            at,
            children: Vec::new(),
        }
    }

    /// The child of `read`'s parent that its last digest holds and `read` lacks (see
    /// `Digest::missing_one`), and the parent's new digest.
    pub fn compare(&self, read: &WholeRead) -> (Option<Key>, Digest) {
        let mut all = Digest::default();
        let mut by_then = Digest::default();
        let last = self.by_parent.get(&read.parent);
        for (key, created) in &read.children {
            all.add(*key);
            if last.is_some_and(|(_, at)| created.is_none_or(|c| c <= *at)) {
                by_then.add(*key);
            }
        }
        let missing = last
            .and_then(|(digest, _)| digest.missing_one(&by_then, read.parent))
            .filter(|key| read.children.iter().all(|(k, _)| k != key));
        (missing, all)
    }

    /// Keeps `digest` as `parent`'s, read at `at`, forgetting the least recently read beyond
    /// `MAX_PARENTS`.
    pub fn keep(&mut self, parent: i64, digest: Digest, at: DateTime<Utc>) {
        self.by_parent.insert(parent, (digest, at));
        while self.by_parent.len() > MAX_PARENTS {
            let oldest = self
                .by_parent
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(parent, _)| *parent);
            if let Some(parent) = oldest {
                self.forget(parent);
            }
        }
    }

    fn forget(&mut self, parent: i64) {
        if let Some((_, at)) = self.by_parent.remove(&parent) {
            self.forgotten = self.forgotten.max(Some(at));
        }
    }

    /// The one child the digest of `parent` holds, if it holds one: all a parent Harvest
    /// deleted had when last read whole, for the digest was of that read.
    pub fn only_child(&self, parent: i64) -> Option<Key> {
        let (digest, _) = self.by_parent.get(&parent)?;
        digest.missing_one(&Digest::default(), parent)
    }

    /// The parents with a digest that `listed` (ascending) lacks: deleted since their last
    /// whole read, most likely.
    pub fn unlisted(&self, listed: &[i64]) -> Vec<i64> {
        (self.by_parent.keys())
            .filter(|parent| listed.binary_search(parent).is_err())
            .copied()
            .collect()
    }

    /// Drops the digest of a parent Harvest deleted (it answered 404). Unlike a digest
    /// forgotten, its time bounds no later read: the parent is never read again.
    pub fn drop_deleted(&mut self, parent: i64) {
        self.by_parent.remove(&parent);
    }

    /// Forgets every digest (they were made as another user).
    pub fn clear(&mut self) {
        let parents: Vec<i64> = self.by_parent.keys().copied().collect();
        for parent in parents {
            self.forget(parent);
        }
    }

    /// When `parent`'s children were last read whole, if its digest is kept.
    pub fn read_at(&self, parent: i64) -> Option<DateTime<Utc>> {
        self.by_parent.get(&parent).map(|(_, at)| *at)
    }

    /// The latest time a parent whose digest was forgotten was read whole, for the state.
    pub fn forgotten(&self) -> Option<DateTime<Utc>> {
        self.forgotten
    }

    /// The digests, having forgotten parents read whole by `forgotten` (from the state).
    pub fn forgetting(mut self, forgotten: Option<DateTime<Utc>>) -> Digests {
        self.forgotten = self.forgotten.max(forgotten);
        self
    }

    /// The digests as text for the state (base64 of 32 bytes each); empty without any.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(self.by_parent.len() * 32);
        for (parent, (digest, at)) in &self.by_parent {
            bytes.extend_from_slice(&parent.to_le_bytes());
            bytes.extend_from_slice(&digest.count.to_le_bytes());
            bytes.extend_from_slice(&digest.ids.to_le_bytes());
            bytes.extend_from_slice(&digest.checks.to_le_bytes());
            bytes.extend_from_slice(&at.timestamp().to_le_bytes());
        }
        STANDARD_NO_PAD.encode(bytes)
    }

    /// Digests from [`Digests::encode`]'s text, or why the text is not that.
    pub fn decode(text: &str) -> Result<Digests, String> {
        let bytes = STANDARD_NO_PAD
            .decode(text)
            .map_err(|e| format!("not base64 ({e})"))?;
        if bytes.len() % 32 != 0 {
            return Err(format!("{} bytes is not a list of digests", bytes.len()));
        }
        let mut digests = Digests::default();
        for entry in bytes.chunks_exact(32) {
            let u64_at = |i: usize| u64::from_le_bytes(entry[i..i + 8].try_into().expect("8"));
            let u32_at = |i: usize| u32::from_le_bytes(entry[i..i + 4].try_into().expect("4"));
            let at = DateTime::from_timestamp(u64_at(24) as i64, 0)
                .ok_or_else(|| "a digest's time is out of range".to_string())?;
            let digest = Digest {
                count: u32_at(8),
                ids: u64_at(12),
                checks: u32_at(20),
            };
            digests.by_parent.insert(u64_at(0) as i64, (digest, at));
        }
        Ok(digests)
    }
}

impl WholeRead {
    /// Counts the children of one page.
    pub fn add(&mut self, key: Key, created: Option<DateTime<Utc>>) {
        self.children.push((key, created));
    }

    pub fn parent(&self) -> i64 {
        self.parent
    }

    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_instant;

    fn t(hour: u32) -> DateTime<Utc> {
        parse_instant(&format!("2026-01-01T{hour:02}:00:00Z")).unwrap()
    }

    fn read(parent: i64, at: DateTime<Utc>, children: &[(i64, u32)]) -> WholeRead {
        let mut read = Digests::begin(parent, at);
        for (id, created) in children {
            read.add((parent, *id), Some(t(*created)));
        }
        read
    }

    fn after(children: &[(i64, u32)]) -> Digests {
        let mut digests = Digests::default();
        let (_, digest) = digests.compare(&read(7, t(5), children));
        digests.keep(7, digest, t(5));
        digests
    }

    #[test]
    fn one_child_missing_from_the_next_whole_read_is_named() {
        let digests = after(&[(1, 0), (2, 0), (3, 1)]);
        let (missing, _) = digests.compare(&read(7, t(8), &[(1, 0), (3, 1)]));
        assert_eq!(missing, Some((7, 2)));
    }

    #[test]
    fn children_created_since_the_last_read_do_not_hide_a_missing_one() {
        let digests = after(&[(1, 0), (2, 0)]);
        let (missing, _) = digests.compare(&read(7, t(8), &[(1, 0), (9, 6), (10, 7)]));
        assert_eq!(missing, Some((7, 2)));
    }

    #[test]
    fn nothing_is_named_when_nothing_or_more_than_one_is_missing_or_the_sets_mix() {
        let digests = after(&[(1, 0), (2, 0), (3, 0)]);
        let same = read(7, t(8), &[(1, 0), (2, 0), (3, 0)]);
        assert_eq!(digests.compare(&same).0, None);
        let two_gone = read(7, t(8), &[(1, 0)]);
        assert_eq!(digests.compare(&two_gone).0, None);
        // 2 and 3 gone, 4 (created before the last read, yet not in it) there: one fewer, but
        // no single child explains it.
        let mixed = read(7, t(8), &[(1, 0), (4, 2)]);
        assert_eq!(digests.compare(&mixed).0, None);
        // A parent never read whole before names nothing.
        assert_eq!(digests.compare(&read(8, t(8), &[])).0, None);
    }

    #[test]
    fn a_deleted_parent_s_digest_names_its_child_only_if_it_had_one() {
        let mut digests = after(&[(1, 0)]);
        let (_, two) = digests.compare(&read(8, t(5), &[(1, 0), (2, 0)]));
        digests.keep(8, two, t(5));
        digests.keep(9, Digest::default(), t(5));
        assert_eq!(digests.only_child(7), Some((7, 1)));
        assert_eq!(
            digests.only_child(8),
            None,
            "two children: XOR names neither"
        );
        assert_eq!(digests.only_child(9), None, "no child");
        assert_eq!(digests.only_child(10), None, "no digest");
        assert_eq!(digests.unlisted(&[1, 8, 12]), [7, 9]);
        digests.drop_deleted(7);
        assert_eq!(digests.read_at(7), None);
        assert_eq!(digests.forgotten(), None, "a deleted parent bounds no read");
    }

    #[test]
    fn the_least_recently_read_parents_are_forgotten_beyond_the_cap() {
        let mut digests = Digests::default();
        for parent in 0..(MAX_PARENTS as i64 + 5) {
            let at = t(0) + chrono::Duration::seconds(parent);
            digests.keep(parent, Digest::default(), at);
        }
        assert_eq!(digests.by_parent.len(), MAX_PARENTS);
        assert!(!digests.by_parent.contains_key(&4));
        assert!(digests.by_parent.contains_key(&5));
    }

    #[test]
    fn a_forgotten_digest_leaves_the_latest_time_a_parent_without_one_was_read_by() {
        let mut digests = Digests::default();
        digests.keep(1, Digest::default(), t(1));
        assert_eq!(digests.read_at(1), Some(t(1)));
        assert_eq!(digests.read_at(2), None);
        assert_eq!(digests.forgotten(), None, "nothing forgotten");
        for parent in 10..(10 + MAX_PARENTS as i64) {
            digests.keep(parent, Digest::default(), t(2));
        }
        assert_eq!(digests.read_at(1), None, "forgotten, the oldest");
        assert_eq!(digests.forgotten(), Some(t(1)));
        assert_eq!(digests.read_at(10), Some(t(2)));
        digests.clear();
        assert_eq!(digests.read_at(10), None);
        assert_eq!(digests.forgotten(), Some(t(2)));
        let restored = Digests::decode(&digests.encode())
            .unwrap()
            .forgetting(digests.forgotten());
        assert_eq!(restored.forgotten(), Some(t(2)));
    }

    #[test]
    fn the_text_form_round_trips_and_bad_text_is_refused() {
        let digests = after(&[(1, 0), (-5, 0), (5_000_000_000, 3)]);
        assert_eq!(Digests::decode(&digests.encode()).unwrap(), digests);
        assert_eq!(Digests::decode("").unwrap(), Digests::default());
        assert!(Digests::decode("%%").is_err());
        assert!(Digests::decode("AAAA").is_err());
    }
}
