//! Push webhooks of data sources with auto-scan on: installed at GitLab when auto-scan turns on
//! (a group hook where GitLab offers them, else one project hook per covered project), recorded,
//! and removed when auto-scan turns off or the data source goes. A hook GitLab fails to remove
//! stays recorded as `removing` and a retrying job removes it: none is forgotten while it may
//! still exist at GitLab.

use labgate_gitlab::{GitLabError, NewHook, ResourceId};
use labgate_proto::secret_scanning::ScanScope;
use labgate_store::ScanHookRecord;
use serde_json::json;

use super::{DataSource, JobEnd, Resource, SecretScanning};
use crate::connections::GitLabSession;
use crate::ids::{ConnectionId, ScanDataSourceId, TenantId};
use crate::jobs::{Job, JobKind, JobSpec};
use crate::rows::{ms, signed, unsigned};
use crate::{CoreError, Result};

/// Where GitLab sends pushes, below the site URL (`LABGATE_SITE_URL`).
pub const WEBHOOK_PATH: &str = "/secret-scanning/webhooks/gitlab";
/// The name the hooks carry at GitLab, so a person there sees whose they are.
const HOOK_NAME: &str = "labgate secret scanning";
/// Tries of the removal job (with the queue's backoff) before it reports failure for good.
const HOOKS_REMOVE_ATTEMPTS: u32 = 25;

const INSTALLED: &str = "installed";
const REMOVING: &str = "removing";
const GROUP: &str = "group";
const PROJECT: &str = "project";

impl SecretScanning {
    /// The URL GitLab's hooks call.
    pub(super) fn hook_url(&self) -> Result<String> {
        let site = self.connections.site_url().map_err(|_| {
            CoreError::validation(
                "isAutoScanEnabled",
                "push webhooks need the address labgate is reached at: set LABGATE_SITE_URL, or turn isAutoScanEnabled off",
            )
        })?;
        Ok(format!("{site}{WEBHOOK_PATH}"))
    }

    /// Installs the data source's push hooks. On failure the hooks installed so far are removed
    /// again and the error says what GitLab refused.
    pub(super) async fn install_hooks(&self, source: &DataSource, resources: &[Resource]) -> Result<()> {
        let url = self.hook_url()?;
        let secret = self.webhook_secret(source).await?.ok_or_else(|| {
            CoreError::internal(std::io::Error::other("the data source has no webhook secret"))
        })?;
        let session = self
            .connections
            .named_session(&source.tenant_id, &source.connection_id)
            .await?;
        let hook = NewHook {
            url: url.clone(),
            token: Some(secret),
            name: Some(HOOK_NAME.to_owned()),
            push_events: true,
            tag_push_events: true,
            merge_requests_events: false,
            member_events: false,
            subgroup_events: false,
            enable_ssl_verification: url.starts_with("https://"),
        };
        let installed = self.install_with(&session, source, resources, &hook).await;
        if let Err(error) = installed {
            // What was installed before the failure goes again (or is queued for removal).
            if let Err(cleanup) = self.remove_hooks(source).await {
                tracing::warn!(error = %cleanup, data_source = %source.id, "the hooks installed before a failure could not all be removed yet");
            }
            return Err(error);
        }
        Ok(())
    }

    async fn install_with(
        &self,
        session: &GitLabSession,
        source: &DataSource,
        resources: &[Resource],
        hook: &NewHook,
    ) -> Result<()> {
        let client = &session.client;
        let credential = &session.credential;
        if source.config.scope == ScanScope::Group {
            let group = group_id(source)?;
            match client
                .create_group_hook(credential, &ResourceId::Id(group), hook)
                .await
            {
                Ok(created) => return self.record_hook(source, GROUP, group, created.id).await,
                // Group hooks are a paid tier's (and the group's Owner's): project hooks instead.
                Err(GitLabError::Forbidden { .. } | GitLabError::NotFound { .. }) => {
                    tracing::info!(data_source = %source.id, "GitLab refused a group hook; installing project hooks");
                }
                Err(error) => return Err(hook_refused("group", &group.to_string(), &error)),
            }
        }
        for resource in resources {
            let created = client
                .create_hook(credential, &ResourceId::Id(resource.gitlab_project_id), hook)
                .await
                .map_err(|error| hook_refused("project", &resource.path, &error))?;
            self.record_hook(source, PROJECT, resource.gitlab_project_id, created.id)
                .await?;
        }
        Ok(())
    }

    async fn record_hook(&self, source: &DataSource, kind: &str, owner: u64, hook_id: u64) -> Result<()> {
        let now = ms(self.clock.now());
        self.store
            .insert_scan_hook(&ScanHookRecord {
                id: uuid::Uuid::new_v4().to_string(),
                tenant_id: source.tenant_id.to_string(),
                data_source_id: source.id.to_string(),
                connection_id: source.connection_id.to_string(),
                owner_kind: kind.to_owned(),
                gitlab_owner_id: signed(owner),
                gitlab_hook_id: signed(hook_id),
                state: INSTALLED.to_owned(),
                last_error: None,
                created_at: now,
                updated_at: now,
            })
            .await?;
        Ok(())
    }

    /// Removes every recorded hook of the data source at GitLab. Those GitLab fails to remove
    /// stay recorded as `removing`, and a retrying job is queued for them.
    pub(super) async fn remove_hooks(&self, source: &DataSource) -> Result<()> {
        let left = self.remove_recorded(&source.tenant_id, &source.id, false).await?;
        if left.is_empty() {
            return Ok(());
        }
        tracing::warn!(data_source = %source.id, hooks = left.len(), "GitLab could not remove every push hook now; a job retries");
        self.jobs
            .enqueue(&JobSpec {
                tenant_id: Some(source.tenant_id.clone()),
                kind: JobKind::SecretScanHooksRemove,
                payload: json!({"dataSourceId": source.id}),
                run_at: None,
                max_attempts: HOOKS_REMOVE_ATTEMPTS,
                dedupe_key: Some(format!("secret-scan-hooks-remove:{}", source.id)),
            })
            .await?;
        Ok(())
    }

    /// Removes the data source's hooks (only those already `removing` when `only_removing`);
    /// answers what could not be removed, as "owner kind id: error".
    async fn remove_recorded(
        &self,
        tenant_id: &TenantId,
        source_id: &ScanDataSourceId,
        only_removing: bool,
    ) -> Result<Vec<String>> {
        let rows: Vec<ScanHookRecord> = self
            .store
            .list_scan_hooks(tenant_id.as_str(), source_id.as_str())
            .await?
            .into_iter()
            .filter(|row| !only_removing || row.state == REMOVING)
            .collect();
        let mut left = Vec::new();
        let mut sessions: Vec<(String, Result<GitLabSession>)> = Vec::new();
        for row in rows {
            if !sessions.iter().any(|(id, _)| *id == row.connection_id) {
                let session = self
                    .connections
                    .named_session(tenant_id, &ConnectionId::from_stored(row.connection_id.clone()))
                    .await;
                sessions.push((row.connection_id.clone(), session));
            }
            let session = sessions
                .iter()
                .find(|(id, _)| *id == row.connection_id)
                .map(|(_, session)| session);
            let outcome = match session {
                Some(Ok(session)) => remove_one(session, &row).await,
                Some(Err(error)) => Err(format!("the connection cannot be used: {error}")),
                None => Err("the connection cannot be used".to_owned()),
            };
            let now = ms(self.clock.now());
            match outcome {
                Ok(()) => self.store.delete_scan_hook(&row.id).await?,
                Err(message) => {
                    self.store
                        .set_scan_hook_state(&row.id, REMOVING, Some(&message), now)
                        .await?;
                    left.push(format!(
                        "{} {} hook {}: {message}",
                        row.owner_kind, row.gitlab_owner_id, row.gitlab_hook_id
                    ));
                }
            }
        }
        Ok(left)
    }

    /// Runs a `secret-scanning.hooks-remove` job.
    pub async fn run_hooks_remove_job(&self, job: &Job) -> JobEnd {
        let Some(tenant) = job.tenant_id.clone() else {
            return JobEnd::Failed {
                message: "the job names no tenant".to_owned(),
            };
        };
        let Some(source_id) = job
            .payload
            .get("dataSourceId")
            .and_then(serde_json::Value::as_str)
            .and_then(ScanDataSourceId::parse)
        else {
            return JobEnd::Failed {
                message: "the job names no data source".to_owned(),
            };
        };
        match self.remove_recorded(&tenant, &source_id, true).await {
            Ok(left) if left.is_empty() => JobEnd::Done {
                message: "push hooks removed".to_owned(),
            },
            Ok(left) => {
                let message = format!(
                    "GitLab has not removed {} push hook(s) yet: {}",
                    left.len(),
                    left.join("; ")
                );
                if job.attempts >= job.max_attempts {
                    tracing::error!(data_source = %source_id, "push hooks left at GitLab: {message}");
                    JobEnd::Failed {
                        message: format!("{message}; remove them at GitLab by hand"),
                    }
                } else {
                    JobEnd::Retry { message }
                }
            }
            Err(error) => JobEnd::Retry {
                message: format!("the push hooks cannot be read: {error}"),
            },
        }
    }
}

async fn remove_one(session: &GitLabSession, row: &ScanHookRecord) -> std::result::Result<(), String> {
    let owner =
        unsigned::<u64>("scan_hooks.gitlab_owner_id", row.gitlab_owner_id).map_err(|e| e.to_string())?;
    let hook = unsigned::<u64>("scan_hooks.gitlab_hook_id", row.gitlab_hook_id).map_err(|e| e.to_string())?;
    let removed = if row.owner_kind == GROUP {
        session
            .client
            .delete_group_hook(&session.credential, &ResourceId::Id(owner), hook)
            .await
    } else {
        session
            .client
            .delete_hook(&session.credential, &ResourceId::Id(owner), hook)
            .await
    };
    match removed {
        // Already gone (removed by a person, or with its project): nothing left to remove.
        Ok(()) | Err(GitLabError::NotFound { .. }) => Ok(()),
        Err(error) => Err(error.to_string()),
    }
}

fn group_id(source: &DataSource) -> Result<u64> {
    source
        .config
        .group_id
        .as_deref()
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| {
            CoreError::internal(std::io::Error::other(
                "a group data source without a numeric group id",
            ))
        })
}

fn hook_refused(kind: &str, name: &str, error: &GitLabError) -> CoreError {
    if error.is_transient() {
        CoreError::Unavailable(format!(
            "GitLab could not install the push hook of {kind} {name}: {error}"
        ))
    } else {
        CoreError::validation(
            "isAutoScanEnabled",
            format!(
                "GitLab refused the push hook of {kind} {name} ({error}); push hooks need the api scope and the Maintainer role (group hooks: Owner). Turn isAutoScanEnabled off to scan by hand only"
            ),
        )
    }
}
