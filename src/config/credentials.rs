//! The `credentials` object (or, in configs written before it existed, the same fields at the
//! top level): which kind it is, then its fields typed by serde. It is diagnosed before the
//! schema is applied, because the schema's `oneOf` can only say "matches no variant" where a
//! user needs to hear which field is missing, misspelt or of the wrong type.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::hints::near_miss;
use super::{Credentials, Secret};
use crate::input::json_type;
use crate::input::{InputError, Problem};

/// A Personal Access Token's fields as written; absent ones are `None`.
#[derive(Deserialize)]
struct TokenFields {
    #[serde(default, deserialize_with = "present")]
    api_token: Option<String>,
}

/// An OAuth application's fields as written; absent ones are `None`.
#[derive(Deserialize)]
struct OAuthFields {
    #[serde(default, deserialize_with = "present")]
    client_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    client_secret: Option<String>,
    #[serde(default, deserialize_with = "present")]
    refresh_token: Option<String>,
}

/// A field that is present must be a string: `null` is refused as a wrong type, as any other
/// non-string, rather than taken for an absent field (which `Option` alone would do).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    String::deserialize(deserializer).map(Some)
}

/// The config's credentials, typed, or the first thing wrong with them.
pub(super) fn parse(value: &Value) -> Result<Credentials, InputError> {
    let (creds, prefix) = match value.get("credentials") {
        Some(c @ Value::Object(_)) => (c, "credentials."),
        Some(other) => {
            return Err(InputError::field(
                "credentials",
                Problem::WrongType {
                    expected: "an object ({\"auth_type\": \"Token\", \"api_token\": …} or {\"auth_type\": \"Client\", \"client_id\": …, \"client_secret\": …, \"refresh_token\": …})".into(),
                    found: json_type(other),
                },
            ))
        }
        // A config from before `credentials`: the token at the top level.
        None if value.get("api_token").is_some() => (value, ""),
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
    let object = creds.as_object().expect("an object");
    // The error of a field by its name in `creds`, at its path in the config.
    let at = |field: &str| format!("{prefix}{field}");
    let typed = |field: Option<String>, name: &str| match field {
        Some(text) if text.trim().is_empty() => Err(InputError::field(at(name), Problem::Empty)),
        Some(text) => Ok(text.trim().to_string()),
        None => {
            let near_miss = near_miss(object, name).map(|k| at(&k));
            Err(InputError::field(at(name), Problem::Missing { near_miss }))
        }
    };
    match auth_type(creds)? {
        AuthType::Token => {
            let fields: TokenFields = strings(creds, prefix)?;
            Ok(Credentials::PersonalToken {
                api_token: Secret::new(typed(fields.api_token, "api_token")?),
            })
        }
        AuthType::Client => {
            let fields: OAuthFields = strings(creds, prefix)?;
            Ok(Credentials::OAuth {
                client_id: typed(fields.client_id, "client_id")?,
                client_secret: Secret::new(typed(fields.client_secret, "client_secret")?),
                refresh_token: Secret::new(typed(fields.refresh_token, "refresh_token")?),
            })
        }
    }
}

/// Deserializes the credential fields of `creds` (all strings), naming a field of the wrong
/// type by the path the deserializer reports and the type found, never by its value.
fn strings<T: for<'de> Deserialize<'de>>(creds: &Value, prefix: &str) -> Result<T, InputError> {
    serde_path_to_error::deserialize(creds).map_err(|e| {
        let key = e.path().to_string();
        InputError::field(
            format!("{prefix}{key}"),
            Problem::WrongType {
                expected: "a string".into(),
                found: json_type(creds.get(&key).unwrap_or(&Value::Null)),
            },
        )
    })
}

/// The two kinds of credentials, as `auth_type` names them.
enum AuthType {
    /// A Personal Access Token.
    Token,
    /// An OAuth application.
    Client,
}

/// Which kind of credentials `creds` holds: `auth_type` when given, otherwise inferred from the
/// fields present (configs written before `auth_type` existed).
fn auth_type(creds: &Value) -> Result<AuthType, InputError> {
    match creds.get("auth_type") {
        Some(Value::String(kind)) if kind == "Token" => Ok(AuthType::Token),
        Some(Value::String(kind)) if kind == "Client" => Ok(AuthType::Client),
        Some(Value::String(_)) => Err(InputError::field(
            "credentials.auth_type",
            Problem::Says(
                "is unknown: use \"Token\" (personal access token) or \"Client\" (OAuth)".into(),
            ),
        )),
        Some(other) => Err(InputError::field(
            "credentials.auth_type",
            Problem::WrongType {
                expected: "a string, \"Token\" or \"Client\"".into(),
                found: json_type(other),
            },
        )),
        None if creds.get("api_token").is_some() => Ok(AuthType::Token),
        None if creds.get("refresh_token").is_some() || creds.get("client_id").is_some() => {
            Ok(AuthType::Client)
        }
        None => Err(InputError::field(
            "credentials",
            Problem::Says("has neither an api_token nor OAuth fields: set auth_type \"Token\" with api_token, or auth_type \"Client\" with client_id, client_secret and refresh_token".into()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::tests::{base_config, error_of, patched};
    use crate::config::Config;
    use crate::input::{InputFile, Location};

    #[test]
    fn a_missing_credential_names_its_near_miss() {
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

    #[test]
    fn a_null_credential_is_of_the_wrong_type_not_absent() {
        assert_eq!(
            error_of(patched(json!({"credentials": {"auth_type": "Client",
                "client_id": "id", "client_secret": null, "refresh_token": "r"}}))),
            "credentials.client_secret must be a string; found null"
        );
    }

    #[test]
    fn both_kinds_and_the_legacy_shapes_are_read_trimmed() {
        let mut legacy = base_config();
        legacy.as_object_mut().unwrap().remove("credentials");
        legacy["api_token"] = json!(" pat ");
        let Credentials::PersonalToken { api_token } = parse(&legacy).unwrap() else {
            panic!("a token");
        };
        assert_eq!(api_token.expose(), "pat");
        // Fields of the other kind are not looked at.
        let inferred = json!({"credentials": {"client_id": "id ", "client_secret": "s",
            "refresh_token": "r", "api_tokn": 5}});
        let Credentials::OAuth {
            client_id,
            client_secret,
            refresh_token,
        } = parse(&inferred).unwrap()
        else {
            panic!("OAuth");
        };
        assert_eq!(
            (
                client_id.as_str(),
                client_secret.expose(),
                refresh_token.expose()
            ),
            ("id", "s", "r")
        );
    }
}
