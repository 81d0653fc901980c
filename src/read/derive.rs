//! Derived rows: what a derived stream takes from one record of its source (see
//! [`crate::streams::Derived`]). Only the one member is parsed, as raw text; the rows are
//! written by [`crate::protocol::RecordWriter`] like any record, the added columns as
//! [`Extras`].

use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::iblt::Key;
use crate::keys::RecordKeys;
use crate::protocol::{Extra, Extras};
use crate::streams::{Derived, Rows};

/// Calls `row` with the added columns and the raw text of each row `derived` takes from the
/// source record `raw` (its keys read, `extras` those the source's reader gave it). A member
/// that is missing or `null` yields no row; one of another shape is an error.
pub(super) fn rows<'a>(
    derived: &Derived,
    raw: &'a str,
    keys: &RecordKeys<'_>,
    extras: &Extras,
    mut row: impl FnMut(&Extras, &'a str),
) -> Result<(), String> {
    let id = keys.id()?;
    let mut columns = vec![Extra::Int {
        name: derived.source_id,
        value: id,
    }];
    if let Some(name) = derived.source_parent_id {
        let value = extras
            .parent_id()
            .ok_or_else(|| "it was listed without its parent's id".to_string())?;
        columns.push(Extra::Int { name, value });
    }
    columns.push(Extra::Text {
        name: derived.cursor,
        value: keys.updated_at().ok(),
    });
    let Some(value) = member(raw, derived.field)? else {
        return Ok(());
    };
    let text = value.get();
    let wrong = |what: &str| format!("its {} is not {what}: {text:.40}", derived.field);
    match derived.rows {
        Rows::Object if text.starts_with('{') => row(&Extras::new(&columns), text),
        Rows::Object => return Err(wrong("an object")),
        Rows::Objects => {
            // Each item is handed on as it is met: no list of the items is made.
            let extras = Extras::new(&columns);
            let mut objects = true;
            let mut each = |item: &'a str| match item {
                "null" => {}
                _ if item.starts_with('{') => row(&extras, item),
                _ => objects = false,
            };
            let mut de = serde_json::Deserializer::from_str(text);
            ItemsSeed(&mut each)
                .deserialize(&mut de)
                .map_err(|_| wrong("an array"))?;
            if !objects {
                return Err(wrong("an array of objects"));
            }
        }
        Rows::Ids(name) => {
            let ids: Vec<Option<i64>> =
                serde_json::from_str(text).map_err(|_| wrong("an array of integers"))?;
            for value in ids.into_iter().flatten() {
                columns.push(Extra::Int { name, value });
                row(&Extras::new(&columns), "{}");
                columns.pop();
            }
        }
    }
    Ok(())
}

/// The keys of the rows `derived` takes from the source record `raw`, as deletion capture
/// counts them: the source's id (or, for a child source, its parent's: the user of a project
/// assignment) and the row's own (its `id`, the id itself for [`Rows::Ids`], 0 for the one row
/// of [`Rows::Object`]). Rows without an id cannot be told apart and are not counted.
pub(super) fn row_keys(
    derived: &Derived,
    raw: &str,
    keys: &RecordKeys<'_>,
    parent: Option<i64>,
) -> Result<Vec<Key>, String> {
    Ok(dated_row_keys(derived, raw, keys, parent)?
        .into_iter()
        .map(|(key, _)| key)
        .collect())
}

/// A row's key and when it was created, where it says.
pub(super) type DatedKey = (Key, Option<DateTime<Utc>>);

/// The keys of the rows (see [`row_keys`]), each with the row's own `created_at` where it has
/// one (a project assignment's task assignments do): a row added to a source long after the
/// source was created is new, as a record is.
pub(super) fn dated_row_keys(
    derived: &Derived,
    raw: &str,
    keys: &RecordKeys<'_>,
    parent: Option<i64>,
) -> Result<Vec<DatedKey>, String> {
    let first = match derived.source_parent_id {
        Some(_) => parent.ok_or_else(|| "it was listed without its parent's id".to_string())?,
        None => keys.id()?,
    };
    let Some(value) = member(raw, derived.field)? else {
        return Ok(Vec::new());
    };
    let text = value.get();
    let wrong = |what: &str| format!("its {} is not {what}: {text:.40}", derived.field);
    let rows: Vec<(i64, Option<DateTime<Utc>>)> = match derived.rows {
        Rows::Object => vec![(0, None)],
        Rows::Objects => {
            // A `created_at` that is no date-time string is as if missing: the row's key is
            // what matters.
            #[derive(serde::Deserialize)]
            struct Row<'a> {
                id: Option<i64>,
                #[serde(borrow)]
                created_at: Option<&'a RawValue>,
            }
            let rows: Vec<Option<Row>> =
                serde_json::from_str(text).map_err(|_| wrong("an array of objects"))?;
            (rows.into_iter().flatten())
                .filter_map(|r| {
                    let created = (r.created_at)
                        .and_then(|v| serde_json::from_str::<&str>(v.get()).ok())
                        .and_then(crate::time::parse_instant);
                    Some((r.id?, created))
                })
                .collect()
        }
        Rows::Ids(_) => {
            let ids: Vec<Option<i64>> =
                serde_json::from_str(text).map_err(|_| wrong("an array of integers"))?;
            ids.into_iter().flatten().map(|id| (id, None)).collect()
        }
    };
    Ok(rows
        .into_iter()
        .map(|(id, created)| ((first, id), created))
        .collect())
}

/// The columns of a derived stream's row with the key `key` (see [`row_keys`]), in the order
/// of its primary key and source id.
pub(super) fn key_columns(derived: &Derived, key: Key) -> Vec<(&'static str, i64)> {
    let first = derived.source_parent_id.unwrap_or(derived.source_id);
    let mut columns = vec![(first, key.0)];
    match derived.rows {
        Rows::Object => {}
        Rows::Objects => columns.push(("id", key.1)),
        Rows::Ids(name) => columns.push((name, key.1)),
    }
    columns
}

/// The raw value of `raw`'s member `field`; `None` when it is missing or `null`. The other
/// members are skipped unparsed and no member name is copied.
pub(super) fn member<'a>(raw: &'a str, field: &str) -> Result<Option<&'a RawValue>, String> {
    let mut de = serde_json::Deserializer::from_str(raw);
    let value = MemberSeed(field)
        .deserialize(&mut de)
        .map_err(|e| format!("it cannot be read for its {field}: {e}"))?;
    Ok(value.filter(|v| v.get() != "null"))
}

/// Finds one member of an object, skipping the others unparsed.
struct MemberSeed<'f>(&'f str);

impl<'de> DeserializeSeed<'de> for MemberSeed<'_> {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MemberSeed<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_it) = map.next_key_seed(IsKey(self.0))? {
            if found.is_none() && is_it {
                found = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Whether an object's key is the one sought, compared where it lies in the text (or in the
/// parser's scratch space when it holds an escape): no key is copied.
struct IsKey<'f>(&'f str);

impl<'de> DeserializeSeed<'de> for IsKey<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for IsKey<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

/// Hands each item of an array, as raw text, to a function as it is parsed.
struct ItemsSeed<'f, F>(&'f mut F);

impl<'de, F: FnMut(&'de str)> DeserializeSeed<'de> for ItemsSeed<'_, F> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(&'de str)> Visitor<'de> for ItemsSeed<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<S: de::SeqAccess<'de>>(self, mut items: S) -> Result<(), S::Error> {
        while let Some(item) = items.next_element::<&'de RawValue>()? {
            (self.0)(item.get());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::streams;

    /// The rows of `stream` from `raw`, each as the JSON object it is written as.
    fn derive(stream: &str, raw: &str, extras: &Extras) -> Result<Vec<Value>, String> {
        let derived = streams::find(stream).unwrap().derived().unwrap();
        let keys: RecordKeys = RecordKeys {
            id: Some("7"),
            updated_at: Some(r#""2024-05-01T10:00:00Z""#),
            ..RecordKeys::default()
        };
        let writer = crate::protocol::RecordWriter::new(stream, None);
        let mut lines = Vec::new();
        rows(derived, raw, &keys, extras, |extras, row| {
            writer.write(&mut lines, row, extras)
        })?;
        Ok(String::from_utf8(lines)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["record"]["data"].clone())
            .collect())
    }

    #[test]
    fn a_member_name_written_with_an_escape_is_found() {
        let raw = r#"{"id":7,"line\u005fitems":[{"id":1}]}"#;
        let rows = derive("invoice_line_items", raw, &Extras::none()).unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0]["id"], 1);
    }

    #[test]
    fn line_items_gain_their_invoices_id_and_updated_at() {
        let raw =
            r#"{"id":7,"line_items":[{"id":1,"amount":1.50},null,{"id":2}],"x":{"line_items":5}}"#;
        let rows = derive("invoice_line_items", raw, &Extras::none()).unwrap();
        assert_eq!(
            rows,
            [
                json!({"invoice_id": 7, "invoices_updated_at": "2024-05-01T10:00:00Z", "id": 1, "amount": 1.50}),
                json!({"invoice_id": 7, "invoices_updated_at": "2024-05-01T10:00:00Z", "id": 2}),
            ]
        );
        assert!(derive("invoice_line_items", r#"{"id":7}"#, &Extras::none())
            .unwrap()
            .is_empty());
        let err = derive(
            "invoice_line_items",
            r#"{"line_items":{"id":1}}"#,
            &Extras::none(),
        )
        .unwrap_err();
        assert!(err.contains("not an array"), "{err}");
    }

    #[test]
    fn an_external_reference_is_one_row_and_null_is_none() {
        let raw = r#"{"id":7,"external_reference":{"id":"301","service":"github.com"}}"#;
        let rows = derive("time_entry_external_reference", raw, &Extras::none()).unwrap();
        assert_eq!(
            rows,
            [
                json!({"time_entry_id": 7, "time_entries_updated_at": "2024-05-01T10:00:00Z", "id": "301", "service": "github.com"})
            ]
        );
        let none = r#"{"id":7,"external_reference":null}"#;
        assert!(
            derive("time_entry_external_reference", none, &Extras::none())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn the_keys_of_rows_are_their_source_or_user_and_their_own_id() {
        let keys = RecordKeys {
            id: Some("7"),
            ..RecordKeys::default()
        };
        let derived = |name: &str| streams::find(name).unwrap().derived().unwrap();
        let items = r#"{"id":7,"line_items":[{"id":70},null,{"id":71}]}"#;
        assert_eq!(
            row_keys(derived("invoice_line_items"), items, &keys, None),
            Ok(vec![(7, 70), (7, 71)])
        );
        let reference = r#"{"id":7,"external_reference":{"id":"x"}}"#;
        let external = derived("time_entry_external_reference");
        assert_eq!(row_keys(external, reference, &keys, None), Ok(vec![(7, 0)]));
        let none = r#"{"id":7,"external_reference":null}"#;
        assert_eq!(row_keys(external, none, &keys, None), Ok(vec![]));
        let roles = r#"{"id":7,"user_ids":[3,4]}"#;
        assert_eq!(
            row_keys(derived("user_roles"), roles, &keys, None),
            Ok(vec![(7, 3), (7, 4)])
        );
        let tasks = r#"{"id":7,"task_assignments":[{"id":9}]}"#;
        let user_tasks = derived("user_project_tasks");
        assert_eq!(
            row_keys(user_tasks, tasks, &keys, Some(5)),
            Ok(vec![(5, 9)])
        );
        assert!(row_keys(user_tasks, tasks, &keys, None).is_err());
        let dated = r#"{"id":7,"task_assignments":[{"id":9,"created_at":"2026-01-02T03:04:05Z"},{"id":8,"created_at":null},{"id":6,"created_at":17}]}"#;
        assert_eq!(
            dated_row_keys(user_tasks, dated, &keys, Some(5)),
            Ok(vec![
                ((5, 9), crate::time::parse_instant("2026-01-02T03:04:05Z")),
                ((5, 8), None),
                ((5, 6), None)
            ])
        );
        assert_eq!(key_columns(user_tasks, (5, 9)), [("user_id", 5), ("id", 9)]);
        assert_eq!(key_columns(external, (7, 0)), [("time_entry_id", 7)]);
    }

    #[test]
    fn user_ids_are_one_row_each_and_task_assignments_carry_the_user() {
        let raw = r#"{"id":7,"user_ids":[3,null,4]}"#;
        let rows = derive("user_roles", raw, &Extras::none()).unwrap();
        let row = |user: i64| json!({"role_id": 7, "roles_updated_at": "2024-05-01T10:00:00Z", "user_id": user});
        assert_eq!(rows, [row(3), row(4)]);
        let raw = r#"{"id":7,"task_assignments":[{"id":9,"updated_at":"2020-01-01T00:00:00Z"}]}"#;
        let user = Extras::new(&[Extra::ParentId(5)]);
        let rows = derive("user_project_tasks", raw, &user).unwrap();
        assert_eq!(
            rows,
            [
                json!({"project_assignment_id": 7, "user_id": 5, "project_assignments_updated_at": "2024-05-01T10:00:00Z", "id": 9, "updated_at": "2020-01-01T00:00:00Z"})
            ]
        );
        let err = derive("user_project_tasks", raw, &Extras::none()).unwrap_err();
        assert!(err.contains("parent"), "{err}");
    }
}
