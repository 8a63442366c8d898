//! The list of projects, creating one (name, slug, environments) and deleting one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use labgate_core::CoreError;
use labgate_core::secrets::{DEFAULT_ENVIRONMENTS, NewEnvironment, SecretProject};
use maud::{Markup, html};
use serde::Deserialize;

use super::{LIST_PATH, can_write, load_project, project_path, refused, sentence};
use crate::state::AppState;
use crate::ui::components::{
    ButtonKind, Field, button, empty_state, field, modal, open_dialog_button, page_header, relative_time,
    table,
};
use crate::ui::flash::{FlashKind, redirect_with_flash};
use crate::ui::layout::{Nav, page_with_status};
use crate::ui::{CsrfForm, UiSession, csrf_field};

/// Projects one page lists.
const PAGE_SIZE: u32 = 200;

#[derive(Deserialize, Default)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    environments: String,
}

#[derive(Default)]
struct CreateErrors {
    name: Option<String>,
    slug: Option<String>,
    environments: Option<String>,
}

fn default_environments() -> String {
    DEFAULT_ENVIRONMENTS
        .iter()
        .map(|(_, slug)| *slug)
        .collect::<Vec<_>>()
        .join(", ")
}

fn create_fields(session: &UiSession, form: &CreateForm, errors: &CreateErrors) -> Markup {
    let environments = if form.environments.is_empty() {
        default_environments()
    } else {
        form.environments.clone()
    };
    let mut name = Field::new("Name", "name", "text");
    name.value = Some(&form.name);
    name.required = true;
    name.error = errors.name.as_deref();
    let mut slug = Field::new("Slug", "slug", "text");
    slug.value = Some(&form.slug);
    slug.hint = Some("Optional: lowercase letters, digits, - and _. Made from the name when left blank.");
    slug.error = errors.slug.as_deref();
    let mut envs = Field::new("Environments", "environments", "text");
    envs.value = Some(&environments);
    envs.hint = Some("Slugs separated by commas, in the order the tabs show them.");
    envs.error = errors.environments.as_deref();
    html! {
        form.stack method="post" action=(LIST_PATH) {
            (csrf_field(session))
            (field(&name))
            (field(&slug))
            (field(&envs))
            div.form-actions { (button(ButtonKind::Primary, "Create project", None)) }
        }
    }
}

/// The environments the form names: `None` for the defaults (their names are the usual
/// Development, Staging and Production).
fn parse_environments(text: &str) -> Option<Vec<NewEnvironment>> {
    let slugs: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|slug| !slug.is_empty())
        .collect();
    if slugs.is_empty() {
        return None;
    }
    Some(
        slugs
            .into_iter()
            .map(|slug| NewEnvironment {
                name: DEFAULT_ENVIRONMENTS
                    .iter()
                    .find(|(_, known)| *known == slug)
                    .map_or_else(|| capitalised(slug), |(name, _)| (*name).to_owned()),
                slug: slug.to_owned(),
            })
            .collect(),
    )
}

fn capitalised(slug: &str) -> String {
    let mut chars = slug.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn row(state: &AppState, session: &UiSession, project: &SecretProject) -> Markup {
    let now = state.services.clock.now();
    let url = project_path(project.id.as_str());
    html! {
        tr {
            td.name-cell {
                a.primary-text.row-link href=(url) { (project.name) }
                div.secondary-text.mono { (project.slug) }
            }
            td {
                ul.chips {
                    @for environment in &project.environments { li.chip { (environment.slug) } }
                }
            }
            td { (relative_time(now, project.created_at)) }
            td.row-actions {
                a.button.secondary.small href=(url) { "Open" }
                @if can_write(session) {
                    form method="post" action={ (url) "/delete" } {
                        (csrf_field(session))
                        button type="submit" class="button danger small"
                            aria-label={ "Delete " (project.name) }
                            data-confirm={ "Delete the project " (project.name) " with every secret in it? This cannot be undone." } {
                            "Delete"
                        }
                    }
                }
            }
        }
    }
}

fn list_page(
    state: &AppState,
    session: &UiSession,
    status: StatusCode,
    projects: &[SecretProject],
    failed: Option<(&CreateForm, &CreateErrors)>,
) -> Response {
    let title = Nav::Secrets.label();
    let writer = can_write(session);
    // A form shown again with its errors stands on the page, in place of the dialog.
    let dialog = writer && failed.is_none();
    let add = html! {
        @if dialog { (open_dialog_button(ButtonKind::Primary, "Create project", "create-project")) }
    };
    let blank = CreateForm::default();
    let no_errors = CreateErrors::default();
    let content = html! {
        (page_header(title, Some("Projects hold your secrets, by environment and folder. Secret syncs copy them to GitLab CI/CD variables."), add.clone()))
        @if let Some((form, errors)) = failed {
            section.card.form-card aria-labelledby="create-again" {
                h2 id="create-again" { "Create project" }
                (create_fields(session, form, errors))
            }
        }
        @if projects.is_empty() {
            (empty_state(
                "No projects yet",
                "A project keeps the secrets of one application, with an environment for each stage (dev, staging, prod).",
                add,
            ))
        } @else {
            (table("Projects", &["Project", "Environments", "Created", ""], html! {
                @for project in projects { (row(state, session, project)) }
            }))
        }
        @if dialog {
            (modal("create-project", "Create project", create_fields(session, &blank, &no_errors)))
        }
    };
    page_with_status(status, session, Nav::Secrets, title, content)
}

/// `GET /secrets`.
pub async fn list(State(state): State<AppState>, session: UiSession) -> Response {
    match state
        .services
        .secrets
        .projects(session.principal(), 0, PAGE_SIZE)
        .await
    {
        Ok((projects, _)) => list_page(&state, &session, StatusCode::OK, &projects, None),
        Err(error) => refused(&session, &error),
    }
}

/// `POST /secrets`: creates a project and opens it.
pub async fn create(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<CreateForm>,
) -> Response {
    let slug = form.slug.trim();
    let created = state
        .services
        .secrets
        .create_project(
            session.principal(),
            &form.name,
            (!slug.is_empty()).then_some(slug),
            parse_environments(&form.environments),
        )
        .await;
    let mut errors = CreateErrors::default();
    let status = match created {
        Ok(project) => {
            return redirect_with_flash(
                &state,
                &project_path(project.id.as_str()),
                FlashKind::Success,
                &format!("Project {} created.", project.name),
            );
        }
        Err(CoreError::Validation { message, field }) => {
            let message = Some(sentence(&message));
            match field.unwrap_or_default() {
                "slug" => errors.slug = message,
                "environments" | "environment" => errors.environments = message,
                _ => errors.name = message,
            }
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Err(CoreError::AlreadyExists(message)) => {
            errors.slug = Some(sentence(&message));
            StatusCode::CONFLICT
        }
        Err(error) => return refused(&session, &error),
    };
    match state
        .services
        .secrets
        .projects(session.principal(), 0, PAGE_SIZE)
        .await
    {
        Ok((projects, _)) => list_page(&state, &session, status, &projects, Some((&form, &errors))),
        Err(error) => refused(&session, &error),
    }
}

/// `POST /secrets/{project}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<Vec<(String, String)>>,
) -> Response {
    let project = match load_project(&state, &session, &id).await {
        Ok(project) => project,
        Err(error) => return refused(&session, &error),
    };
    match state
        .services
        .secrets
        .delete_project(session.principal(), &project.id)
        .await
    {
        Ok(deleted) => redirect_with_flash(
            &state,
            LIST_PATH,
            FlashKind::Success,
            &format!("Project {} deleted.", deleted.name),
        ),
        Err(error) => refused(&session, &error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments_are_named_by_their_slugs() {
        assert!(parse_environments(" , ").is_none());
        let parsed = parse_environments("dev, qa ,prod").unwrap();
        let named: Vec<(&str, &str)> = parsed
            .iter()
            .map(|environment| (environment.name.as_str(), environment.slug.as_str()))
            .collect();
        assert_eq!(
            named,
            [("Development", "dev"), ("Qa", "qa"), ("Production", "prod")]
        );
    }
}
