//! Signing in and out in a browser (`/users/sign_in`, `/users/sign_out`). GitLab asks for a
//! password here; the simulator has none, so its sign-in page is a plain "choose who you are"
//! list of the instance's users. Everything around it follows GitLab (Devise): the session
//! cookie, `user_return_to`, a fresh session on sign-in and sign-out, and the CSRF check.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::model::{User, UserKind, UserState};
use crate::pages::{avatar, esc, page, rejected};
use crate::params::Params;
use crate::session::BrowserSession;
use crate::state::SimState;

pub fn router() -> Router<SimState> {
    Router::new()
        .route("/users/sign_in", get(sign_in_page).post(sign_in))
        .route("/users/sign_out", post(sign_out))
}

/// Devise's message for a login that fails, whatever the reason.
const INVALID_LOGIN: &str = "Invalid login or password.";

pub(crate) fn sign_in_path(state: &SimState) -> String {
    format!("{}/users/sign_in", state.prefix())
}

/// A redirect that also sets the session cookie.
pub(crate) fn redirect_with_session(state: &SimState, location: &str, session_id: Option<&str>) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = header::HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(cookie) = session_id.and_then(|id| state.session_cookie(id)) {
        r.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    r
}

/// Paths a session may return to after signing in: this instance's own pages, never another
/// site (an open redirect otherwise).
pub(crate) fn safe_return_path(state: &SimState, path: &str) -> bool {
    path.starts_with(&format!("{}/", state.prefix()))
        && !path.starts_with("//")
        && !path.contains("://")
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
}

/// The users a person may sign in as: active humans (bots and service accounts have no
/// sign-in; blocked users are refused).
fn people(state: &SimState) -> Vec<User> {
    state.read(|db| {
        db.users
            .values()
            .filter(|u| u.kind == UserKind::Human && u.state == UserState::Active)
            .cloned()
            .collect()
    })
}

fn render(state: &SimState, session: &BrowserSession, error: Option<&str>, status: StatusCode) -> Response {
    let signed_in = state.session_user(session);
    let mut body = String::from(
        "<div class=\"card\"><div class=\"head\"><h1>Sign in to gitlab-sim</h1></div><div class=\"body\">",
    );
    if let Some(e) = error {
        body.push_str(&format!(
            "<div class=\"error\" id=\"error\" role=\"alert\">{}</div>",
            esc(e)
        ));
    }
    body.push_str(
        "<p>This is <strong>gitlab-sim</strong>, a simulated GitLab. It has no passwords: choose the \
         user you want to be.</p>",
    );
    if session.return_to.is_some() {
        body.push_str("<p class=\"muted\">After you choose, you go back to the page that sent you here.</p>");
    }
    if let Some(u) = &signed_in {
        body.push_str(&format!(
            "<div class=\"who\" id=\"signed-in\">{}<span>Signed in as <strong>@{}</strong></span>{}</div>",
            avatar(u),
            esc(&u.username),
            sign_out_form(state, session, None, "Sign out"),
        ));
    }
    let users = people(state);
    if users.is_empty() {
        body.push_str("<p class=\"muted\" id=\"no-users\">This instance has no users who can sign in.</p>");
    } else {
        body.push_str(&format!(
            "<form method=\"post\" action=\"{}\" class=\"users\">\
             <input type=\"hidden\" name=\"authenticity_token\" value=\"{}\">",
            esc(&sign_in_path(state)),
            esc(session.csrf_token()),
        ));
        for u in &users {
            let mut tags = String::new();
            if u.admin {
                tags.push_str("<span class=\"tag\">Admin</span>");
            }
            if u.external {
                tags.push_str("<span class=\"tag\">External</span>");
            }
            body.push_str(&format!(
                "<button type=\"submit\" name=\"user[login]\" value=\"{username}\" data-username=\"{username}\">\
                 {avatar}<span><span class=\"name\">{name}{tags}</span><span class=\"handle\">@{username}</span></span>\
                 </button>",
                username = esc(&u.username),
                name = esc(&u.name),
                avatar = avatar(u),
            ));
        }
        body.push_str("</form>");
    }
    body.push_str("</div></div>");
    page(status, "Sign in", &body)
}

/// The "sign out" button: a form with the session's CSRF token; `return_to` (a path on this
/// instance) is kept for whoever signs in next, so "not you?" on the consent page leads back
/// to it.
pub(crate) fn sign_out_form(
    state: &SimState,
    session: &BrowserSession,
    return_to: Option<&str>,
    label: &str,
) -> String {
    let keep = return_to
        .map(|r| format!("<input type=\"hidden\" name=\"return_to\" value=\"{}\">", esc(r)))
        .unwrap_or_default();
    format!(
        "<form method=\"post\" action=\"{}/users/sign_out\" class=\"inline\">\
         <input type=\"hidden\" name=\"authenticity_token\" value=\"{}\">{keep}\
         <button type=\"submit\" class=\"link\" id=\"sign-out\">{}</button></form>",
        esc(state.prefix()),
        esc(session.csrf_token()),
        esc(label),
    )
}

async fn sign_in_page(State(state): State<SimState>, headers: HeaderMap) -> Response {
    let Some(found) = state.find_session(&headers) else {
        let session = BrowserSession::new(None, None);
        let id = state.begin_session(session.clone());
        let mut r = render(&state, &session, None, StatusCode::OK);
        if let Some(cookie) = state.session_cookie(&id) {
            r.headers_mut().insert(header::SET_COOKIE, cookie);
        }
        return r;
    };
    // Devise's `require_no_authentication`: a signed-in browser goes on to where it was headed.
    let mut session = found.session.clone();
    if state.session_user(&session).is_some()
        && let Some(to) = session.return_to.take()
    {
        state.save_session(found.id(), session);
        return redirect_with_session(&state, &state.absolute(&to), None);
    }
    render(&state, &session, None, StatusCode::OK)
}

async fn sign_in(State(state): State<SimState>, headers: HeaderMap, params: Params) -> Response {
    let Some(found) = state.find_session(&headers) else {
        return rejected();
    };
    if !found
        .session
        .csrf_matches(params.str("authenticity_token").as_deref())
    {
        return rejected();
    }
    let login = params.str("user[login]").unwrap_or_default();
    let now = state.clock().now();
    let (user, events) = state.read(|db| {
        let found = db
            .user_by_username(login.trim())
            .or_else(|| {
                db.users_by_email
                    .get(&login.trim().to_lowercase())
                    .and_then(|id| db.users.get(id))
            })
            .filter(|u| u.kind == UserKind::Human);
        // A blocked account's attempt is reported to system hooks (`user_failed_login`).
        let events = match found {
            Some(u) if u.state == UserState::Blocked => {
                crate::hook_events::user(db, u, &crate::hook_events::UserChange::FailedLogin, now)
            }
            _ => Vec::new(),
        };
        (
            found.filter(|u| u.state == UserState::Active).map(|u| u.id),
            events,
        )
    });
    crate::hook_events::send(&state, events).await;
    let Some(user_id) = user else {
        return render(
            &state,
            &found.session,
            Some(INVALID_LOGIN),
            StatusCode::UNAUTHORIZED,
        );
    };
    state.write(|db| {
        if let Some(u) = db.users.get_mut(&user_id) {
            u.last_sign_in_at = u.current_sign_in_at.or(Some(now));
            u.current_sign_in_at = Some(now);
        }
    });
    // A new session id (and CSRF token) on sign-in, as Devise renews it against fixation.
    state.end_session(found.id());
    let return_to = found.session.return_to;
    let id = state.begin_session(BrowserSession::new(Some(user_id), None));
    let to = return_to
        .filter(|r| safe_return_path(&state, r))
        .unwrap_or_else(|| sign_in_path(&state));
    redirect_with_session(&state, &state.absolute(&to), Some(&id))
}

async fn sign_out(State(state): State<SimState>, headers: HeaderMap, params: Params) -> Response {
    let Some(found) = state.find_session(&headers) else {
        return rejected();
    };
    if !found
        .session
        .csrf_matches(params.str("authenticity_token").as_deref())
    {
        return rejected();
    }
    state.end_session(found.id());
    let return_to = params.str("return_to").filter(|r| safe_return_path(&state, r));
    let id = state.begin_session(BrowserSession::new(None, return_to));
    redirect_with_session(&state, &state.absolute(&sign_in_path(&state)), Some(&id))
}
