//! Incremental access sync: the hooks installed at GitLab for each access source, the secret they
//! present, the events already received, and the resources events said changed.

use crate::{Result, Store, on_pool};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessHookRecord {
    pub id: String,
    pub tenant_id: String,
    pub source_id: String,
    pub connection_id: String,
    pub owner_kind: String,
    pub gitlab_owner_id: Option<i64>,
    pub gitlab_hook_id: i64,
    pub state: String,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const HOOK_COLUMNS: &str = "id, tenant_id, source_id, connection_id, owner_kind, gitlab_owner_id, \
     gitlab_hook_id, state, last_error, created_at, updated_at";

/// A source's hook secret: sealed, with its digest to find the source by.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessHookSecretRecord {
    pub source_id: String,
    pub tenant_id: String,
    pub token_sealed: Vec<u8>,
    pub token_digest: String,
    pub delivery: String,
    pub note: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for AccessHookSecretRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessHookSecretRecord")
            .field("source_id", &self.source_id)
            .field("tenant_id", &self.tenant_id)
            .field("delivery", &self.delivery)
            .finish_non_exhaustive()
    }
}

const SECRET_COLUMNS: &str =
    "source_id, tenant_id, token_sealed, token_digest, delivery, note, created_at, updated_at";

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessPendingTargetRecord {
    pub source_id: String,
    pub target_kind: String,
    pub gitlab_id: i64,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
}

impl Store {
    pub async fn insert_access_hook(&self, hook: &AccessHookRecord) -> Result<()> {
        let sql = format!(
            "INSERT INTO access_hooks ({HOOK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(&hook.id)
            .bind(&hook.tenant_id)
            .bind(&hook.source_id)
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

    /// The hooks recorded for a source (deleted or not), oldest first.
    pub async fn list_access_hooks(&self, tenant_id: &str, source_id: &str) -> Result<Vec<AccessHookRecord>> {
        let sql = format!(
            "SELECT {HOOK_COLUMNS} FROM access_hooks WHERE tenant_id = $1 AND source_id = $2 \
             ORDER BY created_at, id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, AccessHookRecord>(&sql)
            .bind(tenant_id)
            .bind(source_id)
            .fetch_all(pool)
            .await?))
    }

    pub async fn set_access_hook_state(
        &self,
        id: &str,
        state: &str,
        last_error: Option<&str>,
        at: i64,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE access_hooks SET state = $1, last_error = $2, updated_at = $3 WHERE id = $4",
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

    pub async fn delete_access_hook(&self, id: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM access_hooks WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }

    /// Stores (or replaces) a source's hook secret and delivery mode.
    pub async fn put_access_hook_secret(&self, secret: &AccessHookSecretRecord) -> Result<()> {
        let sql = format!(
            "INSERT INTO access_hook_secrets ({SECRET_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (source_id) DO UPDATE SET token_sealed = excluded.token_sealed, \
             token_digest = excluded.token_digest, delivery = excluded.delivery, note = excluded.note, \
             updated_at = excluded.updated_at"
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(&secret.source_id)
            .bind(&secret.tenant_id)
            .bind(&secret.token_sealed)
            .bind(&secret.token_digest)
            .bind(&secret.delivery)
            .bind(&secret.note)
            .bind(secret.created_at)
            .bind(secret.updated_at)
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }

    pub async fn access_hook_secret(
        &self,
        tenant_id: &str,
        source_id: &str,
    ) -> Result<Option<AccessHookSecretRecord>> {
        let sql = format!(
            "SELECT {SECRET_COLUMNS} FROM access_hook_secrets WHERE tenant_id = $1 AND source_id = $2"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, AccessHookSecretRecord>(&sql)
            .bind(tenant_id)
            .bind(source_id)
            .fetch_optional(pool)
            .await?),
        )
    }

    /// The source whose hooks present the secret with this digest, in any tenant.
    pub async fn access_hook_secret_by_digest(
        &self,
        token_digest: &str,
    ) -> Result<Option<AccessHookSecretRecord>> {
        let sql = format!("SELECT {SECRET_COLUMNS} FROM access_hook_secrets WHERE token_digest = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, AccessHookSecretRecord>(&sql)
            .bind(token_digest)
            .fetch_optional(pool)
            .await?),
        )
    }

    pub async fn delete_access_hook_secret(&self, tenant_id: &str, source_id: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM access_hook_secrets WHERE tenant_id = $1 AND source_id = $2")
            .bind(tenant_id)
            .bind(source_id)
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }

    /// Records an event of a source; false when it was already recorded and has not expired
    /// (a redelivery). An expired record is taken as new.
    pub async fn record_access_hook_event(
        &self,
        source_id: &str,
        event_uuid: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<bool> {
        let inserted = on_pool!(self, pool => sqlx::query(
            "INSERT INTO access_hook_events (source_id, event_uuid, received_at, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (source_id, event_uuid) DO UPDATE \
             SET received_at = excluded.received_at, expires_at = excluded.expires_at \
             WHERE access_hook_events.expires_at < excluded.received_at",
        )
        .bind(source_id)
        .bind(event_uuid)
        .bind(now)
        .bind(expires_at)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(inserted > 0)
    }

    /// Deletes the events recorded before `now` that no longer dedupe anything.
    pub async fn prune_access_hook_events(&self, now: i64) -> Result<u64> {
        Ok(
            on_pool!(self, pool => sqlx::query("DELETE FROM access_hook_events WHERE expires_at < $1")
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()),
        )
    }

    /// Adds what an event said changed; a target already pending keeps its first sighting.
    pub async fn add_access_pending_target(
        &self,
        source_id: &str,
        target_kind: &str,
        gitlab_id: i64,
        now: i64,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO access_pending_targets (source_id, target_kind, gitlab_id, first_seen_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (source_id, target_kind, gitlab_id) DO UPDATE \
             SET last_seen_at = excluded.last_seen_at",
        )
        .bind(source_id)
        .bind(target_kind)
        .bind(gitlab_id)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// The targets pending for a source, oldest sighting first.
    pub async fn list_access_pending_targets(
        &self,
        source_id: &str,
    ) -> Result<Vec<AccessPendingTargetRecord>> {
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, AccessPendingTargetRecord>(
            "SELECT source_id, target_kind, gitlab_id, first_seen_at, last_seen_at FROM access_pending_targets \
             WHERE source_id = $1 ORDER BY first_seen_at, target_kind, gitlab_id",
        )
        .bind(source_id)
        .fetch_all(pool)
        .await?),
        )
    }

    /// Removes a pending target a run has re-read, unless an event named it again after
    /// `seen_by` (the newer sighting still needs a run).
    pub async fn settle_access_pending_target(
        &self,
        source_id: &str,
        target_kind: &str,
        gitlab_id: i64,
        seen_by: i64,
    ) -> Result<bool> {
        let deleted = on_pool!(self, pool => sqlx::query(
            "DELETE FROM access_pending_targets WHERE source_id = $1 AND target_kind = $2 AND gitlab_id = $3 \
             AND last_seen_at <= $4",
        )
        .bind(source_id)
        .bind(target_kind)
        .bind(gitlab_id)
        .bind(seen_by)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(deleted > 0)
    }
}
