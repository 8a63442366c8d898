use labgate_core::auth::{Actor, KeyRequest};
use labgate_core::jobs::{JobKind, JobSpec};
use labgate_proto::api_keys::Role;
use labgate_proto::audit::{AuditAction, AuditLogQuery, AuditLogView};
use labgate_server::ServerSettings;
use labgate_testkit::TestEnv;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::{ROUTES, concrete};

/// The newest audit entries of tenant `acme`, newest first.
async fn recent_audit(env: &TestEnv, limit: u32) -> Vec<AuditLogView> {
    env.services
        .audit
        .list(&env.admin, &AuditLogQuery::default(), limit)
        .await
        .unwrap()
        .audit_logs
}

#[tokio::test]
async fn every_api_route_requires_a_valid_key() {
    // Enough allowance for the sweep's own failures.
    let settings = ServerSettings {
        auth_failures_per_minute: 1_000,
        ..ServerSettings::default()
    };
    let env = TestEnv::builder().server_settings(settings).build().await;
    let id = uuid::Uuid::now_v7().to_string();
    for (method, path) in ROUTES {
        let path = concrete(path, &id);
        let request = axum::http::Request::builder()
            .method(*method)
            .uri(&path)
            .body(axum::body::Body::empty())
            .unwrap();
        let reply = env.send(request).await;
        reply.error(401, "Unauthorized");
        assert_eq!(reply.headers["www-authenticate"], "Bearer", "{method} {path}");
        for header in ["Basic abc", "Bearer ", "Bearer lgk_not-a-key", "lgk_no-scheme"] {
            let request = axum::http::Request::builder()
                .method(*method)
                .uri(&path)
                .header("authorization", header)
                .body(axum::body::Body::empty())
                .unwrap();
            env.send(request).await.error(401, "Unauthorized");
        }
    }
}

#[tokio::test]
async fn revoked_and_expired_keys_stop_working() {
    let env = TestEnv::new().await;
    let key = env.key("acme", Role::Reader).await;
    assert_eq!(env.get("/api/v1/jobs", Some(&key)).await.status, 200);
    let listed = env.get("/api/v1/api-keys", Some(&env.admin_key)).await.json();
    let id = listed["apiKeys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "reader")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = env
        .call("DELETE", &format!("/api/v1/api-keys/{id}"), &env.admin_key, None)
        .await;
    assert_eq!(revoked.status, 200);
    assert!(revoked.json()["apiKey"]["revokedAt"].is_string());
    let body = env
        .get("/api/v1/jobs", Some(&key))
        .await
        .error(401, "Unauthorized");
    assert!(body["message"].as_str().unwrap().contains("revoked"));

    let created = env
        .call(
            "POST",
            "/api/v1/api-keys",
            &env.admin_key,
            Some(json!({"name": "short", "role": "reader", "expiresAt": "2027-02-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(created.status, 200);
    let token = created.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(env.get("/api/v1/jobs", Some(&token)).await.status, 200);
    let after_expiry = labgate_core::timefmt::parse_time("2027-02-01T00:00:01Z").unwrap();
    env.clock.set_ms(after_expiry.unix_timestamp() * 1_000);
    let body = env
        .get("/api/v1/jobs", Some(&token))
        .await
        .error(401, "Unauthorized");
    assert!(body["message"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn revocation_by_another_process_takes_effect_within_the_key_cache_ttl() {
    let env = TestEnv::new().await;
    let key = env.key("acme", Role::Reader).await;
    assert_eq!(env.get("/api/v1/jobs", Some(&key)).await.status, 200);
    let id = match env.principal(&key).await.actor {
        Actor::ApiKey { id } => id,
        other => panic!("an API key authenticates as an API key, not {other:?}"),
    };
    // Another replica (or the CLI): its own services, and so its own key cache, on the same
    // database and clock.
    let elsewhere =
        labgate_core::Services::new(env.store.clone(), env.services.vault.clone(), env.clock.clone());
    elsewhere
        .api_keys
        .revoke_in(&env.tenant.id, &Actor::Cli, None, &id)
        .await
        .unwrap();
    let ttl = i64::try_from(labgate_core::auth::CACHE_TTL.whole_milliseconds()).unwrap();
    env.clock.advance_ms(ttl - 1);
    assert_eq!(
        env.get("/api/v1/jobs", Some(&key)).await.status,
        200,
        "the cached key is trusted for the cache's lifetime"
    );
    env.clock.advance_ms(1);
    let body = env
        .get("/api/v1/jobs", Some(&key))
        .await
        .error(401, "Unauthorized");
    assert!(body["message"].as_str().unwrap().contains("revoked"));
}

#[tokio::test]
async fn roles_are_enforced_per_route() {
    let env = TestEnv::new().await;
    let id = uuid::Uuid::now_v7().to_string();
    for role in [Role::Member, Role::Reader, Role::CredentialReader] {
        let key = env.key("acme", role).await;
        for (method, path) in ROUTES
            .iter()
            .filter(|(_, path)| path.contains("api-keys") || path.contains("audit"))
        {
            let body = (*method == "POST").then(|| json!({"name": "x", "role": "reader"}));
            let reply = env.call(method, &concrete(path, &id), &key, body).await;
            reply.error(403, "Forbidden");
        }
        let jobs = env.get("/api/v1/jobs", Some(&key)).await;
        match role {
            Role::CredentialReader => drop(jobs.error(403, "Forbidden")),
            _ => assert_eq!(jobs.status, 200),
        }
    }
}

#[tokio::test]
async fn other_tenants_resources_are_not_found() {
    let env = TestEnv::new().await;
    // A job and an API key that belong to `other`.
    let mut spec = JobSpec::new(JobKind::DiagnosticProbe, json!({}));
    spec.tenant_id = Some(env.other_tenant.id.clone());
    let (job, _) = env.services.jobs.enqueue(&spec).await.unwrap();
    let request = KeyRequest {
        name: "theirs",
        role: Role::Reader,
        expires_at: None,
        token: None,
    };
    let key = env
        .services
        .api_keys
        .create(&env.other_tenant.id, &Actor::Cli, None, request)
        .await
        .unwrap();
    let key_id = key.view.id.clone();

    assert_eq!(
        env.get(&format!("/api/v1/jobs/{job}"), Some(&env.other_admin_key))
            .await
            .status,
        200
    );
    env.get(&format!("/api/v1/jobs/{job}"), Some(&env.admin_key))
        .await
        .error(404, "NotFound");
    env.get(&format!("/api/v1/api-keys/{key_id}"), Some(&env.admin_key))
        .await
        .error(404, "NotFound");
    env.call(
        "DELETE",
        &format!("/api/v1/api-keys/{key_id}"),
        &env.admin_key,
        None,
    )
    .await
    .error(404, "NotFound");
    // Not revoked by the failed attempt.
    assert_eq!(
        env.get("/api/v1/jobs", Some(key.token.expose_secret()))
            .await
            .status,
        200
    );
    let jobs = env.get("/api/v1/jobs", Some(&env.admin_key)).await.json();
    assert_eq!(jobs["totalCount"], 0);
    let keys = env.get("/api/v1/api-keys", Some(&env.admin_key)).await.json();
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
    let env = TestEnv::new().await;
    let reply = env
        .call(
            "POST",
            "/api/v1/api-keys",
            &env.admin_key,
            Some(json!({"name": "deploy", "role": "member"})),
        )
        .await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    let token = body["token"].as_str().unwrap();
    assert!(token.starts_with("lgk_"));
    assert_eq!(body["apiKey"]["role"], "member");
    assert!(token.starts_with(body["apiKey"]["prefix"].as_str().unwrap()));
    assert_eq!(env.get("/api/v1/jobs", Some(token)).await.status, 200);
    let id = body["apiKey"]["id"].as_str().unwrap();
    let shown = env
        .get(&format!("/api/v1/api-keys/{id}"), Some(&env.admin_key))
        .await;
    assert_eq!(shown.status, 200);
    assert!(!String::from_utf8_lossy(&shown.body).contains(token));
    let listed = env.get("/api/v1/api-keys", Some(&env.admin_key)).await;
    assert!(!String::from_utf8_lossy(&listed.body).contains(token));
    let audit = recent_audit(&env, 10).await;
    assert!(
        audit
            .iter()
            .any(|e| e.action == AuditAction::ApiKeyCreate && e.resource_id.as_deref() == Some(id))
    );
}

/// A request from `ip`, with `authorization` as its header when there is one.
fn from(ip: [u8; 4], authorization: Option<&str>) -> axum::http::Request<axum::body::Body> {
    let mut request = axum::http::Request::get("/api/v1/jobs");
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let mut request = request.body(axum::body::Body::empty()).unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((ip, 5555))));
    request
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_slowed_down_but_valid_keys_pass() {
    let settings = ServerSettings {
        auth_failures_per_minute: 5,
        ..ServerSettings::default()
    };
    let env = TestEnv::builder().server_settings(settings).build().await;
    let wrong = Some("Bearer lgk_wrong");
    let admin = format!("Bearer {}", env.admin_key);
    let admin = Some(admin.as_str());
    for _ in 0..5 {
        env.send(from([198, 51, 100, 1], wrong))
            .await
            .error(401, "Unauthorized");
    }
    let reply = env.send(from([198, 51, 100, 1], wrong)).await;
    reply.error(429, "TooManyRequests");
    assert_eq!(reply.headers["retry-after"], "60");
    // A valid key from the braked address passes at once, and does not lift the brake.
    assert_eq!(env.send(from([198, 51, 100, 1], admin)).await.status, 200);
    env.send(from([198, 51, 100, 1], wrong))
        .await
        .error(429, "TooManyRequests");
    env.send(from([198, 51, 100, 2], wrong))
        .await
        .error(401, "Unauthorized");
    // The window runs on the injected clock: still closed a second before its end, open after.
    env.clock.advance_ms(59_000);
    let reply = env.send(from([198, 51, 100, 1], wrong)).await;
    reply.error(429, "TooManyRequests");
    assert_eq!(reply.headers["retry-after"], "1");
    assert_eq!(env.send(from([198, 51, 100, 1], admin)).await.status, 200);
    env.clock.advance_ms(1_000);
    env.send(from([198, 51, 100, 1], wrong))
        .await
        .error(401, "Unauthorized");
}

#[tokio::test]
async fn only_unknown_and_revoked_keys_count_against_an_address() {
    let settings = ServerSettings {
        auth_failures_per_minute: 3,
        ..ServerSettings::default()
    };
    let env = TestEnv::builder().server_settings(settings).build().await;
    let ip = [198, 51, 100, 7];
    let revoked = env.key("acme", Role::Reader).await;
    let id = match env.principal(&revoked).await.actor {
        Actor::ApiKey { id } => id,
        other => panic!("an API key authenticates as an API key, not {other:?}"),
    };
    env.services.api_keys.revoke(&env.admin, &id).await.unwrap();
    let revoked = format!("Bearer {revoked}");

    // Requests without credentials, or with a header that is not a bearer key, guess nothing.
    for _ in 0..10 {
        let reply = env.send(from(ip, None)).await;
        reply.error(401, "Unauthorized");
        assert_eq!(reply.headers["www-authenticate"], "Bearer");
        env.send(from(ip, Some("Basic abc")))
            .await
            .error(401, "Unauthorized");
    }
    for header in ["Bearer lgk_wrong", revoked.as_str(), "Bearer lgk_wrong"] {
        env.send(from(ip, Some(header))).await.error(401, "Unauthorized");
    }
    for header in [revoked.as_str(), "Bearer lgk_wrong"] {
        env.send(from(ip, Some(header)))
            .await
            .error(429, "TooManyRequests");
    }
    // Over the allowance, a request without credentials is still told it needs them.
    let reply = env.send(from(ip, None)).await;
    reply.error(401, "Unauthorized");
    assert!(reply.headers.get("retry-after").is_none());
}

#[tokio::test]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    let settings = ServerSettings {
        trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        ..ServerSettings::default()
    };
    let env = TestEnv::builder().server_settings(settings).build().await;
    for (peer, expected) in [([10, 0, 0, 5], "203.0.113.7"), ([192, 0, 2, 9], "192.0.2.9")] {
        let mut request = axum::http::Request::post("/api/v1/api-keys")
            .header("authorization", format!("Bearer {}", env.admin_key))
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
        assert_eq!(env.send(request).await.status, 200);
        let audit = recent_audit(&env, 1).await;
        assert_eq!(audit[0].source_ip.as_deref(), Some(expected));
    }
}

#[tokio::test]
async fn tokens_never_reach_the_logs() {
    let env = TestEnv::new().await;
    let created = env
        .call(
            "POST",
            "/api/v1/api-keys",
            &env.admin_key,
            Some(json!({"name": "n", "role": "admin"})),
        )
        .await
        .json();
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["apiKey"]["id"].as_str().unwrap().to_owned();
    let used = env.get("/api/v1/jobs", Some(&token)).await;
    let request_id = used.headers["x-request-id"].to_str().unwrap().to_owned();
    env.get("/api/v1/jobs", Some(&format!("{token}x"))).await;
    env.call(
        "POST",
        "/api/v1/api-keys",
        &token,
        Some(json!({"name": "n", "role": "glpat-leaked-in-body"})),
    )
    .await;
    env.call("DELETE", &format!("/api/v1/api-keys/{id}"), &env.admin_key, None)
        .await;
    env.get("/api/v1/jobs", Some(&token)).await;

    let logs = labgate_testkit::captured_logs();
    assert!(logs.contains(&request_id), "request logs are captured");
    for secret in [token.as_str(), env.admin_key.as_str(), "glpat-leaked-in-body"] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}
