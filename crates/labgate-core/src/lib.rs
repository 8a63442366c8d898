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
pub mod instances;
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
pub use labgate_gitlab::net::ProxyError;
use labgate_store::Store;
pub use rows::StoredValueError;

use crate::auth::ApiKeys;
use crate::clock::Clock;
use crate::connections::Connections;
use crate::instances::GitLabInstances;
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
    pub instances: GitLabInstances,
    /// Whether the database answers, for probes.
    pub readiness: Readiness,
    /// Where outgoing requests may go.
    pub network: Arc<NetworkSettings>,
}

/// Where outgoing requests may go. GitLab instances and webhook subscribers have separate
/// allow-lists: an operator who allows one internal GitLab does not thereby let every tenant's
/// webhooks reach that range.
#[derive(Clone)]
pub struct NetworkSettings {
    gitlab: NetworkPolicy,
    webhooks: NetworkPolicy,
    webhook_proxy: Option<url::Url>,
}

impl std::fmt::Debug for NetworkSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A proxy URL may carry credentials: its host only.
        f.debug_struct("NetworkSettings")
            .field("gitlab", &self.gitlab)
            .field("webhooks", &self.webhooks)
            .field(
                "webhook_proxy",
                &self.webhook_proxy.as_ref().and_then(url::Url::host_str),
            )
            .finish()
    }
}

impl NetworkSettings {
    /// GitLab instances may reach what `gitlab` allows (`LABGATE_ALLOW_INTERNAL_HOSTS`), webhook
    /// deliveries what `webhooks` allows (`LABGATE_WEBHOOK_ALLOW_INTERNAL_HOSTS`).
    pub fn new(gitlab: NetworkPolicy, webhooks: NetworkPolicy) -> NetworkSettings {
        NetworkSettings {
            gitlab,
            webhooks: webhooks.for_setting(webhooks::ALLOW_INTERNAL_HOSTS),
            webhook_proxy: None,
        }
    }

    /// Nothing internal reachable, no proxy for webhooks.
    pub fn deny_internal() -> NetworkSettings {
        Self::new(NetworkPolicy::deny_internal(), NetworkPolicy::deny_internal())
    }

    /// Sends webhook deliveries through `proxy` (`LABGATE_WEBHOOK_PROXY`).
    pub fn with_webhook_proxy(mut self, proxy: &str) -> std::result::Result<NetworkSettings, ProxyError> {
        self.webhook_proxy = Some(labgate_gitlab::net::ProxySettings::parse_url(
            webhooks::PROXY_SETTING,
            proxy,
        )?);
        Ok(self)
    }

    pub fn gitlab(&self) -> &NetworkPolicy {
        &self.gitlab
    }

    pub fn webhooks(&self) -> &NetworkPolicy {
        &self.webhooks
    }

    /// The only proxy webhook deliveries use; environment proxies never apply to them.
    pub fn webhook_proxy(&self) -> Option<&url::Url> {
        self.webhook_proxy.as_ref()
    }
}

impl Services {
    /// Services whose outgoing requests may reach no internal address.
    pub fn new(store: Store, vault: Arc<Vault>, clock: Arc<dyn Clock>) -> Services {
        Self::with_network(store, vault, clock, NetworkSettings::deny_internal())
    }

    /// Services whose outgoing requests may reach the internal hosts `network` allows: GitLab
    /// instances by its GitLab allow-list, webhook subscribers by its webhook allow-list.
    pub fn with_network(
        store: Store,
        vault: Arc<Vault>,
        clock: Arc<dyn Clock>,
        network: NetworkSettings,
    ) -> Services {
        let network = Arc::new(network);
        let gitlab_policy = Arc::new(network.gitlab().clone());
        let audit = audit::AuditLog::new(store.clone(), clock.clone());
        let jobs = JobQueue::new(store.clone(), clock.clone());
        let webhooks = Webhooks::new(
            store.clone(),
            vault.clone(),
            clock.clone(),
            audit.clone(),
            jobs.clone(),
            Arc::new(network.webhooks().clone()),
        );
        let instances = GitLabInstances::new(
            store.clone(),
            vault.clone(),
            clock.clone(),
            audit.clone(),
            gitlab_policy,
        );
        Services {
            connections: Connections::new(
                store.clone(),
                vault.clone(),
                clock.clone(),
                audit.clone(),
                webhooks.clone(),
                jobs.clone(),
                instances.clone(),
            ),
            instances,
            webhooks,
            network,
            tenants: Tenants::new(store.clone(), vault.clone(), clock.clone(), audit.clone()),
            api_keys: ApiKeys::new(store.clone(), clock.clone(), audit.clone()),
            jobs,
            audit,
            readiness: Readiness::new(store),
            clock,
            vault,
        }
    }

    /// Services that know the site URL they are served at (`LABGATE_SITE_URL`), so views can
    /// show the OAuth redirect URI to register at GitLab. Without it they show none.
    pub fn with_site_url(mut self, site_url: Option<&str>) -> Services {
        self.instances = self.instances.with_site_url(site_url);
        self.connections = self.connections.with_instances(self.instances.clone());
        self
    }

    /// Services whose connections go to `default_instance` when they name none, and authorise
    /// there through its OAuth application.
    pub fn with_default_instance(mut self, default_instance: instances::DefaultInstance) -> Services {
        self.instances = self.instances.with_default_instance(default_instance);
        self.connections = self.connections.with_instances(self.instances.clone());
        self
    }

    /// Closes the database pool; in-flight queries finish first.
    pub async fn close(&self) {
        self.readiness.close().await;
    }
}
