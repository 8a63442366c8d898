//! App connections: GitLab connections by access token (and later OAuth), with Infisical's
//! `app-connections/gitlab` request and response shapes plus labgate's extra fields.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

crate::text_enum! {
    /// The app a connection belongs to.
    #[derive(utoipa::ToSchema)]
    pub enum App {
        GitLab = "gitlab",
    }
}

crate::text_enum! {
    /// How a connection authenticates to GitLab.
    #[derive(utoipa::ToSchema)]
    pub enum ConnectionMethod {
        AccessToken = "access-token",
        OAuth = "oauth",
    }
}

crate::text_enum! {
    /// The kind of access token a connection holds.
    #[derive(utoipa::ToSchema)]
    pub enum AccessTokenType {
        Personal = "personal",
        Project = "project",
        Group = "group",
    }
}

crate::text_enum! {
    /// What a connection may be used for (`usages`).
    #[derive(utoipa::ToSchema)]
    pub enum Usage {
        SecretSync = "secret-sync",
        SecretScanning = "secret-scanning",
        AccessSync = "access-sync",
    }
}

crate::text_enum! {
    /// The status of a connection (DESIGN.md, token lifecycle).
    #[derive(utoipa::ToSchema)]
    pub enum ConnectionStatus {
        Active = "active",
        /// Expires within 30, 7 or 1 days.
        Expiring = "expiring",
        Expired = "expired",
        Revoked = "revoked",
        /// The OAuth grant is gone: a person must authorize again.
        NeedsReauth = "needs_reauth",
        /// A person must supply a new token (e.g. a rotation's answer was lost).
        NeedsAttention = "needs_attention",
        /// The token was found leaked.
        Compromised = "compromised",
        InsufficientScope = "insufficient_scope",
        /// Several consecutive checks could not reach GitLab.
        Unreachable = "unreachable",
        Error = "error",
    }
}

impl ConnectionStatus {
    /// States a health check never leaves on its own: a person must act.
    pub const fn needs_person(self) -> bool {
        matches!(
            self,
            ConnectionStatus::NeedsAttention | ConnectionStatus::Compromised | ConnectionStatus::NeedsReauth
        )
    }

    /// Whether the token works (possibly close to expiry).
    pub const fn is_usable(self) -> bool {
        matches!(self, ConnectionStatus::Active | ConnectionStatus::Expiring)
    }
}

crate::text_enum! {
    /// What an entry of a connection's timeline records.
    #[derive(utoipa::ToSchema)]
    pub enum ConnectionEventKind {
        Created = "created",
        StatusChanged = "status_changed",
        /// A return to `active`.
        Recovered = "recovered",
        Rotated = "rotated",
        CredentialsUpdated = "credentials_updated",
    }
}

crate::text_enum! {
    /// The GitLab resource a project or group token belongs to.
    #[derive(utoipa::ToSchema)]
    pub enum ResourceKind {
        Project = "project",
        Group = "group",
    }
}

/// The access-token credentials of a create or update. The token is write-only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessTokenCredentials {
    /// A personal, project or group access token: no spaces or control characters.
    #[schema(
        min_length = 1,
        max_length = 1024,
        pattern = "^[^\\s\\u0000-\\u001F\\u007F-\\u009F]+$"
    )]
    pub access_token: String,
    /// The GitLab instance (default: the configured default instance, `LABGATE_GITLAB_URL`, else
    /// `https://gitlab.com`); may carry a path prefix.
    #[serde(default)]
    #[schema(max_length = 2048, pattern = "^[hH][tT][tT][pP][sS]?://")]
    pub instance_url: Option<String>,
    /// `personal`, `project` or `group`; checked against the real kind of the token.
    #[schema(value_type = AccessTokenType)]
    pub access_token_type: String,
}

/// The credentials of a create: an access token, or an OAuth authorization code. Both are
/// write-only.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCredentials {
    /// `access-token`: a personal, project or group access token.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 1024,
        pattern = "^[^\\s\\u0000-\\u001F\\u007F-\\u009F]+$"
    )]
    pub access_token: Option<String>,
    /// The GitLab instance (default: the configured default instance, `LABGATE_GITLAB_URL`, else
    /// `https://gitlab.com`); may carry a path prefix.
    #[serde(default)]
    #[schema(max_length = 2048, pattern = "^[hH][tT][tT][pP][sS]?://")]
    pub instance_url: Option<String>,
    /// `access-token`: `personal`, `project` or `group`; checked against the real kind.
    #[serde(default)]
    #[schema(value_type = Option<AccessTokenType>)]
    pub access_token_type: Option<String>,
    /// `oauth`: the authorization code GitLab sent to the redirect URI.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 1024,
        pattern = "^[^\\s\\u0000-\\u001F\\u007F-\\u009F]+$"
    )]
    pub code: Option<String>,
}

impl From<AccessTokenCredentials> for CreateCredentials {
    fn from(credentials: AccessTokenCredentials) -> Self {
        CreateCredentials {
            access_token: Some(credentials.access_token),
            instance_url: credentials.instance_url,
            access_token_type: Some(credentials.access_token_type),
            code: None,
        }
    }
}

impl std::fmt::Debug for CreateCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateCredentials")
            .field("instance_url", &self.instance_url)
            .field("access_token_type", &self.access_token_type)
            .field("has_access_token", &self.access_token.is_some())
            .field("has_code", &self.code.is_some())
            .finish()
    }
}

/// The scopes GitLab grants OAuth applications (GitLab's documented list).
pub const OAUTH_SCOPES: &[&str] = &[
    "api",
    "read_api",
    "read_user",
    "read_repository",
    "write_repository",
    "read_registry",
    "write_registry",
    "read_virtual_registry",
    "write_virtual_registry",
    "create_runner",
    "manage_runner",
    "k8s_proxy",
    "read_observability",
    "write_observability",
    "ai_features",
    "sudo",
    "admin_mode",
    "read_service_ping",
    "openid",
    "profile",
    "email",
];

/// `POST /api/v1/app-connections/gitlab/oauth/start`: what the authorization creates (or
/// reconnects: a connection of the same name, or with the same `tenantId` and `userId`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartOAuthRequest {
    /// The connection's name: a slug, as on create.
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")]
    pub name: String,
    /// At most 256 characters.
    #[serde(default)]
    #[schema(max_length = 256)]
    pub description: Option<String>,
    /// The GitLab instance; default: the configured default instance (`LABGATE_GITLAB_URL`,
    /// else `https://gitlab.com`). Other instances must be registered with an OAuth application
    /// (`/api/v1/gitlab-instances`).
    #[serde(default)]
    #[schema(max_length = 2048, pattern = "^[hH][tT][tT][pP][sS]?://")]
    pub instance_url: Option<String>,
    /// GitLab scopes to ask for, at least one (e.g. `read_api`, `read_user`): those GitLab
    /// grants OAuth applications.
    #[schema(schema_with = crate::openapi::oauth_scopes)]
    pub scopes: Vec<String>,
    /// The embedding application's project label, as on create.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"
    )]
    pub project_id: Option<String>,
    /// The embedding application's own tenant id for this connection; with `userId`, the
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
    /// Where the browser goes when the flow ends: `?connectionId=…` on success,
    /// `?error=…&error_description=…` otherwise. Without it, labgate shows a page.
    #[serde(default)]
    #[schema(max_length = 2048, pattern = "^[hH][tT][tT][pP][sS]?://")]
    pub return_to: Option<String>,
}

/// The authorization URL to send the user's browser to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartOAuthResponse {
    pub authorize_url: String,
    /// The flow must end before this; its state is single use.
    pub expires_at: String,
}

impl std::fmt::Debug for AccessTokenCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokenCredentials")
            .field("instance_url", &self.instance_url)
            .field("access_token_type", &self.access_token_type)
            .finish_non_exhaustive()
    }
}

/// `POST /api/v1/app-connections/gitlab`: Infisical's body, plus labgate's `usages`,
/// `autoRotate` and `rotateBeforeDays`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateConnectionRequest {
    /// A slug, 1–64 characters: lowercase letters, digits and dashes, not starting or ending
    /// with a dash.
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")]
    pub name: String,
    /// At most 256 characters.
    #[serde(default)]
    #[schema(max_length = 256)]
    pub description: Option<String>,
    /// `access-token`, or `oauth` for a client that ran GitLab's authorization itself with
    /// labgate's `oauthClientId` and redirect URI and hands over the code.
    #[schema(pattern = "^(access-token|oauth)$")]
    pub method: String,
    /// Required. `access-token`: `accessToken`, `accessTokenType` and `instanceUrl`; `oauth`:
    /// `code` and `instanceUrl`.
    #[serde(default)]
    #[schema(required = true, value_type = CreateCredentials)]
    pub credentials: Option<CreateCredentials>,
    /// 1–128 characters, no control characters.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"
    )]
    pub project_id: Option<String>,
    /// Not supported for GitLab connections: only `false` or absent.
    #[serde(default)]
    #[schema(schema_with = crate::openapi::only_false)]
    pub is_platform_managed_credentials: Option<bool>,
    /// Not supported for GitLab connections: only `null` or absent.
    #[serde(default)]
    #[schema(schema_with = crate::openapi::only_null)]
    pub gateway_id: Option<serde_json::Value>,
    /// What the connection will be used for; the token's scopes and role are checked for each.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Usage>>)]
    pub usages: Option<Vec<String>>,
    /// Rotate the token at GitLab before it expires, and at once when a scan finds it leaked.
    #[serde(default)]
    pub auto_rotate: Option<bool>,
    /// How many days before expiry to rotate (1–365, default 7).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 365)]
    pub rotate_before_days: Option<u32>,
}

/// `PATCH /api/v1/app-connections/gitlab/{id}`. New credentials are validated like on create and
/// bump `version`; `version`, when given, must be the current one (409 otherwise).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateConnectionRequest {
    /// A slug, as on create.
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")]
    pub name: Option<String>,
    /// At most 256 characters; `null` clears it.
    #[serde(default, with = "crate::serde_util::double_option")]
    #[schema(value_type = Option<String>, max_length = 256)]
    pub description: Option<Option<String>>,
    pub credentials: Option<AccessTokenCredentials>,
    /// The version this change was made against.
    pub version: Option<i64>,
    /// Not supported for GitLab connections: only `false` or absent.
    #[schema(schema_with = crate::openapi::only_false)]
    pub is_platform_managed_credentials: Option<bool>,
    /// Not supported for GitLab connections: only `null` or absent.
    #[schema(schema_with = crate::openapi::only_null)]
    pub gateway_id: Option<serde_json::Value>,
    #[schema(value_type = Option<Vec<Usage>>)]
    pub usages: Option<Vec<String>>,
    /// Rotate the token at GitLab before it expires, and at once when a scan finds it leaked. An
    /// OAuth connection refreshes on its own; with this set, a leak of its access or refresh
    /// token makes it refresh at once, and GitLab revokes the leaked pair.
    pub auto_rotate: Option<bool>,
    /// How many days before expiry to rotate (1–365).
    #[schema(minimum = 1, maximum = 365)]
    pub rotate_before_days: Option<u32>,
}

/// The credentials as shown: never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionCredentialsView {
    pub instance_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_type: Option<AccessTokenType>,
}

/// The GitLab user a token acts as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitLabUserView {
    pub id: Option<u64>,
    pub username: Option<String>,
    pub bot: Option<bool>,
}

/// The project or group a project/group token belongs to, and the token's role there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitLabResourceView {
    pub kind: ResourceKind,
    pub id: u64,
    pub full_path: Option<String>,
    pub access_level: Option<u8>,
}

/// A connection: Infisical's fields first, labgate's additions after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub version: i64,
    pub org_id: String,
    pub created_at: String,
    pub updated_at: String,
    pub is_platform_managed_credentials: bool,
    pub gateway_id: Option<String>,
    pub project_id: Option<String>,
    pub credentials_hash: String,
    /// Infisical's project object; labgate has no projects, so always `null`.
    #[schema(value_type = Option<Object>)]
    pub project: Option<serde_json::Value>,
    pub app: App,
    pub method: ConnectionMethod,
    pub credentials: ConnectionCredentialsView,
    // labgate's additions
    pub status: ConnectionStatus,
    pub status_reason: Option<String>,
    pub scopes: Vec<String>,
    pub expires_at: Option<String>,
    pub token_name: Option<String>,
    pub gitlab_user: GitLabUserView,
    pub gitlab_resource: Option<GitLabResourceView>,
    pub last_checked_at: Option<String>,
    pub usages: Vec<Usage>,
    pub auto_rotate: bool,
    pub rotate_before_days: u32,
    pub last_rotated_at: Option<String>,
    /// OAuth: the embedding application's tenant and user this connection belongs to.
    pub tenant_id: Option<String>,
    pub user_id: Option<String>,
    /// When the connection last handed out its credential through the broker, to the minute;
    /// `null` if never. Recorded within a few seconds of the read.
    #[serde(default)]
    pub last_used_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionResponse {
    pub app_connection: ConnectionView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionList {
    pub app_connections: Vec<ConnectionView>,
    pub total_count: u64,
}

/// `GET …/gitlab/available`: what a caller may pick from (Infisical's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailableConnection {
    pub id: String,
    pub name: String,
    pub app: App,
    pub method: ConnectionMethod,
    pub project_id: Option<String>,
    pub org_id: String,
    pub status: ConnectionStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailableConnectionList {
    pub app_connections: Vec<AvailableConnection>,
}

/// One app and its connection methods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppConnectionOption {
    pub name: String,
    pub app: App,
    pub methods: Vec<ConnectionMethod>,
    /// The OAuth application's client id on the default instance, for clients that run the
    /// authorization themselves; `null` when none is configured.
    pub oauth_client_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppConnectionOptions {
    pub app_connection_options: Vec<AppConnectionOption>,
}

/// One entry of a connection's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionEventView {
    pub id: String,
    pub kind: ConnectionEventKind,
    pub from_status: Option<ConnectionStatus>,
    pub to_status: Option<ConnectionStatus>,
    pub reason: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionEventList {
    pub events: Vec<ConnectionEventView>,
    pub total_count: u64,
}

/// A GitLab project the connection can see (Infisical's `{id, name}` plus extras).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitLabProjectView {
    pub id: String,
    /// The full path (`group/subgroup/project`), as Infisical answers it.
    pub name: String,
    pub path_with_namespace: String,
    pub web_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitLabGroupView {
    pub id: String,
    pub name: String,
    /// The names of the group and its parents (`Acme / Platform`).
    pub full_name: String,
    pub full_path: String,
    pub web_url: String,
}

/// `GET /api/v1/app-connections` and `…/gitlab`. Without `limit` every connection is answered,
/// as Infisical does: its clients read the list in one call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConnectionListQuery {
    /// Connections to skip (default 0).
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_u64)]
    pub offset: Option<u64>,
    /// Connections to return, 1–100 (default: all of them).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Only connections with this `projectId`.
    pub project_id: Option<String>,
}

/// `GET …/gitlab/connection-name/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConnectionNameQuery {
    /// Only a connection with this `projectId`.
    pub project_id: Option<String>,
}

/// `GET …/gitlab/{id}/projects` and `…/groups`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GitLabListQuery {
    /// Passed to GitLab's `search`: a case-insensitive match on name or path.
    pub search: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteConnectionQuery {
    /// Revoke the token at GitLab before deleting the connection.
    pub revoke_at_git_lab: Option<bool>,
}
