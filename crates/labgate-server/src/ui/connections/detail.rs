//! One connection: who it acts as at GitLab, its token and instance, whether it works, what
//! happened to it, and what a person can do — check it now, rotate or refresh its token, rename
//! it, or delete it. Every action is a form posted with its token that ends in a redirect with
//! a message.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use labgate_core::CoreError;
use labgate_core::jobs::Settled;
use labgate_proto::connections::{
    ConnectionEventKind, ConnectionEventView, ConnectionMethod, ConnectionView, UpdateConnectionRequest,
};
use maud::{Markup, html};
use serde::Deserialize;
use time::OffsetDateTime;

use super::{
    LIST_PATH, connection_id, detail_path, gitlab_logo, instance_label, method_label, not_found, refused,
    sentence, token_type_label,
};
use crate::state::AppState;
use crate::ui::components::{
    ButtonKind, Tone, badge, connection_status_badge, exact_time, link_button, modal, relative_time_text,
};
use crate::ui::csrf::csrf_field;
use crate::ui::flash::{FlashKind, redirect_with_flash};
use crate::ui::layout::{Nav, page, page_with_status};
use crate::ui::{CsrfForm, UiSession};

/// Events shown on the page, newest first.
const EVENTS_SHOWN: u32 = 50;

#[derive(Deserialize, Default)]
pub struct DetailQuery {
    job: Option<String>,
}

/// Where the jobs page shows one job.
fn job_path(id: &str) -> String {
    format!("{}/{id}", Nav::Jobs.path())
}

fn event_title(event: &ConnectionEventView) -> &'static str {
    match event.kind {
        ConnectionEventKind::Created => "Connection created",
        ConnectionEventKind::StatusChanged => "Status changed",
        ConnectionEventKind::Recovered => "Recovered",
        ConnectionEventKind::Rotated => "Token rotated",
        ConnectionEventKind::CredentialsUpdated => "Credentials updated",
    }
}

fn event_tone(event: &ConnectionEventView) -> &'static str {
    match event.kind {
        ConnectionEventKind::Created | ConnectionEventKind::Recovered => "success",
        ConnectionEventKind::Rotated | ConnectionEventKind::CredentialsUpdated => "info",
        ConnectionEventKind::StatusChanged => match event.to_status {
            Some(status) if status.is_usable() => "success",
            _ => "warning",
        },
    }
}

fn timeline(now: OffsetDateTime, events: &[ConnectionEventView], total: u64) -> Markup {
    html! {
        section.card.timeline-card aria-labelledby="events-title" {
            h2 id="events-title" { "Events" }
            @if events.is_empty() {
                p.muted { "Nothing has happened to this connection yet." }
            } @else {
                ol.timeline {
                    @for event in events {
                        li.timeline-item {
                            span class={ "timeline-dot " (event_tone(event)) } aria-hidden="true" {}
                            div.timeline-body {
                                div.timeline-head {
                                    strong { (event_title(event)) }
                                    @if let (Some(from), Some(to)) = (event.from_status, event.to_status) {
                                        span.transition {
                                            (connection_status_badge(from)) span.arrow aria-label="to" { "→" } (connection_status_badge(to))
                                        }
                                    } @else if let Some(to) = event.to_status {
                                        span.transition { (connection_status_badge(to)) }
                                    }
                                    span.timeline-time.muted { (relative_time_text(now, &event.created_at)) }
                                }
                                @if let Some(reason) = event.reason.as_deref().filter(|reason| !reason.is_empty()) {
                                    p.secondary-text { (reason) }
                                }
                            }
                        }
                    }
                }
                @if total > events.len() as u64 {
                    p.muted.small { "Showing the latest " (events.len()) " of " (total) " events." }
                }
            }
        }
    }
}

fn definition(term: &str, value: Markup) -> Markup {
    html! { div.definition { dt { (term) } dd { (value) } } }
}

fn time_or(now: OffsetDateTime, at: Option<&str>, otherwise: &str) -> Markup {
    html! {
        @match at {
            Some(at) => {
                (relative_time_text(now, at))
                @if let Some(parsed) = labgate_core::timefmt::parse_time(at) {
                    span.muted.small { " · " (exact_time(parsed)) }
                }
            },
            None => span.muted { (otherwise) },
        }
    }
}

fn access_level_name(level: u8) -> String {
    match level {
        10 => "Guest".into(),
        15 => "Planner".into(),
        20 => "Reporter".into(),
        30 => "Developer".into(),
        40 => "Maintainer".into(),
        50 => "Owner".into(),
        other => format!("Level {other}"),
    }
}

fn cards(now: OffsetDateTime, connection: &ConnectionView) -> Markup {
    let user = &connection.gitlab_user;
    html! {
        div.card-grid {
            section.card.info-card aria-labelledby="health-title" {
                h2 id="health-title" { "Health" }
                dl {
                    (definition("Status", connection_status_badge(connection.status)))
                    (definition("Reason", html! {
                        @match connection.status_reason.as_deref().filter(|reason| !reason.is_empty()) {
                            Some(reason) => span.wrap { (reason) },
                            None => span.muted { "Works as expected" },
                        }
                    }))
                    (definition("Last check", time_or(now, connection.last_checked_at.as_deref(), "Not yet")))
                    (definition("Last used", time_or(now, connection.last_used_at.as_deref(), "Not yet")))
                }
            }
            section.card.info-card aria-labelledby="user-title" {
                h2 id="user-title" { "GitLab user" }
                dl {
                    (definition("Username", html! {
                        @match &user.username {
                            Some(username) => span.mono.wrap { "@" (username) },
                            None => span.muted { "Unknown" },
                        }
                    }))
                    (definition("User ID", html! {
                        @match user.id { Some(id) => span.mono { (id) }, None => span.muted { "Unknown" } }
                    }))
                    (definition("Kind", html! {
                        @if user.bot == Some(true) { (badge(Tone::Info, "Bot user")) } @else { "Person" }
                    }))
                    @if let Some(resource) = &connection.gitlab_resource {
                        (definition(if resource.kind.as_str() == "group" { "Group" } else { "Project" }, html! {
                            span.mono.wrap { (resource.full_path.as_deref().map_or_else(|| resource.id.to_string(), str::to_owned)) }
                            @if let Some(level) = resource.access_level { span.muted.small { " · " (access_level_name(level)) } }
                        }))
                    }
                }
            }
            section.card.info-card aria-labelledby="token-title" {
                h2 id="token-title" { "Token" }
                dl {
                    (definition("Type", html! { (token_type_label(connection.credentials.access_token_type, connection.method)) }))
                    @if let Some(name) = &connection.token_name {
                        (definition("Name at GitLab", html! { span.wrap { (name) } }))
                    }
                    (definition("Scopes", html! {
                        @if connection.scopes.is_empty() { span.muted { "None" } }
                        @else { ul.chips { @for scope in &connection.scopes { li.chip { (scope) } } } }
                    }))
                    (definition("Expires", time_or(now, connection.expires_at.as_deref(), "Never")))
                    (definition("Created", time_or(now, Some(&connection.created_at), "")))
                    @if connection.method == ConnectionMethod::AccessToken {
                        (definition("Last rotated", time_or(now, connection.last_rotated_at.as_deref(), "Never")))
                        (definition("Auto-rotate", html! {
                            @if connection.auto_rotate {
                                (connection.rotate_before_days) " days before expiry"
                            } @else { span.muted { "Off" } }
                        }))
                    }
                }
            }
            section.card.info-card aria-labelledby="instance-title" {
                h2 id="instance-title" { "Instance" }
                dl {
                    (definition("Host", html! { span.wrap { (instance_label(&connection.credentials.instance_url)) } }))
                    (definition("URL", html! { a.mono.wrap href=(connection.credentials.instance_url) rel="noreferrer noopener" target="_blank" { (connection.credentials.instance_url) } }))
                    (definition("Usages", html! {
                        @if connection.usages.is_empty() { span.muted { "None declared" } }
                        @else { ul.chips { @for usage in &connection.usages { li.chip { (usage.as_str()) } } } }
                    }))
                }
            }
        }
    }
}

fn edit_fields(
    session: &UiSession,
    connection: &ConnectionView,
    values: &EditValues,
    errors: &EditErrors,
    prefix: &str,
) -> Markup {
    let name_id = format!("{prefix}-name");
    let description_id = format!("{prefix}-description");
    html! {
        form.stack method="post" action={ (detail_path(&connection.id)) "/edit" } novalidate {
            (csrf_field(session))
            input type="hidden" name="version" value=(connection.version);
            @if let Some(error) = &errors.form { div.flash.error role="alert" { (error) } }
            div.field.has-error[errors.name.is_some()] {
                label for=(name_id) { "Name" }
                input id=(name_id) name="name" type="text" value=(values.name) required autocomplete="off"
                    aria-invalid=[errors.name.as_ref().map(|_| "true")]
                    aria-describedby=[errors.name.as_ref().map(|_| format!("{name_id}-error"))];
                @if let Some(error) = &errors.name { p.field-error id={ (name_id) "-error" } { (error) } }
            }
            div.field.has-error[errors.description.is_some()] {
                label for=(description_id) { "Description " span.optional { "(optional)" } }
                textarea id=(description_id) name="description" rows="3"
                    aria-invalid=[errors.description.as_ref().map(|_| "true")]
                    aria-describedby=[errors.description.as_ref().map(|_| format!("{description_id}-error"))] { (values.description) }
                @if let Some(error) = &errors.description { p.field-error id={ (description_id) "-error" } { (error) } }
            }
            div.form-actions {
                @if prefix == "dialog-edit" {
                    button type="button" class="button secondary" data-close-dialog { "Cancel" }
                } @else {
                    (link_button(ButtonKind::Secondary, "Cancel", &detail_path(&connection.id)))
                }
                button type="submit" class="button primary" { "Save" }
            }
        }
    }
}

fn delete_fields(session: &UiSession, connection: &ConnectionView, in_dialog: bool) -> Markup {
    let revoke_id = if in_dialog {
        "dialog-delete-revoke"
    } else {
        "delete-revoke"
    };
    html! {
        form.stack method="post" action={ (detail_path(&connection.id)) "/delete" } {
            (csrf_field(session))
            p { "Applications using " strong.wrap { (connection.name) } " lose access to GitLab at once. This cannot be undone." }
            label.choice for=(revoke_id) {
                input id=(revoke_id) type="checkbox" name="revoke_at_gitlab" value="true";
                span {
                    strong { "Also revoke the token at GitLab" }
                    span.hint {
                        @if connection.method == ConnectionMethod::OAuth { "Ends labgate's authorization at GitLab." }
                        @else { "The token stops working everywhere, not only in labgate." }
                    }
                }
            }
            div.form-actions {
                @if in_dialog {
                    button type="button" class="button secondary" data-close-dialog { "Cancel" }
                } @else {
                    (link_button(ButtonKind::Secondary, "Cancel", &detail_path(&connection.id)))
                }
                button type="submit" class="button danger" { "Delete connection" }
            }
        }
    }
}

fn action_form(
    session: &UiSession,
    connection: &ConnectionView,
    action: &str,
    label: &str,
    kind: ButtonKind,
) -> Markup {
    let class = match kind {
        ButtonKind::Primary => "button primary",
        ButtonKind::Secondary => "button secondary",
        ButtonKind::Danger => "button danger",
    };
    html! {
        form.inline-form method="post" action={ (detail_path(&connection.id)) "/" (action) } {
            (csrf_field(session))
            button type="submit" class=(class) { (label) }
        }
    }
}

fn breadcrumbs(connection: &ConnectionView, last: Option<&str>) -> Markup {
    html! {
        nav.breadcrumbs aria-label="Breadcrumbs" {
            a href=(LIST_PATH) { "App Connections" }
            span aria-hidden="true" { " / " }
            @match last {
                Some(last) => { a.wrap href=(detail_path(&connection.id)) { (connection.name) } span aria-hidden="true" { " / " } span { (last) } },
                None => span.wrap aria-current="page" { (connection.name) },
            }
        }
    }
}

/// `GET /organization/app-connections/{id}`.
pub async fn show(
    State(state): State<AppState>,
    session: UiSession,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let Some(id) = connection_id(&id) else {
        return not_found();
    };
    let connections = &state.services.connections;
    let connection = match connections.get(session.principal(), id).await {
        Ok(connection) => connection,
        Err(error) => return refused(&session, &error),
    };
    let events = match connections.events(session.principal(), id, 0, EVENTS_SHOWN).await {
        Ok(events) => events,
        Err(error) => return refused(&session, &error),
    };
    let job = Query::<DetailQuery>::try_from_uri(&uri)
        .ok()
        .and_then(|query| query.0.job)
        .filter(|job| uuid::Uuid::try_parse(job).is_ok() && job.len() == 36);
    let now = state.services.clock.now();
    let values = EditValues::of(&connection);
    let actions = html! {
        (action_form(&session, &connection, "check", "Check now", ButtonKind::Secondary))
        @match connection.method {
            ConnectionMethod::AccessToken => (action_form(&session, &connection, "rotate", "Rotate token", ButtonKind::Secondary)),
            ConnectionMethod::OAuth => (action_form(&session, &connection, "refresh", "Refresh token", ButtonKind::Secondary)),
        }
        a.button.secondary href={ (detail_path(&connection.id)) "/edit" } data-open-dialog="edit-connection" aria-haspopup="dialog" { "Edit" }
        a.button.danger href={ (detail_path(&connection.id)) "/delete" } data-open-dialog="delete-connection" aria-haspopup="dialog" { "Delete" }
    };
    let content = html! {
        (breadcrumbs(&connection, None))
        header.page-header.detail-header {
            div.detail-title {
                (gitlab_logo())
                div {
                    h1.wrap { (connection.name) }
                    div.header-badges {
                        (connection_status_badge(connection.status))
                        (badge(Tone::Neutral, method_label(connection.method)))
                        span.muted.small.mono { (instance_label(&connection.credentials.instance_url)) }
                    }
                    @if let Some(description) = connection.description.as_deref().filter(|text| !text.is_empty()) {
                        p.muted.wrap { (description) }
                    }
                }
            }
            div.actions { (actions) }
        }
        @if let Some(job) = &job {
            div.flash.info role="status" {
                "The token change goes on in the background. "
                a href=(job_path(job)) { "Follow the job" }
                " — this page shows the new token once it ends."
            }
        }
        @if !connection.status.is_usable() {
            div.callout.warning {
                strong { "This connection needs attention. " }
                @match connection.status_reason.as_deref() {
                    Some(reason) => (reason),
                    None => "Check it now to see what GitLab says.",
                }
            }
        }
        (cards(now, &connection))
        (timeline(now, &events.events, events.total_count))
        (modal("edit-connection", "Edit connection", edit_fields(&session, &connection, &values, &EditErrors::default(), "dialog-edit")))
        (modal("delete-connection", "Delete connection?", delete_fields(&session, &connection, true)))
    };
    page(&session, Nav::AppConnections, &connection.name, content)
}

/// Where an action ends: back on the connection with a message, or on a 404 page.
fn after_action(
    state: &AppState,
    session: &UiSession,
    id: &str,
    done: Result<Settled<ConnectionView>, CoreError>,
    success: impl FnOnce(&ConnectionView) -> String,
    running: &str,
) -> Response {
    match done {
        Ok(Settled::Done(connection)) => {
            let kind = if connection.status.is_usable() {
                FlashKind::Success
            } else {
                FlashKind::Error
            };
            redirect_with_flash(state, &detail_path(&connection.id), kind, &success(&connection))
        }
        Ok(Settled::Running(job)) => redirect_with_flash(
            state,
            &format!("{}?job={}", detail_path(id), job.id),
            FlashKind::Success,
            running,
        ),
        Err(CoreError::NotFound(_)) => not_found(),
        Err(CoreError::Forbidden(_)) => redirect_with_flash(
            state,
            &detail_path(id),
            FlashKind::Error,
            "Your role cannot change connections; ask an administrator of this tenant.",
        ),
        Err(CoreError::Internal(error)) => {
            tracing::error!(error = %error, "a connection action failed");
            refused(session, &CoreError::Internal(error))
        }
        Err(error) => redirect_with_flash(
            state,
            &detail_path(id),
            FlashKind::Error,
            &sentence(&error.to_string()),
        ),
    }
}

fn status_words(connection: &ConnectionView) -> String {
    match connection
        .status_reason
        .as_deref()
        .filter(|_| !connection.status.is_usable())
    {
        Some(reason) => format!("{}: {}", connection.status.as_str().replace('_', " "), reason),
        None => connection.status.as_str().replace('_', " "),
    }
}

/// `POST /organization/app-connections/{id}/check`.
pub async fn check(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<Vec<(String, String)>>,
) -> Response {
    let Some(id) = connection_id(&id) else {
        return not_found();
    };
    let wait = state.settings.token_change_wait();
    let done = state
        .services
        .connections
        .check_within(session.principal(), id, Some(wait))
        .await;
    after_action(
        &state,
        &session,
        id,
        done,
        |connection| sentence(&format!("Checked at GitLab: {}", status_words(connection))),
        "The check started a rotation that goes on in the background.",
    )
}

/// `POST /organization/app-connections/{id}/rotate`.
pub async fn rotate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<Vec<(String, String)>>,
) -> Response {
    let Some(id) = connection_id(&id) else {
        return not_found();
    };
    let wait = state.settings.token_change_wait();
    let done = state
        .services
        .connections
        .rotate_within(session.principal(), id, Some(wait))
        .await;
    after_action(
        &state,
        &session,
        id,
        done,
        |_| "Token rotated: GitLab issued a new token and labgate holds it now.".to_owned(),
        "The rotation goes on in the background.",
    )
}

/// `POST /organization/app-connections/{id}/refresh`.
pub async fn refresh(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<Vec<(String, String)>>,
) -> Response {
    let Some(id) = connection_id(&id) else {
        return not_found();
    };
    let wait = state.settings.token_change_wait();
    let done = state
        .services
        .connections
        .refresh_within(session.principal(), id, Some(wait))
        .await;
    after_action(
        &state,
        &session,
        id,
        done,
        |_| "Token refreshed: GitLab issued a new OAuth token.".to_owned(),
        "The refresh goes on in the background.",
    )
}

#[derive(Default)]
struct EditValues {
    name: String,
    description: String,
}

impl EditValues {
    fn of(connection: &ConnectionView) -> EditValues {
        EditValues {
            name: connection.name.clone(),
            description: connection.description.clone().unwrap_or_default(),
        }
    }
}

#[derive(Default)]
struct EditErrors {
    name: Option<String>,
    description: Option<String>,
    form: Option<String>,
}

fn edit_page(
    session: &UiSession,
    status: StatusCode,
    connection: &ConnectionView,
    values: &EditValues,
    errors: &EditErrors,
) -> Response {
    let content = html! {
        (breadcrumbs(connection, Some("Edit")))
        header.page-header { div { h1 { "Edit connection" } } }
        div.card.form-card { (edit_fields(session, connection, values, errors, "edit")) }
    };
    page_with_status(status, session, Nav::AppConnections, "Edit connection", content)
}

/// `GET /organization/app-connections/{id}/edit`.
pub async fn edit_form(
    State(state): State<AppState>,
    session: UiSession,
    Path(id): Path<String>,
) -> Response {
    let Some(id) = connection_id(&id) else {
        return not_found();
    };
    match state.services.connections.get(session.principal(), id).await {
        Ok(connection) => edit_page(
            &session,
            StatusCode::OK,
            &connection,
            &EditValues::of(&connection),
            &EditErrors::default(),
        ),
        Err(error) => refused(&session, &error),
    }
}

#[derive(Deserialize)]
pub struct EditForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    version: Option<i64>,
}

/// `POST /organization/app-connections/{id}/edit`: renames the connection or changes its
/// description; a change made meanwhile by someone else is said, not overwritten.
pub async fn edit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form }: CsrfForm<EditForm>,
) -> Response {
    let Some(id) = connection_id(&id) else {
        return not_found();
    };
    let connections = &state.services.connections;
    let connection = match connections.get(session.principal(), id).await {
        Ok(connection) => connection,
        Err(error) => return refused(&session, &error),
    };
    let values = EditValues {
        name: form.name.clone(),
        description: form.description.clone(),
    };
    if form.name.trim().is_empty() {
        let errors = EditErrors {
            name: Some("Enter a name for the connection.".into()),
            ..EditErrors::default()
        };
        return edit_page(
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            &connection,
            &values,
            &errors,
        );
    }
    let description = form.description.trim();
    let request = UpdateConnectionRequest {
        name: Some(form.name),
        description: Some((!description.is_empty()).then(|| description.to_owned())),
        version: form.version,
        ..UpdateConnectionRequest::default()
    };
    match connections.update(session.principal(), id, request).await {
        Ok(updated) => redirect_with_flash(
            &state,
            &detail_path(&updated.id),
            FlashKind::Success,
            "Connection saved.",
        ),
        Err(error) => {
            let mut errors = EditErrors::default();
            let status = match &error {
                CoreError::Validation { message, field } => {
                    let message = Some(sentence(message));
                    match field.unwrap_or_default() {
                        "name" => errors.name = message,
                        "description" => errors.description = message,
                        _ => errors.form = message,
                    }
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                CoreError::AlreadyExists(message) => {
                    errors.name = Some(sentence(message));
                    StatusCode::CONFLICT
                }
                CoreError::Conflict(_) => {
                    errors.form = Some(
                        "Someone changed this connection meanwhile. Its current values are shown; make your change again."
                            .into(),
                    );
                    StatusCode::CONFLICT
                }
                _ => return refused(&session, &error),
            };
            // After a change meanwhile, the form carries the connection's new version.
            let shown = match &error {
                CoreError::Conflict(_) => connections
                    .get(session.principal(), id)
                    .await
                    .unwrap_or(connection),
                _ => connection,
            };
            edit_page(&session, status, &shown, &values, &errors)
        }
    }
}

/// `GET /organization/app-connections/{id}/delete`: the confirmation, for browsers without the
/// script's dialog.
pub async fn delete_form(
    State(state): State<AppState>,
    session: UiSession,
    Path(id): Path<String>,
) -> Response {
    let Some(id) = connection_id(&id) else {
        return not_found();
    };
    match state.services.connections.get(session.principal(), id).await {
        Ok(connection) => {
            let content = html! {
                (breadcrumbs(&connection, Some("Delete")))
                header.page-header { div { h1 { "Delete connection?" } } }
                div.card.form-card.danger-zone { (delete_fields(&session, &connection, false)) }
            };
            page(&session, Nav::AppConnections, "Delete connection", content)
        }
        Err(error) => refused(&session, &error),
    }
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    revoke_at_gitlab: Option<String>,
}

/// `POST /organization/app-connections/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form }: CsrfForm<DeleteForm>,
) -> Response {
    let Some(id) = connection_id(&id) else {
        return not_found();
    };
    let revoke = form.revoke_at_gitlab.as_deref() == Some("true");
    match state
        .services
        .connections
        .delete(session.principal(), id, revoke)
        .await
    {
        Ok(deleted) => redirect_with_flash(
            &state,
            LIST_PATH,
            FlashKind::Success,
            &if revoke {
                format!(
                    "Connection “{}” deleted and its token revoked at GitLab.",
                    deleted.name
                )
            } else {
                format!("Connection “{}” deleted.", deleted.name)
            },
        ),
        Err(CoreError::NotFound(_)) => not_found(),
        Err(CoreError::Internal(error)) => refused(&session, &CoreError::Internal(error)),
        Err(error) => redirect_with_flash(
            &state,
            &detail_path(id),
            FlashKind::Error,
            &sentence(&error.to_string()),
        ),
    }
}
