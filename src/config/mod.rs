//! The connector's configuration: validated against `spec.json`, then parsed by serde into
//! [`Config`].
//!
//! Every problem a user can make in the file gets a message naming the field, in three steps:
//! the credentials first (the schema's `oneOf` could only say "matches no variant";
//! `credentials.rs`), then the JSON Schema of `spec.json` (types, patterns, required fields,
//! ranges; `validate.rs`), then the typed parse and the checks a schema cannot express (dates in
//! the right order, not in the future; URLs the client can use). spec.json is the one place a
//! default is written: the typed parse reads a field left out as spec.json's default, and a
//! field without one is a test failure. Did-you-mean hints for misspelt keys are in `hints.rs`.

mod credentials;
mod hints;
mod validate;

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use url::Url;

use crate::input::{json_type, InputError, InputFile, Location, Problem};

pub use hints::{unknown_keys, UnknownKey};

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
    /// Every parent's children are read again at least once in this long (`None`: in every
    /// sync); see `child_sweep_hours` in spec.json.
    pub child_sweep: Option<chrono::Duration>,
    /// Whether incremental syncs send tombstones for records deleted in Harvest; see
    /// `capture_deletions` in spec.json.
    pub capture_deletions: bool,
    /// Report windows holding a day of this many last days are read again by every
    /// incremental sync; see `report_lookback_days` in spec.json.
    pub report_lookback_days: i64,
    /// Timeout of one HTTP request, body included.
    pub request_timeout: Duration,
    /// Retries of one request before its stream gives up.
    pub max_retries: usize,
    /// First backoff delay; later ones grow exponentially, with jitter.
    pub retry_base_delay: Duration,
}

/// The SPEC the connector prints: `spec.json` at the repository root, embedded at build time.
pub const SPEC: &str = include_str!("../../spec.json");

/// The `connectionSpecification` of [`SPEC`].
pub fn connection_specification() -> serde_json::Value {
    let spec: serde_json::Value = serde_json::from_str(SPEC).expect("spec.json is valid JSON");
    spec["connectionSpecification"].clone()
}

/// The top-level fields as written (the credentials aside), typed by serde. Every field is
/// required here: [`with_defaults`] fills in spec.json's default of each one the config leaves
/// out, so a field spec.json neither requires nor gives a default fails the unit tests instead
/// of silently becoming zero.
#[derive(Deserialize)]
struct Fields {
    account_id: String,
    #[serde(deserialize_with = "instant")]
    replication_start_date: DateTime<Utc>,
    #[serde(default, deserialize_with = "some_instant")]
    replication_end_date: Option<DateTime<Utc>>,
    api_url: String,
    oauth_token_url: String,
    requests_per_window: u32,
    #[serde(deserialize_with = "seconds")]
    window_seconds: Duration,
    report_requests_per_window: u32,
    #[serde(deserialize_with = "seconds")]
    report_window_seconds: Duration,
    page_size: u32,
    max_concurrency: usize,
    checkpoint_interval: u64,
    #[serde(deserialize_with = "sweep_hours")]
    child_sweep_hours: Option<chrono::Duration>,
    capture_deletions: bool,
    report_lookback_days: i64,
    #[serde(deserialize_with = "seconds")]
    request_timeout_seconds: Duration,
    max_retries: usize,
    #[serde(deserialize_with = "seconds")]
    retry_base_delay_seconds: Duration,
}

/// A date-time, parsed as the state's are ([`crate::time`]).
fn instant<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(deserializer)?;
    crate::time::parse_instant(&text).ok_or_else(|| D::Error::custom("not a UTC date-time"))
}

/// An optional date-time: present, it must be one.
fn some_instant<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    instant(deserializer).map(Some)
}

/// A number of seconds, as a duration.
fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    Duration::try_from_secs_f64(f64::deserialize(deserializer)?).map_err(D::Error::custom)
}

/// `child_sweep_hours`, to the millisecond; `None` for 0, which means "in every sync".
fn sweep_hours<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<chrono::Duration>, D::Error> {
    let hours = f64::deserialize(deserializer)?;
    let exact = Duration::try_from_secs_f64(hours * 3600.0)
        .ok()
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .ok_or_else(|| D::Error::custom("not a number of hours"))?;
    let sweep = chrono::Duration::milliseconds(exact.num_milliseconds());
    Ok(Some(sweep).filter(|sweep| !sweep.is_zero()))
}

/// The config's top-level fields as the typed parse reads them: spec.json's default in place of
/// each one left out, and an integer written with a fraction of zero (`10.0`, which JSON Schema
/// counts as an integer and the schema has therefore let through) as the integer.
fn with_defaults(object: &serde_json::Map<String, Value>) -> Value {
    let spec = connection_specification();
    let properties = spec["properties"].as_object().into_iter().flatten();
    let mut doc: serde_json::Map<String, Value> = properties
        .clone()
        .filter_map(|(key, property)| Some((key.clone(), property.get("default")?.clone())))
        .collect();
    doc.extend(
        object
            .iter()
            .map(|(key, value)| (key.clone(), value.clone())),
    );
    for (key, _) in properties.filter(|(_, property)| property["type"] == "integer") {
        if let Some(value) = doc.get_mut(key).filter(|value| value.is_f64()) {
            if let Some(whole) = value.as_f64().filter(|n| n.fract() == 0.0) {
                // Exact: spec.json bounds every integer field far inside ±2^53.
                *value = Value::from(whole as i64);
            }
        }
    }
    Value::Object(doc)
}

/// The typed fields of a config (with defaults), a field serde refuses named by the path the
/// deserializer reports, in spec.json's words.
fn typed_fields(doc: &Value) -> Result<Fields, InputError> {
    serde_path_to_error::deserialize(doc).map_err(|e| validate::refused(&e.path().to_string(), doc))
}

impl Config {
    /// Validates a config document against spec.json and builds the typed config from it.
    pub fn from_json(value: &Value) -> Result<Config, InputError> {
        let Some(object) = value.as_object() else {
            return Err(InputError::new(
                InputFile::Config,
                Location::Document,
                Problem::WrongType {
                    expected:
                        "a JSON object with account_id, replication_start_date and credentials"
                            .into(),
                    found: json_type(value),
                },
            ));
        };
        let credentials = credentials::parse(value)?;
        validate::against_spec(value)?;
        let fields = typed_fields(&with_defaults(object))?;
        fields.into_config(credentials)
    }
}

impl Fields {
    /// The typed config, after the checks the schema cannot express.
    fn into_config(self, credentials: Credentials) -> Result<Config, InputError> {
        let account_id = self.account_id.trim().to_string();
        if account_id.is_empty() {
            return Err(InputError::field("account_id", Problem::Empty).with_hint(
                "set it to your Harvest account id (Harvest ID → Developers, or the number in your Harvest URL's settings)",
            ));
        }
        // It travels as the `Harvest-Account-Id` header, so every command (discover included,
        // which sends nothing) refuses what no header can carry.
        if !account_id.chars().all(|c| c.is_ascii_graphic()) {
            return Err(InputError::field(
                "account_id",
                Problem::Says(
                    "must be printable ASCII without spaces: Harvest's account ids are numbers"
                        .into(),
                ),
            ));
        }
        let start_date = self.replication_start_date;
        let now = Utc::now();
        if start_date > now {
            return Err(InputError::field(
                "replication_start_date",
                Problem::Says(format!(
                    "{} is in the future: use a past date such as {}",
                    start_date.format("%Y-%m-%dT%H:%M:%SZ"),
                    (now - chrono::Duration::days(365)).format("%Y-01-01T00:00:00Z")
                )),
            ));
        }
        if let Some(end) = self.replication_end_date.filter(|end| *end <= start_date) {
            return Err(InputError::field(
                "replication_end_date",
                Problem::Says(format!(
                    "{} is not after replication_start_date {}: use a later end date or remove it",
                    end.format("%Y-%m-%dT%H:%M:%SZ"),
                    start_date.format("%Y-%m-%dT%H:%M:%SZ")
                )),
            ));
        }
        Ok(Config {
            account_id,
            start_date,
            end_date: self.replication_end_date,
            credentials,
            api_url: parse_url("api_url", &self.api_url)?,
            oauth_token_url: parse_url("oauth_token_url", &self.oauth_token_url)?,
            general_limit: RateLimit {
                requests: self.requests_per_window,
                window: self.window_seconds,
            },
            reports_limit: RateLimit {
                requests: self.report_requests_per_window,
                window: self.report_window_seconds,
            },
            page_size: self.page_size,
            max_concurrency: self.max_concurrency,
            checkpoint_interval: self.checkpoint_interval,
            child_sweep: self.child_sweep_hours,
            capture_deletions: self.capture_deletions,
            report_lookback_days: self.report_lookback_days,
            request_timeout: self.request_timeout_seconds,
            max_retries: self.max_retries,
            retry_base_delay: self.retry_base_delay_seconds,
        })
    }
}

/// The URL of `field`, refused with a message saying what to write if the client could not use
/// it.
fn parse_url(field: &str, text: &str) -> Result<Url, InputError> {
    let url = Url::parse(text.trim_end_matches('/'))
        .map_err(|e| InputError::field(field, Problem::Says(format!("is not a valid URL: {e}"))))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(InputError::field(
            field,
            Problem::Says(
                "must be an http(s) URL with a host, like https://api.harvestapp.com/v2".into(),
            ),
        ));
    }
    // The client refuses to send the token to a URL carrying credentials of its own, so such an
    // api_url would fail every request; say so now, without repeating them.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(InputError::field(
            field,
            Problem::Says("must not contain a user name or password; the Harvest credentials go in credentials".into()),
        ));
    }
    Ok(url)
}

#[cfg(test)]
pub(crate) mod tests {
    //! Config parsing as a whole: defaults, the typed fields, the dates. The messages of each
    //! concern are tested beside it (credentials, validate, hints); the table of every
    //! malformed config file (64 cases, read and parsed as every command does) is in
    //! `tests/e2e/bad_input.rs`, beside the catalog and state tables.

    use serde_json::{json, Value};

    use super::*;

    /// Shallow-merges `extra` into `base` (an object); a null value removes the key.
    fn merge(base: &mut Value, extra: Value) {
        let (Value::Object(base), Value::Object(extra)) = (base, extra) else {
            panic!("objects");
        };
        for (k, v) in extra {
            if v.is_null() {
                base.remove(&k);
            } else {
                base.insert(k, v);
            }
        }
    }

    /// The valid config the tests break one thing of.
    pub(crate) fn base_config() -> Value {
        json!({
            "account_id": "1000001",
            "replication_start_date": "2020-01-01T00:00:00Z",
            "credentials": {"auth_type": "Token", "api_token": "token"},
            "api_url": "http://127.0.0.1:9/v2",
            "oauth_token_url": "http://127.0.0.1:9/api/v2/oauth2/token",
            "requests_per_window": 1000,
            "window_seconds": 1,
            "retry_base_delay_seconds": 0.01
        })
    }

    /// The error of a config document, as a message.
    pub(crate) fn error_of(doc: Value) -> String {
        Config::from_json(&doc).unwrap_err().to_string()
    }

    /// `base_config()` with `fields` patched in.
    pub(crate) fn patched(fields: Value) -> Value {
        let mut doc = base_config();
        merge(&mut doc, fields);
        doc
    }

    /// The config of only the fields spec.json requires, and credentials.
    fn minimal() -> Value {
        json!({"account_id": "1", "replication_start_date": "2020-01-01T00:00:00Z",
            "credentials": {"api_token": "t"}})
    }

    #[test]
    fn the_base_config_is_valid() {
        Config::from_json(&base_config()).unwrap();
    }

    /// spec.json is the one place defaults are written: a config of its required fields alone
    /// parses (so every other field the typed config needs has a default there, of its type),
    /// and the defaults arrive as the README documents them.
    #[test]
    fn every_field_left_out_takes_its_spec_json_default() {
        let config = Config::from_json(&minimal()).unwrap();
        assert_eq!(config.api_url.as_str(), "https://api.harvestapp.com/v2");
        assert_eq!(
            config.oauth_token_url.as_str(),
            "https://id.getharvest.com/api/v2/oauth2/token"
        );
        let limit = |requests, seconds| RateLimit {
            requests,
            window: Duration::from_secs(seconds),
        };
        assert_eq!(config.general_limit, limit(100, 15));
        assert_eq!(config.reports_limit, limit(100, 900));
        assert_eq!(
            (
                config.page_size,
                config.max_concurrency,
                config.checkpoint_interval
            ),
            (2000, 8, 2000)
        );
        assert_eq!(config.child_sweep, Some(chrono::Duration::hours(24)));
        assert!(config.capture_deletions);
        assert_eq!(config.report_lookback_days, 62);
        assert_eq!(config.request_timeout, Duration::from_secs(60));
        assert_eq!(config.max_retries, 8);
        assert_eq!(config.retry_base_delay, Duration::from_secs(1));
        assert_eq!(config.end_date, None);
    }

    /// Every optional field of spec.json has a default there, and every field of spec.json is
    /// read by the typed parse: a value of no field's type, put in each in turn, is refused at
    /// that field's path.
    #[test]
    fn every_field_of_spec_json_is_typed_and_every_optional_one_has_a_default() {
        let spec = connection_specification();
        let required: Vec<&str> = spec["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        // The two that may be left out without a default: an end of "now", and credentials at
        // the top level in legacy configs.
        let optional_without_default = ["replication_end_date", "credentials"];
        for (key, property) in spec["properties"].as_object().unwrap() {
            let defaulted = property.get("default").is_some();
            assert!(
                defaulted
                    || required.contains(&key.as_str())
                    || optional_without_default.contains(&key.as_str()),
                "{key} is optional in spec.json but has no default there"
            );
            if key == "credentials" {
                continue;
            }
            let mut doc = with_defaults(minimal().as_object().unwrap());
            doc[key] = json!([[]]);
            let Err(e) = serde_path_to_error::deserialize::<_, Fields>(&doc) else {
                panic!("{key} is not read by the typed config");
            };
            assert_eq!(e.path().to_string(), *key);
        }
    }

    /// JSON Schema counts `10.0` as an integer, so the typed parse takes it as one too.
    #[test]
    fn an_integer_written_with_a_zero_fraction_is_that_integer() {
        let config =
            Config::from_json(&patched(json!({"page_size": 10.0, "max_retries": 3.0}))).unwrap();
        assert_eq!((config.page_size, config.max_retries), (10, 3));
        assert_eq!(
            error_of(patched(json!({"page_size": 10.5}))),
            "the config is invalid: page_size must be of type integer"
        );
    }

    #[test]
    fn fractions_and_zero_of_the_sweep_and_seconds() {
        let config = Config::from_json(&patched(json!({"child_sweep_hours": 0.5,
            "request_timeout_seconds": 0.5})))
        .unwrap();
        assert_eq!(config.child_sweep, Some(chrono::Duration::minutes(30)));
        assert_eq!(config.request_timeout, Duration::from_millis(500));
        let config = Config::from_json(&patched(json!({"child_sweep_hours": 0}))).unwrap();
        assert_eq!(config.child_sweep, None);
    }

    #[test]
    fn a_missing_required_field_names_its_near_miss() {
        let mut doc = base_config();
        let start = doc
            .as_object_mut()
            .unwrap()
            .remove("replication_start_date")
            .unwrap();
        doc["replication_start_dat"] = start;
        assert_eq!(
            error_of(doc),
            "the config is invalid: replication_start_date is required; the config has replication_start_dat — a typo?"
        );
        let mut doc = base_config();
        doc["acount_id"] = doc.as_object_mut().unwrap().remove("account_id").unwrap();
        assert_eq!(
            error_of(doc),
            "the config is invalid: account_id is required; the config has acount_id — a typo?"
        );
        // Without a near miss, no guess.
        assert_eq!(
            error_of(patched(
                json!({"replication_start_date": null, "page_size": 10})
            )),
            "the config is invalid: replication_start_date is required"
        );
    }
}
