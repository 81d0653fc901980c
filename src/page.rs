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
    de.end()
        .map_err(|e| format!("trailing data after the page: {e}"))?;
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
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    #[test]
    fn each_record_is_its_exact_text_with_its_keys() {
        let body = "{ \"clients\" : [ { \"i\\u0078\" : 1 ,\n \"a\\\"b\": {\"id\": 9, \"updated_at\": 1}, \"id\":2 , \"updated_at\":\"2024-01-01T00:00:00Z\" } ,\n {} , 7, [1,{}], \"x\", null, {\"id\":1,\"id\":2}, {\"\\u0069d\":5} ] }";
        let page = parse(body, "clients").unwrap();
        let raws: Vec<&str> = page.records.iter().map(|r| r.raw).collect();
        assert_eq!(
            raws,
            [
                "{ \"i\\u0078\" : 1 ,\n \"a\\\"b\": {\"id\": 9, \"updated_at\": 1}, \"id\":2 , \"updated_at\":\"2024-01-01T00:00:00Z\" }",
                "{}",
                "",
                "",
                "",
                "",
                "{\"id\":1,\"id\":2}",
                "{\"\\u0069d\":5}",
            ]
        );
        let keys = page.records[0].keys.as_ref().unwrap();
        assert_eq!(keys.id().unwrap(), 2);
        assert_eq!(keys.updated_at().unwrap(), "2024-01-01T00:00:00Z");
        assert!(page.records[1].keys.as_ref().unwrap().id.is_none());
        for record in &page.records[2..6] {
            assert!(record
                .keys
                .as_ref()
                .unwrap_err()
                .contains("not a JSON object"));
        }
        assert!(page.records[6]
            .keys
            .as_ref()
            .unwrap_err()
            .contains("names id twice"));
        assert_eq!(page.records[7].keys.as_ref().unwrap().id(), Ok(5));
    }

    #[test]
    fn a_records_dates_are_found_while_it_is_parsed_the_first_one_named_counting() {
        let body = r#"{"time_entries": [{"id": 1, "spent_date": "2024-02-29", "x": {"spent_date": "1999-01-01"}, "spent_date": "2024-03-01"}, {"id": 2, "issue_date": "2024-01-05"}]}"#;
        let page = parse(body, "time_entries").unwrap();
        let first = page.records[0].keys.as_ref().unwrap();
        assert_eq!(first.spent_date, Some(r#""2024-02-29""#));
        assert_eq!(first.issue_date, None);
        let second = page.records[1].keys.as_ref().unwrap();
        assert_eq!(
            second.date("issue_date"),
            chrono::NaiveDate::from_ymd_opt(2024, 1, 5)
        );
    }

    /// JSON values of every kind, nested, with keys that collide with the ones read.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[\\PC\"\\\\{}\\[\\]:,]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("id".to_string()),
                        Just("updated_at".to_string()),
                        "[a-z\"\\\\]{0,6}"
                    ],
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Prints `value` as JSON with whitespace taken in turn from `spaces` around every token,
    /// the layouts a server may send that neither compact nor pretty printing produces.
    fn print_spaced(
        value: &Value,
        spaces: &mut impl Iterator<Item = &'static str>,
        out: &mut String,
    ) {
        match value {
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(spaces.next().unwrap_or(""));
                    print_spaced(item, spaces, out);
                    out.push_str(spaces.next().unwrap_or(""));
                }
                out.push(']');
            }
            Value::Object(fields) => {
                out.push('{');
                for (i, (key, item)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(spaces.next().unwrap_or(""));
                    out.push_str(&Value::from(key.as_str()).to_string());
                    out.push_str(spaces.next().unwrap_or(""));
                    out.push(':');
                    out.push_str(spaces.next().unwrap_or(""));
                    print_spaced(item, spaces, out);
                    out.push_str(spaces.next().unwrap_or(""));
                }
                out.push('}');
            }
            leaf => out.push_str(&leaf.to_string()),
        }
    }

    proptest! {
        /// Whatever the records and however the page is spaced, each object record's text is
        /// exactly that record, and its keys are its own top-level fields.
        #[test]
        fn records_are_found_exactly(
            records in prop::collection::vec(json_value(), 0..6),
            spaces in prop::collection::vec(prop::sample::select(vec!["", "", " ", "\n", "\t", " \r\n  "]), 0..200),
        ) {
            let page = serde_json::json!({ "results": records, "links": { "next": null } });
            let mut body = String::new();
            print_spaced(&page, &mut spaces.into_iter().cycle(), &mut body);
            let parsed = parse(&body, "results").unwrap();
            prop_assert_eq!(parsed.records.len(), records.len());
            for (record, expected) in parsed.records.iter().zip(&records) {
                match expected {
                    Value::Object(fields) => {
                        prop_assert!(record.raw.starts_with('{') && record.raw.ends_with('}'), "{:?}", record.raw);
                        let text: Value = serde_json::from_str(record.raw).unwrap();
                        prop_assert_eq!(&text, expected);
                        let keys = record.keys.as_ref().unwrap();
                        let field = |name: &str| fields.get(name).map(|v| serde_json::from_str::<Value>(v.to_string().as_str()).unwrap());
                        prop_assert_eq!(keys.id.map(|t| serde_json::from_str::<Value>(t).unwrap()), field("id"));
                        prop_assert_eq!(keys.updated_at.map(|t| serde_json::from_str::<Value>(t).unwrap()), field("updated_at"));
                    }
                    _ => prop_assert!(record.keys.is_err()),
                }
            }
        }
    }

    #[test]
    fn records_nested_deeper_than_the_limit_are_found() {
        let nested = |n: usize| format!("{{\"x\":{}1{}}}", "[".repeat(n - 1), "]".repeat(n - 1));
        assert!(!nests_deeper_than(&nested(MAX_DEPTH), MAX_DEPTH));
        assert!(nests_deeper_than(&nested(MAX_DEPTH + 1), MAX_DEPTH));
        // Many brackets, side by side or in strings, are not depth.
        let flat = format!(
            "{{\"a\":[{}],\"s\":\"{}\\\"{}\"}}",
            "{},".repeat(200) + "{}",
            "[".repeat(200),
            "{".repeat(200)
        );
        assert!(
            serde_json::from_str::<serde_json::Value>(&flat).is_ok(),
            "{flat}"
        );
        assert!(!nests_deeper_than(&flat, MAX_DEPTH));
        let page = format!(r#"{{"clients":[{},{{"id":2}}]}}"#, nested(MAX_DEPTH + 1));
        let page = parse(&page, "clients").unwrap();
        assert!(page.records[0].nests_too_deep());
        assert!(!page.records[1].nests_too_deep());
    }

    #[test]
    fn reads_records_next_and_total() {
        let body = r#"{"clients":[{"id":1,"name":"A"},{"id":2}],"per_page":2000,"total_pages":1,"total_entries":2,
            "next_page":null,"previous_page":null,"page":1,"links":{"first":"x","next":"http://h/v2/clients?page=2","previous":null,"last":"y"}}"#;
        let page = parse(body, "clients").unwrap();
        assert_eq!(page.records.len(), 2);
        assert_eq!(page.records[0].raw, r#"{"id":1,"name":"A"}"#);
        assert_eq!(page.records[1].keys.as_ref().unwrap().id, Some("2"));
        assert_eq!(page.next.as_deref(), Some("http://h/v2/clients?page=2"));
        assert_eq!(page.total_entries, Some(2));
        assert_eq!(page.total_pages, Some(1));
    }

    #[test]
    fn the_hint_comes_from_the_envelope_end() {
        let page = |records: &str, links: &str| {
            format!(r#"{{"clients":[{records}],"total_entries":4001,"page":1,"links":{links}}}"#)
        };
        let next = r#"{"first":"f","next":"/v2/clients?page=2","previous":null,"last":"l"}"#;
        let last = r#"{"first":"f","next":null,"previous":null,"last":"l"}"#;
        assert_eq!(
            hint(&page("", next)),
            Some(Hint {
                next: "/v2/clients?page=2".into(),
                total_entries: Some(4001)
            })
        );
        assert_eq!(hint(&page("", last)), None);
        assert_eq!(hint(r#"{"links":{"next":"x"},"page":1}"#), None);
        assert_eq!(hint(r#"{"clients":[]}"#), None);
        // A key that merely ends in `links` does not fool the parse, only the hint.
        let escaped = r#"{"clients":[],"links":{"next":null},"\"links":{"next":"/v2/x"}}"#;
        assert_eq!(hint(escaped).map(|h| h.next).as_deref(), Some("/v2/x"));
        assert_eq!(parse(escaped, "clients").unwrap().next, None);
    }

    #[test]
    fn a_missing_array_or_garbage_is_an_error() {
        for body in [r#"{"users":[]}"#, r#"[1,2]"#, r#"{"clients":{}}"#] {
            let e = parse(body, "clients").unwrap_err();
            assert!(e.contains("`clients`"), "{body}: {e}");
        }
    }
}
