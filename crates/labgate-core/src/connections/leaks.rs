//! Connections whose token a scan found leaked: marked `compromised` (with an event and a
//! webhook), then, when they rotate automatically, given a new token at once through the same
//! journalled token changes as every other rotation (an access token is rotated; an OAuth grant
//! is refreshed, which makes GitLab revoke the leaked pair). Once the leaked token is replaced the
//! connection is no longer `compromised`; its status reason and timeline say why it was rotated.

use labgate_proto::audit::AuditAction;
use serde_json::json;

use super::Connections;
use super::model::{Connection, ConnectionEventKind, ConnectionMethod, ConnectionStatus};
use super::refresh::RefreshReason;
use crate::ids::{ConnectionId, TenantId};
use crate::jobs::{JobKind, Settled};
use crate::{CoreError, Result};

/// How the automatic rotation of a leaked connection came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeakRotation {
    /// The connection holds a new token; GitLab revoked the leaked one.
    Rotated { name: String },
    /// The connection does not rotate automatically: it stays `compromised` for a person.
    NotAutomatic,
    /// The leaked token was replaced meanwhile (another rotation, new credentials).
    AlreadyReplaced,
    /// Another token change holds the connection (a rotation under way, new credentials given
    /// meanwhile): it settles the leak, or the next scan tries again.
    Deferred,
    /// The rotation did not happen; the connection stays as the reason says.
    Failed { reason: String },
}

/// The status reason of a connection whose leaked token was replaced, from the reason it was
/// compromised for and what its new token's state says (e.g. close to expiry).
pub(super) fn replaced_after_leak(leak: Option<&str>, current: Option<&str>) -> String {
    let note = format!(
        "the token was rotated after a scan found it leaked ({}); GitLab revoked the leaked token",
        leak.unwrap_or("no detail recorded")
    );
    match current {
        Some(current) => format!("{current}; {note}"),
        None => note,
    }
}

impl Connections {
    /// Marks `compromised` every connection of the tenant holding a token whose HMAC is `hash`
    /// (an access token's credentials hash, or an OAuth connection's current access or refresh
    /// token), with the event and the webhook of the status change. Answers every connection that
    /// holds the leaked token and is `compromised` now, newly or from before: a scan that stopped
    /// before rotating them finds them again.
    pub(crate) async fn mark_leaked(
        &self,
        tenant_id: &TenantId,
        hash: &str,
        reason: &str,
    ) -> Result<Vec<ConnectionId>> {
        let ids = self
            .store
            .connection_ids_by_credentials_hash(tenant_id.as_str(), hash)
            .await?;
        let mut leaked = Vec::new();
        for id in ids {
            let current = match self.fetch(tenant_id, &ConnectionId::from_stored(id)).await {
                Ok(current) => current,
                Err(CoreError::NotFound(_)) => continue,
                Err(other) => return Err(other),
            };
            if current.status == ConnectionStatus::Compromised {
                leaked.push(current.id);
                continue;
            }
            let mut next = current.clone();
            next.status = ConnectionStatus::Compromised;
            next.status_reason = Some(reason.to_owned());
            let saved = self.save_health(&current, next).await?;
            if saved.status == ConnectionStatus::Compromised {
                tracing::warn!(connection_id = %saved.id, "a scan found this connection's token leaked");
                leaked.push(saved.id);
            }
        }
        Ok(leaked)
    }

    /// Rotates a connection a scan marked `compromised`, when it rotates automatically. The
    /// rotation is the journalled one (the new token is stored before anything else, and a crash
    /// is finished from the journal); its application clears `compromised`. A rotation that does
    /// not happen leaves the connection `compromised`, its reason saying why.
    pub(crate) async fn rotate_after_leak(
        &self,
        tenant_id: &TenantId,
        id: &ConnectionId,
    ) -> Result<LeakRotation> {
        let connection = match self.fetch(tenant_id, id).await {
            Ok(connection) => connection,
            Err(CoreError::NotFound(_)) => return Ok(LeakRotation::AlreadyReplaced),
            Err(other) => return Err(other),
        };
        if connection.status != ConnectionStatus::Compromised {
            return Ok(LeakRotation::AlreadyReplaced);
        }
        if !connection.auto_rotate {
            return Ok(LeakRotation::NotAutomatic);
        }
        let outcome = match connection.method {
            ConnectionMethod::OAuth => {
                self.refresh_oauth(connection.clone(), RefreshReason::Leaked)
                    .await
            }
            ConnectionMethod::AccessToken => self.rotate_leaked_token(&connection).await,
        };
        let after = match outcome {
            Ok(after) => after,
            Err(CoreError::Conflict(reason)) => {
                tracing::info!(connection_id = %connection.id, reason = %reason, "the rotation of a leaked token waits for another token change");
                return Ok(LeakRotation::Deferred);
            }
            Err(error) => {
                tracing::warn!(connection_id = %connection.id, error = %error, "a leaked token could not be rotated");
                let reason = error.to_string();
                self.rotation_failed(&connection, &reason).await?;
                return Ok(LeakRotation::Failed { reason });
            }
        };
        match after.status {
            ConnectionStatus::Compromised => {
                let reason = "the connection still holds the leaked token".to_owned();
                self.rotation_failed(&after, &reason).await?;
                Ok(LeakRotation::Failed { reason })
            }
            status if status.needs_person() => Ok(LeakRotation::Failed {
                reason: after
                    .status_reason
                    .clone()
                    .unwrap_or_else(|| format!("the connection is {status}")),
            }),
            _ => Ok(LeakRotation::Rotated { name: after.name }),
        }
    }

    /// An access token's rotation as a job of its own, finishing what an earlier one left first.
    async fn rotate_leaked_token(&self, connection: &Connection) -> Result<Connection> {
        self.recover_connection_journal(connection).await?;
        let current = self.reload(connection).await?;
        if current.status != ConnectionStatus::Compromised {
            return Ok(current);
        }
        let this = self.clone();
        let planned = current.clone();
        let settled = self
            .run_token_change(
                JobKind::ConnectionRotate,
                &current,
                None,
                move |job_id| async move { this.rotate_connection(&job_id, planned).await },
            )
            .await?;
        match settled {
            Settled::Done(rotated) => Ok(rotated),
            Settled::Running(job) => Err(CoreError::Unavailable(format!(
                "the rotation goes on in job {}",
                job.id
            ))),
        }
    }

    /// Keeps a connection `compromised` with why its automatic rotation did not happen, in its
    /// reason and its timeline, and audits the failure.
    async fn rotation_failed(&self, connection: &Connection, error: &str) -> Result<()> {
        let current = self.reload(connection).await?;
        if current.status != ConnectionStatus::Compromised {
            return Ok(());
        }
        let leak = current
            .status_reason
            .as_deref()
            .and_then(|reason| reason.split("; the automatic rotation failed").next())
            .unwrap_or("its token was found leaked")
            .to_owned();
        let mut next = current.clone();
        next.status_reason = Some(format!("{leak}; the automatic rotation failed: {error}"));
        next.updated_at = self.clock.now();
        let saved = self.save_health(&current, next).await?;
        self.record_event(&self.event(
            &saved,
            ConnectionEventKind::StatusChanged,
            Some(ConnectionStatus::Compromised),
            Some(format!(
                "the automatic rotation of the leaked token failed: {error}"
            )),
        ))
        .await?;
        self.audit_system(
            &saved,
            AuditAction::ConnectionRotateFailed,
            json!({"reason": "leaked token", "error": error}),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_after_a_leak_rotation_names_the_leak_and_keeps_the_new_tokens_state() {
        let reason = replaced_after_leak(Some("its token was found in acme/api"), None);
        assert!(reason.contains("rotated after a scan found it leaked (its token was found in acme/api)"));
        let expiring = replaced_after_leak(None, Some("expires in 3 days"));
        assert!(
            expiring.starts_with("expires in 3 days; the token was rotated"),
            "{expiring}"
        );
    }
}
