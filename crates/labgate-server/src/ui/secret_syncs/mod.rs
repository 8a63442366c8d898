//! Secret syncs: folders of secrets copied into GitLab CI/CD variables. The list (every project,
//! or one project's tab), creating one, and one sync's page with its plan, last results and
//! actions. Modelled on Infisical's secret-sync pages.

mod detail;
mod form;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use labgate_core::CoreError;
use labgate_core::secrets::SecretProject;
use labgate_proto::secret_syncs::{PlanAction, SecretSyncView, SyncScope, SyncStatus};
use maud::{Markup, html};
use time::OffsetDateTime;

use super::UiSession;
use super::components::{
    ButtonKind, Tone, badge, empty_state, link_button, page_header, relative_time_text, table,
};
use super::layout::{Nav, page, page_with_status};
use super::secrets::{breadcrumbs, can_write, project_tabs};
use crate::state::AppState;

pub const LIST_PATH: &str = "/secret-syncs";
/// Projects whose syncs the list gathers.
const PROJECTS_LISTED: u32 = 200;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(LIST_PATH, get(list))
        .route("/secret-syncs/new", get(form::new_form).post(form::create))
        .route("/secret-syncs/{id}", get(detail::show))
        .route("/secret-syncs/{id}/sync", post(detail::sync_now))
        .route("/secret-syncs/{id}/import", post(detail::import))
        .route("/secret-syncs/{id}/remove", post(detail::remove))
        .route("/secret-syncs/{id}/delete", post(detail::delete))
        .route("/secrets/{project}/syncs", get(project_tab))
}

pub fn detail_path(id: &str) -> String {
    format!("{LIST_PATH}/{id}")
}

fn new_path(project: Option<&str>) -> String {
    match project {
        Some(project) => format!("{LIST_PATH}/new?project={project}"),
        None => format!("{LIST_PATH}/new"),
    }
}

/// The state of a sync's last action as a badge; a sync never run is said so.
pub fn status_badge(status: Option<SyncStatus>) -> Markup {
    let (tone, text) = match status {
        None => (Tone::Neutral, "Never synced"),
        Some(SyncStatus::Pending) => (Tone::Neutral, "Pending"),
        Some(SyncStatus::Running) => (Tone::Info, "Running"),
        Some(SyncStatus::Succeeded) => (Tone::Success, "Succeeded"),
        Some(SyncStatus::Partial) => (Tone::Warning, "Partial"),
        Some(SyncStatus::Failed) => (Tone::Danger, "Failed"),
    };
    html! { span data-sync-status=(status.map_or("none", SyncStatus::as_str)) { (badge(tone, text)) } }
}

pub fn action_badge(action: PlanAction) -> Markup {
    let (tone, text) = match action {
        PlanAction::Create => (Tone::Success, "Create"),
        PlanAction::Update => (Tone::Info, "Update"),
        PlanAction::Delete => (Tone::Danger, "Delete"),
        PlanAction::Unchanged => (Tone::Neutral, "Unchanged"),
        PlanAction::Skipped => (Tone::Warning, "Skipped"),
    };
    html! { span data-action=(action.as_str()) { (badge(tone, text)) } }
}

/// Where the variables go, as people name it: `Project acme/api (#12)`.
pub fn destination_words(sync: &SecretSyncView) -> (String, String) {
    let config = &sync.destination_config;
    let (kind, name, id) = match config.scope {
        SyncScope::Project => ("Project", &config.project_name, &config.project_id),
        SyncScope::Group => ("Group", &config.group_name, &config.group_id),
    };
    let id = id.as_deref().unwrap_or_default();
    let name = name.as_deref().filter(|name| !name.is_empty()).unwrap_or(id);
    (format!("{kind} {name}"), format!("#{id}"))
}

pub fn environment_scope(sync: &SecretSyncView) -> &str {
    sync.destination_config
        .target_environment
        .as_deref()
        .filter(|scope| !scope.is_empty())
        .unwrap_or("*")
}

fn row(now: OffsetDateTime, sync: &SecretSyncView, project: Option<&SecretProject>) -> Markup {
    let (destination, id) = destination_words(sync);
    html! {
        tr data-sync-id=(sync.id) {
            td.name-cell {
                a.primary-text.row-link href=(detail_path(&sync.id)) { (sync.name) }
                div.secondary-text {
                    @if let Some(project) = project { (project.name) " · " }
                    span.mono { (sync.environment.slug) " " (sync.folder.path) }
                }
            }
            td {
                div { (destination) " " span.muted.mono { (id) } }
                div.secondary-text { "Environment scope " span.mono { (environment_scope(sync)) } " · via " (sync.connection.name) }
            }
            td {
                (status_badge(sync.sync_status))
                @if let Some(message) = sync.last_sync_message.as_deref().filter(|_| matches!(sync.sync_status, Some(SyncStatus::Failed | SyncStatus::Partial))) {
                    div.secondary-text.clamp { (message) }
                }
            }
            td {
                @match &sync.last_synced_at {
                    Some(at) => (relative_time_text(now, at)),
                    None => span.muted { "Never" },
                }
            }
            td {
                @if sync.is_auto_sync_enabled { (badge(Tone::Success, "On")) } @else { (badge(Tone::Neutral, "Off")) }
            }
        }
    }
}

fn sync_table(now: OffsetDateTime, syncs: &[(SecretSyncView, Option<&SecretProject>)]) -> Markup {
    table(
        "Secret syncs",
        &["Sync", "Destination", "Status", "Last synced", "Auto-sync"],
        html! { @for (sync, project) in syncs { (row(now, sync, *project)) } },
    )
}

/// A page in the frame for what core refused or could not do outside a form.
fn refused(session: &UiSession, error: &CoreError) -> Response {
    let (status, title, text) = match error {
        CoreError::NotFound(_) => (
            StatusCode::NOT_FOUND,
            "Secret sync not found",
            "There is no such secret sync in this tenant. It may have been deleted.",
        ),
        CoreError::Forbidden(_) => (
            StatusCode::FORBIDDEN,
            "Your role cannot do this",
            "Ask an administrator of this tenant for the admin or member role.",
        ),
        CoreError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "labgate cannot answer right now",
            "The database or GitLab did not answer. Try again in a moment.",
        ),
        _ => {
            tracing::error!(error = %error, "a secret sync page failed");
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
        Nav::SecretSyncs,
        title,
        html! { (empty_state(title, text, html! { a.button.secondary href=(LIST_PATH) { "Back to Secret syncs" } })) },
    )
}

/// `GET /secret-syncs`: every project's syncs.
async fn list(State(state): State<AppState>, session: UiSession) -> Response {
    let principal = session.principal();
    let projects = match state
        .services
        .secrets
        .projects(principal, 0, PROJECTS_LISTED)
        .await
    {
        Ok((projects, _)) => projects,
        Err(error) => return refused(&session, &error),
    };
    let mut syncs = Vec::new();
    for project in &projects {
        match state
            .services
            .secret_syncs
            .list(principal, project.id.as_str())
            .await
        {
            Ok(listed) => syncs.extend(listed.secret_syncs.into_iter().map(|sync| (sync, Some(project)))),
            Err(error) => return refused(&session, &error),
        }
    }
    let now = state.services.clock.now();
    let title = Nav::SecretSyncs.label();
    let add = html! {
        @if can_write(&session) && !projects.is_empty() { (link_button(ButtonKind::Primary, "Add sync", &new_path(None))) }
    };
    let content = html! {
        (page_header(title, Some("Each sync copies one folder of secrets into a GitLab project's or group's CI/CD variables, and keeps them in step."), add.clone()))
        @if syncs.is_empty() {
            @if projects.is_empty() {
                (empty_state("No secret syncs yet", "Syncs copy secrets from a project. Create a project and add secrets first.",
                    link_button(ButtonKind::Secondary, "Go to Secrets", Nav::Secrets.path())))
            } @else {
                (empty_state("No secret syncs yet", "Add a sync to copy a folder of secrets into GitLab CI/CD variables.", add))
            }
        } @else {
            (sync_table(now, &syncs))
        }
    };
    page(&session, Nav::SecretSyncs, title, content)
}

/// `GET /secrets/{project}/syncs`: the project's tab of syncs.
async fn project_tab(State(state): State<AppState>, session: UiSession, Path(id): Path<String>) -> Response {
    let project = match labgate_core::ids::SecretProjectId::parse(&id) {
        Some(id) => state.services.secrets.project(session.principal(), &id).await,
        None => Err(CoreError::NotFound("project")),
    };
    let project = match project {
        Ok(project) => project,
        Err(error) => return refused(&session, &error),
    };
    let syncs = match state
        .services
        .secret_syncs
        .list(session.principal(), project.id.as_str())
        .await
    {
        Ok(listed) => listed.secret_syncs,
        Err(error) => return refused(&session, &error),
    };
    let now = state.services.clock.now();
    let add = html! {
        @if can_write(&session) { (link_button(ButtonKind::Primary, "Add sync", &new_path(Some(project.id.as_str())))) }
    };
    let rows: Vec<(SecretSyncView, Option<&SecretProject>)> =
        syncs.into_iter().map(|sync| (sync, None)).collect();
    let content = html! {
        (breadcrumbs(&project, Some("Secret syncs")))
        (page_header(&project.name, Some("Where this project's secrets are copied to at GitLab."), add.clone()))
        (project_tabs(&project, true))
        @if rows.is_empty() {
            (empty_state("No syncs for this project", "Add a sync to copy one of its folders into GitLab CI/CD variables.", add))
        } @else {
            (sync_table(now, &rows))
        }
    };
    page(&session, Nav::Secrets, &project.name, content)
}
