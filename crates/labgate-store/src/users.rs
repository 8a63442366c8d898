//! People who log in to the web UI, and their sessions (found by the SHA-256 of the token).

use crate::{Result, Store, StoreError, on_pool};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRecord {
    pub id: String,
    pub tenant_id: String,
    pub email: String,
    pub role: String,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

/// What a login needs: the user and the stored password hash. `Debug` leaves the hash out.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserLoginRecord {
    pub id: String,
    pub tenant_id: String,
    pub role: String,
    pub password_hash: String,
}

impl std::fmt::Debug for UserLoginRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserLoginRecord")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub id: &'a str,
    pub tenant_id: &'a str,
    /// Lowercased by the caller: the unique index compares it as stored.
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
    pub now: i64,
}

#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub token_hash: &'a [u8],
    pub user_id: &'a str,
    pub tenant_id: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

/// A session with what a page shows about its user and tenant.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRecord {
    pub user_id: String,
    pub tenant_id: String,
    pub tenant_name: String,
    pub email: String,
    pub role: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_seen_at: i64,
}

const USER_COLUMNS: &str = "id, tenant_id, email, role, created_at, last_login_at";

impl Store {
    pub async fn insert_user(&self, user: &NewUser<'_>) -> Result<UserRecord> {
        let sql = format!(
            "INSERT INTO users (id, tenant_id, email, password_hash, role, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {USER_COLUMNS}"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, UserRecord>(&sql)
            .bind(user.id)
            .bind(user.tenant_id)
            .bind(user.email)
            .bind(user.password_hash)
            .bind(user.role)
            .bind(user.now)
            .fetch_one(pool)
            .await?))
    }

    /// The user with this (lowercased) email, with the password hash, for a login.
    pub async fn user_login(&self, email: &str) -> Result<Option<UserLoginRecord>> {
        Ok(on_pool!(self, pool => sqlx::query_as::<_, UserLoginRecord>(
            "SELECT id, tenant_id, role, password_hash FROM users WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(pool)
        .await?))
    }

    pub async fn user_by_email(&self, email: &str) -> Result<UserRecord> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
        on_pool!(self, pool => sqlx::query_as::<_, UserRecord>(&sql)
            .bind(email)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    /// A tenant's users, oldest first.
    pub async fn list_users(&self, tenant_id: &str) -> Result<Vec<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 ORDER BY created_at, id");
        Ok(on_pool!(self, pool => sqlx::query_as::<_, UserRecord>(&sql)
            .bind(tenant_id)
            .fetch_all(pool)
            .await?))
    }

    /// Deletes a user and, with it, every session of theirs.
    pub async fn delete_user(&self, id: &str) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM ui_sessions WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            if deleted == 0 {
                return Err(StoreError::NotFound);
            }
        });
        Ok(())
    }

    pub async fn record_user_login(&self, id: &str, now: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }

    pub async fn insert_session(&self, session: &NewSession<'_>) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO ui_sessions (token_hash, user_id, tenant_id, created_at, expires_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $4)",
        )
        .bind(session.token_hash)
        .bind(session.user_id)
        .bind(session.tenant_id)
        .bind(session.now)
        .bind(session.expires_at)
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// The session with this token hash, with its user's current email and role (a changed
    /// role applies to open sessions at once) and its tenant's name.
    pub async fn session(&self, token_hash: &[u8]) -> Result<Option<SessionRecord>> {
        Ok(on_pool!(self, pool => sqlx::query_as::<_, SessionRecord>(
            "SELECT s.user_id, s.tenant_id, t.name AS tenant_name, u.email, u.role, s.created_at, \
             s.expires_at, s.last_seen_at FROM ui_sessions s \
             JOIN users u ON u.id = s.user_id JOIN tenants t ON t.id = s.tenant_id \
             WHERE s.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await?))
    }

    /// Records that the session was used, unless that was recorded less than `granularity_ms`
    /// ago, so that browsing does not turn every page into a write.
    pub async fn touch_session(&self, token_hash: &[u8], now: i64, granularity_ms: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE ui_sessions SET last_seen_at = $1 WHERE token_hash = $2 AND last_seen_at < $3",
        )
        .bind(now)
        .bind(token_hash)
        .bind(now.saturating_sub(granularity_ms))
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Ends one session; ending one that does not exist is not an error.
    pub async fn delete_session(&self, token_hash: &[u8]) -> Result<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM ui_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }

    /// Ends every session of a user; answers how many there were.
    pub async fn delete_user_sessions(&self, user_id: &str) -> Result<u64> {
        Ok(
            on_pool!(self, pool => sqlx::query("DELETE FROM ui_sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(pool)
            .await?
            .rows_affected()),
        )
    }

    /// Forgets sessions that expired before `now`.
    pub async fn delete_expired_sessions(&self, now: i64) -> Result<u64> {
        Ok(
            on_pool!(self, pool => sqlx::query("DELETE FROM ui_sessions WHERE expires_at < $1")
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()),
        )
    }
}
