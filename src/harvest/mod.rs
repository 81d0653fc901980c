//! The HTTP side of the connector: one [`HarvestClient`] shared by every stream, which
//! authenticates (PAT or OAuth), paces requests ahead of Harvest's rate limits, retries what is
//! transient and refuses what is hostile, so that callers see either a well-formed JSON body or
//! a [`FetchError`] saying what to do.

mod auth;
mod body;
pub mod diagnose;
mod error;
mod limiter;
mod reach;
mod retry;
#[cfg(test)]
mod tests;
pub mod waiting;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, DATE, RETRY_AFTER};
use url::Url;

use crate::config::Config;
use auth::Auth;
pub use auth::RotationSink;
use body::{describe, read_capped, BodyError};
pub use error::FetchError;
use error::{shown_path, shown_url, truncated};
use limiter::Limiter;
pub use limiter::Pace;
use reach::{Reachability, UNREACHABLE_AFTER};
use retry::{parse_retry_after, Failure, RetryPolicy};
use waiting::Wait;

/// Sent on every request: Harvest answers 400 without a User-Agent and asks for one that names
/// the application and a way to reach its authors.
const USER_AGENT: &str = concat!(
    "source-harvest/",
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("CARGO_PKG_REPOSITORY"),
    ")"
);

/// The largest response body accepted. A page of 2000 of Harvest's largest records (invoices
/// with line items) is a few MiB; a body this size is a broken or hostile server.
const MAX_BODY: usize = 64 << 20;

/// The largest error body read for its `{"message": …}`; the rest is not worth the memory.
const MAX_ERROR_BODY: usize = 64 << 10;

/// Which of Harvest's rate limits a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Every endpoint but the reports: 100 requests per 15 s.
    General,
    /// `/reports/*`: 100 requests per 15 min.
    Reports,
}

/// What Harvest ID knows of a token (see [`HarvestClient::accounts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenAccess {
    /// The token itself is wrong, expired or revoked.
    Refused,
    /// The token is good and reaches these Harvest account ids.
    Accounts(Vec<String>),
}

/// A successful response: its body is well-formed JSON.
#[derive(Debug, Clone)]
pub struct Response {
    /// The raw body, for the caller to deserialize the way it needs.
    pub body: Bytes,
    /// The server's `Date` header: the clock incremental watermarks are taken from, so that our
    /// clock's skew cannot open a hole.
    pub date: Option<DateTime<Utc>>,
}

/// What the client has done so far, for the end-of-sync log and for tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Requests sent that counted against the general bucket (retries included).
    pub general_requests: u64,
    /// Requests sent that counted against the reports bucket (retries included).
    pub reports_requests: u64,
    /// Retries after a failed attempt (API and token endpoint).
    pub retries: u64,
    /// 429 answers received.
    pub rate_limited: u64,
    /// OAuth access tokens obtained.
    pub token_refreshes: u64,
    /// How long the general bucket held requests back (its pace, and any `Retry-After`).
    pub general_waited: std::time::Duration,
    /// How long the reports bucket held requests back.
    pub reports_waited: std::time::Duration,
}

/// The live counters behind [`ClientStats`].
#[derive(Debug, Default)]
struct Counters {
    general_requests: AtomicU64,
    reports_requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    token_refreshes: AtomicU64,
}

/// The Harvest API client. Cloning is cheap and clones share everything — the connection pool,
/// the access token, the rate limiters and the counters — which is what makes the limiters hold
/// across concurrently read streams.
#[derive(Clone)]
pub struct HarvestClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    api_url: Url,
    account_id: HeaderValue,
    auth: Auth,
    general: Limiter,
    reports: Limiter,
    retry: RetryPolicy,
    max_body: usize,
    counters: Arc<Counters>,
    /// The newest OAuth token generation Harvest answered a 2xx to.
    accepted_generation: AtomicU64,
    /// Whether the API host answers at all.
    reach: Reachability,
}

impl HarvestClient {
    /// A client for the config's API, credentials, rate limits, timeout and retry budget.
    pub fn new(config: &Config) -> Result<HarvestClient, FetchError> {
        HarvestClient::with_limits(config, MAX_BODY, UNREACHABLE_AFTER)
    }

    /// [`HarvestClient::new`] with the body cap and the unreachable host's budget given (tests
    /// use small ones).
    fn with_limits(
        config: &Config,
        max_body: usize,
        unreachable_after: Duration,
    ) -> Result<HarvestClient, FetchError> {
        let config_error = |message: &str| FetchError::Config {
            message: message.to_owned(),
        };
        if !matches!(config.api_url.scheme(), "http" | "https") || config.api_url.host().is_none() {
            return Err(config_error("api_url must be an http(s) URL with a host"));
        }
        let account_id = HeaderValue::from_str(&config.account_id).map_err(|_| {
            config_error("account_id must be printable ASCII (Harvest's account ids are numbers)")
        })?;
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(HeaderMap::from_iter([(
                ACCEPT,
                HeaderValue::from_static("application/json"),
            )]))
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| FetchError::Config {
                message: format!("could not set up the HTTP client: {}", describe(&e)),
            })?;
        let retry = RetryPolicy {
            base_delay: config.retry_base_delay,
            max_retries: config.max_retries,
        };
        let host = config.api_url.host_str().unwrap_or_default();
        let host = match config.api_url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        Ok(HarvestClient {
            inner: Arc::new(Inner {
                auth: Auth::new(&config.credentials, &config.oauth_token_url, &http, retry),
                http,
                api_url: config.api_url.clone(),
                account_id,
                general: Limiter::new(Pace::general(config.general_limit)),
                reports: Limiter::new(Pace::reports(config.reports_limit)),
                retry,
                max_body,
                counters: Arc::default(),
                accepted_generation: AtomicU64::new(0),
                reach: Reachability::new(host, unreachable_after),
            }),
        })
    }

    /// Absolute URL for an API path such as `/clients` or `/reports/time/clients`, with query
    /// pairs, under the configured `api_url`: the one place URLs are built, so every request
    /// stays on the API host.
    pub fn url(&self, path: &str, query: &[(&str, String)]) -> Url {
        let mut url = self.inner.api_url.clone();
        let joined = format!(
            "{}/{}",
            url.path().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        url.set_path(&joined);
        url.set_query(None);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(name, value)| (*name, value.as_str())));
        }
        url
    }

    /// GETs an absolute URL (a first page, or a `links.next` the server gave). Waits for the
    /// bucket's limiter, authenticates, retries transient failures, renews an OAuth token on a
    /// 401 (see [`Inner::worth_renewing`]), and returns only a 2xx whose body is well-formed JSON.
    /// Once the host is known unreachable (see `reach`), every request, waiting or new, fails at
    /// once with [`FetchError::Unreachable`].
    pub async fn get(&self, url: &Url, bucket: Bucket) -> Result<Response, FetchError> {
        let inner = &*self.inner;
        tokio::select! {
            biased;
            outcome = inner.get(url, bucket) => outcome,
            verdict = inner.reach.unreachable() => Err(verdict),
        }
    }

    /// What Harvest ID's accounts endpoint says of the credentials: one request, no retry, no
    /// account header; `None` if it gave no clear answer. The API answers a wrong token and a
    /// wrong account id with the same 401; this tells them apart, for `check`.
    pub async fn accounts(&self, accounts_url: &Url) -> Option<TokenAccess> {
        let inner = &*self.inner;
        let bearer = inner.auth.bearer(&inner.counters).await.ok()?;
        let response = inner
            .http
            .get(accounts_url.clone())
            .bearer_auth(bearer.token.expose())
            .send()
            .await
            .ok()?;
        match response.status().as_u16() {
            401 => Some(TokenAccess::Refused),
            200 => {
                #[derive(serde::Deserialize)]
                struct Accounts {
                    accounts: Vec<Account>,
                }
                #[derive(serde::Deserialize)]
                struct Account {
                    id: serde_json::Value,
                    product: Option<String>,
                }
                let mut response = response;
                let body = read_capped(&mut response, MAX_ERROR_BODY).await.ok()?;
                let listed: Accounts = serde_json::from_slice(&body).ok()?;
                Some(TokenAccess::Accounts(
                    listed
                        .accounts
                        .into_iter()
                        // The same Harvest ID also lists Forecast accounts, which the API
                        // does not serve.
                        .filter(|a| a.product.as_deref().is_none_or(|p| p == "harvest"))
                        .map(|a| match a.id {
                            serde_json::Value::String(id) => id,
                            id => id.to_string(),
                        })
                        .collect(),
                ))
            }
            _ => None,
        }
    }

    /// Waits for an OAuth token renewal still under way; a run ends with this, so that a
    /// renewal left by a cancelled request is never cut off (see `auth`).
    pub async fn settle(&self) {
        self.inner.auth.settle().await;
    }

    /// Registers who persists a refresh token Harvest rotates (OAuth only).
    pub fn on_refresh_token_rotated(&self, sink: RotationSink) {
        self.inner.auth.on_refresh_token_rotated(sink);
    }

    /// A snapshot of what the client has done so far.
    pub fn stats(&self) -> ClientStats {
        let counters = &self.inner.counters;
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ClientStats {
            general_requests: read(&counters.general_requests),
            reports_requests: read(&counters.reports_requests),
            retries: read(&counters.retries),
            rate_limited: read(&counters.rate_limited),
            token_refreshes: read(&counters.token_refreshes),
            general_waited: self.inner.general.waited(),
            reports_waited: self.inner.reports.waited(),
        }
    }
}

impl Inner {
    /// [`HarvestClient::get`], but for the verdict on the host coming in while it waits.
    async fn get(&self, url: &Url, bucket: Bucket) -> Result<Response, FetchError> {
        if !self.is_api_origin(url) {
            return Err(FetchError::ForeignHost {
                url: self.auth.scrub(&shown_url(url)),
            });
        }
        let url_path = self.auth.scrub(&shown_path(url));
        let generation = AtomicU64::new(0);
        let refused = AtomicBool::new(false);
        let wait = std::sync::Mutex::new(Wait::current());
        let send = || {
            self.retry.run(&url_path, &self.counters, || {
                self.attempt(url, bucket, &url_path, &generation, &refused, &wait)
            })
        };
        let mut renewed = false;
        loop {
            match send().await {
                Err(FetchError::Unauthorized { .. })
                    if self.worth_renewing(renewed, generation.load(Ordering::Relaxed))
                        && self
                            .auth
                            .renew_after_401(generation.load(Ordering::Relaxed), &self.counters)
                            .await? =>
                {
                    renewed = true;
                }
                // Out of retries on a failed connection: unless the host answered before, no
                // other request can do better.
                Err(FetchError::Transient {
                    url_path,
                    attempts,
                    last_error,
                }) if refused.load(Ordering::Relaxed) => {
                    return Err(self.reach.exhausted(&last_error).unwrap_or(
                        FetchError::Transient {
                            url_path,
                            attempts,
                            last_error,
                        },
                    ));
                }
                outcome => return outcome,
            }
        }
    }

    /// Whether a 401 to a request sent with token `rejected` deserves a renewal and another
    /// send: always the first time; again only if Harvest accepted that token (or a newer one)
    /// before, i.e. the renewed token expired while the request was still being retried. A
    /// renewed token refused outright means the credentials are wrong, and renewing again
    /// would loop.
    fn worth_renewing(&self, renewed: bool, rejected: u64) -> bool {
        !renewed || self.accepted_generation.load(Ordering::Relaxed) >= rejected
    }

    /// Whether `url` is on the configured API's scheme, host and port, without credentials of
    /// its own: only such URLs ever receive our token.
    fn is_api_origin(&self, url: &Url) -> bool {
        url.scheme() == self.api_url.scheme()
            && url.host() == self.api_url.host()
            && url.port_or_known_default() == self.api_url.port_or_known_default()
            && url.username().is_empty()
            && url.password().is_none()
    }

    fn limiter(&self, bucket: Bucket) -> &Limiter {
        match bucket {
            Bucket::General => &self.general,
            Bucket::Reports => &self.reports,
        }
    }

    /// One request, its outcome classified for the retry policy. The token is fetched before the
    /// limiter grants the slot so that a token renewal cannot delay a send past its slot.
    /// `refused` says whether this attempt failed to connect (see [`Inner::unanswered`]); `wait`
    /// tells the request's stream how long the rate limit holds it (see [`waiting`]).
    async fn attempt(
        &self,
        url: &Url,
        bucket: Bucket,
        url_path: &str,
        generation: &AtomicU64,
        refused: &AtomicBool,
        wait: &std::sync::Mutex<Wait>,
    ) -> Result<Response, Failure> {
        let wait = || {
            wait.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(verdict) = self.reach.verdict() {
            return Err(Failure::Final(verdict));
        }
        let bearer = self
            .auth
            .bearer(&self.counters)
            .await
            .map_err(Failure::Final)?;
        generation.store(bearer.generation, Ordering::Relaxed);
        let limiter = self.limiter(bucket);
        limiter.acquire_watched(|until| wait().until(until)).await;
        wait().went_on();
        let sent = match bucket {
            Bucket::General => &self.counters.general_requests,
            Bucket::Reports => &self.counters.reports_requests,
        };
        sent.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let mut response = self
            .http
            .get(url.clone())
            .bearer_auth(bearer.token.expose())
            .header("Harvest-Account-Id", self.account_id.clone())
            .send()
            .await
            .map_err(|e| self.unanswered(&e, refused))?;
        refused.store(false, Ordering::Relaxed);
        self.reach.answered();
        let status = response.status().as_u16();
        tracing::debug!(
            "GET {url_path}: HTTP {status} after {} ms",
            started.elapsed().as_millis()
        );
        let server_date = response
            .headers()
            .get(DATE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| httpdate::parse_http_date(value).ok());
        let url_path = url_path.to_owned();
        match status {
            200..=299 => {
                let body = match read_capped(&mut response, self.max_body).await {
                    Ok(body) => body,
                    Err(BodyError::TooLarge) => {
                        return Err(Failure::Final(FetchError::TooLarge {
                            url_path,
                            limit: self.max_body,
                        }))
                    }
                    Err(BodyError::Read(cause)) => return Err(Failure::retryable(cause)),
                };
                if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
                    return Err(Failure::retryable(format!(
                        "HTTP {status} with a body that is not valid JSON ({e})"
                    )));
                }
                self.accepted_generation
                    .fetch_max(bearer.generation, Ordering::Relaxed);
                Ok(Response {
                    body,
                    date: server_date.map(DateTime::<Utc>::from),
                })
            }
            429 => {
                self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| parse_retry_after(value, server_date));
                if let Some(delay) = retry_after {
                    limiter.hold_for(delay);
                    // The retry policy sleeps this long before the next attempt.
                    wait().retry_after(delay);
                }
                Err(Failure::Retryable {
                    cause: "HTTP 429 Too Many Requests".to_owned(),
                    retry_after,
                })
            }
            408 | 500 | 502 | 503 | 504 => Err(Failure::retryable(format!("HTTP {status}"))),
            401 => Err(Failure::Final(FetchError::Unauthorized {
                url_path,
                message: self.error_message(&mut response).await,
            })),
            403 => Err(Failure::Final(FetchError::Forbidden { url_path })),
            404 => Err(Failure::Final(FetchError::NotFound { url_path })),
            _ => Err(Failure::Final(FetchError::Rejected {
                url_path,
                status,
                message: self.error_message(&mut response).await,
            })),
        }
    }

    /// A request that got no response. A failed connection counts towards the verdict on the
    /// host, and is final once the host is known unreachable; anything else (a timeout, a
    /// reset) is an answering host's trouble too, and only retried.
    fn unanswered(&self, error: &reqwest::Error, refused: &AtomicBool) -> Failure {
        let cause = describe(error);
        let connect = error.is_connect() && !error.is_timeout();
        refused.store(connect, Ordering::Relaxed);
        match connect.then(|| self.reach.connect_failed(&cause)).flatten() {
            Some(verdict) => Failure::Final(verdict),
            None => Failure::retryable(cause),
        }
    }

    /// What an error response says: Harvest's `{"message": …}` or OAuth's `error_description`
    /// / `error`, scrubbed of secrets and truncated.
    async fn error_message(&self, response: &mut reqwest::Response) -> String {
        let body = read_capped(response, MAX_ERROR_BODY)
            .await
            .unwrap_or_default();
        let said = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|value| {
                ["message", "error_description", "error"]
                    .iter()
                    .find_map(|key| value.get(key)?.as_str().map(str::to_owned))
            })
            .unwrap_or_default();
        let said = self.auth.scrub(&said);
        // spec.json marks account_id a secret too; a server that repeats it is not trusted to.
        let said = match self.account_id.to_str() {
            Ok(account_id) if !account_id.is_empty() => said.replace(account_id, "***"),
            _ => said,
        };
        let said = truncated(&said);
        if said.is_empty() {
            "no explanation in the response".to_owned()
        } else {
            said
        }
    }
}
