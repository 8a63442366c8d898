//! The OAuth 2.0 provider with Doorkeeper's strict semantics (PKCE, single-use codes, strict
//! refresh-token rotation).

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::auth::presented_secret;
use crate::db::{digest, random_hex};
use crate::model::*;
use crate::pages::{avatar, esc, page, rejected};
use crate::params::Params;
use crate::session::BrowserSession;
use crate::sign_in::{redirect_with_session, sign_in_path, sign_out_form};
use crate::state::SimState;

pub fn router() -> Router<SimState> {
    Router::new()
        .route(
            "/oauth/authorize",
            get(authorize_page)
                .post(authorize_decision)
                .delete(authorize_denial),
        )
        .route("/oauth/token", post(token))
        .route("/oauth/revoke", post(revoke))
        .route("/oauth/token/info", get(token_info))
}

/// Authorization codes live ten minutes (Doorkeeper's default).
pub const CODE_TTL_SECONDS: i64 = 600;

pub const INVALID_GRANT: &str = "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.";
pub const INVALID_CLIENT: &str = "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.";
const INVALID_SCOPE: &str = "The requested scope is invalid, unknown, or malformed.";
const ACCESS_DENIED: &str = "The resource owner or authorization server denied the request.";
const INVALID_REDIRECT: &str =
    "The requested redirect uri is malformed or doesn't match client redirect URI.";
const UNSUPPORTED_GRANT: &str = "The authorization grant type is not supported by the authorization server.";
const UNSUPPORTED_RESPONSE: &str = "The authorization server does not support this response type.";

/// An OAuth error answered as JSON with Doorkeeper's `WWW-Authenticate` header.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut r = (
        status,
        axum::Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    let v = format!("Bearer realm=\"Doorkeeper\", error=\"{error}\", error_description=\"{description}\"");
    if let Ok(v) = HeaderValue::from_str(&v) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    no_store(r.headers_mut());
    r
}

fn no_store(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

fn redirect(location: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().filter(|(_, v)| !v.is_empty()))
        .finish();
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{q}")
}

/// A validated authorization request.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    app_id: u64,
    app_name: String,
    client_id: String,
    redirect_uri: String,
    state: String,
    scopes: Vec<String>,
    challenge: Option<String>,
    method: Option<String>,
}

/// Why an authorization request cannot proceed: an error page (bad client or redirect URI), or
/// an error redirected back to the client.
#[derive(Debug)]
pub enum AuthorizeError {
    Page {
        status: StatusCode,
        error: &'static str,
        description: &'static str,
    },
    Redirect(String),
}

impl IntoResponse for AuthorizeError {
    fn into_response(self) -> Response {
        match self {
            Self::Page {
                status,
                error,
                description,
            } => page(
                status,
                "An error has occurred",
                &format!(
                    "<div class=\"card\"><div class=\"head\"><h1>An error has occurred</h1></div>\
                     <div class=\"body\"><div class=\"error\" role=\"alert\"><code id=\"error\">{error}</code></div>\
                     <p id=\"error-description\">{}</p></div></div>",
                    esc(description)
                ),
            ),
            Self::Redirect(to) => redirect(&to),
        }
    }
}

fn validate_authorize(state: &SimState, p: &Params) -> Result<AuthorizeRequest, AuthorizeError> {
    let client_id = p.str("client_id").unwrap_or_default();
    let app = state
        .read(|db| db.app_by_uid(&client_id).cloned())
        .ok_or(AuthorizeError::Page {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: INVALID_CLIENT,
        })?;
    let redirect_uri = p.str("redirect_uri").unwrap_or_default();
    if !app.redirect_uris.contains(&redirect_uri) {
        return Err(AuthorizeError::Page {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_redirect_uri",
            description: INVALID_REDIRECT,
        });
    }
    let st = p.str("state").unwrap_or_default();
    let fail = |error: &str, description: &str| {
        AuthorizeError::Redirect(with_query(
            &redirect_uri,
            &[
                ("error", error),
                ("error_description", description),
                ("state", &st),
            ],
        ))
    };
    if p.str("response_type").as_deref() != Some("code") {
        return Err(fail("unsupported_response_type", UNSUPPORTED_RESPONSE));
    }
    let scopes: Vec<String> = match p.str("scope") {
        Some(s) if !s.trim().is_empty() => s.split_whitespace().map(str::to_owned).collect(),
        _ => app.scopes.clone(),
    };
    if scopes.iter().any(|s| !app.scopes.contains(s)) {
        return Err(fail("invalid_scope", INVALID_SCOPE));
    }
    let challenge = p.str("code_challenge").filter(|c| !c.is_empty());
    let method = p.str("code_challenge_method").filter(|c| !c.is_empty());
    if let Some(c) = &challenge {
        let plain_ok = app.allow_pkce_plain || state.read(|db| db.settings.allow_pkce_plain);
        match method.as_deref() {
            Some("S256") => {
                if c.len() != 43
                    || !c
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
                {
                    return Err(fail("invalid_request", "Invalid code_challenge"));
                }
            }
            None | Some("plain") if plain_ok => {}
            _ => return Err(fail("invalid_request", "Invalid code_challenge_method")),
        }
    } else if method.is_some() {
        return Err(fail(
            "invalid_request",
            "Missing required parameter: code_challenge.",
        ));
    }
    Ok(AuthorizeRequest {
        app_id: app.id,
        app_name: app.name,
        client_id,
        redirect_uri,
        state: st,
        scopes,
        challenge,
        method: method.or(Some("plain".into())),
    })
}

/// Approves (issuing a code for `username`) or denies an authorization request; returns the
/// redirect target.
pub fn decide(
    state: &SimState,
    req: &AuthorizeRequest,
    username: Option<&str>,
    approve: bool,
) -> Result<String, AuthorizeError> {
    if !approve {
        return Err(AuthorizeError::Redirect(with_query(
            &req.redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", ACCESS_DENIED),
                ("state", &req.state),
            ],
        )));
    }
    let now = state.clock().now();
    let user = username.and_then(|u| {
        state.read(|db| {
            db.user_by_username(u)
                .filter(|u| u.state == UserState::Active)
                .map(|u| u.id)
        })
    });
    let Some(user_id) = user else {
        return Err(AuthorizeError::Redirect(with_query(
            &req.redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", ACCESS_DENIED),
                ("state", &req.state),
            ],
        )));
    };
    let code = random_hex(32);
    state.write(|db| {
        db.grants.insert(
            digest(&code),
            OAuthGrant {
                app_id: req.app_id,
                user_id,
                redirect_uri: req.redirect_uri.clone(),
                scopes: req.scopes.clone(),
                code_challenge: req.challenge.clone(),
                code_challenge_method: req.challenge.as_ref().and(req.method.clone()),
                created_at: now,
                used: false,
            },
        );
    });
    Ok(with_query(
        &req.redirect_uri,
        &[("code", &code), ("state", &req.state)],
    ))
}

/// Programmatic authorization for tests: `query` is the `/oauth/authorize` query string. Returns
/// the redirect target (with `code`, or with `error` as GitLab redirects errors); `Err` carries the
/// error of requests GitLab answers with an error page (unknown client, bad redirect URI).
pub fn authorize(state: &SimState, query: &str, username: &str, approve: bool) -> Result<String, String> {
    let p = Params::from_query(Some(query));
    let req = match validate_authorize(state, &p) {
        Ok(r) => r,
        Err(AuthorizeError::Redirect(to)) => return Ok(to),
        Err(AuthorizeError::Page { error, .. }) => return Err(error.to_owned()),
    };
    match decide(state, &req, Some(username), approve) {
        Ok(to) | Err(AuthorizeError::Redirect(to)) => Ok(to),
        Err(AuthorizeError::Page { error, .. }) => Err(error.to_owned()),
    }
}

/// GitLab's words for each OAuth scope on its consent page (`doorkeeper.scope_desc`).
pub fn scope_description(scope: &str) -> Option<&'static str> {
    Some(match scope {
        "api" => {
            "Grants complete read/write access to the API, including all groups and projects, the container registry, the dependency proxy, and the package registry."
        }
        "read_api" => {
            "Grants read access to the API, including all groups and projects, the container registry, and the package registry."
        }
        "read_user" => {
            "Grants read-only access to the authenticated user's profile through the /user API endpoint, which includes username, public email, and full name. Also grants access to read-only API endpoints under /users."
        }
        "read_repository" => {
            "Grants read-only access to repositories on private projects using Git-over-HTTP or the Repository Files API."
        }
        "write_repository" => {
            "Grants read-write access to repositories on private projects using Git-over-HTTP (not using the API)."
        }
        "read_registry" => "Grants read-only access to container registry images on private projects.",
        "write_registry" => "Grants write access to container registry images on private projects.",
        "read_virtual_registry" => {
            "Grants read-only access to container images through the dependency proxy or virtual registries."
        }
        "write_virtual_registry" => {
            "Grants read, write and delete access to container images through the dependency proxy or virtual registries."
        }
        "create_runner" => "Grants create access to the runners.",
        "manage_runner" => "Grants access to manage the runners.",
        "k8s_proxy" => "Grants permission to perform Kubernetes API calls using the agent for Kubernetes.",
        "read_observability" => "Grants read-only access to GitLab Observability.",
        "write_observability" => "Grants write access to GitLab Observability.",
        "ai_features" => "Grants access to GitLab Duo related API endpoints.",
        "sudo" => {
            "Grants permission to perform API actions as any user in the system, when authenticated as an admin user."
        }
        "admin_mode" => {
            "Grants permission to perform API actions as an administrator, when Admin Mode is enabled."
        }
        "read_service_ping" => {
            "Grant access to download Service Ping payload through the API when authenticated as an admin user."
        }
        "openid" => {
            "Grants permission to authenticate with GitLab using OpenID Connect. Also gives read-only access to the user's profile and group memberships."
        }
        "profile" => "Grants read-only access to the user's profile data using OpenID Connect.",
        "email" => "Grants read-only access to the user's primary email address using OpenID Connect.",
        _ => return None,
    })
}

/// `host[:port]` of a redirect URI, shown so the person sees where the code goes.
fn redirect_host(uri: &str) -> String {
    url::Url::parse(uri)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_owned();
            Some(match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            })
        })
        .unwrap_or_else(|| uri.to_owned())
}

/// The fields GitLab's consent forms carry back (`hidden_field_tag`s of `@pre_auth`).
fn hidden_fields(req: &AuthorizeRequest, p: &Params, csrf: &str) -> String {
    let scope = req.scopes.join(" ");
    let nonce = p.str("nonce").unwrap_or_default();
    let challenge = req.challenge.clone().unwrap_or_default();
    let method = p.str("code_challenge_method").unwrap_or_default();
    [
        ("authenticity_token", csrf),
        ("client_id", req.client_id.as_str()),
        ("redirect_uri", req.redirect_uri.as_str()),
        ("state", req.state.as_str()),
        ("response_type", "code"),
        ("scope", scope.as_str()),
        ("nonce", nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", method.as_str()),
    ]
    .iter()
    .map(|(k, v)| format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", esc(v)))
    .collect()
}

fn consent_page(
    state: &SimState,
    req: &AuthorizeRequest,
    p: &Params,
    user: &User,
    session: &BrowserSession,
    here: &str,
) -> Response {
    let name = esc(&req.app_name);
    let link = format!(
        "<a href=\"{}\" target=\"_blank\" rel=\"noopener noreferrer\">{name}</a>",
        esc(&req.redirect_uri)
    );
    let mut body = format!(
        "<div class=\"card\" id=\"consent\"><div class=\"head\"><h1>Authorize {link} to use your account?</h1></div>\
         <div class=\"body\"><div class=\"who\">{avatar}<span>Signed in as <strong id=\"username\">@{username}</strong></span>\
         <span class=\"muted\">Not you? {sign_out}</span></div>",
        avatar = avatar(user),
        username = esc(&user.username),
        sign_out = sign_out_form(state, session, Some(here), "Sign out"),
    );
    if user.admin {
        body.push_str(&format!(
            "<p class=\"warn\">You are an admin, which means granting access to <strong>{name}</strong> will allow \
             them to interact with GitLab as an admin as well. Proceed with caution.</p>"
        ));
    }
    body.push_str(&format!(
        "<p>An application called {link} is requesting access to your GitLab account. Please note that this \
         application is not provided by GitLab and you should verify its authenticity before allowing access.</p>\
         <p>This application will be able to:</p><ul class=\"scopes\" id=\"scopes\">"
    ));
    for scope in &req.scopes {
        let desc = scope_description(scope).unwrap_or("");
        body.push_str(&format!(
            "<li data-scope=\"{s}\"><code>{s}</code><div class=\"desc\">{}</div></li>",
            esc(desc),
            s = esc(scope),
        ));
    }
    body.push_str(&format!(
        "</ul><p class=\"muted\" id=\"redirect-host\">Authorizing will redirect to <strong>{}</strong>.</p></div>",
        esc(&redirect_host(&req.redirect_uri))
    ));
    let action = esc(&format!("{}/oauth/authorize", state.prefix()));
    let fields = hidden_fields(req, p, session.csrf_token());
    body.push_str(&format!(
        "<div class=\"foot\">\
         <form method=\"post\" action=\"{action}\" class=\"inline\"><input type=\"hidden\" name=\"_method\" value=\"delete\">{fields}\
         <button type=\"submit\" id=\"deny\">Deny</button></form>\
         <form method=\"post\" action=\"{action}\" class=\"inline\">{fields}\
         <button type=\"submit\" class=\"danger\" id=\"authorize\">Authorize</button></form>\
         </div></div>"
    ));
    page(StatusCode::OK, &format!("Authorize {}", req.app_name), &body)
}

/// `GET /oauth/authorize`. As in GitLab, the browser must be signed in first (Doorkeeper's
/// `resource_owner_authenticator` runs before the request is validated): without a session
/// it goes to the sign-in page and comes back here afterwards. An application with
/// `auto_approve_as` stands for a trusted application and a browser already signed in as that
/// user: the code comes back at once.
async fn authorize_page(
    State(state): State<SimState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    params: Params,
) -> Response {
    let auto = params
        .str("client_id")
        .and_then(|id| state.read(|db| db.app_by_uid(&id).and_then(|a| a.auto_approve_as.clone())));
    if let Some(user) = auto {
        let req = match validate_authorize(&state, &params) {
            Ok(r) => r,
            Err(e) => return e.into_response(),
        };
        return match decide(&state, &req, Some(&user), true) {
            Ok(to) | Err(AuthorizeError::Redirect(to)) => redirect(&to),
            Err(e) => e.into_response(),
        };
    }
    let here = match raw.as_deref() {
        Some(q) if !q.is_empty() => format!("{}/oauth/authorize?{q}", state.prefix()),
        _ => format!("{}/oauth/authorize", state.prefix()),
    };
    let found = state.find_session(&headers);
    let signed_in = found
        .as_ref()
        .and_then(|f| state.session_user(&f.session).map(|u| (f, u)));
    let Some((found, user)) = signed_in else {
        // Remember where to return (`session[:user_return_to] = request.fullpath`).
        let (id, fresh) = match found {
            Some(f) => {
                let mut s = f.session.clone();
                s.return_to = Some(here);
                state.save_session(f.id(), s);
                (f.id().to_owned(), false)
            }
            None => (state.begin_session(BrowserSession::new(None, Some(here))), true),
        };
        let to = state.absolute(&sign_in_path(&state));
        return redirect_with_session(&state, &to, fresh.then_some(id.as_str()));
    };
    let req = match validate_authorize(&state, &params) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    consent_page(&state, &req, &params, &user, &found.session, &here)
}

/// A consent form's answer: Rails checks the authenticity token first, then Doorkeeper wants a
/// signed-in user, then validates the request again.
fn answer_consent(state: &SimState, headers: &HeaderMap, params: &Params, approve: bool) -> Response {
    let Some(found) = state.find_session(headers) else {
        return rejected();
    };
    if !found
        .session
        .csrf_matches(params.str("authenticity_token").as_deref())
    {
        return rejected();
    }
    let Some(user) = state.session_user(&found.session) else {
        return redirect(&state.absolute(&sign_in_path(state)));
    };
    let req = match validate_authorize(state, params) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match decide(state, &req, Some(user.username.as_str()), approve) {
        Ok(to) | Err(AuthorizeError::Redirect(to)) => redirect(&to),
        Err(e) => e.into_response(),
    }
}

/// `POST /oauth/authorize`: Authorize, or Deny sent as a form with Rails' `_method=delete`.
async fn authorize_decision(State(state): State<SimState>, headers: HeaderMap, params: Params) -> Response {
    let deny = params
        .str("_method")
        .is_some_and(|m| m.eq_ignore_ascii_case("delete"));
    answer_consent(&state, &headers, &params, !deny)
}

/// `DELETE /oauth/authorize`: Deny.
async fn authorize_denial(State(state): State<SimState>, headers: HeaderMap, params: Params) -> Response {
    answer_consent(&state, &headers, &params, false)
}

/// Client credentials from the body or HTTP Basic.
fn client_credentials(headers: &HeaderMap, p: &Params) -> (Option<String>, Option<String>) {
    if let Some(b) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        && let Some(s) = base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        && let Some((id, secret)) = s.split_once(':')
    {
        let dec = |x: &str| {
            url::form_urlencoded::parse(format!("x={x}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        return (dec(id), dec(secret));
    }
    (p.str("client_id"), p.str("client_secret"))
}

/// The authenticated client, or `None` (→ `invalid_client`). Public clients need no secret.
fn authenticate_client(state: &SimState, id: Option<&str>, secret: Option<&str>) -> Option<OAuthApp> {
    let app = state.read(|db| db.app_by_uid(id?).cloned())?;
    match secret {
        Some(s) if !s.is_empty() => (s == app.secret).then_some(app),
        _ if !app.confidential => Some(app),
        _ => None,
    }
}

fn token_body(state: &SimState, access: &str, refresh: &str, scopes: &[String], ttl: u64) -> Response {
    let mut r = (
        StatusCode::OK,
        axum::Json(json!({
            "access_token": access,
            "token_type": "bearer",
            "expires_in": ttl,
            "refresh_token": refresh,
            "scope": scopes.join(" "),
            "created_at": state.clock().unix(),
        })),
    )
        .into_response();
    no_store(r.headers_mut());
    r
}

fn pkce_ok(grant: &OAuthGrant, verifier: Option<&str>) -> bool {
    let Some(challenge) = &grant.code_challenge else {
        return true;
    };
    let Some(v) = verifier else { return false };
    if v.len() < 43
        || v.len() > 128
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'))
    {
        return false;
    }
    match grant.code_challenge_method.as_deref() {
        Some("S256") => {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()))
                == *challenge
        }
        _ => v == challenge,
    }
}

async fn token(State(state): State<SimState>, headers: HeaderMap, params: Params) -> Response {
    let (cid, csecret) = client_credentials(&headers, &params);
    match params.str("grant_type").as_deref() {
        Some("authorization_code") => exchange_code(&state, &params, cid.as_deref(), csecret.as_deref()),
        Some("refresh_token") => refresh(&state, &params, cid.as_deref(), csecret.as_deref()),
        None => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: grant_type.",
        ),
        Some(_) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            UNSUPPORTED_GRANT,
        ),
    }
}

fn exchange_code(state: &SimState, p: &Params, cid: Option<&str>, secret: Option<&str>) -> Response {
    let Some(code) = p.str("code").filter(|c| !c.is_empty()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: code.",
        );
    };
    let now = state.clock().now();
    let code_digest = digest(&code);
    let grant = state.read(|db| db.grants.get(&code_digest).cloned());
    let verifier = p.str("code_verifier").filter(|v| !v.is_empty());
    if grant.as_ref().is_some_and(|g| g.code_challenge.is_some()) && verifier.is_none() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: code_verifier.",
        );
    }
    let redirect_uri = p.str("redirect_uri").unwrap_or_default();
    if redirect_uri.is_empty() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: redirect_uri.",
        );
    }
    let Some(app) = authenticate_client(state, cid, secret) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", INVALID_CLIENT);
    };
    let invalid_grant = || oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", INVALID_GRANT);
    let Some(grant) = grant else {
        return invalid_grant();
    };
    let expired = now - grant.created_at >= time::Duration::seconds(CODE_TTL_SECONDS);
    if grant.used || expired || grant.app_id != app.id || grant.redirect_uri != redirect_uri {
        return invalid_grant();
    }
    if !pkce_ok(&grant, verifier.as_deref()) {
        return invalid_grant();
    }
    let issued = state.write(|db| {
        let g = db.grants.get_mut(&code_digest)?;
        if g.used {
            return None;
        }
        g.used = true;
        Some(db.issue_oauth_token(
            app.id,
            grant.user_id,
            grant.scopes.clone(),
            app.access_token_ttl,
            now,
        ))
    });
    match issued {
        Some((_, access, refresh)) => {
            token_body(state, &access, &refresh, &grant.scopes, app.access_token_ttl)
        }
        None => invalid_grant(),
    }
}

fn refresh(state: &SimState, p: &Params, cid: Option<&str>, secret: Option<&str>) -> Response {
    let Some(rt) = p.str("refresh_token").filter(|c| !c.is_empty()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: refresh_token.",
        );
    };
    let d = digest(&rt);
    let now = state.clock().now();
    let existing = state.read(|db| {
        db.oauth_refresh
            .get(&d)
            .and_then(|id| db.oauth_tokens.get(id))
            .cloned()
    });
    let invalid_grant = || oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", INVALID_GRANT);
    let Some(old) = existing else {
        return invalid_grant();
    };
    if old.revoked_at.is_some() {
        return invalid_grant();
    }
    let Some(app) = authenticate_client(state, cid, secret) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", INVALID_CLIENT);
    };
    if app.id != old.app_id {
        return invalid_grant();
    }
    let scopes: Vec<String> = match p.str("scope") {
        Some(s) if !s.trim().is_empty() => s.split_whitespace().map(str::to_owned).collect(),
        _ => old.scopes.clone(),
    };
    if scopes.iter().any(|s| !old.scopes.contains(s)) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", INVALID_SCOPE);
    }
    // The lock makes the revocation check and the rotation one step: the loser of two concurrent
    // refreshes sees the token revoked, as Doorkeeper's `lock!` makes it.
    let issued = state.write(|db| {
        let t = db.oauth_tokens.get_mut(&old.id)?;
        if t.revoked_at.is_some() {
            return None;
        }
        t.revoked_at = Some(now);
        Some(db.issue_oauth_token(app.id, old.user_id, scopes.clone(), app.access_token_ttl, now))
    });
    match issued {
        Some((_, access, refresh)) => token_body(state, &access, &refresh, &scopes, app.access_token_ttl),
        None => invalid_grant(),
    }
}

async fn revoke(State(state): State<SimState>, headers: HeaderMap, params: Params) -> Response {
    let (cid, csecret) = client_credentials(&headers, &params);
    let Some(app) = authenticate_client(&state, cid.as_deref(), csecret.as_deref()) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", INVALID_CLIENT);
    };
    let Some(tok) = params.str("token") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: token.",
        );
    };
    let d = digest(&tok);
    let now = state.clock().now();
    let outcome = state.write(|db| {
        let id = db
            .oauth_access
            .get(&d)
            .or_else(|| db.oauth_refresh.get(&d))
            .copied()?;
        let t = db.oauth_tokens.get_mut(&id)?;
        if t.app_id != app.id {
            return Some(false);
        }
        t.revoked_at.get_or_insert(now);
        Some(true)
    });
    if outcome == Some(false) {
        return oauth_error(
            StatusCode::FORBIDDEN,
            "unauthorized_client",
            "You are not authorized to revoke this token",
        );
    }
    (StatusCode::OK, axum::Json(json!({}))).into_response()
}

async fn token_info(State(state): State<SimState>, req: axum::extract::Request) -> Response {
    let (parts, _) = req.into_parts();
    let secret = presented_secret(&parts).map(|(s, _)| s);
    let now = state.clock().now();
    let invalid = |d: &str| oauth_error(StatusCode::UNAUTHORIZED, "invalid_token", d);
    let Some(secret) = secret else {
        return invalid("The access token is invalid");
    };
    let found = state.read(|db| {
        let t = db
            .oauth_access
            .get(&digest(&secret))
            .and_then(|id| db.oauth_tokens.get(id))?
            .clone();
        let uid = db.apps.get(&t.app_id).map(|a| a.uid.clone());
        Some((t, uid))
    });
    let Some((t, uid)) = found else {
        return invalid("The access token is invalid");
    };
    if t.revoked_at.is_some() {
        return invalid("The access token was revoked");
    }
    if t.expired(now) {
        return invalid("The access token expired");
    }
    let remaining = (t.created_at + time::Duration::seconds(i64::try_from(t.expires_in).unwrap_or(0)) - now)
        .whole_seconds();
    (
        StatusCode::OK,
        axum::Json(json!({
            "resource_owner_id": t.user_id,
            "scope": t.scopes,
            "expires_in": remaining,
            "application": { "uid": uid },
            "created_at": t.created_at.unix_timestamp(),
            "scopes": t.scopes,
            "expires_in_seconds": remaining,
        })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_example() {
        let grant = OAuthGrant {
            app_id: 1,
            user_id: 1,
            redirect_uri: String::new(),
            scopes: vec![],
            code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
            code_challenge_method: Some("S256".into()),
            created_at: time::OffsetDateTime::now_utc(),
            used: false,
        };
        assert!(pkce_ok(
            &grant,
            Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        ));
        assert!(!pkce_ok(
            &grant,
            Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx")
        ));
        assert!(!pkce_ok(&grant, None));
    }

    #[test]
    fn query_appending_keeps_existing_parameters() {
        assert_eq!(
            with_query("http://x/cb?a=1", &[("code", "c"), ("state", "")]),
            "http://x/cb?a=1&code=c"
        );
    }
}
