//! `/api/v1/access`: access sources (a self-managed instance or one top-level group, read
//! through a connection), their sync runs with progress, and each run's log.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use labgate_proto::ErrorBody;
use labgate_proto::access::{
    AccessSourceList, AccessSourceResponse, AccessSyncList, AccessSyncLog, AccessSyncResponse,
    CreateAccessSourceRequest,
};
use labgate_proto::pagination::PageQuery;

use crate::api::{page_limit, page_offset};
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, Auth};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/access/sources", get(list).post(create))
        .route("/access/sources/{id}", get(show).delete(remove))
        .route("/access/sources/{id}/sync", post(sync))
        .route("/access/sources/{id}/syncs", get(syncs))
        .route("/access/syncs/{id}", get(show_sync))
        .route("/access/syncs/{id}/log", get(sync_log))
}

/// Create an access source: `{kind: "instance"}` (every user, group and project of a
/// self-managed instance; the connection's user must be an administrator) or
/// `{kind: "group", fullPath}` (a top-level group the connection's user can read, with its
/// subgroups and projects). GitLab is asked before anything is stored: a scope it refuses is a
/// 400 naming the field. Nothing is synced until a sync is asked for or the schedule's next sweep.
#[utoipa::path(post, path = "/api/v1/access/sources", operation_id = "createAccessSource", tag = "access",
    request_body = CreateAccessSourceRequest, security(("bearer" = [])),
    responses((status = 200, body = AccessSourceResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppJson(body): AppJson<CreateAccessSourceRequest>,
) -> Result<Json<AccessSourceResponse>, ApiError> {
    Ok(Json(AccessSourceResponse {
        source: state.services.access.create(&principal, body).await?,
    }))
}

/// The tenant's access sources, oldest first.
#[utoipa::path(get, path = "/api/v1/access/sources", operation_id = "listAccessSources", tag = "access",
    params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = AccessSourceList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(page): AppQuery<PageQuery>,
) -> Result<Json<AccessSourceList>, ApiError> {
    let limit = page_limit(page.limit)?;
    Ok(Json(
        state
            .services
            .access
            .list(&principal, page_offset(page.offset)?, limit)
            .await?,
    ))
}

/// One access source, with its status and latest sync.
#[utoipa::path(get, path = "/api/v1/access/sources/{id}", operation_id = "getAccessSource", tag = "access",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = AccessSourceResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<AccessSourceResponse>, ApiError> {
    Ok(Json(AccessSourceResponse {
        source: state.services.access.get(&principal, &id).await?,
    }))
}

/// Delete an access source with its syncs, logs and snapshots.
#[utoipa::path(delete, path = "/api/v1/access/sources/{id}", operation_id = "deleteAccessSource",
    tag = "access", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = AccessSourceResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<AccessSourceResponse>, ApiError> {
    Ok(Json(AccessSourceResponse {
        source: state.services.access.delete(&principal, &id).await?,
    }))
}

/// Queue a full sync of the source; 409 while one is queued or running. The answer is the
/// queued sync; follow it at `/api/v1/access/syncs/{id}`.
#[utoipa::path(post, path = "/api/v1/access/sources/{id}/sync", operation_id = "syncAccessSource",
    tag = "access", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = AccessSyncResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn sync(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<AccessSyncResponse>, ApiError> {
    Ok(Json(AccessSyncResponse {
        sync: state.services.access.trigger_sync(&principal, &id).await?,
    }))
}

/// The source's syncs, newest first.
#[utoipa::path(get, path = "/api/v1/access/sources/{id}/syncs", operation_id = "listAccessSyncs",
    tag = "access", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = AccessSyncList), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn syncs(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<AccessSyncList>, ApiError> {
    Ok(Json(state.services.access.syncs(&principal, &id).await?))
}

/// One sync: status, progress, the requests it made to GitLab and, if it failed, why.
#[utoipa::path(get, path = "/api/v1/access/syncs/{id}", operation_id = "getAccessSync", tag = "access",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = AccessSyncResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn show_sync(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<AccessSyncResponse>, ApiError> {
    Ok(Json(AccessSyncResponse {
        sync: state.services.access.sync(&principal, &id).await?,
    }))
}

/// A sync's log: phases, counts, retries and failures, oldest first.
#[utoipa::path(get, path = "/api/v1/access/syncs/{id}/log", operation_id = "getAccessSyncLog",
    tag = "access", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = AccessSyncLog), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn sync_log(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<AccessSyncLog>, ApiError> {
    Ok(Json(state.services.access.sync_log(&principal, &id).await?))
}
