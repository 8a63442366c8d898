//! GitLab instances: the instances the tenant connects to and the OAuth application registered at
//! each, the default instance from the server's settings, and the redirect URI people paste into
//! GitLab. Everyone who may read sees them; only admins add, change or delete them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use labgate_core::CoreError;
use labgate_core::auth::{Access, role_allows};
use labgate_proto::instances::{
    CreateGitLabInstanceRequest, GitLabInstanceView, InstanceKind, UpdateGitLabInstanceRequest,
};
use maud::{Markup, html};
use serde::Deserialize;

use super::components::{
    ButtonKind, Field, Tone, badge, button, copy_button, empty_state, field, field_error, link_button,
    page_header, relative_time_text, table,
};
use super::denied::{core_error, forbidden, not_found};
use super::flash::{FlashKind, redirect_with_flash};
use super::layout::{Nav, page, page_with_status};
use super::{CsrfForm, UiSession, csrf_field};
use crate::state::AppState;

const LIST_PATH: &str = "/organization/gitlab-instances";
const NEW_PATH: &str = "/organization/gitlab-instances/new";
/// Enough for any tenant's instances on one page.
const LIST_LIMIT: u32 = 100;
const ADMIN_ONLY: &str = "Only administrators of this tenant add, change or delete GitLab instances.";

/// The fields of the add and edit forms, as typed.
#[derive(Deserialize, Default)]
pub struct InstanceForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    oauth_client_id: String,
    #[serde(default)]
    oauth_client_secret: String,
    #[serde(default)]
    ca_bundle: String,
    #[serde(default)]
    proxy_url: String,
    /// Edit only: a checkbox that removes the stored client secret.
    #[serde(default)]
    remove_secret: Option<String>,
}

impl std::fmt::Debug for InstanceForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceForm")
            .field("url", &self.url)
            .field("oauth_client_id", &self.oauth_client_id)
            .finish_non_exhaustive()
    }
}

fn optional(text: &str) -> Option<String> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// The PEM as typed, with browsers' CRLF line ends made plain.
fn optional_pem(text: &str) -> Option<String> {
    optional(&text.replace("\r\n", "\n")).map(|pem| format!("{pem}\n"))
}

impl InstanceForm {
    fn from_view(view: &GitLabInstanceView) -> InstanceForm {
        InstanceForm {
            url: view.url.clone(),
            oauth_client_id: view.oauth_client_id.clone().unwrap_or_default(),
            oauth_client_secret: String::new(),
            ca_bundle: view.ca_bundle.clone().unwrap_or_default(),
            proxy_url: view.proxy_url.clone().unwrap_or_default(),
            remove_secret: None,
        }
    }

    fn create_request(&self) -> CreateGitLabInstanceRequest {
        CreateGitLabInstanceRequest {
            url: self.url.trim().to_owned(),
            kind: None,
            oauth_client_id: optional(&self.oauth_client_id),
            oauth_client_secret: optional(&self.oauth_client_secret),
            ca_bundle: optional_pem(&self.ca_bundle),
            proxy_url: optional(&self.proxy_url),
        }
    }

    fn update_request(&self) -> UpdateGitLabInstanceRequest {
        let secret = match optional(&self.oauth_client_secret) {
            Some(secret) => Some(Some(secret)),
            None if self.remove_secret.is_some() => Some(None),
            // Blank keeps the stored secret.
            None => None,
        };
        UpdateGitLabInstanceRequest {
            url: Some(self.url.trim().to_owned()),
            kind: None,
            oauth_client_id: Some(optional(&self.oauth_client_id)),
            oauth_client_secret: secret,
            ca_bundle: Some(optional_pem(&self.ca_bundle)),
            proxy_url: Some(optional(&self.proxy_url)),
        }
    }
}

/// What went wrong with a form: under the field it concerns, or above the form.
#[derive(Debug, Default)]
struct FormErrors {
    field: Option<(&'static str, String)>,
    general: Option<String>,
}

impl FormErrors {
    fn of(&self, name: &str) -> Option<&str> {
        self.field
            .as_ref()
            .filter(|(field, _)| *field == name)
            .map(|(_, message)| message.as_str())
    }

    /// The error the form can show, or `None` for one it cannot (shown as a page instead).
    fn from_core(error: &CoreError) -> Option<FormErrors> {
        let field = |name: &'static str| -> &'static str {
            match name {
                "url" | "kind" => "url",
                "oauthClientId" => "oauth_client_id",
                "oauthClientSecret" => "oauth_client_secret",
                "caBundle" => "ca_bundle",
                "proxyUrl" => "proxy_url",
                _ => "",
            }
        };
        match error {
            CoreError::Validation {
                message,
                field: Some(name),
            } if !field(name).is_empty() => Some(FormErrors {
                field: Some((field(name), sentence(message))),
                general: None,
            }),
            CoreError::Validation { message, .. } | CoreError::Conflict(message) => Some(FormErrors {
                field: None,
                general: Some(sentence(message)),
            }),
            CoreError::AlreadyExists(message) => Some(FormErrors {
                field: Some(("url", sentence(message))),
                general: None,
            }),
            _ => None,
        }
    }
}

/// The API's field names at the start of core's messages, as the form labels them.
const FIELD_WORDS: [(&str, &str); 7] = [
    ("url refused", "This URL cannot be used"),
    ("url", "The URL"),
    ("oauthClientId", "The OAuth application ID"),
    ("oauthClientSecret", "The client secret"),
    ("caBundle", "The CA bundle"),
    ("proxyUrl", "The proxy"),
    ("kind", "The kind"),
];

/// A message of core's as a sentence on a page: the field as the form names it, capitalised,
/// with its full stop.
fn sentence(message: &str) -> String {
    let mut message = message.to_owned();
    for (api, words) in FIELD_WORDS {
        if let Some(rest) = message.strip_prefix(api)
            && (rest.starts_with(' ') || rest.starts_with(':'))
        {
            message = format!("{words}{rest}");
            break;
        }
    }
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

fn is_admin(session: &UiSession) -> bool {
    role_allows(session.principal().role, Access::Admin)
}

/// The instance as people name it: host and path prefix.
fn host_label(url: &str) -> &str {
    url.strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url)
        .trim_end_matches('/')
}

/// The redirect URI in a box of its own, with its copy button, or what to configure to get one.
fn redirect_uri_panel(redirect_uri: Option<&str>) -> Markup {
    html! {
        section.callout aria-labelledby="redirect-title" {
            h2 id="redirect-title" { "OAuth redirect URI" }
            @match redirect_uri {
                Some(uri) => {
                    p.muted {
                        "Paste this into GitLab → Applications (User settings, Group settings or Admin area) as the "
                        "Redirect URI of labgate's OAuth application, with the scopes your connections need."
                    }
                    div.copy-row {
                        code.copy-value data-redirect-uri { (uri) }
                        (copy_button(uri, "Copy"))
                    }
                }
                None => p.muted {
                    "labgate does not know its own address yet: set " code { "LABGATE_SITE_URL" }
                    " (for example https://labgate.example.com) and restart it; the redirect URI to register at "
                    "GitLab then shows here."
                },
            }
        }
    }
}

fn default_instance_panel(state: &AppState) -> Markup {
    let instances = &state.services.instances;
    let default = instances.default_instance();
    let url = instances
        .default_url()
        .map(|url| url.as_str().to_owned())
        .unwrap_or_else(|_| "https://gitlab.com".to_owned());
    html! {
        section.card.compact aria-labelledby="default-title" {
            div.card-title-row {
                h2 id="default-title" { "Default instance" }
                (badge(Tone::Neutral, "From the server's settings"))
            }
            p.muted {
                "Connections that name no instance go here. It is set with " code { "LABGATE_GITLAB_URL" } " and "
                code { "LABGATE_GITLAB_OAUTH_CLIENT_ID" } " / " code { "…_SECRET" } ", and cannot be changed on this page."
            }
            dl.facts {
                dt { "URL" }
                dd { span.mono { (url) } }
                dt { "OAuth application" }
                dd {
                    @match default.and_then(|default| default.oauth_client_id.as_deref()) {
                        Some(client_id) => {
                            (badge(Tone::Success, "Configured"))
                            " " span.mono.muted { (client_id) }
                        }
                        None => (badge(Tone::Neutral, "Not configured")),
                    }
                }
            }
        }
    }
}

fn oauth_cell(view: &GitLabInstanceView) -> Markup {
    html! {
        @match (&view.oauth_client_id, view.has_oauth_client_secret) {
            (Some(client_id), true) => {
                (badge(Tone::Success, "Configured"))
                div.secondary-text.mono { (client_id) }
            }
            (Some(client_id), false) => {
                (badge(Tone::Warning, "No client secret"))
                div.secondary-text.mono { (client_id) }
            }
            (None, _) => (badge(Tone::Neutral, "Not configured")),
        }
    }
}

fn network_cell(view: &GitLabInstanceView) -> Markup {
    html! {
        @if view.ca_bundle.is_none() && view.proxy_url.is_none() {
            span.muted { "Public CAs, direct" }
        }
        @if view.ca_bundle.is_some() { div { "Own CA bundle" } }
        @if let Some(proxy) = &view.proxy_url { div { "Proxy " span.mono { (host_label(proxy)) } } }
    }
}

fn row(
    session: &UiSession,
    now: time::OffsetDateTime,
    view: &GitLabInstanceView,
    connections: Option<u64>,
) -> Markup {
    html! {
        tr {
            td {
                div.primary-text.mono { (host_label(&view.url)) }
                div.secondary-text {
                    @match view.kind { InstanceKind::GitLabCom => "GitLab.com", InstanceKind::SelfManaged => "Self-managed" }
                    " · added " (relative_time_text(now, &view.created_at))
                }
            }
            td { (oauth_cell(view)) }
            td { (network_cell(view)) }
            td.numeric {
                @match connections { Some(count) => (count), None => span.muted { "—" } }
            }
            @if is_admin(session) {
                td.row-actions {
                    (link_button(ButtonKind::Secondary, "Edit", &format!("{LIST_PATH}/{}/edit", view.id)))
                    form method="post" action={ (LIST_PATH) "/" (view.id) "/delete" } {
                        (csrf_field(session))
                        button type="submit" class="button danger small"
                            data-confirm={ "Delete the GitLab instance " (host_label(&view.url)) "? Its OAuth client secret is deleted too." }
                            aria-label={ "Delete " (host_label(&view.url)) } { "Delete" }
                    }
                }
            }
        }
    }
}

/// `GET /organization/gitlab-instances`.
pub async fn list(State(state): State<AppState>, session: UiSession) -> Response {
    let title = Nav::GitLabInstances.label();
    let instances = &state.services.instances;
    let listed = match instances.list(session.principal(), 0, LIST_LIMIT).await {
        Ok(listed) => listed,
        Err(error) => return core_error(&session, Nav::GitLabInstances, title, "GitLab instance", &error),
    };
    let mut counts = Vec::with_capacity(listed.gitlab_instances.len());
    for view in &listed.gitlab_instances {
        // A count that cannot be had leaves its cell blank rather than the page.
        counts.push(
            instances
                .connection_count(session.principal(), &view.id)
                .await
                .ok(),
        );
    }
    let now = state.services.clock.now();
    let admin = is_admin(&session);
    let add = if admin {
        link_button(ButtonKind::Primary, "Add instance", NEW_PATH)
    } else {
        html! {}
    };
    let description = "Self-managed GitLab instances (or GitLab.com with an OAuth application of your own) that \
                       connections reach, with how labgate reaches them.";
    let mut headers = vec!["Instance", "OAuth application", "Network", "OAuth connections"];
    if admin {
        headers.push("Actions");
    }
    let content = html! {
        (page_header(title, Some(description), add.clone()))
        (redirect_uri_panel(instances.redirect_uri()))
        (default_instance_panel(&state))
        h2.section-title { "Registered instances" }
        @if listed.gitlab_instances.is_empty() {
            (empty_state(
                "No GitLab instances registered",
                if admin {
                    "Register a self-managed GitLab (with its path prefix, CA bundle or proxy if it needs them) and the \
                     OAuth application you created there, so people can connect to it through OAuth."
                } else {
                    "An administrator registers self-managed GitLab instances and their OAuth applications here."
                },
                add,
            ))
        } @else {
            (table(
                "GitLab instances",
                &headers,
                html! {
                    @for (view, connections) in listed.gitlab_instances.iter().zip(counts) {
                        (row(&session, now, view, connections))
                    }
                },
            ))
            p.table-footer.muted {
                (listed.total_count) " instance" @if listed.total_count != 1 { "s" }
                @if !admin { " · " (ADMIN_ONLY) }
            }
        }
    };
    page(&session, Nav::GitLabInstances, title, content)
}

/// The add or edit form; `editing` names the instance being changed.
fn form_page(
    state: &AppState,
    session: &UiSession,
    status: StatusCode,
    editing: Option<&GitLabInstanceView>,
    values: &InstanceForm,
    errors: &FormErrors,
) -> Response {
    let (title, action, submit) = match editing {
        Some(view) => (
            format!("Edit {}", host_label(&view.url)),
            format!("{LIST_PATH}/{}", view.id),
            "Save changes",
        ),
        None => (
            "Add a GitLab instance".to_owned(),
            LIST_PATH.to_owned(),
            "Add instance",
        ),
    };
    let mut url = Field::new("Instance URL", "url", "url");
    url.value = Some(&values.url);
    url.required = true;
    url.hint = Some(
        "The address people open GitLab at, with its path prefix if it has one: https://git.example.com/gitlab",
    );
    url.error = errors.of("url");
    let mut client_id = Field::new("OAuth application ID", "oauth_client_id", "text");
    client_id.value = Some(&values.oauth_client_id);
    client_id.autocomplete = Some("off");
    client_id.hint =
        Some("GitLab calls it Application ID. Leave blank if people connect with access tokens only.");
    client_id.error = errors.of("oauth_client_id");
    let has_secret = editing.is_some_and(|view| view.has_oauth_client_secret);
    let mut secret = Field::new("OAuth client secret", "oauth_client_secret", "password");
    secret.autocomplete = Some("new-password");
    secret.hint = Some(if has_secret {
        "A secret is stored. Leave blank to keep it; it is never shown again."
    } else {
        "Stored encrypted and never shown again."
    });
    secret.error = errors.of("oauth_client_secret");
    let mut proxy = Field::new("Proxy", "proxy_url", "url");
    proxy.value = Some(&values.proxy_url);
    proxy.hint = Some("Optional: http://proxy.internal:3128 if this instance is reached through a proxy.");
    proxy.error = errors.of("proxy_url");
    let ca_error = errors.of("ca_bundle");
    let content = html! {
        (page_header(&title, Some("labgate reaches the instance with these settings; the OAuth application lets people connect through OAuth."), html! {
            (link_button(ButtonKind::Secondary, "Cancel", LIST_PATH))
        }))
        (redirect_uri_panel(state.services.instances.redirect_uri()))
        section.card.form-card {
            @if let Some(message) = &errors.general {
                div.flash.error role="alert" { (message) }
            }
            form.stack method="post" action=(action) {
                (csrf_field(session))
                (field(&url))
                (field(&client_id))
                (field(&secret))
                @if has_secret {
                    label.checkbox {
                        input type="checkbox" name="remove_secret" value="1" checked[values.remove_secret.is_some()];
                        " Remove the stored client secret"
                    }
                }
                div.field.has-error[ca_error.is_some()] {
                    label for="field-ca_bundle" { "CA bundle" }
                    p.hint id="field-ca_bundle-hint" { "Optional: PEM certificates to trust for this instance, on top of the public ones (for an internal CA)." }
                    textarea id="field-ca_bundle" name="ca_bundle" rows="6" spellcheck="false"
                        placeholder="-----BEGIN CERTIFICATE-----"
                        aria-invalid=[ca_error.map(|_| "true")]
                        aria-describedby=(if ca_error.is_some() { "field-ca_bundle-hint field-ca_bundle-error" } else { "field-ca_bundle-hint" }) {
                        (values.ca_bundle)
                    }
                    (field_error("field-ca_bundle-error", ca_error))
                }
                (field(&proxy))
                div.actions { (button(ButtonKind::Primary, submit, None)) }
            }
        }
    };
    page_with_status(status, session, Nav::GitLabInstances, &title, content)
}

/// `GET /organization/gitlab-instances/new`.
pub async fn new_form(State(state): State<AppState>, session: UiSession) -> Response {
    if !is_admin(&session) {
        return forbidden(
            &session,
            Nav::GitLabInstances,
            "Add a GitLab instance",
            ADMIN_ONLY,
        );
    }
    form_page(
        &state,
        &session,
        StatusCode::OK,
        None,
        &InstanceForm::default(),
        &FormErrors::default(),
    )
}

/// `POST /organization/gitlab-instances`.
pub async fn create(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<InstanceForm>,
) -> Response {
    let title = "Add a GitLab instance";
    match state
        .services
        .instances
        .create(session.principal(), form.create_request())
        .await
    {
        Ok(view) => redirect_with_flash(
            &state,
            LIST_PATH,
            FlashKind::Success,
            &format!("GitLab instance {} added.", host_label(&view.url)),
        ),
        Err(error) => match FormErrors::from_core(&error) {
            Some(errors) => form_page(&state, &session, StatusCode::BAD_REQUEST, None, &form, &errors),
            None => core_error(&session, Nav::GitLabInstances, title, "GitLab instance", &error),
        },
    }
}

/// `GET /organization/gitlab-instances/{id}/edit`.
pub async fn edit_form(
    State(state): State<AppState>,
    session: UiSession,
    Path(id): Path<String>,
) -> Response {
    if !is_admin(&session) {
        return forbidden(
            &session,
            Nav::GitLabInstances,
            "Edit a GitLab instance",
            ADMIN_ONLY,
        );
    }
    match state.services.instances.get(session.principal(), &id).await {
        Ok(view) => form_page(
            &state,
            &session,
            StatusCode::OK,
            Some(&view),
            &InstanceForm::from_view(&view),
            &FormErrors::default(),
        ),
        Err(error) => core_error(
            &session,
            Nav::GitLabInstances,
            "Edit a GitLab instance",
            "GitLab instance",
            &error,
        ),
    }
}

/// `POST /organization/gitlab-instances/{id}`.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form }: CsrfForm<InstanceForm>,
) -> Response {
    let title = "Edit a GitLab instance";
    let instances = &state.services.instances;
    match instances
        .update(session.principal(), &id, form.update_request())
        .await
    {
        Ok(view) => redirect_with_flash(
            &state,
            LIST_PATH,
            FlashKind::Success,
            &format!("GitLab instance {} saved.", host_label(&view.url)),
        ),
        Err(error) => match FormErrors::from_core(&error) {
            Some(errors) => match instances.get(session.principal(), &id).await {
                Ok(view) => form_page(
                    &state,
                    &session,
                    StatusCode::BAD_REQUEST,
                    Some(&view),
                    &form,
                    &errors,
                ),
                Err(error) => core_error(&session, Nav::GitLabInstances, title, "GitLab instance", &error),
            },
            None => core_error(&session, Nav::GitLabInstances, title, "GitLab instance", &error),
        },
    }
}

/// `POST /organization/gitlab-instances/{id}/delete`: refused with an error message while
/// connections refresh through the instance's OAuth application.
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, form: () }: CsrfForm<()>,
) -> Response {
    match state.services.instances.delete(session.principal(), &id).await {
        Ok(view) => redirect_with_flash(
            &state,
            LIST_PATH,
            FlashKind::Success,
            &format!("GitLab instance {} deleted.", host_label(&view.url)),
        ),
        Err(CoreError::Conflict(message)) => redirect_with_flash(
            &state,
            LIST_PATH,
            FlashKind::Error,
            &format!("The instance was not deleted: {message}."),
        ),
        Err(CoreError::NotFound(_)) => not_found(&session, Nav::GitLabInstances, "GitLab instance"),
        Err(error) => core_error(
            &session,
            Nav::GitLabInstances,
            "Delete a GitLab instance",
            "GitLab instance",
            &error,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blank_secret_keeps_the_stored_one_unless_removal_is_asked() {
        let mut form = InstanceForm {
            url: " https://git.example.com/gitlab ".into(),
            oauth_client_id: "app".into(),
            ca_bundle: "-----BEGIN CERTIFICATE-----\r\nabc\r\n-----END CERTIFICATE-----\r\n".into(),
            ..InstanceForm::default()
        };
        let update = form.update_request();
        assert_eq!(update.url.as_deref(), Some("https://git.example.com/gitlab"));
        assert_eq!(update.oauth_client_secret, None);
        assert_eq!(
            update.ca_bundle,
            Some(Some(
                "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n".into()
            ))
        );
        assert_eq!(update.proxy_url, Some(None), "a blank proxy clears it");
        form.remove_secret = Some("1".into());
        assert_eq!(form.update_request().oauth_client_secret, Some(None));
        form.oauth_client_secret = "s3cret".into();
        assert_eq!(
            form.update_request().oauth_client_secret,
            Some(Some("s3cret".into()))
        );
        assert!(!format!("{form:?}").contains("s3cret"));
    }

    #[test]
    fn core_messages_read_as_sentences_under_their_field() {
        let errors =
            FormErrors::from_core(&CoreError::validation("proxyUrl", "proxyUrl must be http")).unwrap();
        assert_eq!(errors.of("proxy_url"), Some("The proxy must be http."));
        assert_eq!(
            sentence("url refused: it is internal"),
            "This URL cannot be used: it is internal."
        );
        assert!(FormErrors::from_core(&CoreError::NotFound("GitLab instance")).is_none());
    }
}
