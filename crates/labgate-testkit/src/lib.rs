//! Test support shared by labgate's crates: a fresh database per test on the backend chosen for
//! the run, so one suite covers SQLite and PostgreSQL, and a whole test environment around it
//! (services on a manual clock, gitlab-sim, tenants with admin keys, the HTTP app in process).
//!
//! `LABGATE_TEST_BACKEND=postgres` runs every database test on PostgreSQL (the server named by
//! `LABGATE_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`); anything
//! else, or nothing, runs them on SQLite files in temporary directories.

pub mod access;
mod database;
mod env;
mod logs;
pub mod net;
pub mod shared;
pub mod sim;
mod wait;

pub use database::{DEFAULT_POSTGRES_URL, TestBackend, TestDatabase, postgres_required};
pub use env::{Reply, START_MS, ServedApp, TestEnv, TestEnvBuilder};
pub use logs::{captured_logs, install_log_capture};
pub use net::{HostTable, RecordingProxy};
pub use wait::wait_until;
