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
mod credentials;
mod data;
mod dataset_counts;
mod faults;
mod gate;
mod harvest_id;
mod limits;
mod net;
mod render;
mod request_stats;
mod scheduled;
mod server;
mod state;
mod time;

pub use config::{parse_duration, EmulatorConfig, FaultKind, Faults, RateLimit, Scale};
pub use credentials::{
    RefreshTokens, ACCOUNT_ID, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAUTH_REFRESH_TOKEN,
    PERSONAL_ACCESS_TOKEN,
};
pub use data::deletion::Deletion;
pub use request_stats::RequestCounts;
pub use scheduled::{Refusal, ScheduledDeletion};
pub use server::Emulator;

/// The connector stream names the control API can create, update and delete records of, in
/// name order (a soak test picks from them; an unknown one is refused with this list).
pub const MUTABLE_STREAMS: &[&str] = &data::mutate::Stream::NAMES;
