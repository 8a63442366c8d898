//! The audit log: who did what to which resource, from where.

use std::sync::Arc;

pub use labgate_proto::audit::{ActorKind, AuditAction, ResourceType};
use labgate_proto::audit::{AuditActor, AuditLogList, AuditLogQuery, AuditLogView};
use labgate_store::{AuditFilter, AuditRecord, NewAuditEntry, Store};
use time::{Duration, OffsetDateTime};

use crate::auth::{Access, Actor, Principal};
use crate::clock::Clock;
use crate::ids::{AuditEntryId, TenantId};
use crate::rows::{Parsed, ms, text, time, unsigned};
use crate::timefmt::{format_time, parse_time};
use crate::{CoreError, Result};

#[derive(Clone)]
pub struct AuditLog {
    store: Store,
    clock: Arc<dyn Clock>,
}

/// One audited action. `details` is JSON and never holds a secret.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    pub action: AuditAction,
    pub resource_kind: ResourceType,
    pub resource_id: Option<&'a str>,
    pub details: Option<serde_json::Value>,
}

impl AuditLog {
    pub(crate) fn new(store: Store, clock: Arc<dyn Clock>) -> AuditLog {
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
        tenant_id: Option<&TenantId>,
        actor: &Actor,
        source_ip: Option<&str>,
        event: AuditEvent<'_>,
    ) -> Result<()> {
        let details = event.details.as_ref().map(serde_json::Value::to_string);
        self.store
            .insert_audit(&NewAuditEntry {
                id: AuditEntryId::generate().as_str(),
                tenant_id: tenant_id.map(TenantId::as_str),
                actor_kind: actor.kind().as_str(),
                actor_id: actor.id(),
                action: event.action.as_str(),
                resource_kind: event.resource_kind.as_str(),
                resource_id: event.resource_id,
                source_ip,
                details: details.as_deref(),
                now: ms(self.clock.now()),
            })
            .await?;
        Ok(())
    }

    /// Records an action that may repeat many times a minute — reading a credential above all — as
    /// one entry per actor, action, resource and minute that counts its occurrences, so the log
    /// stays readable and bounded however busy a consumer is.
    pub async fn record_folded(&self, principal: &Principal, event: AuditEvent<'_>) -> Result<()> {
        let minute = ms(self.clock.now()).div_euclid(60_000);
        let fold = format!(
            "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{minute}",
            principal.tenant_id,
            principal.actor.kind(),
            principal.actor.id().unwrap_or_default(),
            event.action,
            event.resource_kind,
            event.resource_id.unwrap_or_default(),
        );
        let id = format!(
            "fold-{}",
            hex::encode(labgate_crypto::sha256(fold.as_bytes()))
                .get(..32)
                .unwrap_or_default()
        );
        let details = event.details.as_ref().map(serde_json::Value::to_string);
        self.store
            .count_audit(&NewAuditEntry {
                id: &id,
                tenant_id: Some(principal.tenant_id.as_str()),
                actor_kind: principal.actor.kind().as_str(),
                actor_id: principal.actor.id(),
                action: event.action.as_str(),
                resource_kind: event.resource_kind.as_str(),
                resource_id: event.resource_id,
                source_ip: principal.source_ip.as_deref(),
                details: details.as_deref(),
                // The entry is dated at the start of its minute, so every fold sorts the same way.
                now: minute * 60_000,
            })
            .await?;
        Ok(())
    }

    /// A page of the caller's tenant's entries, newest first. Admins only: the log shows who holds
    /// which keys and reads which credentials.
    pub async fn list(
        &self,
        principal: &Principal,
        query: &AuditLogQuery,
        limit: u32,
    ) -> Result<AuditLogList> {
        principal.require(Access::Admin)?;
        let time = |field: &'static str, value: &Option<String>| -> Result<Option<i64>> {
            value
                .as_deref()
                .map(|text| {
                    parse_time(text).map(ms).ok_or_else(|| {
                        CoreError::validation(field, format!("{field} must be an RFC 3339 time"))
                    })
                })
                .transpose()
        };
        let filter = AuditFilter {
            tenant_id: principal.tenant_id.as_str(),
            action: query.action.map(AuditAction::as_str),
            resource_kind: query.resource_kind.map(ResourceType::as_str),
            resource_id: query.resource_id.as_deref(),
            actor_kind: query.actor_kind.map(ActorKind::as_str),
            actor_id: query.actor_id.as_deref(),
            since: time("since", &query.since)?,
            until: time("until", &query.until)?,
            offset: query.offset.unwrap_or(0),
            limit,
        };
        let (records, total) = self.store.list_audit(&filter).await?;
        let audit_logs = records
            .into_iter()
            .map(|row| view(row).map_err(CoreError::from))
            .collect::<Result<Vec<_>>>()?;
        Ok(AuditLogList {
            audit_logs,
            total_count: total,
        })
    }

    /// Deletes entries older than `retention`; returns how many went.
    pub async fn prune(&self, retention: Duration) -> Result<u64> {
        let before: OffsetDateTime = self.clock.now() - retention;
        Ok(self.store.prune_audit(ms(before)).await?)
    }
}

fn view(row: AuditRecord) -> Parsed<AuditLogView> {
    Ok(AuditLogView {
        actor: AuditActor {
            kind: text("audit_log.actor_kind", &row.actor_kind)?,
            id: row.actor_id,
        },
        details: row.details.and_then(|text| serde_json::from_str(&text).ok()),
        created_at: format_time(time("audit_log.created_at", row.created_at)?),
        action: text("audit_log.action", &row.action)?,
        resource_kind: text("audit_log.resource_kind", &row.resource_kind)?,
        occurrences: unsigned("audit_log.occurrences", row.occurrences)?,
        id: row.id,
        resource_id: row.resource_id,
        source_ip: row.source_ip,
    })
}
