//! Secret syncs: a folder of labgate's secrets (project, environment, path) written into one
//! GitLab project's or group's CI/CD variables, with a plan before any write, a record of which
//! variables each sync wrote (so that only those are ever changed or deleted), imports from
//! GitLab, and auto-sync when a secret of the folder changes.
//!
//! Shapes follow Infisical's `secret-syncs/gitlab` API; see `labgate_proto::secret_syncs`.
//! Work that calls GitLab runs as jobs (`secret-sync.run`, `.import`, `.remove`): the API marks
//! the sync pending, queues the job and answers at once.

pub mod model;
pub mod planner;
mod run;

use std::sync::Arc;

use labgate_gitlab::{AccessLevel, ResourceId, Source};
use labgate_proto::audit::{AuditAction, ResourceType};
use labgate_proto::connections::AccessTokenType;
use labgate_proto::secret_syncs::{
    CreateSecretSyncRequest, GitLabDestinationConfig, ImportBehavior, PlanEntryView, SecretSyncList,
    SecretSyncPlan, SecretSyncResults, SecretSyncView, SyncConnectionView, SyncEnvironmentView,
    SyncFolderView, SyncOptions, SyncResultView, SyncScope, SyncStatus, UpdateSecretSyncRequest,
};
use labgate_store::{SecretSyncRecord, Store, StoreError, SyncActivity, SyncStatusUpdate};
use serde_json::json;
use time::OffsetDateTime;

pub use model::{KeySchema, SecretSync};
pub use run::JobEnd;

use crate::audit::{AuditEvent, AuditLog};
use crate::auth::{Access, Principal};
use crate::clock::Clock;
use crate::connections::reach::{
    RoleNeed, require_role, resource_id, role_in_project, unknown_connection, unreachable,
};
use crate::connections::{Connections, GitLabSession};
use crate::ids::{ConnectionId, JobId, SecretProjectId, SecretSyncId, TenantId};
use crate::jobs::{JobKind, JobQueue, JobSpec};
use crate::rows::{ms, opt_ms, signed32};
use crate::secrets::{EnvironmentSlug, FolderChange, SecretPath, SecretProject, Secrets};
use crate::timefmt::{format_opt, format_time};
use crate::vault::Vault;
use crate::{CoreError, Result};

/// Changes within this long of the first are synced together.
pub const AUTO_SYNC_DEBOUNCE: time::Duration = time::Duration::seconds(2);
/// Attempts of a sync job before it fails for good (transient GitLab failures are retried).
pub const SYNC_JOB_ATTEMPTS: u32 = 5;

fn not_found() -> CoreError {
    CoreError::NotFound("secret sync")
}

fn duplicate_name(name: &str) -> CoreError {
    CoreError::AlreadyExists(format!(
        "a secret sync named {name:?} already exists in this project"
    ))
}

/// The dedupe key of a sync's job of `kind`: one of each per sync at a time.
pub fn dedupe_key(kind: JobKind, id: &SecretSyncId) -> String {
    match kind {
        JobKind::SecretSyncImport => format!("secret-sync-import:{id}"),
        JobKind::SecretSyncRemove => format!("secret-sync-remove:{id}"),
        _ => format!("secret-sync:{id}"),
    }
}

/// labgate acting for a tenant in background work.
fn system_principal(tenant_id: &TenantId) -> Principal {
    Principal::system(tenant_id.clone())
}

#[derive(Clone)]
pub struct SecretSyncs {
    store: Store,
    vault: Arc<Vault>,
    clock: Arc<dyn Clock>,
    audit: AuditLog,
    jobs: JobQueue,
    connections: Connections,
    secrets: Secrets,
}

impl SecretSyncs {
    pub(crate) fn new(
        store: Store,
        vault: Arc<Vault>,
        clock: Arc<dyn Clock>,
        audit: AuditLog,
        jobs: JobQueue,
        connections: Connections,
        secrets: Secrets,
    ) -> SecretSyncs {
        SecretSyncs {
            store,
            vault,
            clock,
            audit,
            jobs,
            connections,
            secrets,
        }
    }

    /// The same service queuing through `jobs` (see [`crate::Services::with_job_holder`]).
    pub(crate) fn with_jobs(mut self, jobs: JobQueue) -> SecretSyncs {
        self.jobs = jobs;
        self
    }

    /// The same service calling GitLab through `connections`.
    pub fn with_connections(mut self, connections: Connections) -> SecretSyncs {
        self.connections = connections;
        self
    }

    async fn fetch(&self, tenant_id: &TenantId, id: &SecretSyncId) -> Result<SecretSync> {
        match self.store.secret_sync(tenant_id.as_str(), id.as_str()).await {
            Ok(row) => Ok(SecretSync::try_from(row)?),
            Err(StoreError::NotFound) => Err(not_found()),
            Err(other) => Err(other.into()),
        }
    }

    async fn load(&self, principal: &Principal, id: &str) -> Result<SecretSync> {
        let id = SecretSyncId::parse(id).ok_or_else(not_found)?;
        self.fetch(&principal.tenant_id, &id).await
    }

    fn parse_project(id: &str) -> Result<SecretProjectId> {
        SecretProjectId::parse(id).ok_or(CoreError::NotFound("secret project"))
    }

    async fn view(&self, principal: &Principal, sync: &SecretSync) -> Result<SecretSyncView> {
        let project = self.secrets.project(principal, &sync.project_id).await?;
        let connection_name = self
            .connections
            .get(principal, sync.connection_id.as_str())
            .await
            .map(|c| c.name)
            .unwrap_or_default();
        Ok(view(sync, &project, connection_name))
    }

    // --- create, read, update, delete -------------------------------------------------------

    pub async fn create(
        &self,
        principal: &Principal,
        request: CreateSecretSyncRequest,
    ) -> Result<SecretSyncView> {
        principal.require(Access::Write)?;
        let name = valid_name(&request.name)?;
        let description = valid_description(request.description)?;
        let project_id = Self::parse_project(&request.project_id)?;
        let project = self.secrets.project(principal, &project_id).await?;
        let environment = environment_of(&project, &request.environment)?;
        let secret_path = SecretPath::parse(&request.secret_path)
            .map_err(|error| CoreError::validation("secretPath", error.to_string()))?;
        let options = valid_options(request.sync_options)?;
        let connection_id = ConnectionId::parse(&request.connection_id).ok_or_else(unknown_connection)?;
        let mut config = request.destination_config;
        let destination_key = self
            .resolve_destination(&principal.tenant_id, &connection_id, &mut config)
            .await?;
        let now = self.clock.now();
        let id = SecretSyncId::generate();
        let record = SecretSyncRecord {
            id: id.to_string(),
            tenant_id: principal.tenant_id.to_string(),
            project_id: project_id.to_string(),
            name: name.clone(),
            description,
            connection_id: connection_id.to_string(),
            environment: environment.as_str().to_owned(),
            secret_path: secret_path.as_str().to_owned(),
            is_auto_sync_enabled: i32::from(request.is_auto_sync_enabled.unwrap_or(true)),
            destination_config: to_json(&config)?,
            sync_options: to_json(&options)?,
            destination_key,
            sync_status: None,
            last_sync_job_id: None,
            last_sync_message: None,
            last_synced_at: None,
            import_status: None,
            last_import_job_id: None,
            last_import_message: None,
            last_imported_at: None,
            remove_status: None,
            last_remove_job_id: None,
            last_remove_message: None,
            last_removed_at: None,
            version: 1,
            created_at: ms(now),
            updated_at: ms(now),
        };
        let row = match self.store.insert_secret_sync(&record).await {
            Ok(row) => row,
            Err(StoreError::Conflict { .. }) => return Err(duplicate_name(&name)),
            Err(other) => return Err(other.into()),
        };
        let sync = SecretSync::try_from(row)?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::SecretSyncCreate,
                    resource_kind: ResourceType::SecretSync,
                    resource_id: Some(sync.id.as_str()),
                    details: Some(json!({
                        "name": sync.name,
                        "projectId": sync.project_id,
                        "environment": sync.environment.as_str(),
                        "secretPath": sync.secret_path.as_str(),
                        "connectionId": sync.connection_id,
                        "destinationKey": sync.destination_key,
                    })),
                },
            )
            .await?;
        if sync.auto_sync {
            self.queue_run(&sync, None).await?;
        }
        let sync = self.fetch(&sync.tenant_id, &sync.id).await?;
        Ok(view(
            &sync,
            &project,
            self.connection_name(principal, &sync).await,
        ))
    }

    async fn connection_name(&self, principal: &Principal, sync: &SecretSync) -> String {
        self.connections
            .get(principal, sync.connection_id.as_str())
            .await
            .map(|c| c.name)
            .unwrap_or_default()
    }

    pub async fn get(&self, principal: &Principal, id: &str) -> Result<SecretSyncView> {
        principal.require(Access::Read)?;
        let sync = self.load(principal, id).await?;
        self.view(principal, &sync).await
    }

    pub async fn by_name(
        &self,
        principal: &Principal,
        project_id: &str,
        name: &str,
    ) -> Result<SecretSyncView> {
        principal.require(Access::Read)?;
        let project_id = Self::parse_project(project_id)?;
        let row = match self
            .store
            .secret_sync_by_name(principal.tenant_id.as_str(), project_id.as_str(), name)
            .await
        {
            Ok(row) => row,
            Err(StoreError::NotFound) => return Err(not_found()),
            Err(other) => return Err(other.into()),
        };
        let sync = SecretSync::try_from(row)?;
        self.view(principal, &sync).await
    }

    pub async fn list(&self, principal: &Principal, project_id: &str) -> Result<SecretSyncList> {
        principal.require(Access::Read)?;
        let project_id = Self::parse_project(project_id)?;
        let project = self.secrets.project(principal, &project_id).await?;
        let rows = self
            .store
            .list_secret_syncs(principal.tenant_id.as_str(), project_id.as_str())
            .await?;
        let mut secret_syncs = Vec::with_capacity(rows.len());
        for row in rows {
            let sync = SecretSync::try_from(row)?;
            let name = self.connection_name(principal, &sync).await;
            secret_syncs.push(view(&sync, &project, name));
        }
        Ok(SecretSyncList { secret_syncs })
    }

    pub async fn update(
        &self,
        principal: &Principal,
        id: &str,
        request: UpdateSecretSyncRequest,
    ) -> Result<SecretSyncView> {
        principal.require(Access::Write)?;
        let sync = self.load(principal, id).await?;
        let project = self.secrets.project(principal, &sync.project_id).await?;
        let mut record = record_of(&sync)?;
        if let Some(name) = &request.name {
            record.name = valid_name(name)?;
        }
        if request.description.is_some() {
            record.description = valid_description(request.description.clone())?;
        }
        if let Some(environment) = &request.environment {
            record.environment = environment_of(&project, environment)?.as_str().to_owned();
        }
        if let Some(path) = &request.secret_path {
            record.secret_path = SecretPath::parse(path)
                .map_err(|error| CoreError::validation("secretPath", error.to_string()))?
                .as_str()
                .to_owned();
        }
        if let Some(auto) = request.is_auto_sync_enabled {
            record.is_auto_sync_enabled = i32::from(auto);
        }
        if let Some(options) = request.sync_options.clone() {
            record.sync_options = to_json(&valid_options(options)?)?;
        }
        let connection_changed = request.connection_id.is_some();
        if let Some(connection) = &request.connection_id {
            record.connection_id = ConnectionId::parse(connection)
                .ok_or_else(unknown_connection)?
                .to_string();
        }
        // The destination is checked again whenever it or the connection reaching it changes.
        if request.destination_config.is_some() || connection_changed {
            let mut config = request
                .destination_config
                .clone()
                .unwrap_or_else(|| sync.destination_config.clone());
            let connection_id = ConnectionId::from_stored(record.connection_id.clone());
            record.destination_key = self
                .resolve_destination(&principal.tenant_id, &connection_id, &mut config)
                .await?;
            record.destination_config = to_json(&config)?;
        }
        record.version = signed32(sync.version + 1);
        record.updated_at = ms(self.clock.now());
        let saved = match self
            .store
            .update_secret_sync(&record, signed32(sync.version))
            .await
        {
            Ok(Some(row)) => SecretSync::try_from(row)?,
            Ok(None) => {
                return Err(CoreError::Conflict(
                    "the secret sync changed meanwhile; read it again and retry".to_owned(),
                ));
            }
            Err(StoreError::Conflict { .. }) => return Err(duplicate_name(&record.name)),
            Err(other) => return Err(other.into()),
        };
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::SecretSyncUpdate,
                    resource_kind: ResourceType::SecretSync,
                    resource_id: Some(saved.id.as_str()),
                    details: Some(json!({"version": saved.version, "destinationKey": saved.destination_key})),
                },
            )
            .await?;
        if saved.auto_sync {
            self.queue_run(&saved, None).await?;
        }
        let saved = self.fetch(&saved.tenant_id, &saved.id).await?;
        Ok(view(
            &saved,
            &project,
            self.connection_name(principal, &saved).await,
        ))
    }

    /// Deletes the sync; with `remove_secrets`, first deletes at GitLab every variable it wrote
    /// (the sync stays when that fails, so nothing it wrote is forgotten).
    pub async fn delete(
        &self,
        principal: &Principal,
        id: &str,
        remove_secrets: bool,
    ) -> Result<SecretSyncView> {
        principal.require(Access::Write)?;
        let sync = self.load(principal, id).await?;
        let shown = self.view(principal, &sync).await?;
        if remove_secrets {
            let report = self.remove_owned(&sync, None).await?;
            if report.failed > 0 {
                return Err(CoreError::Unavailable(format!(
                    "{}; the secret sync was kept so that it can remove the rest",
                    report.message
                )));
            }
        }
        if !self
            .store
            .delete_secret_sync(principal.tenant_id.as_str(), sync.id.as_str())
            .await?
        {
            return Err(not_found());
        }
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::SecretSyncDelete,
                    resource_kind: ResourceType::SecretSync,
                    resource_id: Some(sync.id.as_str()),
                    details: Some(json!({"name": sync.name, "removeSecrets": remove_secrets})),
                },
            )
            .await?;
        Ok(shown)
    }

    // --- actions ---------------------------------------------------------------------------

    /// `sync-secrets`: marks the sync pending and queues a run.
    pub async fn trigger_sync(&self, principal: &Principal, id: &str) -> Result<SecretSyncView> {
        principal.require(Access::Write)?;
        let sync = self.load(principal, id).await?;
        let job = self.queue_run(&sync, Some(self.clock.now())).await?;
        self.audit_action(principal, &sync, AuditAction::SecretSyncRun, &job)
            .await?;
        let sync = self.fetch(&sync.tenant_id, &sync.id).await?;
        self.view(principal, &sync).await
    }

    /// `import-secrets`: marks the import pending and queues it.
    pub async fn trigger_import(
        &self,
        principal: &Principal,
        id: &str,
        behavior: ImportBehavior,
    ) -> Result<SecretSyncView> {
        principal.require(Access::Write)?;
        let sync = self.load(principal, id).await?;
        let job = self
            .queue(
                &sync,
                JobKind::SecretSyncImport,
                json!({"syncId": sync.id, "importBehavior": behavior}),
                SyncActivity::Import,
                None,
            )
            .await?;
        self.audit_action(principal, &sync, AuditAction::SecretSyncImport, &job)
            .await?;
        let sync = self.fetch(&sync.tenant_id, &sync.id).await?;
        self.view(principal, &sync).await
    }

    /// `remove-secrets`: marks the removal pending and queues it.
    pub async fn trigger_remove(&self, principal: &Principal, id: &str) -> Result<SecretSyncView> {
        principal.require(Access::Write)?;
        let sync = self.load(principal, id).await?;
        let job = self
            .queue(
                &sync,
                JobKind::SecretSyncRemove,
                json!({"syncId": sync.id}),
                SyncActivity::Remove,
                None,
            )
            .await?;
        self.audit_action(principal, &sync, AuditAction::SecretSyncRemove, &job)
            .await?;
        let sync = self.fetch(&sync.tenant_id, &sync.id).await?;
        self.view(principal, &sync).await
    }

    async fn audit_action(
        &self,
        principal: &Principal,
        sync: &SecretSync,
        action: AuditAction,
        job: &JobId,
    ) -> Result<()> {
        self.audit
            .record(
                principal,
                AuditEvent {
                    action,
                    resource_kind: ResourceType::SecretSync,
                    resource_id: Some(sync.id.as_str()),
                    details: Some(json!({"jobId": job})),
                },
            )
            .await
    }

    /// Queues a run of `sync` at `at` (default: after the auto-sync debounce). A run already
    /// queued is brought forward instead; one running picks up the change before it ends.
    async fn queue_run(&self, sync: &SecretSync, at: Option<OffsetDateTime>) -> Result<JobId> {
        self.queue(
            sync,
            JobKind::SecretSyncRun,
            json!({"syncId": sync.id}),
            SyncActivity::Sync,
            Some(at.unwrap_or_else(|| self.clock.now() + AUTO_SYNC_DEBOUNCE)),
        )
        .await
    }

    async fn queue(
        &self,
        sync: &SecretSync,
        kind: JobKind,
        payload: serde_json::Value,
        activity: SyncActivity,
        run_at: Option<OffsetDateTime>,
    ) -> Result<JobId> {
        let spec = JobSpec {
            tenant_id: Some(sync.tenant_id.clone()),
            kind,
            payload,
            run_at,
            max_attempts: SYNC_JOB_ATTEMPTS,
            dedupe_key: Some(dedupe_key(kind, &sync.id)),
        };
        let (job, created) = self.jobs.enqueue(&spec).await?;
        let now = self.clock.now();
        // A queued job holding the key (a debounced auto-sync) runs now when a person asks for
        // a run now; further changes within the debounce leave it where it is.
        if !created && spec.run_at.is_none_or(|at| at <= now) {
            self.jobs.wake(&spec).await?;
        }
        self.store
            .set_secret_sync_status(
                sync.tenant_id.as_str(),
                sync.id.as_str(),
                &SyncStatusUpdate {
                    activity,
                    status: SyncStatus::Pending.as_str(),
                    job_id: Some(job.as_str()),
                    message: None,
                    finished_at: None,
                    now: ms(now),
                },
            )
            .await?;
        Ok(job)
    }

    /// Called after every committed secret write: queues one debounced run per auto-syncing sync
    /// of the folder.
    pub async fn folder_changed(&self, change: &FolderChange) -> Result<usize> {
        let rows = self
            .store
            .auto_secret_syncs_of_folder(
                change.tenant.as_str(),
                change.project.as_str(),
                change.environment.as_str(),
                change.path.as_str(),
            )
            .await?;
        let mut queued = 0;
        for row in rows {
            let sync = SecretSync::try_from(row)?;
            self.queue_run(&sync, None).await?;
            queued += 1;
        }
        Ok(queued)
    }

    // --- plan and results --------------------------------------------------------------------

    /// A dry run: what a sync would do now. Reads GitLab, writes nothing.
    pub async fn plan(&self, principal: &Principal, id: &str) -> Result<SecretSyncPlan> {
        principal.require(Access::Read)?;
        let sync = self.load(principal, id).await?;
        let prepared = self.prepare(&sync).await?;
        Ok(SecretSyncPlan {
            plan: prepared
                .plan
                .into_iter()
                .map(|entry| PlanEntryView {
                    key: entry.key,
                    action: entry.action,
                    reason: entry.reason,
                })
                .collect(),
        })
    }

    /// The per-key results of the sync's last run.
    pub async fn results(&self, principal: &Principal, id: &str) -> Result<SecretSyncResults> {
        principal.require(Access::Read)?;
        let sync = self.load(principal, id).await?;
        let rows = self.store.sync_results(sync.id.as_str()).await?;
        let mut results = Vec::with_capacity(rows.len());
        for row in rows {
            results.push(SyncResultView {
                key: row.key,
                action: crate::rows::text("secret_sync_results.action", &row.action)?,
                outcome: crate::rows::text("secret_sync_results.outcome", &row.outcome)?,
                reason: row.reason,
                recorded_at: format_time(crate::rows::time(
                    "secret_sync_results.recorded_at",
                    row.recorded_at,
                )?),
            });
        }
        Ok(SecretSyncResults {
            sync_status: sync.sync.status,
            last_sync_job_id: sync.sync.job_id.map(String::from),
            results,
        })
    }

    // --- destination checks ------------------------------------------------------------------

    /// Checks that the connection reaches the destination with at least Maintainer (GitLab's
    /// `admin_build`, which writing variables needs), fills in the names and canonical ids, and
    /// answers the destination key.
    async fn resolve_destination(
        &self,
        tenant_id: &TenantId,
        connection_id: &ConnectionId,
        config: &mut GitLabDestinationConfig,
    ) -> Result<String> {
        validate_config(config)?;
        let session = self.connections.named_session(tenant_id, connection_id).await?;
        let GitLabSession {
            connection,
            client,
            credential,
        } = &session;
        let field = match config.scope {
            SyncScope::Project => "destinationConfig.projectId",
            SyncScope::Group => "destinationConfig.groupId",
        };
        let (source, id, path, fallback) = match config.scope {
            SyncScope::Project => {
                let given = config.project_id.clone().unwrap_or_default();
                let project = client
                    .project(credential, &resource_id(&given))
                    .await
                    .map_err(|error| unreachable(field, "project", &given, &error))?;
                config.project_id = Some(project.id.to_string());
                if config.project_name.as_deref().is_none_or(str::is_empty) {
                    config.project_name = Some(project.path_with_namespace.clone());
                }
                let fallback = role_in_project(&project);
                (
                    Source::Project(ResourceId::Id(project.id)),
                    project.id,
                    project.path_with_namespace,
                    fallback,
                )
            }
            SyncScope::Group => {
                if connection.token_type == Some(AccessTokenType::Project) {
                    return Err(CoreError::validation(
                        "destinationConfig.scope",
                        "a project access token cannot write group variables; use a personal, group or OAuth connection",
                    ));
                }
                let given = config.group_id.clone().unwrap_or_default();
                let group = client
                    .group(credential, &resource_id(&given))
                    .await
                    .map_err(|error| unreachable(field, "group", &given, &error))?;
                config.group_id = Some(group.id.to_string());
                if config.group_name.as_deref().is_none_or(str::is_empty) {
                    config.group_name = Some(group.full_path.clone());
                }
                (
                    Source::Group(ResourceId::Id(group.id)),
                    group.id,
                    group.full_path,
                    None,
                )
            }
        };
        let need = RoleNeed {
            level: AccessLevel::MAINTAINER,
            purpose: "writing CI/CD variables",
            field,
        };
        require_role(&session, &source, &path, fallback, &need).await?;
        Ok(format!(
            "{}|{}|{id}",
            connection.instance_url.trim_end_matches('/'),
            config.scope
        ))
    }
}

fn validate_config(config: &GitLabDestinationConfig) -> Result<()> {
    let missing = |field: &'static str, what: &str| {
        CoreError::validation(field, format!("scope {} needs {what}", config.scope))
    };
    match config.scope {
        SyncScope::Project if config.project_id.as_deref().is_none_or(|s| s.trim().is_empty()) => {
            return Err(missing("destinationConfig.projectId", "a projectId"));
        }
        SyncScope::Group if config.group_id.as_deref().is_none_or(|s| s.trim().is_empty()) => {
            return Err(missing("destinationConfig.groupId", "a groupId"));
        }
        _ => {}
    }
    let scope = model::environment_scope(config);
    if scope.chars().count() > 255 || scope.chars().any(char::is_control) {
        return Err(CoreError::validation(
            "destinationConfig.targetEnvironment",
            "an environment scope is at most 255 characters, without control characters",
        ));
    }
    if config
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 255)
    {
        return Err(CoreError::validation(
            "destinationConfig.description",
            "GitLab keeps variable descriptions of at most 255 characters",
        ));
    }
    Ok(())
}

fn valid_options(options: SyncOptions) -> Result<SyncOptions> {
    if let Some(schema) = options.key_schema.as_deref() {
        KeySchema::parse(schema)?;
    } else if options.delete_unowned_matching_keys {
        return Err(CoreError::validation(
            "syncOptions.deleteUnownedMatchingKeys",
            "deleting variables labgate did not write needs a keySchema that tells them apart",
        ));
    }
    Ok(options)
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

fn environment_of(project: &SecretProject, slug: &str) -> Result<EnvironmentSlug> {
    project
        .environments
        .iter()
        .find(|e| e.slug.as_str() == slug)
        .map(|e| e.slug.clone())
        .ok_or_else(|| {
            CoreError::validation("environment", format!("the project has no environment {slug:?}"))
        })
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(CoreError::internal)
}

fn record_of(sync: &SecretSync) -> Result<SecretSyncRecord> {
    let activity = |a: &model::ActivityState| {
        (
            a.status.map(|s| s.as_str().to_owned()),
            a.job_id.as_ref().map(ToString::to_string),
            a.message.clone(),
            opt_ms(a.finished_at),
        )
    };
    let (sync_status, last_sync_job_id, last_sync_message, last_synced_at) = activity(&sync.sync);
    let (import_status, last_import_job_id, last_import_message, last_imported_at) = activity(&sync.import);
    let (remove_status, last_remove_job_id, last_remove_message, last_removed_at) = activity(&sync.remove);
    Ok(SecretSyncRecord {
        id: sync.id.to_string(),
        tenant_id: sync.tenant_id.to_string(),
        project_id: sync.project_id.to_string(),
        name: sync.name.clone(),
        description: sync.description.clone(),
        connection_id: sync.connection_id.to_string(),
        environment: sync.environment.as_str().to_owned(),
        secret_path: sync.secret_path.as_str().to_owned(),
        is_auto_sync_enabled: i32::from(sync.auto_sync),
        destination_config: to_json(&sync.destination_config)?,
        sync_options: to_json(&sync.options)?,
        destination_key: sync.destination_key.clone(),
        sync_status,
        last_sync_job_id,
        last_sync_message,
        last_synced_at,
        import_status,
        last_import_job_id,
        last_import_message,
        last_imported_at,
        remove_status,
        last_remove_job_id,
        last_remove_message,
        last_removed_at,
        version: signed32(sync.version),
        created_at: ms(sync.created_at),
        updated_at: ms(sync.updated_at),
    })
}

pub fn view(sync: &SecretSync, project: &SecretProject, connection_name: String) -> SecretSyncView {
    let environment = project.environments.iter().find(|e| e.slug == sync.environment);
    SecretSyncView {
        id: sync.id.to_string(),
        name: sync.name.clone(),
        description: sync.description.clone(),
        connection_id: sync.connection_id.to_string(),
        connection: SyncConnectionView {
            app: "gitlab".to_owned(),
            name: connection_name,
            id: sync.connection_id.to_string(),
        },
        project_id: sync.project_id.to_string(),
        environment: SyncEnvironmentView {
            slug: sync.environment.as_str().to_owned(),
            name: environment.map(|e| e.name.clone()).unwrap_or_default(),
            id: environment.map(|e| e.id.to_string()).unwrap_or_default(),
        },
        folder: SyncFolderView {
            path: sync.secret_path.as_str().to_owned(),
        },
        is_auto_sync_enabled: sync.auto_sync,
        destination: "gitlab".to_owned(),
        destination_config: sync.destination_config.clone(),
        sync_options: sync.options.clone(),
        sync_status: sync.sync.status,
        last_sync_job_id: sync.sync.job_id.as_ref().map(ToString::to_string),
        last_sync_message: sync.sync.message.clone(),
        last_synced_at: format_opt(sync.sync.finished_at),
        import_status: sync.import.status,
        last_import_job_id: sync.import.job_id.as_ref().map(ToString::to_string),
        last_import_message: sync.import.message.clone(),
        last_imported_at: format_opt(sync.import.finished_at),
        remove_status: sync.remove.status,
        last_remove_job_id: sync.remove.job_id.as_ref().map(ToString::to_string),
        last_remove_message: sync.remove.message.clone(),
        last_removed_at: format_opt(sync.remove.finished_at),
        version: i64::from(sync.version),
        created_at: format_time(sync.created_at),
        updated_at: format_time(sync.updated_at),
    }
}
