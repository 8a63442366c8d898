//! The audit log: who did what to which resource, from where.

use std::sync::Arc;

use labgate_store::{NewAuditEntry, Store};

use crate::Result;
use crate::auth::{Actor, Principal};
use crate::clock::Clock;
use crate::ids::new_id;

#[derive(Clone)]
pub struct AuditLog {
    store: Store,
    clock: Arc<dyn Clock>,
}

/// One audited action. `details` is JSON and never holds a secret.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    pub action: &'a str,
    pub resource_kind: &'a str,
    pub resource_id: Option<&'a str>,
    pub details: Option<serde_json::Value>,
}

impl AuditLog {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> AuditLog {
        AuditLog { store, clock }
    }

    pub async fn record(&self, principal: &Principal, event: AuditEvent<'_>) -> Result<()> {
        self.record_as(
            Some(&principal.tenant_id),
            &principal.actor,
            principal.source_ip.as_deref(),
            event,
        )
        .await
    }

    pub async fn record_as(
        &self,
        tenant_id: Option<&str>,
        actor: &Actor,
        source_ip: Option<&str>,
        event: AuditEvent<'_>,
    ) -> Result<()> {
        let details = event.details.as_ref().map(serde_json::Value::to_string);
        self.store
            .insert_audit(&NewAuditEntry {
                id: &new_id(),
                tenant_id,
                actor_kind: actor.kind(),
                actor_id: actor.id(),
                action: event.action,
                resource_kind: event.resource_kind,
                resource_id: event.resource_id,
                source_ip,
                details: details.as_deref(),
                now: self.clock.now_ms(),
            })
            .await?;
        Ok(())
    }

    /// Deletes entries older than the retention; returns how many went.
    pub async fn prune(&self, retention_ms: i64) -> Result<u64> {
        Ok(self
            .store
            .prune_audit(self.clock.now_ms().saturating_sub(retention_ms))
            .await?)
    }
}
