//! Who is calling: principals, roles, API keys, and the people who log in to the web UI with
//! their sessions.

use std::net::IpAddr;

mod api_keys;
mod login_limit;
mod sessions;
mod users;

pub use api_keys::{ApiKey, ApiKeys, AuthFailure, AuthenticateError, CACHE_TTL, CreatedApiKey, KeyRequest};
pub use login_limit::{LOGIN_FAILURE_LIMIT, LOGIN_FAILURE_WINDOW};
pub use sessions::{DEFAULT_SESSION_LIFETIME, LoggedIn, LoginError, Session, UiSessions};
pub use users::{CreatedUser, Email, GENERATED_PASSWORD_LEN, MIN_PASSWORD_LEN, NewUserRequest, User, Users};

use labgate_proto::api_keys::Role;
use labgate_proto::audit::ActorKind;

use crate::ids::TenantId;
use crate::{CoreError, Result};

/// Who acts: an API key, a person logged in to the web UI, an operator at the database through
/// the CLI, or labgate itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    ApiKey { id: String },
    User { id: String },
    Cli,
    System,
}

impl Actor {
    pub fn kind(&self) -> ActorKind {
        match self {
            Actor::ApiKey { .. } => ActorKind::ApiKey,
            Actor::User { .. } => ActorKind::User,
            Actor::Cli => ActorKind::Cli,
            Actor::System => ActorKind::System,
        }
    }

    pub fn id(&self) -> Option<&str> {
        match self {
            Actor::ApiKey { id } | Actor::User { id } => Some(id),
            Actor::Cli | Actor::System => None,
        }
    }
}

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Manage API keys and tenant-wide settings.
    Admin,
    /// Create, change and delete resources.
    Write,
    /// See resources (never secrets).
    Read,
    /// Read credentials through the broker.
    Credentials,
}

pub fn role_allows(role: Role, access: Access) -> bool {
    match role {
        Role::Admin => true,
        // Credentials are handed out to admins and to keys made for nothing else.
        Role::Member => matches!(access, Access::Write | Access::Read),
        Role::Reader => access == Access::Read,
        Role::CredentialReader => access == Access::Credentials,
    }
}

/// An authenticated caller, always bound to one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant_id: TenantId,
    pub role: Role,
    pub actor: Actor,
    /// The client address as the server determined it (trusted proxies considered).
    pub source_ip: Option<IpAddr>,
}

impl Principal {
    /// labgate itself acting in a tenant (a background job such as a secret sync run), with
    /// every access an admin has.
    pub fn system(tenant_id: TenantId) -> Principal {
        Principal {
            tenant_id,
            role: Role::Admin,
            actor: Actor::System,
            source_ip: None,
        }
    }

    /// Refuses the operation unless the role allows it. Handlers call this first.
    pub fn require(&self, access: Access) -> Result<()> {
        if role_allows(self.role, access) {
            Ok(())
        } else {
            Err(CoreError::Forbidden(format!(
                "the {} role may not do this",
                self.role
            )))
        }
    }
}

/// Compares a presented shared secret with the expected one in constant time.
pub fn tokens_match(presented: &str, expected: &str) -> bool {
    labgate_crypto::constant_time_eq(presented.as_bytes(), expected.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_they_say() {
        use Access::*;
        let table = [
            (Role::Admin, [true, true, true, true]),
            (Role::Member, [false, true, true, false]),
            (Role::Reader, [false, false, true, false]),
            (Role::CredentialReader, [false, false, false, true]),
        ];
        for (role, expected) in table {
            let got = [Admin, Write, Read, Credentials].map(|access| role_allows(role, access));
            assert_eq!(got, expected, "{role}");
        }
    }
}
