//! Secret scanning: GitLab data sources with their repositories and scans (followed live while
//! they run), and the findings with their triage and export. Modelled on Infisical's secret
//! scanning pages; every change goes through the same core service as the API.

mod detail;
mod findings;
mod form;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use labgate_core::CoreError;
use labgate_proto::secret_scanning::{DataSourceView, ScanScope, ScanStatus, ScanView};
use maud::{Markup, html};
use time::OffsetDateTime;

use super::UiSession;
use super::components::{
    ButtonKind, Tone, badge, empty_state, link_button, page_header, relative_time_text, table,
};
use super::layout::{Nav, page, page_with_status};
use super::response::redirect;
use super::secrets::can_write;
use crate::state::AppState;

pub const LIST_PATH: &str = "/secret-scanning/data-sources";
pub const FINDINGS_PATH: &str = "/secret-scanning/findings";
const NEW_PATH: &str = "/secret-scanning/data-sources/new";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/secret-scanning", get(root))
        .route(LIST_PATH, get(list))
        .route(NEW_PATH, get(form::new_form).post(form::create))
        .route("/secret-scanning/data-sources/{id}", get(detail::show))
        .route(
            "/secret-scanning/data-sources/{id}/edit",
            get(form::edit_form).post(form::update),
        )
        .route("/secret-scanning/data-sources/{id}/delete", post(detail::delete))
        .route("/secret-scanning/data-sources/{id}/scan", post(detail::scan_now))
        .route(
            "/secret-scanning/data-sources/{id}/resources/{resource}/scan",
            post(detail::scan_resource),
        )
        .route(
            "/secret-scanning/data-sources/{id}/scans.json",
            get(detail::live_scans),
        )
        .route(FINDINGS_PATH, get(findings::list))
        .route("/secret-scanning/findings/export", get(findings::export))
        .route("/secret-scanning/findings/{id}", post(findings::triage))
}

pub fn detail_path(id: &str) -> String {
    format!("{LIST_PATH}/{id}")
}

/// The two views of secret scanning, as tabs.
fn section_tabs(findings_active: bool) -> Markup {
    html! {
        nav.tabs aria-label="Secret scanning" {
            a href=(LIST_PATH) aria-current=[(!findings_active).then_some("page")] { "Data sources" }
            a href=(FINDINGS_PATH) aria-current=[findings_active.then_some("page")] { "Findings" }
        }
    }
}

/// A scan's status in words and colour; the live script writes the same.
fn scan_tone(status: ScanStatus) -> (Tone, &'static str) {
    match status {
        ScanStatus::Queued => (Tone::Neutral, "Queued"),
        ScanStatus::Scanning => (Tone::Info, "Scanning"),
        ScanStatus::Completed => (Tone::Success, "Completed"),
        ScanStatus::Failed => (Tone::Danger, "Failed"),
    }
}

pub fn scan_badge(status: Option<ScanStatus>) -> Markup {
    let (tone, text) = status.map_or((Tone::Neutral, "Never scanned"), scan_tone);
    html! { span data-job-state=(status.map_or("none", ScanStatus::as_str)) { (badge(tone, text)) } }
}

/// What a data source covers, as people name it: `Project acme/api (#42)` (the path once its
/// repository is known) or `Group #7 (all projects)`.
pub fn scope_words(source: &DataSourceView, project_path: Option<&str>) -> String {
    let config = &source.config;
    match config.scope {
        ScanScope::Project => {
            let id = config.project_id.as_deref().unwrap_or("?");
            match project_path {
                Some(path) => format!("Project {path} (#{id})"),
                None => format!("Project #{id}"),
            }
        }
        ScanScope::Group => {
            let include = config.include_projects.as_deref().unwrap_or_default();
            let which = if include.is_empty() || include.iter().any(|p| p == "*") {
                "all projects".to_owned()
            } else if include.len() == 1 {
                "1 project".to_owned()
            } else {
                format!("{} projects", include.len())
            };
            format!("Group #{} ({which})", config.group_id.as_deref().unwrap_or("?"))
        }
    }
}

/// A page in the frame for what core refused or could not do outside a form.
fn refused(session: &UiSession, error: &CoreError) -> Response {
    let (status, title, text) = match error {
        CoreError::NotFound(_) => (
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such data source or finding in this tenant. It may have been deleted.",
        ),
        CoreError::Forbidden(_) => (
            StatusCode::FORBIDDEN,
            "Your role cannot do this",
            "Ask an administrator of this tenant for the admin or member role.",
        ),
        CoreError::Validation { .. } => (
            StatusCode::BAD_REQUEST,
            "Check what was asked",
            "A filter or value is not one labgate takes. Go back and change it.",
        ),
        CoreError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "labgate cannot answer right now",
            "The database or GitLab did not answer. Try again in a moment.",
        ),
        _ => {
            tracing::error!(error = %error, "a secret scanning page failed");
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
        Nav::SecretScanning,
        title,
        html! { (empty_state(title, text, html! { a.button.secondary href=(LIST_PATH) { "Back to Secret scanning" } })) },
    )
}

/// A row of the list: the data source, its newest scan, and its project's path (project scope).
struct Listed {
    source: DataSourceView,
    last: Option<ScanView>,
    project_path: Option<String>,
}

/// `GET /secret-scanning`.
async fn root(_session: UiSession) -> Response {
    redirect(LIST_PATH)
}

fn row(now: OffsetDateTime, listed: &Listed) -> Markup {
    let Listed {
        source,
        last,
        project_path,
    } = listed;
    html! {
        tr data-source-id=(source.id) {
            td.name-cell {
                a.primary-text.row-link href=(detail_path(&source.id)) { (source.name) }
                @if let Some(description) = source.description.as_deref().filter(|d| !d.is_empty()) {
                    div.secondary-text.clamp { (description) }
                }
            }
            td { (scope_words(source, project_path.as_deref())) }
            td.connection-cell { a href={ "/organization/app-connections/" (source.connection_id) } { (source.connection.name) } }
            td { (source.resource_count) }
            td {
                (scan_badge(last.as_ref().map(|scan| scan.status)))
                @if let Some(scan) = last {
                    div.secondary-text { (relative_time_text(now, scan.finished_at.as_deref().unwrap_or(&scan.created_at))) }
                }
            }
            td {
                @if source.is_auto_scan_enabled { (badge(Tone::Success, "On")) } @else { (badge(Tone::Neutral, "Off")) }
            }
        }
    }
}

/// `GET /secret-scanning/data-sources`.
async fn list(State(state): State<AppState>, session: UiSession) -> Response {
    let principal = session.principal();
    let scanning = &state.services.secret_scanning;
    let sources = match scanning.list(principal).await {
        Ok(listed) => listed.data_sources,
        Err(error) => return refused(&session, &error),
    };
    let mut rows = Vec::with_capacity(sources.len());
    for source in sources {
        let last = match scanning.scans(principal, &source.id).await {
            Ok(listed) => listed.scans.into_iter().next(),
            Err(error) => return refused(&session, &error),
        };
        let project_path = if source.config.scope == ScanScope::Project {
            match scanning.resources(principal, &source.id).await {
                Ok(listed) => listed.resources.into_iter().next().map(|resource| resource.name),
                Err(error) => return refused(&session, &error),
            }
        } else {
            None
        };
        rows.push(Listed {
            source,
            last,
            project_path,
        });
    }
    let now = state.services.clock.now();
    let title = Nav::SecretScanning.label();
    let add = html! {
        @if can_write(&session) { (link_button(ButtonKind::Primary, "Add data source", NEW_PATH)) }
    };
    let content = html! {
        (page_header(title, Some("Data sources are GitLab projects or groups whose repositories labgate scans, history included, for leaked secrets."), add.clone()))
        (section_tabs(false))
        @if rows.is_empty() {
            (empty_state("No data sources yet", "Add a GitLab project or group to scan its repositories for leaked tokens and keys.", add))
        } @else {
            (table(
                "Secret scanning data sources",
                &["Data source", "Scope", "Connection", "Repositories", "Last scan", "Auto-scan"],
                html! { @for listed in &rows { (row(now, listed)) } },
            ))
        }
    };
    page(&session, Nav::SecretScanning, title, content)
}
