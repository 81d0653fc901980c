//! Harvest's list envelope and its two pagination styles.
//!
//! Page pagination slices the selection by `page`/`per_page`. Cursor pagination is keyset:
//! `cursor` is base64url JSON `{"after":{"id":N}}` (or `"before"`), and the next page starts
//! after the record N in the endpoint's order, so inserts and deletes elsewhere never shift it.
//! With a cursor, `page`/`next_page`/`previous_page` are null except on the first and last page;
//! `links.first`/`links.last` stay page-based, as Harvest serves them.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;

use super::error::ApiError;
use super::query::Query;
use crate::data::model::Ix;
use crate::data::Key;
use crate::render::json::{write_escaped, Json};

/// Which pagination an endpoint uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paging {
    /// `?page=N` links.
    Page,
    /// `?cursor=…` links.
    Cursor,
}

/// Where a response's links point: the origin the client used plus the request path.
pub struct Origin {
    /// `http://host:port`, from the request's `Host` header.
    pub base: String,
    /// The request path, e.g. `/v2/invoices/5/messages`.
    pub path: String,
}

impl Origin {
    /// An absolute link: the filters plus `extra`, sorted by name as Harvest sorts them.
    pub fn link(&self, filters: &[(String, String)], extra: &[(&str, String)]) -> String {
        let mut params: Vec<(&str, &str)> = filters
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .collect();
        params.sort_by(|a, b| a.0.cmp(b.0));
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            ser.append_pair(k, v);
        }
        format!("{}{}?{}", self.base, self.path, ser.finish())
    }
}

/// How cursor pagination finds positions: ids and order keys of the listed rows.
pub trait Keyed {
    /// The id of a row.
    fn id_of(&self, ix: Ix) -> i64;
    /// The order key of a row.
    fn key_of(&self, ix: Ix) -> Key;
    /// The order key of an id, also for deleted rows (a cursor may name one).
    fn key_of_id(&self, id: i64) -> Option<Key>;
}

impl<T: crate::data::Row> Keyed for crate::data::Table<T> {
    fn id_of(&self, ix: Ix) -> i64 {
        self.get(ix).id()
    }
    fn key_of(&self, ix: Ix) -> Key {
        self.key(ix)
    }
    fn key_of_id(&self, id: i64) -> Option<Key> {
        self.find_any(id).map(|ix| self.key(ix))
    }
}

/// The default and maximum `per_page`.
pub const MAX_PER_PAGE: i64 = 2000;

/// Reads `per_page` (1–2000, default 2000).
pub fn per_page(q: &Query) -> Result<usize, ApiError> {
    match q.int("per_page")? {
        None => Ok(MAX_PER_PAGE as usize),
        Some(n) if (1..=MAX_PER_PAGE).contains(&n) => Ok(n as usize),
        Some(_) => Err(ApiError::invalid(format!(
            "per_page must be between 1 and {MAX_PER_PAGE}"
        ))),
    }
}

enum Cursor {
    After(i64),
    Before(i64),
}

fn decode_cursor(raw: &str) -> Result<Cursor, ApiError> {
    let bad = || ApiError::invalid("cursor is invalid");
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .or_else(|_| URL_SAFE.decode(raw))
        .map_err(|_| bad())?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if let Some(id) = v.pointer("/after/id").and_then(|x| x.as_i64()) {
        Ok(Cursor::After(id))
    } else if let Some(id) = v.pointer("/before/id").and_then(|x| x.as_i64()) {
        Ok(Cursor::Before(id))
    } else {
        Err(bad())
    }
}

fn encode_cursor(dir: &str, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{{\"{dir}\":{{\"id\":{id}}}}}"))
}

/// One page to serve.
pub struct Request<'a> {
    /// The envelope key (`clients`, `time_entries`, `results`…).
    pub envelope: &'static str,
    /// The selected rows in serving order.
    pub items: &'a [Ix],
    /// Ids and keys for cursor pagination; `None` serves page pagination.
    pub cursor: Option<&'a dyn Keyed>,
    /// The parsed query.
    pub query: &'a Query,
    /// Where links point.
    pub origin: &'a Origin,
}

/// Renders the envelope for the requested page, each record by `render`.
pub fn page(req: Request<'_>, render: &mut dyn FnMut(&mut Json, Ix)) -> Result<Vec<u8>, ApiError> {
    let per_page = per_page(req.query)?;
    let total = req.items.len();
    let total_pages = total.div_ceil(per_page).max(1);
    let cursor = match (req.cursor, req.query.get("cursor")) {
        (Some(keys), Some(raw)) if !raw.is_empty() => Some((keys, decode_cursor(raw)?)),
        _ => None,
    };
    let page_param = match req.query.int("page")? {
        Some(p) if p >= 1 => p as usize,
        Some(_) => return Err(ApiError::invalid("page must be 1 or more")),
        None => 1,
    };
    // Slice bounds, and the page number when the slice is page-aligned (null mid-cursor).
    let (start, end, page_no) = match cursor {
        Some((keys, c)) => {
            let (start, end) = match c {
                Cursor::After(id) => {
                    let key = keys
                        .key_of_id(id)
                        .ok_or_else(|| ApiError::invalid("cursor is invalid"))?;
                    let s = req.items.partition_point(|&ix| keys.key_of(ix) <= key);
                    (s, (s + per_page).min(total))
                }
                Cursor::Before(id) => {
                    let key = keys
                        .key_of_id(id)
                        .ok_or_else(|| ApiError::invalid("cursor is invalid"))?;
                    let e = req.items.partition_point(|&ix| keys.key_of(ix) < key);
                    (e.saturating_sub(per_page), e)
                }
            };
            let page_no = if start == 0 {
                Some(1)
            } else if end >= total {
                Some(total_pages)
            } else {
                None
            };
            (start, end, page_no)
        }
        None => {
            let s = ((page_param - 1) * per_page).min(total);
            (s, (s + per_page).min(total), Some(page_param))
        }
    };
    let slice = &req.items[start..end];

    let filters = req.query.link_params();
    let pp = per_page.to_string();
    let link = |extra: &[(&str, String)]| {
        let mut all: Vec<(&str, String)> = vec![("per_page", pp.clone())];
        all.extend_from_slice(extra);
        req.origin.link(&filters, &all)
    };
    let has_next = end < total;
    let has_prev = start > 0;
    let (next, previous) = match req.cursor {
        Some(keys) => (
            (has_next && !slice.is_empty()).then(|| {
                link(&[
                    (
                        "cursor",
                        encode_cursor("after", keys.id_of(slice[slice.len() - 1])),
                    ),
                    ("ref", "next_cursor".into()),
                ])
            }),
            (has_prev && !slice.is_empty()).then(|| {
                link(&[
                    ("cursor", encode_cursor("before", keys.id_of(slice[0]))),
                    ("ref", "previous_cursor".into()),
                ])
            }),
        ),
        None => {
            let p = page_no.unwrap_or(1);
            (
                has_next.then(|| link(&[("page", (p + 1).to_string()), ("ref", "next".into())])),
                (p > 1).then(|| link(&[("page", (p - 1).to_string()), ("ref", "previous".into())])),
            )
        }
    };
    let next_page = page_no.filter(|_| has_next).map(|p| p + 1);
    let previous_page = page_no.filter(|&p| p > 1).map(|p| p - 1);

    let mut w = Json::with_capacity(64 + slice.len() * 1200);
    w.open();
    w.key(req.envelope);
    w.open_array();
    for &ix in slice {
        render(&mut w, ix);
    }
    w.close_array();
    w.f_int("per_page", per_page as i64);
    w.f_int("total_pages", total_pages as i64);
    w.f_int("total_entries", total as i64);
    w.f_int_opt("next_page", next_page.map(|p| p as i64));
    w.f_int_opt("previous_page", previous_page.map(|p| p as i64));
    w.f_int_opt("page", page_no.map(|p| p as i64));
    w.f_open("links");
    w.f_str(
        "first",
        &link(&[("page", "1".into()), ("ref", "first".into())]),
    );
    link_field(&mut w, "next", next.as_deref());
    link_field(&mut w, "previous", previous.as_deref());
    w.f_str(
        "last",
        &link(&[("page", total_pages.to_string()), ("ref", "last".into())]),
    );
    w.close();
    w.close();
    Ok(w.buf)
}

fn link_field(w: &mut Json, name: &str, url: Option<&str>) {
    w.key(name);
    match url {
        Some(u) => {
            let mut buf = Vec::with_capacity(u.len() + 2);
            write_escaped(&mut buf, u);
            w.raw(&buf);
        }
        None => w.null(),
    }
}
