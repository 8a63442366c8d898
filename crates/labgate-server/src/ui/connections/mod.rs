//! App Connections: the list with its filters, adding a GitLab connection (access token or
//! OAuth), and one connection's page with its health, token, timeline and actions.

mod detail;
mod list;
mod new;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use labgate_core::CoreError;
use labgate_proto::connections::{AccessTokenType, ConnectionMethod};
use maud::{Markup, html};

use super::UiSession;
use super::components::empty_state;
use super::layout::{Nav, page_with_status};
use super::response::error_page;
use crate::state::AppState;

/// The list; every other page of the group lies below it.
pub const LIST_PATH: &str = "/organization/app-connections";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(LIST_PATH, get(list::list))
        .route("/organization/app-connections/new", get(new::choose_app))
        .route(
            "/organization/app-connections/new/gitlab",
            get(new::choose_method),
        )
        .route(
            "/organization/app-connections/new/gitlab/access-token",
            get(new::token_form_page).post(new::create_with_token),
        )
        .route(
            "/organization/app-connections/new/gitlab/oauth",
            get(new::oauth_form).post(new::start_oauth),
        )
        .route(new::OAUTH_RETURN_PATH, get(new::oauth_return))
        .route("/organization/app-connections/{id}", get(detail::show))
        .route("/organization/app-connections/{id}/check", post(detail::check))
        .route("/organization/app-connections/{id}/rotate", post(detail::rotate))
        .route(
            "/organization/app-connections/{id}/refresh",
            post(detail::refresh),
        )
        .route(
            "/organization/app-connections/{id}/edit",
            get(detail::edit_form).post(detail::edit),
        )
        .route(
            "/organization/app-connections/{id}/delete",
            get(detail::delete_form).post(detail::delete),
        )
}

/// The page of one connection.
pub fn detail_path(id: &str) -> String {
    format!("{LIST_PATH}/{id}")
}

/// The list with `id` marked as the one just added.
pub fn highlighted_list(id: &str) -> String {
    format!("{LIST_PATH}?highlight={id}")
}

/// A connection id as it may appear in a path: a hyphenated UUID, nothing else reaches core.
fn connection_id(text: &str) -> Option<&str> {
    (text.len() == 36 && uuid::Uuid::try_parse(text).is_ok()).then_some(text)
}

pub fn method_label(method: ConnectionMethod) -> &'static str {
    match method {
        ConnectionMethod::AccessToken => "Access token",
        ConnectionMethod::OAuth => "OAuth",
    }
}

pub fn token_type_label(token_type: Option<AccessTokenType>, method: ConnectionMethod) -> &'static str {
    match (token_type, method) {
        (Some(AccessTokenType::Personal), _) => "Personal",
        (Some(AccessTokenType::Project), _) => "Project",
        (Some(AccessTokenType::Group), _) => "Group",
        (None, ConnectionMethod::OAuth) => "OAuth token",
        (None, ConnectionMethod::AccessToken) => "—",
    }
}

/// The instance as people name it: its host (and path prefix), without the scheme.
pub fn instance_label(url: &str) -> String {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    rest.trim_end_matches('/').to_owned()
}

/// The GitLab mark, drawn inline so the page needs nothing from elsewhere.
pub fn gitlab_logo() -> Markup {
    html! {
        svg.app-logo viewBox="0 0 32 30" width="32" height="30" aria-hidden="true" focusable="false" {
            // Each element closed explicitly: inside <svg>, HTML does not end an unclosed <path>.
            path fill="#e24329" d="M16 29.5 21.9 11.3H10.1z" {}
            path fill="#fc6d26" d="M16 29.5 10.1 11.3H1.8z" {}
            path fill="#fca326" d="M1.8 11.3 0 16.9c-.2.5 0 1.1.5 1.4L16 29.5z" {}
            path fill="#e24329" d="M1.8 11.3h8.3L6.5.4c-.2-.6-1-.6-1.2 0z" {}
            path fill="#fc6d26" d="M16 29.5 21.9 11.3h8.3z" {}
            path fill="#fca326" d="M30.2 11.3 32 16.9c.2.5 0 1.1-.5 1.4L16 29.5z" {}
            path fill="#e24329" d="M30.2 11.3h-8.3L25.5.4c.2-.6 1-.6 1.2 0z" {}
        }
    }
}

/// The page for an id that is not one of this tenant's connections (or not an id at all):
/// the same 404 either way, so other tenants' ids reveal nothing.
fn not_found() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Connection not found",
        "There is no such connection in this tenant. It may have been deleted.",
    )
}

/// What a person sees when core refused or failed outside a form: a page in the frame with a
/// status that says what went wrong.
fn refused(session: &UiSession, error: &CoreError) -> Response {
    let (status, title, text) = match error {
        CoreError::NotFound(_) => return not_found(),
        CoreError::Forbidden(_) => (
            StatusCode::FORBIDDEN,
            "Your role cannot do this",
            "Ask an administrator of this tenant for the admin or member role.",
        ),
        CoreError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "labgate cannot answer right now",
            "The database or GitLab did not answer. Try again in a moment.",
        ),
        _ => {
            tracing::error!(error = %error, "a connection page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "labgate could not load this page. Try again; if it keeps failing, ask your administrator.",
            )
        }
    };
    page_with_status(
        status,
        session,
        Nav::AppConnections,
        title,
        html! { (empty_state(title, text, html! {})) },
    )
}

/// A sentence from core's message: capitalised, ending with a full stop.
fn sentence(message: &str) -> String {
    crate::api::oauth::sentence(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_are_named_by_host_and_prefix() {
        assert_eq!(instance_label("https://gitlab.com"), "gitlab.com");
        assert_eq!(
            instance_label("https://git.example.org/gitlab/"),
            "git.example.org/gitlab"
        );
        assert_eq!(instance_label("http://127.0.0.1:9000"), "127.0.0.1:9000");
    }

    #[test]
    fn only_hyphenated_uuids_are_connection_ids() {
        assert!(connection_id("0190d9a4-4f3c-7c1a-9c55-2b1e7a9d0e11").is_some());
        for bad in [
            "new",
            "",
            "0190d9a44f3c7c1a9c552b1e7a9d0e11",
            "../etc",
            "{0190d9a4-4f3c-7c1a-9c55-2b1e7a9d0e11}",
        ] {
            assert!(connection_id(bad).is_none(), "{bad}");
        }
    }
}
