//! labgate's background worker. It claims due jobs from the database, runs the handler for each
//! job's kind, renews the job's lease while it runs, and records the outcome: success, a retry
//! with exponential backoff and jitter, or a final failure. Any number of workers (processes or
//! replicas) can share one database; leases make sure a crashed worker's job is taken again.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod access_sync;
mod connections;
mod handlers;
mod runner;
mod secret_scanning;
mod secret_syncs;
mod webhooks;

pub use access_sync::{AccessSchedule, AccessSyncJob};
pub use connections::{ConnectionHealth, TokenChangeTakeover};
pub use handlers::{DiagnosticProbe, MaintenancePrune};
pub use runner::{
    JobContext, JobFailure, JobHandler, JobOutcome, RunOutcome, Worker, WorkerSettings, default_handlers,
};
pub use secret_scanning::SecretScanJob;
pub use secret_syncs::SecretSyncJob;
pub use webhooks::{WebhookDelivery, delivery_client};
