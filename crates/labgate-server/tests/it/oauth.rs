//! OAuth connections over HTTP against gitlab-sim: the start, the user's consent at the
//! simulator, the browser callback, Infisical's code hand-over, refresh, and the credential
//! broker by the embedding application's tenant and user.

use axum::body::Body;
use axum::http::Request;
use labgate_core::connections::oauth::REFRESH_FIELD;
use labgate_core::connections::{OWNER_TABLE, TOKEN_FIELD};
use labgate_core::vault::SecretSlot;
use labgate_testkit::sim::{ALICE_TOKEN, APP_SECRET, APP_UID, REDIRECT, standard_seed};
use labgate_testkit::{Reply, TestEnv, captured_logs};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

const BASE: &str = "/api/v1/app-connections/gitlab";
const START: &str = "/api/v1/app-connections/gitlab/oauth/start";
const CALLBACK: &str = "/organization/app-connections/gitlab/oauth/callback";
const COOKIE: &str = "labgate_oauth_binding";

/// The simulator as the default instance, with the standard OAuth application.
async fn oauth_env() -> TestEnv {
    TestEnv::builder()
        .sim(standard_seed().build())
        .oauth()
        .build()
        .await
}

/// `POST …/oauth/start` with tenant `acme`'s admin key, from a page on labgate's own origin or
/// from a backend.
async fn start(env: &TestEnv, body: Value, same_origin: bool) -> Reply {
    let mut request = Request::post(START)
        .header("authorization", format!("Bearer {}", env.admin_key))
        .header("content-type", "application/json");
    if same_origin {
        request = request.header("sec-fetch-site", "same-origin");
    }
    env.send(request.body(Body::from(body.to_string())).unwrap())
        .await
}

/// Starts a flow from a backend and answers the authorize URL.
async fn authorize_url(env: &TestEnv, body: Value) -> String {
    let reply = start(env, body, false).await;
    assert_eq!(reply.status, 200, "{}", text(&reply));
    reply.json()["authorizeUrl"].as_str().unwrap().to_owned()
}

/// The user's browser at GitLab: approves (or declines) as `username`, and answers the path and
/// query GitLab sends the browser back to.
fn consent(env: &TestEnv, authorize_url: &str, username: &str, approve: bool) -> String {
    let url = url::Url::parse(authorize_url).unwrap();
    let redirect =
        gitlab_sim::oauth::authorize(env.sim().state(), url.query().unwrap(), username, approve).unwrap();
    let redirect = url::Url::parse(&redirect).unwrap();
    assert_eq!(
        redirect.as_str().split('?').next(),
        Some(REDIRECT),
        "GitLab sends the browser to labgate's redirect URI"
    );
    format!("{}?{}", redirect.path(), redirect.query().unwrap_or_default())
}

/// The browser arriving at the callback, with the binding cookie when it has one.
async fn callback(env: &TestEnv, path_and_query: &str, cookie: Option<&str>) -> Reply {
    let mut request = Request::get(path_and_query);
    if let Some(cookie) = cookie {
        request = request.header("cookie", format!("theme=dark; {COOKIE}={cookie}"));
    }
    env.send(request.body(Body::empty()).unwrap()).await
}

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

fn set_cookies(reply: &Reply) -> Vec<String> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

/// The binding cookie's value from a start's answer.
fn binding(reply: &Reply) -> Option<String> {
    set_cookies(reply).iter().find_map(|cookie| {
        let value = cookie.strip_prefix(&format!("{COOKIE}="))?.split(';').next()?;
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// What every answer of the callback carries, whatever it says.
fn assert_callback_headers(reply: &Reply) {
    assert_eq!(reply.headers["cache-control"], "no-store");
    assert_eq!(reply.headers["referrer-policy"], "no-referrer");
    assert_eq!(reply.headers["x-content-type-options"], "nosniff");
    let policy = reply.headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.starts_with("default-src 'none'; style-src 'unsafe-inline'"),
        "{policy}"
    );
    assert!(!policy.contains("script"), "{policy}");
    let cookies = set_cookies(reply);
    assert!(
        cookies
            .iter()
            .any(|cookie| cookie.starts_with(&format!("{COOKIE}=;"))
                && cookie.contains("Max-Age=0")
                && cookie.contains("Path=/organization/app-connections/gitlab/oauth")),
        "the binding cookie is cleared: {cookies:?}"
    );
}

/// A callback page: its status, HTML, and (on failure) the error code it names.
fn page(reply: &Reply, status: u16, code: Option<&str>) -> String {
    assert_eq!(reply.status, status, "{}", text(reply));
    assert_callback_headers(reply);
    assert_eq!(reply.headers["content-type"], "text/html; charset=utf-8");
    let html = text(reply);
    assert!(
        html.starts_with("<!DOCTYPE html>") && !html.contains("<script"),
        "{html}"
    );
    if let Some(code) = code {
        assert!(html.contains(&format!("<code>{code}</code>")), "{code} in {html}");
    }
    html
}

/// A 303 back to `returnTo`: its outcome parameters.
fn redirect(reply: &Reply, return_to: &str) -> Vec<(String, String)> {
    assert_eq!(reply.status, 303, "{}", text(reply));
    assert_callback_headers(reply);
    let location = reply.headers["location"].to_str().unwrap();
    assert!(location.starts_with(return_to), "{location}");
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

async fn connection_by_name(env: &TestEnv, name: &str) -> Value {
    let reply = env
        .get(&format!("{BASE}/connection-name/{name}"), Some(&env.admin_key))
        .await;
    assert_eq!(reply.status, 200, "{}", text(&reply));
    reply.json()["appConnection"].clone()
}

async fn connection_count(env: &TestEnv) -> u64 {
    env.get(BASE, Some(&env.admin_key)).await.json()["appConnections"]
        .as_array()
        .unwrap()
        .len() as u64
}

/// The tokens a connection holds, straight from the vault.
async fn held_tokens(env: &TestEnv, id: &str) -> (String, String) {
    let slot = |field| SecretSlot {
        tenant_id: env.tenant.id.as_str(),
        owner_table: OWNER_TABLE,
        owner_id: id,
        field,
    };
    let access = env
        .services
        .vault
        .get_secret(&slot(TOKEN_FIELD))
        .await
        .unwrap()
        .unwrap();
    let refresh = env
        .services
        .vault
        .get_secret(&slot(REFRESH_FIELD))
        .await
        .unwrap()
        .unwrap();
    (
        access.expose_secret().to_owned(),
        refresh.expose_secret().to_owned(),
    )
}

/// The simulator's `GET /api/v4/user` with a token: the username, or the status it refused with.
async fn gitlab_user(env: &TestEnv, token: &str) -> Result<String, u16> {
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}/api/v4/user", env.sim().url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    if status != 200 {
        return Err(status);
    }
    let body: Value = response.json().await.unwrap();
    Ok(body["username"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_flow_started_over_the_api_ends_in_a_connection_at_the_callback() {
    let env = oauth_env().await;
    let sim_url = env.sim().url().to_owned();
    let started = start(
        &env,
        json!({"name": "gitlab", "description": "Alice's GitLab", "scopes": ["api"]}),
        false,
    )
    .await;
    assert_eq!(started.status, 200, "{}", text(&started));
    assert_eq!(started.headers["cache-control"], "no-store");
    assert!(
        binding(&started).is_none() && set_cookies(&started).is_empty(),
        "a flow begun by a backend is bound by its state alone"
    );
    let body = started.json();
    let authorize_url = body["authorizeUrl"].as_str().unwrap().to_owned();
    let parsed = url::Url::parse(&authorize_url).unwrap();
    assert_eq!(
        parsed.as_str().split('?').next().unwrap(),
        format!("{sim_url}/oauth/authorize")
    );
    let query: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(param(&query, "client_id"), Some(APP_UID));
    assert_eq!(param(&query, "redirect_uri"), Some(REDIRECT));
    assert_eq!(param(&query, "response_type"), Some("code"));
    assert_eq!(param(&query, "code_challenge_method"), Some("S256"));
    assert_eq!(param(&query, "scope"), Some("api"));
    let state = param(&query, "state").unwrap().to_owned();
    let expires_at = labgate_core::timefmt::parse_time(body["expiresAt"].as_str().unwrap()).unwrap();
    let now = labgate_core::clock::Clock::now(env.clock.as_ref());
    assert_eq!(expires_at, now + time::Duration::minutes(10));

    let back = consent(&env, &authorize_url, "alice", true);
    let code = url::Url::parse(&format!("http://x{back}"))
        .unwrap()
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, value)| value.into_owned())
        .unwrap();
    let finished = callback(&env, &back, None).await;
    let html = page(&finished, 200, None);
    assert!(
        html.contains("<strong>gitlab</strong>") && html.contains("@alice"),
        "{html}"
    );

    let connection = connection_by_name(&env, "gitlab").await;
    assert_eq!(connection["method"], "oauth");
    assert_eq!(connection["credentials"], json!({"instanceUrl": sim_url}));
    assert_eq!(connection["status"], "active");
    assert_eq!(connection["description"], "Alice's GitLab");
    assert_eq!(connection["gitlabUser"]["username"], "alice");
    assert_eq!(connection["scopes"], json!(["api"]));
    assert!(connection["expiresAt"].is_string(), "{connection}");
    let id = connection["id"].as_str().unwrap().to_owned();
    let (access, refresh) = held_tokens(&env, &id).await;
    assert_eq!(gitlab_user(&env, &access).await, Ok("alice".to_owned()));

    // The token leaves labgate through the credential broker only.
    let listed = env.get(BASE, Some(&env.admin_key)).await;
    let events = env
        .get(&format!("{BASE}/{id}/events"), Some(&env.admin_key))
        .await;
    let audit = env.get("/api/v1/audit-logs", Some(&env.admin_key)).await;
    for answer in [&started, &finished, &listed, &events, &audit] {
        let body = text(answer);
        for secret in [access.as_str(), refresh.as_str(), code.as_str(), APP_SECRET] {
            assert!(!body.contains(secret), "a secret in an answer: {body}");
        }
    }
    assert!(
        !text(&listed).contains(&state) && !text(&audit).contains(&state),
        "the state is only in the authorize URL"
    );
    let actions: Vec<String> = audit.json()["auditLogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["action"].as_str().unwrap().to_owned())
        .collect();
    for action in ["app-connection.oauth-start", "app-connection.oauth-connect"] {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }
    let logs = captured_logs();
    assert!(
        logs.contains(CALLBACK),
        "the callback's request was logged (and captured)"
    );
    for secret in [
        access.as_str(),
        refresh.as_str(),
        code.as_str(),
        state.as_str(),
        APP_SECRET,
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}

#[tokio::test]
async fn a_declined_authorization_ends_on_a_page_or_back_at_return_to() {
    let env = oauth_env().await;
    let url = authorize_url(&env, json!({"name": "gitlab", "scopes": ["api"]})).await;
    let back = consent(&env, &url, "alice", false);
    assert!(back.contains("error=access_denied"), "{back}");
    let html = page(&callback(&env, &back, None).await, 400, Some("access_denied"));
    assert!(html.contains("declined"), "{html}");

    let return_to = "https://app.example.com/settings/gitlab?tab=connections";
    let url = authorize_url(
        &env,
        json!({"name": "gitlab", "scopes": ["api"], "returnTo": return_to}),
    )
    .await;
    let back = consent(&env, &url, "alice", false);
    let params = redirect(&callback(&env, &back, None).await, return_to);
    assert_eq!(
        param(&params, "tab"),
        Some("connections"),
        "its own query is kept"
    );
    assert_eq!(param(&params, "error"), Some("access_denied"));
    assert!(param(&params, "error_description").is_some_and(|text| text.contains("declined")));
    assert!(param(&params, "connectionId").is_none());
    assert_eq!(connection_count(&env).await, 0, "nothing was connected");

    // Approved, the same application learns the connection's id.
    let return_to = "http://localhost:3000/connected";
    let url = authorize_url(
        &env,
        json!({"name": "gitlab", "scopes": ["api"], "returnTo": return_to}),
    )
    .await;
    let back = consent(&env, &url, "alice", true);
    let params = redirect(&callback(&env, &back, None).await, return_to);
    let connection = connection_by_name(&env, "gitlab").await;
    assert_eq!(param(&params, "connectionId"), connection["id"].as_str());
    assert!(param(&params, "error").is_none());
}

#[tokio::test]
async fn states_are_single_use_known_and_short_lived() {
    let env = oauth_env().await;
    let url = authorize_url(&env, json!({"name": "gitlab", "scopes": ["api"]})).await;
    let back = consent(&env, &url, "alice", true);
    page(&callback(&env, &back, None).await, 200, None);
    // The same answer again (a reload, or someone who saw the URL).
    page(&callback(&env, &back, None).await, 400, Some("invalid_state"));

    let unknown = format!("{CALLBACK}?code=abc&state=not-a-state-labgate-issued");
    let html = page(&callback(&env, &unknown, None).await, 400, Some("invalid_state"));
    assert!(
        !html.contains("not-a-state-labgate-issued"),
        "the state is never echoed"
    );
    page(&callback(&env, CALLBACK, None).await, 400, Some("invalid_state"));
    page(
        &callback(&env, &format!("{CALLBACK}?code=abc"), None).await,
        400,
        Some("invalid_state"),
    );

    // Started, authorised at GitLab, and back eleven minutes later.
    let url = authorize_url(&env, json!({"name": "late", "scopes": ["api"]})).await;
    let back = consent(&env, &url, "alice", true);
    env.clock.advance(time::Duration::minutes(11));
    page(&callback(&env, &back, None).await, 400, Some("expired_state"));
    assert_eq!(connection_count(&env).await, 1, "only the first flow connected");

    // What GitLab never sends: the invalid-state page, never the JSON contract or a 5xx.
    let url = authorize_url(&env, json!({"name": "odd", "scopes": ["api"]})).await;
    let back = consent(&env, &url, "alice", true);
    let query = back.split_once('?').unwrap().1;
    let huge = "x".repeat(5_000);
    for malformed in [
        format!("{CALLBACK}?{query}&state=again"),
        format!("{CALLBACK}?{query}&code=again"),
        format!("{CALLBACK}?{query}&error_description={huge}"),
        format!("{CALLBACK}?state={huge}"),
        format!("{CALLBACK}?{query}&error=%FF%FE"),
        format!("{CALLBACK}?{query}&state%ZZ=1"),
    ] {
        page(
            &callback(&env, &malformed, None).await,
            400,
            Some("invalid_state"),
        );
    }
    // None of them spent the state: the real answer still connects.
    page(&callback(&env, &back, None).await, 200, None);
}

#[tokio::test]
async fn a_flow_begun_in_a_browser_needs_that_browsers_cookie() {
    let env = oauth_env().await;
    let started = start(&env, json!({"name": "gitlab", "scopes": ["api"]}), true).await;
    assert_eq!(started.status, 200, "{}", text(&started));
    let cookies = set_cookies(&started);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = &cookies[0];
    for attribute in [
        "; Path=/organization/app-connections/gitlab/oauth",
        "; Max-Age=600",
        "; HttpOnly",
        "; SameSite=Lax",
    ] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "the site is plain http: {cookie}");
    let value = binding(&started).unwrap();
    assert!(value.len() >= 43, "{value}");
    let url = started.json()["authorizeUrl"].as_str().unwrap().to_owned();
    assert!(!url.contains(&value), "the cookie never travels to GitLab");
    let back = consent(&env, &url, "alice", true);
    // Another browser, which has the URL but not the cookie.
    page(&callback(&env, &back, None).await, 400, Some("browser_mismatch"));
    page(
        &callback(&env, &back, Some(&value)).await,
        400,
        Some("invalid_state"),
    );
    assert_eq!(connection_count(&env).await, 0);

    // The same browser.
    let started = start(&env, json!({"name": "gitlab", "scopes": ["api"]}), true).await;
    let value = binding(&started).unwrap();
    let back = consent(
        &env,
        started.json()["authorizeUrl"].as_str().unwrap(),
        "alice",
        true,
    );
    page(
        &callback(&env, &back, Some("not-the-cookie")).await,
        400,
        Some("browser_mismatch"),
    );
    let started = start(&env, json!({"name": "gitlab", "scopes": ["api"]}), true).await;
    let other = binding(&started).unwrap();
    assert_ne!(other, value, "every flow has its own binding");
    let back = consent(
        &env,
        started.json()["authorizeUrl"].as_str().unwrap(),
        "alice",
        true,
    );
    page(&callback(&env, &back, Some(&other)).await, 200, None);
    assert_eq!(connection_count(&env).await, 1);

    // Only labgate's own pages bind: another site's request or a backend's gets no cookie.
    for fetch_site in ["cross-site", "same-site", "none"] {
        let request = Request::post(START)
            .header("authorization", format!("Bearer {}", env.admin_key))
            .header("content-type", "application/json")
            .header("sec-fetch-site", fetch_site)
            .body(Body::from(
                json!({"name": "other", "scopes": ["api"]}).to_string(),
            ))
            .unwrap();
        let reply = env.send(request).await;
        assert_eq!(reply.status, 200, "{}", text(&reply));
        assert!(set_cookies(&reply).is_empty(), "{fetch_site}");
    }
    let url = authorize_url(&env, json!({"name": "other", "scopes": ["api"]})).await;
    let back = consent(&env, &url, "alice", true);
    page(&callback(&env, &back, None).await, 200, None);
}

#[tokio::test]
async fn the_binding_cookie_is_secure_when_labgate_is_served_over_https() {
    let env = TestEnv::builder()
        .sim(standard_seed().build())
        .oauth()
        .site_url("https://labgate.example.com")
        .build()
        .await;
    let started = start(&env, json!({"name": "gitlab", "scopes": ["api"]}), true).await;
    assert_eq!(started.status, 200, "{}", text(&started));
    let cookies = set_cookies(&started);
    assert!(
        cookies.len() == 1 && cookies[0].ends_with("; Secure"),
        "{cookies:?}"
    );
    let url = started.json()["authorizeUrl"].as_str().unwrap().to_owned();
    assert!(
        url.contains("redirect_uri=https%3A%2F%2Flabgate.example.com%2Forganization%2Fapp-connections%2Fgitlab%2Foauth%2Fcallback"),
        "{url}"
    );
    let reply = callback(&env, CALLBACK, None).await;
    let cleared = set_cookies(&reply);
    assert!(
        cleared
            .iter()
            .any(|cookie| cookie.contains("Max-Age=0") && cookie.ends_with("; Secure")),
        "{cleared:?}"
    );
}

#[tokio::test]
async fn a_reconnect_by_the_same_user_keeps_the_connection_and_another_user_is_refused() {
    let env = oauth_env().await;
    let url = authorize_url(&env, json!({"name": "gitlab", "scopes": ["api"]})).await;
    page(
        &callback(&env, &consent(&env, &url, "alice", true), None).await,
        200,
        None,
    );
    let first = connection_by_name(&env, "gitlab").await;
    let (old_access, _) = held_tokens(&env, first["id"].as_str().unwrap()).await;

    let url = authorize_url(&env, json!({"name": "gitlab", "scopes": ["api"]})).await;
    page(
        &callback(&env, &consent(&env, &url, "alice", true), None).await,
        200,
        None,
    );
    let again = connection_by_name(&env, "gitlab").await;
    assert_eq!(again["id"], first["id"], "the same connection");
    assert!(again["version"].as_i64() > first["version"].as_i64(), "{again}");
    let (new_access, _) = held_tokens(&env, first["id"].as_str().unwrap()).await;
    assert_ne!(new_access, old_access, "it holds the new grant's token");
    assert_eq!(gitlab_user(&env, &new_access).await, Ok("alice".to_owned()));
    assert_eq!(connection_count(&env).await, 1);

    let return_to = "https://app.example.com/done";
    let url = authorize_url(
        &env,
        json!({"name": "gitlab", "scopes": ["api"], "returnTo": return_to}),
    )
    .await;
    let params = redirect(
        &callback(&env, &consent(&env, &url, "bob", true), None).await,
        return_to,
    );
    assert_eq!(param(&params, "error"), Some("identity_mismatch"));
    let url = authorize_url(&env, json!({"name": "gitlab", "scopes": ["api"]})).await;
    let html = page(
        &callback(&env, &consent(&env, &url, "bob", true), None).await,
        400,
        Some("identity_mismatch"),
    );
    assert!(
        html.contains("@alice"),
        "the page names the connection's own user: {html}"
    );
    let after = connection_by_name(&env, "gitlab").await;
    assert_eq!(after["gitlabUser"]["username"], "alice");
    assert_eq!(after["version"], again["version"], "untouched");
    let (held, _) = held_tokens(&env, first["id"].as_str().unwrap()).await;
    assert_eq!(held, new_access);
    assert_eq!(gitlab_user(&env, &held).await, Ok("alice".to_owned()));

    // A name held by an access-token connection is not reconnected through OAuth.
    let created = env
        .call(
            "POST",
            BASE,
            &env.admin_key,
            Some(json!({
                "name": "ci", "method": "access-token",
                "credentials": {"accessToken": ALICE_TOKEN, "instanceUrl": env.sim().url(), "accessTokenType": "personal"},
            })),
        )
        .await;
    assert_eq!(created.status, 200, "{}", text(&created));
    start(&env, json!({"name": "ci", "scopes": ["api"]}), false)
        .await
        .error(400, "BadRequest");
}

#[tokio::test]
async fn infisicals_oauth_method_takes_a_code_from_gitlabs_consent() {
    let env = oauth_env().await;
    // A client that runs GitLab's authorization itself, without PKCE, with labgate's client id
    // and redirect URI.
    let mut authorize = url::Url::parse(&format!("{}/oauth/authorize", env.sim().url())).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("client_id", APP_UID)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("state", "client-state")
        .append_pair("scope", "api read_user");
    let back = consent(&env, authorize.as_str(), "alice", true);
    let code = url::Url::parse(&format!("http://x{back}"))
        .unwrap()
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, value)| value.into_owned())
        .unwrap();
    let body = |name: &str| json!({"name": name, "method": "oauth", "credentials": {"code": code}});
    let created = env
        .call("POST", BASE, &env.admin_key, Some(body("handed-over")))
        .await;
    assert_eq!(created.status, 200, "{}", text(&created));
    let connection = &created.json()["appConnection"];
    assert_eq!(connection["method"], "oauth");
    assert_eq!(connection["credentials"], json!({"instanceUrl": env.sim().url()}));
    assert_eq!(connection["gitlabUser"]["username"], "alice");
    let (access, refresh) = held_tokens(&env, connection["id"].as_str().unwrap()).await;
    assert_eq!(gitlab_user(&env, &access).await, Ok("alice".to_owned()));
    assert!(!text(&created).contains(&access) && !text(&created).contains(&refresh));

    // A code works once.
    let reused = env
        .call("POST", BASE, &env.admin_key, Some(body("handed-over-again")))
        .await;
    assert!(reused.status.is_client_error(), "{}", text(&reused));
    let error = reused.error(422, "ValidationFailure");
    assert!(!error.to_string().contains(&code), "{error}");
    // And an unknown one is refused the same way.
    let unknown = env
        .call(
            "POST",
            BASE,
            &env.admin_key,
            Some(json!({"name": "made-up", "method": "oauth", "credentials": {"code": "0123456789abcdef"}})),
        )
        .await;
    unknown.error(422, "ValidationFailure");
    assert_eq!(connection_count(&env).await, 1);
    assert!(
        !captured_logs().contains(&code),
        "the code never reaches the logs"
    );
}

#[tokio::test]
async fn the_options_name_the_oauth_client_id() {
    let env = oauth_env().await;
    let options = env
        .get("/api/v1/app-connections/options", Some(&env.admin_key))
        .await;
    assert_eq!(options.status, 200, "{}", text(&options));
    let option = &options.json()["appConnectionOptions"][0];
    assert_eq!(option["app"], "gitlab");
    assert_eq!(option["oauthClientId"], APP_UID);
    assert!(
        option["methods"].as_array().unwrap().contains(&json!("oauth")),
        "{option}"
    );
    assert!(!text(&options).contains(APP_SECRET));

    let plain = TestEnv::new().await;
    let options = plain
        .get("/api/v1/app-connections/options", Some(&plain.admin_key))
        .await;
    assert_eq!(
        options.json()["appConnectionOptions"][0]["oauthClientId"],
        Value::Null
    );
    // Without an OAuth application, a start says what to configure.
    let reply = start(&plain, json!({"name": "gitlab", "scopes": ["api"]}), false).await;
    let body = reply.error(422, "ValidationFailure");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("LABGATE_GITLAB_OAUTH_CLIENT_ID"),
        "{body}"
    );
}

#[tokio::test]
async fn refresh_moves_the_token_on_and_only_for_oauth_connections() {
    let env = oauth_env().await;
    let connection = env.connect_oauth("gitlab", "alice", None).await;
    let id = connection.id.clone();
    let (old_access, old_refresh) = held_tokens(&env, &id).await;
    env.clock.advance(time::Duration::minutes(30));

    let refreshed = env
        .call("POST", &format!("{BASE}/{id}/refresh"), &env.admin_key, None)
        .await;
    assert_eq!(refreshed.status, 200, "{}", text(&refreshed));
    let view = &refreshed.json()["appConnection"];
    assert_eq!(view["id"], id.as_str());
    assert_eq!(view["status"], "active");
    assert_eq!(
        view["credentialsHash"],
        connection.credentials_hash.as_str(),
        "the hash names the grant, not its tokens"
    );
    let old_expiry = labgate_core::timefmt::parse_time(connection.expires_at.as_deref().unwrap()).unwrap();
    let new_expiry = labgate_core::timefmt::parse_time(view["expiresAt"].as_str().unwrap()).unwrap();
    assert_eq!(
        new_expiry - old_expiry,
        time::Duration::minutes(30),
        "the expiry moved"
    );
    let (new_access, new_refresh) = held_tokens(&env, &id).await;
    assert!(new_access != old_access && new_refresh != old_refresh);
    assert_eq!(
        gitlab_user(&env, &old_access).await,
        Err(401),
        "GitLab killed the old token"
    );
    assert_eq!(gitlab_user(&env, &new_access).await, Ok("alice".to_owned()));
    let credential = env
        .get(
            &format!("/api/v1/credentials/gitlab?connectionId={id}"),
            Some(&env.admin_key),
        )
        .await;
    assert_eq!(credential.json()["credential"], new_access.as_str());
    for secret in [&old_access, &new_access, &old_refresh, &new_refresh] {
        assert!(!text(&refreshed).contains(secret.as_str()));
    }
    let audit = env
        .get(
            "/api/v1/audit-logs?action=app-connection.refresh",
            Some(&env.admin_key),
        )
        .await
        .json();
    assert_eq!(
        audit["auditLogs"][0]["details"]["generation"], 1,
        "the refresh generation moved: {audit}"
    );

    // OAuth connections refresh; they are never rotated.
    env.call("POST", &format!("{BASE}/{id}/rotate"), &env.admin_key, None)
        .await
        .error(409, "Conflict");

    // Access-token connections rotate; they are never refreshed. Naming no instance, this one
    // goes to the default instance (here the simulator).
    let created = env
        .call(
            "POST",
            BASE,
            &env.admin_key,
            Some(json!({
                "name": "ci", "method": "access-token",
                "credentials": {"accessToken": ALICE_TOKEN, "accessTokenType": "personal"},
            })),
        )
        .await;
    assert_eq!(created.status, 200, "{}", text(&created));
    assert_eq!(
        created.json()["appConnection"]["credentials"]["instanceUrl"],
        env.sim().url()
    );
    let token_id = created.json()["appConnection"]["id"].as_str().unwrap().to_owned();
    env.call(
        "POST",
        &format!("{BASE}/{token_id}/refresh"),
        &env.admin_key,
        None,
    )
    .await
    .error(409, "Conflict");
    env.call(
        "POST",
        &format!("{BASE}/not-a-uuid/refresh"),
        &env.admin_key,
        None,
    )
    .await
    .error(422, "ValidationFailure");
    let unknown = uuid::Uuid::now_v7();
    env.call("POST", &format!("{BASE}/{unknown}/refresh"), &env.admin_key, None)
        .await
        .error(404, "NotFound");
    env.call(
        "POST",
        &format!("{BASE}/{id}/refresh"),
        &env.other_admin_key,
        None,
    )
    .await
    .error(404, "NotFound");
    let reader = env.key("acme", labgate_proto::api_keys::Role::Reader).await;
    env.call("POST", &format!("{BASE}/{id}/refresh"), &reader, None)
        .await
        .error(403, "Forbidden");

    // A grant GitLab dropped: the connection needs the user again, and says so.
    env.sim().state().write(|db| {
        for token in db.oauth_tokens.values_mut() {
            token.revoked_at = Some(time::OffsetDateTime::now_utc());
        }
    });
    let body = env
        .call("POST", &format!("{BASE}/{id}/refresh"), &env.admin_key, None)
        .await
        .error(409, "Conflict");
    assert!(body["message"].as_str().unwrap().contains("reconnect"), "{body}");
    let after = env
        .get(&format!("{BASE}/{id}"), Some(&env.admin_key))
        .await
        .json();
    assert_eq!(after["appConnection"]["status"], "needs_reauth");
    env.call("POST", &format!("{BASE}/{id}/refresh"), &env.admin_key, None)
        .await
        .error(409, "Conflict");
}

#[tokio::test]
async fn credentials_are_found_by_the_embedding_applications_tenant_and_user() {
    let env = oauth_env().await;
    let first = env
        .connect_oauth("customer-a", "alice", Some(("t-1", "u-1")))
        .await;
    let second = env.connect_oauth("customer-b", "bob", Some(("t-1", "u-2"))).await;
    assert_ne!(first.id, second.id);
    assert_eq!(second.tenant_id.as_deref(), Some("t-1"));

    for (user, connection, username) in [("u-1", &first, "alice"), ("u-2", &second, "bob")] {
        let reply = env
            .get(
                &format!("/api/v1/credentials/gitlab?tenantId=t-1&userId={user}"),
                Some(&env.admin_key),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", text(&reply));
        assert_eq!(reply.headers["cache-control"], "no-store");
        let body = reply.json();
        assert_eq!(body["connectionId"], connection.id.as_str());
        assert_eq!(body["tokenType"], "oauth");
        assert_eq!(body["instanceUrl"], env.sim().url());
        assert!(
            body["expiresAt"].is_string() && body["useUntil"].is_string(),
            "{body}"
        );
        let token = body["credential"].as_str().unwrap();
        assert_eq!(gitlab_user(&env, token).await, Ok(username.to_owned()));
    }
    env.get(
        "/api/v1/credentials/gitlab?tenantId=t-1&userId=u-3",
        Some(&env.admin_key),
    )
    .await
    .error(404, "NotFound");
    env.get(
        "/api/v1/credentials/gitlab?tenantId=t-1&userId=u-1",
        Some(&env.other_admin_key),
    )
    .await
    .error(404, "NotFound");
    let body = env
        .get("/api/v1/credentials/gitlab?tenantId=t-1", Some(&env.admin_key))
        .await
        .error(400, "BadRequest");
    assert_eq!(body["details"][0]["field"], "userId", "{body}");
}

#[tokio::test]
async fn scopes_outside_gitlabs_list_are_refused_with_details() {
    let env = oauth_env().await;
    for scopes in [json!(["api", "self_rotate"]), json!(["API"]), json!([])] {
        let body = start(&env, json!({"name": "gitlab", "scopes": scopes}), true)
            .await
            .error(422, "ValidationFailure");
        assert_eq!(body["details"][0]["field"], "scopes", "{body}");
    }
    let body = start(
        &env,
        json!({"name": "gitlab", "scopes": ["api"], "tenantId": "t-1"}),
        false,
    )
    .await
    .error(422, "ValidationFailure");
    assert_eq!(body["details"][0]["field"], "userId", "{body}");
    let body = start(
        &env,
        json!({"name": "gitlab", "scopes": ["api"], "returnTo": "http://app.example.com/"}),
        false,
    )
    .await
    .error(422, "ValidationFailure");
    assert_eq!(body["details"][0]["field"], "returnTo", "{body}");
    start(
        &env,
        json!({"name": "gitlab", "scopes": ["api"], "extra": 1}),
        false,
    )
    .await
    .error(422, "ValidationFailure");
    let reader = env.key("acme", labgate_proto::api_keys::Role::Reader).await;
    env.call(
        "POST",
        START,
        &reader,
        Some(json!({"name": "gitlab", "scopes": ["api"]})),
    )
    .await
    .error(403, "Forbidden");
    assert_eq!(connection_count(&env).await, 0);
}

/// Whatever arrives at the callback, the answer is its page (or a redirect), never the API's
/// JSON and never a 5xx.
#[test]
fn random_callback_queries_get_a_page() {
    use proptest::prelude::*;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let env = runtime.block_on(oauth_env());
    let config = ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let pair = (
        prop_oneof![
            Just("state".to_owned()),
            Just("code".to_owned()),
            Just("error".to_owned()),
            Just("error_description".to_owned()),
            "[a-z_%]{0,8}",
        ],
        "[a-zA-Z0-9%+._~-]{0,80}",
    );
    let query = prop::collection::vec(pair, 0..6);
    proptest!(config, |(pairs in query, cookie in prop::option::of("[a-zA-Z0-9_-]{0,50}"))| {
        let query: Vec<String> = pairs.iter().map(|(name, value)| format!("{name}={value}")).collect();
        let uri = format!("{CALLBACK}?{}", query.join("&"));
        let Ok(request) = Request::get(&uri).body(Body::empty()) else { return Ok(()) };
        let mut request = request;
        if let Some(cookie) = &cookie
            && let Ok(value) = format!("{COOKIE}={cookie}").parse()
        {
            request.headers_mut().insert("cookie", value);
        }
        let reply = runtime.block_on(env.send(request));
        prop_assert_eq!(reply.status.as_u16(), 400, "{}", uri);
        prop_assert_eq!(reply.headers["content-type"].to_str().unwrap(), "text/html; charset=utf-8");
        prop_assert_eq!(reply.headers["cache-control"].to_str().unwrap(), "no-store");
    });
}

#[tokio::test]
async fn a_refresh_slower_than_the_wait_answers_202_with_its_job() {
    let env = TestEnv::builder()
        .sim(standard_seed().build())
        .oauth()
        .server_settings(labgate_server::ServerSettings {
            token_change_wait: std::time::Duration::from_millis(100),
            ..labgate_server::ServerSettings::default()
        })
        .build()
        .await;
    let connection = env.connect_oauth("gitlab", "alice", None).await;
    let id = connection.id.clone();
    let (old_access, _) = held_tokens(&env, &id).await;
    env.sim().faults().add(gitlab_sim::FaultRule {
        route: Some("/oauth/token".to_owned()),
        latency_ms: 600,
        ..gitlab_sim::FaultRule::default()
    });
    let accepted = env
        .call("POST", &format!("{BASE}/{id}/refresh"), &env.admin_key, None)
        .await;
    assert_eq!(accepted.status, 202, "{}", text(&accepted));
    let body = accepted.json();
    assert_eq!(body["job"]["kind"], "connection.refresh");
    let location = accepted.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        format!("/api/v1/jobs/{}", body["jobId"].as_str().unwrap())
    );
    labgate_testkit::wait_until(
        std::time::Duration::from_secs(20),
        "the refresh job ends",
        || async {
            let job = env.get(&location, Some(&env.admin_key)).await.json();
            matches!(job["job"]["state"].as_str(), Some("succeeded" | "failed"))
        },
    )
    .await;
    let job = env.get(&location, Some(&env.admin_key)).await.json();
    assert_eq!(job["job"]["state"], "succeeded", "{job}");
    let (new_access, _) = held_tokens(&env, &id).await;
    assert_ne!(new_access, old_access, "the refresh landed");
    assert!(gitlab_user(&env, &new_access).await.is_ok());
    assert!(
        gitlab_user(&env, &old_access).await.is_err(),
        "GitLab killed the old pair"
    );
}
