//! `cargo xtask <task>`: the project's tasks, each in its own module; this file only dispatches.

mod bench;
mod connector;
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
}

fn main() -> ExitCode {
    let result = match Cli::parse().task {
        Task::Demo(args) => demo::run(args),
        Task::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
