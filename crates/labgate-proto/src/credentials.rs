//! The credential broker: a fresh GitLab token for other software. The only answers of the API
//! that carry a secret besides key and webhook creation.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::connections::AccessTokenType;

/// `GET /api/v1/credentials/gitlab`: which connection's credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CredentialQuery {
    /// The connection whose token is wanted.
    pub connection_id: String,
}

/// A credential and how long to use it.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialResponse {
    #[serde(with = "crate::serde_util::exposed_secret")]
    #[schema(value_type = String)]
    pub credential: SecretString,
    /// The kind of token; every kind goes to GitLab as `Authorization: Bearer <credential>`.
    pub token_type: AccessTokenType,
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
            token_type: AccessTokenType::Project,
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
