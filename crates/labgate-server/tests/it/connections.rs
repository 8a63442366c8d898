//! `/api/v1/app-connections` against gitlab-sim, in gitlab.com and self-managed modes.

use gitlab_sim::{Mode, Seed};
use labgate_proto::api_keys::Role;
use labgate_testkit::{TestEnv, captured_logs};
use serde_json::{Value, json};

const ALICE: &str = "glpat-aliceALICEalice1234";
const DEPLOY: &str = "glpat-deployDEPLOYdeploy12";
const GROUP: &str = "glpat-groupGROUPgroup12345";
const BASE: &str = "/api/v1/app-connections/gitlab";

fn seed(mode: Mode) -> Seed {
    Seed::builder()
        .mode(mode)
        .admin("root")
        .user("alice")
        .group("acme", "Acme")
        .group("acme/platform", "Platform")
        .project("acme/platform/api", "API")
        .member("acme", "alice", 50)
        .personal_token("alice", "ci", &["api", "read_repository"], ALICE)
        .project_token(
            "acme/platform/api",
            "deploy",
            &["api", "read_repository"],
            40,
            DEPLOY,
        )
        .group_token("acme/platform", "sync", &["api", "read_repository"], 50, GROUP)
        .build()
}

/// An environment whose connections reach a gitlab-sim in `mode`.
async fn env_with_sim(mode: Mode) -> TestEnv {
    TestEnv::builder().sim(seed(mode)).build().await
}

fn body(name: &str, url: &str, token: &str, kind: &str) -> Value {
    json!({
        "name": name,
        "description": "GitLab",
        "method": "access-token",
        "credentials": {"accessToken": token, "instanceUrl": url, "accessTokenType": kind},
    })
}

#[tokio::test]
async fn connections_live_through_the_api_on_both_instance_kinds() {
    for mode in [Mode::GitLabCom, Mode::SelfManaged] {
        let env = env_with_sim(mode).await;
        let sim = env.sim();
        let url = format!("{}/", sim.url());
        let key = env.admin_key.clone();
        for (name, token, kind) in [
            ("personal", ALICE, "personal"),
            ("project", DEPLOY, "project"),
            ("group", GROUP, "group"),
        ] {
            let reply = env
                .call("POST", BASE, &key, Some(body(name, &url, token, kind)))
                .await;
            assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
            let conn = &reply.json()["appConnection"];
            for field in [
                "id",
                "name",
                "description",
                "version",
                "orgId",
                "createdAt",
                "updatedAt",
                "isPlatformManagedCredentials",
                "gatewayId",
                "projectId",
                "credentialsHash",
                "project",
                "app",
                "method",
                "credentials",
                "status",
                "statusReason",
                "scopes",
                "expiresAt",
                "tokenName",
                "gitlabUser",
                "lastCheckedAt",
                "usages",
                "autoRotate",
            ] {
                assert!(conn.get(field).is_some(), "{field} missing in {conn}");
            }
            assert_eq!(conn["app"], "gitlab");
            assert_eq!(conn["method"], "access-token");
            assert_eq!(conn["isPlatformManagedCredentials"], false);
            assert_eq!(conn["orgId"], env.tenant.id.as_str());
            assert_eq!(
                conn["credentials"],
                json!({"instanceUrl": sim.url(), "accessTokenType": kind}),
                "trailing slash trimmed"
            );
            assert_eq!(conn["status"], "active");
            let id = conn["id"].as_str().unwrap().to_owned();

            let shown = env.get(&format!("{BASE}/{id}"), Some(&key)).await.json();
            assert_eq!(shown["appConnection"]["id"], id.as_str());
            let by_name = env
                .get(&format!("{BASE}/connection-name/{name}"), Some(&key))
                .await
                .json();
            assert_eq!(by_name["appConnection"]["id"], id.as_str());
            let projects = env.get(&format!("{BASE}/{id}/projects"), Some(&key)).await;
            assert_eq!(
                projects.status,
                200,
                "{}",
                String::from_utf8_lossy(&projects.body)
            );
            assert!(
                projects.json().as_array().unwrap().iter().any(
                    |p| p["name"] == "acme/platform/api" && p["pathWithNamespace"] == "acme/platform/api"
                )
            );
            let groups = env.get(&format!("{BASE}/{id}/groups"), Some(&key)).await;
            assert_eq!(groups.status, 200);
            let checked = env
                .call("POST", &format!("{BASE}/{id}/check"), &key, None)
                .await
                .json();
            assert_eq!(checked["appConnection"]["status"], "active");
            let patched = env
                .call(
                    "PATCH",
                    &format!("{BASE}/{id}"),
                    &key,
                    Some(json!({"description": null, "version": 1})),
                )
                .await
                .json();
            assert_eq!(patched["appConnection"]["version"], 2);
            assert_eq!(
                patched["appConnection"]["credentialsHash"],
                conn["credentialsHash"]
            );
            env.call(
                "PATCH",
                &format!("{BASE}/{id}"),
                &key,
                Some(json!({"name": "x", "version": 1})),
            )
            .await
            .error(409, "Conflict");
            let rotated = env.call("POST", &format!("{BASE}/{id}/rotate"), &key, None).await;
            assert_eq!(rotated.status, 200, "{}", String::from_utf8_lossy(&rotated.body));
            let rotated = rotated.json();
            assert_eq!(rotated["appConnection"]["version"], 3);
            assert_ne!(
                rotated["appConnection"]["credentialsHash"],
                conn["credentialsHash"]
            );
            let events = env.get(&format!("{BASE}/{id}/events"), Some(&key)).await.json();
            let kinds: Vec<_> = events["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["kind"].clone())
                .collect();
            assert_eq!(kinds, [json!("rotated"), json!("created")]);
            // Other tenants see nothing.
            for path in [
                format!("{BASE}/{id}"),
                format!("{BASE}/{id}/events"),
                format!("{BASE}/connection-name/{name}"),
            ] {
                env.get(&path, Some(&env.other_admin_key))
                    .await
                    .error(404, "NotFound");
            }
            env.call("DELETE", &format!("{BASE}/{id}"), &env.other_admin_key, None)
                .await
                .error(404, "NotFound");
        }
        let list = env.get(&format!("{BASE}?limit=2"), Some(&key)).await.json();
        assert_eq!(
            (
                list["totalCount"].as_u64(),
                list["appConnections"].as_array().unwrap().len()
            ),
            (Some(3), 2)
        );
        let all = env.get("/api/v1/app-connections", Some(&key)).await.json();
        assert_eq!(all["totalCount"], 3);
        let available = env.get(&format!("{BASE}/available"), Some(&key)).await.json();
        assert_eq!(available["appConnections"].as_array().unwrap().len(), 3);
        let options = env
            .get("/api/v1/app-connections/options", Some(&key))
            .await
            .json();
        assert_eq!(options["appConnectionOptions"][0]["app"], "gitlab");
        assert_eq!(
            env.get("/api/v1/app-connections", Some(&env.other_admin_key))
                .await
                .json()["totalCount"],
            0
        );

        let id = list["appConnections"][0]["id"].as_str().unwrap().to_owned();
        let deleted = env
            .call("DELETE", &format!("{BASE}/{id}?revokeAtGitLab=true"), &key, None)
            .await;
        assert_eq!(deleted.status, 200, "{}", String::from_utf8_lossy(&deleted.body));
        assert_eq!(deleted.json()["appConnection"]["id"], id.as_str());
        env.get(&format!("{BASE}/{id}"), Some(&key))
            .await
            .error(404, "NotFound");

        let audit = env
            .get("/api/v1/audit-logs?resourceKind=app-connection", Some(&key))
            .await
            .json();
        let actions: Vec<_> = audit["auditLogs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect();
        for action in [
            "app-connection.create",
            "app-connection.update",
            "app-connection.check",
            "app-connection.rotate",
            "app-connection.delete",
        ] {
            assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
        }
    }
    let logs = captured_logs();
    for token in [ALICE, DEPLOY, GROUP] {
        assert!(!logs.contains(token), "a token reached the logs");
    }
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx() {
    let env = env_with_sim(Mode::SelfManaged).await;
    let sim = env.sim();
    let url = sim.url().to_owned();
    let key = env.admin_key.clone();
    let post = |value: Value| {
        let env = &env;
        let key = key.clone();
        async move { env.call("POST", BASE, &key, Some(value)).await }
    };
    // `body` with one more top-level field.
    let with = |mut value: Value, field: &str, extra: Value| {
        value[field] = extra;
        value
    };
    let personal = body("a", &url, ALICE, "personal");
    let cases: [(&str, Value, &str); 17] = [
        (
            "no credentials",
            json!({"name": "a", "method": "access-token"}),
            "credentials are required",
        ),
        (
            "unknown method",
            json!({"name": "a", "method": "basic", "credentials": {"accessToken": ALICE, "accessTokenType": "personal"}}),
            "unknown method",
        ),
        (
            "name not a slug",
            json!({"name": "Bad Name", "method": "access-token", "credentials": {"accessToken": ALICE, "accessTokenType": "personal"}}),
            "slug",
        ),
        (
            "unknown token type",
            json!({"name": "a", "method": "access-token", "credentials": {"accessToken": ALICE, "accessTokenType": "deploy"}}),
            "must be one of personal, project, group",
        ),
        (
            "description too long",
            json!({"name": "a", "method": "access-token", "description": "x".repeat(257), "credentials": {"accessToken": ALICE, "accessTokenType": "personal"}}),
            "256",
        ),
        (
            "token of another type",
            body("a", &url, DEPLOY, "personal"),
            "project token",
        ),
        (
            "token unknown to GitLab",
            body("a", &url, "glpat-nopeNOPEnopeNOPE1234", "personal"),
            "not valid",
        ),
        (
            "credentials in the url",
            body("a", "https://user:pw@gitlab.example.com", ALICE, "personal"),
            "user name or password",
        ),
        (
            "query in the url",
            body("a", "https://gitlab.example.com/?x=1", ALICE, "personal"),
            "query",
        ),
        (
            "fragment in the url",
            body("a", "https://gitlab.example.com/#x", ALICE, "personal"),
            "fragment",
        ),
        (
            "plain http",
            body("a", "http://gitlab.example.com", ALICE, "personal"),
            "https://",
        ),
        (
            "internal address",
            body("a", "https://10.1.2.3", ALICE, "personal"),
            "refused",
        ),
        (
            "nothing listening",
            body("a", "http://127.0.0.1:1", ALICE, "personal"),
            "unreachable",
        ),
        (
            "platform-managed credentials",
            with(personal.clone(), "isPlatformManagedCredentials", json!(true)),
            "not supported for GitLab connections",
        ),
        (
            "gateway",
            with(
                personal.clone(),
                "gatewayId",
                json!("0193f1d2-0000-7000-8000-000000000000"),
            ),
            "not supported for GitLab connections",
        ),
        (
            "access sync without a group token",
            with(
                body("a", &url, DEPLOY, "project"),
                "usages",
                json!(["access-sync"]),
            ),
            "group token",
        ),
        (
            "unknown usage",
            with(personal, "usages", json!(["mining"])),
            "unknown usage",
        ),
    ];
    for (case, value, expected) in cases {
        let reply = post(value).await;
        let text = String::from_utf8_lossy(&reply.body).into_owned();
        assert_eq!(reply.status, 422, "{case}: {text}");
        let error = reply.error(422, "ValidationFailure");
        assert!(error["details"][0]["field"].is_string(), "{case}: {text}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(expected),
            "{case}: expected {expected:?} in {message:?}"
        );
        assert!(!message.contains(ALICE), "{case}: the token is echoed");
    }
    // Unknown fields and wrong types are refused by the parser.
    post(json!({"name": "a", "method": "access-token", "extra": 1}))
        .await
        .error(422, "ValidationFailure");
    // Name clash.
    assert_eq!(post(body("main", &url, ALICE, "personal")).await.status, 200);
    post(body("main", &url, ALICE, "personal"))
        .await
        .error(400, "BadRequest");
    // Limits and ids.
    env.get(&format!("{BASE}?limit=0"), Some(&key))
        .await
        .error(422, "ValidationFailure");
    env.get(&format!("{BASE}/not-an-id"), Some(&key))
        .await
        .error(422, "ValidationFailure");
    // A reader sees connections but cannot change them.
    let reader = env.key("acme", Role::Reader).await;
    assert_eq!(env.get(BASE, Some(&reader)).await.status, 200);
    env.call("POST", BASE, &reader, Some(body("b", &url, ALICE, "personal")))
        .await
        .error(403, "Forbidden");
}

#[tokio::test]
async fn revocation_in_gitlab_shows_up_as_a_status_change_event_and_webhook() {
    let env = env_with_sim(Mode::GitLabCom).await;
    let sim = env.sim();
    let key = env.admin_key.clone();
    let hook = env
        .call(
            "POST",
            "/api/v1/webhooks",
            &key,
            Some(json!({"url": "https://hooks.example/in", "events": ["connection.status_changed"]})),
        )
        .await
        .json();
    let hook_id = hook["webhook"]["id"].as_str().unwrap().to_owned();
    let conn = env
        .call(
            "POST",
            BASE,
            &key,
            Some(body("deploy", sim.url(), DEPLOY, "project")),
        )
        .await
        .json();
    let id = conn["appConnection"]["id"].as_str().unwrap().to_owned();
    sim.state()
        .set_token_expiry(DEPLOY, Some(sim.clock().today() + time::Duration::days(10)));
    let expiring = env
        .call("POST", &format!("{BASE}/{id}/check"), &key, None)
        .await
        .json();
    assert_eq!(expiring["appConnection"]["status"], "expiring");
    sim.state().revoke_token(DEPLOY);
    let revoked = env
        .call("POST", &format!("{BASE}/{id}/check"), &key, None)
        .await
        .json();
    assert_eq!(revoked["appConnection"]["status"], "revoked");
    let events = env.get(&format!("{BASE}/{id}/events"), Some(&key)).await.json();
    assert_eq!(events["totalCount"], 3);
    assert_eq!(events["events"][0]["toStatus"], "revoked");
    let deliveries = env
        .get(&format!("/api/v1/webhooks/{hook_id}/deliveries"), Some(&key))
        .await
        .json();
    assert_eq!(deliveries["totalCount"], 2);
}

/// A server answering every request with `answer`, or holding the connection open when `None`.
async fn raw_server(answer: Option<&'static str>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0_u8; 4096];
            let _ = socket.read(&mut buf).await;
            match answer {
                Some(answer) => drop(socket.write_all(answer.as_bytes()).await),
                None => held.push(socket),
            }
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn html_answers_and_hanging_instances_are_told_apart() {
    let env = TestEnv::builder().loopback().build().await;
    let html = raw_server(Some(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 21\r\nconnection: close\r\n\r\n<html>sign in</html>\n",
    ))
    .await;
    let hang = raw_server(None).await;
    let reply = env
        .call(
            "POST",
            BASE,
            &env.admin_key,
            Some(body("a", &html, ALICE, "personal")),
        )
        .await;
    let error = reply.error(422, "ValidationFailure");
    assert!(
        error["message"].as_str().unwrap().contains("not a GitLab API"),
        "{error}"
    );
    assert_eq!(error["details"][0]["field"], "credentials.instanceUrl");
    let reply = env
        .call(
            "POST",
            BASE,
            &env.admin_key,
            Some(body("a", &hang, ALICE, "personal")),
        )
        .await;
    let error = reply.error(422, "ValidationFailure");
    assert!(
        error["message"].as_str().unwrap().contains("timed out"),
        "{error}"
    );
}

#[tokio::test]
async fn ten_thousand_connections_are_listed_page_by_page() {
    let env = env_with_sim(Mode::SelfManaged).await;
    let sim = env.sim();
    let created = env
        .call(
            "POST",
            BASE,
            &env.admin_key,
            Some(body("seed", sim.url(), ALICE, "personal")),
        )
        .await
        .json();
    let id = created["appConnection"]["id"].as_str().unwrap();
    // The other 9,999 rows are copies of this one, written straight to the store.
    let base = env.store.connection(env.tenant.id.as_str(), id).await.unwrap();
    let records: Vec<_> = (0..9_999)
        .map(|i| {
            let mut record = base.clone();
            record.id = uuid::Uuid::now_v7().to_string();
            record.name = format!("c-{i:05}");
            record.created_at = base.created_at + 1 + i64::from(i);
            record
        })
        .collect();
    env.store.insert_connections(&records).await.unwrap();
    let page = env
        .get(&format!("{BASE}?offset=9950&limit=100"), Some(&env.admin_key))
        .await
        .json();
    assert_eq!(page["totalCount"], 10_000);
    assert_eq!(page["appConnections"].as_array().unwrap().len(), 50);
    assert_eq!(page["appConnections"][49]["name"], "c-09998");
    env.get(&format!("{BASE}?limit=101"), Some(&env.admin_key))
        .await
        .error(422, "ValidationFailure");
    // Without `limit`, every connection, as Infisical's clients expect from their one call.
    for path in [BASE, "/api/v1/app-connections"] {
        let all = env.get(path, Some(&env.admin_key)).await.json();
        assert_eq!(all["totalCount"], 10_000, "{path}");
        assert_eq!(all["appConnections"].as_array().unwrap().len(), 10_000, "{path}");
        assert_eq!(all["appConnections"][9_999]["name"], "c-09998", "{path}");
    }
    let rest = env
        .get(&format!("{BASE}?offset=9990"), Some(&env.admin_key))
        .await
        .json();
    assert_eq!(rest["appConnections"].as_array().unwrap().len(), 10);
    assert_eq!(
        env.get(BASE, Some(&env.other_admin_key)).await.json()["totalCount"],
        0
    );
}

#[tokio::test]
async fn listing_errors_are_reported_not_swallowed() {
    let env = env_with_sim(Mode::SelfManaged).await;
    let sim = env.sim();
    let created = env
        .call(
            "POST",
            BASE,
            &env.admin_key,
            Some(body("p", sim.url(), ALICE, "personal")),
        )
        .await
        .json();
    let id = created["appConnection"]["id"].as_str().unwrap().to_owned();
    sim.state().revoke_token(ALICE);
    for what in ["projects", "groups"] {
        let reply = env
            .get(&format!("{BASE}/{id}/{what}"), Some(&env.admin_key))
            .await;
        let error = reply.error(503, "ServiceUnavailable");
        assert!(error["message"].as_str().unwrap().contains("revoked"), "{error}");
    }
}

/// A connection of `body` with `projectId` set.
fn in_project(value: Value, project_id: &str) -> Value {
    let mut value = value;
    value["projectId"] = json!(project_id);
    value
}

#[tokio::test]
async fn lists_and_names_filter_by_project() {
    let env = env_with_sim(Mode::SelfManaged).await;
    let url = env.sim().url().to_owned();
    let key = env.admin_key.clone();
    for (name, project) in [
        ("one", Some("p1")),
        ("two", Some("p2")),
        ("three", None),
        ("four", Some("p1")),
    ] {
        let value = body(name, &url, ALICE, "personal");
        let value = match project {
            Some(project) => in_project(value, project),
            None => value,
        };
        let reply = env.call("POST", BASE, &key, Some(value)).await;
        assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    }
    let names = |list: &Value| -> Vec<String> {
        list["appConnections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    for path in [BASE, "/api/v1/app-connections"] {
        let list = env.get(&format!("{path}?projectId=p1"), Some(&key)).await.json();
        assert_eq!(
            (names(&list), list["totalCount"].as_u64()),
            (vec!["one".to_owned(), "four".to_owned()], Some(2)),
            "{path}"
        );
        let page = env
            .get(&format!("{path}?projectId=p1&offset=1&limit=1"), Some(&key))
            .await
            .json();
        assert_eq!(
            (names(&page), page["totalCount"].as_u64()),
            (vec!["four".to_owned()], Some(2)),
            "{path}"
        );
        let none = env.get(&format!("{path}?projectId=p9"), Some(&key)).await.json();
        assert_eq!(none["totalCount"], 0, "{path}");
        assert_eq!(env.get(path, Some(&key)).await.json()["totalCount"], 4, "{path}");
    }
    let by_name = env
        .get(&format!("{BASE}/connection-name/two?projectId=p2"), Some(&key))
        .await
        .json();
    assert_eq!(by_name["appConnection"]["projectId"], "p2");
    for path in ["two?projectId=p1", "three?projectId=p1"] {
        env.get(&format!("{BASE}/connection-name/{path}"), Some(&key))
            .await
            .error(404, "NotFound");
    }
    let available = env.get(&format!("{BASE}/available"), Some(&key)).await.json();
    let items = available["appConnections"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    for item in items {
        assert_eq!(item["orgId"], env.tenant.id.as_str(), "{item}");
        assert!(item.get("projectId").is_some(), "{item}");
    }
    assert_eq!(
        items.iter().filter(|item| item["projectId"] == "p1").count(),
        2,
        "{available}"
    );
}

#[tokio::test]
async fn infisical_routes_answer_with_infisical_status_codes() {
    let env = env_with_sim(Mode::SelfManaged).await;
    let url = env.sim().url().to_owned();
    let key = env.admin_key.clone();
    let created = env
        .call("POST", BASE, &key, Some(body("main", &url, ALICE, "personal")))
        .await
        .json();
    let id = created["appConnection"]["id"].as_str().unwrap().to_owned();
    env.call("POST", BASE, &key, Some(body("other", &url, ALICE, "personal")))
        .await;

    // A body that fails validation, in the parser or in the domain: 422, details kept.
    let wrong_type = json!({"name": 5, "method": "access-token"});
    let body_422 = env.call("POST", BASE, &key, Some(wrong_type)).await;
    assert!(body_422.error(422, "ValidationFailure")["details"][0]["message"].is_string());
    let missing = env
        .call("POST", BASE, &key, Some(json!({"method": "access-token"})))
        .await;
    missing.error(422, "ValidationFailure");
    let bad_name = env
        .call(
            "POST",
            BASE,
            &key,
            Some(body("Not A Slug", &url, ALICE, "personal")),
        )
        .await
        .error(422, "ValidationFailure");
    assert_eq!(bad_name["details"][0]["field"], "name");
    env.call(
        "PATCH",
        &format!("{BASE}/{id}"),
        &key,
        Some(json!({"rotateBeforeDays": 0})),
    )
    .await
    .error(422, "ValidationFailure");
    // Text that is not JSON stays a bad request, as in Infisical.
    let request = axum::http::Request::post(BASE)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{\"name\": "))
        .unwrap();
    env.send(request).await.error(400, "BadRequest");

    // A taken name: 400, on create and on rename.
    let taken = env
        .call("POST", BASE, &key, Some(body("main", &url, ALICE, "personal")))
        .await
        .error(400, "BadRequest");
    assert!(
        taken["message"].as_str().unwrap().contains("already exists"),
        "{taken}"
    );
    env.call(
        "PATCH",
        &format!("{BASE}/{id}"),
        &key,
        Some(json!({"name": "other"})),
    )
    .await
    .error(400, "BadRequest");
    // A stale version is still a conflict.
    env.call(
        "PATCH",
        &format!("{BASE}/{id}"),
        &key,
        Some(json!({"version": 9})),
    )
    .await
    .error(409, "Conflict");

    // A path id that is not a UUID: 422 on every id route, before any lookup.
    for (method, suffix) in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/check"),
        ("POST", "/rotate"),
        ("GET", "/events"),
        ("GET", "/projects"),
        ("GET", "/groups"),
    ] {
        let body = (method == "PATCH").then(|| json!({}));
        let reply = env
            .call(method, &format!("{BASE}/not-a-uuid{suffix}"), &key, body)
            .await;
        let error = reply.error(422, "ValidationFailure");
        assert_eq!(error["details"][0]["field"], "id", "{method} {suffix}");
    }
    // Only the hyphenated form is an id, as the document's pattern says.
    let bare_hex = uuid::Uuid::now_v7().simple().to_string();
    env.get(&format!("{BASE}/{bare_hex}"), Some(&key))
        .await
        .error(422, "ValidationFailure");
    // A well-formed id of nothing, or of another tenant's connection, is 404.
    let unknown = uuid::Uuid::now_v7();
    env.get(&format!("{BASE}/{unknown}"), Some(&key))
        .await
        .error(404, "NotFound");
    env.get(&format!("{BASE}/{id}"), Some(&env.other_admin_key))
        .await
        .error(404, "NotFound");
    // Query strings of the wrong shape fail validation too.
    for query in ["limit=0", "limit=abc", "offset=-1", "bogus=1"] {
        env.get(&format!("{BASE}?{query}"), Some(&key))
            .await
            .error(422, "ValidationFailure");
    }
    // Authentication comes first.
    env.get(&format!("{BASE}/not-a-uuid"), None)
        .await
        .error(401, "Unauthorized");

    // labgate's own routes keep their codes.
    env.call(
        "POST",
        "/api/v1/webhooks",
        &key,
        Some(json!({"url": "ftp://x.example"})),
    )
    .await
    .error(400, "BadRequest");
    env.call(
        "POST",
        "/api/v1/api-keys",
        &key,
        Some(json!({"name": 5, "role": "reader"})),
    )
    .await
    .error(400, "BadRequest");
    env.get("/api/v1/jobs?limit=0", Some(&key))
        .await
        .error(400, "BadRequest");
    env.get("/api/v1/jobs/not-a-uuid", Some(&key))
        .await
        .error(404, "NotFound");
}

#[tokio::test]
async fn pasted_whitespace_is_trimmed_on_create_and_update() {
    let env = env_with_sim(Mode::SelfManaged).await;
    let url = env.sim().url().to_owned();
    let key = env.admin_key.clone();
    let padded = json!({
        "name": "  main\t",
        "description": "  the main one \n",
        "method": "access-token",
        "credentials": {
            "accessToken": format!(" {ALICE}\n"),
            "instanceUrl": format!("  {url}/ "),
            "accessTokenType": "personal",
        },
    });
    let reply = env.call("POST", BASE, &key, Some(padded)).await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let created = reply.json()["appConnection"].clone();
    assert_eq!(created["name"], "main");
    assert_eq!(created["description"], "the main one");
    assert_eq!(created["credentials"]["instanceUrl"], url.as_str());
    let id = created["id"].as_str().unwrap().to_owned();
    let found = env
        .get(&format!("{BASE}/connection-name/main"), Some(&key))
        .await
        .json();
    assert_eq!(found["appConnection"]["id"], id.as_str());

    let patch = json!({
        "name": " renamed ",
        "description": "\tnew ",
        "credentials": {"accessToken": format!("\n{ALICE} "), "instanceUrl": format!(" {url} "), "accessTokenType": "personal"},
    });
    let reply = env
        .call("PATCH", &format!("{BASE}/{id}"), &key, Some(patch))
        .await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let updated = reply.json()["appConnection"].clone();
    assert_eq!(
        (updated["name"].as_str(), updated["description"].as_str()),
        (Some("renamed"), Some("new"))
    );
    // The same token, so the same hash: the whitespace never reached the vault.
    assert_eq!(updated["credentialsHash"], created["credentialsHash"]);
}

fn listing_seed() -> Seed {
    Seed::builder()
        .mode(Mode::SelfManaged)
        .admin("root")
        .user("alice")
        .group("acme", "Acme")
        .group("acme/platform", "Platform")
        .group("acme/tools", "Tools")
        .project("acme/platform/api", "API")
        .project("acme/platform/web", "Website")
        .member("acme", "alice", 50)
        .personal_token("alice", "ci", &["api"], ALICE)
        .build()
}

#[tokio::test]
async fn projects_and_groups_answer_infisical_names_and_search_at_gitlab() {
    let env = TestEnv::builder().sim(listing_seed()).build().await;
    let url = env.sim().url().to_owned();
    let key = env.admin_key.clone();
    let created = env
        .call("POST", BASE, &key, Some(body("main", &url, ALICE, "personal")))
        .await
        .json();
    let id = created["appConnection"]["id"].as_str().unwrap().to_owned();
    let list = |what: &str, query: &str| {
        let path = format!("{BASE}/{id}/{what}{query}");
        let env = &env;
        let key = key.clone();
        async move {
            let reply = env.get(&path, Some(&key)).await;
            assert_eq!(
                reply.status,
                200,
                "{path}: {}",
                String::from_utf8_lossy(&reply.body)
            );
            reply.json().as_array().unwrap().clone()
        }
    };
    let projects = list("projects", "").await;
    let mut names: Vec<&str> = projects.iter().map(|p| p["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["acme/platform/api", "acme/platform/web"]);
    assert!(projects.iter().all(|p| p["name"] == p["pathWithNamespace"]));
    // GitLab's search: case-insensitive, on name or path.
    for query in ["?search=WEBSITE", "?search=web"] {
        let found = list("projects", query).await;
        assert_eq!(found.len(), 1, "{query}: {found:?}");
        assert_eq!(found[0]["name"], "acme/platform/web");
    }
    assert!(list("projects", "?search=nothing-like-it").await.is_empty());

    let groups = list("groups", "").await;
    let platform = groups.iter().find(|g| g["fullPath"] == "acme/platform").unwrap();
    assert_eq!(platform["fullName"], "Acme / Platform");
    assert_eq!(platform["name"], "Platform");
    let found = list("groups", "?search=TOOL").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["fullPath"], "acme/tools");
}

#[tokio::test]
async fn usages_ask_for_what_gitlab_enforces() {
    const MAINTAINER_API: &str = "glpat-maintainerMAINTAIN1";
    const DEVELOPER: &str = "glpat-developerDEVELOPER12";
    const GROUP_MAINTAINER: &str = "glpat-groupmaintainerGRP12";
    let seed = Seed::builder()
        .mode(Mode::SelfManaged)
        .admin("root")
        .group("acme", "Acme")
        .project("acme/api", "API")
        .project_token("acme/api", "maintainer", &["api"], 40, MAINTAINER_API)
        .project_token(
            "acme/api",
            "developer",
            &["api", "read_repository"],
            30,
            DEVELOPER,
        )
        .group_token(
            "acme",
            "maintainer",
            &["api", "read_repository"],
            40,
            GROUP_MAINTAINER,
        )
        .build();
    let env = TestEnv::builder().sim(seed).build().await;
    let url = env.sim().url().to_owned();
    let key = env.admin_key.clone();
    let with_usages = |name: &str, token: &str, kind: &str, usages: &[&str]| {
        let mut value = body(name, &url, token, kind);
        value["usages"] = json!(usages);
        value
    };
    // Maintainer is what GitLab asks to write project variables and hooks, where Infisical's
    // page asks Owner for sync; `api` also clones, where the page adds read_repository.
    let reply = env
        .call(
            "POST",
            BASE,
            &key,
            Some(with_usages(
                "maintainer",
                MAINTAINER_API,
                "project",
                &["secret-sync", "secret-scanning"],
            )),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let refused = [
        ("developer", DEVELOPER, "project", "secret-sync", "Maintainer"),
        ("developer", DEVELOPER, "project", "secret-scanning", "Maintainer"),
        ("group", GROUP_MAINTAINER, "group", "secret-sync", "Owner"),
        ("group", GROUP_MAINTAINER, "group", "secret-scanning", "Owner"),
    ];
    for (name, token, kind, usage, role) in refused {
        let error = env
            .call("POST", BASE, &key, Some(with_usages(name, token, kind, &[usage])))
            .await
            .error(422, "ValidationFailure");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(role), "{usage} with {name}: {message}");
        assert_eq!(error["details"][0]["field"], "usages");
    }
}

/// Connects alice's personal token through the API; returns the connection id.
async fn connect_alice(env: &TestEnv) -> String {
    let created = env
        .call(
            "POST",
            BASE,
            &env.admin_key,
            Some(body("p", env.sim().url(), ALICE, "personal")),
        )
        .await;
    assert_eq!(created.status, 200, "{}", String::from_utf8_lossy(&created.body));
    created.json()["appConnection"]["id"].as_str().unwrap().to_owned()
}

/// Slows GitLab's token rotation down: `latency_ms` before it takes effect, `answer_delay_ms`
/// after it took effect and before GitLab answers.
fn slow_rotation(env: &TestEnv, latency_ms: u64, answer_delay_ms: u64) {
    env.sim().faults().add(gitlab_sim::FaultRule {
        route: Some("/api/v4/personal_access_tokens/self/rotate".to_owned()),
        latency_ms,
        answer_delay_ms,
        ..gitlab_sim::FaultRule::default()
    });
}

/// Whether GitLab accepts `token` (asked directly, as any API client would).
async fn gitlab_accepts(env: &TestEnv, token: &str) -> bool {
    labgate_server::install_crypto_provider();
    reqwest::Client::new()
        .get(format!("{}/api/v4/personal_access_tokens/self", env.sim().url()))
        .header("PRIVATE-TOKEN", token)
        .send()
        .await
        .unwrap()
        .status()
        == 200
}

/// Reliability, "cancelled request": the client hangs up on `POST …/rotate` right after GitLab
/// acted and before its answer arrived. The rotation still lands: the new token is stored and
/// works at GitLab, the old one is revoked.
#[tokio::test]
async fn a_rotate_request_cancelled_after_gitlab_acted_keeps_the_new_token() {
    let env = env_with_sim(Mode::SelfManaged).await;
    let id = connect_alice(&env).await;
    slow_rotation(&env, 0, 1_000);
    let served = env.serve().await;
    let cancelled = served
        .client(std::time::Duration::from_millis(300))
        .post(served.url(&format!("{BASE}/{id}/rotate")))
        .bearer_auth(&env.admin_key)
        .send()
        .await;
    assert!(
        cancelled.as_ref().is_err_and(reqwest::Error::is_timeout),
        "the client gave up: {cancelled:?}"
    );
    labgate_testkit::wait_until(
        std::time::Duration::from_secs(20),
        "the rotation lands",
        || async {
            env.get(&format!("{BASE}/{id}"), Some(&env.admin_key))
                .await
                .json()["appConnection"]["version"]
                == 2
        },
    )
    .await;
    env.sim().faults().clear();
    let credential = env
        .get(
            &format!("/api/v1/credentials/gitlab?connectionId={id}"),
            Some(&env.admin_key),
        )
        .await
        .json();
    let stored = credential["credential"].as_str().unwrap();
    assert_ne!(stored, ALICE);
    assert!(
        gitlab_accepts(&env, stored).await,
        "the stored token works at GitLab"
    );
    assert!(!gitlab_accepts(&env, ALICE).await, "the old token is revoked");
    assert!(env.sim().state().token(ALICE).unwrap().revoked);
    assert_eq!(
        env.sim()
            .requests()
            .count("POST", "/api/v4/personal_access_tokens/self/rotate", 200),
        1
    );
    // No journal entry is left to refuse the next rotation as "already in progress".
    let again = env
        .call("POST", &format!("{BASE}/{id}/rotate"), &env.admin_key, None)
        .await;
    assert_eq!(again.status, 200, "{}", String::from_utf8_lossy(&again.body));
}

/// An environment whose token-changing requests wait `wait` for GitLab before answering 202.
async fn env_waiting(wait: std::time::Duration) -> TestEnv {
    TestEnv::builder()
        .sim(seed(Mode::SelfManaged))
        .server_settings(labgate_server::ServerSettings {
            token_change_wait: wait,
            ..labgate_server::ServerSettings::default()
        })
        .build()
        .await
}

/// Follows the job of a `202 Accepted` until it ends; returns the finished job.
async fn follow_accepted(env: &TestEnv, accepted: &labgate_testkit::Reply) -> Value {
    assert_eq!(
        accepted.status,
        202,
        "{}",
        String::from_utf8_lossy(&accepted.body)
    );
    let body = accepted.json();
    let job_id = body["jobId"].as_str().unwrap().to_owned();
    assert_eq!(body["job"]["id"], job_id.as_str());
    assert_eq!(body["job"]["kind"], "connection.rotate");
    assert_eq!(body["job"]["state"], "running");
    let location = accepted.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/jobs/{job_id}"));
    // The job is the tenant's own: another tenant does not see it.
    assert_eq!(env.get(&location, Some(&env.other_admin_key)).await.status, 404);
    labgate_testkit::wait_until(std::time::Duration::from_secs(20), "the job ends", || async {
        let job = env.get(&location, Some(&env.admin_key)).await.json();
        matches!(job["job"]["state"].as_str(), Some("succeeded" | "failed"))
    })
    .await;
    env.get(&location, Some(&env.admin_key)).await.json()["job"].clone()
}

#[tokio::test]
async fn a_rotation_slower_than_the_wait_answers_202_with_its_job() {
    let env = env_waiting(std::time::Duration::from_millis(100)).await;
    let id = connect_alice(&env).await;
    slow_rotation(&env, 600, 0);
    let accepted = env
        .call("POST", &format!("{BASE}/{id}/rotate"), &env.admin_key, None)
        .await;
    let job = follow_accepted(&env, &accepted).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let after = env
        .get(&format!("{BASE}/{id}"), Some(&env.admin_key))
        .await
        .json();
    assert_eq!(after["appConnection"]["version"], 2);
}

#[tokio::test]
async fn a_slow_rotation_that_gitlab_refuses_fails_its_job_with_the_reason() {
    let env = env_waiting(std::time::Duration::from_millis(100)).await;
    let id = connect_alice(&env).await;
    slow_rotation(&env, 600, 0);
    env.sim().state().revoke_token(ALICE);
    let accepted = env
        .call("POST", &format!("{BASE}/{id}/rotate"), &env.admin_key, None)
        .await;
    let job = follow_accepted(&env, &accepted).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(
        job["lastError"]
            .as_str()
            .unwrap()
            .contains("GitLab refused the rotation"),
        "{job}"
    );
    let after = env
        .get(&format!("{BASE}/{id}"), Some(&env.admin_key))
        .await
        .json();
    assert_eq!(after["appConnection"]["version"], 1, "nothing was rotated");
}

#[tokio::test]
async fn a_check_that_rotates_slowly_answers_202_with_the_rotation_job() {
    let env = env_waiting(std::time::Duration::from_millis(100)).await;
    let sim = env.sim();
    sim.state()
        .set_token_expiry(ALICE, Some(sim.clock().today() + time::Duration::days(3)));
    let mut request = body("p", sim.url(), ALICE, "personal");
    request["autoRotate"] = json!(true);
    let created = env.call("POST", BASE, &env.admin_key, Some(request)).await;
    assert_eq!(created.status, 200, "{}", String::from_utf8_lossy(&created.body));
    let id = created.json()["appConnection"]["id"].as_str().unwrap().to_owned();
    slow_rotation(&env, 600, 0);
    let accepted = env
        .call("POST", &format!("{BASE}/{id}/check"), &env.admin_key, None)
        .await;
    let job = follow_accepted(&env, &accepted).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let after = env
        .get(&format!("{BASE}/{id}"), Some(&env.admin_key))
        .await
        .json();
    assert_eq!(after["appConnection"]["version"], 2);
    assert_eq!(after["appConnection"]["status"], "active");
}
