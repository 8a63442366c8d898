//! Running syncs: list the destination, plan, apply the writes one by one while recording
//! ownership and results after each (a run that dies halfway resumes from its records and
//! GitLab's state, without duplicates); imports from GitLab; removal of what a sync wrote.

use std::collections::BTreeSet;

use futures_util::StreamExt;
use labgate_crypto::TenantKeys;
use labgate_gitlab::{GitLabError, NewVariable, ResourceId, Source, Variable};
use labgate_proto::secret_syncs::{
    ImportBehavior, InitialSyncBehavior, PlanAction, ResultOutcome, SyncScope, SyncStatus, VariableType,
};
use labgate_store::{SyncActivity, SyncResultRecord, SyncStatusUpdate, SyncedVariableRecord};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::model::SecretSync;
use super::planner::{
    self, DesiredSecret, ListedVariable, OwnedVariable, PlanEntry, PlanSettings, Step, VariableFlags,
};
use super::{SecretSyncs, system_principal};
use crate::connections::GitLabSession;
use crate::ids::{JobId, SecretSyncId};
use crate::jobs::{Job, Progress};
use crate::rows::{flag, ms};
use crate::secrets::ImportedSecret;
use crate::{CoreError, Result};

/// Results of keys needing no call are written this many at a time.
const QUIET_BATCH: usize = 500;

/// Runs again at most this many times when the folder changed while a run was writing.
const MAX_PASSES: usize = 3;

/// How a job of a sync ended, for the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEnd {
    Done {
        message: String,
    },
    /// A transient failure: the queue should try again later.
    Retry {
        message: String,
    },
    /// Trying again cannot help (the sync is gone, the connection unusable).
    Failed {
        message: String,
    },
}

/// What a sync would do now, and what it needs to do it.
pub(super) struct Prepared {
    session: GitLabSession,
    source: Source,
    desired: Vec<DesiredSecret>,
    pub(super) plan: Vec<PlanEntry>,
}

/// Counts of one run.
#[derive(Debug, Default)]
struct Tally {
    created: u64,
    updated: u64,
    deleted: u64,
    unchanged: u64,
    skipped: u64,
    failed: u64,
    transient: bool,
}

impl Tally {
    fn status(&self) -> SyncStatus {
        let writes_ok = self.created + self.updated + self.deleted;
        if self.failed > 0 && writes_ok == 0 && self.unchanged == 0 {
            SyncStatus::Failed
        } else if self.failed > 0 || self.skipped > 0 {
            SyncStatus::Partial
        } else {
            SyncStatus::Succeeded
        }
    }

    fn message(&self) -> String {
        let mut text = format!(
            "{} created, {} updated, {} deleted, {} unchanged",
            self.created, self.updated, self.deleted, self.unchanged
        );
        if self.failed > 0 || self.skipped > 0 {
            text.push_str(&format!(
                "; {} failed, {} skipped (see the results)",
                self.failed, self.skipped
            ));
        }
        text
    }
}

/// What removing a sync's variables did.
#[derive(Debug, Default)]
pub(super) struct RemoveReport {
    pub removed: u64,
    pub failed: u64,
    pub transient: bool,
    pub message: String,
}

/// The HMAC of a variable value under the tenant's hashing key. The label keeps it apart from
/// every other HMAC labgate makes with that key (a credentials hash of the same text differs).
fn value_hmac(keys: &TenantKeys, value: &SecretString) -> String {
    const LABEL: &[u8] = b"labgate/secret-sync/value\0";
    let mut input = Zeroizing::new(Vec::with_capacity(LABEL.len() + value.expose_secret().len()));
    input.extend_from_slice(LABEL);
    input.extend_from_slice(value.expose_secret().as_bytes());
    keys.hmac_hex(&input)
}

fn source_of(sync: &SecretSync) -> Source {
    let destination = sync.destination();
    let id = match destination.target.parse::<u64>() {
        Ok(id) => ResourceId::Id(id),
        Err(_) => ResourceId::Path(destination.target),
    };
    match destination.scope {
        SyncScope::Project => Source::Project(id),
        SyncScope::Group => Source::Group(id),
    }
}

fn listed(variable: Variable) -> ListedVariable {
    ListedVariable {
        flags: VariableFlags {
            protected: variable.protected,
            masked: variable.masked,
            hidden: variable.hidden,
            raw: variable.raw,
            variable_type: if variable.variable_type == "file" {
                VariableType::File
            } else {
                VariableType::EnvVar
            },
            description: variable.description.filter(|d| !d.is_empty()),
        },
        key: variable.key,
        environment_scope: variable.environment_scope,
        value: variable.value,
    }
}

fn owned(record: SyncedVariableRecord) -> Result<OwnedVariable> {
    Ok(OwnedVariable {
        flags: VariableFlags {
            protected: flag("synced_variables.protected", record.protected)?,
            masked: flag("synced_variables.masked", record.masked)?,
            hidden: flag("synced_variables.hidden", record.hidden)?,
            raw: flag("synced_variables.raw", record.raw)?,
            variable_type: crate::rows::text("synced_variables.variable_type", &record.variable_type)?,
            description: record.description,
        },
        key: record.key,
        environment_scope: record.environment_scope,
        value_hmac: record.value_hmac,
    })
}

fn new_variable(key: &str, value: &SecretString, flags: &VariableFlags, scope: &str) -> NewVariable {
    NewVariable {
        variable_type: Some(flags.variable_type.as_str().to_owned()),
        protected: flags.protected,
        masked: flags.masked,
        masked_and_hidden: flags.hidden,
        raw: flags.raw,
        environment_scope: Some(scope.to_owned()),
        description: flags.description.clone(),
        ..NewVariable::new(key, value.clone())
    }
}

/// A delete whose variable is already gone did what it was for.
fn deleted(result: std::result::Result<(), GitLabError>) -> std::result::Result<(), GitLabError> {
    match result {
        Err(GitLabError::NotFound { .. }) => Ok(()),
        other => other,
    }
}

impl SecretSyncs {
    async fn session(&self, sync: &SecretSync) -> Result<GitLabSession> {
        self.connections
            .gitlab_session(&sync.tenant_id, &sync.connection_id)
            .await
    }

    async fn list_destination(
        &self,
        session: &GitLabSession,
        source: &Source,
    ) -> Result<Vec<ListedVariable>> {
        let mut stream = session.client.variables(&session.credential, source);
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            out.push(listed(item.map_err(gitlab_error)?));
        }
        Ok(out)
    }

    async fn desired(&self, sync: &SecretSync) -> Result<Vec<DesiredSecret>> {
        let principal = system_principal(&sync.tenant_id);
        let folder = self
            .secrets
            .folder_values(&principal, &sync.project_id, &sync.environment, &sync.secret_path)
            .await?;
        let keys = self.vault.active_keys(sync.tenant_id.as_str()).await?;
        Ok(folder
            .into_iter()
            .map(|secret| DesiredSecret {
                value_hmac: value_hmac(&keys, &secret.value),
                secret_key: secret.key,
                value: secret.value,
                version: secret.version,
            })
            .collect())
    }

    /// Reads the folder, GitLab and the records, and plans. Writes nothing.
    pub(super) async fn prepare(&self, sync: &SecretSync) -> Result<Prepared> {
        let session = self.session(sync).await?;
        let source = source_of(sync);
        let desired = self.desired(sync).await?;
        let listed = self.list_destination(&session, &source).await?;
        let owned = self
            .store
            .synced_variables(sync.id.as_str())
            .await?
            .into_iter()
            .filter(|r| r.destination_key == sync.destination_key)
            .map(owned)
            .collect::<Result<Vec<_>>>()?;
        let scope = sync.destination().environment_scope;
        let elsewhere: BTreeSet<String> = self
            .store
            .variables_owned_by_other_syncs(&sync.destination_key, &scope, sync.id.as_str())
            .await?
            .into_iter()
            .collect();
        let settings = PlanSettings {
            key_schema: sync.key_schema.clone(),
            environment_scope: scope,
            flags: sync.flags(),
            initial_sync_behavior: sync.options.initial_sync_behavior,
            disable_deletion: sync.options.disable_secret_deletion,
            delete_unowned_matching_keys: sync.options.delete_unowned_matching_keys,
        };
        let plan = planner::plan(&desired, &owned, &listed, &elsewhere, &settings);
        Ok(Prepared {
            session,
            source,
            desired,
            plan,
        })
    }

    async fn set_status(
        &self,
        sync: &SecretSync,
        activity: SyncActivity,
        status: SyncStatus,
        job: Option<&JobId>,
        message: Option<&str>,
        finished: bool,
    ) -> Result<()> {
        let now = self.clock.now();
        self.store
            .set_secret_sync_status(
                sync.tenant_id.as_str(),
                sync.id.as_str(),
                &SyncStatusUpdate {
                    activity,
                    status: status.as_str(),
                    job_id: job.map(JobId::as_str),
                    message,
                    finished_at: finished.then(|| ms(now)),
                    now: ms(now),
                },
            )
            .await?;
        Ok(())
    }

    async fn progress(&self, job: Option<(&JobId, &str)>, done: u64, total: u64, phase: &str) {
        let Some((id, owner)) = job else {
            return;
        };
        let progress = Progress {
            done,
            total: Some(total),
            phase: Some(phase.to_owned()),
        };
        if let Err(error) = self.jobs.progress(id, owner, &progress).await {
            tracing::warn!(job_id = %id, error = %error, "could not record the progress of a secret sync");
        }
    }

    /// The sync a job is about, or why the job cannot run.
    async fn job_sync(&self, job: &Job) -> std::result::Result<SecretSync, JobEnd> {
        let tenant = job.tenant_id.clone().ok_or_else(|| JobEnd::Failed {
            message: "the job names no tenant".to_owned(),
        })?;
        let id = job
            .payload
            .get("syncId")
            .and_then(serde_json::Value::as_str)
            .and_then(SecretSyncId::parse)
            .ok_or_else(|| JobEnd::Failed {
                message: "the job names no secret sync".to_owned(),
            })?;
        match self.fetch(&tenant, &id).await {
            Ok(sync) => Ok(sync),
            Err(CoreError::NotFound(_)) => Err(JobEnd::Failed {
                message: "the secret sync was deleted".to_owned(),
            }),
            Err(other) => Err(JobEnd::Retry {
                message: format!("the secret sync cannot be read: {other}"),
            }),
        }
    }

    /// Runs a `secret-sync.run` job held by `owner`.
    pub async fn run_job(&self, job: &Job, owner: &str) -> JobEnd {
        let sync = match self.job_sync(job).await {
            Ok(sync) => sync,
            Err(end) => return end,
        };
        let held = Some((&job.id, owner));
        if let Err(error) = self
            .set_status(
                &sync,
                SyncActivity::Sync,
                SyncStatus::Running,
                Some(&job.id),
                None,
                false,
            )
            .await
        {
            return JobEnd::Retry {
                message: format!("the secret sync's status cannot be recorded: {error}"),
            };
        }
        let outcome = self.sync_now(&sync, held).await;
        let (status, message, end) = match outcome {
            Ok(tally) => {
                let message = tally.message();
                let end = if tally.transient {
                    JobEnd::Retry {
                        message: message.clone(),
                    }
                } else {
                    JobEnd::Done {
                        message: message.clone(),
                    }
                };
                (tally.status(), message, end)
            }
            Err(error) => {
                let message = error.to_string();
                let end = if matches!(error, CoreError::Unavailable(_) | CoreError::Internal(_)) {
                    JobEnd::Retry {
                        message: message.clone(),
                    }
                } else {
                    JobEnd::Failed {
                        message: message.clone(),
                    }
                };
                (SyncStatus::Failed, message, end)
            }
        };
        let finished = status != SyncStatus::Failed;
        if let Err(error) = self
            .set_status(
                &sync,
                SyncActivity::Sync,
                status,
                Some(&job.id),
                Some(&message),
                finished,
            )
            .await
        {
            tracing::warn!(sync_id = %sync.id, error = %error, "could not record the end of a secret sync");
        }
        tracing::info!(sync_id = %sync.id, status = %status, summary = %message, "secret sync finished");
        end
    }

    /// Syncs the folder to GitLab now; passes again (a few times at most) when the folder changed
    /// while it was writing.
    async fn sync_now(&self, sync: &SecretSync, job: Option<(&JobId, &str)>) -> Result<Tally> {
        if sync.imports_first() && sync.sync.finished_at.is_none() {
            let behavior = match sync.options.initial_sync_behavior {
                InitialSyncBehavior::ImportPrioritizeDestination => ImportBehavior::PrioritizeDestination,
                _ => ImportBehavior::PrioritizeSource,
            };
            self.progress(job, 0, 1, "importing from GitLab").await;
            self.import_now(sync, behavior).await?;
        }
        self.store.clear_sync_results(sync.id.as_str()).await?;
        let mut tally = Tally::default();
        for _ in 0..MAX_PASSES {
            let prepared = self.prepare(sync).await?;
            let before: Vec<(String, u32)> = prepared
                .desired
                .iter()
                .map(|s| (s.secret_key.clone(), s.version))
                .collect();
            tally = self.apply(sync, &prepared, job).await?;
            let after: Vec<(String, u32)> = self
                .secrets
                .folder_values(
                    &system_principal(&sync.tenant_id),
                    &sync.project_id,
                    &sync.environment,
                    &sync.secret_path,
                )
                .await?
                .into_iter()
                .map(|s| (s.key, s.version))
                .collect();
            if after == before {
                break;
            }
        }
        Ok(tally)
    }

    /// Applies a plan, write by write; after each, records ownership and the key's result.
    async fn apply(
        &self,
        sync: &SecretSync,
        prepared: &Prepared,
        job: Option<(&JobId, &str)>,
    ) -> Result<Tally> {
        let Prepared {
            session,
            source,
            desired,
            plan,
        } = prepared;
        let scope = sync.destination().environment_scope;
        let flags = sync.flags();
        let total = u64::try_from(plan.len()).unwrap_or(u64::MAX);
        let mut tally = Tally::default();
        let mut quiet = Vec::new();
        for (done, entry) in plan.iter().enumerate() {
            let secret = |index: usize| {
                desired
                    .get(index)
                    .ok_or_else(|| CoreError::internal(std::io::Error::other("a plan step names no secret")))
            };
            let write = match &entry.step {
                Step::Nothing => Ok(()),
                Step::Create(index) => {
                    let secret = secret(*index)?;
                    let created = session
                        .client
                        .create_variable(
                            &session.credential,
                            source,
                            &new_variable(&entry.key, &secret.value, &flags, &scope),
                        )
                        .await;
                    match created {
                        Ok(_) => self.own(sync, &entry.key, &scope, secret, &flags).await.map(Ok)?,
                        Err(error) => Err(error),
                    }
                }
                Step::Update(index) => {
                    let secret = secret(*index)?;
                    let updated = session
                        .client
                        .update_variable(
                            &session.credential,
                            source,
                            &scope,
                            &new_variable(&entry.key, &secret.value, &flags, &scope),
                        )
                        .await;
                    match updated {
                        Ok(_) => self.own(sync, &entry.key, &scope, secret, &flags).await.map(Ok)?,
                        Err(error) => Err(error),
                    }
                }
                Step::Recreate(index) => {
                    let secret = secret(*index)?;
                    match deleted(
                        session
                            .client
                            .delete_variable(&session.credential, source, &entry.key, &scope)
                            .await,
                    ) {
                        Ok(()) => {
                            self.store
                                .forget_synced_variable(sync.id.as_str(), &entry.key, &scope)
                                .await?;
                            match session
                                .client
                                .create_variable(
                                    &session.credential,
                                    source,
                                    &new_variable(&entry.key, &secret.value, &flags, &scope),
                                )
                                .await
                            {
                                Ok(_) => self.own(sync, &entry.key, &scope, secret, &flags).await.map(Ok)?,
                                Err(error) => Err(error),
                            }
                        }
                        Err(error) => Err(error),
                    }
                }
                Step::Adopt(index) => {
                    self.own(sync, &entry.key, &scope, secret(*index)?, &flags)
                        .await?;
                    Ok(())
                }
                Step::Delete { environment_scope } => {
                    match deleted(
                        session
                            .client
                            .delete_variable(&session.credential, source, &entry.key, environment_scope)
                            .await,
                    ) {
                        Ok(()) => {
                            self.store
                                .forget_synced_variable(sync.id.as_str(), &entry.key, environment_scope)
                                .await?;
                            Ok(())
                        }
                        Err(error) => Err(error),
                    }
                }
                Step::Forget { environment_scope } => {
                    self.store
                        .forget_synced_variable(sync.id.as_str(), &entry.key, environment_scope)
                        .await?;
                    Ok(())
                }
            };
            let (outcome, reason) = match &write {
                Ok(()) if entry.problem => {
                    tally.skipped += 1;
                    (ResultOutcome::Skipped, Some(entry.reason.clone()))
                }
                Ok(()) => {
                    match entry.action {
                        PlanAction::Create => tally.created += 1,
                        PlanAction::Update => tally.updated += 1,
                        PlanAction::Delete => tally.deleted += 1,
                        PlanAction::Unchanged => tally.unchanged += 1,
                        PlanAction::Skipped => tally.skipped += 1,
                    }
                    (ResultOutcome::Ok, Some(entry.reason.clone()))
                }
                Err(error) => {
                    tally.failed += 1;
                    tally.transient |= error.is_transient() || error.may_have_been_applied();
                    tracing::warn!(sync_id = %sync.id, key = %entry.key, error = %error, "GitLab refused a variable write");
                    (
                        ResultOutcome::Failed,
                        Some(format!("GitLab refused the write: {error}")),
                    )
                }
            };
            let result = SyncResultRecord {
                sync_id: sync.id.to_string(),
                key: entry.key.clone(),
                action: entry.action.as_str().to_owned(),
                outcome: outcome.as_str().to_owned(),
                reason,
                job_id: job.map(|(id, _)| id.to_string()),
                recorded_at: ms(self.clock.now()),
            };
            // A write's result is recorded as soon as GitLab answered, with its ownership record,
            // so a run that dies here resumes from both; keys needing no call are recorded together.
            if entry.step.writes() {
                self.store.record_sync_result(&result).await?;
            } else {
                quiet.push(result);
                if quiet.len() >= QUIET_BATCH {
                    self.store.record_sync_results(&quiet).await?;
                    quiet.clear();
                }
            }
            let done = u64::try_from(done + 1).unwrap_or(u64::MAX);
            if entry.step.writes() || done == total || done % 100 == 0 {
                self.progress(job, done, total, "writing variables").await;
            }
        }
        self.store.record_sync_results(&quiet).await?;
        Ok(tally)
    }

    /// Records that this sync wrote `secret` to `key` in `scope`, with `flags`.
    async fn own(
        &self,
        sync: &SecretSync,
        key: &str,
        scope: &str,
        secret: &DesiredSecret,
        flags: &VariableFlags,
    ) -> Result<()> {
        self.store
            .record_synced_variable(&SyncedVariableRecord {
                sync_id: sync.id.to_string(),
                destination_key: sync.destination_key.clone(),
                key: key.to_owned(),
                environment_scope: scope.to_owned(),
                value_hmac: secret.value_hmac.clone(),
                protected: i32::from(flags.protected),
                masked: i32::from(flags.masked),
                hidden: i32::from(flags.hidden),
                raw: i32::from(flags.raw),
                variable_type: flags.variable_type.as_str().to_owned(),
                description: flags.description.clone(),
                secret_version: Some(i64::from(secret.version)),
                written_at: ms(self.clock.now()),
            })
            .await?;
        Ok(())
    }

    // --- import ------------------------------------------------------------------------------

    /// Runs a `secret-sync.import` job.
    pub async fn import_job(&self, job: &Job, owner: &str) -> JobEnd {
        let sync = match self.job_sync(job).await {
            Ok(sync) => sync,
            Err(end) => return end,
        };
        let behavior = job
            .payload
            .get("importBehavior")
            .and_then(serde_json::Value::as_str)
            .and_then(ImportBehavior::parse)
            .unwrap_or(ImportBehavior::PrioritizeSource);
        let _ = self
            .set_status(
                &sync,
                SyncActivity::Import,
                SyncStatus::Running,
                Some(&job.id),
                None,
                false,
            )
            .await;
        self.progress(Some((&job.id, owner)), 0, 1, "importing from GitLab")
            .await;
        let result = self.import_now(&sync, behavior).await;
        self.progress(Some((&job.id, owner)), 1, 1, "imported").await;
        let (status, message, end) = match result {
            Ok(message) => (SyncStatus::Succeeded, message.clone(), JobEnd::Done { message }),
            Err(error) => {
                let message = error.to_string();
                let end = if matches!(error, CoreError::Unavailable(_) | CoreError::Internal(_)) {
                    JobEnd::Retry {
                        message: message.clone(),
                    }
                } else {
                    JobEnd::Failed {
                        message: message.clone(),
                    }
                };
                (SyncStatus::Failed, message, end)
            }
        };
        if let Err(error) = self
            .set_status(
                &sync,
                SyncActivity::Import,
                status,
                Some(&job.id),
                Some(&message),
                status == SyncStatus::Succeeded,
            )
            .await
        {
            tracing::warn!(sync_id = %sync.id, error = %error, "could not record the end of an import");
        }
        end
    }

    /// Reads the destination's variables in the target scope and writes them into the folder.
    /// Hidden variables cannot be read back from GitLab, so they are named, never imported.
    async fn import_now(&self, sync: &SecretSync, behavior: ImportBehavior) -> Result<String> {
        let session = self.session(sync).await?;
        let source = source_of(sync);
        let scope = sync.destination().environment_scope;
        let mut hidden = Vec::new();
        let mut values = Vec::new();
        for variable in self.list_destination(&session, &source).await? {
            if variable.environment_scope != scope {
                continue;
            }
            let key = match &sync.key_schema {
                Some(schema) => match schema.extract(&variable.key) {
                    Some(key) => key.to_owned(),
                    None => continue,
                },
                None => variable.key.clone(),
            };
            match variable.value {
                Some(value) => values.push(ImportedSecret {
                    key,
                    value,
                    comment: variable.flags.description,
                }),
                None => hidden.push(variable.key),
            }
        }
        let count = values.len();
        let summary = self
            .secrets
            .import_values(
                &system_principal(&sync.tenant_id),
                &sync.project_id,
                &sync.environment,
                &sync.secret_path,
                values,
                behavior == ImportBehavior::PrioritizeDestination,
            )
            .await?;
        let mut message = format!(
            "{count} imported: {} created, {} updated, {} unchanged",
            summary.created.len(),
            summary.updated.len(),
            summary.unchanged.len()
        );
        if !hidden.is_empty() {
            message.push_str(&format!(
                "; GitLab does not show hidden variables, so these were not imported: {}",
                hidden.join(", ")
            ));
        }
        Ok(message)
    }

    // --- remove ------------------------------------------------------------------------------

    /// Runs a `secret-sync.remove` job.
    pub async fn remove_job(&self, job: &Job, owner: &str) -> JobEnd {
        let sync = match self.job_sync(job).await {
            Ok(sync) => sync,
            Err(end) => return end,
        };
        let _ = self
            .set_status(
                &sync,
                SyncActivity::Remove,
                SyncStatus::Running,
                Some(&job.id),
                None,
                false,
            )
            .await;
        let (status, message, end) = match self.remove_owned(&sync, Some((&job.id, owner))).await {
            Ok(report) if report.failed == 0 => (
                SyncStatus::Succeeded,
                report.message.clone(),
                JobEnd::Done {
                    message: report.message,
                },
            ),
            Ok(report) => {
                let status = if report.removed > 0 {
                    SyncStatus::Partial
                } else {
                    SyncStatus::Failed
                };
                let end = if report.transient {
                    JobEnd::Retry {
                        message: report.message.clone(),
                    }
                } else {
                    JobEnd::Done {
                        message: report.message.clone(),
                    }
                };
                (status, report.message, end)
            }
            Err(error) => {
                let message = error.to_string();
                (SyncStatus::Failed, message.clone(), JobEnd::Retry { message })
            }
        };
        if let Err(error) = self
            .set_status(
                &sync,
                SyncActivity::Remove,
                status,
                Some(&job.id),
                Some(&message),
                status != SyncStatus::Failed,
            )
            .await
        {
            tracing::warn!(sync_id = %sync.id, error = %error, "could not record the end of a removal");
        }
        end
    }

    /// Deletes at GitLab every variable this sync wrote to its destination, and forgets each.
    pub(super) async fn remove_owned(
        &self,
        sync: &SecretSync,
        job: Option<(&JobId, &str)>,
    ) -> Result<RemoveReport> {
        let session = self.session(sync).await?;
        let source = source_of(sync);
        let records: Vec<SyncedVariableRecord> = self
            .store
            .synced_variables(sync.id.as_str())
            .await?
            .into_iter()
            .filter(|r| r.destination_key == sync.destination_key)
            .collect();
        let total = u64::try_from(records.len()).unwrap_or(u64::MAX);
        let mut report = RemoveReport::default();
        let mut failed_keys = Vec::new();
        for (done, record) in records.iter().enumerate() {
            let result = deleted(
                session
                    .client
                    .delete_variable(
                        &session.credential,
                        &source,
                        &record.key,
                        &record.environment_scope,
                    )
                    .await,
            );
            match result {
                Ok(()) => {
                    self.store
                        .forget_synced_variable(sync.id.as_str(), &record.key, &record.environment_scope)
                        .await?;
                    report.removed += 1;
                }
                Err(error) => {
                    report.failed += 1;
                    report.transient |= error.is_transient() || error.may_have_been_applied();
                    tracing::warn!(sync_id = %sync.id, key = %record.key, error = %error, "GitLab refused a variable delete");
                    failed_keys.push(record.key.clone());
                }
            }
            self.progress(
                job,
                u64::try_from(done + 1).unwrap_or(u64::MAX),
                total,
                "removing variables",
            )
            .await;
        }
        report.message = if failed_keys.is_empty() {
            format!("{} variables removed", report.removed)
        } else {
            format!(
                "{} variables removed; GitLab refused to delete {}",
                report.removed,
                failed_keys.join(", ")
            )
        };
        Ok(report)
    }
}

fn gitlab_error(error: GitLabError) -> CoreError {
    if error.is_transient() {
        CoreError::Unavailable(format!("GitLab could not be reached: {error}"))
    } else {
        CoreError::Conflict(format!("GitLab refused the request: {error}"))
    }
}
