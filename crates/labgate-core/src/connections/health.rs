//! The status machine: health checks move a connection between the states of DESIGN.md, each
//! transition writing one event and one outgoing webhook.

use futures_util::StreamExt;
use labgate_gitlab::{Credential, Evidence, GitLabError, TokenInfo, UnauthorizedReason};
use labgate_proto::audit::{AuditAction, ResourceType};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::model::{Connection, ConnectionEventKind, ConnectionMethod, ConnectionStatus};
use super::refresh::{RefreshReason, read_refreshes};
use super::{Connections, apply_token_info, validate, view};
use crate::audit::AuditEvent;
use crate::auth::{Access, Actor, Principal};
use crate::jobs::{JobKind, JobSpec, Settled, jittered};
use crate::timefmt::format_date;
use crate::{CoreError, Result};

/// Default interval between health sweeps: 6 hours (jittered by ±10%).
pub const CHECK_INTERVAL: Duration = Duration::hours(6);
/// Connections checked at once by a sweep.
const CHECK_CONCURRENCY: usize = 8;
/// Consecutive transient failures before a connection is `unreachable`.
pub const UNREACHABLE_AFTER: u32 = 3;

/// `active`, `expiring` (within 30, 7 or 1 days) or `expired`, from the expiry alone.
pub fn status_for_expiry(
    expires_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> (ConnectionStatus, Option<String>) {
    let Some(at) = expires_at else {
        return (ConnectionStatus::Active, None);
    };
    let date = format_date(at);
    if at <= now {
        return (
            ConnectionStatus::Expired,
            Some(format!("the token expired on {date}")),
        );
    }
    let left = at - now;
    for days in [1, 7, 30] {
        if left <= Duration::days(days) {
            let unit = if days == 1 { "day" } else { "days" };
            return (
                ConnectionStatus::Expiring,
                Some(format!("the token expires within {days} {unit}, on {date}")),
            );
        }
    }
    (ConnectionStatus::Active, None)
}

/// [`status_for_expiry`] of what introspection found. When GitLab could not describe the token
/// (before 15.5), the reason says what could not be verified, so nobody reads "active" as
/// "checked in full".
pub fn status_for_token(info: &TokenInfo, now: OffsetDateTime) -> (ConnectionStatus, Option<String>) {
    let (status, reason) = status_for_expiry(info.expires_at, now);
    let Evidence::Behaviour {
        gitlab_version,
        reads_api,
    } = &info.evidence
    else {
        return (status, reason);
    };
    let seen = if *reads_api {
        "the token works and can read the API, but"
    } else {
        "the token works but cannot read the API, and"
    };
    let note = format!(
        "GitLab {gitlab_version} cannot describe access tokens (15.5 and later can): {seen} its expiry and scopes could not be verified"
    );
    (
        status,
        Some(reason.map_or(note.clone(), |reason| format!("{reason}; {note}"))),
    )
}

/// The status a check finds, and why.
type Finding = (ConnectionStatus, Option<String>);

impl Connections {
    /// Checks the connection at GitLab now and waits for an automatic rotation it starts.
    pub async fn check(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<labgate_proto::connections::ConnectionView> {
        match self.check_within(principal, id, None).await? {
            Settled::Done(view) => Ok(view),
            Settled::Running(job) => Err(CoreError::Unavailable(format!(
                "the rotation the check started goes on in job {}",
                job.id
            ))),
        }
    }

    /// `POST …/gitlab/{id}/check`: checks at once and answers with the updated connection. When
    /// the check rotates the token (auto-rotation is due), it waits up to `wait` (`None`: until
    /// the rotation ends) before answering with the job that follows the rotation.
    pub async fn check_within(
        &self,
        principal: &Principal,
        id: &str,
        wait: Option<std::time::Duration>,
    ) -> Result<Settled<labgate_proto::connections::ConnectionView>> {
        principal.require(Access::Write)?;
        let connection = self.load(principal, id).await?;
        let checked = self.check_connection(connection, wait).await?;
        let details = match &checked {
            Settled::Done(checked) => json!({"status": checked.status}),
            Settled::Running(job) => json!({"rotationJobId": job.id}),
        };
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::ConnectionCheck,
                    resource_kind: ResourceType::AppConnection,
                    resource_id: Some(id),
                    details: Some(details),
                },
            )
            .await?;
        Ok(checked.map(|checked| view(&checked)))
    }

    /// Checks one connection against GitLab, saves the outcome, records a transition, and
    /// rotates the token when auto-rotation is due (waiting for that up to `wait`).
    async fn check_connection(
        &self,
        connection: Connection,
        wait: Option<std::time::Duration>,
    ) -> Result<Settled<Connection>> {
        self.recover_connection_journal(&connection).await?;
        let current = self.fetch(&connection.tenant_id, &connection.id).await?;
        let now = self.clock.now();
        let mut next = current.clone();
        next.last_checked_at = Some(now);
        if current.status.needs_person() {
            return self.save_health(&current, next).await.map(Settled::Done);
        }
        if current.method == ConnectionMethod::OAuth {
            return self.check_oauth(current).await.map(Settled::Done);
        }
        (next.status, next.status_reason) = self.finding(&current, &mut next, now).await?;
        let saved = self.save_health(&current, next).await?;
        if saved.auto_rotate
            && saved.status.is_usable()
            && saved
                .expires_at
                .is_some_and(|at| at - now <= Duration::days(i64::from(saved.rotate_before_days)))
        {
            return self.rotate_when_due(saved, wait).await;
        }
        Ok(Settled::Done(saved))
    }

    /// Asks GitLab about the token and says what status that means; what introspection learned
    /// goes into `next`.
    async fn finding(
        &self,
        current: &Connection,
        next: &mut Connection,
        now: OffsetDateTime,
    ) -> Result<Finding> {
        let token = self.current_credential(current).await?;
        let outcome = match self.client_for(current).await {
            Ok(client) => client.introspect(&Credential::PrivateToken(token)).await,
            Err(error) => Err(GitLabError::Other {
                status: 0,
                message: error.to_string(),
            }),
        };
        let finding = match outcome {
            Ok(info) => {
                apply_token_info(next, &info);
                next.consecutive_failures = 0;
                let resource = next.resource.as_ref().map(|resource| resource.kind);
                if info.revoked {
                    (
                        ConnectionStatus::Revoked,
                        Some("GitLab reports the token revoked".to_owned()),
                    )
                } else if let Some(gaps) = validate::token_usage_gaps(&next.usages, &info, resource) {
                    (ConnectionStatus::InsufficientScope, Some(gaps))
                } else if !info.active {
                    (
                        ConnectionStatus::Expired,
                        Some("GitLab reports the token inactive (expired)".to_owned()),
                    )
                } else {
                    status_for_token(&info, now)
                }
            }
            Err(GitLabError::Unauthorized { reason }) => {
                next.consecutive_failures = 0;
                match reason {
                    UnauthorizedReason::Expired => (
                        ConnectionStatus::Expired,
                        Some("GitLab refuses the token: it has expired".to_owned()),
                    ),
                    UnauthorizedReason::Revoked => (
                        ConnectionStatus::Revoked,
                        Some("GitLab refuses the token: it was revoked".to_owned()),
                    ),
                    UnauthorizedReason::Invalid => (
                        ConnectionStatus::Revoked,
                        Some("GitLab no longer knows the token (deleted or revoked)".to_owned()),
                    ),
                }
            }
            Err(GitLabError::InsufficientScope { required }) => {
                next.consecutive_failures = 0;
                (
                    ConnectionStatus::InsufficientScope,
                    Some(format!(
                        "the token lacks a needed scope: one of {}",
                        required.join(", ")
                    )),
                )
            }
            Err(error) if error.is_transient() => {
                next.consecutive_failures = current.consecutive_failures.saturating_add(1);
                if next.consecutive_failures >= UNREACHABLE_AFTER {
                    (
                        ConnectionStatus::Unreachable,
                        Some(format!(
                            "GitLab could not be reached in {UNREACHABLE_AFTER} consecutive checks"
                        )),
                    )
                } else {
                    tracing::info!(connection_id = %current.id, error = %error, "transient failure checking a connection");
                    (current.status, current.status_reason.clone())
                }
            }
            Err(error) => {
                next.consecutive_failures = 0;
                (ConnectionStatus::Error, Some(error.to_string()))
            }
        };
        Ok(finding)
    }

    /// Checks an OAuth connection: refreshes it when a read would, then asks GitLab about the
    /// access token (`/oauth/token/info`). A token GitLab refuses gets one refresh, which tells a
    /// revoked grant (`needs_reauth`) from a revoked access token; scopes GitLab no longer
    /// grants become `insufficient_scope`.
    async fn check_oauth(&self, connection: Connection) -> Result<Connection> {
        let mut current = connection;
        if read_refreshes(&current, self.clock.now()) {
            match self.refresh_oauth(current.clone(), RefreshReason::OnDemand).await {
                Ok(refreshed) => current = refreshed,
                Err(error @ (CoreError::Unavailable(_) | CoreError::Conflict(_))) => {
                    tracing::info!(connection_id = %current.id, error = %error, "refresh during a check did not happen");
                    current = self.reload(&current).await?;
                }
                Err(other) => return Err(other),
            }
            if current.status.needs_person() {
                return Ok(current);
            }
        }
        let token = self.current_credential(&current).await?;
        let target = self
            .instances
            .oauth_target_of(&current.tenant_id, current.instance_id.as_ref())
            .await?;
        let outcome = match self.oauth_client(&target) {
            Ok(client) => client.token_info(&token).await,
            Err(error) => Err(GitLabError::Other {
                status: 0,
                message: error.to_string(),
            }),
        };
        let now = self.clock.now();
        let mut next = current.clone();
        next.last_checked_at = Some(now);
        match outcome {
            Ok(info) => {
                next.consecutive_failures = 0;
                let granted: std::collections::BTreeSet<&str> =
                    info.scope.iter().map(String::as_str).collect();
                let lost: Vec<&str> = current
                    .scopes
                    .iter()
                    .filter(|scope| !granted.contains(scope))
                    .collect();
                (next.status, next.status_reason) = if lost.is_empty() {
                    (ConnectionStatus::Active, None)
                } else {
                    (
                        ConnectionStatus::InsufficientScope,
                        Some(format!(
                            "GitLab no longer grants the connection {}; reconnect it through OAuth to grant them again",
                            lost.join(", ")
                        )),
                    )
                };
            }
            Err(GitLabError::Unauthorized { .. }) => {
                // The access token was revoked (or the whole grant): a refresh tells which.
                return match self.refresh_oauth(current.clone(), RefreshReason::Forced).await {
                    Ok(refreshed) => Ok(refreshed),
                    Err(CoreError::Unavailable(_) | CoreError::Conflict(_)) => self.reload(&current).await,
                    Err(other) => Err(other),
                };
            }
            Err(error) if error.is_transient() => {
                next.consecutive_failures = current.consecutive_failures.saturating_add(1);
                if next.consecutive_failures >= UNREACHABLE_AFTER {
                    next.status = ConnectionStatus::Unreachable;
                    next.status_reason = Some(format!(
                        "GitLab could not be reached in {UNREACHABLE_AFTER} consecutive checks"
                    ));
                }
            }
            Err(error) => {
                next.consecutive_failures = 0;
                next.status = ConnectionStatus::Error;
                next.status_reason = Some(error.to_string());
            }
        }
        self.save_health(&current, next).await
    }

    /// Rotates a connection whose automatic rotation is due, waiting up to `wait`. A refusal by
    /// GitLab (nothing changed there) or another rotation holding the lock leaves the check
    /// successful: the next check tries again.
    async fn rotate_when_due(
        &self,
        connection: Connection,
        wait: Option<std::time::Duration>,
    ) -> Result<Settled<Connection>> {
        let this = self.clone();
        let planned = connection.clone();
        let rotation = self
            .run_token_change(
                JobKind::ConnectionRotate,
                &connection,
                wait,
                move |job_id| async move { this.rotate_connection(&job_id, planned).await },
            )
            .await;
        match rotation {
            Ok(settled) => Ok(settled),
            Err(error @ (CoreError::Unavailable(_) | CoreError::Conflict(_))) => {
                tracing::warn!(connection_id = %connection.id, error = %error, "automatic rotation did not happen");
                Ok(Settled::Done(connection))
            }
            Err(other) => Err(other),
        }
    }

    /// Saves a checked connection (version unchanged); a transition also writes its event and
    /// webhook.
    pub(super) async fn save_health(&self, before: &Connection, next: Connection) -> Result<Connection> {
        let transition = before.status != next.status
            || (next.status == ConnectionStatus::Expiring && before.status_reason != next.status_reason);
        let event = transition.then(|| {
            let kind = if next.status == ConnectionStatus::Active {
                ConnectionEventKind::Recovered
            } else {
                ConnectionEventKind::StatusChanged
            };
            self.event(&next, kind, Some(before.status), next.status_reason.clone())
        });
        match self.save(&next, before.version, event.as_ref()).await? {
            Some(saved) => {
                if transition {
                    self.emit_status(&saved, before.status, "status changed").await?;
                }
                Ok(saved)
            }
            // Changed meanwhile (a PATCH): that write wins; the next check sees it.
            None => self.fetch(&next.tenant_id, &next.id).await,
        }
    }

    /// One health sweep over every tenant's connections: journal recovery first, then a check
    /// of each connection. Failures of one connection never stop the sweep. Returns how many
    /// were checked.
    pub async fn check_all(&self) -> Result<usize> {
        self.recover_journal().await?;
        let mut after = String::new();
        let mut checked = 0;
        loop {
            let batch = self.store.connections_after(&after, 200).await?;
            let Some(last) = batch.last() else {
                return Ok(checked);
            };
            after.clone_from(&last.id);
            // A few connections at a time: different instances answer independently, and the
            // per-token rate limiter paces each token.
            let results: Vec<bool> = futures_util::stream::iter(batch)
                .map(|row| async move {
                    let id = row.id.clone();
                    let outcome = match Connection::try_from(row) {
                        // The sweep waits for every rotation it starts; if it is cancelled (its
                        // lease lost), the rotations go on as jobs of their own.
                        Ok(connection) => self.check_connection(connection, None).await,
                        Err(error) => Err(error.into()),
                    };
                    match outcome {
                        Ok(_) => true,
                        Err(error) => {
                            tracing::warn!(connection_id = %id, error = %error, "connection check failed");
                            false
                        }
                    }
                })
                .buffer_unordered(CHECK_CONCURRENCY)
                .collect()
                .await;
            checked += results.into_iter().filter(|ok| *ok).count();
        }
    }

    /// Queues a health sweep `after` from now (±10% jitter, at least a minute), once however
    /// many replicas ask; each sweep then queues the next itself.
    pub async fn schedule_health(&self, after: Duration) -> Result<()> {
        let mut spec = JobSpec::recurring(JobKind::ConnectionsHealth);
        spec.run_at = Some(self.clock.now() + jittered(after.max(Duration::MINUTE), 0.1));
        spec.max_attempts = 3;
        self.jobs.enqueue(&spec).await?;
        Ok(())
    }

    /// Audits an action labgate took on its own.
    pub(super) async fn audit_system(
        &self,
        connection: &Connection,
        action: AuditAction,
        details: serde_json::Value,
    ) -> Result<()> {
        self.audit
            .record_as(
                Some(&connection.tenant_id),
                &Actor::System,
                None,
                AuditEvent {
                    action,
                    resource_kind: ResourceType::AppConnection,
                    resource_id: Some(connection.id.as_str()),
                    details: Some(details),
                },
            )
            .await
    }

    /// The connection as stored now, or 404.
    pub(super) async fn reload(&self, connection: &Connection) -> Result<Connection> {
        self.fetch(&connection.tenant_id, &connection.id).await
    }
}
