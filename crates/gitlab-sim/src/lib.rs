//! A stateful GitLab simulator: REST API v4, the OAuth 2.0 provider and git over smart HTTP,
//! following GitLab's documented behaviour closely enough that code passing against it works
//! against gitlab.com and self-managed GitLab.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gitlab_sim::SimError> {
//! let seed = gitlab_sim::Seed::builder()
//!     .user("alice")
//!     .personal_token("alice", "ci", &["api"], "glpat-EXAMPLEexample12345678")
//!     .build();
//! let sim = gitlab_sim::SimServer::start(seed).await?;
//! println!("{}", sim.url());
//! sim.clock().advance(std::time::Duration::from_secs(7200));
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::await_holding_lock
)]

pub mod api;
pub mod auth;
pub mod clock;
pub mod control;
pub mod counters;
pub mod db;
pub mod demo;
pub mod error;
pub mod faults;
pub mod git;
pub mod hook_events;
mod middleware;
pub mod model;
pub mod oauth;
pub mod pages;
pub mod pagination;
pub mod params;
pub mod seed;
pub mod server;
pub mod session;
pub mod sign_in;
pub mod state;

pub use clock::Clock;
pub use counters::{RequestCount, RequestCounters};
pub use db::{Db, RateLimitSettings};
pub use faults::{FaultAction, FaultConfig, FaultDecision, FaultRule, Faults};
pub use model::{Mode, UserState};
pub use seed::{Generate, Seed, SeedBuilder, SeedError};
pub use server::{SimError, SimOptions, SimServer, router};
pub use state::SimState;
