//! The status machine: health checks move a connection between the states of DESIGN.md, each
//! transition writing one event and one outgoing webhook.

use futures_util::StreamExt;
use labgate_gitlab::{Credential, GitLabError, UnauthorizedReason};
use labgate_store::{ConnectionEventRecord, ConnectionRecord, StoreError};
use rand::Rng;
use serde_json::json;

use super::{Connections, apply_token_info, parse_list, resource_kind_of, validate, view};
use crate::audit::AuditEvent;
use crate::auth::{Access, Actor, Principal};
use crate::ids::new_id;
use crate::jobs::JobSpec;
use crate::timefmt::to_rfc3339;
use crate::{CoreError, Result};

/// The recurring job that checks every connection.
pub const CHECK_KIND: &str = "connections.health";
/// Default interval between health sweeps: 6 hours (jittered by ±10%).
pub const CHECK_INTERVAL_MS: i64 = 6 * 3_600_000;
/// Connections checked at once by a sweep.
const CHECK_CONCURRENCY: usize = 8;
/// Consecutive transient failures before a connection is `unreachable`.
pub const UNREACHABLE_AFTER: i32 = 3;
const DAY_MS: i64 = 86_400_000;
/// States a check never leaves on its own: a person must act (new token, re-authorize).
const STICKY: &[&str] = &["needs_attention", "compromised", "needs_reauth"];

/// `active`, `expiring` (within 30, 7 or 1 days) or `expired`, from the expiry alone.
pub fn status_for_expiry(expires_at: Option<i64>, now: i64) -> (&'static str, Option<String>) {
    let Some(at) = expires_at else {
        return ("active", None);
    };
    let date = to_rfc3339(at);
    let date = date.get(..10).unwrap_or(&date).to_owned();
    if at <= now {
        return ("expired", Some(format!("the token expired on {date}")));
    }
    let left = at - now;
    for days in [1, 7, 30] {
        if left <= days * DAY_MS {
            let unit = if days == 1 { "day" } else { "days" };
            return (
                "expiring",
                Some(format!("the token expires within {days} {unit}, on {date}")),
            );
        }
    }
    ("active", None)
}

impl Connections {
    /// `POST …/gitlab/{id}/check`: checks at once and answers with the updated connection.
    pub async fn check(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<labgate_proto::connections::ConnectionView> {
        principal.require(Access::Write)?;
        let record = self.load(principal, id).await?;
        let checked = self.check_record(record).await?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: "app-connection.check",
                    resource_kind: "app-connection",
                    resource_id: Some(id),
                    details: Some(json!({"status": checked.status})),
                },
            )
            .await?;
        Ok(view(&checked))
    }

    /// Checks one connection against GitLab, saves the outcome, records a transition, and
    /// rotates the token when auto-rotation is due.
    pub async fn check_record(&self, record: ConnectionRecord) -> Result<ConnectionRecord> {
        self.recover_connection_journal(&record).await?;
        let record = self.store.connection(&record.tenant_id, &record.id).await?;
        let now = self.clock.now_ms();
        let mut next = record.clone();
        next.last_checked_at = Some(now);
        if STICKY.contains(&record.status.as_str()) {
            return self.save_health(&record, next).await;
        }
        let token = self.token_of(&record).await?;
        let outcome = match self.client_for(&record) {
            Ok(client) => client.introspect(&Credential::PrivateToken(token)).await,
            Err(error) => Err(GitLabError::Other {
                status: 0,
                message: error.to_string(),
            }),
        };
        let (status, reason): (&str, Option<String>) = match outcome {
            Ok(info) => {
                apply_token_info(&mut next, &info);
                next.consecutive_failures = 0;
                if info.revoked {
                    ("revoked", Some("GitLab reports the token revoked".to_owned()))
                } else if let Some(gaps) = validate::usage_gaps(
                    &parse_list(&next.usages),
                    &info.scopes,
                    resource_kind_of(&next),
                    info.access_level,
                ) {
                    ("insufficient_scope", Some(gaps))
                } else if !info.active {
                    (
                        "expired",
                        Some("GitLab reports the token inactive (expired)".to_owned()),
                    )
                } else {
                    status_for_expiry(next.expires_at, now)
                }
            }
            Err(GitLabError::Unauthorized { reason }) => {
                next.consecutive_failures = 0;
                match reason {
                    UnauthorizedReason::Expired => (
                        "expired",
                        Some("GitLab refuses the token: it has expired".to_owned()),
                    ),
                    UnauthorizedReason::Revoked => (
                        "revoked",
                        Some("GitLab refuses the token: it was revoked".to_owned()),
                    ),
                    UnauthorizedReason::Invalid => (
                        "revoked",
                        Some("GitLab no longer knows the token (deleted or revoked)".to_owned()),
                    ),
                }
            }
            Err(GitLabError::InsufficientScope { required }) => {
                next.consecutive_failures = 0;
                (
                    "insufficient_scope",
                    Some(format!(
                        "the token lacks a needed scope: one of {}",
                        required.join(", ")
                    )),
                )
            }
            Err(error) if error.is_transient() => {
                next.consecutive_failures = record.consecutive_failures.saturating_add(1);
                if next.consecutive_failures >= UNREACHABLE_AFTER {
                    (
                        "unreachable",
                        Some(format!(
                            "GitLab could not be reached in {UNREACHABLE_AFTER} consecutive checks"
                        )),
                    )
                } else {
                    tracing::info!(connection_id = %record.id, error = %error, "transient failure checking a connection");
                    (record.status.as_str(), record.status_reason.clone())
                }
            }
            Err(error) => {
                next.consecutive_failures = 0;
                ("error", Some(error.to_string()))
            }
        };
        next.status = status.to_owned();
        next.status_reason = reason;
        let saved = self.save_health(&record, next).await?;
        if saved.auto_rotate != 0
            && matches!(saved.status.as_str(), "active" | "expiring")
            && saved
                .expires_at
                .is_some_and(|at| at - now <= i64::from(saved.rotate_before_days) * DAY_MS)
        {
            let fallback = saved.clone();
            return match self.rotate_record(saved).await {
                Ok(rotated) => Ok(rotated),
                // GitLab refused (nothing changed there) or another rotation holds the lock: the
                // check itself succeeded; the next check tries again.
                Err(error @ (CoreError::Unavailable(_) | CoreError::Conflict(_))) => {
                    tracing::warn!(connection_id = %fallback.id, error = %error, "automatic rotation did not happen");
                    Ok(fallback)
                }
                Err(other) => Err(other),
            };
        }
        Ok(saved)
    }

    /// Saves a checked row (version unchanged); a transition also writes its event and webhook.
    pub(super) async fn save_health(
        &self,
        before: &ConnectionRecord,
        next: ConnectionRecord,
    ) -> Result<ConnectionRecord> {
        let transition = before.status != next.status
            || (next.status == "expiring" && before.status_reason != next.status_reason);
        let saved = if transition {
            let kind = if next.status == "active" {
                "recovered"
            } else {
                "status_changed"
            };
            let event = ConnectionEventRecord {
                id: new_id(),
                tenant_id: next.tenant_id.clone(),
                connection_id: next.id.clone(),
                kind: kind.to_owned(),
                from_status: Some(before.status.clone()),
                to_status: Some(next.status.clone()),
                reason: next.status_reason.clone(),
                created_at: self.clock.now_ms(),
            };
            self.store
                .save_connection_with_event(&next, before.version, &event)
                .await?
        } else {
            self.store.save_connection(&next, before.version).await?
        };
        match saved {
            Some(saved) => {
                if transition {
                    self.emit_status(&saved, &before.status, "status changed").await?;
                }
                Ok(saved)
            }
            // Changed meanwhile (a PATCH): that write wins; the next check sees it.
            None => match self.store.connection(&next.tenant_id, &next.id).await {
                Ok(current) => Ok(current),
                Err(StoreError::NotFound) => Err(CoreError::NotFound("app connection")),
                Err(other) => Err(other.into()),
            },
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
                .map(|record| async move {
                    let id = record.id.clone();
                    match self.check_record(record).await {
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

    /// Queues the next health sweep `interval_ms` from now (±10% jitter), once however many
    /// replicas ask.
    pub async fn schedule_health(&self, interval_ms: i64) -> Result<()> {
        let jitter = rand::thread_rng().gen_range(-interval_ms / 10..=interval_ms / 10);
        let mut spec = JobSpec::new(CHECK_KIND, json!({"intervalMs": interval_ms}));
        spec.run_at_ms = Some(self.clock.now_ms() + interval_ms.max(60_000) + jitter);
        spec.dedupe_key = Some(CHECK_KIND.to_owned());
        spec.max_attempts = 3;
        self.jobs.enqueue(&spec).await?;
        Ok(())
    }

    /// Audits an action labgate took on its own.
    pub(super) async fn audit_system(
        &self,
        record: &ConnectionRecord,
        action: &str,
        details: serde_json::Value,
    ) -> Result<()> {
        self.audit
            .record_as(
                Some(&record.tenant_id),
                &Actor::System,
                None,
                AuditEvent {
                    action,
                    resource_kind: "app-connection",
                    resource_id: Some(&record.id),
                    details: Some(details),
                },
            )
            .await
    }
}
