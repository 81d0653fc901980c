//! When a child stream's round read parents other than by its sweep, as text for the state:
//! base64 of, for each parent in ascending order, its distance from the one before and its
//! time's distance in seconds from the round's start (zigzag varints). A parent and its time
//! take about 5 bytes instead of about 24 as JSON, so a round can keep hundreds.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};

use crate::varint;

/// `times` (ascending by parent) as text, their times counted from `base`; empty without any.
pub fn encode(
    times: impl IntoIterator<Item = (i64, DateTime<Utc>)>,
    base: DateTime<Utc>,
) -> String {
    let mut bytes = Vec::new();
    let mut before = 0i64;
    for (parent, at) in times {
        varint::put(&mut bytes, varint::zigzag(parent.wrapping_sub(before)));
        varint::put(
            &mut bytes,
            varint::zigzag(at.timestamp() - base.timestamp()),
        );
        before = parent;
    }
    STANDARD_NO_PAD.encode(bytes)
}

/// The parents and times [`encode`] wrote with the same `base`, or why the text is not that.
pub fn decode(text: &str, base: DateTime<Utc>) -> Result<Vec<(i64, DateTime<Utc>)>, String> {
    let bytes = STANDARD_NO_PAD
        .decode(text)
        .map_err(|e| format!("not base64 ({e})"))?;
    let mut bytes = bytes.as_slice();
    let mut times = Vec::new();
    let mut parent = 0i64;
    while !bytes.is_empty() {
        parent = parent.wrapping_add(varint::unzigzag(varint::take(&mut bytes)?));
        let secs = varint::unzigzag(varint::take(&mut bytes)?);
        let at = (base.timestamp().checked_add(secs))
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .ok_or_else(|| format!("parent {parent}'s time is out of range"))?;
        times.push((parent, at));
    }
    Ok(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn parents_and_times_round_trip_in_about_five_bytes_each() {
        let times: Vec<(i64, DateTime<Utc>)> = (0..256)
            .map(|i| (13_150_403 + 37 * i, t(86_400 - 300 * i)))
            .chain([(-5, t(-10))])
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_iter()
            .collect();
        let text = encode(times.iter().copied(), t(0));
        assert_eq!(decode(&text, t(0)), Ok(times));
        assert!(text.len() < 256 * 7, "{}", text.len());
        assert_eq!(encode([], t(0)), "");
        assert_eq!(decode("", t(0)), Ok(Vec::new()));
    }

    #[test]
    fn bad_text_is_refused() {
        assert!(decode("%%", t(0)).is_err());
        // A parent without its time.
        assert!(decode(&STANDARD_NO_PAD.encode([2]), t(0)).is_err());
        // A time beyond what a date can be.
        let mut far = vec![2];
        varint::put(&mut far, varint::zigzag(i64::MAX / 2));
        assert!(decode(&STANDARD_NO_PAD.encode(far), t(0))
            .unwrap_err()
            .contains("out of range"));
    }
}
