//! `cargo xtask demo`: a complete sync on a fresh machine, with no Harvest account.
//!
//! Builds the connector, starts the emulator in this process, and runs the verbs in the order the
//! Airbyte platform does: spec → check → discover → read of every stream (incremental where the
//! stream supports it), then a second read with the state the first one ended with. Everything
//! the connector printed is kept under `<target>/demo/`, and a summary says what happened.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use harvest_emulator::{Emulator, EmulatorConfig, RateLimit, Scale};
use serde_json::{json, Value};

use crate::clock::Started;
use crate::connector::{build_args, target_subdir, Connector, ReadFiles, Result};
use crate::expected;

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
    /// The name `--scale` takes.
    fn name(self) -> &'static str {
        match self {
            DemoScale::Tiny => "tiny",
            DemoScale::Small => "small",
            DemoScale::Medium => "medium",
        }
    }

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
    final_state: BTreeMap<String, Value>,
    state_messages: Vec<Value>,
    lines: u64,
    elapsed: Duration,
    requests: u64,
    report_requests: u64,
}

/// Runs the demo and prints its summary; `started` is when the command began, so the time it
/// reports includes cargo's build of xtask.
pub fn run(args: Args, started: &Started) -> Result<()> {
    println!(
        "source-harvest demo: a full sync against a local Harvest emulator (no account needed)\n"
    );

    step("build", &format!("cargo {}", build_args().join(" ")));
    let t = Instant::now();
    let connector = Connector::build()?;
    let build = t.elapsed();
    done(&format!(
        "{} ({:.1} s{})",
        connector.exe().display(),
        build.as_secs_f64(),
        started.before_main.map_or(String::new(), |d| format!(
            "; before that, cargo built xtask in {:.1} s",
            d.as_secs_f64()
        ))
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
    let expected = expected::records(&emulator, (Some(general), Some(reports)))?;
    done(&format!(
        "{} ({:?} dataset; rate limits {} and {} for reports: Harvest's, {SPEEDUP}x faster)",
        emulator.api_url(),
        args.scale.emulator(),
        describe(general),
        describe(reports),
    ));

    let config = dir.join("config.json");
    write_json(
        &config,
        &crate::connector::config_for(&emulator, general, reports),
    )?;
    let config_arg = config.as_os_str();

    step("spec", "what the connector accepts");
    let spec = connector.answer(&["spec"], "SPEC")?;
    let fields = spec["spec"]["connectionSpecification"]["properties"]
        .as_object()
        .map_or(0, |p| p.len());
    done(&format!("a config of {}", plural(fields as u64, "field")));

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
        "{}, {incremental} of them incremental",
        plural(configured.len() as u64, "stream")
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
        "{} in {:.2} s",
        plural(first.records.values().sum::<u64>(), "record"),
        first.elapsed.as_secs_f64()
    ));
    print_streams(&configured, &first, &expected);
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
        "{} ({}) with {} in {:.2} s; messages in {}",
        plural(second.records.values().sum::<u64>(), "record"),
        if changed.is_empty() {
            "nothing changed since the first read".to_string()
        } else {
            changed.join(", ")
        },
        plural(second.requests, "request"),
        second.elapsed.as_secs_f64(),
        dir.join("messages-2.jsonl").display(),
    ));

    let counts = emulator.request_counts();
    println!(
        "\nRate limits: {} with status 429 and {} from the emulator over check, read and read again ({} in all)",
        plural(counts.status(429), "response"),
        plural(retried(&counts), "retried response"),
        plural(counts.total, "request"),
    );
    let total = started.elapsed();
    match started.before_main {
        Some(xtask) => println!(
            "Done in {:.1} s since `cargo xtask demo` started: {:.1} s cargo building xtask, {:.1} s building the connector, {:.1} s of demo.",
            total.as_secs_f64(),
            xtask.as_secs_f64(),
            build.as_secs_f64(),
            (total.saturating_sub(xtask + build)).as_secs_f64()
        ),
        None => println!(
            "Done in {:.1} s ({:.1} s building the connector), not counting cargo's build of xtask before this program started.",
            total.as_secs_f64(),
            build.as_secs_f64()
        ),
    }
    println!(
        "\nThe emulator stopped with the demo. To replay the second read with the files in {}:",
        dir.display()
    );
    println!(
        "  cargo xtask emulator --config {} --scale {}   # in one terminal: the same port, data and limits",
        config.display(),
        args.scale.name()
    );
    println!(
        "  {} read --config {} --catalog {} --state {}",
        connector.exe().display(),
        config.display(),
        catalog_path.display(),
        state.display()
    );
    Ok(())
}

/// Responses the connector had to retry: 429s, timeouts and server errors.
pub(crate) fn retried(counts: &harvest_emulator::RequestCounts) -> u64 {
    counts
        .by_status
        .iter()
        .filter(|(&status, _)| status == 429 || status == 408 || status >= 500)
        .map(|(_, n)| n)
        .sum()
}

/// `1 record`, `2 records`: a count and its noun, in the singular when the count is one.
pub(crate) fn plural(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
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

/// Every discovered stream, configured as PyAirbyte and the platform do: incremental with the
/// source-defined cursor where supported, full refresh otherwise.
pub(crate) fn configured_catalog(catalog: &Value) -> Vec<Value> {
    let streams = catalog["streams"].as_array().cloned().unwrap_or_default();
    streams
        .into_iter()
        .map(|stream| source_harvest::catalog::configure_stream(stream, true))
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
    let mut differ = 0;
    for stream in configured {
        let name = stream["stream"]["name"].as_str().unwrap_or_default();
        let records = read.records.get(name).copied().unwrap_or(0);
        let want = expected.get(name).map_or("-".to_string(), u64::to_string);
        let flag = if expected.get(name).is_some_and(|&n| n != records) {
            differ += 1;
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
    println!("  (`expected`: the emulator's records; for a report stream, the rows its report endpoint serves for the same 365-day windows)");
    if differ > 0 {
        println!(
            "  {} read a different count than expected (!)",
            plural(differ, "stream")
        );
    }
}

fn print_totals(read: &ReadSummary, messages: &Path) {
    let records: u64 = read.records.values().sum();
    let secs = read.elapsed.as_secs_f64();
    println!("  {:<29} {:<12} {records:>8}", "total", "");
    println!(
        "\n  {} to the emulator ({} to reports), {:.2} s, {:.0} records/s \
         (paced by the emulator's rate limits; `cargo xtask bench` measures speed)",
        plural(read.requests, "request"),
        read.report_requests,
        secs,
        records as f64 / secs.max(1e-9)
    );
    println!(
        "  {} written to {}",
        plural(read.lines, "Airbyte message"),
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

pub(crate) fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    fs::write(path, serde_json::to_string_pretty(value)? + "\n")?;
    Ok(())
}

fn step(name: &str, what: &str) {
    println!("- {name:<11} {what}");
}

fn done(result: &str) {
    println!("  {:<11} {result}", "");
}
