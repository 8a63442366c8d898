//! Access provisioning operations and their journal of steps.

use crate::{Result, Store, StoreError, on_pool, page};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ProvisioningOperationRecord {
    pub id: String,
    pub tenant_id: String,
    pub source_id: String,
    pub action: String,
    /// 1 for a dry run.
    pub dry_run: i32,
    pub status: String,
    /// JSON.
    pub request: String,
    pub account_user_id: Option<i64>,
    pub account_username: Option<String>,
    pub message: Option<String>,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ProvisioningStepRecord {
    pub operation_id: String,
    pub seq: i32,
    pub name: String,
    pub target: Option<String>,
    /// JSON; `None` for a step that makes no call (explained, skipped or offered).
    pub call: Option<String>,
    pub status: String,
    pub message: String,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// A step's new state; `None` fields keep their stored value.
#[derive(Debug, Clone, Default)]
pub struct ProvisioningStepUpdate<'a> {
    pub status: &'a str,
    pub message: Option<&'a str>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

const OPERATION_COLUMNS: &str = "id, tenant_id, source_id, action, dry_run, status, request, account_user_id, \
     account_username, message, actor_kind, actor_id, lease_expires_at, created_at, updated_at, finished_at";
const STEP_COLUMNS: &str = "operation_id, seq, name, target, call, status, message, started_at, finished_at";

impl Store {
    /// Writes an operation with its whole plan in one transaction: the journal exists before
    /// any step touches GitLab.
    pub async fn insert_provisioning_operation(
        &self,
        operation: &ProvisioningOperationRecord,
        steps: &[ProvisioningStepRecord],
    ) -> Result<ProvisioningOperationRecord> {
        let insert_operation = format!(
            "INSERT INTO access_provisioning_operations ({OPERATION_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING {OPERATION_COLUMNS}"
        );
        let insert_step = format!(
            "INSERT INTO access_provisioning_steps ({STEP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let saved = sqlx::query_as::<_, ProvisioningOperationRecord>(&insert_operation)
                .bind(&operation.id)
                .bind(&operation.tenant_id)
                .bind(&operation.source_id)
                .bind(&operation.action)
                .bind(operation.dry_run)
                .bind(&operation.status)
                .bind(&operation.request)
                .bind(operation.account_user_id)
                .bind(&operation.account_username)
                .bind(&operation.message)
                .bind(&operation.actor_kind)
                .bind(&operation.actor_id)
                .bind(operation.lease_expires_at)
                .bind(operation.created_at)
                .bind(operation.updated_at)
                .bind(operation.finished_at)
                .fetch_one(&mut *tx)
                .await?;
            for step in steps {
                sqlx::query(&insert_step)
                    .bind(&operation.id)
                    .bind(step.seq)
                    .bind(&step.name)
                    .bind(&step.target)
                    .bind(&step.call)
                    .bind(&step.status)
                    .bind(&step.message)
                    .bind(step.started_at)
                    .bind(step.finished_at)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(saved)
        })
    }

    /// One of the tenant's operations; another tenant's is [`StoreError::NotFound`].
    pub async fn provisioning_operation(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<ProvisioningOperationRecord> {
        let sql = format!(
            "SELECT {OPERATION_COLUMNS} FROM access_provisioning_operations WHERE tenant_id = $1 AND id = $2"
        );
        on_pool!(self, pool => sqlx::query_as::<_, ProvisioningOperationRecord>(&sql)
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    /// An operation's steps in the order they run.
    pub async fn provisioning_steps(&self, operation_id: &str) -> Result<Vec<ProvisioningStepRecord>> {
        let sql = format!(
            "SELECT {STEP_COLUMNS} FROM access_provisioning_steps WHERE operation_id = $1 ORDER BY seq"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, ProvisioningStepRecord>(&sql)
            .bind(operation_id)
            .fetch_all(pool)
            .await?),
        )
    }

    /// One page of the tenant's operations (of one source when `source_id` is given), newest
    /// first, and how many there are.
    pub async fn list_provisioning_operations(
        &self,
        tenant_id: &str,
        source_id: Option<&str>,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<ProvisioningOperationRecord>, u64)> {
        match source_id {
            Some(source_id) => page!(
                self,
                ProvisioningOperationRecord,
                columns = OPERATION_COLUMNS,
                from = "access_provisioning_operations WHERE tenant_id = $1 AND source_id = $2",
                order = "created_at DESC, id DESC",
                binds = [tenant_id, source_id],
                offset = offset,
                limit = limit
            ),
            None => page!(
                self,
                ProvisioningOperationRecord,
                columns = OPERATION_COLUMNS,
                from = "access_provisioning_operations WHERE tenant_id = $1",
                order = "created_at DESC, id DESC",
                binds = [tenant_id],
                offset = offset,
                limit = limit
            ),
        }
    }

    /// Takes an operation to run it again: one that stopped on a failed step, or one whose
    /// runner's lease ran out (the process died mid-way). False when it is neither, or another
    /// process took it first.
    pub async fn claim_provisioning_operation(&self, id: &str, now: i64, lease_until: i64) -> Result<bool> {
        let claimed = on_pool!(self, pool => sqlx::query(
            "UPDATE access_provisioning_operations SET status = 'running', lease_expires_at = $1, \
             updated_at = $2, finished_at = NULL \
             WHERE id = $3 AND dry_run = 0 AND (status IN ('failed', 'partial') \
             OR (status = 'running' AND lease_expires_at < $2))",
        )
        .bind(lease_until)
        .bind(now)
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(claimed > 0)
    }

    /// Keeps holding a running operation until `lease_until`; false when it is no longer running.
    pub async fn extend_provisioning_lease(&self, id: &str, lease_until: i64, now: i64) -> Result<bool> {
        let extended = on_pool!(self, pool => sqlx::query(
            "UPDATE access_provisioning_operations SET lease_expires_at = $1, updated_at = $2 \
             WHERE id = $3 AND status = 'running'",
        )
        .bind(lease_until)
        .bind(now)
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(extended > 0)
    }

    pub async fn update_provisioning_step(
        &self,
        operation_id: &str,
        seq: i32,
        update: &ProvisioningStepUpdate<'_>,
    ) -> Result<()> {
        let updated = on_pool!(self, pool => sqlx::query(
            "UPDATE access_provisioning_steps SET status = $1, message = COALESCE($2, message), \
             started_at = COALESCE($3, started_at), finished_at = COALESCE($4, finished_at) \
             WHERE operation_id = $5 AND seq = $6",
        )
        .bind(update.status)
        .bind(update.message)
        .bind(update.started_at)
        .bind(update.finished_at)
        .bind(operation_id)
        .bind(seq)
        .execute(pool)
        .await?
        .rows_affected());
        if updated == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Records how an operation ended and releases its lease.
    pub async fn finish_provisioning_operation(
        &self,
        id: &str,
        status: &str,
        message: Option<&str>,
        now: i64,
    ) -> Result<ProvisioningOperationRecord> {
        let sql = format!(
            "UPDATE access_provisioning_operations SET status = $1, message = $2, lease_expires_at = NULL, \
             updated_at = $3, finished_at = $3 WHERE id = $4 RETURNING {OPERATION_COLUMNS}"
        );
        on_pool!(self, pool => sqlx::query_as::<_, ProvisioningOperationRecord>(&sql)
            .bind(status)
            .bind(message)
            .bind(now)
            .bind(id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }
}
