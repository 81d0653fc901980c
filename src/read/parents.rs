//! Parent listings: the ids (and `updated_at`) of a parent stream's records, listed once per
//! sync and shared by every child stream of that parent (invoices for their messages and
//! payments, users for their assignments and rates), and the listings of the streams that
//! touch a parent's children without touching the parent ([`Touch`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::{watch, OnceCell};

use super::error::StreamError;
use super::walk;
use super::Run;
use crate::streams::{self, Touch};

/// A parent stream's records, ascending by id, and when the server listed them.
pub(super) struct ParentList {
    /// Each parent's id (ascending, without repeats) and `updated_at` (`None`: it had none).
    pub parents: Vec<(i64, Option<DateTime<Utc>>)>,
    /// The server's time at the first page of the listing.
    pub listed_at: Option<DateTime<Utc>>,
}

impl ParentList {
    /// The parents' ids, ascending.
    pub(super) fn ids(&self) -> Vec<i64> {
        self.parents.iter().map(|(id, _)| *id).collect()
    }
}

/// What a parent stream's own read has handed its children so far.
enum Published {
    /// Nothing yet: the read is under way.
    Pending,
    /// The complete listing.
    Listed(Arc<ParentList>),
    /// The read failed: the children list the parents themselves.
    Failed,
}

/// One listing per parent stream and sync: the parent stream's own, when this sync reads it in
/// full, or one made by whichever child asks first.
#[derive(Default)]
pub(super) struct ParentCache {
    lists: Mutex<BTreeMap<&'static str, Entry>>,
}

#[derive(Default)]
struct Entry {
    listing: Arc<OnceCell<Arc<ParentList>>>,
    /// The parent stream's read publishes here (registered when the sync was planned).
    published: Option<watch::Receiver<Published>>,
    publisher: Option<watch::Sender<Published>>,
}

impl ParentCache {
    /// Registers that `parent`'s own read will list every parent: its children wait for it
    /// instead of listing them again.
    pub(super) fn expect_from_stream(&self, parent: &'static str) {
        let (tx, rx) = watch::channel(Published::Pending);
        let mut lists = self.lists.lock().unwrap_or_else(|e| e.into_inner());
        let entry = lists.entry(parent).or_default();
        entry.published = Some(rx);
        entry.publisher = Some(tx);
    }

    /// The publisher of `stream`'s listing, if the plan expects its read to make one.
    pub(super) fn publisher(&self, stream: &'static str) -> Option<Publisher> {
        let mut lists = self.lists.lock().unwrap_or_else(|e| e.into_inner());
        let tx = lists.get_mut(stream)?.publisher.take()?;
        Some(Publisher {
            tx,
            parents: Vec::new(),
            listed_at: None,
        })
    }

    /// The listing of `parent`: the parent stream's own when the plan expects one, else made
    /// now if no child made it yet.
    pub(super) async fn get(
        &self,
        run: &Run,
        parent: &'static str,
    ) -> Result<Arc<ParentList>, StreamError> {
        let (cell, published) = {
            let mut lists = self.lists.lock().unwrap_or_else(|e| e.into_inner());
            let entry = lists.entry(parent).or_default();
            (entry.listing.clone(), entry.published.clone())
        };
        if let Some(mut published) = published {
            let settled = published.wait_for(|p| !matches!(p, Published::Pending));
            if let Ok(outcome) = settled.await {
                if let Published::Listed(list) = &*outcome {
                    return Ok(list.clone());
                }
            }
        }
        cell.get_or_try_init(|| list(run, parent)).await.cloned()
    }
}

/// A parent stream's read collecting the listing its children will use. Dropped without
/// [`Publisher::publish`] (the read failed), it tells the children to list the parents
/// themselves.
pub(super) struct Publisher {
    tx: watch::Sender<Published>,
    parents: Vec<(i64, Option<DateTime<Utc>>)>,
    listed_at: Option<DateTime<Utc>>,
}

impl Publisher {
    /// Adds a page of the parent stream, every record whatever the read emits of it.
    pub(super) fn add(&mut self, page: &crate::page::Page<'_>, date: Option<DateTime<Utc>>) {
        self.listed_at = self.listed_at.or(date);
        for record in &page.records {
            if let Ok(keys) = &record.keys {
                if let Ok(id) = keys.id() {
                    let updated = keys.updated_at().ok().and_then(crate::time::parse_instant);
                    self.parents.push((id, updated));
                }
            }
        }
    }

    /// Hands the complete listing to the children.
    pub(super) fn publish(mut self, parent: &str) {
        let mut parents = std::mem::take(&mut self.parents);
        parents.sort_unstable_by_key(|(id, _)| *id);
        parents.dedup_by_key(|(id, _)| *id);
        tracing::info!(
            "listed {} {parent} as parents, while reading them",
            parents.len()
        );
        let list = ParentList {
            parents,
            listed_at: self.listed_at,
        };
        self.tx.send_replace(Published::Listed(Arc::new(list)));
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.tx.send_if_modified(|v| {
            let unset = matches!(v, Published::Pending);
            if unset {
                *v = Published::Failed;
            }
            unset
        });
    }
}

/// Lists every record of `parent` (no `updated_since`: every parent's children may be read).
async fn list(run: &Run, parent: &'static str) -> Result<Arc<ParentList>, StreamError> {
    let def = streams::find(parent).expect("parents are rows of the stream table");
    let mut parents = Vec::new();
    let mut listed_at = None;
    let mut bad = 0u64;
    let first = run.first_url(def.path, Vec::new());
    walk::walk(&run.client, &run.links, def, first, |page, date, _| {
        listed_at = listed_at.or(date);
        for record in &page.records {
            let keys = record.keys.as_ref().map_err(Clone::clone);
            match keys.and_then(|k| k.id().map(|id| (id, k.updated_at().ok()))) {
                Ok((id, updated)) => {
                    parents.push((id, updated.and_then(crate::time::parse_instant)))
                }
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
    parents.sort_unstable_by_key(|(id, _)| *id);
    parents.dedup_by_key(|(id, _)| *id);
    tracing::info!("listed {} {parent} as parents", parents.len());
    Ok(Arc::new(ParentList { parents, listed_at }))
}

/// The parents whose children `touches` say changed since `since`.
pub(super) async fn touched(
    run: &Run,
    touches: &[Touch],
    since: DateTime<Utc>,
) -> Result<BTreeSet<i64>, StreamError> {
    let mut parents = BTreeSet::new();
    for touch in touches {
        match *touch {
            Touch::Names { stream, field } => {
                for record in records(run, stream, Some(since)).await? {
                    parents.extend(linked_id(&record, field));
                }
            }
            Touch::Through {
                stream,
                field,
                through,
                parent_field,
            } => {
                let named: BTreeSet<i64> = records(run, stream, Some(since))
                    .await?
                    .iter()
                    .filter_map(|r| linked_id(r, field))
                    .collect();
                if named.is_empty() {
                    continue;
                }
                for record in records(run, through, None).await? {
                    if linked_id(&record, field).is_some_and(|id| named.contains(&id)) {
                        parents.extend(linked_id(&record, parent_field));
                    }
                }
            }
        }
    }
    Ok(parents)
}

/// Every record of `stream`, updated since `since` if given, as JSON values (these listings
/// are small: what changed, or one stream's assignments).
async fn records(
    run: &Run,
    stream: &'static str,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<Value>, StreamError> {
    let def = streams::find(stream).expect("touching streams are rows of the stream table");
    let query = since
        .map(|t| vec![("updated_since", crate::time::format_instant(t))])
        .unwrap_or_default();
    let mut records = Vec::new();
    let first = run.first_url(def.path, query);
    walk::walk(&run.client, &run.links, def, first, |page, _, _| {
        for record in &page.records {
            let value = serde_json::from_str(record.raw).map_err(|e| {
                StreamError::Malformed(format!("a record of {stream} is not JSON: {e}"))
            })?;
            records.push(value);
        }
        Ok(())
    })
    .await?;
    Ok(records)
}

/// The id of the object `field` of `record` names (`{"user": {"id": 7, …}}` → 7).
fn linked_id(record: &Value, field: &str) -> Option<i64> {
    record.get(field)?.get("id")?.as_i64()
}
