//! Helpers of the reliability tests (faults, kill and resume, changes during a sync, hostile
//! server): records keyed the way a destination deduplicates them, and the figures a run reports.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::common::Run;

/// Records per stream, keyed by primary key: what an `append_dedup` destination keeps.
pub type Keyed = BTreeMap<String, BTreeMap<String, Value>>;

/// A record's identity: its primary key, or the whole row for streams that have none (reports,
/// company), as the destination would deduplicate them.
pub fn record_key(stream: &str, record: &Value) -> String {
    let def = source_harvest::streams::find(stream).expect("a known stream");
    if def.primary_key().is_empty() {
        return record.to_string();
    }
    def.primary_key()
        .iter()
        .map(|field| {
            let value = &record[*field];
            assert!(
                !value.is_null(),
                "a {stream} record without its primary key {field}: {record}"
            );
            value.to_string()
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// The RECORD messages among `messages`, deduplicated by [`record_key`]; a later copy of a
/// record replaces an earlier one, as in the destination.
pub fn keyed<'a>(messages: impl IntoIterator<Item = &'a Value>) -> Keyed {
    let mut out = Keyed::new();
    for m in messages {
        if m["type"] == "RECORD" {
            let stream = m["record"]["stream"].as_str().expect("a stream name");
            let data = &m["record"]["data"];
            out.entry(stream.to_string())
                .or_default()
                .insert(record_key(stream, data), data.clone());
        }
    }
    out
}

/// Whether a record is a tombstone: a record deleted in Harvest.
pub fn is_tombstone(data: &Value) -> bool {
    data.get("_ab_cdc_deleted_at")
        .is_some_and(|at| !at.is_null())
}

/// What a destination that hard-deletes on tombstones (destination-postgres) holds: the
/// deduplicated records without the deleted ones.
pub fn replica(mut keyed: Keyed) -> Keyed {
    for records in keyed.values_mut() {
        records.retain(|_, data| !is_tombstone(data));
    }
    keyed
}

/// Merges `later` into `earlier`, later copies winning.
pub fn union(mut earlier: Keyed, later: Keyed) -> Keyed {
    for (stream, records) in later {
        earlier.entry(stream).or_default().extend(records);
    }
    earlier
}

/// Asserts two deduplicated syncs hold the same records, naming the first difference.
pub fn assert_same_records(what: &str, got: &Keyed, expected: &Keyed) {
    let total: usize = expected.values().map(BTreeMap::len).sum();
    assert!(total > 0, "{what}: nothing to compare with");
    for (stream, records) in expected {
        let got_records = got.get(stream).cloned().unwrap_or_default();
        let missing: Vec<&String> = records
            .keys()
            .filter(|k| !got_records.contains_key(*k))
            .collect();
        assert!(
            missing.is_empty(),
            "{what}: {stream} lacks {} of {} records, e.g. {:.200}",
            missing.len(),
            records.len(),
            missing[0]
        );
        for (key, record) in records {
            assert_eq!(
                &got_records[key], record,
                "{what}: {stream} record {key:.200}"
            );
        }
        assert_eq!(
            got_records.len(),
            records.len(),
            "{what}: {stream} has records the expected ones do not"
        );
    }
    for stream in got.keys() {
        assert!(
            expected.contains_key(stream),
            "{what}: records of {stream}, which the expected ones have none of"
        );
    }
}

/// How many records of each stream `run` emitted, duplicates included.
pub fn raw_counts(run: &Run) -> BTreeMap<String, usize> {
    run.records()
        .into_iter()
        .map(|(stream, records)| (stream, records.len()))
        .collect()
}

/// The connector's own closing figures (requests per bucket, retries, 429s, token refreshes),
/// from the log line it ends every read with.
pub fn client_figures(run: &Run) -> String {
    run.of_type("LOG")
        .iter()
        .filter_map(|m| m["log"]["message"].as_str())
        .find_map(|text| text.strip_prefix("requests made:"))
        .unwrap_or("(no figures logged)")
        .to_string()
}

/// One number out of [`client_figures`] (logged as `name=value` fields), e.g. `retries`.
pub fn client_figure(run: &Run, name: &str) -> u64 {
    let figures = client_figures(run);
    let start = figures
        .find(&format!(" {name}="))
        .unwrap_or_else(|| panic!("no {name} in {figures}"))
        + name.len()
        + 2;
    figures[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("a count")
}

/// Every stream's last status.
pub fn last_statuses(run: &Run) -> BTreeMap<String, String> {
    run.statuses()
        .into_iter()
        .map(|(stream, statuses)| (stream, statuses.last().cloned().unwrap_or_default()))
        .collect()
}
