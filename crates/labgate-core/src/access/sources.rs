//! Access sources: a self-managed instance (through an administrator's token) or one top-level
//! group, read through one of the tenant's GitLab connections, and the sync runs of each with
//! their progress and log. Runs are queued here and carried out by the `access.sync` job
//! (`sync.rs`); the periodic schedule is `schedule.rs`.

use std::sync::Arc;

use labgate_gitlab::{GitLabError, ResourceId};
use labgate_proto::access::{
    AccessScope as AccessScopeView, AccessScopeKind, AccessSourceList, AccessSourceStatus,
    AccessSourceUpdates, AccessSourceView, AccessSyncKind, AccessSyncList, AccessSyncLog, AccessSyncLogLevel,
    AccessSyncLogLine, AccessSyncProgress, AccessSyncStatus, AccessSyncView, AccessUpdateDelivery,
    CreateAccessSourceRequest,
};
use labgate_proto::audit::{AuditAction, ResourceType};
use labgate_store::{AccessSourceRecord, AccessSyncLogRecord, AccessSyncRunRecord, Store, StoreError};
use serde_json::json;
use time::OffsetDateTime;

use super::hooks::{AccessHooks, Delivery, HookScope, HookSource};
use super::model::{GitLabGroupId, GitLabProjectId, Resource, ResourceKind};
use super::sync::SyncJobEnd;
use crate::audit::{AuditEvent, AuditLog};
use crate::auth::{Access, Actor, Principal};
use crate::clock::Clock;
use crate::connections::Connections;
use crate::connections::reach::{unknown_connection, unreachable};
use crate::ids::{AccessSourceId, AccessSyncRunId, ConnectionId, JobId, TenantId};
use crate::jobs::{JobKind, JobQueue, JobSpec};
use crate::rows::{Parsed, StoredValueError, ms, opt_time, signed, text, time, unsigned};
use crate::timefmt::{format_opt, format_time};
use crate::{CoreError, Result};

/// Attempts of a sync job before the run fails for good (transient GitLab failures retry).
pub const SYNC_JOB_ATTEMPTS: u32 = 3;
/// The default ceiling of requests per minute one sync run makes (`LABGATE_ACCESS_SYNC_MAX_RPM`).
pub const DEFAULT_MAX_RPM: u32 = 600;
/// Listings one sync run reads at the same time.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// How sync runs call GitLab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessSyncSettings {
    /// Requests per minute one run makes at most; 0 for no ceiling of labgate's own (GitLab's
    /// `RateLimit-*` headers and `Retry-After` are honoured either way).
    pub max_rpm: u32,
    /// Listings read at the same time.
    pub concurrency: usize,
}

impl Default for AccessSyncSettings {
    fn default() -> Self {
        AccessSyncSettings {
            max_rpm: DEFAULT_MAX_RPM,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// What a source covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessScope {
    /// Every user, group and project of a self-managed instance.
    Instance,
    /// One top-level group with its subgroups and their projects.
    Group { full_path: String },
}

impl AccessScope {
    fn kind(&self) -> AccessScopeKind {
        match self {
            AccessScope::Instance => AccessScopeKind::Instance,
            AccessScope::Group { .. } => AccessScopeKind::Group,
        }
    }

    fn full_path(&self) -> Option<&str> {
        match self {
            AccessScope::Instance => None,
            AccessScope::Group { full_path } => Some(full_path),
        }
    }

    fn view(&self) -> AccessScopeView {
        AccessScopeView {
            kind: self.kind(),
            full_path: self.full_path().map(str::to_owned),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessSource {
    pub id: AccessSourceId,
    pub tenant_id: TenantId,
    pub name: String,
    pub connection_id: ConnectionId,
    pub scope: AccessScope,
    pub status: AccessSourceStatus,
    pub last_run_id: Option<AccessSyncRunId>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl TryFrom<AccessSourceRecord> for AccessSource {
    type Error = StoredValueError;

    fn try_from(row: AccessSourceRecord) -> Parsed<AccessSource> {
        let kind: AccessScopeKind = text("access_sources.scope_kind", &row.scope_kind)?;
        let scope = match (kind, row.scope_full_path) {
            (AccessScopeKind::Instance, _) => AccessScope::Instance,
            (AccessScopeKind::Group, Some(full_path)) => AccessScope::Group { full_path },
            (AccessScopeKind::Group, None) => {
                return Err(StoredValueError {
                    column: "access_sources.scope_full_path",
                    value: "missing for a group scope".to_owned(),
                });
            }
        };
        Ok(AccessSource {
            id: AccessSourceId::from_stored(row.id),
            tenant_id: TenantId::from_stored(row.tenant_id),
            name: row.name,
            connection_id: ConnectionId::from_stored(row.connection_id),
            scope,
            status: text("access_sources.status", &row.status)?,
            last_run_id: row.last_run_id.map(AccessSyncRunId::from_stored),
            created_at: time("access_sources.created_at", row.created_at)?,
            updated_at: time("access_sources.updated_at", row.updated_at)?,
        })
    }
}

/// One sync run of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessSyncRun {
    pub id: AccessSyncRunId,
    pub source_id: AccessSourceId,
    pub kind: AccessSyncKind,
    /// The groups and projects a targeted run reads again; empty for a full run.
    pub targets: Vec<Resource>,
    pub status: AccessSyncStatus,
    pub phase: Option<String>,
    pub done: u64,
    pub total: Option<u64>,
    pub request_count: u64,
    pub error: Option<String>,
    pub job_id: Option<JobId>,
    pub created_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredTarget {
    kind: String,
    id: u64,
}

fn targets_json(targets: &[Resource]) -> String {
    let stored: Vec<StoredTarget> = targets
        .iter()
        .map(|target| match *target {
            Resource::Group(GitLabGroupId(id)) => StoredTarget {
                kind: ResourceKind::Group.as_str().to_owned(),
                id,
            },
            Resource::Project(GitLabProjectId(id)) => StoredTarget {
                kind: ResourceKind::Project.as_str().to_owned(),
                id,
            },
        })
        .collect();
    serde_json::to_string(&stored).unwrap_or_else(|_| "[]".to_owned())
}

fn parse_targets(text: Option<&str>) -> Parsed<Vec<Resource>> {
    let invalid = |value: &str| StoredValueError {
        column: "access_sync_runs.targets",
        value: value.to_owned(),
    };
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let stored: Vec<StoredTarget> = serde_json::from_str(text).map_err(|_| invalid(text))?;
    stored
        .into_iter()
        .map(|target| match ResourceKind::parse(&target.kind) {
            Some(ResourceKind::Group) => Ok(Resource::Group(GitLabGroupId(target.id))),
            Some(ResourceKind::Project) => Ok(Resource::Project(GitLabProjectId(target.id))),
            None => Err(invalid(&target.kind)),
        })
        .collect()
}

impl TryFrom<AccessSyncRunRecord> for AccessSyncRun {
    type Error = StoredValueError;

    fn try_from(row: AccessSyncRunRecord) -> Parsed<AccessSyncRun> {
        Ok(AccessSyncRun {
            targets: parse_targets(row.targets.as_deref())?,
            id: AccessSyncRunId::from_stored(row.id),
            source_id: AccessSourceId::from_stored(row.source_id),
            kind: text("access_sync_runs.kind", &row.kind)?,
            status: text("access_sync_runs.status", &row.status)?,
            phase: row.progress_phase,
            done: unsigned("access_sync_runs.progress_done", row.progress_done)?,
            total: row
                .progress_total
                .map(|total| unsigned("access_sync_runs.progress_total", total))
                .transpose()?,
            request_count: unsigned("access_sync_runs.request_count", row.request_count)?,
            error: row.error,
            job_id: row.job_id.map(JobId::from_stored),
            created_at: time("access_sync_runs.created_at", row.created_at)?,
            started_at: opt_time("access_sync_runs.started_at", row.started_at)?,
            finished_at: opt_time("access_sync_runs.finished_at", row.finished_at)?,
        })
    }
}

fn updates_view(delivery: &Delivery) -> AccessSourceUpdates {
    match delivery {
        Delivery::Hooks => AccessSourceUpdates {
            kind: AccessUpdateDelivery::Hooks,
            reason: None,
        },
        Delivery::Sweeps { reason } => AccessSourceUpdates {
            kind: AccessUpdateDelivery::Sweeps,
            reason: Some(reason.clone()),
        },
    }
}

pub fn source_view(source: &AccessSource, delivery: &Delivery) -> AccessSourceView {
    AccessSourceView {
        id: source.id.to_string(),
        name: source.name.clone(),
        connection_id: source.connection_id.to_string(),
        scope: source.scope.view(),
        status: source.status,
        last_sync_id: source.last_run_id.as_ref().map(ToString::to_string),
        updates: updates_view(delivery),
        created_at: format_time(source.created_at),
        updated_at: format_time(source.updated_at),
    }
}

pub fn sync_view(run: &AccessSyncRun) -> AccessSyncView {
    AccessSyncView {
        id: run.id.to_string(),
        source_id: run.source_id.to_string(),
        kind: run.kind,
        status: run.status,
        progress: AccessSyncProgress {
            phase: run.phase.clone(),
            done: run.done,
            total: run.total,
        },
        request_count: run.request_count,
        error: run.error.clone(),
        created_at: format_time(run.created_at),
        started_at: format_opt(run.started_at),
        finished_at: format_opt(run.finished_at),
    }
}

fn log_line(row: AccessSyncLogRecord) -> Result<AccessSyncLogLine> {
    Ok(AccessSyncLogLine {
        seq: unsigned("access_sync_log.seq", row.seq)?,
        at: format_time(time("access_sync_log.at", row.at)?),
        level: text::<AccessSyncLogLevel>("access_sync_log.level", &row.level)?,
        message: row.message,
    })
}

fn not_found() -> CoreError {
    CoreError::NotFound("access source")
}

fn sync_not_found() -> CoreError {
    CoreError::NotFound("access sync")
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

/// The scope as asked for, checked for shape only (GitLab is asked afterwards).
fn valid_scope(scope: &AccessScopeView) -> Result<AccessScope> {
    match (scope.kind, scope.full_path.as_deref()) {
        (AccessScopeKind::Instance, None) => Ok(AccessScope::Instance),
        (AccessScopeKind::Instance, Some(_)) => Err(CoreError::validation(
            "scope.fullPath",
            "an instance scope names no group",
        )),
        (AccessScopeKind::Group, None) => Err(CoreError::validation(
            "scope.fullPath",
            "a group scope needs the full path of a top-level group",
        )),
        (AccessScopeKind::Group, Some(path)) => {
            let path = path.trim().trim_matches('/');
            if path.is_empty() || path.len() > 255 {
                Err(CoreError::validation(
                    "scope.fullPath",
                    "a group scope needs the full path of a top-level group",
                ))
            } else if path.contains('/') {
                Err(CoreError::validation(
                    "scope.fullPath",
                    format!("{path:?} is a subgroup; a group scope is a top-level group"),
                ))
            } else {
                Ok(AccessScope::Group {
                    full_path: path.to_owned(),
                })
            }
        }
    }
}

/// Attempts of an `access.hooks-remove` job (backing off between them) before it gives up.
const HOOKS_REMOVE_ATTEMPTS: u32 = 10;

/// Sources, their sync runs and the runs' work (see the module docs).
#[derive(Clone)]
pub struct AccessSyncs {
    pub(super) store: Store,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) audit: AuditLog,
    pub(super) jobs: JobQueue,
    pub(super) connections: Connections,
    pub(super) settings: AccessSyncSettings,
    /// The sources' webhooks: installed on create, removed on delete, settled by full runs.
    pub(super) hooks: AccessHooks,
}

impl AccessSyncs {
    pub(crate) fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        audit: AuditLog,
        jobs: JobQueue,
        connections: Connections,
        hooks: AccessHooks,
    ) -> AccessSyncs {
        AccessSyncs {
            store,
            clock,
            audit,
            jobs,
            connections,
            settings: AccessSyncSettings::default(),
            hooks,
        }
    }

    pub(crate) fn with_jobs(mut self, jobs: JobQueue) -> AccessSyncs {
        self.jobs = jobs;
        self
    }

    /// The same service calling GitLab through `connections`.
    pub fn with_connections(mut self, connections: Connections) -> AccessSyncs {
        self.hooks = self.hooks.with_connections(connections.clone());
        self.connections = connections;
        self
    }

    /// The same service calling GitLab as `settings` say.
    #[must_use]
    pub fn with_settings(mut self, settings: AccessSyncSettings) -> AccessSyncs {
        self.settings = settings;
        self
    }

    pub fn settings(&self) -> AccessSyncSettings {
        self.settings
    }

    pub(super) async fn fetch(&self, tenant_id: &TenantId, id: &AccessSourceId) -> Result<AccessSource> {
        match self.store.access_source(tenant_id.as_str(), id.as_str()).await {
            Ok(row) => Ok(AccessSource::try_from(row)?),
            Err(StoreError::NotFound) => Err(not_found()),
            Err(other) => Err(other.into()),
        }
    }

    async fn load(&self, principal: &Principal, id: &str) -> Result<AccessSource> {
        let id = AccessSourceId::parse(id).ok_or_else(not_found)?;
        self.fetch(&principal.tenant_id, &id).await
    }

    async fn load_run(&self, principal: &Principal, id: &str) -> Result<AccessSyncRun> {
        let id = AccessSyncRunId::parse(id).ok_or_else(sync_not_found)?;
        match self
            .store
            .access_sync_run(principal.tenant_id.as_str(), id.as_str())
            .await
        {
            Ok(row) => Ok(AccessSyncRun::try_from(row)?),
            Err(StoreError::NotFound) => Err(sync_not_found()),
            Err(other) => Err(other.into()),
        }
    }

    // --- sources ------------------------------------------------------------------------------

    /// Creates a source after checking its scope at GitLab through the connection: a group
    /// scope must name a top-level group the connection's user can read; an instance scope needs
    /// that user to be an administrator. Nothing is synced until a sync is asked for or the
    /// schedule's next sweep (a source never synced is due at once).
    pub async fn create(
        &self,
        principal: &Principal,
        request: CreateAccessSourceRequest,
    ) -> Result<AccessSourceView> {
        principal.require(Access::Write)?;
        let name = valid_name(&request.name)?;
        let scope = valid_scope(&request.scope)?;
        let connection_id = ConnectionId::parse(&request.connection_id).ok_or_else(unknown_connection)?;
        let session = self
            .connections
            .named_session(&principal.tenant_id, &connection_id)
            .await?;
        let hook_scope = match &scope {
            AccessScope::Group { full_path } => {
                let group = session
                    .client
                    .group(&session.credential, &ResourceId::Path(full_path.clone()))
                    .await
                    .map_err(|error| unreachable("scope.fullPath", "group", full_path, &error))?;
                if group.parent_id.is_some() {
                    return Err(CoreError::validation(
                        "scope.fullPath",
                        format!("{full_path:?} is a subgroup; a group scope is a top-level group"),
                    ));
                }
                HookScope::Group(GitLabGroupId(group.id))
            }
            AccessScope::Instance => {
                let user = session
                    .client
                    .current_user(&session.credential)
                    .await
                    .map_err(|error| instance_check_failed(&error))?;
                if user.is_admin != Some(true) {
                    return Err(CoreError::validation(
                        "scope.kind",
                        "an instance scope reads every user, group and project of the instance: the \
                         connection's user must be an administrator of this self-managed instance",
                    ));
                }
                HookScope::Instance
            }
        };
        let now = ms(self.clock.now());
        let record = AccessSourceRecord {
            id: AccessSourceId::generate().to_string(),
            tenant_id: principal.tenant_id.to_string(),
            name: name.clone(),
            connection_id: connection_id.to_string(),
            scope_kind: scope.kind().as_str().to_owned(),
            scope_full_path: scope.full_path().map(str::to_owned),
            status: AccessSourceStatus::NeverSynced.as_str().to_owned(),
            last_run_id: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let row = match self.store.insert_access_source(&record).await {
            Ok(row) => row,
            Err(StoreError::Conflict { .. }) => {
                return Err(CoreError::AlreadyExists(format!(
                    "an access source named {name:?} already exists"
                )));
            }
            Err(StoreError::ForeignKey { .. }) => return Err(unknown_connection()),
            Err(other) => return Err(other.into()),
        };
        let source = AccessSource::try_from(row)?;
        // Hooks report changes between full syncs; where GitLab refuses one the source relies
        // on its full syncs, and says why.
        let installed = self
            .hooks
            .install_for_source(&HookSource {
                tenant_id: source.tenant_id.clone(),
                source_id: source.id.clone(),
                connection_id: source.connection_id.clone(),
                scope: hook_scope,
            })
            .await;
        let delivery = match installed {
            Ok(outcome) => outcome.delivery,
            Err(error) => {
                tracing::warn!(access_source = %source.id, error = %error, "the access hook could not be installed");
                Delivery::Sweeps {
                    reason: format!("the webhook could not be installed: {error}"),
                }
            }
        };
        let updates = updates_view(&delivery);
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::AccessSourceCreate,
                    resource_kind: ResourceType::AccessSource,
                    resource_id: Some(source.id.as_str()),
                    details: Some(json!({
                        "name": source.name,
                        "connectionId": source.connection_id,
                        "scope": source.scope.view(),
                        "updates": updates,
                    })),
                },
            )
            .await?;
        Ok(source_view(&source, &delivery))
    }

    /// A source's view, with how its changes reach labgate.
    async fn view(&self, source: &AccessSource) -> Result<AccessSourceView> {
        let delivery = self.hooks.delivery(&source.tenant_id, &source.id).await?;
        Ok(source_view(source, &Delivery::or_unrecorded(delivery)))
    }

    pub async fn get(&self, principal: &Principal, id: &str) -> Result<AccessSourceView> {
        principal.require(Access::Read)?;
        self.view(&self.load(principal, id).await?).await
    }

    /// One page of the tenant's sources, oldest first.
    pub async fn list(&self, principal: &Principal, offset: u64, limit: u32) -> Result<AccessSourceList> {
        principal.require(Access::Read)?;
        let (rows, total_count) = self
            .store
            .list_access_sources(principal.tenant_id.as_str(), offset, limit)
            .await?;
        let mut sources = Vec::with_capacity(rows.len());
        for row in rows {
            sources.push(self.view(&AccessSource::try_from(row)?).await?);
        }
        Ok(AccessSourceList { sources, total_count })
    }

    /// Deletes a source with its runs, logs and snapshots. A run in progress ends as failed when
    /// its job finds the source gone.
    pub async fn delete(&self, principal: &Principal, id: &str) -> Result<AccessSourceView> {
        principal.require(Access::Write)?;
        let source = self.load(principal, id).await?;
        // The view answered is the source as it was, hooks included.
        let view = self.view(&source).await?;
        // The hooks go first: their records outlive the source, so one GitLab did not remove
        // now is retried by a job rather than forgotten at GitLab.
        let left = self
            .hooks
            .remove_for_source(&source.tenant_id, &source.id)
            .await?;
        if !self
            .store
            .delete_access_source(source.tenant_id.as_str(), source.id.as_str())
            .await?
        {
            return Err(not_found());
        }
        if !left.is_empty() {
            tracing::warn!(access_source = %source.id, hooks = left.len(), "GitLab could not remove every access hook now; a job retries");
            self.jobs
                .enqueue(&JobSpec {
                    tenant_id: Some(source.tenant_id.clone()),
                    kind: JobKind::AccessHooksRemove,
                    payload: json!({"sourceId": source.id}),
                    run_at: None,
                    max_attempts: HOOKS_REMOVE_ATTEMPTS,
                    dedupe_key: Some(format!("access-hooks-remove:{}", source.id)),
                })
                .await?;
        }
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::AccessSourceDelete,
                    resource_kind: ResourceType::AccessSource,
                    resource_id: Some(source.id.as_str()),
                    details: Some(json!({"name": source.name, "hooksLeft": left})),
                },
            )
            .await?;
        Ok(view)
    }

    /// Runs an `access.hooks-remove` job: the webhooks a deleted source left at GitLab.
    pub async fn run_hooks_remove_job(&self, job: &crate::jobs::Job) -> SyncJobEnd {
        let failed = |message: &str| SyncJobEnd::Failed {
            message: message.to_owned(),
        };
        let Some(tenant) = job.tenant_id.clone() else {
            return failed("the job names no tenant");
        };
        let Some(source_id) = job
            .payload
            .get("sourceId")
            .and_then(serde_json::Value::as_str)
            .and_then(AccessSourceId::parse)
        else {
            return failed("the job names no access source");
        };
        match self.hooks.remove_for_source(&tenant, &source_id).await {
            Ok(left) if left.is_empty() => SyncJobEnd::Done {
                message: "access hooks removed".to_owned(),
            },
            Ok(left) => {
                let message = format!(
                    "GitLab has not removed {} access hook(s) yet: {}",
                    left.len(),
                    left.join("; ")
                );
                if job.attempts >= job.max_attempts {
                    tracing::error!(access_source = %source_id, "access hooks left at GitLab: {message}");
                    SyncJobEnd::Failed {
                        message: format!("{message}; remove them at GitLab by hand"),
                    }
                } else {
                    SyncJobEnd::Retry { message }
                }
            }
            Err(error) => SyncJobEnd::Retry {
                message: format!("the access hooks cannot be read: {error}"),
            },
        }
    }

    // --- runs ---------------------------------------------------------------------------------

    /// Queues a full sync of a source; 409 while one is queued or running.
    pub async fn trigger_sync(&self, principal: &Principal, id: &str) -> Result<AccessSyncView> {
        principal.require(Access::Write)?;
        let source = self.load(principal, id).await?;
        let run = self.queue_run(&source, AccessSyncKind::Full, &[]).await?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::AccessSourceSync,
                    resource_kind: ResourceType::AccessSource,
                    resource_id: Some(source.id.as_str()),
                    details: Some(json!({"name": source.name, "syncId": run.id, "kind": run.kind})),
                },
            )
            .await?;
        Ok(sync_view(&run))
    }

    /// Queues a targeted run of a source: the previous successful snapshot with `targets` (groups
    /// and projects) read again from GitLab — their details, shares and direct members — and the
    /// effective grants computed anew. Without a successful snapshot the run is a full one.
    ///
    /// While a full run is queued (not yet started) it already covers the targets, and its id is
    /// answered; while any other run is queued or syncing the answer is
    /// [`CoreError::Conflict`], and the caller asks again later. An empty `targets` is a
    /// validation error.
    pub async fn queue_targeted(
        &self,
        tenant: &TenantId,
        source_id: &AccessSourceId,
        targets: Vec<Resource>,
    ) -> Result<AccessSyncRunId> {
        if targets.is_empty() {
            return Err(CoreError::validation(
                "targets",
                "a targeted sync names at least one group or project",
            ));
        }
        let source = self.fetch(tenant, source_id).await?;
        if let Some(active) = self.store.active_access_sync_run(source.id.as_str()).await? {
            let active = AccessSyncRun::try_from(active)?;
            if active.status == AccessSyncStatus::Queued && active.kind == AccessSyncKind::Full {
                return Ok(active.id);
            }
            return Err(CoreError::Conflict(
                "a sync of this access source is already queued or running".to_owned(),
            ));
        }
        let mut targets = targets;
        targets.sort();
        targets.dedup();
        let run = self
            .queue_run(&source, AccessSyncKind::Targeted, &targets)
            .await?;
        self.audit
            .record_as(
                Some(&source.tenant_id),
                &Actor::System,
                None,
                AuditEvent {
                    action: AuditAction::AccessSourceSync,
                    resource_kind: ResourceType::AccessSource,
                    resource_id: Some(source.id.as_str()),
                    details: Some(json!({
                        "name": source.name,
                        "syncId": run.id,
                        "kind": run.kind,
                        "targets": targets.len(),
                    })),
                },
            )
            .await?;
        Ok(run.id)
    }

    /// Records a queued run and queues its job. One run per source at a time: the job's dedupe
    /// key holds it even when two requests race past the check.
    pub(super) async fn queue_run(
        &self,
        source: &AccessSource,
        kind: AccessSyncKind,
        targets: &[Resource],
    ) -> Result<AccessSyncRun> {
        let busy =
            || CoreError::Conflict("a sync of this access source is already queued or running".to_owned());
        if self
            .store
            .active_access_sync_run(source.id.as_str())
            .await?
            .is_some()
        {
            return Err(busy());
        }
        let run_id = AccessSyncRunId::generate();
        let spec = JobSpec {
            tenant_id: Some(source.tenant_id.clone()),
            kind: JobKind::AccessSync,
            payload: json!({"syncId": run_id, "sourceId": source.id}),
            run_at: None,
            max_attempts: SYNC_JOB_ATTEMPTS,
            dedupe_key: Some(format!("access-sync:{}", source.id)),
        };
        let (job, created) = self.jobs.enqueue(&spec).await?;
        if !created {
            return Err(busy());
        }
        let record = AccessSyncRunRecord {
            id: run_id.to_string(),
            source_id: source.id.to_string(),
            status: AccessSyncStatus::Queued.as_str().to_owned(),
            progress_phase: Some("queued".to_owned()),
            progress_done: 0,
            progress_total: None,
            request_count: 0,
            error: None,
            job_id: Some(job.to_string()),
            created_at: ms(self.clock.now()),
            started_at: None,
            finished_at: None,
            kind: kind.as_str().to_owned(),
            targets: (kind == AccessSyncKind::Targeted).then(|| targets_json(targets)),
        };
        let run = AccessSyncRun::try_from(self.store.insert_access_sync_run(&record).await?)?;
        self.store
            .append_access_sync_log(
                run.id.as_str(),
                record.created_at,
                AccessSyncLogLevel::Info.as_str(),
                &match kind {
                    AccessSyncKind::Full => "queued a full sync".to_owned(),
                    AccessSyncKind::Targeted => {
                        format!(
                            "queued a targeted sync of {} group(s) and project(s)",
                            targets.len()
                        )
                    }
                },
            )
            .await?;
        Ok(run)
    }

    /// A source's runs, newest first.
    pub async fn syncs(&self, principal: &Principal, source_id: &str) -> Result<AccessSyncList> {
        principal.require(Access::Read)?;
        let source = self.load(principal, source_id).await?;
        let syncs = self
            .store
            .list_access_sync_runs(source.id.as_str())
            .await?
            .into_iter()
            .map(|row| AccessSyncRun::try_from(row).map(|run| sync_view(&run)))
            .collect::<std::result::Result<_, _>>()?;
        Ok(AccessSyncList { syncs })
    }

    pub async fn sync(&self, principal: &Principal, id: &str) -> Result<AccessSyncView> {
        principal.require(Access::Read)?;
        Ok(sync_view(&self.load_run(principal, id).await?))
    }

    /// A run's log, oldest line first.
    pub async fn sync_log(&self, principal: &Principal, id: &str) -> Result<AccessSyncLog> {
        principal.require(Access::Read)?;
        let run = self.load_run(principal, id).await?;
        let lines = self
            .store
            .access_sync_log(run.id.as_str())
            .await?
            .into_iter()
            .map(log_line)
            .collect::<Result<_>>()?;
        Ok(AccessSyncLog { lines })
    }

    /// The run a job carries out, whatever its tenant; `None` when it is not recorded (yet).
    pub(super) async fn run_by_id(&self, id: &AccessSyncRunId) -> Result<Option<AccessSyncRun>> {
        match self.store.access_sync_run_by_id(id.as_str()).await {
            Ok(row) => Ok(Some(AccessSyncRun::try_from(row)?)),
            Err(StoreError::NotFound) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    pub(super) fn signed_count(count: u64) -> i64 {
        signed(count)
    }
}

fn instance_check_failed(error: &GitLabError) -> CoreError {
    if error.is_transient() {
        CoreError::Unavailable(format!("GitLab could not be reached: {error}"))
    } else {
        CoreError::validation(
            "connectionId",
            format!("the connection's user cannot be read at GitLab: {error}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_checked_for_shape() {
        let scope = |kind, path: Option<&str>| AccessScopeView {
            kind,
            full_path: path.map(str::to_owned),
        };
        assert_eq!(
            valid_scope(&scope(AccessScopeKind::Instance, None)).unwrap(),
            AccessScope::Instance
        );
        assert_eq!(
            valid_scope(&scope(AccessScopeKind::Group, Some("/acme/"))).unwrap(),
            AccessScope::Group {
                full_path: "acme".into()
            }
        );
        for (kind, path) in [
            (AccessScopeKind::Group, None),
            (AccessScopeKind::Group, Some("")),
            (AccessScopeKind::Group, Some("acme/platform")),
            (AccessScopeKind::Instance, Some("acme")),
        ] {
            let error = valid_scope(&scope(kind, path)).unwrap_err();
            assert!(
                matches!(
                    error,
                    CoreError::Validation {
                        field: Some("scope.fullPath"),
                        ..
                    }
                ),
                "{kind:?} {path:?}: {error:?}"
            );
        }
    }

    #[test]
    fn targets_round_trip_through_the_store() {
        let targets = vec![
            Resource::Group(GitLabGroupId(3)),
            Resource::Project(GitLabProjectId(9)),
        ];
        assert_eq!(parse_targets(Some(&targets_json(&targets))).unwrap(), targets);
        assert_eq!(parse_targets(None).unwrap(), Vec::new());
        assert!(parse_targets(Some(r#"[{"kind":"user","id":1}]"#)).is_err());
    }
}
