//! Tenants and their wrapped keys.

use crate::{Result, Store, StoreError, on_pool};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TenantRecord {
    pub id: String,
    pub name: String,
    pub wrapped_data_key: Vec<u8>,
    pub wrapped_hash_key: Vec<u8>,
    pub root_key_id: String,
    pub data_key_id: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewTenant<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub wrapped_data_key: &'a [u8],
    pub wrapped_hash_key: &'a [u8],
    pub root_key_id: &'a str,
    pub data_key_id: &'a str,
    pub now: i64,
}

/// A compare-and-swap replacement of a tenant's wrapped keys: it applies only if the stored data
/// key is still `expected_data_key`, so two concurrent rotations cannot lose one another's work.
#[derive(Debug, Clone)]
pub struct TenantKeyUpdate<'a> {
    pub tenant_id: &'a str,
    pub expected_data_key: &'a [u8],
    pub wrapped_data_key: &'a [u8],
    pub wrapped_hash_key: &'a [u8],
    pub root_key_id: &'a str,
    pub data_key_id: &'a str,
    pub now: i64,
}

const TENANT_COLUMNS: &str =
    "id, name, wrapped_data_key, wrapped_hash_key, root_key_id, data_key_id, created_at, updated_at";

impl Store {
    pub async fn insert_tenant(&self, tenant: &NewTenant<'_>) -> Result<TenantRecord> {
        let sql = format!(
            "INSERT INTO tenants ({TENANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {TENANT_COLUMNS}"
        );
        let record = on_pool!(self, pool => sqlx::query_as::<_, TenantRecord>(&sql)
            .bind(tenant.id)
            .bind(tenant.name)
            .bind(tenant.wrapped_data_key)
            .bind(tenant.wrapped_hash_key)
            .bind(tenant.root_key_id)
            .bind(tenant.data_key_id)
            .bind(tenant.now)
            .fetch_one(pool)
            .await
            .map_err(|error| match StoreError::from(error) {
                StoreError::Conflict { .. } => StoreError::Conflict { what: format!("tenant {}", tenant.name) },
                other => other,
            })?);
        Ok(record)
    }

    pub async fn tenant_by_id(&self, id: &str) -> Result<Option<TenantRecord>> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, TenantRecord>(&sql).bind(id).fetch_optional(pool).await?),
        )
    }

    pub async fn tenant_by_name(&self, name: &str) -> Result<Option<TenantRecord>> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE name = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, TenantRecord>(&sql).bind(name).fetch_optional(pool).await?),
        )
    }

    pub async fn list_tenants(&self) -> Result<Vec<TenantRecord>> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY created_at, id");
        Ok(on_pool!(self, pool => sqlx::query_as::<_, TenantRecord>(&sql).fetch_all(pool).await?))
    }

    /// Replaces a tenant's wrapped keys if nobody changed them meanwhile. Returns whether the
    /// swap applied.
    pub async fn swap_tenant_keys(&self, update: &TenantKeyUpdate<'_>) -> Result<bool> {
        let result = on_pool!(self, pool => sqlx::query(
            "UPDATE tenants SET wrapped_data_key = $1, wrapped_hash_key = $2, root_key_id = $3, \
             data_key_id = $4, updated_at = $5 WHERE id = $6 AND wrapped_data_key = $7",
        )
        .bind(update.wrapped_data_key)
        .bind(update.wrapped_hash_key)
        .bind(update.root_key_id)
        .bind(update.data_key_id)
        .bind(update.now)
        .bind(update.tenant_id)
        .bind(update.expected_data_key)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(result == 1)
    }
}
