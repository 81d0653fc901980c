//! The emulator's integration tests, one binary: the emulator served on 127.0.0.1 and driven
//! over HTTP (and its CLI), a module per topic. One binary links axum and reqwest once instead
//! of once per topic.

mod common;

mod auth;
mod cli;
mod clock;
mod control;
mod data;
mod deletes;
mod faults;
mod filters;
mod pagination;
mod parents;
mod rate_limits;
mod real_shapes;
mod shapes;
