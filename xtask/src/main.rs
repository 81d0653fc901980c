//! `cargo xtask <task>`: the project's tasks, each in its own module; this file only dispatches.

mod bench;
mod connector;
mod cost;
mod demo;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "source-harvest's project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build the connector, start a local Harvest emulator and run spec, check, discover and an
    /// incremental read of every stream against it, then print a summary.
    Demo(demo::Args),
    /// Measure the connector against the emulator: throughput without a rate limit at several
    /// sizes, a whole-catalog sync at (scaled) rate limits, and requests per stream; prints
    /// tables and writes a JSON report.
    Bench(bench::Args),
    /// What hourly incremental syncs cost in requests and in time at Harvest's limits: a first
    /// sync, an unchanged one, and after 10 and 100 changes, with child_sweep_hours 0 and 24.
    Cost(CostArgs),
}

/// Options of `cargo xtask cost`.
#[derive(clap::Args)]
struct CostArgs {
    /// The Small account instead of the Large one (and no 10-times account).
    #[arg(long)]
    quick: bool,
}

/// `cargo xtask cost`: the series on Large (or Small), and on an account of ten times
/// Large's parents (time entries left out: they cost the same in every setting), into
/// `<target>/bench/cost.json`.
fn run_cost(quick: bool) -> connector::Result<()> {
    let connector = connector::Connector::build()?;
    let dir = connector::target_subdir(connector.exe(), "bench")?;
    let config = dir.join("discover-config.json");
    demo::write_json(
        &config,
        &serde_json::json!({
            "account_id": "1",
            "replication_start_date": "2024-01-01T00:00:00Z",
            "credentials": {"auth_type": "Token", "api_token": "unused"}
        }),
    )?;
    let discover = [
        std::ffi::OsStr::new("discover"),
        "--config".as_ref(),
        config.as_os_str(),
    ];
    let catalog = connector.answer(&discover, "CATALOG")?["catalog"].clone();
    let mut rows = if quick {
        cost::run(
            &connector,
            &catalog,
            harvest_emulator::Scale::Small,
            &[],
            &dir,
        )?
    } else {
        cost::run(
            &connector,
            &catalog,
            harvest_emulator::Scale::Large,
            &[],
            &dir,
        )?
    };
    if !quick {
        let ten_times = harvest_emulator::Scale::Custom {
            time_entries: 10_000_000,
        };
        rows.extend(cost::run(
            &connector,
            &catalog,
            ten_times,
            &["time_entries"],
            &dir,
        )?);
    }
    let out = dir.join("cost.json");
    demo::write_json(&out, &serde_json::json!(rows))?;
    println!("\nwritten to {}", out.display());
    Ok(())
}

fn main() -> ExitCode {
    let result = match Cli::parse().task {
        Task::Demo(args) => demo::run(args),
        Task::Bench(args) => bench::run(args),
        Task::Cost(args) => run_cost(args.quick),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
