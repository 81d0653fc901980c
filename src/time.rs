//! Instants and days as Harvest and the incumbent's state write them: the one place they are
//! parsed and formatted (state, config, cursors and deletion capture all use these).

use chrono::{DateTime, NaiveDate, Utc};

/// Formats an instant the way Harvest and the incumbent's state do.
pub fn format_instant(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Formats a report date the way the incumbent's state does (`YYYYMMDD`).
pub fn format_date(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

/// Parses an RFC 3339 instant (Harvest's `YYYY-MM-DDTHH:MM:SSZ`, or with fractions/offsets).
pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parses `YYYYMMDD` or `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y%m%d")
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y-%m-%d"))
        .ok()
}
