//! Who is looking at a page: the [`UiSession`] extractor turns the session cookie into the
//! principal, the email and tenant the layout shows, the form token and any flash message.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use labgate_core::auth::{Principal, Session};

use super::cookies::{SESSION_COOKIE, cookie, secure_site};
use super::csrf::csrf_token_for;
use super::flash::{Flash, read_flash};
use super::response::{error_page, redirect};
use crate::extract::RequestInfo;
use crate::state::AppState;

/// A logged-in person. Handlers of pages take it as an argument; without a live session, a GET
/// is redirected to the login page (coming back here afterwards) and anything else is refused
/// with 401.
pub struct UiSession {
    pub session: Session,
    csrf_token: String,
    pub(crate) flash: Option<Flash>,
    pub(crate) secure: bool,
}

impl std::fmt::Debug for UiSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UiSession")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl UiSession {
    /// The caller for core's services (tenant, role, the user as the audited actor).
    pub fn principal(&self) -> &Principal {
        &self.session.principal
    }

    /// The token every form of this session carries (see [`super::csrf::csrf_field`]).
    pub fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// Why a request has no session, as the browser is answered.
pub enum NoSession {
    /// To the login page, and back to `next` afterwards.
    Login {
        next: String,
    },
    /// A form sent without a live session: nothing was done.
    Expired,
    Unavailable,
}

impl IntoResponse for NoSession {
    fn into_response(self) -> Response {
        match self {
            NoSession::Login { next } => redirect(&login_url(&next)),
            NoSession::Expired => error_page(
                StatusCode::UNAUTHORIZED,
                "Your session has ended",
                "Nothing was changed. Log in again, then repeat what you were doing.",
            ),
            NoSession::Unavailable => error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "labgate cannot check your session",
                "The database did not answer. Try again in a moment.",
            ),
        }
    }
}

/// The login page, returning to `next` (a local path) afterwards.
pub fn login_url(next: &str) -> String {
    match local_path(next) {
        Some(next) if next != "/" => {
            let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
            format!("/login?next={encoded}")
        }
        _ => "/login".to_owned(),
    }
}

/// `next` when it is a path on this site: one leading `/`, not `//` or `/\` (which browsers
/// read as another host), no control characters, not absurdly long. Anything else is dropped,
/// so the login form cannot be used to send people elsewhere.
pub fn local_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.len() <= 1_024
        && !next.chars().any(|c| c.is_control() || c.is_whitespace());
    ok.then_some(next)
}

/// The session of the request, if it has a live one; `Err` only when the database is down.
pub(crate) async fn current_session(
    parts: &Parts,
    state: &AppState,
) -> Result<Option<(Session, String)>, NoSession> {
    let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let client_ip = parts
        .extensions
        .get::<RequestInfo>()
        .and_then(|info| info.client_ip);
    match state.services.ui_sessions.session(token, client_ip).await {
        Ok(Some(session)) => Ok(Some((session, csrf_token_for(state, token)))),
        Ok(None) => Ok(None),
        Err(error) => {
            tracing::error!(error = %error, "cannot look up a UI session");
            Err(NoSession::Unavailable)
        }
    }
}

impl FromRequestParts<AppState> for UiSession {
    type Rejection = NoSession;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match current_session(parts, state).await? {
            Some((session, csrf_token)) => Ok(UiSession {
                session,
                csrf_token,
                flash: read_flash(state, &parts.headers),
                secure: secure_site(state),
            }),
            None if parts.method == Method::GET || parts.method == Method::HEAD => Err(NoSession::Login {
                next: parts
                    .uri
                    .path_and_query()
                    .map_or_else(|| "/".to_owned(), |path| path.as_str().to_owned()),
            }),
            None => Err(NoSession::Expired),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(
            local_path("/organization/jobs?page=2"),
            Some("/organization/jobs?page=2")
        );
        for outside in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "",
            "/a b",
            "/a\nb",
        ] {
            assert_eq!(local_path(outside), None, "{outside:?}");
        }
        assert_eq!(
            login_url("/organization/jobs?page=2"),
            "/login?next=%2Forganization%2Fjobs%3Fpage%3D2"
        );
        assert_eq!(login_url("//evil.example"), "/login");
        assert_eq!(login_url("/"), "/login");
    }
}
