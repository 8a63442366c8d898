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

pub mod access;
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
pub mod scanning;
mod schedule;
pub mod secrets;
pub mod syncs;
pub mod tenants;
pub mod timefmt;
pub mod vault;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

pub use error::{CoreError, Result};
pub use labgate_gitlab::NetworkPolicy;
pub use labgate_gitlab::net::ProxyError;
use labgate_store::Store;
pub use rows::StoredValueError;

/// The hasher of the in-memory maps every credential read probes. Entries are only made for keys
/// labgate issued or stored (connection ids, fold digests, hashes of known API keys), so callers
/// cannot fill a map with colliding keys, and the seed is random per process; SipHash, the
/// default, cost more than the lookups themselves.
pub(crate) type RandomKeys = foldhash::fast::RandomState;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::access::AccessSyncs;
use crate::access::hooks::AccessHooks;
use crate::access::provisioning::AccessProvisioning;
use crate::auth::{ApiKeys, UiSessions, Users};
use crate::clock::Clock;
use crate::connections::Connections;
use crate::instances::GitLabInstances;
use crate::jobs::JobQueue;
use crate::readiness::Readiness;
use crate::scanning::SecretScanning;
use crate::secrets::Secrets;
use crate::syncs::SecretSyncs;
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
    /// People who log in to the web UI.
    pub users: Users,
    /// Their sessions.
    pub ui_sessions: UiSessions,
    pub jobs: JobQueue,
    pub audit: audit::AuditLog,
    pub webhooks: Webhooks,
    pub connections: Connections,
    pub instances: GitLabInstances,
    /// labgate's own secrets: projects, environments, folders and versions.
    pub secrets: Secrets,
    /// Secret syncs to GitLab CI/CD variables.
    pub secret_syncs: SecretSyncs,
    /// Secret scanning of GitLab repositories: data sources, scans and findings.
    pub secret_scanning: SecretScanning,
    /// What access syncs saw: accounts, resources, effective grants, diffs and exports.
    pub access_reports: access::reports::AccessReports,
    /// Access sync: GitLab access sources, their sync runs and snapshots.
    pub access: AccessSyncs,
    /// Access provisioning on access sources' GitLab: accounts, grants, revokes, deprovisioning.
    pub access_provisioning: AccessProvisioning,
    /// The webhooks that report access changes between full syncs.
    pub access_hooks: AccessHooks,
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
        let users = Users::new(store.clone(), clock.clone(), audit.clone());
        let connections = Connections::new(
            store.clone(),
            vault.clone(),
            clock.clone(),
            audit.clone(),
            webhooks.clone(),
            jobs.clone(),
            instances.clone(),
        );
        let secrets = Secrets::new(store.clone(), vault.clone(), clock.clone(), audit.clone());
        let secret_syncs = SecretSyncs::new(
            store.clone(),
            vault.clone(),
            clock.clone(),
            audit.clone(),
            jobs.clone(),
            connections.clone(),
            secrets.clone(),
        );
        let secret_scanning = SecretScanning::new(
            store.clone(),
            vault.clone(),
            clock.clone(),
            audit.clone(),
            jobs.clone(),
            connections.clone(),
        );
        let access_hooks = AccessHooks::new(store.clone(), vault.clone(), clock.clone(), connections.clone());
        let access = AccessSyncs::new(
            store.clone(),
            clock.clone(),
            audit.clone(),
            jobs.clone(),
            connections.clone(),
            access_hooks.clone(),
        );
        let access_provisioning =
            AccessProvisioning::new(store.clone(), clock.clone(), audit.clone(), connections.clone());
        // Every committed secret write queues a (debounced) run of the folder's auto-syncs.
        let auto_sync = secret_syncs.clone();
        secrets.on_change(move |change| {
            let syncs = auto_sync.clone();
            Box::pin(async move {
                if let Err(error) = syncs.folder_changed(&change).await {
                    tracing::error!(error = %error, project = %change.project, "could not queue the auto-sync of a changed folder");
                }
            })
        });
        Services {
            ui_sessions: UiSessions::new(store.clone(), clock.clone(), audit.clone(), users.clone()),
            users,
            connections,
            instances,
            secrets,
            secret_syncs,
            secret_scanning,
            access,
            access_provisioning,
            access_hooks,
            webhooks,
            network,
            tenants: Tenants::new(store.clone(), vault.clone(), clock.clone(), audit.clone()),
            api_keys: ApiKeys::new(store.clone(), clock.clone(), audit.clone()),
            jobs,
            audit,
            access_reports: access::reports::AccessReports::new(store.clone(), clock.clone()),
            readiness: Readiness::new(store),
            clock,
            vault,
        }
    }

    /// Services whose jobs started by this process itself (a token change a request asked for) are
    /// held as `holder` says: under the process's owner name and lease, like the worker's.
    #[must_use]
    pub fn with_job_holder(mut self, holder: jobs::Holder) -> Services {
        self.jobs = self.jobs.clone().with_holder(holder);
        self.connections = self.connections.with_jobs(self.jobs.clone());
        self.secret_syncs = self
            .secret_syncs
            .with_jobs(self.jobs.clone())
            .with_connections(self.connections.clone());
        self.secret_scanning = self
            .secret_scanning
            .with_jobs(self.jobs.clone())
            .with_connections(self.connections.clone());
        self.access = self
            .access
            .with_jobs(self.jobs.clone())
            .with_connections(self.connections.clone());
        self.access_provisioning = self
            .access_provisioning
            .with_connections(self.connections.clone());
        self.access_hooks = self.access_hooks.with_connections(self.connections.clone());
        self
    }

    /// Services that know the site URL they are served at (`LABGATE_SITE_URL`), so views can
    /// show the OAuth redirect URI to register at GitLab. Without it they show none.
    pub fn with_site_url(mut self, site_url: Option<&str>) -> Services {
        self.instances = self.instances.with_site_url(site_url);
        self.connections = self.connections.with_instances(self.instances.clone());
        self.secret_syncs = self.secret_syncs.with_connections(self.connections.clone());
        self.secret_scanning = self.secret_scanning.with_connections(self.connections.clone());
        self.access = self.access.with_connections(self.connections.clone());
        self.access_provisioning = self
            .access_provisioning
            .with_connections(self.connections.clone());
        self.access_hooks = self.access_hooks.with_connections(self.connections.clone());
        self
    }

    /// Services that refresh OAuth connections ahead of expiry only when they were used within
    /// `days` (`LABGATE_PROACTIVE_REFRESH_DAYS`); others refresh on their next read.
    pub fn with_proactive_refresh_days(mut self, days: u32) -> Services {
        self.connections = self.connections.with_proactive_refresh_days(days);
        self.secret_syncs = self.secret_syncs.with_connections(self.connections.clone());
        self.secret_scanning = self.secret_scanning.with_connections(self.connections.clone());
        self.access = self.access.with_connections(self.connections.clone());
        self.access_provisioning = self
            .access_provisioning
            .with_connections(self.connections.clone());
        self.access_hooks = self.access_hooks.with_connections(self.connections.clone());
        self
    }

    /// Services that mirror repositories for secret scanning as `settings` say
    /// (`LABGATE_SCAN_CACHE_DIR`, `LABGATE_SCAN_CACHE_MAX_MB`, `LABGATE_SCAN_PARALLELISM`).
    #[must_use]
    pub fn with_scan_settings(mut self, settings: scanning::ScanSettings) -> Services {
        self.secret_scanning = self.secret_scanning.with_settings(settings);
        self
    }

    /// Services whose access syncs call GitLab as `settings` say (`LABGATE_ACCESS_SYNC_MAX_RPM`).
    #[must_use]
    pub fn with_access_sync_settings(mut self, settings: access::AccessSyncSettings) -> Services {
        self.access = self.access.with_settings(settings);
        self
    }

    /// Services whose UI sessions last `lifetime` from login (`LABGATE_UI_SESSION_HOURS`).
    #[must_use]
    pub fn with_ui_session_lifetime(mut self, lifetime: time::Duration) -> Services {
        self.ui_sessions = self.ui_sessions.with_lifetime(lifetime);
        self
    }

    /// Services whose connections go to `default_instance` when they name none, and authorise
    /// there through its OAuth application.
    pub fn with_default_instance(mut self, default_instance: instances::DefaultInstance) -> Services {
        self.instances = self.instances.with_default_instance(default_instance);
        self.connections = self.connections.with_instances(self.instances.clone());
        self.secret_syncs = self.secret_syncs.with_connections(self.connections.clone());
        self.secret_scanning = self.secret_scanning.with_connections(self.connections.clone());
        self.access = self.access.with_connections(self.connections.clone());
        self.access_provisioning = self
            .access_provisioning
            .with_connections(self.connections.clone());
        self.access_hooks = self.access_hooks.with_connections(self.connections.clone());
        self
    }

    /// Writes what reads counted in memory: folded audit entries and connections' last uses.
    ///
    /// Credential reads are counted in memory so that a read costs no database write; this
    /// flush writes the counts every [`USAGE_FLUSH_INTERVAL`] (see
    /// [`Services::flush_usage_every`]), before the audit log is listed, and when the process
    /// stops ([`Services::close`]), so a clean shutdown loses nothing.
    ///
    /// A crash (a kill, a power cut) loses what was counted since the last successful flush: at
    /// most one interval of read counts and last-use times (more only while the database refuses
    /// the writes, which are then retried). That is accepted: the counts record use, they decide
    /// nothing — the reads were answered and no access depends on them; making every read
    /// durable before answering it would put a database write back on each read, the cost this
    /// removes; and a lost last-use time only makes a connection look unused for those seconds,
    /// which at worst leaves its proactive OAuth refresh to happen on demand.
    pub async fn flush_usage(&self) -> Result<()> {
        let audit = self.audit.flush_folded().await;
        let connections = self.connections.flush_usage().await;
        audit?;
        connections?;
        Ok(())
    }

    /// Flushes usage every `interval` until `shutdown` (the final flush is [`Services::close`]'s,
    /// after in-flight requests have finished). A failed flush keeps its counts for the next.
    pub fn flush_usage_every(&self, interval: Duration, shutdown: CancellationToken) -> JoinHandle<()> {
        let services = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick is immediate; nothing has been counted yet.
            tick.tick().await;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                if let Err(error) = services.flush_usage().await {
                    tracing::warn!(error = %error, "cannot write credential usage; it is kept for the next flush");
                }
            }
        })
    }

    /// Keeps the credential cache told of other processes' changes (PostgreSQL) until `shutdown`;
    /// see [`Connections::watch_changes`].
    pub fn watch_connection_changes(&self, shutdown: CancellationToken) -> JoinHandle<()> {
        let connections = self.connections.clone();
        tokio::spawn(async move { connections.watch_changes(shutdown).await })
    }

    /// Starts what a process serving the API runs beside its requests: the connection change
    /// watcher and the periodic usage flush. They stop when `shutdown` fires.
    pub fn start_background(&self, shutdown: &CancellationToken) -> BackgroundTasks {
        BackgroundTasks {
            tasks: vec![
                (
                    "connection-changes",
                    self.watch_connection_changes(shutdown.clone()),
                ),
                (
                    "usage-flush",
                    self.flush_usage_every(USAGE_FLUSH_INTERVAL, shutdown.clone()),
                ),
            ],
        }
    }

    /// Writes what is counted in memory, then closes the database pool; in-flight queries finish
    /// first. Call it once requests and jobs have stopped, so the flush is the last.
    pub async fn close(&self) {
        if let Err(error) = self.flush_usage().await {
            tracing::error!(error = %error, "cannot write credential usage counted since the last flush; it is lost");
        }
        self.readiness.close().await;
    }
}

/// How often credential reads counted in memory are written.
pub const USAGE_FLUSH_INTERVAL: Duration = Duration::from_secs(5);

/// The tasks [`Services::start_background`] started, by name.
#[derive(Debug)]
pub struct BackgroundTasks {
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl BackgroundTasks {
    /// Waits for every task to end (after the shutdown token fired).
    pub async fn join(self) {
        for (name, task) in self.tasks {
            if let Err(error) = task.await {
                tracing::error!(task = name, error = %error, "background task failed");
            }
        }
    }
}
