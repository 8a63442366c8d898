//! API keys: the tenant's keys with their role, recognisable prefix and use; creating one shows
//! its token once; revoking stops it at once. Admins only, as in the API.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use labgate_core::CoreError;
use labgate_core::auth::{Access, role_allows};
use labgate_proto::api_keys::{ApiKeyView, Role};
use maud::{Markup, html};
use secrecy::ExposeSecret;
use serde::Deserialize;
use time::OffsetDateTime;

use super::components::{
    ButtonKind, Field, Tone, badge, button, copy_button, empty_state, field, field_error, link_button, modal,
    open_dialog_button, page_header, relative_time_text, table,
};
use super::denied::{core_error, forbidden};
use super::flash::{FlashKind, redirect_with_flash};
use super::layout::{Nav, page, page_with_status};
use super::{CsrfForm, UiSession, csrf_field};
use crate::state::AppState;

const LIST_PATH: &str = "/organization/api-keys";
const LIST_LIMIT: u32 = 100;
const ADMIN_ONLY: &str =
    "API keys can act for the whole tenant, so only its administrators see and manage them.";
const CREATE_DIALOG: &str = "create-api-key";

/// How long a new key lasts, as the form offers it.
const EXPIRIES: [(&str, &str, Option<i64>); 4] = [
    ("30", "30 days", Some(30)),
    ("90", "90 days", Some(90)),
    ("365", "1 year", Some(365)),
    ("never", "Never", None),
];

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Admin => "Admin",
        Role::Member => "Member",
        Role::Reader => "Reader",
        Role::CredentialReader => "Credential reader",
    }
}

fn role_hint(role: Role) -> &'static str {
    match role {
        Role::Admin => "everything, including API keys and the audit log",
        Role::Member => "create, change and delete connections",
        Role::Reader => "see connections, never their tokens",
        Role::CredentialReader => "read tokens through the credential broker, nothing else",
    }
}

fn role_badge(role: Role) -> Markup {
    let tone = match role {
        Role::Admin => Tone::Warning,
        Role::Member => Tone::Info,
        Role::Reader => Tone::Neutral,
        Role::CredentialReader => Tone::Success,
    };
    badge(tone, role_label(role))
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    expires_in: String,
}

#[derive(Debug, Default)]
struct CreateErrors {
    name: Option<String>,
    role: Option<String>,
    expires_in: Option<String>,
}

fn is_expired(now: OffsetDateTime, key: &ApiKeyView) -> bool {
    key.expires_at
        .as_deref()
        .and_then(labgate_core::timefmt::parse_time)
        .is_some_and(|at| at <= now)
}

fn status(now: OffsetDateTime, key: &ApiKeyView) -> Markup {
    if key.revoked_at.is_some() {
        badge(Tone::Danger, "Revoked")
    } else if is_expired(now, key) {
        badge(Tone::Neutral, "Expired")
    } else {
        badge(Tone::Success, "Active")
    }
}

fn row(session: &UiSession, now: OffsetDateTime, key: &ApiKeyView) -> Markup {
    html! {
        tr data-api-key=(key.id) {
            td { div.primary-text { (key.name) } }
            td { (role_badge(key.role)) }
            td { span.mono { (key.prefix) "…" } }
            td { (relative_time_text(now, &key.created_at)) }
            td {
                @match &key.last_used_at {
                    Some(at) => (relative_time_text(now, at)),
                    None => span.muted { "Never" },
                }
            }
            td {
                @match &key.expires_at {
                    Some(at) => (relative_time_text(now, at)),
                    None => span.muted { "Never" },
                }
            }
            td {
                (status(now, key))
                @if let Some(at) = &key.revoked_at { div.secondary-text { (relative_time_text(now, at)) } }
            }
            td.row-actions {
                @if key.revoked_at.is_none() {
                    form method="post" action={ (LIST_PATH) "/" (key.id) "/revoke" } {
                        (csrf_field(session))
                        button type="submit" class="button danger small"
                            data-confirm={ "Revoke the API key " (key.name) "? Programs using it stop working at once." }
                            aria-label={ "Revoke " (key.name) } { "Revoke" }
                    }
                }
            }
        }
    }
}

fn create_form(session: &UiSession, values: Option<&CreateForm>, errors: &CreateErrors) -> Markup {
    let mut name = Field::new("Name", "name", "text");
    name.value = values.map(|form| form.name.as_str());
    name.required = true;
    name.autocomplete = Some("off");
    name.hint = Some("Who or what uses it, e.g. ci-deploy. Up to 64 characters.");
    name.error = errors.name.as_deref();
    let chosen_role = values
        .and_then(|form| Role::parse(&form.role))
        .unwrap_or(Role::Member);
    let chosen_expiry = values.map_or("90", |form| form.expires_in.as_str());
    html! {
        form.stack method="post" action=(LIST_PATH) {
            (csrf_field(session))
            (field(&name))
            fieldset.field.has-error[errors.role.is_some()] {
                legend { "Role" }
                @for role in Role::ALL {
                    label.inline-choice {
                        input type="radio" name="role" value=(role.as_str()) checked[role == chosen_role];
                        span { strong { (role_label(role)) } span.muted { " — " (role_hint(role)) } }
                    }
                }
                (field_error("field-role-error", errors.role.as_deref()))
            }
            div.field.has-error[errors.expires_in.is_some()] {
                label for="field-expires_in" { "Expires" }
                select id="field-expires_in" name="expires_in" {
                    @for (value, label, _) in EXPIRIES {
                        option value=(value) selected[value == chosen_expiry] { (label) }
                    }
                }
                (field_error("field-expires_in-error", errors.expires_in.as_deref()))
            }
            div.actions { (button(ButtonKind::Primary, "Create key", None)) }
        }
    }
}

fn list_content(
    state: &AppState,
    session: &UiSession,
    keys: &[ApiKeyView],
    total: u64,
    open_form: Option<(&CreateForm, &CreateErrors)>,
) -> Markup {
    let now = state.services.clock.now();
    let create = open_dialog_button(ButtonKind::Primary, "Create API key", CREATE_DIALOG);
    let description = "Bearer tokens programs use to call labgate's API, each with a role.";
    html! {
        (page_header(Nav::ApiKeys.label(), Some(description), create.clone()))
        @if let Some((values, errors)) = open_form {
            // Shown in the page, not in the dialog, so it works without the script.
            section.card.form-card aria-labelledby="create-title" {
                h2 id="create-title" { "Create an API key" }
                (create_form(session, Some(values), errors))
            }
        }
        @if keys.is_empty() {
            (empty_state(
                "No API keys yet",
                "Create a key for each program that calls labgate (a CI job, a deployment tool), with the narrowest role \
                 it needs. Its token is shown once, when you create it.",
                create,
            ))
        } @else {
            (table(
                "API keys",
                &["Name", "Role", "Token", "Created", "Last used", "Expires", "Status", "Actions"],
                html! { @for key in keys { (row(session, now, key)) } },
            ))
            p.table-footer.muted { (total) " key" @if total != 1 { "s" } }
        }
        (modal(CREATE_DIALOG, "Create an API key", create_form(session, None, &CreateErrors::default())))
    }
}

/// `GET /organization/api-keys`.
pub async fn list(State(state): State<AppState>, session: UiSession) -> Response {
    let title = Nav::ApiKeys.label();
    if !role_allows(session.principal().role, Access::Admin) {
        return forbidden(&session, Nav::ApiKeys, title, ADMIN_ONLY);
    }
    match state
        .services
        .api_keys
        .list(session.principal(), 0, LIST_LIMIT)
        .await
    {
        Ok(listed) => {
            let content = list_content(&state, &session, &listed.api_keys, listed.total_count, None);
            page(&session, Nav::ApiKeys, title, content)
        }
        Err(error) => core_error(&session, Nav::ApiKeys, title, "API key", &error),
    }
}

fn expiry_time(now: OffsetDateTime, choice: &str) -> Result<Option<String>, &'static str> {
    match EXPIRIES.iter().find(|(value, _, _)| *value == choice) {
        Some((_, _, Some(days))) => Ok(Some(labgate_core::timefmt::format_time(
            now + time::Duration::days(*days),
        ))),
        Some((_, _, None)) => Ok(None),
        None => Err("Choose one of the offered expiries."),
    }
}

/// `POST /organization/api-keys`: the created key's token on a page of its own, once.
pub async fn create(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<CreateForm>,
) -> Response {
    let title = Nav::ApiKeys.label();
    if !role_allows(session.principal().role, Access::Admin) {
        return forbidden(&session, Nav::ApiKeys, title, ADMIN_ONLY);
    }
    let mut errors = CreateErrors::default();
    let role = Role::parse(&form.role);
    if role.is_none() {
        errors.role = Some("Choose a role.".to_owned());
    }
    let expires_at = expiry_time(state.services.clock.now(), &form.expires_in)
        .map_err(|message| errors.expires_in = Some(message.to_owned()))
        .ok()
        .flatten();
    let Some(role) = role.filter(|_| errors.expires_in.is_none()) else {
        return show_again(&state, &session, &form, &errors).await;
    };
    let created = state
        .services
        .api_keys
        .create_for(session.principal(), form.name.trim(), role, expires_at.as_deref())
        .await;
    let created = match created {
        Ok(created) => created,
        Err(CoreError::Validation { message, field }) => {
            match field {
                Some("expiresAt") => errors.expires_in = Some(sentence(&message)),
                _ => errors.name = Some(sentence(&message)),
            }
            return show_again(&state, &session, &form, &errors).await;
        }
        Err(error) => return core_error(&session, Nav::ApiKeys, title, "API key", &error),
    };
    let token = created.token.expose_secret();
    let key = &created.view;
    let now = state.services.clock.now();
    let content = html! {
        (page_header("API key created", None, html! {}))
        section.card.token-card aria-labelledby="token-title" {
            h2 id="token-title" { (key.name) " " (role_badge(key.role)) }
            div.flash.warning role="alert" {
                strong { "Copy the token now." }
                " It is shown only this once: labgate keeps only its hash and cannot show it again. If it is lost, revoke the key and create another."
            }
            label.token-label for="created-token" { "Token" }
            div.copy-row {
                input.mono.token-value id="created-token" type="text" readonly value=(token) data-secret-token;
                (copy_button(token, "Copy token"))
            }
            p.muted {
                "Send it as " code { "Authorization: Bearer …" } ". "
                @match &key.expires_at {
                    Some(at) => { "It expires " (relative_time_text(now, at)) "." }
                    None => "It does not expire.",
                }
            }
            div.actions { (link_button(ButtonKind::Primary, "Done, I have copied it", LIST_PATH)) }
        }
    };
    page(&session, Nav::ApiKeys, "API key created", content)
}

async fn show_again(
    state: &AppState,
    session: &UiSession,
    form: &CreateForm,
    errors: &CreateErrors,
) -> Response {
    let title = Nav::ApiKeys.label();
    match state
        .services
        .api_keys
        .list(session.principal(), 0, LIST_LIMIT)
        .await
    {
        Ok(listed) => {
            let content = list_content(
                state,
                session,
                &listed.api_keys,
                listed.total_count,
                Some((form, errors)),
            );
            page_with_status(StatusCode::BAD_REQUEST, session, Nav::ApiKeys, title, content)
        }
        Err(error) => core_error(session, Nav::ApiKeys, title, "API key", &error),
    }
}

fn sentence(message: &str) -> String {
    let message = message
        .strip_prefix("name ")
        .map_or_else(|| message.to_owned(), |rest| format!("The name {rest}"));
    let mut chars = message.chars();
    let mut text: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !text.ends_with('.') {
        text.push('.');
    }
    text
}

/// `POST /organization/api-keys/{id}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form: () }: CsrfForm<()>,
) -> Response {
    match state.services.api_keys.revoke(session.principal(), &id).await {
        Ok(key) => redirect_with_flash(
            &state,
            LIST_PATH,
            FlashKind::Success,
            &format!(
                "API key {} revoked. Programs using it can no longer call labgate.",
                key.name
            ),
        ),
        Err(error) => core_error(&session, Nav::ApiKeys, "Revoke an API key", "API key", &error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_are_the_offered_ones_only() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        assert_eq!(expiry_time(now, "never"), Ok(None));
        let in_30 = expiry_time(now, "30").unwrap().unwrap();
        assert_eq!(
            labgate_core::timefmt::parse_time(&in_30),
            Some(now + time::Duration::days(30))
        );
        assert!(expiry_time(now, "7").is_err());
        assert!(expiry_time(now, "").is_err());
    }

    #[test]
    fn name_errors_read_as_sentences() {
        assert_eq!(sentence("name must not be blank"), "The name must not be blank.");
    }
}
