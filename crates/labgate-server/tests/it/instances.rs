use labgate_proto::api_keys::Role;
use labgate_testkit::{TestEnv, captured_logs};
use serde_json::{Value, json};

const BASE: &str = "/api/v1/gitlab-instances";
const SECRET: &str = "gloas-0123456789abcdefSECRETsecret";
const ROTATED: &str = "gloas-fedcba9876543210ROTATEDrotated";
const SITE: &str = "https://labgate.example/";

fn ca_pem() -> String {
    rcgen::generate_simple_self_signed(vec!["gitlab.internal".to_owned()])
        .unwrap()
        .cert
        .pem()
}

fn instance(reply: &labgate_testkit::Reply) -> Value {
    let text = String::from_utf8_lossy(&reply.body).into_owned();
    assert_eq!(reply.status, 200, "{text}");
    for secret in [SECRET, ROTATED] {
        assert!(!text.contains(secret), "the secret is in an answer: {text}");
    }
    reply.json()["gitlabInstance"].clone()
}

#[tokio::test]
async fn admins_manage_instances_and_the_secret_never_comes_back() {
    let env = TestEnv::builder().site_url(SITE).build().await;
    let pem = ca_pem();
    let created = instance(
        &env.call(
            "POST",
            BASE,
            &env.admin_key,
            Some(json!({
                "url": "https://git.example.com/gitlab/",
                "oauthClientId": "app-1",
                "oauthClientSecret": SECRET,
                "caBundle": pem,
                "proxyUrl": "http://proxy.example:3128",
            })),
        )
        .await,
    );
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["url"], "https://git.example.com/gitlab");
    assert_eq!(created["kind"], "self-managed");
    assert_eq!(created["oauthClientId"], "app-1");
    assert_eq!(created["hasOauthClientSecret"], true);
    assert_eq!(created["caBundle"], pem.as_str());
    assert_eq!(created["proxyUrl"], "http://proxy.example:3128/");
    assert_eq!(
        created["oauthRedirectUri"],
        "https://labgate.example/organization/app-connections/gitlab/oauth/callback"
    );

    let com = instance(
        &env.call(
            "POST",
            BASE,
            &env.admin_key,
            Some(json!({"url": "https://gitlab.com"})),
        )
        .await,
    );
    assert_eq!(
        (com["kind"].as_str(), com["hasOauthClientSecret"].as_bool()),
        (Some("gitlab.com"), Some(false))
    );

    // The same URL twice is refused, whatever its spelling.
    env.call(
        "POST",
        BASE,
        &env.admin_key,
        Some(json!({"url": "https://git.example.com/gitlab"})),
    )
    .await
    .error(409, "Conflict");

    let admin = Some(env.admin_key.as_str());
    let listed = env.get(BASE, admin).await;
    assert!(!String::from_utf8_lossy(&listed.body).contains(SECRET));
    let listed = listed.json();
    assert_eq!(listed["totalCount"], 2);
    assert_eq!(listed["gitlabInstances"][0]["id"], id.as_str());
    assert_eq!(listed["gitlabInstances"][0]["hasOauthClientSecret"], true);
    let shown = instance(&env.get(&format!("{BASE}/{id}"), admin).await);
    assert_eq!(shown, created);

    let patched = instance(
        &env.call(
            "PATCH",
            &format!("{BASE}/{id}"),
            &env.admin_key,
            Some(json!({"oauthClientSecret": ROTATED, "caBundle": null, "proxyUrl": null})),
        )
        .await,
    );
    assert_eq!(
        (
            &patched["caBundle"],
            &patched["proxyUrl"],
            &patched["hasOauthClientSecret"]
        ),
        (&Value::Null, &Value::Null, &json!(true))
    );
    // Without its OAuth application the secret has nothing to belong to.
    env.call(
        "PATCH",
        &format!("{BASE}/{id}"),
        &env.admin_key,
        Some(json!({"oauthClientId": null})),
    )
    .await
    .error(400, "BadRequest");
    let cleared = instance(
        &env.call(
            "PATCH",
            &format!("{BASE}/{id}"),
            &env.admin_key,
            Some(json!({"oauthClientId": null, "oauthClientSecret": null})),
        )
        .await,
    );
    assert_eq!(cleared["hasOauthClientSecret"], false);
    assert_eq!(cleared["oauthClientId"], Value::Null);
    env.call(
        "PATCH",
        &format!("{BASE}/{id}"),
        &env.admin_key,
        Some(json!({"url": "https://gitlab.com"})),
    )
    .await
    .error(409, "Conflict");

    let deleted = instance(
        &env.call("DELETE", &format!("{BASE}/{id}"), &env.admin_key, None)
            .await,
    );
    assert_eq!(deleted["id"], id.as_str());
    env.get(&format!("{BASE}/{id}"), admin)
        .await
        .error(404, "NotFound");

    let audit = env.get("/api/v1/audit-logs", admin).await;
    let text = String::from_utf8_lossy(&audit.body);
    for action in [
        "gitlab-instance.create",
        "gitlab-instance.update",
        "gitlab-instance.delete",
    ] {
        assert!(text.contains(action), "{action}: {text}");
    }
    let logs = captured_logs();
    for secret in [SECRET, ROTATED] {
        assert!(!text.contains(secret), "the secret is in the audit log");
        assert!(!logs.contains(secret), "the secret reached the logs");
    }
}

#[tokio::test]
async fn readers_only_read_and_other_tenants_see_nothing() {
    let env = TestEnv::new().await;
    let created = instance(
        &env.call(
            "POST",
            BASE,
            &env.admin_key,
            Some(json!({"url": "https://git.example.com", "oauthClientId": "app", "oauthClientSecret": SECRET})),
        )
        .await,
    );
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["oauthRedirectUri"],
        Value::Null,
        "no site URL, no redirect URI"
    );

    let reader = env.key("acme", Role::Reader).await;
    let listed = env.get(BASE, Some(&reader)).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json()["totalCount"], 1);
    instance(&env.get(&format!("{BASE}/{id}"), Some(&reader)).await);
    env.call(
        "POST",
        BASE,
        &reader,
        Some(json!({"url": "https://other.example.com"})),
    )
    .await
    .error(403, "Forbidden");
    env.call(
        "PATCH",
        &format!("{BASE}/{id}"),
        &reader,
        Some(json!({"oauthClientId": "x"})),
    )
    .await
    .error(403, "Forbidden");
    env.call("DELETE", &format!("{BASE}/{id}"), &reader, None)
        .await
        .error(403, "Forbidden");

    let other = env.other_admin_key.as_str();
    assert_eq!(env.get(BASE, Some(other)).await.json()["totalCount"], 0);
    env.get(&format!("{BASE}/{id}"), Some(other))
        .await
        .error(404, "NotFound");
    env.call(
        "PATCH",
        &format!("{BASE}/{id}"),
        other,
        Some(json!({"oauthClientId": "x"})),
    )
    .await
    .error(404, "NotFound");
    env.call("DELETE", &format!("{BASE}/{id}"), other, None)
        .await
        .error(404, "NotFound");
    // The other tenant may register the same instance for itself.
    instance(
        &env.call(
            "POST",
            BASE,
            other,
            Some(json!({"url": "https://git.example.com"})),
        )
        .await,
    );
}

#[tokio::test]
async fn bad_input_names_its_field_and_never_echoes_the_secret() {
    let env = TestEnv::new().await;
    let cases = [
        ("plain http", json!({"url": "http://git.example.com"}), "url"),
        ("internal address", json!({"url": "https://10.0.0.1"}), "url"),
        (
            "credentials in url",
            json!({"url": "https://u:p@git.example.com"}),
            "url",
        ),
        ("query", json!({"url": "https://git.example.com?x=1"}), "url"),
        (
            "kind",
            json!({"url": "https://git.example.com", "kind": "gitlab.com"}),
            "kind",
        ),
        (
            "unknown kind",
            json!({"url": "https://git.example.com", "kind": "cloud"}),
            "kind",
        ),
        (
            "not pem",
            json!({"url": "https://git.example.com", "caBundle": "hello"}),
            "caBundle",
        ),
        (
            "broken pem",
            json!({"url": "https://git.example.com",
                   "caBundle": "-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----\n"}),
            "caBundle",
        ),
        (
            "socks proxy",
            json!({"url": "https://git.example.com", "proxyUrl": "socks5://p:1080"}),
            "proxyUrl",
        ),
        (
            "bare proxy",
            json!({"url": "https://git.example.com", "proxyUrl": "proxy:3128"}),
            "proxyUrl",
        ),
        (
            "proxy credentials",
            json!({"url": "https://git.example.com", "proxyUrl": "http://u:pw@proxy:3128"}),
            "proxyUrl",
        ),
        (
            "secret without client id",
            json!({"url": "https://git.example.com", "oauthClientSecret": SECRET}),
            "oauthClientSecret",
        ),
    ];
    for (case, body, field) in cases {
        let reply = env.call("POST", BASE, &env.admin_key, Some(body)).await;
        let text = String::from_utf8_lossy(&reply.body).into_owned();
        let error = reply.error(400, "BadRequest");
        assert_eq!(error["details"][0]["field"], field, "{case}: {text}");
        assert!(!text.contains(SECRET), "{case}: the secret is echoed: {text}");
    }
    let created = instance(
        &env.call(
            "POST",
            BASE,
            &env.admin_key,
            Some(json!({"url": "https://git.example.com"})),
        )
        .await,
    );
    let path = format!("{BASE}/{}", created["id"].as_str().unwrap());
    let reply = env
        .call("PATCH", &path, &env.admin_key, Some(json!({"caBundle": "nope"})))
        .await;
    assert_eq!(reply.error(400, "BadRequest")["details"][0]["field"], "caBundle");
    env.get(&format!("{BASE}/not-an-id"), Some(&env.admin_key))
        .await
        .error(404, "NotFound");
    assert!(!captured_logs().contains(SECRET));
}
