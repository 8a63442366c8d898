//! labgate's domain layer: tenants, the vault, API keys and principals, the job queue and the
//! audit log. It speaks neither HTTP nor SQL: the server crate turns requests into calls here,
//! and the store crate holds every query.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod audit;
pub mod auth;
pub mod clock;
pub mod connections;
pub mod error;
pub mod ids;
pub mod jobs;
pub mod tenants;
pub mod timefmt;
pub mod vault;
pub mod webhooks;

use std::sync::Arc;

pub use error::{CoreError, Result};
pub use labgate_gitlab::NetworkPolicy;
pub use labgate_store::Store;

use crate::auth::ApiKeys;
use crate::clock::Clock;
use crate::connections::Connections;
use crate::jobs::JobQueue;
use crate::tenants::Tenants;
use crate::vault::Vault;
use crate::webhooks::Webhooks;

/// Every domain service, wired once at start and shared (cheaply cloned) by the server and the
/// worker.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub vault: Arc<Vault>,
    pub tenants: Tenants,
    pub api_keys: ApiKeys,
    pub jobs: JobQueue,
    pub audit: audit::AuditLog,
    pub webhooks: Webhooks,
    pub connections: Connections,
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
            store,
            clock,
            vault,
        }
    }
}
