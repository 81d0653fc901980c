//! Deletion capture of a derived stream: its rows' keys are listed with their source's records
//! (the source's listing, see [`super::entity`] and [`super::child`]), so a row is a candidate
//! when its source is gone or no longer holds it (a line item removed from an invoice). A
//! candidate is confirmed by its source, read again: deleted when the source answers 404 or
//! does not hold the row any more.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::{Capture, DELETED_AT};
use crate::harvest::FetchError;
use crate::iblt::Key;
use crate::keys::RecordKeys;
use crate::read::derive;
use crate::read::error::StreamError;
use crate::read::walk;
use crate::read::Run;
use crate::streams::{self, Derived, Kind, StreamDef};

/// The rows of one derived stream's source `first` (its id, or the user of a child source) as
/// Harvest serves them now; `None` when the source is gone.
async fn rows_now(
    run: &Run,
    derived: &Derived,
    first: i64,
) -> Result<Option<BTreeSet<Key>>, String> {
    let source = streams::source(derived);
    let mut rows = BTreeSet::new();
    match source.kind {
        Kind::Child { .. } => {
            let path = source.path.replace("{id}", &first.to_string());
            let walked = walk::walk(
                &run.client,
                &run.links,
                source,
                run.first_url(&path, Vec::new()),
                |page, _, _| {
                    for record in &page.records {
                        let keys = record
                            .keys
                            .as_ref()
                            .map_err(|e| StreamError::Malformed(e.clone()))?;
                        let found = derive::row_keys(derived, record.raw, keys, Some(first))
                            .map_err(StreamError::Malformed)?;
                        rows.extend(found);
                    }
                    Ok(())
                },
            )
            .await;
            match walked {
                Ok(()) => Ok(Some(rows)),
                Err(StreamError::Fetch(FetchError::NotFound { .. })) => Ok(None),
                Err(StreamError::Fetch(e)) => Err(e.to_string()),
                Err(other) => Err(other.to_string()),
            }
        }
        _ => {
            let url = run.client.url(&format!("{}/{first}", source.path), &[]);
            match run
                .client
                .get(&url, crate::read::walk::bucket(source))
                .await
            {
                Ok(response) => {
                    let body = String::from_utf8_lossy(&response.body);
                    let id = first.to_string();
                    let keys = RecordKeys {
                        id: Some(&id),
                        ..RecordKeys::default()
                    };
                    // A source that cannot be read says nothing of its rows: they wait.
                    rows.extend(derive::row_keys(derived, &body, &keys, None)?);
                    Ok(Some(rows))
                }
                Err(FetchError::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.to_string()),
            }
        }
    }
}

/// Confirms the derived streams' candidates by their sources, read again (none for a source
/// whose own tombstone, among `gone_sources`, this sync sends). Returns the rows deleted; when a
/// source cannot be read, the rest wait for the next sync.
pub(in crate::read) async fn confirm(
    run: &Run,
    capture: &mut Capture,
    gone_sources: &[Key],
) -> Vec<(&'static StreamDef, Key)> {
    let mut deleted = Vec::new();
    let pending = std::mem::take(&mut capture.pending_derived);
    for (name, candidates) in pending {
        let Some(def) = capture.derived.iter().copied().find(|d| d.name == name) else {
            continue;
        };
        let derived = def.derived().expect("a derived stream");
        let mut by_source: BTreeMap<i64, Vec<Key>> = BTreeMap::new();
        for key in candidates {
            by_source.entry(key.0).or_default().push(key);
        }
        let mut waiting = Vec::new();
        let mut failed = Vec::new();
        let mut stopped = false;
        for (first, keys) in by_source {
            let source_gone =
                derived.source_parent_id.is_none() && gone_sources.contains(&(first, 0));
            if stopped {
                waiting.extend(keys);
                continue;
            }
            let now = if source_gone {
                Ok(None)
            } else {
                rows_now(run, derived, first).await
            };
            match now {
                Ok(None) => deleted.extend(keys.into_iter().map(|k| (def, k))),
                Ok(Some(rows)) => {
                    tracing::debug!(
                        "stream {name}: candidates {keys:?} of source {first}, which holds {} rows",
                        rows.len()
                    );
                    deleted.extend(
                        keys.into_iter()
                            .filter(|k| !rows.contains(k))
                            .map(|k| (def, k)),
                    );
                }
                Err(e) => {
                    tracing::warn!(
                        "stream {name}: could not read its source {first} again ({e}); its missing rows are checked next sync"
                    );
                    failed.extend(keys);
                    stopped = true;
                }
            }
        }
        // The source that failed goes last, so that it does not hold the others back.
        waiting.extend(failed);
        if !waiting.is_empty() {
            capture.pending_derived.insert(name, waiting);
        }
    }
    deleted
}

/// The record a derived row's tombstone is: its key columns, its cursor and
/// `_ab_cdc_deleted_at`, set to `at`.
pub(in crate::read) fn tombstone(def: &StreamDef, key: Key, at: DateTime<Utc>) -> String {
    let derived = def.derived().expect("a derived stream");
    let at = crate::time::format_instant(at);
    let mut text = String::from("{");
    for (column, value) in derive::key_columns(derived, key) {
        text.push_str(&format!(r#""{column}":{value},"#));
    }
    text.push_str(&format!(
        r#""{}":"{at}","{DELETED_AT}":"{at}"}}"#,
        derived.cursor
    ));
    text
}
