//! API keys: bearer tokens with a tenant and a role.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an API key may do. Ordered from most to least powerful, except that
/// `credential-reader` is a narrow role of its own: it may read credentials and nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Admin,
    Member,
    Reader,
    CredentialReader,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Member, Role::Reader, Role::CredentialReader];

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Reader => "reader",
            Role::CredentialReader => "credential-reader",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == value)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// A label for people, 1–64 characters, not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: String,
    pub role: Role,
    /// RFC 3339 time in the future after which the key stops working; absent for no expiry.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// The first characters of the token, enough to recognise it, useless to an attacker.
    pub prefix: String,
    pub role: Role,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyResponse {
    pub api_key: ApiKeyView,
}

/// The only answer that ever carries the token; it is not stored and cannot be shown again.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiKeyResponse {
    pub api_key: ApiKeyView,
    #[serde(with = "crate::serde_util::exposed_secret")]
    #[schema(value_type = String)]
    pub token: SecretString,
}

impl std::fmt::Debug for CreatedApiKeyResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApiKeyResponse")
            .field("api_key", &self.api_key)
            .field("token", &"[redacted]")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKeyView>,
    pub total_count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_created_token_is_serialised_in_the_clear_and_nowhere_else() {
        let response = CreatedApiKeyResponse {
            api_key: ApiKeyView {
                id: "k".into(),
                name: "deploy".into(),
                prefix: "lgk_abcd".into(),
                role: Role::Member,
                expires_at: None,
                last_used_at: None,
                revoked_at: None,
                created_at: String::new(),
            },
            token: SecretString::from("lgk_abcdSECRET"),
        };
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json["token"], "lgk_abcdSECRET");
        assert!(!format!("{response:?}").contains("SECRET"));
        let read: CreatedApiKeyResponse = serde_json::from_value(json).unwrap();
        assert_eq!(
            secrecy::ExposeSecret::expose_secret(&read.token),
            "lgk_abcdSECRET"
        );
    }
}
