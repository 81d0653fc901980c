//! `harvest-emulator`: a faithful, deterministic, local Harvest API v2.
//!
//! Nothing in the connector's tests, demo or benchmarks may reach the real Harvest API, so this
//! crate serves the same endpoints, shapes, pagination, orderings, filters, auth, rate limits and
//! error bodies from seeded generated data, plus injectable faults and a control API. Start it
//! in-process with [`Emulator::start`] or as the `harvest-emulator` binary. See README.md.

#![warn(missing_docs)]

mod api;
mod auth;
mod config;
mod control;
mod counts;
mod data;
mod faults;
mod gate;
mod limits;
mod net;
mod render;
mod scheduled;
mod server;
mod state;
mod stats;
mod time;

pub use config::{parse_duration, EmulatorConfig, FaultKind, Faults, RateLimit, Scale};
pub use scheduled::ScheduledDeletion;
pub use server::Emulator;
pub use stats::RequestCounts;

/// The emulated account's id (send it as `Harvest-Account-Id` or `account_id`).
pub const ACCOUNT_ID: &str = "1000001";
/// The personal access token the emulator accepts.
pub const PERSONAL_ACCESS_TOKEN: &str = "1000001.pt.emulator-personal-access-token";
/// The OAuth client id the token endpoint accepts.
pub const OAUTH_CLIENT_ID: &str = "emulator-client-id";
/// The OAuth client secret the token endpoint accepts.
pub const OAUTH_CLIENT_SECRET: &str = "emulator-client-secret";
/// The OAuth refresh token the token endpoint accepts (it is returned unchanged on refresh).
pub const OAUTH_REFRESH_TOKEN: &str = "emulator-refresh-token";
