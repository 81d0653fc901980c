//! The `source-harvest` command line: parses arguments, runs the command, sets the exit code.

mod configure;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use source_harvest::output::Output;
use source_harvest::{commands, logging};

/// An Airbyte source for Harvest: speaks the Airbyte protocol on stdout.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the connector's specification (the config it accepts).
    Spec,
    /// Check that the config can reach Harvest.
    Check {
        /// The config file (JSON).
        #[arg(long)]
        config: PathBuf,
    },
    /// Print the catalog of streams.
    Discover {
        /// The config file (JSON).
        #[arg(long)]
        config: PathBuf,
    },
    /// Read the selected streams.
    Read {
        /// The config file (JSON).
        #[arg(long)]
        config: PathBuf,
        /// The configured catalog (JSON).
        #[arg(long)]
        catalog: PathBuf,
        /// The state from the previous run (a JSON array of STATE messages).
        #[arg(long)]
        state: Option<PathBuf>,
    },
    /// Print a configured catalog for `read --catalog` (plain JSON, no Harvest needed): every
    /// stream, or those named with --streams.
    Configure {
        /// Streams to select, comma-separated (default: all of them).
        #[arg(long, value_delimiter = ',')]
        streams: Vec<String>,
        /// How to read them: incremental where supported, or full refresh.
        #[arg(long, value_enum, default_value_t = configure::Mode::Incremental)]
        mode: configure::Mode,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let output = Output::stdout();
    logging::init(&output);
    let result = match cli.command {
        Command::Configure { streams, mode } => return configure::run(&streams, mode),
        Command::Spec => commands::spec(&output),
        Command::Check { config } => commands::check(&output, &config),
        Command::Discover { config } => commands::discover(&output, &config),
        Command::Read {
            config,
            catalog,
            state,
        } => commands::read(&output, &config, &catalog, state.as_deref()),
    };
    let _ = output.flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => ExitCode::from(code),
    }
}
