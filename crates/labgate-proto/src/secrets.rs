//! The secrets store on the wire: projects with environments (`/api/v1/projects`) and secrets
//! in Infisical's raw shapes (`/api/v3/secrets/raw`, `/api/v3/secrets/batch/raw`), plus
//! labgate's `.env` import, history and rollback. A project id may be given as `projectId` or,
//! as Infisical's clients do, `workspaceId`. Values are `SecretString`s: redacted in `Debug`,
//! written in the clear only into the JSON that is meant to carry them.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::AuditActor;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentView {
    pub id: String,
    pub name: String,
    pub slug: String,
    /// Where the environment sorts among the project's.
    pub position: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectView {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub environments: Vec<EnvironmentView>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectResponse {
    pub project: ProjectView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectList {
    pub projects: Vec<ProjectView>,
    pub total_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewEnvironmentRequest {
    #[schema(min_length = 1, max_length = 128)]
    pub name: String,
    /// Lowercase letters, digits, `-` and `_`.
    #[schema(min_length = 1, max_length = 64)]
    pub slug: String,
}

/// `POST /api/v1/projects`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateProjectRequest {
    #[schema(min_length = 1, max_length = 128)]
    pub name: String,
    /// Unique within the tenant; made from the name when absent.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub slug: Option<String>,
    /// Absent: `dev` (Development), `staging` (Staging) and `prod` (Production).
    #[serde(default)]
    pub environments: Option<Vec<NewEnvironmentRequest>>,
}

/// `PATCH /api/v1/projects/{id}/environments/{envId}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateEnvironmentRequest {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub slug: Option<String>,
    #[serde(default)]
    #[schema(maximum = 100_000)]
    pub position: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentResponse {
    pub environment: EnvironmentView,
}

/// A tag on a secret. labgate's tags are named by their slug alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretTagView {
    pub slug: String,
    pub name: String,
}

crate::text_enum! {
    /// Infisical's secret type; labgate's secrets are all shared.
    #[derive(utoipa::ToSchema)]
    pub enum SecretType {
        Shared = "shared",
    }
}

/// A secret with its value, in Infisical's raw shape.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretView {
    pub id: String,
    /// The project's id.
    pub workspace: String,
    pub secret_key: String,
    #[serde(with = "crate::serde_util::exposed_secret")]
    #[schema(value_type = String)]
    pub secret_value: SecretString,
    pub secret_comment: String,
    pub version: u32,
    #[serde(rename = "type")]
    pub secret_type: SecretType,
    /// The environment's slug.
    pub environment: String,
    pub secret_path: String,
    pub tags: Vec<SecretTagView>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretResponse {
    pub secret: SecretView,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretList {
    pub secrets: Vec<SecretView>,
    /// Infisical's secret imports; labgate has none, so this is always empty.
    #[schema(value_type = Vec<Object>)]
    pub imports: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretBatchResponse {
    pub secrets: Vec<SecretView>,
}

/// Which folder: the project (`projectId` or `workspaceId`), the environment's slug and the path
/// (default `/`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SecretListQuery {
    #[serde(default)]
    pub project_id: Option<String>,
    /// Infisical's name for `projectId`.
    #[serde(default)]
    pub workspace_id: Option<String>,
    #[param(min_length = 1, max_length = 64)]
    pub environment: String,
    #[serde(default)]
    #[param(max_length = 512)]
    pub secret_path: Option<String>,
    /// Include the folders below `secretPath`.
    #[serde(default)]
    pub recursive: Option<bool>,
    /// Comma-separated tag slugs; only secrets carrying all of them.
    #[serde(default)]
    pub tag_slugs: Option<String>,
    /// Accepted for Infisical's clients (also as `include_imports`); labgate has no imports.
    #[serde(default, alias = "include_imports")]
    pub include_imports: Option<bool>,
    /// Accepted for Infisical's clients; labgate does not expand references.
    #[serde(default)]
    pub expand_secret_references: Option<bool>,
}

/// `GET /api/v3/secrets/raw/{secretName}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SecretQuery {
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub workspace_id: Option<String>,
    #[param(min_length = 1, max_length = 64)]
    pub environment: String,
    #[serde(default)]
    #[param(max_length = 512)]
    pub secret_path: Option<String>,
    /// A past version instead of the current one.
    #[serde(default)]
    #[param(minimum = 1)]
    pub version: Option<u32>,
    #[serde(default, rename = "type")]
    pub secret_type: Option<SecretType>,
    /// Accepted for Infisical's clients (also as `include_imports`).
    #[serde(default, alias = "include_imports")]
    pub include_imports: Option<bool>,
    #[serde(default)]
    pub expand_secret_references: Option<bool>,
}

/// `POST /api/v3/secrets/raw/{secretName}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSecretRequest {
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub workspace_id: Option<String>,
    #[schema(min_length = 1, max_length = 64)]
    pub environment: String,
    #[serde(default)]
    #[schema(max_length = 512)]
    pub secret_path: Option<String>,
    #[serde(with = "crate::serde_util::exposed_secret")]
    #[schema(value_type = String)]
    pub secret_value: SecretString,
    #[serde(default)]
    pub secret_comment: Option<String>,
    /// Tag slugs (labgate's tags have no ids of their own).
    #[serde(default)]
    pub tag_ids: Option<Vec<String>>,
    /// Tag slugs.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default, rename = "type")]
    pub secret_type: Option<SecretType>,
}

/// `PATCH /api/v3/secrets/raw/{secretName}`: what is absent stays.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateSecretRequest {
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub workspace_id: Option<String>,
    #[schema(min_length = 1, max_length = 64)]
    pub environment: String,
    #[serde(default)]
    #[schema(max_length = 512)]
    pub secret_path: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::serde_util::exposed_secret_opt"
    )]
    #[schema(value_type = Option<String>)]
    pub secret_value: Option<SecretString>,
    #[serde(default)]
    pub secret_comment: Option<String>,
    /// Renames the secret.
    #[serde(default)]
    pub new_secret_name: Option<String>,
    #[serde(default)]
    pub tag_ids: Option<Vec<String>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default, rename = "type")]
    pub secret_type: Option<SecretType>,
}

/// `DELETE /api/v3/secrets/raw/{secretName}`, as a body or as query parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SecretLocation {
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub workspace_id: Option<String>,
    #[schema(min_length = 1, max_length = 64)]
    #[param(min_length = 1, max_length = 64)]
    pub environment: String,
    #[serde(default)]
    #[schema(max_length = 512)]
    #[param(max_length = 512)]
    pub secret_path: Option<String>,
    #[serde(default, rename = "type")]
    pub secret_type: Option<SecretType>,
}

/// One secret of a batch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchSecret {
    pub secret_key: String,
    /// Required to create; optional to update; ignored on delete.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::serde_util::exposed_secret_opt"
    )]
    #[schema(value_type = Option<String>)]
    pub secret_value: Option<SecretString>,
    #[serde(default)]
    pub secret_comment: Option<String>,
    #[serde(default)]
    pub new_secret_name: Option<String>,
    #[serde(default)]
    pub tag_ids: Option<Vec<String>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default, rename = "type")]
    pub secret_type: Option<SecretType>,
}

/// `POST|PATCH|DELETE /api/v3/secrets/batch/raw`: applied entirely or not at all.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchSecretsRequest {
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub workspace_id: Option<String>,
    #[schema(min_length = 1, max_length = 64)]
    pub environment: String,
    #[serde(default)]
    #[schema(max_length = 512)]
    pub secret_path: Option<String>,
    #[schema(min_items = 1, max_items = 1000)]
    pub secrets: Vec<BatchSecret>,
}

/// `POST /api/v3/secrets/import`: the `KEY=value` lines of a `.env` file.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportSecretsRequest {
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub workspace_id: Option<String>,
    #[schema(min_length = 1, max_length = 64)]
    pub environment: String,
    #[serde(default)]
    #[schema(max_length = 512)]
    pub secret_path: Option<String>,
    /// The file's text.
    pub content: String,
    /// Overwrite keys that exist with a different value (default true).
    #[serde(default)]
    pub overwrite: Option<bool>,
}

impl std::fmt::Debug for ImportSecretsRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The content is full of values: only its size is shown.
        f.debug_struct("ImportSecretsRequest")
            .field("project_id", &self.project_id)
            .field("workspace_id", &self.workspace_id)
            .field("environment", &self.environment)
            .field("secret_path", &self.secret_path)
            .field("content_len", &self.content.len())
            .field("overwrite", &self.overwrite)
            .finish()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportSecretsResponse {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    /// Keys left as they were: equal already, or existing while `overwrite` was false.
    pub unchanged: Vec<String>,
}

/// `GET /api/v3/secrets/raw/{secretName}/history`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SecretHistoryQuery {
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub workspace_id: Option<String>,
    #[param(min_length = 1, max_length = 64)]
    pub environment: String,
    #[serde(default)]
    #[param(max_length = 512)]
    pub secret_path: Option<String>,
    /// Include each version's value (audited as a read).
    #[serde(default)]
    pub include_values: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretVersionView {
    pub version: u32,
    pub secret_key: String,
    pub secret_comment: String,
    pub tags: Vec<SecretTagView>,
    /// Who wrote the version.
    pub actor: AuditActor,
    pub created_at: String,
    /// Only with `includeValues=true`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::serde_util::exposed_secret_opt"
    )]
    #[schema(value_type = Option<String>)]
    pub secret_value: Option<SecretString>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretHistory {
    pub versions: Vec<SecretVersionView>,
}

/// `POST /api/v3/secrets/raw/{secretName}/rollback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollbackSecretRequest {
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub workspace_id: Option<String>,
    #[schema(min_length = 1, max_length = 64)]
    pub environment: String,
    #[serde(default)]
    #[schema(max_length = 512)]
    pub secret_path: Option<String>,
    /// The version whose value, comment and tags become current again (as a new version).
    #[schema(minimum = 1)]
    pub version: u32,
}
