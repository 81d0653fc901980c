//! Errors in the files the connector is given (config, catalog, state): which file, where in
//! it, what is wrong and what to do, as data, so every command words them the same way. Also the
//! one reader of those files, which refuses what is too large, empty or not JSON.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

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
        /// The range the field allows, as the predicate's end: `from 1 to 2000`, `at least 0`.
        allowed: Box<str>,
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
            Problem::OutOfRange { allowed } => write!(f, "must be {allowed}"),
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

/// What a JSON syntax error is, without serde's echo of the input. Two syntax errors are
/// named: serde_json refuses nesting deeper than 128 levels (which would otherwise exhaust the
/// stack of anything recursing over the document) and numbers beyond f64.
fn json_error_kind(e: &serde_json::Error) -> &'static str {
    use serde_json::error::Category;
    let text = e.to_string();
    if text.starts_with("recursion limit exceeded") {
        return "it nests arrays or objects deeper than 128 levels";
    }
    if text.starts_with("number out of range") {
        return "a number is too large";
    }
    match e.classify() {
        Category::Eof => "it ends too early",
        Category::Syntax => "a syntax error",
        Category::Io => "it could not be read",
        Category::Data => "unexpected data",
    }
}

/// The JSON type of a value, for messages that must not show the value itself (any config
/// value could be a secret).
pub fn json_type(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Where serde refused a document (`e`, from `serde_path_to_error`): the path of the member at
/// fault as the messages write it (`streams[0].stream.name`), and the value found there (`None`
/// when it is missing or `null`). serde reports a missing member at its container, naming it
/// in its message; the path here names the member.
pub fn refused_at<'a, E: std::fmt::Display>(
    document: &'a serde_json::Value,
    e: &serde_path_to_error::Error<E>,
) -> (String, Option<&'a serde_json::Value>) {
    let mut found = Some(document);
    let mut path = String::new();
    for segment in e.path().iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => {
                found = found.and_then(|v| v.get(index));
                path.push_str(&format!("[{index}]"));
            }
            serde_path_to_error::Segment::Map { key } => {
                found = found.and_then(|v| v.get(key));
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            _ => {}
        }
    }
    let message = e.inner().to_string();
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match missing {
        Some(member) if path.is_empty() => (member.to_string(), None),
        Some(member) => (format!("{path}.{member}"), None),
        None => (path, found.filter(|v| !v.is_null())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
