use labgate_server::{AppState, ServerSettings};
use labgate_testkit::TestEnv;
use secrecy::SecretString;

#[tokio::test]
async fn health_and_readiness_are_public() {
    let env = TestEnv::new().await;
    let health = env.get("/healthz", None).await;
    assert_eq!(
        (health.status.as_u16(), health.json()["status"].as_str()),
        (200, Some("ok"))
    );
    assert_eq!(health.headers["x-content-type-options"], "nosniff");
    assert!(health.headers.contains_key("x-request-id"));
    let ready = env.get("/readyz", None).await;
    assert_eq!(ready.status, 200);
    env.services.close().await;
    env.get("/readyz", None).await.error(503, "ServiceUnavailable");
}

#[tokio::test]
async fn metrics_count_requests_and_jobs_and_honour_the_token() {
    let mut env = TestEnv::new().await;
    env.get("/api/v1/jobs", Some(&env.admin_key)).await;
    env.get("/api/v1/jobs", None).await;
    let text = String::from_utf8(env.get("/metrics", None).await.body).unwrap();
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
    env.app = AppState::new(env.services.clone(), guarded);
    env.get("/metrics", None).await.error(401, "Unauthorized");
    env.get("/metrics", Some("wrong"))
        .await
        .error(401, "Unauthorized");
    assert_eq!(env.get("/metrics", Some("metrics-secret")).await.status, 200);
}

#[tokio::test]
async fn the_openapi_document_is_public_and_the_checked_in_copy_is_current() {
    let env = TestEnv::new().await;
    let reply = env.get("/api/docs/openapi.json", None).await;
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

/// How each value of `all` is written on the wire.
fn wire<T: serde::Serialize>(all: &[T]) -> Vec<serde_json::Value> {
    all.iter()
        .map(|value| serde_json::to_value(value).unwrap())
        .collect()
}

// FIXME(refactor): fails until labgate-proto's `text_enum!` makes utoipa see each variant's
// `#[serde(rename = $text)]`. The macro captures the text as `$text:literal`, which reaches
// derive macros wrapped in an invisible (`Delimiter::None`) group; serde looks through it, but
// utoipa-gen 5 (`component/serde.rs`, `parse_next_lit_str`) accepts only a bare literal token
// and silently drops the rename, so the document lists Rust variant names (`NeedsReauth`,
// `ApiKeyCreate`, `All`) instead of the wire values (`needs_reauth`, `api-key.create`, `*`).
// Capturing the text as `$text:tt` in the macro fixes it; then regenerate docs/openapi.json.
#[test]
fn openapi_enums_list_the_values_sent_on_the_wire() {
    use labgate_proto::access::{
        AccessScopeKind, AccessSourceStatus, AccessSyncKind, AccessSyncLogLevel, AccessSyncStatus,
        AccessUpdateDelivery,
    };
    use labgate_proto::access_provisioning::{
        ProvisioningAction, ProvisioningStatus, ProvisioningStepChoice, ProvisioningStepStatus,
    };
    use labgate_proto::api_keys::Role;
    use labgate_proto::audit::{ActorKind, AuditAction, ResourceType};
    use labgate_proto::connections::{
        AccessTokenType, App, ConnectionEventKind, ConnectionMethod, ConnectionStatus, ResourceKind, Usage,
    };
    use labgate_proto::instances::InstanceKind;
    use labgate_proto::jobs::JobState;
    use labgate_proto::secret_scanning::{
        ExportFormat, FindingStatus, FindingVerification, ScanKind, ScanScope, ScanStatus,
    };
    use labgate_proto::secret_syncs::{
        ImportBehavior, InitialSyncBehavior, PlanAction, ResultOutcome, SyncScope, SyncStatus, VariableType,
    };
    use labgate_proto::webhooks::{DeliveryState, WebhookEventType};

    use labgate_proto::access_reports::{
        AccessAccountKind, AccessAccountState, AccessExportFormat, AccessGrantPathKind, AccessResourceKind,
        AccessVisibility,
    };

    let expected = [
        ("AccessAccountKind", wire(AccessAccountKind::ALL)),
        ("AccessAccountState", wire(AccessAccountState::ALL)),
        ("AccessExportFormat", wire(AccessExportFormat::ALL)),
        ("AccessGrantPathKind", wire(AccessGrantPathKind::ALL)),
        ("AccessResourceKind", wire(AccessResourceKind::ALL)),
        ("AccessScopeKind", wire(AccessScopeKind::ALL)),
        ("AccessSourceStatus", wire(AccessSourceStatus::ALL)),
        ("AccessSyncKind", wire(AccessSyncKind::ALL)),
        ("AccessSyncLogLevel", wire(AccessSyncLogLevel::ALL)),
        ("AccessSyncStatus", wire(AccessSyncStatus::ALL)),
        ("AccessUpdateDelivery", wire(AccessUpdateDelivery::ALL)),
        ("AccessTokenType", wire(AccessTokenType::ALL)),
        ("AccessVisibility", wire(AccessVisibility::ALL)),
        ("ActorKind", wire(ActorKind::ALL)),
        ("App", wire(App::ALL)),
        ("AuditAction", wire(AuditAction::ALL)),
        ("ConnectionEventKind", wire(ConnectionEventKind::ALL)),
        ("ConnectionMethod", wire(ConnectionMethod::ALL)),
        ("ConnectionStatus", wire(ConnectionStatus::ALL)),
        (
            "CredentialTokenType",
            wire(labgate_proto::credentials::CredentialTokenType::ALL),
        ),
        ("DeliveryState", wire(DeliveryState::ALL)),
        ("ExportFormat", wire(ExportFormat::ALL)),
        ("FindingStatus", wire(FindingStatus::ALL)),
        ("FindingVerification", wire(FindingVerification::ALL)),
        ("ImportBehavior", wire(ImportBehavior::ALL)),
        ("InitialSyncBehavior", wire(InitialSyncBehavior::ALL)),
        ("InstanceKind", wire(InstanceKind::ALL)),
        ("JobState", wire(&JobState::ALL)),
        ("PlanAction", wire(PlanAction::ALL)),
        ("ProvisioningAction", wire(ProvisioningAction::ALL)),
        ("ProvisioningStatus", wire(ProvisioningStatus::ALL)),
        ("ProvisioningStepChoice", wire(ProvisioningStepChoice::ALL)),
        ("ProvisioningStepStatus", wire(ProvisioningStepStatus::ALL)),
        ("ResourceKind", wire(ResourceKind::ALL)),
        ("ResourceType", wire(ResourceType::ALL)),
        ("ResultOutcome", wire(ResultOutcome::ALL)),
        ("Role", wire(&Role::ALL)),
        ("ScanKind", wire(ScanKind::ALL)),
        ("ScanScope", wire(ScanScope::ALL)),
        ("ScanStatus", wire(ScanStatus::ALL)),
        ("SecretType", wire(labgate_proto::secrets::SecretType::ALL)),
        ("SyncScope", wire(SyncScope::ALL)),
        ("SyncStatus", wire(SyncStatus::ALL)),
        ("Usage", wire(Usage::ALL)),
        ("VariableType", wire(VariableType::ALL)),
        ("WebhookEventType", wire(WebhookEventType::ALL)),
    ];
    let document: serde_json::Value = serde_json::from_str(&labgate_server::openapi_json()).unwrap();
    let schemas = document["components"]["schemas"].as_object().unwrap();
    let mut wrong = Vec::new();
    for (name, values) in &expected {
        let documented = schemas[*name]["enum"].as_array().unwrap();
        if documented != values {
            wrong.push(format!("{name}: documented {documented:?}, sent {values:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Every enum of the document is checked above.
    for (name, schema) in schemas {
        if schema.get("enum").is_some() {
            assert!(
                expected.iter().any(|(known, _)| known == name),
                "{name} is an enum of the document without a check here"
            );
        }
    }
}

/// The bounds the document gives `offset` and `limit` are the ones the handlers enforce, on
/// every operation that pages.
#[test]
fn pagination_bounds_match_the_document() {
    use labgate_proto::pagination::{MAX_LIMIT, MAX_OFFSET};

    let document: serde_json::Value = serde_json::from_str(&labgate_server::openapi_json()).unwrap();
    let mut paged = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let schema = &parameter["schema"];
                let bounds = (schema["minimum"].as_u64(), schema["maximum"].as_u64());
                match parameter["name"].as_str().unwrap() {
                    "offset" => assert_eq!(bounds, (Some(0), Some(MAX_OFFSET)), "{method} {path}"),
                    // A diff's lists are not paged: `limit` caps each of them.
                    "limit" if path.ends_with("/diff") => assert_eq!(
                        bounds,
                        (
                            Some(1),
                            Some(u64::from(labgate_proto::access_reports::MAX_DIFF_LIMIT))
                        ),
                        "{method} {path}"
                    ),
                    "limit" => {
                        paged += 1;
                        assert_eq!(bounds, (Some(1), Some(u64::from(MAX_LIMIT))), "{method} {path}");
                    }
                    _ => {}
                }
            }
        }
    }
    assert_eq!(paged, 16, "every list operation pages");
}

/// Every operation documents the answers of the layers it passes through, each in the error
/// contract: what any route can answer, and what an authenticated one can.
#[test]
fn every_operation_documents_the_shared_error_answers() {
    let document: serde_json::Value = serde_json::from_str(&labgate_server::openapi_json()).unwrap();
    let details = &document["components"]["schemas"]["ErrorBody"]["properties"]["details"];
    assert_eq!(details["type"], serde_json::json!(["array", "null"]));
    assert_eq!(details["items"]["type"], "object");
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            let mut expected = vec!["414", "503"];
            if operation.get("security").is_some() {
                expected.extend(["401", "403", "429", "500"]);
            }
            if operation.get("requestBody").is_some() {
                expected.extend(["400", "413", "415"]);
            }
            if path.contains('{') {
                expected.extend(["400", "404"]);
            }
            for status in expected {
                let response = &responses
                    .get(status)
                    .unwrap_or_else(|| panic!("{method} {path} does not document {status}"));
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
                assert!(
                    !response["description"].as_str().unwrap().is_empty(),
                    "{method} {path} {status}"
                );
            }
            if path.starts_with("/api/v1/app-connections") {
                assert!(
                    responses.contains_key("422"),
                    "{method} {path} does not document 422"
                );
            }
        }
    }
}
