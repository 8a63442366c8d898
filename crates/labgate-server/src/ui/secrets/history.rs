//! A secret's history: every version newest first, who made it and when, each value revealable,
//! and rolling back to an earlier one (as a new version).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use labgate_core::CoreError;
use labgate_core::auth::Actor;
use labgate_core::secrets::{Folder, SecretKey, SecretProject, SecretVersion};
use maud::{Markup, html};
use serde::Deserialize;

use super::folder::{masked_value, value_url};
use super::{Place, breadcrumbs, can_write, folder_url, load_project, project_path, refused, resolve};
use crate::state::AppState;
use crate::ui::components::{Tone, badge, page_header, relative_time, table};
use crate::ui::flash::{FlashKind, redirect_with_flash};
use crate::ui::layout::{Nav, page};
use crate::ui::{CsrfForm, UiSession, csrf_field};

#[derive(Deserialize, Default)]
pub struct HistoryQuery {
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    key: String,
}

/// Who made a version, in the names people know: users by email, API keys by name.
async fn actor_names(state: &AppState, session: &UiSession) -> HashMap<String, String> {
    let principal = session.principal();
    let mut names = HashMap::new();
    if let Ok(users) = state.services.users.list(&principal.tenant_id).await {
        names.extend(users.into_iter().map(|user| (user.id.to_string(), user.email)));
    }
    if let Ok(listed) = state.services.api_keys.list(principal, 0, 100).await {
        names.extend(
            listed
                .api_keys
                .into_iter()
                .map(|key| (key.id, format!("API key {}", key.name))),
        );
    }
    names
}

fn actor(names: &HashMap<String, String>, actor: &Actor) -> Markup {
    let name = match actor {
        Actor::User { id } => names.get(id).map_or("A deleted user", String::as_str),
        Actor::ApiKey { id } => names.get(id).map_or("An API key", String::as_str),
        Actor::Cli => "Operator (command line)",
        Actor::System => "labgate (import from GitLab)",
    };
    html! { (name) }
}

/// What every row of one secret's history shares.
struct History<'a> {
    session: &'a UiSession,
    project: &'a SecretProject,
    folder: &'a Folder,
    key: &'a SecretKey,
    current: u32,
    names: HashMap<String, String>,
    now: time::OffsetDateTime,
}

fn version_row(history: &History<'_>, version: &SecretVersion) -> Markup {
    let History {
        session,
        project,
        folder,
        key,
        current,
        names,
        now,
    } = history;
    let (current, now) = (*current, *now);
    let label = format!("{key} version {}", version.version);
    html! {
        tr data-version=(version.version) {
            td.numeric {
                "v" (version.version)
                @if version.version == current { " " (badge(Tone::Success, "Current")) }
            }
            td { (masked_value(&value_url(project, folder, key.as_str(), Some(version.version)), &label)) }
            td {
                span.mono { (version.key) }
                @if !version.comment.is_empty() { div.secondary-text.clamp { (version.comment) } }
            }
            td { (actor(names, &version.actor)) }
            td.nowrap { (relative_time(now, version.created_at)) }
            td.row-actions {
                @if can_write(session) && version.version != current {
                    form method="post" action={ (project_path(project.id.as_str())) "/rollback" } {
                        (csrf_field(session))
                        input type="hidden" name="env" value=(folder.environment.as_str());
                        input type="hidden" name="path" value=(folder.path.as_str());
                        input type="hidden" name="key" value=(key.as_str());
                        input type="hidden" name="version" value=(version.version);
                        button type="submit" class="button secondary small" aria-label="Roll back to this version"
                            data-confirm={ "Make version " (version.version) " of " (key) " current again? This adds a new version." } {
                            "Roll back"
                        }
                    }
                }
            }
        }
    }
}

/// `GET /secrets/{project}/history?env=&path=&key=`.
pub async fn show(
    State(state): State<AppState>,
    session: UiSession,
    Path(id): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Response {
    let project = match load_project(&state, &session, &id).await {
        Ok(project) => project,
        Err(error) => return refused(&session, &error),
    };
    let place = Place {
        env: query.env.clone(),
        path: query.path.clone(),
    };
    let folder = match resolve(&project, &place) {
        Ok(folder) => folder,
        Err(error) => return refused(&session, &error),
    };
    let Ok(key) = SecretKey::parse(&query.key) else {
        return refused(&session, &CoreError::NotFound("secret"));
    };
    let versions = match state
        .services
        .secrets
        .history(session.principal(), &folder, &key, false)
        .await
    {
        Ok(versions) => versions,
        Err(error) => return refused(&session, &error),
    };
    let current = versions.iter().map(|version| version.version).max().unwrap_or(0);
    let rows = History {
        session: &session,
        project: &project,
        folder: &folder,
        key: &key,
        current,
        names: actor_names(&state, &session).await,
        now: state.services.clock.now(),
    };
    let back = folder_url(
        project.id.as_str(),
        folder.environment.as_str(),
        folder.path.as_str(),
    );
    let title = format!("History of {key}");
    let content = html! {
        (breadcrumbs(&project, Some(key.as_str())))
        (page_header(&title, Some(&format!("{} · {} — newest first. Rolling back makes an old version current again as a new version.", folder.environment, folder.path)),
            html! { a.button.secondary href=(back) { "Back to the folder" } }))
        (table("Versions", &["Version", "Value", "Key and comment", "Changed by", "When", ""], html! {
            @for version in &versions { (version_row(&rows, version)) }
        }))
    };
    page(&session, Nav::Secrets, &title, content)
}

#[derive(Deserialize, Default)]
pub struct RollbackForm {
    #[serde(default)]
    env: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    key: String,
    version: u32,
}

/// `POST /secrets/{project}/rollback`.
pub async fn rollback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form }: CsrfForm<RollbackForm>,
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
    let Ok(key) = SecretKey::parse(&form.key) else {
        return refused(&session, &CoreError::NotFound("secret"));
    };
    let history = super::folder::history_url(&project, &folder, key.as_str());
    match state
        .services
        .secrets
        .rollback(session.principal(), &folder, &key, form.version)
        .await
    {
        Ok(secret) => redirect_with_flash(
            &state,
            &history,
            FlashKind::Success,
            &format!(
                "{} rolled back to version {}: it is now version {}.",
                secret.key, form.version, secret.version
            ),
        ),
        Err(CoreError::NotFound("secret version")) => redirect_with_flash(
            &state,
            &history,
            FlashKind::Error,
            "There is no such version of this secret.",
        ),
        Err(error) => refused(&session, &error),
    }
}
