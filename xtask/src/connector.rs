//! The connector binary as the tasks drive it: built once by cargo, then run one verb at a time
//! the way the Airbyte platform runs it, with its stdout parsed message by message.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use harvest_emulator::{Emulator, RateLimit};
use serde_json::{json, Value};

/// Errors of a task, shown to the user as they are.
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// `cargo build` arguments of the connector, in the profile this task was built with (see
/// [`Connector::build`] for why xtask is selected).
pub fn build_args() -> Vec<&'static str> {
    let profile: &[&str] = if cfg!(debug_assertions) {
        &[]
    } else {
        &["--release"]
    };
    [
        &["build"],
        profile,
        &[
            "-p",
            "source-harvest",
            "-p",
            "xtask",
            "--bin=source-harvest",
        ],
    ]
    .concat()
}

/// The cargo that runs this task (`$CARGO`), so the same toolchain and target directory are
/// used, without the variables `cargo run` set for the task: build scripts (ring's) watch
/// `CARGO_MANIFEST_DIR`, and seeing it change would rebuild them on every run.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if is_set_by_cargo_run(&name) {
            command.env_remove(name.as_ref());
        }
    }
    command
}

/// The workspace's Cargo.toml.
pub fn workspace_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml")
}

/// The built `source-harvest` binary.
pub struct Connector {
    exe: PathBuf,
}

impl Connector {
    /// Builds the binary with [`cargo`], in the profile this task runs in (`cargo xtask` builds
    /// in the dev profile; the measuring tasks rerun themselves in release, see `release.rs`),
    /// and takes the binary's path from cargo's own report instead of guessing where the target
    /// directory is.
    ///
    /// The build selects `xtask` too (`-p source-harvest -p xtask`): cargo unifies dependency
    /// features over the packages a command selects, and `cargo xtask` (`cargo run -p xtask`)
    /// has just built every dependency with the features xtask's graph needs (the emulator's
    /// axum turns on hyper's server side, tracing's `log`, serde's `default`…). Selecting the
    /// connector alone would resolve other features and recompile about 23 of those crates;
    /// selecting both reuses them and only links the connector. `integration_tests/acceptance.sh`
    /// selects the same packages for the same reason.
    pub fn build() -> Result<Connector> {
        let out = cargo()
            .args(build_args())
            .arg("--manifest-path")
            .arg(workspace_manifest())
            .arg("--message-format=json-render-diagnostics")
            .stderr(Stdio::inherit())
            .output()?;
        if !out.status.success() {
            return Err(format!("cargo build of source-harvest failed ({})", out.status).into());
        }
        let exe = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|m| {
                m["reason"] == "compiler-artifact" && m["target"]["name"] == "source-harvest"
            })
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .ok_or("cargo built no source-harvest executable")?;
        Ok(Connector { exe })
    }

    /// Where the binary is.
    pub fn exe(&self) -> &Path {
        &self.exe
    }

    /// Runs `spec`, `check` or `discover` and returns the message of type `kind` it answered
    /// with; an error carries the connector's own TRACE ERROR message when it printed one.
    pub fn answer<S: AsRef<OsStr>>(&self, args: &[S], kind: &str) -> Result<Value> {
        let out = Command::new(&self.exe)
            .args(args)
            .stderr(Stdio::inherit())
            .output()?;
        let messages: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        let verb = args
            .first()
            .map(|a| a.as_ref().to_string_lossy().into_owned());
        let verb = verb.unwrap_or_default();
        match messages.iter().find(|m| m["type"] == kind) {
            Some(message) if out.status.success() => Ok(message.clone()),
            _ => Err(format!("`{verb}` failed ({}): {}", out.status, errors(&messages)).into()),
        }
    }

    /// Runs `read`, copying every stdout line to `messages` unchanged and handing each parsed
    /// message to `on_message`; the connector's stderr goes to `stderr`. Fails when the
    /// connector exits non-zero, with the TRACE ERRORs it printed.
    pub fn read(&self, files: &ReadFiles, mut on_message: impl FnMut(&Value)) -> Result<()> {
        let mut cmd = Command::new(&self.exe);
        cmd.arg("read").arg("--config").arg(&files.config);
        cmd.arg("--catalog").arg(&files.catalog);
        if let Some(state) = &files.state {
            cmd.arg("--state").arg(state);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(File::create(&files.stderr)?)
            .spawn()?;
        let mut sink = BufWriter::new(File::create(&files.messages)?);
        let mut failures = Vec::new();
        for line in BufReader::new(child.stdout.take().ok_or("no stdout")?).lines() {
            let line = line?;
            writeln!(sink, "{line}")?;
            let message: Value = serde_json::from_str(&line).map_err(|e| {
                format!("the connector printed a line that is not JSON ({e}): {line}")
            })?;
            if message["type"] == "TRACE" && message["trace"]["type"] == "ERROR" {
                failures.push(message.clone());
            }
            on_message(&message);
        }
        sink.flush()?;
        let status = child.wait()?;
        if !status.success() {
            let log = files.stderr.display();
            return Err(
                format!("`read` failed ({status}): {}; see {log}", errors(&failures)).into(),
            );
        }
        Ok(())
    }
}

/// `<target>/<name>`, beside the profile directory that holds the binary `exe`, created if
/// missing. It is kept between runs (nothing in it is removed): a task overwrites the files it
/// writes there.
pub fn target_subdir(exe: &Path, name: &str) -> Result<PathBuf> {
    let target = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("the binary is not in a target directory")?;
    let dir = target.join(name);
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The files of one `read`: its inputs and where its output goes.
pub struct ReadFiles {
    pub config: PathBuf,
    pub catalog: PathBuf,
    pub state: Option<PathBuf>,
    pub messages: PathBuf,
    pub stderr: PathBuf,
}

/// Variables `cargo run` gives the program it runs, which describe that program's package.
fn is_set_by_cargo_run(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
        )
}

/// The messages of the TRACE ERRORs among `messages`, for an error report.
fn errors(messages: &[Value]) -> String {
    let found: Vec<&str> = messages
        .iter()
        .filter(|m| m["type"] == "TRACE" && m["trace"]["type"] == "ERROR")
        .filter_map(|m| m["trace"]["error"]["message"].as_str())
        .collect();
    if found.is_empty() {
        "no error message".into()
    } else {
        found.join("; ")
    }
}

/// The connector's config for `emulator`: its credentials and URLs, the start date the demo, the
/// bench and the cost series replicate from, and these client-side rate limits (the
/// emulator's own, so that the connector neither waits longer than needed nor meets a 429).
pub fn config_for(emulator: &Emulator, general: RateLimit, reports: RateLimit) -> Value {
    json!({
        "account_id": harvest_emulator::ACCOUNT_ID,
        "replication_start_date": crate::expected::START_DATE,
        "credentials": { "auth_type": "Token", "api_token": harvest_emulator::PERSONAL_ACCESS_TOKEN },
        "api_url": emulator.api_url(),
        "oauth_token_url": emulator.oauth_token_url(),
        "requests_per_window": general.requests,
        "window_seconds": general.window.as_secs_f64(),
        "report_requests_per_window": reports.requests,
        "report_window_seconds": reports.window.as_secs_f64(),
    })
}
