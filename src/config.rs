//! The connector's configuration: validated against `spec.json`, then parsed into [`Config`].
//!
//! Validation happens in two steps so that every problem a user can make in the file gets a
//! message naming the field: first the JSON Schema of `spec.json` (types, patterns, required
//! fields), then the checks a schema cannot express (dates in the right order, not in the future).

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
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
    /// Every parent's children are read again at least once in this long (`None`: in every
    /// sync); see `child_sweep_hours` in spec.json.
    pub child_sweep: Option<chrono::Duration>,
    /// Timeout of one HTTP request, body included.
    pub request_timeout: Duration,
    /// Retries of one request before its stream gives up.
    pub max_retries: usize,
    /// First backoff delay; later ones grow exponentially, with jitter.
    pub retry_base_delay: Duration,
}

/// Which input file a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFile {
    /// `--config`.
    Config,
    /// `--catalog`.
    Catalog,
    /// `--state`.
    State,
}

impl fmt::Display for InputFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InputFile::Config => "config",
            InputFile::Catalog => "catalog",
            InputFile::State => "state",
        })
    }
}

/// Where in its file a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The file as a whole, at this path on disk: it cannot be read, is too large, empty, or
    /// not JSON.
    File(PathBuf),
    /// The document's root value ("the config").
    Document,
    /// A field, by its path from the root as the messages show it: `credentials.api_token`,
    /// `catalog.streams[0].stream.name`.
    Field(String),
    /// The `i`-th STATE message of a state array; `None` for a state that is one message.
    StateEntry(Option<usize>),
    /// The catalog's entry for one stream, at `field` inside it (e.g. `sync_mode`).
    CatalogStream {
        /// The stream's name.
        stream: &'static str,
        /// The path inside the entry.
        field: String,
    },
    /// One stream's state, at `field` inside it (`""` for the state as a whole).
    StreamState {
        /// The stream's name.
        stream: &'static str,
        /// The path inside the stream's state, e.g. `updated_at` or `resume.next`.
        field: String,
    },
    /// Nowhere in particular: the problem says all there is to say.
    Unplaced,
}

/// What is wrong at a [`Location`]. A config problem never holds a value the user wrote (any
/// could be a secret) except the dates, which are not; catalog and state values may appear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The file cannot be read; the system's reason.
    Unreadable(String),
    /// The file is larger than [`MAX_INPUT_BYTES`].
    TooLarge {
        /// The file's size.
        bytes: u64,
    },
    /// The file holds nothing but whitespace.
    EmptyFile,
    /// The file is not JSON: where the parser stopped and why, without its echo of the input.
    NotJson {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The kind of error, e.g. "it ends too early".
        reason: &'static str,
    },
    /// A field spec.json requires is absent ("is required").
    Required {
        /// A key the document has that looks like a misspelling of this one.
        near_miss: Option<String>,
    },
    /// A field this connector needs is absent ("is missing").
    Missing {
        /// A key the document has that looks like a misspelling of this one.
        near_miss: Option<String>,
    },
    /// A string field that is blank.
    Empty,
    /// The wrong JSON type.
    WrongType {
        /// What it must be, e.g. "a string" or "an object ({…} or {…})".
        expected: Cow<'static, str>,
        /// What it is, as [`json_type`] names it.
        found: &'static str,
    },
    /// Not of the JSON Schema type spec.json gives it (`integer`, `string`, …).
    NotOfType(String),
    /// Does not match the pattern spec.json gives it; `example` (from spec.json's `examples` or
    /// `default`) has the right form.
    NotLike {
        /// A value of the right form.
        example: String,
    },
    /// Does not match the pattern spec.json gives it, and spec.json has no example to show.
    NotMatching {
        /// The pattern.
        pattern: String,
    },
    /// Of the right form but not a valid value of its format (a date-time on February 30th).
    NotValid {
        /// The format, e.g. "date-time".
        format: String,
        /// A valid value.
        example: Option<Box<str>>,
    },
    /// A number out of spec.json's bounds.
    OutOfRange {
        /// "at least", "greater than", "at most" or "less than".
        rule: &'static str,
        /// The bound.
        limit: String,
    },
    /// Every problem spec.json's JSON Schema finds, each at its field.
    Schema(Vec<(String, Problem)>),
    /// Any other problem: the rest of the sentence after the location.
    Says(String),
}

impl Problem {
    /// The problem as the predicate of a sentence whose subject is its field (`subject`), or
    /// as a sentence of its own.
    fn write(&self, f: &mut fmt::Formatter<'_>, subject: bool) -> fmt::Result {
        match self {
            Problem::Required { near_miss } => {
                f.write_str("is required")?;
                typo(f, near_miss)
            }
            Problem::Missing { near_miss } => {
                f.write_str("is missing")?;
                typo(f, near_miss)
            }
            Problem::Empty => f.write_str("is empty"),
            Problem::WrongType { expected, found } if subject => {
                write!(f, "must be {expected}; found {found}")
            }
            Problem::WrongType { expected, found } => {
                write!(f, "expected {expected}; found {found}")
            }
            Problem::NotOfType(kind) => write!(f, "must be of type {kind}"),
            Problem::NotLike { example } => {
                write!(f, "does not match the expected format, e.g. {example}")
            }
            Problem::NotMatching { pattern } => {
                write!(f, "does not match the expected format {pattern}")
            }
            Problem::NotValid { format, example } => {
                write!(f, "is not a valid {format}")?;
                match example {
                    Some(example) => write!(f, "; use one such as {example}"),
                    None => Ok(()),
                }
            }
            Problem::OutOfRange { rule, limit } => write!(f, "must be {rule} {limit}"),
            Problem::Schema(problems) => {
                f.write_str("is invalid: ")?;
                for (i, (field, problem)) in problems.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{field} ")?;
                    problem.write(f, true)?;
                }
                Ok(())
            }
            Problem::Says(text) => f.write_str(text),
            Problem::Unreadable(reason) => write!(f, "cannot be read: {reason}"),
            Problem::TooLarge { bytes } => write!(
                f,
                "is {bytes} bytes, more than the {MAX_INPUT_BYTES} bytes allowed; is it the right file?"
            ),
            Problem::EmptyFile => f.write_str("is empty; it must contain a JSON document"),
            Problem::NotJson {
                line,
                column,
                reason,
            } => write!(
                f,
                "is not valid JSON (line {line}, column {column}): {reason}"
            ),
        }
    }
}

/// "; the config has `near` — a typo?", for a missing field with a near miss.
fn typo(f: &mut fmt::Formatter<'_>, near_miss: &Option<String>) -> fmt::Result {
    match near_miss {
        Some(key) => write!(f, "; the config has {key:.40} — a typo?"),
        None => Ok(()),
    }
}

/// Why an input (config, catalog or state) cannot be used: which file, where in it, what is
/// wrong, and what to do. The message never contains a config value (any could be a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The file the problem is in.
    pub file: InputFile,
    /// Where in it.
    pub at: Location,
    /// What is wrong.
    pub problem: Problem,
    /// What to do (config) or what a right one looks like (catalog, state), after the problem.
    pub hint: Option<Box<str>>,
}

impl InputError {
    /// A problem at `at` in `file`.
    pub fn new(file: InputFile, at: Location, problem: Problem) -> InputError {
        InputError {
            file,
            at,
            problem,
            hint: None,
        }
    }

    /// A problem of the config's field `path`.
    pub fn field(path: impl Into<String>, problem: Problem) -> InputError {
        InputError::new(InputFile::Config, Location::Field(path.into()), problem)
    }

    /// A config problem that is not one field's, said in full by `message`.
    pub fn config(message: impl Into<String>) -> InputError {
        InputError::new(
            InputFile::Config,
            Location::Unplaced,
            Problem::Says(message.into()),
        )
    }

    /// The same error with `hint` after the problem.
    pub fn with_hint(mut self, hint: impl Into<Box<str>>) -> InputError {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file;
        match (&self.at, &self.problem) {
            // The one message whose location is not its subject, as people say it.
            (Location::File(path), Problem::Unreadable(reason)) => {
                write!(
                    f,
                    "cannot read the {file} file {}: {reason}",
                    path.display()
                )
            }
            (Location::File(path), problem) => {
                write!(f, "the {file} file {} ", path.display())?;
                problem.write(f, true)
            }
            (Location::Document, problem) => {
                write!(f, "the {file} ")?;
                problem.write(f, true)
            }
            (Location::Field(path), problem) => {
                write!(f, "{path} ")?;
                problem.write(f, true)
            }
            (Location::StateEntry(index), problem) => {
                match index {
                    Some(i) => write!(f, "state entry {i}: ")?,
                    None => f.write_str("state: ")?,
                }
                problem.write(f, false)
            }
            (Location::CatalogStream { stream, field }, problem) => {
                write!(f, "stream {stream}: {field} ")?;
                problem.write(f, true)
            }
            (Location::StreamState { stream, field }, problem) => {
                write!(f, "the state of stream {stream}: ")?;
                if field.is_empty() {
                    problem.write(f, false)
                } else {
                    write!(f, "{field} ")?;
                    problem.write(f, true)
                }
            }
            (Location::Unplaced, problem) => problem.write(f, false),
        }?;
        // A config's hint is the fix ("account_id is empty: set it to …"); a catalog's or a
        // state's shows what a right one looks like, after a clause of its own.
        let separator = match self.file {
            InputFile::Config => ": ",
            InputFile::Catalog | InputFile::State => "; ",
        };
        match &self.hint {
            Some(hint) => write!(f, "{separator}{hint}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for InputError {}

/// The SPEC the connector prints: `spec.json` at the repository root, embedded at build time.
pub const SPEC: &str = include_str!("../spec.json");

/// Files larger than this are refused before parsing: a Harvest config is a few hundred bytes,
/// and a catalog of 32 streams with schemas well under a megabyte.
pub const MAX_INPUT_BYTES: u64 = 16 << 20;

/// Reads a JSON file given on the command line (config, catalog or state), with errors that
/// say which file and what is wrong with it.
pub fn read_json_file(
    file: InputFile,
    path: &std::path::Path,
) -> Result<serde_json::Value, InputError> {
    let error = |problem| InputError::new(file, Location::File(path.to_path_buf()), problem);
    let unreadable = |e: std::io::Error| error(Problem::Unreadable(e.to_string()));
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if meta.len() > MAX_INPUT_BYTES {
        return Err(error(Problem::TooLarge { bytes: meta.len() }));
    }
    let text = std::fs::read(path).map_err(unreadable)?;
    if text.iter().all(u8::is_ascii_whitespace) {
        let empty = error(Problem::EmptyFile);
        return Err(match file {
            InputFile::State => empty.with_hint("[] is an empty state (no stream has one yet)"),
            _ => empty,
        });
    }
    serde_json::from_slice(&text).map_err(|e| {
        error(Problem::NotJson {
            line: e.line(),
            column: e.column(),
            reason: json_error_kind(&e),
        })
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
        let start_date = parse_instant("replication_start_date", text("replication_start_date"))?
            .ok_or_else(|| {
            InputError::field(
                "replication_start_date",
                Problem::Required {
                    near_miss: near_miss(object, "replication_start_date"),
                },
            )
        })?;
        let end_date = parse_instant("replication_end_date", text("replication_end_date"))?;
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
        Kind::Minimum { limit } => range("at least", limit),
        Kind::ExclusiveMinimum { limit } => range("greater than", limit),
        Kind::Maximum { limit } => range("at most", limit),
        Kind::ExclusiveMaximum { limit } => range("less than", limit),
        Kind::Enum { options } => Problem::Says(format!("must be one of {options}")),
        Kind::Constant { expected_value } => Problem::Says(format!("must be {expected_value}")),
        Kind::MinLength { .. } => Problem::Says("must not be empty".into()),
        _ => Problem::Says("is not valid".into()),
    };
    (field, problem)
}

fn range(rule: &'static str, limit: &serde_json::Value) -> Problem {
    Problem::OutOfRange {
        rule,
        limit: limit.to_string(),
    }
}

fn parse_instant(
    field: &str,
    value: Option<&str>,
) -> Result<Option<chrono::DateTime<Utc>>, InputError> {
    let Some(text) = value else { return Ok(None) };
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| {
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
    //! Every malformed config the connector can be handed (the 58 cases once run through
    //! `check`, `discover` and `read` as processes; `tests/e2e/bad_input.rs` now runs one per
    //! command): read and parsed as `load_config` does, each must fail with a message naming
    //! what is wrong. A failing test lists every case that went wrong, by name.

    use std::path::PathBuf;

    use serde_json::{json, Value};

    use super::*;

    /// What a case's file holds.
    enum Input {
        /// The valid base document with these top-level fields replaced (null removes one).
        Patch(Value),
        /// This JSON document, whole.
        Json(Value),
        /// These bytes, as they are.
        Raw(Vec<u8>),
        /// Nothing: the path does not exist.
        Missing,
        /// A directory where the file should be.
        Directory,
        /// A (sparse) file one byte over the 16 MiB limit.
        Huge,
    }

    /// One malformed config and the pieces of the message it must produce: `expect` split at
    /// " … ", each piece present, in order.
    struct Case {
        name: &'static str,
        input: Input,
        expect: &'static str,
    }

    fn case(name: &'static str, input: Input, expect: &'static str) -> Case {
        Case {
            name,
            input,
            expect,
        }
    }

    fn patch(fields: Value) -> Input {
        Input::Patch(fields)
    }

    fn raw(text: &str) -> Input {
        Input::Raw(text.as_bytes().to_vec())
    }

    fn oauth(fields: Value) -> Input {
        let mut credentials = json!({
            "auth_type": "Client",
            "client_id": "id",
            "client_secret": "secret",
            "refresh_token": "refresh"
        });
        merge(&mut credentials, fields);
        patch(json!({ "credentials": credentials }))
    }

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

    /// The valid config every case breaks one thing of.
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

    /// Writes a case's input to `path`.
    fn write(path: &std::path::Path, input: &Input) {
        let json = |doc: &Value| std::fs::write(path, serde_json::to_vec(doc).unwrap()).unwrap();
        match input {
            Input::Patch(fields) => {
                let mut doc = base_config();
                merge(&mut doc, fields.clone());
                json(&doc);
            }
            Input::Json(doc) => json(doc),
            Input::Raw(bytes) => std::fs::write(path, bytes).unwrap(),
            Input::Missing => {}
            Input::Directory => std::fs::create_dir(path).unwrap(),
            Input::Huge => std::fs::File::create(path)
                .unwrap()
                .set_len(MAX_INPUT_BYTES + 1)
                .unwrap(),
        }
    }

    /// Reads and parses the config at `path` the way every command does.
    fn load(path: &std::path::Path) -> Result<Config, InputError> {
        Config::from_json(&read_json_file(InputFile::Config, path)?)
    }

    /// Whether every piece of `expect` (split at " … ") is in `message`, in that order.
    fn contains_in_order(message: &str, expect: &str) -> bool {
        let mut rest = message;
        expect.split(" … ").all(|piece| match rest.find(piece) {
            Some(at) => {
                rest = &rest[at + piece.len()..];
                true
            }
            None => false,
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
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        write(&path, &patch(json!({})));
        load(&path).unwrap();
    }

    #[test]
    fn malformed_configs_58_cases_are_config_errors_naming_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let cases = config_cases();
        assert_eq!(cases.len(), 58);
        let failures: Vec<String> = cases
            .iter()
            .enumerate()
            .filter_map(|(i, case)| {
                let path: PathBuf = dir.path().join(format!("config-{i}.json"));
                write(&path, &case.input);
                let why = match load(&path) {
                    Ok(_) => "accepted".to_string(),
                    Err(e) if contains_in_order(&e.to_string(), case.expect) => return None,
                    Err(e) => format!("the message lacks {:?}: {e}", case.expect),
                };
                Some(format!("{}: {why}", case.name))
            })
            .collect();
        assert!(
            failures.is_empty(),
            "{} of {} cases failed:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    }

    fn config_cases() -> Vec<Case> {
        let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        vec![
            case(
                "config_not_json",
                raw("{account_id: 1"),
                "the config file … is not valid JSON (line 1, column 2)",
            ),
            case(
                "config_not_json_says_where",
                raw("{\n  \"a\": 1,\n  oops\n}"),
                "line 3",
            ),
            case("config_empty_file", raw(""), "is empty"),
            case("config_only_whitespace", raw("  \n\t\n"), "is empty"),
            case(
                "config_not_utf8",
                Input::Raw(vec![0xff, 0xfe, 0x7b, 0x7d]),
                "not valid JSON",
            ),
            case("config_trailing_garbage", raw("{} {}"), "not valid JSON"),
            case(
                "config_nested_10000_deep",
                Input::Raw(nested.into_bytes()),
                "not valid JSON",
            ),
            case(
                "config_huge_file_over_16_mib",
                Input::Huge,
                "more than the 16777216 bytes",
            ),
            case(
                "config_is_a_directory",
                Input::Directory,
                "cannot read the config file",
            ),
            case(
                "config_missing_file",
                Input::Missing,
                "cannot read the config file",
            ),
            case(
                "config_array_instead_of_object",
                Input::Json(json!([])),
                "found an array",
            ),
            case(
                "config_string_instead_of_object",
                Input::Json(json!("x")),
                "found a string",
            ),
            case("config_null", Input::Json(Value::Null), "found null"),
            case(
                "account_id_missing",
                patch(json!({"account_id": null})),
                "account_id is required",
            ),
            case(
                "account_id_number",
                patch(json!({"account_id": 1000001})),
                "account_id must be of type string",
            ),
            case(
                "account_id_blank",
                patch(json!({"account_id": "  "})),
                "account_id is empty",
            ),
            case(
                "account_id_control_characters",
                patch(json!({"account_id": "10\u{1}01"})),
                "account_id",
            ),
            case(
                "start_date_missing",
                patch(json!({"replication_start_date": null})),
                "replication_start_date is required",
            ),
            case(
                "start_date_number",
                patch(json!({"replication_start_date": 2020})),
                "replication_start_date must be of type string",
            ),
            case(
                "start_date_words",
                patch(json!({"replication_start_date": "yesterday"})),
                "replication_start_date does not match",
            ),
            case(
                "start_date_without_time",
                patch(json!({"replication_start_date": "2024-01-01"})),
                "replication_start_date does not match",
            ),
            case(
                "start_date_impossible_day",
                patch(json!({"replication_start_date": "2024-02-30T00:00:00Z"})),
                "replication_start_date is not a valid",
            ),
            case(
                "start_date_month_13",
                patch(json!({"replication_start_date": "2024-13-01T00:00:00Z"})),
                "replication_start_date is not a valid",
            ),
            case(
                "start_date_in_the_future",
                patch(json!({"replication_start_date": "2999-01-01T00:00:00Z"})),
                "replication_start_date 2999-01-01T00:00:00Z is in the future",
            ),
            case(
                "end_date_before_start",
                patch(json!({"replication_end_date": "2019-01-01T00:00:00Z"})),
                "replication_end_date 2019-01-01T00:00:00Z is not after replication_start_date",
            ),
            case(
                "end_date_equals_start",
                patch(json!({"replication_end_date": "2020-01-01T00:00:00Z"})),
                "is not after replication_start_date",
            ),
            case(
                "end_date_wrong_format",
                patch(json!({"replication_end_date": "01/02/2024"})),
                "replication_end_date does not match",
            ),
            case(
                "end_date_boolean",
                patch(json!({"replication_end_date": true})),
                "replication_end_date must be of type string",
            ),
            case(
                "credentials_missing",
                patch(json!({"credentials": null})),
                "credentials is missing",
            ),
            case(
                "credentials_string",
                patch(json!({"credentials": "token"})),
                "credentials must be an object",
            ),
            case(
                "credentials_array",
                patch(json!({"credentials": []})),
                "credentials must be an object",
            ),
            case(
                "credentials_empty_object",
                patch(json!({"credentials": {}})),
                "credentials has neither",
            ),
            case(
                "auth_type_unknown",
                patch(json!({"credentials": {"auth_type": "Basic", "api_token": "t"}})),
                "credentials.auth_type is unknown",
            ),
            case(
                "auth_type_number",
                patch(json!({"credentials": {"auth_type": 1, "api_token": "t"}})),
                "credentials.auth_type",
            ),
            case(
                "token_api_token_missing",
                patch(json!({"credentials": {"auth_type": "Token"}})),
                "credentials.api_token is missing",
            ),
            case(
                "token_api_token_empty",
                patch(json!({"credentials": {"auth_type": "Token", "api_token": " "}})),
                "credentials.api_token is empty",
            ),
            case(
                "token_api_token_number",
                patch(json!({"credentials": {"auth_type": "Token", "api_token": 42}})),
                "credentials.api_token must be a string; found a number",
            ),
            case(
                "oauth_client_id_missing",
                oauth(json!({"client_id": null})),
                "credentials.client_id is missing",
            ),
            case(
                "oauth_client_secret_missing",
                oauth(json!({"client_secret": null})),
                "credentials.client_secret is missing",
            ),
            case(
                "oauth_refresh_token_missing",
                oauth(json!({"refresh_token": null})),
                "credentials.refresh_token is missing",
            ),
            case(
                "oauth_refresh_token_object",
                oauth(json!({"refresh_token": {"v": 1}})),
                "credentials.refresh_token must be a string; found an object",
            ),
            case(
                "page_size_zero",
                patch(json!({"page_size": 0})),
                "page_size must be at least 1",
            ),
            case(
                "page_size_5000",
                patch(json!({"page_size": 5000})),
                "page_size must be at most 2000",
            ),
            case(
                "page_size_string",
                patch(json!({"page_size": "100"})),
                "page_size must be of type integer",
            ),
            case(
                "page_size_fraction",
                patch(json!({"page_size": 10.5})),
                "page_size must be of type integer",
            ),
            case(
                "requests_per_window_negative",
                patch(json!({"requests_per_window": -1})),
                "requests_per_window must be at least 1",
            ),
            case(
                "window_seconds_zero",
                patch(json!({"window_seconds": 0})),
                "window_seconds must be greater than 0",
            ),
            case(
                "report_window_seconds_too_long",
                patch(json!({"report_window_seconds": 1e9})),
                "report_window_seconds must be at most 86400",
            ),
            case(
                "request_timeout_negative",
                patch(json!({"request_timeout_seconds": -5})),
                "request_timeout_seconds must be greater than 0",
            ),
            case(
                "max_retries_51",
                patch(json!({"max_retries": 51})),
                "max_retries must be at most 50",
            ),
            case(
                "max_concurrency_zero",
                patch(json!({"max_concurrency": 0})),
                "max_concurrency must be at least 1",
            ),
            case(
                "checkpoint_interval_boolean",
                patch(json!({"checkpoint_interval": false})),
                "checkpoint_interval must be of type integer",
            ),
            case(
                "api_url_ftp",
                patch(json!({"api_url": "ftp://api.harvestapp.com/v2"})),
                "api_url does not match",
            ),
            case(
                "api_url_without_host",
                patch(json!({"api_url": "http://"})),
                "api_url is not a valid URL",
            ),
            case(
                "api_url_with_space_in_host",
                patch(json!({"api_url": "https://api harvest.com/v2"})),
                "api_url is not a valid URL",
            ),
            case(
                "api_url_with_user_and_password",
                patch(json!({"api_url": "https://user:pass@api.harvestapp.com/v2"})),
                "api_url must not contain a user name or password",
            ),
            case(
                "api_url_number",
                patch(json!({"api_url": 8080})),
                "api_url must be of type string",
            ),
            case(
                "oauth_token_url_not_a_url",
                patch(json!({"oauth_token_url": "https://[::1/token"})),
                "oauth_token_url is not a valid URL",
            ),
        ]
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
    fn the_empty_state_file_error_says_what_an_empty_state_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, " \n").unwrap();
        let message = read_json_file(InputFile::State, &path)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("the state file") && message.contains("is empty"),
            "{message}"
        );
        assert!(message.contains("[] is an empty state"), "{message}");
        let message = read_json_file(InputFile::Catalog, &path)
            .unwrap_err()
            .to_string();
        assert!(!message.contains("[]"), "{message}");
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
