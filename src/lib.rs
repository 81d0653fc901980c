//! source-harvest: an Airbyte source connector for Harvest.

pub mod config;
pub mod harvest;
