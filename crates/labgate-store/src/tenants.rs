//! Tenants and the generations of their wrapped keys.

use crate::{BeginWrite, Result, Store, StoreError, on_pool};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TenantRecord {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One generation of a tenant's keys as stored: both keys wrapped by the root key `root_key_id`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TenantKeyRecord {
    pub tenant_id: String,
    /// The data key's public fingerprint; sealed values name it.
    pub id: String,
    pub wrapped_data_key: Vec<u8>,
    pub wrapped_hash_key: Vec<u8>,
    pub root_key_id: String,
    /// `active` (seals new values) or `retired` (only opens old ones).
    pub state: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewTenantKeys<'a> {
    pub id: &'a str,
    pub wrapped_data_key: &'a [u8],
    pub wrapped_hash_key: &'a [u8],
    pub root_key_id: &'a str,
}

#[derive(Debug, Clone)]
pub struct NewTenant<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub keys: NewTenantKeys<'a>,
    pub now: i64,
}

/// Re-wrapping of one key generation under another root key, applied only if the row still holds
/// `expected_wrapped_data_key` (compare-and-swap, so concurrent rotations never lose a write).
#[derive(Debug, Clone)]
pub struct TenantKeyRewrap<'a> {
    pub tenant_id: &'a str,
    pub id: &'a str,
    pub expected_wrapped_data_key: &'a [u8],
    pub wrapped_data_key: &'a [u8],
    pub wrapped_hash_key: &'a [u8],
    pub root_key_id: &'a str,
}

const TENANT_COLUMNS: &str = "id, name, created_at, updated_at";
const KEY_COLUMNS: &str =
    "tenant_id, id, wrapped_data_key, wrapped_hash_key, root_key_id, state, created_at, retired_at";

impl Store {
    /// Creates a tenant together with its first, active key generation.
    pub async fn insert_tenant(&self, tenant: &NewTenant<'_>) -> Result<TenantRecord> {
        let insert_tenant = format!(
            "INSERT INTO tenants ({TENANT_COLUMNS}) VALUES ($1, $2, $3, $3) RETURNING {TENANT_COLUMNS}"
        );
        let result: Result<TenantRecord> = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let record = sqlx::query_as::<_, TenantRecord>(&insert_tenant)
                .bind(tenant.id)
                .bind(tenant.name)
                .bind(tenant.now)
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO tenant_keys (tenant_id, id, wrapped_data_key, wrapped_hash_key, root_key_id, state, \
                 created_at) VALUES ($1, $2, $3, $4, $5, 'active', $6)",
            )
            .bind(tenant.id)
            .bind(tenant.keys.id)
            .bind(tenant.keys.wrapped_data_key)
            .bind(tenant.keys.wrapped_hash_key)
            .bind(tenant.keys.root_key_id)
            .bind(tenant.now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(record)
        });
        result.map_err(|error| match error {
            StoreError::Conflict { .. } => StoreError::Conflict {
                what: format!("tenant {}", tenant.name),
            },
            other => other,
        })
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

    /// The generation that seals new values for a tenant.
    pub async fn active_tenant_keys(&self, tenant_id: &str) -> Result<Option<TenantKeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM tenant_keys WHERE tenant_id = $1 AND state = 'active'");
        Ok(on_pool!(self, pool => sqlx::query_as::<_, TenantKeyRecord>(&sql)
            .bind(tenant_id)
            .fetch_optional(pool)
            .await?))
    }

    pub async fn tenant_keys(&self, tenant_id: &str, id: &str) -> Result<Option<TenantKeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM tenant_keys WHERE tenant_id = $1 AND id = $2");
        Ok(on_pool!(self, pool => sqlx::query_as::<_, TenantKeyRecord>(&sql)
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    /// Every key generation of every tenant, for start-up checks and root-key rewrapping.
    pub async fn all_tenant_keys(&self) -> Result<Vec<TenantKeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM tenant_keys ORDER BY tenant_id, created_at, id");
        Ok(on_pool!(self, pool => sqlx::query_as::<_, TenantKeyRecord>(&sql).fetch_all(pool).await?))
    }

    /// Applies a rewrap if nobody changed the row meanwhile; returns whether it applied.
    pub async fn rewrap_tenant_keys(&self, rewrap: &TenantKeyRewrap<'_>) -> Result<bool> {
        let affected = on_pool!(self, pool => sqlx::query(
            "UPDATE tenant_keys SET wrapped_data_key = $1, wrapped_hash_key = $2, root_key_id = $3 \
             WHERE tenant_id = $4 AND id = $5 AND wrapped_data_key = $6",
        )
        .bind(rewrap.wrapped_data_key)
        .bind(rewrap.wrapped_hash_key)
        .bind(rewrap.root_key_id)
        .bind(rewrap.tenant_id)
        .bind(rewrap.id)
        .bind(rewrap.expected_wrapped_data_key)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(affected == 1)
    }

    /// Retires the active generation `expected_active_id` and activates `next` in one
    /// transaction. Returns `false`, changing nothing, when the active generation is another one.
    pub async fn rotate_tenant_data_key(
        &self,
        tenant_id: &str,
        expected_active_id: &str,
        next: &NewTenantKeys<'_>,
        now: i64,
    ) -> Result<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let retired = sqlx::query(
                "UPDATE tenant_keys SET state = 'retired', retired_at = $1 WHERE tenant_id = $2 AND id = $3 \
                 AND state = 'active'",
            )
            .bind(now)
            .bind(tenant_id)
            .bind(expected_active_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if retired != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO tenant_keys (tenant_id, id, wrapped_data_key, wrapped_hash_key, root_key_id, state, \
                 created_at) VALUES ($1, $2, $3, $4, $5, 'active', $6)",
            )
            .bind(tenant_id)
            .bind(next.id)
            .bind(next.wrapped_data_key)
            .bind(next.wrapped_hash_key)
            .bind(next.root_key_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE tenants SET updated_at = $1 WHERE id = $2")
                .bind(now)
                .bind(tenant_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }
}
