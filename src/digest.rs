//! Parents' digests: what a child stream's deletion capture (`crate::read::deletions`)
//! remembers of the children of the parents it read whole most recently, so that a child
//! deleted since is found the next time its parent's children are read whole (a deleted
//! payment moves its invoice, whose payments the next sync lists), without waiting for the
//! sweep's comparison of the parent's part.
//!
//! A digest is the count of a parent's children, the sum of their ids and the sum of their
//! squares (modulo the prime 2^61 − 1), and the XOR of a check hash of each. Up to two
//! children missing from the next list are named by the two digests' differences: one by
//! the difference of the sums (whose square the squares' must be), two as the roots of the
//! quadratic both differences give (a payment recorded twice and both copies deleted, an
//! invoice deleted with its two messages). The check tells those children from a mixture (a
//! child deleted and another one created before the last read, say), which names nothing.
//! Only children created by the time of the last read are compared with it. More than two
//! missing names nothing either: the sweep's comparison finds those. A digest is 40 bytes of
//! the state: the most recently read `MAX_PARENTS` parents are kept.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};

use crate::iblt::{key_hash, Key};

/// Parents whose digest the state keeps: 5.3 kB of its text.
const MAX_PARENTS: usize = 100;

/// The prime the sums are taken modulo: Harvest's ids are far below it, so one missing id
/// is its sum's difference itself, and `(P + 1) / 4` gives square roots (`P % 4 == 3`).
const P: u64 = (1 << 61) - 1;

/// The first byte of the digests' bytes in the state. A state written before the sums of
/// squares holds 32 bytes a digest, with no such byte: its length is even, this form's odd,
/// which is what tells them apart.
const FORM: u8 = 2;

/// The bytes of one digest in the state: parent, count, sum, squares, check, time.
const DIGEST_BYTES: usize = 8 + 4 + 8 + 8 + 4 + 8;

/// The bytes of one digest in a state written before the sums of squares (XOR of ids).
const OLD_DIGEST_BYTES: usize = 32;

/// The children of one parent, summarised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Digest {
    count: u32,
    sum: u64,
    squares: u64,
    checks: u32,
}

impl Digest {
    fn add(&mut self, key: Key) {
        let id = residue(key.1);
        self.count = self.count.wrapping_add(1);
        self.sum = add(self.sum, id);
        self.squares = add(self.squares, mul(id, id));
        self.checks ^= key_hash(key);
    }

    /// The children of `parent` this digest holds and `now` lacks, if one or two are missing
    /// and nothing else differs; else none.
    fn missing(&self, now: &Digest, parent: i64) -> Vec<Key> {
        let sum = sub(self.sum, now.sum);
        let squares = sub(self.squares, now.squares);
        let ids = match self.count.wrapping_sub(now.count) {
            1 if squares == mul(sum, sum) => vec![sum],
            2 => {
                // a + b = sum and a² + b² = squares, so (a − b)² = 2·squares − sum².
                match sqrt(sub(mul(2, squares), mul(sum, sum))) {
                    Some(root) if root != 0 => {
                        vec![half(add(sum, root)), half(sub(sum, root))]
                    }
                    _ => return Vec::new(),
                }
            }
            _ => return Vec::new(),
        };
        let mut keys: Vec<Key> = ids.into_iter().map(|id| (parent, id as i64)).collect();
        keys.sort_unstable();
        let checks = keys.iter().fold(0, |checks, key| checks ^ key_hash(*key));
        if checks == self.checks ^ now.checks {
            keys
        } else {
            Vec::new()
        }
    }
}

/// `id` modulo `P` (a negative id, which Harvest never serves, is never named).
fn residue(id: i64) -> u64 {
    (id as i128).rem_euclid(P as i128) as u64
}

fn add(a: u64, b: u64) -> u64 {
    (a + b) % P
}

fn sub(a: u64, b: u64) -> u64 {
    (a + P - b) % P
}

fn mul(a: u64, b: u64) -> u64 {
    (a as u128 * b as u128 % P as u128) as u64
}

fn half(a: u64) -> u64 {
    mul(a, P.div_ceil(2))
}

/// A square root of `a` modulo `P`, if `a` has one.
fn sqrt(a: u64) -> Option<u64> {
    let (mut root, mut base, mut exp) = (1, a, (P + 1) / 4);
    while exp > 0 {
        if exp & 1 == 1 {
            root = mul(root, base);
        }
        base = mul(base, base);
        exp >>= 1;
    }
    (mul(root, root) == a).then_some(root)
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

    /// The children of `read`'s parent that its last digest holds and `read` lacks (see
    /// `Digest::missing`), and the parent's new digest.
    pub fn compare(&self, read: &WholeRead) -> (Vec<Key>, Digest) {
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
            .map(|(digest, _)| digest.missing(&by_then, read.parent))
            .unwrap_or_default();
        if missing
            .iter()
            .any(|key| read.children.iter().any(|(k, _)| k == key))
        {
            return (Vec::new(), all);
        }
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

    /// The children the digest of `parent` holds, if it holds one or two: all a parent
    /// Harvest deleted had when last read whole, for the digest was of that read.
    pub fn children(&self, parent: i64) -> Vec<Key> {
        (self.by_parent.get(&parent))
            .map(|(digest, _)| digest.missing(&Digest::default(), parent))
            .unwrap_or_default()
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

    /// The digests as text for the state (base64 of `FORM`, then `DIGEST_BYTES` each);
    /// empty without any.
    pub fn encode(&self) -> String {
        if self.by_parent.is_empty() {
            return String::new();
        }
        let mut bytes = Vec::with_capacity(1 + self.by_parent.len() * DIGEST_BYTES);
        bytes.push(FORM);
        for (parent, (digest, at)) in &self.by_parent {
            bytes.extend_from_slice(&parent.to_le_bytes());
            bytes.extend_from_slice(&digest.count.to_le_bytes());
            bytes.extend_from_slice(&digest.sum.to_le_bytes());
            bytes.extend_from_slice(&digest.squares.to_le_bytes());
            bytes.extend_from_slice(&digest.checks.to_le_bytes());
            bytes.extend_from_slice(&at.timestamp().to_le_bytes());
        }
        STANDARD_NO_PAD.encode(bytes)
    }

    /// Digests from [`Digests::encode`]'s text, or why the text is not that. The digests of
    /// a state written before the sums of squares cannot be compared with this form's: they
    /// are forgotten, which keeps when their parents were read, as the cap does.
    pub fn decode(text: &str) -> Result<Digests, String> {
        let bytes = STANDARD_NO_PAD
            .decode(text)
            .map_err(|e| format!("not base64 ({e})"))?;
        let u64_at = |entry: &[u8], i: usize| {
            u64::from_le_bytes(entry[i..i + 8].try_into().expect("8 bytes"))
        };
        let u32_at = |entry: &[u8], i: usize| {
            u32::from_le_bytes(entry[i..i + 4].try_into().expect("4 bytes"))
        };
        let time_at = |entry: &[u8], i: usize| {
            DateTime::from_timestamp(u64_at(entry, i) as i64, 0)
                .ok_or_else(|| "a digest's time is out of range".to_string())
        };
        let mut digests = Digests::default();
        match bytes.split_first() {
            None => {}
            Some((&FORM, rest)) if rest.len() % DIGEST_BYTES == 0 => {
                for entry in rest.chunks_exact(DIGEST_BYTES) {
                    let digest = Digest {
                        count: u32_at(entry, 8),
                        sum: u64_at(entry, 12),
                        squares: u64_at(entry, 20),
                        checks: u32_at(entry, 28),
                    };
                    if digest.sum >= P || digest.squares >= P {
                        return Err("a digest's sums are out of range".into());
                    }
                    let at = time_at(entry, 32)?;
                    digests
                        .by_parent
                        .insert(u64_at(entry, 0) as i64, (digest, at));
                }
            }
            Some(_) if bytes.len() % OLD_DIGEST_BYTES == 0 => {
                for entry in bytes.chunks_exact(OLD_DIGEST_BYTES) {
                    digests.forgotten = digests.forgotten.max(Some(time_at(entry, 24)?));
                }
            }
            Some(_) => return Err(format!("{} bytes is not a list of digests", bytes.len())),
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
        assert_eq!(missing, [(7, 2)]);
    }

    #[test]
    fn children_created_since_the_last_read_do_not_hide_a_missing_one() {
        let digests = after(&[(1, 0), (2, 0)]);
        let (missing, _) = digests.compare(&read(7, t(8), &[(1, 0), (9, 6), (10, 7)]));
        assert_eq!(missing, [(7, 2)]);
    }

    #[test]
    fn two_children_missing_from_the_next_whole_read_are_named() {
        let digests = after(&[(1, 0), (27_835_226, 0), (27_835_227, 1), (4, 1)]);
        let (missing, _) = digests.compare(&read(7, t(8), &[(1, 0), (4, 1), (9, 6)]));
        assert_eq!(missing, [(7, 27_835_226), (7, 27_835_227)]);
    }

    proptest::proptest! {
        /// Whatever the children (Harvest's ids up to 10 digits), one or two of them missing
        /// from the next read are named exactly; with one more missing and another child
        /// there instead (created before the read, yet not in it), nothing is.
        #[test]
        fn one_or_two_missing_of_any_children_are_named_exactly(
            ids in proptest::collection::btree_set(1..10_000_000_000_i64, 3..40),
            gone in 1..=2_usize,
            other in 10_000_000_000..20_000_000_000_i64,
        ) {
            let children: Vec<(i64, u32)> = ids.iter().map(|id| (*id, 0)).collect();
            let digests = after(&children);
            let (missing, kept) = children.split_at(gone);
            let (named, _) = digests.compare(&read(7, t(8), kept));
            let expected: Vec<Key> = missing.iter().map(|(id, _)| (7, *id)).collect();
            proptest::prop_assert_eq!(named, expected);
            let mixed = [&kept[1..], &[(other, 1)]].concat();
            let (named, _) = digests.compare(&read(7, t(8), &mixed));
            proptest::prop_assert_eq!(named, Vec::<Key>::new());
        }
    }

    #[test]
    fn nothing_is_named_when_nothing_or_more_than_two_are_missing_or_the_sets_mix() {
        let digests = after(&[(1, 0), (2, 0), (3, 0), (5, 0)]);
        let same = read(7, t(8), &[(1, 0), (2, 0), (3, 0), (5, 0)]);
        assert_eq!(digests.compare(&same).0, []);
        let three_gone = read(7, t(8), &[(1, 0)]);
        assert_eq!(digests.compare(&three_gone).0, []);
        // 2, 3 and 5 gone, 4 (created before the last read, yet not in it) there: two
        // fewer, but no two children explain it, nor does one for 2 and 5 gone, 4 there.
        let mixed = read(7, t(8), &[(1, 0), (4, 2)]);
        assert_eq!(digests.compare(&mixed).0, []);
        let mixed = read(7, t(8), &[(1, 0), (3, 0), (4, 2)]);
        assert_eq!(digests.compare(&mixed).0, []);
        // Two gone whose sums have no square root for their difference (−1 has none modulo
        // P), or the same id twice.
        let no_root = Digest {
            count: 2,
            sum: 0,
            squares: (P - 1) / 2,
            checks: 0,
        };
        assert_eq!(sqrt(P - 1), None);
        assert_eq!(no_root.missing(&Digest::default(), 7), []);
        let mut odd = Digest::default();
        odd.add((7, 1));
        odd.add((7, 1));
        assert_eq!(odd.missing(&Digest::default(), 7), []);
        // A parent never read whole before names nothing.
        assert_eq!(digests.compare(&read(8, t(8), &[])).0, []);
    }

    #[test]
    fn a_deleted_parent_s_digest_names_its_children_only_if_it_had_one_or_two() {
        let mut digests = after(&[(1, 0)]);
        let (_, two) = digests.compare(&read(8, t(5), &[(1, 0), (2, 0)]));
        digests.keep(8, two, t(5));
        digests.keep(9, Digest::default(), t(5));
        let (_, three) = digests.compare(&read(10, t(5), &[(1, 0), (2, 0), (3, 0)]));
        digests.keep(10, three, t(5));
        assert_eq!(digests.children(7), [(7, 1)]);
        assert_eq!(digests.children(8), [(8, 1), (8, 2)]);
        assert_eq!(digests.children(9), [], "no child");
        assert_eq!(digests.children(10), [], "three children");
        assert_eq!(digests.children(11), [], "no digest");
        assert_eq!(digests.unlisted(&[1, 8, 12]), [7, 9, 10]);
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
        let mut bytes = vec![FORM];
        bytes.extend_from_slice(&[0; 12]);
        bytes.extend_from_slice(&P.to_le_bytes());
        bytes.extend_from_slice(&[0; 20]);
        let out_of_range = STANDARD_NO_PAD.encode(bytes);
        assert_eq!(
            Digests::decode(&out_of_range),
            Err("a digest's sums are out of range".into())
        );
    }

    #[test]
    fn digests_of_a_state_from_before_the_sums_of_squares_are_forgotten_as_of_their_reads() {
        let mut old = Vec::new();
        // The first parent's first byte is the form's, which the length tells apart.
        for (parent, at) in [(258_i64, t(3)), (9, t(5))] {
            old.extend_from_slice(&parent.to_le_bytes());
            old.extend_from_slice(&[0; 16]);
            old.extend_from_slice(&at.timestamp().to_le_bytes());
        }
        let digests = Digests::decode(&STANDARD_NO_PAD.encode(old)).unwrap();
        assert_eq!(digests.read_at(258), None);
        assert_eq!(digests.forgotten(), Some(t(5)));
        assert_eq!(
            digests.encode(),
            "",
            "nothing of the old form is written back"
        );
    }
}
