//! Validation of a config against spec.json's JSON Schema, and the words of its messages: each
//! problem named by its field and the rule it breaks (with spec.json's example of the right
//! form, or the whole range a number allows), never by the value written, which could be a
//! secret.

use serde_json::Value;

use super::connection_specification;
use super::hints::near_miss;
use crate::input::{InputError, InputFile, Location, Problem};

/// Validates against spec.json, describing each problem by its field and rule only.
pub(super) fn against_spec(value: &Value) -> Result<(), InputError> {
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

/// Why the typed parse refused the top-level field at `path` (as serde_path_to_error names
/// it) that the schema let through, in spec.json's words: serde's own message quotes the value.
/// The unit tests keep every field's type as wide as spec.json's bounds and give every optional
/// field a default, so this is a safety net, not a message users are meant to see.
pub(super) fn refused(path: &str, config: &Value) -> InputError {
    let schema = connection_specification();
    let Some(property) = schema["properties"].get(path) else {
        // The document's root: a field neither written nor defaulted by spec.json.
        return InputError::config(
            "the config lacks a field that spec.json gives no default: this is a bug of the \
             connector, please report it",
        );
    };
    let value = config.get(path).unwrap_or(&Value::Null);
    let kind = property["type"].as_str().unwrap_or_default();
    let of_kind = match kind {
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        _ => true,
    };
    let problem = if !of_kind {
        Problem::NotOfType(kind.to_string())
    } else if let Some(format) = property["format"].as_str() {
        Problem::NotValid {
            format: format.to_string(),
            example: example(property).map(String::into_boxed_str),
        }
    } else if property.get("minimum").is_some() || property.get("maximum").is_some() {
        Problem::OutOfRange {
            allowed: allowed_range(property).into(),
        }
    } else {
        Problem::Says("is not valid".into())
    };
    InputError::field(path, problem)
}

/// A value of the right form for `property`: the first of spec.json's `examples`, else its
/// string `default`.
fn example(property: &Value) -> Option<String> {
    property["examples"][0]
        .as_str()
        .or_else(|| property["default"].as_str())
        .map(String::from)
}

/// One JSON Schema error as a field and a problem, with an example of the right form from
/// spec.json where it has one.
fn describe(
    error: &jsonschema::ValidationError<'_>,
    config: &Value,
    schema: &Value,
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
    let example = property.and_then(example);
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
fn range(rule: &str, limit: &Value, property: Option<&Value>) -> Problem {
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
fn allowed_range(property: &Value) -> String {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::tests::{error_of, patched};

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
    fn what_the_typed_parse_refuses_is_said_in_spec_words_without_the_value() {
        let config = json!({"page_size": "s3cr3t", "max_retries": 7,
            "replication_start_date": "2024-01-01T99:00:00Z", "api_url": 5});
        let said = |path| refused(path, &config).to_string();
        assert_eq!(said("page_size"), "page_size must be of type integer");
        assert_eq!(said("max_retries"), "max_retries must be from 0 to 50");
        assert_eq!(
            said("replication_start_date"),
            "replication_start_date is not a valid date-time; use one such as 2017-01-25T00:00:00Z"
        );
        assert_eq!(said("api_url"), "api_url must be of type string");
    }
}
