//! App connections (GitLab by access token, later OAuth), their event timeline, and the token
//! journal that keeps GitLab's answers to rotations until they are applied.

use crate::page;
use crate::{BeginWrite, Result, Store, StoreError, VaultItemKey, on_pool, row_placeholders};

/// One connection row. The token itself is a vault item of the same id.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ConnectionRecord {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub description: Option<String>,
    pub app: String,
    pub method: String,
    pub access_token_type: Option<String>,
    pub instance_url: String,
    pub project_id: Option<String>,
    pub credentials_hash: String,
    pub status: String,
    pub status_reason: Option<String>,
    /// JSON array.
    pub scopes: String,
    pub expires_at: Option<i64>,
    pub token_name: Option<String>,
    pub token_id: Option<i64>,
    pub gitlab_user_id: Option<i64>,
    pub gitlab_username: Option<String>,
    pub gitlab_bot: Option<i32>,
    pub resource_kind: Option<String>,
    pub resource_id: Option<i64>,
    pub resource_path: Option<String>,
    pub access_level: Option<i32>,
    /// JSON array.
    pub usages: String,
    pub auto_rotate: i32,
    pub rotate_before_days: i32,
    pub consecutive_failures: i32,
    pub refresh_generation: i64,
    pub version: i32,
    pub last_checked_at: Option<i64>,
    pub last_rotated_at: Option<i64>,
    /// OAuth: the instance authorised through; `None` for the default instance.
    pub instance_id: Option<String>,
    pub external_tenant_id: Option<String>,
    pub external_user_id: Option<String>,
    /// OAuth: when the current access token arrived.
    pub token_issued_at: Option<i64>,
    /// OAuth: when the proactive refresh is due.
    pub next_refresh_at: Option<i64>,
    /// When the connection last handed out its credential, to the minute. Written only by
    /// [`Store::record_connection_use`]: saving a row never moves it, so a save from an older
    /// read cannot take a recorded use back.
    pub last_used_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// OAuth: HMACs of the current access and refresh tokens (`credentials_hash` names the
    /// grant's identity), for a scan to recognise either token when it leaks.
    pub access_token_hash: Option<String>,
    pub refresh_token_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ConnectionEventRecord {
    pub id: String,
    pub tenant_id: String,
    pub connection_id: String,
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub reason: Option<String>,
    pub created_at: i64,
}

/// Which connections a listing answers.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionFilter<'a> {
    pub tenant_id: &'a str,
    /// One app, or every app.
    pub app: Option<&'a str>,
    /// One project's connections, or every connection.
    pub project_id: Option<&'a str>,
    /// One status (`active`, `expired`, …), or every status.
    pub status: Option<&'a str>,
    /// One method (`access-token`, `oauth`), or both.
    pub method: Option<&'a str>,
    /// Connections whose name contains this text, in any case; `%`, `_` and `\` match
    /// themselves.
    pub name_contains: Option<&'a str>,
}

/// `text` as a `LIKE` pattern that matches it anywhere, its wildcards escaped with `\`.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A journalled GitLab call: `pending` while it holds the connection's lock before its request
/// leaves, `sent` once the request may have reached GitLab, `answered` once GitLab's sealed
/// answer is stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JournalRecord {
    pub id: String,
    pub tenant_id: String,
    pub connection_id: String,
    pub operation: String,
    pub state: String,
    pub sealed_answer: Option<Vec<u8>>,
    /// The job that follows the call; `None` for entries written before jobs did.
    pub job_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A journal entry to open before a GitLab call is made.
#[derive(Debug, Clone, Copy)]
pub struct NewJournalEntry<'a> {
    pub id: &'a str,
    pub tenant_id: &'a str,
    pub connection_id: &'a str,
    pub operation: &'a str,
    pub job_id: Option<&'a str>,
    pub now: i64,
}

/// Applies a journalled answer: the new sealed tokens replace the old ones, the connection row
/// takes its new state, and the journal entry goes, all in one transaction.
#[derive(Debug, Clone)]
pub struct JournalApply<'a> {
    pub journal_id: &'a str,
    pub tokens: &'a [SealedItem<'a>],
    pub connection: &'a ConnectionRecord,
    /// The version the row must still have.
    pub expected_version: i32,
    pub event: Option<&'a ConnectionEventRecord>,
    /// A refresh: the lease the applying process must still hold, and the generation the row
    /// must still have. The lease is released with the write.
    pub refresh: Option<RefreshHold<'a>>,
}

/// The refresh lease an apply is made under.
#[derive(Debug, Clone, Copy)]
pub struct RefreshHold<'a> {
    /// The holder the lease must still have; `None` applies whoever holds it (recovering an
    /// answer a crashed holder left: the generation check alone keeps it from applying twice).
    pub lease_owner: Option<&'a str>,
    pub expected_generation: i64,
}

/// An authorisation flow under way (`oauth_states`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OAuthStateRecord {
    pub state_hash: String,
    pub tenant_id: String,
    pub instance_id: Option<String>,
    /// JSON.
    pub request: String,
    pub sealed_verifier: Vec<u8>,
    pub browser_binding: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

const OAUTH_STATE_COLUMNS: &str = "state_hash, tenant_id, instance_id, request, sealed_verifier, browser_binding, created_at, expires_at, used_at";
/// The latest time a connection handed out its credential, for [`Store::record_connection_use`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionUse<'a> {
    pub connection_id: &'a str,
    pub used_at: i64,
}

/// Rows one statement of [`Store::record_connection_use`] updates at most (two parameters each).
const USE_BATCH: usize = 500;

/// A sealed value to write into `vault_items` together with a connection row.
#[derive(Debug, Clone, Copy)]
pub struct SealedItem<'a> {
    pub key: VaultItemKey<'a>,
    pub sealed: &'a [u8],
    pub data_key_id: &'a str,
    pub now: i64,
}

const UPSERT_VAULT_ITEM: &str = "INSERT INTO vault_items (tenant_id, owner_table, owner_id, field, sealed, data_key_id, \
     updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, owner_table, owner_id, field) \
     DO UPDATE SET sealed = excluded.sealed, data_key_id = excluded.data_key_id, updated_at = excluded.updated_at";

macro_rules! bind_item {
    ($query:expr, $item:expr) => {
        $query
            .bind($item.key.tenant_id)
            .bind($item.key.owner_table)
            .bind($item.key.owner_id)
            .bind($item.key.field)
            .bind($item.sealed)
            .bind($item.data_key_id)
            .bind($item.now)
    };
}

const CONNECTION_COLUMNS: &str = "id, tenant_id, name, description, app, method, access_token_type, instance_url, \
     project_id, credentials_hash, status, status_reason, scopes, expires_at, token_name, token_id, gitlab_user_id, \
     gitlab_username, gitlab_bot, resource_kind, resource_id, resource_path, access_level, usages, auto_rotate, \
     rotate_before_days, consecutive_failures, refresh_generation, version, last_checked_at, last_rotated_at, \
     instance_id, external_tenant_id, external_user_id, token_issued_at, next_refresh_at, last_used_at, created_at, \
     updated_at, access_token_hash, refresh_token_hash";
const EVENT_COLUMNS: &str = "id, tenant_id, connection_id, kind, from_status, to_status, reason, created_at";
const JOURNAL_COLUMNS: &str =
    "id, tenant_id, connection_id, operation, state, sealed_answer, job_id, created_at, updated_at";

const INSERT_CONNECTION: &str = "INSERT INTO app_connections (id, tenant_id, name, description, app, method, \
     access_token_type, instance_url, project_id, credentials_hash, status, status_reason, scopes, expires_at, \
     token_name, token_id, gitlab_user_id, gitlab_username, gitlab_bot, resource_kind, resource_id, resource_path, \
     access_level, usages, auto_rotate, rotate_before_days, consecutive_failures, refresh_generation, version, \
     last_checked_at, last_rotated_at, instance_id, external_tenant_id, external_user_id, token_issued_at, \
     next_refresh_at, last_used_at, created_at, updated_at, access_token_hash, refresh_token_hash) VALUES ($1, $2, $3, \
     $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, \
     $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40, $41)";

/// Saves everything a person or a check changes; `last_used_at` is not among it (see
/// [`Store::record_connection_use`]).
const UPDATE_CONNECTION: &str = "UPDATE app_connections SET name = $1, description = $2, access_token_type = $3, \
     instance_url = $4, project_id = $5, credentials_hash = $6, status = $7, status_reason = $8, scopes = $9, \
     expires_at = $10, token_name = $11, token_id = $12, gitlab_user_id = $13, gitlab_username = $14, \
     gitlab_bot = $15, resource_kind = $16, resource_id = $17, resource_path = $18, access_level = $19, \
     usages = $20, auto_rotate = $21, rotate_before_days = $22, consecutive_failures = $23, \
     refresh_generation = $24, version = $25, last_checked_at = $26, last_rotated_at = $27, instance_id = $28, \
     external_tenant_id = $29, external_user_id = $30, token_issued_at = $31, next_refresh_at = $32, \
     updated_at = $33, access_token_hash = $34, refresh_token_hash = $35 WHERE tenant_id = $36 AND id = $37 \
     AND version = $38";

macro_rules! bind_connection_insert {
    ($query:expr, $r:expr) => {
        $query
            .bind(&$r.id)
            .bind(&$r.tenant_id)
            .bind(&$r.name)
            .bind(&$r.description)
            .bind(&$r.app)
            .bind(&$r.method)
            .bind(&$r.access_token_type)
            .bind(&$r.instance_url)
            .bind(&$r.project_id)
            .bind(&$r.credentials_hash)
            .bind(&$r.status)
            .bind(&$r.status_reason)
            .bind(&$r.scopes)
            .bind($r.expires_at)
            .bind(&$r.token_name)
            .bind($r.token_id)
            .bind($r.gitlab_user_id)
            .bind(&$r.gitlab_username)
            .bind($r.gitlab_bot)
            .bind(&$r.resource_kind)
            .bind($r.resource_id)
            .bind(&$r.resource_path)
            .bind($r.access_level)
            .bind(&$r.usages)
            .bind($r.auto_rotate)
            .bind($r.rotate_before_days)
            .bind($r.consecutive_failures)
            .bind($r.refresh_generation)
            .bind($r.version)
            .bind($r.last_checked_at)
            .bind($r.last_rotated_at)
            .bind(&$r.instance_id)
            .bind(&$r.external_tenant_id)
            .bind(&$r.external_user_id)
            .bind($r.token_issued_at)
            .bind($r.next_refresh_at)
            .bind($r.last_used_at)
            .bind($r.created_at)
            .bind($r.updated_at)
            .bind(&$r.access_token_hash)
            .bind(&$r.refresh_token_hash)
    };
}

macro_rules! bind_connection_update {
    ($query:expr, $r:expr, $expected:expr) => {
        $query
            .bind(&$r.name)
            .bind(&$r.description)
            .bind(&$r.access_token_type)
            .bind(&$r.instance_url)
            .bind(&$r.project_id)
            .bind(&$r.credentials_hash)
            .bind(&$r.status)
            .bind(&$r.status_reason)
            .bind(&$r.scopes)
            .bind($r.expires_at)
            .bind(&$r.token_name)
            .bind($r.token_id)
            .bind($r.gitlab_user_id)
            .bind(&$r.gitlab_username)
            .bind($r.gitlab_bot)
            .bind(&$r.resource_kind)
            .bind($r.resource_id)
            .bind(&$r.resource_path)
            .bind($r.access_level)
            .bind(&$r.usages)
            .bind($r.auto_rotate)
            .bind($r.rotate_before_days)
            .bind($r.consecutive_failures)
            .bind($r.refresh_generation)
            .bind($r.version)
            .bind($r.last_checked_at)
            .bind($r.last_rotated_at)
            .bind(&$r.instance_id)
            .bind(&$r.external_tenant_id)
            .bind(&$r.external_user_id)
            .bind($r.token_issued_at)
            .bind($r.next_refresh_at)
            .bind($r.updated_at)
            .bind(&$r.access_token_hash)
            .bind(&$r.refresh_token_hash)
            .bind(&$r.tenant_id)
            .bind(&$r.id)
            .bind($expected)
    };
}

macro_rules! bind_event {
    ($query:expr, $e:expr) => {
        $query
            .bind(&$e.id)
            .bind(&$e.tenant_id)
            .bind(&$e.connection_id)
            .bind(&$e.kind)
            .bind(&$e.from_status)
            .bind(&$e.to_status)
            .bind(&$e.reason)
            .bind($e.created_at)
    };
}

const INSERT_EVENT: &str = "INSERT INTO connection_events (id, tenant_id, connection_id, kind, from_status, \
     to_status, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

impl Store {
    /// Inserts a connection; a taken name is [`StoreError::Conflict`].
    pub async fn insert_connection(&self, record: &ConnectionRecord) -> Result<()> {
        on_pool!(self, pool => bind_connection_insert!(sqlx::query(INSERT_CONNECTION), record)
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }

    /// Inserts a connection and its sealed token in one transaction; a taken name is
    /// [`StoreError::Conflict`] and then nothing is written.
    pub async fn insert_connection_with_token(
        &self,
        record: &ConnectionRecord,
        token: &SealedItem<'_>,
    ) -> Result<()> {
        self.insert_connection_with_tokens(record, std::slice::from_ref(token))
            .await
    }

    /// Inserts a connection and its sealed tokens (an OAuth pair) in one transaction; a taken
    /// name, or labels another connection has, is [`StoreError::Conflict`] and nothing is written.
    pub async fn insert_connection_with_tokens(
        &self,
        record: &ConnectionRecord,
        tokens: &[SealedItem<'_>],
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            bind_connection_insert!(sqlx::query(INSERT_CONNECTION), record).execute(&mut *tx).await?;
            for token in tokens {
                bind_item!(sqlx::query(UPSERT_VAULT_ITEM), token).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Saves a row that has `expected_version`, its new sealed token and an optional event in one
    /// transaction; `None` (nothing written) when the row changed meanwhile.
    pub async fn save_connection_with_token(
        &self,
        record: &ConnectionRecord,
        expected_version: i32,
        token: &SealedItem<'_>,
        event: Option<&ConnectionEventRecord>,
    ) -> Result<Option<ConnectionRecord>> {
        self.save_connection_with_tokens(record, expected_version, std::slice::from_ref(token), event)
            .await
    }

    /// Like [`Store::save_connection_with_token`], with several sealed tokens.
    pub async fn save_connection_with_tokens(
        &self,
        record: &ConnectionRecord,
        expected_version: i32,
        tokens: &[SealedItem<'_>],
        event: Option<&ConnectionEventRecord>,
    ) -> Result<Option<ConnectionRecord>> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let affected = bind_connection_update!(sqlx::query(UPDATE_CONNECTION), record, expected_version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if affected != 1 {
                tx.rollback().await?;
                return Ok(None);
            }
            for token in tokens {
                bind_item!(sqlx::query(UPSERT_VAULT_ITEM), token).execute(&mut *tx).await?;
            }
            if let Some(event) = event {
                bind_event!(sqlx::query(INSERT_EVENT), event).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(Some(record.clone()))
    }

    /// Inserts many connections in one transaction (imports and large test fixtures).
    pub async fn insert_connections(&self, records: &[ConnectionRecord]) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for record in records {
                bind_connection_insert!(sqlx::query(INSERT_CONNECTION), record)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn connection(&self, tenant_id: &str, id: &str) -> Result<ConnectionRecord> {
        let sql =
            format!("SELECT {CONNECTION_COLUMNS} FROM app_connections WHERE tenant_id = $1 AND id = $2");
        on_pool!(self, pool => sqlx::query_as::<_, ConnectionRecord>(&sql)
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    /// A connection by name; with `project_id`, only when it belongs to that project.
    pub async fn connection_by_name(
        &self,
        tenant_id: &str,
        app: &str,
        name: &str,
        project_id: Option<&str>,
    ) -> Result<ConnectionRecord> {
        let sql = format!(
            "SELECT {CONNECTION_COLUMNS} FROM app_connections WHERE tenant_id = $1 AND app = $2 AND name = $3 \
             AND ($4 IS NULL OR project_id = $4)"
        );
        on_pool!(self, pool => sqlx::query_as::<_, ConnectionRecord>(&sql)
            .bind(tenant_id)
            .bind(app)
            .bind(name)
            .bind(project_id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    /// A page of a tenant's connections (of one app or all, of one project or all), oldest
    /// first, and the total; without `limit`, every one after `offset`.
    pub async fn list_connections(
        &self,
        filter: &ConnectionFilter<'_>,
        offset: u64,
        limit: Option<u32>,
    ) -> Result<(Vec<ConnectionRecord>, u64)> {
        let name_pattern = filter.name_contains.map(contains_pattern);
        page!(
            self,
            ConnectionRecord,
            columns = CONNECTION_COLUMNS,
            from = "app_connections WHERE tenant_id = $1 AND ($2 IS NULL OR app = $2) \
                    AND ($3 IS NULL OR project_id = $3) AND ($4 IS NULL OR status = $4) \
                    AND ($5 IS NULL OR method = $5) \
                    AND ($6 IS NULL OR LOWER(name) LIKE $6 ESCAPE '\\')",
            order = "created_at, id",
            binds = [
                filter.tenant_id,
                filter.app,
                filter.project_id,
                filter.status,
                filter.method,
                name_pattern.as_deref()
            ],
            offset = offset,
            // Both backends need a number here; no tenant holds four billion connections.
            limit = limit.unwrap_or(u32::MAX)
        )
    }

    /// The ids of a tenant's connections holding a token whose HMAC is `hash` (an access
    /// token's credentials hash, an OAuth connection's current access or refresh token): the
    /// connections whose token a scan found leaked.
    pub async fn connection_ids_by_credentials_hash(
        &self,
        tenant_id: &str,
        hash: &str,
    ) -> Result<Vec<String>> {
        Ok(on_pool!(self, pool => sqlx::query_scalar::<_, String>(
            "SELECT id FROM app_connections WHERE tenant_id = $1 AND (credentials_hash = $2 \
             OR access_token_hash = $2 OR refresh_token_hash = $2) ORDER BY id",
        )
        .bind(tenant_id)
        .bind(hash)
        .fetch_all(pool)
        .await?))
    }

    /// Every tenant's connections after `after_id` in id order, for background sweeps.
    pub async fn connections_after(&self, after_id: &str, limit: u32) -> Result<Vec<ConnectionRecord>> {
        let sql =
            format!("SELECT {CONNECTION_COLUMNS} FROM app_connections WHERE id > $1 ORDER BY id LIMIT $2");
        Ok(on_pool!(self, pool => sqlx::query_as::<_, ConnectionRecord>(&sql)
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?))
    }

    /// Writes `record` if the row still has `expected_version`; `None` when it changed meanwhile
    /// (or is gone). The caller sets `record.version` (bumped for user changes, kept for health).
    pub async fn save_connection(
        &self,
        record: &ConnectionRecord,
        expected_version: i32,
    ) -> Result<Option<ConnectionRecord>> {
        let affected = on_pool!(self, pool => bind_connection_update!(sqlx::query(UPDATE_CONNECTION), record, expected_version)
            .execute(pool)
            .await?
            .rows_affected());
        Ok((affected == 1).then(|| record.clone()))
    }

    /// Like [`Store::save_connection`], and records `event` in the same transaction.
    pub async fn save_connection_with_event(
        &self,
        record: &ConnectionRecord,
        expected_version: i32,
        event: &ConnectionEventRecord,
    ) -> Result<Option<ConnectionRecord>> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let affected = bind_connection_update!(sqlx::query(UPDATE_CONNECTION), record, expected_version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if affected != 1 {
                tx.rollback().await?;
                return Ok(None);
            }
            bind_event!(sqlx::query(INSERT_EVENT), event).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(Some(record.clone()))
    }

    /// Records when connections last handed out their credentials, a few hundred rows per
    /// statement. A recorded time never moves back, since several processes record uses of the
    /// same connection, each its own latest; connections deleted meanwhile are skipped.
    pub async fn record_connection_use(&self, uses: &[ConnectionUse<'_>]) -> Result<()> {
        for batch in uses.chunks(USE_BATCH) {
            let values = (0..batch.len())
                .map(|row| row_placeholders(self.backend(), 2 * row, 2))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "WITH used (id, at) AS (VALUES {values}) UPDATE app_connections SET last_used_at = used.at \
                 FROM used WHERE app_connections.id = used.id \
                 AND (app_connections.last_used_at IS NULL OR app_connections.last_used_at < used.at)"
            );
            on_pool!(self, pool => {
                let mut query = sqlx::query(&sql);
                for used in batch {
                    query = query.bind(used.connection_id).bind(used.used_at);
                }
                query.execute(pool).await?;
            });
        }
        Ok(())
    }

    /// Deletes a connection with its events and journal; false when it did not exist.
    pub async fn delete_connection(&self, tenant_id: &str, id: &str) -> Result<bool> {
        let affected = on_pool!(self, pool => sqlx::query("DELETE FROM app_connections WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(affected == 1)
    }

    pub async fn insert_connection_event(&self, event: &ConnectionEventRecord) -> Result<()> {
        on_pool!(self, pool => bind_event!(sqlx::query(INSERT_EVENT), event)
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }

    /// A connection's events, newest first, and the total.
    pub async fn list_connection_events(
        &self,
        tenant_id: &str,
        connection_id: &str,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<ConnectionEventRecord>, u64)> {
        page!(
            self,
            ConnectionEventRecord,
            columns = EVENT_COLUMNS,
            from = "connection_events WHERE tenant_id = $1 AND connection_id = $2",
            order = "created_at DESC, id DESC",
            binds = [tenant_id, connection_id],
            offset = offset,
            limit = limit
        )
    }

    /// Deletes events created before `before`; returns how many went.
    pub async fn prune_connection_events(&self, before: i64) -> Result<u64> {
        Ok(
            on_pool!(self, pool => sqlx::query("DELETE FROM connection_events WHERE created_at < $1")
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected()),
        )
    }

    /// Opens a journal entry in state `pending`, before the GitLab call is made. A connection
    /// that already has an entry is [`StoreError::Conflict`].
    pub async fn insert_journal(&self, entry: &NewJournalEntry<'_>) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO token_journal (id, tenant_id, connection_id, operation, state, sealed_answer, job_id, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', NULL, $5, $6, $6)",
        )
        .bind(entry.id)
        .bind(entry.tenant_id)
        .bind(entry.connection_id)
        .bind(entry.operation)
        .bind(entry.job_id)
        .bind(entry.now)
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Marks a pending entry `sent`: its request is about to leave for GitLab, so from now on
    /// an entry without an answer may mean GitLab acted. False when the entry is gone.
    pub async fn mark_journal_sent(&self, id: &str, now: i64) -> Result<bool> {
        let affected = on_pool!(self, pool => sqlx::query(
            "UPDATE token_journal SET state = 'sent', updated_at = $1 WHERE id = $2 AND state = 'pending'",
        )
        .bind(now)
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(affected == 1)
    }

    /// Stores GitLab's sealed answer on an entry still waiting for one. False when the entry is
    /// gone (a recovery gave up on it, or its connection was deleted).
    pub async fn record_journal_answer(&self, id: &str, sealed_answer: &[u8], now: i64) -> Result<bool> {
        let affected = on_pool!(self, pool => sqlx::query(
            "UPDATE token_journal SET state = 'answered', sealed_answer = $1, updated_at = $2 \
             WHERE id = $3 AND state IN ('pending', 'sent')",
        )
        .bind(sealed_answer)
        .bind(now)
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(affected == 1)
    }

    /// Writes an answered entry afresh, for an answer whose entry went while the request was out.
    /// A taken connection slot (another operation began) is [`StoreError::Conflict`].
    pub async fn insert_answered_journal(&self, entry: &JournalRecord) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO token_journal (id, tenant_id, connection_id, operation, state, sealed_answer, job_id, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, 'answered', $5, $6, $7, $8)",
        )
        .bind(&entry.id)
        .bind(&entry.tenant_id)
        .bind(&entry.connection_id)
        .bind(&entry.operation)
        .bind(&entry.sealed_answer)
        .bind(&entry.job_id)
        .bind(entry.created_at)
        .bind(entry.updated_at)
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Journal entries of one connection, oldest first.
    pub async fn connection_journal(
        &self,
        tenant_id: &str,
        connection_id: &str,
    ) -> Result<Vec<JournalRecord>> {
        let sql = format!(
            "SELECT {JOURNAL_COLUMNS} FROM token_journal WHERE tenant_id = $1 AND connection_id = $2 \
             ORDER BY created_at, id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, JournalRecord>(&sql)
            .bind(tenant_id)
            .bind(connection_id)
            .fetch_all(pool)
            .await?))
    }

    /// Every journal entry (recovery at start), oldest first.
    pub async fn all_journal(&self, limit: u32) -> Result<Vec<JournalRecord>> {
        let sql = format!("SELECT {JOURNAL_COLUMNS} FROM token_journal ORDER BY created_at, id LIMIT $1");
        Ok(on_pool!(self, pool => sqlx::query_as::<_, JournalRecord>(&sql)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?))
    }

    pub async fn delete_journal(&self, id: &str) -> Result<bool> {
        let affected = on_pool!(self, pool => sqlx::query("DELETE FROM token_journal WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(affected == 1)
    }

    /// Applies a journalled answer in one transaction (see [`JournalApply`]). False when the
    /// connection moved on meanwhile (or, for a refresh, the lease or generation did); nothing is
    /// written then.
    pub async fn apply_journal(&self, apply: &JournalApply<'_>) -> Result<bool> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            if let Some(hold) = apply.refresh {
                // First, so that on PostgreSQL the row is locked before anything is checked.
                let held = sqlx::query(
                    "UPDATE app_connections SET refresh_lease_owner = NULL, refresh_lease_expires_at = NULL \
                     WHERE tenant_id = $1 AND id = $2 AND ($3 IS NULL OR refresh_lease_owner = $3) \
                     AND refresh_generation = $4",
                )
                .bind(&apply.connection.tenant_id)
                .bind(&apply.connection.id)
                .bind(hold.lease_owner)
                .bind(hold.expected_generation)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if held != 1 {
                    tx.rollback().await?;
                    return Ok(false);
                }
            }
            let affected = bind_connection_update!(sqlx::query(UPDATE_CONNECTION), apply.connection, apply.expected_version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if affected != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            for token in apply.tokens {
                bind_item!(sqlx::query(UPSERT_VAULT_ITEM), token).execute(&mut *tx).await?;
            }
            if let Some(event) = apply.event {
                bind_event!(sqlx::query(INSERT_EVENT), event).execute(&mut *tx).await?;
            }
            sqlx::query("DELETE FROM token_journal WHERE id = $1")
                .bind(apply.journal_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Takes the connection's refresh lease for `owner` until `until`, when nobody holds it or
    /// its holder's lease ran out. Answers whether it was taken.
    pub async fn take_refresh_lease(
        &self,
        tenant_id: &str,
        id: &str,
        owner: &str,
        now: i64,
        until: i64,
    ) -> Result<bool> {
        let affected = on_pool!(self, pool => sqlx::query(
            "UPDATE app_connections SET refresh_lease_owner = $1, refresh_lease_expires_at = $2 \
             WHERE tenant_id = $3 AND id = $4 \
             AND (refresh_lease_owner IS NULL OR refresh_lease_expires_at <= $5 OR refresh_lease_owner = $1)",
        )
        .bind(owner)
        .bind(until)
        .bind(tenant_id)
        .bind(id)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(affected == 1)
    }

    /// Gives the lease back, if `owner` still holds it.
    pub async fn release_refresh_lease(&self, tenant_id: &str, id: &str, owner: &str) -> Result<bool> {
        let affected = on_pool!(self, pool => sqlx::query(
            "UPDATE app_connections SET refresh_lease_owner = NULL, refresh_lease_expires_at = NULL \
             WHERE tenant_id = $1 AND id = $2 AND refresh_lease_owner = $3",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(owner)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(affected == 1)
    }

    /// The connection an embedding application labelled with its own tenant and user ids.
    pub async fn connection_by_external(
        &self,
        tenant_id: &str,
        external_tenant_id: &str,
        external_user_id: &str,
    ) -> Result<ConnectionRecord> {
        let sql = format!(
            "SELECT {CONNECTION_COLUMNS} FROM app_connections WHERE tenant_id = $1 AND external_tenant_id = $2 \
             AND external_user_id = $3"
        );
        on_pool!(self, pool => sqlx::query_as::<_, ConnectionRecord>(&sql)
            .bind(tenant_id)
            .bind(external_tenant_id)
            .bind(external_user_id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    /// OAuth connections whose proactive refresh is due at `now`, soonest first.
    pub async fn connections_due_for_refresh(&self, now: i64, limit: u32) -> Result<Vec<ConnectionRecord>> {
        let sql = format!(
            "SELECT {CONNECTION_COLUMNS} FROM app_connections WHERE next_refresh_at <= $1 \
             ORDER BY next_refresh_at, id LIMIT $2"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, ConnectionRecord>(&sql)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?))
    }

    /// Records an authorisation flow that has begun.
    pub async fn insert_oauth_state(&self, record: &OAuthStateRecord) -> Result<()> {
        let sql = format!(
            "INSERT INTO oauth_states ({OAUTH_STATE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(&record.state_hash)
            .bind(&record.tenant_id)
            .bind(&record.instance_id)
            .bind(&record.request)
            .bind(&record.sealed_verifier)
            .bind(&record.browser_binding)
            .bind(record.created_at)
            .bind(record.expires_at)
            .bind(record.used_at)
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }

    /// Marks a flow's state used, once: answers the flow when this call used it, `None` when the
    /// state is unknown or was used before. Expiry is the caller's to judge, so that it can say
    /// which of the two it was.
    pub async fn use_oauth_state(&self, state_hash: &str, now: i64) -> Result<Option<OAuthStateRecord>> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let affected = sqlx::query(
                "UPDATE oauth_states SET used_at = $1 WHERE state_hash = $2 AND used_at IS NULL",
            )
            .bind(now)
            .bind(state_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if affected != 1 {
                tx.rollback().await?;
                return Ok(None);
            }
            let sql = format!("SELECT {OAUTH_STATE_COLUMNS} FROM oauth_states WHERE state_hash = $1");
            let record = sqlx::query_as::<_, OAuthStateRecord>(&sql)
                .bind(state_hash)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some(record))
        })
    }

    /// Deletes flows that ended before `before`; returns how many went.
    pub async fn prune_oauth_states(&self, before: i64) -> Result<u64> {
        Ok(
            on_pool!(self, pool => sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1")
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected()),
        )
    }
}
