//! Shared helpers of the end-to-end tests: start the emulator, write input files, run the real
//! binary, and check that every line it prints is a valid Airbyte message.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use harvest_emulator::{Emulator, EmulatorConfig, Scale};
use serde_json::{json, Value};

pub use crate::truth::served_records;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_source-harvest");

/// An emulator with the given scale and no rate limits (tests that need limits set them).
pub fn emulator(scale: Scale) -> Emulator {
    Emulator::start(EmulatorConfig {
        scale,
        general_limit: None,
        reports_limit: None,
        ..EmulatorConfig::default()
    })
    .expect("the emulator starts")
}

/// A PAT config pointing at the emulator, with fast retries; `extra` overrides fields.
pub fn config(emu: &Emulator, extra: Value) -> Value {
    let mut config = json!({
        "account_id": harvest_emulator::ACCOUNT_ID,
        "replication_start_date": "2020-01-01T00:00:00Z",
        "credentials": {"auth_type": "Token", "api_token": harvest_emulator::PERSONAL_ACCESS_TOKEN},
        "api_url": emu.api_url(),
        "oauth_token_url": emu.oauth_token_url(),
        "requests_per_window": 1000,
        "window_seconds": 1,
        "report_requests_per_window": 1000,
        "report_window_seconds": 1,
        "retry_base_delay_seconds": 0.01,
        "max_retries": 3,
        "request_timeout_seconds": 10
    });
    merge(&mut config, extra);
    config
}

/// Shallow-merges `extra` into `base` (an object); a null value removes the key.
pub fn merge(base: &mut Value, extra: Value) {
    if let Value::Object(extra) = extra {
        let base = base.as_object_mut().expect("an object");
        for (k, v) in extra {
            if v.is_null() {
                base.remove(&k);
            } else {
                base.insert(k, v);
            }
        }
    }
}

/// The state the platform holds after `run`: its last STATE per stream over `state`'s.
pub fn merged(state: Option<&Value>, run: &Run) -> Value {
    let name = |s: &Value| {
        s["stream"]["stream_descriptor"]["name"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut by_stream: BTreeMap<String, Value> = state
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| (name(s), s.clone()))
        .collect();
    for s in run.final_state().as_array().unwrap() {
        by_stream.insert(name(s), s.clone());
    }
    Value::Array(by_stream.into_values().collect())
}

/// A directory for one test's files, removed when dropped.
pub struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    /// A fresh directory.
    pub fn new() -> Files {
        Files {
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }

    /// Writes `value` as JSON to `name` and returns its path.
    pub fn json(&self, name: &str, value: &Value) -> PathBuf {
        self.text(name, &serde_json::to_string_pretty(value).unwrap())
    }

    /// Writes raw text to `name` and returns its path.
    pub fn text(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write a test file");
        path
    }

    /// Writes raw bytes (which need not be UTF-8) to `name` and returns its path.
    pub fn bytes(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("write a test file");
        path
    }

    /// The path `name` has in the directory, without creating anything there.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// What one run of the binary printed.
#[derive(Debug)]
pub struct Run {
    /// Every stdout line, parsed.
    pub messages: Vec<Value>,
    /// The exit code.
    pub code: i32,
    /// stderr, whole.
    pub stderr: String,
    /// stdout, whole.
    pub stdout: String,
}

impl Run {
    /// Messages of one type.
    pub fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.messages.iter().filter(|m| m["type"] == kind).collect()
    }

    /// Record data per stream.
    pub fn records(&self) -> BTreeMap<String, Vec<Value>> {
        let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for m in self.of_type("RECORD") {
            out.entry(m["record"]["stream"].as_str().unwrap().to_string())
                .or_default()
                .push(m["record"]["data"].clone());
        }
        out
    }

    /// Records of one stream.
    pub fn stream(&self, name: &str) -> Vec<Value> {
        self.records().remove(name).unwrap_or_default()
    }

    /// TRACE ERROR messages' bodies.
    pub fn errors(&self) -> Vec<&Value> {
        self.of_type("TRACE")
            .into_iter()
            .filter(|m| m["trace"]["type"] == "ERROR")
            .map(|m| &m["trace"]["error"])
            .collect()
    }

    /// Stream statuses in order, per stream.
    pub fn statuses(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for m in self.of_type("TRACE") {
            let status = &m["trace"]["stream_status"];
            if let Some(s) = status["status"].as_str() {
                out.entry(
                    status["stream_descriptor"]["name"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
                .or_default()
                .push(s.to_string());
            }
        }
        out
    }

    /// The last STATE per stream, as a state file for the next run.
    pub fn final_state(&self) -> Value {
        let mut last: BTreeMap<String, Value> = BTreeMap::new();
        for m in self.of_type("STATE") {
            let name = m["state"]["stream"]["stream_descriptor"]["name"]
                .as_str()
                .unwrap();
            last.insert(name.to_string(), m["state"].clone());
        }
        Value::Array(last.into_values().collect())
    }

    /// The last stream_state per stream.
    pub fn final_stream_states(&self) -> BTreeMap<String, Value> {
        self.final_state()
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["stream"]["stream_descriptor"]["name"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    s["stream"]["stream_state"].clone(),
                )
            })
            .collect()
    }

    /// All LOG message texts joined, for assertions on what was logged.
    pub fn logs(&self) -> String {
        self.of_type("LOG")
            .iter()
            .map(|m| {
                format!(
                    "{} {}\n",
                    m["log"]["level"],
                    m["log"]["message"].as_str().unwrap_or_default()
                )
            })
            .collect()
    }
}

/// Runs the binary with `args` and waits for it.
pub fn run(args: &[&str]) -> Run {
    run_with_env(args, &[])
}

/// How long one run of the binary may take before its test fails: far beyond any sync of the
/// suite on a loaded 2-core machine, so that only a hang reaches it, which then fails the test
/// with the command it was waiting for instead of stalling the suite.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs the binary with `args` and extra environment variables, killing it and failing the
/// test after [`RUN_TIMEOUT`].
pub fn run_with_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let child = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let pid = child.id();
    let (done, ended) = mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    let output = match ended.recv_timeout(RUN_TIMEOUT) {
        Ok(output) => output.expect("the binary runs"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!(
                "`source-harvest {}` did not end within {} s (killed)",
                args.join(" "),
                RUN_TIMEOUT.as_secs()
            );
        }
    };
    let stdout = String::from_utf8(output.stdout).expect("stdout is UTF-8");
    let messages = stdout
        .lines()
        .map(|line| {
            let message: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:.200}"));
            assert_valid_message(&message);
            message
        })
        .collect();
    Run {
        messages,
        code: output.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        stdout,
    }
}

/// The paths of a read's input files.
pub struct ReadInput {
    /// The files' directory (kept alive by the caller).
    pub files: Files,
    /// config.json
    pub config: PathBuf,
    /// catalog.json
    pub catalog: PathBuf,
}

impl ReadInput {
    /// Writes `config` and a catalog of `streams` in `mode`.
    pub fn new(config: &Value, streams: &[&str], mode: &str) -> ReadInput {
        let files = Files::new();
        let config = files.json("config.json", config);
        let catalog = files.json("catalog.json", &catalog(streams, mode));
        ReadInput {
            files,
            config,
            catalog,
        }
    }

    /// Runs `read`, with a state when given.
    pub fn read(&self, state: Option<&Value>) -> Run {
        let config = self.config.to_str().unwrap();
        let catalog = self.catalog.to_str().unwrap();
        match state {
            None => run(&["read", "--config", config, "--catalog", catalog]),
            Some(state) => {
                let state = self.files.json("state.json", state);
                run(&[
                    "read",
                    "--config",
                    config,
                    "--catalog",
                    catalog,
                    "--state",
                    state.to_str().unwrap(),
                ])
            }
        }
    }

    /// Starts `read` without waiting, stdout piped, for tests that act during a sync. It is
    /// killed after [`RUN_TIMEOUT`] (see [`Spawned`]).
    pub fn spawn(&self, state: Option<&Value>) -> Spawned {
        self.spawn_with_env(state, &[])
    }

    /// [`ReadInput::spawn`] with extra environment variables (a log level, say).
    pub fn spawn_with_env(&self, state: Option<&Value>, env: &[(&str, &str)]) -> Spawned {
        let mut command = Command::new(BIN);
        command.envs(env.iter().copied());
        command.args([
            "read",
            "--config",
            self.config.to_str().unwrap(),
            "--catalog",
            self.catalog.to_str().unwrap(),
        ]);
        if let Some(state) = state {
            let state = self.files.json("state.json", state);
            command.args(["--state", state.to_str().unwrap()]);
        }
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        Spawned::watch(child)
    }
}

/// A run started by [`ReadInput::spawn`], watched: one still running after [`RUN_TIMEOUT`] is
/// killed (its output then ends, and the test's wait returns), and [`Spawned::timed_out`] says
/// so, so that a hang fails the test instead of stalling the suite. Derefs to the child.
pub struct Spawned {
    child: Option<Child>,
    /// Dropped when the run is waited for or dropped: the watchdog then stands down.
    _running: mpsc::Sender<()>,
    killed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Spawned {
    fn watch(child: Child) -> Spawned {
        let (running, watched) = mpsc::channel::<()>();
        let killed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let pid = child.id().to_string();
        let flag = killed.clone();
        std::thread::spawn(move || {
            // Only a timeout: a run ending, or dropped, disconnects the channel at once.
            if let Err(mpsc::RecvTimeoutError::Timeout) = watched.recv_timeout(RUN_TIMEOUT) {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                let _ = Command::new("kill").args(["-9", &pid]).status();
            }
        });
        Spawned {
            child: Some(child),
            _running: running,
            killed,
        }
    }

    /// Fails the test if the watchdog killed the run.
    fn check_timeout(&self) {
        assert!(
            !self.killed.load(std::sync::atomic::Ordering::SeqCst),
            "a spawned `source-harvest read` did not end within {} s (killed)",
            RUN_TIMEOUT.as_secs()
        );
    }

    /// Waits for the run to end and collects its output, as [`Child::wait_with_output`].
    pub fn wait_with_output(mut self) -> std::io::Result<std::process::Output> {
        let output = self
            .child
            .take()
            .expect("not waited for yet")
            .wait_with_output();
        self.check_timeout();
        output
    }

    /// Waits for the run to end, as [`Child::wait`].
    pub fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        let status = self.child.as_mut().expect("not waited for yet").wait();
        self.check_timeout();
        status
    }
}

impl std::ops::Deref for Spawned {
    type Target = Child;

    fn deref(&self) -> &Child {
        self.child.as_ref().expect("not waited for yet")
    }
}

impl std::ops::DerefMut for Spawned {
    fn deref_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("not waited for yet")
    }
}

/// Reads a spawned run's stdout lines as messages until the process ends.
pub fn collect(child: Spawned, already: Vec<Value>, lines: impl Iterator<Item = String>) -> Run {
    let mut messages = already;
    for line in lines {
        let message: Value = serde_json::from_str(&line).expect("a JSON line");
        assert_valid_message(&message);
        messages.push(message);
    }
    let output = child.wait_with_output().expect("the run ends");
    Run {
        messages,
        code: output.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        stdout: String::new(),
    }
}

/// The lines of a spawned child's stdout.
pub fn lines(child: &mut Child) -> impl Iterator<Item = String> {
    BufReader::new(child.stdout.take().expect("stdout piped"))
        .lines()
        .map(|l| l.expect("a line"))
}

/// The names of every stream of the discovered catalog.
pub fn all_streams() -> Vec<&'static str> {
    source_harvest::streams::STREAMS
        .iter()
        .map(|s| s.name)
        .collect()
}

/// A configured catalog of `streams`: `mode` is "incremental" (where supported) or "full_refresh".
pub fn catalog(streams: &[&str], mode: &str) -> Value {
    let discovered = serde_json::to_value(source_harvest::catalog::discovered()).unwrap();
    let streams: Vec<Value> = discovered["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| streams.contains(&s["name"].as_str().unwrap()))
        .map(|s| {
            let incremental = mode == "incremental"
                && s["supported_sync_modes"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("incremental"));
            json!({
                "stream": s,
                "sync_mode": if incremental { "incremental" } else { "full_refresh" },
                "destination_sync_mode": if incremental { "append_dedup" } else { "overwrite" },
                "cursor_field": s.get("default_cursor_field"),
                "primary_key": s.get("source_defined_primary_key"),
            })
        })
        .collect();
    assert!(!streams.is_empty(), "the catalog selects something");
    json!({ "streams": streams })
}

/// Asserts that a message is a well-formed Airbyte message of a type we emit.
pub fn assert_valid_message(m: &Value) {
    let kind = m["type"].as_str().unwrap_or_else(|| panic!("no type: {m}"));
    let field = match kind {
        "RECORD" => "record",
        "STATE" => "state",
        "LOG" => "log",
        "SPEC" => "spec",
        "CONNECTION_STATUS" => "connectionStatus",
        "CATALOG" => "catalog",
        "TRACE" => "trace",
        "CONTROL" => "control",
        other => panic!("unknown message type {other}"),
    };
    let body = &m[field];
    assert!(body.is_object(), "{kind} without its `{field}` object: {m}");
    match kind {
        "RECORD" => {
            assert!(body["stream"].is_string(), "{m}");
            assert!(body["data"].is_object(), "{m}");
            assert!(body["emitted_at"].is_i64(), "{m}");
        }
        "STATE" => {
            assert_eq!(body["type"], "STREAM", "{m}");
            assert!(
                body["stream"]["stream_descriptor"]["name"].is_string(),
                "{m}"
            );
            assert!(body["stream"]["stream_state"].is_object(), "{m}");
            assert!(body["sourceStats"]["recordCount"].is_f64(), "{m}");
        }
        "LOG" => {
            let level = body["level"].as_str().unwrap();
            assert!(
                ["FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&level),
                "{m}"
            );
            assert!(body["message"].is_string(), "{m}");
        }
        "SPEC" => assert!(body["connectionSpecification"].is_object(), "{m}"),
        "CONNECTION_STATUS" => {
            assert!(
                ["SUCCEEDED", "FAILED"].contains(&body["status"].as_str().unwrap()),
                "{m}"
            )
        }
        "CATALOG" => assert!(body["streams"].is_array(), "{m}"),
        "TRACE" => {
            assert!(body["emitted_at"].is_number(), "{m}");
            match body["type"].as_str().unwrap() {
                "ERROR" => {
                    assert!(body["error"]["message"].is_string(), "{m}");
                    let ft = body["error"]["failure_type"].as_str().unwrap();
                    assert!(
                        ["config_error", "system_error", "transient_error"].contains(&ft),
                        "{m}"
                    );
                }
                "ESTIMATE" => assert!(
                    body["estimate"]["name"].is_string() && body["estimate"]["type"] == "STREAM",
                    "{m}"
                ),
                "STREAM_STATUS" => {
                    let s = body["stream_status"]["status"].as_str().unwrap();
                    assert!(
                        ["STARTED", "RUNNING", "COMPLETE", "INCOMPLETE"].contains(&s),
                        "{m}"
                    );
                    assert!(
                        body["stream_status"]["stream_descriptor"]["name"].is_string(),
                        "{m}"
                    );
                    if let Some(reasons) = body["stream_status"].get("reasons") {
                        assert_rate_limited(s, reasons, m);
                    }
                }
                other => panic!("unexpected trace type {other}: {m}"),
            }
        }
        _ => {}
    }
}

/// Asserts that a STREAM_STATUS's `reasons` are what the protocol's
/// `AirbyteStreamStatusReason` allows and the platform reads (one reason, RATE_LIMITED, with its
/// `quota_reset` in epoch milliseconds), on a RUNNING status, the only one that waits.
fn assert_rate_limited(status: &str, reasons: &Value, m: &Value) {
    assert_eq!(status, "RUNNING", "only a running stream waits: {m}");
    let reasons = reasons.as_array().unwrap_or_else(|| panic!("reasons: {m}"));
    assert_eq!(reasons.len(), 1, "{m}");
    let reason = reasons[0].as_object().unwrap_or_else(|| panic!("{m}"));
    assert_eq!(reason.len(), 2, "type and rate_limited only: {m}");
    assert_eq!(reason["type"], "RATE_LIMITED", "{m}");
    let detail = reason["rate_limited"]
        .as_object()
        .unwrap_or_else(|| panic!("{m}"));
    assert_eq!(detail.len(), 1, "quota_reset only: {m}");
    assert!(detail["quota_reset"].is_i64(), "an integer: {m}");
}

/// Asserts that none of `secrets` appears in `text`.
pub fn assert_no_secret(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "a secret leaked into the output: …{}…",
            &secret[..4.min(secret.len())]
        );
    }
}

/// The path of a file inside the repository.
pub fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Serves `router` on an ephemeral port of 127.0.0.1 from a thread of its own, for the few
/// server behaviours the emulator cannot produce. The server lives as long as the test process.
pub fn serve(router: axum::Router) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, router).await.unwrap();
        });
    });
    addr
}
