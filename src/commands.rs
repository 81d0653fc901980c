//! The four commands of the Airbyte protocol. Each returns `Err(exit code)` after it has said
//! why on the output, as a TRACE ERROR or a CONNECTION_STATUS.

use std::path::Path;

use crate::catalog;
use crate::config::{self, Config};
use crate::harvest::{diagnose, Bucket, FetchError, HarvestClient, RotationSink};
use crate::input::{self, InputError, InputFile};
use crate::output::Output;
use crate::protocol::{AirbyteMessage, FailureType, Status};
use crate::read;
use crate::state::InputState;

/// Exit code of a run that did not do all it was asked.
pub const EXIT_FAILURE: u8 = 1;

/// Retries `check` allows itself: a person is waiting for the answer.
const CHECK_RETRIES: usize = 2;

/// `spec`: prints spec.json.
pub fn spec(output: &Output) -> Result<(), u8> {
    let spec: serde_json::Value =
        serde_json::from_str(config::SPEC).expect("spec.json is valid JSON");
    output
        .emit(&AirbyteMessage::spec(spec))
        .map_err(|_| EXIT_FAILURE)
}

/// `check`: validates the config and makes one cheap authenticated request (the current user).
/// Every failure is a CONNECTION_STATUS FAILED with what to fix; the exit code stays 0, as the
/// platform expects of a check that ran.
pub fn check(output: &Output, config_path: &Path) -> Result<(), u8> {
    let status = match load_config(config_path) {
        Err(e) => AirbyteMessage::connection_status(Status::Failed, Some(e.to_string())),
        Ok((mut config, raw)) => {
            config.max_retries = config.max_retries.min(CHECK_RETRIES);
            let on_rotation = persist_rotated_refresh_token(raw, output.clone());
            match runtime().block_on(check_connection(&config, on_rotation)) {
                Ok(()) => AirbyteMessage::connection_status(Status::Succeeded, None),
                Err(message) => AirbyteMessage::connection_status(Status::Failed, Some(message)),
            }
        }
    };
    output.emit(&status).map_err(|_| EXIT_FAILURE)
}

async fn check_connection(config: &Config, on_rotation: RotationSink) -> Result<(), String> {
    let client = HarvestClient::new(config).map_err(|e| e.to_string())?;
    client.on_refresh_token_rotated(on_rotation);
    let url = client.url("/users/me", &[]);
    match client.get(&url, Bucket::General).await {
        Ok(_) => Ok(()),
        Err(FetchError::Unauthorized { .. }) => Err(diagnose::unauthorized(config, &client).await),
        Err(FetchError::NotFound { .. }) => Err(format!(
            "Harvest answered 404 Not Found for the current user: the account_id in the config is probably wrong, or api_url ({}{}) does not point at Harvest's API v2.",
            config.api_url.origin().ascii_serialization(),
            config.api_url.path()
        )),
        Err(FetchError::Forbidden { .. }) => Err(
            "Harvest answered 403 Forbidden for the current user: the token lacks permission to read this account. Use a token of a user of this account (an administrator's to sync every stream).".into(),
        ),
        Err(FetchError::Transient {
            url_path,
            attempts,
            last_error,
        }) => Err(unreachable_message(config, &url_path, attempts, &last_error)),
        Err(FetchError::Unreachable {
            failures,
            last_error,
            ..
        }) => Err(unreachable_message(
            config,
            url.path(),
            failures as usize,
            &last_error,
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// What `check` says when Harvest cannot be reached. Not the fetch error's own text: that one
/// tells a sync that a later run will resume, which means nothing to a check.
fn unreachable_message(
    config: &Config,
    url_path: &str,
    attempts: usize,
    last_error: &str,
) -> String {
    let tries = match attempts {
        1 => "once".to_string(),
        n => format!("{n} times in a row, last"),
    };
    format!(
        "cannot reach Harvest at {}: the request to {url_path} failed {tries} with: {last_error}. Check the network, any proxy, and api_url.",
        config.api_url.host_str().unwrap_or_default()
    )
}

/// `discover`: validates the config and prints the catalog of every stream.
pub fn discover(output: &Output, config_path: &Path) -> Result<(), u8> {
    if let Err(e) = load_config(config_path) {
        return config_error(output, e);
    }
    output
        .emit(&AirbyteMessage::catalog(catalog::discovered()))
        .map_err(|_| EXIT_FAILURE)
}

/// `read`: reads the selected streams; non-zero exit unless every one completed.
pub fn read(
    output: &Output,
    config_path: &Path,
    catalog_path: &Path,
    state_path: Option<&Path>,
) -> Result<(), u8> {
    let inputs = load_config(config_path).and_then(|(config, raw)| {
        let selected =
            catalog::configured(&input::read_json_file(InputFile::Catalog, catalog_path)?)?;
        let state = match state_path {
            Some(path) => InputState::from_json(&input::read_json_file(InputFile::State, path)?)?,
            None => InputState::default(),
        };
        Ok((config, raw, selected, state))
    });
    let (config, raw, selected, state) = match inputs {
        Ok(inputs) => inputs,
        Err(e) => return config_error(output, e),
    };
    let on_rotation = persist_rotated_refresh_token(raw, output.clone());
    match runtime().block_on(read::read(
        config,
        selected,
        &state,
        output.clone(),
        on_rotation,
    )) {
        Ok(()) => Ok(()),
        Err(read::ReadError::Config(e)) => config_error(output, e),
        Err(read::ReadError::Incomplete(streams)) => {
            tracing::error!(
                "the sync is incomplete: {} did not finish; see the errors above",
                streams.join(", ")
            );
            Err(EXIT_FAILURE)
        }
        Err(read::ReadError::Cancelled) => Err(EXIT_FAILURE),
    }
}

/// The config, typed, and as the user wrote it (to hand back updated in a CONTROL message).
/// Every command warns of top-level keys no field has: a misspelled optional field would
/// otherwise be silently ignored (`api_ulr` sending the token to the real Harvest).
fn load_config(path: &Path) -> Result<(Config, serde_json::Value), InputError> {
    let raw = input::read_json_file(InputFile::Config, path)?;
    for unknown in config::unknown_keys(&raw) {
        tracing::warn!("{unknown}");
    }
    Ok((Config::from_json(&raw)?, raw))
}

/// Harvest may issue a new refresh token with each access token; if it does, the old one may stop
/// working, so the platform must store the new one before this run ends: a CONTROL message with
/// the user's config, the refresh token replaced where the config keeps it.
fn persist_rotated_refresh_token(raw: serde_json::Value, output: Output) -> RotationSink {
    Box::new(move |token| {
        let mut updated = raw.clone();
        let credentials = match updated.get("credentials") {
            Some(serde_json::Value::Object(_)) => &mut updated["credentials"],
            _ => &mut updated,
        };
        credentials["refresh_token"] = serde_json::Value::String(token.expose().to_owned());
        tracing::info!("Harvest issued a new OAuth refresh token; asking the platform to store it in the config");
        if output
            .emit(&AirbyteMessage::connector_config(updated))
            .is_err()
        {
            tracing::warn!(
                "could not hand the new refresh token to the platform: the output is closed"
            );
        }
    })
}

fn config_error(output: &Output, e: InputError) -> Result<(), u8> {
    let _ = output.emit(&AirbyteMessage::error(
        FailureType::ConfigError,
        e.to_string(),
        None,
    ));
    Err(EXIT_FAILURE)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use serde_json::json;

    use super::*;
    use crate::config::Secret;

    /// A writer whose bytes the test can read back.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(bytes)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn control_config(raw: serde_json::Value) -> serde_json::Value {
        let buffer = Buffer::default();
        let sink = persist_rotated_refresh_token(raw, Output::new(Box::new(buffer.clone())));
        sink(&Secret::new("refresh-2"));
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let message: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(message["type"], "CONTROL");
        assert_eq!(message["control"]["type"], "CONNECTOR_CONFIG");
        message["control"]["connectorConfig"]["config"].clone()
    }

    #[test]
    fn a_rotated_refresh_token_replaces_the_configs_own() {
        let raw = json!({"account_id": "1", "credentials": {"auth_type": "Client", "client_id": "c",
            "client_secret": "s", "refresh_token": "refresh-1"}, "page_size": 500});
        let mut expected = raw.clone();
        expected["credentials"]["refresh_token"] = json!("refresh-2");
        assert_eq!(control_config(raw), expected);
    }

    #[test]
    fn a_legacy_config_keeps_its_top_level_refresh_token() {
        let raw = json!({"account_id": "1", "client_id": "c", "client_secret": "s", "refresh_token": "refresh-1"});
        let mut expected = raw.clone();
        expected["refresh_token"] = json!("refresh-2");
        assert_eq!(control_config(raw), expected);
    }

    #[test]
    fn check_on_an_unreachable_host_says_what_to_check_not_that_a_run_will_resume() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let config = json!({"account_id": "1", "replication_start_date": "2020-01-01T00:00:00Z",
            "credentials": {"auth_type": "Token", "api_token": "t"},
            "api_url": "http://127.0.0.1:9/v2", "max_retries": 0});
        std::fs::write(&path, config.to_string()).unwrap();
        let buffer = Buffer::default();
        check(&Output::new(Box::new(buffer.clone())), &path).unwrap();
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let message: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        let status = &message["connectionStatus"];
        assert_eq!(status["status"], "FAILED", "{text}");
        let said = status["message"].as_str().unwrap();
        assert!(
            said.starts_with(
                "cannot reach Harvest at 127.0.0.1: the request to /v2/users/me failed once with: "
            ),
            "{said}"
        );
        assert!(
            said.ends_with("Check the network, any proxy, and api_url."),
            "{said}"
        );
        assert!(!said.contains("resume"), "{said}");
    }
}
