//! `/api/v1/secret-syncs/gitlab`: secret syncs to GitLab CI/CD variables with Infisical's paths
//! and shapes, plus labgate's plan (a dry run) and per-key results.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use labgate_proto::secret_syncs::{
    CreateSecretSyncRequest, DeleteSecretSyncQuery, ImportSecretsQuery, SecretSyncList, SecretSyncListQuery,
    SecretSyncNameQuery, SecretSyncPlan, SecretSyncResponse, SecretSyncResults, UpdateSecretSyncRequest,
};
use labgate_proto::{ErrorBody, ErrorKind};

use crate::error::{ApiError, infisical_dialect};
use crate::extract::{AppJson, AppPath, AppQuery, Auth};
use crate::state::AppState;

/// A sync id in the path: a UUID, anything else is 422 before anything is looked up.
pub struct SyncId(String);

impl<S: Send + Sync> FromRequestParts<S> for SyncId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .ok()
            .map(|path| path.0)
            .filter(|id| id.len() == 36 && uuid::Uuid::try_parse(id).is_ok())
            .map(SyncId)
            .ok_or_else(|| {
                ApiError::new(ErrorKind::ValidationFailure, "the secret sync id must be a UUID")
                    .with_details(serde_json::json!([{"field": "syncId", "message": "must be a UUID"}]))
            })
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/secret-syncs/gitlab", get(list).post(create))
        .route("/secret-syncs/gitlab/sync-name/{syncName}", get(by_name))
        .route(
            "/secret-syncs/gitlab/{syncId}",
            get(show).patch(update).delete(remove),
        )
        .route("/secret-syncs/gitlab/{syncId}/sync-secrets", post(sync_secrets))
        .route(
            "/secret-syncs/gitlab/{syncId}/import-secrets",
            post(import_secrets),
        )
        .route(
            "/secret-syncs/gitlab/{syncId}/remove-secrets",
            post(remove_secrets),
        )
        .route("/secret-syncs/gitlab/{syncId}/plan", get(plan))
        .route("/secret-syncs/gitlab/{syncId}/results", get(results))
        .layer(axum::middleware::map_response(infisical_dialect))
}

/// Create a sync of a folder of secrets to a GitLab project's or group's CI/CD variables. The
/// connection must reach the destination with at least the Maintainer role. With auto-sync on
/// (the default), a first sync is queued.
#[utoipa::path(post, path = "/api/v1/secret-syncs/gitlab", operation_id = "createGitLabSecretSync",
    tag = "secret-syncs", request_body = CreateSecretSyncRequest, security(("bearer" = [])),
    responses((status = 200, body = SecretSyncResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppJson(body): AppJson<CreateSecretSyncRequest>,
) -> Result<Json<SecretSyncResponse>, ApiError> {
    Ok(Json(SecretSyncResponse {
        secret_sync: state.services.secret_syncs.create(&principal, body).await?,
    }))
}

/// The syncs of one secrets project, oldest first.
#[utoipa::path(get, path = "/api/v1/secret-syncs/gitlab", operation_id = "listGitLabSecretSyncs",
    tag = "secret-syncs", params(SecretSyncListQuery), security(("bearer" = [])),
    responses((status = 200, body = SecretSyncList), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(query): AppQuery<SecretSyncListQuery>,
) -> Result<Json<SecretSyncList>, ApiError> {
    Ok(Json(
        state
            .services
            .secret_syncs
            .list(&principal, &query.project_id)
            .await?,
    ))
}

/// One sync by name within a secrets project.
#[utoipa::path(get, path = "/api/v1/secret-syncs/gitlab/sync-name/{syncName}",
    operation_id = "getGitLabSecretSyncByName", tag = "secret-syncs",
    params(("syncName" = String, Path), SecretSyncNameQuery), security(("bearer" = [])),
    responses((status = 200, body = SecretSyncResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn by_name(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(name): AppPath<String>,
    AppQuery(query): AppQuery<SecretSyncNameQuery>,
) -> Result<Json<SecretSyncResponse>, ApiError> {
    Ok(Json(SecretSyncResponse {
        secret_sync: state
            .services
            .secret_syncs
            .by_name(&principal, &query.project_id, &name)
            .await?,
    }))
}

/// One sync.
#[utoipa::path(get, path = "/api/v1/secret-syncs/gitlab/{syncId}", operation_id = "getGitLabSecretSync",
    tag = "secret-syncs", params(("syncId" = String, Path, format = "uuid")), security(("bearer" = [])),
    responses((status = 200, body = SecretSyncResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Auth(principal): Auth,
    SyncId(id): SyncId,
) -> Result<Json<SecretSyncResponse>, ApiError> {
    Ok(Json(SecretSyncResponse {
        secret_sync: state.services.secret_syncs.get(&principal, &id).await?,
    }))
}

/// Change a sync; a changed destination or connection is checked at GitLab again.
#[utoipa::path(patch, path = "/api/v1/secret-syncs/gitlab/{syncId}", operation_id = "updateGitLabSecretSync",
    tag = "secret-syncs", params(("syncId" = String, Path, format = "uuid")), request_body = UpdateSecretSyncRequest,
    security(("bearer" = [])),
    responses((status = 200, body = SecretSyncResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(principal): Auth,
    SyncId(id): SyncId,
    AppJson(body): AppJson<UpdateSecretSyncRequest>,
) -> Result<Json<SecretSyncResponse>, ApiError> {
    Ok(Json(SecretSyncResponse {
        secret_sync: state.services.secret_syncs.update(&principal, &id, body).await?,
    }))
}

/// Delete a sync; `?removeSecrets=true` first deletes at GitLab the variables it wrote (and
/// only those).
#[utoipa::path(delete, path = "/api/v1/secret-syncs/gitlab/{syncId}", operation_id = "deleteGitLabSecretSync",
    tag = "secret-syncs", params(("syncId" = String, Path, format = "uuid"), DeleteSecretSyncQuery),
    security(("bearer" = [])),
    responses((status = 200, body = SecretSyncResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    Auth(principal): Auth,
    SyncId(id): SyncId,
    AppQuery(query): AppQuery<DeleteSecretSyncQuery>,
) -> Result<Json<SecretSyncResponse>, ApiError> {
    Ok(Json(SecretSyncResponse {
        secret_sync: state
            .services
            .secret_syncs
            .delete(&principal, &id, query.remove_secrets.unwrap_or(false))
            .await?,
    }))
}

/// Queue a sync now; the answer shows `syncStatus: pending` and the job in `lastSyncJobId`.
#[utoipa::path(post, path = "/api/v1/secret-syncs/gitlab/{syncId}/sync-secrets",
    operation_id = "syncGitLabSecretSync", tag = "secret-syncs", params(("syncId" = String, Path, format = "uuid")),
    security(("bearer" = [])),
    responses((status = 200, body = SecretSyncResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn sync_secrets(
    State(state): State<AppState>,
    Auth(principal): Auth,
    SyncId(id): SyncId,
) -> Result<Json<SecretSyncResponse>, ApiError> {
    Ok(Json(SecretSyncResponse {
        secret_sync: state.services.secret_syncs.trigger_sync(&principal, &id).await?,
    }))
}

/// Queue an import of the destination's variables into the folder. Hidden variables cannot be
/// read back from GitLab; the import names them.
#[utoipa::path(post, path = "/api/v1/secret-syncs/gitlab/{syncId}/import-secrets",
    operation_id = "importGitLabSecretSync", tag = "secret-syncs",
    params(("syncId" = String, Path, format = "uuid"), ImportSecretsQuery), security(("bearer" = [])),
    responses((status = 200, body = SecretSyncResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import_secrets(
    State(state): State<AppState>,
    Auth(principal): Auth,
    SyncId(id): SyncId,
    AppQuery(query): AppQuery<ImportSecretsQuery>,
) -> Result<Json<SecretSyncResponse>, ApiError> {
    Ok(Json(SecretSyncResponse {
        secret_sync: state
            .services
            .secret_syncs
            .trigger_import(&principal, &id, query.import_behavior)
            .await?,
    }))
}

/// Queue the removal of the variables the sync wrote (never any other).
#[utoipa::path(post, path = "/api/v1/secret-syncs/gitlab/{syncId}/remove-secrets",
    operation_id = "removeGitLabSecretSyncSecrets", tag = "secret-syncs",
    params(("syncId" = String, Path, format = "uuid")), security(("bearer" = [])),
    responses((status = 200, body = SecretSyncResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn remove_secrets(
    State(state): State<AppState>,
    Auth(principal): Auth,
    SyncId(id): SyncId,
) -> Result<Json<SecretSyncResponse>, ApiError> {
    Ok(Json(SecretSyncResponse {
        secret_sync: state
            .services
            .secret_syncs
            .trigger_remove(&principal, &id)
            .await?,
    }))
}

/// What a sync would do now, key by key: a dry run that reads GitLab and writes nothing.
#[utoipa::path(get, path = "/api/v1/secret-syncs/gitlab/{syncId}/plan", operation_id = "planGitLabSecretSync",
    tag = "secret-syncs", params(("syncId" = String, Path, format = "uuid")), security(("bearer" = [])),
    responses((status = 200, body = SecretSyncPlan), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn plan(
    State(state): State<AppState>,
    Auth(principal): Auth,
    SyncId(id): SyncId,
) -> Result<Json<SecretSyncPlan>, ApiError> {
    Ok(Json(state.services.secret_syncs.plan(&principal, &id).await?))
}

/// How each key of the sync's last run ended.
#[utoipa::path(get, path = "/api/v1/secret-syncs/gitlab/{syncId}/results", operation_id = "getGitLabSecretSyncResults",
    tag = "secret-syncs", params(("syncId" = String, Path, format = "uuid")), security(("bearer" = [])),
    responses((status = 200, body = SecretSyncResults), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn results(
    State(state): State<AppState>,
    Auth(principal): Auth,
    SyncId(id): SyncId,
) -> Result<Json<SecretSyncResults>, ApiError> {
    Ok(Json(state.services.secret_syncs.results(&principal, &id).await?))
}
