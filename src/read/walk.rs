//! The page walk: from a first URL, follow `links.next` to the end of a list, one request
//! ahead of the page being written.
//!
//! The walk guards against servers that do not end: a next link back to a page already read,
//! an empty page that links on, and a next link to another host (never requested). [`Links`]
//! owns the rules that tell Harvest's two kinds of links apart: page-numbered links shift when
//! records are deleted (a walk steps back to read the records moved onto pages it already
//! read), cursor links (keyset on id) do not.

use std::collections::HashSet;
use std::future::Future;

use chrono::{DateTime, Utc};
use url::Url;

use super::error::StreamError;
use crate::harvest::{Bucket, FetchError, HarvestClient, Response};
use crate::page::{self, Page};
use crate::streams::StreamDef;

/// Where pages come from: the Harvest client, or a fake in the walk's tests.
pub(super) trait PageSource: Clone + Send + Sync + 'static {
    /// GETs `url`, counted against `bucket`.
    fn get(
        &self,
        url: &Url,
        bucket: Bucket,
    ) -> impl Future<Output = Result<Response, FetchError>> + Send;
}

impl PageSource for HarvestClient {
    fn get(
        &self,
        url: &Url,
        bucket: Bucket,
    ) -> impl Future<Output = Result<Response, FetchError>> + Send {
        HarvestClient::get(self, url, bucket)
    }
}

/// How a list URL addresses its page.
#[derive(Debug, PartialEq, Eq)]
enum Addressing {
    /// `cursor=…`: names the last record read; deletions do not move it.
    Cursor,
    /// `page=N`: deletions on earlier pages move later records onto them.
    Page(u64),
    /// Neither (a first page).
    First,
}

/// The API's links: which may be followed, stored in a STATE, and resumed from.
#[derive(Debug, Clone)]
pub(super) struct Links {
    api: Url,
    page_size: u64,
}

impl Links {
    /// The rules for links under `api` (the configured API URL), pages of `page_size`.
    pub(super) fn new(api: &Url, page_size: u32) -> Links {
        Links {
            api: api.clone(),
            page_size: u64::from(page_size.max(1)),
        }
    }

    /// A server's `links.next` as the link a STATE stores (path and query) and the URL to
    /// request; a link to another host is refused.
    pub(super) fn next(&self, next: &str) -> Result<(String, Url), StreamError> {
        let url = Url::parse(next)
            .or_else(|_| self.api.join(next))
            .map_err(|_| StreamError::Malformed(format!("links.next is not a URL: {next:.80}")))?;
        if url.origin() != self.api.origin() {
            return Err(StreamError::Fetch(FetchError::ForeignHost {
                url: url.origin().ascii_serialization(),
            }));
        }
        let mut link = url.path().to_string();
        if let Some(q) = url.query() {
            link.push('?');
            link.push_str(q);
        }
        Ok((link, url))
    }

    /// A stored resume link back as the URL to request. A page-numbered link steps back one
    /// page: records deleted since the interruption shift later records onto earlier pages,
    /// and reading one page again is cheaper than missing them.
    pub(super) fn resume(&self, link: &str) -> Result<Url, StreamError> {
        let url = self.api.join(link).map_err(|_| {
            StreamError::Malformed(format!("the state's resume link is not a URL: {link:.80}"))
        })?;
        if url.origin() != self.api.origin() || !url.path().starts_with(self.api.path()) {
            return Err(StreamError::Malformed(format!(
                "the state's resume link {link:.80} is not under the API URL {}; remove `resume` from the state to restart the pass",
                self.api
            )));
        }
        Ok(match addressing(&url) {
            Addressing::Page(n) if n > 1 => with_page(&url, n - 1),
            _ => url,
        })
    }

    /// Where a walk must go back to after `url` said that `deleted` records are gone since
    /// an earlier page: as many later records moved onto pages already read. `None` when the
    /// link does not shift (cursor links) or the walk is already there.
    fn after_deletions(&self, url: &Url, deleted: u64) -> Option<Url> {
        let Addressing::Page(page) = addressing(url) else {
            return None;
        };
        let back_to = page.saturating_sub(deleted.div_ceil(self.page_size)).max(1);
        (back_to != page).then(|| with_page(url, back_to))
    }
}

fn addressing(url: &Url) -> Addressing {
    let mut page = None;
    for (k, v) in url.query_pairs() {
        match &*k {
            "cursor" => return Addressing::Cursor,
            "page" => page = v.parse().ok(),
            _ => {}
        }
    }
    page.map_or(Addressing::First, Addressing::Page)
}

/// `url` with its `page` parameter set to `n`, the other parameters as they were.
fn with_page(url: &Url, n: u64) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "page" {
                n.to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    let mut url = url.clone();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url
}

/// Follows `links.next` from `first` to the end, calling `on_page` with each page, the
/// server's `Date` and the next page's resume link.
///
/// The next page is requested before this one is parsed and written, so the server's time to
/// answer overlaps ours: one request ahead, never more. A request sent early is not taken
/// back: a page that turns out empty, malformed or other than its end said costs one request
/// whose answer is dropped (never to another host, never to a page already read).
pub(super) async fn walk<S, F>(
    source: &S,
    links: &Links,
    def: &StreamDef,
    first: Url,
    mut on_page: F,
) -> Result<(), StreamError>
where
    S: PageSource,
    F: FnMut(&Page<'_>, Option<DateTime<Utc>>, Option<&str>) -> Result<(), StreamError>,
{
    let bucket = def.bucket();
    let mut seen = HashSet::new();
    let mut fewest: Option<u64> = None;
    let mut url = first;
    let mut prefetched: Option<Prefetch> = None;
    loop {
        seen.insert(url.to_string());
        let response = match prefetched.take().filter(|request| request.url == url) {
            Some(request) => request.response().await?,
            None => source.get(&url, bucket).await?,
        };
        let body = std::str::from_utf8(&response.body).map_err(|_| {
            StreamError::Malformed(format!(
                "{} answered with a body that is not UTF-8",
                url.path()
            ))
        })?;
        // Parsing a page costs about as much as the server takes to send the next one: request
        // it now, from the link at the body's end, unless the page's total says the walk will
        // step back instead; the parsed page confirms it.
        if let Some(hint) = page::hint(body)
            .filter(|hint| {
                hint.total_entries
                    .is_none_or(|t| fewest.is_none_or(|f| t >= f))
            })
            .and_then(|hint| links.next(&hint.next).ok())
            .map(|(_, next_url)| next_url)
            .filter(|next_url| !seen.contains(next_url.as_str()))
        {
            prefetched = Some(Prefetch::start(source, hint, bucket).await);
        }
        let page = page::parse(body, def.records_key)
            .map_err(|e| StreamError::Malformed(format!("{}: {e}", url.path())))?;
        if let Some(back) = step_back(links, &url, &mut fewest, page.total_entries) {
            tracing::info!(
                "stream {}: records were deleted during the pass, moving later ones onto pages already read; reading again from {}",
                def.name,
                back.path()
            );
            // Pages are read again on purpose; each step back needs a new lowest total, so
            // this cannot loop.
            seen.clear();
            url = back;
            continue;
        }
        let next = page
            .next
            .as_deref()
            .map(|next| links.next(next))
            .transpose()?;
        let refusal = next
            .as_ref()
            .and_then(|(link, next_url)| refuse_next(&url, next_url, link, &page, &seen));
        match (&next, &refusal) {
            (Some((_, next_url)), None) => {
                if prefetched.as_ref().is_none_or(|p| p.url != *next_url) {
                    prefetched = Some(Prefetch::start(source, next_url.clone(), bucket).await);
                }
            }
            _ => prefetched = None,
        }
        on_page(
            &page,
            response.date,
            next.as_ref().map(|(link, _)| link.as_str()),
        )?;
        if let Some(refusal) = refusal {
            return Err(refusal);
        }
        let Some((_, next_url)) = next else {
            return Ok(());
        };
        url = next_url;
    }
}

/// Where a walk must go back to after `url` answered with `total` records in all, fewer than
/// any page before it (`fewest`).
fn step_back(
    links: &Links,
    url: &Url,
    fewest: &mut Option<u64>,
    total: Option<u64>,
) -> Option<Url> {
    let total = total?;
    let before = fewest.replace(fewest.map_or(total, |f| f.min(total)));
    let deleted = before?.checked_sub(total).filter(|&d| d > 0)?;
    links.after_deletions(url, deleted)
}

/// Why the walk must not follow `next` (resolved: `next_url`) from `url`: a link back to a
/// page already read, or an empty page that still links on; either would walk forever.
fn refuse_next(
    url: &Url,
    next_url: &Url,
    next: &str,
    page: &Page<'_>,
    seen: &HashSet<String>,
) -> Option<StreamError> {
    if seen.contains(next_url.as_str()) {
        return Some(StreamError::Malformed(format!(
            "links.next of {} points back to a page already read ({next:.120}); stopped to avoid an endless loop",
            url.path()
        )));
    }
    if page.records.is_empty() {
        return Some(StreamError::Malformed(format!(
            "{} returned an empty page that links to another page; stopped to avoid an endless walk",
            url.path()
        )));
    }
    None
}

/// The next page's request, running on the runtime while the current page is written.
/// Dropping it (the walk stopped or went elsewhere) cancels the request and its retries; an
/// OAuth renewal it started finishes anyway, in a task of its own.
struct Prefetch {
    url: Url,
    task: tokio::task::JoinHandle<Result<Response, FetchError>>,
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Prefetch {
    async fn start<S: PageSource>(source: &S, url: Url, bucket: Bucket) -> Prefetch {
        let source = source.clone();
        let request = url.clone();
        let task = tokio::spawn(async move { source.get(&request, bucket).await });
        // The new task waits in this worker's LIFO slot, which no other worker takes from,
        // until this task yields: let it send its request before the page is parsed, so that
        // another worker receives the answer meanwhile.
        tokio::task::yield_now().await;
        Prefetch { url, task }
    }

    async fn response(mut self) -> Result<Response, FetchError> {
        match (&mut self.task).await {
            Ok(result) => result,
            // Only Drop aborts the task, and `self` is still alive: it ended by panicking.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}
