//! What deletion capture keeps in a stream's state (`read::deletions`), and how a state's
//! `deletions` object is checked when it is read.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{says, StateError};

/// What deletion capture keeps between syncs of one stream: a summary of the keys of the last
/// complete listing, and the listing under way. Its size follows the table's cells, not the
/// stream's records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// The start date the listings were made with: listings made with another hold other
    /// records and are never compared.
    pub by: String,
    /// The user (and roles) the token acted as when listings were last compared: listings made
    /// by another user, who may see fewer records, are never compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The last complete listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known: Option<Listing>,
    /// The listing under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<Round>,
    /// The listing that follows it, begun while it still had parents to read (a child sweep
    /// that wrapped round in the middle of a sync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upcoming: Option<Round>,
    /// Keys missing from a listing whose deletion is not confirmed yet: `[id, 0]`, or
    /// `[parent_id, id]` for a child record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<(i64, i64)>,
    /// The same, of each derived stream read with it (`[source or user id, row id]`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pending_derived: BTreeMap<String, Vec<(i64, i64)>>,
    /// A child stream's digests of the children of the parents read whole most recently
    /// (base64; see `crate::digest`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub parents: String,
    /// The latest time a parent whose digest is no longer kept was read whole: a read of a
    /// parent without a digest counts the children created since as new.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parents_forgotten: Option<DateTime<Utc>>,
    /// Records gone from Harvest that a comparison could not name (more than its table
    /// holds), by stream: still in the destination until the stream is refreshed, which
    /// clears this state. Every sync warns of them until then.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unnamed: BTreeMap<String, Unnamed>,
    /// The records incremental passes counted although created after their window (see
    /// `read::deletions::ahead`): the last pass's, and the one's under way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ahead: Vec<Ahead>,
}

/// The records one incremental pass counted although created after it began.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ahead {
    /// Where its window ended (its start): the next pass's window begins there.
    pub to: DateTime<Utc>,
    /// When the listing it counted them into began.
    pub listing: DateTime<Utc>,
    /// Their keys (`[id, 0]`, or a derived row's), by stream.
    pub keys: BTreeMap<String, Vec<(i64, i64)>>,
}

/// Records of one stream that comparisons found gone without naming them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unnamed {
    /// How many: what the tables' counts say (fewer when records were also added unseen).
    pub records: u64,
    /// When the earliest listing they were missing from the next of began: they were deleted
    /// after it.
    pub since: DateTime<Utc>,
}

/// The tables of a derived stream's rows in a listing under way: its source's listing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DerivedRound {
    /// As [`Round::seen`], of the rows.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub seen: String,
    /// As [`Round::fresh`], of the rows.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fresh: String,
    /// As [`Round::taken`], of the rows.
    pub taken: String,
}

/// A complete listing of a stream, summarised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Listing {
    /// The server's time when it began.
    pub at: DateTime<Utc>,
    /// The server's time of its last page.
    pub last: DateTime<Utc>,
    /// The table ([`crate::iblt::Table`]) of the keys of its records.
    pub keys: String,
    /// How many records it listed.
    pub total: u64,
    /// The tables of the rows of the derived streams read with it, by stream.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub derived: BTreeMap<String, String>,
    /// Its parts, when it has more than one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<ListingParts>,
    /// Where the parts of the listing after it begin (from a sample of its positions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_bounds: Vec<i64>,
    /// Where it stood after each sync that read some of it: `[time of its last page,
    /// position]` (the listing after it keeps pace with these).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marks: Vec<(DateTime<Utc>, i64)>,
}

/// The parts of a complete listing (see `read::deletions::parts`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListingParts {
    /// Where each part but the first begins: a position (a day, a creation time negated, a
    /// parent id).
    pub bounds: Vec<i64>,
    /// Each part's table (empty text: no key); `null` once compared with the next listing.
    pub tables: Vec<Option<String>>,
    /// The same, of each derived stream's rows, by stream.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub derived: BTreeMap<String, Vec<Option<String>>>,
    /// The furthest position of a record counted into each part.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lasts: Vec<i64>,
}

/// One derived stream's tables in the parts of a listing under way.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DerivedParts {
    /// As [`RoundParts::tables`], of the rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<String>,
    /// As [`RoundParts::taken`], of the rows.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub taken: BTreeMap<usize, String>,
}

/// The parts of a listing under way.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RoundParts {
    /// Where each of its own parts but the first begins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bounds: Vec<i64>,
    /// Its own parts' tables (empty text: no key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<String>,
    /// The bounds of the parts of the listing it is compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub against: Option<Vec<i64>>,
    /// The keys it took from each part of that listing not compared yet, by part.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub taken: BTreeMap<usize, String>,
    /// How many parts of that listing were compared.
    #[serde(default)]
    pub compared: usize,
    /// The furthest position its own pages read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub furthest: Option<i64>,
    /// The furthest position of a record counted into each of its parts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lasts: Vec<i64>,
    /// The hash below which a key's position is sampled.
    #[serde(default = "all_hashes")]
    pub sample_below: u32,
    /// The sampled `[hash, position]` pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sample: Vec<(u32, i64)>,
    /// The tables of each derived stream's rows, by stream.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub derived: BTreeMap<String, DerivedParts>,
}

fn all_hashes() -> u32 {
    u32::MAX
}

/// A listing under way, spread over syncs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Round {
    /// The server's time when it began.
    pub at: DateTime<Utc>,
    /// The server's time of the last page read.
    pub last: DateTime<Utc>,
    /// The next page (path and query under the API's origin); `None` once the last was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// The table of the keys read so far, as states written before `fresh` hold it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub seen: String,
    /// The table of the keys read so far minus `taken`: mostly the records created since the
    /// listing began, few, so it is written sparse (about 5 kB less than the whole table).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fresh: String,
    /// The table of the keys read so far of records created by `created_by`: the listing this
    /// one is compared with, minus this, is what no longer lists.
    pub taken: String,
    /// When the listing this one is compared with began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub against: Option<DateTime<Utc>>,
    /// The creation time up to which records count in `taken`: when that listing ended, plus
    /// the clock overlap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<DateTime<Utc>>,
    /// The tables of the rows of the derived streams read with it, by stream.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub derived: BTreeMap<String, DerivedRound>,
    /// How many records it has listed so far.
    pub total: u64,
    /// How many records its own pages read so far (what paces it).
    #[serde(default)]
    pub read: u64,
    /// A child stream's round: the last parent whose children it counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through: Option<i64>,
    /// Whether it is one read of everything, begun and ended in one sync.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub whole: bool,
    /// A list paged by numbers: the days of its next window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<i64>,
    /// Its parts.
    #[serde(default)]
    pub parts: RoundParts,
    /// The derived streams some sync of it did not read (their tables are not whole).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uncounted: Vec<String>,
    /// As [`Listing::marks`], so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marks: Vec<(DateTime<Utc>, i64)>,
    /// A child stream's round, as states written before `reads` hold it: the parents it read
    /// before its sweep did, without the time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub early: Vec<i64>,
    /// A child stream's round: the parents it read other than by its sweep, each with the
    /// time of the last such read, before its sweep got there or after (see
    /// `read::deletions::child`), as `read_times` writes them from `at`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reads: String,
    /// A child stream's round: whether `reads` holds every read of a parent since it began
    /// other than its sweep's (none was left out for want of room).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reads_complete: bool,
    /// A child stream's round: the parents read before its sweep got there whose first read
    /// counted only the children the last round's read of them had not listed, with the time
    /// of that read, as `read_times` writes them from `at`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub early_since: String,
    /// A child stream's round: after each sync of its sweep, the last parent read and the time
    /// of its last read, as `read_times` writes them from `at`: a parent was swept by the time
    /// of the first entry at or past it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub swept_by: String,
    /// The records gone from parts of the last listing too changed to name alone, by stream:
    /// said with `unnamed` until the listing completes and the whole comparison names or
    /// counts them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub overflowed: BTreeMap<String, u64>,
}

/// The field holding a listing's `seen` keys: `fresh`, or `seen` in states written before it.
fn seen<'a>(seen: &'a String, fresh: &'a String) -> (&'static str, &'a String) {
    if fresh.is_empty() {
        ("seen", seen)
    } else {
        ("fresh", fresh)
    }
}

/// Reads the `deletions` object, naming what is wrong with it: it is ours alone, so anything
/// unreadable is a damaged state, which restarting capture (removing it) repairs.
pub(super) fn check_ledger(object: &serde_json::Map<String, Value>) -> Result<(), StateError> {
    // Another type than an object is the state parser's to name.
    let Some(value) = object.get("deletions").filter(|v| v.is_object()) else {
        return Ok(());
    };
    let fix = "remove the `deletions` object to restart deletion capture (no record is lost; deletions made before the next complete listing are not reported)";
    let ledger: Ledger = serde_json::from_value(value.clone())
        .map_err(|e| ("deletions".to_string(), says(format!("{e}; {fix}"))))?;
    let mut tables: Vec<(String, &String)> = Vec::new();
    let mut parts: Vec<(String, &String)> = Vec::new();
    if let Some(known) = &ledger.known {
        tables.push(("deletions.known.keys".into(), &known.keys));
        for (stream, keys) in &known.derived {
            tables.push((format!("deletions.known.derived.{stream}"), keys));
        }
        if let Some(p) = &known.parts {
            for (i, table) in p.tables.iter().enumerate() {
                parts.extend(
                    table
                        .iter()
                        .map(|t| (format!("deletions.known.parts.tables.{i}"), t)),
                );
            }
            for (stream, tables) in &p.derived {
                for (i, table) in tables.iter().enumerate() {
                    let field = format!("deletions.known.parts.derived.{stream}.{i}");
                    parts.extend(table.iter().map(|t| (field.clone(), t)));
                }
            }
        }
    }
    for (name, round) in [("round", &ledger.round), ("upcoming", &ledger.upcoming)] {
        if let Some(r) = round {
            let (field, table) = seen(&r.seen, &r.fresh);
            tables.push((format!("deletions.{name}.{field}"), table));
            tables.push((format!("deletions.{name}.taken"), &r.taken));
            for (stream, d) in &r.derived {
                let (field, table) = seen(&d.seen, &d.fresh);
                tables.push((format!("deletions.{name}.derived.{stream}.{field}"), table));
                tables.push((format!("deletions.{name}.derived.{stream}.taken"), &d.taken));
            }
            for (i, table) in r.parts.tables.iter().enumerate() {
                parts.push((format!("deletions.{name}.parts.tables.{i}"), table));
            }
            for (i, table) in &r.parts.taken {
                parts.push((format!("deletions.{name}.parts.taken.{i}"), table));
            }
            for (stream, d) in &r.parts.derived {
                for (i, table) in d.tables.iter().enumerate() {
                    let field = format!("deletions.{name}.parts.derived.{stream}.tables.{i}");
                    parts.push((field, table));
                }
                for (i, table) in &d.taken {
                    let field = format!("deletions.{name}.parts.derived.{stream}.taken.{i}");
                    parts.push((field, table));
                }
            }
        }
    }
    for (name, round) in [("round", &ledger.round), ("upcoming", &ledger.upcoming)] {
        for (field, text) in round.iter().flat_map(|r| {
            [
                ("reads", &r.reads),
                ("early_since", &r.early_since),
                ("swept_by", &r.swept_by),
            ]
        }) {
            let at = round.as_ref().map_or_else(Utc::now, |r| r.at);
            crate::read_times::decode(text, at).map_err(|e| {
                (
                    format!("deletions.{name}.{field}"),
                    says(format!("{e}; {fix}")),
                )
            })?;
        }
    }
    if !ledger.parents.is_empty() {
        crate::digest::Digests::decode(&ledger.parents)
            .map_err(|e| ("deletions.parents".into(), says(format!("{e}; {fix}"))))?;
    }
    for (field, text) in tables {
        crate::iblt::Table::decode_text(text).map_err(|e| (field, says(format!("{e}; {fix}"))))?;
    }
    for (field, text) in parts {
        if !text.is_empty() {
            crate::iblt::Table::decode_text(text)
                .map_err(|e| (field, says(format!("{e}; {fix}"))))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn checked(deletions: Value) -> Result<(), String> {
        let state = json!({ "deletions": deletions });
        check_ledger(state.as_object().unwrap()).map_err(|(field, _)| field)
    }

    #[test]
    fn a_damaged_table_part_or_digest_is_named_by_its_field() {
        let table = crate::iblt::Table::new(32).encode();
        let known = json!({
            "at": "2026-01-01T00:00:00Z", "last": "2026-01-01T00:00:00Z", "keys": table,
            "total": 3, "parts": {"bounds": [5], "tables": [table, null]},
        });
        let good = json!({"by": "since x", "known": known, "parents": ""});
        assert_eq!(checked(good.clone()), Ok(()));
        let mut bad = good.clone();
        bad["known"]["parts"]["tables"][0] = json!("%%");
        assert_eq!(checked(bad), Err("deletions.known.parts.tables.0".into()));
        let mut bad = good.clone();
        bad["parents"] = json!("AAAA");
        assert_eq!(checked(bad), Err("deletions.parents".into()));
        let round = json!({
            "at": "2026-01-01T00:00:00Z", "last": "2026-01-01T00:00:00Z", "fresh": table,
            "taken": table, "total": 0,
        });
        let mut bad = good.clone();
        bad["round"] = round.clone();
        assert_eq!(checked(bad.clone()), Ok(()));
        bad["round"]["reads"] = json!("AgIEBA");
        bad["round"]["swept_by"] = json!("AgI");
        assert_eq!(checked(bad.clone()), Ok(()));
        bad["round"]["reads"] = json!("AgIE");
        assert_eq!(checked(bad.clone()), Err("deletions.round.reads".into()));
        bad["round"]["reads"] = json!("");
        bad["round"]["swept_by"] = json!("%");
        assert_eq!(checked(bad.clone()), Err("deletions.round.swept_by".into()));
        bad["round"]["swept_by"] = json!("");
        bad["round"]["fresh"] = json!("~AAAA");
        assert_eq!(checked(bad.clone()), Err("deletions.round.fresh".into()));
        bad["round"]["fresh"] = json!("");
        assert_eq!(checked(bad), Err("deletions.round.seen".into()));
        let mut bad = good;
        bad["known"]["parts"]["bounds"] = json!("5");
        assert_eq!(checked(bad), Err("deletions".into()));
    }
}
