use labgate_proto::api_keys::Role;
use serde_json::json;

use crate::TestApp;

fn hook(url: &str) -> serde_json::Value {
    json!({"url": url, "description": "ops", "events": ["connection.status_changed"]})
}

#[tokio::test]
async fn subscriptions_show_the_secret_once_and_stay_in_their_tenant() {
    let app = TestApp::new().await;
    let created = app
        .call(
            "POST",
            "/api/v1/webhooks",
            &app.admin,
            Some(hook("https://hooks.example/a")),
        )
        .await;
    assert_eq!(created.status, 200, "{}", String::from_utf8_lossy(&created.body));
    let body = created.json();
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 32);
    let id = body["webhook"]["id"].as_str().unwrap().to_owned();
    assert_eq!(body["webhook"]["events"], json!(["connection.status_changed"]));
    assert_eq!(body["webhook"]["enabled"], true);

    let key = Some(app.admin.as_str());
    for path in [format!("/api/v1/webhooks/{id}"), "/api/v1/webhooks".to_owned()] {
        let reply = app.get(&path, key).await;
        assert_eq!(reply.status, 200);
        assert!(
            !String::from_utf8_lossy(&reply.body).contains(&secret),
            "the secret is shown only once"
        );
    }
    let patched = app
        .call(
            "PATCH",
            &format!("/api/v1/webhooks/{id}"),
            &app.admin,
            Some(json!({"enabled": false, "description": null})),
        )
        .await
        .json();
    assert_eq!(
        (
            patched["webhook"]["enabled"].as_bool(),
            patched["webhook"]["description"].is_null()
        ),
        (Some(false), true)
    );

    // Another tenant sees none of it.
    let other = Some(app.other_admin.as_str());
    app.get(&format!("/api/v1/webhooks/{id}"), other)
        .await
        .error(404, "NotFound");
    app.get(&format!("/api/v1/webhooks/{id}/deliveries"), other)
        .await
        .error(404, "NotFound");
    app.call(
        "POST",
        &format!("/api/v1/webhooks/{id}/test"),
        &app.other_admin,
        None,
    )
    .await
    .error(404, "NotFound");
    app.call(
        "PATCH",
        &format!("/api/v1/webhooks/{id}"),
        &app.other_admin,
        Some(json!({"enabled": true})),
    )
    .await
    .error(404, "NotFound");
    app.call(
        "DELETE",
        &format!("/api/v1/webhooks/{id}"),
        &app.other_admin,
        None,
    )
    .await
    .error(404, "NotFound");
    assert_eq!(app.get("/api/v1/webhooks", other).await.json()["totalCount"], 0);

    let test = app
        .call("POST", &format!("/api/v1/webhooks/{id}/test"), &app.admin, None)
        .await
        .json();
    assert_eq!(test["delivery"]["eventType"], "webhook.test");
    assert_eq!(test["delivery"]["state"], "pending");
    let deliveries = app
        .get(&format!("/api/v1/webhooks/{id}/deliveries"), key)
        .await
        .json();
    assert_eq!(deliveries["totalCount"], 1);

    let deleted = app
        .call("DELETE", &format!("/api/v1/webhooks/{id}"), &app.admin, None)
        .await;
    assert_eq!(deleted.status, 200);
    app.get(&format!("/api/v1/webhooks/{id}"), key)
        .await
        .error(404, "NotFound");
    let audit = app
        .get("/api/v1/audit-logs?resourceKind=webhook", key)
        .await
        .json();
    let actions: Vec<&str> = audit["auditLogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["webhook.delete", "webhook.update", "webhook.create"]);
}

#[tokio::test]
async fn only_admins_change_subscriptions() {
    let app = TestApp::new().await;
    let id = app
        .call(
            "POST",
            "/api/v1/webhooks",
            &app.admin,
            Some(hook("https://hooks.example/a")),
        )
        .await
        .json()["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for role in [Role::Member, Role::Reader] {
        let key = app.key_for("acme", role).await;
        assert_eq!(app.get("/api/v1/webhooks", Some(&key)).await.status, 200);
        assert_eq!(
            app.get(&format!("/api/v1/webhooks/{id}/deliveries"), Some(&key))
                .await
                .status,
            200
        );
        app.call("POST", "/api/v1/webhooks", &key, Some(hook("https://x.example")))
            .await
            .error(403, "Forbidden");
        app.call(
            "PATCH",
            &format!("/api/v1/webhooks/{id}"),
            &key,
            Some(json!({"enabled": false})),
        )
        .await
        .error(403, "Forbidden");
        app.call("DELETE", &format!("/api/v1/webhooks/{id}"), &key, None)
            .await
            .error(403, "Forbidden");
        app.call("POST", &format!("/api/v1/webhooks/{id}/test"), &key, None)
            .await
            .error(403, "Forbidden");
    }
    let reader = app.key_for("acme", Role::CredentialReader).await;
    app.get("/api/v1/webhooks", Some(&reader))
        .await
        .error(403, "Forbidden");
}

#[tokio::test]
async fn bad_subscriptions_are_refused_with_the_field() {
    let app = TestApp::new().await;
    for (body, field) in [
        (json!({"url": "ftp://x.example"}), "url"),
        (json!({"url": "https://user:pw@x.example/"}), "url"),
        (json!({"url": "not a url"}), "url"),
        (json!({"url": "http://hooks.example/plain"}), "url"),
        (json!({"url": "https://127.0.0.1/hook"}), "url"),
        (json!({"url": "https://169.254.169.254/latest"}), "url"),
        (json!({"url": "https://x.example", "events": []}), "events"),
        (
            json!({"url": "https://x.example", "events": ["everything"]}),
            "events",
        ),
        (json!({"url": "https://x.example", "secret": "short"}), "secret"),
        (
            json!({"url": "https://x.example", "description": "d".repeat(257)}),
            "description",
        ),
    ] {
        let reply = app.call("POST", "/api/v1/webhooks", &app.admin, Some(body)).await;
        let error = reply.error(400, "BadRequest");
        assert_eq!(error["details"][0]["field"], field);
        // A refused secret is never echoed.
        assert!(!String::from_utf8_lossy(&reply.body).contains("\"short\""));
    }
    app.call(
        "POST",
        "/api/v1/webhooks",
        &app.admin,
        Some(json!({"url": "https://x.example", "extra": 1})),
    )
    .await
    .error(400, "BadRequest");
    app.call("POST", "/api/v1/webhooks", &app.admin, Some(json!({})))
        .await
        .error(400, "BadRequest");
    assert_eq!(
        app.get("/api/v1/webhooks", Some(&app.admin)).await.json()["totalCount"],
        0
    );
}
