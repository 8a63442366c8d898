//! `/api/v1/app-connections`: GitLab connections with Infisical's paths and shapes, plus
//! labgate's check, rotate and events routes.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use labgate_proto::connections::{
    App, AppConnectionOptions, AvailableConnectionList, ConnectionEventList, ConnectionList,
    ConnectionListQuery, ConnectionNameQuery, ConnectionResponse, CreateConnectionRequest,
    DeleteConnectionQuery, GitLabGroupView, GitLabListQuery, GitLabProjectView, UpdateConnectionRequest,
};
use labgate_proto::jobs::AcceptedResponse;
use labgate_proto::pagination::PageQuery;
use labgate_proto::{ErrorBody, ErrorKind};

use crate::api::jobs::settled;
use crate::api::{page_limit, page_offset};
use crate::error::{ApiError, infisical_dialect};
use crate::extract::{AppJson, AppPath, AppQuery, Auth};
use crate::state::AppState;

/// A connection id in the path. Infisical's routes take UUIDs only and answer anything else
/// with 422 before looking anything up.
pub struct ConnectionId(String);

impl<S: Send + Sync> FromRequestParts<S> for ConnectionId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .ok()
            .map(|path| path.0)
            // The hyphenated form only, as the document's pattern says (the parser also takes
            // braced, URN and bare-hex forms).
            .filter(|id| id.len() == 36 && uuid::Uuid::try_parse(id).is_ok())
            .map(ConnectionId)
            .ok_or_else(|| {
                ApiError::new(ErrorKind::ValidationFailure, "the connection id must be a UUID")
                    .with_details(serde_json::json!([{"field": "id", "message": "must be a UUID"}]))
            })
    }
}

/// `limit` when given (1–100); absent means every connection.
fn optional_limit(limit: Option<u32>) -> Result<Option<u32>, ApiError> {
    limit.map(|limit| page_limit(Some(limit))).transpose()
}

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
        .route("/app-connections/gitlab/{id}/refresh", post(refresh))
        .route("/app-connections/gitlab/{id}/events", get(events))
        .route("/app-connections/gitlab/{id}/projects", get(projects))
        .route("/app-connections/gitlab/{id}/groups", get(groups))
        .layer(axum::middleware::map_response(infisical_dialect))
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

/// The tenant's GitLab connections, oldest first: all of them unless `limit` is given.
#[utoipa::path(get, path = "/api/v1/app-connections/gitlab", operation_id = "listGitLabConnections",
    tag = "app-connections", params(ConnectionListQuery), security(("bearer" = [])),
    responses((status = 200, body = ConnectionList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(query): AppQuery<ConnectionListQuery>,
) -> Result<Json<ConnectionList>, ApiError> {
    let limit = optional_limit(query.limit)?;
    Ok(Json(
        state
            .services
            .connections
            .list(
                &principal,
                Some(App::GitLab),
                query.project_id.as_deref(),
                page_offset(query.offset)?,
                limit,
            )
            .await?,
    ))
}

/// The tenant's connections of every app: all of them unless `limit` is given.
#[utoipa::path(get, path = "/api/v1/app-connections", operation_id = "listAppConnections",
    tag = "app-connections", params(ConnectionListQuery), security(("bearer" = [])),
    responses((status = 200, body = ConnectionList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_all(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(query): AppQuery<ConnectionListQuery>,
) -> Result<Json<ConnectionList>, ApiError> {
    let limit = optional_limit(query.limit)?;
    Ok(Json(
        state
            .services
            .connections
            .list(
                &principal,
                None,
                query.project_id.as_deref(),
                page_offset(query.offset)?,
                limit,
            )
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
    operation_id = "getGitLabConnectionByName", tag = "app-connections",
    params(("name" = String, Path), ConnectionNameQuery), security(("bearer" = [])),
    responses((status = 200, body = ConnectionResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn by_name(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(name): AppPath<String>,
    AppQuery(query): AppQuery<ConnectionNameQuery>,
) -> Result<Json<ConnectionResponse>, ApiError> {
    Ok(Json(ConnectionResponse {
        app_connection: state
            .services
            .connections
            .by_name(&principal, &name, query.project_id.as_deref())
            .await?,
    }))
}

/// One GitLab connection.
#[utoipa::path(get, path = "/api/v1/app-connections/gitlab/{id}", operation_id = "getGitLabConnection",
    tag = "app-connections", params(("id" = String, Path, format = "uuid", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "A connection id (a UUID; anything else is 422, as on Infisical)")), security(("bearer" = [])),
    responses((status = 200, body = ConnectionResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ConnectionId(id): ConnectionId,
) -> Result<Json<ConnectionResponse>, ApiError> {
    Ok(Json(ConnectionResponse {
        app_connection: state.services.connections.get(&principal, &id).await?,
    }))
}

/// Change the name, description, usages, rotation settings or credentials (validated again;
/// `version` increments). A stale `version` is a 409.
#[utoipa::path(patch, path = "/api/v1/app-connections/gitlab/{id}", operation_id = "updateGitLabConnection",
    tag = "app-connections", params(("id" = String, Path, format = "uuid", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "A connection id (a UUID; anything else is 422, as on Infisical)")), request_body = UpdateConnectionRequest,
    security(("bearer" = [])),
    responses((status = 200, body = ConnectionResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ConnectionId(id): ConnectionId,
    AppJson(body): AppJson<UpdateConnectionRequest>,
) -> Result<Json<ConnectionResponse>, ApiError> {
    Ok(Json(ConnectionResponse {
        app_connection: state.services.connections.update(&principal, &id, body).await?,
    }))
}

/// Delete a connection and its sealed token; `?revokeAtGitLab=true` revokes the token at GitLab
/// first.
#[utoipa::path(delete, path = "/api/v1/app-connections/gitlab/{id}", operation_id = "deleteGitLabConnection",
    tag = "app-connections", params(("id" = String, Path, format = "uuid", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "A connection id (a UUID; anything else is 422, as on Infisical)"), DeleteConnectionQuery), security(("bearer" = [])),
    responses((status = 200, body = ConnectionResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ConnectionId(id): ConnectionId,
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
///
/// When auto-rotation is due, the check rotates the token; a rotation that takes longer than the
/// server's wait (`LABGATE_TOKEN_CHANGE_WAIT_SECS`) goes on in the background and the answer is
/// `202` with the job to follow.
#[utoipa::path(post, path = "/api/v1/app-connections/gitlab/{id}/check", operation_id = "checkGitLabConnection",
    tag = "app-connections", params(("id" = String, Path, format = "uuid", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "A connection id (a UUID; anything else is 422, as on Infisical)")), security(("bearer" = [])),
    responses((status = 200, body = ConnectionResponse),
        (status = 202, body = AcceptedResponse, description = "The check started a rotation that goes on in the background; follow the job.",
            headers(("Location" = String, description = "The job to follow: `/api/v1/jobs/{jobId}`"))),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn check(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ConnectionId(id): ConnectionId,
) -> Result<Response, ApiError> {
    let wait = state.settings.token_change_wait();
    let checked = state
        .services
        .connections
        .check_within(&principal, &id, Some(wait))
        .await?;
    Ok(settled(
        checked.map(|view| ConnectionResponse { app_connection: view }),
    ))
}

/// Rotate the token at GitLab now (journalled; a lost answer sets `needs_attention`).
///
/// The rotation runs as a job that the request cannot cancel: when it takes longer than the
/// server's wait (`LABGATE_TOKEN_CHANGE_WAIT_SECS`), the answer is `202` with the job to follow,
/// which records how the rotation ends.
#[utoipa::path(post, path = "/api/v1/app-connections/gitlab/{id}/rotate", operation_id = "rotateGitLabConnection",
    tag = "app-connections", params(("id" = String, Path, format = "uuid", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "A connection id (a UUID; anything else is 422, as on Infisical)")), security(("bearer" = [])),
    responses((status = 200, body = ConnectionResponse),
        (status = 202, body = AcceptedResponse, description = "The rotation goes on in the background; follow the job.",
            headers(("Location" = String, description = "The job to follow: `/api/v1/jobs/{jobId}`"))),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn rotate(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ConnectionId(id): ConnectionId,
) -> Result<Response, ApiError> {
    let wait = state.settings.token_change_wait();
    let rotated = state
        .services
        .connections
        .rotate_within(&principal, &id, Some(wait))
        .await?;
    Ok(settled(
        rotated.map(|view| ConnectionResponse { app_connection: view }),
    ))
}

/// Refresh an OAuth connection's token at GitLab now (journalled, like the proactive refresh).
/// Access-token connections rotate instead, and a connection whose grant GitLab no longer
/// honours must be reconnected: both are 409.
///
/// The refresh runs as a job that the request cannot cancel: when it takes longer than the
/// server's wait (`LABGATE_TOKEN_CHANGE_WAIT_SECS`), the answer is `202` with the job to follow.
#[utoipa::path(post, path = "/api/v1/app-connections/gitlab/{id}/refresh", operation_id = "refreshGitLabConnection",
    tag = "app-connections", params(("id" = String, Path, format = "uuid", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "A connection id (a UUID; anything else is 422, as on Infisical)")), security(("bearer" = [])),
    responses((status = 200, body = ConnectionResponse),
        (status = 202, body = AcceptedResponse, description = "The refresh goes on in the background; follow the job.",
            headers(("Location" = String, description = "The job to follow: `/api/v1/jobs/{jobId}`"))),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The connection holds an access token (rotate it instead), or GitLab no longer honours its grant (`needs_reauth`: reconnect it through OAuth)."),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ConnectionId(id): ConnectionId,
) -> Result<Response, ApiError> {
    let wait = state.settings.token_change_wait();
    let refreshed = state
        .services
        .connections
        .refresh_within(&principal, &id, Some(wait))
        .await?;
    Ok(settled(
        refreshed.map(|view| ConnectionResponse { app_connection: view }),
    ))
}

/// The connection's timeline: creation, status transitions, recoveries, rotations.
#[utoipa::path(get, path = "/api/v1/app-connections/gitlab/{id}/events", operation_id = "listGitLabConnectionEvents",
    tag = "app-connections", params(("id" = String, Path, format = "uuid", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "A connection id (a UUID; anything else is 422, as on Infisical)"), PageQuery), security(("bearer" = [])),
    responses((status = 200, body = ConnectionEventList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ConnectionId(id): ConnectionId,
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

/// GitLab projects the connection's token is a member of, `?search=` narrowing them as GitLab
/// does. GitLab errors are reported, never turned into an empty list.
#[utoipa::path(get, path = "/api/v1/app-connections/gitlab/{id}/projects", operation_id = "listGitLabConnectionProjects",
    tag = "app-connections", params(("id" = String, Path, format = "uuid", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "A connection id (a UUID; anything else is 422, as on Infisical)"), GitLabListQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<GitLabProjectView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn projects(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ConnectionId(id): ConnectionId,
    AppQuery(query): AppQuery<GitLabListQuery>,
) -> Result<Json<Vec<GitLabProjectView>>, ApiError> {
    Ok(Json(
        state
            .services
            .connections
            .projects(&principal, &id, query.search.as_deref())
            .await?,
    ))
}

/// GitLab groups the connection's token owns (empty for project tokens), `?search=` narrowing
/// them as GitLab does.
#[utoipa::path(get, path = "/api/v1/app-connections/gitlab/{id}/groups", operation_id = "listGitLabConnectionGroups",
    tag = "app-connections", params(("id" = String, Path, format = "uuid", pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "A connection id (a UUID; anything else is 422, as on Infisical)"), GitLabListQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<GitLabGroupView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn groups(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ConnectionId(id): ConnectionId,
    AppQuery(query): AppQuery<GitLabListQuery>,
) -> Result<Json<Vec<GitLabGroupView>>, ApiError> {
    Ok(Json(
        state
            .services
            .connections
            .groups(&principal, &id, query.search.as_deref())
            .await?,
    ))
}
