//! The audit log: who did what to which resource, from where.

use crate::{Result, Store, on_pool};

#[derive(Debug, Clone)]
pub struct NewAuditEntry<'a> {
    pub id: &'a str,
    pub tenant_id: Option<&'a str>,
    /// `api-key`, `user`, `cli` or `system`.
    pub actor_kind: &'a str,
    pub actor_id: Option<&'a str>,
    pub action: &'a str,
    pub resource_kind: &'a str,
    pub resource_id: Option<&'a str>,
    pub source_ip: Option<&'a str>,
    /// JSON text; never holds a secret.
    pub details: Option<&'a str>,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: String,
    pub tenant_id: Option<String>,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub resource_kind: String,
    pub resource_id: Option<String>,
    pub source_ip: Option<String>,
    pub details: Option<String>,
    pub created_at: i64,
}

impl Store {
    pub async fn insert_audit(&self, entry: &NewAuditEntry<'_>) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO audit_log (id, tenant_id, actor_kind, actor_id, action, resource_kind, resource_id, \
             source_ip, details, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(entry.id)
        .bind(entry.tenant_id)
        .bind(entry.actor_kind)
        .bind(entry.actor_id)
        .bind(entry.action)
        .bind(entry.resource_kind)
        .bind(entry.resource_id)
        .bind(entry.source_ip)
        .bind(entry.details)
        .bind(entry.now)
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// The newest entries of a tenant, newest first.
    pub async fn recent_audit(&self, tenant_id: &str, limit: u32) -> Result<Vec<AuditRecord>> {
        Ok(on_pool!(self, pool => sqlx::query_as::<_, AuditRecord>(
            "SELECT id, tenant_id, actor_kind, actor_id, action, resource_kind, resource_id, source_ip, details, \
             created_at FROM audit_log WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(tenant_id)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?))
    }

    /// Deletes entries older than `before`; returns how many went.
    pub async fn prune_audit(&self, before: i64) -> Result<u64> {
        Ok(
            on_pool!(self, pool => sqlx::query("DELETE FROM audit_log WHERE created_at < $1")
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected()),
        )
    }
}
