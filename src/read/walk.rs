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
mod tests {
    use std::collections::{BTreeMap, VecDeque};
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use serde_json::json;

    use super::*;
    use crate::streams;

    const API: &str = "http://127.0.0.1:9/v2/";

    /// Pages by URL; a URL served several bodies answers them in turn, the last one from then
    /// on. Every request is recorded.
    #[derive(Clone, Default)]
    struct FakePages {
        bodies: Arc<Mutex<BTreeMap<String, VecDeque<String>>>>,
        /// URLs whose answer is larger than the body cap.
        too_large: Arc<Mutex<Vec<String>>>,
        requested: Arc<Mutex<Vec<String>>>,
    }

    impl FakePages {
        fn serve(&self, url: &str, body: serde_json::Value) -> &Self {
            self.bodies
                .lock()
                .unwrap()
                .entry(url.to_string())
                .or_default()
                .push_back(body.to_string());
            self
        }

        fn too_large(&self, url: &str) -> &Self {
            self.too_large.lock().unwrap().push(url.to_string());
            self
        }

        fn requested(&self) -> Vec<String> {
            self.requested.lock().unwrap().clone()
        }
    }

    impl PageSource for FakePages {
        fn get(
            &self,
            url: &Url,
            _: Bucket,
        ) -> impl Future<Output = Result<Response, FetchError>> + Send {
            self.requested.lock().unwrap().push(url.to_string());
            let too_large = self.too_large.lock().unwrap().contains(&url.to_string());
            let mut bodies = self.bodies.lock().unwrap();
            let body = bodies.get_mut(url.as_str()).and_then(|queue| {
                if queue.len() > 1 {
                    queue.pop_front()
                } else {
                    queue.front().cloned()
                }
            });
            let path = url.path().to_string();
            async move {
                if too_large {
                    return Err(FetchError::TooLarge {
                        url_path: path,
                        limit: 64,
                    });
                }
                body.map(|b| Response {
                    body: Bytes::from(b),
                    date: None,
                })
                .ok_or(FetchError::NotFound { url_path: path })
            }
        }
    }

    fn page_url(n: u64) -> String {
        format!("{API}clients?page={n}&per_page=2")
    }

    /// A page of clients `ids`, `total` in all, linking to `next`.
    fn page(ids: &[i64], total: u64, next: Option<&str>) -> serde_json::Value {
        let records: Vec<_> = ids
            .iter()
            .map(|id| json!({"id": id, "updated_at": "2024-01-01T00:00:00Z"}))
            .collect();
        json!({"clients": records, "per_page": 2, "total_entries": total, "links": {"next": next}})
    }

    fn links() -> Links {
        Links::new(&Url::parse(API).unwrap(), 2)
    }

    /// Walks clients from `first`; the ids of every page's records, and the outcome.
    async fn walk_ids(pages: &FakePages, first: &str) -> (Vec<i64>, Result<(), StreamError>) {
        let def = streams::find("clients").unwrap();
        let mut ids = Vec::new();
        let result = walk(
            pages,
            &links(),
            def,
            Url::parse(first).unwrap(),
            |page, _, _| {
                ids.extend(
                    page.records
                        .iter()
                        .map(|r| r.keys.as_ref().unwrap().id().unwrap()),
                );
                Ok(())
            },
        )
        .await;
        (ids, result)
    }

    #[tokio::test]
    async fn a_walk_reads_every_page_with_one_request_each() {
        let pages = FakePages::default();
        pages
            .serve(&page_url(1), page(&[6, 5], 6, Some(&page_url(2))))
            .serve(&page_url(2), page(&[4, 3], 6, Some(&page_url(3))))
            .serve(&page_url(3), page(&[2, 1], 6, None));
        let (ids, result) = walk_ids(&pages, &page_url(1)).await;
        assert!(result.is_ok());
        assert_eq!(ids, [6, 5, 4, 3, 2, 1]);
        assert_eq!(pages.requested(), [page_url(1), page_url(2), page_url(3)]);
    }

    #[tokio::test]
    async fn a_link_back_to_a_page_read_is_refused() {
        let pages = FakePages::default();
        pages
            .serve(&page_url(1), page(&[2], 2, Some(&page_url(2))))
            .serve(&page_url(2), page(&[1], 2, Some(&page_url(1))));
        let (ids, result) = walk_ids(&pages, &page_url(1)).await;
        assert_eq!(ids, [2, 1]);
        assert!(matches!(result, Err(StreamError::Malformed(m)) if m.contains("points back")));
        assert_eq!(pages.requested().len(), 2, "{:?}", pages.requested());
    }

    #[tokio::test]
    async fn an_empty_page_that_links_on_is_refused() {
        let pages = FakePages::default();
        pages.serve(&page_url(1), page(&[], 0, Some(&page_url(2))));
        let (_, result) = walk_ids(&pages, &page_url(1)).await;
        assert!(matches!(result, Err(StreamError::Malformed(m)) if m.contains("empty page")));
    }

    /// A server whose pages each promise `total` records in all and link on to a new page of
    /// new records, up to page `pages`.
    fn endless(pages: u64, total: u64, total_pages: Option<u64>) -> FakePages {
        let fake = FakePages::default();
        for n in 1..=pages {
            let id = 1000 - 2 * n as i64;
            let mut body = page(&[id + 1, id], total, Some(&page_url(n + 1)));
            if let Some(total_pages) = total_pages {
                body["total_pages"] = json!(total_pages);
            }
            fake.serve(&page_url(n), body);
        }
        fake
    }

    #[tokio::test]
    async fn distinct_pages_without_end_stop_past_twice_what_the_first_page_promised() {
        // 4 records in pages of 2: 2 pages promised, 2 × 2 + 5 = 9 read at most.
        let pages = endless(50, 4, None);
        let (ids, result) = walk_ids(&pages, &page_url(1)).await;
        assert_eq!(ids.len(), 18, "every page read was written: {ids:?}");
        let Err(StreamError::Malformed(message)) = result else {
            panic!("{result:?}");
        };
        assert!(
            message.starts_with("links.next still leads on after 9 pages")
                && message.contains("total_pages none and total_entries 4")
                && message.contains("endless walk"),
            "{message}"
        );
        assert_eq!(pages.requested(), (1..=9).map(page_url).collect::<Vec<_>>());
        // total_pages, where given, is the promise.
        let pages = endless(50, 4, Some(3));
        let (ids, result) = walk_ids(&pages, &page_url(1)).await;
        assert_eq!(ids.len(), 22);
        assert!(
            matches!(&result, Err(StreamError::Malformed(m)) if m.contains("after 11 pages") && m.contains("total_pages 3 and total_entries 4")),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_list_longer_than_promised_within_the_margin_is_read_to_its_end() {
        // Records created during the walk: 4 promised, 8 pages in the end (bound 9).
        let pages = endless(8, 4, None);
        pages.serve(&page_url(9), page(&[], 4, None));
        let (ids, result) = walk_ids(&pages, &page_url(1)).await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(ids.len(), 16);
    }

    #[tokio::test]
    async fn a_next_link_to_another_host_is_never_requested() {
        let pages = FakePages::default();
        let foreign = "http://192.0.2.1:9/v2/clients?page=2&per_page=2";
        pages.serve(&page_url(1), page(&[2], 2, Some(foreign)));
        let (_, result) = walk_ids(&pages, &page_url(1)).await;
        assert!(matches!(
            result,
            Err(StreamError::Fetch(FetchError::ForeignHost { .. }))
        ));
        assert_eq!(pages.requested(), [page_url(1)]);
    }

    #[tokio::test]
    async fn deletions_on_pages_read_send_the_walk_back_to_where_records_moved() {
        let pages = FakePages::default();
        // 6 records; after page 2 was read, 2 of them were deleted: page 3 says 4 in all, and
        // record 2 moved onto page 2, which is read again.
        pages
            .serve(&page_url(1), page(&[6, 5], 6, Some(&page_url(2))))
            .serve(&page_url(2), page(&[4, 3], 6, Some(&page_url(3))))
            .serve(&page_url(2), page(&[3, 2], 4, Some(&page_url(3))))
            .serve(&page_url(3), page(&[1], 4, None));
        let (ids, result) = walk_ids(&pages, &page_url(1)).await;
        assert!(result.is_ok());
        assert!(ids.contains(&2), "{ids:?}");
        assert_eq!(
            pages.requested(),
            [
                page_url(1),
                page_url(2),
                page_url(3),
                page_url(2),
                page_url(3)
            ]
        );
    }

    #[tokio::test]
    async fn a_numbered_page_over_the_cap_is_read_in_smaller_pages_without_a_gap_or_a_repeat() {
        let pages = FakePages::default();
        let small = |n: u64| format!("{API}clients?page={n}&per_page=1");
        // Six records in pages of 2; page 2 (records 3 and 4) is too large: records 3 on are
        // pages 3 to 6 of 1.
        pages
            .serve(&page_url(1), page(&[6, 5], 6, Some(&page_url(2))))
            .too_large(&page_url(2))
            .serve(&small(3), page(&[4], 6, Some(&small(4))))
            .serve(&small(4), page(&[3], 6, Some(&small(5))))
            .serve(&small(5), page(&[2], 6, Some(&small(6))))
            .serve(&small(6), page(&[1], 6, None));
        let (ids, result) = walk_ids(&pages, &page_url(1)).await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(ids, [6, 5, 4, 3, 2, 1]);
        assert_eq!(
            pages.requested(),
            [
                page_url(1),
                page_url(2),
                small(3),
                small(4),
                small(5),
                small(6)
            ]
        );
    }

    #[tokio::test]
    async fn a_cursor_page_over_the_cap_keeps_its_cursor_down_to_one_record_a_page() {
        let pages = FakePages::default();
        let at = |cursor: &str, per_page: u64| {
            format!("{API}clients?cursor={cursor}&per_page={per_page}")
        };
        pages
            .serve(&at("a", 2), page(&[6, 5], 6, Some(&at("b", 2))))
            .too_large(&at("b", 2))
            .serve(&at("b", 1), page(&[4], 6, Some(&at("c", 1))))
            .serve(&at("c", 1), page(&[3], 6, None));
        let (ids, result) = walk_ids(&pages, &at("a", 2)).await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(ids, [6, 5, 4, 3]);
        // Even one record a page too large: the stream fails, saying so.
        let pages = FakePages::default();
        pages.too_large(&at("a", 2)).too_large(&at("a", 1));
        let (ids, result) = walk_ids(&pages, &at("a", 2)).await;
        assert!(ids.is_empty());
        assert!(
            matches!(&result, Err(StreamError::Malformed(m)) if m.contains("larger than 64 bytes") && m.contains("even in a page of one record")),
            "{result:?}"
        );
        assert_eq!(pages.requested(), [at("a", 2), at("a", 1)]);
    }
}
