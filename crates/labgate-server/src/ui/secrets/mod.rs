//! Secrets: the tenant's projects, and one project's folders of secrets by environment — values
//! masked until someone reveals one (a read, audited), versions with who changed them, roll
//! back, and `.env` imports. Shapes and words follow Infisical's secret manager.

mod folder;
mod history;
mod projects;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use labgate_core::CoreError;
use labgate_core::auth::{Access, role_allows};
use labgate_core::ids::SecretProjectId;
use labgate_core::secrets::{EnvironmentSlug, Folder, SecretPath, SecretProject};
use maud::{Markup, html};
use serde::Deserialize;

use super::UiSession;
use super::components::empty_state;
use super::layout::{Nav, page_with_status};
use crate::state::AppState;

pub const LIST_PATH: &str = "/secrets";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(LIST_PATH, get(projects::list).post(projects::create))
        .route("/secrets/{project}", get(folder::show))
        .route("/secrets/{project}/delete", post(projects::delete))
        .route("/secrets/{project}/add", post(folder::add))
        .route("/secrets/{project}/edit", post(folder::edit))
        .route("/secrets/{project}/remove", post(folder::remove))
        .route("/secrets/{project}/import", post(folder::import))
        .route("/secrets/{project}/value", get(folder::value))
        .route("/secrets/{project}/history", get(history::show))
        .route("/secrets/{project}/rollback", post(history::rollback))
}

/// Whether the person may change secrets (and so sees the buttons that do).
pub fn can_write(session: &UiSession) -> bool {
    role_allows(session.principal().role, Access::Write)
}

pub fn project_path(id: &str) -> String {
    format!("{LIST_PATH}/{id}")
}

/// A project's folder in an environment.
pub fn folder_url(project: &str, environment: &str, path: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("env", environment)
        .append_pair("path", path)
        .finish();
    format!("{}?{query}", project_path(project))
}

/// Where a secret is: the environment and folder every form and link of the project page names.
#[derive(Deserialize, Default, Clone)]
pub struct Place {
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    path: Option<String>,
}

/// The folder a request names, in `project`: its first environment and the root when it names
/// none; an environment or path that is not one is an error said on the page.
fn resolve(project: &SecretProject, place: &Place) -> Result<Folder, CoreError> {
    let environment = match place.env.as_deref().filter(|env| !env.is_empty()) {
        Some(env) => {
            let slug = EnvironmentSlug::parse(env)?;
            project
                .environment(&slug)
                .ok_or(CoreError::NotFound("environment"))?
                .slug
                .clone()
        }
        None => project
            .environments
            .first()
            .ok_or(CoreError::NotFound("environment"))?
            .slug
            .clone(),
    };
    let path = match place
        .path
        .as_deref()
        .map(str::trim)
        .filter(|path| !path.is_empty())
    {
        Some(path) => SecretPath::parse(path)?,
        None => SecretPath::root(),
    };
    Ok(Folder {
        project: project.id.clone(),
        environment,
        path,
    })
}

/// The tenant's project with the id of the URL; any other text is not found.
async fn load_project(state: &AppState, session: &UiSession, id: &str) -> Result<SecretProject, CoreError> {
    let id = SecretProjectId::parse(id).ok_or(CoreError::NotFound("project"))?;
    state.services.secrets.project(session.principal(), &id).await
}

/// A page in the frame for what core refused or could not do outside a form.
fn refused(session: &UiSession, error: &CoreError) -> Response {
    let (status, title, text) = match error {
        CoreError::NotFound(what) => (
            StatusCode::NOT_FOUND,
            "Not found",
            match *what {
                "environment" => "This project has no such environment.",
                "secret" => "There is no such secret in this folder. It may have been deleted or renamed.",
                _ => "There is no such project in this tenant. It may have been deleted.",
            },
        ),
        CoreError::Forbidden(_) => (
            StatusCode::FORBIDDEN,
            "Your role cannot do this",
            "Ask an administrator of this tenant for the admin or member role.",
        ),
        CoreError::Validation { .. } => (
            StatusCode::BAD_REQUEST,
            "This address names no folder",
            "Environments are slugs like dev; folders are / or /segment/… of letters, digits, _, . and -.",
        ),
        CoreError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "labgate cannot answer right now",
            "The database did not answer. Try again in a moment.",
        ),
        _ => {
            tracing::error!(error = %error, "a secrets page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "labgate could not load this page. Try again; if it keeps failing, ask your administrator.",
            )
        }
    };
    page_with_status(
        status,
        session,
        Nav::Secrets,
        title,
        html! { (empty_state(title, text, html! { a.button.secondary href=(LIST_PATH) { "Back to Secrets" } })) },
    )
}

/// A sentence from core's message: capitalised, ending with a full stop.
fn sentence(message: &str) -> String {
    crate::api::oauth::sentence(message)
}

/// The tabs of a project's page: its secrets and the syncs that copy them to GitLab.
pub fn project_tabs(project: &SecretProject, syncs_active: bool) -> Markup {
    let secrets = project_path(project.id.as_str());
    let syncs = format!("{secrets}/syncs");
    html! {
        nav.tabs aria-label="Project" {
            a href=(secrets) aria-current=[(!syncs_active).then_some("page")] { "Secrets" }
            a href=(syncs) aria-current=[syncs_active.then_some("page")] { "Secret syncs" }
        }
    }
}

/// The trail above a project's pages.
pub fn breadcrumbs(project: &SecretProject, last: Option<&str>) -> Markup {
    html! {
        nav.breadcrumbs aria-label="Breadcrumb" {
            a href=(LIST_PATH) { "Secrets" }
            span aria-hidden="true" { " / " }
            @match last {
                Some(last) => {
                    a.wrap href=(project_path(project.id.as_str())) { (project.name) }
                    span aria-hidden="true" { " / " }
                    span aria-current="page" { (last) }
                }
                None => span.wrap aria-current="page" { (project.name) },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_urls_carry_environment_and_path() {
        assert_eq!(
            folder_url("p1", "prod", "/app/db"),
            "/secrets/p1?env=prod&path=%2Fapp%2Fdb"
        );
    }
}
