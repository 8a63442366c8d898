//! Wire types shared by the labgate server, its Rust client and the CLI.
//!
//! Field names are camelCase on the wire. Where Infisical's public API has a shape for the same
//! resource, labgate follows it and only ever adds fields.

pub mod access;
pub mod access_provisioning;
pub mod access_reports;
pub mod access_webhooks;
pub mod api_keys;
pub mod audit;
pub mod connect_sessions;
pub mod connections;
pub mod credentials;
pub mod error;
pub mod instances;
pub mod jobs;
mod openapi;
pub mod pagination;
pub mod secret_scanning;
pub mod secret_syncs;
pub mod secrets;
mod serde_util;
pub mod tenants;
pub mod vocab;
pub mod webhooks;

pub use error::{ErrorBody, ErrorKind};
