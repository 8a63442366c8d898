//! `/api/v2/secret-scanning`: Infisical's data source shapes, validation against GitLab, queued
//! scans, and the findings routes' filters and export formats.

use gitlab_sim::Seed;
use labgate_testkit::TestEnv;
use serde_json::{Value, json};

const BASE: &str = "/api/v2/secret-scanning/data-sources/gitlab";
const ALICE: &str = "glpat-aliceALICEalice1234";

async fn setup() -> (TestEnv, String) {
    let seed = Seed::builder()
        .user("alice")
        .group("acme", "Acme")
        .group("acme/platform", "Platform")
        .project("acme/api", "API")
        .project("acme/platform/web", "Web")
        .member("acme", "alice", 30)
        .personal_token("alice", "ci", &["api"], ALICE)
        .build();
    let env = TestEnv::builder().sim(seed).build().await;
    let url = env.sim().url().to_owned();
    let reply = env
        .call(
            "POST",
            "/api/v1/app-connections/gitlab",
            &env.admin_key,
            Some(json!({"name": "alice", "method": "access-token",
                "credentials": {"accessToken": ALICE, "instanceUrl": url, "accessTokenType": "personal"}})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let connection = reply.json()["appConnection"]["id"].as_str().unwrap().to_owned();
    (env, connection)
}

fn body(name: &str, connection: &str, config: Value) -> Value {
    json!({"name": name, "connectionId": connection, "config": config, "isAutoScanEnabled": false})
}

#[tokio::test]
async fn a_group_data_source_lists_every_subgroups_projects_in_infisicals_shape() {
    let (env, connection) = setup().await;
    let key = &env.admin_key;
    let reply = env
        .call(
            "POST",
            BASE,
            key,
            Some(body(
                "acme",
                &connection,
                json!({"scope": "group", "groupId": "acme"}),
            )),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let source = reply.json()["dataSource"].clone();
    for field in [
        "id",
        "name",
        "description",
        "type",
        "connectionId",
        "connection",
        "config",
        "isAutoScanEnabled",
        "createdAt",
        "updatedAt",
    ] {
        assert!(source.get(field).is_some(), "{field} missing from {source}");
    }
    assert_eq!(source["type"], "gitlab");
    assert_eq!(source["config"]["includeProjects"], json!(["*"]));
    assert_eq!(source["resourceCount"], 2);
    let id = source["id"].as_str().unwrap();

    let resources = env
        .call("GET", &format!("{BASE}/{id}/resources"), key, None)
        .await
        .json();
    let mut names: Vec<String> = resources["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["acme/api", "acme/platform/web"]);
    let resource = resources["resources"][0]["id"].as_str().unwrap().to_owned();

    let scan = env.call("POST", &format!("{BASE}/{id}/scan"), key, None).await;
    assert_eq!(scan.status, 200, "{}", String::from_utf8_lossy(&scan.body));
    assert_eq!(scan.json()["scan"]["status"], "queued");
    assert_eq!(scan.json()["scan"]["type"], "full");
    let one = env
        .call(
            "POST",
            &format!("{BASE}/{id}/resources/{resource}/scan"),
            key,
            None,
        )
        .await;
    assert_eq!(one.status, 200, "{}", String::from_utf8_lossy(&one.body));
    assert_eq!(one.json()["scan"]["resourceId"], resource.as_str());
    let scans = env
        .call("GET", &format!("{BASE}/{id}/scans"), key, None)
        .await
        .json();
    assert_eq!(scans["scans"].as_array().unwrap().len(), 2);

    let renamed = env
        .call(
            "PATCH",
            &format!("{BASE}/{id}"),
            key,
            Some(json!({"name": "acme-all", "description": "all of acme"})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", String::from_utf8_lossy(&renamed.body));
    assert_eq!(renamed.json()["dataSource"]["name"], "acme-all");
    let listed = env.call("GET", BASE, key, None).await.json();
    assert_eq!(listed["dataSources"].as_array().unwrap().len(), 1);

    // The connection is in use.
    let refused = env
        .call(
            "DELETE",
            &format!("/api/v1/app-connections/gitlab/{connection}"),
            key,
            None,
        )
        .await;
    assert_eq!(refused.status, 409, "{}", String::from_utf8_lossy(&refused.body));
    assert!(refused.json()["message"].as_str().unwrap().contains("acme-all"));
    let deleted = env.call("DELETE", &format!("{BASE}/{id}"), key, None).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(
        env.call("GET", &format!("{BASE}/{id}"), key, None).await.status,
        404
    );
}

#[tokio::test]
async fn bad_data_sources_are_refused_with_the_field_named() {
    let (env, connection) = setup().await;
    let key = &env.admin_key;
    let cases = [
        (
            body("x", &connection, json!({"scope": "group"})),
            "config.groupId",
        ),
        (
            body(
                "x",
                &connection,
                json!({"scope": "project", "projectId": "acme/nope"}),
            ),
            "config.projectId",
        ),
        (
            body(
                "x",
                &connection,
                json!({"scope": "group", "groupId": "acme", "includeProjects": []}),
            ),
            "config.includeProjects",
        ),
        (
            body(
                "Bad Name",
                &connection,
                json!({"scope": "group", "groupId": "acme"}),
            ),
            "name",
        ),
        (
            body(
                "x",
                "0190a0a0-0000-7000-8000-000000000000",
                json!({"scope": "group", "groupId": "acme"}),
            ),
            "connectionId",
        ),
    ];
    for (request, field) in cases {
        let reply = env.call("POST", BASE, key, Some(request.clone())).await;
        assert_eq!(
            reply.status,
            422,
            "{request}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        let details = reply.json()["details"].to_string();
        assert!(details.contains(field), "{field} not named in {details}");
    }
    let reply = env.call("GET", &format!("{BASE}/not-a-uuid"), key, None).await;
    assert_eq!(reply.status, 422);
}

#[tokio::test]
async fn findings_list_filters_and_exports_in_three_formats() {
    let (env, _) = setup().await;
    let key = &env.admin_key;
    let listed = env
        .call(
            "GET",
            "/api/v2/secret-scanning/findings?status=unresolved",
            key,
            None,
        )
        .await;
    assert_eq!(listed.status, 200, "{}", String::from_utf8_lossy(&listed.body));
    assert_eq!(listed.json()["findings"], json!([]));
    let bad = env
        .call("GET", "/api/v2/secret-scanning/findings?status=open", key, None)
        .await;
    assert_eq!(bad.status, 422);
    let bad = env
        .call("GET", "/api/v2/secret-scanning/findings?projectId=abc", key, None)
        .await;
    assert_eq!(bad.status, 422);
    for route in ["findings", "findings/export"] {
        let not_an_id = env
            .call(
                "GET",
                &format!(
                    "/api/v2/secret-scanning/{route}?dataSourceId=0000000000000000000000000000000000000"
                ),
                key,
                None,
            )
            .await;
        assert_eq!(not_an_id.status, 404, "{route}");
    }
    for (format, kind) in [
        ("json", "application/json"),
        ("csv", "text/csv"),
        ("sarif", "application/sarif+json"),
    ] {
        let reply = env
            .call(
                "GET",
                &format!("/api/v2/secret-scanning/findings/export?format={format}"),
                key,
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{format}");
        assert!(
            reply.headers["content-type"].to_str().unwrap().starts_with(kind),
            "{format}"
        );
    }
    let missing = env
        .call(
            "PATCH",
            "/api/v2/secret-scanning/findings/0190a0a0-0000-7000-8000-000000000000",
            key,
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(missing.status, 404);
}
