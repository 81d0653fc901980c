//! Parent listings: the ids of a parent stream's records, listed once per sync and shared by
//! every child stream of that parent (invoices for their messages and payments, users for
//! their assignments and rates).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

use super::error::StreamError;
use super::walk;
use super::Run;
use crate::streams;

/// The ids of a parent stream's records, ascending, and when the server listed them.
pub(super) struct ParentList {
    /// The parents' ids, ascending, without repeats.
    pub ids: Vec<i64>,
    /// The server's time at the first page of the listing.
    pub listed_at: Option<DateTime<Utc>>,
}

/// One listing per parent stream and sync, made by whichever child asks first.
#[derive(Default)]
pub(super) struct ParentCache {
    lists: Mutex<BTreeMap<&'static str, Arc<OnceCell<Arc<ParentList>>>>>,
}

impl ParentCache {
    /// The listing of `parent`, made now if no child made it yet.
    pub(super) async fn get(
        &self,
        run: &Run,
        parent: &'static str,
    ) -> Result<Arc<ParentList>, StreamError> {
        let cell = self
            .lists
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(parent)
            .or_default()
            .clone();
        cell.get_or_try_init(|| list(run, parent)).await.cloned()
    }
}

/// Lists every record of `parent` (no `updated_since`: every parent's children are read).
async fn list(run: &Run, parent: &'static str) -> Result<Arc<ParentList>, StreamError> {
    let def = streams::find(parent).expect("parents are rows of the stream table");
    let mut ids = Vec::new();
    let mut listed_at = None;
    let mut bad = 0u64;
    let first = run.first_url(def.path, Vec::new());
    walk::walk(&run.client, &run.links, def, first, |page, date, _| {
        listed_at = listed_at.or(date);
        for record in &page.records {
            match record
                .keys
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|k| k.id())
            {
                Ok(id) => ids.push(id),
                Err(why) => {
                    bad += 1;
                    tracing::error!("stream {parent}: a record cannot be used as a parent: {why}");
                }
            }
        }
        Ok(())
    })
    .await?;
    if bad > 0 {
        return Err(StreamError::BadRecords(bad));
    }
    ids.sort_unstable();
    ids.dedup();
    tracing::info!("listed {} {parent} as parents", ids.len());
    Ok(Arc::new(ParentList { ids, listed_at }))
}
