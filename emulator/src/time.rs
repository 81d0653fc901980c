//! Calendar arithmetic on plain integers.
//!
//! Dates are stored as days since 1970-01-01 and datetimes as seconds since the epoch, so that a
//! million time entries stay small and comparisons are integer comparisons. These helpers convert
//! between those integers and the `YYYY-MM-DD` / `YYYY-MM-DDTHH:MM:SSZ` text Harvest uses.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// The last day of generated activity (2026-06-30): every generated record lies before it, so a
/// report or an incremental sync from any earlier start date finds data.
pub const ANCHOR_DAY: i32 = 20_634;

/// Days since the epoch for a civil date (proleptic Gregorian).
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = (y - era * 400) as u32;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe as i32 - 719_468
}

/// The civil date `(year, month, day)` of a day number.
pub fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u32;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe as i32 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Writes `YYYY-MM-DD` for a day number.
pub fn write_date(out: &mut Vec<u8>, day: i32) {
    let (y, m, d) = civil_from_days(day);
    push4(out, y as u32);
    out.push(b'-');
    push2(out, m);
    out.push(b'-');
    push2(out, d);
}

/// Writes `YYYY-MM-DDTHH:MM:SSZ` for epoch seconds.
pub fn write_datetime(out: &mut Vec<u8>, secs: i64) {
    let day = secs.div_euclid(DAY);
    let rem = secs.rem_euclid(DAY) as u32;
    write_date(out, day as i32);
    out.push(b'T');
    push2(out, rem / 3600);
    out.push(b':');
    push2(out, rem / 60 % 60);
    out.push(b':');
    push2(out, rem % 60);
    out.push(b'Z');
}

fn push2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

fn push4(out: &mut Vec<u8>, v: u32) {
    push2(out, v / 100);
    push2(out, v % 100);
}

/// Parses a date as Harvest accepts it: `YYYY-MM-DD` or `YYYYMMDD`.
pub fn parse_date(s: &str) -> Option<i32> {
    let digits: String = s.chars().filter(|c| *c != '-').collect();
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() != 8 && !(s.len() == 10 && &s[4..5] == "-" && &s[7..8] == "-") {
        return None;
    }
    let y: i32 = digits[0..4].parse().ok()?;
    let m: u32 = digits[4..6].parse().ok()?;
    let d: u32 = digits[6..8].parse().ok()?;
    chrono::NaiveDate::from_ymd_opt(y, m, d)?;
    Some(days_from_civil(y, m, d))
}

/// Parses an ISO 8601 datetime (`updated_since`): with `Z` or an offset, with or without
/// fractional seconds, a naive datetime taken as UTC, or a bare date taken as its midnight.
/// Returns epoch seconds, rounded down, which keeps a strict `>` comparison exact.
pub fn parse_datetime(s: &str) -> Option<i64> {
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(dt.and_utc().timestamp());
        }
    }
    parse_date(s).map(|d| i64::from(d) * DAY)
}

/// The emulator's "now": real time plus an offset a test advances, so hours of server time
/// (the `Date` header, the stamps of changed records, OAuth token expiry) pass in no time at
/// all. Rate-limit windows and fault timings stay on the real monotonic clock: they are about
/// how fast the client goes, not what time the account thinks it is.
#[derive(Debug, Default)]
pub struct Clock {
    offset: AtomicI64,
}

impl Clock {
    /// Moves the clock by `seconds` (negative moves it back) and returns the new now.
    pub fn advance(&self, seconds: i64) -> i64 {
        self.offset.fetch_add(seconds, Ordering::SeqCst);
        self.now_secs()
    }

    fn offset(&self) -> i64 {
        self.offset.load(Ordering::SeqCst)
    }

    /// Now in epoch seconds: what a mutation stamps into `updated_at`.
    pub fn now_secs(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        real.saturating_add(self.offset())
    }

    /// Now as a `SystemTime` (the `Date` header).
    pub fn now_system(&self) -> SystemTime {
        let (now, by) = (SystemTime::now(), self.offset_duration());
        if self.offset() >= 0 {
            now.checked_add(by)
        } else {
            now.checked_sub(by)
        }
        .unwrap_or(now)
    }

    /// Now as an `Instant` moved by the offset, for deadlines such as token expiry that follow
    /// the advanced clock but keep sub-second precision.
    pub fn now_instant(&self) -> Instant {
        let (now, by) = (Instant::now(), self.offset_duration());
        if self.offset() >= 0 {
            now.checked_add(by)
        } else {
            now.checked_sub(by)
        }
        .unwrap_or(now)
    }

    fn offset_duration(&self) -> Duration {
        Duration::from_secs(self.offset().unsigned_abs())
    }

    /// Now as `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn now_string(&self) -> String {
        let mut out = Vec::with_capacity(20);
        write_datetime(&mut out, self.now_secs());
        String::from_utf8(out).unwrap_or_default()
    }
}

/// A display time for minutes after midnight on the account's `clock`: `"3:05pm"` on the
/// 12-hour clock, `"15:05"` on the 24-hour one.
pub fn clock_string(minutes: u32, clock: &str) -> String {
    let h = minutes / 60 % 24;
    let m = minutes % 60;
    if clock == "24h" {
        return format!("{h:02}:{m:02}");
    }
    let (h12, suffix) = match h {
        0 => (12, "am"),
        1..=11 => (h, "am"),
        12 => (12, "pm"),
        _ => (h - 12, "pm"),
    };
    format!("{h12}:{m:02}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2026, 6, 30), ANCHOR_DAY);
        for d in [-1000, 0, 59, 60, 11_016, ANCHOR_DAY] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

    #[test]
    fn formats_and_parses() {
        let mut v = Vec::new();
        write_datetime(&mut v, i64::from(ANCHOR_DAY) * DAY + 3661);
        assert_eq!(String::from_utf8(v).unwrap(), "2026-06-30T01:01:01Z");
        assert_eq!(parse_date("20260630"), Some(ANCHOR_DAY));
        assert_eq!(parse_date("2026-06-30"), Some(ANCHOR_DAY));
        assert_eq!(parse_date("2026-02-30"), None);
        assert_eq!(parse_date("2026-0630"), None);
        assert_eq!(
            parse_datetime("2026-06-30T00:00:01.9Z"),
            Some(i64::from(ANCHOR_DAY) * DAY + 1)
        );
        assert_eq!(
            parse_datetime("2026-06-30T02:00:00+02:00"),
            Some(i64::from(ANCHOR_DAY) * DAY)
        );
        assert_eq!(clock_string(15 * 60, "12h"), "3:00pm");
        assert_eq!(clock_string(9 * 60 + 5, "12h"), "9:05am");
        assert_eq!(clock_string(9 * 60 + 5, "24h"), "09:05");
        assert_eq!(clock_string(12 * 60 + 51, "24h"), "12:51");
    }

    #[test]
    fn clock_advances_every_view_of_now() {
        let clock = Clock::default();
        let (secs, system, instant) = (clock.now_secs(), SystemTime::now(), Instant::now());
        assert!((3600..3660).contains(&(clock.advance(3600) - secs)));
        let ahead = clock.now_system().duration_since(system).unwrap();
        assert!(ahead >= Duration::from_secs(3600) && ahead < Duration::from_secs(3660));
        let ahead = clock.now_instant().duration_since(instant);
        assert!(ahead >= Duration::from_secs(3600) && ahead < Duration::from_secs(3660));
        clock.advance(-7200);
        assert!(clock.now_system() < SystemTime::now());
        assert!(clock.now_instant() < Instant::now());
    }
}
