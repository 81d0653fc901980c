//! Fault injection: which request gets which fault, and how each fault is produced.
//!
//! A decision is a pure function of the fault seed, the request's method and URL and how many
//! times that URL was requested before, so reruns with the same seed see the same faults even if
//! concurrent streams interleave their requests differently.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::api::error::html;
use crate::config::{FaultKind, Faults};
use crate::render::patch::{self, Edit};
use crate::time;

/// The fault configuration plus how often each URL was seen.
pub struct FaultState {
    config: Faults,
    seen: HashMap<String, u64>,
}

/// 64-bit FNV-1a: a hash that is stable across builds and platforms.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl FaultState {
    /// Starts drawing faults from `config`.
    pub fn new(config: Faults) -> FaultState {
        FaultState {
            config,
            seen: HashMap::new(),
        }
    }

    /// The current configuration.
    pub fn config(&self) -> &Faults {
        &self.config
    }

    /// Draws the fault (if any) for a request to `path` with query `query`.
    pub fn draw(&mut self, method: &str, path: &str, query: &str) -> Option<FaultKind> {
        let c = &self.config;
        let total: u64 = c.kinds.iter().map(|(_, w)| u64::from(*w)).sum();
        if c.rate <= 0.0 || total == 0 {
            return None;
        }
        if !c.paths.is_empty() && !c.paths.iter().any(|p| eligible(p, path, query)) {
            return None;
        }
        let url = format!("{method} {path}?{query}");
        let n = self.seen.entry(url.clone()).or_default();
        let occurrence = *n;
        *n += 1;
        let seed = fnv1a(&[
            &c.seed.to_le_bytes(),
            url.as_bytes(),
            &occurrence.to_le_bytes(),
        ]);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        if rng.random::<f64>() >= c.rate {
            return None;
        }
        let mut pick = rng.random_range(0..total);
        for (kind, w) in &c.kinds {
            if pick < u64::from(*w) {
                return Some(kind.clone());
            }
            pick -= u64::from(*w);
        }
        None
    }
}

/// Whether a request to `path` with `query` matches `pattern` of [`Faults::paths`]: a path
/// prefix, or a path and the query parameters it must carry (`/v2/clients?page=2`) or must
/// not (`?!updated_since`: a list read whole, not a read of what changed).
fn eligible(pattern: &str, path: &str, query: &str) -> bool {
    match pattern.split_once('?') {
        None => path.starts_with(pattern),
        Some((wanted_path, wanted)) => {
            let carries = |pair: &str| match pair.strip_prefix('!') {
                Some(name) => !query.split('&').any(|q| q.split('=').next() == Some(name)),
                None => query.split('&').any(|q| q == pair),
            };
            path == wanted_path && wanted.split('&').all(carries)
        }
    }
}

/// The 5xx/429 page for a status fault.
pub fn status_response(kind: &FaultKind) -> Option<Response> {
    let (status, body) = match kind {
        FaultKind::Status500 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "<!DOCTYPE html><html><head><title>We're sorry, but something went wrong (500)</title></head><body><h1>We're sorry, but something went wrong.</h1></body></html>",
        ),
        FaultKind::Status502 => (
            StatusCode::BAD_GATEWAY,
            "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>",
        ),
        FaultKind::Status503 => (
            StatusCode::SERVICE_UNAVAILABLE,
            "<html><head><title>503 Service Unavailable</title></head><body><h1>Service Unavailable</h1><p>Harvest is temporarily unavailable.</p></body></html>",
        ),
        FaultKind::Status429 => return Some(too_many_requests(1)),
        _ => return None,
    };
    Some(html(status, body))
}

/// Harvest's 429: `Retry-After` in seconds, HTML body.
pub fn too_many_requests(retry_after: u64) -> Response {
    let mut resp = html(
        StatusCode::TOO_MANY_REQUESTS,
        "<html><head><title>429 Too Many Requests</title></head><body><h1>Too Many Requests</h1><p>You have exceeded the API rate limit. Please retry later.</p></body></html>",
    );
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(&retry_after.to_string()).expect("digits are a valid header"),
    );
    resp
}

/// How long a slow fault delays the response.
pub fn delay(kind: &FaultKind) -> Option<Duration> {
    match kind {
        FaultKind::Slow(d) => Some(*d),
        _ => None,
    }
}

/// A body fault applied to a rendered 200 response. `self_url` is the request's absolute URL,
/// `foreign_url` the same URL on another host. Returns `None` when the fault does not apply to
/// this response (e.g. a link fault on a response without links).
pub fn corrupt(
    kind: &FaultKind,
    status: StatusCode,
    body: &Bytes,
    self_url: &str,
    foreign_url: &str,
) -> Option<Response> {
    let json = |bytes: Vec<u8>| {
        let mut r = Response::new(Body::from(bytes));
        *r.status_mut() = status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        r
    };
    match kind {
        FaultKind::TruncatedBody => {
            let half = body.slice(..body.len() / 2);
            let stream = futures::stream::unfold(Some(half), |state| async move {
                match state {
                    Some(chunk) => Some((Ok::<Bytes, std::io::Error>(chunk), None)),
                    None => {
                        // Let the first half reach the client before the connection drops.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Some((Err(std::io::Error::other("injected truncation")), None))
                    }
                }
            });
            let mut r = Response::new(Body::from_stream(stream));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            r.headers_mut().insert(
                header::CONTENT_LENGTH,
                HeaderValue::from_str(&body.len().to_string()).expect("digits"),
            );
            Some(r)
        }
        FaultKind::MalformedJson => Some(json(body[..body.len() / 2].to_vec())),
        FaultKind::HugeBody => Some(huge_body()),
        FaultKind::NextLinkLoop | FaultKind::ForeignNextLink => {
            let target = if *kind == FaultKind::NextLinkLoop {
                self_url
            } else {
                foreign_url
            };
            replace_next_link(body, target).map(json)
        }
        FaultKind::MissingPrimaryKey => {
            edit_first_record(body, &|_| vec![Edit::Remove("id")]).map(json)
        }
        FaultKind::WrongTypes => edit_first_record(body, &|record| {
            let mut edits = Vec::new();
            let members = patch::members(record, 0)
                .map(|(m, _)| m)
                .unwrap_or_default();
            for m in members {
                let value = &record[m.value.0..m.value.1];
                match m.key {
                    "id" => edits.push(Edit::Replace(
                        "id",
                        format!("\"{}\"", String::from_utf8_lossy(value)).into_bytes(),
                    )),
                    "updated_at" => {
                        let text = String::from_utf8_lossy(value);
                        let secs = time::parse_datetime(text.trim_matches('"')).unwrap_or(0);
                        edits.push(Edit::Replace("updated_at", secs.to_string().into_bytes()));
                    }
                    _ => {}
                }
            }
            edits
        })
        .map(json),
        _ => None,
    }
}

/// A 200 whose body streams 512 MiB of one JSON string, without a `Content-Length`.
fn huge_body() -> Response {
    static CHUNK: [u8; 65_536] = [b'x'; 65_536];
    const CHUNKS: usize = 8192;
    let head = futures::stream::once(async {
        Ok::<Bytes, std::io::Error>(Bytes::from_static(b"{\"padding\":\""))
    });
    let middle = futures::stream::iter((0..CHUNKS).map(|_| Ok(Bytes::from_static(&CHUNK))));
    let tail = futures::stream::once(async { Ok(Bytes::from_static(b"\"}")) });
    use futures::StreamExt;
    let mut r = Response::new(Body::from_stream(head.chain(middle).chain(tail)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn replace_next_link(body: &[u8], target: &str) -> Option<Vec<u8>> {
    let (members, _) = patch::members(body, 0)?;
    let links = members.iter().find(|m| m.key == "links")?;
    let links_text = &body[links.value.0..links.value.1];
    let mut url = Vec::new();
    crate::render::json::write_escaped(&mut url, target);
    let new_links = patch::edit_object(links_text, &[Edit::Replace("next", url)]);
    Some(patch::edit_object(
        body,
        &[Edit::Replace("links", new_links)],
    ))
}

/// Applies `edits` to the first record: the first element of the envelope's array, or the
/// object itself for single-object responses.
fn edit_first_record(body: &[u8], edits: &dyn Fn(&[u8]) -> Vec<Edit<'static>>) -> Option<Vec<u8>> {
    let (members, _) = patch::members(body, 0)?;
    let first = members.first()?;
    if body.get(first.value.0) != Some(&b'[') {
        return Some(patch::edit_object(body, &edits(body)));
    }
    let (s, e) = patch::first_element(body, first.value.0)?;
    let record = &body[s..e];
    let edited = patch::edit_object(record, &edits(record));
    let mut out = Vec::with_capacity(body.len());
    out.extend_from_slice(&body[..s]);
    out.extend_from_slice(&edited);
    out.extend_from_slice(&body[e..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_deterministic_per_url_and_occurrence() {
        let faults = Faults::mix(7, 0.5, &[FaultKind::Status500, FaultKind::ConnectionReset]);
        let run = || {
            let mut s = FaultState::new(faults.clone());
            (0..50)
                .map(|i| s.draw("GET", "/v2/clients", &format!("page={}", i % 5)))
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        assert!(a.iter().any(Option::is_some) && a.iter().any(Option::is_none));
        let mut none = FaultState::new(Faults::none());
        assert_eq!(none.draw("GET", "/v2/clients", ""), None);
    }

    #[test]
    fn a_path_with_a_query_matches_only_requests_carrying_its_parameters() {
        let mut s = FaultState::new(Faults {
            paths: vec!["/v2/clients?page=2".into(), "/v2/roles".into()],
            ..Faults::mix(7, 1.0, &[FaultKind::Status500])
        });
        let fault = Some(FaultKind::Status500);
        assert_eq!(s.draw("GET", "/v2/clients", "per_page=5&page=2"), fault);
        assert_eq!(s.draw("GET", "/v2/clients", "page=2"), fault);
        assert_eq!(s.draw("GET", "/v2/clients", "page=20&per_page=5"), None);
        assert_eq!(s.draw("GET", "/v2/clients", "per_page=5"), None);
        assert_eq!(s.draw("GET", "/v2/clients/1", "page=2"), None);
        // A parameter named with `!` must be absent.
        let mut whole = FaultState::new(Faults {
            paths: vec!["/v2/invoices/7/payments?!updated_since".into()],
            ..Faults::mix(1, 1.0, &[FaultKind::Status500])
        });
        let payments = "/v2/invoices/7/payments";
        assert_eq!(whole.draw("GET", payments, "per_page=5"), fault);
        assert_eq!(whole.draw("GET", payments, ""), fault);
        let since = "updated_since=2026-01-01T00%3A00%3A00Z&per_page=5";
        assert_eq!(whole.draw("GET", payments, since), None);
        assert_eq!(s.draw("GET", "/v2/roles/3", ""), fault);
    }

    #[test]
    fn wrong_types_and_missing_id_edit_the_first_record() {
        let body = Bytes::from_static(
            br#"{"clients":[{"id":5,"name":"a","updated_at":"1970-01-01T00:00:10Z"},{"id":6}],"links":{"first":"f","next":null}}"#,
        );
        let r = corrupt(&FaultKind::WrongTypes, StatusCode::OK, &body, "s", "f").unwrap();
        let _ = r;
        let edited = edit_first_record(&body, &|_| vec![Edit::Remove("id")]).unwrap();
        assert_eq!(
            String::from_utf8(edited).unwrap(),
            r#"{"clients":[{"name":"a","updated_at":"1970-01-01T00:00:10Z"},{"id":6}],"links":{"first":"f","next":null}}"#
        );
        let looped = replace_next_link(&body, "http://x/").unwrap();
        assert!(String::from_utf8(looped)
            .unwrap()
            .ends_with(r#""next":"http://x/"}}"#));
    }
}
