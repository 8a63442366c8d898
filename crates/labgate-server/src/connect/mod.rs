//! The connect button's browser side: the script other sites embed (`/sdk/connect.js`), and the
//! popup's pages. `/connect?session=…` uses a connect session and sends the browser on to GitLab;
//! the OAuth flow ends on `/connect/done`, which reports the outcome to the page that opened the
//! popup, at the session's origin only, and closes. Either page without an opener is a readable
//! result page.
//!
//! The pages run one script, `/connect/popup.js`, that reads what to post from the page's
//! `data-` attributes: the pages allow no inline script.

use axum::extract::State;
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, PRAGMA,
    REFERRER_POLICY, SET_COOKIE, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use labgate_core::connections::connect_sessions::{CONNECT_PATH, DONE_PATH, OpenRefused};
use labgate_core::connections::oauth::STATE_LIFETIME;
use secrecy::ExposeSecret;

use crate::api::oauth::{STYLE, binding_cookie, escape, sentence};
use crate::error::ApiError;
use crate::extract::RequestInfo;
use crate::state::AppState;
use crate::ui::cookies::secure_site;
use labgate_core::CoreError;

const SDK_PATH: &str = "/sdk/connect.js";
const POPUP_SCRIPT_PATH: &str = "/connect/popup.js";
const SDK_SCRIPT: &str = include_str!("sdk.js");
const POPUP_SCRIPT: &str = include_str!("popup.js");
/// The popup's pages run their one script from labgate and style themselves inline.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const SCRIPT_CACHE: &str = "public, max-age=3600";
/// Session tokens are 43 characters of base64url; anything much longer is not one.
const MAX_TOKEN_LEN: usize = 128;
const MAX_ERROR_LEN: usize = 64;
const MAX_DESCRIPTION_LEN: usize = 1_024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(CONNECT_PATH, get(open))
        .route(DONE_PATH, get(done))
        .route(POPUP_SCRIPT_PATH, get(popup_script))
        .route(SDK_PATH, get(sdk_script))
}

/// The first value of each named parameter, decoded; `None` for a parameter given twice.
fn query_value(uri: &Uri, name: &str) -> Result<Option<String>, ()> {
    let mut found = None;
    for (key, value) in url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        if key == name {
            if found.is_some() {
                return Err(());
            }
            found = Some(value.into_owned());
        }
    }
    Ok(found)
}

/// What the popup's script posts to the embedding page.
enum Outcome {
    Connected { connection_id: String },
    Failed { error: String, description: String },
}

/// The popup's first page: uses the session and sends the browser to GitLab, bound to it by the
/// OAuth flow's cookie.
async fn open(State(state): State<AppState>, info: Option<Extension<RequestInfo>>, uri: Uri) -> Response {
    let token = match query_value(&uri, "session") {
        Ok(Some(token))
            if !token.is_empty()
                && token.len() <= MAX_TOKEN_LEN
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            token
        }
        _ => {
            let mut response = refusal_page(
                OpenRefused::Unknown.code(),
                None,
                StatusCode::BAD_REQUEST,
                "the link carries no connect session",
            );
            harden(&mut response);
            return response;
        }
    };
    let client_ip = info.and_then(|Extension(info)| info.client_ip);
    let opened = state
        .services
        .connections
        .open_connect_session(&token, client_ip)
        .await;
    let mut response = match opened {
        Ok(opened) => {
            let binding = opened.flow.browser_binding.as_ref().map(|binding| {
                HeaderValue::from_str(&binding_cookie(
                    binding.expose_secret(),
                    STATE_LIFETIME.whole_seconds(),
                    secure_site(&state),
                ))
            });
            match (HeaderValue::from_str(&opened.flow.authorize_url), binding) {
                (Ok(location), Some(Ok(mut cookie))) => {
                    cookie.set_sensitive(true);
                    let mut response = StatusCode::SEE_OTHER.into_response();
                    response.headers_mut().insert(LOCATION, location);
                    response.headers_mut().append(SET_COOKIE, cookie);
                    response
                }
                _ => {
                    tracing::error!("a connect session's flow could not be sent to GitLab");
                    let failed = Outcome::Failed {
                        error: "connect_failed".to_owned(),
                        description:
                            "labgate could not send you on to GitLab; start again from the application"
                                .to_owned(),
                    };
                    result_page(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &failed,
                        Some(&opened.allowed_origin),
                        "connect/popup.js",
                    )
                }
            }
        }
        Err(refused) => {
            let code = refused.code();
            let origin = refused.allowed_origin().map(str::to_owned);
            let (status, message) = match refused {
                OpenRefused::Unknown => (StatusCode::NOT_FOUND, "this connect link is unknown".to_owned()),
                OpenRefused::Unavailable => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "labgate could not read the connect session; try again shortly".to_owned(),
                ),
                OpenRefused::Used { .. } => (
                    StatusCode::GONE,
                    "this connect link was used already: each works once".to_owned(),
                ),
                OpenRefused::Expired { .. } => (
                    StatusCode::GONE,
                    "this connect link has expired: each works for 30 minutes".to_owned(),
                ),
                // The message goes to the embedding site too: what labgate could not reach
                // (paths, addresses) stays in labgate's log.
                OpenRefused::Failed {
                    error: CoreError::Unavailable(cause),
                    ..
                } => {
                    tracing::warn!(error = %cause, "a connect session could not start its OAuth flow");
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "labgate could not start the connection just now; try again shortly".to_owned(),
                    )
                }
                OpenRefused::Failed { error, .. } => {
                    let error = ApiError::from(error);
                    (error.status(), error.message)
                }
            };
            refusal_page(code, origin.as_deref(), status, &message)
        }
    };
    harden(&mut response);
    response
}

fn refusal_page(code: &str, origin: Option<&str>, status: StatusCode, message: &str) -> Response {
    let outcome = Outcome::Failed {
        error: code.to_owned(),
        description: message.to_owned(),
    };
    result_page(status, &outcome, origin, "connect/popup.js")
}

/// Where the popup's OAuth flow ends: the callback sends the browser here with `connectionId`,
/// or `error` and `error_description`, added to the session's own query.
async fn done(State(state): State<AppState>, uri: Uri) -> Response {
    let connection_id = query_value(&uri, "connectionId").ok().flatten();
    let error = query_value(&uri, "error").ok().flatten();
    let description = query_value(&uri, "error_description").ok().flatten();
    let session = query_value(&uri, "session").ok().flatten();
    let origin = match session {
        Some(session) => match state.services.connections.connect_session_origin(&session).await {
            Ok(origin) => origin,
            Err(error) => {
                tracing::warn!(error = %error, "a connect session's origin could not be read");
                None
            }
        },
        None => None,
    };
    let (status, outcome) = match (connection_id, error) {
        (Some(id), None) if uuid::Uuid::try_parse(&id).is_ok() => {
            (StatusCode::OK, Outcome::Connected { connection_id: id })
        }
        (_, Some(error)) => {
            let error = if !error.is_empty()
                && error.len() <= MAX_ERROR_LEN
                && error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            {
                error
            } else {
                "authorization_failed".to_owned()
            };
            let description: String = description
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_DESCRIPTION_LEN)
                .collect();
            (StatusCode::BAD_REQUEST, Outcome::Failed { error, description })
        }
        _ => (
            StatusCode::BAD_REQUEST,
            Outcome::Failed {
                error: "invalid_request".to_owned(),
                description: "this page reports the end of a GitLab authorization, and none ended here"
                    .to_owned(),
            },
        ),
    };
    let mut response = result_page(status, &outcome, origin.as_deref(), "popup.js");
    harden(&mut response);
    response
}

/// The result page. With `origin`, it carries what its script posts there; `script` is the
/// popup script's URL relative to the page, so that labgate may sit below a path.
fn result_page(status: StatusCode, outcome: &Outcome, origin: Option<&str>, script: &str) -> Response {
    let (title, data, body) = match outcome {
        Outcome::Connected { connection_id } => (
            "GitLab connected",
            format!(
                " data-type=\"connected\" data-connection-id=\"{}\"",
                escape(connection_id)
            ),
            "<h1 class=\"ok\">GitLab connected</h1>\
             <p>You can close this window and return to the application.</p>"
                .to_owned(),
        ),
        Outcome::Failed { error, description } => (
            "GitLab was not connected",
            format!(
                " data-type=\"error\" data-error=\"{}\" data-error-description=\"{}\"",
                escape(error),
                escape(description)
            ),
            format!(
                "<h1 class=\"fail\">GitLab was not connected</h1>{}\
                 <p>You can close this window and start again from the application.</p>\
                 <p class=\"code\">Error code: <code>{}</code></p>",
                if description.is_empty() {
                    String::new()
                } else {
                    format!("<p>{}</p>", escape(&sentence(description)))
                },
                escape(error),
            ),
        ),
    };
    let origin = origin
        .map(|origin| format!(" data-origin=\"{}\"", escape(origin)))
        .unwrap_or_default();
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{title} · labgate</title><style>{STYLE}</style></head>\
         <body><main id=\"labgate-result\"{origin}{data}>{body}</main>\
         <script src=\"{script}\"></script></body></html>\n"
    );
    let mut response = (status, html).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response
}

/// Every answer of the popup's pages: never stored (the first one's URL carries the token),
/// never named in a `Referer`, and its own body even for errors.
fn harden(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_POLICY));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response.extensions_mut().insert(crate::middleware::OwnBody);
}

fn script(body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(SCRIPT_CACHE));
    response
}

/// The popup's one script.
async fn popup_script() -> Response {
    script(POPUP_SCRIPT)
}

/// `<labgate-connect-button>`, for any site's pages: readable from every origin.
async fn sdk_script() -> Response {
    let mut response = script(SDK_SCRIPT);
    let headers = response.headers_mut();
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("cross-origin"),
    );
    response
}
