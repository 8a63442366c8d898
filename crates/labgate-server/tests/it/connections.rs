//! `/api/v1/app-connections` against gitlab-sim, in gitlab.com and self-managed modes.

use gitlab_sim::{Mode, Seed, SimServer};
use labgate_proto::api_keys::Role;
use serde_json::{Value, json};

use crate::{TestApp, captured_logs};

const ALICE: &str = "glpat-aliceALICEalice1234";
const DEPLOY: &str = "glpat-deployDEPLOYdeploy12";
const GROUP: &str = "glpat-groupGROUPgroup12345";
const BASE: &str = "/api/v1/app-connections/gitlab";

async fn sim(mode: Mode) -> SimServer {
    let seed = Seed::builder()
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
        .build();
    SimServer::start(seed).await.unwrap()
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
        let app = TestApp::with_loopback_gitlab().await;
        let sim = sim(mode).await;
        app.clock.set_ms(sim.clock().unix() * 1_000);
        let url = format!("{}/", sim.url());
        let key = app.admin.clone();
        for (name, token, kind) in [
            ("personal", ALICE, "personal"),
            ("project", DEPLOY, "project"),
            ("group", GROUP, "group"),
        ] {
            let reply = app
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
            assert_eq!(conn["orgId"], app.acme.id.as_str());
            assert_eq!(
                conn["credentials"],
                json!({"instanceUrl": sim.url(), "accessTokenType": kind}),
                "trailing slash trimmed"
            );
            assert_eq!(conn["status"], "active");
            let id = conn["id"].as_str().unwrap().to_owned();

            let shown = app.get(&format!("{BASE}/{id}"), Some(&key)).await.json();
            assert_eq!(shown["appConnection"]["id"], id.as_str());
            let by_name = app
                .get(&format!("{BASE}/connection-name/{name}"), Some(&key))
                .await
                .json();
            assert_eq!(by_name["appConnection"]["id"], id.as_str());
            let projects = app.get(&format!("{BASE}/{id}/projects"), Some(&key)).await;
            assert_eq!(
                projects.status,
                200,
                "{}",
                String::from_utf8_lossy(&projects.body)
            );
            assert!(
                projects
                    .json()
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == "API")
            );
            let groups = app.get(&format!("{BASE}/{id}/groups"), Some(&key)).await;
            assert_eq!(groups.status, 200);
            let checked = app
                .call("POST", &format!("{BASE}/{id}/check"), &key, None)
                .await
                .json();
            assert_eq!(checked["appConnection"]["status"], "active");
            let patched = app
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
            app.call(
                "PATCH",
                &format!("{BASE}/{id}"),
                &key,
                Some(json!({"name": "x", "version": 1})),
            )
            .await
            .error(409, "Conflict");
            let rotated = app.call("POST", &format!("{BASE}/{id}/rotate"), &key, None).await;
            assert_eq!(rotated.status, 200, "{}", String::from_utf8_lossy(&rotated.body));
            let rotated = rotated.json();
            assert_eq!(rotated["appConnection"]["version"], 3);
            assert_ne!(
                rotated["appConnection"]["credentialsHash"],
                conn["credentialsHash"]
            );
            let events = app.get(&format!("{BASE}/{id}/events"), Some(&key)).await.json();
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
                app.get(&path, Some(&app.other_admin))
                    .await
                    .error(404, "NotFound");
            }
            app.call("DELETE", &format!("{BASE}/{id}"), &app.other_admin, None)
                .await
                .error(404, "NotFound");
        }
        let list = app.get(&format!("{BASE}?limit=2"), Some(&key)).await.json();
        assert_eq!(
            (
                list["totalCount"].as_u64(),
                list["appConnections"].as_array().unwrap().len()
            ),
            (Some(3), 2)
        );
        let all = app.get("/api/v1/app-connections", Some(&key)).await.json();
        assert_eq!(all["totalCount"], 3);
        let available = app.get(&format!("{BASE}/available"), Some(&key)).await.json();
        assert_eq!(available["appConnections"].as_array().unwrap().len(), 3);
        let options = app
            .get("/api/v1/app-connections/options", Some(&key))
            .await
            .json();
        assert_eq!(options["appConnectionOptions"][0]["app"], "gitlab");
        assert_eq!(
            app.get("/api/v1/app-connections", Some(&app.other_admin))
                .await
                .json()["totalCount"],
            0
        );

        let id = list["appConnections"][0]["id"].as_str().unwrap().to_owned();
        let deleted = app
            .call("DELETE", &format!("{BASE}/{id}?revokeAtGitLab=true"), &key, None)
            .await;
        assert_eq!(deleted.status, 200, "{}", String::from_utf8_lossy(&deleted.body));
        assert_eq!(deleted.json()["appConnection"]["id"], id.as_str());
        app.get(&format!("{BASE}/{id}"), Some(&key))
            .await
            .error(404, "NotFound");

        let audit = app
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
    let app = TestApp::with_loopback_gitlab().await;
    let sim = sim(Mode::SelfManaged).await;
    app.clock.set_ms(sim.clock().unix() * 1_000);
    let url = sim.url().to_owned();
    let key = app.admin.clone();
    let post = |value: Value| {
        let app = &app;
        let key = key.clone();
        async move { app.call("POST", BASE, &key, Some(value)).await }
    };
    let mut cases: Vec<(Value, &str)> = vec![
        (
            json!({"name": "a", "method": "access-token"}),
            "credentials are required",
        ),
        (
            json!({"name": "a", "method": "basic", "credentials": {"accessToken": ALICE, "accessTokenType": "personal"}}),
            "unknown method",
        ),
        (
            json!({"name": "Bad Name", "method": "access-token", "credentials": {"accessToken": ALICE, "accessTokenType": "personal"}}),
            "slug",
        ),
        (
            json!({"name": "a", "method": "access-token", "credentials": {"accessToken": ALICE, "accessTokenType": "deploy"}}),
            "personal, project or group",
        ),
        (
            json!({"name": "a", "method": "access-token", "description": "x".repeat(257), "credentials": {"accessToken": ALICE, "accessTokenType": "personal"}}),
            "256",
        ),
        (body("a", &url, DEPLOY, "personal"), "project token"),
        (
            body("a", &url, "glpat-nopeNOPEnopeNOPE1234", "personal"),
            "not valid",
        ),
        (
            body("a", "https://user:pw@gitlab.example.com", ALICE, "personal"),
            "user name or password",
        ),
        (
            body("a", "https://gitlab.example.com/?x=1", ALICE, "personal"),
            "query",
        ),
        (
            body("a", "https://gitlab.example.com/#x", ALICE, "personal"),
            "fragment",
        ),
        (
            body("a", "http://gitlab.example.com", ALICE, "personal"),
            "https://",
        ),
        (body("a", "https://10.1.2.3", ALICE, "personal"), "refused"),
        (body("a", "http://127.0.0.1:1", ALICE, "personal"), "unreachable"),
    ];
    let mut platform = body("a", &url, ALICE, "personal");
    platform["isPlatformManagedCredentials"] = json!(true);
    cases.push((platform, "not supported for GitLab connections"));
    let mut gateway = body("a", &url, ALICE, "personal");
    gateway["gatewayId"] = json!("0193f1d2-0000-7000-8000-000000000000");
    cases.push((gateway, "not supported for GitLab connections"));
    let mut usage = body("a", &url, DEPLOY, "project");
    usage["usages"] = json!(["access-sync"]);
    cases.push((usage, "group token"));
    let mut unknown_usage = body("a", &url, ALICE, "personal");
    unknown_usage["usages"] = json!(["mining"]);
    cases.push((unknown_usage, "unknown usage"));
    for (value, expected) in cases {
        let reply = post(value.clone()).await;
        let error = reply.error(400, "BadRequest");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(expected), "{value}: {message}");
        assert!(!message.contains(ALICE));
    }
    // Unknown fields and wrong types are refused by the parser.
    post(json!({"name": "a", "method": "access-token", "extra": 1}))
        .await
        .error(400, "BadRequest");
    // Name clash.
    assert_eq!(post(body("main", &url, ALICE, "personal")).await.status, 200);
    post(body("main", &url, ALICE, "personal"))
        .await
        .error(409, "Conflict");
    // Limits and ids.
    app.get(&format!("{BASE}?limit=0"), Some(&key))
        .await
        .error(400, "BadRequest");
    app.get(&format!("{BASE}/not-an-id"), Some(&key))
        .await
        .error(404, "NotFound");
    // A reader sees connections but cannot change them.
    let reader = app.key_for("acme", Role::Reader).await;
    assert_eq!(app.get(BASE, Some(&reader)).await.status, 200);
    app.call("POST", BASE, &reader, Some(body("b", &url, ALICE, "personal")))
        .await
        .error(403, "Forbidden");
}

#[tokio::test]
async fn revocation_in_gitlab_shows_up_as_a_status_change_event_and_webhook() {
    let app = TestApp::with_loopback_gitlab().await;
    let sim = sim(Mode::GitLabCom).await;
    app.clock.set_ms(sim.clock().unix() * 1_000);
    let key = app.admin.clone();
    let hook = app
        .call(
            "POST",
            "/api/v1/webhooks",
            &key,
            Some(json!({"url": "https://hooks.example/in", "events": ["connection.status_changed"]})),
        )
        .await
        .json();
    let hook_id = hook["webhook"]["id"].as_str().unwrap().to_owned();
    let conn = app
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
    let expiring = app
        .call("POST", &format!("{BASE}/{id}/check"), &key, None)
        .await
        .json();
    assert_eq!(expiring["appConnection"]["status"], "expiring");
    sim.state().revoke_token(DEPLOY);
    let revoked = app
        .call("POST", &format!("{BASE}/{id}/check"), &key, None)
        .await
        .json();
    assert_eq!(revoked["appConnection"]["status"], "revoked");
    let events = app.get(&format!("{BASE}/{id}/events"), Some(&key)).await.json();
    assert_eq!(events["totalCount"], 3);
    assert_eq!(events["events"][0]["toStatus"], "revoked");
    let deliveries = app
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
    let app = TestApp::with_loopback_gitlab().await;
    let html = raw_server(Some(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 21\r\nconnection: close\r\n\r\n<html>sign in</html>\n",
    ))
    .await;
    let hang = raw_server(None).await;
    let reply = app
        .call(
            "POST",
            BASE,
            &app.admin,
            Some(body("a", &html, ALICE, "personal")),
        )
        .await;
    let error = reply.error(400, "BadRequest");
    assert!(
        error["message"].as_str().unwrap().contains("not a GitLab API"),
        "{error}"
    );
    assert_eq!(error["details"][0]["field"], "credentials.instanceUrl");
    let reply = app
        .call(
            "POST",
            BASE,
            &app.admin,
            Some(body("a", &hang, ALICE, "personal")),
        )
        .await;
    let error = reply.error(400, "BadRequest");
    assert!(
        error["message"].as_str().unwrap().contains("timed out"),
        "{error}"
    );
}

#[tokio::test]
async fn ten_thousand_connections_are_listed_page_by_page() {
    let app = TestApp::with_loopback_gitlab().await;
    let sim = sim(Mode::SelfManaged).await;
    app.clock.set_ms(sim.clock().unix() * 1_000);
    let created = app
        .call(
            "POST",
            BASE,
            &app.admin,
            Some(body("seed", sim.url(), ALICE, "personal")),
        )
        .await
        .json();
    let id = created["appConnection"]["id"].as_str().unwrap();
    let base = app.services.store.connection(&app.acme.id, id).await.unwrap();
    let records: Vec<_> = (0..9_999)
        .map(|i| labgate_store::ConnectionRecord {
            id: uuid::Uuid::now_v7().to_string(),
            name: format!("c-{i:05}"),
            created_at: base.created_at + 1 + i64::from(i),
            ..base.clone()
        })
        .collect();
    app.services.store.insert_connections(&records).await.unwrap();
    let page = app
        .get(&format!("{BASE}?offset=9950&limit=100"), Some(&app.admin))
        .await
        .json();
    assert_eq!(page["totalCount"], 10_000);
    assert_eq!(page["appConnections"].as_array().unwrap().len(), 50);
    assert_eq!(page["appConnections"][49]["name"], "c-09998");
    app.get(&format!("{BASE}?limit=101"), Some(&app.admin))
        .await
        .error(400, "BadRequest");
    assert_eq!(
        app.get(BASE, Some(&app.other_admin)).await.json()["totalCount"],
        0
    );
}

#[tokio::test]
async fn listing_errors_are_reported_not_swallowed() {
    let app = TestApp::with_loopback_gitlab().await;
    let sim = sim(Mode::SelfManaged).await;
    app.clock.set_ms(sim.clock().unix() * 1_000);
    let created = app
        .call(
            "POST",
            BASE,
            &app.admin,
            Some(body("p", sim.url(), ALICE, "personal")),
        )
        .await
        .json();
    let id = created["appConnection"]["id"].as_str().unwrap().to_owned();
    sim.state().revoke_token(ALICE);
    for what in ["projects", "groups"] {
        let reply = app.get(&format!("{BASE}/{id}/{what}"), Some(&app.admin)).await;
        let error = reply.error(503, "ServiceUnavailable");
        assert!(error["message"].as_str().unwrap().contains("revoked"), "{error}");
    }
}
