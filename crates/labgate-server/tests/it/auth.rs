use labgate_core::auth::{Actor, KeyRequest};
use labgate_core::jobs::JobSpec;
use labgate_proto::api_keys::Role;
use labgate_server::ServerSettings;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::{ROUTES, TestApp};

fn concrete(path: &str, id: &str) -> String {
    path.replace("{id}", id)
}

#[tokio::test]
async fn every_api_route_requires_a_valid_key() {
    // Enough allowance for the sweep's own failures.
    let settings = ServerSettings {
        auth_failures_per_minute: 1_000,
        ..ServerSettings::default()
    };
    let app = TestApp::with_settings(settings).await;
    let id = uuid::Uuid::now_v7().to_string();
    for (method, path) in ROUTES {
        let path = concrete(path, &id);
        let request = axum::http::Request::builder()
            .method(*method)
            .uri(&path)
            .body(axum::body::Body::empty())
            .unwrap();
        let reply = app.send(request).await;
        reply.error(401, "Unauthorized");
        assert_eq!(reply.headers["www-authenticate"], "Bearer", "{method} {path}");
        for header in ["Basic abc", "Bearer ", "Bearer lgk_not-a-key", "lgk_no-scheme"] {
            let request = axum::http::Request::builder()
                .method(*method)
                .uri(&path)
                .header("authorization", header)
                .body(axum::body::Body::empty())
                .unwrap();
            app.send(request).await.error(401, "Unauthorized");
        }
    }
}

#[tokio::test]
async fn revoked_and_expired_keys_stop_working() {
    let app = TestApp::new().await;
    let key = app.key_for("acme", Role::Reader).await;
    assert_eq!(app.get("/api/v1/jobs", Some(&key)).await.status, 200);
    let listed = app.get("/api/v1/api-keys", Some(&app.admin)).await.json();
    let id = listed["apiKeys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "reader")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = app
        .call("DELETE", &format!("/api/v1/api-keys/{id}"), &app.admin, None)
        .await;
    assert_eq!(revoked.status, 200);
    assert!(revoked.json()["apiKey"]["revokedAt"].is_string());
    let body = app
        .get("/api/v1/jobs", Some(&key))
        .await
        .error(401, "Unauthorized");
    assert!(body["message"].as_str().unwrap().contains("revoked"));

    let created = app
        .call(
            "POST",
            "/api/v1/api-keys",
            &app.admin,
            Some(json!({"name": "short", "role": "reader", "expiresAt": "2027-02-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(created.status, 200);
    let token = created.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/v1/jobs", Some(&token)).await.status, 200);
    app.clock
        .set_ms(labgate_core::timefmt::parse_rfc3339("2027-02-01T00:00:01Z").unwrap());
    let body = app
        .get("/api/v1/jobs", Some(&token))
        .await
        .error(401, "Unauthorized");
    assert!(body["message"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn roles_are_enforced_per_route() {
    let app = TestApp::new().await;
    let id = uuid::Uuid::now_v7().to_string();
    for role in [Role::Member, Role::Reader, Role::CredentialReader] {
        let key = app.key_for("acme", role).await;
        for (method, path) in ROUTES
            .iter()
            .filter(|(_, path)| path.contains("api-keys") || path.contains("audit"))
        {
            let body = (*method == "POST").then(|| json!({"name": "x", "role": "reader"}));
            let reply = app.call(method, &concrete(path, &id), &key, body).await;
            reply.error(403, "Forbidden");
        }
        let jobs = app.get("/api/v1/jobs", Some(&key)).await;
        match role {
            Role::CredentialReader => drop(jobs.error(403, "Forbidden")),
            _ => assert_eq!(jobs.status, 200),
        }
    }
}

#[tokio::test]
async fn other_tenants_resources_are_not_found() {
    let app = TestApp::new().await;
    // A job and an API key that belong to `other`.
    let mut spec = JobSpec::new("diagnostic.probe", json!({}));
    spec.tenant_id = Some(app.other.id.clone());
    let (job, _) = app.services.jobs.enqueue(&spec).await.unwrap();
    let request = KeyRequest {
        name: "theirs",
        role: Role::Reader,
        expires_at: None,
        token: None,
    };
    let key = app
        .services
        .api_keys
        .create(&app.other.id, &Actor::Cli, None, request)
        .await
        .unwrap();
    let key_id = key.view.id.clone();

    assert_eq!(
        app.get(&format!("/api/v1/jobs/{job}"), Some(&app.other_admin))
            .await
            .status,
        200
    );
    app.get(&format!("/api/v1/jobs/{job}"), Some(&app.admin))
        .await
        .error(404, "NotFound");
    app.get(&format!("/api/v1/api-keys/{key_id}"), Some(&app.admin))
        .await
        .error(404, "NotFound");
    app.call("DELETE", &format!("/api/v1/api-keys/{key_id}"), &app.admin, None)
        .await
        .error(404, "NotFound");
    // Not revoked by the failed attempt.
    assert_eq!(
        app.get("/api/v1/jobs", Some(key.token.expose_secret()))
            .await
            .status,
        200
    );
    let jobs = app.get("/api/v1/jobs", Some(&app.admin)).await.json();
    assert_eq!(jobs["totalCount"], 0);
    let keys = app.get("/api/v1/api-keys", Some(&app.admin)).await.json();
    assert!(
        keys["apiKeys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["id"] != key_id.as_str())
    );
}

#[tokio::test]
async fn created_keys_are_shown_once_and_work() {
    let app = TestApp::new().await;
    let reply = app
        .call(
            "POST",
            "/api/v1/api-keys",
            &app.admin,
            Some(json!({"name": "deploy", "role": "member"})),
        )
        .await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    let token = body["token"].as_str().unwrap();
    assert!(token.starts_with("lgk_"));
    assert_eq!(body["apiKey"]["role"], "member");
    assert!(token.starts_with(body["apiKey"]["prefix"].as_str().unwrap()));
    assert_eq!(app.get("/api/v1/jobs", Some(token)).await.status, 200);
    let id = body["apiKey"]["id"].as_str().unwrap();
    let shown = app.get(&format!("/api/v1/api-keys/{id}"), Some(&app.admin)).await;
    assert_eq!(shown.status, 200);
    assert!(!String::from_utf8_lossy(&shown.body).contains(token));
    let listed = app.get("/api/v1/api-keys", Some(&app.admin)).await;
    assert!(!String::from_utf8_lossy(&listed.body).contains(token));
    let audit = app.services.store.recent_audit(&app.acme.id, 10).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "api-key.create" && e.resource_id.as_deref() == Some(id))
    );
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_slowed_down() {
    let settings = ServerSettings {
        auth_failures_per_minute: 5,
        ..ServerSettings::default()
    };
    let app = TestApp::with_settings(settings).await;
    let from = |ip: [u8; 4], key: &str| {
        let mut request = axum::http::Request::get("/api/v1/jobs")
            .header("authorization", format!("Bearer {key}"))
            .body(axum::body::Body::empty())
            .unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((ip, 5555))));
        request
    };
    for _ in 0..5 {
        app.send(from([198, 51, 100, 1], "lgk_wrong"))
            .await
            .error(401, "Unauthorized");
    }
    let reply = app.send(from([198, 51, 100, 1], "lgk_wrong")).await;
    reply.error(429, "TooManyRequests");
    assert!(
        reply.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            <= 60
    );
    // The blocked address is refused even with a good key; others are unaffected.
    app.send(from([198, 51, 100, 1], &app.admin))
        .await
        .error(429, "TooManyRequests");
    assert_eq!(app.send(from([198, 51, 100, 2], &app.admin)).await.status, 200);
}

#[tokio::test]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    let settings = ServerSettings {
        trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        ..ServerSettings::default()
    };
    let app = TestApp::with_settings(settings).await;
    for (peer, expected) in [([10, 0, 0, 5], "203.0.113.7"), ([192, 0, 2, 9], "192.0.2.9")] {
        let mut request = axum::http::Request::post("/api/v1/api-keys")
            .header("authorization", format!("Bearer {}", app.admin))
            .header("content-type", "application/json")
            .header("x-forwarded-for", "203.0.113.7")
            .body(axum::body::Body::from(
                json!({"name": expected, "role": "reader"}).to_string(),
            ))
            .unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                peer, 1234,
            ))));
        assert_eq!(app.send(request).await.status, 200);
        let audit = app.services.store.recent_audit(&app.acme.id, 1).await.unwrap();
        assert_eq!(audit[0].source_ip.as_deref(), Some(expected));
    }
}

#[tokio::test]
async fn tokens_never_reach_the_logs() {
    let app = TestApp::new().await;
    let created = app
        .call(
            "POST",
            "/api/v1/api-keys",
            &app.admin,
            Some(json!({"name": "n", "role": "admin"})),
        )
        .await
        .json();
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["apiKey"]["id"].as_str().unwrap().to_owned();
    let used = app.get("/api/v1/jobs", Some(&token)).await;
    let request_id = used.headers["x-request-id"].to_str().unwrap().to_owned();
    app.get("/api/v1/jobs", Some(&format!("{token}x"))).await;
    app.call(
        "POST",
        "/api/v1/api-keys",
        &token,
        Some(json!({"name": "n", "role": "glpat-leaked-in-body"})),
    )
    .await;
    app.call("DELETE", &format!("/api/v1/api-keys/{id}"), &app.admin, None)
        .await;
    app.get("/api/v1/jobs", Some(&token)).await;

    let logs = crate::captured_logs();
    assert!(logs.contains(&request_id), "request logs are captured");
    for secret in [token.as_str(), app.admin.as_str(), "glpat-leaked-in-body"] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}
