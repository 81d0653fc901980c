//! The page walk: from a first URL, follow `links.next` to the end of a list, one request
//! ahead of the page being written.
//!
//! The walk guards against servers that do not end: a next link back to a page already read,
//! an empty page that links on, more pages than the first page promised (with a margin), and
//! a next link to another host (never requested). A page larger than the client's body cap is
//! asked for again in smaller pages from the same record on (see [`Links::smaller`]). [`Links`]
//! owns the rules that tell Harvest's two kinds of links apart: page-numbered links shift when
//! records are deleted (a walk steps back to read the records moved onto pages it already
//! read), cursor links (keyset on id) do not.

use std::collections::HashSet;
use std::future::Future;

use chrono::{DateTime, Utc};
use url::Url;

mod links;

use super::error::StreamError;
use crate::harvest::{waiting, Bucket, FetchError, HarvestClient, Response};
use crate::page::{self, Page};
use crate::streams::{Kind, StreamDef};
pub(super) use links::Links;
use links::{addressing, Addressing};

/// The rate limit a stream's requests count against: Harvest's reports have their own.
pub(super) fn bucket(def: &StreamDef) -> Bucket {
    match def.kind {
        Kind::Report { .. } => Bucket::Reports,
        _ => Bucket::General,
    }
}

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
    on_page: F,
) -> Result<(), StreamError>
where
    S: PageSource,
    F: FnMut(&Page<'_>, Option<DateTime<Utc>>, Option<&str>) -> Result<(), StreamError>,
{
    walk_pages(source, links, def, first, usize::MAX, on_page)
        .await
        .map(|_| ())
}

/// [`walk`], stopping after `budget` pages: `Ok(Some(link))` is the resume link of the page
/// where it stopped (no request is sent ahead past the budget), `Ok(None)` the end of the list.
pub(super) async fn walk_pages<S, F>(
    source: &S,
    links: &Links,
    def: &StreamDef,
    first: Url,
    budget: usize,
    mut on_page: F,
) -> Result<Option<String>, StreamError>
where
    S: PageSource,
    F: FnMut(&Page<'_>, Option<DateTime<Utc>>, Option<&str>) -> Result<(), StreamError>,
{
    let bucket = bucket(def);
    let mut seen = HashSet::new();
    let mut fewest: Option<u64> = None;
    let mut url = first;
    let mut prefetched: Option<Prefetch> = None;
    let mut pages = 0usize;
    let mut bound: Option<PageBound> = None;
    loop {
        seen.insert(url.to_string());
        pages += 1;
        let ahead = pages < budget;
        let fetched = match prefetched.take().filter(|request| request.url == url) {
            Some(request) => request.response().await,
            None => source.get(&url, bucket).await,
        };
        let response = match fetched {
            // A page larger than the cap: the same records in smaller pages, down to one.
            Err(FetchError::TooLarge { url_path, limit }) => {
                let Some(smaller) = links.smaller(&url) else {
                    return Err(StreamError::Malformed(format!(
                        "the response to GET {url_path} is larger than {limit} bytes, the most the connector reads, even in a page of one record; no Harvest record is that large: check what answers at the API URL"
                    )));
                };
                tracing::warn!(
                    "stream {}: the page at {url_path} is larger than {limit} bytes, the most the connector reads; reading the same records again in pages of {} instead of {} for the rest of this pass",
                    def.name,
                    smaller.per_page,
                    smaller.was
                );
                if let Some(bound) = &mut bound {
                    bound.pages_shrunk(smaller.was, smaller.per_page);
                }
                // The page was not read: it costs no page of the budget.
                pages -= 1;
                url = smaller.url;
                continue;
            }
            other => other?,
        };
        let body = std::str::from_utf8(&response.body).map_err(|e| {
            StreamError::Malformed(format!(
                "{} answered with a body that is not UTF-8 (at byte {}); Harvest answers in UTF-8 JSON, check what answers at the API URL",
                url.path(),
                e.valid_up_to()
            ))
        })?;
        // Parsing a page costs about as much as the server takes to send the next one: request
        // it now, from the link at the body's end, unless the page's total says the walk will
        // step back instead; the parsed page confirms it.
        if let Some(hint) = page::hint(body)
            .filter(|_| ahead && !bound.as_ref().is_some_and(PageBound::at_last_allowed))
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
        let bound = bound.get_or_insert_with(|| PageBound::promised_by(&page));
        bound.count();
        if let Some(back) = step_back(links, &url, &mut fewest, page.total_entries) {
            bound.read_again(pages_between(&back, &url));
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
        let refusal = next.as_ref().and_then(|(link, next_url)| {
            refuse_next(&url, next_url, link, &page, &seen).or_else(|| bound.exceeded())
        });
        match (&next, &refusal) {
            (Some((_, next_url)), None) if ahead => {
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
        let Some((link, next_url)) = next else {
            return Ok(None);
        };
        if !ahead {
            return Ok(Some(link));
        }
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

/// Pages beyond twice what the first page promised that a walk may read: room for a small
/// list's records created during the walk.
const SLACK_PAGES: u64 = 5;

/// How many pages a walk may read, from what its first page promised: a server whose
/// `links.next` always leads to a new page of records would otherwise be walked forever (a
/// link back to a page already read is caught by [`refuse_next`]). Twice the promise leaves
/// room for records created during the walk; each step back after deletions adds the pages it
/// reads again. A first page that promises nothing (no totals) sets no bound.
#[derive(Debug)]
struct PageBound {
    /// The first page's `total_pages` and `total_entries`, for the error.
    total_pages: Option<u64>,
    total_entries: Option<u64>,
    /// Pages parsed so far.
    read: u64,
    /// The most pages the walk may parse.
    limit: Option<u64>,
}

impl PageBound {
    /// The bound `page`, the walk's first, sets: its `total_pages`, or else its
    /// `total_entries` over its own length (the server's page size, or more pages than that
    /// when it is the last).
    fn promised_by(page: &Page<'_>) -> PageBound {
        let per_page = (page.records.len() as u64).max(1);
        let pages = page
            .total_pages
            .or_else(|| page.total_entries.map(|t| t.div_ceil(per_page)));
        PageBound {
            total_pages: page.total_pages,
            total_entries: page.total_entries,
            read: 0,
            limit: pages.map(|p| p.saturating_mul(2).saturating_add(SLACK_PAGES)),
        }
    }

    /// One more page parsed.
    fn count(&mut self) {
        self.read += 1;
    }

    /// Room for the pages left now that they hold `now` records each instead of `was`.
    fn pages_shrunk(&mut self, was: u64, now: u64) {
        if let Some(limit) = &mut self.limit {
            let left = limit.saturating_sub(self.read);
            *limit = self
                .read
                .saturating_add(left.saturating_mul(was.div_ceil(now.max(1))));
        }
    }

    /// Room for `pages` read again after a step back.
    fn read_again(&mut self, pages: u64) {
        if let Some(limit) = &mut self.limit {
            *limit = limit.saturating_add(pages);
        }
    }

    /// Whether the page about to be parsed is the last one the walk may read (its next is not
    /// requested ahead).
    fn at_last_allowed(&self) -> bool {
        self.limit.is_some_and(|limit| self.read + 1 >= limit)
    }

    /// Why the walk must not go on from the page just parsed: it read all it may.
    /// (The stream's trace names the stream.)
    fn exceeded(&self) -> Option<StreamError> {
        let limit = self.limit?;
        let figure = |n: Option<u64>| n.map_or_else(|| "none".to_string(), |n| n.to_string());
        (self.read >= limit).then(|| {
            StreamError::Malformed(format!(
                "links.next still leads on after {} pages, but the first page promised total_pages {} and total_entries {}; stopped to avoid an endless walk. Harvest's lists end at their last page: check that nothing between the connector and Harvest (a proxy, a gateway) rewrites its pagination",
                self.read,
                figure(self.total_pages),
                figure(self.total_entries)
            ))
        })
    }
}

/// The pages a step back from `from` to `back` reads again, `from` included (its records were
/// not written).
fn pages_between(back: &Url, from: &Url) -> u64 {
    match (addressing(back), addressing(from)) {
        (Addressing::Page(back), Addressing::Page(from)) => from.saturating_sub(back) + 1,
        _ => 1,
    }
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
        // On the stream's behalf: a wait on the rate limit is the stream's to report.
        let task = tokio::spawn(waiting::inherit(async move {
            source.get(&request, bucket).await
        }));
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

#[cfg(test)]
mod tests;
