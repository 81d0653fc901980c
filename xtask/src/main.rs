//! `cargo xtask <task>`: the project's tasks, each in its own module; this file only dispatches.

mod bench;
mod clock;
mod connector;
mod cost;
mod demo;
mod emulator;
mod expected;
mod msrv;
mod process;
mod release;

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
    Cost(cost::Args),
    /// Start the emulator on its own (the demo's again, with `--config <target>/demo/config.json`)
    /// to replay a step of the demo or try the connector by hand; runs until stopped.
    Emulator(emulator::Args),
    /// Check that no package in Cargo.lock needs a newer Rust than the workspace's rust-version.
    Msrv,
}

fn main() -> ExitCode {
    let started = clock::Started::now();
    let task = Cli::parse().task;
    let measures = matches!(task, Task::Bench(_) | Task::Cost(_));
    let result = match task {
        _ if measures && release::must_rerun() => release::rerun(),
        Task::Cost(args) => cost::run(args),
        Task::Demo(args) => demo::run(args, &started),
        Task::Bench(args) => bench::run(args, &started),
        Task::Emulator(args) => emulator::run(args),
        Task::Msrv => msrv::run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
