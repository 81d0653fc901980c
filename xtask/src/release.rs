//! Measurements are of release builds. `cargo xtask` builds in the dev profile, which makes the
//! demo's first run compile in a third of the time; a task that measures (`bench`, `cost`),
//! started from that build, runs itself again from a release build, with the same arguments.

use std::os::unix::process::CommandExt as _;

use crate::connector::{self, Result};

/// Whether this build of xtask must hand a measuring task over to a release build.
pub fn must_rerun() -> bool {
    cfg!(debug_assertions)
}

/// Replaces this process with `cargo run --release -p xtask -- <these arguments>`. `exec` keeps
/// the process and its start time, so the time a task reports still counts from the moment
/// `cargo xtask` was typed, both builds included. Returns only when that cannot start.
pub fn rerun() -> Result<()> {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let shown: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
    println!(
        "{} measures a release build: cargo run --release -p xtask -- {}",
        shown.first().map_or("this task", |task| task.as_ref()),
        shown.join(" ")
    );
    let error = connector::cargo()
        .args(["run", "--release", "-p", "xtask", "--manifest-path"])
        .arg(connector::workspace_manifest())
        .arg("--")
        .args(args)
        .exec();
    Err(format!("could not run cargo for the release build: {error}").into())
}
