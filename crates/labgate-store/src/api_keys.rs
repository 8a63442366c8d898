//! API keys, stored as the SHA-256 of their token.

use crate::page;
use crate::{Result, Store, StoreError, on_pool};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiKeyRecord {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub prefix: String,
    pub role: String,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_by: Option<String>,
    pub created_at: i64,
}

/// What authentication needs to know about a presented key.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuthenticatedKey {
    pub id: String,
    pub tenant_id: String,
    pub role: String,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewApiKey<'a> {
    pub id: &'a str,
    pub tenant_id: &'a str,
    pub name: &'a str,
    pub prefix: &'a str,
    pub token_hash: &'a [u8],
    pub role: &'a str,
    pub expires_at: Option<i64>,
    pub created_by: Option<&'a str>,
    pub now: i64,
}

const KEY_COLUMNS: &str =
    "id, tenant_id, name, prefix, role, expires_at, last_used_at, revoked_at, created_by, created_at";

impl Store {
    pub async fn insert_api_key(&self, key: &NewApiKey<'_>) -> Result<ApiKeyRecord> {
        let sql = format!(
            "INSERT INTO api_keys (id, tenant_id, name, prefix, token_hash, role, expires_at, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {KEY_COLUMNS}"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, ApiKeyRecord>(&sql)
            .bind(key.id)
            .bind(key.tenant_id)
            .bind(key.name)
            .bind(key.prefix)
            .bind(key.token_hash)
            .bind(key.role)
            .bind(key.expires_at)
            .bind(key.created_by)
            .bind(key.now)
            .fetch_one(pool)
            .await?))
    }

    pub async fn api_key_by_hash(&self, token_hash: &[u8]) -> Result<Option<AuthenticatedKey>> {
        Ok(on_pool!(self, pool => sqlx::query_as::<_, AuthenticatedKey>(
            "SELECT id, tenant_id, role, expires_at, revoked_at, last_used_at FROM api_keys WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await?))
    }

    pub async fn api_key(&self, tenant_id: &str, id: &str) -> Result<ApiKeyRecord> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 AND id = $2");
        on_pool!(self, pool => sqlx::query_as::<_, ApiKeyRecord>(&sql)
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    /// A page of a tenant's keys, newest first, and the tenant's total.
    pub async fn list_api_keys(
        &self,
        tenant_id: &str,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<ApiKeyRecord>, u64)> {
        page!(
            self,
            ApiKeyRecord,
            columns = KEY_COLUMNS,
            from = "api_keys WHERE tenant_id = $1",
            order = "created_at DESC, id DESC",
            binds = [tenant_id],
            offset = offset,
            limit = limit
        )
    }

    /// Marks a key revoked (idempotent: the first revocation time is kept).
    pub async fn revoke_api_key(&self, tenant_id: &str, id: &str, now: i64) -> Result<ApiKeyRecord> {
        let sql = format!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE tenant_id = $2 AND id = $3 \
             RETURNING {KEY_COLUMNS}"
        );
        on_pool!(self, pool => sqlx::query_as::<_, ApiKeyRecord>(&sql)
            .bind(now)
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    /// Records use of a key, at most once per `granularity_ms` so that busy keys do not turn
    /// every read into a write.
    pub async fn touch_api_key(&self, id: &str, now: i64, granularity_ms: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(now)
        .bind(id)
        .bind(now.saturating_sub(granularity_ms))
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Whether any key of the tenant exists; the first start uses it to decide on a bootstrap key.
    pub async fn tenant_has_api_keys(&self, tenant_id: &str) -> Result<bool> {
        let count: i64 = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM api_keys WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .fetch_one(pool)
        .await?);
        Ok(count > 0)
    }
}
