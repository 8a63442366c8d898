//! Personal, project and group access tokens, rotation and bot users.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn self_reports_the_token_without_secret() {
    let sim = start(standard()).await;
    let r = get(&sim, "/api/v4/personal_access_tokens/self", Some(ALICE_READ)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["name"], "ro");
    assert_eq!(r.body["scopes"], json!(["read_api"]));
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["revoked"], false);
    assert!(r.body.get("token").is_none());
    let created = r.body["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 24, "{created}");
}

#[tokio::test]
async fn self_accepts_any_scope_but_not_oauth() {
    let sim = start(standard()).await;
    let t = sim
        .state()
        .create_personal_access_token("alice", "k8s", &["k8s_proxy"], None)
        .unwrap();
    assert_eq!(
        get(&sim, "/api/v4/personal_access_tokens/self", Some(&t))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn delete_self_revokes() {
    let sim = start(standard()).await;
    assert_eq!(
        delete(&sim, "/api/v4/personal_access_tokens/self", Some(BOB_TOKEN))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let r = get(&sim, "/api/v4/user", Some(BOB_TOKEN)).await;
    assert_eq!(
        r.body["error_description"],
        "Token was revoked. You have to re-authorize from the user."
    );
}

#[tokio::test]
async fn rotate_self_revokes_old_and_reuse_revokes_family() {
    let sim = start(standard()).await;
    let r = post(
        &sim,
        "/api/v4/personal_access_tokens/self/rotate",
        Some(ALICE_TOKEN),
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let new = r.body["token"].as_str().unwrap().to_owned();
    assert!(new.starts_with("glpat-"));
    let old_id = sim.state().token(ALICE_TOKEN).unwrap().id;
    assert_ne!(r.body["id"].as_u64().unwrap(), old_id, "rotation yields a new id");
    let week = sim.clock().today().checked_add(time::Duration::days(7)).unwrap();
    assert_eq!(r.body["expires_at"], gitlab_sim::clock::fmt_date(week));
    assert_eq!(get(&sim, "/api/v4/user", Some(&new)).await.status, StatusCode::OK);
    assert_eq!(
        get(&sim, "/api/v4/user", Some(ALICE_TOKEN)).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Presenting the revoked token to a rotation endpoint again is reuse: the family dies.
    let r = post(
        &sim,
        "/api/v4/personal_access_tokens/self/rotate",
        Some(ALICE_TOKEN),
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = get(&sim, "/api/v4/user", Some(&new)).await;
    assert_eq!(
        r.body["error_description"],
        "Token was revoked. You have to re-authorize from the user."
    );
}

#[tokio::test]
async fn rotate_by_id_and_rotate_revoked_by_id() {
    let sim = start(standard()).await;
    let t = sim
        .state()
        .create_personal_access_token("alice", "second", &["api"], None)
        .unwrap();
    let id = sim.state().token(&t).unwrap().id;
    let r = post(
        &sim,
        &format!("/api/v4/personal_access_tokens/{id}/rotate"),
        Some(ALICE_TOKEN),
        json!({"expires_at": "2099-01-01"}),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "more than a year ahead is refused: {:?}",
        r.body
    );
    let r = post(
        &sim,
        &format!("/api/v4/personal_access_tokens/{id}/rotate"),
        Some(ALICE_TOKEN),
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let newer = r.body["token"].as_str().unwrap().to_owned();
    let r = post(
        &sim,
        &format!("/api/v4/personal_access_tokens/{id}/rotate"),
        Some(ALICE_TOKEN),
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        sim.state().token(&newer).unwrap().revoked,
        "rotating a revoked token revokes its family"
    );
}

#[tokio::test]
async fn pat_routes_refuse_other_users_and_resource_tokens() {
    let sim = start(standard()).await;
    let alice_id = sim.state().token(ALICE_TOKEN).unwrap().id;
    let r = get(
        &sim,
        &format!("/api/v4/personal_access_tokens/{alice_id}"),
        Some(BOB_TOKEN),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(
            &sim,
            &format!("/api/v4/personal_access_tokens/{alice_id}"),
            Some(ROOT_TOKEN)
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        get(&sim, "/api/v4/personal_access_tokens/999999", Some(ROOT_TOKEN))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let deploy_id = sim.state().token(DEPLOY_TOKEN).unwrap().id;
    let r = post(
        &sim,
        &format!("/api/v4/personal_access_tokens/{deploy_id}/rotate"),
        Some(ROOT_TOKEN),
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn list_filters_by_user_for_admins_only() {
    let sim = start(standard()).await;
    let alice = sim.state().user_id("alice").unwrap();
    let r = get(
        &sim,
        &format!("/api/v4/personal_access_tokens?user_id={alice}"),
        Some(ROOT_TOKEN),
    )
    .await;
    assert_eq!(r.body.as_array().unwrap().len(), 2);
    let bob_list = get(&sim, "/api/v4/personal_access_tokens", Some(BOB_TOKEN)).await;
    assert_eq!(bob_list.body.as_array().unwrap().len(), 1);
    let r = get(
        &sim,
        &format!("/api/v4/personal_access_tokens?user_id={alice}"),
        Some(BOB_TOKEN),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = get(
        &sim,
        "/api/v4/personal_access_tokens?search=ro&state=active",
        Some(ALICE_TOKEN),
    )
    .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn project_token_lifecycle_with_bot_user() {
    let sim = start(standard()).await;
    let r = post(
        &sim,
        "/api/v4/projects/acme%2Fplatform%2Fapi/access_tokens",
        Some(ALICE_TOKEN),
        json!({"name": "sync", "scopes": ["api"], "access_level": 30, "expires_at": "2030-01-01"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["access_level"], 30);
    assert_eq!(r.body["resource_type"], "project");
    let secret = r.body["token"].as_str().unwrap().to_owned();
    let tid = r.body["id"].as_u64().unwrap();

    let me = get(&sim, "/api/v4/user", Some(&secret)).await;
    assert_eq!(me.body["bot"], true);
    assert_eq!(me.body["name"], "sync");
    let username = me.body["username"].as_str().unwrap();
    assert!(username.starts_with("project_1_bot_"), "{username}");
    assert!(me.body["email"].as_str().unwrap().contains("@noreply."));

    let members = get(&sim, "/api/v4/projects/1/members", Some(ALICE_TOKEN)).await;
    assert!(
        members
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["username"] == username && m["access_level"] == 30)
    );

    let list = get(&sim, "/api/v4/projects/1/access_tokens", Some(ALICE_TOKEN)).await;
    assert_eq!(list.body.as_array().unwrap().len(), 2);
    assert!(list.body[0].get("token").is_none());
    let one = get(
        &sim,
        &format!("/api/v4/projects/1/access_tokens/{tid}"),
        Some(ALICE_TOKEN),
    )
    .await;
    assert_eq!(one.body["name"], "sync");

    let rotated = post(
        &sim,
        &format!("/api/v4/projects/1/access_tokens/{tid}/rotate"),
        Some(ALICE_TOKEN),
        json!({}),
    )
    .await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert_eq!(rotated.body["access_level"], 30);
    let new_secret = rotated.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        get(&sim, "/api/v4/user", Some(&secret)).await.status,
        StatusCode::UNAUTHORIZED
    );

    let self_rotated = post(
        &sim,
        "/api/v4/projects/1/access_tokens/self/rotate",
        Some(&new_secret),
        json!({}),
    )
    .await;
    assert_eq!(self_rotated.status, StatusCode::OK);
    let new_id = self_rotated.body["id"].as_u64().unwrap();
    assert_eq!(
        delete(
            &sim,
            &format!("/api/v4/projects/1/access_tokens/{new_id}"),
            Some(ALICE_TOKEN)
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        delete(&sim, "/api/v4/projects/1/access_tokens/424242", Some(ALICE_TOKEN))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn resource_token_rules() {
    let sim = start(standard()).await;
    // A project token cannot create tokens.
    let r = post(
        &sim,
        "/api/v4/projects/1/access_tokens",
        Some(DEPLOY_TOKEN),
        json!({"name": "x", "scopes": ["api"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Nor rotate another token by id.
    let r = post(
        &sim,
        "/api/v4/projects/1/access_tokens/1/rotate",
        Some(DEPLOY_TOKEN),
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Missing parameters and bad values.
    let r = post(
        &sim,
        "/api/v4/projects/1/access_tokens",
        Some(ALICE_TOKEN),
        json!({}),
    )
    .await;
    assert_eq!(r.body, json!({"error": "name is missing, scopes is missing"}));
    let r = post(
        &sim,
        "/api/v4/projects/1/access_tokens",
        Some(ALICE_TOKEN),
        json!({"name": "x", "scopes": ["api"], "access_level": 60}),
    )
    .await;
    assert_eq!(
        r.body,
        json!({"error": "access_level does not have a valid value"})
    );
    // A Developer may not manage tokens; default access level is 40 and expiry is a year.
    let r = get(&sim, "/api/v4/projects/1/access_tokens", Some(BOB_TOKEN)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post(
        &sim,
        "/api/v4/groups/acme/access_tokens",
        Some(ROOT_TOKEN),
        json!({"name": "g", "scopes": ["read_api"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["access_level"], 40);
    assert_eq!(r.body["resource_type"], "group");
    let bot = get(&sim, "/api/v4/user", Some(r.body["token"].as_str().unwrap())).await;
    assert!(bot.body["username"].as_str().unwrap().starts_with("group_"));
}

#[tokio::test]
async fn admins_create_personal_tokens_for_users() {
    let sim = start(standard()).await;
    let dave = sim.state().user_id("dave").unwrap();
    let path = format!("/api/v4/users/{dave}/personal_access_tokens");
    let r = post(
        &sim,
        &path,
        Some(ROOT_TOKEN),
        json!({"name": "made", "scopes": ["read_api"], "expires_at": "2099-01-01"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["user_id"], dave);
    let secret = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        get(&sim, "/api/v4/user", Some(&secret)).await.body["username"],
        "dave"
    );
    if let Some(fx) = crate::fidelity::fixture("post_user_personal_access_tokens.json") {
        crate::fidelity::assert_same_shape(&fx, &r.body, "create pat");
    }
    assert_eq!(
        post(
            &sim,
            &path,
            Some(ALICE_TOKEN),
            json!({"name": "x", "scopes": ["api"]})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let r = post(
        &sim,
        &path,
        Some(ROOT_TOKEN),
        json!({"name": "x", "scopes": ["everything"]}),
    )
    .await;
    assert_eq!(r.body, json!({"error": "scopes does not have a valid value"}));
}

#[tokio::test]
async fn an_older_gitlab_has_no_self_endpoint() {
    let sim = start(standard().version("15.4.0")).await;
    let version = get(&sim, "/api/v4/version", Some(ALICE_TOKEN)).await;
    assert_eq!(version.body["version"], "15.4.0");
    // The catch-all answers before authentication: a valid, an unknown and no token alike.
    for token in [Some(ALICE_TOKEN), Some("glpat-doesNotExist000000"), None] {
        let r = get(&sim, "/api/v4/personal_access_tokens/self", token).await;
        assert_eq!(
            (r.status, r.body),
            (StatusCode::NOT_FOUND, json!({"error": "404 Not Found"})),
            "{token:?}"
        );
    }
    // The rest of the API is there, and so is the same route from 15.5 on.
    assert_eq!(
        get(&sim, "/api/v4/user", Some(ALICE_TOKEN)).await.body["username"],
        "alice"
    );
    let newer = start(standard().version("15.5.0-ee")).await;
    let r = get(&newer, "/api/v4/personal_access_tokens/self", Some(ALICE_TOKEN)).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_api_routes_get_the_catch_all_body() {
    let sim = start(standard()).await;
    let r = get(&sim, "/api/v4/no_such_route", Some(ALICE_TOKEN)).await;
    assert_eq!(
        (r.status, r.body),
        (StatusCode::NOT_FOUND, json!({"error": "404 Not Found"}))
    );
}
