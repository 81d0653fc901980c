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

/// Why a config cannot be used. The message names the field and what is expected, and never
/// contains a value the user wrote (any of them could be a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The SPEC the connector prints: `spec.json` at the repository root, embedded at build time.
pub const SPEC: &str = include_str!("../spec.json");

/// Files larger than this are refused before parsing: a Harvest config is a few hundred bytes,
/// and a catalog of 32 streams with schemas well under a megabyte.
pub const MAX_INPUT_BYTES: u64 = 16 << 20;

/// Reads a JSON file given on the command line (config, catalog or state), with errors that
/// say which file and what is wrong with it.
pub fn read_json_file(
    what: &str,
    path: &std::path::Path,
) -> Result<serde_json::Value, ConfigError> {
    let shown = path.display();
    let meta = std::fs::metadata(path)
        .map_err(|e| ConfigError(format!("cannot read the {what} file {shown}: {e}")))?;
    if meta.len() > MAX_INPUT_BYTES {
        return Err(ConfigError(format!(
            "the {what} file {shown} is {} bytes, more than the {} bytes allowed; is it the right file?",
            meta.len(),
            MAX_INPUT_BYTES
        )));
    }
    let text = std::fs::read(path)
        .map_err(|e| ConfigError(format!("cannot read the {what} file {shown}: {e}")))?;
    if text.iter().all(u8::is_ascii_whitespace) {
        return Err(ConfigError(format!(
            "the {what} file {shown} is empty; it must contain a JSON document"
        )));
    }
    serde_json::from_slice(&text).map_err(|e| {
        ConfigError(format!(
            "the {what} file {shown} is not valid JSON (line {}, column {}): {}",
            e.line(),
            e.column(),
            json_error_kind(&e)
        ))
    })
}

/// What a JSON syntax error is, without serde's echo of the input.
fn json_error_kind(e: &serde_json::Error) -> &'static str {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => "it ends too early",
        Category::Syntax => "a syntax error",
        Category::Io => "it could not be read",
        Category::Data => "unexpected data",
    }
}

/// The `connectionSpecification` of [`SPEC`].
pub fn connection_specification() -> serde_json::Value {
    let spec: serde_json::Value = serde_json::from_str(SPEC).expect("spec.json is valid JSON");
    spec["connectionSpecification"].clone()
}

impl Config {
    /// Validates a config document against spec.json and builds the typed config from it.
    pub fn from_json(value: &serde_json::Value) -> Result<Config, ConfigError> {
        let Some(object) = value.as_object() else {
            return Err(ConfigError(format!(
                "the config must be a JSON object with account_id, replication_start_date and credentials; found {}",
                json_type(value)
            )));
        };
        check_credentials(value)?;
        validate_against_spec(value)?;
        let text = |key: &str| object.get(key).and_then(|v| v.as_str());
        let number = |key: &str| object.get(key).and_then(|v| v.as_f64());

        let account_id = text("account_id").unwrap_or_default().trim().to_string();
        if account_id.is_empty() {
            return Err(ConfigError(
                "account_id is empty: set it to your Harvest account id (Harvest ID → Developers, or the number in your Harvest URL's settings)".into(),
            ));
        }
        // It travels as the `Harvest-Account-Id` header, so every command (discover included,
        // which sends nothing) refuses what no header can carry.
        if !account_id.chars().all(|c| c.is_ascii_graphic()) {
            return Err(ConfigError(
                "account_id must be printable ASCII without spaces: Harvest's account ids are numbers".into(),
            ));
        }
        let start_date = parse_instant("replication_start_date", text("replication_start_date"))?
            .ok_or_else(|| {
            ConfigError("replication_start_date is required, e.g. \"2024-01-01T00:00:00Z\"".into())
        })?;
        let end_date = parse_instant("replication_end_date", text("replication_end_date"))?;
        let now = chrono::Utc::now();
        if start_date > now {
            return Err(ConfigError(format!(
                "replication_start_date {} is in the future: use a past date such as {}",
                start_date.format("%Y-%m-%dT%H:%M:%SZ"),
                (now - chrono::Duration::days(365)).format("%Y-01-01T00:00:00Z")
            )));
        }
        if let Some(end) = end_date {
            if end <= start_date {
                return Err(ConfigError(format!(
                    "replication_end_date {} is not after replication_start_date {}: use a later end date or remove it",
                    end.format("%Y-%m-%dT%H:%M:%SZ"),
                    start_date.format("%Y-%m-%dT%H:%M:%SZ")
                )));
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
            Duration::try_from_secs_f64(seconds)
                .map_err(|_| ConfigError(format!("{key} must be a positive number of seconds")))
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
fn check_credentials(value: &serde_json::Value) -> Result<(), ConfigError> {
    let creds = match value.get("credentials") {
        Some(c @ serde_json::Value::Object(_)) => c,
        Some(other) => {
            return Err(ConfigError(format!(
                "credentials must be an object ({{\"auth_type\": \"Token\", \"api_token\": …}} or {{\"auth_type\": \"Client\", \"client_id\": …, \"client_secret\": …, \"refresh_token\": …}}); found {}",
                json_type(other)
            )))
        }
        None if value.get("api_token").is_some() => value,
        None => {
            return Err(ConfigError(
                "credentials is missing: add {\"auth_type\": \"Token\", \"api_token\": \"<personal access token>\"} or the OAuth fields {\"auth_type\": \"Client\", \"client_id\", \"client_secret\", \"refresh_token\"}".into(),
            ))
        }
    };
    if let Some(kind) = creds.get("auth_type").filter(|t| !t.is_string()) {
        return Err(ConfigError(format!(
            "credentials.auth_type must be a string, \"Token\" or \"Client\"; found {}",
            json_type(kind)
        )));
    }
    let required: &[&str] = match auth_type(value) {
        Some("Token") => &["api_token"],
        Some("Client") => &["client_id", "client_secret", "refresh_token"],
        Some(_) => {
            return Err(ConfigError(
                "credentials.auth_type is unknown: use \"Token\" (personal access token) or \"Client\" (OAuth)".into(),
            ))
        }
        None => {
            return Err(ConfigError(
                "credentials has neither an api_token nor OAuth fields: set auth_type \"Token\" with api_token, or auth_type \"Client\" with client_id, client_secret and refresh_token".into(),
            ))
        }
    };
    for field in required {
        match creds.get(*field) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => {}
            Some(serde_json::Value::String(_)) => {
                return Err(ConfigError(format!("credentials.{field} is empty")))
            }
            Some(other) => {
                return Err(ConfigError(format!(
                    "credentials.{field} must be a string; found {}",
                    json_type(other)
                )))
            }
            None => return Err(ConfigError(format!("credentials.{field} is missing"))),
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
fn validate_against_spec(value: &serde_json::Value) -> Result<(), ConfigError> {
    let schema = connection_specification();
    let validator = jsonschema::draft7::new(&schema).expect("spec.json is a valid draft-07 schema");
    let problems: Vec<String> = validator.iter_errors(value).map(|e| describe(&e)).collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError(format!(
            "the config is invalid: {}",
            problems.join("; ")
        )))
    }
}

fn describe(error: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::error::ValidationErrorKind as Kind;
    let path = error
        .instance_path()
        .as_str()
        .trim_start_matches('/')
        .replace('/', ".");
    let field = if path.is_empty() {
        "the config".to_string()
    } else {
        path
    };
    match error.kind() {
        Kind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            if field == "the config" {
                format!("{name} is required")
            } else {
                format!("{field}.{name} is required")
            }
        }
        Kind::Type { kind } => format!("{field} must be of type {kind:?}")
            .replace("Single(", "")
            .replace(')', "")
            .to_lowercase(),
        Kind::Pattern { pattern } => {
            format!("{field} does not match the expected format {pattern}")
        }
        Kind::Format { format } => format!("{field} is not a valid {format}"),
        Kind::Minimum { limit } => format!("{field} must be at least {limit}"),
        Kind::ExclusiveMinimum { limit } => format!("{field} must be greater than {limit}"),
        Kind::Maximum { limit } => format!("{field} must be at most {limit}"),
        Kind::ExclusiveMaximum { limit } => format!("{field} must be less than {limit}"),
        Kind::Enum { options } => format!("{field} must be one of {options}"),
        Kind::Constant { expected_value } => format!("{field} must be {expected_value}"),
        Kind::MinLength { .. } => format!("{field} must not be empty"),
        _ => format!("{field} is not valid"),
    }
}

fn parse_instant(
    field: &str,
    value: Option<&str>,
) -> Result<Option<chrono::DateTime<Utc>>, ConfigError> {
    let Some(text) = value else { return Ok(None) };
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|e| {
            ConfigError(format!(
                "{field} is not a valid UTC date-time ({e}): use the format 2024-01-25T00:00:00Z"
            ))
        })
}

fn parse_url(
    field: &str,
    value: Option<&str>,
    defaults: &serde_json::Value,
) -> Result<Url, ConfigError> {
    let text = value
        .or_else(|| defaults["properties"][field]["default"].as_str())
        .unwrap_or_default();
    let url = Url::parse(text.trim_end_matches('/'))
        .map_err(|e| ConfigError(format!("{field} is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError(format!(
            "{field} must be an http(s) URL with a host, like https://api.harvestapp.com/v2"
        )));
    }
    // The client refuses to send the token to a URL carrying credentials of its own, so such an
    // api_url would fail every request; say so now, without repeating them.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError(format!(
            "{field} must not contain a user name or password; the Harvest credentials go in credentials"
        )));
    }
    Ok(url)
}
