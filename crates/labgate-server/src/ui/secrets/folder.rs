//! A project's page: environment tabs, the folder's trail, its sub-folders and secrets (values
//! masked; revealing one is a read, audited), adding, editing, deleting and `.env` imports.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use labgate_core::CoreError;
use labgate_core::secrets::{
    Folder, FolderListing, NewSecret, SecretChange, SecretEntry, SecretKey, SecretProject,
};
use maud::{Markup, html};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{
    Place, breadcrumbs, can_write, folder_url, load_project, project_path, project_tabs, refused, resolve,
    sentence,
};
use crate::state::AppState;
use crate::ui::components::{
    ButtonKind, button, empty_state, field_error, modal, open_dialog_button, page_header, relative_time,
    table,
};
use crate::ui::flash::{FlashKind, redirect_with_flash};
use crate::ui::layout::{Nav, page, page_with_status};
use crate::ui::{CsrfForm, UiSession, csrf_field, verify_csrf};

/// The header the reveal script sends the page's form token in: a page elsewhere cannot set
/// it, so no other site can make a browser read (and audit) a value.
pub const TOKEN_HEADER: &str = "x-csrf-token";

/// The fields a secret's forms post.
#[derive(Deserialize, Default)]
pub struct SecretForm {
    #[serde(default)]
    env: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    key: String,
    /// A rename, on edit.
    #[serde(default)]
    new_key: Option<String>,
    #[serde(default)]
    value: String,
    #[serde(default)]
    comment: String,
}

#[derive(Default)]
struct SecretErrors {
    key: Option<String>,
    value: Option<String>,
    comment: Option<String>,
    form: Option<String>,
}

fn place_fields(folder: &Folder) -> Markup {
    html! {
        input type="hidden" name="env" value=(folder.environment.as_str());
        input type="hidden" name="path" value=(folder.path.as_str());
    }
}

fn textarea(
    label: &str,
    name: &str,
    id_prefix: &str,
    value: &str,
    hint: Option<&str>,
    error: Option<&str>,
) -> Markup {
    let id = format!("{id_prefix}-{name}");
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    html! {
        div.field.has-error[error.is_some()] {
            label for=(id) { (label) }
            @if let Some(hint) = hint { p.hint id=(hint_id) { (hint) } }
            textarea id=(id) name=(name) rows="3" spellcheck="false" autocomplete="off"
                aria-invalid=[error.map(|_| "true")]
                aria-describedby=[error.map(|_| error_id.as_str()).or(hint.map(|_| hint_id.as_str()))] { (value) }
            (field_error(&error_id, error))
        }
    }
}

/// The form that adds a secret to `folder`.
fn add_fields(
    session: &UiSession,
    project: &SecretProject,
    folder: &Folder,
    form: &SecretForm,
    errors: &SecretErrors,
    id_prefix: &str,
) -> Markup {
    let key_id = format!("{id_prefix}-key");
    let key_error = format!("{key_id}-error");
    html! {
        form.stack method="post" action={ (project_path(project.id.as_str())) "/add" } {
            (csrf_field(session))
            (place_fields(folder))
            @if let Some(error) = &errors.form { div.flash.error role="alert" { (error) } }
            p.muted.small { "In " strong { (folder.environment.as_str()) } " · " span.mono { (folder.path.as_str()) } }
            div.field.has-error[errors.key.is_some()] {
                label for=(key_id) { "Key" }
                input id=(key_id) name="key" type="text" value=(form.key) required autocomplete="off" spellcheck="false"
                    placeholder="DATABASE_URL" aria-invalid=[errors.key.as_ref().map(|_| "true")]
                    aria-describedby=[errors.key.as_ref().map(|_| key_error.as_str())];
                (field_error(&key_error, errors.key.as_deref()))
            }
            (textarea("Value", "value", id_prefix, "", None, errors.value.as_deref()))
            (textarea("Comment", "comment", id_prefix, &form.comment, Some("Optional: what it is for, who owns it."), errors.comment.as_deref()))
            div.form-actions { (button(ButtonKind::Primary, "Add secret", None)) }
        }
    }
}

/// The form that changes one secret; a blank value keeps the current one.
fn edit_fields(
    session: &UiSession,
    project: &SecretProject,
    folder: &Folder,
    key: &str,
    form: &SecretForm,
    errors: &SecretErrors,
    id_prefix: &str,
) -> Markup {
    let key_id = format!("{id_prefix}-new_key");
    let key_error = format!("{key_id}-error");
    let new_key = form.new_key.as_deref().unwrap_or(key);
    html! {
        form.stack method="post" action={ (project_path(project.id.as_str())) "/edit" } {
            (csrf_field(session))
            (place_fields(folder))
            input type="hidden" name="key" value=(key);
            @if let Some(error) = &errors.form { div.flash.error role="alert" { (error) } }
            div.field.has-error[errors.key.is_some()] {
                label for=(key_id) { "Key" }
                input id=(key_id) name="new_key" type="text" value=(new_key) required autocomplete="off" spellcheck="false"
                    aria-invalid=[errors.key.as_ref().map(|_| "true")]
                    aria-describedby=[errors.key.as_ref().map(|_| key_error.as_str())];
                (field_error(&key_error, errors.key.as_deref()))
            }
            (textarea("New value", "value", id_prefix, "", Some("Leave blank to keep the current value. A change makes a new version."), errors.value.as_deref()))
            (textarea("Comment", "comment", id_prefix, &form.comment, None, errors.comment.as_deref()))
            div.form-actions { (button(ButtonKind::Primary, "Save secret", None)) }
        }
    }
}

fn import_fields(session: &UiSession, project: &SecretProject, folder: &Folder) -> Markup {
    html! {
        form.stack method="post" action={ (project_path(project.id.as_str())) "/import" } {
            (csrf_field(session))
            (place_fields(folder))
            p.muted.small { "Into " strong { (folder.environment.as_str()) } " · " span.mono { (folder.path.as_str()) } }
            div.field {
                label for="import-file" { "File" span.optional { " (optional)" } }
                input id="import-file" type="file" accept=".env,text/plain" data-read-into="import-content";
            }
            div.field {
                label for="import-content" { ".env content" }
                p.hint id="import-content-hint" { "KEY=value lines; # comments and blank lines are skipped." }
                textarea id="import-content" name="content" rows="8" spellcheck="false" autocomplete="off"
                    aria-describedby="import-content-hint" placeholder="DATABASE_URL=postgres://…" {}
            }
            label.checkbox { input type="checkbox" name="overwrite" value="true"; "Overwrite secrets that already exist" }
            div.form-actions { (button(ButtonKind::Primary, "Import", None)) }
        }
    }
}

/// The masked value with its reveal and copy buttons (the script fetches the value from
/// `url`).
pub fn masked_value(url: &str, label: &str) -> Markup {
    html! {
        div.secret-value {
            code.masked data-secret-value aria-live="polite" { "••••••••" }
            button type="button" class="button secondary small" data-reveal=(url) aria-label={ "Reveal " (label) } { "Reveal" }
            button type="button" class="button secondary small" data-copy-secret=(url) aria-label={ "Copy " (label) } { "Copy" }
        }
    }
}

pub fn value_url(project: &SecretProject, folder: &Folder, key: &str, version: Option<u32>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("env", folder.environment.as_str())
        .append_pair("path", folder.path.as_str())
        .append_pair("key", key);
    if let Some(version) = version {
        query.append_pair("version", &version.to_string());
    }
    format!("{}/value?{}", project_path(project.id.as_str()), query.finish())
}

pub fn history_url(project: &SecretProject, folder: &Folder, key: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("env", folder.environment.as_str())
        .append_pair("path", folder.path.as_str())
        .append_pair("key", key)
        .finish();
    format!("{}/history?{query}", project_path(project.id.as_str()))
}

fn secret_row(
    state: &AppState,
    session: &UiSession,
    project: &SecretProject,
    folder: &Folder,
    secret: &SecretEntry,
    index: usize,
) -> Markup {
    let now = state.services.clock.now();
    let key = secret.key.as_str();
    let edit_id = format!("edit-secret-{index}");
    let form = SecretForm {
        comment: secret.comment.clone(),
        ..SecretForm::default()
    };
    html! {
        tr data-secret-key=(key) {
            td.key-cell {
                span.mono.primary-text { (key) }
                @if !secret.comment.is_empty() { div.secondary-text.clamp { (secret.comment) } }
            }
            td.value-cell { (masked_value(&value_url(project, folder, key, None), key)) }
            td.numeric { "v" (secret.version) }
            td { (relative_time(now, secret.updated_at)) }
            td.row-actions {
                a.button.secondary.small href=(history_url(project, folder, key)) aria-label={ "History of " (key) } { "History" }
                @if can_write(session) {
                    button type="button" class="button secondary small" data-open-dialog=(edit_id) aria-haspopup="dialog" aria-label={ "Edit " (key) } { "Edit" }
                    form method="post" action={ (project_path(project.id.as_str())) "/remove" } {
                        (csrf_field(session))
                        (place_fields(folder))
                        input type="hidden" name="key" value=(key);
                        button type="submit" class="button danger small" aria-label={ "Delete " (key) }
                            data-confirm={ "Delete the secret " (key) " with its history? This cannot be undone." } { "Delete" }
                    }
                }
            }
        }
        @if can_write(session) {
            (modal(&edit_id, &format!("Edit {key}"), edit_fields(session, project, folder, key, &form, &SecretErrors::default(), &edit_id)))
        }
    }
}

/// The environment tabs, each opening the same folder.
fn environment_tabs(project: &SecretProject, folder: &Folder) -> Markup {
    html! {
        nav.env-tabs aria-label="Environments" {
            @for environment in &project.environments {
                a href=(folder_url(project.id.as_str(), environment.slug.as_str(), folder.path.as_str()))
                    aria-current=[(environment.slug == folder.environment).then_some("page")] {
                    (environment.name) " " span.mono.muted { (environment.slug) }
                }
            }
        }
    }
}

/// `/ app / db`, each segment a link to its folder, and a box to go to (or make) any folder.
fn folder_trail(project: &SecretProject, folder: &Folder) -> Markup {
    let id = project.id.as_str();
    let env = folder.environment.as_str();
    // Each segment with the path of its folder: `app` → `/app`, `db` → `/app/db`.
    let mut trail: Vec<(&str, String)> = Vec::new();
    for segment in folder.path.as_str().split('/').filter(|s| !s.is_empty()) {
        let parent = trail.last().map_or("", |(_, path)| path.as_str());
        let path = format!("{parent}/{segment}");
        trail.push((segment, path));
    }
    html! {
        div.folder-bar {
            nav.folder-trail aria-label="Folder" {
                a.mono href=(folder_url(id, env, "/")) aria-current=[folder.path.is_root().then_some("page")] { "/" }
                @for (index, (segment, path)) in trail.iter().enumerate() {
                    @if index > 0 { span.muted aria-hidden="true" { " / " } }
                    a.mono href=(folder_url(id, env, path)) aria-current=[(index + 1 == trail.len()).then_some("page")] { (segment) }
                }
            }
            form.go-folder method="get" action=(project_path(id)) {
                input type="hidden" name="env" value=(env);
                label.visually-hidden for="go-path" { "Folder path" }
                input id="go-path" type="text" name="path" value=(folder.path.as_str()) spellcheck="false" autocomplete="off";
                button type="submit" class="button secondary small" { "Go to folder" }
            }
        }
    }
}

struct Shown<'a> {
    add: Option<(&'a SecretForm, &'a SecretErrors)>,
}

fn project_page(
    state: &AppState,
    session: &UiSession,
    status: StatusCode,
    project: &SecretProject,
    folder: &Folder,
    listing: &FolderListing,
    shown: &Shown<'_>,
) -> Response {
    let writer = can_write(session);
    let actions = html! {
        @if writer {
            (open_dialog_button(ButtonKind::Secondary, "Import .env", "import-dotenv"))
            (open_dialog_button(ButtonKind::Primary, "Add secret", "add-secret"))
        }
    };
    let id = project.id.as_str();
    let env = folder.environment.as_str();
    let content = html! {
        (breadcrumbs(project, None))
        (page_header(&project.name, Some("Secrets by environment and folder. Values stay hidden until you reveal one; every reveal is in the audit log."), actions))
        (project_tabs(project, false))
        (environment_tabs(project, folder))
        (folder_trail(project, folder))
        @if let Some((form, errors)) = shown.add {
            section.card.form-card aria-labelledby="add-again" {
                h2 id="add-again" { "Add secret" }
                (add_fields(session, project, folder, form, errors, "add"))
            }
        }
        @if listing.secrets.is_empty() && listing.folders.is_empty() {
            (empty_state(
                if folder.path.is_root() { "No secrets in this environment yet" } else { "This folder is empty" },
                "Add a secret or import a .env file. A folder exists once it holds a secret.",
                html! { @if writer { (open_dialog_button(ButtonKind::Primary, "Add secret", "add-secret")) } },
            ))
        } @else {
            (table("Secrets", &["Key", "Value", "Version", "Updated", ""], html! {
                @for name in &listing.folders {
                    @let path = if folder.path.is_root() { format!("/{name}") } else { format!("{}/{name}", folder.path) };
                    tr.folder-row {
                        td colspan="5" {
                            a.row-link href=(folder_url(id, env, &path)) { span.folder-icon aria-hidden="true" { "▸" } " " span.mono { (name) "/" } }
                        }
                    }
                }
                @for (index, secret) in listing.secrets.iter().enumerate() { (secret_row(state, session, project, folder, secret, index)) }
            }))
            p.table-footer.muted {
                (listing.secrets.len()) " secret" @if listing.secrets.len() != 1 { "s" }
                @if !listing.folders.is_empty() { " · " (listing.folders.len()) " folder" @if listing.folders.len() != 1 { "s" } }
            }
        }
        @if writer {
            (modal("add-secret", "Add secret", add_fields(session, project, folder, &SecretForm::default(), &SecretErrors::default(), "dialog-add")))
            (modal("import-dotenv", "Import a .env file", import_fields(session, project, folder)))
        }
    };
    page_with_status(status, session, Nav::Secrets, &project.name, content)
}

/// `GET /secrets/{project}?env=&path=`.
pub async fn show(
    State(state): State<AppState>,
    session: UiSession,
    Path(id): Path<String>,
    Query(place): Query<Place>,
) -> Response {
    let project = match load_project(&state, &session, &id).await {
        Ok(project) => project,
        Err(error) => return refused(&session, &error),
    };
    let folder = match resolve(&project, &place) {
        Ok(folder) => folder,
        Err(error) => return refused(&session, &error),
    };
    match state.services.secrets.browse(session.principal(), &folder).await {
        Ok(listing) => project_page(
            &state,
            &session,
            StatusCode::OK,
            &project,
            &folder,
            &listing,
            &Shown { add: None },
        ),
        Err(error) => refused(&session, &error),
    }
}

fn folder_of(form: &SecretForm) -> Place {
    Place {
        env: Some(form.env.clone()),
        path: Some(form.path.clone()),
    }
}

/// Where an error of core goes on a secret's form.
fn errors_of(error: CoreError) -> Result<(StatusCode, SecretErrors), CoreError> {
    let mut errors = SecretErrors::default();
    let status = match error {
        CoreError::Validation { message, field } => {
            let message = Some(sentence(&message));
            match field.unwrap_or_default() {
                "secretKey" | "newSecretName" | "secrets" => errors.key = message,
                "secretValue" | "value" => errors.value = message,
                "secretComment" => errors.comment = message,
                _ => errors.form = message,
            }
            StatusCode::UNPROCESSABLE_ENTITY
        }
        CoreError::AlreadyExists(message) => {
            errors.key = Some(sentence(&message));
            StatusCode::CONFLICT
        }
        CoreError::Conflict(message) => {
            errors.form = Some(sentence(&message));
            StatusCode::CONFLICT
        }
        other => return Err(other),
    };
    Ok((status, errors))
}

fn comment_of(text: &str) -> Option<String> {
    Some(text.trim().to_owned())
}

/// `POST /secrets/{project}/add`.
pub async fn add(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form }: CsrfForm<SecretForm>,
) -> Response {
    let project = match load_project(&state, &session, &id).await {
        Ok(project) => project,
        Err(error) => return refused(&session, &error),
    };
    let folder = match resolve(&project, &folder_of(&form)) {
        Ok(folder) => folder,
        Err(error) => return refused(&session, &error),
    };
    let secrets = &state.services.secrets;
    let created = match SecretKey::parse(form.key.trim()) {
        Ok(key) => {
            secrets
                .create(
                    session.principal(),
                    &folder,
                    NewSecret {
                        key,
                        value: SecretString::from(form.value.clone()),
                        comment: comment_of(&form.comment),
                        tags: None,
                    },
                )
                .await
        }
        Err(error) => Err(error),
    };
    let error = match created {
        Ok(secret) => {
            return redirect_with_flash(
                &state,
                &folder_url(
                    project.id.as_str(),
                    folder.environment.as_str(),
                    folder.path.as_str(),
                ),
                FlashKind::Success,
                &format!("Secret {} added.", secret.key),
            );
        }
        Err(error) => error,
    };
    let (status, errors) = match errors_of(error) {
        Ok(shown) => shown,
        Err(error) => return refused(&session, &error),
    };
    match secrets.browse(session.principal(), &folder).await {
        Ok(listing) => project_page(
            &state,
            &session,
            status,
            &project,
            &folder,
            &listing,
            &Shown {
                add: Some((&form, &errors)),
            },
        ),
        Err(error) => refused(&session, &error),
    }
}

/// `POST /secrets/{project}/edit`: a new version when the value, comment or key changes.
pub async fn edit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form }: CsrfForm<SecretForm>,
) -> Response {
    let project = match load_project(&state, &session, &id).await {
        Ok(project) => project,
        Err(error) => return refused(&session, &error),
    };
    let folder = match resolve(&project, &folder_of(&form)) {
        Ok(folder) => folder,
        Err(error) => return refused(&session, &error),
    };
    let Ok(key) = SecretKey::parse(&form.key) else {
        return refused(&session, &CoreError::NotFound("secret"));
    };
    let new_key = form
        .new_key
        .as_deref()
        .map(str::trim)
        .filter(|new| !new.is_empty() && *new != key.as_str());
    let change = new_key
        .map(SecretKey::parse)
        .transpose()
        .map(|new_key| SecretChange {
            key: key.clone(),
            new_key,
            value: (!form.value.is_empty()).then(|| SecretString::from(form.value.clone())),
            comment: comment_of(&form.comment),
            tags: None,
        });
    let updated = match change {
        Ok(change) => {
            state
                .services
                .secrets
                .update(session.principal(), &folder, change)
                .await
        }
        Err(error) => Err(error),
    };
    let error = match updated {
        Ok(secret) => {
            return redirect_with_flash(
                &state,
                &folder_url(
                    project.id.as_str(),
                    folder.environment.as_str(),
                    folder.path.as_str(),
                ),
                FlashKind::Success,
                &format!("Secret {} saved (version {}).", secret.key, secret.version),
            );
        }
        Err(error) => error,
    };
    let (status, errors) = match errors_of(error) {
        Ok(shown) => shown,
        Err(error) => return refused(&session, &error),
    };
    let content = html! {
        (breadcrumbs(&project, Some(&format!("Edit {key}"))))
        header.page-header { div { h1 { "Edit " span.mono { (key.as_str()) } } } }
        div.card.form-card { (edit_fields(&session, &project, &folder, key.as_str(), &form, &errors, "edit")) }
    };
    page_with_status(status, &session, Nav::Secrets, "Edit secret", content)
}

/// `POST /secrets/{project}/remove`: deletes a secret with its history.
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form }: CsrfForm<SecretForm>,
) -> Response {
    let project = match load_project(&state, &session, &id).await {
        Ok(project) => project,
        Err(error) => return refused(&session, &error),
    };
    let folder = match resolve(&project, &folder_of(&form)) {
        Ok(folder) => folder,
        Err(error) => return refused(&session, &error),
    };
    let Ok(key) = SecretKey::parse(&form.key) else {
        return refused(&session, &CoreError::NotFound("secret"));
    };
    match state
        .services
        .secrets
        .delete(session.principal(), &folder, &key)
        .await
    {
        Ok(deleted) => redirect_with_flash(
            &state,
            &folder_url(
                project.id.as_str(),
                folder.environment.as_str(),
                folder.path.as_str(),
            ),
            FlashKind::Success,
            &format!("Secret {} deleted.", deleted.key),
        ),
        Err(error) => refused(&session, &error),
    }
}

#[derive(Deserialize, Default)]
pub struct ImportForm {
    #[serde(default)]
    env: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    overwrite: Option<String>,
}

fn key_list(title: &str, keys: &[String], tone: &str) -> Markup {
    html! {
        section.card.compact.import-group {
            div.card-title-row { h2 { (title) } span class={ "badge " (tone) } { (keys.len()) } }
            @if keys.is_empty() { p.muted { "None" } }
            @else { ul.chips { @for key in keys { li.chip { (key) } } } }
        }
    }
}

/// `POST /secrets/{project}/import`: writes a `.env` file's pairs and says what it did by key.
pub async fn import(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form }: CsrfForm<ImportForm>,
) -> Response {
    let project = match load_project(&state, &session, &id).await {
        Ok(project) => project,
        Err(error) => return refused(&session, &error),
    };
    let place = Place {
        env: Some(form.env.clone()),
        path: Some(form.path.clone()),
    };
    let folder = match resolve(&project, &place) {
        Ok(folder) => folder,
        Err(error) => return refused(&session, &error),
    };
    let back = folder_url(
        project.id.as_str(),
        folder.environment.as_str(),
        folder.path.as_str(),
    );
    let overwrite = form.overwrite.as_deref() == Some("true");
    let summary = match state
        .services
        .secrets
        .import_dotenv(session.principal(), &folder, &form.content, overwrite)
        .await
    {
        Ok(summary) => summary,
        Err(CoreError::Validation { message, .. }) => {
            return redirect_with_flash(
                &state,
                &back,
                FlashKind::Error,
                &format!("Nothing was imported: {}", sentence(&message)),
            );
        }
        Err(error) => return refused(&session, &error),
    };
    let content = html! {
        (breadcrumbs(&project, Some("Import")))
        (page_header(".env imported", Some(&format!("Into {} · {}", folder.environment, folder.path)),
            html! { a.button.primary href=(back) { "Back to the folder" } }))
        div.import-summary {
            (key_list("Created", &summary.created, "success"))
            (key_list("Updated", &summary.updated, "info"))
            (key_list("Unchanged", &summary.unchanged, "neutral"))
        }
        @if !overwrite && !summary.unchanged.is_empty() {
            p.muted { "Keys that already existed were left as they were: import again with “Overwrite” to replace their values." }
        }
    };
    page(&session, Nav::Secrets, ".env imported", content)
}

#[derive(Deserialize, Default)]
pub struct ValueQuery {
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    key: String,
    #[serde(default)]
    version: Option<u32>,
}

fn json_error(status: StatusCode, message: &str) -> Response {
    let mut response = (status, Json(serde_json::json!({ "error": message }))).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /secrets/{project}/value?env=&path=&key=[&version=]`: one value for the page's
/// script, with the form token in [`TOKEN_HEADER`]. A read: audited like any other.
pub async fn value(
    State(state): State<AppState>,
    session: UiSession,
    Path(id): Path<String>,
    Query(query): Query<ValueQuery>,
    headers: HeaderMap,
) -> Response {
    let presented = headers.get(TOKEN_HEADER).and_then(|value| value.to_str().ok());
    if !presented.is_some_and(|token| verify_csrf(&session, token)) {
        return json_error(StatusCode::FORBIDDEN, "reload the page and try again");
    }
    let found = async {
        let project = load_project(&state, &session, &id).await?;
        let folder = resolve(
            &project,
            &Place {
                env: query.env.clone(),
                path: query.path.clone(),
            },
        )?;
        let key = SecretKey::parse(&query.key).map_err(|_| CoreError::NotFound("secret"))?;
        state
            .services
            .secrets
            .get(session.principal(), &folder, &key, query.version)
            .await
    }
    .await;
    match found {
        Ok(secret) => {
            let mut response = Json(serde_json::json!({
                "key": secret.key.as_str(),
                "version": secret.version,
                "value": secret.value.expose_secret(),
            }))
            .into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(CoreError::NotFound(what)) => json_error(StatusCode::NOT_FOUND, &format!("no such {what}")),
        Err(CoreError::Forbidden(_)) => json_error(StatusCode::FORBIDDEN, "your role cannot read secrets"),
        Err(CoreError::Validation { .. }) => json_error(StatusCode::BAD_REQUEST, "no such folder"),
        Err(error) => {
            tracing::error!(error = %error, "cannot read a secret for a page");
            json_error(StatusCode::SERVICE_UNAVAILABLE, "try again in a moment")
        }
    }
}
