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
    let at =
        |cursor: &str, per_page: u64| format!("{API}clients?cursor={cursor}&per_page={per_page}");
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
