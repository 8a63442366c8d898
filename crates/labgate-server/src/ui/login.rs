//! Logging in and out, and the site's front door.

use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use labgate_core::auth::LoginError;
use labgate_crypto::{constant_time_eq, random_token};
use maud::{DOCTYPE, Markup, html};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::components::{Field, field};
use super::cookies::{
    LOGIN_CSRF_COOKIE, SESSION_COOKIE, clear_cookie, cookie, secure_site, set_cookie, sign, verify,
};
use super::csrf::{CSRF_FIELD, csrf_rejected, form_body, split_token};
use super::flash::{Flash, FlashKind, read_flash, redirect_with_flash};
use super::layout::{Nav, head};
use super::response::{error_page, html_response, redirect};
use super::session::{current_session, local_path};
use crate::extract::RequestInfo;
use crate::state::AppState;

/// Where people land after logging in: the first section of the navigation.
const HOME: &str = Nav::AppConnections.path();
const LOGIN_PURPOSE: &str = "ui-login-csrf";

/// `/`: the home page for a logged-in person, else the login page.
pub async fn root(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    match current_session(&parts, &state).await {
        Ok(Some(_)) => redirect(HOME),
        Ok(None) => redirect("/login"),
        Err(unavailable) => axum::response::IntoResponse::into_response(unavailable),
    }
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
}

/// The login token of this browser, if it holds one labgate signed.
fn existing_login_token<'a>(state: &AppState, headers: &'a HeaderMap) -> Option<&'a str> {
    let value = cookie(headers, LOGIN_CSRF_COOKIE)?;
    let (nonce, mac) = value.split_once('.')?;
    verify(state, LOGIN_PURPOSE, nonce.as_bytes(), mac).then_some(value)
}

fn new_login_token(state: &AppState) -> String {
    let nonce = random_token(32);
    let mac = sign(state, LOGIN_PURPOSE, nonce.expose_secret().as_bytes());
    format!("{}.{mac}", nonce.expose_secret())
}

/// What the login form shows.
#[derive(Default)]
struct LoginView<'a> {
    email: Option<&'a str>,
    next: Option<&'a str>,
    error: Option<String>,
    flash: Option<Flash>,
}

fn login_markup(token: &str, view: &LoginView<'_>) -> Markup {
    let mut email = Field::new("Email", "email", "email");
    email.value = view.email;
    email.required = true;
    email.autocomplete = Some("username");
    let mut password = Field::new("Password", "password", "password");
    password.required = true;
    password.autocomplete = Some("current-password");
    password.error = view.error.as_deref();
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Log in"))
            body.centered {
                a.skip-link href="#main" { "Skip to content" }
                main.card.narrow id="main" tabindex="-1" {
                    p.brand { span.brand-mark aria-hidden="true" { "lg" } " labgate" }
                    h1 { "Log in" }
                    p.muted { "Use the email and password your labgate administrator gave you." }
                    @if let Some(flash) = &view.flash {
                        @match flash.kind {
                            FlashKind::Success => div.flash.success role="status" { (flash.message) },
                            FlashKind::Error => div.flash.error role="alert" { (flash.message) },
                        }
                    }
                    form.stack method="post" action="/login" {
                        input type="hidden" name=(CSRF_FIELD) value=(token);
                        @if let Some(next) = view.next { input type="hidden" name="next" value=(next); }
                        (field(&email))
                        (field(&password))
                        button type="submit" class="button primary block" { "Log in" }
                    }
                    p.hint {
                        "No account yet? An administrator creates one with "
                        code { "labgate users create" }
                        "."
                    }
                }
            }
        }
    }
}

/// Renders the login form with this browser's token, setting the cookie when it is new.
fn login_page(state: &AppState, headers: &HeaderMap, status: StatusCode, view: &LoginView<'_>) -> Response {
    let existing = existing_login_token(state, headers).map(str::to_owned);
    let token = existing.clone().unwrap_or_else(|| new_login_token(state));
    let mut response = html_response(status, login_markup(&token, view));
    let secure = secure_site(state);
    if existing.is_none()
        && let Some(header) = set_cookie(LOGIN_CSRF_COOKIE, &token, "/login", None, secure)
    {
        response.headers_mut().append(SET_COOKIE, header);
    }
    if view.flash.is_some()
        && let Some(header) = clear_cookie(super::cookies::FLASH_COOKIE, "/", secure)
    {
        response.headers_mut().append(SET_COOKIE, header);
    }
    response
}

/// `GET /login`: the form; a logged-in person goes straight on.
pub async fn login_form(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let query = Query::<LoginQuery>::from_request_parts(&mut parts, &state)
        .await
        .map(|query| query.0)
        .unwrap_or_default();
    let next = query.next.as_deref().and_then(local_path);
    match current_session(&parts, &state).await {
        Ok(Some(_)) => return redirect(next.unwrap_or(HOME)),
        Ok(None) => {}
        Err(unavailable) => return axum::response::IntoResponse::into_response(unavailable),
    }
    let view = LoginView {
        next,
        flash: read_flash(&state, &parts.headers),
        ..LoginView::default()
    };
    login_page(&state, &parts.headers, StatusCode::OK, &view)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

/// `POST /login`: a session cookie and on to `next`, or the form again with what went wrong.
pub async fn login(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers.clone();
    let client_ip = parts
        .extensions
        .get::<RequestInfo>()
        .and_then(|info| info.client_ip);
    let bytes = match form_body(Request::from_parts(parts, body), &state).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let (token, fields) = split_token(&bytes);
    let double_submitted = match (token, existing_login_token(&state, &headers)) {
        (Some(presented), Some(expected)) => constant_time_eq(presented.as_bytes(), expected.as_bytes()),
        _ => false,
    };
    if !double_submitted {
        return csrf_rejected();
    }
    let mut form = LoginForm {
        email: String::new(),
        password: String::new(),
        next: None,
    };
    for (name, value) in fields {
        match name.as_str() {
            "email" => form.email = value,
            "password" => form.password = value,
            "next" => form.next = Some(value),
            _ => {}
        }
    }
    let password = SecretString::from(std::mem::take(&mut form.password));
    let next = form.next.as_deref().and_then(local_path);
    let again = |status: StatusCode, error: String| {
        let view = LoginView {
            email: Some(form.email.trim()),
            next,
            error: Some(error),
            flash: None,
        };
        login_page(&state, &headers, status, &view)
    };
    if form.email.trim().is_empty() || password.expose_secret().is_empty() {
        return again(
            StatusCode::BAD_REQUEST,
            "Enter your email and your password.".to_owned(),
        );
    }
    match state
        .services
        .ui_sessions
        .login(&form.email, password, client_ip)
        .await
    {
        Ok(logged_in) => {
            let now = state.services.clock.now();
            let max_age = (logged_in.session.expires_at - now).whole_seconds();
            let mut response = redirect(next.unwrap_or(HOME));
            if let Some(header) = set_cookie(
                SESSION_COOKIE,
                logged_in.token.expose_secret(),
                "/",
                Some(max_age),
                secure_site(&state),
            ) {
                response.headers_mut().append(SET_COOKIE, header);
            }
            response
        }
        Err(LoginError::InvalidCredentials) => again(
            StatusCode::UNAUTHORIZED,
            "The email or password is not correct.".to_owned(),
        ),
        Err(LoginError::TooManyAttempts { retry_after_secs }) => {
            let minutes = retry_after_secs.div_ceil(60);
            let plural = if minutes == 1 { "" } else { "s" };
            let mut response = again(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many failed logins. Try again in {minutes} minute{plural}."),
            );
            if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(RETRY_AFTER, value);
            }
            response
        }
        Err(LoginError::Failed(error)) => {
            tracing::error!(error = %error, "a login failed");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "labgate could not log you in",
                "Something went wrong on our side. Try again in a moment.",
            )
        }
    }
}

/// `POST /logout`: ends the session (which needs its form token) and returns to the login page.
pub async fn logout(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let secure = secure_site(&state);
    let session_token = cookie(&parts.headers, SESSION_COOKIE).map(str::to_owned);
    let session = match current_session(&parts, &state).await {
        Ok(session) => session,
        Err(unavailable) => return axum::response::IntoResponse::into_response(unavailable),
    };
    let mut response = match (session, session_token) {
        (Some((_, expected)), Some(token)) => {
            let bytes = match form_body(Request::from_parts(parts, body), &state).await {
                Ok(bytes) => bytes,
                Err(response) => return response,
            };
            let presented = split_token(&bytes).0;
            if !presented.is_some_and(|presented| constant_time_eq(presented.as_bytes(), expected.as_bytes()))
            {
                return csrf_rejected();
            }
            if let Err(error) = state.services.ui_sessions.logout(&token).await {
                tracing::error!(error = %error, "cannot end a UI session");
                return error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "labgate could not log you out",
                    "The database did not answer. Try again in a moment.",
                );
            }
            redirect_with_flash(&state, "/login", FlashKind::Success, "You have logged out.")
        }
        // Nothing to end: the session had expired or was never there.
        _ => redirect("/login"),
    };
    if let Some(header) = clear_cookie(SESSION_COOKIE, "/", secure) {
        response.headers_mut().append(SET_COOKIE, header);
    }
    response
}
