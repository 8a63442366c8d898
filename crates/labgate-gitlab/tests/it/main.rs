//! Integration tests against gitlab-sim.

mod common;
mod faults;
mod logs;
mod network;
mod oauth;
mod pagination;
mod resources;
mod tokens;
