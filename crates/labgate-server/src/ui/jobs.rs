//! Jobs: the tenant's background work (rotations, refreshes) with live progress. The pages show
//! the state when loaded; the script follows running jobs through `/organization/jobs.json`
//! every two seconds and updates the rows in place.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use labgate_core::CoreError;
use labgate_core::jobs::JobKind;
use labgate_proto::jobs::{JobListQuery, JobState, JobView};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::UiSession;
use super::components::{
    ButtonKind, Tone, badge, empty_state, exact_time, link_button, page_header, relative_time_text, table,
};
use super::denied::core_error;
use super::layout::{Nav, page};
use crate::state::AppState;

const LIST_PATH: &str = "/organization/jobs";
const PAGE_SIZE: u32 = 50;

/// What each kind of job does, in words. Kinds this build does not know (written by a newer
/// replica) show as stored.
pub(crate) fn kind_label(kind: &str) -> &str {
    let Some(known) = JobKind::parse(kind) else {
        return kind;
    };
    match known {
        JobKind::ConnectionRotate => "Token rotation",
        JobKind::ConnectionRefresh => "OAuth token refresh",
        JobKind::ConnectionsHealth => "Health checks",
        JobKind::ConnectionsRefresh => "Proactive OAuth refreshes",
        JobKind::MaintenancePrune => "Retention clean-up",
        JobKind::WebhooksDeliver => "Webhook deliveries",
        JobKind::DiagnosticProbe => "Worker probe",
        JobKind::SecretSyncRun => "Secret sync",
        JobKind::SecretSyncImport => "Secret sync import",
        JobKind::SecretSyncRemove => "Secret sync removal",
        JobKind::SecretScan => "Secret scan",
        JobKind::SecretScanSchedule => "Scheduled secret scans",
        JobKind::SecretScanPush => "Push scan",
        JobKind::SecretScanHooksRemove => "Push webhook removal",
        JobKind::AccessSync => "Access sync",
        JobKind::AccessSchedule => "Scheduled access syncs",
        JobKind::AccessHooksRemove => "Access webhook removal",
    }
}

fn state_tone(state: JobState) -> (Tone, &'static str) {
    match state {
        JobState::Queued => (Tone::Neutral, "Queued"),
        JobState::Running => (Tone::Info, "Running"),
        JobState::Succeeded => (Tone::Success, "Succeeded"),
        JobState::Failed => (Tone::Danger, "Failed"),
    }
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

/// How far a job is, as the bar shows it: `(value, max)` when it can be measured, `None` for an
/// indeterminate bar (running with no total yet).
fn bar(job: &JobView) -> Option<(u64, u64)> {
    match (job.state, job.progress.total) {
        (JobState::Succeeded, total) => {
            let total = total.unwrap_or(1).max(1);
            Some((total, total))
        }
        (_, Some(total)) if total > 0 => Some((job.progress.done.min(total), total)),
        (JobState::Queued, _) => Some((0, 1)),
        (JobState::Failed, _) => Some((job.progress.done.min(1), 1)),
        (JobState::Running, _) => None,
    }
}

fn progress_words(job: &JobView) -> String {
    let counted = match job.progress.total {
        Some(total) => format!("{} of {total}", job.progress.done),
        None if job.progress.done > 0 => format!("{} done", job.progress.done),
        None => String::new(),
    };
    match (
        job.progress.phase.as_deref().filter(|phase| !phase.is_empty()),
        counted.is_empty(),
    ) {
        (Some(phase), true) => phase.to_owned(),
        (Some(phase), false) => format!("{phase} · {counted}"),
        (None, false) => counted,
        (None, true) => match job.state {
            JobState::Queued => "Waiting for a worker".to_owned(),
            JobState::Running => "Working".to_owned(),
            JobState::Succeeded => "Done".to_owned(),
            JobState::Failed => "Stopped".to_owned(),
        },
    }
}

pub(crate) fn progress_cell(job: &JobView) -> Markup {
    let words = progress_words(job);
    // Coloured by state through its own class: the script changes it with the state.
    let class = format!("bar-{}", job.state.as_str());
    html! {
        div.job-progress {
            @match bar(job) {
                Some((value, max)) => progress class=(class) value=(value) max=(max) aria-label=(words) data-job-bar {},
                None => progress class=(class) aria-label=(words) data-job-bar {},
            }
            div.secondary-text data-job-phase { (words) }
        }
    }
}

pub(crate) fn state_badge(state: JobState) -> Markup {
    let (tone, label) = state_tone(state);
    html! { span data-job-state=(state.as_str()) { (badge(tone, label)) } }
}

fn row(now: OffsetDateTime, job: &JobView) -> Markup {
    html! {
        tr data-job-id=(job.id) {
            td {
                a.primary-text href={ (LIST_PATH) "/" (job.id) } { (kind_label(&job.kind)) }
                div.secondary-text.mono { (job.kind) }
            }
            td { (state_badge(job.state)) }
            td { (progress_cell(job)) }
            td { (relative_time_text(now, &job.created_at)) }
            td data-job-finished {
                @match &job.finished_at {
                    Some(at) => (relative_time_text(now, at)),
                    None => span.muted { "—" },
                }
            }
            td data-job-error {
                @if let Some(error) = &job.last_error { span.error-text { (error) } }
            }
        }
    }
}

fn is_live(jobs: &[JobView]) -> bool {
    jobs.iter().any(|job| !job.state.is_finished())
}

#[derive(Deserialize, Default)]
pub struct ListParams {
    state: Option<String>,
    page: Option<u32>,
}

fn query_of(params: &ListParams) -> (JobListQuery, u32) {
    let page = params.page.unwrap_or(1).max(1);
    (
        JobListQuery {
            state: params.state.as_deref().and_then(JobState::parse),
            kind: None,
            offset: Some(u64::from(page - 1) * u64::from(PAGE_SIZE)),
            limit: Some(PAGE_SIZE),
        },
        page,
    )
}

fn params_of(uri: &Uri) -> ListParams {
    // Parameters that are not ones show the first page of every job rather than an error.
    Query::<ListParams>::try_from_uri(uri)
        .map(|query| query.0)
        .unwrap_or_default()
}

fn filter_bar(selected: Option<JobState>) -> Markup {
    html! {
        form.filters method="get" action=(LIST_PATH) {
            div.field.inline {
                label for="filter-state" { "State" }
                select id="filter-state" name="state" {
                    option value="" selected[selected.is_none()] { "Any" }
                    @for state in JobState::ALL {
                        option value=(state.as_str()) selected[selected == Some(state)] { (state_tone(state).1) }
                    }
                }
            }
            button type="submit" class="button secondary small" { "Filter" }
        }
    }
}

/// `GET /organization/jobs`.
pub async fn list(State(state): State<AppState>, session: UiSession, uri: Uri) -> Response {
    let title = Nav::Jobs.label();
    let params = params_of(&uri);
    let (query, page_number) = query_of(&params);
    let listed = match state
        .services
        .jobs
        .list(session.principal(), &query, PAGE_SIZE)
        .await
    {
        Ok(listed) => listed,
        Err(error) => return core_error(&session, Nav::Jobs, title, "Job", &error),
    };
    let now = state.services.clock.now();
    let description = "Work labgate does in the background for this tenant — token rotations and OAuth refreshes — \
                       with how far each has got.";
    let pages = listed.total_count.div_ceil(u64::from(PAGE_SIZE)).max(1);
    let state_param = query
        .state
        .map(|state| format!("&state={}", state.as_str()))
        .unwrap_or_default();
    let content = html! {
        (page_header(title, Some(description), html! {}))
        (filter_bar(query.state))
        @if listed.jobs.is_empty() {
            (empty_state(
                if query.state.is_some() { "No jobs in this state" } else { "No jobs yet" },
                "Jobs appear here when labgate rotates a token or refreshes an OAuth connection for this tenant — \
                 for example after Rotate on a connection, or a check that finds rotation due.",
                link_button(ButtonKind::Secondary, "Go to App Connections", Nav::AppConnections.path()),
            ))
        } @else {
            div data-live-jobs=(format!("/organization/jobs.json{}", uri.query().map(|q| format!("?{q}")).unwrap_or_default()))
                data-live=[is_live(&listed.jobs).then_some("running") ] {
                (table(
                    "Jobs",
                    &["Job", "State", "Progress", "Started", "Finished", "Error"],
                    html! { @for job in &listed.jobs { (row(now, job)) } },
                ))
            }
            p.table-footer.muted {
                (listed.total_count) " job" @if listed.total_count != 1 { "s" }
                @if is_live(&listed.jobs) { " · " span data-live-note { "updating every 2 seconds" } }
            }
            @if pages > 1 {
                nav.pager aria-label="Pages" {
                    @if page_number > 1 { a.button.secondary.small href={ "?page=" (page_number - 1) (state_param) } rel="prev" { "Previous" } }
                    span.muted { "Page " (page_number) " of " (pages) }
                    @if u64::from(page_number) < pages { a.button.secondary.small href={ "?page=" (page_number + 1) (state_param) } rel="next" { "Next" } }
                }
            }
        }
    };
    page(&session, Nav::Jobs, title, content)
}

/// `GET /organization/jobs/{id}`.
pub async fn detail(State(state): State<AppState>, session: UiSession, Path(id): Path<String>) -> Response {
    let job = match state.services.jobs.get(session.principal(), &id).await {
        Ok(job) => job,
        Err(error) => return core_error(&session, Nav::Jobs, "Job", "Job", &error),
    };
    let now = state.services.clock.now();
    let title = kind_label(&job.kind).to_owned();
    let time_fact = |at: &str| -> Markup {
        html! {
            (relative_time_text(now, at))
            @if let Some(exact) = labgate_core::timefmt::parse_time(at) { span.muted { " · " (exact_time(exact)) } }
        }
    };
    let content = html! {
        (page_header(&title, Some("One background job and how it went."), link_button(ButtonKind::Secondary, "All jobs", LIST_PATH)))
        section.card data-live-jobs={ "/organization/jobs.json?id=" (job.id) }
            data-live=[(!job.state.is_finished()).then_some("running")] {
            div data-job-id=(job.id) {
                dl.facts {
                    dt { "State" } dd { (state_badge(job.state)) }
                    dt { "Progress" } dd { (progress_cell(&job)) }
                    dt { "Kind" } dd { span.mono { (job.kind) } }
                    dt { "Attempts" } dd { (job.attempts) " of " (job.max_attempts) }
                    dt { "Created" } dd { (time_fact(&job.created_at)) }
                    dt { "Last update" } dd { (time_fact(&job.updated_at)) }
                    dt { "Finished" } dd data-job-finished {
                        @match &job.finished_at { Some(at) => (time_fact(at)), None => span.muted { "Not yet" } }
                    }
                    dt { "Error" } dd data-job-error {
                        @match &job.last_error { Some(error) => span.error-text { (error) }, None => span.muted { "None" } }
                    }
                    dt { "Id" } dd { span.mono { (job.id) } }
                }
            }
        }
    };
    page(&session, Nav::Jobs, &title, content)
}

/// One job as the script needs it to update a row: the words and classes are made here, so the
/// script does not have to know them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveJob {
    id: String,
    state: JobState,
    state_label: &'static str,
    tone: &'static str,
    /// `None`: an indeterminate bar.
    value: Option<u64>,
    max: Option<u64>,
    progress: String,
    finished_at: Option<String>,
    finished_exact: Option<String>,
    last_error: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveJobs {
    jobs: Vec<LiveJob>,
    /// Whether any of them is still queued or running: the script stops polling otherwise.
    running: bool,
}

fn live(job: JobView) -> LiveJob {
    let (tone, label) = state_tone(job.state);
    let measured = bar(&job);
    LiveJob {
        progress: progress_words(&job),
        value: measured.map(|(value, _)| value),
        max: measured.map(|(_, max)| max),
        finished_exact: job
            .finished_at
            .as_deref()
            .and_then(labgate_core::timefmt::parse_time)
            .map(exact_time),
        id: job.id,
        state: job.state,
        state_label: label,
        tone: tone_name(tone),
        finished_at: job.finished_at,
        last_error: job.last_error,
    }
}

#[derive(Deserialize, Default)]
pub struct LiveParams {
    id: Option<String>,
    state: Option<String>,
    page: Option<u32>,
}

/// `GET /organization/jobs.json`: the jobs of a list page (same parameters), or the one `id`,
/// for the page's script. Same origin and session only; never cached.
pub async fn live_json(State(state): State<AppState>, session: UiSession, uri: Uri) -> Response {
    let params = Query::<LiveParams>::try_from_uri(&uri)
        .map(|query| query.0)
        .unwrap_or_default();
    let jobs = match params.id {
        Some(id) => state
            .services
            .jobs
            .get(session.principal(), &id)
            .await
            .map(|job| vec![job]),
        None => {
            let (query, _) = query_of(&ListParams {
                state: params.state,
                page: params.page,
            });
            state
                .services
                .jobs
                .list(session.principal(), &query, PAGE_SIZE)
                .await
                .map(|listed| listed.jobs)
        }
    };
    let status_of = |error: &CoreError| match error {
        CoreError::Forbidden(_) => StatusCode::FORBIDDEN,
        CoreError::NotFound(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    let mut response = match jobs {
        Ok(jobs) => Json(LiveJobs {
            running: is_live(&jobs),
            jobs: jobs.into_iter().map(live).collect(),
        })
        .into_response(),
        Err(error) => {
            if !matches!(error, CoreError::Forbidden(_) | CoreError::NotFound(_)) {
                tracing::error!(error = %error, "cannot list jobs for a page's updates");
            }
            (
                status_of(&error),
                Json(serde_json::json!({ "error": error.to_string() })),
            )
                .into_response()
        }
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use labgate_proto::jobs::JobProgress;

    fn job(state: JobState, done: u64, total: Option<u64>, phase: Option<&str>) -> JobView {
        JobView {
            id: "j".into(),
            kind: "connection.rotate".into(),
            state,
            attempts: 1,
            max_attempts: 1,
            run_at: String::new(),
            progress: JobProgress {
                done,
                total,
                phase: phase.map(str::to_owned),
            },
            last_error: None,
            dedupe_key: None,
            created_at: String::new(),
            updated_at: String::new(),
            finished_at: None,
        }
    }

    #[test]
    fn bars_measure_what_can_be_measured() {
        assert_eq!(bar(&job(JobState::Running, 3, Some(10), None)), Some((3, 10)));
        assert_eq!(bar(&job(JobState::Running, 0, None, None)), None, "indeterminate");
        assert_eq!(bar(&job(JobState::Succeeded, 0, None, None)), Some((1, 1)));
        assert_eq!(bar(&job(JobState::Running, 12, Some(10), None)), Some((10, 10)));
        assert_eq!(
            progress_words(&job(JobState::Running, 3, Some(10), Some("checking"))),
            "checking · 3 of 10"
        );
        assert_eq!(progress_words(&job(JobState::Running, 0, None, None)), "Working");
    }
}
