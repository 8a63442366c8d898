//! The OAuth 2.0 provider: authorize, PKCE, codes, strict refresh rotation, revoke, token info.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::*;
use gitlab_sim::SimServer;
use gitlab_sim::seed::SeedOAuthApp;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-long-enough-verifier";

fn challenge(v: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()))
}

fn authorize_query(state: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", APP_UID)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("state", state)
        .append_pair("scope", "api read_user")
        .append_pair("code_challenge", &challenge(VERIFIER))
        .append_pair("code_challenge_method", "S256")
        .finish()
}

fn query_param(location: &str, name: &str) -> Option<String> {
    let u = url::Url::parse(location).ok()?;
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn code_for(sim: &SimServer, user: &str) -> String {
    let loc =
        gitlab_sim::oauth::authorize(sim.state(), &authorize_query("xyz"), user, true).expect("approved");
    assert_eq!(query_param(&loc, "state").as_deref(), Some("xyz"));
    query_param(&loc, "code").expect("code in redirect")
}

async fn token_call(
    sim: &SimServer,
    form: &[(&str, &str)],
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let r = client()
        .post(format!("{}/oauth/token", sim.url()))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    (status, r.json().await.unwrap_or(Value::Null), headers)
}

async fn exchange(sim: &SimServer, code: &str) -> (StatusCode, Value) {
    let (s, v, _) = token_call(
        sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", APP_UID),
            ("client_secret", APP_SECRET),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    (s, v)
}

async fn refresh(sim: &SimServer, rt: &str, secret: &str) -> (StatusCode, Value) {
    let (s, v, _) = token_call(
        sim,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", APP_UID),
            ("client_secret", secret),
        ],
    )
    .await;
    (s, v)
}

#[tokio::test]
async fn full_flow_with_pkce_and_strict_rotation() {
    let sim = start(standard()).await;
    let code = code_for(&sim, "alice").await;
    let (s, tok) = exchange(&sim, &code).await;
    assert_eq!(s, StatusCode::OK, "{tok}");
    assert_eq!(tok["expires_in"], 7200);
    assert_eq!(tok["token_type"], "bearer");
    assert_eq!(tok["scope"], "api read_user");
    assert!(tok["created_at"].as_i64().unwrap() > 1_600_000_000);
    let access = tok["access_token"].as_str().unwrap().to_owned();
    let rt = tok["refresh_token"].as_str().unwrap().to_owned();

    let me = client()
        .get(format!("{}/api/v4/user", sim.url()))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(me.json::<Value>().await.unwrap()["username"], "alice");

    // The code is single-use.
    let (s, v) = exchange(&sim, &code).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "invalid_grant");

    // Refresh rotates both tokens; the old pair dies at once.
    let (s, t2) = refresh(&sim, &rt, APP_SECRET).await;
    assert_eq!(s, StatusCode::OK);
    assert_ne!(t2["refresh_token"], tok["refresh_token"]);
    let old = client()
        .get(format!("{}/api/v4/user", sim.url()))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        old.json::<Value>().await.unwrap()["error_description"],
        "Token was revoked. You have to re-authorize from the user."
    );

    // The loser of a second refresh with the old token gets invalid_grant.
    let (s, v) = refresh(&sim, &rt, APP_SECRET).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "invalid_grant");
    assert_eq!(v["error_description"], gitlab_sim::oauth::INVALID_GRANT);

    // Wrong client secret.
    let (s, v) = refresh(&sim, t2["refresh_token"].as_str().unwrap(), "gloas-wrong").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"], "invalid_client");
}

#[tokio::test]
async fn concurrent_refreshes_have_exactly_one_winner() {
    let sim = start(standard()).await;
    let code = code_for(&sim, "alice").await;
    let (_, tok) = exchange(&sim, &code).await;
    let rt = tok["refresh_token"].as_str().unwrap().to_owned();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = format!("{}/oauth/token", sim.url());
        let rt = rt.clone();
        tasks.push(tokio::spawn(async move {
            client()
                .post(url)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt.as_str()),
                    ("client_id", APP_UID),
                    ("client_secret", APP_SECRET),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == StatusCode::OK {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn pkce_mismatch_and_code_expiry() {
    let sim = start(standard()).await;
    let code = code_for(&sim, "alice").await;
    let (s, v, h) = token_call(
        &sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", APP_UID),
            ("client_secret", APP_SECRET),
            (
                "code_verifier",
                "wrong-verifier-wrong-verifier-wrong-verifier-000",
            ),
        ],
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert!(
        h.get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Bearer realm=\"Doorkeeper\", error=\"invalid_grant\"")
    );

    let code = code_for(&sim, "alice").await;
    sim.clock().advance(std::time::Duration::from_secs(601));
    let (s, v) = exchange(&sim, &code).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn plain_pkce_refused_by_default() {
    let sim = start(standard()).await;
    let q = authorize_query("s").replace("S256", "plain");
    let loc = gitlab_sim::oauth::authorize(sim.state(), &q, "alice", true).unwrap();
    assert_eq!(query_param(&loc, "error").as_deref(), Some("invalid_request"));
    assert!(query_param(&loc, "code").is_none());
}

#[tokio::test]
async fn access_token_expires_with_the_clock_and_refresh_still_works() {
    let sim = start(standard()).await;
    let code = code_for(&sim, "alice").await;
    let (_, tok) = exchange(&sim, &code).await;
    let access = tok["access_token"].as_str().unwrap();
    sim.clock().advance(std::time::Duration::from_secs(7200));
    let r = client()
        .get(format!("{}/api/v4/user", sim.url()))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error_description"],
        "Token is expired. You can either do re-authorization or token refresh."
    );
    let (s, _) = refresh(&sim, tok["refresh_token"].as_str().unwrap(), APP_SECRET).await;
    assert_eq!(s, StatusCode::OK, "refresh tokens outlive access tokens");
}

#[tokio::test]
async fn custom_ttl_auto_approve_and_browser_redirect() {
    let seed = standard().oauth_app(SeedOAuthApp {
        name: "demo".into(),
        uid: Some("demo-uid".into()),
        secret: Some("gloas-demo".into()),
        redirect_uri: "http://127.0.0.1:9/cb".into(),
        scopes: vec!["api".into()],
        auto_approve_as: Some("bob".into()),
        access_token_ttl: Some(30),
        ..SeedOAuthApp::default()
    });
    let sim = start(seed).await;
    let q = format!(
        "client_id=demo-uid&redirect_uri={}&response_type=code&state=s1&code_challenge={}&code_challenge_method=S256",
        url::form_urlencoded::byte_serialize(b"http://127.0.0.1:9/cb").collect::<String>(),
        challenge(VERIFIER)
    );
    let r = client()
        .get(format!("{}/oauth/authorize?{q}", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.starts_with("http://127.0.0.1:9/cb?code="));
    let code = query_param(&loc, "code").unwrap();
    let (s, tok, _) = token_call(
        &sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
            ("client_id", "demo-uid"),
            ("client_secret", "gloas-demo"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(tok["expires_in"], 30);
    let info = client()
        .get(format!("{}/oauth/token/info", sim.url()))
        .bearer_auth(tok["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(info["application"]["uid"], "demo-uid");
    assert_eq!(info["scope"], serde_json::json!(["api"]));
    assert_eq!(info["resource_owner_id"], sim.state().user_id("bob").unwrap());
    assert!(info["expires_in"].as_i64().unwrap() <= 30);
}

#[tokio::test]
async fn bad_client_and_redirect_are_error_pages_once_signed_in() {
    let sim = start(standard()).await;
    // As GitLab, the browser signs in before the request is looked at: even a request for an
    // unknown client goes to the sign-in page first.
    let q = authorize_query("s").replace(APP_UID, "nope");
    let r = client()
        .get(format!("{}/oauth/authorize?{q}", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("/users/sign_in")
    );

    let session = signed_in_session(&sim, "alice").await;
    let r = client()
        .get(format!("{}/oauth/authorize?{q}", sim.url()))
        .header("cookie", format!("_gitlab_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("location").is_none());
    assert!(r.text().await.unwrap().contains("invalid_client"));
    let q = authorize_query("s").replace("8080", "9999");
    let r = client()
        .get(format!("{}/oauth/authorize?{q}", sim.url()))
        .header("cookie", format!("_gitlab_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
    assert!(r.text().await.unwrap().contains("invalid_redirect_uri"));
    // A request error the client can be told about goes back to it.
    let q = authorize_query("s").replace("response_type=code", "response_type=token");
    let r = client()
        .get(format!("{}/oauth/authorize?{q}", sim.url()))
        .header("cookie", format!("_gitlab_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("unsupported_response_type")
    );
}

/// Signs a browser in as `user` through the sign-in page; answers its session cookie value.
async fn signed_in_session(sim: &SimServer, user: &str) -> String {
    let cookie_of = |r: &reqwest::Response| {
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .strip_prefix("_gitlab_session=")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    };
    let page = client()
        .get(format!("{}/users/sign_in", sim.url()))
        .send()
        .await
        .unwrap();
    let cookie = cookie_of(&page);
    let html = page.text().await.unwrap();
    let token = html
        .split("name=\"authenticity_token\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let r = client()
        .post(format!("{}/users/sign_in", sim.url()))
        .header("cookie", format!("_gitlab_session={cookie}"))
        .form(&[("authenticity_token", token.as_str()), ("user[login]", user)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    cookie_of(&r)
}

#[tokio::test]
async fn revoke_and_renewed_secret() {
    let sim = start(standard()).await;
    let code = code_for(&sim, "alice").await;
    let (_, tok) = exchange(&sim, &code).await;
    let r = client()
        .post(format!("{}/oauth/revoke", sim.url()))
        .form(&[
            ("client_id", APP_UID),
            ("client_secret", APP_SECRET),
            ("token", tok["access_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), serde_json::json!({}));
    let info = client()
        .get(format!("{}/oauth/token/info", sim.url()))
        .bearer_auth(tok["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), StatusCode::UNAUTHORIZED);
    let (s, v) = refresh(&sim, tok["refresh_token"].as_str().unwrap(), APP_SECRET).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    let code = code_for(&sim, "alice").await;
    let (_, tok) = exchange(&sim, &code).await;
    let new_secret = sim.state().renew_oauth_secret(APP_UID).unwrap();
    let (s, v) = refresh(&sim, tok["refresh_token"].as_str().unwrap(), APP_SECRET).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (s, _) = refresh(&sim, tok["refresh_token"].as_str().unwrap(), &new_secret).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn oauth_token_on_pat_self_is_400() {
    let sim = start(standard()).await;
    let code = code_for(&sim, "alice").await;
    let (_, tok) = exchange(&sim, &code).await;
    let r = client()
        .get(format!("{}/api/v4/personal_access_tokens/self", sim.url()))
        .bearer_auth(tok["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
