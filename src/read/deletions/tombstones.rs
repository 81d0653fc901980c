//! Confirmed deletions as records: the ids a list holds now (what confirms a candidate that
//! has no lookup by id), and the tombstones written for those Harvest no longer has.

use chrono::{DateTime, Utc};

use super::{derived, Capture, DELETED_AT};
use crate::iblt::Key;
use crate::read::error::StreamError;
use crate::read::{emit, walk, Run};
use crate::streams::{Kind, StreamDef};

/// The ids of every record of the list at `first`, walked to its end.
pub(super) async fn listed_ids(
    run: &Run,
    def: &'static StreamDef,
    first: url::Url,
) -> Result<std::collections::BTreeSet<i64>, StreamError> {
    let mut listed = std::collections::BTreeSet::new();
    walk::walk(&run.client, &run.links, def, first, |page, _, _| {
        listed.extend(
            page.records
                .iter()
                .filter_map(|r| r.keys.as_ref().ok().and_then(|k| k.id().ok())),
        );
        Ok(())
    })
    .await?;
    Ok(listed)
}

/// Writes the tombstones of the records Harvest confirmed `gone` (keys of the stream being
/// read), then confirms its derived streams' candidates and writes theirs, all seen at `at`.
pub(in crate::read) async fn write_tombstones(
    run: &Run,
    capture: &mut Capture,
    out: &mut emit::Emitter<'_>,
    gone: &[Key],
    at: DateTime<Utc>,
) -> Result<(), StreamError> {
    for key in gone {
        out.tombstone(&tombstone(capture.def, *key, at));
    }
    for (def, key) in derived::confirm(run, capture, gone).await {
        out.derived_tombstone(def.name, &derived::tombstone(def, key, at));
    }
    out.flush_page()
}

/// The record a tombstone is: the key (with the parent of a child record), the cursor and
/// `_ab_cdc_deleted_at`, set to `at`.
pub(super) fn tombstone(def: &StreamDef, key: Key, at: DateTime<Utc>) -> String {
    let at = crate::time::format_instant(at);
    let cursor = def.cursor_field().unwrap_or("updated_at");
    let (parent, id) = match def.kind {
        Kind::Child { .. } => (Some(key.0), key.1),
        _ => (None, key.0),
    };
    let parent = parent.map_or(String::new(), |p| format!(r#""parent_id":{p},"#));
    format!(r#"{{{parent}"id":{id},"{cursor}":"{at}","{DELETED_AT}":"{at}"}}"#)
}
