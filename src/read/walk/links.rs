//! The API's links, and the rules that tell Harvest's two kinds apart: page-numbered links
//! shift when records are deleted (a walk steps back to read the records moved onto pages it
//! already read, and a resumed one reads the page before again), cursor links (keyset on id)
//! do not. Which links may be followed and stored, and how a page too large is asked for again
//! in smaller pages.

use url::Url;

use super::StreamError;
use crate::harvest::FetchError;

/// How a list URL addresses its page.
#[derive(Debug, PartialEq, Eq)]
pub(in crate::read) enum Addressing {
    /// `cursor=…`: names the last record read; deletions do not move it.
    Cursor,
    /// `page=N`: deletions on earlier pages move later records onto them.
    Page(u64),
    /// Neither (a first page).
    First,
}

/// The API's links: which may be followed, stored in a STATE, and resumed from.
#[derive(Debug, Clone)]
pub(in crate::read) struct Links {
    api: Url,
    page_size: u64,
}

impl Links {
    /// The rules for links under `api` (the configured API URL), pages of `page_size`.
    pub(in crate::read) fn new(api: &Url, page_size: u32) -> Links {
        Links {
            api: api.clone(),
            page_size: u64::from(page_size.max(1)),
        }
    }

    /// A server's `links.next` as the link a STATE stores (path and query) and the URL to
    /// request; a link to another host is refused.
    pub(in crate::read) fn next(&self, next: &str) -> Result<(String, Url), StreamError> {
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
    pub(in crate::read) fn resume(&self, link: &str) -> Result<Url, StreamError> {
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
    pub(in crate::read) fn after_deletions(&self, url: &Url, deleted: u64) -> Option<Url> {
        let Addressing::Page(page) = addressing(url) else {
            return None;
        };
        let back_to = page
            .saturating_sub(deleted.div_ceil(self.per_page(url)))
            .max(1);
        (back_to != page).then(|| with_page(url, back_to))
    }

    /// The `per_page` of `url`: its own, or the configured page size it was asked with.
    fn per_page(&self, url: &Url) -> u64 {
        url.query_pairs()
            .find(|(k, _)| k == "per_page")
            .and_then(|(_, v)| v.parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or(self.page_size)
    }

    /// The same records as `url`'s page, asked for in smaller pages, after its answer was larger
    /// than the body cap: `per_page` halved, and the position kept. A cursor link names the last
    /// record read, so only its `per_page` changes (Harvest's next links carry both on). A
    /// numbered page starts at record `(page - 1) × per_page`: the new size is the largest at
    /// most half the old that divides that offset (half, unless the old size was odd), so that
    /// a page of the new size starts exactly there and no record is skipped or read twice.
    /// `None` at pages of one record, the floor.
    pub(in crate::read) fn smaller(&self, url: &Url) -> Option<Smaller> {
        let per_page = self.per_page(url);
        let half = per_page / 2;
        if half == 0 {
            return None;
        }
        let (page, per_page_now) = match addressing(url) {
            Addressing::Page(page) => {
                let offset = (page.max(1) - 1) * per_page;
                let size = (1..=half)
                    .rev()
                    .find(|size| offset.is_multiple_of(*size))
                    .expect("1 divides every offset");
                (Some(offset / size + 1), size)
            }
            Addressing::Cursor | Addressing::First => (None, half),
        };
        let mut params = vec![("per_page", per_page_now)];
        params.extend(page.map(|page| ("page", page)));
        Some(Smaller {
            url: with_params(url, &params),
            per_page: per_page_now,
            was: per_page,
        })
    }
}

/// A page asked for again in smaller pages (see [`Links::smaller`]).
#[derive(Debug)]
pub(in crate::read) struct Smaller {
    /// The same first record, in pages of `per_page`.
    pub(in crate::read) url: Url,
    /// The new page size.
    pub(in crate::read) per_page: u64,
    /// The page size that was too large.
    pub(in crate::read) was: u64,
}

pub(in crate::read) fn addressing(url: &Url) -> Addressing {
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
pub(in crate::read) fn with_page(url: &Url, n: u64) -> Url {
    with_params(url, &[("page", n)])
}

/// `url` with each of `params` set: replaced where the query has it, added at its end where it
/// does not; the other parameters as they were.
fn with_params(url: &Url, params: &[(&str, u64)]) -> Url {
    let value = |name: &str| {
        params
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    };
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = value(&k).unwrap_or_else(|| v.into_owned());
            (k.into_owned(), v)
        })
        .collect();
    for (name, n) in params {
        if !pairs.iter().any(|(k, _)| k == name) {
            pairs.push((name.to_string(), n.to_string()));
        }
    }
    let mut url = url.clone();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    const API: &str = "http://127.0.0.1:9/v2/";

    fn links() -> Links {
        Links::new(&Url::parse(API).unwrap(), 2)
    }

    fn page_url(n: u64) -> String {
        format!("{API}clients?page={n}&per_page=2")
    }

    #[test]
    fn a_page_too_large_is_asked_for_again_in_halves_from_the_same_record() {
        let links = links();
        let smaller = |url: &str| {
            links
                .smaller(&Url::parse(&format!("{API}{url}")).unwrap())
                .map(|s| (s.url.as_str()[API.len()..].to_string(), s.per_page, s.was))
        };
        // Record 20 onwards: page 5 of 5 (20 / 5 + 1).
        assert_eq!(
            smaller("time_entries?page=3&per_page=10&to=2024-01-01"),
            Some(("time_entries?page=5&per_page=5&to=2024-01-01".into(), 5, 10))
        );
        // Record 125 onwards: half of 125 does not divide it, 25 (the largest below) does.
        assert_eq!(
            smaller("time_entries?page=2&per_page=125"),
            Some(("time_entries?page=6&per_page=25".into(), 25, 125))
        );
        assert_eq!(
            smaller("time_entries?page=1&per_page=3"),
            Some(("time_entries?page=1&per_page=1".into(), 1, 3))
        );
        // Without per_page, the configured size (2) was asked for.
        assert_eq!(
            smaller("time_entries?page=2"),
            Some(("time_entries?page=3&per_page=1".into(), 1, 2))
        );
        // A cursor names the last record read: only the size changes. So for a first page.
        assert_eq!(
            smaller("clients?cursor=eyJhZnRlciI6eyJpZCI6NH19&per_page=2000&ref=next_cursor"),
            Some((
                "clients?cursor=eyJhZnRlciI6eyJpZCI6NH19&per_page=1000&ref=next_cursor".into(),
                1000,
                2000
            ))
        );
        assert_eq!(
            smaller("clients?per_page=7&updated_since=2024-01-01T00%3A00%3A00Z"),
            Some((
                "clients?per_page=3&updated_since=2024-01-01T00%3A00%3A00Z".into(),
                3,
                7
            ))
        );
        // One record a page is the floor.
        assert_eq!(smaller("clients?per_page=1"), None);
        assert_eq!(smaller("time_entries?page=9&per_page=1"), None);
    }

    #[test]
    fn resume_links_step_back_a_page_unless_they_are_cursors() {
        let links = links();
        let url = links.resume("/v2/clients?page=5&per_page=2").unwrap();
        assert_eq!(url.as_str(), format!("{API}clients?page=4&per_page=2"));
        let url = links.resume("/v2/clients?page=1&per_page=2").unwrap();
        assert_eq!(url.as_str(), format!("{API}clients?page=1&per_page=2"));
        let url = links
            .resume("/v2/clients?cursor=eyJpZCI6NH0&per_page=2")
            .unwrap();
        assert_eq!(
            url.as_str(),
            format!("{API}clients?cursor=eyJpZCI6NH0&per_page=2")
        );
        for link in ["//elsewhere.example/v2/clients", "/other/clients?page=2"] {
            let e = links.resume(link).unwrap_err().to_string();
            assert!(e.contains("is not under the API URL"), "{link}: {e}");
        }
    }

    #[test]
    fn next_links_are_stored_as_path_and_query() {
        let (link, url) = links().next(&page_url(3)).unwrap();
        assert_eq!(link, "/v2/clients?page=3&per_page=2");
        assert_eq!(url.as_str(), page_url(3));
        assert!(matches!(
            links().next("https://api.example/v2/clients"),
            Err(StreamError::Fetch(FetchError::ForeignHost { .. }))
        ));
    }
}
