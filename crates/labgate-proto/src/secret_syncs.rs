//! Secret syncs to GitLab CI/CD variables, with Infisical's `secret-syncs/gitlab` request and
//! response shapes plus labgate's extra fields (plans, per-key results, ownership options).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

crate::text_enum! {
    /// Where the variables go: one project's or one group's CI/CD variables.
    #[derive(utoipa::ToSchema)]
    pub enum SyncScope {
        Project = "project",
        Group = "group",
    }
}

crate::text_enum! {
    /// What the first sync does with variables already at GitLab that the sync did not write.
    #[derive(utoipa::ToSchema)]
    pub enum InitialSyncBehavior {
        /// labgate's values win; matching variables are overwritten and taken over.
        OverwriteDestination = "overwrite-destination",
        /// GitLab's variables are imported first, labgate's values win where both have a key.
        ImportPrioritizeSource = "import-prioritize-source",
        /// GitLab's variables are imported first and win where both have a key.
        ImportPrioritizeDestination = "import-prioritize-destination",
    }
}

crate::text_enum! {
    /// The state of a sync's last action (sync, import or remove).
    #[derive(utoipa::ToSchema)]
    pub enum SyncStatus {
        /// Queued, not started yet.
        Pending = "pending",
        Running = "running",
        Succeeded = "succeeded",
        /// Some keys were written, others failed or were skipped; see the results.
        Partial = "partial",
        Failed = "failed",
    }
}

crate::text_enum! {
    /// Which side wins an import where both have a key.
    #[derive(utoipa::ToSchema)]
    pub enum ImportBehavior {
        PrioritizeSource = "prioritize-source",
        PrioritizeDestination = "prioritize-destination",
    }
}

crate::text_enum! {
    /// What a sync does (or did) with one key.
    #[derive(utoipa::ToSchema)]
    pub enum PlanAction {
        Create = "create",
        Update = "update",
        Delete = "delete",
        Unchanged = "unchanged",
        Skipped = "skipped",
    }
}

crate::text_enum! {
    /// How writing one key ended.
    #[derive(utoipa::ToSchema)]
    pub enum ResultOutcome {
        Ok = "ok",
        Failed = "failed",
        Skipped = "skipped",
    }
}

crate::text_enum! {
    /// GitLab's variable types.
    #[derive(utoipa::ToSchema)]
    pub enum VariableType {
        EnvVar = "env_var",
        File = "file",
    }
}

/// Where and how the variables are written (Infisical's GitLab destination config, plus
/// labgate's `variableType`, `expandVariables` and `description`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitLabDestinationConfig {
    pub scope: SyncScope,
    /// The project's id or full path (scope `project`).
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub project_id: Option<String>,
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub project_name: Option<String>,
    /// The group's id or full path (scope `group`).
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub group_id: Option<String>,
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub group_name: Option<String>,
    /// The variables' environment scope (default `*`).
    #[serde(default)]
    #[schema(max_length = 255)]
    pub target_environment: Option<String>,
    #[serde(default)]
    pub should_protect_secrets: bool,
    #[serde(default)]
    pub should_mask_secrets: bool,
    /// Masked and hidden: GitLab never shows the value again. Only possible on create.
    #[serde(default)]
    pub should_hide_secrets: bool,
    /// `env_var` (default) or `file`.
    #[serde(default)]
    pub variable_type: Option<VariableType>,
    /// Let GitLab expand `$NAME` references in values (default false: values are raw).
    #[serde(default)]
    pub expand_variables: bool,
    /// The description GitLab shows on each variable (at most 255 characters).
    #[serde(default)]
    #[schema(max_length = 255)]
    pub description: Option<String>,
}

/// How the sync treats keys (Infisical's sync options, plus labgate's ownership options).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncOptions {
    pub initial_sync_behavior: InitialSyncBehavior,
    /// A template of the variable key containing `{{secretKey}}`, e.g. `APP_{{secretKey}}`.
    #[serde(default)]
    #[schema(max_length = 255)]
    pub key_schema: Option<String>,
    /// Never delete a variable at GitLab.
    #[serde(default)]
    pub disable_secret_deletion: bool,
    /// Also delete variables in the target scope the sync did not write, when their key matches
    /// the key schema and no secret maps to it. Off by default: only variables the sync wrote are
    /// ever deleted.
    #[serde(default)]
    pub delete_unowned_matching_keys: bool,
}

/// `POST /api/v1/secret-syncs/gitlab`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSecretSyncRequest {
    /// Lowercase letters, digits and dashes; unique within the secrets project.
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9-]+$")]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 256)]
    pub description: Option<String>,
    pub connection_id: String,
    /// The secrets project.
    pub project_id: String,
    /// The environment's slug.
    #[schema(min_length = 1, max_length = 64)]
    pub environment: String,
    /// The folder, e.g. `/` or `/app/db`.
    #[schema(min_length = 1, max_length = 1024)]
    pub secret_path: String,
    /// Sync again whenever a secret of the folder changes (default true).
    #[serde(default)]
    pub is_auto_sync_enabled: Option<bool>,
    pub destination_config: GitLabDestinationConfig,
    pub sync_options: SyncOptions,
}

/// `PATCH /api/v1/secret-syncs/gitlab/{syncId}`: absent fields keep their value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateSecretSyncRequest {
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9-]+$")]
    pub name: Option<String>,
    #[schema(max_length = 256)]
    pub description: Option<String>,
    pub connection_id: Option<String>,
    #[schema(min_length = 1, max_length = 64)]
    pub environment: Option<String>,
    #[schema(min_length = 1, max_length = 1024)]
    pub secret_path: Option<String>,
    pub is_auto_sync_enabled: Option<bool>,
    pub destination_config: Option<GitLabDestinationConfig>,
    pub sync_options: Option<SyncOptions>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncConnectionView {
    pub app: String,
    pub name: String,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncEnvironmentView {
    pub slug: String,
    pub name: String,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncFolderView {
    pub path: String,
}

/// A secret sync, in Infisical's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretSyncView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub connection_id: String,
    pub connection: SyncConnectionView,
    pub project_id: String,
    pub environment: SyncEnvironmentView,
    pub folder: SyncFolderView,
    pub is_auto_sync_enabled: bool,
    /// Always `gitlab`.
    pub destination: String,
    pub destination_config: GitLabDestinationConfig,
    pub sync_options: SyncOptions,
    pub sync_status: Option<SyncStatus>,
    pub last_sync_job_id: Option<String>,
    pub last_sync_message: Option<String>,
    pub last_synced_at: Option<String>,
    pub import_status: Option<SyncStatus>,
    pub last_import_job_id: Option<String>,
    pub last_import_message: Option<String>,
    pub last_imported_at: Option<String>,
    pub remove_status: Option<SyncStatus>,
    pub last_remove_job_id: Option<String>,
    pub last_remove_message: Option<String>,
    pub last_removed_at: Option<String>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretSyncResponse {
    pub secret_sync: SecretSyncView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretSyncList {
    pub secret_syncs: Vec<SecretSyncView>,
}

/// `GET /api/v1/secret-syncs/gitlab`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SecretSyncListQuery {
    /// The secrets project whose syncs to list.
    pub project_id: String,
}

/// `GET /api/v1/secret-syncs/gitlab/sync-name/{syncName}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SecretSyncNameQuery {
    pub project_id: String,
}

/// `DELETE /api/v1/secret-syncs/gitlab/{syncId}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteSecretSyncQuery {
    /// Delete the variables the sync wrote at GitLab first (default false).
    pub remove_secrets: Option<bool>,
}

/// `POST /api/v1/secret-syncs/gitlab/{syncId}/import-secrets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportSecretsQuery {
    pub import_behavior: ImportBehavior,
}

/// One key of a plan: what a sync would do with it, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanEntryView {
    /// The variable's key at GitLab (after the key schema).
    pub key: String,
    pub action: PlanAction,
    pub reason: String,
}

/// `GET …/{syncId}/plan`: a dry run; nothing is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretSyncPlan {
    pub plan: Vec<PlanEntryView>,
}

/// One key of the last run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncResultView {
    pub key: String,
    pub action: PlanAction,
    pub outcome: ResultOutcome,
    pub reason: Option<String>,
    pub recorded_at: String,
}

/// `GET …/{syncId}/results`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretSyncResults {
    pub sync_status: Option<SyncStatus>,
    pub last_sync_job_id: Option<String>,
    pub results: Vec<SyncResultView>,
}
