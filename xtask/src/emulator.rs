//! `cargo xtask emulator`: the emulator the demo ran, started again on its own so that a step of
//! the demo can be replayed with the files the demo left (its config names the port and the
//! rate limits; the emulator takes both from it).

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use harvest_emulator::{Emulator, EmulatorConfig, RateLimit, Scale};
use serde_json::Value;

use crate::connector::Result;

/// Options of `cargo xtask emulator`.
#[derive(clap::Args)]
pub struct Args {
    /// A connector config (such as the demo's `config.json`): the emulator listens on the port of
    /// its `api_url` and enforces its rate limits. Without it: any free port and Harvest's limits.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Dataset size: tiny, small, medium, large, or a number of time entries.
    #[arg(long, default_value = "small")]
    scale: Scale,
}

/// Starts the emulator and serves until the process is stopped (Ctrl-C).
pub fn run(args: Args) -> Result<()> {
    let mut config = EmulatorConfig {
        scale: args.scale,
        ..EmulatorConfig::default()
    };
    if let Some(path) = &args.config {
        let text =
            fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let connector: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
        config.port = port_of(&connector)?;
        config.general_limit = Some(limit_of(
            &connector,
            "requests_per_window",
            "window_seconds",
        )?);
        config.reports_limit = Some(limit_of(
            &connector,
            "report_requests_per_window",
            "report_window_seconds",
        )?);
    }
    let port = config.port;
    let (general, reports) = (config.general_limit, config.reports_limit);
    let emulator = Emulator::start(config).map_err(|e| {
        format!("cannot start the emulator on 127.0.0.1:{port}: {e} (is another one running? stop it, or start this one without --config and edit api_url in the config)")
    })?;
    let shown = |limit: Option<RateLimit>| {
        limit.map_or("none".to_string(), |l| {
            format!("{}/{:.2}s", l.requests, l.window.as_secs_f64())
        })
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{}", emulator.addr())?;
    writeln!(
        out,
        "api_url {} | rate limits {} (general) and {} (reports) | Ctrl-C stops it",
        emulator.api_url(),
        shown(general),
        shown(reports)
    )?;
    out.flush()?;
    drop(out);
    loop {
        std::thread::park();
    }
}

/// The port of a connector config's `api_url` (`http://127.0.0.1:PORT/v2`).
fn port_of(config: &Value) -> Result<u16> {
    let url = config["api_url"]
        .as_str()
        .ok_or("the config has no api_url")?;
    let port = url
        .strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.split('/').next())
        .and_then(|port| port.parse().ok())
        .ok_or_else(|| format!("api_url {url} is not an emulator's (http://127.0.0.1:PORT/v2)"))?;
    Ok(port)
}

/// A rate limit from a config's count and window fields (the connector's defaults where absent:
/// Harvest's limits).
fn limit_of(config: &Value, requests: &str, window: &str) -> Result<RateLimit> {
    let harvest = if requests.starts_with("report") {
        RateLimit::HARVEST_REPORTS
    } else {
        RateLimit::HARVEST_GENERAL
    };
    let count = match config.get(requests) {
        None => harvest.requests,
        Some(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("{requests} is not a request count"))?,
    };
    let seconds = match config.get(window) {
        None => harvest.window,
        Some(s) => s
            .as_f64()
            .filter(|s| *s > 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("{window} is not a number of seconds"))?,
    };
    Ok(RateLimit {
        requests: count,
        window: seconds,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn port_and_limits_come_from_the_config() {
        let config = json!({
            "api_url": "http://127.0.0.1:41234/v2",
            "requests_per_window": 100,
            "window_seconds": 0.15,
        });
        assert_eq!(port_of(&config).unwrap(), 41234);
        let general = limit_of(&config, "requests_per_window", "window_seconds").unwrap();
        assert_eq!((general.requests, general.window.as_millis()), (100, 150));
        let reports = limit_of(
            &config,
            "report_requests_per_window",
            "report_window_seconds",
        )
        .unwrap();
        assert_eq!(reports, RateLimit::HARVEST_REPORTS);
    }

    #[test]
    fn a_config_not_for_the_emulator_is_refused() {
        let error = port_of(&json!({"api_url": "https://api.harvestapp.com/v2"})).unwrap_err();
        assert!(error.to_string().contains("is not an emulator's"));
        assert!(port_of(&json!({})).is_err());
        let bad = json!({"window_seconds": "soon"});
        assert!(limit_of(&bad, "requests_per_window", "window_seconds").is_err());
    }
}
