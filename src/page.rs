//! Reading one page of a Harvest list response without building a JSON tree.
//!
//! Records stay as borrowed raw JSON text: the engine copies them to the output as they are,
//! and looks only at the few fields it needs (primary key and cursor) through [`RecordKeys`].

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// One page of a list endpoint.
#[derive(Debug)]
pub struct Page<'a> {
    /// The records, as raw JSON.
    pub records: Vec<&'a RawValue>,
    /// `links.next`: the next page, or `None` on the last.
    pub next: Option<String>,
    /// `total_entries`, where Harvest gives it.
    pub total_entries: Option<u64>,
}

/// Parses a list response whose records sit under `key`.
pub fn parse<'a>(body: &'a str, key: &str) -> Result<Page<'a>, String> {
    let mut de = serde_json::Deserializer::from_str(body);
    let page = PageSeed { key }
        .deserialize(&mut de)
        .map_err(|e| format!("the response is not a page of `{key}`: {e}"))?;
    de.end()
        .map_err(|e| format!("trailing data after the page: {e}"))?;
    let page = page?;
    Ok(page)
}

struct PageSeed<'k> {
    key: &'k str,
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = Result<Page<'de>, String>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

#[derive(Deserialize)]
struct Links {
    #[serde(default)]
    next: Option<String>,
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = Result<Page<'de>, String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object with a `{}` array", self.key)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut records = None;
        let mut next = None;
        let mut total_entries = None;
        while let Some(field) = map.next_key::<&str>()? {
            if field == self.key {
                records = Some(map.next_value::<Vec<&'de RawValue>>()?);
            } else if field == "links" {
                next = map.next_value::<Option<Links>>()?.and_then(|l| l.next);
            } else if field == "total_entries" {
                total_entries = map.next_value::<Option<u64>>()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(match records {
            Some(records) => Ok(Page {
                records,
                next,
                total_entries,
            }),
            None => Err(format!("the response has no `{}` array", self.key)),
        })
    }
}

/// The fields of a record the engine must see: its id and its cursor, both still raw so that
/// a wrong type is reported rather than silently coerced.
#[derive(Deserialize, Default)]
pub struct RecordKeys<'a> {
    /// The record's `id`.
    #[serde(borrow, default)]
    pub id: Option<&'a RawValue>,
    /// The record's `updated_at`.
    #[serde(borrow, default)]
    pub updated_at: Option<&'a RawValue>,
}

impl<'a> RecordKeys<'a> {
    /// Reads the keys of one raw record; `Err` when the record is not a JSON object.
    pub fn of(record: &'a RawValue) -> Result<RecordKeys<'a>, String> {
        serde_json::from_str(record.get())
            .map_err(|_| "the record is not a JSON object".to_string())
    }

    /// The id as an integer, or why it is not one.
    pub fn id(&self) -> Result<i64, String> {
        match self.id.map(RawValue::get) {
            None | Some("null") => Err("it has no id".into()),
            Some(text) => text
                .parse()
                .map_err(|_| format!("its id is not an integer: {}", shorten(text))),
        }
    }

    /// `updated_at` as text, or why it is not a Harvest timestamp.
    pub fn updated_at(&self) -> Result<&'a str, String> {
        match self.updated_at.map(RawValue::get) {
            None | Some("null") => Err("it has no updated_at".into()),
            Some(text)
                if text.len() >= 2
                    && text.starts_with('"')
                    && text.ends_with('"')
                    && !text.contains('\\') =>
            {
                Ok(&text[1..text.len() - 1])
            }
            Some(text) => Err(format!(
                "its updated_at is not a date-time string: {}",
                shorten(text)
            )),
        }
    }
}

fn shorten(text: &str) -> &str {
    match text.char_indices().nth(40) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_records_next_and_total() {
        let body = r#"{"clients":[{"id":1,"name":"A"},{"id":2}],"per_page":2000,"total_pages":1,"total_entries":2,
            "next_page":null,"previous_page":null,"page":1,"links":{"first":"x","next":"http://h/v2/clients?page=2","previous":null,"last":"y"}}"#;
        let page = parse(body, "clients").unwrap();
        assert_eq!(page.records.len(), 2);
        assert_eq!(page.records[0].get(), r#"{"id":1,"name":"A"}"#);
        assert_eq!(page.next.as_deref(), Some("http://h/v2/clients?page=2"));
        assert_eq!(page.total_entries, Some(2));
    }

    #[test]
    fn a_missing_array_or_garbage_is_an_error() {
        assert!(parse(r#"{"users":[]}"#, "clients").is_err());
        assert!(parse(r#"[1,2]"#, "clients").is_err());
        assert!(parse(r#"{"clients":{}}"#, "clients").is_err());
    }

    #[test]
    fn keys_report_wrong_types() {
        let raw: Box<RawValue> = serde_json::from_str(r#"{"id":"7","updated_at":12}"#).unwrap();
        let keys = RecordKeys::of(&raw).unwrap();
        assert!(keys.id().unwrap_err().contains("not an integer"));
        assert!(keys.updated_at().unwrap_err().contains("not a date-time"));
        let raw: Box<RawValue> =
            serde_json::from_str(r#"{"id":2380504951,"updated_at":"2024-01-01T00:00:00Z"}"#)
                .unwrap();
        let keys = RecordKeys::of(&raw).unwrap();
        assert_eq!(keys.id().unwrap(), 2_380_504_951);
        assert_eq!(keys.updated_at().unwrap(), "2024-01-01T00:00:00Z");
    }
}
