//! The connector's configuration: validated against `spec.json`, then parsed into [`Config`].
//!
//! Validation happens in two steps so that every problem a user can make in the file gets a
//! message naming the field: first the JSON Schema of `spec.json` (types, patterns, required
//! fields), then the checks a schema cannot express (dates in the right order, not in the future).

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use url::Url;

/// A secret value from the config. Its `Debug` and `Display` never show the value, so a secret
/// cannot leak through a log line or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it (an HTTP header or form).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How the connector authenticates to Harvest.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// A Personal Access Token from Harvest ID's Developers page.
    PersonalToken {
        /// The token, sent as `Authorization: Bearer …`.
        api_token: Secret,
    },
    /// An OAuth2 application: access tokens are obtained (and renewed) with the refresh token.
    OAuth {
        /// The OAuth application's client id.
        client_id: String,
        /// The OAuth application's client secret.
        client_secret: Secret,
        /// The long-lived refresh token.
        refresh_token: Secret,
    },
}

/// A request budget: at most `requests` in any window of length `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub requests: u32,
    /// The length of the window.
    pub window: Duration,
}

/// The typed configuration every command works from.
#[derive(Clone, Debug)]
pub struct Config {
    /// The Harvest account id, sent as `Harvest-Account-Id`.
    pub account_id: String,
    /// Nothing updated (entities) or spent (reports) before this instant is replicated.
    pub start_date: DateTime<Utc>,
    /// Nothing after this instant is replicated; `None` means "up to now".
    pub end_date: Option<DateTime<Utc>>,
    /// PAT or OAuth.
    pub credentials: Credentials,
    /// Base URL of the API, without a trailing slash (`https://api.harvestapp.com/v2`).
    pub api_url: Url,
    /// Harvest ID's OAuth token endpoint.
    pub oauth_token_url: Url,
    /// Budget of the general bucket (Harvest: 100 requests / 15 s).
    pub general_limit: RateLimit,
    /// Budget of the reports bucket (Harvest: 100 requests / 15 min).
    pub reports_limit: RateLimit,
    /// `per_page` sent on every list request (Harvest's maximum is 2000).
    pub page_size: u32,
    /// How many streams are read at once.
    pub max_concurrency: usize,
    /// A STATE is emitted at the first page boundary after this many records.
    pub checkpoint_interval: u64,
    /// Timeout of one HTTP request, body included.
    pub request_timeout: Duration,
    /// Retries of one request before its stream gives up.
    pub max_retries: usize,
    /// First backoff delay; later ones grow exponentially, with jitter.
    pub retry_base_delay: Duration,
}
