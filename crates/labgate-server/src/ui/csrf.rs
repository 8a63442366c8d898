//! Cross-site request forgery defence. Every form carries a hidden `csrf_token`:
//! - for a logged-in person, the MAC of their session token under a key derived from the root
//!   keys — nothing stored, the same on every replica, and useless without the session cookie;
//! - on the login form (no session yet), a signed double-submit token: a random value and its
//!   MAC, both in a cookie and in the form, which a page elsewhere can neither read nor forge.
//!
//! Handlers of forms take [`CsrfForm`], which refuses a missing or wrong token with 403 before
//! the handler runs, so a form cannot be added without the check.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use bytes::Bytes;
use labgate_crypto::constant_time_eq;
use maud::{Markup, html};
use serde::de::DeserializeOwned;

use super::UiSession;
use super::cookies::sign;
use super::response::error_page;
use crate::state::AppState;

/// The form field every form carries.
pub const CSRF_FIELD: &str = "csrf_token";
const PURPOSE: &str = "ui-csrf";

/// The token of the session whose cookie holds `session_token`.
pub(crate) fn csrf_token_for(state: &AppState, session_token: &str) -> String {
    sign(state, PURPOSE, session_token.as_bytes())
}

/// The hidden field with the session's token; put it in every `<form method="post">`.
pub fn csrf_field(session: &UiSession) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(session.csrf_token()); }
}

/// Whether `presented` is the session's form token (constant time), for handlers that read a
/// body [`CsrfForm`] cannot (a file upload).
pub fn verify_csrf(session: &UiSession, presented: &str) -> bool {
    constant_time_eq(presented.as_bytes(), session.csrf_token().as_bytes())
}

/// The 403 page of a form without a valid token.
pub fn csrf_rejected() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "The form was sent without a valid security token, so nothing was changed. Go back, reload the page and \
         send it again.",
    )
}

/// A form posted by a logged-in person: the session, and the fields (other than `csrf_token`)
/// as `T`. No session: 401; a missing or wrong token: 403; a body that is not a form of this
/// shape: 400 — each an HTML page, and the handler never runs.
pub struct CsrfForm<T> {
    pub session: UiSession,
    pub form: T,
}

/// `application/x-www-form-urlencoded` pairs, and the one `csrf_token` among them.
pub(crate) fn split_token(body: &[u8]) -> (Option<String>, Vec<(String, String)>) {
    let mut token = None;
    let mut duplicate = false;
    let mut fields = Vec::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        if name == CSRF_FIELD {
            duplicate |= token.is_some();
            token = Some(value.into_owned());
        } else {
            fields.push((name.into_owned(), value.into_owned()));
        }
    }
    (token.filter(|_| !duplicate), fields)
}

pub(crate) fn is_form(request: &Request) -> bool {
    request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

pub(crate) async fn form_body(request: Request, state: &AppState) -> Result<Bytes, Response> {
    if !is_form(&request) {
        return Err(error_page(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "This form could not be read",
            "Forms are sent as application/x-www-form-urlencoded.",
        ));
    }
    Bytes::from_request(request, state).await.map_err(|_| {
        error_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "This form is too large",
            "Forms may carry at most 1 MiB.",
        )
    })
}

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let session = UiSession::from_request_parts(&mut parts, state)
            .await
            .map_err(axum::response::IntoResponse::into_response)?;
        let bytes = form_body(Request::from_parts(parts, body), state).await?;
        let (token, fields) = split_token(&bytes);
        if !token.is_some_and(|token| verify_csrf(&session, &token)) {
            return Err(csrf_rejected());
        }
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&fields)
            .finish();
        let form = serde_urlencoded::from_str::<T>(&encoded).map_err(|_| {
            error_page(
                StatusCode::BAD_REQUEST,
                "This form could not be read",
                "Some of its fields are missing or not what this page expects. Reload the page and try again.",
            )
        })?;
        Ok(CsrfForm { session, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_taken_out_of_the_fields_and_must_be_single() {
        let (token, fields) = split_token(b"name=a+b&csrf_token=t%2B1&x=");
        assert_eq!(token.as_deref(), Some("t+1"));
        assert_eq!(
            fields,
            [("name".into(), "a b".into()), ("x".into(), String::new())]
        );
        assert_eq!(split_token(b"csrf_token=a&csrf_token=a").0, None);
        assert_eq!(split_token(b"name=a").0, None);
    }
}
