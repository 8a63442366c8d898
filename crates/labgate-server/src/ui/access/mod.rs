//! Access: the tenant's access sources and, per source, who has what access in GitLab as its
//! newest successful sync saw it — accounts, the group tree with its projects, the effective
//! grants with the path each comes by — and what each sync changed. Read-only pages over the
//! same core reads as the `/api/v1/access` routes.

mod pages;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use labgate_core::CoreError;
use labgate_core::access::reports::{RunStatus, RunSummary, SourceScope, SourceSummary};
use maud::{Markup, html};
use time::OffsetDateTime;

use super::UiSession;
use super::components::{Tone, badge, empty_state, page_header, relative_time, table};
use super::layout::{Nav, page, page_with_status};
use super::response::redirect;
use crate::state::AppState;

pub const LIST_PATH: &str = "/access/sources";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/access", get(root))
        .route(LIST_PATH, get(list))
        .route("/access/sources/{id}", get(source_root))
        .route("/access/sources/{id}/accounts", get(pages::accounts))
        .route(
            "/access/sources/{id}/accounts/export",
            get(pages::export_accounts),
        )
        .route("/access/sources/{id}/resources", get(pages::resources))
        .route("/access/sources/{id}/grants", get(pages::grants))
        .route("/access/sources/{id}/grants/export", get(pages::export_grants))
        .route("/access/sources/{id}/syncs", get(pages::syncs))
        .route("/access/sources/{id}/sync", post(pages::sync_now))
        .route("/access/syncs/{id}/diff", get(pages::diff))
}

pub fn source_path(id: &str) -> String {
    format!("{LIST_PATH}/{id}")
}

pub fn diff_path(sync: &str) -> String {
    format!("/access/syncs/{sync}/diff")
}

/// A sync's status in words and colour.
pub fn run_badge(status: Option<RunStatus>) -> Markup {
    let (tone, text) = match status {
        None => (Tone::Neutral, "Never synced"),
        Some(RunStatus::Queued) => (Tone::Neutral, "Queued"),
        Some(RunStatus::Syncing) => (Tone::Info, "Syncing"),
        Some(RunStatus::Succeeded) => (Tone::Success, "Succeeded"),
        Some(RunStatus::Failed) => (Tone::Danger, "Failed"),
    };
    html! { span data-sync-status=(status.map_or("none", RunStatus::as_str)) { (badge(tone, text)) } }
}

/// What a source covers, as people say it.
pub fn scope_words(scope: &SourceScope) -> String {
    match scope {
        SourceScope::Instance => "Whole instance".to_owned(),
        SourceScope::Group(path) => format!("Group {path}"),
    }
}

/// When a sync ended (or was asked for, while it has not).
fn run_time(now: OffsetDateTime, run: &RunSummary) -> Markup {
    relative_time(now, run.finished_at.unwrap_or(run.created_at))
}

/// A page in the frame for what core refused.
fn refused(session: &UiSession, error: &CoreError) -> Response {
    let (status, title, text) = match error {
        CoreError::NotFound(_) => (
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such access source or sync in this tenant. It may have been deleted.",
        ),
        CoreError::Forbidden(_) => (
            StatusCode::FORBIDDEN,
            "Your role cannot do this",
            "Ask an administrator of this tenant for a role that reads access.",
        ),
        CoreError::Validation { .. } => (
            StatusCode::BAD_REQUEST,
            "Check what was asked",
            "A filter or value is not one labgate takes. Go back and change it.",
        ),
        CoreError::Conflict(_) => (
            StatusCode::CONFLICT,
            "This sync has no snapshot",
            "Only a sync that succeeded saw who has what access, so only such a sync has changes to show.",
        ),
        CoreError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "labgate cannot answer right now",
            "The database did not answer. Try again in a moment.",
        ),
        _ => {
            tracing::error!(error = %error, "an access page failed");
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
        Nav::Access,
        title,
        html! { (empty_state(title, text, html! { a.button.secondary href=(LIST_PATH) { "Back to access sources" } })) },
    )
}

/// `GET /access`.
async fn root(_session: UiSession) -> Response {
    redirect(LIST_PATH)
}

/// `GET /access/sources/{id}`: the accounts are where a source's pages start.
async fn source_root(_session: UiSession, Path(id): Path<String>) -> Response {
    redirect(&format!("{}/accounts", source_path(&id)))
}

fn row(now: OffsetDateTime, source: &SourceSummary) -> Markup {
    let id = source.id.as_str();
    html! {
        tr data-source-id=(id) {
            td.name-cell {
                a.primary-text.row-link href={ (source_path(id)) "/accounts" } { (source.name) }
            }
            td { (scope_words(&source.scope)) }
            td {
                (run_badge(source.last_run.as_ref().map(|run| run.status)))
                @if let Some(run) = &source.last_run { div.secondary-text { (run_time(now, run)) } }
            }
            td {
                @match &source.last_success {
                    Some(run) => {
                        a href=(diff_path(run.id.as_str())) { "Sync of " (run_time(now, run)) }
                    }
                    None => span.muted { "None yet" },
                }
            }
        }
    }
}

/// `GET /access/sources`.
async fn list(State(state): State<AppState>, session: UiSession) -> Response {
    let reports = &state.services.access_reports;
    let sources = match reports.sources(session.principal()).await {
        Ok(sources) => sources,
        Err(error) => return refused(&session, &error),
    };
    let now = reports.now();
    let title = Nav::Access.label();
    let content = html! {
        (page_header(title, Some("Access sources are GitLab instances or top-level groups whose accounts, groups, projects and memberships labgate syncs, so you can see who has what access and what changed."), html! {}))
        @if sources.is_empty() {
            (empty_state("No access sources yet", "Add an access source through the API (POST /api/v1/access/sources) to sync who has access to what in GitLab.", html! {}))
        } @else {
            (table(
                "Access sources",
                &["Source", "Scope", "Newest sync", "Snapshot shown"],
                html! { @for source in &sources { (row(now, source)) } },
            ))
        }
    };
    page(&session, Nav::Access, title, content)
}
