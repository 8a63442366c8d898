//! Adding a GitLab connection: choose the app, then the method — an access token, validated at
//! GitLab before it is kept, or OAuth, which sends the browser to GitLab and back to the list.
//! The steps live in a dialog on the list; each also has a page of its own for browsers
//! without the script, and a form shown again with its errors is such a page.

use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::Response;
use labgate_core::CoreError;
use labgate_core::connections::oauth::{FlowErrorCode, STATE_LIFETIME};
use labgate_proto::connections::{
    AccessTokenType, CreateConnectionRequest, CreateCredentials, OAUTH_SCOPES, StartOAuthRequest, Usage,
};
use maud::{DOCTYPE, Markup, html};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::{LIST_PATH, connection_id, gitlab_logo, highlighted_list, sentence};
use crate::api::oauth::binding_cookie;
use crate::state::AppState;
use crate::ui::components::{ButtonKind, link_button, modal, page_header};
use crate::ui::cookies::secure_site;
use crate::ui::csrf::csrf_field;
use crate::ui::flash::{FlashKind, redirect_with_flash};
use crate::ui::layout::{Nav, page_with_status};
use crate::ui::response::html_response;
use crate::ui::{CsrfForm, UiSession, assets};

const NEW_PATH: &str = "/organization/app-connections/new";
const GITLAB_PATH: &str = "/organization/app-connections/new/gitlab";
const TOKEN_PATH: &str = "/organization/app-connections/new/gitlab/access-token";
const OAUTH_PATH: &str = "/organization/app-connections/new/gitlab/oauth";
/// Where GitLab's answer to an OAuth flow begun here comes back to, through labgate's callback.
pub const OAUTH_RETURN_PATH: &str = "/organization/app-connections/oauth-return";
/// What an OAuth connection asks for unless the person chooses otherwise: what Secret Sync
/// and reading the user's projects need.
const DEFAULT_SCOPES: &[&str] = &["api"];
/// The scopes most people choose from, shown first with what they allow.
const COMMON_SCOPES: &[(&str, &str)] = &[
    ("api", "Full read and write access to the API"),
    ("read_api", "Read-only access to the API"),
    ("read_user", "The user's profile"),
    ("read_repository", "Read repositories over Git"),
    ("write_repository", "Push to repositories over Git"),
];

/// What a form was sent with, kept to show it again (never the token).
#[derive(Debug, Default, Clone)]
struct Values {
    name: String,
    description: String,
    instance_url: String,
    token_type: String,
    usages: Vec<String>,
    scopes: Vec<String>,
}

/// Errors by field, and one for the form as a whole.
#[derive(Debug, Default)]
struct Errors {
    name: Option<String>,
    description: Option<String>,
    token: Option<String>,
    token_type: Option<String>,
    instance_url: Option<String>,
    usages: Option<String>,
    scopes: Option<String>,
    form: Option<String>,
}

impl Errors {
    /// Puts core's refusal next to the field it is about.
    fn from_core(error: &CoreError) -> (StatusCode, Errors) {
        let mut errors = Errors::default();
        let status = match error {
            CoreError::Validation { message, field } => {
                let message = sentence(message);
                let field = field.unwrap_or_default();
                let slot = if field.ends_with("accessTokenType") {
                    &mut errors.token_type
                } else if field.contains("accessToken") || field == "credentials" {
                    &mut errors.token
                } else if field.ends_with("instanceUrl") || field == "url" {
                    &mut errors.instance_url
                } else {
                    match field {
                        "name" => &mut errors.name,
                        "description" => &mut errors.description,
                        "usages" => &mut errors.usages,
                        "scopes" => &mut errors.scopes,
                        _ => &mut errors.form,
                    }
                };
                *slot = Some(message);
                StatusCode::UNPROCESSABLE_ENTITY
            }
            CoreError::AlreadyExists(message) => {
                errors.name = Some(sentence(message));
                StatusCode::CONFLICT
            }
            CoreError::Conflict(message) => {
                errors.form = Some(sentence(message));
                StatusCode::CONFLICT
            }
            CoreError::Forbidden(_) => {
                errors.form =
                    Some("Your role cannot add connections; ask an administrator of this tenant.".into());
                StatusCode::FORBIDDEN
            }
            CoreError::Unavailable(message) => {
                errors.form = Some(sentence(message));
                StatusCode::SERVICE_UNAVAILABLE
            }
            CoreError::NotFound(what) => {
                errors.form = Some(sentence(&format!("{what} not found")));
                StatusCode::UNPROCESSABLE_ENTITY
            }
            CoreError::Unauthorized(_) | CoreError::Internal(_) => {
                tracing::error!(error = %error, "a connection could not be added");
                errors.form = Some("labgate could not add the connection. Try again in a moment.".into());
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (status, errors)
    }
}

fn default_instance(state: &AppState) -> String {
    state
        .services
        .instances
        .default_instance()
        .map(|instance| instance.url.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_default()
}

fn fresh_values(state: &AppState) -> Values {
    Values {
        instance_url: default_instance(state),
        token_type: AccessTokenType::Personal.as_str().to_owned(),
        scopes: DEFAULT_SCOPES.iter().map(|scope| (*scope).to_owned()).collect(),
        ..Values::default()
    }
}

/// The fields of a posted form; repeated names (checkboxes) keep every value.
fn read_values(fields: &[(String, String)]) -> (Values, Option<String>) {
    let mut values = Values::default();
    let mut token = None;
    for (name, value) in fields {
        match name.as_str() {
            "name" => values.name.clone_from(value),
            "description" => values.description.clone_from(value),
            "instance_url" => values.instance_url.clone_from(value),
            "token_type" => values.token_type.clone_from(value),
            "usage" => values.usages.push(value.clone()),
            "scope" => values.scopes.push(value.clone()),
            "access_token" => token = Some(value.clone()),
            _ => {}
        }
    }
    (values, token)
}

fn error_text(id: &str, error: Option<&str>) -> Markup {
    html! { @if let Some(error) = error { p.field-error id=(id) { (error) } } }
}

/// A labelled text input whose id starts with `prefix` (a page may hold two forms).
#[allow(clippy::too_many_arguments)]
fn input(
    prefix: &str,
    name: &str,
    label: &str,
    input_type: &str,
    value: &str,
    hint: Option<&str>,
    error: Option<&str>,
    required: bool,
) -> Markup {
    let id = format!("{prefix}-{name}");
    let hint_id = format!("{id}-hint");
    let error_id = format!("{id}-error");
    let described: Vec<&str> = [hint.map(|_| hint_id.as_str()), error.map(|_| error_id.as_str())]
        .into_iter()
        .flatten()
        .collect();
    let described = (!described.is_empty()).then(|| described.join(" "));
    html! {
        div.field.has-error[error.is_some()] {
            label for=(id) { (label) @if !required { span.optional { " (optional)" } } }
            input id=(id) name=(name) type=(input_type) value=[(!value.is_empty()).then_some(value)]
                required[required] autocomplete="off" spellcheck=[(input_type == "password").then_some("false")]
                aria-invalid=[error.map(|_| "true")] aria-describedby=[described];
            @if let Some(hint) = hint { p.hint id=(hint_id) { (hint) } }
            (error_text(&error_id, error))
        }
    }
}

fn form_error(errors: &Errors) -> Markup {
    html! { @if let Some(error) = &errors.form { div.flash.error role="alert" { (error) } } }
}

fn usage_label(usage: Usage) -> (&'static str, &'static str) {
    match usage {
        Usage::SecretSync => (
            "Secret sync",
            "Write CI/CD variables (needs the api scope and Maintainer)",
        ),
        Usage::SecretScanning => ("Secret scanning", "Read repositories (api and read_repository)"),
        Usage::AccessSync => ("Access sync", "Read members of projects and groups"),
    }
}

/// The access-token form. `prefix` keeps ids apart when the dialog and a page share a document.
fn token_form(session: &UiSession, prefix: &str, values: &Values, errors: &Errors, back: Markup) -> Markup {
    let type_error_id = format!("{prefix}-token_type-error");
    let usage_error_id = format!("{prefix}-usage-error");
    html! {
        form.stack method="post" action=(TOKEN_PATH) novalidate {
            (csrf_field(session))
            (form_error(errors))
            (input(prefix, "name", "Name", "text", &values.name,
                Some("How your applications find it: lowercase letters, digits and dashes, e.g. ci-deploy."), errors.name.as_deref(), true))
            (input(prefix, "description", "Description", "text", &values.description, None, errors.description.as_deref(), false))
            fieldset.field.choice-group.has-error[errors.token_type.is_some()]
                aria-describedby=[errors.token_type.as_ref().map(|_| type_error_id.as_str())] {
                legend { "Token type" }
                div.choices {
                    @for (token_type, text) in [
                        (AccessTokenType::Personal, "A user's token: every project the user can reach"),
                        (AccessTokenType::Project, "One project's bot token"),
                        (AccessTokenType::Group, "One group's bot token, for its projects"),
                    ] {
                        @let id = format!("{prefix}-type-{}", token_type.as_str());
                        label.choice for=(id) {
                            input id=(id) type="radio" name="token_type" value=(token_type.as_str())
                                checked[values.token_type == token_type.as_str()];
                            span { strong { (super::token_type_label(Some(token_type), labgate_proto::connections::ConnectionMethod::AccessToken)) } span.hint { (text) } }
                        }
                    }
                }
                (error_text(&type_error_id, errors.token_type.as_deref()))
            }
            (input(prefix, "access_token", "Access token", "password", "",
                Some("Starts with glpat-. labgate checks it at GitLab, stores it encrypted and never shows it again."),
                errors.token.as_deref(), true))
            (input(prefix, "instance_url", "GitLab instance URL", "url", &values.instance_url,
                Some("The GitLab the token belongs to."), errors.instance_url.as_deref(), true))
            fieldset.field.choice-group.has-error[errors.usages.is_some()]
                aria-describedby=[errors.usages.as_ref().map(|_| usage_error_id.as_str())] {
                legend { "Usages " span.optional { "(optional)" } }
                p.hint { "labgate checks that the token can do what you choose here." }
                div.choices {
                    @for usage in Usage::ALL {
                        @let id = format!("{prefix}-usage-{}", usage.as_str());
                        @let (label, hint) = usage_label(*usage);
                        label.choice for=(id) {
                            input id=(id) type="checkbox" name="usage" value=(usage.as_str())
                                checked[values.usages.iter().any(|chosen| chosen == usage.as_str())];
                            span { strong { (label) } span.hint { (hint) } }
                        }
                    }
                }
                (error_text(&usage_error_id, errors.usages.as_deref()))
            }
            div.form-actions {
                (back)
                button type="submit" class="button primary" { "Add connection" }
            }
        }
    }
}

/// The OAuth form: what the connection is called, where, and which scopes to ask for.
fn oauth_form_markup(
    session: &UiSession,
    prefix: &str,
    values: &Values,
    errors: &Errors,
    back: Markup,
) -> Markup {
    let scopes_error_id = format!("{prefix}-scope-error");
    let other_scopes: Vec<&str> = OAUTH_SCOPES
        .iter()
        .copied()
        .filter(|scope| !COMMON_SCOPES.iter().any(|(common, _)| common == scope))
        .collect();
    let chosen = |scope: &str| values.scopes.iter().any(|chosen| chosen == scope);
    html! {
        form.stack method="post" action=(OAUTH_PATH) novalidate {
            (csrf_field(session))
            (form_error(errors))
            (input(prefix, "name", "Name", "text", &values.name,
                Some("Lowercase letters, digits and dashes. Connecting again under the same name renews that connection."), errors.name.as_deref(), true))
            (input(prefix, "description", "Description", "text", &values.description, None, errors.description.as_deref(), false))
            (input(prefix, "instance_url", "GitLab instance URL", "url", &values.instance_url,
                Some("An instance with an OAuth application registered in labgate."), errors.instance_url.as_deref(), true))
            fieldset.field.choice-group.has-error[errors.scopes.is_some()]
                aria-describedby=[errors.scopes.as_ref().map(|_| scopes_error_id.as_str())] {
                legend { "Scopes" }
                p.hint { "What labgate may do as you. The OAuth application at GitLab must allow each one." }
                div.choices.scopes {
                    @for (scope, text) in COMMON_SCOPES {
                        @let id = format!("{prefix}-scope-{scope}");
                        label.choice for=(id) {
                            input id=(id) type="checkbox" name="scope" value=(scope) checked[chosen(scope)];
                            span { code { (scope) } span.hint { (text) } }
                        }
                    }
                }
                details.more-scopes open[other_scopes.iter().any(|scope| chosen(scope))] {
                    summary { "More scopes" }
                    div.scope-chips {
                        @for scope in &other_scopes {
                            @let id = format!("{prefix}-scope-{scope}");
                            label.chip-choice for=(id) {
                                input id=(id) type="checkbox" name="scope" value=(scope) checked[chosen(scope)];
                                code { (scope) }
                            }
                        }
                    }
                }
                (error_text(&scopes_error_id, errors.scopes.as_deref()))
            }
            div.form-actions {
                (back)
                button type="submit" class="button primary" { (gitlab_logo()) "Connect to GitLab" }
            }
        }
    }
}

fn app_card(href: Option<&str>) -> Markup {
    let body = html! {
        (gitlab_logo())
        span.option-text {
            strong { "GitLab" }
            span.hint { "GitLab.com or a self-managed instance" }
        }
        span.option-arrow aria-hidden="true" { "›" }
    };
    html! {
        @match href {
            Some(href) => a.option-card href=(href) { (body) },
            None => button.option-card type="button" data-step-to="method" { (body) },
        }
    }
}

fn method_cards(token_href: Option<&str>, oauth_href: Option<&str>) -> Markup {
    let token = html! {
        span.option-icon aria-hidden="true" { "🔑" }
        span.option-text {
            strong { "Access Token" }
            span.hint { "A personal, project or group access token you create in GitLab." }
        }
        span.option-arrow aria-hidden="true" { "›" }
    };
    let oauth = html! {
        (gitlab_logo())
        span.option-text {
            strong { "OAuth" }
            span.hint { "Sign in to GitLab and authorize labgate; refreshed automatically." }
        }
        span.option-arrow aria-hidden="true" { "›" }
    };
    html! {
        div.option-list {
            @match token_href {
                Some(href) => a.option-card href=(href) { (token) },
                None => button.option-card type="button" data-step-to="token" { (token) },
            }
            @match oauth_href {
                Some(href) => a.option-card href=(href) { (oauth) },
                None => button.option-card type="button" data-step-to="oauth" { (oauth) },
            }
        }
    }
}

fn back_step(step: &str) -> Markup {
    html! { button type="button" class="button secondary" data-step-to=(step) { "Back" } }
}

/// The dialog the list's "Add connection" opens: the same steps as the pages, switched by the
/// script without leaving the list.
pub fn add_connection_dialog(state: &AppState, session: &UiSession) -> Markup {
    let values = fresh_values(state);
    let errors = Errors::default();
    modal(
        "add-connection",
        "Add connection",
        html! {
            div.steps data-steps {
                section data-step="app" aria-label="Choose the app" {
                    p.muted { "Which app do you want to connect?" }
                    div.option-list { (app_card(None)) }
                }
                section data-step="method" aria-label="Choose how to connect" hidden {
                    p.step-title { (gitlab_logo()) " How should labgate connect to GitLab?" }
                    (method_cards(None, None))
                    div.form-actions { (back_step("app")) }
                }
                section data-step="token" aria-label="Connect with an access token" hidden {
                    p.step-title { (gitlab_logo()) " GitLab · Access Token" }
                    (token_form(session, "dialog-token", &values, &errors, back_step("method")))
                }
                section data-step="oauth" aria-label="Connect through OAuth" hidden {
                    p.step-title { (gitlab_logo()) " GitLab · OAuth" }
                    (oauth_form_markup(session, "dialog-oauth", &values, &errors, back_step("method")))
                }
            }
        },
    )
}

fn steps_nav(current: usize) -> Markup {
    let steps = ["App", "Method", "Details"];
    html! {
        ol.stepper aria-label="Steps" {
            @for (index, step) in steps.iter().enumerate() {
                li aria-current=[(index == current).then_some("step")] .done[index < current] {
                    span.step-number { (index + 1) } (step)
                }
            }
        }
    }
}

fn new_page(session: &UiSession, status: StatusCode, title: &str, step: usize, body: Markup) -> Response {
    let content = html! {
        nav.breadcrumbs aria-label="Breadcrumbs" { a href=(LIST_PATH) { "App Connections" } span aria-hidden="true" { " / " } span { "Add connection" } }
        (page_header(title, None, html! {}))
        (steps_nav(step))
        div.card.form-card { (body) }
    };
    page_with_status(status, session, Nav::AppConnections, title, content)
}

/// `GET /organization/app-connections/new`: choose the app.
pub async fn choose_app(session: UiSession) -> Response {
    new_page(
        &session,
        StatusCode::OK,
        "Add connection",
        0,
        html! {
            p.muted { "Which app do you want to connect?" }
            div.option-list { (app_card(Some(GITLAB_PATH))) }
        },
    )
}

/// `GET /organization/app-connections/new/gitlab`: choose the method.
pub async fn choose_method(session: UiSession) -> Response {
    new_page(
        &session,
        StatusCode::OK,
        "Connect GitLab",
        1,
        html! {
            p.muted { "How should labgate connect to GitLab?" }
            (method_cards(Some(TOKEN_PATH), Some(OAUTH_PATH)))
            div.form-actions { (link_button(ButtonKind::Secondary, "Back", NEW_PATH)) }
        },
    )
}

fn token_page(session: &UiSession, status: StatusCode, values: &Values, errors: &Errors) -> Response {
    new_page(
        session,
        status,
        "Connect GitLab with an access token",
        2,
        token_form(
            session,
            "token",
            values,
            errors,
            link_button(ButtonKind::Secondary, "Back", GITLAB_PATH),
        ),
    )
}

fn oauth_page(session: &UiSession, status: StatusCode, values: &Values, errors: &Errors) -> Response {
    new_page(
        session,
        status,
        "Connect GitLab through OAuth",
        2,
        oauth_form_markup(
            session,
            "oauth",
            values,
            errors,
            link_button(ButtonKind::Secondary, "Back", GITLAB_PATH),
        ),
    )
}

/// `GET /organization/app-connections/new/gitlab/access-token`.
pub async fn token_form_page(State(state): State<AppState>, session: UiSession) -> Response {
    token_page(
        &session,
        StatusCode::OK,
        &fresh_values(&state),
        &Errors::default(),
    )
}

/// `GET /organization/app-connections/new/gitlab/oauth`.
pub async fn oauth_form(State(state): State<AppState>, session: UiSession) -> Response {
    oauth_page(
        &session,
        StatusCode::OK,
        &fresh_values(&state),
        &Errors::default(),
    )
}

fn optional(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// `POST /organization/app-connections/new/gitlab/access-token`: creates the connection as the
/// API does (the token is validated at GitLab), then shows it marked in the list.
pub async fn create_with_token(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<Vec<(String, String)>>,
) -> Response {
    let (values, token) = read_values(&form);
    // A missing name is said before GitLab is asked anything.
    if values.name.trim().is_empty() {
        let errors = Errors {
            name: Some("Enter a name for the connection.".into()),
            token: token
                .as_deref()
                .is_none_or(|token| token.trim().is_empty())
                .then(|| "Paste the access token from GitLab.".to_owned()),
            ..Errors::default()
        };
        return token_page(&session, StatusCode::UNPROCESSABLE_ENTITY, &values, &errors);
    }
    let Some(token) = token.filter(|token| !token.trim().is_empty()) else {
        let errors = Errors {
            token: Some("Paste the access token from GitLab.".into()),
            ..Errors::default()
        };
        return token_page(&session, StatusCode::UNPROCESSABLE_ENTITY, &values, &errors);
    };
    let usages: Vec<String> = values.usages.clone();
    let request = CreateConnectionRequest {
        name: values.name.clone(),
        description: optional(&values.description),
        method: labgate_proto::connections::ConnectionMethod::AccessToken
            .as_str()
            .to_owned(),
        credentials: Some(CreateCredentials {
            access_token: Some(token),
            instance_url: optional(&values.instance_url),
            access_token_type: Some(values.token_type.clone()),
            ..CreateCredentials::default()
        }),
        project_id: None,
        is_platform_managed_credentials: None,
        gateway_id: None,
        usages: (!usages.is_empty()).then_some(usages),
        auto_rotate: None,
        rotate_before_days: None,
    };
    match state
        .services
        .connections
        .create(session.principal(), request)
        .await
    {
        Ok(connection) => redirect_with_flash(
            &state,
            &highlighted_list(&connection.id),
            FlashKind::Success,
            &format!(
                "Connection “{}” added. GitLab accepted the token.",
                connection.name
            ),
        ),
        Err(error) => {
            let (status, errors) = Errors::from_core(&error);
            token_page(&session, status, &values, &errors)
        }
    }
}

/// `POST /organization/app-connections/new/gitlab/oauth`: begins the authorization, bound to
/// this browser, and sends the browser to GitLab. The page's policy lets forms post only to
/// labgate, which browsers also apply to a redirect answering the post; so the answer is a page
/// that moves on to GitLab itself.
pub async fn start_oauth(
    State(state): State<AppState>,
    CsrfForm { session, form }: CsrfForm<Vec<(String, String)>>,
) -> Response {
    let (values, _) = read_values(&form);
    if values.name.trim().is_empty() {
        let errors = Errors {
            name: Some("Enter a name for the connection.".into()),
            scopes: values
                .scopes
                .is_empty()
                .then(|| "Choose at least one scope.".to_owned()),
            ..Errors::default()
        };
        return oauth_page(&session, StatusCode::UNPROCESSABLE_ENTITY, &values, &errors);
    }
    if values.scopes.is_empty() {
        let errors = Errors {
            scopes: Some("Choose at least one scope.".into()),
            ..Errors::default()
        };
        return oauth_page(&session, StatusCode::UNPROCESSABLE_ENTITY, &values, &errors);
    }
    let request = StartOAuthRequest {
        name: values.name.clone(),
        description: optional(&values.description),
        instance_url: optional(&values.instance_url),
        scopes: values.scopes.clone(),
        ..StartOAuthRequest::default()
    };
    let started = match state
        .services
        .connections
        .start_oauth_from_page(session.principal(), request, OAUTH_RETURN_PATH)
        .await
    {
        Ok(started) => started,
        Err(error) => {
            let (status, errors) = Errors::from_core(&error);
            return oauth_page(&session, status, &values, &errors);
        }
    };
    let mut response = to_gitlab_page(&started.authorize_url);
    if let Some(binding) = &started.browser_binding
        && let Ok(mut cookie) = HeaderValue::from_str(&binding_cookie(
            binding.expose_secret(),
            STATE_LIFETIME.whole_seconds(),
            secure_site(&state),
        ))
    {
        cookie.set_sensitive(true);
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

/// A page that moves on to GitLab at once (and offers the link, should it not).
fn to_gitlab_page(authorize_url: &str) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                meta http-equiv="refresh" content={ "0;url=" (authorize_url) };
                title { "Continue to GitLab · labgate" }
                link rel="stylesheet" href=(assets::stylesheet_url());
                link rel="icon" type="image/svg+xml" href=(assets::icon_url());
            }
            body.centered {
                main.card.narrow id="main" {
                    p.brand { span.brand-mark aria-hidden="true" { "lg" } " labgate" }
                    h1 { "Taking you to GitLab…" }
                    p.muted { "Sign in to GitLab and authorize labgate. You will come back to App Connections." }
                    div.actions {
                        a.button.primary href=(authorize_url) { (gitlab_logo()) "Continue to GitLab" }
                    }
                }
            }
        }
    };
    html_response(StatusCode::OK, markup)
}

#[derive(Deserialize, Default)]
pub struct ReturnQuery {
    #[serde(rename = "connectionId")]
    connection_id: Option<String>,
    error: Option<String>,
}

/// Words for how a flow ended without a connection. Only the code is read from the URL: the
/// description there could be written by anyone who sends a link.
fn flow_error_message(code: Option<FlowErrorCode>) -> &'static str {
    match code {
        Some(FlowErrorCode::AccessDenied) => {
            "GitLab was not connected: the authorization was denied at GitLab. Connect again and choose Authorize."
        }
        Some(FlowErrorCode::ExpiredState) => {
            "GitLab was not connected: the authorization took longer than ten minutes. Connect again."
        }
        Some(
            FlowErrorCode::BrowserMismatch | FlowErrorCode::InvalidState | FlowErrorCode::InvalidRequest,
        ) => {
            "GitLab was not connected: the authorization could not be matched to this browser. Connect again from this page."
        }
        Some(FlowErrorCode::IdentityMismatch) => {
            "GitLab was not connected: another GitLab user authorized than the connection's own. Sign in to GitLab as that user, or use another name."
        }
        Some(FlowErrorCode::AuthorizationFailed | FlowErrorCode::ExchangeFailed) => {
            "GitLab was not connected: GitLab refused the authorization. Check the OAuth application's scopes and redirect URI."
        }
        Some(FlowErrorCode::ConnectionFailed) | None => {
            "GitLab was not connected: labgate could not save the connection. Connect again."
        }
    }
}

/// `GET /organization/app-connections/oauth-return`: where an OAuth flow begun on these pages
/// ends. On to the list, with the new connection marked and a message either way.
pub async fn oauth_return(State(state): State<AppState>, session: UiSession, uri: Uri) -> Response {
    let query = Query::<ReturnQuery>::try_from_uri(&uri)
        .map(|query| query.0)
        .unwrap_or_default();
    if let Some(id) = query.connection_id.as_deref().and_then(connection_id) {
        return match state.services.connections.get(session.principal(), id).await {
            Ok(connection) => {
                let who = connection
                    .gitlab_user
                    .username
                    .as_deref()
                    .map(|username| format!(" as @{username}"))
                    .unwrap_or_default();
                redirect_with_flash(
                    &state,
                    &highlighted_list(&connection.id),
                    FlashKind::Success,
                    &format!(
                        "GitLab connected{who}: connection “{}” is ready.",
                        connection.name
                    ),
                )
            }
            Err(_) => redirect_with_flash(
                &state,
                LIST_PATH,
                FlashKind::Error,
                "The connection GitLab authorized was not found in this tenant.",
            ),
        };
    }
    let code = query.error.as_deref().and_then(FlowErrorCode::parse);
    redirect_with_flash(&state, LIST_PATH, FlashKind::Error, flow_error_message(code))
}
