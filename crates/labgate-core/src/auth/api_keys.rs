//! API keys: `lgk_` tokens shown once, stored as SHA-256, each with a tenant, a role, an optional
//! expiry and a last-used time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use labgate_proto::api_keys::{ApiKeyList, ApiKeyView, Role};
use labgate_store::{ApiKeyRecord, AuthenticatedKey, NewApiKey, Store};
use parking_lot::Mutex;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{Access, Actor, Principal};
use crate::audit::{AuditEvent, AuditLog};
use crate::clock::Clock;
use crate::ids::{is_valid_id, new_id};
use crate::timefmt::{opt_rfc3339, parse_rfc3339, to_rfc3339};
use crate::{CoreError, Result};

/// How long a looked-up key may be trusted without asking the database again. Revocation through
/// this process clears the entry at once; revocation elsewhere (another replica, the CLI) takes
/// effect within this time.
const CACHE_TTL: Duration = Duration::from_millis(900);
/// Last-used times are recorded with this granularity, so a busy key does not turn reads into writes.
const LAST_USED_GRANULARITY_MS: i64 = 60_000;
const CACHE_LIMIT: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Malformed,
    Unknown,
    Revoked,
    Expired,
}

impl AuthFailure {
    pub fn message(self) -> &'static str {
        match self {
            AuthFailure::Missing => "an API key is required: send Authorization: Bearer <key>",
            AuthFailure::Malformed => "the Authorization header must be Bearer followed by a labgate API key",
            AuthFailure::Unknown => "the API key is not valid",
            AuthFailure::Revoked => "the API key has been revoked",
            AuthFailure::Expired => "the API key has expired",
        }
    }
}

/// The answer to a key creation: the only time the token exists outside the caller.
pub struct CreatedApiKey {
    pub view: ApiKeyView,
    pub token: SecretString,
}

impl std::fmt::Debug for CreatedApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApiKey")
            .field("view", &self.view)
            .finish_non_exhaustive()
    }
}

/// What to create. `token` lets an operator supply the key (the bootstrap key of automated
/// deployments); otherwise a random one is generated.
pub struct KeyRequest<'a> {
    pub name: &'a str,
    pub role: Role,
    pub expires_at: Option<&'a str>,
    pub token: Option<SecretString>,
}

#[derive(Clone)]
struct CachedKey {
    key: AuthenticatedKey,
    fetched: Instant,
}

#[derive(Clone)]
pub struct ApiKeys {
    store: Store,
    clock: Arc<dyn Clock>,
    audit: AuditLog,
    cache: Arc<Mutex<HashMap<[u8; 32], CachedKey>>>,
}

pub(crate) fn view(record: ApiKeyRecord) -> ApiKeyView {
    ApiKeyView {
        role: Role::parse(&record.role).unwrap_or(Role::Reader),
        id: record.id,
        name: record.name,
        prefix: record.prefix,
        expires_at: opt_rfc3339(record.expires_at),
        last_used_at: opt_rfc3339(record.last_used_at),
        revoked_at: opt_rfc3339(record.revoked_at),
        created_at: to_rfc3339(record.created_at),
    }
}

fn validate_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(CoreError::validation(
            "name",
            "name must be 1-64 printable characters",
        ));
    }
    Ok(())
}

impl ApiKeys {
    pub fn new(store: Store, clock: Arc<dyn Clock>, audit: AuditLog) -> ApiKeys {
        ApiKeys {
            store,
            clock,
            audit,
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Creates a key for `tenant_id`.
    pub async fn create(
        &self,
        tenant_id: &str,
        actor: &Actor,
        source_ip: Option<&str>,
        request: KeyRequest<'_>,
    ) -> Result<CreatedApiKey> {
        let KeyRequest {
            name,
            role,
            expires_at,
            token,
        } = request;
        validate_name(name)?;
        let now = self.clock.now_ms();
        let expires_at = match expires_at {
            None => None,
            Some(text) => {
                let at = parse_rfc3339(text).ok_or_else(|| {
                    CoreError::validation("expiresAt", "expiresAt must be an RFC 3339 time")
                })?;
                if at <= now {
                    return Err(CoreError::validation(
                        "expiresAt",
                        "expiresAt must be in the future",
                    ));
                }
                Some(at)
            }
        };
        let (token, hash, prefix) = match token {
            Some(token) => {
                let text = token.expose_secret();
                if text.len() < 32 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(CoreError::validation(
                        "token",
                        "a supplied API key must be at least 32 characters without whitespace",
                    ));
                }
                let hash = labgate_crypto::hash_api_key(text);
                let prefix: String = text.chars().take(8).collect();
                (token, hash, prefix)
            }
            None => {
                let generated = labgate_crypto::generate_api_key();
                (generated.token, generated.hash, generated.prefix)
            }
        };
        let id = new_id();
        let record = self
            .store
            .insert_api_key(&NewApiKey {
                id: &id,
                tenant_id,
                name,
                prefix: &prefix,
                token_hash: &hash,
                role: role.as_str(),
                expires_at,
                created_by: actor.id(),
                now,
            })
            .await
            .map_err(|error| match error {
                labgate_store::StoreError::Conflict { .. } => {
                    CoreError::Conflict("this API key is already registered".to_owned())
                }
                other => other.into(),
            })?;
        self.audit
            .record_as(
                Some(tenant_id),
                actor,
                source_ip,
                AuditEvent {
                    action: "api-key.create",
                    resource_kind: "api-key",
                    resource_id: Some(&id),
                    details: Some(json!({"name": name, "role": role.as_str()})),
                },
            )
            .await?;
        Ok(CreatedApiKey {
            view: view(record),
            token,
        })
    }

    pub async fn create_for(
        &self,
        principal: &Principal,
        name: &str,
        role: Role,
        expires_at: Option<&str>,
    ) -> Result<CreatedApiKey> {
        principal.require(Access::Admin)?;
        let request = KeyRequest {
            name,
            role,
            expires_at,
            token: None,
        };
        self.create(
            &principal.tenant_id,
            &principal.actor,
            principal.source_ip.as_deref(),
            request,
        )
        .await
    }

    pub async fn list(&self, principal: &Principal, offset: u64, limit: u32) -> Result<ApiKeyList> {
        principal.require(Access::Admin)?;
        self.list_tenant(&principal.tenant_id, offset, limit).await
    }

    pub async fn list_tenant(&self, tenant_id: &str, offset: u64, limit: u32) -> Result<ApiKeyList> {
        let (records, total) = self.store.list_api_keys(tenant_id, offset, limit).await?;
        Ok(ApiKeyList {
            api_keys: records.into_iter().map(view).collect(),
            total_count: total,
        })
    }

    pub async fn get(&self, principal: &Principal, id: &str) -> Result<ApiKeyView> {
        principal.require(Access::Admin)?;
        if !is_valid_id(id) {
            return Err(CoreError::NotFound("API key"));
        }
        self.store
            .api_key(&principal.tenant_id, id)
            .await
            .map(view)
            .map_err(|_| CoreError::NotFound("API key"))
    }

    pub async fn revoke(&self, principal: &Principal, id: &str) -> Result<ApiKeyView> {
        principal.require(Access::Admin)?;
        self.revoke_in(
            &principal.tenant_id,
            &principal.actor,
            principal.source_ip.as_deref(),
            id,
        )
        .await
    }

    pub async fn revoke_in(
        &self,
        tenant_id: &str,
        actor: &Actor,
        source_ip: Option<&str>,
        id: &str,
    ) -> Result<ApiKeyView> {
        if !is_valid_id(id) {
            return Err(CoreError::NotFound("API key"));
        }
        let record = self
            .store
            .revoke_api_key(tenant_id, id, self.clock.now_ms())
            .await
            .map_err(|error| match error {
                labgate_store::StoreError::NotFound => CoreError::NotFound("API key"),
                other => other.into(),
            })?;
        self.cache.lock().retain(|_, cached| cached.key.id != id);
        self.audit
            .record_as(
                Some(tenant_id),
                actor,
                source_ip,
                AuditEvent {
                    action: "api-key.revoke",
                    resource_kind: "api-key",
                    resource_id: Some(id),
                    details: None,
                },
            )
            .await?;
        Ok(view(record))
    }

    /// Resolves a bearer token to its principal.
    pub async fn authenticate(
        &self,
        token: &str,
        source_ip: Option<String>,
    ) -> std::result::Result<Principal, AuthenticateError> {
        if token.is_empty() || token.len() > 512 {
            return Err(AuthenticateError::Denied(AuthFailure::Malformed));
        }
        let hash = labgate_crypto::hash_api_key(token);
        let cached = self
            .cache
            .lock()
            .get(&hash)
            .filter(|c| c.fetched.elapsed() < CACHE_TTL)
            .cloned();
        let key = match cached {
            Some(cached) => cached.key,
            None => {
                let found = self
                    .store
                    .api_key_by_hash(&hash)
                    .await
                    .map_err(AuthenticateError::Store)?;
                let Some(key) = found else {
                    return Err(AuthenticateError::Denied(AuthFailure::Unknown));
                };
                let mut cache = self.cache.lock();
                if cache.len() >= CACHE_LIMIT {
                    cache.retain(|_, c| c.fetched.elapsed() < CACHE_TTL);
                }
                cache.insert(
                    hash,
                    CachedKey {
                        key: key.clone(),
                        fetched: Instant::now(),
                    },
                );
                key
            }
        };
        let now = self.clock.now_ms();
        if key.revoked_at.is_some() {
            return Err(AuthenticateError::Denied(AuthFailure::Revoked));
        }
        if key.expires_at.is_some_and(|at| at <= now) {
            return Err(AuthenticateError::Denied(AuthFailure::Expired));
        }
        let Some(role) = Role::parse(&key.role) else {
            return Err(AuthenticateError::Denied(AuthFailure::Unknown));
        };
        if key
            .last_used_at
            .is_none_or(|at| at < now - LAST_USED_GRANULARITY_MS)
        {
            self.touch(&hash, &key.id, now);
        }
        Ok(Principal {
            tenant_id: key.tenant_id,
            role,
            actor: Actor::ApiKey { id: key.id },
            source_ip,
        })
    }

    fn touch(&self, hash: &[u8; 32], id: &str, now: i64) {
        if let Some(cached) = self.cache.lock().get_mut(hash) {
            cached.key.last_used_at = Some(now);
        }
        let store = self.store.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            if let Err(error) = store.touch_api_key(&id, now, LAST_USED_GRANULARITY_MS).await {
                tracing::warn!(api_key_id = %id, error = %error, "could not record API key use");
            }
        });
    }
}

/// Why authentication did not produce a principal.
#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    #[error("{}", .0.message())]
    Denied(AuthFailure),
    #[error("the key store is unavailable")]
    Store(#[source] labgate_store::StoreError),
}
