//! Connect sessions: what an embedding application's backend asks for so that its page can show
//! labgate's connect button (`POST /api/v1/connect-sessions`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/connect-sessions`: the page that will show the button, and what the OAuth flow
/// the user starts from it creates (or reconnects, as `POST …/oauth/start` does).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateConnectSessionRequest {
    /// The origin of the page that embeds the button (`https://app.example.com`; `http://` only
    /// for `localhost` and `127.0.0.1`), without a path. The popup reports the outcome to this
    /// origin only.
    #[schema(max_length = 512, pattern = "^[hH][tT][tT][pP][sS]?://")]
    pub allowed_origin: String,
    /// The connection's name, a slug; default: `gitlab-` and a random suffix.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")]
    pub name: Option<String>,
    /// At most 256 characters.
    #[serde(default)]
    #[schema(max_length = 256)]
    pub description: Option<String>,
    /// GitLab scopes to ask for (those GitLab grants OAuth applications); default: `read_api`.
    #[serde(default)]
    #[schema(schema_with = crate::openapi::optional_oauth_scopes)]
    pub scopes: Option<Vec<String>>,
    /// The GitLab instance; default: the configured default instance.
    #[serde(default)]
    #[schema(max_length = 2048, pattern = "^[hH][tT][tT][pP][sS]?://")]
    pub instance_url: Option<String>,
    /// The embedding application's own tenant id for the connection; with `userId`, its
    /// credential can be asked for by these two later.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"
    )]
    pub tenant_id: Option<String>,
    /// The embedding application's own user id; given together with `tenantId`.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"
    )]
    pub user_id: Option<String>,
}

/// A new connect session. The token is shown this once; hand it to the page that shows the
/// button (`session-token`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectSessionCreated {
    /// Opens the popup once, within 30 minutes.
    pub token: String,
    pub expires_at: String,
    /// The popup's first page, token included: what the button opens.
    pub connect_url: String,
}

impl std::fmt::Debug for ConnectSessionCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectSessionCreated")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}
