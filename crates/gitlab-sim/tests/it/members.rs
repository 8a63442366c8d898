//! Members, inheritance, shared groups, invitations and billable members.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;

fn usernames(v: &serde_json::Value) -> Vec<(String, u64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["username"].as_str().unwrap().to_owned(),
                m["access_level"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn direct_and_all_members_with_inheritance_and_shares() {
    let sim = start(standard()).await;
    let direct = get(&sim, "/api/v4/projects/1/members", Some(BOB_TOKEN)).await;
    let d = usernames(&direct.body);
    assert!(d.contains(&("bob".into(), 30)));
    assert!(!d.iter().any(|(u, _)| u == "alice"));
    let all = get(&sim, "/api/v4/projects/1/members/all", Some(BOB_TOKEN)).await;
    let a = usernames(&all.body);
    assert!(a.contains(&("alice".into(), 40)), "inherited from acme");
    assert!(
        a.contains(&("carol".into(), 20)),
        "invited group, capped by the share"
    );
    assert!(a.contains(&("bob".into(), 30)));
    assert_eq!(all.header("x-total"), Some(a.len().to_string().as_str()));
    let one = get(
        &sim,
        &format!(
            "/api/v4/projects/1/members/all/{}",
            sim.state().user_id("alice").unwrap()
        ),
        Some(BOB_TOKEN),
    )
    .await;
    assert_eq!(one.body["access_level"], 40);
    let r = get(&sim, "/api/v4/projects/1/members?query=bob", Some(BOB_TOKEN)).await;
    assert_eq!(usernames(&r.body), vec![("bob".to_owned(), 30)]);
}

#[tokio::test]
async fn add_existing_lower_than_inherited_and_remove_inherited() {
    let sim = start(standard()).await;
    let dave = sim.state().user_id("dave").unwrap();
    let alice = sim.state().user_id("alice").unwrap();
    let bob = sim.state().user_id("bob").unwrap();
    let r = post(
        &sim,
        "/api/v4/projects/1/members",
        Some(ALICE_TOKEN),
        json!({"user_id": dave, "access_level": 30, "expires_at": "2099-12-31"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["expires_at"], "2099-12-31");
    let r = post(
        &sim,
        "/api/v4/projects/1/members",
        Some(ALICE_TOKEN),
        json!({"user_id": dave, "access_level": 30}),
    )
    .await;
    assert_eq!(
        (r.status, r.body),
        (StatusCode::CONFLICT, json!({"message": "Member already exists"}))
    );
    let r = post(
        &sim,
        "/api/v4/groups/acme%2Fplatform/members",
        Some(ROOT_TOKEN),
        json!({"user_id": alice, "access_level": 30}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let msg = r.body["message"]["access_level"][0].as_str().unwrap();
    assert!(
        msg.contains("should be greater than or equal to Maintainer inherited membership from group Acme"),
        "{msg}"
    );
    let r = delete(
        &sim,
        &format!("/api/v4/projects/1/members/{alice}"),
        Some(ROOT_TOKEN),
    )
    .await;
    assert_eq!(
        (r.status, r.body),
        (StatusCode::NOT_FOUND, json!({"message": "404 Member Not Found"}))
    );
    // A Developer cannot manage members.
    let r = post(
        &sim,
        "/api/v4/projects/1/members",
        Some(BOB_TOKEN),
        json!({"user_id": alice, "access_level": 10}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = put(
        &sim,
        &format!("/api/v4/projects/1/members/{bob}"),
        Some(ALICE_TOKEN),
        json!({"access_level": 40}),
    )
    .await;
    assert_eq!(r.body["access_level"], 40);
    assert_eq!(
        delete(
            &sim,
            &format!("/api/v4/projects/1/members/{bob}"),
            Some(ALICE_TOKEN)
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    // Minimal access only on top-level groups.
    let r = post(
        &sim,
        "/api/v4/projects/1/members",
        Some(ALICE_TOKEN),
        json!({"user_id": sim.state().user_id("carol").unwrap(), "access_level": 5}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn invitations_report_partial_failure_with_201() {
    let sim = start(standard()).await;
    let r = post(
        &sim,
        "/api/v4/groups/acme/invitations",
        Some(ROOT_TOKEN),
        json!({"email": "new@example.com", "access_level": 30}),
    )
    .await;
    assert_eq!(
        (r.status, r.body),
        (StatusCode::CREATED, json!({"status": "success"}))
    );
    let r = post(
        &sim,
        "/api/v4/groups/acme/invitations",
        Some(ROOT_TOKEN),
        json!({"email": "new@example.com,alice@example.com", "access_level": 30}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["status"], "error");
    assert_eq!(
        r.body["message"]["new@example.com"],
        "Invite email has already been taken"
    );
    assert_eq!(
        r.body["message"]["alice@example.com"],
        "User already exists in source"
    );
    let list = get(&sim, "/api/v4/groups/acme/invitations", Some(ROOT_TOKEN)).await;
    assert_eq!(list.body[0]["invite_email"], "new@example.com");
    assert_eq!(list.body[0]["access_level"], 30);
    let r = put(
        &sim,
        "/api/v4/groups/acme/invitations/new@example.com",
        Some(ROOT_TOKEN),
        json!({"access_level": 40}),
    )
    .await;
    assert_eq!(r.body["access_level"], 40);
    assert_eq!(
        delete(
            &sim,
            "/api/v4/groups/acme/invitations/new@example.com",
            Some(ROOT_TOKEN)
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        delete(
            &sim,
            "/api/v4/groups/acme/invitations/new@example.com",
            Some(ROOT_TOKEN)
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn billable_members_and_hierarchy_removal() {
    let sim = start(
        standard()
            .member("acme/platform", "dave", 20)
            .member("acme/website", "dave", 30),
    )
    .await;
    let r = get(&sim, "/api/v4/groups/acme/billable_members", Some(ROOT_TOKEN)).await;
    let names: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["username"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"alice") && names.contains(&"bob") && names.contains(&"dave"));
    assert!(
        !names.iter().any(|n| n.contains("_bot_")),
        "bots are not billable"
    );
    let dave = sim.state().user_id("dave").unwrap();
    let m = get(
        &sim,
        &format!("/api/v4/groups/acme/billable_members/{dave}/memberships"),
        Some(ROOT_TOKEN),
    )
    .await;
    assert_eq!(m.body.as_array().unwrap().len(), 2);
    assert!(
        m.body
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["access_level"] == json!({"string_value": "Developer", "integer_value": 30}))
    );
    assert_eq!(
        delete(
            &sim,
            &format!("/api/v4/groups/acme/billable_members/{dave}"),
            Some(ROOT_TOKEN)
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(sim.state().access_level("acme/website", "dave"), Some(0));
    assert_eq!(sim.state().access_level("acme/platform", "dave"), Some(0));
    assert_eq!(
        get(
            &sim,
            "/api/v4/groups/acme%2Fplatform/billable_members",
            Some(ROOT_TOKEN)
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn custom_roles_show_on_direct_and_inherited_members_only_where_assigned() {
    let sim = start(
        standard()
            .member_role(Some("acme"), "Auditor", 20)
            .member_with_role("acme", "bob", 20, "Auditor"),
    )
    .await;
    let direct = get(&sim, "/api/v4/groups/acme/members", Some(ALICE_TOKEN)).await;
    let bob = direct
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["username"] == "bob")
        .unwrap()
        .clone();
    assert_eq!(bob["access_level"], 20);
    assert_eq!(
        bob["member_role"]["group_id"],
        sim.state().group_id("acme").unwrap()
    );
    let alice = direct
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["username"] == "alice")
        .unwrap()
        .clone();
    assert!(alice["member_role"].is_null());
    // bob's own membership of the api project carries no custom role.
    let api = get(
        &sim,
        "/api/v4/projects/acme%2Fplatform%2Fapi/members",
        Some(ALICE_TOKEN),
    )
    .await;
    let bob_api = api
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["username"] == "bob")
        .unwrap()
        .clone();
    assert!(bob_api["member_role"].is_null());
}

#[test]
fn seeds_refuse_unknown_roles_mismatched_levels_and_subgroup_roles() {
    let now = time::OffsetDateTime::now_utc();
    let build = |seed: gitlab_sim::SeedBuilder| seed.build().build_db(now, "localhost").err();
    assert!(build(standard().member_with_role("acme", "bob", 20, "Ghost")).is_some());
    let mismatched = standard()
        .member_role(Some("acme"), "Auditor", 20)
        .member_with_role("acme", "bob", 30, "Auditor");
    assert!(build(mismatched).is_some());
    assert!(build(standard().member_role(Some("acme/platform"), "Deep", 20)).is_some());
    assert!(build(standard().member_role(None, "Minimal", 5)).is_some());
    assert!(
        build(
            standard()
                .member_role(None, "Instance", 30)
                .member_with_role("acme", "bob", 30, "Instance")
        )
        .is_none()
    );
}

#[tokio::test]
async fn a_custom_role_is_given_on_add_and_on_update_at_its_base_level_only() {
    let sim = start(standard().member_role(None, "Auditor", 20)).await;
    let dave = sim.state().user_id("dave").unwrap();
    let carol = sim.state().user_id("carol").unwrap();
    let r = post(
        &sim,
        "/api/v4/projects/1/members",
        Some(ALICE_TOKEN),
        json!({"user_id": dave, "access_level": 20, "member_role_id": 1}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["member_role"]["id"], 1);
    assert_eq!(r.body["access_level"], 20);
    let r = post(
        &sim,
        "/api/v4/projects/1/members",
        Some(ALICE_TOKEN),
        json!({"user_id": carol, "access_level": 30, "member_role_id": 1}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "the role's base is Reporter");
    let r = post(
        &sim,
        "/api/v4/projects/1/members",
        Some(ALICE_TOKEN),
        json!({"user_id": carol, "access_level": 20, "member_role_id": 99}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // A new level without the role ends the custom role.
    let r = put(
        &sim,
        &format!("/api/v4/projects/1/members/{dave}"),
        Some(ALICE_TOKEN),
        json!({"access_level": 30}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["member_role"].is_null());
    let r = put(
        &sim,
        &format!("/api/v4/projects/1/members/{dave}"),
        Some(ALICE_TOKEN),
        json!({"access_level": 20, "member_role_id": 1}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["member_role"]["id"], 1);
}
