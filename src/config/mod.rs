//! The connector's configuration: validated against `spec.json`, then parsed into [`Config`].
//!
//! Validation happens in two steps so that every problem a user can make in the file gets a
//! message naming the field: first the JSON Schema of `spec.json` (types, patterns, required
//! fields), then the checks a schema cannot express (dates in the right order, not in the future).

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use url::Url;

use crate::input::{InputError, InputFile, Location, Problem};

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
pub const SPEC: &str = include_str!("../spec.json");

/// The `connectionSpecification` of [`SPEC`].
pub fn connection_specification() -> serde_json::Value {
    let spec: serde_json::Value = serde_json::from_str(SPEC).expect("spec.json is valid JSON");
    spec["connectionSpecification"].clone()
}

/// Top-level keys a config may have besides spec.json's properties: the credentials of
/// configs written before `credentials` existed, which [`Config::from_json`] still reads.
const LEGACY_KEYS: &[&str] = &[
    "api_token",
    "auth_type",
    "client_id",
    "client_secret",
    "refresh_token",
];

/// A top-level key of a config that neither spec.json nor the legacy shapes know: ignored,
/// which is what a misspelled optional field (`replication_end_dat`) would silently be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// The key as written.
    pub key: String,
    /// The known field it most looks like, when it looks like one.
    pub closest: Option<String>,
}

impl fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the config has an unknown field {:?}", Shown(&self.key))?;
        match &self.closest {
            Some(known) => write!(f, ": did you mean {known}? It is ignored as written"),
            None => f.write_str(", which is ignored"),
        }
    }
}

/// A key as messages show it: at most 40 characters.
struct Shown<'a>(&'a str);

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short: String = self.0.chars().take(40).collect();
        write!(f, "{short:?}")
    }
}

/// The top-level keys of a config that no field has, each with the known field it most looks
/// like. Only keys are looked at, never values.
pub fn unknown_keys(value: &serde_json::Value) -> Vec<UnknownKey> {
    let Some(object) = value.as_object() else {
        return Vec::new();
    };
    let spec = connection_specification();
    let known: Vec<&str> = spec["properties"]
        .as_object()
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let known: Vec<&str> = known
        .into_iter()
        .chain(LEGACY_KEYS.iter().copied())
        .collect();
    object
        .keys()
        .filter(|key| !known.contains(&key.as_str()))
        .map(|key| UnknownKey {
            key: key.clone(),
            closest: closest(key, known.iter().copied()).map(String::from),
        })
        .collect()
}

/// The candidate nearest to `word` by edit distance, ignoring case (a swap of two neighbours
/// counts once), if it is near enough to be a misspelling: at most 3 edits, and at most a
/// third of the longer name.
fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .filter(|c| *c != word)
        .map(|c| (distance(word, c), c))
        .filter(|(d, c)| *d <= 3 && *d * 3 <= word.chars().count().max(c.chars().count()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The edit distance between two keys, ignoring case.
fn distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(&a.to_lowercase(), &b.to_lowercase())
}

/// A key of `object` (other than `name` itself) that looks like a misspelling of `name`.
fn near_miss(object: &serde_json::Map<String, serde_json::Value>, name: &str) -> Option<String> {
    object
        .keys()
        .filter(|k| closest(k, std::iter::once(name)).is_some())
        .min_by_key(|k| distance(k, name))
        .map(|k| k.chars().take(40).collect())
}

impl Config {
    /// Validates a config document against spec.json and builds the typed config from it.
    pub fn from_json(value: &serde_json::Value) -> Result<Config, InputError> {
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
        check_credentials(value)?;
        validate_against_spec(value)?;
        let text = |key: &str| object.get(key).and_then(|v| v.as_str());
        let number = |key: &str| object.get(key).and_then(|v| v.as_f64());

        let account_id = text("account_id").unwrap_or_default().trim().to_string();
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
        let start_date = config_instant("replication_start_date", text("replication_start_date"))?
            .ok_or_else(|| {
                InputError::field(
                    "replication_start_date",
                    Problem::Required {
                        near_miss: near_miss(object, "replication_start_date"),
                    },
                )
            })?;
        let end_date = config_instant("replication_end_date", text("replication_end_date"))?;
        let now = chrono::Utc::now();
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
        if let Some(end) = end_date {
            if end <= start_date {
                return Err(InputError::field(
                    "replication_end_date",
                    Problem::Says(format!(
                        "{} is not after replication_start_date {}: use a later end date or remove it",
                        end.format("%Y-%m-%dT%H:%M:%SZ"),
                        start_date.format("%Y-%m-%dT%H:%M:%SZ")
                    )),
                ));
            }
        }
        let defaults = connection_specification();
        let default = |key: &str| {
            defaults["properties"][key]["default"]
                .as_f64()
                .unwrap_or(0.0)
        };
        let get = |key: &str| number(key).unwrap_or_else(|| default(key));
        let window = |key: &str| {
            let seconds = get(key);
            Duration::try_from_secs_f64(seconds).map_err(|_| {
                InputError::field(
                    key,
                    Problem::Says("must be a positive number of seconds".into()),
                )
            })
        };

        Ok(Config {
            account_id,
            start_date,
            end_date,
            credentials: credentials(value),
            api_url: parse_url("api_url", text("api_url"), &defaults)?,
            oauth_token_url: parse_url("oauth_token_url", text("oauth_token_url"), &defaults)?,
            general_limit: RateLimit {
                requests: get("requests_per_window") as u32,
                window: window("window_seconds")?,
            },
            reports_limit: RateLimit {
                requests: get("report_requests_per_window") as u32,
                window: window("report_window_seconds")?,
            },
            page_size: get("page_size") as u32,
            max_concurrency: get("max_concurrency") as usize,
            checkpoint_interval: get("checkpoint_interval") as u64,
            child_sweep: Some(get("child_sweep_hours"))
                .filter(|hours| *hours > 0.0)
                .map(|hours| chrono::Duration::milliseconds((hours * 3_600_000.0) as i64)),
            capture_deletions: value
                .get("capture_deletions")
                .and_then(serde_json::Value::as_bool)
                .or_else(|| defaults["properties"]["capture_deletions"]["default"].as_bool())
                .expect("spec.json gives capture_deletions a boolean default"),
            report_lookback_days: get("report_lookback_days") as i64,
            request_timeout: window("request_timeout_seconds")?,
            max_retries: get("max_retries") as usize,
            retry_base_delay: window("retry_base_delay_seconds")?,
        })
    }
}

/// The JSON type of a value, for messages that must not show the value itself.
pub fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Which kind of credentials a config holds: `auth_type` when given, otherwise inferred from
/// the fields present (configs written before `auth_type` existed).
fn auth_type(value: &serde_json::Value) -> Option<&str> {
    let creds = value
        .get("credentials")
        .filter(|c| c.is_object())
        .unwrap_or(value);
    match creds.get("auth_type").and_then(|t| t.as_str()) {
        Some(t) => Some(t),
        None if creds.get("api_token").is_some() => Some("Token"),
        None if creds.get("refresh_token").is_some() || creds.get("client_id").is_some() => {
            Some("Client")
        }
        None => None,
    }
}

/// Diagnoses the `credentials` object before the schema does: the schema's `oneOf` can only
/// say "matches no variant", while a user needs to hear which field is missing.
fn check_credentials(value: &serde_json::Value) -> Result<(), InputError> {
    let creds = match value.get("credentials") {
        Some(c @ serde_json::Value::Object(_)) => c,
        Some(other) => {
            return Err(InputError::field(
                "credentials",
                Problem::WrongType {
                    expected: "an object ({\"auth_type\": \"Token\", \"api_token\": …} or {\"auth_type\": \"Client\", \"client_id\": …, \"client_secret\": …, \"refresh_token\": …})".into(),
                    found: json_type(other),
                },
            ))
        }
        None if value.get("api_token").is_some() => value,
        None => {
            let near_miss = value.as_object().and_then(|o| near_miss(o, "credentials"));
            let error = InputError::field("credentials", Problem::Missing { near_miss });
            // With a near miss, the typo is the fix; without one, say what to add.
            return Err(match error.problem {
                Problem::Missing { near_miss: None } => error.with_hint("add {\"auth_type\": \"Token\", \"api_token\": \"<personal access token>\"} or the OAuth fields {\"auth_type\": \"Client\", \"client_id\", \"client_secret\", \"refresh_token\"}"),
                _ => error,
            });
        }
    };
    if let Some(kind) = creds.get("auth_type").filter(|t| !t.is_string()) {
        return Err(InputError::field(
            "credentials.auth_type",
            Problem::WrongType {
                expected: "a string, \"Token\" or \"Client\"".into(),
                found: json_type(kind),
            },
        ));
    }
    let required: &[&str] = match auth_type(value) {
        Some("Token") => &["api_token"],
        Some("Client") => &["client_id", "client_secret", "refresh_token"],
        Some(_) => {
            return Err(InputError::field(
                "credentials.auth_type",
                Problem::Says(
                    "is unknown: use \"Token\" (personal access token) or \"Client\" (OAuth)"
                        .into(),
                ),
            ))
        }
        None => {
            return Err(InputError::field(
                "credentials",
                Problem::Says("has neither an api_token nor OAuth fields: set auth_type \"Token\" with api_token, or auth_type \"Client\" with client_id, client_secret and refresh_token".into()),
            ))
        }
    };
    let object = creds.as_object().expect("an object");
    for field in required {
        let path = format!("credentials.{field}");
        match creds.get(*field) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => {}
            Some(serde_json::Value::String(_)) => {
                return Err(InputError::field(path, Problem::Empty))
            }
            Some(other) => {
                return Err(InputError::field(
                    path,
                    Problem::WrongType {
                        expected: "a string".into(),
                        found: json_type(other),
                    },
                ))
            }
            None => {
                let near_miss = near_miss(object, field).map(|k| {
                    if std::ptr::eq(creds, value) {
                        k
                    } else {
                        format!("credentials.{k}")
                    }
                });
                return Err(InputError::field(path, Problem::Missing { near_miss }));
            }
        }
    }
    Ok(())
}

fn credentials(value: &serde_json::Value) -> Credentials {
    let creds = value
        .get("credentials")
        .filter(|c| c.is_object())
        .unwrap_or(value);
    let text = |key: &str| creds[key].as_str().unwrap_or_default().trim().to_string();
    match auth_type(value) {
        Some("Client") => Credentials::OAuth {
            client_id: text("client_id"),
            client_secret: Secret::new(text("client_secret")),
            refresh_token: Secret::new(text("refresh_token")),
        },
        _ => Credentials::PersonalToken {
            api_token: Secret::new(text("api_token")),
        },
    }
}

/// Validates against spec.json, describing each problem by its field and rule only.
fn validate_against_spec(value: &serde_json::Value) -> Result<(), InputError> {
    let schema = connection_specification();
    let validator = jsonschema::draft7::new(&schema).expect("spec.json is a valid draft-07 schema");
    let mut problems: Vec<(String, Problem)> = validator
        .iter_errors(value)
        .map(|e| describe(&e, value, &schema))
        .collect();
    // A date without a time fails both the pattern and the date-time format: one sentence
    // about its form says it.
    let misformed: Vec<String> = problems
        .iter()
        .filter(|(_, p)| matches!(p, Problem::NotLike { .. } | Problem::NotMatching { .. }))
        .map(|(field, _)| field.clone())
        .collect();
    problems
        .retain(|(field, p)| !(matches!(p, Problem::NotValid { .. }) && misformed.contains(field)));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(InputError::new(
            InputFile::Config,
            Location::Document,
            Problem::Schema(problems),
        ))
    }
}

/// One JSON Schema error as a field and a problem, with an example of the right form from
/// spec.json where it has one.
fn describe(
    error: &jsonschema::ValidationError<'_>,
    config: &serde_json::Value,
    schema: &serde_json::Value,
) -> (String, Problem) {
    use jsonschema::error::ValidationErrorKind as Kind;
    let pointer = error.instance_path().as_str().to_string();
    let path = pointer.trim_start_matches('/').replace('/', ".");
    let field = if path.is_empty() {
        "the config".to_string()
    } else {
        path.clone()
    };
    let property = schema.pointer(&pointer.replace('/', "/properties/"));
    let example = property.and_then(|p| {
        p["examples"][0]
            .as_str()
            .or_else(|| p["default"].as_str())
            .map(String::from)
    });
    let problem = match error.kind() {
        Kind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let near_miss = config
                .pointer(&pointer)
                .and_then(|v| v.as_object())
                .and_then(|o| near_miss(o, name))
                .map(|k| {
                    if path.is_empty() {
                        k
                    } else {
                        format!("{path}.{k}")
                    }
                });
            let field = if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}.{name}")
            };
            return (field, Problem::Required { near_miss });
        }
        Kind::Type { kind } => Problem::NotOfType(
            format!("{kind:?}")
                .replace("Single(", "")
                .replace(')', "")
                .to_lowercase(),
        ),
        Kind::Pattern { pattern } => match example {
            Some(example) => Problem::NotLike { example },
            None => Problem::NotMatching {
                pattern: pattern.clone(),
            },
        },
        Kind::Format { format } => Problem::NotValid {
            format: format.clone(),
            example: example.map(String::into_boxed_str),
        },
        Kind::Minimum { limit } => range("at least", limit, property),
        Kind::ExclusiveMinimum { limit } => range("more than", limit, property),
        Kind::Maximum { limit } => range("at most", limit, property),
        Kind::ExclusiveMaximum { limit } => range("less than", limit, property),
        Kind::Enum { options } => Problem::Says(format!("must be one of {options}")),
        Kind::Constant { expected_value } => Problem::Says(format!("must be {expected_value}")),
        Kind::MinLength { .. } => Problem::Says("must not be empty".into()),
        _ => Problem::Says("is not valid".into()),
    };
    (field, problem)
}

/// A number past one of its bounds, as the whole range spec.json allows (whichever bound was
/// crossed, one message then says what to write instead); the bound crossed alone if the
/// property is not found.
fn range(rule: &str, limit: &serde_json::Value, property: Option<&serde_json::Value>) -> Problem {
    let allowed = property
        .map(allowed_range)
        .filter(|allowed| !allowed.is_empty())
        .unwrap_or_else(|| format!("{rule} {limit}"));
    Problem::OutOfRange {
        allowed: allowed.into(),
    }
}

/// The range a numeric property of spec.json allows, in words: `from 1 to 2000` when both
/// bounds are inclusive, otherwise each bound with its rule (`more than 0 and at most 60`).
fn allowed_range(property: &serde_json::Value) -> String {
    let bound = |inclusive: &str, exclusive: &str| {
        property
            .get(inclusive)
            .map(|v| (true, v.to_string()))
            .or_else(|| property.get(exclusive).map(|v| (false, v.to_string())))
    };
    match (
        bound("minimum", "exclusiveMinimum"),
        bound("maximum", "exclusiveMaximum"),
    ) {
        (Some((true, low)), Some((true, high))) => format!("from {low} to {high}"),
        (low, high) => {
            let low = low.map(|(inclusive, v)| {
                format!("{} {v}", if inclusive { "at least" } else { "more than" })
            });
            let high = high.map(|(inclusive, v)| {
                format!("{} {v}", if inclusive { "at most" } else { "less than" })
            });
            low.into_iter()
                .chain(high)
                .collect::<Vec<_>>()
                .join(" and ")
        }
    }
}

/// The config's date-time `field`, parsed as the state's are ([`crate::time`]).
fn config_instant(
    field: &str,
    value: Option<&str>,
) -> Result<Option<chrono::DateTime<Utc>>, InputError> {
    let Some(text) = value else { return Ok(None) };
    crate::time::parse_instant(text).map(Some).ok_or_else(|| {
        InputError::field(
            field,
            Problem::NotValid {
                format: "UTC date-time".into(),
                example: Some("2024-01-25T00:00:00Z".into()),
            },
        )
    })
}

fn parse_url(
    field: &str,
    value: Option<&str>,
    defaults: &serde_json::Value,
) -> Result<Url, InputError> {
    let text = value
        .or_else(|| defaults["properties"][field]["default"].as_str())
        .unwrap_or_default();
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
mod tests {
    //! Config parsing: the messages of the mistakes people make. The table of every malformed
    //! config file (58 cases, read and parsed as every command does) is in
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
    fn base_config() -> Value {
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
    fn error_of(doc: Value) -> String {
        Config::from_json(&doc).unwrap_err().to_string()
    }

    /// `base_config()` with `fields` patched in.
    fn patched(fields: Value) -> Value {
        let mut doc = base_config();
        merge(&mut doc, fields);
        doc
    }

    #[test]
    fn the_base_config_is_valid() {
        Config::from_json(&base_config()).unwrap();
    }

    #[test]
    fn a_date_without_a_time_is_one_sentence_with_an_example_and_no_pattern() {
        for field in ["replication_start_date", "replication_end_date"] {
            let message = error_of(patched(json!({ field: "2024-01-01" })));
            assert_eq!(
                message,
                format!("the config is invalid: {field} does not match the expected format, e.g. 2017-01-25T00:00:00Z"),
            );
        }
        let message = error_of(patched(
            json!({"replication_start_date": "2024-02-30T00:00:00Z"}),
        ));
        assert_eq!(
            message,
            "the config is invalid: replication_start_date is not a valid date-time; use one such as 2017-01-25T00:00:00Z"
        );
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
        assert_eq!(
            error_of(patched(
                json!({"credentials": {"auth_type": "Token", "api_tokn": "s3cr3t"}})
            )),
            "credentials.api_token is missing; the config has credentials.api_tokn — a typo?"
        );
        assert_eq!(
            error_of(patched(
                json!({"credentials": null, "credential": {"api_token": "s3cr3t"}})
            )),
            "credentials is missing; the config has credential — a typo?"
        );
        // Without a near miss, no guess.
        assert_eq!(
            error_of(patched(
                json!({"replication_start_date": null, "page_size": 10})
            )),
            "the config is invalid: replication_start_date is required"
        );
    }

    #[test]
    fn unknown_top_level_keys_are_named_with_the_closest_field() {
        let doc = patched(json!({
            "replication_end_dat": "2021-01-01T00:00:00Z",
            "api_ulr": "https://secret.example/v2",
            "PAGE_SIZE": 10,
            "something_else_entirely": true
        }));
        let unknown = unknown_keys(&doc);
        let shown: Vec<String> = unknown.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "the config has an unknown field \"PAGE_SIZE\": did you mean page_size? It is ignored as written",
                "the config has an unknown field \"api_ulr\": did you mean api_url? It is ignored as written",
                "the config has an unknown field \"replication_end_dat\": did you mean replication_end_date? It is ignored as written",
                "the config has an unknown field \"something_else_entirely\", which is ignored",
            ]
        );
        // Only keys are named, never a value.
        assert!(
            shown.iter().all(|s| !s.contains("secret.example")),
            "{shown:?}"
        );
    }

    #[test]
    fn every_field_of_the_spec_and_the_legacy_credentials_are_known() {
        let spec = connection_specification();
        let mut doc = serde_json::Map::new();
        for key in spec["properties"].as_object().unwrap().keys() {
            doc.insert(key.clone(), json!(null));
        }
        for key in LEGACY_KEYS {
            doc.insert(key.to_string(), json!(null));
        }
        // The hidden advanced fields are there too, so none of them will ever warn.
        assert!(doc.contains_key("retry_base_delay_seconds") && doc.contains_key("api_url"));
        assert_eq!(unknown_keys(&Value::Object(doc)), []);
        let legacy = json!({"account_id": "1", "replication_start_date": "2020-01-01T00:00:00Z",
            "api_token": "t"});
        assert_eq!(unknown_keys(&legacy), []);
        Config::from_json(&legacy).unwrap();
    }

    #[test]
    fn a_long_unknown_key_is_shortened() {
        let long = "x".repeat(100);
        let shown = unknown_keys(&patched(json!({ long: 1 })))[0].to_string();
        assert!(
            shown.contains(&"x".repeat(40)) && !shown.contains(&"x".repeat(41)),
            "{shown}"
        );
    }

    #[test]
    fn a_number_out_of_range_names_the_whole_range() {
        assert_eq!(
            error_of(patched(json!({"page_size": 0}))),
            "the config is invalid: page_size must be from 1 to 2000"
        );
        assert_eq!(
            error_of(patched(json!({"window_seconds": 0.05}))),
            "the config is invalid: window_seconds must be from 0.1 to 86400"
        );
        // Exclusive and missing bounds, which spec.json may use for a field added later.
        assert_eq!(
            allowed_range(&json!({"exclusiveMinimum": 0, "maximum": 60})),
            "more than 0 and at most 60"
        );
        assert_eq!(
            allowed_range(&json!({"minimum": 0, "exclusiveMaximum": 1})),
            "at least 0 and less than 1"
        );
        assert_eq!(allowed_range(&json!({"minimum": 0})), "at least 0");
    }

    #[test]
    fn an_input_error_is_data_with_the_field_path() {
        let e = Config::from_json(&patched(
            json!({"credentials": {"auth_type": "Token", "api_token": 42}}),
        ))
        .unwrap_err();
        assert_eq!(e.file, InputFile::Config);
        assert_eq!(e.at, Location::Field("credentials.api_token".into()));
        assert_eq!(
            e.problem,
            Problem::WrongType {
                expected: "a string".into(),
                found: "a number"
            }
        );
        assert_eq!(InputError::config("x y z").to_string(), "x y z");
    }
}
