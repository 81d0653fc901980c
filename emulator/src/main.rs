//! `harvest-emulator`: run the local Harvest API v2 from the command line.
//!
//! Prints exactly one line to stdout, `listening on http://127.0.0.1:PORT`, so scripts can read
//! the address; logs go to stderr. Runs until killed.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::Parser;
use harvest_emulator::{
    parse_duration, Emulator, EmulatorConfig, FaultKind, Faults, RateLimit, Scale,
};

/// A local, deterministic Harvest API v2 for tests, demos and benchmarks.
#[derive(Parser, Debug)]
#[command(name = "harvest-emulator", version)]
struct Args {
    /// TCP port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Dataset size: tiny, small, medium, large, or a number of time entries.
    #[arg(long, default_value = "small")]
    scale: Scale,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// General rate limit, N/DURATION (Harvest: 100/15s).
    #[arg(long, default_value = "100/15s")]
    general_limit: RateLimit,
    /// Reports rate limit, N/DURATION (Harvest: 100/15m).
    #[arg(long, default_value = "100/15m")]
    reports_limit: RateLimit,
    /// Serve without any rate limit.
    #[arg(long)]
    no_limits: bool,
    /// Probability (0–1) that an API request gets a fault from --faults.
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// Fault kinds, comma-separated: 500,502,503,429,slow,slow:250ms,stall,reset,truncate,
    /// malformed,huge,loop,foreign,missing-id,wrong-types.
    #[arg(long, value_delimiter = ',')]
    faults: Vec<FaultKind>,
    /// Seed of the fault draws.
    #[arg(long, default_value_t = 1)]
    fault_seed: u64,
    /// Only paths starting with one of these prefixes get faults, or a path with the query
    /// parameters a request must carry (`/v2/clients?page=2`) (comma-separated).
    #[arg(long, value_delimiter = ',')]
    fault_paths: Vec<String>,
    /// Tokens stop working (401) after this many API requests; OAuth refresh issues a new one.
    #[arg(long)]
    token_expires_after: Option<u64>,
    /// Path prefixes answered with 403, as for a non-admin token (comma-separated).
    #[arg(long, value_delimiter = ',')]
    forbidden: Vec<String>,
    /// Lifetime of OAuth access tokens, e.g. 18h, 30s.
    #[arg(long, default_value = "64799s", value_parser = parse_duration)]
    access_token_ttl: Duration,
    /// Each OAuth refresh issues a new refresh token and revokes the one it was given.
    #[arg(long)]
    rotate_refresh_tokens: bool,
}

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: a log redirected to a file stays plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let (general, reports) = if args.no_limits {
        (None, None)
    } else {
        (Some(args.general_limit), Some(args.reports_limit))
    };
    let config = EmulatorConfig {
        seed: args.seed,
        scale: args.scale,
        general_limit: general,
        reports_limit: reports,
        faults: Faults {
            seed: args.fault_seed,
            rate: args.fault_rate,
            kinds: args.faults.into_iter().map(|k| (k, 1)).collect(),
            paths: args.fault_paths,
            token_expires_after: args.token_expires_after,
        },
        forbidden: args.forbidden,
        access_token_ttl: args.access_token_ttl,
        rotate_refresh_tokens: args.rotate_refresh_tokens,
        port: args.port,
    };
    let started = std::time::Instant::now();
    let emulator = match Emulator::start(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("harvest-emulator: cannot start: {e}");
            std::process::exit(1);
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on http://{}", emulator.addr());
    let _ = out.flush();
    drop(out);
    tracing::info!(
        "ready in {} ms; api {} | oauth {} | control {}",
        started.elapsed().as_millis(),
        emulator.api_url(),
        emulator.oauth_token_url(),
        emulator.control_url()
    );
    loop {
        std::thread::park();
    }
}
