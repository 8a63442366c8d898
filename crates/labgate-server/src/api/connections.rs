//! `/api/v1/app-connections`: GitLab connections with Infisical's paths and shapes, plus
//! labgate's check, rotate and events routes.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use labgate_proto::ErrorBody;
use labgate_proto::connections::{
    App, AppConnectionOptions, AvailableConnectionList, ConnectionEventList, ConnectionList,
    ConnectionResponse, CreateConnectionRequest, DeleteConnectionQuery, GitLabGroupView, GitLabProjectView,
    UpdateConnectionRequest,
};
use labgate_proto::pagination::PageQuery;

use crate::api::{page_limit, page_offset};
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, Auth};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app-connections", get(list_all))
        .route("/app-connections/options", get(options))
        .route("/app-connections/gitlab", get(list).post(create))
        .route("/app-connections/gitlab/available", get(available))
        .route("/app-connections/gitlab/connection-name/{name}", get(by_name))
        .route(
            "/app-connections/gitlab/{id}",
            get(show).patch(update).delete(remove),
        )
        .route("/app-connections/gitlab/{id}/check", post(check))
        .route("/app-connections/gitlab/{id}/rotate", post(rotate))
        .route("/app-connections/gitlab/{id}/events", get(events))
        .route("/app-connections/gitlab/{id}/projects", get(projects))
        .route("/app-connections/gitlab/{id}/groups", get(groups))
}

/// Connect GitLab with a personal, project or group access token. The token is validated at
/// GitLab (kind, scopes, role, expiry) and never shown again.
#[utoipa::path(post, path = "/api/v1/app-connections/gitlab", operation_id = "createGitLabConnection",
    tag = "app-connections", request_body = CreateConnectionRequest, security(("bearer" = [])),
    responses((status = 200, body = ConnectionResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppJson(body): AppJson<CreateConnectionRequest>,
) -> Result<Json<ConnectionResponse>, ApiError> {
    Ok(Json(ConnectionResponse {
        app_connection: state.services.connections.create(&principal, body).await?,
    }))
}

/// The tenant's GitLab connections, oldest first.
#[utoipa::path(get, path = "/api/v1/app-connections/gitlab", operation_id = "listGitLabConnections",
    tag = "app-connections", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = ConnectionList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(page): AppQuery<PageQuery>,
) -> Result<Json<ConnectionList>, ApiError> {
    let limit = page_limit(page.limit)?;
    Ok(Json(
        state
            .services
            .connections
            .list(&principal, Some(App::GitLab), page_offset(page.offset)?, limit)
            .await?,
    ))
}

/// The tenant's connections of every app.
#[utoipa::path(get, path = "/api/v1/app-connections", operation_id = "listAppConnections",
    tag = "app-connections", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = ConnectionList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_all(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(page): AppQuery<PageQuery>,
) -> Result<Json<ConnectionList>, ApiError> {
    let limit = page_limit(page.limit)?;
    Ok(Json(
        state
            .services
            .connections
            .list(&principal, None, page_offset(page.offset)?, limit)
            .await?,
    ))
}

/// Which apps and connection methods exist.
#[utoipa::path(get, path = "/api/v1/app-connections/options", operation_id = "listAppConnectionOptions",
    tag = "app-connections", security(("bearer" = [])),
    responses((status = 200, body = AppConnectionOptions), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn options(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<AppConnectionOptions>, ApiError> {
    Ok(Json(state.services.connections.options(&principal)?))
}

/// The GitLab connections a caller may pick from.
#[utoipa::path(get, path = "/api/v1/app-connections/gitlab/available", operation_id = "listAvailableGitLabConnections",
    tag = "app-connections", security(("bearer" = [])),
    responses((status = 200, body = AvailableConnectionList), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn available(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<AvailableConnectionList>, ApiError> {
    Ok(Json(state.services.connections.available(&principal).await?))
}

/// One GitLab connection by name.
#[utoipa::path(get, path = "/api/v1/app-connections/gitlab/connection-name/{name}",
    operation_id = "getGitLabConnectionByName", tag = "app-connections", params(("name" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = ConnectionResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn by_name(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(name): AppPath<String>,
) -> Result<Json<ConnectionResponse>, ApiError> {
    Ok(Json(ConnectionResponse {
        app_connection: state.services.connections.by_name(&principal, &name).await?,
    }))
}

/// One GitLab connection.
#[utoipa::path(get, path = "/api/v1/app-connections/gitlab/{id}", operation_id = "getGitLabConnection",
    tag = "app-connections", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ConnectionResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<ConnectionResponse>, ApiError> {
    Ok(Json(ConnectionResponse {
        app_connection: state.services.connections.get(&principal, &id).await?,
    }))
}

/// Change the name, description, usages, rotation settings or credentials (validated again;
/// `version` increments). A stale `version` is a 409.
#[utoipa::path(patch, path = "/api/v1/app-connections/gitlab/{id}", operation_id = "updateGitLabConnection",
    tag = "app-connections", params(("id" = String, Path)), request_body = UpdateConnectionRequest,
    security(("bearer" = [])),
    responses((status = 200, body = ConnectionResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<UpdateConnectionRequest>,
) -> Result<Json<ConnectionResponse>, ApiError> {
    Ok(Json(ConnectionResponse {
        app_connection: state.services.connections.update(&principal, &id, body).await?,
    }))
}

/// Delete a connection and its sealed token; `?revokeAtGitLab=true` revokes the token at GitLab
/// first.
#[utoipa::path(delete, path = "/api/v1/app-connections/gitlab/{id}", operation_id = "deleteGitLabConnection",
    tag = "app-connections", params(("id" = String, Path), DeleteConnectionQuery), security(("bearer" = [])),
    responses((status = 200, body = ConnectionResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
    AppQuery(query): AppQuery<DeleteConnectionQuery>,
) -> Result<Json<ConnectionResponse>, ApiError> {
    Ok(Json(ConnectionResponse {
        app_connection: state
            .services
            .connections
            .delete(&principal, &id, query.revoke_at_git_lab.unwrap_or(false))
            .await?,
    }))
}

/// Check the connection at GitLab now and answer with its updated status.
#[utoipa::path(post, path = "/api/v1/app-connections/gitlab/{id}/check", operation_id = "checkGitLabConnection",
    tag = "app-connections", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ConnectionResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn check(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<ConnectionResponse>, ApiError> {
    Ok(Json(ConnectionResponse {
        app_connection: state.services.connections.check(&principal, &id).await?,
    }))
}

/// Rotate the token at GitLab now (journalled; a lost answer sets `needs_attention`).
#[utoipa::path(post, path = "/api/v1/app-connections/gitlab/{id}/rotate", operation_id = "rotateGitLabConnection",
    tag = "app-connections", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ConnectionResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn rotate(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<ConnectionResponse>, ApiError> {
    Ok(Json(ConnectionResponse {
        app_connection: state.services.connections.rotate(&principal, &id).await?,
    }))
}

/// The connection's timeline: creation, status transitions, recoveries, rotations.
#[utoipa::path(get, path = "/api/v1/app-connections/gitlab/{id}/events", operation_id = "listGitLabConnectionEvents",
    tag = "app-connections", params(("id" = String, Path), PageQuery), security(("bearer" = [])),
    responses((status = 200, body = ConnectionEventList), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
    AppQuery(page): AppQuery<PageQuery>,
) -> Result<Json<ConnectionEventList>, ApiError> {
    let limit = page_limit(page.limit)?;
    Ok(Json(
        state
            .services
            .connections
            .events(&principal, &id, page_offset(page.offset)?, limit)
            .await?,
    ))
}

/// GitLab projects the connection's token is a member of. GitLab errors are reported, never
/// turned into an empty list.
#[utoipa::path(get, path = "/api/v1/app-connections/gitlab/{id}/projects", operation_id = "listGitLabConnectionProjects",
    tag = "app-connections", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<GitLabProjectView>), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn projects(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<Vec<GitLabProjectView>>, ApiError> {
    Ok(Json(state.services.connections.projects(&principal, &id).await?))
}

/// GitLab groups the connection's token owns (empty for project tokens).
#[utoipa::path(get, path = "/api/v1/app-connections/gitlab/{id}/groups", operation_id = "listGitLabConnectionGroups",
    tag = "app-connections", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<GitLabGroupView>), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn groups(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<Vec<GitLabGroupView>>, ApiError> {
    Ok(Json(state.services.connections.groups(&principal, &id).await?))
}
