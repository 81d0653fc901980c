//! The bench's results as typed records: what `bench.json` holds, and the tables printed from
//! the same fields, so the file and the terminal cannot disagree.

use harvest_emulator::RateLimit;
use serde::Serialize;
use source_harvest::harvest::Pace;

use super::Run;
use crate::demo::plural;
use crate::process::Machine;

/// The JSON report (`bench.json`): what was measured, on what, when.
#[derive(Serialize)]
pub(super) struct Report {
    /// The command that made it (`--quick` or not).
    pub command: &'static str,
    pub machine: Machine,
    /// When it was written, in seconds since the epoch.
    pub unix_time: u64,
    /// The largest size of [`Report::scaling`]: the headline.
    pub throughput: Option<Throughput>,
    /// The throughput runs, ascending in size.
    pub scaling: Vec<Throughput>,
    pub rate_limited: RateLimited,
    /// Per stream of the rate-limited run, in the stream table's order.
    pub requests: Vec<StreamRequests>,
}

/// One throughput run: a full refresh of `time_entries` with no rate limit.
#[derive(Clone, Serialize)]
pub(super) struct Throughput {
    /// The dataset's size.
    pub time_entries: u64,
    /// Records read (all of them `time_entries`).
    pub records: u64,
    pub wall_s: f64,
    pub records_per_s: f64,
    /// The connector's user and system CPU.
    pub cpu_s: f64,
    pub cpu_user_s: f64,
    pub cpu_sys_s: f64,
    pub cpu_us_per_record: f64,
    /// Bytes the connector wrote to stdout.
    pub output_bytes: u64,
    pub output_bytes_per_s: f64,
    /// The connector's peak resident set.
    pub max_rss_bytes: u64,
    /// What this process (the emulator and the reader of stdout) spent meanwhile.
    pub emulator_and_harness_cpu_s: f64,
    /// The 1-minute load average when the run started and ended.
    pub load: (f64, f64),
}

impl Throughput {
    pub(super) fn of(size: u64, run: &Run) -> Throughput {
        let wall = run.wall.as_secs_f64();
        let records = run.total_records();
        Throughput {
            time_entries: size,
            records,
            wall_s: wall,
            records_per_s: records as f64 / wall,
            cpu_s: run.cpu(),
            cpu_user_s: run.cpu_user,
            cpu_sys_s: run.cpu_sys,
            cpu_us_per_record: run.cpu() * 1e6 / records.max(1) as f64,
            output_bytes: run.bytes,
            output_bytes_per_s: run.bytes as f64 / wall,
            max_rss_bytes: run.max_rss,
            emulator_and_harness_cpu_s: run.harness_cpu,
            load: run.load,
        }
    }
}

/// The rate-limited run: the whole catalog at Harvest's limits, scaled in time.
#[derive(Serialize)]
pub(super) struct RateLimited {
    /// The emulator's dataset (`Small`, `Medium`…).
    pub scale: String,
    pub streams: usize,
    pub records: u64,
    pub requests: u64,
    pub wall_s: f64,
    pub buckets: [Bucket; 2],
    /// The longest of the buckets' `paced_min_s`: no sync at the connector's pace is faster.
    pub lower_bound_s: f64,
    /// `wall_s` over `lower_bound_s` (the goal is at most 1.10).
    pub ratio: f64,
    /// The longest of the buckets' `at_rate_s`.
    pub at_rate_s: f64,
    /// The longest of the buckets' `sliding_min_s`.
    pub sliding_min_s: f64,
    pub http_429: u64,
    /// Responses the connector retried (429, 408, 5xx).
    pub retried: u64,
    pub cpu_s: f64,
    pub max_rss_bytes: u64,
    /// The 1-minute load average when the run started and ended.
    pub load: (f64, f64),
}

/// One rate-limit bucket of the rate-limited run: its requests and the least time they take.
#[derive(Serialize)]
pub(super) struct Bucket {
    /// `general` or `reports`.
    pub bucket: &'static str,
    pub requests: u64,
    /// Requests allowed per window.
    pub limit: u32,
    pub window_s: f64,
    /// The yardstick: requests at the server's average rate.
    pub at_rate_s: f64,
    /// The server's own bound: a sliding window lets the first `limit` go at once.
    pub sliding_min_s: f64,
    /// The connector's pace (a burst, then one request per interval, so that consecutive
    /// processes stay under the limit): the wall time can be no shorter than this.
    pub paced_min_s: f64,
    pub burst: u32,
    pub interval_s: f64,
}

impl Bucket {
    pub(super) fn new(bucket: &'static str, requests: u64, limit: RateLimit, pace: Pace) -> Bucket {
        let window = limit.window.as_secs_f64();
        Bucket {
            bucket,
            requests,
            limit: limit.requests,
            window_s: window,
            at_rate_s: requests as f64 * window / f64::from(limit.requests),
            sliding_min_s: (requests.saturating_sub(1) / u64::from(limit.requests)) as f64 * window,
            paced_min_s: pace.least_time(requests).as_secs_f64(),
            burst: pace.burst,
            interval_s: pace.interval.as_secs_f64(),
        }
    }
}

/// One stream's requests in the rate-limited run against the fewest that could have read it.
#[derive(Serialize)]
pub(super) struct StreamRequests {
    pub stream: &'static str,
    pub records: u64,
    pub requests: u64,
    pub minimum: u64,
    /// How the minimum is counted, where it is not one page per 2,000 records.
    pub note: String,
}

/// The throughput table, one row per size.
pub(super) fn print_throughput(scaling: &[Throughput]) {
    println!("Throughput: time_entries, full refresh, no rate limit");
    println!(
        "  {:>9} {:>10} {:>8} {:>8} {:>9} {:>10} {:>9} {:>10} {:>11}",
        "records",
        "records/s",
        "wall s",
        "CPU s",
        "µs/rec",
        "MB/s out",
        "RSS MiB",
        "emu CPU s",
        "load"
    );
    for run in scaling {
        println!(
            "  {:>9} {:>10.0} {:>8.2} {:>8.2} {:>9.2} {:>10.1} {:>9.1} {:>10.2} {:>5.2}→{:<5.2}",
            run.records,
            run.records_per_s,
            run.wall_s,
            run.cpu_s,
            run.cpu_us_per_record,
            run.output_bytes_per_s / 1e6,
            mib(run.max_rss_bytes),
            run.emulator_and_harness_cpu_s,
            run.load.0,
            run.load.1
        );
    }
}

/// The rate-limited run: its buckets, then how close it came to the lower bound.
pub(super) fn print_rate_limited(result: &RateLimited) {
    println!(
        "\nAt the rate limit: all {} streams, {} dataset, Harvest's limits scaled in time",
        result.streams, result.scale
    );
    println!(
        "  {:<8} {:>9} {:>12} {:>10} {:>13} {:>12}",
        "bucket", "requests", "limit", "at rate s", "sliding min s", "paced min s"
    );
    for b in &result.buckets {
        println!(
            "  {:<8} {:>9} {:>12} {:>10.2} {:>13.2} {:>12.2}",
            b.bucket,
            b.requests,
            format!("{}/{}s", b.limit, b.window_s),
            b.at_rate_s,
            b.sliding_min_s,
            b.paced_min_s,
        );
    }
    println!(
        "  (at rate: the server's average rate; sliding min: the server's bound; paced min: the connector's pace, a burst then one request per interval so that consecutive runs get no 429: the lower bound)"
    );
    println!(
        "  {} records, wall {:.2} s, lower bound {:.2} s: ratio {:.3} (goal ≤ 1.10); {} with status 429 (goal 0), {}; load {:.2}→{:.2}",
        result.records,
        result.wall_s,
        result.lower_bound_s,
        result.ratio,
        plural(result.http_429, "response"),
        plural(result.retried, "retried response"),
        result.load.0,
        result.load.1,
    );
}

/// The requests per stream against their minimum, and the totals.
pub(super) fn print_requests(rows: &[StreamRequests]) {
    println!("\nRequests per stream (same run) against the minimum");
    println!(
        "  {:<29} {:>8} {:>9} {:>8}",
        "stream", "records", "requests", "minimum"
    );
    let (mut made, mut least) = (0, 0);
    for row in rows {
        made += row.requests;
        least += row.minimum;
        println!(
            "  {:<29} {:>8} {:>9} {:>8}{} {}",
            row.stream,
            row.records,
            row.requests,
            row.minimum,
            if row.requests > row.minimum {
                " +"
            } else {
                "  "
            },
            row.note,
        );
    }
    println!("  {:<29} {:>8} {made:>9} {least:>8}", "total", "");
}

/// Bytes in MiB, as the tables show memory.
pub(super) fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
