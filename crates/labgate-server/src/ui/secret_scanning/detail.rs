//! One data source's page: what it covers through which connection, its repositories with a
//! scan button each, its scans with their progress followed live, and the actions — scan now,
//! edit, delete.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use labgate_core::CoreError;
use labgate_proto::secret_scanning::{
    DataSourceView, ScanKind, ScanResourceView, ScanScope, ScanStatus, ScanView,
};
use maud::{Markup, html};
use serde::Serialize;
use time::OffsetDateTime;

use super::{FINDINGS_PATH, LIST_PATH, detail_path, refused, scan_badge, scan_tone, scope_words};
use crate::state::AppState;
use crate::ui::components::{
    ButtonKind, Tone, badge, button, exact_time, link_button, modal, open_dialog_button, relative_time_text,
    table,
};
use crate::ui::flash::{FlashKind, redirect_with_flash};
use crate::ui::layout::{Nav, page};
use crate::ui::secrets::can_write;
use crate::ui::{CsrfForm, UiSession, csrf_field};

/// Scans shown on the page (and followed by its script), newest first.
const SCANS_SHOWN: usize = 10;

fn is_live(status: ScanStatus) -> bool {
    matches!(status, ScanStatus::Queued | ScanStatus::Scanning)
}

/// The bar of a scan: `None` while its size is not known yet.
fn bar(scan: &ScanView) -> Option<(u64, u64)> {
    match (scan.status, scan.progress_total) {
        (ScanStatus::Completed, total) => {
            let total = total.unwrap_or(1).max(1);
            Some((total, total))
        }
        (_, Some(total)) if total > 0 => Some((scan.progress_done.min(total), total)),
        (ScanStatus::Queued, _) => Some((0, 1)),
        (ScanStatus::Failed, _) => Some((scan.progress_done.min(1), 1)),
        (ScanStatus::Scanning, _) => None,
    }
}

fn progress_words(scan: &ScanView) -> String {
    let counted = match scan.progress_total {
        Some(total) => format!("{} of {total}", scan.progress_done),
        None if scan.progress_done > 0 => format!("{} done", scan.progress_done),
        None => String::new(),
    };
    let phase = scan.progress_phase.as_deref().filter(|phase| !phase.is_empty());
    let phase = phase.map(capitalised);
    match (phase, counted.is_empty()) {
        (Some(phase), true) => phase,
        (Some(phase), false) => format!("{phase} · {counted}"),
        (None, false) => counted,
        (None, true) => match scan.status {
            ScanStatus::Queued => "Waiting for a worker".to_owned(),
            ScanStatus::Scanning => "Starting".to_owned(),
            ScanStatus::Completed => "Done".to_owned(),
            ScanStatus::Failed => "Stopped".to_owned(),
        },
    }
}

/// `done` as `Done`: phases are stored as the worker names them.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

fn counts_words(scan: &ScanView) -> String {
    let plural = if scan.total_findings == 1 { "" } else { "s" };
    format!(
        "{} finding{plural} · {} new",
        scan.total_findings, scan.new_findings
    )
}

/// The class the bar is coloured by, named like a job's states (the stylesheet's).
fn bar_class(status: ScanStatus) -> &'static str {
    match status {
        ScanStatus::Queued => "bar-queued",
        ScanStatus::Scanning => "bar-running",
        ScanStatus::Completed => "bar-succeeded",
        ScanStatus::Failed => "bar-failed",
    }
}

fn progress_cell(scan: &ScanView) -> Markup {
    let words = progress_words(scan);
    let class = bar_class(scan.status);
    html! {
        div.job-progress {
            @match bar(scan) {
                Some((value, max)) => progress class=(class) value=(value) max=(max) aria-label=(words) data-job-bar {},
                None => progress class=(class) aria-label=(words) data-job-bar {},
            }
            div.secondary-text data-job-phase { (words) }
        }
    }
}

fn target_words(scan: &ScanView, resources: &[ScanResourceView]) -> Markup {
    match (scan.kind, &scan.resource_id) {
        (ScanKind::Resource, Some(id)) => {
            let name = resources
                .iter()
                .find(|resource| &resource.id == id)
                .map_or("a repository", |resource| resource.name.as_str());
            html! { "Repository " span.mono { (name) } }
        }
        _ => html! { "Full scan" },
    }
}

fn scan_row(now: OffsetDateTime, scan: &ScanView, resources: &[ScanResourceView]) -> Markup {
    html! {
        tr data-job-id=(scan.id) data-scan-status=(scan.status.as_str()) {
            td {
                div { (target_words(scan, resources)) }
                div.secondary-text { "queued " (relative_time_text(now, &scan.created_at)) }
            }
            td { (scan_badge(Some(scan.status))) }
            td.progress-cell { (progress_cell(scan)) }
            td { span data-job-counts { (counts_words(scan)) } }
            td {
                span data-job-finished {
                    @match &scan.finished_at { Some(at) => (relative_time_text(now, at)), None => span.muted { "—" } }
                }
                span data-job-error { @if let Some(message) = &scan.status_message { div.error-text.small { (message) } } }
            }
        }
    }
}

fn scans_section(now: OffsetDateTime, scans: &[ScanView], resources: &[ScanResourceView]) -> Markup {
    let live = scans.iter().any(|scan| is_live(scan.status));
    html! {
        section.scans aria-labelledby="scans-title" {
            div.card-title-row {
                h2.section-title id="scans-title" { "Scans" }
                @if live { span.muted.small data-live-note { "updating live" } }
            }
            @if scans.is_empty() {
                p.muted { "No scan yet." }
            } @else {
                (table("Scans, newest first", &["Scan", "Status", "Progress", "Findings", "Finished"],
                    html! { @for scan in scans { (scan_row(now, scan, resources)) } }))
            }
        }
    }
}

fn resources_section(
    session: &UiSession,
    now: OffsetDateTime,
    source: &DataSourceView,
    resources: &[ScanResourceView],
) -> Markup {
    let writer = can_write(session);
    let headers: &[&str] = if writer {
        &["Repository", "Default branch", "Last scanned", "Action"]
    } else {
        &["Repository", "Default branch", "Last scanned"]
    };
    html! {
        section.resources aria-labelledby="resources-title" {
            h2.section-title id="resources-title" { "Repositories" }
            @if resources.is_empty() {
                p.muted { "GitLab listed no repository in scope." }
            } @else {
                (table("Repositories of the data source", headers, html! {
                    @for resource in resources {
                        tr data-resource-id=(resource.id) {
                            td {
                                a.primary-text href=(resource.web_url) rel="noreferrer" { (resource.name) }
                                div.secondary-text { "Project #" (resource.external_id) }
                            }
                            td.mono { (resource.default_branch.as_deref().unwrap_or("—")) }
                            td {
                                @match &resource.last_scanned_at { Some(at) => (relative_time_text(now, at)), None => span.muted { "Never" } }
                            }
                            @if writer {
                                td {
                                    form.inline-form method="post" action={ (detail_path(&source.id)) "/resources/" (resource.id) "/scan" } {
                                        (csrf_field(session))
                                        button type="submit" class="button secondary small" aria-label={ "Scan " (resource.name) } { "Scan" }
                                    }
                                }
                            }
                        }
                    }
                }))
            }
        }
    }
}

/// The project's path for a project-scope data source, once its repository is known.
fn project_path<'a>(source: &DataSourceView, resources: &'a [ScanResourceView]) -> Option<&'a str> {
    (source.config.scope == ScanScope::Project)
        .then(|| resources.first().map(|resource| resource.name.as_str()))
        .flatten()
}

fn config_card(source: &DataSourceView, resources: &[ScanResourceView]) -> Markup {
    let config = &source.config;
    html! {
        div.card-grid {
            section.card.info-card aria-labelledby="scope-title" {
                h2 id="scope-title" { "Scope" }
                dl {
                    div.definition { dt { "Covers" } dd { (scope_words(source, project_path(source, resources))) } }
                    @if config.scope == ScanScope::Group {
                        div.definition { dt { "Projects" } dd {
                            ul.chips { @for path in config.include_projects.as_deref().unwrap_or_default() { li.chip.mono { (path) } } }
                        } }
                    }
                    div.definition { dt { "Repositories" } dd { (source.resource_count) } }
                }
            }
            section.card.info-card aria-labelledby="reading-title" {
                h2 id="reading-title" { "Reading" }
                dl {
                    div.definition { dt { "Connection" } dd { a href={ "/organization/app-connections/" (source.connection_id) } { (source.connection.name) } } }
                    div.definition { dt { "Auto-scan" } dd {
                        @if source.is_auto_scan_enabled { (badge(Tone::Success, "On")) } @else { (badge(Tone::Neutral, "Off")) }
                    } }
                    div.definition { dt { "Findings" } dd { a href={ (FINDINGS_PATH) "?data_source=" (source.id) } { "Findings of this data source" } } }
                }
            }
        }
    }
}

fn actions(session: &UiSession, source: &DataSourceView) -> Markup {
    let base = detail_path(&source.id);
    html! {
        @if can_write(session) {
            form.inline-form method="post" action={ (base) "/scan" } {
                (csrf_field(session))
                (button(ButtonKind::Primary, "Scan now", None))
            }
            (link_button(ButtonKind::Secondary, "Edit", &format!("{base}/edit")))
            (open_dialog_button(ButtonKind::Danger, "Delete", "delete-source"))
        }
    }
}

fn delete_dialog(session: &UiSession, source: &DataSourceView) -> Markup {
    modal(
        "delete-source",
        "Delete data source?",
        html! {
            form.stack method="post" action={ (detail_path(&source.id)) "/delete" } {
                (csrf_field(session))
                p { "The data source " strong { (source.name) } " goes with its repositories and scans. Findings seen nowhere else go too." }
                div.form-actions {
                    button type="button" class="button secondary" data-close-dialog { "Cancel" }
                    (button(ButtonKind::Danger, "Delete data source", Some("Delete this data source and its scans?")))
                }
            }
        },
    )
}

/// `GET /secret-scanning/data-sources/{id}`.
pub async fn show(State(state): State<AppState>, session: UiSession, Path(id): Path<String>) -> Response {
    let principal = session.principal();
    let scanning = &state.services.secret_scanning;
    let source = match scanning.get(principal, &id).await {
        Ok(source) => source,
        Err(error) => return refused(&session, &error),
    };
    let resources = match scanning.resources(principal, &id).await {
        Ok(listed) => listed.resources,
        Err(error) => return refused(&session, &error),
    };
    let mut scans = match scanning.scans(principal, &id).await {
        Ok(listed) => listed.scans,
        Err(error) => return refused(&session, &error),
    };
    scans.truncate(SCANS_SHOWN);
    let now = state.services.clock.now();
    let live = scans.iter().any(|scan| is_live(scan.status));
    // The script follows every [data-job-id] inside: the newest scan's badge in the header too.
    let content = html! {
        nav.breadcrumbs aria-label="Breadcrumb" {
            a href=(LIST_PATH) { "Secret scanning" } span aria-hidden="true" { " / " } span.wrap aria-current="page" { (source.name) }
        }
        div data-live-jobs={ (detail_path(&source.id)) "/scans.json" } data-live=[live.then_some("running")] data-reload-when-done {
        header.page-header.detail-header {
            div {
                h1.wrap { (source.name) }
                div.header-badges {
                    span data-job-id=[scans.first().map(|scan| scan.id.as_str())] { (scan_badge(scans.first().map(|scan| scan.status))) }
                    span.muted.small { (scope_words(&source, project_path(&source, &resources))) " · via " (source.connection.name) }
                }
                @if let Some(description) = source.description.as_deref().filter(|text| !text.is_empty()) { p.muted.wrap { (description) } }
            }
            div.actions { (actions(&session, &source)) }
        }
        (config_card(&source, &resources))
        (scans_section(now, &scans, &resources))
        }
        (resources_section(&session, now, &source, &resources))
        @if can_write(&session) { (delete_dialog(&session, &source)) }
    };
    page(&session, Nav::SecretScanning, &source.name, content)
}

/// A scan as the page's script updates it (the shape of the jobs page's, see `app.js`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveScan {
    id: String,
    state: ScanStatus,
    state_label: &'static str,
    tone: &'static str,
    bar_class: &'static str,
    value: Option<u64>,
    max: Option<u64>,
    progress: String,
    counts: String,
    finished_at: Option<String>,
    finished_exact: Option<String>,
    last_error: Option<String>,
}

#[derive(Serialize)]
pub struct LiveScans {
    jobs: Vec<LiveScan>,
    /// Whether a scan is still queued or running: the script stops polling otherwise.
    running: bool,
}

fn tone_name(tone: Tone) -> &'static str {
    match tone {
        Tone::Neutral => "neutral",
        Tone::Success => "success",
        Tone::Warning => "warning",
        Tone::Danger => "danger",
        Tone::Info => "info",
    }
}

fn live(scan: ScanView) -> LiveScan {
    let (tone, label) = scan_tone(scan.status);
    let measured = bar(&scan);
    LiveScan {
        state_label: label,
        tone: tone_name(tone),
        bar_class: bar_class(scan.status),
        value: measured.map(|(value, _)| value),
        max: measured.map(|(_, max)| max),
        progress: progress_words(&scan),
        counts: counts_words(&scan),
        finished_exact: scan
            .finished_at
            .as_deref()
            .and_then(labgate_core::timefmt::parse_time)
            .map(exact_time),
        finished_at: scan.finished_at,
        last_error: scan.status_message,
        state: scan.status,
        id: scan.id,
    }
}

/// `GET /secret-scanning/data-sources/{id}/scans.json`: the page's scans, for its script. Same
/// origin and session only; never cached.
pub async fn live_scans(
    State(state): State<AppState>,
    session: UiSession,
    Path(id): Path<String>,
) -> Response {
    let mut response = match state
        .services
        .secret_scanning
        .scans(session.principal(), &id)
        .await
    {
        Ok(listed) => {
            let scans: Vec<ScanView> = listed.scans.into_iter().take(SCANS_SHOWN).collect();
            Json(LiveScans {
                running: scans.iter().any(|scan| is_live(scan.status)),
                jobs: scans.into_iter().map(live).collect(),
            })
            .into_response()
        }
        Err(error) => {
            let status = match error {
                CoreError::Forbidden(_) => StatusCode::FORBIDDEN,
                CoreError::NotFound(_) => StatusCode::NOT_FOUND,
                _ => {
                    tracing::error!(error = %error, "cannot list scans for a page's updates");
                    StatusCode::SERVICE_UNAVAILABLE
                }
            };
            (status, Json(serde_json::json!({ "error": error.to_string() }))).into_response()
        }
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Back on the data source's page with what happened, or the page of what went wrong.
fn after(state: &AppState, session: &UiSession, id: &str, done: Result<ScanView, CoreError>) -> Response {
    match done {
        Ok(_) => redirect_with_flash(
            state,
            &detail_path(id),
            FlashKind::Success,
            "Scan queued: its progress shows below.",
        ),
        Err(error @ (CoreError::NotFound(_) | CoreError::Forbidden(_) | CoreError::Internal(_))) => {
            refused(session, &error)
        }
        Err(error) => redirect_with_flash(
            state,
            &detail_path(id),
            FlashKind::Error,
            &crate::api::oauth::sentence(&error.to_string()),
        ),
    }
}

/// `POST /secret-scanning/data-sources/{id}/scan`.
pub async fn scan_now(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<Vec<(String, String)>>,
) -> Response {
    let done = state
        .services
        .secret_scanning
        .trigger_full_scan(session.principal(), &id)
        .await;
    after(&state, &session, &id, done)
}

/// `POST /secret-scanning/data-sources/{id}/resources/{resource}/scan`.
pub async fn scan_resource(
    State(state): State<AppState>,
    Path((id, resource)): Path<(String, String)>,
    CsrfForm { session, .. }: CsrfForm<Vec<(String, String)>>,
) -> Response {
    let done = state
        .services
        .secret_scanning
        .trigger_resource_scan(session.principal(), &id, &resource)
        .await;
    after(&state, &session, &id, done)
}

/// `POST /secret-scanning/data-sources/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<Vec<(String, String)>>,
) -> Response {
    match state
        .services
        .secret_scanning
        .delete(session.principal(), &id)
        .await
    {
        Ok(deleted) => redirect_with_flash(
            &state,
            LIST_PATH,
            FlashKind::Success,
            &format!("Data source {} deleted.", deleted.name),
        ),
        Err(error) => refused(&session, &error),
    }
}
