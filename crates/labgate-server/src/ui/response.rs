//! How pages are answered: HTML with the headers every page carries, redirects, and the error
//! pages people see instead of the API's JSON.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use crate::middleware::OwnBody;

/// Scripts and styles come from labgate itself, never inline; forms post only to labgate; no
/// page may be framed.
pub const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A page: HTML that is never cached (it shows the session's data), never framed, runs only
/// labgate's own script, and names only labgate in `Referer`. Error statuses keep their page.
pub fn html_response(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    harden(&mut response);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response.extensions_mut().insert(OwnBody);
    response
}

fn harden(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_POLICY));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A 303 to `location` (a path on this site): what a form answers once it has done its work,
/// so reloading the next page does not send the form again.
pub fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    harden(&mut response);
    response
}

/// A page of its own for an error, outside the layout (it may be shown without a session).
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (super::layout::head(title))
            body.centered {
                main.card.narrow id="main" {
                    p.brand { span.brand-mark aria-hidden="true" { "lg" } " labgate" }
                    h1 { (title) }
                    p.muted { (message) }
                    p.error-code { "Error " (status.as_u16()) }
                    div.actions {
                        a.button.primary href="/" { "Go to labgate" }
                    }
                }
            }
        }
    };
    html_response(status, markup)
}
