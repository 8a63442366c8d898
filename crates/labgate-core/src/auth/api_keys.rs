//! API keys: `lgk_` tokens shown once, stored as SHA-256, each with a tenant, a role, an optional
//! expiry and a last-used time.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::RandomKeys;
use std::sync::Arc;

use labgate_proto::api_keys::{ApiKeyList, ApiKeyView, Role};
use labgate_proto::audit::{AuditAction, ResourceType};
use labgate_store::{ApiKeyRecord, AuthenticatedKey, NewApiKey, Store, StoreError};
use parking_lot::RwLock;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::{Access, Actor, Principal};
use crate::audit::{AuditEvent, AuditLog};
use crate::clock::Clock;
use crate::ids::{ApiKeyId, TenantId};
use crate::rows::{Parsed, StoredValueError, ms, opt_ms, opt_time, role, time};
use crate::timefmt::{format_opt, format_time, parse_time};
use crate::{CoreError, Result};

/// How long a looked-up key may be trusted without asking the database again. Revocation through
/// this process clears the entry at once; revocation elsewhere (another replica, the CLI) takes
/// effect within this time.
pub const CACHE_TTL: Duration = Duration::milliseconds(900);
/// Last-used times are recorded with this granularity, so a busy key does not turn reads into writes.
const LAST_USED_GRANULARITY: Duration = Duration::MINUTE;
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

/// An API key as the domain sees it. The token is never here: only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub name: String,
    /// The first characters of the token, enough to recognise it.
    pub prefix: String,
    pub role: Role,
    pub expires_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

impl TryFrom<ApiKeyRecord> for ApiKey {
    type Error = StoredValueError;

    fn try_from(row: ApiKeyRecord) -> Parsed<ApiKey> {
        Ok(ApiKey {
            id: ApiKeyId::from_stored(row.id),
            tenant_id: TenantId::from_stored(row.tenant_id),
            role: role("api_keys.role", &row.role)?,
            expires_at: opt_time("api_keys.expires_at", row.expires_at)?,
            last_used_at: opt_time("api_keys.last_used_at", row.last_used_at)?,
            revoked_at: opt_time("api_keys.revoked_at", row.revoked_at)?,
            created_at: time("api_keys.created_at", row.created_at)?,
            name: row.name,
            prefix: row.prefix,
        })
    }
}

/// What authentication needs to know about a presented key.
#[derive(Debug, Clone)]
struct KeyIdentity {
    id: ApiKeyId,
    tenant_id: TenantId,
    role: Role,
    expires_at: Option<OffsetDateTime>,
    revoked_at: Option<OffsetDateTime>,
    last_used_at: Option<OffsetDateTime>,
}

impl TryFrom<AuthenticatedKey> for KeyIdentity {
    type Error = StoredValueError;

    fn try_from(row: AuthenticatedKey) -> Parsed<KeyIdentity> {
        Ok(KeyIdentity {
            id: ApiKeyId::from_stored(row.id),
            tenant_id: TenantId::from_stored(row.tenant_id),
            role: role("api_keys.role", &row.role)?,
            expires_at: opt_time("api_keys.expires_at", row.expires_at)?,
            revoked_at: opt_time("api_keys.revoked_at", row.revoked_at)?,
            last_used_at: opt_time("api_keys.last_used_at", row.last_used_at)?,
        })
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
    /// Shared: every request with the key reads it, and a copy would cost a few allocations.
    key: Arc<KeyIdentity>,
    /// When it was read from the database, on the injected clock.
    fetched: OffsetDateTime,
}

#[derive(Clone)]
pub struct ApiKeys {
    store: Store,
    clock: Arc<dyn Clock>,
    audit: AuditLog,
    cache: Arc<RwLock<HashMap<[u8; 32], CachedKey, RandomKeys>>>,
}

pub(crate) fn view(key: ApiKey) -> ApiKeyView {
    ApiKeyView {
        role: key.role,
        id: key.id.into(),
        name: key.name,
        prefix: key.prefix,
        expires_at: format_opt(key.expires_at),
        last_used_at: format_opt(key.last_used_at),
        revoked_at: format_opt(key.revoked_at),
        created_at: format_time(key.created_at),
    }
}

fn parsed_view(row: ApiKeyRecord) -> Result<ApiKeyView> {
    Ok(view(ApiKey::try_from(row)?))
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
    pub(crate) fn new(store: Store, clock: Arc<dyn Clock>, audit: AuditLog) -> ApiKeys {
        ApiKeys {
            store,
            clock,
            audit,
            cache: Arc::new(RwLock::new(HashMap::default())),
        }
    }

    /// Creates a key for `tenant_id`.
    pub async fn create(
        &self,
        tenant_id: &TenantId,
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
        let now = self.clock.now();
        let expires_at = match expires_at {
            None => None,
            Some(text) => {
                let at = parse_time(text).ok_or_else(|| {
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
        let id = ApiKeyId::generate();
        let record = self
            .store
            .insert_api_key(&NewApiKey {
                id: id.as_str(),
                tenant_id: tenant_id.as_str(),
                name,
                prefix: &prefix,
                token_hash: &hash,
                role: role.as_str(),
                expires_at: opt_ms(expires_at),
                created_by: actor.id(),
                now: ms(now),
            })
            .await
            .map_err(|error| match error {
                StoreError::Conflict { .. } => {
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
                    action: AuditAction::ApiKeyCreate,
                    resource_kind: ResourceType::ApiKey,
                    resource_id: Some(id.as_str()),
                    details: Some(json!({"name": name, "role": role})),
                },
            )
            .await?;
        Ok(CreatedApiKey {
            view: parsed_view(record)?,
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
            principal.source_ip.map(|ip| ip.to_string()).as_deref(),
            request,
        )
        .await
    }

    pub async fn list(&self, principal: &Principal, offset: u64, limit: u32) -> Result<ApiKeyList> {
        principal.require(Access::Admin)?;
        self.list_tenant(&principal.tenant_id, offset, limit).await
    }

    pub async fn list_tenant(&self, tenant_id: &TenantId, offset: u64, limit: u32) -> Result<ApiKeyList> {
        let (records, total) = self
            .store
            .list_api_keys(tenant_id.as_str(), offset, limit)
            .await?;
        Ok(ApiKeyList {
            api_keys: records.into_iter().map(parsed_view).collect::<Result<_>>()?,
            total_count: total,
        })
    }

    /// Whether the tenant has any key, revoked or not (the bootstrap key is made only once).
    pub async fn tenant_has_keys(&self, tenant_id: &TenantId) -> Result<bool> {
        Ok(self.store.tenant_has_api_keys(tenant_id.as_str()).await?)
    }

    pub async fn get(&self, principal: &Principal, id: &str) -> Result<ApiKeyView> {
        principal.require(Access::Admin)?;
        let id = ApiKeyId::parse(id).ok_or(CoreError::NotFound("API key"))?;
        match self
            .store
            .api_key(principal.tenant_id.as_str(), id.as_str())
            .await
        {
            Ok(row) => parsed_view(row),
            Err(StoreError::NotFound) => Err(CoreError::NotFound("API key")),
            Err(other) => Err(other.into()),
        }
    }

    pub async fn revoke(&self, principal: &Principal, id: &str) -> Result<ApiKeyView> {
        principal.require(Access::Admin)?;
        self.revoke_in(
            &principal.tenant_id,
            &principal.actor,
            principal.source_ip.map(|ip| ip.to_string()).as_deref(),
            id,
        )
        .await
    }

    pub async fn revoke_in(
        &self,
        tenant_id: &TenantId,
        actor: &Actor,
        source_ip: Option<&str>,
        id: &str,
    ) -> Result<ApiKeyView> {
        let id = ApiKeyId::parse(id).ok_or(CoreError::NotFound("API key"))?;
        let record = self
            .store
            .revoke_api_key(tenant_id.as_str(), id.as_str(), ms(self.clock.now()))
            .await
            .map_err(|error| match error {
                StoreError::NotFound => CoreError::NotFound("API key"),
                other => other.into(),
            })?;
        self.cache.write().retain(|_, cached| cached.key.id != id);
        self.audit
            .record_as(
                Some(tenant_id),
                actor,
                source_ip,
                AuditEvent {
                    action: AuditAction::ApiKeyRevoke,
                    resource_kind: ResourceType::ApiKey,
                    resource_id: Some(id.as_str()),
                    details: None,
                },
            )
            .await?;
        parsed_view(record)
    }

    /// Resolves a bearer token to its principal.
    pub async fn authenticate(
        &self,
        token: &str,
        source_ip: Option<IpAddr>,
    ) -> std::result::Result<Principal, AuthenticateError> {
        if token.is_empty() || token.len() > 512 {
            return Err(AuthenticateError::Denied(AuthFailure::Malformed));
        }
        let hash = labgate_crypto::hash_api_key(token);
        let now = self.clock.now();
        let key = match self.cached(&hash, now) {
            Some(key) => key,
            None => {
                let found = self
                    .store
                    .api_key_by_hash(&hash)
                    .await
                    .map_err(|error| AuthenticateError::Unavailable(error.into()))?;
                let Some(row) = found else {
                    return Err(AuthenticateError::Denied(AuthFailure::Unknown));
                };
                let key = Arc::new(
                    KeyIdentity::try_from(row)
                        .map_err(|error| AuthenticateError::Unavailable(error.into()))?,
                );
                self.remember(hash, key.clone(), now);
                key
            }
        };
        if key.revoked_at.is_some() {
            return Err(AuthenticateError::Denied(AuthFailure::Revoked));
        }
        if key.expires_at.is_some_and(|at| at <= now) {
            return Err(AuthenticateError::Denied(AuthFailure::Expired));
        }
        if key.last_used_at.is_none_or(|at| at < now - LAST_USED_GRANULARITY) {
            self.touch(&hash, &key.id, now);
        }
        Ok(Principal {
            tenant_id: key.tenant_id.clone(),
            role: key.role,
            actor: Actor::ApiKey {
                id: key.id.as_str().to_owned(),
            },
            source_ip,
        })
    }

    fn cached(&self, hash: &[u8; 32], now: OffsetDateTime) -> Option<Arc<KeyIdentity>> {
        self.cache
            .read()
            .get(hash)
            .filter(|cached| now - cached.fetched < CACHE_TTL)
            .map(|cached| cached.key.clone())
    }

    fn remember(&self, hash: [u8; 32], key: Arc<KeyIdentity>, now: OffsetDateTime) {
        let mut cache = self.cache.write();
        if cache.len() >= CACHE_LIMIT {
            cache.retain(|_, cached| now - cached.fetched < CACHE_TTL);
        }
        cache.insert(hash, CachedKey { key, fetched: now });
    }

    fn touch(&self, hash: &[u8; 32], id: &ApiKeyId, now: OffsetDateTime) {
        if let Some(cached) = self.cache.write().get_mut(hash) {
            Arc::make_mut(&mut cached.key).last_used_at = Some(now);
        }
        let store = self.store.clone();
        let id = id.clone();
        let granularity = LAST_USED_GRANULARITY
            .whole_milliseconds()
            .try_into()
            .unwrap_or(i64::MAX);
        tokio::spawn(async move {
            if let Err(error) = store.touch_api_key(id.as_str(), ms(now), granularity).await {
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
    Unavailable(#[source] CoreError),
}
