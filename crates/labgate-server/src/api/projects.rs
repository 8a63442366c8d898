//! `/api/v1/projects`: projects of secrets and their environments.

use axum::extract::State;
use axum::routing::{get, patch};
use axum::{Json, Router};
use labgate_core::ids::SecretProjectId;
use labgate_core::secrets::{EnvironmentChange, NewEnvironment, environment_view, project_view};
use labgate_proto::ErrorBody;
use labgate_proto::pagination::PageQuery;
use labgate_proto::secrets::{
    CreateProjectRequest, EnvironmentResponse, NewEnvironmentRequest, ProjectList, ProjectResponse,
    UpdateEnvironmentRequest,
};

use crate::api::{page_limit, page_offset};
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, Auth};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/projects", get(list).post(create))
        .route("/projects/{id}", get(show).delete(remove))
        .route(
            "/projects/{id}/environments",
            axum::routing::post(create_environment),
        )
        .route(
            "/projects/{id}/environments/{envId}",
            patch(update_environment).delete(delete_environment),
        )
}

/// A project id from the path; what is not an id labgate issues names no project.
pub fn project_id(text: &str) -> Result<SecretProjectId, ApiError> {
    SecretProjectId::parse(text).ok_or_else(|| ApiError::not_found("project"))
}

fn new_environment(request: NewEnvironmentRequest) -> NewEnvironment {
    NewEnvironment {
        name: request.name,
        slug: request.slug,
    }
}

/// Create a project. Without `environments` it gets `dev`, `staging` and `prod`; without `slug`
/// one is made from the name.
#[utoipa::path(post, path = "/api/v1/projects", operation_id = "createProject", tag = "secrets",
    request_body = CreateProjectRequest, security(("bearer" = [])),
    responses((status = 200, body = ProjectResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppJson(body): AppJson<CreateProjectRequest>,
) -> Result<Json<ProjectResponse>, ApiError> {
    let environments = body
        .environments
        .map(|environments| environments.into_iter().map(new_environment).collect());
    let project = state
        .services
        .secrets
        .create_project(&principal, &body.name, body.slug.as_deref(), environments)
        .await?;
    Ok(Json(ProjectResponse {
        project: project_view(&project),
    }))
}

/// The tenant's projects by name.
#[utoipa::path(get, path = "/api/v1/projects", operation_id = "listProjects", tag = "secrets",
    params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = ProjectList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(page): AppQuery<PageQuery>,
) -> Result<Json<ProjectList>, ApiError> {
    let limit = page_limit(page.limit)?;
    let (projects, total_count) = state
        .services
        .secrets
        .projects(&principal, page_offset(page.offset)?, limit)
        .await?;
    Ok(Json(ProjectList {
        projects: projects.iter().map(project_view).collect(),
        total_count,
    }))
}

/// One project with its environments.
#[utoipa::path(get, path = "/api/v1/projects/{id}", operation_id = "getProject", tag = "secrets",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ProjectResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<ProjectResponse>, ApiError> {
    let project = state
        .services
        .secrets
        .project(&principal, &project_id(&id)?)
        .await?;
    Ok(Json(ProjectResponse {
        project: project_view(&project),
    }))
}

/// Delete a project with every environment, secret and version in it.
#[utoipa::path(delete, path = "/api/v1/projects/{id}", operation_id = "deleteProject", tag = "secrets",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ProjectResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<ProjectResponse>, ApiError> {
    let project = state
        .services
        .secrets
        .delete_project(&principal, &project_id(&id)?)
        .await?;
    Ok(Json(ProjectResponse {
        project: project_view(&project),
    }))
}

/// Add an environment to a project, after its others.
#[utoipa::path(post, path = "/api/v1/projects/{id}/environments", operation_id = "createProjectEnvironment",
    tag = "secrets", params(("id" = String, Path)), request_body = NewEnvironmentRequest, security(("bearer" = [])),
    responses((status = 200, body = EnvironmentResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_environment(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<NewEnvironmentRequest>,
) -> Result<Json<EnvironmentResponse>, ApiError> {
    let environment = state
        .services
        .secrets
        .create_environment(&principal, &project_id(&id)?, new_environment(body))
        .await?;
    Ok(Json(EnvironmentResponse {
        environment: environment_view(&environment),
    }))
}

/// Rename, re-slug or move an environment.
#[utoipa::path(patch, path = "/api/v1/projects/{id}/environments/{envId}", operation_id = "updateProjectEnvironment",
    tag = "secrets", params(("id" = String, Path), ("envId" = String, Path)), request_body = UpdateEnvironmentRequest,
    security(("bearer" = [])),
    responses((status = 200, body = EnvironmentResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_environment(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath((id, env_id)): AppPath<(String, String)>,
    AppJson(body): AppJson<UpdateEnvironmentRequest>,
) -> Result<Json<EnvironmentResponse>, ApiError> {
    let change = EnvironmentChange {
        name: body.name,
        slug: body.slug,
        position: body.position,
    };
    let environment = state
        .services
        .secrets
        .update_environment(&principal, &project_id(&id)?, &env_id, change)
        .await?;
    Ok(Json(EnvironmentResponse {
        environment: environment_view(&environment),
    }))
}

/// Delete an environment with every secret in it.
#[utoipa::path(delete, path = "/api/v1/projects/{id}/environments/{envId}", operation_id = "deleteProjectEnvironment",
    tag = "secrets", params(("id" = String, Path), ("envId" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = EnvironmentResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn delete_environment(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath((id, env_id)): AppPath<(String, String)>,
) -> Result<Json<EnvironmentResponse>, ApiError> {
    let environment = state
        .services
        .secrets
        .delete_environment(&principal, &project_id(&id)?, &env_id)
        .await?;
    Ok(Json(EnvironmentResponse {
        environment: environment_view(&environment),
    }))
}
