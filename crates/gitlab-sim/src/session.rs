//! Browser sessions, as GitLab keeps them for its web pages: the `_gitlab_session` cookie
//! (HttpOnly), who is signed in, the page to return to after signing in (`user_return_to`), and
//! the CSRF token every form carries as `authenticity_token`.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, header};
use parking_lot::Mutex;

use crate::db::{digest, random_hex};
use crate::model::{User, UserKind, UserState};
use crate::state::SimState;

pub const COOKIE: &str = "_gitlab_session";

/// What the server remembers about one browser.
#[derive(Clone, Default)]
pub struct BrowserSession {
    pub user_id: Option<u64>,
    /// Where to go once signed in: a path on this instance, as GitLab keeps `request.fullpath`.
    pub return_to: Option<String>,
    csrf_token: String,
}

impl BrowserSession {
    pub fn new(user_id: Option<u64>, return_to: Option<String>) -> Self {
        Self {
            user_id,
            return_to,
            csrf_token: random_hex(32),
        }
    }

    /// The token forms of this session must send back.
    pub fn csrf_token(&self) -> &str {
        &self.csrf_token
    }

    /// Whether `presented` is this session's token (compared in constant time).
    pub fn csrf_matches(&self, presented: Option<&str>) -> bool {
        let Some(presented) = presented else {
            return false;
        };
        let (a, b) = (presented.as_bytes(), self.csrf_token.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

// The CSRF token is a secret of the session: never printed.
impl std::fmt::Debug for BrowserSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserSession")
            .field("user_id", &self.user_id)
            .field("return_to", &self.return_to)
            .finish_non_exhaustive()
    }
}

/// Sessions by the digest of their cookie value: the store never holds a usable cookie.
#[derive(Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<[u8; 32], BrowserSession>>,
}

impl Sessions {
    pub(crate) fn clear(&self) {
        self.map.lock().clear();
    }
}

/// A session found by the request's cookie.
#[derive(Debug)]
pub struct Found {
    id: String,
    pub session: BrowserSession,
}

impl Found {
    pub fn id(&self) -> &str {
        &self.id
    }
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

impl SimState {
    /// The session the request's `_gitlab_session` cookie names, if the server knows it.
    pub fn find_session(&self, headers: &HeaderMap) -> Option<Found> {
        let id = cookie_value(headers)?;
        let session = self.inner.sessions.map.lock().get(&digest(&id)).cloned()?;
        Some(Found { id, session })
    }

    /// Stores a new session under a fresh id and answers the id.
    pub fn begin_session(&self, session: BrowserSession) -> String {
        let id = random_hex(32);
        self.inner.sessions.map.lock().insert(digest(&id), session);
        id
    }

    pub fn save_session(&self, id: &str, session: BrowserSession) {
        self.inner.sessions.map.lock().insert(digest(id), session);
    }

    pub fn end_session(&self, id: &str) {
        self.inner.sessions.map.lock().remove(&digest(id));
    }

    /// The signed-in user of a session: only an active human may hold one.
    pub fn session_user(&self, session: &BrowserSession) -> Option<User> {
        let id = session.user_id?;
        self.read(|db| {
            db.users
                .get(&id)
                .filter(|u| u.state == UserState::Active && u.kind == UserKind::Human)
                .cloned()
        })
    }

    /// `Set-Cookie` for a session id, scoped to the instance's relative URL root.
    pub(crate) fn session_cookie(&self, id: &str) -> Option<HeaderValue> {
        let path = if self.prefix().is_empty() {
            "/"
        } else {
            self.prefix()
        };
        HeaderValue::from_str(&format!("{COOKIE}={id}; path={path}; HttpOnly; SameSite=Lax")).ok()
    }

    /// An absolute URL on this instance for a path that already carries the path prefix;
    /// Rails' `redirect_to` answers absolute locations.
    pub(crate) fn absolute(&self, path_with_prefix: &str) -> String {
        let base = self.base_url();
        let origin = base.strip_suffix(self.prefix()).unwrap_or(&base);
        format!("{origin}{path_with_prefix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; _gitlab_session=abc ; b=2"),
        );
        assert_eq!(cookie_value(&h).as_deref(), Some("abc"));
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("_gitlab_session="));
        assert_eq!(cookie_value(&h), None);
    }

    #[test]
    fn csrf_tokens_match_exactly() {
        let s = BrowserSession::new(None, None);
        let token = s.csrf_token().to_owned();
        assert!(s.csrf_matches(Some(&token)));
        assert!(!s.csrf_matches(Some(&token[1..])));
        assert!(!s.csrf_matches(Some("")));
        assert!(!s.csrf_matches(None));
        assert!(!format!("{s:?}").contains(&token));
    }
}
