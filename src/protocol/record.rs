//! RECORD lines written straight from the server's text, with the fields the connector adds in
//! front (a child's parent id, a report row's window, a derived row's columns) and the catalog's
//! projection applied without rebuilding the record.

use std::borrow::Cow;
use std::fmt;
use std::io::Write as _;

use chrono::NaiveDate;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use super::now_millis;

/// A field the connector adds in front of a record's own fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extra<'a> {
    /// A child record's parent: `"parent_id": 42`.
    ParentId(i64),
    /// A report row's window: `"from": "20240101", "to": "20241231"`, as the incumbent writes.
    Window {
        /// The window's first day.
        from: NaiveDate,
        /// The window's last day.
        to: NaiveDate,
    },
    /// An integer column of a derived row: `"invoice_id": 7`.
    Int {
        /// The column.
        name: &'static str,
        /// Its value.
        value: i64,
    },
    /// A string column of a derived row, e.g. its source's `updated_at`; `None` writes `null`.
    Text {
        /// The column.
        name: &'static str,
        /// Its value.
        value: Option<&'a str>,
    },
}

/// The extras of the records about to be written, rendered once (a parent's or a window's
/// records all share them), and the parent id among them for the streams derived from these
/// records.
#[derive(Clone, Debug, Default)]
pub struct Extras {
    text: String,
    parent_id: Option<i64>,
}

impl Extras {
    /// No extra fields.
    pub fn none() -> Extras {
        Extras::default()
    }

    /// Renders `extras` as the members they add to a record.
    pub fn new(extras: &[Extra<'_>]) -> Extras {
        let mut text = Vec::new();
        let mut parent_id = None;
        fn member<T: Serialize>(text: &mut Vec<u8>, name: &str, value: &T) {
            if !text.is_empty() {
                text.push(b',');
            }
            serde_json::to_writer(&mut *text, name).expect("a string serialises");
            text.push(b':');
            serde_json::to_writer(&mut *text, value).expect("an extra serialises");
        }
        for extra in extras {
            match *extra {
                Extra::ParentId(id) => {
                    parent_id = Some(id);
                    member(&mut text, "parent_id", &id);
                }
                Extra::Window { from, to } => {
                    member(&mut text, "from", &from.format("%Y%m%d").to_string());
                    member(&mut text, "to", &to.format("%Y%m%d").to_string());
                }
                Extra::Int { name, value } => member(&mut text, name, &value),
                Extra::Text { name, value } => member(&mut text, name, &value),
            }
        }
        Extras {
            text: String::from_utf8(text).expect("serde writes UTF-8"),
            parent_id,
        }
    }

    /// The `parent_id` these extras add, if any.
    pub fn parent_id(&self) -> Option<i64> {
        self.parent_id
    }
}

/// Writes one stream's RECORD lines straight from the server's text: records are the bulk of
/// every sync, and copying their bytes is what makes a sync cheap. Every line it writes is
/// [`AirbyteMessage::Record`] as serde would write it, with the record's own members (their
/// text, numbers and order) exactly as Harvest sent them.
#[derive(Debug)]
pub struct RecordWriter {
    /// `{"type":"RECORD","record":{"stream":"…","data":`.
    prefix: Vec<u8>,
    /// The top-level fields to keep, when the configured catalog narrowed the schema.
    fields: Option<Vec<String>>,
    /// `,"emitted_at":…}}` and the newline.
    suffix: Vec<u8>,
}

impl RecordWriter {
    /// A writer of `stream`'s records, keeping only `fields` when given.
    pub fn new(stream: &str, fields: Option<Vec<String>>) -> RecordWriter {
        let mut prefix = b"{\"type\":\"RECORD\",\"record\":{\"stream\":".to_vec();
        serde_json::to_writer(&mut prefix, stream).expect("a string serialises");
        prefix.extend_from_slice(b",\"data\":");
        let mut writer = RecordWriter {
            prefix,
            fields,
            suffix: Vec::new(),
        };
        writer.set_emitted_at(now_millis());
        writer
    }

    /// The `emitted_at` of the records written from now on (set once per page).
    pub fn set_emitted_at(&mut self, millis: i64) {
        self.suffix.clear();
        let _ = writeln!(self.suffix, ",\"emitted_at\":{millis}}}}}");
    }

    /// Appends the RECORD line of `raw` (a JSON object's text) with `extras` in front.
    pub fn write(&self, buf: &mut Vec<u8>, raw: &str, extras: &Extras) {
        let raw = one_line(raw);
        let raw: &str = &raw;
        buf.extend_from_slice(&self.prefix);
        let projected = self
            .fields
            .as_ref()
            .and_then(|fields| Members::parse(raw).map(|members| (fields, members)));
        match projected {
            Some((fields, members)) => {
                buf.push(b'{');
                buf.extend_from_slice(extras.text.as_bytes());
                let mut first = extras.text.is_empty();
                for (key, value) in members.0 {
                    if fields.iter().any(|f| *f == *key) {
                        if !std::mem::take(&mut first) {
                            buf.push(b',');
                        }
                        serde_json::to_writer(&mut *buf, &key).expect("a string serialises");
                        buf.push(b':');
                        buf.extend_from_slice(value.get().as_bytes());
                    }
                }
                buf.push(b'}');
            }
            None if extras.text.is_empty() => buf.extend_from_slice(raw.as_bytes()),
            None => {
                let body = raw
                    .trim_start()
                    .strip_prefix('{')
                    .unwrap_or(raw)
                    .trim_start();
                buf.push(b'{');
                buf.extend_from_slice(extras.text.as_bytes());
                if !body.starts_with('}') {
                    buf.push(b',');
                }
                buf.extend_from_slice(body.as_bytes());
            }
        }
        buf.extend_from_slice(&self.suffix);
    }
}

/// `raw` (valid JSON text) on one line: the Airbyte protocol is one message per line, and a
/// server that pretty-prints its bodies (a debugging proxy, a gateway) would otherwise make a
/// record span several. JSON strings cannot hold a raw newline or carriage return (they must
/// be escaped, and the page parser rejects them), so such a byte is whitespace between
/// tokens. Compact text, every body Harvest sends, is borrowed after one vectorised scan for
/// those two bytes; only text that holds one is rewritten, by [`compact`].
pub(crate) fn one_line(raw: &str) -> Cow<'_, str> {
    match memchr::memchr2(b'\n', b'\r', raw.as_bytes()) {
        None => Cow::Borrowed(raw),
        Some(_) => Cow::Owned(compact(raw)),
    }
}

/// `raw` without the whitespace between its tokens, its strings, numbers and members' order
/// untouched (a parse into `serde_json::Value` would sort members and could rewrite numbers).
/// A raw newline or carriage return inside a string, which valid JSON never has, is written
/// as its escape so that the line still holds.
fn compact(raw: &str) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut in_string = false;
    let mut escaped = false;
    for &b in raw.as_bytes() {
        if !in_string {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' => continue,
                b'"' => in_string = true,
                _ => {}
            }
            out.push(b);
            continue;
        }
        match b {
            b'\n' | b'\r' => {
                escaped = false;
                out.extend_from_slice(if b == b'\n' { b"\\n" } else { b"\\r" });
                continue;
            }
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => in_string = false,
            _ => {}
        }
        out.push(b);
    }
    // Only ASCII bytes were removed or replaced by ASCII: the text is still UTF-8.
    String::from_utf8(out).expect("removing ASCII whitespace keeps UTF-8")
}

/// A JSON object's members in order, each value as its raw text.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> Members<'a> {
    /// `None` when `raw` is not an object (it is then written as it is).
    fn parse(raw: &'a str) -> Option<Members<'a>> {
        serde_json::from_str(raw).ok()
    }
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(MembersVisitor)
    }
}

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Members<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
        let mut members = Vec::new();
        while let Some(MemberName(key)) = map.next_key()? {
            members.push((key, map.next_value::<&'de RawValue>()?));
        }
        Ok(Members(members))
    }
}

/// An object's member name, borrowed from the text unless it holds an escape.
struct MemberName<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for MemberName<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = MemberName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<MemberName<'de>, E> {
                Ok(MemberName(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MemberName<'de>, E> {
                Ok(MemberName(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{AirbyteMessage, RecordMessage};
    use serde_json::{json, Value};

    fn line(writer: &RecordWriter, raw: &str, extras: &Extras) -> String {
        let mut buf = Vec::new();
        writer.write(&mut buf, raw, extras);
        String::from_utf8(buf).unwrap()
    }

    /// What serde writes for the same record: the writer's lines are this message.
    fn expected(stream: &str, data: Value, emitted_at: i64) -> String {
        let message = AirbyteMessage::Record {
            record: RecordMessage {
                stream: stream.into(),
                data,
                emitted_at,
            },
        };
        serde_json::to_string(&message).unwrap() + "\n"
    }

    #[test]
    fn record_lines_are_the_record_message_with_the_raw_text() {
        let mut writer = RecordWriter::new("clients", None);
        writer.set_emitted_at(1_700_000_000_123);
        let raw = r#"{"id":1,"amount":1.50,"name":"A \"b\""}"#;
        let text = line(&writer, raw, &Extras::none());
        assert_eq!(
            text,
            format!("{{\"type\":\"RECORD\",\"record\":{{\"stream\":\"clients\",\"data\":{raw},\"emitted_at\":1700000000123}}}}\n")
        );
        let parsed: Value = serde_json::from_str(&text).unwrap();
        let reference: Value = serde_json::from_str(&expected(
            "clients",
            serde_json::from_str(raw).unwrap(),
            1_700_000_000_123,
        ))
        .unwrap();
        assert_eq!(parsed, reference);
    }

    #[test]
    fn extras_go_in_front_of_the_records_members() {
        let writer = RecordWriter::new("invoice_payments", None);
        let extras = Extras::new(&[Extra::ParentId(42)]);
        let text = line(&writer, r#" { "id": 7 }"#, &extras);
        assert!(
            text.contains(r#""data":{"parent_id":42,"id": 7 }"#),
            "{text}"
        );
        let text = line(&writer, "{}", &extras);
        assert!(text.contains(r#""data":{"parent_id":42}"#), "{text}");
        let window = Extras::new(&[Extra::Window {
            from: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2024, 12, 30).unwrap(),
        }]);
        let text = line(&writer, r#"{"x":1}"#, &window);
        assert!(
            text.contains(r#""data":{"from":"20240101","to":"20241230","x":1}"#),
            "{text}"
        );
    }

    #[test]
    fn derived_rows_are_the_record_message_of_their_columns_and_raw_text() {
        let mut writer = RecordWriter::new("user_project_tasks", None);
        writer.set_emitted_at(1_700_000_000_123);
        let columns = Extras::new(&[
            Extra::Int {
                name: "project_assignment_id",
                value: 7,
            },
            Extra::Int {
                name: "user_id",
                value: -3,
            },
            Extra::Text {
                name: "project_assignments_updated_at",
                value: Some("2024-05-01T10:00:00Z"),
            },
            Extra::Text {
                name: "quoted \"name\"",
                value: None,
            },
        ]);
        assert_eq!(columns.parent_id(), None);
        let raw = r#"{"id":9,"hourly_rate":1.50,"task":{"id":2,"name":"A \u00e9"}}"#;
        let data = json!({
            "project_assignment_id": 7,
            "user_id": -3,
            "project_assignments_updated_at": "2024-05-01T10:00:00Z",
            "quoted \"name\"": null,
            "id": 9,
            "hourly_rate": 1.50,
            "task": {"id": 2, "name": "A \u{e9}"},
        });
        let text = line(&writer, raw, &columns);
        let parsed: Value = serde_json::from_str(&text).unwrap();
        let reference: Value = serde_json::from_str(&expected(
            "user_project_tasks",
            data.clone(),
            1_700_000_000_123,
        ))
        .unwrap();
        assert_eq!(parsed, reference);
        assert!(
            text.contains(r#""hourly_rate":1.50"#),
            "raw text kept: {text}"
        );
        // A row of columns only (a role's user).
        let text = line(&writer, "{}", &columns);
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["record"]["data"].as_object().unwrap().len(), 4);
        assert_eq!(Extras::new(&[Extra::ParentId(5)]).parent_id(), Some(5));
    }

    /// A pretty-printed record as a proxy would forward it (CRLF line ends, indents), with
    /// strings that hold spaces, escaped quotes, a trailing backslash and `\n` escapes, and
    /// members in an order serde_json's map would not keep.
    const PRETTY: &str = "{\r\n  \"z\": 1.50,\r\n  \"name\": \"A  \\\"b\\\" c:\\\\\",\n\t\"note\": \"line\\none\",\n  \"a\": [\n    1e3,\n    { \"k\" : null }\n  ],\n  \"id\": 7\n}";
    const COMPACT: &str =
        r#"{"z":1.50,"name":"A  \"b\" c:\\","note":"line\none","a":[1e3,{"k":null}],"id":7}"#;

    #[test]
    fn a_pretty_printed_record_is_written_on_one_line_with_its_text() {
        let mut writer = RecordWriter::new("clients", None);
        writer.set_emitted_at(1);
        let text = line(&writer, PRETTY, &Extras::none());
        assert_eq!(
            text,
            format!("{{\"type\":\"RECORD\",\"record\":{{\"stream\":\"clients\",\"data\":{COMPACT},\"emitted_at\":1}}}}\n")
        );
        let data: Value = serde_json::from_str::<Value>(&text).unwrap()["record"]["data"].take();
        assert_eq!(data, serde_json::from_str::<Value>(PRETTY).unwrap());
        // With extras in front, and narrowed by the catalog: still one line, same text.
        let text = line(&writer, PRETTY, &Extras::new(&[Extra::ParentId(3)]));
        assert!(
            text.contains(&format!("\"data\":{{\"parent_id\":3,{}", &COMPACT[1..])),
            "{text}"
        );
        let narrowed = RecordWriter::new("clients", Some(vec!["a".into(), "z".into()]));
        let text = line(&narrowed, PRETTY, &Extras::none());
        assert!(
            text.contains(r#""data":{"z":1.50,"a":[1e3,{"k":null}]},"#),
            "{text}"
        );
        for text in [text, line(&writer, "\n{\"id\":1}\r\n", &Extras::none())] {
            assert_eq!(text.matches(['\n', '\r']).count(), 1, "{text:?}");
            assert!(text.ends_with('\n'));
        }
    }

    #[test]
    fn compact_text_is_copied_as_it_is_without_a_rewrite() {
        for raw in [COMPACT, r#" { "id": 7, "s": "a\nb" } "#] {
            assert!(
                matches!(one_line(raw), Cow::Borrowed(r) if r == raw),
                "{raw}"
            );
        }
        // A raw newline inside a string (not JSON) still cannot break the line.
        assert_eq!(one_line("{\"s\":\"a\nb\\\rc\"}"), r#"{"s":"a\nb\\rc"}"#);
    }

    #[test]
    fn projection_keeps_the_fields_text_and_order() {
        let writer = RecordWriter::new("s", Some(vec!["id".into(), "b".into(), "a\"q".into()]));
        let raw = r#"{"id":10,"z":{"n":1},"b":1.10,"a\"q":"x","a":1e3}"#;
        let text = line(&writer, raw, &Extras::new(&[Extra::ParentId(3)]));
        assert!(
            text.contains(r#""data":{"parent_id":3,"id":10,"b":1.10,"a\"q":"x"},"#),
            "{text}"
        );
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            parsed["record"]["data"],
            json!({"parent_id": 3, "id": 10, "b": 1.10, "a\"q": "x"})
        );
        // Not an object: written as it is, for the caller's checks to report.
        assert!(line(&writer, "[1]", &Extras::none()).contains(r#""data":[1],"#));
    }
}
