//! What a report stream keeps of the windows it will read again (`read::readers::report`):
//! the key of every row each held, so that a row Harvest no longer answers in a window read
//! again (its time moved to another project, deleted, invoiced) gets a tombstone instead of
//! staying in the warehouse with its old hours.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::{says, StateError};
use crate::time::{format_date, parse_date};

/// The windows of a report stream that later syncs read again, with their rows' keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportWindows {
    /// The user (and roles) the token acted as when the rows were read: another user may see
    /// fewer rows, so the windows are compared only when the same one reads them again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The windows, ascending.
    #[serde(default)]
    pub read: Vec<WindowRows>,
}

/// One window and the keys of the rows its last complete read answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowRows {
    /// The window's first day.
    #[serde(with = "day")]
    pub from: NaiveDate,
    /// The window's last day.
    #[serde(with = "day")]
    pub to: NaiveDate,
    /// Its rows.
    pub rows: RowKeys,
}

/// The keys of a window's rows: subject ids by currency (`""` for rows without one, which
/// Harvest answers to users who may not see amounts).
///
/// Stored as `{"USD": "1017,3,40"}`: ascending ids, each after the first as its difference from
/// the one before, which keeps a window of two thousand projects to a few kilobytes of state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowKeys(BTreeMap<String, BTreeSet<i64>>);

impl RowKeys {
    /// Adds a row's key.
    pub fn insert(&mut self, currency: &str, id: i64) {
        match self.0.get_mut(currency) {
            Some(ids) => {
                ids.insert(id);
            }
            None => {
                self.0.insert(currency.to_string(), BTreeSet::from([id]));
            }
        }
    }

    /// The keys held here that `other` does not hold: `(currency, id)`.
    pub fn missing_from<'a>(&'a self, other: &'a RowKeys) -> impl Iterator<Item = (&'a str, i64)> {
        self.0.iter().flat_map(move |(currency, ids)| {
            let theirs = other.0.get(currency);
            ids.iter()
                .filter(move |id| !theirs.is_some_and(|t| t.contains(id)))
                .map(move |id| (currency.as_str(), *id))
        })
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.0.values().map(BTreeSet::len).sum()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Serialize for RowKeys {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text: BTreeMap<&str, String> = self
            .0
            .iter()
            .map(|(currency, ids)| {
                let mut previous = None;
                let deltas: Vec<String> = ids
                    .iter()
                    .map(|&id| {
                        let shown = previous.map_or(id, |p: i64| id - p);
                        previous = Some(id);
                        shown.to_string()
                    })
                    .collect();
                (currency.as_str(), deltas.join(","))
            })
            .collect();
        text.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RowKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = BTreeMap::<String, String>::deserialize(deserializer)?;
        let mut keys = RowKeys::default();
        for (currency, list) in text {
            let mut id: Option<i64> = None;
            let ids = keys.0.entry(currency.clone()).or_default();
            for part in list.split(',').filter(|p| !p.is_empty()) {
                let step: i64 = part.parse().map_err(|_| {
                    serde::de::Error::custom(format!(
                        "the row keys of {currency:?} hold {part:?}, not an integer"
                    ))
                })?;
                let next = match id {
                    None => step,
                    Some(previous) if step > 0 => previous.checked_add(step).ok_or_else(|| {
                        serde::de::Error::custom(format!("the row keys of {currency:?} overflow"))
                    })?,
                    Some(_) => {
                        return Err(serde::de::Error::custom(format!(
                            "the row keys of {currency:?} are not ascending"
                        )))
                    }
                };
                ids.insert(next);
                id = Some(next);
            }
        }
        Ok(keys)
    }
}

/// Names the member of a state's `windows` (or `resume.rows`) that cannot be read, which the
/// whole state's parse would not.
pub(super) fn check_windows(object: &serde_json::Map<String, Value>) -> Result<(), StateError> {
    let remove = "; remove it to read the report's windows again without comparing them";
    // Another type than an object is the state parser's to name.
    if let Some(windows) = object.get("windows").filter(|v| v.is_object()) {
        ReportWindows::deserialize(windows)
            .map_err(|e| ("windows".to_string(), says(format!("{e}{remove}"))))?;
    }
    if let Some(rows) = object
        .get("resume")
        .and_then(|r| r.get("rows"))
        .filter(|v| v.is_object())
    {
        RowKeys::deserialize(rows)
            .map_err(|e| ("resume.rows".to_string(), says(format!("{e}{remove}"))))?;
    }
    Ok(())
}

/// A day as a state holds it: `YYYYMMDD`.
mod day {
    use super::*;

    pub fn serialize<S: Serializer>(day: &NaiveDate, serializer: S) -> Result<S::Ok, S::Error> {
        format_date(*day).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_date(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("{text:?} is not a date like 20240125"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(rows: &[(&str, i64)]) -> RowKeys {
        let mut keys = RowKeys::default();
        for (currency, id) in rows {
            keys.insert(currency, *id);
        }
        keys
    }

    #[test]
    fn row_keys_are_stored_as_differences_and_read_back() {
        let k = keys(&[
            ("USD", 1017),
            ("USD", 1020),
            ("USD", 1060),
            ("EUR", 5),
            ("", 9),
        ]);
        let text = serde_json::to_value(&k).unwrap();
        assert_eq!(
            text,
            serde_json::json!({"": "9", "EUR": "5", "USD": "1017,3,40"})
        );
        assert_eq!(serde_json::from_value::<RowKeys>(text).unwrap(), k);
        assert_eq!(k.len(), 5);
    }

    #[test]
    fn malformed_row_keys_are_refused_with_what_is_wrong() {
        for (text, says) in [
            (r#"{"USD": "1,x"}"#, "\"x\", not an integer"),
            (r#"{"USD": "5,-2"}"#, "not ascending"),
            (r#"{"USD": "5,0"}"#, "not ascending"),
            (r#"{"USD": "9223372036854775807,1"}"#, "overflow"),
            (r#"{"USD": 5}"#, "expected a string"),
        ] {
            let e = serde_json::from_str::<RowKeys>(text)
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn missing_from_names_the_rows_the_other_lacks_by_currency() {
        let before = keys(&[("USD", 1), ("USD", 2), ("EUR", 2), ("", 7)]);
        let after = keys(&[("USD", 2), ("EUR", 3)]);
        let gone: Vec<_> = before.missing_from(&after).collect();
        assert_eq!(gone, vec![("", 7), ("EUR", 2), ("USD", 1)]);
        assert!(after.missing_from(&after).next().is_none());
    }

    #[test]
    fn windows_read_back_with_their_days() {
        let text = serde_json::json!({"user": "user 1 as administrator", "read": [
            {"from": "20250101", "to": "20251231", "rows": {"USD": "4,1"}}
        ]});
        let windows: ReportWindows = serde_json::from_value(text.clone()).unwrap();
        assert_eq!(
            windows.read[0].from,
            NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()
        );
        assert_eq!(windows.read[0].rows, keys(&[("USD", 4), ("USD", 5)]));
        assert_eq!(serde_json::to_value(&windows).unwrap(), text);
        let bad =
            serde_json::json!({"read": [{"from": "2025-13-01", "to": "20251231", "rows": {}}]});
        let e = serde_json::from_value::<ReportWindows>(bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a date like 20240125"), "{e}");
    }
}
