//! Connect sessions: the single-use tickets an embedding application's page opens labgate's
//! connect popup with (`connect_sessions`).

use crate::{Result, Store, on_pool};

/// A connect session. The token is never here: only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ConnectSessionRecord {
    pub id: String,
    pub token_hash: String,
    pub tenant_id: String,
    pub api_key_id: String,
    pub name: String,
    pub description: Option<String>,
    /// Space-separated.
    pub scopes: String,
    pub instance_url: Option<String>,
    pub external_tenant_id: Option<String>,
    pub external_user_id: Option<String>,
    pub allowed_origin: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// The answer to [`Store::use_connect_session`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectSessionClaim {
    /// This call used the session.
    Claimed(ConnectSessionRecord),
    /// The session was used before or has expired (the record says which).
    Refused(ConnectSessionRecord),
    /// No session has this token.
    Unknown,
}

const COLUMNS: &str = "id, token_hash, tenant_id, api_key_id, name, description, scopes, instance_url, \
     external_tenant_id, external_user_id, allowed_origin, created_at, expires_at, used_at";

impl Store {
    pub async fn insert_connect_session(&self, record: &ConnectSessionRecord) -> Result<()> {
        let sql = format!(
            "INSERT INTO connect_sessions ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        );
        on_pool!(self, pool => sqlx::query(&sql)
            .bind(&record.id)
            .bind(&record.token_hash)
            .bind(&record.tenant_id)
            .bind(&record.api_key_id)
            .bind(&record.name)
            .bind(&record.description)
            .bind(&record.scopes)
            .bind(&record.instance_url)
            .bind(&record.external_tenant_id)
            .bind(&record.external_user_id)
            .bind(&record.allowed_origin)
            .bind(record.created_at)
            .bind(record.expires_at)
            .bind(record.used_at)
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }

    /// Uses the session with this token hash if it is unused and unexpired at `now`, in one
    /// statement: of two concurrent calls, one claims it.
    pub async fn use_connect_session(&self, token_hash: &str, now: i64) -> Result<ConnectSessionClaim> {
        let claim = format!(
            "UPDATE connect_sessions SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING {COLUMNS}"
        );
        let read = format!("SELECT {COLUMNS} FROM connect_sessions WHERE token_hash = $1");
        on_pool!(self, pool => {
            let claimed = sqlx::query_as::<_, ConnectSessionRecord>(&claim)
                .bind(now)
                .bind(token_hash)
                .fetch_optional(pool)
                .await?;
            if let Some(record) = claimed {
                return Ok(ConnectSessionClaim::Claimed(record));
            }
            let found = sqlx::query_as::<_, ConnectSessionRecord>(&read)
                .bind(token_hash)
                .fetch_optional(pool)
                .await?;
            Ok(found.map_or(ConnectSessionClaim::Unknown, ConnectSessionClaim::Refused))
        })
    }

    /// A session by its id (not secret: the popup's result page names it).
    pub async fn connect_session(&self, id: &str) -> Result<Option<ConnectSessionRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM connect_sessions WHERE id = $1");
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, ConnectSessionRecord>(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?),
        )
    }

    /// Deletes sessions that expired before `before`; returns how many went.
    pub async fn prune_connect_sessions(&self, before: i64) -> Result<u64> {
        Ok(
            on_pool!(self, pool => sqlx::query("DELETE FROM connect_sessions WHERE expires_at < $1")
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected()),
        )
    }
}
