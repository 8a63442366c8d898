//! Secret syncs, the variables each one wrote at GitLab (ownership), and the per-key results of
//! each sync's last run.

use crate::{Result, Store, StoreError, on_pool, row_placeholders};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SecretSyncRecord {
    pub id: String,
    pub tenant_id: String,
    pub project_id: String,
    pub name: String,
    pub description: Option<String>,
    pub connection_id: String,
    pub environment: String,
    pub secret_path: String,
    pub is_auto_sync_enabled: i32,
    /// JSON.
    pub destination_config: String,
    /// JSON.
    pub sync_options: String,
    pub destination_key: String,
    pub sync_status: Option<String>,
    pub last_sync_job_id: Option<String>,
    pub last_sync_message: Option<String>,
    pub last_synced_at: Option<i64>,
    pub import_status: Option<String>,
    pub last_import_job_id: Option<String>,
    pub last_import_message: Option<String>,
    pub last_imported_at: Option<i64>,
    pub remove_status: Option<String>,
    pub last_remove_job_id: Option<String>,
    pub last_remove_message: Option<String>,
    pub last_removed_at: Option<i64>,
    pub version: i32,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Which of a sync's three activities a status update is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncActivity {
    Sync,
    Import,
    Remove,
}

/// A new status of one activity of a sync. `job_id` and `finished_at` keep their stored value
/// when `None`.
#[derive(Debug, Clone)]
pub struct SyncStatusUpdate<'a> {
    pub activity: SyncActivity,
    pub status: &'a str,
    pub job_id: Option<&'a str>,
    pub message: Option<&'a str>,
    pub finished_at: Option<i64>,
    pub now: i64,
}

/// One variable a sync wrote, as it wrote it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SyncedVariableRecord {
    pub sync_id: String,
    pub destination_key: String,
    pub key: String,
    pub environment_scope: String,
    pub value_hmac: String,
    pub protected: i32,
    pub masked: i32,
    pub hidden: i32,
    pub raw: i32,
    pub variable_type: String,
    pub description: Option<String>,
    pub secret_version: Option<i64>,
    pub written_at: i64,
}

/// How one key of a run ended.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SyncResultRecord {
    pub sync_id: String,
    pub key: String,
    pub action: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub job_id: Option<String>,
    pub recorded_at: i64,
}

const SYNC_COLUMNS: &str = "id, tenant_id, project_id, name, description, connection_id, environment, \
     secret_path, is_auto_sync_enabled, destination_config, sync_options, destination_key, sync_status, \
     last_sync_job_id, last_sync_message, last_synced_at, import_status, last_import_job_id, \
     last_import_message, last_imported_at, remove_status, last_remove_job_id, last_remove_message, \
     last_removed_at, version, created_at, updated_at";

const VARIABLE_COLUMNS: &str = "sync_id, destination_key, key, environment_scope, value_hmac, protected, \
     masked, hidden, raw, variable_type, description, secret_version, written_at";

const RESULT_COLUMNS: &str = "sync_id, key, action, outcome, reason, job_id, recorded_at";

/// Results one statement of [`Store::record_sync_results`] writes at most (seven parameters each,
/// well within both backends' limits).
const RESULT_BATCH: usize = 500;

impl Store {
    /// Inserts a sync; a name taken within its secrets project is [`StoreError::Conflict`].
    pub async fn insert_secret_sync(&self, sync: &SecretSyncRecord) -> Result<SecretSyncRecord> {
        let sql = format!(
            "INSERT INTO secret_syncs ({SYNC_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
             $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27) \
             RETURNING {SYNC_COLUMNS}"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, SecretSyncRecord>(&sql)
            .bind(&sync.id)
            .bind(&sync.tenant_id)
            .bind(&sync.project_id)
            .bind(&sync.name)
            .bind(&sync.description)
            .bind(&sync.connection_id)
            .bind(&sync.environment)
            .bind(&sync.secret_path)
            .bind(sync.is_auto_sync_enabled)
            .bind(&sync.destination_config)
            .bind(&sync.sync_options)
            .bind(&sync.destination_key)
            .bind(&sync.sync_status)
            .bind(&sync.last_sync_job_id)
            .bind(&sync.last_sync_message)
            .bind(sync.last_synced_at)
            .bind(&sync.import_status)
            .bind(&sync.last_import_job_id)
            .bind(&sync.last_import_message)
            .bind(sync.last_imported_at)
            .bind(&sync.remove_status)
            .bind(&sync.last_remove_job_id)
            .bind(&sync.last_remove_message)
            .bind(sync.last_removed_at)
            .bind(sync.version)
            .bind(sync.created_at)
            .bind(sync.updated_at)
            .fetch_one(pool)
            .await?))
    }

    pub async fn secret_sync(&self, tenant_id: &str, id: &str) -> Result<SecretSyncRecord> {
        let sql = format!("SELECT {SYNC_COLUMNS} FROM secret_syncs WHERE tenant_id = $1 AND id = $2");
        on_pool!(self, pool => sqlx::query_as::<_, SecretSyncRecord>(&sql)
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    pub async fn secret_sync_by_name(
        &self,
        tenant_id: &str,
        project_id: &str,
        name: &str,
    ) -> Result<SecretSyncRecord> {
        let sql = format!(
            "SELECT {SYNC_COLUMNS} FROM secret_syncs WHERE tenant_id = $1 AND project_id = $2 AND name = $3"
        );
        on_pool!(self, pool => sqlx::query_as::<_, SecretSyncRecord>(&sql)
            .bind(tenant_id)
            .bind(project_id)
            .bind(name)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    /// The syncs of one secrets project, oldest first.
    pub async fn list_secret_syncs(
        &self,
        tenant_id: &str,
        project_id: &str,
    ) -> Result<Vec<SecretSyncRecord>> {
        let sql = format!(
            "SELECT {SYNC_COLUMNS} FROM secret_syncs WHERE tenant_id = $1 AND project_id = $2 \
             ORDER BY created_at, id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, SecretSyncRecord>(&sql)
            .bind(tenant_id)
            .bind(project_id)
            .fetch_all(pool)
            .await?))
    }

    /// The auto-syncing syncs of one folder.
    pub async fn auto_secret_syncs_of_folder(
        &self,
        tenant_id: &str,
        project_id: &str,
        environment: &str,
        secret_path: &str,
    ) -> Result<Vec<SecretSyncRecord>> {
        let sql = format!(
            "SELECT {SYNC_COLUMNS} FROM secret_syncs WHERE tenant_id = $1 AND project_id = $2 \
             AND environment = $3 AND secret_path = $4 AND is_auto_sync_enabled = 1 ORDER BY id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, SecretSyncRecord>(&sql)
            .bind(tenant_id)
            .bind(project_id)
            .bind(environment)
            .bind(secret_path)
            .fetch_all(pool)
            .await?))
    }

    /// Replaces what a person may change, if the row still has `expected_version`; `None` when it
    /// changed meanwhile. A taken name is [`StoreError::Conflict`].
    pub async fn update_secret_sync(
        &self,
        sync: &SecretSyncRecord,
        expected_version: i32,
    ) -> Result<Option<SecretSyncRecord>> {
        let sql = format!(
            "UPDATE secret_syncs SET name = $1, description = $2, connection_id = $3, environment = $4, \
             secret_path = $5, is_auto_sync_enabled = $6, destination_config = $7, sync_options = $8, \
             destination_key = $9, version = $10, updated_at = $11 \
             WHERE tenant_id = $12 AND id = $13 AND version = $14 RETURNING {SYNC_COLUMNS}"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, SecretSyncRecord>(&sql)
            .bind(&sync.name)
            .bind(&sync.description)
            .bind(&sync.connection_id)
            .bind(&sync.environment)
            .bind(&sync.secret_path)
            .bind(sync.is_auto_sync_enabled)
            .bind(&sync.destination_config)
            .bind(&sync.sync_options)
            .bind(&sync.destination_key)
            .bind(sync.version)
            .bind(sync.updated_at)
            .bind(&sync.tenant_id)
            .bind(&sync.id)
            .bind(expected_version)
            .fetch_optional(pool)
            .await?))
    }

    /// Records the status of one of a sync's activities.
    pub async fn set_secret_sync_status(
        &self,
        tenant_id: &str,
        id: &str,
        update: &SyncStatusUpdate<'_>,
    ) -> Result<SecretSyncRecord> {
        let (status, job, message, at) = match update.activity {
            SyncActivity::Sync => (
                "sync_status",
                "last_sync_job_id",
                "last_sync_message",
                "last_synced_at",
            ),
            SyncActivity::Import => (
                "import_status",
                "last_import_job_id",
                "last_import_message",
                "last_imported_at",
            ),
            SyncActivity::Remove => (
                "remove_status",
                "last_remove_job_id",
                "last_remove_message",
                "last_removed_at",
            ),
        };
        let sql = format!(
            "UPDATE secret_syncs SET {status} = $1, {job} = COALESCE($2, {job}), {message} = $3, \
             {at} = COALESCE($4, {at}), updated_at = $5 WHERE tenant_id = $6 AND id = $7 \
             RETURNING {SYNC_COLUMNS}"
        );
        on_pool!(self, pool => sqlx::query_as::<_, SecretSyncRecord>(&sql)
            .bind(update.status)
            .bind(update.job_id)
            .bind(update.message)
            .bind(update.finished_at)
            .bind(update.now)
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    /// Deletes a sync with its ownership records and results; false when it was not there.
    pub async fn delete_secret_sync(&self, tenant_id: &str, id: &str) -> Result<bool> {
        let deleted = on_pool!(self, pool => sqlx::query(
            "DELETE FROM secret_syncs WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(deleted > 0)
    }

    /// The variables one sync wrote.
    pub async fn synced_variables(&self, sync_id: &str) -> Result<Vec<SyncedVariableRecord>> {
        let sql = format!(
            "SELECT {VARIABLE_COLUMNS} FROM synced_variables WHERE sync_id = $1 ORDER BY key, environment_scope"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, SyncedVariableRecord>(&sql)
            .bind(sync_id)
            .fetch_all(pool)
            .await?),
        )
    }

    /// Keys other syncs wrote to the same destination and environment scope.
    pub async fn variables_owned_by_other_syncs(
        &self,
        destination_key: &str,
        environment_scope: &str,
        sync_id: &str,
    ) -> Result<Vec<String>> {
        Ok(on_pool!(self, pool => sqlx::query_scalar::<_, String>(
            "SELECT key FROM synced_variables WHERE destination_key = $1 AND environment_scope = $2 \
             AND sync_id <> $3 ORDER BY key",
        )
        .bind(destination_key)
        .bind(environment_scope)
        .bind(sync_id)
        .fetch_all(pool)
        .await?))
    }

    /// Records (or replaces) what a sync wrote to one variable.
    pub async fn record_synced_variable(&self, variable: &SyncedVariableRecord) -> Result<()> {
        let sql = format!(
            "INSERT INTO synced_variables ({VARIABLE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (sync_id, key, environment_scope) DO UPDATE SET \
             destination_key = excluded.destination_key, value_hmac = excluded.value_hmac, \
             protected = excluded.protected, masked = excluded.masked, hidden = excluded.hidden, \
             raw = excluded.raw, variable_type = excluded.variable_type, \
             description = excluded.description, secret_version = excluded.secret_version, \
             written_at = excluded.written_at"
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(&variable.sync_id)
            .bind(&variable.destination_key)
            .bind(&variable.key)
            .bind(&variable.environment_scope)
            .bind(&variable.value_hmac)
            .bind(variable.protected)
            .bind(variable.masked)
            .bind(variable.hidden)
            .bind(variable.raw)
            .bind(&variable.variable_type)
            .bind(&variable.description)
            .bind(variable.secret_version)
            .bind(variable.written_at)
            .execute(pool)
            .await?.rows_affected());
        Ok(())
    }

    /// Forgets that a sync owns one variable (it was deleted at GitLab).
    pub async fn forget_synced_variable(
        &self,
        sync_id: &str,
        key: &str,
        environment_scope: &str,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "DELETE FROM synced_variables WHERE sync_id = $1 AND key = $2 AND environment_scope = $3",
        )
        .bind(sync_id)
        .bind(key)
        .bind(environment_scope)
        .execute(pool)
        .await?.rows_affected());
        Ok(())
    }

    /// Drops the results of a sync's previous run.
    pub async fn clear_sync_results(&self, sync_id: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM secret_sync_results WHERE sync_id = $1")
            .bind(sync_id)
            .execute(pool)
            .await?.rows_affected());
        Ok(())
    }

    /// Records (or replaces) how one key of the current run ended.
    pub async fn record_sync_result(&self, result: &SyncResultRecord) -> Result<()> {
        let sql = format!(
            "INSERT INTO secret_sync_results ({RESULT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (sync_id, key) DO UPDATE SET action = excluded.action, outcome = excluded.outcome, \
             reason = excluded.reason, job_id = excluded.job_id, recorded_at = excluded.recorded_at"
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(&result.sync_id)
            .bind(&result.key)
            .bind(&result.action)
            .bind(&result.outcome)
            .bind(&result.reason)
            .bind(&result.job_id)
            .bind(result.recorded_at)
            .execute(pool)
            .await?.rows_affected());
        Ok(())
    }

    /// Records (or replaces) how many keys of the current run ended, a few hundred per statement:
    /// the keys a run did not need to write, which a no-op run has by the thousand.
    pub async fn record_sync_results(&self, results: &[SyncResultRecord]) -> Result<()> {
        for batch in results.chunks(RESULT_BATCH) {
            let values = (0..batch.len())
                .map(|row| row_placeholders(self.backend(), row * 7, 7))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO secret_sync_results ({RESULT_COLUMNS}) VALUES {values} \
                 ON CONFLICT (sync_id, key) DO UPDATE SET action = excluded.action, outcome = excluded.outcome, \
                 reason = excluded.reason, job_id = excluded.job_id, recorded_at = excluded.recorded_at"
            );
            on_pool!(self, pool => {
                let mut query = sqlx::query(&sql);
                for result in batch {
                    query = query
                        .bind(&result.sync_id)
                        .bind(&result.key)
                        .bind(&result.action)
                        .bind(&result.outcome)
                        .bind(&result.reason)
                        .bind(&result.job_id)
                        .bind(result.recorded_at);
                }
                query.execute(pool).await?;
            });
        }
        Ok(())
    }

    /// The results of a sync's last run, by key.
    pub async fn sync_results(&self, sync_id: &str) -> Result<Vec<SyncResultRecord>> {
        let sql = format!("SELECT {RESULT_COLUMNS} FROM secret_sync_results WHERE sync_id = $1 ORDER BY key");
        Ok(on_pool!(self, pool => sqlx::query_as::<_, SyncResultRecord>(&sql)
            .bind(sync_id)
            .fetch_all(pool)
            .await?))
    }
}
