//! Scan jobs: fetch each repository's mirror, read its whole history with the engine, and store
//! what was found.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use futures_util::StreamExt as _;
use labgate_gitlab::Credential;
use labgate_proto::secret_scanning::{FindingStatus, FindingVerification, ScanKind, ScanStatus};
use labgate_scan::{GitOptions, NoProgress, RuleSet, Scanner};
use labgate_store::{FindingLocationRecord, FindingRecord, ScanRunUpdate, StoreError};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use super::git::{FetchError, GitTransport, Remote, clone_url};
use super::{DataSource, Resource, ScanRun, SecretScanning};
use crate::connections::GitLabSession;
use crate::connections::LeakRotation;
use crate::ids::{ConnectionId, FindingId, ScanDataSourceId, ScanRunId, TenantId};
use crate::jobs::{Job, Progress};
use crate::rows::{ms, signed};
use crate::{CoreError, Result};

/// How a scan job ended, for the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEnd {
    Done {
        message: String,
    },
    /// A transient failure: the queue should try again later.
    Retry {
        message: String,
    },
    /// Trying again cannot help (the data source is gone, the connection unusable).
    Failed {
        message: String,
    },
}

/// What scanning one repository produced.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct RepoOutcome {
    pub(super) new: u64,
    pub(super) seen: u64,
}

/// Connections a scan found leaked, with the findings that hold their tokens. They are rotated
/// once every repository is read: the scan may run through one of them, and its token must keep
/// working until the last fetch.
#[derive(Default)]
pub(super) struct LeakedConnections(parking_lot::Mutex<BTreeMap<ConnectionId, BTreeSet<String>>>);

impl LeakedConnections {
    fn add(&self, connections: Vec<ConnectionId>, finding_id: &str) {
        let mut leaked = self.0.lock();
        for connection in connections {
            leaked
                .entry(connection)
                .or_default()
                .insert(finding_id.to_owned());
        }
    }

    pub(super) fn take(&self) -> BTreeMap<ConnectionId, BTreeSet<String>> {
        std::mem::take(&mut *self.0.lock())
    }
}

/// The engine with its built-in rules, compiled once per process.
pub(super) fn scanner() -> std::result::Result<Arc<Scanner>, String> {
    static SCANNER: OnceLock<std::result::Result<Arc<Scanner>, String>> = OnceLock::new();
    SCANNER
        .get_or_init(|| {
            RuleSet::builtin()
                .map_err(labgate_scan::ScanError::from)
                .and_then(Scanner::new)
                .map(Arc::new)
                .map_err(|error| format!("the scanning rules cannot be loaded: {error}"))
        })
        .clone()
}

/// What a person may see of a secret: its first characters (which name its kind, e.g.
/// `glpat-`) and nothing that helps guess the rest.
pub(crate) fn preview(secret: &str) -> String {
    let shown = (secret.chars().count() / 4).min(6);
    let head: String = secret.chars().take(shown).collect();
    format!("{head}{}", "*".repeat(8))
}

/// A link to the line in GitLab's blob view, from the instance URL as configured.
fn blob_link(instance_url: &str, project_path: &str, commit: &str, file: &str, line: u64) -> String {
    let file: String = file
        .split('/')
        .map(|segment| {
            url::form_urlencoded::byte_serialize(segment.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        })
        .collect::<Vec<_>>()
        .join("/");
    format!(
        "{}/{}/-/blob/{commit}/{file}#L{line}",
        instance_url.trim_end_matches('/'),
        project_path.trim_matches('/')
    )
}

/// Personal, project and group access tokens: the ones `personal_access_tokens/self` answers for.
fn is_gitlab_token(rule_id: &str, secret: &SecretString) -> bool {
    rule_id.contains("gitlab") && secret.expose_secret().starts_with("glpat-")
}

/// Asks the connection's own instance, and only it, whether a found token works. A read-only
/// call: `personal_access_tokens/self` changes nothing.
async fn verify(session: &GitLabSession, secret: &SecretString) -> FindingVerification {
    let found = Credential::PrivateToken(secret.clone());
    match session.client.personal_access_token_self(&found).await {
        Ok(token) if token.active && !token.revoked => FindingVerification::Active,
        Ok(_) | Err(labgate_gitlab::GitLabError::Unauthorized { .. }) => FindingVerification::Inactive,
        Err(_) => FindingVerification::Unknown,
    }
}

impl SecretScanning {
    /// Runs a `secret-scanning.scan` job held by `owner`.
    pub async fn run_job(&self, job: &Job, owner: &str) -> JobEnd {
        let (source, run) = match self.job_target(job).await {
            Ok(target) => target,
            Err(end) => return end,
        };
        let started = self.clock.now();
        if let Err(error) = self
            .store
            .update_scan_run(
                run.id.as_str(),
                &ScanRunUpdate {
                    status: Some(ScanStatus::Scanning.as_str()),
                    started_at: Some(ms(started)),
                    progress_phase: Some("listing"),
                    ..ScanRunUpdate::default()
                },
            )
            .await
        {
            return JobEnd::Retry {
                message: format!("the scan cannot be updated: {error}"),
            };
        }
        match self.scan(job, owner, &source, &run).await {
            Ok(outcome) => {
                let message = format!("{} finding(s), {} new", outcome.seen, outcome.new);
                let _ = self
                    .finish(&run, ScanStatus::Completed, None, Some(outcome))
                    .await;
                JobEnd::Done { message }
            }
            Err(error) => {
                let message = error.to_string();
                let last_attempt = job.attempts >= job.max_attempts;
                let transient = matches!(error, CoreError::Unavailable(_) | CoreError::Internal(_));
                if transient && !last_attempt {
                    self.queue_again(&run, &message).await;
                    JobEnd::Retry { message }
                } else {
                    let _ = self.finish(&run, ScanStatus::Failed, Some(&message), None).await;
                    JobEnd::Failed { message }
                }
            }
        }
    }

    pub(super) async fn finish(
        &self,
        run: &ScanRun,
        status: ScanStatus,
        error: Option<&str>,
        outcome: Option<RepoOutcome>,
    ) -> Result<()> {
        self.store
            .update_scan_run(
                run.id.as_str(),
                &ScanRunUpdate {
                    status: Some(status.as_str()),
                    error,
                    findings_new: outcome.map(|o| signed(o.new)),
                    findings_total: outcome.map(|o| signed(o.seen)),
                    progress_phase: Some("done"),
                    finished_at: Some(ms(self.clock.now())),
                    ..ScanRunUpdate::default()
                },
            )
            .await?;
        Ok(())
    }

    /// The data source and scan a job is about, or why the job cannot run.
    pub(super) async fn job_target(&self, job: &Job) -> std::result::Result<(DataSource, ScanRun), JobEnd> {
        let failed = |message: &str| JobEnd::Failed {
            message: message.to_owned(),
        };
        let tenant: TenantId = job
            .tenant_id
            .clone()
            .ok_or_else(|| failed("the job names no tenant"))?;
        let field = |name: &str| job.payload.get(name).and_then(serde_json::Value::as_str);
        let source_id = field("dataSourceId")
            .and_then(ScanDataSourceId::parse)
            .ok_or_else(|| failed("the job names no data source"))?;
        let run_id = field("scanId")
            .and_then(ScanRunId::parse)
            .ok_or_else(|| failed("the job names no scan"))?;
        let source = match self.fetch(&tenant, &source_id).await {
            Ok(source) => source,
            Err(CoreError::NotFound(_)) => return Err(failed("the data source was deleted")),
            Err(other) => {
                return Err(JobEnd::Retry {
                    message: format!("the data source cannot be read: {other}"),
                });
            }
        };
        // The scan is recorded just after its job is queued: a worker quicker than that tries
        // again.
        match self.store.scan_run(run_id.as_str()).await {
            Ok(row) if row.data_source_id == source.id.as_str() => match ScanRun::try_from(row) {
                Ok(run) => Ok((source, run)),
                Err(error) => Err(failed(&error.to_string())),
            },
            Ok(_) => Err(failed("the scan belongs to another data source")),
            Err(StoreError::NotFound) => Err(JobEnd::Retry {
                message: "the scan is not recorded yet".to_owned(),
            }),
            Err(other) => Err(JobEnd::Retry {
                message: format!("the scan cannot be read: {other}"),
            }),
        }
    }

    async fn progress(&self, job: &Job, owner: &str, run: &ScanRun, progress: &Progress) {
        let _ = self.jobs.progress(&job.id, owner, progress).await;
        let _ = self
            .store
            .update_scan_run(
                run.id.as_str(),
                &ScanRunUpdate {
                    progress_done: Some(signed(progress.done)),
                    progress_total: progress.total.map(signed),
                    progress_phase: progress.phase.as_deref(),
                    ..ScanRunUpdate::default()
                },
            )
            .await;
    }

    async fn scan(&self, job: &Job, owner: &str, source: &DataSource, run: &ScanRun) -> Result<RepoOutcome> {
        // A full scan lists the repositories again: projects come and go between scans.
        let (session, resources) = match (&run.kind, &run.resource_id) {
            (ScanKind::Resource | ScanKind::Push, Some(resource_id)) => {
                let session = self
                    .connections
                    .named_session(&source.tenant_id, &source.connection_id)
                    .await?;
                let row = match self
                    .store
                    .scan_resource(source.id.as_str(), resource_id.as_str())
                    .await
                {
                    Ok(row) => row,
                    Err(StoreError::NotFound) => {
                        return Err(CoreError::validation(
                            "resourceId",
                            "the repository is no longer part of the data source",
                        ));
                    }
                    Err(other) => return Err(other.into()),
                };
                (session, vec![Resource::try_from(row)?])
            }
            _ => {
                let (session, projects) = self.discover_now(source).await?;
                let resources = self.record_resources(source, &projects).await?;
                (session, resources)
            }
        };
        let total = resources.len() as u64;
        let session = Arc::new(session);
        let mut outcome = RepoOutcome::default();
        let mut done = 0;
        let mut failures = Vec::new();
        // Whether trying again may help: not when every failure was a refusal (an address the
        // SSRF guard refuses stays refused until an operator allows it).
        let mut retryable = false;
        self.progress(
            job,
            owner,
            run,
            &Progress {
                done,
                total: Some(total),
                phase: Some("scanning".to_owned()),
            },
        )
        .await;
        let leaked = LeakedConnections::default();
        let mut scans = futures_util::stream::iter(resources.into_iter().map(|resource| {
            let session = session.clone();
            let leaked = &leaked;
            async move {
                let result = self
                    .scan_repository(&session, source, run, &resource, leaked)
                    .await;
                (resource, result)
            }
        }))
        .buffer_unordered(self.settings.parallelism);
        while let Some((resource, result)) = scans.next().await {
            done += 1;
            match result {
                Ok(repo) => {
                    outcome.new += repo.new;
                    outcome.seen += repo.seen;
                }
                Err(error) => {
                    tracing::warn!(resource = %resource.path, error = %error, "a repository could not be scanned");
                    retryable |= !matches!(error, CoreError::Conflict(_));
                    failures.push(format!("{}: {error}", resource.path));
                }
            }
            self.progress(
                job,
                owner,
                run,
                &Progress {
                    done,
                    total: Some(total),
                    phase: Some("scanning".to_owned()),
                },
            )
            .await;
        }
        drop(scans);
        self.rotate_leaked(&source.tenant_id, leaked.take()).await;
        if failures.is_empty() {
            return Ok(outcome);
        }
        let message = format!(
            "{} of {total} repositories could not be scanned ({}); {} finding(s) stored from the others",
            failures.len(),
            failures.join("; "),
            outcome.seen
        );
        if retryable {
            Err(CoreError::Unavailable(message))
        } else {
            Err(CoreError::Conflict(message))
        }
    }

    /// Puts a scan run back in the queue after a transient failure, keeping the error for the
    /// page that shows it while it waits for its next attempt. The job's retry does the rest.
    pub(super) async fn queue_again(&self, run: &ScanRun, message: &str) {
        let requeued = self
            .store
            .update_scan_run(
                run.id.as_str(),
                &ScanRunUpdate {
                    status: Some(ScanStatus::Queued.as_str()),
                    error: Some(message),
                    ..ScanRunUpdate::default()
                },
            )
            .await;
        if let Err(error) = requeued {
            tracing::warn!(scan_id = %run.id, error = %error, "a scan run could not be marked queued again");
        }
    }

    /// Rotates the leaked connections that rotate automatically, and notes on each finding what
    /// became of the connection holding its token. One connection's failure never stops the
    /// others; each stays `compromised` with its reason.
    pub(super) async fn rotate_leaked(
        &self,
        tenant_id: &TenantId,
        leaked: BTreeMap<ConnectionId, BTreeSet<String>>,
    ) {
        for (connection_id, finding_ids) in leaked {
            let mut revoked = false;
            let remark = match self
                .connections
                .rotate_after_leak(tenant_id, &connection_id)
                .await
            {
                Ok(LeakRotation::Rotated { name }) => {
                    tracing::info!(connection_id = %connection_id, "rotated a connection whose token was found leaked");
                    revoked = true;
                    format!(
                        "connection {name} ({connection_id}) held this token; labgate rotated it, and GitLab revoked this token"
                    )
                }
                Ok(LeakRotation::NotAutomatic) => format!(
                    "connection {connection_id} holds this token and is compromised; it does not rotate automatically"
                ),
                Ok(LeakRotation::Failed { reason }) => format!(
                    "connection {connection_id} holds this token and is compromised; its automatic rotation failed: {reason}"
                ),
                Ok(LeakRotation::AlreadyReplaced | LeakRotation::Deferred) => continue,
                Err(error) => {
                    tracing::warn!(connection_id = %connection_id, error = %error, "a leaked connection could not be rotated");
                    continue;
                }
            };
            for finding_id in finding_ids {
                if let Err(error) = self.add_remark(tenant_id, &finding_id, &remark).await {
                    tracing::warn!(finding_id = %finding_id, error = %error, "a finding's remarks could not be updated");
                }
                // The rotation revoked the token at GitLab, so the finding no longer shows it
                // live; the next verification would say the same.
                if revoked
                    && let Err(error) = self
                        .store
                        .set_finding_verification(
                            &finding_id,
                            FindingVerification::Inactive.as_str(),
                            ms(self.clock.now()),
                        )
                        .await
                {
                    tracing::warn!(finding_id = %finding_id, error = %error, "a finding's verification could not be updated");
                }
            }
        }
    }

    /// Adds `remark` to a finding's remarks unless they say it already, keeping its status and
    /// the most recent remarks within the 1024 characters remarks hold.
    async fn add_remark(&self, tenant_id: &TenantId, finding_id: &str, remark: &str) -> Result<()> {
        let current = self.store.finding(tenant_id.as_str(), finding_id).await?;
        let remarks = match current.remarks.as_deref() {
            Some(existing) if existing.contains(remark) => return Ok(()),
            Some(existing) if !existing.is_empty() => format!("{existing}\n{remark}"),
            _ => remark.to_owned(),
        };
        let count = remarks.chars().count();
        let remarks: String = remarks.chars().skip(count.saturating_sub(1024)).collect();
        self.store
            .update_finding_status(
                tenant_id.as_str(),
                finding_id,
                &current.status,
                Some(&remarks),
                ms(self.clock.now()),
            )
            .await?;
        Ok(())
    }

    /// Fetches one repository's mirror, scans its full history and stores the findings.
    async fn scan_repository(
        &self,
        session: &GitLabSession,
        source: &DataSource,
        run: &ScanRun,
        resource: &Resource,
        leaked: &LeakedConnections,
    ) -> Result<RepoOutcome> {
        let dir = self.fetch_mirror(session, resource).await?;
        let scanner = scanner().map_err(|message| CoreError::internal(std::io::Error::other(message)))?;
        let output = tokio::task::spawn_blocking(move || {
            scanner.scan_repository(&dir, &GitOptions::default(), &NoProgress)
        })
        .await
        .map_err(CoreError::internal)?
        .map_err(|error| CoreError::Unavailable(format!("the repository could not be read: {error}")))?;
        self.store_output(session, source, run, resource, output, leaked)
            .await
    }

    /// Brings the mirror of a repository up to date through the connection and answers its path.
    pub(super) async fn fetch_mirror(
        &self,
        session: &GitLabSession,
        resource: &Resource,
    ) -> Result<std::path::PathBuf> {
        let connection = &session.connection;
        let username = match &session.credential {
            // GitLab takes OAuth tokens over HTTP only with this user name.
            Credential::OAuth(_) => "oauth2".to_owned(),
            Credential::PrivateToken(_) => connection
                .gitlab_user
                .username
                .clone()
                .unwrap_or_else(|| "labgate".to_owned()),
        };
        let url = clone_url(&connection.instance_url, &resource.path);
        let (instance, policy) = self.connections.reach_settings(connection).await?;
        let transport = GitTransport::prepare(&url, &instance, &policy, self.settings.cache.root())
            .await
            .map_err(|error| match error {
                FetchError::Refused(_) | FetchError::Url(_) => CoreError::Conflict(error.to_string()),
                other => CoreError::Unavailable(other.to_string()),
            })?;
        let remote = Remote {
            url,
            username: &username,
            token: session.credential.secret(),
            transport: &transport,
        };
        let dir = self
            .settings
            .cache
            .fetch(&connection.instance_url, resource.gitlab_project_id, &remote)
            .await
            .map_err(|error| CoreError::Unavailable(error.to_string()))?;
        Ok(dir)
    }

    /// Stores what scanning a repository found: findings deduplicated by value, their
    /// locations, verification of GitLab tokens, and the repository's last scan time.
    pub(super) async fn store_output(
        &self,
        session: &GitLabSession,
        source: &DataSource,
        run: &ScanRun,
        resource: &Resource,
        output: labgate_scan::ScanOutput,
        leaked: &LeakedConnections,
    ) -> Result<RepoOutcome> {
        let connection = &session.connection;
        let now = self.clock.now();
        let mut outcome = RepoOutcome::default();
        let mut seen = std::collections::HashSet::new();
        for found in output.findings {
            let secret = SecretString::from(found.secret.clone());
            let value_hmac = self
                .vault
                .hmac_hex(source.tenant_id.as_str(), secret.expose_secret().as_bytes())
                .await?;
            let record = FindingRecord {
                id: FindingId::generate().to_string(),
                tenant_id: source.tenant_id.to_string(),
                rule_id: found.rule_id.clone(),
                rule_name: found.rule_name.clone(),
                severity: serde_json::to_value(found.severity)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "high".to_owned()),
                value_hmac,
                preview: preview(secret.expose_secret()),
                fingerprint: found.fingerprint.clone(),
                status: FindingStatus::Unresolved.as_str().to_owned(),
                remarks: None,
                verification: FindingVerification::Unknown.as_str().to_owned(),
                verified_at: None,
                first_seen_at: ms(now),
                last_seen_at: ms(now),
                updated_at: ms(now),
            };
            let (stored, created) = self.store.upsert_finding(&record).await?;
            if created {
                outcome.new += 1;
            }
            let first_here = seen.insert(stored.id.clone());
            if first_here {
                outcome.seen += 1;
                // A token labgate itself holds: its connection is compromised. Asked for every
                // finding, not only new ones: a connection may have been given a token already
                // known leaked, and one a scan stopped before rotating is rotated now.
                let reason = format!(
                    "its token was found in {} ({}, commit {})",
                    resource.path,
                    found.location.path.as_deref().unwrap_or("an unreachable object"),
                    found
                        .location
                        .commit
                        .as_ref()
                        .map_or("unknown", |c| c.id.as_str())
                );
                let holders = self
                    .connections
                    .mark_leaked(&source.tenant_id, &stored.value_hmac, &reason)
                    .await?;
                leaked.add(holders, &stored.id);
            }
            if stored.verification == FindingVerification::Unknown.as_str()
                && is_gitlab_token(&found.rule_id, &secret)
            {
                let verdict = verify(session, &secret).await;
                if verdict != FindingVerification::Unknown {
                    self.store
                        .set_finding_verification(&stored.id, verdict.as_str(), ms(self.clock.now()))
                        .await?;
                }
            }
            let location = &found.location;
            let file = location.path.clone().unwrap_or_default();
            let commit = location.commit.as_ref();
            let commit_id = commit.map(|c| c.id.clone()).unwrap_or_default();
            let line = location.start_line as u64;
            self.store
                .insert_finding_location(&FindingLocationRecord {
                    finding_id: stored.id,
                    resource_id: resource.id.to_string(),
                    link: blob_link(&connection.instance_url, &resource.path, &commit_id, &file, line),
                    file_path: file,
                    commit_sha: commit_id,
                    line: signed(line),
                    author_name: commit.map(|c| c.author.clone()),
                    author_email: commit.map(|c| c.email.clone()),
                    committed_at: commit
                        .and_then(|c| {
                            OffsetDateTime::parse(&c.date, &time::format_description::well_known::Rfc3339)
                                .ok()
                        })
                        .map(ms),
                    scan_run_id: Some(run.id.to_string()),
                    first_seen_at: ms(now),
                })
                .await?;
        }
        self.store
            .set_scan_resource_scanned(resource.id.as_str(), ms(self.clock.now()))
            .await?;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_show_the_kind_never_the_secret() {
        assert_eq!(preview("glpat-abcdefghijklmnopqrst"), "glpat-********");
        assert_eq!(preview("short"), "s********");
        assert!(!preview("AKIAIOSFODNN7EXAMPLE").contains("IOSF"));
    }

    #[test]
    fn links_keep_the_instance_path_prefix() {
        assert_eq!(
            blob_link(
                "https://git.example.com/gitlab/",
                "acme/sub/api",
                "abc",
                "config/a b.env",
                3
            ),
            "https://git.example.com/gitlab/acme/sub/api/-/blob/abc/config/a%20b.env#L3"
        );
    }
}
