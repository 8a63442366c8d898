//! `/api/v1/projects` and `/api/v3/secrets`: the secrets store over HTTP.

use labgate_proto::api_keys::Role;
use labgate_testkit::{TestEnv, captured_logs};
use serde_json::{Value, json};

const RAW: &str = "/api/v3/secrets/raw";
const BATCH: &str = "/api/v3/secrets/batch/raw";

async fn create_project(env: &TestEnv, key: &str, body: Value) -> Value {
    let reply = env.call("POST", "/api/v1/projects", key, Some(body)).await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    reply.json()["project"].clone()
}

fn keys(list: &Value) -> Vec<String> {
    list["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|secret| secret["secretKey"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn projects_and_environments_have_infisical_shapes() {
    let env = TestEnv::new().await;
    let key = env.admin_key.clone();
    let project = create_project(&env, &key, json!({"name": "Payments"})).await;
    assert_eq!(project["slug"], "payments");
    let slugs: Vec<&str> = project["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["dev", "staging", "prod"]);
    assert_eq!(project["environments"][2]["name"], "Production");
    for field in ["id", "createdAt", "updatedAt"] {
        assert!(project[field].is_string(), "{field}");
    }
    let id = project["id"].as_str().unwrap();

    let custom = create_project(
        &env,
        &key,
        json!({"name": "Tools", "slug": "tools-x", "environments": [{"name": "Live", "slug": "live"}]}),
    )
    .await;
    assert_eq!(custom["environments"].as_array().unwrap().len(), 1);
    env.call(
        "POST",
        "/api/v1/projects",
        &key,
        Some(json!({"name": "Payments"})),
    )
    .await
    .error(409, "Conflict");
    env.call(
        "POST",
        "/api/v1/projects",
        &key,
        Some(json!({"name": "X", "slug": "Bad Slug"})),
    )
    .await
    .error(400, "BadRequest");

    let listed = env.get("/api/v1/projects?limit=1", Some(&key)).await.json();
    assert_eq!(listed["totalCount"], 2);
    assert_eq!(listed["projects"].as_array().unwrap().len(), 1);
    assert_eq!(listed["projects"][0]["name"], "Payments");
    assert_eq!(
        env.get(&format!("/api/v1/projects/{id}"), Some(&key))
            .await
            .json()["project"],
        project
    );

    let environments = format!("/api/v1/projects/{id}/environments");
    let qa = env
        .call(
            "POST",
            &environments,
            &key,
            Some(json!({"name": "QA", "slug": "qa"})),
        )
        .await
        .json()["environment"]
        .clone();
    assert_eq!(qa["position"], 3);
    env.call(
        "POST",
        &environments,
        &key,
        Some(json!({"name": "QA 2", "slug": "qa"})),
    )
    .await
    .error(409, "Conflict");
    let qa_path = format!("{environments}/{}", qa["id"].as_str().unwrap());
    let renamed = env
        .call(
            "PATCH",
            &qa_path,
            &key,
            Some(json!({"name": "Quality", "position": 0})),
        )
        .await
        .json();
    assert_eq!(renamed["environment"]["name"], "Quality");
    assert_eq!(renamed["environment"]["slug"], "qa");
    env.call("PATCH", &qa_path, &key, Some(json!({"slug": "dev"})))
        .await
        .error(409, "Conflict");
    assert_eq!(env.call("DELETE", &qa_path, &key, None).await.status, 200);
    env.call("DELETE", &qa_path, &key, None)
        .await
        .error(404, "NotFound");

    // Another tenant sees none of it.
    let theirs = env.other_admin_key.clone();
    env.get(&format!("/api/v1/projects/{id}"), Some(&theirs))
        .await
        .error(404, "NotFound");
    env.call("DELETE", &format!("/api/v1/projects/{id}"), &theirs, None)
        .await
        .error(404, "NotFound");
    env.call(
        "POST",
        &environments,
        &theirs,
        Some(json!({"name": "Mine", "slug": "mine"})),
    )
    .await
    .error(404, "NotFound");
    assert_eq!(
        env.get("/api/v1/projects", Some(&theirs)).await.json()["totalCount"],
        0
    );
    env.get("/api/v1/projects/not-an-id", Some(&key))
        .await
        .error(404, "NotFound");

    let deleted = env
        .call("DELETE", &format!("/api/v1/projects/{id}"), &key, None)
        .await;
    assert_eq!(deleted.json()["project"]["id"], id);
    env.get(&format!("/api/v1/projects/{id}"), Some(&key))
        .await
        .error(404, "NotFound");
}

#[tokio::test]
async fn secrets_live_through_the_raw_api() {
    let env = TestEnv::new().await;
    let key = env.admin_key.clone();
    let project = create_project(&env, &key, json!({"name": "Payments"})).await;
    let id = project["id"].as_str().unwrap().to_owned();
    let at = |path: &str| format!("projectId={id}&environment=dev&secretPath={path}");

    let created = env
        .call(
            "POST",
            &format!("{RAW}/DB_PASSWORD"),
            &key,
            Some(
                json!({"workspaceId": id, "environment": "dev", "secretPath": "/app/",
                "secretValue": "hunter2", "secretComment": "primary", "tags": ["db"]}),
            ),
        )
        .await;
    assert_eq!(created.status, 200, "{}", String::from_utf8_lossy(&created.body));
    let secret = created.json()["secret"].clone();
    assert_eq!(secret["secretKey"], "DB_PASSWORD");
    assert_eq!(secret["secretValue"], "hunter2");
    assert_eq!(secret["secretComment"], "primary");
    assert_eq!(secret["secretPath"], "/app");
    assert_eq!(secret["workspace"], id.as_str());
    assert_eq!(secret["environment"], "dev");
    assert_eq!(secret["type"], "shared");
    assert_eq!(secret["version"], 1);
    assert_eq!(secret["tags"], json!([{"slug": "db", "name": "db"}]));

    env.call(
        "POST",
        &format!("{RAW}/DB_PASSWORD"),
        &key,
        Some(json!({"projectId": id, "environment": "dev", "secretPath": "/app", "secretValue": "x"})),
    )
    .await
    .error(409, "Conflict");

    let got = env
        .get(&format!("{RAW}/DB_PASSWORD?{}", at("/app")), Some(&key))
        .await
        .json();
    assert_eq!(got["secret"]["secretValue"], "hunter2");

    let patched = env
        .call(
            "PATCH",
            &format!("{RAW}/DB_PASSWORD"),
            &key,
            Some(
                json!({"projectId": id, "environment": "dev", "secretPath": "/app",
                "secretValue": "correct horse", "newSecretName": "DATABASE_PASSWORD"}),
            ),
        )
        .await
        .json();
    assert_eq!(patched["secret"]["secretKey"], "DATABASE_PASSWORD");
    assert_eq!(patched["secret"]["version"], 2);
    assert_eq!(patched["secret"]["secretComment"], "primary");

    let listed = env
        .get(&format!("{RAW}?{}&recursive=true", at("/")), Some(&key))
        .await
        .json();
    assert_eq!(keys(&listed), ["DATABASE_PASSWORD"]);
    assert_eq!(listed["imports"], json!([]));
    let listed = env.get(&format!("{RAW}?{}", at("/")), Some(&key)).await.json();
    assert!(keys(&listed).is_empty(), "not recursive: only the root");
    // What Infisical's CLI sends.
    let infisical = env
        .get(
            &format!(
                "{RAW}?workspaceId={id}&environment=dev&secretPath=/app&include_imports=true&expandSecretReferences=true"
            ),
            Some(&key),
        )
        .await
        .json();
    assert_eq!(keys(&infisical), ["DATABASE_PASSWORD"]);
    let tagged = env
        .get(
            &format!("{RAW}?{}&recursive=true&tagSlugs=db,other", at("/")),
            Some(&key),
        )
        .await
        .json();
    assert!(keys(&tagged).is_empty(), "every tag must match");

    let old = env
        .get(
            &format!("{RAW}/DATABASE_PASSWORD?{}&version=1", at("/app")),
            Some(&key),
        )
        .await
        .json();
    assert_eq!(old["secret"]["secretValue"], "hunter2");

    let history = env
        .get(
            &format!("{RAW}/DATABASE_PASSWORD/history?{}", at("/app")),
            Some(&key),
        )
        .await
        .json();
    let versions = history["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["version"], 2);
    assert_eq!(versions[1]["secretKey"], "DB_PASSWORD");
    assert_eq!(versions[0]["actor"]["kind"], "api-key");
    assert!(versions.iter().all(|v| v.get("secretValue").is_none()));
    let with_values = env
        .get(
            &format!(
                "{RAW}/DATABASE_PASSWORD/history?{}&includeValues=true",
                at("/app")
            ),
            Some(&key),
        )
        .await
        .json();
    assert_eq!(with_values["versions"][1]["secretValue"], "hunter2");

    let rolled = env
        .call(
            "POST",
            &format!("{RAW}/DATABASE_PASSWORD/rollback"),
            &key,
            Some(json!({"projectId": id, "environment": "dev", "secretPath": "/app", "version": 1})),
        )
        .await
        .json();
    assert_eq!(rolled["secret"]["version"], 3);
    assert_eq!(rolled["secret"]["secretValue"], "hunter2");

    // DELETE takes its folder from a body or from the query.
    let deleted = env
        .call(
            "DELETE",
            &format!("{RAW}/DATABASE_PASSWORD"),
            &key,
            Some(json!({"projectId": id, "environment": "dev", "secretPath": "/app"})),
        )
        .await
        .json();
    assert_eq!(deleted["secret"]["secretKey"], "DATABASE_PASSWORD");
    env.call(
        "POST",
        &format!("{RAW}/TEMP"),
        &key,
        Some(json!({"projectId": id, "environment": "dev", "secretValue": "t"})),
    )
    .await;
    let deleted = env
        .call("DELETE", &format!("{RAW}/TEMP?{}", at("/")), &key, None)
        .await;
    assert_eq!(deleted.status, 200, "{}", String::from_utf8_lossy(&deleted.body));
    env.get(&format!("{RAW}/TEMP?{}", at("/")), Some(&key))
        .await
        .error(404, "NotFound");
}

#[tokio::test]
async fn batches_apply_entirely_or_not_at_all() {
    let env = TestEnv::new().await;
    let key = env.admin_key.clone();
    let project = create_project(&env, &key, json!({"name": "Payments"})).await;
    let id = project["id"].as_str().unwrap().to_owned();
    let batch = |secrets: Value| json!({"projectId": id, "environment": "prod", "secrets": secrets});

    let created = env
        .call(
            "POST",
            BATCH,
            &key,
            Some(batch(
                json!([{"secretKey": "A", "secretValue": "1"}, {"secretKey": "B", "secretValue": "2"}]),
            )),
        )
        .await
        .json();
    assert_eq!(keys(&created), ["A", "B"]);
    env.call(
        "POST",
        BATCH,
        &key,
        Some(batch(
            json!([{"secretKey": "C", "secretValue": "3"}, {"secretKey": "A", "secretValue": "x"}]),
        )),
    )
    .await
    .error(409, "Conflict");
    env.call(
        "PATCH",
        BATCH,
        &key,
        Some(batch(
            json!([{"secretKey": "A", "secretValue": "9"}, {"secretKey": "NOPE", "secretValue": "9"}]),
        )),
    )
    .await
    .error(404, "NotFound");
    env.call(
        "DELETE",
        BATCH,
        &key,
        Some(batch(json!([{"secretKey": "A"}, {"secretKey": "NOPE"}]))),
    )
    .await
    .error(404, "NotFound");
    env.call("POST", BATCH, &key, Some(batch(json!([{"secretKey": "D"}]))))
        .await
        .error(400, "BadRequest");
    env.call("POST", BATCH, &key, Some(batch(json!([]))))
        .await
        .error(400, "BadRequest");
    let listed = env
        .get(&format!("{RAW}?projectId={id}&environment=prod"), Some(&key))
        .await
        .json();
    assert_eq!(keys(&listed), ["A", "B"]);
    assert!(
        listed["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["version"] == 1)
    );

    let updated = env
        .call(
            "PATCH",
            BATCH,
            &key,
            Some(batch(
                json!([{"secretKey": "A", "secretValue": "10"}, {"secretKey": "B", "secretComment": "note"}]),
            )),
        )
        .await
        .json();
    assert_eq!(updated["secrets"][0]["secretValue"], "10");
    assert_eq!(updated["secrets"][1]["secretValue"], "2");
    assert_eq!(updated["secrets"][1]["version"], 2);
    let deleted = env
        .call(
            "DELETE",
            BATCH,
            &key,
            Some(batch(json!([{"secretKey": "A"}, {"secretKey": "B"}]))),
        )
        .await
        .json();
    assert_eq!(keys(&deleted), ["A", "B"]);
}

#[tokio::test]
async fn dotenv_imports_report_what_they_did() {
    let env = TestEnv::new().await;
    let key = env.admin_key.clone();
    let project = create_project(&env, &key, json!({"name": "Payments"})).await;
    let id = project["id"].as_str().unwrap().to_owned();
    let import = |content: &str, overwrite: Option<bool>| {
        let mut body =
            json!({"projectId": id, "environment": "dev", "secretPath": "/svc", "content": content});
        if let Some(overwrite) = overwrite {
            body["overwrite"] = json!(overwrite);
        }
        body
    };
    let first = env
        .call(
            "POST",
            "/api/v3/secrets/import",
            &key,
            Some(import("# app\nexport A=1\nB=\"multi\nline\"\n", None)),
        )
        .await
        .json();
    assert_eq!(
        first,
        json!({"created": ["A", "B"], "updated": [], "unchanged": []})
    );
    let kept = env
        .call(
            "POST",
            "/api/v3/secrets/import",
            &key,
            Some(import("A=2\nB=\"multi\nline\"\nC=3\n", Some(false))),
        )
        .await
        .json();
    assert_eq!(
        kept,
        json!({"created": ["C"], "updated": [], "unchanged": ["A", "B"]})
    );
    let overwritten = env
        .call(
            "POST",
            "/api/v3/secrets/import",
            &key,
            Some(import("A=2\nC=3\n", None)),
        )
        .await
        .json();
    assert_eq!(
        overwritten,
        json!({"created": [], "updated": ["A"], "unchanged": ["C"]})
    );
    let b = env
        .get(
            &format!("{RAW}/B?projectId={id}&environment=dev&secretPath=/svc"),
            Some(&key),
        )
        .await
        .json();
    assert_eq!(b["secret"]["secretValue"], "multi\nline");

    let bad = env
        .call(
            "POST",
            "/api/v3/secrets/import",
            &key,
            Some(import("D=4\n=leaked-value\n", None)),
        )
        .await
        .error(400, "BadRequest");
    let message = bad["message"].as_str().unwrap();
    assert!(message.starts_with("line 2:"), "{message}");
    assert!(!message.contains("leaked-value"));
    env.get(
        &format!("{RAW}/D?projectId={id}&environment=dev&secretPath=/svc"),
        Some(&key),
    )
    .await
    .error(404, "NotFound");
}

#[tokio::test]
async fn bad_input_isolation_and_roles() {
    let env = TestEnv::new().await;
    let key = env.admin_key.clone();
    let project = create_project(&env, &key, json!({"name": "Payments"})).await;
    let id = project["id"].as_str().unwrap().to_owned();
    let body = |extra: Value| {
        let mut body = json!({"projectId": id, "environment": "dev", "secretValue": "v"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };

    // Invalid key, path, environment, missing project.
    env.call("POST", &format!("{RAW}/BAD%20KEY"), &key, Some(body(json!({}))))
        .await
        .error(400, "BadRequest");
    for path in ["/a/../b", "a", "/a//b", "/a b"] {
        let reply = env
            .call(
                "POST",
                &format!("{RAW}/K"),
                &key,
                Some(body(json!({"secretPath": path}))),
            )
            .await;
        let error = reply.error(400, "BadRequest");
        assert_eq!(error["details"][0]["field"], "secretPath", "{path}");
    }
    env.call(
        "POST",
        &format!("{RAW}/K"),
        &key,
        Some(body(json!({"environment": "qa"}))),
    )
    .await
    .error(404, "NotFound");
    env.call(
        "POST",
        &format!("{RAW}/K"),
        &key,
        Some(json!({"environment": "dev", "secretValue": "v"})),
    )
    .await
    .error(400, "BadRequest");
    env.call(
        "POST",
        &format!("{RAW}/K"),
        &key,
        Some(body(json!({"unknown": 1}))),
    )
    .await
    .error(400, "BadRequest");
    env.get(&format!("{RAW}?projectId={id}"), Some(&key))
        .await
        .error(400, "BadRequest");

    // Another tenant: the project does not exist for them.
    assert_eq!(
        env.call("POST", &format!("{RAW}/K"), &key, Some(body(json!({}))))
            .await
            .status,
        200
    );
    let theirs = env.other_admin_key.clone();
    env.get(&format!("{RAW}?projectId={id}&environment=dev"), Some(&theirs))
        .await
        .error(404, "NotFound");
    env.get(&format!("{RAW}/K?projectId={id}&environment=dev"), Some(&theirs))
        .await
        .error(404, "NotFound");
    env.call("PATCH", &format!("{RAW}/K"), &theirs, Some(body(json!({}))))
        .await
        .error(404, "NotFound");

    // Readers read values; only members and admins write; credential readers neither.
    let reader = env.key("acme", Role::Reader).await;
    let read = env
        .get(&format!("{RAW}/K?projectId={id}&environment=dev"), Some(&reader))
        .await;
    assert_eq!(read.json()["secret"]["secretValue"], "v");
    env.call("POST", &format!("{RAW}/K2"), &reader, Some(body(json!({}))))
        .await
        .error(403, "Forbidden");
    env.call("POST", "/api/v1/projects", &reader, Some(json!({"name": "Mine"})))
        .await
        .error(403, "Forbidden");
    let broker = env.key("acme", Role::CredentialReader).await;
    env.get(&format!("{RAW}/K?projectId={id}&environment=dev"), Some(&broker))
        .await
        .error(403, "Forbidden");
    let member = env.key("acme", Role::Member).await;
    assert_eq!(
        env.call("POST", &format!("{RAW}/K2"), &member, Some(body(json!({}))))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn value_reads_are_audited_folded_and_values_stay_out_of_logs_and_the_audit_log() {
    const VALUE: &str = "sv-9f8e7d6c5b4a-never-logged";
    let env = TestEnv::new().await;
    let key = env.admin_key.clone();
    let project = create_project(&env, &key, json!({"name": "Payments"})).await;
    let id = project["id"].as_str().unwrap().to_owned();
    let created = env
        .call(
            "POST",
            &format!("{RAW}/API_TOKEN"),
            &key,
            Some(json!({"projectId": id, "environment": "dev", "secretValue": VALUE})),
        )
        .await
        .json();
    let secret_id = created["secret"]["id"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        env.get(
            &format!("{RAW}/API_TOKEN?projectId={id}&environment=dev"),
            Some(&key),
        )
        .await;
    }
    env.get(&format!("{RAW}?projectId={id}&environment=dev"), Some(&key))
        .await;
    // A bad request with the value in it: the value is not echoed.
    let bad = env
        .call(
            "POST",
            &format!("{RAW}/API_TOKEN"),
            &key,
            Some(json!({"projectId": id, "environment": "dev", "secretValue": 5, "note": VALUE})),
        )
        .await;
    assert!(!String::from_utf8_lossy(&bad.body).contains(VALUE));

    let log = env
        .get("/api/v1/audit-logs?action=secret.read", Some(&key))
        .await
        .json();
    let entries = log["auditLogs"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["occurrences"], 4);
    assert_eq!(entries[0]["resourceId"], secret_id.as_str());
    assert_eq!(entries[0]["resourceKind"], "secret");
    let all = env
        .get("/api/v1/audit-logs?resourceKind=secret", Some(&key))
        .await;
    let text = String::from_utf8_lossy(&all.body).into_owned();
    assert!(text.contains("secret.create"));
    assert!(!text.contains(VALUE));
    assert!(!captured_logs().contains(VALUE), "a value reached the logs");
}
