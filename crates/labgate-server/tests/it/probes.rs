use labgate_server::ServerSettings;
use secrecy::SecretString;

use crate::TestApp;

#[tokio::test]
async fn health_and_readiness_are_public() {
    let app = TestApp::new().await;
    let health = app.get("/healthz", None).await;
    assert_eq!(
        (health.status.as_u16(), health.json()["status"].as_str()),
        (200, Some("ok"))
    );
    assert_eq!(health.headers["x-content-type-options"], "nosniff");
    assert!(health.headers.contains_key("x-request-id"));
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 200);
    app.services.store.close().await;
    app.get("/readyz", None).await.error(503, "ServiceUnavailable");
}

#[tokio::test]
async fn metrics_count_requests_and_jobs_and_honour_the_token() {
    let app = TestApp::new().await;
    app.get("/api/v1/jobs", Some(&app.admin)).await;
    app.get("/api/v1/jobs", None).await;
    let text = String::from_utf8(app.get("/metrics", None).await.body).unwrap();
    assert!(
        text.contains("labgate_http_requests_total{method=\"GET\",route=\"/api/v1/jobs\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(text.contains("status=\"401\""));
    assert!(text.contains("labgate_http_request_duration_seconds_bucket"));
    assert!(text.contains("labgate_jobs{state=\"queued\"}"));

    let guarded = ServerSettings {
        metrics_token: Some(SecretString::from("metrics-secret".to_owned())),
        ..ServerSettings::default()
    };
    let app = TestApp::with_settings(guarded).await;
    app.get("/metrics", None).await.error(401, "Unauthorized");
    app.get("/metrics", Some("wrong"))
        .await
        .error(401, "Unauthorized");
    assert_eq!(app.get("/metrics", Some("metrics-secret")).await.status, 200);
}

#[tokio::test]
async fn the_openapi_document_is_public_and_the_checked_in_copy_is_current() {
    let app = TestApp::new().await;
    let reply = app.get("/api/docs/openapi.json", None).await;
    assert_eq!(reply.status, 200);
    let served = reply.json();
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(served["paths"]["/api/v1/jobs"]["get"].is_object());
    assert!(served["components"]["securitySchemes"]["bearer"].is_object());

    let generated = labgate_server::openapi_json();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    if std::env::var("LABGATE_WRITE_OPENAPI").is_ok() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("{generated}\n")).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        checked_in.trim_end(),
        generated.trim_end(),
        "docs/openapi.json is stale: run `LABGATE_WRITE_OPENAPI=1 cargo test -p labgate-server openapi` and commit it"
    );
}
