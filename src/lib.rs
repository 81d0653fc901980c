//! source-harvest: an Airbyte source connector for Harvest.
//!
//! `commands` is the entry of each CLI verb; `read` is the engine that reads every stream of
//! the table in `streams` through the HTTP client in `harvest`, writing through `output`.

pub mod catalog;
pub mod commands;
pub mod config;
pub mod digest;
pub mod harvest;
pub mod iblt;
pub mod input;
pub mod keys;
pub mod logging;
pub mod output;
pub mod page;
pub mod protocol;
pub mod read;
pub mod read_times;
pub mod state;
pub mod streams;
pub mod time;
pub mod varint;
