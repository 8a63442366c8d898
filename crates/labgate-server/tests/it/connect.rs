//! The connect button's server side against gitlab-sim: an application's backend creates a
//! connect session, the popup opens it (once, within 30 minutes), the user consents at the
//! simulator, and the flow ends on `/connect/done`, which reports to the session's origin only.

use axum::body::Body;
use axum::http::Request;
use labgate_proto::api_keys::Role;
use labgate_testkit::sim::{REDIRECT, standard_seed};
use labgate_testkit::{Reply, TestEnv, captured_logs};
use serde_json::{Value, json};

const SESSIONS: &str = "/api/v1/connect-sessions";
const COOKIE: &str = "labgate_oauth_binding";
const APP_ORIGIN: &str = "https://app.example.com";
/// The site URL of `TestEnv::builder().oauth()`.
const OAUTH_SITE_URL: &str = "http://127.0.0.1:8080";

async fn oauth_env() -> TestEnv {
    TestEnv::builder()
        .sim(standard_seed().build())
        .oauth()
        .build()
        .await
}

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

/// Creates a session with tenant `acme`'s admin key and answers its token.
async fn session(env: &TestEnv, body: Value) -> String {
    let reply = env.call("POST", SESSIONS, &env.admin_key, Some(body)).await;
    assert_eq!(reply.status, 201, "{}", text(&reply));
    reply.json()["token"].as_str().unwrap().to_owned()
}

/// The popup's browser opening the connect link.
async fn open(env: &TestEnv, token: &str) -> Reply {
    env.get(&format!("/connect?session={token}"), None).await
}

/// The binding cookie a 303 from `/connect` sets.
fn binding(reply: &Reply) -> String {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|cookie| {
            let rest = cookie.strip_prefix(&format!("{COOKIE}="))?;
            assert!(
                cookie.contains("HttpOnly")
                    && cookie.contains("SameSite=Lax")
                    && cookie.contains("Path=/organization/app-connections/gitlab/oauth"),
                "{cookie}"
            );
            rest.split(';').next().map(str::to_owned)
        })
        .expect("the flow is bound to the popup's browser")
}

/// What every popup page carries.
fn assert_page_headers(reply: &Reply) {
    assert_eq!(reply.headers["cache-control"], "no-store");
    assert_eq!(reply.headers["referrer-policy"], "no-referrer");
    assert_eq!(reply.headers["x-content-type-options"], "nosniff");
    let policy = reply.headers["content-security-policy"].to_str().unwrap();
    let scripts: Vec<&str> = policy
        .split(';')
        .map(str::trim)
        .filter(|directive| directive.starts_with("script-src"))
        .collect();
    assert_eq!(scripts, ["script-src 'self'"], "{policy}");
}

/// A popup result page: its status, headers, and HTML (which runs no inline script).
fn result_page(reply: &Reply, status: u16) -> String {
    assert_eq!(reply.status, status, "{}", text(reply));
    assert_page_headers(reply);
    assert_eq!(reply.headers["content-type"], "text/html; charset=utf-8");
    let html = text(reply);
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert_eq!(
        html.matches("<script").count(),
        html.matches("<script src=\"").count(),
        "scripts come from files: {html}"
    );
    html
}

/// The user at the simulator, in the popup: consents (or declines) as `username`; answers the
/// path and query GitLab sends the browser back to.
fn consent(env: &TestEnv, authorize_url: &str, username: &str, approve: bool) -> String {
    let url = url::Url::parse(authorize_url).unwrap();
    let redirect =
        gitlab_sim::oauth::authorize(env.sim().state(), url.query().unwrap(), username, approve).unwrap();
    let redirect = url::Url::parse(&redirect).unwrap();
    assert_eq!(redirect.as_str().split('?').next(), Some(REDIRECT));
    format!("{}?{}", redirect.path(), redirect.query().unwrap_or_default())
}

/// The popup's browser back at labgate's callback with its cookie: where it is sent next.
async fn callback(env: &TestEnv, path_and_query: &str, cookie: &str) -> url::Url {
    let request = Request::get(path_and_query)
        .header("cookie", format!("{COOKIE}={cookie}"))
        .body(Body::empty())
        .unwrap();
    let reply = env.send(request).await;
    assert_eq!(reply.status, 303, "{}", text(&reply));
    url::Url::parse(reply.headers["location"].to_str().unwrap()).unwrap()
}

fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// Runs the popup from the connect link to the result page's URL.
async fn run_popup(env: &TestEnv, token: &str, approve: bool) -> url::Url {
    let opened = open(env, token).await;
    assert_eq!(opened.status, 303, "{}", text(&opened));
    let cookie = binding(&opened);
    let authorize_url = opened.headers["location"].to_str().unwrap().to_owned();
    let back = consent(env, &authorize_url, "alice", approve);
    callback(env, &back, &cookie).await
}

#[tokio::test]
async fn a_session_is_created_with_an_admin_key_and_shown_once() {
    let env = oauth_env().await;
    let reply = env
        .call(
            "POST",
            SESSIONS,
            &env.admin_key,
            Some(json!({"allowedOrigin": "https://App.Example.com/", "scopes": ["read_api", "read_user"]})),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", text(&reply));
    assert_eq!(reply.headers["cache-control"], "no-store");
    let body = reply.json();
    let token = body["token"].as_str().unwrap();
    assert_eq!(token.len(), 43, "32 random bytes, base64url");
    assert_eq!(
        body["connectUrl"],
        format!("{OAUTH_SITE_URL}/connect?session={token}")
    );
    let expires_at = labgate_core::timefmt::parse_time(body["expiresAt"].as_str().unwrap()).unwrap();
    let now = labgate_core::clock::Clock::now(env.clock.as_ref());
    assert_eq!(expires_at, now + time::Duration::minutes(30));
    assert!(!captured_logs().contains(token), "the token is never logged");

    let audit = env
        .get(
            "/api/v1/audit-logs?action=app-connection.connect-session",
            Some(&env.admin_key),
        )
        .await;
    assert_eq!(audit.status, 200, "{}", text(&audit));
    let entries = audit.json();
    let entry = &entries["auditLogs"][0];
    assert_eq!(entry["details"]["allowedOrigin"], APP_ORIGIN, "{entries}");
    assert!(!entries.to_string().contains(token));
}

#[tokio::test]
async fn bad_sessions_are_refused_with_the_error_contract() {
    let env = oauth_env().await;
    let cases = [
        (json!({}), "allowedOrigin"),
        (json!({"allowedOrigin": ""}), "allowedOrigin"),
        (
            json!({"allowedOrigin": "http://app.example.com"}),
            "allowedOrigin",
        ),
        (
            json!({"allowedOrigin": "https://app.example.com/page"}),
            "allowedOrigin",
        ),
        (json!({"allowedOrigin": "*"}), "allowedOrigin"),
        (
            json!({"allowedOrigin": APP_ORIGIN, "scopes": ["self_rotate"]}),
            "scopes",
        ),
        (json!({"allowedOrigin": APP_ORIGIN, "scopes": []}), "scopes"),
        (json!({"allowedOrigin": APP_ORIGIN, "name": "Not A Slug"}), "name"),
        (json!({"allowedOrigin": APP_ORIGIN, "tenantId": "t1"}), "userId"),
        (
            json!({"allowedOrigin": APP_ORIGIN, "instanceUrl": "https://gitlab.example.com"}),
            "instanceUrl",
        ),
    ];
    for (body, field) in cases {
        let reply = env
            .call("POST", SESSIONS, &env.admin_key, Some(body.clone()))
            .await;
        let error = reply.error(400, "BadRequest");
        assert!(error.to_string().contains(field), "{body} names {field}: {error}");
    }
    for role in [Role::Member, Role::Reader, Role::CredentialReader] {
        let key = env.key("acme", role).await;
        env.call("POST", SESSIONS, &key, Some(json!({"allowedOrigin": APP_ORIGIN})))
            .await
            .error(403, "Forbidden");
    }
    let unauthenticated = env
        .send(
            Request::post(SESSIONS)
                .header("content-type", "application/json")
                .body(Body::from(json!({"allowedOrigin": APP_ORIGIN}).to_string()))
                .unwrap(),
        )
        .await;
    unauthenticated.error(401, "Unauthorized");
}

#[tokio::test]
async fn a_session_without_a_site_url_is_a_conflict() {
    let env = TestEnv::builder().sim(standard_seed().build()).build().await;
    env.call(
        "POST",
        SESSIONS,
        &env.admin_key,
        Some(json!({"allowedOrigin": APP_ORIGIN})),
    )
    .await
    .error(409, "Conflict");
}

#[tokio::test]
async fn opening_a_session_sends_the_popup_to_gitlab_once() {
    let env = oauth_env().await;
    let token = session(
        &env,
        json!({"allowedOrigin": APP_ORIGIN, "scopes": ["read_user"]}),
    )
    .await;
    let opened = open(&env, &token).await;
    assert_eq!(opened.status, 303, "{}", text(&opened));
    assert_page_headers(&opened);
    binding(&opened);
    let location = url::Url::parse(opened.headers["location"].to_str().unwrap()).unwrap();
    assert_eq!(
        location.as_str().split('?').next().unwrap(),
        format!("{}/oauth/authorize", env.sim().url())
    );
    assert_eq!(param(&location, "scope").as_deref(), Some("read_user"));
    assert_eq!(param(&location, "redirect_uri").as_deref(), Some(REDIRECT));

    let again = open(&env, &token).await;
    let html = result_page(&again, 410);
    assert!(html.contains("data-error=\"session_used\""), "{html}");
    assert!(
        html.contains(&format!("data-origin=\"{APP_ORIGIN}\"")),
        "the opener is told, at its own origin: {html}"
    );
    assert!(html.contains("used already"), "{html}");
    assert!(!html.contains(&token));

    let unknown = open(&env, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await;
    let html = result_page(&unknown, 404);
    assert!(html.contains("data-error=\"unknown_session\""), "{html}");
    assert!(!html.contains("data-origin"), "no origin to tell: {html}");
    for junk in [
        "/connect",
        "/connect?session=",
        "/connect?session=a%20b",
        "/connect?session=a&session=b",
    ] {
        let reply = env.get(junk, None).await;
        let html = result_page(&reply, 400);
        assert!(html.contains("no connect session"), "{junk}: {html}");
    }
    assert!(!captured_logs().contains(&token), "the token is never logged");
}

#[tokio::test]
async fn two_racing_opens_give_one_flow() {
    let env = oauth_env().await;
    let token = session(&env, json!({"allowedOrigin": APP_ORIGIN})).await;
    let (a, b) = tokio::join!(open(&env, &token), open(&env, &token));
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 410]);
}

#[tokio::test]
async fn a_session_expires_after_thirty_minutes() {
    let env = oauth_env().await;
    let token = session(&env, json!({"allowedOrigin": "http://localhost:3000"})).await;
    env.clock.advance(time::Duration::minutes(30));
    let expired = open(&env, &token).await;
    let html = result_page(&expired, 410);
    assert!(html.contains("data-error=\"session_expired\""), "{html}");
    assert!(html.contains("data-origin=\"http://localhost:3000\""), "{html}");
}

#[tokio::test]
async fn a_revoked_key_spends_its_sessions() {
    let env = oauth_env().await;
    let key = env.key("acme", Role::Admin).await;
    let reply = env
        .call("POST", SESSIONS, &key, Some(json!({"allowedOrigin": APP_ORIGIN})))
        .await;
    assert_eq!(reply.status, 201, "{}", text(&reply));
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    let key_id = env.principal(&key).await.actor.id().unwrap().to_owned();
    let revoked = env
        .call(
            "DELETE",
            &format!("/api/v1/api-keys/{key_id}"),
            &env.admin_key,
            None,
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", text(&revoked));
    let html = result_page(&open(&env, &token).await, 409);
    assert!(html.contains("data-error=\"connect_failed\""), "{html}");
    assert!(html.contains("revoked"), "{html}");
}

#[tokio::test]
async fn the_popup_ends_on_connect_done_with_a_labelled_connection() {
    let env = oauth_env().await;
    let token = session(
        &env,
        json!({"allowedOrigin": APP_ORIGIN, "name": "customer-gitlab", "description": "From the button",
               "scopes": ["api"], "tenantId": "org-42", "userId": "user-7"}),
    )
    .await;
    let done = run_popup(&env, &token, true).await;
    assert_eq!(
        done.as_str().split('?').next().unwrap(),
        format!("{OAUTH_SITE_URL}/connect/done")
    );
    let connection_id = param(&done, "connectionId").expect("the connection's id");
    assert!(param(&done, "error").is_none());

    let connection = env
        .get(
            &format!("/api/v1/app-connections/gitlab/{connection_id}"),
            Some(&env.admin_key),
        )
        .await;
    assert_eq!(connection.status, 200, "{}", text(&connection));
    let connection = connection.json()["appConnection"].clone();
    assert_eq!(connection["name"], "customer-gitlab");
    assert_eq!(connection["description"], "From the button");
    assert_eq!(connection["method"], "oauth");
    let credential = env
        .get(
            "/api/v1/credentials/gitlab?tenantId=org-42&userId=user-7",
            Some(&env.admin_key),
        )
        .await;
    assert_eq!(credential.status, 200, "{}", text(&credential));
    assert_eq!(credential.json()["connectionId"], connection_id.as_str());

    let page = env
        .get(&format!("{}?{}", done.path(), done.query().unwrap()), None)
        .await;
    let html = result_page(&page, 200);
    assert!(html.contains("GitLab connected"), "{html}");
    assert!(html.contains(&format!("data-origin=\"{APP_ORIGIN}\"")), "{html}");
    assert!(html.contains("data-type=\"connected\""), "{html}");
    assert!(
        html.contains(&format!("data-connection-id=\"{connection_id}\"")),
        "{html}"
    );
    assert!(html.contains("<script src=\"popup.js\"></script>"), "{html}");

    // Long after the flow could have ended, the page no longer posts anywhere.
    env.clock.advance(time::Duration::minutes(12));
    let late = env
        .get(&format!("{}?{}", done.path(), done.query().unwrap()), None)
        .await;
    let html = result_page(&late, 200);
    assert!(!html.contains("data-origin"), "{html}");
}

#[tokio::test]
async fn a_declined_consent_ends_on_connect_done_with_access_denied() {
    let env = oauth_env().await;
    let token = session(&env, json!({"allowedOrigin": APP_ORIGIN, "scopes": ["api"]})).await;
    let done = run_popup(&env, &token, false).await;
    assert_eq!(done.path(), "/connect/done");
    assert_eq!(param(&done, "error").as_deref(), Some("access_denied"), "{done}");
    assert!(param(&done, "connectionId").is_none());
    let page = env
        .get(&format!("{}?{}", done.path(), done.query().unwrap()), None)
        .await;
    let html = result_page(&page, 400);
    assert!(html.contains("data-type=\"error\""), "{html}");
    assert!(html.contains("data-error=\"access_denied\""), "{html}");
    assert!(html.contains(&format!("data-origin=\"{APP_ORIGIN}\"")), "{html}");
    assert!(html.contains("GitLab was not connected"), "{html}");
}

#[tokio::test]
async fn a_result_page_of_no_session_reports_to_nobody() {
    let env = oauth_env().await;
    let id = uuid::Uuid::now_v7();
    for path in [
        format!("/connect/done?session={id}&connectionId={id}"),
        format!("/connect/done?connectionId={id}"),
        "/connect/done?session=junk&error=access_denied".to_owned(),
    ] {
        let reply = env.get(&path, None).await;
        assert!(reply.status == 200 || reply.status == 400, "{path}");
        let html = result_page(&reply, reply.status.as_u16());
        assert!(!html.contains("data-origin"), "{path}: {html}");
    }
    let html = result_page(&env.get("/connect/done", None).await, 400);
    assert!(html.contains("invalid_request"), "{html}");
    let html = result_page(
        &env.get(
            "/connect/done?error=%3Cscript%3E&error_description=%3Cb%3Ehi",
            None,
        )
        .await,
        400,
    );
    assert!(
        !html.contains("<b>") && html.contains("authorization_failed"),
        "{html}"
    );
}

#[tokio::test]
async fn the_scripts_are_served_for_other_sites_pages() {
    let env = TestEnv::new().await;
    let sdk = env.get("/sdk/connect.js", None).await;
    assert_eq!(sdk.status, 200);
    assert_eq!(sdk.headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(sdk.headers["access-control-allow-origin"], "*");
    assert_eq!(sdk.headers["cross-origin-resource-policy"], "cross-origin");
    assert!(
        sdk.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let body = text(&sdk);
    assert!(body.contains("customElements.define(\"labgate-connect-button\""));
    assert!(body.contains("LabgateConnect"));

    let popup = env.get("/connect/popup.js", None).await;
    assert_eq!(popup.status, 200);
    assert_eq!(popup.headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(popup.headers["cross-origin-resource-policy"], "same-origin");
    assert!(text(&popup).contains("postMessage(message, origin)"));
    assert!(!text(&popup).contains("\"*\""), "never posts to any origin");
}
