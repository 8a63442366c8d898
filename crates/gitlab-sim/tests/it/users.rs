//! Users: views, creation, moderation, deletion and modes.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;
use gitlab_sim::Mode;

#[tokio::test]
async fn admin_and_non_admin_views() {
    let sim = start(standard()).await;
    let admin = get(&sim, "/api/v4/users?username=alice", Some(ROOT_TOKEN)).await;
    assert_eq!(admin.body[0]["email"], "alice@example.com");
    assert_eq!(admin.body[0]["is_admin"], false);
    assert!(admin.body[0].get("last_activity_on").is_some());
    let plain = get(&sim, "/api/v4/users?username=alice", Some(BOB_TOKEN)).await;
    let keys: Vec<&String> = plain.body[0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 7, "UserBasic only: {keys:?}");
    assert!(plain.body[0].get("email").is_none());
    let me = get(&sim, "/api/v4/user", Some(ROOT_TOKEN)).await;
    assert_eq!(me.body["is_admin"], true);
    let me = get(&sim, "/api/v4/user", Some(ALICE_TOKEN)).await;
    assert!(me.body.get("is_admin").is_none());
    assert_eq!(me.body["bot"], false);
    assert_eq!(me.body["bio"], "");
}

#[tokio::test]
async fn filters() {
    let sim = start(standard()).await;
    let humans = get(&sim, "/api/v4/users?humans=true&per_page=100", Some(ROOT_TOKEN)).await;
    assert!(humans.body.as_array().unwrap().iter().all(|u| u["bot"] == false));
    let all = get(&sim, "/api/v4/users?per_page=100", Some(ROOT_TOKEN)).await;
    assert_eq!(
        all.body.as_array().unwrap().len(),
        humans.body.as_array().unwrap().len() + 1
    );
    let no_bots = get(
        &sim,
        "/api/v4/users?without_project_bots=true&per_page=100",
        Some(ROOT_TOKEN),
    )
    .await;
    assert_eq!(
        no_bots.body.as_array().unwrap().len(),
        humans.body.as_array().unwrap().len()
    );
    let s = get(&sim, "/api/v4/users?search=car", Some(BOB_TOKEN)).await;
    assert_eq!(s.body.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn create_user_is_admin_only_and_refused_on_gitlab_com() {
    let sim = start(standard()).await;
    let body = json!({"email": "eve@example.com", "name": "Eve", "username": "eve", "reset_password": true});
    let r = post(&sim, "/api/v4/users", Some(ALICE_TOKEN), body.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post(&sim, "/api/v4/users", Some(ROOT_TOKEN), body.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["username"], "eve");
    assert_eq!(r.body["is_admin"], false);
    let r = post(
        &sim,
        "/api/v4/users",
        Some(ROOT_TOKEN),
        json!({"email": "eve@example.com", "name": "E2", "username": "eve2", "reset_password": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body, json!({"message": "Email has already been taken"}));
    let r = post(
        &sim,
        "/api/v4/users",
        Some(ROOT_TOKEN),
        json!({"email": "x@example.com", "name": "X", "username": "x"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    sim.state().set_mode(Mode::GitLabCom);
    let r = post(
        &sim,
        "/api/v4/users",
        Some(ROOT_TOKEN),
        json!({"email": "f@example.com", "name": "F", "username": "f", "reset_password": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let me = get(&sim, "/api/v4/user", Some(ROOT_TOKEN)).await;
    assert!(me.body.get("is_admin").is_none(), "no admin views on gitlab.com");
    let list = get(&sim, "/api/v4/users?username=alice", Some(ROOT_TOKEN)).await;
    assert!(list.body[0].get("email").is_none());
}

#[tokio::test]
async fn moderation_and_delete() {
    let sim = start(standard()).await;
    let dave = sim.state().user_id("dave").unwrap();
    let r = post(
        &sim,
        &format!("/api/v4/users/{dave}/block"),
        Some(ROOT_TOKEN),
        json!({}),
    )
    .await;
    assert_eq!((r.status, r.body.clone()), (StatusCode::CREATED, json!(true)));
    let r = post(
        &sim,
        &format!("/api/v4/users/{dave}/deactivate"),
        Some(ROOT_TOKEN),
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.body,
        json!({"message": "403 Forbidden - A blocked user cannot be deactivated by the API"})
    );
    assert_eq!(
        post(
            &sim,
            &format!("/api/v4/users/{dave}/unblock"),
            Some(ROOT_TOKEN),
            json!({})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    assert_eq!(
        post(
            &sim,
            &format!("/api/v4/users/{dave}/deactivate"),
            Some(ROOT_TOKEN),
            json!({})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    let u = get(&sim, &format!("/api/v4/users/{dave}"), Some(ROOT_TOKEN)).await;
    assert_eq!(u.body["state"], "deactivated");
    assert_eq!(
        post(
            &sim,
            &format!("/api/v4/users/{dave}/activate"),
            Some(ROOT_TOKEN),
            json!({})
        )
        .await
        .status,
        StatusCode::CREATED
    );
    // alice used the API just now, so she is not dormant.
    get(&sim, "/api/v4/user", Some(ALICE_TOKEN)).await;
    let alice = sim.state().user_id("alice").unwrap();
    let r = post(
        &sim,
        &format!("/api/v4/users/{alice}/deactivate"),
        Some(ROOT_TOKEN),
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        post(
            &sim,
            &format!("/api/v4/users/{dave}/block"),
            Some(BOB_TOKEN),
            json!({})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        delete(&sim, &format!("/api/v4/users/{dave}"), Some(ROOT_TOKEN))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        get(&sim, &format!("/api/v4/users/{dave}"), Some(ROOT_TOKEN))
            .await
            .body,
        json!({"message": "404 User Not Found"})
    );
}

#[tokio::test]
async fn memberships_are_direct_only() {
    let sim = start(standard()).await;
    let bob = sim.state().user_id("bob").unwrap();
    let r = get(
        &sim,
        &format!("/api/v4/users/{bob}/memberships"),
        Some(ROOT_TOKEN),
    )
    .await;
    assert_eq!(
        r.body,
        json!([{"source_id": 1, "source_name": "API", "source_type": "Project", "access_level": 30}])
    );
    assert_eq!(
        get(&sim, &format!("/api/v4/users/{bob}/memberships"), Some(BOB_TOKEN))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn service_accounts_are_listed_for_admins() {
    let sim = start(standard().user_full(gitlab_sim::seed::SeedUser {
        username: "svc".into(),
        name: "Service".into(),
        email: "svc@example.com".into(),
        service_account: true,
        ..Default::default()
    }))
    .await;
    let r = get(&sim, "/api/v4/service_accounts", Some(ROOT_TOKEN)).await;
    assert_eq!(
        r.body,
        json!([{"id": sim.state().user_id("svc").unwrap(), "username": "svc", "name": "Service", "email": "svc@example.com"}])
    );
    assert_eq!(
        get(&sim, "/api/v4/service_accounts", Some(ALICE_TOKEN))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    if let Some(fx) = crate::fidelity::fixture("get_serviceaccounts.json") {
        crate::fidelity::assert_same_shape(&fx, &r.body, "service_accounts");
    }
}

#[tokio::test]
async fn activities_are_admin_only_filtered_by_date_and_oldest_first() {
    let today = time::OffsetDateTime::now_utc().date();
    let recent = |days: i64| gitlab_sim::clock::fmt_date(today - time::Duration::days(days));
    let active = |name: &str, on: Option<String>| gitlab_sim::seed::SeedUser {
        username: name.into(),
        name: name.into(),
        email: format!("{name}@example.com"),
        last_activity_on: on,
        ..gitlab_sim::seed::SeedUser::default()
    };
    let sim = start(
        standard()
            .user_full(active("fresh", Some(recent(1))))
            .user_full(active("older", Some(recent(30))))
            .user_full(active("ancient", Some("2001-02-03".into())))
            .user_full(active("never", None)),
    )
    .await;
    let r = get(&sim, "/api/v4/user/activities", Some(ALICE_TOKEN)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = get(&sim, "/api/v4/user/activities?per_page=100", Some(ROOT_TOKEN)).await;
    assert_eq!(r.status, StatusCode::OK);
    let names: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["username"].as_str().unwrap())
        .collect();
    let older = names.iter().position(|n| *n == "older").unwrap();
    let fresh = names.iter().position(|n| *n == "fresh").unwrap();
    assert!(older < fresh, "oldest activity first: {names:?}");
    assert!(
        !names.contains(&"ancient"),
        "six months back by default: {names:?}"
    );
    assert!(!names.contains(&"never"));
    assert_eq!(r.body[fresh]["last_activity_on"], recent(1).as_str());
    let all = get(
        &sim,
        "/api/v4/user/activities?from=2000-01-01&per_page=1",
        Some(ROOT_TOKEN),
    )
    .await;
    assert_eq!(all.body[0]["username"], "ancient");
    assert_eq!(all.body.as_array().unwrap().len(), 1);
    assert!(all.headers.get("x-next-page").is_some_and(|v| v == "2"));
    let bad = get(&sim, "/api/v4/user/activities?from=yesterday", Some(ROOT_TOKEN)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn new_accounts_wait_for_confirmation_unless_skipped_and_passwords_have_a_minimum() {
    let sim = start(standard()).await;
    let r = post(
        &sim,
        "/api/v4/users",
        Some(ROOT_TOKEN),
        json!({"email": "gus@example.com", "name": "Gus", "username": "gus", "reset_password": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.body["confirmed_at"].is_null(), "{}", r.body);
    let r = post(
        &sim,
        "/api/v4/users",
        Some(ROOT_TOKEN),
        json!({"email": "hal@example.com", "name": "Hal", "username": "hal",
            "password": "correct-horse-battery", "skip_confirmation": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.body["confirmed_at"].is_string(), "{}", r.body);
    let r = post(
        &sim,
        "/api/v4/users",
        Some(ROOT_TOKEN),
        json!({"email": "ivy@example.com", "name": "Ivy", "username": "ivy", "password": "short"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body,
        json!({"message": {"password": ["is too short (minimum is 8 characters)"]}})
    );
}
