//! Secret scanning push webhooks: the hooks installed at GitLab for each data source, and the
//! push events already received (for redelivery dedupe).

use crate::secret_scanning::ScanDataSourceRecord;
use crate::{Result, Store, on_pool};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScanHookRecord {
    pub id: String,
    pub tenant_id: String,
    pub data_source_id: String,
    pub connection_id: String,
    pub owner_kind: String,
    pub gitlab_owner_id: i64,
    pub gitlab_hook_id: i64,
    pub state: String,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const HOOK_COLUMNS: &str = "id, tenant_id, data_source_id, connection_id, owner_kind, gitlab_owner_id, \
     gitlab_hook_id, state, last_error, created_at, updated_at";

impl Store {
    pub async fn insert_scan_hook(&self, hook: &ScanHookRecord) -> Result<()> {
        let sql = format!(
            "INSERT INTO scan_hooks ({HOOK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(&hook.id)
            .bind(&hook.tenant_id)
            .bind(&hook.data_source_id)
            .bind(&hook.connection_id)
            .bind(&hook.owner_kind)
            .bind(hook.gitlab_owner_id)
            .bind(hook.gitlab_hook_id)
            .bind(&hook.state)
            .bind(&hook.last_error)
            .bind(hook.created_at)
            .bind(hook.updated_at)
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }

    /// The hooks recorded for a data source (deleted or not), oldest first.
    pub async fn list_scan_hooks(
        &self,
        tenant_id: &str,
        data_source_id: &str,
    ) -> Result<Vec<ScanHookRecord>> {
        let sql = format!(
            "SELECT {HOOK_COLUMNS} FROM scan_hooks WHERE tenant_id = $1 AND data_source_id = $2 \
             ORDER BY created_at, id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, ScanHookRecord>(&sql)
            .bind(tenant_id)
            .bind(data_source_id)
            .fetch_all(pool)
            .await?))
    }

    pub async fn set_scan_hook_state(
        &self,
        id: &str,
        state: &str,
        last_error: Option<&str>,
        at: i64,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE scan_hooks SET state = $1, last_error = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(state)
        .bind(last_error)
        .bind(at)
        .bind(id)
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    pub async fn delete_scan_hook(&self, id: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM scan_hooks WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }

    /// The data sources with auto-scan on that a push to GitLab project `gitlab_project_id` may
    /// come from: those that know the project, and those with a group hook (which also fires for
    /// projects created in the group after the data source last listed them). Any tenant: the
    /// caller tells them apart by the hook's secret.
    pub async fn scan_push_candidates(&self, gitlab_project_id: i64) -> Result<Vec<ScanDataSourceRecord>> {
        let sql = "SELECT id, tenant_id, name, description, connection_id, config, is_auto_scan_enabled, \
             version, created_at, updated_at FROM scan_data_sources s WHERE is_auto_scan_enabled = 1 AND \
             (EXISTS (SELECT 1 FROM scan_resources r WHERE r.data_source_id = s.id AND r.gitlab_project_id = $1) \
             OR EXISTS (SELECT 1 FROM scan_hooks h WHERE h.data_source_id = s.id AND h.owner_kind = 'group' \
             AND h.state = 'installed')) ORDER BY created_at, id";
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, ScanDataSourceRecord>(sql)
            .bind(gitlab_project_id)
            .fetch_all(pool)
            .await?),
        )
    }

    /// Records a push event of a data source; false when it was already recorded and has not
    /// expired (a redelivery). An expired record is taken as new; the prune job deletes them.
    pub async fn record_scan_push_event(
        &self,
        data_source_id: &str,
        event_uuid: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<bool> {
        let inserted = on_pool!(self, pool => sqlx::query(
            "INSERT INTO scan_push_events (data_source_id, event_uuid, received_at, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (data_source_id, event_uuid) DO UPDATE \
             SET received_at = excluded.received_at, expires_at = excluded.expires_at \
             WHERE scan_push_events.expires_at < excluded.received_at",
        )
        .bind(data_source_id)
        .bind(event_uuid)
        .bind(now)
        .bind(expires_at)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(inserted > 0)
    }

    /// Deletes the push events recorded before `now` that no longer dedupe anything.
    pub async fn prune_scan_push_events(&self, now: i64) -> Result<u64> {
        Ok(
            on_pool!(self, pool => sqlx::query("DELETE FROM scan_push_events WHERE expires_at < $1")
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()),
        )
    }

    /// Forgets a push event recorded for a data source, so that GitLab's retry of a delivery
    /// that could not be queued is taken again.
    pub async fn forget_scan_push_event(&self, data_source_id: &str, event_uuid: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "DELETE FROM scan_push_events WHERE data_source_id = $1 AND event_uuid = $2",
        )
        .bind(data_source_id)
        .bind(event_uuid)
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }
}
