//! Sealed secrets, one row per (tenant, owner table, owner row, field).

use crate::{Result, Store, on_pool};

/// Where a secret belongs. The same four values are the AAD it is sealed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VaultItemKey<'a> {
    pub tenant_id: &'a str,
    pub owner_table: &'a str,
    pub owner_id: &'a str,
    pub field: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VaultItemRecord {
    pub tenant_id: String,
    pub owner_table: String,
    pub owner_id: String,
    pub field: String,
    pub sealed: Vec<u8>,
    pub data_key_id: String,
    pub updated_at: i64,
}

const ITEM_COLUMNS: &str = "tenant_id, owner_table, owner_id, field, sealed, data_key_id, updated_at";

impl Store {
    /// Stores or replaces a sealed secret.
    pub async fn put_vault_item(
        &self,
        key: &VaultItemKey<'_>,
        sealed: &[u8],
        data_key_id: &str,
        now: i64,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO vault_items (tenant_id, owner_table, owner_id, field, sealed, data_key_id, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, owner_table, owner_id, field) \
             DO UPDATE SET sealed = excluded.sealed, data_key_id = excluded.data_key_id, updated_at = excluded.updated_at",
        )
        .bind(key.tenant_id)
        .bind(key.owner_table)
        .bind(key.owner_id)
        .bind(key.field)
        .bind(sealed)
        .bind(data_key_id)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    pub async fn vault_item(&self, key: &VaultItemKey<'_>) -> Result<Option<VaultItemRecord>> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM vault_items WHERE tenant_id = $1 AND owner_table = $2 AND owner_id = $3 \
             AND field = $4"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, VaultItemRecord>(&sql)
            .bind(key.tenant_id)
            .bind(key.owner_table)
            .bind(key.owner_id)
            .bind(key.field)
            .fetch_optional(pool)
            .await?))
    }

    /// Deletes every secret of one owner row; returns how many went.
    pub async fn delete_vault_items(
        &self,
        tenant_id: &str,
        owner_table: &str,
        owner_id: &str,
    ) -> Result<u64> {
        Ok(on_pool!(self, pool => sqlx::query(
            "DELETE FROM vault_items WHERE tenant_id = $1 AND owner_table = $2 AND owner_id = $3",
        )
        .bind(tenant_id)
        .bind(owner_table)
        .bind(owner_id)
        .execute(pool)
        .await?
        .rows_affected()))
    }

    /// A batch of a tenant's secrets sealed under some data key other than `data_key_id`.
    pub async fn vault_items_not_under(
        &self,
        tenant_id: &str,
        data_key_id: &str,
        limit: u32,
    ) -> Result<Vec<VaultItemRecord>> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM vault_items WHERE tenant_id = $1 AND data_key_id <> $2 \
             ORDER BY owner_table, owner_id, field LIMIT $3"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, VaultItemRecord>(&sql)
            .bind(tenant_id)
            .bind(data_key_id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?))
    }

    /// Replaces a sealed value only if it is still `expected` (compare-and-swap, so a concurrent
    /// write of a new secret is never overwritten by the re-encryption of the old one).
    pub async fn swap_vault_item(
        &self,
        key: &VaultItemKey<'_>,
        expected: &[u8],
        sealed: &[u8],
        data_key_id: &str,
    ) -> Result<bool> {
        let affected = on_pool!(self, pool => sqlx::query(
            "UPDATE vault_items SET sealed = $1, data_key_id = $2 WHERE tenant_id = $3 AND owner_table = $4 \
             AND owner_id = $5 AND field = $6 AND sealed = $7",
        )
        .bind(sealed)
        .bind(data_key_id)
        .bind(key.tenant_id)
        .bind(key.owner_table)
        .bind(key.owner_id)
        .bind(key.field)
        .bind(expected)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(affected == 1)
    }
}
