//! `/api/v1/gitlab-instances`: the GitLab instances a tenant connects to and their OAuth
//! applications. The OAuth client secret goes in and never comes back out.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use labgate_proto::ErrorBody;
use labgate_proto::instances::{
    CreateGitLabInstanceRequest, GitLabInstanceList, GitLabInstanceResponse, UpdateGitLabInstanceRequest,
};
use labgate_proto::pagination::PageQuery;

use crate::api::{page_limit, page_offset};
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, Auth};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/gitlab-instances", get(list).post(create))
        .route("/gitlab-instances/{id}", get(show).patch(update).delete(remove))
}

/// Register a GitLab instance, optionally with the OAuth application created there.
#[utoipa::path(post, path = "/api/v1/gitlab-instances", operation_id = "createGitLabInstance",
    tag = "gitlab-instances", request_body = CreateGitLabInstanceRequest, security(("bearer" = [])),
    responses((status = 200, body = GitLabInstanceResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The tenant already has an instance at this URL.")))]
pub async fn create(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppJson(body): AppJson<CreateGitLabInstanceRequest>,
) -> Result<Json<GitLabInstanceResponse>, ApiError> {
    Ok(Json(GitLabInstanceResponse {
        gitlab_instance: state.services.instances.create(&principal, body).await?,
    }))
}

/// List the tenant's GitLab instances, oldest first.
#[utoipa::path(get, path = "/api/v1/gitlab-instances", operation_id = "listGitLabInstances",
    tag = "gitlab-instances", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = GitLabInstanceList), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(page): AppQuery<PageQuery>,
) -> Result<Json<GitLabInstanceList>, ApiError> {
    let limit = page_limit(page.limit)?;
    Ok(Json(
        state
            .services
            .instances
            .list(&principal, page_offset(page.offset)?, limit)
            .await?,
    ))
}

/// Show one GitLab instance (whether it has an OAuth client secret, never the secret).
#[utoipa::path(get, path = "/api/v1/gitlab-instances/{id}", operation_id = "getGitLabInstance",
    tag = "gitlab-instances", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = GitLabInstanceResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<GitLabInstanceResponse>, ApiError> {
    Ok(Json(GitLabInstanceResponse {
        gitlab_instance: state.services.instances.get(&principal, &id).await?,
    }))
}

/// Change an instance's URL, kind, OAuth application, CA bundle or proxy.
#[utoipa::path(patch, path = "/api/v1/gitlab-instances/{id}", operation_id = "updateGitLabInstance",
    tag = "gitlab-instances", params(("id" = String, Path)), request_body = UpdateGitLabInstanceRequest,
    security(("bearer" = [])),
    responses((status = 200, body = GitLabInstanceResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody,
            description = "Another instance of the tenant has this URL, or the instance changed meanwhile.")))]
pub async fn update(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<UpdateGitLabInstanceRequest>,
) -> Result<Json<GitLabInstanceResponse>, ApiError> {
    Ok(Json(GitLabInstanceResponse {
        gitlab_instance: state.services.instances.update(&principal, &id, body).await?,
    }))
}

/// Delete a GitLab instance and its OAuth client secret.
#[utoipa::path(delete, path = "/api/v1/gitlab-instances/{id}", operation_id = "deleteGitLabInstance",
    tag = "gitlab-instances", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = GitLabInstanceResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<GitLabInstanceResponse>, ApiError> {
    Ok(Json(GitLabInstanceResponse {
        gitlab_instance: state.services.instances.delete(&principal, &id).await?,
    }))
}
