//! Authentication and the token error families.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn no_credentials_is_401_message() {
    let sim = start(standard()).await;
    let r = get(&sim, "/api/v4/user", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body, json!({ "message": "401 Unauthorized" }));
}

#[tokio::test]
async fn unknown_token_is_401_message() {
    let sim = start(standard()).await;
    let r = get(&sim, "/api/v4/user", Some("glpat-doesnotexist000000")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body, json!({ "message": "401 Unauthorized" }));
}

#[tokio::test]
async fn expired_and_revoked_tokens_get_invalid_token() {
    let sim = start(standard()).await;
    let today = sim.clock().today();
    assert!(sim.state().set_token_expiry(ALICE_TOKEN, Some(today)));
    let r = get(&sim, "/api/v4/user", Some(ALICE_TOKEN)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["error"], "invalid_token");
    assert_eq!(
        r.body["error_description"],
        "Token is expired. You can either do re-authorization or token refresh."
    );
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .starts_with("Bearer realm=\"The API\"")
    );

    assert!(sim.state().revoke_token(BOB_TOKEN));
    let r = get(&sim, "/api/v4/user", Some(BOB_TOKEN)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.body["error_description"],
        "Token was revoked. You have to re-authorize from the user."
    );
}

#[tokio::test]
async fn expiry_follows_the_simulated_clock() {
    let sim = start(standard()).await;
    let tomorrow = sim.clock().today().next_day().unwrap();
    let token = sim
        .state()
        .create_personal_access_token("alice", "short", &["api"], Some(tomorrow))
        .unwrap();
    assert_eq!(
        get(&sim, "/api/v4/user", Some(&token)).await.status,
        StatusCode::OK
    );
    sim.clock().advance(std::time::Duration::from_secs(2 * 86_400));
    let r = get(&sim, "/api/v4/user", Some(&token)).await;
    assert_eq!(
        r.body["error_description"],
        "Token is expired. You can either do re-authorization or token refresh."
    );
}

#[tokio::test]
async fn insufficient_scope_is_403_naming_the_scopes_without_www_authenticate() {
    let sim = start(standard()).await;
    let r = post(
        &sim,
        "/api/v4/projects/acme%2Fplatform%2Fapi/variables",
        Some(ALICE_READ),
        json!({"key": "A", "value": "b"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["error"], "insufficient_scope");
    assert_eq!(
        r.body["error_description"],
        "The request requires higher privileges than provided by the access token."
    );
    assert_eq!(r.body["scope"], "api");
    assert!(r.header("www-authenticate").is_none());
}

#[tokio::test]
async fn scope_is_checked_before_role() {
    let sim = start(standard()).await;
    // dave is no member at all, yet a read-only token is refused for its scope first.
    let ro = sim
        .state()
        .create_personal_access_token("dave", "ro", &["read_user"], None)
        .unwrap();
    let r = get(&sim, "/api/v4/projects/1/variables", Some(&ro)).await;
    assert_eq!(r.body["error"], "insufficient_scope");
    let full = sim
        .state()
        .create_personal_access_token("bob", "full", &["api"], None)
        .unwrap();
    let r = get(&sim, "/api/v4/projects/1/variables", Some(&full)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.body,
        json!({ "message": "403 Forbidden" }),
        "bob is a Developer; variables need Maintainer"
    );
}

#[tokio::test]
async fn bearer_basic_and_query_tokens_work() {
    let sim = start(standard()).await;
    let c = client();
    let r = c
        .get(format!("{}/api/v4/user", sim.url()))
        .bearer_auth(ALICE_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c
        .get(format!("{}/api/v4/user", sim.url()))
        .basic_auth("anything", Some(ALICE_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c
        .get(format!("{}/api/v4/user?private_token={ALICE_TOKEN}", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["username"], "alice");
}

#[tokio::test]
async fn blocked_user_is_forbidden() {
    let sim = start(standard()).await;
    sim.state()
        .set_user_state("alice", gitlab_sim::UserState::Blocked);
    let r = get(&sim, "/api/v4/user", Some(ALICE_TOKEN)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.body,
        json!({ "message": "403 Forbidden - Your account has been blocked." })
    );
}

#[tokio::test]
async fn grape_parameter_errors_use_the_error_family() {
    let sim = start(standard()).await;
    let r = post(&sim, "/api/v4/projects/1/variables", Some(ALICE_TOKEN), json!({})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body, json!({ "error": "key is missing, value is missing" }));
}

#[tokio::test]
async fn version_and_metadata() {
    let sim = start(standard()).await;
    let r = get(&sim, "/api/v4/version", Some(ALICE_READ)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["version"].as_str().unwrap().ends_with("-ee"));
    let r = get(&sim, "/api/v4/metadata", Some(ALICE_TOKEN)).await;
    assert_eq!(r.body["enterprise"], true);
    assert_eq!(r.body["kas"]["enabled"], false);
    assert_eq!(
        get(&sim, "/api/v4/version", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}
