//! `cargo xtask bench`: how fast the connector reads, measured against the local emulator.
//!
//! Three measurements, printed as tables and written as one JSON file (both from the typed
//! records of `report`):
//! - **throughput**: a full refresh of `time_entries` with no rate limit at several sizes, so the
//!   connector's own cost shows (records/s, CPU seconds, output bytes/s, peak RSS); the largest
//!   size is the headline and the sizes together show whether time is linear and memory flat;
//! - **at the rate limit**: the whole catalog with the emulator enforcing Harvest's limits, scaled
//!   in time, and the connector told the same limits: how close the sync gets to the time the
//!   limits allow, and how many 429s it ran into;
//! - **requests**: per stream, the requests made against the fewest that could fetch its records.
//!
//! The connector and the emulator share the machine, so every figure comes with the load average
//! it was taken under. Nothing here fails on a number: only a sync that fails or returns the
//! wrong number of records fails the task.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use harvest_emulator::{Emulator, EmulatorConfig, RateLimit, Scale};
use serde_json::{json, Value};
use source_harvest::harvest::Pace;
use source_harvest::streams::{Kind, StreamDef, STREAMS};

mod report;

use report::{
    mib, print_rate_limited, print_requests, print_throughput, Bucket, RateLimited, Report,
    StreamRequests, Throughput,
};

use crate::clock::Started;
use crate::connector::{target_subdir, Connector, Result};
use crate::demo::{configured_catalog, retried, write_json};
use crate::expected;
use crate::process::{load_average, machine, self_cpu, wait4, PeakRss};

/// Harvest's largest page: the least number of requests a list of N records needs is N / this.
const PAGE_SIZE: u64 = 2000;

/// What each RECORD line starts with, as the connector writes it: counting records by this
/// prefix keeps the harness from parsing a million lines while the connector is being timed.
const RECORD_PREFIX: &[u8] = b"{\"type\":\"RECORD\",\"record\":{\"stream\":\"";

/// Options of `cargo xtask bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Small sizes and short windows, to prove the harness works (CI): under a minute.
    #[arg(long)]
    quick: bool,
    /// Where to write the JSON report (default: `<target>/bench/bench.json`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The throughput runs also select `time_entry_external_reference`, derived from each time
    /// entry by the same read: its CPU shows what the derived path costs per record.
    #[arg(long)]
    derived: bool,
}

/// The sizes and limits of one bench run.
struct Plan {
    /// `time_entries` sizes of the throughput runs, ascending; the last is the headline.
    sizes: &'static [u64],
    /// The dataset of the rate-limited run.
    catalog_scale: Scale,
    /// Harvest's limits with shorter windows (same request counts).
    general: RateLimit,
    reports: RateLimit,
}

const FULL: Plan = Plan {
    sizes: &[10_000, 100_000, 1_000_000],
    catalog_scale: Scale::Medium,
    general: RateLimit {
        requests: 100,
        window: Duration::from_millis(1_500),
    },
    reports: RateLimit {
        requests: 100,
        window: Duration::from_secs(9),
    },
};

const QUICK: Plan = Plan {
    sizes: &[2_000, 20_000],
    catalog_scale: Scale::Small,
    general: RateLimit {
        requests: 100,
        window: Duration::from_millis(500),
    },
    reports: RateLimit {
        requests: 100,
        window: Duration::from_secs(3),
    },
};

/// One `read` of the connector, as the operating system saw it.
struct Run {
    wall: Duration,
    /// User and system CPU of the connector process (from `wait4`).
    cpu_user: f64,
    cpu_sys: f64,
    /// Peak resident set of the connector process, in bytes (see [`PeakRss`]).
    max_rss: u64,
    /// Bytes the connector wrote to stdout.
    bytes: u64,
    /// RECORD lines per stream.
    records: BTreeMap<String, u64>,
    /// CPU this process (the emulator and the reader of stdout) spent meanwhile.
    harness_cpu: f64,
    /// The 1-minute load average when the run started and ended.
    load: (f64, f64),
}

impl Run {
    fn cpu(&self) -> f64 {
        self.cpu_user + self.cpu_sys
    }

    fn total_records(&self) -> u64 {
        self.records.values().sum()
    }
}

/// Runs the three measurements and writes the report; `started` is when the command began.
pub fn run(args: Args, started: &Started) -> Result<()> {
    let plan = if args.quick { QUICK } else { FULL };
    let connector = Connector::build()?;
    let dir = target_subdir(connector.exe(), "bench")?;
    let machine = machine();
    println!(
        "source-harvest bench{}: {} on {} ({} CPUs)\n",
        if args.quick { " --quick" } else { "" },
        connector.exe().display(),
        machine.cpu,
        machine.cpus
    );

    let mut scaling = Vec::new();
    for &size in plan.sizes {
        let run = Throughput::of(size, &throughput(&connector, &dir, size, args.derived)?);
        println!(
            "  time_entries x {size:>9}: {:>8.0} records/s, {:>6.2} s wall, {:>6.2} s CPU, {:>6.1} MiB RSS (load {:.2})",
            run.records_per_s,
            run.wall_s,
            run.cpu_s,
            mib(run.max_rss_bytes),
            run.load.1
        );
        scaling.push(run);
    }
    let (rate_limited, requests) = rate_limited(&connector, &dir, &plan)?;

    let report = Report {
        command: if args.quick {
            "cargo xtask bench --quick"
        } else {
            "cargo xtask bench"
        },
        machine,
        unix_time: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        throughput: scaling.last().cloned(),
        scaling,
        rate_limited,
        requests,
    };

    println!();
    print_throughput(&report.scaling);
    print_rate_limited(&report.rate_limited);
    print_requests(&report.requests);
    if let Some(headline) = &report.throughput {
        println!(
            "\nPeak RSS of the connector reading {} time entries: {:.1} MiB",
            headline.time_entries,
            mib(headline.max_rss_bytes)
        );
    }
    let out = args.out.unwrap_or_else(|| dir.join("bench.json"));
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    write_json(&out, &report)?;
    println!(
        "JSON report: {} (bench took {:.0} s since `cargo xtask bench` started{})",
        out.display(),
        started.elapsed().as_secs_f64(),
        started.before_main.map_or(String::new(), |d| format!(
            ", {:.0} s of it cargo building xtask",
            d.as_secs_f64()
        ))
    );
    Ok(())
}

/// The discovered catalog, every stream configured as the platform would.
fn discover(connector: &Connector, config: &Path) -> Result<Vec<Value>> {
    let catalog = connector.answer(
        &["discover".as_ref(), "--config".as_ref(), config.as_os_str()],
        "CATALOG",
    )?;
    Ok(configured_catalog(&catalog["catalog"]))
}

/// A full refresh of `time_entries` alone (with `derived`, and the rows derived from them),
/// `size` of them, with no rate limit anywhere.
fn throughput(connector: &Connector, dir: &Path, size: u64, derived: bool) -> Result<Run> {
    let emulator = Emulator::start(EmulatorConfig {
        scale: Scale::Custom { time_entries: size },
        general_limit: None,
        reports_limit: None,
        ..EmulatorConfig::default()
    })?;
    let unlimited = RateLimit {
        requests: 100_000,
        window: Duration::from_secs(1),
    };
    let config = dir.join("throughput-config.json");
    write_json(
        &config,
        &crate::connector::config_for(&emulator, unlimited, unlimited),
    )?;
    let selected: &[&str] = if derived {
        &["time_entries", "time_entry_external_reference"]
    } else {
        &["time_entries"]
    };
    let streams: Vec<Value> = discover(connector, &config)?
        .into_iter()
        .filter(|s| selected.contains(&s["stream"]["name"].as_str().unwrap_or_default()))
        .map(|mut stream| {
            stream["sync_mode"] = json!("full_refresh");
            stream["destination_sync_mode"] = json!("overwrite");
            if let Some(s) = stream.as_object_mut() {
                s.remove("cursor_field");
            }
            stream
        })
        .collect();
    if streams.len() != selected.len() {
        return Err(format!("discover lacks one of {selected:?}").into());
    }
    let catalog = dir.join("throughput-catalog.json");
    write_json(&catalog, &json!({ "streams": streams }))?;
    let run = read(
        connector,
        &config,
        &catalog,
        &dir.join(format!("throughput-{size}.stderr.log")),
    )?;
    let counts = emulator.expected_counts();
    for stream in selected {
        let expected = counts.get(*stream).copied().unwrap_or(0);
        let got = run.records.get(*stream).copied().unwrap_or(0);
        if got != expected {
            return Err(
                format!("{stream} x {size}: read {got} records, expected {expected}").into(),
            );
        }
    }
    Ok(run)
}

/// The whole catalog with both buckets enforced by the emulator and known to the connector.
fn rate_limited(
    connector: &Connector,
    dir: &Path,
    plan: &Plan,
) -> Result<(RateLimited, Vec<StreamRequests>)> {
    let emulator = Emulator::start(EmulatorConfig {
        scale: plan.catalog_scale,
        general_limit: Some(plan.general),
        reports_limit: Some(plan.reports),
        ..EmulatorConfig::default()
    })?;
    let expected = expected::records(&emulator, (Some(plan.general), Some(plan.reports)))?;
    let config = dir.join("catalog-config.json");
    write_json(
        &config,
        &crate::connector::config_for(&emulator, plan.general, plan.reports),
    )?;
    let configured = discover(connector, &config)?;
    let catalog = dir.join("catalog.json");
    write_json(&catalog, &json!({ "streams": configured }))?;
    // discover sends no request, but start from zero whatever it does.
    emulator.reset_request_counts();
    let run = read(
        connector,
        &config,
        &catalog,
        &dir.join("catalog.stderr.log"),
    )?;
    let counts = emulator.request_counts();
    for (name, &want) in &expected {
        let got = run.records.get(name).copied().unwrap_or(0);
        if got != want {
            return Err(format!("the catalog read gave {got} {name}, expected {want}").into());
        }
    }
    let bucket_requests = |reports: bool| -> u64 {
        counts
            .by_path
            .iter()
            .filter(|(path, _)| path.starts_with("/v2/reports/") == reports)
            .map(|(_, n)| n)
            .sum()
    };
    let connector_limit = |limit: RateLimit| source_harvest::config::RateLimit {
        requests: limit.requests,
        window: limit.window,
    };
    let buckets = [
        Bucket::new(
            "general",
            bucket_requests(false),
            plan.general,
            Pace::general(connector_limit(plan.general)),
        ),
        Bucket::new(
            "reports",
            bucket_requests(true),
            plan.reports,
            Pace::reports(connector_limit(plan.reports)),
        ),
    ];
    let longest = |of: fn(&Bucket) -> f64| buckets.iter().map(of).fold(0.0, f64::max);
    let paced_min = longest(|b| b.paced_min_s);
    let wall = run.wall.as_secs_f64();
    let result = RateLimited {
        scale: format!("{:?}", plan.catalog_scale),
        streams: configured.len(),
        records: run.total_records(),
        requests: counts.total,
        wall_s: wall,
        lower_bound_s: paced_min,
        ratio: wall / paced_min.max(1e-9),
        at_rate_s: longest(|b| b.at_rate_s),
        sliding_min_s: longest(|b| b.sliding_min_s),
        buckets,
        http_429: counts.status(429),
        retried: retried(&counts),
        cpu_s: run.cpu(),
        max_rss_bytes: run.max_rss,
        load: run.load,
    };
    let requests = STREAMS
        .iter()
        .map(|def| requests_of(def, &counts, &expected))
        .collect();
    Ok((result, requests))
}

/// One stream's requests against the fewest that could have read it: a page of up to
/// [`PAGE_SIZE`] per list, one call per parent for a child stream, and one page per 365-day
/// window for a report. A parent's path also serves its children's shared listing of parent ids,
/// which is counted as a second pass over the parent.
fn requests_of(
    def: &StreamDef,
    counts: &harvest_emulator::RequestCounts,
    expected: &BTreeMap<String, u64>,
) -> StreamRequests {
    let records = expected.get(def.name).copied().unwrap_or(0);
    let pages = records.div_ceil(PAGE_SIZE).max(1);
    let is_parent = STREAMS.iter().any(|s| s.parent() == Some(def.name));
    let minimum = match def.kind {
        Kind::Child { parent, .. } => expected.get(parent).copied().unwrap_or(0).max(pages),
        Kind::Derived(_) => 0,
        Kind::Single => 1,
        Kind::Report {
            window_days: Some(_),
            ..
        } => (expected::report_windows().len() as u64).max(pages),
        _ => pages,
    };
    let made = counts.path(&format!("/v2{}", def.path));
    StreamRequests {
        stream: def.name,
        records,
        requests: made,
        minimum,
        note: match (def.kind, is_parent) {
            (Kind::Child { parent, .. }, _) => format!("one call per {parent}"),
            (Kind::Derived(derived), _) => format!("rows from the {} pages", derived.source),
            (_, true) => "own pages, also the listing its children use".to_string(),
            (
                Kind::Report {
                    window_days: Some(_),
                    ..
                },
                _,
            ) => "one page per 365-day window".to_string(),
            _ => String::new(),
        },
    }
}

/// Runs `read`, reading its stdout as fast as it comes (counting bytes and RECORD lines per
/// stream, parsing only the other lines), and reaps it with `wait4` for its CPU time and peak
/// RSS. Fails when the connector exits non-zero or prints a TRACE ERROR.
fn read(connector: &Connector, config: &Path, catalog: &Path, stderr: &Path) -> Result<Run> {
    let load_before = load_average();
    let cpu_before = self_cpu();
    let started = Instant::now();
    let mut child = Command::new(connector.exe())
        .arg("read")
        .arg("--config")
        .arg(config)
        .arg("--catalog")
        .arg(catalog)
        .stdout(Stdio::piped())
        .stderr(File::create(stderr)?)
        .spawn()?;
    let peak_rss = PeakRss::watch(child.id());
    let mut stdout = BufReader::with_capacity(1 << 20, child.stdout.take().ok_or("no stdout")?);
    let mut records: BTreeMap<String, u64> = BTreeMap::new();
    let mut errors = Vec::new();
    let mut bytes = 0u64;
    let mut line = Vec::with_capacity(1 << 16);
    let mut last_stream: (Vec<u8>, String) = (Vec::new(), String::new());
    loop {
        line.clear();
        let n = stdout.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        if let Some(rest) = line.strip_prefix(RECORD_PREFIX) {
            let name = &rest[..rest.iter().position(|&b| b == b'"').unwrap_or(0)];
            if name != last_stream.0.as_slice() {
                last_stream = (name.to_vec(), String::from_utf8_lossy(name).into_owned());
            }
            *records.entry(last_stream.1.clone()).or_default() += 1;
            continue;
        }
        let message: Value = serde_json::from_slice(&line).map_err(|e| {
            format!(
                "the connector printed a line that is not JSON ({e}): {}",
                String::from_utf8_lossy(&line)
            )
        })?;
        if message["type"] == "RECORD" {
            return Err(format!("a RECORD line not in the expected form: {message}").into());
        }
        if message["type"] == "TRACE" && message["trace"]["type"] == "ERROR" {
            errors.push(message["trace"]["error"]["message"].to_string());
        }
    }
    let max_rss = peak_rss.stop();
    let (status, usage) = wait4(child.id())?;
    let wall = started.elapsed();
    if status != 0 || !errors.is_empty() {
        return Err(format!(
            "`read` failed (wait status {status}): {}; see {}",
            errors.join("; "),
            stderr.display()
        )
        .into());
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Run {
        wall,
        cpu_user: seconds(usage.ru_utime),
        cpu_sys: seconds(usage.ru_stime),
        max_rss,
        bytes,
        records,
        harness_cpu: self_cpu() - cpu_before,
        load: (load_before, load_average()),
    })
}
