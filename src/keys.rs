//! The fields of a record the engine looks at: its `id`, its `updated_at`, and its
//! `created_at` (which deletion capture needs, see `read::deletions`).
//!
//! They are found while the page is parsed ([`crate::page`]) and kept as raw JSON text, so
//! that a wrong type is reported here rather than silently coerced.

/// A record's `id`, `updated_at` and `created_at`, and the dates a numbered list is windowed by,
/// as raw JSON text.
#[derive(Debug, Default, PartialEq)]
pub struct RecordKeys<'a> {
    /// The record's `id`.
    pub id: Option<&'a str>,
    /// The record's `updated_at`.
    pub updated_at: Option<&'a str>,
    /// The record's `created_at`.
    pub created_at: Option<&'a str>,
    /// The record's `spent_date` (time entries, expenses).
    pub spent_date: Option<&'a str>,
    /// The record's `issue_date` (invoices, estimates).
    pub issue_date: Option<&'a str>,
}

impl<'a> RecordKeys<'a> {
    /// The id as an integer, or why it is not one.
    pub fn id(&self) -> Result<i64, String> {
        match self.id {
            None | Some("null") => Err("it has no id".into()),
            Some(text) => text
                .parse()
                .map_err(|_| format!("its id is not an integer: {text:.40}")),
        }
    }

    /// `created_at` as an instant; `None` when missing or not a date-time string (older
    /// records may lack it: deletion capture then counts the record as old, never as new).
    pub fn created_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let text = self.created_at?;
        let inner = text.strip_prefix('"')?.strip_suffix('"')?;
        crate::time::parse_instant(inner)
    }

    /// The date member `name` (`spent_date` or `issue_date`) as a date; `None` when missing,
    /// not a date string, or not one of those two.
    pub fn date(&self, name: &str) -> Option<chrono::NaiveDate> {
        let text = match name {
            "spent_date" => self.spent_date?,
            "issue_date" => self.issue_date?,
            _ => return None,
        };
        crate::time::parse_date(text.strip_prefix('"')?.strip_suffix('"')?)
    }

    /// `updated_at` as text, or why it is not a Harvest timestamp.
    pub fn updated_at(&self) -> Result<&'a str, String> {
        match self.updated_at {
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
                "its updated_at is not a date-time string: {text:.40}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_report_wrong_types() {
        let keys = RecordKeys {
            id: Some(r#""7""#),
            updated_at: Some("12"),
            ..RecordKeys::default()
        };
        assert!(keys.id().unwrap_err().contains("not an integer"));
        assert!(keys.updated_at().unwrap_err().contains("not a date-time"));
        let keys = RecordKeys {
            id: Some("2380504951"),
            updated_at: Some(r#""2024-01-01T00:00:00Z""#),
            created_at: Some(r#""2023-12-31T23:00:00Z""#),
            spent_date: Some(r#""2023-12-30""#),
            issue_date: Some("20231230"),
        };
        assert_eq!(
            keys.date("spent_date"),
            chrono::NaiveDate::from_ymd_opt(2023, 12, 30)
        );
        assert_eq!(keys.date("issue_date"), None);
        assert_eq!(keys.date("created_at"), None);
        assert_eq!(
            keys.created_at(),
            crate::time::parse_instant("2023-12-31T23:00:00Z")
        );
        assert_eq!(keys.id().unwrap(), 2_380_504_951);
        assert_eq!(keys.updated_at().unwrap(), "2024-01-01T00:00:00Z");
        assert!(RecordKeys::default().id().unwrap_err().contains("no id"));
    }
}
