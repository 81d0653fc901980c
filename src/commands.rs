//! The four commands of the Airbyte protocol. Each returns `Err(exit code)` after it has said
//! why on the output, as a TRACE ERROR or a CONNECTION_STATUS.

use std::path::Path;

use crate::catalog;
use crate::config::{self, Config, ConfigError};
use crate::harvest::{Bucket, FetchError, HarvestClient};
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
        Ok(mut config) => {
            config.max_retries = config.max_retries.min(CHECK_RETRIES);
            match runtime().block_on(check_connection(&config)) {
                Ok(()) => AirbyteMessage::connection_status(Status::Succeeded, None),
                Err(message) => AirbyteMessage::connection_status(Status::Failed, Some(message)),
            }
        }
    };
    output.emit(&status).map_err(|_| EXIT_FAILURE)
}

async fn check_connection(config: &Config) -> Result<(), String> {
    let client = HarvestClient::new(config).map_err(|e| e.to_string())?;
    let url = client.url("/users/me", &[]);
    match client.get(&url, Bucket::General).await {
        Ok(_) => Ok(()),
        Err(FetchError::Unauthorized { .. }) => Err(
            "Harvest rejected the credentials (401 Unauthorized): the token is wrong, expired or revoked, or the account_id in the config is not an account this token can reach. Create a new personal access token at https://id.getharvest.com/developers (or reconnect OAuth) and check the account id shown there.".into()
        ),
        Err(FetchError::NotFound { .. }) => Err(format!(
            "Harvest answered 404 Not Found for the current user: the account_id in the config is probably wrong, or api_url ({}{}) does not point at Harvest's API v2.",
            config.api_url.origin().ascii_serialization(),
            config.api_url.path()
        )),
        Err(FetchError::Forbidden { .. }) => Err(
            "Harvest answered 403 Forbidden for the current user: the token lacks permission to read this account. Use a token of a user of this account (an administrator's to sync every stream).".into(),
        ),
        Err(e @ FetchError::Transient { .. }) => Err(format!(
            "cannot reach Harvest at {}: {e}. Check the network, any proxy, and api_url.",
            config.api_url.host_str().unwrap_or_default()
        )),
        Err(e) => Err(e.to_string()),
    }
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
    let inputs = load_config(config_path).and_then(|config| {
        let selected = catalog::configured(&config::read_json_file("catalog", catalog_path)?)?;
        let state = match state_path {
            Some(path) => InputState::from_json(&config::read_json_file("state", path)?)?,
            None => InputState::default(),
        };
        Ok((config, selected, state))
    });
    let (config, selected, state) = match inputs {
        Ok(inputs) => inputs,
        Err(e) => return config_error(output, e),
    };
    match runtime().block_on(read::read(config, selected, &state, output.clone())) {
        Ok(()) => Ok(()),
        Err(read::ReadError::Config(e)) => config_error(output, e),
        Err(read::ReadError::Incomplete(streams)) => {
            tracing::error!(
                "the sync is incomplete: {} did not finish; see the errors above",
                streams.join(", ")
            );
            Err(EXIT_FAILURE)
        }
    }
}

fn load_config(path: &Path) -> Result<Config, ConfigError> {
    Config::from_json(&config::read_json_file("config", path)?)
}

fn config_error(output: &Output, e: ConfigError) -> Result<(), u8> {
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
