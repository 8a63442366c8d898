use labgate_proto::api_keys::Role;
use labgate_testkit::TestEnv;
use serde_json::json;

fn hook(url: &str) -> serde_json::Value {
    json!({"url": url, "description": "ops", "events": ["connection.status_changed"]})
}

#[tokio::test]
async fn subscriptions_show_the_secret_once_and_stay_in_their_tenant() {
    let env = TestEnv::new().await;
    let created = env
        .call(
            "POST",
            "/api/v1/webhooks",
            &env.admin_key,
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

    let key = Some(env.admin_key.as_str());
    for path in [format!("/api/v1/webhooks/{id}"), "/api/v1/webhooks".to_owned()] {
        let reply = env.get(&path, key).await;
        assert_eq!(reply.status, 200);
        assert!(
            !String::from_utf8_lossy(&reply.body).contains(&secret),
            "the secret is shown only once"
        );
    }
    let patched = env
        .call(
            "PATCH",
            &format!("/api/v1/webhooks/{id}"),
            &env.admin_key,
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
    let other = Some(env.other_admin_key.as_str());
    env.get(&format!("/api/v1/webhooks/{id}"), other)
        .await
        .error(404, "NotFound");
    env.get(&format!("/api/v1/webhooks/{id}/deliveries"), other)
        .await
        .error(404, "NotFound");
    env.call(
        "POST",
        &format!("/api/v1/webhooks/{id}/test"),
        &env.other_admin_key,
        None,
    )
    .await
    .error(404, "NotFound");
    env.call(
        "PATCH",
        &format!("/api/v1/webhooks/{id}"),
        &env.other_admin_key,
        Some(json!({"enabled": true})),
    )
    .await
    .error(404, "NotFound");
    env.call(
        "DELETE",
        &format!("/api/v1/webhooks/{id}"),
        &env.other_admin_key,
        None,
    )
    .await
    .error(404, "NotFound");
    assert_eq!(env.get("/api/v1/webhooks", other).await.json()["totalCount"], 0);

    let test = env
        .call(
            "POST",
            &format!("/api/v1/webhooks/{id}/test"),
            &env.admin_key,
            None,
        )
        .await
        .json();
    assert_eq!(test["delivery"]["eventType"], "webhook.test");
    assert_eq!(test["delivery"]["state"], "pending");
    let deliveries = env
        .get(&format!("/api/v1/webhooks/{id}/deliveries"), key)
        .await
        .json();
    assert_eq!(deliveries["totalCount"], 1);

    let deleted = env
        .call("DELETE", &format!("/api/v1/webhooks/{id}"), &env.admin_key, None)
        .await;
    assert_eq!(deleted.status, 200);
    env.get(&format!("/api/v1/webhooks/{id}"), key)
        .await
        .error(404, "NotFound");
    let audit = env
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
    let env = TestEnv::new().await;
    let id = env
        .call(
            "POST",
            "/api/v1/webhooks",
            &env.admin_key,
            Some(hook("https://hooks.example/a")),
        )
        .await
        .json()["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for role in [Role::Member, Role::Reader] {
        let key = env.key("acme", role).await;
        assert_eq!(env.get("/api/v1/webhooks", Some(&key)).await.status, 200);
        assert_eq!(
            env.get(&format!("/api/v1/webhooks/{id}/deliveries"), Some(&key))
                .await
                .status,
            200
        );
        env.call("POST", "/api/v1/webhooks", &key, Some(hook("https://x.example")))
            .await
            .error(403, "Forbidden");
        env.call(
            "PATCH",
            &format!("/api/v1/webhooks/{id}"),
            &key,
            Some(json!({"enabled": false})),
        )
        .await
        .error(403, "Forbidden");
        env.call("DELETE", &format!("/api/v1/webhooks/{id}"), &key, None)
            .await
            .error(403, "Forbidden");
        env.call("POST", &format!("/api/v1/webhooks/{id}/test"), &key, None)
            .await
            .error(403, "Forbidden");
    }
    let reader = env.key("acme", Role::CredentialReader).await;
    env.get("/api/v1/webhooks", Some(&reader))
        .await
        .error(403, "Forbidden");
}

#[tokio::test]
async fn bad_subscriptions_are_refused_with_the_field() {
    let env = TestEnv::new().await;
    let cases = [
        ("ftp scheme", json!({"url": "ftp://x.example"}), "url"),
        (
            "credentials in the url",
            json!({"url": "https://user:pw@x.example/"}),
            "url",
        ),
        ("not a url", json!({"url": "not a url"}), "url"),
        ("plain http", json!({"url": "http://hooks.example/plain"}), "url"),
        ("loopback", json!({"url": "https://127.0.0.1/hook"}), "url"),
        (
            "link-local metadata",
            json!({"url": "https://169.254.169.254/latest"}),
            "url",
        ),
        (
            "no events",
            json!({"url": "https://x.example", "events": []}),
            "events",
        ),
        (
            "unknown event",
            json!({"url": "https://x.example", "events": ["everything"]}),
            "events",
        ),
        (
            "short secret",
            json!({"url": "https://x.example", "secret": "short"}),
            "secret",
        ),
        (
            "long description",
            json!({"url": "https://x.example", "description": "d".repeat(257)}),
            "description",
        ),
    ];
    for (case, body, field) in cases {
        let reply = env
            .call("POST", "/api/v1/webhooks", &env.admin_key, Some(body))
            .await;
        let text = String::from_utf8_lossy(&reply.body).into_owned();
        assert_eq!(reply.status, 400, "{case}: {text}");
        let error = reply.error(400, "BadRequest");
        assert_eq!(error["details"][0]["field"], field, "{case}: {text}");
        // A refused secret is never echoed.
        assert!(
            !text.contains("\"short\""),
            "{case}: the secret is echoed: {text}"
        );
    }
    env.call(
        "POST",
        "/api/v1/webhooks",
        &env.admin_key,
        Some(json!({"url": "https://x.example", "extra": 1})),
    )
    .await
    .error(400, "BadRequest");
    env.call("POST", "/api/v1/webhooks", &env.admin_key, Some(json!({})))
        .await
        .error(400, "BadRequest");
    assert_eq!(
        env.get("/api/v1/webhooks", Some(&env.admin_key)).await.json()["totalCount"],
        0
    );
}

#[tokio::test]
async fn only_admins_see_a_subscriber_url_whole() {
    let env = TestEnv::new().await;
    let url = "https://hooks.slack.com/services/T0001/B0001/XXXXXXXXSECRET";
    let id = env
        .call("POST", "/api/v1/webhooks", &env.admin_key, Some(hook(url)))
        .await
        .json()["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let port = env
        .call(
            "POST",
            "/api/v1/webhooks",
            &env.admin_key,
            Some(hook("https://hooks.example:8443/in?token=XXXXXXXXSECRET")),
        )
        .await
        .json()["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = Some(env.admin_key.as_str());
    assert_eq!(
        env.get(&format!("/api/v1/webhooks/{id}"), admin).await.json()["webhook"]["url"],
        url
    );
    for role in [Role::Reader, Role::Member] {
        let key = env.key("acme", role).await;
        let shown = env.get(&format!("/api/v1/webhooks/{id}"), Some(&key)).await;
        assert_eq!(
            shown.json()["webhook"]["url"],
            "https://hooks.slack.com/…",
            "{role}"
        );
        let shown = env.get(&format!("/api/v1/webhooks/{port}"), Some(&key)).await;
        assert_eq!(
            shown.json()["webhook"]["url"],
            "https://hooks.example:8443/…",
            "{role}"
        );
        let listed = env.get("/api/v1/webhooks", Some(&key)).await;
        assert_eq!(listed.json()["totalCount"], 2);
        assert!(
            !String::from_utf8_lossy(&listed.body).contains("SECRET"),
            "{role}: {}",
            String::from_utf8_lossy(&listed.body)
        );
    }
    let audit = env.get("/api/v1/audit-logs?action=webhook.create", admin).await;
    let text = String::from_utf8_lossy(&audit.body);
    assert!(!text.contains("SECRET"), "{text}");
    let audit = audit.json();
    let urls: Vec<&str> = audit["auditLogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["details"]["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        ["https://hooks.example:8443/…", "https://hooks.slack.com/…"]
    );
}
