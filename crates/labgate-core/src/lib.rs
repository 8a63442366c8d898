//! labgate's domain layer: tenants, the vault, API keys and principals, connections, the job
//! queue, webhooks and the audit log. It speaks neither HTTP nor SQL: the server crate turns
//! requests into calls here, and the store crate holds every query. Store rows never leave this
//! crate: each capability parses them once into typed domain values (`rows`).

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

/// Marks a place where tests may inject a fault: with the `failpoints` feature, an armed
/// failpoint returns `$on_fail` from the enclosing function (or pauses there); without it, the
/// line compiles to nothing.
macro_rules! failpoint {
    ($name:literal, $scope:expr, $on_fail:expr) => {
        #[cfg(feature = "failpoints")]
        if $crate::failpoints::reached($name, $scope).await {
            return $on_fail;
        }
    };
}

/// Whether an armed failpoint says the operation fails here (with the `failpoints` feature);
/// always false without it. For places that handle the failure themselves (a retried write).
macro_rules! failpoint_fails {
    ($name:literal, $scope:expr) => {{
        #[cfg(feature = "failpoints")]
        let fails = $crate::failpoints::reached($name, $scope).await;
        #[cfg(not(feature = "failpoints"))]
        let fails = false;
        fails
    }};
}

pub mod audit;
pub mod auth;
pub mod clock;
pub mod connections;
pub mod error;
#[cfg(feature = "failpoints")]
pub mod failpoints;
pub mod ids;
pub mod jobs;
pub mod readiness;
mod rows;
pub mod tenants;
pub mod timefmt;
pub mod vault;
pub mod webhooks;

use std::sync::Arc;

pub use error::{CoreError, Result};
pub use labgate_gitlab::NetworkPolicy;
use labgate_store::Store;
pub use rows::StoredValueError;

use crate::auth::ApiKeys;
use crate::clock::Clock;
use crate::connections::Connections;
use crate::jobs::JobQueue;
use crate::readiness::Readiness;
use crate::tenants::Tenants;
use crate::vault::Vault;
use crate::webhooks::Webhooks;

/// Every domain service, wired once at start and shared (cheaply cloned) by the server and the
/// worker. The store behind them is not reachable from outside.
#[derive(Clone)]
pub struct Services {
    pub clock: Arc<dyn Clock>,
    pub vault: Arc<Vault>,
    pub tenants: Tenants,
    pub api_keys: ApiKeys,
    pub jobs: JobQueue,
    pub audit: audit::AuditLog,
    pub webhooks: Webhooks,
    pub connections: Connections,
    /// Whether the database answers, for probes.
    pub readiness: Readiness,
    /// Which internal addresses outgoing requests may reach.
    pub network_policy: Arc<NetworkPolicy>,
}

impl Services {
    /// Services whose outgoing requests may reach no internal address.
    pub fn new(store: Store, vault: Arc<Vault>, clock: Arc<dyn Clock>) -> Services {
        Self::with_network_policy(store, vault, clock, NetworkPolicy::deny_internal())
    }

    /// Services whose outgoing requests (webhook subscribers, GitLab instances) may reach the
    /// internal hosts `policy` allows (`LABGATE_ALLOW_INTERNAL_HOSTS`).
    pub fn with_network_policy(
        store: Store,
        vault: Arc<Vault>,
        clock: Arc<dyn Clock>,
        policy: NetworkPolicy,
    ) -> Services {
        let policy = Arc::new(policy);
        let audit = audit::AuditLog::new(store.clone(), clock.clone());
        let jobs = JobQueue::new(store.clone(), clock.clone());
        let webhooks = Webhooks::new(
            store.clone(),
            vault.clone(),
            clock.clone(),
            audit.clone(),
            jobs.clone(),
            policy.clone(),
        );
        Services {
            connections: Connections::new(
                store.clone(),
                vault.clone(),
                clock.clone(),
                audit.clone(),
                webhooks.clone(),
                jobs.clone(),
                policy.clone(),
            ),
            webhooks,
            network_policy: policy,
            tenants: Tenants::new(store.clone(), vault.clone(), clock.clone(), audit.clone()),
            api_keys: ApiKeys::new(store.clone(), clock.clone(), audit.clone()),
            jobs,
            audit,
            readiness: Readiness::new(store),
            clock,
            vault,
        }
    }

    /// Closes the database pool; in-flight queries finish first.
    pub async fn close(&self) {
        self.readiness.close().await;
    }
}
