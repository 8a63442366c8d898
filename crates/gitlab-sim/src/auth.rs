//! Authentication (`PRIVATE-TOKEN`, `Authorization: Bearer|Basic`, `private_token`/`access_token`
//! query parameters) and scope checks, in the order GitLab's `API::APIGuard` applies them.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use base64::Engine;

use crate::db::digest;
use crate::error::{ApiError, ApiResult, TOKEN_EXPIRED, TOKEN_REVOKED};
use crate::model::*;
use crate::state::SimState;

/// Which credential authenticated the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// Personal, project or group access token.
    AccessToken {
        id: TokenId,
        kind: TokenKind,
    },
    OAuth {
        id: u64,
    },
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: UserId,
    /// Admin with effect: never on the gitlab.com mode, where customers have no admin API.
    pub admin: bool,
    pub bot: bool,
    pub credential: Credential,
    pub scopes: Vec<String>,
}

impl Principal {
    pub fn has_any_scope(&self, scopes: &[&str]) -> bool {
        scopes.iter().any(|s| self.scopes.iter().any(|t| t == s))
    }

    pub fn is_pat(&self) -> bool {
        matches!(
            self.credential,
            Credential::AccessToken {
                kind: TokenKind::Personal,
                ..
            }
        )
    }

    pub fn token_id(&self) -> Option<TokenId> {
        match self.credential {
            Credential::AccessToken { id, .. } => Some(id),
            Credential::OAuth { .. } => None,
        }
    }
}

/// The caller of a request, if any credential was given.
#[derive(Debug, Clone)]
pub struct Caller(pub Option<Principal>);

pub const READ_API: &[&str] = &["api", "read_api"];
pub const API: &[&str] = &["api"];
pub const READ_USER: &[&str] = &["api", "read_api", "read_user"];

impl Caller {
    /// Authentication required, with one of `scopes`: 401 without credentials, then 403
    /// `insufficient_scope` (scope before role, as GitLab orders them).
    pub fn require(&self, scopes: &[&str]) -> ApiResult<&Principal> {
        let p = self.0.as_ref().ok_or_else(ApiError::unauthorized)?;
        if !p.has_any_scope(scopes) {
            return Err(ApiError::InsufficientScope {
                scopes: scopes.join(" "),
            });
        }
        Ok(p)
    }

    /// Anonymous allowed; a credential given must carry one of `scopes`.
    pub fn optional(&self, scopes: &[&str]) -> ApiResult<Option<&Principal>> {
        match &self.0 {
            None => Ok(None),
            Some(_) => self.require(scopes).map(Some),
        }
    }

    pub fn require_admin(&self, scopes: &[&str]) -> ApiResult<&Principal> {
        let p = self.require(scopes)?;
        if !p.admin {
            return Err(ApiError::forbidden());
        }
        Ok(p)
    }
}

/// The secret presented with a request, from any of the places GitLab looks.
pub fn presented_secret(parts: &Parts) -> Option<(String, bool)> {
    if let Some(v) = parts.headers.get("private-token").and_then(|v| v.to_str().ok()) {
        return Some((v.trim().to_owned(), false));
    }
    if let Some(v) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if let Some(t) = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
            return Some((t.trim().to_owned(), true));
        }
        if let Some(b) = v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")) {
            let decoded = base64::engine::general_purpose::STANDARD.decode(b.trim()).ok()?;
            let s = String::from_utf8(decoded).ok()?;
            let (_, pw) = s.split_once(':')?;
            return Some((pw.to_owned(), false));
        }
    }
    let q = parts.uri.query()?;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "private_token" || k == "access_token")
        .map(|(k, v)| (v.into_owned(), k == "access_token"))
}

fn is_rotation_path(path: &str) -> bool {
    let p = path.trim_end_matches('/');
    p.ends_with("/personal_access_tokens/self/rotate")
        || (p.ends_with("/rotate") && p.contains("access_tokens/"))
}

/// Resolves a secret to a principal, applying GitLab's token validation order: unknown → 401
/// `401 Unauthorized`; expired → `invalid_token` (expired); revoked → `invalid_token` (revoked,
/// revoking the rotation family on rotation routes); then the user's state.
pub fn resolve(state: &SimState, secret: &str, path: &str) -> ApiResult<Principal> {
    let clock = state.clock();
    let now = clock.now();
    let today = now.date();
    let d = digest(secret);
    let found = state.read(|db| -> ApiResult<Option<(Principal, bool)>> {
        if let Some(t) = db.token_digests.get(&d).and_then(|id| db.tokens.get(id)) {
            if t.expired(today) {
                return Err(ApiError::InvalidToken {
                    description: TOKEN_EXPIRED,
                });
            }
            if t.revoked {
                return Ok(None);
            }
            let user = db.user(t.user_id).ok_or_else(ApiError::unauthorized)?;
            check_user_state(user, state)?;
            let stale = t
                .last_used_at
                .is_none_or(|u| now - u > time::Duration::minutes(1));
            return Ok(Some((
                Principal {
                    user_id: user.id,
                    admin: user.admin && db.settings.mode == Mode::SelfManaged,
                    bot: user.is_bot(),
                    credential: Credential::AccessToken {
                        id: t.id,
                        kind: t.kind,
                    },
                    scopes: t.scopes.clone(),
                },
                stale,
            )));
        }
        if let Some(t) = db.oauth_access.get(&d).and_then(|id| db.oauth_tokens.get(id)) {
            if t.revoked_at.is_some() {
                return Err(ApiError::InvalidToken {
                    description: TOKEN_REVOKED,
                });
            }
            if t.expired(now) {
                return Err(ApiError::InvalidToken {
                    description: TOKEN_EXPIRED,
                });
            }
            let user = db.user(t.user_id).ok_or_else(ApiError::unauthorized)?;
            check_user_state(user, state)?;
            return Ok(Some((
                Principal {
                    user_id: user.id,
                    admin: user.admin && db.settings.mode == Mode::SelfManaged,
                    bot: false,
                    credential: Credential::OAuth { id: t.id },
                    scopes: t.scopes.clone(),
                },
                false,
            )));
        }
        Err(ApiError::unauthorized())
    })?;
    match found {
        Some((p, stale)) => {
            if stale && let Credential::AccessToken { id, .. } = p.credential {
                state.write(|db| {
                    if let Some(t) = db.tokens.get_mut(&id) {
                        t.last_used_at = Some(now);
                    }
                    if let Some(u) = db.users.get_mut(&p.user_id) {
                        u.last_activity_on = Some(today);
                    }
                });
            }
            Ok(p)
        }
        None => {
            if is_rotation_path(path) {
                state.write(|db| {
                    if let Some(id) = db.token_digests.get(&d).copied() {
                        db.revoke_family(id);
                    }
                });
            }
            Err(ApiError::InvalidToken {
                description: TOKEN_REVOKED,
            })
        }
    }
}

fn check_user_state(user: &User, state: &SimState) -> ApiResult<()> {
    match user.state {
        UserState::Active => Ok(()),
        UserState::Blocked | UserState::Banned => {
            Err(ApiError::forbidden_because("Your account has been blocked."))
        }
        UserState::Deactivated => Err(ApiError::forbidden_because(&format!(
            "Your account has been deactivated by your administrator. Please log back in from a web browser to reactivate your account at {}",
            state.base_url()
        ))),
    }
}

impl FromRequestParts<SimState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SimState) -> Result<Self, Self::Rejection> {
        if let Some(p) = parts.extensions.get::<Caller>() {
            return Ok(p.clone());
        }
        let caller = match presented_secret(parts) {
            None => Caller(None),
            Some((s, _)) if s.is_empty() => return Err(ApiError::unauthorized()),
            Some((s, _)) => Caller(Some(resolve(state, &s, parts.uri.path())?)),
        };
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// 403 unless the caller's effective role in `source` reaches `min`; admins pass. 404 when the
/// caller cannot see the source at all is the caller's job (GitLab hides existence first).
pub fn require_level(state: &SimState, p: &Principal, source: Source, min: u8) -> ApiResult<u8> {
    if p.admin {
        return Ok(50);
    }
    let today = state.clock().today();
    let level = state.read(|db| db.source_level(p.user_id, source, today));
    if level < min {
        return Err(ApiError::Message {
            status: StatusCode::FORBIDDEN,
            message: "403 Forbidden".into(),
        });
    }
    Ok(level)
}
