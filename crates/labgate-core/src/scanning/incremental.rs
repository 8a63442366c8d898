//! Incremental scans on push: GitLab's push webhooks are authenticated by each data source's
//! secret (compared in constant time), deduplicated on `X-Gitlab-Event-UUID`, and answered at
//! once with a queued `secret-scanning.push` job. The job fetches the repository's mirror and
//! scans only what the push brought in, read from git itself: the webhook body lists at most 20
//! commits and is never trusted for what to scan.

use labgate_proto::secret_scanning::{GitLabPushEvent, PushReceipt, ScanKind, ScanScope, ScanStatus};
use labgate_scan::NoProgress;
use labgate_store::{ScanRunRecord, ScanRunUpdate};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use time::Duration;

use super::run::{LeakedConnections, RepoOutcome, scanner};
use super::{DataSource, JobEnd, Resource, SCAN_JOB_ATTEMPTS, ScanRun, SecretScanning};
use crate::ids::ScanRunId;
use crate::jobs::{Job, JobKind, JobSpec};
use crate::rows::{ms, signed};
use crate::{CoreError, Result};

/// How long a received event's UUID is remembered; GitLab retries a delivery for much less.
const EVENT_MEMORY: Duration = Duration::days(7);

/// A push webhook as it arrived, headers already read.
pub struct PushDelivery {
    /// `X-Gitlab-Event`.
    pub event: Option<String>,
    /// `X-Gitlab-Token`.
    pub token: Option<SecretString>,
    /// `X-Gitlab-Event-UUID`.
    pub event_uuid: Option<String>,
    pub body: GitLabPushEvent,
}

/// What a push is, as the scan job needs it.
#[derive(Debug, Clone)]
struct Push {
    project_id: u64,
    before: String,
    after: String,
    git_ref: String,
}

fn is_zero(sha: &str) -> bool {
    sha.bytes().all(|b| b == b'0')
}

fn is_object_id(sha: &str) -> bool {
    matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_hexdigit())
}

fn bad_body(message: &str) -> CoreError {
    CoreError::validation("body", message.to_owned())
}

fn push_of(body: &GitLabPushEvent) -> Result<Push> {
    let project_id = body
        .project
        .as_ref()
        .map(|p| p.id)
        .or(body.project_id)
        .ok_or_else(|| bad_body("the event names no project (project.id)"))?;
    let sha = |value: &Option<String>, name: &str| -> Result<String> {
        match value {
            Some(v) if is_object_id(v) => Ok(v.to_ascii_lowercase()),
            _ => Err(bad_body(&format!("{name} must be a commit id"))),
        }
    };
    let git_ref = match &body.git_ref {
        Some(r) if r.starts_with("refs/") && r.len() <= 1024 && !r.chars().any(char::is_control) => r.clone(),
        _ => return Err(bad_body("ref must be a full ref name such as refs/heads/main")),
    };
    Ok(Push {
        project_id,
        before: sha(&body.before, "before")?,
        after: sha(&body.after, "after")?,
        git_ref,
    })
}

impl SecretScanning {
    /// Deletes the push event ids kept for deduplication whose time is over (the prune job).
    pub async fn prune_push_events(&self) -> Result<u64> {
        Ok(self.store.prune_scan_push_events(ms(self.clock.now())).await?)
    }

    /// Takes a push webhook: 401 ([`CoreError::Unauthorized`]) unless the token is the secret of
    /// a data source with auto-scan on that covers the project; then one push scan per such
    /// data source, unless the event was already received.
    pub async fn receive_push(&self, delivery: PushDelivery) -> Result<PushReceipt> {
        let refused = CoreError::Unauthorized("the webhook token is not valid");
        // Neither a token nor the body's project says which data source this is until both
        // agree: the same answer for every refusal.
        let project_id = delivery
            .body
            .project
            .as_ref()
            .map(|p| p.id)
            .or(delivery.body.project_id);
        let (Some(token), Some(project_id)) = (delivery.token.as_ref(), project_id) else {
            return Err(refused);
        };
        let mut sources = Vec::new();
        for row in self.store.scan_push_candidates(signed(project_id)).await? {
            let source = DataSource::try_from(row)?;
            if let Some(secret) = self.webhook_secret(&source).await?
                && labgate_crypto::constant_time_eq(
                    secret.expose_secret().as_bytes(),
                    token.expose_secret().as_bytes(),
                )
            {
                sources.push(source);
            }
        }
        if sources.is_empty() {
            return Err(refused);
        }
        let event = delivery.event.as_deref().unwrap_or_default();
        if !matches!(event, "Push Hook" | "Tag Push Hook") {
            return Ok(PushReceipt {
                status: "ignored".to_owned(),
                scan_ids: Vec::new(),
            });
        }
        let push = push_of(&delivery.body)?;
        let now = self.clock.now();
        let mut queued = Vec::new();
        let mut recorded = Vec::new();
        let uuid = delivery
            .event_uuid
            .as_deref()
            .filter(|u| !u.is_empty() && u.len() <= 128);
        for source in &sources {
            if let Some(uuid) = uuid
                && !self
                    .store
                    .record_scan_push_event(source.id.as_str(), uuid, ms(now), ms(now + EVENT_MEMORY))
                    .await?
            {
                continue;
            }
            match self.take_push(source, &push).await {
                Ok(run) if is_zero(&push.after) => recorded.push(run.id.to_string()),
                Ok(run) => queued.push(run.id.to_string()),
                Err(error) => {
                    // GitLab retries a failed delivery with the same UUID: it must be taken then.
                    if let Some(uuid) = uuid {
                        let _ = self.store.forget_scan_push_event(source.id.as_str(), uuid).await;
                    }
                    return Err(error);
                }
            }
        }
        let status = match (queued.is_empty(), recorded.is_empty()) {
            (false, _) => "queued",
            (true, false) => "recorded",
            (true, true) => "duplicate",
        };
        queued.extend(recorded);
        Ok(PushReceipt {
            status: status.to_owned(),
            scan_ids: queued,
        })
    }

    /// Records a deleted ref's push as a finished scan, or queues the scan of a push.
    async fn take_push(&self, source: &DataSource, push: &Push) -> Result<ScanRun> {
        let resource = self.resource_of_project(source, push.project_id).await?;
        if is_zero(&push.after) {
            self.record_deleted_ref(source, resource.as_ref(), push).await
        } else {
            self.queue_push_scan(source, resource.as_ref(), push).await
        }
    }

    async fn resource_of_project(&self, source: &DataSource, project_id: u64) -> Result<Option<Resource>> {
        Ok(self
            .resources_of(source)
            .await?
            .into_iter()
            .find(|r| r.gitlab_project_id == project_id))
    }

    fn push_run_record(source: &DataSource, resource: Option<&Resource>, now: i64) -> ScanRunRecord {
        ScanRunRecord {
            id: ScanRunId::generate().to_string(),
            data_source_id: source.id.to_string(),
            resource_id: resource.map(|r| r.id.to_string()),
            kind: ScanKind::Push.as_str().to_owned(),
            status: ScanStatus::Queued.as_str().to_owned(),
            progress_done: 0,
            progress_total: None,
            progress_phase: None,
            findings_new: 0,
            findings_total: 0,
            error: None,
            job_id: None,
            created_at: now,
            started_at: None,
            finished_at: None,
        }
    }

    /// A deleted branch or tag brings nothing to scan; the push is recorded as a finished scan.
    async fn record_deleted_ref(
        &self,
        source: &DataSource,
        resource: Option<&Resource>,
        push: &Push,
    ) -> Result<ScanRun> {
        let now = ms(self.clock.now());
        let mut record = Self::push_run_record(source, resource, now);
        record.status = ScanStatus::Completed.as_str().to_owned();
        record.progress_phase = Some("done".to_owned());
        record.error = Some(format!("{} was deleted: nothing to scan", push.git_ref));
        record.started_at = Some(now);
        record.finished_at = Some(now);
        Ok(ScanRun::try_from(self.store.insert_scan_run(&record).await?)?)
    }

    async fn queue_push_scan(
        &self,
        source: &DataSource,
        resource: Option<&Resource>,
        push: &Push,
    ) -> Result<ScanRun> {
        let record = Self::push_run_record(source, resource, ms(self.clock.now()));
        let run = ScanRun::try_from(self.store.insert_scan_run(&record).await?)?;
        let (job, _) = self
            .jobs
            .enqueue(&JobSpec {
                tenant_id: Some(source.tenant_id.clone()),
                kind: JobKind::SecretScanPush,
                payload: json!({
                    "scanId": run.id,
                    "dataSourceId": source.id,
                    "projectId": push.project_id,
                    "before": push.before,
                    "after": push.after,
                    "ref": push.git_ref,
                }),
                run_at: None,
                max_attempts: SCAN_JOB_ATTEMPTS,
                dedupe_key: None,
            })
            .await?;
        self.store.set_scan_run_job(run.id.as_str(), job.as_str()).await?;
        Ok(run)
    }

    /// Runs a `secret-scanning.push` job.
    pub async fn run_push_job(&self, job: &Job) -> JobEnd {
        let (source, run) = match self.job_target(job).await {
            Ok(target) => target,
            Err(end) => return end,
        };
        let field = |name: &str| job.payload.get(name).and_then(serde_json::Value::as_str);
        let push = match (
            job.payload.get("projectId").and_then(serde_json::Value::as_u64),
            field("before"),
            field("after"),
            field("ref"),
        ) {
            (Some(project_id), Some(before), Some(after), Some(git_ref)) => Push {
                project_id,
                before: before.to_owned(),
                after: after.to_owned(),
                git_ref: git_ref.to_owned(),
            },
            _ => {
                return JobEnd::Failed {
                    message: "the job does not name the push".to_owned(),
                };
            }
        };
        if let Err(error) = self
            .store
            .update_scan_run(
                run.id.as_str(),
                &ScanRunUpdate {
                    status: Some(ScanStatus::Scanning.as_str()),
                    started_at: Some(ms(self.clock.now())),
                    progress_phase: Some("fetching"),
                    progress_total: Some(1),
                    ..ScanRunUpdate::default()
                },
            )
            .await
        {
            return JobEnd::Retry {
                message: format!("the scan cannot be updated: {error}"),
            };
        }
        match self.scan_push(&source, &run, &push).await {
            Ok((outcome, note)) => {
                // Only a push with nothing to scan says why; a scan's counts say the rest.
                let _ = self
                    .finish_push(&run, ScanStatus::Completed, note.as_deref(), Some(outcome))
                    .await;
                let message =
                    note.unwrap_or_else(|| format!("{} finding(s), {} new", outcome.seen, outcome.new));
                JobEnd::Done { message }
            }
            Err(error) => {
                let message = error.to_string();
                let transient = matches!(error, CoreError::Unavailable(_) | CoreError::Internal(_));
                if transient && job.attempts < job.max_attempts {
                    self.queue_again(&run, &message).await;
                    JobEnd::Retry { message }
                } else {
                    let _ = self
                        .finish_push(&run, ScanStatus::Failed, Some(&message), None)
                        .await;
                    JobEnd::Failed { message }
                }
            }
        }
    }

    async fn finish_push(
        &self,
        run: &ScanRun,
        status: ScanStatus,
        message: Option<&str>,
        outcome: Option<RepoOutcome>,
    ) -> Result<()> {
        self.store
            .update_scan_run(
                run.id.as_str(),
                &ScanRunUpdate {
                    status: Some(status.as_str()),
                    error: message,
                    findings_new: outcome.map(|o| signed(o.new)),
                    findings_total: outcome.map(|o| signed(o.seen)),
                    progress_done: outcome.map(|_| 1),
                    progress_phase: Some("done"),
                    finished_at: Some(ms(self.clock.now())),
                    ..ScanRunUpdate::default()
                },
            )
            .await?;
        Ok(())
    }

    /// Fetches the repository and scans what the push brought in. Answers a note instead of a
    /// count when there was nothing to scan.
    async fn scan_push(
        &self,
        source: &DataSource,
        run: &ScanRun,
        push: &Push,
    ) -> Result<(RepoOutcome, Option<String>)> {
        let mut resource = match &run.resource_id {
            Some(id) => self.resources_of(source).await?.into_iter().find(|r| &r.id == id),
            None => None,
        };
        if resource.is_none() {
            resource = self.resource_of_project(source, push.project_id).await?;
        }
        // A project created in a group after the data source last listed it: list again.
        if resource.is_none() && source.config.scope == ScanScope::Group {
            let (_, projects) = self.discover_now(source).await?;
            let resources = self.record_resources(source, &projects).await?;
            resource = resources
                .into_iter()
                .find(|r| r.gitlab_project_id == push.project_id);
        }
        let Some(resource) = resource else {
            return Ok((
                RepoOutcome::default(),
                Some(format!(
                    "project {} is not one the data source scans",
                    push.project_id
                )),
            ));
        };
        let session = self
            .connections
            .named_session(&source.tenant_id, &source.connection_id)
            .await?;
        // What the mirror knew before this fetch: a new branch's commits are those it did not.
        let mirror = self
            .settings
            .cache
            .mirror_path(&session.connection.instance_url, resource.gitlab_project_id);
        let known = if mirror.join("HEAD").is_file() {
            let path = mirror.clone();
            tokio::task::spawn_blocking(move || labgate_scan::read_refs(&path))
                .await
                .map_err(CoreError::internal)?
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let dir = self.fetch_mirror(&session, &resource).await?;
        let scanner = scanner().map_err(|message| CoreError::internal(std::io::Error::other(message)))?;
        let push = push.clone();
        let output = tokio::task::spawn_blocking(move || {
            let others = || -> Vec<String> {
                known
                    .iter()
                    .filter(|(name, _)| {
                        *name != push.git_ref
                            && (name.starts_with("refs/heads/") || name.starts_with("refs/tags/"))
                    })
                    .map(|(_, id)| id.clone())
                    .collect()
            };
            let hidden = if is_zero(&push.before) {
                others()
            } else if labgate_scan::is_ancestor(&dir, &push.before, &push.after)? {
                vec![push.before.clone()]
            } else {
                // A force push: what the old tip and the other branches held was scanned.
                let mut hidden = others();
                hidden.push(push.before.clone());
                hidden
            };
            scanner.scan_commits(&dir, std::slice::from_ref(&push.after), &hidden, &NoProgress)
        })
        .await
        .map_err(CoreError::internal)?
        .map_err(|error| CoreError::Unavailable(format!("the pushed commits could not be read: {error}")))?;
        let leaked = LeakedConnections::default();
        let stored = self
            .store_output(&session, source, run, &resource, output, &leaked)
            .await;
        // Rotated once the pushed commits are stored, as a full scan does after its last fetch.
        self.rotate_leaked(&source.tenant_id, leaked.take()).await;
        Ok((stored?, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_need_full_commit_ids_and_a_full_ref() {
        let body = |before: &str, after: &str, git_ref: &str| GitLabPushEvent {
            object_kind: Some("push".to_owned()),
            before: Some(before.to_owned()),
            after: Some(after.to_owned()),
            git_ref: Some(git_ref.to_owned()),
            checkout_sha: None,
            project_id: Some(7),
            project: None,
            total_commits_count: None,
        };
        let zero = "0".repeat(40);
        let sha = "a".repeat(40);
        assert!(push_of(&body(&zero, &sha, "refs/heads/main")).is_ok());
        assert!(push_of(&body("abc", &sha, "refs/heads/main")).is_err());
        assert!(push_of(&body(&zero, &sha, "main")).is_err());
        assert!(push_of(&body(&zero, &sha, "refs/heads/a\nb")).is_err());
        assert!(is_zero(&zero) && !is_zero(&sha));
    }
}
