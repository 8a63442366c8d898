//! Groups and projects listing and lookup.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;

fn names(v: &serde_json::Value, key: &str) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x[key].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn project_by_id_or_encoded_path() {
    let sim = start(standard()).await;
    let a = get(&sim, "/api/v4/projects/1", Some(BOB_TOKEN)).await;
    let b = get(&sim, "/api/v4/projects/acme%2Fplatform%2Fapi", Some(BOB_TOKEN)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["id"], b.body["id"]);
    assert_eq!(b.body["path_with_namespace"], "acme/platform/api");
    assert_eq!(b.body["permissions"]["project_access"]["access_level"], 30);
    assert_eq!(b.body["shared_with_groups"][0]["group_full_path"], "partners");
    assert!(
        b.body["http_url_to_repo"]
            .as_str()
            .unwrap()
            .ends_with("/acme/platform/api.git")
    );
    let r = get(&sim, "/api/v4/projects/acme%2Fwebsite", Some(BOB_TOKEN)).await;
    assert_eq!(
        (r.status, r.body),
        (StatusCode::NOT_FOUND, json!({"message": "404 Project Not Found"}))
    );
    assert_eq!(
        get(&sim, "/api/v4/projects/1", None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn membership_min_access_level_and_simple() {
    let sim = start(standard()).await;
    let r = get(&sim, "/api/v4/projects?membership=true", Some(ALICE_TOKEN)).await;
    assert_eq!(
        names(&r.body, "path_with_namespace"),
        vec!["acme/website", "acme/platform/api"]
    );
    let r = get(&sim, "/api/v4/projects?min_access_level=30", Some(BOB_TOKEN)).await;
    assert_eq!(names(&r.body, "path_with_namespace"), vec!["acme/platform/api"]);
    let carol = sim
        .state()
        .create_personal_access_token("carol", "t", &["read_api"], None)
        .unwrap();
    let r = get(&sim, "/api/v4/projects?min_access_level=30", Some(&carol)).await;
    assert_eq!(r.body, json!([]), "the share caps carol at Reporter");
    let r = get(
        &sim,
        "/api/v4/projects?min_access_level=20&simple=true",
        Some(&carol),
    )
    .await;
    assert_eq!(names(&r.body, "path_with_namespace"), vec!["acme/platform/api"]);
    assert!(r.body[0].get("visibility").is_none(), "simple view");
    let r = get(&sim, "/api/v4/projects?min_access_level=7", Some(&carol)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn groups_subgroups_descendants_and_group_projects() {
    let sim = start(
        standard()
            .group("acme/platform/infra", "Infra")
            .project("acme/platform/infra/tf", "TF"),
    )
    .await;
    let r = get(&sim, "/api/v4/groups", Some(ALICE_TOKEN)).await;
    assert_eq!(
        names(&r.body, "full_path"),
        vec!["acme", "acme/platform/infra", "acme/platform"]
    );
    let r = get(&sim, "/api/v4/groups?top_level_only=true", Some(ALICE_TOKEN)).await;
    assert_eq!(names(&r.body, "full_path"), vec!["acme"]);
    let r = get(&sim, "/api/v4/groups/acme/subgroups", Some(ALICE_TOKEN)).await;
    assert_eq!(names(&r.body, "full_path"), vec!["acme/platform"]);
    let r = get(&sim, "/api/v4/groups/acme/descendant_groups", Some(ALICE_TOKEN)).await;
    assert_eq!(
        names(&r.body, "full_path"),
        vec!["acme/platform/infra", "acme/platform"]
    );
    let r = get(&sim, "/api/v4/groups/acme/projects", Some(ALICE_TOKEN)).await;
    assert_eq!(names(&r.body, "path_with_namespace"), vec!["acme/website"]);
    let r = get(
        &sim,
        "/api/v4/groups/acme/projects?include_subgroups=true",
        Some(ALICE_TOKEN),
    )
    .await;
    assert_eq!(r.body.as_array().unwrap().len(), 3);
    let r = get(&sim, "/api/v4/groups/acme%2Fplatform", Some(ALICE_TOKEN)).await;
    assert_eq!(r.body["full_name"], "Acme / Platform");
    assert_eq!(r.body["parent_id"], sim.state().group_id("acme").unwrap());
    let r = get(&sim, "/api/v4/groups/acme", Some(BOB_TOKEN)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "bob only belongs to a project");
    let r = get(&sim, "/api/v4/groups?min_access_level=50", Some(ALICE_TOKEN)).await;
    assert_eq!(r.body, json!([]));
    let r = get(&sim, "/api/v4/groups", Some(ROOT_TOKEN)).await;
    assert_eq!(r.body.as_array().unwrap().len(), 4, "admins see all groups");
}

#[tokio::test]
async fn anonymous_sees_public_only() {
    let sim = start(standard().public_group("oss", "OSS")).await;
    let r = get(&sim, "/api/v4/groups", None).await;
    assert_eq!(names(&r.body, "full_path"), vec!["oss"]);
    let r = get(
        &sim,
        "/api/v4/groups?pagination=keyset&order_by=name&sort=asc&per_page=1",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("link").is_none());
}
