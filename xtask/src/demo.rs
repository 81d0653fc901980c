//! `cargo xtask demo`: a complete sync on a fresh machine, with no Harvest account.
//!
//! Builds the connector, starts the emulator in this process, and runs the verbs in the order the
//! Airbyte platform does: spec → check → discover → read of every stream (incremental where the
//! stream supports it), then a second read with the state the first one ended with. Everything
//! the connector printed is kept under `<target>/demo/`, and a summary says what happened.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use harvest_emulator::{Emulator, EmulatorConfig, RateLimit, Scale};
use serde_json::{json, Value};

use crate::connector::{target_subdir, Connector, ReadFiles, Result};

/// Harvest's rate limits divided by this, so the demo keeps their shape (a general and a much
/// tighter reports bucket) but finishes in seconds; the connector is told the same limits.
const SPEEDUP: u32 = 100;

/// Options of `cargo xtask demo`.
#[derive(clap::Args)]
pub struct Args {
    /// How much data the emulator serves.
    #[arg(long, value_enum, default_value_t = DemoScale::Small)]
    scale: DemoScale,
}

/// The emulator's dataset sizes that make sense for a demo.
#[derive(Clone, Copy, ValueEnum)]
enum DemoScale {
    /// A handful of records per stream.
    Tiny,
    /// 4,000 time entries.
    Small,
    /// 50,000 time entries.
    Medium,
}

impl DemoScale {
    fn emulator(self) -> Scale {
        match self {
            DemoScale::Tiny => Scale::Tiny,
            DemoScale::Small => Scale::Small,
            DemoScale::Medium => Scale::Medium,
        }
    }
}

/// What one `read` produced, as the summary needs it.
#[derive(Default)]
struct ReadSummary {
    records: BTreeMap<String, u64>,
    /// Windowed report streams: the distinct subjects (ids and currency) their rows are about,
    /// which is what the emulator's expected count counts.
    report_subjects: BTreeMap<String, BTreeSet<String>>,
    final_state: BTreeMap<String, Value>,
    state_messages: Vec<Value>,
    lines: u64,
    elapsed: Duration,
    requests: u64,
    report_requests: u64,
}

pub fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    println!(
        "source-harvest demo: a full sync against a local Harvest emulator (no account needed)\n"
    );

    step("build", "cargo build --release --bin source-harvest");
    let t = Instant::now();
    let connector = Connector::build()?;
    done(&format!(
        "{} ({:.1} s)",
        connector.exe().display(),
        t.elapsed().as_secs_f64()
    ));
    let dir = target_subdir(connector.exe(), "demo")?;

    let general = scaled(RateLimit::HARVEST_GENERAL);
    let reports = scaled(RateLimit::HARVEST_REPORTS);
    step("emulator", "Harvest API v2 on 127.0.0.1");
    let emulator = Emulator::start(EmulatorConfig {
        scale: args.scale.emulator(),
        general_limit: Some(general),
        reports_limit: Some(reports),
        ..EmulatorConfig::default()
    })?;
    done(&format!(
        "{} ({:?} dataset; rate limits {} and {} for reports: Harvest's, {SPEEDUP}x faster)",
        emulator.api_url(),
        args.scale.emulator(),
        describe(general),
        describe(reports),
    ));

    let config = dir.join("config.json");
    write_json(&config, &connector_config(&emulator, general, reports))?;
    let config_arg = config.as_os_str();

    step("spec", "what the connector accepts");
    let spec = connector.answer(&["spec"], "SPEC")?;
    let fields = spec["spec"]["connectionSpecification"]["properties"]
        .as_object()
        .map_or(0, |p| p.len());
    done(&format!("a config of {fields} fields"));

    step("check", "can it reach Harvest with this config?");
    let status = connector.answer(
        &["check".as_ref(), "--config".as_ref(), config_arg],
        "CONNECTION_STATUS",
    )?;
    let outcome = status["connectionStatus"]["status"].as_str().unwrap_or("?");
    if outcome != "SUCCEEDED" {
        return Err(format!("check {outcome}: {}", status["connectionStatus"]["message"]).into());
    }
    done(outcome);

    step("discover", "which streams are there?");
    let catalog = connector.answer(
        &["discover".as_ref(), "--config".as_ref(), config_arg],
        "CATALOG",
    )?;
    let configured = configured_catalog(&catalog["catalog"]);
    let incremental = configured
        .iter()
        .filter(|s| s["sync_mode"] == "incremental")
        .count();
    done(&format!(
        "{} streams, {incremental} of them incremental",
        configured.len()
    ));
    let catalog_path = dir.join("catalog.json");
    write_json(&catalog_path, &json!({ "streams": configured }))?;

    step("read", "every stream, incremental where supported");
    let first = read(
        &connector,
        &emulator,
        &dir,
        &config,
        &catalog_path,
        None,
        "messages.jsonl",
    )?;
    done(&format!(
        "{} records in {:.2} s",
        first.records.values().sum::<u64>(),
        first.elapsed.as_secs_f64()
    ));
    print_streams(&configured, &first, &emulator.expected_counts());
    print_totals(&first, &dir.join("messages.jsonl"));

    let state = dir.join("state.json");
    write_json(&state, &Value::Array(first.state_messages.clone()))?;
    step("read again", "with the state the first read ended with");
    let second = read(
        &connector,
        &emulator,
        &dir,
        &config,
        &catalog_path,
        Some(&state),
        "messages-2.jsonl",
    )?;
    let changed: Vec<String> = second
        .records
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    done(&format!(
        "{} records ({}) with {} requests in {:.2} s; messages in {}",
        second.records.values().sum::<u64>(),
        if changed.is_empty() {
            "nothing changed since the first read".to_string()
        } else {
            changed.join(", ")
        },
        second.requests,
        second.elapsed.as_secs_f64(),
        dir.join("messages-2.jsonl").display(),
    ));

    println!(
        "\nDone in {:.1} s. Replay any step with the files in {}, e.g.",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    println!(
        "  {} read --config {} --catalog {} --state {}",
        connector.exe().display(),
        config.display(),
        catalog_path.display(),
        state.display()
    );
    println!("(the emulator stopped with this demo: start one with `cargo run -p harvest-emulator -- --port 0` and edit api_url)");
    Ok(())
}

fn scaled(limit: RateLimit) -> RateLimit {
    RateLimit {
        requests: limit.requests,
        window: limit.window / SPEEDUP,
    }
}

fn describe(limit: RateLimit) -> String {
    format!("{}/{:.2}s", limit.requests, limit.window.as_secs_f64())
}

/// The emulator's credentials, its URLs, and its rate limits, so the connector neither waits
/// longer than needed nor runs into 429s.
fn connector_config(emulator: &Emulator, general: RateLimit, reports: RateLimit) -> Value {
    json!({
        "account_id": harvest_emulator::ACCOUNT_ID,
        "replication_start_date": "2024-01-01T00:00:00Z",
        "credentials": { "auth_type": "Token", "api_token": harvest_emulator::PERSONAL_ACCESS_TOKEN },
        "api_url": emulator.api_url(),
        "oauth_token_url": emulator.oauth_token_url(),
        "requests_per_window": general.requests,
        "window_seconds": general.window.as_secs_f64(),
        "report_requests_per_window": reports.requests,
        "report_window_seconds": reports.window.as_secs_f64(),
    })
}

/// Every discovered stream, configured as PyAirbyte and the platform do: incremental with the
/// source-defined cursor where supported, full refresh otherwise.
pub(crate) fn configured_catalog(catalog: &Value) -> Vec<Value> {
    let streams = catalog["streams"].as_array().cloned().unwrap_or_default();
    streams
        .into_iter()
        .map(|stream| {
            let incremental = stream["supported_sync_modes"].as_array().is_some_and(|m| m.contains(&json!("incremental")));
            let mut configured = json!({
                "sync_mode": if incremental { "incremental" } else { "full_refresh" },
                "destination_sync_mode": if incremental { "append_dedup" } else { "overwrite" },
                "primary_key": stream.get("source_defined_primary_key").cloned().unwrap_or(json!([])),
            });
            if incremental {
                configured["cursor_field"] = stream["default_cursor_field"].clone();
            }
            configured["stream"] = stream;
            configured
        })
        .collect()
}

/// One `read`, summarized; the requests it made are the emulator's count difference.
fn read(
    connector: &Connector,
    emulator: &Emulator,
    dir: &Path,
    config: &Path,
    catalog: &Path,
    state: Option<&Path>,
    messages: &str,
) -> Result<ReadSummary> {
    let before = emulator.request_counts();
    let files = ReadFiles {
        config: config.to_path_buf(),
        catalog: catalog.to_path_buf(),
        state: state.map(Path::to_path_buf),
        messages: dir.join(messages),
        stderr: dir.join(messages.replace(".jsonl", ".stderr.log")),
    };
    let mut summary = ReadSummary::default();
    let t = Instant::now();
    connector.read(&files, |message| {
        summary.lines += 1;
        match message["type"].as_str() {
            Some("RECORD") => {
                let stream = message["record"]["stream"].as_str().unwrap_or_default();
                *summary.records.entry(stream.to_string()).or_default() += 1;
                let data = &message["record"]["data"];
                if data.get("from").is_some() {
                    summary
                        .report_subjects
                        .entry(stream.to_string())
                        .or_default()
                        .insert(report_subject(data));
                }
            }
            Some("STATE") => {
                let stream = &message["state"]["stream"];
                let name = stream["stream_descriptor"]["name"]
                    .as_str()
                    .unwrap_or_default();
                summary
                    .final_state
                    .insert(name.to_string(), stream["stream_state"].clone());
            }
            _ => {}
        }
    })?;
    summary.elapsed = t.elapsed();
    let after = emulator.request_counts();
    summary.requests = after.total - before.total;
    let reports = |c: &harvest_emulator::RequestCounts| -> u64 {
        c.by_path
            .iter()
            .filter(|(p, _)| p.contains("/reports/"))
            .map(|(_, n)| n)
            .sum()
    };
    summary.report_requests = reports(&after) - reports(&before);
    summary.state_messages = summary
        .final_state
        .iter()
        .map(|(name, state)| {
            json!({ "type": "STREAM", "stream": { "stream_descriptor": { "name": name }, "stream_state": state } })
        })
        .collect();
    Ok(summary)
}

fn print_streams(configured: &[Value], read: &ReadSummary, expected: &BTreeMap<String, u64>) {
    println!(
        "\n  {:<29} {:<12} {:>8} {:>9}  final state",
        "stream", "mode", "records", "expected"
    );
    for stream in configured {
        let name = stream["stream"]["name"].as_str().unwrap_or_default();
        let records = read.records.get(name).copied().unwrap_or(0);
        let compared = read
            .report_subjects
            .get(name)
            .map_or(records, |subjects| subjects.len() as u64);
        let want = expected.get(name).map_or("-".to_string(), u64::to_string);
        let flag = if expected.get(name).is_some_and(|&n| n != compared) {
            " !"
        } else {
            ""
        };
        let state = read
            .final_state
            .get(name)
            .map_or("(none)".to_string(), Value::to_string);
        let mode = stream["sync_mode"].as_str().unwrap_or_default();
        println!(
            "  {name:<29} {mode:<12} {records:>8} {want:>9}{flag}  {}",
            shorten(&state, 70)
        );
    }
    if !read.report_subjects.is_empty() {
        println!("  (a report stream has one row per subject and 365-day window: `expected` counts its subjects)");
    }
}

/// What a report row is about: its `*_id` fields and currency, without the window or totals.
pub(crate) fn report_subject(data: &Value) -> String {
    data.as_object()
        .into_iter()
        .flatten()
        .filter(|(key, _)| key.ends_with("_id") || *key == "currency")
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn print_totals(read: &ReadSummary, messages: &Path) {
    let records: u64 = read.records.values().sum();
    let secs = read.elapsed.as_secs_f64();
    println!("  {:<29} {:<12} {records:>8}", "total", "");
    println!(
        "\n  {} requests to the emulator ({} to reports), {:.2} s, {:.0} records/s",
        read.requests,
        read.report_requests,
        secs,
        records as f64 / secs.max(1e-9)
    );
    println!(
        "  {} Airbyte messages written to {}",
        read.lines,
        messages.display()
    );
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}

pub(crate) fn write_json(path: &Path, value: &Value) -> Result<()> {
    fs::write(path, serde_json::to_string_pretty(value)? + "\n")?;
    Ok(())
}

fn step(name: &str, what: &str) {
    println!("- {name:<11} {what}");
}

fn done(result: &str) {
    println!("  {:<11} {result}", "");
}
