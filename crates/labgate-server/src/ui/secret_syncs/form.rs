//! Creating a sync: which folder (project, environment, path), through which connection, to
//! which GitLab project or group, and how. core checks the destination at GitLab; what it
//! refuses is said next to the field it concerns.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use labgate_core::CoreError;
use labgate_core::ids::SecretProjectId;
use labgate_core::secrets::SecretProject;
use labgate_proto::connections::ConnectionView;
use labgate_proto::secret_syncs::{
    CreateSecretSyncRequest, GitLabDestinationConfig, InitialSyncBehavior, SyncOptions, SyncScope,
};
use maud::{Markup, html};
use serde::Deserialize;

use super::{LIST_PATH, detail_path, refused};
use crate::state::AppState;
use crate::ui::components::{
    ButtonKind, Field, button, empty_state, field, field_error, link_button, page_header,
};
use crate::ui::flash::{FlashKind, redirect_with_flash};
use crate::ui::layout::{Nav, page_with_status};
use crate::ui::secrets::can_write;
use crate::ui::{CsrfForm, UiSession, csrf_field};

const NEW_PATH: &str = "/secret-syncs/new";

#[derive(Deserialize, Default)]
pub struct NewQuery {
    project: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
pub struct SyncForm {
    #[serde(default)]
    project: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    connection_id: String,
    #[serde(default)]
    environment: String,
    #[serde(default)]
    secret_path: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    destination_id: String,
    #[serde(default)]
    target_environment: String,
    #[serde(default)]
    protect: Option<String>,
    #[serde(default)]
    mask: Option<String>,
    #[serde(default)]
    hide: Option<String>,
    #[serde(default)]
    key_schema: String,
    #[serde(default)]
    initial_sync_behavior: String,
    #[serde(default)]
    disable_deletion: Option<String>,
    #[serde(default)]
    auto_sync: Option<String>,
}

impl SyncForm {
    fn initial(project: &SecretProject) -> SyncForm {
        SyncForm {
            project: project.id.to_string(),
            environment: project
                .environments
                .first()
                .map(|environment| environment.slug.to_string())
                .unwrap_or_default(),
            secret_path: "/".to_owned(),
            scope: SyncScope::Project.as_str().to_owned(),
            target_environment: "*".to_owned(),
            initial_sync_behavior: InitialSyncBehavior::OverwriteDestination.as_str().to_owned(),
            auto_sync: Some("true".to_owned()),
            ..SyncForm::default()
        }
    }

    fn request(&self) -> CreateSecretSyncRequest {
        let checked = |value: &Option<String>| value.as_deref() == Some("true");
        let scope = SyncScope::parse(&self.scope).unwrap_or(SyncScope::Project);
        let destination = Some(self.destination_id.trim().to_owned()).filter(|id| !id.is_empty());
        let target = self.target_environment.trim();
        let key_schema = self.key_schema.trim();
        let description = self.description.trim();
        CreateSecretSyncRequest {
            name: self.name.trim().to_owned(),
            description: (!description.is_empty()).then(|| description.to_owned()),
            connection_id: self.connection_id.clone(),
            project_id: self.project.clone(),
            environment: self.environment.clone(),
            secret_path: self.secret_path.trim().to_owned(),
            is_auto_sync_enabled: Some(checked(&self.auto_sync)),
            destination_config: GitLabDestinationConfig {
                scope,
                project_id: (scope == SyncScope::Project)
                    .then(|| destination.clone())
                    .flatten(),
                project_name: None,
                group_id: (scope == SyncScope::Group).then_some(destination).flatten(),
                group_name: None,
                target_environment: (!target.is_empty()).then(|| target.to_owned()),
                should_protect_secrets: checked(&self.protect),
                should_mask_secrets: checked(&self.mask),
                should_hide_secrets: checked(&self.hide),
                variable_type: None,
                expand_variables: false,
                description: None,
            },
            sync_options: SyncOptions {
                initial_sync_behavior: InitialSyncBehavior::parse(&self.initial_sync_behavior)
                    .unwrap_or(InitialSyncBehavior::OverwriteDestination),
                key_schema: (!key_schema.is_empty()).then(|| key_schema.to_owned()),
                disable_secret_deletion: checked(&self.disable_deletion),
                delete_unowned_matching_keys: false,
            },
        }
    }
}

#[derive(Default)]
struct SyncErrors {
    name: Option<String>,
    description: Option<String>,
    connection_id: Option<String>,
    environment: Option<String>,
    secret_path: Option<String>,
    destination_id: Option<String>,
    target_environment: Option<String>,
    key_schema: Option<String>,
    form: Option<String>,
}

impl SyncErrors {
    /// Puts core's refusal next to the field it names.
    fn of(error: CoreError) -> Result<(StatusCode, SyncErrors), CoreError> {
        let mut errors = SyncErrors::default();
        let status = match error {
            CoreError::Validation { message, field } => {
                let message = Some(crate::api::oauth::sentence(&message));
                match field.unwrap_or_default() {
                    "name" => errors.name = message,
                    "description" => errors.description = message,
                    "connectionId" => errors.connection_id = message,
                    "environment" => errors.environment = message,
                    "secretPath" => errors.secret_path = message,
                    "destinationConfig.projectId"
                    | "destinationConfig.groupId"
                    | "destinationConfig.scope" => {
                        errors.destination_id = message;
                    }
                    "destinationConfig.targetEnvironment" => errors.target_environment = message,
                    "syncOptions.keySchema" => errors.key_schema = message,
                    _ => errors.form = message,
                }
                StatusCode::UNPROCESSABLE_ENTITY
            }
            CoreError::AlreadyExists(message) => {
                errors.name = Some(crate::api::oauth::sentence(&message));
                StatusCode::CONFLICT
            }
            CoreError::Unavailable(message) => {
                errors.form = Some(crate::api::oauth::sentence(&message));
                StatusCode::SERVICE_UNAVAILABLE
            }
            other => return Err(other),
        };
        Ok((status, errors))
    }
}

fn described(id: &str, hint: bool, error: bool) -> Option<String> {
    let ids: Vec<String> = [
        hint.then(|| format!("{id}-hint")),
        error.then(|| format!("{id}-error")),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!ids.is_empty()).then(|| ids.join(" "))
}

fn select(
    label: &str,
    name: &str,
    options: &[(String, String)],
    selected: &str,
    hint: Option<&str>,
    error: Option<&str>,
) -> Markup {
    let id = format!("field-{name}");
    html! {
        div.field.has-error[error.is_some()] {
            label for=(id) { (label) }
            @if let Some(hint) = hint { p.hint id={ (id) "-hint" } { (hint) } }
            select id=(id) name=(name) aria-invalid=[error.map(|_| "true")] aria-describedby=[described(&id, hint.is_some(), error.is_some())] {
                @for (value, text) in options {
                    option value=(value) selected[value == selected] { (text) }
                }
            }
            (field_error(&format!("{id}-error"), error))
        }
    }
}

fn checkbox(name: &str, label: &str, hint: &str, checked: bool) -> Markup {
    html! {
        label.choice {
            input type="checkbox" name=(name) value="true" checked[checked];
            span { strong { (label) } span.hint { (hint) } }
        }
    }
}

fn text_field<'a>(
    label: &'a str,
    name: &'a str,
    value: &'a str,
    hint: Option<&'a str>,
    error: Option<&'a str>,
) -> Field<'a> {
    let mut field = Field::new(label, name, "text");
    field.value = Some(value);
    field.hint = hint;
    field.error = error;
    field
}

fn form_markup(
    session: &UiSession,
    project: &SecretProject,
    connections: &[ConnectionView],
    form: &SyncForm,
    errors: &SyncErrors,
) -> Markup {
    let connection_options: Vec<(String, String)> = connections
        .iter()
        .map(|connection| {
            (
                connection.id.clone(),
                format!(
                    "{} · {}",
                    connection.name,
                    super::super::connections::instance_label(&connection.credentials.instance_url)
                ),
            )
        })
        .collect();
    let environment_options: Vec<(String, String)> = project
        .environments
        .iter()
        .map(|environment| {
            (
                environment.slug.to_string(),
                format!("{} ({})", environment.name, environment.slug),
            )
        })
        .collect();
    let behaviours = [
        (
            InitialSyncBehavior::OverwriteDestination,
            "Overwrite GitLab's variables with labgate's values",
        ),
        (
            InitialSyncBehavior::ImportPrioritizeSource,
            "Import GitLab's variables first; labgate's values win",
        ),
        (
            InitialSyncBehavior::ImportPrioritizeDestination,
            "Import GitLab's variables first; GitLab's values win",
        ),
    ]
    .map(|(behaviour, text)| (behaviour.as_str().to_owned(), text.to_owned()));
    let checked = |value: &Option<String>| value.as_deref() == Some("true");
    let scope = SyncScope::parse(&form.scope).unwrap_or(SyncScope::Project);
    html! {
        form.stack method="post" action=(NEW_PATH) {
            (csrf_field(session))
            input type="hidden" name="project" value=(form.project);
            @if let Some(error) = &errors.form { div.flash.error role="alert" { (error) } }
            h2.section-title { "Source" }
            p.muted.small { "Project " strong { (project.name) } }
            div.form-row {
                (select("Environment", "environment", &environment_options, &form.environment, Some("Whose secrets are synced."), errors.environment.as_deref()))
                (field(&text_field("Secret path", "secret_path", &form.secret_path, Some("The folder whose secrets are synced, e.g. / or /app."), errors.secret_path.as_deref())))
            }
            h2.section-title { "Destination" }
            (select("Connection", "connection_id", &connection_options, &form.connection_id, Some("The GitLab connection that writes the variables. Its user needs the Maintainer role there."), errors.connection_id.as_deref()))
            fieldset.choice-group {
                legend { "Scope" }
                div.choices.inline-choices {
                    label.choice { input type="radio" name="scope" value="project" checked[scope == SyncScope::Project]; span { strong { "Project" } span.hint { "One project's CI/CD variables" } } }
                    label.choice { input type="radio" name="scope" value="group" checked[scope == SyncScope::Group]; span { strong { "Group" } span.hint { "A group's CI/CD variables, for all its projects" } } }
                }
            }
            (field(&text_field("Project or group", "destination_id", &form.destination_id, Some("Its numeric id or full path, e.g. 42 or acme/api."), errors.destination_id.as_deref())))
            (field(&text_field("Environment scope", "target_environment", &form.target_environment, Some("GitLab's environment scope of the variables: * for all environments."), errors.target_environment.as_deref())))
            h2.section-title { "Variables" }
            div.choices {
                (checkbox("protect", "Protect", "Only pipelines on protected branches and tags see them.", checked(&form.protect)))
                (checkbox("mask", "Mask", "GitLab hides the values in job logs.", checked(&form.mask)))
                (checkbox("hide", "Mask and hide", "Nobody can see the values in GitLab again (set when a variable is created).", checked(&form.hide)))
            }
            (field(&text_field("Key schema", "key_schema", &form.key_schema, Some("Optional: how a secret's key becomes the variable's, e.g. APP_{{secretKey}}."), errors.key_schema.as_deref())))
            (select("Initial sync", "initial_sync_behavior", &behaviours, &form.initial_sync_behavior, Some("What the first sync does with variables GitLab already has."), None))
            div.choices {
                (checkbox("disable_deletion", "Never delete variables", "Keep variables at GitLab even when their secret is deleted.", checked(&form.disable_deletion)))
                (checkbox("auto_sync", "Auto-sync", "Sync again whenever a secret of the folder changes.", checked(&form.auto_sync)))
            }
            h2.section-title { "Details" }
            (field(&{ let mut name = text_field("Name", "name", &form.name, Some("Lowercase letters, digits and dashes, unique in the project."), errors.name.as_deref()); name.required = true; name }))
            (field(&text_field("Description", "description", &form.description, None, errors.description.as_deref())))
            div.form-actions {
                a.button.secondary href=(LIST_PATH) { "Cancel" }
                (button(ButtonKind::Primary, "Create sync", None))
            }
        }
    }
}

fn form_page(
    session: &UiSession,
    status: StatusCode,
    project: &SecretProject,
    connections: &[ConnectionView],
    form: &SyncForm,
    errors: &SyncErrors,
) -> Response {
    let title = "Add secret sync";
    let content = html! {
        nav.breadcrumbs aria-label="Breadcrumb" {
            a href=(LIST_PATH) { "Secret syncs" } span aria-hidden="true" { " / " } span aria-current="page" { "Add" }
        }
        (page_header(title, Some("Copy a folder of secrets into GitLab CI/CD variables. labgate checks that the connection can write there before saving."), html! {}))
        @if connections.is_empty() {
            (empty_state("No GitLab connection yet", "A sync writes through one of this tenant's GitLab connections. Add one first.",
                link_button(ButtonKind::Primary, "Add a connection", "/organization/app-connections/new")))
        } @else {
            div.card.form-card.wide-form { (form_markup(session, project, connections, form, errors)) }
        }
    };
    page_with_status(status, session, Nav::SecretSyncs, title, content)
}

async fn connections(state: &AppState, session: &UiSession) -> Result<Vec<ConnectionView>, CoreError> {
    Ok(state
        .services
        .connections
        .list(session.principal(), None, None, 0, Some(100))
        .await?
        .app_connections)
}

/// The page that picks the project when none is given and the tenant has several.
fn choose_project(session: &UiSession, projects: &[SecretProject]) -> Response {
    let title = "Add secret sync";
    let content = html! {
        (page_header(title, Some("Which project's secrets should be synced?"), html! {}))
        @if projects.is_empty() {
            (empty_state("No projects yet", "Syncs copy secrets from a project. Create one first.",
                link_button(ButtonKind::Primary, "Go to Secrets", Nav::Secrets.path())))
        } @else {
            div.option-list.form-card {
                @for project in projects {
                    a.option-card href={ (NEW_PATH) "?project=" (project.id) } {
                        span.option-text { strong { (project.name) } span.hint.mono { (project.slug) } }
                        span.option-arrow aria-hidden="true" { "›" }
                    }
                }
            }
        }
    };
    page_with_status(StatusCode::OK, session, Nav::SecretSyncs, title, content)
}

/// `GET /secret-syncs/new[?project=]`.
pub async fn new_form(
    State(state): State<AppState>,
    session: UiSession,
    Query(query): Query<NewQuery>,
) -> Response {
    if !can_write(&session) {
        return refused(&session, &CoreError::Forbidden("write".into()));
    }
    let principal = session.principal();
    let project = match query.project.as_deref() {
        Some(id) => match SecretProjectId::parse(id) {
            Some(id) => state.services.secrets.project(principal, &id).await,
            None => Err(CoreError::NotFound("project")),
        },
        None => match state.services.secrets.projects(principal, 0, 200).await {
            Ok((mut projects, _)) if projects.len() == 1 => {
                projects.pop().ok_or(CoreError::NotFound("project"))
            }
            Ok((projects, _)) => return choose_project(&session, &projects),
            Err(error) => Err(error),
        },
    };
    let project = match project {
        Ok(project) => project,
        Err(error) => return refused(&session, &error),
    };
    let connections = match connections(&state, &session).await {
        Ok(connections) => connections,
        Err(error) => return refused(&session, &error),
    };
    let mut form = SyncForm::initial(&project);
    form.connection_id = connections
        .first()
        .map(|connection| connection.id.clone())
        .unwrap_or_default();
    form_page(
        &session,
        StatusCode::OK,
        &project,
        &connections,
        &form,
        &SyncErrors::default(),
    )
}

/// `POST /secret-syncs/new`.
pub async fn create(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<SyncForm>,
) -> Response {
    let principal = session.principal();
    let project = match SecretProjectId::parse(&form.project) {
        Some(id) => state.services.secrets.project(principal, &id).await,
        None => Err(CoreError::NotFound("project")),
    };
    let project = match project {
        Ok(project) => project,
        Err(error) => return refused(&session, &error),
    };
    let error = match state
        .services
        .secret_syncs
        .create(principal, form.request())
        .await
    {
        Ok(sync) => {
            return redirect_with_flash(
                &state,
                &detail_path(&sync.id),
                FlashKind::Success,
                &format!("Secret sync {} created.", sync.name),
            );
        }
        Err(error) => error,
    };
    let (status, errors) = match SyncErrors::of(error) {
        Ok(shown) => shown,
        Err(error) => return refused(&session, &error),
    };
    match connections(&state, &session).await {
        Ok(connections) => form_page(&session, status, &project, &connections, &form, &errors),
        Err(error) => refused(&session, &error),
    }
}
