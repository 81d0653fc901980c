//! Reading one page of a Harvest list response without building a JSON tree.
//!
//! Records stay as borrowed raw JSON text: the engine copies them to the output as they are,
//! and looks only at the few fields it needs (primary key and cursor) through
//! [`RecordKeys`], read in the same pass.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::keys::RecordKeys;

/// The whitespace JSON allows between tokens.
const SPACE: &[char] = &[' ', '\t', '\n', '\r'];

/// One page of a list endpoint.
#[derive(Debug)]
pub struct Page<'a> {
    /// The records, in the server's order.
    pub records: Vec<Record<'a>>,
    /// `links.next`: the next page, or `None` on the last.
    pub next: Option<String>,
    /// `total_entries`, where Harvest gives it.
    pub total_entries: Option<u64>,
    /// `total_pages`, where Harvest gives it: what a walk may expect to read.
    pub total_pages: Option<u64>,
}

/// One record of a page, with the keys the engine needs read in the same pass that found it:
/// records are the bulk of every byte read, so each is parsed once.
#[derive(Debug)]
pub struct Record<'a> {
    /// The record's JSON text as the server sent it (`{}` for any empty object; empty when it
    /// is not an object).
    pub raw: &'a str,
    /// Its id and cursor, or why they cannot be read (not an object, a key named twice).
    pub keys: Result<RecordKeys<'a>, String>,
}

/// Parses a list response whose records sit under `key`.
pub fn parse<'a>(body: &'a str, key: &str) -> Result<Page<'a>, String> {
    let mut de = serde_json::Deserializer::from_str(body);
    let page = PageSeed { key, body }
        .deserialize(&mut de)
        .map_err(|e| format!("the response is not a page of `{key}`: {e}"))?;
    de.end().map_err(|e| {
        format!("the response is not a page of `{key}`: trailing data after it: {e}")
    })?;
    page
}

/// What the end of a page says before the page is parsed: enough to request the next page
/// early. Only a hint; the parsed page has the last word.
#[derive(Debug, PartialEq)]
pub struct Hint {
    /// `links.next` (Harvest writes `links` last).
    pub next: String,
    /// `total_entries`, which a walk compares with earlier pages' before following `next`.
    pub total_entries: Option<u64>,
}

/// Reads the [`Hint`] at the end of `body`; `None` on the last page or when the end is not
/// Harvest's.
pub fn hint(body: &str) -> Option<Hint> {
    const LINKS: &str = "\"links\":";
    const TOTAL: &str = "\"total_entries\":";
    let at = body.rfind(LINKS)?;
    let tail = &body[at + LINKS.len()..];
    let mut values = serde_json::Deserializer::from_str(tail).into_iter::<EnvelopeLinks>();
    let next = values.next()?.ok()?.next?;
    if tail[values.byte_offset()..].trim_matches(SPACE) != "}" {
        return None;
    }
    let total_entries = body[..at].rfind(TOTAL).and_then(|t| {
        let digits = body[t + TOTAL.len()..].trim_start_matches(SPACE);
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        digits[..end].parse().ok()
    });
    Some(Hint {
        next,
        total_entries,
    })
}

struct PageSeed<'k, 'a> {
    key: &'k str,
    body: &'a str,
}

impl<'a> DeserializeSeed<'a> for PageSeed<'_, 'a> {
    type Value = Result<Page<'a>, String>;

    fn deserialize<D: de::Deserializer<'a>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

#[derive(Deserialize)]
struct EnvelopeLinks {
    #[serde(default)]
    next: Option<String>,
}

impl<'a> Visitor<'a> for PageSeed<'_, 'a> {
    type Value = Result<Page<'a>, String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object with a `{}` array", self.key)
    }

    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut records = None;
        let mut next = None;
        let mut total_entries = None;
        let mut total_pages = None;
        // Owned keys: an envelope key with an escape in it cannot be borrowed from the body.
        while let Some(field) = map.next_key::<String>()? {
            if field == self.key {
                records = Some(map.next_value_seed(Records { body: self.body })?);
            } else if field == "links" {
                next = map
                    .next_value::<Option<EnvelopeLinks>>()?
                    .and_then(|l| l.next);
            } else if field == "total_entries" {
                total_entries = map.next_value::<Option<u64>>()?;
            } else if field == "total_pages" {
                total_pages = map.next_value::<Option<u64>>()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(match records {
            Some(records) => Ok(Page {
                records,
                next,
                total_entries,
                total_pages,
            }),
            None => Err(format!("the response has no `{}` array", self.key)),
        })
    }
}

/// The records array of a page in `body`.
struct Records<'a> {
    body: &'a str,
}

impl<'a> DeserializeSeed<'a> for Records<'a> {
    type Value = Vec<Record<'a>>;

    fn deserialize<D: de::Deserializer<'a>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'a> Visitor<'a> for Records<'a> {
    type Value = Vec<Record<'a>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<S: SeqAccess<'a>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(record) = seq.next_element_seed(RecordSeed { body: self.body })? {
            records.push(record);
        }
        Ok(records)
    }
}

/// One element of the records array: its fields' values are taken as raw spans of `body`,
/// which give the record's own span and its keys without a second pass.
struct RecordSeed<'a> {
    body: &'a str,
}

impl<'a> DeserializeSeed<'a> for RecordSeed<'a> {
    type Value = Record<'a>;

    fn deserialize<D: de::Deserializer<'a>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl Record<'_> {
    /// An element of the records array that is not an object.
    fn not_an_object() -> Self {
        Record {
            raw: "",
            keys: Err("the record is not a JSON object".into()),
        }
    }

    /// Whether the element was a JSON object (only objects have a text to emit).
    pub fn is_object(&self) -> bool {
        !self.raw.is_empty()
    }

    /// Whether the record nests deeper than [`MAX_DEPTH`]. The page parser skips a record's
    /// values without a depth limit (no stack is at risk), but the platform's parsers and
    /// every reader of the output have one: such a record is not emitted.
    pub fn nests_too_deep(&self) -> bool {
        nests_deeper_than(self.raw, MAX_DEPTH)
    }
}

/// The deepest nesting a record may have: serde_json's own recursion limit (Harvest's records
/// nest a few levels).
pub const MAX_DEPTH: usize = 128;

/// Whether `raw` (JSON text) nests arrays and objects deeper than `max`. Deeper needs more than
/// `max` opening brackets: counting them is one vectorised pass that stops at `max + 1`, and
/// only text with that many is scanned for its depth.
fn nests_deeper_than(raw: &str, max: usize) -> bool {
    let bytes = raw.as_bytes();
    if memchr::memchr2_iter(b'[', b'{', bytes).nth(max).is_none() {
        return false;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        match b {
            _ if escaped => escaped = false,
            b'\\' if in_string => escaped = true,
            b'"' => in_string = !in_string,
            _ if in_string => {}
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

impl<'a> Visitor<'a> for RecordSeed<'a> {
    type Value = Record<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record")
    }

    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut keys = RecordKeys::default();
        let mut twice = None;
        let mut span: Option<(&'a str, &'a str)> = None;
        while let Some(field) = map.next_key_seed(FieldSeed)? {
            let value = map.next_value::<&'a RawValue>()?.get();
            span = Some(span.map_or((value, value), |(first, _)| (first, value)));
            let (slot, name) = match field {
                Field::Id => (&mut keys.id, "id"),
                Field::UpdatedAt => (&mut keys.updated_at, "updated_at"),
                Field::CreatedAt => (&mut keys.created_at, "created_at"),
                // A date is where deletion capture places a record, nothing more: the first
                // one named counts, and a record naming it twice is not refused for it.
                Field::SpentDate => {
                    keys.spent_date.get_or_insert(value);
                    continue;
                }
                Field::IssueDate => {
                    keys.issue_date.get_or_insert(value);
                    continue;
                }
                Field::Other => continue,
            };
            if slot.replace(value).is_some() {
                twice = Some(name);
            }
        }
        let raw = match span {
            None => "{}",
            Some((first, last)) => object_around(self.body, first, last).ok_or_else(|| {
                de::Error::custom("a record's text could not be found in the page")
            })?,
        };
        let keys = match twice {
            Some(name) => Err(format!("it names {name} twice")),
            None => Ok(keys),
        };
        Ok(Record { raw, keys })
    }

    fn visit_seq<S: SeqAccess<'a>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Record::not_an_object())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Record::not_an_object())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Record::not_an_object())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Record::not_an_object())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Record::not_an_object())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Record::not_an_object())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Record::not_an_object())
    }
}

/// The fields of a record the engine reads.
#[derive(Debug, Clone, Copy)]
enum Field {
    Id,
    UpdatedAt,
    CreatedAt,
    SpentDate,
    IssueDate,
    Other,
}

struct FieldSeed;

impl<'a> DeserializeSeed<'a> for FieldSeed {
    type Value = Field;

    fn deserialize<D: de::Deserializer<'a>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for FieldSeed {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Field, E> {
        Ok(match name {
            "id" => Field::Id,
            "updated_at" => Field::UpdatedAt,
            "created_at" => Field::CreatedAt,
            "spent_date" => Field::SpentDate,
            "issue_date" => Field::IssueDate,
            _ => Field::Other,
        })
    }
}

/// The text of the object in `body` whose first field's value is `first` and last field's
/// value is `last` (both slices of `body`): JSON allows only whitespace, the first key and its
/// colon between the opening brace and `first`, and only whitespace between `last` and the
/// closing brace.
fn object_around<'a>(body: &'a str, first: &str, last: &str) -> Option<&'a str> {
    let offset = |s: &str| (s.as_ptr() as usize).checked_sub(body.as_ptr() as usize);
    let bytes = body.as_bytes();
    let before_value = body.get(..offset(first)?)?.trim_end_matches(SPACE);
    let key_end = before_value
        .strip_suffix(':')?
        .trim_end_matches(SPACE)
        .strip_suffix('"')?;
    let mut open_quote = key_end.len();
    loop {
        open_quote = key_end.get(..open_quote)?.rfind('"')?;
        let backslashes = bytes[..open_quote]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        if backslashes % 2 == 0 {
            break;
        }
    }
    let start = body[..open_quote]
        .trim_end_matches(SPACE)
        .strip_suffix('{')?
        .len();
    let after_last = offset(last)? + last.len();
    let rest = body.get(after_last..)?;
    let end = after_last + (rest.len() - rest.trim_start_matches(SPACE).len()) + 1;
    (body.as_bytes().get(end - 1) == Some(&b'}')).then(|| &body[start..end])
}

#[cfg(test)]
mod tests;
