//! `/api/v2/secret-scanning`: Infisical's data source shapes, validation against GitLab, queued
//! scans, and the findings routes' filters and export formats.

use gitlab_sim::Seed;
use labgate_testkit::TestEnv;
use serde_json::{Value, json};

const BASE: &str = "/api/v2/secret-scanning/data-sources/gitlab";
const ALICE: &str = "glpat-aliceALICEalice1234";

pub(crate) async fn setup() -> (TestEnv, String) {
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

/// Seven findings in one repository, seen one after the other: odd ones by the GitLab token rule,
/// even ones by the AWS key rule; the first is a live token. Each was seen in two files.
pub(crate) async fn seed_findings(env: &TestEnv, connection: &str) -> String {
    let tenant = env.principal(&env.admin_key).await.tenant_id.to_string();
    let source = uuid::Uuid::now_v7().to_string();
    let resource = uuid::Uuid::now_v7().to_string();
    env.execute_sql(&format!(
        "INSERT INTO scan_data_sources (id, tenant_id, name, description, connection_id, config, \
         is_auto_scan_enabled, version, created_at, updated_at) VALUES ('{source}', '{tenant}', \
         'paged', NULL, '{connection}', '{{\"scope\":\"project\",\"projectId\":\"101\"}}', 0, 1, 1, 1)"
    ))
    .await;
    env.execute_sql(&format!(
        "INSERT INTO scan_resources (id, data_source_id, gitlab_project_id, path, web_url, \
         default_branch, last_scanned_at, created_at, updated_at) VALUES ('{resource}', '{source}', \
         101, 'acme/api', 'https://gitlab.example.com/acme/api', 'main', NULL, 1, 1)"
    ))
    .await;
    let mut findings = Vec::new();
    let mut locations = Vec::new();
    for n in 1..=7 {
        let id = format!("0190a0a0-0000-7000-8000-00000000000{n}");
        let (rule, name) = if n % 2 == 1 {
            ("gitlab-pat", "GitLab personal access token")
        } else {
            ("aws-access-key", "AWS access key")
        };
        let verification = if n == 1 { "active" } else { "unknown" };
        findings.push(format!(
            "('{id}', '{tenant}', '{rule}', '{name}', 'critical', 'hmac-{n}', 'preview{n}', 'fp-{n}', \
             'unresolved', NULL, '{verification}', NULL, {at}, {at}, {at})",
            at = 1000 + n
        ));
        for (file, line) in [(format!("config/App{n}.env"), 3), ("README.md".to_owned(), n)] {
            locations.push(format!(
                "('{id}', '{resource}', '{file}', 'c0ffee{n}', {line}, 'Dev', 'dev@example.com', {at}, \
                 'https://gitlab.example.com/acme/api/-/blob/c0ffee{n}/{file}#L{line}', NULL, {at})",
                at = 2000 + n
            ));
        }
    }
    env.execute_sql(&format!(
        "INSERT INTO findings (id, tenant_id, rule_id, rule_name, severity, value_hmac, preview, \
         fingerprint, status, remarks, verification, verified_at, first_seen_at, last_seen_at, \
         updated_at) VALUES {}",
        findings.join(", ")
    ))
    .await;
    env.execute_sql(&format!(
        "INSERT INTO finding_locations (finding_id, resource_id, file_path, commit_sha, line, \
         author_name, author_email, committed_at, link, scan_run_id, first_seen_at) VALUES {}",
        locations.join(", ")
    ))
    .await;
    source
}

fn ids(page: &Value) -> Vec<String> {
    page["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().chars().last().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn findings_are_paged_with_their_total_and_filtered_by_rule_verification_and_path() {
    let (env, connection) = setup().await;
    let source = seed_findings(&env, &connection).await;
    let key = &env.admin_key;
    let get = |query: String| {
        let env = &env;
        async move {
            let reply = env
                .call(
                    "GET",
                    &format!("/api/v2/secret-scanning/findings?{query}"),
                    key,
                    None,
                )
                .await;
            assert_eq!(
                reply.status,
                200,
                "{query}: {}",
                String::from_utf8_lossy(&reply.body)
            );
            reply.json()
        }
    };

    let first = get("limit=3".to_owned()).await;
    assert_eq!(first["totalCount"], 7);
    assert_eq!(ids(&first), ["7", "6", "5"], "newest first");
    for finding in first["findings"].as_array().unwrap() {
        let locations = finding["locations"].as_array().unwrap();
        assert_eq!(locations.len(), 2, "{finding}");
        assert_eq!(locations[0]["resourceName"], "acme/api");
        assert_eq!(locations[0]["dataSourceId"], source.as_str());
        assert_eq!(locations[0]["projectId"], "101");
        assert_eq!(
            finding["file"], locations[0]["file"],
            "the earliest location leads"
        );
    }
    assert_eq!(ids(&get("offset=3&limit=3".to_owned()).await), ["4", "3", "2"]);
    let last = get("offset=6&limit=3".to_owned()).await;
    assert_eq!(
        (ids(&last), last["totalCount"].clone()),
        (vec!["1".to_owned()], json!(7))
    );
    for beyond in ["offset=7", "offset=1000"] {
        let empty = get(beyond.to_owned()).await;
        assert_eq!(empty["findings"], json!([]), "{beyond}");
        assert_eq!(empty["totalCount"], 7, "{beyond}");
    }
    let all = get(String::new()).await;
    assert_eq!(
        (
            all["findings"].as_array().unwrap().len(),
            all["totalCount"].clone()
        ),
        (7, json!(7))
    );
    assert_eq!(
        get("limit=100".to_owned()).await["findings"]
            .as_array()
            .unwrap()
            .len(),
        7
    );

    let aws = get("rule=aws-access-key&limit=2".to_owned()).await;
    assert_eq!(
        (ids(&aws), aws["totalCount"].clone()),
        (vec!["6".to_owned(), "4".to_owned()], json!(3))
    );
    let active = get("verification=active".to_owned()).await;
    assert_eq!(
        (ids(&active), active["totalCount"].clone()),
        (vec!["1".to_owned()], json!(1))
    );
    let by_path = get("path=APP3.ENV".to_owned()).await;
    assert_eq!(ids(&by_path), ["3"], "a path matches in any letter case");
    assert_eq!(get("path=readme".to_owned()).await["totalCount"], 7);
    assert_eq!(
        get("path=%25".to_owned()).await["totalCount"],
        0,
        "a % is a character, not a wildcard"
    );
    assert_eq!(get("path=App_".to_owned()).await["totalCount"], 0, "so is a _");
    let combined = get(format!(
        "dataSourceId={source}&rule=gitlab-pat&path=config/&status=unresolved"
    ))
    .await;
    assert_eq!(ids(&combined), ["7", "5", "3", "1"]);
    assert_eq!(get("rule=nothing-like-it".to_owned()).await["totalCount"], 0);

    for bad in ["verification=maybe", "limit=0", "limit=101", "offset=-1"] {
        let reply = env
            .call(
                "GET",
                &format!("/api/v2/secret-scanning/findings?{bad}"),
                key,
                None,
            )
            .await;
        let body = reply.error(422, "ValidationFailure");
        assert!(
            body["details"].as_array().is_some_and(|d| !d.is_empty()),
            "{bad}: {body}"
        );
    }
    let long = env
        .call(
            "GET",
            &format!("/api/v2/secret-scanning/findings?rule={}", "r".repeat(200)),
            key,
            None,
        )
        .await;
    long.error(422, "ValidationFailure");

    // The export takes the same filters and every match, with no page.
    let export = env
        .call(
            "GET",
            "/api/v2/secret-scanning/findings/export?format=json&rule=gitlab-pat",
            key,
            None,
        )
        .await;
    assert_eq!(export.status, 200);
    let exported = export.json();
    assert_eq!(exported["totalCount"], 4);
    assert_eq!(exported["findings"].as_array().unwrap().len(), 4);
    let csv = env
        .call(
            "GET",
            "/api/v2/secret-scanning/findings/export?format=csv&path=app7",
            key,
            None,
        )
        .await;
    let csv = String::from_utf8_lossy(&csv.body).into_owned();
    assert_eq!(
        csv.lines().count(),
        1 + 2,
        "a header and the finding's two locations: {csv}"
    );
}
