//! OAuth connections over HTTP: starting an authorization and GitLab's browser callback (the
//! refresh of a connection's token is with the other connection routes).
//!
//! The start is an API call like any other. The callback is where GitLab sends the user's
//! browser back: no API key, the state is the credential, and the answer is a redirect to the
//! application's `returnTo` or a small page, never the error contract's JSON. Its URL carries
//! the authorization code, so every answer keeps it out of caches and `Referer` headers.

use axum::extract::State;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, LOCATION, PRAGMA, REFERRER_POLICY,
    SET_COOKIE, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use labgate_core::CoreError;
use labgate_core::connections::oauth::{Callback, FlowError, FlowErrorCode, FlowOutcome, STATE_LIFETIME};
use labgate_core::instances::CALLBACK_PATH;
use labgate_proto::ErrorBody;
use labgate_proto::connections::{ConnectionView, StartOAuthRequest, StartOAuthResponse};
use secrecy::{ExposeSecret, SecretString};
use utoipa::IntoParams;

use crate::error::{ApiError, infisical_dialect};
use crate::extract::{AppJson, Auth};
use crate::settings::QUERY_LIMIT;
use crate::state::AppState;
use crate::ui::cookies::secure_site;

/// The cookie that binds a flow begun in a browser to that browser.
const BINDING_COOKIE: &str = "labgate_oauth_binding";
/// The cookie is sent to the callback only.
const COOKIE_PATH: &str = "/organization/app-connections/gitlab/oauth";
/// The callback page may style itself inline and do nothing else.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/// Longest value of each callback parameter: GitLab's codes are 64 characters and labgate's
/// states 43; anything much longer was not sent by either.
const MAX_STATE_LEN: usize = 512;
const MAX_CODE_LEN: usize = 1_024;
const MAX_ERROR_LEN: usize = 256;
const MAX_ERROR_DESCRIPTION_LEN: usize = 1_024;

/// The start, under `/api/v1`, with Infisical's error statuses like the other app-connection
/// routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app-connections/gitlab/oauth/start", post(start))
        .layer(axum::middleware::map_response(infisical_dialect))
}

/// The browser callback, outside `/api`.
pub fn callback_router() -> Router<AppState> {
    Router::new().route(CALLBACK_PATH, get(callback))
}

/// Whether the request comes from a page on labgate's own origin. Browsers send
/// `Sec-Fetch-Site` on their own and scripts cannot set it; backends do not send it.
fn from_own_page(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"same-origin"))
}

pub(crate) fn binding_cookie(value: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{BINDING_COOKIE}={value}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

/// Begin connecting GitLab through OAuth: answers the URL to send the user's browser to. The
/// flow must end within ten minutes at labgate's callback, which creates the connection (or
/// reconnects the one of this name, or with these `tenantId` and `userId`, when the same GitLab
/// user authorises). Called from a page on labgate's own origin (`Sec-Fetch-Site:
/// same-origin`), the flow is also bound to that browser by a cookie.
#[utoipa::path(post, path = "/api/v1/app-connections/gitlab/oauth/start", operation_id = "startGitLabOAuth",
    tag = "app-connections", request_body = StartOAuthRequest, security(("bearer" = [])),
    responses(
        (status = 200, body = StartOAuthResponse, headers(("Set-Cookie" = String,
            description = "Only for a request with `Sec-Fetch-Site: same-origin`: binds the flow to this browser (HttpOnly, SameSite=Lax, sent to the callback only)"))),
        (status = 400, body = ErrorBody, description = "The body is not JSON, or a connection of this name holds an access token."),
        (status = 409, body = ErrorBody, description = "labgate does not know its site URL (`LABGATE_SITE_URL`), so GitLab could not send the browser back."),
        (status = 422, body = ErrorBody, description = "A value was refused: the name, a scope GitLab does not grant OAuth applications, `tenantId` without `userId`, a `returnTo` that is not https, or an instance without an OAuth application (`details` says which)."),
        (status = 503, body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    Auth(principal): Auth,
    headers: HeaderMap,
    AppJson(body): AppJson<StartOAuthRequest>,
) -> Result<Response, ApiError> {
    let started = state
        .services
        .connections
        .start_oauth(&principal, body, from_own_page(&headers))
        .await?;
    let cookie = started
        .browser_binding
        .as_ref()
        .map(|binding| {
            HeaderValue::from_str(&binding_cookie(
                binding.expose_secret(),
                STATE_LIFETIME.whole_seconds(),
                secure_site(&state),
            ))
            .map_err(|_| CoreError::internal(std::io::Error::other("a binding cookie is not a header value")))
        })
        .transpose()?;
    let mut response = Json(StartOAuthResponse {
        authorize_url: started.authorize_url.clone(),
        expires_at: labgate_core::timefmt::format_time(started.expires_at),
    })
    .into_response();
    if let Some(mut cookie) = cookie {
        cookie.set_sensitive(true);
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    Ok(response)
}

/// What GitLab sends the browser back with. Only its OpenAPI description is used: the handler
/// parses the query itself, strictly ([`parse_callback`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct CallbackQuery {
    /// The authorization code, on success.
    #[param(max_length = 1024)]
    code: Option<String>,
    /// The state labgate sent to GitLab with the flow.
    #[param(max_length = 512)]
    state: Option<String>,
    /// Why GitLab ended the authorization without a code (`access_denied` when the user declined).
    #[param(max_length = 256)]
    error: Option<String>,
    /// GitLab's words for `error`.
    #[param(max_length = 1024)]
    error_description: Option<String>,
}

/// Where GitLab sends the browser back after the user authorised (or declined) labgate. Needs
/// no API key: the single-use state is the credential, and a flow begun in a browser also needs
/// that browser's cookie. With the flow's `returnTo`, a redirect there with `connectionId`, or
/// `error` and `error_description`; without, a page saying what happened and what to do.
#[utoipa::path(get, path = "/organization/app-connections/gitlab/oauth/callback", operation_id = "finishGitLabOAuth",
    tag = "app-connections", params(CallbackQuery),
    responses(
        (status = 200, description = "The connection was created or reconnected; a page says which and for which GitLab user.",
            content_type = "text/html", body = String, headers(("Set-Cookie" = String, description = "Clears the flow's browser binding"))),
        (status = 303, description = "Back to the flow's `returnTo`, with `connectionId=…`, or `error=…&error_description=…`, added to its query.",
            headers(("Location" = String, description = "The flow's `returnTo` with the outcome"),
                ("Set-Cookie" = String, description = "Clears the flow's browser binding"))),
        (status = 400, description = "The flow ended without a connection (declined, unknown, used or expired state, another browser, GitLab refused the code, another GitLab user, …); a page says why and what to do.",
            content_type = "text/html", body = String, headers(("Set-Cookie" = String, description = "Clears the flow's browser binding")))))]
pub async fn callback(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let outcome = match parse_callback(uri.query()) {
        Ok(callback) => {
            let binding = binding_from(&headers);
            let connections = state.services.connections.clone();
            // The flow runs to its end even when the browser goes away: its state is spent, and
            // the code must not be lost between GitLab's answer and the connection.
            let finished = tokio::spawn(async move {
                connections
                    .finish_oauth(callback, binding.as_ref().map(ExposeSecret::expose_secret))
                    .await
            })
            .await;
            match finished {
                Ok(outcome) => outcome,
                Err(error) => {
                    tracing::error!(error = %error, "an OAuth callback did not finish");
                    FlowOutcome {
                        result: Err(FlowError {
                            code: FlowErrorCode::ConnectionFailed,
                            message:
                                "labgate could not finish the authorization; start again from the application"
                                    .to_owned(),
                        }),
                        return_to: None,
                    }
                }
            }
        }
        Err(()) => FlowOutcome {
            result: Err(FlowError {
                code: FlowErrorCode::InvalidState,
                message: "the authorization's answer could not be read; start again from the application"
                    .to_owned(),
            }),
            return_to: None,
        },
    };
    let mut response = match outcome.return_to {
        Some(return_to) => back_to(return_to, &outcome.result),
        None => page(&outcome.result),
    };
    harden(&mut response, secure_site(&state));
    response
}

/// The query GitLab sends back, strictly: each known parameter at most once, of bounded length,
/// valid UTF-8 once percent-decoded. Anything else is not an answer GitLab gave.
fn parse_callback(query: Option<&str>) -> Result<Callback, ()> {
    let mut callback = Callback::default();
    let Some(query) = query else {
        return Ok(callback);
    };
    if query.len() > QUERY_LIMIT {
        return Err(());
    }
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = form_decode(name)?;
        let (slot, limit) = match name.as_str() {
            "state" => (&mut callback.state, MAX_STATE_LEN),
            "error" => (&mut callback.error, MAX_ERROR_LEN),
            "error_description" => (&mut callback.error_description, MAX_ERROR_DESCRIPTION_LEN),
            "code" => {
                if callback.code.is_some() {
                    return Err(());
                }
                let code = form_decode(value)?;
                if code.len() > MAX_CODE_LEN || code.chars().any(char::is_control) {
                    return Err(());
                }
                callback.code = Some(SecretString::from(code));
                continue;
            }
            // Parameters GitLab may add in later versions change nothing here.
            _ => continue,
        };
        if slot.is_some() {
            return Err(());
        }
        let value = form_decode(value)?;
        if value.len() > limit || (name == "state" && value.chars().any(char::is_control)) {
            return Err(());
        }
        *slot = Some(value);
    }
    Ok(callback)
}

/// `application/x-www-form-urlencoded` decoding that refuses what a lenient decoder would patch
/// up: a `%` without two hex digits, and bytes that are not UTF-8.
fn form_decode(text: &str) -> Result<String, ()> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let high = bytes.get(index + 1).and_then(|digit| hex_value(*digit));
                let low = bytes.get(index + 2).and_then(|digit| hex_value(*digit));
                let (Some(high), Some(low)) = (high, low) else {
                    return Err(());
                };
                out.push((high << 4) | low);
                index += 2;
            }
            other => out.push(other),
        }
        index += 1;
    }
    String::from_utf8(out).map_err(|_| ())
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// The binding cookie's value, if the browser sent one.
fn binding_from(headers: &HeaderMap) -> Option<SecretString> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|cookie| cookie.trim().split_once('='))
        .find(|(name, _)| *name == BINDING_COOKIE)
        .map(|(_, value)| SecretString::from(value.trim_matches('"')))
        .filter(|value| !value.expose_secret().is_empty())
}

/// A 303 to the flow's `returnTo` with the outcome added to its query.
fn back_to(mut return_to: url::Url, result: &Result<ConnectionView, FlowError>) -> Response {
    {
        let mut query = return_to.query_pairs_mut();
        match result {
            Ok(connection) => {
                query.append_pair("connectionId", &connection.id);
            }
            Err(error) => {
                query
                    .append_pair("error", error.code.as_str())
                    .append_pair("error_description", &error.message);
            }
        }
    }
    match HeaderValue::from_str(return_to.as_str()) {
        Ok(location) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            response.headers_mut().insert(LOCATION, location);
            response
        }
        // A parsed URL is ASCII; should one ever not fit a header, the page says the same.
        Err(_) => page(result),
    }
}

/// Every answer of the callback: never stored, never named in a `Referer` (its URL carries the
/// code), nothing to run, and the binding cookie spent.
fn harden(response: &mut Response, secure: bool) {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_POLICY));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(clear) = HeaderValue::from_str(&binding_cookie("", 0, secure)) {
        headers.append(SET_COOKIE, clear);
    }
    response.extensions_mut().insert(crate::middleware::OwnBody);
}

/// The page shown when the flow names no `returnTo`: 200 when connected, 400 otherwise.
fn page(result: &Result<ConnectionView, FlowError>) -> Response {
    let (status, title, body) = match result {
        Ok(connection) => {
            let account = connection.gitlab_user.username.as_deref().map_or_else(
                || "your GitLab account".to_owned(),
                |username| format!("the GitLab account <strong>@{}</strong>", escape(username)),
            );
            (
                StatusCode::OK,
                "GitLab connected",
                format!(
                    "<h1 class=\"ok\">GitLab connected</h1>\
                     <p>The connection <strong>{}</strong> now acts as {account}.</p>\
                     <p>You can close this window and return to the application.</p>",
                    escape(&connection.name),
                ),
            )
        }
        Err(error) => (
            StatusCode::BAD_REQUEST,
            "GitLab was not connected",
            format!(
                "<h1 class=\"fail\">GitLab was not connected</h1>\
                 <p>{}</p><p>{}</p><p class=\"code\">Error code: <code>{}</code></p>",
                escape(&sentence(&error.message)),
                what_to_do(error.code),
                error.code.as_str(),
            ),
        ),
    };
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{title} · labgate</title><style>{STYLE}</style></head>\
         <body><main>{body}</main></body></html>\n"
    );
    let mut response = (status, html).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response
}

pub(crate) const STYLE: &str = "body{font-family:system-ui,-apple-system,sans-serif;line-height:1.5;color:#1f2328;\
background:#f6f8fa;margin:0}main{max-width:34rem;margin:4rem auto;padding:2rem;background:#fff;\
border:1px solid #d0d7de;border-radius:8px}h1{font-size:1.4rem;margin-top:0}.ok{color:#1a7f37}\
.fail{color:#cf222e}.code{color:#59636e;font-size:.9rem}code{background:#f6f8fa;padding:.1rem .3rem;\
border-radius:4px}";

/// The message as a sentence: capitalised, with a full stop.
pub(crate) fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut text: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !text.ends_with(['.', '!', '?']) {
        text.push('.');
    }
    text
}

fn what_to_do(code: FlowErrorCode) -> &'static str {
    match code {
        FlowErrorCode::AccessDenied => {
            "If that was not intended, start again from the application and choose Authorize at GitLab."
        }
        FlowErrorCode::InvalidState
        | FlowErrorCode::ExpiredState
        | FlowErrorCode::BrowserMismatch
        | FlowErrorCode::InvalidRequest => {
            "Start again from the application that sent you here: each attempt works once, within ten minutes, \
             in the browser that began it."
        }
        FlowErrorCode::IdentityMismatch => {
            "Sign in to GitLab as the connection's own user and start again, or connect under another name."
        }
        FlowErrorCode::AuthorizationFailed | FlowErrorCode::ExchangeFailed => {
            "Start again from the application. If it keeps failing, ask your labgate administrator to check the \
             GitLab OAuth application labgate uses."
        }
        FlowErrorCode::ConnectionFailed => {
            "Start again from the application. If it keeps failing, ask your labgate administrator."
        }
    }
}

/// Text for HTML element content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_parse_strictly() {
        let callback = parse_callback(Some(
            "code=abc123&state=xyz%2D1&foo=bar&error_description=a+b%20c",
        ))
        .unwrap();
        assert_eq!(callback.code.unwrap().expose_secret(), "abc123");
        assert_eq!(callback.state.as_deref(), Some("xyz-1"));
        assert_eq!(callback.error_description.as_deref(), Some("a b c"));
        assert!(parse_callback(None).unwrap().state.is_none());
        assert!(parse_callback(Some("")).unwrap().state.is_none());
        let long = "a".repeat(MAX_STATE_LEN + 1);
        for bad in [
            "state=a&state=b".to_owned(),
            "code=a&code=a".to_owned(),
            "error=x&error=y".to_owned(),
            "state=%ff%fe".to_owned(),
            "state=%zz".to_owned(),
            "state=abc%".to_owned(),
            "state=a%00b".to_owned(),
            "code=a%0Ab".to_owned(),
            format!("state={long}"),
            format!("x={}", "a".repeat(QUERY_LIMIT)),
        ] {
            assert!(parse_callback(Some(&bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_binding_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            COOKIE,
            HeaderValue::from_static("a=1; labgate_oauth_binding=v4lue; b=2"),
        );
        assert_eq!(binding_from(&headers).unwrap().expose_secret(), "v4lue");
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("labgate_oauth_binding="));
        assert!(binding_from(&headers).is_none());
        assert!(binding_from(&HeaderMap::new()).is_none());
    }

    #[test]
    fn pages_escape_what_they_show() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        assert_eq!(sentence("the flow ended"), "The flow ended.");
        assert_eq!(sentence("Done!"), "Done!");
    }
}
