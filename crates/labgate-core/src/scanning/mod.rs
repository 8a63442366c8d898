//! Secret scanning of GitLab repositories: data sources (one project, or a group with every
//! subgroup's projects) reached through a connection, the repositories each one found, scans
//! that mirror and read the repositories' full history with labgate's engine, and findings
//! deduplicated by value across scans and repositories.
//!
//! Shapes follow Infisical's `secret-scanning/data-sources/gitlab` API; see
//! `labgate_proto::secret_scanning`. Scans run as jobs (`secret-scanning.scan`): the API records
//! a queued scan, queues the job and answers at once.

pub mod findings;
pub mod git;
pub mod hooks;
pub mod incremental;
pub mod model;
mod run;
mod schedule;

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::TryStreamExt;
use labgate_gitlab::{AccessLevel, GitLabError, ResourceId, Source};
use labgate_proto::audit::{AuditAction, ResourceType};
use labgate_proto::connections::AccessTokenType;
use labgate_proto::secret_scanning::{
    CreateDataSourceRequest, DataSourceConnectionView, DataSourceList, DataSourceView,
    GitLabDataSourceConfig, ScanKind, ScanList, ScanResourceList, ScanResourceView, ScanScope, ScanStatus,
    ScanView, UpdateDataSourceRequest,
};
use labgate_store::{ScanDataSourceRecord, ScanResourceRecord, ScanRunRecord, Store, StoreError};
use secrecy::SecretString;
use serde_json::json;

pub use git::RepoCache;
pub use model::{DataSource, Resource, ScanRun};
pub use run::JobEnd;
pub use schedule::DEFAULT_SCAN_INTERVAL;

use crate::audit::{AuditEvent, AuditLog};
use crate::auth::{Access, Principal};
use crate::clock::Clock;
use crate::connections::reach::{
    RoleNeed, require_role, resource_id, role_in_project, unknown_connection, unreachable,
};
use crate::connections::{Connections, GitLabSession};
use crate::ids::{ConnectionId, JobId, ScanDataSourceId, ScanResourceId, ScanRunId, TenantId};
use crate::jobs::{JobKind, JobQueue, JobSpec};
use crate::rows::{ms, signed, signed32};
use crate::timefmt::{format_opt, format_time};
use crate::vault::{SecretSlot, Vault};
use crate::{CoreError, Result};

/// Attempts of a scan job before it fails for good (transient GitLab or git failures retry).
pub const SCAN_JOB_ATTEMPTS: u32 = 3;
/// Repositories of one full scan fetched and scanned at the same time
/// (`LABGATE_SCAN_PARALLELISM`).
pub const DEFAULT_SCAN_PARALLELISM: usize = 2;
/// The table a data source's sealed webhook secret belongs to (part of its AAD).
const SOURCE_TABLE: &str = "scan_data_sources";
const WEBHOOK_SECRET_FIELD: &str = "webhook_secret";

fn not_found() -> CoreError {
    CoreError::NotFound("data source")
}

fn duplicate_name(name: &str) -> CoreError {
    CoreError::AlreadyExists(format!("a data source named {name:?} already exists"))
}

/// A GitLab project a data source covers, as GitLab described it.
#[derive(Debug, Clone)]
struct Discovered {
    id: u64,
    path: String,
    web_url: String,
    default_branch: Option<String>,
}

/// Where repositories are mirrored and how many are scanned at once.
#[derive(Debug, Clone)]
pub struct ScanSettings {
    pub cache: RepoCache,
    pub parallelism: usize,
}

impl ScanSettings {
    /// Mirrors under `dir` up to `max_bytes`.
    pub fn new(dir: PathBuf, max_bytes: u64, parallelism: usize) -> ScanSettings {
        ScanSettings {
            cache: RepoCache::new(dir, max_bytes),
            parallelism: parallelism.max(1),
        }
    }
}

impl Default for ScanSettings {
    /// A cache in the system's temporary directory; the binary always configures one under its
    /// data directory.
    fn default() -> Self {
        ScanSettings::new(
            std::env::temp_dir().join("labgate-scan-cache"),
            git::DEFAULT_CACHE_MAX_BYTES,
            DEFAULT_SCAN_PARALLELISM,
        )
    }
}

#[derive(Clone)]
pub struct SecretScanning {
    store: Store,
    vault: Arc<Vault>,
    clock: Arc<dyn Clock>,
    audit: AuditLog,
    jobs: JobQueue,
    connections: Connections,
    settings: Arc<ScanSettings>,
}

impl SecretScanning {
    pub(crate) fn new(
        store: Store,
        vault: Arc<Vault>,
        clock: Arc<dyn Clock>,
        audit: AuditLog,
        jobs: JobQueue,
        connections: Connections,
    ) -> SecretScanning {
        SecretScanning {
            store,
            vault,
            clock,
            audit,
            jobs,
            connections,
            settings: Arc::new(ScanSettings::default()),
        }
    }

    pub(crate) fn with_jobs(mut self, jobs: JobQueue) -> SecretScanning {
        self.jobs = jobs;
        self
    }

    /// The same service calling GitLab through `connections`.
    pub fn with_connections(mut self, connections: Connections) -> SecretScanning {
        self.connections = connections;
        self
    }

    /// The same service mirroring repositories as `settings` say.
    pub fn with_settings(mut self, settings: ScanSettings) -> SecretScanning {
        self.settings = Arc::new(settings);
        self
    }

    pub fn settings(&self) -> &ScanSettings {
        &self.settings
    }

    async fn fetch(&self, tenant_id: &TenantId, id: &ScanDataSourceId) -> Result<DataSource> {
        match self.store.scan_data_source(tenant_id.as_str(), id.as_str()).await {
            Ok(row) => Ok(DataSource::try_from(row)?),
            Err(StoreError::NotFound) => Err(not_found()),
            Err(other) => Err(other.into()),
        }
    }

    async fn load(&self, principal: &Principal, id: &str) -> Result<DataSource> {
        let id = ScanDataSourceId::parse(id).ok_or_else(not_found)?;
        self.fetch(&principal.tenant_id, &id).await
    }

    async fn resources_of(&self, source: &DataSource) -> Result<Vec<Resource>> {
        let rows = self.store.list_scan_resources(source.id.as_str()).await?;
        Ok(rows
            .into_iter()
            .map(Resource::try_from)
            .collect::<std::result::Result<_, _>>()?)
    }

    async fn view(&self, principal: &Principal, source: &DataSource) -> Result<DataSourceView> {
        let connection_name = self
            .connections
            .get(principal, source.connection_id.as_str())
            .await
            .map(|c| c.name)
            .unwrap_or_default();
        let resources = self.store.list_scan_resources(source.id.as_str()).await?.len();
        Ok(view(source, connection_name, resources as u64))
    }

    // --- create, read, update, delete -------------------------------------------------------

    pub async fn create(
        &self,
        principal: &Principal,
        request: CreateDataSourceRequest,
    ) -> Result<DataSourceView> {
        principal.require(Access::Write)?;
        let name = valid_name(&request.name)?;
        let description = valid_description(request.description)?;
        let connection_id = ConnectionId::parse(&request.connection_id).ok_or_else(unknown_connection)?;
        let auto_scan = request.is_auto_scan_enabled.unwrap_or(true);
        if auto_scan {
            self.hook_url()?;
        }
        let mut config = request.config;
        let projects = self
            .resolve(&principal.tenant_id, &connection_id, &mut config)
            .await?;
        let now = ms(self.clock.now());
        let id = ScanDataSourceId::generate();
        let record = ScanDataSourceRecord {
            id: id.to_string(),
            tenant_id: principal.tenant_id.to_string(),
            name: name.clone(),
            description,
            connection_id: connection_id.to_string(),
            config: to_json(&config)?,
            is_auto_scan_enabled: i32::from(auto_scan),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let row = match self.store.insert_scan_data_source(&record).await {
            Ok(row) => row,
            Err(StoreError::Conflict { .. }) => return Err(duplicate_name(&name)),
            Err(other) => return Err(other.into()),
        };
        let source = DataSource::try_from(row)?;
        // The secret GitLab's push hooks will present; sealed, never shown.
        let secret = labgate_crypto::random_token(48);
        self.vault
            .put_secret(
                &SecretSlot {
                    tenant_id: source.tenant_id.as_str(),
                    owner_table: SOURCE_TABLE,
                    owner_id: source.id.as_str(),
                    field: WEBHOOK_SECRET_FIELD,
                },
                &secret,
                now,
            )
            .await?;
        let resources = self.record_resources(&source, &projects).await?;
        if source.auto_scan
            && let Err(error) = self.install_hooks(&source, &resources).await
        {
            // Auto-scan without its hooks would not scan pushes: the data source is not kept.
            self.store
                .delete_scan_data_source(source.tenant_id.as_str(), source.id.as_str())
                .await?;
            self.vault
                .delete_secrets(source.tenant_id.as_str(), SOURCE_TABLE, source.id.as_str())
                .await?;
            return Err(error);
        }
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::ScanDataSourceCreate,
                    resource_kind: ResourceType::ScanDataSource,
                    resource_id: Some(source.id.as_str()),
                    details: Some(json!({
                        "name": source.name,
                        "connectionId": source.connection_id,
                        "scope": config.scope,
                        "resources": projects.len(),
                    })),
                },
            )
            .await?;
        if source.auto_scan {
            self.queue_scan(&source, None).await?;
        }
        self.view(principal, &source).await
    }

    pub async fn get(&self, principal: &Principal, id: &str) -> Result<DataSourceView> {
        principal.require(Access::Read)?;
        let source = self.load(principal, id).await?;
        self.view(principal, &source).await
    }

    pub async fn list(&self, principal: &Principal) -> Result<DataSourceList> {
        principal.require(Access::Read)?;
        let rows = self
            .store
            .list_scan_data_sources(principal.tenant_id.as_str())
            .await?;
        let mut data_sources = Vec::with_capacity(rows.len());
        for row in rows {
            let source = DataSource::try_from(row)?;
            data_sources.push(self.view(principal, &source).await?);
        }
        Ok(DataSourceList { data_sources })
    }

    pub async fn update(
        &self,
        principal: &Principal,
        id: &str,
        request: UpdateDataSourceRequest,
    ) -> Result<DataSourceView> {
        principal.require(Access::Write)?;
        let source = self.load(principal, id).await?;
        let mut record = record_of(&source)?;
        if let Some(name) = &request.name {
            record.name = valid_name(name)?;
        }
        if request.description.is_some() {
            record.description = valid_description(request.description.clone())?;
        }
        if let Some(auto) = request.is_auto_scan_enabled {
            record.is_auto_scan_enabled = i32::from(auto);
            if auto {
                self.hook_url()?;
            }
        }
        if let Some(connection) = &request.connection_id {
            record.connection_id = ConnectionId::parse(connection)
                .ok_or_else(unknown_connection)?
                .to_string();
        }
        // What the data source covers is checked again whenever it or the connection changes.
        let mut rediscovered = None;
        if request.config.is_some() || request.connection_id.is_some() {
            let mut config = request.config.clone().unwrap_or_else(|| source.config.clone());
            let connection_id = ConnectionId::from_stored(record.connection_id.clone());
            rediscovered = Some(
                self.resolve(&principal.tenant_id, &connection_id, &mut config)
                    .await?,
            );
            record.config = to_json(&config)?;
        }
        record.version = signed32(source.version + 1);
        record.updated_at = ms(self.clock.now());
        let saved = match self
            .store
            .update_scan_data_source(&record, signed32(source.version))
            .await
        {
            Ok(Some(row)) => DataSource::try_from(row)?,
            Ok(None) => {
                return Err(CoreError::Conflict(
                    "the data source changed meanwhile; read it again and retry".to_owned(),
                ));
            }
            Err(StoreError::Conflict { .. }) => return Err(duplicate_name(&record.name)),
            Err(other) => return Err(other.into()),
        };
        let resources = match &rediscovered {
            Some(projects) => Some(self.record_resources(&saved, projects).await?),
            None => None,
        };
        // Hooks follow auto-scan, and are installed anew when what the data source covers moved.
        let moved = resources.is_some();
        if source.auto_scan && (!saved.auto_scan || moved) {
            self.remove_hooks(&source).await?;
        }
        if saved.auto_scan && (!source.auto_scan || moved) {
            let resources = match resources {
                Some(resources) => resources,
                None => self.resources_of(&saved).await?,
            };
            if let Err(error) = self.install_hooks(&saved, &resources).await {
                let mut back = record_of(&saved)?;
                back.is_auto_scan_enabled = 0;
                back.version = signed32(saved.version + 1);
                back.updated_at = ms(self.clock.now());
                self.store
                    .update_scan_data_source(&back, signed32(saved.version))
                    .await?;
                return Err(error);
            }
        }
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::ScanDataSourceUpdate,
                    resource_kind: ResourceType::ScanDataSource,
                    resource_id: Some(saved.id.as_str()),
                    details: Some(json!({"version": saved.version})),
                },
            )
            .await?;
        self.view(principal, &saved).await
    }

    /// Deletes the data source with its repositories, scans and the locations found in them
    /// (findings seen nowhere else go too), and its sealed webhook secret.
    pub async fn delete(&self, principal: &Principal, id: &str) -> Result<DataSourceView> {
        principal.require(Access::Write)?;
        let source = self.load(principal, id).await?;
        let shown = self.view(principal, &source).await?;
        // Hooks GitLab fails to remove now stay recorded and a retrying job removes them.
        self.remove_hooks(&source).await?;
        if !self
            .store
            .delete_scan_data_source(principal.tenant_id.as_str(), source.id.as_str())
            .await?
        {
            return Err(not_found());
        }
        self.vault
            .delete_secrets(source.tenant_id.as_str(), SOURCE_TABLE, source.id.as_str())
            .await?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::ScanDataSourceDelete,
                    resource_kind: ResourceType::ScanDataSource,
                    resource_id: Some(source.id.as_str()),
                    details: Some(json!({"name": source.name})),
                },
            )
            .await?;
        Ok(shown)
    }

    pub async fn resources(&self, principal: &Principal, id: &str) -> Result<ScanResourceList> {
        principal.require(Access::Read)?;
        let source = self.load(principal, id).await?;
        let resources = self.resources_of(&source).await?;
        Ok(ScanResourceList {
            resources: resources.iter().map(resource_view).collect(),
        })
    }

    pub async fn scans(&self, principal: &Principal, id: &str) -> Result<ScanList> {
        principal.require(Access::Read)?;
        let source = self.load(principal, id).await?;
        let rows = self.store.list_scan_runs(source.id.as_str()).await?;
        let mut scans = Vec::with_capacity(rows.len());
        for row in rows {
            scans.push(scan_view(&ScanRun::try_from(row)?));
        }
        Ok(ScanList { scans })
    }

    // --- scans ------------------------------------------------------------------------------

    /// Queues a scan of every repository of the data source.
    pub async fn trigger_full_scan(&self, principal: &Principal, id: &str) -> Result<ScanView> {
        principal.require(Access::Write)?;
        let source = self.load(principal, id).await?;
        let run = self.queue_scan(&source, None).await?;
        self.audit_scan(principal, &source, &run).await?;
        Ok(scan_view(&run))
    }

    /// Queues a scan of one repository of the data source.
    pub async fn trigger_resource_scan(
        &self,
        principal: &Principal,
        id: &str,
        resource_id: &str,
    ) -> Result<ScanView> {
        principal.require(Access::Write)?;
        let source = self.load(principal, id).await?;
        let resource_id = ScanResourceId::parse(resource_id).ok_or(CoreError::NotFound("resource"))?;
        let resource = match self
            .store
            .scan_resource(source.id.as_str(), resource_id.as_str())
            .await
        {
            Ok(row) => Resource::try_from(row)?,
            Err(StoreError::NotFound) => return Err(CoreError::NotFound("resource")),
            Err(other) => return Err(other.into()),
        };
        let run = self.queue_scan(&source, Some(&resource)).await?;
        self.audit_scan(principal, &source, &run).await?;
        Ok(scan_view(&run))
    }

    async fn audit_scan(&self, principal: &Principal, source: &DataSource, run: &ScanRun) -> Result<()> {
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::ScanDataSourceScan,
                    resource_kind: ResourceType::ScanDataSource,
                    resource_id: Some(source.id.as_str()),
                    details: Some(json!({
                        "scanId": run.id,
                        "resourceId": run.resource_id,
                        "jobId": run.job_id,
                    })),
                },
            )
            .await
    }

    /// Queues a scan job and records the queued scan. While a scan of the same target is queued
    /// or running, that scan is answered instead of a second one.
    async fn queue_scan(&self, source: &DataSource, resource: Option<&Resource>) -> Result<ScanRun> {
        let dedupe = match resource {
            Some(resource) => format!("secret-scan:{}:{}", source.id, resource.id),
            None => format!("secret-scan:{}", source.id),
        };
        let now = self.clock.now();
        let run_id = ScanRunId::generate();
        let spec = JobSpec {
            tenant_id: Some(source.tenant_id.clone()),
            kind: JobKind::SecretScan,
            payload: json!({"scanId": run_id, "dataSourceId": source.id}),
            run_at: None,
            max_attempts: SCAN_JOB_ATTEMPTS,
            dedupe_key: Some(dedupe),
        };
        let (job, created) = self.jobs.enqueue(&spec).await?;
        if !created {
            return self.run_of_job(source, &job).await?.ok_or_else(|| {
                CoreError::Conflict("a scan of this target is already being started; try again".to_owned())
            });
        }
        let record = ScanRunRecord {
            id: run_id.to_string(),
            data_source_id: source.id.to_string(),
            resource_id: resource.map(|r| r.id.to_string()),
            kind: if resource.is_some() {
                ScanKind::Resource
            } else {
                ScanKind::Full
            }
            .as_str()
            .to_owned(),
            status: ScanStatus::Queued.as_str().to_owned(),
            progress_done: 0,
            progress_total: None,
            progress_phase: None,
            findings_new: 0,
            findings_total: 0,
            error: None,
            job_id: Some(job.to_string()),
            created_at: ms(now),
            started_at: None,
            finished_at: None,
        };
        Ok(ScanRun::try_from(self.store.insert_scan_run(&record).await?)?)
    }

    async fn run_of_job(&self, source: &DataSource, job: &JobId) -> Result<Option<ScanRun>> {
        let rows = self.store.list_scan_runs(source.id.as_str()).await?;
        match rows
            .into_iter()
            .find(|row| row.job_id.as_deref() == Some(job.as_str()))
        {
            Some(row) => Ok(Some(ScanRun::try_from(row)?)),
            None => Ok(None),
        }
    }

    // --- discovery --------------------------------------------------------------------------

    /// Stores the repositories found; those no longer found are forgotten.
    async fn record_resources(&self, source: &DataSource, projects: &[Discovered]) -> Result<Vec<Resource>> {
        let now = ms(self.clock.now());
        let mut kept = Vec::with_capacity(projects.len());
        for project in projects {
            let row = self
                .store
                .upsert_scan_resource(&ScanResourceRecord {
                    id: ScanResourceId::generate().to_string(),
                    data_source_id: source.id.to_string(),
                    gitlab_project_id: signed(project.id),
                    path: project.path.clone(),
                    web_url: project.web_url.clone(),
                    default_branch: project.default_branch.clone(),
                    last_scanned_at: None,
                    created_at: now,
                    updated_at: now,
                })
                .await?;
            kept.push(Resource::try_from(row)?);
        }
        let ids: Vec<i64> = projects.iter().map(|p| signed(p.id)).collect();
        self.store
            .delete_scan_resources_except(source.id.as_str(), &ids)
            .await?;
        Ok(kept)
    }

    /// Checks that the connection can read the repositories the configuration names (Developer
    /// or higher, a token scope that allows git reads), fills in canonical numeric ids, and
    /// answers the projects covered: for a group, every project of every subgroup.
    async fn resolve(
        &self,
        tenant_id: &TenantId,
        connection_id: &ConnectionId,
        config: &mut GitLabDataSourceConfig,
    ) -> Result<Vec<Discovered>> {
        validate_config(config)?;
        let session = self.connections.named_session(tenant_id, connection_id).await?;
        if !session
            .connection
            .scopes
            .contains_any(&["read_repository", "write_repository", "api"])
        {
            return Err(CoreError::validation(
                "connectionId",
                "the connection's token cannot read repositories: it needs the read_repository (or api) scope",
            ));
        }
        discover(&session, config).await
    }

    /// The projects a data source covers now, as GitLab lists them.
    async fn discover_now(&self, source: &DataSource) -> Result<(GitLabSession, Vec<Discovered>)> {
        let session = self
            .connections
            .named_session(&source.tenant_id, &source.connection_id)
            .await?;
        let mut config = source.config.clone();
        let projects = discover(&session, &mut config).await?;
        Ok((session, projects))
    }

    /// The sealed webhook secret of a data source, for the push receiver.
    pub async fn webhook_secret(&self, source: &DataSource) -> Result<Option<SecretString>> {
        self.vault
            .get_secret(&SecretSlot {
                tenant_id: source.tenant_id.as_str(),
                owner_table: SOURCE_TABLE,
                owner_id: source.id.as_str(),
                field: WEBHOOK_SECRET_FIELD,
            })
            .await
    }
}

async fn discover(session: &GitLabSession, config: &mut GitLabDataSourceConfig) -> Result<Vec<Discovered>> {
    let GitLabSession {
        connection,
        client,
        credential,
    } = session;
    match config.scope {
        ScanScope::Project => {
            let given = config.project_id.clone().unwrap_or_default();
            let project = client
                .project(credential, &resource_id(&given))
                .await
                .map_err(|error| unreachable("config.projectId", "project", &given, &error))?;
            let source = Source::Project(ResourceId::Id(project.id));
            let need = read_repositories("config.projectId");
            require_role(
                session,
                &source,
                &project.path_with_namespace,
                role_in_project(&project),
                &need,
            )
            .await?;
            config.project_id = Some(project.id.to_string());
            Ok(vec![Discovered {
                id: project.id,
                path: project.path_with_namespace,
                web_url: project.web_url,
                default_branch: project.default_branch,
            }])
        }
        ScanScope::Group => {
            if connection.token_type == Some(AccessTokenType::Project) {
                return Err(CoreError::validation(
                    "config.scope",
                    "a project access token cannot list a group's projects; use a personal, group or OAuth connection",
                ));
            }
            let given = config.group_id.clone().unwrap_or_default();
            let group = client
                .group(credential, &resource_id(&given))
                .await
                .map_err(|error| unreachable("config.groupId", "group", &given, &error))?;
            let source = Source::Group(ResourceId::Id(group.id));
            require_role(
                session,
                &source,
                &group.full_path,
                None,
                &read_repositories("config.groupId"),
            )
            .await?;
            config.group_id = Some(group.id.to_string());
            // Every subgroup's projects too: group hooks fire for them, so they are scanned.
            let projects: Vec<labgate_gitlab::Project> = client
                .group_projects(credential, &ResourceId::Id(group.id), true)
                .try_collect()
                .await
                .map_err(|error| listing_failed(&group.full_path, &error))?;
            let include = config
                .include_projects
                .clone()
                .unwrap_or_else(|| vec!["*".to_owned()]);
            let everything = include.iter().any(|p| p == "*");
            if !everything {
                let missing: Vec<&String> = include
                    .iter()
                    .filter(|wanted| !projects.iter().any(|p| &p.path_with_namespace == *wanted))
                    .collect();
                if !missing.is_empty() {
                    return Err(CoreError::validation(
                        "config.includeProjects",
                        format!(
                            "{} is not a project of {} or its subgroups that the connection can see",
                            missing
                                .iter()
                                .map(|m| format!("{m:?}"))
                                .collect::<Vec<_>>()
                                .join(", "),
                            group.full_path
                        ),
                    ));
                }
            }
            config.include_projects = Some(include.clone());
            let mut found: Vec<Discovered> = projects
                .into_iter()
                .filter(|p| everything || include.contains(&p.path_with_namespace))
                .map(|p| Discovered {
                    id: p.id,
                    path: p.path_with_namespace,
                    web_url: p.web_url,
                    default_branch: p.default_branch,
                })
                .collect();
            found.sort_by_key(|p| p.id);
            found.dedup_by_key(|p| p.id);
            Ok(found)
        }
    }
}

/// The role a data source asks of the connection's user in what it scans.
fn read_repositories(field: &'static str) -> RoleNeed {
    RoleNeed {
        level: AccessLevel::DEVELOPER,
        purpose: "scanning repositories",
        field,
    }
}

fn listing_failed(path: &str, error: &GitLabError) -> CoreError {
    if error.is_transient() {
        CoreError::Unavailable(format!("GitLab could not list the projects of {path}: {error}"))
    } else {
        CoreError::validation(
            "config.groupId",
            format!("the projects of {path} cannot be listed: {error}"),
        )
    }
}

fn validate_config(config: &GitLabDataSourceConfig) -> Result<()> {
    let blank = |value: &Option<String>| value.as_deref().is_none_or(|s| s.trim().is_empty());
    match config.scope {
        ScanScope::Project => {
            if blank(&config.project_id) {
                return Err(CoreError::validation(
                    "config.projectId",
                    "scope project needs a projectId",
                ));
            }
            if config.include_projects.is_some() {
                return Err(CoreError::validation(
                    "config.includeProjects",
                    "includeProjects applies to group scope only",
                ));
            }
        }
        ScanScope::Group => {
            if blank(&config.group_id) {
                return Err(CoreError::validation(
                    "config.groupId",
                    "scope group needs a groupId",
                ));
            }
            if let Some(include) = &config.include_projects {
                if include.is_empty() {
                    return Err(CoreError::validation(
                        "config.includeProjects",
                        "list [\"*\"] for every project, or the project paths to scan",
                    ));
                }
                if include
                    .iter()
                    .any(|p| p.trim().is_empty() || p.len() > 1024 || p.chars().any(char::is_control))
                {
                    return Err(CoreError::validation(
                        "config.includeProjects",
                        "each entry is \"*\" or a project path such as group/subgroup/project",
                    ));
                }
            }
        }
    }
    Ok(())
}

fn valid_name(name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(CoreError::validation(
            "name",
            "a name is 1 to 64 lowercase letters, digits and dashes",
        ))
    }
}

fn valid_description(description: Option<String>) -> Result<Option<String>> {
    match description {
        Some(d) if d.chars().count() > 256 => Err(CoreError::validation(
            "description",
            "a description is at most 256 characters",
        )),
        other => Ok(other),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(CoreError::internal)
}

fn record_of(source: &DataSource) -> Result<ScanDataSourceRecord> {
    Ok(ScanDataSourceRecord {
        id: source.id.to_string(),
        tenant_id: source.tenant_id.to_string(),
        name: source.name.clone(),
        description: source.description.clone(),
        connection_id: source.connection_id.to_string(),
        config: to_json(&source.config)?,
        is_auto_scan_enabled: i32::from(source.auto_scan),
        version: signed32(source.version),
        created_at: ms(source.created_at),
        updated_at: ms(source.updated_at),
    })
}

pub fn view(source: &DataSource, connection_name: String, resource_count: u64) -> DataSourceView {
    DataSourceView {
        id: source.id.to_string(),
        name: source.name.clone(),
        description: source.description.clone(),
        kind: "gitlab".to_owned(),
        connection_id: source.connection_id.to_string(),
        connection: DataSourceConnectionView {
            app: "gitlab".to_owned(),
            name: connection_name,
            id: source.connection_id.to_string(),
        },
        config: source.config.clone(),
        is_auto_scan_enabled: source.auto_scan,
        resource_count,
        version: i64::from(source.version),
        created_at: format_time(source.created_at),
        updated_at: format_time(source.updated_at),
    }
}

pub fn resource_view(resource: &Resource) -> ScanResourceView {
    ScanResourceView {
        id: resource.id.to_string(),
        data_source_id: resource.data_source_id.to_string(),
        kind: "repository".to_owned(),
        name: resource.path.clone(),
        external_id: resource.gitlab_project_id.to_string(),
        web_url: resource.web_url.clone(),
        default_branch: resource.default_branch.clone(),
        last_scanned_at: format_opt(resource.last_scanned_at),
        created_at: format_time(resource.created_at),
        updated_at: format_time(resource.updated_at),
    }
}

pub fn scan_view(run: &ScanRun) -> ScanView {
    ScanView {
        id: run.id.to_string(),
        data_source_id: run.data_source_id.to_string(),
        resource_id: run.resource_id.as_ref().map(ToString::to_string),
        kind: run.kind,
        status: run.status,
        status_message: run.error.clone(),
        progress_done: run.progress.done,
        progress_total: run.progress.total,
        progress_phase: run.progress.phase.clone(),
        new_findings: run.findings_new,
        total_findings: run.findings_total,
        job_id: run.job_id.as_ref().map(ToString::to_string),
        created_at: format_time(run.created_at),
        started_at: format_opt(run.started_at),
        finished_at: format_opt(run.finished_at),
    }
}
