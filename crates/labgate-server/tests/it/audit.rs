use labgate_core::clock::Clock;
use labgate_core::timefmt::format_time;
use labgate_testkit::TestEnv;
use serde_json::json;

#[tokio::test]
async fn the_audit_log_lists_the_tenants_actions_with_filters() {
    let env = TestEnv::new().await;
    let created = env
        .call(
            "POST",
            "/api/v1/api-keys",
            &env.admin_key,
            Some(json!({"name": "ci", "role": "reader"})),
        )
        .await
        .json();
    let id = created["apiKey"]["id"].as_str().unwrap().to_owned();
    let start = env.clock.now();
    env.clock.advance_ms(60_000);
    env.call("DELETE", &format!("/api/v1/api-keys/{id}"), &env.admin_key, None)
        .await;
    // Something in the other tenant that acme must not see.
    env.call(
        "POST",
        "/api/v1/api-keys",
        &env.other_admin_key,
        Some(json!({"name": "theirs", "role": "reader"})),
    )
    .await;

    let key = Some(env.admin_key.as_str());
    let all = env.get("/api/v1/audit-logs", key).await.json();
    let actions: Vec<&str> = all["auditLogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.first(), Some(&"api-key.revoke"), "{actions:?}");
    assert!(
        all["auditLogs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["details"]["name"] != "theirs")
    );
    let revoke = &all["auditLogs"][0];
    assert_eq!(revoke["resourceId"], id.as_str());
    assert_eq!(revoke["actor"]["kind"], "api-key");
    assert_eq!(revoke["sourceIp"], "127.0.0.1");

    let filtered = env
        .get(
            &format!("/api/v1/audit-logs?action=api-key.create&resourceId={id}"),
            key,
        )
        .await
        .json();
    assert_eq!(filtered["totalCount"], 1);
    assert_eq!(
        filtered["auditLogs"][0]["details"],
        json!({"name": "ci", "role": "reader"})
    );
    let since = format_time(start + time::Duration::seconds(30));
    let recent = env
        .get(&format!("/api/v1/audit-logs?since={since}"), key)
        .await
        .json();
    assert_eq!(recent["totalCount"], 1);
    let until = env
        .get(&format!("/api/v1/audit-logs?until={since}&limit=1"), key)
        .await
        .json();
    assert_eq!(until["auditLogs"].as_array().unwrap().len(), 1);
    assert!(until["totalCount"].as_u64().unwrap() >= 2);

    let body = env
        .get("/api/v1/audit-logs?since=yesterday", key)
        .await
        .error(400, "BadRequest");
    assert_eq!(body["details"][0]["field"], "since");
}
