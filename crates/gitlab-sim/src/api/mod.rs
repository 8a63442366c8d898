//! REST API v4 handlers, one module per resource.

pub mod groups;
pub mod hooks;
pub mod members;
pub mod namespaces;
pub mod projects;
pub mod render;
pub mod system_hooks;
pub mod tokens;
pub mod users;
pub mod variables;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::model::*;
use crate::state::SimState;

pub fn router() -> Router<SimState> {
    Router::new()
        .merge(users::router())
        .merge(tokens::router())
        .merge(groups::router())
        .merge(projects::router())
        .merge(members::router())
        .merge(variables::router())
        .merge(hooks::router())
        .merge(system_hooks::router())
        .merge(namespaces::router())
        .fallback(|| async { ApiError::no_route() })
}

pub fn json(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Whether a (possibly anonymous) caller may see a project; GitLab answers 404 otherwise.
pub fn can_see_project(db: &crate::db::Db, p: Option<&Principal>, pid: ProjectId, today: time::Date) -> bool {
    let Some(project) = db.projects.get(&pid) else {
        return false;
    };
    match (project.visibility, p) {
        (Visibility::Public, _) => true,
        (_, Some(p)) if p.admin => true,
        (Visibility::Internal, Some(p)) => {
            !db.user(p.user_id).is_some_and(|u| u.external) || db.project_level(p.user_id, pid, today) >= 10
        }
        (Visibility::Private, Some(p)) => db.project_level(p.user_id, pid, today) >= 10,
        (_, None) => false,
    }
}

pub fn can_see_group(db: &crate::db::Db, p: Option<&Principal>, gid: GroupId, today: time::Date) -> bool {
    let Some(group) = db.groups.get(&gid) else {
        return false;
    };
    match (group.visibility, p) {
        (Visibility::Public, _) => true,
        (_, Some(p)) if p.admin => true,
        (Visibility::Internal, Some(_)) => true,
        (Visibility::Private, Some(p)) => {
            db.group_level(p.user_id, gid, today) >= 5
                || db
                    .group_descendants(gid)
                    .iter()
                    .any(|d| db.group_level(p.user_id, *d, today) >= 5)
        }
        (_, None) => false,
    }
}

/// A project by id or URL-encoded path that the caller can see, else `404 Project Not Found`.
pub fn find_project(state: &SimState, p: Option<&Principal>, id: &str) -> ApiResult<ProjectId> {
    let today = state.clock().today();
    state.read(|db| {
        let pid = db.project_id(id).ok_or_else(|| ApiError::not_found("Project"))?;
        if can_see_project(db, p, pid, today) {
            Ok(pid)
        } else {
            Err(ApiError::not_found("Project"))
        }
    })
}

pub fn find_group(state: &SimState, p: Option<&Principal>, id: &str) -> ApiResult<GroupId> {
    let today = state.clock().today();
    state.read(|db| {
        let gid = db.group_id(id).ok_or_else(|| ApiError::not_found("Group"))?;
        if can_see_group(db, p, gid, today) {
            Ok(gid)
        } else {
            Err(ApiError::not_found("Group"))
        }
    })
}

/// Token scopes GitLab accepts on personal, project and group access tokens.
pub const TOKEN_SCOPES: &[&str] = &[
    "api",
    "read_api",
    "read_user",
    "read_repository",
    "write_repository",
    "read_registry",
    "write_registry",
    "read_virtual_registry",
    "write_virtual_registry",
    "create_runner",
    "manage_runner",
    "ai_features",
    "k8s_proxy",
    "self_rotate",
    "read_service_ping",
    "sudo",
    "admin_mode",
];

pub fn validate_scopes(scopes: &[String]) -> ApiResult<()> {
    if scopes.is_empty() || scopes.iter().any(|s| !TOKEN_SCOPES.contains(&s.as_str())) {
        return Err(ApiError::param("scopes does not have a valid value"));
    }
    Ok(())
}
