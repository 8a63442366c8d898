//! The audit log as the API shows it.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

crate::text_enum! {
    /// Who acted.
    #[derive(utoipa::ToSchema)]
    pub enum ActorKind {
        ApiKey = "api-key",
        User = "user",
        /// An operator at the database through the CLI.
        Cli = "cli",
        /// labgate itself (health checks, rotations).
        System = "system",
    }
}

crate::text_enum! {
    /// The kinds of resource audited.
    #[derive(utoipa::ToSchema)]
    pub enum ResourceType {
        ApiKey = "api-key",
        AppConnection = "app-connection",
        Webhook = "webhook",
        GitLabInstance = "gitlab-instance",
        Tenant = "tenant",
        /// A secret sync to GitLab CI/CD variables.
        SecretSync = "secret-sync",
        /// A secret scanning data source (GitLab repositories).
        ScanDataSource = "secret-scanning-data-source",
        /// A finding of secret scanning.
        Finding = "secret-scanning-finding",
        /// A person who logs in to the web UI.
        User = "user",
        /// A project of secrets, with its environments.
        SecretProject = "secret-project",
        /// A secret of a project's folder.
        Secret = "secret",
        /// A GitLab scope whose access labgate syncs.
        AccessSource = "access-source",
    }
}

crate::text_enum! {
    /// What was done.
    #[derive(utoipa::ToSchema)]
    pub enum AuditAction {
        ApiKeyCreate = "api-key.create",
        ApiKeyRevoke = "api-key.revoke",
        ConnectionCreate = "app-connection.create",
        ConnectionUpdate = "app-connection.update",
        ConnectionDelete = "app-connection.delete",
        ConnectionCheck = "app-connection.check",
        ConnectionRotate = "app-connection.rotate",
        /// An automatic rotation that GitLab refused.
        ConnectionRotateFailed = "app-connection.rotate-failed",
        /// A rotation applied (by request, automatically, or at recovery).
        ConnectionRotated = "app-connection.rotated",
        ConnectionNeedsAttention = "app-connection.needs-attention",
        ConnectionCredentialRead = "app-connection.credential-read",
        /// An OAuth authorization began; its state is single use.
        ConnectionOAuthStart = "app-connection.oauth-start",
        /// An OAuth authorization created or reconnected a connection.
        ConnectionOAuthConnect = "app-connection.oauth-connect",
        /// An OAuth authorization ended without a connection (denied, bad state, failed exchange).
        ConnectionOAuthFailed = "app-connection.oauth-failed",
        /// A connect session was created for an embedding application's connect button.
        ConnectionConnectSession = "app-connection.connect-session",
        /// An OAuth connection's tokens were refreshed on request.
        ConnectionRefresh = "app-connection.refresh",
        /// GitLab no longer honours the connection's grant: a person must reconnect.
        ConnectionNeedsReauth = "app-connection.needs-reauth",
        /// GitLab refused labgate's OAuth application itself (`invalid_client`).
        GitLabInstanceOAuthRefused = "gitlab-instance.oauth-refused",
        WebhookCreate = "webhook.create",
        WebhookUpdate = "webhook.update",
        WebhookDelete = "webhook.delete",
        GitLabInstanceCreate = "gitlab-instance.create",
        GitLabInstanceUpdate = "gitlab-instance.update",
        GitLabInstanceDelete = "gitlab-instance.delete",
        TenantCreate = "tenant.create",
        UserCreate = "user.create",
        UserDelete = "user.delete",
        /// A person logged in to the web UI.
        UserLogin = "user.login",
        SecretProjectCreate = "secret-project.create",
        SecretProjectDelete = "secret-project.delete",
        SecretEnvironmentCreate = "secret-project.environment-create",
        SecretEnvironmentUpdate = "secret-project.environment-update",
        SecretEnvironmentDelete = "secret-project.environment-delete",
        SecretCreate = "secret.create",
        SecretUpdate = "secret.update",
        SecretDelete = "secret.delete",
        SecretRollback = "secret.rollback",
        /// Values written from a `.env` file or another source, in one batch.
        SecretImport = "secret.import",
        /// A secret's value was read (folded per reader, secret and minute).
        SecretRead = "secret.read",
        /// Values of a secret's past versions were read (folded like reads).
        SecretHistoryRead = "secret.history-read",
        SecretSyncCreate = "secret-sync.create",
        SecretSyncUpdate = "secret-sync.update",
        SecretSyncDelete = "secret-sync.delete",
        /// A sync of the folder's secrets to GitLab was asked for.
        SecretSyncRun = "secret-sync.run",
        /// An import of GitLab's variables into the folder was asked for.
        SecretSyncImport = "secret-sync.import",
        /// A removal of the variables the sync wrote was asked for.
        SecretSyncRemove = "secret-sync.remove",
        ScanDataSourceCreate = "secret-scanning-data-source.create",
        ScanDataSourceUpdate = "secret-scanning-data-source.update",
        ScanDataSourceDelete = "secret-scanning-data-source.delete",
        /// A scan of a data source's repositories (all, or one) was asked for.
        ScanDataSourceScan = "secret-scanning-data-source.scan",
        /// A finding's status or remarks changed.
        FindingUpdate = "secret-scanning-finding.update",
        AccessSourceCreate = "access-source.create",
        AccessSourceDelete = "access-source.delete",
        /// A sync of a source's access was asked for (or scheduled).
        AccessSourceSync = "access-source.sync",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditActor {
    pub kind: ActorKind,
    pub id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditLogView {
    pub id: String,
    pub actor: AuditActor,
    pub action: AuditAction,
    pub resource_kind: ResourceType,
    pub resource_id: Option<String>,
    /// The client address, as the server determined it (trusted proxies considered).
    pub source_ip: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
    pub created_at: String,
    /// How many times it happened within that minute: repeated reads of one credential by one
    /// actor are folded into one entry.
    pub occurrences: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditLogList {
    pub audit_logs: Vec<AuditLogView>,
    pub total_count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditLogQuery {
    /// Only this action, e.g. `api-key.revoke`.
    pub action: Option<AuditAction>,
    /// Only actions on this kind of resource, e.g. `api-key`.
    pub resource_kind: Option<ResourceType>,
    pub resource_id: Option<String>,
    /// Only this actor kind.
    pub actor_kind: Option<ActorKind>,
    pub actor_id: Option<String>,
    /// RFC 3339 time; entries at or after it.
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// RFC 3339 time; entries before it.
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// Records to skip (default 0).
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_u64)]
    pub offset: Option<u64>,
    /// Records to return, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}
