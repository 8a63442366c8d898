use serde_json::json;

use crate::TestApp;

#[tokio::test]
async fn the_audit_log_lists_the_tenants_actions_with_filters() {
    let app = TestApp::new().await;
    let created = app
        .call(
            "POST",
            "/api/v1/api-keys",
            &app.admin,
            Some(json!({"name": "ci", "role": "reader"})),
        )
        .await
        .json();
    let id = created["apiKey"]["id"].as_str().unwrap().to_owned();
    app.clock.advance_ms(60_000);
    app.call("DELETE", &format!("/api/v1/api-keys/{id}"), &app.admin, None)
        .await;
    // Something in the other tenant that acme must not see.
    app.call(
        "POST",
        "/api/v1/api-keys",
        &app.other_admin,
        Some(json!({"name": "theirs", "role": "reader"})),
    )
    .await;

    let key = Some(app.admin.as_str());
    let all = app.get("/api/v1/audit-logs", key).await.json();
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

    let filtered = app
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
    let since = labgate_core::timefmt::to_rfc3339(crate::NOW_MS + 30_000);
    let recent = app
        .get(&format!("/api/v1/audit-logs?since={since}"), key)
        .await
        .json();
    assert_eq!(recent["totalCount"], 1);
    let until = app
        .get(&format!("/api/v1/audit-logs?until={since}&limit=1"), key)
        .await
        .json();
    assert_eq!(until["auditLogs"].as_array().unwrap().len(), 1);
    assert!(until["totalCount"].as_u64().unwrap() >= 2);

    let body = app
        .get("/api/v1/audit-logs?since=yesterday", key)
        .await
        .error(400, "BadRequest");
    assert_eq!(body["details"][0]["field"], "since");
}
