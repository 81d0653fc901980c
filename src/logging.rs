//! Logging: `tracing` events become LOG messages on the protocol output.
//!
//! The level comes from `SOURCE_HARVEST_LOG` (tracing's filter syntax, default `info`). The HTTP
//! stack's own chatter is kept at `warn` unless asked for by name.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::output::{LogLayer, Output};

/// Environment variable holding the log filter.
pub const LOG_ENV: &str = "SOURCE_HARVEST_LOG";

/// Installs the LOG-message layer as the global subscriber.
pub fn init(output: &Output) {
    let filter = EnvFilter::try_from_env(LOG_ENV)
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive("hyper=warn".parse().expect("static directive"))
        .add_directive("reqwest=warn".parse().expect("static directive"))
        .add_directive("rustls=warn".parse().expect("static directive"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(LogLayer::new(output.clone()))
        .try_init();
}
