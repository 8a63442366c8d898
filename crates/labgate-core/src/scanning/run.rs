//! Scan jobs: fetch each repository's mirror, read its whole history with the engine, and store
//! what was found.

use std::sync::{Arc, OnceLock};

use futures_util::StreamExt as _;
use labgate_gitlab::Credential;
use labgate_proto::secret_scanning::{FindingStatus, FindingVerification, ScanKind, ScanStatus};
use labgate_scan::{GitOptions, NoProgress, RuleSet, Scanner};
use labgate_store::{FindingLocationRecord, FindingRecord, ScanRunUpdate, StoreError};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use super::git::{Remote, clone_url};
use super::{DataSource, Resource, ScanRun, SecretScanning};
use crate::connections::GitLabSession;
use crate::ids::{FindingId, ScanDataSourceId, ScanRunId, TenantId};
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
                    let _ = self
                        .store
                        .update_scan_run(
                            run.id.as_str(),
                            &ScanRunUpdate {
                                status: Some(ScanStatus::Queued.as_str()),
                                error: Some(&message),
                                ..ScanRunUpdate::default()
                            },
                        )
                        .await;
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
        let mut scans = futures_util::stream::iter(resources.into_iter().map(|resource| {
            let session = session.clone();
            async move {
                let result = self.scan_repository(&session, source, run, &resource).await;
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
        if failures.is_empty() {
            Ok(outcome)
        } else {
            Err(CoreError::Unavailable(format!(
                "{} of {total} repositories could not be scanned ({}); {} finding(s) stored from the others",
                failures.len(),
                failures.join("; "),
                outcome.seen
            )))
        }
    }

    /// Fetches one repository's mirror, scans its full history and stores the findings.
    async fn scan_repository(
        &self,
        session: &GitLabSession,
        source: &DataSource,
        run: &ScanRun,
        resource: &Resource,
    ) -> Result<RepoOutcome> {
        let dir = self.fetch_mirror(session, resource).await?;
        let scanner = scanner().map_err(|message| CoreError::internal(std::io::Error::other(message)))?;
        let output = tokio::task::spawn_blocking(move || {
            scanner.scan_repository(&dir, &GitOptions::default(), &NoProgress)
        })
        .await
        .map_err(CoreError::internal)?
        .map_err(|error| CoreError::Unavailable(format!("the repository could not be read: {error}")))?;
        self.store_output(session, source, run, resource, output).await
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
        let remote = Remote {
            url: clone_url(&connection.instance_url, &resource.path),
            username: &username,
            token: session.credential.secret(),
            ca_file: None,
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
                // A token labgate itself holds: its connection is compromised.
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
                self.connections
                    .mark_leaked(&source.tenant_id, &stored.value_hmac, &reason)
                    .await?;
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
            if seen.insert(stored.id.clone()) {
                outcome.seen += 1;
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
