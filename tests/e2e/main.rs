//! The connector's end-to-end tests, one binary: the real `source-harvest` binary against the
//! emulator, a module per topic. One binary links axum and reqwest once instead of once per topic.

mod common;
mod resilience;

mod bad_input;
mod big_pages;
mod bounds;
mod changes;
mod children;
mod cli;
mod clocks;
mod configure;
mod deletions;
mod faults;
mod hostile;
mod kill_resume;
mod oauth;
mod parsers_proptest;
mod rate_limits;
mod read;
mod reports;
mod robust;
mod schemas;
mod secrets;
mod soak;
mod truth;
