//! People who log in to the web UI: an email unique across the installation, an argon2id
//! password hash, a tenant and a role (the API keys' roles).

use std::sync::Arc;

use labgate_proto::api_keys::Role;
use labgate_proto::audit::{AuditAction, ResourceType};
use labgate_store::{NewUser, Store, StoreError, UserRecord};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use time::OffsetDateTime;

use super::Actor;
use crate::audit::{AuditEvent, AuditLog};
use crate::clock::Clock;
use crate::ids::{TenantId, UserId};
use crate::rows::{Parsed, StoredValueError, ms, opt_time, role, time};
use crate::{CoreError, Result};

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;
/// Longest password accepted: argon2 hashes whatever it is given, and a megabyte "password"
/// would only cost the server time.
const MAX_PASSWORD_LEN: usize = 1_024;
/// Length of a password labgate generates.
pub const GENERATED_PASSWORD_LEN: usize = 24;
const MAX_EMAIL_LEN: usize = 254;

/// An email address as labgate keeps it: trimmed and lowercased, so `Ann@Example.com` and
/// `ann@example.com` are one login.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// A plausible address: one `@` with text on both sides, a dot in the domain, no spaces or
    /// control characters, at most 254 characters. Whether mail arrives there is not checked.
    pub fn parse(text: &str) -> Result<Email> {
        let email = text.trim().to_lowercase();
        let invalid = || CoreError::validation("email", "enter an email address such as ann@example.com");
        if email.is_empty() || email.chars().count() > MAX_EMAIL_LEN {
            return Err(invalid());
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(invalid());
        };
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || !domain_ok {
            return Err(invalid());
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A UI user as the domain sees it. The password hash never leaves the store's login query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub tenant_id: TenantId,
    pub email: String,
    pub role: Role,
    pub created_at: OffsetDateTime,
    pub last_login_at: Option<OffsetDateTime>,
}

impl TryFrom<UserRecord> for User {
    type Error = StoredValueError;

    fn try_from(row: UserRecord) -> Parsed<User> {
        Ok(User {
            id: UserId::from_stored(row.id),
            tenant_id: TenantId::from_stored(row.tenant_id),
            role: role("users.role", &row.role)?,
            created_at: time("users.created_at", row.created_at)?,
            last_login_at: opt_time("users.last_login_at", row.last_login_at)?,
            email: row.email,
        })
    }
}

/// What to create. Without a password one is generated and returned once.
pub struct NewUserRequest<'a> {
    pub email: &'a str,
    pub role: Role,
    pub password: Option<SecretString>,
}

/// A created user, and the password labgate generated for them (shown once), if it did.
pub struct CreatedUser {
    pub user: User,
    pub generated_password: Option<SecretString>,
}

impl std::fmt::Debug for CreatedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedUser")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Checks a chosen password: long enough, not absurdly long, no control characters (a pasted
/// newline is a mistake, not a password).
fn validate_password(password: &SecretString) -> Result<()> {
    let text = password.expose_secret();
    let length = text.chars().count();
    if length < MIN_PASSWORD_LEN {
        return Err(CoreError::validation(
            "password",
            format!("the password must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if length > MAX_PASSWORD_LEN || text.chars().any(char::is_control) {
        return Err(CoreError::validation(
            "password",
            format!("the password must be at most {MAX_PASSWORD_LEN} characters without control characters"),
        ));
    }
    Ok(())
}

/// Runs argon2 off the async executor: it takes tens of milliseconds of CPU on purpose.
pub(crate) async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(CoreError::internal)
}

/// Who a password check identified.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedUser {
    pub id: UserId,
    pub tenant_id: TenantId,
}

#[derive(Clone)]
pub struct Users {
    store: Store,
    clock: Arc<dyn Clock>,
    audit: AuditLog,
}

impl Users {
    pub(crate) fn new(store: Store, clock: Arc<dyn Clock>, audit: AuditLog) -> Users {
        Users { store, clock, audit }
    }

    /// Creates a user of `tenant_id`. The email must be free in the whole installation: it alone
    /// names the tenant at login.
    pub async fn create(
        &self,
        tenant_id: &TenantId,
        actor: &Actor,
        source_ip: Option<&str>,
        request: NewUserRequest<'_>,
    ) -> Result<CreatedUser> {
        let email = Email::parse(request.email)?;
        let (password, generated) = match request.password {
            Some(password) => {
                validate_password(&password)?;
                (password, false)
            }
            None => (labgate_crypto::generate_password(GENERATED_PASSWORD_LEN), true),
        };
        let hashing = password.clone();
        let hash = blocking(move || labgate_crypto::hash_password(&hashing)).await??;
        let id = UserId::generate();
        let record = self
            .store
            .insert_user(&NewUser {
                id: id.as_str(),
                tenant_id: tenant_id.as_str(),
                email: email.as_str(),
                password_hash: &hash,
                role: request.role.as_str(),
                now: ms(self.clock.now()),
            })
            .await
            .map_err(|error| match error {
                StoreError::Conflict { .. } => {
                    CoreError::AlreadyExists(format!("a user with the email {email} already exists"))
                }
                other => other.into(),
            })?;
        self.audit
            .record_as(
                Some(tenant_id),
                actor,
                source_ip,
                AuditEvent {
                    action: AuditAction::UserCreate,
                    resource_kind: ResourceType::User,
                    resource_id: Some(id.as_str()),
                    details: Some(json!({"email": email.as_str(), "role": request.role})),
                },
            )
            .await?;
        Ok(CreatedUser {
            user: User::try_from(record)?,
            generated_password: generated.then_some(password),
        })
    }

    /// A tenant's users, oldest first.
    pub async fn list(&self, tenant_id: &TenantId) -> Result<Vec<User>> {
        let rows = self.store.list_users(tenant_id.as_str()).await?;
        Ok(rows.into_iter().map(User::try_from).collect::<Parsed<_>>()?)
    }

    pub async fn by_email(&self, email: &str) -> Result<User> {
        let email = Email::parse(email).map_err(|_| CoreError::NotFound("user"))?;
        match self.store.user_by_email(email.as_str()).await {
            Ok(row) => Ok(User::try_from(row)?),
            Err(StoreError::NotFound) => Err(CoreError::NotFound("user")),
            Err(other) => Err(other.into()),
        }
    }

    /// Deletes the user with this email and ends every session of theirs.
    pub async fn delete(&self, email: &str, actor: &Actor, source_ip: Option<&str>) -> Result<User> {
        let user = self.by_email(email).await?;
        match self.store.delete_user(user.id.as_str()).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(CoreError::NotFound("user")),
            Err(other) => return Err(other.into()),
        }
        self.audit
            .record_as(
                Some(&user.tenant_id),
                actor,
                source_ip,
                AuditEvent {
                    action: AuditAction::UserDelete,
                    resource_kind: ResourceType::User,
                    resource_id: Some(user.id.as_str()),
                    details: Some(json!({"email": user.email})),
                },
            )
            .await?;
        Ok(user)
    }

    /// The user whose email and password these are, or `None`. An unknown email costs the same
    /// argon2 time as a wrong password, so the answer's timing does not tell which emails exist.
    pub(crate) async fn verify(&self, email: &str, password: SecretString) -> Result<Option<VerifiedUser>> {
        let row = match Email::parse(email) {
            Ok(email) => self.store.user_login(email.as_str()).await?,
            Err(_) => None,
        };
        let Some(row) = row else {
            blocking(move || labgate_crypto::verify_password_against_nothing(&password)).await?;
            return Ok(None);
        };
        let stored = row.password_hash.clone();
        let matches = blocking(move || labgate_crypto::verify_password(&password, &stored)).await?;
        if !matches {
            return Ok(None);
        }
        Ok(Some(VerifiedUser {
            id: UserId::from_stored(row.id),
            tenant_id: TenantId::from_stored(row.tenant_id),
        }))
    }

    pub(crate) async fn record_login(&self, id: &UserId) -> Result<()> {
        Ok(self
            .store
            .record_user_login(id.as_str(), ms(self.clock.now()))
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lowercased_and_plausible() {
        assert_eq!(
            Email::parse("  Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "ann@example",
            "ann@@example.com",
            "ann@exa mple.com",
            "ann@.example.com",
            "ann@example..com",
            "ann@example.com.",
            "ann\u{0}@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn passwords_must_be_long_enough_and_plain() {
        assert!(validate_password(&SecretString::from("short")).is_err());
        assert!(validate_password(&SecretString::from("exactly12chr")).is_ok());
        assert!(validate_password(&SecretString::from("twelve chars\n")).is_err());
        assert!(validate_password(&SecretString::from("x".repeat(MAX_PASSWORD_LEN + 1))).is_err());
        let error = validate_password(&SecretString::from("hunter2hunter")).map(|()| "ok");
        assert!(error.is_ok());
        let message = validate_password(&SecretString::from("hunter2"))
            .unwrap_err()
            .to_string();
        assert!(!message.contains("hunter2"), "{message}");
    }
}
