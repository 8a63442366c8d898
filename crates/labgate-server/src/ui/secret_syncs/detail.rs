//! One sync's page: what it copies where and how, its last job followed live, the plan (a dry
//! run against GitLab: what a sync would do now), the last run's result per key, and the
//! actions — sync now, import from GitLab, remove the synced variables, delete.

use axum::extract::{Path, State};
use axum::response::Response;
use labgate_core::CoreError;
use labgate_proto::jobs::JobView;
use labgate_proto::secret_syncs::{
    ImportBehavior, InitialSyncBehavior, ResultOutcome, SecretSyncPlan, SecretSyncResults, SecretSyncView,
    SyncStatus,
};
use maud::{Markup, html};
use serde::Deserialize;
use time::OffsetDateTime;

use super::{
    LIST_PATH, action_badge, destination_words, detail_path, environment_scope, refused, status_badge,
};
use crate::state::AppState;
use crate::ui::components::{
    ButtonKind, Tone, badge, button, modal, open_dialog_button, relative_time_text, table,
};
use crate::ui::flash::{FlashKind, redirect_with_flash};
use crate::ui::jobs::{kind_label, progress_cell, state_badge};
use crate::ui::layout::{Nav, page};
use crate::ui::secrets::{can_write, folder_url};
use crate::ui::{CsrfForm, UiSession, csrf_field};

fn behaviour_words(behaviour: InitialSyncBehavior) -> &'static str {
    match behaviour {
        InitialSyncBehavior::OverwriteDestination => "Overwrite GitLab's variables",
        InitialSyncBehavior::ImportPrioritizeSource => "Import first, labgate's values win",
        InitialSyncBehavior::ImportPrioritizeDestination => "Import first, GitLab's values win",
    }
}

fn yes_no(on: bool) -> Markup {
    if on {
        badge(Tone::Success, "Yes")
    } else {
        badge(Tone::Neutral, "No")
    }
}

fn config_cards(sync: &SecretSyncView, project_name: &str) -> Markup {
    let (destination, id) = destination_words(sync);
    let config = &sync.destination_config;
    let options = &sync.sync_options;
    html! {
        div.card-grid.sync-cards {
            section.card.info-card aria-labelledby="source-title" {
                h2 id="source-title" { "Source" }
                dl {
                    div.definition { dt { "Project" } dd { a href=(folder_url(&sync.project_id, &sync.environment.slug, &sync.folder.path)) { (project_name) } } }
                    div.definition { dt { "Environment" } dd { (sync.environment.name) " " span.mono.muted { (sync.environment.slug) } } }
                    div.definition { dt { "Path" } dd.mono { (sync.folder.path) } }
                    div.definition { dt { "Auto-sync" } dd { (yes_no(sync.is_auto_sync_enabled)) } }
                }
            }
            section.card.info-card aria-labelledby="destination-title" {
                h2 id="destination-title" { "Destination" }
                dl {
                    div.definition { dt { "GitLab" } dd { (destination) " " span.mono.muted { (id) } } }
                    div.definition { dt { "Environment scope" } dd.mono { (environment_scope(sync)) } }
                    div.definition { dt { "Connection" } dd { a href={ "/organization/app-connections/" (sync.connection_id) } { (sync.connection.name) } } }
                    div.definition { dt { "Variables" } dd {
                        ul.chips {
                            @if config.should_protect_secrets { li.chip { "protected" } }
                            @if config.should_hide_secrets { li.chip { "masked and hidden" } }
                            @else if config.should_mask_secrets { li.chip { "masked" } }
                            @if !config.should_protect_secrets && !config.should_mask_secrets && !config.should_hide_secrets { li.chip { "plain" } }
                        }
                    } }
                }
            }
            section.card.info-card aria-labelledby="options-title" {
                h2 id="options-title" { "Options" }
                dl {
                    div.definition { dt { "Key schema" } dd.mono { (options.key_schema.as_deref().unwrap_or("{{secretKey}}")) } }
                    div.definition { dt { "Initial sync" } dd { (behaviour_words(options.initial_sync_behavior)) } }
                    div.definition { dt { "Deletes variables" } dd { (yes_no(!options.disable_secret_deletion)) } }
                }
            }
        }
    }
}

/// The last job of the sync with its live bar; the page reloads when it ends, to show what
/// it did.
fn job_card(now: OffsetDateTime, job: &JobView) -> Markup {
    let live = !job.state.is_finished();
    html! {
        section.card.compact.job-card aria-labelledby="job-title"
            data-live-jobs={ "/organization/jobs.json?id=" (job.id) } data-live=[live.then_some("running")] data-reload-when-done {
            div.card-title-row {
                h2 id="job-title" { "Last job" }
                a href={ "/organization/jobs/" (job.id) } { (kind_label(&job.kind)) }
            }
            div.job-summary data-job-id=(job.id) {
                (state_badge(job.state))
                div.job-bar { (progress_cell(job)) }
                span.muted.small data-job-finished {
                    @match &job.finished_at { Some(at) => (relative_time_text(now, at)), None => { "started " (relative_time_text(now, &job.created_at)) } }
                }
                span data-job-error { @if let Some(error) = &job.last_error { span.error-text { (error) } } }
            }
        }
    }
}

fn plan_section(plan: &Result<SecretSyncPlan, CoreError>) -> Markup {
    html! {
        section.plan aria-labelledby="plan-title" {
            h2.section-title id="plan-title" { "Plan" }
            p.muted.small { "What a sync would do now, read from GitLab without writing anything." }
            @match plan {
                Ok(plan) if plan.plan.is_empty() => p.muted { "Nothing to sync: the folder holds no secrets and the sync owns no variables." },
                Ok(plan) => {
                    (table("Plan", &["Variable", "Action", "Why"], html! {
                        @for entry in &plan.plan {
                            tr { td.mono { (entry.key) } td { (action_badge(entry.action)) } td.muted { (entry.reason) } }
                        }
                    }))
                    p.table-footer.muted {
                        @let writes = plan.plan.iter().filter(|entry| !matches!(entry.action, labgate_proto::secret_syncs::PlanAction::Unchanged | labgate_proto::secret_syncs::PlanAction::Skipped)).count();
                        (writes) " change" @if writes != 1 { "s" } " of " (plan.plan.len()) " variable" @if plan.plan.len() != 1 { "s" }
                    }
                },
                Err(error) => div.callout.warning role="status" { strong { "The plan could not be made. " } (plan_error(error)) },
            }
        }
    }
}

fn plan_error(error: &CoreError) -> String {
    match error {
        CoreError::Unavailable(message) | CoreError::Conflict(message) => {
            crate::api::oauth::sentence(message)
        }
        CoreError::Validation { message, .. } => crate::api::oauth::sentence(message),
        other => {
            tracing::warn!(error = %other, "cannot plan a secret sync for its page");
            "GitLab or the database did not answer; reload to try again.".to_owned()
        }
    }
}

fn outcome_badge(outcome: ResultOutcome) -> Markup {
    match outcome {
        ResultOutcome::Ok => badge(Tone::Success, "Written"),
        ResultOutcome::Failed => badge(Tone::Danger, "Failed"),
        ResultOutcome::Skipped => badge(Tone::Warning, "Skipped"),
    }
}

fn results_section(
    now: OffsetDateTime,
    sync: &SecretSyncView,
    results: &Option<SecretSyncResults>,
) -> Markup {
    html! {
        section.results aria-labelledby="results-title" {
            h2.section-title id="results-title" { "Last run" }
            @if let Some(message) = &sync.last_sync_message { p.muted.small data-sync-message { (message) } }
            @match results {
                Some(results) if !results.results.is_empty() => {
                    (table("Results of the last run", &["Variable", "Action", "Outcome", "Detail", "When"], html! {
                        @for result in &results.results {
                            tr {
                                td.mono { (result.key) }
                                td { (action_badge(result.action)) }
                                td { (outcome_badge(result.outcome)) }
                                td.muted { (result.reason.as_deref().unwrap_or("")) }
                                td { (relative_time_text(now, &result.recorded_at)) }
                            }
                        }
                    }))
                },
                _ => p.muted { "No run yet." },
            }
        }
    }
}

fn actions(session: &UiSession, sync: &SecretSyncView) -> Markup {
    let base = detail_path(&sync.id);
    html! {
        @if can_write(session) {
            form.inline-form method="post" action={ (base) "/sync" } {
                (csrf_field(session))
                (button(ButtonKind::Primary, "Sync now", None))
            }
            (open_dialog_button(ButtonKind::Secondary, "Import", "import-sync"))
            form.inline-form method="post" action={ (base) "/remove" } {
                (csrf_field(session))
                (button(ButtonKind::Secondary, "Remove synced variables", Some("Delete at GitLab every variable this sync wrote? The sync stays.")))
            }
            (open_dialog_button(ButtonKind::Danger, "Delete", "delete-sync"))
        }
    }
}

fn import_dialog(session: &UiSession, sync: &SecretSyncView) -> Markup {
    modal(
        "import-sync",
        "Import from GitLab",
        html! {
            form.stack method="post" action={ (detail_path(&sync.id)) "/import" } {
                (csrf_field(session))
                p.muted { "Reads the variables at GitLab into " span.mono { (sync.environment.slug) " " (sync.folder.path) } "." }
                fieldset.choice-group {
                    legend { "Where both have a key" }
                    div.choices {
                        label.choice { input type="radio" name="behavior" value="prioritize-source" checked; span { strong { "Keep labgate's value" } span.hint { "Only keys labgate does not have are imported." } } }
                        label.choice { input type="radio" name="behavior" value="prioritize-destination"; span { strong { "Take GitLab's value" } span.hint { "labgate's secrets get GitLab's values as new versions." } } }
                    }
                }
                div.form-actions { (button(ButtonKind::Primary, "Import", None)) }
            }
        },
    )
}

fn delete_dialog(session: &UiSession, sync: &SecretSyncView) -> Markup {
    modal(
        "delete-sync",
        "Delete secret sync?",
        html! {
            form.stack method="post" action={ (detail_path(&sync.id)) "/delete" } {
                (csrf_field(session))
                p { "The sync " strong { (sync.name) } " stops copying secrets to GitLab." }
                label.checkbox { input type="checkbox" name="remove_variables" value="true"; "Also delete the variables it wrote at GitLab" }
                div.form-actions {
                    button type="button" class="button secondary" data-close-dialog { "Cancel" }
                    (button(ButtonKind::Danger, "Delete sync", None))
                }
            }
        },
    )
}

/// `GET /secret-syncs/{id}`.
pub async fn show(State(state): State<AppState>, session: UiSession, Path(id): Path<String>) -> Response {
    let principal = session.principal();
    let syncs = &state.services.secret_syncs;
    let sync = match syncs.get(principal, &id).await {
        Ok(sync) => sync,
        Err(error) => return refused(&session, &error),
    };
    let project_name = match labgate_core::ids::SecretProjectId::parse(&sync.project_id) {
        Some(project) => state
            .services
            .secrets
            .project(principal, &project)
            .await
            .map(|project| project.name)
            .unwrap_or_default(),
        None => String::new(),
    };
    let plan = syncs.plan(principal, &id).await;
    let results = syncs.results(principal, &id).await.ok();
    let last_job = [
        (&sync.last_sync_job_id, sync.sync_status),
        (&sync.last_import_job_id, sync.import_status),
        (&sync.last_remove_job_id, sync.remove_status),
    ];
    let mut job = None;
    for (job_id, _) in last_job {
        if let Some(job_id) = job_id
            && let Ok(found) = state.services.jobs.get(principal, job_id).await
            && job
                .as_ref()
                .is_none_or(|shown: &JobView| shown.created_at < found.created_at)
        {
            job = Some(found);
        }
    }
    let now = state.services.clock.now();
    let content = html! {
        nav.breadcrumbs aria-label="Breadcrumb" {
            a href=(LIST_PATH) { "Secret syncs" } span aria-hidden="true" { " / " } span.wrap aria-current="page" { (sync.name) }
        }
        header.page-header.detail-header {
            div {
                h1.wrap { (sync.name) }
                div.header-badges {
                    (status_badge(sync.sync_status))
                    @if sync.is_auto_sync_enabled { (badge(Tone::Info, "Auto-sync on")) } @else { (badge(Tone::Neutral, "Auto-sync off")) }
                    @if let Some(at) = &sync.last_synced_at { span.muted.small { "Last synced " (relative_time_text(now, at)) } }
                }
                @if let Some(description) = sync.description.as_deref().filter(|text| !text.is_empty()) { p.muted.wrap { (description) } }
            }
            div.actions { (actions(&session, &sync)) }
        }
        @if matches!(sync.sync_status, Some(SyncStatus::Failed | SyncStatus::Partial)) {
            @if let Some(message) = &sync.last_sync_message {
                div.callout.warning { strong { "The last sync did not write everything. " } (message) }
            }
        }
        @if let Some(job) = &job { (job_card(now, job)) }
        (config_cards(&sync, &project_name))
        (plan_section(&plan))
        (results_section(now, &sync, &results))
        @if can_write(&session) {
            (import_dialog(&session, &sync))
            (delete_dialog(&session, &sync))
        }
    };
    page(&session, Nav::SecretSyncs, &sync.name, content)
}

/// Back on the sync's page with what happened, or the page of what went wrong.
fn after(
    state: &AppState,
    session: &UiSession,
    id: &str,
    done: Result<SecretSyncView, CoreError>,
    said: &str,
) -> Response {
    match done {
        Ok(sync) => redirect_with_flash(state, &detail_path(&sync.id), FlashKind::Success, said),
        Err(CoreError::NotFound(what)) => refused(session, &CoreError::NotFound(what)),
        Err(CoreError::Forbidden(message)) => refused(session, &CoreError::Forbidden(message)),
        Err(CoreError::Internal(error)) => refused(session, &CoreError::Internal(error)),
        Err(error) => redirect_with_flash(
            state,
            &detail_path(id),
            FlashKind::Error,
            &crate::api::oauth::sentence(&error.to_string()),
        ),
    }
}

/// `POST /secret-syncs/{id}/sync`.
pub async fn sync_now(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<Vec<(String, String)>>,
) -> Response {
    let done = state
        .services
        .secret_syncs
        .trigger_sync(session.principal(), &id)
        .await;
    after(
        &state,
        &session,
        &id,
        done,
        "Sync queued: the bar below follows it.",
    )
}

#[derive(Deserialize)]
pub struct ImportForm {
    #[serde(default)]
    behavior: String,
}

/// `POST /secret-syncs/{id}/import`.
pub async fn import(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form }: CsrfForm<ImportForm>,
) -> Response {
    let behavior = ImportBehavior::parse(&form.behavior).unwrap_or(ImportBehavior::PrioritizeSource);
    let done = state
        .services
        .secret_syncs
        .trigger_import(session.principal(), &id, behavior)
        .await;
    after(&state, &session, &id, done, "Import from GitLab queued.")
}

/// `POST /secret-syncs/{id}/remove`.
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<Vec<(String, String)>>,
) -> Response {
    let done = state
        .services
        .secret_syncs
        .trigger_remove(session.principal(), &id)
        .await;
    after(
        &state,
        &session,
        &id,
        done,
        "Removal of the synced variables queued.",
    )
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    remove_variables: Option<String>,
}

/// `POST /secret-syncs/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form }: CsrfForm<DeleteForm>,
) -> Response {
    let remove = form.remove_variables.as_deref() == Some("true");
    match state
        .services
        .secret_syncs
        .delete(session.principal(), &id, remove)
        .await
    {
        Ok(deleted) => redirect_with_flash(
            &state,
            LIST_PATH,
            FlashKind::Success,
            &if remove {
                format!(
                    "Secret sync {} deleted with the variables it wrote.",
                    deleted.name
                )
            } else {
                format!(
                    "Secret sync {} deleted; its variables stay at GitLab.",
                    deleted.name
                )
            },
        ),
        Err(error @ (CoreError::NotFound(_) | CoreError::Forbidden(_) | CoreError::Internal(_))) => {
            refused(&session, &error)
        }
        Err(error) => redirect_with_flash(
            &state,
            &detail_path(&id),
            FlashKind::Error,
            &crate::api::oauth::sentence(&error.to_string()),
        ),
    }
}
