//! Sessions of the web UI: a login trades an email and password for a random token (the cookie)
//! whose SHA-256 finds the session; the session yields a principal like an API key does.

use std::net::IpAddr;
use std::sync::Arc;

use labgate_proto::audit::{AuditAction, ResourceType};
use labgate_store::{NewSession, SessionRecord, Store};
use secrecy::{ExposeSecret, SecretString};
use time::{Duration, OffsetDateTime};

use super::login_limit::LoginLimiter;
use super::users::Users;
use super::{Actor, Principal};
use crate::audit::{AuditEvent, AuditLog};
use crate::clock::Clock;
use crate::ids::{TenantId, UserId};
use crate::rows::{Parsed, ms, role, time};
use crate::{CoreError, Result};

/// How long a session lasts from its login, unless `LABGATE_UI_SESSION_HOURS` says otherwise.
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::hours(12);
/// Random bytes in a session token.
const TOKEN_BYTES: usize = 32;
/// Longest token worth looking up: 32 bytes are 43 characters of base64url.
const MAX_TOKEN_LEN: usize = 64;
/// A session's last use is written at most this often.
const LAST_SEEN_GRANULARITY: Duration = Duration::MINUTE;

/// A live session and who it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub principal: Principal,
    pub user_id: UserId,
    pub email: String,
    pub tenant_name: String,
    pub expires_at: OffsetDateTime,
}

impl Session {
    fn from_record(row: SessionRecord, source_ip: Option<IpAddr>) -> Parsed<Session> {
        let user_id = UserId::from_stored(row.user_id);
        Ok(Session {
            principal: Principal {
                tenant_id: TenantId::from_stored(row.tenant_id),
                role: role("users.role", &row.role)?,
                actor: Actor::User {
                    id: user_id.to_string(),
                },
                source_ip,
            },
            user_id,
            email: row.email,
            tenant_name: row.tenant_name,
            expires_at: time("ui_sessions.expires_at", row.expires_at)?,
        })
    }
}

/// A successful login: the token for the cookie (shown to nobody else) and the session.
pub struct LoggedIn {
    pub token: SecretString,
    pub session: Session,
}

impl std::fmt::Debug for LoggedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggedIn")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// Why a login did not produce a session.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The email is unknown or the password wrong; which one is not said.
    #[error("the email or password is not correct")]
    InvalidCredentials,
    /// Too many failed logins from this address or for this email.
    #[error("too many failed logins; try again in {retry_after_secs} seconds")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error(transparent)]
    Failed(#[from] CoreError),
}

#[derive(Clone)]
pub struct UiSessions {
    store: Store,
    clock: Arc<dyn Clock>,
    audit: AuditLog,
    users: Users,
    limiter: Arc<LoginLimiter>,
    lifetime: Duration,
}

impl UiSessions {
    pub(crate) fn new(store: Store, clock: Arc<dyn Clock>, audit: AuditLog, users: Users) -> UiSessions {
        UiSessions {
            limiter: Arc::new(LoginLimiter::new(clock.clone())),
            store,
            clock,
            audit,
            users,
            lifetime: DEFAULT_SESSION_LIFETIME,
        }
    }

    /// The same sessions lasting `lifetime` from login.
    #[must_use]
    pub fn with_lifetime(mut self, lifetime: Duration) -> UiSessions {
        self.lifetime = lifetime;
        self
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Checks the email and password and opens a session. Refused without checking anything
    /// while the address or the email is over its failed-login allowance.
    pub async fn login(
        &self,
        email: &str,
        password: SecretString,
        client_ip: Option<IpAddr>,
    ) -> std::result::Result<LoggedIn, LoginError> {
        let attempt = self
            .limiter
            .begin(client_ip, email)
            .map_err(|retry_after_secs| LoginError::TooManyAttempts { retry_after_secs })?;
        let user = match self.users.verify(email, password).await {
            Ok(Some(user)) => user,
            // Counted as a failure already, by `begin`.
            Ok(None) => return Err(LoginError::InvalidCredentials),
            Err(error) => {
                self.limiter.abandoned(attempt);
                return Err(error.into());
            }
        };
        self.limiter.succeeded(attempt);
        let now = self.clock.now();
        // Logins are rare next to page views: a good moment to forget sessions nobody can use.
        self.store
            .delete_expired_sessions(ms(now))
            .await
            .map_err(CoreError::from)?;
        let token = labgate_crypto::random_token(TOKEN_BYTES);
        let hash = labgate_crypto::sha256(token.expose_secret().as_bytes());
        self.store
            .insert_session(&NewSession {
                token_hash: &hash,
                user_id: user.id.as_str(),
                tenant_id: user.tenant_id.as_str(),
                now: ms(now),
                expires_at: ms(now + self.lifetime),
            })
            .await
            .map_err(CoreError::from)?;
        self.users.record_login(&user.id).await?;
        let source_ip = client_ip.map(|ip| ip.to_string());
        let actor = Actor::User {
            id: user.id.to_string(),
        };
        self.audit
            .record_as(
                Some(&user.tenant_id),
                &actor,
                source_ip.as_deref(),
                AuditEvent {
                    action: AuditAction::UserLogin,
                    resource_kind: ResourceType::User,
                    resource_id: Some(user.id.as_str()),
                    details: None,
                },
            )
            .await?;
        let session = self
            .session(token.expose_secret(), client_ip)
            .await?
            .ok_or_else(|| {
                CoreError::internal(std::io::Error::other("a new session could not be read back"))
            })?;
        Ok(LoggedIn { token, session })
    }

    /// The live session of this token, or `None` (unknown, ended or expired). Records the use
    /// at most once a minute.
    pub async fn session(&self, token: &str, source_ip: Option<IpAddr>) -> Result<Option<Session>> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Ok(None);
        }
        let hash = labgate_crypto::sha256(token.as_bytes());
        let Some(row) = self.store.session(&hash).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let last_seen = time("ui_sessions.last_seen_at", row.last_seen_at)?;
        let session = Session::from_record(row, source_ip)?;
        if session.expires_at <= now {
            return Ok(None);
        }
        if last_seen <= now - LAST_SEEN_GRANULARITY {
            let granularity = i64::try_from(LAST_SEEN_GRANULARITY.whole_milliseconds()).unwrap_or(i64::MAX);
            if let Err(error) = self.store.touch_session(&hash, ms(now), granularity).await {
                tracing::warn!(user_id = %session.user_id, error = %error, "could not record a session's use");
            }
        }
        Ok(Some(session))
    }

    /// Ends the session of this token (nothing happens for an unknown one).
    pub async fn logout(&self, token: &str) -> Result<()> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Ok(());
        }
        Ok(self
            .store
            .delete_session(&labgate_crypto::sha256(token.as_bytes()))
            .await?)
    }

    /// Ends every session of a user (a password change, an offboarding); answers how many.
    pub async fn end_all(&self, user_id: &UserId) -> Result<u64> {
        Ok(self.store.delete_user_sessions(user_id.as_str()).await?)
    }
}
