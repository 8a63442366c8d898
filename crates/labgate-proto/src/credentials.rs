//! The credential broker: a fresh GitLab token for other software. The only answers of the API
//! that carry a secret besides key and webhook creation.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::connections::AccessTokenType;

/// `GET /api/v1/credentials/gitlab`: which connection's credential, by its id or by the
/// embedding application's tenant and user it was labelled with at the start of OAuth.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CredentialQuery {
    /// The connection whose token is wanted.
    #[serde(default)]
    pub connection_id: Option<String>,
    /// With `userId`: the connection labelled with this tenant.
    #[serde(default)]
    #[param(min_length = 1, max_length = 255)]
    pub tenant_id: Option<String>,
    /// With `tenantId`: the connection labelled with this user.
    #[serde(default)]
    #[param(min_length = 1, max_length = 255)]
    pub user_id: Option<String>,
}

crate::text_enum! {
    /// What kind of GitLab token a credential is.
    #[derive(utoipa::ToSchema)]
    pub enum CredentialTokenType {
        Personal = "personal",
        Project = "project",
        Group = "group",
        /// An OAuth access token (lives two hours; labgate refreshes it).
        OAuth = "oauth",
    }
}

impl From<AccessTokenType> for CredentialTokenType {
    fn from(kind: AccessTokenType) -> Self {
        match kind {
            AccessTokenType::Personal => CredentialTokenType::Personal,
            AccessTokenType::Project => CredentialTokenType::Project,
            AccessTokenType::Group => CredentialTokenType::Group,
        }
    }
}

/// A credential and how long to use it.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialResponse {
    #[serde(with = "crate::serde_util::exposed_secret")]
    #[schema(value_type = String)]
    pub credential: SecretString,
    /// The kind of token; every kind goes to GitLab as `Authorization: Bearer <credential>`.
    pub token_type: CredentialTokenType,
    /// When GitLab stops accepting the token; `null` for a token without expiry.
    pub expires_at: Option<String>,
    /// Until when a caller may cache and use it; ask again after. `null`: as long as it works.
    pub use_until: Option<String>,
    pub connection_id: String,
    pub scopes: Vec<String>,
    pub instance_url: String,
}

impl std::fmt::Debug for CredentialResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialResponse")
            .field("token_type", &self.token_type)
            .field("connection_id", &self.connection_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_is_on_the_wire_but_never_in_debug_output() {
        let response = CredentialResponse {
            credential: SecretString::from("glpat-SECRETsecret"),
            token_type: CredentialTokenType::Project,
            expires_at: None,
            use_until: None,
            connection_id: "c".to_owned(),
            scopes: vec!["api".to_owned()],
            instance_url: "https://gitlab.com".to_owned(),
        };
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json["credential"], "glpat-SECRETsecret");
        assert_eq!(json["tokenType"], "project");
        assert!(!format!("{response:?}").contains("SECRET"));
    }
}
