//! Adding and editing a data source: the connection that reads the repositories, what it covers
//! (one project, or a group with its subgroups' projects, all or some), and auto-scan. core
//! checks it all at GitLab; what it refuses is said next to the field it concerns.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use labgate_core::CoreError;
use labgate_proto::connections::ConnectionView;
use labgate_proto::secret_scanning::{
    CreateDataSourceRequest, DataSourceView, GitLabDataSourceConfig, ScanScope, UpdateDataSourceRequest,
};
use maud::{Markup, html};
use serde::Deserialize;

use super::{LIST_PATH, NEW_PATH, detail_path, refused};
use crate::state::AppState;
use crate::ui::components::{
    ButtonKind, Field, button, empty_state, field, field_error, link_button, page_header,
};
use crate::ui::flash::{FlashKind, redirect_with_flash};
use crate::ui::layout::{Nav, page_with_status};
use crate::ui::secrets::can_write;
use crate::ui::{CsrfForm, UiSession, csrf_field};

#[derive(Deserialize, Default, Clone)]
pub struct SourceForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    connection_id: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    target: String,
    /// One project path a line (or separated by commas); empty or `*` for every project.
    #[serde(default)]
    include_projects: String,
    #[serde(default)]
    auto_scan: Option<String>,
}

impl SourceForm {
    fn initial() -> SourceForm {
        SourceForm {
            scope: ScanScope::Project.as_str().to_owned(),
            include_projects: "*".to_owned(),
            auto_scan: Some("true".to_owned()),
            ..SourceForm::default()
        }
    }

    fn of(source: &DataSourceView) -> SourceForm {
        let config = &source.config;
        SourceForm {
            name: source.name.clone(),
            description: source.description.clone().unwrap_or_default(),
            connection_id: source.connection_id.clone(),
            scope: config.scope.as_str().to_owned(),
            target: match config.scope {
                ScanScope::Project => config.project_id.clone(),
                ScanScope::Group => config.group_id.clone(),
            }
            .unwrap_or_default(),
            include_projects: config
                .include_projects
                .as_deref()
                .map(|paths| paths.join("\n"))
                .unwrap_or_else(|| "*".to_owned()),
            auto_scan: source.is_auto_scan_enabled.then(|| "true".to_owned()),
        }
    }

    fn scope(&self) -> ScanScope {
        ScanScope::parse(&self.scope).unwrap_or(ScanScope::Project)
    }

    fn config(&self) -> GitLabDataSourceConfig {
        let scope = self.scope();
        let target = Some(self.target.trim().to_owned()).filter(|t| !t.is_empty());
        let include: Vec<String> = self
            .include_projects
            .split(['\n', ','])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        GitLabDataSourceConfig {
            scope,
            project_id: (scope == ScanScope::Project).then(|| target.clone()).flatten(),
            group_id: (scope == ScanScope::Group).then_some(target).flatten(),
            include_projects: (scope == ScanScope::Group).then(|| {
                if include.is_empty() {
                    vec!["*".to_owned()]
                } else {
                    include
                }
            }),
        }
    }

    fn description(&self) -> Option<String> {
        let description = self.description.trim();
        (!description.is_empty()).then(|| description.to_owned())
    }

    fn auto_scan(&self) -> bool {
        self.auto_scan.as_deref() == Some("true")
    }

    fn create_request(&self) -> CreateDataSourceRequest {
        CreateDataSourceRequest {
            name: self.name.trim().to_owned(),
            description: self.description(),
            connection_id: self.connection_id.clone(),
            config: self.config(),
            is_auto_scan_enabled: Some(self.auto_scan()),
        }
    }

    /// Only what changed: an unchanged connection and scope are not checked at GitLab again.
    fn update_request(&self, current: &DataSourceView) -> UpdateDataSourceRequest {
        let config = self.config();
        UpdateDataSourceRequest {
            name: Some(self.name.trim().to_owned()),
            description: Some(self.description().unwrap_or_default()),
            connection_id: (self.connection_id != current.connection_id).then(|| self.connection_id.clone()),
            config: (config != current.config).then_some(config),
            is_auto_scan_enabled: Some(self.auto_scan()),
        }
    }
}

#[derive(Default)]
struct SourceErrors {
    name: Option<String>,
    description: Option<String>,
    connection_id: Option<String>,
    target: Option<String>,
    include_projects: Option<String>,
    form: Option<String>,
}

impl SourceErrors {
    /// Puts core's refusal next to the field it names.
    fn of(error: CoreError) -> Result<(StatusCode, SourceErrors), CoreError> {
        let mut errors = SourceErrors::default();
        let status = match error {
            CoreError::Validation { message, field } => {
                let message = Some(crate::api::oauth::sentence(&message));
                match field.unwrap_or_default() {
                    "name" => errors.name = message,
                    "description" => errors.description = message,
                    "connectionId" => errors.connection_id = message,
                    "config.projectId" | "config.groupId" | "config.scope" => errors.target = message,
                    "config.includeProjects" => errors.include_projects = message,
                    _ => errors.form = message,
                }
                StatusCode::UNPROCESSABLE_ENTITY
            }
            CoreError::AlreadyExists(message) => {
                errors.name = Some(crate::api::oauth::sentence(&message));
                StatusCode::CONFLICT
            }
            CoreError::Conflict(message) | CoreError::Unavailable(message) => {
                errors.form = Some(crate::api::oauth::sentence(&message));
                StatusCode::CONFLICT
            }
            other => return Err(other),
        };
        Ok((status, errors))
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

fn connection_select(connections: &[ConnectionView], selected: &str, error: Option<&str>) -> Markup {
    let id = "field-connection_id";
    let described = if error.is_some() {
        format!("{id}-hint {id}-error")
    } else {
        format!("{id}-hint")
    };
    html! {
        div.field.has-error[error.is_some()] {
            label for=(id) { "Connection" }
            p.hint id={ (id) "-hint" } { "The GitLab connection that reads the repositories. Its user needs the Developer role there, and its token the read_repository or api scope." }
            select id=(id) name="connection_id" aria-invalid=[error.map(|_| "true")] aria-describedby=(described) {
                @for connection in connections {
                    option value=(connection.id) selected[connection.id == selected] {
                        (connection.name) " · " (crate::ui::connections::instance_label(&connection.credentials.instance_url))
                    }
                }
            }
            (field_error(&format!("{id}-error"), error))
        }
    }
}

fn form_markup(
    session: &UiSession,
    action: &str,
    submit: &str,
    cancel: &str,
    connections: &[ConnectionView],
    form: &SourceForm,
    errors: &SourceErrors,
) -> Markup {
    let scope = form.scope();
    let include_id = "field-include_projects";
    html! {
        form.stack method="post" action=(action) {
            (csrf_field(session))
            @if let Some(error) = &errors.form { div.flash.error role="alert" { (error) } }
            h2.section-title { "Details" }
            (field(&{ let mut name = text_field("Name", "name", &form.name, Some("Lowercase letters, digits and dashes, unique in the tenant."), errors.name.as_deref()); name.required = true; name }))
            (field(&text_field("Description", "description", &form.description, Some("Optional."), errors.description.as_deref())))
            h2.section-title { "What to scan" }
            (connection_select(connections, &form.connection_id, errors.connection_id.as_deref()))
            fieldset.choice-group {
                legend { "Scope" }
                div.choices.inline-choices {
                    label.choice { input type="radio" name="scope" value="project" checked[scope == ScanScope::Project]; span { strong { "Project" } span.hint { "One project's repository" } } }
                    label.choice { input type="radio" name="scope" value="group" checked[scope == ScanScope::Group]; span { strong { "Group" } span.hint { "The repositories of a group and all its subgroups" } } }
                }
            }
            (field(&{ let mut target = text_field("Project or group", "target", &form.target, Some("Its numeric id or full path, e.g. 42 or acme/api."), errors.target.as_deref()); target.required = true; target }))
            div.field.has-error[errors.include_projects.is_some()] {
                label for=(include_id) { "Projects of the group" }
                p.hint id={ (include_id) "-hint" } { "Group scope only: * for every project, or one project path a line, e.g. acme/platform/api." }
                textarea id=(include_id) name="include_projects" rows="3" aria-invalid=[errors.include_projects.as_ref().map(|_| "true")]
                    aria-describedby={ (include_id) "-hint" @if errors.include_projects.is_some() { " " (include_id) "-error" } } {
                    (form.include_projects)
                }
                (field_error(&format!("{include_id}-error"), errors.include_projects.as_deref()))
            }
            div.choices {
                label.choice {
                    input type="checkbox" name="auto_scan" value="true" checked[form.auto_scan()];
                    span { strong { "Auto-scan" } span.hint { "Scan the whole history now, again on a schedule, and each repository when GitLab reports a push. Installing the push hooks needs the api scope and the Maintainer role (Owner for a group hook)." } }
                }
            }
            div.form-actions {
                a.button.secondary href=(cancel) { "Cancel" }
                (button(ButtonKind::Primary, submit, None))
            }
        }
    }
}

struct FormPage<'a> {
    title: &'a str,
    action: &'a str,
    submit: &'a str,
    /// Where Cancel and the breadcrumb lead, and what the breadcrumb calls it.
    back: (&'a str, &'a str),
}

fn form_page(
    session: &UiSession,
    status: StatusCode,
    shown: &FormPage<'_>,
    connections: &[ConnectionView],
    form: &SourceForm,
    errors: &SourceErrors,
) -> Response {
    let (back_path, back_name) = shown.back;
    let content = html! {
        nav.breadcrumbs aria-label="Breadcrumb" {
            a href=(LIST_PATH) { "Secret scanning" }
            @if back_path != LIST_PATH { span aria-hidden="true" { " / " } a href=(back_path) { (back_name) } }
            span aria-hidden="true" { " / " } span aria-current="page" { (shown.title) }
        }
        (page_header(shown.title, Some("labgate checks at GitLab that the connection can read every repository in scope before saving."), html! {}))
        @if connections.is_empty() {
            (empty_state("No GitLab connection yet", "A data source reads repositories through one of this tenant's GitLab connections. Add one first.",
                link_button(ButtonKind::Primary, "Add a connection", "/organization/app-connections/new")))
        } @else {
            div.card.form-card.wide-form { (form_markup(session, shown.action, shown.submit, back_path, connections, form, errors)) }
        }
    };
    page_with_status(status, session, Nav::SecretScanning, shown.title, content)
}

async fn connections(state: &AppState, session: &UiSession) -> Result<Vec<ConnectionView>, CoreError> {
    Ok(state
        .services
        .connections
        .list(session.principal(), None, None, 0, Some(100))
        .await?
        .app_connections)
}

const NEW_PAGE: FormPage<'static> = FormPage {
    title: "Add data source",
    action: NEW_PATH,
    submit: "Add data source",
    back: (LIST_PATH, "Secret scanning"),
};

/// `GET /secret-scanning/data-sources/new`.
pub async fn new_form(State(state): State<AppState>, session: UiSession) -> Response {
    if !can_write(&session) {
        return refused(&session, &CoreError::Forbidden("write".into()));
    }
    let connections = match connections(&state, &session).await {
        Ok(connections) => connections,
        Err(error) => return refused(&session, &error),
    };
    let mut form = SourceForm::initial();
    form.connection_id = connections
        .first()
        .map(|connection| connection.id.clone())
        .unwrap_or_default();
    form_page(
        &session,
        StatusCode::OK,
        &NEW_PAGE,
        &connections,
        &form,
        &SourceErrors::default(),
    )
}

/// The form again with core's refusal beside its field, or the page of what went wrong.
async fn shown_again(
    state: &AppState,
    session: &UiSession,
    shown: &FormPage<'_>,
    form: &SourceForm,
    error: CoreError,
) -> Response {
    let (status, errors) = match SourceErrors::of(error) {
        Ok(shown) => shown,
        Err(error) => return refused(session, &error),
    };
    match connections(state, session).await {
        Ok(connections) => form_page(session, status, shown, &connections, form, &errors),
        Err(error) => refused(session, &error),
    }
}

/// `POST /secret-scanning/data-sources/new`.
pub async fn create(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<SourceForm>,
) -> Response {
    match state
        .services
        .secret_scanning
        .create(session.principal(), form.create_request())
        .await
    {
        Ok(source) => redirect_with_flash(
            &state,
            &detail_path(&source.id),
            FlashKind::Success,
            &if source.is_auto_scan_enabled {
                format!("Data source {} added; its first scan is queued.", source.name)
            } else {
                format!("Data source {} added. Scan it when you are ready.", source.name)
            },
        ),
        Err(error) => shown_again(&state, &session, &NEW_PAGE, &form, error).await,
    }
}

/// `GET /secret-scanning/data-sources/{id}/edit`.
pub async fn edit_form(
    State(state): State<AppState>,
    session: UiSession,
    Path(id): Path<String>,
) -> Response {
    if !can_write(&session) {
        return refused(&session, &CoreError::Forbidden("write".into()));
    }
    let source = match state.services.secret_scanning.get(session.principal(), &id).await {
        Ok(source) => source,
        Err(error) => return refused(&session, &error),
    };
    let connections = match connections(&state, &session).await {
        Ok(connections) => connections,
        Err(error) => return refused(&session, &error),
    };
    let action = format!("{}/edit", detail_path(&source.id));
    let back = detail_path(&source.id);
    let shown = FormPage {
        title: "Edit data source",
        action: &action,
        submit: "Save changes",
        back: (&back, &source.name),
    };
    form_page(
        &session,
        StatusCode::OK,
        &shown,
        &connections,
        &SourceForm::of(&source),
        &SourceErrors::default(),
    )
}

/// `POST /secret-scanning/data-sources/{id}/edit`.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form }: CsrfForm<SourceForm>,
) -> Response {
    let scanning = &state.services.secret_scanning;
    let current = match scanning.get(session.principal(), &id).await {
        Ok(source) => source,
        Err(error) => return refused(&session, &error),
    };
    match scanning
        .update(session.principal(), &id, form.update_request(&current))
        .await
    {
        Ok(source) => redirect_with_flash(
            &state,
            &detail_path(&source.id),
            FlashKind::Success,
            &format!("Data source {} saved.", source.name),
        ),
        Err(error) => {
            let action = format!("{}/edit", detail_path(&current.id));
            let back = detail_path(&current.id);
            let shown = FormPage {
                title: "Edit data source",
                action: &action,
                submit: "Save changes",
                back: (&back, &current.name),
            };
            shown_again(&state, &session, &shown, &form, error).await
        }
    }
}
