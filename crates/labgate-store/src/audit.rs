//! The audit log: who did what to which resource, from where.

use crate::page;
use crate::{Result, Store, on_pool, row_placeholders};

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

/// Occurrences of a folded entry counted since it was last written.
#[derive(Debug, Clone)]
pub struct FoldedAuditEntry<'a> {
    pub entry: NewAuditEntry<'a>,
    pub occurrences: i32,
}

/// Entries one statement of [`Store::add_audit_occurrences`] writes at most (eleven parameters
/// each, well below either backend's limit).
pub const FOLDED_AUDIT_BATCH: usize = 200;

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
    /// How many times the action happened in the entry's minute (folded entries only; else 1).
    pub occurrences: i32,
}

/// Which entries to list; every filter is optional except the tenant.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter<'a> {
    pub tenant_id: &'a str,
    pub action: Option<&'a str>,
    pub resource_kind: Option<&'a str>,
    pub resource_id: Option<&'a str>,
    pub actor_kind: Option<&'a str>,
    pub actor_id: Option<&'a str>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub offset: u64,
    pub limit: u32,
}

const AUDIT_COLUMNS: &str = "id, tenant_id, actor_kind, actor_id, action, resource_kind, resource_id, source_ip, \
     details, created_at, occurrences";

impl Store {
    /// Adds counted occurrences to entries whose ids name their folds (actor, action, resource,
    /// minute): an entry not stored yet is inserted with its count, a stored one counts up. Each
    /// statement carries a few hundred entries; an id must appear once among `entries`.
    pub async fn add_audit_occurrences(&self, entries: &[FoldedAuditEntry<'_>]) -> Result<()> {
        for batch in entries.chunks(FOLDED_AUDIT_BATCH) {
            let values = (0..batch.len())
                .map(|row| row_placeholders(self.backend(), row * 11, 11))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO audit_log (id, tenant_id, actor_kind, actor_id, action, resource_kind, resource_id, \
                 source_ip, details, created_at, occurrences) VALUES {values} \
                 ON CONFLICT (id) DO UPDATE SET occurrences = audit_log.occurrences + excluded.occurrences"
            );
            on_pool!(self, pool => {
                let mut query = sqlx::query(&sql);
                for folded in batch {
                    let entry = &folded.entry;
                    query = query
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
                        .bind(folded.occurrences);
                }
                query.execute(pool).await?;
            });
        }
        Ok(())
    }

    /// A page of a tenant's entries, newest first, and how many match.
    pub async fn list_audit(&self, filter: &AuditFilter<'_>) -> Result<(Vec<AuditRecord>, u64)> {
        let from = "audit_log WHERE tenant_id = $1 AND ($2 IS NULL OR action = $2) \
             AND ($3 IS NULL OR resource_kind = $3) AND ($4 IS NULL OR resource_id = $4) \
             AND ($5 IS NULL OR actor_kind = $5) AND ($6 IS NULL OR actor_id = $6) \
             AND ($7 IS NULL OR created_at >= $7) AND ($8 IS NULL OR created_at < $8)";
        page!(
            self,
            AuditRecord,
            columns = AUDIT_COLUMNS,
            from = from,
            order = "created_at DESC, id DESC",
            binds = [
                filter.tenant_id,
                filter.action,
                filter.resource_kind,
                filter.resource_id,
                filter.actor_kind,
                filter.actor_id,
                filter.since,
                filter.until,
            ],
            offset = filter.offset,
            limit = filter.limit
        )
    }

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
        Ok(self
            .list_audit(&AuditFilter {
                tenant_id,
                limit,
                ..AuditFilter::default()
            })
            .await?
            .0)
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
