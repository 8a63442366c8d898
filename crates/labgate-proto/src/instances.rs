//! GitLab instances a tenant connects to, and the OAuth application registered at each.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

crate::text_enum! {
    /// Which GitLab an instance is.
    #[derive(utoipa::ToSchema)]
    pub enum InstanceKind {
        GitLabCom = "gitlab.com",
        SelfManaged = "self-managed",
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateGitLabInstanceRequest {
    /// The instance's base URL, with its path prefix if it has one: https:// (http:// only for
    /// allow-listed internal hosts), no credentials, query or fragment.
    #[schema(max_length = 2048, pattern = "^[hH][tT][tT][pP][sS]?://")]
    pub url: String,
    /// Default: `gitlab.com` for https://gitlab.com, `self-managed` otherwise.
    #[serde(default)]
    #[schema(value_type = Option<InstanceKind>)]
    pub kind: Option<String>,
    /// The OAuth application's id (GitLab calls it Application ID).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 255)]
    pub oauth_client_id: Option<String>,
    /// The OAuth application's secret; stored encrypted and never shown again. Needs
    /// `oauthClientId`.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 255)]
    pub oauth_client_secret: Option<String>,
    /// Extra CA certificates (PEM) trusted for this instance, on top of the public roots.
    #[serde(default)]
    #[schema(max_length = 65536)]
    pub ca_bundle: Option<String>,
    /// The proxy requests to this instance go through: http:// or https://, no credentials.
    #[serde(default)]
    #[schema(max_length = 2048, pattern = "^[hH][tT][tT][pP][sS]?://")]
    pub proxy_url: Option<String>,
}

impl std::fmt::Debug for CreateGitLabInstanceRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateGitLabInstanceRequest")
            .field("url", &self.url)
            .field("kind", &self.kind)
            .field("oauth_client_id", &self.oauth_client_id)
            .field("has_oauth_client_secret", &self.oauth_client_secret.is_some())
            .field("has_ca_bundle", &self.ca_bundle.is_some())
            .field("proxy_url", &self.proxy_url)
            .finish()
    }
}

/// Absent fields stay as they are; `null` clears a nullable one.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateGitLabInstanceRequest {
    /// As on create.
    #[schema(max_length = 2048, pattern = "^[hH][tT][tT][pP][sS]?://")]
    pub url: Option<String>,
    #[schema(value_type = Option<InstanceKind>)]
    pub kind: Option<String>,
    #[serde(default, with = "crate::serde_util::double_option")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub oauth_client_id: Option<Option<String>>,
    /// Replaces the stored secret; `null` removes it.
    #[serde(default, with = "crate::serde_util::double_option")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub oauth_client_secret: Option<Option<String>>,
    #[serde(default, with = "crate::serde_util::double_option")]
    #[schema(value_type = Option<String>, max_length = 65536)]
    pub ca_bundle: Option<Option<String>>,
    #[serde(default, with = "crate::serde_util::double_option")]
    #[schema(value_type = Option<String>, max_length = 2048, pattern = "^[hH][tT][tT][pP][sS]?://")]
    pub proxy_url: Option<Option<String>>,
}

impl std::fmt::Debug for UpdateGitLabInstanceRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateGitLabInstanceRequest")
            .field("url", &self.url)
            .field("kind", &self.kind)
            .field("oauth_client_id", &self.oauth_client_id)
            .field(
                "oauth_client_secret",
                &self
                    .oauth_client_secret
                    .as_ref()
                    .map(|secret| secret.as_ref().map(|_| "<redacted>")),
            )
            .field("ca_bundle", &self.ca_bundle.as_ref().map(Option::is_some))
            .field("proxy_url", &self.proxy_url)
            .finish()
    }
}

/// An instance as the API shows it; the OAuth client secret is never part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitLabInstanceView {
    pub id: String,
    pub url: String,
    pub kind: InstanceKind,
    pub oauth_client_id: Option<String>,
    pub has_oauth_client_secret: bool,
    pub ca_bundle: Option<String>,
    pub proxy_url: Option<String>,
    /// The redirect URI to register with the OAuth application, when labgate knows its site
    /// URL (`LABGATE_SITE_URL`).
    pub oauth_redirect_uri: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitLabInstanceResponse {
    pub gitlab_instance: GitLabInstanceView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitLabInstanceList {
    pub gitlab_instances: Vec<GitLabInstanceView>,
    pub total_count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_never_debug_the_secret() {
        let create = CreateGitLabInstanceRequest {
            url: "https://gitlab.example".to_owned(),
            kind: None,
            oauth_client_id: Some("app".to_owned()),
            oauth_client_secret: Some("gloas-s3cret".to_owned()),
            ca_bundle: None,
            proxy_url: None,
        };
        assert!(!format!("{create:?}").contains("s3cret"));
        let update = UpdateGitLabInstanceRequest {
            oauth_client_secret: Some(Some("gloas-s3cret".to_owned())),
            ..UpdateGitLabInstanceRequest::default()
        };
        assert!(!format!("{update:?}").contains("s3cret"));
    }
}
