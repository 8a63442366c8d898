//! GitLab instances and their OAuth applications (the client secret is a vault item).

use crate::page;
use crate::{Result, Store, StoreError, on_pool};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InstanceRecord {
    pub id: String,
    pub tenant_id: String,
    pub url: String,
    /// `gitlab.com` or `self-managed`.
    pub kind: String,
    pub oauth_client_id: Option<String>,
    pub ca_bundle: Option<String>,
    pub proxy_url: Option<String>,
    pub version: i32,
    pub created_at: i64,
    pub updated_at: i64,
}

const INSTANCE_COLUMNS: &str =
    "id, tenant_id, url, kind, oauth_client_id, ca_bundle, proxy_url, version, created_at, updated_at";

impl Store {
    /// Inserts an instance at version 1; a URL the tenant already has is [`StoreError::Conflict`].
    pub async fn insert_instance(&self, record: &InstanceRecord) -> Result<InstanceRecord> {
        let sql = format!(
            "INSERT INTO gitlab_instances ({INSTANCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9) \
             RETURNING {INSTANCE_COLUMNS}"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, InstanceRecord>(&sql)
            .bind(&record.id)
            .bind(&record.tenant_id)
            .bind(&record.url)
            .bind(&record.kind)
            .bind(&record.oauth_client_id)
            .bind(&record.ca_bundle)
            .bind(&record.proxy_url)
            .bind(record.created_at)
            .bind(record.updated_at)
            .fetch_one(pool)
            .await?))
    }

    pub async fn instance(&self, tenant_id: &str, id: &str) -> Result<InstanceRecord> {
        let sql = format!("SELECT {INSTANCE_COLUMNS} FROM gitlab_instances WHERE tenant_id = $1 AND id = $2");
        on_pool!(self, pool => sqlx::query_as::<_, InstanceRecord>(&sql)
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    /// The tenant's instances, oldest first so the first one registered stays on top.
    pub async fn list_instances(
        &self,
        tenant_id: &str,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<InstanceRecord>, u64)> {
        page!(
            self,
            InstanceRecord,
            columns = INSTANCE_COLUMNS,
            from = "gitlab_instances WHERE tenant_id = $1",
            order = "created_at, id",
            binds = [tenant_id],
            offset = offset,
            limit = limit
        )
    }

    /// Saves the changeable fields of a row still at `record.version`, which moves one up. A row
    /// changed meanwhile, or a URL the tenant already has, is [`StoreError::Conflict`].
    pub async fn update_instance(&self, record: &InstanceRecord) -> Result<InstanceRecord> {
        let sql = format!(
            "UPDATE gitlab_instances SET url = $1, kind = $2, oauth_client_id = $3, ca_bundle = $4, proxy_url = $5, \
             version = version + 1, updated_at = $6 WHERE tenant_id = $7 AND id = $8 AND version = $9 \
             RETURNING {INSTANCE_COLUMNS}"
        );
        let updated = on_pool!(self, pool => sqlx::query_as::<_, InstanceRecord>(&sql)
            .bind(&record.url)
            .bind(&record.kind)
            .bind(&record.oauth_client_id)
            .bind(&record.ca_bundle)
            .bind(&record.proxy_url)
            .bind(record.updated_at)
            .bind(&record.tenant_id)
            .bind(&record.id)
            .bind(record.version)
            .fetch_optional(pool)
            .await?);
        match updated {
            Some(row) => Ok(row),
            None => {
                // Tell a vanished row from one another writer moved on.
                self.instance(&record.tenant_id, &record.id).await?;
                Err(StoreError::Conflict {
                    what: "gitlab_instances.version".to_owned(),
                })
            }
        }
    }

    /// Deletes an instance; false when it did not exist.
    pub async fn delete_instance(&self, tenant_id: &str, id: &str) -> Result<bool> {
        let affected = on_pool!(self, pool => sqlx::query(
            "DELETE FROM gitlab_instances WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(affected == 1)
    }

    /// The tenant's instance at `url` (as stored: prefix kept, no trailing slash).
    pub async fn instance_by_url(&self, tenant_id: &str, url: &str) -> Result<InstanceRecord> {
        let sql =
            format!("SELECT {INSTANCE_COLUMNS} FROM gitlab_instances WHERE tenant_id = $1 AND url = $2");
        on_pool!(self, pool => sqlx::query_as::<_, InstanceRecord>(&sql)
            .bind(tenant_id)
            .bind(url)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    /// How many connections were authorised through the instance.
    pub async fn connections_of_instance(&self, tenant_id: &str, id: &str) -> Result<u64> {
        let count: i64 = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM app_connections WHERE tenant_id = $1 AND instance_id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_one(pool)
        .await?);
        Ok(u64::try_from(count).unwrap_or_default())
    }
}
