//! `/api/v3/secrets`: secrets in Infisical's raw shapes (`/raw`, `/batch/raw`), plus labgate's
//! `.env` import, history and rollback. Reading a value is what this API is for; every read is
//! audited (folded per reader, secret and minute).

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::routing::{get, post};
use axum::{Json, Router};
use labgate_core::secrets::{
    EnvironmentSlug, Folder, NewSecret, SecretChange, SecretKey, SecretPath, TagSlug, parse_tags,
    secret_view, version_view,
};
use labgate_proto::ErrorBody;
use labgate_proto::secrets::{
    BatchSecret, BatchSecretsRequest, CreateSecretRequest, ImportSecretsRequest, ImportSecretsResponse,
    RollbackSecretRequest, SecretBatchResponse, SecretHistory, SecretHistoryQuery, SecretList,
    SecretListQuery, SecretLocation, SecretQuery, SecretResponse, UpdateSecretRequest,
};

use crate::api::projects::project_id;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, Auth};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/secrets/raw", get(list))
        .route(
            "/secrets/raw/{secretName}",
            get(show).post(create).patch(update).delete(remove),
        )
        .route("/secrets/raw/{secretName}/history", get(history))
        .route("/secrets/raw/{secretName}/rollback", post(rollback))
        .route(
            "/secrets/batch/raw",
            post(create_batch).patch(update_batch).delete(delete_batch),
        )
        .route("/secrets/import", post(import))
}

/// The folder a request names: the project by `projectId` or Infisical's `workspaceId`, the
/// environment's slug, and the path (`/` when absent).
fn folder(
    project: Option<&str>,
    workspace: Option<&str>,
    environment: &str,
    path: Option<&str>,
) -> Result<Folder, ApiError> {
    let id = match (project, workspace) {
        (Some(project), Some(workspace)) if project != workspace => {
            return Err(ApiError::from(labgate_core::CoreError::validation(
                "projectId",
                "projectId and workspaceId name different projects",
            )));
        }
        (Some(id), _) | (None, Some(id)) => id,
        (None, None) => {
            return Err(ApiError::from(labgate_core::CoreError::validation(
                "projectId",
                "projectId (or workspaceId) is required",
            )));
        }
    };
    Ok(Folder {
        project: project_id(id)?,
        environment: EnvironmentSlug::parse(environment)?,
        path: path.map_or_else(|| Ok(SecretPath::root()), SecretPath::parse)?,
    })
}

fn secret_key(name: &str) -> Result<SecretKey, ApiError> {
    Ok(SecretKey::parse(name)?)
}

/// Tags from `tags`, or from `tagIds` (labgate's tags are named by their slug alone).
fn tags(tags: Option<Vec<String>>, tag_ids: Option<Vec<String>>) -> Result<Option<Vec<TagSlug>>, ApiError> {
    match tags.or(tag_ids) {
        Some(tags) => Ok(Some(parse_tags(&tags)?)),
        None => Ok(None),
    }
}

/// The current secrets of a folder (with `recursive=true`, of the folders below it too), with
/// their values. Every value read is audited.
#[utoipa::path(get, path = "/api/v3/secrets/raw", operation_id = "listSecrets", tag = "secrets",
    params(SecretListQuery), security(("bearer" = [])),
    responses((status = 200, body = SecretList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(query): AppQuery<SecretListQuery>,
) -> Result<Json<SecretList>, ApiError> {
    let folder = folder(
        query.project_id.as_deref(),
        query.workspace_id.as_deref(),
        &query.environment,
        query.secret_path.as_deref(),
    )?;
    let tag_filter: Vec<&str> = query
        .tag_slugs
        .as_deref()
        .map(|slugs| {
            slugs
                .split(',')
                .map(str::trim)
                .filter(|slug| !slug.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let tag_filter = parse_tags(&tag_filter)?;
    let secrets = state
        .services
        .secrets
        .list(&principal, &folder, query.recursive.unwrap_or(false), &tag_filter)
        .await?;
    Ok(Json(SecretList {
        secrets: secrets.into_iter().map(secret_view).collect(),
        imports: Vec::new(),
    }))
}

/// One secret with its value; `version` reads a past version.
#[utoipa::path(get, path = "/api/v3/secrets/raw/{secretName}", operation_id = "getSecret", tag = "secrets",
    params(("secretName" = String, Path), SecretQuery), security(("bearer" = [])),
    responses((status = 200, body = SecretResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(name): AppPath<String>,
    AppQuery(query): AppQuery<SecretQuery>,
) -> Result<Json<SecretResponse>, ApiError> {
    let folder = folder(
        query.project_id.as_deref(),
        query.workspace_id.as_deref(),
        &query.environment,
        query.secret_path.as_deref(),
    )?;
    let secret = state
        .services
        .secrets
        .get(&principal, &folder, &secret_key(&name)?, query.version)
        .await?;
    Ok(Json(SecretResponse {
        secret: secret_view(secret),
    }))
}

/// Create a secret; a key the folder has is a 409.
#[utoipa::path(post, path = "/api/v3/secrets/raw/{secretName}", operation_id = "createSecret", tag = "secrets",
    params(("secretName" = String, Path)), request_body = CreateSecretRequest, security(("bearer" = [])),
    responses((status = 200, body = SecretResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(name): AppPath<String>,
    AppJson(body): AppJson<CreateSecretRequest>,
) -> Result<Json<SecretResponse>, ApiError> {
    let folder = folder(
        body.project_id.as_deref(),
        body.workspace_id.as_deref(),
        &body.environment,
        body.secret_path.as_deref(),
    )?;
    let new = NewSecret {
        key: secret_key(&name)?,
        value: body.secret_value,
        comment: body.secret_comment,
        tags: tags(body.tags, body.tag_ids)?,
    };
    let secret = state.services.secrets.create(&principal, &folder, new).await?;
    Ok(Json(SecretResponse {
        secret: secret_view(secret),
    }))
}

/// Change a secret's value, comment or tags, or rename it with `newSecretName`. A new version
/// is made only when something differs.
#[utoipa::path(patch, path = "/api/v3/secrets/raw/{secretName}", operation_id = "updateSecret", tag = "secrets",
    params(("secretName" = String, Path)), request_body = UpdateSecretRequest, security(("bearer" = [])),
    responses((status = 200, body = SecretResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(name): AppPath<String>,
    AppJson(body): AppJson<UpdateSecretRequest>,
) -> Result<Json<SecretResponse>, ApiError> {
    let folder = folder(
        body.project_id.as_deref(),
        body.workspace_id.as_deref(),
        &body.environment,
        body.secret_path.as_deref(),
    )?;
    let change = SecretChange {
        key: secret_key(&name)?,
        new_key: body
            .new_secret_name
            .as_deref()
            .map(|new_name| SecretKey::parse_as("newSecretName", new_name))
            .transpose()?,
        value: body.secret_value,
        comment: body.secret_comment,
        tags: tags(body.tags, body.tag_ids)?,
    };
    let secret = state.services.secrets.update(&principal, &folder, change).await?;
    Ok(Json(SecretResponse {
        secret: secret_view(secret),
    }))
}

/// Where a DELETE points: its JSON body when it has one (as Infisical's clients send it), its
/// query string otherwise.
pub struct LocationInput(SecretLocation);

impl<S: Send + Sync> FromRequest<S> for LocationInput {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if request.headers().contains_key(CONTENT_TYPE) {
            let AppJson(location) = AppJson::<SecretLocation>::from_request(request, state).await?;
            return Ok(LocationInput(location));
        }
        let (mut parts, _) = request.into_parts();
        let AppQuery(location) = AppQuery::<SecretLocation>::from_request_parts(&mut parts, state).await?;
        Ok(LocationInput(location))
    }
}

/// Delete a secret with its history. The folder is named by a JSON body or by query parameters.
#[utoipa::path(delete, path = "/api/v3/secrets/raw/{secretName}", operation_id = "deleteSecret", tag = "secrets",
    params(("secretName" = String, Path)), request_body(content = SecretLocation, description = "Or the same fields as query parameters"),
    security(("bearer" = [])),
    responses((status = 200, body = SecretResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(name): AppPath<String>,
    LocationInput(location): LocationInput,
) -> Result<Json<SecretResponse>, ApiError> {
    let folder = folder(
        location.project_id.as_deref(),
        location.workspace_id.as_deref(),
        &location.environment,
        location.secret_path.as_deref(),
    )?;
    let secret = state
        .services
        .secrets
        .delete(&principal, &folder, &secret_key(&name)?)
        .await?;
    Ok(Json(SecretResponse {
        secret: secret_view(secret),
    }))
}

fn batch_folder(body: &BatchSecretsRequest) -> Result<Folder, ApiError> {
    folder(
        body.project_id.as_deref(),
        body.workspace_id.as_deref(),
        &body.environment,
        body.secret_path.as_deref(),
    )
}

fn non_empty(secrets: &[BatchSecret]) -> Result<(), ApiError> {
    if secrets.is_empty() {
        return Err(
            labgate_core::CoreError::validation("secrets", "secrets must name at least one secret").into(),
        );
    }
    Ok(())
}

/// Create several secrets in one folder, all or none.
#[utoipa::path(post, path = "/api/v3/secrets/batch/raw", operation_id = "createSecrets", tag = "secrets",
    request_body = BatchSecretsRequest, security(("bearer" = [])),
    responses((status = 200, body = SecretBatchResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_batch(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppJson(body): AppJson<BatchSecretsRequest>,
) -> Result<Json<SecretBatchResponse>, ApiError> {
    let folder = batch_folder(&body)?;
    non_empty(&body.secrets)?;
    let mut secrets = Vec::with_capacity(body.secrets.len());
    for item in body.secrets {
        let value = item.secret_value.ok_or_else(|| {
            ApiError::from(labgate_core::CoreError::validation(
                "secretValue",
                format!("secretValue is required to create {}", item.secret_key),
            ))
        })?;
        secrets.push(NewSecret {
            key: secret_key(&item.secret_key)?,
            value,
            comment: item.secret_comment,
            tags: tags(item.tags, item.tag_ids)?,
        });
    }
    let created = state
        .services
        .secrets
        .create_many(&principal, &folder, secrets)
        .await?;
    Ok(Json(SecretBatchResponse {
        secrets: created.into_iter().map(secret_view).collect(),
    }))
}

/// Change several secrets of one folder, all or none.
#[utoipa::path(patch, path = "/api/v3/secrets/batch/raw", operation_id = "updateSecrets", tag = "secrets",
    request_body = BatchSecretsRequest, security(("bearer" = [])),
    responses((status = 200, body = SecretBatchResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_batch(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppJson(body): AppJson<BatchSecretsRequest>,
) -> Result<Json<SecretBatchResponse>, ApiError> {
    let folder = batch_folder(&body)?;
    non_empty(&body.secrets)?;
    let mut changes = Vec::with_capacity(body.secrets.len());
    for item in body.secrets {
        changes.push(SecretChange {
            key: secret_key(&item.secret_key)?,
            new_key: item
                .new_secret_name
                .as_deref()
                .map(|new_name| SecretKey::parse_as("newSecretName", new_name))
                .transpose()?,
            value: item.secret_value,
            comment: item.secret_comment,
            tags: tags(item.tags, item.tag_ids)?,
        });
    }
    let updated = state
        .services
        .secrets
        .update_many(&principal, &folder, changes)
        .await?;
    Ok(Json(SecretBatchResponse {
        secrets: updated.into_iter().map(secret_view).collect(),
    }))
}

/// Delete several secrets of one folder, all or none.
#[utoipa::path(delete, path = "/api/v3/secrets/batch/raw", operation_id = "deleteSecrets", tag = "secrets",
    request_body = BatchSecretsRequest, security(("bearer" = [])),
    responses((status = 200, body = SecretBatchResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_batch(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppJson(body): AppJson<BatchSecretsRequest>,
) -> Result<Json<SecretBatchResponse>, ApiError> {
    let folder = batch_folder(&body)?;
    non_empty(&body.secrets)?;
    let keys = body
        .secrets
        .iter()
        .map(|item| secret_key(&item.secret_key))
        .collect::<Result<Vec<_>, _>>()?;
    let deleted = state
        .services
        .secrets
        .delete_many(&principal, &folder, keys)
        .await?;
    Ok(Json(SecretBatchResponse {
        secrets: deleted.into_iter().map(secret_view).collect(),
    }))
}

/// Write the `KEY=value` lines of a `.env` file into a folder, all or none: absent keys are
/// created, keys with another value overwritten (unless `overwrite` is false). A malformed line
/// refuses the file with its line number.
#[utoipa::path(post, path = "/api/v3/secrets/import", operation_id = "importSecrets", tag = "secrets",
    request_body = ImportSecretsRequest, security(("bearer" = [])),
    responses((status = 200, body = ImportSecretsResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppJson(body): AppJson<ImportSecretsRequest>,
) -> Result<Json<ImportSecretsResponse>, ApiError> {
    let folder = folder(
        body.project_id.as_deref(),
        body.workspace_id.as_deref(),
        &body.environment,
        body.secret_path.as_deref(),
    )?;
    let summary = state
        .services
        .secrets
        .import_dotenv(&principal, &folder, &body.content, body.overwrite.unwrap_or(true))
        .await?;
    Ok(Json(ImportSecretsResponse {
        created: summary.created,
        updated: summary.updated,
        unchanged: summary.unchanged,
    }))
}

/// A secret's versions, newest first. Values only with `includeValues=true` (audited).
#[utoipa::path(get, path = "/api/v3/secrets/raw/{secretName}/history", operation_id = "getSecretHistory",
    tag = "secrets", params(("secretName" = String, Path), SecretHistoryQuery), security(("bearer" = [])),
    responses((status = 200, body = SecretHistory), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(name): AppPath<String>,
    AppQuery(query): AppQuery<SecretHistoryQuery>,
) -> Result<Json<SecretHistory>, ApiError> {
    let folder = folder(
        query.project_id.as_deref(),
        query.workspace_id.as_deref(),
        &query.environment,
        query.secret_path.as_deref(),
    )?;
    let versions = state
        .services
        .secrets
        .history(
            &principal,
            &folder,
            &secret_key(&name)?,
            query.include_values.unwrap_or(false),
        )
        .await?;
    Ok(Json(SecretHistory {
        versions: versions.into_iter().map(version_view).collect(),
    }))
}

/// Make a past version's value, comment and tags current again, as a new version.
#[utoipa::path(post, path = "/api/v3/secrets/raw/{secretName}/rollback", operation_id = "rollbackSecret",
    tag = "secrets", params(("secretName" = String, Path)), request_body = RollbackSecretRequest,
    security(("bearer" = [])),
    responses((status = 200, body = SecretResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn rollback(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(name): AppPath<String>,
    AppJson(body): AppJson<RollbackSecretRequest>,
) -> Result<Json<SecretResponse>, ApiError> {
    let folder = folder(
        body.project_id.as_deref(),
        body.workspace_id.as_deref(),
        &body.environment,
        body.secret_path.as_deref(),
    )?;
    let secret = state
        .services
        .secrets
        .rollback(&principal, &folder, &secret_key(&name)?, body.version)
        .await?;
    Ok(Json(SecretResponse {
        secret: secret_view(secret),
    }))
}
