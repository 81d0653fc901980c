//! An invertible Bloom lookup table (Goodrich and Mitzenmacher 2011; used for set
//! reconciliation by Eppstein, Goodrich, Uyeda and Varghese 2011): a fixed number of cells
//! that sums a set of keys, so that the difference of two tables lists the keys in one set and
//! not the other, whatever the sets' sizes, as long as the differences are few enough.
//!
//! Each key goes into one cell of each of four equal parts of the table; a cell holds the
//! number of keys added minus those removed, and the XOR of their keys and of a check hash of
//! each. Subtracting the table of one listing from the table of another leaves only the keys
//! that differ; a cell holding exactly one of them is found by its check hash and peeled off,
//! which frees others, until the table is empty (decoded) or no cell is pure (too many
//! differences for the table's size).
//!
//! The hashes are part of the state format: changing them would make every stored table
//! unreadable, so they are fixed here (splitmix64 with fixed seeds).

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;

use crate::varint;

/// A key: a record's id and, for rows keyed by two ids, the second (else 0).
pub type Key = (i64, i64);

/// The bytes of one cell: count (i32), key (two i64), check (u32), little-endian.
const CELL_BYTES: usize = 4 + 16 + 4;

/// What begins the text of a table written packed (not a base64 character): the cell count,
/// then each cell that holds something as the number of empty cells before it, its count
/// (zigzag), its two keys (varints: ids are far below 2^64, and a cell's XOR of ids is no
/// larger than its largest id) and its check (4 bytes). A full cell of ids below 2^32 takes
/// at most 16 bytes instead of 24, an empty one nothing.
const PACKED: char = '^';

/// What began the text of a table written sparse before [`PACKED`]: the cell count (u32),
/// then each cell that holds something as its index (u16) and its bytes. States written then
/// are still read.
const SPARSE: char = '~';

/// The most cells a table written packed or sparse may have (the largest the state holds has
/// 160): a few characters could otherwise ask for a table of any size.
const MAX_INDEXED_CELLS: usize = 4096;

/// The parts a table is split into: each key has one cell in each.
const PARTS: usize = 4;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Cell {
    count: i32,
    key: (u64, u64),
    check: u32,
}

impl Cell {
    fn is_empty(&self) -> bool {
        *self == Cell::default()
    }

    fn write(&self, bytes: &mut Vec<u8>) {
        bytes.extend_from_slice(&self.count.to_le_bytes());
        bytes.extend_from_slice(&self.key.0.to_le_bytes());
        bytes.extend_from_slice(&self.key.1.to_le_bytes());
        bytes.extend_from_slice(&self.check.to_le_bytes());
    }

    /// A cell from [`CELL_BYTES`] bytes written by [`Cell::write`].
    fn read(c: &[u8]) -> Cell {
        let int = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
        Cell {
            count: i32::from_le_bytes(c[0..4].try_into().expect("4 bytes")),
            key: (int(&c[4..12]), int(&c[12..20])),
            check: u32::from_le_bytes(c[20..24].try_into().expect("4 bytes")),
        }
    }

    fn toggle(&mut self, key: (u64, u64), check: u32, sign: i32) {
        self.count = self.count.wrapping_add(sign);
        self.key.0 ^= key.0;
        self.key.1 ^= key.1;
        self.check ^= check;
    }
}

/// A table of a set of keys; see the module's documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    cells: Vec<Cell>,
}

/// What a difference of two tables holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Difference {
    /// Keys of the first table that the second lacks.
    pub only_first: Vec<Key>,
    /// Keys of the second table that the first lacks.
    pub only_second: Vec<Key>,
    /// Keys of the first table left unnamed when the table does not decode: how many more it
    /// holds of the first table's than of the second's (every key counts once in each of its
    /// slots); 0 when it decodes.
    pub unnamed: usize,
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn hash(key: (u64, u64), seed: u64) -> u64 {
    splitmix64(splitmix64(key.0 ^ seed) ^ key.1.rotate_left(17))
}

fn raw(key: Key) -> (u64, u64) {
    (key.0 as u64, key.1 as u64)
}

/// A 32-bit hash of a key, fixed like the tables' (the state keeps what is made of it:
/// samples of positions, parents' digests).
pub fn key_hash(key: Key) -> u32 {
    (hash(raw(key), 0x5A3F) >> 32) as u32
}

impl Table {
    /// An empty table of at least `cells` cells (rounded up to a multiple of the parts).
    pub fn new(cells: usize) -> Table {
        let cells = cells.max(PARTS).div_ceil(PARTS) * PARTS;
        Table {
            cells: vec![Cell::default(); cells],
        }
    }

    /// How many cells it has (tables of one size alone are compared).
    pub fn cells(&self) -> usize {
        self.cells.len()
    }

    fn slots(&self, key: (u64, u64)) -> [usize; PARTS] {
        let part = self.cells.len() / PARTS;
        std::array::from_fn(|i| i * part + (hash(key, i as u64 + 1) % part as u64) as usize)
    }

    fn check(key: (u64, u64)) -> u32 {
        hash(key, 0xC4EC) as u32
    }

    fn toggle(&mut self, key: (u64, u64), sign: i32) {
        let check = Table::check(key);
        for slot in self.slots(key) {
            self.cells[slot].toggle(key, check, sign);
        }
    }

    /// Adds a key.
    pub fn insert(&mut self, key: Key) {
        self.toggle(raw(key), 1);
    }

    /// Removes a key (which makes it count as a key of the other side of a difference).
    pub fn remove(&mut self, key: Key) {
        self.toggle(raw(key), -1);
    }

    /// The table the same keys make with `cells` cells: each cell added to the one its slot
    /// falls in at that size (a slot is a hash modulo the part's size, so a part whose size
    /// divides this one's folds exactly). `None` when it does not divide it.
    pub fn fold(&self, cells: usize) -> Option<Table> {
        let (from, to) = (self.cells.len() / PARTS, cells / PARTS);
        if !cells.is_multiple_of(PARTS) || to == 0 || !from.is_multiple_of(to) {
            return None;
        }
        let mut out = Table::new(cells);
        for (i, cell) in self.cells.iter().enumerate() {
            let into = &mut out.cells[i / from * to + i % from % to];
            into.count = into.count.wrapping_add(cell.count);
            into.key = (into.key.0 ^ cell.key.0, into.key.1 ^ cell.key.1);
            into.check ^= cell.check;
        }
        Some(out)
    }

    /// This table minus `other`, cell by cell; `None` when their sizes differ.
    pub fn minus(&self, other: &Table) -> Option<Table> {
        self.cell_by_cell(other, i32::wrapping_sub)
    }

    /// This table plus `other`, cell by cell (undoes [`Table::minus`]); `None` when their
    /// sizes differ.
    pub fn plus(&self, other: &Table) -> Option<Table> {
        self.cell_by_cell(other, i32::wrapping_add)
    }

    /// The cells of this table and `other` combined: counts by `count`, keys and checks by XOR
    /// (their own inverse, so adding and taking away are the same).
    fn cell_by_cell(&self, other: &Table, count: fn(i32, i32) -> i32) -> Option<Table> {
        (self.cells.len() == other.cells.len()).then(|| Table {
            cells: self
                .cells
                .iter()
                .zip(&other.cells)
                .map(|(a, b)| Cell {
                    count: count(a.count, b.count),
                    key: (a.key.0 ^ b.key.0, a.key.1 ^ b.key.1),
                    check: a.check ^ b.check,
                })
                .collect(),
        })
    }

    /// The keys a difference table holds (see [`Table::minus`]): positive counts are the first
    /// table's, negative the second's. `Err` with the keys found so far when the differences
    /// are too many for the table's size.
    pub fn decode(mut self) -> Result<Difference, Difference> {
        let mut found = Difference::default();
        let mut queue: Vec<usize> = (0..self.cells.len()).collect();
        while let Some(i) = queue.pop() {
            let cell = self.cells[i];
            if !matches!(cell.count, 1 | -1) || Table::check(cell.key) != cell.check {
                continue;
            }
            let key = (cell.key.0 as i64, cell.key.1 as i64);
            if cell.count == 1 {
                found.only_first.push(key);
            } else {
                found.only_second.push(key);
            }
            let slots = self.slots(cell.key);
            self.toggle(cell.key, -cell.count);
            queue.extend(slots);
        }
        found.only_first.sort_unstable();
        found.only_second.sort_unstable();
        if self.cells.iter().all(Cell::is_empty) {
            Ok(found)
        } else {
            let net: i64 = self.cells.iter().map(|c| i64::from(c.count)).sum();
            found.unnamed = usize::try_from(net / PARTS as i64).unwrap_or(0);
            Err(found)
        }
    }

    /// The table as text for the state: `^` (packed) and base64 of its cells that hold
    /// something, or base64 of all its cells when that is shorter (a large table, or keys far
    /// beyond Harvest's ids).
    pub fn encode(&self) -> String {
        if self.cells.len() <= MAX_INDEXED_CELLS {
            let mut bytes = Vec::new();
            varint::put(&mut bytes, self.cells.len() as u64);
            let mut empty_before = 0;
            for cell in &self.cells {
                if cell.is_empty() {
                    empty_before += 1;
                    continue;
                }
                varint::put(&mut bytes, empty_before);
                empty_before = 0;
                varint::put(&mut bytes, varint::zigzag(i64::from(cell.count)));
                varint::put(&mut bytes, cell.key.0);
                varint::put(&mut bytes, cell.key.1);
                bytes.extend_from_slice(&cell.check.to_le_bytes());
            }
            if bytes.len() < self.cells.len() * CELL_BYTES {
                return format!("{PACKED}{}", STANDARD_NO_PAD.encode(bytes));
            }
        }
        let mut bytes = Vec::with_capacity(self.cells.len() * CELL_BYTES);
        for cell in &self.cells {
            cell.write(&mut bytes);
        }
        STANDARD_NO_PAD.encode(bytes)
    }

    /// A table from [`Table::encode`]'s text (or the sparse text of earlier versions), or why
    /// the text is not one.
    pub fn decode_text(text: &str) -> Result<Table, String> {
        let (form, text) = match text.chars().next() {
            Some(c @ (PACKED | SPARSE)) => (Some(c), &text[1..]),
            _ => (None, text),
        };
        let bytes = STANDARD_NO_PAD
            .decode(text)
            .map_err(|e| format!("not base64 ({e})"))?;
        match form {
            Some(PACKED) => Table::read_packed(&bytes),
            Some(_) => Table::read_sparse(&bytes),
            None => {
                if bytes.is_empty() || bytes.len() % (CELL_BYTES * PARTS) != 0 {
                    return Err(format!("{} bytes is not a whole table", bytes.len()));
                }
                let cells = bytes.chunks_exact(CELL_BYTES).map(Cell::read).collect();
                Ok(Table { cells })
            }
        }
    }

    /// An empty table of `cells` cells read from a packed or sparse text's count.
    fn indexed(cells: u64, form: &str) -> Result<Table, String> {
        match usize::try_from(cells) {
            Ok(n) if n != 0 && n % PARTS == 0 && n <= MAX_INDEXED_CELLS => Ok(Table::new(n)),
            _ => Err(format!(
                "a {form} table of {cells} cells is not a whole table"
            )),
        }
    }

    /// The cell at `index` of a table being read, or why there is none.
    fn cell_at(&mut self, index: usize) -> Result<&mut Cell, String> {
        let cells = self.cells.len();
        self.cells
            .get_mut(index)
            .ok_or_else(|| format!("cell {index} is beyond the table's {cells}"))
    }

    /// A table from [`PACKED`]'s bytes.
    fn read_packed(bytes: &[u8]) -> Result<Table, String> {
        let mut bytes = bytes;
        let mut table = Table::indexed(varint::take(&mut bytes)?, "packed")?;
        let mut index = 0usize;
        while !bytes.is_empty() {
            let skip = usize::try_from(varint::take(&mut bytes)?).unwrap_or(usize::MAX);
            index = index.saturating_add(skip);
            let count = i32::try_from(varint::unzigzag(varint::take(&mut bytes)?))
                .map_err(|_| "a cell's count is out of range".to_string())?;
            let key = (varint::take(&mut bytes)?, varint::take(&mut bytes)?);
            let check = bytes
                .split_first_chunk::<4>()
                .map(|(check, rest)| {
                    bytes = rest;
                    u32::from_le_bytes(*check)
                })
                .ok_or("a cell is cut short")?;
            *table.cell_at(index)? = Cell { count, key, check };
            index += 1;
        }
        Ok(table)
    }

    /// A table from [`SPARSE`]'s bytes.
    fn read_sparse(bytes: &[u8]) -> Result<Table, String> {
        let count = bytes
            .get(..4)
            .map_or(0, |b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
        let mut table = Table::indexed(u64::from(count), "sparse")?;
        let entries = &bytes[4..];
        if !entries.len().is_multiple_of(2 + CELL_BYTES) {
            return Err(format!("{} bytes are not whole cells", entries.len()));
        }
        for entry in entries.chunks_exact(2 + CELL_BYTES) {
            let index = usize::from(u16::from_le_bytes([entry[0], entry[1]]));
            *table.cell_at(index)? = Cell::read(&entry[2..]);
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(cells: usize, keys: impl IntoIterator<Item = i64>) -> Table {
        let mut t = Table::new(cells);
        keys.into_iter().for_each(|k| t.insert((k, 0)));
        t
    }

    #[test]
    fn the_difference_of_two_large_sets_lists_the_few_keys_that_differ() {
        let before = table(160, 1..=100_000);
        let after = table(
            160,
            (1..=100_000).filter(|k| ![7, 50_000, 99_999].contains(k)),
        );
        let difference = before.minus(&after).unwrap();
        assert_eq!(after.plus(&difference), Some(before.clone()));
        let diff = difference.decode().unwrap();
        assert_eq!(diff.only_first, [(7, 0), (50_000, 0), (99_999, 0)]);
        assert!(diff.only_second.is_empty());
        let reverse = after.minus(&before).unwrap().decode().unwrap();
        assert_eq!(reverse.only_second, [(7, 0), (50_000, 0), (99_999, 0)]);
    }

    #[test]
    fn keys_on_both_sides_are_told_apart_and_pairs_keep_both_ids() {
        let mut a = Table::new(60);
        let mut b = Table::new(60);
        for k in 1..1000 {
            a.insert((k, k * 3));
            b.insert((k, k * 3));
        }
        a.insert((5_000_000_000, 42));
        b.insert((6, -1));
        let diff = a.minus(&b).unwrap().decode().unwrap();
        assert_eq!(diff.only_first, [(5_000_000_000, 42)]);
        assert_eq!(diff.only_second, [(6, -1)]);
    }

    #[test]
    fn a_key_added_twice_and_removed_once_counts_once() {
        let mut a = table(30, [1, 2, 3]);
        a.insert((2, 0));
        a.remove((2, 0));
        assert_eq!(a, table(30, [1, 2, 3]));
    }

    #[test]
    fn too_many_differences_fail_to_decode_and_count_the_keys_left_instead_of_inventing_them() {
        let before = table(30, 1..=1000);
        let after = table(30, 501..=1000);
        let partial = before.minus(&after).unwrap().decode().unwrap_err();
        // Whatever was peeled is real.
        assert!(partial
            .only_first
            .iter()
            .all(|(k, _)| (1..=500).contains(k)));
        assert!(partial.only_second.is_empty());
        // What was not peeled is counted: the 500 keys are named or counted, none twice.
        assert_eq!(partial.only_first.len() + partial.unnamed, 500);
        assert!(partial.unnamed > 400, "{}", partial.unnamed);
    }

    #[test]
    fn a_table_folds_to_the_table_of_a_size_that_divides_its_own() {
        let keys = (0..5_000).map(|k| k * 7 + 3);
        let large = table(640, keys.clone());
        assert_eq!(large.fold(160).unwrap(), table(160, keys.clone()));
        assert_eq!(large.fold(320).unwrap(), table(320, keys.clone()));
        assert_eq!(large.fold(640).unwrap(), large);
        assert!(
            large.fold(480).is_none(),
            "160 per part does not divide into 120"
        );
        assert!(
            table(160, keys).fold(640).is_none(),
            "a table does not unfold"
        );
        // Folded, a large table of one listing compares with a smaller one of the next.
        let gone = table(640, (0..5_000).filter(|k| k % 100 != 0).map(|k| k * 7 + 3));
        let diff = large.fold(160).unwrap().minus(&gone.fold(160).unwrap());
        assert_eq!(diff.unwrap().decode().unwrap().only_first.len(), 50);
    }

    /// Asserts that `differences` keys missing from 20,000 decode from tables of `cells`
    /// cells, in each of 50 trials.
    fn decodes_in_every_trial(cells: usize, differences: i64) {
        for seed in 0..50i64 {
            let gone: Vec<i64> = (0..differences)
                .map(|i| seed * 1_000_003 + i * 7919)
                .collect();
            let before = table(cells, (0..20_000).chain(gone.iter().map(|g| g + 1_000_000)));
            let after = table(cells, 0..20_000);
            let diff = before.minus(&after).unwrap().decode().unwrap();
            assert_eq!(diff.only_first.len() as i64, differences, "seed {seed}");
        }
    }

    #[test]
    fn three_hundred_differences_decode_in_a_table_of_640_cells() {
        decodes_in_every_trial(640, 300);
    }

    #[test]
    fn eighty_differences_decode_in_a_table_of_160_cells() {
        decodes_in_every_trial(160, 80);
    }

    #[test]
    fn the_text_form_round_trips_and_bad_text_is_refused() {
        let t = table(12, [1, 99, -5]);
        assert_eq!(Table::decode_text(&t.encode()).unwrap(), t);
        assert!(Table::decode_text("%%%").is_err());
        assert!(Table::decode_text("AAAA").is_err());
        assert!(t.minus(&Table::new(30)).is_none());
    }

    #[test]
    fn a_table_is_written_packed_and_reads_back_the_same() {
        let few = table(160, [1, 99, -5]);
        let text = few.encode();
        assert!(text.starts_with(PACKED), "{text}");
        assert!(text.len() < 200, "{}", text.len());
        assert_eq!(Table::decode_text(&text).unwrap(), few);
        let empty = Table::new(32);
        assert_eq!(empty.encode(), "^IA");
        assert_eq!(Table::decode_text(&empty.encode()).unwrap(), empty);
        // Every cell full, of ids the size of Harvest's largest: half the dense text.
        let full = table(160, (0..2_000).map(|k| 2_500_000_000 + 7 * k));
        let dense = 160 * CELL_BYTES * 4 / 3;
        let text = full.encode();
        assert!(text.starts_with(PACKED));
        assert!(text.len() * 2 <= dense + 100, "{} of {dense}", text.len());
        assert_eq!(Table::decode_text(&text).unwrap(), full);
        // Keys as wide as 64 bits pack longer than dense: written dense.
        let mut wide = Table::new(32);
        for k in 0..100 {
            wide.insert((splitmix64(k) as i64, splitmix64(k + 1_000) as i64));
        }
        let text = wide.encode();
        assert!(!text.starts_with(PACKED) && !text.starts_with(SPARSE));
        assert_eq!(text.len(), 32 * CELL_BYTES * 4 / 3);
        assert_eq!(Table::decode_text(&text).unwrap(), wide);
    }

    #[test]
    fn bad_packed_text_is_refused() {
        let packed = |bytes: &[u8]| {
            Table::decode_text(&format!("{PACKED}{}", STANDARD_NO_PAD.encode(bytes)))
        };
        let error = |bytes: &[u8]| packed(bytes).unwrap_err();
        // A count that is no table: none, not whole parts, too many.
        assert!(error(&[]).contains("cut short"));
        assert!(error(&[7]).contains("not a whole table"));
        assert!(error(&[0x80, 0x40]).contains("not a whole table"));
        // A cell cut short in its keys or its check, past the end, a count beyond 32 bits, a
        // number of eleven bytes.
        assert!(error(&[8, 0, 2, 5]).contains("cut short"));
        assert!(error(&[8, 0, 2, 5, 0, 1, 2, 3]).contains("cut short"));
        assert!(error(&[8, 8, 2, 5, 0, 1, 2, 3, 4]).contains("beyond"));
        assert!(
            error(&[8, 0, 0x80, 0x80, 0x80, 0x80, 0x10, 5, 0, 1, 2, 3, 4]).contains("out of range")
        );
        let mut long = vec![8, 0, 2];
        long.extend_from_slice(&[0xFF; 10]);
        long.extend_from_slice(&[0, 1, 2, 3, 4]);
        assert!(error(&long).contains("too long"));
        // The same bytes whole: one cell, 5 then 0 as its keys, a count of one.
        let one = packed(&[8, 0, 2, 5, 0, 1, 2, 3, 4]).unwrap();
        assert_eq!(one.cells[0].count, 1);
        assert_eq!(one.cells[0].key, (5, 0));
        assert_eq!(one.cells[0].check, u32::from_le_bytes([1, 2, 3, 4]));
        assert!(one.cells[1..].iter().all(Cell::is_empty));
    }

    /// The sparse text of earlier versions: the cell count, then each cell that holds something
    /// with its index.
    fn sparse(bytes: &[u8]) -> String {
        format!("{SPARSE}{}", STANDARD_NO_PAD.encode(bytes))
    }

    #[test]
    fn a_table_written_sparse_by_an_earlier_version_reads_back_the_same() {
        let few = table(160, [1, 99, -5]);
        let mut bytes = 160u32.to_le_bytes().to_vec();
        for (index, cell) in few.cells.iter().enumerate().filter(|(_, c)| !c.is_empty()) {
            bytes.extend_from_slice(&(index as u16).to_le_bytes());
            cell.write(&mut bytes);
        }
        assert_eq!(Table::decode_text(&sparse(&bytes)).unwrap(), few);
        // As a state of then holds an empty table of 160 cells.
        assert_eq!(Table::decode_text("~oAAAAA").unwrap(), Table::new(160));
        // A count that is no table, cells cut short, an index past the end.
        assert!(Table::decode_text(&sparse(&7u32.to_le_bytes())).is_err());
        assert!(Table::decode_text(&sparse(&65_536u32.to_le_bytes())).is_err());
        assert!(Table::decode_text(&sparse(&[])).is_err());
        let mut cut = 8u32.to_le_bytes().to_vec();
        cut.extend_from_slice(&[0; 10]);
        assert!(Table::decode_text(&sparse(&cut)).is_err());
        let mut past = 8u32.to_le_bytes().to_vec();
        past.extend_from_slice(&8u16.to_le_bytes());
        past.extend_from_slice(&[1; CELL_BYTES]);
        assert!(Table::decode_text(&sparse(&past))
            .unwrap_err()
            .contains("beyond"));
    }
}
