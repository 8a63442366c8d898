//! The pages a person sees instead of a page they may not use or that could not be loaded, in
//! the layout, so the navigation stays at hand.

use axum::http::StatusCode;
use axum::response::Response;
use labgate_core::CoreError;
use maud::html;

use super::UiSession;
use super::components::{empty_state, page_header};
use super::layout::{Nav, page_with_status};

/// 403: the role of the person cannot do this; `why` says who can.
pub fn forbidden(session: &UiSession, nav: Nav, title: &str, why: &str) -> Response {
    let content = html! {
        (page_header(title, None, html! {}))
        (empty_state("Your role cannot use this page", why, html! {}))
    };
    page_with_status(StatusCode::FORBIDDEN, session, nav, title, content)
}

/// 404: the resource is not in the person's tenant (or never was).
pub fn not_found(session: &UiSession, nav: Nav, what: &str) -> Response {
    let title = format!("{what} not found");
    let content = html! {
        (page_header(&title, None, html! {}))
        (empty_state(
            &title,
            "It may have been deleted, or it belongs to another tenant.",
            html! { a.button.secondary href=(nav.path()) { "Back to " (nav.label()) } },
        ))
    };
    page_with_status(StatusCode::NOT_FOUND, session, nav, &title, content)
}

/// 503: the data could not be loaded; logged with its cause, told without it.
pub fn unavailable(session: &UiSession, nav: Nav, title: &str, error: &CoreError) -> Response {
    tracing::error!(error = %error, page = nav.path(), "cannot load the data of a page");
    let content = html! {
        (page_header(title, None, html! {}))
        div.flash.error role="alert" { "This page could not be loaded. Reload it to try again." }
    };
    page_with_status(StatusCode::SERVICE_UNAVAILABLE, session, nav, title, content)
}

/// The answer for an error a page's service gave that the page does not handle itself.
pub fn core_error(session: &UiSession, nav: Nav, title: &str, what: &str, error: &CoreError) -> Response {
    match error {
        CoreError::Forbidden(_) => forbidden(
            session,
            nav,
            title,
            "Ask an administrator of this tenant to do this, or to give you the admin role.",
        ),
        CoreError::NotFound(_) => not_found(session, nav, what),
        other => unavailable(session, nav, title, other),
    }
}
